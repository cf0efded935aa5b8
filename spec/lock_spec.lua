-- The lock file (.imagestore.lock) in every state someone else can leave it
-- in: truncated, zero-filled, a FIFO, a symlink; and two stores of one
-- thread on one directory, which must fail at once (EDEADLK), never hang.
-- Whatever could hang or crash runs in a child interpreter under
-- timeout(1), so that it fails instead of taking busted down.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local q = helpers.shell_quote

-- Runs `code` in another interpreter with arg[1] = dir; its output and
-- whether it exited 0 (a signal, or the timeout, is a failure).
local function child(dir, code)
  local script = helpers.tmpdir() .. "/child.lua"
  helpers.write_file(script, 'local imagestore = require("imagestore")\nlocal dir = arg[1]\n'
    .. 'io.stdout:setvbuf("line")\n' .. code .. '\n')
  local lua = os.getenv("IMAGESTORE_LUA") or "lua5.4"
  local p = assert(io.popen("timeout 20 " .. lua .. " " .. q(script) .. " " .. q(dir) .. " 2>&1", "r"))
  local out = p:read("a")
  local ok, how, status = p:close()
  return ok == true, out, how, status
end

local function assert_child(dir, code)
  local ok, out, how, status = child(dir, code)
  assert(ok, ("child failed (%s %s): %s"):format(tostring(how), tostring(status), out))
  return out
end

describe("lock file", function()
  local root, dir

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    local st <close> = assert(imagestore.open(dir))
    assert(st:create{ names = { "first:1" } })
  end)

  after_each(helpers.cleanup)

  it("truncated by io.open(..., 'w') crashes no open store, and a writer repairs it", function()
    local out = assert_child(dir, [[
      local st = assert(imagestore.open(dir))
      local other = assert(imagestore.open(dir))
      local ro = assert(imagestore.open(dir, { readonly = true }))
      assert(io.open(dir .. "/.imagestore.lock", "w")):close()
      assert(#st:images() == 1 and ro:exists("first:1") and other:exists("first:1"))
      local img = assert(other:create{ names = { "after:1" } })
      assert(st:lookup("after:1") == img.id, "the other store's write is not seen")
      assert(ro:lookup("after:1") == img.id, "the read-only store does not see the write")
      local f = assert(io.open(dir .. "/.imagestore.lock", "rb"))
      local head = f:read(8)
      local size = f:seek("end")
      f:close()
      assert(head == "imgstlk1" and size >= 64 + 1024 * 72, "not re-stamped")
      print("fine")
    ]])
    assert.matches("fine", out)
  end)

  it("zero-filled by a crash: two writers opened on it still see each other", function()
    local path = dir .. "/.imagestore.lock"
    local f = assert(io.open(path, "rb"))
    local size = f:seek("end")
    f:close()
    f = assert(io.open(path, "wb"))
    f:write(string.rep("\0", size))
    f:close()
    local a <close> = assert(imagestore.open(dir))
    local b <close> = assert(imagestore.open(dir))
    local id = assert(a:lookup("first:1"))
    assert(a:add_name(id, "from-a:1"))
    assert(b:add_name(id, "from-b:1"))
    local fresh <close> = assert(imagestore.open(dir))
    local names = fresh:get(id).names
    assert.is_truthy(table.concat(names, " "):find("from-a:1", 1, true))
    assert.is_truthy(table.concat(names, " "):find("from-b:1", 1, true))
  end)

  it("zero-filled, opened read-only: the store says it cannot follow changes", function()
    local path = dir .. "/.imagestore.lock"
    local f = assert(io.open(path, "r+b"))
    f:write(string.rep("\0", 64))
    f:close()
    local ro <close> = assert(imagestore.open(dir, { readonly = true }))
    local found
    for _, p in ipairs(ro:problems()) do
      if p.kind == "lock-file" then found = p end
    end
    assert.is_truthy(found, "no lock-file problem listed")
    assert.are.equal(path, found.path)
  end)

  it("a FIFO there fails both opens at once with ECORRUPT", function()
    os.remove(dir .. "/.imagestore.lock")
    helpers.execute("mkfifo " .. q(dir .. "/.imagestore.lock"))
    local out = assert_child(dir, [[
      for _, ro in ipairs({ true, false }) do
        local st, msg, code = imagestore.open(dir, { readonly = ro })
        print(tostring(st) .. "|" .. tostring(msg) .. "|" .. tostring(code))
      end
    ]])
    local want = "nil|lock file " .. dir .. "/.imagestore.lock is not a regular file (a FIFO)|ECORRUPT"
    assert.are.same({ want, want }, { out:match("([^\n]+)\n([^\n]+)") })
  end)

  it("a symlink there is refused, and its target left alone", function()
    local target = root .. "/elsewhere"
    helpers.write_file(target, "")
    os.remove(dir .. "/.imagestore.lock")
    helpers.execute("ln -s " .. q(target) .. " " .. q(dir .. "/.imagestore.lock"))
    local st, msg, code = imagestore.open(dir)
    assert.is_nil(st)
    assert.are.equal("lock file " .. dir .. "/.imagestore.lock is not a regular file (a symbolic link)", msg)
    assert.are.equal("ECORRUPT", code)
    assert.are.equal("", helpers.read_file(target))
  end)
end)

describe("two stores of one thread", function()
  local root, dir

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    assert(imagestore.open(dir)):close()
  end)

  after_each(helpers.cleanup)

  it("a batch calling other:create fails at once with EDEADLK", function()
    local out = assert_child(dir, [[
      local st = assert(imagestore.open(dir))
      local other = assert(imagestore.open(dir))
      local seen
      assert(st:batch(function(b)
        assert(b:create{ names = { "in-batch:1" } })
        local img, msg, code = other:create{ names = { "other:1" } }
        seen = tostring(img) .. "|" .. tostring(code) .. "|" .. tostring(msg)
        local o2, m2, c2 = imagestore.open(dir)
        seen = seen .. "\n" .. tostring(o2) .. "|" .. tostring(c2)
      end))
      print(seen)
      assert(other:exists("in-batch:1"), "the batch is not seen after it")
      assert(other:create{ names = { "other:1" } })
    ]])
    assert.matches("^nil|EDEADLK|flock " .. dir:gsub("%p", "%%%0")
      .. "/%.imagestore%.lock: another store of this thread holds the lock", out)
    assert.matches("\nnil|EDEADLK", out)
  end)

  it("an event hook opening a second store on the directory fails at once with EDEADLK", function()
    local out = assert_child(dir, [[
      local st = assert(imagestore.open(dir))
      local result
      st:add_hook("event", function(ev)
        if result == nil then
          local o, msg, code = imagestore.open(dir)
          result = tostring(o) .. "|" .. tostring(code)
        end
      end)
      assert(st:create{ names = { "hooked:1" } })
      print(result)
    ]])
    assert.matches("^nil|EDEADLK", out)
  end)

  it("a store in another process waits for the batch instead", function()
    local st <close> = assert(imagestore.open(dir))
    local script = helpers.tmpdir() .. "/waiter.lua"
    helpers.write_file(script, [[
      local imagestore = require("imagestore")
      local other = assert(imagestore.open(arg[1]))
      print(other:exists("batched:1"))
    ]])
    local lua = os.getenv("IMAGESTORE_LUA") or "lua5.4"
    local p
    assert(st:batch(function(b)
      assert(b:create{ names = { "batched:1" } })
      p = assert(io.popen("timeout 20 " .. lua .. " " .. q(script) .. " " .. q(dir) .. " 2>&1", "r"))
      helpers.execute("sleep 0.5")
    end))
    local out = p:read("a")
    assert.is_true((p:close()))
    assert.are.equal("true\n", out)
  end)
end)

describe("big data", function()
  after_each(helpers.cleanup)

  it("of a FIFO is an error naming it, not an empty string", function()
    local dir = helpers.tmpdir() .. "/store"
    local out = assert_child(dir, [[
      local st = assert(imagestore.open(dir))
      local img = assert(st:create{})
      assert(st:set_big_data(img.id, "manifest", "twelve bytes"))
      local file = dir .. "/" .. img.id .. "/manifest"
      assert(os.remove(file))
      assert(os.execute("mkfifo '" .. file .. "'"))
      local data, msg, code = st:big_data(img.id, "manifest")
      print(tostring(data) .. "|" .. tostring(msg) .. "|" .. tostring(code) .. "|" .. img.id)
    ]])
    local id = out:match("|(%x+)\n$")
    assert.are.equal("nil|read " .. dir .. "/" .. tostring(id) .. "/manifest: not a regular file (a FIFO)|EINVAL|"
      .. tostring(id) .. "\n", out)
  end)
end)
