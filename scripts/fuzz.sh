#!/usr/bin/env bash
# Fuzzes one parser with libFuzzer and AddressSanitizer for a while.
# Usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer options…]
#   TARGET: envelope, signature-header, redis-reply, policy, redis-url, warehouse-url, warehouse-row
# The sanitizer build lives in .build/fuzz (minutes the first time). Seeds come from
# Fuzz/corpus/TARGET (kept small, in git); what libFuzzer adds goes to .build/fuzz-corpus/TARGET.
# An input that breaks an invariant is saved as Fuzz/crashes/TARGET-…: replay it with
# `cio-relay-fuzz TARGET FILE` in an ordinary build, fix the cause, and move it to
# Fuzz/regressions/TARGET/ under a name that says what it broke; the test suite replays those.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
shift 2
[ -d "Fuzz/corpus/$target" ] || { echo "fuzz: no seed corpus Fuzz/corpus/$target: not a target" >&2; exit 64; }

swift build --scratch-path .build/fuzz --product cio-relay-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address >&2
binary="$(swift build --scratch-path .build/fuzz --show-bin-path)/cio-relay-fuzz"

mkdir -p ".build/fuzz-corpus/$target" Fuzz/crashes
# The Swift backtracer would report its own stack reads under ASan after a finding: leave it out.
SWIFT_BACKTRACE=enable=no CIO_RELAY_FUZZ_TARGET=$target "$binary" ".build/fuzz-corpus/$target" "Fuzz/corpus/$target" \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="Fuzz/crashes/$target-" -print_final_stats=1 "$@"
