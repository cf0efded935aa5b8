-- Several processes on one store: the change token in .imagestore.lock makes
-- every call see what other processes wrote, without load(). And the
-- snapshot that makes open quick is never trusted over the records.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local in_child = helpers.in_child

describe("coordination", function()
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

  it("keeps a lock file in the store directory", function()
    assert.is_true(helpers.is_file(dir .. "/.imagestore.lock"))
  end)

  it("sees another process's create, rename and delete at the next call", function()
    in_child(dir, 'assert(st:create{ names = { "child/made:1" } })')
    local id = st:lookup("child/made:1")
    assert.is_truthy(id)
    in_child(dir, 'assert(st:set_names("child/made:1", { "child/renamed:1" }))')
    assert.is_false(st:exists("child/made:1"))
    assert.are.equal(id, st:lookup("child/renamed:1"))
    in_child(dir, 'assert(st:set_big_data("child/renamed:1", "manifest", "from the child"))')
    assert.are.equal("from the child", st:big_data(id, "manifest"))
    assert.are.equal(imagestore.sha256("from the child"), st:get(id).digest)
    in_child(dir, 'assert(st:delete("child/renamed:1"))')
    assert.is_false(st:exists(id))
    assert.are.same({}, st:images())
  end)

  it("takes a name back from another process's image when it writes", function()
    local mine = assert(st:create{ names = { "shared:1" } }).id
    in_child(dir, 'local img = assert(st:create{}); assert(st:add_name(img.id, "shared:1"))')
    assert.are_not.equal(mine, st:lookup("shared:1"))
    assert(st:add_name(mine, "shared:1"))
    assert.are.equal(mine, st:lookup("shared:1"))
    in_child(dir, [[
      local n = 0
      for _, img in ipairs(st:images()) do
        for _, name in ipairs(img.names) do if name == "shared:1" then n = n + 1 end end
      end
      assert(n == 1, "name held " .. n .. " times")
    ]])
  end)

  it("catches up with a batch of more images than half the ring, published as 'everything changed'", function()
    assert(st:create{ names = { "before:1" } })
    local g0 = st:generation()
    in_child(dir, [[
      assert(st:batch(function(b)
        for i = 1, 1100 do assert(b:create{ names = { "bulk/" .. i .. ":1" } }) end
      end))
      assert(st:delete("before:1"))
    ]])
    assert.are.equal(1100, #st:images())
    assert.is_false(st:exists("before:1"))
    assert.is_true(st:exists("bulk/1100:1"))
    -- two changes, not 1,101: the batch took one entry of the ring ("everything"), the delete one
    assert.are.equal(g0 + 2, st:generation())
  end)

  -- The ring holds the last 1,024 changes (LOCK_RING in core/lock.h). Three
  -- batches of 400 images each publish every image on its own (a batch
  -- publishes "everything" only above half the ring), so 1,200 changes pass
  -- while this store is not looking, and the oldest it has not seen is gone
  -- from the ring. What shows that it then reloads everything: a record
  -- another tool rewrote by rename, which no ring entry names. A catch-up
  -- through the ring re-reads only the images the ring names and does not see
  -- it (checked first, after a few changes); a full reload does.
  it("catches up with more changes than the ring holds by reloading everything", function()
    local watched = assert(st:create{ names = { "watched:1" } }).id
    assert(st:create{ names = { "before:1" } })
    local path = dir .. "/" .. watched .. "/images.json"
    local record = helpers.read_json(path)
    record.names = { "rewritten:1" }
    helpers.write_file(dir .. "/" .. watched .. "/.new", helpers.encode_json(record))
    assert(os.rename(dir .. "/" .. watched .. "/.new", path))
    -- a few changes: caught up through the ring, the rewrite unseen
    local g0 = st:generation()
    in_child(dir, 'for i = 1, 10 do assert(st:create{ names = { "few/" .. i .. ":1" } }) end')
    assert.is_true(st:exists("few/10:1"))
    assert.are.equal(g0 + 10, st:generation())
    assert.are.equal(watched, st:lookup("watched:1"))
    assert.is_false(st:exists("rewritten:1"))
    -- more changes than the ring holds
    local g1 = st:generation()
    in_child(dir, [[
      for n = 0, 2 do
        assert(st:batch(function(b)
          for i = 1, 400 do assert(b:create{ names = { "bulk/" .. (n * 400 + i) .. ":1" } }) end
        end))
      end
      assert(st:delete("before:1"))
    ]])
    assert.are.equal(watched, st:lookup("rewritten:1"))
    assert.are.equal(g1 + 1201, st:generation())
    assert.is_true(st:generation() - g1 > 1024, "the ring did not overflow")
    assert.is_false(st:exists("watched:1"))
    assert.is_false(st:exists("before:1"))
    assert.are.equal(1 + 10 + 1200, #st:images())
    for i = 1, 1200 do
      assert.is_true(st:exists("bulk/" .. i .. ":1"), "bulk/" .. i .. ":1")
    end
    assert.are.same({ "rewritten:1" }, st:get(watched).names)
  end)

  it("coordinates two stores in one process", function()
    local other <close> = assert(imagestore.open(dir))
    local id = assert(other:create{ names = { "other:1" } }).id
    assert.are.equal(id, st:lookup("other:1"))
    assert(st:remove_name(id, "other:1"))
    assert.is_false(other:exists("other:1"))
  end)
end)

describe("snapshot", function()
  local root, dir

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
  end)

  after_each(helpers.cleanup)

  local function fill(n)
    local st <close> = assert(imagestore.open(dir))
    local ids = {}
    assert(st:batch(function(b)
      for i = 1, n do
        local img = assert(b:create{ names = { "snap/" .. i .. ":1" } })
        assert(b:set_big_data(img.id, "manifest", "m" .. i))
        ids[i] = img.id
      end
    end))
    return ids
  end

  it("is written after a large change, and open gives the same images", function()
    local ids = fill(200)
    assert.is_true(helpers.is_file(dir .. "/.imagestore.snapshot"))
    local st <close> = assert(imagestore.open(dir))
    assert.are.equal(200, #st:images())
    assert.are.equal("m7", st:big_data("snap/7:1", "manifest"))
    assert.are.equal(imagestore.sha256("m7"), st:get(ids[7]).digest)
    assert.are.same({}, st:problems())
  end)

  it("gives a digest kept across a manifest change as the record file does", function()
    local ids = fill(200)
    do
      local st <close> = assert(imagestore.open(dir))
      assert(st:batch(function(b)
        for i, id in ipairs(ids) do assert(b:set_big_data(id, "manifest", "new m" .. i)) end
      end))
    end
    local function digests_of(st)
      local out = {}
      for _, img in ipairs(st:images()) do out[img.id] = { img.digest, img.digests } end
      return out
    end
    local st <close> = assert(imagestore.open(dir)) -- from the snapshot
    local from_snapshot = digests_of(st)
    assert.are.same({ imagestore.sha256("m7"), { imagestore.sha256("m7"), imagestore.sha256("new m7") } },
      from_snapshot[ids[7]])
    helpers.write_file(dir .. "/.imagestore.snapshot", "not a snapshot")
    local from_files <close> = assert(imagestore.open(dir))
    assert.are.same(from_snapshot, digests_of(from_files))
  end)

  it("does not vouch for a record overwritten in place: the file is read", function()
    local ids = fill(200)
    -- Overwritten in place (no rename): the directory does not change, but
    -- the record file's own stamp does, and the snapshot's entry is of that.
    local f = assert(io.open(dir .. "/" .. ids[3] .. "/images.json", "r+"))
    f:write("{broken")
    f:close()
    local st <close> = assert(imagestore.open(dir))
    assert.is_false(st:exists("snap/3:1"))
    local p = st:problems()[1]
    assert.are.same({ dir .. "/" .. ids[3] .. "/images.json", "unparseable" }, { p.path, p.kind })
    assert.are.equal(199, #st:images())
    -- and load() too
    assert(st:load())
    assert.are.equal(199, #st:images())
  end)

  it("gives way to a record another tool rewrote after it", function()
    local ids = fill(200)
    local id = ids[5]
    -- iSulad and containers/storage write a record by rename, as this does
    local path = dir .. "/" .. id .. "/images.json"
    local record = helpers.read_json(path)
    record.names = { "rewritten/by:tool" }
    helpers.write_file(dir .. "/" .. id .. "/.new", helpers.encode_json(record))
    assert(os.rename(dir .. "/" .. id .. "/.new", path))
    local st <close> = assert(imagestore.open(dir))
    assert.are.equal(id, st:lookup("rewritten/by:tool"))
    assert.is_false(st:exists("snap/5:1"))
  end)

  it("does not bring back an image another tool deleted", function()
    local ids = fill(200)
    helpers.rm_rf(dir .. "/" .. ids[9])
    local st <close> = assert(imagestore.open(dir))
    assert.are.equal(199, #st:images())
    assert.is_false(st:exists("snap/9:1"))
  end)

  it("is ignored when damaged", function()
    fill(200)
    local snap = dir .. "/.imagestore.snapshot"
    local bytes = helpers.read_file(snap)
    helpers.write_file(snap, bytes:sub(1, 5000) .. "garbage" .. bytes:sub(5008))
    local st <close> = assert(imagestore.open(dir))
    assert.are.equal(200, #st:images())
    assert.are.equal("m42", st:big_data("snap/42:1", "manifest"))
    helpers.write_file(snap, "not a snapshot")
    local again <close> = assert(imagestore.open(dir))
    assert.are.equal(200, #again:images())
  end)
end)

describe("read-only", function()
  local root, dir, ro

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    ro = root .. "/ro"
  end)

  after_each(function()
    os.execute("umount " .. helpers.shell_quote(ro) .. " 2>/dev/null")
    helpers.cleanup()
  end)

  -- A read-only bind mount: what a fleet sharing one store over NFS sees, and
  -- a directory even root cannot write to.
  local function mount_read_only()
    helpers.mkdir(ro)
    return os.execute("mount --bind " .. helpers.shell_quote(dir) .. " " .. helpers.shell_quote(ro) ..
      " 2>/dev/null && mount -o remount,bind,ro " .. helpers.shell_quote(ro) .. " 2>/dev/null")
  end

  it("works on a directory no one can write to, and refuses every mutator", function()
    do
      local st <close> = assert(imagestore.open(dir))
      local img = assert(st:create{ names = { "shared/img:1" } })
      assert(st:set_big_data(img.id, "manifest", "M"))
    end
    if not mount_read_only() then
      pending("cannot make a read-only bind mount here")
      return
    end
    local before = helpers.tree_hash(dir)
    local st <close> = assert(imagestore.open(ro, { readonly = true }))
    local id = assert(st:lookup("shared/img:1"))
    assert.are.equal("M", st:big_data(id, "manifest"))
    assert.are.same({}, st:check())
    local function refused(op, ...)
      local ok, msg, code = st[op](st, ...)
      assert.is_nil(ok, op)
      assert.are.equal("store is read-only: cannot " .. op, msg)
      assert.are.equal("EREADONLY", code)
    end
    refused("create", {})
    refused("set_names", id, { "x:1" })
    refused("add_name", id, "x:1")
    refused("remove_name", id, "shared/img:1")
    refused("delete", id)
    refused("wipe")
    refused("save")
    refused("set_loaded_time", id, 0)
    refused("set_metadata", id, "m")
    refused("set_size", id, 1)
    refused("set_big_data", id, "k", "v")
    refused("repair")
    refused("batch", function() end)
    assert(st:load())
    -- a writable open cannot even make its lock file there
    local rw, msg, code = imagestore.open(ro)
    assert.is_nil(rw)
    assert.are.equal("EROFS", code, msg)
    assert.are.equal(before, helpers.tree_hash(dir))
  end)
end)
