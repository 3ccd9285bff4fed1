#!/usr/bin/env bash
# The kubo program in script mode: options, the arg table and exit codes
# compared with lua5.4, require "kubo" from the build and an installed
# tree, modules next to the script, LUA_PATH and LUA_INIT, --set,
# error reports and Ctrl-C.
#
# Needs $KUBO (the program) and lua5.4 on PATH (Debian package lua5.4).
set -u

if [ -z "${KUBO:-}" ]; then
  echo "test_program: set KUBO to the kubo program" >&2
  exit 2
fi
LUA=${LUA:-lua5.4}
if ! command -v "$LUA" >/dev/null; then
  echo "test_program: $LUA not found (install the Debian package lua5.4)" >&2
  exit 2
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")

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

# check_eq NAME GOT WANT
check_eq() {
  if [ "$2" == "$3" ]; then ok "$1"; else fail "$1" "got:  $2" "want: $3"; fi
}

# check_has NAME TEXT PART: TEXT contains PART.
check_has() {
  if [[ "$2" == *"$3"* ]]; then
    ok "$1"
  else
    fail "$1" "expected to find: $3" "in: $2"
  fi
}

# The arg table and the script's varargs, with the program name (the
# lowest index) shown as PROG so that kubo and lua5.4 compare equal.
cat > args.lua <<'EOF'
local lowest = 0
for k in pairs(arg) do lowest = math.min(lowest, k) end
local parts = {}
for i = lowest, #arg do
  parts[#parts + 1] = i .. "=" .. (i == lowest and "PROG" or tostring(arg[i]))
end
print(table.concat(parts, " "))
print("varargs", select("#", ...), ...)
EOF

# compare_with_lua NAME ARGS...: stdout, stderr and exit code of kubo
# and lua5.4 on the same command line must match, up to the program
# name in messages.
compare_with_lua() {
  local name=$1
  shift
  local lua_out lua_rc kubo_out kubo_rc
  lua_out=$("$LUA" "$@" 2>&1 < /dev/null)
  lua_rc=$?
  kubo_out=$("$KUBO" "$@" 2>&1 < /dev/null)
  kubo_rc=$?
  lua_out=${lua_out//"$LUA:"/PROG:}
  kubo_out=${kubo_out//kubo:/PROG:}
  check_eq "$name exit code" "$kubo_rc" "$lua_rc"
  check_eq "$name output" "$kubo_out" "$lua_out"
}

# compare_first_line NAME ARGS...: the exit code and the first output
# line must match lua5.4's (for usage errors, after which kubo's usage
# text lists more options, and errors that list kubo's search path).
compare_first_line() {
  local name=$1
  shift
  local lua_out lua_rc kubo_out kubo_rc
  lua_out=$("$LUA" "$@" 2>&1 < /dev/null)
  lua_rc=$?
  kubo_out=$("$KUBO" "$@" 2>&1 < /dev/null)
  kubo_rc=$?
  lua_out=${lua_out//"$LUA:"/PROG:}
  kubo_out=${kubo_out//kubo:/PROG:}
  check_eq "$name exit code" "$kubo_rc" "$lua_rc"
  check_eq "$name first line" "${kubo_out%%$'\n'*}" "${lua_out%%$'\n'*}"
}

# --- the arg table -----------------------------------------------------

compare_with_lua "arg script" args.lua a b
compare_with_lua "arg script alone" args.lua
compare_with_lua "arg after -e" -e "x = 1" args.lua a
compare_with_lua "arg after --" -- args.lua -x
compare_with_lua "arg keeps later options" args.lua -e x -- y
compare_with_lua "arg after -E" -E args.lua a
compare_with_lua "arg after -W" -W args.lua a
compare_with_lua "arg after -l" -l str=string args.lua a
compare_with_lua "arg attached -e" "-ex = 1" args.lua a
compare_with_lua "arg without script" -e "dofile('args.lua')" x
compare_with_lua "arg -e then --" -e "dofile('args.lua')" --

got=$("$KUBO" - a b < args.lua 2>&1)
want=$("$LUA" - a b < args.lua 2>&1)
check_eq "arg stdin script" "$got" "$want"

# --- exit codes and messages -------------------------------------------

printf 'local x = 1\nlocal y = = 2\n' > syntax.lua
cat > err.lua <<'EOF'
local function inner()
  local t = nil
  return t.field
end
inner()
EOF

compare_with_lua "error exits 1" -e "error('boom')"
compare_with_lua "error object" -e "error({})"
compare_with_lua "error with __tostring" \
  -e "error(setmetatable({}, {__tostring = function() return 'E' end}))"
compare_with_lua "os.exit code" -e "os.exit(3)"
compare_with_lua "os.exit true" -e "os.exit(true)"
compare_with_lua "os.exit false" -e "os.exit(false)"
compare_with_lua "missing script" no_such_file.lua
compare_with_lua "syntax error" syntax.lua
compare_with_lua "runtime error" err.lua
compare_first_line "-e needs argument" -e
compare_first_line "-l needs argument" -l
compare_first_line "-e before option" -e -i
compare_first_line "-l missing module" -l no_such_module_xyz
compare_first_line "bad option" -x
compare_with_lua "-l global name" -l s=string -e "print(s.rep('a', 3))"
echo 'return "v2"' > suffixmod-v2.lua
compare_with_lua "-l dashed name" -l suffixmod-v2 \
  -e "print(suffixmod, _G['suffixmod-v2'])"
compare_with_lua "-W warnings" -W -e "warn('hello')"
compare_with_lua "no -W no warnings" -e "warn('hello')"

# Usage errors print the usage text; only its first lines are the same
# as lua's, since kubo lists its own options too.
for opt in -x --foo -ix -E2; do
  got=$("$KUBO" "$opt" 2>&1 < /dev/null)
  rc=$?
  check_eq "bad option $opt exit code" "$rc" 1
  check_has "bad option $opt message" "$got" "kubo: unrecognized option '$opt'"
  check_has "bad option $opt usage" "$got" "usage: kubo [options]"
done

out=$(printf 'error("from stdin")\n' | "$KUBO" 2>&1)
check_eq "stdin program exit code as lua" "$?" \
  "$(printf 'error("x")\n' | "$LUA" >/dev/null 2>&1; echo $?)"
check_has "stdin program error" "$out" "stdin:1: from stdin"
out=$(printf 'error("from stdin")\n' | "$KUBO" - 2>&1)
check_eq "stdin - exit code" "$?" 1

out=$("$KUBO" err.lua 2>&1)
check_has "error names file and line" "$out" "kubo: err.lua:3: attempt to index"
check_has "error has traceback" "$out" "stack traceback:"
check_has "traceback names function" "$out" "err.lua:3: in "
check_has "traceback names caller" "$out" "err.lua:5: in main chunk"

# --- version and help ----------------------------------------------------

version=$("$KUBO" -e 'io.write(require("kubo").version)')
out=$("$KUBO" --version)
check_eq "--version exit code" "$?" 0
check_has "--version text" "$out" "kubo $version (Lua 5.4"
out=$("$KUBO" -v -e 'print("after")')
check_has "-v prints version" "$out" "kubo $version (Lua 5.4"
check_has "-v runs -e" "$out" "after"
out=$("$KUBO" -v < /dev/null)
check_eq "-v alone exit code" "$?" 0
out=$("$KUBO" --help)
check_eq "--help exit code" "$?" 0
check_has "--help lists --set" "$out" "--set name=value"
check_has "--help lists -l" "$out" "-l mod"
check_has "--help names KUBO_HISTORY" "$out" "KUBO_HISTORY"
check_eq "-h is --help" "$("$KUBO" -h)" "$out"

# --- finding modules -----------------------------------------------------

out=$(env -i "$KUBO" -e 'local k = require "kubo"; io.write(k.version)')
check_eq "require kubo with empty env" "$out" "$version"

mkdir -p project/lib other
cat > project/helper.lua <<'EOF'
return {answer = 42}
EOF
cat > project/main.lua <<'EOF'
local helper = require "helper"
local kubo = require "kubo"
print(helper.answer, type(kubo.zeros))
EOF
out=$(cd other && "$KUBO" ../project/main.lua 2>&1)
check_eq "module next to script" "$out" "42	function"
out=$(cd other && env -i "$KUBO" "$tmp/project/main.lua" 2>&1)
check_eq "module next to absolute script" "$out" "42	function"
cat > project/chdir.lua <<'EOF'
-- the script's folder stays on the path as an absolute folder
package.loaded.helper = nil
print(require("helper").answer)
EOF
out=$(cd project && "$KUBO" chdir.lua 2>&1)
check_eq "module next to script in cwd" "$out" "42"

cat > project/lib/pathmod.lua <<'EOF'
return "from LUA_PATH"
EOF
for var in LUA_PATH LUA_PATH_5_4; do
  got=$(env "$var=$tmp/project/lib/?.lua" "$KUBO" -e 'print(require "pathmod")' 2>&1)
  want=$(env "$var=$tmp/project/lib/?.lua" "$LUA" -e 'print(require "pathmod")' 2>&1)
  check_eq "$var as lua" "$got" "$want"
done
out=$(env LUA_PATH="$tmp/project/lib/?.lua" "$KUBO" \
  -e 'print(require("kubo").version)' 2>&1)
check_eq "LUA_PATH keeps kubo" "$out" "$version"
out=$(env LUA_PATH="$tmp/project/lib/?.lua" "$KUBO" -E \
  -e 'print(pcall(require, "pathmod"))' 2>&1)
check_has "-E ignores LUA_PATH" "$out" "false"

# --- LUA_INIT --------------------------------------------------------------

echo 'init_value = "from file"' > init.lua
compare_with_lua "LUA_INIT code" -e 'print(init_value)'
export LUA_INIT='init_value = "from code"'
compare_with_lua "LUA_INIT code set" -e 'print(init_value)'
compare_with_lua "-E ignores LUA_INIT" -E -e 'print(init_value)'
export LUA_INIT=@init.lua
compare_with_lua "LUA_INIT file" -e 'print(init_value)'
export LUA_INIT_5_4='init_value = "from 5_4"'
compare_with_lua "LUA_INIT_5_4 first" -e 'print(init_value)'
export LUA_INIT_5_4='error("init failed")'
compare_with_lua "LUA_INIT error" -e 'print("not reached")'
unset LUA_INIT LUA_INIT_5_4

# --- --set -------------------------------------------------------------------

cat > params.lua <<'EOF'
local kubo = require "kubo"
local p = kubo.params
local function show(v) return type(v) .. ":" .. tostring(v) end
print(show(p.n), math.type(p.n), show(p.model and p.model.alpha),
      show(p.flag),
      show(p.off), show(p.name), show(p.r), show(p.quoted), show(p.empty),
      show(p.points and p.points[1]), #arg, arg[1], arg[2])
EOF
out=$("$KUBO" --set n=64 params.lua --set model.alpha=8 --set flag=true \
  --set off=false --set name=abc --set=r=0.5 --set 'quoted="12"' \
  --set empty= --set points.1=3 extra last 2>&1)
check_eq "--set values" "$out" "number:64	integer	number:8	boolean:true	boolean:false	string:abc	number:0.5	string:12	string:	number:3	2	extra	last"
out=$("$KUBO" --set n=1 --set n=2 -e 'print(require("kubo").params.n)')
check_eq "--set last wins" "$out" "2"
out=$("$KUBO" params.lua -- --set n=1 2>&1)
check_has "--set after -- is the script's" "$out" "nil:nil	3	--	--set"
out=$("$KUBO" -e 'print(next(require("kubo").params))')
check_eq "no --set gives empty params" "$out" "nil"

out=$("$KUBO" --set foo -e 'print(1)' 2>&1)
check_eq "--set without = exit code" "$?" 1
check_has "--set without = message" "$out" \
  "kubo: invalid --set 'foo': expected name=value (for example --set n=64)"
out=$("$KUBO" params.lua --set 2>&1)
check_eq "--set without value exit code" "$?" 1
check_has "--set without value message" "$out" "'--set' needs an argument"
out=$("$KUBO" --set a..b=1 -e 'print(1)' 2>&1)
check_eq "--set empty part exit code" "$?" 1
check_has "--set empty part message" "$out" "the name has an empty part"
out=$("$KUBO" --set =1 -e 'print(1)' 2>&1)
check_has "--set empty name message" "$out" "expected name=value"
out=$("$KUBO" --set a=1 --set a.b=2 -e 'print(1)' 2>&1)
check_eq "--set through a value exit code" "$?" 1
check_has "--set through a value message" "$out" \
  "invalid --set 'a.b=2': 'a' is already set to 1, which is not a table"

# --- engine log ------------------------------------------------------------

out=$("$KUBO" -e 'local k = require "kubo"; k.log("warn", "low disk")' \
  2>&1 >/dev/null)
check_eq "log line on stderr" "$out" "kubo: warning: low disk"
out=$("$KUBO" -e 'local k = require "kubo"; k.log_level("error")
  k.log("warn", "low disk")' 2>&1)
check_eq "log_level silences" "$out" ""

# --- Ctrl-C ------------------------------------------------------------------

# run_and_interrupt CODE [DELAY]: runs kubo -e CODE in the background,
# sends SIGINT DELAY seconds (default 0) after CODE has created the file
# "started", and prints the exit code and the error output.
run_and_interrupt() {
  rm -f started
  "$KUBO" -e "$1" 2> interrupt.err &
  local pid=$! waited=0
  while [ ! -e started ] && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  sleep "${2:-0}"
  kill -INT "$pid"
  wait "$pid"
  echo "rc=$?"
  cat interrupt.err
}

out=$(run_and_interrupt 'io.open("started", "w"):close() while true do end')
check_has "Ctrl-C stops a Lua loop" "$out" "rc=1"
check_has "Ctrl-C message" "$out" "kubo: interrupted"
check_has "Ctrl-C traceback" "$out" "(command line):1: in main chunk"
out=$(run_and_interrupt 'local kubo = require "kubo"
  io.open("started", "w"):close()
  local ok, err = pcall(function() while true do end end)
  print("caught", err)
  local x = kubo.zeros(3)
  print("objects intact", x:numel())')
check_has "Ctrl-C error is catchable" "$out" "rc=0"
check_has "Ctrl-C caught message" "$out" "caught	interrupted"
check_has "objects intact after Ctrl-C" "$out" "objects intact	3"

# An engine loop (a dense Gaussian response estimate over 1000 members
# of 16000 frames, many seconds of work) stops at a safe point with its
# own error, which a pcall can handle without a second "interrupted"
# from the Lua hook.
has_response=$("$KUBO" -e 'local kubo = require "kubo"
  io.write(kubo.response and kubo.response.gaussian and "yes" or "no")')
if [ "$has_response" == yes ]; then
  out=$(run_and_interrupt 'local kubo = require "kubo"
    local x = kubo.rng(1):normal(16000, 1000, 1)
    io.open("started", "w"):close()
    local ok, err = pcall(kubo.response.gaussian, {data = x, lags = 3999})
    print("engine stopped", ok, err)
    local small = kubo.response.gaussian{data = x:slice(2, 1, 2), lags = 2}
    print("engine runs again", small.values:dim())' 0.5)
  check_has "Ctrl-C stops an engine loop" "$out" \
    "engine stopped	false	interrupted (response)"
  check_has "engine runs after Ctrl-C" "$out" "engine runs again	3"
  check_has "handled engine Ctrl-C exit code" "$out" "rc=0"
fi

# --- the REPL without a terminal (-i with stdin from a pipe) -------------

echo 'from_script = "set by the script"' > setup.lua
out=$(printf '%s\n' 'from_script' '1 + 1' '2 + 2;' '=3 * 3' \
  'function f(a)' '  return a + 100' 'end' 'f(1)' 'kubo.zeros(2)' \
  'error("oops")' 'local t = {' | "$KUBO" -i setup.lua 2>&1)
rc=$?
check_eq "piped REPL exit code" "$rc" 0
check_has "piped REPL banner" "$out" "threads. help() lists the modules"
check_has "REPL after script" "$out" "> set by the script"
check_has "piped REPL auto-print" "$out" "> 2"
if [[ "$out" == *"> 4"* ]]; then
  fail "piped REPL ; mutes" "$out"
else
  ok "piped REPL ; mutes"
fi
check_has "piped REPL =expr" "$out" "> 9"
check_has "piped REPL multi-line" "$out" ">> >> > 101"
check_has "piped REPL kubo global" "$out" "kubo.Tensor (2) float64"
check_has "piped REPL error" "$out" "stdin:1: oops"
check_has "piped REPL unfinished input at end" "$out" \
  "stdin:1: unexpected symbol near <eof>"
out=$(printf 'print("not reached")\n' | "$KUBO" -i err.lua 2>&1)
check_eq "-i with failing script exit code" "$?" 1
if [[ "$out" == *"not reached"* ]]; then
  fail "-i with failing script skips REPL" "$out"
else
  ok "-i with failing script skips REPL"
fi

# --- installed tree ------------------------------------------------------

build=$(dirname "$KUBO")
if cmake --install "$build" --prefix "$tmp/prefix" > install.log 2>&1; then
  ok "install into a prefix"
  out=$(cd / && env -i "$tmp/prefix/bin/kubo" -e '
    local kubo = require "kubo"
    print(package.searchpath("kubo", package.path), kubo.zeros(2):numel())')
  check_eq "require kubo when installed" "$out" \
    "$tmp/prefix/bin/../share/kubo/lua/kubo/init.lua	2"
  out=$(cd other && env -i "$tmp/prefix/bin/kubo" ../project/main.lua 2>&1)
  check_eq "installed module next to script" "$out" "42	function"
else
  fail "install into a prefix" "$(cat install.log)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
