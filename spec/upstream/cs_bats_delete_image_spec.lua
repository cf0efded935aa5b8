-- Port of containers/storage's tests/delete-image.bats to the Lua API, at
-- containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7.

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

describe("containers/storage tests/delete-image.bats", function()
  after_each(helpers.cleanup)

  it("delete-image: the image is gone", function()
    local st <close> = support.fresh_store()
    local image = assert(st:create{ layer = helpers.random_id() }).id
    assert.is_true(st:exists(image))
    assert.is_true(st:delete(image))
    assert.is_false(st:exists(image))
  end)
end)
