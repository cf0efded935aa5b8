-- imagestore.naming: container image references (docs/naming.md). The
-- upstream test vectors of distribution/reference drive most checks
-- (spec/data/reference_vectors.lua); our own edge cases follow them.

local helpers = require("spec.helpers")
local fails = helpers.fails
local naming = require("imagestore.naming")
local registries_conf = require("imagestore.registries_conf")
local V = require("spec.data.reference_vectors")

local ROOT = os.getenv("IMAGESTORE_ROOT") or "."
local CONF = ROOT .. "/spec/data/registries.conf"

local HEX64 = "e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
local D256 = "sha256:" .. HEX64
local D384 = "sha384:" .. string.rep("ab", 48)
local D512 = "sha512:" .. string.rep("cd", 64)

-- The message of a failed reference: `invalid reference "<input>": <reason>`.
local function msg(input, reason)
  return string.format("invalid reference %q: %s", input, reason)
end

-- Asserts parse/normalize/... failed with EINVAL and exactly `reason`.
local function refused(reason, input, ...)
  fails("EINVAL", msg(input, reason), ...)
end

local raised = helpers.raised

-- domain/path joined, as upstream's Name().
local function name_of(r)
  return r.domain and (r.domain .. "/" .. r.path) or r.path
end

-- A parsed reference written back as a string.
local function string_of(r)
  local s = name_of(r)
  if r.tag then s = s .. ":" .. r.tag end
  if r.digest then s = s .. "@" .. r.digest end
  return s
end

-- Checks an error row of the vectors: EINVAL and our exact message.
local function row_refused(row, input, ...)
  if row.message then
    fails("EINVAL", row.message, ...)
  else
    assert.is_string(row.reason, "row without reason or message: " .. input)
    refused(row.reason, input, ...)
  end
end

describe("imagestore.naming", function()
  after_each(helpers.cleanup)

  describe("module", function()
    it("creates no globals when required", function()
      assert.are.same({}, helpers.globals_added("imagestore.naming"))
    end)

    it("exports exactly the documented functions", function()
      local names = {}
      for k, v in pairs(naming) do
        assert.is_function(v, k)
        names[#names + 1] = k
      end
      table.sort(names)
      assert.are.same({ "familiar", "normalize", "parse", "parse_registries_conf", "policy",
        "read_registries_conf", "repository", "tag", "with_digest" }, names)
    end)
  end)

  describe("upstream vectors", function()
    it("name the upstream commit and licence", function()
      assert.are.equal("https://github.com/distribution/reference", V.source.repository)
      assert.matches("^%x+$", V.source.commit)
      assert.are.equal(40, #V.source.commit)
      assert.are.equal("Apache-2.0", V.source.license)
    end)

    it("map every upstream error name to a part of our message for it", function()
      local tables = { "reference_parse", "with_name_failure", "serialization" }
      local n = 0
      for _, t in ipairs(tables) do
        for _, row in ipairs(V[t]) do
          if row.err and not row.deviation and not row.commented_out then
            local part = V.error_substrings[row.err]
            assert.is_string(part, "no substring for " .. row.err)
            local full = row.message or msg(row.input, row.reason)
            assert.is_truthy(full:find(part, 1, true),
              string.format("%s: %q lacks %q", row.err, full, part))
            n = n + 1
          end
        end
      end
      assert.is_true(n >= 20)
    end)
  end)

  describe("parse", function()
    it("splits every TestReferenceParse row as upstream, or refuses it with our message", function()
      for _, row in ipairs(V.reference_parse) do
        local r, m, c = naming.parse(row.input)
        if row.err and not row.deviation and not row.commented_out then
          row_refused(row, row.input, r, m, c)
        else
          assert.is_table(r, row.input .. ": " .. tostring(m))
          assert.are.equal(row.repository, name_of(r), row.input)
          local want_domain = row.domain
          if row.parse_domain ~= nil then want_domain = row.parse_domain or nil end
          assert.are.equal(want_domain, r.domain, row.input)
          assert.are.equal(row.tag, r.tag, row.input)
          assert.are.equal(row.digest, r.digest, row.input)
          assert.are.equal(row.input, string_of(r))
        end
      end
    end)

    it("gives Domain and Path of TestDomainAndPath", function()
      for _, row in ipairs(V.domain_and_path) do
        local r = assert(naming.parse(row.input))
        assert.are.equal(row.domain, r.domain, row.input)
        assert.are.equal(row.path, r.path, row.input)
      end
    end)

    it("reads the references of TestSerialization", function()
      for _, row in ipairs(V.serialization) do
        local r, m, c = naming.parse(row.input)
        if row.err then
          row_refused(row, row.input, r, m, c)
        else
          assert.are.equal(row.name, name_of(r))
          assert.are.equal(row.tag, r.tag)
          assert.are.equal(row.digest, r.digest)
        end
      end
    end)

    it("reads the combined references of TestWithTag", function()
      for _, row in ipairs(V.with_tag) do
        local r, m, c = naming.parse(row.combined)
        if row.deviation then
          row_refused(row, row.combined, r, m, c)
        else
          assert.are.equal(row.name, name_of(r))
          assert.are.equal(row.tag, r.tag)
          assert.are.equal(row.digest, r.digest)
        end
      end
    end)

    it("accepts exactly the names TestFullNameRegexp matches", function()
      for _, row in ipairs(V.full_name_regexp) do
        local r, m, c = naming.parse(row.input)
        local is_name = r ~= nil and r.tag == nil and r.digest == nil
        if row.deviation then
          assert.is_true(row.match)
          row_refused(row, row.input, r, m, c)
        else
          assert.are.equal(row.match, is_name, row.input)
          if row.match then
            assert.are.equal(row.input, name_of(r))
            if row.subs then
              local upstream = row.subs[1] == "" and row.subs[2] or (row.subs[1] .. "/" .. row.subs[2])
              assert.are.equal(upstream, name_of(r))
            end
          elseif not r then
            row_refused(row, row.input, r, m, c)
          end
        end
      end
    end)

    it("splits name, tag and digest as TestReferenceRegexp", function()
      for _, row in ipairs(V.reference_regexp) do
        local r, m, c = naming.parse(row.input)
        if row.match then
          assert.is_table(r, row.input .. ": " .. tostring(m))
          assert.are.equal(row.subs[1], name_of(r))
          assert.are.equal(row.subs[2], r.tag or "")
          assert.are.equal(row.subs[3], r.digest or "")
        else
          row_refused(row, row.input, r, m, c)
        end
      end
    end)

    it("accepts exactly the registries TestDomainRegexp matches", function()
      for _, row in ipairs(V.domain_regexp) do
        local input = row.input .. "/x"
        local r, m, c = naming.parse(input)
        if row.match then
          assert.is_table(r, input .. ": " .. tostring(m))
          local want = row.input
          if row.parse_domain ~= nil then want = row.parse_domain or nil end
          assert.are.equal(want, r.domain)
        else
          row_refused(row, input, r, m, c)
        end
      end
    end)

    it("refuses exactly the 64-hex strings of TestIdentifierRegexp as image IDs", function()
      for _, row in ipairs(V.identifier_regexp) do
        local r, m, c = naming.parse(row.input)
        if row.match then
          row_refused(row, row.input, r, m, c)
        elseif r == nil then
          assert.is_nil(m:find("image ID", 1, true), row.input)
          row_refused(row, row.input, r, m, c)
        end
      end
    end)

    it("refuses the components of TestInvalidReferenceComponents", function()
      for _, row in ipairs(V.invalid_reference_components) do
        local r, m, c = naming[row.call](table.unpack(row.args))
        row_refused(row, row.args[1], r, m, c)
      end
    end)

    it("keeps both tag and digest as given", function()
      local t = V.parse_reference_with_tag_and_digest
      assert.are.same({ path = "busybox", tag = "latest", digest = t.short_ref:match("@(.*)") },
        naming.parse(t.short_ref))
    end)

    it("returns only the parts present", function()
      assert.are.same({ path = "busybox" }, naming.parse("busybox"))
      assert.are.same({ domain = "quay.io", path = "a/b", tag = "v1", digest = D256 },
        naming.parse("quay.io/a/b:v1@" .. D256))
    end)

    it("takes the first component as a registry only with '.', ':', localhost or uppercase", function()
      assert.are.same({ domain = "localhost", path = "foo" }, naming.parse("localhost/foo"))
      assert.are.same({ domain = "localhost:5000", path = "foo" }, naming.parse("localhost:5000/foo"))
      assert.are.same({ domain = "host:5000", path = "x" }, naming.parse("host:5000/x"))
      assert.are.same({ domain = "Registry", path = "x" }, naming.parse("Registry/x"))
      assert.are.same({ path = "library/busybox" }, naming.parse("library/busybox"))
      -- a lone component is always a repository name, never a registry
      assert.are.same({ path = "localhost" }, naming.parse("localhost"))
      assert.are.same({ path = "example.com", tag = "5000" }, naming.parse("example.com:5000"))
    end)

    it("accepts IPv6 registries in brackets, with or without a port", function()
      assert.are.same({ domain = "[::1]:5000", path = "foo" }, naming.parse("[::1]:5000/foo"))
      assert.are.same({ domain = "[::1]", path = "foo", tag = "1" }, naming.parse("[::1]/foo:1"))
      refused("invalid IPv6 address \"[::1\" at position 1: want [hex digits and ':']", "[::1/foo",
        naming.parse("[::1/foo"))
      refused("invalid IPv6 address \"[]\" at position 1: want [hex digits and ':']", "[]:5000/foo",
        naming.parse("[]:5000/foo"))
      refused("invalid character 'x' at position 6 in domain", "[::1]x/foo", naming.parse("[::1]x/foo"))
    end)

    it("accepts an uppercase registry but refuses an uppercase path", function()
      assert.are.same({ domain = "Example.COM", path = "foo" }, naming.parse("Example.COM/foo"))
      refused("repository name must be lowercase: 'F' at position 13", "example.com/Foo",
        naming.parse("example.com/Foo"))
      refused("repository name must be lowercase: 'B' at position 5", "foo/Bar", naming.parse("foo/Bar"))
    end)

    it("refuses bad ports: letters, empty, a second colon", function()
      refused("invalid port \"port\" at position 6: want digits", "host:port/x", naming.parse("host:port/x"))
      refused("invalid port \"\" at position 6: want digits", "host:/x", naming.parse("host:/x"))
      refused("invalid port \"5000:1\" at position 11: want digits", "localhost:5000:1/x",
        naming.parse("localhost:5000:1/x"))
    end)

    it("refuses bad registry names", function()
      refused("empty domain component at position 5", "foo..com/x", naming.parse("foo..com/x"))
      refused("empty domain component at position 1", ".foo/x", naming.parse(".foo/x"))
      refused("empty domain component at position 4", "foo./x", naming.parse("foo./x"))
      refused("domain component \"-foo\" at position 1 must not start or end with '-'", "-foo.com/x",
        naming.parse("-foo.com/x"))
      refused("invalid character '_' at position 4 in domain", "foo_bar.com/x", naming.parse("foo_bar.com/x"))
    end)

    it("refuses empty path components, pointing at the '/'", function()
      refused("empty path component at position 3", "a//b", naming.parse("a//b"))
      refused("empty path component at position 4", "foo/", naming.parse("foo/"))
      refused("empty path component at position 1", "/foo", naming.parse("/foo"))
      refused("empty path component at position 6", "a.com/", naming.parse("a.com/"))
      refused("empty path component at position 6", "a.com/:tag", naming.parse("a.com/:tag"))
    end)

    it("refuses separators at the start or end of a path component", function()
      refused("path component \"-foo\" at position 1 must start and end with a letter or digit", "-foo",
        naming.parse("-foo"))
      refused("path component \"foo-\" at position 1 must start and end with a letter or digit", "foo-",
        naming.parse("foo-"))
      refused("path component \"bar.\" at position 5 must start and end with a letter or digit", "foo/bar.",
        naming.parse("foo/bar."))
    end)

    it("allows '.', '_', '__' and runs of '-' between letters, and nothing else", function()
      assert.is_table(naming.parse("a.b_c__d-e---f"))
      refused("invalid separator \"___\" at position 2 in path component \"a___b\"", "a___b", naming.parse("a___b"))
      refused("invalid separator \"_.\" at position 2 in path component \"a_.b\"", "a_.b", naming.parse("a_.b"))
      refused("invalid separator \".-\" at position 7 in path component \"a.-b\"", "quay/a.-b",
        naming.parse("quay/a.-b"))
      refused("invalid character '+' at position 2 in repository name", "a+b", naming.parse("a+b"))
      refused("invalid character byte 0x00 at position 2 in repository name", "a\0b", naming.parse("a\0b"))
    end)

    it("refuses an empty reference and one without a name", function()
      refused("empty", "", naming.parse(""))
      refused("missing repository name", ":latest", naming.parse(":latest"))
      refused("missing repository name", "@" .. D256, naming.parse("@" .. D256))
    end)

    it("refuses a 64-character hex string as an image ID, but not in a path", function()
      refused("a 64-character hexadecimal string is an image ID, not a repository name", HEX64,
        naming.parse(HEX64))
      assert.are.same({ path = "library/" .. HEX64 }, naming.parse("library/" .. HEX64))
      assert.are.same({ path = HEX64:sub(1, 63) }, naming.parse(HEX64:sub(1, 63)))
    end)

    it("accepts a 128-character tag and refuses 129", function()
      local t128 = "t" .. string.rep("x", 127)
      assert.are.equal(t128, naming.parse("foo:" .. t128).tag)
      refused("tag is 129 characters, longer than the maximum of 128", "foo:" .. t128 .. "x",
        naming.parse("foo:" .. t128 .. "x"))
    end)

    it("refuses bad tags, naming the character and its position", function()
      refused("invalid character '$' at position 7 in tag", "foo:ba$r", naming.parse("foo:ba$r"))
      refused("tag \".x\" at position 5 must start with a letter, digit or '_'", "foo:.x", naming.parse("foo:.x"))
      refused("tag \"-x\" at position 5 must start with a letter, digit or '_'", "foo:-x", naming.parse("foo:-x"))
      refused("empty tag after ':' at position 4", "foo:", naming.parse("foo:"))
      refused("empty tag after ':' at position 4", "foo:@" .. D256, naming.parse("foo:@" .. D256))
      assert.are.equal("_x.Y-1", naming.parse("foo:_x.Y-1").tag)
    end)

    it("accepts a 255-character path and refuses 256", function()
      local p255 = string.rep("a", 255)
      assert.are.same({ domain = "example.com", path = p255 }, naming.parse("example.com/" .. p255))
      refused("repository name is 256 characters, longer than the maximum of 255", "example.com/a" .. p255,
        naming.parse("example.com/a" .. p255))
      -- the registry does not count (upstream since "Exclude domain from name length check")
      local long_host = string.rep("h", 60) .. "." .. string.rep("h", 60) .. ".com"
      assert.is_table(naming.parse(long_host .. "/" .. p255))
    end)

    it("accepts sha256, sha384 and sha512 digests", function()
      assert.are.equal(D256, naming.parse("foo@" .. D256).digest)
      assert.are.equal(D384, naming.parse("foo@" .. D384).digest)
      assert.are.equal(D512, naming.parse("foo@" .. D512).digest)
    end)

    it("refuses unknown digest algorithms, wrong lengths, uppercase hex and bad syntax", function()
      local md5 = "md5:" .. string.rep("0", 32)
      refused(string.format("digest %q: unsupported digest algorithm \"md5\": want sha256, sha384 or sha512", md5),
        "foo@" .. md5, naming.parse("foo@" .. md5))
      local up = "SHA256:" .. HEX64
      refused(string.format("digest %q: unsupported digest algorithm \"SHA256\": want sha256, sha384 or sha512", up),
        "foo@" .. up, naming.parse("foo@" .. up))
      local short = "sha512:" .. HEX64
      refused(string.format("digest %q: sha512 digest has 64 hex digits, want 128", short),
        "foo@" .. short, naming.parse("foo@" .. short))
      local upper = "sha256:" .. HEX64:sub(1, 10) .. "A" .. HEX64:sub(12)
      refused(string.format("digest %q: hex digits must be lowercase: 'A' at position 22", upper),
        "foo@" .. upper, naming.parse("foo@" .. upper))
      refused("digest \"sha256\": want <algorithm>:<hex>, with at least 32 hex digits", "foo@sha256",
        naming.parse("foo@sha256"))
      refused("digest \"\": want <algorithm>:<hex>, with at least 32 hex digits", "foo@", naming.parse("foo@"))
      local two = D256 .. "@" .. D256
      refused(string.format("digest %q: want <algorithm>:<hex>, with at least 32 hex digits", two),
        "foo@" .. two, naming.parse("foo@" .. two))
    end)

    it("reports a syntax problem before an uppercase path, as upstream", function()
      refused("invalid character '~' at position 6 in tag", "Foo:a~", naming.parse("Foo:a~"))
      refused("repository name must be lowercase: 'F' at position 1", "Foo:a", naming.parse("Foo:a"))
    end)
  end)

  describe("arbitrary input", function()
    -- deterministic pseudo-random strings over the characters that matter
    local function random_strings(alphabet, count, max_len)
      local state = 12345
      local function rand(n)
        state = (state * 1103515245 + 12345) % 2147483648
        return state % n + 1
      end
      local out = {}
      for i = 1, count do
        local chars = {}
        for j = 1, rand(max_len) - 1 do
          local k = rand(#alphabet)
          chars[j] = alphabet:sub(k, k)
        end
        out[i] = table.concat(chars)
      end
      return out
    end

    it("never raises from parse, normalize, familiar or candidates", function()
      local p = naming.policy({ search_registries = { "quay.io", "docker.io" }, aliases = { a = "quay.io/a:1" } })
      for _, s in ipairs(random_strings("ab1A.-_:/@[]sh256f", 3000, 24)) do
        for _, fn in ipairs({ naming.parse, naming.normalize, naming.familiar, naming.repository, naming.tag }) do
          local r, m, c = fn(s)
          assert.is_true(r ~= nil or (type(m) == "string" and c == "EINVAL"), s)
        end
        local list, m, c = p:candidates(s)
        assert.is_true(type(list) == "table" or (type(m) == "string" and c == "EINVAL"), s)
        if list then
          for _, name in ipairs(list) do assert.is_table(naming.parse(name), name) end
        end
      end
    end)

    it("never raises from parse_registries_conf", function()
      for _, s in ipairs(random_strings('ab=[]{}"\'\\#,.\n u1', 3000, 30)) do
        local conf, m, c = naming.parse_registries_conf(s)
        assert.is_true(type(conf) == "table" or (type(m) == "string" and c == "EINVAL"), s)
      end
    end)
  end)

  describe("normalize", function()
    it("gives ParseDockerRef's result for every TestParseDockerRef row", function()
      for _, row in ipairs(V.parse_docker_ref) do
        assert.are.equal(row.expected, naming.normalize(row.input), row.name)
        assert.is_table(naming.parse(row.expected))
      end
    end)

    it("accepts the valid and refuses the invalid names of TestValidateReferenceName", function()
      for _, row in ipairs(V.validate_reference_name_valid) do
        assert.is_string(naming.normalize(row.input), row.input)
      end
      for _, row in ipairs(V.validate_reference_name_invalid) do
        row_refused(row, row.input, naming.normalize(row.input))
      end
    end)

    it("accepts the valid and refuses the invalid names of TestValidateRemoteName", function()
      for _, row in ipairs(V.validate_remote_name_valid) do
        assert.is_string(naming.normalize(row.input), row.input)
      end
      for _, row in ipairs(V.validate_remote_name_invalid) do
        row_refused(row, row.input, naming.normalize(row.input))
      end
    end)

    it("leaves exactly the canonical names of TestParseNamed unchanged", function()
      for _, row in ipairs(V.parse_named) do
        local out = naming.normalize(row.input, { default_tag = false })
        assert.are.equal(row.err == nil, out == row.input, row.input)
        if not row.err then
          local r = naming.parse(row.input)
          assert.are.equal(row.domain, r.domain)
          assert.are.equal(row.path, r.path)
        end
      end
    end)

    it("gives the Equivalent of every TestParseAnyReference row that names a repository", function()
      for _, row in ipairs(V.parse_any_reference) do
        local out, m, c = naming.normalize(row.Reference, { default_tag = false })
        if row.deviation and row.reason then
          row_refused(row, row.Reference, out, m, c)
        elseif row.deviation then
          assert.are.equal(row.ours, out)
        else
          assert.are.equal(row.Equivalent, out)
        end
      end
    end)

    it("adds the default tag only when there is neither tag nor digest", function()
      assert.are.equal("docker.io/library/busybox:latest", naming.normalize("busybox"))
      assert.are.equal("docker.io/library/busybox:1.36", naming.normalize("busybox:1.36"))
      assert.are.equal("docker.io/library/busybox@" .. D256, naming.normalize("busybox@" .. D256))
    end)

    it("drops the tag when a digest is given too (ParseDockerRef)", function()
      assert.are.equal("docker.io/library/busybox@" .. D256, naming.normalize("busybox:1.36@" .. D256))
      assert.are.equal("quay.io/x/y@" .. D256, naming.normalize("quay.io/x/y:v1@" .. D256))
    end)

    it("puts library/ before one-component names on docker.io only", function()
      assert.are.equal("docker.io/library/foo:latest", naming.normalize("docker.io/foo"))
      assert.are.equal("docker.io/library/foo:latest", naming.normalize("index.docker.io/foo"))
      assert.are.equal("docker.io/foo/bar:latest", naming.normalize("foo/bar"))
      assert.are.equal("quay.io/foo:latest", naming.normalize("quay.io/foo"))
      assert.are.equal("localhost/foo:latest", naming.normalize("localhost/foo"))
      assert.are.equal("localhost:5000/foo:latest", naming.normalize("localhost:5000/foo"))
      assert.are.equal("[::1]:5000/foo:latest", naming.normalize("[::1]:5000/foo"))
    end)

    it("checks the length after adding library/", function()
      local p250 = string.rep("a", 250)
      refused(string.format("repository name %q is 258 characters, longer than the maximum of 255", "library/" .. p250),
        p250, naming.normalize(p250))
      assert.are.equal("quay.io/" .. p250 .. ":latest", naming.normalize("quay.io/" .. p250))
    end)

    it("uses another default registry, without library/ there", function()
      local o = { default_registry = "registry.example.com:5000" }
      assert.are.equal("registry.example.com:5000/busybox:latest", naming.normalize("busybox", o))
      assert.are.equal("registry.example.com:5000/a/b:latest", naming.normalize("a/b", o))
      assert.are.equal("docker.io/library/busybox:latest", naming.normalize("docker.io/busybox", o))
    end)

    it("puts library/ on the default registry with library = \"always\"", function()
      local o = { default_registry = "registry.example.com", library = "always" }
      assert.are.equal("registry.example.com/library/busybox:latest", naming.normalize("busybox", o))
      assert.are.equal("registry.example.com/library/busybox:latest",
        naming.normalize("registry.example.com/busybox", o))
      assert.are.equal("quay.io/busybox:latest", naming.normalize("quay.io/busybox", o))
      assert.are.equal("docker.io/library/busybox:latest", naming.normalize("docker.io/busybox", o))
    end)

    it("adds no library/ anywhere with library = false", function()
      local o = { library = false }
      assert.are.equal("docker.io/busybox:latest", naming.normalize("busybox", o))
      assert.are.equal("docker.io/library/busybox:latest", naming.normalize("library/busybox", o))
    end)

    it("adds no tag with default_tag = false, another one when given", function()
      assert.are.equal("docker.io/library/busybox", naming.normalize("busybox", { default_tag = false }))
      assert.are.equal("docker.io/library/busybox:stable", naming.normalize("busybox", { default_tag = "stable" }))
      assert.are.equal("docker.io/library/busybox:1", naming.normalize("busybox:1", { default_tag = false }))
    end)

    it("strips the default registry and library/ as iSulad does with strip_default_host", function()
      local o = { strip_default_host = true }
      assert.are.equal("busybox:latest", naming.normalize("busybox", o))
      assert.are.equal("busybox:latest", naming.normalize("docker.io/library/busybox", o))
      assert.are.equal("busybox:latest", naming.normalize("docker.io/busybox", o))
      assert.are.equal("foo/bar:latest", naming.normalize("foo/bar", o))
      -- iSulad's oci_strip_host_prefix drops "library/" even before a further '/'
      assert.are.equal("foo/bar:1", naming.normalize("docker.io/library/foo/bar:1", o))
      assert.are.equal("busybox@" .. D256, naming.normalize("busybox@" .. D256, o))
      assert.are.equal("quay.io/library/x:latest", naming.normalize("quay.io/library/x", o))
      assert.are.equal("localhost:5000/x:latest", naming.normalize("localhost:5000/x", o))
      local own = { strip_default_host = true, default_registry = "hub.example.com" }
      assert.are.equal("busybox:latest", naming.normalize("busybox", own))
      assert.are.equal("docker.io/library/busybox:latest", naming.normalize("docker.io/busybox", own))
    end)

    it("resolves a short name's alias, the reference's tag or digest replacing the alias's tag", function()
      local o = { aliases = { tools = "registry.example.com/team/tools", bb = "docker.io/library/busybox:1.36" } }
      assert.are.equal("registry.example.com/team/tools:2", naming.normalize("tools:2", o))
      assert.are.equal("registry.example.com/team/tools:latest", naming.normalize("tools", o))
      assert.are.equal("docker.io/library/busybox:1.36", naming.normalize("bb", o))
      assert.are.equal("docker.io/library/busybox:1", naming.normalize("bb:1", o))
      assert.are.equal("docker.io/library/busybox@" .. D256, naming.normalize("bb@" .. D256, o))
      -- a name with a registry, or another spelling, is not the alias
      assert.are.equal("docker.io/library/tools:latest", naming.normalize("docker.io/tools", o))
      assert.are.equal("docker.io/library/tools:latest", naming.normalize("library/tools", o))
      -- the other functions see the same reference
      assert.are.equal("busybox:1.36", naming.familiar("bb", o))
      assert.are.equal("registry.example.com/team/tools", naming.repository("tools:2", o))
      assert.are.equal("1.36", naming.tag("bb", o))
      assert.are.equal("docker.io/library/busybox:1.36@" .. D256, naming.with_digest("bb", D256, o))
    end)

    it("is idempotent", function()
      for _, s in ipairs({ "busybox", "quay.io/a/b:1", "busybox@" .. D256, "localhost/x", "[::1]:5000/a" }) do
        local once = naming.normalize(s)
        assert.are.equal(once, naming.normalize(once))
        local opts = { default_registry = "r.example.com", library = "always" }
        once = naming.normalize(s, opts)
        assert.are.equal(once, naming.normalize(once, opts))
      end
    end)

    it("returns the parse failure", function()
      refused("empty", "", naming.normalize(""))
      refused("repository name must be lowercase: 'F' at position 1", "Foo", naming.normalize("Foo"))
    end)
  end)

  describe("familiar", function()
    it("gives FamiliarName for every name of TestParseRepositoryInfo", function()
      for _, row in ipairs(V.parse_repository_info) do
        for _, r in ipairs({ row.FamiliarName, row.FullName, row.AmbiguousName }) do
          assert.are.equal(row.FamiliarName, naming.familiar(r, { default_tag = false }), r)
        end
      end
    end)

    it("keeps both tag and digest as FamiliarString does (TestParseReferenceWithTagAndDigest)", function()
      local t = V.parse_reference_with_tag_and_digest
      assert.are.equal(t.short_ref, naming.familiar(t.short_ref))
      assert.are.equal(t.short_ref, naming.familiar(t.full))
    end)

    it("shortens a full name, with the default tag", function()
      assert.are.equal("busybox:latest", naming.familiar("busybox"))
      assert.are.equal("busybox:latest", naming.familiar("docker.io/library/busybox:latest"))
      assert.are.equal("busybox@" .. D256, naming.familiar("docker.io/library/busybox@" .. D256))
      assert.are.equal("library/a/b:latest", naming.familiar("docker.io/library/a/b"))
      assert.are.equal("me/app:1", naming.familiar("index.docker.io/me/app:1"))
      assert.are.equal("quay.io/a:latest", naming.familiar("quay.io/a"))
      assert.are.equal("localhost:5000/a:latest", naming.familiar("localhost:5000/a"))
    end)

    it("shortens names of another default registry, and keeps docker.io then", function()
      local o = { default_registry = "hub.example.com" }
      assert.are.equal("a:latest", naming.familiar("hub.example.com/a", o))
      assert.are.equal("library/a:latest", naming.familiar("hub.example.com/library/a", o))
      assert.are.equal("docker.io/library/a:latest", naming.familiar("docker.io/a", o))
      o.library = "always"
      assert.are.equal("a:latest", naming.familiar("hub.example.com/library/a", o))
    end)

    it("keeps library/ with library = false", function()
      assert.are.equal("library/busybox:latest", naming.familiar("docker.io/library/busybox", { library = false }))
    end)

    it("round-trips with normalize", function()
      local cases = { "busybox", "busybox:1", "busybox@" .. D256, "me/app", "docker.io/library/a/b",
        "quay.io/x", "localhost/x:y", "[::1]:5000/a", "Registry/x", "busybox:1@" .. D256 }
      for _, opts in ipairs({ {}, { library = false }, { default_registry = "h.example.com", library = "always" },
        { default_tag = false } }) do
        for _, s in ipairs(cases) do
          local full = naming.normalize(s, opts)
          assert.are.equal(full, naming.normalize(naming.familiar(s, opts), opts), s)
          assert.are.equal(full, naming.normalize(naming.familiar(full, opts), opts), s)
        end
      end
    end)
  end)

  describe("repository", function()
    it("gives FullName, Domain and Path of TestParseRepositoryInfo", function()
      for _, row in ipairs(V.parse_repository_info) do
        for _, r in ipairs({ row.FamiliarName, row.FullName, row.AmbiguousName }) do
          local full = naming.repository(r)
          assert.are.equal(row.FullName, full, r)
          assert.are.equal(row.Domain .. "/" .. row.RemoteName, full, r)
        end
      end
    end)

    it("gives Domain and Path of TestNormalizedSplitHostname", function()
      for _, row in ipairs(V.normalized_split_hostname) do
        assert.are.equal(row.domain .. "/" .. row.path, naming.repository(row.input), row.input)
      end
    end)

    it("refuses what WithName refuses in TestWithNameFailure, but takes tags", function()
      for _, row in ipairs(V.with_name_failure) do
        local out, m, c = naming.repository(row.input)
        if row.deviation then
          assert.are.equal(row.ours, out)
        else
          row_refused(row, row.input, out, m, c)
        end
      end
    end)

    it("drops tag and digest", function()
      assert.are.equal("docker.io/library/busybox", naming.repository("busybox:1@" .. D256))
      assert.are.equal("busybox", naming.repository("busybox:1", { strip_default_host = true }))
    end)
  end)

  describe("tag", function()
    it("gives the tag normalize gives", function()
      assert.are.equal("latest", naming.tag("busybox"))
      assert.are.equal("1.36", naming.tag("busybox:1.36"))
      assert.is_nil(naming.tag("busybox@" .. D256))
      assert.is_nil(naming.tag("busybox:1.36@" .. D256))
      assert.is_nil(naming.tag("busybox", { default_tag = false }))
      assert.are.equal("edge", naming.tag("busybox", { default_tag = "edge" }))
      assert.are.equal("5000", naming.tag("localhost:5000"))
    end)

    it("returns nil, message, EINVAL for a bad reference", function()
      refused("empty tag after ':' at position 4", "foo:", naming.tag("foo:"))
    end)
  end)

  describe("with_digest", function()
    it("refuses the short digests of TestWithDigest that WithDigest lets through", function()
      for _, row in ipairs(V.with_digest) do
        local name = row.tag and (row.name .. ":" .. row.tag) or row.name
        row_refused(row, name, naming.with_digest(name, row.digest))
      end
    end)

    it("combines as TestWithDigest does once the digest is a whole sha256", function()
      for _, row in ipairs(V.with_digest) do
        local name = row.tag and (row.name .. ":" .. row.tag) or row.name
        local want = naming.normalize(row.combined:gsub("sha256:%x+", D256), { default_tag = false })
        if row.tag then want = want:gsub("@", ":" .. row.tag .. "@") end
        assert.are.equal(want, naming.with_digest(name, D256))
      end
    end)

    it("keeps an explicit tag and adds no default one", function()
      assert.are.equal("docker.io/library/busybox@" .. D256, naming.with_digest("busybox", D256))
      assert.are.equal("docker.io/library/busybox:1@" .. D256, naming.with_digest("busybox:1", D256))
      assert.are.equal(V.parse_reference_with_tag_and_digest.full,
        naming.with_digest("busybox:latest", V.parse_reference_with_tag_and_digest.short_ref:match("@(.*)")))
    end)

    it("replaces a digest the reference had", function()
      assert.are.equal("quay.io/a@" .. D512, naming.with_digest("quay.io/a@" .. D256, D512))
    end)

    it("strips as normalize does with strip_default_host", function()
      assert.are.equal("busybox@" .. D256, naming.with_digest("busybox", D256, { strip_default_host = true }))
    end)

    it("refuses a bad digest with the digest's message", function()
      fails("EINVAL", "invalid digest \"\": empty", naming.with_digest("busybox", ""))
      fails("EINVAL", "invalid digest \"md5:" .. string.rep("0", 32)
        .. "\": unsupported digest algorithm \"md5\": want sha256, sha384 or sha512",
        naming.with_digest("busybox", "md5:" .. string.rep("0", 32)))
      fails("EINVAL", "invalid digest \"sha256:" .. HEX64:upper()
        .. "\": hex digits must be lowercase: 'E' at position 8",
        naming.with_digest("busybox", "sha256:" .. HEX64:upper()))
      fails("EINVAL", "invalid digest \"sha384:" .. HEX64 .. "\": sha384 digest has 64 hex digits, want 96",
        naming.with_digest("busybox", "sha384:" .. HEX64))
    end)

    it("refuses a bad reference with the reference's message", function()
      refused("empty path component at position 2", "a/", naming.with_digest("a/", D256))
    end)
  end)

  describe("options", function()
    it("raise on an unknown key", function()
      assert.are.equal("imagestore.naming: unknown option 'x'", raised(naming.normalize, "a", { x = 1 }))
      assert.are.equal("imagestore.naming: unknown option 'defaultTag'",
        raised(naming.policy, { defaultTag = "x" }))
    end)

    it("raise at the caller's line", function()
      local ok, err = pcall(function()
        local out = naming.normalize("a", { x = 1 })
        return out
      end)
      assert.is_false(ok)
      assert.matches("naming_spec%.lua:%d+: imagestore%.naming: unknown option 'x'$", err)
    end)

    it("raise on wrong types and bad values", function()
      assert.are.equal("imagestore.naming: options must be a table, got string", raised(naming.normalize, "a", "x"))
      assert.are.equal("imagestore.naming: option 'library' must be true, false or \"always\", got \"yes\"",
        raised(naming.normalize, "a", { library = "yes" }))
      assert.are.equal("imagestore.naming: option 'library' must be true, false or \"always\", got number",
        raised(naming.normalize, "a", { library = 1 }))
      assert.are.equal("imagestore.naming: option 'default_tag' must be a valid tag or false",
        raised(naming.normalize, "a", { default_tag = true }))
      assert.are.equal("imagestore.naming: option 'default_tag' must be a valid tag or false",
        raised(naming.normalize, "a", { default_tag = "-x" }))
      assert.are.equal("imagestore.naming: option 'strip_default_host' must be a boolean, got string",
        raised(naming.normalize, "a", { strip_default_host = "yes" }))
      assert.are.equal("imagestore.naming: option 'default_registry' must be a string, got number",
        raised(naming.normalize, "a", { default_registry = 5 }))
      assert.are.equal("imagestore.naming: option 'default_registry' \"a_b\" is not a registry (host[:port]): "
        .. "invalid character '_' at position 2 in domain", raised(naming.normalize, "a", { default_registry = "a_b" }))
      assert.are.equal("imagestore.naming: option 'default_registry' \"\" is not a registry (host[:port]): empty",
        raised(naming.normalize, "a", { default_registry = "" }))
      assert.are.equal("imagestore.naming: option 'search_registries' must be a list, got string",
        raised(naming.policy, { search_registries = "quay.io" }))
      assert.are.equal("imagestore.naming: option 'search_registries' item 2 \"quay.io:x\" is not a registry "
        .. "(host[:port]): invalid port \"x\" at position 9: want digits",
        raised(naming.policy, { search_registries = { "docker.io", "quay.io:x" } }))
      assert.are.equal("imagestore.naming: option 'aliases' must be a table, got string",
        raised(naming.policy, { aliases = "x" }))
      assert.are.equal("imagestore.naming: option 'aliases': alias \"busybox\" for \"busybox\" must contain a registry",
        raised(naming.policy, { aliases = { busybox = "busybox" } }))
      assert.are.equal("imagestore.naming: option 'aliases': short name \"quay.io/a\" must not contain a registry",
        raised(naming.policy, { aliases = { ["quay.io/a"] = "quay.io/b" } }))
      assert.are.equal("imagestore.naming: option 'aliases': short name \"a:1\" must not contain a tag or digest",
        raised(naming.policy, { aliases = { ["a:1"] = "quay.io/b" } }))
      assert.are.equal("imagestore.naming: option 'aliases': alias \"quay.io/b@" .. D256
        .. "\" for \"a\" must not contain a digest", raised(naming.policy, { aliases = { a = "quay.io/b@" .. D256 } }))
      assert.are.equal("imagestore.naming: option 'aliases': keys and values must be strings",
        raised(naming.policy, { aliases = { "quay.io/b" } }))
      assert.are.equal("imagestore.naming: option 'registries_conf' must be a path string, got boolean",
        raised(naming.policy, { registries_conf = true }))
    end)

    it("raise on a non-string argument", function()
      assert.are.equal("imagestore.naming: bad argument #1 to 'parse' (string expected, got nil)",
        raised(naming.parse))
      assert.are.equal("imagestore.naming: bad argument #1 to 'normalize' (string expected, got number)",
        raised(naming.normalize, 5))
      assert.are.equal("imagestore.naming: bad argument #1 to 'familiar' (string expected, got table)",
        raised(naming.familiar, {}))
      assert.are.equal("imagestore.naming: bad argument #1 to 'repository' (string expected, got boolean)",
        raised(naming.repository, true))
      assert.are.equal("imagestore.naming: bad argument #1 to 'tag' (string expected, got nil)", raised(naming.tag))
      assert.are.equal("imagestore.naming: bad argument #2 to 'with_digest' (string expected, got nil)",
        raised(naming.with_digest, "a"))
      assert.are.equal("imagestore.naming: bad argument #1 to 'read_registries_conf' (string expected, got nil)",
        raised(naming.read_registries_conf))
      assert.are.equal("imagestore.naming: bad argument #1 to 'parse_registries_conf' (string expected, got nil)",
        raised(naming.parse_registries_conf))
      assert.are.equal("imagestore.naming: bad argument #2 to 'parse_registries_conf' (string expected, got number)",
        raised(naming.parse_registries_conf, "", 1))
    end)

    it("return nil, message, code when registries_conf cannot be read", function()
      local missing = helpers.tmpdir() .. "/none.conf"
      fails("ENOENT", "open " .. missing .. ": No such file or directory",
        naming.normalize("a", { registries_conf = missing }))
      fails("ENOENT", "open " .. missing .. ": No such file or directory",
        naming.policy({ registries_conf = missing }))
    end)
  end)

  describe("policy", function()
    it("resolves its options, defaults filled in", function()
      local p = naming.policy()
      assert.are.same({ default_registry = "docker.io", library = true, default_tag = "latest",
        search_registries = {}, aliases = {}, strip_default_host = false }, p.options)
      assert.is_nil(p.short_name_mode)
    end)

    it("prints its options", function()
      assert.are.equal('imagestore.naming.policy{default_registry="docker.io", library=true, default_tag="latest", '
        .. 'search_registries={}, aliases=0, strip_default_host=false}', tostring(naming.policy()))
      local p = naming.policy({ default_registry = "h.example.com", library = "always", default_tag = false,
        search_registries = { "quay.io", "docker.io" }, aliases = { a = "quay.io/a" }, strip_default_host = true })
      assert.are.equal('imagestore.naming.policy{default_registry="h.example.com", library="always", '
        .. 'default_tag=false, search_registries={"quay.io", "docker.io"}, aliases=1, strip_default_host=true}',
        tostring(p))
    end)

    it("normalizes names as normalize does with its options", function()
      local p = naming.policy({ strip_default_host = true })
      assert.are.equal("busybox:latest", p:normalize("docker.io/library/busybox"))
      assert.are.equal("quay.io/a:latest", p:normalize("quay.io/a"))
      refused("empty", "", p:normalize(""))
      local r = table.pack(p:normalize("busybox"))
      assert.are.equal(1, r.n)
    end)

    it("parses, shortens, and gives repositories", function()
      local p = naming.policy({ default_registry = "h.example.com" })
      assert.are.same({ path = "a", tag = "1" }, p:parse("a:1"))
      refused("empty", "", p:parse(""))
      assert.are.equal("a:1", p:familiar("h.example.com/a:1"))
      assert.are.equal("h.example.com/a", p:repository("a:1"))
      assert.are.equal("h.example.com/a@" .. D256, p:with_digest("a", D256))
    end)

    it("gives one candidate, the normalized name, for a fully qualified reference", function()
      local p = naming.policy({ search_registries = { "quay.io" }, aliases = { b = "quay.io/other" } })
      assert.are.same({ "registry.example.com/a/b:latest" }, p:candidates("registry.example.com/a/b"))
      assert.are.same({ "localhost/x:1" }, p:candidates("localhost/x:1"))
      assert.are.same({ "docker.io/library/x@" .. D256 }, p:candidates("docker.io/x@" .. D256))
    end)

    it("gives the default registry's name for a short name without search registries", function()
      local p = naming.policy()
      assert.are.same({ "docker.io/library/busybox:latest" }, p:candidates("busybox"))
      assert.are.same({ "docker.io/me/app:2" }, p:candidates("me/app:2"))
    end)

    it("tries each search registry in order, library/ only on docker.io", function()
      local p = naming.policy({ search_registries = { "registry.fedoraproject.org", "docker.io", "quay.io:443" } })
      assert.are.same({ "registry.fedoraproject.org/busybox:latest", "docker.io/library/busybox:latest",
        "quay.io:443/busybox:latest" }, p:candidates("busybox"))
      assert.are.same({ "registry.fedoraproject.org/me/app@" .. D256, "docker.io/me/app@" .. D256,
        "quay.io:443/me/app@" .. D256 }, p:candidates("me/app@" .. D256))
      local always = naming.policy({ search_registries = { "a.example.com", "b.example.com" }, library = "always" })
      assert.are.same({ "a.example.com/library/x:latest", "b.example.com/library/x:latest",
        "docker.io/library/x:latest" }, always:candidates("x"))
    end)

    it("ends with the default registry's name when no search registry gives it", function()
      local p = naming.policy({ search_registries = { "quay.io" } })
      assert.are.same({ "quay.io/x:latest", "docker.io/library/x:latest" }, p:candidates("x"))
      assert.are.equal(p:normalize("x"), p:candidates("x")[2])
      local own = naming.policy({ default_registry = "hub.example.com", search_registries = { "hub.example.com" } })
      assert.are.same({ "hub.example.com/x:latest" }, own:candidates("x"))
    end)

    it("lists a candidate once, and skips registries where the name is too long", function()
      local p = naming.policy({ search_registries = { "quay.io", "quay.io", "docker.io" } })
      assert.are.same({ "quay.io/x:latest", "docker.io/library/x:latest" }, p:candidates("x"))
      local p250 = string.rep("a", 250)
      assert.are.same({ "quay.io/" .. p250 .. ":latest" }, p:candidates(p250))
      local hub = naming.policy({ search_registries = { "docker.io" } })
      refused(string.format("repository name %q is 258 characters, longer than the maximum of 255", "library/" .. p250),
        p250, hub:candidates(p250))
    end)

    it("resolves an alias on the repository, with the reference's tag or digest", function()
      local p = naming.policy({ search_registries = { "quay.io", "docker.io" }, aliases = {
        fedora = "registry.fedoraproject.org/fedora", busybox = "docker.io/library/busybox:1.36",
        ["me/app"] = "ghcr.io/me/app", hub = "docker.io/nginx" } })
      assert.are.same({ "registry.fedoraproject.org/fedora:latest" }, p:candidates("fedora"))
      assert.are.same({ "registry.fedoraproject.org/fedora:39" }, p:candidates("fedora:39"))
      assert.are.same({ "registry.fedoraproject.org/fedora@" .. D256 }, p:candidates("fedora@" .. D256))
      assert.are.same({ "docker.io/library/busybox:1.36" }, p:candidates("busybox"))
      assert.are.same({ "docker.io/library/busybox:1.37" }, p:candidates("busybox:1.37"))
      assert.are.same({ "docker.io/library/busybox@" .. D256 }, p:candidates("busybox@" .. D256))
      assert.are.same({ "ghcr.io/me/app:latest" }, p:candidates("me/app"))
      assert.are.same({ "docker.io/library/nginx:latest" }, p:candidates("hub"))
      -- "library/fedora" is another short name: no alias, so the search registries
      assert.are.same({ "quay.io/library/fedora:latest", "docker.io/library/fedora:latest" },
        p:candidates("library/fedora"))
    end)

    it("stores a short name under the name its lookup tries first, without search registries", function()
      local p = naming.policy({ aliases = { tools = "registry.example.com/team/tools" } })
      for _, ref in ipairs({ "tools:2", "tools", "busybox", "me/app@" .. D256, "quay.io/x", "Registry/x:1" }) do
        assert.are.same({ p:normalize(ref) }, p:candidates(ref))
      end
      local s = naming.policy({ search_registries = { "quay.io", "docker.io" }, aliases = { tools = "ghcr.io/t" } })
      assert.are.equal("docker.io/library/busybox:latest", s:normalize("busybox"))
      assert.are.same({ "ghcr.io/t:2" }, s:candidates("tools:2"))
      assert.are.equal("ghcr.io/t:2", s:normalize("tools:2"))
    end)

    it("strips candidates with strip_default_host", function()
      local p = naming.policy({ strip_default_host = true, search_registries = { "quay.io", "docker.io" } })
      assert.are.same({ "quay.io/x:latest", "x:latest" }, p:candidates("x"))
      assert.are.same({ "x:1" }, p:candidates("docker.io/x:1"))
    end)

    it("returns nil, message, EINVAL for a bad reference", function()
      local p = naming.policy({ search_registries = { "quay.io" } })
      refused("empty", "", p:candidates(""))
      refused("a 64-character hexadecimal string is an image ID, not a repository name", HEX64, p:candidates(HEX64))
    end)

    it("takes search registries and aliases from registries_conf, explicit ones first", function()
      local p = assert(naming.policy({ registries_conf = CONF }))
      assert.are.same({ "registry.fedoraproject.org", "quay.io", "docker.io" }, p.options.search_registries)
      assert.are.equal("enforcing", p.short_name_mode)
      assert.are.equal(CONF, p.options.registries_conf)
      assert.are.same({ "registry.fedoraproject.org/fedora:latest" }, p:candidates("fedora"))
      assert.are.same({ "docker.io/library/busybox:1.36" }, p:candidates("busybox"))
      assert.are.same({ "registry.fedoraproject.org/nginx:latest", "quay.io/nginx:latest",
        "docker.io/library/nginx:latest" }, p:candidates("nginx"))

      local q = assert(naming.policy({ registries_conf = CONF, search_registries = { "ghcr.io" },
        aliases = { fedora = "quay.io/fedora/fedora", centos = "" } }))
      assert.are.same({ "ghcr.io" }, q.options.search_registries)
      assert.are.same({ "quay.io/fedora/fedora:latest" }, q:candidates("fedora"))
      assert.are.same({ "ghcr.io/centos:latest", "docker.io/library/centos:latest" }, q:candidates("centos"))
      assert.are.same({ "quay.io/podman/stable:latest" }, q:candidates("podman/stable"))
      -- its resolved options make the same policy again
      assert.are.same(q.options, naming.policy(q.options).options)
    end)

    it("raises when a method is called with '.'", function()
      local p = naming.policy()
      assert.are.equal("imagestore.naming: policy:candidates called without ':' or on something else than a policy",
        raised(p.candidates, "busybox"))
      assert.are.equal("imagestore.naming: bad argument #1 to 'normalize' (string expected, got nil)",
        raised(p.normalize, p))
    end)
  end)

  -- imagestore.registries_conf reads the files (spec/registries_conf_spec.lua);
  -- these cases are about what naming adds: its grammar and its messages.
  describe("read_registries_conf", function()
    it("is imagestore.registries_conf.read with the reference grammar", function()
      local conf = assert(naming.read_registries_conf(CONF))
      assert.are.same(registries_conf.read(CONF), conf)
      assert.are.same({ "registry.fedoraproject.org", "quay.io", "docker.io" }, conf.unqualified_search_registries)
      assert.are.equal("enforcing", conf.short_name_mode)
      assert.are.equal("docker.io/library/busybox:1.36", conf.aliases.busybox)
      local dir = helpers.tmpdir()
      fails("ENOENT", "open " .. dir .. "/x.conf: No such file or directory",
        naming.read_registries_conf(dir .. "/x.conf"))
      fails("EISDIR", "read " .. dir .. ": Is a directory", naming.read_registries_conf(dir))
      local path = dir .. "/bad.conf"
      helpers.write_file(path, '# ok\nunqualified-search-registries = [\n  "quay.io"\n  "docker.io"\n]\n')
      fails("EINVAL", path .. ":4: expected ',' or ']' in array, found '\"'", naming.read_registries_conf(path))
    end)

    it("refuses what the reference grammar refuses, naming the file and line", function()
      local path = helpers.tmpdir() .. "/grammar.conf"
      helpers.write_file(path, 'unqualified-search-registries = ["quay.io"]\n[aliases]\n"Foo" = "quay.io/foo"\n')
      fails("EINVAL", path .. ":3: invalid alias: invalid reference \"Foo\": repository name must be lowercase: "
        .. "'F' at position 1", naming.read_registries_conf(path))
      helpers.write_file(path, 'unqualified-search-registries = [\n"quay.io",\n"bad_host"]\n')
      fails("EINVAL", path .. ":3: invalid registry \"bad_host\" in unqualified-search-registries: "
        .. "invalid character '_' at position 4 in domain", naming.read_registries_conf(path))
      fails("EINVAL", path .. ":3: invalid registry \"bad_host\" in unqualified-search-registries: "
        .. "invalid character '_' at position 4 in domain", naming.policy({ registries_conf = path }))
    end)
  end)

  describe("parse_registries_conf", function()
    local function bad(text, message)
      fails("EINVAL", message, naming.parse_registries_conf(text, "t.conf"))
    end

    it("is imagestore.registries_conf.parse with the reference grammar", function()
      local text = table.concat({
        "unqualified-search-registries = [ 'quay.io' , \"docker.io\", ]",
        'short-name-mode = "permissive"',
        "[aliases]",
        '"a\\u0062" = "quay.io/\\u0061b"',
        "[[registry]]",
        "location = 'x.example.com'",
        "port.number = 5",
      }, "\n")
      local conf = assert(naming.parse_registries_conf(text))
      assert.are.same(registries_conf.parse(text), conf)
      assert.are.same({ unqualified_search_registries = { "quay.io", "docker.io" }, short_name_mode = "permissive",
        aliases = { ab = "quay.io/ab" }, registries = { { location = "x.example.com", port = { number = 5 } } } }, conf)
      bad('a = [\n"x",\n', "t.conf:1: unterminated array")
      bad('short-name-mode = "bogus"',
        't.conf:1: invalid short-name-mode "bogus": want "enforcing", "permissive" or "disabled"')
      bad('[aliases]\nfoo = 1', 't.conf:2: invalid alias: alias for "foo" must be a string')
    end)

    it("checks registries and aliases with the reference grammar", function()
      bad('unqualified-search-registries = [\n"ok.io",\n"bad_host"]',
        "t.conf:3: invalid registry \"bad_host\" in unqualified-search-registries: invalid character '_' at position 4 in domain")
      bad('unqualified-search-registries = [""]', 't.conf:1: invalid registry "" in unqualified-search-registries: empty')
      bad('[aliases]\n"x" = "quay.io/x"\n"Foo" = "quay.io/foo"',
        "t.conf:3: invalid alias: invalid reference \"Foo\": repository name must be lowercase: 'F' at position 1")
      bad('[aliases]\nfoo = "foo"', 't.conf:2: invalid alias: alias "foo" for "foo" must contain a registry')
      bad('[aliases]\n"quay.io/a" = "quay.io/b"',
        't.conf:2: invalid alias: short name "quay.io/a" must not contain a registry')
      bad('[aliases]\n"a" = "quay.io/b@' .. D256 .. '"',
        't.conf:2: invalid alias: alias "quay.io/b@' .. D256 .. '" for "a" must not contain a digest')
    end)

    it("keeps an empty alias, which removes that alias from a policy", function()
      local conf = assert(naming.parse_registries_conf('[aliases]\n"x" = ""\n'))
      assert.are.same({ x = "" }, conf.aliases)
    end)

    it("calls its source registries.conf when none is given", function()
      fails("EINVAL", "registries.conf:1: expected a value after '='", naming.parse_registries_conf("a ="))
    end)
  end)
end)
