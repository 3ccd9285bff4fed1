#!/usr/bin/env bash
# Benchmarks score training and evaluation (kubo.score) on Allen-Cahn-like
# 32x32 snapshots against PyTorch doing the same work (Debian's
# python3-torch), float32, with one thread count, in one run. It prints
# training samples per second (noise draws, forward, backward, Adam with
# clipping, EMA) and evaluation samples per second of the trained score
# at sigma_min.
#
#   scripts/bench/bench_score.sh [build-dir [threads [nets [batches
#                                [steps [samples]]]]]]
#
# Defaults: build-dir build, threads every core (nproc), nets local (also
# unet_small), batches 32,128, steps 20 timed after 2 warm-up steps,
# samples 2048 snapshots. When python3-torch is missing, the script
# installs it with apt-get if it runs as root; otherwise it prints the
# install command and runs kubo alone.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
threads=${2:-$(nproc)}
nets=${3:-local}
batches=${4:-32,128}
steps=${5:-20}
samples=${6:-2048}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -x "$build/kubo" ]; then
  echo "bench_score.sh: no kubo program in $build (build first:" \
       "scripts/setup)" >&2
  exit 1
fi

have_torch=1
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench_score.sh: installing python3-torch"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
  else
    echo "bench_score.sh: python3-torch is missing; install it with" \
         "sudo apt-get install python3-torch (running kubo alone)" >&2
    have_torch=0
  fi
fi

# OpenBLAS (OpenMP build) and PyTorch both follow OMP_NUM_THREADS.
export OMP_NUM_THREADS=$threads
grep -m1 "model name" /proc/cpuinfo || true
echo "threads: $threads"
echo
"$build/kubo" "$root/scripts/bench/bench_score.lua" "$nets" "$batches" \
  "$steps" "$samples"
if [ "$have_torch" -eq 1 ]; then
  echo
  /usr/bin/python3 "$root/scripts/bench/peers/bench_score_torch.py" \
    "$nets" "$batches" "$steps" "$samples"
fi
