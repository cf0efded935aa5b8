-- imagestore.tar: reading tar archives through libarchive, for imports.
-- Hostile archives are written byte by byte (ustar headers, spec/helpers.lua),
-- so that no tool's sanitizing gets in the way.

local helpers = require("spec.helpers")
local fails = helpers.fails
local tar = require("imagestore.tar")
local sha256 = require("imagestore").sha256

local FIXTURES = os.getenv("IMAGESTORE_FIXTURES") or "spec/fixtures"

local raised = helpers.raised

local header, archive = helpers.tar_header, helpers.tar_archive

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

-- Every entry of the archive at path: a list of entries, then the failure
-- that stopped the listing (nil, or {message, code}).
local function list(path)
  local r <close> = assert(tar.open(path))
  local entries = {}
  while true do
    local e, msg, code = r:next()
    if e == nil then return entries, msg and { msg, code } end
    entries[#entries + 1] = e
  end
end

describe("imagestore.tar", function()
  local dir

  before_each(function() dir = helpers.tmpdir() end)
  after_each(helpers.cleanup)

  it("lists a docker-archive made by podman save, links included", function()
    local entries, failure = list(FIXTURES .. "/docker-archive-hello-1.0.tar")
    assert.is_nil(failure)
    local by_path = {}
    for _, e in ipairs(entries) do by_path[e.path] = e end
    assert.are.same({ path = "manifest.json", type = "file", size = 208 }, by_path["manifest.json"])
    assert.are.same({ path = "repositories", type = "file", size = 101 }, by_path["repositories"])
    local link = "6563e1676c378ad66fb490da5cf3c11e822a87a84e963c23c23c03b1230a0835/layer.tar"
    assert.are.same({ path = link, type = "symlink", size = 0,
                      link = "../a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a.tar" },
                    by_path[link])
    assert.are.equal(7, #entries)
  end)

  it("reads an entry's bytes whole, and in chunks", function()
    local r <close> = assert(tar.open(FIXTURES .. "/docker-archive-hello-1.0.tar"))
    local config = "7d6555ccc8763045ecdf38dcc36070ae51aa9adf0965fb13c1017805a23b0caf.json"
    for e in r.next, r do
      if e.path == config then
        local bytes = assert(tar.read_all(r, e, 4096))
        assert.are.equal(455, #bytes)
        -- an image's ID is its config's digest
        assert.are.equal("sha256:" .. config:sub(1, 64), sha256(bytes))
      elseif e.path:match("^a50ee.*%.tar$") then
        local n, chunk = 0, nil
        repeat
          chunk = assert(r:read(1000))
          n = n + #chunk
          assert.is_true(#chunk <= 1000)
        until chunk == ""
        assert.are.equal(10240, n)
      end
    end
  end)

  it("refuses an entry above the caller's limit, before reading it", function()
    local r <close> = assert(tar.open(FIXTURES .. "/docker-archive-hello-1.0.tar"))
    for e in r.next, r do
      if e.path == "manifest.json" then
        fails("ELIMIT", "manifest.json is 208 bytes, above the limit of 100 bytes", tar.read_all(r, e, 100))
        return
      end
    end
    error("no manifest.json")
  end)

  it("reports a header that claims 8 GB, and the archive that ends instead", function()
    local huge = ("%011o\0"):format(8 * 1024 * 1024 * 1024 - 1)
    local path = write(dir .. "/bomb.tar", header("layer.tar", 0, "0", nil, huge) .. string.rep("x", 4096))
    local r <close> = assert(tar.open(path))
    local e = assert(r:next())
    assert.are.equal(8589934591, e.size)
    fails("ELIMIT", "layer.tar is 8589934591 bytes, above the limit of 67108864 bytes",
          tar.read_all(r, e, 64 << 20))
    local chunk, msg, code
    repeat chunk, msg, code = r:read(65536) until chunk == nil or chunk == ""
    assert.is_nil(chunk)
    assert.are.equal("EINVAL", code)
    assert.matches("^" .. path:gsub("%p", "%%%0") .. ": reading an entry: ", msg)
  end)

  local ESCAPES = {
    { "an absolute path", { "/etc/passwd", "x" },
      'entry "/etc/passwd": an absolute path or one with ".." would leave the archive' },
    { "a parent path", { "../evil", "x" },
      'entry "../evil": an absolute path or one with ".." would leave the archive' },
    { "a parent path in the middle", { "a/../../evil", "x" },
      'entry "a/../../evil": an absolute path or one with ".." would leave the archive' },
    { "a symbolic link out", { "a/link", nil, "2", "../../etc/passwd" },
      'entry "a/link": a symbolic link to "../../etc/passwd", outside the archive' },
    { "an absolute symbolic link", { "link", nil, "2", "/etc/passwd" },
      'entry "link": a symbolic link to "/etc/passwd", outside the archive' },
    { "a hard link out", { "link", nil, "1", "../secret" },
      'entry "link": a hard link to "../secret", outside the archive' },
  }
  for _, case in ipairs(ESCAPES) do
    it("refuses " .. case[1] .. ", naming the entry", function()
      local path = write(dir .. "/t.tar", archive({ { "ok.json", "{}" }, case[2] }))
      local entries, failure = list(path)
      assert.are.equal(1, #entries)
      assert.are.same({ path .. ": " .. case[3], "EINVAL" }, failure)
    end)
  end

  it("accepts links that stay inside, as docker-archives have (a path may not hold '..' at all)", function()
    local path = write(dir .. "/t.tar", archive({
      { "blob.tar", "data" },
      { "layer/layer.tar", nil, "2", "../blob.tar" },
      { "./x//y", nil, "2", "../blob.tar" },
      { "hard", nil, "1", "blob.tar" },
      { "dir/", nil, "5" },
    }))
    local entries, failure = list(path)
    assert.is_nil(failure)
    assert.are.same({ "file", "symlink", "symlink", "hardlink", "directory" },
                    { entries[1].type, entries[2].type, entries[3].type, entries[4].type, entries[5].type })
  end)

  it("reports a truncated archive as EINVAL", function()
    local whole = archive({ { "a.json", string.rep("a", 3000) }, { "b.json", "{}" } })
    local path = write(dir .. "/cut.tar", whole:sub(1, 1500))
    local r <close> = assert(tar.open(path))
    local e = assert(r:next())
    local _, msg, code = tar.read_all(r, e, 1 << 20)
    assert.are.equal("EINVAL", code)
    assert.matches("reading an entry: ", msg, 1, true)
    fails("EINVAL", path .. ": cannot go on after an earlier error", r:next())
  end)

  it("refuses bytes that are no tar at open", function()
    local path = write(dir .. "/junk.tar", string.rep("not a tar archive\n", 100))
    fails("EINVAL", path .. ": not a tar archive (Unrecognized archive format)", tar.open(path))
  end)

  it("opens only regular files: a FIFO or a directory is refused without hanging", function()
    local fifo = dir .. "/fifo"
    assert.are.equal(0, select(3, os.execute("mkfifo " .. fifo)))
    fails("EINVAL", fifo .. ": not a regular file", tar.open(fifo))
    fails("EINVAL", dir .. ": not a regular file", tar.open(dir))
    fails("ENOTFOUND", dir .. "/missing.tar: No such file or directory", tar.open(dir .. "/missing.tar"))
    fails("EINVAL", "invalid tar path: contains a NUL byte", tar.open(dir .. "/a\0b"))
  end)

  it("closes with <close>, close() and __gc, and refuses use after close", function()
    local r = assert(tar.open(FIXTURES .. "/docker-archive-hello-1.0.tar"))
    r:close()
    r:close()
    assert.are.equal("attempt to use a closed tar reader", raised(r.next, r))
    assert.matches("%(closed%)$", tostring(r))
    for _ = 1, 50 do tar.open(FIXTURES .. "/docker-archive-hello-1.0.tar") end
    collectgarbage()
    collectgarbage()
  end)

  it("raises for wrong arguments", function()
    assert.are.equal("bad argument #1 to 'open' (string expected, got nil)", raised(tar.open, nil))
    local r <close> = assert(tar.open(FIXTURES .. "/docker-archive-hello-1.0.tar"))
    assert.are.equal("read() before next() gave an entry", raised(r.read, r, 10))
    local e = assert(r:next())
    assert.are.equal("bad argument #1 to 'read' (byte count must be positive)",
                     raised(function() return r:read(0) end))
    assert.are.equal("bad argument #3 (limit must be a non-negative integer)", raised(tar.read_all, r, e, 1.5))
    assert.are.equal("bad argument #2 (entry expected, got nil)", raised(tar.read_all, r, nil, 10))
  end)
end)
