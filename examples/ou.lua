-- The Ornstein-Uhlenbeck SPDE, the reference experiment with Gaussian
-- statistics, where every estimator must agree with the exact response:
--
--   du = [-lambda Sigma u + kappa lap u - A du/dx] dt
--        + eps Sigma^(1/2) dW,      Sigma = (1 - lap)^-1,
--
-- lambda = 0.04, kappa = 2.5e-4, A = 0.02, eps^2 = 0.004 on a 32 x 32
-- periodic grid, RK4 with dt = 1/32. Each Fourier mode k is linear with
-- drift eigenvalue -(a_k + i A kx), a_k = lambda/(1 + |k|^2) +
-- kappa |k|^2, so the response to an impulse at x = 0, y = 0 is
--
--   R(x, t) = N^-2 sum_k exp(-a_k t - i A kx t + i k.x),
--
-- with the reference's wavenumber table, in which the Nyquist index
-- counts as k = 0 in a_k and kx (its basis function stays (-1)^n). The
-- report adds this exact response to the figure and tabulates every
-- estimator's error against it.
--
--   kubo examples/ou.lua                       quick profile
--   kubo examples/ou.lua --set profile=paper   reference sizes
--
-- Profiles as in allen_cahn.lua: "quick" (the default, minutes on 2
-- cores), "paper" (the reference sizes, with 10 restarts of 100 time
-- units for the dynamical response) and "tiny" (a smoke test).

local kubo = require "kubo"
local reference = require "reference_study"

local MODEL = {lambda = 0.04, kappa = 2.5e-4, advection = 0.02,
               eps2 = 0.004}

local profiles = {
  quick = {
    n = 32, dt = 1 / 32, model = MODEL,
    members = 64, spinup = 200, length = 500, frame_every = 32,
    snapshot_every = 320, eval_frames = 400, data_seed = 1234,
    circular = false,
    stein_floor = 0.03,
    dyn_members = 128, resets = 20, lags = 50, delta = 1 / 16,
    dyn_seed = 4321,
    net = "local", channels = 32, depth = 4, embed = 64,
    unet_channels = {32, 64, 128, 256}, blocks = 8,
    train_steps = 2500, epochs = 0, batch = 32, lr = 5e-4, warmup = 0,
    ema = 0.999, noise_range = "response", sigma_max = "auto",
    scale = 0.1, seed = 1,
  },
  paper = {
    n = 32, dt = 1 / 32, model = MODEL,
    members = 128, spinup = 1000, length = 2000, frame_every = 32,
    snapshot_every = 320, eval_frames = 2000, data_seed = 1234,
    circular = true,
    stein_floor = 0.0,
    dyn_members = 128, resets = 10, lags = 100, delta = 1 / 16,
    dyn_seed = 4321,
    net = "unet", channels = 32, depth = 4, embed = 256,
    unet_channels = {32, 64, 128, 256}, blocks = 8,
    train_steps = 0, epochs = 500, batch = 32, lr = 2e-4, warmup = 5000,
    ema = 0.999, noise_range = "full", sigma_max = "auto",
    scale = 1 / 40, seed = 1,
  },
  tiny = {
    n = 16, dt = 1 / 32, model = MODEL,
    members = 4, spinup = 2, length = 12, frame_every = 32,
    snapshot_every = 32, eval_frames = 8, data_seed = 1234,
    circular = false,
    stein_floor = 0.03,
    dyn_members = 4, resets = 2, lags = 6, delta = 1 / 16,
    dyn_seed = 4321,
    net = "local", channels = 4, depth = 1, embed = 8,
    unet_channels = {4, 8}, blocks = 1,
    train_steps = 10, epochs = 0, batch = 8, lr = 5e-4, warmup = 0,
    ema = 0.999, noise_range = "response", sigma_max = "auto",
    scale = 0.1, seed = 1,
  },
}

-- Returns the wavenumber of FFT index idx (0-based) on n points in the
-- reference's convention: the Nyquist index n/2 counts as 0.
local function wavenumber(idx, n)
  if idx < n // 2 then return idx end
  if idx == n // 2 then return 0 end
  return idx - n
end

-- Returns the exact response (lags, n, n) to an impulse at x = 0, y = 0,
-- summed in two passes: over ky into A(kx, y), then over kx.
local function exact_response(p)
  local n, m = p.n, p.model
  local lag_time = p.frame_every * p.dt
  local out = kubo.zeros(p.lags, n, n)
  local two_pi_n = 2 * math.pi / n
  for lag = 1, p.lags do
    local tau = (lag - 1) * lag_time
    local a_re, a_im = {}, {}
    for ix = 0, n - 1 do
      local kx = wavenumber(ix, n)
      local decay = {}
      for iy = 0, n - 1 do
        local ky = wavenumber(iy, n)
        local k2 = kx * kx + ky * ky
        decay[iy] = math.exp(-(m.lambda / (1 + k2) + m.kappa * k2) * tau)
      end
      a_re[ix], a_im[ix] = {}, {}
      for y = 0, n - 1 do
        local re, im = 0, 0
        for iy = 0, n - 1 do
          local phase = two_pi_n * iy * y
          re = re + decay[iy] * math.cos(phase)
          im = im + decay[iy] * math.sin(phase)
        end
        a_re[ix][y], a_im[ix][y] = re, im
      end
    end
    for y = 0, n - 1 do
      for x = 0, n - 1 do
        local sum = 0
        for ix = 0, n - 1 do
          local phase = two_pi_n * ix * x
                        - m.advection * wavenumber(ix, n) * tau
          sum = sum + a_re[ix][y] * math.cos(phase)
                    - a_im[ix][y] * math.sin(phase)
        end
        out[{lag, y + 1, x + 1}] = sum / (n * n)
      end
    end
  end
  return out
end

reference.run{
  name = "ou", label = "OU", model = "ou",
  params = reference.profile_params(profiles),
  snapshot_title = "snapshot u(x, y)", cblabel = "u",
  exact = exact_response,
}
