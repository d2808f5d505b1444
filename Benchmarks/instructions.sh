#!/usr/bin/env bash
# Receiver cost in instructions: runs the release build of `cio-relay serve` under valgrind's
# callgrind with a real Redis, posts distinct signed events (then GET /healthz on the same build),
# and prints the user-space instructions the receiver process executed per request, and the calls
# to the C allocator (malloc and its kin, where Swift's allocations end) per request.
# Unlike req/s on a shared 2-core machine, this figure repeats within about 1% from run to run, so
# it can tell a 3% change apart; it leaves out the kernel, Redis and wrk.
# Usage: Benchmarks/instructions.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
seconds=${1:-15}

ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev wrk curl valgrind
binary=${CIO_RELAY_BINARY:-$(build_release 2>/dev/null)}  # CIO_RELAY_BINARY: a binary built already (a baseline)

work=$(mktemp -d -t cio-relay-instructions.XXXXXX)
trap 'stop_bench_receiver "$work"' EXIT
# Valgrind cannot read the static binary's DWARF; the symbol table is enough to count.
strip --strip-debug -o "$work/cio-relay" "$binary"
secret="bench-signing-key"
start_bench_receiver "$work" "$secret" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$work/cio-relay"

# Under callgrind the receiver manages a few hundred requests a second: these corpora are ample.
make_request_corpus "$binary" "$secret" 5000 "$work/warmup" 1
make_request_corpus "$binary" "$secret" $(( seconds * 1000 )) "$work/corpus" 1

# One measured run: zero the counters, drive wrk, dump them, and divide by the requests answered.
measure() { # NAME URL [LUA]
  local name=$1 url=$2 script=${3:-} out="$work/$1.wrk" dump
  callgrind_control -z "$relay" >/dev/null 2>&1
  if [ -n "$script" ]; then
    CORPUS="$work/corpus" wrk -t1 -c8 -d"${seconds}s" -s "$script" "$url" >"$out"
  else
    wrk -t1 -c8 -d"${seconds}s" "$url" >"$out"
  fi
  callgrind_control --dump="$name" "$relay" >/dev/null 2>&1
  dump=$(ls -t "$work"/callgrind.out.* | head -1)
  python3 - "$name" "$out" "$dump" <<'PY'
import re, sys
name, wrk, dump = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", wrk) or [0, 0])[1])
if requests == 0 or non2xx:
    sys.exit(f"{name}: {requests} requests, {non2xx} not 2xx:\n{wrk}")
instructions = int(re.search(r"^summary: (\d+)", dump, re.M).group(1))
# Allocations: the calls to the C allocator (Swift's allocations end there too), summed over the
# "calls=" lines under each cfn that names one; callgrind names a function once, then by number.
names, callee, allocations = {}, None, 0
allocator = {"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc"}
for line in dump.splitlines():
    ref = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line)
    if ref:
        if ref.group(3):
            names[ref.group(2)] = ref.group(3)
        callee = names.get(ref.group(2)) if ref.group(1) == "cfn" else None
    elif line.startswith("calls=") and callee in allocator:
        allocations += int(line[len("calls="):].split()[0])
print(f"{name:8s} requests={requests} instructions/request={instructions // requests} allocations/request={allocations / requests:.1f}")
PY
}

echo "==> callgrind, wrk -t1 -c8 -d${seconds}s; user-space instructions of the receiver process"
# Warm up (first-use paths, script loading) on other events, so that the measured run has no duplicates.
CORPUS="$work/warmup" wrk -t1 -c8 -d3s -s Benchmarks/webhooks.lua "http://127.0.0.1:$port" >/dev/null
measure webhook "http://127.0.0.1:$port" Benchmarks/webhooks.lua
measure healthz "http://127.0.0.1:$admin/healthz"
