-- Port of containers/storage's tests/image-by-digest.bats to the Lua API,
-- at containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7. Digests
-- of the random files are computed by sha256sum, as the test does.

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

describe("containers/storage tests/image-by-digest.bats", function()
  local st, random, digest, image

  -- The test's five images: the first two with random1 as their manifest,
  -- the third with random2, the fourth with digest3 given at create, the
  -- fifth with digest3 given and random3 as its manifest.
  before_each(function()
    st = support.fresh_store()
    random, digest, image = {}, {}, {}
    local tmp = helpers.tmpdir()
    for i = 1, 3 do
      random[i] = support.random_bytes()
      helpers.write_file(tmp .. "/random" .. i, random[i])
      digest[i] = helpers.file_sha256(tmp .. "/random" .. i)
    end
    local layer = helpers.random_id()
    local function create(opts, manifest)
      local id = assert(st:create(opts)).id
      if manifest then assert(st:set_big_data(id, "manifest", manifest)) end
      image[#image + 1] = id
    end
    create({ layer = layer }, random[1])
    create({ layer = layer }, random[1])
    create({ layer = layer }, random[2])
    create({ layer = layer, digest = digest[3] })
    create({ layer = layer, digest = digest[3] }, random[3])
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  local function by_digest(d) return helpers.ids(assert(st:by_digest(d))) end

  it("images-by-digest: two images with the same manifest are both listed", function()
    assert.are.same(helpers.sorted({ image[1], image[2] }), by_digest(digest[1]))
  end)

  it("images-by-digest: the image with another manifest alone", function()
    assert.are.same({ image[3] }, by_digest(digest[2]))
  end)

  it("images-by-digest: a digest given at create, and the same digest as a manifest's", function()
    assert.are.same(helpers.sorted({ image[4], image[5] }), by_digest(digest[3]))
  end)

  it("images-by-digest: deleted images leave the list", function()
    assert.is_true(st:delete(image[2]))
    assert.are.same({ image[1] }, by_digest(digest[1]))
    assert.is_true(st:delete(image[1]))
    assert.are.same({}, by_digest(digest[1]))
  end)
end)
