-- kubo.test: a small test runner for kubo's Lua tests.
--
--   local T = require "kubo.test"
--   T.case("tensor zeros shape", function()
--     T.eq(kubo.zeros(2, 3):numel(), 6)
--   end)
--   T.finish()   -- prints "N passed, M failed" and exits non-zero on
--                -- any failure
--
-- Each case runs under pcall with a traceback, so one failure does not
-- stop the file. Checks raise at the caller's line.

local T = {}

local passed, failed = 0, 0
local failures = {}

local function fail(msg, level)
  error(msg, (level or 1) + 2)
end

function T.case(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
    io.write("ok    ", name, "\n")
  else
    failed = failed + 1
    failures[#failures + 1] = name
    io.write("FAIL  ", name, "\n", tostring(err), "\n")
  end
end

function T.ok(cond, msg)
  if not cond then fail(msg or "expected a true value") end
end

function T.eq(got, want, msg)
  if got ~= want then
    fail(string.format("%sexpected %s, got %s",
                       msg and (msg .. ": ") or "", tostring(want),
                       tostring(got)))
  end
end

-- Passes if |got - want| <= tol (absolute).
function T.near(got, want, tol, msg)
  if type(got) ~= "number" or not (math.abs(got - want) <= tol) then
    fail(string.format("%sexpected %.12g within %.3g, got %s (off by %.3g)",
                       msg and (msg .. ": ") or "", want, tol,
                       tostring(got),
                       type(got) == "number" and math.abs(got - want)
                         or 0 / 0))
  end
end

-- Passes if fn raises an error whose message contains pattern (plain).
function T.raises(fn, pattern, msg)
  local ok, err = pcall(fn)
  if ok then
    fail((msg and (msg .. ": ") or "") ..
         "expected an error" ..
         (pattern and (" matching '" .. pattern .. "'") or ""))
  end
  err = tostring(err)
  if pattern and not err:find(pattern, 1, true) then
    fail(string.format("%sexpected an error containing '%s', got '%s'",
                       msg and (msg .. ": ") or "", pattern, err))
  end
  return err
end

function T.finish()
  io.write(string.format("%d passed, %d failed\n", passed, failed))
  if failed > 0 then
    io.write("failed: ", table.concat(failures, "; "), "\n")
    os.exit(1)
  end
end

return T
