#!/usr/bin/env bash
# Worker benchmark: pre-fills the events stream with COUNT events in a realistic mix, runs one
# `cio-relay work` (release build) against a local Track API stand-in that answers like Customer.io
# (LATENCY_MS per request) under the default 100 requests/s budget, and prints events/s drained,
# Track API requests per 1,000 events, and the worker's peak memory.
# REPLAYS=0.1 adds Customer.io-style repeats to the corpus (Benchmarks/prefill-stream.py);
# UNCHANGED_WINDOW is passed as CIO_RELAY_UNCHANGED_WINDOW (default 86400; 0: every value written,
# as before writes that change nothing were left out).
# Usage: [REPLAYS=F] [UNCHANGED_WINDOW=S] Benchmarks/worker.sh [COUNT] [PEOPLE] [LATENCY_MS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
count=${1:-100000} people=${2:-50000} latency=${3:-5}

start_bench_worker worker
prefix=bench
echo "==> pre-filling $count events for $people people"
python3 Benchmarks/prefill-stream.py "$prefix" "$count" "$people" "${REPLAYS:-0}" | redis-cli -p "$redis_port" --pipe >/dev/null
# With REPLAYS the stream holds the repeats too: the figures below are per entry on the stream.
count=$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:events")
[ "$count" -gt 0 ] || { echo "pre-fill failed"; exit 1; }
echo "==> $count entries on the stream (REPLAYS=${REPLAYS:-0}), CIO_RELAY_UNCHANGED_WINDOW=${UNCHANGED_WINDOW:-86400}"

python3 IntegrationTests/track-stub.py "$work/track.log" "$latency" >"$work/track.port" &
helpers=$!
for _ in $(seq 50); do [ -s "$work/track.port" ] && break; sleep 0.1; done

admin=$(free_port)
start=$(date +%s.%N)
REDIS_URL="redis://127.0.0.1:$redis_port" CIO_RELAY_KEY_PREFIX=$prefix ADMIN_PORT=$admin CIO_RELAY_BIND=127.0.0.1 \
  CUSTOMERIO_SITE_ID=bench CUSTOMERIO_TRACK_API_KEY=bench-key CUSTOMERIO_TRACK_URL="http://127.0.0.1:$(cat "$work/track.port")" \
  CIO_RELAY_CONSUMER_NAME=bench WAREHOUSE_URL=none LOG_LEVEL=warning CIO_RELAY_UNCHANGED_WINDOW=${UNCHANGED_WINDOW:-86400} \
  "$binary" work 2>"$work/work.log" &
worker=$!

# Drained: the group has neither undelivered (lag) nor pending entries.
group_state() {
  redis-cli -p "$redis_port" XINFO GROUPS "$prefix:{0}:events" 2>/dev/null | awk '
    prev == "pending" { pending = $0 } prev == "lag" { lag = $0 } { prev = $0 }
    END { if (pending == "" || lag == "") print "none"; else print pending + lag }'
}
peak=0
while true; do
  state=$(group_state)
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$worker/status" 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  [ "$state" = 0 ] && break
  kill -0 "$worker" 2>/dev/null || { echo "the worker died:"; tail -5 "$work/work.log"; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
requests=$(wc -l <"$work/track.log")
python3 - "$start" "$end" "$count" "$requests" "$peak" "$work/track.log" <<'PY'
import json, sys
start, end, count, requests, peak = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
log = [json.loads(l) for l in open(sys.argv[6])]
items = sum(r["items"] for r in log)
suppress = sum(r["items"] for r in log if r["actions"] == ["suppress"])
elapsed = end - start
span = (log[-1]["t"] - log[0]["t"]) if len(log) > 1 else 0
print(f"drained {count} events in {elapsed:.2f} s (worker start included): {count / elapsed:,.0f} events/s")
print(f"Track API requests: {requests} ({requests / count * 1000:.1f} per 1,000 events), {items} operations"
      f" ({items / count * 1000:.1f} per 1,000 events), {suppress} suppressions;"
      f" {requests / span if span else 0:.1f} requests/s while sending")
print(f"worker peak memory (VmHWM): {peak / 1024:.1f} MiB")
PY
curl -fsS "http://127.0.0.1:$admin/metrics" | awk '
  /^cio_relay_unchanged_attributes_total / { attributes = $2 }
  /^cio_relay_events_processed_total/ && /outcome="unchanged"/ { events += $2 }
  END { printf "left out as unchanged: %d attribute writes; %d events needed no request\n", attributes, events }'
errors=$(grep -c '"level":"error"' "$work/work.log" || true)
echo "errors logged by the worker: $errors"
[ "$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:dead")" = 0 ] || echo "dead letters: $(redis-cli -p "$redis_port" XLEN "$prefix:{0}:dead")"
