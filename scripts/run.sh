#!/usr/bin/env bash
# The run command: installs what is missing, builds, starts a local Redis on loopback with its data
# under ./data, and runs `cio-relay run` (receiver, actions worker and warehouse writer in one
# process; the warehouse is SQLite in ./data/events.sqlite unless WAREHOUSE_URL says otherwise) on
# the embedded defaults. Ctrl-C stops both.
#
# Set REDIS_URL to use your own Redis instead (then none is started), CUSTOMERIO_WEBHOOK_SECRET
# to your reporting webhook's signing key (otherwise a development key is made and kept in ./data),
# and CUSTOMERIO_SITE_ID + CUSTOMERIO_TRACK_API_KEY to let the worker act (otherwise it runs dry:
# it logs and counts what it would send).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages redis-server libhiredis-dev libssl-dev libsqlite3-dev openssl curl
if [ ! -d .build/release ]; then
  echo "==> building cio-relay (release). The first build compiles every dependency from source"
  echo "    (SwiftNIO and its BoringSSL, Hummingbird, AsyncHTTPClient, postgres-nio): about 10 to 15"
  echo "    minutes on two cores. Later builds take seconds to a minute. Progress: [done/total] below."
else
  echo "==> building cio-relay (release; only what changed)"
fi
binary=$(build_release)

data="$PWD/data"
mkdir -p "$data"
started_redis=""
if [ -z "${REDIS_URL:-}" ]; then
  # A Redis left running by an earlier run that was killed hard is stopped first.
  stop_redis "$data/redis"
  port=6390
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then port=$(free_port); fi
  # appendonly + everysec: an acknowledged event survives a crash of Redis (at most ~1 s at risk
  # from a power loss), which is the durability promise a 200 makes.
  start_redis "$data/redis" "$port" --appendonly yes --appendfsync everysec --save ""
  started_redis="$data/redis"
  echo "==> local Redis on 127.0.0.1:$port (data in $data/redis)"
  export REDIS_URL="redis://127.0.0.1:$port"
fi

if [ -z "${CUSTOMERIO_WEBHOOK_SECRET:-}" ]; then
  secret_file="$data/dev-webhook-secret"
  [ -s "$secret_file" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret_file"
  CUSTOMERIO_WEBHOOK_SECRET="$(cat "$secret_file")"
  export CUSTOMERIO_WEBHOOK_SECRET
  echo "==> no CUSTOMERIO_WEBHOOK_SECRET set: using the development key in $secret_file"
fi

export PORT="${PORT:-3000}" ADMIN_PORT="${ADMIN_PORT:-9090}"
body=$(sample_event bounced)
ts=$(date +%s)
cat <<TXT

cio-relay is starting:
  webhooks  http://127.0.0.1:$PORT/webhooks/customerio
  admin     http://127.0.0.1:$ADMIN_PORT/healthz  /readyz  /metrics

Try it: a bounce, signed with the configured key (valid for the timestamp window); the worker then
marks and suppresses the person (in a dry run: logs what it would send):
  curl -sS -X POST http://127.0.0.1:$PORT/webhooks/customerio \\
    -H 'Content-Type: application/json' \\
    -H 'X-CIO-Timestamp: $ts' \\
    -H 'X-CIO-Signature: $(sign "$CUSTOMERIO_WEBHOOK_SECRET" "$ts" "$body")' \\
    --data-binary '$body'

See what was queued:  redis-cli -u "$REDIS_URL" XRANGE 'cio:{0}:events' - +
Dead letters:         $binary dead-letters list
Warehouse:            ${WAREHOUSE_URL:-sqlite:./data/events.sqlite} (table customerio_events)
Track API:            ${CUSTOMERIO_TRACK_API_KEY:+credentials set: the worker acts on bounces, spam, unsubscribes, engagement}${CUSTOMERIO_TRACK_API_KEY:-no credentials: dry run (set CUSTOMERIO_SITE_ID and CUSTOMERIO_TRACK_API_KEY to act)}

TXT

"$binary" run &
relay=$!
stop() {
  kill -TERM "$relay" 2>/dev/null || true
}
trap stop INT TERM
status=0
wait "$relay" || status=$?
# `wait` returns early when a trapped signal arrives: wait again for the graceful shutdown.
kill -0 "$relay" 2>/dev/null && { wait "$relay" || status=$?; }
[ -n "$started_redis" ] && stop_redis "$started_redis"
exit "$status"
