-- imagestore.registries_conf: containers-registries.conf(5) files in pure
-- Lua. It owns the TOML subset decoder they are written in, the shape of a
-- registries.conf (unqualified-search-registries, short-name-mode,
-- [aliases], [[registry]]) and reading one from disk with errno codes.
--
-- What a registry name or an alias may be is the reference grammar, which
-- imagestore.naming owns: a caller passes it as `checks` (naming's
-- parse_registries_conf, read_registries_conf and the registries_conf
-- policy option do), and without checks any string is taken.
--
-- Expected failures return nil, message, code; misuse (wrong argument types)
-- raises.

local M = {}

local SHORT_NAME_MODES = { enforcing = true, permissive = true, disabled = true }

-- The functions a checks table may have: each returns nil or the reason the
-- value is bad.
local CHECKS = { registry = true, alias = true }

local function misuse(message, level)
  error("imagestore.registries_conf: " .. message, level + 1)
end

local function check_string(value, argn, fname, level)
  if type(value) ~= "string" then
    misuse(string.format("bad argument #%d to '%s' (string expected, got %s)",
      argn, fname, type(value)), level + 1)
  end
end

-- nil, or a table of CHECKS functions.
local function check_checks(value, argn, fname, level)
  if value == nil then return end
  if type(value) ~= "table" then
    misuse(string.format("bad argument #%d to '%s' (table of checks expected, got %s)",
      argn, fname, type(value)), level + 1)
  end
  for k, v in pairs(value) do
    if not CHECKS[k] then
      misuse(string.format("bad argument #%d to '%s' (unknown check '%s')", argn, fname, tostring(k)),
        level + 1)
    end
    if type(v) ~= "function" then
      misuse(string.format("bad argument #%d to '%s' (check '%s' must be a function, got %s)",
        argn, fname, k, type(v)), level + 1)
    end
  end
end

-- A character as messages show it: 'x', or its byte value when unprintable.
local function show_char(c)
  local b = c:byte()
  if b >= 0x20 and b <= 0x7e then return "'" .. c .. "'" end
  return string.format("byte 0x%02X", b)
end

---------------------------------------------------------------------------
-- TOML, the subset registries.conf files use
---------------------------------------------------------------------------

-- Decodes TOML text into nested tables. Supports comments, bare and quoted
-- (dotted) keys, basic and literal strings, booleans, integers, arrays
-- (over several lines), inline tables, [table] and [[array of tables]].
-- Returns root, lines (table -> key -> line number), static arrays (a set
-- of the arrays written as [ ... ] values) or nil, line, reason.
local function decode_toml(text)
  local pos, line = 1, 1
  local root = {}
  local lines = {}           -- table -> key -> line (arrays: index -> line)
  local defined = {}         -- tables given by a [header]
  local arrays_of_tables = {}
  local static_arrays = {}   -- arrays written as [ ... ] values

  local function fail(reason, at_line)
    error({ line = at_line or line, reason = reason }, 0)
  end

  local function peek() return text:sub(pos, pos) end

  -- skips spaces/tabs, and with `newlines` also newlines and comments
  local function skip(newlines)
    while pos <= #text do
      local c = peek()
      if c == " " or c == "\t" then
        pos = pos + 1
      elseif c == "#" then
        local nl = text:find("\n", pos, true)
        pos = nl or #text + 1
      elseif newlines and (c == "\n" or (c == "\r" and text:sub(pos + 1, pos + 1) == "\n")) then
        pos = pos + (c == "\r" and 2 or 1)
        line = line + 1
      else
        break
      end
    end
  end

  local escapes = { b = "\b", t = "\t", n = "\n", f = "\f", r = "\r", ['"'] = '"', ["\\"] = "\\" }

  local function basic_string()
    pos = pos + 1
    local out = {}
    while true do
      local c = peek()
      if c == "" or c == "\n" then fail("unterminated string") end
      if c == '"' then pos = pos + 1 break end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        if escapes[e] then
          out[#out + 1] = escapes[e]
          pos = pos + 2
        elseif e == "u" or e == "U" then
          local n = e == "u" and 4 or 8
          local hex = text:sub(pos + 2, pos + 1 + n)
          local code = hex:match("^" .. string.rep("%x", n) .. "$") and tonumber(hex, 16)
          if not code or code > 0x10FFFF or (code >= 0xD800 and code <= 0xDFFF) then
            fail("invalid \\" .. e .. " escape in string")
          end
          out[#out + 1] = utf8.char(code)
          pos = pos + 2 + n
        else
          fail(string.format("invalid escape \\%s in string", e))
        end
      else
        out[#out + 1] = c
        pos = pos + 1
      end
    end
    return table.concat(out)
  end

  local function literal_string()
    local close = text:find("'", pos + 1, true)
    local nl = text:find("\n", pos + 1, true)
    if not close or (nl and nl < close) then fail("unterminated string") end
    local s = text:sub(pos + 1, close - 1)
    pos = close + 1
    return s
  end

  local function key_part()
    local c = peek()
    if text:sub(pos, pos + 2) == '"""' or text:sub(pos, pos + 2) == "'''" then
      fail("multi-line strings are not supported")
    end
    if c == '"' then return basic_string() end
    if c == "'" then return literal_string() end
    local bare = text:match("^[A-Za-z0-9_-]+", pos)
    if not bare then
      fail(c == "" and "expected a key" or string.format("expected a key, found %s", show_char(c)))
    end
    pos = pos + #bare
    return bare
  end

  local function dotted_key()
    local parts = { key_part() }
    while true do
      skip(false)
      if peek() ~= "." then break end
      pos = pos + 1
      skip(false)
      parts[#parts + 1] = key_part()
    end
    return parts
  end

  local value -- forward

  local function array()
    local start_line = line
    pos = pos + 1
    local arr, item_lines = {}, {}
    while true do
      skip(true)
      if pos > #text then fail("unterminated array", start_line) end
      if peek() == "]" then pos = pos + 1 break end
      item_lines[#arr + 1] = line
      arr[#arr + 1] = value()
      skip(true)
      local c = peek()
      if c == "," then
        pos = pos + 1
      elseif c == "]" then
        pos = pos + 1
        break
      elseif c == "" then
        fail("unterminated array", start_line)
      else
        fail(string.format("expected ',' or ']' in array, found %s", show_char(c)))
      end
    end
    lines[arr] = item_lines
    static_arrays[arr] = true
    return arr
  end

  -- sets t[k] = v once, remembering the line
  local function assign(t, k, v)
    if t[k] ~= nil then fail(string.format("duplicate key %q", k)) end
    t[k] = v
    lines[t] = lines[t] or {}
    lines[t][k] = line
  end

  -- walks dotted keys from t, creating implicit tables
  local function descend(t, parts, last)
    for i = 1, last do
      local k = parts[i]
      local nxt = t[k]
      if nxt == nil then
        nxt = {}
        assign(t, k, nxt)
      elseif type(nxt) ~= "table" or static_arrays[nxt] then
        fail(string.format("key %q is not a table", k))
      elseif arrays_of_tables[nxt] then
        nxt = nxt[#nxt]
      end
      t = nxt
    end
    return t
  end

  local function inline_table()
    pos = pos + 1
    local t = {}
    skip(false)
    if peek() == "}" then pos = pos + 1 return t end
    while true do
      skip(false)
      local parts = dotted_key()
      skip(false)
      if peek() ~= "=" then fail(string.format("expected '=' after key %q", parts[#parts])) end
      pos = pos + 1
      skip(false)
      assign(descend(t, parts, #parts - 1), parts[#parts], value())
      skip(false)
      local c = peek()
      if c == "," then
        pos = pos + 1
      elseif c == "}" then
        pos = pos + 1
        return t
      else
        fail("expected ',' or '}' in inline table")
      end
    end
  end

  value = function()
    local c = peek()
    if text:sub(pos, pos + 2) == '"""' or text:sub(pos, pos + 2) == "'''" then
      fail("multi-line strings are not supported")
    end
    if c == '"' then return basic_string() end
    if c == "'" then return literal_string() end
    if c == "[" then return array() end
    if c == "{" then return inline_table() end
    local word = text:match("^[%w_.:+-]+", pos)
    if word == "true" or word == "false" then
      pos = pos + #word
      return word == "true"
    end
    if word and word:match("^[+-]?%d[%d_]*$") and not word:find("__") and not word:match("_$") then
      local n = math.tointeger(tonumber((word:gsub("_", ""))))
      if n then
        pos = pos + #word
        return n
      end
    end
    if c == "" or c == "\n" or c == "\r" or c == "#" then fail("expected a value after '='") end
    fail(string.format("unsupported value %q", word or c))
  end

  local function end_of_line()
    skip(false)
    local c = peek()
    if c == "" then return end
    if c == "\n" or (c == "\r" and text:sub(pos + 1, pos + 1) == "\n") then return end
    local rest = text:match("^[^\r\n]*", pos)
    fail(string.format("unexpected text %q after value", rest))
  end

  local current = root
  local ok, err = pcall(function()
    while true do
      skip(true)
      if pos > #text then break end
      if peek() == "[" then
        local is_array = text:sub(pos, pos + 1) == "[["
        pos = pos + (is_array and 2 or 1)
        skip(false)
        local parts = dotted_key()
        skip(false)
        local close = is_array and "]]" or "]"
        if text:sub(pos, pos + #close - 1) ~= close then
          fail("invalid table header: want " .. (is_array and "[[name]]" or "[name]"))
        end
        pos = pos + #close
        local parent = descend(root, parts, #parts - 1)
        local k = parts[#parts]
        local t = parent[k]
        if is_array then
          if t == nil then
            t = {}
            assign(parent, k, t)
            arrays_of_tables[t] = true
          elseif not arrays_of_tables[t] then
            fail(string.format("key %q is not an array of tables", k))
          end
          current = {}
          t[#t + 1] = current
        else
          if t == nil then
            t = {}
            assign(parent, k, t)
          elseif type(t) ~= "table" or arrays_of_tables[t] or static_arrays[t] or defined[t] then
            fail(string.format("table [%s] defined twice", table.concat(parts, ".")))
          end
          current = t
        end
        defined[current] = true
      else
        local parts = dotted_key()
        skip(false)
        if peek() ~= "=" then fail(string.format("expected '=' after key %q", parts[#parts])) end
        pos = pos + 1
        skip(false)
        assign(descend(current, parts, #parts - 1), parts[#parts], value())
      end
      end_of_line()
    end
  end)
  if not ok then
    if type(err) == "table" then return nil, err.line, err.reason end
    error(err, 0)
  end
  return root, lines, static_arrays
end

-- decode_toml(text [, source_name]) -> table | nil, message, "EINVAL"
function M.decode_toml(text, source_name)
  check_string(text, 1, "decode_toml", 2)
  if source_name == nil then source_name = "registries.conf" end
  check_string(source_name, 2, "decode_toml", 2)
  local root, line, reason = decode_toml(text)
  if not root then return nil, string.format("%s:%d: %s", source_name, line, reason), "EINVAL" end
  return root
end

---------------------------------------------------------------------------
-- registries.conf
---------------------------------------------------------------------------

-- registries.conf keys as Lua names: "short-name-mode" -> "short_name_mode"
local function lua_keys(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    out[type(k) == "string" and k:gsub("-", "_") or k] = lua_keys(x)
  end
  return out
end

-- The conf of a registries.conf text; `checks` as M.parse takes them.
local function parse(text, source_name, checks)
  checks = checks or {}
  local root, lines, extra = decode_toml(text)
  local function bad(at, why)
    return nil, string.format("%s:%d: %s", source_name, at, why), "EINVAL"
  end
  if not root then return bad(lines, extra) end
  local function static_array(t) return extra[t] == true end
  local top_lines = lines[root] or {}

  local conf = { unqualified_search_registries = {}, aliases = {}, registries = {} }

  local search = root["unqualified-search-registries"]
  if search ~= nil then
    local at = top_lines["unqualified-search-registries"]
    if type(search) ~= "table" or not static_array(search) then
      return bad(at, "unqualified-search-registries must be an array of strings")
    end
    local item_lines = lines[search] or {}
    for i, r in ipairs(search) do
      if type(r) ~= "string" then
        return bad(item_lines[i] or at, "unqualified-search-registries must be an array of strings")
      end
      local problem = checks.registry and checks.registry(r)
      if problem then
        return bad(item_lines[i] or at,
          string.format("invalid registry %q in unqualified-search-registries: %s", r, problem))
      end
      conf.unqualified_search_registries[i] = r
    end
  end

  local mode = root["short-name-mode"]
  if mode ~= nil then
    if not SHORT_NAME_MODES[mode] then
      return bad(top_lines["short-name-mode"], string.format(
        "invalid short-name-mode %s: want \"enforcing\", \"permissive\" or \"disabled\"",
        type(mode) == "string" and string.format("%q", mode) or type(mode)))
    end
    conf.short_name_mode = mode
  end

  local aliases = root.aliases
  if aliases ~= nil then
    if type(aliases) ~= "table" or static_array(aliases) then
      return bad(top_lines.aliases, "aliases must be a table ([aliases])")
    end
    local alias_lines = lines[aliases] or {}
    -- report the first bad alias in file order
    local keys = {}
    for k in pairs(aliases) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return (alias_lines[a] or 0) < (alias_lines[b] or 0) end)
    for _, short in ipairs(keys) do
      local full = aliases[short]
      local problem = type(full) ~= "string" and string.format("alias for %q must be a string", short)
        or (checks.alias and checks.alias(short, full))
      if problem then
        return bad(alias_lines[short] or top_lines.aliases, string.format("invalid alias: %s", problem))
      end
      conf.aliases[short] = full
    end
  end

  local registries = root.registry
  if registries ~= nil then
    if type(registries) ~= "table" then
      return bad(top_lines.registry, "registry must be an array of tables ([[registry]])")
    end
    for i, r in ipairs(registries) do
      if type(r) ~= "table" then
        return bad(top_lines.registry, "registry must be an array of tables ([[registry]])")
      end
      conf.registries[i] = lua_keys(r)
    end
  end
  return conf
end

local ERRNO_NAMES = {
  [1] = "EPERM", [2] = "ENOENT", [5] = "EIO", [12] = "ENOMEM", [13] = "EACCES",
  [20] = "ENOTDIR", [21] = "EISDIR", [23] = "ENFILE", [24] = "EMFILE",
  [36] = "ENAMETOOLONG", [40] = "ELOOP",
}

local function read(path, checks)
  local f, err, errno = io.open(path, "rb")
  if not f then
    local why = err and err:sub(1, #path + 2) == path .. ": " and err:sub(#path + 3) or tostring(err)
    return nil, string.format("open %s: %s", path, why), ERRNO_NAMES[errno] or "EIO"
  end
  local text, rerr, rerrno = f:read("a")
  f:close()
  if not text then
    return nil, string.format("read %s: %s", path, tostring(rerr)), ERRNO_NAMES[rerrno] or "EIO"
  end
  return parse(text, path, checks)
end

-- parse(text [, source_name [, checks]]) -> conf | nil, message, "EINVAL"
function M.parse(text, source_name, checks)
  check_string(text, 1, "parse", 2)
  if source_name == nil then source_name = "registries.conf" end
  check_string(source_name, 2, "parse", 2)
  check_checks(checks, 3, "parse", 2)
  return parse(text, source_name, checks)
end

-- read(path [, checks]) -> conf | nil, message, code
function M.read(path, checks)
  check_string(path, 1, "read", 2)
  check_checks(checks, 2, "read", 2)
  return read(path, checks)
end

return M
