-- Memory held by tensors is reported to Lua's collector, so a loop of
-- large temporaries stays bounded without explicit free().
local kubo = require "kubo"
local T = require "kubo.test"

T.case("temporaries are collected", function()
  local n = 2 * 1024 * 1024          -- 16 MiB of float64
  local peak, acc = 0, 0
  for i = 1, 300 do
    local x = kubo.zeros(n)
    x[i] = i
    acc = acc + x[i]
    peak = math.max(peak, kubo.memory())
  end
  T.eq(acc, 300 * 301 / 2)
  T.ok(peak < 512 * 1024 * 1024,
       string.format("peak engine memory %.0f MiB", peak / 2 ^ 20))
end)

T.case("views keep their storage alive", function()
  local row
  do
    local x = kubo.arange(0, 6):view(2, 3)
    row = x[2]
  end
  collectgarbage()
  collectgarbage()
  T.eq(row[3], 5)
end)

T.finish()
