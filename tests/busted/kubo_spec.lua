-- busted specs that run under the kubo program, through busted's --lua
-- option (tests/sh/test_busted.sh): `busted --lua=kubo tests/busted`.
local kubo = require "kubo"

describe("kubo under busted", function()
  it("loads the C core", function()
    assert.is_table(package.loaded["kubo.core"])
    assert.is_string(kubo.version)
  end)

  it("builds tensors", function()
    local x = kubo.tensor{{1, 2}, {3, 4}}
    assert.are.equal(4, x:numel())
    assert.are.equal(3, x[{2, 1}])
    assert.are.same({{1, 2}, {3, 4}}, x:totable())
  end)

  it("raises clear errors", function()
    assert.has_error(function() kubo.log_level("loud") end)
    local ok, err = pcall(kubo.log_level, "loud")
    assert.is_false(ok)
    assert.matches("unknown log level 'loud'", err, 1, true)
  end)

  it("sees kubo.params", function()
    assert.is_table(kubo.params)
  end)
end)
