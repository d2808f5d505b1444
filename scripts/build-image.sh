#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman and prints the image reference
# (localhost/cio-relay:VERSION-COMMIT) on its last line.
#   scripts/build-image.sh [BINARY]
#
# Without a Docker engine or a registry (these machines): the Debian base is made with debootstrap
# and imported under the name the Dockerfile uses, and the build stage, whose Swift image is 3.3 GB,
# is stood in for by a folder holding the binary its own command builds (`swift build -c release
# --static-swift-stdlib`, stripped as the stage installs it): `podman build --build-context
# build=FOLDER` replaces the stage named `build`. The runtime stage is the Dockerfile's, built as
# written. BINARY, when given, is used instead of a release build (the test command passes its
# debug build, linked statically the same way, to spare CI a second full build).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages podman runc debootstrap binutils

work=$(mktemp -d -t cio-relay-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
use_podman_settings "$work"
ensure_debian_base docker.io/library/debian:bookworm-slim

binary=${1:-}
[ -n "$binary" ] || binary=$(build_release)
install -D -s -m 0755 "$binary" "$work/build/out/cio-relay"
# "0.1.0 (commit 0123456789ab)" becomes the tag 0.1.0-0123456789ab.
tag=$("$binary" --version | sed -E 's/^([^ ]+) \(commit ([^)]+)\)$/\1-\2/')
podman build --network host --pull=never --build-context build="$work/build" -t "localhost/cio-relay:$tag" . >&2
echo "localhost/cio-relay:$tag"
