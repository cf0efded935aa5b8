-- bench/bench.lua: the Lua side of the benchmark (issue #3): the same phases
-- and workload as bench/bench.c and the containers/storage peer, through
-- require("imagestore"). One process per phase; one JSON line per phase.
--
--   lua5.4 bench/bench.lua create DIR N [calls|image-batch|batch [CHUNK]]
--   lua5.4 bench/bench.lua read   DIR N
--     phases: open, open+list, images-per-image (the images() call of
--     open+list, per image table), table-floor (the same tables built by a
--     Lua constructor: Lua's own cost for them), lookup-name, lookup-id-prefix, by-digest,
--     big-data-read, big-data-read-config, get (st:get by full ID: one image
--     table per call; last, so that the phases before it run as they did)
--   lua5.4 bench/bench.lua delete DIR N
--   lua5.4 bench/bench.lua import DIR N
--     phases: import-oci-layout, import-containers-storage (images/s): N
--     images imported by require("imagestore.import") into an empty store,
--     from an OCI layout and from a containers/storage images directory
--     written here before the clock (the workload's names, a 1.5 KB config,
--     a manifest and one tiny layer each)
--
-- Needs the bench_clock C module (bench/lua_clock.c, built by `make bench`)
-- on LUA_CPATH for a wall clock.
local imagestore = require("imagestore")
local clock = require("bench_clock")

local IMPL = "imagestore-lua"
local now = clock.now

local function die(what, msg, code)
  io.stderr:write(("bench.lua: %s: %s (%s)\n"):format(what, tostring(msg), tostring(code)))
  os.exit(1)
end

local function check(what, ok, msg, code)
  if ok == nil or ok == false then die(what, msg, code) end
  return ok
end

local function report(phase, n, seconds, ops, extra)
  local line = ('{"impl":"%s","phase":"%s","n":%d,"seconds":%.9f,"per_op_us":%.4f'):format(
    IMPL, phase, n, seconds, seconds * 1e6 / ops)
  for _, kv in ipairs(extra or {}) do
    local v = kv[2]
    local fmt = type(v) == "string" and ',"%s":"%s"'
      or math.type(v) == "integer" and ',"%s":%d' or ',"%s":%.1f'
    line = line .. fmt:format(kv[1], v)
  end
  io.stdout:write(line, "}\n")
  io.stdout:flush()
end

-- The workload, computed before any clock starts.
local function workload(n)
  local w = { id = {}, name = {}, manifest = {}, digest = {}, prefix = {}, config_key = {},
              config = ("c"):rep(1500) }
  for i = 0, n - 1 do
    local id = imagestore.sha256("image-" .. i):sub(8)
    local m = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
      .. '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'
      .. id .. '","size":1500},"layers":[]}'
    w.id[i] = id
    w.name[i] = "example.com/repo" .. i .. ":tag"
    w.manifest[i] = m
    w.digest[i] = imagestore.sha256(m)
    w.prefix[i] = id:sub(1, 12)
    w.config_key[i] = "sha256:" .. id
  end
  return w
end

local function open(dir)
  local st, msg, code = imagestore.open(dir)
  if not st then die("open " .. dir, msg, code) end
  return st
end

local function create_one(st, w, i)
  check("create", st:create{ id = w.id[i], names = { w.name[i] }, metadata = "{}" })
  check("set_big_data manifest", st:set_big_data(w.id[i], "manifest", w.manifest[i]))
  check("set_big_data config", st:set_big_data(w.id[i], w.config_key[i], w.config))
end

local function create(dir, n, mode, chunk)
  local phase = "create-" .. mode
  if mode ~= "calls" and mode ~= "image-batch" and mode ~= "batch" then
    io.stderr:write("bench.lua: unknown create mode ", mode, "\n")
    os.exit(2)
  end
  local w = workload(n)
  local st = open(dir)
  if mode ~= "calls" and type(st.batch) ~= "function" then
    io.stdout:write(('{"impl":"%s","phase":"%s","n":%d,"error":"the Lua binding has no st:batch"}\n')
      :format(IMPL, phase, n))
    io.stderr:write("bench.lua: ", phase, " needs st:batch, which this binding lacks\n")
    os.exit(3)
  end
  chunk = (chunk and chunk > 0 and chunk < n) and chunk or n
  local t0 = now()
  if mode == "calls" then
    for i = 0, n - 1 do create_one(st, w, i) end
  elseif mode == "image-batch" then
    for i = 0, n - 1 do
      check("batch", st:batch(function(b) create_one(b, w, i) end))
    end
  else
    for first = 0, n - 1, chunk do
      check("batch", st:batch(function(b)
        for i = first, math.min(first + chunk, n) - 1 do create_one(b, w, i) end
      end))
    end
  end
  local dt = now() - t0
  local extra = { { "images_per_s", n / dt } }
  if mode == "batch" then extra[2] = { "chunk", chunk } end
  report(phase, n, dt, n, extra)
  st:close()
end

-- Builds n image-shaped tables as a Lua program would; the seconds it took.
-- Strings are copied (sub(1)) so that each table owns new ones, as the
-- binding's do; short ones are interned, as the binding's are.
local function table_floor(w, n)
  local sub, out = string.sub, {}
  local created = "2026-12-02T10:00:00.123456789Z"
  collectgarbage()
  local t0 = now()
  for i = 0, n - 1 do
    local id, digest, name, key = sub(w.id[i], 1), sub(w.digest[i], 1), sub(w.name[i], 1),
      sub(w.config_key[i], 1)
    out[i + 1] = {
      id = id, digest = digest, digests = { digest }, names = { name },
      names_history = {}, layer = nil, metadata = sub("{}", 1), -- create records no history
      big_data_names = { "manifest", key },
      big_data_sizes = { manifest = 249, [key] = 1500 },
      big_data_digests = { manifest = digest, [key] = key },
      created = sub(created, 1), loaded = sub(created, 1), size = nil, flags = {},
      read_only = false,
    }
  end
  return now() - t0
end

-- Each timed read phase starts with a full collection, so that it pays for
-- its own garbage only, not for what the phase before left (the C driver
-- frees each result before its next clock starts).
local function read(dir, n)
  local w = workload(n)
  collectgarbage()
  local t0 = now()
  local st = open(dir)
  local t1 = now()
  local imgs = check("images", st:images())
  local t2 = now()
  if #imgs ~= n then die("images", ("listed %d images, want %d"):format(#imgs, n)) end
  imgs = nil -- luacheck: ignore
  report("open", n, t1 - t0, 1)
  report("open+list", n, t2 - t0, 1)
  report("images-per-image", n, t2 - t1, n)

  -- Lua's own floor for such a table: the same shape (8 tables, 15 keys),
  -- built by a Lua constructor from fresh copies of the strings an image
  -- table holds, with no store or binding in the way.
  local floor = table_floor(w, n)
  report("table-floor", n, floor, n)

  local id, msg, code
  local names, ids, prefixes, digests = w.name, w.id, w.prefix, w.digest
  collectgarbage()
  t0 = now()
  for i = 0, n - 1 do
    id, msg, code = st:lookup(names[i])
    if id ~= ids[i] then die("lookup " .. names[i], msg or id, code) end
  end
  report("lookup-name", n, now() - t0, n)

  collectgarbage()
  t0 = now()
  for i = 0, n - 1 do
    id, msg, code = st:lookup(prefixes[i])
    if id ~= ids[i] then die("lookup " .. prefixes[i], msg or id, code) end
  end
  report("lookup-id-prefix", n, now() - t0, n)

  collectgarbage()
  t0 = now()
  for i = 0, n - 1 do
    local list
    list, msg, code = st:by_digest(digests[i])
    if not list or #list ~= 1 then die("by_digest " .. digests[i], msg or (list and #list), code) end
  end
  report("by-digest", n, now() - t0, n)

  local manifests = w.manifest
  collectgarbage()
  t0 = now()
  for i = 0, n - 1 do
    local data
    data, msg, code = st:big_data(ids[i], "manifest")
    if data == nil or #data ~= #manifests[i] then die("big_data " .. ids[i], msg, code) end
  end
  report("big-data-read", n, now() - t0, n)

  local keys, config_len = w.config_key, #w.config
  collectgarbage()
  t0 = now()
  for i = 0, n - 1 do
    local data
    data, msg, code = st:big_data(ids[i], keys[i])
    if data == nil or #data ~= config_len then die("big_data " .. keys[i], msg, code) end
  end
  report("big-data-read-config", n, now() - t0, n)

  collectgarbage()
  t0 = now()
  for i = 0, n - 1 do
    local img
    img, msg, code = st:get(ids[i])
    if not img or img.id ~= ids[i] then die("get " .. ids[i], msg, code) end
  end
  report("get", n, now() - t0, n)
  st:close()
end

local function delete(dir, n)
  local w = workload(n)
  local st = open(dir)
  local t0 = now()
  for i = 0, n - 1 do check("delete", st:delete(w.id[i])) end
  report("delete", n, now() - t0, n)
  st:close()
end

-- ---- import ------------------------------------------------------------------

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local function ch(k) return B64:sub(k + 1, k + 1) end
    out[#out + 1] = ch(v >> 18 & 63) .. ch(v >> 12 & 63) .. (b and ch(v >> 6 & 63) or "=")
      .. (c and ch(v & 63) or "=")
  end
  return table.concat(out)
end

-- The import workload: per image a 1.5 KB config with one diff ID, an OCI
-- manifest and one tiny (uncompressed) layer; written as an OCI layout and
-- as a containers/storage images directory (images.json, one directory of
-- big-data files per image, big-data file names by its rule).
local function import_workload(dir, n)
  local layout, cs = dir .. "/layout", dir .. "/cs-images"
  assert(os.execute(("mkdir -p '%s/blobs/sha256' '%s'"):format(layout, cs)))
  write_file(layout .. "/oci-layout", '{"imageLayoutVersion": "1.0.0"}')
  local index, records = {}, {}
  local created = "2026-12-02T10:00:00.123456789Z"
  for i = 0, n - 1 do
    local layer = ("layer %d\n"):format(i)
    local diff = imagestore.sha256(layer)
    local config = ('{"created":"%s","architecture":"amd64","os":"linux","config":{"Env":["X=%s"]},'
      .. '"rootfs":{"type":"layers","diff_ids":["%s"]}}'):format(created, ("x"):rep(1300) .. i, diff)
    local cdigest = imagestore.sha256(config)
    local manifest = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
      .. '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},'
      .. '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}')
      :format(cdigest, #config, diff, #layer)
    local mdigest = imagestore.sha256(manifest)
    local name = "example.com/repo" .. i .. ":tag"
    for _, blob in ipairs({ { diff, layer }, { cdigest, config }, { mdigest, manifest } }) do
      write_file(layout .. "/blobs/sha256/" .. blob[1]:sub(8), blob[2])
    end
    index[#index + 1] = ('{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s",'
      .. '"size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}'):format(mdigest, #manifest, name)
    local id = cdigest:sub(8)
    assert(os.execute(("mkdir -p '%s/%s'"):format(cs, id)))
    local keys = { { cdigest, config }, { "manifest-" .. mdigest, manifest }, { "manifest", manifest } }
    local names, sizes, digests = {}, {}, {}
    for _, kv in ipairs(keys) do
      local file = kv[1]:match("^[.0-9a-z]+$") and kv[1] or "=" .. base64(kv[1])
      write_file(cs .. "/" .. id .. "/" .. file, kv[2])
      names[#names + 1] = '"' .. kv[1] .. '"'
      sizes[#sizes + 1] = ('"%s":%d'):format(kv[1], #kv[2])
      digests[#digests + 1] = ('"%s":"%s"'):format(kv[1], imagestore.sha256(kv[2]))
    end
    records[#records + 1] = ('{"id":"%s","digest":"%s","names":["%s"],"layer":"%s","metadata":"{}",'
      .. '"big-data-names":[%s],"big-data-sizes":{%s},"big-data-digests":{%s},"created":"%s"}')
      :format(id, mdigest, name, diff:sub(8), table.concat(names, ","), table.concat(sizes, ","),
              table.concat(digests, ","), created)
  end
  write_file(layout .. "/index.json", '{"schemaVersion":2,"manifests":[' .. table.concat(index, ",") .. "]}")
  write_file(cs .. "/images.json", "[" .. table.concat(records, ",") .. "]")
  return layout, cs
end

local function import_phases(dir, n)
  local import = require("imagestore.import")
  local layout, cs = import_workload(dir, n)
  os.execute("sync")
  for _, p in ipairs({ { "import-oci-layout", import.oci_layout, layout, "/store-oci" },
                       { "import-containers-storage", import.containers_storage, cs, "/store-cs" } }) do
    local st = open(dir .. p[4])
    collectgarbage()
    local t0 = now()
    local done, msg, code = p[2](st, p[3])
    local dt = now() - t0
    if not done then die(p[1], msg, code) end
    if #done.images ~= n or #done.skipped ~= 0 then
      die(p[1], ("%d images imported, %d skipped (%s)"):format(#done.images, #done.skipped,
        done.skipped[1] and done.skipped[1].message or "-"))
    end
    report(p[1], n, dt, n, { { "images_per_s", n / dt } })
    st:close()
  end
end

local cmd, dir, n = arg[1], arg[2], math.tointeger(tonumber(arg[3] or ""))
if not (cmd and dir and n) then
  io.stderr:write("usage: bench.lua create|read|delete|import DIR N [mode [chunk]]\n")
  os.exit(2)
end
if cmd == "create" then
  create(dir, n, arg[4] or "calls", math.tointeger(tonumber(arg[5] or "0")))
elseif cmd == "read" then
  read(dir, n)
elseif cmd == "delete" then
  delete(dir, n)
elseif cmd == "import" then
  import_phases(dir, n)
else
  io.stderr:write("bench.lua: unknown command ", cmd, "\n")
  os.exit(2)
end
