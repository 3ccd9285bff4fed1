-- Tensor arithmetic, reductions and linear algebra from Lua, checked
-- against plain Lua loops over totable() and against known matrices.
local kubo = require "kubo"
local T = require "kubo.test"

-- A reproducible (rows, cols) tensor with entries in [-1, 1).
local function sample(rows, cols, seed, dtype)
  local t, s = {}, seed
  for i = 1, rows do
    t[i] = {}
    for j = 1, cols do
      s = (s * 1103515245 + 12345) % 2147483648
      t[i][j] = s / 1073741824 - 1
    end
  end
  return kubo.tensor(t, dtype)
end

-- Largest |a - b| over two nested tables of the same shape.
local function max_diff(a, b)
  if type(a) == "number" then return math.abs(a - b) end
  local worst = 0
  for i = 1, #a do worst = math.max(worst, max_diff(a[i], b[i])) end
  return worst
end

T.case("operators with numbers on either side", function()
  local x = kubo.tensor{{1, 2}, {3, 4}}
  T.eq(max_diff((x + 1):totable(), {{2, 3}, {4, 5}}), 0)
  T.eq(max_diff((1 + x):totable(), {{2, 3}, {4, 5}}), 0)
  T.eq(max_diff((10 - x):totable(), {{9, 8}, {7, 6}}), 0)
  T.eq(max_diff((x - 10):totable(), {{-9, -8}, {-7, -6}}), 0)
  T.eq(max_diff((2 * x):totable(), {{2, 4}, {6, 8}}), 0)
  T.eq(max_diff((12 / x):totable(), {{12, 6}, {4, 3}}), 0)
  T.eq(max_diff((x / 2):totable(), {{0.5, 1}, {1.5, 2}}), 0)
  T.eq(max_diff((-x):totable(), {{-1, -2}, {-3, -4}}), 0)
  T.eq(max_diff((x ^ 2):totable(), {{1, 4}, {9, 16}}), 0)
  T.eq(max_diff((2 ^ x):totable(), {{2, 4}, {8, 16}}), 0)
end)

T.case("tensor operators and broadcasting", function()
  local a = sample(6, 4, 1)
  local row = kubo.tensor{10, 20, 30, 40}
  local ta, sum, diff = a:totable(), (a + row):totable(), (row - a):totable()
  for i = 1, 6 do
    for j = 1, 4 do
      T.near(sum[i][j], ta[i][j] + row[j], 1e-15)
      T.near(diff[i][j], row[j] - ta[i][j], 1e-15)
    end
  end
  -- (2, 3, 4) against (3, 4)
  local big = kubo.arange(0, 24):view(2, 3, 4)
  local block = kubo.arange(0, 12):view(3, 4)
  local prod = (big * block):totable()
  for i = 1, 2 do
    for j = 1, 3 do
      for k = 1, 4 do
        local b = (j - 1) * 4 + (k - 1)
        T.eq(prod[i][j][k], ((i - 1) * 12 + b) * b)
      end
    end
  end
end)

T.case("in-place methods return self", function()
  local x = kubo.ones(2, 3)
  T.eq(x:add_(2), x)
  x:mul_(kubo.tensor{1, 2, 3}):sub_(1):div_(2)
  T.eq(max_diff(x:totable(), {{1, 2.5, 4}, {1, 2.5, 4}}), 0)
  local y = kubo.full({2, 3}, 2)
  x:axpy_(0.5, y)
  T.eq(max_diff(x:totable(), {{2, 3.5, 5}, {2, 3.5, 5}}), 0)
  x:pow_(2)
  T.eq(x[{1, 2}], 12.25)
  x:clamp_(5, 20)
  T.eq(max_diff(x:totable(), {{5, 12.25, 20}, {5, 12.25, 20}}), 0)
  -- in place on a view changes the parent
  local m = kubo.zeros(3, 3)
  m[2]:add_(1)
  m:slice(2, 3, 3):add_(5)
  T.eq(max_diff(m:totable(), {{0, 0, 5}, {1, 1, 6}, {0, 0, 5}}), 0)
end)

T.case("unary functions match math", function()
  local x = kubo.linspace(0.1, 3, 7)
  local checks = {
    abs = math.abs, exp = math.exp, log = math.log, sqrt = math.sqrt,
    sin = math.sin, cos = math.cos,
    tanh = function(v)
      return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1)
    end,
    square = function(v) return v * v end,
    neg = function(v) return -v end,
  }
  for name, f in pairs(checks) do
    local y = x[name](x)
    for i = 1, 7 do T.near(y[i], f(x[i]), 1e-14, name) end
  end
  local m = x:map(function(v) return 3 * v + 1 end)
  for i = 1, 7 do T.near(m[i], 3 * x[i] + 1, 1e-15) end
end)

T.case("float32 arithmetic stays float32", function()
  local x = kubo.ones(3, "float32")
  T.eq((x + 1):dtype(), "float32")
  T.eq((2 * x):exp():dtype(), "float32")
  T.near((x / 3)[1], 1 / 3, 1e-7)
  T.eq(x:sum(), 3)
  -- mixed dtypes are an error: convert explicitly
  T.raises(function() return x + kubo.ones(3) end, "dtypes differ")
  T.near((x:to("float64") + kubo.ones(3))[2], 2, 0)
end)

T.case("reductions over all elements", function()
  local x = sample(5, 7, 3)
  local n, sum, sq, mn, mx, amax = 35, 0, 0, math.huge, -math.huge, 0
  local flat = x:view(-1)
  for i = 1, n do
    local v = flat[i]
    sum, sq = sum + v, sq + v * v
    mn = math.min(mn, v)
    if v > mx then mx, amax = v, i end
  end
  local mean = sum / n
  local dev = 0
  for i = 1, n do dev = dev + (flat[i] - mean) ^ 2 end
  T.near(x:sum(), sum, 1e-13)
  T.near(x:mean(), mean, 1e-15)
  T.near(x:var(), dev / (n - 1), 1e-15)
  T.near(x:std(), math.sqrt(dev / (n - 1)), 1e-15)
  T.eq(x:min(), mn)
  T.eq(x:max(), mx)
  T.eq(x:argmax(), amax)
  T.near(x:norm(), math.sqrt(sq), 1e-14)
end)

T.case("reductions along a dimension", function()
  local x = sample(4, 3, 5)
  local t = x:totable()
  local s1, s2 = x:sum(1), x:max(2)
  T.eq(#s1, 3)
  T.eq(#s2, 4)
  for j = 1, 3 do
    T.near(s1[j], t[1][j] + t[2][j] + t[3][j] + t[4][j], 1e-15)
  end
  for i = 1, 4 do
    T.eq(s2[i], math.max(t[i][1], t[i][2], t[i][3]))
    local am = x:argmax(2)[i]
    T.eq(t[i][am], s2[i])
  end
  -- a 1-D tensor reduces to a number
  T.eq(kubo.tensor{1, 2, 3}:sum(1), 6)
  T.eq(kubo.tensor{4, 9, 2}:argmax(1), 2)
  T.near(x:mean(1):sum(), x:sum() / 4, 1e-15)
end)

T.case("matmul against a triple loop", function()
  local a, b = sample(5, 4, 7), sample(4, 3, 8)
  local c = kubo.matmul(a, b)
  T.eq(c:size(1), 5)
  T.eq(c:size(2), 3)
  local ta, tb, tc = a:totable(), b:totable(), c:totable()
  for i = 1, 5 do
    for j = 1, 3 do
      local s = 0
      for k = 1, 4 do s = s + ta[i][k] * tb[k][j] end
      T.near(tc[i][j], s, 1e-14)
    end
  end
  -- matrix times vector, transposed view, batches
  local v = kubo.tensor{1, 0, 0, 0}
  T.eq(max_diff(kubo.matmul(a, v):totable(), a:transpose()[1]:totable()), 0)
  local at = a:transpose()
  T.near(kubo.matmul(at, a):sum(), kubo.matmul(at:contiguous(), a):sum(),
         1e-13)
  local batch = kubo.zeros(2, 5, 4)
  batch[1]:copy_(a)
  batch[2]:copy_(a * 2)
  local bc = kubo.matmul(batch, b)
  T.eq(max_diff(bc[2]:totable(), (c * 2):totable()) < 1e-14, true)
  T.near(kubo.dot(kubo.tensor{1, 2, 3}, kubo.tensor{4, 5, 6}), 32, 0)
end)

T.case("solve and inv on a known matrix", function()
  -- A = [[4, -2, 1], [-2, 4, -2], [1, -2, 4]], x = (1, 2, 3), det A = 36
  local a = kubo.tensor{{4, -2, 1}, {-2, 4, -2}, {1, -2, 4}}
  local x = kubo.solve(a, kubo.tensor{3, 0, 9})
  for i = 1, 3 do T.near(x[i], i, 1e-14) end
  local ai = kubo.inv(a)
  T.near(ai[{2, 2}], 15 / 36, 1e-15)
  local id = kubo.matmul(a, ai)
  for i = 1, 3 do
    for j = 1, 3 do T.near(id[{i, j}], i == j and 1 or 0, 1e-15) end
  end
  T.raises(function() return kubo.solve(kubo.tensor{{1, 2}, {2, 4}},
                                        kubo.ones(2)) end, "pivot 2")
end)

T.case("equal and allclose", function()
  local x = kubo.tensor{1, 2, 3}
  T.ok(x:equal(x:clone()))
  T.ok(not x:equal(kubo.tensor{1, 2, 4}))
  T.ok(not x:equal(x:to("float32")), "dtype differs")
  T.ok(x:allclose(x + 1e-9))
  T.ok(not x:allclose(x + 1e-3))
  T.ok(x:allclose(x + 1e-3, 0, 1e-2))
  T.ok(x ~= x:clone(), "== compares identity, not values")
end)

T.finish()
