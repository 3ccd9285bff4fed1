#!/usr/bin/env bash
# Benchmarks ensemble steps in one run. kubo: Allen-Cahn 32x32 with 128
# members (member-steps per second, and the step's time over the time of
# the 8 transforms it must do), OU 32x32, and Navier-Stokes 32x32 and
# 256x256 (milliseconds per member-step). Then the same steps in NumPy
# (scripts/bench/peers/sde_numpy_step.py, Debian's /usr/bin/python3).
#
#   scripts/bench/bench_sde.sh [build-dir] [members]
#       default build-dir: build; members (Allen-Cahn, OU): 128
#
# Runs kubo on one thread (OMP_NUM_THREADS=1) so that it compares one
# core with NumPy's one core, then kubo again on all threads; set
# OMP_NUM_THREADS to choose the second count.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
members=${2:-128}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -f "$build/libkubo.so" ]; then
  echo "bench_sde.sh: no libkubo.so in $build (build first: scripts/setup)" \
    >&2
  exit 1
fi
threads=${OMP_NUM_THREADS:-$(nproc)}

bin="$build/bench/bench_sde"
mkdir -p "$build/bench"
cc -O3 -std=gnu11 -o "$bin" "$root/scripts/bench/bench_sde.c" \
  -I"$root/include" -I"$build/include" -L"$build" -Wl,-rpath,"$build" \
  -lkubo $(pkg-config --cflags --libs fftw3) -lm

echo "== kubo, 1 thread"
OMP_NUM_THREADS=1 "$bin" "$members"
echo
if [ "$threads" -gt 1 ]; then
  echo "== kubo, $threads threads"
  OMP_NUM_THREADS=$threads "$bin" "$members"
  echo
fi
echo "== NumPy peer, 1 thread"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
  /usr/bin/python3 "$root/scripts/bench/peers/sde_numpy_step.py" "$members"
