-- kubo.study: caching, reruns after parameter changes, resuming after a
-- failed stage, --set overrides and argument checks, on an in-memory
-- store.
local kubo = require "kubo"
local T = require "kubo.test"

-- A three-stage study: "a" uses n, "b" uses scale and reads "a", "c"
-- reads "b". runs[name] counts how often each stage ran; fail_c makes
-- stage "c" raise.
local function toy(store, runs, opts)
  opts = opts or {}
  return kubo.study{
    name = "toy", store = store, log = false, overrides = opts.overrides,
    params = {n = 4, scale = 2.0, model = {alpha = 1.5, label = "x"},
              seed = 11},
    stages = {
      {name = "a", uses = {"n", "seed"}, run = function(p)
        runs.a = (runs.a or 0) + 1
        local x = kubo.zeros(p.n)
        for i = 1, p.n do x[i] = i + p.seed end
        return {x = x, count = p.n}
      end},
      {name = "b", uses = {"scale"}, inputs = {"a"}, run = function(p, ctx)
        runs.b = (runs.b or 0) + 1
        local a = ctx:input("a")
        local total = 0
        for i = 1, a.count do total = total + a.x[i] end
        return {total = total * p.scale}
      end},
      {name = "c", uses = {}, inputs = {"b"}, run = function(_, ctx)
        runs.c = (runs.c or 0) + 1
        if opts.fail_c then error("boom in c") end
        return {summary = {total = ctx:input("b").total, ok = true,
                           name = "toy"}}
      end},
    },
  }
end

T.case("study first run computes all", function()
  local store, runs = kubo.study.memory_store(), {}
  local s = toy(store, runs):run()
  T.eq(runs.a, 1)
  T.eq(runs.b, 1)
  T.eq(runs.c, 1)
  -- seed 11: x = 12, 13, 14, 15; total 54; scaled by 2
  T.eq(s:output("b").total, 108.0)
  T.eq(s:output("c").summary.total, 108.0)
  T.eq(s.timings.a.cached, false)
end)

T.case("study rerun computes nothing", function()
  local store, runs = kubo.study.memory_store(), {}
  toy(store, runs):run()
  local s = toy(store, runs):run()
  T.eq(runs.a, 1)
  T.eq(runs.b, 1)
  T.eq(runs.c, 1)
  T.eq(s.timings.c.cached, true)
  local c = s:output("c")
  T.eq(c.summary.total, 108.0, "loaded from the store")
  T.eq(c.summary.ok, true)
  T.eq(c.summary.name, "toy")
  local a = s:output("a")
  T.eq(a.count, 4)
  T.eq(math.type(a.count), "integer")
  T.eq(a.x[{3}], 14.0)
end)

T.case("study parameter change reruns dependents", function()
  local store, runs = kubo.study.memory_store(), {}
  local first = toy(store, runs):run()
  local second = toy(store, runs, {overrides = {scale = 3.0}}):run()
  T.eq(runs.a, 1, "stage a does not use scale")
  T.eq(runs.b, 2)
  T.eq(runs.c, 2, "stage c reads b")
  T.eq(first.keys.a, second.keys.a)
  T.ok(first.keys.b ~= second.keys.b, "b has a new key")
  T.ok(first.keys.c ~= second.keys.c, "c has a new key")
  T.eq(second:output("c").summary.total, 162.0)
  -- switching back finds the first outputs again
  toy(store, runs):run()
  T.eq(runs.b, 2)
  T.eq(runs.c, 2)
end)

T.case("study first stage change reruns all", function()
  local store, runs = kubo.study.memory_store(), {}
  toy(store, runs):run()
  toy(store, runs, {overrides = {n = 5}}):run()
  T.eq(runs.a, 2)
  T.eq(runs.b, 2)
  T.eq(runs.c, 2)
end)

T.case("study unused parameter change reruns none", function()
  local store, runs = kubo.study.memory_store(), {}
  toy(store, runs):run()
  toy(store, runs, {overrides = {model = {alpha = 9}}}):run()
  T.eq(runs.a, 1)
  T.eq(runs.b, 1)
  T.eq(runs.c, 1)
end)

T.case("study failed stage resumes", function()
  local store, runs = kubo.study.memory_store(), {}
  local err = T.raises(function()
    toy(store, runs, {fail_c = true}):run()
  end, "study 'toy': stage 'c' failed")
  T.ok(err:find("boom in c", 1, true), err)
  T.eq(runs.a, 1)
  T.eq(runs.b, 1)
  T.eq(runs.c, 1)
  local committed = 0
  for path in pairs(store.files) do
    T.ok(not path:find("partial", 1, true), "no partial file left: " .. path)
    committed = committed + 1
  end
  T.eq(committed, 2, "outputs of a and b only")
  local s = toy(store, runs):run()
  T.eq(runs.a, 1, "a taken from the cache")
  T.eq(runs.b, 1, "b taken from the cache")
  T.eq(runs.c, 2)
  T.eq(s:output("c").summary.total, 108.0)
end)

T.case("study records parameters and timings", function()
  local store, runs = kubo.study.memory_store(), {}
  local s = toy(store, runs):run()
  local _, attrs = store:read(s.files.a, "/_study")
  T.eq(attrs.study, "toy")
  T.eq(attrs.stage, "a")
  T.eq(attrs.key, s.keys.a)
  T.eq(attrs.params, "{n=4,seed=11,}")
  T.eq(attrs.seeds, '{seed=11,}')
  T.eq(attrs.kubo_version, kubo.version)
  T.eq(type(attrs.wall_seconds), "number")
  T.eq(type(attrs.cpu_seconds), "number")
  T.ok(attrs.wall_seconds >= 0)
  T.eq(attrs["output.count"], 4)
  T.ok(attrs.study_params:find("scale=2", 1, true), attrs.study_params)
  local _, battrs = store:read(s.files.b, "/_study")
  T.eq(battrs.inputs, string.format('{a=%q,}', s.keys.a))
  T.ok(s.files.a:match("^studies/toy/a%-%x+%.h5$"), s.files.a)
end)

T.case("study set from arg", function()
  local saved = rawget(_G, "arg")
  _G.arg = {[0] = "toy.lua", "--set", "n=7", "--set=model.alpha=2.5",
            "--set", "model.label=y"}
  local ok, err = pcall(function()
    local s = toy(kubo.study.memory_store(), {})
    T.eq(s.params.n, 7)
    T.eq(math.type(s.params.n), "integer")
    T.eq(s.params.model.alpha, 2.5)
    T.eq(s.params.model.label, "y")
    s:run()
    T.eq(s:output("a").count, 7, "the override reached stage a")
  end)
  _G.arg = saved
  if not ok then error(err, 0) end
end)

T.case("study set from kubo.params", function()
  local cases = {
    {model = {alpha = "3"}, n = "5"},
    {["model.alpha"] = "3", n = 5},
  }
  for i, params in ipairs(cases) do
    kubo.params = params
    local ok, err = pcall(function()
      local s = toy(kubo.study.memory_store(), {}):run()
      T.eq(s.params.model.alpha, 3, "case " .. i)
      T.eq(s.params.model.label, "x", "case " .. i)
      T.eq(s:output("a").count, 5, "case " .. i)
    end)
    kubo.params = nil
    if not ok then error(err, 0) end
  end
end)

T.case("study set typed values", function()
  -- the kubo program converts numerals and true/false itself
  local s = kubo.study{
    name = "typed", store = kubo.study.memory_store(), log = false,
    params = {points = {1, 2, 3}, label = "a", on = false, size = 4},
    overrides = {points = {[2] = 9}, label = 64, on = true, size = 8.0},
    stages = {{name = "a", run = function() return {} end}},
  }
  T.eq(s.params.points[1], 1)
  T.eq(s.params.points[2], 9)
  T.eq(s.params.points[3], 3)
  T.eq(s.params.label, "64")
  T.eq(s.params.on, true)
  T.eq(math.type(s.params.size), "integer")
  local whole = kubo.study{
    name = "typed", store = kubo.study.memory_store(), log = false,
    params = {points = {1, 2, 3}},
    overrides = {points = "{4, 5}"},
    stages = {{name = "a", run = function() return {} end}},
  }
  T.eq(#whole.params.points, 2, "a table literal replaces the list")
  T.eq(whole.params.points[2], 5)
end)

T.case("study set through the kubo program", function()
  -- arg[-1] is the program that runs this test
  local program = arg and arg[-1]
  T.ok(program, "arg[-1] names the kubo program")
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local kubo = require "kubo"
kubo.study{
  name = "cli", store = kubo.study.memory_store(), log = false,
  params = {n = 4, model = {alpha = 1.5}, points = {1, 2}, tag = "x"},
  stages = {{name = "show", run = function(p)
    print(string.format("n=%s alpha=%s points=%s,%s tag=%s",
                        math.type(p.n), p.model.alpha, p.points[1],
                        p.points[2], p.tag))
    return {}
  end}},
}:run()
]])
  f:close()
  local pipe = io.popen(string.format(
    "'%s' '%s' --set n=7 --set model.alpha=3 --set points.2=9 "
    .. "--set tag=12 2>&1", program, script))
  local out = pipe:read("a")
  pipe:close()
  os.remove(script)
  T.eq(out, "n=integer alpha=3.0 points=1,9 tag=12\n")
end)

T.case("study bad overrides", function()
  local store = kubo.study.memory_store()
  T.raises(function() toy(store, {}, {overrides = {nope = 1}}) end,
           "unknown parameter 'nope' (parameters: model.alpha, "
           .. "model.label, n, scale, seed)")
  T.raises(function() toy(store, {}, {overrides = {n = "many"}}) end,
           "parameter 'n' must be a number, got 'many'")
  T.raises(function() toy(store, {}, {overrides = {n = true}}) end,
           "parameter 'n' must be a number like its default, got a boolean")
  local saved = rawget(_G, "arg")
  _G.arg = {[0] = "toy.lua", "--set", "n"}
  local ok, err = pcall(toy, store, {})
  _G.arg = saved
  T.ok(not ok)
  T.ok(tostring(err):find("--set expects name=value, got 'n'", 1, true),
       tostring(err))
end)

T.case("study undeclared parameter read", function()
  local s = kubo.study{
    name = "sneaky", store = kubo.study.memory_store(), log = false,
    params = {n = 1, m = 2, model = {alpha = 1, beta = 2}},
    stages = {{name = "s", uses = {"n", "model.alpha"}, run = function(p)
      T.eq(p.model.alpha, 1)
      T.eq(p.missing, nil, "a name that is no parameter reads as nil")
      return {v = p.model.beta}
    end}},
  }
  local err = T.raises(function() s:run() end,
                       "stage 's' reads parameter 'model.beta', which is "
                       .. "not in its uses list")
  T.ok(err:find("stage 's' failed", 1, true), err)
end)

T.case("study undeclared input read", function()
  local s = kubo.study{
    name = "sneaky", store = kubo.study.memory_store(), log = false,
    stages = {
      {name = "a", run = function() return {v = 1} end},
      {name = "b", run = function() return {v = 2} end},
      {name = "c", inputs = {"b"}, run = function(_, ctx)
        return {v = ctx:input("a").v}
      end},
    },
  }
  T.raises(function() s:run() end,
           "stage 'c' reads the outputs of 'a', which is not in its "
           .. "inputs list")
end)

T.case("study default inputs are earlier stages", function()
  local store, runs = kubo.study.memory_store(), {}
  local function make(x)
    return kubo.study{
      name = "chain", store = store, log = false, params = {x = x, y = 1},
      stages = {
        {name = "a", uses = {"x"}, run = function(p)
          runs.a = (runs.a or 0) + 1
          return {v = p.x}
        end},
        {name = "b", uses = {"y"}, run = function(p, ctx)
          runs.b = (runs.b or 0) + 1
          return {v = ctx:input("a").v + p.y}
        end},
      },
    }
  end
  make(1):run()
  local s = make(2):run()
  T.eq(runs.b, 2, "b depends on a without declaring it")
  T.eq(s:output("b").v, 3)
end)

T.case("study version change reruns stage", function()
  local store, runs = kubo.study.memory_store(), {}
  local function make(version)
    return kubo.study{
      name = "v", store = store, log = false,
      stages = {{name = "a", version = version, run = function()
        runs.a = (runs.a or 0) + 1
        return {}
      end}},
    }
  end
  make(1):run()
  make(1):run()
  make(2):run()
  T.eq(runs.a, 2)
end)

T.case("study checkpoint and restore", function()
  local store = kubo.study.memory_store()
  local seen = {}
  local function make(crash)
    return kubo.study{
      name = "ckpt", store = store, log = false, params = {steps = 4},
      stages = {{name = "loop", run = function(p, ctx)
        local state = ctx:restore() or {step = 0, sum = kubo.zeros(1)}
        seen[#seen + 1] = state.step
        for step = state.step + 1, p.steps do
          state.sum[1] = state.sum[1] + step
          state.step = step
          ctx:checkpoint(state)
          if crash and step == 2 then error("interrupted") end
        end
        return {sum = state.sum[1]}
      end}},
    }
  end
  T.raises(function() make(true):run() end, "interrupted")
  local s = make(false):run()
  T.eq(seen[1], 0)
  T.eq(seen[2], 2, "the second run starts from the checkpoint")
  T.eq(s:output("loop").sum, 10.0)
  for path in pairs(store.files) do
    T.ok(not path:find("checkpoint", 1, true),
         "checkpoint removed after commit: " .. path)
  end
end)

T.case("study output round trip", function()
  local store = kubo.study.memory_store()
  local function make()
    return kubo.study{
      name = "trip", store = store, log = false,
      stages = {{name = "a", run = function()
        return {t = kubo.tensor{{1, 2}, {3, 4}}, list = {10, "x", false},
                path = "/t",
                nested = {deep = {v = 0.25, w = kubo.ones(3)}}}
      end}},
    }
  end
  make():run()
  local o = make():run():output("a")
  T.eq(o.t[{2, 1}], 3.0)
  T.eq(o.list[1], 10)
  T.eq(o.list[2], "x")
  T.eq(o.list[3], false)
  T.eq(o.path, "/t", "a string equal to a dataset path stays a string")
  T.eq(o.nested.deep.v, 0.25)
  T.eq(o.nested.deep.w:numel(), 3)
end)

T.case("study bad outputs", function()
  local function make(outputs)
    return kubo.study{
      name = "bad", store = kubo.study.memory_store(), log = false,
      stages = {{name = "a", run = function() return outputs end}},
    }
  end
  T.raises(function() make(42):run() end,
           "stage 'a' returned a number; a stage returns a table")
  T.raises(function() make({f = print}):run() end,
           "outputs of stage 'a'.f is a function")
  T.raises(function() make({["a/b"] = 1}):run() end,
           "has the key 'a/b'; output names must be non-empty, contain no "
           .. "'/'")
end)

T.case("study bad arguments", function()
  local ok_stage = {name = "a", run = function() return {} end}
  local cases = {
    {nil, "kubo.study expects a table"},
    {{stages = {ok_stage}}, "study name must be a string"},
    {{name = "x"}, "stages must be a non-empty list"},
    {{name = "x", stages = {{name = "a"}}}, "stage 'a' has no run function"},
    {{name = "x", stages = {ok_stage, ok_stage}},
     "two stages are named 'a'"},
    {{name = "x", stages = {{name = "a", use = {"n"},
                             run = ok_stage.run}}},
     "stages[1] has the unknown option 'use'"},
    {{name = "x", params = {n = 1},
      stages = {{name = "a", uses = {"m"}, run = ok_stage.run}}},
     "stage 'a' uses parameter 'm', which is not in params"},
    {{name = "x", stages = {{name = "a", inputs = {"b"},
                             run = ok_stage.run}}},
     "stage 'a' takes input from 'b', which is not an earlier stage"},
    {{name = "x", params = {f = print}, stages = {ok_stage}},
     "params.f is a function"},
    {{name = "x", stages = {ok_stage}, colour = 1},
     "kubo.study has no option 'colour'"},
    {{name = "x", stages = {ok_stage}, store = {}},
     "store has no write_file method"},
  }
  for _, c in ipairs(cases) do
    local err = T.raises(function() kubo.study(c[1]) end, c[2])
    T.ok(err:find("test_study.lua", 1, true),
         "error points at the caller: " .. err)
  end
end)

T.case("study key serialisation", function()
  local a = kubo.study.serialize({b = 1, a = {2.5, "x"}, [3] = true})
  local b = kubo.study.serialize({[3] = true, a = {2.5, "x"}, b = 1.0})
  T.eq(a, b, "order and 1 vs 1.0 do not matter")
  T.eq(a, '{[3]=true,a={[1]=2.5,[2]="x",},b=1,}')
  -- FNV-1a 64 values, checked against a separate Python implementation
  T.eq(kubo.study.hash(""), "cbf29ce484222325")
  T.eq(kubo.study.hash("a"), "af63dc4c8601ec8c")
  T.eq(kubo.study.hash("foobar"), "85944171f73967e8")
end)

T.case("study help text", function()
  T.ok(kubo.doc(kubo.study):find("kubo.study{name, params, stages", 1,
                                 true))
  local s = toy(kubo.study.memory_store(), {})
  T.ok(kubo.doc(s.run):find("study:run()", 1, true))
end)

T.finish()
