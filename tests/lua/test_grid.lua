-- kubo.grid from Lua: transforms, operators on real fields and spectra,
-- the ORACLES energy field, random fields, the reference noise,
-- diagnostics and invalid calls. Statistical checks use fixed seeds and
-- tolerances of 4 standard errors.
local kubo = require "kubo"
local T = require "kubo.test"

local pi = math.pi

-- Largest |a - b| over two tensors of the same shape.
local function maxdiff(a, b)
  return (a - b):abs():max()
end

-- A real field from a function of (x, y) on the nodes of g.
local function field(g, f)
  local x, y = g:x(), g:y()
  local shape = g:shape()
  local u = kubo.zeros(shape[1], shape[2])
  for j = 1, shape[1] do
    for i = 1, shape[2] do
      u[{j, i}] = f(x[{j, i}], y[{j, i}])
    end
  end
  return u
end

T.case("grid constructor and geometry", function()
  local g = kubo.grid{n = {16, 12}, length = {2 * pi, 3 * pi}}
  T.eq(g:ndim(), 2)
  T.eq(g:nyquist(), "drop")
  T.eq(g:n()[1], 16)
  T.eq(g:n()[2], 12)
  T.near(g:length()[2], 3 * pi, 1e-15)
  T.eq(g:shape()[1], 12)
  T.eq(g:shape()[2], 16)
  local s = g:spectral_shape()
  T.eq(#s, 3)
  T.eq(s[1], 12)
  T.eq(s[2], 9)
  T.eq(s[3], 2)
  -- x_i = (i - 1) Lx / nx along the second (fastest) dimension
  T.near(g:x()[{1, 3}], 2 * 2 * pi / 16, 1e-15)
  T.near(g:y()[{5, 1}], 4 * 3 * pi / 12, 1e-15)
  T.ok(tostring(g):find("16 x 12 points", 1, true))
  local g1 = kubo.grid{n = 8}
  T.eq(g1:ndim(), 1)
  T.near(g1:length()[1], 2 * pi, 1e-15)
  T.eq(kubo.grid{n = {8, 8}, nyquist = "zero_k"}:nyquist(), "zero_k")
end)

T.case("grid wavenumbers under both conventions", function()
  local drop = kubo.grid{n = {8, 6}, length = {2 * pi, 4 * pi}}
  local zk = kubo.grid{n = {8, 6}, length = {2 * pi, 4 * pi},
                       nyquist = "zero_k"}
  local kx, ky = drop:wavenumbers()
  T.eq(kx:shape()[1], 6)
  T.eq(kx:shape()[2], 5)
  T.eq(kx[{1, 5}], -4)        -- Nyquist column under drop
  T.eq(ky[{4, 1}], -1.5)      -- Nyquist row: -(pi n / L) = -1.5
  T.eq(ky[{2, 3}], 0.5)
  local zx, zy = zk:wavenumbers()
  T.eq(zx[{1, 5}], 0)
  T.eq(zy[{4, 1}], 0)
  T.eq(zk:k2()[{2, 5}], 0.25) -- kx = 0 (Nyquist), ky = 0.5
  -- 2/3 mask on 32 x 32: 21 x 11 of 32 x 17 half-spectrum modes kept
  local mask = kubo.grid{n = {32, 32}}:dealias_mask()
  T.eq(mask:sum(), 231)
end)

T.case("grid fft normalisation and round trip", function()
  local g = kubo.grid{n = {16, 8}}
  local u = field(g, function(x, y) return math.cos(2 * x) end)
  local uh = g:fft(u)
  T.eq(uh:shape()[3], 2)
  -- cos(2x) on 16 x 8 points: 16 * 8 / 2 = 64 at (ky, kx) = (0, 2)
  T.near(uh[{1, 3, 1}], 64, 1e-12)
  T.near(uh[{1, 3, 2}], 0, 1e-12)
  T.near(maxdiff(g:ifft(uh), u), 0, 1e-15)
  -- ifft leaves its input unchanged
  T.near(uh[{1, 3, 1}], 64, 1e-12)
  -- batches over leading dimensions
  local r = kubo.rng(7):normal(3, 2, 8, 16)
  local rh = g:fft(r)
  T.eq(rh:dim(), 5)
  T.near(maxdiff(g:ifft(rh), r), 0, 1e-14)
  T.near(maxdiff(rh[2][1], g:fft(r[2][1])), 0, 0)
  -- float32 input is converted
  local r32 = r:to("float32")
  T.eq(g:fft(r32):dtype(), "float64")
end)

-- Derivatives of u = cos(x + 2y/3) sin(2x) + sin(4y/3) on a 2 pi x 3 pi
-- box, written out by hand.
T.case("grid derivatives exact on a non-square box", function()
  for _, nyq in ipairs{"drop", "zero_k"} do
    local g = kubo.grid{n = {16, 24}, length = {2 * pi, 3 * pi},
                        nyquist = nyq}
    local u = field(g, function(x, y)
      return math.cos(x + 2 * y / 3) * math.sin(2 * x) +
             math.sin(4 * y / 3)
    end)
    local ux = field(g, function(x, y)
      return -math.sin(x + 2 * y / 3) * math.sin(2 * x) +
             2 * math.cos(x + 2 * y / 3) * math.cos(2 * x)
    end)
    local uy = field(g, function(x, y)
      return -2 / 3 * math.sin(x + 2 * y / 3) * math.sin(2 * x) +
             4 / 3 * math.cos(4 * y / 3)
    end)
    -- cos(a) sin(b) = (sin(a + b) - sin(a - b)) / 2 with wave vectors
    -- (3, 2/3) and (-1, 2/3): |k|^2 = 85/9 and 13/9
    local lap = field(g, function(x, y)
      return -(85 / 9) * math.sin(3 * x + 2 * y / 3) / 2 +
             (13 / 9) * math.sin(-x + 2 * y / 3) / 2 -
             (16 / 9) * math.sin(4 * y / 3)
    end)
    T.near(maxdiff(g:dx(u), ux), 0, 1e-13, nyq .. " dx")
    T.near(maxdiff(g:dy(u), uy), 0, 1e-13, nyq .. " dy")
    T.near(maxdiff(g:laplacian(u), lap), 0, 1e-12, nyq .. " laplacian")
    T.near(maxdiff(g:inverse_laplacian(lap), u), 0, 1e-13,
           nyq .. " inverse laplacian")
    T.near(maxdiff(g:laplacian_power(u, 2), g:laplacian(lap)), 0, 1e-11,
           nyq .. " laplacian power 2")
    T.near(maxdiff(g:laplacian_power(lap, -1), u), 0, 1e-13,
           nyq .. " laplacian power -1")
    -- on spectra: i kx times the spectrum
    local uh = g:fft(u)
    T.near(maxdiff(g:ifft(g:dx(uh)), ux), 0, 1e-13, nyq .. " dx spectrum")
    T.near(maxdiff(g:ifft(g:laplacian(uh)), lap), 0, 1e-12)
  end
end)

T.case("grid 1-D derivative", function()
  local g = kubo.grid{n = 15, length = 3}
  local x = g:x()
  local u = x:map(function(v) return math.sin(2 * pi * 3 * v / 3) end)
  local du = x:map(function(v)
    return 2 * pi * 3 / 3 * math.cos(2 * pi * 3 * v / 3)
  end)
  T.near(maxdiff(g:dx(u), du), 0, 1e-12)
end)

T.case("grid apply and filter", function()
  local g = kubo.grid{n = {16, 12}, length = {2 * pi, 3 * pi}}
  local u = kubo.rng(3):normal(12, 16)
  -- the symbol i kx is dx
  local v = g:apply(u, function(kx, ky) return 0, kx end)
  T.near(maxdiff(v, g:dx(u)), 0, 1e-14)
  -- a real symbol -(kx^2 + ky^2) is the laplacian
  local w = g:apply(u, function(kx, ky) return -(kx * kx + ky * ky) end)
  T.near(maxdiff(w, g:laplacian(u)), 0, 1e-12)
  -- a symbol tensor: the k2 table gives minus the laplacian
  T.near(maxdiff(g:apply(u, g:k2()), -g:laplacian(u)), 0, 1e-12)
  -- a sharp filter at |k| <= 0 keeps only the mean
  local m = g:filter(u, 0)
  T.near(maxdiff(m, kubo.full({12, 16}, g:mean(u))), 0, 1e-14)
  -- a function of k2
  local f = g:filter(u, function(k2) return k2 == 0 and 1 or 0 end)
  T.near(maxdiff(f, m), 0, 1e-15)
  -- the 2/3 rule leaves a low mode alone and removes a high one
  local low = field(g, function(x, y) return math.cos(3 * x) end)
  local high = field(g, function(x, y) return math.cos(6 * x) end)
  T.near(maxdiff(g:dealias(low), low), 0, 1e-14)
  T.near(g:dealias(high):abs():max(), 0, 1e-14)
end)

-- ORACLES.md: psi = sin(2 k0 x) cos(2 l0 y) + 2 sin(k0 x) cos(3 l0 y) on
-- a 2 pi x 3 pi box: energy 29/9, enstrophy 2701/162.
T.case("grid energy and enstrophy oracle", function()
  for _, nyq in ipairs{"drop", "zero_k"} do
    local g = kubo.grid{n = {32, 32}, length = {2 * pi, 3 * pi},
                        nyquist = nyq}
    local k0, l0 = 1, 2 / 3
    local psi = field(g, function(x, y)
      return math.sin(2 * k0 * x) * math.cos(2 * l0 * y) +
             2 * math.sin(k0 * x) * math.cos(3 * l0 * y)
    end)
    T.near(g:energy(psi), 29 / 9, 1e-12)
    T.near(g:enstrophy(psi), 2701 / 162, 1e-11)
    local omega = g:laplacian(psi)
    T.near(g:energy(omega, "vorticity"), 29 / 9, 1e-12)
    T.near(g:enstrophy(omega, "vorticity"), 2701 / 162, 1e-11)
    local E, k = g:spectrum(psi, "streamfunction")
    T.near(E:sum(), 29 / 9, 1e-12)
    T.near(k[2], 2 / 3, 1e-15)
    -- a batch gives one value per field
    local batch = kubo.zeros(3, 32, 32)
    for i = 1, 3 do batch[i]:copy_(psi * i) end
    local e = g:energy(batch)
    T.eq(e:dim(), 1)
    T.near(e[3], 9 * 29 / 9, 1e-11)
  end
end)

T.case("grid parseval for random fields", function()
  for _, nyq in ipairs{"drop", "zero_k"} do
    local g = kubo.grid{n = {32, 24}, nyquist = nyq}
    local u = kubo.rng(42):normal(24, 32)
    local half_mean_square = 0.5 * (u * u):mean()
    T.near(g:energy(u, "plain") / half_mean_square, 1, 1e-13)
    local E = g:spectrum(u)
    T.near(E:sum() / half_mean_square, 1, 1e-13)
  end
end)

T.case("grid random field variance", function()
  -- S = exp(-k2 / 10) on 16 x 16 (drop): variance = sum over all kept
  -- modes, which are |mx|, |my| <= 7 plus the negative Nyquist-free set
  local g = kubo.grid{n = {16, 16}}
  local want, sum_sq = 0, 0
  for my = -7, 8 do
    for mx = -7, 8 do
      if mx ~= 8 and my ~= 8 then
        local s = math.exp(-(mx * mx + my * my) / 10)
        want, sum_sq = want + s, sum_sq + s * s
      end
    end
  end
  local F = 400
  local u = g:random_field(kubo.rng(5), function(k2)
    return math.exp(-k2 / 10)
  end, F)
  T.eq(u:dim(), 3)
  local se = math.sqrt(2 * sum_sq / F)
  T.near((u * u):mean(), want, 4 * se)
  -- the mean mode has power: the spatial mean is not zero
  T.ok(math.abs(g:mean(u[1])) > 0)
end)

T.case("grid reference noise variance and keyed members", function()
  local g = kubo.grid{n = {32, 32}, nyquist = "zero_k"}
  local rng = kubo.rng(1234)
  local eta = g:noise(rng, {eps2 = 0.004, members = 256})
  T.eq(eta:dim(), 3)
  T.eq(eta:size(1), 256)
  -- sum_k a_k^4 for a_k^2 = eps2 / (1 + |k|^2), zero_k wavenumbers
  local sum_a2, sum_a4 = 0, 0
  for iy = 0, 31 do
    for ix = 0, 31 do
      local kx = ix == 16 and 0 or (ix < 16 and ix or ix - 32)
      local ky = iy == 16 and 0 or (iy < 16 and iy or iy - 32)
      local s = 0.004 / (1 + kx * kx + ky * ky)
      sum_a2, sum_a4 = sum_a2 + s, sum_a4 + s * s
    end
  end
  T.near(sum_a2, 0.099994, 1e-6)
  local se = math.sqrt(2 * sum_a4 / 256)
  T.near((eta * eta):mean(), sum_a2, 4 * se)
  -- keyed: member j at step s does not depend on the member count
  local a = g:noise(rng, {eps2 = 0.004, members = 4, step = 9})
  local b = g:noise(rng, {eps2 = 0.004, members = 2, step = 9})
  T.ok(a[2]:equal(b[2]))
  T.ok(not a[1]:equal(g:noise(rng, {eps2 = 0.004, members = 1,
                                    step = 10})[1]))
  -- unkeyed: one field, advancing rng by M blocks
  local r = kubo.rng(3)
  local single = g:noise(r, {eps2 = 0.004})
  T.eq(single:dim(), 2)
  T.eq(r:position(), 1024)
end)

T.case("grid help strings", function()
  local g = kubo.grid{n = {8, 8}}
  for _, name in ipairs{"fft", "ifft", "dx", "dy", "dz", "laplacian",
                        "inverse_laplacian", "laplacian_power", "dealias",
                        "apply", "filter", "random_field", "noise", "mean",
                        "energy", "enstrophy", "spectrum", "wavenumbers",
                        "k2", "dealias_mask", "x", "y", "z", "n", "length",
                        "shape", "spectral_shape", "ndim", "nyquist",
                        "close"} do
    local doc = kubo.doc(g[name])
    T.ok(type(doc) == "string" and #doc > 10, name .. " has a docstring")
  end
  T.ok(kubo.doc(kubo.grid):find("nyquist", 1, true))
end)

T.case("grid bad calls", function()
  T.raises(function() kubo.grid{n = {1, 8}} end,
           "n[1] must be at least 2 (got 1)")
  T.raises(function() kubo.grid{n = {8, 8, 8, 8}} end,
           "n must have 1 to 3 entries")
  T.raises(function() kubo.grid{n = {8.5, 8}} end,
           "n[1] must be a whole number (got 8.5)")
  T.raises(function() kubo.grid{} end, "option n is missing")
  T.raises(function() kubo.grid{n = {8, 8}, nyquist = "zero"} end,
           'nyquist must be "drop" or "zero_k" (got "zero")')
  T.raises(function() kubo.grid{n = {8, 8}, length = {1}} end,
           "length must be a number or a table of 2 numbers")
  T.raises(function() kubo.grid{n = {8, 8}, length = -1} end,
           "length[1] must be finite and positive (got -1)")
  T.raises(function() kubo.grid{n = {8, 8}, nyquits = "drop"} end,
           "unknown option 'nyquits'")

  local g = kubo.grid{n = {8, 6}}
  T.raises(function() g:fft(kubo.zeros(8, 6)) end,
           "grid.fft: expected a real field ending in (6, 8) (got (8, 6))")
  T.raises(function() g:ifft(kubo.zeros(6, 8)) end,
           "grid.ifft: expected a spectrum ending in (6, 5, 2)")
  T.raises(function() g:dx(kubo.zeros(3)) end,
           "grid.dx: expected a real field ending in (6, 8) or a spectrum "
           .. "ending in (6, 5, 2) (got (3))")
  T.raises(function() g:dz(kubo.zeros(6, 8)) end,
           "dz needs a grid with at least 3 dimensions")
  T.raises(function() kubo.grid{n = 8}:dy(kubo.zeros(8)) end,
           "dy needs a grid with at least 2 dimensions")
  T.raises(function() g:energy(kubo.zeros(6, 8), "velocity") end,
           "invalid option 'velocity'")
  T.raises(function() g:apply(kubo.zeros(6, 8), 3) end,
           "expected a function of (kx, ky) or a symbol tensor")
  T.raises(function()
    g:apply(kubo.zeros(6, 8), function() return "a" end)
  end, "must return one or two numbers")
  T.raises(function() g:apply(kubo.zeros(6, 8), kubo.zeros(6, 4)) end,
           "a symbol tensor must have the half-spectrum shape")
  T.raises(function()
    g:random_field(kubo.rng(1), function(k2) return -1 end)
  end, "spectrum must be finite and >= 0 (got -1")
  T.raises(function() g:noise(kubo.rng(1), {}) end,
           "eps2 must be a number >= 0")
  T.raises(function() g:noise(kubo.rng(1), {eps2 = 1, step = 2}) end,
           "step needs members")
  T.raises(function() g:laplacian_power(kubo.zeros(6, 8), 1.5) end,
           "power must be a whole number")
  T.raises(function() g:z() end, "grid.z: this grid has 2 dimensions")
  g:close()
  T.raises(function() g:dx(kubo.zeros(6, 8)) end,
           "attempt to use a closed grid")
  T.ok(tostring(g):find("closed", 1, true))
end)

T.finish()
