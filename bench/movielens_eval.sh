#!/usr/bin/env bash
# Claim: quality on MovieLens 100K under docs/protocol.md (5 rolling folds over the last half
# of the events, positives rating >= 4, seen items excluded), next to the peers of docs/figures.md. Imports
# ../shared/data/ml-100k into a temp store and runs `funnel eval` (every source alone, the
# candidate set's recall, the fused final list), then `funnel tune` for BUDGET seconds and
# `funnel eval` again with the tuned config. The tuner sees only events before the first fold's
# cutoff (the median event), so no test window leaks into the tuned parameters. Prints the
# tables with the machine and times.
#   bench/movielens_eval.sh [ML100K_DIR] [TUNE_BUDGET_SECONDS]   (defaults: ../shared/data/ml-100k 0 = no tuning)
set -euo pipefail
cd "$(dirname "$0")/.."
funnel=build/src/cli/funnel
[[ -x $funnel ]] || scripts/setup.sh >/dev/null
ml=${1:-../shared/data/ml-100k}
budget=${2:-0}
[[ -f $ml/u.data ]] || { echo "no MovieLens 100K at $ml" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $machine; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$funnel" import movielens "$ml" --data "$work/data" >/dev/null
start=$(date +%s.%N)
"$funnel" eval --data "$work/data" 2>/dev/null
echo "# funnel eval: $(echo "$(date +%s.%N) - $start" | bc) s wall"
if [[ $budget != 0 ]]; then
  first_cutoff=$(cut -f4 "$ml/u.data" | sort -n | awk '{t[NR]=$1} END {print t[int(NR/2)+1]}')
  "$funnel" tune --data "$work/data" --budget "$budget" --until "$first_cutoff" --out "$work/tuned.toml" 2>/dev/null | tail -3
  start=$(date +%s.%N)
  "$funnel" eval --data "$work/data" --config "$work/tuned.toml" 2>/dev/null
  echo "# funnel eval with the tuned config: $(echo "$(date +%s.%N) - $start" | bc) s wall"
fi
