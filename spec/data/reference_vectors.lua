-- Test vectors of github.com/distribution/reference, as Lua data for
-- spec/naming_spec.lua.
--
-- Source: https://github.com/distribution/reference
--   commit 0965666a6ade2e06035fe352e38344be1e68951a (2026-04-18, "Merge pull
--   request #27 from thaJeztah/internalize_ReferenceRegexp")
--   files: reference_test.go, normalize_test.go, regexp_test.go
-- Copyright The distribution Authors; licensed under the Apache License,
-- Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0). The rows below
-- are transcribed from those files: inputs and expected values unchanged.
--
-- Every table of those files that an imagestore.naming function can answer
-- is here, with all of its rows. Not transcribed: TestMatch/TestMatchError
-- (FamiliarMatch, a glob matcher we do not have), the JSON round trip part of
-- TestSerialization (its parsed values are here), and regexp_bench_test.go.
--
-- Fields added for imagestore.naming (upstream fields keep their names):
--   reason     our error reason: the message is exactly
--              string.format("invalid reference %q: %s", <input>, reason)
--   message    our whole error message, where it is not of that form
--   deviation  where our outcome differs from upstream's on purpose, why
--   ours       our result in such a row
--   parse_domain  our parse().domain where Docker-style splitting (the first
--              component is a registry only with '.', ':', "localhost" or an
--              uppercase letter) differs from the raw regexp's split; false = nil
--   note       why
-- The spec checks every failing row for EINVAL and the exact message.

return {
  source = {
    repository = "https://github.com/distribution/reference",
    commit = "0965666a6ade2e06035fe352e38344be1e68951a",
    files = { "reference_test.go", "normalize_test.go", "regexp_test.go" },
    license = "Apache-2.0",
  },

  -- Upstream error names, each mapped to a part of our message for the same
  -- problem. ErrReferenceInvalidFormat covers many different syntax problems
  -- upstream; ours name each one (see `reason`), all under "invalid reference".
  error_substrings = {
    ErrNameEmpty = ": empty",
    ErrReferenceInvalidFormat = "invalid reference ",
    ErrNameContainsUppercase = "repository name must be lowercase",
    ErrNameTooLong = "longer than the maximum of 255",
    ErrTagInvalidFormat = "tag",
    ErrDigestInvalidFormat = "digest",
    ["digest.ErrDigestInvalidLength"] = "hex digits, want",
    ["digest.ErrDigestUnsupported"] = "unsupported digest algorithm",
  },

  -- reference_test.go TestReferenceParse: Parse(input).
  -- repository is the full name (domain/path joined); domain is upstream's raw split;
  -- parse_domain (false = nil) is ours where Docker-style splitting differs.
  reference_parse = {
    { input = "test_com", repository = "test_com" },
    { input = "test.com:tag", repository = "test.com", tag = "tag" },
    { input = "test.com:5000", repository = "test.com", tag = "5000" },
    { input = "test.com/repo:tag", domain = "test.com", repository = "test.com/repo", tag = "tag" },
    { input = "test:5000/repo", domain = "test:5000", repository = "test:5000/repo" },
    { input = "test:5000/repo:tag", domain = "test:5000", repository = "test:5000/repo", tag = "tag" },
    { input = "test:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", domain = "test:5000", repository = "test:5000/repo", digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { input = "test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", domain = "test:5000", repository = "test:5000/repo", tag = "tag", digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { input = "test:5000/repo", domain = "test:5000", repository = "test:5000/repo" },
    { input = "", err = "ErrNameEmpty", reason = "empty" },
    { input = ":justtag", err = "ErrReferenceInvalidFormat", reason = "missing repository name" },
    { input = "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", err = "ErrReferenceInvalidFormat", reason = "missing repository name" },
    { input = "repo@sha256:ffffffffffffffffffffffffffffffffff", err = "digest.ErrDigestInvalidLength", reason = "digest \"sha256:ffffffffffffffffffffffffffffffffff\": sha256 digest has 34 hex digits, want 64" },
    { input = "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", err = "digest.ErrDigestUnsupported", reason = "digest \"invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\": unsupported digest algorithm \"invaliddigest\": want sha256, sha384 or sha512" },
    { input = "validname@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", err = "digest.ErrDigestUnsupported", deviation = "accepted: sha512 is registered by go-digest by default and Docker imports crypto/sha512; upstream's test binary imports only crypto/sha256", repository = "validname", digest = "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { input = "Uppercase:tag", err = "ErrNameContainsUppercase", reason = "repository name must be lowercase: 'U' at position 1" },
    -- commented out upstream ("FIXME \"Uppercase\" is incorrectly handled as a domain-name here,
    -- therefore passes"); kept to show that ours passes the same way
    { input = "Uppercase/lowercase:tag", err = "ErrNameContainsUppercase", commented_out = true, domain = "Uppercase", repository = "Uppercase/lowercase", tag = "tag", note = "upstream's row is commented out: the uppercase first component is taken as a domain, so the reference is valid" },
    { input = "test:5000/Uppercase/lowercase:tag", err = "ErrNameContainsUppercase", reason = "repository name must be lowercase: 'U' at position 11" },
    { input = "lowercase:Uppercase", repository = "lowercase", tag = "Uppercase" },
    { input = "domain/" .. string.rep("a", 256) .. ":tag", err = "ErrNameTooLong", reason = "repository name is 263 characters, longer than the maximum of 255" },
    { input = string.rep("a/", 127) .. "a:tag-puts-this-over-max", domain = "a", repository = string.rep("a/", 127) .. "a", tag = "tag-puts-this-over-max", parse_domain = false, note = "Parse's regexp takes the first \"a\" as a domain; Docker-style splitting does not (no '.', ':', not localhost): the path is all 255 characters" },
    { input = "aa/asdf$$^/aa", err = "ErrReferenceInvalidFormat", reason = "invalid character '$' at position 8 in repository name" },
    { input = "sub-dom1.foo.com/bar/baz/quux", domain = "sub-dom1.foo.com", repository = "sub-dom1.foo.com/bar/baz/quux" },
    { input = "sub-dom1.foo.com/bar/baz/quux:some-long-tag", domain = "sub-dom1.foo.com", repository = "sub-dom1.foo.com/bar/baz/quux", tag = "some-long-tag" },
    { input = "b.gcr.io/test.example.com/my-app:test.example.com", domain = "b.gcr.io", repository = "b.gcr.io/test.example.com/my-app", tag = "test.example.com" },
    { input = "xn--n3h.com/myimage:xn--n3h.com", domain = "xn--n3h.com", repository = "xn--n3h.com/myimage", tag = "xn--n3h.com" },
    { input = "xn--7o8h.com/myimage:xn--7o8h.com@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", domain = "xn--7o8h.com", repository = "xn--7o8h.com/myimage", tag = "xn--7o8h.com", digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { input = "foo_bar.com:8080", repository = "foo_bar.com", tag = "8080" },
    { input = "foo/foo_bar.com:8080", domain = "foo", repository = "foo/foo_bar.com", tag = "8080", parse_domain = false, note = "Parse's regexp takes \"foo\" as a domain; Docker-style splitting does not" },
    { input = "192.168.1.1", repository = "192.168.1.1" },
    { input = "192.168.1.1:tag", repository = "192.168.1.1", tag = "tag" },
    { input = "192.168.1.1:5000", repository = "192.168.1.1", tag = "5000" },
    { input = "192.168.1.1/repo", domain = "192.168.1.1", repository = "192.168.1.1/repo" },
    { input = "192.168.1.1:5000/repo", domain = "192.168.1.1:5000", repository = "192.168.1.1:5000/repo" },
    { input = "192.168.1.1:5000/repo:5050", domain = "192.168.1.1:5000", repository = "192.168.1.1:5000/repo", tag = "5050" },
    { input = "[2001:db8::1]", err = "ErrReferenceInvalidFormat", reason = "invalid character '[' at position 1 in repository name" },
    { input = "[2001:db8::1]:5000", err = "ErrReferenceInvalidFormat", reason = "invalid character '[' at position 1 in repository name" },
    { input = "[2001:db8::1]:tag", err = "ErrReferenceInvalidFormat", reason = "invalid character '[' at position 1 in repository name" },
    { input = "[2001:db8::1]/repo", domain = "[2001:db8::1]", repository = "[2001:db8::1]/repo" },
    { input = "[2001:db8:1:2:3:4:5:6]/repo:tag", domain = "[2001:db8:1:2:3:4:5:6]", repository = "[2001:db8:1:2:3:4:5:6]/repo", tag = "tag" },
    { input = "[2001:db8::1]:5000/repo", domain = "[2001:db8::1]:5000", repository = "[2001:db8::1]:5000/repo" },
    { input = "[2001:db8::1]:5000/repo:tag", domain = "[2001:db8::1]:5000", repository = "[2001:db8::1]:5000/repo", tag = "tag" },
    { input = "[2001:db8::1]:5000/repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", domain = "[2001:db8::1]:5000", repository = "[2001:db8::1]:5000/repo", digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { input = "[2001:db8::1]:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", domain = "[2001:db8::1]:5000", repository = "[2001:db8::1]:5000/repo", tag = "tag", digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" },
    { input = "[2001:db8::]:5000/repo", domain = "[2001:db8::]:5000", repository = "[2001:db8::]:5000/repo" },
    { input = "[::1]:5000/repo", domain = "[::1]:5000", repository = "[::1]:5000/repo" },
    { input = "[fe80::1%eth0]:5000/repo", err = "ErrReferenceInvalidFormat", reason = "invalid IPv6 address \"[fe80::1%eth0]\" at position 1: want [hex digits and ':']" },
    { input = "[fe80::1%@invalidzone]:5000/repo", err = "ErrReferenceInvalidFormat", reason = "invalid character '[' at position 1 in repository name" },
    { input = "example.com/" .. string.rep("a", 255) .. ":tag", domain = "example.com", repository = "example.com/" .. string.rep("a", 255), tag = "tag" },
  },

  -- reference_test.go TestWithNameFailure: WithName(input) fails; ours: repository(input).
  with_name_failure = {
    { input = "", err = "ErrReferenceInvalidFormat", reason = "empty" },
    { input = ":justtag", err = "ErrReferenceInvalidFormat", reason = "missing repository name" },
    { input = "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", err = "ErrReferenceInvalidFormat", reason = "missing repository name" },
    { input = "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", err = "ErrReferenceInvalidFormat", reason = "digest \"invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\": unsupported digest algorithm \"invaliddigest\": want sha256, sha384 or sha512" },
    { input = "example.com/repo:tag", err = "ErrReferenceInvalidFormat", deviation = "accepted: repository() takes a full reference and drops its tag; WithName takes a bare name", ours = "example.com/repo" },
    { input = "example.com/" .. string.rep("a", 256), err = "ErrNameTooLong", reason = "repository name is 256 characters, longer than the maximum of 255" },
    { input = "aa/asdf$$^/aa", err = "ErrReferenceInvalidFormat", reason = "invalid character '$' at position 8 in repository name" },
  },

  -- reference_test.go TestDomainAndPath: WithName(input), Domain(), Path() (domain "" is nil here).
  domain_and_path = {
    { input = "test.com/foo", domain = "test.com", path = "foo" },
    { input = "test_com/foo", path = "test_com/foo" },
    { input = "test:8080/foo", domain = "test:8080", path = "foo" },
    { input = "test.com:8080/foo", domain = "test.com:8080", path = "foo" },
    { input = "test-com:8080/foo", domain = "test-com:8080", path = "foo" },
    { input = "xn--n3h.com:18080/foo", domain = "xn--n3h.com:18080", path = "foo" },
  },

  -- reference_test.go TestSerialization: the reference inside a JSON field (input "" = absent).
  serialization = {
    { description = "empty value", input = "", err = "ErrNameEmpty", reason = "empty" },
    { description = "just a name", input = "example.com:8000/named", name = "example.com:8000/named" },
    { description = "name with a tag", input = "example.com:8000/named:tagged", name = "example.com:8000/named", tag = "tagged" },
    { description = "name with digest", input = "other.com/named@sha256:1234567890098765432112345667890098765432112345667890098765432112", name = "other.com/named", digest = "sha256:1234567890098765432112345667890098765432112345667890098765432112" },
  },

  -- reference_test.go TestWithTag: WithTag(WithName(name)[+digest], tag) == combined; ours: parse(combined).
  with_tag = {
    { name = "test.com/foo", tag = "tag", combined = "test.com/foo:tag" },
    { name = "foo", tag = "tag2", combined = "foo:tag2" },
    { name = "test.com:8000/foo", tag = "tag4", combined = "test.com:8000/foo:tag4" },
    { name = "test.com:8000/foo", tag = "TAG5", combined = "test.com:8000/foo:TAG5" },
    { name = "test.com:8000/foo", digest = "sha256:1234567890098765432112345667890098765", tag = "TAG5", combined = "test.com:8000/foo:TAG5@sha256:1234567890098765432112345667890098765", reason = "digest \"sha256:1234567890098765432112345667890098765\": sha256 digest has 37 hex digits, want 64", deviation = "refused: 37 hex digits; WithDigest/WithTag skip go-digest's length check, parse does not" },
  },

  -- reference_test.go TestWithDigest: WithDigest(WithName(name)[+tag], digest) == combined;
  -- ours: with_digest(name[:tag], digest).
  with_digest = {
    { name = "test.com/foo", digest = "sha256:1234567890098765432112345667890098765", combined = "test.com/foo@sha256:1234567890098765432112345667890098765", message = "invalid digest \"sha256:1234567890098765432112345667890098765\": sha256 digest has 37 hex digits, want 64", deviation = "refused: 37 hex digits; WithDigest skips go-digest's length check, with_digest does not" },
    { name = "foo", digest = "sha256:1234567890098765432112345667890098765", combined = "foo@sha256:1234567890098765432112345667890098765", message = "invalid digest \"sha256:1234567890098765432112345667890098765\": sha256 digest has 37 hex digits, want 64", deviation = "refused: 37 hex digits; WithDigest skips go-digest's length check, with_digest does not" },
    { name = "test.com:8000/foo", digest = "sha256:1234567890098765432112345667890098765", combined = "test.com:8000/foo@sha256:1234567890098765432112345667890098765", message = "invalid digest \"sha256:1234567890098765432112345667890098765\": sha256 digest has 37 hex digits, want 64", deviation = "refused: 37 hex digits; WithDigest skips go-digest's length check, with_digest does not" },
    { name = "test.com:8000/foo", digest = "sha256:1234567890098765432112345667890098765", tag = "latest", combined = "test.com:8000/foo:latest@sha256:1234567890098765432112345667890098765", message = "invalid digest \"sha256:1234567890098765432112345667890098765\": sha256 digest has 37 hex digits, want 64", deviation = "refused: 37 hex digits; WithDigest skips go-digest's length check, with_digest does not" },
  },

  -- reference_test.go TestParseNamed: ParseNamed(input) accepts only canonical names;
  -- ours: input is canonical when normalize(input, {default_tag = false}) == input.
  parse_named = {
    { input = "test.com/foo", domain = "test.com", path = "foo" },
    { input = "test:8080/foo", domain = "test:8080", path = "foo" },
    { input = "test_com/foo", err = "ErrNameNotCanonical" },
    { input = "test.com", err = "ErrNameNotCanonical" },
    { input = "foo", err = "ErrNameNotCanonical" },
    { input = "library/foo", err = "ErrNameNotCanonical" },
    { input = "docker.io/library/foo", domain = "docker.io", path = "library/foo" },
    { input = "docker.io/foo", err = "ErrNameNotCanonical" },
  },

  -- normalize_test.go TestValidateReferenceName (validRepoNames) : ParseNormalizedNamed(input) succeeds.
  validate_reference_name_valid = {
    { input = "docker/docker" },
    { input = "library/debian" },
    { input = "debian" },
    { input = "localhost/library/debian" },
    { input = "localhost/debian" },
    { input = "LOCALDOMAIN/library/debian" },
    { input = "LOCALDOMAIN/debian" },
    { input = "docker.io/docker/docker" },
    { input = "docker.io/library/debian" },
    { input = "docker.io/debian" },
    { input = "index.docker.io/docker/docker" },
    { input = "index.docker.io/library/debian" },
    { input = "index.docker.io/debian" },
    { input = "127.0.0.1:5000/docker/docker" },
    { input = "127.0.0.1:5000/library/debian" },
    { input = "127.0.0.1:5000/debian" },
    { input = "192.168.0.1" },
    { input = "192.168.0.1:80" },
    { input = "192.168.0.1:8/debian" },
    { input = "192.168.0.2:25000/debian" },
    { input = "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev" },
    { input = "[fc00::1]:5000/docker" },
    { input = "[fc00::1]:5000/docker/docker" },
    { input = "[fc00:1:2:3:4:5:6:7]:5000/library/debian" },
    { input = "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a" },
    { input = "Docker/docker" },
    { input = "DOCKER/docker" },
  },

  -- normalize_test.go TestValidateReferenceName (invalidRepoNames) : ParseNormalizedNamed(input) fails.
  validate_reference_name_invalid = {
    { input = "https://github.com/docker/docker", reason = "invalid port \"\" at position 7: want digits" },
    { input = "docker/Docker", reason = "repository name must be lowercase: 'D' at position 8" },
    { input = "-docker", reason = "path component \"-docker\" at position 1 must start and end with a letter or digit" },
    { input = "-docker/docker", reason = "path component \"-docker\" at position 1 must start and end with a letter or digit" },
    { input = "-docker.io/docker/docker", reason = "domain component \"-docker\" at position 1 must not start or end with '-'" },
    { input = "docker///docker", reason = "empty path component at position 8" },
    { input = "docker.io/docker/Docker", reason = "repository name must be lowercase: 'D' at position 18" },
    { input = "docker.io/docker///docker", reason = "empty path component at position 18" },
    { input = "[fc00::1]", reason = "invalid character '[' at position 1 in repository name" },
    { input = "[fc00::1]:5000", reason = "invalid character '[' at position 1 in repository name" },
    { input = "fc00::1:5000/debian", reason = "invalid port \":1:5000\" at position 6: want digits" },
    { input = "[fe80::1%eth0]:5000/debian", reason = "invalid IPv6 address \"[fe80::1%eth0]\" at position 1: want [hex digits and ':']" },
    { input = "[2001:db8:3:4::192.0.2.33]:5000/debian", reason = "invalid IPv6 address \"[2001:db8:3:4::192.0.2.33]\" at position 1: want [hex digits and ':']" },
    { input = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", reason = "a 64-character hexadecimal string is an image ID, not a repository name" },
  },

  -- normalize_test.go TestValidateRemoteName (validRepositoryNames) : ParseNormalizedNamed(input) succeeds.
  validate_remote_name_valid = {
    { input = "docker/docker" },
    { input = "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev" },
    { input = "docker-rules/docker" },
    { input = "docker---rules/docker" },
    { input = "doc/docker" },
    { input = "d/docker" },
    { input = "jess/t" },
    { input = "dock__er/docker" },
  },

  -- normalize_test.go TestValidateRemoteName (invalidRepositoryNames) : ParseNormalizedNamed(input) fails.
  validate_remote_name_invalid = {
    { input = "docker/Docker", reason = "repository name must be lowercase: 'D' at position 8" },
    { input = "docker///docker", reason = "empty path component at position 8" },
    { input = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", reason = "a 64-character hexadecimal string is an image ID, not a repository name" },
    { input = "-docker/docker", reason = "path component \"-docker\" at position 1 must start and end with a letter or digit" },
    { input = "docker-/docker", reason = "path component \"docker-\" at position 1 must start and end with a letter or digit" },
    { input = "-docker-/docker", reason = "path component \"-docker-\" at position 1 must start and end with a letter or digit" },
    { input = "____/____", reason = "path component \"____\" at position 1 must start and end with a letter or digit" },
    { input = "_docker/_docker", reason = "path component \"_docker\" at position 1 must start and end with a letter or digit" },
    { input = "dock..er/docker", reason = "empty domain component at position 6" },
    { input = "dock_.er/docker", reason = "invalid character '_' at position 5 in domain" },
    { input = "dock-.er/docker", reason = "domain component \"dock-\" at position 1 must not start or end with '-'" },
    { input = "docker/", reason = "empty path component at position 7" },
    { input = "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker", reason = "repository name is 278 characters, longer than the maximum of 255" },
  },

  -- normalize_test.go TestParseRepositoryInfo: each of FamiliarName, FullName and
  -- AmbiguousName parses (ParseNormalizedNamed) to FamiliarName(), String() = FullName,
  -- Domain() and Path() = RemoteName. Ours: familiar(r, {default_tag = false}) and repository(r).
  parse_repository_info = {
    { RemoteName = "fooo", FamiliarName = "localhost/fooo", FullName = "localhost/fooo", AmbiguousName = "localhost/fooo", Domain = "localhost" },
    { RemoteName = "fooo/bar", FamiliarName = "localhost/fooo/bar", FullName = "localhost/fooo/bar", AmbiguousName = "localhost/fooo/bar", Domain = "localhost" },
    { RemoteName = "fooo", FamiliarName = "LOCALDOMAIN/fooo", FullName = "LOCALDOMAIN/fooo", AmbiguousName = "LOCALDOMAIN/fooo", Domain = "LOCALDOMAIN" },
    { RemoteName = "fooo/bar", FamiliarName = "LOCALDOMAIN/fooo/bar", FullName = "LOCALDOMAIN/fooo/bar", AmbiguousName = "LOCALDOMAIN/fooo/bar", Domain = "LOCALDOMAIN" },
    { RemoteName = "fooo/bar", FamiliarName = "fooo/bar", FullName = "docker.io/fooo/bar", AmbiguousName = "index.docker.io/fooo/bar", Domain = "docker.io" },
    { RemoteName = "library/ubuntu", FamiliarName = "ubuntu", FullName = "docker.io/library/ubuntu", AmbiguousName = "library/ubuntu", Domain = "docker.io" },
    { RemoteName = "nonlibrary/ubuntu", FamiliarName = "nonlibrary/ubuntu", FullName = "docker.io/nonlibrary/ubuntu", Domain = "docker.io" },
    { RemoteName = "other/library", FamiliarName = "other/library", FullName = "docker.io/other/library", Domain = "docker.io" },
    { RemoteName = "private/moonbase", FamiliarName = "127.0.0.1:8000/private/moonbase", FullName = "127.0.0.1:8000/private/moonbase", Domain = "127.0.0.1:8000" },
    { RemoteName = "privatebase", FamiliarName = "127.0.0.1:8000/privatebase", FullName = "127.0.0.1:8000/privatebase", Domain = "127.0.0.1:8000" },
    { RemoteName = "private/moonbase", FamiliarName = "example.com/private/moonbase", FullName = "example.com/private/moonbase", Domain = "example.com" },
    { RemoteName = "privatebase", FamiliarName = "example.com/privatebase", FullName = "example.com/privatebase", Domain = "example.com" },
    { RemoteName = "private/moonbase", FamiliarName = "example.com:8000/private/moonbase", FullName = "example.com:8000/private/moonbase", Domain = "example.com:8000" },
    { RemoteName = "privatebasee", FamiliarName = "example.com:8000/privatebasee", FullName = "example.com:8000/privatebasee", Domain = "example.com:8000" },
    { RemoteName = "library/ubuntu-12.04-base", FamiliarName = "ubuntu-12.04-base", FullName = "docker.io/library/ubuntu-12.04-base", AmbiguousName = "index.docker.io/library/ubuntu-12.04-base", Domain = "docker.io" },
    { RemoteName = "library/foo", FamiliarName = "foo", FullName = "docker.io/library/foo", AmbiguousName = "docker.io/foo", Domain = "docker.io" },
    { RemoteName = "library/foo/bar", FamiliarName = "library/foo/bar", FullName = "docker.io/library/foo/bar", Domain = "docker.io" },
    { RemoteName = "store/foo/bar", FamiliarName = "store/foo/bar", FullName = "docker.io/store/foo/bar", Domain = "docker.io" },
    { RemoteName = "bar", FamiliarName = "Foo/bar", FullName = "Foo/bar", Domain = "Foo" },
    { RemoteName = "bar", FamiliarName = "FOO/bar", FullName = "FOO/bar", Domain = "FOO" },
  },

  -- normalize_test.go TestParseAnyReference: ParseAnyReference(Reference).String() == Equivalent;
  -- ours: normalize(Reference, {default_tag = false}). The Expected column (a digestReference
  -- for IDs and bare digests) has no counterpart here; those rows carry a deviation.
  parse_any_reference = {
    { Reference = "redis", Equivalent = "docker.io/library/redis" },
    { Reference = "redis:latest", Equivalent = "docker.io/library/redis:latest" },
    { Reference = "docker.io/library/redis:latest", Equivalent = "docker.io/library/redis:latest" },
    { Reference = "redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", Equivalent = "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c" },
    { Reference = "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", Equivalent = "docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c" },
    { Reference = "dmcgowan/myapp", Equivalent = "docker.io/dmcgowan/myapp" },
    { Reference = "dmcgowan/myapp:latest", Equivalent = "docker.io/dmcgowan/myapp:latest" },
    { Reference = "docker.io/mcgowan/myapp:latest", Equivalent = "docker.io/mcgowan/myapp:latest" },
    { Reference = "dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", Equivalent = "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c" },
    { Reference = "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", Equivalent = "docker.io/dmcgowan/myapp@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c" },
    { Reference = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", Equivalent = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", reason = "a 64-character hexadecimal string is an image ID, not a repository name", deviation = "refused as an image ID (ParseNormalizedNamed's rule); ParseAnyReference turns it into a digest reference" },
    { Reference = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", Equivalent = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c", deviation = "no bare-digest references here: it is the repository \"sha256\" with a 64-character tag", ours = "docker.io/library/sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c" },
    { Reference = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", Equivalent = "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9" },
    { Reference = "dbcc1", Equivalent = "docker.io/library/dbcc1" },
  },

  -- normalize_test.go TestNormalizedSplitHostname: ParseNormalizedNamed(input), Domain(), Path();
  -- ours: repository(input, {default_tag = false}) == domain .. "/" .. path.
  normalized_split_hostname = {
    { input = "test.com/foo", domain = "test.com", path = "foo" },
    { input = "test_com/foo", domain = "docker.io", path = "test_com/foo" },
    { input = "docker/migrator", domain = "docker.io", path = "docker/migrator" },
    { input = "test.com:8080/foo", domain = "test.com:8080", path = "foo" },
    { input = "test-com:8080/foo", domain = "test-com:8080", path = "foo" },
    { input = "foo", domain = "docker.io", path = "library/foo" },
    { input = "xn--n3h.com/foo", domain = "xn--n3h.com", path = "foo" },
    { input = "xn--n3h.com:18080/foo", domain = "xn--n3h.com:18080", path = "foo" },
    { input = "docker.io/foo", domain = "docker.io", path = "library/foo" },
    { input = "docker.io/library/foo", domain = "docker.io", path = "library/foo" },
    { input = "docker.io/library/foo/bar", domain = "docker.io", path = "library/foo/bar" },
  },

  -- normalize_test.go TestParseDockerRef: ParseDockerRef(input).String() == expected; ours: normalize(input).
  parse_docker_ref = {
    { name = "nothing", input = "busybox", expected = "docker.io/library/busybox:latest" },
    { name = "tag only", input = "busybox:latest", expected = "docker.io/library/busybox:latest" },
    { name = "digest only", input = "busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582", expected = "docker.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582" },
    { name = "path only", input = "library/busybox", expected = "docker.io/library/busybox:latest" },
    { name = "hostname only", input = "docker.io/busybox", expected = "docker.io/library/busybox:latest" },
    { name = "no tag", input = "docker.io/library/busybox", expected = "docker.io/library/busybox:latest" },
    { name = "no path", input = "docker.io/busybox:latest", expected = "docker.io/library/busybox:latest" },
    { name = "no hostname", input = "library/busybox:latest", expected = "docker.io/library/busybox:latest" },
    { name = "full reference with tag", input = "docker.io/library/busybox:latest", expected = "docker.io/library/busybox:latest" },
    { name = "gcr reference without tag", input = "gcr.io/library/busybox", expected = "gcr.io/library/busybox:latest" },
    { name = "both tag and digest", input = "gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582", expected = "gcr.io/library/busybox@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582" },
  },

  -- regexp_test.go TestDomainRegexp: ^domainAndPort$ matches input; ours: parse(input .. "/x")
  -- succeeds (reason: our message for that reference when it fails, with input .. "/x" quoted).
  domain_regexp = {
    { input = "test.com", match = true },
    { input = "test.com:10304", match = true },
    { input = "test.com:http", match = false, reason = "invalid port \"http\" at position 10: want digits" },
    { input = "localhost", match = true },
    { input = "localhost:8080", match = true },
    { input = "a", match = true, parse_domain = false, note = "a valid host, but Docker-style splitting keeps \"a/x\" in the path" },
    { input = "a.b", match = true },
    { input = "ab.cd.com", match = true },
    { input = "a-b.com", match = true },
    { input = "-ab.com", match = false, reason = "domain component \"-ab\" at position 1 must not start or end with '-'" },
    { input = "ab-.com", match = false, reason = "domain component \"ab-\" at position 1 must not start or end with '-'" },
    { input = "ab.c-om", match = true },
    { input = "ab.-com", match = false, reason = "domain component \"-com\" at position 4 must not start or end with '-'" },
    { input = "ab.com-", match = false, reason = "domain component \"com-\" at position 4 must not start or end with '-'" },
    { input = "0101.com", match = true },
    { input = "001a.com", match = true },
    { input = "b.gbc.io:443", match = true },
    { input = "b.gbc.io", match = true },
    { input = "xn--n3h.com", match = true },
    { input = "Asdf.com", match = true },
    { input = "192.168.1.1:75050", match = true },
    { input = "192.168.1.1:750050", match = true },
    { input = "[fd00:1:2::3]:75050", match = true },
    { input = "[fd00:1:2::3]75050", match = false, reason = "invalid character '7' at position 14 in domain" },
    { input = "[fd00:1:2::3]::75050", match = false, reason = "invalid port \":75050\" at position 15: want digits" },
    { input = "[fd00:1:2::3%eth0]:75050", match = false, reason = "invalid IPv6 address \"[fd00:1:2::3%eth0]\" at position 1: want [hex digits and ':']" },
    { input = "[fd00123123123]:75050", match = true },
    { input = "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:75050", match = true },
    { input = "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505", match = true },
    { input = "fd00:1:2::3:75050", match = false, reason = "invalid port \"1:2::3:75050\" at position 6: want digits" },
  },

  -- regexp_test.go TestFullNameRegexp: ^(domain/)?(remote-name)$ matches input with subs
  -- {domain, path}; ours: parse(input) succeeds with no tag and no digest, and domain/path
  -- joined give input (our split is Docker's, so compare the joined name).
  full_name_regexp = {
    { input = "", match = false, reason = "empty" },
    { input = "short", match = true, subs = { "", "short" } },
    { input = "simple/name", match = true, subs = { "simple", "name" } },
    { input = "library/ubuntu", match = true, subs = { "library", "ubuntu" } },
    { input = "docker/stevvooe/app", match = true, subs = { "docker", "stevvooe/app" } },
    { input = "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", match = true, subs = { "aa", "aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb" } },
    { input = "aa/aa/bb/bb/bb", match = true, subs = { "aa", "aa/bb/bb/bb" } },
    { input = "a/a/a/a", match = true, subs = { "a", "a/a/a" } },
    { input = "a/a/a/a/", match = false, reason = "empty path component at position 8" },
    { input = "a//a/a", match = false, reason = "empty path component at position 3" },
    { input = "a", match = true, subs = { "", "a" } },
    { input = "a/aa", match = true, subs = { "a", "aa" } },
    { input = "a/aa/a", match = true, subs = { "a", "aa/a" } },
    { input = "foo.com", match = true, subs = { "", "foo.com" } },
    { input = "foo.com/", match = false, reason = "empty path component at position 8" },
    { input = "foo.com:8080/bar", match = true, subs = { "foo.com:8080", "bar" } },
    { input = "foo.com:http/bar", match = false, reason = "invalid port \"http\" at position 9: want digits" },
    { input = "foo.com/bar", match = true, subs = { "foo.com", "bar" } },
    { input = "foo.com/bar/baz", match = true, subs = { "foo.com", "bar/baz" } },
    { input = "localhost:8080/bar", match = true, subs = { "localhost:8080", "bar" } },
    { input = "sub-dom1.foo.com/bar/baz/quux", match = true, subs = { "sub-dom1.foo.com", "bar/baz/quux" } },
    { input = "blog.foo.com/bar/baz", match = true, subs = { "blog.foo.com", "bar/baz" } },
    { input = "a^a", match = false, reason = "invalid character '^' at position 2 in repository name" },
    { input = "aa/asdf$$^/aa", match = false, reason = "invalid character '$' at position 8 in repository name" },
    { input = "asdf$$^/aa", match = false, reason = "invalid character '$' at position 5 in repository name" },
    { input = "aa-a/a", match = true, subs = { "aa-a", "a" } },
    { input = string.rep("a/", 128) .. "a", match = true, subs = { "a", string.rep("a/", 127) .. "a" }, reason = "repository name is 257 characters, longer than the maximum of 255", deviation = "refused: the regexp splits off \"a\" as a domain (leaving 255 characters); Docker-style splitting keeps all 257 in the path, over the limit (ParseNormalizedNamed refuses it too)" },
    { input = "a-/a/a/a", match = false, reason = "path component \"a-\" at position 1 must start and end with a letter or digit" },
    { input = "foo.com/a-/a/a", match = false, reason = "path component \"a-\" at position 9 must start and end with a letter or digit" },
    { input = "-foo/bar", match = false, reason = "path component \"-foo\" at position 1 must start and end with a letter or digit" },
    { input = "foo/bar-", match = false, reason = "path component \"bar-\" at position 5 must start and end with a letter or digit" },
    { input = "foo-/bar", match = false, reason = "path component \"foo-\" at position 1 must start and end with a letter or digit" },
    { input = "foo/-bar", match = false, reason = "path component \"-bar\" at position 5 must start and end with a letter or digit" },
    { input = "_foo/bar", match = false, reason = "path component \"_foo\" at position 1 must start and end with a letter or digit" },
    { input = "foo_bar", match = true, subs = { "", "foo_bar" } },
    { input = "foo_bar.com", match = true, subs = { "", "foo_bar.com" } },
    { input = "foo_bar.com:8080", match = false },
    { input = "foo_bar.com:8080/app", match = false, reason = "invalid character '_' at position 4 in domain" },
    { input = "foo.com/foo_bar", match = true, subs = { "foo.com", "foo_bar" } },
    { input = "____/____", match = false, reason = "path component \"____\" at position 1 must start and end with a letter or digit" },
    { input = "_docker/_docker", match = false, reason = "path component \"_docker\" at position 1 must start and end with a letter or digit" },
    { input = "docker_/docker_", match = false, reason = "path component \"docker_\" at position 1 must start and end with a letter or digit" },
    { input = "b.gcr.io/test.example.com/my-app", match = true, subs = { "b.gcr.io", "test.example.com/my-app" } },
    { input = "xn--n3h.com/myimage", match = true, subs = { "xn--n3h.com", "myimage" } },
    { input = "xn--7o8h.com/myimage", match = true, subs = { "xn--7o8h.com", "myimage" } },
    { input = "example.com/xn--7o8h.com/myimage", match = true, subs = { "example.com", "xn--7o8h.com/myimage" } },
    { input = "example.com/some_separator__underscore/myimage", match = true, subs = { "example.com", "some_separator__underscore/myimage" } },
    { input = "example.com/__underscore/myimage", match = false, reason = "path component \"__underscore\" at position 13 must start and end with a letter or digit" },
    { input = "example.com/..dots/myimage", match = false, reason = "path component \"..dots\" at position 13 must start and end with a letter or digit" },
    { input = "example.com/.dots/myimage", match = false, reason = "path component \".dots\" at position 13 must start and end with a letter or digit" },
    { input = "example.com/nodouble..dots/myimage", match = false, reason = "invalid separator \"..\" at position 21 in path component \"nodouble..dots\"" },
    { input = "example.com/nodouble..dots/myimage", match = false, reason = "invalid separator \"..\" at position 21 in path component \"nodouble..dots\"" },
    { input = "docker./docker", match = false, reason = "empty domain component at position 7" },
    { input = ".docker/docker", match = false, reason = "empty domain component at position 1" },
    { input = "docker-/docker", match = false, reason = "path component \"docker-\" at position 1 must start and end with a letter or digit" },
    { input = "-docker/docker", match = false, reason = "path component \"-docker\" at position 1 must start and end with a letter or digit" },
    { input = "do..cker/docker", match = false, reason = "empty domain component at position 4" },
    { input = "do__cker:8080/docker", match = false, reason = "invalid character '_' at position 3 in domain" },
    { input = "do__cker/docker", match = true, subs = { "", "do__cker/docker" } },
    { input = "b.gcr.io/test.example.com/my-app", match = true, subs = { "b.gcr.io", "test.example.com/my-app" } },
    { input = "registry.io/foo/project--id.module--name.ver---sion--name", match = true, subs = { "registry.io", "foo/project--id.module--name.ver---sion--name" } },
    { input = "Asdf.com/foo/bar", match = true },
    { input = "Foo/FarB", match = false, reason = "repository name must be lowercase: 'F' at position 5" },
  },

  -- regexp_test.go TestReferenceRegexp: ^name(:tag)?(@digest)?$ with subs {name, tag, digest}
  -- ("" = absent); ours: parse(input).
  reference_regexp = {
    { input = "registry.com:8080/myapp:tag", match = true, subs = { "registry.com:8080/myapp", "tag", "" } },
    { input = "registry.com:8080/myapp@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", match = true, subs = { "registry.com:8080/myapp", "", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912" } },
    { input = "registry.com:8080/myapp:tag2@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", match = true, subs = { "registry.com:8080/myapp", "tag2", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912" } },
    { input = "registry.com:8080/myapp@sha256:badbadbadbad", match = false, reason = "digest \"sha256:badbadbadbad\": want <algorithm>:<hex>, with at least 32 hex digits" },
    { input = "registry.com:8080/myapp:invalid~tag", match = false, reason = "invalid character '~' at position 32 in tag" },
    { input = "bad_hostname.com:8080/myapp:tag", match = false, reason = "invalid character '_' at position 4 in domain" },
    { input = "localhost:8080@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", match = true, subs = { "localhost", "8080", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912" } },
    { input = "localhost:8080/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", match = true, subs = { "localhost:8080/name", "", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912" } },
    { input = "localhost:http/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", match = false, reason = "invalid port \"http\" at position 11: want digits" },
    { input = "localhost@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912", match = true, subs = { "localhost", "", "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912" } },
    { input = "registry.com:8080/myapp@bad", match = false, reason = "digest \"bad\": want <algorithm>:<hex>, with at least 32 hex digits" },
    { input = "registry.com:8080/myapp@2bad", match = false, reason = "digest \"2bad\": want <algorithm>:<hex>, with at least 32 hex digits" },
  },

  -- regexp_test.go TestIdentifierRegexp: ^[a-f0-9]{64}$ matches input; ours: parse(input)
  -- refuses exactly the matching inputs as image IDs (the others may fail for other reasons).
  identifier_regexp = {
    { input = "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", match = true, reason = "a 64-character hexadecimal string is an image ID, not a repository name" },
    { input = "7EC43B381E5AEFE6E04EFB0B3F0693FF2A4A50652D64AEC573905F2DB5889A1C", match = false, reason = "repository name must be lowercase: 'E' at position 2" },
    { input = "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf", match = false },
    { input = "sha256:da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf9821", match = false },
    { input = "da304e823d8ca2b9d863a3c897baeb852ba21ea9a9f1414736394ae7fcaf98218482", match = false },
  },

  -- normalize_test.go TestParseReferenceWithTagAndDigest: ParseNormalizedNamed(short_ref) keeps
  -- both tag and digest (String = full), FamiliarString gives short_ref back.
  parse_reference_with_tag_and_digest = {
    short_ref = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
    full = "docker.io/library/" .. "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
  },

  -- normalize_test.go TestInvalidReferenceComponents.
  invalid_reference_components = {
    { call = "parse", args = { "-foo" }, upstream = "ParseNormalizedNamed(\"-foo\") fails", reason = "path component \"-foo\" at position 1 must start and end with a letter or digit" },
    { call = "parse", args = { "busybox:-foo" }, upstream = "WithTag(busybox, \"-foo\") fails (ErrTagInvalidFormat)", reason = "tag \"-foo\" at position 9 must start with a letter, digit or '_'" },
    { call = "with_digest", args = { "busybox", "foo" }, upstream = "WithDigest(busybox, \"foo\") fails (ErrDigestInvalidFormat)", message = "invalid digest \"foo\": want <algorithm>:<hex>, with at least 32 hex digits" },
  },
}
