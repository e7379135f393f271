#!/usr/bin/env bash
# Sets everything up (Debian packages, build) and runs every test: unit and integration tests
# in the optimized build, then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh             # everything (what CI runs)
#   scripts/test.sh --quick     # optimized build, unit tests only
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-all}"
scripts/setup.sh
jobs="$(nproc)"

echo "== tests (optimized build)"
if [[ "$mode" == "--quick" ]]; then
  ctest --test-dir build --output-on-failure -j "$jobs" -L unit
  exit 0
fi
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/setup.sh --sanitize
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
