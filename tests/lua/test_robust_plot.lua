-- Bad calls to kubo.plot raise Lua errors whose message names the
-- function and the bad option. The cases cover missing or empty series,
-- values that are not numbers, unknown options and styles, and bad
-- ranges and sizes. Data that gnuplot cannot draw (all NaN, empty
-- ranges, log of negatives, a missing folder) raises too and leaves no
-- output file. User text with backquotes, quotes or newlines and style
-- values carrying gnuplot commands must run nothing. Cases that run
-- gnuplot are skipped when it is not installed.
local kubo = require "kubo"
local T = require "kubo.test"
local plot = kubo.plot

local dir = io.popen("mktemp -d /tmp/kubo-robust-plot-XXXXXX"):read("l")
local function path(name) return dir .. "/" .. name end
local png = path("p.png")
local y = {1, 2, 3}

local function lines(opts)
  opts.file = opts.file or png
  opts.series = opts.series or {{y = y}}
  return plot.lines(opts)
end

local function field(opts)
  opts.file = opts.file or path("f.png")
  return plot.field(opts)
end

local function exists(name)
  local f = io.open(name, "rb")
  if f then f:close() end
  return f ~= nil
end

local has_gnuplot = os.execute("command -v gnuplot > /dev/null 2>&1")

-- Errors raised before gnuplot runs.
local cases = {
  {"lines without options", function() return plot.lines() end,
   "plot.lines: expected a table of options, got nil"},
  {"lines without series", function() return plot.lines{file = png} end,
   "plot.lines: 'series' must be a non-empty list"},
  {"lines without a file", function()
     return plot.lines{series = {{y = y}}} end,
   "'file' is missing (a path ending in .png or .svg)"},
  {"lines into a pdf", function() return lines{file = path("p.pdf")} end,
   "file '" .. path("p.pdf") .. "' has an unknown extension (expected "
   .. ".png or .svg)"},
  {"lines into a folder", function() return lines{file = dir .. "/"} end,
   "has an unknown extension"},
  {"series without y", function() return lines{series = {{}}} end,
   "series[1].y is missing"},
  {"series with empty y", function() return lines{series = {{y = {}}}} end,
   "series[1].y is empty"},
  {"series with a string value", function()
     return lines{series = {{y = {1, "a"}}}} end,
   "series[1].y[2] must be a number, got string"},
  {"series with a matrix", function()
     return lines{series = {{y = kubo.ones(2, 2)}}} end,
   "series[1].y must be 1-D, got a tensor of shape (2, 2)"},
  {"series with fewer x", function()
     return lines{series = {{x = {1, 2}, y = y}}} end,
   "series[1] has 2 x values but 3 y values; they must match"},
  {"series with fewer yerr", function()
     return lines{series = {{y = y, yerr = {1}}}} end,
   "series[1] has 1 yerr values but 3 y values; they must match"},
  {"series of an unknown style", function()
     return lines{series = {{y = y, style = "bars"}}} end,
   "series[1].style 'bars' is not one of lines"},
  {"errorbars without yerr", function()
     return lines{series = {{y = y, style = "errorbars"}}} end,
   "series[1].style 'errorbars' needs yerr"},
  {"series with a number label", function()
     return lines{series = {{y = y, label = 5}}} end,
   "series[1].label must be a string, got number"},
  {"series with an unknown option", function()
     return lines{series = {{y = y, colour = "red"}}} end,
   "unknown option 'colour' in series[1]"},
  {"lines with an unknown option", function() return lines{colour = 1} end,
   "plot.lines: unknown option 'colour' in plot.lines"},
  {"xrange of a string", function() return lines{xrange = "a"} end,
   "xrange must be a table {min, max}, got string"},
  {"xrange with a string end", function()
     return lines{xrange = {1, "max"}} end,
   "xrange[2] must be a number or \"*\", got string"},
  {"legend with a command", function()
     return lines{legend = "top; system('x')"} end,
   "legend must be false or a position such as \"top left\""},
  {"size of zero", function() return lines{size = {0, 0}} end,
   "size must be {width, height} in pixels"},
  {"field without data", function() return field{} end,
   "plot.field: 'data' is missing (a 2-D tensor)"},
  {"field of a vector", function() return field{data = kubo.ones(3)} end,
   "data must be 2-D, got a tensor of shape (3)"},
  {"field of an empty matrix", function()
     return field{data = kubo.ones(0, 0)} end,
   "data is empty"},
  {"field of ragged rows", function()
     return field{data = {{1, 2}, {3}}} end,
   "data row 2 has 1 values, expected 2 like row 1"},
  {"field of an unknown palette", function()
     return field{data = kubo.ones(3, 3), palette = "jet"} end,
   "palette 'jet' is not one of auto, diverging, sequential, grey"},
  {"field with a short extent", function()
     return field{data = kubo.ones(3, 3), extent = {1, 2}} end,
   "extent must be {xmin, xmax, ymin, ymax}"},
  {"panels without options", function() return plot.panels() end,
   "plot.panels: expected a table of options, got nil"},
  {"panels of nothing", function()
     return plot.panels{file = png, panels = {}} end,
   "'panels' must be a non-empty list of panel tables"},
  {"panel of an unknown kind", function()
     return plot.panels{file = png, panels = {{kind = "pie"}}} end,
   "panels[1].kind must be \"lines\", \"field\" or \"empty\", got pie"},
  {"panels that do not fit", function()
     return plot.panels{file = png, rows = 1, cols = 1,
                        panels = {{kind = "empty"}, {kind = "empty"}}} end,
   "2 panels do not fit in 1 rows x 1 cols"},
  {"panels with rows 0", function()
     return plot.panels{file = png, rows = 0, panels = {{kind = "empty"}}}
   end,
   "rows must be a positive integer, got 0"},
  {"panel with its own file", function()
     return plot.panels{file = png, panels = {{kind = "lines", file = png,
                                               series = {{y = y}}}}} end,
   "unknown option 'file' in panels[1]"},
  {"text with width 0", function()
     return plot.text{series = {{y = y}}, width = 0} end,
   "plot.text: width must be a positive integer, got 0"},
  {"response_figure without options", function()
     return plot.response_figure() end,
   "plot.response_figure: expected a table of options, got nil"},
  {"response_figure without lags", function()
     return plot.response_figure{} end,
   "response_figure.lags is missing"},
  {"series of a freed tensor", function()
     local t = kubo.ones(3)
     t:free()
     return lines{series = {{y = t}}} end,
   "plot.lines: series[1].y is a freed tensor"},
  {"field of a freed tensor", function()
     local t = kubo.ones(2, 2)
     t:free()
     return field{data = t} end,
   "plot.field: data is a freed tensor"},
  {"response curves of a freed tensor", function()
     local t = kubo.ones(3, 2)
     t:free()
     return plot.response_figure{file = png, lags = y,
                                 curves = {dynamical = t}} end,
   "response_figure.curves.dynamical is a freed tensor"},
  {"field with a string value", function()
     return field{data = {{1, 2}, {3, "a"}}} end,
   "plot.field: data[2][2] must be a number, got string"},
  {"field with a row that is not a table", function()
     return field{data = {{1, 2}, 3}} end,
   "data row 2 must be a table of numbers, got number"},
  {"point of a string", function()
     return lines{series = {{y = y, point = "7"}}} end,
   "series[1].point must be a gnuplot point type (an integer from -1 "
   .. "up), got \"7\""},
  {"point of a fraction", function()
     return lines{series = {{y = y, point = 1.5}}} end,
   "series[1].point must be a gnuplot point type (an integer from -1 "
   .. "up), got 1.5"},
  {"width of a string", function()
     return lines{series = {{y = y, width = "2"}}} end,
   "series[1].width must be a positive line width, got \"2\""},
  {"width of NaN", function()
     return lines{series = {{y = y, width = 0 / 0}}} end,
   "series[1].width must be a positive line width, got NaN"},
  {"dash of a table", function()
     return lines{series = {{y = y, dash = {10, 5}}}} end,
   "series[1].dash must be a dash type (an integer), a pattern such as "
   .. "\"(10,5)\""},
  {"color of a number", function()
     return lines{series = {{y = y, color = 5}}} end,
   "series[1].color must be a colour name such as \"dark-red\" or "
   .. "\"#rrggbb\", got 5"},
  {"size of NaN", function() return lines{size = {0 / 0, 600}} end,
   "plot.lines: size must be {width, height} in pixels, each from 1 to "
   .. "20000; size[1] is NaN"},
  {"size of infinity", function()
     return field{data = kubo.ones(2, 2), size = {600, math.huge}} end,
   "plot.field: size must be {width, height} in pixels, each from 1 to "
   .. "20000; size[2] is inf"},
  {"size of a string", function()
     return plot.panels{file = png, size = {"600", 400},
                        panels = {{kind = "empty"}}} end,
   "plot.panels: size must be {width, height} in pixels, each from 1 to "
   .. "20000; size[1] is \"600\""},
  {"title of a table", function() return lines{title = {}} end,
   "plot.lines: title must be a string, got table"},
  {"cblabel of a table", function()
     return field{data = kubo.ones(2, 2), cblabel = {}} end,
   "plot.field: cblabel must be a string, got table"},
  {"panels title of a boolean", function()
     return plot.panels{file = png, title = true,
                        panels = {{kind = "empty"}}} end,
   "plot.panels: title must be a string, got boolean"},
  {"response entries of a table", function()
     return plot.response_figure{file = png, lags = y,
                                 curves = {dynamical = {y}},
                                 entries = {{}}} end,
   "response_figure.entries[1] must be a string, got table"},
  {"response labels of a table", function()
     return plot.response_figure{file = png, lags = y,
                                 curves = {dynamical = {y}},
                                 labels = {dynamical = {}}} end,
   "response_figure.labels.dynamical must be a string, got table"},
}

-- Errors that gnuplot reports when it rejects the data.
local drawn = {
  {"lines into a missing folder", function()
     return lines{file = path("none/p.png")} end,
   "gnuplot failed to draw '" .. path("none/p.png") .. "'"},
  {"lines of only NaN", function()
     return lines{series = {{y = {0 / 0, 0 / 0}}}} end,
   "all points y value undefined"},
  {"log scale of negative values", function()
     return lines{logy = true, series = {{y = {-1, -2}}}} end,
   "gnuplot failed to draw"},
  {"empty x range", function() return lines{xrange = {1, 1}} end,
   "Can't plot with an empty x range"},
  {"unknown legend position", function()
     return lines{legend = "nonsense words"} end,
   "unknown key option"},
  {"unknown colour name", function()
     return lines{series = {{y = y, color = "notacolor"}}} end,
   "unrecognized color name"},
  {"field of zero extent", function()
     return field{data = kubo.ones(3, 3), extent = {1, 1, 1, 1}} end,
   "Can't plot with an empty x range"},
}

for _, c in ipairs(cases) do
  T.case(c[1], function() T.raises(c[2], c[3]) end)
end

if has_gnuplot then
  for _, c in ipairs(drawn) do
    T.case(c[1], function()
      os.remove(png)
      os.remove(path("f.png"))
      T.raises(c[2], c[3])
      T.ok(not exists(png), "no partial output is left")
      T.ok(not exists(path("f.png")), "no partial field is left")
    end)
  end

  T.case("edge data still draws", function()
    T.eq(lines{series = {{y = {1}}}}, png, "one point")
    T.eq(lines{series = {{y = {1, math.huge}}}}, png, "an infinite value")
    T.eq(field{data = kubo.ones(1, 1)}, path("f.png"), "one pixel")
    T.eq(field{data = kubo.full({3, 3}, 0 / 0)}, path("f.png"), "all NaN")
    T.eq(field{data = kubo.zeros(3, 3)}, path("f.png"), "all zero")
    T.eq(field{data = kubo.rng(1):normal(4, 3):transpose(1, 2)},
         path("f.png"), "a transposed view")
    T.eq(lines{file = path("q'uote.png")}, path("q'uote.png"),
         "a quote in the file name")
  end)

  T.case("titles with quotes and newlines", function()
    T.eq(lines{title = 'a"b\\c\nd', xlabel = "x'y"}, png)
  end)

  -- Text with backquotes (command substitution in double-quoted gnuplot
  -- strings), quotes and newlines must reach the figure as literal text
  -- and run nothing. Each payload would create a marker file if it ran.
  local marker = path("ran")
  local payloads = {
    "`touch " .. marker .. "`",
    "a\nsystem('touch " .. marker .. "')\nb",
    "a'.system('touch " .. marker .. "').'b",
    "a\\\"\nsystem(\"touch " .. marker .. "\")\n\"",
    "a\r\nsystem('touch " .. marker .. "')",
  }
  local svg = path("t.svg")
  local snapshot = {{1, 2}, {3, 4}}
  local text_fields = {
    {"lines title", function(p) return lines{file = svg, title = p} end},
    {"lines xlabel", function(p) return lines{file = svg, xlabel = p} end},
    {"lines ylabel", function(p) return lines{file = svg, ylabel = p} end},
    {"series label", function(p)
       return lines{file = svg, series = {{y = y, label = p}}} end},
    {"field title", function(p)
       return field{file = svg, data = snapshot, title = p} end},
    {"field xlabel", function(p)
       return field{file = svg, data = snapshot, xlabel = p} end},
    {"field cblabel", function(p)
       return field{file = svg, data = snapshot, cblabel = p} end},
    {"panels title", function(p)
       return plot.panels{file = svg, title = p,
                          panels = {{kind = "lines", series = {{y = y}},
                                     ylabel = p}}} end},
    {"response entries and labels", function(p)
       return plot.response_figure{file = svg, lags = y, label = p,
                                   snapshot = snapshot,
                                   snapshot_title = p, xlabel = p,
                                   curves = {dynamical = {y}, other = {y}},
                                   labels = {other = p}, entries = {p}}
     end},
    {"text plot title", function(p)
       return plot.text{series = {{y = y, label = p}}, title = p,
                        print = false} end},
  }
  for _, f in ipairs(text_fields) do
    T.case("user text runs nothing: " .. f[1], function()
      for i, p in ipairs(payloads) do
        os.remove(marker)
        local ok, err = pcall(f[2], p)
        T.ok(ok, "payload " .. i .. " draws: " .. tostring(err))
        T.ok(not exists(marker), "payload " .. i .. " ran nothing")
      end
    end)
  end

  T.case("backquoted text is drawn literally", function()
    local f = io.open(lines{file = svg, title = payloads[1]}, "rb")
    local data = f:read("a")
    f:close()
    T.ok(data:find(payloads[1], 1, true), "SVG holds the literal title")
    local out = plot.text{series = {{y = y}}, print = false,
                          title = payloads[2]}
    T.ok(out:find("system('touch", 1, true),
         "a line after the newline stays text")
  end)

  -- Style values go into the script as bare words, so a value that would
  -- add a gnuplot command is rejected before gnuplot runs.
  local bad_styles = {
    {"dash", "1\nsystem('touch " .. marker .. "')",
     "series[1].dash must be a dash type"},
    {"dash", "(10,5) lw 9; system('touch " .. marker .. "')",
     "series[1].dash must be a dash type"},
    {"dash", "(1,\n2)", "series[1].dash must be a dash type"},
    {"point", "7\nsystem('touch " .. marker .. "')",
     "series[1].point must be a gnuplot point type"},
    {"width", "2\nsystem('touch " .. marker .. "')",
     "series[1].width must be a positive line width"},
    {"color", "red'\nsystem('touch " .. marker .. "')\n'",
     "series[1].color must be a colour name"},
    {"color", "red' lw system('touch " .. marker .. "')",
     "series[1].color must be a colour name"},
  }
  T.case("bad style values run nothing", function()
    for _, b in ipairs(bad_styles) do
      os.remove(marker)
      T.raises(function()
        return lines{file = svg, series = {{y = y, [b[1]] = b[2]}}}
      end, b[3], b[1] .. " " .. b[2])
      T.ok(not exists(marker), b[1] .. " ran nothing")
    end
    T.raises(function()
      return lines{file = svg, font = "Sans\nsystem('touch " .. marker
                   .. "')"}
    end, "plot.lines: font must be a string such as \"DejaVu Sans,12\" "
         .. "on one line")
    T.raises(function()
      return lines{file = path("a\nsystem('touch " .. marker .. "')\n.png")}
    end, "plot.lines: file name contains a control character such as a "
         .. "newline")
    T.ok(not exists(marker), "font and file ran nothing")
  end)

  T.case("good style values still draw", function()
    T.eq(lines{file = svg, series = {{y = y, dash = 3, point = 6.0,
                                      width = 1.5, color = "dark-red"},
                                     {y = y, dash = "-. ", point = -1,
                                      color = "#80ff0000"},
                                     {y = y, dash = "(10,5,2,5)"}}}, svg)
  end)
else
  io.write("skipped: gnuplot is not installed\n")
end

os.execute("rm -rf '" .. dir .. "'")
T.finish()
