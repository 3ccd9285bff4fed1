#!/usr/bin/env bash
# Benchmarks an ensemble split across MPI ranks. It prints the
# member-steps per second of an Allen-Cahn 32x32 ensemble
# (scripts/bench/bench_mpi.lua) on 1 and on 2 ranks of one thread each,
# and the parallel efficiency: the 2-rank rate over twice the 1-rank
# rate. One process of 2 OpenMP threads runs last, for comparison.
#
#   scripts/setup --mpi                              # build-mpi/
#   scripts/bench/bench_mpi.sh [build-dir] [members] [steps]
#       defaults: build-mpi, 128 members, 200 steps
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-mpi}
members=${2:-128}
steps=${3:-200}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
kubo="$build/kubo"
if [ ! -x "$kubo" ] ||
   ! "$kubo" -e 'os.exit(require("kubo").mpi.built and 0 or 1)'; then
  echo "bench_mpi.sh: no MPI build of kubo in $build (build one:" \
    "scripts/setup --mpi)" >&2
  exit 1
fi
script="$root/scripts/bench/bench_mpi.lua"
# Open MPI refuses root without these two variables.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

run() {
  local ranks=$1 threads=$2
  OMP_NUM_THREADS=$threads mpiexec --oversubscribe --bind-to none \
    -np "$ranks" "$kubo" "$script" "$members" "$steps"
}

one=$(run 1 1)
two=$(run 2 1)
echo "$one"
echo "$two"
paste <(echo "$one") <(echo "$two") | awk '{
  printf "%-14s efficiency on 2 ranks: %.2f\n", $1, $13 / (2 * $6) }'
echo
echo "== one process, 2 OpenMP threads"
OMP_NUM_THREADS=2 "$kubo" "$script" "$members" "$steps"
