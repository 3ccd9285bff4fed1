-- kubo.study with its default store: outputs in HDF5 files on disk,
-- cached across study objects and across runs of the kubo program.
local kubo = require "kubo"
local T = require "kubo.test"

local dir = os.tmpname()
os.remove(dir)

local function toy(runs, overrides, fail_c)
  return kubo.study{
    name = "toy_h5", dir = dir, log = false, overrides = overrides,
    params = {n = 3, scale = 2.0, seed = 5},
    stages = {
      {name = "a", uses = {"n", "seed"}, run = function(p)
        runs.a = (runs.a or 0) + 1
        local x = kubo.zeros(p.n, 2)
        for i = 1, p.n do x[{i, 1}] = i + p.seed end
        return {x = x, meta = {count = p.n, label = "ones", ok = true}}
      end},
      {name = "b", uses = {"scale"}, inputs = {"a"}, run = function(p, ctx)
        runs.b = (runs.b or 0) + 1
        local a = ctx:input("a")
        local total = 0
        for i = 1, a.meta.count do total = total + a.x[{i, 1}] end
        return {total = total * p.scale}
      end},
      {name = "c", uses = {}, inputs = {"b"}, run = function(_, ctx)
        runs.c = (runs.c or 0) + 1
        if fail_c then error("boom in c") end
        return {double = 2 * ctx:input("b").total}
      end},
    },
  }
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

T.case("study h5 cache across objects", function()
  local runs = {}
  local s = toy(runs):run()
  T.ok(exists(s.files.a), s.files.a)
  T.ok(s.files.a:find(dir, 1, true) == 1, "files go under dir")
  -- seed 5: 6 + 7 + 8 = 21, scaled by 2
  T.eq(s:output("b").total, 42.0)
  local again = toy(runs):run()
  T.eq(runs.a, 1)
  T.eq(runs.b, 1)
  T.eq(runs.c, 1)
  local a = again:output("a")
  T.eq(a.x[{2, 1}], 7.0)
  T.eq(a.x[{2, 2}], 0.0)
  T.eq(a.meta.count, 3)
  T.eq(a.meta.label, "ones")
  T.eq(a.meta.ok, true)
  T.eq(again:output("c").double, 84.0)
end)

T.case("study h5 change and resume", function()
  local runs = {}
  T.raises(function() toy(runs, {scale = 3.0}, true):run() end,
           "stage 'c' failed")
  T.eq(runs.a, nil, "a cached from the first case")
  T.eq(runs.b, 1)
  T.eq(runs.c, 1)
  local s = toy(runs, {scale = 3.0}):run()
  T.eq(runs.b, 1)
  T.eq(runs.c, 2)
  T.eq(s:output("c").double, 126.0)
end)

T.case("study h5 record attributes", function()
  local s = toy({}):run()
  local _, attrs = kubo.h5.read(s.files.b, "/_study")
  T.eq(attrs.stage, "b")
  T.eq(attrs.key, s.keys.b)
  T.eq(attrs.params, "{scale=2,}")
  T.eq(attrs.kubo_version, kubo.version)
  T.eq(attrs.seeds, "{}")
  T.eq(attrs["output.total"], 42.0)
  local _, aattrs = kubo.h5.read(s.files.a, "/_study")
  T.eq(aattrs.seeds, "{seed=5,}")
  T.ok(aattrs.wall_seconds >= 0)
end)

T.case("study h5 through the kubo program", function()
  local program = arg and arg[-1]
  T.ok(program, "arg[-1] names the kubo program")
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(string.format([[
local kubo = require "kubo"
kubo.study{
  name = "cli", dir = %q, params = {n = 2, epochs = 1},
  stages = {
    {name = "simulate", uses = {"n"}, run = function(p)
      return {x = kubo.ones(p.n)}
    end},
    {name = "train", uses = {"epochs"}, run = function(p, ctx)
      return {loss = ctx:input("simulate").x:numel() / p.epochs}
    end},
  },
}:run()
]], dir .. "/cli"))
  f:close()
  local function run(extra)
    local pipe = io.popen(string.format("'%s' '%s' %s 2>&1", program,
                                        script, extra))
    local out = pipe:read("a")
    pipe:close()
    return out
  end
  local first = run("")
  T.ok(first:find("simulate: running", 1, true), first)
  T.ok(first:find("train: running", 1, true), first)
  local second = run("")
  T.ok(second:find("simulate: cached", 1, true), second)
  T.ok(second:find("train: cached", 1, true), second)
  local third = run("--set epochs=2")
  T.ok(third:find("simulate: cached", 1, true), third)
  T.ok(third:find("train: running", 1, true), third)
  os.remove(script)
end)

os.execute("rm -rf '" .. dir .. "'")

T.finish()
