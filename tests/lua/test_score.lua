-- kubo.score from Lua: training options, the Score object, saving and
-- resuming to the same bits, HDF5 data, analytic and Gaussian scores,
-- sampling, diagnostics and the errors of bad calls.

local kubo = require "kubo"
local T = require "kubo.test"

local tmp = os.tmpname()
os.remove(tmp)
local ckpt, saved, h5file = tmp .. "_ckpt.h5", tmp .. "_saved.h5",
                            tmp .. "_data.h5"

-- 400 samples of a 2-D Gaussian vector with covariance [[1, .5], [.5, .5]]
local function vectors(n, seed)
  local rng = kubo.rng(seed)
  local a, b = rng:normal(n), rng:normal(n)
  local x = kubo.zeros(n, 2)
  for i = 1, n do
    x[{i, 1}] = 1 + a[i]
    x[{i, 2}] = -0.5 + 0.5 * a[i] + 0.5 * b[i]
  end
  return x
end

local function small_net()
  return kubo.nn.mlp{sizes = {2, 16, 2}, embed = 8, seed = 4}
end

local function options(extra)
  local o = {net = small_net(), data = vectors(400, 1), steps = 30,
             batch = 32, optimizer = {lr = 1e-2, warmup = 5}, seed = 5}
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function same(a, b)
  return a:equal(b)
end

T.case("score train fields", function()
  local s = kubo.score.train(options())
  T.eq(s.kind, "network")
  T.eq(s.steps, 30)
  T.eq(s.noise_range_name, "response")
  T.eq(s.noise_range[1], 1e-5)
  T.eq(s.noise_range[2], 0.25)
  T.eq(s.sigma_min, 0.01)
  T.ok(s.sigma_max > 1, "sigma_max auto")
  T.eq(s.scale, 1)
  T.eq(s.output, "epsilon")
  T.eq(#s.shape, 1)
  T.eq(s.shape[1], 2)
  -- 320 training samples in batches of 32: 10 steps an epoch
  T.eq(s.epochs, 3)
  T.eq(#s.loss_history.train, 3)
  T.eq(#s.loss_history.test, 3)
  T.ok(tostring(s):find("network mlp, 30 steps", 1, true))
end)

T.case("score call shapes", function()
  local s = kubo.score.train(options())
  local x = vectors(12, 2)
  local y = s(x)
  T.eq(y:dtype(), "float64")
  T.eq(y:size(1), 12)
  -- any leading dimensions, float32 kept
  local z = s(x:view(3, 4, 2):to("float32"))
  T.eq(z:dtype(), "float32")
  T.eq(z:size(1), 3)
  T.eq(z:size(2), 4)
  T.near(z[{2, 1, 1}], y[{5, 1}], 1e-5)
  local w = s:at(x, 0.5)
  T.ok(not same(w, y), "another noise level gives other values")
end)

T.case("score save and load", function()
  local s = kubo.score.train(options())
  s:save(saved)
  local l = kubo.score.load(saved)
  local x = vectors(20, 3)
  T.ok(same(s(x), l(x)))
  T.eq(l.steps, 30)
  T.eq(#l.loss_history.train, 3)
  T.eq(l.loss_history.train[2], s.loss_history.train[2])
end)

T.case("score resume same bits", function()
  local x = vectors(20, 3)
  local full = kubo.score.train(options())
  -- stop in the middle of the second epoch, then continue
  kubo.score.train(options{steps = 13, checkpoint = ckpt})
  local resumed = kubo.score.train(options{resume = ckpt})
  T.ok(same(full(x), resumed(x)))
  T.eq(resumed.loss_history.test[3], full.loss_history.test[3])
  -- resume = true takes the checkpoint file
  kubo.score.train(options{steps = 25, checkpoint = ckpt})
  local again = kubo.score.train(options{checkpoint = ckpt, resume = true})
  T.ok(same(full(x), again(x)))
end)

T.case("score data from file", function()
  local data = vectors(400, 1)
  kubo.h5.write(h5file, "/snapshots", data)
  local a = kubo.score.train(options())
  local b = kubo.score.train(options{data = {file = h5file,
                                             dataset = "snapshots"}})
  local x = vectors(10, 4)
  T.ok(same(a(x), b(x)))
end)

T.case("score test data split", function()
  local data = vectors(400, 1)
  local s = kubo.score.train(options{data = data})
  T.eq(s:test_data(data):size(1), 80)
  T.eq(s:train_data(data):size(1), 320)
  T.raises(function() s:test_data(vectors(10, 1)) end,
           "the data have 10 samples, but the score was trained on 400")
end)

T.case("score progress function", function()
  local calls = {}
  kubo.score.train(options{progress = function(p) calls[#calls + 1] = p end})
  T.eq(#calls, 3)
  T.eq(calls[3].step, 30)
  T.eq(calls[3].epoch, 3)
  T.ok(calls[1].train_loss > 0)
  T.raises(function()
    kubo.score.train(options{progress = function() error("stop here") end})
  end, "the progress function failed")
end)

T.case("score threads same bits", function()
  local g = kubo.grid{n = {8, 8}, nyquist = "zero_k"}
  local x = g:random_field(kubo.rng(2), function(k2) return 1 / (1 + k2) end,
                           300)
  local before = kubo.threads()
  local function run(n)
    kubo.threads(n)
    local net = kubo.nn.local_score{channels = 8, depth = 2, embed = 16,
                                    seed = 1}
    local s = kubo.score.train{net = net, data = x, steps = 10, batch = 64}
    return s(x)
  end
  local one, two = run(1), run(2)
  kubo.threads(before)
  T.ok(one:equal(two), "1 and 2 threads give the same bits")
end)

T.case("score gaussian exact", function()
  local x = vectors(2000, 6)
  local g = kubo.score.gaussian(x)
  T.eq(g.kind, "gaussian")
  local d = g:diagnose{data = x}
  -- Stein: -<x' s^T> = (n - 1)/n I for the fit to the same data
  T.near(d.stein.deviation, 1 / 2000, 1e-9)
  T.near(d.loss.value, d.loss.gaussian, 4 * d.loss.stderr)
  -- sampling with the exact score reproduces the covariance (standard
  -- error of a variance with 2000 samples: 3.2 %)
  local smp = kubo.score.sample{score = g, n = 2000, steps = 200, seed = 3}
  T.eq(smp:size(1), 2000)
  local c1 = smp:slice(2, 1, 1):var()
  local c2 = smp:slice(2, 2, 2):var()
  T.near(c1, 1.0, 0.13)
  T.near(c2, 0.5, 0.065)
end)

T.case("score gaussian circulant field", function()
  local g = kubo.grid{n = {8, 8}}
  local rng = kubo.rng(2)
  local fields = g:random_field(rng, function(k2) return 1 / (1 + k2) end,
                                500)
  local s = kubo.score.gaussian(fields)
  local d = s:diagnose{data = fields}
  T.eq(d.stein.values:size(1), 8)
  T.eq(d.stein.values:size(2), 5)
  T.near(d.stein.shells[1], 1, 0.05)
  T.near(d.stein.shells[3], 1, 0.05)
end)

T.case("score analytic double well", function()
  local m = kubo.models.double_well{eps = 0.5}
  local a = kubo.score.analytic(m)
  local x = kubo.tensor{{-1.3}, {0.2}, {0.9}}
  local s = a(x)
  for i = 1, 3 do
    local v = x[{i, 1}]
    T.near(s[{i, 1}], -(v ^ 3 - v) / 0.25, 1e-12)
  end
  local a4 = kubo.score.analytic(m, {scale = 0.25})
  T.near(a4(x * 0.25)[{1, 1}], 4 * s[{1, 1}], 1e-11)
  T.raises(function() a:at(x, 0.1) end, "known at sigma = 0 only")
  T.raises(function() kubo.score.sample{score = a, n = 2} end,
           "an analytic score is known at sigma = 0 only")
end)

T.case("score objects in response estimators", function()
  local m = kubo.models.double_well{eps = 0.5}
  local sim = kubo.integrator{model = m, method = "euler_maruyama",
                              members = 4, dt = 0.01, seed = 3}
  sim:advance(500)
  local traj = sim:run{steps = 2000, every = 10}
  local frames = traj:reshape(traj:size(1) * traj:size(2), 1)
  local Ra = kubo.response.score{data = traj, score = kubo.score.analytic(m),
                                 lags = 5}
  T.eq(Ra.values:size(1), 5)
  -- the Gaussian fit to the same frames satisfies Stein's identity, so
  -- the raw lag-0 response is 1 up to its (n - 1) / n normalisation
  local Rg = kubo.response.score{data = traj,
                                 score = kubo.score.gaussian(frames),
                                 lags = 5}
  T.eq(Rg.values:size(1), 5)
  T.near(Rg.values[{1, 1, 1}], 1, 0.01)
end)

T.case("score bad calls", function()
  T.raises(function() kubo.score.train{data = vectors(10, 1)} end,
           "the net option is required")
  T.raises(function() kubo.score.train(options{data = kubo.zeros(2, 2, 2,
                                                                 2, 2)}) end,
           "data has 5 dimensions, expected (samples, dim)")
  T.raises(function() kubo.score.train(options{data = "x"}) end,
           "data must be a tensor or {file = ..., dataset = ...}")
  T.raises(function() kubo.score.train(options{noise_range = "low"}) end,
           "noise_range must be \"response\", \"full\" or {t_low, t_high}")
  T.raises(function() kubo.score.train(options{noise_range = {0.5, 0.1}})
           end, "0 <= t_low < t_high <= 1")
  T.raises(function() kubo.score.train(options{sigma_max = "big"}) end,
           "sigma_max must be \"auto\" or a number")
  T.raises(function() kubo.score.train(options{epochs = 3}) end,
           "give epochs or steps, not both")
  T.raises(function() kubo.score.train(options{split = 1.5}) end,
           "split must be in (0, 1]")
  T.raises(function() kubo.score.train(options{lr = 1}) end,
           "unknown option 'lr'")
  T.raises(function() kubo.score.train(options{optimizer = {rate = 1}}) end,
           "unknown option 'rate'")
  T.raises(function() kubo.score.train(options{output = "noise"}) end,
           "output must be \"epsilon\" or \"score\"")
  T.raises(function()
    kubo.score.train(options{net = kubo.nn.mlp{sizes = {2, 8, 2}}})
  end, "takes no noise level")
  T.raises(function()
    kubo.score.train(options{data = {file = tmp .. "_none.h5",
                                     dataset = "x"}})
  end, "_none.h5")
  T.raises(function() kubo.score.train(options{resume = tmp .. "_no.h5"}) end,
           "_no.h5")
  kubo.score.train(options{steps = 5, checkpoint = ckpt})
  T.raises(function() kubo.score.train(options{batch = 16, resume = ckpt})
           end, "another batch: 32, not 16")
  local s = kubo.score.train(options{steps = 3})
  T.raises(function() kubo.score.sample{score = s, n = 4} end,
           "noise_range \"response\"")
  T.raises(function() s(kubo.zeros(4, 3)) end, "input has shape (4, 3)")
  T.raises(function() s:at(kubo.zeros(4, 2), 0) end, "needs sigma > 0")
  T.raises(function() kubo.score.load(tmp .. "_missing.h5") end,
           "_missing.h5")
  T.raises(function() kubo.score.analytic(kubo.zeros(2)) end,
           "expected a model")
  T.raises(function() kubo.score.gaussian(vectors(10, 1), {kind = "x"}) end,
           "kind must be \"dense\" or \"circulant\"")
  T.raises(function() s:diagnose{} end, "expected {data = held-out")
  s:free()
  T.raises(function() s(kubo.zeros(4, 2)) end, "attempt to use a freed score")
end)

os.remove(ckpt)
os.remove(saved)
os.remove(h5file)
T.finish()
