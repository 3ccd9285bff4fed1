-- The examples' shared code without running a study: the exact OU
-- response of examples/ou.lua against the values derived independently
-- for the reference OU system, profile selection, and the error table.
local kubo = require "kubo"
local T = require "kubo.test"

local source = assert(os.getenv("KUBO_SOURCE_DIR"),
                      "set KUBO_SOURCE_DIR to the checkout")
package.path = source .. "/examples/?.lua;" .. package.path
local reference = require "reference_study"

-- Loads an example script with reference_study.run replaced, so that the
-- script only hands over its spec. Returns the spec and its profiles'
-- quick parameters.
local function load_spec(name)
  local spec, all
  local saved_run, saved_params = reference.run, reference.profile_params
  reference.run = function(s) spec = s end
  reference.profile_params = function(profiles)
    all = profiles
    return profiles.quick
  end
  local ok, err = pcall(dofile, source .. "/examples/" .. name)
  reference.run, reference.profile_params = saved_run, saved_params
  assert(ok, err)
  return spec, all
end

-- Returns the sorted names of the keys of t.
local function keys_of(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, " ")
end

-- Exact OU response (reference values, derived with NumPy from the
-- discrete model: Nyquist index as k = 0) at lags 0, 5, 10, 20, 30, 50
-- time units, for the points 0..3 cells downstream of the impulse.
local OU_TABLE = {
  {1.0000, 0.5627, 0.1069, -0.0013, 0.0161, 0.0091},
  {0, 0.5240, 0.6417, 0.0782, -0.0314, -0.0183},
  {0, -0.1147, 0.1312, 0.5025, 0.1161, 0.0055},
  {0, 0.0531, -0.0615, 0.1116, 0.3479, -0.0170},
}
local OU_LAGS = {0, 5, 10, 20, 30, 50}

T.case("ou exact response matches table", function()
  local spec = load_spec("ou.lua")
  local p = {}
  for k, v in pairs(spec.params) do p[k] = v end
  -- lags every 5 time units (160 steps of 1/32), 0 to 50
  p.frame_every, p.lags = 160, 11
  local R = spec.exact(p)
  T.eq(table.concat(R:shape(), " "), "11 32 32")
  for i = 1, 4 do
    for k, tau in ipairs(OU_LAGS) do
      T.near(R[{tau // 5 + 1, 1, i}], OU_TABLE[i][k], 6e-5,
             string.format("R%d1 at lag %d", i, tau))
    end
  end
end)

T.case("ou exact response sums to one", function()
  -- the response of the whole field to a unit impulse is the k = 0 mode,
  -- which decays as exp(-lambda t)
  local spec = load_spec("ou.lua")
  local p = {}
  for k, v in pairs(spec.params) do p[k] = v end
  p.n, p.frame_every, p.lags = 8, 320, 3
  local R = spec.exact(p)
  for lag = 1, 3 do
    local t = (lag - 1) * 10
    T.near(R[lag]:sum(), math.exp(-spec.params.model.lambda * t), 1e-12,
           "total response at lag " .. t)
  end
end)

T.case("examples use the reference models", function()
  for file, model in pairs{["ou.lua"] = "ou",
                           ["allen_cahn.lua"] = "allen_cahn",
                           ["navier_stokes.lua"] = "navier_stokes"} do
    local spec = load_spec(file)
    T.eq(spec.model, model, file)
    T.eq(spec.params.n, 32, file .. " grid")
    T.eq(spec.params.lags, 50, file .. " lags of the error table")
  end
end)

T.case("profiles share their parameter names", function()
  -- so that every --set NAME=VALUE works with every profile
  for _, file in ipairs{"ou.lua", "allen_cahn.lua", "navier_stokes.lua"} do
    local _, profiles = load_spec(file)
    T.eq(keys_of(profiles), "paper quick tiny", file)
    for name, p in pairs(profiles) do
      T.eq(keys_of(p), keys_of(profiles.quick), file .. " " .. name)
      T.eq(keys_of(p.model), keys_of(profiles.quick.model),
           file .. " " .. name .. " model")
    end
  end
end)

T.case("profile_params picks the profile", function()
  local profiles = {quick = {members = 64}, tiny = {members = 2}}
  local saved = kubo.params.profile
  kubo.params.profile = nil
  local p = reference.profile_params(profiles)
  T.eq(p.members, 64, "quick by default")
  T.eq(p.profile, "quick")
  kubo.params.profile = "tiny"
  p = reference.profile_params(profiles)
  T.eq(p.members, 2)
  T.eq(p.profile, "tiny")
  T.eq(profiles.tiny.profile, nil, "the profile table is not changed")
  kubo.params.profile = "nope"
  T.raises(function() reference.profile_params(profiles) end,
           "unknown profile 'nope' (profiles: quick, tiny)")
  kubo.params.profile = saved
end)

T.case("normalize matches response.score", function()
  -- the normalised estimate derived from the raw one equals the one the
  -- estimator computes itself
  local g = kubo.grid{n = {8, 8}, nyquist = "zero_k"}
  local m = kubo.models.allen_cahn{grid = g}
  local data = kubo.rng(7):normal(40, 3, 8, 8) * 0.5
  local function score(x) return m:score(x) end
  for _, circular in ipairs{true, false} do
    local what = circular and "circular" or "zero-padded"
    local raw = kubo.response.score{data = data, grid = g, lags = 5,
                                    score = score, circular = circular}
    local direct = kubo.response.score{data = data, grid = g, lags = 5,
                                       score = score, normalize = true,
                                       circular = circular}
    local derived = reference.normalize(raw.values, g)
    T.eq(table.concat(derived:shape(), " "), "5 8 8", what)
    T.near((derived - direct.values):abs():max(), 0, 1e-10, what)
    T.near(derived[{1, 1, 1}], 1, 1e-12, what .. ": identity at lag 0")
  end
end)

-- A report as the report stage returns it, for a system without an
-- analytic score.
local function fake_report()
  local function l2(a) return kubo.tensor(a) end
  local rms = kubo.linspace(0, 0.49, 50)
  return {
    errors = {
      dynamical = {l2 = l2{0.01, 0.02, 0.03, 0.04}},
      gaussian = {l2 = l2{0.7, 0.9, 0.93, 0.61}, rms = rms, max = rms * 2},
      score = {l2 = l2{0.1, 0.11, 0.16, 0.06}, rms = rms, max = rms * 2},
    },
    error_lags = 50, lag_unit = 1, lag_unit_name = "time units",
    realisations = 2560,
  }
end

T.case("report text has table rows", function()
  local text = reference.report_text({label = "Test"}, {profile = "quick"},
                                     fake_report())
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  T.ok(text:find("lags 0..49 time units", 1, true), "lag range")
  T.ok(text:find("2560 realisations", 1, true), "realisations")
  local function row(label)
    for _, line in ipairs(lines) do
      if line:sub(1, #label) == label then return line end
    end
  end
  T.eq(row("estimator"):gsub("%s+", " "), "estimator R11 R21 R31 R41")
  T.eq(row("dynamical, own standard error"):gsub("%s+", " "),
       "dynamical, own standard error 0.010 0.020 0.030 0.040")
  T.eq(row("Gaussian"):gsub("%s+", " "),
       "Gaussian C(t) C(0)^-1 0.700 0.900 0.930 0.610")
  T.eq(row("analytic score, raw"):gsub("%s+", " "),
       "analytic score, raw n/a n/a n/a n/a")
  T.eq(row("learned score, normalised"):gsub("%s+", " "),
       "learned score, normalised 0.100 0.110 0.160 0.060")
  -- per-lag errors at lags 0, 5, 10, 20, 30, 49: rms = lag / 100
  T.ok(text:find("lag (time units)                     0       5      10"
                 .. "      20      30      49", 1, true), "lag header")
  T.ok(text:find("0.0000  0.0500  0.1000  0.2000  0.3000  0.4900", 1,
                 true), "rms row")
end)

T.finish()
