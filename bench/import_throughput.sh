#!/usr/bin/env bash
# Claim: JSON Lines import runs at >= 500,000 events/s, durable (fsync'ed batches), on a 2-core
# machine. Generates a synthetic platform with the project's own generator, imports it into a
# fresh store three times over (fresh import, idempotent re-import, import from stdin) and
# prints one Markdown table row per run for bench/RESULTS.md.
#   bench/import_throughput.sh [USERS ITEMS DAYS]     (defaults: 20000 40000 30)
set -euo pipefail
cd "$(dirname "$0")/.."
funnel=build/src/cli/funnel
[[ -x $funnel ]] || scripts/setup.sh >/dev/null

users=${1:-20000}
items=${2:-40000}
days=${3:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$funnel" generate --out "$work/gen" --users "$users" --items "$items" --days "$days" --seed 7 >/dev/null
events=$(wc -l < "$work/gen/events.jsonl")
bytes=$(stat -c %s "$work/gen/events.jsonl")

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $(date -u +%Y-%m-%d) $machine; $events events, $((bytes / 1048576)) MiB of JSON Lines"
echo "| run | events | seconds | events/s |"
echo "| --- | ---: | ---: | ---: |"

run() {  # label, then the import command's arguments
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$funnel" import events "$@" --data "$work/data" >/dev/null
  end=$(date +%s.%N)
  awk -v l="$label" -v n="$events" -v s="$start" -v e="$end" \
    'BEGIN { printf "| %s | %d | %.2f | %.0f |\n", l, n, e - s, n / (e - s) }'
}

"$funnel" import items "$work/gen/items.jsonl" --data "$work/data" >/dev/null
run "fresh import (durable)" "$work/gen/events.jsonl"
run "re-import, all duplicates" "$work/gen/events.jsonl"
rm -rf "$work/data"
"$funnel" import items "$work/gen/items.jsonl" --data "$work/data" >/dev/null
run "fresh import from stdin" - < "$work/gen/events.jsonl"
