-- kubo.h5 from Lua: round trips with attributes, listing, appends,
-- writers (close, collection, <close> after an error), nil-and-message
-- results for unreadable files, and invalid calls.
local kubo = require "kubo"
local T = require "kubo.test"

local dir = io.popen("mktemp -d /tmp/kubo-lua-h5-XXXXXX"):read("l")
local function path(name) return dir .. "/" .. name end

local function slurp(name)
  local f = assert(io.open(name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function spit(name, bytes)
  local f = assert(io.open(name, "wb"))
  f:write(bytes)
  f:close()
end

-- Lists the files in dir whose names contain part (plain match).
local function files_with(part)
  local found = {}
  for name in io.popen("ls -a " .. dir):lines() do
    if name:find(part, 1, true) then found[#found + 1] = name end
  end
  return found
end

-- Rounds a number to the nearest float32.
local function to_f32(x)
  return (string.unpack("f", string.pack("f", x)))
end

T.case("round trip float64 with attributes", function()
  local f = path("trip.h5")
  local x = kubo.tensor{{1.5, -2, 3}, {4, 5e-300, 6e300}}
  T.eq(kubo.h5.write(f, "/group/x", x, {
    dt = 0.03125, seed = 1234, model = "ou", periodic = true,
    off = false, sizes = {32, 64}, lambdas = {0.5, 1.5},
    labels = {"u", "v"}, cov = kubo.tensor{{1, 0.5}, {0.5, 2}},
    empty = {},
  }), true)
  local y, a = kubo.h5.read(f, "/group/x")
  T.eq(y:dtype(), "float64")
  T.eq(y:size(1), 2)
  T.eq(y:size(2), 3)
  local want, got = x:totable(), y:totable()
  for i = 1, 2 do
    for j = 1, 3 do T.eq(got[i][j], want[i][j]) end
  end
  T.eq(a.dt, 0.03125)
  T.eq(a.seed, 1234)
  T.eq(math.type(a.seed), "integer")
  T.eq(a.model, "ou")
  T.eq(a.periodic, 1, "true is stored as 1")
  T.eq(a.off, 0, "false is stored as 0")
  T.eq(#a.sizes, 2)
  T.eq(a.sizes[2], 64)
  T.eq(math.type(a.sizes[1]), "integer")
  T.eq(a.lambdas[2], 1.5)
  T.eq(a.labels[1], "u")
  T.eq(a.labels[2], "v")
  T.eq(a.cov[2][1], 0.5, "tensor attribute keeps its shape")
  T.eq(a.cov[2][2], 2)
  T.eq(#a.empty, 0)
end)

T.case("round trip float32 and row view", function()
  local f = path("f32.h5")
  local x = kubo.tensor({{0.1, 0.2}, {0.3, 0.4}, {0.5, 0.6}}, "float32")
  kubo.h5.write(f, "x", x)
  local y = kubo.h5.read(f, "x")
  T.eq(y:dtype(), "float32")
  T.eq(y:totable()[3][1], to_f32(0.5))
  -- a row view starts inside its storage
  kubo.h5.write(f, "row", x[3])
  local r = kubo.h5.read(f, "/row")
  T.eq(r:numel(), 2)
  T.eq(r[2], to_f32(0.6))
  local z = kubo.h5.read(f, "/x")
  T.eq(z:totable()[1][2], to_f32(0.2), "other datasets are kept")
end)

T.case("compressed write", function()
  local f = path("packed.h5")
  kubo.h5.write(f, "/z", kubo.zeros(200, 200), nil, {compress = 9})
  T.ok(#slurp(f) < 200 * 200 * 8 / 10, "compressed file is small")
  local z = kubo.h5.read(f, "/z")
  T.eq(z:size(1), 200)
  T.eq(z[{200, 200}], 0)
end)

T.case("list names and info", function()
  local f = path("list.h5")
  kubo.h5.write(f, "/b/u", kubo.zeros(3, 2))
  kubo.h5.append(f, "/a", kubo.zeros(4, "float32"))
  local names, info = kubo.h5.list(f)
  T.eq(#names, 2)
  T.eq(names[1], "/a")
  T.eq(names[2], "/b/u")
  T.eq(info["/a"].kind, "dataset")
  T.eq(info["/a"].dtype, "float32")
  T.eq(info["/a"].appendable, true)
  T.eq(info["/a"].shape[1], 1)
  T.eq(info["/a"].shape[2], 4)
  T.eq(info["/b"].kind, "group")
  T.eq(info["/b/u"].appendable, false)
  T.eq(info["/b/u"].shape[1], 3)
end)

T.case("attrs and set_attrs", function()
  local f = path("attrs.h5")
  kubo.h5.write(f, "/x", kubo.ones(2), {a = 1})
  T.eq(kubo.h5.set_attrs(f, "/", {kubo_version = kubo.version}), true)
  kubo.h5.set_attrs(f, "/x", {b = "two", a = 3})
  local fa = kubo.h5.attrs(f)
  T.eq(fa.kubo_version, kubo.version)
  local xa = kubo.h5.attrs(f, "/x")
  T.eq(xa.a, 3, "set_attrs replaces an attribute")
  T.eq(xa.b, "two")
  local g = path("attrs_only.h5")
  kubo.h5.set_attrs(g, "/", {note = "file made by set_attrs"})
  T.eq(kubo.h5.attrs(g).note, "file made by set_attrs")
  T.raises(function() kubo.h5.set_attrs(f, "/missing", {a = 1}) end,
           "no object '/missing'")
end)

T.case("append across calls", function()
  local f = path("append.h5")
  for i = 1, 3 do
    kubo.h5.append(f, "/traj", kubo.full({2, 2}, i))
  end
  kubo.h5.append(f, "/traj", kubo.full({2, 2, 2}, 9, "float32"))
  local t = kubo.h5.read(f, "/traj")
  T.eq(t:size(1), 5)
  T.eq(t[{1, 2, 2}], 1)
  T.eq(t[{3, 1, 1}], 3)
  T.eq(t[{5, 2, 1}], 9)
  local part = kubo.h5.read(f, "/traj", 2, 3)
  T.eq(part:size(1), 2)
  T.eq(part[{1, 1, 1}], 2)
  local tail = kubo.h5.read(f, "/traj", 4)
  T.eq(tail:size(1), 2)
  T.raises(function() kubo.h5.read(f, "/traj", 5, 6) end, "outside dataset")
  local before = slurp(f)
  T.raises(function() kubo.h5.append(f, "/traj", kubo.zeros(3)) end,
           "cannot append a tensor of shape (3)")
  T.eq(slurp(f), before, "a rejected append leaves the file")
end)

T.case("writer streams and closes", function()
  local f = path("stream.h5")
  local w = kubo.h5.writer{file = f, name = "/u", frame_shape = {2, 3},
                           dtype = "float32", compress = 4}
  T.ok(tostring(w):find("0 frames", 1, true), tostring(w))
  for i = 1, 20 do T.eq(w:append(kubo.full({2, 3}, i)), i) end
  T.eq(w:append(kubo.zeros(5, 2, 3)), 25)
  T.eq(w:frames(), 25)
  w:set_attrs("/u", {every = 32})
  w:write("/final", kubo.ones(4))
  T.ok(rawequal(w:flush(), w), "flush returns the writer")
  T.eq(io.open(f), nil, "nothing at the target before close")
  T.eq(#files_with("stream.h5.tmp-"), 1)
  T.raises(function() kubo.h5.write(f, "/x", kubo.ones(1)) end,
           "already has an open writer")
  T.eq(w:close(), true)
  T.eq(#files_with("stream.h5.tmp-"), 0)
  T.raises(function() w:append(kubo.zeros(2, 3)) end,
           "attempt to use a closed writer")
  T.raises(function() w:close() end, "attempt to use a closed writer")
  local u, a = kubo.h5.read(f, "/u")
  T.eq(u:dtype(), "float32")
  T.eq(u:size(1), 25)
  T.eq(u[{20, 2, 3}], 20)
  T.eq(a.every, 32)
  T.eq(kubo.h5.read(f, "/final"):numel(), 4)
end)

T.case("writer without frame_shape", function()
  local f = path("lazy.h5")
  local w = kubo.h5.writer{file = f, name = "e"}
  w:append(kubo.full({}, 1.5))
  w:append(kubo.tensor{2.5, 3.5})
  w:close()
  local e = kubo.h5.read(f, "/e")
  T.eq(e:dim(), 1)
  T.eq(e[3], 3.5)
  -- a second writer continues the existing dataset
  w = kubo.h5.writer{file = f, name = "/e"}
  T.eq(w:frames(), 3)
  w:append(kubo.tensor{4.5})
  w:close()
  T.eq(kubo.h5.read(f, "/e"):numel(), 4)
end)

T.case("writer commits on error and on collection", function()
  local f = path("crash.h5")
  local ok, err = pcall(function()
    local w <close> = kubo.h5.writer{file = f, name = "/u"}
    for i = 1, 7 do w:append(kubo.full({3}, i)) end
    error("interrupted (integrator step)")
  end)
  T.eq(ok, false)
  T.ok(tostring(err):find("interrupted", 1, true), tostring(err))
  local u = kubo.h5.read(f, "/u")
  T.eq(u:size(1), 7, "every appended frame is kept")
  T.eq(u[{7, 3}], 7)

  local g = path("dropped.h5")
  do
    local w = kubo.h5.writer{file = g, name = "/v"}
    w:append(kubo.ones(2))
  end
  collectgarbage()
  collectgarbage()
  T.eq(kubo.h5.read(g, "/v"):size(1), 1)
end)

T.case("writer discard keeps the file", function()
  local f = path("discard.h5")
  kubo.h5.write(f, "/x", kubo.ones(3))
  local before = slurp(f)
  local w = kubo.h5.writer{file = f, name = "/y"}
  w:append(kubo.ones(2))
  w:discard()
  T.eq(slurp(f), before)
  T.eq(#files_with("discard.h5.tmp-"), 0)
  T.ok(tostring(w):find("closed", 1, true), tostring(w))
end)

T.case("unreadable files give nil and message", function()
  local good = path("good.h5")
  kubo.h5.write(good, "/g/x", kubo.zeros(2000))
  local junk, cut = path("junk.h5"), path("cut.h5")
  spit(junk, "plain text, not HDF5\n")
  local bytes = slurp(good)
  spit(cut, bytes:sub(1, #bytes // 2))
  local cases = {
    {function() return kubo.h5.read(path("missing.h5"), "/x") end,
     "No such file or directory"},
    {function() return kubo.h5.read(junk, "/x") end, "not an HDF5 file"},
    {function() return kubo.h5.read(cut, "/g/x") end, "truncated"},
    {function() return kubo.h5.read(good, "/g/y") end, "no dataset '/g/y'"},
    {function() return kubo.h5.read(good, "/g") end, "is a group"},
    {function() return kubo.h5.read(dir, "/x") end, "is a folder"},
    {function() return kubo.h5.list(path("missing.h5")) end,
     "No such file or directory"},
    {function() return kubo.h5.list(junk) end, "not an HDF5 file"},
    {function() return kubo.h5.list(cut) end, "truncated"},
    {function() return kubo.h5.attrs(junk) end, "not an HDF5 file"},
    {function() return kubo.h5.attrs(good, "/nope") end, "no object"},
  }
  for i, case in ipairs(cases) do
    local value, message = case[1]()
    T.eq(value, nil, "case " .. i)
    T.ok(type(message) == "string" and message:find(case[2], 1, true),
         "case " .. i .. ": " .. tostring(message))
  end
end)

T.case("failed writes leave the file", function()
  local f = path("keep.h5")
  kubo.h5.write(f, "/a", kubo.ones(5))
  local before = slurp(f)
  T.raises(function() kubo.h5.write(f, "/a/b", kubo.ones(2)) end,
           "cannot create dataset '/a/b'")
  T.raises(function() kubo.h5.write(f, "/a", kubo.ones(2), {x = print}) end,
           "attribute 'x' is a function")
  T.raises(function()
    kubo.h5.write(f, "/a", kubo.ones(2), {big = kubo.zeros(10000)})
  end, "store it as a dataset")
  T.eq(slurp(f), before)
  T.eq(#files_with(".tmp-"), 0, "no temporary file is left")
  T.raises(function()
    kubo.h5.write(path("nowhere/x.h5"), "/a", kubo.ones(1))
  end, "No such file or directory")
  local txt = path("notes.txt")
  spit(txt, "notes\n")
  T.raises(function() kubo.h5.write(txt, "/a", kubo.ones(1)) end,
           "kubo does not overwrite it")
  T.eq(slurp(txt), "notes\n")
end)

T.case("invalid calls raise", function()
  local f = path("bad.h5")
  local freed = kubo.ones(2)
  freed:free()
  T.raises(function() kubo.h5.write(f, "/x", {1, 2}) end,
           "kubo.Tensor expected")
  T.raises(function() kubo.h5.write(f, "/x", freed) end, "freed tensor")
  T.raises(function() kubo.h5.write(f, "", kubo.ones(1)) end,
           "object name is empty")
  T.raises(function() kubo.h5.write(f, "/", kubo.ones(1)) end,
           "root group")
  T.raises(function() kubo.h5.write(nil, "/x", kubo.ones(1)) end,
           "string expected")
  T.raises(function() kubo.h5.write(f, "/x", kubo.ones(1), 5) end,
           "table expected")
  T.raises(function() kubo.h5.write(f, "/x", kubo.ones(1), {[1] = 2}) end,
           "attribute names must be strings")
  T.raises(function()
    kubo.h5.write(f, "/x", kubo.ones(1), {a = {1, "b"}})
  end, "list of numbers or a list of strings")
  T.raises(function()
    kubo.h5.write(f, "/x", kubo.ones(1), {a = {{1}, {2}}})
  end, "use a tensor")
  T.raises(function() kubo.h5.write(f, "/x", kubo.ones(1), {a = "a\0b"}) end,
           "zero byte")
  T.raises(function()
    kubo.h5.write(f, "/x", kubo.ones(1), nil, {compress = 12})
  end, "compression level must be from 0 (none) to 9 (got 12)")
  T.raises(function()
    kubo.h5.write(f, "/x", kubo.ones(1), nil, {level = 1})
  end, "unknown option 'level'")
  T.raises(function()
    kubo.h5.write(f, "/x", kubo.ones(1), nil, {compress = 1.5})
  end, "option 'compress' must be a whole number")
  T.raises(function() kubo.h5.read(f, "/x", 0) end, "frames count from 1")
  T.raises(function() kubo.h5.read(f, "/x", 3, 2) end,
           "last frame comes before the first")
  T.raises(function() kubo.h5.read(f, "") end, "object name is empty")
  T.raises(function() kubo.h5.append(f, "/x", "frame") end,
           "kubo.Tensor expected")
  T.raises(function() kubo.h5.writer("f.h5") end, "table expected")
  T.raises(function() kubo.h5.writer{name = "/x"} end,
           "option 'file' must be a file name")
  T.raises(function() kubo.h5.writer{file = f, nmae = "/x"} end,
           "unknown option 'nmae'")
  T.raises(function()
    kubo.h5.writer{file = f, name = "/x", frame_shape = {2, 0}}
  end, "frame_shape[2] must be a whole number >= 1 (got 0)")
  T.raises(function()
    kubo.h5.writer{file = f, name = "/x", dtype = "int8"}
  end, "option 'dtype' must be \"float64\" or \"float32\"")
  T.raises(function() kubo.h5.writer{file = f, frame_shape = {2}} end,
           "need 'name'")
  T.raises(function()
    kubo.h5.writer{file = f, name = "/x", chunk_frames = 0}
  end, "'chunk_frames' must be at least 1")
  T.raises(function()
    kubo.h5.writer{file = f, name = "/x", compress = -1}
  end, "compression level")
  local w <close> = kubo.h5.writer{file = f, name = "/x",
                                   frame_shape = {2}}
  T.raises(function() w:append(kubo.zeros(3)) end,
           "frames have shape (2)")
  T.raises(function() w:write("/x", kubo.ones(1)) end,
           "append to it instead")
  T.raises(function() kubo.h5.writer{file = f} end,
           "already has an open writer")
  local plain = kubo.h5.writer{file = path("plain.h5")}
  T.raises(function() plain:append(kubo.ones(1)) end,
           "no dataset to append to")
  plain:close()
end)

T.case("docstrings", function()
  T.ok(kubo.doc(kubo.h5), "kubo.h5 has a docstring")
  for _, name in ipairs{"write", "read", "list", "attrs", "set_attrs",
                        "append", "writer"} do
    T.ok(kubo.doc(kubo.h5[name]), "docstring of kubo.h5." .. name)
  end
  local w = kubo.h5.writer{file = path("doc.h5")}
  for _, name in ipairs{"append", "frames", "write", "set_attrs", "flush",
                        "close", "discard", "path"} do
    T.ok(kubo.doc(w[name]), "docstring of writer:" .. name)
  end
  T.ok(w:path():find("doc.h5", 1, true), w:path())
  w:discard()
end)

os.execute("rm -rf '" .. dir .. "'")
T.finish()
