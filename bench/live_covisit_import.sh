#!/usr/bin/env bash
# What keeping co-visitation live costs the importer, and what it saves a request. Generates a
# synthetic platform, imports the first 80% of its events and trains a model on them (tune =
# false: the shipped defaults), then imports the last 20% twice into copies of that data dir:
# with the model (the importer folds each batch into the model's live co-visitation, beside the
# online features) and with the models removed (online features only). Then times `funnel
# recommend` for one user with the live state, and with it removed (a refold of every event since
# the cutoff). Prints Markdown for bench/RESULTS.md.
#   bench/live_covisit_import.sh [USERS ITEMS DAYS]     (defaults: 5000 20000 30, ~1.9M events)
set -euo pipefail
cd "$(dirname "$0")/.."
funnel=build/src/cli/funnel
[[ -x $funnel ]] || scripts/setup.sh >/dev/null

users=${1:-5000}
items=${2:-20000}
days=${3:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$funnel" generate --out "$work/gen" --users "$users" --items "$items" --days "$days" --seed 42 >/dev/null
total=$(wc -l < "$work/gen/events.jsonl")
head_n=$((total * 8 / 10))
head -n "$head_n" "$work/gen/events.jsonl" > "$work/first.jsonl"
tail -n +"$((head_n + 1))" "$work/gen/events.jsonl" > "$work/last.jsonl"
later=$((total - head_n))
printf 'log_level = "warn"\n[retrieval]\ntune = false\n' > "$work/funnel.toml"

"$funnel" import items "$work/gen/items.jsonl" --data "$work/base" >/dev/null
"$funnel" import events "$work/first.jsonl" --data "$work/base" >/dev/null
"$funnel" train --data "$work/base" --config "$work/funnel.toml" >/dev/null
cp -r "$work/base" "$work/with_model"
cp -r "$work/base" "$work/no_model"
rm -rf "$work/no_model/models"

machine="$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $(date -u '+%Y-%m-%d %H:%M') UTC, $machine; $total events ($head_n before training, $later after); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| import of the last $later events | wall s | events/s | CPU s (user+sys) |"
echo "| --- | ---: | ---: | ---: |"
run_import() {  # label, data dir
  local start end cpu
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" "$funnel" import events "$work/last.jsonl" --data "$2" --config "$work/funnel.toml" \
    >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  cpu=$(tail -1 "$work/err")
  awk -v l="$1" -v n="$later" -v s="$start" -v e="$end" -v c="$cpu" \
    'BEGIN { split(c, u, " "); w = e - s; printf "| %s | %.2f | %.0f | %.2f |\n", l, w, n / w, u[1] + u[2] }'
}
run_import "online features only (no model)" "$work/no_model"
run_import "online features + live co-visitation" "$work/with_model"
echo
echo "live state: $(du -h "$work"/with_model/covisit_live/*.blob | cut -f1)"
echo
user=$(head -1 "$work/last.jsonl" | sed 's/.*"user":"\([^"]*\)".*/\1/')
echo "| funnel recommend --user $user | wall s |"
echo "| --- | ---: |"
time_recommend() {  # label
  local start end
  start=$(date +%s.%N)
  "$funnel" recommend --data "$work/with_model" --config "$work/funnel.toml" --user "$user" --k 20 >/dev/null
  end=$(date +%s.%N)
  awk -v l="$1" -v s="$start" -v e="$end" 'BEGIN { printf "| %s | %.2f |\n", l, e - s }'
}
time_recommend "with the live state"
rm -rf "$work/with_model/covisit_live"
time_recommend "without it (refold since the cutoff)"
