-- Bad calls to kubo.nn and kubo.optim raise Lua errors whose message
-- names the bad value. The cases cover layer sizes out of range, inputs
-- of the wrong shape, missing or invalid noise levels, backward without
-- forward and misused containers. They also cover optimizer settings out
-- of range and non-finite gradients. The file also runs under ASan and
-- UBSan.
local kubo = require "kubo"
local T = require "kubo.test"
local nn, optim = kubo.nn, kubo.optim

local dir = io.popen("mktemp -d /tmp/kubo-robust-nn-XXXXXX"):read("l")
local function path(name) return dir .. "/" .. name end

local lin = nn.linear(3, 2)
local emb = nn.mlp{sizes = {1, 2, 1}, embed = 4}
local function conv(opts)
  opts.in_channels = opts.in_channels or 1
  opts.out_channels = opts.out_channels or 1
  return nn.conv2d(opts)
end
local function freed_module()
  local m = nn.linear(2, 2)
  m:free()
  return m
end

local cases = {
  -- layer constructors
  {"linear without sizes", function() return nn.linear() end,
   "in must be a whole number (got no value)"},
  {"linear with 0 inputs", function() return nn.linear(0, 1) end,
   "in must be between 1 and 1048576 (got 0)"},
  {"linear with 2^32 + 2 inputs", function()
     return nn.linear(2^32 + 2, 3) end,
   "nn.linear: in must be between 1 and 1048576 (got 4294967298)"},
  {"linear with 2^32 + 3 outputs", function()
     return nn.linear(3, 2^32 + 3) end,
   "nn.linear: out must be between 1 and 1048576 (got 4294967299)"},
  {"linear with -2^32 outputs", function()
     return nn.linear(3, -2^32) end,
   "nn.linear: out must be between 1 and 1048576 (got -4294967296)"},
  {"sequential whose length is 2^32 + 1", function()
     return nn.sequential(setmetatable({},
                          {__len = function() return 2^32 + 1 end})) end,
   "nn.sequential: at most 1048576 layers (got 4294967297)"},
  {"linear with 1.5 inputs", function() return nn.linear(1.5, 1) end,
   "in must be a whole number (got 1.5)"},
  {"linear with 2^20 x 2^20 weights", function()
     return nn.linear(2^20, 2^20) end,
   "out of memory"},
  {"linear table without out", function() return nn.linear{["in"] = 2} end,
   "nn.linear: in and out are required"},
  {"linear with an unknown option", function()
     return nn.linear(2, 2, {init = 1}) end,
   "nn.linear: unknown option 'init' (valid: bias, seed)"},
  {"linear with a string bias", function()
     return nn.linear(2, 2, {bias = "x"}) end,
   "nn.linear: bias must be true or false (got string)"},
  {"linear with a negative seed", function()
     return nn.linear(2, 2, {seed = -1}) end,
   "seed must be a non-negative whole number"},
  {"conv2d without channels", function() return nn.conv2d{} end,
   "nn.conv2d: in_channels and out_channels are required"},
  {"conv2d with an even kernel", function() return conv{kernel = 2} end,
   "kernel must be odd, from 1 to 31 (got 2)"},
  {"conv2d with kernel 101", function() return conv{kernel = 101} end,
   "kernel must be a whole number from 1 to 31 (got 101)"},
  {"conv2d with stride 0", function() return conv{stride = 0} end,
   "stride must be a whole number from 1 to 16 (got 0)"},
  {"conv2d with a string periodic", function()
     return conv{periodic = "y"} end,
   "periodic must be true or false (got string)"},
  {"group_norm with groups not dividing", function()
     return nn.group_norm{groups = 3, channels = 4} end,
   "channels (4) must be a multiple of groups (3)"},
  {"group_norm with eps 0", function()
     return nn.group_norm{groups = 2, channels = 4, eps = 0} end,
   "eps must be positive (got 0.0)"},
  {"group_norm with NaN eps", function()
     return nn.group_norm{groups = 2, channels = 4, eps = 0 / 0} end,
   "eps must be positive"},
  {"fourier_embedding of odd size", function()
     return nn.fourier_embedding{size = 3} end,
   "size must be even, from 2 to 1048576 (got 3)"},
  {"fourier_embedding with NaN scale", function()
     return nn.fourier_embedding{size = 4, scale = 0 / 0} end,
   "scale must be positive"},
  {"sequential of nothing", function() return nn.sequential{} end,
   "needs a list of at least one layer"},
  {"sequential of a number", function() return nn.sequential{5} end,
   "entry 1 is a number, expected a layer (kubo.nn.Module)"},
  {"sequential with a layer twice", function()
     local a = nn.linear(2, 2)
     return nn.sequential{a, a} end,
   "layer 2 is the same object as layer 1"},
  {"layer in two containers", function()
     local a = nn.linear(2, 2)
     nn.sequential{a}
     return nn.sequential{a} end,
   "already belongs to a container"},
  {"sequential of a two-input layer", function()
     return nn.sequential{nn.concat()} end,
   "takes two inputs; only layers with one input"},
  {"sequential of a freed layer", function()
     return nn.sequential{freed_module()} end,
   "entry 1 is a freed module"},
  {"mlp without sizes", function() return nn.mlp{} end,
   "sizes must list at least the input and output sizes"},
  {"mlp with a zero width", function() return nn.mlp{sizes = {1, 0, 1}} end,
   "sizes[2] must be a positive whole number (got 0)"},
  {"mlp with an unknown activation", function()
     return nn.mlp{sizes = {1, 2, 1}, activation = "gelu"} end,
   "activation must be \"swish\", \"relu\" or \"tanh\" (got gelu)"},
  {"mlp with negative embed", function()
     return nn.mlp{sizes = {1, 2, 1}, embed = -1} end,
   "embed must be a whole number from 0 to 65536 (got -1)"},
  {"mlp with sigma_min above sigma_max", function()
     return nn.mlp{sizes = {1, 2, 1}, embed = 4, sigma_min = 1,
                   sigma_max = 0.1} end,
   "must satisfy 0 < sigma_min < sigma_max"},
  {"mlp with only sigma_min", function()
     return nn.mlp{sizes = {1, 2, 1}, embed = 4, sigma_min = 1} end,
   "or both be 0 (got 1 and 0)"},
  {"unet without channels", function() return nn.unet{channels = {}} end,
   "channels must have 1 to 8 entries (got 0)"},
  {"unet with negative blocks", function()
     return nn.unet{channels = {4, 8}, blocks = -1, embed = 8} end,
   "blocks must be a whole number from 0 to 1000 (got -1)"},
  {"local_score with depth 0", function()
     return nn.local_score{depth = 0} end,
   "depth must be a whole number from 1 to 1000 (got 0)"},
  {"local_score with negative data_std", function()
     return nn.local_score{data_std = -1} end,
   "data_std must be a finite number >= 0 (got -1)"},

  -- forward and backward
  {"forward without input", function() return lin:forward() end,
   "kubo.Tensor expected, got no value"},
  {"forward of the wrong width", function()
     return lin:forward(kubo.ones(4, 5)) end,
   "linear: input has shape (4, 5), expected (batch, 3)"},
  {"forward without a batch dimension", function()
     return lin:forward(kubo.ones(3)) end,
   "input has shape (3), expected (batch, 3)"},
  {"forward of a freed tensor", function()
     local t = kubo.ones(2, 3)
     t:free()
     return lin:forward(t) end,
   "attempt to use a freed tensor"},
  {"forward with a noise level it lacks", function()
     return lin:forward(kubo.ones(2, 3), 0.5) end,
   "this layer takes no noise level, but sigma was given"},
  {"backward before forward", function()
     return nn.linear(3, 2):backward(kubo.ones(2, 2)) end,
   "backward needs a forward call first"},
  {"backward of the wrong shape", function()
     lin:forward(kubo.ones(2, 3))
     return lin:backward(kubo.ones(5, 5)) end,
   "output gradient has shape (5, 5), expected the output's shape (2, 2)"},
  {"backward after release_activations", function()
     lin:forward(kubo.ones(2, 3))
     lin:release_activations()
     return lin:backward(kubo.ones(2, 2)) end,
   "backward needs a forward call first"},
  {"conv2d with other channels", function()
     return conv{in_channels = 2}:forward(kubo.ones(1, 1, 4, 4)) end,
   "input has shape (1, 1, 4, 4), expected (batch, 2, height, width)"},
  {"conv2d of an empty image", function()
     return conv{}:forward(kubo.ones(1, 1, 0, 0)) end,
   "input size 0x0 (batch 1) is empty"},
  {"group_norm with other channels", function()
     return nn.group_norm{groups = 2, channels = 4}:forward(
       kubo.ones(1, 3, 2, 2)) end,
   "input has shape (1, 3, 2, 2), expected (batch, 4, ...)"},
  {"upsample of a matrix", function()
     return nn.upsample():forward(kubo.ones(2, 2)) end,
   "expected (batch, channels, height, width)"},
  {"concat with one input", function()
     return nn.concat():forward(kubo.ones(1, 1, 2, 2)) end,
   "kubo.Tensor expected, got no value"},
  {"concat of other sizes", function()
     return nn.concat():forward(kubo.ones(1, 1, 2, 2), kubo.ones(1, 1, 3, 3))
   end,
   "expected equal sizes in every dimension but 2 (channels)"},
  {"sequential with mismatched layers", function()
     return nn.sequential{nn.linear(2, 3), nn.linear(4, 1)}:forward(
       kubo.ones(1, 2)) end,
   "sequential[2] linear: input has shape (1, 3), expected (batch, 4)"},
  {"mlp without a noise level", function()
     return emb:forward(kubo.ones(2, 1)) end,
   "this network needs a noise level"},
  {"mlp with sigma 0", function() return emb:forward(kubo.ones(2, 1), 0) end,
   "sigma must be positive and finite (got 0 at batch index 0)"},
  {"mlp with NaN sigma", function()
     return emb:forward(kubo.ones(2, 1), 0 / 0) end,
   "sigma must be positive and finite"},
  {"mlp with sigma for 3 samples", function()
     return emb:forward(kubo.ones(2, 1), kubo.ones(3)) end,
   "sigma has 3 values, expected 1 or the batch size 2"},
  {"mlp with a string sigma", function()
     return emb:forward(kubo.ones(2, 1), "a") end,
   "sigma must be a number or a tensor of one value per sample"},
  {"unet on an odd image", function()
     return nn.unet{channels = {4, 8}, blocks = 1, embed = 8}:forward(
       kubo.ones(1, 1, 5, 5), 1) end,
   "input size 5x5 must be a multiple of 2 in both directions"},
  {"unet deeper than the image", function()
     return nn.unet{channels = {4, 4, 4, 4}, blocks = 1, embed = 8}:forward(
       kubo.ones(1, 1, 4, 4), 1) end,
   "must be a multiple of 8 in both directions"},
  {"method of a freed module", function()
     return freed_module():forward(kubo.ones(1, 2)) end,
   "attempt to use a freed module"},
  {"clone of a freed module", function() return freed_module():clone() end,
   "attempt to use a freed module"},
  {"mse of other shapes", function()
     return nn.mse(kubo.ones(2), kubo.ones(3)) end,
   "y has shape (2) and target (3), expected equal shapes"},
  {"nn.seed -1", function() return nn.seed(-1) end,
   "seed must be non-negative"},

  -- files
  {"load of a missing file", function() return nn.load(path("no.h5")) end,
   "No such file or directory"},
  {"load of a folder", function() return nn.load(dir) end,
   "is a folder, not an HDF5 file"},
  {"load of a file that is no network", function()
     local f = path("data.h5")
     kubo.h5.write(f, "/x", kubo.ones(2))
     return nn.load(f) end,
   "is not a kubo network file"},
  {"save into a missing folder", function()
     return lin:save(path("none/n.h5")) end,
   "No such file or directory"},
  {"save with an unknown option", function()
     return lin:save(path("n.h5"), {adam = 1}) end,
   "save: unknown option 'adam' (valid: optimizer, ema)"},
  {"save with another network's optimizer", function()
     local opt = optim.adam{net = nn.linear(2, 2)}
     return lin:save(path("n.h5"), {optimizer = opt}) end,
   "the optimizer belongs to a network of 6 parameters, this one has 8"},

  -- optimizers
  {"adam without options", function() return optim.adam() end,
   "table expected, got no value"},
  {"adam without a net", function() return optim.adam{} end,
   "optim.adam: the net option is required"},
  {"adam with a number as net", function() return optim.adam{net = 5} end,
   "net must be a kubo.nn.Module (got number)"},
  {"adam with negative lr", function()
     return optim.adam{net = lin, lr = -1} end,
   "lr must be finite and >= 0 (got -1)"},
  {"adam with infinite lr", function()
     return optim.adam{net = lin, lr = math.huge} end,
   "lr must be finite and >= 0 (got inf)"},
  {"adam with beta 1", function()
     return optim.adam{net = lin, betas = {1, 1}} end,
   "betas must be in [0, 1) (got 1 and 1)"},
  {"adam with one beta", function()
     return optim.adam{net = lin, betas = {0.9}} end,
   "betas must be a pair {beta1, beta2}"},
  {"adam with eps 0", function() return optim.adam{net = lin, eps = 0} end,
   "eps must be positive (got 0)"},
  {"adam with negative clip", function()
     return optim.adam{net = lin, clip = -1} end,
   "clip must be finite and >= 0 (got -1)"},
  {"adam with fractional warmup", function()
     return optim.adam{net = lin, warmup = 1.5} end,
   "warmup must be a whole number from 0 to 1073741824 (got 1.5)"},
  {"adam with an unknown option", function()
     return optim.adam{net = lin, weight_decay = 1} end,
   "optim.adam: unknown option 'weight_decay'"},
  {"adam with an unknown clip_mode", function()
     return optim.adam{net = lin, clip_mode = "norm"} end,
   "clip_mode must be \"global\" or \"array\""},
  {"sgd with momentum 2", function()
     return optim.sgd{net = lin, momentum = 2} end,
   "momentum must be in [0, 1) (got 2)"},
  {"ema with rate 2", function() return optim.ema{net = lin, rate = 2} end,
   "ema: rate must be in [0, 1) (got 2)"},
  {"ema with NaN rate", function()
     return optim.ema{net = lin, rate = 0 / 0} end,
   "ema: rate must be in [0, 1)"},
  {"ema without a net", function() return optim.ema{} end,
   "optim.ema: the net option is required"},
  {"set_lr -1", function() return optim.adam{net = lin}:set_lr(-1) end,
   "lr must be finite and >= 0 (got -1)"},
  {"step of a freed optimizer", function()
     local opt = optim.adam{net = lin}
     opt:free()
     return opt:step() end,
   "attempt to use a freed optimizer"},
  {"step after the network was freed", function()
     local n = nn.linear(2, 2)
     local opt = optim.adam{net = n}
     n:free()
     return opt:step() end,
   "optim: the network of this optimizer was freed"},
  {"lr of an optimizer whose network was freed", function()
     local n = nn.linear(2, 2)
     local opt = optim.sgd{net = n}
     n:free()
     return opt:lr() end,
   "optim: the network of this optimizer was freed"},
  {"lr schedule that frees the network", function()
     local n = nn.linear(2, 2)
     local opt = optim.adam{net = n,
                            lr = function() n:free() return 1e-3 end}
     return opt:step() end,
   "optim: the network of this optimizer was freed"},
  {"lr schedule that frees the optimizer", function()
     local opt
     opt = optim.adam{net = nn.linear(2, 2),
                      lr = function() opt:free() return 1e-3 end}
     return opt:step() end,
   "attempt to use a freed optimizer"},
  {"ema update after the network was freed", function()
     local n = nn.linear(2, 2)
     local ema = optim.ema{net = n}
     n:free()
     return ema:update() end,
   "optim: the network of this ema was freed"},
  {"ema swap after the network was freed", function()
     local n = nn.linear(2, 2)
     local ema = optim.ema{net = n}
     n:free()
     return ema:swap() end,
   "optim: the network of this ema was freed"},
  {"optimizer load of a missing file", function()
     return optim.adam{net = lin}:load(path("no.h5")) end,
   "No such file or directory"},
  {"optimizer load of a file without state", function()
     local f = path("plain.h5")
     kubo.h5.write(f, "/x", kubo.ones(2))
     return optim.adam{net = lin}:load(f) end,
   "has no string attribute 'optimizer.kind'"},
  {"optimizer load of another size", function()
     local other = nn.linear(5, 5)
     local f = path("other.h5")
     other:save(f, {optimizer = optim.adam{net = other}})
     return optim.adam{net = lin}:load(f) end,
   "holds the state of 30 parameters, the network has 8"},
  {"ema copy_to another network", function()
     return optim.ema{net = lin}:copy_to(nn.linear(5, 5)) end,
   "target network (linear, 30 parameters) differs from the averaged one"},
  {"ema copy_to a number", function()
     return optim.ema{net = lin}:copy_to(5) end,
   "kubo.nn.Module expected, got number"},
}

for _, c in ipairs(cases) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

T.case("NaN gradients leave the parameters alone", function()
  local net = nn.linear(3, 2)
  local opt = optim.adam{net = net, lr = 1e-3}
  local params, grads = net:parameters()
  local before = params:clone()
  grads:fill_(0 / 0)
  T.raises(function() opt:step() end,
           "gradient of 'weight' is NaN or infinite at step 1; parameters "
           .. "left unchanged")
  T.eq((params - before):abs():max(), 0)
end)

T.case("infinite gradients are not clipped into numbers", function()
  local net = nn.linear(2, 2)
  local opt = optim.adam{net = net, clip = 1}
  local _, grads = net:parameters()
  grads:fill_(math.huge)
  T.raises(function() opt:step() end, "is NaN or infinite")
end)

T.case("an optimizer follows its layer into a container", function()
  local a = nn.linear(2, 2)
  local opt = optim.sgd{net = a, lr = 0.1}
  local seq = nn.sequential{a}
  collectgarbage()
  local params, grads = a:parameters()
  local before = params:clone()
  grads:fill_(1)
  opt:step()
  T.near((params - before):abs():max(), 0.1, 1e-6)
  T.eq((seq:parameters() - params):abs():max(), 0)
end)

T.case("parameter views outlive a freed module", function()
  local a = nn.linear(2, 2)
  local params = a:parameters()
  a:free()
  T.eq(params:fill_(1):sum(), 6)
end)

T.case("layers outlive their freed container", function()
  local a = nn.linear(2, 2)
  local seq = nn.sequential{a}
  seq:free()
  T.eq(a:forward(kubo.ones(1, 2)):numel(), 2)
end)

T.case("empty batches pass through", function()
  T.eq(lin:forward(kubo.zeros(0, 3)):size(1), 0)
end)

T.case("modules still work after the errors", function()
  local y = lin:forward(kubo.ones(2, 3))
  T.eq(y:size(2), 2)
  T.eq(lin:backward(kubo.ones(2, 2)):size(2), 3)
  T.eq(emb:forward(kubo.ones(2, 1), 0.5):size(1), 2)
end)

os.execute("rm -rf '" .. dir .. "'")
T.finish()
