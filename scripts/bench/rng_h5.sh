#!/usr/bin/env bash
# Benchmarks kubo's Philox fills (float64 and float32, normal and uniform,
# on one thread and on all) and its HDF5 one-call write and read and
# streaming writer, then the same operations in NumPy and h5py
# (scripts/bench/peers/rng_h5py.py, through /usr/bin/python3).
#
#   scripts/bench/rng_h5.sh [build-dir] [log2 n]   defaults: build, 24
#
# The HDF5 figures include the file system: scratch files go to a new
# folder under TMPDIR (default /tmp), removed at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -e "$build/libkubo.so" ]; then
  echo "rng_h5.sh: no libkubo.so in $build (build first: scripts/setup)" >&2
  exit 1
fi
log2n=${2:-24}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/kubo-bench-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

bin="$build/bench/bench_rng_h5"
mkdir -p "$build/bench"
cc -O3 -std=gnu11 -fopenmp -o "$bin" "$root/scripts/bench/bench_rng_h5.c" \
  -I"$root/include" -I"$build/include" -L"$build" -Wl,-rpath,"$build" \
  -lkubo $(pkg-config --cflags --libs hdf5) -lm

echo "== kubo (C API)"
"$bin" "$scratch" "$log2n"
echo
echo "== peers"
/usr/bin/python3 "$root/scripts/bench/peers/rng_h5py.py" "$scratch" "$log2n"
