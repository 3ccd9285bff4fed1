-- kubo.optim from Lua: Adam, SGD, EMA, schedules and errors.
local kubo = require "kubo"
local T = require "kubo.test"
local nn, optim = kubo.nn, kubo.optim

-- A one-parameter-array layer whose gradient we set by hand.
local function layer()
  local l = nn.linear(2, 1, {bias = false, seed = 1})
  local p, g = l:parameters()
  p[1], p[2] = 1, -1
  return l, p, g
end

T.case("adam first step moves by lr sign(g)", function()
  local l, p, g = layer()
  local opt = optim.adam{net = l, lr = 0.1}
  g[1], g[2] = 0.5, -2
  T.eq(opt:step(), 1)
  T.near(p[1], 1 - 0.1, 1e-6)
  T.near(p[2], -1 + 0.1, 1e-6)
end)

T.case("sgd with momentum", function()
  local l, p, g = layer()
  local opt = optim.sgd{net = l, lr = 0.1, momentum = 0.5}
  g[1], g[2] = 1, 0
  opt:step()
  opt:step()
  -- b = 1, then 1.5: p = 1 - 0.1 - 0.15
  T.near(p[1], 0.75, 1e-6)
  T.near(p[2], -1, 0)
end)

T.case("schedule function and warm-up", function()
  local l, p, g = layer()
  local seen = {}
  local opt = optim.sgd{net = l, lr = function(step)
    seen[#seen + 1] = step
    return 0.5 / step
  end, warmup = 2}
  g[1], g[2] = 1, 1
  opt:step()
  -- step 1: lr 0.5 times the warm-up factor 1/2
  T.near(p[1], 1 - 0.25, 1e-6)
  opt:step()
  -- step 2: lr 0.25, warm-up done
  T.near(p[1], 0.75 - 0.25, 1e-6)
  T.eq(seen[1], 1)
  T.eq(seen[2], 2)
  T.near(opt:lr(), 0.25, 1e-12)
  opt:set_lr(0.1)
  opt:step()
  T.near(p[1], 0.5 - 0.1, 1e-6, "set_lr replaces the schedule")
  T.eq(#seen, 2)
end)

T.case("global and per-array clipping", function()
  local net = nn.sequential{nn.linear(1, 1, {bias = false, seed = 2}),
                            nn.linear(1, 1, {bias = false, seed = 3})}
  local p, g = net:parameters()
  local p0 = {p[1], p[2]}
  -- gradients 3 and 4: global norm 5
  g[1], g[2] = 3, 4
  local opt = optim.sgd{net = net, lr = 1, clip = 1}
  opt:step()
  T.near(p[1], p0[1] - 0.6, 1e-6)
  T.near(p[2], p0[2] - 0.8, 1e-6)
  T.near(opt:grad_norm(), 5, 1e-6)
  local q = {p[1], p[2]}
  local per = optim.sgd{net = net, lr = 1, clip = 1, clip_mode = "array"}
  per:step()
  T.near(p[1], q[1] - 1, 1e-6)
  T.near(p[2], q[2] - 1, 1e-6)
end)

T.case("adam reference order defaults to per-array clipping", function()
  local l = layer()
  local opt = optim.adam{net = l, order = "reference", clip = 1,
                         warmup = 5000, lr = 2e-4}
  local c = opt:config()
  T.eq(c.order, "reference")
  T.eq(c.clip_mode, "array")
  T.eq(c.warmup, 5000)
  T.eq(optim.adam{net = l, clip = 1}:config().clip_mode, "global")
end)

T.case("ema warm-up follows the weights", function()
  local l, p = layer()
  local e = optim.ema{net = l, rate = 0.999}
  p[1] = 2
  e:update()
  -- the first rate is min(0.999, 1/10): 0.1 * 1 + 0.9 * 2
  T.near(e:weights()[1], 1.9, 1e-6)
  local plain = optim.ema{net = l, rate = 0.999, warmup = false}
  p[1] = 3
  plain:update()
  T.near(plain:weights()[1], 0.999 * 2 + 0.001 * 3, 1e-6)
  T.eq(e:updates(), 1)
  e:swap()
  T.near(p[1], 1.9, 1e-6)
  e:swap()
  T.eq(p[1], 3)
  local avg = e:network()
  T.near(avg:parameters()[1], 1.9, 1e-6)
  T.eq(p[1], 3, "network() leaves the original alone")
end)

T.case("nan gradient raises and keeps the weights", function()
  local l, p, g = layer()
  local opt = optim.adam{net = l}
  g[1], g[2] = 0 / 0, 1
  T.raises(function() opt:step() end,
           "adam: gradient of 'weight' is NaN or infinite at step 1")
  T.eq(p[1], 1)
  T.eq(opt:step_count(), 0)
end)

T.case("bad options raise", function()
  local l = layer()
  T.raises(function() return optim.adam{lr = 1} end,
           "optim.adam: the net option is required")
  T.raises(function() return optim.adam{net = 3} end,
           "net must be a kubo.nn.Module (got number)")
  T.raises(function() return optim.adam{net = l, beta = 0.9} end,
           "optim.adam: unknown option 'beta'")
  T.raises(function() return optim.adam{net = l, betas = {0.9, 1}} end,
           "adam: betas must be in [0, 1) (got 0.9 and 1)")
  T.raises(function() return optim.adam{net = l, order = "flux"} end,
           "order must be \"standard\" or \"reference\"")
  T.raises(function() return optim.sgd{net = l, clip_mode = "layer"} end,
           "clip_mode must be \"global\" or \"array\"")
  T.raises(function() return optim.ema{net = l, rate = 1} end,
           "ema: rate must be in [0, 1) (got 1)")
  local opt = optim.sgd{net = l, lr = function() return "fast" end}
  T.raises(function() opt:step() end, "the lr schedule returned string")
  local other = nn.linear(2, 2)
  local e = optim.ema{net = l}
  T.raises(function() e:copy_to(other) end, "differs from the averaged one")
end)

T.case("docstrings", function()
  for _, name in ipairs{"adam", "sgd", "ema"} do
    T.ok(#(kubo.doc(optim[name]) or "") > 20, "doc of optim." .. name)
  end
  local opt = optim.adam{net = layer()}
  T.ok(kubo.doc(opt.step):find("schedule") ~= nil)
  T.ok(tostring(opt):find("kubo.optim.Optimizer adam", 1, true))
end)

T.finish()
