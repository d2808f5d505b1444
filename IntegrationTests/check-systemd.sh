#!/usr/bin/env bash
# Checks the systemd unit in deploy/systemd without a running systemd (these machines have none):
# `systemd-analyze verify` must print nothing for it (it exits 0 on unknown keys and bad values,
# so its output is what counts), `systemd-analyze security --offline` reports its exposure, which
# must stay "OK" (under 4.0), and the example settings file must be a configuration that
# `cio-relay config` accepts.
#   IntegrationTests/check-systemd.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "$1")
work=$(mktemp -d -t cio-relay-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "systemd: FAILED: $*" >&2; exit 1; }

# The template, instantiated for serve, with ExecStart naming the binary at hand (verify checks
# that it exists and is executable).
sed "s#/usr/local/bin/cio-relay#$binary#" deploy/systemd/cio-relay@.service >"$work/cio-relay@serve.service"
output=$(systemd-analyze verify "$work/cio-relay@serve.service" 2>&1) || fail "systemd-analyze verify: $output"
[ -z "$output" ] || fail "systemd-analyze verify printed: $output"
exposure=$(systemd-analyze security --offline=yes "$work/cio-relay@serve.service" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security printed no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e < 4.0) }' || fail "exposure $exposure, not under 4.0"
echo "systemd: systemd-analyze verify passes deploy/systemd/cio-relay@.service; security --offline exposure $exposure (OK)"

settings=()
while IFS= read -r line; do
  case "$line" in '' | '#'*) ;; *) settings+=("$line") ;; esac
done <deploy/systemd/cio-relay.env
env -i "${settings[@]}" "$binary" config >"$work/config.txt" 2>&1 || fail "cio-relay config refuses deploy/systemd/cio-relay.env: $(cat "$work/config.txt")"
echo "systemd: cio-relay config accepts deploy/systemd/cio-relay.env"
