#!/usr/bin/env bash
# Claim: the offline point-in-time dataset build over ~3 M synthetic events takes <= 10 s.
# Generates a platform with the project's generator (8,000 users x 30 days gives about 3 M
# events), imports it without updating the online features (--no-online: the dataset builder
# replays the event store itself), then times `funnel features dataset --threads THREADS` RUNS
# times and prints a Markdown table: rows, wall seconds, CPU seconds (user + sys), rows/s and the
# 1-minute load average when the run started (the machine is shared: a busy one stretches wall).
#   bench/dataset_build.sh [USERS ITEMS DAYS RUNS THREADS]     (defaults: 8000 20000 30 3 0)
# THREADS 1 keeps everything on one thread; 2 (or 0 on a machine with two cores or more) writes
# the rows on a second thread.
set -euo pipefail
cd "$(dirname "$0")/.."
funnel=build/src/cli/funnel
[[ -x $funnel ]] || scripts/setup.sh >/dev/null

users=${1:-8000}
items=${2:-20000}
days=${3:-30}
runs=${4:-3}
threads=${5:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$funnel" generate --out "$work/gen" --users "$users" --items "$items" --days "$days" --seed 7 >/dev/null
"$funnel" import items "$work/gen/items.jsonl" --data "$work/data" --no-online >/dev/null
"$funnel" import events "$work/gen/events.jsonl" --data "$work/data" --no-online >/dev/null
events=$(wc -l < "$work/gen/events.jsonl")
rm -rf "$work/gen"

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $machine; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $users users x $items items x $days days: $events events; --threads $threads"
echo "| run | events | rows | wall s | CPU s (user+sys) | rows/s (wall) | events/s (wall) | load (1 min) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
TIMEFORMAT='%R %U %S'
for run in $(seq 1 "$runs"); do
  rm -f "$work/rows.tsv"
  load=$(cut -d' ' -f1 /proc/loadavg)
  # The builtin `time` reports the child's wall, user and system seconds on stderr.
  { time "$funnel" features dataset --data "$work/data" --out "$work/rows.tsv" --threads "$threads" > "$work/out.txt" 2>/dev/null; } 2> "$work/time.txt"
  read -r wall user sys < "$work/time.txt"
  # "…/rows.tsv: 1,234,567 rows (…) x N features from M events in S s"
  rows=$(sed -n 's/^[^:]*: \([0-9,]*\) rows.*/\1/p' "$work/out.txt" | tr -d ,)
  awk -v r="$run" -v e="$events" -v n="$rows" -v w="$wall" -v u="$user" -v s="$sys" -v l="$load" \
    'BEGIN { printf "| %d | %d | %d | %.2f | %.2f | %.0f | %.0f | %s |\n", r, e, n, w, u + s, n / w, e / w, l }'
done
echo "# output file: $(du -h "$work/rows.tsv" | cut -f1), $(head -c 300 "$work/out.txt" | tr '\n' ' ')"
