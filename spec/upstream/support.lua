-- Shared by the ports of the peers' test suites (spec/upstream/*_spec.lua;
-- what each ports, from which commit, and what it leaves out:
-- spec/upstream/README.md).

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local M = {}

-- containers/storage's tests/helpers.bash createrandom: n random bytes
-- (default 256).
function M.random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local data = f:read(n or 256)
  f:close()
  return data
end

-- A store in a new temporary directory (helpers.cleanup() removes it), and
-- that directory.
function M.fresh_store(opts)
  local dir = helpers.tmpdir() .. "/store"
  return assert(imagestore.open(dir, opts)), dir
end

-- The containers/storage tests name images "first", "Image", ...; ours are
-- 64 hex characters: the same one for the same name, every run.
function M.id_for(name)
  return (imagestore.sha256(name):gsub("^sha256:", ""))
end

-- Whether list holds value.
function M.has(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

return M
