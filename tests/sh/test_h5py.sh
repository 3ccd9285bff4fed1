#!/usr/bin/env bash
# h5py reads the files kubo writes and kubo reads the files h5py writes:
# shapes (row-major), dtypes, values and attributes both ways, appends to
# an h5py dataset, the temporary file of a writer whose process died, and
# the file of a writer stopped with Ctrl-C (SIGINT).
# Uses Debian's python3-h5py through /usr/bin/python3 (a python3 earlier
# on PATH may lack h5py).
set -euo pipefail

python=/usr/bin/python3
kubo=${KUBO:?KUBO must name the kubo program}
if ! "$python" -c 'import h5py' 2>/dev/null; then
  echo "test_h5py: $python cannot import h5py; install python3-h5py" \
       "(scripts/setup does)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/kubo-h5py-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# ---------------------------------------------------------------------------
# kubo writes, h5py reads
# ---------------------------------------------------------------------------
cat > write.lua <<'EOF'
local kubo = require "kubo"
local rng = kubo.rng(42)
local a = rng:normal(3, 4, 5)
local b = rng:uniform(7, "float32")
kubo.h5.write("k.h5", "/fields/a", a, {
  dt = 0.25, steps = 64000, model = "allen_cahn", periodic = true,
  sizes = {32, 16}, lambdas = {0.5, 1.5}, labels = {"u", "v"},
  cov = kubo.tensor{{1, 0.5}, {0.5, 2}}})
kubo.h5.write("k.h5", "/b32", b, nil, {compress = 5})
kubo.h5.write("k.h5", "/scalar", kubo.full({}, 2.5))
kubo.h5.set_attrs("k.h5", "/", {kubo_version = kubo.version, seed = 42})
local w = kubo.h5.writer{file = "k.h5", name = "/traj",
                         frame_shape = {2, 3}, compress = 4}
for i = 1, 10 do w:append(kubo.full({2, 3}, i)) end
w:close()

-- The values as text with enough digits to parse back exactly.
local function dump(t, name, fmt)
  local f = assert(io.open(name, "w"))
  local function walk(v)
    if type(v) == "table" then
      for _, x in ipairs(v) do walk(x) end
    else
      f:write(string.format(fmt, v), "\n")
    end
  end
  walk(t:totable())
  f:close()
end
dump(a, "a.txt", "%.17g")
dump(b, "b.txt", "%.9g")
EOF
"$kubo" write.lua

"$python" - <<'EOF'
import h5py
import numpy as np

with h5py.File("k.h5", "r") as f:
    a = f["fields/a"]
    assert a.shape == (3, 4, 5), a.shape
    assert a.dtype == np.float64, a.dtype
    want = np.loadtxt("a.txt").reshape(3, 4, 5)
    assert np.array_equal(a[()], want), "values of /fields/a"
    at = a.attrs
    assert at["dt"] == 0.25
    assert at["dt"].dtype == np.float64
    assert at["steps"] == 64000
    assert at["steps"].dtype == np.int64
    assert at["model"] == "allen_cahn", at["model"]
    assert at["periodic"] == 1
    assert list(at["sizes"]) == [32, 16]
    assert list(at["lambdas"]) == [0.5, 1.5]
    assert list(at["labels"]) == ["u", "v"], at["labels"]
    assert at["cov"].shape == (2, 2)
    assert at["cov"][1, 0] == 0.5

    b = f["b32"]
    assert b.dtype == np.float32
    assert b.shape == (7,)
    assert b.compression == "gzip"
    assert np.array_equal(b[()], np.loadtxt("b.txt", dtype=np.float32))

    s = f["scalar"]
    assert s.shape == ()
    assert s[()] == 2.5

    assert f.attrs["seed"] == 42
    assert isinstance(f.attrs["kubo_version"], str)

    t = f["traj"]
    assert t.shape == (10, 2, 3), t.shape
    assert t.maxshape == (None, 2, 3), t.maxshape
    assert t.chunks == (1, 2, 3), t.chunks
    assert t.compression == "gzip"
    assert t.compression_opts == 4
    for i in range(10):
        assert (t[i] == i + 1).all(), i
print("h5py read kubo's file")
EOF

# ---------------------------------------------------------------------------
# h5py writes, kubo reads (and appends)
# ---------------------------------------------------------------------------
"$python" - <<'EOF'
import h5py
import numpy as np

with h5py.File("p.h5", "w") as f:
    x = f.create_dataset("x", data=np.arange(6.0).reshape(2, 3) / 4)
    x.attrs["title"] = "made by h5py"
    x.attrs["scale"] = 0.125
    x.attrs["count"] = np.int32(7)
    x.attrs["flag"] = True
    x.attrs["pair"] = [1.5, 2.5]
    x.attrs["names"] = ["a", "bc"]
    x.attrs["fixed"] = np.bytes_(b"fixed")
    x.attrs["ints"] = np.array([3, -4], dtype="i2")
    x.attrs["huge"] = np.uint64(2**64 - 1)
    f.create_dataset("i", data=np.arange(6, dtype="i4").reshape(3, 2) - 2)
    f.create_dataset("f32", data=np.array([0.1, 0.2], dtype="f4"))
    f.create_dataset("u8", data=np.array([0, 255], dtype="u1"))
    f.create_dataset("grp/sub/h", data=np.array([0.5, -2], dtype="f2"))
    f.create_dataset("mask", data=np.array([True, False, True]))
    f.create_dataset("text", data=np.array([b"a", b"b"]))
    f.create_dataset("deep", data=np.zeros((1,) * 9))
    f.create_dataset("app", data=np.ones((2, 3)), maxshape=(None, 3),
                     chunks=(1, 3))
    f.attrs["study"] = "ou"
EOF

cat > read.lua <<'EOF'
local kubo = require "kubo"
local T = require "kubo.test"

T.case("float64 dataset and attributes from h5py", function()
  local x, a = kubo.h5.read("p.h5", "/x")
  T.eq(x:dtype(), "float64")
  T.eq(x:size(1), 2)
  T.eq(x:size(2), 3)
  T.eq(x[{2, 3}], 5 / 4)
  T.eq(a.title, "made by h5py")
  T.eq(a.scale, 0.125)
  T.eq(a.count, 7)
  T.eq(a.flag, 1, "h5py's boolean reads as 1")
  T.eq(a.pair[2], 2.5)
  T.eq(a.names[1], "a")
  T.eq(a.names[2], "bc")
  T.eq(a.fixed, "fixed")
  T.eq(a.ints[2], -4)
  T.eq(a.huge, 2.0 ^ 64, "a uint64 above 2^63 - 1 reads as a float")
  T.eq(kubo.h5.attrs("p.h5").study, "ou")
end)

T.case("other numeric types from h5py", function()
  local i = kubo.h5.read("p.h5", "/i")
  T.eq(i:dtype(), "float64")
  T.eq(i:size(1), 3)
  T.eq(i[{3, 2}], 3)
  T.eq(i[{1, 1}], -2)
  local f = kubo.h5.read("p.h5", "/f32")
  T.eq(f:dtype(), "float32")
  T.eq(f[1], (string.unpack("f", string.pack("f", 0.1))))
  T.eq(kubo.h5.read("p.h5", "/u8")[2], 255)
  local h = kubo.h5.read("p.h5", "/grp/sub/h")
  T.eq(h:dtype(), "float64")
  T.eq(h[2], -2)
  local m = kubo.h5.read("p.h5", "/mask")
  T.eq(m[1], 1)
  T.eq(m[2], 0)
  local none, msg = kubo.h5.read("p.h5", "/text")
  T.eq(none, nil)
  T.ok(msg:find("has type string", 1, true), msg)
  none, msg = kubo.h5.read("p.h5", "/deep")
  T.eq(none, nil)
  T.ok(msg:find("has 9 dimensions; tensors have at most 8", 1, true), msg)
end)

T.case("list of an h5py file", function()
  local names, info = kubo.h5.list("p.h5")
  T.eq(#names, 9)
  T.eq(info["/grp/sub"].kind, "group")
  T.eq(info["/i"].dtype, "int32")
  T.eq(info["/mask"].dtype, "enum")
  T.eq(info["/h"], nil)
  T.eq(info["/grp/sub/h"].dtype, "float16")
  T.eq(info["/app"].appendable, true)
end)

T.case("append to an h5py dataset", function()
  kubo.h5.append("p.h5", "/app", kubo.full({3}, 7))
  kubo.h5.append("p.h5", "/app", kubo.full({2, 3}, 8, "float32"))
  T.eq(kubo.h5.read("p.h5", "/app"):size(1), 5)
end)

T.finish()
EOF
"$kubo" read.lua

"$python" - <<'EOF'
import h5py
import numpy as np

with h5py.File("p.h5", "r") as f:
    app = f["app"][()]
    assert app.shape == (5, 3), app.shape
    assert (app[:2] == 1).all()
    assert (app[2] == 7).all()
    assert (app[3:] == 8).all()
    assert f["x"].attrs["title"] == "made by h5py"
print("h5py read the frames kubo appended")
EOF

# ---------------------------------------------------------------------------
# A writer whose process ends without closing it: the target is
# unchanged and the temporary file contains the frames up to the flush.
# ---------------------------------------------------------------------------
cp k.h5 k-before.h5
cat > die.lua <<'EOF'
local kubo = require "kubo"
local w = kubo.h5.writer{file = "k.h5", name = "/more", frame_shape = {4}}
for i = 1, 5 do w:append(kubo.full({4}, i)) end
w:flush()
os.exit(3)   -- no close, no garbage collection
EOF
status=0
ASAN_OPTIONS=detect_leaks=0 "$kubo" die.lua || status=$?
[ "$status" -eq 3 ] || { echo "die.lua exited with $status" >&2; exit 1; }
cmp k.h5 k-before.h5
shopt -s nullglob
temps=(k.h5.tmp-*)
[ ${#temps[@]} -eq 1 ] || { echo "expected one temporary file" >&2; exit 1; }

"$python" - "${temps[0]}" <<'EOF'
import sys
import h5py

with h5py.File(sys.argv[1], "r") as f:
    more = f["more"][()]
    assert more.shape == (5, 4), more.shape
    assert (more[4] == 5).all()
    assert f["traj"].shape == (10, 2, 3)
print("the flushed temporary file is readable")
EOF
# ---------------------------------------------------------------------------
# Ctrl-C while a script streams frames: the writer, closed by <close> as
# the interrupt error unwinds, puts every appended frame in the file.
# ---------------------------------------------------------------------------
cat > stream.lua <<'EOF'
local kubo = require "kubo"
local w <close> = kubo.h5.writer{file = "int.h5", name = "/u",
                                 frame_shape = {64}}
-- bounded, so that the test ends even if the interrupt is lost
for i = 1, 200000 do
  w:append(kubo.full({64}, i))
  if i == 50 then io.open("ready", "w"):close() end
end
EOF
ASAN_OPTIONS=detect_leaks=0 timeout 120 "$kubo" stream.lua 2> stream.err &
pid=$!
for _ in $(seq 1 600); do
  [ -e ready ] && break
  sleep 0.05
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
if [ "$status" -eq 0 ] || [ "$status" -eq 124 ]; then
  echo "stream.lua was not interrupted (exit status $status)" >&2
  exit 1
fi
grep -q interrupted stream.err
temps=(int.h5.tmp-*)
[ ${#temps[@]} -eq 0 ] || { echo "temporary file left behind" >&2; exit 1; }

"$python" - <<'EOF'
import h5py
import numpy as np

with h5py.File("int.h5", "r") as f:
    u = f["u"][()]
    assert u.shape[0] >= 50, u.shape
    assert u.shape[0] < 200000, u.shape
    want = np.arange(1, u.shape[0] + 1)[:, None] * np.ones((1, 64))
    assert np.array_equal(u, want)
    print(f"interrupted after {u.shape[0]} frames, all of them in the file")
EOF
echo "test_h5py: all checks passed"
