-- Bad calls to kubo.grid, the Grid methods, kubo.rng and a few tensor
-- and program-wide functions raise Lua errors whose message names the
-- bad value, and the objects still work afterwards. Each entry is a call
-- and a fragment its message must contain. The file also runs under ASan
-- and UBSan.
local kubo = require "kubo"
local T = require "kubo.test"

local g = kubo.grid{n = {8, 8}}
local rng = kubo.rng(1)
local field = kubo.zeros(8, 8)
local function one() return 1 end

local function closed_grid()
  local h = kubo.grid{n = {8, 8}}
  h:close()
  return h
end

local cases = {
  -- kubo.grid
  {"grid without options", function() return kubo.grid() end,
   "table expected, got no value"},
  {"grid without n", function() return kubo.grid{} end,
   "option n is missing"},
  {"grid with n = 1", function() return kubo.grid{n = 1} end,
   "n[1] must be at least 2 (got 1)"},
  {"grid with negative n", function() return kubo.grid{n = {8, -4}} end,
   "n[2] must be at least 2 (got -4)"},
  {"grid with fractional n", function() return kubo.grid{n = 3.5} end,
   "n[1] must be a whole number (got 3.5)"},
  {"grid with NaN n", function() return kubo.grid{n = 0 / 0} end,
   "n[1] must be a whole number"},
  {"grid with a string n", function() return kubo.grid{n = "8"} end,
   "n must be a number or a table of 1 to 3 numbers"},
  {"grid with four axes", function() return kubo.grid{n = {4, 4, 4, 4}} end,
   "n must have 1 to 3 entries {nx, ny, nz} (got 4)"},
  {"grid with no axes", function() return kubo.grid{n = {}} end,
   "n must have 1 to 3 entries {nx, ny, nz} (got 0)"},
  {"grid too large for memory", function() return kubo.grid{n = 2^40} end,
   "out of memory"},
  {"grid with zero length", function()
     return kubo.grid{n = 8, length = 0} end,
   "length[1] must be finite and positive (got 0)"},
  {"grid with infinite length", function()
     return kubo.grid{n = 8, length = math.huge} end,
   "length[1] must be finite and positive (got inf)"},
  {"grid with too few lengths", function()
     return kubo.grid{n = {8, 8}, length = {1}} end,
   "length must be a number or a table of 2 numbers"},
  {"grid with an unknown nyquist", function()
     return kubo.grid{n = 8, nyquist = "keep"} end,
   "nyquist must be \"drop\" or \"zero_k\" (got \"keep\")"},
  {"grid with an unknown option", function()
     return kubo.grid{n = 8, nx = 3} end,
   "grid: unknown option 'nx' (expected n, length, nyquist)"},
  {"grid with a list entry", function() return kubo.grid{n = 8, 5} end,
   "grid: unknown option '1'"},

  -- transforms and operators
  {"fft without a field", function() return g:fft() end,
   "kubo.Tensor expected, got no value"},
  {"fft of the wrong shape", function() return g:fft(kubo.zeros(4, 4)) end,
   "expected a real field ending in (8, 8) (got (4, 4))"},
  {"fft of a freed field", function()
     local t = kubo.zeros(8, 8)
     t:free()
     return g:fft(t) end,
   "attempt to use a freed tensor"},
  {"ifft of a real field", function() return g:ifft(field) end,
   "expected a spectrum ending in (8, 5, 2) (got (8, 8))"},
  {"dx of the wrong shape", function() return g:dx(kubo.zeros(3, 3)) end,
   "or a spectrum ending in (8, 5, 2) (got (3, 3))"},
  {"dz on a 2-D grid", function() return g:dz(field) end,
   "dz needs a grid with at least 3 dimensions (this one has 2)"},
  {"laplacian_power of 100", function()
     return g:laplacian_power(field, 100) end,
   "power must be between -64 and 64 (got 100)"},
  {"laplacian_power of 1.5", function()
     return g:laplacian_power(field, 1.5) end,
   "power must be a whole number (got 1.5)"},
  {"apply with a string", function() return g:apply(field, "x") end,
   "expected a function of (kx, ky) or a symbol tensor (got string)"},
  {"apply whose symbol raises", function()
     return g:apply(field, function() error("no symbol here") end) end,
   "no symbol here"},
  {"apply whose symbol returns a string", function()
     return g:apply(field, function() return "a" end) end,
   "must return one or two numbers (got string at mode 1)"},
  {"apply with a wrong symbol tensor", function()
     return g:apply(field, kubo.zeros(3)) end,
   "a symbol tensor must have the half-spectrum shape"},
  {"filter with a negative cutoff", function() return g:filter(field, -1) end,
   "cutoff wavenumber must be >= 0"},
  {"filter with a NaN cutoff", function()
     return g:filter(field, 0 / 0) end,
   "cutoff wavenumber must be >= 0"},

  -- random fields and noise
  {"random_field without an rng", function()
     return g:random_field(nil, one) end,
   "kubo.Rng expected, got nil"},
  {"random_field with count -1", function()
     return g:random_field(rng, one, -1) end,
   "count must be >= 0"},
  {"random_field with a negative spectrum", function()
     return g:random_field(rng, function() return -1 end) end,
   "spectrum must be finite and >= 0 (got -1 at mode 1)"},
  {"random_field with a NaN spectrum", function()
     return g:random_field(rng, function() return 0 / 0 end) end,
   "spectrum must be finite and >= 0"},
  {"random_field with a complex spectrum", function()
     return g:random_field(rng, kubo.zeros(8, 5, 2)) end,
   "a spectrum must be real (no trailing 2)"},
  {"random_field with a huge count", function()
     return g:random_field(rng, one, 2^40) end,
   "out of memory"},
  {"noise without eps2", function() return g:noise(rng, {}) end,
   "eps2 must be a number >= 0 and finite (got nil)"},
  {"noise with negative eps2", function()
     return g:noise(rng, {eps2 = -1}) end,
   "eps2 must be a number >= 0 and finite (got -1)"},
  {"noise with infinite eps2", function()
     return g:noise(rng, {eps2 = math.huge}) end,
   "eps2 must be a number >= 0 and finite (got inf)"},
  {"noise with NaN eps2", function()
     return g:noise(rng, {eps2 = 0 / 0}) end,
   "eps2 must be a number >= 0 and finite"},
  {"noise with negative members", function()
     return g:noise(rng, {eps2 = 1, members = -1}) end,
   "members and step must be >= 0"},
  {"noise step without members", function()
     return g:noise(rng, {eps2 = 1, step = 2}) end,
   "step needs members (keyed streams)"},
  {"noise for 2^62 members", function()
     return g:noise(rng, {eps2 = 1, members = 2^62}) end,
   "more than 2^48 elements"},
  {"noise with an unknown option", function()
     return g:noise(rng, {eps2 = 1, seed = 2}) end,
   "grid.noise: unknown option 'seed'"},

  -- diagnostics and geometry
  {"energy of an unknown kind", function()
     return g:energy(field, "kinetic") end,
   "invalid option 'kinetic'"},
  {"mean of the wrong shape", function()
     return g:mean(kubo.zeros(7, 8)) end,
   "expected a real field ending in (8, 8) (got (7, 8))"},
  {"spectrum of a vector", function() return g:spectrum(kubo.zeros(3)) end,
   "expected a real field ending in (8, 8) (got (3))"},
  {"z on a 2-D grid", function() return g:z() end,
   "grid.z: this grid has 2 dimensions"},
  {"method of a closed grid", function() return closed_grid():fft(field) end,
   "attempt to use a closed grid"},
  {"grid method on an rng", function() return g.fft(rng, field) end,
   "kubo.Grid expected, got kubo.Rng"},

  -- kubo.rng
  {"rng without a seed", function() return kubo.rng() end,
   "seed must be a whole number from 0 to 2^63-1 (got no value)"},
  {"rng with seed 2^63", function() return kubo.rng(2^63) end,
   "seed must be a whole number from 0 to 2^63-1"},
  {"rng with a NaN seed", function() return kubo.rng(0 / 0) end,
   "(got nan)"},
  {"rng with a string seed", function() return kubo.rng("12") end,
   "(got string)"},
  {"normal with 2^50 values", function() return rng:normal(2^50) end,
   "more than 2^48 elements"},
  {"normal_ without a tensor", function() return rng:normal_() end,
   "kubo.Tensor expected, got no value"},
  {"normal_ with a negative std", function()
     return rng:normal_(kubo.zeros(3), 0, -1) end,
   "std must be finite and non-negative (got -1)"},
  {"uniform_ with reversed bounds", function()
     return rng:uniform_(kubo.zeros(3), 1, 0) end,
   "uniform bounds need low < high (got low 1, high 0)"},
  {"uniform_ to infinity", function()
     return rng:uniform_(kubo.zeros(3), 0, math.huge) end,
   "uniform bounds must be finite"},
  {"stream -1", function() return rng:stream(-1) end,
   "stream number must be a whole number from 0 to 2^63-1 (got -1)"},
  {"set_position 2^70", function() return rng:set_position(2^70) end,
   "position must be a whole number from 0 to 2^63-1"},
  {"rng method on a number", function() return rng.normal(5, 3) end,
   "kubo.Rng expected, got number"},

  -- tensors: cases beyond test_bad_input.lua
  {"size of dimension 2^40", function() return field:size(2^40) end,
   "dimension 1099511627776 out of range 1..2"},
  {"index 2^40", function() return field[2^40] end,
   "index 1099511627776 out of range 1..8"},
  {"slice to 2^60", function() return field:slice(2, 1, 2^60) end,
   "invalid for dimension 2 of size 8"},
  {"nested tables deeper than 8", function()
     local t = 1
     for _ = 1, 10 do t = {t} end
     return kubo.tensor(t) end,
   "nested tables deeper than 8 levels"},
  {"table that contains itself", function()
     local t = {}
     t[1] = t
     return kubo.tensor(t) end,
   "nested tables deeper than 8 levels"},
  {"linspace of 2^50 points", function()
     return kubo.linspace(0, 1, 2^50) end,
   "number of points must be between 0 and 2^48"},
  {"arange with a NaN step", function() return kubo.arange(0, 1, 0 / 0) end,
   "step must be finite"},
  {"view -1 of an empty tensor", function()
     return kubo.zeros(0):view(-1, 0) end,
   "cannot infer size of dimension 1 for 0 elements"},
  {"min of nothing", function() return kubo.zeros(0):min() end,
   "min: tensor has no elements"},
  {"clamp with a NaN bound", function() return field:clamp(0 / 0, 1) end,
   "are not an interval"},
  {"solve with a NaN right side", function()
     return kubo.solve(kubo.tensor{{2, 1}, {1, 3}}, kubo.tensor{0 / 0, 1})
   end,
   "right side contains NaN or Inf"},
  {"modulo of a tensor", function() return field % 2 end,
   "attempt to perform arithmetic on a kubo.Tensor value"},
  {"assigning to a string key", function() field.foo = 1 end,
   "cannot assign to index of type string"},

  -- program-wide functions
  {"threads 0", function() return kubo.threads(0) end,
   "number of threads must be between 1 and 4096 (got 0)"},
  {"threads 2^40", function() return kubo.threads(2^40) end,
   "(got 1099511627776)"},
  {"threads 1.5", function() return kubo.threads(1.5) end,
   "number of threads must be a whole number (got 1.5)"},
  {"doc without a value", function() return kubo.doc() end,
   "value expected"},
  {"setdoc without text", function() return kubo.setdoc(1) end,
   "string expected, got no value"},
}

for _, c in ipairs(cases) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

T.case("grid messages carry the caller's line", function()
  local err = T.raises(function() local r = g:fft(kubo.zeros(3)); return r end,
                       "grid.fft")
  T.ok(err:find("test_robust_grid.lua:%d+:"), err)
end)

T.case("grid of odd size works", function()
  local h = kubo.grid{n = 5}
  local u = kubo.tensor{1, 2, 3, 4, 5}
  T.ok(h:ifft(h:fft(u)):allclose(u, 1e-12))
end)

T.case("empty batches give empty results", function()
  T.eq(g:fft(kubo.zeros(0, 8, 8)):size(1), 0)
  T.eq(g:mean(kubo.zeros(0, 8, 8)):numel(), 0)
  T.eq(g:random_field(rng, one, 0):size(1), 0)
  T.eq(g:noise(rng, {eps2 = 1, members = 0}):size(1), 0)
end)

T.case("transforms accept views and float32", function()
  local u = kubo.rng(2):normal(8, 16)
  local part = u:slice(2, 1, 8)
  T.ok(g:fft(part):allclose(g:fft(part:contiguous()), 1e-12))
  local tr = u:slice(2, 1, 8):transpose(1, 2)
  T.ok(g:fft(tr):allclose(g:fft(tr:contiguous()), 1e-12))
  T.eq(g:fft(part:to("float32")):dtype(), "float64")
end)

T.case("keyed noise returns the fields", function()
  local noise = g:noise(rng, {eps2 = 1, members = 3, step = 2})
  T.eq(getmetatable(noise).__name, "kubo.Tensor")
  T.eq(noise:size(1), 3)
  T.ok(noise:std() > 0)
end)

T.case("closing a grid twice is harmless", function()
  local h = closed_grid()
  h:close()
  T.eq(tostring(h), "kubo.Grid (closed)")
end)

T.case("a view keeps its storage after the base is freed", function()
  local base = kubo.ones(4, 4)
  local row = base[2]
  base:free()
  T.eq(row:sum(), 4)
end)

T.case("objects still work after the errors", function()
  T.near(g:energy(kubo.zeros(8, 8)), 0, 0)
  T.eq(rng:normal(3):numel(), 3)
  T.eq(field:sum(), 0)
end)

T.finish()
