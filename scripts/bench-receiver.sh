#!/usr/bin/env bash
# Receiver benchmark: wrk against the release build of `cio-relay serve` with a real Redis, posting
# distinct correctly signed events, then GET /healthz on the same build as the ceiling.
# Prints req/s, p50, p99, errors and the webhook/ceiling ratio.
# Usage: scripts/bench-receiver.sh [SECONDS] [CONNECTIONS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
seconds=${1:-10} connections=${2:-64} threads=${3:-2}

ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev wrk curl
binary=$(build_release 2>/dev/null)

work=$(mktemp -d -t cio-relay-bench.XXXXXX)
trap 'stop_bench_receiver "$work"' EXIT
secret="bench-signing-key"
start_bench_receiver "$work" "$secret" "$binary"

# Enough distinct events for the whole run at up to 40,000 req/s.
count=$(( seconds * 40000 ))
python3 bench/make-corpus.py "$secret" "$count" "$work/corpus" "$threads"

run_wrk() { # URL [script]
  if [ $# -gt 1 ]; then
    CORPUS="$work/corpus" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$2" "$1"
  else
    wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$1"
  fi
}
summarize() { # NAME FILE
  python3 bench/wrk_summary.py "$1" "$2"
}

echo "==> $(nproc) cores, $(redis-server --version | awk '{print $3}') appendfsync ${REDIS_APPENDFSYNC:-everysec}, wrk -t$threads -c$connections -d${seconds}s"
run_wrk "http://127.0.0.1:$port" bench/webhooks.lua >"$work/webhook.txt"
run_wrk "http://127.0.0.1:$admin/healthz" >"$work/ceiling.txt"
summarize webhook "$work/webhook.txt"
summarize healthz "$work/ceiling.txt"
python3 -c "import sys; print('ratio webhook/ceiling = %.2f' % (float(open(sys.argv[1]).read()) / float(open(sys.argv[2]).read())))" "$work/webhook.txt.rps" "$work/ceiling.txt.rps"
queued=$(redis-cli -p "$redis_port" XLEN 'cio:{0}:events')
sent=$(grep -oE '^ *[0-9]+ requests in' "$work/webhook.txt" | grep -oE '[0-9]+')
echo "queued entries in Redis: $queued of $sent requests (distinct events; every 200 is an entry)"
grep -q '"level":"error"' "$work/serve.log" && { echo "errors logged by the receiver:"; grep '"level":"error"' "$work/serve.log" | head -5; }
exit 0
