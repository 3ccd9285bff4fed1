#!/usr/bin/env bash
# Benchmarks kubo's tensor kernels (elementwise, reductions, dot, matmul,
# solve) in float64 and float32 against bare loops and direct
# CBLAS/LAPACKE calls on the same arrays.
#
#   scripts/bench/tensor.sh [build-dir] [n]   defaults: build, 2^24
#
# Uses every core unless OMP_NUM_THREADS is set. The bare loops are
# serial, so compare OMP_NUM_THREADS=1 and the default to see what the
# OpenMP blocks add.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -e "$build/libkubo.so" ]; then
  echo "tensor.sh: no libkubo.so in $build (build first: scripts/setup)" >&2
  exit 1
fi

bin="$build/bench/bench_tensor"
mkdir -p "$build/bench"
cc -O3 -std=gnu11 -o "$bin" "$root/scripts/bench/bench_tensor.c" \
  -I"$root/include" -I"$build/include" -L"$build" -Wl,-rpath,"$build" \
  -lkubo $(pkg-config --cflags --libs openblas lapacke) -lm

"$bin" ${2:-}
