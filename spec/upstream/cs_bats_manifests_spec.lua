-- Port of containers/storage's tests/manifests.bats to the Lua API, at
-- containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7. Every
-- big-data key starting with "manifest" is a manifest; "storage image" and
-- "images-by-digest" print each of the image's digests ("Digest:").

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

describe("containers/storage tests/manifests.bats", function()
  local st, image, digest

  before_each(function()
    st = support.fresh_store()
    image = assert(st:create{ names = { "wonderful-image" }, layer = helpers.random_id() }).id
    digest = {}
    local tmp = helpers.tmpdir()
    for i, key in ipairs({ "manifest", "manifest-random2", "manifest-random3" }) do
      local path = tmp .. "/random" .. i
      helpers.write_file(path, support.random_bytes())
      digest[i] = helpers.file_sha256(path)
      assert(st:set_big_data(image, key, helpers.read_file(path)))
    end
    assert(st:add_name(image, "localhost/fooimage:latest"))
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  local function shows_all(img)
    assert.are.equal(image, img.id)
    assert.is_true(support.has(img.names, "wonderful-image"))
    for i = 1, 3 do assert.is_true(support.has(img.digests, digest[i]), "digest " .. i) end
  end

  it("manifests: the image has the digest of each of its three manifests", function()
    shows_all(assert(st:get(image)))
  end)

  it("manifests: each manifest's digest finds the image", function()
    for i = 1, 3 do
      local found = assert(st:by_digest(digest[i]))
      assert.are.equal(1, #found)
      shows_all(found[1])
    end
  end)
end)
