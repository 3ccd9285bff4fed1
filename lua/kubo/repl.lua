-- kubo.repl: the Lua half of the kubo REPL. The program (src/app/)
-- calls M.start when the REPL begins, M.format to print the values of
-- an expression and M.complete for Tab completion.

local M = {}

-- Table entries text before "...", and how deep nested tables print.
local MAX_ENTRIES = 10
local MAX_DEPTH = 2
-- Strings longer than this (in bytes) print cut, with their length.
local MAX_STRING = 2000
-- Tables with more entries than this are not sorted before printing.
local MAX_SORTED = 1000

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for",
  "function", "goto", "if", "in", "local", "nil", "not", "or", "repeat",
  "return", "then", "true", "until", "while",
}
local is_keyword = {}
for _, word in ipairs(KEYWORDS) do is_keyword[word] = true end

local function is_identifier(key)
  return type(key) == "string" and key:match("^[%a_][%w_]*$") ~= nil
         and not is_keyword[key]
end

-- Sets the globals `kubo` and `help` unless the user already has them.
function M.start()
  if rawget(_G, "kubo") == nil then _G.kubo = require "kubo" end
  if rawget(_G, "help") == nil then _G.help = require "kubo.help" end
end


-- ---------------------------------------------------------------------
-- Printing values
-- ---------------------------------------------------------------------

local format_value

local function quote(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function cut_string(s)
  if #s <= MAX_STRING then return s, false end
  return s:sub(1, MAX_STRING), true
end

local function format_string(s, nested)
  local text, cut = cut_string(s)
  if nested then text = quote(text) end
  if cut then
    text = text .. string.format(" ... (%d bytes)", #s)
  end
  return text
end

local function count_text(count)
  return string.format("(%d %s)", count, count == 1 and "entry" or "entries")
end

local function format_key(key)
  if is_identifier(key) then return key end
  return "[" .. format_value(key, MAX_DEPTH, true) .. "]"
end

-- Orders keys of mixed types: numbers, then strings, then the rest.
local TYPE_RANK = {number = 1, string = 2}
local function key_less(a, b)
  local ra, rb = TYPE_RANK[type(a)] or 3, TYPE_RANK[type(b)] or 3
  if ra ~= rb then return ra < rb end
  if ra == 3 then return tostring(a) < tostring(b) end
  return a < b
end

-- Formats a plain table as {a, b, name = c, ...} with at most
-- MAX_ENTRIES entries; a longer table ends with "..." and its size.
local function format_table(t, depth)
  local count = 0
  for _ in next, t do count = count + 1 end
  if count == 0 then return "{}" end
  if depth >= MAX_DEPTH then
    return "{...} " .. count_text(count)
  end

  local parts = {}
  local length = 0
  while length < count and rawget(t, length + 1) ~= nil do
    length = length + 1
    if length <= MAX_ENTRIES then
      parts[#parts + 1] = format_value(rawget(t, length), depth + 1, true)
    end
  end

  local keys = {}
  for key in next, t do
    local in_sequence = math.type(key) == "integer" and key >= 1
                        and key <= length
    if not in_sequence then
      keys[#keys + 1] = key
      if count > MAX_SORTED and #parts + #keys >= MAX_ENTRIES then break end
    end
  end
  if count <= MAX_SORTED then table.sort(keys, key_less) end
  for _, key in ipairs(keys) do
    if #parts >= MAX_ENTRIES then break end
    parts[#parts + 1] = format_key(key) .. " = " ..
                        format_value(rawget(t, key), depth + 1, true)
  end

  if count > #parts then
    return "{" .. table.concat(parts, ", ") .. ", ...} " .. count_text(count)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Formats one value: strings as they are at the top level and quoted
-- inside tables, plain tables as a short listing, and everything else
-- (tensors and other objects included) with tostring, which gives kubo
-- objects a summary.
function format_value(value, depth, nested)
  local kind = type(value)
  if kind == "string" then return format_string(value, nested) end
  if kind == "table" then
    local mt = debug.getmetatable(value)
    if not (mt and (rawget(mt, "__tostring") or rawget(mt, "__name"))) then
      return format_table(value, depth)
    end
  end
  return tostring(value)
end

-- Returns the values of an expression as the REPL prints them,
-- separated by tabs.
function M.format(...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[i] = format_value((select(i, ...)), 0, false)
  end
  return table.concat(parts, "\t")
end


-- ---------------------------------------------------------------------
-- Tab completion
-- ---------------------------------------------------------------------

-- Maps each name that indexing value can reach to the value behind it:
-- the value's own fields if it is a table, then what its metatable's
-- __index provides, following chains of __index tables. When __index is
-- a function, as in kubo's C classes, the metatable's own fields other
-- than metamethods are taken as the methods. Lazily loaded kubo
-- submodules map to true.
local function reachable_names(value)
  local names, seen = {}, {}
  local current = value
  local function add(t, skip_metamethods)
    for key, v in next, t do
      if is_identifier(key) and names[key] == nil and
         not (skip_metamethods and key:sub(1, 2) == "__") then
        names[key] = v
      end
    end
  end

  while current ~= nil and not seen[current] do
    seen[current] = true
    if type(current) == "table" then add(current, false) end
    local mt = debug.getmetatable(current)
    if type(mt) ~= "table" then break end
    local index = rawget(mt, "__index")
    if type(index) == "function" then add(mt, true) end
    if type(index) ~= "table" then break end
    current = index
  end

  local submodules = type(value) == "table" and rawget(value, "_submodules")
  if type(submodules) == "function" then
    local ok, list = pcall(submodules)
    if ok and type(list) == "table" then
      for _, name in ipairs(list) do
        if names[name] == nil then names[name] = true end
      end
    end
  end
  return names
end

local function is_callable(value)
  if type(value) == "function" then return true end
  local mt = debug.getmetatable(value)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

-- Resolves a dotted path such as "kubo.nn" from the globals with normal
-- indexing; returns nil if a step fails or gives nil.
local function resolve(path)
  local value = _G
  for name in path:gmatch("[^.]+") do
    local ok, next_value = pcall(function() return value[name] end)
    if not ok or next_value == nil then return nil end
    value = next_value
  end
  return value
end

-- Returns the sorted completions of word, the dotted name before the
-- cursor: `kub` -> {"kubo"}, `kubo.ze` -> {"kubo.zeros("}, `x:res` ->
-- {"x:reshape("}. After ':' only callable fields are offered. Names that
-- start with '_' are offered only when the typed part starts with '_'.
-- Functions complete with "(" appended.
function M.complete(word)
  local head, sep, partial = word:match("^(.*)([.:])([%a_]?[%w_]*)$")
  local names, prefix
  if head == nil then
    if not word:match("^[%a_]?[%w_]*$") then return {} end
    partial, prefix = word, ""
    names = reachable_names(_G)
    for _, keyword in ipairs(KEYWORDS) do names[keyword] = false end
  else
    local valid_head = head:match("^[%a_][%w_]*$") or
                       head:match("^[%a_][%w_]*[%w_.]*[%w_]$")
    if not valid_head or head:find("..", 1, true) then return {} end
    local value = resolve(head)
    if value == nil then return {} end
    names, prefix = reachable_names(value), head .. sep
  end

  local show_private = partial:sub(1, 1) == "_"
  local found = {}
  for name, value in pairs(names) do
    local matches = name:sub(1, #partial) == partial and
                   (show_private or name:sub(1, 1) ~= "_")
    if matches and (sep ~= ":" or is_callable(value)) then
      found[#found + 1] = prefix .. name ..
                          (is_callable(value) and "(" or "")
    end
  end
  table.sort(found)
  return found
end

return M
