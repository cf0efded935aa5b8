-- The mutations file's reader and the one thing scripts/mutate does to
-- source: apply a mutation. Plain Lua 5.4, no modules.
--
--   lua5.4 scripts/mutate.lua check   MUTATIONS ROOT
--       parses MUTATIONS and locates every mutation's site in ROOT; prints
--       "ID<TAB>CLASS<TAB>FILE:LINE<TAB>WHAT" per mutation, in file order;
--       exits 1 (after naming every problem) when a site is not found
--       exactly once, a key is missing or unknown, a class has no suites, ...
--   lua5.4 scripts/mutate.lua suites  MUTATIONS CLASS
--       the suites CLASS runs, one per line
--   lua5.4 scripts/mutate.lua apply   MUTATIONS ID ROOT
--       applies mutation ID to ROOT/FILE in place; prints FILE:LINE; exits 1
--       (naming the problem) unless the site is found exactly once and the
--       file then differs
--
-- The format is described at the top of spec/mutations.txt.

local KEYS = { class = true, file = true, find = true, after = true, replace = true, what = true }
local REQUIRED = { "class", "file", "find", "replace", "what" }

local function die(fmt, ...)
  io.stderr:write("mutate: " .. string.format(fmt, ...) .. "\n")
  os.exit(2)
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function unescape(s, where)
  return (s:gsub("\\(.)", function(c)
    if c == "n" then return "\n" end
    if c == "t" then return "\t" end
    if c == "\\" then return "\\" end
    die("%s: unknown escape \\%s (only \\n, \\t, \\\\)", where, c)
  end))
end

-- { suites = {class = {suite, ...}}, list = {mutation, ...}, by_id = {...} }
local function parse(path)
  local f = io.open(path, "r")
  if f == nil then die("cannot read %s", path) end
  local suites, list, by_id, problems = {}, {}, {}, {}
  local cur
  local n = 0
  for line in f:lines() do
    n = n + 1
    local where = path .. ":" .. n
    local s = trim(line)
    if s == "" or s:sub(1, 1) == "#" then
      -- nothing
    elseif s:match("^suites%s") then
      local class, rest = s:match("^suites%s+([%w_.-]+)%s*=%s*(.*)$")
      if class == nil then
        problems[#problems + 1] = where .. ": expected `suites CLASS = SUITE ...`"
      else
        if suites[class] then problems[#problems + 1] = where .. ": suites of " .. class .. " given twice" end
        local l = {}
        for w in rest:gmatch("%S+") do
          if not (w == "all" or w:match("^c:[%w_.-]+$") or w:match("^lua:[%w_.-]+$")) then
            problems[#problems + 1] = where .. ": suite " .. w .. " is not c:NAME, lua:NAME or all"
          end
          l[#l + 1] = w
        end
        if #l == 0 then problems[#problems + 1] = where .. ": class " .. class .. " has no suites" end
        suites[class] = l
      end
    elseif s:match("^%[.*%]$") then
      local id = s:match("^%[([%w_.-]+)%]$")
      if id == nil then
        problems[#problems + 1] = where .. ": a mutation ID is letters, digits, _ . -"
        id = s
      end
      if by_id[id] then problems[#problems + 1] = where .. ": mutation " .. id .. " given twice" end
      cur = { id = id, line = n }
      list[#list + 1] = cur
      by_id[id] = cur
    else
      local key, value = s:match("^([%w_]+)%s*=%s*(.*)$")
      if key == nil then
        problems[#problems + 1] = where .. ": expected KEY = VALUE"
      elseif cur == nil then
        problems[#problems + 1] = where .. ": " .. key .. " before the first [ID]"
      elseif not KEYS[key] then
        problems[#problems + 1] = where .. ": unknown key " .. key
      elseif cur[key] ~= nil then
        problems[#problems + 1] = where .. ": " .. key .. " given twice in [" .. cur.id .. "]"
      else
        if key == "find" or key == "after" or key == "replace" then
          value = unescape(value, where)
        end
        cur[key] = value
      end
    end
  end
  f:close()
  for _, m in ipairs(list) do
    local where = path .. ":" .. m.line .. ": [" .. m.id .. "]"
    for _, k in ipairs(REQUIRED) do
      if m[k] == nil or (m[k] == "" and k ~= "replace") then
        problems[#problems + 1] = where .. ": no " .. k
      end
    end
    if m.class and not suites[m.class] then
      problems[#problems + 1] = where .. ": class " .. m.class .. " has no `suites` line"
    end
    if m.find and m.find == m.replace then
      problems[#problems + 1] = where .. ": replace is the same as find"
    end
    if m.file and (m.file:match("^/") or m.file:match("%.%.")) then
      problems[#problems + 1] = where .. ": file must be relative to the root, without .."
    end
  end
  return { suites = suites, list = list, by_id = by_id, problems = problems }
end

local function read_all(path)
  local f = io.open(path, "rb")
  if f == nil then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- All start positions of the plain text needle in s, from init.
local function occurrences(s, needle, init)
  local at, pos = {}, init or 1
  while true do
    local i = s:find(needle, pos, true)
    if i == nil then return at end
    at[#at + 1] = i
    pos = i + 1
  end
end

local function line_of(s, pos)
  local _, nl = s:sub(1, pos - 1):gsub("\n", "")
  return nl + 1
end

local function shown(text)
  return (text:gsub("\n", "\\n"))
end

-- The source text and the position of m's site in it, or nil and why.
local function locate(m, root)
  local src = read_all(root .. "/" .. m.file)
  if src == nil then return nil, nil, "cannot read " .. m.file end
  local from = 1
  if m.after then
    local a = occurrences(src, m.after)
    if #a ~= 1 then
      return nil, nil, string.format("after anchor \"%s\" occurs %d times in %s (want 1)",
                                     shown(m.after), #a, m.file)
    end
    from = a[1] + #m.after
    local i = src:find(m.find, from, true)
    if i == nil then
      return nil, nil, string.format("\"%s\" does not occur in %s after \"%s\"",
                                     shown(m.find), m.file, shown(m.after))
    end
    return src, i
  end
  local at = occurrences(src, m.find)
  if #at ~= 1 then
    return nil, nil, string.format("\"%s\" occurs %d times in %s (want 1; an `after` anchor "
                                   .. "can pick one)", shown(m.find), #at, m.file)
  end
  return src, at[1]
end

local cmd, mfile = arg[1], arg[2]
if cmd == nil or mfile == nil then
  die("usage: mutate.lua check MUTATIONS ROOT | suites MUTATIONS CLASS | apply MUTATIONS ID ROOT")
end
local db = parse(mfile)

if cmd == "check" then
  local root = arg[3] or "."
  local problems = db.problems
  local out = {}
  for _, m in ipairs(db.list) do
    if m.file and m.find then
      local src, pos, why = locate(m, root)
      if src == nil then
        problems[#problems + 1] = mfile .. ":" .. m.line .. ": [" .. m.id .. "]: " .. why
      else
        out[#out + 1] = table.concat({ m.id, m.class or "?", m.file .. ":" .. line_of(src, pos),
                                       m.what or "" }, "\t")
      end
    end
  end
  if #db.list == 0 then problems[#problems + 1] = mfile .. ": no mutations" end
  if #problems > 0 then
    for _, p in ipairs(problems) do io.stderr:write("mutate: " .. p .. "\n") end
    os.exit(1)
  end
  for _, l in ipairs(out) do print(l) end
elseif cmd == "suites" then
  local class = arg[3]
  local l = class and db.suites[class]
  if l == nil then die("no suites for class %s in %s", tostring(class), mfile) end
  for _, s in ipairs(l) do print(s) end
elseif cmd == "apply" then
  local id, root = arg[3], arg[4]
  local m = id and db.by_id[id]
  if m == nil or root == nil then die("no mutation %s in %s", tostring(id), mfile) end
  if #db.problems > 0 then die("%s", db.problems[1]) end
  local src, pos, why = locate(m, root)
  if src == nil then die("[%s]: %s", id, why) end
  local out = src:sub(1, pos - 1) .. m.replace .. src:sub(pos + #m.find)
  if out == src then die("[%s]: the file is unchanged", id) end
  local f = io.open(root .. "/" .. m.file, "wb")
  if f == nil then die("[%s]: cannot write %s", id, m.file) end
  f:write(out)
  f:close()
  print(m.file .. ":" .. line_of(src, pos))
else
  die("unknown command %s", cmd)
end
