-- kubo.mpi: ranks, allreduce, bcast and share at any rank count. CTest
-- runs this file on one rank; tests/sh/test_mpi.sh also runs it under
-- mpirun -np 2. Each case makes every collective call before its first
-- check, so that a failed check on one rank cannot leave the others
-- waiting.

local kubo = require "kubo"
local T = require "kubo.test"

local mpi = kubo.mpi
local rank, size = mpi.rank(), mpi.size()


T.case("mpi rank and size", function()
  T.eq(math.type(rank), "integer")
  T.ok(rank >= 0 and rank < size, "0 <= rank < size")
  T.eq(type(mpi.built), "boolean")
  if not mpi.built then T.eq(size, 1, "a build without MPI is one rank") end
end)


T.case("mpi allreduce integers", function()
  local sum = mpi.allreduce(rank + 1)
  local max = mpi.allreduce(rank, "max")
  local min = mpi.allreduce(rank, {op = "min"})
  local prod = mpi.allreduce(2, "prod")
  T.eq(sum, size * (size + 1) // 2)
  T.eq(math.type(sum), "integer")
  T.eq(max, size - 1)
  T.eq(min, 0)
  T.eq(prod, 2 ^ size)
end)


T.case("mpi allreduce in rank order", function()
  -- Each rank's value is a known function of its rank, and the sum
  -- rounds differently in another order: 1e16 + 1 + 1 is 1e16 added
  -- left to right, but 1e16 + 2 when the ones come first.
  local function value(r) return r == 0 and 1e16 or 1.0 end
  local got = mpi.allreduce(value(rank))
  local want = value(0)
  for r = 1, size - 1 do want = want + value(r) end
  T.eq(got, want)
  T.eq(math.type(got), "float")
end)


T.case("mpi allreduce tensors", function()
  local x = kubo.tensor{1, 2, 3} * (rank + 1)
  local f = kubo.tensor({{0.5, -1}, {2, 4}}, "float32")
  local sum = mpi.allreduce(x)
  local max = mpi.allreduce(x, "max")
  local fsum = mpi.allreduce(f)
  local factor = size * (size + 1) / 2
  T.eq(sum:dtype(), "float64")
  T.eq(sum[2], 2 * factor)
  T.eq(max[3], 3 * size)
  T.eq(x[1], rank + 1, "the argument is left unchanged")
  T.eq(fsum:dtype(), "float32")
  T.eq(fsum[{2, 1}], 2 * size)
  T.eq(fsum[{1, 2}], -size)
end)


T.case("mpi allreduce views", function()
  local m = kubo.tensor{{1, 2, 3}, {4, 5, 6}}
  local column = m:transpose(1, 2)[2]
  local sum = mpi.allreduce(column)
  T.eq(sum:numel(), 2)
  T.eq(sum[1], 2 * size)
  T.eq(sum[2], 5 * size)
end)


T.case("mpi bcast values", function()
  local root = size - 1
  local mine = {name = "rank" .. rank, list = {1, 2.5, true},
                field = kubo.tensor{{rank, 1}, {2, 3}}, nothing = false}
  local got = mpi.bcast(mine, root)
  local number = mpi.bcast(rank == 0 and 42 or -1)
  local str = mpi.bcast(rank == 0 and "from zero" or nil)
  local none = mpi.bcast(nil)
  T.eq(got.name, "rank" .. root)
  T.eq(got.list[2], 2.5)
  T.eq(got.list[3], true)
  T.eq(got.nothing, false)
  T.eq(got.field[{1, 1}], root)
  T.eq(got.field:dtype(), "float64")
  T.eq(number, 42)
  T.eq(math.type(number), "integer")
  T.eq(str, "from zero")
  T.eq(none, nil)
end)


T.case("mpi share covers every item", function()
  for _, n in ipairs{0, 1, 7, 100} do
    local first, count = mpi.share(n)
    local total = mpi.allreduce(count)
    local firsts = kubo.zeros(size)
    firsts[rank + 1] = first
    firsts = mpi.allreduce(firsts)
    -- shares are contiguous, in rank order, and differ by at most one
    T.eq(total, n)
    T.eq(count, n // size + (rank < n % size and 1 or 0))
    T.eq(firsts[1], 1, "rank 0 starts at item 1")
    if rank > 0 then
      local previous = n // size + (rank - 1 < n % size and 1 or 0)
      T.eq(first, firsts[rank] + previous)
    end
  end
end)


T.case("mpi barrier returns", function()
  mpi.barrier()
  T.ok(true)
end)


T.case("mpi bad input", function()
  T.raises(function() mpi.allreduce("x") end,
           "number or kubo.Tensor expected, got string")
  T.raises(function() mpi.allreduce(1, "mean") end,
           "op must be \"sum\", \"prod\", \"max\" or \"min\" (got \"mean\")")
  T.raises(function() mpi.bcast(print) end,
           "cannot send the value of rank 0: only nil, booleans, numbers")
  T.raises(function() mpi.bcast(1, size) end, "root must be the same rank")
  T.raises(function() mpi.share(-1) end, "n must be >= 0")
  local loop = {}
  loop.self = loop
  T.raises(function() mpi.bcast(loop) end, "nested too deeply")
end)


T.case("mpi ranks disagree on shape", function()
  -- rank 0's tensor is longer: every rank raises and none waits
  local ok, err = pcall(mpi.allreduce, kubo.zeros(rank == 0 and 3 or 2))
  if size == 1 then
    T.ok(ok, "one rank always agrees with itself")
  else
    T.ok(not ok, "expected an error on every rank")
    T.ok(tostring(err):find("different kinds, dtypes or shapes", 1, true),
         tostring(err))
  end
end)


T.finish()
