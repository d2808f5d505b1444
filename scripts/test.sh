#!/usr/bin/env bash
# The test command: installs what the tests need, starts a private Redis on a free loopback port
# with its data in a temporary folder, runs every test against it, and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages redis-server libhiredis-dev libssl-dev openssl curl

work=$(mktemp -d -t cio-relay-test.XXXXXX)
cleanup() {
  stop_redis "$work/redis"
  # Servers that tests start themselves live under $work too; a crashed test could leave one.
  for pid in $(pgrep -x redis-server || true); do
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$work"/*) kill -9 "$pid" 2>/dev/null || true ;; esac
  done
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
start_redis "$work/redis" "$port" --save "" --appendonly no
echo "==> test Redis on 127.0.0.1:$port ($(redis-server --version | awk '{print $3}'))"

export CIO_RELAY_TEST_REDIS_URL="redis://127.0.0.1:$port"
# Tests that stop and restart Redis start their own server with this binary and folder.
export CIO_RELAY_TEST_REDIS_SERVER="$(command -v redis-server)"
export CIO_RELAY_TEST_TMPDIR="$work"

swift build --build-tests
swift test --skip-build "$@"

echo "==> end-to-end check of the cio-relay binary"
scripts/smoke.sh "$(swift build --show-bin-path)/cio-relay" "$port" "$work/smoke"
