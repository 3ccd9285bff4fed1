-- kubo.response from Lua: the Gaussian and score estimators on an
-- exactly sampled 2-D linear system against exp(A tau), Response
-- objects (at, lags, save), HDF5 input, the error metrics against a
-- direct computation, and invalid calls. Statistical checks use fixed
-- seeds, and tolerances are 5 of the estimators' standard errors.
local kubo = require "kubo"
local T = require "kubo.test"

local tmpdir = os.getenv("TMPDIR") or "/tmp"
local function tmpfile(name)
  return string.format("%s/kubo_test_response_%s_%d.h5", tmpdir, name,
                       math.random(1, 1 << 30))
end

-- 2x2 matrix helpers on plain tables {a11, a12, a21, a22}
local function mul2(a, b)
  return {a[1] * b[1] + a[2] * b[3], a[1] * b[2] + a[2] * b[4],
          a[3] * b[1] + a[4] * b[3], a[3] * b[2] + a[4] * b[4]}
end

-- exp(A t) by a Taylor series of exp(A t / 2^10), squared 10 times
local function expm2(a, t)
  local s = 10
  local b = {}
  for i = 1, 4 do b[i] = a[i] * t / 2 ^ s end
  local term, sum = {1, 0, 0, 1}, {1, 0, 0, 1}
  for n = 1, 20 do
    term = mul2(term, b)
    for i = 1, 4 do term[i] = term[i] / n; sum[i] = sum[i] + term[i] end
  end
  for _ = 1, s do sum = mul2(sum, sum) end
  return sum
end

-- The non-normal system dx = A x dt + dW with Q = I: stationary
-- covariance from A S + S A^T + I = 0 (solved by hand for this A).
local A = {-1.0, 2.0, 0.0, -0.5}
local h = 0.1
local FRAMES, MEMBERS = 10000, 6

-- For A = [[a, b], [0, d]]: s22 = -1/(2d), s12 = -b s22 / (a + d),
-- s11 = -(1 + 2 b s12) / (2a).
local s22 = -1 / (2 * A[4])
local s12 = -A[2] * s22 / (A[1] + A[4])
local s11 = -(1 + 2 * A[2] * s12) / (2 * A[1])
local SIG = {s11, s12, s12, s22}

-- Samples the system exactly every h into a tensor (frames, members, 2).
local function sample_linear()
  local phi = expm2(A, h)
  local pt = {phi[1], phi[3], phi[2], phi[4]}
  local pspt = mul2(mul2(phi, SIG), pt)
  local c = {}
  for i = 1, 4 do c[i] = SIG[i] - pspt[i] end
  local l11 = math.sqrt(c[1])
  local l21 = c[3] / l11
  local l22 = math.sqrt(c[4] - l21 * l21)
  local x = kubo.zeros(FRAMES, MEMBERS, 2)
  local rng = kubo.rng(99)
  for e = 1, MEMBERS do
    local z = rng:normal(FRAMES, 2):totable()
    local a = math.sqrt(SIG[1]) * z[1][1]
    local b = SIG[2] / math.sqrt(SIG[1]) * z[1][1] +
              math.sqrt(SIG[4] - SIG[2] ^ 2 / SIG[1]) * z[1][2]
    for t = 1, FRAMES do
      if t > 1 then
        local na = phi[1] * a + phi[2] * b + l11 * z[t][1]
        local nb = phi[3] * a + phi[4] * b + l21 * z[t][1] + l22 * z[t][2]
        a, b = na, nb
      end
      x[{t, e, 1}] = a
      x[{t, e, 2}] = b
    end
  end
  return x
end

local traj = sample_linear()
local det = SIG[1] * SIG[4] - SIG[2] * SIG[3]
-- the exact score -Sigma^-1 x, applied to a batch (frames, 2)
local SINV_T = kubo.tensor{{SIG[4] / det, -SIG[3] / det},
                           {-SIG[2] / det, SIG[1] / det}}
local function exact_score(x)
  return -kubo.matmul(x, SINV_T)
end

local LAGS = 31

local function check_exp(R, name)
  for _, lag in ipairs{0, 5, 10, 20, 30} do
    local ex = expm2(A, lag * h)
    for i = 1, 2 do
      for j = 1, 2 do
        local v = R.values[{lag + 1, i, j}]
        local se = R.stderr[{lag + 1, i, j}]
        T.near(v, ex[(i - 1) * 2 + j], 5 * se + 1e-12,
               string.format("%s R[%d, %d] at lag %d", name, i, j, lag))
      end
    end
  end
end

T.case("gaussian dense matches exp(A tau)", function()
  local R = kubo.response.gaussian{data = traj, lags = LAGS, dt = h,
                                   circular = false}
  T.eq(R.kind, "gaussian")
  T.eq(R.grid, false)
  T.eq(R.members, MEMBERS)
  T.eq(#R.values:shape(), 3)
  T.eq(R.values:size(1), LAGS)
  check_exp(R, "gaussian")
  -- lag 0 of C(tau) C(0)^-1 is the identity exactly
  T.near(R.values[{1, 1, 1}], 1, 1e-12)
  T.near(R.values[{1, 1, 2}], 0, 1e-12)
end)

T.case("score dense matches exp(A tau) and Stein", function()
  local R = kubo.response.score{data = traj, score = exact_score,
                                lags = LAGS, circular = false, batch = 999}
  T.eq(R.kind, "score")
  T.eq(R.normalized, false)
  check_exp(R, "score")
  -- Stein's identity: the raw R(0) is the identity within sampling error
  for i = 1, 2 do
    for j = 1, 2 do
      T.near(R.stein.values[{i, j}], i == j and 1 or 0,
             5 * R.stderr[{1, i, j}], "stein")
    end
  end
  T.ok(R.stein.deviation < 0.1, "stein deviation " .. R.stein.deviation)
  T.near(R.stein.diagonal, 1, 0.1)
  local Rn = kubo.response.score{data = traj, score = exact_score,
                                 lags = LAGS, normalize = true}
  T.eq(Rn.normalized, true)
  check_exp(Rn, "normalised score")
end)

T.case("dense site keeps one column", function()
  local full = kubo.response.gaussian{data = traj, lags = 5}
  local col = kubo.response.gaussian{data = traj, lags = 5, site = {2}}
  T.eq(col.values:dim(), 2)
  T.eq(col.values:size(2), 2)
  T.eq(col.site[1], 2)
  for lag = 1, 5 do
    for i = 1, 2 do
      T.near(col.values[{lag, i}], full.values[{lag, i, 2}], 0)
      T.near(col.stderr[{lag, i}], full.stderr[{lag, i, 2}], 0)
    end
  end
  -- R:at on the dense form takes {i, j}, on the column form {i}
  T.near(full:at{1, 2}[3], col:at{1}[3], 0)
end)

T.case("callable score object", function()
  local obj = setmetatable({}, {__call = function(_, x)
    return exact_score(x)
  end})
  local a = kubo.response.score{data = traj, score = obj, lags = 3}
  local b = kubo.response.score{data = traj, score = exact_score, lags = 3}
  T.ok(a.values:allclose(b.values, 0, 0), "same values")
end)

T.case("conjugate observable with u = e_1", function()
  -- u = e_1 gives B = -s_1, so the response is column 1 of the score's
  local u = function(x)
    local out = kubo.zeros(x:size(1), 2)
    for t = 1, x:size(1) do out[{t, 1}] = 1 end
    return out
  end
  local R = kubo.response.conjugate{data = traj, lags = 4,
                                    perturbation = u, score = exact_score,
                                    divergence = 0}
  local S = kubo.response.score{data = traj, score = exact_score, lags = 4}
  T.eq(R.kind, "conjugate")
  for lag = 1, 4 do
    for i = 1, 2 do
      T.near(R.values[{lag, i}], S.values[{lag, i, 1}], 1e-12)
    end
  end
  -- the same through an observable B(x) = -s_1(x)
  local Rb = kubo.response.conjugate{data = traj, lags = 4,
    observable = function(x) return -exact_score(x):slice(2, 1, 1) end}
  T.ok(Rb.values:allclose(R.values, 1e-12, 1e-12), "observable form")
end)

T.case("grid gaussian: site, at, lags", function()
  local g = kubo.grid{n = {6, 4}}
  local x = kubo.rng(3):normal(50, 2, 4, 6)
  local R = kubo.response.gaussian{data = x, grid = g, lags = 5,
                                   site = {2, 3}, dt = 0.5}
  T.eq(R.grid, true)
  T.eq(R.site[1], 2)
  T.eq(R.site[2], 3)
  T.eq(R.circular, true)
  -- lag 0 is the identity: 1 at the site, 0 elsewhere
  T.near(R.values[{1, 2, 3}], 1, 1e-12)
  T.near(R.values[{1, 1, 1}], 0, 1e-12)
  local at = R:at{2, 3}
  T.eq(at:numel(), 5)
  T.near(at[1], 1, 1e-12)
  T.near(at[3], R.values[{3, 2, 3}], 0)
  local lags = R:lags()
  T.near(lags[1], 0, 0)
  T.near(lags[5], 2.0, 1e-15)
  T.ok(tostring(R):find("kubo.Response(gaussian", 1, true))
end)

T.case("circular and padded agree at short lags", function()
  -- an AR(1) field: x(t+1) = 0.9 x(t) + noise, long record
  local n, frames = 4, 4000
  local rng = kubo.rng(8)
  local x = kubo.zeros(frames, 1, n, n)
  local prev = rng:normal(n, n)
  for t = 1, frames do
    prev = prev * 0.9 + rng:normal(n, n) * math.sqrt(1 - 0.81)
    x[t][1]:copy_(prev)
  end
  local g = kubo.grid{n = {n, n}}
  local c = kubo.response.gaussian{data = x, grid = g, lags = 6}
  local p = kubo.response.gaussian{data = x, grid = g, lags = 6,
                                   circular = false}
  local err = kubo.response.error(c, p)
  for lag = 1, 6 do
    T.ok(err.max[lag] < 0.02, "lag " .. lag .. ": " .. err.max[lag])
  end
  -- and both see the AR(1) decay 0.9^lag at the site
  T.near(p.values[{6, 1, 1}], 0.9 ^ 5, 0.05)
end)

T.case("HDF5 input equals tensor input", function()
  local file = tmpfile("data")
  local x = kubo.rng(4):normal(40, 3, 2)
  kubo.h5.write(file, "/runs/traj", x)
  local a = kubo.response.gaussian{data = x, lags = 7}
  local b = kubo.response.gaussian{data = {file = file, name = "/runs/traj"},
                                   lags = 7}
  T.ok(a.values:allclose(b.values, 0, 1e-14), "same estimate")
  os.remove(file)
end)

T.case("save writes values, stderr and attributes", function()
  local file = tmpfile("save")
  local R = kubo.response.gaussian{data = traj, lags = 4, dt = h}
  T.eq(R:save(file, "/linear response"), true)
  local v, attrs = kubo.h5.read(file, "/linear response")
  T.ok(v:allclose(R.values, 0, 0), "values round trip")
  T.eq(attrs.kind, "gaussian")
  T.near(attrs.dt, h, 0)
  T.eq(attrs.members, MEMBERS)
  T.eq(attrs.circular, 1)
  local se = kubo.h5.read(file, "/linear response_stderr")
  T.ok(se:allclose(R.stderr, 0, 0), "stderr round trip")
  local S = kubo.response.score{data = traj, score = exact_score, lags = 4}
  T.eq(S:save(file, "score"), true)
  local _, sattrs = kubo.h5.read(file, "score")
  T.near(sattrs.stein_diagonal, S.stein.diagonal, 0)
  T.eq(sattrs.normalized, 0)
  os.remove(file)
  local ok, msg = R:save("/nonexistent-dir/x.h5")
  T.eq(ok, nil)
  T.ok(type(msg) == "string" and #msg > 0, "a message")
end)

T.case("error metrics against a direct computation", function()
  local a = {values = kubo.tensor{{{1, 2}, {3, 4}}, {{0, 1}, {1, 0}},
                                  {{5, 5}, {5, 5}}}}
  local b = {values = kubo.tensor{{{1, 0}, {3, 4}}, {{0, 0}, {0, 0}}}}
  local e = kubo.response.error(a, b, {sites = {{1, 2}, {2, 1}}})
  -- site (1, 2): differences 2, 1 -> sqrt(5); site (2, 1): 0, 1 -> 1
  T.near(e.l2[1], math.sqrt(5), 1e-14)
  T.near(e.l2[2], 1, 1e-14)
  -- lag 1: one difference 2 over 4 points; lag 2: 1, 1 and 0, 0
  T.near(e.rms[1], math.sqrt(4 / 4), 1e-14)
  T.near(e.rms[2], math.sqrt(2 / 4), 1e-14)
  T.near(e.max[1], 2, 0)
  T.near(e.max[2], 1, 0)
  T.eq(e.rms:numel(), 2)                  -- the shorter response
  local f = kubo.response.error(a, b, {lags = 1})
  T.near(f.l2[{1, 2}], 2, 0)              -- a field without sites
  T.near(f.l2[{2, 2}], 0, 0)
end)

T.case("invalid calls raise clear errors", function()
  local g = kubo.grid{n = {4, 4}}
  local x = kubo.rng(1):normal(10, 2, 4, 4)
  T.raises(function() kubo.response.gaussian{data = x} end,
           "option 'lags' is missing")
  T.raises(function() kubo.response.gaussian{data = x, lags = 11} end,
           "lags (11) exceeds the number of frames (10)")
  T.raises(function() kubo.response.gaussian{data = x, lags = 0} end,
           "option 'lags' must be a whole number >= 1")
  T.raises(function() kubo.response.gaussian{data = x, lag = 3} end,
           "unknown option 'lag'")
  T.raises(function() kubo.response.gaussian{data = 3, lags = 2} end,
           "option 'data' must be a tensor")
  T.raises(function()
    kubo.response.gaussian{data = {file = "/nonexistent.h5", name = "x"},
                           lags = 2}
  end, "nonexistent.h5")
  T.raises(function()
    kubo.response.gaussian{data = x, lags = 2, grid = g, site = {5, 1}}
  end, "site index 1 must be a whole number from 1 to 4 (got 5)")
  T.raises(function()
    kubo.response.gaussian{data = x, lags = 2, site = {1, 9}}
  end, "site index 2 must be a whole number from 1 to 4 (got 9)")
  T.raises(function()
    kubo.response.gaussian{data = x, lags = 2, grid = kubo.grid{n = {8, 4}}}
  end, "does not match the grid")
  T.raises(function()
    kubo.response.gaussian{data = kubo.zeros(40, 1, 32, 32), lags = 40}
  end, "needs 40 x 1024 x 1024 numbers, above the limit")
  T.raises(function() kubo.response.score{data = x, lags = 2} end,
           "option 'score' is missing")
  T.raises(function()
    kubo.response.score{data = x, lags = 2, grid = g, score = 5}
  end, "option 'score' must be a function")
  T.raises(function()
    kubo.response.score{data = x, lags = 2, grid = g,
                        score = function(y) return kubo.zeros(3) end}
  end, "the score function returned a tensor of shape (3)")
  T.raises(function()
    kubo.response.score{data = x, lags = 2, grid = g,
                        score = function(y) error("no score here") end}
  end, "no score here")
  T.raises(function()
    kubo.response.conjugate{data = x, lags = 2, grid = g}
  end, "unknown option 'grid'")
  T.raises(function() kubo.response.conjugate{data = x, lags = 2} end,
           "give either 'observable'")
  local nan = kubo.zeros(5, 1, 2)
  nan[{3, 1, 2}] = 0 / 0
  T.raises(function() kubo.response.gaussian{data = nan, lags = 2} end,
           "frame 3")
  local R = kubo.response.gaussian{data = x, lags = 2, grid = g}
  T.raises(function() R:at{1} end, "site has 1 indices, expected 2")
  T.raises(function() kubo.response.error(R, {values = kubo.zeros(2, 3)}) end,
           "dimensions")
  T.raises(function() kubo.response.error(R, R, {lags = 3}) end,
           "lags (3) exceeds")
end)

T.finish()
