-- bench/plot.lua RESULTS.json WORKDIR OUT.svg
--
-- Draws, from the results bench/run wrote, per-image create cost and
-- open+list time against N, for imagestore and for containers/storage, as
-- one SVG (gnuplot, Debian's gnuplot-nox). `make bench-plot` runs it.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local json = require("json")

local results_path, workdir, svg = arg[1], arg[2], arg[3]
if not (results_path and workdir and svg) then
  io.stderr:write("usage: plot.lua RESULTS.json WORKDIR OUT.svg\n")
  os.exit(2)
end
local f = assert(io.open(results_path))
local results = assert(json.decode(f:read("a")))
f:close()
local scaling = results.scaling or {}
os.execute(("mkdir -p '%s/plot'"):format(workdir))

-- Each series -> a data file "N value"; returns gnuplot plot clauses.
local styles = {
  ["imagestore C, per-image batch"] = "lw 2 pt 7 lc rgb '#1f77b4'",
  ["imagestore C, 3 durable calls"] = "lw 2 pt 5 lc rgb '#17becf'",
  ["imagestore C, one batch"] = "lw 2 pt 9 lc rgb '#2ca02c'",
  ["imagestore Lua, per-image batch"] = "lw 2 pt 13 dt 2 lc rgb '#9467bd'",
  ["containers/storage"] = "lw 2 pt 11 lc rgb '#d62728'",
  ["imagestore C, warm"] = "lw 2 pt 7 lc rgb '#1f77b4'",
  ["imagestore C, cold"] = "lw 2 pt 6 dt 2 lc rgb '#1f77b4'",
  ["containers/storage, warm"] = "lw 2 pt 11 lc rgb '#d62728'",
  ["containers/storage, cold"] = "lw 2 pt 10 dt 2 lc rgb '#d62728'",
}
local file_no, synth_n = 0, nil
-- clauses(group, order) --> gnuplot plot clauses, and the y range to show:
-- the data, plus room above it for the key (drawn inside, at the top).
local function clauses(group, order)
  local out, lo, hi = {}, math.huge, -math.huge
  for _, name in ipairs(order) do
    local pts = group and group[name]
    if pts and #pts > 0 then
      file_no = file_no + 1
      local path = ("%s/plot/series%d.dat"):format(workdir, file_no)
      local df = assert(io.open(path, "w"))
      local synth = false
      for _, p in ipairs(pts) do
        df:write(("%d %.6g\n"):format(p.n, p.value))
        lo, hi = math.min(lo, p.value), math.max(hi, p.value)
        if p.synthesized == true then
          synth = true
          synth_n = math.min(synth_n or math.huge, p.n)
        end
      end
      df:close()
      local title = name .. (synth and " *" or "")
      out[#out + 1] = ("'%s' using 1:2 with linespoints %s title '%s'"):format(
        path, styles[name] or "lw 2", title)
    end
  end
  return out, lo, hi
end

-- A log-scale y range from lo to hi with the top `room` of the height free.
local function yrange(lo, hi, room)
  if lo == math.huge then return "set yrange [*:*]" end
  local a = 10 ^ math.floor(math.log(lo / 1.5, 10))
  local b = hi * 1.5
  local top = a * (b / a) ^ (1 / (1 - room))
  return ("set yrange [%.6g:%.6g]"):format(a, top)
end

local create, c_lo, c_hi = clauses(scaling.create_per_image_us, {
  "imagestore C, per-image batch", "imagestore C, 3 durable calls", "imagestore C, one batch",
  "imagestore Lua, per-image batch", "containers/storage" })
local floor = results.fsync_floor_us
if type(floor) == "number" then
  c_lo, c_hi = math.min(c_lo, floor), math.max(c_hi, floor)
  create[#create + 1] = ("%.6g with lines lw 1 dt 3 lc rgb '#555555' title 'fsync floor (%.0f µs)'")
    :format(floor, floor)
end
local open, o_lo, o_hi = clauses(scaling.open_list_ms, {
  "imagestore C, warm", "imagestore C, cold", "containers/storage, warm",
  "containers/storage, cold" })
if #create == 0 and #open == 0 then
  io.stderr:write("plot.lua: no scaling data in ", results_path, "; run make bench\n")
  os.exit(1)
end

local gp = {
  "set terminal svg size 1100,500 dynamic font 'sans,12' background rgb 'white'",
  ("set output '%s'"):format(svg),
  "set multiplot layout 1,2",
  "set logscale xy",
  "set grid xtics ytics mxtics mytics lc rgb '#dddddd'",
  "set key top left Left reverse font ',10' box opaque samplen 3",
  "set xlabel 'images in the store (N)'",
  "set format x '10^{%T}'",
  "set format y '10^{%T}'",
  "set xrange [50:200000]",
  "set title 'Durable create: cost per image'",
  "set ylabel 'µs per image'",
  yrange(c_lo, c_hi, 0.42),
  "plot " .. (#create > 0 and table.concat(create, ", \\\n     ") or "NaN notitle"),
  "set title 'open + list in a fresh process (median)'",
  synth_n and ("set label 1 '* N ≥ %d: store written by bench/cs-synth.go' "
    .. "at graph 0.98, graph 0.04 right font ',9'"):format(synth_n) or "unset label 1",
  "set ylabel 'ms'",
  yrange(o_lo, o_hi, 0.3),
  "plot " .. (#open > 0 and table.concat(open, ", \\\n     ") or "NaN notitle"),
  "unset multiplot",
}
local script = workdir .. "/plot/scaling.gp"
local sf = assert(io.open(script, "w"))
sf:write(table.concat(gp, "\n"), "\n")
sf:close()
local ok = os.execute(("gnuplot '%s'"):format(script))
if not ok then
  io.stderr:write("plot.lua: gnuplot failed (script: ", script, ")\n")
  os.exit(1)
end
io.stderr:write("[bench] wrote ", svg, "\n")
