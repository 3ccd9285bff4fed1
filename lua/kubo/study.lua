-- kubo.study: a computation in named stages whose outputs are cached in
-- HDF5 files, so that rerunning a script recomputes only the stages whose
-- parameters or inputs changed.
--
--   return kubo.study{
--     name = "toy",
--     params = {n = 64, epochs = 10, seed = 1},
--     stages = {
--       {name = "simulate", uses = {"n", "seed"},
--        run = function(p, ctx) return {traj = kubo.zeros(p.n)} end},
--       {name = "train", uses = {"epochs"}, inputs = {"simulate"},
--        run = function(p, ctx)
--          local traj = ctx:input("simulate").traj
--          return {loss = 0.5}
--        end},
--     },
--   }:run()
--
-- A script runs its study by calling :run() on it, as above; `kubo
-- script.lua --set epochs=20` then reruns "train" but loads "simulate"
-- from its cached file.
--
-- Each stage's output file is <dir>/<stage>-<key>.h5, where key is an
-- FNV-1a hash of the stage's name, its `version`, the parameters it
-- declares in `uses` (all parameters if it declares none) and the keys of
-- the stages in `inputs` (all earlier stages if it declares none). Old
-- files are kept, so switching a parameter back finds its outputs again.
-- The stage's code is not part of the key: bump the stage's `version`
-- after changing what it computes.

local kubo = require "kubo"
local K = require "kubo.study_key"
local S = require "kubo.study_store"

local M = {}

local Study = {}
Study.__index = Study
Study.__name = "kubo.Study"

local Context = {}
Context.__index = Context
Context.__name = "kubo.StudyContext"

-- Dataset in every output file that carries the record attributes.
local RECORD = "/_study"

local STUDY_OPTIONS = {name = true, params = true, stages = true,
                       dir = true, store = true, log = true,
                       overrides = true}
local STAGE_OPTIONS = {name = true, run = true, uses = true,
                       inputs = true, version = true}


-- Errors ----------------------------------------------------------------

-- Raises an argument error that `protect` re-raises at the caller's line.
local function fail(fmt, ...)
  error({study_error = string.format(fmt, ...)}, 0)
end

local function protect(fn)
  return function(...)
    local results = table.pack(pcall(fn, ...))
    if results[1] then return table.unpack(results, 2, results.n) end
    local err = results[2]
    if type(err) == "table" and err.study_error then
      error(err.study_error, 2)
    end
    error(err, 0)
  end
end

local function is_tensor(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "kubo.Tensor"
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end

local function split_name(name)
  local parts = {}
  for part in (name .. "."):gmatch("([^.]*)%.") do
    if part == "" then
      fail("parameter name '%s' has an empty part", name)
    end
    parts[#parts + 1] = part
  end
  return parts
end


-- Parameter overrides ---------------------------------------------------

local function is_array(t)
  return type(t) == "table" and t[1] ~= nil
end

-- Converts an override to the type of the default it replaces. Values
-- from the kubo program arrive as booleans, numbers or strings; values
-- from the arg table arrive as strings.
local function convert(default, value, name)
  local dt, vt = type(default), type(value)
  if dt == "string" and (vt == "number" or vt == "boolean") then
    -- --set label=64 gives a number, but the parameter is text
    return tostring(value)
  end
  if vt == "string" and dt ~= "string" then
    if dt == "number" then
      local n = tonumber(value)
      if n == nil then
        fail("parameter '%s' must be a number, got '%s'", name, value)
      end
      value, vt = n, "number"
    elseif dt == "boolean" then
      local map = {["true"] = true, ["false"] = false, ["1"] = true,
                   ["0"] = false, yes = true, no = false}
      if map[value] == nil then
        fail("parameter '%s' must be true or false, got '%s'", name, value)
      end
      return map[value]
    elseif dt == "table" then
      local chunk = load("return " .. value, "=--set " .. name, "t", {})
      local ok, t = false, nil
      if chunk then ok, t = pcall(chunk) end
      if not ok or type(t) ~= "table" then
        fail("parameter '%s' must be a Lua table such as {1, 2}, got '%s'",
             name, value)
      end
      return t
    end
  end
  if vt ~= dt then
    fail("parameter '%s' must be a %s like its default, got a %s", name,
         dt, vt)
  end
  if dt == "number" and math.type(default) == "integer" then
    return math.tointeger(value) or value
  elseif dt == "number" then
    return value + 0.0
  end
  return value
end

local function flat_names(params, prefix, out)
  for k, v in pairs(params) do
    local name = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" and not is_array(v) then
      flat_names(v, name, out)
    else
      out[#out + 1] = name
    end
  end
  return out
end

local function unknown_parameter(params, name)
  local known = flat_names(params, nil, {})
  table.sort(known)
  fail("unknown parameter '%s' (parameters: %s)", name,
       table.concat(known, ", "))
end

-- Returns the key of `node` that a part of a dotted name refers to: "1"
-- means the list index 1 where node has one.
local function key_in(node, part)
  if type(part) == "string" and node[part] == nil then
    local i = math.tointeger(tonumber(part))
    if i and node[i] ~= nil then return i end
  end
  return part
end

-- Sets the parameter at `keys` (a list of table keys; a string key may be
-- a dotted name) to value, converted to its default's type.
local function apply_override(params, keys, value)
  local parts = {}
  for _, k in ipairs(keys) do
    if type(k) == "string" then
      for _, part in ipairs(split_name(k)) do parts[#parts + 1] = part end
    else
      parts[#parts + 1] = k
    end
  end
  local names = {}
  for i, part in ipairs(parts) do names[i] = tostring(part) end
  local name = table.concat(names, ".")
  local node = params
  for i = 1, #parts - 1 do
    node = node[key_in(node, parts[i])]
    if type(node) ~= "table" then unknown_parameter(params, name) end
  end
  local last = key_in(node, parts[#parts])
  if node[last] == nil then unknown_parameter(params, name) end
  node[last] = convert(node[last], value, name)
end

-- Lists the overrides in `over` as {keys, value} pairs. A nested table
-- sets single fields of a table parameter (as --set model.alpha=8 does);
-- a string such as "{1, 2}" replaces a table parameter whole.
local function collect_overrides(over, defaults, keys, out)
  for k, v in pairs(over) do
    local path = table.move(keys, 1, #keys, 1, {})
    path[#path + 1] = k
    local d = type(defaults) == "table" and defaults[k] or nil
    if type(v) == "table" and type(d) == "table" then
      collect_overrides(v, d, path, out)
    else
      out[#out + 1] = {path, v}
    end
  end
  return out
end

local function apply_overrides(params, over, source)
  if over == nil then return end
  if type(over) ~= "table" then
    fail("%s must be a table of parameter values, got %s", source,
         type(over))
  end
  local list = collect_overrides(over, params, {}, {})
  -- sorted, so that the first error reported does not depend on pairs
  local function name_of(pair)
    local names = {}
    for i, k in ipairs(pair[1]) do names[i] = tostring(k) end
    return table.concat(names, ".")
  end
  table.sort(list, function(a, b) return name_of(a) < name_of(b) end)
  for _, pair in ipairs(list) do
    apply_override(params, pair[1], pair[2])
  end
end

-- Returns the --set name=value pairs of the global `arg` table. The kubo
-- program takes --set out of arg and into kubo.params, so this serves
-- scripts run by another Lua host.
local function overrides_from_arg()
  local args = rawget(_G, "arg")
  local over = {}
  if type(args) ~= "table" then return over end
  local i = 1
  while args[i] ~= nil do
    local a = args[i]
    local text
    if a == "--set" then
      text = args[i + 1]
      i = i + 1
      if type(text) ~= "string" then
        fail("--set needs a name=value argument after it")
      end
    elseif type(a) == "string" and a:sub(1, 6) == "--set=" then
      text = a:sub(7)
    end
    if text then
      local name, value = text:match("^([^=]+)=(.*)$")
      if not name then
        fail("--set expects name=value, got '%s'", text)
      end
      over[name] = value
    end
    i = i + 1
  end
  return over
end


-- Stage parameters ------------------------------------------------------

-- Returns the part of params that a stage declares in `uses`.
local function select_params(params, uses, stage)
  if uses == nil then return deep_copy(params) end
  local out = {}
  for _, name in ipairs(uses) do
    local parts = split_name(name)
    local src, dst = params, out
    for i, part in ipairs(parts) do
      if type(src) ~= "table" or src[part] == nil then
        fail("stage '%s' uses parameter '%s', which is not in params",
             stage, name)
      end
      src = src[part]
      if i == #parts then
        dst[part] = deep_copy(src)
      else
        if type(dst[part]) ~= "table" then dst[part] = {} end
        dst = dst[part]
      end
    end
  end
  return out
end

-- Makes reading a parameter that exists in `full` but was not selected an
-- error, so that a stage cannot depend on a parameter its key leaves out.
local function guard(selected, full, stage, prefix)
  for k, v in pairs(selected) do
    if type(v) == "table" and type(full[k]) == "table" then
      guard(v, full[k], stage, prefix .. k .. ".")
    end
  end
  setmetatable(selected, {__index = function(_, k)
    if full[k] ~= nil then
      error(string.format("stage '%s' reads parameter '%s%s', which is "
                          .. "not in its uses list; add it there", stage,
                          prefix, tostring(k)), 2)
    end
  end})
  return selected
end

-- Returns the parameters whose name contains "seed", by dotted name.
local function find_seeds(params, prefix, out)
  for k, v in pairs(params) do
    local name = prefix .. tostring(k)
    if type(v) == "table" then
      find_seeds(v, name .. ".", out)
    elseif type(k) == "string" and k:lower():find("seed", 1, true) then
      out[name] = v
    end
  end
  return out
end


-- Output files ----------------------------------------------------------

-- Key that marks a tensor in the manifest: {["/tensor"] = dataset path}.
-- Output keys cannot contain '/', so no output table looks like it.
local TENSOR_MARK = "/tensor"

-- Walks an output tree. Returns the manifest tree (each tensor replaced
-- by a TENSOR_MARK table), and fills the list of {path, tensor} and the
-- table of scalar leaves by path. `open` maps each table on the path from
-- the root to its name, so that a table containing itself raises an error.
local function flatten_outputs(value, path, tensors, scalars, what, open)
  local t = type(value)
  if is_tensor(value) then
    tensors[#tensors + 1] = {path, value}
    return {[TENSOR_MARK] = path}
  elseif t == "number" or t == "string" or t == "boolean" then
    scalars[path] = value
    return value
  elseif t == "table" then
    open = open or {}
    if open[value] then
      fail("%s is the table %s again, which contains itself; outputs must "
           .. "be trees without cycles", what, open[value])
    end
    open[value] = what
    local tree = {}
    for k, v in pairs(value) do
      local kt = type(k)
      if kt == "string" then
        if k == "" or k:find("/", 1, true) or k:sub(1, 1) == "_" then
          fail("%s has the key '%s'; output names must be non-empty, "
               .. "contain no '/' and not start with '_'", what, k)
        end
      elseif math.type(k) ~= "integer" or k < 1 then
        fail("%s has the key %s; output keys must be names or positive "
             .. "integers", what, tostring(k))
      end
      tree[k] = flatten_outputs(v, path .. "/" .. tostring(k), tensors,
                                scalars, what .. "." .. tostring(k), open)
    end
    open[value] = nil
    return tree
  end
  fail("%s is a %s; outputs must be tensors, numbers, strings, booleans "
       .. "or tables of those", what, t)
end

local function write_outputs(store, file, outputs, record, what)
  local tensors, scalars = {}, {}
  local tree = flatten_outputs(outputs, "", tensors, scalars, what)
  local attrs = {}
  for k, v in pairs(record) do attrs[k] = v end
  -- Copies of the scalar outputs for readers other than kubo (h5py),
  -- as attributes "output.a.b"; the manifest is what kubo reads back.
  for path, v in pairs(scalars) do
    local name = "output" .. path:gsub("/", ".")
    attrs[name] = type(v) == "boolean" and tostring(v) or v
  end
  attrs.manifest = K.serialize(tree, "manifest")
  local datasets = {}
  for _, pair in ipairs(tensors) do
    datasets[#datasets + 1] = {name = pair[1], tensor = pair[2]}
  end
  datasets[#datasets + 1] = {name = RECORD, tensor = kubo.zeros(1),
                             attrs = attrs}
  store:remove(file)
  store:write_file(file, datasets)
end

-- Returns the record attributes of a file, or nil and a message.
local function read_record(store, file)
  if not store:exists(file) then return nil, "not found" end
  local ok, tensor, attrs = pcall(store.read, store, file, RECORD)
  if not ok then return nil, tostring(tensor) end
  if tensor == nil then return nil, tostring(attrs) end
  if type(attrs) ~= "table" or type(attrs.manifest) ~= "string" then
    return nil, "the record has no manifest"
  end
  return attrs
end

local function read_outputs(store, file, attrs)
  local function rebuild(node)
    if type(node) ~= "table" then return node end
    local path = node[TENSOR_MARK]
    if path ~= nil then
      local tensor, err = store:read(file, path)
      if tensor == nil then
        error(string.format("reading %s from '%s' failed: %s", path, file,
                            tostring(err)), 0)
      end
      return tensor
    else
      local out = {}
      for k, v in pairs(node) do out[k] = rebuild(v) end
      return out
    end
  end
  return rebuild(K.deserialize(attrs.manifest))
end


-- Construction ----------------------------------------------------------

local function check_stage(stage, i, seen)
  local what = string.format("stages[%d]", i)
  if type(stage) ~= "table" then
    fail("%s must be a table {name =, run =}, got %s", what, type(stage))
  end
  for k in pairs(stage) do
    if not STAGE_OPTIONS[k] then
      fail("%s has the unknown option '%s' (known: name, run, uses, "
           .. "inputs, version)", what, tostring(k))
    end
  end
  local name = stage.name
  if type(name) ~= "string" or not name:match("^[%w_%-]+$") then
    fail("%s.name must be a string of letters, digits, '_' or '-', got %s",
         what, tostring(name))
  end
  if seen[name] then fail("two stages are named '%s'", name) end
  if type(stage.run) ~= "function" then
    fail("stage '%s' has no run function", name)
  end
  for _, field in ipairs{"uses", "inputs"} do
    local list = stage[field]
    if list ~= nil then
      if type(list) ~= "table" then
        fail("stage '%s': %s must be a list of names, got %s", name, field,
             type(list))
      end
      for _, v in ipairs(list) do
        if type(v) ~= "string" then
          fail("stage '%s': %s must be a list of names, got a %s", name,
               field, type(v))
        end
      end
    end
  end
  local inputs = {}
  if stage.inputs == nil then
    for earlier in pairs(seen) do inputs[#inputs + 1] = earlier end
    table.sort(inputs)
  else
    for _, input in ipairs(stage.inputs) do
      if not seen[input] then
        fail("stage '%s' takes input from '%s', which is not an earlier "
             .. "stage", name, input)
      end
      inputs[#inputs + 1] = input
    end
  end
  local v = stage.version
  if v ~= nil and type(v) ~= "number" and type(v) ~= "string" then
    fail("stage '%s': version must be a number or string", name)
  end
  seen[name] = true
  return {name = name, run = stage.run, uses = stage.uses, inputs = inputs,
          version = v}
end

local function default_log(line)
  io.stderr:write(line, "\n")
  io.stderr:flush()
end

local function new(args)
  if type(args) ~= "table" then
    fail("kubo.study expects a table {name =, params =, stages =}, got %s",
         type(args))
  end
  for k in pairs(args) do
    if not STUDY_OPTIONS[k] then
      fail("kubo.study has no option '%s' (known: name, params, stages, "
           .. "dir, store, log, overrides)", tostring(k))
    end
  end
  local name = args.name
  if type(name) ~= "string" or not name:match("^[%w_%-%.]+$") then
    fail("study name must be a string of letters, digits, '_', '-' or "
         .. "'.', got %s", tostring(name))
  end
  if name == "." or name == ".." then
    fail("study name must not be '%s', which names the current or parent "
         .. "folder rather than a folder of its own", name)
  end
  local params = args.params or {}
  if type(params) ~= "table" then
    fail("params must be a table, got %s", type(params))
  end
  local ok, err = pcall(K.serialize, params, "params")
  if not ok then fail("%s", err) end
  params = deep_copy(params)
  if type(args.stages) ~= "table" or #args.stages == 0 then
    fail("stages must be a non-empty list of {name =, run =} tables")
  end

  -- the command line first, then explicit overrides
  local command_line = kubo.params
  if type(command_line) == "table" and next(command_line) ~= nil then
    apply_overrides(params, command_line, "kubo.params")
  else
    apply_overrides(params, overrides_from_arg(), "--set")
  end
  apply_overrides(params, args.overrides, "overrides")

  local stages, seen = {}, {}
  for i, stage in ipairs(args.stages) do
    stages[i] = check_stage(stage, i, seen)
    stages[stages[i].name] = stages[i]
    select_params(params, stages[i].uses, stages[i].name)
  end

  local dir = args.dir or ("studies/" .. name)
  if type(dir) ~= "string" or dir == "" then
    fail("dir must be a folder path, got %s", tostring(dir))
  end
  local log = args.log
  if log == nil then
    log = default_log
  elseif log == false then
    log = function() end
  elseif type(log) ~= "function" then
    fail("log must be a function(line) or false, got %s", type(log))
  end
  local store = args.store
  if store ~= nil then
    if type(store) ~= "table" then
      fail("store must be a store table such as "
           .. "kubo.study.memory_store(), got %s", type(store))
    end
    for _, method in ipairs{"write_file", "read", "exists", "rename",
                            "remove", "mkdir"} do
      if type(store[method]) ~= "function" then
        fail("store has no %s method; see kubo.study.memory_store()",
             method)
      end
    end
  end

  return setmetatable({
    name = name, params = params, stages = stages, dir = dir:gsub("/+$", ""),
    store = store, log = log, keys = {}, files = {}, timings = {},
    loaded = {},
  }, Study)
end


-- Running ---------------------------------------------------------------

function Study:_log(fmt, ...)
  self.log(string.format("[%s] " .. fmt, self.name, ...))
end

local function stage_file(self, stage, suffix)
  return string.format("%s/%s-%s%s", self.dir, stage.name,
                       self.keys[stage.name], suffix)
end

local function new_context(self, stage)
  local base = stage_file(self, stage, "")
  return setmetatable({
    study = self.name, name = stage.name, key = self.keys[stage.name],
    dir = self.dir, file = base .. ".h5",
    _self = self, _stage = stage,
    _checkpoint = base .. ".checkpoint.h5",
  }, Context)
end

local function seconds_text(s)
  if s < 60 and math.type(s) == "integer" then
    return string.format("%d s", s)
  end
  if s < 60 then return string.format("%.2f s", s) end
  if s < 3600 then return string.format("%.1f min", s / 60) end
  return string.format("%.2f h", s / 3600)
end

-- Runs one stage and commits its output file. Raises with the stage's
-- name when the stage fails; nothing is committed then.
local function compute(self, stage, selected, file, inputs)
  local store = self.store
  self:_log("%s: running", stage.name)
  local ctx = new_context(self, stage)
  local p = guard(deep_copy(selected), self.params, stage.name, "")
  local wall0, cpu0 = kubo.clock(), os.clock()
  local ok, result = xpcall(stage.run, function(e)
    return debug.traceback(tostring(e), 2)
  end, p, ctx)
  -- cpu_seconds counts the CPU time of all threads, so it exceeds wall
  -- time under OpenMP.
  local wall, cpu = kubo.clock() - wall0, os.clock() - cpu0
  if not ok then
    self:_log("%s: failed after %s; earlier stages are saved, so a rerun "
              .. "resumes here", stage.name, seconds_text(wall))
    error(string.format("study '%s': stage '%s' failed: %s", self.name,
                        stage.name, result), 0)
  end
  if result == nil then result = {} end
  if type(result) ~= "table" then
    error(string.format("study '%s': stage '%s' returned a %s; a stage "
                        .. "returns a table of outputs", self.name,
                        stage.name, type(result)), 0)
  end
  local record = {
    study = self.name, stage = stage.name, key = self.keys[stage.name],
    version = stage.version ~= nil and tostring(stage.version) or "",
    params = K.serialize(selected, "params"),
    study_params = K.serialize(self.params, "params"),
    seeds = K.serialize(find_seeds(selected, "", {}), "seeds"),
    inputs = K.serialize(inputs, "inputs"),
    kubo_version = tostring(kubo.version or "unknown"),
    lua_version = _VERSION,
    wall_seconds = wall, cpu_seconds = cpu,
    finished = os.date("!%Y-%m-%dT%H:%M:%SZ"),
  }
  local partial = stage_file(self, stage, ".partial.h5")
  local wok, err = pcall(write_outputs, store, partial, result, record,
                         "outputs of stage '" .. stage.name .. "'")
  if not wok then
    store:remove(partial)
    if type(err) == "table" then err = err.study_error end
    error(string.format("study '%s': saving stage '%s' failed: %s",
                        self.name, stage.name, tostring(err)), 0)
  end
  store:rename(partial, file)
  store:remove(ctx._checkpoint)
  self.loaded[stage.name] = result
  self.timings[stage.name] = {cached = false, wall_seconds = wall,
                              cpu_seconds = cpu}
  self:_log("%s: done in %s (cpu %s), saved to %s", stage.name,
            seconds_text(wall), seconds_text(cpu), file)
end

local function run(self)
  if getmetatable(self) ~= Study then
    fail("run must be called as study:run()")
  end
  if self.store == nil then self.store = S.hdf5() end
  local store = self.store
  store:mkdir(self.dir)
  for _, stage in ipairs(self.stages) do
    local inputs = {}
    for _, input in ipairs(stage.inputs) do
      inputs[input] = self.keys[input]
    end
    local selected = select_params(self.params, stage.uses, stage.name)
    local key = K.fnv1a64(K.serialize({stage = stage.name,
                                       version = stage.version,
                                       params = selected,
                                       inputs = inputs}, "stage key"))
    self.keys[stage.name] = key
    local file = stage_file(self, stage, ".h5")
    self.files[stage.name] = file
    local record, reason = read_record(store, file)
    if record and record.key == key then
      self.timings[stage.name] = {cached = true,
                                  wall_seconds = record.wall_seconds,
                                  cpu_seconds = record.cpu_seconds}
      self:_log("%s: cached (computed in %s on %s)", stage.name,
                seconds_text(tonumber(record.wall_seconds) or 0),
                tostring(record.finished))
    else
      if store:exists(file) then
        self:_log("%s: cached file %s is unreadable (%s); recomputing",
                  stage.name, file, reason or "key mismatch")
      end
      compute(self, stage, selected, file, inputs)
    end
  end
  return self
end

-- Returns the outputs of a stage of a study that has run, loading them
-- from the stage's file if this run did not compute them.
local function output(self, name)
  if self.stages[name] == nil then
    fail("study '%s' has no stage '%s'", self.name, tostring(name))
  end
  local outputs = self.loaded[name]
  if outputs ~= nil then return outputs end
  local file = self.files[name]
  if file == nil then
    fail("stage '%s' has not run yet; call study:run() first", name)
  end
  local record, reason = read_record(self.store, file)
  if not record then
    fail("reading the outputs of stage '%s' from '%s' failed: %s", name,
         file, tostring(reason))
  end
  outputs = read_outputs(self.store, file, record)
  self.loaded[name] = outputs
  return outputs
end

Study.run = kubo.setdoc(protect(run), [[
study:run() -> study
Runs the stages in order. A stage whose output file for its current key
exists is loaded from it (logged as "cached"), any other stage is run and
its outputs saved (logged as "running" and "done in"). A stage that
raises an error leaves the earlier stages saved; the error names the
stage, and the next run resumes at that stage.]])

Study.output = kubo.setdoc(protect(output), [[
study:output(stage_name) -> table
Returns the outputs of a stage after study:run(), loading them from the
stage's file if this run took the stage from the cache.]])

Study.__tostring = function(self)
  local names = {}
  for i, s in ipairs(self.stages) do names[i] = s.name end
  return string.format("kubo.Study '%s' (%s) in %s", self.name,
                       table.concat(names, ", "), self.dir)
end


-- Stage context ---------------------------------------------------------

function Context:input(name)
  local self_study, stage = self._self, self._stage
  local declared = false
  for _, input in ipairs(stage.inputs) do
    if input == name then declared = true end
  end
  if not declared then
    error(string.format("stage '%s' reads the outputs of '%s', which is "
                        .. "not in its inputs list", stage.name,
                        tostring(name)), 2)
  end
  local ok, outputs = pcall(output, self_study, name)
  if not ok then
    error(type(outputs) == "table" and outputs.study_error or outputs, 2)
  end
  return outputs
end

function Context:log(fmt, ...)
  self._self:_log("%s: " .. fmt, self.name, ...)
end

function Context:checkpoint(state)
  if type(state) ~= "table" then
    error("ctx:checkpoint expects a table of tensors, numbers and "
          .. "strings, got " .. type(state), 2)
  end
  local store = self._self.store
  local partial = self._checkpoint:gsub("%.h5$", ".partial.h5")
  local ok, err = pcall(write_outputs, store, partial, state,
                        {study = self.study, stage = self.name,
                         key = self.key}, "checkpoint")
  if not ok then
    store:remove(partial)
    error(type(err) == "table" and err.study_error or err, 2)
  end
  store:rename(partial, self._checkpoint)
end

function Context:restore()
  local store = self._self.store
  local record = read_record(store, self._checkpoint)
  if not record or record.key ~= self.key then return nil end
  return read_outputs(store, self._checkpoint, record)
end

kubo.setdoc(Context.input, [[
ctx:input(stage_name) -> table
Returns the outputs of an earlier stage named in this stage's inputs
list (all earlier stages if the stage declares no inputs).]])
kubo.setdoc(Context.log, [[
ctx:log(format, ...) writes a progress line prefixed with the study and
stage names.]])
kubo.setdoc(Context.checkpoint, [[
ctx:checkpoint(state) saves a table of tensors, numbers and strings as
this stage's checkpoint, replacing the previous one only once the new one
is complete. The checkpoint is deleted when the stage finishes.]])
kubo.setdoc(Context.restore, [[
ctx:restore() -> table or nil
Returns the last checkpoint this stage saved under the same key (the
same parameters and inputs), or nil if there is none.]])


-- Module ----------------------------------------------------------------

M.memory_store = kubo.setdoc(S.memory, [[
kubo.study.memory_store() -> store
A store that keeps stage outputs in a Lua table in place of HDF5 files;
pass it as kubo.study{..., store = kubo.study.memory_store()} and reuse
it across studies to test caching without touching the disk.]])

M.serialize = kubo.setdoc(K.serialize, [[
kubo.study.serialize(value) -> string
Returns the canonical text of a parameter table, a Lua literal with sorted
keys, from which kubo.study computes stage keys.]])
M.hash = kubo.setdoc(K.fnv1a64, [[
kubo.study.hash(text) -> string
Returns the 64-bit FNV-1a hash of text as 16 hexadecimal digits.]])

local new_study = protect(new)

setmetatable(M, {__call = function(_, args) return new_study(args) end})

kubo.setdoc(M, [[
kubo.study{name, params, stages, [dir], [store], [log], [overrides]}
-> study. Describes a computation in stages whose outputs are cached; the
script runs it with :run(), as in `return kubo.study{...}:run()`. Outputs
go to dir, "studies/<name>" by default. params is a table of numbers,
strings, booleans and tables of those. The command line overrides them
with --set n=64 or --set model.alpha=8 (read from kubo.params, or from the
script's arg table when kubo.params is empty), then the table `overrides`
does. Each stage is a table {name, run = function(p, ctx) -> outputs,
[uses], [inputs], [version]}. uses lists the parameters the stage reads,
with dotted names allowed (default: all): p holds only these, and the
stage reruns when one of them changes. inputs lists the earlier stages
whose outputs the stage reads with ctx:input(name) (default: all earlier
stages). Bump version after changing what the stage computes. outputs is
a table of tensors, numbers, strings, booleans and tables of those, saved
to <dir>/<stage>-<key>.h5 with the parameters, seeds, inputs, kubo version
and timings as attributes of its /_study dataset. store sets where files
go (default: HDF5 through kubo.h5; kubo.study.memory_store() keeps them in
memory). log is a function(line) for progress lines (default: stderr), or
false for none. See also study:run(), study:output(stage), study.params,
study.keys, study.files and study.timings.]])

return M
