#!/usr/bin/env bash
# Warehouse benchmark, for SQLite, PostgreSQL (fsync on) and BigQuery (SINKS=bigquery: against the
# local emulator, which is the bottleneck; so it also reports the sink's own CPU per row):
#  1. drain: COUNT events pre-filled on the stream, one `cio-relay work` running only the warehouse
#     group; prints rows/s (worker start included), the worker's CPU per row, checks the row count,
#     and for BigQuery the insertAll requests per 1,000 rows and bytes per request;
#  2. latency: events arriving at a steady RATE/s for SECONDS (stamped like the receiver does);
#     prints end-to-end latency p50/p99 from received_at to the row's ingested_at.
# Usage: [SINKS="sqlite postgres bigquery"] [WRITERS=2] [BATCH_SIZE=2000] [PG_SETTINGS="-c name=value …"] Benchmarks/warehouse.sh [COUNT] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
count=${1:-200000} rate=${2:-2000} seconds=${3:-20}

ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev postgresql-15
binary=$(build_release 2>/dev/null)

sinks=${SINKS:-sqlite postgres}
case " $sinks " in *" bigquery "*) ensure_bigquery_tools ;; esac

work=$(mktemp -d -t cio-relay-bench-warehouse.XXXXXX)
chmod 755 "$work"
worker=""
cleanup() {
  [ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
  stop_bqemulator "$work/bigquery"
  stop_postgres "$work/postgres"
  stop_redis "$work/redis"
  rm -rf "$work"
}
trap cleanup EXIT

redis_port=$(free_port)
start_redis "$work/redis" "$redis_port" --appendonly yes --appendfsync everysec --save ""
pg_port=$(free_port)
start_postgres "$work/postgres" "$pg_port" "-c fsync=on -c synchronous_commit=on ${PG_SETTINGS:--c shared_buffers=256MB}"
postgres_url="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
bigquery_url=""
case " $sinks " in *" bigquery "*)
  bq_port=$(free_port)
  start_bqemulator "$work/bigquery" "$bq_port"
  bigquery_url="http://127.0.0.1:$bq_port"
  echo "==> BigQuery emulator (bqemulator $(python3 -c 'import importlib.metadata as m; print(m.version("bqemulator"))')) on $bigquery_url" ;;
esac
echo "==> $(nproc) cores, Redis $(redis-server --version | awk '{print $3}'), $("$(pg_bin)/postgres" --version), SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')"

pending_total() { # PREFIX: undelivered + pending of the warehouse group
  redis-cli -p "$redis_port" XINFO GROUPS "$1:{0}:events" 2>/dev/null | awk '
    prev == "pending" { pending = $0 } prev == "lag" { lag = $0 } { prev = $0 }
    END { if (pending == "" || lag == "") print "none"; else print pending + lag }'
}

start_worker() { # PREFIX WAREHOUSE_URL
  admin_port=$(free_port)
  REDIS_URL="redis://127.0.0.1:$redis_port" CIO_RELAY_KEY_PREFIX=$1 WAREHOUSE_URL=$2 CIO_RELAY_GROUPS=warehouse \
    BIGQUERY_API_URL=${bigquery_url:-https://bigquery.googleapis.com} \
    ADMIN_PORT=$admin_port CIO_RELAY_BIND=127.0.0.1 CIO_RELAY_CONSUMER_NAME=bench CIO_RELAY_WAREHOUSE_BATCH_SIZE=${BATCH_SIZE:-2000} CIO_RELAY_WAREHOUSE_WRITERS=${WRITERS:-2} LOG_LEVEL=warning "$binary" work 2>>"$work/work.log" &
  worker=$!
}

stop_worker() {
  kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
  worker=""
}

wait_drained() { # PREFIX
  while [ "$(pending_total "$1")" != 0 ]; do
    kill -0 "$worker" 2>/dev/null || { echo "the worker died:"; tail -5 "$work/work.log"; exit 1; }
    sleep 0.25  # polling costs CPU the worker and PostgreSQL share
  done
}

metric() { # NAME: the sum of a family's samples on the running worker's /metrics
  curl -fsS "http://127.0.0.1:$admin_port/metrics" | awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%.6f\n", sum }'
}

query() { # SINK SQL
  if [ "$1" = bigquery ]; then
    python3 Tests/IntegrationTests/Resources/bq-read.py "$bigquery_url" test-project query "$2" | python3 -c 'import json, sys; print("|".join(str(v) for v in json.load(sys.stdin)["rows"][0].values()))'
  elif [ "$1" = sqlite ]; then
    python3 -c 'import sqlite3, sys; print("|".join(str(v) for v in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()))' "$work/events.sqlite" "$2"
  else
    psql -qtAX "$postgres_url" -c "$2"
  fi
}

events_table() { # SINK PHASE
  if [ "$1" = bigquery ]; then echo "\`test-project.$2.customerio_events\`"; else echo customerio_events; fi
}

for sink in $sinks; do
  # 1. Drain.
  case "$sink" in
    sqlite) url="sqlite:$work/events.sqlite" ;;
    bigquery) url="bigquery://test-project/drain" ;;
    *) url=$postgres_url ;;
  esac
  prefix="drain$sink"
  python3 Benchmarks/prefill-stream.py "$prefix" "$count" 50000 | redis-cli -p "$redis_port" --pipe >/dev/null
  start=$(date +%s.%N)
  start_worker "$prefix" "$url"
  sleep 0.2
  wait_drained "$prefix"
  end=$(date +%s.%N)
  cpu=$(metric process_cpu_seconds_total) requests=$(metric cio_relay_bigquery_insert_requests_total) sent=$(metric cio_relay_bigquery_insert_bytes_total)
  stop_worker
  rows=$(query "$sink" "SELECT count(*) FROM $(events_table "$sink" drain)")
  python3 -c "import sys; s, e, n, r = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]); print(f'{sys.argv[5]:8s} drain: {n} events in {e - s:.2f} s = {n / (e - s):,.0f} rows/s (worker start included); rows in the table: {r}')" "$start" "$end" "$count" "$rows" "$sink"
  python3 -c "import sys; cpu, n = float(sys.argv[1]), int(sys.argv[2]); print(f'{sys.argv[3]:8s} worker CPU: {cpu:.2f} s for {n} rows = {cpu / n * 1e6:.0f} µs per row (user + system, start-up included)')" "$cpu" "$count" "$sink"
  if [ "$sink" = bigquery ]; then
    python3 -c "import sys; q, b, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]); print(f'bigquery requests: {q:.0f} insertAll requests = {q / n * 1000:.1f} per 1,000 rows; {b / q / 1024:,.0f} KiB per request, {b / n:,.0f} bytes per row')" "$requests" "$sent" "$count"
  fi
  if [ "$sink" = postgres ]; then  # checkpoints during the drain cost full-page writes: say how many ran
    echo "postgres during the drain: $(query postgres "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter") checkpoint(s), $(query postgres "SELECT pg_size_pretty(pg_current_wal_lsn() - '0/0'::pg_lsn)") of WAL"
  fi
  # The latency run starts from an empty table (BigQuery: a dataset of its own).
  case "$sink" in
    sqlite) rm -f "$work"/events.sqlite* ;;
    bigquery) url="bigquery://test-project/steady" ;;
    *) psql -qtAX "$postgres_url" -c "TRUNCATE customerio_events" >/dev/null ;;
  esac

  # 2. Latency at a steady rate.
  prefix="steady$sink"
  redis-cli -p "$redis_port" XGROUP CREATE "$prefix:{0}:events" warehouse 0 MKSTREAM >/dev/null
  start_worker "$prefix" "$url"
  sleep 1
  fed=$(python3 Benchmarks/feed-stream.py "$redis_port" "$prefix" "$rate" "$seconds")
  wait_drained "$prefix"
  stop_worker
  if [ "$sink" = sqlite ]; then
    latencies="SELECT (julianday(ingested_at) - julianday(received_at)) * 86400000.0 AS ms FROM customerio_events"
  else
    latencies="SELECT extract(epoch FROM ingested_at - received_at) * 1000.0 AS ms FROM customerio_events"
  fi
  if [ "$sink" = sqlite ] || [ "$sink" = bigquery ]; then
    if [ "$sink" = sqlite ]; then
      python3 -c 'import sqlite3, sys; [print(v) for (v,) in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]' "$work/events.sqlite" "$latencies" >"$work/latencies"
    else
      python3 Tests/IntegrationTests/Resources/bq-read.py "$bigquery_url" test-project query \
        "SELECT TIMESTAMP_DIFF(ingested_at, received_at, MICROSECOND) / 1000.0 AS ms FROM $(events_table bigquery steady)" \
        | python3 -c 'import json, sys; [print(row["ms"]) for row in json.load(sys.stdin)["rows"]]' >"$work/latencies"
    fi
    python3 - "$work/latencies" "$fed" "$rate" "$sink" <<'PY'
import sys
values = sorted(float(line) for line in open(sys.argv[1]))
p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
print(f"{sys.argv[4]:8s} latency at {sys.argv[3]}/s: {len(values)} of {sys.argv[2]} events, received → row p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {values[-1]:.1f} ms")
PY
  else
    psql -qtAX "$postgres_url" -c "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM ($latencies) AS l" \
      | awk -F'|' -v fed="$fed" -v rate="$rate" '{ printf "postgres latency at %s/s: %s of %s events, received → row p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", rate, $1, fed, $2, $3, $4 }'
  fi
done
