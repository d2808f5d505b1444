#!/usr/bin/env bash
# Receiver benchmark: wrk against the release build of `cio-relay serve` with a real Redis, posting
# distinct correctly signed events, then GET /healthz on the same build as the ceiling; then the
# same webhooks through TLS to the same Redis (its TLS port, test certificates, the receiver's
# keys under another prefix), so the cost of TLS is measured in the same run.
# Prints req/s, p50, p99, errors, the Redis and receiver CPU per accepted event (user + system time
# from /proc over the webhook run), the webhook/ceiling ratio and the TLS/plain ratio.
# With BENCH_BASELINE=/path/to/an/older/cio-relay, the webhook run is repeated in the same run
# with that binary and once more with this build (the repeat shows the noise), each under a key
# prefix of its own: a before/after comparison on the same Redis, corpus and machine state.
# Usage: Benchmarks/receiver.sh [SECONDS] [CONNECTIONS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
seconds=${1:-10} connections=${2:-64} threads=${3:-2}

ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev wrk curl openssl
binary=$(build_release 2>/dev/null)

work=$(mktemp -d -t cio-relay-bench.XXXXXX)
trap 'stop_bench_receiver "$work"' EXIT
secret="bench-signing-key"
make_test_certs "$work/tls"
tls_port=$(free_port)
BENCH_REDIS_ARGS="--tls-port $tls_port $(redis_tls_args "$work/tls") --tls-auth-clients no" \
  start_bench_receiver "$work" "$secret" "$binary"

# Enough distinct events for the whole run at up to 40,000 req/s.
count=$(( seconds * 40000 ))
make_request_corpus "$binary" "$secret" "$count" "$work/corpus" "$threads"

run_wrk() { # URL [script]
  if [ $# -gt 1 ]; then
    CORPUS="$work/corpus" wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$2" "$1"
  else
    wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$1"
  fi
}
summarize() { # NAME FILE
  python3 Benchmarks/wrk_summary.py "$1" "$2"
}

echo "==> $(nproc) cores, $(redis-server --version | awk '{print $3}') appendfsync ${REDIS_APPENDFSYNC:-everysec}, wrk -t$threads -c$connections -d${seconds}s"
before_redis=$(redis_cpu_ticks "$redis_port") before_relay=$(process_cpu_ticks "$relay")
run_wrk "http://127.0.0.1:$port" Benchmarks/webhooks.lua >"$work/webhook.txt"
after_redis=$(redis_cpu_ticks "$redis_port") after_relay=$(process_cpu_ticks "$relay")
run_wrk "http://127.0.0.1:$admin/healthz" >"$work/ceiling.txt"
summarize webhook "$work/webhook.txt"
summarize healthz "$work/ceiling.txt"
# CPU per accepted event (every 200 of this run is a new entry: the corpus is distinct).
accepted=$(redis-cli -p "$redis_port" XLEN 'cio:{0}:events')
python3 -c "import sys; r, p, hz, n = map(int, sys.argv[1:]); print('CPU per accepted event: Redis %.1f µs, receiver %.1f µs (%d events)' % (r / hz * 1e6 / n, p / hz * 1e6 / n, n))" \
  $(( after_redis - before_redis )) $(( after_relay - before_relay )) "$(getconf CLK_TCK)" "$accepted"
python3 -c "import sys; print('ratio webhook/ceiling = %.2f' % (float(open(sys.argv[1]).read()) / float(open(sys.argv[2]).read())))" "$work/webhook.txt.rps" "$work/ceiling.txt.rps"
queued=$(redis-cli -p "$redis_port" XLEN 'cio:{0}:events')
sent=$(grep -oE '^ *[0-9]+ requests in' "$work/webhook.txt" | grep -oE '[0-9]+')
echo "queued entries in Redis: $queued of $sent requests (distinct events; every 200 is an entry)"

# Before and after: the baseline binary, then this build again, each under a prefix of its own.
if [ -n "${BENCH_BASELINE:-}" ]; then
  for run in baseline again; do
    kill -TERM "$relay" && wait "$relay" || true
    command=$binary
    [ "$run" = baseline ] && command=$BENCH_BASELINE
    CIO_RELAY_KEY_PREFIX=$run start_bench_relay "$work" "$secret" "redis://127.0.0.1:$redis_port" "$command"
    run_wrk "http://127.0.0.1:$port" Benchmarks/webhooks.lua >"$work/webhook-$run.txt"
    summarize "webhook ($run: $command)" "$work/webhook-$run.txt"
  done
  python3 -c "import sys; r = [float(open(f).read()) for f in sys.argv[1:]]; print('ratio this build/baseline = %.2f (first run), %.2f (repeat)' % (r[0] / r[1], r[2] / r[1]))" \
    "$work/webhook.txt.rps" "$work/webhook-baseline.txt.rps" "$work/webhook-again.txt.rps"
fi

# The same corpus through TLS: another key prefix, so no event is a duplicate of the plain run's.
kill -TERM "$relay" && wait "$relay" || true
CIO_RELAY_KEY_PREFIX=tls CIO_RELAY_REDIS_TLS_CA_FILE="$work/tls/ca.crt" \
  start_bench_relay "$work" "$secret" "rediss://localhost:$tls_port" "$binary"
run_wrk "http://127.0.0.1:$port" Benchmarks/webhooks.lua >"$work/webhook-tls.txt"
summarize "webhook (TLS to Redis)" "$work/webhook-tls.txt"
python3 -c "import sys; print('ratio TLS/plain = %.2f' % (float(open(sys.argv[1]).read()) / float(open(sys.argv[2]).read())))" "$work/webhook-tls.txt.rps" "$work/webhook.txt.rps"
queued=$(redis-cli -p "$redis_port" XLEN 'tls:{0}:events')
sent=$(grep -oE '^ *[0-9]+ requests in' "$work/webhook-tls.txt" | grep -oE '[0-9]+')
echo "queued entries in Redis over TLS: $queued of $sent requests"
grep -q '"level":"error"' "$work/serve.log" && { echo "errors logged by the receiver:"; grep '"level":"error"' "$work/serve.log" | head -5; }
exit 0
