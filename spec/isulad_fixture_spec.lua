-- A store written by iSulad (spec/fixtures/isulad, see its README):
-- every recorded value, the lookups iSulad's own tests expect, the Loaded
-- spelling, the health_check build scenario, and a rewrite that keeps every
-- original key. The fixtures are always copied first, so no spec can change them.

local helpers = require("spec.helpers")
local fails, succeeds = helpers.fails, helpers.succeeds
local imagestore = require("imagestore")

local function close_quietly(st)
  if st then pcall(st.close, st) end
end

local CENTOS = {
  id = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10",
  name = "imagehub.isulad.com/official/centos:latest",
  layer = "edd34c086208711c693a7b7a3ade23e24e6170ae24d8d2dab7c4f3efca61d509",
  digest = "sha256:94192fe835d92cba5513297aad1cbcb32c9af455fb575e926ee5ec683a95e586",
  config_size = 2235,
  manifest_size = 741,
  config_file_size = 2231,
  created = "2017-07-10T12:46:57.770791248Z",
  loaded = "2020-03-16T03:46:12.172621513Z",
}
CENTOS.config_key = "sha256:" .. CENTOS.id

local BUSYBOX = {
  id = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b",
  name = "imagehub.isulad.com/official/busybox:latest",
  layer = "6194458b07fcf01f1483d96cd6c34302ffff7f382bb151a6d023c4e80ba3050a",
  digest = "sha256:64da743694ece2ca88df34bf4c5378fdfc44a1a5b50478722e2ff98b82e4a5c9",
  config_size = 1497,
  manifest_size = 527,
  config_file_size = 1497,
  created = "2019-06-15T00:19:54.402459069Z",
  loaded = "2020-03-16T03:46:17.439778957Z",
}
BUSYBOX.config_key = "sha256:" .. BUSYBOX.id

local V1 = {
  id = "2aef2fee38d871f9b97d92653471394487c57042eae07b279b9852be3a78132b",
  name = "quay.io/coreos/etcd:v3.3.17-arm64",
  layer = "143a2c8cdc3656ecdb94b35081362dfe55d9c6c5685f3c526bc72a34c9426c9b",
  digest = "sha256:3080be9aab91b28e49af8551b70dccf54c11e5a9c21719ab4d058dbddb65bc96",
  manifest_digest = "sha256:6a62731e2f37213bb8612d9b8908517da9c30a092803132f54b1689afb916c1f",
  manifest_size = 9124,
  created = "2019-10-11T17:26:17.800168778Z",
  loaded = "2020-06-12T02:50:49.4716268Z",
}

local HEALTH = {
  id = "ffc8ef7968a2acb7545006bed022001addaa262c0f760883146c4a4fae54e689",
  name = "isula.org/library/health_check:latest",
  layer = "6194458b07fcf01f1483d96cd6c34302ffff7f382bb151a6d023c4e80ba3050a",
  manifest_digest = "sha256:fdb7b1fccaaa535cb8211a194dd6314acc643f3a36d1a7d2b79c299a9173fa7e",
  config_size = 2279,
  manifest_size = 428,
}
HEALTH.config_key = "sha256:" .. HEALTH.id

describe("iSulad fixture", function()
  local dir, st

  after_each(function()
    close_quietly(st)
    st = nil
    helpers.cleanup()
  end)

  describe("overlay-images", function()
    before_each(function()
      dir = helpers.copy_fixture("isulad/overlay-images")
      st = assert(imagestore.open(dir))
    end)

    it("is a copy, not the fixture itself", function()
      assert.are_not.equal(helpers.fixture_path("isulad/overlay-images"), dir)
      assert.is_truthy(dir:find("/imagestore-spec-", 1, true))
    end)

    it("opens with both images and no problems", function()
      assert.are.same(helpers.sorted({ CENTOS.id, BUSYBOX.id }), helpers.ids(st:images()))
      assert.are.same({}, st:problems())
    end)

    for _, want in ipairs({ CENTOS, BUSYBOX }) do
      describe("image " .. want.id:sub(1, 12), function()
        it("has the recorded id, names, layer, digest and times", function()
          local img = assert(st:get(want.id))
          assert.are.equal(want.id, img.id)
          assert.are.same({ want.name }, img.names)
          assert.are.same({}, img.names_history)
          assert.are.equal(want.layer, img.layer)
          assert.are.equal(want.digest, img.digest)
          assert.are.same({ want.digest }, img.digests)
          assert.are.equal(want.created, img.created)
          assert.are.equal(want.loaded, img.loaded)
          assert.are.equal("{}", img.metadata)
          assert.are.equal("{}", st:metadata(want.id))
          assert.is_nil(img.size)
          assert.are.equal(false, img.read_only)
        end)

        it("has the big data names in order with the recorded sizes and digests", function()
          local img = st:get(want.id)
          assert.are.same({ want.config_key, "manifest" }, img.big_data_names)
          assert.are.same({ want.config_key, "manifest" }, st:big_data_names(want.id))
          assert.are.same({ [want.config_key] = want.config_size, manifest = want.manifest_size }, img.big_data_sizes)
          assert.are.same({ [want.config_key] = want.config_key, manifest = want.digest }, img.big_data_digests)
          assert.are.equal(want.config_size, st:big_data_size(want.id, want.config_key))
          assert.are.equal(want.manifest_size, st:big_data_size(want.id, "manifest"))
          assert.are.equal(want.config_key, st:big_data_digest(want.id, want.config_key))
          assert.are.equal(want.digest, st:big_data_digest(want.id, "manifest"))
        end)

        it("returns the big data bytes on disk", function()
          local idir = dir .. "/" .. want.id
          local config = st:big_data(want.id, want.config_key)
          assert.are.equal(helpers.read_file(idir .. "/" .. helpers.big_data_file_name(want.config_key)), config)
          assert.are.equal(want.config_file_size, #config)
          local manifest = st:big_data(want.id, "manifest")
          assert.are.equal(helpers.read_file(idir .. "/manifest"), manifest)
          assert.are.equal(want.manifest_size, #manifest)
          assert.are.equal(want.digest, imagestore.sha256(manifest))
        end)

        it("is found by its name", function()
          assert.are.equal(want.id, st:lookup(want.name))
        end)

        it("is found by repo@digest", function()
          local repo = want.name:gsub(":[^:/]*$", "")
          assert.are.equal(want.id, st:lookup(repo .. "@" .. want.digest))
        end)

        it("is found by its digest", function()
          assert.are.same({ want.id }, helpers.ids(st:by_digest(want.digest)))
        end)
      end)
    end

    it("keeps the recorded size 2235 although the config file has 2231 bytes", function()
      assert.are.equal(2235, st:big_data_size(CENTOS.id, CENTOS.config_key))
      assert.are.equal(2231, #st:big_data(CENTOS.id, CENTOS.config_key))
      assert.are.equal(CENTOS.config_key, st:big_data_digest(CENTOS.id, CENTOS.config_key))
      assert.are_not.equal(CENTOS.config_key, imagestore.sha256(st:big_data(CENTOS.id, CENTOS.config_key)))
    end)

    it("resolves the lookups iSulad's tests expect", function()
      assert.are.equal(BUSYBOX.id, st:lookup("imagehub.isulad.com/official/busybox:latest"))
      assert.are.equal(BUSYBOX.id, st:lookup("e4db68de4ff27"))
      assert.are.equal(BUSYBOX.id, st:get("e4db68de4ff27").id)
      fails("ENOTFOUND", 'image not found: "4db68de4ff27"', st:lookup("4db68de4ff27"))
      assert.is_false(st:exists("4db68de4ff27"))
      assert.is_true(st:exists("398"))
      assert.are.equal(CENTOS.id, st:lookup("398"))
      assert.is_false(st:exists("ff67da98ab8540d713209"))
      assert.are.equal(CENTOS.id, st:lookup(
        "imagehub.isulad.com/official/centos@sha256:94192fe835d92cba5513297aad1cbcb32c9af455fb575e926ee5ec683a95e586"))
    end)

    it("does not resolve repo@digest across images", function()
      local ref = "imagehub.isulad.com/official/busybox@" .. CENTOS.digest
      fails("ENOTFOUND", 'image not found: "' .. ref .. '"', st:lookup(ref))
    end)

    it("opening changes nothing on disk", function()
      st:close()
      local before = helpers.tree_hash(dir)
      st = assert(imagestore.open(dir))
      assert.are.equal(2, #st:images())
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("opens readonly with read_only images and refuses to change them", function()
      st:close()
      local before = helpers.tree_hash(dir)
      st = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(true, st:get(CENTOS.id).read_only)
      fails("EREADONLY", "store is read-only: cannot set_metadata", st:set_metadata(CENTOS.id, "x"))
      fails("EREADONLY", "store is read-only: cannot delete", st:delete(BUSYBOX.id))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("keeps every original key when a record is rewritten", function()
      for _, want in ipairs({ CENTOS, BUSYBOX }) do
        local path = dir .. "/" .. want.id .. "/images.json"
        local original = helpers.read_json(path)
        succeeds(st:set_metadata(want.id, '{"touched":1}'))
        local rewritten = helpers.read_json(path)
        for key, value in pairs(original) do
          if key ~= "metadata" then
            assert.are.same(value, rewritten[key], "key " .. key .. " of " .. want.id)
          end
        end
        assert.are.equal('{"touched":1}', rewritten.metadata)
        local count = 0
        for _ in pairs(rewritten) do count = count + 1 end
        local want_count = 0
        for _ in pairs(original) do want_count = want_count + 1 end
        assert.are.equal(want_count, count, "no keys added to " .. want.id)
      end
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({}, st:problems())
      assert.are.equal(CENTOS.created, st:get(CENTOS.id).created)
      assert.are.equal(CENTOS.loaded, st:get(CENTOS.id).loaded)
      assert.are.equal(2235, st:big_data_size(CENTOS.id, CENTOS.config_key))
      assert.are.equal(CENTOS.digest, st:get(CENTOS.id).digest)
    end)

    it("keeps the digest when the manifest it came from is replaced (containers/storage)", function()
      succeeds(st:set_big_data(CENTOS.id, "manifest", "new manifest"))
      local img = st:get(CENTOS.id)
      assert.are.equal(CENTOS.digest, img.digest)
      assert.are.same({ CENTOS.digest, imagestore.sha256("new manifest") }, img.digests)
      assert.are.same({ CENTOS.id }, helpers.ids(st:by_digest(CENTOS.digest)))
      assert.are.same({ CENTOS.id }, helpers.ids(st:by_digest(imagestore.sha256("new manifest"))))
      assert.are.equal(CENTOS.digest, helpers.read_json(dir .. "/" .. CENTOS.id .. "/images.json").digest)
    end)

    it("keeps the other image's files when one is deleted", function()
      local keep = helpers.tree_hash(dir .. "/" .. CENTOS.id)
      succeeds(st:delete("imagehub.isulad.com/official/busybox:latest"))
      assert.is_false(helpers.exists(dir .. "/" .. BUSYBOX.id))
      assert.are.equal(keep, helpers.tree_hash(dir .. "/" .. CENTOS.id))
      assert.are.same({ CENTOS.id }, helpers.ids(st:images()))
    end)
  end)

  describe("v1_images", function()
    before_each(function()
      dir = helpers.copy_fixture("isulad/v1_images")
      st = assert(imagestore.open(dir))
    end)

    it("opens the record that spells Loaded with a capital L", function()
      assert.are.same({}, st:problems())
      local img = assert(st:get(V1.id))
      assert.are.same({ V1.name }, img.names)
      assert.are.equal(V1.layer, img.layer)
      assert.are.equal(V1.created, img.created)
      assert.are.equal(V1.loaded, img.loaded)
      assert.are.equal("{}", img.metadata)
      assert.are.same({ "manifest" }, img.big_data_names)
      assert.are.same({ manifest = V1.manifest_size }, img.big_data_sizes)
      assert.are.same({ manifest = V1.manifest_digest }, img.big_data_digests)
    end)

    it("treats a digest that matches no manifest as explicit", function()
      local img = st:get(V1.id)
      assert.are.equal(V1.digest, img.digest)
      assert.are.same({ V1.digest, V1.manifest_digest }, img.digests)
      assert.are.same({ V1.id }, helpers.ids(st:by_digest(V1.digest)))
      assert.are.same({ V1.id }, helpers.ids(st:by_digest(V1.manifest_digest)))
      assert.are.equal(V1.manifest_digest, imagestore.sha256(st:big_data(V1.id, "manifest")))
      assert.are.equal(V1.id, st:lookup("quay.io/coreos/etcd@" .. V1.digest))
    end)

    it("keeps the explicit digest first when the manifest is replaced", function()
      succeeds(st:set_big_data(V1.id, "manifest", "new manifest"))
      local img = st:get(V1.id)
      assert.are.equal(V1.digest, img.digest)
      assert.are.same({ V1.digest, imagestore.sha256("new manifest") }, img.digests)
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.equal(V1.digest, st:get(V1.id).digest)
      assert.are.same({ V1.digest, imagestore.sha256("new manifest") }, st:get(V1.id).digests)
    end)

    it("writes Loaded back as loaded and keeps the other keys", function()
      local path = dir .. "/" .. V1.id .. "/images.json"
      local original = helpers.read_json(path)
      succeeds(st:set_size(V1.id, 1))
      local rewritten = helpers.read_json(path)
      assert.is_nil(rewritten.Loaded)
      assert.are.equal(V1.loaded, rewritten.loaded)
      for key, value in pairs(original) do
        if key ~= "Loaded" then
          assert.are.same(value, rewritten[key], "key " .. key)
        end
      end
      assert.are.equal(1, rewritten.size)
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.equal(V1.loaded, st:get(V1.id).loaded)
      assert.are.equal(V1.digest, st:get(V1.id).digest)
      assert.are.same({ V1.digest, V1.manifest_digest }, st:get(V1.id).digests)
    end)
  end)

  describe("resources (health_check build)", function()
    local src

    before_each(function()
      src = helpers.copy_fixture("isulad/resources/" .. HEALTH.id)
      dir = helpers.tmpdir() .. "/store"
      st = assert(imagestore.open(dir))
    end)

    it("builds the image the way iSulad's test does", function()
      local config = assert(helpers.read_file(src .. "/" .. helpers.big_data_file_name(HEALTH.config_key)))
      local manifest = assert(helpers.read_file(src .. "/manifest"))
      assert.are.equal(HEALTH.config_size, #config)
      assert.are.equal(HEALTH.manifest_size, #manifest)

      local img = assert(st:create{ id = HEALTH.id, names = { HEALTH.name }, layer = HEALTH.layer })
      assert.are.equal(HEALTH.id, img.id)
      assert.is_nil(img.digest)
      succeeds(st:set_big_data(HEALTH.id, HEALTH.config_key, config))
      succeeds(st:set_big_data(HEALTH.id, "manifest", manifest))

      img = st:get(HEALTH.name)
      assert.are.equal(HEALTH.id, img.id)
      assert.are.same({ HEALTH.name }, img.names)
      assert.are.equal(HEALTH.layer, img.layer)
      assert.are.equal(HEALTH.manifest_digest, img.digest)
      assert.are.same({ HEALTH.manifest_digest }, img.digests)
      assert.are.same({ HEALTH.config_key, "manifest" }, img.big_data_names)
      assert.are.same({ [HEALTH.config_key] = HEALTH.config_size, manifest = HEALTH.manifest_size }, img.big_data_sizes)
      assert.are.equal(helpers.file_sha256(src .. "/" .. helpers.big_data_file_name(HEALTH.config_key)),
        st:big_data_digest(HEALTH.id, HEALTH.config_key))
      assert.are.equal(HEALTH.manifest_digest, st:big_data_digest(HEALTH.id, "manifest"))
      assert.are.equal(config, st:big_data(HEALTH.id, HEALTH.config_key))
      assert.are.equal(manifest, st:big_data(HEALTH.id, "manifest"))
      assert.are.equal(HEALTH.id, st:lookup("isula.org/library/health_check@" .. HEALTH.manifest_digest))
      assert.are.same({ HEALTH.id }, helpers.ids(st:by_digest(HEALTH.manifest_digest)))

      -- the files on disk carry the same names as the ones iSulad wrote
      local want = helpers.list_dir(src)
      assert.are.same(want, helpers.list_dir(dir .. "/" .. HEALTH.id))
      assert.are.equal(config, helpers.read_file(dir .. "/" .. HEALTH.id .. "/" .. helpers.big_data_file_name(HEALTH.config_key)))
      assert.are.equal(manifest, helpers.read_file(dir .. "/" .. HEALTH.id .. "/manifest"))

      -- and the record agrees with iSulad's on the fields both set
      local ours = helpers.read_json(dir .. "/" .. HEALTH.id .. "/images.json")
      local theirs = helpers.read_json(src .. "/images.json")
      for _, key in ipairs({ "id", "digest", "names", "layer", "big-data-names" }) do
        assert.are.same(theirs[key], ours[key], "key " .. key)
      end
      assert.are.equal(HEALTH.manifest_size, ours["big-data-sizes"].manifest)
      assert.are.equal(HEALTH.manifest_digest, ours["big-data-digests"].manifest)

      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same(img, st:get(HEALTH.id))
    end)
  end)
end)
