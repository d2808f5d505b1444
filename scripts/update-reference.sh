#!/usr/bin/env bash
# Rewrites the generated reference tables of the docs from the code: the settings table of
# docs/configuration.md (`cio-relay config --markdown`) and the metrics table of docs/operations.md
# (`cio-relay config --metrics-markdown`). The test suite fails while they differ from the code.
# Usage: scripts/update-reference.sh [BINARY]  (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-}
if [ -z "$binary" ]; then
  swift build --product cio-relay >&2
  binary="$(swift build --show-bin-path)/cio-relay"
fi
splice() {  # splice FILE FLAG: replaces the block between the markers naming FLAG with the output
  python3 - "$1" "$2" "$("$binary" config "$2")" <<'PY'
import sys
path, flag, table = sys.argv[1], sys.argv[2], sys.argv[3]
begin, end = f"<!-- BEGIN GENERATED: cio-relay config {flag} -->", "<!-- END GENERATED -->"
text = open(path).read()
start = text.index(begin) + len(begin)
stop = text.index(end, start)
open(path, "w").write(text[:start] + "\n" + table.rstrip("\n") + "\n" + text[stop:])
PY
}
splice docs/configuration.md --markdown
splice docs/operations.md --metrics-markdown
echo "updated docs/configuration.md and docs/operations.md"
