#!/usr/bin/env bash
# Compares kubo's U-Net and local score network with the PyTorch networks
# of the benchmark on the same weights and batch: forward output, input
# gradient and parameter gradients (largest relative differences). A
# check that the benchmark times the same architectures; needs
# python3-torch and python3-h5py (install: sudo apt-get install
# python3-torch python3-h5py).
#
#   scripts/bench/bench_nn_compare.sh [build-dir]
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -x "$build/kubo" ]; then
  echo "bench_nn_compare.sh: no kubo program in $build (build first:" \
       "scripts/setup)" >&2
  exit 1
fi
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
OMP_NUM_THREADS=1 "$build/kubo" "$root/scripts/bench/bench_nn_compare.lua" \
  "$folder"
/usr/bin/python3 "$root/scripts/bench/peers/bench_nn_compare_torch.py" \
  "$folder"
