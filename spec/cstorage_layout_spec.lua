-- containers/storage's image store layout (Podman, CRI-O, Buildah), read
-- only: one <dir>/images.json for every record, <dir>/<id>/ holding the big
-- data, <dir>/images.lock for the lock and the last-writer token. On the
-- store Podman wrote (spec/fixtures/containers-storage, see its README):
-- every image as `podman image inspect` shows it, every lookup, refusals of
-- writes, the lock protocol (reload only on a new token, wait for a writer's
-- fcntl lock), and hostile files. The fixture is always copied first.
--
-- The writer that holds the lock is perl (perl-base is essential on Debian):
-- fcntl(F_SETLKW) with a struct flock packed for 64-bit Linux.

local helpers = require("spec.helpers")
local fails, succeeds = helpers.fails, helpers.succeeds
local imagestore = require("imagestore")
local q = helpers.shell_quote

local FIXTURE = "containers-storage/vfs-images"
local HELLO = "7d6555ccc8763045ecdf38dcc36070ae51aa9adf0965fb13c1017805a23b0caf" -- images.json[0]
local TOOLS = "70e6b2b80b73b8271aa5c7ed90f72747cf853d6b3b9edd4880a055c8d249af37" -- images.json[1]
local A = string.rep("a", 64)
local B = string.rep("b", 64)

local function inspect()
  return helpers.read_json(helpers.fixture_path("containers-storage/podman-inspect.json"))
end

local function open_ro(dir)
  return assert(imagestore.open(dir, { readonly = true }))
end

-- A new last-writer token, as a containers/storage writer leaves it (64 bytes).
local function touch_token(dir, byte)
  helpers.write_file(dir .. "/images.lock", string.rep(byte or "t", 64))
end

local function problems_text(list)
  local out = {}
  for _, p in ipairs(list) do out[#out + 1] = p.kind .. " " .. p.path .. ": " .. p.problem end
  table.sort(out)
  return out
end

local function ids_of(st)
  return helpers.ids(assert(st:images()))
end

describe("a containers/storage image store", function()
  after_each(helpers.cleanup)

  it("opens read-only, and every image is what podman image inspect says", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local st <close> = open_ro(dir)
    local want = inspect()
    local want_ids = {}
    for i, e in ipairs(want) do want_ids[i] = e.Id end
    table.sort(want_ids)
    assert.are.same(want_ids, ids_of(st))
    for _, e in ipairs(want) do
      local img = assert(st:get(e.Id))
      assert.are.equal(e.Id, img.id)
      assert.are.equal(e.Digest, img.digest)
      assert.are.same(e.RepoTags, img.names)
      assert.are.same(e.NamesHistory, img.names_history)
      assert.are.equal(e.Created, img.created)
      assert.is_true(img.read_only)
      -- a one-layer image: its layer's ID is the layer's diff ID
      assert.are.equal(e.RootFS.Layers[#e.RootFS.Layers], "sha256:" .. img.layer)
      assert.are.same({ e.Digest }, img.digests)

      -- the config is the image ID's content, and says what inspect says
      local config = assert(st:big_data(e.Id, "sha256:" .. e.Id))
      assert.are.equal("sha256:" .. e.Id, helpers.sha256_of(config))
      local cfg = require("dkjson").decode(config)
      assert.are.same(e.Config, cfg.config)
      assert.are.equal(e.Architecture, cfg.architecture)
      assert.are.equal(e.Os, cfg.os)
      -- the manifest is the image digest's content, and names the config and layer
      local manifest = assert(st:big_data(e.Id, "manifest"))
      assert.are.equal(e.Digest, helpers.sha256_of(manifest))
      local m = require("dkjson").decode(manifest)
      assert.are.equal("sha256:" .. e.Id, m.config.digest)
      assert.are.equal(e.RootFS.Layers[#e.RootFS.Layers], m.layers[#m.layers].digest)

      -- every big-data item: the bytes of its file, its size and digest
      local keys = assert(st:big_data_names(e.Id))
      assert.are.equal(4, #keys)
      for _, key in ipairs(keys) do
        local data = assert(st:big_data(e.Id, key))
        local file = dir .. "/" .. e.Id .. "/" .. helpers.big_data_file_name(key)
        assert.are.equal(helpers.read_file(file), data)
        assert.are.equal(#data, st:big_data_size(e.Id, key))
        assert.are.equal(#data, img.big_data_sizes[key])
        assert.are.equal(helpers.file_sha256(file), st:big_data_digest(e.Id, key))
      end

      -- every way to name it
      for _, name in ipairs(e.RepoTags) do assert.are.equal(e.Id, st:lookup(name)) end
      for _, ref in ipairs(e.RepoDigests) do assert.are.equal(e.Id, st:lookup(ref)) end
      assert.are.equal(e.Id, st:lookup(e.Id:sub(1, 12)))
      assert.are.equal(e.Id, st:lookup(e.Id))
      assert.is_true(st:exists(e.Id:sub(1, 4)))
      local by = assert(st:by_digest(e.Digest))
      assert.are.equal(1, #by)
      assert.are.equal(e.Id, by[1].id)
      assert.matches("^{\"signatures%-sizes\":", assert(st:metadata(e.Id)))
    end
    fails("ENOTFOUND", 'image not found: "docker.io/library/hello:1.0"', st:get("docker.io/library/hello:1.0"))
    fails("ENOTFOUND", "image " .. TOOLS .. ' has no big-data item "config"', st:big_data(TOOLS, "config"))
    assert.are.same({}, st:problems())
    assert.are.same({}, st:check())
    assert.is_true(st:generation() ~= 0)
  end)

  it("refuses a writable open with ELAYOUT, and says to open it readonly", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local before = helpers.tree_hash(dir)
    local message = dir .. " holds images.json at its top: that is the containers/storage "
      .. "(Podman, CRI-O, Buildah) layout, not an iSulad image store; open it readonly to read "
      .. "it (it is left as it is)"
    fails("ELAYOUT", message, imagestore.open(dir))
    fails("ELAYOUT", message, imagestore.open(dir, { daemon = true }))
    assert.are.equal(before, helpers.tree_hash(dir))
  end)

  it("refuses every change with EREADONLY", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local before = helpers.tree_hash(dir)
    local st <close> = open_ro(dir)
    local function refused(op, ...)
      fails("EREADONLY", "store is read-only: cannot " .. op, ...)
    end
    refused("create", st:create{ names = { "x:1" } })
    refused("set_names", st:set_names(HELLO, { "x:1" }))
    refused("add_name", st:add_name(HELLO, "x:1"))
    refused("remove_name", st:remove_name(HELLO, "localhost/hello:latest"))
    refused("delete", st:delete(HELLO))
    refused("wipe", st:wipe())
    refused("save", st:save())
    refused("set_loaded_time", st:set_loaded_time(HELLO, 5))
    refused("set_metadata", st:set_metadata(HELLO, "{}"))
    refused("set_size", st:set_size(HELLO, 5))
    refused("set_big_data", st:set_big_data(HELLO, "manifest", "x"))
    refused("batch", st:batch(function() error("never runs") end))
    local ok, msg, code = st:repair()
    assert.is_nil(ok)
    assert.are.equal("store is read-only: cannot repair", msg)
    assert.are.equal("EREADONLY", code)
    assert.are.same({ TOOLS, HELLO }, ids_of(st))
    assert.are.equal(before, helpers.tree_hash(dir))
  end)

  it("changes nothing on disk by being read: names, sizes, contents, mtimes", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local before = helpers.tree_hash(dir)
    local st = open_ro(dir)
    for _, img in ipairs(st:images()) do
      for _, key in ipairs(st:big_data_names(img.id)) do
        assert(st:big_data(img.id, key))
        assert(st:big_data_digest(img.id, key))
      end
      assert(st:get(img.names[1]))
    end
    assert(st:problems())
    assert(st:check())
    succeeds(st:load())
    st:close()
    assert.are.equal(before, helpers.tree_hash(dir))
  end)

  it("reloads images.json when the last-writer token changes, and only then", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local st <close> = open_ro(dir)
    local g = st:generation()
    -- a write that did not take the lock: not seen
    helpers.write_file(dir .. "/images.json", '[{"id":"' .. A .. '","names":["new:1"]}]')
    assert.are.same({ TOOLS, HELLO }, ids_of(st))
    fails("ENOTFOUND", 'image not found: "new:1"', st:lookup("new:1"))
    assert.are.equal(g, st:generation())
    -- the writer's token: seen at the next call
    touch_token(dir, "1")
    assert.are.equal(A, st:lookup("new:1"))
    assert.are.same({ A }, ids_of(st))
    local g1 = st:generation()
    assert.are_not.equal(g, g1)
    -- the same token again: nothing re-read
    helpers.write_file(dir .. "/images.json", "[]")
    assert.are.same({ A }, ids_of(st))
    -- a shorter token (an empty lock file is "no writes yet") is a change too
    helpers.write_file(dir .. "/images.lock", "")
    assert.are.same({}, ids_of(st))
    -- load() re-reads whatever the token says
    helpers.write_file(dir .. "/images.json", '[{"id":"' .. B .. '"}]')
    assert.are.same({}, ids_of(st))
    succeeds(st:load())
    assert.are.same({ B }, ids_of(st))
  end)

  it("waits for a writer that holds images.lock's fcntl lock, then sees its write", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local st <close> = open_ro(dir)
    local next_json = helpers.tmpdir() .. "/next.json"
    helpers.write_file(next_json, '[{"id":"' .. A .. '","names":["written:1"]}]')
    local script = helpers.tmpdir() .. "/writer.pl"
    helpers.write_file(script, [[
use strict; use Fcntl;
my ($lock, $next, $json, $hold) = @ARGV;
open(my $fh, "+<", $lock) or die "open $lock: $!";
my $lk = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0);
fcntl($fh, F_SETLKW, $lk) or die "fcntl: $!";
$| = 1;
print "locked\n";
select(undef, undef, undef, $hold);
rename($next, $json) or die "rename: $!";
sysseek($fh, 0, 0);
syswrite($fh, "w" x 64) == 64 or die "write: $!";
close($fh);
]])
    local p = assert(io.popen("timeout 20 perl " .. q(script) .. " " .. q(dir .. "/images.lock") .. " "
      .. q(next_json) .. " " .. q(dir .. "/images.json") .. " 1.0 2>&1", "r"))
    assert.are.equal("locked", p:read("l"))
    local monotime = require("system").monotime
    local t0 = monotime()
    -- without the wait this would see the old images, before the rename
    assert.are.equal(A, st:lookup("written:1"))
    local waited = monotime() - t0
    assert.are.equal("", p:read("a"))
    assert.is_true((p:close()))
    assert.is_true(waited > 0.5, "the read did not wait: " .. waited .. " s")
    assert.are.same({ A }, ids_of(st))
  end)

  it("without images.lock: opens without creating it, and sees the first writer", function()
    local dir = helpers.copy_fixture(FIXTURE)
    os.remove(dir .. "/images.lock")
    local before = helpers.tree_hash(dir)
    local st <close> = open_ro(dir)
    assert.are.same({ TOOLS, HELLO }, ids_of(st))
    assert.are.equal(0, st:generation())
    assert.are.same({}, st:problems())
    assert.are.equal(before, helpers.tree_hash(dir))
    assert.is_false(helpers.exists(dir .. "/images.lock"))
    -- a writer creates the lock file and writes
    helpers.write_file(dir .. "/images.json", '[{"id":"' .. A .. '"}]')
    touch_token(dir)
    assert.are.same({ A }, ids_of(st))
    assert.are_not.equal(0, st:generation())
  end)

  it("refuses an images.lock that is a FIFO or a symlink (ECORRUPT), and follows neither", function()
    local dir = helpers.copy_fixture(FIXTURE)
    os.remove(dir .. "/images.lock")
    helpers.execute("mkfifo " .. q(dir .. "/images.lock"))
    fails("ECORRUPT", "lock file " .. dir .. "/images.lock is not a regular file (a FIFO)",
      imagestore.open(dir, { readonly = true }))
    os.remove(dir .. "/images.lock")
    local outside = helpers.tmpdir() .. "/lock"
    helpers.write_file(outside, string.rep("o", 64))
    helpers.execute("ln -s " .. q(outside) .. " " .. q(dir .. "/images.lock"))
    fails("ECORRUPT", "lock file " .. dir .. "/images.lock is not a regular file (a symbolic link)",
      imagestore.open(dir, { readonly = true }))
  end)

  it("check() finds damaged, missing and unrecorded big data, and directories without a record", function()
    local dir = helpers.copy_fixture(FIXTURE)
    local manifest = dir .. "/" .. HELLO .. "/manifest"
    helpers.write_file(manifest, "short")
    os.remove(dir .. "/" .. TOOLS .. "/manifest")
    helpers.write_file(dir .. "/" .. TOOLS .. "/stray", "x")
    helpers.mkdir(dir .. "/" .. A)
    local before = helpers.tree_hash(dir)
    local st <close> = open_ro(dir)
    assert.are.same({
      "big-data-missing " .. dir .. "/" .. TOOLS .. '/manifest: big-data item "manifest" is missing: its file manifest is not there',
      "big-data-size " .. manifest .. ': big-data item "manifest" is 5 bytes; the record says 341',
      "no-record " .. dir .. "/" .. A .. ": image directory " .. A .. " has no record in images.json",
      "orphan-file " .. dir .. "/" .. TOOLS .. "/stray: file stray is in no record",
    }, problems_text(assert(st:check())))
    assert.are.same({}, st:problems())
    assert.are.equal(before, helpers.tree_hash(dir))
  end)
end)

describe("a hostile containers/storage images.json", function()
  after_each(helpers.cleanup)

  local dir, outside

  before_each(function()
    dir = helpers.copy_fixture(FIXTURE)
    outside = helpers.tmpdir()
  end)

  -- Opens dir read-only: the IDs, and problems() as text; check() finds the
  -- same, and the directories of dropped images (`unrecorded`) too. Nothing
  -- on disk changes.
  local function opened(...)
    local before = helpers.tree_hash(dir)
    local st <close> = open_ro(dir)
    local ids, problems = ids_of(st), problems_text(assert(st:problems()))
    local found = {}
    for _, p in ipairs(problems) do found[#found + 1] = p end
    for _, id in ipairs({ ... }) do
      found[#found + 1] = "no-record " .. dir .. "/" .. id .. ": image directory " .. id
        .. " has no record in images.json"
    end
    table.sort(found)
    assert.are.same(found, problems_text(assert(st:check())))
    assert.are.equal(before, helpers.tree_hash(dir))
    return ids, problems
  end

  local function whole(kind, text)
    return { kind .. " " .. dir .. "/images.json: " .. text }
  end

  local UNLOADABLE = "; containers/storage cannot load it either, and no image is loaded"

  it("truncated: one problem, no image", function()
    local text = helpers.read_file(dir .. "/images.json")
    helpers.write_file(dir .. "/images.json", text:sub(1, #text // 2))
    local ids, problems = opened(TOOLS, HELLO)
    assert.are.same({}, ids)
    assert.are.same(whole("unparseable", "not JSON: parse error: premature EOF" .. UNLOADABLE), problems)
  end)

  it("zero-filled: one problem, no image", function()
    local size = #helpers.read_file(dir .. "/images.json")
    helpers.write_file(dir .. "/images.json", string.rep("\0", size))
    local ids, problems = opened(TOOLS, HELLO)
    assert.are.same({}, ids)
    assert.are.same(whole("unparseable", "not JSON: contains a NUL byte" .. UNLOADABLE), problems)
  end)

  it("empty: no image and no problem, as for containers/storage", function()
    helpers.write_file(dir .. "/images.json", "")
    local ids, problems = opened(TOOLS, HELLO)
    assert.are.same({}, ids)
    assert.are.same({}, problems)
  end)

  it("a symlink: not followed", function()
    helpers.execute("mv " .. q(dir .. "/images.json") .. " " .. q(outside .. "/images.json"))
    helpers.execute("ln -s " .. q(outside .. "/images.json") .. " " .. q(dir .. "/images.json"))
    local ids, problems = opened(TOOLS, HELLO)
    assert.are.same({}, ids)
    assert.are.same(whole("no-record", "images.json is a symbolic link, not a file; no image is loaded"), problems)
  end)

  it("a FIFO: never waited on", function()
    os.remove(dir .. "/images.json")
    helpers.execute("mkfifo " .. q(dir .. "/images.json"))
    local ids, problems = opened(TOOLS, HELLO)
    assert.are.same({}, ids)
    assert.are.same(whole("no-record", "images.json is a FIFO, not a file; no image is loaded"), problems)
  end)

  it("not an array", function()
    helpers.write_file(dir .. "/images.json", '{"id":"' .. A .. '"}')
    local ids, problems = opened(TOOLS, HELLO)
    assert.are.same({}, ids)
    assert.are.same(whole("unparseable", "not a JSON array" .. UNLOADABLE), problems)
  end)

  it("elements that are not objects cost only themselves", function()
    local text = helpers.read_file(dir .. "/images.json")
    helpers.write_file(dir .. "/images.json", "[5," .. text:sub(2, -2) .. ',"x",[1]]')
    local ids, problems = opened()
    assert.are.same({ TOOLS, HELLO }, ids)
    assert.are.same({
      "unparseable " .. dir .. "/images.json: images.json[0]: not a JSON object",
      "unparseable " .. dir .. "/images.json: images.json[3]: not a JSON object",
      "unparseable " .. dir .. "/images.json: images.json[4]: not a JSON object",
    }, problems)
  end)

  it("invalid UTF-8 costs only its element", function()
    local text = helpers.read_file(dir .. "/images.json")
    helpers.write_file(dir .. "/images.json", text:gsub('"localhost/hello:latest"', '"localhost/hel\xfflo"', 1))
    local ids, problems = opened(HELLO)
    assert.are.same({ TOOLS }, ids)
    assert.are.same(whole("unparseable", "images.json[0]: a string is not valid UTF-8"), problems)
  end)

  it("a bad digest costs only its element, as the record says", function()
    local text = helpers.read_file(dir .. "/images.json")
    helpers.write_file(dir .. "/images.json", (text:gsub('"digest":"sha256:aff55b08', '"digest":"sha256:Xff55b08', 1)))
    local ids, problems = opened(TOOLS)
    assert.are.same({ HELLO }, ids)
    assert.are.same(whole("unparseable", "images.json[1] (image " .. TOOLS .. '): "digest" is not a valid digest: '
      .. "sha256:Xff55b086042d24f18b3104400e75e4e9839ecb9bd2a58f22093bd7c74ee2bff"), problems)
  end)

  it("duplicate names: the last image keeps the name", function()
    local text = helpers.read_file(dir .. "/images.json")
    helpers.write_file(dir .. "/images.json", (text:gsub('"quay.io/acme/tools:2.3"%]', '"quay.io/acme/tools:2.3","localhost/hello:latest"]', 1)))
    local ids, problems = opened()
    assert.are.same({ TOOLS, HELLO }, ids)
    assert.are.same(whole("duplicate-name", 'images.json[0]: name "localhost/hello:latest" of image ' .. HELLO
      .. " is also held by image " .. TOOLS .. " (images.json[1]), which keeps it, as containers/storage "
      .. "gives a name to the last image holding it"), problems)
    local st <close> = open_ro(dir)
    assert.are.equal(TOOLS, st:lookup("localhost/hello:latest"))
    assert.are.same({ "example.com/demo/hello:1.0" }, st:get(HELLO).names)
  end)

  it("duplicate IDs: the last record is loaded", function()
    local text = helpers.read_file(dir .. "/images.json")
    local again = assert(text:match('^%[({"id":"' .. HELLO .. '".-}),{"id":"'))
    again = again:gsub('"names":%[[^%]]*%]', '"names":["again:1"]', 1)
    helpers.write_file(dir .. "/images.json", text:sub(1, -2) .. "," .. again .. "]")
    local ids, problems = opened()
    assert.are.same({ TOOLS, HELLO }, ids)
    assert.are.same(whole("duplicate-id", "images.json[0]: image " .. HELLO
      .. " is there again as images.json[2], which is the one loaded"), problems)
    local st <close> = open_ro(dir)
    assert.are.same({ "again:1" }, st:get(HELLO).names)
    assert.are.equal(HELLO, st:lookup("again:1"))
    fails("ENOTFOUND", 'image not found: "localhost/hello:latest"', st:lookup("localhost/hello:latest"))
  end)

  it("a big-data file or an image directory that is a symlink is not followed out of the store", function()
    local secret = outside .. "/secret"
    helpers.write_file(secret, "secret bytes")
    local file = dir .. "/" .. HELLO .. "/manifest"
    os.remove(file)
    helpers.execute("ln -s " .. q(secret) .. " " .. q(file))
    helpers.execute("mv " .. q(dir .. "/" .. TOOLS) .. " " .. q(outside .. "/tools"))
    helpers.execute("ln -s " .. q(outside .. "/tools") .. " " .. q(dir .. "/" .. TOOLS))
    local before = helpers.tree_hash(dir)
    local st <close> = open_ro(dir)
    fails("ELOOP", "open " .. file .. ": Too many levels of symbolic links", st:big_data(HELLO, "manifest"))
    fails("ELOOP", "open " .. dir .. "/" .. TOOLS .. "/manifest: Too many levels of symbolic links",
      st:big_data(TOOLS, "manifest"))
    assert.are.same({
      "not-a-directory " .. dir .. "/" .. TOOLS .. ": an image's place is taken by a symbolic link, not a directory",
      "not-a-file " .. file .. ": manifest is a symbolic link, not a file",
    }, problems_text(assert(st:check())))
    assert.are.equal(before, helpers.tree_hash(dir))
  end)
end)
