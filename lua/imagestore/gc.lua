--- imagestore.gc: garbage-collection policy, in Lua on the store's primitives.
--
--   local gc = require("imagestore.gc")
--   local plan = assert(gc.plan(st, { dangling = true, keep_last = 3,
--     budget = { high = 10e9, low = 8e9, min_age = "1h" },
--     protect = { repositories = { "docker.io/library/busybox" } },
--     in_use = function(img) return containers_use[img.id] end }))
--   print(gc.format(plan))                      -- review it (a dry run)
--   local report = assert(gc.apply(st, plan, { in_use = ... }))
--   local removed = assert(gc.store(st, { quarantine_older_than = "7d" }))
--
-- plan() changes nothing: it returns plain tables (no functions, stable
-- order) that print, serialize (imagestore.json) and apply again after a
-- decode. apply() re-checks each image under the store's lock, in batches
-- (st:batch), and each batch is durable when it returns. store() removes
-- the store's own garbage (st:store_gc, in C). README "Garbage collection"
-- is the manual.
--
-- Expected failures return nil, message, code; a wrong type or an unknown
-- key in a policy, plan or option raises.
local json = require("imagestore.json")
local naming = require("imagestore.naming")

local M = {}

local HUGE = math.huge

local function misuse(message, level)
  error(message, level + 1)
end

local function invalid(message)
  return nil, "invalid policy: " .. message, "EINVAL"
end

---------------------------------------------------------------------------
-- Durations: seconds (a number >= 0), or a string of <integer><unit>
-- parts, units s, m, h, d, w ("90s", "12h", "1d12h").
---------------------------------------------------------------------------

local UNIT = { s = 1, m = 60, h = 3600, d = 86400, w = 604800 }

local function duration(value, what, level)
  if type(value) == "number" then
    if value ~= value or value < 0 or value == HUGE then
      return nil, ("%s must be a number of seconds >= 0, got %s"):format(what, tostring(value))
    end
    return value
  end
  if type(value) ~= "string" then
    misuse(("bad policy '%s' (number of seconds or duration string expected, got %s)")
      :format(what, type(value)), level + 1)
  end
  local total, rest = 0, value
  repeat
    local n, unit, more = rest:match("^(%d+)([smhdw])(.*)$")
    if not n or #n > 12 then
      return nil, ("%s: %q is not a duration (such as \"90s\", \"12h\", \"7d\", \"1d12h\")")
        :format(what, value)
    end
    total, rest = total + tonumber(n) * UNIT[unit], more
  until rest == ""
  return total
end

---------------------------------------------------------------------------
-- Repositories and names, by the naming rules (imagestore.naming)
---------------------------------------------------------------------------

-- The name without its tag or digest (how naming splits a reference).
local function strip_tag(name)
  local repo = name:match("^([^@]*):[^/:@]*$") -- the common case: one match
  if repo then return repo end
  local at = name:find("@", 1, true)
  if not at then return name end
  name = name:sub(1, at - 1)
  return name:match("^(.*):[^/:]*$") or name
end

-- Whether naming leaves a repository as written: a registry host first (a
-- dot, a port or "localhost"), not Docker Hub's, and no policy that could
-- rewrite it. Then naming.repository(name) is strip_tag(name) for a valid
-- name, and an invalid one is grouped as written anyway.
local function kept_as_written(repo, policy)
  if policy then return false end
  local first = repo:match("^([^/]*)/")
  if not first or first == "docker.io" or first == "index.docker.io" then return false end
  return first == "localhost" or first:find("[.:%u]") ~= nil
end

-- A resolver of repositories and normalized names under an optional
-- naming policy, memoized (by repository as written) for one plan.
local function resolver(policy)
  local written, repo_memo, name_memo = {}, {}, {}
  local function as_written(repo)
    local w = written[repo]
    if w == nil then
      w = kept_as_written(repo, policy)
      written[repo] = w
    end
    return w
  end
  local r = {}
  function r.repository(name)
    local repo = strip_tag(name)
    local full = repo_memo[repo]
    if full == nil then
      if as_written(repo) then
        full = repo
      else
        if policy then full = policy:repository(repo) else full = naming.repository(repo) end
        full = full or repo -- not a reference: grouped as written
      end
      repo_memo[repo] = full
    end
    return full
  end
  function r.normalize(name)
    -- a tag and no digest (naming drops a tag beside a digest): kept as written
    local repo = strip_tag(name)
    if repo ~= name and not name:find("@", 1, true) and as_written(repo) then return name end
    local full = name_memo[name]
    if full == nil then
      if policy then full = policy:normalize(name) else full = naming.normalize(name) end
      full = full or name
      name_memo[name] = full
    end
    return full
  end
  return r
end

---------------------------------------------------------------------------
-- Policies
---------------------------------------------------------------------------

local POLICY_KEYS = {
  dangling = true, older_than = true, keep_last = true, budget = true, protect = true,
  in_use = true, naming = true, now = true,
}
local BUDGET_KEYS = { by = true, high = true, low = true, min_age = true }
local PROTECT_KEYS = { names = true, repositories = true, patterns = true }

local function check_type(value, want, what, level)
  if type(value) ~= want then
    misuse(("bad policy '%s' (%s expected, got %s)"):format(what, want, type(value)), level + 1)
  end
end

local function check_keys(t, allowed, what, level)
  for k in pairs(t) do
    if not allowed[k] then
      misuse(("bad policy%s: unknown key '%s'"):format(what and (" '" .. what .. "'") or "",
        tostring(k)), level + 1)
    end
  end
end

-- A whole number >= 0 (10e9 is one too); raises unless a number.
local function check_count(value, what, level)
  check_type(value, "number", what, level + 1)
  local n = math.tointeger(value)
  if not n then return nil, ("%s must be a whole number, got %s"):format(what, tostring(value)) end
  if n < 0 then return nil, ("%s must not be negative, got %d"):format(what, n) end
  return n
end

local function string_list(value, what, level)
  check_type(value, "table", what, level + 1)
  local out = {}
  for i = 1, #value do
    local v = value[i]
    if type(v) ~= "string" then
      misuse(("bad policy '%s' (item %d: string expected, got %s)"):format(what, i, type(v)), level + 1)
    end
    out[i] = v
  end
  for k in pairs(value) do
    if math.type(k) ~= "integer" or k < 1 or k > #value then
      misuse(("bad policy '%s' (a list expected, has key %s)"):format(what, tostring(k)), level + 1)
    end
  end
  return out
end

local function is_full_id(s)
  return type(s) == "string" and #s == 64 and s:find("^[0-9a-f]+$") ~= nil
end

-- in_use as a function of an image: a function, or a set ({[id] = true})
-- or list ({id...}) of full IDs.
local function in_use_of(value, what, level)
  if value == nil then return nil end
  if type(value) == "function" then return value end
  if type(value) ~= "table" then
    misuse(("bad policy '%s' (function or table of image IDs expected, got %s)")
      :format(what, type(value)), level + 1)
  end
  local set = {}
  for k, v in pairs(value) do
    local id = math.type(k) == "integer" and v or k
    if not is_full_id(id) or (math.type(k) ~= "integer" and v ~= true) then
      misuse(("bad policy '%s' (a set {[id] = true} or list of full image IDs expected, got %s = %s)")
        :format(what, tostring(k), tostring(v)), level + 1)
    end
    set[id] = true
  end
  return function(img) return set[img.id] end
end

-- The policy checked and completed; raises on misuse, or nil, message,
-- "EINVAL" for a bad value.
local function check_policy(policy, level)
  level = level + 1
  check_type(policy, "table", "policy", level)
  check_keys(policy, POLICY_KEYS, nil, level)
  local p, msg = { shown = {} }, nil
  if policy.dangling ~= nil then
    check_type(policy.dangling, "boolean", "dangling", level)
    p.dangling = policy.dangling
    p.shown.dangling = p.dangling
  end
  if policy.older_than ~= nil then
    p.older_than, msg = duration(policy.older_than, "older_than", level)
    if not p.older_than then return invalid(msg) end
    p.shown.older_than = p.older_than
  end
  if policy.keep_last ~= nil then
    p.keep_last, msg = check_count(policy.keep_last, "keep_last", level)
    if not p.keep_last then return invalid(msg) end
    p.shown.keep_last = p.keep_last
  end
  if policy.budget ~= nil then
    local b = policy.budget
    check_type(b, "table", "budget", level)
    check_keys(b, BUDGET_KEYS, "budget", level)
    local by = b.by or "size"
    if by ~= "size" and by ~= "count" then
      if type(by) ~= "string" then check_type(by, "string", "budget.by", level) end
      return invalid(("budget.by must be \"size\" or \"count\", got %q"):format(by))
    end
    if b.high == nil or b.low == nil then
      return invalid("budget needs both high and low")
    end
    local high, low
    high, msg = check_count(b.high, "budget.high", level)
    if not high then return invalid(msg) end
    low, msg = check_count(b.low, "budget.low", level)
    if not low then return invalid(msg) end
    if low > high then
      return invalid(("budget.low (%d) is above budget.high (%d)"):format(low, high))
    end
    local min_age = 0
    if b.min_age ~= nil then
      min_age, msg = duration(b.min_age, "budget.min_age", level)
      if not min_age then return invalid(msg) end
    end
    p.budget = { by = by, high = high, low = low, min_age = min_age }
    p.shown.budget = p.budget
  end
  if policy.naming ~= nil then
    local n = policy.naming
    if type(n) ~= "table" or type(n.repository) ~= "function" or type(n.normalize) ~= "function" then
      misuse(("bad policy 'naming' (imagestore.naming.policy expected, got %s)"):format(type(n)), level)
    end
    p.naming = n
  end
  local names = resolver(p.naming)
  p.protect = { names = {}, repositories = {}, patterns = {} }
  if policy.protect ~= nil then
    check_type(policy.protect, "table", "protect", level)
    check_keys(policy.protect, PROTECT_KEYS, "protect", level)
    local shown = {}
    for _, key in ipairs({ "names", "repositories", "patterns" }) do
      if policy.protect[key] ~= nil then
        shown[key] = json.array(string_list(policy.protect[key], "protect." .. key, level))
      end
    end
    for _, name in ipairs(shown.names or {}) do
      p.protect.names[name] = true
      p.protect.names[names.normalize(name)] = true
    end
    for _, repo in ipairs(shown.repositories or {}) do
      p.protect.repositories[repo] = true
      p.protect.repositories[names.repository(repo)] = true
    end
    for i, pattern in ipairs(shown.patterns or {}) do
      local ok, err = pcall(string.find, "", pattern)
      if not ok then
        return invalid(("protect.patterns item %d %q: %s"):format(i, pattern,
          tostring(err):gsub("^.-:%d+: ", "")))
      end
      p.protect.patterns[i] = pattern
    end
    p.shown.protect = shown
  end
  local prot = p.protect
  prot.has_names = next(prot.names) ~= nil
  prot.has_repositories = next(prot.repositories) ~= nil
  prot.any = prot.has_names or prot.has_repositories or #prot.patterns > 0
  p.names = names
  p.in_use = in_use_of(policy.in_use, "in_use", level)
  if policy.now ~= nil then
    check_type(policy.now, "number", "now", level)
    p.now = policy.now
  else
    p.now = os.time()
  end
  return p
end

-- Why an image is spared (protect, then in_use): the kind and a sentence,
-- or nil.
local function spared(p, img)
  local prot, names = p.protect, p.names
  if prot.any then
    for _, name in ipairs(img.names) do
      if prot.has_names and (prot.names[name] or prot.names[names.normalize(name)]) then
        return "protect", ("name %s is protected"):format(name)
      end
      if prot.has_repositories then
        local repo = names.repository(name)
        if prot.repositories[repo] then
          return "protect", ("repository %s is protected"):format(repo)
        end
      end
      for _, pattern in ipairs(prot.patterns) do
        -- checked on "" only: a malformed pattern may still raise on a name,
        -- and then protects it (what it meant to match is unknown)
        local ok, found = pcall(string.find, name, pattern)
        if not ok then
          return "protect", ("name %s meets protected pattern %q, which fails: %s"):format(name,
            pattern, (tostring(found):gsub("^.-:%d+: ", "")))
        elseif found then
          return "protect", ("name %s matches protected pattern %q"):format(name, pattern)
        end
      end
    end
  end
  if p.in_use and p.in_use(img) then return "in_use", "in use" end
  return nil
end

---------------------------------------------------------------------------
-- Plans
---------------------------------------------------------------------------

local function seconds_text(s)
  if math.type(s) == "float" and s == math.floor(s) and s < 2^53 then s = math.tointeger(s) end
  return tostring(s) .. " s"
end

-- keep_last: marks in rule/reason each named image that is not among the
-- keep most recently loaded images holding a name in one of its
-- repositories. One walk over the images, newest first (imgs is oldest
-- first, as st:summaries() lists them: images without a time last, so they
-- count as the newest), counting each repository's images: an image is
-- kept where fewer than keep came before it.
local function keep_last(p, imgs, rule, reason)
  local keep, repository = p.keep_last, p.names.repository
  local count, kept, repos = {}, {}, {} -- repos[i]: a repository, or a list of them
  for i = #imgs, 1, -1 do
    local names = imgs[i].names
    if #names == 1 then
      local r = repository(names[1])
      repos[i] = r
      local c = count[r] or 0
      if c < keep then count[r], kept[i] = c + 1, true end
    elseif #names > 1 then
      local list, seen = {}, {}
      for _, name in ipairs(names) do
        local r = repository(name)
        if not seen[r] then
          seen[r] = true
          list[#list + 1] = r
          local c = count[r] or 0
          if c < keep then count[r], kept[i] = c + 1, true end
        end
      end
      repos[i] = list
    end
  end
  local why = {}
  for i = 1, #imgs do
    local r = repos[i]
    if r and not kept[i] and not rule[i] then
      if type(r) ~= "string" then r = r[1] end
      local text = why[r]
      if not text then
        text = ("not among the %d most recently loaded images of %s"):format(keep, r)
        why[r] = text
      end
      rule[i], reason[i] = "keep_last", text
    end
  end
end

-- A plan entry: the image's summary (st:summaries()) with rule and reason.
local function entry_of(img, rule, reason)
  return {
    id = img.id, names = json.array(img.names), size = img.size, loaded = img.loaded,
    created = img.created, rule = rule, reason = reason,
  }
end

--- plan(st, policy) --> plan | nil, message, code
function M.plan(st, policy)
  local p, msg, code = check_policy(policy, 2)
  if not p then return nil, msg, code end
  local list
  list, msg, code = st:summaries()
  if not list then return nil, msg, code end

  -- The store itself only: images of additional stores are out of reach,
  -- and count for no rule. Indices follow summaries(): least recently
  -- loaded first, ties by ID, images without a time last.
  local imgs, T = {}, {}
  for _, img in ipairs(list) do
    if img.store == nil then
      imgs[#imgs + 1] = img
      T[#imgs] = img.time
    end
  end
  local n = #imgs

  local rule, reason = {}, {} -- by index: the first rule that selected the image
  if p.dangling then
    for i = 1, n do
      if #imgs[i].names == 0 then rule[i], reason[i] = "dangling", "no names" end
    end
  end
  if p.older_than then
    local cutoff = p.now - p.older_than
    local text = ("loaded (or else created) more than %s ago"):format(seconds_text(p.older_than))
    for i = 1, n do
      local t = T[i]
      if t and t < cutoff and not rule[i] then rule[i], reason[i] = "older_than", text end
    end
  end
  if p.keep_last then keep_last(p, imgs, rule, reason) end

  local removing, kept = {}, json.array()
  local usage, freed = { images = n, size = 0 }, { images = 0, size = 0 }
  for i = 1, n do
    local img = imgs[i]
    usage.size = usage.size + img.size
    if rule[i] then
      local kind, why = spared(p, img)
      if kind then
        local e = entry_of(img, rule[i], reason[i])
        e.spared_by, e.why = kind, why
        kept[#kept + 1] = e
      else
        removing[i] = true
        freed.images, freed.size = freed.images + 1, freed.size + img.size
      end
    end
  end

  local budget
  if p.budget then
    local b = p.budget
    local by_size = b.by == "size"
    local total = by_size and usage.size or usage.images
    local left = total - (by_size and freed.size or freed.images)
    budget = { by = b.by, high = b.high, low = b.low, min_age = b.min_age, usage = total,
               triggered = total > b.high }
    if budget.triggered and left > b.low then
      local cutoff = p.now - b.min_age
      local text = ("least recently loaded while %s %d is above %d, freeing to %d")
        :format(b.by, total, b.high, b.low)
      for i = 1, n do -- oldest first; the rest is too young, or has no time
        local t = T[i]
        if left <= b.low or not t or t > cutoff then break end
        local img = imgs[i]
        if not removing[i] and not spared(p, img) then
          removing[i], rule[i], reason[i] = true, "budget", text
          freed.images, freed.size = freed.images + 1, freed.size + img.size
          left = left - (by_size and img.size or 1)
        end
      end
    end
    budget.after = left
    budget.reached = left <= b.low or not budget.triggered
  end

  local images = json.array()
  for i = 1, n do
    if removing[i] then images[#images + 1] = entry_of(imgs[i], rule[i], reason[i]) end
  end
  return {
    now = p.now,
    time = os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(p.now)),
    policy = p.shown,
    images = images,
    kept = kept,
    usage = usage,
    freed = freed,
    budget = budget,
  }
end

---------------------------------------------------------------------------
-- Applying a plan
---------------------------------------------------------------------------

local APPLY_KEYS = { in_use = true, batch_size = true }
local DEFAULT_BATCH = 128

local function null_to_nil(v)
  if v == json.null then return nil end
  return v
end

-- The plan's entries, checked; raises on a malformed plan.
local function plan_entries(plan, level)
  level = level + 1
  if type(plan) ~= "table" then
    misuse(("bad argument #2 to 'apply' (plan expected, got %s)"):format(type(plan)), level)
  end
  if type(plan.images) ~= "table" then
    misuse(("bad plan: 'images' (table expected, got %s)"):format(type(plan.images)), level)
  end
  local out = {}
  for i, e in ipairs(plan.images) do
    if type(e) ~= "table" or not is_full_id(e.id) or type(e.names) ~= "table" then
      misuse(("bad plan: images[%d] (an entry with a full image id and names expected)"):format(i), level)
    end
    local loaded = null_to_nil(e.loaded)
    if loaded ~= nil and type(loaded) ~= "string" then
      misuse(("bad plan: images[%d].loaded (string expected, got %s)"):format(i, type(loaded)), level)
    end
    local names = {}
    for k, name in ipairs(e.names) do
      if type(name) ~= "string" then
        misuse(("bad plan: images[%d].names[%d] (string expected, got %s)"):format(i, k, type(name)), level)
      end
      names[k] = name
    end
    out[i] = { id = e.id, names = names, loaded = loaded, size = null_to_nil(e.size),
               rule = null_to_nil(e.rule) }
  end
  return out
end

local function same_names(a, b)
  if #a ~= #b then return false end
  local set = {}
  for _, n in ipairs(a) do set[n] = true end
  for _, n in ipairs(b) do
    if not set[n] then return false end
  end
  return true
end

local function list_text(names)
  if #names == 0 then return "no names" end
  return table.concat(names, ", ")
end

-- Why an entry must not be deleted now, or nil (the image is as planned).
local function recheck(b, e, in_use)
  local img, msg, code = b:get(e.id)
  if not img then
    if code == "ENOTFOUND" then return "gone" end
    return nil, msg, code
  end
  if img.id ~= e.id or img.store ~= nil then return "gone from this store" end
  if not same_names(img.names, e.names) then
    return ("names changed since the plan: now %s"):format(list_text(img.names))
  end
  if img.loaded ~= e.loaded then
    return ("loaded time changed since the plan: now %s"):format(tostring(img.loaded))
  end
  if in_use and in_use(img) then return "in use" end
  return nil
end

--- apply(st, plan [, {in_use=, batch_size=}]) --> report | nil, message, code, report
function M.apply(st, plan, opts)
  local entries = plan_entries(plan, 2)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    misuse(("bad argument #3 to 'apply' (table expected, got %s)"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if not APPLY_KEYS[k] then misuse(("unknown option '%s'"):format(tostring(k)), 2) end
  end
  local in_use = in_use_of(opts.in_use, "in_use", 2)
  local batch_size = opts.batch_size or DEFAULT_BATCH
  if math.type(batch_size) ~= "integer" or batch_size < 1 then
    misuse(("bad option 'batch_size' (integer >= 1 expected, got %s)"):format(tostring(batch_size)), 2)
  end

  local report = { removed = json.array(), skipped = json.array(), failed = json.array(),
                   left = json.array(), freed = { images = 0, size = 0 } }
  local first_msg, first_code
  local function fail(e, msg, code)
    report.failed[#report.failed + 1] = { id = e.id, names = json.array(e.names), message = msg,
                                          code = code }
    if not first_msg then first_msg, first_code = msg, code end
  end

  local i, n = 1, #entries
  while i <= n do
    local last = math.min(i + batch_size - 1, n)
    local pending, ran = {}, false
    local ok, msg, code = st:batch(function(b)
      ran = true
      for k = i, last do
        local e = entries[k]
        local why, m, c = recheck(b, e, in_use)
        if why then
          report.skipped[#report.skipped + 1] = { id = e.id, names = json.array(e.names), reason = why }
        elseif m then
          fail(e, m, c)
        else
          local done, dm, dc = b:delete(e.id)
          if done then pending[#pending + 1] = e else fail(e, dm, dc) end
        end
      end
    end)
    if not ok then
      if not first_msg then first_msg, first_code = msg, code end
      for _, e in ipairs(pending) do fail(e, msg, code) end
      for k = ran and last + 1 or i, n do report.left[#report.left + 1] = { id = entries[k].id } end
      break
    end
    for _, e in ipairs(pending) do
      report.removed[#report.removed + 1] = { id = e.id, names = json.array(e.names), size = e.size,
                                              rule = e.rule }
      report.freed.images = report.freed.images + 1
      report.freed.size = report.freed.size + (e.size or 0)
    end
    i = last + 1
  end
  if first_msg then return nil, first_msg, first_code, report end
  return report
end

---------------------------------------------------------------------------
-- The store's own garbage
---------------------------------------------------------------------------

local STORE_KEYS = { dry_run = true, quarantine_older_than = true, now = true }

--- store(st [, {dry_run=, quarantine_older_than=, now=}]) -->
--- { {path=, kind=, problem=, bytes=}... } | nil, message, code, entries
function M.store(st, opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    misuse(("bad argument #2 to 'store' (table expected, got %s)"):format(type(opts)), 2)
  end
  for k in pairs(opts) do
    if not STORE_KEYS[k] then misuse(("unknown option '%s'"):format(tostring(k)), 2) end
  end
  local core_opts = {}
  if opts.dry_run ~= nil then
    if type(opts.dry_run) ~= "boolean" then
      misuse(("bad option 'dry_run' (boolean expected, got %s)"):format(type(opts.dry_run)), 2)
    end
    core_opts.dry_run = opts.dry_run
  end
  if opts.quarantine_older_than ~= nil then
    local age, msg = duration(opts.quarantine_older_than, "quarantine_older_than", 2)
    if not age then return nil, "invalid option: " .. msg, "EINVAL" end
    core_opts.quarantine_age = math.floor(age)
  end
  if opts.now ~= nil then
    if type(opts.now) ~= "number" or opts.now < 0 then
      misuse(("bad option 'now' (epoch seconds expected, got %s)"):format(tostring(opts.now)), 2)
    end
    core_opts.now = math.floor(opts.now)
  end
  return st:store_gc(core_opts)
end

---------------------------------------------------------------------------
-- Showing a plan
---------------------------------------------------------------------------

--- bytes(n) --> "1.5 MB": a size for people (powers of 1000, as kubelet's
--- and Podman's figures are shown)
function M.bytes(n)
  if type(n) ~= "number" then return "?" end
  local units = { "B", "kB", "MB", "GB", "TB", "PB" }
  local u, v = 1, n
  while v >= 1000 and u < #units do v, u = v / 1000, u + 1 end
  if u == 1 then return ("%d B"):format(n) end
  return ("%.1f %s"):format(v, units[u])
end

--- format(plan) --> text: the plan as a table, then what it leaves
function M.format(plan)
  if type(plan) ~= "table" or type(plan.images) ~= "table" then
    misuse(("bad argument #1 to 'format' (plan expected, got %s)"):format(type(plan)), 2)
  end
  local rows = { { "IMAGE", "NAMES", "SIZE", "LOADED", "RULE" } }
  for _, e in ipairs(plan.images) do
    local names = type(e.names) == "table" and #e.names > 0 and table.concat(e.names, ", ") or "<none>"
    rows[#rows + 1] = { tostring(e.id):sub(1, 12), names, M.bytes(null_to_nil(e.size)),
                        tostring(null_to_nil(e.loaded) or null_to_nil(e.created) or "?"),
                        tostring(e.rule) }
  end
  local width = {}
  for _, r in ipairs(rows) do
    for c, cell in ipairs(r) do width[c] = math.max(width[c] or 0, utf8.len(cell) or #cell) end
  end
  local out = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for c, cell in ipairs(r) do
      cells[c] = c < #r and cell .. (" "):rep(width[c] - (utf8.len(cell) or #cell)) or cell
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  local freed = type(plan.freed) == "table" and plan.freed or {}
  out[#out + 1] = ("%d image(s) to remove, %s"):format(#plan.images, M.bytes(freed.size))
  if type(plan.kept) == "table" then
    for _, e in ipairs(plan.kept) do
      out[#out + 1] = ("kept %s (%s): %s"):format(tostring(e.id):sub(1, 12), tostring(e.rule),
        tostring(e.why))
    end
  end
  local b = plan.budget
  if type(b) == "table" then
    local amount = b.by == "size" and M.bytes or function(v) return ("%s image(s)"):format(tostring(v)) end
    if not b.triggered then
      out[#out + 1] = ("budget: %s, not above high %s"):format(amount(b.usage), amount(b.high))
    else
      out[#out + 1] = ("budget: %s, above high %s: %s after the plan, %s low %s%s"):format(
        amount(b.usage), amount(b.high), amount(b.after), b.reached and "at or below" or "above",
        amount(b.low), b.reached and "" or " (low not reached: the rest is protected, in use or too young)")
    end
  end
  return table.concat(out, "\n")
end

return M
