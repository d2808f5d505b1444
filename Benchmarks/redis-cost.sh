#!/usr/bin/env bash
# What Redis itself spends per stored event, without the receiver: pre-rendered commands piped
# into a fresh Redis (AOF everysec, as recommended for production) with `redis-cli --pipe`, and the
# server's user + system CPU from /proc divided by the events. Compares the dedup-and-append
# script (read from Sources/EventQueue/EventQueue.swift) at several events per call with the plain
# commands it runs, and with a script that only reads its arguments: where the CPU per event goes.
# Then another layout's cost, measured only: several events per stream entry and the markers in a
# hash, as plain commands (the floor) and as an atomic script (Benchmarks/several-per-entry.lua).
# Usage: Benchmarks/redis-cost.sh [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
events=${1:-100000}
ensure_packages redis-server python3
work=$(mktemp -d -t cio-relay-redis-cost.XXXXXX)
trap 'stop_redis "$work/redis"; rm -rf "$work"' EXIT
python3 - Sources/EventQueue/EventQueue.swift >"$work/dedup.lua" <<'PY'
import re, sys, textwrap
source = open(sys.argv[1]).read()
print(textwrap.dedent(re.search(r'dedupAndAppend = RedisScript\(\n\s*"""\n(.*?)\n\s*"""', source, re.S).group(1)))
PY
cat >"$work/arguments-only.lua" <<'LUA'
local at = 2
for i = 2, #KEYS do at = at + tonumber(ARGV[at]) + 1 end
return 1
LUA

measure() { # NAME MODE [BATCH [SCRIPT]]
  local name=$1 mode=$2 batch=${3:-1} script=${4:-/dev/null} port before after
  python3 Benchmarks/redis-cost.py "$mode" "$events" "$batch" <"$script" >"$work/commands.resp"
  port=$(free_port)
  start_redis "$work/redis" "$port" --appendonly yes --appendfsync everysec --save ""
  before=$(redis_cpu_ticks "$port")
  redis-cli -p "$port" --pipe <"$work/commands.resp" >/dev/null
  after=$(redis_cpu_ticks "$port")
  python3 -c "import sys; t, hz, n = map(int, sys.argv[2:]); print('%-44s %5.1f µs per event' % (sys.argv[1], t / hz * 1e6 / n))" \
    "$name" $(( after - before )) "$(getconf CLK_TCK)" "$events"
  stop_redis "$work/redis"
  rm -rf "$work/redis"  # each measurement on an empty server
}

echo "==> $(nproc) cores, $(redis-server --version | awk '{print $3}'), $events events, AOF everysec"
measure "script reading its arguments, 16 a call" script 16 "$work/arguments-only.lua"
measure "plain SET marker id NX EX" set
measure "plain XADD of the entry" xadd
measure "plain SET and XADD" both
for batch in 1 16 64; do
  measure "dedup-and-append script, $batch a call" script "$batch" "$work/dedup.lua"
done
echo "==> another layout, measured only: several events per entry, markers in a hash"
for batch in 16 64; do
  measure "plain XADD of $batch events as one entry" entry "$batch"
  measure "that and one HSET of their $batch markers" entry+hash "$batch"
  measure "several-per-entry.lua, $batch a call" entry-script "$batch" Benchmarks/several-per-entry.lua
done
