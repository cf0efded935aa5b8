--- imagestore: an embedded store for container images.
--
--   local imagestore = require("imagestore")
--   local st <close> = assert(imagestore.open(dir, { readonly = false }))
--
-- The store itself lives in the C module `imagestore.core`; this file is the
-- Lua layer on top of it (as luasystem does). It defines no globals.
local core = require("imagestore.core")

local M = {
  _VERSION = core._VERSION,
  VERSION = core.VERSION,
  --- open(dir [, { readonly = bool, daemon = bool }]) --> store | nil, message, code
  open = core.open,
  --- sha256(data) --> "sha256:<64 hex>"
  sha256 = core.sha256,
  --- the C module, for callers that want it directly
  core = core,
}

-- Lua conveniences and policy modules go below. Policy modules are separate
-- files (`imagestore.<name>`) that take a store as their first argument and
-- use only its public methods; re-export them here, e.g.
--   M.prune = require("imagestore.prune")

return M
