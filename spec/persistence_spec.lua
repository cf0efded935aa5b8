-- What reaches the disk: every mutation survives close+open, load() sees
-- other handles' changes, times are normalized, images.json has the
-- contract's shape, big-data files follow the naming rule, and no temp files
-- are left behind.

local helpers = require("spec.helpers")
local fails, succeeds, create = helpers.fails, helpers.succeeds, helpers.create
local imagestore = require("imagestore")

local function close_quietly(st)
  if st then pcall(st.close, st) end
end

-- Keys the contract lets a record have, in the order they are written.
local RECORD_KEYS = {
  "id", "digest", "names", "names-history", "layer", "metadata", "big-data-names",
  "big-data-sizes", "big-data-digests", "created", "loaded", "size", "flags",
}

-- Positions of the top-level keys of a JSON object text, in order of
-- appearance (a small scanner: enough for the records the store writes).
local function top_level_keys(text)
  local keys = {}
  local depth, i, n = 0, 1, #text
  local expect_key = false
  while i <= n do
    local c = text:sub(i, i)
    if c == '"' then
      local j = i + 1
      while true do
        local d = text:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == '"' or d == "" then break
        else j = j + 1 end
      end
      if depth == 1 and expect_key then
        keys[#keys + 1] = text:sub(i + 1, j - 1)
        expect_key = false
      end
      i = j + 1
    else
      if c == "{" or c == "[" then
        depth = depth + 1
        if depth == 1 and c == "{" then expect_key = true end
      elseif c == "}" or c == "]" then
        depth = depth - 1
      elseif c == "," and depth == 1 then
        expect_key = true
      end
      i = i + 1
    end
  end
  return keys
end

describe("persistence", function()
  local root, dir, st

  local function reopen(opts)
    st:close()
    st = assert(imagestore.open(dir, opts))
    return st
  end

  local function record_path(id)
    return dir .. "/" .. id .. "/images.json"
  end

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    st = assert(imagestore.open(dir))
  end)

  after_each(function()
    close_quietly(st)
    st = nil
    helpers.cleanup()
  end)

  describe("create", function()
    it("survives close and open with every field", function()
      local layer = helpers.random_id()
      local digest = "sha256:" .. helpers.random_id()
      local img = create(st, {
        names = { "example.com/a:1", "b" }, layer = layer, metadata = "{}",
        created = "2017-07-10T12:46:57.770791248Z", digest = digest,
      })
      reopen()
      local got = st:get(img.id)
      assert.are.same(img, got)
      assert.are.equal(digest, got.digest)
      assert.are.same({ digest }, got.digests)
      assert.are.equal("2017-07-10T12:46:57.770791248Z", got.created)
      assert.are.same({}, st:problems())
    end)

    it("writes <dir>/<id>/images.json as an object with the contract's keys", function()
      local layer = helpers.random_id()
      local digest = "sha256:" .. helpers.random_id()
      local img = create(st, {
        names = { "n:1" }, layer = layer, metadata = "meta",
        created = 1500000000, digest = digest,
      })
      local path = record_path(img.id)
      assert.is_true(helpers.is_file(path))
      local rec = helpers.read_json(path)
      assert.is_table(rec)
      assert.are.equal(img.id, rec.id)
      assert.are.equal(digest, rec.digest)
      assert.are.same({ "n:1" }, rec.names)
      assert.is_nil(rec["names-history"]) -- names given at create are not history
      succeeds(st:set_names(img.id, { "n:2", "n:1" }))
      assert.are.same({ "n:1", "n:2" }, helpers.read_json(path)["names-history"])
      rec = helpers.read_json(path)
      assert.are.equal(layer, rec.layer)
      assert.are.equal("meta", rec.metadata)
      assert.are.equal("2017-07-14T02:40:00.000000000Z", rec.created)
      for key in pairs(rec) do
        local known = false
        for _, k in ipairs(RECORD_KEYS) do known = known or k == key end
        assert.is_true(known, "unexpected key " .. key)
      end
    end)

    it("omits empty and absent fields", function()
      local img = create(st)
      local rec = helpers.read_json(record_path(img.id))
      assert.are.equal(img.id, rec.id)
      assert.is_string(rec.created)
      for _, key in ipairs({ "digest", "names", "names-history", "layer", "metadata",
                             "big-data-names", "big-data-sizes", "big-data-digests", "size", "flags" }) do
        assert.is_nil(rec[key], "key " .. key .. " should be omitted")
      end
    end)

    it("writes the keys in the contract's order", function()
      local id = create(st, {
        names = { "a" }, layer = helpers.random_id(), metadata = "{}",
        digest = "sha256:" .. helpers.random_id(),
      }).id
      succeeds(st:add_name(id, "b"))
      succeeds(st:set_big_data(id, "manifest", "m"))
      succeeds(st:set_loaded_time(id, 1500000000))
      succeeds(st:set_size(id, 9))
      local keys = top_level_keys(helpers.read_file(record_path(id)))
      local want = {
        "id", "digest", "names", "names-history", "layer", "metadata", "big-data-names",
        "big-data-sizes", "big-data-digests", "created", "loaded", "size",
      }
      assert.are.same(want, keys)
    end)

    it("makes the image directory", function()
      local img = create(st)
      assert.is_true(helpers.is_dir(dir .. "/" .. img.id))
      assert.are.same({ img.id }, helpers.list_visible(dir))
    end)
  end)

  describe("set_names", function()
    it("survives close and open", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a" }))
      succeeds(st:set_names(id, { "name-b", "name-c" }))
      reopen()
      assert.are.same({ "name-b", "name-c" }, st:get(id).names)
      assert.are.same({ "name-c", "name-b", "name-a" }, st:get(id).names_history)
      assert.are.same({ "name-c", "name-b", "name-a" }, helpers.read_json(record_path(id))["names-history"])
      assert.is_false(st:exists("name-a"))
    end)
  end)

  describe("add_name", function()
    it("survives close and open", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a" }))
      succeeds(st:add_name(id, "name-b"))
      reopen()
      assert.are.same({ "name-a", "name-b" }, st:get(id).names)
      assert.are.same({ "name-a", "name-b" }, st:get(id).names_history)
      assert.are.equal(id, st:lookup("name-b"))
    end)
  end)

  describe("remove_name", function()
    it("survives close and open", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a", "name-b" }))
      succeeds(st:remove_name(id, "name-b"))
      reopen()
      assert.are.same({ "name-a" }, st:get(id).names)
      assert.are.same({ "name-a", "name-b" }, st:get(id).names_history)
      assert.is_false(st:exists("name-b"))
    end)
  end)

  -- Records written before names-history followed containers/storage's
  -- order and the digest stayed once derived: read as they are; a later
  -- names call applies the new rule on top of the history as stored.
  describe("records written before issue 16", function()
    local OLD_ID = ("ab"):rep(32)
    local M = imagestore.sha256("old manifest")

    before_each(function()
      st:close()
      helpers.mkdir(dir .. "/" .. OLD_ID)
      helpers.write_file(dir .. "/" .. OLD_ID .. "/manifest", "old manifest")
      -- create gave {"a", "b"}, then add_name "c" prepended: {"c", "a", "b"}
      helpers.write_file(record_path(OLD_ID), '{"id":"' .. OLD_ID .. '","digest":"' .. M .. '",'
        .. '"names":["a","b","c"],"names-history":["c","a","b"],"big-data-names":["manifest"],'
        .. '"big-data-sizes":{"manifest":12},"big-data-digests":{"manifest":"' .. M .. '"},'
        .. '"created":"2020-01-01T00:00:00.000000000Z","loaded":"2020-01-01T00:00:00.000000000Z"}')
      st = assert(imagestore.open(dir))
    end)

    it("reads the names history as stored, and a rewrite keeps it", function()
      assert.are.same({}, st:problems())
      assert.are.same({ "c", "a", "b" }, st:get(OLD_ID).names_history)
      succeeds(st:set_metadata(OLD_ID, "touched"))
      assert.are.same({ "c", "a", "b" }, helpers.read_json(record_path(OLD_ID))["names-history"])
      succeeds(st:set_names(OLD_ID, { "b", "d" }))
      assert.are.same({ "d", "b", "c", "a" }, helpers.read_json(record_path(OLD_ID))["names-history"])
    end)

    it("keeps the digest it derived from the manifest when the manifest is replaced", function()
      assert.are.equal(M, st:get(OLD_ID).digest)
      succeeds(st:set_big_data(OLD_ID, "manifest", "new manifest"))
      reopen()
      assert.are.equal(M, st:get(OLD_ID).digest)
      assert.are.same({ M, imagestore.sha256("new manifest") }, st:get(OLD_ID).digests)
      assert.are.equal(OLD_ID, st:lookup("a@" .. M))
      assert.are.same({ OLD_ID }, helpers.ids(st:by_digest(M)))
    end)
  end)

  describe("delete", function()
    it("survives close and open", function()
      local a = create(st, { names = { "name-a" } }).id
      local b = create(st, { names = { "name-b" } }).id
      succeeds(st:delete(a))
      reopen()
      assert.are.same({ b }, helpers.ids(st:images()))
      assert.is_false(st:exists("name-a"))
      assert.are.same({ b }, helpers.list_visible(dir))
    end)
  end)

  describe("wipe", function()
    it("survives close and open", function()
      create(st, { names = { "name-a" } })
      create(st, { names = { "name-b" } })
      succeeds(st:wipe())
      reopen()
      assert.are.same({}, st:images())
      assert.are.same({}, helpers.list_visible(dir))
    end)
  end)

  describe("set_loaded_time", function()
    it("survives close and open", function()
      local id = create(st).id
      succeeds(st:set_loaded_time(id, "2020-03-16T03:46:12.172621513Z"))
      reopen()
      assert.are.equal("2020-03-16T03:46:12.172621513Z", st:get(id).loaded)
      assert.are.equal("2020-03-16T03:46:12.172621513Z", helpers.read_json(record_path(id)).loaded)
    end)
  end)

  describe("set_metadata", function()
    it("survives close and open", function()
      local id = create(st, { metadata = "old" }).id
      succeeds(st:set_metadata(id, '{"new":true}'))
      reopen()
      assert.are.equal('{"new":true}', st:metadata(id))
      assert.are.equal('{"new":true}', helpers.read_json(record_path(id)).metadata)
    end)
  end)

  describe("set_size", function()
    it("survives close and open", function()
      local id = create(st).id
      succeeds(st:set_size(id, 4096))
      reopen()
      assert.are.equal(4096, st:get(id).size)
      assert.are.equal(4096, helpers.read_json(record_path(id)).size)
    end)

    it("records a size of zero", function()
      local id = create(st).id
      succeeds(st:set_size(id, 0))
      reopen()
      assert.are.equal(0, st:get(id).size)
      assert.are.equal(0, helpers.read_json(record_path(id)).size)
    end)
  end)

  describe("set_big_data", function()
    it("survives close and open, binary-safe", function()
      local id = create(st).id
      local data = "\0\1\2binary\0" .. string.rep("\255", 513)
      succeeds(st:set_big_data(id, "layer.tar", data))
      succeeds(st:set_big_data(id, "manifest", "M"))
      reopen()
      assert.are.same({ "layer.tar", "manifest" }, st:big_data_names(id))
      assert.are.equal(data, st:big_data(id, "layer.tar"))
      assert.are.equal(#data, st:big_data_size(id, "layer.tar"))
      assert.are.equal(imagestore.sha256(data), st:big_data_digest(id, "layer.tar"))
      assert.are.equal(imagestore.sha256("M"), st:get(id).digest)
      assert.are.same({ imagestore.sha256("M") }, st:get(id).digests)
    end)

    it("records names, sizes and digests in images.json", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "sha256:" .. id, "config"))
      succeeds(st:set_big_data(id, "manifest", "M"))
      local rec = helpers.read_json(record_path(id))
      assert.are.same({ "sha256:" .. id, "manifest" }, rec["big-data-names"])
      assert.are.same({ ["sha256:" .. id] = 6, manifest = 1 }, rec["big-data-sizes"])
      assert.are.same({
        ["sha256:" .. id] = imagestore.sha256("config"),
        manifest = imagestore.sha256("M"),
      }, rec["big-data-digests"])
      assert.are.equal(imagestore.sha256("M"), rec.digest)
    end)

    it("names files by the key or '=' .. base64(key)", function()
      local id = create(st).id
      local keys = {
        manifest = "manifest",
        ["config.json"] = "config.json",
        ["0.9"] = "0.9",
        ["sha256:" .. id] = "=" .. helpers.base64("sha256:" .. id),
        Manifest = "=TWFuaWZlc3Q=",
        ["manifest-sha256:abc"] = "=" .. helpers.base64("manifest-sha256:abc"),
        ["a b"] = "=YSBi",
        ["a/b"] = "=YS9i",
        ["a_b"] = "=YV9i",
      }
      for key in pairs(keys) do
        succeeds(st:set_big_data(id, key, "data of " .. key))
      end
      local want = { "images.json" }
      for key, file in pairs(keys) do
        want[#want + 1] = file
        assert.are.equal("data of " .. key, helpers.read_file(dir .. "/" .. id .. "/" .. file), "file for key " .. key)
      end
      table.sort(want)
      assert.are.same(want, helpers.list_dir(dir .. "/" .. id))
    end)

    it("replaces the file of a replaced key", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "manifest", "first"))
      succeeds(st:set_big_data(id, "manifest", "second"))
      assert.are.equal("second", helpers.read_file(dir .. "/" .. id .. "/manifest"))
      assert.are.same({ "images.json", "manifest" }, helpers.list_dir(dir .. "/" .. id))
    end)
  end)

  describe("save", function()
    it("survives close and open", function()
      local id = create(st, { names = { "a" }, metadata = "m" }).id
      local before = st:get(id)
      succeeds(st:save())
      reopen()
      assert.are.same(before, st:get(id))
    end)
  end)

  describe("load", function()
    it("sees every change another handle makes, at its next call; load() re-reads what no handle announced", function()
      local other = assert(imagestore.open(dir))
      local id = create(st, { names = { "name-a" } }).id
      assert.are.equal(id, other:lookup("name-a"))

      succeeds(st:set_names(id, { "name-b" }))
      succeeds(st:set_metadata(id, "changed"))
      succeeds(st:set_big_data(id, "manifest", "M"))
      succeeds(st:set_size(id, 3))
      succeeds(st:set_loaded_time(id, 1500000000))
      assert.are.same(st:get(id), other:get(id))
      assert.is_false(other:exists("name-a"))
      assert.are.equal("M", other:big_data("name-b", "manifest"))

      local id2 = create(st).id
      succeeds(st:delete(id))
      assert.are.same({ id2 }, helpers.ids(other:images()))

      succeeds(st:wipe())
      assert.are.same({}, other:images())

      -- a record written by another tool (by rename, as iSulad and
      -- containers/storage write theirs): no handle announced it, and
      -- load() reads it, in both handles
      local id3 = create(st, { names = { "name-c" }, metadata = "mine" }).id
      assert.are.equal(id3, other:lookup("name-c"))
      local record = helpers.read_json(record_path(id3))
      record.names = { "name-d" }
      record.metadata = "theirs"
      helpers.write_file(dir .. "/" .. id3 .. "/.new", helpers.encode_json(record))
      assert(os.rename(dir .. "/" .. id3 .. "/.new", record_path(id3)))
      succeeds(other:load())
      assert.are.equal(id3, other:lookup("name-d"))
      assert.is_false(other:exists("name-c"))
      assert.are.equal("theirs", other:metadata(id3))
      succeeds(st:load())
      assert.are.same(other:get(id3), st:get(id3))
      assert.are.same({ id3 }, helpers.ids(st:images()))
      other:close()
    end)

    it("makes no changes on disk", function()
      create(st, { names = { "a" } })
      create(st, { names = { "b" } })
      local before = helpers.tree_hash(dir)
      succeeds(st:load())
      assert.are.equal(before, helpers.tree_hash(dir))
    end)
  end)

  describe("open", function()
    it("makes no changes on disk", function()
      local id = create(st, { names = { "a" } }).id
      succeeds(st:set_big_data(id, "manifest", "m"))
      st:close()
      local before = helpers.tree_hash(dir)
      st = assert(imagestore.open(dir))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("ignores entries whose name starts with a dot", function()
      local id = helpers.random_id()
      helpers.mkdir(dir .. "/.tmp-" .. id)
      helpers.write_file(dir .. "/.tmp-" .. id .. "/images.json", '{"id":"' .. id .. '","names":["hidden"]}')
      helpers.write_file(dir .. "/.tmp-junk", "junk")
      reopen()
      assert.are.same({}, st:images())
      assert.is_false(st:exists("hidden"))
      assert.is_true(helpers.is_file(dir .. "/.tmp-junk"))
    end)
  end)

  describe("times", function()
    local cases = {
      { 1500000000, "2017-07-14T02:40:00.000000000Z" },
      { 1500000000.5, "2017-07-14T02:40:00.500000000Z" },
      { 1500000000.25, "2017-07-14T02:40:00.250000000Z" },
      { "2017-07-10T12:46:57.770791248Z", "2017-07-10T12:46:57.770791248Z" },
      { "2020-03-16T05:46:12.172621513+02:00", "2020-03-16T03:46:12.172621513Z" },
      { "2020-03-15T23:46:12.5-04:00", "2020-03-16T03:46:12.500000000Z" },
      { "2020-03-16T03:46:12Z", "2020-03-16T03:46:12.000000000Z" },
      { "2020-12-31T23:30:00-01:00", "2021-01-01T00:30:00.000000000Z" },
    }

    for _, case in ipairs(cases) do
      it("stores " .. tostring(case[1]) .. " as " .. case[2], function()
        local id = create(st, { created = case[1] }).id
        succeeds(st:set_loaded_time(id, case[1]))
        assert.are.equal(case[2], st:get(id).created)
        assert.are.equal(case[2], st:get(id).loaded)
        local rec = helpers.read_json(record_path(id))
        assert.are.equal(case[2], rec.created)
        assert.are.equal(case[2], rec.loaded)
        reopen()
        assert.are.equal(case[2], st:get(id).created)
        assert.are.equal(case[2], st:get(id).loaded)
      end)
    end

    for _, bad in ipairs({ "yesterday", "", "2020-03-16T03:46:12", "2020-13-01T00:00:00Z", "2020-03-16" }) do
      it("rejects " .. string.format("%q", bad) .. " with EINVAL", function()
        local id = create(st).id
        local loaded = st:get(id).loaded
        local before = helpers.tree_hash(dir)
        fails("EINVAL", 'invalid time "' .. bad .. '": want RFC 3339', st:create{ created = bad })
        fails("EINVAL", 'invalid time "' .. bad .. '": want RFC 3339', st:set_loaded_time(id, bad))
        assert.are.equal(1, #st:images())
        assert.are.equal(loaded, st:get(id).loaded)
        assert.are.equal(before, helpers.tree_hash(dir))
      end)
    end

    it("returns times read from disk exactly as stored", function()
      local id = helpers.random_id()
      helpers.mkdir(dir .. "/" .. id)
      helpers.write_file(record_path(id), '{"id":"' .. id .. '","created":"2019-10-11T17:26:17.8Z",'
        .. '"loaded":"2020-06-12T04:50:49.4716268+02:00"}')
      reopen()
      assert.are.equal("2019-10-11T17:26:17.8Z", st:get(id).created)
      assert.are.equal("2020-06-12T04:50:49.4716268+02:00", st:get(id).loaded)
    end)

    it("accepts the key Loaded and writes it back as loaded", function()
      local id = helpers.random_id()
      helpers.mkdir(dir .. "/" .. id)
      helpers.write_file(record_path(id), '{"id":"' .. id .. '","names":["x"],'
        .. '"created":"2019-10-11T17:26:17.800168778Z","Loaded":"2020-06-12T02:50:49.4716268Z"}')
      reopen()
      assert.are.same({}, st:problems())
      assert.are.equal("2020-06-12T02:50:49.4716268Z", st:get(id).loaded)
      succeeds(st:set_metadata(id, "m"))
      local rec = helpers.read_json(record_path(id))
      assert.are.equal("2020-06-12T02:50:49.4716268Z", rec.loaded)
      assert.is_nil(rec.Loaded)
      reopen()
      assert.are.equal("2020-06-12T02:50:49.4716268Z", st:get(id).loaded)
    end)
  end)

  describe("temp files", function()
    it("are not left behind after operations", function()
      local a = create(st, { names = { "a" } }).id
      local b = create(st, { names = { "b" } }).id
      succeeds(st:set_names(a, { "c", "b" }))
      succeeds(st:add_name(b, "d"))
      succeeds(st:remove_name(b, "d"))
      succeeds(st:set_big_data(a, "manifest", "m"))
      succeeds(st:set_big_data(a, "manifest", "m2"))
      succeeds(st:set_big_data(a, "sha256:" .. a, string.rep("x", 100000)))
      succeeds(st:set_metadata(a, "meta"))
      succeeds(st:set_size(a, 10))
      succeeds(st:set_loaded_time(a, 1500000000))
      succeeds(st:save())
      succeeds(st:load())
      -- failures too
      assert.is_nil(st:create{ names = { "a", "c" } })
      assert.is_nil(st:set_big_data(a, "..", "x"))
      succeeds(st:delete(b))
      assert.are.same({}, helpers.temp_leftovers(dir))
      assert.are.same({ a }, helpers.list_visible(dir))
      succeeds(st:wipe())
      assert.are.same({}, helpers.temp_leftovers(dir))
      assert.are.same({}, helpers.list_visible(dir))
    end)
  end)
end)
