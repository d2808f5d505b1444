#!/usr/bin/env bash
# End-to-end check of the real `cio-relay` binary, run by scripts/test.sh after the unit and
# integration tests: start-up on the environment, a signed request over HTTP, JSON logs without
# secrets or addresses, a configuration error that names its variable, a graceful SIGTERM that
# lets a request already in flight finish before the process exits; then `cio-relay run` acting on
# a bounce through a local Track API stand-in, the dead-letters, status and policy commands, and
# `send` against a receiver; then `cio-relay work` suppressing at the ESP and forwarding.
# Usage: IntegrationTests/smoke.sh BINARY REDIS_PORT WORKDIR
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
binary=$1 redis_port=$2 work=$3
mkdir -p "$work"

# On failure, the end of the log of each process the smoke check started so far.
fail() {
  echo "smoke: FAILED: $*" >&2
  for log in "$work"/serve.log "$work"/run.log; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}

prefix="smoke$$"
secret="smoke-signing-key-$$"
port=$(free_port)
admin=$(free_port)
export CUSTOMERIO_WEBHOOK_SECRET="$secret" REDIS_URL="redis://127.0.0.1:$redis_port" \
  PORT="$port" ADMIN_PORT="$admin" CIO_RELAY_BIND=127.0.0.1 CIO_RELAY_KEY_PREFIX="$prefix"

# 0. The binary names its version and the commit it was built from (a git checkout here).
version=$("$binary" --version)
echo "$version" | grep -qE '^[0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]{12}(-modified)?\)$' || fail "--version printed '$version'"
echo "smoke: --version prints $version"

# 1. A bad value stops start-up with a message naming the variable, exit code 78 (EX_CONFIG).
set +e
CIO_RELAY_MAX_BODY_BYTES=lots "$binary" serve 2>"$work/bad.log"
code=$?
set -e
[ "$code" -eq 78 ] || fail "bad configuration exited $code, expected 78"
grep -q "CIO_RELAY_MAX_BODY_BYTES" "$work/bad.log" || fail "the error does not name CIO_RELAY_MAX_BODY_BYTES: $(cat "$work/bad.log")"
echo "smoke: bad configuration refused: $(cat "$work/bad.log")"

# 2. Start, become ready, accept a signed event. The receiver runs without the console, as the
# chart runs it (CIO_RELAY_CONSOLE=off): /console is gone, the admin endpoints stay.
CIO_RELAY_CONSOLE=off "$binary" serve 2>"$work/serve.log" &
relay=$!
trap 'kill -9 $relay 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$admin/readyz" 30 || fail "not ready within 30 s"
body=$(sample_event)
ts=$(date +%s)
answer=$(curl -sS -X POST "http://127.0.0.1:$port/webhooks/customerio" -H 'Content-Type: application/json' \
  -H "X-CIO-Timestamp: $ts" -H "X-CIO-Signature: $(sign "$secret" "$ts" "$body")" --data-binary "$body")
[ "$answer" = '{"status":"accepted"}' ] || fail "signed event answered $answer"
forged=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/webhooks/customerio" \
  -H "X-CIO-Timestamp: $ts" -H "X-CIO-Signature: $(sign wrong "$ts" "$body")" --data-binary "$body")
[ "$forged" = 401 ] || fail "forged event answered $forged"
curl -sS "http://127.0.0.1:$admin/metrics" | grep -q 'cio_relay_webhooks_received_total{outcome="accepted"} 1' || fail "metrics do not count the accepted event"
echo "smoke: accepted a signed event, refused a forged one, metrics count them"
console=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/console")
[ "$console" = 404 ] || fail "with CIO_RELAY_CONSOLE=off /console answered $console"
grep -q '"console":"off"' "$work/serve.log" || fail "the start-up log does not say the console is off"
echo "smoke: CIO_RELAY_CONSOLE=off: /console answers 404"

# 3. SIGTERM while a slow upload is in flight: the request completes, then the process exits 0.
slow=$(sample_event | sed 's/"subject":"Your trial ends Friday"/"subject":"'"$(head -c 6000 /dev/zero | tr '\0' 'x')"'"/')
ts=$(date +%s)
curl -sS -o "$work/slow.out" -w '%{http_code}' --limit-rate 3000 -X POST "http://127.0.0.1:$port/webhooks/customerio" \
  -H 'Content-Type: application/json' -H "X-CIO-Timestamp: $ts" -H "X-CIO-Signature: $(sign "$secret" "$ts" "$slow")" \
  --data-binary "$slow" >"$work/slow.code" &
upload=$!
sleep 1
kill -TERM "$relay"
wait "$upload" || fail "the in-flight upload failed"
[ "$(cat "$work/slow.code")" = 200 ] || fail "the in-flight request answered $(cat "$work/slow.code") $(cat "$work/slow.out")"
set +e
wait "$relay"
code=$?
set -e
[ "$code" -eq 0 ] || fail "serve exited $code after SIGTERM"
trap - EXIT
count=$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:events")
[ "$count" = 2 ] || fail "expected 2 queued events, found $count"
echo "smoke: SIGTERM let the in-flight request finish (200), exit code 0, both events queued"

# 4. Logs: one JSON object per line, no secret, no signature, no email address.
python3 - "$work/serve.log" "$secret" <<'PY' || fail "log check"
import json, re, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
for line in lines:
    json.loads(line)
text = "".join(lines)
assert sys.argv[2] not in text, "the signing key appears in the logs"
assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an email address appears in the logs"
assert "stopped" in text, "no shutdown log line"
print(f"smoke: {len(lines)} log lines, all JSON, no secrets or addresses")
PY

# 5. `cio-relay run`: a signed bounce goes through the worker to the Track API (a local stand-in):
#    attributes first, then suppress.
python3 IntegrationTests/track-stub.py "$work/track.log" >"$work/track.port" &
stub=$!
trap 'kill -9 $relay $stub 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/track.port" ] && break; sleep 0.1; done
[ -s "$work/track.port" ] || fail "the Track API stand-in did not start"
export WAREHOUSE_URL="sqlite:$work/events.sqlite"
CUSTOMERIO_SITE_ID=smoke-site CUSTOMERIO_TRACK_API_KEY=smoke-track-key CUSTOMERIO_TRACK_URL="http://127.0.0.1:$(cat "$work/track.port")" \
  CIO_RELAY_CONSUMER_NAME=smoke "$binary" run 2>"$work/run.log" &
relay=$!
wait_http "http://127.0.0.1:$admin/readyz" 30 || fail "run: not ready within 30 s"
bounce=$(sample_event bounced)
ts=$(date +%s)
answer=$(curl -sS -X POST "http://127.0.0.1:$port/webhooks/customerio" -H 'Content-Type: application/json' \
  -H "X-CIO-Timestamp: $ts" -H "X-CIO-Signature: $(sign "$secret" "$ts" "$bounce")" --data-binary "$bounce")
[ "$answer" = '{"status":"accepted"}' ] || fail "run: signed bounce answered $answer"
for _ in $(seq 100); do [ "$(wc -l <"$work/track.log")" -ge 2 ] && break; sleep 0.1; done
python3 - "$work/track.log" <<'PY' || fail "run: Track API requests"
import json, sys
requests = [json.loads(l) for l in open(sys.argv[1])]
assert [r["actions"] for r in requests] == [["identify"], ["suppress"]], requests
assert all(r["path"] == "/api/v2/batch" and r["auth"] for r in requests), requests
print("smoke: run acted on a bounce: identify, then suppress, through /api/v2/batch with auth")
PY
# The worker counts the bounce after the Track API answered and the audit rows were written, so
# wait for the count itself (the pending gauge is refreshed every 5 s and can still show the 0 from
# before the bounce was read).
applied='cio_relay_events_processed_total{group="actions",object_type="email",metric="bounced",outcome="applied"} 1'
for _ in $(seq 100); do
  curl -sS "http://127.0.0.1:$admin/metrics" | grep -qF "$applied" && break; sleep 0.1
done
curl -sS "http://127.0.0.1:$admin/metrics" >"$work/metrics.txt"
grep -qF "$applied" "$work/metrics.txt" || fail "run: metrics do not count the applied bounce"
python3 - "$work/events.sqlite" <<'PY' || fail "run: warehouse rows"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
for _ in range(100):
    events = db.execute("SELECT object_type, metric, cio_id FROM customerio_events").fetchall()
    actions = db.execute("SELECT action, outcome FROM customerio_actions ORDER BY rowid").fetchall()
    if len(events) >= 3 and len(actions) >= 2:
        break
    time.sleep(0.1)
# Every event of the stream: the two delivered ones that serve queued earlier, and the bounce.
assert sorted(events) == [("email", "bounced", "a1b2c3000042")] + [("email", "delivered", "a1b2c3000042")] * 2, events
assert actions == [("identify", "applied"), ("suppress", "applied")], actions
print("smoke: every queued event is one warehouse row (SQLite), and the audit trail has the identify and suppress")
PY
# Customer.io's retry of the bounce is a duplicate.
ts=$(date +%s)
answer=$(curl -sS -X POST "http://127.0.0.1:$port/webhooks/customerio" -H 'Content-Type: application/json' \
  -H "X-CIO-Timestamp: $ts" -H "X-CIO-Signature: $(sign "$secret" "$ts" "$bounce")" --data-binary "$bounce")
[ "$answer" = '{"status":"duplicate"}' ] || fail "run: the repeated bounce answered $answer"
kill -TERM "$relay"
set +e
wait "$relay"
code=$?
set -e
[ "$code" -eq 0 ] || fail "run exited $code after SIGTERM"
# `trace`: the bounce (and so its duplicate) followed through Redis and the warehouse; an unknown id exits 1.
bounce_id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["event_id"])' "$bounce")
"$binary" trace "$bounce_id" >"$work/trace.txt" || fail "trace of the bounce exited $?"
grep -q "dedup marker: present" "$work/trace.txt" && grep -q "group actions: done" "$work/trace.txt" \
  && grep -q "warehouse row: email/bounced" "$work/trace.txt" && grep -q "^action suppress .*: applied" "$work/trace.txt" \
  || fail "trace: $(cat "$work/trace.txt")"
"$binary" trace "$bounce_id" --json | python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["queue"]["entry_state"] in ("queued", "trimmed"), d' \
  || fail "trace --json"
set +e
"$binary" trace 01NOTHINGKNOWN >"$work/trace-unknown.txt"
code=$?
set -e
[ "$code" -eq 1 ] && grep -q "dedup marker: none" "$work/trace-unknown.txt" || fail "trace of an unknown id: exit $code"
echo "smoke: trace follows the bounce to its actions; a repeat is a duplicate; an unknown id exits 1"
"$binary" migrate | grep -q "schema up to date" || fail "migrate after run"
grep -q '"cio-relay run stopped"' "$work/run.log" || grep -q 'cio-relay run stopped' "$work/run.log" || fail "run: no shutdown log line"
! grep -q "smoke-track-key" "$work/run.log" || fail "run: the Track API key appears in the logs"
! grep -qE "[[:alnum:]._+-]+@[[:alnum:]-]+\.[[:alnum:].]+" "$work/run.log" || fail "run: an email address appears in the logs"
echo "smoke: run stopped cleanly on SIGTERM; its logs carry no key or address"

# 6. Dead letters and the policy check from the command line.
redis-cli -p "$redis_port" XADD "$prefix:{0}:dead" '*' body '{"event_id":"x"}' ws default rt 1 t email m bounced \
  reason track_api_rejected error 'HTTP 400' attempts 1 failed_at 1 >/dev/null
"$binary" dead-letters list | grep -q "track_api_rejected" || fail "dead-letters list"
"$binary" trace x | grep -q "^dead letter .*: track_api_rejected" || fail "trace of a dead-lettered event"
id=$(redis-cli -p "$redis_port" XRANGE "$prefix:{0}:dead" - + | head -1)
"$binary" dead-letters replay "$id" | grep -q "replayed as" || fail "dead-letters replay"
[ "$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:dead")" = 0 ] || fail "the replayed dead letter is still there"
# The replayed entry waits in both groups (no worker runs now): a check at lag 1 passes, at 0 fails.
"$binary" status --max-lag 1 | grep -q "group warehouse: lag 1" || fail "status --max-lag 1"
set +e
"$binary" status --json --max-lag 0 >"$work/status.json" 2>"$work/status.err"
code=$?
set -e
[ "$code" -eq 1 ] && grep -q "threshold exceeded: group actions: lag 1" "$work/status.err" \
  && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/status.json" || fail "status --max-lag 0: exit $code, $(cat "$work/status.err")"
set +e
printf 'policy:\n  - metrics: [bounced]\n    actions: [suppress, {identify: {a: 1}}]\n' >"$work/bad-policy.yaml"
"$binary" policy check "$work/bad-policy.yaml" 2>"$work/policy.err"
code=$?
set -e
[ "$code" -eq 65 ] && grep -q "bad-policy.yaml:3" "$work/policy.err" || fail "policy check: exit $code, $(cat "$work/policy.err")"
kill -9 "$stub" 2>/dev/null || true
trap - EXIT
echo "smoke: dead-letters list/replay work; status fails its check on lag; policy check names the line: $(cat "$work/policy.err")"

# 7. `send`: generated events of every type with a share of repeats, against a fresh receiver.
"$binary" serve 2>"$work/serve.log" &
relay=$!
trap 'kill -9 $relay 2>/dev/null || true' EXIT
wait_http "http://127.0.0.1:$admin/readyz" 30 || fail "not ready within 30 s (send)"
before=$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:events")
"$binary" send --url "http://127.0.0.1:$port/webhooks/customerio" --count 200 --duplicates 0.25 --concurrency 4 \
  --people 7 --time-spread 600 --record "$work/send.record" \
  >"$work/send.out" 2>"$work/send.err" || fail "send: $(cat "$work/send.out" "$work/send.err")"
# The record has a line per send, and repeats share their event_id with the first send.
recorded_accepted=$(grep -c " 200 accepted$" "$work/send.record" || true)
recorded_ids=$(awk '{print $1}' "$work/send.record" | sort -u | wc -l)
accepted=$(awk '/^accepted:/ {print $2}' "$work/send.out")
duplicate=$(awk '/^duplicate:/ {print $2}' "$work/send.out")
after=$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:events")
grep -q "^sent: 200 " "$work/send.out" && grep -q "^errors: 0$" "$work/send.out" && [ "$duplicate" -gt 0 ] \
  && [ $((accepted + duplicate)) -eq 200 ] && [ $((after - before)) -eq "$accepted" ] \
  && [ "$(wc -l <"$work/send.record")" -eq 200 ] && [ "$recorded_accepted" -eq "$accepted" ] && [ "$recorded_ids" -eq "$accepted" ] \
  || fail "send: $(cat "$work/send.out"), stream grew by $((after - before)), record: $(head -3 "$work/send.record")"
set +e
"$binary" send --url "http://127.0.0.1:$port/webhooks/customerio" --count 3 --secret wrong >"$work/forged.out" 2>/dev/null
code=$?
set -e
[ "$code" -eq 1 ] && grep -q "errors: 3 (HTTP 401: 3)" "$work/forged.out" || fail "send with a wrong key: exit $code, $(cat "$work/forged.out")"
kill -TERM "$relay"
wait "$relay" || true
trap - EXIT
echo "smoke: send delivered 200 signed events ($accepted accepted, $duplicate repeats answered duplicate), each recorded with its answer; a wrong key gives 401s and exit 1"

# 8. `cio-relay work` with the keep-profiles policy and a forwarding destination: bounces and
#    complaints are suppressed at the ESP through the App API (a stand-in that validates each
#    request against Customer.io's OpenAPI description), never with the Track API's suppress, and
#    every entry on the stream is forwarded, signed (checked with the standardwebhooks package).
resources=Tests/IntegrationTests/Resources
forward_secret="whsec_$(openssl rand -base64 32)"
python3 IntegrationTests/track-stub.py "$work/track8.log" >"$work/track8.port" &
stub=$!
python3 "$resources/app-api-standin.py" "$resources/customerio-app-api-esp-suppression.openapi.json" smoke-app-key >"$work/app.port" &
app=$!
python3 "$resources/forward-destination.py" "$forward_secret" >"$work/destination.port" &
destination=$!
trap 'kill -9 $relay $stub $app $destination 2>/dev/null || true' EXIT
for file in track8 app destination; do
  for _ in $(seq 100); do [ -s "$work/$file.port" ] && break; sleep 0.1; done
  [ -s "$work/$file.port" ] || fail "the $file stand-in did not start"
done
{
  printf 'forward:\n  - name: smoke\n    url: http://127.0.0.1:%s/smoke\n    secret_env: SMOKE_FORWARD_SECRET\n' "$(cat "$work/destination.port")"
  grep -v '^#' examples/policy-keep-profiles.yaml
} >"$work/relay8.yaml"
entries=$(redis-cli -p "$redis_port" XLEN "$prefix:{0}:events")
CIO_RELAY_CONFIG="$work/relay8.yaml" SMOKE_FORWARD_SECRET="$forward_secret" CIO_RELAY_GROUPS=actions,forward \
  CUSTOMERIO_SITE_ID=smoke-site CUSTOMERIO_TRACK_API_KEY=smoke-track-key CUSTOMERIO_TRACK_URL="http://127.0.0.1:$(cat "$work/track8.port")" \
  CUSTOMERIO_APP_API_KEY=smoke-app-key CUSTOMERIO_APP_API_URL="http://127.0.0.1:$(cat "$work/app.port")" \
  CIO_RELAY_CONSUMER_NAME=smoke8 "$binary" work 2>"$work/work8.log" &
relay=$!
drained() {
  redis-cli -p "$redis_port" XINFO GROUPS "$prefix:{0}:events" | awk '
    $0 == "name" { getline; name = $0 } prev == "pending" { pending[name] = $0 } prev == "lag" { lag[name] = $0 } { prev = $0 }
    END { exit !(("actions" in lag) && ("forward:smoke" in lag) && lag["actions"] + pending["actions"] + lag["forward:smoke"] + pending["forward:smoke"] == 0) }'
}
for _ in $(seq 300); do drained && break; sleep 0.1; done
drained || fail "work: actions and forward:smoke not drained in 30 s: $(redis-cli -p "$redis_port" XINFO GROUPS "$prefix:{0}:events" | tr '\n' ' ')"
"$binary" dead-letters list --json --limit 1000 >"$work/dead8.json"
python3 - "$work/track8.log" "http://127.0.0.1:$(cat "$work/app.port")" "http://127.0.0.1:$(cat "$work/destination.port")" "$entries" \
  "$work/dead8.json" <<'PY' || fail "work: ESP suppression and forwarding"
import json, sys, urllib.request
track = [json.loads(line) for line in open(sys.argv[1])]
# Step 6's replayed entry is not an event: the destination's group dead-letters it (malformed).
malformed = [letter for letter in json.load(open(sys.argv[5]))["letters"]
             if letter["group"] == "forward:smoke" and letter["reason"] == "malformed"]
suppressions = json.load(urllib.request.urlopen(sys.argv[2] + "/__requests"))
deliveries = json.load(urllib.request.urlopen(sys.argv[3] + "/__received"))
assert track and all("suppress" not in request["actions"] for request in track), f"a Track API suppress was sent: {track}"
assert suppressions, "no ESP suppression reached the App API"
assert all(not request["problems"] for request in suppressions), f"App API requests off Customer.io's description: {suppressions}"
assert len(deliveries) == int(sys.argv[4]) - len(malformed), f"{len(deliveries)} deliveries for {sys.argv[4]} entries, {len(malformed)} malformed"
assert len({d["id"] for d in deliveries}) == len(deliveries) and all(d["verified"] for d in deliveries), "a delivery repeated or not verified"
print(f"smoke: work suppressed {len(suppressions)} address(es) at the ESP (each request valid against Customer.io's App API "
      f"description, no Track API suppress) and forwarded {len(deliveries)} entries, each once, signatures verified "
      f"({len(malformed)} not an event: dead-lettered)")
PY
kill -TERM "$relay"
wait "$relay" || fail "work: exit status $? on SIGTERM"
! grep -q "smoke-app-key\|$forward_secret" "$work/work8.log" || fail "work: a key appears in the logs"
kill -9 "$stub" "$app" "$destination" 2>/dev/null || true
trap - EXIT
