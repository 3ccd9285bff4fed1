-- The 1-D double well dx = -(x^3 - x) dt + eps sqrt(2) dW, eps = 0.4.
-- Its stationary density exp(-V(x)/eps^2), V = x^4/4 - x^2/2, has two
-- peaks, so the Gaussian estimate C(t) C(0)^-1, which follows the slow
-- hops between the wells, overestimates the response, while the score
-- estimate -<x(t) s(x(0))> with s(x) = -(x^3 - x)/eps^2 follows the
-- fast relaxation inside a well.
--
--   kubo examples/double_well.lua                 (under a minute)
--   kubo examples/double_well.lua --set train_steps=4000 --set seed=2
--
-- The study simulates an ensemble and estimates the dynamical
-- (perturbation) response of x to an impulse in x. It trains a small
-- noise-conditioned MLP on samples of the stationary density, then
-- estimates the response with the Gaussian formula and with the exact
-- and the learned score. The report gives each estimate's error against
-- the dynamical response and draws a figure. Outputs go to
-- studies/double_well/ (examples/README.md describes the files).
--
-- The network outputs the score scaled by sqrt(sigma^2 + var(x))
-- (output = "score"). With the reference's parametrisation (output =
-- "epsilon", s = net / sigma) the learned score of this 1-D density came
-- out up to twice too steep after the same training.

local kubo = require "kubo"

local params = {
  eps = 0.4,
  dt = 0.01,
  members = 1000,
  spinup = 10,          -- time units before recording
  length = 200,         -- time units recorded
  frame_every = 10,     -- steps between recorded frames (0.1 time units)
  sample_every = 100,   -- steps between training samples (1 time unit)
  data_seed = 1234,
  lags = 100,           -- frames of response: lags 0 .. 9.9 time units
  delta = 0.1,          -- impulse size of the perturbation run (10 dt)
  resets = 20,          -- perturbation blocks per member
  dyn_seed = 4321,
  width = 64,           -- hidden units per layer of the score MLP
  train_steps = 8000,
  batch = 256,
  lr = 3e-3,
  output = "score",     -- network output: "score" or "epsilon"
  seed = 1,             -- training seed
}

-- Returns a table of the values of a 1-D tensor.
local function values_of(t)
  local out = {}
  for i = 1, t:numel() do out[i] = t[i] end
  return out
end

-- Returns the plain 2-norm of a - b over the first n entries, and the
-- largest |a - b| there.
local function l2_and_max(a, b, n)
  local sum, top = 0, 0
  for i = 1, n do
    local d = math.abs(a[i] - b[i])
    sum = sum + d * d
    top = math.max(top, d)
  end
  return math.sqrt(sum), top
end

local function make_model(p)
  return kubo.models.double_well{eps = p.eps}
end

local function exact_score(p)
  local m = make_model(p)
  return function(x) return m:score(x) end
end

-- The estimators of the report, in table order: output name of the
-- "respond" stage and label.
local ESTIMATORS = {
  {"gaussian", "Gaussian C(t) C(0)^-1"},
  {"analytic_raw", "exact score, raw"},
  {"analytic", "exact score, normalised"},
  {"score_raw", "learned score, raw"},
  {"score", "learned score, normalised"},
}

-- Returns the histogram of the values of t on `bins` bins over [lo, hi]
-- as a density (bin centres, density).
local function histogram(t, bins, lo, hi)
  local counts = {}
  for b = 1, bins do counts[b] = 0 end
  local n = t:numel()
  local flat = t:reshape(n)
  local width = (hi - lo) / bins
  for i = 1, n do
    local b = math.floor((flat[i] - lo) / width) + 1
    if b >= 1 and b <= bins then counts[b] = counts[b] + 1 end
  end
  local x, y = {}, {}
  for b = 1, bins do
    x[b] = lo + (b - 0.5) * width
    y[b] = counts[b] / (n * width)
  end
  return x, y
end

-- Returns the normalised stationary density exp(-V(x)/eps^2) at x.
local function exact_density(x, eps)
  local y, total = {}, 0
  local h = x[2] - x[1]
  for i, v in ipairs(x) do
    y[i] = math.exp(-(v ^ 4 / 4 - v ^ 2 / 2) / eps ^ 2)
    total = total + y[i] * h
  end
  for i = 1, #y do y[i] = y[i] / total end
  return y
end

-- Computes the errors against the dynamical response and draws the
-- figure: the stationary density, the exact and learned scores, the
-- responses and their errors over lags.
local function report(p, ctx)
  local dyn = ctx:input("perturb")
  local est = ctx:input("respond")
  local trained = ctx:input("train")
  local reference = values_of(dyn.values)
  local lags = {}
  for i = 1, p.lags do lags[i] = (i - 1) * p.frame_every * p.dt end

  local errors, curves, error_curves = {}, {}, {}
  for _, e in ipairs(ESTIMATORS) do
    local values = values_of(est[e[1]])
    local l2, top = l2_and_max(values, reference, p.lags)
    errors[e[1]] = {l2 = l2, max = top}
    local diff = {}
    for i = 1, p.lags do diff[i] = math.abs(values[i] - reference[i]) end
    error_curves[e[1]] = diff
  end
  local stderr = values_of(dyn.stderr)
  local own = 0
  for i = 1, p.lags do own = own + stderr[i] ^ 2 end

  -- The figure shows the normalised score estimates; the raw ones are
  -- in the table.
  for _, name in ipairs{"gaussian", "analytic", "score"} do
    curves[name] = {values_of(est[name])}
  end
  curves.dynamical = {reference}
  local panels = kubo.plot.response_panels{
    lags = lags, curves = curves, stderr = {dynamical = {stderr}},
    errors = {gaussian = {rms = error_curves.gaussian,
                          max = error_curves.gaussian},
              analytic = {rms = error_curves.analytic,
                          max = error_curves.analytic},
              score = {rms = error_curves.score, max = error_curves.score}},
    entries = {"response of x to an impulse in x"}, xlabel = "lag (time)",
    labels = {analytic = "exact score", score = "learned score (MLP)"}}
  -- In 1-D the rms and max errors coincide: keep one error panel.
  panels[#panels] = nil
  panels[#panels].title = "|error| vs dynamical"
  -- room above the curves for the legend
  panels[1].yrange = {0, 1.45}

  local hx, hy = histogram(ctx:input("simulate").samples, 60, -2, 2)
  local score_x = values_of(trained.x)
  local exact_s = {}
  for i, v in ipairs(score_x) do exact_s[i] = -(v ^ 3 - v) / p.eps ^ 2 end
  table.insert(panels, 1, {
    kind = "lines", title = "score s(x)", xlabel = "x",
    series = {{label = "exact", x = score_x, y = exact_s, style = "lines",
               color = "#0072B2", dash = "1", width = 2},
              {label = "learned", x = score_x, y = values_of(trained.learned),
               style = "lines", color = "#D62728", dash = "(12,4,3,4)",
               width = 2}}})
  table.insert(panels, 1, {
    kind = "lines", title = "stationary density", xlabel = "x",
    yrange = {0, 0.95},
    series = {{label = "samples", x = hx, y = hy, style = "steps",
               color = "#777777", dash = "1"},
              {label = "exp(-V/eps^2)", x = hx,
               y = exact_density(hx, p.eps), style = "lines",
               color = "#000000", dash = "(10,5)", width = 2}}})
  local figure = ctx.file:gsub("%.h5$", ".png")
  kubo.plot.panels{file = figure, rows = 1, cols = #panels, panels = panels,
                   size = {380 * #panels, 340}}
  local responses = {dynamical = {values = dyn.values,
                                  stderr = dyn.stderr}}
  for _, e in ipairs(ESTIMATORS) do
    responses[e[1]] = {values = est[e[1]]}
  end
  return {errors = errors, stderr_l2 = math.sqrt(own), figure = figure,
          realisations = dyn.realisations, stein = est.stein,
          responses = responses, lags = kubo.tensor(lags)}
end

local function print_report(p, r)
  print(string.format("\nDouble well, eps = %g: response of x to an "
                      .. "impulse in x over lags 0..%g time units",
                      p.eps, (p.lags - 1) * p.frame_every * p.dt))
  print(string.format("%-30s %9s %9s", "estimator", "l2 error",
                      "max error"))
  print(string.format("%-30s %9.4f %9s", "dynamical, own standard error",
                      r.stderr_l2, ""))
  for _, e in ipairs(ESTIMATORS) do
    local err = r.errors[e[1]]
    print(string.format("%-30s %9.4f %9.4f", e[2], err.l2, err.max))
  end
  print(string.format("errors against the dynamical response (%d "
                      .. "realisations); l2 is the plain 2-norm over the "
                      .. "%d lags", r.realisations, p.lags))
  print(string.format("Stein check, raw S(0) (1 for an exact score): "
                      .. "exact %.4f, learned %.4f", r.stein.analytic,
                      r.stein.learned))
  print("figure: " .. r.figure)
end

local study = kubo.study{
  name = "double_well",
  params = params,
  stages = {
    {name = "simulate", version = 1,
     uses = {"eps", "dt", "members", "spinup", "length", "frame_every",
             "sample_every", "data_seed"},
     run = function(p, ctx)
       local sim = kubo.integrator{model = make_model(p), method = "rk4",
                                   dt = p.dt, members = p.members,
                                   seed = p.data_seed}
       sim:advance(math.floor(p.spinup / p.dt + 0.5))
       local steps = math.floor(p.length / p.dt + 0.5)
       ctx:log("%d members x %d steps", p.members, steps)
       local traj, samples = sim:run{
         steps = steps, every = p.frame_every,
         snapshots = {every = p.sample_every}, progress = true}
       local count = samples:size(1) * samples:size(2)
       return {traj = traj, samples = samples:reshape(count, 1)}
     end},

    {name = "perturb", version = 1, inputs = {},
     uses = {"eps", "dt", "members", "spinup", "frame_every", "lags",
             "delta", "resets", "dyn_seed"},
     run = function(p)
       local sim = kubo.integrator{model = make_model(p), method = "rk4",
                                   dt = p.dt, members = p.members,
                                   seed = p.dyn_seed}
       sim:advance(math.floor(p.spinup / p.dt + 0.5))
       local R = kubo.response.perturbation{
         integrator = sim, site = {1}, delta = p.delta, lags = p.lags,
         every = p.frame_every, resets = p.resets}
       return {values = R:at({1}), stderr = R.stderr:reshape(p.lags),
               realisations = R.members}
     end},

    {name = "train", version = 1, inputs = {"simulate"},
     uses = {"width", "train_steps", "batch", "lr", "output", "seed"},
     run = function(p, ctx)
       local samples = ctx:input("simulate").samples
       local net = kubo.nn.mlp{sizes = {1, p.width, p.width, 1},
                               activation = "swish", embed = 16,
                               seed = p.seed}
       local file = ctx.file:gsub("%.h5$", ".score.h5")
       local s = kubo.score.train{
         net = net, data = samples, noise_range = "response",
         steps = p.train_steps, batch = p.batch,
         optimizer = {lr = p.lr}, ema = 0.999, seed = p.seed,
         output = p.output, progress = true, checkpoint = file,
         resume = true}
       -- the learned score on a grid of x, for the figure
       local x = kubo.linspace(-2, 2, 81):reshape(81, 1)
       return {score_file = file, x = x:reshape(81),
               learned = s(x):reshape(81)}
     end},

    {name = "respond", version = 2, inputs = {"simulate", "train"},
     uses = {"eps", "lags", "frame_every", "dt"},
     run = function(p, ctx)
       local traj = ctx:input("simulate").traj
       local learned = kubo.score.load(ctx:input("train").score_file)
       local dt = p.frame_every * p.dt
       -- Returns the raw estimate -<x(t) s(x(0))>, the normalised one
       -- (divided by its lag-0 value, which is what normalize = true
       -- computes for one component) and the lag-0 value.
       local function estimate(score)
         local R = kubo.response.score{data = traj, score = score,
                                       lags = p.lags, dt = dt}
         local raw = R:at({1, 1})
         return raw, raw / raw[1], raw[1]
       end
       local Rg = kubo.response.gaussian{data = traj, lags = p.lags, dt = dt}
       local out = {gaussian = Rg:at({1, 1}), stein = {}}
       out.analytic_raw, out.analytic, out.stein.analytic =
         estimate(exact_score(p))
       out.score_raw, out.score, out.stein.learned = estimate(learned)
       return out
     end},

    {name = "report", version = 3,
     inputs = {"simulate", "perturb", "train", "respond"},
     uses = {"eps", "lags", "frame_every", "dt"},
     run = function(p, ctx)
       return report(p, ctx)
     end},
  },
}
study:run()
print_report(study.params, study:output("report"))
