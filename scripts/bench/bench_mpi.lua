-- Ensemble member-steps per second on the ranks of an MPI job: an
-- Allen-Cahn ensemble on a 32x32 grid advanced with RK4, its members
-- split across the ranks, and a perturbation response of it. Rank 0
-- prints one line per measurement: name, ranks, threads per rank,
-- member-steps per second (the best of three runs). Run it with
-- scripts/bench/bench_mpi.sh, or:
--
--   mpirun -np P build-mpi/kubo scripts/bench/bench_mpi.lua [members]
--       [steps]      (defaults 128 members, 200 steps)

local kubo = require "kubo"

local members = tonumber(arg[1]) or 128
local steps = tonumber(arg[2]) or 200
local mpi = kubo.mpi
local m = kubo.models.allen_cahn{grid = kubo.grid{n = {32, 32}}}
local sim = kubo.integrator{model = m, members = members, seed = 1}
sim:advance(10)

-- Returns the best wall time of three calls of f, measured between
-- barriers, so that it is the time of the slowest rank.
local function best_of_three(f)
  local best = math.huge
  for _ = 1, 3 do
    mpi.barrier()
    local t0 = kubo.clock()
    f()
    mpi.barrier()
    best = math.min(best, kubo.clock() - t0)
  end
  return best
end

local function report(name, member_steps, seconds)
  if mpi.rank() == 0 then
    print(string.format("%-14s ranks %d  threads %d  %12.0f member-steps/s",
                        name, mpi.size(), kubo.threads(),
                        member_steps / seconds))
  end
end

report("advance", members * steps,
       best_of_three(function() sim:advance(steps) end))

-- Control and perturbed ensembles advance together: 2 member-steps per
-- member and step.
local lags, every = 10, steps // 10
report("perturbation", 2 * members * lags * every, best_of_three(function()
  kubo.response.perturbation{integrator = sim, site = {1, 1},
                             delta = 0.01, lags = lags, every = every}
end))
