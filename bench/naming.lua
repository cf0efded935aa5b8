-- bench/naming.lua: what naming policies and hooks cost (issue #5).
--
--   lua5.4 bench/naming.lua DIR [N]
--
-- One store of N images named docker.io/library/repo<i>:latest, opened once
-- without hooks and once per policy; each lookup kind runs over every image
-- and is timed as a whole. Prints a table (µs per call, and the ratio to a
-- plain get by full name) and one JSON line per row to stdout.
-- Needs the bench_clock module (bench/lua_clock.c) on LUA_CPATH.
local imagestore = require("imagestore")
local naming = require("imagestore.naming")
local clock = require("bench_clock")

local dir, n = arg[1], tonumber(arg[2] or "10000")
if not dir then
  io.stderr:write("usage: lua5.4 bench/naming.lua DIR [N]\n")
  os.exit(2)
end

local function must(ok, msg, code)
  if not ok then error(tostring(msg) .. " (" .. tostring(code) .. ")", 2) end
  return ok
end

-- Times fn(i) for i = 1..n, best of three rounds: µs per call.
local function per_call(fn)
  local best = math.huge
  for _ = 1, 3 do
    local t0 = clock.now()
    for i = 1, n do fn(i) end
    best = math.min(best, clock.now() - t0)
  end
  return best * 1e6 / n
end

local ids, short, full = {}, {}, {}
for i = 1, n do
  short[i] = "repo" .. i
  full[i] = "docker.io/library/repo" .. i .. ":latest"
end

os.execute("rm -rf '" .. dir .. "'")
do
  local st <close> = must(imagestore.open(dir))
  must(st:batch(function(b)
    for i = 1, n do ids[i] = must(b:create{ names = { full[i] } }).id end
  end))
end

local rows = {}
local function row(what, us)
  rows[#rows + 1] = { what = what, us = us }
end

do
  local st <close> = must(imagestore.open(dir))
  row("get(full name), no policy", per_call(function(i) must(st:get(full[i])) end))
  row("get(ID prefix), no policy", per_call(function(i) must(st:get(ids[i]:sub(1, 12))) end))
end
do
  local st <close> = must(imagestore.open(dir, { naming = naming.policy{} }))
  row("get(full name), policy", per_call(function(i) must(st:get(full[i])) end))
  row("get(short name), policy", per_call(function(i) must(st:get(short[i])) end))
  row("get(ID prefix), policy", per_call(function(i) must(st:get(ids[i]:sub(1, 12))) end))
end
do
  local policy = naming.policy{ search_registries = { "registry.example.com", "quay.io", "docker.io" } }
  local st <close> = must(imagestore.open(dir, { naming = policy }))
  row("get(short name), 3 search registries", per_call(function(i) must(st:get(short[i])) end))
end
do
  local st <close> = must(imagestore.open(dir, { hooks = { name = function() end } }))
  row("get(ID prefix), a name hook that keeps it", per_call(function(i) must(st:get(ids[i]:sub(1, 12))) end))
end
do
  local policy = naming.policy{}
  row("policy:candidates(short name)", per_call(function(i) must(policy:candidates(short[i])) end))
end
do
  local st <close> = must(imagestore.open(dir, { hooks = { event = function() end } }))
  row("get(full name), an event hook only", per_call(function(i) must(st:get(full[i])) end))
end
do
  local policy = naming.policy{}
  row("naming.normalize(short name)", per_call(function(i) must(policy:normalize(short[i])) end))
  row("naming.parse(full name)", per_call(function(i) must(naming.parse(full[i])) end))
end

local base = rows[1].us
print(("%-40s %10s %8s"):format("bench/naming.lua, N = " .. n, "µs/call", "ratio"))
for _, r in ipairs(rows) do
  print(("%-40s %10.2f %7.2fx"):format(r.what, r.us, r.us / base))
end
for _, r in ipairs(rows) do
  print(('{"impl":"imagestore-lua","phase":"naming","what":"%s","n":%d,"per_op_us":%.4f,"ratio":%.3f}')
    :format(r.what, n, r.us, r.us / base))
end
os.execute("rm -rf '" .. dir .. "'")
