-- examples/hook_host.c: a C program with its own Lua state runs the store
-- under examples/hooks.lua. Built by make (IMAGESTORE_HOOK_HOST names it).

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local root_dir = os.getenv("IMAGESTORE_ROOT") or "."
local host = os.getenv("IMAGESTORE_HOOK_HOST") or (root_dir .. "/build/examples/hook_host")
local hooks_file = root_dir .. "/examples/hooks.lua"
local q = helpers.shell_quote

-- Runs the host; its stdout+stderr lines and exit status.
local function host_run(dir, ...)
  local args = { "env", "LUA_PATH=" .. q(root_dir .. "/lua/?.lua;" .. root_dir .. "/lua/?/init.lua;;"),
    q(host), q(dir), q(hooks_file) }
  for _, a in ipairs({ ... }) do args[#args + 1] = q(a) end
  local p = assert(io.popen(table.concat(args, " ") .. " 2>&1; echo \"exit $?\"", "r"))
  local lines = {}
  for line in p:lines() do lines[#lines + 1] = line end
  p:close()
  local status = tonumber(table.remove(lines):match("^exit (%d+)$"))
  return lines, status
end

describe("examples/hook_host.c with examples/hooks.lua", function()
  local dir

  before_each(function()
    dir = helpers.tmpdir() .. "/store"
  end)

  after_each(function()
    helpers.cleanup()
  end)

  it("is built", function()
    assert.is_true(helpers.is_file(host), host .. " is missing: run make")
  end)

  it("stores full names, finds short ones, audits, refuses and protects", function()
    local out, status = host_run(dir, "create", "busybox")
    assert.are.equal(0, status, table.concat(out, "\n"))
    local id = out[2]
    assert.matches("^%x+$", id)
    assert.are.same({ "audit: create " .. id:sub(1, 12) .. " docker.io/library/busybox:latest", id }, out)

    out, status = host_run(dir, "tag", "busybox", "registry.example.com/tools:stable")
    assert.are.equal(0, status, table.concat(out, "\n"))
    assert.are.same({ "audit: names " .. id:sub(1, 12)
      .. " docker.io/library/busybox:latest registry.example.com/tools:stable" }, out)

    out, status = host_run(dir, "show", "tools:stable")
    assert.are.same({ id .. " docker.io/library/busybox:latest registry.example.com/tools:stable" }, out)
    assert.are.equal(0, status)

    out, status = host_run(dir, "create", "evil.example.org/x")
    assert.are.same({ "hook_host: registry evil.example.org is not allowed here (EINVAL)" }, out)
    assert.are.equal(1, status)

    out, status = host_run(dir, "create", "Busybox")
    assert.are.same({ 'hook_host: invalid reference "Busybox": repository name must be lowercase: '
      .. "'B' at position 1 (EINVAL)" }, out)
    assert.are.equal(1, status)

    out, status = host_run(dir, "rmi", "busybox")
    assert.are.same({ "hook_host: event hook failed: image registry.example.com/tools:stable is "
      .. "protected (EHOOK)" }, out)
    assert.are.equal(1, status)

    -- the store the C host wrote opens from Lua as it is
    local st <close> = assert(imagestore.open(dir))
    assert.are.same({ "docker.io/library/busybox:latest", "registry.example.com/tools:stable" },
      st:get(id).names)
    assert.are.equal(1, #st:images())
  end)

  it("reports a hooks file that does not return a table", function()
    local bad = helpers.tmpdir() .. "/bad.lua"
    helpers.write_file(bad, "return 42\n")
    local p = assert(io.popen(q(host) .. " " .. q(dir) .. " " .. q(bad) .. " show x 2>&1; echo \"exit $?\""))
    local text = p:read("a")
    p:close()
    assert.are.equal("hook_host: " .. bad .. " must return a table of hooks, not a number\nexit 1\n", text)
  end)
end)
