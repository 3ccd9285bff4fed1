-- kubo.plot_response: the response figure of kubo.plot. One row shows a
-- snapshot of the system, then one panel per response entry (R11, R21,
-- ...) with a curve for every estimator, then the rms and max error of
-- each estimator against the dynamical response over lags. Several
-- systems stack as rows.

local G = require "kubo.gnuplot"

local fail = G.fail

local M = {}

-- Fixed styles for the estimators that the response module provides:
-- dynamical orange and solid, Gaussian black, learned score red,
-- analytic score blue. Dash pattern and point type differ too, so the
-- curves stay apart in greyscale.
local ESTIMATORS = {
  {name = "dynamical", label = "dynamical", color = "#E69F00", dash = "1",
   style = "lines", width = 3},
  {name = "gaussian", label = "Gaussian", color = "#000000",
   dash = "(10,5)", point = 5},
  {name = "score", label = "learned score", color = "#D62728",
   dash = "(12,4,3,4)", point = 7},
  {name = "analytic", label = "analytic score", color = "#0072B2",
   dash = "(3,4)", point = 9},
}

-- Styles for estimators with other names, in sorted order of name.
local OTHER_STYLES = {
  {color = "#009E73", dash = "(20,6)", point = 13},
  {color = "#CC79A7", dash = "(3,3,3,3,12,3)", point = 6},
  {color = "#56B4E9", dash = "(6,3)", point = 4},
  {color = "#777777", dash = "(1,3)", point = 8},
}

local ROW_OPTIONS = {snapshot = true, snapshot_title = true, lags = true,
                     curves = true, stderr = true, errors = true,
                     error_lags = true, entries = true, label = true,
                     labels = true, xlabel = true, error_logy = true,
                     cblabel = true}

-- Escapes the characters that gnuplot's enhanced text treats as markup.
local function plain(s)
  return (tostring(s):gsub("[_^@&~{}\\]", "\\%0"))
end

-- Raises an error unless v, the text option `what`, is a string or a
-- number (or nil when optional).
local function check_text(v, what)
  if v ~= nil and type(v) ~= "string" and type(v) ~= "number" then
    fail("%s must be a string, got %s", what, type(v))
  end
end

-- Returns the list of per-entry series of a curve set: a table of series
-- (1-D tensors or tables), a 2-D tensor (lags, entries) or a 1-D tensor
-- (one entry).
local function entry_series(set, what)
  if G.is_tensor(set) then
    local shape = G.shape(set, what)
    if #shape == 1 then return {G.vector(set, what)} end
    if #shape ~= 2 then
      fail("%s must be a list of series or a (lags, entries) tensor, got "
           .. "shape (%s)", what, table.concat(shape, ", "))
    end
    local rows = set:totable()
    local out = {}
    for k = 1, shape[2] do
      local column = {}
      for i = 1, shape[1] do column[i] = rows[i][k] end
      out[k] = column
    end
    return out
  end
  if type(set) ~= "table" or #set == 0 then
    fail("%s must be a non-empty list of series or a (lags, entries) "
         .. "tensor", what)
  end
  local out = {}
  for k, series in ipairs(set) do
    out[k] = G.vector(series, string.format("%s[%d]", what, k))
  end
  return out
end

-- Returns the estimator names present in `curves`, in figure order, and
-- the style of each.
local function estimator_order(curves, labels)
  local order, styles, known = {}, {}, {}
  for _, e in ipairs(ESTIMATORS) do
    known[e.name] = true
    if curves[e.name] ~= nil then
      order[#order + 1] = e.name
      styles[e.name] = e
    end
  end
  local others = {}
  for name in pairs(curves) do
    if type(name) ~= "string" then
      fail("curves must be keyed by estimator name, got key %s",
           tostring(name))
    end
    if not known[name] then others[#others + 1] = name end
  end
  table.sort(others)
  for i, name in ipairs(others) do
    local s = OTHER_STYLES[(i - 1) % #OTHER_STYLES + 1]
    order[#order + 1] = name
    styles[name] = {name = name, label = name, color = s.color,
                    dash = s.dash, point = s.point}
  end
  for _, name in ipairs(order) do
    local label = labels and labels[name] or styles[name].label
    styles[name] = setmetatable({label = plain(label)},
                                {__index = styles[name]})
  end
  return order, styles
end

local function series_for(style, x, y, yerr)
  return {label = style.label, x = x, y = y, yerr = yerr,
          style = style.style or "linespoints", color = style.color,
          dash = style.dash, point = style.point, width = style.width}
end

-- Builds the panel list of one figure row.
local function row_panels(row, what)
  if type(row) ~= "table" then
    fail("%s must be a table, got %s", what, type(row))
  end
  for key in pairs(row) do
    if not ROW_OPTIONS[key] then
      fail("unknown option '%s' in %s", tostring(key), what)
    end
  end
  if row.lags == nil then fail("%s.lags is missing", what) end
  for _, key in ipairs{"label", "snapshot_title", "xlabel", "cblabel"} do
    check_text(row[key], what .. "." .. key)
  end
  if row.entries ~= nil then
    if type(row.entries) ~= "table" then
      fail("%s.entries must be a list of panel titles, got %s", what,
           type(row.entries))
    end
    for k, v in pairs(row.entries) do
      check_text(v, string.format("%s.entries[%s]", what, tostring(k)))
    end
  end
  if row.labels ~= nil then
    if type(row.labels) ~= "table" then
      fail("%s.labels must be a table {score = \"...\", ...}, got %s",
           what, type(row.labels))
    end
    for k, v in pairs(row.labels) do
      check_text(v, string.format("%s.labels.%s", what, tostring(k)))
    end
  end
  local lags = G.vector(row.lags, what .. ".lags")
  if type(row.curves) ~= "table" or next(row.curves) == nil then
    fail("%s.curves must be a table {dynamical = ..., gaussian = ..., "
         .. "...} of curve sets", what)
  end
  local order, styles = estimator_order(row.curves, row.labels)
  local prefix = row.label and (plain(row.label) .. ": ") or ""

  local sets, count = {}, nil
  for _, name in ipairs(order) do
    local where = string.format("%s.curves.%s", what, name)
    local set = entry_series(row.curves[name], where)
    if count and #set ~= count then
      fail("%s has %d entries but %s.curves.%s has %d", where, #set, what,
           order[1], count)
    end
    count = #set
    for k, series in ipairs(set) do
      if #series ~= #lags then
        fail("%s[%d] has %d values but lags has %d", where, k, #series,
             #lags)
      end
    end
    sets[name] = set
  end

  local stderr = {}
  for name, set in pairs(row.stderr or {}) do
    local where = string.format("%s.stderr.%s", what, name)
    if not sets[name] then
      fail("%s has no matching curve in %s.curves", where, what)
    end
    stderr[name] = entry_series(set, where)
    if #stderr[name] ~= count then
      fail("%s has %d entries but the curves have %d", where,
           #stderr[name], count)
    end
  end

  local entries = row.entries or {}
  local panels = {}
  if row.snapshot ~= nil then
    panels[#panels + 1] = {kind = "field", data = row.snapshot,
                           enhanced = true, cblabel = row.cblabel,
                           title = prefix .. (row.snapshot_title and
                                   plain(row.snapshot_title) or
                                   "snapshot")}
  end
  local xlabel = row.xlabel and plain(row.xlabel) or "lag"
  for k = 1, count do
    local series = {}
    for _, name in ipairs(order) do
      local band = stderr[name] and stderr[name][k]
      series[#series + 1] = series_for(styles[name], lags, sets[name][k],
                                       band)
    end
    panels[#panels + 1] = {
      kind = "lines", enhanced = true, series = series, xlabel = xlabel,
      ylabel = k == 1 and "response" or nil, legend = k == 1,
      title = prefix .. (entries[k] or string.format("R_{%d1}", k)),
    }
  end

  if row.errors ~= nil then
    local errors = row.errors
    if type(errors) ~= "table" then
      fail("%s.errors must be a table {gaussian = {rms =, max =}, ...}",
           what)
    end
    local x = row.error_lags and G.vector(row.error_lags,
                                          what .. ".error_lags") or lags
    for _, measure in ipairs{"rms", "max"} do
      local series = {}
      for _, name in ipairs(order) do
        local e = errors[name]
        if e ~= nil then
          local where = string.format("%s.errors.%s.%s", what, name,
                                      measure)
          if type(e) ~= "table" or e[measure] == nil then
            fail("%s is missing", where)
          end
          local y = G.vector(e[measure], where)
          if #y ~= #x then
            fail("%s has %d values but %s has %d", where, #y,
                 row.error_lags and "error_lags" or "lags", #x)
          end
          series[#series + 1] = series_for(styles[name], x, y)
        end
      end
      for name in pairs(errors) do
        if not sets[name] then
          fail("%s.errors.%s has no matching curve in %s.curves", what,
               tostring(name), what)
        end
      end
      if #series > 0 then
        panels[#panels + 1] = {
          kind = "lines", enhanced = true, series = series,
          xlabel = xlabel, legend = false, logy = row.error_logy,
          yrange = not row.error_logy and {0, "*"} or nil,
          title = prefix .. measure .. " error vs dynamical",
        }
      end
    end
  end
  return panels
end

function M.panels(row)
  return row_panels(row, "response_panels")
end

-- Draws the figure with draw_panels, the unprotected kubo.plot.panels.
function M.figure(args, draw_panels)
  if type(args) ~= "table" then
    fail("expected a table of options, got %s", type(args))
  end
  local rows = {}
  local frame = {file = true, title = true, size = true, font = true,
                 systems = true}
  if args.systems ~= nil then
    if type(args.systems) ~= "table" or #args.systems == 0 then
      fail("systems must be a non-empty list of rows")
    end
    for key in pairs(args) do
      if not frame[key] then
        fail("option '%s' belongs inside each row of systems",
             tostring(key))
      end
    end
    for i, row in ipairs(args.systems) do
      rows[i] = row_panels(row, string.format("systems[%d]", i))
    end
  else
    local row = {}
    for k, v in pairs(args) do
      if not frame[k] then row[k] = v end
    end
    rows[1] = row_panels(row, "response_figure")
  end
  local cols = 0
  for _, r in ipairs(rows) do cols = math.max(cols, #r) end
  local list = {}
  for _, r in ipairs(rows) do
    for i = 1, cols do list[#list + 1] = r[i] or {kind = "empty"} end
  end
  return draw_panels{file = args.file, rows = #rows, cols = cols,
                     panels = list, title = args.title,
                     font = args.font or "DejaVu Sans,11",
                     size = args.size or {360 * cols, 320 * #rows}}
end

M.panels_doc = [[
kubo.plot.response_panels{lags, curves, [stderr], [errors], [snapshot],
                          [entries], [label], ...} -> list of panels
Builds the panels of one response_figure row, for kubo.plot.panels, so
that rows of several systems can be combined by hand. Takes the options
of one row of kubo.plot.response_figure.]]

M.figure_doc = [[
kubo.plot.response_figure{file, lags, curves, [stderr], [errors],
[error_lags], [snapshot], [snapshot_title], [cblabel], [entries], [label],
[labels], [xlabel], [error_logy], [title], [size]} -> file. Draws one row
of panels: the snapshot field (if given), one panel per response entry
with a curve for every estimator, then the rms and max error of each
estimator against the dynamical response over lags (if errors is given).
lags holds the x values of every response curve. curves is a table
{dynamical = set, gaussian = set, score = set, analytic = set, ...}, where
a set is a list of series (one per entry, each as long as lags) or a
(lags, entries) tensor. stderr holds standard errors in the same form,
drawn as a band around the matching curve (usually stderr = {dynamical =
...}). errors is {gaussian = {rms = series, max = series}, ...} over
error_lags (default lags). entries are the panel titles in gnuplot
enhanced text (default R_{11}, R_{21}, ...). label is a system name put
before each panel title, and labels renames estimators in the legend, as
in labels = {score = "U-Net score"}. With systems = {row1, row2, ...} in
place of the row options, each system is drawn as one row. Colours:
dynamical orange, Gaussian black, learned score red, analytic blue.]]

return M
