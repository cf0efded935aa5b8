-- Port of the image parts of containers/storage's store_test.go to the Lua
-- API, at containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7. Each
-- `it` names the Go test it ports. The layer, container, mount and driver
-- calls have no counterpart (this store keeps images only): the README of
-- spec/upstream lists them.
--
-- The Go test expects an error from each call on an unknown image; here
-- each failure is the exact message and code of docs/contract.md.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")
local support = require("spec.upstream.support")

local fails = helpers.fails

local function not_found(ref)
  return 'image not found: "' .. ref .. '"'
end

describe("containers/storage store_test.go", function()
  local st, dir

  before_each(function()
    st, dir = support.fresh_store()
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  -- The image calls of TestStore on an empty store (TestWithSplitStore
  -- makes the same calls).
  local function lookups_fail(s)
    fails("ENOTFOUND", not_found("foobar"), s:metadata("foobar")) -- Metadata
    assert.is_false(s:exists("foobar")) -- Exists
    fails("ENOTFOUND", not_found("foobar"), s:get("foobar")) -- Names, Image, ImageSize
    fails("ENOTFOUND", not_found("foobar"), s:lookup("foobar")) -- Lookup
  end

  local function mutators_fail(s)
    fails("ENOTFOUND", not_found("foo"), s:set_metadata("foo", "bar")) -- SetMetadata
    fails("ENOTFOUND", not_found("foobar"), s:delete("foobar")) -- Delete, DeleteImage
    fails("ENOTFOUND", not_found("foobar"), s:set_names("foobar", {})) -- SetNames(nil)
    fails("ENOTFOUND", not_found("foo"), s:set_big_data("foo", "bar", "")) -- SetImageBigData
  end

  local function big_data_fails(s)
    fails("ENOTFOUND", not_found("foobar"), s:big_data_names("foobar")) -- ListImageBigData
    fails("ENOTFOUND", not_found("foo"), s:big_data("foo", "bar")) -- ImageBigData
    fails("ENOTFOUND", not_found("foo"), s:big_data_size("foo", "bar")) -- ImageBigDataSize
    fails("ENOTFOUND", not_found("foo"), s:big_data_digest("foo", "bar")) -- ImageBigDataDigest
  end

  local function empty_store_works(s)
    assert.is_true(s:wipe()) -- Wipe
    assert.are.same({}, s:images()) -- Images
  end

  it("TestStore: lookups of an unknown image fail (Metadata, Exists, Names, Image, ImageSize, Lookup)", function()
    lookups_fail(st)
  end)

  it("TestStore: changes to an unknown image fail (SetMetadata, Delete, DeleteImage, SetNames, SetImageBigData)", function()
    local before = helpers.tree_hash(dir)
    mutators_fail(st)
    assert.are.equal(before, helpers.tree_hash(dir))
  end)

  it("TestStore: big data of an unknown image fails (ListImageBigData, ImageBigData, ImageBigDataSize, ImageBigDataDigest)", function()
    big_data_fails(st)
  end)

  it("TestStore: Wipe and Images on an empty store", function()
    empty_store_works(st)
  end)

  local function by_malformed_digest(s)
    fails("EINVAL", 'invalid digest "foobar": want sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>',
      s:by_digest("foobar"))
    pending("divergence: by_digest of a malformed digest is EINVAL; containers/storage lists no image")
  end

  it("TestStore: ImagesByDigest(\"foobar\") is an empty list", function()
    by_malformed_digest(st)
  end)

  it("TestStore: Free twice", function()
    assert.is_true(st:close())
    assert.is_true(st:close())
  end)

  -- TestWithSplitStore: the same calls on a store whose images are kept in
  -- their own directory (StoreOptions.ImageStore); ours always are.
  it("TestWithSplitStore: the image calls of TestStore on a store in its own image directory", function()
    local split <close> = assert(imagestore.open(helpers.tmpdir() .. "/imgstore"))
    lookups_fail(split)
    mutators_fail(split)
    big_data_fails(split)
    empty_store_works(split)
    assert.is_true(split:close())
    assert.is_true(split:close())
  end)

  it("TestWithSplitStore: ImagesByDigest(\"foobar\") is an empty list", function()
    local split <close> = assert(imagestore.open(helpers.tmpdir() .. "/imgstore"))
    by_malformed_digest(split)
  end)

  -- TestStoreMultiList: one image ("Image", on "Layer"); MultiList with
  -- Images lists it, without Images lists none (the only list here is images()).
  it("TestStoreMultiList: the store lists its one image", function()
    local id = support.id_for("Image")
    assert(st:create{ id = id, layer = support.id_for("Layer") })
    local images = st:images()
    assert.are.equal(1, #images)
    assert.are.equal(id, images[1].id)
  end)

  -- TestStoreDelete: images "Image1" (name i1) and "Image" (name i) on one
  -- layer, deleted again: the lists are what they were before.
  it("TestStoreDelete: after its images are deleted the store lists what it listed before", function()
    local expected = st:images()
    local layer = support.id_for("Layer")
    assert(st:create{ id = support.id_for("Image1"), names = { "i1" }, layer = layer })
    assert(st:create{ id = support.id_for("Image"), names = { "i" }, layer = layer })
    assert.is_true(st:delete(support.id_for("Image")))
    assert.is_true(st:delete(support.id_for("Image1")))
    assert.are.same(expected, st:images())
    assert.is_false(st:exists("i"))
    assert.is_false(st:exists("i1"))
  end)
end)
