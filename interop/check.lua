-- interop/check.lua: the assertions of `make interop`. interop/run leaves in
-- WORK what the run produced; this reads it and prints TAP lines.
--
--   lua5.4 interop/check.lua WORK
--
-- WORK holds: writer.log (interop/cswriter.go: C, H and done lines),
-- writer.rc, reader.log and reader.rc (interop/reader.c serve), dump1.out ..
-- dumpN.out and dumps.rc (reader dump on the quiesced store), loop.out and
-- loop.rc (reader loop), tree-before.txt, tree-after-dumps.txt and
-- tree-after-loop.txt (interop/run's tree listings of the store root),
-- images-dir.txt (the entries under vfs-images, one a line), dir.txt (the
-- directory the reader opened). Loaded with dofile() it returns its functions
-- (interop/selftest.lua uses them).
local M = {}

-- ---- the canonical JSON (cswriter.go's quote()/image()) --------------------

local function decode_at(s, i)
  i = s:find("[^ \t\r\n]", i) or #s + 1
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = i + 1
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      local key
      key, i = decode_at(s, i)
      if type(key) ~= "string" or s:sub(i, i) ~= ":" then error("bad object at " .. i) end
      obj[key], i = decode_at(s, i + 1)
      c = s:sub(i, i)
      if c == "}" then return obj, i + 1 end
      if c ~= "," then error("bad object at " .. i) end
      i = i + 1
    end
  elseif c == "[" then
    local arr = {}
    i = i + 1
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      arr[#arr + 1], i = decode_at(s, i)
      c = s:sub(i, i)
      if c == "]" then return arr, i + 1 end
      if c ~= "," then error("bad array at " .. i) end
      i = i + 1
    end
  elseif c == '"' then
    local out, j = {}, i + 1
    while true do
      local k = s:find('["\\]', j)
      if not k then error("unterminated string at " .. i) end
      out[#out + 1] = s:sub(j, k - 1)
      if s:sub(k, k) == '"' then return table.concat(out), k + 1 end
      local e = s:sub(k + 1, k + 1)
      if e == "u" then
        local cp = tonumber(s:sub(k + 2, k + 5), 16) or error("bad escape at " .. k)
        out[#out + 1] = utf8.char(cp)
        j = k + 6
      else
        out[#out + 1] = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" })[e] or e
        j = k + 2
      end
    end
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if num and #num > 0 then return tonumber(num), i + #num end
    for word, v in pairs({ ["true"] = true, ["false"] = false, null = M.null }) do
      if s:sub(i, i + #word - 1) == word then return v, i + #word end
    end
    error("unexpected " .. (c == "" and "end" or "'" .. c .. "'") .. " at " .. i)
  end
end
M.null = setmetatable({}, { __tostring = function() return "null" end })

-- A state: the array of images; each decoded, with its text as written.
-- Returns { ids = {id,...}, by_id = {id = {raw=, obj=}} }, or nil, message.
function M.parse_state(text)
  local ok, res = pcall(function()
    local st = { ids = {}, by_id = {} }
    if text:sub(1, 1) ~= "[" then error("not an array") end
    local i = 2
    if text:sub(2, 2) == "]" then return st end
    while true do
      local start = i
      local obj
      obj, i = decode_at(text, i)
      if type(obj) ~= "table" or type(obj.id) ~= "string" then error("an image without an id") end
      st.ids[#st.ids + 1] = obj.id
      st.by_id[obj.id] = { raw = text:sub(start, i - 1), obj = obj }
      local c = text:sub(i, i)
      if c == "]" then break end
      if c ~= "," then error("bad array at " .. i) end
      i = i + 1
    end
    return st
  end)
  if ok then return res end
  return nil, tostring(res)
end

-- Fields of two states that differ, for the diagnostics.
function M.describe_diff(got, want)
  local a, ea = M.parse_state(got)
  local b, eb = M.parse_state(want)
  if not a then return "the reader's state does not parse: " .. ea end
  if not b then return "the writer's state does not parse: " .. eb end
  local out = {}
  local function show(v)
    if type(v) ~= "table" then return string.format("%q", tostring(v)) end
    local parts = {}
    for _, x in ipairs(v) do
      if type(x) == "table" then
        parts[#parts + 1] = string.format("{%s %s %s}", tostring(x.key), tostring(x.size), tostring(x.digest))
      else
        parts[#parts + 1] = tostring(x)
      end
    end
    return "[" .. table.concat(parts, " ") .. "]"
  end
  for _, id in ipairs(b.ids) do
    local ga, gb = a.by_id[id], b.by_id[id]
    if not ga then
      out[#out + 1] = "image " .. id:sub(1, 12) .. " missing"
    elseif ga.raw ~= gb.raw then
      for _, f in ipairs({ "names", "names_history", "digest", "digests", "layer", "metadata", "created", "big_data" }) do
        if show(ga.obj[f]) ~= show(gb.obj[f]) then
          out[#out + 1] = string.format("image %s %s: reader %s, c/storage %s", id:sub(1, 12), f,
            show(ga.obj[f]), show(gb.obj[f]))
        end
      end
      if #out == 0 then out[#out + 1] = "image " .. id:sub(1, 12) .. " differs in its text" end
    end
  end
  for _, id in ipairs(a.ids) do
    if not b.by_id[id] then out[#out + 1] = "image " .. id:sub(1, 12) .. " should not be there" end
  end
  return table.concat(out, "; ")
end

-- ---- the inputs --------------------------------------------------------------

local function lines(path)
  local f = io.open(path, "r")
  if not f then return {} end
  local t = {}
  for l in f:lines() do t[#t + 1] = l end
  f:close()
  return t
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function split(line)
  local t = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do t[#t + 1] = field end
  return t
end

-- The writer's log: commits[n] = {n, phase, op, state}, contents[n] =
-- {["id\tkey"] = "sha256:..\tlen"}, by_state[state] = {n, ...}, done.
function M.load_writer(path)
  local w = { commits = {}, contents = {}, by_state = {}, lockstep = 0 }
  for _, l in ipairs(lines(path)) do
    local f = split(l)
    if f[1] == "C" then
      local n = tonumber(f[2])
      w.commits[n] = { n = n, phase = f[3], op = f[4], state = f[5] }
      w.contents[n] = {}
      local list = w.by_state[f[5]] or {}
      list[#list + 1] = n
      w.by_state[f[5]] = list
      if f[3] == "lockstep" then w.lockstep = n end
      w.last = n
    elseif f[1] == "H" then
      w.contents[tonumber(f[2])][f[3] .. "\t" .. f[4]] = f[5] .. "\t" .. f[6]
    elseif f[1] == "done" then
      w.done = tonumber(f[2])
    end
  end
  return w
end

-- Reader output: reads[label] = {state=, contents={}}, errors, and the free
-- loop's S and answer lines in order.
function M.load_reader(path)
  local r = { reads = {}, errors = {}, free = {}, notes = {} }
  for _, l in ipairs(lines(path)) do
    local f = split(l)
    if f[1] == "A" then
      r.reads[f[2]] = { state = f[3], contents = {}, items = 0 }
    elseif f[1] == "AH" then
      local rd = r.reads[f[2]]
      if rd then
        rd.contents[f[3] .. "\t" .. f[4]] = f[5] .. (f[6] and "\t" .. f[6] or "")
        rd.items = rd.items + 1
      end
    elseif f[1] == "E" then
      r.errors[#r.errors + 1] = { where = f[2], code = f[3], message = f[4] }
    elseif f[1] == "S" or f[1] == "G" or f[1] == "L" or f[1] == "D" or f[1] == "B" then
      r.free[#r.free + 1] = f
    elseif l:match("^# free loop: %d+ rounds") then
      r.rounds = tonumber(l:match("(%d+) rounds"))
    end
  end
  return r
end

-- ---- checks --------------------------------------------------------------------

-- Per-commit indexes for the answers, decoded on first use.
local function indexer(w)
  local cache = {}
  return function(n)
    if cache[n] then return cache[n] end
    local st = assert(M.parse_state(w.commits[n].state))
    local names, digests = {}, {}
    for _, id in ipairs(st.ids) do
      local obj = st.by_id[id].obj
      for _, name in ipairs(obj.names) do names[name] = id end
      for _, d in ipairs(obj.digests) do
        digests[d] = digests[d] or {}
        table.insert(digests[d], id)
      end
    end
    for _, ids in pairs(digests) do table.sort(ids) end
    cache[n] = { st = st, names = names, digests = digests, contents = w.contents[n] }
    return cache[n]
  end
end

-- Whether one free-loop answer (G/L/D/B fields) holds in commit n.
local function answer_holds(ix, f)
  local kind = f[1]
  if kind == "G" then
    local img = ix.st.by_id[f[2]]
    if f[3] == "ERR ENOTFOUND" then return img == nil end
    return img ~= nil and img.raw == f[3]
  elseif kind == "L" then
    local owner = ix.names[f[2]]
    if f[3] == "ERR ENOTFOUND" then return owner == nil end
    return owner == f[3]
  elseif kind == "D" then
    return table.concat(ix.digests[f[2]] or {}, ",") == (f[3] or "")
  else -- B id key answer
    local have = ix.contents[f[2] .. "\t" .. f[3]]
    if f[4] == "ERR ENOTFOUND" then return have == nil end
    return have ~= nil and have == f[4] .. "\t" .. (f[5] or "")
  end
end

local function same_contents(got, want)
  local bad = {}
  for k, v in pairs(want) do
    if got[k] ~= v then bad[#bad + 1] = string.format("%s: reader %s, c/storage %s", k, tostring(got[k]), v) end
  end
  for k, v in pairs(got) do
    if want[k] == nil then bad[#bad + 1] = string.format("%s: reader %s, c/storage has no such item", k, v) end
  end
  table.sort(bad)
  return bad
end

-- ---- base64 (containers/storage's makeBigDataBaseName) -------------------------------

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 3, 0, -1 do
      local v = (n >> (6 * k)) & 63
      q[#q + 1] = b64:sub(v + 1, v + 1)
    end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end
function M.big_data_base_name(key)
  if key:match("^[.0-9a-z]*$") then return key end
  return "=" .. base64(key)
end

-- ---- main ------------------------------------------------------------------------

function M.run(work, out)
  out = out or io.write
  local results = {}
  local function tap(ok, desc, diag)
    results[#results + 1] = ok
    out(string.format("%s %d - %s\n", ok and "ok" or "not ok", #results, desc))
    for _, d in ipairs(diag or {}) do out("#   " .. d .. "\n") end
  end
  local function rc(name) return tonumber((read(work .. "/" .. name) or ""):match("%d+")) end
  local dir = ((read(work .. "/dir.txt") or "?"):gsub("%s+$", ""))

  local w = M.load_writer(work .. "/writer.log")
  local r = M.load_reader(work .. "/reader.log")
  local T, N = w.last or 0, w.lockstep
  local ix = indexer(w)
  local free_n = T - N

  -- 1. the writer
  local wdiag = {}
  if rc("writer.rc") ~= 0 then wdiag[#wdiag + 1] = "cswriter exited with status " .. tostring(rc("writer.rc")) end
  if w.done ~= T or T == 0 then wdiag[#wdiag + 1] = "writer.log has no \"done\" line for its last step" end
  for _, l in ipairs(lines(work .. "/writer.err")) do wdiag[#wdiag + 1] = "cswriter: " .. l end
  tap(#wdiag == 0 and T > 0, string.format(
    "containers/storage (cswriter, vfs driver) committed %d lockstep and %d free-running steps", N, free_n), wdiag)

  -- 2. the open
  local open_err
  for _, e in ipairs(r.errors) do if e.where == "open" then open_err = e end end
  tap(open_err == nil and next(r.reads) ~= nil,
    "the reader opens <graph root>/vfs-images read-only (new_image_store(false, true, ...))" ..
    (open_err and (": " .. open_err.code .. ": " .. open_err.message) or ""),
    open_err == nil and next(r.reads) == nil and { "the reader made no read" } or nil)

  -- 3, 4. lockstep
  local diag3, diag4, items = {}, {}, 0
  for n = 1, N do
    local got = r.reads[tostring(n)]
    local c = w.commits[n]
    if not got then
      if #diag3 < 5 then diag3[#diag3 + 1] = string.format("step %d (%s): no read", n, c.op) end
    elseif got.state ~= c.state then
      if #diag3 < 5 then
        local why = got.state:match("^ERR") and got.state or M.describe_diff(got.state, c.state)
        if n > 1 and got.state == w.commits[n - 1].state then why = "the state before it (stale); " .. why end
        diag3[#diag3 + 1] = string.format("step %d (%s): %s", n, c.op, why)
      end
    end
    if got then
      items = items + got.items
      for _, b in ipairs(same_contents(got.contents, w.contents[n])) do
        if #diag4 < 5 then diag4[#diag4 + 1] = string.format("step %d: %s", n, b) end
      end
    end
  end
  local bad3 = 0
  for n = 1, N do
    local got = r.reads[tostring(n)]
    if not got or got.state ~= w.commits[n].state then bad3 = bad3 + 1 end
  end
  if bad3 > 0 then table.insert(diag3, 1, string.format("%d of %d steps differ", bad3, N)) end
  tap(N > 0 and bad3 == 0, string.format(
    "lockstep: after each of the %d writes the reader's next images() is exactly that write's state", N), diag3)
  tap(N > 0 and bad3 < N and #diag4 == 0, string.format(
    "lockstep: the big-data bytes the reader returns (%d items) equal containers/storage's ImageBigData", items), diag4)

  -- 5, 6, 7. free-running
  local cur, states, distinct, seen = N, 0, 0, {}
  local diag5, diag6, diag7 = {}, {}, {}
  local bad5, bad6, bad7, answers = 0, 0, 0, 0
  local lo, pending = N, {}
  local function settle(hi)
    for _, f in ipairs(pending) do
      answers = answers + 1
      local ok = false
      hi = math.max(hi, lo) -- after a step back in time (check 6), the window [lo, lo]
      for n = math.max(lo, 1), math.min(hi, T) do
        if answer_holds(ix(n), f) then ok = true break end
      end
      if not ok then
        bad7 = bad7 + 1
        if #diag7 < 5 then
          diag7[#diag7 + 1] = string.format("%s %s -> %s: in no state committed between steps %d and %d",
            f[1], f[2] .. (f[1] == "B" and " " .. f[3] or ""), table.concat(f, " ", f[1] == "B" and 4 or 3), lo, hi)
        end
      end
    end
    pending = {}
  end
  for _, f in ipairs(r.free) do
    if f[1] == "S" then
      states = states + 1
      if not seen[f[2]] then seen[f[2]] = true; distinct = distinct + 1 end
      local list = w.by_state[f[2]]
      if not list then
        bad5 = bad5 + 1
        if #diag5 < 3 then
          -- the nearest commit at or after the current one, for the diff
          local near = w.commits[math.min(cur + 1, T)] or w.commits[T]
          diag5[#diag5 + 1] = string.format("a state no commit has (after step %d); against step %d: %s",
            cur, near and near.n or 0, near and M.describe_diff(f[2], near.state) or "")
        end
        settle(T)
      else
        local pick, hi
        for _, n in ipairs(list) do
          if n >= cur and not pick then pick = n end
          hi = n
        end
        settle(hi)
        if not pick then
          bad6 = bad6 + 1
          if #diag6 < 3 then
            diag6[#diag6 + 1] = string.format("after step %d's state the reader saw step %d's", cur, list[#list])
          end
        else
          cur = pick
        end
        lo = cur
      end
    else
      pending[#pending + 1] = f
    end
  end
  settle(T)
  local rounds = r.rounds and string.format(" in %d round%s", r.rounds, r.rounds == 1 and "" or "s") or ""
  tap(states > 0 and bad5 == 0, string.format(
    "free-running: each of the %d states the reader observed (%d distinct, of %d commits)%s is one containers/storage committed",
    states, distinct, free_n + 1, rounds), states == 0 and { "the reader observed no state" } or diag5)
  tap(states > 0 and bad6 == 0, "free-running: the reader's states follow the commit order (never an older one after a newer one)",
    states == 0 and { "the reader observed no state" } or diag6)
  tap(answers > 0 and bad7 == 0, string.format(
    "free-running: the %d get/lookup/by_digest/big_data_len answers each match a state committed between the images() calls around them",
    answers), answers == 0 and { "the reader gave no answer" } or diag7)

  -- 8. the final read in the serve process
  local fin, diag8 = r.reads.final, {}
  if not fin then
    diag8[1] = "no final read"
  else
    if fin.state ~= (w.commits[T] or {}).state then diag8[#diag8 + 1] = M.describe_diff(fin.state, w.commits[T].state) end
    for _, b in ipairs(same_contents(fin.contents, w.contents[T] or {})) do diag8[#diag8 + 1] = b end
  end
  tap(T > 0 and #diag8 == 0, "free-running: after the writer's last commit the reader's next read is its final state, big data included", diag8)

  -- 9. failed calls
  local diag9 = {}
  for _, e in ipairs(r.errors) do diag9[#diag9 + 1] = string.format("%s: %s: %s", e.where, e.code, e.message) end
  for _, name in ipairs({ "reader.rc", "dumps.rc", "loop.rc" }) do
    if rc(name) ~= 0 then diag9[#diag9 + 1] = string.format("%s: exit status %s", name, tostring(rc(name))) end
  end
  tap(#diag9 == 0, "the reader made no failed call and every reader process exited 0", diag9)

  -- 10. fresh reads on the quiesced store
  local diag10, dumps = {}, 0
  for k = 1, 9 do
    local path = string.format("%s/dump%d.out", work, k)
    if not read(path) then break end
    dumps = dumps + 1
    local d = M.load_reader(path)
    local got = d.reads.dump
    if not got then
      diag10[#diag10 + 1] = string.format("dump %d: no read%s", k, d.errors[1] and (": " .. d.errors[1].code .. ": " .. d.errors[1].message) or "")
    else
      if got.state ~= (w.commits[T] or {}).state then
        diag10[#diag10 + 1] = string.format("dump %d: %s", k, M.describe_diff(got.state, w.commits[T].state))
      end
      for _, b in ipairs(same_contents(got.contents, w.contents[T] or {})) do
        diag10[#diag10 + 1] = string.format("dump %d: %s", k, b)
      end
    end
  end
  tap(T > 0 and dumps > 0 and #diag10 == 0, string.format(
    "quiesced: %d fresh read-only opens each read containers/storage's final state and big data", dumps), diag10)

  -- 11, 12. the tree
  local function same_tree(a, b)
    local ta, tb = lines(work .. "/" .. a), lines(work .. "/" .. b)
    local diag, set = {}, {}
    if #ta == 0 then return { a .. " is empty" } end
    for _, l in ipairs(ta) do set[l] = (set[l] or 0) + 1 end
    for _, l in ipairs(tb) do
      if set[l] and set[l] > 0 then set[l] = set[l] - 1
      elseif #diag < 6 then diag[#diag + 1] = "after:  " .. l end
    end
    for _, l in ipairs(ta) do
      if set[l] and set[l] > 0 and #diag < 12 then diag[#diag + 1] = "before: " .. l; set[l] = 0 end
    end
    return diag
  end
  local diag11 = same_tree("tree-before.txt", "tree-after-dumps.txt")
  tap(#diag11 == 0, string.format(
    "quiesced: the store's tree (paths, types, modes, sizes, contents, mtimes, ctimes, inodes) is unchanged by the %d reads", dumps), diag11)

  local lp = M.load_reader(work .. "/loop.out")
  local diag12 = same_tree("tree-after-dumps.txt", "tree-after-loop.txt")
  local loop_answers, loop_states = 0, 0
  for _, f in ipairs(lp.free) do
    if f[1] == "S" then
      loop_states = loop_states + 1
      if f[2] ~= (w.commits[T] or {}).state and #diag12 < 12 then
        diag12[#diag12 + 1] = "loop: images() differs from the final state: " .. M.describe_diff(f[2], w.commits[T].state)
      end
    else
      loop_answers = loop_answers + 1
      if T > 0 and not answer_holds(ix(T), f) and #diag12 < 12 then
        diag12[#diag12 + 1] = "loop: " .. table.concat(f, " ") .. ": not so in the final state"
      end
    end
  end
  if loop_states == 0 then diag12[#diag12 + 1] = "the loop observed no state" end
  for _, e in ipairs(lp.errors) do diag12[#diag12 + 1] = string.format("loop: %s: %s: %s", e.where, e.code, e.message) end
  tap(#diag12 == 0, string.format(
    "quiesced: a reader-only loop (images, get, lookup, by_digest, big_data_len: %d distinct answers) answers from the final state and leaves the tree unchanged",
    loop_answers), diag12)

  -- 13. nothing but c/storage's files
  -- (c/storage makes an image's directory with its first big-data item)
  local diag13, want = {}, { ["images.json"] = "required", ["images.lock"] = "required" }
  local final = T > 0 and M.parse_state(w.commits[T].state)
  if final then
    for _, id in ipairs(final.ids) do
      local items = final.by_id[id].obj.big_data
      want[id] = #items > 0 and "required" or "allowed"
      for _, bd in ipairs(items) do want[id .. "/" .. M.big_data_base_name(bd.key)] = "required" end
    end
  end
  local have = {}
  for _, l in ipairs(lines(work .. "/images-dir.txt")) do
    have[l] = true
    if not want[l] and #diag13 < 8 then diag13[#diag13 + 1] = "unexpected: " .. l end
  end
  for p, how in pairs(want) do
    if how == "required" and not have[p] and #diag13 < 8 then diag13[#diag13 + 1] = "missing: " .. p end
  end
  table.sort(diag13)
  tap(final and #diag13 == 0, "after every read, <graph root>/vfs-images" ..
    " holds only containers/storage's files (images.json, images.lock, each image's big-data files)", diag13)

  out(string.format("1..%d\n", #results))
  for _, ok in ipairs(results) do if not ok then return 1, results end end
  return 0, results
end

if select("#", ...) > 0 then
  local status = M.run((...))
  os.exit(status)
end
return M
