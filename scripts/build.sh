#!/usr/bin/env bash
# Configures and builds kiln (Release) into ./build. Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DKILN_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j "$(nproc)"
