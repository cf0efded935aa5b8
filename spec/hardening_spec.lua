-- Hostile disks, one finding at a time (issue 9): symlinks below the store,
-- read errors that are not content errors, another tool's layout, records
-- edited in place or beyond our limits, stray entries in an image, and the
-- smaller API edges. Each case failed before its fix.

local helpers = require("spec.helpers")
local fails, succeeds, create = helpers.fails, helpers.succeeds, helpers.create
local imagestore = require("imagestore")
local q = helpers.shell_quote

local ID_A = string.rep("a", 64)
local ID_B = string.rep("b", 64)
local ID_C = string.rep("c", 64)

local function close_quietly(st)
  if st then pcall(st.close, st) end
end

local function kinds_of(list)
  local out = {}
  for _, p in ipairs(list) do out[#out + 1] = p.kind end
  table.sort(out)
  return out
end

local function find_kind(list, kind)
  for _, p in ipairs(list) do
    if p.kind == kind then return p end
  end
end

-- Runs a Lua chunk in another interpreter under timeout(1): returns its
-- exit status (124: timed out) and its output.
local function run_child(seconds, code, ...)
  local script = helpers.tmpdir() .. "/child.lua"
  helpers.write_file(script, code)
  local args = { "timeout", tostring(seconds), os.getenv("IMAGESTORE_LUA") or "lua5.4", q(script) }
  for _, a in ipairs({ ... }) do args[#args + 1] = q(tostring(a)) end
  local p = assert(io.popen(table.concat(args, " ") .. " 2>&1", "r"))
  local out = p:read("a")
  local _, _, status = p:close()
  return status, out
end

describe("hardening", function()
  local root, dir, outside

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    outside = root .. "/outside"
    helpers.mkdir(outside)
    helpers.write_file(outside .. "/victim", "outside the store\n")
  end)

  after_each(helpers.cleanup)

  describe(".quarantine", function()
    it("that is a symlink is never followed by a daemon open", function()
      local st = assert(imagestore.open(dir))
      create(st, { id = ID_A, names = { "a:1" } })
      st:close()
      helpers.mkdir(dir .. "/" .. ID_B) -- an image directory without a record
      helpers.execute("ln -s " .. q(outside) .. " " .. q(dir .. "/.quarantine"))
      local before = helpers.tree_hash(outside)
      st = assert(imagestore.open(dir, { daemon = true }))
      local p = find_kind(st:problems(), "no-record")
      assert.are.equal(dir .. "/" .. ID_B .. "/images.json", p.path)
      assert.are.equal("image directory " .. ID_B .. " has no images.json; not moved: "
        .. dir .. "/.quarantine is not a directory; move it away so that upkeep can quarantine",
        p.problem)
      assert.is_true(helpers.is_dir(dir .. "/" .. ID_B))
      assert.are.equal(before, helpers.tree_hash(outside))
      local found = find_kind(assert(st:check()), "not-a-directory")
      assert.are.equal(dir .. "/.quarantine", found.path)
      assert.are.equal("a:1", st:get(ID_A).names[1])
      st:close()
    end)

    it("whose image entry is a symlink is never written through by repair()", function()
      local st = assert(imagestore.open(dir))
      create(st, { id = ID_A, names = { "a:1" } })
      helpers.write_file(dir .. "/" .. ID_A .. "/Stray File", "planted")
      helpers.mkdir(dir .. "/.quarantine")
      helpers.execute("ln -s " .. q(outside) .. " " .. q(dir .. "/.quarantine/" .. ID_A))
      local before = helpers.tree_hash(outside)
      local ok, msg, code, acts = st:repair()
      assert.is_nil(ok)
      assert.are.equal("ECORRUPT", code)
      assert.are.equal(dir .. "/.quarantine/" .. ID_A .. " is not a directory", msg)
      assert.are.same({}, acts)
      assert.are.equal(before, helpers.tree_hash(outside))
      assert.are.equal("planted", helpers.read_file(dir .. "/" .. ID_A .. "/Stray File"))
      st:close()
    end)
  end)

  describe("invalid UTF-8", function()
    local st
    before_each(function()
      st = assert(imagestore.open(dir))
      create(st, { id = ID_A, names = { "a:1" } })
    end)
    after_each(function() close_quietly(st) end)

    it("is refused in names, metadata, layers and keys, and nothing is written", function()
      local before = helpers.tree_hash(dir)
      fails("EINVAL", 'invalid name "caf\\xe9:latest": not valid UTF-8',
        st:create({ names = { "caf\233:latest" } }))
      fails("EINVAL", 'invalid name "caf\\xe9:latest": not valid UTF-8',
        st:add_name(ID_A, "caf\233:latest"))
      fails("EINVAL", 'invalid name "\\xff": not valid UTF-8', st:set_names(ID_A, { "ok", "\255" }))
      fails("EINVAL", "invalid metadata: not valid UTF-8", st:set_metadata(ID_A, "{\"a\":\"\192\128\"}"))
      fails("EINVAL", "invalid metadata: not valid UTF-8", st:create({ metadata = "\237\160\128" }))
      fails("EINVAL", "invalid layer: not valid UTF-8", st:create({ layer = "l\200" }))
      fails("EINVAL", 'invalid big-data key "k\\xff": not valid UTF-8', st:set_big_data(ID_A, "k\255", "x"))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("is kept when it is what was accepted: UTF-8 text and binary big data read back", function()
      succeeds(st:add_name(ID_A, "café:latest"))
      succeeds(st:set_metadata(ID_A, "ünïcödé ☃"))
      succeeds(st:set_big_data(ID_A, "ключ", "\233\0\255"))
      st:close()
      st = assert(imagestore.open(dir, { daemon = true }))
      assert.are.same({}, st:problems())
      assert.are.equal(ID_A, st:lookup("café:latest"))
      assert.are.equal("ünïcödé ☃", st:metadata(ID_A))
      assert.are.equal("\233\0\255", st:big_data(ID_A, "ключ"))
    end)
  end)

  describe("names with control characters", function()
    it("are refused, and messages show them escaped", function()
      local st <close> = assert(imagestore.open(dir))
      fails("EINVAL", 'invalid name "a\\nb": holds a control character', st:create({ names = { "a\nb" } }))
      fails("EINVAL", 'invalid name "\\x1b[31mred": holds a control character',
        st:create({ names = { "\27[31mred" } }))
      fails("EINVAL", 'invalid name "tab\\there": holds a control character',
        st:create({ names = { "tab\there" } }))
      fails("ENOTFOUND", 'image not found: "\\x1b]0;x\\x07"', st:get("\27]0;x\7"))
    end)
  end)

  describe("another tool's layout", function()
    it("a containers/storage images directory is refused for writing, and left alone", function()
      helpers.mkdir(dir)
      helpers.mkdir(dir .. "/" .. ID_A)
      helpers.write_file(dir .. "/" .. ID_A .. "/manifest", "{}")
      helpers.write_file(dir .. "/images.json", '[{"id":"' .. ID_A .. '","names":["a:1"]}]')
      helpers.write_file(dir .. "/images.lock", "")
      local before = helpers.tree_hash(dir)
      local message = dir .. " holds images.json at its top: that is the containers/storage "
        .. "(Podman, CRI-O, Buildah) layout, not an iSulad image store; open it readonly to "
        .. "read it (it is left as it is)"
      for _, opts in ipairs({ {}, { daemon = true } }) do
        fails("ELAYOUT", message, imagestore.open(dir, opts))
      end
      local ro <close> = assert(imagestore.open(dir, { readonly = true })) -- cstorage_layout_spec
      assert.are.equal(ID_A, ro:lookup("a:1"))
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("appearing later makes load() fail and keep the old state", function()
      local st <close> = assert(imagestore.open(dir))
      create(st, { id = ID_A, names = { "a:1" } })
      helpers.write_file(dir .. "/images.json", "[]")
      local ok, msg, code = st:load()
      assert.is_nil(ok)
      assert.are.equal("ELAYOUT", code)
      assert.truthy(msg:find("containers/storage", 1, true))
      assert.are.equal(ID_A, st:lookup("a:1"))
    end)
  end)

  describe("the store directory replaced", function()
    it("load() takes the new directory's lock file too", function()
      local a = assert(imagestore.open(dir))
      create(a, { id = ID_A, names = { "a:1" } })
      helpers.execute("mv " .. q(dir) .. " " .. q(dir .. ".old") .. " && cp -a "
        .. q(dir .. ".old") .. " " .. q(dir))
      succeeds(a:load())
      local b = assert(imagestore.open(dir))
      succeeds(b:add_name(ID_A, "b:1"))
      succeeds(a:set_size(ID_A, 5)) -- must see b's name first, not write it away
      b:close()
      a:close()
      local st <close> = assert(imagestore.open(dir))
      assert.are.same({ "a:1", "b:1" }, helpers.sorted(st:get(ID_A).names))
      assert.are.equal(5, st:get(ID_A).size)
    end)
  end)

  describe("a read-only store opened before any writer", function()
    it("notices the lock file a writer makes later, and follows its changes", function()
      local w = assert(imagestore.open(dir))
      create(w, { id = ID_A, names = { "a:1" } })
      w:close()
      assert(os.remove(dir .. "/.imagestore.lock"))
      local ro <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(ID_A, ro:lookup("a:1"))
      assert.is_false(helpers.exists(dir .. "/.imagestore.lock"))
      w = assert(imagestore.open(dir))
      succeeds(w:add_name(ID_A, "a:2"))
      assert.are.equal(ID_A, ro:lookup("a:2"))
      succeeds(w:add_name(ID_A, "a:3"))
      assert.are.equal(ID_A, ro:lookup("a:3"))
      w:close()
    end)
  end)

  describe("a record edited in place", function()
    it("is read again by load(), a read-only open and check(), not taken from the snapshot", function()
      local st = assert(imagestore.open(dir))
      local ids = {}
      for i = 1, 70 do ids[i] = create(st, { names = { "img:" .. i } }).id end
      st:close() -- leaves a snapshot that vouches for all 70
      assert.is_true(helpers.is_file(dir .. "/.imagestore.snapshot"))
      st = assert(imagestore.open(dir))
      local path = dir .. "/" .. ids[7] .. "/images.json"
      local json = helpers.read_json(path)
      json.names = { "img:7", "edited:in-place" }
      local f = assert(io.open(path, "r+")) -- same inode, same directory stamp
      f:write(helpers.encode_json(json))
      f:close()
      local ro <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.equal(ids[7], ro:lookup("edited:in-place"))
      succeeds(st:load())
      assert.are.equal(ids[7], st:lookup("edited:in-place"))
      assert.are.same({}, st:check())
      st:close()
    end)
  end)

  describe("entries that are not files inside an image", function()
    local st
    before_each(function()
      st = assert(imagestore.open(dir))
      create(st, { id = ID_A, names = { "a:1" } })
      succeeds(st:set_big_data(ID_A, "manifest", "{}"))
      local d = dir .. "/" .. ID_A
      helpers.execute("ln -s " .. q(outside .. "/victim") .. " " .. q(d .. "/link"))
      helpers.execute("mkfifo " .. q(d .. "/pipe"))
      helpers.mkdir(d .. "/subdir")
      helpers.write_file(d .. "/subdir/inside", "x")
    end)
    after_each(function() close_quietly(st) end)

    it("are reported by check() and moved aside by repair(), which says so", function()
      local found = st:check()
      assert.are.same({ "not-a-file", "not-a-file", "not-a-file" }, kinds_of(found))
      local before = helpers.tree_hash(outside)
      local acts = assert(st:repair())
      assert.are.same({ "quarantined", "quarantined", "quarantined" }, kinds_of(acts))
      assert.are.equal(before, helpers.tree_hash(outside))
      assert.are.same({}, st:check())
      assert.is_true(helpers.is_dir(dir .. "/.quarantine/" .. ID_A .. "/subdir"))
      assert.are.equal("x", helpers.read_file(dir .. "/.quarantine/" .. ID_A .. "/subdir/inside"))
      succeeds(st:set_size(ID_A, 9))
      assert.are.equal("{}", st:big_data(ID_A, "manifest"))
    end)

    it("a symlink or FIFO does not stop a write; a subdirectory is named in the error", function()
      helpers.rm_rf(dir .. "/" .. ID_A .. "/subdir")
      succeeds(st:set_size(ID_A, 3))
      assert.are.equal("symbolic link", helpers.run("stat -c %F " .. q(dir .. "/" .. ID_A .. "/link")):match("symbolic link"))
      helpers.mkdir(dir .. "/" .. ID_A .. "/subdir")
      local ok, msg, code = st:set_size(ID_A, 4)
      assert.is_nil(ok)
      assert.are.equal("ECORRUPT", code)
      assert.are.equal("image directory " .. dir .. "/" .. ID_A .. " holds subdirectory subdir, "
        .. "which is not the store's: repair() moves it to .quarantine", msg)
      assert.are.equal(3, st:get(ID_A).size)
    end)
  end)

  describe("a recorded big-data file replaced", function()
    it("by a FIFO is an error when read, never empty data", function()
      local st <close> = assert(imagestore.open(dir))
      create(st, { id = ID_A })
      succeeds(st:set_big_data(ID_A, "manifest", "{\"schemaVersion\":2}"))
      local file = dir .. "/" .. ID_A .. "/manifest"
      os.remove(file)
      helpers.execute("mkfifo " .. q(file))
      local data, msg, code = st:big_data(ID_A, "manifest")
      assert.is_nil(data)
      assert.are.equal("EINVAL", code)
      assert.are.equal("read " .. file .. ": not a regular file (a FIFO)", msg)
    end)

    it("removed by someone else gives ENOTFOUND, naming what is gone", function()
      local st <close> = assert(imagestore.open(dir))
      create(st, { id = ID_A })
      succeeds(st:set_big_data(ID_A, "manifest", "{}"))
      os.remove(dir .. "/" .. ID_A .. "/manifest")
      fails("ENOTFOUND", "image " .. ID_A .. ' has no file for big-data item "manifest" (removed from disk)',
        st:big_data(ID_A, "manifest"))
      helpers.rm_rf(dir .. "/" .. ID_A)
      fails("ENOTFOUND", "image not found: " .. ID_A .. " (deleted by another process)",
        st:big_data(ID_A, "manifest"))
    end)
  end)

  describe("records this library cannot hold", function()
    local function nested(depth, inner)
      return string.rep("[", depth) .. (inner or "") .. string.rep("]", depth)
    end

    it("a valid record nested 200 deep opens, and saves back equal", function()
      helpers.mkdir(dir)
      helpers.mkdir(dir .. "/" .. ID_A)
      local json = '{"id":"' .. ID_A .. '","names":["deep:1"],"x-deep":' .. nested(200, "1") .. "}"
      helpers.write_file(dir .. "/" .. ID_A .. "/images.json", json)
      local st <close> = assert(imagestore.open(dir, { daemon = true }))
      assert.are.same({}, st:problems())
      succeeds(st:set_size(ID_A, 1))
      local back = helpers.read_file(dir .. "/" .. ID_A .. "/images.json")
      assert.truthy(back:find('"x-deep":' .. nested(200, "1"), 1, true))
    end)

    it("deeper than 1000 levels, or holding \\u0000, is reported as unsupported and never moved", function()
      helpers.mkdir(dir)
      helpers.mkdir(dir .. "/" .. ID_A)
      helpers.mkdir(dir .. "/" .. ID_B)
      helpers.write_file(dir .. "/" .. ID_A .. "/images.json",
        '{"id":"' .. ID_A .. '","x-deep":' .. nested(1001) .. "}")
      helpers.write_file(dir .. "/" .. ID_B .. "/images.json",
        '{"id":"' .. ID_B .. '","metadata":"a\\u0000b"}')
      local before = helpers.tree_hash(dir)
      local st = assert(imagestore.open(dir, { daemon = true }))
      local problems = st:problems()
      assert.are.same({ "unsupported", "unsupported" }, kinds_of(problems))
      assert.are.equal("nested deeper than 1000 levels", problems[1].problem)
      assert.are.equal("a string holds \\u0000, which this library cannot keep", problems[2].problem)
      assert.are.same({ "unsupported", "unsupported" }, kinds_of(st:check()))
      assert.are.same({}, assert(st:repair()))
      succeeds(st:save())
      st:close()
      assert.is_true(helpers.is_file(dir .. "/" .. ID_A .. "/images.json"))
      assert.is_true(helpers.is_file(dir .. "/" .. ID_B .. "/images.json"))
      assert.falsy(helpers.exists(dir .. "/.quarantine/" .. ID_A))
      assert.truthy(helpers.read_file(dir .. "/" .. ID_B .. "/images.json"):find("a\\u0000b", 1, true))
      local _ = before
    end)

    it("0.8 MB of nesting does not crash any open mode or check() (timeout)", function()
      helpers.mkdir(dir)
      helpers.mkdir(dir .. "/" .. ID_A)
      helpers.write_file(dir .. "/" .. ID_A .. "/images.json", nested(400000))
      local status, out = run_child(120, [[
        local imagestore = require("imagestore")
        local dir = arg[1]
        for _, opts in ipairs({ { readonly = true }, {}, { daemon = true } }) do
          local st = assert(imagestore.open(dir, opts))
          local p = st:problems()[1]
          print(p.kind, p.problem)
          print(st:check()[1].kind)
          st:close()
        end
      ]], dir)
      assert.are.equal(0, status, out)
      assert.are.equal(("unsupported\tnested deeper than 1000 levels\nunsupported\n"):rep(3), out)
    end)

    it("a record with 200,000 names opens in linear time (timeout)", function()
      helpers.mkdir(dir)
      helpers.mkdir(dir .. "/" .. ID_A)
      local names = {}
      for i = 1, 200000 do names[i] = '"r/n:' .. i .. '"' end
      names[#names + 1] = '"r/n:1"' -- and a duplicate
      helpers.write_file(dir .. "/" .. ID_A .. "/images.json",
        '{"id":"' .. ID_A .. '","names":[' .. table.concat(names, ",") .. "]}")
      local status, out = run_child(60, [[
        local imagestore = require("imagestore")
        local st = assert(imagestore.open(arg[1]))
        local img = st:get("r/n:200000")
        print(#img.names)
        assert(st:add_name(img.id, "r/n:new"))
        assert(st:set_names(img.id, { "r/n:new", "r/n:1" }))
        print(#st:get(img.id).names)
        st:close()
      ]], dir)
      assert.are.equal(0, status, out)
      assert.are.equal("200000\n2\n", out)
    end)
  end)

  describe("a symlink in an image's place", function()
    it("is reported by open and check(), and moved (not followed) by repair()", function()
      helpers.mkdir(dir)
      helpers.execute("ln -s " .. q(outside) .. " " .. q(dir .. "/" .. ID_C))
      local before = helpers.tree_hash(outside)
      local st <close> = assert(imagestore.open(dir))
      local p = st:problems()[1]
      assert.are.same({ dir .. "/" .. ID_C, "not-a-directory",
        "an image's place is taken by a symbolic link, not a directory" }, { p.path, p.kind, p.problem })
      assert.are.same({ "not-a-directory" }, kinds_of(st:check()))
      fails("EEXIST", "image ID " .. ID_C .. " is already in use", st:create({ id = ID_C }))
      assert.are.same({ "quarantined" }, kinds_of(assert(st:repair())))
      assert.are.equal(before, helpers.tree_hash(outside))
      assert.are.equal(outside, helpers.run("readlink " .. q(dir .. "/.quarantine/" .. ID_C)):gsub("%s+$", ""))
      create(st, { id = ID_C })
    end)
  end)

  describe("smaller edges", function()
    it("created = 0 is the epoch, not now", function()
      local st <close> = assert(imagestore.open(dir))
      assert.are.equal("1970-01-01T00:00:00.000000000Z", create(st, { created = 0 }).created)
      assert.are.equal("1970-01-01T00:00:00.000000000Z", create(st, { created = "1970-01-01T00:00:00Z" }).created)
      assert.are_not.equal("1970-01-01T00:00:00.000000000Z", create(st, {}).created)
    end)

    it("inside a batch, delete then create of the same ID works as outside", function()
      local st <close> = assert(imagestore.open(dir))
      create(st, { id = ID_A, names = { "old:1" } })
      succeeds(st:set_big_data(ID_A, "manifest", "old"))
      succeeds(st:batch(function(b)
        assert(b:delete(ID_A))
        assert(b:create({ id = ID_A, names = { "new:1" } }))
        assert(b:set_big_data(ID_A, "config", "new"))
      end))
      st:close()
      local again <close> = assert(imagestore.open(dir))
      local img = again:get(ID_A)
      assert.are.same({ "new:1" }, img.names)
      assert.are.same({ "config" }, img.big_data_names)
      assert.are.same({ "config", "images.json" }, helpers.list_dir(dir .. "/" .. ID_A))
    end)

    it("argument errors name the method, also through pcall", function()
      local st <close> = assert(imagestore.open(dir))
      local ok, err = pcall(st.get, st, 5)
      assert.is_false(ok)
      assert.are.equal("bad argument #2 to 'get' (string expected, got number)", err)
      ok, err = pcall(st.set_size, st, ID_A, "x")
      assert.are.equal("bad argument #3 to 'set_size' (integer expected, got string)", err)
      ok, err = pcall(st.get, 5, "x")
      assert.are.equal("bad argument #1 to 'get' (imagestore.store expected, got number)", err)
    end)
  end)
end)
