-- bench/json.lua: the little JSON the benchmark needs (no Debian Lua JSON
-- package is a dependency). decode() takes any JSON text; encode() writes
-- objects with sorted keys, arrays as tables with n or 1..#t, and
-- json.null for null.
local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    return escapes[ch] or ("\\u%04x"):format(ch:byte())
  end) .. '"'
end

local function is_array(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n > 0 and n == #t
end

local function encode(v, indent, level)
  local t = type(v)
  if v == nil or v == M.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return tostring(v) end
    if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
    return (("%.6g"):format(v):gsub(",", "."))
  end
  if t == "string" then return encode_string(v) end
  if t ~= "table" then error("cannot encode " .. t) end
  local nl = indent and ("\n" .. indent:rep(level + 1)) or ""
  local close = indent and ("\n" .. indent:rep(level)) or ""
  local sep = indent and ": " or ":"
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = nl .. encode(v[i], indent, level + 1) end
    return "[" .. table.concat(parts, ",") .. (#parts > 0 and close or "") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    parts[i] = nl .. encode_string(k) .. sep .. encode(val, indent, level + 1)
  end
  return "{" .. table.concat(parts, ",") .. (#parts > 0 and close or "") .. "}"
end

--- encode(value [, indent]) --> JSON text
function M.encode(v, indent) return encode(v, indent, 0) end

--- decode(text) --> value, or nil, message
function M.decode(s)
  local pos = 1
  local function err(msg) error(("json: %s at byte %d"):format(msg, pos), 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local j = s:find('["\\]', i)
      if not j then err("unterminated string") end
      out[#out + 1] = s:sub(i, j - 1)
      if s:sub(j, j) == '"' then pos = j + 1; break end
      local e = s:sub(j + 1, j + 1)
      if e == "u" then
        local cp = tonumber(s:sub(j + 2, j + 5), 16) or err("bad \\u escape")
        out[#out + 1] = utf8.char(cp)
        i = j + 6
      else
        local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        out[#out + 1] = map[e] or e
        i = j + 2
      end
    end
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then err("expected a key") end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        t[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return t end
        if d ~= "," then err("expected ',' or '}'") end
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return t end
        if d ~= "," then err("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif s:find("^true", pos) then pos = pos + 4; return true
    elseif s:find("^false", pos) then pos = pos + 5; return false
    elseif s:find("^null", pos) then pos = pos + 4; return M.null
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then err("unexpected character") end
      pos = pos + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  local ok, v = pcall(function()
    local v = value()
    ws()
    if pos <= #s then err("trailing characters") end
    return v
  end)
  if ok then return v end
  return nil, v
end

return M
