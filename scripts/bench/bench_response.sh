#!/usr/bin/env bash
# Benchmarks kubo's Gaussian and score response estimators against a
# NumPy implementation of the same algorithm, in one run, on one
# trajectory of 32x32 fields (default 100000 frames, 100 lags).
#
#   scripts/bench/bench_response.sh [build-dir [frames [lags]]]
#
# build-dir defaults to build. Runs on one thread (OMP_NUM_THREADS=1),
# as NumPy's FFT does; set OMP_NUM_THREADS to override. The default run
# peaked at 5.0 GB of resident memory (/usr/bin/time -v); pass fewer
# frames on a smaller machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
frames=${2:-100000}
lags=${3:-100}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ ! -x "$build/kubo" ]; then
  echo "bench_response.sh: no kubo program in $build (build first:" \
       "scripts/setup)" >&2
  exit 1
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

echo "== kubo"
"$build/kubo" "$root/scripts/bench/bench_response.lua" "$frames" "$lags"
echo
echo "== NumPy peer"
/usr/bin/python3 "$root/scripts/bench/peers/bench_response_numpy.py" \
  "$frames" "$lags"
