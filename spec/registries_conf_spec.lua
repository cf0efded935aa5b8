-- imagestore.registries_conf: containers-registries.conf(5) files and the
-- TOML subset they are written in. What a registry name or an alias may be
-- is imagestore.naming's grammar, passed as checks; spec/naming_spec.lua
-- covers naming's parse_registries_conf / read_registries_conf with it.

local helpers = require("spec.helpers")
local fails = helpers.fails
local registries_conf = require("imagestore.registries_conf")

local ROOT = os.getenv("IMAGESTORE_ROOT") or "."
local CONF = ROOT .. "/spec/data/registries.conf"

local raised = helpers.raised

-- Checks that refuse what has a '_' (registries) or an uppercase letter
-- (aliases), and record what they were asked.
local function recording_checks()
  local seen = { registry = {}, alias = {} }
  local checks = {
    registry = function(r)
      seen.registry[#seen.registry + 1] = r
      if r:find("_", 1, true) then return "no '_' in " .. r end
      return nil
    end,
    alias = function(short, full)
      seen.alias[#seen.alias + 1] = short .. "=" .. full
      if full:find("%u") then return string.format("alias %q for %q has an uppercase letter", full, short) end
      return nil
    end,
  }
  return checks, seen
end

-- The syntax errors of the TOML subset: text, message with source "t.conf".
local SYNTAX_ERRORS = {
  { 'a = [\n"x",\n', "t.conf:1: unterminated array" },
  { '\na = "x', "t.conf:2: unterminated string" },
  { "a = 'x\n'", "t.conf:1: unterminated string" },
  { 'a "x"', "t.conf:1: expected '=' after key \"a\"" },
  { "a =\n", "t.conf:1: expected a value after '='" },
  { "a = 1\na = 2", "t.conf:2: duplicate key \"a\"" },
  { "[x]\n[x]", "t.conf:2: table [x] defined twice" },
  { 'a = "x" b', "t.conf:1: unexpected text \"b\" after value" },
  { "a = 1.5", "t.conf:1: unsupported value \"1.5\"" },
  { 'a = """x"""', "t.conf:1: multi-line strings are not supported" },
  { "[[a]\n", "t.conf:1: invalid table header: want [[name]]" },
  { "[a\n", "t.conf:1: invalid table header: want [name]" },
  { "= 1", "t.conf:1: expected a key, found '='" },
  { 'a = "\\x"', "t.conf:1: invalid escape \\x in string" },
  { "a = 1\n[a]", "t.conf:2: table [a] defined twice" },
  { "a = [1]\n[[a]]", "t.conf:2: key \"a\" is not an array of tables" },
  { "a = { b = 1 c = 2 }", "t.conf:1: expected ',' or '}' in inline table" },
  { 'a = "\\UFFFFFFFF"', "t.conf:1: invalid \\U escape in string" },
  { 'a = "\\uD800"', "t.conf:1: invalid \\u escape in string" },
  { "a = 99999999999999999999", "t.conf:1: unsupported value \"99999999999999999999\"" },
}

describe("imagestore.registries_conf", function()
  after_each(helpers.cleanup)

  describe("module", function()
    it("creates no globals when required", function()
      assert.are.same({}, helpers.globals_added("imagestore.registries_conf"))
    end)

    it("exports exactly the documented functions", function()
      local names = {}
      for k, v in pairs(registries_conf) do
        assert.is_function(v, k)
        names[#names + 1] = k
      end
      table.sort(names)
      assert.are.same({ "decode_toml", "parse", "read" }, names)
    end)

    it("raises on misuse, naming itself, at the caller's line", function()
      assert.are.equal("imagestore.registries_conf: bad argument #1 to 'decode_toml' (string expected, got nil)",
        raised(registries_conf.decode_toml))
      assert.are.equal("imagestore.registries_conf: bad argument #2 to 'decode_toml' (string expected, got number)",
        raised(registries_conf.decode_toml, "", 1))
      assert.are.equal("imagestore.registries_conf: bad argument #1 to 'parse' (string expected, got nil)",
        raised(registries_conf.parse))
      assert.are.equal("imagestore.registries_conf: bad argument #2 to 'parse' (string expected, got number)",
        raised(registries_conf.parse, "", 1))
      assert.are.equal("imagestore.registries_conf: bad argument #3 to 'parse' (table of checks expected, got string)",
        raised(registries_conf.parse, "", "t.conf", "x"))
      assert.are.equal("imagestore.registries_conf: bad argument #3 to 'parse' (unknown check 'domain')",
        raised(registries_conf.parse, "", "t.conf", { domain = function() end }))
      assert.are.equal("imagestore.registries_conf: bad argument #3 to 'parse' (check 'alias' must be a function, "
        .. "got boolean)", raised(registries_conf.parse, "", "t.conf", { alias = true }))
      assert.are.equal("imagestore.registries_conf: bad argument #1 to 'read' (string expected, got table)",
        raised(registries_conf.read, {}))
      assert.are.equal("imagestore.registries_conf: bad argument #2 to 'read' (table of checks expected, got number)",
        raised(registries_conf.read, CONF, 5))
      local ok, err = pcall(function()
        local conf = registries_conf.parse(nil)
        return conf
      end)
      assert.is_false(ok)
      assert.matches("registries_conf_spec%.lua:%d+: imagestore%.registries_conf: bad argument #1 to 'parse' "
        .. "%(string expected, got nil%)$", err)
    end)
  end)

  describe("arbitrary input", function()
    it("never raises from decode_toml or parse, with or without checks", function()
      local state = 54321
      local function rand(n)
        state = (state * 1103515245 + 12345) % 2147483648
        return state % n + 1
      end
      local alphabet = 'ab=[]{}"\'\\#,._\n uU1-'
      local checks = recording_checks()
      for _ = 1, 3000 do
        local chars = {}
        for j = 1, rand(30) - 1 do
          local k = rand(#alphabet)
          chars[j] = alphabet:sub(k, k)
        end
        local s = table.concat(chars)
        local t, m, c = registries_conf.decode_toml(s)
        assert.is_true(type(t) == "table" or (type(m) == "string" and c == "EINVAL"), s)
        for _, with in ipairs({ false, true }) do
          local conf
          conf, m, c = registries_conf.parse(s, nil, with and checks or nil)
          assert.is_true(type(conf) == "table" or (type(m) == "string" and c == "EINVAL"), s)
        end
      end
    end)
  end)

  describe("decode_toml", function()
    it("decodes the TOML subset into nested tables", function()
      local root = assert(registries_conf.decode_toml(table.concat({
        "# comment",
        'title = "x\\ty" # basic string with an escape',
        "lit = 'C:\\path'",
        "n = -1_000",
        "p = +7",
        "b = true",
        "arr = [",
        "  1,",
        "  2, # trailing comma",
        "]",
        'inline = { a.b = 1, c = "d", e = [] }',
        'dotted . key = "v"',
        '"quoted key" = 1',
        "[t]",
        "x = 1",
        "[t.sub]",
        "y = false",
        "[[a]]",
        "k = 1",
        "[[a.m]]",
        "z = 1",
        "[[a]]",
        "k = 2",
        "",
      }, "\n")))
      assert.are.same({
        title = "x\ty", lit = "C:\\path", n = -1000, p = 7, b = true, arr = { 1, 2 },
        inline = { a = { b = 1 }, c = "d", e = {} }, dotted = { key = "v" }, ["quoted key"] = 1,
        t = { x = 1, sub = { y = false } },
        a = { { k = 1, m = { { z = 1 } } }, { k = 2 } },
      }, root)
    end)

    it("keeps keys as written and checks no registries.conf value", function()
      assert.are.same({ ["short-name-mode"] = "bogus", aliases = { "x" }, registry = "x",
        ["unqualified-search-registries"] = "quay.io" },
        registries_conf.decode_toml('short-name-mode = "bogus"\naliases = ["x"]\nregistry = "x"\n'
          .. 'unqualified-search-registries = "quay.io"'))
      assert.are.same({}, registries_conf.decode_toml(""))
    end)

    it("names the source and line of each syntax error, as parse does", function()
      for _, row in ipairs(SYNTAX_ERRORS) do
        fails("EINVAL", row[2], registries_conf.decode_toml(row[1], "t.conf"))
      end
      fails("EINVAL", "registries.conf:1: expected a value after '='", registries_conf.decode_toml("a ="))
    end)
  end)

  describe("parse", function()
    local function bad(text, message, checks)
      fails("EINVAL", message, registries_conf.parse(text, "t.conf", checks))
    end

    it("parses the TOML subset: comments, strings, escapes, arrays, tables", function()
      local conf = assert(registries_conf.parse(table.concat({
        "  # comment",
        "unqualified-search-registries = [ # inline comment",
        "  'quay.io' , \"docker.io\", ]",
        "[aliases]",
        '"a\\u0062" = "quay.io/\\u0061b"   # escapes',
        "[[registry]]",
        "location = 'x.example.com'",
        "port.number = 5",
        "",
      }, "\r\n")))
      assert.are.same({ "quay.io", "docker.io" }, conf.unqualified_search_registries)
      assert.are.same({ ab = "quay.io/ab" }, conf.aliases)
      assert.are.same({ { location = "x.example.com", port = { number = 5 } } }, conf.registries)
      assert.is_nil(conf.short_name_mode)
    end)

    it("names the source and line of each syntax error", function()
      for _, row in ipairs(SYNTAX_ERRORS) do bad(row[1], row[2]) end
    end)

    it("checks the shape of the registries.conf values", function()
      bad('short-name-mode = "bogus"',
        't.conf:1: invalid short-name-mode "bogus": want "enforcing", "permissive" or "disabled"')
      bad("short-name-mode = 1",
        't.conf:1: invalid short-name-mode number: want "enforcing", "permissive" or "disabled"')
      bad('unqualified-search-registries = "quay.io"', "t.conf:1: unqualified-search-registries must be an array of strings")
      bad('unqualified-search-registries = [\n"ok.io", 5]', "t.conf:2: unqualified-search-registries must be an array of strings")
      bad('[aliases]\nfoo = 1', 't.conf:2: invalid alias: alias for "foo" must be a string')
      bad('aliases = ["x"]', "t.conf:1: aliases must be a table ([aliases])")
      bad('registry = "x"', "t.conf:1: registry must be an array of tables ([[registry]])")
      -- the shape is checked before any check is asked
      local checks, seen = recording_checks()
      bad('[aliases]\nfoo = 1', 't.conf:2: invalid alias: alias for "foo" must be a string', checks)
      assert.are.same({ registry = {}, alias = {} }, seen)
    end)

    it("reports the first value its checks refuse, at that value's line", function()
      local checks, seen = recording_checks()
      bad('unqualified-search-registries = [\n"ok.io",\n"bad_host"]',
        "t.conf:3: invalid registry \"bad_host\" in unqualified-search-registries: no '_' in bad_host", checks)
      assert.are.same({ "ok.io", "bad_host" }, seen.registry)
      bad('[aliases]\n"x" = "quay.io/x"\n"y" = "quay.io/Y"\n"z" = "quay.io/Z"',
        't.conf:3: invalid alias: alias "quay.io/Y" for "y" has an uppercase letter', checks)
      assert.are.same({ "x=quay.io/x", "y=quay.io/Y" }, seen.alias)
      -- registries are checked before short-name-mode and aliases
      bad('short-name-mode = "bogus"\nunqualified-search-registries = ["a_b"]\n[aliases]\nx = "Q"',
        "t.conf:2: invalid registry \"a_b\" in unqualified-search-registries: no '_' in a_b", checks)
      -- only the checks given are asked
      assert.is_table(registries_conf.parse('unqualified-search-registries = ["a_b"]\n[aliases]\nx = "Q"',
        "t.conf", { alias = function() return nil end }))
    end)

    it("takes any string as a registry or an alias without checks", function()
      assert.are.same({ unqualified_search_registries = { "bad_host", "" }, registries = {},
        aliases = { Foo = "quay.io/foo", foo = "foo", x = "" } },
        registries_conf.parse('unqualified-search-registries = ["bad_host", ""]\n'
          .. '[aliases]\n"Foo" = "quay.io/foo"\nfoo = "foo"\nx = ""'))
    end)

    it("calls its source registries.conf when none is given", function()
      fails("EINVAL", "registries.conf:1: expected a value after '='", registries_conf.parse("a ="))
      local checks = recording_checks()
      fails("EINVAL", "registries.conf:1: expected a value after '='", registries_conf.parse("a =", nil, checks))
    end)
  end)

  describe("read", function()
    it("reads a containers-registries.conf(5) file", function()
      local conf = assert(registries_conf.read(CONF))
      assert.are.same({ "registry.fedoraproject.org", "quay.io", "docker.io" }, conf.unqualified_search_registries)
      assert.are.equal("enforcing", conf.short_name_mode)
      assert.are.same({
        centos = "quay.io/centos/centos",
        fedora = "registry.fedoraproject.org/fedora",
        ["fedora-minimal"] = "registry.fedoraproject.org/fedora-minimal",
        busybox = "docker.io/library/busybox:1.36",
        ["podman/stable"] = "quay.io/podman/stable",
        ubi9 = "registry.access.redhat.com/ubi9",
      }, conf.aliases)
      assert.are.same({
        { prefix = "example.com/foo", location = "internal-registry-for-example.com/bar", insecure = false,
          blocked = false, mirror = { { location = "example-mirror-0.local/mirror-for-foo" },
            { location = "example-mirror-1.local/mirrors/foo", insecure = true } } },
        { location = "registry.example.org:5000", mirror_by_digest_only = true,
          mirror = { { location = "mirror.example.org" } } },
      }, conf.registries)
    end)

    it("reads a shortnames.conf that has only [aliases]", function()
      local path = helpers.tmpdir() .. "/000-shortnames.conf"
      helpers.write_file(path, '[aliases]\n  # Almalinux\n  "almalinux" = "docker.io/library/almalinux"\n'
        .. '  "rhel8/nginx" = \'registry.access.redhat.com/rhel8/nginx\'\n')
      assert.are.same({ unqualified_search_registries = {}, registries = {},
        aliases = { almalinux = "docker.io/library/almalinux", ["rhel8/nginx"] = "registry.access.redhat.com/rhel8/nginx" } },
        registries_conf.read(path))
    end)

    it("returns an empty configuration for an empty file", function()
      local path = helpers.tmpdir() .. "/empty.conf"
      helpers.write_file(path, "# nothing\n\n")
      assert.are.same({ unqualified_search_registries = {}, aliases = {}, registries = {} },
        registries_conf.read(path))
    end)

    it("returns the errno name of a file it cannot read", function()
      local dir = helpers.tmpdir()
      fails("ENOENT", "open " .. dir .. "/x.conf: No such file or directory",
        registries_conf.read(dir .. "/x.conf"))
      fails("EISDIR", "read " .. dir .. ": Is a directory", registries_conf.read(dir))
      fails("ENOTDIR", "open " .. CONF .. "/x: Not a directory", registries_conf.read(CONF .. "/x"))
    end)

    it("names the file and line of a syntax error", function()
      local path = helpers.tmpdir() .. "/bad.conf"
      helpers.write_file(path, '# ok\nunqualified-search-registries = [\n  "quay.io"\n  "docker.io"\n]\n')
      fails("EINVAL", path .. ":4: expected ',' or ']' in array, found '\"'", registries_conf.read(path))
    end)

    it("checks the file's registries and aliases with the checks given", function()
      local path = helpers.tmpdir() .. "/checked.conf"
      helpers.write_file(path, 'unqualified-search-registries = ["quay.io"]\n[aliases]\nx = "quay.io/X"\n')
      local checks, seen = recording_checks()
      fails("EINVAL", path .. ':3: invalid alias: alias "quay.io/X" for "x" has an uppercase letter',
        registries_conf.read(path, checks))
      assert.are.same({ registry = { "quay.io" }, alias = { "x=quay.io/X" } }, seen)
      assert.are.same({ unqualified_search_registries = { "quay.io" }, aliases = { x = "quay.io/X" }, registries = {} },
        registries_conf.read(path))
    end)
  end)
end)
