-- kubo.integrator: initial states, recording, thread independence,
-- shared noise, checkpoints, blow-ups and bad input.

local kubo = require "kubo"
local T = require "kubo.test"

local tmp = os.tmpname()
os.remove(tmp)
local function path(name) return tmp .. "-" .. name .. ".h5" end

local function maxdiff(a, b)
  return (a - b):abs():max()
end


T.case("integrator allen_cahn default state", function()
  local sim = kubo.integrator{model = kubo.models.allen_cahn{},
                              members = 8}
  local u = sim:state()
  T.eq(u:size(1), 8)
  -- divided by the maximum over the whole ensemble, not per member
  T.near(u:max(), 1, 1e-15)
  local below = 0
  for j = 1, 8 do
    if u[j]:max() < 1 - 1e-12 then below = below + 1 end
  end
  T.ok(below >= 6, "most members have a maximum below 1")
  T.eq(sim:step_count(), 0)
  T.eq(sim:time(), 0)
end)


T.case("integrator navier_stokes default state", function()
  local m = kubo.models.navier_stokes{}
  local sim = kubo.integrator{model = m, members = 3}
  local g = m.grid
  local want = (g:x() * 3):map(math.sin) * (g:y() * 3):map(math.sin)
  local u = sim:state()
  for j = 1, 3 do T.ok(maxdiff(u[j], want) < 1e-14) end
  local phases = sim:hidden_state()
  T.eq(phases:size(1), 3)
  T.eq(phases:size(2), 349)
  T.ok(phases:min() >= 0 and phases:max() < 2 * math.pi)
  T.ok(maxdiff(phases[1], phases[2]) > 0.1, "members have their own phases")
end)


T.case("integrator initialize forms", function()
  local m = kubo.models.double_well{}
  local sim = kubo.integrator{model = m, members = 3, seed = 5}
  sim:initialize(kubo.tensor{0.5})
  T.eq(sim:state():get(3, 1), 0.5)
  sim:initialize(kubo.tensor{{1}, {2}, {3}})
  T.eq(sim:state():get(2, 1), 2)
  local seen = {}
  sim:initialize(function(rng, member)
    seen[#seen + 1] = member
    return rng:normal(1)
  end)
  T.eq(#seen, 3)
  T.eq(seen[3], 3)
  -- the rng depends on the member only, not on the call order
  local again = kubo.integrator{model = m, members = 3, seed = 5}
  again:initialize(function(rng) return rng:normal(1) end)
  T.eq(maxdiff(sim:state(), again:state()), 0)
  sim:advance(5)
  sim:initialize()
  T.eq(sim:step_count(), 0)
  T.eq(sim:state():abs():max(), 0)
end)


T.case("integrator run records frames", function()
  local m = kubo.models.ou{grid = kubo.grid{n = {16, 16},
                                            nyquist = "zero_k"}}
  local a = kubo.integrator{model = m, members = 2, seed = 3}
  local b = kubo.integrator{model = m, members = 2, seed = 3}
  local traj, snaps = a:run{steps = 20, every = 4,
                            snapshots = {every = 10}}
  T.eq(traj:size(1), 5)
  T.eq(traj:size(2), 2)
  T.eq(traj:size(3), 16)
  T.eq(snaps:size(1), 2)
  for f = 1, 5 do
    b:advance(4)
    T.eq(maxdiff(traj[f], b:state()), 0)
  end
  T.eq(maxdiff(snaps[2], b:state()), 0)
  T.eq(a:step_count(), 20)
  local t32 = a:run{steps = 3, dtype = "float32"}
  T.eq(t32:dtype(), "float32")
  T.eq(t32:size(1), 3)
end)


T.case("integrator run streams to hdf5", function()
  local file = path("run")
  local m = kubo.models.allen_cahn{}
  local sim = kubo.integrator{model = m, members = 2, seed = 9}
  sim:advance(3)
  local r, s = sim:run{steps = 12, every = 3, file = file,
                       snapshots = {every = 6, dataset = "snaps"}}
  T.eq(r.file, file)
  T.eq(r.dataset, "timeseries")
  T.eq(r.frames, 4)
  T.eq(s.frames, 2)
  local x, attrs = kubo.h5.read(file, "timeseries")
  T.eq(x:size(1), 4)
  T.eq(x:size(2), 2)
  T.eq(attrs.model, "allen_cahn")
  T.eq(attrs["model.alpha"], 16)
  T.eq(attrs.dt, 1 / 32)
  T.eq(attrs.seed, 9)
  T.eq(attrs.stride, 3)
  T.eq(attrs.start_step, 3)
  T.eq(attrs.kubo_version, kubo.version)
  T.eq(maxdiff(x[4], sim:state()), 0)
  local y = kubo.h5.read(file, "snaps")
  T.eq(maxdiff(y[2], sim:state()), 0)

  -- a rerun does not add to an old series unless asked to
  T.raises(function() sim:run{steps = 3, every = 3, file = file} end,
           "already exists")
  local again = sim:run{steps = 6, every = 3, file = file, append = true}
  T.eq(again.frames, 2)
  T.eq(kubo.h5.read(file, "timeseries"):size(1), 6)
  os.remove(file)
end)


local function final_state(threads, kind, members, steps)
  kubo.threads(threads)
  local m = kind == "navier_stokes"
    and kubo.models.navier_stokes{grid = kubo.grid{n = {16, 16},
                                                   nyquist = "zero_k"}}
    or kubo.models.allen_cahn{}
  local sim = kubo.integrator{model = m, members = members, seed = 77}
  sim:advance(steps)
  return sim:state(), sim:hidden_state()
end


T.case("integrator bits independent of threads", function()
  local n = kubo.threads()
  local a = final_state(1, "allen_cahn", 6, 12)
  local b = final_state(2, "allen_cahn", 6, 12)
  T.eq(maxdiff(a, b), 0)
  local c, pc = final_state(1, "navier_stokes", 3, 5)
  local d, pd = final_state(2, "navier_stokes", 3, 5)
  T.eq(maxdiff(c, d), 0)
  T.eq(maxdiff(pc, pd), 0)
  kubo.threads(n)
end)


T.case("integrator members keyed by global number", function()
  local m = kubo.models.allen_cahn{}
  local all = kubo.integrator{model = m, members = 4, seed = 2}
  local part = kubo.integrator{model = m, members = 2, seed = 2,
                               first_member = 3}
  all:initialize(kubo.zeros(32, 32))
  part:initialize(kubo.zeros(32, 32))
  all:advance(6)
  part:advance(6)
  T.eq(maxdiff(all:state()[3], part:state()[1]), 0)
  T.eq(maxdiff(all:state()[4], part:state()[2]), 0)
end)


-- The OU SPDE is linear, so with shared noise the perturbed minus the
-- control run is the deterministic impulse response, the same for any
-- seed, and at lag 0 it is the impulse itself.
T.case("integrator clone shares noise", function()
  local m = kubo.models.ou{}
  local a = kubo.integrator{model = m, members = 2, seed = 4}
  a:advance(10)
  local b = a:clone():add_impulse({1, 1}, 0.5)
  local d0 = (b:state() - a:state()) / 0.5
  T.near(d0:get(1, 1, 1), 1, 1e-12)
  T.near(d0:get(1, 1, 2), 0, 1e-12)
  a:advance_pair(b, 160)
  local r1 = (b:state() - a:state()) / 0.5

  local c = kubo.integrator{model = m, members = 1, seed = 99}
  local e = c:clone():add_impulse({1, 1}, 0.5)
  c:advance(160)
  e:advance(160)
  local r2 = (e:state() - c:state()) / 0.5
  T.ok(maxdiff(r1[1], r2[1]) < 1e-10)
  T.ok(maxdiff(r1[2], r2[1]) < 1e-10)
  -- R21 at tau = 5 from the exact table
  T.near(r1:get(1, 1, 2), 0.5240, 6e-5)
end)


T.case("integrator pair equals separate runs", function()
  local m = kubo.models.allen_cahn{}
  local a = kubo.integrator{model = m, members = 3, seed = 6}
  local b = a:clone():add_impulse({5, 7}, 0.1)
  local c, d = a:clone(), b:clone()
  a:advance_pair(b, 8)
  c:advance(8)
  d:advance(8)
  T.eq(maxdiff(a:state(), c:state()), 0)
  T.eq(maxdiff(b:state(), d:state()), 0)
  local other = kubo.integrator{model = m, members = 3, seed = 6}
  T.raises(function() a:advance_pair(other, 1) end, "same step")
  T.raises(function() a:advance_pair(kubo.integrator{model = m,
                                                     members = 3}, 1) end,
           "must share the model")
end)


T.case("integrator restart is bit exact", function()
  local file = path("chk")
  local m = kubo.models.navier_stokes{grid = kubo.grid{n = {16, 16},
                                                       nyquist = "zero_k"}}
  local sim = kubo.integrator{model = m, members = 2, seed = 31}
  sim:advance(7)
  sim:save(file)
  sim:advance(9)
  local back = kubo.integrator.load(file)
  T.eq(back:step_count(), 7)
  T.eq(back:time(), 7 * m:default_dt())
  T.eq(back:seed(), 31)
  T.eq(back:members(), 2)
  back:advance(9)
  T.eq(maxdiff(back:state(), sim:state()), 0)
  T.eq(maxdiff(back:hidden_state(), sim:hidden_state()), 0)
  T.eq(back:model().params.forcing.amplitude, m.params.forcing.amplitude)

  local lin = kubo.models.linear{A = {{-1, 0.3}, {0, -2}},
                                 Q = {{1, 0}, {0, 0.5}}}
  local ls = kubo.integrator{model = lin, dt = 0.05, members = 3,
                             method = "heun"}
  ls:advance(4)
  ls:save(file)
  ls:advance(5)
  local lb = kubo.integrator.load(file)
  T.eq(lb:method(), "heun")
  lb:advance(5)
  T.eq(maxdiff(lb:state(), ls:state()), 0)

  local sde = kubo.models.sde{dim = 1, noise = 0.3,
                              drift = function(x, dxdt)
                                dxdt[1] = -x[1]
                              end}
  local ss = kubo.integrator{model = sde, dt = 0.1, members = 2}
  ss:save(file)
  T.raises(function() kubo.integrator.load(file) end, "pass it")
  local sb = kubo.integrator.load(file, {model = sde})
  T.eq(sb:members(), 2)
  T.raises(function() kubo.integrator.load(file, {model = lin}) end,
           "the model in")
  os.remove(file)
  T.raises(function() kubo.integrator.load(path("missing")) end, "")
end)


-- The Lua drift, the same arithmetic as the built-in double well, gives
-- the same bits.
T.case("integrator sde matches double_well", function()
  local eps = 0.4
  local lua = kubo.models.sde{dim = 1, noise = eps * math.sqrt(2),
                              drift = function(x, dxdt)
                                local v = x[1]
                                dxdt[1] = v - v * v * v
                              end}
  local a = kubo.integrator{model = lua, dt = 0.01, members = 5,
                            method = "euler_maruyama", seed = 8}
  local b = kubo.integrator{model = kubo.models.double_well{eps = eps},
                            members = 5, method = "euler_maruyama",
                            seed = 8}
  a:advance(50)
  b:advance(50)
  T.eq(maxdiff(a:state(), b:state()), 0)
end)


T.case("integrator blow up stops with the step", function()
  local file = path("blow")
  local sim = kubo.integrator{model = kubo.models.allen_cahn{}, dt = 1,
                              members = 3}
  local err = T.raises(function()
    sim:run{steps = 300, every = 1, file = file}
  end, "became NaN or Inf at step")
  local step = tonumber(err:match("at step (%d+)"))
  T.ok(err:find("member %d") ~= nil, "names the member: " .. err)
  T.ok(err:find("time") ~= nil)
  T.eq(sim:step_count(), step - 1)
  T.ok(sim:max_abs() < math.huge)
  -- the frames written before the failure are in the file
  local x = kubo.h5.read(file, "timeseries")
  T.eq(x:size(1), step - 1)
  os.remove(file)
end)


-- Under the drop convention the Nyquist modes stay zero; 1-D and 3-D
-- grids work for ou and allen_cahn.
T.case("integrator other grids", function()
  local g = kubo.grid{n = {16, 16}}
  local sim = kubo.integrator{model = kubo.models.allen_cahn{grid = g},
                              members = 8}
  sim:advance(20)
  local spec = g:fft(sim:state())
  local nyquist = 0
  for j = 1, 8 do
    for iy = 1, 16 do
      nyquist = math.max(nyquist, math.abs(spec:get(j, iy, 9, 1)),
                         math.abs(spec:get(j, iy, 9, 2)))
    end
    for ix = 1, 9 do
      nyquist = math.max(nyquist, math.abs(spec:get(j, 9, ix, 1)))
    end
  end
  T.ok(nyquist < 1e-9, "Nyquist modes stay zero (max " .. nyquist .. ")")
  T.ok(sim:max_abs() > 0.01)

  local line = kubo.integrator{model = kubo.models.ou{
    grid = kubo.grid{n = {64}, nyquist = "zero_k"}}, members = 3}
  line:advance(10)
  T.eq(line:state():size(2), 64)
  local cube = kubo.integrator{model = kubo.models.allen_cahn{
    grid = kubo.grid{n = {8, 8, 8}, nyquist = "zero_k"}}, members = 2,
    noise = "full"}
  cube:advance(10)
  T.eq(cube:state():size(4), 8)
  T.ok(cube:max_abs() < 10)
end)


T.case("integrator bad input", function()
  local ac = kubo.models.allen_cahn{}
  T.raises(function() kubo.integrator{} end, "option model is missing")
  T.raises(function() kubo.integrator{model = 3} end,
           "model must be a kubo.Model")
  T.raises(function() kubo.integrator{model = ac, method = "rk2"} end,
           "method must be")
  T.raises(function() kubo.integrator{model = ac, dt = -1} end,
           "dt must be a finite number > 0")
  T.raises(function() kubo.integrator{model = ac, members = 0} end,
           "members must be >= 1")
  T.raises(function() kubo.integrator{model = ac, member = 2} end,
           "unknown option 'member'")
  T.raises(function() kubo.integrator{model = ac, noise = "quarter"} end,
           "noise must be")
  T.raises(function()
    kubo.integrator{model = kubo.models.linear{A = {{-1}}, Q = {{1}}}}
  end, "dt is missing")
  local sim = kubo.integrator{model = ac, members = 2}
  T.raises(function() sim:advance(-1) end, "steps must be >= 0")
  T.raises(function() sim:run{every = 2} end, "option steps is missing")
  T.raises(function() sim:run{steps = 4, every = 0} end,
           "every must be >= 1")
  T.raises(function() sim:run{steps = 4, evry = 2} end,
           "unknown option 'evry'")
  T.raises(function() sim:run{steps = 4, dtype = "int8"} end,
           "dtype must be")
  T.raises(function() sim:run{steps = 4, snapshots = {}} end,
           "snapshots.every is missing")
  T.raises(function() sim:set_state(kubo.zeros(3, 32, 32)) end,
           "expected one state of 1024 values or one per member")
  T.raises(function() sim:initialize(kubo.full({32, 32}, 0 / 0)) end,
           "non-finite")
  T.raises(function() sim:add_impulse({33, 1}, 1) end,
           "site index 1 is 33")
  T.raises(function() sim:run{steps = 2, file = "/nonexistent/dir/x.h5"}
           end, "")
  sim:free()
  T.raises(function() sim:advance(1) end, "freed integrator")
end)

T.finish()
