-- Times training steps of kubo's score networks: forward, MSE loss,
-- backward and one Adam step, on (batch, 1, 32, 32) inputs with one noise
-- level per sample. The figure is samples per second of wall-clock time
-- (kubo.clock) over at least 3 steps and 5 seconds, after one warm-up
-- step. The GEMM share is the SGEMM core time (nn.profile) over threads
-- times wall-clock time.
--
--   kubo scripts/bench/bench_nn.lua [nets [batches [min_seconds]]]
--
-- nets: comma-separated from unet (nn.unet{}, CliMAgen.jl's U-Net, 11.1 M
-- parameters), unet_small (channels {16, 32, 64, 64}, 2 blocks, embedding
-- 64: 324 k parameters) and local (the local score network, 54 k);
-- default all three. batches: comma-separated, default 32,128. The
-- thread count is OMP_NUM_THREADS (kubo.threads()).
-- scripts/bench/peers/bench_nn_torch.py builds the same networks in
-- PyTorch.
local kubo = require "kubo"
local nn, optim = kubo.nn, kubo.optim

local function split(text, default)
  local out = {}
  for item in (text or default):gmatch("[^,]+") do out[#out + 1] = item end
  return out
end

local nets = split(arg[1], "unet,unet_small,local")
local batches = split(arg[2], "32,128")
local min_seconds = tonumber(arg[3]) or 5

local builders = {
  unet = function()
    return nn.unet{seed = 1}
  end,
  unet_small = function()
    return nn.unet{channels = {16, 32, 64, 64}, blocks = 2, embed = 64,
                   seed = 1}
  end,
  ["local"] = function()
    return nn.local_score{seed = 1}
  end,
}

local function bench(name, batch)
  local net = builders[name]()
  local opt = optim.adam{net = net, lr = 1e-4}
  local rng = kubo.rng(2)
  local x = rng:normal(batch, 1, 32, 32, "float32")
  local target = rng:normal(batch, 1, 32, 32, "float32")
  local sigma = rng:uniform(batch):mul_(0.5):add_(0.01)
  local function step()
    local y = net:forward(x, sigma)
    local _, dy = nn.mse(y, target)
    net:zero_grad()
    net:backward(dy)
    opt:step()
  end
  step()   -- warm-up: allocates activations and workspaces
  collectgarbage()
  nn.profile(true)
  local start, steps = kubo.clock(), 0
  repeat
    step()
    steps = steps + 1
  until steps >= 3 and kubo.clock() - start >= min_seconds
  local elapsed = kubo.clock() - start
  local gemm = nn.profile()
  nn.profile(false)
  print(string.format("kubo   %-10s batch %4d  %9.1f samples/s  %7.3f s/step"
                      .. "  gemm share %.2f  %d parameters", name, batch,
                      steps * batch / elapsed, elapsed / steps,
                      gemm / (kubo.threads() * elapsed),
                      net:num_parameters()))
  net:free()
  opt:free()
  collectgarbage()
end

print(string.format("kubo training steps, 32x32 inputs, %d thread(s)",
                    kubo.threads()))
for _, name in ipairs(nets) do
  if builders[name] == nil then
    error("bench_nn.lua: unknown net '" .. name ..
          "' (known: unet, unet_small, local)")
  end
  for _, b in ipairs(batches) do bench(name, math.tointeger(tonumber(b))) end
end
