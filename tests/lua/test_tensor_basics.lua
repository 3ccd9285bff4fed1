-- Tensor constructors, indexing, views and printing from Lua.
local kubo = require "kubo"
local T = require "kubo.test"

T.case("zeros shape and dtype", function()
  local x = kubo.zeros(2, 3)
  T.eq(x:numel(), 6)
  T.eq(#x, 2)
  T.eq(x:dtype(), "float64")
  T.eq(kubo.zeros(2, 3, "float32"):dtype(), "float32")
  T.eq(kubo.zeros({4, 5}):size(2), 5)
end)

T.case("nested table round trip", function()
  local x = kubo.tensor{{1, 2}, {3, 4}}
  T.eq(x[{2, 1}], 3)
  local row = x[2]
  row[2] = 7
  T.eq(x[{2, 2}], 7, "row view shares storage")
  T.eq(x:totable()[1][2], 2)
end)

T.case("tostring is a summary", function()
  local s = tostring(kubo.zeros(1000, 1000))
  T.ok(s:find("(1000, 1000)", 1, true), s)
  T.ok(#s < 200, "summary is short")
end)

T.case("use after free raises", function()
  local x = kubo.ones(3)
  x:free()
  T.raises(function() return x:numel() end, "freed tensor")
end)

T.case("ragged table raises", function()
  T.raises(function() return kubo.tensor{{1, 2}, {3}} end, "ragged")
end)

T.finish()
