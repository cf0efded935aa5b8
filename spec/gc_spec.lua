-- imagestore.gc: image garbage collection as a plan (rules dangling,
-- older_than, keep_last, budget; protect and in_use), applied with a
-- re-check under the store's lock; the store's own garbage (st:store_gc);
-- and the example that drives both.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")
local gc = require("imagestore.gc")
local json = require("imagestore.json")

local NOW = 1800000000 -- the plans' "now": 2027-01-15T08:00:00Z
local DAY = 86400

-- Creates an image loaded `age` seconds before NOW, with a recorded size.
local function mk(st, names, age, size)
  local img = helpers.create(st, { names = names })
  assert(st:set_loaded_time(img.id, NOW - age))
  if size then assert(st:set_size(img.id, size)) end
  return img.id
end

-- The IDs of a plan's (or report list's) entries, sorted.
local function ids(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e.id end
  table.sort(out)
  return out
end

local function sorted(...)
  local out = { ... }
  table.sort(out)
  return out
end

-- id -> rule of a plan's images.
local function rules(plan)
  local out = {}
  for _, e in ipairs(plan.images) do out[e.id] = e.rule end
  return out
end

local function plan_of(st, policy)
  policy.now = policy.now or NOW
  local plan, msg, code = gc.plan(st, policy)
  assert(plan, tostring(msg) .. " " .. tostring(code))
  return plan
end

-- Only strings, numbers, booleans and tables of them (no cycles).
local function plain(v, seen)
  seen = seen or {}
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" then return true end
  if t ~= "table" or seen[v] then return false end
  seen[v] = true
  for k, x in pairs(v) do
    if not plain(k, seen) or not plain(x, seen) then return false end
  end
  return true
end

-- Where the build under test keeps spec/faults' shim (build/ or build/asan/).
local function fault_shim()
  local core = package.searchpath("imagestore.core", package.cpath)
  local build = core and core:match("^(.*)/lua/imagestore/core%.so$")
  local shim = build and build .. "/test/fault_shim.so"
  return shim and helpers.is_file(shim) and shim or nil
end

describe("imagestore.gc", function()
  local root, dir, st

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    st = assert(imagestore.open(dir))
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("plan", function()
    it("dangling: selects the images without names", function()
      local none = mk(st, {}, 10)
      mk(st, { "example.com/app:1" }, 10 * DAY)
      local plan = plan_of(st, { dangling = true })
      assert.are.same({ none }, ids(plan.images))
      assert.are.equal("dangling", plan.images[1].rule)
      assert.are.equal("no names", plan.images[1].reason)
      assert.are.same({}, plan.images[1].names)
    end)

    it("older_than: by the loaded time, strictly older than the age", function()
      local old = mk(st, { "example.com/a:1" }, DAY + 1)
      mk(st, { "example.com/b:1" }, DAY) -- exactly the age: not older
      mk(st, { "example.com/c:1" }, 60)
      local plan = plan_of(st, { older_than = DAY })
      assert.are.same({ old }, ids(plan.images))
      assert.are.equal("loaded (or else created) more than 86400 s ago", plan.images[1].reason)
      -- the same age as a duration string
      assert.are.same({ old }, ids(plan_of(st, { older_than = "1d" }).images))
      assert.are.same({ old }, ids(plan_of(st, { older_than = "23h60m" }).images))
    end)

    it("older_than: falls back to the created time when there is no loaded time", function()
      local id = helpers.create(st, { names = { "example.com/a:1" }, created = NOW - 2 * DAY }).id
      st:close()
      local path = dir .. "/" .. id .. "/images.json"
      local text = helpers.read_file(path):gsub(',?"loaded":"[^"]*"', "")
      helpers.write_file(path, text)
      st = assert(imagestore.open(dir))
      assert.is_nil(st:get(id).loaded)
      local plan = plan_of(st, { older_than = DAY })
      assert.are.same({ id }, ids(plan.images))
      assert.is_nil(plan.images[1].loaded)
      assert.are.equal("2027-01-13T08:00:00.000000000Z", plan.images[1].created)
    end)

    it("keep_last: keeps the N most recently loaded images of each repository", function()
      local a1 = mk(st, { "example.com/a:1" }, 400)
      local a2 = mk(st, { "example.com/a:2" }, 300)
      local a3 = mk(st, { "example.com/a:3", "example.com/a:latest" }, 200) -- counts once
      local a4 = mk(st, { "example.com/a:4" }, 100)
      local b1 = mk(st, { "example.com/b:1" }, 900)
      local plan = plan_of(st, { keep_last = 2 })
      assert.are.same(sorted(a1, a2), ids(plan.images))
      for _, e in ipairs(plan.images) do
        assert.are.equal("keep_last", e.rule)
        assert.are.equal("not among the 2 most recently loaded images of example.com/a", e.reason)
      end
      assert.are.same({}, ids(plan_of(st, { keep_last = 5 }).images))
      assert.are.same(sorted(a1, a2, a3, a4, b1), ids(plan_of(st, { keep_last = 0 }).images))
    end)

    it("keep_last: groups names by the naming rules, and keeps an image kept in any of its repositories", function()
      local short = mk(st, { "busybox:1" }, 300)
      mk(st, { "docker.io/library/busybox:2" }, 200) -- the newest of docker.io/library/busybox
      mk(st, { "docker.io/busybox:3", "example.com/mine:1" }, 400) -- the newest of example.com/mine
      local mine2 = mk(st, { "example.com/mine:2" }, 500)
      local plan = plan_of(st, { keep_last = 1 })
      assert.are.same(sorted(short, mine2), ids(plan.images))
      local why = {}
      for _, e in ipairs(plan.images) do why[e.id] = e.reason end
      assert.are.same({
        [short] = "not among the 1 most recently loaded images of docker.io/library/busybox",
        [mine2] = "not among the 1 most recently loaded images of example.com/mine",
      }, why)
    end)

    it("keep_last: a tag, a digest or a port do not split a repository", function()
      local digest = "sha256:" .. ("ab"):rep(32)
      local by_port = mk(st, { "localhost:5000/app:1" }, 300)
      local by_digest = mk(st, { "localhost:5000/app@" .. digest }, 200)
      mk(st, { "localhost:5000/app:2" }, 100)
      local both = mk(st, { "example.com/x/y:1@" .. digest }, 300)
      mk(st, { "example.com/x/y" }, 100)
      local plan = plan_of(st, { keep_last = 1 })
      assert.are.same(sorted(by_port, by_digest, both), ids(plan.images))
      local why = {}
      for _, e in ipairs(plan.images) do why[e.id] = e.reason end
      assert.are.equal("not among the 1 most recently loaded images of localhost:5000/app", why[by_port])
      assert.are.equal("not among the 1 most recently loaded images of example.com/x/y", why[both])
    end)

    it("budget: above high, frees the least recently loaded images until at or below low", function()
      local a = mk(st, { "example.com/a:1" }, 500, 400)
      local b = mk(st, { "example.com/b:1" }, 400, 300)
      mk(st, { "example.com/c:1" }, 300, 200)
      mk(st, { "example.com/d:1" }, 200, 100)
      -- usage 1000: at high nothing happens
      local plan = plan_of(st, { budget = { high = 1000, low = 500 } })
      assert.are.same({}, plan.images)
      assert.are.same({ by = "size", high = 1000, low = 500, min_age = 0, usage = 1000,
                        after = 1000, triggered = false, reached = true }, plan.budget)
      -- above high: a (400) leaves 600, b (300) leaves 300 <= 500
      plan = plan_of(st, { budget = { high = 999, low = 500 } })
      assert.are.same(sorted(a, b), ids(plan.images))
      assert.are.equal("least recently loaded while size 1000 is above 999, freeing to 500",
        plan.images[1].reason)
      assert.are.same({ by = "size", high = 999, low = 500, min_age = 0, usage = 1000,
                        after = 300, triggered = true, reached = true }, plan.budget)
      -- exactly reaching low stops there
      plan = plan_of(st, { budget = { high = 999, low = 600 } })
      assert.are.same({ a }, ids(plan.images))
      plan = plan_of(st, { budget = { high = 0, low = 0 } })
      assert.are.equal(4, #plan.images)
      assert.are.same({ images = 4, size = 1000 }, plan.freed)
    end)

    it("budget: by image count", function()
      local a = mk(st, { "example.com/a:1" }, 500)
      local b = mk(st, { "example.com/b:1" }, 400)
      mk(st, { "example.com/c:1" }, 300)
      mk(st, { "example.com/d:1" }, 200)
      local plan = plan_of(st, { budget = { by = "count", high = 3, low = 2 } })
      assert.are.same(sorted(a, b), ids(plan.images))
      assert.are.same({ by = "count", high = 3, low = 2, min_age = 0, usage = 4, after = 2,
                        triggered = true, reached = true }, plan.budget)
      assert.are.same({}, plan_of(st, { budget = { by = "count", high = 4, low = 0 } }).images)
    end)

    it("budget: never frees an image younger than min_age, and says when low is out of reach", function()
      local old = mk(st, { "example.com/a:1" }, 2 * DAY, 100)
      mk(st, { "example.com/b:1" }, DAY - 1, 100)
      mk(st, { "example.com/c:1" }, 60, 100)
      local plan = plan_of(st, { budget = { high = 100, low = 0, min_age = DAY } })
      assert.are.same({ old }, ids(plan.images))
      assert.are.same({ by = "size", high = 100, low = 0, min_age = DAY, usage = 300, after = 200,
                        triggered = true, reached = false }, plan.budget)
      -- an image exactly min_age old may go
      plan = plan_of(st, { budget = { high = 100, low = 0, min_age = DAY - 1 } })
      assert.are.equal(2, #plan.images)
      assert.matches("low not reached", gc.format(plan), 1, true)
    end)

    it("combines the rules: an image any rule selects is in the plan, under the first rule", function()
      local dangling_old = mk(st, {}, 10 * DAY, 10)
      local old = mk(st, { "example.com/a:1" }, 10 * DAY, 10)
      local surplus = mk(st, { "example.com/a:2" }, 100, 10)
      mk(st, { "example.com/a:3" }, 50, 10)
      local big = mk(st, { "example.com/b:1" }, 200, 1000)
      mk(st, { "example.com/c:1" }, 10, 1000)
      local plan = plan_of(st, { dangling = true, older_than = DAY, keep_last = 1,
                                 budget = { high = 1500, low = 1100 } })
      assert.are.same({ [dangling_old] = "dangling", [old] = "older_than",
                        [surplus] = "keep_last", [big] = "budget" }, rules(plan))
      -- the other rules' removals count towards the budget first
      assert.are.equal(2040 - 1030, plan.budget.after)
      assert.are.same({ images = 4, size = 1030 }, plan.freed)
      assert.are.same({ images = 6, size = 2040 }, plan.usage)
    end)

    it("protect: names, repositories and patterns beat every rule", function()
      local by_name = mk(st, { "example.com/keep:1" }, 10 * DAY, 10)
      local by_short_name = mk(st, { "docker.io/library/busybox:latest" }, 10 * DAY, 10)
      local by_repo = mk(st, { "example.com/base:7" }, 10 * DAY, 10)
      local by_pattern = mk(st, { "registry.k8s.io/pause:3.9" }, 10 * DAY, 10)
      local gone = mk(st, { "example.com/other:1" }, 10 * DAY, 10)
      local policy = {
        older_than = 0, keep_last = 0, budget = { high = 0, low = 0 },
        protect = { names = { "example.com/keep:1", "busybox" },
                    repositories = { "example.com/base" }, patterns = { "/pause:" } },
      }
      local plan = plan_of(st, policy)
      assert.are.same({ gone }, ids(plan.images))
      local why = {}
      for _, e in ipairs(plan.kept) do why[e.id] = e.spared_by .. ": " .. e.why end
      assert.are.same({
        [by_name] = "protect: name example.com/keep:1 is protected",
        [by_short_name] = "protect: name docker.io/library/busybox:latest is protected",
        [by_repo] = "protect: repository example.com/base is protected",
        [by_pattern] = 'protect: name registry.k8s.io/pause:3.9 matches protected pattern "/pause:"',
      }, why)
      assert.are.same({ by = "size", high = 0, low = 0, min_age = 0, usage = 50, after = 40,
                        triggered = true, reached = false }, plan.budget)
    end)

    it("protect: a pattern that fails on a name protects that image, and says so", function()
      local odd = mk(st, { "example.com/aqa:1" }, 10)
      local other = mk(st, { "example.com/xyz:1" }, 10)
      -- "q%" is malformed, which Lua notices only when a name gets as far as a "q"
      local plan = plan_of(st, { keep_last = 0, protect = { patterns = { "q%" } } })
      assert.are.same({ other }, ids(plan.images))
      assert.are.same({ odd }, ids(plan.kept))
      assert.are.equal([[name example.com/aqa:1 meets protected pattern "q%", which fails: ]]
        .. [[malformed pattern (ends with '%')]], plan.kept[1].why)
    end)

    it("in_use: a function, a set or a list of IDs beats every rule", function()
      local used = mk(st, {}, 10 * DAY, 10)
      local free = mk(st, {}, 10 * DAY, 10)
      local used2 = mk(st, { "example.com/a:1" }, 10 * DAY, 10)
      local seen = {}
      local function in_use(img)
        seen[#seen + 1] = img.id
        return img.id == used or img.id == used2
      end
      for _, form in ipairs({ in_use, { [used] = true, [used2] = true }, { used, used2 } }) do
        local plan = plan_of(st, { dangling = true, older_than = 0, keep_last = 0,
                                   budget = { by = "count", high = 0, low = 0 }, in_use = form })
        assert.are.same({ free }, ids(plan.images))
        assert.are.same(sorted(used, used2), ids(plan.kept))
        for _, e in ipairs(plan.kept) do assert.are.equal("in_use", e.spared_by) end
      end
      assert.is_true(#seen >= 3) -- called with the image's summary
    end)

    it("changes nothing on disk (a dry run)", function()
      mk(st, {}, 10 * DAY, 10)
      mk(st, { "example.com/a:1" }, 10 * DAY, 10)
      helpers.mkdir(dir .. "/.tmp-leftover")
      local before = helpers.tree_hash(dir)
      local plan = plan_of(st, { dangling = true, older_than = 0, budget = { high = 0, low = 0 } })
      assert.are.equal(2, #plan.images)
      assert.are.equal(1, #assert(gc.store(st, { dry_run = true, quarantine_older_than = 0 })))
      assert.is_string(gc.format(plan))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("is plain data that serializes and applies after a round trip through JSON", function()
      local a = mk(st, {}, 10)
      mk(st, { "example.com/a:1" }, 10)
      local plan = plan_of(st, { dangling = true, budget = { high = 1, low = 0 },
                                 protect = { patterns = { "^example" } },
                                 in_use = function() return false end })
      assert.is_true(plain(plan))
      assert.are.same({ dangling = true, budget = { by = "size", high = 1, low = 0, min_age = 0 },
                        protect = { patterns = { "^example" } } }, plan.policy)
      local text = assert(json.encode(plan))
      assert.are.equal(text, json.encode(plan_of(st, { dangling = true, budget = { high = 1, low = 0 },
        protect = { patterns = { "^example" } } }))) -- stable
      local report = assert(gc.apply(st, assert(json.decode(text))))
      assert.are.same({ a }, ids(report.removed))
      assert.is_false(st:exists(a))
    end)

    it("leaves out the images of additional stores, whose names protect nothing", function()
      local lower = root .. "/lower"
      local below_old, below_new
      do
        local l <close> = assert(imagestore.open(lower))
        below_old = mk(l, { "example.com/app:1" }, 10 * DAY, 10)
        below_new = mk(l, { "example.com/app:2" }, 1, 10)
        mk(l, {}, 10 * DAY, 10)
      end
      local mine = mk(st, { "example.com/app:1" }, 10 * DAY, 10) -- the same name as below_old
      local mine_new = mk(st, { "example.com/app:3" }, 5, 10)
      st:close()
      st = assert(imagestore.open(dir, { additional = { lower } }))
      assert.are.equal(5, #st:images())
      local plan = plan_of(st, { dangling = true, older_than = DAY })
      assert.are.same({ mine }, ids(plan.images))
      -- below_new does not count among example.com/app's newest
      plan = plan_of(st, { keep_last = 2, budget = { by = "count", high = 2, low = 2 } })
      assert.are.same({}, plan.images)
      assert.are.same({ images = 2, size = 20 }, plan.usage)
      local report = assert(gc.apply(st, plan_of(st, { older_than = DAY })))
      assert.are.same({ mine }, ids(report.removed))
      assert.are.equal(below_old, st:lookup("example.com/app:1")) -- the lower image shows through
      assert.is_true(st:exists(below_new) and st:exists(mine_new))
    end)

    it("refuses a bad policy: misuse raises, a bad value is EINVAL", function()
      assert.has_error(function() gc.plan(st, { keep = 1 }) end, "bad policy: unknown key 'keep'")
      assert.has_error(function() gc.plan(st, { dangling = 1 }) end,
        "bad policy 'dangling' (boolean expected, got number)")
      assert.has_error(function() gc.plan(st, { keep_last = "3" }) end,
        "bad policy 'keep_last' (number expected, got string)")
      assert.has_error(function() gc.plan(st, { budget = { high = 1, low = 0, max = 2 } }) end,
        "bad policy 'budget': unknown key 'max'")
      assert.has_error(function() gc.plan(st, { in_use = { "abc" } }) end,
        "bad policy 'in_use' (a set {[id] = true} or list of full image IDs expected, got 1 = abc)")
      assert.has_error(function() gc.plan(st, { protect = { names = { 1 } } }) end,
        "bad policy 'protect.names' (item 1: string expected, got number)")
      helpers.fails("EINVAL", "invalid policy: budget.low (5) is above budget.high (4)",
        gc.plan(st, { budget = { high = 4, low = 5 } }))
      helpers.fails("EINVAL", "invalid policy: budget needs both high and low",
        gc.plan(st, { budget = { high = 4 } }))
      helpers.fails("EINVAL", 'invalid policy: budget.by must be "size" or "count", got "bytes"',
        gc.plan(st, { budget = { by = "bytes", high = 4, low = 1 } }))
      helpers.fails("EINVAL", "invalid policy: keep_last must not be negative, got -1",
        gc.plan(st, { keep_last = -1 }))
      helpers.fails("EINVAL", "invalid policy: keep_last must be a whole number, got 1.5",
        gc.plan(st, { keep_last = 1.5 }))
      helpers.fails("EINVAL", 'invalid policy: older_than: "7 days" is not a duration (such as "90s", "12h", "7d", "1d12h")',
        gc.plan(st, { older_than = "7 days" }))
      helpers.fails("EINVAL", "invalid policy: older_than must be a number of seconds >= 0, got -1",
        gc.plan(st, { older_than = -1 }))
      helpers.fails("EINVAL", 'invalid policy: protect.patterns item 1 "[a": malformed pattern (missing \']\')',
        gc.plan(st, { protect = { patterns = { "[a" } } }))
    end)
  end)

  describe("apply", function()
    it("removes the planned images in durable batches, firing the event hooks", function()
      local made = {}
      for i = 1, 5 do made[i] = mk(st, {}, i, 10 + i) end
      mk(st, { "example.com/kept:1" }, 1)
      local deleted = {}
      assert(st:add_hook("event", function(ev)
        if ev.kind == "delete" then deleted[#deleted + 1] = ev.id end
      end))
      local plan = plan_of(st, { dangling = true })
      local report = assert(gc.apply(st, plan, { batch_size = 2 }))
      assert.are.same(sorted(table.unpack(made)), ids(report.removed))
      assert.are.same(sorted(table.unpack(made)), sorted(table.unpack(deleted)))
      assert.are.same({ images = 5, size = 11 + 12 + 13 + 14 + 15 }, report.freed)
      assert.are.same({}, report.skipped)
      assert.are.same({}, report.failed)
      assert.are.same({}, report.left)
      -- what another store sees now, and the disk
      local other <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(1, #other:images())
      assert.are.equal(1, #helpers.list_visible(dir))
      assert.are.same({}, st:check())
    end)

    it("skips an image that got a name between plan and apply, and says so", function()
      local a = mk(st, {}, 10)
      local b = mk(st, {}, 10)
      local plan = plan_of(st, { dangling = true })
      assert(st:add_name(b, "example.com/late:1")) -- the race: a name arrives after the plan
      local report = assert(gc.apply(st, plan))
      assert.are.same({ a }, ids(report.removed))
      assert.are.same({ { id = b, names = {},
                          reason = "names changed since the plan: now example.com/late:1" } },
        report.skipped)
      assert.is_true(st:exists(b))
      assert.is_false(st:exists(a))
    end)

    it("skips an image loaded again, gone, or in use by then", function()
      local reloaded = mk(st, {}, 10)
      local gone = mk(st, {}, 10)
      local used = mk(st, {}, 10)
      local free = mk(st, {}, 10)
      local plan = plan_of(st, { dangling = true })
      assert(st:set_loaded_time(reloaded, NOW))
      assert(st:delete(gone))
      local report = assert(gc.apply(st, plan, { in_use = { used } }))
      assert.are.same({ free }, ids(report.removed))
      local why = {}
      for _, e in ipairs(report.skipped) do why[e.id] = e.reason end
      assert.are.same({
        [reloaded] = "loaded time changed since the plan: now 2027-01-15T08:00:00.000000000Z",
        [gone] = "gone",
        [used] = "in use",
      }, why)
    end)

    it("goes on past a deletion a hook refuses, and returns what it did with the failure", function()
      local made = {}
      for i = 1, 4 do made[i] = mk(st, {}, i) end
      local vetoed = made[2]
      assert(st:add_hook("event", function(ev)
        if ev.kind == "delete" and ev.id == vetoed then error("this one stays", 0) end
      end))
      local plan = plan_of(st, { dangling = true })
      local ok, msg, code, report = gc.apply(st, plan, { batch_size = 3 })
      assert.is_nil(ok)
      assert.are.equal("event hook failed: this one stays", msg)
      assert.are.equal("EHOOK", code)
      assert.are.same({ { id = vetoed, names = {}, message = msg, code = "EHOOK" } }, report.failed)
      assert.are.same(sorted(made[1], made[3], made[4]), ids(report.removed))
      -- the disk says the same as the report
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({ vetoed }, helpers.ids(st:images()))
    end)

    it("stops at a batch whose commit fails: earlier batches stay removed, the report says which", function()
      local shim = fault_shim()
      if not shim then
        pending("spec/faults' shim is not built next to the module")
        return
      end
      local made = {}
      for i = 1, 5 do made[i] = mk(st, {}, 6 - i) end
      local plan = plan_of(st, { dangling = true })
      local order = {}
      for i, e in ipairs(plan.images) do order[i] = e.id end
      local plan_file = root .. "/plan.json"
      helpers.write_file(plan_file, assert(json.encode(plan)))
      local script = root .. "/apply.lua"
      helpers.write_file(script, [[
        local imagestore = require("imagestore")
        local gc = require("imagestore.gc")
        local json = require("imagestore.json")
        local f = assert(io.open(arg[2], "rb"))
        local plan = assert(json.decode(f:read("a")))
        f:close()
        local st = assert(imagestore.open(arg[1]))
        local ok, msg, code, report = gc.apply(st, plan, { batch_size = 2 })
        io.write((assert(json.encode({ ok = ok ~= nil, msg = msg, code = code,
                                       report = ok or report }))))
        st:close()
      ]])
      st:close()
      st = nil
      -- the 4th image's rename away fails: the second batch (3rd and 4th) is not committed
      local lua = os.getenv("IMAGESTORE_LUA") or "lua5.4"
      local preload = lua:match("LD_PRELOAD=(%S+)")
      local cmd = ("env LD_PRELOAD=%s IMAGESTORE_FAULT=rename:1:EIO IMAGESTORE_FAULT_PATH=%s %s %s %s %s 2>&1")
        :format(helpers.shell_quote((preload and preload .. " " or "") .. shim), order[4],
          (lua:gsub("^env LD_PRELOAD=%S+ ", "")), helpers.shell_quote(script),
          helpers.shell_quote(dir), helpers.shell_quote(plan_file))
      local out = helpers.run(cmd)
      local got = assert(json.decode(out), out)
      assert.is_false(got.ok)
      assert.are.equal("EIO", got.code)
      assert.are.equal(("rename %s/%s: Input/output error"):format(dir, order[4]), got.msg)
      local r = got.report
      assert.are.same(sorted(order[1], order[2]), ids(r.removed))
      assert.are.same(sorted(order[3], order[4]), ids(r.failed))
      assert.are.same({ { id = order[5] } }, r.left)
      for _, e in ipairs(r.failed) do assert.are.equal(got.msg, e.message) end
      st = assert(imagestore.open(dir))
      assert.are.same(sorted(order[3], order[4], order[5]), helpers.ids(st:images()))
      assert.are.same({}, st:check())
    end)

    it("fails on a read-only store with every image left", function()
      local a = mk(st, {}, 10)
      local plan = plan_of(st, { dangling = true })
      local ro <close> = assert(imagestore.open(dir, { readonly = true }))
      local ok, msg, code, report = gc.apply(ro, plan)
      assert.is_nil(ok)
      assert.are.equal("store is read-only: cannot batch", msg)
      assert.are.equal("EREADONLY", code)
      assert.are.same({ { id = a } }, report.left)
      assert.are.same({}, report.removed)
    end)

    it("refuses a malformed plan or option", function()
      assert.has_error(function() gc.apply(st, nil) end,
        "bad argument #2 to 'apply' (plan expected, got nil)")
      assert.has_error(function() gc.apply(st, { images = { { id = "abc", names = {} } } }) end,
        "bad plan: images[1] (an entry with a full image id and names expected)")
      assert.has_error(function() gc.apply(st, { images = {} }, { batch_size = 0 }) end,
        "bad option 'batch_size' (integer >= 1 expected, got 0)")
      assert.has_error(function() gc.apply(st, { images = {} }, { dry = true }) end,
        "unknown option 'dry'")
    end)
  end)

  describe("store", function()
    local id

    before_each(function()
      id = helpers.create(st, { names = { "example.com/a:1" } }).id
      assert(st:set_big_data(id, "manifest", "recorded"))
      helpers.mkdir(dir .. "/.tmp-0123456789abcdef")
      helpers.write_file(dir .. "/.tmp-0123456789abcdef/images.json", "{}")
      helpers.write_file(dir .. "/" .. id .. "/config", "unrecorded big data")
      helpers.write_file(dir .. "/" .. id .. "/=" .. helpers.base64("sha256:x"), "unrecorded too")
      helpers.write_file(dir .. "/" .. id .. "/Notes.TXT", "not a big-data file name")
    end)

    local function summary(list)
      local out = {}
      for _, e in ipairs(list) do
        out[#out + 1] = e.kind .. " " .. e.path:sub(#dir + 2) .. ": " .. e.problem
        assert.is_true(e.bytes > 0)
      end
      return out
    end

    it("lists in a dry run, then removes temp entries and unrecorded big-data files, nothing else", function()
      local before = helpers.tree_hash(dir)
      local b64 = "=" .. helpers.base64("sha256:x")
      local want = {
        "temp-file .tmp-0123456789abcdef: %s leftover temporary entry .tmp-0123456789abcdef",
        ("orphan-file %s/%s: %%s big-data file %s of image %s, which its record does not name")
          :format(id, b64, b64, id),
        ("orphan-file %s/config: %%s big-data file config of image %s, which its record does not name")
          :format(id, id),
      }
      local function with(verb)
        local out = {}
        for i, w in ipairs(want) do out[i] = w:format(verb) end
        return out
      end
      assert.are.same(with("would remove"), summary(assert(gc.store(st, { dry_run = true }))))
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.same(with("removed"), summary(assert(gc.store(st))))
      assert.are.same({ "Notes.TXT", "images.json", "manifest" }, helpers.list_dir(dir .. "/" .. id))
      assert.is_false(helpers.exists(dir .. "/.tmp-0123456789abcdef"))
      assert.are.equal("recorded", st:big_data(id, "manifest"))
      assert.are.same({}, gc.store(st))
    end)

    it("removes quarantined entries older than the age it is given, and only then", function()
      helpers.mkdir(dir .. "/junk1") -- not images: repair quarantines them
      helpers.mkdir(dir .. "/junk2")
      assert(st:repair()) -- and Notes.TXT, into .quarantine/<id>/
      local q = dir .. "/.quarantine"
      assert.are.same({ id, "junk1", "junk2" }, helpers.list_dir(q))
      local function quarantined(list)
        local out = {}
        for _, e in ipairs(list) do
          if e.kind == "quarantined" then out[#out + 1] = e.path:sub(#dir + 2) .. ": " .. e.problem end
        end
        return out
      end
      assert.are.same({}, quarantined(assert(gc.store(st, { dry_run = true }))))
      -- just moved there: not older than a day
      assert.are.same({}, quarantined(assert(gc.store(st, { quarantine_older_than = "1d" }))))
      assert.are.same({ id, "junk1", "junk2" }, helpers.list_dir(q))
      local later = os.time() + 2 * DAY
      local text = ".quarantine/%s: %s quarantined %s, unchanged for more than 86400 seconds"
      local function all(verb)
        return { text:format(id, verb, id), text:format("junk1", verb, "junk1"),
                 text:format("junk2", verb, "junk2") }
      end
      assert.are.same(all("would remove"), quarantined(assert(gc.store(st,
        { dry_run = true, quarantine_older_than = DAY, now = later }))))
      assert.are.same(all("removed"), quarantined(assert(gc.store(st,
        { quarantine_older_than = DAY, now = later }))))
      assert.are.same({}, helpers.list_dir(q))
    end)

    it("never follows a symlink out of the store", function()
      local outside = root .. "/outside"
      helpers.mkdir(outside .. "/deep")
      helpers.write_file(outside .. "/deep/precious", "keep me")
      helpers.execute("ln -s " .. helpers.shell_quote(outside) .. " " .. helpers.shell_quote(dir .. "/.tmp-link"))
      helpers.mkdir(dir .. "/.quarantine")
      helpers.execute("ln -s " .. helpers.shell_quote(outside) .. " " .. helpers.shell_quote(dir .. "/.quarantine/link"))
      helpers.execute("ln -s " .. helpers.shell_quote(outside .. "/deep/precious") .. " "
        .. helpers.shell_quote(dir .. "/" .. id .. "/sha256"))
      local before = helpers.tree_hash(outside)
      local list = assert(gc.store(st, { quarantine_older_than = 0, now = os.time() + 10 }))
      local removed = {}
      for _, e in ipairs(list) do removed[#removed + 1] = e.path:sub(#dir + 2) end
      table.sort(removed)
      assert.are.same(sorted(".quarantine/link", ".tmp-0123456789abcdef", ".tmp-link",
        id .. "/" .. "=" .. helpers.base64("sha256:x"), id .. "/config"), removed)
      assert.are.equal(before, helpers.tree_hash(outside))
      assert.is_true(helpers.exists(dir .. "/" .. id .. "/sha256")) -- a symlink is not big data
      -- .quarantine itself a symlink: nothing below it is touched
      helpers.rm_rf(dir .. "/.quarantine")
      helpers.execute("ln -s " .. helpers.shell_quote(outside) .. " " .. helpers.shell_quote(dir .. "/.quarantine"))
      assert.are.same({}, assert(gc.store(st, { quarantine_older_than = 0, now = os.time() + 10 })))
      assert.are.equal(before, helpers.tree_hash(outside))
    end)

    it("works for a daemon, only under the exclusive lock: not in a batch, not read-only", function()
      st:close()
      st = assert(imagestore.open(dir, { daemon = true })) -- its open removed the top-level temp
      assert.are.equal(2, #assert(gc.store(st, { dry_run = true })))
      local ok, msg, code
      assert(st:batch(function(b)
        ok, msg, code = gc.store(b)
      end))
      helpers.fails("EINVAL", "cannot collect garbage inside a batch", ok, msg, code)
      local ro <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(2, #assert(gc.store(ro, { dry_run = true })))
      helpers.fails("EREADONLY", "store is read-only: cannot collect garbage", gc.store(ro))
      assert.are.equal(2, #assert(gc.store(st)))
    end)

    it("refuses bad options", function()
      assert.has_error(function() gc.store(st, { dryrun = true }) end, "unknown option 'dryrun'")
      assert.has_error(function() gc.store(st, { dry_run = 1 }) end,
        "bad option 'dry_run' (boolean expected, got number)")
      helpers.fails("EINVAL", 'invalid option: quarantine_older_than: "soon" is not a duration (such as "90s", "12h", "7d", "1d12h")',
        gc.store(st, { quarantine_older_than = "soon" }))
      assert.has_error(function() st:store_gc{ quarantine_age = -1 } end,
        "bad option 'quarantine_age' (must not be negative)")
    end)
  end)

  describe("the example", function()
    it("examples/gc.lua prints the plan as a table, and with --dry-run changes nothing", function()
      local named = mk(st, { "example.com/app:1" }, 10)
      local dangling = mk(st, {}, 10)
      st:close()
      st = nil
      local example = (os.getenv("IMAGESTORE_ROOT") or ".") .. "/examples/gc.lua"
      local before = helpers.tree_hash(dir)
      local p = helpers.spawn_lua(example, dir, "--dry-run")
      local out = p:read("a")
      assert.is_true(p:close(), out)
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.matches("IMAGE%s+NAMES%s+SIZE%s+LOADED%s+RULE\n" .. dangling:sub(1, 12) .. "%s+<none>", out)
      assert.matches("dry run: nothing removed", out, 1, true)
      p = helpers.spawn_lua(example, dir)
      out = p:read("a")
      assert.is_true(p:close(), out)
      assert.matches("removed 1 image(s)", out, 1, true)
      local after <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.same({ named }, helpers.ids(after:images()))
    end)
  end)
end)
