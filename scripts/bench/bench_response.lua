-- Times kubo's Gaussian and score response estimators on one trajectory
-- of 32x32 fields. The figure is frames per second of the whole estimate:
-- correlations through spatial and temporal FFTs, the per-wavenumber
-- ratio and the transform back. Each case takes the best of 3 runs of
-- wall-clock time (kubo.clock).
--
--   kubo scripts/bench/bench_response.lua [frames [lags]]
--
-- Defaults: 100000 frames, 100 lags. The data are white noise: the cost
-- does not depend on the values. The score is s(x) = -x, called in
-- batches of 10000 frames, so that the figure is the estimator's cost and
-- not a network's. Memory: about 4.5 x 8 bytes x frames x 1024 for the
-- score estimator (an estimate: the data, the score and two spectra;
-- about 4 GB at 100000 frames).
local kubo = require "kubo"

local frames = tonumber(arg[1]) or 100000
local lags = tonumber(arg[2]) or 100
local n = 32

local clock = kubo.clock or os.clock

local function best_of(runs, fn)
  local best = math.huge
  for _ = 1, runs do
    collectgarbage()
    local start = clock()
    fn()
    best = math.min(best, clock() - start)
  end
  return best
end

local g = kubo.grid{n = {n, n}}
local data = kubo.rng(1):normal(frames, 1, n, n)
local score = function(x) return -x end

print(string.format("kubo response estimators, %dx%d, %d frames, %d lags, "
                    .. "%d thread(s)", n, n, frames, lags, kubo.threads()))
local cases = {
  {"gaussian, circular", function()
    kubo.response.gaussian{data = data, grid = g, lags = lags}
  end},
  {"gaussian, zero-padded", function()
    kubo.response.gaussian{data = data, grid = g, lags = lags,
                           circular = false}
  end},
  {"score, circular, normalised", function()
    kubo.response.score{data = data, grid = g, lags = lags, score = score,
                        normalize = true, batch = 10000}
  end},
}
for _, c in ipairs(cases) do
  local t = best_of(3, c[2])
  print(string.format("  %-30s %12.0f frames/s  (%.3f s)", c[1],
                      frames / t, t))
end
