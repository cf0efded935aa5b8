-- examples/gc.lua STORE [--dry-run]: image garbage collection with
-- imagestore.gc. Prints the plan as a table, applies it (unless --dry-run),
-- then collects the store's own garbage (temp leftovers, unrecorded
-- big-data files, quarantined entries older than a week).
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua/?.so;;' \
--     lua5.4 examples/gc.lua ./demo-store --dry-run
--
-- The policy below is an example: edit it (README, "Garbage collection").
local imagestore = require("imagestore")
local gc = require("imagestore.gc")

local POLICY = {
  dangling = true,  -- images without names, as `podman image prune`
  keep_last = 3,    -- the 3 most recently loaded images of each repository
  -- kubelet-style: above 20 GB, free the least recently loaded images down
  -- to 15 GB, none loaded less than an hour ago
  budget = { high = 20e9, low = 15e9, min_age = "1h" },
  protect = { patterns = { "/pause:" } }, -- the pod sandbox image
  -- in_use = function(img) return ... end,   -- what the host's containers use
}
local QUARANTINE_AGE = "7d"

local dir, flag = arg[1], arg[2]
if not dir or (flag ~= nil and flag ~= "--dry-run") or arg[3] then
  io.stderr:write("usage: lua5.4 examples/gc.lua STORE [--dry-run]\n")
  os.exit(2)
end
local dry_run = flag == "--dry-run"

local st <close> = assert(imagestore.open(dir, { readonly = dry_run }))
local usage = assert(st:usage())
print(("store %s: %d image(s), %s recorded, %s on disk"):format(dir, usage.images,
  gc.bytes(usage.size), gc.bytes(usage.disk_bytes)))

local plan = assert(gc.plan(st, POLICY))
print(gc.format(plan))

local garbage_opts = { dry_run = dry_run, quarantine_older_than = QUARANTINE_AGE }
if dry_run then
  print("dry run: nothing removed")
else
  local report, msg, code, partial = gc.apply(st, plan)
  report = report or partial
  print(("removed %d image(s), %s"):format(report.freed.images, gc.bytes(report.freed.size)))
  for _, e in ipairs(report.skipped) do print(("skipped %s: %s"):format(e.id:sub(1, 12), e.reason)) end
  for _, e in ipairs(report.failed) do print(("failed %s: %s"):format(e.id:sub(1, 12), e.message)) end
  if msg then print(("stopped: %s (%s), %d left"):format(msg, code, #report.left)) end
end

local garbage, msg, code, partial = gc.store(st, garbage_opts)
for _, e in ipairs(garbage or partial) do print(("%s (%s)"):format(e.problem, gc.bytes(e.bytes))) end
if msg then print(("store garbage: %s (%s)"):format(msg, code)) end
