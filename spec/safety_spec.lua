-- Hostile input: IDs and big-data keys that would escape the store or clash
-- with its files, and tampered images.json records. Nothing outside the store
-- may be created, nothing may change on a rejected call, and bad records are
-- reported, never deleted.

local helpers = require("spec.helpers")
local fails, succeeds, create = helpers.fails, helpers.succeeds, helpers.create
local imagestore = require("imagestore")

local function close_quietly(st)
  if st then pcall(st.close, st) end
end

local function bad_id_message(id)
  return 'invalid image ID "' .. id .. '": want 64 lowercase hex characters'
end

local function bad_key_message(key, reason)
  return 'invalid big-data key "' .. key .. '": ' .. reason
end

-- A printable key (no quote or backslash, so %q is plain) whose big-data file
-- name, "=" .. base64(key), would contain '/'. Found by search, not assumed.
local function key_with_slash()
  for a = 33, 126 do
    for b = 33, 126 do
      for c = 33, 126 do
        local key = string.char(a, b, c)
        if not key:find('["\\]') and helpers.big_data_file_name(key):find("/", 1, true) then
          return key
        end
      end
    end
  end
  error("no key found")
end

describe("safety", function()
  local root, dir, st

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    st = assert(imagestore.open(dir))
  end)

  after_each(function()
    close_quietly(st)
    st = nil
    helpers.cleanup()
  end)

  describe("image IDs", function()
    local bad_ids = {
      "../x",
      "/etc",
      "..",
      ".",
      string.rep("a", 63),
      string.rep("a", 65),
      string.rep("A", 64),
      string.rep("a", 63) .. "g",
      string.rep("a", 61) .. "/..",
      "../" .. string.rep("a", 61),
      string.rep("a", 32) .. "/" .. string.rep("a", 31),
      " " .. string.rep("a", 63),
    }

    for _, id in ipairs(bad_ids) do
      it(string.format("rejects %q at create with EINVAL and creates nothing", id), function()
        local before = helpers.tree_hash(root)
        fails("EINVAL", bad_id_message(id), st:create{ id = id, names = { "n" } })
        assert.are.same({}, st:images())
        assert.is_false(st:exists("n"))
        assert.are.equal(before, helpers.tree_hash(root))
        assert.is_false(helpers.exists(root .. "/x"))
      end)
    end

    it("treats traversal references as unknown images without touching the disk", function()
      local id = create(st, { names = { "n" } }).id
      helpers.mkdir(root .. "/outside")
      helpers.write_file(root .. "/outside/images.json", '{"id":"' .. id .. '"}')
      local before = helpers.tree_hash(root)
      for _, ref in ipairs({ "../outside", "/etc", "../" .. id, "./" .. id }) do
        fails("ENOTFOUND", 'image not found: "' .. ref .. '"', st:get(ref))
        fails("ENOTFOUND", 'image not found: "' .. ref .. '"', st:delete(ref))
        fails("ENOTFOUND", 'image not found: "' .. ref .. '"', st:set_metadata(ref, "x"))
        assert.is_false(st:exists(ref))
      end
      assert.are.equal(before, helpers.tree_hash(root))
    end)
  end)

  describe("big-data keys", function()
    local id

    before_each(function()
      id = create(st, { names = { "n" } }).id
      succeeds(st:set_big_data(id, "manifest", "m"))
    end)

    local function rejects(key, reason)
      local before = helpers.tree_hash(root)
      local img = st:get(id)
      fails("EINVAL", bad_key_message(key, reason), st:set_big_data(id, key, "payload"))
      assert.are.equal(before, helpers.tree_hash(root))
      assert.are.same(img, st:get(id))
      assert.are.same({ "manifest" }, st:big_data_names(id))
      assert.are.equal("m", st:big_data(id, "manifest"))
      local rec = helpers.read_json(dir .. "/" .. id .. "/images.json")
      assert.are.same({ "manifest" }, rec["big-data-names"])
    end

    it("rejects the empty key", function()
      rejects("", "empty")
    end)

    it("rejects '.'", function()
      rejects(".", "reserved name")
    end)

    it("rejects '..'", function()
      rejects("..", "reserved name")
    end)

    it("rejects 'images.json'", function()
      rejects("images.json", "reserved name")
    end)

    it("rejects a key whose encoded file name would contain '/'", function()
      local key = key_with_slash()
      assert.is_truthy(helpers.big_data_file_name(key):find("/", 1, true))
      rejects(key, "file name would contain '/'")
      -- and the obvious one: "???" is "=Pz8/"
      assert.are.equal("=Pz8/", helpers.big_data_file_name("???"))
      rejects("???", "file name would contain '/'")
    end)

    it("rejects a verbatim key longer than 255 bytes", function()
      rejects(string.rep("a", 256), "file name longer than 255 bytes")
    end)

    it("rejects a key whose encoded file name is longer than 255 bytes", function()
      local key = string.rep("A", 190) -- "=" .. 256 characters of base64
      assert.are.equal(257, #helpers.big_data_file_name(key))
      rejects(key, "file name longer than 255 bytes")
    end)

    it("accepts keys just under the length limits", function()
      local verbatim = string.rep("a", 255)
      local encoded = string.rep("A", 189) -- "=" .. 252 characters
      assert.are.equal(253, #helpers.big_data_file_name(encoded))
      succeeds(st:set_big_data(id, verbatim, "v"))
      succeeds(st:set_big_data(id, encoded, "e"))
      assert.are.equal("v", helpers.read_file(dir .. "/" .. id .. "/" .. verbatim))
      assert.are.equal("e", helpers.read_file(dir .. "/" .. id .. "/" .. helpers.big_data_file_name(encoded)))
      assert.are.equal("v", st:big_data(id, verbatim))
      assert.are.equal("e", st:big_data(id, encoded))
    end)

    it("stores keys with '/' and '..' inside the image directory", function()
      local before = helpers.find_all(root)
      local keys = { "../../escape", "/etc/passwd", "a/../../b", "../images.json" }
      for _, key in ipairs(keys) do
        succeeds(st:set_big_data(id, key, "inside"))
        assert.are.equal("inside", helpers.read_file(dir .. "/" .. id .. "/" .. helpers.big_data_file_name(key)))
      end
      local after = helpers.find_all(root)
      -- the only new paths are the encoded files in the image directory
      local old = {}
      for _, p in ipairs(before) do old[p] = true end
      local new = {}
      for _, p in ipairs(after) do
        if not old[p] then new[#new + 1] = p end
      end
      local want = {}
      for _, key in ipairs(keys) do
        want[#want + 1] = "store/" .. id .. "/" .. helpers.big_data_file_name(key)
      end
      table.sort(want)
      assert.are.same(want, new)
      assert.are.equal("m", st:big_data(id, "manifest"))
      assert.are.equal(id, helpers.read_json(dir .. "/" .. id .. "/images.json").id)
    end)

    it("never reads a reserved key's file", function()
      for _, key in ipairs({ "..", ".", "images.json" }) do
        local data, msg, code = st:big_data(id, key)
        assert.is_nil(data)
        assert.is_string(msg)
        assert.is_truthy(code == "EINVAL" or code == "ENOTFOUND", "code " .. tostring(code))
      end
    end)
  end)

  describe("tampered images.json", function()
    local good1, good2

    -- Writes a record by hand into <dir>/<dirname>/images.json.
    local function plant(dirname, text)
      helpers.mkdir(dir .. "/" .. dirname)
      local path = dir .. "/" .. dirname .. "/images.json"
      helpers.write_file(path, text)
      return path
    end

    before_each(function()
      good1 = create(st, { names = { "good:1" } }).id
      good2 = create(st, { names = { "good:2" } }).id
      succeeds(st:set_big_data(good2, "manifest", "M"))
      st:close()
    end)

    local function record(id, extra)
      return '{"id":"' .. id .. '","names":["bad:1"],"created":"2020-01-01T00:00:00.000000000Z"' .. (extra or "") .. "}"
    end

    local cases = {
      { "an id pointing outside", function(dirid) return record("../../etc") end },
      { "an id that is not its directory's name", function() return record(helpers.random_id()) end },
      { "truncated JSON", function(dirid) return record(dirid):sub(1, 30) end },
      { "NUL bytes", function(dirid) return '{"id":"' .. dirid .. '",\0"names":["bad:1"]}' end },
      { "a JSON array", function(dirid) return '["' .. dirid .. '"]' end },
      { "a JSON string", function(dirid) return '"' .. dirid .. '"' end },
      { "names that are not strings", function(dirid) return '{"id":"' .. dirid .. '","names":[1,{"a":2}]}' end },
      { "an empty file", function() return "" end },
      { "an id that is a number", function() return '{"id":12,"names":["bad:1"]}' end },
    }

    for _, case in ipairs(cases) do
      it("with " .. case[1] .. " is skipped, listed in problems() and kept", function()
        local bad = helpers.random_id()
        local text = case[2](bad)
        local path = plant(bad, text)
        local bad_hash = helpers.tree_hash(dir .. "/" .. bad)

        st = assert(imagestore.open(dir))
        assert.are.same(helpers.sorted({ good1, good2 }), helpers.ids(st:images()))
        assert.are.equal(good1, st:lookup("good:1"))
        assert.are.equal("M", st:big_data("good:2", "manifest"))
        assert.is_false(st:exists(bad))
        assert.is_false(st:exists("bad:1"))

        local problems = st:problems()
        assert.are.equal(1, #problems)
        assert.are.equal(path, problems[1].path)
        assert.is_string(problems[1].problem)
        assert.is_true(#problems[1].problem > 0)

        -- mutations, save and load leave the bad record alone
        succeeds(st:set_metadata(good1, "touched"))
        create(st, { names = { "bad:1" } })
        succeeds(st:save())
        succeeds(st:load())
        assert.are.equal(1, #st:problems())
        assert.are.equal(text, helpers.read_file(path))
        assert.are.equal(bad_hash, helpers.tree_hash(dir .. "/" .. bad))
        st:close()

        -- nothing was created outside the store
        assert.is_false(helpers.exists(root .. "/etc"))
        assert.are.same({ "store" }, helpers.list_dir(root))
      end)
    end

    it("a readonly open lists problems too and changes nothing", function()
      local bad = helpers.random_id()
      local path = plant(bad, "{")
      local before = helpers.tree_hash(dir)
      st = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(2, #st:images())
      local problems = st:problems()
      assert.are.equal(1, #problems)
      assert.are.equal(path, problems[1].path)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("lists every bad record", function()
      local b1, b2 = helpers.random_id(), helpers.random_id()
      local p1 = plant(b1, "[")
      local p2 = plant(b2, "null")
      st = assert(imagestore.open(dir))
      local paths = {}
      for _, p in ipairs(st:problems()) do paths[#paths + 1] = p.path end
      assert.are.same(helpers.sorted({ p1, p2 }), helpers.sorted(paths))
      assert.are.equal(2, #st:images())
    end)

    it("gives a duplicate name to the directory that sorts first, in memory only", function()
      local first = "0000" .. helpers.random_id():sub(5)
      local last = "ffff" .. helpers.random_id():sub(5)
      local p_last = plant(last, '{"id":"' .. last .. '","names":["dup:1","own:1"]}')
      plant(first, '{"id":"' .. first .. '","names":["dup:1"]}')
      local before = helpers.tree_hash(dir)
      st = assert(imagestore.open(dir))
      assert.are.equal(first, st:lookup("dup:1"))
      assert.are.same({ "dup:1" }, st:get(first).names)
      assert.are.same({ "own:1" }, st:get(last).names)
      local problems = st:problems()
      assert.are.equal(1, #problems)
      assert.are.equal(p_last, problems[1].path)
      assert.is_true(#problems[1].problem > 0)
      assert.are.equal(before, helpers.tree_hash(dir))
      assert.are.equal(4, #st:images())
    end)
  end)

  describe("unknown record keys", function()
    it("are preserved as JSON values when the record is rewritten", function()
      local id = helpers.random_id()
      helpers.mkdir(dir .. "/" .. id)
      local path = dir .. "/" .. id .. "/images.json"
      local text = '{"id":"' .. id .. '","names":["x:1"],"metadata":"{}",'
        .. '"x-custom":{"a":[1,2.5,{"b":null}],"t":true,"f":false,"s":"caf\\u00e9 \\"q\\""},'
        .. '"zzz":"str","num":1.5e3,"neg":-7,"nul":null,"arr":[],"obj":{},'
        .. '"created":"2020-01-01T00:00:00.000000000Z",'
        .. '"flags":{"b":true,"n":12,"s":"v","z":null,"o":{"k":[1,"two"]}}}'
      helpers.write_file(path, text)
      local original = helpers.read_json(path)
      st:close()
      st = assert(imagestore.open(dir))
      assert.are.same({}, st:problems())
      local flags = st:get(id).flags
      assert.are.equal(true, flags.b)
      assert.are.equal(12, flags.n)
      assert.are.equal("v", flags.s)
      succeeds(st:set_metadata(id, "new"))
      local rewritten = helpers.read_json(path)
      for _, key in ipairs({ "x-custom", "zzz", "num", "neg", "nul", "arr", "obj", "flags" }) do
        assert.are.same(original[key], rewritten[key], "key " .. key)
      end
      assert.are.equal("new", rewritten.metadata)
      assert.are.same({ "x:1" }, rewritten.names)
      assert.are.equal("2020-01-01T00:00:00.000000000Z", rewritten.created)
      assert.is_truthy(rewritten.nul == require("dkjson").null, "null kept as null")
      -- survive a second rewrite too
      succeeds(st:save())
      local again = helpers.read_json(path)
      for _, key in ipairs({ "x-custom", "zzz", "num", "neg", "nul", "arr", "obj", "flags" }) do
        assert.are.same(original[key], again[key], "key " .. key)
      end
    end)
  end)
end)
