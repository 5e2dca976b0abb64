#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, runs the main job.
# Until the kiln program lands this is the demo (autograd fitting a small network).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/kiln-demo "$@"
