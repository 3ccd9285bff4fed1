-- kubo.gnuplot: the low-level half of kubo.plot. It turns Lua values into
-- gnuplot script text (quoted strings, inline datablocks) and runs a
-- script with the gnuplot program.
--
-- Errors found while building a script are raised as tables
-- {plot_error = message} so that the public kubo.plot functions can
-- re-raise them with the caller's file and line (see M.protect).

local M = {}

-- Raises a plot error that M.protect turns into a message at the caller.
function M.fail(fmt, ...)
  error({plot_error = string.format(fmt, ...)}, 0)
end

-- Wraps fn(args) for a public function named `name`. A plot error becomes
-- "name: message" at the caller's line, and other errors pass unchanged.
function M.protect(name, fn)
  return function(...)
    local results = table.pack(pcall(fn, ...))
    if results[1] then return table.unpack(results, 2, results.n) end
    local err = results[2]
    if type(err) == "table" and err.plot_error then
      error(name .. ": " .. err.plot_error, 2)
    end
    error(err, 0)
  end
end

local function is_tensor(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "kubo.Tensor"
end
M.is_tensor = is_tensor

-- Returns the shape of tensor v, raising a plot error that names `what`
-- when v has been freed.
function M.shape(v, what)
  local ok, shape = pcall(v.shape, v)
  if not ok then
    if tostring(v) == "kubo.Tensor (freed)" then
      M.fail("%s is a freed tensor", what)
    end
    M.fail("%s is not a usable tensor: %s", what, tostring(shape))
  end
  return shape
end

-- Returns a Lua array of numbers from a 1-D tensor or a table of numbers.
-- `what` names the value in error messages.
function M.vector(v, what)
  if is_tensor(v) then
    local shape = M.shape(v, what)
    if #shape ~= 1 then
      M.fail("%s must be 1-D, got a tensor of shape (%s)", what,
             table.concat(shape, ", "))
    end
    v = v:totable()
  elseif type(v) ~= "table" then
    M.fail("%s must be a table of numbers or a 1-D tensor, got %s", what,
           type(v))
  end
  local out = {}
  for i = 1, #v do
    if type(v[i]) ~= "number" then
      M.fail("%s[%d] must be a number, got %s", what, i, type(v[i]))
    end
    out[i] = v[i]
  end
  return out
end

-- Returns the rows of a 2-D tensor or a table of equal-length tables of
-- numbers, and the number of columns.
function M.matrix(v, what)
  local rows
  if is_tensor(v) then
    local shape = M.shape(v, what)
    if #shape ~= 2 then
      M.fail("%s must be 2-D, got a tensor of shape (%s)", what,
             table.concat(shape, ", "))
    end
    rows = v:totable()
  elseif type(v) == "table" and type(v[1]) == "table" then
    rows = v
  else
    M.fail("%s must be a 2-D tensor or a table of rows, got %s", what,
           type(v))
  end
  if #rows == 0 or #rows[1] == 0 then M.fail("%s is empty", what) end
  local ncols = #rows[1]
  for i, row in ipairs(rows) do
    if type(row) ~= "table" then
      M.fail("%s row %d must be a table of numbers, got %s", what, i,
             type(row))
    end
    if #row ~= ncols then
      M.fail("%s row %d has %d values, expected %d like row 1", what, i,
             #row, ncols)
    end
    for j = 1, ncols do
      if type(row[j]) ~= "number" then
        M.fail("%s[%d][%d] must be a number, got %s", what, i, j,
               type(row[j]))
      end
    end
  end
  return rows, ncols
end

-- Formats a number for a datablock. gnuplot treats NaN as a missing
-- point, so infinities are written as NaN too.
function M.number(x)
  if x ~= x or x == math.huge or x == -math.huge then return "NaN" end
  return string.format("%.10g", x)
end

-- Returns user text s as a gnuplot string expression. Each line becomes
-- a single-quoted string, where gnuplot expands neither backquotes nor
-- escapes and a quote is written twice. The lines are joined with a "\n"
-- constant, so a title can span lines but cannot end the command. Other
-- control characters become spaces.
function M.quote(s)
  s = tostring(s):gsub("\r\n?", "\n"):gsub("[\0-\9\11-\31\127]", " ")
  local pieces = {}
  for line in (s .. "\n"):gmatch("([^\n]*)\n") do
    pieces[#pieces + 1] = "'" .. line:gsub("'", "''") .. "'"
  end
  return table.concat(pieces, '."\\n".')
end

-- Returns path as a single-quoted gnuplot string, where no escapes apply
-- and a quote is doubled. A control character in the path is an error.
function M.quote_path(path)
  if path:find("[%c\127]") then
    M.fail("file name contains a control character such as a newline; "
           .. "use a name on one line")
  end
  return "'" .. path:gsub("'", "''") .. "'"
end

-- Returns path quoted for the POSIX shell.
local function shell_quote(path)
  return "'" .. path:gsub("'", "'\\''") .. "'"
end

-- Returns the text of a datablock named `name` ("$s1") whose rows are the
-- arrays of numbers in `rows`.
function M.datablock(name, rows)
  local lines = {name .. " << EOD"}
  for _, row in ipairs(rows) do
    local cells = {}
    for j, x in ipairs(row) do cells[j] = M.number(x) end
    lines[#lines + 1] = table.concat(cells, " ")
  end
  lines[#lines + 1] = "EOD"
  return table.concat(lines, "\n")
end

-- Returns the terminal set-up for an output file, picked by its
-- extension: .png (pngcairo) or .svg. size is {width, height} in pixels.
function M.terminal(file, size, font)
  if type(file) ~= "string" or file == "" then
    M.fail("'file' is missing (a path ending in .png or .svg)")
  end
  local ext = file:match("%.([%w]+)$")
  ext = ext and ext:lower()
  if type(font) ~= "string" or font:find("[%c\127]") then
    M.fail("font must be a string such as \"DejaVu Sans,12\" on one line, "
           .. "got %s", type(font) == "string" and string.format("%q", font)
           or type(font))
  end
  local dims = string.format("size %d,%d", size[1], size[2])
  if ext == "png" then
    return string.format("set terminal pngcairo %s font %s noenhanced",
                         dims, M.quote(font))
  elseif ext == "svg" then
    return string.format("set terminal svg %s font %s noenhanced "
                         .. "background rgb 'white'", dims, M.quote(font))
  end
  M.fail("file '%s' has an unknown extension (expected .png or .svg)",
         file)
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text
end

-- Runs gnuplot on the script text and returns what it printed on stdout
-- (the plot itself for the dumb terminal). `target` names the output in
-- the error raised when gnuplot is missing or reports an error.
function M.run(script, target)
  local script_path = os.tmpname()
  local err_path = os.tmpname()
  local f = assert(io.open(script_path, "w"))
  f:write(script, "\n")
  f:close()
  local pipe = io.popen(string.format("gnuplot %s 2>%s",
                                      shell_quote(script_path),
                                      shell_quote(err_path)), "r")
  local output = pipe:read("a")
  local ok, _, code = pipe:close()
  local messages = read_all(err_path)
  os.remove(script_path)
  os.remove(err_path)
  if code == 127 then
    M.fail("the gnuplot program was not found; install it (Debian "
           .. "package gnuplot-nox, listed in scripts/setup)")
  end
  if not ok then
    messages = messages:gsub('"[^"]*" line', "script line")
    messages = messages:gsub("%s+$", "")
    M.fail("gnuplot failed to draw %s (exit status %s): %s", target,
           tostring(code), messages)
  end
  return output
end

return M
