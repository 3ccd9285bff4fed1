-- Bad study definitions, bad stage outputs and damaged cache files.
-- Definitions and overrides are checked before any stage runs, and a
-- stage whose outputs cannot be saved leaves no cache file. A cache file
-- that is garbage or truncated is recomputed, with a log line that gives
-- the reason. The file also runs under ASan and UBSan.
local kubo = require "kubo"
local T = require "kubo.test"

local dir = io.popen("mktemp -d /tmp/kubo-robust-study-XXXXXX"):read("l")

local function returns(outputs)
  return {name = "a", run = function() return outputs end}
end
local ok_stage = {name = "a", run = function()
  return {x = kubo.ones(3), n = 1}
end}

-- Makes a study in its own folder under dir. Log lines are appended to
-- the table lines if given, and dropped otherwise.
local function study(opts, lines)
  opts.name = opts.name or "s"
  opts.dir = opts.dir or (dir .. "/" .. opts.name)
  opts.stages = opts.stages or {ok_stage}
  opts.log = lines and function(line) lines[#lines + 1] = line end or false
  return kubo.study(opts)
end

-- Runs the study and returns the error message of the failure.
local function run_error(opts)
  local s = study(opts)
  local ok, err = pcall(s.run, s)
  if ok then error("expected the run to fail") end
  return tostring(err)
end

-- Returns the cached files of the study named name, only those of stage
-- `stage` if given.
local function cache_files(name, stage)
  local files = {}
  for f in io.popen("ls '" .. dir .. "/" .. name .. "'"):lines() do
    if stage == nil or f:find(stage .. "-", 1, true) == 1 then
      files[#files + 1] = dir .. "/" .. name .. "/" .. f
    end
  end
  return files
end

local definitions = {
  {"study without options", function() return kubo.study() end,
   "kubo.study expects a table {name =, params =, stages =}, got nil"},
  {"study without a name", function() return kubo.study{} end,
   "study name must be a string of letters, digits"},
  {"study name with a space", function() return study{name = "a b"} end,
   "got a b"},
  {"empty study name", function() return study{name = ""} end,
   "study name must be a string of letters, digits"},
  {"study named dot", function() return study{name = "."} end,
   "study name must not be '.', which names the current or parent folder"},
  {"study named dot dot", function() return study{name = ".."} end,
   "study name must not be '..', which names the current or parent "
   .. "folder"},
  {"study name with a backslash", function()
     return study{name = "a\\b"} end,
   "study name must be a string of letters, digits"},
  {"study name with a slash", function() return study{name = "a/b"} end,
   "study name must be a string of letters, digits"},
  {"study without stages", function() return study{stages = {}} end,
   "stages must be a non-empty list of {name =, run =} tables"},
  {"study with an unknown option", function() return study{cache = 1} end,
   "kubo.study has no option 'cache'"},
  {"stage without run", function() return study{stages = {{name = "a"}}}
   end, "stage 'a' has no run function"},
  {"two stages of one name", function()
     return study{stages = {ok_stage, ok_stage}} end,
   "two stages are named 'a'"},
  {"stage name with a slash", function()
     return study{stages = {{name = "a/b", run = print}}} end,
   "stages[1].name must be a string of letters, digits, '_' or '-'"},
  {"stage using an unknown parameter", function()
     return study{params = {n = 1},
                  stages = {{name = "a", uses = {"m"}, run = print}}} end,
   "stage 'a' uses parameter 'm', which is not in params"},
  {"stage reading a later stage", function()
     return study{stages = {{name = "a", inputs = {"b"}, run = print},
                            {name = "b", run = print}}} end,
   "stage 'a' takes input from 'b', which is not an earlier stage"},
  {"parameter that is a function", function()
     return study{params = {f = print}} end,
   "params.f is a function; parameters must be numbers, strings, booleans "
   .. "or tables of those"},
  {"parameter that contains itself", function()
     local t = {}
     t.t = t
     return study{params = {t = t}} end,
   "params.t.t contains itself"},
  {"parameter that is a tensor", function()
     return study{params = {t = kubo.ones(2)}} end,
   "params.t is a userdata"},
  {"override of an unknown parameter", function()
     return study{params = {n = 1}, overrides = {m = 2}} end,
   "unknown parameter 'm' (parameters: n)"},
  {"override that is not a number", function()
     return study{params = {n = 1}, overrides = {n = "abc"}} end,
   "parameter 'n' must be a number, got 'abc'"},
  {"overrides that are a number", function()
     return study{params = {n = 1}, overrides = 5} end,
   "overrides must be a table of parameter values, got number"},
  {"empty folder name", function() return study{dir = ""} end,
   "dir must be a folder path"},
  {"log that is a number", function()
     return kubo.study{name = "s", stages = {ok_stage}, log = 5} end,
   "log must be a function(line) or false, got number"},
  {"run called with a dot", function() return study{}.run() end,
   "run must be called as study:run()"},
  {"output of an unknown stage", function()
     return study{name = "o1"}:run():output("zz") end,
   "study 'o1' has no stage 'zz'"},
  {"output before the run", function()
     return study{name = "o2"}:output("a") end,
   "stage 'a' has not run yet; call study:run() first"},
}

for _, c in ipairs(definitions) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

local failed_runs = {
  {"stage returning a function", {name = "f1",
                                  stages = {returns({f = print})}},
   "saving stage 'a' failed: outputs of stage 'a'.f is a function"},
  {"stage returning a number", {name = "f2",
                                stages = {{name = "a",
                                           run = function() return 5 end}}},
   "stage 'a' returned a number; a stage returns a table of outputs"},
  {"stage returning a freed tensor", {name = "f3", stages = {{name = "a",
     run = function()
       local t = kubo.ones(2)
       t:free()
       return {t = t}
     end}}},
   "attempt to use a freed tensor"},
  {"stage returning a fractional key", {name = "f4",
                                        stages = {returns({[1.5] = 1})}},
   "has the key 1.5; output keys must be names or positive integers"},
  {"stage returning an empty key", {name = "f5",
                                    stages = {returns({[""] = 1})}},
   "has the key ''; output names must be non-empty, contain no '/'"},
  {"stage returning a key with a slash", {name = "f6",
                                          stages = {returns({["a/b"] = 1})}},
   "has the key 'a/b'"},
  {"stage returning a table that contains itself", {name = "f11",
     stages = {{name = "a", run = function()
       local t = {x = 1}
       t.inner = {back = t}
       return {t = t}
     end}}},
   "outputs of stage 'a'.t.inner.back is the table outputs of stage "
   .. "'a'.t again, which contains itself"},
  {"stage that raises", {name = "f7", stages = {{name = "a",
     run = function() error("stage failed on purpose") end}}},
   "study 'f7': stage 'a' failed"},
  {"stage reading an undeclared parameter", {name = "f8",
     params = {n = 1, m = 2},
     stages = {{name = "a", uses = {"n"},
                run = function(p) return {v = p.m} end}}},
   "stage 'a' reads parameter 'm', which is not in its uses list"},
  {"stage reading an undeclared input", {name = "f9",
     stages = {ok_stage, {name = "b", inputs = {},
                          run = function(_, ctx) return ctx:input("a") end}}},
   "stage 'b' reads the outputs of 'a', which is not in its inputs list",
   "b"},
  {"checkpoint of a number", {name = "f10", stages = {{name = "a",
     run = function(_, ctx) ctx:checkpoint(5) end}}},
   "ctx:checkpoint expects a table of tensors, numbers and strings, got "
   .. "number"},
}

for _, c in ipairs(failed_runs) do
  T.case(c[1], function()
    local err = run_error(c[2])
    T.ok(err:find(c[3], 1, true),
         string.format("expected '%s' in '%s'", c[3], err))
    T.eq(#cache_files(c[2].name, c[4] or "a"), 0,
         "no cache file of the failed stage is left")
  end)
end

T.case("output table shared by two keys", function()
  local shared = {n = 2}
  local s = study{name = "sh", stages = {returns({a = shared, b = shared})}}
  local out = s:run():output("a")
  T.eq(out.a.n, 2)
  T.eq(out.b.n, 2)
end)

T.case("garbage cache file is recomputed", function()
  study{name = "g"}:run()
  for _, f in ipairs(cache_files("g")) do
    local h = assert(io.open(f, "w"))
    h:write("junk")
    h:close()
  end
  local log = {}
  local s = study({name = "g"}, log):run()
  local text = table.concat(log, "\n")
  T.ok(text:find("is unreadable", 1, true), text)
  T.ok(text:find("no HDF5 signature found", 1, true), text)
  T.eq(s:output("a").x:sum(), 3)
end)

T.case("truncated cache file is recomputed", function()
  study{name = "t"}:run()
  for _, f in ipairs(cache_files("t")) do
    local h = assert(io.open(f, "rb"))
    local bytes = h:read("a")
    h:close()
    h = assert(io.open(f, "wb"))
    h:write(bytes:sub(1, #bytes // 2))
    h:close()
  end
  local log = {}
  local s = study({name = "t"}, log):run()
  T.ok(table.concat(log, "\n"):find("truncated file", 1, true))
  T.eq(s:output("a").n, 1)
end)

T.case("cache path taken by a folder", function()
  study{name = "d"}:run()
  for _, f in ipairs(cache_files("d")) do
    os.remove(f)
    os.execute("mkdir '" .. f .. "'")
  end
  local err = run_error{name = "d"}
  T.ok(err:find("Is a directory", 1, true), err)
end)

T.case("NaN outputs and parameters round trip", function()
  study{name = "n", params = {x = 0 / 0},
        stages = {returns({x = 0 / 0, y = math.huge})}}:run()
  -- The stage's code is not part of its key, so this run reads the file.
  local log = {}
  local out = study({name = "n", params = {x = 0 / 0},
                     stages = {returns({})}}, log):run():output("a")
  T.ok(table.concat(log, "\n"):find("a: cached", 1, true), "from the cache")
  T.ok(out.x ~= out.x, "NaN")
  T.eq(out.y, math.huge)
end)

os.execute("rm -rf '" .. dir .. "'")
T.finish()
