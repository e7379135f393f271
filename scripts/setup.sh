#!/usr/bin/env bash
# Installs every Debian package Funnel needs (scripts/debian-packages.txt) and builds it.
# Idempotent: re-running skips installed packages and rebuilds only what changed.
#   scripts/setup.sh [--sanitize] [--target NAME]
#     --sanitize      builds build-asan/ with ASan+UBSan
#     --target NAME   builds only NAME and what it needs (the demo builds `funnel`, not the
#                     tests and benchmarks: most of a fresh machine's build time)
set -euo pipefail
cd "$(dirname "$0")/.."

preset=release
build_dir=build
targets=()
while (( $# )); do
  case "$1" in
    --sanitize) preset=asan; build_dir=build-asan ;;
    --target) targets+=(--target "$2"); shift ;;
    *) echo "setup: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

mapfile -t packages < <(grep -v '^\s*#' scripts/debian-packages.txt | sed 's/#.*//' | awk 'NF')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${missing[@]}"
fi

cmake --preset "$preset" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
