-- bench/gc.lua: what image garbage collection costs (issue 13). bench/run
-- (`make bench`) runs it; `make bench-gc` runs it alone.
--
--   lua5.4 bench/gc.lua DIR [PLAN_N [APPLY_OF]]
--
-- gc-plan: a store of PLAN_N images (default 10000; a tenth without names,
-- the rest 10 tags in each of PLAN_N/10 repositories, each with a manifest
-- and a 1.5 KB config, loaded a minute apart), written before any clock;
-- then gc.plan over it with every rule at once (dangling, older_than,
-- keep_last, a budget that triggers, protect by name, repository and
-- pattern, in_use), 7 times, each after a full collection: the median and
-- the best.
-- gc-apply: a store of APPLY_OF images (default 2000) of the benchmark's
-- workload (a name, a manifest, a 1.5 KB config), half of them loaded 60
-- days ago; gc.apply of the plan that selects that half (older_than), timed
-- from the call until it returns, every deletion durable. The peer's figure
-- is containers/storage's delete of 1000 images (bench/csbench.go).
--
-- One JSON line per phase on stdout. Needs the bench_clock module
-- (bench/lua_clock.c) on LUA_CPATH.
local imagestore = require("imagestore")
local gc = require("imagestore.gc")
local clock = require("bench_clock")

local IMPL = "imagestore-lua"
local DAY = 86400

local dir = arg[1]
local plan_n = math.tointeger(tonumber(arg[2] or "10000"))
local apply_of = math.tointeger(tonumber(arg[3] or "2000"))
if not dir or not plan_n or not apply_of or plan_n < 10 or apply_of < 2 then
  io.stderr:write("usage: lua5.4 bench/gc.lua DIR [PLAN_N [APPLY_OF]]\n")
  os.exit(2)
end

local function die(what, msg, code)
  io.stderr:write(("bench/gc.lua: %s: %s (%s)\n"):format(what, tostring(msg), tostring(code)))
  os.exit(1)
end

local function check(what, ok, msg, code)
  if ok == nil or ok == false then die(what, msg, code) end
  return ok
end

local function fresh(path)
  os.execute("rm -rf '" .. path:gsub("'", "'\\''") .. "'")
  local st, msg, code = imagestore.open(path)
  if not st then die("open " .. path, msg, code) end
  return st
end

local CONFIG = ("c"):rep(1500)

local function manifest(id)
  return '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    .. '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'
    .. id .. '","size":1500},"layers":[]}'
end

-- n images in batches of 1000: names(i) is a list; loaded(i) epoch seconds.
local function fill(st, n, names, loaded)
  for first = 0, n - 1, 1000 do
    check("batch", st:batch(function(b)
      for i = first, math.min(first + 1000, n) - 1 do
        local id = imagestore.sha256("gc-image-" .. i):sub(8)
        check("create", b:create{ id = id, names = names(i), metadata = "{}" })
        check("manifest", b:set_big_data(id, "manifest", manifest(id)))
        check("config", b:set_big_data(id, "sha256:" .. id, CONFIG))
        check("loaded", b:set_loaded_time(id, loaded(i)))
      end
    end))
  end
end

local function median(xs)
  table.sort(xs)
  local m = #xs // 2
  if #xs % 2 == 1 then return xs[m + 1] end
  return (xs[m] + xs[m + 1]) / 2
end

local function emit(fields)
  local parts = {}
  for _, kv in ipairs(fields) do
    local k, v = kv[1], kv[2]
    if type(v) == "string" then parts[#parts + 1] = ('"%s":"%s"'):format(k, v)
    elseif math.type(v) == "integer" then parts[#parts + 1] = ('"%s":%d'):format(k, v)
    else parts[#parts + 1] = ('"%s":%.9f'):format(k, v) end
  end
  io.stdout:write("{", table.concat(parts, ","), "}\n")
  io.stdout:flush()
end

local now = os.time()

-- ---- gc-plan -------------------------------------------------------------
do
  local st = fresh(dir .. "/plan")
  local repos = plan_n // 10
  fill(st, plan_n, function(i)
    if i % 10 == 0 then return {} end
    return { ("example.com/repo%d:tag%d"):format(i % repos, i) }
  end, function(i) return now - i * 60 end)
  local total = 0
  for _, s in ipairs(st:summaries()) do total = total + s.size end
  local used = {}
  for i = 0, plan_n - 1, plan_n // 100 do used[#used + 1] = imagestore.sha256("gc-image-" .. i):sub(8) end
  local policy = {
    dangling = true, older_than = "30d", keep_last = 5,
    budget = { high = total * 8 // 10, low = total * 7 // 10, min_age = "1h" },
    protect = { names = { "example.com/repo1:tag1" }, repositories = { "example.com/repo2" },
                patterns = { "^example%.com/repo3:" } },
    in_use = used, now = now,
  }
  local times, plan = {}, nil
  for run = 1, 7 do
    plan = nil
    collectgarbage()
    local t0 = clock.now()
    plan = check("plan", gc.plan(st, policy))
    times[run] = clock.now() - t0
  end
  local best = math.min(table.unpack(times))
  local med = median(times)
  emit({ { "impl", IMPL }, { "phase", "gc-plan" }, { "n", plan_n }, { "seconds", med },
         { "best_seconds", best }, { "per_op_us", med * 1e6 / plan_n },
         { "planned", #plan.images }, { "kept", #plan.kept } })
  st:close()
end

-- ---- gc-apply ------------------------------------------------------------
do
  local st = fresh(dir .. "/apply")
  fill(st, apply_of, function(i) return { ("example.com/repo%d:tag"):format(i) } end,
    function(i) return i % 2 == 0 and now - 60 * DAY or now - 60 end)
  local plan = check("plan", gc.plan(st, { older_than = "30d", now = now }))
  st:close()
  os.execute("sync")
  st = check("open", imagestore.open(dir .. "/apply"))
  collectgarbage()
  local t0 = clock.now()
  local report = check("apply", gc.apply(st, plan))
  local dt = clock.now() - t0
  if #report.removed ~= #plan.images then
    die("apply", ("removed %d of %d planned"):format(#report.removed, #plan.images))
  end
  emit({ { "impl", IMPL }, { "phase", "gc-apply" }, { "n", #report.removed }, { "of", apply_of },
         { "seconds", dt }, { "per_op_us", dt * 1e6 / #report.removed } })
  st:close()
end
os.execute("rm -rf '" .. dir:gsub("'", "'\\''") .. "'")
