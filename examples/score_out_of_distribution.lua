-- Learned against analytic Allen-Cahn scores on constant fields, the
-- out-of-distribution test of Giorgini, Deck, Bischoff and Souza
-- ("Response Theory via Generative Score Modeling", arXiv:2402.01029,
-- June 2024 version, Fig. 3).
--
-- The script simulates the modified Allen-Cahn SPDE on a 32 x 32 grid,
-- trains a small local score network on its snapshots (stored divided by
-- 4, as in the reference data), and prints both scores on constant fields
-- u = c. The discrete analytic score of a constant field is, per pixel,
-- (2 / (M eps2)) alpha c (1 - c^2) = 7.8125 c (1 - c^2) with M = 1024,
-- alpha = 16 and eps2 = 0.004; in the scaled units x = c / 4 it is
-- 125 x (1 - 16 x^2). Constant fields are far from the data, whose
-- stationary fields are domains near +-1 with interfaces. The reference
-- study found that the learned score follows the cubic's shape there
-- with a smaller amplitude, while it agrees with the analytic score on
-- held-out snapshots.
--
--   kubo examples/score_out_of_distribution.lua          (about 10 min)
--   kubo examples/score_out_of_distribution.lua quick    (about 1 min)
--   kubo examples/score_out_of_distribution.lua full score
--                      (second argument: network output "epsilon" or
--                       "score"; see help(kubo.score.train))

local kubo = require "kubo"

local profile = arg and arg[1] or "full"
local output = arg and arg[2] or "epsilon"
local settings = {
  full = {members = 32, spinup = 200, record = 400, every = 5,
          steps = 2000},
  quick = {members = 8, spinup = 50, record = 100, every = 5, steps = 100},
}
local p = settings[profile]
if p == nil then
  error("unknown profile '" .. tostring(profile) ..
        "' (expected full or quick)")
end

local n, scale = 32, 0.25
local grid = kubo.grid{n = {n, n}, nyquist = "zero_k"}
local model = kubo.models.allen_cahn{grid = grid}
local steps_per_unit = n   -- dt = 1/32

-- Simulation: spin-up, then one snapshot every `every` time units.
io.stderr:write(string.format("simulating %d members for %d + %d time "
                              .. "units\n", p.members, p.spinup, p.record))
local sim = kubo.integrator{model = model, method = "rk4",
                            members = p.members, seed = 1234}
sim:advance(p.spinup * steps_per_unit)
local traj = sim:run{steps = p.record * steps_per_unit,
                     every = p.every * steps_per_unit}
local frames = traj:size(1)
local snapshots = traj:reshape(frames * p.members, n, n)
io.stderr:write(string.format("%d snapshots, pixel values in [%.2f, "
                              .. "%.2f]\n", snapshots:size(1),
                              snapshots:min(), snapshots:max()))

-- Training: the small local network, low-noise range, data scaled by 1/4
-- (scores come back in the units of u).
local net = kubo.nn.local_score{channels = 32, depth = 4, embed = 64,
                                data_std = scale * snapshots:std()}
local score = kubo.score.train{
  net = net, data = snapshots, scale = scale, steps = p.steps, batch = 32,
  noise_range = "response", output = output,
  optimizer = {lr = 5e-4, clip = 1}, ema = 0.999, seed = 1,
  progress = true}
local analytic = kubo.score.analytic(model)

-- In distribution: held-out snapshots.
local d = score:diagnose{data = score:test_data(snapshots),
                         reference = analytic}
print(string.format("held-out snapshots: correlation %.3f, amplitude "
                    .. "ratio %.3f, relative error %.3f",
                    d.reference.correlation, d.reference.ratio,
                    d.reference.relative_error))
print(string.format("Stein values at the lowest shells |k| = 0, 1, 2: "
                    .. "%.3f %.3f %.3f (1 for an exact score)",
                    d.stein.shells[1], d.stein.shells[2],
                    d.stein.shells[3]))

-- Out of distribution: constant fields u = c, c in [-2, 2].
local values = {}
for i = 0, 20 do values[#values + 1] = -2 + 0.2 * i end
local fields = kubo.zeros(#values, n, n)
for i, c in ipairs(values) do fields[i]:fill_(c) end
local learned, exact = score(fields), analytic(fields)

print()
print("constant fields u = c (x = c / 4 in the training units)")
print(string.format("%7s %7s %12s %12s %14s %14s", "c", "x",
                    "analytic", "learned", "analytic (x)", "learned (x)"))
for i, c in ipairs(values) do
  local a = exact[i]:mean()
  local l = learned[i]:mean()
  print(string.format("%7.2f %7.3f %12.4f %12.4f %14.4f %14.4f", c,
                      c * scale, a, l, a / scale, l / scale))
end
print()
print("analytic per pixel: 7.8125 c (1 - c^2) = 125 x (1 - 16 x^2); "
      .. "values in the x columns are s_x = 4 s_u")
