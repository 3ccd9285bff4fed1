-- Bad calls raise Lua errors with a clear message and never crash the
-- program. Each entry is one kind of mistake and a fragment its message
-- must contain; the file also runs under ASan and UBSan.
local kubo = require "kubo"
local T = require "kubo.test"

local function freed()
  local t = kubo.ones(3)
  t:free()
  return t
end

local x = kubo.tensor{{1, 2, 3}, {4, 5, 6}}     -- (2, 3)
local v = kubo.tensor{1, 2, 3}                    -- (3)
local sq = kubo.tensor{{2, 1}, {1, 3}}            -- (2, 2)
local singular = kubo.tensor{{1, 2}, {2, 4}}

local hilbert = kubo.zeros(14, 14)
for i = 1, 14 do
  for j = 1, 14 do hilbert[{i, j}] = 1 / (i + j - 1) end
end

local cases = {
  -- constructors
  {"zeros without sizes", function() return kubo.zeros() end,
   "expected sizes"},
  {"negative size", function() return kubo.zeros(-1) end,
   "size must be non-negative"},
  {"fractional size", function() return kubo.zeros(2.5) end,
   "size must be a whole number (got 2.5)"},
  {"NaN size", function() return kubo.zeros(0 / 0) end, "(got nan)"},
  {"huge size", function() return kubo.zeros(1e300) end,
   "size is too large"},
  {"infinite size", function() return kubo.zeros(math.huge) end,
   "size is too large"},
  {"shape over 2^48 elements", function() return kubo.zeros(2^30, 2^30) end,
   "more than 2^48 elements"},
  {"too many dimensions", function() return kubo.zeros(1, 1, 1, 1, 1, 1,
                                                       1, 1, 1) end,
   "at most 8 dimensions"},
  {"unknown dtype", function() return kubo.zeros(3, "float16") end,
   "unknown dtype 'float16'"},
  {"argument after dtype", function() return kubo.zeros(3, "float32", 4) end,
   "unexpected number"},
  {"negative size in a table", function() return kubo.zeros{2, -3} end,
   "(got -3 in entry 2)"},
  {"string in a size table", function() return kubo.ones{2, "a"} end,
   "(got string in entry 2)"},
  {"string as size", function() return kubo.ones("3") end,
   "expected sizes"},
  {"full without a size table", function() return kubo.full(3, 1) end,
   "expected a table of sizes"},
  {"full without a value", function() return kubo.full({2}) end,
   "number expected, got no value"},
  {"full with a string value", function() return kubo.full({2}, "x") end,
   "number expected, got string"},
  {"tensor without a table", function() return kubo.tensor() end,
   "table expected, got no value"},
  {"ragged nested table", function() return kubo.tensor{{1, 2}, {3}} end,
   "ragged"},
  {"non-number element", function() return kubo.tensor{1, "a"} end,
   "is a string, expected a number"},
  {"tensor with a bad dtype", function() return kubo.tensor({1}, "int8") end,
   "unknown dtype 'int8'"},
  {"arange with step 0", function() return kubo.arange(0, 1, 0) end,
   "step must not be 0"},
  {"arange to infinity", function() return kubo.arange(0, math.huge) end,
   "stop must be finite"},
  {"arange without stop", function() return kubo.arange(0) end,
   "number expected, got no value"},
  {"arange too long", function() return kubo.arange(0, 1e300, 1e-300) end,
   "at most 2^48"},
  {"linspace with negative count", function()
     return kubo.linspace(0, 1, -1) end,
   "number of points must be non-negative"},
  {"linspace with fractional count", function()
     return kubo.linspace(0, 1, 2.5) end,
   "number of points must be a whole number"},
  {"linspace from NaN", function() return kubo.linspace(0 / 0, 1, 3) end,
   "start must be finite"},

  -- element access
  {"index 0", function() return v[0] end, "index 0 out of range 1..3"},
  {"index past the end", function() return v[4] end,
   "index 4 out of range 1..3"},
  {"fractional index", function() return v[1.5] end,
   "index must be a whole number"},
  {"short full index", function() return x[{1}] end,
   "index has 1 entries, tensor has 2 dimensions"},
  {"full index out of range", function() return x[{1, 5}] end,
   "index 5 out of range 1..3 in dimension 2"},
  {"string in a full index", function() return x[{1, "a"}] end,
   "index entry 2 is not a whole number"},
  {"boolean index", function() return x[true] end,
   "tensor index must be a number"},
  {"assigning a string", function() x[{1, 1}] = "a" end,
   "number expected, got string"},
  {"row out of range", function() return x[3] end,
   "index 3 out of range 1..2"},
  {"get with too few indices", function() return x:get(1) end,
   "1 indices given, the tensor has 2"},
  {"set without a value", function() return x:set(1, 1) end,
   "expected 2 indices and a value"},
  {"size of a missing dimension", function() return x:size(3) end,
   "dimension 3 out of range 1..2"},
  {"assigning a wrong-shaped row", function() x[1] = kubo.zeros(5) end,
   "cannot assign a tensor of shape (5) to a row of shape (3)"},
  {"assigning a freed tensor to a row", function() x[1] = freed() end,
   "attempt to use a freed tensor"},
  {"assigning a string to a row", function() x[1] = "a" end,
   "number expected, got string"},
  {"indexing a scalar", function() return kubo.zeros({})[1] end,
   "cannot index a 0-dimensional tensor"},

  -- views and copies
  {"view of the wrong size", function() return x:view(5) end,
   "6 elements cannot take a shape with 5"},
  {"view with two -1", function() return x:view(-1, -1) end,
   "invalid size -1 in dimension 2"},
  {"view with size -2", function() return x:view(-2) end,
   "or -1 to infer it (got -2)"},
  {"reshape of a transposed view", function()
     return x:transpose(1, 2):reshape(6) end,
   "not contiguous (call :contiguous() first)"},
  {"view without sizes", function() return x:view() end,
   "expected sizes"},
  {"slice of a missing dimension", function() return x:slice(3, 1, 1) end,
   "dimension 3 out of range"},
  {"slice past the end", function() return x:slice(1, 2, 5) end,
   "range 2..5 invalid for dimension 1 of size 2"},
  {"slice from 0", function() return x:slice(2, 0, 1) end,
   "range 0..1 invalid"},
  {"transpose of dimension 0", function() return x:transpose(0, 1) end,
   "dimension 0 out of range"},
  {"transpose of a vector", function() return v:transpose() end,
   "needs two dimensions"},
  {"to without a dtype", function() return x:to() end,
   "string expected, got no value"},
  {"to an unknown dtype", function() return x:to("complex") end,
   "unknown dtype 'complex'"},
  {"copy_ of another size", function() return x:copy_(kubo.zeros(5)) end,
   "differ in size"},
  {"copy_ from a number", function() return x:copy_(5) end,
   "kubo.Tensor expected, got number"},
  {"fill_ with a string", function() return x:fill_("a") end,
   "number expected, got string"},

  -- arithmetic
  {"adding mismatched shapes", function() return x + kubo.zeros(4) end,
   "shapes (2, 3) and (4) do not match"},
  {"adding a string", function() return x + "a" end,
   "operand 2 is a string"},
  {"adding a table", function() return {} + x end,
   "operand 1 is a table"},
  {"mixing dtypes", function() return x * kubo.zeros(2, 3, "float32") end,
   "dtypes differ (float64 and float32)"},
  {"add_ without an operand", function() return x:add_() end,
   "value expected"},
  {"in-place result of the wrong shape", function() return x[1]:add_(x) end,
   "output has shape (3), expected (2, 3)"},
  {"axpy_ without a tensor", function() return x:axpy_(2) end,
   "kubo.Tensor expected, got no value"},
  {"axpy_ with a string factor", function() return x:axpy_("a", x) end,
   "number expected, got string"},
  {"clamp with lo above hi", function() return x:clamp(1, 0) end,
   "clamp: bounds 1 and 0"},
  {"map without a function", function() return x:map(5) end,
   "function expected, got number"},
  {"map returning a string", function()
     return x:map(function() return "a" end) end,
   "returned a string for element 1"},
  {"map whose function raises", function()
     return x:map(function() error("no such value") end) end,
   "no such value"},
  {"ordering tensors", function() return x < x end,
   "attempt to compare two kubo.Tensor values"},
  {"concatenating tensors", function() return x .. x end,
   "attempt to concatenate"},
  {"allclose of other shapes", function()
     return x:allclose(kubo.zeros(4)) end,
   "allclose: shapes (2, 3) and (4) differ"},
  {"allclose with negative tolerance", function()
     return x:allclose(x, -1) end,
   "tolerances must be non-negative"},

  -- reductions
  {"mean of nothing", function() return kubo.zeros(0):mean() end,
   "mean: tensor has no elements"},
  {"variance of one element", function() return kubo.ones(1):var() end,
   "var: needs at least 2 elements"},
  {"sum over a missing dimension", function() return x:sum(3) end,
   "dimension 3 out of range 1..2"},
  {"sum over a fractional dimension", function() return x:sum(1.5) end,
   "dimension must be a whole number"},
  {"max along an empty dimension", function()
     return kubo.zeros(2, 0):max(2) end,
   "no elements along dimension 2"},

  -- linear algebra
  {"matmul with mismatched inner sizes", function()
     return kubo.matmul(x, x) end,
   "inner sizes differ"},
  {"matmul of two vectors", function() return kubo.matmul(v, v) end,
   "use dot for two vectors"},
  {"matmul with one operand", function() return kubo.matmul(x) end,
   "kubo.Tensor expected, got no value"},
  {"matmul of mixed dtypes", function()
     return kubo.matmul(sq, sq:to("float32")) end,
   "dtypes differ"},
  {"dot of different lengths", function()
     return kubo.dot(v, kubo.zeros(4)) end,
   "dot: shapes (3) and (4) differ"},
  {"solve with a singular matrix", function()
     return kubo.solve(singular, kubo.ones(2)) end,
   "matrix is singular: pivot 2"},
  {"solve with a non-square matrix", function()
     return kubo.solve(x, kubo.ones(2)) end,
   "matrix must be square"},
  {"solve with a mismatched right side", function()
     return kubo.solve(sq, kubo.ones(5)) end,
   "does not fit matrix (2, 2)"},
  {"inverse of a singular matrix", function() return kubo.inv(singular) end,
   "U(2, 2) = 0"},
  {"inverse of an ill-conditioned matrix", function()
     return kubo.inv(hilbert) end,
   "singular to working precision"},
  {"solve with NaN", function()
     return kubo.solve(kubo.tensor{{1, 0 / 0}, {0, 1}}, kubo.ones(2)) end,
   "matrix contains NaN or Inf"},

  -- use after free and wrong receivers
  {"method on a freed tensor", function() return freed():numel() end,
   "attempt to use a freed tensor"},
  {"arithmetic on a freed tensor", function() return freed() + 1 end,
   "attempt to use a freed tensor"},
  {"indexing a freed tensor", function() return freed()[1] end,
   "attempt to use a freed tensor"},
  {"matmul of a freed tensor", function()
     return kubo.matmul(freed(), x) end,
   "attempt to use a freed tensor"},
  {"copy_ from a freed tensor", function() return v:copy_(freed()) end,
   "attempt to use a freed tensor"},
  {"method called with a dot", function() return x.sum(5) end,
   "kubo.Tensor expected, got number"},
  {"method on a plain table", function() return x.numel({}) end,
   "kubo.Tensor expected, got table"},
}

if kubo.rng then
  local r = kubo.rng(1)
  local more = {
    {"rng with a negative seed", function() return kubo.rng(-1) end,
     "seed must be a whole number"},
    {"rng draw with a negative size", function() return r:normal(-2) end,
     "size must be non-negative"},
    {"rng draw with a bad dtype", function()
       return r:normal(2, "float16") end,
     "unknown dtype"},
    {"rng fill of a freed tensor", function() return r:normal_(freed()) end,
     "attempt to use a freed tensor"},
  }
  for _, c in ipairs(more) do cases[#cases + 1] = c end
end

if kubo.h5 then
  -- expected I/O failures return nil and a message, as io.open does
  local missing = "/nonexistent-folder/missing.h5"
  local function returns_nil(fn)
    return function()
      local value, msg = fn()
      if value ~= nil then error("expected nil, got " .. tostring(value)) end
      error(msg)
    end
  end
  local more = {
    {"h5.read of a missing file",
     returns_nil(function() return kubo.h5.read(missing, "/x") end),
     "cannot open '" .. missing .. "'"},
    {"h5.list of a missing file",
     returns_nil(function() return kubo.h5.list(missing) end),
     "cannot open '" .. missing .. "'"},
    {"h5.read without a dataset name", function()
       return kubo.h5.read(missing) end,
     "string expected, got no value"},
    {"h5.read from frame 0", function()
       return kubo.h5.read(missing, "/x", 0) end,
     "frames count from 1"},
    {"h5.write of a number", function()
       return kubo.h5.write(missing, "/x", 5) end,
     "kubo.Tensor expected, got number"},
    {"h5.write of a freed tensor", function()
       return kubo.h5.write(missing, "/x", freed()) end,
     "attempt to use a freed tensor"},
  }
  for _, c in ipairs(more) do cases[#cases + 1] = c end
end

for _, c in ipairs(cases) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

T.case("messages carry the caller's file and line", function()
  local err = T.raises(function() return kubo.zeros(-1) end, "non-negative")
  T.ok(err:find("test_bad_input.lua:%d+:"), err)
  err = T.raises(function() return x + kubo.zeros(4) end, "do not match")
  T.ok(err:find("test_bad_input.lua:%d+:"), err)
end)

T.case("at least 60 kinds of bad call", function()
  T.ok(#cases >= 60, "only " .. #cases .. " cases")
end)

T.case("tensors still work after the errors", function()
  T.eq((x + 1):sum(), 27)
  T.near(kubo.matmul(sq, kubo.inv(sq))[{1, 1}], 1, 1e-15)
end)

T.finish()
