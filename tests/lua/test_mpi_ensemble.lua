-- Ensembles and perturbation responses at any rank count. CTest runs this
-- file on one rank. tests/sh/test_mpi.sh runs it under mpirun -np 1, 2
-- and 3 with KUBO_MPI_OUT set to a folder, where rank 0 saves the
-- results, and checks that every rank count gives the same bits. The
-- checks here hold at every rank count. Collective calls come before
-- the checks of each case, so that a failed check on one rank cannot
-- leave the others waiting.

local kubo = require "kubo"
local T = require "kubo.test"

local rank, size = kubo.mpi.rank(), kubo.mpi.size()
local out = os.getenv("KUBO_MPI_OUT")

-- Rank 0 picks a fresh folder for the files every rank writes.
local tmp = kubo.mpi.bcast(rank == 0 and os.tmpname() or nil)
if rank == 0 then os.remove(tmp) end
local function path(name) return tmp .. "-" .. name .. ".h5" end

-- Results that the shell test compares across rank counts.
local results = {}
local function keep(name, x) results[name] = x end

local function maxdiff(a, b) return (a - b):abs():max() end

local grid = kubo.grid{n = {16, 16}}
local MEMBERS = 5   -- shares of 3 and 2 on two ranks, 2, 2, 1 on three


T.case("mpi ensemble whole-ensemble view", function()
  local sim = kubo.integrator{model = kubo.models.allen_cahn{grid = grid},
                              members = MEMBERS, seed = 11}
  local u = sim:state()
  local top = sim:max_abs()
  keep("allen_cahn_initial", u)
  T.eq(sim:members(), MEMBERS)
  T.eq(sim:first_member(), 1)
  T.eq(u:size(1), MEMBERS)
  -- the default state is divided by the maximum over every member
  T.near(u:max(), 1, 1e-15)
  T.eq(top, u:abs():max())
end)


T.case("mpi ensemble trajectories", function()
  local m = kubo.models.allen_cahn{grid = grid}
  local sim = kubo.integrator{model = m, members = MEMBERS, seed = 11}
  local twin = sim:clone()
  local traj = sim:run{steps = 12, every = 4}
  local filed, snaps = twin:run{steps = 12, every = 4, file = path("run"),
                                snapshots = {every = 6, dtype = "float32"}}
  local from_file = kubo.h5.read(path("run"), "timeseries")
  local snap_file, attrs = kubo.h5.read(path("run"), "snapshots")
  local final = sim:state()
  keep("allen_cahn_trajectory", traj)
  keep("allen_cahn_final", final)
  T.eq(traj:size(1), 3)
  T.eq(traj:size(2), MEMBERS)
  T.eq(filed.file, path("run"))
  T.eq(filed.frames, 3)
  T.eq(snaps.frames, 2)
  -- one dataset of every member, the same bits as in memory
  T.eq(from_file:size(2), MEMBERS)
  T.eq(maxdiff(from_file, traj), 0)
  T.eq(snap_file:dtype(), "float32")
  T.eq(maxdiff(snap_file[2]:to("float64"),
               traj[3]:to("float32"):to("float64")), 0)
  T.eq(attrs.members, MEMBERS)
  T.eq(attrs.first_member, 1)
  T.eq(maxdiff(traj[3], final), 0)
end)


T.case("mpi ensemble append to joined file", function()
  local m = kubo.models.allen_cahn{grid = grid}
  local sim = kubo.integrator{model = m, members = MEMBERS, seed = 13}
  local whole = sim:clone()
  sim:run{steps = 4, every = 2, file = path("append")}
  local again = sim:run{steps = 4, every = 2, file = path("append"),
                        append = true}
  local ok, err = pcall(sim.run, sim, {steps = 2, file = path("append")})
  local both = kubo.h5.read(path("append"), "timeseries")
  local ref = whole:run{steps = 8, every = 2}
  T.eq(again.frames, 2)
  T.eq(maxdiff(both, ref), 0)
  T.ok(not ok, "a second run without append is an error")
  T.ok(tostring(err):find("already exists", 1, true), tostring(err))
end)


T.case("mpi ensemble hidden state", function()
  local m = kubo.models.navier_stokes{grid = kubo.grid{
    n = {16, 16}, nyquist = "zero_k"}}
  local sim = kubo.integrator{model = m, members = MEMBERS, seed = 5}
  sim:advance(6)
  local u, h = sim:state(), sim:hidden_state()
  keep("navier_stokes_state", u)
  keep("navier_stokes_hidden", h)
  -- setting the whole ensemble's state and phases back is exact
  local copy = sim:clone()
  copy:set_hidden_state(h)
  copy:set_state(u)
  local u2, h2 = copy:state(), copy:hidden_state()
  T.eq(h:size(1), MEMBERS)
  T.eq(maxdiff(h2, h), 0)
  T.ok(maxdiff(u2, u) < 1e-12, "the state survives the round trip")
end)


T.case("mpi ensemble initialize", function()
  local m = kubo.models.ou{grid = grid}
  local sim = kubo.integrator{model = m, members = MEMBERS, seed = 3}
  sim:initialize(function(rng, member)
    return rng:normal(16, 16) * member
  end)
  local u = sim:state()
  local states = kubo.zeros(MEMBERS, 16, 16)
  for j = 1, MEMBERS do states[j]:fill_(j) end
  sim:initialize(states)
  local v = sim:state()
  sim:initialize()
  local w = sim:state()
  keep("ou_function_initial", u)
  keep("ou_default_initial", w)
  -- member j's function call got the global member number j
  T.ok(math.abs(u[MEMBERS]:std() / u[1]:std() - MEMBERS) < 0.5 * MEMBERS,
       "member scale")
  T.ok(maxdiff(v[MEMBERS], kubo.full({16, 16}, MEMBERS)) < 1e-12)
  T.near(w:max(), 1, 1e-15)
end)


T.case("mpi ensemble checkpoint", function()
  local m = kubo.models.allen_cahn{grid = grid}
  local sim = kubo.integrator{model = m, members = MEMBERS, seed = 9}
  sim:advance(3)
  sim:save(path("checkpoint"))
  local back = kubo.integrator.load(path("checkpoint"), {model = m})
  sim:advance(4)
  back:advance(4)
  local a, b = sim:state(), back:state()
  T.eq(back:members(), MEMBERS)
  T.eq(back:step_count(), 7)
  T.eq(maxdiff(a, b), 0)
end)


T.case("mpi ensemble perturbation response", function()
  local m = kubo.models.allen_cahn{grid = grid}
  local sim = kubo.integrator{model = m, members = MEMBERS, seed = 21}
  sim:advance(8)
  local R = kubo.response.perturbation{integrator = sim, site = {3, 5},
                                       delta = 0.01, lags = 4, every = 2,
                                       resets = 3}
  local after = sim:state()
  keep("perturbation_values", R.values)
  keep("perturbation_stderr", R.stderr)
  T.eq(R.kind, "perturbation")
  T.eq(R.members, MEMBERS * 3)
  T.eq(R.site[1], 3)
  T.eq(R.site[2], 5)
  T.near(R.dt, 2 * sim:dt(), 1e-15)
  T.eq(R.values:size(1), 4)
  -- lag 0 is the impulse itself, without its 31 Nyquist modes (the
  -- grid drops them): 1 - 31/256 at the site, and a sum of 1 (the mean
  -- mode is kept)
  T.near(R.values[{1, 3, 5}], 225 / 256, 1e-12)
  T.near(R.values[1]:sum(), 1, 1e-12)
  T.eq(sim:step_count(), 8, "the caller's integrator is not advanced")
  T.eq(after:size(1), MEMBERS)
  T.near(R:at{3, 5}[1], 225 / 256, 1e-12)
end)


T.case("mpi ensemble bad input", function()
  local m = kubo.models.allen_cahn{grid = grid}
  local sim = kubo.integrator{model = m, members = MEMBERS}
  T.raises(function() sim:set_state(kubo.zeros(MEMBERS + 1, 16, 16)) end,
           "sim:set_state: expected one state of 256 values or one per "
           .. "member (5 x 256), got shape (6, 16, 16)")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, delta = 0.1}
  end, "option 'lags' is missing")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, delta = 0, lags = 2}
  end, "delta must be finite and non-zero")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, delta = 1, lags = 2,
                               site = {17, 1}}
  end, "site index 1 must be a whole number from 1 to 16")
end)


if out ~= nil and rank == 0 then
  for name, x in pairs(results) do
    kubo.h5.write(out .. "/results.h5", name, x)
  end
end
for _, name in ipairs{"run", "append", "checkpoint"} do
  kubo.mpi.barrier()
  if rank == 0 then os.remove(path(name)) end
  for r = 0, size - 1 do os.remove(tmp .. "-" .. name .. ".rank" .. r ..
                                    ".h5") end
end

T.finish()
