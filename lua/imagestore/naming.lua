-- imagestore.naming: container image references in pure Lua.
--
-- The grammar is the one of github.com/distribution/reference (Docker,
-- containerd, containers/image); digests are checked as go-digest does.
-- Names are split into a registry ("domain") and a path the way Docker does
-- (splitDockerDomain), and short names are resolved the way
-- containers-registries.conf(5) describes. docs/naming.md is the manual.
--
-- containers-registries.conf(5) files are decoded by imagestore.registries_conf;
-- this module checks their registries and aliases with its grammar.
--
-- Expected failures return nil, message, code; misuse (wrong argument types,
-- unknown or bad options) raises.

local registries_conf = require("imagestore.registries_conf")

local M = {}

local MAX_PATH_LENGTH = 255 -- upstream RepositoryNameTotalLengthMax
local MAX_TAG_LENGTH = 128
local DOCKER_HUB = "docker.io"
local LEGACY_DOCKER_HUB = "index.docker.io"
local LIBRARY = "library/"

-- Hex length of the encoded part of each supported digest algorithm.
local DIGEST_HEX_LENGTH = { sha256 = 64, sha384 = 96, sha512 = 128 }

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

-- The reference grammar, as imagestore.registries_conf checks the registries
-- and aliases of a file with it.
local CONF_CHECKS = {
  registry = function(r) return r == "" and "empty" or domain_problem(r, 1) end,
  alias = alias_problem,
}

-- read_registries_conf(path) -> conf | nil, message, code
local function read_registries_conf(path)
  return registries_conf.read(path, CONF_CHECKS)
end

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
-- containers-registries.conf(5), read by imagestore.registries_conf
---------------------------------------------------------------------------

-- parse_registries_conf(text [, source_name]) -> conf | nil, message, "EINVAL"
function M.parse_registries_conf(text, source_name)
  check_string(text, 1, "parse_registries_conf", 2)
  if source_name ~= nil then check_string(source_name, 2, "parse_registries_conf", 2) end
  return registries_conf.parse(text, source_name, CONF_CHECKS)
end

-- read_registries_conf(path) -> conf | nil, message, code
function M.read_registries_conf(path)
  check_string(path, 1, "read_registries_conf", 2)
  return read_registries_conf(path)
end

return M
