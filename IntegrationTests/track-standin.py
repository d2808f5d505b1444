#!/usr/bin/env python3
"""The stateful Track API stand-in (relaytest.oracle.TrackStandIn) as a process of its own, for a
soak that runs it on a test host: applies identify and suppress per person; `GET /state` answers
what it holds. Usage: track-standin.py PORT   (on 127.0.0.1)"""
import sys
import threading

from relaytest.oracle import TrackStandIn

TrackStandIn().serve(port=int(sys.argv[1]))
threading.Event().wait()
