#!/usr/bin/env bash
# Benchmarks training steps of kubo's score networks (nn.unet{}, the U-Net
# of CliMAgen.jl's score model; a small U-Net; the local score network) against the same networks in
# PyTorch (Debian's python3-torch), float32, one thread count, in one run.
#
#   scripts/bench/bench_nn.sh [build-dir [threads [nets [batches
#                             [min-seconds]]]]]
#
# Defaults: build-dir build, threads every core (nproc), nets
# unet,unet_small,local, batches 32,128, min-seconds 5. Each case runs a
# warm-up step, then at least 3 steps and min-seconds. When python3-torch
# is missing, the script installs it with apt-get if it runs as root;
# otherwise it prints the install command and runs kubo alone. kubo
# needs about 0.9 GB for the full U-Net at batch 128 (measured with
# kubo_alloc_live_bytes, Adam state included).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
threads=${2:-$(nproc)}
nets=${3:-unet,unet_small,local}
batches=${4:-32,128}
seconds=${5:-5}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -x "$build/kubo" ]; then
  echo "bench_nn.sh: no kubo program in $build (build first:" \
       "scripts/setup)" >&2
  exit 1
fi

have_torch=1
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench_nn.sh: installing python3-torch"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
  else
    echo "bench_nn.sh: python3-torch is missing; install it with" \
         "sudo apt-get install python3-torch (running kubo alone)" >&2
    have_torch=0
  fi
fi

# OpenBLAS (OpenMP build) and PyTorch both follow OMP_NUM_THREADS.
export OMP_NUM_THREADS=$threads
grep -m1 "model name" /proc/cpuinfo || true
echo "threads: $threads"
echo
"$build/kubo" "$root/scripts/bench/bench_nn.lua" "$nets" "$batches" \
  "$seconds"
if [ "$have_torch" -eq 1 ]; then
  echo
  /usr/bin/python3 "$root/scripts/bench/peers/bench_nn_torch.py" "$nets" \
    "$batches" "$seconds"
fi
