-- Port of the image parts of containers/storage's tests/metadata.bats to
-- the Lua API, at containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7.
-- The container parts have no counterpart (spec/upstream/README.md). A value
-- "read from a file" is the bytes of $TESTDIR/danger.txt (`echo danger`).

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

describe("containers/storage tests/metadata.bats", function()
  local st, layer, danger_file

  before_each(function()
    st = support.fresh_store()
    layer = helpers.random_id()
    danger_file = helpers.tmpdir() .. "/danger.txt"
    helpers.write_file(danger_file, "danger\n")
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  -- set-metadata -m thunder, then -f danger.txt, each read back.
  local function changes(image)
    assert.is_true(st:set_metadata(image, "thunder"))
    assert.are.equal("thunder", st:metadata(image))
    assert.is_true(st:set_metadata(image, helpers.read_file(danger_file)))
    assert.are.equal("danger\n", st:metadata(image))
  end

  it("metadata: given at create, then changed directly and from a file", function()
    local image = assert(st:create{ layer = layer, metadata = "danger" }).id
    assert.is_true(st:exists(image))
    assert.are.equal("danger", st:metadata(image))
    changes(image)
  end)

  it("metadata: read from a file at create, then changed directly and from a file", function()
    local image = assert(st:create{ layer = layer, metadata = helpers.read_file(danger_file) }).id
    assert.is_true(st:exists(image))
    assert.are.equal("danger\n", st:metadata(image))
    changes(image)
  end)
end)
