-- Port of containers/storage's tests/create-image.bats to the Lua API, at
-- containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7. A layer is
-- only an ID here (no layer store): each "create-layer" is a new random ID.

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

describe("containers/storage tests/create-image.bats", function()
  local st

  before_each(function()
    st = support.fresh_store()
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  it("create-image: an image without a layer", function()
    local img = assert(st:create{})
    assert.is_truthy(img.id:match("^" .. ("%x"):rep(64) .. "$"))
    assert.is_nil(img.layer)
  end)

  -- images.lock's last-writer token: set by the first write, changed by the
  -- next (ours: the change token, generation()).
  it("create-image: each write leaves a new last-writer token", function()
    assert(st:create{})
    local zeroth = st:generation()
    assert.are_not.equal(0, zeroth)
    assert(st:create{ layer = helpers.random_id() })
    assert.are_not.equal(zeroth, st:generation())
  end)

  it("create-image: images on a layer can be found", function()
    local layer = helpers.random_id()
    local first = assert(st:create{ layer = layer }).id
    assert.is_true(st:exists(first))
    local second = assert(st:create{ layer = layer }).id
    assert.is_true(st:exists(second))
    assert.are.equal(layer, st:get(second).layer)
  end)

  it("create-image: images lists all three, each once", function()
    local layer = helpers.random_id()
    local ids = { assert(st:create{}).id, assert(st:create{ layer = layer }).id,
      assert(st:create{ layer = layer }).id }
    assert.are.same(helpers.sorted(ids), helpers.ids(st:images()))
  end)
end)
