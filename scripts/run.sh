#!/usr/bin/env bash
# The README's main-job command. On a fresh Debian/Ubuntu machine it installs what is
# missing, builds the kiln program, and then
#   trains a small DDPM (configs/shapes-quick.json) on the built-in "shapes" images,
#   samples 64 images (DDPM, 100 respaced steps) and the denoising trajectory of a few,
#   evaluates: bits/dim of held-out images (E21) and how many samples a classifier
#   trained with kiln recognises as a circle, square or triangle (E34, E36),
# and prints where everything is. About 10 minutes on 2 CPU cores, build included.
#
#   scripts/run.sh            the main job, into runs/main-job
#   scripts/run.sh --2d       the 2-D demo (8 Gaussians, an MLP), into runs/demo-2d: < 1 minute
#   scripts/run.sh --out DIR  another run folder
set -euo pipefail
cd "$(dirname "$0")/.."

mode=main
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --2d) mode=2d; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "run.sh: unknown option '$1' (use --2d or --out DIR)" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

scripts/setup.sh
scripts/build.sh --target kiln-program
kiln=build/kiln
echo "[$(elapsed)] built $kiln"

if [[ "$mode" == 2d ]]; then
  run="${out:-runs/demo-2d}"
  # The MLP is tiny: one thread is faster than two (no synchronisation per op).
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  "$kiln" train --config configs/gaussians8-quick.json --out "$run" --overwrite
  "$kiln" sample "$run" --sampler ddpm --steps 0 --trajectory
  "$kiln" eval "$run" --sampler ddpm --steps 0 --bpd-images 64
  echo
  echo "[$(elapsed)] the 2-D demo is in $run/:"
  echo "  samples.png     2000 samples (blue) over the data (grey)"
  echo "  trajectory.png  the cloud of points from x_T (noise) to x_0"
  echo "  loss.png        the training loss;  eval.json  the numbers"
  exit 0
fi

run="${out:-runs/main-job}"
"$kiln" train --config configs/shapes-quick.json --out "$run" --overwrite
echo "[$(elapsed)] trained"
"$kiln" sample "$run" --sampler ddpm --sigma small --steps 100 --trajectory
echo "[$(elapsed)] sampled"
"$kiln" eval "$run" --sampler ddpm --sigma small --steps 100 --bpd-images 8
echo
echo "[$(elapsed)] the main job is done. In $run/:"
echo "  samples.png     64 samples (DDPM over 100 respaced steps, EMA weights)"
echo "  trajectory.png  x_T ... x_0 of 4 samples, with the predicted x0 under each x_t"
echo "  loss.png        the training loss (metrics.jsonl has the numbers)"
echo "  eval.json       bits/dim and sample quality (share recognised, Frechet distance, KID)"
echo "  previews/       samples during training;  checkpoint.safetensors, config.json"
