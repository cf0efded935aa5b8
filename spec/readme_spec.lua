-- The README's "Naming and hooks" and "Garbage collection" examples run as
-- written and print what their comments say.

local helpers = require("spec.helpers")

local root_dir = os.getenv("IMAGESTORE_ROOT") or "."

-- The first ```lua block after the given heading.
local function readme_block(heading)
  local text = assert(helpers.read_file(root_dir .. "/README.md"))
  local from = assert(text:find("\n" .. heading .. "\n", 1, true), "README has no " .. heading)
  local code = text:match("```lua\n(.-)\n```", from)
  return assert(code, "no lua block under " .. heading)
end

describe("README", function()
  after_each(function() helpers.cleanup() end)

  it("Naming and hooks: the example runs and prints what it says", function()
    local tmp = helpers.tmpdir()
    local script = tmp .. "/example.lua"
    helpers.write_file(script, readme_block("## Naming and hooks"))
    local p = helpers.spawn_lua(script, tmp .. "/store")
    local out = {}
    for line in p:lines() do out[#out + 1] = line end
    local ok = p:close()
    assert.is_true(ok, table.concat(out, "\n"))
    local id
    for _, line in ipairs(out) do id = id or line:match("^event\tcreate\t(%x+)\t") end
    assert.is_not_nil(id, table.concat(out, "\n"))
    local lines = {
      "docker.io/library/busybox:latest",
      "busybox:1.36",
      "nil\tinvalid reference \"Busybox\": repository name must be lowercase: 'B' at position 1\tEINVAL",
      "event\tcreate\t" .. id .. "\tdocker.io/library/busybox:latest",
      "docker.io/library/busybox:latest",
      "true",
      "nil\tquay.io/untrusted is not allowed\tEINVAL",
    }
    for i, want in ipairs(lines) do assert.are.equal(want, out[i]) end
    assert.matches("^event\tcreate\t%x+\tquay.io/busybox:latest$", out[8])
    assert.matches('^nil\timage reference "busybox" is ambiguous: matches quay.io/busybox:latest %(image %x+%), '
      .. "docker.io/library/busybox:latest %(image " .. id .. "%)\tEAMBIGUOUS$", out[9])
    assert.are.equal("nil\tevent hook failed: deletes are frozen\tEHOOK", out[10])
    assert.are.equal("true", out[11])
    assert.are.equal(11, #out)
  end)

  it("Garbage collection: the example runs and prints what it says", function()
    local tmp = helpers.tmpdir()
    local script = tmp .. "/example.lua"
    helpers.write_file(script, readme_block("## Garbage collection"))
    local p = helpers.spawn_lua(script, tmp .. "/store")
    local out = {}
    for line in p:lines() do out[#out + 1] = line end
    local ok = p:close()
    assert.is_true(ok, table.concat(out, "\n"))
    assert.are.same({
      "3\t2100\t2500",
      'keep_last\t["example.com/app:1"]',
      'name registry.k8s.io/pause:3.9 matches protected pattern "/pause:"',
      "2\tnames changed since the plan: now example.com/app:2, example.com/app:stable",
      "4\t3500",
    }, out)
  end)
end)
