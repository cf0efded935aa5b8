-- A store opened with a naming policy: imagestore.open(dir, { naming = naming.policy{...} }).
-- Stored names are normalized (invalid ones refused), and every operation
-- that takes a reference accepts a short name.

local helpers = require("spec.helpers")
local create, fails, succeeds = helpers.create, helpers.fails, helpers.succeeds
local imagestore = require("imagestore")
local naming = require("imagestore.naming")

local ID_A = string.rep("a", 63) .. "1"
local ID_B = string.rep("b", 63) .. "2"
local BUSYBOX = "docker.io/library/busybox:latest"

describe("a store with a naming policy", function()
  local root, dir, st

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    st = assert(imagestore.open(dir, { naming = naming.policy{} }))
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("normalizes names", function()
    it("on create", function()
      local img = create(st, { id = ID_A, names = { "busybox", "library/alpine:3", "quay.io/x/y" } })
      assert.are.same({ BUSYBOX, "docker.io/library/alpine:3", "quay.io/x/y:latest" }, img.names)
      assert.are.same(img.names, helpers.read_json(dir .. "/" .. ID_A .. "/images.json").names)
    end)

    it("on create, so that two spellings of one name are one name", function()
      create(st, { id = ID_A, names = { "busybox" } })
      fails("ENAMEINUSE", 'name "' .. BUSYBOX .. '" is already used by image ' .. ID_A,
        st:create{ id = ID_B, names = { "docker.io/library/busybox:latest" } })
      local img = create(st, { id = ID_B, names = { "busybox:1", "docker.io/busybox:1" } })
      assert.are.same({ "docker.io/library/busybox:1" }, img.names)
    end)

    it("on set_names and add_name, and steals by the normalized name", function()
      create(st, { id = ID_A, names = { "busybox" } })
      create(st, { id = ID_B })
      succeeds(st:add_name(ID_B, "docker.io/library/busybox"))
      assert.are.same({}, st:get(ID_A).names)
      assert.are.same({ BUSYBOX }, st:get(ID_B).names)
      succeeds(st:set_names(ID_A, { "busybox", "alpine" }))
      assert.are.same({ BUSYBOX, "docker.io/library/alpine:latest" }, st:get(ID_A).names)
      assert.are.same({}, st:get(ID_B).names)
    end)

    it("on remove_name", function()
      create(st, { id = ID_A, names = { "busybox", "alpine" } })
      succeeds(st:remove_name(ID_A, "busybox:latest"))
      assert.are.same({ "docker.io/library/alpine:latest" }, st:get(ID_A).names)
      fails("ENOTFOUND", "image " .. ID_A .. ' has no name "' .. BUSYBOX .. '"',
        st:remove_name(ID_A, "busybox"))
    end)

    it("and refuses invalid ones with EINVAL, changing nothing", function()
      create(st, { id = ID_A, names = { "busybox" } })
      local before = helpers.tree_hash(dir)
      local msg = 'invalid reference "Busybox": repository name must be lowercase: '
        .. "'B' at position 1"
      fails("EINVAL", msg, st:create{ id = ID_B, names = { "Busybox" } })
      fails("EINVAL", msg, st:set_names(ID_A, { "ok", "Busybox" }))
      fails("EINVAL", msg, st:add_name(ID_A, "Busybox"))
      local ok, message, code = st:add_name(ID_A, "busybox:" .. string.rep("t", 129))
      assert.is_nil(ok)
      assert.are.equal("EINVAL", code)
      assert.matches("tag", message)
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.same({ BUSYBOX }, st:get(ID_A).names)
      assert.is_false(st:exists(ID_B))
    end)
  end)

  describe("takes a short name as a reference", function()
    before_each(function()
      create(st, { id = ID_A, names = { "busybox" } })
      create(st, { id = ID_B, names = { "quay.io/other/tool:1" } })
      succeeds(st:set_big_data(ID_A, "manifest", "M"))
    end)

    -- every method that takes a reference, called with "busybox"
    local cases = {
      { "exists", function(s) return s:exists("busybox") end, true },
      { "get", function(s) return s:get("busybox").id end, ID_A },
      { "lookup", function(s) return s:lookup("busybox") end, ID_A },
      { "metadata", function(s) assert(s:set_metadata(ID_A, "m")); return s:metadata("busybox") end, "m" },
      { "set_metadata", function(s) assert(s:set_metadata("busybox", "x")); return s:metadata(ID_A) end, "x" },
      { "big_data", function(s) return s:big_data("busybox", "manifest") end, "M" },
      { "big_data_size", function(s) return s:big_data_size("busybox", "manifest") end, 1 },
      { "big_data_digest", function(s) return s:big_data_digest("busybox", "manifest") end,
        helpers.sha256_of("M") },
      { "big_data_names", function(s) return s:big_data_names("busybox")[1] end, "manifest" },
      { "set_big_data", function(s) assert(s:set_big_data("busybox", "k", "v")); return s:big_data(ID_A, "k") end, "v" },
      { "set_loaded_time", function(s) assert(s:set_loaded_time("busybox", 0)); return s:get(ID_A).loaded end,
        "1970-01-01T00:00:00.000000000Z" },
      { "set_size", function(s) assert(s:set_size("busybox", 7)); return s:get(ID_A).size end, 7 },
      { "add_name", function(s) assert(s:add_name("busybox", "extra")); return s:get(ID_A).names[2] end,
        "docker.io/library/extra:latest" },
      { "set_names", function(s) assert(s:set_names("busybox", { "renamed" })); return s:get(ID_A).names[1] end,
        "docker.io/library/renamed:latest" },
      { "remove_name", function(s) assert(s:remove_name("busybox", "busybox")); return #s:get(ID_A).names end, 0 },
      { "delete", function(s) assert(s:delete("busybox")); return s:exists(ID_A) end, false },
      { "lookup of a tag", function(s) return s:lookup("other/tool:1") end, nil },
      { "lookup of repo@digest", function(s)
          return s:lookup("busybox@" .. helpers.sha256_of("M")) end, ID_A },
      { "lookup of the full name", function(s) return s:lookup("docker.io/library/busybox") end, ID_A },
      { "lookup of an ID prefix", function(s) return s:lookup("bbbb") end, ID_B },
      { "lookup of the full ID", function(s) return s:lookup(ID_B) end, ID_B },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        assert.are.same(case[3], (case[2](st)))
      end)
    end

    it("and a name not stored is ENOTFOUND under the name given", function()
      fails("ENOTFOUND", 'image not found: "alpine"', st:get("alpine"))
      fails("ENOTFOUND", 'image not found: "Not A Name"', st:get("Not A Name"))
    end)
  end)

  describe("with unqualified-search registries", function()
    before_each(function()
      st:close()
      st = assert(imagestore.open(dir, { naming = naming.policy{
        search_registries = { "registry.example.com", "docker.io" } } }))
    end)

    it("finds a short name in whichever registry holds it", function()
      create(st, { id = ID_A, names = { "registry.example.com/tools:1" } })
      create(st, { id = ID_B, names = { "docker.io/library/busybox" } })
      assert.are.equal(ID_A, st:lookup("tools:1"))
      assert.are.equal(ID_B, st:lookup("busybox"))
    end)

    it("is EAMBIGUOUS when several hold it, and lists them", function()
      create(st, { id = ID_A, names = { "registry.example.com/busybox" } })
      create(st, { id = ID_B, names = { "docker.io/library/busybox" } })
      fails("EAMBIGUOUS", 'image reference "busybox" is ambiguous: matches '
        .. "registry.example.com/busybox:latest (image aaaaaaaaaaaa), "
        .. "docker.io/library/busybox:latest (image bbbbbbbbbbbb)", st:get("busybox"))
      assert.are.equal(ID_B, st:lookup("docker.io/busybox"))
    end)

    it("is not ambiguous when both names are one image's", function()
      create(st, { id = ID_A, names = { "registry.example.com/busybox", "docker.io/library/busybox" } })
      assert.are.equal(ID_A, st:lookup("busybox"))
    end)
  end)

  describe("with short-name aliases", function()
    it("looks up and stores an alias's target", function()
      st:close()
      st = assert(imagestore.open(dir, { naming = naming.policy{
        aliases = { tools = "registry.example.com/team/tools" } } }))
      local img = create(st, { id = ID_A, names = { "tools:2" } })
      assert.are.same({ "registry.example.com/team/tools:2" }, img.names)
      assert.are.equal(ID_A, st:lookup("tools:2"))
    end)

    it("from a registries.conf file", function()
      local conf = root .. "/registries.conf"
      helpers.write_file(conf, 'unqualified-search-registries = ["quay.io"]\n\n[aliases]\n'
        .. '"tools" = "registry.example.com/team/tools"\n')
      st:close()
      st = assert(imagestore.open(dir, { naming = naming.policy{ registries_conf = conf } }))
      create(st, { id = ID_A, names = { "registry.example.com/team/tools:2" } })
      create(st, { id = ID_B, names = { "quay.io/busybox" } })
      assert.are.equal(ID_A, st:lookup("tools:2"))
      assert.are.equal(ID_B, st:lookup("busybox"))
    end)
  end)

  describe("on iSulad's store", function()
    it("finds iSulad's images by their short names under iSulad's default registry", function()
      if st then st:close() end
      st = assert(imagestore.open(helpers.copy_fixture("isulad/overlay-images"), {
        naming = naming.policy{ default_registry = "imagehub.isulad.com", library = false } }))
      assert.are.equal("e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b",
        st:lookup("official/busybox"))
      assert.are.equal("39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10",
        st:lookup("official/centos:latest"))
      assert.are.equal("e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b",
        st:lookup("e4db68de4ff27"))
    end)

    it("stores docker.io names the way iSulad does with strip_default_host", function()
      st:close()
      st = assert(imagestore.open(dir, { naming = naming.policy{ strip_default_host = true } }))
      local img = create(st, { id = ID_A, names = { "docker.io/library/busybox" } })
      assert.are.same({ "busybox:latest" }, img.names)
      assert.are.equal(ID_A, st:lookup("busybox"))
      assert.are.equal(ID_A, st:lookup("docker.io/library/busybox:latest"))
    end)
  end)

  describe("without a policy", function()
    it("compares names as plain strings", function()
      st:close()
      st = assert(imagestore.open(dir))
      local img = create(st, { id = ID_A, names = { "busybox", "Not A Name" } })
      assert.are.same({ "busybox", "Not A Name" }, img.names)
      create(st, { id = ID_B, names = { BUSYBOX } })
      assert.are.equal(ID_A, st:lookup("busybox"))
      assert.are.equal(ID_B, st:lookup(BUSYBOX))
      fails("ENOTFOUND", 'image not found: "busybox:latest"', st:get("busybox:latest"))
    end)
  end)

  describe("misuse", function()
    it("raises for a naming option that is not a policy", function()
      assert.has_error(function() imagestore.open(dir, { naming = {} }) end,
        "bad option 'naming' (imagestore.naming.policy expected, got table)")
    end)
  end)
end)
