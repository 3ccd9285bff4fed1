#!/usr/bin/env bash
# busted specs (tests/busted/*_spec.lua) run under the kubo program
# through busted's --lua option, and a failing spec makes busted fail.
#
# Needs $KUBO, $KUBO_SOURCE_DIR and busted (Debian package lua-busted,
# which scripts/setup installs).
set -u

if [ -z "${KUBO:-}" ] || [ -z "${KUBO_SOURCE_DIR:-}" ]; then
  echo "test_busted: set KUBO and KUBO_SOURCE_DIR" >&2
  exit 2
fi
if ! command -v busted >/dev/null; then
  echo "test_busted: busted not found; install the Debian package" \
       "lua-busted (scripts/setup does)" >&2
  exit 1
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# busted reads a .busted file from the current folder: use an empty one.
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

# busted runs the specs with `$KUBO <busted script> --ignore-lua ...`;
# it joins the arguments with spaces, so no path may contain one.
out=$(busted --lua="$KUBO" -o TAP "$KUBO_SOURCE_DIR/tests/busted" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
  ok "busted specs pass under kubo"
else
  fail "busted specs pass under kubo" "exit code $rc" "$out"
fi
if [[ "$out" == *"ok 4 "* && "$out" != *"not ok"* ]]; then
  ok "busted ran every spec"
else
  fail "busted ran every spec" "$out"
fi

cat > failing_spec.lua <<'EOF2'
local kubo = require "kubo"
describe("a failing spec", function()
  it("fails", function()
    assert.are.equal(3, kubo.zeros(2):numel())
  end)
end)
EOF2
out=$(busted --lua="$KUBO" -o TAP failing_spec.lua 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
  ok "failing spec fails busted"
else
  fail "failing spec fails busted" "exit code 0" "$out"
fi
if [[ "$out" == *"not ok 1 - a failing spec fails"* ]]; then
  ok "failing spec reported"
else
  fail "failing spec reported" "$out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
