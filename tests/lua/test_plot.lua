-- kubo.plot: PNG and SVG files from lines, field, panels and the
-- response figure, text plots, and errors for bad arguments.
local kubo = require "kubo"
local T = require "kubo.test"

local plot = kubo.plot

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local created_files = {}

local function path(name)
  local p = dir .. "/" .. name
  created_files[#created_files + 1] = p
  return p
end

local function read(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

local PNG_SIGNATURE = "\137PNG\r\n\26\n"

-- Checks that p is a PNG of the given size in pixels. The width and
-- height are the big-endian words at bytes 17-24, in the IHDR chunk.
local function check_png(p, width, height)
  local data = read(p)
  T.ok(data, "file written: " .. p)
  T.eq(data:sub(1, 8), PNG_SIGNATURE, "PNG signature of " .. p)
  local w, h = string.unpack(">I4>I4", data, 17)
  T.eq(w, width, "PNG width")
  T.eq(h, height, "PNG height")
end

local function check_svg(p, ...)
  local data = read(p)
  T.ok(data, "file written: " .. p)
  T.ok(#data > 0, "file not empty")
  T.ok(data:sub(1, 400):find("<svg", 1, true), "SVG header of " .. p)
  for _, text in ipairs{...} do
    T.ok(data:find(text, 1, true), "SVG contains '" .. text .. "'")
  end
end

local lags, decay, wave, band = {}, {}, {}, {}
for i = 1, 40 do
  lags[i] = (i - 1) * 0.5
  decay[i] = math.exp(-lags[i] / 5)
  wave[i] = math.cos(lags[i]) * decay[i]
  band[i] = 0.05
end

local function field_data(ny, nx)
  local rows = {}
  for i = 1, ny do
    rows[i] = {}
    for j = 1, nx do rows[i][j] = math.sin(j / 3) * math.cos(i / 4) end
  end
  return rows
end

T.case("plot lines png and svg", function()
  local series = {
    {label = "decay", x = lags, y = decay, yerr = band},
    {label = "wave", x = kubo.tensor(lags), y = kubo.tensor(wave)},
    {label = "points", y = decay, style = "points"},
    {label = "bars", x = lags, y = wave, yerr = band, style = "errorbars"},
  }
  local png = path("lines.png")
  T.eq(plot.lines{file = png, title = "t", xlabel = "lag", ylabel = "R",
                  series = series}, png)
  check_png(png, 900, 600)
  local svg = path("lines.svg")
  plot.lines{file = svg, title = "two curves", series = series,
             logy = false, xrange = {0, 10}, yrange = {"*", 1.5},
             legend = "bottom left", size = {640, 480}}
  check_svg(svg, "two curves", "decay", "wave")
end)

T.case("plot lines log scale and options", function()
  local png = path("log.png")
  plot.lines{file = png, series = {{y = decay, style = "lines"}},
             logy = true, grid = false, legend = false, size = {300, 200}}
  check_png(png, 300, 200)
end)

T.case("plot field png and svg", function()
  local png = path("field.png")
  plot.field{file = png, data = kubo.tensor(field_data(16, 24)),
             title = "u", cblabel = "u"}
  check_png(png, 700, 600)
  local svg = path("field.svg")
  plot.field{file = svg, data = field_data(8, 8), palette = "sequential",
             extent = {0, 1, 0, 1}, title = "positive field"}
  check_svg(svg, "positive field")
  local grey = path("grey.png")
  plot.field{file = grey, data = field_data(4, 4), palette = "grey",
             cbrange = {-1, 1}, aspect = false, size = {200, 200}}
  check_png(grey, 200, 200)
end)

T.case("plot panels png and svg", function()
  local panels = {
    {kind = "field", data = field_data(8, 8), title = "snapshot"},
    {kind = "lines", title = "panel two", series = {{x = lags, y = wave}}},
    {kind = "empty"},
    {kind = "lines", logy = true, series = {{x = lags, y = decay}}},
  }
  local png = path("panels.png")
  plot.panels{file = png, rows = 2, cols = 2, panels = panels,
              title = "four"}
  check_png(png, 840, 680)
  local svg = path("panels.svg")
  plot.panels{file = svg, panels = panels, title = "one row"}
  check_svg(svg, "one row", "panel two")
end)

local function response_args(file)
  local function set(scale)
    local s = {}
    for k = 1, 4 do
      s[k] = {}
      for i = 1, #lags do s[k][i] = scale * decay[i] / k end
    end
    return s
  end
  local se = {}
  for k = 1, 4 do se[k] = band end
  return {
    file = file, title = "toy system", snapshot = field_data(8, 8),
    lags = lags,
    curves = {dynamical = set(1), gaussian = set(1.3), score = set(1.05),
              analytic = set(0.9), other = set(0.5)},
    stderr = {dynamical = se},
    errors = {gaussian = {rms = band, max = decay},
              score = {rms = band, max = wave}},
  }
end

T.case("plot response figure png and svg", function()
  local png = path("response.png")
  plot.response_figure(response_args(png))
  check_png(png, 360 * 7, 320)
  local svg = path("response.svg")
  local args = response_args(svg)
  -- the Gaussian curves as one (lags, entries) tensor
  local rows = {}
  for i = 1, #lags do
    rows[i] = {}
    for k = 1, 4 do rows[i][k] = args.curves.gaussian[k][i] end
  end
  args.curves.gaussian = kubo.tensor(rows)
  plot.response_figure(args)
  check_svg(svg, "toy system", "dynamical", "Gaussian", "learned score",
            "analytic score", "rms error", "max error")
end)

T.case("plot response figure rows", function()
  local png = path("response_rows.png")
  local row = response_args(nil)
  row.file, row.title = nil, nil
  local short = response_args(nil)
  short.file, short.title, short.errors, short.snapshot = nil, nil, nil, nil
  short.label = "no errors"
  plot.response_figure{file = png, systems = {row, short}}
  check_png(png, 360 * 7, 640)
  local panels = plot.response_panels(short)
  T.eq(#panels, 4, "one panel per entry, no snapshot, no errors")
  T.eq(panels[1].kind, "lines")
end)

T.case("plot text", function()
  local out = plot.text{series = {{label = "decay", x = lags, y = decay},
                                  {label = "wave", x = lags, y = wave}},
                        title = "text plot", width = 60, height = 20,
                        print = false}
  T.eq(type(out), "string")
  T.ok(out:find("text plot", 1, true), out)
  T.ok(out:find("decay", 1, true), out)
  local lines = 0
  for _ in out:gmatch("\n") do lines = lines + 1 end
  T.eq(lines, 20, "one line per row of the terminal")
end)

T.case("plot bad arguments", function()
  local ok_series = {{x = {1, 2}, y = {1, 2}}}
  local cases = {
    {plot.lines, {series = ok_series}, "plot.lines: 'file' is missing"},
    {plot.lines, {file = path("x.jpg"), series = ok_series},
     "has an unknown extension (expected .png or .svg)"},
    {plot.lines, {file = path("x.png"),
                  series = {{x = {1, 2, 3}, y = {1, 2}}}},
     "series[1] has 3 x values but 2 y values; they must match"},
    {plot.lines, {file = path("x.png"),
                  series = {{x = kubo.tensor{1, 2}, y = {1, 2, 3}}}},
     "series[1] has 2 x values but 3 y values"},
    {plot.lines, {file = path("x.png"),
                  series = {{y = {1, 2}, yerr = {1}}}},
     "series[1] has 1 yerr values but 2 y values"},
    {plot.lines, {file = path("x.png"), series = {}},
     "'series' must be a non-empty list"},
    {plot.lines, {file = path("x.png"), series = {{x = {1}}}},
     "series[1].y is missing"},
    {plot.lines, {file = path("x.png"), series = {{y = {1, "a"}}}},
     "series[1].y[2] must be a number, got string"},
    {plot.lines, {file = path("x.png"), series = {{y = kubo.zeros(2, 2)}}},
     "series[1].y must be 1-D, got a tensor of shape (2, 2)"},
    {plot.lines, {file = path("x.png"), series = {{y = {1}, style = "x"}}},
     "series[1].style 'x' is not one of"},
    {plot.lines, {file = path("x.png"), series = ok_series, xlable = "t"},
     "unknown option 'xlable' in plot.lines"},
    {plot.lines, {file = path("x.png"), series = ok_series,
                  xrange = {"a", 1}},
     "xrange[1] must be a number"},
    {plot.field, {file = path("x.png"), data = kubo.zeros(4)},
     "plot.field: data must be 2-D, got a tensor of shape (4)"},
    {plot.field, {file = path("x.png"), data = {{1, 2}, {3}}},
     "data row 2 has 1 values, expected 2 like row 1"},
    {plot.field, {file = path("x.png"), data = {{1}}, palette = "jet"},
     "palette 'jet' is not one of"},
    {plot.panels, {file = path("x.png"), panels = {{kind = "pie"}}},
     "panels[1].kind must be \"lines\", \"field\" or \"empty\""},
    {plot.panels, {file = path("x.png"), rows = 1, cols = 1,
                   panels = {{kind = "empty"}, {kind = "empty"}}},
     "2 panels do not fit in 1 rows x 1 cols"},
    {plot.response_figure, {file = path("x.png"), lags = {0, 1},
                            curves = {dynamical = {{1, 2}},
                                      gaussian = {{1, 2}, {3, 4}}}},
     "response_figure.curves.gaussian has 2 entries but "
     .. "response_figure.curves.dynamical has 1"},
    {plot.response_figure, {file = path("x.png"), lags = {0, 1, 2},
                            curves = {dynamical = {{1, 2}}}},
     "response_figure.curves.dynamical[1] has 2 values but lags has 3"},
    {plot.response_figure, {file = path("x.png"), lags = {0, 1},
                            curves = {dynamical = {{1, 2}},
                                      score = {{1, 2}}},
                            errors = {score = {rms = {1, 2}}}},
     "response_figure.errors.score.max is missing"},
    {plot.response_figure, {file = path("x.png"), lags = {0, 1},
                            curves = {dynamical = {{1, 2}}},
                            errors = {score = {rms = {1, 2}, max = {1, 2}}}},
     "response_figure.errors.score has no matching curve"},
    {plot.text, {series = ok_series, width = 0},
     "plot.text: width must be a positive integer, got 0"},
  }
  for i, c in ipairs(cases) do
    local err = T.raises(function() c[1](c[2]) end, c[3], "case " .. i)
    T.ok(err:find("test_plot.lua", 1, true),
         "case " .. i .. ": error points at the caller: " .. err)
  end
end)

T.case("plot gnuplot error names file", function()
  local bad = path("bad.png")
  local err = T.raises(function()
    plot.lines{file = bad, series = {{y = {1, 2}, color = "not-a-color"}}}
  end, "plot.lines: gnuplot failed to draw '" .. bad .. "'")
  T.ok(err:find("not-a-color", 1, true), err)
  T.eq(read(bad), nil, "the incomplete file is removed")
end)

T.case("plot help text", function()
  for _, name in ipairs{"lines", "field", "panels", "text",
                        "response_figure", "response_panels"} do
    local doc = kubo.doc(plot[name])
    T.ok(doc and doc:find("kubo.plot." .. name, 1, true),
         "help for plot." .. name)
  end
end)

for _, p in ipairs(created_files) do os.remove(p) end
os.remove(dir)

T.finish()
