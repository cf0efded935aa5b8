-- The read methods of the binding (issue 10): one table-driven getter for
-- all ten, and image tables built straight into Lua. What they return and
-- how they fail stays as it was: every image table is a fresh, independent,
-- plain table with the same fields; every argument error names its method.

local helpers = require("spec.helpers")
local fails, create = helpers.fails, helpers.create
local imagestore = require("imagestore")

local ID_F = ("f"):rep(64)
local D1 = "sha256:" .. ("1"):rep(64)
local CFG = "sha256:" .. ("2"):rep(64)

-- A record written by hand: digests repeated (the manifest's is the image's,
-- the config is kept under its own digest), a big-data name with no size or
-- digest, names in the history, and every kind of flag.
local RECORD = '{"id":"' .. ID_F .. '","digest":"' .. D1 .. '",'
  .. '"names":["f:1","f:2"],"names-history":["f:2","f:0"],"metadata":"{}","layer":"l1",'
  .. '"big-data-names":["manifest","' .. CFG .. '","odd"],'
  .. '"big-data-sizes":{"manifest":10,"' .. CFG .. '":20},'
  .. '"big-data-digests":{"manifest":"' .. D1 .. '","' .. CFG .. '":"' .. CFG .. '"},'
  .. '"created":"2020-01-01T00:00:00.000000000Z","loaded":"2020-01-02T00:00:00.000000000Z",'
  .. '"size":77,"flags":{"b":true,"f":false,"n":12,"x":1.5e3,"neg":-7,"s":"v","z":null,'
  .. '"o":{"k":[1,"two"]},"a":[]}}'

local EXPECTED_F = {
  id = ID_F,
  digest = D1,
  digests = { D1 },
  names = { "f:1", "f:2" },
  names_history = { "f:2", "f:0" },
  layer = "l1",
  metadata = "{}",
  big_data_names = { "manifest", CFG, "odd" },
  big_data_sizes = { manifest = 10, [CFG] = 20 },
  big_data_digests = { manifest = D1, [CFG] = CFG },
  created = "2020-01-01T00:00:00.000000000Z",
  loaded = "2020-01-02T00:00:00.000000000Z",
  size = 77,
  flags = { b = true, f = false, n = 12, x = 1500.0, neg = -7, s = "v", o = '{"k":[1,"two"]}', a = "[]" },
  read_only = false,
}

local TABLE_FIELDS = { "digests", "names", "names_history", "big_data_names", "big_data_sizes",
                       "big_data_digests", "flags" }

-- Every table in an image table, the image table first.
local function tables_of(img)
  local out = { img }
  for _, f in ipairs(TABLE_FIELDS) do out[#out + 1] = img[f] end
  return out
end

local function assert_plain(img)
  for _, t in ipairs(tables_of(img)) do
    assert.are.equal("table", type(t))
    assert.is_nil(getmetatable(t))
  end
end

-- No table of a is a table of b.
local function assert_disjoint(a, b)
  for _, ta in ipairs(tables_of(a)) do
    for _, tb in ipairs(tables_of(b)) do
      assert.is_false(rawequal(ta, tb))
    end
  end
end

-- Changes every table of img.
local function scribble(img)
  img.id = "changed"
  img.extra = true
  for _, f in ipairs(TABLE_FIELDS) do
    local t = img[f]
    t[1] = "changed"
    t.changed = "yes"
  end
  img.big_data_sizes.manifest = -1
  img.big_data_digests.manifest = "changed"
  img.flags.b = "changed"
end

describe("the binding's image tables and getters", function()
  local dir, st

  before_each(function()
    dir = helpers.tmpdir() .. "/store"
    helpers.mkdir(dir .. "/" .. ID_F)
    helpers.write_file(dir .. "/" .. ID_F .. "/images.json", RECORD)
    st = assert(imagestore.open(dir))
    assert.are.same({}, st:problems())
  end)

  after_each(function()
    if st then pcall(st.close, st) end
    st = nil
    helpers.cleanup()
  end)

  describe("image tables", function()
    it("have exactly the record's fields, from get, images and by_digest", function()
      assert.are.same(EXPECTED_F, st:get(ID_F))
      assert.are.same({ EXPECTED_F }, st:images())
      assert.are.same({ EXPECTED_F }, st:by_digest(D1))
      assert.are.same({}, st:by_digest("sha256:" .. ("9"):rep(64)))
    end)

    it("leave out what the record does not have", function()
      local img = create(st, { id = ("a"):rep(64), created = 0 })
      local keys = {}
      for k in pairs(img) do keys[#keys + 1] = k end
      table.sort(keys)
      assert.are.same({ "big_data_digests", "big_data_names", "big_data_sizes", "created",
                        "digests", "flags", "id", "loaded", "names", "names_history",
                        "read_only" }, keys)
      assert.are.same(img, st:get(img.id))
      for _, f in ipairs(TABLE_FIELDS) do assert.are.same({}, img[f]) end
    end)

    it("are plain tables", function()
      assert_plain(st:get(ID_F))
      assert_plain(st:images()[1])
      assert_plain(st:by_digest(D1)[1])
      assert_plain(create(st, { names = { "plain:1" } }))
    end)

    it("are fresh on every call: changing one changes no other", function()
      local a, b = st:get(ID_F), st:get(ID_F)
      local la, lb = st:images(), st:images()
      local da, db = st:by_digest(D1), st:by_digest(D1)
      assert.is_false(rawequal(la, lb))
      assert.is_false(rawequal(da, db))
      local all = { a, b, la[1], lb[1], da[1], db[1] }
      for i = 1, #all do
        for j = i + 1, #all do assert_disjoint(all[i], all[j]) end
      end
      scribble(a)
      scribble(la[1])
      scribble(da[1])
      la[2] = "extra"
      assert.are.same(EXPECTED_F, b)
      assert.are.same({ EXPECTED_F }, lb)
      assert.are.same({ EXPECTED_F }, db)
      assert.are.same(EXPECTED_F, st:get(ID_F))
      assert.are.same({ EXPECTED_F }, st:images())
    end)

    it("of many images are each their own", function()
      assert(st:batch(function(b)
        for i = 1, 30 do create(b, { names = { "many/" .. i .. ":1" }, metadata = "m" .. i }) end
      end))
      local list = st:images()
      assert.are.equal(31, #list)
      for i = 1, #list do
        for j = i + 1, #list do assert_disjoint(list[i], list[j]) end
        assert.are.same(list[i], st:get(list[i].id))
      end
    end)

    it("mark a read-only store's images", function()
      st:close()
      st = assert(imagestore.open(dir, { readonly = true }))
      local want = {}
      for k, v in pairs(EXPECTED_F) do want[k] = v end
      want.read_only = true
      assert.are.same(want, st:get(ID_F))
      assert.are.same({ want }, st:images())
    end)
  end)

  describe("getters", function()
    local ONE = { "get", "lookup", "metadata", "big_data_names", "by_digest" }
    local TWO = { "big_data", "big_data_size", "big_data_digest" }

    it("answer as before", function()
      assert.is_true(st:exists(ID_F))
      assert.is_true(st:exists("f:1"))
      assert.is_false(st:exists("nope"))
      assert.is_false(st:exists("f:1\0"))
      assert.are.equal(ID_F, st:lookup("f:2"))
      assert.are.equal("{}", st:metadata(ID_F))
      assert.are.same({ "manifest", CFG, "odd" }, st:big_data_names(ID_F))
      fails("ENOTFOUND", 'image not found: "nope"', st:get("nope"))
      fails("ENOTFOUND", 'image not found: "nope"', st:lookup("nope"))
      fails("EINVAL", 'invalid reference "a\0b": contains a NUL byte', st:get("a\0b"))
      fails("EINVAL", 'invalid digest "a\0b": contains a NUL byte', st:by_digest("a\0b"))
      fails("EINVAL", 'invalid big-data key "k\0": contains a NUL byte', st:big_data(ID_F, "k\0"))
      fails("EINVAL", 'invalid reference "r\0": contains a NUL byte', st:big_data_size("r\0", "k\0"))
      local img = create(st, { names = { "data:1" } })
      assert(st:set_big_data(img.id, "bin", "a\0b"))
      assert.are.equal("a\0b", st:big_data("data:1", "bin"))
      assert.are.equal(3, st:big_data_size("data:1", "bin"))
      assert.are.equal(imagestore.sha256("a\0b"), st:big_data_digest("data:1", "bin"))
      assert(st:set_big_data(img.id, "empty", ""))
      assert.are.equal("", st:big_data("data:1", "empty"))
      assert.are.equal(0, st:big_data_size("data:1", "empty"))
    end)

    it("name themselves in argument errors, also through pcall", function()
      local function raised(f, ...)
        local ok, err = pcall(f, ...)
        assert.is_false(ok)
        return err
      end
      local all = { "exists", "images" }
      for _, m in ipairs(ONE) do all[#all + 1] = m end
      for _, m in ipairs(TWO) do all[#all + 1] = m end
      for _, m in ipairs(all) do
        assert.are.equal(("bad argument #1 to '%s' (imagestore.store expected, got number)"):format(m),
          raised(st[m], 5, "x", "y"))
        assert.are.equal(("bad argument #1 to '%s' (imagestore.store expected, got no value)"):format(m),
          raised(st[m]))
      end
      for _, m in ipairs({ "exists", table.unpack(ONE) }) do
        assert.are.equal(("bad argument #2 to '%s' (string expected, got table)"):format(m),
          raised(st[m], st, {}))
        assert.are.equal(("bad argument #2 to '%s' (string expected, got no value)"):format(m),
          raised(st[m], st))
      end
      for _, m in ipairs(TWO) do
        assert.are.equal(("bad argument #2 to '%s' (string expected, got number)"):format(m),
          raised(st[m], st, 1, "k"))
        assert.are.equal(("bad argument #3 to '%s' (string expected, got nil)"):format(m),
          raised(st[m], st, "r\0", nil))
      end
      -- called as methods, Lua names them itself (and counts from after self)
      assert.matches(":%d+: bad argument #1 to 'big_data' %(string expected, got boolean%)$",
        raised(function() return st:big_data(true, "k") end))
      assert.matches(":%d+: bad argument #1 to 'exists' %(string expected, got nil%)$",
        raised(function() return st:exists(nil) end))
    end)

    it("raise on a closed store and inside the store's hooks", function()
      assert(st:add_hook("name", function(name)
        if name == "inner" then
          local ok, err = pcall(st.get, st, ID_F)
          assert(not ok and err == "cannot use the store from inside one of its hooks")
          ok, err = pcall(st.images, st)
          assert(not ok and err == "cannot use the store from inside one of its hooks")
        end
      end))
      fails("ENOTFOUND", 'image not found: "inner"', st:lookup("inner"))
      st:close()
      for _, m in ipairs({ "exists", "get", "lookup", "images", "by_digest", "metadata", "big_data",
                           "big_data_size", "big_data_digest", "big_data_names" }) do
        local ok, err = pcall(st[m], st, ID_F, "manifest")
        assert.is_false(ok)
        assert.are.equal("attempt to use a closed store", err)
      end
    end)

    it("report a failed hook, exists too", function()
      assert(st:add_hook("name", function(name)
        if name == "boom" then error("boom", 0) end
      end))
      fails("EHOOK", "name hook failed: boom", st:get("boom"))
      fails("EHOOK", "name hook failed: boom", st:exists("boom"))
      assert.is_true(st:exists(ID_F))
    end)

    it("work when a finalizer calls the store while a result is converted", function()
      assert(st:batch(function(b)
        for i = 1, 40 do create(b, { names = { "gc/" .. i .. ":1" } }) end
      end))
      local inside, nested = false, 0
      local function arm()
        setmetatable({}, { __gc = function()
          if not inside then return end
          nested = nested + 1
          local img = st:get(ID_F)
          assert(img and img.id == ID_F and img.big_data_digests.manifest == D1)
          assert(#st:by_digest(D1) == 1)
          assert(st:lookup("f:1") == ID_F)
        end })
      end
      local previous = collectgarbage("incremental", 20, 1000, 6) -- collect all the time
      local ok, err = pcall(function()
        for _ = 1, 10 do
          for _ = 1, 20 do arm() end
          inside = true
          local list = st:images()
          inside = false
          assert.are.equal(41, #list)
          for _, img in ipairs(list) do assert.are.same(img, st:get(img.id)) end
        end
      end)
      inside = false
      collectgarbage("incremental", 200, 100, 13) -- Lua's defaults
      collectgarbage(previous)
      assert(ok, err)
      assert.is_true(nested > 0, "no finalizer ran inside images()")
    end)
  end)
end)
