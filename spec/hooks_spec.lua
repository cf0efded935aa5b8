-- Hooks: Lua functions the store calls before a name is stored or looked up
-- (name hooks) and when a change is about to be committed (event hooks).

local helpers = require("spec.helpers")
local create, fails, succeeds = helpers.create, helpers.fails, helpers.succeeds
local imagestore = require("imagestore")

local ID_A = string.rep("a", 63) .. "1"
local ID_B = string.rep("b", 63) .. "2"

-- A name hook that puts short names under reg.example and refuses "bad*".
local function prefixing(name, use)
  if name:sub(1, 3) == "bad" then return nil, "names starting with bad are not allowed" end
  if name:find("/", 1, true) then return nil end
  if use == "lookup" then return { "reg.example/" .. name, "mirror.example/" .. name } end
  return "reg.example/" .. name
end

describe("hooks", function()
  local root, dir, st, events

  local function record(ev) events[#events + 1] = ev end

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    events = {}
    st = assert(imagestore.open(dir))
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("name hooks", function()
    it("normalize names on create, set_names, add_name and remove_name", function()
      succeeds(st:add_hook("name", prefixing))
      local img = create(st, { id = ID_A, names = { "busybox" } })
      assert.are.same({ "reg.example/busybox" }, img.names)
      succeeds(st:set_names(ID_A, { "alpine", "other/full:1" }))
      assert.are.same({ "reg.example/alpine", "other/full:1" }, st:get(ID_A).names)
      succeeds(st:add_name(ID_A, "debian"))
      assert.are.same({ "reg.example/alpine", "other/full:1", "reg.example/debian" },
        st:get(ID_A).names)
      succeeds(st:remove_name(ID_A, "alpine"))
      assert.are.same({ "other/full:1", "reg.example/debian" }, st:get(ID_A).names)
    end)

    it("normalize the names written to disk", function()
      succeeds(st:add_hook("name", prefixing))
      create(st, { id = ID_A, names = { "busybox" } })
      local record_file = helpers.read_json(dir .. "/" .. ID_A .. "/images.json")
      assert.are.same({ "reg.example/busybox" }, record_file.names)
    end)

    it("refuse a name with nil and a message: EINVAL with that message, nothing changes", function()
      succeeds(st:add_hook("name", prefixing))
      create(st, { id = ID_A, names = { "busybox" } })
      local before = helpers.tree_hash(dir)
      fails("EINVAL", "names starting with bad are not allowed", st:create{ id = ID_B, names = { "bad1" } })
      fails("EINVAL", "names starting with bad are not allowed", st:set_names(ID_A, { "ok", "bad2" }))
      fails("EINVAL", "names starting with bad are not allowed", st:add_name(ID_A, "bad3"))
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.same({ "reg.example/busybox" }, st:get(ID_A).names)
      assert.is_false(st:exists(ID_B))
    end)

    it("give lookup candidates: one found is the image, several are EAMBIGUOUS and listed", function()
      create(st, { id = ID_A, names = { "reg.example/busybox" } })
      succeeds(st:add_hook("name", prefixing))
      assert.are.equal(ID_A, st:lookup("busybox"))
      assert.are.equal(ID_A, st:get("busybox").id)
      assert.is_true(st:exists("busybox"))
      create(st, { id = ID_B, names = { "mirror.example/busybox" } })
      fails("EAMBIGUOUS", 'image reference "busybox" is ambiguous: matches reg.example/busybox '
        .. "(image aaaaaaaaaaaa), mirror.example/busybox (image bbbbbbbbbbbb)", st:get("busybox"))
      -- an exact name, the full ID and an ID prefix need no candidates
      assert.are.equal(ID_B, st:lookup("mirror.example/busybox"))
      assert.are.equal(ID_B, st:lookup("bbbb"))
    end)

    it("see the names the hook before them gave", function()
      local seen = {}
      succeeds(st:add_hook("name", prefixing))
      succeeds(st:add_hook("name", function(name, use)
        seen[#seen + 1] = use .. " " .. name
        if name:find("^reg%.example/") then return (name:gsub("^reg", "registry")) end
      end))
      create(st, { id = ID_A, names = { "busybox" } })
      assert.are.same({ "registry.example/busybox" }, st:get(ID_A).names)
      assert.are.equal(ID_A, st:lookup("busybox"))
      assert.are.same({
        "store reg.example/busybox",
        "lookup reg.example/busybox", "lookup mirror.example/busybox",
      }, seen)
    end)

    it("that raise fail the operation with EHOOK and their message", function()
      create(st, { id = ID_A, names = { "one" } })
      succeeds(st:add_hook("name", function(name) if name == "boom" then error("no such luck", 0) end end))
      local before = helpers.tree_hash(dir)
      fails("EHOOK", "name hook failed: no such luck", st:add_name(ID_A, "boom"))
      fails("EHOOK", "name hook failed: no such luck", st:get("boom"))
      fails("EHOOK", "name hook failed: no such luck", st:exists("boom"))
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.same({ "one" }, st:get(ID_A).names)
    end)

    it("that return something odd fail with EHOOK naming it", function()
      succeeds(st:add_hook("name", function() return 42 end))
      fails("EHOOK", "name hook failed: name hook returned a number; want nothing, a string, "
        .. "or nil and a message", st:create{ names = { "x" } })
    end)

    it("cannot give a stored name several names", function()
      succeeds(st:add_hook("name", function(name) return { name, name .. "2" } end))
      fails("EHOOK", "name hook failed: name hook returned a table; want nothing, a string, "
        .. "or nil and a message", st:create{ names = { "x" } })
    end)
  end)

  describe("event hooks", function()
    it("observe create, names, big data, loaded time and delete with what changed", function()
      succeeds(st:add_hook("event", record))
      create(st, { id = ID_A, names = { "one" }, layer = "L1" })
      succeeds(st:add_name(ID_A, "two"))
      succeeds(st:set_big_data(ID_A, "manifest", "abc"))
      succeeds(st:set_loaded_time(ID_A, 1))
      succeeds(st:remove_name(ID_A, "one"))
      succeeds(st:delete(ID_A))
      assert.are.same({
        { kind = "create", id = ID_A, names = { "one" }, layer = "L1" },
        { kind = "names", id = ID_A, names = { "one", "two" }, old_names = { "one" } },
        { kind = "big_data", id = ID_A, key = "manifest", size = 3,
          digest = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { kind = "loaded", id = ID_A, loaded = "1970-01-01T00:00:01.000000000Z" },
        { kind = "names", id = ID_A, names = { "two" }, old_names = { "one", "two" } },
        { kind = "delete", id = ID_A, names = { "two" } },
      }, events)
    end)

    it("see every image set_names changes: the one named, then the ones that lost names", function()
      create(st, { id = ID_A, names = { "shared", "a" } })
      create(st, { id = ID_B, names = { "b" } })
      succeeds(st:add_hook("event", record))
      succeeds(st:set_names(ID_B, { "shared", "b" }))
      assert.are.same({
        { kind = "names", id = ID_B, names = { "shared", "b" }, old_names = { "b" } },
        { kind = "names", id = ID_A, names = { "a" }, old_names = { "shared", "a" } },
      }, events)
    end)

    it("that raise in the middle of set_names abort it: both images stay as they were", function()
      create(st, { id = ID_A, names = { "shared", "a" } })
      create(st, { id = ID_B, names = { "b" } })
      succeeds(st:add_hook("event", record))
      succeeds(st:add_hook("event", function(ev)
        if ev.id == ID_A then error("image " .. ev.id:sub(1, 4) .. " may not lose names", 0) end
      end))
      local before = helpers.tree_hash(dir)
      fails("EHOOK", "event hook failed: image aaaa may not lose names",
        st:set_names(ID_B, { "shared", "b" }))
      -- the first hook saw both events before the second refused the second one
      assert.are.equal(2, #events)
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.same({ "shared", "a" }, st:get(ID_A).names)
      assert.are.same({ "b" }, st:get(ID_B).names)
      assert.are.equal(ID_A, st:lookup("shared"))
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({ "shared", "a" }, st:get(ID_A).names)
      assert.are.same({ "b" }, st:get(ID_B).names)
    end)

    it("that raise abort create, delete, set_big_data and set_loaded_time", function()
      create(st, { id = ID_A, names = { "a" } })
      succeeds(st:set_big_data(ID_A, "manifest", "old"))
      succeeds(st:add_hook("event", function(ev) error({ kind = ev.kind }) end))
      local before = helpers.tree_hash(dir)
      local msg = "event hook failed: hook raised a table value"
      fails("EHOOK", msg, st:create{ id = ID_B, names = { "b" } })
      fails("EHOOK", msg, st:delete(ID_A))
      fails("EHOOK", msg, st:wipe())
      fails("EHOOK", msg, st:set_big_data(ID_A, "manifest", "new"))
      fails("EHOOK", msg, st:set_loaded_time(ID_A, 1))
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.is_false(st:exists(ID_B))
      assert.are.equal("old", st:big_data(ID_A, "manifest"))
      assert.are.same({}, helpers.temp_leftovers(dir))
    end)

    it("with a position in their message keep it", function()
      succeeds(st:add_hook("event", function() error("stop") end))
      local ok, msg, code = st:create{}
      assert.is_nil(ok)
      assert.are.equal("EHOOK", code)
      assert.matches("^event hook failed: .*hooks_spec%.lua:%d+: stop$", msg)
    end)

    it("run inside a batch, and a raise there leaves the batch to commit the rest", function()
      succeeds(st:add_hook("event", function(ev)
        if ev.kind == "create" and ev.names[1] == "refused" then error("not this one", 0) end
      end))
      succeeds(st:batch(function(b)
        create(b, { id = ID_A, names = { "kept" } })
        fails("EHOOK", "event hook failed: not this one", b:create{ id = ID_B, names = { "refused" } })
      end))
      st:close()
      st = assert(imagestore.open(dir))
      assert.is_true(st:exists("kept"))
      assert.is_false(st:exists(ID_B))
    end)

    it("do not run for a change that writes nothing", function()
      create(st, { id = ID_A, names = { "a" } })
      succeeds(st:add_hook("event", record))
      succeeds(st:add_name(ID_A, "a"))
      assert.are.same({}, events)
    end)
  end)

  describe("as functions", function()
    it("may not use the store they belong to: that raises inside the hook, EHOOK outside", function()
      create(st, { id = ID_A, names = { "a" } })
      succeeds(st:add_hook("event", function() st:get(ID_A) end))
      local ok, msg, code = st:add_name(ID_A, "b")
      assert.is_nil(ok)
      assert.are.equal("EHOOK", code)
      assert.matches("^event hook failed: [^:]*hooks_spec%.lua:%d+: cannot use the store from "
        .. "inside one of its hooks$", msg)
      assert.are.same({ "a" }, st:get(ID_A).names)
    end)

    it("may not close the store they belong to", function()
      succeeds(st:add_hook("event", function() st:close() end))
      local ok, msg, code = st:create{}
      assert.is_nil(ok)
      assert.are.equal("EHOOK", code)
      assert.matches("^event hook failed: [^:]*hooks_spec%.lua:%d+: cannot close the store from "
        .. "inside one of its hooks$", msg)
      assert.are.same({}, st:images())
    end)

    it("may use another store", function()
      local other <close> = assert(imagestore.open(root .. "/other"))
      succeeds(st:add_hook("event", function(ev)
        if ev.kind == "create" then assert(other:create{ id = ev.id, names = ev.names }) end
      end))
      create(st, { id = ID_A, names = { "mirrored" } })
      assert.are.equal(ID_A, other:lookup("mirrored"))
    end)

    it("run in the coroutine that called the store", function()
      local threads = {}
      succeeds(st:add_hook("event", function() threads[#threads + 1] = coroutine.running() end))
      local co = coroutine.create(function() create(st, {}) end)
      assert(coroutine.resume(co))
      create(st, {})
      assert.are.equal(co, threads[1])
      assert.are.equal((coroutine.running()), threads[2])
    end)

    it("that yield fail with EHOOK", function()
      succeeds(st:add_hook("event", function() coroutine.yield() end))
      local co = coroutine.wrap(function() return st:create{} end)
      local ok, msg, code = co()
      assert.is_nil(ok)
      assert.are.equal("EHOOK", code)
      assert.matches("^event hook failed: attempt to yield across a C%-call boundary", msg)
      assert.are.same({}, st:images())
    end)

    it("are removed with remove_hook, which says whether it found one", function()
      succeeds(st:add_hook("event", record))
      succeeds(st:add_hook("name", prefixing))
      assert.is_true(st:remove_hook(record))
      assert.is_true(st:remove_hook(prefixing))
      assert.is_false(st:remove_hook(record))
      create(st, { id = ID_A, names = { "plain" } })
      assert.are.same({}, events)
      assert.are.same({ "plain" }, st:get(ID_A).names)
    end)

    it("can be given to open, a function or a list per kind", function()
      st:close()
      local seen = {}
      st = assert(imagestore.open(dir, { hooks = {
        name = prefixing,
        event = { record, function(ev) seen[#seen + 1] = ev.kind end },
      } }))
      create(st, { id = ID_A, names = { "busybox" } })
      assert.are.same({ "reg.example/busybox" }, st:get(ID_A).names)
      assert.are.equal(1, #events)
      assert.are.same({ "create" }, seen)
    end)

    it("keep no store alive: a store whose hook holds it is still collected", function()
      local weak = setmetatable({}, { __mode = "v" })
      do
        local s2 = assert(imagestore.open(root .. "/collected"))
        assert(s2:add_hook("event", function() return s2 end))
        weak[1] = s2
      end
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])
    end)
  end)

  describe("misuse", function()
    it("raises for an unknown kind or a hook that is not a function", function()
      assert.has_error(function() st:add_hook("after", record) end,
        "bad argument #1 to 'add_hook' (invalid option 'after')")
      assert.has_error(function() st:add_hook("event", "record") end,
        "bad argument #2 to 'add_hook' (function expected, got string)")
      assert.has_error(function() st:remove_hook(1) end,
        "bad argument #1 to 'remove_hook' (function expected, got number)")
    end)

    it("raises for malformed hooks given to open, and opens nothing", function()
      st:close()
      st = nil
      collectgarbage("collect")
      -- nothing opened: no descriptor on anything below root (the store's
      -- directory, its lock file, the fresh path), the store's directory as
      -- it was, and a directory that was not there still is not. (Not the
      -- number of descriptors: other tests' garbage, collected at any time,
      -- moves it both ways.)
      local function fds_below(path)
        local out = helpers.run("ls -l /proc/$PPID/fd")
        local found = {}
        for target in out:gmatch("-> ([^\n]+)") do
          if target == path or target:sub(1, #path + 1) == path .. "/" then found[#found + 1] = target end
        end
        return found
      end
      local fresh = root .. "/fresh"
      local before = helpers.tree_hash(dir)
      assert.are.same({}, fds_below(root))
      local function opens_nothing(opts, message)
        assert.has_error(function() imagestore.open(dir, opts) end, message)
        assert.has_error(function() imagestore.open(fresh, opts) end, message)
        assert.are.same({}, fds_below(root), "open left a descriptor open")
        assert.are.equal(before, helpers.tree_hash(dir))
        assert.is_false(helpers.exists(fresh), "open made " .. fresh)
      end
      opens_nothing({ hooks = { after = record } }, "bad option 'hooks' (unknown hook kind 'after')")
      opens_nothing({ hooks = { event = { 1 } } }, "bad option 'hooks.event' (function expected, got number)")
      opens_nothing({ hooks = "x" }, "bad option 'hooks' (table expected, got string)")
    end)

    it("raises on a closed store", function()
      st:close()
      assert.has_error(function() st:add_hook("event", record) end, "attempt to use a closed store")
    end)
  end)
end)
