-- imagestore.naming: container image references in pure Lua.
--
-- The grammar is the one of github.com/distribution/reference (Docker,
-- containerd, containers/image); digests are checked as go-digest does.
-- Names are split into a registry ("domain") and a path the way Docker does
-- (splitDockerDomain), and short names are resolved the way
-- containers-registries.conf(5) describes. docs/naming.md is the manual.
--
-- Expected failures return nil, message, code; misuse (wrong argument types,
-- unknown or bad options) raises.

local M = {}

local MAX_PATH_LENGTH = 255 -- upstream RepositoryNameTotalLengthMax
local MAX_TAG_LENGTH = 128
local DOCKER_HUB = "docker.io"
local LEGACY_DOCKER_HUB = "index.docker.io"
local LIBRARY = "library/"

-- Hex length of the encoded part of each supported digest algorithm.
local DIGEST_HEX_LENGTH = { sha256 = 64, sha384 = 96, sha512 = 128 }

local SHORT_NAME_MODES = { enforcing = true, permissive = true, disabled = true }

---------------------------------------------------------------------------
-- Small helpers
---------------------------------------------------------------------------

local function misuse(message, level)
  error("imagestore.naming: " .. message, level + 1)
end

local function check_string(value, argn, fname, level)
  if type(value) ~= "string" then
    misuse(string.format("bad argument #%d to '%s' (string expected, got %s)",
      argn, fname, type(value)), level + 1)
  end
end

-- A character as messages show it: 'x', or its byte value when unprintable.
local function show_char(c)
  local b = c:byte()
  if b >= 0x20 and b <= 0x7e then return "'" .. c .. "'" end
  return string.format("byte 0x%02X", b)
end

local function starts_with(s, prefix)
  return s:sub(1, #prefix) == prefix
end

local function copy_list(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

---------------------------------------------------------------------------
-- Component checks. Each returns nil when fine, else the reason (a string).
-- `base` is the position (1-based) of the checked text within the input.
---------------------------------------------------------------------------

-- host[:port]: a DNS-like name, an IPv4 address, or [IPv6].
local function domain_problem(domain, base)
  local host_end -- index in domain of the last character of the host
  if domain:sub(1, 1) == "[" then
    local close = domain:find("]", 2, true)
    local inside = close and domain:sub(2, close - 1) or ""
    if not close or not inside:match("^[0-9A-Fa-f:]+$") then
      local shown = close and domain:sub(1, close) or domain
      return string.format("invalid IPv6 address %q at position %d: want [hex digits and ':']",
        shown, base)
    end
    host_end = close
  else
    host_end = (domain:find(":", 1, true) or #domain + 1) - 1
    local host = domain:sub(1, host_end)
    local i = 1
    while true do
      local dot = host:find(".", i, true) or #host + 1
      local comp = host:sub(i, dot - 1)
      if comp == "" then
        local at = (dot <= #host) and dot or math.max(dot - 1, 1)
        return string.format("empty domain component at position %d", base + at - 1)
      end
      local bad = comp:find("[^A-Za-z0-9-]")
      if bad then
        return string.format("invalid character %s at position %d in domain",
          show_char(comp:sub(bad, bad)), base + i + bad - 2)
      end
      if comp:sub(1, 1) == "-" or comp:sub(-1) == "-" then
        return string.format("domain component %q at position %d must not start or end with '-'",
          comp, base + i - 1)
      end
      if dot > #host then break end
      i = dot + 1
    end
  end
  local rest = domain:sub(host_end + 1)
  if rest ~= "" then
    if rest:sub(1, 1) ~= ":" then
      return string.format("invalid character %s at position %d in domain",
        show_char(rest:sub(1, 1)), base + host_end)
    end
    local port = rest:sub(2)
    if not port:match("^[0-9]+$") then
      return string.format("invalid port %q at position %d: want digits", port, base + host_end + 1)
    end
  end
  return nil
end

-- One path component, already lowercased: alnum runs joined by one '.',
-- one or two '_', or any number of '-'.
local function component_problem(comp, original, pos)
  local bad = comp:find("[^a-z0-9._-]")
  if bad then
    return string.format("invalid character %s at position %d in repository name",
      show_char(original:sub(bad, bad)), pos + bad - 1)
  end
  if not comp:sub(1, 1):match("[a-z0-9]") or not comp:sub(-1):match("[a-z0-9]") then
    return string.format("path component %q at position %d must start and end with a letter or digit",
      original, pos)
  end
  for s, sep in comp:gmatch("()([._-]+)") do
    if not (sep == "." or sep == "_" or sep == "__" or sep:match("^%-+$")) then
      return string.format("invalid separator %q at position %d in path component %q",
        sep, pos + s - 1, original)
    end
  end
  return nil
end

-- The path's format, ignoring letter case (upstream reports uppercase only
-- when the lowercased reference would be valid).
local function path_format_problem(path, base)
  local lower = path:lower()
  local i = 1
  while true do
    local slash = path:find("/", i, true)
    local stop = slash or #path + 1
    if stop == i then
      -- empty component: point at the '/' next to it
      local at = slash or (i - 1)
      return string.format("empty path component at position %d", base + at - 1)
    end
    local problem = component_problem(lower:sub(i, stop - 1), path:sub(i, stop - 1), base + i - 1)
    if problem then return problem end
    if not slash then return nil end
    i = slash + 1
  end
end

local function tag_problem(tag, base)
  if tag == "" then
    return string.format("empty tag after ':' at position %d", base - 1)
  end
  if not tag:sub(1, 1):match("[%w_]") then
    return string.format("tag %q at position %d must start with a letter, digit or '_'", tag, base)
  end
  local bad = tag:find("[^%w_.-]")
  if bad then
    return string.format("invalid character %s at position %d in tag",
      show_char(tag:sub(bad, bad)), base + bad - 1)
  end
  if #tag > MAX_TAG_LENGTH then
    return string.format("tag is %d characters, longer than the maximum of %d", #tag, MAX_TAG_LENGTH)
  end
  return nil
end

-- The digest's syntax as distribution/reference's regexp has it:
-- algorithm ([A-Za-z][A-Za-z0-9]* joined by [-_+.]) ':' 32 or more hex digits.
local function digest_syntax_problem(digest)
  local alg, hex = digest:match("^([^:]*):(.*)$")
  local ok = alg ~= nil and #hex >= 32 and hex:match("^%x+$") ~= nil
  if ok then
    for part in (alg .. "."):gmatch("(.-)[-_+.]") do
      if not part:match("^[A-Za-z][A-Za-z0-9]*$") then ok = false break end
    end
    if alg:match("[-_+.]$") then ok = false end
  end
  if not ok then
    return "want <algorithm>:<hex>, with at least 32 hex digits"
  end
  return nil
end

-- What go-digest checks on top: a known algorithm, its exact length, and
-- lowercase hex. `base` is the position of the digest's first character.
local function digest_value_problem(digest, base)
  local alg, hex = digest:match("^([^:]*):(.*)$")
  local want = DIGEST_HEX_LENGTH[alg]
  if not want then
    return string.format("unsupported digest algorithm %q: want sha256, sha384 or sha512", alg)
  end
  if #hex ~= want then
    return string.format("%s digest has %d hex digits, want %d", alg, #hex, want)
  end
  local upper = hex:find("[A-F]")
  if upper then
    return string.format("hex digits must be lowercase: %s at position %d",
      show_char(hex:sub(upper, upper)), base + #alg + upper)
  end
  return nil
end

local function digest_problem(digest, base)
  return digest_syntax_problem(digest) or digest_value_problem(digest, base)
end

---------------------------------------------------------------------------
-- Parsing
---------------------------------------------------------------------------

local function invalid(s, reason)
  return nil, string.format("invalid reference %q: %s", s, reason), "EINVAL"
end

-- Docker's rule (splitDockerDomain): the first of several components is a
-- registry when it has a '.' or ':', is "localhost", or has an uppercase letter.
local function looks_like_domain(first)
  return first:find("[.:]") ~= nil or first == "localhost" or first:find("%u") ~= nil
end

local function parse(s)
  if s == "" then return invalid(s, "empty") end
  if #s == 64 and s:match("^[0-9a-f]+$") then
    return invalid(s, "a 64-character hexadecimal string is an image ID, not a repository name")
  end

  -- name[:tag][@digest]; neither name nor tag has an '@'
  local at = s:find("@", 1, true)
  local name_tag = at and s:sub(1, at - 1) or s
  local digest = at and s:sub(at + 1) or nil
  local last_slash = name_tag:match(".*()/") or 0
  local colon = name_tag:match(".*():")
  if colon and colon < last_slash then colon = nil end
  local name = colon and name_tag:sub(1, colon - 1) or name_tag
  local tag = colon and name_tag:sub(colon + 1) or nil
  if name == "" then return invalid(s, "missing repository name") end

  local domain, path, path_base = nil, name, 1
  local slash = name:find("/", 1, true)
  if slash and looks_like_domain(name:sub(1, slash - 1)) then
    domain, path, path_base = name:sub(1, slash - 1), name:sub(slash + 1), slash + 1
  end

  local problem = (domain and domain_problem(domain, 1))
    or path_format_problem(path, path_base)
    or (tag and tag_problem(tag, colon + 1))
  if problem then return invalid(s, problem) end
  if digest then
    problem = digest_syntax_problem(digest)
    if problem then return invalid(s, string.format("digest %q: %s", digest, problem)) end
  end
  local upper = path:find("%u")
  if upper then
    return invalid(s, string.format("repository name must be lowercase: %s at position %d",
      show_char(path:sub(upper, upper)), path_base + upper - 1))
  end
  if #path > MAX_PATH_LENGTH then
    return invalid(s, string.format("repository name is %d characters, longer than the maximum of %d",
      #path, MAX_PATH_LENGTH))
  end
  if digest then
    problem = digest_value_problem(digest, at + 1)
    if problem then return invalid(s, string.format("digest %q: %s", digest, problem)) end
  end
  return { domain = domain, path = path, tag = tag, digest = digest }
end

---------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------

-- The option keys; for those with a plain type check, the Lua type and how
-- a message names it (the others are checked where they are read).
local OPTION_TYPES = {
  default_registry = true, library = true, default_tag = true,
  search_registries = { "table", "a list" }, aliases = { "table", "a table" },
  registries_conf = { "string", "a path string" }, strip_default_host = { "boolean", "a boolean" },
}

local function check_registry(value, what, level)
  if type(value) ~= "string" then
    misuse(string.format("%s must be a string, got %s", what, type(value)), level + 1)
  end
  local problem = value == "" and "empty" or domain_problem(value, 1)
  if problem then
    misuse(string.format("%s %q is not a registry (host[:port]): %s", what, value, problem), level + 1)
  end
end

-- Checks one alias; returns nil or the reason it is bad. An empty value
-- removes the alias (as a drop-in registries.conf can).
local function alias_problem(short, full)
  if type(short) ~= "string" or type(full) ~= "string" then
    return "keys and values must be strings"
  end
  local ref, msg = parse(short)
  if not ref then return msg end
  if ref.domain then return string.format("short name %q must not contain a registry", short) end
  if ref.tag or ref.digest then
    return string.format("short name %q must not contain a tag or digest", short)
  end
  if full == "" then return nil end
  ref, msg = parse(full)
  if not ref then return msg end
  if not ref.domain then
    return string.format("alias %q for %q must contain a registry", full, short)
  end
  if ref.digest then return string.format("alias %q for %q must not contain a digest", full, short) end
  return nil
end

local read_registries_conf -- defined below

-- The registries.conf read for a resolved options table (for its short-name-mode).
local conf_of = setmetatable({}, { __mode = "k" })

-- Checks opts and fills in the defaults. Raises on misuse; returns
-- nil, message, code when the registries_conf file cannot be used.
local function resolve_options(opts, level)
  level = level + 1
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    misuse(string.format("options must be a table, got %s", type(opts)), level)
  end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then misuse(string.format("unknown option '%s'", tostring(k)), level) end
    if want ~= true and type(v) ~= want[1] then
      misuse(string.format("option '%s' must be %s, got %s", k, want[2], type(v)), level)
    end
  end
  local o = {
    default_registry = DOCKER_HUB, library = true, default_tag = "latest",
    search_registries = {}, aliases = {}, strip_default_host = false,
  }
  if opts.default_registry ~= nil then
    check_registry(opts.default_registry, "option 'default_registry'", level)
    o.default_registry = opts.default_registry
  end
  if opts.library ~= nil then
    if opts.library ~= true and opts.library ~= false and opts.library ~= "always" then
      misuse(string.format("option 'library' must be true, false or \"always\", got %s",
        type(opts.library) == "string" and string.format("%q", opts.library) or type(opts.library)), level)
    end
    o.library = opts.library
  end
  if opts.default_tag ~= nil then
    local t = opts.default_tag
    if t ~= false and (type(t) ~= "string" or tag_problem(t, 1)) then
      misuse("option 'default_tag' must be a valid tag or false", level)
    end
    o.default_tag = t
  end
  if opts.strip_default_host ~= nil then o.strip_default_host = opts.strip_default_host end
  if opts.search_registries ~= nil then
    for i, r in ipairs(opts.search_registries) do
      check_registry(r, string.format("option 'search_registries' item %d", i), level)
    end
  end
  if opts.aliases ~= nil then
    for short, full in pairs(opts.aliases) do
      local problem = alias_problem(short, full)
      if problem then misuse("option 'aliases': " .. problem, level) end
    end
  end
  if opts.registries_conf ~= nil then
    o.registries_conf = opts.registries_conf
    local conf, msg, code = read_registries_conf(opts.registries_conf)
    if not conf then return nil, msg, code end
    conf_of[o] = conf
    o.search_registries = copy_list(conf.unqualified_search_registries)
    for short, full in pairs(conf.aliases) do o.aliases[short] = full end
  end
  if opts.search_registries ~= nil then o.search_registries = copy_list(opts.search_registries) end
  if opts.aliases ~= nil then
    for short, full in pairs(opts.aliases) do o.aliases[short] = full end
  end
  return o
end

---------------------------------------------------------------------------
-- Normalization
---------------------------------------------------------------------------

-- Whether a one-component path on `registry` gets "library/".
local function wants_library(registry, o)
  if o.library == false then return false end
  if registry == DOCKER_HUB then return true end
  if o.library ~= "always" then return false end
  if registry == o.default_registry then return true end
  for _, r in ipairs(o.search_registries) do
    if r == registry then return true end
  end
  return false
end

-- iSulad's oci_strip_host_prefix: drop "<default host>/", then "library/".
local function strip_host(name, o)
  local host = o.default_registry .. "/"
  if starts_with(name, host) then name = name:sub(#host + 1) end
  if starts_with(name, LIBRARY) then name = name:sub(#LIBRARY + 1) end
  return name
end

-- The normalized parts of a parsed reference on `registry` (nil: the ref's
-- own domain, or the default registry). `s` is the input, for messages.
-- Without `keep_tag`, a digest drops the tag as ParseDockerRef does.
local function complete(s, ref, o, registry, keep_tag)
  local domain = registry or ref.domain or o.default_registry
  if domain == LEGACY_DOCKER_HUB then domain = DOCKER_HUB end
  local path = ref.path
  if not path:find("/", 1, true) and wants_library(domain, o) then path = LIBRARY .. path end
  if #path > MAX_PATH_LENGTH then
    return invalid(s, string.format("repository name %q is %d characters, longer than the maximum of %d",
      path, #path, MAX_PATH_LENGTH))
  end
  local tag, digest = ref.tag, ref.digest
  if digest then
    if not keep_tag then tag = nil end -- ParseDockerRef: a digest wins over a tag
  elseif not tag and o.default_tag then
    tag = o.default_tag
  end
  return { domain = domain, path = path, tag = tag, digest = digest }
end

local function format_ref(r)
  local out = r.domain and (r.domain .. "/" .. r.path) or r.path
  if r.tag then out = out .. ":" .. r.tag end
  if r.digest then out = out .. "@" .. r.digest end
  return out
end

local function stored(name, o)
  if o.strip_default_host then return strip_host(name, o) end
  return name
end

-- A short name with an alias stands for the alias's target; the reference's
-- own tag or digest, if it has either, replaces the target's tag.
local function apply_alias(ref, o)
  if ref.domain then return ref end
  local alias = o.aliases[ref.path]
  if not alias or alias == "" then return ref end -- "" masks an alias (drop-in style)
  local target = assert(parse(alias)) -- checked when the options were resolved
  if ref.tag or ref.digest then
    target.tag, target.digest = ref.tag, ref.digest
  end
  return target
end

-- parse, then aliases: the reference as the other functions see it.
local function resolve(s, o)
  local ref, msg, code = parse(s)
  if not ref then return nil, msg, code end
  return apply_alias(ref, o)
end

-- resolve(), then complete(): the full reference and the one as written.
local function resolve_full(s, o, keep_tag)
  local ref, msg, code = resolve(s, o)
  if not ref then return nil, msg, code end
  local full
  full, msg, code = complete(s, ref, o, nil, keep_tag)
  if not full then return nil, msg, code end
  return full, ref
end

local function normalize_with(s, o)
  local full, msg, code = resolve_full(s, o)
  if not full then return nil, msg, code end
  return stored(format_ref(full), o), full
end

local function familiar_with(s, o)
  local r, msg, code = resolve_full(s, o, true)
  if not r then return nil, msg, code end
  if r.domain == o.default_registry then
    r.domain = nil
    if wants_library(o.default_registry, o) and starts_with(r.path, LIBRARY)
      and not r.path:find("/", #LIBRARY + 1, true) then
      r.path = r.path:sub(#LIBRARY + 1)
    end
  end
  return format_ref(r)
end

local function repository_with(s, o)
  local r, msg, code = resolve_full(s, o)
  if not r then return nil, msg, code end
  return stored(r.domain .. "/" .. r.path, o)
end

local function with_digest_with(s, digest, o)
  local r, ref, code = resolve_full(s, o)
  if not r then return nil, ref, code end
  local problem = digest == "" and "empty" or digest_problem(digest, 1)
  if problem then
    return nil, string.format("invalid digest %q: %s", digest, problem), "EINVAL"
  end
  -- upstream WithDigest keeps an explicit tag and replaces any digest
  r.tag, r.digest = ref.tag, digest
  return stored(format_ref(r), o)
end

-- The full names a reference may be stored under, most likely first.
local function candidates_with(s, o)
  local ref, msg, code = parse(s)
  if not ref then return nil, msg, code end
  local target = apply_alias(ref, o)
  -- What normalize() stores the reference as is always a candidate, so a
  -- name stored through a policy is found by the same reference.
  local full, full_msg, full_code = complete(s, target, o)
  local default_name = full and stored(format_ref(full), o)
  if ref.domain or target ~= ref or #o.search_registries == 0 then
    if not default_name then return nil, full_msg, full_code end
    return { default_name }
  end
  local out, seen = {}, {}
  local first_msg, first_code
  for _, registry in ipairs(o.search_registries) do
    local r, m, c = complete(s, ref, o, registry)
    if r then
      local name = stored(format_ref(r), o)
      if not seen[name] then
        seen[name] = true
        out[#out + 1] = name
      end
    elseif not first_msg then
      first_msg, first_code = m, c
    end
  end
  if default_name and not seen[default_name] then out[#out + 1] = default_name end
  if #out == 0 then return nil, first_msg, first_code end
  return out
end

---------------------------------------------------------------------------
-- Module functions
---------------------------------------------------------------------------

-- parse(s) -> { domain=, path=, tag=, digest= } | nil, message, "EINVAL"
function M.parse(s, opts)
  check_string(s, 1, "parse", 2)
  local _, msg, code = resolve_options(opts, 2)
  if msg then return nil, msg, code end
  return parse(s)
end

-- Defines M[fname](s, opts) on top of fn(s, resolved_options).
local function define(fname, fn)
  M[fname] = function(s, opts)
    check_string(s, 1, fname, 2)
    local o, msg, code = resolve_options(opts, 2)
    if not o then return nil, msg, code end
    local result, m, c = fn(s, o)
    if result == nil then return nil, m, c end
    return result
  end
end

define("normalize", normalize_with)
define("familiar", familiar_with)
define("repository", repository_with)

function M.tag(s, opts)
  check_string(s, 1, "tag", 2)
  local o, msg, code = resolve_options(opts, 2)
  if not o then return nil, msg, code end
  local name, full
  name, full, code = normalize_with(s, o)
  if not name then return nil, full, code end
  return full.tag
end

function M.with_digest(s, digest, opts)
  check_string(s, 1, "with_digest", 2)
  check_string(digest, 2, "with_digest", 2)
  local o, msg, code = resolve_options(opts, 2)
  if not o then return nil, msg, code end
  return with_digest_with(s, digest, o)
end

---------------------------------------------------------------------------
-- Policy objects
---------------------------------------------------------------------------

local Policy = {}
Policy.__index = Policy

local function check_self(self, method)
  if getmetatable(self) ~= Policy then
    misuse(string.format("policy:%s called without ':' or on something else than a policy", method), 3)
  end
end

function Policy:normalize(name)
  check_self(self, "normalize")
  check_string(name, 1, "normalize", 2)
  local result, msg, code = normalize_with(name, self.options)
  if not result then return nil, msg, code end
  return result
end

function Policy:candidates(ref)
  check_self(self, "candidates")
  check_string(ref, 1, "candidates", 2)
  return candidates_with(ref, self.options)
end

function Policy:familiar(name)
  check_self(self, "familiar")
  check_string(name, 1, "familiar", 2)
  return familiar_with(name, self.options)
end

function Policy:parse(s)
  check_self(self, "parse")
  check_string(s, 1, "parse", 2)
  return parse(s)
end

function Policy:repository(s)
  check_self(self, "repository")
  check_string(s, 1, "repository", 2)
  return repository_with(s, self.options)
end

function Policy:with_digest(s, digest)
  check_self(self, "with_digest")
  check_string(s, 1, "with_digest", 2)
  check_string(digest, 2, "with_digest", 2)
  return with_digest_with(s, digest, self.options)
end

function Policy.__tostring(self)
  local o = self.options
  local n = 0
  for _, full in pairs(o.aliases) do
    if full ~= "" then n = n + 1 end
  end
  return string.format(
    "imagestore.naming.policy{default_registry=%q, library=%s, default_tag=%s, "
      .. "search_registries={%s}, aliases=%d, strip_default_host=%s}",
    o.default_registry, o.library == "always" and '"always"' or tostring(o.library),
    o.default_tag and string.format("%q", o.default_tag) or "false",
    #o.search_registries > 0 and ('"' .. table.concat(o.search_registries, '", "') .. '"') or "",
    n, tostring(o.strip_default_host))
end

-- policy(opts) -> policy | nil, message, code (registries_conf unusable)
function M.policy(opts)
  local o, msg, code = resolve_options(opts, 2)
  if not o then return nil, msg, code end
  local conf = conf_of[o]
  return setmetatable({ options = o, short_name_mode = conf and conf.short_name_mode }, Policy)
end

---------------------------------------------------------------------------
-- containers-registries.conf(5): a TOML subset
---------------------------------------------------------------------------

local ERRNO_NAMES = {
  [1] = "EPERM", [2] = "ENOENT", [5] = "EIO", [12] = "ENOMEM", [13] = "EACCES",
  [20] = "ENOTDIR", [21] = "EISDIR", [23] = "ENFILE", [24] = "EMFILE",
  [36] = "ENAMETOOLONG", [40] = "ELOOP",
}

-- Decodes TOML text into nested tables. Supports comments, bare and quoted
-- (dotted) keys, basic and literal strings, booleans, integers, arrays
-- (over several lines), inline tables, [table] and [[array of tables]].
-- Returns root, lines (table -> key -> line number) or nil, line, reason.
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

-- registries.conf keys as Lua names: "short-name-mode" -> "short_name_mode"
local function lua_keys(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    out[type(k) == "string" and k:gsub("-", "_") or k] = lua_keys(x)
  end
  return out
end

-- parse_registries_conf(text [, source_name]) -> conf | nil, message, "EINVAL"
function M.parse_registries_conf(text, source_name)
  check_string(text, 1, "parse_registries_conf", 2)
  if source_name == nil then source_name = "registries.conf" end
  check_string(source_name, 2, "parse_registries_conf", 2)
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
      local problem = r == "" and "empty" or domain_problem(r, 1)
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
        or alias_problem(short, full)
      if problem then return bad(alias_lines[short] or top_lines.aliases, "invalid alias: " .. problem) end
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

-- read_registries_conf(path) -> conf | nil, message, code
read_registries_conf = function(path)
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
  return M.parse_registries_conf(text, path)
end

function M.read_registries_conf(path)
  check_string(path, 1, "read_registries_conf", 2)
  return read_registries_conf(path)
end

return M
