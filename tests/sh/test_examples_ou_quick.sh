# label: slow. The OU example's quick profile: every estimator of the
# error table (dynamical, Gaussian, analytic score raw and normalised,
# learned score) is within 0.03 of the exact response, in the plain
# 2-norm over lags 0..49 at R11, R21, R31 and R41. The dynamical response
# of this linear system carries no noise, and 0.03 is about three times
# the per-member standard error of the noisiest estimate (the raw
# analytic one, 0.009). It takes about 10 minutes on an idle 2-core
# machine. The studies are kept in $KUBO_EXAMPLES_DIR (default:
# examples-slow in the working directory), so a rerun resumes where the
# last run stopped.
#
# Needs $KUBO (the program) and $KUBO_SOURCE_DIR (the checkout).
set -u

if [ -z "${KUBO:-}" ] || [ -z "${KUBO_SOURCE_DIR:-}" ]; then
  echo "test_examples_ou_quick: set KUBO and KUBO_SOURCE_DIR" >&2
  exit 2
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")
work=${KUBO_EXAMPLES_DIR:-$PWD/examples-slow}
mkdir -p "$work" && cd "$work" || exit 2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

out=$("$KUBO" "$KUBO_SOURCE_DIR/examples/ou.lua" 2>&1)
status=$?
printf '%s\n' "$out" | sed -n '/errors against the exact/,/^$/p'
if [ "$status" -ne 0 ]; then
  echo "FAIL  ou exits with $status"
  printf '%s\n' "$out" | tail -20
  exit 1
fi
report=$(printf '%s\n' "$out" | sed -n 's/^responses: *//p' | tail -1)

cat > check_ou.lua <<'LUA'
-- Checks the errors against the exact response in the report file arg[1].
local kubo = require "kubo"
local file = arg[1]
local TOLERANCE = 0.03
local failed = 0
for _, name in ipairs{"dynamical", "gaussian", "analytic_raw", "analytic",
                      "score"} do
  local l2 = assert(kubo.h5.read(file, "/errors/against_exact/" .. name))
  for k = 1, 4 do
    local ok = l2[k] <= TOLERANCE
    print(string.format("%s %s R%d1 within %g of exact: %.4f",
                        ok and "ok   " or "FAIL ", name, k, TOLERANCE,
                        l2[k]))
    if not ok then failed = failed + 1 end
  end
end
os.exit(failed == 0 and 0 or 1)
LUA
"$KUBO" check_ou.lua "$report"
