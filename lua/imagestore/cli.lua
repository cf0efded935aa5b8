--- imagestore.cli: the command line of the `imagestore` command (cli/main.c
-- runs main(args) and exits with what it returns: 0 success, 1 the
-- operation failed, 2 a usage error). Errors go to stderr as
-- "imagestore: <message>". Everything a store holds is printed with control
-- characters escaped, except big-data bytes written on purpose
-- (`big-data REF KEY`). docs: cli/imagestore.1, README "Command line".
local imagestore = require("imagestore")
local core = require("imagestore.core")
local json = require("imagestore.json")
local naming = require("imagestore.naming")

local M = {}

local VERSION = imagestore.VERSION

---------------------------------------------------------------------------
-- Output
---------------------------------------------------------------------------

-- A usage error (status 2) or a failure (status 1), thrown as a table so
-- that main() tells them from bugs.
local function usage_error(fmt, ...)
  error({ status = 2, message = fmt:format(...) }, 0)
end

local function failure(fmt, ...)
  error({ status = 1, message = fmt:format(...) }, 0)
end

-- Control characters (C0, DEL, C1) and bytes that are not UTF-8 as \xNN,
-- and '\' as "\\": a name or metadata can never move the cursor.
local function escape(s)
  s = tostring(s)
  if not s:find("[%c\\\128-\255]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or c >= 0xC2 and c <= 0xDF and 2 or c >= 0xE0 and c <= 0xEF and 3
      or c >= 0xF0 and c <= 0xF4 and 4 or 0
    local chunk = len > 0 and s:sub(i, i + len - 1) or nil
    if len > 1 and (#chunk ~= len or not utf8.len(chunk)
        or (len == 2 and c == 0xC2 and s:byte(i + 1) < 0xA0)) then -- C1 controls
      chunk = nil
    end
    if c == 0x5C then
      out[#out + 1] = "\\\\"
    elseif chunk == nil or (len == 1 and (c < 0x20 or c == 0x7F)) then
      out[#out + 1] = ("\\x%02x"):format(c)
      len = 1
    else
      out[#out + 1] = chunk
    end
    i = i + len
  end
  return table.concat(out)
end
M.escape = escape

local function say(...)
  io.stdout:write(...)
end

local function print_json(value)
  local text, msg = json.encode(value, { indent = true })
  if not text then failure("cannot write JSON: %s", msg) end
  say(text, "\n")
end

-- A store call's result, or a failure with its message.
local function must(ok, msg, code, ...)
  if ok == nil then failure("%s", escape(msg or ("failed (" .. tostring(code) .. ")"))) end
  return ok, msg, code, ...
end

---------------------------------------------------------------------------
-- Human units
---------------------------------------------------------------------------

-- As podman prints sizes: decimal units, three significant digits.
local function human_size(bytes)
  if bytes == nil then return "-" end
  local units = { "B", "kB", "MB", "GB", "TB", "PB" }
  local v, u = bytes + 0.0, 1
  while v >= 1000 and u < #units do
    v, u = v / 1000, u + 1
  end
  if u == 1 then return ("%dB"):format(bytes) end
  local text = ("%.3g"):format(v)
  return text .. " " .. units[u]
end
M.human_size = human_size

-- As podman prints ages ("3 days ago").
local function human_age(seconds)
  if seconds == nil then return "-" end
  if seconds < 0 then seconds = 0 end
  local function ago(n, unit) return ("%d %s%s ago"):format(n, unit, n == 1 and "" or "s") end
  if seconds < 1 then return "Less than a second ago" end
  if seconds < 60 then return ago(seconds // 1, "second") end
  local minutes = seconds // 60
  if minutes == 1 then return "About a minute ago" end
  if minutes < 60 then return ago(minutes, "minute") end
  local hours = (seconds / 3600 + 0.5) // 1
  if hours == 1 then return "About an hour ago" end
  if hours < 48 then return ago(hours, "hour") end
  if hours < 24 * 7 * 2 then return ago(hours // 24, "day") end
  if hours < 24 * 30 * 2 then return ago(hours // 24 // 7, "week") end
  if hours < 24 * 365 * 2 then return ago(hours // 24 // 30, "month") end
  return ago(hours // 24 // 365, "year")
end
M.human_age = human_age

-- RFC 3339 text to epoch seconds (UTC), or nil.
local function epoch(t)
  if type(t) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac, zone = t:match(
    "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from the civil date (Howard Hinnant's algorithm): no os.time, no TZ
  local yy = mo <= 2 and y - 1 or y
  local era = (yy >= 0 and yy or yy - 399) // 400
  local yoe = yy - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local secs = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
  if frac ~= "" and frac ~= "." then secs = secs + tonumber("0" .. frac) end
  if zone ~= "Z" and zone ~= "z" and zone ~= "" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    local off = tonumber(zh) * 3600 + tonumber(zm) * 60
    secs = sign == "+" and secs - off or secs + off
  end
  return secs
end
M.epoch = epoch

---------------------------------------------------------------------------
-- Arguments
---------------------------------------------------------------------------

-- Parses args from index i against spec: { name = {kind=, short=} }, kinds
-- "flag", "value" and "list" (repeatable). Stops at the first operand when
-- stop_at_operand (global options), else collects operands.
local function parse_options(args, i, spec, stop_at_operand, command)
  local opts, operands = {}, {}
  local short = {}
  for name, s in pairs(spec) do
    if s.short then short[s.short] = name end
  end
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do operands[#operands + 1] = args[j] end
      i = #args + 1
      break
    end
    local name, value
    if a:sub(1, 2) == "--" and #a > 2 then
      name, value = a:match("^%-%-([^=]+)=(.*)$")
      if not name then name = a:sub(3) end
    elseif a:sub(1, 1) == "-" and #a == 2 then
      name = short[a:sub(2)]
      if not name then
        usage_error("unknown flag %s%s", escape(a), command and (" for " .. command) or "")
      end
    else
      if stop_at_operand then break end
      operands[#operands + 1] = a
      i = i + 1
      goto continue
    end
    do
      local s = spec[name]
      if not s then
        usage_error("unknown flag --%s%s", escape(name), command and (" for " .. command) or "")
      end
      if s.kind == "flag" then
        if value ~= nil then
          if value == "true" then value = true elseif value == "false" then value = false
          else usage_error("flag --%s takes no value", name) end
        else
          value = true
        end
        opts[name] = value
      else
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then usage_error("flag --%s needs a value", name) end
        end
        if s.kind == "list" then
          opts[name] = opts[name] or {}
          table.insert(opts[name], value)
        else
          opts[name] = value
        end
      end
      i = i + 1
    end
    ::continue::
  end
  return opts, operands, i
end

---------------------------------------------------------------------------
-- The store
---------------------------------------------------------------------------

-- The configuration file: TOML (the subset registries.conf uses), keys root,
-- readonly, additional_stores, hooks, and a [naming] table of
-- imagestore.naming.policy options.
local CONFIG_MAX = 1 << 20

-- Whether path (symlinks followed) is there; a failure when it is there but
-- no regular file: a FIFO must not hang the command.
local function regular_file(path, what)
  local st, msg, code = core.file_stat(path, true)
  if not st then
    if code == "ENOTFOUND" then return false end
    failure("%s %s: %s", what, escape(path), escape(msg))
  end
  if st.type ~= "file" then failure("%s %s is not a regular file", what, escape(path)) end
  return true
end

local function read_config(path)
  if not regular_file(path, "config file") then return nil end
  local f, msg = io.open(path, "rb")
  if not f then failure("%s", escape(msg)) end
  local text = f:read(CONFIG_MAX + 1)
  f:close()
  if text and #text > CONFIG_MAX then
    failure("config file %s is larger than %d bytes", escape(path), CONFIG_MAX)
  end
  text = text or ""
  local conf_mod = require("imagestore.registries_conf")
  local t, msg = conf_mod.decode_toml(text, path)
  if not t then failure("%s", escape(msg)) end
  local known = { root = "string", readonly = "boolean", additional_stores = "table",
                  hooks = "string", naming = "table" }
  for k, v in pairs(t) do
    if not known[k] then failure("%s: unknown key %q", escape(path), escape(k)) end
    if type(v) ~= known[k] then
      failure("%s: %s must be a %s, not a %s", escape(path), k, known[k], type(v))
    end
  end
  return t
end

-- The hooks file returns { name = fn | {fn...}, event = fn | {fn...},
-- naming = policy options }.
local function read_hooks(path)
  if not regular_file(path, "hooks file") then failure("no hooks file %s", escape(path)) end
  local chunk, msg = loadfile(path, "t")
  if not chunk then failure("cannot load hooks: %s", escape(msg)) end
  local ok, t = pcall(chunk)
  if not ok then failure("hooks file %s failed: %s", escape(path), escape(tostring(t))) end
  if type(t) ~= "table" then
    failure("hooks file %s must return a table, not a %s", escape(path), type(t))
  end
  return t
end

-- The settings every command shares: flags over the config file over the
-- environment.
local function settings(g)
  local root = g.root or os.getenv("IMAGESTORE_ROOT")
  local config_path = os.getenv("IMAGESTORE_CONFIG")
  local conf = {}
  if config_path and config_path ~= "" then
    conf = read_config(config_path) or failure("cannot read config file %s", escape(config_path))
  end
  root = root or conf.root or "./var/imagestore"
  if not config_path or config_path == "" then
    conf = read_config(root .. "/imagestore.conf") or conf
  end
  local additional = {}
  for _, d in ipairs(conf.additional_stores or {}) do additional[#additional + 1] = d end
  for _, d in ipairs(g["additional-store"] or {}) do additional[#additional + 1] = d end
  local hooks_path = g.hooks or conf.hooks
  if not hooks_path and regular_file(root .. "/hooks.lua", "hooks file") then
    hooks_path = root .. "/hooks.lua"
  end
  return {
    root = root, readonly = g.readonly or conf.readonly or false, additional = additional,
    hooks = hooks_path and read_hooks(hooks_path) or nil, naming = conf.naming,
  }
end

-- Opens the store for a command; write = false opens read-only (a missing
-- store is then an error, not a new one).
local function open_store(cfg, write)
  local opts = { readonly = cfg.readonly or not write }
  if #cfg.additional > 0 then opts.additional = cfg.additional end
  local naming_opts = cfg.naming
  if cfg.hooks then
    local h = {}
    if cfg.hooks.name then h.name = cfg.hooks.name end
    if cfg.hooks.event then h.event = cfg.hooks.event end
    if next(h) then opts.hooks = h end
    naming_opts = cfg.hooks.naming or naming_opts
  end
  if naming_opts then
    local policy, msg = naming.policy(naming_opts)
    if not policy then failure("naming policy: %s", escape(msg)) end
    opts.naming = policy
  end
  local ok, st, msg, code = pcall(imagestore.open, cfg.root, opts)
  if not ok then failure("%s", escape(tostring(st))) end
  if not st then
    failure("%s", escape(msg or code))
  end
  return st
end

---------------------------------------------------------------------------
-- Images as rows
---------------------------------------------------------------------------

-- repository and tag of a stored name ("<none>" where it has none).
local function split_name(name)
  local r = naming.parse(name)
  if r then
    local repo = r.domain and (r.domain .. "/" .. r.path) or r.path
    return repo, r.tag or "<none>", r.digest
  end
  return name, "<none>"
end

-- What an image takes: its size when recorded, else its big data's.
local function image_size(img)
  if img.size then return img.size end
  local total = 0
  for _, n in pairs(img.big_data_sizes or {}) do total = total + n end
  return total
end

-- One row per name (an image without names: one <none> row).
local function image_rows(images, now)
  local rows = {}
  for _, img in ipairs(images) do
    local created = epoch(img.created)
    local base = {
      ID = img.id:sub(1, 12), FullID = img.id, Digest = img.digest or "",
      Created = human_age(created and now - created), CreatedAt = img.created or "",
      Size = human_size(image_size(img)), VirtualSize = image_size(img),
      Names = table.concat(img.names, ","), ReadOnly = tostring(img.read_only),
      Store = img.store or "", image = img, created_epoch = created or 0,
    }
    local names = #img.names > 0 and img.names or { false }
    for _, name in ipairs(names) do
      local row = setmetatable({}, { __index = base })
      if name then
        row.Repository, row.Tag = split_name(name)
        row.Name = name
      else
        row.Repository, row.Tag, row.Name = "<none>", "<none>", ""
      end
      rows[#rows + 1] = row
    end
  end
  return rows
end

-- --format TEMPLATE: {{.Field}} (or {{ .Field }}) replaced by the field, as
-- podman's Go templates write it, with \t and \n; nothing else is code.
local function render(template, row, known)
  local text = template:gsub("\\t", "\t"):gsub("\\n", "\n")
  return (text:gsub("{{%s*%.([%w_]+)%s*}}", function(field)
    if known and not known[field] then
      usage_error("unknown field .%s in --format (known: %s)", escape(field), known._list)
    end
    local v = row[field]
    if v == nil then return "" end
    return escape(tostring(v))
  end))
end

local function known_fields(list)
  local k = { _list = table.concat(list, ", ") }
  for _, f in ipairs(list) do k[f] = true end
  return k
end

local IMAGE_FIELDS = known_fields({ "ID", "FullID", "Repository", "Tag", "Name", "Names",
  "Digest", "Created", "CreatedAt", "Size", "VirtualSize", "ReadOnly", "Store" })

local function print_table(headers, rows)
  local widths = {}
  for i, h in ipairs(headers) do widths[i] = #h end
  for _, r in ipairs(rows) do
    for i, cell in ipairs(r) do
      local w = utf8.len(cell) or #cell
      if w > widths[i] then widths[i] = w end
    end
  end
  local function line(cells)
    local parts = {}
    for i, cell in ipairs(cells) do
      if i < #cells then
        parts[i] = cell .. (" "):rep(widths[i] - (utf8.len(cell) or #cell) + 2)
      else
        parts[i] = cell
      end
    end
    say(table.concat(parts), "\n")
  end
  line(headers)
  for _, r in ipairs(rows) do line(r) end
end

---------------------------------------------------------------------------
-- Commands
---------------------------------------------------------------------------

local commands = {}
local aliases = { ls = "images", prune = "gc", rmi = "rm" }

local GLOBAL_HELP = [[
Usage: imagestore [--root DIR] [--readonly] [--hooks FILE] [--json]
                  [--additional-store DIR]... COMMAND [ARG...]

An image store on disk (iSulad's layout; containers/storage's read-only).

Commands:
  images (ls)     list images
  inspect         show images as JSON
  tag             add names to an image
  untag           remove names from an image
  rm (rmi)        remove images
  import          import images (OCI layouts, archives, other stores)
  gc (prune)      remove images by policy
  check           report what is wrong on disk
  repair          fix what check reports
  big-data        list an image's big-data items, or write one out
  usage           count images and bytes
  lua             run a Lua script with the store open

Global flags:
  --root DIR                the store (default: $IMAGESTORE_ROOT, else
                            ./var/imagestore)
  --readonly                open the store read-only
  --hooks FILE              a Lua file returning {name=, event=, naming=}
                            (default: DIR/hooks.lua when present)
  --additional-store DIR    a read-only store below this one (repeatable)
  --json                    machine-readable output
  --help, --version

Config: $IMAGESTORE_CONFIG, else DIR/imagestore.conf (TOML: root,
readonly, additional_stores, hooks, [naming]).
Exit status: 0 success, 1 failure, 2 usage error.
Run 'imagestore COMMAND --help' for a command's flags.
]]

local function now_epoch()
  return os.time()
end

-- images ---------------------------------------------------------------------

commands.images = {
  help = [[
Usage: imagestore images [FLAGS]

Lists the images: one row per name, <none> for an image without names.

Flags:
  -a, --all              every image (there are no intermediate images: the
                         same list)
      --digests          show the digest column
  -f, --filter K=V       dangling=true|false, reference=PATTERN (a shell-style
                         pattern on the name), before=REF, since=REF
                         (by creation time); repeatable, all must hold
      --sort FIELD       created (default, newest first), id, repository,
                         size, tag
      --format TEMPLATE  each row as TEMPLATE: {{.Field}} with Field one of
                         ID, FullID, Repository, Tag, Name, Names, Digest,
                         Created, CreatedAt, Size, VirtualSize, ReadOnly,
                         Store; \t and \n are a tab and a newline
  -q, --quiet            image IDs only
      --json             JSON
]],
  options = { all = { kind = "flag", short = "a" }, digests = { kind = "flag" },
              filter = { kind = "list", short = "f" }, sort = { kind = "value" },
              format = { kind = "value" }, quiet = { kind = "flag", short = "q" },
              json = { kind = "flag" }, noheading = { kind = "flag", short = "n" } },
}

-- A shell-style pattern (* ? [..]) as a Lua pattern, anchored.
local function glob_pattern(glob)
  local p = glob:gsub("[%^%$%(%)%%%.%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".")
  return "^" .. p .. "$"
end

local function image_filters(st, specs)
  local tests = {}
  for _, spec in ipairs(specs or {}) do
    local key, value = spec:match("^([%w_]+)=(.*)$")
    if not key then usage_error("bad --filter %q (want KEY=VALUE)", escape(spec)) end
    if key == "dangling" then
      if value ~= "true" and value ~= "false" then
        usage_error("bad --filter dangling=%s (want true or false)", escape(value))
      end
      local want = value == "true"
      tests[#tests + 1] = function(img) return (#img.names == 0) == want end
    elseif key == "reference" then
      local pat = glob_pattern(value)
      tests[#tests + 1] = function(img, name)
        if name then return name:match(pat) ~= nil or (split_name(name)):match(pat) ~= nil end
        return false
      end
    elseif key == "before" or key == "since" then
      local ref = must(st:get(value))
      local t = epoch(ref.created) or 0
      tests[#tests + 1] = key == "before"
        and function(img) return (epoch(img.created) or 0) < t end
        or function(img) return (epoch(img.created) or 0) > t end
    else
      usage_error("unknown filter %q (dangling, reference, before, since)", escape(key))
    end
  end
  return tests
end

local SORTS = {
  created = function(a, b)
    if a.created_epoch ~= b.created_epoch then return a.created_epoch > b.created_epoch end
    return a.FullID < b.FullID
  end,
  id = function(a, b) return a.FullID < b.FullID end,
  repository = function(a, b)
    if a.Repository ~= b.Repository then return a.Repository < b.Repository end
    return a.Tag < b.Tag
  end,
  tag = function(a, b)
    if a.Tag ~= b.Tag then return a.Tag < b.Tag end
    return a.Repository < b.Repository
  end,
  size = function(a, b)
    if a.VirtualSize ~= b.VirtualSize then return a.VirtualSize < b.VirtualSize end
    return a.FullID < b.FullID
  end,
}

function commands.images.run(ctx, o)
  if #ctx.operands > 0 then usage_error("images takes no arguments") end
  local sort = SORTS[o.sort or "created"]
  if not sort then usage_error("bad --sort %q (created, id, repository, size, tag)", escape(o.sort)) end
  local st <close> = open_store(ctx.cfg, false)
  local tests = image_filters(st, o.filter)
  local rows = {}
  for _, row in ipairs(image_rows(must(st:images()), now_epoch())) do
    local keep = true
    for _, t in ipairs(tests) do
      if not t(row.image, row.Name ~= "" and row.Name or nil) then keep = false break end
    end
    if keep then rows[#rows + 1] = row end
  end
  table.sort(rows, sort)
  if o.quiet then
    local seen = {}
    for _, r in ipairs(rows) do
      if not seen[r.FullID] then
        seen[r.FullID] = true
        say(r.ID, "\n")
      end
    end
  elseif ctx.json then
    local out, seen = json.array(), {}
    for _, r in ipairs(rows) do
      if not seen[r.FullID] then
        seen[r.FullID] = true
        local img = r.image
        out[#out + 1] = { id = img.id, names = json.array(img.names), digest = img.digest,
                          created = img.created, size = image_size(img),
                          read_only = img.read_only, store = img.store }
      end
    end
    print_json(out)
  elseif o.format then
    for _, r in ipairs(rows) do say(render(o.format, r, IMAGE_FIELDS), "\n") end
  else
    local headers = { "REPOSITORY", "TAG" }
    if o.digests then headers[#headers + 1] = "DIGEST" end
    for _, h in ipairs({ "IMAGE ID", "CREATED", "SIZE" }) do headers[#headers + 1] = h end
    local cells = {}
    for _, r in ipairs(rows) do
      local c = { escape(r.Repository), escape(r.Tag) }
      if o.digests then c[#c + 1] = escape(r.Digest ~= "" and r.Digest or "<none>") end
      c[#c + 1] = r.ID
      c[#c + 1] = r.Created
      c[#c + 1] = r.Size
      cells[#cells + 1] = c
    end
    if o.noheading then
      for _, c in ipairs(cells) do say(table.concat(c, "  "), "\n") end
    else
      print_table(headers, cells)
    end
  end
  return 0
end

-- inspect --------------------------------------------------------------------

commands.inspect = {
  help = [[
Usage: imagestore inspect [--format TEMPLATE] REF...

Shows each image as JSON (an array), with its big-data items' sizes and
digests; --format prints TEMPLATE per image instead (see images --help for
the syntax; fields: ID, FullID, Names, Digest, Created, CreatedAt, Size,
Layer, Metadata, ReadOnly, Store).
]],
  options = { format = { kind = "value", short = "f" }, json = { kind = "flag" } },
}

local INSPECT_FIELDS = known_fields({ "ID", "FullID", "Names", "Digest", "Created", "CreatedAt",
  "Size", "Layer", "Metadata", "ReadOnly", "Store" })

function commands.inspect.run(ctx, o)
  if #ctx.operands == 0 then usage_error("inspect needs at least one image") end
  local st <close> = open_store(ctx.cfg, false)
  local out, now = json.array(), now_epoch()
  for _, ref in ipairs(ctx.operands) do
    local img = must(st:get(ref))
    if o.format then
      local created = epoch(img.created)
      say(render(o.format, {
        ID = img.id:sub(1, 12), FullID = img.id, Names = table.concat(img.names, ","),
        Digest = img.digest, Created = human_age(created and now - created),
        CreatedAt = img.created, Size = image_size(img), Layer = img.layer,
        Metadata = img.metadata, ReadOnly = tostring(img.read_only), Store = img.store,
      }, INSPECT_FIELDS), "\n")
    else
      local big = json.array()
      for _, key in ipairs(img.big_data_names) do
        big[#big + 1] = { key = key, size = img.big_data_sizes[key],
                          digest = img.big_data_digests[key] }
      end
      out[#out + 1] = {
        id = img.id, names = json.array(img.names), names_history = json.array(img.names_history),
        digest = img.digest, digests = json.array(img.digests), layer = img.layer,
        metadata = img.metadata, created = img.created, loaded = img.loaded,
        size = img.size, flags = json.object(img.flags), read_only = img.read_only,
        store = img.store, big_data = big,
      }
    end
  end
  if not o.format then print_json(out) end
  return 0
end

-- tag, untag -------------------------------------------------------------------

-- A name as the store will hold it: checked by the reference grammar, the
-- store's naming policy (if any) normalizing it afterwards.
local function check_name(name)
  local ok, msg = naming.parse(name)
  if not ok then failure("invalid name %q: %s", escape(name), escape(msg)) end
  return name
end

commands.tag = {
  help = [[
Usage: imagestore tag REF NAME...

Adds each NAME to the image REF names; a name another image holds moves
here.
]],
  options = {},
  write = true,
}

function commands.tag.run(ctx)
  local ref = ctx.operands[1]
  if not ref or #ctx.operands < 2 then usage_error("tag needs an image and at least one name") end
  local st <close> = open_store(ctx.cfg, true)
  for i = 2, #ctx.operands do
    must(st:add_name(ref, check_name(ctx.operands[i])))
  end
  if ctx.json then print_json({ id = must(st:lookup(ref)), added = json.array({ table.unpack(ctx.operands, 2) }) }) end
  return 0
end

commands.untag = {
  help = [[
Usage: imagestore untag REF [NAME...]

Removes each NAME from the image REF; without a NAME, removes all its names.
]],
  options = {},
  write = true,
}

function commands.untag.run(ctx)
  local ref = ctx.operands[1]
  if not ref then usage_error("untag needs an image") end
  local st <close> = open_store(ctx.cfg, true)
  local id = must(st:lookup(ref))
  local removed = json.array()
  if #ctx.operands == 1 then
    for _, n in ipairs(must(st:get(id)).names) do removed[#removed + 1] = n end
    must(st:set_names(id, {}))
  else
    for i = 2, #ctx.operands do
      must(st:remove_name(id, ctx.operands[i]))
      removed[#removed + 1] = ctx.operands[i]
    end
  end
  if ctx.json then print_json({ id = id, removed = removed }) end
  return 0
end

-- rm ---------------------------------------------------------------------------

commands.rm = {
  help = [[
Usage: imagestore rm [--force] REF...

Removes images. REF given by one of several names removes that name only
(as podman does); an image with several names given by its ID needs
--force, which removes the image and all its names.
]],
  options = { force = { kind = "flag", short = "f" }, json = { kind = "flag" } },
  write = true,
}

function commands.rm.run(ctx, o)
  if #ctx.operands == 0 then usage_error("rm needs at least one image") end
  local st <close> = open_store(ctx.cfg, true)
  local report, status = json.array(), 0
  for _, ref in ipairs(ctx.operands) do
    local img, msg = st:get(ref)
    if not img then
      io.stderr:write("imagestore: ", escape(msg), "\n")
      status = 1
    else
      local by_name = false
      for _, n in ipairs(img.names) do
        if n == ref then by_name = true end
      end
      if by_name and #img.names > 1 and not o.force then
        must(st:remove_name(img.id, ref))
        report[#report + 1] = { id = img.id, untagged = ref }
        if not ctx.json then say("Untagged: ", escape(ref), "\n") end
      elseif #img.names > 1 and not o.force then
        io.stderr:write(("imagestore: image %s has %d names: give one of them, or --force\n")
          :format(img.id:sub(1, 12), #img.names))
        status = 1
      else
        must(st:delete(img.id))
        report[#report + 1] = { id = img.id, deleted = true }
        if not ctx.json then say("Deleted: ", img.id, "\n") end
      end
    end
  end
  if ctx.json then print_json(report) end
  return status
end

-- check, repair ------------------------------------------------------------------

local function print_problems(ctx, list, empty_text)
  if ctx.json then
    local out = json.array()
    for _, p in ipairs(list) do out[#out + 1] = { path = p.path, kind = p.kind, problem = p.problem } end
    print_json(out)
    return
  end
  if #list == 0 then
    say(empty_text, "\n")
    return
  end
  for _, p in ipairs(list) do
    say(escape(p.kind), ": ", escape(p.path), ": ", escape(p.problem), "\n")
  end
end

commands.check = {
  help = [[
Usage: imagestore check [--isulad] [--default-registry HOST]

Reports what is wrong on disk, changing nothing. --isulad adds what iSulad
would do to the store at its next start. Exit status 1 when it found
anything.
]],
  options = { isulad = { kind = "flag" }, ["default-registry"] = { kind = "value" },
              json = { kind = "flag" } },
}

function commands.check.run(ctx, o)
  if #ctx.operands > 0 then usage_error("check takes no arguments") end
  local st <close> = open_store(ctx.cfg, false)
  local opts
  if o.isulad then opts = { isulad = true, default_registry = o["default-registry"] }
  elseif o["default-registry"] then usage_error("--default-registry needs --isulad") end
  local list = must(st:check(opts))
  print_problems(ctx, list, "no problems found")
  return #list == 0 and 0 or 1
end

commands.repair = {
  help = [[
Usage: imagestore repair

Fixes what check reports (moving unusable image directories to
DIR/.quarantine/, never deleting them) and lists what it did.
]],
  options = { json = { kind = "flag" } },
  write = true,
}

function commands.repair.run(ctx)
  if #ctx.operands > 0 then usage_error("repair takes no arguments") end
  local st <close> = open_store(ctx.cfg, true)
  print_problems(ctx, must(st:repair()), "nothing to repair")
  return 0
end

-- big-data -------------------------------------------------------------------------

commands["big-data"] = {
  help = [[
Usage: imagestore big-data REF [KEY]

Without KEY, lists the image's big-data items (key, size, digest). With KEY,
writes that item's bytes to stdout as they are.
]],
  options = { json = { kind = "flag" } },
}

commands["big-data"].run = function(ctx)
  local ref, key = ctx.operands[1], ctx.operands[2]
  if not ref or #ctx.operands > 2 then usage_error("big-data needs an image and at most one key") end
  local st <close> = open_store(ctx.cfg, false)
  if key then
    local data = must(st:big_data(ref, key))
    io.stdout:write(data)
    return 0
  end
  local img = must(st:get(ref))
  if ctx.json then
    local out = json.array()
    for _, k in ipairs(img.big_data_names) do
      out[#out + 1] = { key = k, size = img.big_data_sizes[k], digest = img.big_data_digests[k] }
    end
    print_json(out)
  else
    local rows = {}
    for _, k in ipairs(img.big_data_names) do
      local size = img.big_data_sizes[k]
      rows[#rows + 1] = { escape(k), size and tostring(size) or "-", img.big_data_digests[k] or "-" }
    end
    print_table({ "KEY", "SIZE", "DIGEST" }, rows)
  end
  return 0
end

-- usage ----------------------------------------------------------------------------

commands.usage = {
  help = [[
Usage: imagestore usage

Counts the images and what they take: the recorded size (an image's size
when recorded, else its big data's) and the bytes on disk.
]],
  options = { json = { kind = "flag" } },
}

function commands.usage.run(ctx)
  if #ctx.operands > 0 then usage_error("usage takes no arguments") end
  local st <close> = open_store(ctx.cfg, false)
  local u
  if st.usage then
    u = must(st:usage())
  else
    u = { images = 0, size = 0 }
    for _, img in ipairs(must(st:images())) do
      u.images = u.images + 1
      u.size = u.size + image_size(img)
    end
  end
  if ctx.json then
    print_json(u)
  else
    local keys = {}
    for k in pairs(u) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = u[k]
      say(k, ": ", tostring(v), (k ~= "images" and math.type(v) and (" (" .. human_size(v) .. ")") or ""), "\n")
    end
  end
  return 0
end

-- lua --------------------------------------------------------------------------------

commands.lua = {
  help = [[
Usage: imagestore lua SCRIPT [ARG...]

Runs the Lua file SCRIPT with the store open in the global `store` and its
arguments in `arg` (arg[0] is SCRIPT). The store is writable unless
--readonly was given. The script's error is the command's.
]],
  options = {},
  write = true,
  raw_operands = true,
}

function commands.lua.run(ctx)
  local script = ctx.operands[1]
  if not script then usage_error("lua needs a script") end
  local chunk, msg = loadfile(script, "t")
  if not chunk then failure("%s", escape(msg)) end
  local st <close> = open_store(ctx.cfg, not ctx.cfg.readonly)
  local script_arg = { [0] = script }
  for i = 2, #ctx.operands do script_arg[i - 1] = ctx.operands[i] end
  local old_store, old_arg = rawget(_G, "store"), rawget(_G, "arg")
  rawset(_G, "store", st)
  rawset(_G, "arg", script_arg)
  local ok, err = pcall(chunk, table.unpack(script_arg))
  rawset(_G, "store", old_store)
  rawset(_G, "arg", old_arg)
  if not ok then failure("%s: %s", escape(script), escape(tostring(err))) end
  return 0
end

-- import, gc (the policy modules, when this build has them) ---------------------------

local function optional(module)
  local ok, m = pcall(require, module)
  if ok then return m end
  return nil
end

-- The terminal, as the host tells it (cli/main.c); nothing outside it.
local function host()
  local ok, h = pcall(require, "imagestore.cli_host")
  if ok then return h end
  return { isatty = function() return false end, columns = function() return nil end }
end

commands.import = {
  help = [=[
Usage: imagestore import [--platform OS/ARCH[/VARIANT]] [--verify-layers] PATH...

Imports every image of each PATH: an OCI layout, an oci-archive or
docker-archive tarball, a containers/storage images directory, or an
iSulad store (the kind is detected). On a terminal a progress line runs on
stderr; otherwise each image gets a line on stdout ("added", "updated",
"unchanged" or "skipped", then its ID and names). Exit status 1 when a path
or an image could not be imported.
]=],
  options = { platform = { kind = "value" }, ["verify-layers"] = { kind = "flag" },
              json = { kind = "flag" } },
  write = true,
}

function commands.import.run(ctx, o)
  if #ctx.operands == 0 then usage_error("import needs at least one path") end
  local import = require("imagestore.import")
  local st <close> = open_store(ctx.cfg, true)
  local h = host()
  local tty = not ctx.json and h.isatty(2)
  local status, reports = 0, json.array()
  for _, path in ipairs(ctx.operands) do
    local images, blobs, bytes = 0, 0, 0
    local function show(final)
      local line = ("%s: %d image%s, %d blob%s, %s"):format(escape(path), images,
        images == 1 and "" or "s", blobs, blobs == 1 and "" or "s", human_size(bytes))
      local width = h.columns(2) or 80
      if #line > width - 1 then line = line:sub(1, width - 4) .. "..." end
      io.stderr:write("\r\27[K", line, final and "\n" or "")
      io.stderr:flush()
    end
    local opts = { platform = o.platform, verify_layers = o["verify-layers"] or nil }
    opts.progress = function(ev)
      if ev.kind == "blob" then
        blobs, bytes = blobs + 1, bytes + (ev.size or 0)
      elseif ev.kind == "image" then
        images = images + 1
        if not tty and not ctx.json then
          say(ev.status, " ", ev.id and ev.id:sub(1, 12) or escape(ev.source or "?"),
              ev.message and (": " .. escape(ev.message)) or "", "\n")
        end
      end
      -- each image, and every 32nd blob: a terminal is slow to write to
      if tty and (ev.kind == "image" or blobs % 32 == 1) then show(false) end
    end
    local report, msg = import.auto(st, path, opts)
    if tty then show(true) end
    if not report then
      io.stderr:write("imagestore: ", escape(msg), "\n")
      status = 1
    else
      for _, s in ipairs(report.skipped or {}) do
        io.stderr:write("imagestore: ", escape(s.source or path), ": ", escape(s.message or "?"), "\n")
        status = 1
      end
      if not ctx.json and not tty then
        for _, n in ipairs(report.names or {}) do
          if n.from then say("moved ", escape(n.name), " from ", n.from:sub(1, 12), "\n") end
        end
      end
      reports[#reports + 1] = report
    end
  end
  if ctx.json then print_json(reports) end
  return status
end

commands.gc = {
  help = [=[
Usage: imagestore gc [RULES] [--dry-run] [--yes] [--store [--quarantine-older-than AGE]]

Removes images by policy (imagestore.gc: README, "Garbage collection"),
after printing the plan. On a terminal it asks before deleting, unless
--yes; elsewhere it needs --yes (or --dry-run).

Rules (an image any rule selects goes, unless protected):
      --dangling               images without names
      --older-than AGE         loaded (else created) more than AGE ago:
                               seconds, or 90s, 12h, 7d, 1d12h
      --keep-last N            keep the N most recently loaded images of
                               each repository
      --high SIZE --low SIZE   above HIGH, free the least recently loaded
                               images down to LOW (bytes, or 20GB, 500MB;
                               with --by count, image counts)
      --by size|count          what --high and --low count (default size)
      --min-age AGE            the budget spares images younger than AGE
      --protect PATTERN        a Lua pattern on names never removed
                               (repeatable)
Other flags:
      --dry-run                print the plan, remove nothing
  -y, --yes                    do not ask
      --store                  also remove the store's own garbage (temp
                               leftovers, unrecorded big-data files)
      --quarantine-older-than AGE   with --store: quarantined entries too
]=],
  options = { dangling = { kind = "flag" }, ["older-than"] = { kind = "value" },
              ["keep-last"] = { kind = "value" }, high = { kind = "value" },
              low = { kind = "value" }, by = { kind = "value" }, ["min-age"] = { kind = "value" },
              protect = { kind = "list" }, ["dry-run"] = { kind = "flag" },
              yes = { kind = "flag", short = "y" }, store = { kind = "flag" },
              ["quarantine-older-than"] = { kind = "value" }, json = { kind = "flag" } },
  write = true,
}

-- "20GB", "500MB", "1.5kB" (decimal, as podman prints), or plain bytes.
local function parse_bytes(flag, text)
  local n, unit = text:match("^(%d+%.?%d*)%s*(%a*)$")
  local scale = ({ [""] = 1, B = 1, kB = 1e3, KB = 1e3, MB = 1e6, GB = 1e9, TB = 1e12 })[unit or "?"]
  if not n or not scale then usage_error("bad --%s %q (bytes, or a size such as 20GB)", flag, escape(text)) end
  return math.floor(tonumber(n) * scale)
end

local function parse_count(flag, text)
  local n = math.tointeger(tonumber(text))
  if not n or n < 0 then usage_error("bad --%s %q (a count)", flag, escape(text)) end
  return n
end

function commands.gc.run(ctx, o)
  if #ctx.operands > 0 then usage_error("gc takes no arguments, only flags") end
  local gc = require("imagestore.gc")
  local policy = {}
  if o.dangling then policy.dangling = true end
  if o["older-than"] then policy.older_than = o["older-than"] end
  if o["keep-last"] then policy.keep_last = parse_count("keep-last", o["keep-last"]) end
  if o.high or o.low then
    if not (o.high and o.low) then usage_error("--high and --low go together") end
    local by = o.by or "size"
    local parse = by == "count" and parse_count or parse_bytes
    policy.budget = { by = by, high = parse("high", o.high), low = parse("low", o.low),
                      min_age = o["min-age"] }
  elseif o.by or o["min-age"] then
    usage_error("--by and --min-age need --high and --low")
  end
  if o.protect then policy.protect = { patterns = o.protect } end
  if o["quarantine-older-than"] and not o.store then
    usage_error("--quarantine-older-than needs --store")
  end
  local h = host()
  local interactive = h.isatty(0) and h.isatty(2)
  if not o["dry-run"] and not o.yes and not interactive then
    usage_error("gc removes images: give --yes (or --dry-run) when not on a terminal")
  end
  local st <close> = open_store(ctx.cfg, not o["dry-run"])
  local plan, msg, code = gc.plan(st, policy)
  if not plan then
    if code == "EINVAL" then usage_error("%s", escape(msg)) end
    failure("%s", escape(msg))
  end
  local result = { plan = plan }
  if not ctx.json then
    for line in (gc.format(plan) .. "\n"):gmatch("(.-)\n") do say(escape(line), "\n") end
  end
  local status = 0
  if not o["dry-run"] and #plan.images > 0 then
    local go = o.yes
    if not go then
      io.stderr:write(("Remove %d image%s (%s)? [y/N] "):format(#plan.images,
        #plan.images == 1 and "" or "s", gc.bytes(plan.freed.size)))
      io.stderr:flush()
      local answer = io.stdin:read("l") or ""
      go = answer:match("^%s*[yY][eE]?[sS]?%s*$") ~= nil
    end
    if not go then
      if not ctx.json then say("nothing removed\n") end
      result.report = json.null
    else
      local report, amsg, _, partial = gc.apply(st, plan)
      report = report or partial
      result.report = report
      if not ctx.json then
        for _, e in ipairs(report.removed) do say("Deleted: ", e.id, "\n") end
      end
      for _, e in ipairs(report.skipped) do
        io.stderr:write("imagestore: skipped ", e.id:sub(1, 12), ": ", escape(e.reason), "\n")
      end
      for _, e in ipairs(report.failed) do
        io.stderr:write("imagestore: failed ", e.id:sub(1, 12), ": ", escape(e.message), "\n")
        status = 1
      end
      if amsg then
        io.stderr:write("imagestore: ", escape(amsg), "\n")
        status = 1
      end
    end
  elseif o["dry-run"] and not ctx.json then
    say("dry run: nothing removed\n")
  end
  if o.store then
    local garbage, gmsg, _, partial = gc.store(st, { dry_run = o["dry-run"] or nil,
      quarantine_older_than = o["quarantine-older-than"] })
    garbage = garbage or partial or {}
    result.store = garbage
    if not ctx.json then
      for _, e in ipairs(garbage) do say(escape(e.problem), "\n") end
    end
    if gmsg then
      io.stderr:write("imagestore: ", escape(gmsg), "\n")
      status = 1
    end
  end
  if ctx.json then print_json(result) end
  return status
end

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------

local GLOBAL_OPTIONS = {
  root = { kind = "value" }, readonly = { kind = "flag" }, hooks = { kind = "value" },
  json = { kind = "flag" }, ["additional-store"] = { kind = "list" },
  help = { kind = "flag", short = "h" }, version = { kind = "flag" },
}

local function dispatch(args)
  local g, _, i = parse_options(args, 1, GLOBAL_OPTIONS, true)
  if g.version then
    say("imagestore ", VERSION, "\n")
    return 0
  end
  local name = args[i]
  if g.help or name == nil or name == "help" then
    local target = name == "help" and args[i + 1] or nil
    if target then
      local c = commands[aliases[target] or target]
      if not c then usage_error("unknown command %q (see imagestore --help)", escape(target)) end
      say(c.help)
      return 0
    end
    if name == nil and not g.help then
      io.stderr:write(GLOBAL_HELP)
      return 2
    end
    say(GLOBAL_HELP)
    return 0
  end
  local cname = aliases[name] or name
  local c = commands[cname]
  if not c then usage_error("unknown command %q (see imagestore --help)", escape(name)) end
  local spec = { help = { kind = "flag", short = "h" } }
  for k, v in pairs(c.options) do spec[k] = v end
  local o, operands
  if c.raw_operands then
    -- flags of its own only before the first operand; the rest is the script's
    o, operands = {}, {}
    local j = i + 1
    if args[j] == "--help" or args[j] == "-h" then o.help = true end
    local parsed, _, next_i = parse_options(args, j, spec, true, cname)
    for k, v in pairs(parsed) do o[k] = v end
    for k = next_i, #args do operands[#operands + 1] = args[k] end
  else
    o, operands = parse_options(args, i + 1, spec, false, cname)
  end
  if o.help then
    say(c.help)
    return 0
  end
  local ctx = { cfg = settings(g), operands = operands, json = g.json or o.json, options = o,
                name = cname }
  return c.run(ctx, o)
end

--- main(args) --> exit status
function M.main(args)
  local ok, status = pcall(dispatch, args)
  io.stdout:flush()
  if ok then return status end
  if type(status) == "table" and status.status then
    io.stderr:write("imagestore: ", status.message, "\n")
    return status.status
  end
  error(status, 0)
end

M.commands = commands

return M
