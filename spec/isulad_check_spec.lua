-- st:check{isulad = true}: what iSulad would do to this store at its next
-- start (core/isulad_check.c; docs/contract.md, "Interoperability"). One
-- case per finding kind and condition, each on a store of its own built in
-- a temporary directory, with the exact sentence; the health_check image of
-- spec/fixtures/isulad/resources is the clean image iSulad loads as it is.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local RESOURCE = "isulad/resources/ffc8ef7968a2acb7545006bed022001addaa262c0f760883146c4a4fae54e689"
local CONFIG = assert(helpers.read_file(helpers.fixture_path(RESOURCE) .. "/="
  .. helpers.base64("sha256:ffc8ef7968a2acb7545006bed022001addaa262c0f760883146c4a4fae54e689")))
local MANIFEST = assert(helpers.read_file(helpers.fixture_path(RESOURCE) .. "/manifest"))
local LAYER = "6194458b07fcf01f1483d96cd6c34302ffff7f382bb151a6d023c4e80ba3050a"
local A = "aaaa0000000000000000000000000000000000000000000000000000000000a1"
local B = "bbbb0000000000000000000000000000000000000000000000000000000000b2"
local V1 = "2aef2fee38d871f9b97d92653471394487c57042eae07b279b9852be3a78132b"

local SKIP = "iSulad would skip this image at its next start (not load it, and leave it on disk): "
local DELETE = "iSulad would delete this image directory at its next start: "

-- The isulad-* findings only, as "kind path-below-dir: sentence".
local function isulad_findings(list, dir)
  local out = {}
  for _, f in ipairs(list) do
    if f.kind:match("^isulad%-") then
      out[#out + 1] = f.kind .. " " .. f.path:sub(#dir + 2) .. ": " .. f.problem
    end
  end
  return out
end

local function rename(from, to, registry)
  return string.format('iSulad would rename "%s" to "%s" at its next start (it strips "%s/", '
    .. 'then "library/", from the start of names) and rewrite this record', from, to,
    registry or "docker.io")
end

describe("check{isulad = true}", function()
  local dir, st

  -- An image iSulad loads as it is (the health_check image's config and
  -- manifest, a layer, a recorded size); opts.no = a list of what to leave out.
  -- The names are set after create, so that the record has a names history
  -- (create leaves it empty, as containers/storage does).
  local function make_image(id, names, opts)
    opts = opts or {}
    local skip = {}
    for _, what in ipairs(opts.no or {}) do skip[what] = true end
    assert(st:create{ id = id, layer = not skip.layer and LAYER or nil })
    assert(st:set_names(id, names))
    if not skip.config then
      assert(st:set_big_data(id, "sha256:" .. id, opts.config or CONFIG))
    end
    if not skip.manifest then
      assert(st:set_big_data(id, "manifest", opts.manifest or MANIFEST))
    end
    if not skip.size then assert(st:set_size(id, 4096)) end
  end

  local function record_path(id) return dir .. "/" .. id .. "/images.json" end

  local function isulad(opts)
    opts = opts or {}
    opts.isulad = true
    return isulad_findings(assert(st:check(opts)), dir)
  end

  before_each(function()
    dir = helpers.tmpdir() .. "/store"
    st = assert(imagestore.open(dir))
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("loads a clean image as it is", function()
    it("with a config, a manifest, a layer and a size: no finding", function()
      make_image(A, { "isula.org/library/health_check:latest" })
      assert.are.same({}, st:check{ isulad = true })
      assert.are.same({}, st:check())
    end)

    it("whose manifest is read up to its first NUL byte, as iSulad reads it", function()
      -- one byte less than iSulad's read limit: the text before the NUL parses
      make_image(A, { "isula.org/x:1" }, {
        manifest = MANIFEST .. "\0" .. string.rep("x", 10 * 1024 * 1024 + 16384 - #MANIFEST - 2) })
      assert.are.same({}, isulad())
    end)

    it("whose manifest is an OCI image index: iSulad reads it as schema 1 (version 2) and loads the image", function()
      make_image(A, { "isula.org/x:1" }, {
        manifest = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}' })
      assert.are.same({}, isulad())
    end)
  end)

  describe("isulad-delete", function()
    it("an image without config", function()
      make_image(A, { "isula.org/x:1" }, { no = { "config" } })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE
        .. 'no big-data item "sha256:' .. A .. '" (its config)' }, isulad())
    end)

    it("a config without rootfs is no OCI image config", function()
      make_image(A, { "isula.org/x:1" }, { config = '{"architecture":"amd64","os":"linux"}' })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE .. 'its config "sha256:' .. A
        .. '" is no OCI image config: no "rootfs" object' }, isulad())
    end)

    it("a config with an empty diff_ids is no OCI image config", function()
      make_image(A, { "isula.org/x:1" }, {
        config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE .. 'its config "sha256:' .. A
        .. '" is no OCI image config: in "rootfs": no "diff_ids" array, or an empty one' }, isulad())
    end)

    it("a config whose label is not a string is no OCI image config", function()
      make_image(A, { "isula.org/x:1" }, { config = '{"architecture":"amd64","os":"linux",'
        .. '"config":{"Labels":{"a":1}},"rootfs":{"type":"layers","diff_ids":["x"]}}' })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE .. 'its config "sha256:' .. A
        .. '" is no OCI image config: in "config": "Labels" holds a value that is not a string (at "a")' },
        isulad())
    end)

    it("a config read as iSulad reads it: a \\u0000 ends a key", function()
      -- "architecture\u0000x" is "architecture" to iSulad, and its first
      -- member of that name is no string
      make_image(A, { "isula.org/x:1" }, { config = '{"architecture\\u0000x":5,"architecture":"amd64",'
        .. '"os":"linux","rootfs":{"type":"layers","diff_ids":["x"]}}' })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE .. 'its config "sha256:' .. A
        .. '" is no OCI image config: no "architecture" string' }, isulad())
    end)

    it("a config that is not JSON", function()
      make_image(A, { "isula.org/x:1" }, { config = "{" })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE .. 'its config "sha256:' .. A
        .. '" does not parse: not JSON: parse error: premature EOF' }, isulad())
    end)

    it("an image without a top layer", function()
      make_image(A, { "isula.org/x:1" }, { no = { "layer" } })
      assert.are.same({ "isulad-delete " .. A .. ": " .. DELETE
        .. 'it has no top layer ("layer"), unless a container uses it' }, isulad())
    end)
  end)

  describe("isulad-skip", function()
    it("an image without manifest", function()
      make_image(A, { "isula.org/x:1" }, { no = { "manifest" } })
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP .. 'it has no "manifest" big-data item' },
        isulad())
    end)

    it("a manifest that is not JSON", function()
      make_image(A, { "isula.org/x:1" }, { manifest = "not json" })
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP
        .. 'its "manifest" does not parse: not JSON: lexical error: invalid string in json text.' },
        isulad())
    end)

    it("a manifest whose schemaVersion is no int", function()
      make_image(A, { "isula.org/x:1" }, { manifest = '{"schemaVersion":2.0}' })
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP .. 'its "manifest" is no Docker schema 2, '
        .. 'OCI or Docker schema 1 manifest: "schemaVersion" is not an int: 2.0' }, isulad())
    end)

    it("a manifest of 10 MiB or more (iSulad's parsers read less)", function()
      make_image(A, { "isula.org/x:1" }, { manifest = MANIFEST .. string.rep(" ", 10 * 1024 * 1024) })
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP
        .. 'its "manifest" does not parse: it is 10 MiB or larger' }, isulad())
    end)

    it("a manifest iSulad does not read whole: 10 MiB + 16 KiB or more, even after a NUL byte", function()
      -- iSulad's read_file() stops past 10 MiB, whatever the text holds
      make_image(A, { "isula.org/x:1" }, {
        manifest = MANIFEST .. "\0" .. string.rep("x", 10 * 1024 * 1024 + 16384 - #MANIFEST - 1) })
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP
        .. 'its "manifest" does not parse: it is 10 MiB or larger' }, isulad())
    end)

    it("a schema 1 manifest with a config that is no Docker image config", function()
      make_image(A, { "isula.org/x:1" }, { manifest = '{"schemaVersion":1}', config = '{"Size":1.5}' })
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP .. 'its "manifest" is no Docker schema 2 '
        .. 'or OCI manifest, and its config "sha256:' .. A
        .. '" is no Docker image config: "Size" is not an int64: 1.5' }, isulad())
    end)

    it("a record iSulad's parser refuses (its size is no uint64)", function()
      make_image(A, { "isula.org/x:1" })
      local record = helpers.read_file(record_path(A)):gsub('"size":4096', '"size":4096.5')
      helpers.write_file(record_path(A), record)
      assert.are.same({ "isulad-skip " .. A .. ": " .. SKIP
        .. [[iSulad's parser refuses its images.json: "size" is not a uint64: 4096.5]] }, isulad())
    end)
  end)

  describe("isulad-convert", function()
    it("a Docker schema 1 image without config", function()
      make_image(A, { "isula.org/x:1" }, { no = { "config" }, manifest = '{"schemaVersion":1}' })
      assert.are.same({ "isulad-convert " .. A .. ": iSulad would convert this image at its next "
        .. 'start: its "manifest" is Docker schema 1 and it has no config "sha256:' .. A .. '", so '
        .. "iSulad re-creates it under a new ID (the digest of the config it builds from the "
        .. "manifest) and deletes this directory, or skips it when that fails" }, isulad())
    end)
  end)

  describe("isulad-misfiled", function()
    it("a record whose id is another directory's", function()
      make_image(A, { "isula.org/x:1" })
      local record = helpers.read_file(record_path(A)):gsub(A, B)
      helpers.write_file(record_path(A), record)
      assert.are.same({ "isulad-misfiled " .. A .. "/images.json: iSulad would take this record "
        .. 'for image "' .. B .. '" at its next start: it reads that image\'s config in, and may '
        .. 'delete, the store\'s entry "' .. B .. '", not this directory' }, isulad())
    end)
  end)

  describe("isulad-rename", function()
    it("strips the default registry docker.io, then library/", function()
      make_image(A, { "docker.io/library/busybox:latest", "docker.io/foo/bar:1", "library/alpine:3",
        "quay.io/library/x:1" })
      local found = isulad()
      assert.are.same({
        "isulad-rename " .. A .. "/images.json: " .. rename("docker.io/library/busybox:latest", "busybox:latest"),
        "isulad-rename " .. A .. "/images.json: " .. rename("docker.io/foo/bar:1", "foo/bar:1"),
        "isulad-rename " .. A .. "/images.json: " .. rename("library/alpine:3", "alpine:3"),
      }, { found[1], found[2], found[3] })
      assert.are.equal(4, #found) -- and the rewrite: see isulad-drops-field
    end)

    it("with another default registry, strips that one", function()
      make_image(A, { "docker.io/library/busybox:latest", "quay.io/library/x:1" })
      local found = isulad{ default_registry = "quay.io" }
      assert.are.same("isulad-rename " .. A .. "/images.json: " .. rename("quay.io/library/x:1", "x:1", "quay.io"),
        found[1])
      assert.are.equal(2, #found)
    end)

    it("with no default registry (\"\"), strips nothing", function()
      make_image(A, { "docker.io/library/busybox:latest", "library/alpine:3" })
      assert.are.same({}, isulad{ default_registry = "" })
    end)
  end)

  describe("isulad-drops-field", function()
    it("a renamed image's record loses its names history", function()
      make_image(A, { "docker.io/library/busybox:latest" })
      assert.are.same({
        "isulad-rename " .. A .. "/images.json: " .. rename("docker.io/library/busybox:latest", "busybox:latest"),
        "isulad-drops-field " .. A .. "/images.json: iSulad would rewrite this record at its next "
          .. 'start (it renames a name) and drop "names-history"',
      }, isulad())
    end)

    it("a record without size loses names-history, flags and unknown keys", function()
      make_image(A, { "isula.org/x:1" }, { no = { "size" } })
      local record = helpers.read_file(record_path(A)):gsub("}$", ',"flags":{"pinned":true},"x-extra":[1]}')
      helpers.write_file(record_path(A), record)
      assert.are.same({ "isulad-drops-field " .. A .. "/images.json: iSulad would rewrite this "
        .. "record at its next start (its size is 0 or not recorded, and iSulad saves the size it "
        .. 'computes) and drop "names-history", "flags" and "x-extra"' }, isulad())
    end)

    it("two images that hold one name once stripped: the one read last is rewritten", function()
      make_image(A, { "docker.io/library/busybox:latest" })
      make_image(B, { "busybox:latest" })
      assert.are.same({
        "isulad-rename " .. A .. "/images.json: " .. rename("docker.io/library/busybox:latest", "busybox:latest"),
        "isulad-drops-field " .. A .. "/images.json: iSulad would rewrite this record at its next "
          .. 'start (it renames a name; name "busybox:latest" is also on image ' .. B .. ", and "
          .. 'iSulad rewrites the one of the two it reads last) and drop "names-history"',
        "isulad-drops-field " .. B .. "/images.json: iSulad would rewrite this record at its next "
          .. 'start (name "busybox:latest" is also on image ' .. A .. ", and iSulad rewrites the "
          .. 'one of the two it reads last) and drop "names-history"',
      }, isulad())
    end)

    it("a record iSulad does not rewrite keeps every field: no finding", function()
      make_image(A, { "isula.org/x:1" })
      local record = helpers.read_file(record_path(A)):gsub("}$", ',"flags":{"pinned":true}}')
      helpers.write_file(record_path(A), record)
      assert.are.same({}, isulad())
    end)
  end)

  describe("what cannot be told", function()
    it("says nothing of a manifest that is a symlink (iSulad would follow it; this scan does not)", function()
      make_image(A, { "isula.org/x:1" })
      helpers.write_file(dir .. "/outside-manifest", "not JSON: iSulad would skip the image")
      os.remove(dir .. "/" .. A .. "/manifest")
      helpers.execute("ln -s ../outside-manifest " .. helpers.shell_quote(dir .. "/" .. A .. "/manifest"))
      assert.are.same({}, isulad())
      local kinds = {}
      for _, f in ipairs(st:check{ isulad = true }) do kinds[#kinds + 1] = f.kind end
      assert.are.same({ "not-a-file" }, kinds) -- what check() says of it
    end)
  end)

  describe("options", function()
    it("check{} and check() give no isulad finding, check{isulad = false} neither", function()
      make_image(A, { "docker.io/library/busybox:latest" }, { no = { "config" } })
      make_image(B, { "isula.org/x:1" }, { no = { "manifest" } })
      assert.are.same({}, st:check())
      assert.are.same({}, st:check{})
      assert.are.same({}, st:check{ isulad = false })
      local kinds = {}
      for _, f in ipairs(st:check{ isulad = true }) do kinds[#kinds + 1] = f.kind end
      assert.are.same({ "isulad-delete", "isulad-skip" }, kinds) -- A deleted (not renamed), B skipped
    end)

    it("an unknown option, or one of the wrong type, raises", function()
      assert.has_error(function() st:check{ isuald = true } end, "unknown option 'isuald'")
      assert.has_error(function() st:check{ isulad = "yes" } end,
        "bad option 'isulad' (boolean expected, got string)")
      assert.has_error(function() st:check{ isulad = true, default_registry = 5 } end,
        "bad option 'default_registry' (string expected, got number)")
      assert.has_error(function() st:check{ isulad = true, default_registry = "a\0b" } end,
        "bad option 'default_registry' (contains a NUL byte)")
      assert.has_error(function() st:check{ default_registry = "docker.io" } end,
        "option 'default_registry' needs isulad = true")
      assert.has_error(function() st:check("isulad") end)
    end)

    it("a default registry iSulad would not start with is EINVAL", function()
      local ok, message, code = st:check{ isulad = true, default_registry = "localhost:5000" }
      assert.is_nil(ok)
      assert.are.equal('default registry "localhost:5000" is not a host name iSulad accepts', message)
      assert.are.equal("EINVAL", code)
    end)
  end)

  describe("the iSulad fixture stores", function()
    it("overlay-images: iSulad loads both images as they are", function()
      st:close()
      dir = helpers.copy_fixture("isulad/overlay-images")
      st = assert(imagestore.open(dir, { readonly = true }))
      -- Both images have a manifest (Docker schema 2), an OCI config under
      -- "sha256:<id>" and a top layer, and their names are under
      -- imagehub.isulad.com, not docker.io: iSulad deletes, skips and
      -- renames nothing. Neither record holds a size, so iSulad would
      -- rewrite both (once it has computed their sizes from its layer
      -- store), but they hold no field iSulad's records lack, so nothing is
      -- lost. What check() finds is the centos config's recorded size
      -- (2235, the file has 2231 bytes), which iSulad does not look at.
      local found = assert(st:check{ isulad = true })
      assert.are.equal(1, #found)
      assert.are.equal("big-data-size", found[1].kind)
      assert.are.same({}, isulad_findings(found, dir))
      -- With imagehub.isulad.com as its default registry, iSulad would
      -- rename both (the records hold no names history to lose).
      assert.are.same({
        "isulad-rename 39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10/images.json: "
          .. rename("imagehub.isulad.com/official/centos:latest", "official/centos:latest", "imagehub.isulad.com"),
        "isulad-rename e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b/images.json: "
          .. rename("imagehub.isulad.com/official/busybox:latest", "official/busybox:latest", "imagehub.isulad.com"),
      }, isulad_findings(assert(st:check{ isulad = true, default_registry = "imagehub.isulad.com" }), dir))
    end)

    it("v1_images: iSulad converts the Docker schema 1 image", function()
      st:close()
      dir = helpers.copy_fixture("isulad/v1_images")
      st = assert(imagestore.open(dir, { readonly = true }))
      -- Its manifest is Docker schema 1 and there is no config: iSulad
      -- builds a config from the manifest's history, re-creates the image
      -- under that config's digest and deletes this directory.
      assert.are.same({ "isulad-convert " .. V1 .. ": iSulad would convert this image at its next "
        .. 'start: its "manifest" is Docker schema 1 and it has no config "sha256:' .. V1 .. '", so '
        .. "iSulad re-creates it under a new ID (the digest of the config it builds from the "
        .. "manifest) and deletes this directory, or skips it when that fails" },
        isulad_findings(assert(st:check{ isulad = true }), dir))
    end)
  end)
end)
