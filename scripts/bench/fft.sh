#!/usr/bin/env bash
# Benchmarks kubo's spectral grid transforms in one run: the batched
# 32x32 (128 fields) and 256x256 (16 fields) transforms against bare FFTW
# calls on the same data (overhead ratio), the spectral x-derivative in
# C, from Lua, and in NumPy (scripts/bench/peers/fft_numpy.py).
#
#   scripts/bench/fft.sh [build-dir]     default build-dir: build
#
# Runs on one thread (OMP_NUM_THREADS=1) so that every row compares one
# core with one core; set OMP_NUM_THREADS to override.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -x "$build/kubo" ]; then
  echo "fft.sh: no kubo program in $build (build first: scripts/setup)" >&2
  exit 1
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

bin="$build/bench/bench_fft"
mkdir -p "$build/bench"
cc -O3 -std=gnu11 -o "$bin" "$root/scripts/bench/bench_fft.c" \
  -I"$root/include" -I"$build/include" -L"$build" -Wl,-rpath,"$build" \
  -lkubo $(pkg-config --cflags --libs fftw3) -lm

echo "== C: kubo against bare FFTW on the same arrays"
"$bin"
echo
echo "== Lua: kubo.grid methods (allocating results)"
"$build/kubo" "$root/scripts/bench/fft.lua"
echo
echo "== NumPy peer"
/usr/bin/python3 "$root/scripts/bench/peers/fft_numpy.py"
