-- Additional stores (containers/storage's "additional image stores"): a
-- store opened with imagestore.open(dir, {additional = {dir2, dir3}}) looks
-- up references in itself, then in each read-only store below it, in order
-- (core/image_store.h, "Additional stores").

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local UNAVAILABLE = "additional store unavailable, its images left out: "

-- Opens dir as a plain store, runs fn(st) and closes it.
local function fill(dir, fn)
  local st <close> = assert(imagestore.open(dir))
  return fn(st)
end

local in_child = helpers.in_child

local function readonly_message(id, dir, op)
  return ("image %s is in the read-only additional store %s: cannot %s"):format(id, dir, op)
end

-- The problems() entries of kind "additional-store", path -> sentence.
local function unavailable(st)
  local found = {}
  for _, p in ipairs(assert(st:problems())) do
    if p.kind == "additional-store" then found[p.path] = p.problem end
  end
  return found
end

describe("additional stores", function()
  local root, primary, a, b, st

  before_each(function()
    root = helpers.tmpdir()
    primary, a, b = root .. "/primary", root .. "/a", root .. "/b"
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("lookups", function()
    local mine, lower_a, lower_b, shared_id

    before_each(function()
      shared_id = helpers.random_id()
      lower_b = fill(b, function(s)
        helpers.create(s, { id = shared_id, names = { "both:1", "only-b:1" } })
        return helpers.create(s, { names = { "app:1", "lib:1", "b:1" }, metadata = "from b" })
      end)
      lower_a = fill(a, function(s)
        helpers.create(s, { id = shared_id, names = { "both:1" }, metadata = "from a" })
        local img = helpers.create(s, { names = { "lib:1", "a:1" }, metadata = "from a" })
        assert(s:set_big_data(img.id, "manifest", "manifest of a"))
        return s:get(img.id)
      end)
      mine = fill(primary, function(s)
        return helpers.create(s, { names = { "app:1" }, metadata = "mine" })
      end)
      st = assert(imagestore.open(primary, { additional = { a, b } }))
    end)

    it("lets a name in an upper store hide the same name below", function()
      assert.are.equal(mine.id, st:lookup("app:1"))
      assert.are.equal("mine", st:metadata("app:1"))
      assert.are.equal(lower_a.id, st:lookup("lib:1"))
      assert.are.equal("from a", st:metadata("lib:1"))
      assert.are.equal(shared_id, st:lookup("both:1"))
      assert.are.equal("from a", st:metadata("both:1"))
    end)

    it("falls through to the stores below for names and full IDs", function()
      assert.are.equal(lower_b.id, st:lookup("b:1"))
      assert.are.equal(lower_b.id, st:lookup(lower_b.id))
      assert.are.equal(lower_a.id, st:lookup("a:1"))
      assert.is_true(st:exists("b:1"))
      assert.is_true(st:exists(lower_b.id))
      assert.are.same({ "manifest" }, st:big_data_names("a:1"))
      assert.are.equal("manifest of a", st:big_data("a:1", "manifest"))
      assert.are.equal(#"manifest of a", st:big_data_size("a:1", "manifest"))
      assert.are.equal(imagestore.sha256("manifest of a"), st:big_data_digest("a:1", "manifest"))
      helpers.fails("ENOTFOUND", ('image %s has no big-data item "config"'):format(lower_a.id),
        st:big_data("a:1", "config"))
      helpers.fails("ENOTFOUND", 'image not found: "nowhere:1"', st:get("nowhere:1"))
      assert.is_false(st:exists("nowhere:1"))
    end)

    it("skips an image that a store above holds by ID, found by a name only it holds", function()
      -- b's copy of shared_id is hidden by a's, which lacks the name
      helpers.fails("ENOTFOUND", 'image not found: "only-b:1"', st:get("only-b:1"))
      assert.are.equal("from a", st:get(shared_id).metadata)
    end)

    it("marks images of an additional store read_only and names their store", function()
      local img = assert(st:get("b:1"))
      assert.is_true(img.read_only)
      assert.are.equal(b, img.store)
      local own = assert(st:get("app:1"))
      assert.is_false(own.read_only)
      assert.is_nil(own.store)
      assert.is_nil(rawget(own, "store"))
    end)

    it("lists every image once across three stores, the highest store's record winning", function()
      local images = assert(st:images())
      local want = helpers.sorted({ mine.id, lower_a.id, lower_b.id, shared_id })
      local got, by_id = {}, {}
      for i, img in ipairs(images) do
        got[i] = img.id
        by_id[img.id] = img
      end
      assert.are.same(want, got) -- in ID order, each once
      assert.are.equal(a, by_id[shared_id].store)
      assert.are.same({ "both:1" }, by_id[shared_id].names)
      assert.is_nil(by_id[mine.id].store)
      assert.are.equal(b, by_id[lower_b.id].store)
    end)

    it("answers by_digest from every store, each image once", function()
      local d = imagestore.sha256("same manifest")
      assert(st:set_big_data(mine.id, "manifest", "same manifest"))
      fill(b, function(s)
        assert(s:set_big_data(shared_id, "manifest", "same manifest"))
        assert(s:set_big_data(lower_b.id, "manifest", "same manifest"))
      end)
      local found = assert(st:by_digest(d))
      local ids = {}
      for i, img in ipairs(found) do ids[i] = img.id end
      -- the store's own first; b's copy of shared_id is hidden by a's (which
      -- lacks that manifest)
      assert.are.same({ mine.id, lower_b.id }, ids)
      assert.are.equal(b, found[2].store)
      assert.are.same({}, st:by_digest(imagestore.sha256("nothing")))
      helpers.fails("EINVAL", 'invalid digest "sha256:x": want sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>',
        st:by_digest("sha256:x"))
    end)
  end)

  describe("ID prefixes", function()
    it("takes a prefix unique in the store itself, and falls through when it has none", function()
      local up = fill(primary, function(s) return helpers.create(s, { id = helpers.random_id("abc1") }) end)
      local down = fill(a, function(s) return helpers.create(s, { id = helpers.random_id("abc2") }) end)
      local deeper = fill(a, function(s) return helpers.create(s, { id = helpers.random_id("def") }) end)
      st = assert(imagestore.open(primary, { additional = { a } }))
      assert.are.equal(up.id, st:lookup("abc")) -- unique in the store itself
      assert.are.equal(down.id, st:lookup("abc2"))
      assert.are.equal(deeper.id, st:lookup("def"))
    end)

    it("is ambiguous when a prefix matches several images of the first store that has it", function()
      fill(primary, function(s) helpers.create(s, { id = helpers.random_id("1") }) end)
      fill(a, function(s)
        helpers.create(s, { id = helpers.random_id("fe1") })
        helpers.create(s, { id = helpers.random_id("fe2") })
      end)
      fill(b, function(s) helpers.create(s, { id = helpers.random_id("fe3") }) end)
      st = assert(imagestore.open(primary, { additional = { a, b } }))
      helpers.fails("EAMBIGUOUS", 'image reference "fe" is ambiguous: matches 2 images', st:get("fe"))
      -- a refusal of a mutator names the ambiguity too
      helpers.fails("EAMBIGUOUS", 'image reference "fe" is ambiguous: matches 2 images',
        st:set_metadata("fe", "m"))
      assert.is_truthy(st:get("fe3"))
    end)
  end)

  describe("mutators", function()
    local lower, mine

    before_each(function()
      lower = fill(a, function(s)
        local img = helpers.create(s, { names = { "lower:1" }, metadata = "lower" })
        assert(s:set_big_data(img.id, "manifest", "lower manifest"))
        return s:get(img.id)
      end)
      mine = fill(primary, function(s) return helpers.create(s, { names = { "mine:1" } }) end)
      st = assert(imagestore.open(primary, { additional = { a } }))
    end)

    it("refuses to change an image of an additional store, naming it and its store", function()
      local before = helpers.tree_hash(a)
      local function refused(op, ...)
        helpers.fails("EREADONLY", readonly_message(lower.id, a, op), st[op](st, ...))
      end
      for _, ref in ipairs({ "lower:1", lower.id, lower.id:sub(1, 12) }) do
        refused("set_names", ref, { "x:1" })
        refused("add_name", ref, "x:1")
        refused("remove_name", ref, "lower:1")
        refused("delete", ref)
        refused("set_big_data", ref, "manifest", "changed")
        refused("set_metadata", ref, "changed")
        refused("set_loaded_time", ref, 0)
        refused("set_size", ref, 1)
      end
      assert.are.equal(before, helpers.tree_hash(a))
      assert.are.equal("lower", st:metadata("lower:1"))
      -- the store's own images still change
      assert(st:set_metadata("mine:1", "changed"))
      assert.are.equal("changed", st:metadata("mine:1"))
      -- a reference nobody resolves is still ENOTFOUND
      helpers.fails("ENOTFOUND", 'image not found: "ghost:1"', st:delete("ghost:1"))
    end)

    it("gives a name an additional image holds to an image of the store, which then hides it", function()
      assert(st:add_name("mine:1", "lower:1"))
      assert.are.equal(mine.id, st:lookup("lower:1"))
      local hidden = fill(a, function(s) return s:get(lower.id) end)
      assert.are.same({ "lower:1" }, hidden.names) -- the additional store is untouched
      assert(st:remove_name("mine:1", "lower:1"))
      assert.are.equal(lower.id, st:lookup("lower:1")) -- visible again
    end)

    it("copies an image up when create() is given its ID, as containers/storage does", function()
      local taker = helpers.create(st, { names = { "extra:1" } })
      fill(a, function(s) assert(s:add_name(lower.id, "extra:1")) end)
      local before = helpers.tree_hash(a)
      assert.are.same({ "lower:1", "extra:1" }, st:get(lower.id).names_history)
      local copy = assert(st:create{ id = lower.id, names = { "new:1" } })
      assert.is_false(copy.read_only)
      assert.is_nil(copy.store)
      -- the given names first, then the lower image's, taken from their holders here
      assert.are.same({ "new:1", "lower:1", "extra:1" }, copy.names)
      -- the lower history, then the names as containers/storage adds them
      -- (the lower image's, then the given ones), each in turn to the front
      assert.are.same({ "new:1", "extra:1", "lower:1" }, copy.names_history)
      assert.are.same({}, st:get(taker.id).names)
      assert.are.equal("lower", copy.metadata)
      assert.are.equal(lower.created, copy.created)
      assert.are.equal(lower.digest, copy.digest)
      assert.are.equal("lower manifest", st:big_data(copy.id, "manifest"))
      assert.are.same(lower.big_data_digests, copy.big_data_digests)
      -- one image, now the store's own and writable
      local got = assert(st:get(lower.id))
      assert.is_nil(got.store)
      assert(st:set_metadata(lower.id, "mine now"))
      assert.are.equal("mine now", st:metadata("lower:1"))
      local count = 0
      for _, img in ipairs(st:images()) do if img.id == lower.id then count = count + 1 end end
      assert.are.equal(1, count)
      assert.are.equal(before, helpers.tree_hash(a))
      -- a second create of that ID: the store's own now
      helpers.fails("EEXIST", ("image ID %s is already in use"):format(lower.id),
        st:create{ id = lower.id })
    end)

    it("copies up with what create() gives over the lower image's", function()
      local copy = assert(st:create{ id = lower.id, metadata = "given", created = 0,
        layer = "L", digest = imagestore.sha256("d") })
      assert.are.equal("given", copy.metadata)
      assert.are.equal("1970-01-01T00:00:00.000000000Z", copy.created)
      assert.are.equal("L", copy.layer)
      assert.are.equal(imagestore.sha256("d"), copy.digest)
      assert.are.same({ imagestore.sha256("d"), imagestore.sha256("lower manifest") }, copy.digests)
    end)

    it("refuses a copy up whose given name another image of the store holds", function()
      helpers.fails("ENAMEINUSE", ('name "mine:1" is already used by image %s'):format(mine.id),
        st:create{ id = lower.id, names = { "mine:1" } })
      assert.are.equal(a, st:get(lower.id).store)
    end)

    it("leaves check, repair, wipe, save and batches to the store itself", function()
      helpers.write_file(a .. "/" .. helpers.random_id() .. ".junk", "x")
      assert.are.same({}, assert(st:check()))
      assert.are.same({}, assert(st:repair()))
      assert(st:save())
      assert(st:batch(function(bt)
        helpers.fails("EREADONLY", readonly_message(lower.id, a, "set_names"),
          bt:set_names("lower:1", { "x:1" }))
        assert(bt:create{ names = { "in-batch:1" } })
        assert.are.equal(lower.id, bt:lookup("lower:1"))
      end))
      assert(st:wipe())
      local images = assert(st:images())
      assert.are.equal(1, #images)
      assert.are.equal(lower.id, images[1].id)
      assert.are.equal(a, images[1].store)
    end)
  end)

  describe("hooks", function()
    it("lets the name hook turn references into names of additional stores", function()
      local lower = fill(a, function(s)
        return helpers.create(s, { names = { "docker.io/library/busybox:latest" } })
      end)
      local seen = 0
      st = assert(imagestore.open(primary, { additional = { a },
        hooks = { name = function(name, use)
          if use == "lookup" and name == "busybox" then
            seen = seen + 1
            return { "docker.io/library/busybox:latest" }
          end
        end } }))
      assert.are.equal(lower.id, st:lookup("busybox"))
      assert.is_true(seen >= 1)
    end)

    it("fires no event for what it only reads below", function()
      fill(a, function(s) helpers.create(s, { names = { "x:1" } }) end)
      local events = {}
      st = assert(imagestore.open(primary, { additional = { a },
        hooks = { event = function(ev) events[#events + 1] = ev.kind end } }))
      assert.is_truthy(st:get("x:1"))
      helpers.fails("EREADONLY", readonly_message(st:lookup("x:1"), a, "delete"), st:delete("x:1"))
      assert.are.same({}, events)
    end)
  end)

  describe("other processes", function()
    it("sees another process create and rename an image in an additional store at the next call", function()
      fill(a, function(s) helpers.create(s, { names = { "first:1" } }) end)
      st = assert(imagestore.open(primary, { additional = { a } }))
      assert.is_false(st:exists("child:1"))
      in_child(a, 'assert(st:create{ names = { "child:1" } })')
      local id = assert(st:lookup("child:1"))
      assert.are.equal(a, st:get(id).store)
      in_child(a, 'assert(st:set_names("child:1", { "renamed:1" }))')
      assert.is_false(st:exists("child:1"))
      assert.are.equal(id, st:lookup("renamed:1"))
      assert.are.equal(2, #st:images())
      in_child(a, 'assert(st:delete("renamed:1"))')
      helpers.fails("ENOTFOUND", ('image not found: "%s"'):format(id), st:get(id))
    end)

    it("sees images written without the lock file after load()", function()
      fill(a, function(s) helpers.create(s, { names = { "first:1" } }) end)
      st = assert(imagestore.open(primary, { additional = { a } }))
      assert.is_true(st:exists("first:1"))
      local elsewhere = root .. "/elsewhere"
      local img = fill(elsewhere, function(s) return helpers.create(s, { names = { "copied:1" } }) end)
      helpers.execute("cp -a " .. helpers.shell_quote(elsewhere .. "/" .. img.id) .. " "
        .. helpers.shell_quote(a .. "/" .. img.id))
      assert.is_false(st:exists("copied:1"))
      assert(st:load())
      assert.are.equal(img.id, st:lookup("copied:1"))
    end)
  end)

  describe("in containers/storage's layout", function()
    -- The Podman store of the fixtures (spec/fixtures/README.md) under a
    -- writable store of ours: what clusters do with a shared Podman store.
    local HELLO = "7d6555ccc8763045ecdf38dcc36070ae51aa9adf0965fb13c1017805a23b0caf"
    local TOOLS = "70e6b2b80b73b8271aa5c7ed90f72747cf853d6b3b9edd4880a055c8d249af37"
    local podman

    before_each(function()
      podman = helpers.copy_fixture("containers-storage/vfs-images")
      fill(primary, function(s) helpers.create(s, { names = { "quay.io/acme/tools:2.3" }, metadata = "mine" }) end)
      st = assert(imagestore.open(primary, { additional = { podman } }))
    end)

    it("finds Podman's images below ours, read-only, with their big data", function()
      local img = assert(st:get("example.com/demo/hello:1.0"))
      assert.are.equal(HELLO, img.id)
      assert.is_true(img.read_only)
      assert.are.equal(podman, img.store)
      assert.are.equal("sha256:4da0e808d00fcf504200be476f73c791f93316fd7d707b1a602f2bc8c82d9a9e", img.digest)
      assert.are.equal(HELLO, st:lookup("localhost/hello:latest"))
      assert.are.equal(455, #assert(st:big_data(HELLO, "sha256:" .. HELLO)))
      assert.are.same({ HELLO }, { st:by_digest(img.digest)[1].id })
      helpers.fails("EREADONLY", readonly_message(HELLO, podman, "delete"), st:delete(HELLO))
    end)

    it("lets our name hide Podman's, and lists both stores", function()
      local mine = assert(st:get("quay.io/acme/tools:2.3"))
      assert.are.equal("mine", mine.metadata)
      assert.is_nil(mine.store)
      assert.are.equal(TOOLS, st:get(TOOLS).id) -- still found by its ID
      local ids = {}
      for _, img in ipairs(assert(st:images())) do ids[#ids + 1] = img.id end
      table.sort(ids)
      local want = { HELLO, TOOLS, mine.id }
      table.sort(want)
      assert.are.same(want, ids)
      assert.are.same({}, assert(st:problems()))
    end)
  end)

  describe("an unavailable additional store", function()
    local lower, mine

    before_each(function()
      lower = fill(a, function(s) return helpers.create(s, { names = { "lower:1" } }) end)
      mine = fill(primary, function(s) return helpers.create(s, { names = { "mine:1" } }) end)
    end)

    it("is a problem, not a failed open, when it is missing at open", function()
      local missing = root .. "/missing"
      st = assert(imagestore.open(primary, { additional = { missing, a } }))
      assert.are.same({ [missing] = UNAVAILABLE .. "store directory does not exist: " .. missing },
        unavailable(st))
      assert.are.equal(mine.id, st:lookup("mine:1"))
      assert.are.equal(lower.id, st:lookup("lower:1"))
      -- it appears later: seen at the next call
      fill(missing, function(s) helpers.create(s, { names = { "late:1" } }) end)
      assert.is_truthy(st:get("late:1"))
      assert.are.same({}, unavailable(st))
    end)

    it("is a problem when it vanishes, and is seen again when it comes back", function()
      st = assert(imagestore.open(primary, { additional = { a } }))
      assert.are.equal(lower.id, st:lookup("lower:1"))
      helpers.rm_rf(a)
      helpers.fails("ENOTFOUND", 'image not found: "lower:1"', st:get("lower:1"))
      assert.are.equal(mine.id, st:lookup("mine:1"))
      local images = assert(st:images())
      assert.are.equal(1, #images)
      assert.are.equal(mine.id, images[1].id)
      assert.are.same({ [a] = UNAVAILABLE .. "store directory does not exist: " .. a }, unavailable(st))
      -- another process makes it again
      in_child(a, 'assert(st:create{ names = { "back:1" } })')
      assert.is_truthy(st:get("back:1"))
      assert.is_false(st:exists("lower:1"))
      assert.are.same({}, unavailable(st))
      assert.are.equal(2, #st:images())
    end)

    it("is a problem when a file stands where its directory was", function()
      st = assert(imagestore.open(primary, { additional = { a } }))
      helpers.rm_rf(a)
      helpers.write_file(a, "not a directory")
      assert.is_false(st:exists("lower:1"))
      assert.are.same({ [a] = UNAVAILABLE .. "open " .. a .. ": Not a directory" }, unavailable(st))
      assert.are.equal(mine.id, st:lookup("mine:1"))
      os.remove(a)
      fill(a, function(s) helpers.create(s, { names = { "dir-again:1" } }) end)
      assert.is_truthy(st:get("dir-again:1"))
    end)

    it("is a problem when it cannot be read", function()
      st = assert(imagestore.open(primary, { additional = { a } }))
      helpers.execute("chmod 000 " .. helpers.shell_quote(a))
      local root_user = helpers.run("id -u"):match("^0") ~= nil
      if root_user then
        -- root reads it regardless of its mode
        assert.are.equal(lower.id, st:lookup("lower:1"))
      else
        assert.is_false(st:exists("lower:1"))
        assert.are.same({ [a] = UNAVAILABLE .. "open " .. a .. ": Permission denied" }, unavailable(st))
      end
      assert.are.equal(mine.id, st:lookup("mine:1"))
      helpers.execute("chmod 700 " .. helpers.shell_quote(a))
      assert.are.equal(lower.id, st:lookup("lower:1"))
      assert.are.same({}, unavailable(st))
    end)

    it("lists what an additional store's own load skipped", function()
      local bad = helpers.random_id()
      helpers.mkdir(a .. "/" .. bad)
      helpers.write_file(a .. "/" .. bad .. "/images.json", "{ not json")
      st = assert(imagestore.open(primary, { additional = { a } }))
      local kinds = {}
      for _, p in ipairs(st:problems()) do kinds[p.path] = p.kind end
      assert.are.same({ [a .. "/" .. bad .. "/images.json"] = "unparseable" }, kinds)
    end)

    it("refuses itself as an additional store", function()
      st = assert(imagestore.open(primary, { additional = { primary .. "/" } }))
      assert.are.same({ [primary .. "/"] = UNAVAILABLE .. "it is this store's own directory" },
        unavailable(st))
      assert.are.equal(1, #st:images())
    end)
  end)

  describe("a read-only bind mount as the additional store", function()
    local ro

    before_each(function() ro = root .. "/ro" end)

    after_each(function()
      if st then st:close() end -- its files under the mount first
      st = nil
      os.execute("umount " .. helpers.shell_quote(ro) .. " 2>/dev/null")
    end)

    local function mount_read_only()
      helpers.mkdir(ro)
      return os.execute("mount --bind " .. helpers.shell_quote(a) .. " " .. helpers.shell_quote(ro) ..
        " 2>/dev/null && mount -o remount,bind,ro " .. helpers.shell_quote(ro) .. " 2>/dev/null")
    end

    it("sees what a second process writes to the directory under it", function()
      local first = fill(a, function(s) return helpers.create(s, { names = { "shared/img:1" } }) end)
      if not mount_read_only() then
        pending("cannot make a read-only bind mount here")
        return
      end
      st = assert(imagestore.open(primary, { additional = { ro } }))
      local img = assert(st:get("shared/img:1"))
      assert.are.equal(first.id, img.id)
      assert.are.equal(ro, img.store)
      in_child(a, 'local i = assert(st:create{ names = { "pushed:1" } })\n'
        .. 'assert(st:set_big_data(i.id, "manifest", "pushed"))\n'
        .. 'assert(st:set_names("shared/img:1", { "shared/img:2" }))')
      assert.are.equal("pushed", st:big_data("pushed:1", "manifest"))
      assert.are.equal(first.id, st:lookup("shared/img:2"))
      assert.is_false(st:exists("shared/img:1"))
      helpers.fails("EREADONLY", readonly_message(first.id, ro, "delete"), st:delete("shared/img:2"))
      -- a copy up reads through the mount and writes only the store itself
      assert(st:create{ id = first.id })
      assert.is_nil(st:get("shared/img:2").store)
    end)
  end)

  describe("the open option", function()
    it("takes a list of strings, an empty one too", function()
      st = assert(imagestore.open(primary, { additional = {} }))
      assert.are.same({}, st:problems())
    end)

    it("raises for anything but a list of strings", function()
      local function raises(additional, message)
        local ok, err = pcall(imagestore.open, primary, { additional = additional })
        assert.is_false(ok)
        assert.are.equal(message, tostring(err):gsub("^[^:]*:%d+: ", ""), tostring(err))
      end
      raises("x", "bad option 'additional' (table expected, got string)")
      raises({ 1 }, "bad option 'additional' (string expected at [1], got number)")
      raises({ x = "y" }, "bad option 'additional' (list of strings expected, got key 'x')")
      raises({ [2] = "y" }, "bad option 'additional' (list of strings expected, got a table with holes)")
      raises({ "a", [3] = "b" }, "bad option 'additional' (list of strings expected, got a table with holes)")
      assert.is_false(helpers.exists(primary))
    end)

    it("refuses an empty directory name or a NUL byte, touching nothing", function()
      helpers.fails("EINVAL", "invalid additional store directory #2: empty",
        imagestore.open(primary, { additional = { a, "" } }))
      helpers.fails("EINVAL", 'invalid additional store directory "a\0b": contains a NUL byte',
        imagestore.open(primary, { additional = { "a\0b" } }))
      assert.is_false(helpers.exists(primary))
    end)
  end)
end)
