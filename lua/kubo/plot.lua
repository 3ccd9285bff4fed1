-- kubo.plot: line plots, field images and multi-panel figures drawn by
-- gnuplot into PNG (pngcairo) or SVG files, and quick text plots for the
-- terminal.
--
--   kubo.plot.lines{file = "r.png", title = "R11", xlabel = "lag",
--                   series = {{label = "dynamical", x = lags, y = r}}}
--   kubo.plot.field{file = "u.svg", data = u, title = "snapshot"}
--   kubo.plot.panels{file = "fig.png", rows = 1, cols = 2,
--                    panels = {{kind = "field", data = u},
--                              {kind = "lines", series = {...}}}}
--   kubo.plot.text{series = {{y = r}}}   -- prints an ASCII plot
--
-- Data goes inline into a gnuplot script (datablocks), which is written
-- to a temporary file and run with the gnuplot program. Series differ in
-- colour, dash pattern and point type, so that they stay distinct in a
-- greyscale print.

local kubo = require "kubo"
local G = require "kubo.gnuplot"

local fail = G.fail
local quote = G.quote

local plot = {}

-- Okabe-Ito colours (yellow left out: too pale on white), each paired
-- with its own dash pattern and point type.
local COLORS = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000",
                "#56B4E9", "#E69F00", "#777777"}
local DASHES = {"1", "(10,5)", "(3,4)", "(12,4,3,4)", "(20,6)",
                "(3,3,3,3,12,3)", "(6,3)", "(1,3)"}
local POINTS = {7, 5, 9, 13, 6, 4, 8, 12}

local FONT = "DejaVu Sans,12"
local GRID = "set grid lt 1 lw 1 lc rgb '#dddddd'"

-- Palettes for plot.field, as gnuplot `set palette defined` lists.
local PALETTES = {
  -- blue, white, red (five of ColorBrewer's 7-class RdBu colours)
  diverging = "(0 '#2166ac', 0.25 '#67a9cf', 0.5 '#f7f7f7', "
              .. "0.75 '#ef8a62', 1 '#b2182b')",
  -- viridis: lightness rises monotonically, so it survives greyscale
  sequential = "(0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', "
               .. "0.75 '#5ec962', 1 '#fde725')",
  grey = "(0 'black', 1 'white')",
}

local STYLES = {lines = true, linespoints = true, points = true,
                errorbars = true, steps = true}


-- Option checking -------------------------------------------------------

local function check_options(args, allowed, what)
  if type(args) ~= "table" then
    fail("expected a table of options, got %s", type(args))
  end
  for key in pairs(args) do
    if not allowed[key] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      fail("unknown option '%s' in %s (known: %s)", tostring(key), what,
           table.concat(names, ", "))
    end
  end
end

local function set_of(list)
  local set = {}
  for _, name in ipairs(list) do set[name] = true end
  return set
end

local COMMON = {"title", "xlabel", "ylabel", "xrange", "yrange", "font",
                "enhanced"}
local LINES_OPTIONS = set_of{"series", "logx", "logy", "legend", "grid",
                             table.unpack(COMMON)}
local FIELD_OPTIONS = set_of{"data", "cblabel", "palette", "cbrange",
                             "extent", "aspect", table.unpack(COMMON)}
local SERIES_OPTIONS = set_of{"label", "x", "y", "yerr", "style", "color",
                              "dash", "point", "width"}

local function with_extra(set, extra)
  local out = {}
  for k in pairs(set) do out[k] = true end
  for _, k in ipairs(extra) do out[k] = true end
  return out
end

-- Returns "[a:b]" for a range {a, b}; a missing end or "*" is left to
-- gnuplot's autoscaling.
local function range_text(r, what)
  if type(r) ~= "table" then
    fail("%s must be a table {min, max}, got %s", what, type(r))
  end
  local ends = {}
  for i = 1, 2 do
    local v = r[i]
    if v == nil or v == "*" then
      ends[i] = "*"
    elseif type(v) == "number" then
      ends[i] = G.number(v)
    else
      fail("%s[%d] must be a number or \"*\", got %s", what, i, type(v))
    end
  end
  return string.format("[%s:%s]", ends[1], ends[2])
end

local MAX_PIXELS = 20000

local function size_of(size, default, what)
  if size == nil then return default end
  if type(size) ~= "table" then
    fail("%s must be {width, height} in pixels, got %s", what, type(size))
  end
  for i = 1, 2 do
    local v = size[i]
    -- NaN fails both comparisons
    if type(v) ~= "number" or not (v >= 1 and v <= MAX_PIXELS) then
      fail("%s must be {width, height} in pixels, each from 1 to %d; "
           .. "%s[%d] is %s", what, MAX_PIXELS, what, i,
           v ~= v and "NaN" or type(v) == "string"
           and string.format("%q", v) or tostring(v))
    end
  end
  return {math.floor(size[1]), math.floor(size[2])}
end

-- Returns the value of a text option (a title or label) after checking
-- that it is a string or a number.
local function text_option(v, what)
  if type(v) ~= "string" and type(v) ~= "number" then
    fail("%s must be a string, got %s", what, type(v))
  end
  return v
end

-- Returns the set-up lines shared by both panel kinds.
local function common_commands(spec)
  -- stated every time because `reset` between panels keeps it
  local cmds = {spec.enhanced and "set termoption enhanced"
                or "set termoption noenhanced"}
  for _, key in ipairs{"title", "xlabel", "ylabel"} do
    if spec[key] ~= nil then
      cmds[#cmds + 1] = string.format("set %s %s", key,
                                      quote(text_option(spec[key], key)))
    end
  end
  if spec.xrange then
    cmds[#cmds + 1] = "set xrange " .. range_text(spec.xrange, "xrange")
  end
  if spec.yrange then
    cmds[#cmds + 1] = "set yrange " .. range_text(spec.yrange, "yrange")
  end
  return cmds
end


-- Line plots ------------------------------------------------------------

-- Style values go into the script as gnuplot words, so each is checked
-- against the forms gnuplot takes. A bad value shows up in the message
-- with %q, so that a newline in it is visible.
local function shown(v)
  if v ~= v then return "NaN" end
  return type(v) == "string" and string.format("%q", v) or tostring(v)
end

local function check_color(v, what)
  if v == nil then return nil end
  if type(v) ~= "string" or not v:match("^#?[%w%-]+$") then
    fail("%s must be a colour name such as \"dark-red\" or \"#rrggbb\", "
         .. "got %s", what, shown(v))
  end
  return v
end

-- Returns the dash option as gnuplot words: an integer dash type, a
-- pattern "(10,5)" of up to 8 lengths, or a string of "-", "_", "." and
-- spaces.
local function check_dash(v, what)
  if v == nil then return nil end
  if math.type(v) == "integer" and v >= 0 then return tostring(v) end
  if type(v) == "string" then
    if v:match("^%d+$") then return v end
    local inner = v:match("^%(([%d%., ]+)%)$")
    if inner then
      local count = 0
      for length in inner:gmatch("[^,]+") do
        if not tonumber(length) then count = -1 break end
        count = count + 1
      end
      if count > 0 and count <= 8 then return v end
    end
    if v:match("^[%-%._ ]+$") then return quote(v) end
  end
  fail("%s must be a dash type (an integer), a pattern such as "
       .. "\"(10,5)\" or a string of '-', '_', '.' and spaces, got %s",
       what, shown(v))
end

local function check_point(v, what)
  if v == nil then return nil end
  local n = math.tointeger(v)
  if type(v) ~= "number" or not n or n < -1 then
    fail("%s must be a gnuplot point type (an integer from -1 up), got %s",
         what, shown(v))
  end
  return n
end

local function check_width(v, what)
  if v == nil then return nil end
  if type(v) ~= "number" or not (v > 0 and v < math.huge) then
    fail("%s must be a positive line width, got %s", what, shown(v))
  end
  return v
end

local function check_series(s, i)
  local what = string.format("series[%d]", i)
  if type(s) ~= "table" then
    fail("%s must be a table {label =, x =, y =}, got %s", what, type(s))
  end
  check_options(s, SERIES_OPTIONS, what)
  if s.y == nil then fail("%s.y is missing", what) end
  local y = G.vector(s.y, what .. ".y")
  if #y == 0 then fail("%s.y is empty", what) end
  local x
  if s.x == nil then
    x = {}
    for k = 1, #y do x[k] = k end
  else
    x = G.vector(s.x, what .. ".x")
  end
  if #x ~= #y then
    fail("%s has %d x values but %d y values; they must match", what, #x,
         #y)
  end
  local yerr
  if s.yerr ~= nil then
    yerr = G.vector(s.yerr, what .. ".yerr")
    if #yerr ~= #y then
      fail("%s has %d yerr values but %d y values; they must match", what,
           #yerr, #y)
    end
  end
  local style = s.style or "linespoints"
  if not STYLES[style] then
    fail("%s.style '%s' is not one of lines, linespoints, points, steps, "
         .. "errorbars", what, tostring(style))
  end
  if style == "errorbars" and not yerr then
    fail("%s.style 'errorbars' needs yerr", what)
  end
  if s.label ~= nil and type(s.label) ~= "string" then
    fail("%s.label must be a string, got %s", what, type(s.label))
  end
  return {x = x, y = y, yerr = yerr, style = style, label = s.label,
          color = check_color(s.color, what .. ".color"),
          dash = check_dash(s.dash, what .. ".dash"),
          point = check_point(s.point, what .. ".point"),
          width = check_width(s.width, what .. ".width")}
end

-- Returns the gnuplot style words for series number i.
local function series_style(s, i)
  local k = (i - 1) % #COLORS + 1
  local color = s.color or COLORS[k]
  local dash = s.dash or DASHES[k]
  local point = s.point or POINTS[k]
  local parts = {string.format("lw %s lc rgb %s", G.number(s.width or 2),
                               quote(color)),
                 "dt " .. tostring(dash)}
  if s.style == "linespoints" or s.style == "points"
     or s.style == "errorbars" then
    parts[#parts + 1] = string.format("pt %d ps 1.1", point)
  end
  if s.style == "linespoints" then
    -- about ten markers per series, however many points it has
    parts[#parts + 1] = "pi " .. math.max(1, #s.y // 10)
  end
  return table.concat(parts, " "), color
end

local function title_of(s)
  return s.label and ("title " .. quote(s.label)) or "notitle"
end

-- Returns the datablocks and commands of a line plot. Datablock names
-- start with `prefix`, so that the panels of a figure do not collide.
-- With text = true the plot is styled for the dumb terminal.
local function lines_panel(spec, prefix, text)
  local series = spec.series
  if type(series) ~= "table" or #series == 0 then
    fail("'series' must be a non-empty list of {label =, x =, y =} tables")
  end
  local blocks, items = {}, {}
  for i, raw in ipairs(series) do
    local s = check_series(raw, i)
    local name = string.format("$%ss%d", prefix, i)
    local rows = {}
    for k = 1, #s.y do
      rows[k] = s.yerr and {s.x[k], s.y[k], s.yerr[k]} or {s.x[k], s.y[k]}
    end
    blocks[#blocks + 1] = G.datablock(name, rows)
    if text then
      items[#items + 1] = string.format("%s using 1:2 with lines lt %d %s",
                                        name, i, title_of(s))
    else
      local style, color = series_style(s, i)
      if s.yerr and s.style ~= "errorbars" then
        -- a translucent band of +-yerr drawn under the line
        items[#items + 1] = string.format(
          "%s using 1:($2-$3):($2+$3) with filledcurves fc rgb %s "
          .. "fs transparent solid 0.2 noborder notitle", name,
          quote(color))
      end
      local with = ({linespoints = "linespoints", lines = "lines",
                     points = "points", steps = "steps",
                     errorbars = "yerrorlines"})[s.style]
      local using = s.style == "errorbars" and "1:2:3" or "1:2"
      items[#items + 1] = string.format("%s using %s with %s %s %s", name,
                                        using, with, style, title_of(s))
    end
  end
  local cmds = common_commands(spec)
  if spec.grid ~= false and not text then cmds[#cmds + 1] = GRID end
  if spec.logx then cmds[#cmds + 1] = "set logscale x" end
  if spec.logy then cmds[#cmds + 1] = "set logscale y" end
  local legend = spec.legend
  if legend == false then
    cmds[#cmds + 1] = "unset key"
  elseif legend == nil or legend == true then
    cmds[#cmds + 1] = "set key top right noopaque samplen 3"
  elseif type(legend) == "string" and legend:match("^[%a ]+$") then
    cmds[#cmds + 1] = "set key " .. legend .. " noopaque samplen 3"
  else
    fail("legend must be false or a position such as \"top left\", got %s",
         tostring(legend))
  end
  cmds[#cmds + 1] = "plot " .. table.concat(items, ", \\\n     ")
  return blocks, cmds
end


-- Field images ----------------------------------------------------------

local function field_panel(spec, prefix)
  if spec.data == nil then fail("'data' is missing (a 2-D tensor)") end
  local rows, ncols = G.matrix(spec.data, "data")
  local nrows = #rows
  local lo, hi = math.huge, -math.huge
  for _, row in ipairs(rows) do
    for _, v in ipairs(row) do
      if v == v and v > -math.huge and v < math.huge then
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
  end
  local palette = spec.palette or "auto"
  if palette == "auto" then
    palette = (lo < 0 and hi > 0) and "diverging" or "sequential"
  end
  if not PALETTES[palette] then
    fail("palette '%s' is not one of auto, diverging, sequential, grey",
         tostring(palette))
  end
  local name = string.format("$%sf", prefix)
  local cmds = common_commands({title = spec.title, enhanced = spec.enhanced,
                                xlabel = spec.xlabel or "x (column)",
                                ylabel = spec.ylabel or "y (row)"})
  cmds[#cmds + 1] = "set palette defined " .. PALETTES[palette]
  if spec.cbrange then
    cmds[#cmds + 1] = "set cbrange " .. range_text(spec.cbrange, "cbrange")
  elseif palette == "diverging" then
    -- symmetric about zero, so that white means zero
    local m = math.max(-lo, hi)
    cmds[#cmds + 1] = string.format("set cbrange [%s:%s]", G.number(-m),
                                    G.number(m))
  end
  if spec.cblabel then
    cmds[#cmds + 1] = "set cblabel " .. quote(text_option(spec.cblabel,
                                                          "cblabel"))
  end
  if spec.aspect ~= false then cmds[#cmds + 1] = "set size ratio -1" end
  local x0, x1, y0, y1 = 0.5, ncols + 0.5, 0.5, nrows + 0.5
  if spec.extent ~= nil then
    local e = spec.extent
    if type(e) ~= "table" or #e ~= 4 then
      fail("extent must be {xmin, xmax, ymin, ymax}")
    end
    for i = 1, 4 do
      if type(e[i]) ~= "number" then
        fail("extent[%d] must be a number, got %s", i, type(e[i]))
      end
    end
    x0, x1, y0, y1 = e[1], e[2], e[3], e[4]
  end
  local dx, dy = (x1 - x0) / ncols, (y1 - y0) / nrows
  cmds[#cmds + 1] = string.format("set xrange [%s:%s]", G.number(x0),
                                  G.number(x1))
  cmds[#cmds + 1] = string.format("set yrange [%s:%s]", G.number(y0),
                                  G.number(y1))
  cmds[#cmds + 1] = "set tics out nomirror"
  cmds[#cmds + 1] = "unset key"
  -- Matrix columns $1 and rows $2 count from 0; row 1 is drawn at the
  -- bottom, so y increases upward.
  cmds[#cmds + 1] = string.format(
    "plot %s matrix using (%s+($1+0.5)*%s):(%s+($2+0.5)*%s):3 with image",
    name, G.number(x0), G.number(dx), G.number(y0), G.number(dy))
  return {G.datablock(name, rows)}, cmds
end


-- Output ----------------------------------------------------------------

local function render(file, size, font, blocks, body)
  local script = {}
  for _, b in ipairs(blocks) do script[#script + 1] = b end
  script[#script + 1] = G.terminal(file, size, font)
  script[#script + 1] = "set output " .. G.quote_path(file)
  for _, line in ipairs(body) do script[#script + 1] = line end
  script[#script + 1] = "unset output"
  local ok, err = pcall(G.run, table.concat(script, "\n"),
                        "'" .. file .. "'")
  if not ok then
    -- gnuplot has opened the file, so it is empty or incomplete
    os.remove(file)
    error(err, 0)
  end
  return file
end

local function lines(args)
  check_options(args, with_extra(LINES_OPTIONS, {"file", "size"}),
                "plot.lines")
  local size = size_of(args.size, {900, 600}, "size")
  local blocks, cmds = lines_panel(args, "", false)
  return render(args.file, size, args.font or FONT, blocks, cmds)
end

local function field(args)
  check_options(args, with_extra(FIELD_OPTIONS, {"file", "size"}),
                "plot.field")
  local size = size_of(args.size, {700, 600}, "size")
  local blocks, cmds = field_panel(args, "")
  return render(args.file, size, args.font or FONT, blocks, cmds)
end

local function positive_int(v, what)
  if math.type(v) ~= "integer" or v < 1 then
    fail("%s must be a positive integer, got %s", what, tostring(v))
  end
  return v
end

local function panels(args)
  check_options(args, set_of{"file", "rows", "cols", "panels", "title",
                             "size", "font"}, "plot.panels")
  local list = args.panels
  if type(list) ~= "table" or #list == 0 then
    fail("'panels' must be a non-empty list of panel tables")
  end
  local cols = positive_int(args.cols or #list, "cols")
  local rows = positive_int(args.rows or (#list + cols - 1) // cols, "rows")
  if #list > rows * cols then
    fail("%d panels do not fit in %d rows x %d cols", #list, rows, cols)
  end
  local size = size_of(args.size, {420 * cols, 340 * rows}, "size")
  local blocks, body = {}, {}
  body[#body + 1] = string.format("set multiplot layout %d,%d%s", rows,
                                  cols, args.title and
                                  (" title " ..
                                   quote(text_option(args.title, "title")) ..
                                   " font ',15'") or "")
  for i, spec in ipairs(list) do
    local what = string.format("panels[%d]", i)
    if type(spec) ~= "table" then
      fail("%s must be a table, got %s", what, type(spec))
    end
    local kind = spec.kind
    local opts = {}
    for k, v in pairs(spec) do
      if k ~= "kind" then opts[k] = v end
    end
    local panel_blocks, cmds
    if kind == "lines" then
      check_options(opts, LINES_OPTIONS, what)
      panel_blocks, cmds = lines_panel(opts, "p" .. i, false)
    elseif kind == "field" then
      check_options(opts, FIELD_OPTIONS, what)
      panel_blocks, cmds = field_panel(opts, "p" .. i)
    elseif kind == "empty" then
      panel_blocks, cmds = {}, {"set multiplot next"}
    else
      fail("%s.kind must be \"lines\", \"field\" or \"empty\", got %s",
           what, tostring(kind))
    end
    for _, b in ipairs(panel_blocks) do blocks[#blocks + 1] = b end
    if kind ~= "empty" then body[#body + 1] = "reset" end
    for _, c in ipairs(cmds) do body[#body + 1] = c end
  end
  body[#body + 1] = "unset multiplot"
  return render(args.file, size, args.font or FONT, blocks, body)
end

local function text(args)
  check_options(args, with_extra(LINES_OPTIONS, {"width", "height",
                                                 "print"}), "plot.text")
  local width = args.width or 79
  local height = args.height or 24
  positive_int(width, "width")
  positive_int(height, "height")
  local blocks, cmds = lines_panel(args, "", true)
  local script = {}
  for _, b in ipairs(blocks) do script[#script + 1] = b end
  script[#script + 1] = string.format("set terminal dumb size %d,%d", width,
                                      height)
  for _, c in ipairs(cmds) do script[#script + 1] = c end
  local out = G.run(table.concat(script, "\n"), "the text plot")
  if args.print == false then return out end
  io.write(out)
end

plot.lines = kubo.setdoc(G.protect("plot.lines", lines), [[
kubo.plot.lines{file, series, [title], [xlabel], [ylabel], [logx], [logy],
                [xrange], [yrange], [legend], [grid], [size], [font],
                [enhanced]} -> file
Draws line plots into file (.png or .svg, by its extension).
series is a list of {label =, x =, y =, [yerr =], [style =], [color =],
[dash =], [point =], [width =]}; x and y are tables of numbers or 1-D
tensors of equal length (x defaults to 1..#y). color is a gnuplot colour
name or "#rrggbb", dash an integer, a pattern "(10,5)" or a string of
"-", "_", "." and spaces, point an integer point type and width a
positive number. yerr draws a band of
+-yerr around the line. style is "linespoints" (default), "lines",
"points", "steps" or "errorbars". Series differ by colour, dash pattern
and point type. xrange/yrange are {min, max} ("*" for automatic), legend
is false or a position such as "bottom left", size is {width, height} in
pixels (default {900, 600}). enhanced = true turns on gnuplot's enhanced
text ("R_{11}" for a subscript). Raises an error naming the file if
gnuplot fails.]])

plot.field = kubo.setdoc(G.protect("plot.field", field), [[
kubo.plot.field{file, data, [title], [xlabel], [ylabel], [cblabel],
                [palette], [cbrange], [extent], [aspect], [size], [font],
                [enhanced]} -> file
Draws a 2-D tensor (or table of rows) as an image: column j along x, row i
along y with row 1 at the bottom. palette is "auto" (default: "diverging"
blue-white-red, symmetric about zero, when data has both signs, else
"sequential" viridis), "diverging", "sequential" or "grey". cblabel labels
the colour bar, cbrange is {min, max}, extent {xmin, xmax, ymin, ymax}
maps the pixels to coordinates (default: grid indices), aspect = false
drops the square-pixel aspect ratio. size defaults to {700, 600}.]])

plot.panels = kubo.setdoc(G.protect("plot.panels", panels), [[
kubo.plot.panels{file, panels, [rows], [cols], [title], [size], [font]}
  -> file
Draws several plots on a grid in one file, filled row by row. Each panel
is a table with kind = "lines" or "field" and the options of
kubo.plot.lines or kubo.plot.field (without file and size), or
kind = "empty" to leave a cell blank. cols defaults to the number of
panels and rows to as many as needed; size defaults to 420 x 340 pixels
per panel.]])

plot.text = kubo.setdoc(G.protect("plot.text", text), [[
kubo.plot.text{series, [title], [xlabel], [ylabel], [logx], [logy],
               [xrange], [yrange], [legend], [width], [height], [print]}
Prints an ASCII line plot (gnuplot's dumb terminal) of the series, which
are given as for kubo.plot.lines. width and height are in characters
(default 79 x 24). With print = false the plot is returned as a string
instead of printed.]])

local response = require "kubo.plot_response"
plot.response_panels = kubo.setdoc(
  G.protect("plot.response_panels", response.panels),
  response.panels_doc)
plot.response_figure = kubo.setdoc(
  G.protect("plot.response_figure", function(args)
    return response.figure(args, panels)
  end), response.figure_doc)

kubo.setdoc(plot, [[
kubo.plot: figures drawn by gnuplot. Functions: lines, field, panels
(PNG or SVG by the file's extension), text (ASCII plot in the terminal),
response_figure and response_panels (a snapshot, response entries for
every estimator, and their errors against the dynamical response over
lags).]])

return plot
