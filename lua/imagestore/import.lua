--- imagestore.import: bringing images a host already has into a store.
--
--   local import = require("imagestore.import")
--   local report, msg, code = import.auto(st, path [, opts])
--   -- or import.oci_layout(st, dir), oci_archive(st, tarfile),
--   -- docker_archive(st, tarfile), containers_storage(st, images_dir),
--   -- isulad(st, dir), store(st, source_store)
--
-- The store holds metadata, not layers. Each image is recorded as Podman
-- records a pulled or loaded one (containers/image's storage destination):
-- ID = the config digest's hex; `digest` = the manifest's; big data
-- `sha256:<id>` (the config), the chosen index as `manifest-<index digest>`
-- when there is one, `manifest-<digest>` and `manifest`; `layer` = the top
-- layer's ID as containers/storage derives it (the first layer's diff ID
-- hex, then sha256(parent ID .. "+" .. diff ID hex) for each next one);
-- `created` from the config; `loaded` = now. Names come from the
-- `io.containerd.image.name` or `org.opencontainers.image.ref.name`
-- annotation (OCI) or `RepoTags` (docker-archive), as given: a store opened
-- with a naming policy normalizes them. A docker-archive has no manifest: the
-- one recorded is what containers/image's docker-archive reader presents
-- (Docker schema 2, layers by diff ID). A store-to-store import copies each
-- record (layer, metadata, created, size, names, every big-data item).
--
-- Atomic per image: an image is recorded whole or not at all, in batches of
-- opts.group images (default 1000); a batch that fails is redone image by
-- image. Importing an image again adds only what it lacks (names, manifests);
-- a name another image holds moves to the imported one, as `podman load`
-- moves it. Every blob read is checked against its digest (and size);
-- layers too with opts.verify_layers.
--
-- opts (all optional; an unknown key raises):
--   platform       "os/arch[/variant]" or {os=, architecture=, variant=}: the
--                  image an index or manifest list gives; default the host's
--                  (M.host_platform())
--   verify_layers  read each layer blob and check its digest
--   on_layer       function(info), called for each layer of each image new
--                  to the store, in order, before the image is recorded:
--                  info = {image=, index=, count=, id= (layer ID), parent=,
--                  digest=, diff_id=, media_type=, size=, path=}. `path` is a
--                  file holding the blob: the layout's own blob, or for a tar
--                  archive a temp file (in opts.tmpdir, default $TMPDIR or
--                  /tmp) that is deleted before the import returns. A hook
--                  that raises fails that image ("EHOOK").
--   progress       function(event): {kind = "blob", what = "index" |
--                  "manifest" | "config" | "layer" | "big-data", digest=,
--                  size=} for each blob read and checked, and {kind =
--                  "image", id=, source=, status = "added" | "updated" |
--                  "unchanged" | "skipped", message=} for each image
--   limits         {index=, manifest=, config=} in bytes (default M.limits:
--                  4 MiB each, as containers/image); larger is "ELIMIT"
--   tmpdir         where on_layer's temp files go (tar archives)
--   group          images per batch
--
-- Returns a report, or nil, message, code when the source as a whole cannot
-- be read (missing, not of the kind, a malformed index, a truncated or
-- hostile tar). The report:
--   kind, source    what was read
--   images          {id=, status=, names=, new_names=, digest=, layer=,
--                   source=} for each image added ("added"), given something
--                   new ("updated") or already there whole ("unchanged")
--   names           {name=, id=, from=} for each name given; from = the
--                   image it moved from
--   skipped         {source=, message=, code=} for each image not imported
--                   (and each record the source store could not load)
-- Codes: "ENOTFOUND" (a missing blob or file), "ECORRUPT" (a digest or size
-- mismatch), "EINVAL" (malformed JSON or structure), "EUNSUPPORTED" (a media
-- type, digest algorithm or schema this does not import), "ELIMIT", "EHOOK",
-- "ELAYOUT" (a path that is none of the kinds), "EEXIST" (the image is in
-- the store with another top layer), and the store's own codes.
local imagestore = require("imagestore")
local json = require("imagestore.json")
local tar = require("imagestore.tar")

local core = imagestore.core
local sha256 = imagestore.sha256

local M = {}

local MiB = 1 << 20
M.limits = { index = 4 * MiB, manifest = 4 * MiB, config = 4 * MiB }

local OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
local OCI_INDEX = "application/vnd.oci.image.index.v1+json"
local OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
local DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
local DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
local DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
local DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
local SCHEMA1 = {
  ["application/vnd.docker.distribution.manifest.v1+json"] = true,
  ["application/vnd.docker.distribution.manifest.v1+prettyjws"] = true,
}
local MANIFESTS = { [OCI_MANIFEST] = true, [DOCKER_MANIFEST] = true }
local INDEXES = { [OCI_INDEX] = true, [DOCKER_LIST] = true }
local CONFIGS = { [OCI_CONFIG] = true, [DOCKER_CONFIG] = true }

-- ---- failures -------------------------------------------------------------
-- Inside an import, a failure is raised as a Failure and caught per image
-- (or per source); anything else raised is a bug or a hook's, and propagates.

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.message end

local function fail(code, fmt, ...)
  error(setmetatable({ code = code, message = fmt:format(...) }, Failure), 0)
end

local function is_failure(v) return getmetatable(v) == Failure end

-- ---- options --------------------------------------------------------------

local OPTION_TYPES = {
  platform = "string or table", verify_layers = "boolean", on_layer = "function",
  progress = "function", limits = "table", tmpdir = "string", group = "number",
}

local function options(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(("bad argument #3 (options table expected, got %s)"):format(type(opts)), 3)
  end
  for k, v in pairs(opts) do
    local types = OPTION_TYPES[k]
    if not types then error(("unknown option '%s'"):format(tostring(k)), 3) end
    if not (" or " .. types .. " or "):find(" or " .. type(v) .. " or ", 1, true) then
      error(("bad option '%s' (%s expected, got %s)"):format(k, types, type(v)), 3)
    end
  end
  local o = {
    verify_layers = opts.verify_layers == true, on_layer = opts.on_layer,
    progress = opts.progress or function() end,
    tmpdir = opts.tmpdir or os.getenv("TMPDIR") or "/tmp",
    group = opts.group or 1000, limits = {},
  }
  if math.type(o.group) ~= "integer" or o.group < 1 then
    error("bad option 'group' (positive integer expected)", 3)
  end
  for k, v in pairs(M.limits) do o.limits[k] = v end
  for k, v in pairs(opts.limits or {}) do
    if M.limits[k] == nil then error(("unknown limit '%s'"):format(tostring(k)), 3) end
    if math.type(v) ~= "integer" or v < 0 then
      error(("bad limit '%s' (non-negative integer expected)"):format(k), 3)
    end
    o.limits[k] = v
  end
  if opts.platform ~= nil then
    local p, msg = M.parse_platform(opts.platform)
    if not p then error("bad option 'platform' (" .. msg .. ")", 3) end
    o.platform = p
  else
    o.platform = M.host_platform()
  end
  return o
end

local function is_store(st)
  if type(st) ~= "userdata" then return false end
  local ok, batch = pcall(function() return st.batch end)
  return ok and type(batch) == "function"
end

local function check_store(st, what)
  if not is_store(st) then
    error(("bad argument #%d (%s expected, got %s)"):format(what == "source" and 2 or 1,
      what == "source" and "source store" or "store", type(st)), 3)
  end
end

local function check_path(path)
  if type(path) ~= "string" then
    error(("bad argument #2 (path expected, got %s)"):format(type(path)), 3)
  end
end

-- ---- platforms ------------------------------------------------------------

-- uname's machine names as Go's GOARCH (and GOARM) spell them.
local MACHINES = {
  x86_64 = { "amd64" }, amd64 = { "amd64" }, aarch64 = { "arm64", "v8" }, arm64 = { "arm64", "v8" },
  armv8l = { "arm", "v8" }, armv7l = { "arm", "v7" }, armv6l = { "arm", "v6" }, armv5tel = { "arm", "v5" },
  i386 = { "386" }, i486 = { "386" }, i586 = { "386" }, i686 = { "386" },
  ppc64le = { "ppc64le" }, ppc64 = { "ppc64" }, s390x = { "s390x" }, riscv64 = { "riscv64" },
  mips = { "mips" }, mipsel = { "mipsle" }, mips64 = { "mips64" }, mips64el = { "mips64le" },
  loongarch64 = { "loong64" },
}

--- host_platform() --> {os = "linux", architecture =, variant =}
function M.host_platform()
  local machine = core.host_machine() or "unknown"
  local arch = MACHINES[machine] or { machine }
  return { os = "linux", architecture = arch[1], variant = arch[2] }
end

--- parse_platform("os/arch[/variant]" | table) --> platform | nil, message
function M.parse_platform(p)
  if type(p) == "table" then
    if type(p.os) ~= "string" or type(p.architecture) ~= "string"
        or (p.variant ~= nil and type(p.variant) ~= "string") then
      return nil, "os and architecture strings expected"
    end
    return { os = p.os, architecture = p.architecture, variant = p.variant }
  end
  local os_, arch, variant = p:match("^([^/]+)/([^/]+)/?([^/]*)$")
  if not os_ then return nil, ('"%s" is not os/arch[/variant]'):format(p) end
  return { os = os_, architecture = arch, variant = variant ~= "" and variant or nil }
end

local function platform_text(p)
  if type(p) ~= "table" then return "?" end
  return tostring(p.os) .. "/" .. tostring(p.architecture) .. (p.variant and ("/" .. tostring(p.variant)) or "")
end

-- arm64's only variant is v8: an entry without one matches it.
local function same_variant(arch, a, b)
  if arch == "arm64" then a, b = a or "v8", b or "v8" end
  return a == b
end

-- The entry of an index's manifests for the platform: an exact variant
-- first, then one without a variant, then any variant.
local function choose(manifests, want, index_digest)
  local exact, plain, any
  for _, m in ipairs(manifests) do
    local p = m.platform
    if type(p) == "table" and p.os == want.os and p.architecture == want.architecture then
      if same_variant(want.architecture, p.variant, want.variant) then exact = exact or m
      elseif p.variant == nil then plain = plain or m
      else any = any or m end
    end
  end
  local chosen = exact or plain or (want.variant == nil and any) or nil
  if chosen then return chosen end
  local have = {}
  for _, m in ipairs(manifests) do have[#have + 1] = platform_text(m.platform) end
  fail("ENOTFOUND", "index %s has no image for %s (it has %s)", index_digest, platform_text(want),
    #have > 0 and table.concat(have, ", ") or "none")
end

-- ---- JSON and descriptors -------------------------------------------------

local HEX64 = ("%x"):rep(64)

local function valid_digest(d)
  return type(d) == "string" and #d == 71 and d:match("^sha256:" .. HEX64 .. "$") ~= nil
    and not d:find("[A-F]")
end

local function decode(bytes, what)
  local v, msg = json.decode(bytes)
  if v == nil then fail("EINVAL", "%s is not valid JSON: %s", what, msg) end
  return v
end

-- v, when it is a decoded JSON value of that kind ("object" or "array").
local function json_kind(v, what, kind, other_mt)
  if type(v) ~= "table" or getmetatable(v) == other_mt then
    fail("EINVAL", "%s is not a JSON %s", what, kind)
  end
  return v
end

local function object(v, what) return json_kind(v, what, "object", json.array_mt) end
local function array(v, what) return json_kind(v, what, "array", json.object_mt) end

-- A descriptor {mediaType, digest, size}, checked; what names it in messages.
local function descriptor(d, what)
  object(d, what)
  if type(d.digest) ~= "string" then fail("EINVAL", "%s has no digest", what) end
  if not valid_digest(d.digest) then
    if d.digest:match("^[%w+._-]+:") and not d.digest:match("^sha256:") then
      fail("EUNSUPPORTED", "%s: digest %s: only sha256 is supported", what, d.digest)
    end
    fail("EINVAL", "%s: invalid digest %q", what, d.digest)
  end
  if math.type(d.size) ~= "integer" or d.size < 0 then
    fail("EINVAL", "%s %s: invalid size", what, d.digest)
  end
  if d.mediaType ~= nil and type(d.mediaType) ~= "string" then
    fail("EINVAL", "%s %s: invalid mediaType", what, d.digest)
  end
  return d
end

-- RFC 3339 as the store takes it; anything else is left out (the store
-- then says now, as containers/image does with a config it cannot read).
local function rfc3339(t)
  if type(t) ~= "string" then return nil end
  local rest = t:match("^%d%d%d%d%-%d%d%-%d%d[Tt]%d%d:%d%d:%d%d(.*)$")
  if not rest then return nil end
  rest = rest:gsub("^%.%d+", "")
  if rest == "Z" or rest == "z" or rest:match("^[+-]%d%d:%d%d$") then return t end
  return nil
end

-- Diff IDs and creation time of an image config.
local function parse_config(bytes, what)
  local c = object(decode(bytes, what), what)
  local rootfs = c.rootfs
  if type(rootfs) ~= "table" or rootfs.diff_ids == nil then
    fail("EINVAL", "%s has no rootfs.diff_ids", what)
  end
  local diff_ids = array(rootfs.diff_ids, what .. " rootfs.diff_ids")
  for i, d in ipairs(diff_ids) do
    if not valid_digest(d) then
      fail("EINVAL", "%s: diff ID %d is not a sha256 digest", what, i)
    end
  end
  return diff_ids, rfc3339(c.created)
end

--- layer_ids(diff_ids) --> the layer IDs containers/storage gives the layers
-- (the last is the image's top layer): the first diff ID's hex, then
-- sha256(<parent ID> .. "+" .. <diff ID hex>) (containers/image,
-- storage/storage_dest.go).
function M.layer_ids(diff_ids)
  local ids, parent = {}, nil
  for i, d in ipairs(diff_ids) do
    local hex = d:sub(8)
    local id = parent and sha256(parent .. "+" .. hex):sub(8) or hex
    ids[i] = id
    parent = id
  end
  return ids
end

local function layer_entries(diff_ids, blobs)
  local ids, layers = M.layer_ids(diff_ids), {}
  for i, b in ipairs(blobs) do
    b.diff_id, b.id, b.parent = diff_ids[i], ids[i], ids[i - 1]
    layers[i] = b
  end
  return layers, ids[#ids]
end

local function names_from(annotations)
  if type(annotations) ~= "table" then return {} end
  local name = annotations["io.containerd.image.name"]
  if type(name) ~= "string" or name == "" then name = annotations["org.opencontainers.image.ref.name"] end
  if type(name) ~= "string" or name == "" then return {} end
  return { name }
end

-- A unit of work: fn() gives one image's candidate; label (and id, when
-- known) name it in the report should it fail before there is a candidate.
local function task(label, id, fn) return { label = label, id = id, fn = fn } end

-- ---- sources: a directory, or a tar archive read in passes ----------------
-- src:get(rel, limit) --> bytes | nil (no such file); raises on the rest.
-- src:size(rel) --> size | nil. A directory's src:path(rel) is the file.
-- A tar source reads lazily: get() of what is not read yet yields the path
-- from a coroutine (see drive()), and fill() reads what was asked for.

local function dir_source(dir)
  local src = { label = dir, where = "the layout" }
  local function fs_fail(msg, code) fail(code, "%s", msg) end
  function src:get(rel, limit)
    local bytes, msg, code = core.file_read(dir .. "/" .. rel, limit)
    if bytes then return bytes end
    if code == "ENOTFOUND" then return nil end
    fs_fail(msg, code)
  end
  function src:size(rel)
    local st, msg, code = core.file_stat(dir .. "/" .. rel)
    if not st then
      if code == "ENOTFOUND" then return nil end
      fs_fail(msg, code)
    end
    if st.type ~= "file" then fail("EINVAL", "%s/%s: not a regular file", dir, rel) end
    return st.size
  end
  function src:path(rel) return dir .. "/" .. rel end
  return src
end

-- A path inside an archive, as one spelling: no "./", "//", "." or
-- trailing "/"; ".." taken against what precedes (the reader has refused any
-- that would climb out).
local function clean(p)
  local parts = {}
  for c in p:gmatch("[^/]+") do
    if c == ".." then parts[#parts] = nil
    elseif c ~= "." then parts[#parts + 1] = c end
  end
  return table.concat(parts, "/")
end

local function tar_source(path, limits)
  local src = { label = path, where = "the archive", entries = {}, cache = {} }
  local control = { ["index.json"] = true, ["oci-layout"] = true, ["manifest.json"] = true }

  -- Pass 1: every entry (the last of a path counts, as for tar(1)), and
  -- the small files at the top that say what the archive is.
  local r, msg, code = tar.open(path)
  if not r then return nil, msg, code end
  local n = 0
  while true do
    local e
    e, msg, code = r:next()
    if not e then
      if msg then r:close(); return nil, msg, code end
      break
    end
    n = n + 1
    local p = clean(e.path)
    e.ordinal = n
    src.entries[p] = e
    src.cache[p] = nil
    if control[p] and e.type == "file" then
      local bytes, m, c = tar.read_all(r, e, limits.index)
      if not bytes and c ~= "ELIMIT" then r:close(); return nil, m, c end
      src.cache[p] = bytes or { message = m, code = c }
    end
  end
  r:close()

  -- The regular entry a path names, through links (at most 16).
  function src:resolve(rel)
    local p = clean(rel)
    for _ = 1, 16 do
      local e = self.entries[p]
      if e == nil then return nil end
      if e.type == "file" then return p, e end
      if e.type == "symlink" then
        p = clean((p:match("^(.*)/[^/]*$") or "") .. "/" .. e.link)
      elseif e.type == "hardlink" then
        p = clean(e.link)
      else
        fail("EINVAL", "%s: entry %q is not a regular file", path, rel)
      end
    end
    fail("EINVAL", "%s: entry %q: too many levels of links", path, rel)
  end

  function src:get(rel, limit)
    local p, e = self:resolve(rel)
    if not p then return nil end
    if e.size > limit then
      fail("ELIMIT", "%s: %s is %d bytes, above the limit of %d bytes", path, p, e.size, limit)
    end
    while self.cache[p] == nil do coroutine.yield(p, limit) end
    local v = self.cache[p]
    if type(v) == "table" then fail(v.code, "%s", v.message) end
    return v
  end

  function src:size(rel)
    local p, e = self:resolve(rel)
    return p and e.size or nil
  end

  -- Reads the wanted entries ({path = limit}) into the cache; whatever it
  -- could not read is cached as its failure, so that the askers go on.
  function src:fill(wants)
    local reader, m, c = tar.open(path)
    if not reader then fail(c, "%s", m) end
    local k, left = 0, 0
    for _ in pairs(wants) do left = left + 1 end
    while left > 0 do
      local e
      e, m, c = reader:next()
      if not e then
        reader:close()
        if m then fail(c, "%s", m) end
        break
      end
      k = k + 1
      local p = clean(e.path)
      local limit = wants[p]
      if limit and self.entries[p].ordinal == k then
        local bytes, m2, c2 = tar.read_all(reader, e, limit)
        self.cache[p] = bytes or { message = path .. ": " .. tostring(m2), code = c2 }
        wants[p], left = nil, left - 1
      end
    end
    reader:close()
    for p in pairs(wants) do
      self.cache[p] = { message = ("%s: entry %q vanished"):format(path, p), code = "EIO" }
    end
  end

  -- Streams the wanted entries ({path = fn(chunk) or true}) through fn(chunk),
  -- ending each with fn(""); a failure ends it with fn(nil, message, code).
  function src:stream(wants)
    local reader, m, c = tar.open(path)
    if not reader then fail(c, "%s", m) end
    local k = 0
    while next(wants) do
      local e
      e, m, c = reader:next()
      if not e then
        reader:close()
        if m then fail(c, "%s", m) end
        break
      end
      k = k + 1
      local p = clean(e.path)
      local sink = wants[p]
      if sink and self.entries[p].ordinal == k then
        wants[p] = nil
        while true do
          local chunk, m2, c2 = reader:read(65536)
          if not chunk then sink(nil, path .. ": " .. tostring(m2), c2); break end
          sink(chunk)
          if chunk == "" then break end
        end
      end
    end
    reader:close()
    for _, sink in pairs(wants) do sink(nil, path .. ": an entry vanished", "EIO") end
  end
  return src
end

-- Runs the tasks' functions as coroutines; a tar source fills what they
-- wait for, one pass per round. Returns {value=} or {failure=} per task.
local function drive(src, tasks)
  local cos, out, live = {}, {}, {}
  for i, t in ipairs(tasks) do cos[i], live[i] = coroutine.create(t.fn), true end
  while true do
    local wants, waiting = {}, false
    for i, co in ipairs(cos) do
      if live[i] then
        local ok, a, b = coroutine.resume(co)
        if not ok then
          if not is_failure(a) then error(a, 0) end
          out[i], live[i] = { failure = a }, nil
        elseif coroutine.status(co) == "dead" then
          out[i], live[i] = { value = a }, nil
        else
          wants[a], waiting = b, true
        end
      end
    end
    if not waiting then return out end
    src:fill(wants)
  end
end

-- ---- blobs ----------------------------------------------------------------

local function blob_path(digest) return "blobs/sha256/" .. digest:sub(8) end

-- The blob a descriptor names, read and checked.
local function read_blob(src, d, limit, what, o)
  if d.size > limit then
    fail("ELIMIT", "%s %s is %d bytes, above the limit of %d bytes", what, d.digest, d.size, limit)
  end
  local ok, bytes = pcall(src.get, src, blob_path(d.digest), limit)
  if not ok then
    if is_failure(bytes) and bytes.code == "ELIMIT" then
      fail("ELIMIT", "%s %s is larger than its descriptor says (%d bytes)", what, d.digest, d.size)
    end
    error(bytes, 0)
  end
  if bytes == nil then fail("ENOTFOUND", "%s %s is missing from %s", what, d.digest, src.where) end
  if #bytes ~= d.size then
    fail("ECORRUPT", "%s %s is %d bytes, its descriptor says %d", what, d.digest, #bytes, d.size)
  end
  local got = sha256(bytes)
  if got ~= d.digest then
    fail("ECORRUPT", "%s %s does not match its content (%s)", what, d.digest, got)
  end
  o.progress{ kind = "blob", what = what, digest = d.digest, size = #bytes }
  return bytes
end

local function layer_media_type(mt)
  return type(mt) == "string" and (mt:find("^application/vnd%.oci%.image%.layer%.")
    or mt:find("^application/vnd%.docker%.image%.rootfs%.")) ~= nil
end

-- ---- OCI: a layout directory or an oci-archive ----------------------------

-- One image from one descriptor of index.json.
local function oci_image(src, d, label, o)
  local names = names_from(d.annotations)
  local mt = d.mediaType
  local index, index_digest
  if INDEXES[mt] then
    index, index_digest = read_blob(src, d, o.limits.index, "index", o), d.digest
    local idx = object(decode(index, "index " .. d.digest), "index " .. d.digest)
    if idx.mediaType ~= nil and idx.mediaType ~= mt then
      fail("EINVAL", "index %s says its mediaType is %q, its descriptor %q", d.digest, tostring(idx.mediaType), mt)
    end
    local list = array(idx.manifests, "index " .. d.digest .. " manifests")
    d = descriptor(choose(list, o.platform, d.digest), "index " .. index_digest .. " entry")
    mt = d.mediaType
    if INDEXES[mt] then fail("EUNSUPPORTED", "index %s: a nested index (%s)", index_digest, d.digest) end
  end
  if SCHEMA1[mt] then
    fail("EUNSUPPORTED", "manifest %s: Docker schema 1 is not supported", d.digest)
  elseif not MANIFESTS[mt] then
    fail("EUNSUPPORTED", "%s: unsupported media type %q", label, tostring(mt))
  end
  local manifest = read_blob(src, d, o.limits.manifest, "manifest", o)
  local what = "manifest " .. d.digest
  local m = object(decode(manifest, what), what)
  if m.schemaVersion ~= 2 then fail("EINVAL", "%s: schemaVersion is not 2", what) end
  if m.mediaType ~= nil and m.mediaType ~= mt then
    fail("EINVAL", "%s says its mediaType is %q, its descriptor %q", what, tostring(m.mediaType), mt)
  end
  local cd = descriptor(m.config, what .. " config")
  if not CONFIGS[cd.mediaType] then
    fail("EUNSUPPORTED", "%s: config media type %q is not an image's", what, tostring(cd.mediaType))
  end
  local config = read_blob(src, cd, o.limits.config, "config", o)
  local diff_ids, created = parse_config(config, "config " .. cd.digest)
  local layers = array(m.layers, what .. " layers")
  if #layers ~= #diff_ids then
    fail("EINVAL", "%s has %d layers, its config %d diff IDs", what, #layers, #diff_ids)
  end
  local blobs = {}
  for i, l in ipairs(layers) do
    local ld = descriptor(l, ("%s layer %d"):format(what, i))
    if not layer_media_type(ld.mediaType) then
      fail("EUNSUPPORTED", "%s layer %d: unsupported media type %q", what, i, tostring(ld.mediaType))
    end
    local size = src:size(blob_path(ld.digest))
    if size == nil then fail("ENOTFOUND", "layer %s is missing from %s", ld.digest, src.where) end
    if size ~= ld.size then
      fail("ECORRUPT", "layer %s is %d bytes, its descriptor says %d", ld.digest, size, ld.size)
    end
    local rel = blob_path(ld.digest)
    blobs[i] = { digest = ld.digest, media_type = ld.mediaType, size = ld.size,
                 rel = src.resolve and src:resolve(rel) or rel }
  end
  local entries, top = layer_entries(diff_ids, blobs)
  local big = { { "sha256:" .. cd.digest:sub(8), config } }
  if index then big[#big + 1] = { "manifest-" .. index_digest, index } end
  big[#big + 1] = { "manifest-" .. d.digest, manifest }
  big[#big + 1] = { "manifest", manifest }
  return { source = label, id = cd.digest:sub(8), names = names, layer = top, created = created,
           digest = d.digest, big_data = big, layers = entries }
end

local function oci_tasks(src, o)
  local layout = src:get("oci-layout", o.limits.index)
  if not layout then fail("ELAYOUT", "%s: not an OCI image layout (no oci-layout file)", src.label) end
  local lv = object(decode(layout, src.label .. ": oci-layout"), src.label .. ": oci-layout")
  if type(lv.imageLayoutVersion) ~= "string" or not lv.imageLayoutVersion:match("^1%.") then
    fail("EUNSUPPORTED", "%s: image layout version %s is not supported", src.label, tostring(lv.imageLayoutVersion))
  end
  local text = src:get("index.json", o.limits.index)
  if not text then fail("ENOTFOUND", "%s: no index.json", src.label) end
  local what = src.label .. ": index.json"
  local index = object(decode(text, what), what)
  local list = array(index.manifests, what .. " manifests")
  local tasks = {}
  for i, d in ipairs(list) do
    local label = ("index.json manifests[%d]"):format(i)
    local names = type(d) == "table" and names_from(d.annotations) or {}
    if names[1] then label = label .. (" (%s)"):format(names[1]) end
    tasks[i] = task(label, nil, function()
      descriptor(d, ("index.json manifests[%d]"):format(i))
      return oci_image(src, d, label, o)
    end)
  end
  return tasks
end

-- ---- docker-archive --------------------------------------------------------

-- The manifest containers/image's docker-archive reader presents for an
-- image (docker/internal/tarfile/src.go: Docker schema 2, each layer by its
-- diff ID and size), byte for byte as Go's encoding/json writes it.
local function docker_manifest(config, diff_ids, sizes)
  local layers = {}
  for i, d in ipairs(diff_ids) do
    layers[i] = ('{"mediaType":"%s","size":%d,"digest":"%s"}'):format(DOCKER_LAYER, sizes[i], d)
  end
  return ('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","size":%d,"digest":"%s"},"layers":[%s]}')
    :format(DOCKER_MANIFEST, DOCKER_CONFIG, #config, sha256(config), table.concat(layers, ","))
end

local function docker_image(src, item, label, o)
  object(item, label)
  if type(item.Config) ~= "string" then fail("EINVAL", "%s has no Config", label) end
  local layers = array(item.Layers or {}, label .. " Layers")
  local config = src:get(item.Config, o.limits.config)
  if not config then fail("ENOTFOUND", "config %s is missing from the archive", item.Config) end
  local digest = sha256(config)
  local named = clean(item.Config):match("(" .. HEX64 .. ")%.json$")
    or clean(item.Config):match("^blobs/sha256/(" .. HEX64 .. ")$")
  if named and named ~= digest:sub(8) then
    fail("ECORRUPT", "config %s does not match its content (%s)", item.Config, digest)
  end
  o.progress{ kind = "blob", what = "config", digest = digest, size = #config }
  local diff_ids, created = parse_config(config, "config " .. item.Config)
  if #layers ~= #diff_ids then
    fail("EINVAL", "%s lists %d layers, its config %d diff IDs", label, #layers, #diff_ids)
  end
  local blobs, sizes, seen = {}, {}, {}
  for i, p in ipairs(layers) do
    if type(p) ~= "string" then fail("EINVAL", "%s Layers[%d] is not a path", label, i) end
    local rel = src:resolve(p)
    if not rel then fail("ENOTFOUND", "layer %s is missing from the archive", p) end
    local size = src.entries[rel].size
    -- the same diff ID twice: containers/image keeps the first one's size
    sizes[i] = seen[diff_ids[i]] or size
    seen[diff_ids[i]] = sizes[i]
    blobs[i] = { digest = diff_ids[i], media_type = DOCKER_LAYER, size = size, rel = rel,
                 uncompressed = true }
  end
  local manifest = docker_manifest(config, diff_ids, sizes)
  local mdigest = sha256(manifest)
  local entries, top = layer_entries(diff_ids, blobs)
  local names = {}
  if item.RepoTags ~= nil and item.RepoTags ~= json.null then
    for i, t in ipairs(array(item.RepoTags, label .. " RepoTags")) do
      if type(t) ~= "string" then fail("EINVAL", "%s RepoTags[%d] is not a string", label, i) end
      names[#names + 1] = t
    end
  end
  if names[1] then label = label .. (" (%s)"):format(names[1]) end
  return { source = label, id = digest:sub(8), names = names, layer = top, created = created,
           digest = mdigest, layers = entries,
           big_data = { { digest, config }, { "manifest-" .. mdigest, manifest }, { "manifest", manifest } } }
end

local function docker_tasks(src, o)
  local text = src:get("manifest.json", o.limits.manifest)
  if not text then fail("ELAYOUT", "%s: not a docker-archive (no manifest.json)", src.label) end
  local what = src.label .. ": manifest.json"
  local items = array(decode(text, what), what)
  local tasks = {}
  for i, item in ipairs(items) do
    local label = ("manifest.json[%d]"):format(i)
    tasks[i] = task(label, nil, function() return docker_image(src, item, label, o) end)
  end
  return tasks
end

-- ---- layers: checks, and the on_layer hook ---------------------------------

-- gzip, zstd, bzip2, xz
local COMPRESSED = { "\31\139", "\40\181\47\253", "BZh", "\253\55\122\88\90\0" }

-- A sink that hashes (and, with a file, copies) one blob; result() gives
-- nil or the failure {message, code}.
local function blob_sink(layer, verify, file)
  local h, first, failure, size = core.sha256_new(), true, nil, 0
  local function sink(chunk, msg, code)
    if failure then return end
    if chunk == nil then failure = { message = msg, code = code }; return end
    if chunk == "" then return end
    if first and verify and layer.uncompressed then
      for _, magic in ipairs(COMPRESSED) do
        if chunk:sub(1, #magic) == magic then
          failure = { message = ("layer %s is compressed: a docker-archive's layers are checked against their diff IDs")
            :format(layer.rel), code = "EUNSUPPORTED" }
          return
        end
      end
    end
    first = false
    size = size + #chunk
    h:update(chunk)
    if file and not file:write(chunk) then
      failure = { message = "cannot write a temp file for layer " .. layer.digest, code = "EIO" }
    end
  end
  local function result()
    if failure then return failure end
    local got = h:digest()
    if verify and got ~= layer.digest then
      return { message = ("layer %s does not match its content (%s)"):format(layer.digest, got), code = "ECORRUPT" }
    end
    if verify and size ~= layer.size then
      return { message = ("layer %s is %d bytes, its descriptor says %d"):format(layer.digest, size, layer.size),
               code = "ECORRUPT" }
    end
  end
  return sink, result
end

-- Checks the layers of the images (opts.verify_layers) and gives on_layer
-- a file for each layer of the images new to the store.
local function handle_layers(src, cands, o, tmp)
  local want_hook = o.on_layer ~= nil
  local checked, files = {}, {}   -- rel --> failure or false; rel --> path
  local needed, hooked = {}, {}   -- rel --> layer; rel --> a new image's
  for _, c in ipairs(cands) do
    if not c.failure and (o.verify_layers or (want_hook and c.new)) then
      for _, l in ipairs(c.layers or {}) do
        needed[l.rel] = needed[l.rel] or l
        if want_hook and c.new then hooked[l.rel] = true end
      end
    end
  end
  if next(needed) == nil then return end
  if src.stream then
    local sinks, results, handles = {}, {}, {}
    for rel, l in pairs(needed) do
      local file
      if hooked[rel] then
        if not tmp.dir then
          local d, msg, code = core.temp_dir(o.tmpdir)
          if not d then fail(code, "%s", msg) end
          tmp.dir = d
        end
        local path = ("%s/layer-%d"):format(tmp.dir, #tmp.files + 1)
        tmp.files[#tmp.files + 1] = path
        local err
        file, err = io.open(path, "wb")
        if not file then fail("EIO", "cannot write a temp file for layer %s: %s", l.digest, tostring(err)) end
        files[rel], handles[rel] = path, file
      end
      sinks[rel], results[rel] = blob_sink(l, o.verify_layers, file)
    end
    src:stream(sinks)
    for rel, l in pairs(needed) do
      if handles[rel] and not handles[rel]:close() then
        fail("EIO", "cannot write a temp file for layer %s", l.digest)
      end
      checked[rel] = results[rel]() or false
      if not checked[rel] and o.verify_layers then
        o.progress{ kind = "blob", what = "layer", digest = l.digest, size = l.size }
      end
    end
  else
    for rel, l in pairs(needed) do
      files[rel] = src:path(rel)
      if o.verify_layers then
        local sink, result = blob_sink(l, true)
        local r, msg, code = core.file_open(files[rel])
        if not r then
          sink(nil, msg, code)
        else
          while true do
            local chunk, m2, c2 = r:read(65536)
            sink(chunk, m2, c2)
            if chunk == nil or chunk == "" then break end
          end
          r:close()
        end
        checked[rel] = result() or false
        if not checked[rel] then o.progress{ kind = "blob", what = "layer", digest = l.digest, size = l.size } end
      end
    end
  end
  for _, c in ipairs(cands) do
    if not c.failure then
      for _, l in ipairs(c.layers or {}) do
        local bad = checked[l.rel]
        if bad then c.failure = setmetatable({ code = bad.code, message = bad.message }, Failure); break end
      end
    end
    if not c.failure and want_hook and c.new then
      for i, l in ipairs(c.layers or {}) do
        local ok, err = pcall(o.on_layer, {
          image = c.id, index = i, count = #c.layers, id = l.id, parent = l.parent,
          digest = l.digest, diff_id = l.diff_id, media_type = l.media_type, size = l.size,
          path = files[l.rel] })
        if not ok then
          c.failure = setmetatable({ code = "EHOOK", message = "on_layer hook failed: " .. tostring(err) }, Failure)
          break
        end
      end
    end
  end
end

-- ---- recording -------------------------------------------------------------

local function contains(list, v)
  for _, x in ipairs(list or {}) do if x == v then return true end end
  return false
end

-- Candidates with the same ID (one image under two tags): one, with every
-- name and big-data item.
local function merge(cands)
  local by_id, out = {}, {}
  for _, c in ipairs(cands) do
    local m = by_id[c.id]
    if not m then
      by_id[c.id] = c
      out[#out + 1] = c
    else
      for _, n in ipairs(c.names) do if not contains(m.names, n) then m.names[#m.names + 1] = n end end
      local keys = {}
      for _, kv in ipairs(m.big_data) do keys[kv[1]] = true end
      for _, kv in ipairs(c.big_data) do if not keys[kv[1]] then m.big_data[#m.big_data + 1] = kv end end
      m.source = m.source .. ", " .. c.source
    end
  end
  return out
end

-- Whether the image is new to the store, or what it lacks.
local function plan(st, c)
  local img = st:exists(c.id) and st:get(c.id)
  if img and not img.read_only then
    if img.layer ~= c.layer then
      c.failure = setmetatable({ code = "EEXIST", message = ("image %s is already in the store with top layer %s, not %s")
        :format(c.id, tostring(img.layer), tostring(c.layer)) }, Failure)
      return
    end
    c.new, c.names_before, c.missing = false, img.names, {}
    for _, kv in ipairs(c.big_data) do
      if not contains(img.big_data_names, kv[1]) then c.missing[#c.missing + 1] = kv end
    end
  else
    c.new, c.names_before, c.missing = true, {}, c.big_data
  end
end

local function check_call(ok, msg, code)
  if not ok then fail(code or "EINVAL", "%s", tostring(msg)) end
  return ok
end

-- A new image whose names no other image holds is created with them; any
-- other name is added after (add_name moves it). An image redone alone
-- (c.alone) adds every name: lookup() may not have seen who holds one (a
-- short name that a naming policy finds ambiguous).
local function apply(b, c)
  local later = c.names
  if c.new then
    local free = next(c.holders) == nil and not c.alone
    local img = check_call(b:create{ id = c.id, layer = c.layer, created = c.created,
      digest = c.digest, metadata = c.metadata, names = free and c.names or nil })
    if free then c.names_after, later = img.names, {} end
    if c.size then check_call(b:set_size(c.id, c.size)) end
  end
  for _, kv in ipairs(c.missing) do check_call(b:set_big_data(c.id, kv[1], kv[2])) end
  for _, name in ipairs(later) do check_call(b:add_name(c.id, name)) end
end

-- The images holding c's names now (other than c), with their names.
local function holders(st, c)
  local h = {}
  c.names_after = nil
  for _, name in ipairs(c.names) do
    local id = st:lookup(name)
    if id and id ~= c.id then
      local img = st:get(id)
      if img and not img.read_only then h[id] = img.names end
    end
  end
  c.holders = h
end

local function batch(st, list)
  local ok, res, msg, code = pcall(st.batch, st, function(b)
    for _, c in ipairs(list) do apply(b, c) end
  end)
  if not ok then
    if is_failure(res) then return res end
    error(res, 0)
  end
  if res ~= true then return setmetatable({ code = code, message = tostring(msg) }, Failure) end
end

local function record(st, report, c, o)
  local img = c.names_after and { names = c.names_after, digest = c.digest, layer = c.layer }
    or st:get(c.id)
  local new_names = {}
  for _, n in ipairs(img.names) do
    if not contains(c.names_before, n) then new_names[#new_names + 1] = n end
  end
  local moved = {}
  for id, before in pairs(c.holders) do
    local now = st:get(id)
    for _, n in ipairs(before) do
      if not (now and contains(now.names, n)) and contains(img.names, n) then moved[n] = id end
    end
  end
  for _, n in ipairs(new_names) do report.names[#report.names + 1] = { name = n, id = c.id, from = moved[n] } end
  local status = c.new and "added" or ((#new_names > 0 or #c.missing > 0) and "updated" or "unchanged")
  report.images[#report.images + 1] = { id = c.id, status = status, names = img.names, new_names = new_names,
    digest = img.digest, layer = img.layer, source = c.source }
  o.progress{ kind = "image", id = c.id, source = c.source, status = status }
end

local function skip(report, o, source, failure, id)
  report.skipped[#report.skipped + 1] = { source = source, message = failure.message, code = failure.code, id = id }
  o.progress{ kind = "image", id = id, source = source, status = "skipped", message = failure.message }
end

-- Records the candidates, opts.group at a time, each image atomically.
local function commit(st, cands, report, o)
  local ready = {}
  for _, c in ipairs(cands) do
    if c.failure then skip(report, o, c.source, c.failure, c.id) else ready[#ready + 1] = c end
  end
  for first = 1, #ready, o.group do
    local list = table.move(ready, first, math.min(first + o.group, #ready + 1) - 1, 1, {})
    for _, c in ipairs(list) do holders(st, c) end
    if batch(st, list) then
      for _, c in ipairs(list) do
        holders(st, c)
        c.alone = true
        c.failure = batch(st, { c })
      end
    end
    for _, c in ipairs(list) do
      if c.failure then skip(report, o, c.source, c.failure, c.id) else record(st, report, c, o) end
    end
  end
end

-- Runs a source's tasks, chunk by chunk: candidates, then layers, then the
-- store. A tar source runs in one chunk (each round of a chunk is a pass).
local function run(st, src, top, o, kind)
  local report = { kind = kind, source = src.label, images = {}, names = {}, skipped = {} }
  local tmp = { files = {} }
  local function body()
    local first = drive(src, { task("", nil, top) })[1]
    if first.failure then return nil, first.failure.message, first.failure.code end
    local tasks = first.value
    local chunk = src.stream and math.max(#tasks, 1) or o.group
    for i = 1, #tasks, chunk do
      local results = drive(src, table.move(tasks, i, math.min(i + chunk, #tasks + 1) - 1, 1, {}))
      local cands = {}
      for j, r in ipairs(results) do
        if r.failure then
          local t = tasks[i + j - 1]
          skip(report, o, t.label, r.failure, t.id)
        else
          cands[#cands + 1] = r.value
        end
      end
      cands = merge(cands)
      for _, c in ipairs(cands) do plan(st, c) end
      handle_layers(src, cands, o, tmp)
      commit(st, cands, report, o)
    end
    return report
  end
  local ok, res, msg, code = pcall(body)
  for _, f in ipairs(tmp.files) do os.remove(f) end
  if tmp.dir then os.remove(tmp.dir) end
  if not ok then
    if is_failure(res) then return nil, res.message, res.code end
    error(res, 0)
  end
  return res, msg, code
end

-- ---- the importers -----------------------------------------------------------

local function oci_top(src, o) return function() return oci_tasks(src, o) end end

--- oci_layout(st, dir [, opts]) --> report | nil, message, code
function M.oci_layout(st, dir, opts)
  check_store(st)
  check_path(dir)
  local o = options(opts)
  local s, msg, code = core.file_stat(dir, true)
  if not s then return nil, msg, code end
  if s.type ~= "directory" then
    return nil, dir .. ": not an OCI image layout (not a directory)", "ELAYOUT"
  end
  local src = dir_source(dir)
  return run(st, src, oci_top(src, o), o, "oci-layout")
end

--- oci_archive(st, tarfile [, opts]) --> report | nil, message, code
function M.oci_archive(st, path, opts)
  check_store(st)
  check_path(path)
  local o = options(opts)
  local src, msg, code = tar_source(path, o.limits)
  if not src then return nil, msg, code end
  return run(st, src, oci_top(src, o), o, "oci-archive")
end

--- docker_archive(st, tarfile [, opts]) --> report | nil, message, code
function M.docker_archive(st, path, opts)
  check_store(st)
  check_path(path)
  local o = options(opts)
  local src, msg, code = tar_source(path, o.limits)
  if not src then return nil, msg, code end
  return run(st, src, function() return docker_tasks(src, o) end, o, "docker-archive")
end

-- One image of a store, copied: every big-data item read and checked
-- against its recorded digest.
local function store_image(source, img, o)
  local big = {}
  for _, key in ipairs(img.big_data_names) do
    local bytes, msg, code = source:big_data(img.id, key)
    if not bytes then fail(code, "big data %q: %s", key, msg) end
    local recorded, got = img.big_data_digests[key], sha256(bytes)
    if recorded and recorded ~= got then
      fail("ECORRUPT", "big data %q does not match its recorded digest %s (%s)", key, recorded, got)
    end
    o.progress{ kind = "blob", what = "big-data", digest = got, size = #bytes }
    big[#big + 1] = { key, bytes }
  end
  local names = {}
  for i, n in ipairs(img.names) do names[i] = n end
  return { source = "image " .. img.id, id = img.id, names = names, layer = img.layer,
           created = img.created, digest = img.digest, metadata = img.metadata, size = img.size,
           big_data = big }
end

local function store_src(source, label, o)
  local src = { label = label }
  local function top()
    local tasks = {}
    for _, p in ipairs(source:problems()) do
      if p.kind ~= "lock-file" then
        tasks[#tasks + 1] = task(p.path, nil, function()
          fail("ECORRUPT", "%s: %s (%s)", p.path, p.problem, p.kind)
        end)
      end
    end
    for _, img in ipairs(source:images()) do
      tasks[#tasks + 1] = task("image " .. img.id, img.id, function() return store_image(source, img, o) end)
    end
    return tasks
  end
  return src, top
end

--- store(st, source [, opts]) --> report | nil, message, code
-- Copies every image of another open store (either layout, layered or not).
function M.store(st, source, opts)
  check_store(st)
  check_store(source, "source")
  if rawequal(st, source) then error("bad argument #2 (the source is the store itself)", 2) end
  local o = options(opts)
  local src, top = store_src(source, "store", o)
  return run(st, src, top, o, "store")
end

local function open_source(dir)
  local src, msg, code = imagestore.open(dir, { readonly = true })
  if not src then return nil, msg, code end
  return src
end

local function has_file(dir, name)
  local s = core.file_stat(dir .. "/" .. name)
  return s ~= nil and s.type == "file"
end

local function import_store(st, dir, o, kind)
  local source, msg, code = open_source(dir)
  if not source then return nil, msg, code end
  local src, top = store_src(source, dir, o)
  local report
  report, msg, code = run(st, src, top, o, kind)
  source:close()
  return report, msg, code
end

--- containers_storage(st, images_dir [, opts]) --> report | nil, message, code
-- A Podman/CRI-O/Buildah `*-images` directory, read-only.
function M.containers_storage(st, dir, opts)
  check_store(st)
  check_path(dir)
  local o = options(opts)
  if not has_file(dir, "images.json") then
    local s, msg, code = core.file_stat(dir, true)
    if not s then return nil, msg, code end
    return nil, dir .. ": not a containers/storage image store (no images.json)", "ELAYOUT"
  end
  return import_store(st, dir, o, "containers-storage")
end

--- isulad(st, dir [, opts]) --> report | nil, message, code
-- An iSulad image store (`overlay-images`), which is this store's layout.
function M.isulad(st, dir, opts)
  check_store(st)
  check_path(dir)
  local o = options(opts)
  if has_file(dir, "images.json") then
    return nil, dir .. ": a containers/storage image store (images.json), not iSulad's", "ELAYOUT"
  end
  return import_store(st, dir, o, "isulad")
end

-- What a tar archive holds: "docker-archive", "oci-archive" or nil.
local function archive_kind(path)
  local r, msg, code = tar.open(path)
  if not r then return nil, msg, code end
  local seen = {}
  while true do
    local e
    e, msg, code = r:next()
    if not e then break end
    seen[clean(e.path)] = true
  end
  r:close()
  if msg then return nil, msg, code end
  if seen["manifest.json"] then return "docker-archive" end
  if seen["oci-layout"] and seen["index.json"] then return "oci-archive" end
  return false
end

--- detect(path) --> kind | nil, message, code
-- "oci-layout", "oci-archive", "docker-archive", "containers-storage" or
-- "isulad".
function M.detect(path)
  check_path(path)
  local s, msg, code = core.file_stat(path, true)
  if not s then return nil, msg, code end
  if s.type == "file" then
    local kind
    kind, msg, code = archive_kind(path)
    if kind then return kind end
    if kind == nil then return nil, msg, code end
    return nil, path .. ": a tar archive, but neither a docker-archive (no manifest.json) nor an oci-archive "
      .. "(no oci-layout and index.json)", "ELAYOUT"
  end
  if s.type == "directory" then
    if has_file(path, "oci-layout") then return "oci-layout" end
    if has_file(path, "images.json") then return "containers-storage" end
    local source = open_source(path)
    if source then
      local n = #source:images()
      source:close()
      if n > 0 then return "isulad" end
    end
  end
  return nil, path .. ": none of the kinds: not an OCI image layout (no oci-layout), an oci-archive or "
    .. "docker-archive, a containers/storage image store (no images.json) or an iSulad image store "
    .. "(no image records)", "ELAYOUT"
end

local BY_KIND = {
  ["oci-layout"] = M.oci_layout, ["oci-archive"] = M.oci_archive, ["docker-archive"] = M.docker_archive,
  ["containers-storage"] = M.containers_storage, isulad = M.isulad,
}

--- auto(st, path [, opts]) --> report | nil, message, code (see detect())
function M.auto(st, path, opts)
  check_store(st)
  check_path(path)
  options(opts)
  local kind, msg, code = M.detect(path)
  if not kind then return nil, msg, code end
  return BY_KIND[kind](st, path, opts)
end

return M
