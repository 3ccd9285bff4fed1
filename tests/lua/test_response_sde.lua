-- kubo.response.perturbation from Lua and the estimators on ensembles of
-- kubo's integrators. The OU SPDE's perturbation response is held to the
-- exact response of its Fourier modes. On the double well the score
-- estimate matches the perturbation estimate and the Gaussian one does
-- not. Statistical checks use fixed seeds.
local kubo = require "kubo"
local T = require "kubo.test"

local N = 32
local LAMBDA, KAPPA, U = 0.04, 2.5e-4, 0.02

-- The reference wavenumber table: the Nyquist index gets k = 0.
local function wavenumber(index)
  if index == N // 2 then return 0 end
  return index < N // 2 and index or index - N
end

-- Exact response dx cells downstream (+x) of the impulse after time tau:
-- (1/N^2) sum over modes of exp(-a_k tau) cos(2 pi ix dx / N - U kx tau).
local function ou_exact(dx, tau)
  local sum = 0
  for iy = 0, N - 1 do
    for ix = 0, N - 1 do
      local kx, ky = wavenumber(ix), wavenumber(iy)
      local k2 = kx * kx + ky * ky
      local a = LAMBDA / (1 + k2) + KAPPA * k2
      sum = sum + math.exp(-a * tau) *
            math.cos(2 * math.pi * ix * dx / N - U * kx * tau)
    end
  end
  return sum / (N * N)
end

T.case("ou perturbation matches exact table", function()
  -- a linear system's perturbed-minus-control difference does not
  -- depend on the noise, so one member and one block suffice
  local m = kubo.models.ou{}
  local sim = kubo.integrator{model = m, method = "rk4", dt = 1 / 32,
                              members = 1, seed = 3}
  sim:advance(32)
  local R = kubo.response.perturbation{integrator = sim, site = {1, 1},
                                       delta = 1 / 16, lags = 51,
                                       every = 32}
  T.eq(R.kind, "perturbation")
  T.eq(R.grid, true)
  T.eq(R.members, 1)
  T.eq(R.stderr, nil)
  T.near(R.dt, 1, 1e-15)
  T.near(R:lags()[51], 50, 1e-12)
  T.eq(sim:step_count(), 32)
  for _, tau in ipairs{0, 5, 10, 20, 30, 50} do
    for dx = 0, 3 do
      T.near(R.values[{tau + 1, 1, dx + 1}], ou_exact(dx, tau), 1e-4,
             string.format("R(%d, 1) at tau %d", dx + 1, tau))
    end
  end
  local at = R:at{1, 2}
  T.near(at[11], ou_exact(1, 10), 1e-4)
end)

T.case("double well: score matches perturbation", function()
  local m = kubo.models.double_well{eps = 0.4}
  local sim = kubo.integrator{model = m, method = "euler_maruyama",
                              dt = 0.01, members = 64, seed = 5}
  sim:advance(2000)
  local lags = 40
  local Rp = kubo.response.perturbation{integrator = sim, site = {1},
                                        delta = 0.1, lags = lags,
                                        every = 10, resets = 10}
  local traj = sim:run{steps = 15000, every = 10}
  T.eq(traj:size(1), 1500)
  local Rs = kubo.response.score{data = traj, lags = lags, site = {1},
                                 score = function(x) return m:score(x) end,
                                 circular = false, dt = 0.1}
  local Rg = kubo.response.gaussian{data = traj, lags = lags, site = {1},
                                    circular = false, dt = 0.1}
  T.eq(Rs.values:dim(), 2)
  T.eq(Rg.values:size(2), 1)
  T.near(Rp.dt, 0.1, 1e-15)
  -- lag by lag within 5 combined standard errors plus 0.02 for the
  -- O(delta) and O(dt) biases of the two methods
  for lag = 1, lags do
    local se = math.sqrt(Rs.stderr[{lag, 1}] ^ 2 + Rp.stderr[{lag, 1}] ^ 2)
    T.near(Rs.values[{lag, 1}], Rp.values[{lag, 1}], 5 * se + 0.02,
           "lag " .. lag - 1)
  end
  local es = kubo.response.error(Rs, Rp, {sites = {{1}}}).l2[1]
  local eg = kubo.response.error(Rg, Rp, {sites = {{1}}}).l2[1]
  print(string.format("  l2 error over %d lags: score %.3f, Gaussian %.3f",
                      lags, es, eg))
  -- the Gaussian estimate misses the response visibly
  T.ok(eg > 3 * es, "Gaussian error " .. eg .. ", score error " .. es)
  -- Stein: S(0) = 1 within 5 standard errors (Rs.stderr at lag 0 is the
  -- spread of S(0) itself)
  T.near(Rs.stein.diagonal, 1, 5 * Rs.stderr[{1, 1}] + 0.02)
end)

T.case("perturbation invalid calls", function()
  local sim = kubo.integrator{model = kubo.models.double_well{},
                              dt = 0.01, members = 2}
  T.raises(function()
    kubo.response.perturbation{site = {1}, delta = 0.1, lags = 2}
  end, "option 'integrator' must be a kubo.Integrator (got nil)")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, site = {2}, delta = 0.1,
                               lags = 2}
  end, "site index 1 must be a whole number from 1 to 1 (got 2)")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, lags = 2}
  end, "option 'delta' is missing")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, delta = 0, lags = 2}
  end, "delta must be finite and non-zero")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, delta = 0.1, lags = 2,
                               every = 0}
  end, "option 'every' must be a whole number >= 1")
  T.raises(function()
    kubo.response.perturbation{integrator = sim, delta = 0.1, lags = 2,
                               reset = 3}
  end, "unknown option 'reset'")
end)

T.finish()
