-- Hooks for examples/hook_host.c: a site's naming and retention policy,
-- written in Lua, enforced by a C program that embeds the store.
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' \
--     build/examples/hook_host ./demo-store examples/hooks.lua create busybox
--
-- Returns the hooks table lua/lua_hooks.h describes.
local naming = require("imagestore.naming")

local policy = naming.policy{ search_registries = { "registry.example.com", "docker.io" } }
local ALLOWED = { ["docker.io"] = true, ["registry.example.com"] = true, ["quay.io"] = true }

-- Names are stored in full; only allowed registries; short names are looked
-- up in the search registries.
local function name_hook(name, use)
  if use == "lookup" then return (policy:candidates(name)) end
  local full, message = policy:normalize(name)
  if not full then return nil, message end
  local domain = full:match("^([^/]+)/")
  if not ALLOWED[domain] then return nil, "registry " .. domain .. " is not allowed here" end
  return full
end

-- Images tagged ":stable" may not be deleted.
local function protect(event)
  if event.kind ~= "delete" then return end
  for _, name in ipairs(event.names) do
    if name:match(":stable$") then error("image " .. name .. " is protected", 0) end
  end
end

-- One line per change that goes through.
local function audit(event)
  local what = event.names and table.concat(event.names, " ") or event.key or event.loaded or ""
  io.stdout:write(string.format("audit: %s %s %s\n", event.kind, event.id:sub(1, 12), what))
  io.stdout:flush()
end

return { name = name_hook, event = { protect, audit } }
