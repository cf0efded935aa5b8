-- imagestore.import: OCI layouts, oci-archive and docker-archive tarballs,
-- containers/storage and iSulad stores, and store-to-store copies, against
-- the expected values of the fixtures (spec/fixtures/README.md), and bad
-- input, each case leaving the store as it was.
--
-- There is no oci-archive fixture: the specs make one from the OCI layout
-- fixture with tar(1) (`tar -C spec/fixtures/oci-layout -cf x.tar .`).

local helpers = require("spec.helpers")
local fails = helpers.fails
local imagestore = require("imagestore")
local import = require("imagestore.import")
local naming = require("imagestore.naming")

local q = helpers.shell_quote
local F = helpers.fixtures_dir
local ROOT = os.getenv("IMAGESTORE_ROOT") or "."

local HELLO = "7d6555ccc8763045ecdf38dcc36070ae51aa9adf0965fb13c1017805a23b0caf"
local TOOLS = "70e6b2b80b73b8271aa5c7ed90f72747cf853d6b3b9edd4880a055c8d249af37"
local BUSYBOX = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b"
local CENTOS = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10"

local OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
local OCI_INDEX = "application/vnd.oci.image.index.v1+json"
local OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
local OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

local raised = helpers.raised

local function fixture_json(rel) return helpers.read_json(F .. "/" .. rel) end

-- podman-inspect.json by ID, and layers.json's layer ID by diff digest
local function inspect_by_id()
  local t = {}
  for _, i in ipairs(fixture_json("containers-storage/podman-inspect.json")) do t[i.Id] = i end
  return t
end
local function layer_by_diff()
  local t = {}
  for _, l in ipairs(fixture_json("containers-storage/vfs-layers/layers.json")) do t[l["diff-digest"]] = l.id end
  return t
end

local function blob_file(dir, digest) return dir .. "/blobs/sha256/" .. digest:sub(8) end

local function by_id(report)
  local t = {}
  for _, img in ipairs(report.images) do t[img.id] = img end
  return t
end

-- A fresh writable store, and the report of an import that must succeed.
local function new_store(opts)
  return assert(imagestore.open(helpers.tmpdir() .. "/store", opts))
end
local function ok(report, msg, code)
  assert(report, "import failed: " .. tostring(msg) .. " " .. tostring(code))
  return report
end

-- ---- a small OCI layout, written blob by blob -------------------------------

local function put(dir, bytes)
  local d = imagestore.sha256(bytes)
  helpers.write_file(blob_file(dir, d), bytes)
  return d
end

-- An image's blobs in dir: layers (strings), its config and manifest. Returns
-- the manifest's descriptor (a JSON text fragment) and its parts.
local function add_image(dir, spec)
  spec = spec or {}
  if not helpers.is_dir(dir .. "/blobs/sha256") then helpers.mkdir(dir .. "/blobs/sha256") end
  local layers, diffs = {}, {}
  for i, data in ipairs(spec.layers or { "layer of " .. (spec.tag or "x") }) do
    local d = put(dir, data)
    diffs[i] = '"' .. d .. '"'
    layers[i] = ('{"mediaType":"%s","digest":"%s","size":%d}'):format(spec.layer_type or OCI_LAYER, d, #data)
  end
  local config = spec.config or ('{"created":"2025-01-02T03:04:05Z","architecture":"%s","os":"linux",'
    .. '"config":{"Env":["TAG=%s"]},"rootfs":{"type":"layers","diff_ids":[%s]}}')
    :format(spec.arch or "amd64", spec.tag or "x", table.concat(diffs, ","))
  local cdigest = put(dir, config)
  local manifest = ('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%d},'
    .. '"layers":[%s]}'):format(OCI_MANIFEST, OCI_CONFIG, cdigest, #config, table.concat(layers, ","))
  local mdigest = put(dir, manifest)
  local annotations = spec.name and ('"annotations":{"org.opencontainers.image.ref.name":"%s"},'):format(spec.name) or ""
  local platform = spec.platform and (',"platform":%s'):format(spec.platform) or ""
  return ('{"mediaType":"%s",%s"digest":"%s","size":%d%s}'):format(spec.media_type or OCI_MANIFEST,
    annotations, mdigest, #manifest, platform),
    { id = cdigest:sub(8), config = config, manifest = manifest, digest = mdigest }
end

local function write_layout(dir, descriptors)
  helpers.mkdir(dir .. "/blobs/sha256")
  helpers.write_file(dir .. "/oci-layout", '{"imageLayoutVersion":"1.0.0"}')
  helpers.write_file(dir .. "/index.json", '{"schemaVersion":2,"manifests":[' .. table.concat(descriptors, ",") .. "]}")
  return dir
end

-- A layout with images {tag=, name=...}; returns dir and the parts by tag.
local function make_layout(images, dir)
  dir = dir or helpers.tmpdir() .. "/layout"
  helpers.mkdir(dir .. "/blobs/sha256")
  local descriptors, parts = {}, {}
  for i, spec in ipairs(images) do
    descriptors[i], parts[spec.tag or i] = add_image(dir, spec)
  end
  return write_layout(dir, descriptors), parts
end

local function tar_of(dir, path)
  helpers.execute("tar -C " .. q(dir) .. " -cf " .. q(path) .. " .")
  return path
end

describe("imagestore.import", function()
  after_each(helpers.cleanup)

  describe("module", function()
    it("creates no globals when required, and exports exactly the documented names", function()
      local path = assert(package.searchpath("imagestore.import", package.path))
      local before = {}
      for k in pairs(_G) do before[k] = true end
      assert.is_table(dofile(path))
      local added = {}
      for k in pairs(_G) do
        if not before[k] then added[#added + 1] = tostring(k) end
      end
      assert.are.same({}, added)
      local names = {}
      for k in pairs(import) do names[#names + 1] = k end
      table.sort(names)
      assert.are.same({ "auto", "containers_storage", "detect", "docker_archive", "host_platform", "isulad",
                        "layer_ids", "limits", "oci_archive", "oci_layout", "parse_platform", "store" }, names)
      assert.are.same({ index = 4194304, manifest = 4194304, config = 4194304 }, import.limits)
    end)

    it("derives layer IDs as containers/storage does: the diff ID, then sha256(parent '+' diff ID)", function()
      local d1, d2, d3 = imagestore.sha256("a"), imagestore.sha256("b"), imagestore.sha256("c")
      local id2 = helpers.sha256_of(d1:sub(8) .. "+" .. d2:sub(8)):sub(8)
      local id3 = helpers.sha256_of(id2 .. "+" .. d3:sub(8)):sub(8)
      assert.are.same({ d1:sub(8), id2, id3 }, import.layer_ids({ d1, d2, d3 }))
      assert.are.same({}, import.layer_ids({}))
      -- the Podman store's layers: one each, so the ID is the diff ID
      for diff, id in pairs(layer_by_diff()) do assert.are.same({ id }, import.layer_ids({ diff })) end
    end)

    it("knows the host's platform and parses others", function()
      local p = import.host_platform()
      assert.are.equal("linux", p.os)
      local machine = helpers.run("uname -m"):gsub("%s+$", "")
      local want = ({ x86_64 = "amd64", aarch64 = "arm64", armv7l = "arm", i686 = "386", ppc64le = "ppc64le",
                      s390x = "s390x", riscv64 = "riscv64" })[machine] or machine
      assert.are.equal(want, p.architecture)
      assert.are.same({ os = "linux", architecture = "arm64", variant = "v8" }, import.parse_platform("linux/arm64/v8"))
      assert.are.same({ os = "linux", architecture = "s390x" }, import.parse_platform("linux/s390x"))
      assert.are.same({ nil, '"linux" is not os/arch[/variant]' }, { import.parse_platform("linux") })
    end)
  end)

  describe("an OCI layout made by skopeo", function()
    it("records both images as Podman would: ID, names, digest, config and manifest bytes, top layer", function()
      local st <close> = new_store()
      local dir = F .. "/oci-layout"
      local before = helpers.tree_hash(dir)
      local t0 = os.time()
      local report = ok(import.oci_layout(st, dir))
      assert.are.equal("oci-layout", report.kind)
      assert.are.same({}, report.skipped)
      local inspect, layers = inspect_by_id(), layer_by_diff()
      local tags = { [HELLO] = "hello-1.0", [TOOLS] = "tools-2.3" }
      assert.are.equal(2, #report.images)
      for id, tag in pairs(tags) do
        local expected = fixture_json("oci-layout-inspect-" .. tag .. ".json")
        local img = assert(st:get(id))
        assert.are.equal(id, img.id)
        assert.are.same({ tag }, img.names)
        assert.are.equal(expected.Digest, img.digest)
        assert.are.equal(inspect[id].Created, img.created)
        assert.matches(helpers.TIME_PATTERN, img.loaded)
        assert.is_true(math.abs(helpers.epoch_of(img.loaded) - t0) <= 60)
        local manifest = helpers.read_file(blob_file(dir, expected.Digest))
        local config = helpers.read_file(blob_file(dir, "sha256:" .. id))
        assert.are.same({ "sha256:" .. id, "manifest-" .. expected.Digest, "manifest" }, img.big_data_names)
        assert.are.equal(manifest, st:big_data(id, "manifest"))
        assert.are.equal(manifest, st:big_data(id, "manifest-" .. expected.Digest))
        assert.are.equal(config, st:big_data(id, "sha256:" .. id))
        -- the same config as the Podman store's: same ID, same bytes
        assert.are.equal(helpers.read_file(F .. "/containers-storage/vfs-images/" .. id .. "/="
          .. helpers.base64("sha256:" .. id)), config)
        local diff = "sha256:" .. (id == HELLO and "a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a"
          or "24badb1df5d81e06fb42695db6f3e31caf19f61ecb74aa623357a81a9f529158")
        assert.are.equal(inspect[id].RootFS.Layers[1], diff)
        assert.are.equal(layers[diff], img.layer)
        local r = by_id(report)[id]
        assert.are.same({ id = id, status = "added", names = { tag }, new_names = { tag },
                          digest = expected.Digest, layer = layers[diff],
                          source = ("index.json manifests[%d] (%s)"):format(id == HELLO and 1 or 2, tag) }, r)
      end
      assert.are.same({ { name = "hello-1.0", id = HELLO }, { name = "tools-2.3", id = TOOLS } }, report.names)
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.same({}, st:check())
    end)

    it("checks every layer with verify_layers and gives on_layer the layout's blob, in order", function()
      local st <close> = new_store()
      local dir = F .. "/oci-layout"
      local seen, events = {}, {}
      local report = ok(import.oci_layout(st, dir, {
        verify_layers = true,
        on_layer = function(info) seen[#seen + 1] = info end,
        progress = function(e) events[#events + 1] = e.kind .. " " .. (e.what or e.status) end,
      }))
      assert.are.equal(2, #report.images)
      assert.are.equal(2, #seen)
      local hello = seen[1].image == HELLO and seen[1] or seen[2]
      assert.are.same({
        image = HELLO, index = 1, count = 1,
        id = "a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a",
        diff_id = "sha256:a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a",
        digest = "sha256:be8a78dbeb101d06db4df6532e2dbf793c9dfcf6cc6d4827066ef4f36e819a28",
        media_type = "application/vnd.oci.image.layer.v1.tar+gzip", size = 185,
        path = dir .. "/blobs/sha256/be8a78dbeb101d06db4df6532e2dbf793c9dfcf6cc6d4827066ef4f36e819a28",
      }, hello)
      table.sort(events)
      assert.are.same({ "blob config", "blob config", "blob layer", "blob layer", "blob manifest", "blob manifest",
                        "image added", "image added" }, events)
    end)

    it("imports again only what is new: nothing twice, names added", function()
      local st <close> = new_store()
      ok(import.oci_layout(st, F .. "/oci-layout"))
      local report = ok(import.oci_layout(st, F .. "/oci-layout"))
      assert.are.same({ "unchanged", "unchanged" }, { report.images[1].status, report.images[2].status })
      assert.are.same({}, report.names)
      -- the docker-archive of the same image: a new name and its own manifest
      report = ok(import.docker_archive(st, F .. "/docker-archive-hello-1.0.tar"))
      assert.are.equal("updated", report.images[1].status)
      assert.are.same({ "example.com/demo/hello:1.0" }, report.images[1].new_names)
      assert.are.same({ "hello-1.0", "example.com/demo/hello:1.0" }, st:get(HELLO).names)
      assert.are.equal(4, #st:get(HELLO).big_data_names) -- and the docker manifest
      assert.are.equal(2, #st:images())
    end)

    it("moves a name another image holds, as podman load does, and says so", function()
      local st <close> = new_store()
      local other = helpers.create(st, { names = { "tools-2.3", "keep" } })
      local report = ok(import.oci_layout(st, F .. "/oci-layout"))
      assert.are.same({ { name = "hello-1.0", id = HELLO }, { name = "tools-2.3", id = TOOLS, from = other.id } },
                      report.names)
      assert.are.same({ "keep" }, st:get(other.id).names)
      assert.are.same({ "tools-2.3" }, st:get(TOOLS).names)
    end)

    it("records one image listed under two tags once, with both names", function()
      local dir = helpers.copy_fixture("oci-layout")
      local index = helpers.read_file(dir .. "/index.json")
      helpers.write_file(dir .. "/index.json", (index:gsub('"tools%-2%.3"', '"hello-again"'):gsub("66486be3faf8798751ba7d943f21245ec3e34b3ac8ad1e92f6491b3dcfc0c6c4", "0afb01615a12debd294da03794061111eb0a0bd47278fbb9d270a1da225eef4f")))
      local st <close> = new_store()
      local report = ok(import.oci_layout(st, dir))
      assert.are.equal(1, #report.images)
      assert.are.equal("index.json manifests[1] (hello-1.0), index.json manifests[2] (hello-again)", report.images[1].source)
      assert.are.same({ "hello-1.0", "hello-again" }, st:get(HELLO).names)
      assert.are.same({ HELLO }, helpers.ids(st:images()))
    end)

    it("normalizes names in a store with a naming policy", function()
      local st <close> = new_store({ naming = naming.policy{} })
      local report = ok(import.oci_layout(st, F .. "/oci-layout"))
      assert.are.same({ "docker.io/library/hello-1.0:latest" }, st:get(HELLO).names)
      assert.are.same({ "docker.io/library/hello-1.0:latest" }, by_id(report)[HELLO].names)
    end)
  end)

  describe("an oci-archive (the layout fixture, tarred by tar(1))", function()
    it("records what the layout gives, and on_layer's temp files are gone afterwards", function()
      local tmp = helpers.tmpdir()
      local path = tar_of(F .. "/oci-layout", tmp .. "/hello.tar")
      local st <close> = new_store()
      local files = {}
      local report = ok(import.oci_archive(st, path, {
        verify_layers = true, tmpdir = tmp,
        on_layer = function(info)
          files[#files + 1] = info.path
          assert.are.equal(info.digest, helpers.file_sha256(info.path))
        end,
      }))
      assert.are.equal("oci-archive", report.kind)
      assert.are.equal(2, #report.images)
      assert.are.equal(2, #files)
      for _, f in ipairs(files) do assert.is_false(helpers.exists(f)) end
      assert.are.same({ "hello.tar" }, helpers.list_dir(tmp))
      local img = st:get(HELLO)
      assert.are.same({ "hello-1.0" }, img.names)
      assert.are.equal("sha256:0afb01615a12debd294da03794061111eb0a0bd47278fbb9d270a1da225eef4f", img.digest)
      assert.are.equal("a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a", img.layer)
      assert.are.equal(helpers.read_file(blob_file(F .. "/oci-layout", img.digest)), st:big_data(HELLO, "manifest"))
    end)
  end)

  describe("a docker-archive made by podman save", function()
    it("records each image with containers/image's manifest for it, byte for byte", function()
      local layers = layer_by_diff()
      for _, case in ipairs({
        { "docker-archive-hello-1.0.tar", HELLO, "example.com/demo/hello:1.0", 455,
          "sha256:a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a" },
        { "docker-archive-tools-2.3.tar", TOOLS, "quay.io/acme/tools:2.3", 422,
          "sha256:24badb1df5d81e06fb42695db6f3e31caf19f61ecb74aa623357a81a9f529158" },
      }) do
        local st <close> = new_store()
        local file, id, name, config_size, diff = table.unpack(case)
        local report = ok(import.docker_archive(st, F .. "/" .. file))
        assert.are.equal("docker-archive", report.kind)
        local manifest = '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
          .. '"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":' .. config_size
          .. ',"digest":"sha256:' .. id .. '"},"layers":[{"mediaType":'
          .. '"application/vnd.docker.image.rootfs.diff.tar.gzip","size":10240,"digest":"' .. diff .. '"}]}'
        local digest = helpers.sha256_of(manifest)
        local img = st:get(id)
        assert.are.same({ name }, img.names)
        assert.are.equal(digest, img.digest)
        assert.are.equal(manifest, st:big_data(id, "manifest"))
        assert.are.equal(manifest, st:big_data(id, "manifest-" .. digest))
        local config = st:big_data(id, "sha256:" .. id)
        assert.are.equal(config_size, #config)
        assert.are.equal("sha256:" .. id, helpers.sha256_of(config))
        assert.are.equal(inspect_by_id()[id].Created, img.created)
        assert.are.equal(layers[diff], img.layer)
        assert.are.same({ { name = name, id = id } }, report.names)
      end
    end)

    it("checks the layer tar against its diff ID and hands it over through a temp file", function()
      local tmp = helpers.tmpdir()
      local st <close> = new_store()
      local seen = {}
      ok(import.docker_archive(st, F .. "/docker-archive-hello-1.0.tar", {
        verify_layers = true, tmpdir = tmp,
        on_layer = function(info)
          seen[#seen + 1] = { info.id, info.parent, helpers.file_sha256(info.path), info.size }
        end,
      }))
      assert.are.same({ { "a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a", nil,
                          "sha256:a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a", 10240 } }, seen)
      assert.are.same({}, helpers.list_dir(tmp))
    end)

    it("hands over a compressed layer tar as it is, and with verify_layers says it cannot check it", function()
      local gz = helpers.tmpdir() .. "/l.gz"
      helpers.write_file(gz .. ".src", ("layer"):rep(100))
      helpers.execute("gzip -c " .. q(gz .. ".src") .. " > " .. q(gz))
      local layer = helpers.read_file(gz)
      local diff = helpers.sha256_of(("layer"):rep(100))
      local config = ('{"rootfs":{"type":"layers","diff_ids":["%s"]}}'):format(diff)
      local cid = imagestore.sha256(config):sub(8)
      local path = helpers.tmpdir() .. "/gz.tar"
      helpers.write_file(path, helpers.tar_archive({ { "l.tar", layer }, { cid .. ".json", config },
        { "manifest.json", ('[{"Config":"%s.json","RepoTags":null,"Layers":["l.tar"]}]'):format(cid) } }))
      local st <close> = new_store()
      local report = ok(import.docker_archive(st, path, { verify_layers = true }))
      assert.are.same({ { source = "manifest.json[1]", id = cid, code = "EUNSUPPORTED",
        message = "layer l.tar is compressed: a docker-archive's layers are checked against their diff IDs" } },
        report.skipped)
      local got
      report = ok(import.docker_archive(st, path, { on_layer = function(info) got = helpers.read_file(info.path) end }))
      assert.are.equal(layer, got)
      assert.are.same({}, st:get(cid).names)
      assert.are.equal(diff:sub(8), st:get(cid).layer)
    end)

    it("gives a tag two images share to the later one, within one batch", function()
      local entries, items = {}, {}
      for i, tags in ipairs({ '"x.example/a:1"', '"x.example/a:1","x.example/b:1"' }) do
        local config = ('{"rootfs":{"type":"layers","diff_ids":[]},"n":%d}'):format(i)
        local cid = imagestore.sha256(config):sub(8)
        entries[#entries + 1] = { cid .. ".json", config }
        items[i] = ('{"Config":"%s.json","RepoTags":[%s],"Layers":[]}'):format(cid, tags)
        items[-i] = cid
      end
      entries[#entries + 1] = { "manifest.json", "[" .. table.concat(items, ",") .. "]" }
      local path = helpers.tmpdir() .. "/two.tar"
      helpers.write_file(path, helpers.tar_archive(entries))
      local st <close> = new_store()
      local report = ok(import.docker_archive(st, path))
      local first, second = items[-1], items[-2]
      assert.are.same({}, st:get(first).names)
      assert.are.same({ "x.example/a:1", "x.example/b:1" }, st:get(second).names)
      assert.are.same({ { name = "x.example/a:1", id = second, from = first }, { name = "x.example/b:1", id = second } },
                      report.names)
      assert.is_nil(st:get(first).layer)
      assert.are.same({}, st:check())
    end)

    it("follows links inside the archive and computes the chain of a three-layer image", function()
      local l1, l2, l3 = ("1"):rep(100), ("2"):rep(200), ("3"):rep(300)
      local d1, d2, d3 = imagestore.sha256(l1), imagestore.sha256(l2), imagestore.sha256(l3)
      local config = ('{"rootfs":{"type":"layers","diff_ids":["%s","%s","%s"]}}'):format(d1, d2, d3)
      local cid = imagestore.sha256(config):sub(8)
      local manifest = ('[{"Config":"%s.json","RepoTags":["a.example/x:1","a.example/x:2"],'
        .. '"Layers":["l1/layer.tar","l2.tar","./l3/layer.tar"]}]'):format(cid)
      local path = helpers.tmpdir() .. "/three.tar"
      helpers.write_file(path, helpers.tar_archive({
        { "blobs/one.tar", l1 }, { "l1/layer.tar", nil, "2", "../blobs/one.tar" },
        { "l2.tar", l2 }, { "l3/layer.tar", nil, "1", "blobs/three.tar" }, { "blobs/three.tar", l3 },
        { cid .. ".json", config }, { "manifest.json", manifest },
      }))
      local st <close> = new_store()
      local ids = {}
      local report = ok(import.docker_archive(st, path, {
        verify_layers = true, on_layer = function(info) ids[info.index] = info.id end }))
      local id2 = helpers.sha256_of(d1:sub(8) .. "+" .. d2:sub(8)):sub(8)
      local id3 = helpers.sha256_of(id2 .. "+" .. d3:sub(8)):sub(8)
      assert.are.same({ d1:sub(8), id2, id3 }, ids)
      assert.are.equal(id3, st:get(cid).layer)
      assert.are.same({ "a.example/x:1", "a.example/x:2" }, st:get(cid).names)
      assert.matches(helpers.TIME_PATTERN, st:get(cid).created) -- none in the config: now
      assert.are.same({}, report.skipped)
    end)
  end)

  describe("a Podman store (containers/storage's layout)", function()
    it("copies both records field by field, and never writes to the source", function()
      local src = helpers.copy_fixture("containers-storage/vfs-images")
      local before = helpers.tree_hash(src)
      local st <close> = new_store()
      local report = ok(import.containers_storage(st, src))
      assert.are.equal("containers-storage", report.kind)
      assert.are.same({}, report.skipped)
      assert.are.equal(before, helpers.tree_hash(src))
      local inspect, layers = inspect_by_id(), layer_by_diff()
      local records = fixture_json("containers-storage/vfs-images/images.json")
      for _, rec in ipairs(records) do
        local img = assert(st:get(rec.id))
        local exp = inspect[rec.id]
        assert.are.same(exp.RepoTags, img.names)
        assert.are.equal(exp.Digest, img.digest)
        assert.are.equal(exp.Created, img.created)
        assert.are.equal(layers[exp.RootFS.Layers[1]], img.layer)
        assert.are.equal(rec.layer, img.layer)
        assert.are.equal(rec.metadata, img.metadata)
        assert.are.same(rec["big-data-names"], img.big_data_names)
        for _, key in ipairs(rec["big-data-names"]) do
          assert.are.equal(helpers.read_file(src .. "/" .. rec.id .. "/" .. helpers.big_data_file_name(key)),
                           st:big_data(rec.id, key))
          assert.are.equal(rec["big-data-digests"][key], img.big_data_digests[key])
        end
        for _, rd in ipairs(exp.RepoDigests) do assert.are.equal(rec.id, st:lookup(rd)) end
      end
      assert.are.same({}, st:check())
    end)

    it("refuses a directory without images.json", function()
      local st <close> = new_store()
      local dir = F .. "/isulad/overlay-images"
      fails("ELAYOUT", dir .. ": not a containers/storage image store (no images.json)",
            import.containers_storage(st, dir))
    end)
  end)

  describe("an iSulad store", function()
    it("copies busybox field by field, and skips centos, whose config does not match its digest", function()
      local src = helpers.copy_fixture("isulad/overlay-images")
      local before = helpers.tree_hash(src)
      local st <close> = new_store()
      local report = ok(import.isulad(st, src))
      assert.are.equal("isulad", report.kind)
      assert.are.equal(before, helpers.tree_hash(src))
      assert.are.same({ {
        source = "image " .. CENTOS, id = CENTOS, code = "ECORRUPT",
        message = 'big data "sha256:' .. CENTOS .. '" does not match its recorded digest sha256:' .. CENTOS
          .. " (sha256:290ded8d6ec9cd9eac119b605c7251d1fb51733a517c5a47981f2967fe2cfe77)",
      } }, report.skipped)
      assert.is_false(st:exists(CENTOS))
      local img = assert(st:get(BUSYBOX))
      assert.are.same({ "imagehub.isulad.com/official/busybox:latest" }, img.names)
      assert.are.equal("6194458b07fcf01f1483d96cd6c34302ffff7f382bb151a6d023c4e80ba3050a", img.layer)
      assert.are.equal("sha256:64da743694ece2ca88df34bf4c5378fdfc44a1a5b50478722e2ff98b82e4a5c9", img.digest)
      assert.are.equal("2019-06-15T00:19:54.402459069Z", img.created)
      assert.are.equal("{}", img.metadata)
      assert.are.same({ ["sha256:" .. BUSYBOX] = 1497, manifest = 527 }, img.big_data_sizes)
      assert.are.equal(helpers.read_file(src .. "/" .. BUSYBOX .. "/manifest"), st:big_data(BUSYBOX, "manifest"))
      assert.are.same({ { id = BUSYBOX, status = "added", names = img.names, new_names = img.names,
                          digest = img.digest, layer = img.layer, source = "image " .. BUSYBOX } }, report.images)
    end)
  end)

  describe("store()", function()
    it("copies the images of a layered store, the lower ones included", function()
      local root = helpers.tmpdir()
      local lower = assert(imagestore.open(root .. "/lower"))
      local a = helpers.create(lower, { names = { "lower:1" }, layer = "l1" })
      assert(lower:set_big_data(a.id, "manifest", "{}"))
      lower:close()
      local upper = assert(imagestore.open(root .. "/upper", { additional = { root .. "/lower" } }))
      local b = helpers.create(upper, { names = { "upper:1" }, metadata = "m", created = "2020-01-01T00:00:00Z" })
      assert(upper:set_size(b.id, 42))
      local st <close> = new_store()
      local report = ok(import.store(st, upper))
      upper:close()
      assert.are.equal(2, #report.images)
      local ca, cb = st:get(a.id), st:get(b.id)
      assert.are.same({ "lower:1" }, ca.names)
      assert.are.equal("l1", ca.layer)
      assert.are.equal("{}", st:big_data(a.id, "manifest"))
      assert.is_false(ca.read_only)
      assert.are.same({ "upper:1" }, cb.names)
      assert.are.equal("m", cb.metadata)
      assert.are.equal(42, cb.size)
      assert.are.equal("2020-01-01T00:00:00.000000000Z", cb.created)
      assert.are.equal("bad argument #2 (the source is the store itself)", raised(import.store, st, st))
      assert.are.equal("bad argument #2 (source store expected, got string)", raised(import.store, st, "x"))
    end)
  end)

  describe("indexes", function()
    local function index_layout()
      local dir = helpers.tmpdir() .. "/layout"
      helpers.mkdir(dir .. "/blobs/sha256")
      local amd, pa = add_image(dir, { tag = "amd", platform = '{"architecture":"amd64","os":"linux"}' })
      local arm, pr = add_image(dir, { tag = "arm", arch = "arm64",
        platform = '{"architecture":"arm64","os":"linux","variant":"v8"}' })
      local index = ('{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}'):format(OCI_INDEX, amd, arm)
      local idigest = put(dir, index)
      write_layout(dir, { ('{"mediaType":"%s","digest":"%s","size":%d,"annotations":'
        .. '{"org.opencontainers.image.ref.name":"multi"}}'):format(OCI_INDEX, idigest, #index) })
      return dir, { amd = pa, arm = pr, index = index, digest = idigest }
    end

    it("select the platform asked for and keep the index as big data on the image", function()
      local dir, parts = index_layout()
      for _, want in ipairs({ { "linux/arm64", "arm" }, { { os = "linux", architecture = "amd64" }, "amd" },
                              { "linux/arm64/v8", "arm" } }) do
        local st <close> = new_store()
        local report = ok(import.oci_layout(st, dir, { platform = want[1] }))
        local p = parts[want[2]]
        assert.are.same({}, report.skipped)
        local img = st:get(p.id)
        assert.are.same({ "multi" }, img.names)
        assert.are.equal(p.digest, img.digest)
        assert.are.same({ "sha256:" .. p.id, "manifest-" .. parts.digest, "manifest-" .. p.digest, "manifest" },
                        img.big_data_names)
        assert.are.equal(parts.index, st:big_data(p.id, "manifest-" .. parts.digest))
        assert.are.equal(p.manifest, st:big_data(p.id, "manifest"))
        assert.are.same({ img }, st:by_digest(parts.digest))
      end
      -- the same as an oci-archive: index, manifest and config are read in
      -- three passes over the archive
      local st <close> = new_store()
      local report = ok(import.oci_archive(st, tar_of(dir, helpers.tmpdir() .. "/multi.tar"),
        { platform = "linux/arm64", verify_layers = true }))
      assert.are.same({}, report.skipped)
      assert.are.same({ "sha256:" .. parts.arm.id, "manifest-" .. parts.digest, "manifest-" .. parts.arm.digest,
                        "manifest" }, st:get(parts.arm.id).big_data_names)
    end)

    it("default to the host's platform, and skip an index without the one asked for", function()
      local dir, parts = index_layout()
      local store_dir = helpers.tmpdir() .. "/store"
      local st <close> = assert(imagestore.open(store_dir))
      local host = import.host_platform().architecture
      local report = ok(import.oci_layout(st, dir))
      if host == "amd64" or host == "arm64" then
        local p = parts[host == "amd64" and "amd" or "arm"]
        assert.are.same({ p.id }, helpers.ids(st:images()))
        assert.are.same({}, report.skipped)
      else
        assert.are.equal("ENOTFOUND", report.skipped[1].code)
      end
      local before = helpers.tree_hash(store_dir)
      report = ok(import.oci_layout(st, dir, { platform = "linux/s390x" }))
      assert.are.same({ { source = "index.json manifests[1] (multi)", code = "ENOTFOUND",
        message = ("index %s has no image for linux/s390x (it has linux/amd64, linux/arm64/v8)"):format(parts.digest) } },
        report.skipped)
      assert.are.equal(before, helpers.tree_hash(store_dir))
    end)
  end)

  describe("atomicity", function()
    it("records the good images of a batch whose one image fails in the store, and nothing of that one", function()
      local dir = make_layout({ { tag = "a", name = "ok-a" }, { tag = "b", name = "bad\\tname" }, { tag = "c", name = "ok-c" } })
      local st <close> = new_store()
      local report = ok(import.oci_layout(st, dir))
      assert.are.equal(2, #report.images)
      assert.are.same({ "ok-a", "ok-c" }, { report.images[1].names[1], report.images[2].names[1] })
      assert.are.equal(1, #report.skipped)
      assert.are.equal('invalid name "bad\\tname": holds a control character', report.skipped[1].message)
      assert.are.equal("EINVAL", report.skipped[1].code)
      assert.are.equal(2, #st:images())
      assert.are.same({}, st:check())
    end)
  end)

  describe("bad input leaves the store unchanged", function()
    local st, store_dir, hash

    before_each(function()
      store_dir = helpers.tmpdir() .. "/store"
      st = assert(imagestore.open(store_dir))
      helpers.create(st, { names = { "hello-1.0" } })
      hash = helpers.tree_hash(store_dir)
    end)

    after_each(function()
      assert.are.equal(hash, helpers.tree_hash(store_dir), "the store changed")
      st:close()
    end)

    -- a copy of the layout fixture, writable
    local function layout_copy() return helpers.copy_fixture("oci-layout") end
    local function only_skip(report, source, message, code)
      assert(report, "import failed as a whole")
      assert.are.same({}, report.images)
      assert.are.equal(1, #report.skipped)
      local s = report.skipped[1]
      assert.are.same({ source, message, code }, { s.source, s.message, s.code })
    end
    local HELLO_DESC = "index.json manifests[1] (hello-1.0)"
    local function only_hello(dir)
      local index = helpers.read_file(dir .. "/index.json")
      local one = index:gsub(',{[^{]*{[^}]*"tools%-2%.3"}}', "")
      assert(one ~= index)
      helpers.write_file(dir .. "/index.json", one)
    end

    it("a truncated tar", function()
      local whole = helpers.read_file(F .. "/docker-archive-hello-1.0.tar")
      local path = helpers.tmpdir() .. "/cut.tar"
      helpers.write_file(path, whole:sub(1, 6000))
      local report, msg, code = import.docker_archive(st, path)
      assert.is_nil(report)
      assert.are.equal("EINVAL", code)
      assert.matches("^" .. path:gsub("%p", "%%%0") .. ": reading the next entry: ", msg)
      report, msg, code = import.auto(st, path)
      assert.is_nil(report)
      assert.are.equal("EINVAL", code)
    end)

    it("a missing blob", function()
      local dir = layout_copy()
      only_hello(dir)
      os.remove(blob_file(dir, "sha256:" .. HELLO))
      only_skip(import.oci_layout(st, dir), HELLO_DESC,
        "config sha256:" .. HELLO .. " is missing from the layout", "ENOTFOUND")
      os.remove(blob_file(dir, "sha256:be8a78dbeb101d06db4df6532e2dbf793c9dfcf6cc6d4827066ef4f36e819a28"))
      helpers.write_file(blob_file(dir, "sha256:" .. HELLO), helpers.read_file(F .. "/oci-layout/blobs/sha256/" .. HELLO))
      only_skip(import.oci_layout(st, dir), HELLO_DESC,
        "layer sha256:be8a78dbeb101d06db4df6532e2dbf793c9dfcf6cc6d4827066ef4f36e819a28 is missing from the layout",
        "ENOTFOUND")
    end)

    it("a digest mismatch, in a config, a manifest or (with verify_layers) a layer", function()
      local dir = layout_copy()
      only_hello(dir)
      local config = blob_file(dir, "sha256:" .. HELLO)
      local good = helpers.read_file(config)
      local bad = good:gsub("/bin/sh", "/bin/xx")
      helpers.write_file(config, bad)
      only_skip(import.oci_layout(st, dir), HELLO_DESC,
        ("config sha256:%s does not match its content (%s)"):format(HELLO, helpers.sha256_of(bad)), "ECORRUPT")
      helpers.write_file(config, good .. " ")
      only_skip(import.oci_layout(st, dir), HELLO_DESC,
        ("config sha256:%s is 456 bytes, its descriptor says 455"):format(HELLO), "ECORRUPT")
      helpers.write_file(config, good)
      local layer = blob_file(dir, "sha256:be8a78dbeb101d06db4df6532e2dbf793c9dfcf6cc6d4827066ef4f36e819a28")
      local data = helpers.read_file(layer)
      local flipped = data:sub(1, 100) .. string.char(data:byte(101) ~ 1) .. data:sub(102)
      helpers.write_file(layer, flipped)
      only_skip(import.oci_layout(st, dir, { verify_layers = true }), HELLO_DESC,
        ("layer sha256:be8a78dbeb101d06db4df6532e2dbf793c9dfcf6cc6d4827066ef4f36e819a28 does not match its content (%s)")
          :format(helpers.sha256_of(flipped)), "ECORRUPT")
      local manifest = blob_file(dir, "sha256:0afb01615a12debd294da03794061111eb0a0bd47278fbb9d270a1da225eef4f")
      helpers.write_file(manifest, (helpers.read_file(manifest):gsub("455", "456")))
      only_skip(import.oci_layout(st, dir), HELLO_DESC,
        ("manifest sha256:0afb01615a12debd294da03794061111eb0a0bd47278fbb9d270a1da225eef4f does not match its content (%s)")
          :format(helpers.file_sha256(manifest)), "ECORRUPT")
    end)

    it("a docker-archive config that is not what its name says", function()
      local config = '{"rootfs":{"type":"layers","diff_ids":[]}}'
      local path = helpers.tmpdir() .. "/x.tar"
      helpers.write_file(path, helpers.tar_archive({
        { HELLO .. ".json", config },
        { "manifest.json", '[{"Config":"' .. HELLO .. '.json","RepoTags":["x:1"],"Layers":[]}]' } }))
      only_skip(import.docker_archive(st, path), "manifest.json[1]",
        ("config %s.json does not match its content (%s)"):format(HELLO, helpers.sha256_of(config)), "ECORRUPT")
    end)

    it("a tar with ../ entries", function()
      local path = helpers.tmpdir() .. "/evil.tar"
      helpers.write_file(path, helpers.tar_archive({ { "manifest.json", "[]" }, { "../../etc/evil", "x" } }))
      fails("EINVAL", path .. ': entry "../../etc/evil": an absolute path or one with ".." would leave the archive',
            import.docker_archive(st, path))
      fails("EINVAL", path .. ': entry "../../etc/evil": an absolute path or one with ".." would leave the archive',
            import.auto(st, path))
      helpers.write_file(path, helpers.tar_archive({ { "oci-layout", "{}" }, { "index.json", "{}" },
                                                     { "blobs/x", nil, "2", "../../../etc/passwd" } }))
      fails("EINVAL", path .. ': entry "blobs/x": a symbolic link to "../../../etc/passwd", outside the archive',
            import.oci_archive(st, path))
    end)

    it("an unknown media type, a Docker schema 1 manifest, an artifact", function()
      local dir = layout_copy()
      only_hello(dir)
      local index = helpers.read_file(dir .. "/index.json")
      helpers.write_file(dir .. "/index.json", (index:gsub(OCI_MANIFEST:gsub("%p", "%%%0"), "application/vnd.example.thing", 1)))
      only_skip(import.oci_layout(st, dir), HELLO_DESC,
        HELLO_DESC .. ': unsupported media type "application/vnd.example.thing"', "EUNSUPPORTED")
      local d2 = helpers.tmpdir() .. "/layout"
      local desc = add_image(d2, { tag = "art", media_type = "application/vnd.docker.distribution.manifest.v1+json" })
      write_layout(d2, { desc })
      local report = ok(import.oci_layout(st, d2))
      assert.matches("^manifest sha256:%x+: Docker schema 1 is not supported$", report.skipped[1].message)
      assert.are.equal("EUNSUPPORTED", report.skipped[1].code)
      local d3 = helpers.tmpdir() .. "/layout"
      desc = add_image(d3, { tag = "x", layer_type = "application/vnd.example.blob" })
      write_layout(d3, { desc })
      report = ok(import.oci_layout(st, d3))
      assert.matches('^manifest sha256:%x+ layer 1: unsupported media type "application/vnd.example.blob"$',
                     report.skipped[1].message)
    end)

    it("a directory that is none of the kinds, and a file that is no archive", function()
      local dir = helpers.tmpdir()
      helpers.mkdir(dir .. "/sub")
      helpers.write_file(dir .. "/sub/x", "x")
      local none = dir .. ": none of the kinds: not an OCI image layout (no oci-layout), an oci-archive or "
        .. "docker-archive, a containers/storage image store (no images.json) or an iSulad image store (no image records)"
      fails("ELAYOUT", none, import.auto(st, dir))
      fails("ELAYOUT", none, import.detect(dir))
      fails("ELAYOUT", dir .. ": not an OCI image layout (no oci-layout file)", import.oci_layout(st, dir))
      fails("ELAYOUT", dir .. "/sub/x: not an OCI image layout (not a directory)", import.oci_layout(st, dir .. "/sub/x"))
      helpers.write_file(dir .. "/junk", ("not a tar\n"):rep(200))
      fails("EINVAL", dir .. "/junk: not a tar archive (Unrecognized archive format)", import.auto(st, dir .. "/junk"))
      local empty = dir .. "/empty.tar"
      helpers.write_file(empty, helpers.tar_archive({ { "readme", "x" } }))
      fails("ELAYOUT", empty .. ": a tar archive, but neither a docker-archive (no manifest.json) nor an oci-archive "
        .. "(no oci-layout and index.json)", import.auto(st, empty))
      fails("ELAYOUT", empty .. ": not a docker-archive (no manifest.json)", import.docker_archive(st, empty))
      fails("ELAYOUT", empty .. ": not an OCI image layout (no oci-layout file)", import.oci_archive(st, empty))
      fails("ENOTFOUND", dir .. "/missing: No such file or directory", import.auto(st, dir .. "/missing"))
      fails("ELAYOUT", F .. "/containers-storage/vfs-images: a containers/storage image store (images.json), not iSulad's",
            import.isulad(st, F .. "/containers-storage/vfs-images"))
    end)

    it("a tar bomb: entries claiming gigabytes, a manifest of 100 MB, files above the limits", function()
      local tmp = helpers.tmpdir()
      local eight_gb = ("%011o\0"):format(8 * 1024 ^ 3 - 1)
      collectgarbage()
      local kb_before = collectgarbage("count")
      -- manifest.json, or a layer, claiming 8 GB: nothing is read or
      -- allocated for them, and the archive ends before its claim
      for _, entries in ipairs({
        helpers.tar_header("manifest.json", 0, "0", nil, eight_gb),
        helpers.tar_archive({ { "manifest.json", "[]" } }):sub(1, 1024) .. helpers.tar_header("layer.tar", 0, "0", nil, eight_gb),
      }) do
        local bomb = tmp .. "/bomb.tar"
        helpers.write_file(bomb, entries .. ("x"):rep(4096))
        local report, msg, code = import.docker_archive(st, bomb)
        assert.is_nil(report)
        assert.are.equal("EINVAL", code)
        assert.matches("^" .. bomb:gsub("%p", "%%%0") .. ": reading the next entry: ", msg)
      end
      assert.is_true(collectgarbage("count") - kb_before < 16 * 1024)
      -- manifest.json above the (lowered) limit: the whole archive
      fails("ELIMIT", F .. "/docker-archive-hello-1.0.tar: manifest.json is 208 bytes, above the limit of 100 bytes",
            import.docker_archive(st, F .. "/docker-archive-hello-1.0.tar", { limits = { manifest = 100 } }))
      -- a 100 MB manifest blob (sparse), named by a descriptor that says so
      local dir = tmp .. "/layout"
      helpers.mkdir(dir .. "/blobs/sha256")
      local digest = "sha256:" .. ("ab"):rep(32)
      helpers.execute("truncate -s 100M " .. q(blob_file(dir, digest)))
      write_layout(dir, { ('{"mediaType":"%s","digest":"%s","size":104857600}'):format(OCI_MANIFEST, digest) })
      only_skip(import.oci_layout(st, dir), "index.json manifests[1]",
        ("manifest %s is 104857600 bytes, above the limit of 4194304 bytes"):format(digest), "ELIMIT")
      -- ... and one whose descriptor lies about it
      write_layout(dir, { ('{"mediaType":"%s","digest":"%s","size":300}'):format(OCI_MANIFEST, digest) })
      only_skip(import.oci_layout(st, dir), "index.json manifests[1]",
        ("manifest %s is larger than its descriptor says (300 bytes)"):format(digest), "ELIMIT")
      -- limits can be lowered
      only_skip(import.docker_archive(st, F .. "/docker-archive-hello-1.0.tar", { limits = { config = 100 } }),
        "manifest.json[1]", F .. "/docker-archive-hello-1.0.tar: " .. HELLO .. ".json is 455 bytes, above the limit of 100 bytes",
        "ELIMIT")
    end)

    it("a blob that is a symbolic link or a FIFO", function()
      local dir = layout_copy()
      only_hello(dir)
      local config = blob_file(dir, "sha256:" .. HELLO)
      os.remove(config)
      helpers.execute("ln -s " .. q(F .. "/oci-layout/blobs/sha256/" .. HELLO) .. " " .. q(config))
      only_skip(import.oci_layout(st, dir), HELLO_DESC, config .. ": not a regular file", "EINVAL")
      os.remove(config)
      helpers.execute("mkfifo " .. q(config))
      only_skip(import.oci_layout(st, dir), HELLO_DESC, config .. ": not a regular file", "EINVAL")
    end)

    it("an on_layer hook that raises", function()
      local dir = layout_copy()
      only_hello(dir)
      only_skip(import.oci_layout(st, dir, { on_layer = function() error("disk full", 0) end }), HELLO_DESC,
        "on_layer hook failed: disk full", "EHOOK")
    end)

    it("malformed JSON and structure", function()
      local dir = layout_copy()
      helpers.write_file(dir .. "/index.json", '{"manifests":')
      local report, msg, code = import.oci_layout(st, dir)
      assert.is_nil(report)
      assert.are.equal("EINVAL", code)
      assert.matches("^" .. dir:gsub("%p", "%%%0") .. ": index.json is not valid JSON: ", msg)
      helpers.write_file(dir .. "/index.json", '{"manifests":{}}')
      fails("EINVAL", dir .. ": index.json manifests is not a JSON array", import.oci_layout(st, dir))
      helpers.write_file(dir .. "/index.json", '{"manifests":[{"digest":"sha512:00","size":1}]}')
      only_skip(import.oci_layout(st, dir), "index.json manifests[1]",
        "index.json manifests[1]: digest sha512:00: only sha256 is supported", "EUNSUPPORTED")
      os.remove(dir .. "/index.json")
      fails("ENOTFOUND", dir .. ": no index.json", import.oci_layout(st, dir))
    end)
  end)

  describe("options", function()
    it("raise when unknown or of the wrong type", function()
      local st <close> = new_store()
      local dir = F .. "/oci-layout"
      assert.are.equal("unknown option 'verify'", raised(import.oci_layout, st, dir, { verify = true }))
      assert.are.equal("bad option 'on_layer' (function expected, got string)",
                       raised(import.oci_layout, st, dir, { on_layer = "x" }))
      assert.are.equal("bad option 'platform' (\"linux\" is not os/arch[/variant])",
                       raised(import.oci_layout, st, dir, { platform = "linux" }))
      assert.are.equal("unknown limit 'layer'", raised(import.oci_layout, st, dir, { limits = { layer = 1 } }))
      assert.are.equal("bad option 'group' (positive integer expected)", raised(import.auto, st, dir, { group = 0 }))
      assert.are.equal("bad argument #1 (store expected, got nil)", raised(import.oci_layout, nil, dir))
      assert.are.equal("bad argument #2 (path expected, got number)", raised(import.auto, st, 1))
      assert.are.same({}, st:images())
    end)
  end)

  describe("auto() and examples/import.lua", function()
    it("detect each fixture kind", function()
      local tmp = helpers.tmpdir()
      local kinds = {
        { F .. "/oci-layout", "oci-layout" },
        { tar_of(F .. "/oci-layout", tmp .. "/oci.tar"), "oci-archive" },
        { F .. "/docker-archive-hello-1.0.tar", "docker-archive" },
        { F .. "/containers-storage/vfs-images", "containers-storage" },
        { F .. "/isulad/overlay-images", "isulad" },
      }
      for _, k in ipairs(kinds) do assert.are.equal(k[2], (import.detect(k[1]))) end
      local st <close> = new_store()
      for _, k in ipairs(kinds) do assert.are.equal(k[2], ok(import.auto(st, k[1])).kind) end
      assert.are.same({ TOOLS, HELLO, BUSYBOX }, helpers.ids(st:images()))
    end)

    it("runs examples/import.lua on each fixture kind", function()
      local tmp = helpers.tmpdir()
      local store = tmp .. "/store"
      for _, case in ipairs({
        { F .. "/oci-layout", "\noci%-layout .*\nadded     7d6555ccc876  layer a50ee53fc908  hello%-1%.0\n", true },
        { tar_of(F .. "/oci-layout", tmp .. "/oci.tar"), "\noci%-archive .*unchanged", true },
        { F .. "/docker-archive-tools-2.3.tar", "\nupdated   70e6b2b80b73  layer 24badb1df5d8  tools%-2%.3 quay%.io/acme/tools:2%.3\n", true },
        { F .. "/containers-storage/vfs-images", "\ncontainers%-storage ", true },
        { F .. "/isulad/overlay-images", "\nskipped   image " .. CENTOS .. ": big data ", false },
      }) do
        local p = helpers.spawn_lua(ROOT .. "/examples/import.lua", case[1], store)
        local out = p:read("a")
        local success = p:close()
        assert.matches(case[2], out)
        assert.are.equal(case[3], success == true, out)
      end
    end)
  end)
end)
