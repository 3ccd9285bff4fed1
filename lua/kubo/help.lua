-- kubo.help: help(x) prints the documentation of a kubo function, class,
-- module or object from the docstrings that the bindings record (read
-- with kubo.doc). The REPL sets the global `help` to this module, which
-- is callable:
--
--   help()               the kubo modules, functions and classes
--   help(kubo.zeros)     a function's docstring
--   help(x)              an object: its class and methods with their docs
--   help("kubo.Tensor")  a class, module or function by name
--
-- help.text(x) returns the same text as a string.

local kubo = require "kubo"

local M = {}

-- Width of the printed text, in characters.
local WIDTH = 78

-- Wraps text to WIDTH columns. The first line starts with indent, the
-- others with next_indent (default: indent).
local function wrap(text, indent, next_indent)
  local lines, line = {}, nil
  for word in text:gmatch("%S+") do
    if line == nil then
      line = indent .. word
    elseif #line + 1 + #word > WIDTH then
      lines[#lines + 1] = line
      line = (next_indent or indent) .. word
    else
      line = line .. " " .. word
    end
  end
  if line ~= nil then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

-- Returns a one-line entry "  name   doc", cut to WIDTH columns.
local function list_entry(name, doc)
  local line = string.format("  %-16s %s", name,
                             (doc or ""):gsub("%s+", " "))
  if #line > WIDTH then line = line:sub(1, WIDTH - 3) .. "..." end
  return line
end

local function sorted_keys(t)
  local keys = {}
  for key in pairs(t) do
    if type(key) == "string" then keys[#keys + 1] = key end
  end
  table.sort(keys)
  return keys
end

-- Returns the class metatable of value if it has one, else nil: a
-- metatable with a string __name, as every kubo class has, or one whose
-- __index is a table of methods, as in classes written in Lua.
local function class_of(value)
  local mt = debug.getmetatable(value)
  if type(mt) ~= "table" then return nil end
  if type(rawget(mt, "__name")) == "string" or
     type(rawget(mt, "__index")) == "table" then
    return mt
  end
  return nil
end

-- Collects the methods of a class: the metatable's own functions other
-- than metamethods, and those of an __index table.
local function class_methods(mt)
  local methods = {}
  local index = rawget(mt, "__index")
  local sources = {mt}
  if type(index) == "table" and index ~= mt then sources[2] = index end
  for _, source in ipairs(sources) do
    for key, value in pairs(source) do
      if type(key) == "string" and key:sub(1, 2) ~= "__" and
         type(value) == "function" and methods[key] == nil then
        methods[key] = value
      end
    end
  end
  return methods
end

-- Describes a class: its docstring (which starts with the class name in
-- kubo's bindings), then each method's docstring.
local function class_text(mt)
  local name = rawget(mt, "__name") or "an object whose class has no name"
  local doc = kubo.doc(mt)
  local out = {}
  if doc == nil then
    out[1] = name .. " (no class documentation)"
  elseif doc:sub(1, #name) == name then
    out[1] = wrap(doc, "")
  else
    out[1] = wrap(name .. ": " .. doc, "")
  end
  local methods = class_methods(mt)
  local names = sorted_keys(methods)
  if #names > 0 then
    out[#out + 1] = "methods:"
    for _, method in ipairs(names) do
      local method_doc = kubo.doc(methods[method])
      if method_doc == nil then
        out[#out + 1] = "  " .. method .. " (no documentation)"
      else
        out[#out + 1] = wrap(method_doc, "  ", "      ")
      end
    end
  end
  return table.concat(out, "\n")
end

local function function_text(f)
  local doc = kubo.doc(f)
  if doc then return wrap(doc, "") end
  local info = debug.getinfo(f, "S")
  if info.what == "C" then
    return "a C function with no documentation"
  end
  return string.format("a Lua function with no documentation, defined at "
                       .. "%s:%d", info.short_src, info.linedefined)
end

-- Lists the fields of a module table: submodules, functions, then other
-- values. name is the module's name for the heading.
local function module_text(t, name)
  local out = {}
  local doc = kubo.doc(t)
  if name and doc then
    out[1] = wrap(name .. ": " .. doc, "")
  elseif name or doc then
    out[1] = wrap(name or doc, "")
  end

  local modules, functions, values = {}, {}, {}
  for _, key in ipairs(sorted_keys(t)) do
    local value = rawget(t, key)
    if key:sub(1, 1) ~= "_" then
      if type(value) == "function" then
        functions[#functions + 1] =
          list_entry(key, kubo.doc(value) or "(no documentation)")
      elseif type(value) == "table" and not class_of(value) then
        modules[key] = list_entry(key, kubo.doc(value) or "(module)")
      else
        values[#values + 1] = list_entry(key, tostring(value))
      end
    end
  end
  local lazy = rawget(t, "_submodules")
  if type(lazy) == "function" then
    for _, key in ipairs(lazy()) do
      if modules[key] == nil and rawget(t, key) == nil then
        modules[key] = list_entry(key, "(module, loaded on first use)")
      end
    end
  end

  local module_lines = {}
  for _, key in ipairs(sorted_keys(modules)) do
    module_lines[#module_lines + 1] = modules[key]
  end
  for _, section in ipairs{{"modules:", module_lines},
                           {"functions:", functions},
                           {"values:", values}} do
    if #section[2] > 0 then
      out[#out + 1] = section[1]
      out[#out + 1] = table.concat(section[2], "\n")
    end
  end
  return table.concat(out, "\n")
end

-- Returns the kubo classes registered in the Lua registry, as a sorted
-- list of names. A class is a metatable named "kubo.X" with __index, so
-- internal metatables with only __gc are left out.
local function kubo_classes()
  local names = {}
  for key, value in pairs(debug.getregistry()) do
    if type(key) == "string" and key:match("^kubo%.") and
       type(value) == "table" and rawget(value, "__name") == key and
       rawget(value, "__index") ~= nil then
      names[#names + 1] = key
    end
  end
  table.sort(names)
  return names
end

local function overview_text()
  local out = {
    wrap(string.format("kubo %s: linear response of stochastic systems. "
                       .. "help(x) prints the documentation of x (a "
                       .. "function, class, module or object, or its "
                       .. "name as a string); at the prompt ?x does the "
                       .. "same.", kubo.version), ""),
    module_text(kubo, nil),
  }
  local classes = kubo_classes()
  if #classes > 0 then
    out[#out + 1] = "classes (help(\"name\") or help(object)):"
    out[#out + 1] = wrap(table.concat(classes, "  "), "  ")
  end
  return table.concat(out, "\n")
end

-- Looks a name up as a dotted path from the globals ("kubo.zeros"), or
-- else as a class name in the registry ("kubo.Tensor"). The first part
-- "kubo" is the kubo module even where it is not a global. Returns the
-- value or nil.
local function lookup(name)
  local value = nil
  for part in name:gmatch("[^.]+") do
    local container = value
    if container == nil then
      container = setmetatable({kubo = kubo}, {__index = _G})
    end
    local ok, next_value = pcall(function() return container[part] end)
    if not ok or next_value == nil then
      value = nil
      break
    end
    value = next_value
  end
  if value ~= nil then return value end
  local class = debug.getregistry()[name]
  if type(class) == "table" and rawget(class, "__name") == name then
    return class
  end
  return nil
end


-- Returns the help text of the value x; name is the name it was looked
-- up by, or nil.
local function describe(x, name)
  if x == kubo then return overview_text() end
  if type(x) == "function" then return function_text(x) end
  local class = class_of(x)
  if class then return class_text(class) end
  if type(x) == "table" then
    if type(rawget(x, "__name")) == "string" then return class_text(x) end
    return module_text(x, name)
  end
  if x == nil then
    return wrap("help(nil): the value is nil; check the spelling of the "
                .. "name, or call help() for the list of modules", "")
  end
  return string.format("a %s value (%s) with no documentation", type(x),
                       tostring(x))
end

-- Returns the help text of x; with no argument, the overview.
function M.text(...)
  if select("#", ...) == 0 then return overview_text() end
  local x = ...
  if type(x) ~= "string" then return describe(x, nil) end
  local value = lookup(x)
  if value == nil then
    return string.format("no kubo function, class or module is named "
                         .. "'%s' (help() lists them)", x)
  end
  return describe(value, x)
end

-- Prints the help text of x (see M.text).
function M.show(...)
  io.write(M.text(...), "\n")
end

kubo.setdoc(M, "help(x) prints the documentation of a kubo function, "
                .. "class, module or object x (help() lists the modules "
                .. "and functions; help(\"kubo.Tensor\") finds a class by "
                .. "name); help.text(x) returns it as a string")
kubo.setdoc(M.text, "help.text(x) -> the text help(x) prints")
kubo.setdoc(M.show, "help.show(x) prints the documentation of x, as "
                    .. "help(x)")

return setmetatable(M, {__call = function(_, ...) return M.show(...) end})
