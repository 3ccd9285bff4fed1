-- kubo.log_level and kubo.log, and kubo.params without --set.
local kubo = require "kubo"
local T = require "kubo.test"

T.case("log level round trip", function()
  local start = kubo.log_level()
  T.eq(start, "info")
  T.eq(kubo.log_level("warn"), "info", "returns the previous level")
  T.eq(kubo.log_level(), "warn")
  kubo.log_level("warning")
  T.eq(kubo.log_level(), "warn", "'warning' means 'warn'")
  kubo.log_level("off")
  T.eq(kubo.log_level(), "off")
  kubo.log_level(start)
  T.eq(kubo.log_level(), start)
end)

T.case("log level rejects bad names", function()
  T.raises(function() kubo.log_level("loud") end,
           "unknown log level 'loud' (expected \"debug\", \"info\", "
           .. "\"warn\", \"error\" or \"off\")")
  T.raises(function() kubo.log_level(3) end, "unknown log level '3'")
  T.raises(function() kubo.log_level({}) end, "string expected")
end)

T.case("log rejects bad calls", function()
  T.raises(function() kubo.log("off", "x") end,
           "\"off\" is a threshold, not a level to log at")
  T.raises(function() kubo.log("loud", "x") end, "unknown log level")
  T.raises(function() kubo.log("info") end, "string expected")
end)

T.case("params empty without --set", function()
  T.eq(type(kubo.params), "table")
  T.eq(next(kubo.params), nil)
  T.eq(require "kubo.params", kubo.params)
end)

T.finish()
