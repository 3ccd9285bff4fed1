-- Times denoising score matching with kubo.score on Allen-Cahn-like
-- 32 x 32 snapshots: training throughput (whole steps: noise draws,
-- forward, backward, Adam with clipping, EMA) and the throughput of
-- evaluating the trained score s(x) at sigma_min. The PyTorch peer
-- (scripts/bench/peers/bench_score_torch.py) does the same work.
--
--   kubo scripts/bench/bench_score.lua [nets [batches [steps [samples]]]]
--
-- nets: comma-separated local,unet_small (default local); batches:
-- comma-separated (default 32,128); steps: timed training steps per case
-- (default 20, after 2 warm-up steps); samples: snapshots (default 2048).
-- Times are wall-clock (kubo.clock).
local kubo = require "kubo"

local clock = kubo.clock or os.clock

local function split(text)
  local list = {}
  for item in text:gmatch("[^,]+") do list[#list + 1] = item end
  return list
end

local nets = split(arg[1] or "local")
local batches = split(arg[2] or "32,128")
local steps = tonumber(arg[3] or "20")
local samples = tonumber(arg[4] or "2048")

-- Allen-Cahn-like fields: domains near +-1 with smooth interfaces, from
-- tanh of a smooth Gaussian field, stored divided by 4 as the reference
-- data are.
local grid = kubo.grid{n = {32, 32}}
local smooth = grid:random_field(kubo.rng(1), function(k2)
  return 1 / (1 + k2) ^ 2
end, samples)
local data = (smooth / smooth:std() * 3):tanh():to("float32") * 0.25

local builders = {
  ["local"] = function()
    return kubo.nn.local_score{channels = 32, depth = 4, embed = 64,
                               data_std = 0.25, seed = 1}
  end,
  unet_small = function()
    return kubo.nn.unet{channels = {16, 32, 64, 64}, blocks = 2,
                        embed = 64, seed = 1}
  end,
}

print(string.format("kubo.score: %d snapshots 32x32, threads %d", samples,
                    kubo.threads()))
print(string.format("%-12s %6s %16s %16s", "net", "batch",
                    "train samples/s", "eval samples/s"))
for _, name in ipairs(nets) do
  local build = builders[name]
  if build == nil then error("unknown net '" .. name .. "'", 0) end
  for _, b in ipairs(batches) do
    local batch = tonumber(b)
    local options = {net = build(), data = data, batch = batch,
                     optimizer = {lr = 2e-4, clip = 1}, ema = 0.999,
                     sigma_max = 14, seed = 1}
    options.steps = 2
    kubo.score.train(options)
    options.steps = steps
    local start = clock()
    local s = kubo.score.train(options)
    local train = steps * batch / (clock() - start)
    s(data:slice(1, 1, 256))
    start = clock()
    s(data)
    local eval = samples / (clock() - start)
    print(string.format("%-12s %6d %16.1f %16.1f", name, batch, train,
                        eval))
    s:free()
    collectgarbage()
  end
end
