#!/usr/bin/env bash
# kubo under mpirun. Checks the kubo.mpi functions on 1 to 3 ranks, that
# ensemble trajectories and perturbation responses are the same bits for
# every rank count, and that data-parallel training on 2 ranks matches 1
# rank. Also checks that a failure on one rank ends every rank and that
# only rank 0 prints progress.
#
# Needs $KUBO (an MPI build of the program), $KUBO_SOURCE_DIR and
# mpiexec (Debian package openmpi-bin; $KUBO_MPIEXEC names another).
# Exits with 77 (skipped) if kubo was built without MPI.
set -u

if [ -z "${KUBO:-}" ] || [ -z "${KUBO_SOURCE_DIR:-}" ]; then
  echo "test_mpi: set KUBO to the kubo program and KUBO_SOURCE_DIR to" \
       "the checkout" >&2
  exit 2
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")
if ! "$KUBO" -e 'os.exit(require("kubo").mpi.built and 0 or 1)'; then
  echo "test_mpi: skipped, kubo was built without MPI (-DKUBO_MPI=ON)"
  exit 77
fi
MPIEXEC=${KUBO_MPIEXEC:-mpiexec}
if ! command -v "$MPIEXEC" >/dev/null; then
  echo "test_mpi: $MPIEXEC not found (install the Debian package" \
       "openmpi-bin)" >&2
  exit 2
fi

# Open MPI refuses root without these, and starts no more ranks than
# cores without --oversubscribe. One OpenMP thread per rank keeps two
# ranks within the two cores of CI. Containers often forbid the
# cross-memory attach of Open MPI's shared-memory transport.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMP_NUM_THREADS=1
if [ "${KUBO_SANITIZE:-0}" = 1 ]; then
  # Open MPI keeps memory until exit, which LeakSanitizer reports.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
tests="$KUBO_SOURCE_DIR/tests/lua"

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

# Runs kubo on $1 ranks with the remaining arguments; a run that hangs is
# stopped after 300 s (exit status 124).
run_mpi() {
  local ranks=$1
  shift
  timeout 300 "$MPIEXEC" --oversubscribe -np "$ranks" "$KUBO" "$@"
}


# ---------------------------------------------------------------------
# kubo.mpi on 1, 2 and 3 ranks
# ---------------------------------------------------------------------

for ranks in 1 2 3; do
  if run_mpi "$ranks" "$tests/test_mpi.lua" > api.log 2>&1; then
    ok "mpi functions on $ranks ranks"
  else
    fail "mpi functions on $ranks ranks" "$(tail -n 20 api.log)"
  fi
done


# ---------------------------------------------------------------------
# Ensembles and perturbation responses: the same bits for every rank
# count, and the same as the program started without mpirun
# ---------------------------------------------------------------------

cat > compare.lua <<'EOF'
-- Prints each dataset of file a whose values differ from file b's, with
-- the tolerance given (0: the same bits), then the number compared.
local kubo = require "kubo"
local a, b = os.getenv("A"), os.getenv("B")
local tol = tonumber(os.getenv("TOL") or "0")
local count = 0
for _, name in ipairs(kubo.h5.list(a)) do
  local x, y = kubo.h5.read(a, name), kubo.h5.read(b, name)
  local same = x:numel() == y:numel()
  if same then
    local d = (x - y):abs():max()
    same = d <= tol * math.max(1, x:abs():max())
    if not same then print(name .. " differs by " .. d) end
  else
    print(name .. " has another shape")
  end
  count = count + 1
end
print("compared " .. count)
EOF

mkdir -p plain
if KUBO_MPI_OUT=$tmp/plain "$KUBO" "$tests/test_mpi_ensemble.lua" \
     > plain.log 2>&1; then
  ok "mpi ensemble without mpirun"
else
  fail "mpi ensemble without mpirun" "$(tail -n 20 plain.log)"
fi
for ranks in 1 2 3; do
  mkdir -p "ranks$ranks"
  if ! KUBO_MPI_OUT=$tmp/ranks$ranks run_mpi "$ranks" \
       "$tests/test_mpi_ensemble.lua" > "ensemble$ranks.log" 2>&1; then
    fail "mpi ensemble on $ranks ranks" "$(tail -n 20 "ensemble$ranks.log")"
    continue
  fi
  got=$(A=plain/results.h5 B=ranks$ranks/results.h5 "$KUBO" compare.lua \
          2>&1)
  if [ "$got" = "compared 9" ]; then
    ok "mpi ensemble on $ranks ranks same bits"
  else
    fail "mpi ensemble on $ranks ranks same bits" "$got"
  fi
done


# ---------------------------------------------------------------------
# Data-parallel training: 2 ranks against 1 with the same global batch.
# Only the order of the float32 gradient sums differs; after 30 Adam
# steps the parameters (up to 0.7 in size) differed by 6e-8 when
# written. The tolerance is 1e-5 times the largest value (1e-5 when that
# is below 1).
# ---------------------------------------------------------------------

mkdir -p train1 train2
if KUBO_MPI_OUT=$tmp/train1 run_mpi 1 "$tests/test_mpi_train.lua" \
     > train1.log 2>&1 &&
   KUBO_MPI_OUT=$tmp/train2 run_mpi 2 "$tests/test_mpi_train.lua" \
     > train2.log 2>&1; then
  got=$(A=train1/train.h5 B=train2/train.h5 TOL=1e-5 "$KUBO" compare.lua \
          2>&1)
  if [ "$got" = "compared 2" ]; then
    ok "mpi training on 2 ranks matches 1"
  else
    fail "mpi training on 2 ranks matches 1" "$got"
  fi
else
  fail "mpi training on 2 ranks matches 1" "$(tail -n 20 train1.log)" \
       "$(tail -n 20 train2.log)"
fi


# ---------------------------------------------------------------------
# A failure on one rank ends every rank with its message
# ---------------------------------------------------------------------

cat > fail_one.lua <<'EOF'
local kubo = require "kubo"
if kubo.mpi.rank() == 1 then
  kubo.integrator{model = kubo.models.double_well{}, dt = -1}
end
kubo.mpi.barrier()   -- rank 0 waits here for a rank that has failed
print("rank " .. kubo.mpi.rank() .. " passed the barrier")
EOF
run_mpi 2 fail_one.lua > fail_one.log 2>&1
status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] &&
   grep -q "integrator: dt must be a finite number > 0 (got -1)" \
     fail_one.log &&
   ! grep -q "passed the barrier" fail_one.log; then
  ok "mpi failure on one rank ends all"
else
  fail "mpi failure on one rank ends all" "exit status $status" \
       "$(tail -n 20 fail_one.log)"
fi

cat > fail_split.lua <<'EOF'
local kubo = require "kubo"
local g = kubo.grid{n = {8, 8}}
local sim = kubo.integrator{model = kubo.models.ou{grid = g}, members = 4}
-- rank 1 passes a bad state to a call every rank makes together
local u = kubo.mpi.rank() == 1 and kubo.zeros(3) or kubo.zeros(4, 8, 8)
local ok, err = pcall(sim.set_state, sim, u)
print("rank " .. kubo.mpi.rank() .. ": " .. tostring(err))
EOF
run_mpi 2 fail_split.lua > fail_split.log 2>&1
status=$?
want="expected one state of 64 values or one per member (4 x 64), got"
if [ "$status" -eq 0 ] &&
   [ "$(grep -c "rank [01]: sim:set_state: $want shape (3) (on rank 1)" \
          fail_split.log)" -eq 2 ]; then
  ok "mpi bad input on one rank raises on all"
else
  fail "mpi bad input on one rank raises on all" "exit status $status" \
       "$(tail -n 20 fail_split.log)"
fi


# ---------------------------------------------------------------------
# Only rank 0 prints progress
# ---------------------------------------------------------------------

cat > progress.lua <<'EOF'
local kubo = require "kubo"
local g = kubo.grid{n = {8, 8}}
local sim = kubo.integrator{model = kubo.models.ou{grid = g}, members = 4}
sim:run{steps = 20, every = 10, progress = true}
EOF
run_mpi 2 progress.lua > progress.log 2>&1
lines=$(grep -c "^integrator: 20/20 steps" progress.log)
if [ "$lines" -eq 1 ]; then
  ok "mpi progress from rank 0 only"
else
  fail "mpi progress from rank 0 only" "$lines final progress lines" \
       "$(tail -n 20 progress.log)"
fi


echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
