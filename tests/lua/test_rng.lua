-- kubo.rng from Lua: moments of the distributions, streams, positions,
-- dtypes and invalid calls. Statistical checks use fixed seeds, and each
-- tolerance is 5 standard errors of the statistic for the sample size.
local kubo = require "kubo"
local T = require "kubo.test"

local N = 200000

-- Returns mean, variance, skewness and excess kurtosis of a list.
local function moments(xs)
  local n, s = #xs, 0
  for i = 1, n do s = s + xs[i] end
  local mean = s / n
  local m2, m3, m4 = 0, 0, 0
  for i = 1, n do
    local d = xs[i] - mean
    local d2 = d * d
    m2, m3, m4 = m2 + d2, m3 + d2 * d, m4 + d2 * d2
  end
  m2, m3, m4 = m2 / n, m3 / n, m4 / n
  return mean, m2, m3 / m2 ^ 1.5, m4 / (m2 * m2) - 3
end

-- Rounds a number to the nearest float32.
local function to_f32(x)
  return (string.unpack("f", string.pack("f", x)))
end

T.case("normal moments", function()
  local x = kubo.rng(20240601):normal(N):totable()
  local mean, var, skew, kurt = moments(x)
  -- standard errors for N(0, 1): 1/sqrt(n), sqrt(2/n), sqrt(6/n),
  -- sqrt(24/n)
  T.near(mean, 0, 5 / math.sqrt(N), "mean")
  T.near(var, 1, 5 * math.sqrt(2 / N), "variance")
  T.near(skew, 0, 5 * math.sqrt(6 / N), "skewness")
  T.near(kurt, 0, 5 * math.sqrt(24 / N), "excess kurtosis")
end)

T.case("uniform moments and histogram", function()
  local x = kubo.rng(77):uniform(N):totable()
  local mean, var = moments(x)
  -- U[0, 1): variance 1/12; the variance of (u - 1/2)^2 is 1/180
  T.near(mean, 0.5, 5 * math.sqrt(1 / 12 / N), "mean")
  T.near(var, 1 / 12, 5 * math.sqrt(1 / 180 / N), "variance")
  local bins, counts = 20, {}
  for b = 1, bins do counts[b] = 0 end
  for i = 1, N do
    T.ok(x[i] >= 0 and x[i] < 1, "value in [0, 1)")
    local b = math.floor(x[i] * bins) + 1
    counts[b] = counts[b] + 1
  end
  local chi2, expected = 0, N / bins
  for b = 1, bins do chi2 = chi2 + (counts[b] - expected) ^ 2 / expected end
  -- chi-squared with 19 degrees of freedom: mean 19, sd sqrt(38)
  T.near(chi2, bins - 1, 5 * math.sqrt(2 * (bins - 1)), "chi-squared")
end)

T.case("normal_ with mean and std", function()
  local t = kubo.zeros(N)
  local r = kubo.rng(5)
  T.ok(rawequal(r:normal_(t, 3, 0.5), t), "returns its tensor")
  local mean, var = moments(t:totable())
  T.near(mean, 3, 5 * 0.5 / math.sqrt(N), "mean")
  T.near(var, 0.25, 5 * 0.25 * math.sqrt(2 / N), "variance")
end)

T.case("uniform_ with bounds", function()
  local t = kubo.zeros(N, "float32")
  kubo.rng(6):uniform_(t, -2, 6)
  local x = t:totable()
  for i = 1, N do T.ok(x[i] >= -2 and x[i] < 6, "value in [-2, 6)") end
  local mean, var = moments(x)
  -- U[-2, 6): mean 2, variance 64/12, sd of (u - 2)^2 is 64/sqrt(180)
  T.near(mean, 2, 5 * math.sqrt(64 / 12 / N), "mean")
  T.near(var, 64 / 12, 5 * 64 / math.sqrt(180 * N), "variance")
end)

T.case("streams are pairwise different", function()
  local base = kubo.rng(99)
  local n, k = 20000, 6
  local xs = {}
  for s = 1, k do xs[s] = base:stream(s - 1):normal(n):totable() end
  for a = 1, k do
    for b = a + 1, k do
      local dot = 0
      for i = 1, n do dot = dot + xs[a][i] * xs[b][i] end
      T.ok(xs[a][1] ~= xs[b][1], "first values differ")
      -- the correlation of independent normals has sd 1/sqrt(n)
      T.near(dot / n, 0, 5 / math.sqrt(n),
             string.format("correlation of streams %d and %d", a, b))
    end
  end
  T.ok(base:normal() ~= base:stream(0):normal(), "stream 0 is not the base")
end)

T.case("same seed same values", function()
  local a = kubo.rng(123):normal(50):totable()
  local b = kubo.rng(123):normal(50):totable()
  local c = kubo.rng(124):normal(50):totable()
  for i = 1, 50 do T.eq(a[i], b[i]) end
  T.ok(a[1] ~= c[1] and a[2] ~= c[2], "another seed gives other values")
  local s1 = kubo.rng(123):stream(4):uniform(8):totable()
  local s2 = kubo.rng(123):stream(4):uniform(8):totable()
  for i = 1, 8 do T.eq(s1[i], s2[i]) end
end)

T.case("position and set_position", function()
  local r = kubo.rng(8)
  T.eq(r:position(), 0)
  r:normal(7)
  T.eq(r:position(), 4, "7 values use 4 blocks")
  local saved = r:position()
  local first = r:uniform(10):totable()
  T.ok(rawequal(r:set_position(saved), r), "set_position returns rng")
  local again = r:uniform(10):totable()
  for i = 1, 10 do T.eq(again[i], first[i]) end
  local c = r:clone()
  T.eq(c:position(), r:position())
  T.eq(c:normal(), r:normal())
  T.eq(r:seed(), 8)
  T.eq(kubo.rng(2 ^ 62):seed(), 1 << 62)
  T.eq(kubo.rng(math.maxinteger):seed(), math.maxinteger)
end)

T.case("split fill equals one fill", function()
  local whole = kubo.rng(31):normal(1000):totable()
  local r = kubo.rng(31)
  local a = r:normal(400):totable()
  local b = r:normal(600):totable()
  for i = 1, 400 do T.eq(a[i], whole[i]) end
  for i = 1, 600 do T.eq(b[i], whole[400 + i]) end
end)

T.case("float32 is rounded float64", function()
  local x = kubo.rng(17):normal(3, 5):totable()
  local f = kubo.rng(17):normal(3, 5, "float32")
  T.eq(f:dtype(), "float32")
  local ft = f:totable()
  for i = 1, 3 do
    for j = 1, 5 do T.eq(ft[i][j], to_f32(x[i][j])) end
  end
  local u = kubo.rng(18):uniform({4}):totable()
  local uf = kubo.rng(18):uniform({4}, "float32"):totable()
  for i = 1, 4 do T.eq(uf[i], to_f32(u[i])) end
end)

T.case("single numbers and shapes", function()
  local r = kubo.rng(1)
  T.eq(math.type(r:normal()), "float")
  local u = r:uniform()
  T.ok(u >= 0 and u < 1, "uniform() in [0, 1)")
  T.eq(#r:normal(0):totable(), 0, "empty tensor")
  local t = r:uniform(2, 3, 4)
  T.eq(t:numel(), 24)
  T.eq(t:size(3), 4)
end)

T.case("tostring and docs", function()
  local s = tostring(kubo.rng(1234))
  T.ok(s:find("kubo.Rng(seed 1234", 1, true), s)
  T.ok(s:find("position 0", 1, true), s)
  T.ok(kubo.doc(kubo.rng), "kubo.rng has a docstring")
  local r = kubo.rng(1)
  for _, name in ipairs{"normal", "uniform", "normal_", "uniform_",
                        "stream", "clone", "seed", "position",
                        "set_position"} do
    T.ok(kubo.doc(r[name]), "docstring of rng:" .. name)
  end
end)

T.case("invalid calls raise", function()
  local r = kubo.rng(1)
  T.raises(function() kubo.rng(-1) end,
           "seed must be a whole number from 0 to 2^63-1 (got -1)")
  T.raises(function() kubo.rng(1.5) end, "(got 1.5)")
  T.raises(function() kubo.rng(0 / 0) end, "(got nan)")
  T.raises(function() kubo.rng(2 ^ 63) end, "seed must be a whole number")
  T.raises(function() kubo.rng("7") end, "(got string)")
  T.raises(function() kubo.rng() end, "(got no value)")
  T.raises(function() r:normal(-2) end, "size must be non-negative")
  T.raises(function() r:normal(2.5) end, "size must be a whole number")
  T.raises(function() r:normal(2, "float16") end, "unknown dtype")
  T.raises(function() r:normal("x") end, "expected sizes")
  T.raises(function() r:normal_({}) end, "kubo.Tensor expected")
  T.raises(function() r:normal_(kubo.zeros(3), 0, -1) end,
           "std must be finite and non-negative (got -1)")
  T.raises(function() r:normal_(kubo.zeros(3), 0 / 0) end,
           "mean must be finite")
  T.raises(function() r:uniform_(kubo.zeros(3), 2, 1) end, "low < high")
  T.raises(function() r:uniform_(kubo.zeros(3), 0, math.huge) end,
           "must be finite")
  T.raises(function() r:stream(-3) end, "stream number must be a whole")
  T.raises(function() r:set_position(-1) end, "position must be a whole")
  T.raises(function() r.normal(5) end, "kubo.Rng expected")
  local t = kubo.zeros(3)
  t:free()
  T.raises(function() r:normal_(t) end, "freed tensor")
  T.eq(r:position(), 0, "failed calls do not advance the stream")
end)

T.finish()
