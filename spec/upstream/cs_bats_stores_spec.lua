-- Port of the image parts of containers/storage's tests/stores.bats
-- ("additional-stores") to the Lua API, at containers/storage
-- 83cf57466529353aced8f1803f2302698e0b5cb7. Its layers, mounts and
-- containers have no counterpart (spec/upstream/README.md); a layer is only
-- an ID here. `--storage-opt vfs.imagestore=ro-root` makes ro-root an
-- additional (read-only) store: open(dir, { additional = { ro_root } }).

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

describe("containers/storage tests/stores.bats", function()
  local st, ro_root, lower_image, upper_image

  before_each(function()
    ro_root = helpers.tmpdir() .. "/ro-root"
    local midlayer = helpers.random_id()
    do
      local ro <close> = assert(imagestore.open(ro_root))
      lower_image = assert(ro:create{ layer = midlayer }).id
    end
    st = assert(imagestore.open(helpers.tmpdir() .. "/root", { additional = { ro_root } }))
    upper_image = assert(st:create{ layer = helpers.random_id() }).id
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  it("additional-stores: the image of the read-only store is read-only", function()
    local img = assert(st:get(lower_image))
    assert.is_true(img.read_only)
    assert.are.equal(ro_root, img.store)
  end)

  it("additional-stores: the image made in the writable store is not", function()
    assert.is_false(assert(st:get(upper_image)).read_only)
  end)

  it("additional-stores: add-names on the read-only image, then delete-image by that name", function()
    -- containers/storage copies the lower image up, names it, and deletes the copy
    helpers.fails("EREADONLY", "image " .. lower_image .. " is in the read-only additional store "
      .. ro_root .. ": cannot add_name", st:add_name(lower_image, "newimage"))
    pending("divergence: a name change on an image of a read-only store is EREADONLY; "
      .. "containers/storage copies the image up first")
  end)
end)
