#!/usr/bin/env bash
# Configures and builds kiln (Release) into ./build. Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DKILN_CUDA=OFF; `--target NAME` (repeatable)
# builds only those targets, e.g. scripts/build.sh --target kiln-program
set -euo pipefail
cd "$(dirname "$0")/.."
configure=()
targets=()
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "--target" && $# -ge 2 ]]; then
    targets+=(--target "$2")
    shift 2
  else
    configure+=("$1")
    shift
  fi
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${configure[@]}"
cmake --build build -j "$(nproc)" "${targets[@]}"
