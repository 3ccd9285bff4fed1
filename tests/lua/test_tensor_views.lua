-- Tensor constructors, element access, views, copies and printing.
local kubo = require "kubo"
local T = require "kubo.test"

T.case("constructors take a trailing dtype", function()
  T.eq(kubo.zeros(2, 3, "float32"):dtype(), "float32")
  T.eq(kubo.ones({2, 3}, "float32"):dtype(), "float32")
  T.eq(kubo.full({2}, 7, "float32")[2], 7)
  T.eq(kubo.arange(0, 3, "float32"):dtype(), "float32")
  T.eq(kubo.linspace(0, 1, 3, "float32"):dtype(), "float32")
  T.eq(kubo.tensor({1, 2}, "float32"):dtype(), "float32")
  T.eq(kubo.zeros({}):numel(), 1, "an empty shape is a scalar")
end)

T.case("arange and linspace values", function()
  local a = kubo.arange(0, 1, 0.1)
  T.eq(a:numel(), 10)
  T.near(a[10], 0.9, 1e-15)
  T.eq(kubo.arange(5, 0, -2):numel(), 3)
  T.eq(kubo.arange(2, 5)[3], 4)
  local l = kubo.linspace(0, 1, 11)
  T.eq(l:numel(), 11)
  T.eq(l[11], 1)
  T.near(l[4], 0.3, 1e-15)
end)

T.case("shape, size, numel, length", function()
  local x = kubo.zeros(3, 4, 5)
  local s = x:shape()
  T.eq(#s, 3)
  T.eq(s[2], 4)
  T.eq(x:size(3), 5)
  T.eq(x:numel(), 60)
  T.eq(#x, 3)
  T.eq(x:dim(), 3)
end)

T.case("get, set and indexing", function()
  local x = kubo.zeros(2, 3)
  T.eq(x:set(2, 3, 7), x)
  T.eq(x:get(2, 3), 7)
  T.eq(x[{2, 3}], 7)
  x[{1, 1}] = -1
  T.eq(x:get(1, 1), -1)
  x[2] = 4
  T.eq(x[{2, 1}], 4)
  x[1] = kubo.tensor{1, 2, 3}
  T.eq(x[{1, 3}], 3)
  local v = kubo.tensor{5, 6}
  v[2] = 9
  T.eq(v[2], 9)
end)

T.case("views share storage", function()
  local x = kubo.arange(0, 12):view(3, 4)
  local r = x:reshape(12)
  r[1] = 100
  T.eq(x[{1, 1}], 100)
  T.eq(x:view(-1, 6):size(1), 2)
  local s = x:slice(2, 2, 3)
  T.eq(s:size(2), 2)
  T.eq(s[{3, 1}], 9)
  s[{1, 1}] = -5
  T.eq(x[{1, 2}], -5)
  T.eq(x:slice(1, 2):size(1), 2, "last defaults to the size")
  local t = x:transpose(1, 2)
  T.eq(t[{4, 3}], x[{3, 4}])
  T.ok(not t:is_contiguous())
  local c = t:contiguous()
  T.ok(c:is_contiguous())
  T.eq(c[{4, 3}], 11)
  T.eq(x:contiguous(), x, "contiguous returns x itself when it can")
end)

T.case("clone, copy_ and fill_", function()
  local x = kubo.tensor{{1, 2}, {3, 4}}
  local c = x:clone()
  c[{1, 1}] = 9
  T.eq(x[{1, 1}], 1)
  local y = kubo.zeros(2, 2, "float32")
  T.eq(y:copy_(x), y)
  T.eq(y[{2, 2}], 4)
  T.eq(y:dtype(), "float32")
  x:transpose():copy_(kubo.tensor{{1, 2}, {3, 4}})
  T.eq(x[{1, 2}], 3)
  x[1]:fill_(0)
  T.eq(x:sum(), 6)
  -- copying a tensor onto its own transpose reads the old values
  local m = kubo.tensor{{1, 2}, {3, 4}}
  m:copy_(m:transpose())
  T.eq(m[{1, 2}], 3)
  T.eq(m[{2, 1}], 2)
end)

T.case("to converts dtype", function()
  local x = kubo.tensor{1.5, 2.5}
  local f = x:to("float32")
  T.eq(f:dtype(), "float32")
  T.eq(f[1], 1.5)
  T.eq(x:to("float64"), x)
end)

T.case("tostring is short for large tensors", function()
  local s = tostring(kubo.zeros(1000, 1000))
  T.ok(s:find("(1000, 1000)", 1, true), s)
  T.ok(s:find("float64", 1, true), s)
  T.ok(#s < 200, "summary is short")
  local small = tostring(kubo.tensor{{1, 2}, {3, 4}})
  T.ok(small:find("4", 1, true), small)
  T.eq(tostring(kubo.linspace(0, 1, 100000)):find("...", 1, true) ~= nil,
       true)
end)

T.case("free and close release storage", function()
  local before = kubo.memory()
  do
    local x <close> = kubo.zeros(1000, 1000)
    T.ok(kubo.memory() >= before + 8e6)
  end
  T.ok(kubo.memory() < before + 8e6, "<close> released the storage")
  local y = kubo.ones(10)
  y:free()
  y:free()
  T.raises(function() return y:sum() end, "attempt to use a freed tensor")
  T.raises(function() return y + 1 end, "attempt to use a freed tensor")
  T.eq(tostring(y), "kubo.Tensor (freed)")
end)

T.case("help texts exist", function()
  local x = kubo.zeros(1)
  for _, name in ipairs{"view", "slice", "sum", "add_", "axpy_", "map",
                        "allclose", "equal"} do
    T.ok(kubo.doc(x[name]), name)
  end
  for _, name in ipairs{"matmul", "dot", "solve", "inv", "arange",
                        "linspace"} do
    T.ok(kubo.doc(kubo[name]), name)
  end
end)

T.finish()
