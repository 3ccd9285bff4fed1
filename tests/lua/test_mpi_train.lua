-- Data-parallel score training at any rank count. CTest runs this file
-- on one rank. tests/sh/test_mpi.sh runs it under mpirun -np 1 and 2
-- with KUBO_MPI_OUT set to a folder, where rank 0 saves the trained
-- parameters, and compares the two runs. The checks here hold at every
-- rank count: every rank ends with the same parameters and losses.

local kubo = require "kubo"
local T = require "kubo.test"

local rank, size = kubo.mpi.rank(), kubo.mpi.size()
local out = os.getenv("KUBO_MPI_OUT")
local tmp = kubo.mpi.bcast(rank == 0 and os.tmpname() or nil)
if rank == 0 then os.remove(tmp) end

-- Trains a small network on the same data on every rank. The batch of
-- 64 rows splits into 32 + 32 rows on two ranks, 22 + 21 + 21 on three.
local function train()
  local data = kubo.rng(5):normal(600, 2) * 0.7
  local net = kubo.nn.mlp{sizes = {2, 32, 32, 2}, activation = "swish",
                          embed = 8, seed = 17}
  return kubo.score.train{net = net, data = data, steps = 30, batch = 64,
                          seed = 3, optimizer = {lr = 1e-3}, ema = 0.9}
end


-- Returns the network parameters saved in a score file as one float64
-- vector, in the order of their names.
local function parameters(file)
  local names = kubo.h5.list(file)
  local values = {}
  table.sort(names)
  for _, name in ipairs(names) do
    if name:find("^/network/parameters/") then
      local p = kubo.h5.read(file, name):to("float64")
      for _, v in ipairs(p:reshape(p:numel()):totable()) do
        values[#values + 1] = v
      end
    end
  end
  return kubo.tensor(values)
end


local s = train()
local mine = tmp .. "-score.rank" .. rank .. ".h5"
s:save(mine)
local params = parameters(mine)
os.remove(mine)


T.case("mpi train same parameters on every rank", function()
  local hi = kubo.mpi.allreduce(params, "max")
  local lo = kubo.mpi.allreduce(params, "min")
  T.ok(params:numel() > 1000, "the network has its parameters")
  T.eq((hi - lo):abs():max(), 0)
end)


T.case("mpi train same losses on every rank", function()
  local train_loss = s.loss_history.train
  local hi = kubo.mpi.allreduce(train_loss, "max")
  local lo = kubo.mpi.allreduce(train_loss, "min")
  T.eq(train_loss:numel(), 4, "30 steps of 8 per epoch")
  T.eq((hi - lo):abs():max(), 0)
end)


T.case("mpi train repeats to the bit", function()
  local again = train()
  local file = tmp .. "-again.rank" .. rank .. ".h5"
  again:save(file)
  local p = parameters(file)
  os.remove(file)
  T.eq((p - params):abs():max(), 0)
end)


if out ~= nil and rank == 0 then
  kubo.h5.write(out .. "/train.h5", "parameters", params)
  kubo.h5.write(out .. "/train.h5", "loss", s.loss_history.train)
end

T.finish()
