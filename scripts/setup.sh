#!/usr/bin/env bash
# Installs every Debian package Funnel needs (scripts/debian-packages.txt) and builds it.
# Idempotent: re-running skips installed packages and rebuilds only what changed.
#   scripts/setup.sh [--sanitize]   # --sanitize builds build-asan/ with ASan+UBSan
set -euo pipefail
cd "$(dirname "$0")/.."

preset=release
build_dir=build
if [[ "${1:-}" == "--sanitize" ]]; then preset=asan; build_dir=build-asan; fi

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
cmake --build "$build_dir" -j "$(nproc)"
