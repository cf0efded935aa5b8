-- Keeping a store healthy: check() names damage without changing anything,
-- repair() fixes what it can without losing data, and a daemon's open
-- clears temp entries and quarantines image directories without a record.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local CENTOS = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10"
local BUSYBOX = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b"
local BUSYBOX_NAME = "imagehub.isulad.com/official/busybox:latest"
local CENTOS_CONFIG = "=" .. helpers.base64("sha256:" .. CENTOS)

local function kinds(list)
  local out = {}
  for _, p in ipairs(list) do out[#out + 1] = p.kind .. " " .. p.path end
  table.sort(out)
  return out
end

-- The sha256 of every data file below dir (big-data files, and anything
-- quarantined); records and the store's own files are left out, since
-- repair rewrites records. What "nothing was lost" is checked against.
local function contents(dir)
  local out = {}
  for _, p in ipairs(helpers.find_all(dir)) do
    local own = p:match("^%.imagestore%.") or (p:match("/images%.json$") and not p:match("^%.quarantine/"))
    if not own and helpers.is_file(dir .. "/" .. p) then
      out[#out + 1] = helpers.file_sha256(dir .. "/" .. p)
    end
  end
  table.sort(out)
  return out
end

describe("upkeep", function()
  local root, dir, st

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    helpers.copy_fixture("isulad/overlay-images", dir)
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  describe("check", function()
    it("reports the fixture's recorded size that its config file does not have, and changes nothing", function()
      st = assert(imagestore.open(dir))
      local before = helpers.tree_hash(dir)
      local found = st:check()
      assert.are.same({ "big-data-size " .. dir .. "/" .. CENTOS .. "/" .. CENTOS_CONFIG }, kinds(found))
      assert.are.equal('big-data item "sha256:' .. CENTOS .. '" is 2231 bytes; the record says 2235', found[1].problem)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("works on a read-only store", function()
      st = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(1, #st:check())
    end)
  end)

  describe("corruption", function()
    local damage = {
      ["a truncated images.json"] = function()
        local p = dir .. "/" .. BUSYBOX .. "/images.json"
        helpers.write_file(p, helpers.read_file(p):sub(1, 100))
        return "unparseable", dir .. "/" .. BUSYBOX .. "/images.json"
      end,
      ["an images.json full of NUL bytes"] = function()
        helpers.write_file(dir .. "/" .. BUSYBOX .. "/images.json", string.rep("\0", 860))
        return "unparseable", dir .. "/" .. BUSYBOX .. "/images.json"
      end,
      ["a record whose id points outside the store"] = function()
        local p = dir .. "/" .. BUSYBOX .. "/images.json"
        local json = helpers.read_file(p):gsub('"id":"' .. BUSYBOX .. '"', '"id":"../../../etc"')
        helpers.write_file(p, json)
        return "unparseable", p
      end,
      ["a record whose id is another image's"] = function()
        local p = dir .. "/" .. BUSYBOX .. "/images.json"
        helpers.write_file(p, (helpers.read_file(p):gsub('"id":"' .. BUSYBOX .. '"', '"id":"' .. CENTOS .. '"')))
        return "id-mismatch", p
      end,
      ["a deleted big-data file"] = function()
        os.remove(dir .. "/" .. BUSYBOX .. "/manifest")
        return "big-data-missing", dir .. "/" .. BUSYBOX .. "/manifest"
      end,
    }

    for what, harm in pairs(damage) do
      it("survives " .. what .. ": check names it, repair fixes it, nothing leaves the store", function()
        local kind, path = harm()
        st = assert(imagestore.open(dir))
        -- every other image is served
        assert.are.equal(CENTOS, st:lookup("imagehub.isulad.com/official/centos:latest"))
        assert.are.equal(741, #st:big_data(CENTOS, "manifest"))
        local found = kinds(st:check())
        assert.is_truthy(found[1] ~= nil)
        local named = false
        for _, f in ipairs(found) do named = named or f == kind .. " " .. path end
        assert.is_true(named, table.concat(found, "\n"))
        local stored = contents(dir)
        assert(st:repair())
        assert.are.same({}, st:check())
        -- no file left the store: every byte that was in it still is (quarantined or not)
        local after = contents(dir)
        local have = {}
        for _, h in ipairs(after) do have[h] = (have[h] or 0) + 1 end
        -- as many copies as before: a count of 0 is a lost copy, not one still there
        for _, h in ipairs(stored) do
          assert.is_true((have[h] or 0) > 0, "lost a file with sha256 " .. h)
          have[h] = have[h] - 1
        end
        assert.are.equal(CENTOS, st:lookup("imagehub.isulad.com/official/centos:latest"))
        st:close()
        st = assert(imagestore.open(dir))
        assert.are.same({}, st:problems())
        assert.are.same({}, st:check())
        assert.are.same({ "store" }, helpers.list_visible(root))
      end)
    end
  end)

  describe("repair", function()
    it("re-records actual sizes and digests, records stray big-data files, drops names held twice", function()
      st = assert(imagestore.open(dir))
      -- a stray file named as a big-data key would be
      helpers.write_file(dir .. "/" .. BUSYBOX .. "/" .. "=" .. helpers.base64("extra:key"), "extra bytes")
      -- a second record holding busybox's name (sorts after busybox: it loses)
      local id = "f" .. string.rep("0", 63)
      helpers.mkdir(dir .. "/" .. id)
      helpers.write_file(dir .. "/" .. id .. "/images.json", '{"id":"' .. id .. '","names":["' .. BUSYBOX_NAME .. '","other:1"]}')
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({
        "big-data-size " .. dir .. "/" .. CENTOS .. "/" .. CENTOS_CONFIG,
        "duplicate-name " .. dir .. "/" .. id .. "/images.json",
        "orphan-file " .. dir .. "/" .. BUSYBOX .. "/=" .. helpers.base64("extra:key"),
      }, kinds(st:check()))
      local did = kinds(assert(st:repair()))
      assert.are.same({
        "dropped-name " .. dir .. "/" .. id .. "/images.json",
        "re-recorded " .. dir .. "/" .. CENTOS .. "/" .. CENTOS_CONFIG,
        "recorded-file " .. dir .. "/" .. BUSYBOX .. "/=" .. helpers.base64("extra:key"),
      }, did)
      assert.are.same({}, st:check())
      assert.are.equal(2231, st:big_data_size(CENTOS, "sha256:" .. CENTOS))
      assert.are.equal("extra bytes", st:big_data(BUSYBOX, "extra:key"))
      assert.are.equal(imagestore.sha256("extra bytes"), st:big_data_digest(BUSYBOX, "extra:key"))
      assert.are.equal(BUSYBOX, st:lookup(BUSYBOX_NAME))
      assert.are.same({ "other:1" }, st:get(id).names)
      assert.are.same({ "other:1" }, helpers.read_json(dir .. "/" .. id .. "/images.json").names)
    end)

    it("is refused on a read-only store", function()
      st = assert(imagestore.open(dir, { readonly = true }))
      local ok, msg, code = st:repair()
      assert.is_nil(ok)
      assert.are.equal("store is read-only: cannot repair", msg)
      assert.are.equal("EREADONLY", code)
    end)
  end)

  describe("daemon open", function()
    local function litter()
      helpers.mkdir(dir .. "/.tmp-0011223344556677")
      helpers.write_file(dir .. "/.tmp-0011223344556677/images.json", "{}")
      helpers.write_file(dir .. "/.tmp-8899aabbccddeeff", "half a file")
      helpers.write_file(dir .. "/" .. BUSYBOX .. "/images.json", "{broken")
    end

    it("removes temp entries and quarantines directories without a valid record", function()
      litter()
      st = assert(imagestore.open(dir, { daemon = true }))
      assert.are.same({}, helpers.temp_leftovers(dir))
      assert.is_true(helpers.is_file(dir .. "/.quarantine/" .. BUSYBOX .. "/images.json"))
      assert.is_false(helpers.exists(dir .. "/" .. BUSYBOX))
      local problems = st:problems()
      assert.are.equal(1, #problems)
      assert.are.equal("unparseable", problems[1].kind)
      assert.is_truthy(problems[1].problem:find("moved to " .. dir .. "/.quarantine/" .. BUSYBOX, 1, true))
      assert.are.equal(CENTOS, st:lookup("imagehub.isulad.com/official/centos:latest"))
    end)

    it("is not what a plain open does: that changes nothing", function()
      litter()
      local before = helpers.tree_hash(dir)
      st = assert(imagestore.open(dir))
      st:close()
      st = nil
      -- the lock file is the one thing open may add
      os.remove(dir .. "/.imagestore.lock")
      assert.are.equal(before, helpers.tree_hash(dir))
    end)
  end)
end)
