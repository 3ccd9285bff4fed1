#!/usr/bin/env bash
# The kubo REPL in a terminal, driven through tmux (send-keys, then
# capture-pane polled until the expected text appears): the banner,
# auto-print, ';' muting, '=expr', a multi-line function, Tab completion,
# help, Ctrl-C stopping a running loop, a double Ctrl-C at an empty
# prompt, and history kept across two sessions.
#
# Needs $KUBO and tmux (Debian package tmux, which scripts/setup
# installs). Uses its own tmux server on a socket in a temporary folder,
# killed at the end.
set -u

if [ -z "${KUBO:-}" ]; then
  echo "test_repl: set KUBO to the kubo program" >&2
  exit 2
fi
if ! command -v tmux >/dev/null; then
  echo "test_repl: tmux not found (install the Debian package tmux)" >&2
  exit 1
fi
KUBO=$(cd "$(dirname "$KUBO")" && pwd)/$(basename "$KUBO")

tmp=$(mktemp -d)
socket="$tmp/tmux-socket"
cleanup() {
  tmux -S "$socket" kill-server 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# Seconds to wait for each expected text; the ASan build is slower.
timeout=${KUBO_REPL_TIMEOUT:-30}

passed=0
failed=0
session=""

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

tm() {
  tmux -S "$socket" "$@"
}

# The whole pane of the current session, scrollback included, with
# wrapped lines joined and trailing blanks removed.
pane() {
  tm capture-pane -p -J -S - -t "$session" | sed 's/[[:space:]]*$//'
}

# start_session NAME: starts kubo in a new tmux session. The shell
# around it prints kubo's exit code and stays, so the pane can be read
# after kubo ends.
start_session() {
  session=$1
  tm new-session -d -s "$session" -x 150 -y 50 \
    "env HOME='$tmp' INPUTRC=/dev/null KUBO_HISTORY='$tmp/history' \
     OMP_NUM_THREADS=2 ASAN_OPTIONS='${ASAN_OPTIONS:-}' '$KUBO'; \
     echo \"kubo exited with \$?\"; sleep 600"
}

# send TEXT: types TEXT literally (so that words such as "end" are not
# taken as key names) and presses Enter.
send() {
  local text=$1
  # tmux reads a final ';' as the end of its command: escape it.
  [[ "$text" == *";" ]] && text="${text%;}\\;"
  tm send-keys -t "$session" -l "$text"
  tm send-keys -t "$session" Enter
}

# wait_for MODE TEXT: waits until the pane has a line equal to TEXT
# (MODE line) or containing it (MODE part). Returns 1 on timeout.
wait_for() {
  local flag=-xF
  [ "$1" == part ] && flag=-F
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    if pane | grep -q $flag -- "$2"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# expect NAME MODE TEXT: a check that waits for TEXT (see wait_for).
expect() {
  if wait_for "$2" "$3"; then
    ok "$1"
  else
    fail "$1" "no line $( [ "$2" == line ] && echo equal to || echo with ) '$3' within ${timeout}s; the pane:" "$(pane | grep -v '^$' | tail -15)"
  fi
}

# The last non-empty line of the pane.
last_line() {
  pane | grep -v '^$' | tail -1
}

# wait_prompt: waits until the REPL shows an empty main prompt.
wait_prompt() {
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(last_line)" == ">" ] && return 0
    sleep 0.1
  done
  return 1
}

has_reshape=$("$KUBO" -e 'local kubo = require "kubo"
  io.write(getmetatable(kubo.zeros(1)).reshape and "yes" or "no")')
has_grid=$("$KUBO" -e 'io.write(require("kubo").grid and "yes" or "no")')

# --- first session ---------------------------------------------------------

start_session one
expect "banner" part "threads. help() lists the modules"
wait_prompt

send "1+41"
expect "auto-print" line "42"

send "99+1;"
send "'after' .. ' mute'"
expect "statement after muted one" line "after mute"
if pane | grep -qx "100"; then
  fail "trailing ; mutes" "the pane shows 100"
else
  ok "trailing ; mutes"
fi

send "=2^10"
expect "=expr prints" line "1024.0"

send "{1, 2, name = 'x'}"
expect "table summary" line '{1, 2, name = "x"}'

send "function sq(a)"
expect "continuation prompt" line ">>"
send "  return a * a"
send "end"
send "sq(12)"
expect "multi-line function" line "144"

send "t = kubo.zeros(2)"
wait_prompt
tm send-keys -t "$session" -l "t:tot"
tm send-keys -t "$session" Tab
expect "Tab completes tensor method" line "> t:totable("
send ")"
expect "completed call runs" line "{0.0, 0.0}"

send "g = setmetatable({}, {__index = {laplacian = function() return 'lap ok' end}})"
wait_prompt
tm send-keys -t "$session" -l "g:lap"
tm send-keys -t "$session" Tab
expect "Tab completes g:lap" line "> g:laplacian("
send ")"
expect "completed method runs" line "lap ok"

tm send-keys -t "$session" -l "kubo.zer"
tm send-keys -t "$session" Tab
expect "Tab completes kubo function" line "> kubo.zeros("
send "3)"
expect "tensor prints summary" part "kubo.Tensor (3) float64"

if [ "$has_reshape" == yes ]; then
  tm send-keys -t "$session" -l "t:resh"
  tm send-keys -t "$session" Tab
  expect "Tab completes x:resh" line "> t:reshape("
  send "2)"
  wait_prompt
fi

if [ "$has_grid" == yes ]; then
  send "gr = kubo.grid{n = {8, 8}}"
  wait_prompt
  tm send-keys -t "$session" -l "gr:inverse_l"
  tm send-keys -t "$session" Tab
  expect "Tab completes grid method" line "> gr:inverse_laplacian("
  tm send-keys -t "$session" C-u
  send "help(gr)"
  expect "help of a grid" part "kubo.Grid: "
fi

send "help(kubo.zeros)"
expect "help of a function" part "kubo.zeros(n1, n2, ..., [dtype])"
send "help(t)"
expect "help of an object" line "methods:"
send "?kubo.ones"
expect "?name is help" part "kubo.ones(n1, n2, ..., [dtype]) -> tensor of ones"

send "x_kept = 7"
send "print('loop' .. 'ing') while true do end"
expect "loop started" line "looping"
tm send-keys -t "$session" C-c
expect "Ctrl-C stops the loop" line "interrupted"
if wait_prompt; then
  ok "prompt after Ctrl-C"
else
  fail "prompt after Ctrl-C" "$(pane | tail -5)"
fi
send "x_kept * 111"
expect "objects intact after Ctrl-C" line "777"

tm send-keys -t "$session" -l "abc"
# Ctrl-C flushes the terminal's unread input, so wait until readline has
# taken "abc".
wait_for line "> abc"
tm send-keys -t "$session" C-c
wait_prompt
send "'typed ' .. 'line dropped'"
expect "Ctrl-C drops the typed line" line "typed line dropped"

tm send-keys -t "$session" C-c
expect "first Ctrl-C at empty prompt" line \
  "(press Ctrl-C again or Ctrl-D to exit)"
tm send-keys -t "$session" C-c
expect "second Ctrl-C exits" line "kubo exited with 0"

if grep -qx "x_kept = 7" "$tmp/history" &&
   grep -qx "function sq(a)" "$tmp/history"; then
  ok "history file written"
else
  fail "history file written" "$(cat "$tmp/history" 2>&1)"
fi
if grep -q "abc" "$tmp/history"; then
  fail "dropped line not in history" "$(cat "$tmp/history")"
else
  ok "dropped line not in history"
fi

# --- second session: history from the first ------------------------------

# Start the second session before ending the first: a tmux server with
# no sessions exits, and a new-session racing that exit fails.
start_session two
tm kill-session -t one
wait_prompt
tm send-keys -t "$session" Up
expect "history across sessions" line "> 'typed ' .. 'line dropped'"
tm send-keys -t "$session" Up
expect "older history entry" line "> x_kept * 111"
tm send-keys -t "$session" C-u
send "x_kept == nil"
expect "new session has fresh state" line "true"
tm send-keys -t "$session" C-d
expect "Ctrl-D exits" line "kubo exited with 0"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
