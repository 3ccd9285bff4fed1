-- kubo: the Lua module. The C engine's functions and classes come from
-- "kubo.core"; the Lua half of the library (studies, plots, test helpers)
-- lives in lua/kubo/*.lua and is loaded on first use, so that
-- `kubo.plot` requires "kubo.plot" only when a script touches it.

local core = require "kubo.core"

local kubo = {}
for name, value in pairs(core) do kubo[name] = value end

local lazy = {}

-- Registers a submodule loaded on first access as kubo[name].
function kubo._lazy(name, module)
  lazy[name] = module
end

setmetatable(kubo, {
  __index = function(t, name)
    local module = lazy[name]
    if module == nil then return nil end
    local value = require(module)
    rawset(t, name, value)
    return value
  end,
})

-- Returns the sorted names of the submodules registered with kubo._lazy,
-- loaded or not (help() and Tab completion list them).
function kubo._submodules()
  local names = {}
  for name in pairs(lazy) do names[#names + 1] = name end
  table.sort(names)
  return names
end

kubo._lazy("test", "kubo.test")
kubo._lazy("help", "kubo.help")
kubo._lazy("params", "kubo.params")
kubo._lazy("plot", "kubo.plot")
kubo._lazy("study", "kubo.study")
kubo._lazy("score", "kubo.score")

return kubo
