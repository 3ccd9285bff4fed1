-- Times kubo's grid transforms and spectral derivative from Lua, where
-- each call also allocates its result tensor and checks shapes. Per field
-- of a batch, best of 5 rounds of at least 0.2 s of wall-clock time
-- (kubo.clock, or os.clock's CPU time in builds without it).
--
--   kubo scripts/bench/fft.lua [nx ny count] ...
local kubo = require "kubo"

local clock = kubo.clock or os.clock

-- Returns the best time per field in microseconds of fn.
local function time_per_field(fn, count)
  fn()
  local best = math.huge
  for _ = 1, 5 do
    local reps, start, elapsed = 0, clock(), 0
    repeat
      fn()
      reps = reps + 1
      elapsed = clock() - start
    until elapsed >= 0.2
    best = math.min(best, elapsed / reps / count * 1e6)
  end
  return best
end

local function bench(nx, ny, count)
  local g = kubo.grid{n = {nx, ny}}
  local u = kubo.rng(1):normal(count, ny, nx)
  local uh = g:fft(u)
  print(string.format("kubo (Lua) %dx%d, batch %d (microseconds per field)",
                      nx, ny, count))
  print(string.format("  %-30s %10.3f", "g:fft(u)",
                      time_per_field(function() g:fft(u) end, count)))
  print(string.format("  %-30s %10.3f", "g:ifft(uh)",
                      time_per_field(function() g:ifft(uh) end, count)))
  print(string.format("  %-30s %10.3f", "g:dx(u)",
                      time_per_field(function() g:dx(u) end, count)))
  collectgarbage()
end

local cases = {}
if #arg == 0 then
  cases = {{32, 32, 128}, {256, 256, 16}}
elseif #arg % 3 ~= 0 then
  error("usage: kubo fft.lua [nx ny count] ...", 0)
else
  for i = 1, #arg, 3 do
    cases[#cases + 1] = {tonumber(arg[i]), tonumber(arg[i + 1]),
                         tonumber(arg[i + 2])}
  end
end
for _, c in ipairs(cases) do bench(c[1], c[2], c[3]) end
