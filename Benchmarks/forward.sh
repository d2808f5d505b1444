#!/usr/bin/env bash
# Forwarding benchmark: pre-fills the events stream with COUNT events in the worker benchmark's
# mix, runs one `cio-relay work` (release build) with only the forward group of one destination
# (every event, CONCURRENCY deliveries in flight) towards a local sink that answers 200 at once
# (Benchmarks/forward-sink.py), and prints deliveries per second and the worker's CPU per delivery.
# Usage: [CIO_RELAY_BINARY=path] Benchmarks/forward.sh [COUNT] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
count=${1:-50000} concurrency=${2:-8}

start_bench_worker forward
ensure_api_check_tools
prefix=bench
echo "==> pre-filling $count events"
python3 Benchmarks/prefill-stream.py "$prefix" "$count" 50000 | redis-cli -p "$redis_port" --pipe >/dev/null

secret="whsec_$(openssl rand -base64 32)"
python3 Benchmarks/forward-sink.py "$secret" >"$work/sink.port" &
helpers=$!
for _ in $(seq 50); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
cat >"$work/relay.yaml" <<YAML
forward:
  - name: bench
    url: http://127.0.0.1:$(cat "$work/sink.port")/events
    secret_env: BENCH_FORWARD_SECRET
    concurrency: $concurrency
YAML

admin=$(free_port)
start=$(date +%s.%N)
REDIS_URL="redis://127.0.0.1:$redis_port" CIO_RELAY_KEY_PREFIX=$prefix ADMIN_PORT=$admin CIO_RELAY_BIND=127.0.0.1 \
  CIO_RELAY_CONFIG="$work/relay.yaml" BENCH_FORWARD_SECRET="$secret" CIO_RELAY_GROUPS=forward CIO_RELAY_CONSUMER_NAME=bench \
  WAREHOUSE_URL=none LOG_LEVEL=warning "$binary" work 2>"$work/work.log" &
worker=$!

# Drained: the destination's group has neither undelivered (lag) nor pending entries.
group_state() {
  redis-cli -p "$redis_port" XINFO GROUPS "$prefix:{0}:events" 2>/dev/null | awk '
    $0 == "name" { getline; name = $0 } prev == "pending" && name == "forward:bench" { pending = $0 }
    prev == "lag" && name == "forward:bench" { lag = $0 } { prev = $0 }
    END { if (pending == "" || lag == "") print "none"; else print pending + lag }'
}
while [ "$(group_state)" != 0 ]; do
  kill -0 "$worker" 2>/dev/null || { echo "the worker died:"; tail -5 "$work/work.log"; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
ticks=$(awk '{ print $14 + $15 }' "/proc/$worker/stat")
read -r requests verified failed <<<"$(curl -fsS "http://127.0.0.1:$(cat "$work/sink.port")/count")"
python3 - "$start" "$end" "$count" "$requests" "$ticks" "$(getconf CLK_TCK)" "$verified" "$failed" <<'PY'
import sys
start, end, count, requests, ticks, hz, verified, failed = map(float, sys.argv[1:])
elapsed = end - start
print(f"forwarded {int(count)} events in {elapsed:.2f} s (worker start included): {count / elapsed:,.0f} deliveries/s")
print(f"sink: {int(requests)} requests, {int(verified)} signatures checked with standardwebhooks, {int(failed)} refused")
print(f"worker CPU: {ticks / hz:.2f} s, {ticks / hz / count * 1e6:.0f} µs per delivery")
PY
errors=$(grep -c '"level":"error"' "$work/work.log" || true)
echo "errors logged by the worker: $errors"
