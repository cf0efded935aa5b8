-- Port of the image case of containers/storage's tests/bigdata.bats
-- ("image-data") to the Lua API, at containers/storage
-- 83cf57466529353aced8f1803f2302698e0b5cb7. "container-data" and
-- "layer-data" have no counterpart (spec/upstream/README.md). Digests of the
-- originals are computed by sha256sum, as the test does.

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

local fails = helpers.fails

describe("containers/storage tests/bigdata.bats", function()
  local st, image, tmp

  before_each(function()
    st = support.fresh_store()
    image = assert(st:create{ layer = helpers.random_id() }).id
    tmp = helpers.tmpdir()
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  -- big-item-1 (1234 random bytes) and big-item-2 (5678), each set as the
  -- item named after its file.
  local function set_items()
    for i, n in ipairs({ 1234, 5678 }) do
      local path = tmp .. "/big-item-" .. i
      helpers.write_file(path, support.random_bytes(n))
      assert(st:set_big_data(image, "big-item-" .. i, helpers.read_file(path)))
    end
  end

  local function no_item(key)
    return "image " .. image .. ' has no big-data item "' .. key .. '"'
  end

  it("image-data: a new image has no big-data items", function()
    assert.is_true(st:exists(image))
    assert.are.same({}, st:big_data_names(image))
  end)

  it("image-data: both items are listed", function()
    set_items()
    assert.are.same({ "big-item-1", "big-item-2" }, helpers.sorted(st:big_data_names(image)))
  end)

  it("image-data: the recorded sizes; no size for an item that is not there", function()
    set_items()
    fails("ENOTFOUND", no_item("no-such-item"), st:big_data_size(image, "no-such-item"))
    assert.are.equal(1234, st:big_data_size(image, "big-item-1"))
    assert.are.equal(5678, st:big_data_size(image, "big-item-2"))
  end)

  it("image-data: an unknown image and an unknown item fail differently", function()
    set_items()
    fails("ENOTFOUND", 'image not found: "nosuchimage"', st:big_data("nosuchimage", "big-item"))
    fails("ENOTFOUND", no_item("no-such-big-item"), st:big_data(image, "no-such-big-item"))
  end)

  it("image-data: the items read back as the originals", function()
    set_items()
    fails("ENOTFOUND", no_item("no-such-item"), st:big_data(image, "no-such-item"))
    assert.are.equal(helpers.read_file(tmp .. "/big-item-1"), st:big_data(image, "big-item-1"))
    assert.are.equal(helpers.read_file(tmp .. "/big-item-2"), st:big_data(image, "big-item-2"))
  end)

  it("image-data: the recorded digests are the originals' sha256", function()
    set_items()
    fails("ENOTFOUND", no_item("no-such-item"), st:big_data_digest(image, "no-such-item"))
    assert.are.equal(helpers.file_sha256(tmp .. "/big-item-1"), st:big_data_digest(image, "big-item-1"))
    assert.are.equal(helpers.file_sha256(tmp .. "/big-item-2"), st:big_data_digest(image, "big-item-2"))
  end)
end)
