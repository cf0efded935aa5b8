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
  --- sha256(data) --> "sha256:<64 hex>"
  sha256 = core.sha256,
  --- the C module, for callers that want it directly
  core = core,
}

--- The name hook that makes a store follow a naming policy
-- (imagestore.naming.policy): stored names are normalized, and invalid ones
-- refused; a lookup tries the policy's candidates (short names, aliases,
-- search registries) before the reference as given.
function M.naming_hook(policy)
  return function(name, use)
    if use == "store" then
      local full, message = policy:normalize(name)
      if not full then return nil, message end
      return full
    end
    -- Not a reference (an ID prefix with a policy that refuses it, say):
    -- nothing to add, the store looks it up as given.
    return (policy:candidates(name))
  end
end

local HOOK_KINDS = { name = true, event = true }

-- The hooks option as a list of {kind, fn}; nil and a message when malformed.
local function hook_list(hooks)
  if type(hooks) ~= "table" then
    return nil, "bad option 'hooks' (table expected, got " .. type(hooks) .. ")"
  end
  local list = {}
  for kind, fns in pairs(hooks) do
    if not HOOK_KINDS[kind] then
      return nil, string.format("bad option 'hooks' (unknown hook kind '%s')", tostring(kind))
    end
    if type(fns) == "function" then fns = { fns } end
    if type(fns) ~= "table" then
      return nil, string.format(
        "bad option 'hooks.%s' (function or list of functions expected, got %s)", kind, type(fns))
    end
    for _, fn in ipairs(fns) do
      if type(fn) ~= "function" then
        return nil, string.format("bad option 'hooks.%s' (function expected, got %s)", kind, type(fn))
      end
      list[#list + 1] = { kind, fn }
    end
  end
  return list
end

--- open(dir [, opts]) --> store | nil, message, code
-- opts: readonly, daemon, additional = {dir2, dir3, ...} (read-only stores
-- searched below this one; see imagestore.core), and
--   naming = imagestore.naming.policy{...}   names follow that policy
--   hooks  = { name = fn | {fn...}, event = fn | {fn...} }
-- The policy's name hook runs before the hooks given here, so they see
-- normalized names.
function M.open(dir, opts)
  if opts == nil then return core.open(dir) end
  if type(opts) ~= "table" then
    error(string.format("bad argument #2 to 'open' (table expected, got %s)", type(opts)), 2)
  end
  local core_opts, naming, hooks = {}, nil, {}
  for key, value in pairs(opts) do
    if key == "naming" then
      if type(value) ~= "table" or type(value.normalize) ~= "function"
          or type(value.candidates) ~= "function" then
        error("bad option 'naming' (imagestore.naming.policy expected, got "
          .. type(value) .. ")", 2)
      end
      naming = value
    elseif key == "hooks" then
      local message
      hooks, message = hook_list(value)
      if not hooks then error(message, 2) end
    else
      core_opts[key] = value
    end
  end
  local st, message, code = core.open(dir, core_opts)
  if not st then return nil, message, code end
  if naming then st:add_hook("name", M.naming_hook(naming)) end
  for _, hook in ipairs(hooks) do st:add_hook(hook[1], hook[2]) end
  return st
end

-- Policy modules are separate files (`imagestore.<name>`) that use only the
-- store's public methods: imagestore.naming (reference parsing and naming
-- policies) is one; load it with require("imagestore.naming").

return M
