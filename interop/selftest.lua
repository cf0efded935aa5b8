-- interop/selftest.lua: a fake reader for `interop/run --self-test`. It speaks
-- interop/reader.c's protocol and command line, but makes its answers up from
-- what the writer logged ($INTEROP_WRITER_LOG), honestly or, by MODE
-- ($INTEROP_FAKE), wrong in one way, so that the self-test can see each of
-- interop/check.lua's assertions fire:
--   honest        every answer right
--   mixed         one free-running state made of two commits' images
--   stale         one lockstep answer is the state before that write
--   backwards     an older state after the newest
--   wrong-bytes   one big-data item's sha256 differs in lockstep
--   stale-lookup  a lookup answers with another image's ID
--   writes        each fresh read leaves a file in the store directory
--   open-fails    the open fails ELAYOUT (no read at all)
--
--   lua5.4 interop/selftest.lua DIR serve LOG | DIR dump | DIR loop N
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local check = dofile(here .. "/check.lua")
local mode = os.getenv("INTEROP_FAKE") or "honest"
local wlog = assert(os.getenv("INTEROP_WRITER_LOG"), "INTEROP_WRITER_LOG is not set")
local dir, cmd = arg[1], arg[2]

local function writer() return check.load_writer(wlog) end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- A/AH lines for commit n of w, as label.
local function read_lines(out, w, n, label)
  local state, contents = w.commits[n].state, w.contents[n]
  if mode == "stale" and label == "30" then state = w.commits[n - 1].state end
  out:write("A\t", label, "\t", state, "\n")
  for i, k in ipairs(sorted_keys(contents)) do
    local v = contents[k]
    if mode == "wrong-bytes" and label == "40" and i == 1 then
      v = "sha256:" .. string.rep("0", 64) .. "\t" .. v:match("\t(%d+)$")
    end
    out:write("AH\t", label, "\t", k, "\t", v, "\n")
  end
end

-- S and the answers for commit n (what a loop round over every image logs).
local function free_lines(out, w, n)
  local st = assert(check.parse_state(w.commits[n].state))
  out:write("S\t", w.commits[n].state, "\n")
  for _, id in ipairs(st.ids) do
    local obj = st.by_id[id].obj
    out:write("G\t", id, "\t", st.by_id[id].raw, "\n")
    for _, name in ipairs(obj.names) do out:write("L\t", name, "\t", id, "\n") end
    for _, d in ipairs(obj.digests) do
      local ids = {}
      for _, other in ipairs(st.ids) do
        for _, d2 in ipairs(st.by_id[other].obj.digests) do
          if d2 == d then ids[#ids + 1] = other end
        end
      end
      out:write("D\t", d, "\t", table.concat(ids, ","), "\n")
    end
    for _, bd in ipairs(obj.big_data) do
      out:write("B\t", id, "\t", bd.key, "\t", w.contents[n][id .. "\t" .. bd.key], "\n")
    end
  end
end

-- A state with the first image of commit a replaced by its version in b.
local function mixed(w, a, b)
  local sa = assert(check.parse_state(w.commits[a].state))
  local sb = assert(check.parse_state(w.commits[b].state))
  local parts, swapped = {}, false
  for _, id in ipairs(sa.ids) do
    local raw = sa.by_id[id].raw
    if not swapped and sb.by_id[id] and sb.by_id[id].raw ~= raw then
      raw, swapped = sb.by_id[id].raw, true
    end
    parts[#parts + 1] = raw
  end
  return "[" .. table.concat(parts, ",") .. "]", swapped
end

local function free_phase(out, w)
  local first, last = w.lockstep + 1, w.last
  for n = first, last, 2 do
    free_lines(out, w, n)
    if mode == "mixed" and n == first + 10 then
      for b = n + 2, last do
        local s, ok = mixed(w, n, b)
        if ok and not w.by_state[s] then out:write("S\t", s, "\n") break end
      end
    end
  end
  free_lines(out, w, last)
  if mode == "stale-lookup" then
    local st = assert(check.parse_state(w.commits[last].state))
    for _, id in ipairs(st.ids) do
      local name = st.by_id[id].obj.names[1]
      if name then
        local other = st.ids[1] == id and st.ids[2] or st.ids[1]
        out:write("L\t", name, "\t", other, "\n")
        break
      end
    end
  end
  if mode == "backwards" then out:write("S\t", w.commits[first].state, "\n") end
  out:write("# free loop: 1 rounds\n")
end

local function open_fails(out)
  out:write("E\topen\tELAYOUT\t", dir, " holds containers/storage's layout (images.json): ",
    "the fake reader cannot read it\n")
end

if cmd == "serve" then
  local out = assert(io.open(arg[3], "w"))
  local n_free
  for line in io.lines() do
    local step = line:match("^step (%d+)$")
    if step then
      if mode == "open-fails" then
        if step == "1" then open_fails(out) end
      else
        read_lines(out, writer(), tonumber(step), step)
      end
      out:flush()
      io.write("ack ", step, "\n")
      io.flush()
    elseif line == "free" then
      n_free = true
    elseif line == "end" then
      local w = writer()
      if mode ~= "open-fails" then
        if n_free then free_phase(out, w) end
        read_lines(out, w, w.last, "final")
      end
      out:close()
      io.write("bye\n")
      io.flush()
      os.exit(mode == "open-fails" and 3 or 0)
    end
  end
  os.exit(1)
elseif cmd == "dump" or cmd == "loop" then
  if mode == "open-fails" then open_fails(io.stdout) os.exit(3) end
  local w = writer()
  if cmd == "dump" then
    read_lines(io.stdout, w, w.last, "dump")
    if mode == "writes" then assert(io.open(dir .. "/.imagestore.lock", "w")):close() end
  else
    free_lines(io.stdout, w, w.last)
  end
  os.exit(0)
end
io.stderr:write("usage: selftest.lua DIR serve LOG | DIR dump | DIR loop N\n")
os.exit(1)
