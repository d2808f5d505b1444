#!/usr/bin/env bash
# The chaos soak (IntegrationTests/chaos.py): receivers, workers, Redis (AOF everysec), PostgreSQL and a
# Track API stand-in on loopback under a seeded schedule of kills, outages and API faults, then a
# check of every acknowledged event end to end. Prints a summary table; exits 1 when an invariant
# does not hold. The test command runs it for 60 s.
# Usage: IntegrationTests/chaos.sh [BINARY [CHAOS.PY ARGUMENTS…]]   (default: the debug build)
#   further arguments go to chaos.py (scripts/upgrade-test.sh passes --upgrade-to NEW_BINARY)
#   CHAOS_SECONDS  seconds of load and faults (default 60)
#   CHAOS_SEED     replays the schedule of an earlier run (printed at the start of each run)
#   CHAOS_RATE     events per second in all (default 150)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages redis-server postgresql-15 curl

binary=${1:-}
[ $# -eq 0 ] || shift
if [ -z "$binary" ]; then
  swift build --product cio-relay >&2
  binary="$(swift build --show-bin-path)/cio-relay"
fi

work=$(mktemp -d -t cio-relay-chaos.XXXXXX)
cleanup() {
  stop_postgres "$work/postgres"
  for pid in $(pgrep -x redis-server || true); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$work"/*) kill -9 "$pid" 2>/dev/null || true ;; esac
  done
  if [ "${status:-1}" -eq 0 ]; then rm -rf "$work"; else echo "chaos: logs kept in $work/soak" >&2; fi
}
trap cleanup EXIT
chmod 755 "$work"
pg_port=$(free_port)
start_postgres "$work/postgres" "$pg_port"
write_pg_control "$work/postgres-control" "$work/postgres" "$pg_port"

status=0
python3 IntegrationTests/chaos.py --binary "$binary" --work "$work/soak" \
  --postgres-url "postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable" \
  --postgres-control "$work/postgres-control" \
  --seconds "${CHAOS_SECONDS:-60}" --rate "${CHAOS_RATE:-150}" ${CHAOS_SEED:+--seed "$CHAOS_SEED"} "$@" || status=$?
exit "$status"
