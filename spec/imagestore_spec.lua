-- The Lua API of the imagestore module: every operation, every error code
-- and message of docs/contract.md, raises, and the store object's lifecycle.

local helpers = require("spec.helpers")
local fails, succeeds, create = helpers.fails, helpers.succeeds, helpers.create
local imagestore = require("imagestore")

local function close_quietly(st)
  if st then pcall(st.close, st) end
end

local EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
local ABC_SHA256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

describe("imagestore", function()
  local root, dir, st

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

  describe("sha256", function()
    it("returns sha256:<hex> of known vectors", function()
      assert.are.equal(EMPTY_SHA256, imagestore.sha256(""))
      assert.are.equal(ABC_SHA256, imagestore.sha256("abc"))
    end)

    it("is binary-safe and agrees with sha256sum", function()
      local data = "a\0b\0\255\254" .. string.rep("\0", 300) .. "z"
      assert.are.equal(helpers.sha256_of(data), imagestore.sha256(data))
      assert.are_not.equal(imagestore.sha256("a"), imagestore.sha256("a\0"))
    end)

    it("raises for a non-string argument", function()
      assert.has_error(function() imagestore.sha256({}) end)
      assert.has_error(function() imagestore.sha256() end)
    end)
  end)

  describe("open", function()
    it("creates a missing store directory with mode 0700", function()
      local d = root .. "/fresh"
      assert.is_false(helpers.exists(d))
      local s <close> = assert(imagestore.open(d))
      assert.is_true(helpers.is_dir(d))
      assert.are.equal("700", helpers.mode(d))
    end)

    it("opens an existing empty directory with an empty store", function()
      local d = helpers.tmpdir()
      local s <close> = assert(imagestore.open(d, {}))
      assert.are.same({}, s:images())
      assert.are.same({}, s:problems())
    end)

    it("accepts the readonly and daemon options", function()
      create(st, { names = { "opt" } })
      local a <close> = assert(imagestore.open(dir, { readonly = false, daemon = true }))
      assert.is_true(a:exists("opt"))
      local b <close> = assert(imagestore.open(dir, { readonly = true, daemon = false }))
      assert.is_true(b:exists("opt"))
    end)

    it("fails ENOTFOUND for a readonly open of a missing directory, creating nothing", function()
      local d = root .. "/missing"
      local before = helpers.tree_hash(root)
      fails("ENOTFOUND", "store directory does not exist: " .. d, imagestore.open(d, { readonly = true }))
      assert.is_false(helpers.exists(d))
      assert.are.equal(before, helpers.tree_hash(root))
    end)

    it("fails with the errno name when a path component is a regular file", function()
      local file = root .. "/plain"
      helpers.write_file(file, "x")
      local s, msg, code = imagestore.open(file .. "/store")
      assert.is_nil(s)
      assert.are.equal("ENOTDIR", code)
      assert.is_string(msg)
      -- "<syscall> <path>: <strerror>"
      local syscall, path = msg:match("^([%w_]+) (.-): Not a directory$")
      assert.is_truthy(syscall, "message not of the form '<syscall> <path>: Not a directory': " .. tostring(msg))
      assert.are.equal(file, path:sub(1, #file))
      assert.are.equal("x", helpers.read_file(file))
    end)

    it("raises for wrong argument types", function()
      assert.has_error(function() imagestore.open() end)
      assert.has_error(function() imagestore.open({}) end)
      assert.has_error(function() imagestore.open(dir, 5) end)
      assert.has_error(function() imagestore.open(dir, "readonly") end)
      assert.has_error(function() imagestore.open(dir, { readonly = "yes" }) end)
      assert.has_error(function() imagestore.open(dir, { daemon = {} }) end)
    end)

    it("raises for unknown option keys", function()
      assert.has_error(function() imagestore.open(dir, { bogus = true }) end)
      assert.has_error(function() imagestore.open(dir, { read_only = true }) end)
    end)
  end)

  describe("store object", function()
    it("shows its directory in tostring, and 'closed' once closed", function()
      local s = assert(imagestore.open(dir))
      assert.is_truthy(tostring(s):find(dir, 1, true), tostring(s))
      assert.is_falsy(tostring(s):find("closed", 1, true))
      s:close()
      assert.is_truthy(tostring(s):find("closed", 1, true), tostring(s))
    end)

    it("raises 'attempt to use a closed store' for every method after close", function()
      local id = create(st, { names = { "x" } }).id
      local s = assert(imagestore.open(dir))
      s:close()
      local calls = {
        function() s:create{} end,
        function() s:set_names(id, { "y" }) end,
        function() s:add_name(id, "y") end,
        function() s:remove_name(id, "x") end,
        function() s:delete(id) end,
        function() s:wipe() end,
        function() s:save() end,
        function() s:load() end,
        function() s:set_loaded_time(id, 1500000000) end,
        function() s:set_metadata(id, "m") end,
        function() s:set_size(id, 1) end,
        function() s:set_big_data(id, "manifest", "x") end,
        function() s:exists(id) end,
        function() s:get(id) end,
        function() s:lookup(id) end,
        function() s:images() end,
        function() s:by_digest(ABC_SHA256) end,
        function() s:metadata(id) end,
        function() s:big_data(id, "manifest") end,
        function() s:big_data_size(id, "manifest") end,
        function() s:big_data_digest(id, "manifest") end,
        function() s:big_data_names(id) end,
        function() s:problems() end,
      }
      for _, call in ipairs(calls) do
        assert.has_error(call, "attempt to use a closed store")
      end
      -- the other handle is unaffected
      assert.is_true(st:exists(id))
    end)

    it("works as a to-be-closed variable", function()
      local handle
      do
        local s <close> = assert(imagestore.open(dir))
        handle = s
        assert.are.same({}, s:images())
      end
      assert.has_error(function() handle:images() end, "attempt to use a closed store")
    end)

    it("tolerates close followed by the end of a <close> scope", function()
      assert.has_no.errors(function()
        local s <close> = assert(imagestore.open(dir))
        s:close()
      end)
    end)

    it("has __gc and __close metamethods that close idempotently", function()
      local s = assert(imagestore.open(dir))
      local mt = getmetatable(s)
      assert.is_table(mt)
      assert.is_function(mt.__gc)
      assert.is_function(mt.__close)
      mt.__gc(s)
      assert.has_error(function() s:images() end, "attempt to use a closed store")
      assert.has_no.errors(function() mt.__gc(s) end)
      assert.has_no.errors(function() mt.__close(s) end)
      assert.is_truthy(tostring(s):find("closed", 1, true))
    end)

    it("releases stores that were never closed when they are collected", function()
      create(st, { names = { "gc" } })
      collectgarbage("collect")
      local before = helpers.open_fds()
      for _ = 1, 100 do
        local s = assert(imagestore.open(dir))
        assert.is_true(s:exists("gc"))
      end
      collectgarbage("collect")
      collectgarbage("collect")
      assert.is_true(helpers.open_fds() <= before + 1, "file descriptors leaked by collected stores")
    end)
  end)

  describe("create", function()
    it("creates an image with a generated ID and empty collections", function()
      local t0 = os.time()
      local img = create(st)
      local t1 = os.time()
      assert.is_string(img.id)
      assert.is_truthy(img.id:match("^" .. string.rep("%x", 64) .. "$"))
      assert.are.equal(img.id:lower(), img.id)
      assert.are.same({}, img.names)
      assert.are.same({}, img.names_history)
      assert.are.same({}, img.digests)
      assert.are.same({}, img.big_data_names)
      assert.are.same({}, img.big_data_sizes)
      assert.are.same({}, img.big_data_digests)
      assert.is_table(img.flags)
      assert.is_nil(img.digest)
      assert.is_nil(img.layer)
      assert.is_nil(img.metadata)
      assert.is_nil(img.size)
      assert.are.equal(false, img.read_only)
      assert.is_truthy(img.created:match(helpers.TIME_PATTERN), img.created)
      local created = helpers.epoch_of(img.created)
      assert.is_true(created >= t0 - 1 and created <= t1 + 1, "created is not now: " .. img.created)
      assert.is_true(helpers.is_file(dir .. "/" .. img.id .. "/images.json"))
    end)

    it("generates a different ID every time", function()
      local a, b = create(st), create(st)
      assert.are_not.equal(a.id, b.id)
      assert.are.equal(2, #st:images())
    end)

    it("records every field it is given", function()
      local id = helpers.random_id()
      local layer = helpers.random_id()
      local digest = "sha256:" .. helpers.random_id()
      local img = create(st, {
        id = id, names = { "example.com/a:1", "b" }, layer = layer,
        metadata = '{"k":"v"}', created = 1500000000, digest = digest,
      })
      assert.are.equal(id, img.id)
      assert.are.same({ "example.com/a:1", "b" }, img.names)
      -- names given at create stay out of the history (containers/storage)
      assert.are.same({}, img.names_history)
      assert.are.equal(layer, img.layer)
      assert.are.equal('{"k":"v"}', img.metadata)
      assert.are.equal("2017-07-14T02:40:00.000000000Z", img.created)
      assert.are.equal(digest, img.digest)
      assert.are.same({ digest }, img.digests)
      assert.are.same(img, st:get(id))
    end)

    it("fails EEXIST for a taken ID and changes nothing", function()
      local id = create(st, { names = { "first" } }).id
      local before = helpers.tree_hash(dir)
      fails("EEXIST", "image ID " .. id .. " is already in use", st:create{ id = id, names = { "second" } })
      fails("ENOTFOUND", 'image not found: "second"', st:lookup("second"))
      assert.are.same({ "first" }, st:get(id).names)
      assert.are.equal(1, #st:images())
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails ENAMEINUSE for a taken name and changes nothing", function()
      local owner = create(st, { names = { "taken" } }).id
      local id = helpers.random_id()
      local before = helpers.tree_hash(dir)
      fails("ENAMEINUSE", 'name "taken" is already used by image ' .. owner,
        st:create{ id = id, names = { "fresh", "taken" } })
      assert.is_false(st:exists(id))
      assert.is_false(st:exists("fresh"))
      assert.are.equal(owner, st:lookup("taken"))
      assert.are.equal(1, #st:images())
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails EINVAL for a malformed ID", function()
      local before = helpers.tree_hash(root)
      fails("EINVAL", 'invalid image ID "xyz": want 64 lowercase hex characters', st:create{ id = "xyz" })
      local upper = helpers.random_id():upper():gsub("^%d", "A")
      fails("EINVAL", 'invalid image ID "' .. upper .. '": want 64 lowercase hex characters', st:create{ id = upper })
      assert.are.same({}, st:images())
      assert.are.equal(before, helpers.tree_hash(root))
    end)

    it("fails EINVAL for an empty name", function()
      local before = helpers.tree_hash(dir)
      fails("EINVAL", 'invalid name "": empty', st:create{ names = { "ok", "" } })
      assert.are.same({}, st:images())
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails EINVAL for a name with a NUL byte", function()
      local img, msg, code = st:create{ names = { "a\0b" } }
      assert.is_nil(img)
      assert.are.equal("EINVAL", code)
      assert.is_truthy(msg:find('^invalid name "'), msg)
      assert.is_truthy(msg:find('": contains a NUL byte$'), msg)
      assert.are.same({}, st:images())
    end)

    it("fails EINVAL for a malformed explicit digest", function()
      local before = helpers.tree_hash(dir)
      fails("EINVAL", 'invalid digest "sha256:abc": want sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>',
        st:create{ digest = "sha256:abc", names = { "d" } })
      assert.are.same({}, st:images())
      assert.is_false(st:exists("d"))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails EINVAL for a bad time string", function()
      fails("EINVAL", 'invalid time "yesterday": want RFC 3339', st:create{ created = "yesterday" })
      assert.are.same({}, st:images())
    end)

    it("raises for wrong argument types", function()
      assert.has_error(function() st:create("x") end)
      assert.has_error(function() st:create{ names = "x" } end)
      assert.has_error(function() st:create{ names = { {} } } end)
      assert.has_error(function() st:create{ id = {} } end)
      assert.has_error(function() st:create{ metadata = {} } end)
      assert.has_error(function() st:create{ created = {} } end)
      assert.are.same({}, st:images())
    end)

    it("raises for unknown keys in its table", function()
      assert.has_error(function() st:create{ bogus = 1 } end)
      assert.has_error(function() st:create{ name = "x" } end)
      assert.are.same({}, st:images())
    end)
  end)

  describe("exists", function()
    it("finds an image by full ID, name and ID prefix", function()
      local img = create(st, { names = { "here" } })
      assert.is_true(st:exists(img.id))
      assert.is_true(st:exists("here"))
      assert.is_true(st:exists(img.id:sub(1, 12)))
      assert.is_true(st:exists(img.id:sub(1, 63)))
    end)

    it("is false for unknown references", function()
      local img = create(st, { id = helpers.random_id("abcdef"), names = { "here" } })
      assert.is_false(st:exists("there"))
      assert.is_false(st:exists("Here"))
      assert.is_false(st:exists(helpers.random_id("0")))
      assert.is_false(st:exists(img.id:sub(2, 20)))
      assert.is_false(st:exists("ABCDEF"))
      assert.is_false(st:exists(""))
    end)

    it("raises for a non-string reference", function()
      assert.has_error(function() st:exists({}) end)
      assert.has_error(function() st:exists() end)
    end)
  end)

  describe("get", function()
    it("returns the image by full ID, name and ID prefix", function()
      local img = create(st, { names = { "n:1" }, metadata = "m" })
      assert.are.same(img, st:get(img.id))
      assert.are.same(img, st:get("n:1"))
      assert.are.same(img, st:get(img.id:sub(1, 5)))
    end)

    it("returns a copy that the caller may change", function()
      local img = create(st, { names = { "n:1" } })
      local copy = st:get(img.id)
      copy.names[1] = "changed"
      copy.id = "x"
      assert.are.same({ "n:1" }, st:get(img.id).names)
      assert.are.equal(img.id, st:get("n:1").id)
    end)

    it("fails ENOTFOUND for an unknown reference", function()
      create(st)
      fails("ENOTFOUND", 'image not found: "nope"', st:get("nope"))
      fails("ENOTFOUND", 'image not found: ""', st:get(""))
    end)

    it("fails EAMBIGUOUS for a prefix of several IDs", function()
      create(st, { id = helpers.random_id("abcd0") })
      create(st, { id = helpers.random_id("abcd1") })
      fails("EAMBIGUOUS", 'image reference "abcd" is ambiguous: matches 2 images', st:get("abcd"))
    end)
  end)

  describe("lookup", function()
    it("returns the ID for a full ID, a name and a unique prefix", function()
      local img = create(st, { names = { "registry.example/app:2" } })
      assert.are.equal(img.id, st:lookup(img.id))
      assert.are.equal(img.id, st:lookup("registry.example/app:2"))
      assert.are.equal(img.id, st:lookup(img.id:sub(1, 1)))
    end)

    it("tells IDs with a common prefix apart by a longer prefix", function()
      local a = create(st, { id = helpers.random_id("abcd0") }).id
      local b = create(st, { id = helpers.random_id("abcd1") }).id
      assert.are.equal(a, st:lookup("abcd0"))
      assert.are.equal(b, st:lookup("abcd1"))
    end)

    it("fails EAMBIGUOUS naming the number of matches", function()
      create(st, { id = helpers.random_id("abcd0") })
      create(st, { id = helpers.random_id("abcd1") })
      create(st, { id = helpers.random_id("abce2") })
      fails("EAMBIGUOUS", 'image reference "abcd" is ambiguous: matches 2 images', st:lookup("abcd"))
      fails("EAMBIGUOUS", 'image reference "abc" is ambiguous: matches 3 images', st:lookup("abc"))
      fails("EAMBIGUOUS", 'image reference "a" is ambiguous: matches 3 images', st:lookup("a"))
    end)

    it("fails ENOTFOUND for a string inside an ID that is not a prefix", function()
      local img = create(st, { id = helpers.random_id("e4db68de4ff27") })
      assert.are.equal(img.id, st:lookup("e4db68de4ff27"))
      fails("ENOTFOUND", 'image not found: "4db68de4ff27"', st:lookup("4db68de4ff27"))
    end)

    it("does not match a prefix with uppercase hex", function()
      create(st, { id = helpers.random_id("abcdef") })
      fails("ENOTFOUND", 'image not found: "ABCDEF"', st:lookup("ABCDEF"))
    end)

    it("prefers a full ID over a name", function()
      local idb = helpers.random_id()
      local a = create(st, { names = { idb } }).id
      create(st, { id = idb })
      assert.are.equal(idb, st:lookup(idb))
      assert.are.equal(idb, st:get(idb).id)
      assert.are.same({ idb }, st:get(a).names)
      -- a name matches only exactly: a shorter string is B's ID prefix
      assert.are.equal(idb, st:lookup(idb:sub(1, 63)))
    end)

    it("prefers a name over an ID prefix", function()
      local b = create(st, { id = helpers.random_id("abc") }).id
      local a = create(st, { id = helpers.random_id("ff"), names = { "abc" } }).id
      assert.are.equal(a, st:lookup("abc"))
      assert.are.equal(b, st:lookup("abc" .. b:sub(4, 4)))
    end)

    it("resolves repo@digest for an image with a name in that repository", function()
      local digest = "sha256:" .. helpers.random_id()
      local img = create(st, { names = { "example.com/ns/repo:1.0" }, digest = digest })
      assert.are.equal(img.id, st:lookup("example.com/ns/repo@" .. digest))
      assert.are.same(img, st:get("example.com/ns/repo@" .. digest))
    end)

    it("resolves repo@digest with a manifest digest and a registry port", function()
      local img = create(st, { names = { "localhost:5000/app:latest" } })
      local manifest = '{"schemaVersion":2}'
      succeeds(st:set_big_data(img.id, "manifest", manifest))
      assert.are.equal(img.id, st:lookup("localhost:5000/app@" .. imagestore.sha256(manifest)))
    end)

    it("fails ENOTFOUND for repo@digest with another digest or repository", function()
      local digest = "sha256:" .. helpers.random_id()
      local other = "sha256:" .. helpers.random_id()
      create(st, { names = { "example.com/repo:1.0" }, digest = digest })
      fails("ENOTFOUND", 'image not found: "example.com/repo@' .. other .. '"',
        st:lookup("example.com/repo@" .. other))
      fails("ENOTFOUND", 'image not found: "example.com/other@' .. digest .. '"',
        st:lookup("example.com/other@" .. digest))
    end)

    it("raises for a non-string reference", function()
      assert.has_error(function() st:lookup({}) end)
    end)
  end)

  describe("images", function()
    it("is an empty list for an empty store", function()
      local list = st:images()
      assert.is_table(list)
      assert.are.equal(0, #list)
    end)

    it("lists every image with its fields", function()
      local a = create(st, { names = { "a" } })
      local b = create(st, { names = { "b" }, layer = helpers.random_id() })
      local list = st:images()
      assert.are.equal(2, #list)
      assert.are.same(helpers.sorted({ a.id, b.id }), helpers.ids(list))
      for _, img in ipairs(list) do
        if img.id == a.id then assert.are.same(a, img) else assert.are.same(b, img) end
      end
    end)
  end)

  describe("by_digest", function()
    it("finds images by explicit digest and by manifest digests", function()
      local explicit = "sha256:" .. helpers.random_id()
      local a = create(st, { digest = explicit }).id
      local b = create(st).id
      succeeds(st:set_big_data(b, "manifest", "M1"))
      succeeds(st:set_big_data(b, "manifest-arm64", "M2"))
      assert.are.same({ a }, helpers.ids(st:by_digest(explicit)))
      assert.are.same({ b }, helpers.ids(st:by_digest(imagestore.sha256("M1"))))
      assert.are.same({ b }, helpers.ids(st:by_digest(imagestore.sha256("M2"))))
      local found = st:by_digest(imagestore.sha256("M1"))
      assert.are.same(st:get(b), found[1])
    end)

    it("lists every image that has the digest", function()
      local a = create(st).id
      local b = create(st).id
      create(st)
      succeeds(st:set_big_data(a, "manifest", "same"))
      succeeds(st:set_big_data(b, "manifest", "same"))
      assert.are.same(helpers.sorted({ a, b }), helpers.ids(st:by_digest(imagestore.sha256("same"))))
    end)

    it("does not find images by the digest of other big data", function()
      local a = create(st).id
      succeeds(st:set_big_data(a, "config", "C"))
      assert.are.same({}, st:by_digest(imagestore.sha256("C")))
    end)

    it("returns an empty list for valid unknown digests", function()
      create(st, { digest = "sha256:" .. helpers.random_id() })
      assert.are.same({}, st:by_digest("sha256:" .. helpers.random_id()))
      assert.are.same({}, st:by_digest("sha384:" .. string.rep("ab", 48)))
      assert.are.same({}, st:by_digest("sha512:" .. string.rep("cd", 64)))
    end)

    it("finds sha384 and sha512 digests given at create", function()
      local d384 = "sha384:" .. string.rep("0a", 48)
      local d512 = "sha512:" .. string.rep("0b", 64)
      local a = create(st, { digest = d384 }).id
      local b = create(st, { digest = d512 }).id
      assert.are.same({ a }, helpers.ids(st:by_digest(d384)))
      assert.are.same({ b }, helpers.ids(st:by_digest(d512)))
    end)

    it("fails EINVAL for malformed digests", function()
      local tail = ": want sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>"
      local bad = {
        "sha256:abc",
        "sha256:" .. helpers.random_id():upper():gsub("^%d", "A"),
        "sha256:" .. helpers.random_id() .. "0",
        "sha384:" .. helpers.random_id(),
        "sha512:" .. helpers.random_id(),
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        helpers.random_id(),
        "",
        "SHA256:" .. helpers.random_id(),
        "sha256:" .. helpers.random_id():sub(1, 63) .. "g",
      }
      for _, d in ipairs(bad) do
        fails("EINVAL", "invalid digest \"" .. d .. "\"" .. tail, st:by_digest(d))
      end
    end)

    it("raises for a non-string digest", function()
      assert.has_error(function() st:by_digest({}) end)
    end)
  end)

  describe("set_names", function()
    it("replaces the names and puts them at the front of the history, last first", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a", "name-b" }))
      succeeds(st:set_names(id, { "name-c", "name-d" }))
      local img = st:get(id)
      assert.are.same({ "name-c", "name-d" }, img.names)
      assert.are.same({ "name-d", "name-c", "name-b", "name-a" }, img.names_history)
      fails("ENOTFOUND", 'image not found: "name-a"', st:lookup("name-a"))
      assert.are.equal(id, st:lookup("name-d"))
    end)

    it("keeps the history in containers/storage's order without duplicates", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a", "name-b" }))
      succeeds(st:add_name(id, "name-c"))
      -- containers/storage's add puts "name-c" first, then moves each name
      -- to the front of the history in turn
      assert.are.same({ "name-b", "name-a", "name-c" }, st:get(id).names_history)
      succeeds(st:set_names(id, { "name-b", "name-d" }))
      assert.are.same({ "name-b", "name-d" }, st:get(id).names)
      assert.are.same({ "name-d", "name-b", "name-a", "name-c" }, st:get(id).names_history)
    end)

    it("dedupes its input keeping the first occurrence", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "x", "y", "x", "z", "y" }))
      assert.are.same({ "x", "y", "z" }, st:get(id).names)
      assert.are.same({ "z", "y", "x" }, st:get(id).names_history)
    end)

    it("accepts an empty list: the names are cleared, the history kept", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a" }))
      succeeds(st:set_names(id, {}))
      assert.are.same({}, st:get(id).names)
      assert.are.same({ "name-a" }, st:get(id).names_history)
      assert.is_false(st:exists("name-a"))
    end)

    it("steals names from their owner and persists both images", function()
      local a = create(st, { id = helpers.random_id("aaaa"), names = { "shared", "keep" } }).id
      local b = create(st, { id = helpers.random_id("bbbb"), names = { "other" } }).id
      succeeds(st:set_names(b, { "shared" }))
      assert.are.same({ "keep" }, st:get(a).names)
      assert.are.same({ "shared" }, st:get(b).names)
      assert.are.equal(b, st:lookup("shared"))
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({}, st:problems())
      assert.are.same({ "keep" }, st:get(a).names)
      assert.are.same({ "shared" }, st:get(b).names)
      assert.are.equal(b, st:lookup("shared"))
      assert.are.same({ "keep" }, helpers.read_json(dir .. "/" .. a .. "/images.json").names)
    end)

    it("fails EINVAL for an empty name and changes nothing", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "a" }))
      local before = helpers.tree_hash(dir)
      fails("EINVAL", 'invalid name "": empty', st:set_names(id, { "b", "" }))
      assert.are.same({ "a" }, st:get(id).names)
      assert.are.same({ "a" }, st:get(id).names_history)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:set_names("ghost", { "a" }))
    end)

    it("raises for wrong argument types", function()
      local id = create(st).id
      assert.has_error(function() st:set_names(id, "a") end)
      assert.has_error(function() st:set_names(id) end)
      assert.has_error(function() st:set_names(id, { {} }) end)
      assert.has_error(function() st:set_names({}, { "a" }) end)
    end)
  end)

  describe("add_name", function()
    it("appends a name (as iSulad); the history follows containers/storage", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a" }))
      succeeds(st:add_name(id, "name-b"))
      assert.are.same({ "name-a", "name-b" }, st:get(id).names)
      -- containers/storage's names would be { "name-b", "name-a" }: each in
      -- turn goes to the front of the history
      assert.are.same({ "name-a", "name-b" }, st:get(id).names_history)
      assert.are.equal(id, st:lookup("name-b"))
    end)

    it("is a no-op success for a name the image already holds", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a" }))
      succeeds(st:add_name(id, "name-b"))
      local before = helpers.tree_hash(dir)
      succeeds(st:add_name(id, "name-a"))
      assert.are.same({ "name-a", "name-b" }, st:get(id).names)
      assert.are.same({ "name-a", "name-b" }, st:get(id).names_history)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("steals the name from its owner and persists both images", function()
      local a = create(st, { id = helpers.random_id("aaaa"), names = { "shared", "keep" } }).id
      local b = create(st, { id = helpers.random_id("bbbb") }).id
      succeeds(st:add_name(b, "shared"))
      assert.are.same({ "keep" }, st:get(a).names)
      assert.are.same({ "shared" }, st:get(b).names)
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({}, st:problems())
      assert.are.same({ "keep" }, st:get(a).names)
      assert.are.same({ "shared" }, st:get(b).names)
      assert.are.equal(b, st:lookup("shared"))
      assert.are.same({ "keep" }, helpers.read_json(dir .. "/" .. a .. "/images.json").names)
    end)

    it("fails EINVAL for an empty name", function()
      local id = create(st).id
      local before = helpers.tree_hash(dir)
      fails("EINVAL", 'invalid name "": empty', st:add_name(id, ""))
      assert.are.same({}, st:get(id).names)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails EINVAL for a name with a NUL byte", function()
      local id = create(st).id
      local ok, msg, code = st:add_name(id, "x\0y")
      assert.is_nil(ok)
      assert.are.equal("EINVAL", code)
      assert.is_truthy(msg:find('^invalid name "'), msg)
      assert.is_truthy(msg:find('": contains a NUL byte$'), msg)
      assert.are.same({}, st:get(id).names)
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:add_name("ghost", "a"))
    end)

    it("raises for wrong argument types", function()
      local id = create(st).id
      assert.has_error(function() st:add_name(id, {}) end)
      assert.has_error(function() st:add_name(id) end)
    end)
  end)

  describe("remove_name", function()
    it("removes a name, keeps it in the history, and puts the names left at its front", function()
      local id = create(st).id
      succeeds(st:set_names(id, { "name-a", "name-b", "name-c" }))
      assert.are.same({ "name-c", "name-b", "name-a" }, st:get(id).names_history)
      succeeds(st:remove_name(id, "name-b"))
      assert.are.same({ "name-a", "name-c" }, st:get(id).names)
      assert.are.same({ "name-c", "name-a", "name-b" }, st:get(id).names_history)
      succeeds(st:remove_name(id, "name-c"))
      succeeds(st:remove_name(id, "name-a"))
      assert.are.same({}, st:get(id).names)
      assert.are.same({ "name-a", "name-c", "name-b" }, st:get(id).names_history)
      assert.is_false(st:exists("name-a"))
      create(st, { names = { "name-a" } })
    end)

    it("persists", function()
      local id = create(st, { names = { "name-a", "name-b" } }).id
      succeeds(st:remove_name("name-b", "name-b"))
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({ "name-a" }, st:get(id).names)
    end)

    it("fails ENOTFOUND for a name the image does not hold", function()
      local id = create(st, { names = { "name-a" } }).id
      create(st, { names = { "elsewhere" } })
      local before = helpers.tree_hash(dir)
      fails("ENOTFOUND", "image " .. id .. ' has no name "name-b"', st:remove_name("name-a", "name-b"))
      fails("ENOTFOUND", "image " .. id .. ' has no name "elsewhere"', st:remove_name(id, "elsewhere"))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:remove_name("ghost", "a"))
    end)
  end)

  describe("delete", function()
    it("removes the image from memory and disk", function()
      local a = create(st, { names = { "gone" } }).id
      local b = create(st, { names = { "stays" } }).id
      succeeds(st:delete("gone"))
      fails("ENOTFOUND", 'image not found: "gone"', st:get("gone"))
      fails("ENOTFOUND", 'image not found: "' .. a .. '"', st:get(a))
      assert.is_false(helpers.exists(dir .. "/" .. a))
      assert.is_true(helpers.is_file(dir .. "/" .. b .. "/images.json"))
      assert.are.same({ b }, helpers.ids(st:images()))
    end)

    it("removes the big-data files too and frees the names", function()
      local a = create(st, { names = { "n" } }).id
      succeeds(st:set_big_data(a, "manifest", "m"))
      succeeds(st:delete(a:sub(1, 10)))
      assert.is_false(helpers.exists(dir .. "/" .. a))
      create(st, { id = a, names = { "n" } })
      assert.are.same({}, st:big_data_names(a))
    end)

    it("fails ENOTFOUND for an unknown reference", function()
      create(st)
      local before = helpers.tree_hash(dir)
      fails("ENOTFOUND", 'image not found: "ghost"', st:delete("ghost"))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("fails EAMBIGUOUS for an ambiguous prefix and deletes nothing", function()
      create(st, { id = helpers.random_id("abcd0") })
      create(st, { id = helpers.random_id("abcd1") })
      fails("EAMBIGUOUS", 'image reference "abcd" is ambiguous: matches 2 images', st:delete("abcd"))
      assert.are.equal(2, #st:images())
    end)
  end)

  describe("wipe", function()
    it("removes every image and leaves the store usable", function()
      local a = create(st, { names = { "name-a" } }).id
      local b = create(st, { names = { "name-b" } }).id
      succeeds(st:set_big_data(b, "manifest", "x"))
      succeeds(st:wipe())
      assert.are.same({}, st:images())
      assert.is_false(st:exists("name-a"))
      assert.is_false(helpers.exists(dir .. "/" .. a))
      assert.is_false(helpers.exists(dir .. "/" .. b))
      assert.is_true(helpers.is_dir(dir))
      -- reuse: the same ID and names are free again
      local again = create(st, { id = a, names = { "name-a", "name-b" } })
      assert.are.same({ "name-a", "name-b" }, again.names)
      assert.are.same({ a }, helpers.ids(st:images()))
    end)

    it("succeeds on an empty store", function()
      succeeds(st:wipe())
      assert.are.same({}, st:images())
    end)
  end)

  describe("save", function()
    it("rewrites every record from memory", function()
      local a = create(st, { names = { "a" }, metadata = "ma" }).id
      local b = create(st, { names = { "b" } }).id
      local pa = dir .. "/" .. a .. "/images.json"
      local pb = dir .. "/" .. b .. "/images.json"
      os.remove(pa)
      helpers.write_file(pb, '{"id":"' .. b .. '","names":["tampered"]}')
      succeeds(st:save())
      assert.are.equal(a, helpers.read_json(pa).id)
      assert.are.equal("ma", helpers.read_json(pa).metadata)
      assert.are.same({ "b" }, helpers.read_json(pb).names)
    end)
  end)

  describe("load", function()
    it("re-reads the disk, seeing a record another tool wrote", function()
      local id = helpers.random_id()
      helpers.mkdir(dir .. "/" .. id)
      helpers.write_file(dir .. "/" .. id .. "/images.json",
        '{"id":"' .. id .. '","names":["written-by-isulad"]}')
      assert.is_false(st:exists("written-by-isulad"))
      succeeds(st:load())
      assert.are.equal(id, st:lookup("written-by-isulad"))
      helpers.rm_rf(dir .. "/" .. id)
      assert.is_true(st:exists(id))
      succeeds(st:load())
      assert.is_false(st:exists(id))
    end)

    it("is not needed for changes another store makes: the next call sees them", function()
      local other <close> = assert(imagestore.open(dir))
      local id = create(st, { names = { "fresh" } }).id
      assert.are.same(st:get(id), other:get(id))
      succeeds(st:delete(id))
      assert.is_false(other:exists("fresh"))
    end)

    it("keeps the old state when it fails", function()
      local id = create(st, { names = { "kept" } }).id
      assert(os.rename(dir, root .. "/moved"))
      helpers.write_file(dir, "not a directory")
      local ok, msg, code = st:load()
      assert.is_nil(ok)
      assert.are.equal("ENOTDIR", code)
      assert.is_truthy(msg:match("^[%w_]+ .-: Not a directory$"), msg)
      assert.are.equal(id, st:lookup("kept"))
      assert.are.equal(1, #st:images())
    end)
  end)

  describe("set_loaded_time", function()
    it("accepts epoch seconds, fractional seconds and RFC 3339", function()
      local id = create(st).id
      succeeds(st:set_loaded_time(id, 1500000000))
      assert.are.equal("2017-07-14T02:40:00.000000000Z", st:get(id).loaded)
      succeeds(st:set_loaded_time(id, 1500000000.25))
      assert.are.equal("2017-07-14T02:40:00.250000000Z", st:get(id).loaded)
      succeeds(st:set_loaded_time(id, "2020-03-16T05:46:12.172621513+02:00"))
      assert.are.equal("2020-03-16T03:46:12.172621513Z", st:get(id).loaded)
    end)

    it("fails EINVAL for a bad time string and changes nothing", function()
      local id = create(st).id
      succeeds(st:set_loaded_time(id, 1500000000))
      fails("EINVAL", 'invalid time "soon": want RFC 3339', st:set_loaded_time(id, "soon"))
      assert.are.equal("2017-07-14T02:40:00.000000000Z", st:get(id).loaded)
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:set_loaded_time("ghost", 1))
    end)

    it("raises for a time of the wrong type", function()
      local id = create(st).id
      assert.has_error(function() st:set_loaded_time(id, {}) end)
      assert.has_error(function() st:set_loaded_time(id) end)
    end)
  end)

  describe("set_metadata", function()
    it("replaces the metadata", function()
      local id = create(st, { metadata = "old" }).id
      local value = '{"a":"q\\"uote","nl":"x\ny","u":"\u{e9}"}'
      succeeds(st:set_metadata(id, value))
      assert.are.equal(value, st:metadata(id))
      assert.are.equal(value, st:get(id).metadata)
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:set_metadata("ghost", "m"))
    end)

    it("raises for a non-string value", function()
      local id = create(st).id
      assert.has_error(function() st:set_metadata(id, {}) end)
    end)
  end)

  describe("metadata", function()
    it("returns the metadata given at create", function()
      local id = create(st, { names = { "n" }, metadata = "{}" }).id
      assert.are.equal("{}", st:metadata("n"))
      assert.are.equal("{}", st:metadata(id))
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:metadata("ghost"))
    end)
  end)

  describe("set_size", function()
    it("records the size", function()
      local id = create(st).id
      assert.is_nil(st:get(id).size)
      succeeds(st:set_size(id, 123456789012))
      assert.are.equal(123456789012, st:get(id).size)
      assert.is_true(math.type(st:get(id).size) == "integer")
      succeeds(st:set_size(id, 0))
      assert.are.equal(0, st:get(id).size)
    end)

    it("fails EINVAL for a negative size and changes nothing", function()
      local id = create(st).id
      succeeds(st:set_size(id, 7))
      fails("EINVAL", "invalid size -5: must not be negative", st:set_size(id, -5))
      assert.are.equal(7, st:get(id).size)
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:set_size("ghost", 1))
    end)

    it("raises for a non-number size", function()
      local id = create(st).id
      assert.has_error(function() st:set_size(id, "abc") end)
      assert.has_error(function() st:set_size(id, {}) end)
      assert.has_error(function() st:set_size(id) end)
    end)
  end)

  describe("set_big_data", function()
    it("stores binary data and records its size and digest", function()
      local id = create(st).id
      local data = "\0head\0" .. string.rep("\255\0\1", 1000) .. "\0"
      succeeds(st:set_big_data(id, "blob", data))
      assert.are.equal(data, st:big_data(id, "blob"))
      assert.are.equal(#data, st:big_data_size(id, "blob"))
      assert.are.equal(imagestore.sha256(data), st:big_data_digest(id, "blob"))
      assert.are.equal(helpers.sha256_of(data), st:big_data_digest(id, "blob"))
      local img = st:get(id)
      assert.are.same({ "blob" }, img.big_data_names)
      assert.are.same({ blob = #data }, img.big_data_sizes)
      assert.are.same({ blob = imagestore.sha256(data) }, img.big_data_digests)
      assert.are.equal(data, helpers.read_file(dir .. "/" .. id .. "/blob"))
    end)

    it("stores empty data", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "empty", ""))
      assert.are.equal("", st:big_data(id, "empty"))
      assert.are.equal(0, st:big_data_size(id, "empty"))
      assert.are.equal(EMPTY_SHA256, st:big_data_digest(id, "empty"))
    end)

    it("appends new keys and keeps the position of replaced ones", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "a", "1"))
      succeeds(st:set_big_data(id, "b", "2"))
      succeeds(st:set_big_data(id, "c", "3"))
      succeeds(st:set_big_data(id, "a", "one"))
      assert.are.same({ "a", "b", "c" }, st:big_data_names(id))
      assert.are.equal("one", st:big_data(id, "a"))
      assert.are.equal(3, st:big_data_size(id, "a"))
      assert.are.equal(imagestore.sha256("one"), st:big_data_digest(id, "a"))
    end)

    it("makes the manifest digest the image digest", function()
      local id = create(st, { names = { "repo/x:1" } }).id
      succeeds(st:set_big_data(id, "sha256:" .. id, "config"))
      assert.is_nil(st:get(id).digest)
      assert.are.same({}, st:get(id).digests)
      succeeds(st:set_big_data(id, "manifest", "M"))
      assert.are.equal(imagestore.sha256("M"), st:get(id).digest)
      assert.are.same({ imagestore.sha256("M") }, st:get(id).digests)
      -- replacing the manifest keeps the digest (containers/storage): the
      -- image is found by both
      succeeds(st:set_big_data(id, "manifest", "M2"))
      assert.are.equal(imagestore.sha256("M"), st:get(id).digest)
      assert.are.same({ imagestore.sha256("M"), imagestore.sha256("M2") }, st:get(id).digests)
      assert.are.same({ id }, helpers.ids(st:by_digest(imagestore.sha256("M"))))
      assert.are.same({ id }, helpers.ids(st:by_digest(imagestore.sha256("M2"))))
      assert.are.equal(id, st:lookup("repo/x@" .. imagestore.sha256("M")))
    end)

    it("orders digests by big-data names, deduplicated; every key starting with manifest counts", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "manifest-b", "B"))
      succeeds(st:set_big_data(id, "manifests", "also a manifest key"))
      succeeds(st:set_big_data(id, "manifest", "A"))
      succeeds(st:set_big_data(id, "manifest-c", "B"))
      succeeds(st:set_big_data(id, "config", "C"))
      succeeds(st:set_big_data(id, "a-manifest", "D"))
      local img = st:get(id)
      assert.are.equal(imagestore.sha256("B"), img.digest)
      assert.are.same({ imagestore.sha256("B"), imagestore.sha256("also a manifest key"),
        imagestore.sha256("A") }, img.digests)
    end)

    it("keeps an explicit digest given at create first", function()
      local explicit = "sha256:" .. helpers.random_id()
      local id = create(st, { digest = explicit }).id
      succeeds(st:set_big_data(id, "manifest", "A"))
      succeeds(st:set_big_data(id, "manifest-x", "X"))
      local img = st:get(id)
      assert.are.equal(explicit, img.digest)
      assert.are.same({ explicit, imagestore.sha256("A"), imagestore.sha256("X") }, img.digests)
    end)

    it("dedupes an explicit digest equal to a manifest digest", function()
      local d = imagestore.sha256("A")
      local id = create(st, { digest = d }).id
      succeeds(st:set_big_data(id, "manifest", "A"))
      assert.are.same({ d }, st:get(id).digests)
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:set_big_data("ghost", "manifest", "x"))
    end)

    it("fails EINVAL for an empty key", function()
      local id = create(st).id
      fails("EINVAL", 'invalid big-data key "": empty', st:set_big_data(id, "", "x"))
    end)

    it("raises for wrong argument types", function()
      local id = create(st).id
      assert.has_error(function() st:set_big_data(id, "k", {}) end)
      assert.has_error(function() st:set_big_data(id, {}, "x") end)
      assert.has_error(function() st:set_big_data(id, "k") end)
    end)
  end)

  describe("big_data", function()
    it("fails ENOTFOUND naming the full ID for a missing key", function()
      local id = create(st, { names = { "n" } }).id
      fails("ENOTFOUND", "image " .. id .. ' has no big-data item "manifest"', st:big_data("n", "manifest"))
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:big_data("ghost", "manifest"))
    end)
  end)

  -- Both peers read a big-data item by its file name, listed or not.
  describe("big data the record does not list", function()
    it("is read from its file by big_data, big_data_size and big_data_digest, and never recorded", function()
      local id = create(st, { names = { "n" } }).id
      local key = "manifest-sha256:x"
      helpers.write_file(dir .. "/" .. id .. "/" .. helpers.big_data_file_name(key), "abc")
      local before = helpers.tree_hash(dir)
      assert.are.equal("abc", st:big_data("n", key))
      assert.are.equal(3, st:big_data_size("n", key))
      assert.are.equal(ABC_SHA256, st:big_data_digest("n", key))
      assert.are.equal(before, helpers.tree_hash(dir))
      local img = st:get(id)
      assert.are.same({}, img.big_data_names)
      assert.are.same({}, img.digests) -- not in the digest index either
      assert.are.same({}, st:by_digest(ABC_SHA256))
      local found = st:check()
      assert.are.equal(1, #found)
      assert.are.same({ dir .. "/" .. id .. "/" .. helpers.big_data_file_name(key), "orphan-file" },
        { found[1].path, found[1].kind })
      local ro <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal("abc", ro:big_data(id, key))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("is ENOTFOUND when there is no such file", function()
      local id = create(st).id
      fails("ENOTFOUND", "image " .. id .. ' has no big-data item "other"', st:big_data(id, "other"))
      fails("ENOTFOUND", "image " .. id .. ' has no big-data item "other"', st:big_data_size(id, "other"))
      fails("ENOTFOUND", "image " .. id .. ' has no big-data item "other"', st:big_data_digest(id, "other"))
    end)

    it("is never the record, nor a FIFO or a symlink", function()
      local id = create(st).id
      local image_dir = dir .. "/" .. id
      fails("EINVAL", 'invalid big-data key "images.json": reserved name', st:big_data(id, "images.json"))
      helpers.execute("mkfifo " .. helpers.shell_quote(image_dir .. "/fifo"))
      fails("EINVAL", "read " .. image_dir .. "/fifo: not a regular file (a FIFO)", st:big_data(id, "fifo"))
      helpers.write_file(root .. "/outside", "secret")
      helpers.execute("ln -s " .. helpers.shell_quote(root .. "/outside") .. " "
        .. helpers.shell_quote(image_dir .. "/link"))
      local ok, msg, code = st:big_data_size(id, "link")
      assert.is_nil(ok)
      assert.are.equal("ELOOP", code)
      assert.is_truthy(msg:find(image_dir .. "/link", 1, true), msg)
    end)
  end)

  describe("big_data_size", function()
    it("returns the recorded size", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "k", "12345"))
      assert.are.equal(5, st:big_data_size(id, "k"))
      assert.is_true(math.type(st:big_data_size(id, "k")) == "integer")
    end)

    it("fails ENOTFOUND for a missing key", function()
      local id = create(st).id
      fails("ENOTFOUND", "image " .. id .. ' has no big-data item "k"', st:big_data_size(id:sub(1, 8), "k"))
    end)
  end)

  describe("big_data_digest", function()
    it("returns the recorded digest", function()
      local id = create(st).id
      succeeds(st:set_big_data(id, "k", "abc"))
      assert.are.equal(ABC_SHA256, st:big_data_digest(id, "k"))
    end)

    it("fails ENOTFOUND for a missing key", function()
      local id = create(st).id
      fails("ENOTFOUND", "image " .. id .. ' has no big-data item "k"', st:big_data_digest(id, "k"))
    end)
  end)

  describe("big_data_names", function()
    it("lists keys in insertion order", function()
      local id = create(st).id
      assert.are.same({}, st:big_data_names(id))
      succeeds(st:set_big_data(id, "sha256:" .. id, "c"))
      succeeds(st:set_big_data(id, "manifest", "m"))
      assert.are.same({ "sha256:" .. id, "manifest" }, st:big_data_names(id))
    end)

    it("fails ENOTFOUND for an unknown image", function()
      fails("ENOTFOUND", 'image not found: "ghost"', st:big_data_names("ghost"))
    end)
  end)

  describe("problems", function()
    it("is an empty list for a clean store", function()
      create(st)
      local p = st:problems()
      assert.is_table(p)
      assert.are.equal(0, #p)
    end)
  end)

  describe("readonly store", function()
    local id, ro

    before_each(function()
      id = create(st, { names = { "a", "b" } }).id
      succeeds(st:set_big_data(id, "manifest", "m"))
      st:close()
      ro = assert(imagestore.open(dir, { readonly = true }))
    end)

    after_each(function()
      close_quietly(ro)
      ro = nil
    end)

    it("serves reads and marks images read_only", function()
      local img = ro:get("a")
      assert.are.equal(id, img.id)
      assert.are.equal(true, img.read_only)
      assert.are.equal("m", ro:big_data(id, "manifest"))
      assert.are.same({ id }, helpers.ids(ro:images()))
      assert.are.equal(true, ro:images()[1].read_only)
      succeeds(ro:load())
    end)

    it("fails every mutator with EREADONLY and leaves the disk unchanged", function()
      local before = helpers.tree_hash(dir)
      local calls = {
        create = function() return ro:create{ names = { "new" } } end,
        set_names = function() return ro:set_names(id, { "c" }) end,
        add_name = function() return ro:add_name(id, "c") end,
        remove_name = function() return ro:remove_name(id, "a") end,
        delete = function() return ro:delete(id) end,
        wipe = function() return ro:wipe() end,
        save = function() return ro:save() end,
        set_loaded_time = function() return ro:set_loaded_time(id, 1500000000) end,
        set_metadata = function() return ro:set_metadata(id, "m2") end,
        set_size = function() return ro:set_size(id, 1) end,
        set_big_data = function() return ro:set_big_data(id, "manifest", "changed") end,
      }
      local ops = {}
      for op in pairs(calls) do ops[#ops + 1] = op end
      table.sort(ops)
      assert.are.equal(11, #ops)
      for _, op in ipairs(ops) do
        fails("EREADONLY", "store is read-only: cannot " .. op, calls[op]())
      end
      assert.are.equal(before, helpers.tree_hash(dir))
      local img = ro:get(id)
      assert.are.same({ "a", "b" }, img.names)
      assert.are.equal("m", ro:big_data(id, "manifest"))
      assert.is_nil(img.size)
      assert.are.equal(1, #ro:images())
    end)
  end)
end)
