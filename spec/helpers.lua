-- Helpers shared by the specs: temporary directories, fixture copies, file
-- access, a tree hash that proves "nothing on disk changed", random IDs, a
-- small base64 encoder for the big-data file name rule, and the aimed kills
-- of the random-kill specs.
--
-- Every directory made by tmpdir() is removed by cleanup(); a spec calls
-- `after_each(helpers.cleanup)`.
--
-- Fixtures are never opened in place: copy_fixture() copies them into a
-- temporary directory first, so no spec can change them.

local M = {}

local created_dirs = {}

-- Quotes s for /bin/sh.
local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = q

-- Runs a shell command and returns its whole stdout; raises when it fails.
local function run(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  if not ok then
    error(string.format("command failed (%s %s): %s", tostring(how), tostring(code), cmd), 2)
  end
  return out
end
M.run = run

local function execute(cmd)
  local ok, how, code = os.execute(cmd)
  if not ok then
    error(string.format("command failed (%s %s): %s", tostring(how), tostring(code), cmd), 2)
  end
end
M.execute = execute

-- The repository root is the working directory when busted runs.
M.fixtures_dir = os.getenv("IMAGESTORE_FIXTURES") or "spec/fixtures"

-- Makes a fresh temporary directory that cleanup() removes.
function M.tmpdir()
  local base = os.getenv("TMPDIR")
  if base == nil or base == "" then base = "/tmp" end
  local dir = run("mktemp -d " .. q(base .. "/imagestore-spec-XXXXXXXX")):gsub("%s+$", "")
  assert(dir ~= "" and dir:sub(1, 1) == "/", "mktemp gave no directory")
  created_dirs[#created_dirs + 1] = dir
  return dir
end

-- Removes a directory tree (permissions restored first so that removal also
-- works for a non-root user after a test made something read-only).
function M.rm_rf(path)
  assert(type(path) == "string" and path ~= "" and path ~= "/", "refusing to remove " .. tostring(path))
  os.execute("chmod -R u+rwx " .. q(path) .. " 2>/dev/null")
  execute("rm -rf " .. q(path))
end

-- Removes every directory made by tmpdir() since the last cleanup.
function M.cleanup()
  collectgarbage("collect") -- close stores the test left for the GC
  for i = #created_dirs, 1, -1 do
    M.rm_rf(created_dirs[i])
    created_dirs[i] = nil
  end
end

-- Path of a fixture, relative to the fixtures directory.
function M.fixture_path(rel)
  return M.fixtures_dir .. "/" .. rel
end

-- Copies the fixture directory `rel` (e.g. "isulad/overlay-images") to
-- `dest` (must not exist yet; default: <new tmpdir>/<basename>). The copy is
-- made writable for its owner. Returns dest.
function M.copy_fixture(rel, dest)
  local src = M.fixture_path(rel)
  assert(M.is_dir(src), "fixture not found: " .. src)
  if dest == nil then
    dest = M.tmpdir() .. "/" .. rel:match("([^/]+)/*$")
  end
  execute("cp -a " .. q(src) .. " " .. q(dest))
  execute("chmod -R u+w " .. q(dest))
  return dest
end

-- The bytes of a file, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

-- Writes bytes to a file (creates or truncates it).
function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

function M.mkdir(path)
  execute("mkdir -p " .. q(path))
end

function M.exists(path)
  return os.execute("test -e " .. q(path) .. " || test -L " .. q(path)) == true
end

function M.is_dir(path)
  return os.execute("test -d " .. q(path)) == true
end

function M.is_file(path)
  return os.execute("test -f " .. q(path)) == true
end

-- Sorted names of the entries of a directory (including dot files, without
-- "." and ".."), or nil when the directory cannot be listed.
function M.list_dir(path)
  if not M.is_dir(path) then return nil end
  local out = run("ls -A1 " .. q(path))
  local names = {}
  for name in out:gmatch("[^\n]+") do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- Like list_dir, without the entries whose name starts with "." (the
-- contract reserves those for the store's own temp and lock files).
function M.list_visible(path)
  local names = M.list_dir(path)
  if not names then return nil end
  local visible = {}
  for _, name in ipairs(names) do
    if name:sub(1, 1) ~= "." then visible[#visible + 1] = name end
  end
  return visible
end

-- Every path below dir, relative to it, sorted.
function M.find_all(dir)
  local out = run("cd " .. q(dir) .. " && find . -mindepth 1 -printf '%P\\n' | LC_ALL=C sort")
  local paths = {}
  for p in out:gmatch("[^\n]+") do paths[#paths + 1] = p end
  return paths
end

-- The permission bits of a path, as `stat -c %a` prints them ("700").
function M.mode(path)
  return (run("stat -c %a " .. q(path)):gsub("%s+$", ""))
end

-- A hash over the whole tree below dir: every entry's relative name, type,
-- mode and size, every file's modification time and contents. Equal hashes
-- mean nothing was created, removed, rewritten or chmod-ed.
function M.tree_hash(dir)
  assert(M.is_dir(dir), "tree_hash: not a directory: " .. tostring(dir))
  local cmd = "cd " .. q(dir) .. " && { "
    .. "find . -printf '%p|%y|%m|%s\\n' | LC_ALL=C sort; "
    .. "find . -type f -printf '%p|%T@\\n' | LC_ALL=C sort; "
    .. "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; "
    .. "} | sha256sum"
  return (run(cmd):match("^(%x+)"))
end

-- sha256 of a file as "sha256:<hex>", computed by sha256sum (independent of
-- the implementation under test).
function M.file_sha256(path)
  local out = run("sha256sum " .. q(path))
  return "sha256:" .. assert(out:match("^(%x+)"))
end

-- sha256 of a string as "sha256:<hex>", computed by sha256sum.
function M.sha256_of(data)
  local dir = M.tmpdir()
  M.write_file(dir .. "/data", data)
  return M.file_sha256(dir .. "/data")
end

-- A random image ID: 64 lowercase hex characters; `prefix` (hex) is kept.
function M.random_id(prefix)
  prefix = prefix or ""
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(32)
  f:close()
  local hex = bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return (prefix .. hex):sub(1, 64)
end

-- Standard base64 with padding.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = (n >> 18) & 63
    local c2 = (n >> 12) & 63
    local c3 = (n >> 6) & 63
    local c4 = n & 63
    out[#out + 1] = B64:sub(c1 + 1, c1 + 1) .. B64:sub(c2 + 1, c2 + 1)
      .. (b and B64:sub(c3 + 1, c3 + 1) or "=")
      .. (c and B64:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

-- The big-data file name of a key (docs/contract.md "Layout").
function M.big_data_file_name(key)
  if key:match("^[%.0-9a-z]+$") then return key end
  return "=" .. M.base64(key)
end

-- Reads and decodes a JSON file with dkjson; JSON null becomes json.null.
function M.read_json(path)
  local json = require("dkjson")
  local text = assert(M.read_file(path), "cannot read " .. path)
  local value, _, err = json.decode(text, 1, json.null)
  assert(err == nil, "bad JSON in " .. path .. ": " .. tostring(err))
  return value
end

function M.encode_json(value)
  local json = require("dkjson")
  return json.encode(value)
end

-- Sorted copy of an array of strings.
function M.sorted(list)
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  table.sort(copy)
  return copy
end

-- Sorted list of the ids of an array of image tables.
function M.ids(images)
  local ids = {}
  for i, img in ipairs(images) do ids[i] = img.id end
  table.sort(ids)
  return ids
end

-- Number of open file descriptors of this Lua process. The listing runs in
-- the shell io.popen starts, whose parent ($PPID) is this process.
function M.open_fds()
  local out = run("ls -A1 /proc/$PPID/fd")
  local n = 0
  for _ in out:gmatch("[^\n]+") do n = n + 1 end
  return n
end

-- Entries anywhere below dir whose name starts with ".tmp".
function M.temp_leftovers(dir)
  local found = {}
  for _, p in ipairs(M.find_all(dir)) do
    local base = p:match("([^/]+)$")
    if base:sub(1, 4) == ".tmp" then found[#found + 1] = p end
  end
  return found
end

-- The RFC 3339 UTC format the store writes: 9 fractional digits and "Z".
M.TIME_PATTERN = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%d%d%d%dZ$"

-- Seconds since the epoch of a "YYYY-MM-DDTHH:MM:SS..." UTC string.
function M.epoch_of(utc)
  local y, mo, d, h, mi, s = utc:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)")
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  -- days from civil (Howard Hinnant's algorithm)
  y = mo <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + h * 3600 + mi * 60 + s
end

-- Starts `lua script args...` in another process (the interpreter the run
-- uses: IMAGESTORE_LUA, which preloads ASan in the sanitizer pass), ended by
-- timeout(1) if it hangs; its stdout and stderr come through the handle.
function M.spawn_lua(script, ...)
  local args = { "timeout", "300", os.getenv("IMAGESTORE_LUA") or "lua5.4", q(script) }
  for _, a in ipairs({ ... }) do args[#args + 1] = q(tostring(a)) end
  return assert(io.popen(table.concat(args, " ") .. " 2>&1", "r"))
end

-- Runs a Lua chunk in another process (spawn_lua) with `st` open on dir;
-- its output. Raises when the child fails.
function M.in_child(dir, code)
  local script = M.tmpdir() .. "/child.lua"
  M.write_file(script, 'local imagestore = require("imagestore")\n' ..
    'local st = assert(imagestore.open(arg[1]))\n' .. code .. '\nst:close()\n')
  local p = M.spawn_lua(script, dir)
  local out = p:read("a")
  local ok, how, status = p:close()
  assert(ok, ("child failed (%s %s): %s"):format(tostring(how), tostring(status), out))
  return out
end

-- For the random-kill specs (resilience_spec, batch_spec). A child process
-- stamps each progress line with system.monotime(), which is CLOCK_MONOTONIC
-- and so one clock for every process: the parent knows when the child began
-- an operation and, from earlier ones, how long such an operation takes.

-- The median of a list of numbers; nil for an empty list.
function M.median(list)
  if #list == 0 then return nil end
  local sorted = {}
  for i, v in ipairs(list) do sorted[i] = v end
  table.sort(sorted)
  return sorted[(#sorted + 1) // 2]
end

-- How long kill(1) took to start (the shell's fork and exec), the last ones.
local kill_delays = {}

-- Sends SIGKILL to pid at a moment drawn uniformly from the `span` seconds
-- after `began` (a system.monotime() reading, possibly another process's),
-- starting kill(1) that much earlier than the moment as it usually takes to
-- run; at once when that moment has passed. Returns whether kill(1)
-- succeeded: false means the process was already gone.
function M.kill_within(pid, began, span)
  local system = require("system")
  local wait = began + math.random() * span - (M.median(kill_delays) or 0) - system.monotime()
  if wait > 0 then system.sleep(wait) end
  local t0 = system.monotime()
  local ok = os.execute("kill -9 " .. tostring(pid)) == true
  table.insert(kill_delays, system.monotime() - t0)
  if #kill_delays > 50 then table.remove(kill_delays, 1) end
  return ok
end

-- Sends SIGKILL to pid the moment `path` exists, watched by a shell loop (a
-- few microseconds a turn, and kill is a builtin: no fork between seeing the
-- path and the signal). The process is reniced to 19 first, so that on a
-- busy machine it yields its CPU to the watcher rather than the other way
-- round. Gives up watching after `turns` turns and kills then. Returns
-- whether kill(1) succeeded and whether the path had appeared.
function M.kill_when_exists(pid, path, turns)
  local watch = assert(io.popen(("renice -n 19 -p %d >/dev/null; i=0; "
    .. "while [ ! -e %s ] && [ $i -lt %d ]; do i=$((i+1)); done; "
    .. "kill -9 %d && echo killed; [ $i -lt %d ] && echo appeared"):format(pid, q(path), turns, pid, turns), "r"))
  local out = watch:read("a")
  watch:close()
  return out:find("killed", 1, true) ~= nil, out:find("appeared", 1, true) ~= nil
end

-- Tar archives written byte by byte (ustar headers), for hostile archives
-- that no tool would write (tar_spec, import_spec).

-- One ustar header block: name, size, type flag ("0" file, "2" symlink,
-- "1" hard link, "5" directory), link target; size_field overrides the
-- octal size text (a header that lies).
function M.tar_header(name, size, typeflag, link, size_field)
  local function field(s, n) return s .. string.rep("\0", n - #s) end
  local function octal(v, n) return ("%0" .. (n - 1) .. "o"):format(v) .. "\0" end
  local h = field(name, 100) .. octal(420, 8) .. octal(0, 8) .. octal(0, 8)
    .. (size_field or octal(size, 12)) .. octal(0, 12) .. "        " .. (typeflag or "0")
    .. field(link or "", 100) .. "ustar\0" .. "00" .. field("", 32) .. field("", 32)
    .. octal(0, 8) .. octal(0, 8) .. field("", 155) .. field("", 12)
  assert(#h == 512)
  local sum = 0
  for i = 1, 512 do sum = sum + h:byte(i) end
  return h:sub(1, 148) .. ("%06o\0 "):format(sum) .. h:sub(157)
end

-- data padded to whole 512-byte blocks
function M.tar_pad(data) return data .. string.rep("\0", (512 - #data % 512) % 512) end

-- A tar of {name, data [, typeflag, link]} entries.
function M.tar_archive(entries)
  local parts = {}
  for _, e in ipairs(entries) do
    local data = e[2] or ""
    parts[#parts + 1] = M.tar_header(e[1], #data, e[3], e[4])
    parts[#parts + 1] = M.tar_pad(data)
  end
  parts[#parts + 1] = string.rep("\0", 1024)
  return table.concat(parts)
end

-- busted's assertions (a spec's `assert`; this module's own global is Lua's)
local luassert = require("luassert")

-- Asserts that a call failed with exactly (nil, message, code) and nothing more.
function M.fails(code, message, ok, msg, c, ...)
  luassert.is_nil(ok, "expected a failure, got " .. tostring(ok))
  luassert.are.equal(message, msg)
  luassert.are.equal(code, c)
  luassert.are.equal(0, select("#", ...), "extra results after the code")
end

-- The error a call raised, without the "file:line: " position.
function M.raised(fn, ...)
  local ok, err = pcall(fn, ...)
  luassert.is_false(ok, "expected an error to be raised")
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

-- The globals that loading module's file anew defines (a list, sorted); the
-- fresh module table must be a table.
function M.globals_added(module)
  local path = assert(package.searchpath(module, package.path))
  local before = {}
  for k in pairs(_G) do before[k] = true end
  luassert.is_table(dofile(path))
  local added = {}
  for k in pairs(_G) do
    if not before[k] then added[#added + 1] = tostring(k) end
  end
  table.sort(added)
  return added
end

-- Asserts that a call returned true.
function M.succeeds(ok, msg, code)
  luassert.are.equal(true, ok, "expected true, got " .. tostring(ok) .. ": " .. tostring(msg) .. " " .. tostring(code))
end

-- st:create(t), which must succeed; the image.
function M.create(st, t)
  local img, msg, code = st:create(t or {})
  assert(img, "create failed: " .. tostring(msg) .. " " .. tostring(code))
  return img
end

return M
