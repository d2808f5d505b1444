#!/usr/bin/env python3
"""Starts bqemulator (PyPI, pinned in scripts/lib.sh), the local BigQuery the tests and the
warehouse benchmark write to. At start it tries to download DuckDB's spatial extension, which
fails offline, and the sink needs no geography: the loader is replaced with a no-op first.
Usage: bigquery-emulator.py start --rest-port N [bqemulator options…]
"""
import os
import sys

os.environ.setdefault("BQEMU_ENABLE_FORMAT_EXTENSIONS", "false")

import bqemulator.storage.engine as engine  # noqa: E402

engine.DuckDBEngine._load_spatial = lambda self, *arguments, **options: None

from bqemulator.cli import main  # noqa: E402

sys.exit(main())
