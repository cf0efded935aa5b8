-- st:usage(): image count, recorded sizes and the disk blocks of the image
-- directories (the store itself, symlinks never followed); and
-- st:summaries(), the lean listing garbage-collection policies read.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

-- What du(1) says of these image directories together (blocks, in bytes;
-- it counts a hard-linked file once and follows no symlink).
local function du(dir, ids)
  if #ids == 0 then return 0 end
  local args = {}
  for i, id in ipairs(ids) do args[i] = helpers.shell_quote(dir .. "/" .. id) end
  local out = helpers.run("du -s -B1 -c " .. table.concat(args, " ") .. " | tail -n 1")
  return assert(math.tointeger(tonumber(out:match("^(%d+)"))))
end

describe("usage", function()
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

  it("of an empty store: nothing", function()
    assert.are.same({ images = 0, size = 0, disk_bytes = 0 }, st:usage())
  end)

  it("counts the recorded size, else the big-data sizes, and the blocks du counts", function()
    local a = helpers.create(st, { names = { "example.com/a:1" } }).id
    assert(st:set_big_data(a, "manifest", ("m"):rep(300)))
    assert(st:set_big_data(a, "sha256:" .. a, ("c"):rep(5000)))
    local b = helpers.create(st, { names = { "example.com/b:1" } }).id
    assert(st:set_big_data(b, "manifest", "small"))
    assert(st:set_size(b, 123456))
    local c = helpers.create(st, {}).id
    local u = st:usage()
    assert.are.equal(3, u.images)
    assert.are.equal(5300 + 123456, u.size)
    assert.are.equal(du(dir, { a, b, c }), u.disk_bytes)
    -- a file linked into another image counts once
    helpers.execute(("ln %s %s"):format(helpers.shell_quote(dir .. "/" .. a .. "/manifest"),
      helpers.shell_quote(dir .. "/" .. c .. "/linked")))
    assert.are.equal(u.disk_bytes, st:usage().disk_bytes)
    assert.are.equal(du(dir, { a, b, c }), st:usage().disk_bytes)
  end)

  it("never follows a symlink", function()
    local a = helpers.create(st, {}).id
    local before = st:usage().disk_bytes
    helpers.write_file(root .. "/big", ("x"):rep(1000000))
    helpers.execute(("ln -s %s %s"):format(helpers.shell_quote(root .. "/big"),
      helpers.shell_quote(dir .. "/" .. a .. "/sha256")))
    helpers.execute(("ln -s %s %s"):format(helpers.shell_quote(root),
      helpers.shell_quote(dir .. "/" .. a .. "/up")))
    local after = st:usage().disk_bytes
    assert.is_true(after < before + 100000, ("counted %d bytes more"):format(after - before))
    assert.are.equal(du(dir, { a }), after)
  end)

  it("counts the store itself, not its additional stores, and works read-only", function()
    local lower = root .. "/lower"
    do
      local l <close> = assert(imagestore.open(lower))
      assert(l:set_size(helpers.create(l, { names = { "lower:1" } }).id, 999))
    end
    local mine = helpers.create(st, {}).id
    assert(st:set_size(mine, 5))
    st:close()
    st = assert(imagestore.open(dir, { additional = { lower }, readonly = true }))
    assert.are.equal(2, #st:images())
    local u = st:usage()
    assert.are.same({ images = 1, size = 5, disk_bytes = du(dir, { mine }) }, u)
  end)

  it("raises on a closed store", function()
    st:close()
    assert.has_error(function() st:usage() end, "attempt to use a closed store")
    assert.has_error(function() st:summaries() end, "attempt to use a closed store")
  end)
end)

describe("summaries", function()
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

  it("lists each image least recently loaded first, ties by ID, images without a time last", function()
    local ids = {}
    for i, t in ipairs({ 300, 100, 200, 100 }) do
      ids[i] = helpers.create(st, { id = helpers.random_id(), names = { "example.com/x:" .. i } }).id
      assert(st:set_loaded_time(ids[i], 1800000000 + t))
    end
    local untimed = helpers.create(st, { names = { "example.com/x:none" } }).id
    st:close()
    local path = dir .. "/" .. untimed .. "/images.json"
    helpers.write_file(path, (helpers.read_file(path):gsub('"loaded":"[^"]*"', '"loaded":"yesterday"')
      :gsub('"created":"[^"]*"', '"created":"long ago"')))
    st = assert(imagestore.open(dir))
    local tie = ids[2] < ids[4] and { ids[2], ids[4] } or { ids[4], ids[2] }
    local want = { tie[1], tie[2], ids[3], ids[1], untimed }
    local got = st:summaries()
    local order = {}
    for i, s in ipairs(got) do order[i] = s.id end
    assert.are.same(want, order)
    assert.are.equal(1800000100, got[1].time)
    assert.is_nil(got[5].time)
    assert.are.equal("yesterday", got[5].loaded)
  end)

  it("gives each image's id, names, times, size and store, as usage() counts the size", function()
    local a = helpers.create(st, { names = { "example.com/a:1", "example.com/a:2" },
                                   created = "2026-01-02T03:04:05.5Z" }).id
    assert(st:set_loaded_time(a, "2026-02-03T04:05:06.25Z"))
    assert(st:set_big_data(a, "manifest", "12345"))
    local b = helpers.create(st, {}).id
    assert(st:set_size(b, 77))
    local by_id = {}
    for _, s in ipairs(st:summaries()) do by_id[s.id] = s end
    assert.are.same({
      id = a, names = { "example.com/a:1", "example.com/a:2" },
      loaded = "2026-02-03T04:05:06.250000000Z", created = "2026-01-02T03:04:05.500000000Z",
      time = 1770091506.25, size = 5, read_only = false,
    }, by_id[a])
    assert.are.equal(77, by_id[b].size)
    assert.are.same({}, by_id[b].names)
    assert.are.equal(st:usage().size, by_id[a].size + by_id[b].size)
  end)

  it("marks the images of additional stores with their store", function()
    local lower = root .. "/lower"
    local below
    do
      local l <close> = assert(imagestore.open(lower))
      below = helpers.create(l, {}).id
    end
    local mine = helpers.create(st, {}).id
    st:close()
    st = assert(imagestore.open(dir, { additional = { lower } }))
    local by_id = {}
    for _, s in ipairs(st:summaries()) do by_id[s.id] = s end
    assert.are.equal(lower, by_id[below].store)
    assert.is_true(by_id[below].read_only)
    assert.is_nil(by_id[mine].store)
    assert.is_false(by_id[mine].read_only)
  end)
end)
