-- Writes what scripts/bench/peers/bench_nn_compare_torch.py compares with
-- PyTorch: for a small U-Net and the local score network, the saved
-- network, an input batch, its noise levels, the output, the input
-- gradient and every parameter gradient of L = sum(y * dy) for a fixed
-- random dy.
--
--   kubo scripts/bench/bench_nn_compare.lua folder
--
-- Files: folder/<net>.h5 (net:save) and folder/<net>_data.h5 with
-- datasets x, sigma, dy, y, dx and grads/<array name>.
local kubo = require "kubo"
local nn = kubo.nn

local folder = assert(arg[1], "usage: kubo bench_nn_compare.lua folder")

local nets = {
  unet = nn.unet{channels = {8, 16, 32, 32}, blocks = 2, embed = 32,
                 seed = 3},
  ["local"] = nn.local_score{seed = 4},
}

for name, net in pairs(nets) do
  local rng = kubo.rng(11)
  local x = rng:normal(3, 1, 32, 32, "float32")
  local sigma = rng:uniform(3, "float32"):mul_(2):add_(0.01)
  local dy = rng:normal(3, 1, 32, 32, "float32")
  net:zero_grad()
  local y = net:forward(x, sigma)
  local dx = net:backward(dy)
  net:save(folder .. "/" .. name .. ".h5")
  local data = folder .. "/" .. name .. "_data.h5"
  kubo.h5.write(data, "x", x)
  kubo.h5.write(data, "sigma", sigma)
  kubo.h5.write(data, "dy", dy)
  kubo.h5.write(data, "y", y)
  kubo.h5.write(data, "dx", dx)
  for _, p in ipairs(net:named_parameters()) do
    kubo.h5.write(data, "grads/" .. p.name, p.grad)
  end
  print(string.format("kubo: wrote %s (%d parameters)", name,
                      net:num_parameters()))
end
