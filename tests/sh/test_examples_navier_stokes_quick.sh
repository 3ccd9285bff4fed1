# label: slow. The Navier-Stokes example's quick profile runs end to end
# and reports finite errors for the Gaussian and learned-score
# estimates. It takes about 10 minutes on an idle 2-core machine. The
# studies are kept in $KUBO_EXAMPLES_DIR (default: examples-slow in the
# working directory), so a rerun resumes where the last run stopped.
#
# Needs $KUBO (the program) and $KUBO_SOURCE_DIR (the checkout).
set -u

if [ -z "${KUBO:-}" ] || [ -z "${KUBO_SOURCE_DIR:-}" ]; then
  echo "test_examples_navier_stokes_quick: set KUBO and KUBO_SOURCE_DIR" >&2
  exit 2
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")
work=${KUBO_EXAMPLES_DIR:-$PWD/examples-slow}
mkdir -p "$work" && cd "$work" || exit 2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

out=$("$KUBO" "$KUBO_SOURCE_DIR/examples/navier_stokes.lua" 2>&1)
status=$?
printf '%s\n' "$out" | sed -n '/profile quick: errors/,/^$/p'
if [ "$status" -ne 0 ]; then
  echo "FAIL  navier_stokes exits with $status"
  printf '%s\n' "$out" | tail -20
  exit 1
fi
report=$(printf '%s\n' "$out" | sed -n 's/^responses: *//p' | tail -1)
cat > check_navier_stokes.lua <<'LUA'
-- Checks that the errors in the report file arg[1] are finite.
local kubo = require "kubo"
local file = arg[1]
local failed = 0
for _, name in ipairs{"gaussian", "score"} do
  local l2 = assert(kubo.h5.read(file, "/errors/" .. name .. "/l2"))
  for k = 1, 4 do
    local v = l2[k]
    local ok = v == v and v < math.huge and v >= 0
    print(string.format("%s %s R%d1 error %.3f is finite",
                        ok and "ok   " or "FAIL ", name, k, v))
    if not ok then failed = failed + 1 end
  end
end
os.exit(failed == 0 and 0 or 1)
LUA
"$KUBO" check_navier_stokes.lua "$report"
