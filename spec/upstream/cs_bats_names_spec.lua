-- Port of the image cases of containers/storage's tests/names.bats to the
-- Lua API, at containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7.
-- The layer and container cases have no counterpart (spec/upstream/README.md).
-- "exists -i NAME" is st:exists(); check-for-name (get-names) is the
-- image's names. In the ro-images cases the first store is an additional
-- (read-only) store of the second, as `--storage-opt vfs.imagestore=` makes it.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")
local support = require("spec.upstream.support")

describe("containers/storage tests/names.bats", function()
  local st

  before_each(function()
    st = support.fresh_store()
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  local function check_for_name(name, image)
    return support.has(assert(st:get(image)).names, name)
  end

  -- exists and check-for-name for each name: held by image or not at all.
  local function names_are(image, held, gone)
    assert.is_true(st:exists(image))
    assert.is_false(st:exists("no-such-thing-as-this-name"))
    assert.is_false(check_for_name("no-such-thing-as-this-name", image))
    for _, name in ipairs(held) do
      assert.is_true(st:exists(name), name)
      assert.are.equal(image, st:lookup(name))
      assert.is_true(check_for_name(name, image), name)
    end
    for _, name in ipairs(gone or {}) do
      assert.is_false(st:exists(name), name)
      assert.is_false(check_for_name(name, image), name)
    end
  end

  it("names at creation: images", function()
    local image = assert(st:create{ names = { "fooimage", "barimage" }, layer = helpers.random_id() }).id
    names_are(image, { "fooimage", "barimage" })
  end)

  it("add-names: images", function()
    local image = assert(st:create{ names = { "fooimage", "barimage" }, layer = helpers.random_id() }).id
    names_are(image, { "fooimage", "barimage" })
    assert.is_true(st:add_name(image, "newimage"))
    assert.is_true(st:add_name(image, "otherimage"))
    names_are(image, { "fooimage", "barimage", "newimage", "otherimage" })
  end)

  it("set-names: images", function()
    local image = assert(st:create{ names = { "fooimage", "barimage" }, layer = helpers.random_id() }).id
    names_are(image, { "fooimage", "barimage" })
    assert.is_true(st:set_names(image, { "newimage", "otherimage" }))
    names_are(image, { "newimage", "otherimage" }, { "fooimage", "barimage" })
  end)

  it("move-names: images", function()
    local layer = helpers.random_id()
    local first = assert(st:create{ names = { "fooimage", "barimage" }, layer = layer }).id
    local image = assert(st:create{ layer = layer }).id
    names_are(first, { "fooimage", "barimage" })
    assert.is_true(st:set_names(image, { "fooimage", "barimage", "newimage", "otherimage" }))
    names_are(image, { "fooimage", "barimage", "newimage", "otherimage" })
    assert.are.same({}, st:get(first).names)
  end)

  -- An image with names made in a store that then becomes read-only.
  local function ro_image(names)
    local ro_dir = helpers.tmpdir() .. "/ro-root"
    local ro <close> = assert(imagestore.open(ro_dir))
    local image = assert(ro:create{ names = names, layer = helpers.random_id() }).id
    st:close()
    st = assert(imagestore.open(helpers.tmpdir() .. "/root", { additional = { ro_dir } }))
    return image, ro_dir
  end

  local function refused(image, ro_dir, op)
    return "image " .. image .. " is in the read-only additional store " .. ro_dir .. ": cannot " .. op
  end

  it("add-names: ro-images", function()
    local image, ro_dir = ro_image({ "fooimage", "barimage" })
    for _, ref in ipairs({ image, "fooimage", "barimage" }) do assert.is_true(st:exists(ref)) end
    -- containers/storage copies the image up into the writable store and names it there
    helpers.fails("EREADONLY", refused(image, ro_dir, "add_name"), st:add_name(image, "newimage"))
    pending("divergence: a name change on an image of a read-only store is EREADONLY; "
      .. "containers/storage copies the image up first")
  end)

  it("remove-names: ro-images", function()
    local image, ro_dir = ro_image({ "fooimage", "barimage", "newimage", "otherimage" })
    for _, ref in ipairs({ image, "fooimage", "barimage", "newimage", "otherimage" }) do
      assert.is_true(st:exists(ref))
    end
    helpers.fails("EREADONLY", refused(image, ro_dir, "remove_name"), st:remove_name(image, "newimage"))
    pending("divergence: a name change on an image of a read-only store is EREADONLY; "
      .. "containers/storage copies the image up first")
  end)
end)
