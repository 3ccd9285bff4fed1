-- kubo.nn from Lua: layers, shapes, containers, errors, save and load.
local kubo = require "kubo"
local T = require "kubo.test"
local nn = kubo.nn

-- Flattens a tensor (any shape) into a Lua list, row-major.
local function flat(x)
  local out = {}
  local function walk(v)
    if type(v) == "table" then
      for i = 1, #v do walk(v[i]) end
    else
      out[#out + 1] = v
    end
  end
  walk(x:totable())
  return out
end

local function max_abs_diff(a, b)
  local fa, fb = flat(a), flat(b)
  assert(#fa == #fb, "sizes differ")
  local worst = 0
  for i = 1, #fa do worst = math.max(worst, math.abs(fa[i] - fb[i])) end
  return worst
end

local function same_shape(x, shape)
  local s = x:shape()
  if #s ~= #shape then return false end
  for i = 1, #s do if s[i] ~= shape[i] then return false end end
  return true
end

local rng = kubo.rng(7)

T.case("linear forward matches its weights", function()
  local l = nn.linear(2, 3, {seed = 1})
  local params = l:named_parameters()
  T.eq(params[1].name, "weight")
  T.eq(params[2].name, "bias")
  local w, b = params[1].value, params[2].value
  local x = kubo.tensor{{1, 2}, {-1, 0.5}}
  local y = l:forward(x)
  T.ok(same_shape(y, {2, 3}), "output shape")
  T.eq(y:dtype(), "float32")
  for i = 1, 2 do
    for o = 1, 3 do
      local want = b[o] + w[{o, 1}] * x[{i, 1}] + w[{o, 2}] * x[{i, 2}]
      T.near(y[{i, o}], want, 1e-6)
    end
  end
  -- PyTorch's default range: |w| <= 1/sqrt(in)
  for _, v in ipairs(flat(w)) do T.ok(math.abs(v) <= 1 / math.sqrt(2)) end
end)

T.case("linear backward and zero_grad", function()
  local l = nn.linear{["in"] = 2, out = 1, seed = 2}
  local x = kubo.tensor{{1, 2}, {3, 4}}
  l:forward(x)
  local dx = l:backward(kubo.tensor{{1}, {1}})
  local _, grads = l:parameters()
  -- dW = sum over the batch of dy x, db = sum of dy
  T.near(grads[1], 4, 1e-6)
  T.near(grads[2], 6, 1e-6)
  T.near(grads[3], 2, 1e-6)
  T.ok(same_shape(dx, {2, 2}))
  l:backward(kubo.tensor{{1}, {1}})
  T.near(grads[1], 8, 1e-6, "backward accumulates")
  l:zero_grad()
  T.eq(grads[1], 0)
  T.eq(l:num_parameters(), 3)
end)

T.case("conv2d, group_norm, upsample, concat shapes", function()
  local c = nn.conv2d{in_channels = 2, out_channels = 4, stride = 2}
  local y = c:forward(rng:normal(3, 2, 8, 6))
  T.ok(same_shape(y, {3, 4, 4, 3}), "stride 2 halves")
  local g = nn.group_norm{groups = 2, channels = 4}
  T.ok(same_shape(g:forward(y), {3, 4, 4, 3}))
  T.ok(same_shape(nn.upsample():forward(y), {3, 4, 8, 6}))
  local cat = nn.concat()
  local z = cat:forward(y, rng:normal(3, 1, 4, 3))
  T.ok(same_shape(z, {3, 5, 4, 3}))
  local da, db = cat:backward(z)
  T.ok(same_shape(da, {3, 4, 4, 3}) and same_shape(db, {3, 1, 4, 3}))
end)

T.case("group_norm output is normalised", function()
  local g = nn.group_norm{groups = 1, channels = 2}
  local y = g:forward(rng:normal(1, 2, 4, 4))
  local v = flat(y)
  local mean, sq = 0, 0
  for _, e in ipairs(v) do mean = mean + e / #v end
  for _, e in ipairs(v) do sq = sq + (e - mean) ^ 2 / #v end
  T.near(mean, 0, 1e-6)
  T.near(sq, 1, 1e-4)
end)

T.case("activations", function()
  local x = kubo.tensor{{-1, 0, 2}}
  local s = flat(nn.swish():forward(x))
  T.near(s[1], -1 / (1 + math.exp(1)), 1e-6)
  T.near(s[3], 2 / (1 + math.exp(-2)), 1e-6)
  local r = flat(nn.relu():forward(x))
  T.eq(r[1], 0)
  T.eq(r[3], 2)
  T.near(flat(nn.tanh():forward(x))[3], math.tanh(2), 1e-6)
end)

T.case("fourier embedding and embed_bias", function()
  local e = nn.fourier_embedding{size = 8, dense = false, seed = 3}
  local y = e:forward(kubo.tensor{0, 0.5})
  T.ok(same_shape(y, {2, 8}))
  -- at t = 0 the sines are 0 and the cosines 1
  for j = 1, 4 do
    T.near(y[{1, j}], 0, 1e-7)
    T.near(y[{1, 4 + j}], 1, 1e-7)
  end
  local eb = nn.embed_bias{embed = 8, channels = 3}
  local z = eb:forward(rng:normal(2, 3, 4, 4), y)
  T.ok(same_shape(z, {2, 3, 4, 4}))
end)

T.case("sequential shares parameters with its layers", function()
  local l1, l2 = nn.linear(1, 4, {seed = 4}), nn.linear(4, 1, {seed = 5})
  local x = kubo.tensor{{0.3}, {-0.7}}
  local before = l1:forward(x)
  local seq = nn.sequential{l1, nn.tanh(), l2}
  T.eq(seq:num_parameters(), 8 + 5)
  T.eq(max_abs_diff(l1:forward(x), before), 0, "copied in")
  local p = seq:parameters()
  p[1] = p[1] + 1
  T.near(l1:named_parameters()[1].value[{1, 1}], p[1], 0,
         "the layer reads the container's block")
  T.raises(function() return nn.sequential{l1} end,
           "already belongs to a container")
  local l3 = nn.linear(1, 1)
  T.raises(function() return nn.sequential{l3, l3} end,
           "same object as layer 1")
  T.eq(seq:named_parameters()[1].name, "1.weight")
end)

T.case("mlp with and without a noise embedding", function()
  local m = nn.mlp{sizes = {2, 16, 1}}
  T.ok(same_shape(m:forward(rng:normal(5, 2)), {5, 1}))
  local c = nn.mlp{sizes = {2, 16, 1}, embed = 8}
  T.ok(same_shape(c:forward(rng:normal(5, 2), 0.3), {5, 1}))
  T.ok(same_shape(c:forward(rng:normal(5, 2), kubo.tensor{0.1, 0.2, 0.3,
                                                           0.4, 0.5}),
                  {5, 1}), "one sigma per sample")
  T.raises(function() return c:forward(rng:normal(5, 2)) end,
           "needs a noise level")
  T.raises(function() return m:forward(rng:normal(5, 2), 0.3) end,
           "takes no noise level")
  T.raises(function() return c:forward(rng:normal(5, 2), -1) end,
           "sigma must be positive and finite (got -1 at batch index 0)")
  T.raises(function() return c:forward(rng:normal(5, 2), kubo.tensor{1, 2})
  end, "sigma has 2 values, expected 1 or the batch size 5")
end)

T.case("unet reference size and shapes", function()
  local net = nn.unet{}
  -- the reference configuration, counted layer by layer from the
  -- architecture: 11 091 809 parameters, 8 of 9 in the residual blocks
  T.eq(net:num_parameters(), 11091809)
  local small = nn.unet{channels = {8, 16}, blocks = 1, embed = 16}
  local y = small:forward(rng:normal(2, 1, 16, 16), 0.5)
  T.ok(same_shape(y, {2, 1, 16, 16}))
  local full = nn.unet{channels = {8, 16, 16}, blocks = 2, embed = 16,
                       mean_bypass = true, scale_mean_bypass = true,
                       gnorm = true, shift_input = true,
                       shift_output = true, periodic = false,
                       in_channels = 2, sigma_min = 0.01, sigma_max = 10}
  T.ok(same_shape(full:forward(rng:normal(1, 2, 8, 8), 1), {1, 2, 8, 8}))
end)

T.case("unet shift_output removes the spatial mean", function()
  local net = nn.unet{channels = {4, 8}, blocks = 1, embed = 8,
                      shift_output = true}
  local y = net:forward(rng:normal(1, 1, 8, 8), 0.2)
  local mean = 0
  for _, v in ipairs(flat(y)) do mean = mean + v / 64 end
  T.near(mean, 0, 1e-6)
end)

T.case("local_score shapes and size", function()
  local net = nn.local_score{}
  -- 32 channels, depth 4, embedding 64, counted layer by layer
  T.eq(net:num_parameters(), 54113)
  local y = net:forward(rng:normal(3, 1, 32, 32), 0.05)
  T.ok(same_shape(y, {3, 1, 32, 32}))
end)

T.case("wrong shapes name the layer and the shapes", function()
  local net = nn.unet{channels = {4, 8}, blocks = 1, embed = 8}
  T.raises(function() return net:forward(rng:normal(2, 3, 8, 8), 1) end,
           "unet enc1.conv: input has shape (2, 3, 8, 8), expected " ..
           "(batch, 1, height, width)")
  T.raises(function() return net:forward(rng:normal(2, 1, 7, 8), 1) end,
           "unet: input size 7x8 must be a multiple of 2")
  T.raises(function() return nn.linear(3, 2):forward(rng:normal(4, 2)) end,
           "linear: input has shape (4, 2), expected (batch, 3)")
  local seq = nn.sequential{nn.linear(3, 2), nn.relu(), nn.linear(4, 1)}
  T.raises(function() return seq:forward(rng:normal(4, 3)) end,
           "sequential[3] linear: input has shape (4, 2), expected " ..
           "(batch, 4)")
  T.raises(function() return nn.concat():forward(rng:normal(2, 3, 4, 4),
                                                 rng:normal(2, 3, 4, 5))
  end, "concat: inputs have shapes (2, 3, 4, 4) and (2, 3, 4, 5)")
  local l = nn.linear(2, 2)
  T.raises(function() return l:backward(kubo.zeros(1, 2)) end,
           "backward needs a forward call first")
  l:forward(kubo.zeros(3, 2))
  T.raises(function() return l:backward(kubo.zeros(1, 2)) end,
           "output gradient has shape (1, 2), expected the output's " ..
           "shape (3, 2)")
end)

T.case("bad options raise", function()
  T.raises(function() return nn.unet{chanels = {4, 8}} end,
           "nn.unet: unknown option 'chanels'")
  T.raises(function() return nn.unet{channels = {4}} end,
           "channels must have 2 to 8 entries")
  T.raises(function() return nn.conv2d{in_channels = 1, out_channels = 1,
                                       kernel = 2} end,
           "kernel must be odd")
  T.raises(function() return nn.group_norm{groups = 3, channels = 4} end,
           "channels (4) must be a multiple of groups (3)")
  T.raises(function() return nn.mlp{sizes = {1, 8, 1}, activation = "elu"}
  end, "activation must be \"swish\", \"relu\" or \"tanh\"")
  T.raises(function() return nn.unet{sigma_min = 1} end,
           "sigma_min and sigma_max must satisfy")
  T.raises(function() return nn.sequential{nn.linear(1, 1), 3} end,
           "entry 2 is a number, expected a layer")
  T.raises(function() return nn.load("no_such_file.h5") end,
           "no_such_file.h5")
end)

T.case("seeds make initialisation reproducible", function()
  local a = nn.local_score{channels = 4, depth = 1, embed = 8, seed = 9}
  local b = nn.local_score{channels = 4, depth = 1, embed = 8, seed = 9}
  local c = nn.local_score{channels = 4, depth = 1, embed = 8, seed = 10}
  T.eq(max_abs_diff(a:parameters(), b:parameters()), 0)
  T.ok(max_abs_diff(a:parameters(), c:parameters()) > 0)
  nn.seed(5)
  local d = nn.linear(3, 3)
  nn.seed(5)
  local e = nn.linear(3, 3)
  T.eq(max_abs_diff(d:parameters(), e:parameters()), 0)
end)

T.case("save and load round trip", function()
  local path = os.tmpname()
  local net = nn.local_score{channels = 4, depth = 2, embed = 8, seed = 1}
  local opt = kubo.optim.adam{net = net, lr = 1e-2, clip = 1,
                              warmup = 5}
  local ema = kubo.optim.ema{net = net}
  local function step(n, o, e, k)
    local r = kubo.rng(100 + k)
    local x = r:normal(2, 1, 8, 8)
    local y = n:forward(x, 0.1)
    local _, dy = nn.mse(y, x)
    n:zero_grad()
    n:backward(dy)
    o:step()
    e:update()
  end
  for k = 1, 3 do step(net, opt, ema, k) end
  net:save(path, {optimizer = opt, ema = ema})

  local net2 = nn.load(path)
  T.eq(net2:spec(), net:spec())
  local opt2 = kubo.optim.adam{net = net2}
  local ema2 = kubo.optim.ema{net = net2, rate = 0.5}
  opt2:load(path)
  ema2:load(path)
  T.eq(opt2:step_count(), 3)
  T.eq(opt2:config().warmup, 5)
  local x = kubo.rng(1):normal(2, 1, 8, 8)
  T.eq(max_abs_diff(net:forward(x, 0.2), net2:forward(x, 0.2)), 0,
       "identical outputs")
  for k = 4, 6 do
    step(net, opt, ema, k)
    step(net2, opt2, ema2, k)
  end
  T.eq(max_abs_diff(net:parameters(), net2:parameters()), 0,
       "identical further training")
  T.eq(max_abs_diff(ema:weights(), ema2:weights()), 0, "identical EMA")
  os.remove(path)
end)

T.case("nested sequential save and load", function()
  local path = os.tmpname()
  local inner = nn.sequential{nn.linear(2, 4), nn.relu()}
  local net = nn.sequential{inner, nn.linear(4, 3), nn.tanh()}
  T.eq(net:spec(), "sequential{sequential{linear{in=2,out=4,bias=true}," ..
                   "relu{}},linear{in=4,out=3,bias=true},tanh{}}")
  T.eq(net:named_parameters()[1].name, "1.1.weight")
  net:save(path)
  local back = nn.load(path)
  local x = rng:normal(5, 2)
  T.eq(max_abs_diff(net:forward(x), back:forward(x)), 0)
  os.remove(path)
end)

T.case("load rejects other files", function()
  local path = os.tmpname()
  os.remove(path)
  kubo.h5.write(path, "x", kubo.zeros(3))
  T.raises(function() return nn.load(path) end,
           "is not a kubo network file")
  os.remove(path)
end)

T.case("docstrings", function()
  for _, name in ipairs{"linear", "conv2d", "group_norm", "swish", "relu",
                        "tanh", "fourier_embedding", "embed_bias",
                        "upsample", "concat", "sequential", "mlp", "unet",
                        "local_score", "load", "seed", "mse", "profile"} do
    local doc = kubo.doc(nn[name])
    T.ok(type(doc) == "string" and #doc > 20, "doc of nn." .. name)
  end
  T.ok(kubo.doc(nn) ~= nil)
  local l = nn.linear(1, 1)
  T.ok(kubo.doc(l.forward):find("backward") ~= nil)
  T.ok(tostring(l):find("kubo.nn.Module linear (2 parameters)", 1, true))
end)

T.finish()
