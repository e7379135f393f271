#!/usr/bin/env bash
# Quality on the synthetic platform with the protocol of docs/protocol.md: generates a platform with the
# project's generator, imports it, and runs `funnel eval` with the shipped defaults (every
# source alone, the candidates, the final list, and each list's NDCG@10 minus most-popular's,
# paired over the same users). Quality figures are deterministic for a seed; wall time is not.
#   bench/synthetic_eval.sh [USERS ITEMS DAYS SEED]     (defaults: 2000 3000 14 1)
set -euo pipefail
cd "$(dirname "$0")/.."
funnel=build/src/cli/funnel
[[ -x $funnel ]] || scripts/setup.sh >/dev/null

users=${1:-2000}
items=${2:-3000}
days=${3:-14}
seed=${4:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $machine; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$funnel" generate --out "$work/gen" --users "$users" --items "$items" --days "$days" --seed "$seed" >/dev/null
"$funnel" import items "$work/gen/items.jsonl" --data "$work/data" --no-online >/dev/null
"$funnel" import events "$work/gen/events.jsonl" --data "$work/data" --no-online >/dev/null
echo "# $users users x $items items x $days days, seed $seed: $(wc -l < "$work/gen/events.jsonl") events"
start=$(date +%s.%N)
"$funnel" eval --data "$work/data" 2>/dev/null
echo "# funnel eval: $(echo "$(date +%s.%N) - $start" | bc) s wall"
