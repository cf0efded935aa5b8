-- st:batch(fn): operations applied in order, one sync at the end, all or
-- nothing on disk; and what a SIGKILL in the middle of one leaves behind.

local helpers = require("spec.helpers")
local create = helpers.create
local imagestore = require("imagestore")

describe("batch", function()
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

  it("applies its operations in order and returns true when they are durable", function()
    local id
    local ok, msg, code = st:batch(function(b)
      assert.are.equal(st, b)
      id = create(b, { names = { "batch/one:1" } }).id
      assert(b:set_big_data(id, "manifest", "M1"))
      assert(b:set_big_data(id, "manifest", "M2"))
      assert(b:add_name(id, "batch/two:1"))
      -- inside the batch, reads see what the batch did, big data included
      assert.are.equal("M2", b:big_data("batch/two:1", "manifest"))
      assert.are.equal(id, b:lookup("batch/one:1"))
    end)
    assert.are.equal(true, ok, tostring(msg) .. " " .. tostring(code))
    st:close()
    st = assert(imagestore.open(dir))
    local img = st:get(id)
    assert.are.same({ "batch/one:1", "batch/two:1" }, img.names)
    assert.are.equal("M2", st:big_data(id, "manifest"))
    assert.are.equal(imagestore.sha256("M2"), img.digest)
    assert.are.same({}, helpers.temp_leftovers(dir))
  end)

  it("changes existing images too, and reads their staged big data", function()
    local id = create(st, { names = { "kept:1" } }).id
    assert(st:set_big_data(id, "config", "old"))
    assert(st:batch(function(b)
      assert(b:set_big_data(id, "config", "new"))
      assert.are.equal("new", b:big_data(id, "config"))
      assert(b:set_metadata(id, "m"))
    end))
    assert.are.equal("new", st:big_data(id, "config"))
    st:close()
    st = assert(imagestore.open(dir))
    assert.are.equal("new", st:big_data(id, "config"))
    assert.are.equal("m", st:metadata(id))
  end)

  it("deletes, including an image created in the same batch", function()
    local old = create(st, { names = { "old:1" } }).id
    assert(st:batch(function(b)
      local tmp = create(b, { names = { "short-lived:1" } }).id
      assert(b:set_big_data(tmp, "manifest", "x"))
      assert(b:delete(tmp))
      assert(b:delete(old))
      assert.is_false(b:exists("short-lived:1"))
    end))
    assert.are.same({}, st:images())
    st:close()
    st = assert(imagestore.open(dir))
    assert.are.same({}, st:images())
    assert.are.same({}, helpers.list_visible(dir))
    assert.are.same({}, helpers.temp_leftovers(dir))
  end)

  it("keeps going after an expected failure inside, and commits the rest", function()
    create(st, { names = { "taken:1" } })
    local fresh
    assert(st:batch(function(b)
      local img, msg, code = b:create{ names = { "taken:1" } }
      assert.is_nil(img)
      assert.are.equal("ENAMEINUSE", code)
      assert.is_truthy(msg:find("taken:1", 1, true))
      fresh = create(b, { names = { "fresh:1" } }).id
    end))
    assert.are.equal(fresh, st:lookup("fresh:1"))
    assert.are.equal(2, #st:images())
  end)

  it("writes nothing when the function raises, and re-raises", function()
    local id = create(st, { names = { "before:1" } }).id
    local before = helpers.tree_hash(dir)
    assert.has_error(function()
      st:batch(function(b)
        create(b, { names = { "doomed:1" } })
        assert(b:set_names(id, { "renamed:1" }))
        error("stop here")
      end)
    end, "stop here")
    assert.are.equal(before, helpers.tree_hash(dir))
    assert.is_false(st:exists("doomed:1"))
    assert.are.equal(id, st:lookup("before:1"))
    assert.is_false(st:exists("renamed:1"))
    -- the store is usable afterwards
    assert(st:batch(function(b) create(b, { names = { "after:1" } }) end))
    assert.is_true(st:exists("after:1"))
  end)

  it("is invisible to another store until it commits", function()
    local other <close> = assert(imagestore.open(dir))
    assert(st:batch(function(b)
      create(b, { names = { "pending:1" } })
      assert.is_false(other:exists("pending:1"))
    end))
    assert.is_true(other:exists("pending:1"))
  end)

  it("refuses load inside, and a nested batch", function()
    assert(st:batch(function(b)
      local ok, msg, code = b:load()
      assert.is_nil(ok)
      assert.are.equal("cannot load inside a batch", msg)
      assert.are.equal("EINVAL", code)
      ok, msg, code = b:batch(function() end)
      assert.is_nil(ok)
      assert.are.equal("a batch is already open", msg)
      assert.are.equal("EINVAL", code)
    end))
  end)

  it("is refused on a read-only store", function()
    st:close()
    st = assert(imagestore.open(dir, { readonly = true }))
    local called = false
    local ok, msg, code = st:batch(function() called = true end)
    assert.is_nil(ok)
    assert.are.equal("store is read-only: cannot batch", msg)
    assert.are.equal("EREADONLY", code)
    assert.is_false(called)
  end)

  it("raises for a non-function and on a closed store", function()
    assert.has_error(function() st:batch("nope") end)
    st:close()
    assert.has_error(function() st:batch(function() end) end, "attempt to use a closed store")
  end)

  it("discards the batch when the function closes the store", function()
    assert.has_error(function()
      st:batch(function(b)
        create(b, { names = { "lost:1" } })
        b:close()
      end)
    end, "store closed inside its batch: the batch was discarded")
    st = assert(imagestore.open(dir))
    assert.is_false(st:exists("lost:1"))
  end)
end)

-- A child process creates images in batches and reports each committed
-- batch; it is killed with SIGKILL at random points, staging or committing.
-- After every kill, each image is whole (record, names, exact bytes) or absent,
-- and every batch the child reported as committed is all there.
describe("batch after SIGKILL", function()
  local root, dir

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
  end)

  after_each(helpers.cleanup)

  local per_batch = 40

  local child = [[
    local imagestore = require("imagestore")
    local dir, first = arg[1], tonumber(arg[2])
    local st = assert(imagestore.open(dir))
    io.stdout:setvbuf("line")
    print("pid " .. io.open("/proc/self/stat"):read("l"):match("^(%d+)"))
    for b = first, first + 1000 do
      assert(st:batch(function(s)
        for i = 1, PER_BATCH do
          local n = b * PER_BATCH + i
          local img = assert(s:create{ names = { "crash/img" .. n .. ":tag" } })
          assert(s:set_big_data(img.id, "manifest", "manifest of " .. n))
          assert(s:set_big_data(img.id, "sha256:" .. img.id, string.rep("c", 1500) .. n))
          if i == PER_BATCH // 2 then print("staging " .. b) end
        end
        print("commit " .. b)
      end))
      print("committed " .. b)
    end
  ]]

  local function check_store(committed)
    local st <close> = assert(imagestore.open(dir))
    assert.are.same({}, st:problems())
    local seen = {}
    for _, img in ipairs(st:images()) do
      assert.are.equal(1, #img.names)
      local n = tonumber(img.names[1]:match("^crash/img(%d+):tag$"))
      assert.is_truthy(n, img.names[1])
      assert.are.equal("manifest of " .. n, st:big_data(img.id, "manifest"))
      assert.are.equal(string.rep("c", 1500) .. n, st:big_data(img.id, "sha256:" .. img.id))
      assert.are.same({ "manifest", "sha256:" .. img.id }, img.big_data_names)
      assert.are.equal(imagestore.sha256("manifest of " .. n), img.digest)
      seen[n] = true
    end
    for b in pairs(committed) do
      for i = 1, per_batch do
        assert.is_true(seen[b * per_batch + i] == true, "image " .. (b * per_batch + i) .. " of committed batch " .. b)
      end
    end
  end

  it("leaves every image whole or absent", function()
    local script = root .. "/child.lua"
    helpers.write_file(script, (child:gsub("PER_BATCH", tostring(per_batch))))
    local sleep = require("system").sleep
    math.randomseed(os.time())
    local committed, kills, first = {}, 0, 0
    for round = 1, 20 do
      local p = helpers.spawn_lua(script, dir, first)
      local pid = p:read("l"):match("^pid (%d+)$")
      assert.is_truthy(pid, "child did not start")
      -- odd rounds: kill while committing; even rounds: while staging
      local target = (round % 2 == 1) and "^commit (%d+)$" or "^staging (%d+)$"
      local skip = math.random(0, 2)
      for line in p:lines() do
        local b = tonumber(line:match("^committed (%d+)$"))
        if b then committed[b] = true end
        local at = line:match(target)
        if at then
          if skip == 0 then
            sleep(math.random() * 0.03)
            os.execute("kill -9 " .. pid)
            kills = kills + 1
            break
          end
          skip = skip - 1
        end
      end
      for line in p:lines() do
        local b = tonumber(line:match("^committed (%d+)$"))
        if b then committed[b] = true end
      end
      p:close()
      check_store(committed)
      first = first + 10
    end
    assert.are.equal(20, kills)
  end)
end)
