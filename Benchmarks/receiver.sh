#!/usr/bin/env bash
# Receiver benchmark: wrk against the release build of `cio-relay serve` with a real Redis, posting
# distinct correctly signed events, then GET /healthz on the same build as the ceiling; then the
# same webhooks through TLS to the same Redis (its TLS port, test certificates, the receiver's
# keys under another prefix), so the cost of TLS is measured in the same run.
# Prints req/s, p50, p99, errors, the Redis and receiver CPU per accepted event (user + system time
# from /proc over the webhook run), the webhook/ceiling ratio and the TLS/plain ratio, the
# receiver's CPU per request for /healthz and for a request the webhook port answers from its head
# (the floor of the HTTP path); then the same
# for the peer of issue 29 (Express + node-redis, Benchmarks/peer/, BENCH_PEER=0 leaves it out) and
# p50 at one connection.
# With BENCH_BASELINE=/path/to/an/older/cio-relay, the webhook run is repeated in the same run
# with that binary and once more with this build (the repeat shows the noise), each under a key
# prefix of its own: a before/after comparison on the same Redis, corpus and machine state.
# Usage: Benchmarks/receiver.sh [SECONDS] [CONNECTIONS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
seconds=${1:-10} connections=${2:-64} threads=${3:-2}

ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev wrk curl openssl
binary=${CIO_RELAY_BINARY:-$(build_release 2>/dev/null)}  # CIO_RELAY_BINARY: a binary built already (a baseline)

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
# measure NAME STREAM PID…: one webhook run against $port; prints its summary and the CPU that
# Redis and the processes PID… spent per entry the run added to STREAM (every 200 of a run is a
# new entry: the corpus is distinct, and each run writes under a key prefix of its own).
measure() {
  local name=$1 stream=$2
  shift 2
  local entries redis_before process_before
  entries=$(redis-cli -p "$redis_port" XLEN "$stream")
  redis_before=$(redis_cpu_ticks "$redis_port") process_before=$(process_cpu_ticks "$@")
  run_wrk "http://127.0.0.1:$port" Benchmarks/webhooks.lua >"$work/$name.txt"
  local redis_ticks=$(( $(redis_cpu_ticks "$redis_port") - redis_before )) process_ticks=$(( $(process_cpu_ticks "$@") - process_before ))
  summarize "$name" "$work/$name.txt"
  python3 -c "import sys; n, r, p, hz = map(int, sys.argv[2:]); print('CPU per accepted event (%s): Redis %.1f µs, receiver %.1f µs (%d events)' % (sys.argv[1], r / hz * 1e6 / n, p / hz * 1e6 / n, n))" \
    "$name" $(( $(redis-cli -p "$redis_port" XLEN "$stream") - entries )) "$redis_ticks" "$process_ticks" "$(getconf CLK_TCK)"
}
restart_relay() { # PREFIX BINARY: serve again, writing under PREFIX
  kill -TERM "$relay" && wait "$relay" || true
  CIO_RELAY_KEY_PREFIX=$1 start_bench_relay "$work" "$secret" "redis://127.0.0.1:$redis_port" "$2"
}

echo "==> $(nproc) cores, $(redis-server --version | awk '{print $3}') appendfsync ${REDIS_APPENDFSYNC:-everysec}, wrk -t$threads -c$connections -d${seconds}s"
# floor NAME FILE URL: a run of requests answered without Redis; prints its summary and the
# receiver's CPU per request: what the HTTP path alone costs.
floor() {
  local before ticks requests
  before=$(process_cpu_ticks "$relay")
  run_wrk "$3" >"$work/$2.txt"
  ticks=$(( $(process_cpu_ticks "$relay") - before ))
  summarize "$1" "$work/$2.txt"
  requests=$(grep -oE '^ *[0-9]+ requests in' "$work/$2.txt" | grep -oE '[0-9]+')
  python3 -c "import sys; t, hz, n = map(int, sys.argv[2:]); print('receiver CPU per request (%s): %.1f µs (%d requests)' % (sys.argv[1], t / hz * 1e6 / n, n))" \
    "$1" "$ticks" "$(getconf CLK_TCK)" "$requests"
}

measure webhook 'cio:{0}:events' "$relay"
floor healthz ceiling "http://127.0.0.1:$admin/healthz"
python3 -c "import sys; print('ratio webhook/ceiling = %.2f' % (float(open(sys.argv[1]).read()) / float(open(sys.argv[2]).read())))" "$work/webhook.txt.rps" "$work/ceiling.txt.rps"
queued=$(redis-cli -p "$redis_port" XLEN 'cio:{0}:events')
sent=$(grep -oE '^ *[0-9]+ requests in' "$work/webhook.txt" | grep -oE '[0-9]+')
echo "queued entries in Redis: $queued of $sent requests (distinct events; every 200 is an entry)"
# The webhook port's own floor: a GET of the webhook path is answered 405 from its head alone (no
# body, no signature, no Redis, nothing logged), through the same connection handling as a webhook.
floor "webhook port, 405 from the head" head-only "http://127.0.0.1:$port/webhooks/customerio"

# Before and after: the baseline binary, then this build again, each under a prefix of its own.
if [ -n "${BENCH_BASELINE:-}" ]; then
  restart_relay baseline "$BENCH_BASELINE"
  measure "webhook-baseline" 'baseline:{0}:events' "$relay"
  restart_relay again "$binary"
  measure "webhook-again" 'again:{0}:events' "$relay"
  python3 -c "import sys; r = [float(open(f).read()) for f in sys.argv[1:]]; print('ratio this build/baseline = %.2f (first run), %.2f (repeat)' % (r[0] / r[1], r[2] / r[1]))" \
    "$work/webhook.txt.rps" "$work/webhook-baseline.txt.rps" "$work/webhook-again.txt.rps"
fi

# The peer of issue 29 on the same corpus and Redis: Express with node-redis, one EVALSHA per
# request, one Node process per core. BENCH_PEER=0 leaves it out.
if [ "${BENCH_PEER:-1}" != 0 ]; then
  ensure_packages nodejs node-express node-redis
  kill -TERM "$relay" && wait "$relay" || true
  NODE_PATH=/usr/share/nodejs PORT=$port REDIS_URL="redis://127.0.0.1:$redis_port" SECRET=$secret PREFIX='peer:{0}' WORKERS=$(nproc) \
    node Benchmarks/peer/express-peer.js 2>>"$work/peer.log" &
  peer=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  echo "peer: Express $(NODE_PATH=/usr/share/nodejs node -p "require('express/package.json').version") + node-redis $(NODE_PATH=/usr/share/nodejs node -p "require('redis/package.json').version") on Node $(node --version), $(nproc) processes"
  # shellcheck disable=SC2046
  measure peer 'peer:{0}:events' "$peer" $(pgrep -P "$peer")
  # shellcheck disable=SC2046
  kill -TERM $(pgrep -P "$peer") "$peer" 2>/dev/null; wait "$peer" 2>/dev/null || true
  python3 -c "import sys; print('ratio this build/peer = %.2f' % (float(open(sys.argv[1]).read()) / float(open(sys.argv[2]).read())))" \
    "$work/webhook.txt.rps" "$work/peer.txt.rps"
  CIO_RELAY_KEY_PREFIX=one start_bench_relay "$work" "$secret" "redis://127.0.0.1:$redis_port" "$binary"
fi

# One connection: the latency of a lone request (the group commit must not make it wait).
for run in one ${BENCH_BASELINE:+one-baseline}; do
  command=$binary
  [ "$run" = one-baseline ] && command=$BENCH_BASELINE
  restart_relay "$run" "$command"
  CORPUS="$work/corpus" wrk -t1 -c1 -d"${seconds}s" --latency -s Benchmarks/webhooks.lua "http://127.0.0.1:$port" >"$work/$run.txt"
  summarize "webhook, 1 connection ($run: $command)" "$work/$run.txt"
done

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
