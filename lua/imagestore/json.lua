--- imagestore.json: JSON for policy code, on the store's own JSON library
-- (yajl, through imagestore.core), so that no second one is needed.
--
--   local json = require("imagestore.json")
--   local v, msg, code = json.decode(text [, {max_depth = 1000}])
--   local text, msg, code = json.encode(v [, {indent = true}])
--
-- Text is strict JSON and UTF-8 both ways (no comments, one value). JSON
-- null is json.null. Integers that fit a Lua integer decode as integers,
-- other numbers as floats. Decoded arrays and objects carry json.array_mt
-- and json.object_mt, so that empty ones encode back as they were read;
-- json.array(t) and json.object(t) mark tables of your own. An unmarked
-- table encodes as an array when its keys are exactly 1..n (n > 0), else as
-- an object, whose keys must be strings; object keys come out sorted, so a
-- table always gives the same text. Encoding nests at most 127 levels deep
-- (yajl's generator), decoding max_depth (default 1000). Failures to decode or encode return
-- nil, a message and "EINVAL"; a wrong argument type raises.
local core = require("imagestore.core")

local decode, encode = core.json_decode, core.json_encode

local M = {
  null = core.json_null,
  array_mt = core.json_array,
  object_mt = core.json_object,
}

local function options(opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #2 (table expected, got %s)"):format(type(opts)), 3)
  end
  for k in pairs(opts) do
    if not allowed[k] then error(("unknown option '%s'"):format(tostring(k)), 3) end
  end
  return opts
end

local DECODE_OPTS = { max_depth = true }
local ENCODE_OPTS = { indent = true }

--- decode(text [, opts]) --> value | nil, message, "EINVAL"
function M.decode(text, opts)
  opts = options(opts, DECODE_OPTS)
  local value, msg, code = decode(text, opts.max_depth)
  if msg then return nil, msg, code end
  return value
end

--- encode(value [, opts]) --> text | nil, message, "EINVAL"
function M.encode(value, opts)
  opts = options(opts, ENCODE_OPTS)
  local text, msg, code = encode(value, opts.indent)
  if not text then return nil, msg, code end
  if opts.indent then
    -- yajl writes an empty array or object over two lines; JSON strings hold
    -- no raw newline, so this only ever meets such pairs.
    text = text:gsub("([%[{])\n%s*\n%s*([%]}])", "%1%2")
  end
  return text
end

--- array(t) --> t, marked to encode as a JSON array (even when empty)
function M.array(t)
  if t == nil then t = {} end
  if type(t) ~= "table" then error(("bad argument #1 (table expected, got %s)"):format(type(t)), 2) end
  return setmetatable(t, M.array_mt)
end

--- object(t) --> t, marked to encode as a JSON object (even when empty)
function M.object(t)
  if t == nil then t = {} end
  if type(t) ~= "table" then error(("bad argument #1 (table expected, got %s)"):format(type(t)), 2) end
  return setmetatable(t, M.object_mt)
end

return M
