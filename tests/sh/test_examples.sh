#!/usr/bin/env bash
# The examples end to end at tiny sizes. Each runs, prints its error
# table and writes its figure, table and responses. A rerun takes every
# stage from the cache, and a new number of training steps reruns
# training and the stages after it but not the simulations.
#
# Needs $KUBO (the program) and $KUBO_SOURCE_DIR (the checkout).
set -u

if [ -z "${KUBO:-}" ] || [ -z "${KUBO_SOURCE_DIR:-}" ]; then
  echo "test_examples: set KUBO and KUBO_SOURCE_DIR" >&2
  exit 2
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")
examples=$KUBO_SOURCE_DIR/examples
# Tiny ensembles run faster on one thread than on two busy ones.
export OMP_NUM_THREADS=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2

passed=0
failed=0

ok() {
  passed=$((passed + 1))
  echo "ok    $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL  $1"
  shift
  printf '      %s\n' "$@"
}

# check_has NAME TEXT PART: TEXT contains PART.
check_has() {
  if [[ "$2" == *"$3"* ]]; then
    ok "$1"
  else
    fail "$1" "expected to find: $3" "in: $2"
  fi
}

# check_lacks NAME TEXT PART: TEXT does not contain PART.
check_lacks() {
  if [[ "$2" != *"$3"* ]]; then
    ok "$1"
  else
    fail "$1" "did not expect: $3" "in: $2"
  fi
}

# check_file NAME PATH: PATH is a non-empty file.
check_file() {
  if [ -s "$2" ]; then ok "$1"; else fail "$1" "missing or empty: $2"; fi
}

# run_example NAME ARGS...: runs the example, keeps stdout+stderr in $out
# and its exit status in $status.
run_example() {
  local name=$1
  shift
  out=$("$KUBO" "$examples/$name" "$@" 2>&1)
  status=$?
  if [ "$status" -ne 0 ]; then
    fail "$name $* exits with 0" "status $status" "$out"
  fi
}

# check_outputs NAME: the figure, table and responses printed by the last
# run exist.
check_outputs() {
  local label=$1 key path
  for key in figure table responses; do
    path=$(printf '%s\n' "$out" | sed -n "s/^$key: *//p" | tail -1)
    if [ -z "$path" ]; then
      fail "$label prints its $key" "$out"
    else
      check_file "$label writes its $key" "$path"
    fi
  done
}

STAGES="simulate perturb train respond report"

# --- Allen-Cahn: outputs, caching and reruns ------------------------------

run_example allen_cahn.lua --set profile=tiny
check_has "allen_cahn table header" "$out" "R11      R21      R31      R41"
check_has "allen_cahn table row" "$out" "learned score, normalised"
check_has "allen_cahn analytic row" "$out" "analytic score, normalised"
check_outputs "allen_cahn"
for stage in $STAGES; do
  check_has "allen_cahn first run computes $stage" "$out" \
    "[allen_cahn] $stage: running"
done

run_example allen_cahn.lua --set profile=tiny
for stage in $STAGES; do
  check_has "allen_cahn rerun loads $stage" "$out" \
    "[allen_cahn] $stage: cached"
done
check_lacks "allen_cahn rerun computes nothing" "$out" ": running"
check_has "allen_cahn rerun prints the table" "$out" \
  "learned score, normalised"

run_example allen_cahn.lua --set profile=tiny --set train_steps=12
for stage in simulate perturb; do
  check_has "allen_cahn new train_steps keeps $stage" "$out" \
    "[allen_cahn] $stage: cached"
done
for stage in train respond report; do
  check_has "allen_cahn new train_steps reruns $stage" "$out" \
    "[allen_cahn] $stage: running"
done

run_example allen_cahn.lua --set profile=tiny --set seed=2
check_has "allen_cahn new seed reruns train" "$out" \
  "[allen_cahn] train: running"
check_has "allen_cahn new seed keeps simulate" "$out" \
  "[allen_cahn] simulate: cached"

# the U-Net, which the paper profile trains
run_example allen_cahn.lua --set profile=tiny --set net=unet
check_has "allen_cahn unet trains" "$out" "[allen_cahn] train: unet network"
check_has "allen_cahn unet keeps simulate" "$out" \
  "[allen_cahn] simulate: cached"

out=$("$KUBO" "$examples/allen_cahn.lua" --set profile=nope 2>&1)
status=$?
if [ "$status" -ne 0 ]; then
  ok "unknown profile fails"
else
  fail "unknown profile fails" "$out"
fi
check_has "unknown profile message" "$out" \
  "unknown profile 'nope' (profiles: paper, quick, tiny)"

# --- OU and Navier-Stokes: outputs --------------------------------------

run_example ou.lua --set profile=tiny
check_has "ou table row" "$out" "analytic score, raw"
check_has "ou errors against exact" "$out" \
  "errors against the exact response"
check_outputs "ou"

run_example navier_stokes.lua --set profile=tiny
check_has "navier_stokes table row" "$out" "learned score, normalised"
check_has "navier_stokes has no analytic score" "$out" \
  "analytic score, raw                 n/a"
check_has "navier_stokes lags in steps" "$out" "steps"
check_outputs "navier_stokes"

# --- double well --------------------------------------------------------

run_example double_well.lua --set members=40 --set length=5 \
  --set lags=20 --set resets=1 --set train_steps=10 --set batch=32
check_has "double_well table row" "$out" "learned score, normalised"
check_has "double_well stein line" "$out" "Stein check"
figure=$(printf '%s\n' "$out" | sed -n 's/^figure: *//p')
check_file "double_well writes its figure" "$figure"
run_example double_well.lua --set members=40 --set length=5 \
  --set lags=20 --set resets=1 --set train_steps=10 --set batch=32
check_lacks "double_well rerun computes nothing" "$out" ": running"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
