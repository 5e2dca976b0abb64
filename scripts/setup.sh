#!/usr/bin/env bash
# Installs what kiln needs from Debian/Ubuntu packages, skipping what is already there.
#   scripts/setup.sh          build + test dependencies
#   scripts/setup.sh --bench  also the references the benchmarks compare against
#                             (OpenBLAS, PyTorch for the CPU)
set -euo pipefail

packages=(build-essential cmake pkg-config doctest-dev libfmt-dev nlohmann-json3-dev
          libcli11-dev libstb-dev zlib1g-dev python3 pandoc)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libopenblas-dev python3-torch)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
