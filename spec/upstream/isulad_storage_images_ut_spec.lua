-- Port of iSulad's image-store unit tests to the Lua API:
-- openeuler-mirror/iSulad test/image/oci/storage/images/storage_images_ut.cc
-- at fd0fcf852bcb3cd9fc7d5fac9891bcae189f0282. Its test data
-- (test/image/oci/storage/images/data/) is spec/fixtures/isulad/, byte for
-- byte. Each `it` names the TEST_F it ports; what has no counterpart here is
-- listed in spec/upstream/README.md, and every pending case is a row of
-- docs/contract.md's "Divergences from containers/storage and iSulad".
--
-- Two translations hold throughout. iSulad answers a NULL argument with -1
-- or NULL; the binding raises for nil (misuse, docs/contract.md), so those
-- sub-cases assert the raise. iSulad's imagetool_image fields that it reads
-- from the config (env, cmd, user, health check) come from decoding the
-- config big-data item here, as iSulad does.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")
local json = require("imagestore.json")

local CENTOS = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10"
local BUSYBOX = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b"
local IDS = { CENTOS, BUSYBOX }
local HEALTH = "ffc8ef7968a2acb7545006bed022001addaa262c0f760883146c4a4fae54e689"
local HEALTH_NAME = "isula.org/library/health_check:latest"
local HEALTH_LAYER = "6194458b07fcf01f1483d96cd6c34302ffff7f382bb151a6d023c4e80ba3050a"
local HEALTH_MANIFEST_DIGEST = "sha256:fdb7b1fccaaa535cb8211a194dd6314acc643f3a36d1a7d2b79c299a9173fa7e"
local V1 = "2aef2fee38d871f9b97d92653471394487c57042eae07b279b9852be3a78132b"
local V1_CONVERTED = "597fa49c3dbc5dd1e84120dd1906b65223afd479a7e094c085b580060c0fccec"
local PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

local RESOURCES = helpers.fixture_path("isulad/resources/" .. HEALTH)

-- The image's config (big-data item "sha256:<id>"), decoded.
local function config_of(st, id)
  return json.decode(assert(st:big_data(id, "sha256:" .. id))).config
end

-- iSulad's repo digests (get_image_repo_digests, image_store.c): the names
-- that are digests, then <repository>@<digest> for every tagged name, where
-- the digest is the image's, else its "manifest" item's.
local function repo_digests(st, img)
  local digest = img.digest or assert(st:big_data_digest(img.id, "manifest"))
  local out, seen = {}, {}
  for _, name in ipairs(img.names) do
    if name:find("@", 1, true) and not seen[name] then
      out[#out + 1], seen[name] = name, true
    end
  end
  for _, name in ipairs(img.names) do
    if not name:find("@", 1, true) then
      local repo = name:match("^(.*):[^:/]*$") or name
      local rd = repo .. "@" .. digest
      if not seen[rd] then out[#out + 1], seen[rd] = rd, true end
    end
  end
  return out
end

-- iSulad's image username: the config's User, when not empty and not a uid.
local function username_of(config)
  local user = config.User
  if user == nil or user == "" then return nil end
  user = user:match("^[^:]*")
  return not user:match("^%d+$") and user or nil
end

describe("iSulad storage_images_ut.cc", function()
  local dir, st

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("StorageImagesCompatibilityUnitTest", function()
    -- SetUp: the v1 image's directory is copied into overlay-images.
    before_each(function()
      dir = helpers.copy_fixture("isulad/overlay-images")
      helpers.execute("cp -r " .. helpers.shell_quote(helpers.fixture_path("isulad/v1_images/" .. V1))
        .. " " .. helpers.shell_quote(dir .. "/"))
      st = assert(imagestore.open(dir))
    end)

    -- test_load_v1_image
    it("test_load_v1_image: the schema-1 image exists under its converted ID and is deleted", function()
      -- iSulad converts the image at init (a config built from the manifest,
      -- a new ID) and deletes the old directory; we load it as it is
      assert.is_false(st:exists(V1_CONVERTED))
      assert.is_true(st:exists(V1))
      local convert
      for _, f in ipairs(assert(st:check{ isulad = true })) do
        if f.kind == "isulad-convert" then convert = f end
      end
      assert.are.equal(dir .. "/" .. V1, convert and convert.path)
      pending("divergence: iSulad converts schema-1 images when it starts; opening a store never rewrites it")
    end)

    -- test_load_v1_image: image_store_exists(NULL), image_store_delete(NULL)
    it("test_load_v1_image: a nil ID is refused by exists and delete", function()
      assert.has_error(function() st:exists(nil) end)
      assert.has_error(function() st:delete(nil) end)
    end)
  end)

  describe("StorageImagesUnitTest", function()
    -- SetUp: image_store_init on data/, whose overlay-images holds two images.
    before_each(function()
      dir = helpers.copy_fixture("isulad/overlay-images")
      st = assert(imagestore.open(dir))
    end)

    -- test_images_load
    it("test_images_load: created, loaded, no size, repo tags and repo digests", function()
      local img = assert(st:get(CENTOS))
      assert.are.equal("2017-07-10T12:46:57.770791248Z", img.created)
      assert.are.equal("2020-03-16T03:46:12.172621513Z", img.loaded)
      assert.is_nil(img.size) -- iSulad shows 0 for the size it has not computed
      assert.are.same({ "imagehub.isulad.com/official/centos:latest" }, img.names)
      assert.are.same({ "imagehub.isulad.com/official/centos@sha256:"
        .. "94192fe835d92cba5513297aad1cbcb32c9af455fb575e926ee5ec683a95e586" }, repo_digests(st, img))
    end)

    -- test_images_load: spec->config, healthcheck, username
    it("test_images_load: the config's Env and Cmd, no health check, no user", function()
      local config = config_of(st, CENTOS)
      assert.are.same({ PATH_ENV }, config.Env)
      assert.are.same({ "/bin/bash" }, config.Cmd)
      assert.is_nil(config.Healthcheck)
      assert.is_nil(username_of(config))
    end)

    -- test_images_load: image_store_big_data_names, image_store_big_data_size
    it("test_images_load: big-data names, and the recorded sizes", function()
      assert.are.same({ "sha256:" .. CENTOS, "manifest" }, st:big_data_names(CENTOS))
      -- recorded 2235; the file on disk has 2231 bytes
      assert.are.equal(2235, st:big_data_size(CENTOS, "sha256:" .. CENTOS))
      assert.are.equal(741, st:big_data_size(CENTOS, "manifest"))
    end)

    -- test_images_load: get_image(NULL), big_data_names(NULL), big_data_size(NULL, ...)
    it("test_images_load: a nil ID or key is refused", function()
      assert.has_error(function() st:get(nil) end)
      assert.has_error(function() st:big_data_names(nil) end)
      assert.has_error(function() st:big_data_size(nil, "manifest") end)
      assert.has_error(function() st:big_data_size(CENTOS, nil) end)
    end)

    describe("test_image_store_create", function()
      local image_dir

      -- The TEST_F's first steps: create, set_load_time, the config.
      local function create_health_check()
        local img = assert(st:create{ id = HEALTH, names = { HEALTH_NAME }, layer = HEALTH_LAYER,
          metadata = "{}" })
        assert(st:set_loaded_time(HEALTH, 1.000000001))
        local config = assert(helpers.read_file(RESOURCES .. "/=" .. helpers.base64("sha256:" .. HEALTH)))
        assert(st:set_big_data(HEALTH, "sha256:" .. HEALTH, config))
        image_dir = dir .. "/" .. HEALTH
        return img
      end

      -- `cp resources/<id>/manifest overlay-images/<image>/`
      local function copy_manifest(id)
        helpers.execute("cp " .. helpers.shell_quote(RESOURCES .. "/manifest") .. " "
          .. helpers.shell_quote(dir .. "/" .. id .. "/"))
      end

      it("test_image_store_create: create returns the ID; set_load_time", function()
        local img = create_health_check()
        assert.are.equal(HEALTH, img.id)
        assert.are.equal("1970-01-01T00:00:01.000000001Z", st:get(HEALTH).loaded)
      end)

      it("test_image_store_create: set_big_data of the config; a nil key or ID is refused", function()
        create_health_check()
        assert.are.same({ "sha256:" .. HEALTH }, st:big_data_names(HEALTH))
        assert.has_error(function() st:set_big_data(HEALTH, nil, "x") end)
        assert.has_error(function() st:set_big_data(nil, "sha256:" .. HEALTH, "x") end)
        assert.is_true(helpers.is_dir(image_dir))
      end)

      it("test_image_store_create: a manifest copied into the image directory has size 428 and is read", function()
        create_health_check()
        copy_manifest(HEALTH)
        assert.are.equal(428, st:big_data_size(HEALTH, "manifest"))
        assert.are.equal(helpers.read_file(RESOURCES .. "/manifest"), st:big_data(HEALTH, "manifest"))
        assert.has_error(function() st:big_data(nil, "manifest") end)
        assert.has_error(function() st:big_data(HEALTH, nil) end)
        -- read as the peers do; still a file the record does not list
        assert.are.same({ "sha256:" .. HEALTH }, st:big_data_names(HEALTH))
        local orphan = false
        for _, f in ipairs(st:check()) do
          orphan = orphan or (f.kind == "orphan-file" and f.path == image_dir .. "/manifest")
        end
        assert.is_true(orphan)
      end)

      it("test_image_store_create: get: repo tags, user, no size, config, health check, repo digest", function()
        create_health_check()
        copy_manifest(HEALTH)
        assert.are.equal(428, st:big_data_size(HEALTH, "manifest"))
        local img = assert(st:get(HEALTH))
        assert.is_string(img.created)
        assert.is_string(img.loaded)
        assert.are.same({ HEALTH_NAME }, img.names)
        assert.is_nil(img.size)
        local config = config_of(st, HEALTH)
        assert.is_string(username_of(config))
        assert.are.same({ PATH_ENV }, config.Env)
        assert.are.same({ "sh" }, config.Cmd)
        local hc = config.Healthcheck
        assert.are.same({ "CMD-SHELL", "date >> /tmp/health_check || exit 1" }, hc.Test)
        assert.are.equal(3000000000, hc.Interval)
        assert.are.equal(3, hc.Retries)
        assert.are.equal(1000000000, hc.StartPeriod)
        assert.are.equal(3000000000, hc.Timeout)
        assert.is_true(hc.ExitOnUnhealthy)
        assert.are.same({ "isula.org/library/health_check@" .. HEALTH_MANIFEST_DIGEST }, repo_digests(st, img))
      end)

      it("test_image_store_create: top layer", function()
        create_health_check()
        assert.are.equal(HEALTH_LAYER, st:get(HEALTH).layer)
        assert.has_error(function() st:get(nil) end)
      end)

      it("test_image_store_create: set_image_size", function()
        create_health_check()
        assert.has_error(function() st:set_size(nil, 1000) end)
        assert.is_true(st:set_size(HEALTH, 1000))
        assert.are.equal(1000, st:get(HEALTH).size)
      end)

      it("test_image_store_create: add_name appends", function()
        create_health_check()
        assert.has_error(function() st:add_name(nil, "isula.org/library/test:latest") end)
        assert.is_true(st:add_name(HEALTH, "isula.org/library/test:latest"))
        assert.are.same({ HEALTH_NAME, "isula.org/library/test:latest" }, st:get(HEALTH).names)
      end)

      it("test_image_store_create: set_names with no names is refused", function()
        create_health_check()
        assert.has_error(function() st:set_names(nil, { "busybox:latest", "centos:3.0" }) end)
        -- iSulad: -1, "Cannot leave the image name empty"; we clear the names
        assert.is_true(st:set_names(HEALTH, {}))
        assert.are.same({}, st:get(HEALTH).names)
        pending("divergence: set_names with an empty list clears the names (containers/storage); iSulad refuses")
      end)

      it("test_image_store_create: set_names replaces the names", function()
        create_health_check()
        assert.is_true(st:set_names(HEALTH, { "busybox:latest", "centos:3.0" }))
        assert.are.same({ "busybox:latest", "centos:3.0" }, st:get(HEALTH).names)
      end)

      it("test_image_store_create: set_metadata and metadata", function()
        create_health_check()
        assert.has_error(function() st:set_metadata(nil, "{metadata}") end)
        assert.is_true(st:set_metadata(HEALTH, "{metadata}"))
        assert.has_error(function() st:metadata(nil) end)
        assert.are.equal("{metadata}", st:metadata(HEALTH))
      end)

      it("test_image_store_create: delete removes the image and its directory", function()
        create_health_check()
        assert.has_error(function() st:delete(nil) end)
        assert.is_true(st:delete(HEALTH))
        helpers.fails("ENOTFOUND", 'image not found: "' .. HEALTH .. '"', st:get(HEALTH))
        assert.is_false(helpers.exists(image_dir))
      end)

      it("test_image_store_create: create without an ID makes a random one that lookup finds", function()
        create_health_check()
        assert.is_true(st:delete(HEALTH))
        local img = assert(st:create{ names = { HEALTH_NAME }, layer = HEALTH_LAYER, metadata = "{}" })
        assert.is_truthy(img.id:match("^" .. ("%x"):rep(64) .. "$"))
        assert.are.equal(img.id, st:lookup(img.id))
        assert.is_true(helpers.is_dir(dir .. "/" .. img.id))
      end)

      it("test_image_store_create: big_data_digest of a manifest copied into the random image's directory", function()
        local id = assert(st:create{ names = { HEALTH_NAME }, layer = HEALTH_LAYER, metadata = "{}" }).id
        copy_manifest(id)
        assert.has_error(function() st:big_data_digest(id, nil) end)
        assert.are.equal(HEALTH_MANIFEST_DIGEST, st:big_data_digest(id, "manifest"))
      end)

      it("test_image_store_create: delete of the random image", function()
        local id = assert(st:create{ names = { HEALTH_NAME }, layer = HEALTH_LAYER, metadata = "{}" }).id
        copy_manifest(id)
        assert.is_true(st:delete(id))
        helpers.fails("ENOTFOUND", 'image not found: "' .. id .. '"', st:lookup(id))
        assert.is_false(helpers.exists(dir .. "/" .. id))
      end)
    end)

    -- test_image_store_lookup
    it("test_image_store_lookup: by name and ID prefix; not by a substring", function()
      assert.has_error(function() st:lookup(nil) end)
      assert.are.equal(BUSYBOX, st:lookup("imagehub.isulad.com/official/busybox:latest"))
      assert.are.equal(BUSYBOX, st:lookup("e4db68de4ff27"))
      helpers.fails("ENOTFOUND", 'image not found: "4db68de4ff27"', st:lookup("4db68de4ff27"))
    end)

    -- test_image_store_exists
    it("test_image_store_exists: by name and ID prefix; not by a substring", function()
      assert.has_error(function() st:exists(nil) end)
      assert.is_true(st:exists("imagehub.isulad.com/official/centos:latest"))
      assert.is_true(st:exists("398"))
      assert.is_false(st:exists("ff67da98ab8540d713209"))
    end)

    -- test_image_store_metadata
    it("test_image_store_metadata: both images hold {}; an unknown reference has none", function()
      for _, id in ipairs(IDS) do assert.are.equal("{}", st:metadata(id)) end
      helpers.fails("ENOTFOUND", 'image not found: "ff67da98ab8540d713209"', st:metadata("ff67da98ab8540d713209"))
    end)

    -- test_image_store_get_all_images
    it("test_image_store_get_all_images: both images, the centos one with its times", function()
      local images = st:images()
      assert.are.equal(2, #images)
      for _, img in ipairs(images) do
        assert.is_true(img.id == CENTOS or img.id == BUSYBOX)
        if img.id == CENTOS then
          assert.are.equal("2017-07-10T12:46:57.770791248Z", img.created)
          assert.are.equal("2020-03-16T03:46:12.172621513Z", img.loaded)
          assert.is_nil(username_of(config_of(st, img.id)))
          assert.is_nil(img.size)
        end
      end
    end)

    -- test_image_store_get_something: images_number, get_names
    it("test_image_store_get_something: the number of images, and names", function()
      assert.are.equal(2, #st:images())
      assert.are.same({ "imagehub.isulad.com/official/centos:latest" }, st:get(CENTOS).names)
      assert.has_error(function() st:get(nil) end)
    end)

    -- test_image_store_delete
    it("test_image_store_delete: each image and its directory go", function()
      for _, id in ipairs(IDS) do
        assert.is_true(st:exists(id))
        assert.is_true(helpers.is_dir(dir .. "/" .. id))
        assert.is_true(st:delete(id))
        assert.is_false(st:exists(id))
        assert.is_false(helpers.exists(dir .. "/" .. id))
      end
      assert.has_error(function() st:exists(nil) end)
      assert.has_error(function() st:delete(nil) end)
    end)

    -- test_image_store_remove_single_name
    it("test_image_store_remove_single_name: add_name takes the other image's name", function()
      for _, id in ipairs(IDS) do
        assert.is_true(st:exists(id))
        assert.is_true(helpers.is_dir(dir .. "/" .. id))
      end
      assert.is_true(st:add_name(CENTOS, "imagehub.isulad.com/official/busybox:latest"))
      assert.has_error(function() st:add_name(nil, "imagehub.isulad.com/official/busybox:latest") end)
      assert.are.equal(CENTOS, st:lookup("imagehub.isulad.com/official/busybox:latest"))
    end)

    -- test_image_store_remove_multi_name
    it("test_image_store_remove_multi_name: names added to one image, then one taken by the other", function()
      assert.is_true(st:add_name(BUSYBOX, "imagehub.isulad.com/official/newname:latest"))
      assert.is_true(st:add_name(BUSYBOX, "imagehub.isulad.com/official/othername:latest"))
      assert.is_true(st:add_name(CENTOS, "imagehub.isulad.com/official/busybox:latest"))
      assert.are.same({ "imagehub.isulad.com/official/newname:latest",
        "imagehub.isulad.com/official/othername:latest" }, st:get(BUSYBOX).names)
    end)

    describe("test_strip_host_prefix", function()
      -- iSulad's strip_host_prefix() is what it applies to stored names at
      -- start; check{isulad = true} says what it would rename.
      local function renames(opts)
        -- an image iSulad loads: the health_check config and manifest, a layer
        local id = assert(st:create{ names = { "docker.io/test_image" }, layer = HEALTH_LAYER }).id
        assert(st:set_big_data(id, "sha256:" .. id,
          helpers.read_file(RESOURCES .. "/=" .. helpers.base64("sha256:" .. HEALTH))))
        assert(st:set_big_data(id, "manifest", helpers.read_file(RESOURCES .. "/manifest")))
        assert(st:set_size(id, 1000))
        local out = {}
        for _, f in ipairs(assert(st:check(opts))) do
          if f.kind == "isulad-rename" then out[#out + 1] = f.problem end
        end
        return out
      end

      it("test_strip_host_prefix: with no default host, docker.io/test_image stays", function()
        assert.are.same({}, renames{ isulad = true, default_registry = "" })
      end)

      it("test_strip_host_prefix: with default host docker.io, docker.io/test_image becomes test_image", function()
        local found = renames{ isulad = true, default_registry = "docker.io" }
        assert.are.equal(1, #found)
        assert.is_truthy(found[1]:find('iSulad would rename "docker.io/test_image" to "test_image"', 1, true),
          found[1])
      end)
    end)
  end)
end)
