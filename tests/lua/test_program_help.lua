-- help(x): docstrings of kubo functions, classes and modules, and the
-- overview that help() prints.
local kubo = require "kubo"
local T = require "kubo.test"
local help = require "kubo.help"

local function has(text, part)
  T.ok(text:find(part, 1, true), string.format("expected '%s' in:\n%s",
                                               part, text))
end

T.case("help is kubo.help", function()
  T.eq(kubo.help, help)
end)

T.case("help of a function", function()
  has(help.text(kubo.zeros), "kubo.zeros(n1, n2, ..., [dtype])")
  has(help.text("kubo.zeros"), "kubo.zeros(n1, n2, ..., [dtype])")
end)

T.case("help of a tensor object", function()
  local text = help.text(kubo.zeros(2))
  has(text, "kubo.Tensor: an n-dimensional array")
  has(text, "methods:")
  has(text, "x:numel() -> number of elements")
  T.ok(not text:find("__gc", 1, true), "no metamethods listed")
end)

T.case("help of a class by name", function()
  T.eq(help.text("kubo.Tensor"), help.text(kubo.zeros(1)))
end)

T.case("help overview", function()
  local text = help.text()
  has(text, "modules:")
  has(text, "test")
  has(text, "functions:")
  has(text, "zeros")
  has(text, "log_level")
  has(text, "kubo.Tensor")
  T.eq(help.text(kubo), text, "help(kubo) is the overview")
end)

T.case("help of a Lua class", function()
  local methods = {
    lap = kubo.setdoc(function() end, "g:lap(u) -> the laplacian of u"),
  }
  local obj = setmetatable({}, {__index = methods})
  has(help.text(obj), "g:lap(u) -> the laplacian of u")
end)

T.case("help of undocumented values", function()
  has(help.text(function() end), "a Lua function with no documentation")
  has(help.text(function() end), "test_program_help.lua:")
  has(help.text(42), "a number value (42) with no documentation")
  has(help.text(nil), "the value is nil")
  has(help.text("no_such_name"),
      "no kubo function, class or module is named 'no_such_name'")
end)

T.case("help of a Lua module", function()
  local text = help.text(kubo.test)
  has(text, "functions:")
  has(text, "case")
end)

-- Every public C function, class and method of kubo needs a docstring.
-- A class is a "kubo.*" metatable with __index; internal metatables
-- (such as guards with only __gc) have none.
T.case("every kubo function documented", function()
  local missing = {}
  for name, value in pairs(require "kubo.core") do
    if type(value) == "function" and kubo.doc(value) == nil then
      missing[#missing + 1] = "kubo." .. name
    end
  end
  for class, mt in pairs(debug.getregistry()) do
    if type(class) == "string" and class:match("^kubo%.") and
       type(mt) == "table" and rawget(mt, "__name") == class and
       rawget(mt, "__index") ~= nil then
      if kubo.doc(mt) == nil then missing[#missing + 1] = class end
      for name, value in pairs(mt) do
        if type(name) == "string" and name:sub(1, 2) ~= "__" and
           type(value) == "function" and kubo.doc(value) == nil then
          missing[#missing + 1] = class .. ":" .. name
        end
      end
    end
  end
  table.sort(missing)
  T.eq(#missing, 0, "no docstring: " .. table.concat(missing, ", "))
end)

T.finish()
