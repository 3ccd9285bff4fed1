-- kubo.score: score models. The C functions (train, load, analytic,
-- gaussian, sample, stein, loss) come from the engine binding. This file
-- adds the diagnostics that expose a bad model without a reference.

local core = require "kubo.core"

local C = core._score
local Score = core._score_class

local M = {}
for name, fn in pairs(C) do M[name] = fn end

local function product(list)
  local n = 1
  for _, v in ipairs(list) do n = n * v end
  return n
end

-- Averages the Stein values of a half spectrum over shells of integer
-- index magnitude round(sqrt(mx^2 + my^2)). Returns tensors of the shell
-- means and of their standard errors, with shell k at index k + 1.
local function stein_shells(values, stderr)
  local shape = values:shape()
  local ny, hx = 1, shape[#shape]
  if #shape == 2 then ny = shape[1] end
  local sums, errs, counts = {}, {}, {}
  local vt, et = values:totable(), stderr:totable()
  for iy = 1, ny do
    local my = iy - 1
    if my > ny // 2 then my = my - ny end
    for ix = 1, hx do
      local v = #shape == 2 and vt[iy][ix] or vt[ix]
      local e = #shape == 2 and et[iy][ix] or et[ix]
      local k = math.floor(math.sqrt((ix - 1) ^ 2 + my ^ 2) + 0.5) + 1
      sums[k] = (sums[k] or 0) + v
      errs[k] = (errs[k] or 0) + e * e
      counts[k] = (counts[k] or 0) + 1
    end
  end
  local means, ses = {}, {}
  for k = 1, #counts do
    local n = counts[k] or 0
    means[k] = n > 0 and sums[k] / n or 0 / 0
    ses[k] = n > 0 and math.sqrt(errs[k]) / n or 0 / 0
  end
  return core.tensor(means), core.tensor(ses)
end

local diagnose_options = {data = true, reference = true, sigma = true,
                          seed = true, grid = true}

-- Computes the reference-free diagnostics of score s on held-out samples,
-- and the comparison with a reference score when one is given.
function M.diagnose(s, opts)
  if type(opts) ~= "table" or opts.data == nil then
    error("score.diagnose: expected {data = held-out samples, [reference "
          .. "= exact score], [sigma], [seed], [grid]}", 2)
  end
  for key in pairs(opts) do
    if not diagnose_options[key] then
      error("score.diagnose: unknown option '" .. tostring(key) ..
            "' (valid: data, reference, sigma, seed, grid)", 2)
    end
  end
  local shape = s.shape
  local per = product(shape)
  local x = opts.data
  if x:numel() % per ~= 0 or x:numel() // per < 2 then
    error(string.format("score.diagnose: data must be (..., %s) with at "
                        .. "least 2 samples", table.concat(shape, ", ")), 2)
  end
  local count = x:numel() // per
  local flat = x:contiguous():reshape(count, table.unpack(shape))
  local sx = s(flat)
  local result = {samples = count}

  local spectral = #shape == 2 or (#shape == 1 and opts.grid)
  if spectral then
    local values, stderr = C.stein(flat, sx, {dense = false})
    local shells, shell_stderr = stein_shells(values, stderr)
    result.stein = {values = values, stderr = stderr, shells = shells,
                    shells_stderr = shell_stderr}
  elseif #shape == 1 then
    local m = C.stein(flat, sx, {dense = true})
    local d, worst, diagonal = shape[1], 0, {}
    for i = 1, d do
      diagonal[i] = m[{i, i}]
      for j = 1, d do
        local want = i == j and 1 or 0
        worst = math.max(worst, math.abs(m[{i, j}] - want))
      end
    end
    result.stein = {matrix = m, diagonal = core.tensor(diagonal),
                    deviation = worst}
  end

  if s.kind ~= "analytic" then
    local sigma = opts.sigma or s.sigma_min
    local loss, se = C.loss(s, flat, {sigma = sigma, seed = opts.seed or 0})
    local g = C.gaussian(flat)
    result.loss = {sigma = sigma, value = loss, stderr = se,
                   gaussian = g:ideal_loss(sigma, s.scale)}
  end

  if opts.reference ~= nil then
    local r = opts.reference(flat):to("float64")
    local l = sx:to("float64")
    local rr, ll = r:norm(), l:norm()
    local dot = core.dot(l:reshape(l:numel()), r:reshape(r:numel()))
    result.reference = {correlation = dot / (rr * ll), ratio = ll / rr,
                        relative_error = (l - r):norm() / rr}
  end
  return result
end

Score.diagnose = M.diagnose

core.setdoc(M.diagnose,
  "score.diagnose(s, {data = x, [reference = r], [sigma], [seed], [grid]})"
  .. " or s:diagnose{...} -> table of diagnostics on the held-out samples "
  .. "x (..., sample shape), e.g. s:test_data(snapshots). stein: for "
  .. "fields (ny, nx) (or (n) with grid = true) the Stein values "
  .. "-<x'^_k conj(s^_k)> / M per Fourier mode with their standard "
  .. "errors and averages over shells of |k| (values, stderr, shells, "
  .. "shells_stderr), 1 for an exact score and low at small k in a bad "
  .. "run; for vectors (dim) the matrix -<x' s^T> (matrix, diagonal, "
  .. "deviation = max |S - I|). loss (learned and Gaussian scores): the "
  .. "denoising loss at sigma (default sigma_min) with its standard "
  .. "error, and gaussian = the loss of the Gaussian fit to x, which is "
  .. "the optimum for Gaussian data and an upper bound that a good score "
  .. "beats otherwise. reference (a score or function): correlation, "
  .. "ratio (amplitude |s| / |r|) and relative_error |s - r| / |r| of s "
  .. "against it on x.")

core.setdoc(M,
  "kubo.score: score models learned by denoising score matching "
  .. "(train, load), exact scores (analytic, gaussian) with the same "
  .. "interface, reverse-SDE sampling (sample) and diagnostics (stein, "
  .. "loss, diagnose)")

return M
