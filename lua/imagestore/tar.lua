--- imagestore.tar: reading tar archives (docker-archive, oci-archive) for
-- the import scripts, through libarchive. Nothing is ever extracted.
--
--   local tar = require("imagestore.tar")
--   local r <close> = assert(tar.open(path))
--   for entry in r.next, r do                 -- {path, type, size, link}
--     local bytes = assert(tar.read_all(r, entry, 4 << 20))
--   end
--
-- open() refuses what is not a regular file (a FIFO would hang a reader).
-- next() returns nil at the end, or nil, message, code: an entry whose path
-- is absolute or climbs out with "..", or a link whose target leaves the
-- archive, is "EINVAL", as are a truncated or malformed archive. Types are
-- "file", "directory", "symlink", "hardlink" and "other". read(n) gives up
-- to n bytes of the current entry, "" at its end.
local core = require("imagestore.core")

local M = { open = core.tar_open }

local CHUNK = 65536

--- read_all(reader, entry, limit) --> the current entry's bytes
--    | nil, message, "ELIMIT" when it is larger than limit bytes (checked
--      against its header before anything is read, then against what comes)
--    | nil, message, code from reader:read()
function M.read_all(reader, entry, limit)
  if type(entry) ~= "table" or type(entry.path) ~= "string" then
    error(("bad argument #2 (entry expected, got %s)"):format(type(entry)), 2)
  end
  if math.type(limit) ~= "integer" or limit < 0 then
    error("bad argument #3 (limit must be a non-negative integer)", 2)
  end
  local function too_big(size)
    return nil, ("%s is %d bytes, above the limit of %d bytes"):format(entry.path, size, limit), "ELIMIT"
  end
  if entry.size > limit then return too_big(entry.size) end
  local parts, total = {}, 0
  while true do
    local chunk, msg, code = reader:read(CHUNK)
    if not chunk then return nil, msg, code end
    if chunk == "" then break end
    total = total + #chunk
    if total > limit then return too_big(total) end
    parts[#parts + 1] = chunk
  end
  return table.concat(parts)
end

return M
