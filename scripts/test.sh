#!/usr/bin/env bash
# The test command.
#   scripts/test.sh unit          the unit tests: every test target but IntegrationTests, with no
#                                 server and no environment (what `swift test --skip
#                                 IntegrationTests` runs), after a build that must print no warning
#                                 for our files, and `swift format lint`.
#   scripts/test.sh integration   installs what the tests need, starts a private Redis, a Redis
#                                 Cluster (three primaries, three replicas), Sentinels, three
#                                 PostgreSQL servers and two BigQuery emulators on free loopback
#                                 ports with their data in a temporary folder, runs the
#                                 IntegrationTests target against them and stops them again; then
#                                 the end-to-end checks of the binary: smoke, Redis ACLs, the console
#                                 in Chromium, promtool on its metrics, slowloris, the chaos soak,
#                                 the Redis Cluster soak, the network-fault soak (short form), the
#                                 Helm chart checks, the systemd unit, and the container image
#                                 built from the release binary with podman and run.
#   scripts/test.sh [all]         both, unit first (what CI runs).
#   scripts/test.sh integration ARGS…  passes ARGS to `swift test` instead (a filtered run).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Each stage prints the minutes and seconds since the start: where a run's time goes (CI must stay
# under 20 minutes).
stage() { printf '==> [%02d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

mode=all
case "${1:-}" in
  unit | integration | all) mode=$1; shift ;;
esac

# What building needs: the C libraries our system-library targets link.
ensure_packages libhiredis-dev libssl-dev libsqlite3-dev

# Builds every target and test target; fails when the build prints a warning for a file of ours
# (dependencies' warnings are theirs). A clean clone, as CI runs, compiles every file; a warm tree
# only what changed.
build_without_warnings() {
  local log
  log=$(mktemp -t cio-relay-build.XXXXXX)
  swift build --build-tests 2>&1 | tee "$log"
  if grep -E "^$PWD/(Sources|Tests|Plugins)/[^:]+:[0-9]+:[0-9]+: warning:" "$log"; then
    stage "the build of our targets printed the warnings above: none is allowed" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

stage "build of every target and test target (a warning in our files fails)"
build_without_warnings
if [ "$mode" != integration ]; then
  # The toolchain's formatter, with the project's .swift-format: a file it would change fails.
  stage "swift format lint"
  swift format lint --strict --configuration .swift-format --recursive Sources Tests Plugins Package.swift
  stage "unit tests (no server)"
  swift test --skip-build --skip IntegrationTests
  [ "$mode" = unit ] && stage "unit tests passed" && exit 0
fi

release_build=""
work=$(mktemp -d -t cio-relay-test.XXXXXX)
cleanup() {
  [ -z "$release_build" ] || kill -- -"$release_build" 2>/dev/null || true
  stop_bqemulator "$work/bigquery"
  stop_bqemulator "$work/bigquery-outage"
  stop_postgres "$work/postgres"
  stop_postgres "$work/postgres-outage"
  stop_postgres "$work/postgres-tls"
  stop_redis "$work/redis"
  stop_redis_nodes "$work/cluster"
  stop_redis_nodes "$work/sentinel"
  # Servers that tests start themselves live under $work too; a crashed test could leave one.
  for pid in $(pgrep -x redis-server || true); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$work"/*) kill -9 "$pid" 2>/dev/null || true ;; esac
  done
  rm -rf "$work"
}
trap cleanup EXIT

# The release binary for the image, built with the Dockerfile's command (build_release, its own
# scratch path) while the servers start and the tests run. From clean it is 12 CPU-minutes; at the
# lowest priority it takes only the CPU the tests leave idle, so the suites that check deadlines
# are not starved. Not for a filtered run, which checks only what it names.
if [ $# -eq 0 ]; then
  setsid nice -n 19 bash -c '. scripts/lib.sh && build_release' >"$work/release-binary" 2>"$work/release-build.log" &
  release_build=$!
fi

# prometheus: for promtool, which checks the metrics of the binary and the chart's alert rules.
ensure_packages redis-server libhiredis-dev libssl-dev openssl curl libsqlite3-dev postgresql-15 prometheus

# The BigQuery emulator and Google's Python clients (reader, token checks) for the BigQuery tests.
ensure_bigquery_tools
# Chromium, its WebDriver and Selenium, for the console's browser test.
ensure_browser_tools
# openapi-core and standardwebhooks, for the App API stand-in and the forwarding destinations.
ensure_api_check_tools

# Test certificates (openssl): a CA, another CA, a certificate for localhost, a client certificate.
make_test_certs "$work/tls"
export CIO_RELAY_TEST_TLS_DIR="$work/tls"

port=$(free_port)
start_redis "$work/redis" "$port" --save "" --appendonly no
stage "test Redis on 127.0.0.1:$port ($(redis-server --version | awk '{print $3}'))"

export CIO_RELAY_TEST_REDIS_URL="redis://127.0.0.1:$port"
# Tests that stop and restart Redis start their own server with this binary and folder.
export CIO_RELAY_TEST_REDIS_SERVER="$(command -v redis-server)"
export CIO_RELAY_TEST_TMPDIR="$work"

export CIO_RELAY_TEST_REDIS_CLUSTER="$(start_redis_cluster "$work/cluster")"
stage "test Redis Cluster on $CIO_RELAY_TEST_REDIS_CLUSTER"
# One primary, two replicas and three Sentinels that monitor it as "mymaster".
export CIO_RELAY_TEST_REDIS_SENTINEL="$(start_redis_sentinel "$work/sentinel")"
stage "test Redis Sentinels on $CIO_RELAY_TEST_REDIS_SENTINEL (master mymaster)"

chmod 755 "$work"
pg_port=$(free_port)
start_postgres "$work/postgres" "$pg_port"
outage_port=$(free_port)
start_postgres "$work/postgres-outage" "$outage_port"
tls_pg_port=$(free_port)
start_postgres "$work/postgres-tls" "$tls_pg_port" "" "$work/tls"
stage "test PostgreSQL on 127.0.0.1:$pg_port and :$outage_port, TLS only on :$tls_pg_port ($("$(pg_bin)/postgres" --version))"
# The TLS server's port: tests name the host (localhost or 127.0.0.1) and the TLS settings.
export CIO_RELAY_TEST_POSTGRES_TLS_PORT="$tls_pg_port"
export CIO_RELAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
export CIO_RELAY_TEST_POSTGRES_OUTAGE_URL="postgres://postgres@127.0.0.1:$outage_port/postgres?sslmode=disable"
# The outage test stops and starts its server with this script.
write_pg_control "$work/postgres-outage-control" "$work/postgres-outage" "$outage_port"
export CIO_RELAY_TEST_POSTGRES_OUTAGE_CONTROL="$work/postgres-outage-control"

bq_port=$(free_port)
start_bqemulator "$work/bigquery" "$bq_port"
bq_outage_port=$(free_port)
start_bqemulator "$work/bigquery-outage" "$bq_outage_port" --persistent --data-dir "$work/bigquery-outage/data"
stage "BigQuery emulator on 127.0.0.1:$bq_port and :$bq_outage_port (bqemulator $(python3 -c 'import importlib.metadata as m; print(m.version("bqemulator"))'))"
export CIO_RELAY_TEST_BIGQUERY_URL="http://127.0.0.1:$bq_port"
export CIO_RELAY_TEST_BIGQUERY_OUTAGE_URL="http://127.0.0.1:$bq_outage_port"
# The outage test stops and starts that emulator (its data kept on disk) with this script.
cat >"$work/bigquery-outage-control" <<CONTROL
#!/usr/bin/env bash
cd "$PWD" && . scripts/lib.sh
case "\$1" in
  stop) stop_bqemulator "$work/bigquery-outage" ;;
  start) start_bqemulator "$work/bigquery-outage" "$bq_outage_port" --persistent --data-dir "$work/bigquery-outage/data" ;;
esac
CONTROL
chmod +x "$work/bigquery-outage-control"
export CIO_RELAY_TEST_BIGQUERY_OUTAGE_CONTROL="$work/bigquery-outage-control"

if [ $# -gt 0 ]; then
  swift test --skip-build "$@"
else
  stage "integration tests against the servers above"
  # The BigQuery tests run after the others, not beside them: the emulator, Google's Python client
  # and key generation take both cores for seconds at a time, and the suites that check deadlines
  # (the Redis client's timeouts, claim renewal, the rate budget) must not be starved meanwhile.
  swift test --skip-build --filter IntegrationTests --skip 'BigQuery|bigQuery'
  stage "the BigQuery integration tests"
  swift test --skip-build --filter 'IntegrationTests.*(BigQuery|bigQuery)'
fi

stage "end-to-end check of the cio-relay binary"
IntegrationTests/smoke.sh "$(swift build --show-bin-path)/cio-relay" "$port" "$work/smoke"

stage "each role under a Redis user with exactly its ACL rule (cio-relay config --redis-acl), on Redis and the cluster"
python3 IntegrationTests/redis-acl-check.py "$(swift build --show-bin-path)/cio-relay" --redis "127.0.0.1:$port" \
  --cluster "$CIO_RELAY_TEST_REDIS_CLUSTER" --work "$work/acl"

stage "the console in a real browser (Chromium): login, overview, a dead letter replayed, a trace"
python3 IntegrationTests/console-browser.py "$(swift build --show-bin-path)/cio-relay" "$port" "$work/console"

stage "promtool check metrics on serve, work and run after traffic"
python3 IntegrationTests/check-metrics.py "$(swift build --show-bin-path)/cio-relay" "$port" "$work/metrics"

stage "1,000 connections that never finish their headers, against the binary"
python3 IntegrationTests/slowloris.py "$(swift build --show-bin-path)/cio-relay" "$port" "$work/slowloris"

stage "chaos soak (${CHAOS_SECONDS:-60} s): every acknowledged event checked end to end under faults"
IntegrationTests/chaos.sh "$(swift build --show-bin-path)/cio-relay"

stage "Redis Cluster soak: live resharding and failovers under load, every acknowledged event checked"
IntegrationTests/cluster-soak.sh "$(swift build --show-bin-path)/cio-relay"

stage "network faults (short form): black holes, one-way drops, resets, slow and flapping links between every pair, and a cluster split brain"
IntegrationTests/partition-soak.sh "$(swift build --show-bin-path)/cio-relay"

stage "Helm chart checks"
helm/tests/check-chart.sh

stage "the systemd unit (systemd-analyze) and its example settings"
ensure_packages systemd
IntegrationTests/check-systemd.sh "$(swift build --show-bin-path)/cio-relay"

if [ -n "$release_build" ]; then
  stage "the container image: built with podman from the release binary and run"
  if ! wait "$release_build"; then
    tail -40 "$work/release-build.log" >&2
    stage "the release build (swift build -c release --static-swift-stdlib) failed: its output is above" >&2
    exit 1
  fi
  release_build=""
  IntegrationTests/check-image.sh "$port" "$(cat "$work/release-binary")"
else
  stage "the container image not built: this was a filtered run ($*)"
fi
stage "all passed"
