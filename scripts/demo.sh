#!/usr/bin/env bash
# Sets everything up (Debian packages, build) and runs the main job: `funnel demo` on built-in
# synthetic data, in ./funnel-data unless --data is given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --target funnel
exec build/src/cli/funnel demo "$@"
