#!/usr/bin/env bash
# Benchmarks kubo's normal and uniform fills against the per-block path
# they replaced (Random123 one block at a time, then libm's log, sqrt,
# cos and sin), for each SIMD variant of the fill kernels that the CPU
# supports, on one thread (OMP_NUM_THREADS=1).
#
#   scripts/bench/bench_rng.sh [build-dir] [n ...]
#       default build-dir: build; n: fill lengths, default 1088 65536
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
shift || true
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -e "$build/libkubo.so" ]; then
  echo "bench_rng.sh: no libkubo.so in $build (build first: scripts/setup)" \
    >&2
  exit 1
fi

bin="$build/bench/bench_rng"
mkdir -p "$build/bench"
cc -O3 -std=gnu11 -o "$bin" "$root/scripts/bench/bench_rng.c" \
  -I"$root/include" -I"$build/include" -L"$build" -Wl,-rpath,"$build" \
  -lkubo -lm

OMP_NUM_THREADS=1 "$bin" "$@"
