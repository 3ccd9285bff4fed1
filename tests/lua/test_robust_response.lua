-- Bad calls to kubo.response raise Lua errors whose message names the bad
-- value: too few frames, lags longer than the data, constant or NaN data,
-- score and observable functions that fail or return the wrong shape,
-- perturbation runs with bad settings, and responses that do not match.
-- The file also runs under ASan and UBSan.
local kubo = require "kubo"
local T = require "kubo.test"
local R = kubo.response

local dir = io.popen("mktemp -d /tmp/kubo-robust-response-XXXXXX"):read("l")
local function path(name) return dir .. "/" .. name end

local g = kubo.grid{n = {8, 8}}
local rng = kubo.rng(3)
local field_traj = rng:normal(50, 2, 8, 8)   -- (frames, members, ny, nx)
local traj = rng:normal(50, 2, 3)            -- (frames, members, 3)
local sim = kubo.integrator{model = kubo.models.ou{grid = g}, members = 2}
local function minus(x) return -x end

local function gaussian(opts)
  opts.data = opts.data or traj
  opts.lags = opts.lags or 2
  return R.gaussian(opts)
end

local function perturbation(opts)
  opts.integrator = opts.integrator or sim
  opts.site = opts.site or {1, 1}
  opts.lags = opts.lags or 2
  if opts.delta == nil then opts.delta = 0.1 end
  return R.perturbation(opts)
end

local cases = {
  -- kubo.integrator, which response.perturbation drives
  {"integrator without options", function() return kubo.integrator() end,
   "integrator: expected a table of options such as {model = m, dt = "
   .. "0.01, members = 16} (got no options)"},
  {"integrator with a number", function() return kubo.integrator(5) end,
   "integrator: expected a table of options such as {model = m, dt = "
   .. "0.01, members = 16} (got number)"},

  -- response.gaussian
  {"gaussian without options", function() return R.gaussian() end,
   "table expected, got no value"},
  {"gaussian without data", function() return R.gaussian{lags = 2} end,
   "option 'data' must be a tensor (frames, members, ...)"},
  {"gaussian without lags", function() return R.gaussian{data = traj} end,
   "option 'lags' is missing"},
  {"gaussian with lags 0", function() return gaussian{lags = 0} end,
   "option 'lags' must be a whole number >= 1 (got 0)"},
  {"gaussian with lags 1.5", function() return gaussian{lags = 1.5} end,
   "option 'lags' must be a whole number >= 1 (got 1.5)"},
  {"gaussian with more lags than frames", function()
     return gaussian{lags = 51} end,
   "lags (51) exceeds the number of frames (50)"},
  {"gaussian of one frame", function()
     return gaussian{data = rng:normal(1, 2, 3), lags = 1} end,
   "the covariance C(0) is singular"},
  {"gaussian of no frames", function()
     return gaussian{data = kubo.zeros(0, 2, 3), lags = 1} end,
   "the data tensor is empty"},
  {"gaussian of a vector", function()
     return gaussian{data = kubo.zeros(10), lags = 1} end,
   "the data tensor has 1 dimensions, expected (frames, members, ...state "
   .. "shape...)"},
  {"gaussian of constant data", function()
     return gaussian{data = kubo.ones(50, 2, 3)} end,
   "the covariance C(0) is singular"},
  {"gaussian of NaN data", function()
     return gaussian{data = kubo.full({50, 2, 3}, 0 / 0)} end,
   "the data holds"},
  {"gaussian of a freed tensor", function()
     local t = traj:clone()
     t:free()
     return gaussian{data = t} end,
   "option 'data' is a freed tensor"},
  {"gaussian of a number", function() return gaussian{data = 5} end,
   "(got number)"},
  {"gaussian of a missing file", function()
     return gaussian{data = {file = path("no.h5"), name = "/x"}} end,
   "No such file or directory"},
  {"gaussian of a missing dataset", function()
     local f = path("data.h5")
     kubo.h5.write(f, "/x", traj)
     return gaussian{data = {file = f, name = "/nope"}} end,
   "no dataset '/nope'"},
  {"gaussian of a table without a file", function()
     return gaussian{data = {frames = 1}} end,
   "naming an HDF5 dataset"},
  {"gaussian on a grid of another size", function()
     return gaussian{data = field_traj, grid = kubo.grid{n = {16, 16}}} end,
   "the data's state shape does not match the grid"},
  {"gaussian on a grid of vector data", function()
     return gaussian{grid = g} end,
   "the data's state shape does not match the grid"},
  {"gaussian at a site off the grid", function()
     return gaussian{data = field_traj, grid = g, site = {9, 1}} end,
   "site index 1 must be a whole number from 1 to 8 (got 9)"},
  {"gaussian at site 0", function()
     return gaussian{data = field_traj, grid = g, site = {0, 1}} end,
   "site index 1 must be a whole number from 1 to 8 (got 0)"},
  {"gaussian with a one-index site", function()
     return gaussian{data = field_traj, grid = g, site = {1}} end,
   "site has 1 indices, expected 2"},
  {"gaussian with NaN dt", function() return gaussian{dt = 0 / 0} end,
   "option 'dt' must be finite"},
  {"gaussian with infinite dt", function()
     return gaussian{dt = math.huge} end,
   "option 'dt' must be finite (got inf)"},
  {"gaussian with dt 0", function() return gaussian{dt = 0} end,
   "response.gaussian: option 'dt' must be > 0, the time between frames "
   .. "(got 0.0)"},
  {"gaussian with negative dt", function() return gaussian{dt = -0.5} end,
   "option 'dt' must be > 0, the time between frames (got -0.5)"},
  {"score with dt 0", function()
     return R.score{data = traj, lags = 2, score = minus, dt = 0} end,
   "response.score: option 'dt' must be > 0"},
  {"conjugate with negative dt", function()
     return R.conjugate{data = traj, lags = 2, dt = -1} end,
   "response.conjugate: option 'dt' must be > 0"},
  {"gaussian with 2^40 lags", function()
     return gaussian{lags = 2^40} end,
   "lags (1099511627776) exceeds the number of frames (50)"},
  {"gaussian with a string circular", function()
     return gaussian{circular = "x"} end,
   "option 'circular' must be true or false (got string)"},
  {"gaussian with an unknown option", function()
     return gaussian{members = 2} end,
   "unknown option 'members' (expected one of data, lags, grid, "
   .. "circular, site, dt)"},
  {"gaussian of dependent components", function()
     local d = rng:normal(50, 2, 3)
     d:slice(3, 3, 3):copy_(d:slice(3, 1, 1))
     return gaussian{data = d} end,
   "the covariance C(0) is singular"},

  -- response.score
  {"score without a score", function()
     return R.score{data = traj, lags = 2} end,
   "option 'score' is missing"},
  {"score of a number", function()
     return R.score{data = traj, lags = 2, score = 5} end,
   "option 'score' must be a function or callable object (got number)"},
  {"score of a table without __call", function()
     return R.score{data = traj, lags = 2, score = {}} end,
   "(got table)"},
  {"score function that raises", function()
     return R.score{data = traj, lags = 2,
                    score = function() error("no score here") end} end,
   "the score function failed"},
  {"score function of the wrong shape", function()
     return R.score{data = traj, lags = 2,
                    score = function() return kubo.zeros(3) end} end,
   "returned a tensor of shape (3) for 50 frames, expected a tensor of 3 "
   .. "values per frame"},
  {"score function returning nothing", function()
     return R.score{data = traj, lags = 2, score = function() end} end,
   "the score function returned a nil for 50 frames"},
  {"score function returning NaN", function()
     return R.score{data = traj, lags = 2,
                    score = function(x) return x * (0 / 0) end} end,
   "the score holds"},
  {"score with batch 0", function()
     return R.score{data = traj, lags = 2, score = minus, batch = 0} end,
   "option 'batch' must be a whole number >= 1 (got 0)"},
  {"score normalized by a zero S(0)", function()
     return R.score{data = traj, lags = 2, normalize = true,
                    score = function(x) return x * 0 end} end,
   "the score correlation S(0) is singular"},

  -- response.conjugate
  {"conjugate without an observable", function()
     return R.conjugate{data = traj, lags = 2} end,
   "give either 'observable' (x -> B per frame) or 'perturbation'"},
  {"conjugate observable of the wrong shape", function()
     return R.conjugate{data = traj, lags = 2,
                        observable = function() return kubo.zeros(3, 3) end}
   end,
   "the observable function returned a tensor of shape (3, 3) for 50 "
   .. "frames"},
  {"conjugate perturbation without a score", function()
     return R.conjugate{data = traj, lags = 2, perturbation = minus} end,
   "option 'score' is missing"},
  {"conjugate with a string divergence", function()
     return R.conjugate{data = traj, lags = 2, perturbation = minus,
                        score = minus, divergence = "a"} end,
   "option 'divergence' must be a function or callable object"},
  {"conjugate with a NaN divergence", function()
     return R.conjugate{data = traj, lags = 2, perturbation = minus,
                        score = minus, divergence = 0 / 0} end,
   "the conjugate observable B holds"},

  -- response.perturbation
  {"perturbation without options", function() return R.perturbation() end,
   "table expected, got no value"},
  {"perturbation without an integrator", function()
     return R.perturbation{site = {1, 1}, delta = 0.1, lags = 2} end,
   "option 'integrator' must be a kubo.Integrator (got nil)"},
  {"perturbation of delta 0", function()
     return perturbation{delta = 0} end,
   "delta must be finite and non-zero (got 0)"},
  {"perturbation of NaN delta", function()
     return perturbation{delta = 0 / 0} end,
   "option 'delta' must be finite"},
  {"perturbation of infinite delta", function()
     return perturbation{delta = math.huge} end,
   "option 'delta' must be finite (got inf)"},
  {"perturbation off the grid", function()
     return perturbation{site = {9, 9}} end,
   "site index 1 must be a whole number from 1 to 8 (got 9)"},
  {"perturbation with lags 0", function()
     return perturbation{lags = 0} end,
   "option 'lags' must be a whole number >= 1 (got 0)"},
  {"perturbation with every 0", function()
     return perturbation{every = 0} end,
   "option 'every' must be a whole number >= 1 (got 0)"},
  {"perturbation with resets -1", function()
     return perturbation{resets = -1} end,
   "option 'resets' must be a whole number >= 1 (got -1)"},
  {"perturbation of a freed integrator", function()
     local s = kubo.integrator{model = kubo.models.ou{grid = g}}
     s:free()
     return perturbation{integrator = s} end,
   "attempt to use a freed integrator"},
  {"perturbation that blows up", function()
     local s = kubo.integrator{model = kubo.models.allen_cahn{grid = g},
                               dt = 10}
     return perturbation{integrator = s, lags = 20} end,
   "became NaN or Inf at step 2"},
}

local r = R.gaussian{data = field_traj, lags = 3, grid = g}
local dense = R.gaussian{data = traj, lags = 3}
local more = {
  {"at a site off the grid", function() return r:at({9, 9}) end,
   "site index 1 must be a whole number from 1 to 8 (got 9)"},
  {"at a one-index site", function() return r:at({1}) end,
   "site has 1 indices, expected 2"},
  {"at a number", function() return r:at(3) end,
   "site must be a table of 2 1-based indices such as {1, 1} (got number)"},
  {"at without a site", function() return r:at() end,
   "Response:at: site must be a table of 2 1-based indices such as "
   .. "{1, 1} (got nil)"},
  {"at a fractional index", function() return r:at({1.5, 1}) end,
   "(got 1.5)"},
  {"save without a file", function() return r:save() end,
   "string expected, got no value"},
  {"save under an empty name", function()
     return r:save(path("r.h5"), "") end,
   "the object name is empty"},
  {"at after values were replaced", function()
     local copy = R.gaussian{data = traj, lags = 2}
     copy.values = 5
     return copy:at({1, 1}) end,
   "the Response has no values tensor of shape (lags, ...)"},
  {"error without responses", function() return R.error() end,
   "response.error: expected a Response (got no value)"},
  {"error of one response", function() return R.error(r) end,
   "expected a Response (got no value)"},
  {"error of other shapes", function() return R.error(r, dense) end,
   "the responses differ in size along dimension 2 (8 and 3)"},
  {"error over too many lags", function()
     return R.error(r, r, {lags = 10}) end,
   "lags (10) exceeds the lags of a response (3 and 3)"},
  {"error at a site off the grid", function()
     return R.error(r, r, {sites = {{9, 9}}}) end,
   "sites entry index 1 must be a whole number from 1 to 8 (got 9)"},
  {"error with an unknown option", function()
     return R.error(r, r, {lag = 2}) end,
   "unknown option 'lag' (expected one of lags, sites)"},
  {"error of tensors", function()
     return R.error(kubo.zeros(3, 8, 8), kubo.zeros(3, 8, 8)) end,
   "expected a Response (got userdata)"},
}
for _, c in ipairs(more) do cases[#cases + 1] = c end

for _, c in ipairs(cases) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

T.case("save failures return nil and a message", function()
  local ok, msg = r:save(dir)
  T.eq(ok, nil)
  T.ok(msg:find("is a folder, not an HDF5 file", 1, true), msg)
  local text = path("notes.txt")
  local f = assert(io.open(text, "w"))
  f:write("hello")
  f:close()
  ok, msg = r:save(text)
  T.eq(ok, nil)
  T.ok(msg:find("kubo does not overwrite it", 1, true), msg)
end)

T.case("edge sizes give responses", function()
  T.eq(gaussian{lags = 50}.values:size(1), 50, "lags equal to the frames")
  T.eq(gaussian{data = rng:normal(2, 2, 3), lags = 1}.values:size(1), 1)
  T.eq(gaussian{data = rng:normal(50, 1, 3)}.values:size(1), 2,
       "one member")
  T.eq(R.score{data = traj, lags = 2, score = minus,
               batch = 2^40}.values:size(1), 2, "a batch beyond the data")
end)

T.case("a score function may free its input", function()
  local s = R.score{data = traj, lags = 2, score = function(x)
    local y = -x
    x:free()
    return y
  end}
  T.eq(s.values:size(1), 2)
end)

T.case("a perturbation run leaves the integrator alone", function()
  local before = sim:state()
  local p = perturbation{lags = 3}
  T.eq(p.values:size(1), 3)
  T.eq((sim:state() - before):abs():max(), 0)
end)

-- Runs kubo.score.train with extra options and sends the kubo program a
-- real SIGINT from the first progress call, as Ctrl-C would. Training
-- runs in a coroutine because the program's Ctrl-C hook is set on the
-- main Lua thread only: the progress function then returns normally and
-- the trainer stops at its next batch. io.popen, not os.execute, sends
-- the signal, because system() ignores SIGINT while it waits.
-- NOTE: the program counts Ctrl-C presses per script and quits on the
-- third, so this file may send SIGINT at most twice.
local function interrupted_training(extra)
  local x = rng:normal(400, 2)
  local opts = {net = kubo.nn.mlp{sizes = {2, 8, 2}, embed = 4, seed = 1},
                data = x, steps = 1000, batch = 32, seed = 2}
  local sent = false
  opts.progress = function()
    if sent then return end
    sent = true
    local killer = io.popen("kill -INT $PPID")
    killer:close()
  end
  for k, v in pairs(extra) do opts[k] = v end
  local train = coroutine.wrap(function() return kubo.score.train(opts) end)
  local ok, err = pcall(train)
  T.ok(sent, "the progress function sent SIGINT")
  T.ok(not ok, "the training stopped with an error")
  return tostring(err)
end

T.case("score.train interrupted without checkpoint", function()
  local err = interrupted_training({})
  T.ok(err:find("score.train: interrupted at step %d+ of 1000; no "
                .. "checkpoint option was given"), err)
end)

T.case("score.train interrupted with checkpoint", function()
  local file = path("interrupted.h5")
  local err = interrupted_training({checkpoint = file})
  T.ok(err:find("score.train: interrupted at step %d+ of 1000; the "
                .. "checkpoint '" .. file:gsub("%p", "%%%0")
                .. "' holds the model"), err)
end)

os.execute("rm -rf '" .. dir .. "'")
T.finish()
