#!/usr/bin/env bash
# Claim: JSON Lines import runs at >= 500,000 events/s, durable (fsync'ed batches), on a 2-core
# machine. Generates a synthetic platform with the project's own generator, imports it into a
# fresh store (with the online features, as `funnel import events` does by default, then
# without them), re-imports it (all duplicates) and imports it from stdin, and prints one
# Markdown table row per run for bench/RESULTS.md: wall time, events/s, and the CPU time the
# importer used (user + system, all its threads), which is steadier than wall time on a
# shared machine.
#   bench/import_throughput.sh [USERS ITEMS DAYS]     (defaults: 20000 40000 10, ~2.7M events)
set -euo pipefail
cd "$(dirname "$0")/.."
funnel=build/src/cli/funnel
[[ -x $funnel ]] || scripts/setup.sh >/dev/null

users=${1:-20000}
items=${2:-40000}
days=${3:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$funnel" generate --out "$work/gen" --users "$users" --items "$items" --days "$days" --seed 7 >/dev/null
events=$(wc -l < "$work/gen/events.jsonl")
bytes=$(stat -c %s "$work/gen/events.jsonl")

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $(date -u +%Y-%m-%d) $machine; $events events, $((bytes / 1048576)) MiB of JSON Lines; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| run | events | wall s | events/s | CPU s (user+sys) |"
echo "| --- | ---: | ---: | ---: | ---: |"

run() {  # label, then the import command's arguments
  local label=$1; shift
  local start end cpu
  start=$(date +%s.%N)
  if ! /usr/bin/time -f "%U %S" "$funnel" import events "$@" --data "$work/data" >/dev/null 2>"$work/err"; then
    cat "$work/err" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  cpu=$(tail -1 "$work/err")
  awk -v l="$label" -v n="$events" -v s="$start" -v e="$end" -v c="$cpu" \
    'BEGIN { split(c, t, " "); printf "| %s | %d | %.2f | %.0f | %.2f |\n", l, n, e - s, n / (e - s), t[1] + t[2] }'
}

fresh_store() {
  rm -rf "$work/data"
  "$funnel" import items "$work/gen/items.jsonl" --data "$work/data" >/dev/null
}

fresh_store
run "fresh import (durable, online features)" "$work/gen/events.jsonl"
run "re-import, all duplicates" "$work/gen/events.jsonl"
fresh_store
run "fresh import (durable, --no-online)" "$work/gen/events.jsonl" --no-online
fresh_store
run "fresh import from stdin (online features)" - < "$work/gen/events.jsonl"
