-- reference_study: the stages shared by the three reference experiments
-- (ou.lua, allen_cahn.lua, navier_stokes.lua). This file is a module,
-- not a script: each example requires it and describes its system with
-- a spec (see M.new).
--
-- Stages, each cached by kubo.study under a key of the parameters it
-- uses (see examples/README.md for the files they write):
--   simulate   spin up an ensemble, then record snapshots for training
--              and, over the last eval_frames frames, a time series for
--              the response estimates (an HDF5 file beside the stage's)
--   perturb    the dynamical response: a second ensemble with the same
--              spin-up, and a perturbed copy of it sharing its noise,
--              restarted from the control every lags frames
--   train      a score network on the snapshots (denoising score
--              matching at noise levels near sigma_min)
--   respond    the Gaussian, analytic-score (raw and normalised) and
--              learned-score estimates from the time series
--   report     errors against the dynamical response, the figure and
--              one HDF5 file with every response
-- The script prints the error table after the study has run, also when
-- every stage came from the cache.

local kubo = require "kubo"

local M = {}

-- The plotted and tabulated entries R11, R21, R31, R41: the response at
-- the points 0, 1, 2 and 3 cells downstream (+x) of the impulse at
-- x = 0, y = 0. Sites are {row, column} = {y index, x index}.
M.SITES = {{1, 1}, {1, 2}, {1, 3}, {1, 4}}
M.ENTRY_NAMES = {"R11", "R21", "R31", "R41"}

-- Rows of the error table after the dynamical one: output name in the
-- report, and label.
local TABLE_ROWS = {
  {"gaussian", "Gaussian C(t) C(0)^-1"},
  {"analytic_raw", "analytic score, raw"},
  {"analytic", "analytic score, normalised"},
  {"score", "learned score, normalised"},
}


-- Parameters -----------------------------------------------------------

local function copy(t)
  if type(t) ~= "table" then return t end
  local out = {}
  for k, v in pairs(t) do out[k] = copy(v) end
  return out
end

-- Returns the parameters of the profile named by --set profile=NAME
-- (default "quick"), with profile set to that name.
function M.profile_params(profiles)
  local command_line = kubo.params or {}
  local name = command_line.profile or "quick"
  local chosen = profiles[name]
  if chosen == nil then
    local names = {}
    for k in pairs(profiles) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("unknown profile '%s' (profiles: %s)",
                        tostring(name), table.concat(names, ", ")), 2)
  end
  local params = copy(chosen)
  params.profile = name
  return params
end

-- Returns the number of steps in `time` time units, which must be a
-- whole number of steps.
local function steps_in(time, dt, name)
  local steps = math.floor(time / dt + 0.5)
  if math.abs(steps * dt - time) > 1e-9 * math.max(1, time) then
    error(string.format("%s (%g) must be a whole number of steps of %g",
                        name, time, dt), 0)
  end
  return steps
end


-- Stages ----------------------------------------------------------------

local function make_grid(p)
  return kubo.grid{n = {p.n, p.n}, nyquist = "zero_k"}
end

local function make_model(spec, p)
  local opts = copy(p.model)
  opts.grid = make_grid(p)
  return kubo.models[spec.model](opts)
end

local function new_integrator(spec, p, members, seed)
  return kubo.integrator{model = make_model(spec, p), method = "rk4",
                         dt = p.dt, members = members, seed = seed}
end

local function simulate(spec, p, ctx)
  local sim = new_integrator(spec, p, p.members, p.data_seed)
  local spinup = steps_in(p.spinup, p.dt, "spinup")
  local total = steps_in(p.length, p.dt, "length")
  local eval_steps = p.eval_frames * p.frame_every
  local before = total - eval_steps
  if before < 0 or before % p.snapshot_every ~= 0 then
    error(string.format("length (%d steps) minus eval_frames * "
                        .. "frame_every (%d steps) must be a non-negative "
                        .. "multiple of snapshot_every (%d)", total,
                        eval_steps, p.snapshot_every), 0)
  end
  ctx:log("spin-up: %d members x %d steps", p.members, spinup)
  sim:advance(spinup)

  local file = ctx.file:gsub("%.h5$", ".data.h5")
  os.remove(file)   -- a run that failed midway leaves a partial file
  ctx:log("recording %d steps into %s", total, file)
  if before > 0 then
    sim:run{steps = before, every = p.snapshot_every, file = file,
            dataset = "snapshots", dtype = "float32", progress = true}
  end
  sim:run{steps = eval_steps, every = p.frame_every, file = file,
          dataset = "timeseries", dtype = "float32", append = true,
          progress = true,
          snapshots = {every = p.snapshot_every, dataset = "snapshots",
                       dtype = "float32"}}
  local state = sim:state()
  return {data_file = file, snapshot = state[1]:clone(),
          frames = p.eval_frames, snapshots = total // p.snapshot_every}
end

local function perturb(spec, p, ctx)
  local sim = new_integrator(spec, p, p.dyn_members, p.dyn_seed)
  local spinup = steps_in(p.spinup, p.dt, "spinup")
  ctx:log("spin-up: %d members x %d steps", p.dyn_members, spinup)
  sim:advance(spinup)
  ctx:log("%d members x %d resets x %d steps", p.dyn_members, p.resets,
          p.lags * p.frame_every)
  local R = kubo.response.perturbation{
    integrator = sim, site = {1, 1}, delta = p.delta, lags = p.lags,
    every = p.frame_every, resets = p.resets}
  return {values = R.values, stderr = R.stderr, realisations = R.members}
end

-- Returns the snapshots of the data file as (samples, ny, nx).
local function read_snapshots(file)
  local snaps = assert(kubo.h5.read(file, "snapshots"))
  local shape = snaps:shape()
  return snaps:reshape(shape[1] * shape[2], shape[3], shape[4])
end

local function make_network(p, data_std)
  if p.net == "local" then
    return kubo.nn.local_score{channels = p.channels, depth = p.depth,
                               embed = p.embed, periodic = true,
                               data_std = data_std, seed = p.seed}
  elseif p.net == "unet" then
    return kubo.nn.unet{channels = p.unet_channels, blocks = p.blocks,
                        embed = p.embed, periodic = true, seed = p.seed}
  end
  error(string.format("net must be \"local\" or \"unet\", got '%s'",
                      tostring(p.net)), 0)
end

local function train(_, p, ctx)
  local data = read_snapshots(ctx:input("simulate").data_file)
  local data_std = data:std() * p.scale
  local net = make_network(p, data_std)
  ctx:log("%s network, %d parameters, %d samples (std %.3g after "
          .. "scaling by %g)", p.net, net:num_parameters(), data:size(1),
          data_std, p.scale)
  local file = ctx.file:gsub("%.h5$", ".score.h5")
  local opts = {
    net = net, data = data, scale = p.scale, sigma_min = 0.01,
    -- --set sigma_max=14 arrives as the string "14"
    sigma_max = tonumber(p.sigma_max) or p.sigma_max,
    noise_range = p.noise_range,
    batch = p.batch, ema = p.ema, split = 0.8, seed = p.seed,
    optimizer = {lr = p.lr, clip = 1.0, warmup = p.warmup},
    progress = true, checkpoint = file, resume = true}
  if p.train_steps > 0 then
    opts.steps = p.train_steps
  else
    opts.epochs = p.epochs
  end
  local score = kubo.score.train(opts)
  local history = score.loss_history
  return {score_file = file, parameters = net:num_parameters(),
          loss_history = history}
end

-- Returns the normalised score response from the raw one S (lags, ny,
-- nx): S^(k, t) / S^(k, 0) per Fourier mode. Modes whose |S^(k, 0)| is
-- below 1e-12 of the largest are set to zero, as in
-- kubo.response.score{normalize = true}, and so are those below floor
-- (default 0). Stein's identity makes S^(k, 0) = 1 for an exact score,
-- so a value near 0 marks a mode that the score did not learn, whose
-- ratio would amplify noise. Deriving the normalised estimate from the
-- raw one saves evaluating the score a second time.
function M.normalize(raw, g, floor)
  floor = floor or 0
  local spectrum = g:fft(raw)
  local shape = spectrum:shape()
  local lags, ny, nh = shape[1], shape[2], shape[3]
  local zero_re, zero_im, largest = {}, {}, 0
  for j = 1, ny do
    zero_re[j], zero_im[j] = {}, {}
    for k = 1, nh do
      local re, im = spectrum[{1, j, k, 1}], spectrum[{1, j, k, 2}]
      zero_re[j][k], zero_im[j][k] = re, im
      largest = math.max(largest, math.sqrt(re * re + im * im))
    end
  end
  for j = 1, ny do
    for k = 1, nh do
      local a, b = zero_re[j][k], zero_im[j][k]
      local power = a * a + b * b
      local size = math.sqrt(power)
      local keep = size >= 1e-12 * largest and size >= floor
      for lag = 1, lags do
        local re, im = spectrum[{lag, j, k, 1}], spectrum[{lag, j, k, 2}]
        if keep then
          -- (re + i im) / (a + i b)
          spectrum[{lag, j, k, 1}] = (re * a + im * b) / power
          spectrum[{lag, j, k, 2}] = (im * a - re * b) / power
        else
          spectrum[{lag, j, k, 1}] = 0
          spectrum[{lag, j, k, 2}] = 0
        end
      end
    end
  end
  return g:ifft(spectrum)
end

local function respond(spec, p, ctx)
  local sim_out = ctx:input("simulate")
  local data = {file = sim_out.data_file, dataset = "timeseries"}
  local g = make_grid(p)
  local dt = p.frame_every * p.dt
  local out = {}
  local function keep(name, R)
    out[name] = {values = R.values, stderr = R.stderr}
    if R.stein then
      out[name].stein_diagonal = R.stein.diagonal
      out[name].stein_deviation = R.stein.deviation
    end
  end

  ctx:log("Gaussian estimate")
  keep("gaussian", kubo.response.gaussian{data = data, grid = g,
                                          lags = p.lags, dt = dt,
                                          circular = p.circular})
  local function score_estimates(name, score)
    local raw = kubo.response.score{data = data, grid = g, lags = p.lags,
                                    dt = dt, score = score,
                                    circular = p.circular}
    keep(name .. "_raw", raw)
    out[name] = {values = M.normalize(raw.values, g, p.stein_floor)}
  end
  local model = make_model(spec, p)
  if model:has_score() then
    ctx:log("analytic-score estimates")
    score_estimates("analytic", function(x) return model:score(x) end)
  end
  ctx:log("learned-score estimates")
  score_estimates("score", kubo.score.load(ctx:input("train").score_file))
  return out
end


-- Report ----------------------------------------------------------------

-- Returns a Lua list of the values of a 1-D tensor.
local function list_of(t)
  local out = {}
  for i = 1, t:numel() do out[i] = t[i] end
  return out
end

-- Returns the series of a (lags, ny, nx) response at the four sites, as
-- Lua lists.
local function site_series(values)
  local out = {}
  for k, site in ipairs(M.SITES) do
    local series = {}
    for lag = 1, values:size(1) do
      series[lag] = values[{lag, site[1], site[2]}]
    end
    out[k] = series
  end
  return out
end

-- Returns the plain 2-norm of each site's series of `values` over the
-- first `lags` lags: the own standard error of a response.
local function stderr_l2(values, lags)
  local out = {}
  for k, series in ipairs(site_series(values)) do
    local sum = 0
    for i = 1, lags do sum = sum + series[i] ^ 2 end
    out[k] = math.sqrt(sum)
  end
  return out
end

-- Returns the spacing of the lags and the name of its unit: time units,
-- or steps of dt where spec.lags_in_steps is set.
local function lag_unit(spec, p)
  if spec.lags_in_steps then return p.frame_every, "steps" end
  return p.frame_every * p.dt, "time units"
end

local function report(spec, p, ctx)
  local dyn = ctx:input("perturb")
  local est = ctx:input("respond")
  local snapshot = ctx:input("simulate").snapshot
  local error_lags = math.min(50, p.lags)
  local reference = {values = dyn.values}
  local opts = {lags = error_lags, sites = M.SITES}

  local responses = {dynamical = {values = dyn.values, stderr = dyn.stderr}}
  local errors = {}
  for name, r in pairs(est) do
    responses[name] = r
    local e = kubo.response.error({values = r.values}, reference, opts)
    local full = kubo.response.error({values = r.values}, reference)
    errors[name] = {l2 = kubo.tensor(e.l2), rms = full.rms,
                    max = full.max}
  end
  errors.dynamical = {l2 = kubo.tensor(stderr_l2(dyn.stderr, error_lags))}

  local exact
  if spec.exact then
    exact = spec.exact(p)
    responses.exact = {values = exact}
    local against = {}
    for name, r in pairs(responses) do
      if name ~= "exact" then
        local e = kubo.response.error({values = r.values}, {values = exact},
                                      opts)
        against[name] = kubo.tensor(e.l2)
      end
    end
    errors.against_exact = against
  end

  -- the figure: snapshot, R11..R41 and the errors over lags
  local lag_times = {}
  local unit, unit_name = lag_unit(spec, p)
  for i = 1, p.lags do lag_times[i] = (i - 1) * unit end
  local curves = {dynamical = site_series(dyn.values)}
  local figure_errors = {}
  for _, name in ipairs{"gaussian", "analytic", "score"} do
    if est[name] then
      curves[name] = site_series(est[name].values)
      figure_errors[name] = {rms = errors[name].rms, max = errors[name].max}
    end
  end
  if exact then curves.exact = site_series(exact) end
  local figure = ctx.file:gsub("%.h5$", ".png")
  kubo.plot.response_figure{
    file = figure, lags = lag_times, curves = curves,
    stderr = {dynamical = site_series(dyn.stderr)},
    errors = figure_errors, snapshot = snapshot,
    snapshot_title = spec.snapshot_title, cblabel = spec.cblabel,
    label = spec.label, xlabel = "lag (" .. unit_name .. ")",
    labels = {score = "learned score", analytic = "analytic score",
              exact = "exact"}}
  return {responses = responses, errors = errors, figure = figure,
          error_lags = error_lags, realisations = dyn.realisations,
          lag_unit = unit, lag_unit_name = unit_name}
end


-- Printing --------------------------------------------------------------

local function row_text(label, values)
  local cells = {string.format("%-30s", label)}
  for k = 1, #M.SITES do
    cells[#cells + 1] = values and string.format("%8.3f", values[k])
                        or string.format("%8s", "n/a")
  end
  return table.concat(cells, " ")
end

local function header(first)
  local cells = {string.format("%-30s", first)}
  for _, name in ipairs(M.ENTRY_NAMES) do
    cells[#cells + 1] = string.format("%8s", name)
  end
  return table.concat(cells, " ")
end

-- Returns the report's text: the error table in the form of the
-- reference Table I, per-lag rms and max errors, and (OU) the errors
-- against the exact response.
function M.report_text(spec, p, r)
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end
  local last = r.error_lags - 1
  add("%s, profile %s: errors against the dynamical response", spec.label,
      p.profile)
  add("(plain 2-norm of R_est - R_dyn over the lags 0..%d %s; dynamical "
      .. "response from %d realisations)", last * r.lag_unit,
      r.lag_unit_name, r.realisations)
  add("%s", header("estimator"))
  local e = r.errors
  add("%s", row_text("dynamical, own standard error",
                     list_of(e.dynamical.l2)))
  for _, row in ipairs(TABLE_ROWS) do
    local err = e[row[1]]
    add("%s", row_text(row[2], err and list_of(err.l2)))
  end

  local picks = {}
  for _, lag in ipairs{0, 5, 10, 20, 30, 49} do
    if lag < r.error_lags then picks[#picks + 1] = lag end
  end
  for _, measure in ipairs{"rms", "max"} do
    add("")
    add("%s error over the whole field at selected lags", measure)
    local cells = {string.format("%-30s", "lag (" .. r.lag_unit_name
                                 .. ")")}
    for _, lag in ipairs(picks) do
      cells[#cells + 1] = string.format("%7g", lag * r.lag_unit)
    end
    add("%s", table.concat(cells, " "))
    for _, row in ipairs(TABLE_ROWS) do
      local err = e[row[1]]
      if err then
        cells = {string.format("%-30s", row[2])}
        for _, lag in ipairs(picks) do
          cells[#cells + 1] = string.format("%7.4f", err[measure][lag + 1])
        end
        add("%s", table.concat(cells, " "))
      end
    end
  end

  local stein = {}
  for _, name in ipairs{"analytic_raw", "score_raw"} do
    local response = r.responses and r.responses[name]
    if response and response.stein_diagonal then
      stein[#stein + 1] = string.format("%s %.3f", name == "score_raw"
                                        and "learned" or "analytic",
                                        response.stein_diagonal)
    end
  end
  if #stein > 0 then
    add("")
    add("Stein check: raw S(0) at the impulse, 1 for an exact score: %s",
        table.concat(stein, ", "))
  end

  if e.against_exact then
    add("")
    add("errors against the exact response (same norm)")
    add("%s", header("estimator"))
    add("%s", row_text("dynamical", list_of(e.against_exact.dynamical)))
    for _, row in ipairs(TABLE_ROWS) do
      local err = e.against_exact[row[1]]
      add("%s", row_text(row[2], err and list_of(err)))
    end
  end
  return table.concat(lines, "\n")
end


-- Construction ----------------------------------------------------------

local MODEL_FIELDS = {"n", "dt", "model"}

local function with(list, more)
  local out = {}
  for _, v in ipairs(list) do out[#out + 1] = v end
  for _, v in ipairs(more) do out[#out + 1] = v end
  return out
end

-- Returns the study of a reference experiment. spec = {name, label,
-- model (a kubo.models name), params, [exact = function(p) -> tensor
-- (lags, n, n)], [snapshot_title], [cblabel]}.
function M.new(spec)
  local function stage(fn)
    return function(p, ctx) return fn(spec, p, ctx) end
  end
  return kubo.study{
    name = spec.name,
    params = spec.params,
    stages = {
      {name = "simulate", version = 1, run = stage(simulate),
       uses = with(MODEL_FIELDS, {"members", "spinup", "length",
                                  "frame_every", "snapshot_every",
                                  "eval_frames", "data_seed"})},
      {name = "perturb", version = 1, inputs = {}, run = stage(perturb),
       uses = with(MODEL_FIELDS, {"dyn_members", "spinup", "lags",
                                  "frame_every", "delta", "resets",
                                  "dyn_seed"})},
      {name = "train", version = 1, inputs = {"simulate"},
       run = stage(train),
       uses = {"net", "channels", "depth", "embed", "unet_channels",
               "blocks", "train_steps", "epochs", "batch", "lr", "warmup",
               "ema", "noise_range", "sigma_max", "scale", "seed"}},
      {name = "respond", version = 4, inputs = {"simulate", "train"},
       run = stage(respond),
       uses = with(MODEL_FIELDS, {"lags", "frame_every", "circular",
                                  "stein_floor"})},
      {name = "report", version = 2,
       inputs = {"simulate", "perturb", "respond"}, run = stage(report),
       uses = with(MODEL_FIELDS, {"lags", "frame_every"})},
    },
  }
end

-- Runs the study, prints the report and writes it beside the figure.
function M.run(spec)
  local study = M.new(spec):run()
  local r = study:output("report")
  local text = M.report_text(spec, study.params, r)
  local table_file = r.figure:gsub("%.png$", ".txt")
  local f = assert(io.open(table_file, "w"))
  f:write(text, "\n")
  f:close()
  print("\n" .. text)
  print(string.format("\nfigure:    %s\ntable:     %s\nresponses: %s",
                      r.figure, table_file,
                      r.figure:gsub("%.png$", ".h5")))
  return study
end

return M
