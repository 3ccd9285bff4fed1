-- kubo.study_key: stable text form of parameter tables and the FNV-1a
-- hash that kubo.study uses to name cached stage outputs.

local M = {}

local function sorted_keys(t, path)
  local keys = {}
  for k in pairs(t) do
    local kt = type(k)
    if kt ~= "string" and kt ~= "number" then
      error(string.format("%s has a key of type %s; keys must be strings "
                          .. "or numbers", path, kt), 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "number" end
    return a < b
  end)
  return keys
end

local function number_text(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x then return "0/0" end
  if x == math.huge then return "1/0" end
  if x == -math.huge then return "-1/0" end
  -- 64.0 and 64 are the same parameter value, so they serialise alike.
  local i = math.tointeger(x)
  if i then return string.format("%d", i) end
  return string.format("%.17g", x)
end

local function write(v, out, path, seen)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = string.format("%q", v)
  elseif t == "number" then
    out[#out + 1] = number_text(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    if seen[v] then
      error(path .. " contains itself; a parameter table must be a tree", 0)
    end
    seen[v] = true
    out[#out + 1] = "{"
    for _, k in ipairs(sorted_keys(v, path)) do
      local name
      if type(k) == "string" and k:match("^[%a_][%w_]*$") then
        out[#out + 1] = k
        name = path .. "." .. k
      else
        out[#out + 1] = "[" .. (type(k) == "string" and
                                string.format("%q", k) or number_text(k))
                        .. "]"
        name = string.format("%s[%s]", path, tostring(k))
      end
      out[#out + 1] = "="
      write(v[k], out, name, seen)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
    seen[v] = nil
  else
    error(string.format("%s is a %s; parameters must be numbers, strings, "
                        .. "booleans or tables of those", path, t), 0)
  end
end

-- Returns the canonical text of v: a Lua literal with table keys sorted,
-- so that equal trees give equal text. `path` names v in error messages,
-- which are raised without a position.
function M.serialize(v, path)
  local out = {}
  write(v, out, path or "value", {})
  return table.concat(out)
end

-- Returns the value of a text made by M.serialize.
function M.deserialize(text)
  local chunk, err = load("return " .. text, "=serialized value", "t", {})
  if not chunk then
    error("invalid serialized value: " .. err, 0)
  end
  return chunk()
end

local FNV_OFFSET = -3750763034362895579   -- 0xcbf29ce484222325
local FNV_PRIME = 0x100000001b3

-- Returns the 64-bit FNV-1a hash of s as 16 hexadecimal digits. Lua
-- integers wrap modulo 2^64, which is the arithmetic FNV-1a needs.
function M.fnv1a64(s)
  local h = FNV_OFFSET
  for i = 1, #s do
    h = (h ~ s:byte(i)) * FNV_PRIME
  end
  return string.format("%016x", h)
end

return M
