-- kubo.models: reference parameters, drifts and analytic scores against
-- formulas evaluated with the grid's own operators, and bad input.

local kubo = require "kubo"
local T = require "kubo.test"

local pi = math.pi

-- Largest |a - b| over all elements.
local function maxdiff(a, b)
  return (a - b):abs():max()
end


local function random_state(g, seed, amplitude)
  local rng = kubo.rng(seed)
  return g:random_field(rng, function(k2) return 1 / (1 + k2) ^ 2 end)
           * (amplitude or 1)
end


T.case("models reference parameters", function()
  local ou = kubo.models.ou{}
  T.eq(ou.kind, "ou")
  T.eq(ou.params.lambda, 0.04)
  T.eq(ou.params.kappa, 2.5e-4)
  T.eq(ou.params.advection, 0.02)
  T.eq(ou.params.eps2, 0.004)
  T.eq(ou:dim(), 1024)
  T.eq(ou:default_dt(), 1 / 32)
  T.eq(ou.grid:nyquist(), "zero_k")

  local ac = kubo.models.allen_cahn{}
  T.eq(ac.params.alpha, 16)

  local ns = kubo.models.navier_stokes{}
  T.eq(ns.params.nu, 1e-5)
  T.eq(ns.params.nu_h, 1e-2)
  T.eq(ns.params.advection, pi)
  T.eq(ns.params.mean_damping, 1)
  T.eq(ns.params.forcing.amplitude, 18.75)
  T.eq(ns.params.forcing.kmax2, 112.5)
  T.eq(ns.params.forcing.phase_diffusivity, 1)
  T.eq(ns.params.forcing.mean_removal, 0.9)
  T.eq(ns:default_dt(), 1 / 128)

  T.eq(kubo.models.double_well{}.params.eps, 0.4)
  T.eq(kubo.models.double_well{}:default_dt(), 0.01)
end)


T.case("models params round trip", function()
  local m = kubo.models.allen_cahn{alpha = 8, kappa = 1e-3}
  local p = m.params
  p.grid = m.grid
  local m2 = kubo.models.allen_cahn(p)
  T.eq(m2.params.alpha, 8)
  T.eq(m2.params.kappa, 1e-3)
end)


-- F(u) = IDFT[S_k DFT(lambda_c u (1 - u^2))] + kappa lap u - U du/dx with
-- lambda_c = alpha / eps2, built here from g:apply, g:laplacian, g:dx.
T.case("allen_cahn drift formula", function()
  local g = kubo.grid{n = {32, 32}, nyquist = "zero_k"}
  local m = kubo.models.allen_cahn{grid = g}
  local u = random_state(g, 1)
  local eps2, lc = 0.004, 16 / 0.004
  local f = (u - u * u * u) * lc
  local want = g:apply(f, function(kx, ky)
    return eps2 / (1 + kx * kx + ky * ky)
  end) + g:laplacian(u) * 2.5e-4 - g:dx(u) * 0.02
  local got = m:drift(u)
  T.ok(maxdiff(got, want) < 1e-10 * want:abs():max(),
       "drift differs by " .. maxdiff(got, want))

  -- a batch gives the same values as single states
  local batch = kubo.zeros(2, 32, 32)
  batch[1]:copy_(u)
  batch[2]:copy_(u * 0.5)
  local gb = m:drift(batch)
  T.eq(maxdiff(gb[1], got), 0)
end)


-- s(u) = (2/N^2) {lambda_c u (1 - u^2) + IDFT[((1 + |k|^2)/eps2)
-- (-kappa |k|^2) DFT(u)]}; at a constant field c it is the cubic
-- 7.8125 c (1 - c^2) per point.
T.case("allen_cahn score formula", function()
  local g = kubo.grid{n = {32, 32}, nyquist = "zero_k"}
  local m = kubo.models.allen_cahn{grid = g}
  local u = random_state(g, 2)
  local eps2, kappa, lc = 0.004, 2.5e-4, 4000
  local lin = g:apply(u, function(kx, ky)
    local k2 = kx * kx + ky * ky
    return (1 + k2) / eps2 * (-kappa * k2)
  end)
  local want = ((u - u * u * u) * lc + lin) * (2 / 1024)
  T.ok(maxdiff(m:score(u), want) < 1e-10 * want:abs():max())

  for _, c in ipairs({-1.5, -0.3, 0.7, 2}) do
    local s = m:score(kubo.full({32, 32}, c))
    T.near(s:get(5, 9), 7.8125 * c * (1 - c * c), 1e-10)
  end
end)


-- The OU score is the Gaussian score -C^-1 u with the stationary
-- covariance per mode c_k = eps2 / (2 (lambda + kappa k^2 (1 + k^2))),
-- so per mode -u_k / (N^2 c_k).
T.case("ou score is the gaussian score", function()
  local g = kubo.grid{n = {16, 16}, nyquist = "zero_k"}
  local m = kubo.models.ou{grid = g}
  local u = random_state(g, 3)
  local want = g:apply(u, function(kx, ky)
    local k2 = kx * kx + ky * ky
    local c = 0.004 / (2 * (0.04 + 2.5e-4 * k2 * (1 + k2)))
    return -1 / (256 * c)
  end)
  T.ok(maxdiff(m:score(u), want) < 1e-10 * want:abs():max())
end)


T.case("ou drift is linear per mode", function()
  local g = kubo.grid{n = {16, 16}, nyquist = "zero_k"}
  local m = kubo.models.ou{grid = g}
  local u = random_state(g, 4)
  local want = g:apply(u, function(kx, ky)
    local k2 = kx * kx + ky * ky
    return -0.04 / (1 + k2) - 2.5e-4 * k2, -0.02 * kx
  end)
  T.ok(maxdiff(m:drift(u), want) < 1e-12 * want:abs():max())
end)


T.case("double_well drift and score", function()
  local m = kubo.models.double_well{eps = 0.5}
  local x = kubo.tensor{{-1.3}, {0.2}, {1}}
  local d, s = m:drift(x), m:score(x)
  for i = 1, 3 do
    local v = x:get(i, 1)
    T.near(d:get(i, 1), v - v ^ 3, 1e-15)
    T.near(s:get(i, 1), -(v ^ 3 - v) / 0.25, 1e-13)
  end
  -- a flat vector counts as one state per value
  T.eq(m:score(kubo.tensor{0.5, 2}):numel(), 2)
end)


-- Sigma from the vectorised Lyapunov equation
-- (I (x) A + A (x) I) vec(Sigma) = -vec(Q), solved here with kubo.solve.
T.case("linear score from lyapunov", function()
  local A = kubo.tensor{{-1, 0.5}, {-0.3, -2}}
  local Q = kubo.tensor{{1, 0.2}, {0.2, 0.5}}
  local m = kubo.models.linear{A = A, Q = Q}
  T.ok(m:has_score())
  local K = kubo.zeros(4, 4)
  for i = 1, 2 do
    for j = 1, 2 do
      for k = 1, 2 do
        -- row (i, j) of vec(A S + S A^T): sum_k A_ik S_kj + S_ik A_jk
        local r = (i - 1) * 2 + j
        K[{r, (k - 1) * 2 + j}] = K:get(r, (k - 1) * 2 + j) + A:get(i, k)
        K[{r, (i - 1) * 2 + k}] = K:get(r, (i - 1) * 2 + k) + A:get(j, k)
      end
    end
  end
  local q = kubo.tensor{-Q:get(1, 1), -Q:get(1, 2), -Q:get(2, 1),
                        -Q:get(2, 2)}
  local sv = kubo.solve(K, q)
  local S = kubo.tensor{{sv:get(1), sv:get(2)}, {sv:get(3), sv:get(4)}}
  local x = kubo.tensor{0.7, -1.1}
  local want = -kubo.solve(S, x)
  T.ok(maxdiff(m:score(x), want) < 1e-12)
end)


T.case("linear unstable has no score", function()
  local m = kubo.models.linear{A = {{0.1}}, Q = {{1}}}
  T.ok(not m:has_score())
  T.raises(function() m:score(kubo.tensor{1}) end, "A is not stable")
end)


T.case("sde drift written in lua", function()
  local m = kubo.models.sde{dim = 2, noise = {0.1, 0.2},
    drift = function(x, dxdt)
      dxdt[1] = -x[1]
      dxdt[2] = x[1] - 2 * x[2]
    end}
  local d = m:drift(kubo.tensor{{1, 2}, {3, 4}})
  T.eq(d:get(1, 1), -1)
  T.eq(d:get(1, 2), -3)
  T.eq(d:get(2, 2), -5)
  local r = kubo.models.sde{dim = 1, drift = function(x) return -x * 2 end}
  T.eq(r:drift(kubo.tensor{{3}}):get(1, 1), -6)
  local bad = kubo.models.sde{dim = 1, drift = function() error("boom") end}
  T.raises(function() bad:drift(kubo.tensor{{1}}) end,
           "sde: the drift function failed")
end)


T.case("navier_stokes forced modes", function()
  local m = kubo.models.navier_stokes{}
  local modes = m:forced_modes()
  T.eq(m:hidden_size(), 349)
  T.eq(modes:size(1), 349)
  for i = 1, 349 do
    local kx, ky = modes:get(i, 1), modes:get(i, 2)
    T.ok(kx * kx + ky * ky <= 112.5)
    T.ok(math.abs(kx) < 16 and math.abs(ky) < 16)
  end
end)


-- On one shell the nonlinear term vanishes, so the drift is the linear
-- part D_k zeta^ - U dzeta/dx.
T.case("navier_stokes drift on one shell", function()
  local g = kubo.grid{n = {32, 32}, nyquist = "zero_k"}
  local m = kubo.models.navier_stokes{grid = g, forcing = false}
  local x, y = g:x(), g:y()
  local u = (x * 3 + y * 4):map(math.cos) + (x * 5):map(math.sin) * 0.5
  local want = g:apply(u, function(kx, ky)
    local k2 = kx * kx + ky * ky
    if k2 == 0 then return 0 end
    return -1e-2 / k2 ^ 2 - 1e-5 * k2 ^ 2
  end) - g:dx(u) * pi
  T.ok(maxdiff(m:drift(u), want) < 1e-11)
end)


T.case("models bad input", function()
  T.raises(function() kubo.models.ou{lamda = 1} end,
           "unknown option 'lamda'")
  T.raises(function() kubo.models.ou{lambda = "x"} end,
           "lambda must be a number")
  T.raises(function() kubo.models.ou{eps2 = 0} end, "eps2 must be > 0")
  T.raises(function() kubo.models.allen_cahn{kappa = -1} end,
           "kappa must be >= 0")
  T.raises(function() kubo.models.navier_stokes{grid = kubo.grid{n = {16}}}
           end, "the grid must be 2-D")
  T.raises(function() kubo.models.navier_stokes{forcing = {amp = 1}} end,
           "unknown option 'amp'")
  T.raises(function() kubo.models.navier_stokes{forcing = 3} end,
           "forcing must be a table or false")
  T.raises(function() kubo.models.linear{A = {{-1}}} end,
           "noise covariance Q is missing")
  T.raises(function() kubo.models.linear{A = {{-1, 0}}, Q = {{1}}} end,
           "A must be a square matrix")
  T.raises(function() kubo.models.linear{A = {{-1}}, Q = {{-1}}} end,
           "positive semi-definite")
  T.raises(function() kubo.models.sde{dim = 2} end,
           "drift must be a function")
  T.raises(function() kubo.models.sde{drift = function() end} end,
           "dim is missing")
  T.raises(function() kubo.models.double_well{dim = 1.5} end,
           "dim must be a whole number")
  local ns = kubo.models.navier_stokes{}
  T.raises(function() ns:score(kubo.zeros(32, 32)) end,
           "navier_stokes: the model has no analytic score")
  local ac = kubo.models.allen_cahn{}
  T.raises(function() ac:drift(kubo.zeros(16, 16)) end,
           "expected states of shape (..., 32, 32)")
end)

T.finish()
