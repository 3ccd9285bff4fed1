#!/usr/bin/env bash
# Ctrl-C (SIGINT sent by this script) at odd moments of a kubo script:
# during an integration, a run recorded into HDF5, a stream of writer
# appends, repeated whole-file writes, checkpoint saves, a training loop
# and a Lua drift. Each run must stop with an "interrupted" error (never
# a crash or a hang), objects must still work when the error is caught,
# and files must stay complete and readable with no temporary file left.
#
# Needs $KUBO (the program).
set -u

if [ -z "${KUBO:-}" ]; then
  echo "test_robust_sigint: set KUBO to the kubo program" >&2
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

# interrupt CODE [DELAY]: runs kubo -e CODE in the background and sends
# SIGINT DELAY seconds (default 0.3) after CODE has created the file
# "started". Prints the exit code and everything the program wrote, and
# adds the output to all.out. A program still running 30 s after the
# signal is killed and reported as a hang.
interrupt() {
  rm -f started
  "$KUBO" -e "$1" > interrupt.out 2>&1 &
  local pid=$! waited=0
  while [ ! -e started ] && [ $waited -lt 600 ] && kill -0 "$pid" 2>/dev/null
  do
    sleep 0.1
    waited=$((waited + 1))
  done
  sleep "${2:-0.3}"
  kill -INT "$pid" 2>/dev/null
  waited=0
  while kill -0 "$pid" 2>/dev/null && [ $waited -lt 300 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    echo "HANG: still running 30 s after SIGINT"
  fi
  wait "$pid"
  echo "rc=$?"
  cat interrupt.out
  cat interrupt.out >> all.out
}

# Lists leftover temporary files of kubo's atomic writes in this folder.
leftovers() {
  ls -a | grep -E '\.(tmp|new|nn-save)-' || true
}

# --- integration -----------------------------------------------------------

out=$(interrupt 'local kubo = require "kubo"
  local sim = kubo.integrator{model = kubo.models.allen_cahn{}, members = 8}
  io.open("started", "w"):close()
  sim:advance(10^9)')
check_has "advance stops" "$out" "interrupted (integrator)"
check_has "uncaught stop exits with 1" "$out" "rc=1"
check_has "uncaught stop has a traceback" "$out" "in method 'advance'"

out=$(interrupt 'local kubo = require "kubo"
  local sim = kubo.integrator{model = kubo.models.navier_stokes{},
                              members = 4}
  io.open("started", "w"):close()
  local ok, err = pcall(sim.advance, sim, 10^9)
  print("caught", err)
  local steps = sim:step_count()
  print("finite", sim:max_abs() < math.huge, steps > 0)
  sim:advance(1)
  print("continues", sim:step_count() == steps + 1)')
check_has "caught advance stop" "$out" "caught	interrupted (integrator)"
check_has "state stays finite" "$out" "finite	true	true"
check_has "integrator continues" "$out" "continues	true"
check_has "caught stop exits with 0" "$out" "rc=0"

# --- recording into HDF5 -------------------------------------------------

out=$(interrupt 'local kubo = require "kubo"
  local sim = kubo.integrator{model = kubo.models.allen_cahn{}, members = 8}
  io.open("started", "w"):close()
  local ok, err = pcall(sim.run, sim, {steps = 10^9, every = 5,
                                       file = "run.h5"})
  print("caught", err)
  local traj = kubo.h5.read("run.h5", "/timeseries")
  print("frames", traj:size(1) >= 1,
        traj:size(1) == sim:step_count() // 5)')
check_has "run stops" "$out" "caught	interrupted (integrator)"
check_has "run keeps its frames" "$out" "frames	true	true"
left=$(leftovers)
if [ -z "$left" ]; then
  ok "run leaves no temporary file"
else
  fail "run leaves no temporary file" "$left"
fi

out=$(interrupt 'local kubo = require "kubo"
  local w <close> = kubo.h5.writer{file = "stream.h5", name = "/x",
                                   frame_shape = {1000}}
  local frame = kubo.ones(1000)
  io.open("started", "w"):close()
  while true do w:append(frame) end')
check_has "writer loop stops" "$out" "interrupted"
out=$("$KUBO" -e 'local kubo = require "kubo"
  local x = kubo.h5.read("stream.h5", "/x")
  print("stream", x:size(1) >= 1, x:sum() == x:numel())' 2>&1)
check_has "closed writer keeps whole frames" "$out" "stream	true	true"

"$KUBO" -e 'local kubo = require "kubo"
  kubo.h5.write("whole.h5", "/x", kubo.ones(10))'
out=$(interrupt 'local kubo = require "kubo"
  local t = kubo.ones(2^22)
  io.open("started", "w"):close()
  while true do kubo.h5.write("whole.h5", "/x", t, nil, {compress = 6}) end' \
  0.5)
check_has "repeated writes stop" "$out" "interrupted"
out=$("$KUBO" -e 'local kubo = require "kubo"
  local x = kubo.h5.read("whole.h5", "/x")
  print("whole", x:numel() == 10 or x:numel() == 2^22, x:sum() == x:numel())
  ' 2>&1)
check_has "interrupted write keeps a whole file" "$out" "whole	true	true"

out=$(interrupt 'local kubo = require "kubo"
  local sim = kubo.integrator{model = kubo.models.allen_cahn{}, members = 64}
  sim:save("chk.h5")
  io.open("started", "w"):close()
  while true do sim:advance(1) sim:save("chk.h5") end')
check_has "checkpoint loop stops" "$out" "interrupted"
out=$("$KUBO" -e 'local kubo = require "kubo"
  local sim = kubo.integrator.load("chk.h5")
  print("loaded", sim:members(), sim:max_abs() < math.huge)' 2>&1)
check_has "interrupted save keeps a loadable checkpoint" "$out" \
  "loaded	64	true"
left=$(leftovers)
if [ -z "$left" ]; then
  ok "writes leave no temporary file"
else
  fail "writes leave no temporary file" "$left"
fi

# --- Lua code and Lua callbacks -------------------------------------------

out=$(interrupt 'local kubo = require "kubo"
  local sim = kubo.integrator{model = kubo.models.double_well{}}
  io.open("started", "w"):close()
  local ok, err = pcall(function() while true do end end)
  print("caught", err)
  sim:advance(1)
  print("engine runs", sim:step_count())')
check_has "Lua loop stops" "$out" "caught	interrupted"
check_has "engine runs after a caught Lua stop" "$out" "engine runs	1"

out=$(interrupt 'local kubo = require "kubo"
  local nn = kubo.nn
  local net = nn.mlp{sizes = {1, 64, 64, 1}}
  local opt = kubo.optim.adam{net = net, lr = 1e-3}
  local x = kubo.rng(1):normal(256, 1)
  io.open("started", "w"):close()
  local ok, err = pcall(function()
    while true do
      net:zero_grad()
      local loss, dy = nn.mse(net:forward(x), x)
      net:backward(dy)
      opt:step()
    end
  end)
  print("caught", err)
  net:save("net.h5", {optimizer = opt})
  print("saved", nn.load("net.h5"):num_parameters() == net:num_parameters())')
check_has "training loop stops" "$out" "interrupted"
check_has "network saves after the stop" "$out" "saved	true"

out=$(interrupt 'local kubo = require "kubo"
  local m = kubo.models.sde{dim = 1, noise = 1,
                            drift = function(x, d) d[1] = -x[1] end}
  local sim = kubo.integrator{model = m, dt = 0.01, members = 4}
  io.open("started", "w"):close()
  local ok, err = pcall(sim.advance, sim, 10^9)
  print("caught", err)
  sim:advance(1)
  print("continues")')
check_has "Lua drift stops" "$out" "interrupted"
check_has "sde integrator continues" "$out" "continues"

# --- every run ------------------------------------------------------------

all=$(cat all.out)
check_lacks "no run hangs" "$all" "HANG"
check_lacks "no sanitizer report" "$all" "Sanitizer"
check_lacks "no crash" "$all" "Segmentation"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
