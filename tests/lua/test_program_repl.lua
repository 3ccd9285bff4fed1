-- The REPL's Lua half (kubo.repl): Tab completion candidates and the
-- summaries printed for values.
local kubo = require "kubo"
local T = require "kubo.test"
local repl = require "kubo.repl"

-- Returns the completions of word as one comma-separated string.
local function complete(word)
  return table.concat(repl.complete(word), ",")
end

T.case("complete global name", function()
  _G.zz_point = {alpha = 1, beta = function() end, _hidden = 2}
  T.eq(complete("zz_po"), "zz_point")
end)

T.case("complete table fields", function()
  T.eq(complete("zz_point."), "zz_point.alpha,zz_point.beta(")
  T.eq(complete("zz_point.al"), "zz_point.alpha")
end)

T.case("complete method after colon", function()
  T.eq(complete("zz_point:"), "zz_point:beta(", "only functions after ':'")
end)

T.case("complete hides private names", function()
  T.eq(complete("zz_point._h"), "zz_point._hidden")
  T.ok(not complete("zz_point."):find("_hidden", 1, true))
end)

T.case("complete follows __index chain", function()
  local base = {laplacian = function() end, level = 0}
  local middle = setmetatable({lap_count = 3}, {__index = base})
  _G.zz_grid = setmetatable({}, {__index = middle})
  T.eq(complete("zz_grid:lap"), "zz_grid:laplacian(")
  T.eq(complete("zz_grid.l"),
       "zz_grid.lap_count,zz_grid.laplacian(,zz_grid.level")
end)

T.case("complete survives __index cycle", function()
  local a, b = {}, {}
  setmetatable(a, {__index = b})
  setmetatable(b, {__index = a})
  _G.zz_cycle = a
  T.eq(complete("zz_cycle.x"), "")
end)

T.case("complete tensor methods", function()
  _G.zz_x = kubo.zeros(2)
  T.eq(complete("zz_x:num"), "zz_x:numel(")
  T.eq(complete("zz_x:to"), "zz_x:to(,zz_x:totable(")
  T.ok(not complete("zz_x:"):find("__", 1, true), "no metamethods")
  if getmetatable(zz_x).reshape then
    T.eq(complete("zz_x:resh"), "zz_x:reshape(")
  end
end)

T.case("complete grid methods", function()
  if kubo.grid == nil then return end
  _G.zz_g = kubo.grid{n = {8, 8}}
  T.ok(complete("zz_g:lap"):find("zz_g:laplacian(", 1, true),
       complete("zz_g:lap"))
  T.eq(complete("zz_g:inverse_l"), "zz_g:inverse_laplacian(")
end)

T.case("complete kubo functions", function()
  _G.zz_kubo = kubo
  T.eq(complete("zz_kubo.zer"), "zz_kubo.zeros(")
  T.eq(complete("zz_kubo.log_l"), "zz_kubo.log_level(")
end)

T.case("complete lazy submodules", function()
  _G.zz_kubo = kubo
  T.ok(complete("zz_kubo.te"):find("zz_kubo.test", 1, true),
       "kubo.test is offered before it is loaded")
  T.ok(not complete("zz_kubo."):find("_lazy", 1, true))
end)

T.case("complete string methods", function()
  _G.zz_s = "abc"
  T.eq(complete("zz_s:upp"), "zz_s:upper(")
end)

T.case("complete keywords", function()
  T.eq(complete("whil"), "while")
  T.eq(complete("functio"), "function")
end)

T.case("complete rejects non-names", function()
  T.eq(complete("1.5"), "")
  T.eq(complete("zz_point..a"), "")
  T.eq(complete("zz_x[1]:s"), "")
  T.eq(complete("no_such_global.a"), "")
end)

T.case("complete survives raising __index", function()
  _G.zz_bad = setmetatable({}, {__index = function() error("boom") end})
  T.eq(complete("zz_bad.a.b"), "")
end)

T.case("format numbers strings nil", function()
  T.eq(repl.format(1, "a", nil, 2.5, true), "1\ta\tnil\t2.5\ttrue")
  T.eq(repl.format(), "")
end)

T.case("format small tables", function()
  T.eq(repl.format({1, 2, 3}), "{1, 2, 3}")
  T.eq(repl.format({a = 1, b = "x"}), '{a = 1, b = "x"}')
  T.eq(repl.format({}), "{}")
  T.eq(repl.format({{1}, {2}}), "{{1}, {2}}")
  T.eq(repl.format({[2.5] = 1, z = 1, a = 2, ["not id"] = 3}),
       '{[2.5] = 1, a = 2, ["not id"] = 3, z = 1}')
  T.eq(repl.format({"a\nb"}), '{"a\\nb"}')
end)

T.case("format limits depth", function()
  T.eq(repl.format({{{1, 2}}}), "{{{...} (2 entries)}}")
  T.eq(repl.format({{{1}}}), "{{{...} (1 entry)}}")
end)

T.case("format large table summary", function()
  local big = {}
  for i = 1, 100000 do big[i] = i end
  local text = repl.format(big)
  T.eq(text, "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...} (100000 entries)")
  local hash = {}
  for i = 1, 5000 do hash["k" .. i] = i end
  T.ok(#repl.format(hash) < 200, "a large hash table prints short")
  T.ok(repl.format(hash):find("(5000 entries)", 1, true))
end)

T.case("format long string cut", function()
  local text = repl.format(string.rep("x", 100000))
  T.ok(#text < 2100, "cut to about 2000 bytes")
  T.ok(text:find("(100000 bytes)", 1, true), text:sub(-40))
end)

T.case("format tensor summary", function()
  local text = repl.format(kubo.zeros(1000, 1000))
  T.ok(text:find("(1000, 1000)", 1, true), text)
  T.ok(#text < 200, "summary is short")
end)

T.case("format uses __tostring", function()
  local obj = setmetatable({}, {__tostring = function() return "OBJ" end})
  T.eq(repl.format(obj), "OBJ")
  T.eq(repl.format({obj}), "{OBJ}")
end)

T.finish()
