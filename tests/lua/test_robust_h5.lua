-- kubo.h5 with files that are missing, empty, truncated, folders, text,
-- in missing folders or where no file can be created (/proc), and
-- writers used in the wrong order. Expected I/O failures of read, list
-- and attrs return nil and a message; other bad calls raise. The file
-- also runs under ASan and UBSan.
local kubo = require "kubo"
local T = require "kubo.test"
local h5 = kubo.h5

local dir = io.popen("mktemp -d /tmp/kubo-robust-h5-XXXXXX"):read("l")
local function path(name) return dir .. "/" .. name end

local function spit(name, bytes)
  local f = assert(io.open(name, "wb"))
  f:write(bytes)
  f:close()
end

local function slurp(name)
  local f = assert(io.open(name, "rb"))
  local bytes = f:read("a")
  f:close()
  return bytes
end

local x = kubo.tensor{{1, 2, 3}, {4, 5, 6}}
local good = path("good.h5")
h5.write(good, "/a/x", x, {note = "kept"})
local text = path("notes.txt")
spit(text, "hello")
local empty = path("empty.h5")
spit(empty, "")
local half = path("half.h5")
spit(half, slurp(good):sub(1, #slurp(good) // 2))
local head = path("head.h5")
spit(head, slurp(good):sub(1, 600))

-- Checks that fn returns nil and a message containing fragment.
local function fails_with(fn, fragment)
  local value, msg = fn()
  T.eq(value, nil, "the first result")
  T.ok(type(msg) == "string", "a message is returned")
  T.ok(msg:find(fragment, 1, true),
       string.format("expected '%s' in '%s'", fragment, tostring(msg)))
end

local returns_nil = {
  {"read of a missing file", function() return h5.read(path("no.h5"), "/x")
   end, "cannot open '" .. path("no.h5") .. "': No such file or directory"},
  {"read of a missing dataset", function() return h5.read(good, "/nope") end,
   "no dataset '/nope'"},
  {"read of a group", function() return h5.read(good, "/a") end,
   "'/a' in '" .. good .. "' is a group, not a dataset"},
  {"read of a folder", function() return h5.read(dir, "/x") end,
   "is a folder, not an HDF5 file"},
  {"read of a text file", function() return h5.read(text, "/x") end,
   "is not an HDF5 file (no HDF5 signature found)"},
  {"read of an empty file", function() return h5.read(empty, "/x") end,
   "is not an HDF5 file"},
  {"read of a half file", function() return h5.read(half, "/a/x") end,
   "truncated file"},
  {"read of the first 600 bytes", function() return h5.read(head, "/a/x")
   end, "truncated file"},
  {"list of a truncated file", function() return h5.list(half) end,
   "truncated file"},
  {"list of a folder", function() return h5.list(dir) end,
   "is a folder, not an HDF5 file"},
  {"list of a text file", function() return h5.list(text) end,
   "is not an HDF5 file"},
  {"attrs of a truncated file", function() return h5.attrs(half, "/a/x") end,
   "truncated file"},
  {"attrs of a missing object", function() return h5.attrs(good, "/nope") end,
   "no object '/nope'"},
}

for _, c in ipairs(returns_nil) do
  T.case(c[1], function() fails_with(c[2], c[3]) end)
end

local raises = {
  {"read frames in reverse", function() return h5.read(good, "/a/x", 2, 1)
   end, "the last frame comes before the first"},
  {"read frames past the end", function() return h5.read(good, "/a/x", 1, 5)
   end, "are outside dataset '/a/x' of 2 frames"},
  {"read from frame 1.5", function() return h5.read(good, "/a/x", 1.5) end,
   "frame must be a whole number (got 1.5)"},
  {"read of an empty name", function() return h5.read(good, "") end,
   "the object name is empty"},
  {"read of a name with an empty part", function()
     return h5.read(good, "//a//x") end,
   "(a path component is empty)"},
  {"write into a folder", function() return h5.write(dir, "/x", x) end,
   "is a folder, not an HDF5 file"},
  {"write into a missing folder", function()
     return h5.write(path("none/f.h5"), "/x", x) end,
   "folder '" .. path("none") .. "': No such file or directory"},
  {"write where no file can be created", function()
     return h5.write("/proc/kubo-robust.h5", "/x", x) end,
   "cannot create the temporary file '/proc/kubo-robust.h5"},
  {"write of the root group", function() return h5.write(good, "/", x) end,
   "\"/\" is the root group, not a dataset name"},
  {"write over a group", function() return h5.write(good, "/a", x) end,
   "'/a' is a group, not a dataset; choose another name"},
  {"write over a text file", function() return h5.set_attrs(text, "/",
                                                              {a = 1}) end,
   "exists and is not an HDF5 file; kubo does not overwrite it"},
  {"write with compression 10", function()
     return h5.write(path("c.h5"), "/t", x, nil, {compress = 10}) end,
   "compression level must be from 0 (none) to 9 (got 10)"},
  {"write with an unknown option", function()
     return h5.write(path("c.h5"), "/t", x, nil, {level = 1}) end,
   "kubo.h5.write: unknown option 'level' (expected compress)"},
  {"attribute that is a function", function()
     return h5.write(path("c.h5"), "/t", x, {f = print}) end,
   "attribute 'f' is a function"},
  {"attribute of nested tables", function()
     return h5.write(path("c.h5"), "/t", x, {f = {{1}}}) end,
   "attribute 'f' must be a list of numbers or a list of strings"},
  {"attribute with a number key", function()
     return h5.write(path("c.h5"), "/t", x, {1, 2}) end,
   "attribute names must be strings (got a number key)"},
  {"attribute with a zero byte", function()
     return h5.write(path("c.h5"), "/t", x, {s = "a\0b"}) end,
   "attribute 's' contains a zero byte"},
  {"attribute that is a freed tensor", function()
     local t = kubo.ones(2)
     t:free()
     return h5.write(path("c.h5"), "/t", x, {t = t}) end,
   "attribute 't' is a freed tensor"},
  {"set_attrs of a missing object", function()
     return h5.set_attrs(good, "/nope", {a = 1}) end,
   "no object '/nope'"},
  {"append of another frame shape", function()
     local f = path("ap.h5")
     h5.append(f, "/s", kubo.ones(3))
     return h5.append(f, "/s", kubo.ones(4)) end,
   "cannot append a tensor of shape (4) to '/s', whose frames have "
   .. "shape (3)"},
  {"append to a fixed dataset", function()
     return h5.append(good, "/a/x", kubo.ones(3)) end,
   "is not appendable (its first dimension is not unlimited)"},
  {"append of an empty frame", function()
     return h5.append(path("ap0.h5"), "/s", kubo.zeros(0)) end,
   "is 0 (expected at least 1)"},

  -- writers
  {"writer without options", function() return h5.writer() end,
   "table expected, got no value"},
  {"writer without a file", function() return h5.writer{} end,
   "option 'file' must be a file name (got nil)"},
  {"writer with an unknown option", function()
     return h5.writer{file = path("w.h5"), frames = 1} end,
   "kubo.h5.writer: unknown option 'frames'"},
  {"writer into a folder", function() return h5.writer{file = dir} end,
   "is a folder, not an HDF5 file"},
  {"writer with chunk_frames 0", function()
     return h5.writer{file = path("w.h5"), name = "/s", frame_shape = {3},
                      chunk_frames = 0} end,
   "option 'chunk_frames' must be at least 1 (got 0)"},
  {"writer with a 4 GiB chunk", function()
     local w <close> = h5.writer{file = path("w.h5"), name = "/s",
                                 frame_shape = {3}, chunk_frames = 2^40}
     return w:append(kubo.ones(3)) end,
   "would exceed HDF5's 4 GiB chunk limit"},
  {"writer with frame size 0", function()
     return h5.writer{file = path("w.h5"), name = "/s",
                      frame_shape = {0}} end,
   "frame_shape[1] must be a whole number >= 1 (got 0)"},
  {"writer with 9 frame dimensions", function()
     return h5.writer{file = path("w.h5"), name = "/s",
                      frame_shape = {1, 1, 1, 1, 1, 1, 1, 1, 1}} end,
   "frame_shape has 9 dimensions (at most 7)"},
  {"writer with an unknown dtype", function()
     return h5.writer{file = path("w.h5"), name = "/s", frame_shape = {3},
                      dtype = "int"} end,
   "option 'dtype' must be \"float64\" or \"float32\" (got int)"},
  {"append after close", function()
     local w = h5.writer{file = path("w.h5"), name = "/s", frame_shape = {3}}
     w:close()
     return w:append(kubo.ones(3)) end,
   "attempt to use a closed writer"},
  {"close after discard", function()
     local w = h5.writer{file = path("w.h5"), name = "/s", frame_shape = {3}}
     w:discard()
     return w:close() end,
   "attempt to use a closed writer"},
  {"append of the wrong shape", function()
     local w <close> = h5.writer{file = path("w.h5"), name = "/s",
                                 frame_shape = {3}}
     return w:append(kubo.ones(4)) end,
   "cannot append a tensor of shape (4)"},
  {"append without a dataset", function()
     local w <close> = h5.writer{file = path("w.h5")}
     return w:append(kubo.ones(4)) end,
   "this writer has no dataset to append to"},
  {"append of a freed tensor", function()
     local w <close> = h5.writer{file = path("w.h5"), name = "/s",
                                 frame_shape = {3}}
     local t = kubo.ones(3)
     t:free()
     return w:append(t) end,
   "attempt to use a freed tensor"},
  {"write over the appended dataset", function()
     local w <close> = h5.writer{file = path("w.h5"), name = "/s",
                                 frame_shape = {3}}
     return w:write("/s", kubo.ones(3)) end,
   "'/s' is an appendable dataset of this writer; append to it instead"},
  {"two writers on one file", function()
     local w1 <close> = h5.writer{file = path("two.h5")}
     local w2 <close> = h5.writer{file = path("two.h5")}
     return w2 end,
   "already has an open writer in this process; close it first"},
  {"h5.write while a writer is open", function()
     local w <close> = h5.writer{file = path("two.h5")}
     return h5.write(path("two.h5"), "/y", kubo.ones(2)) end,
   "already has an open writer in this process"},
  {"writer onto a fixed dataset", function()
     local w <close> = h5.writer{file = good, name = "/a/x",
                                 frame_shape = {3}}
     return w:append(kubo.ones(3)) end,
   "is not appendable"},
}

for _, c in ipairs(raises) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

T.case("failed writes leave the file as it was", function()
  local before = slurp(good)
  pcall(h5.write, good, "/a", x)
  pcall(h5.append, good, "/a/x", kubo.ones(3))
  T.ok(slurp(good) == before, "the file is unchanged")
  T.eq(h5.attrs(good, "/a/x").note, "kept")
end)

T.case("no temporary file is left after failures", function()
  local found = {}
  for name in io.popen("ls -a '" .. dir .. "'"):lines() do
    if name:find("tmp", 1, true) then found[#found + 1] = name end
  end
  T.eq(#found, 0, table.concat(found, " "))
end)

T.case("a collected writer commits its frames", function()
  local f = path("collected.h5")
  do
    local w = h5.writer{file = f, name = "/a", frame_shape = {1}}
    w:append(kubo.ones(1))
  end
  collectgarbage()
  collectgarbage()
  T.eq(h5.read(f, "/a"):size(1), 1)
end)

T.case("edge shapes round trip", function()
  local f = path("edge.h5")
  h5.write(f, "/scalar", kubo.full({}, 7))
  h5.write(f, "/empty", kubo.zeros(0, 3))
  h5.write(f, "/view", x:transpose(1, 2))
  T.eq(h5.read(f, "/scalar"):numel(), 1)
  T.eq(h5.read(f, "/empty"):size(2), 3)
  T.eq(h5.read(f, "/view")[{1, 2}], 4)
  T.eq(h5.read(good, "/a/x", 3):size(1), 0, "from one past the end")
end)

os.execute("rm -rf '" .. dir .. "'")
T.finish()
