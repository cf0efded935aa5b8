-- The imagestore command (cli/main.c, lua/imagestore/cli.lua), run as a
-- built binary: IMAGESTORE_CLI, else build/bin/imagestore.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")
local json = require("imagestore.json")
local q = helpers.shell_quote

local ROOT = os.getenv("IMAGESTORE_ROOT") or "."
local CLI = os.getenv("IMAGESTORE_CLI") or (ROOT .. "/build/bin/imagestore")
local HELLO = "7d6555ccc8763045ecdf38dcc36070ae51aa9adf0965fb13c1017805a23b0caf"
local TOOLS = "70e6b2b80b73b8271aa5c7ed90f72747cf853d6b3b9edd4880a055c8d249af37"
local BUSYBOX = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b"
local CENTOS = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10"

-- Runs the command with args (and env, a "K=V ..." prefix); its stdout,
-- stderr and exit status.
local function run(args, env)
  local dir = helpers.tmpdir()
  -- (timeout: a command that hangs fails the case instead of the run)
  local cmd = { env and ("env " .. env) or "", "timeout 60", q(CLI) }
  for _, a in ipairs(args) do cmd[#cmd + 1] = q(a) end
  local status = select(3, os.execute(table.concat(cmd, " ") .. " >" .. q(dir .. "/out")
    .. " 2>" .. q(dir .. "/err") .. " </dev/null"))
  return helpers.read_file(dir .. "/out"), helpers.read_file(dir .. "/err"), status
end

-- The command must succeed: its stdout.
local function ok(args, env)
  local out, err, status = run(args, env)
  assert.are.equal(0, status, "stderr: " .. err)
  assert.are.equal("", err)
  return out
end

-- The command must fail with status and exactly this stderr line.
local function fails(status, message, args, env)
  local out, err, got = run(args, env)
  assert.are.equal(message and ("imagestore: " .. message .. "\n") or err, err)
  assert.are.equal(status, got)
  return out
end

local function isulad_store()
  return helpers.copy_fixture("isulad/overlay-images")
end

local function podman_store()
  return helpers.copy_fixture("containers-storage/vfs-images")
end

describe("the imagestore command", function()
  after_each(helpers.cleanup)

  describe("help and usage", function()
    it("prints its version and help, and each command's", function()
      assert.are.equal("imagestore " .. imagestore.VERSION .. "\n", ok({ "--version" }))
      assert.matches("^Usage: imagestore %[%-%-root DIR%]", ok({ "--help" }))
      for _, c in ipairs({ "images", "inspect", "tag", "untag", "rm", "import", "gc", "check",
                           "repair", "big-data", "usage", "lua" }) do
        assert.matches("^Usage: imagestore " .. c:gsub("%-", "%%-"), ok({ c, "--help" }))
        assert.are.equal(ok({ c, "--help" }), ok({ "help", c }))
      end
      assert.are.equal(ok({ "images", "--help" }), ok({ "ls", "--help" }))
    end)

    it("has a man page and a bash completion that name every command", function()
      local man = assert(helpers.read_file(ROOT .. "/cli/imagestore.1"))
      local completion = assert(helpers.read_file(ROOT .. "/cli/imagestore.bash"))
      assert.are.equal(0, select(3, os.execute("bash -n " .. q(ROOT .. "/cli/imagestore.bash"))))
      local block = ok({ "--help" }):match("Commands:\n(.-)\n\n")
      local count = 0
      for c in ("\n" .. block):gmatch("\n  (%S+)") do
        local roff = c:gsub("%-", "\\-") -- big-data is big\-data in roff
        assert.is_truthy(man:find("\n\\fB" .. roff .. "\\fR", 1, true) or man:find("\n.B " .. roff .. "\n", 1, true),
                         "man page: " .. c)
        local listed = " " .. completion:match('local commands="([^"]*)"') .. " "
        assert.is_truthy(listed:find(" " .. c .. " ", 1, true), "completion: " .. c)
        count = count + 1
      end
      assert.are.equal(12, count)
    end)

    it("exits 2 with the help on stderr when given no command", function()
      local out, err, status = run({})
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.matches("^Usage: imagestore", err)
    end)

    it("exits 2 for an unknown command, flag or filter, and a missing argument", function()
      local dir = isulad_store()
      fails(2, 'unknown command "frob" (see imagestore --help)', { "--root", dir, "frob" })
      fails(2, "unknown flag --bogus for images", { "--root", dir, "images", "--bogus" })
      fails(2, "unknown flag --nope", { "--nope", "images" })
      fails(2, "flag --root needs a value", { "--root" })
      fails(2, 'unknown filter "color" (dangling, reference, before, since)',
            { "--root", dir, "images", "--filter", "color=red" })
      fails(2, 'bad --sort "weight" (created, id, repository, size, tag)',
            { "--root", dir, "images", "--sort", "weight" })
      fails(2, "tag needs an image and at least one name", { "--root", dir, "tag", BUSYBOX })
      fails(2, "inspect needs at least one image", { "--root", dir, "inspect" })
      fails(2, "unknown field .Colour in --format (known: ID, FullID, Repository, Tag, Name, "
        .. "Names, Digest, Created, CreatedAt, Size, VirtualSize, ReadOnly, Store)",
            { "--root", dir, "images", "--format", "{{.Colour}}" })
    end)
  end)

  describe("images", function()
    it("lists a store as a table, one row per name, newest first", function()
      local out = ok({ "--root", isulad_store(), "images" })
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(3, #lines)
      assert.matches("^REPOSITORY%s+TAG%s+IMAGE ID%s+CREATED%s+SIZE$", lines[1])
      assert.matches("^imagehub%.isulad%.com/official/busybox%s+latest%s+e4db68de4ff2%s+%d+ years ago%s+2%.02 kB$", lines[2])
      assert.matches("^imagehub%.isulad%.com/official/centos%s+latest%s+39891ff67da9%s+%d+ years ago%s+2%.98 kB$", lines[3])
    end)

    it("reads containers/storage's layout read-only, and leaves it as it was", function()
      local dir = podman_store()
      local before = helpers.tree_hash(dir)
      local out = ok({ "--root", dir, "images", "--format", "{{.FullID}} {{.Repository}} {{.Tag}}" })
      assert.are.equal(table.concat({
        TOOLS .. " quay.io/acme/tools 2.3", HELLO .. " example.com/demo/hello 1.0",
        HELLO .. " localhost/hello latest", "" }, "\n"), out)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("prints IDs once with --quiet, digests with --digests, JSON with --json", function()
      local dir = podman_store()
      assert.are.equal(TOOLS:sub(1, 12) .. "\n" .. HELLO:sub(1, 12) .. "\n", ok({ "--root", dir, "images", "-q" }))
      assert.matches("DIGEST", ok({ "--root", dir, "images", "--digests" }))
      assert.matches("sha256:4da0e808d00fcf504200be476f73c791f93316fd7d707b1a602f2bc8c82d9a9e",
                     ok({ "--root", dir, "images", "--digests" }), 1, true)
      local list = assert(json.decode(ok({ "--root", dir, "--json", "images" })))
      assert.are.equal(2, #list)
      assert.are.equal(TOOLS, list[1].id)
      assert.are.same({ "example.com/demo/hello:1.0", "localhost/hello:latest" }, list[2].names)
      assert.are.equal(1104, list[1].size)
      assert.is_true(list[1].read_only)
    end)

    it("filters by dangling, reference, before and since, and sorts", function()
      local dir = isulad_store()
      assert.are.equal("", ok({ "--root", dir, "images", "-q", "--filter", "dangling=true" }))
      assert.are.equal(BUSYBOX:sub(1, 12) .. "\n",
                       ok({ "--root", dir, "images", "-q", "-f", "reference=*busybox*" }))
      assert.are.equal(CENTOS:sub(1, 12) .. "\n",
                       ok({ "--root", dir, "images", "-q", "--filter", "before=" .. BUSYBOX }))
      assert.are.equal(BUSYBOX:sub(1, 12) .. "\n",
                       ok({ "--root", dir, "images", "-q", "--filter", "since=" .. CENTOS }))
      assert.are.equal(CENTOS:sub(1, 12) .. "\n" .. BUSYBOX:sub(1, 12) .. "\n",
                       ok({ "--root", dir, "images", "-q", "--sort", "id" }))
      ok({ "--root", dir, "untag", BUSYBOX })
      assert.are.equal(BUSYBOX:sub(1, 12) .. "\n",
                       ok({ "--root", dir, "images", "-q", "--filter", "dangling=true" }))
      assert.matches("<none>%s+<none>%s+e4db68de4ff2", ok({ "--root", dir, "images" }))
    end)

    it("escapes control characters of names, metadata and keys", function()
      -- the store refuses C0 controls in names, but a C1 CSI is UTF-8 text
      local dir = helpers.tmpdir() .. "/store"
      do
        local st <close> = assert(imagestore.open(dir))
        helpers.create(st, { id = BUSYBOX, names = { "example.com/evil\u{9b}2J:x" }, metadata = "m\27]0;t\7" })
        assert(st:set_big_data(BUSYBOX, "key\27[2J", "v"))
      end
      local out = ok({ "--root", dir, "images", "--format", "{{.Name}}" })
      assert.are.equal("example.com/evil\\xc2\\x9b2J:x\n", out)
      assert.are.equal("m\\x1b]0;t\\x07\n", ok({ "--root", dir, "inspect", "--format", "{{.Metadata}}", BUSYBOX }))
      assert.matches("key\\x1b[2J", ok({ "--root", dir, "big-data", BUSYBOX }), 1, true)
      for _, args in ipairs({ { "images" }, { "images", "--digests" }, { "big-data", BUSYBOX } }) do
        local text = ok({ "--root", dir, table.unpack(args) })
        assert.is_nil(text:find("[\1-\9\11-\31\127]"), table.concat(args, " "))
        assert.is_nil(text:find("\194[\128-\159]"), table.concat(args, " "))
      end
    end)
  end)

  describe("inspect", function()
    it("shows images as JSON, with big data", function()
      local dir = podman_store()
      local list = assert(json.decode(ok({ "--root", dir, "inspect", "localhost/hello:latest", "quay.io/acme/tools:2.3" })))
      assert.are.equal(2, #list)
      assert.are.equal(HELLO, list[1].id)
      assert.are.equal("a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a", list[1].layer)
      assert.are.equal("sha256:" .. HELLO, list[1].big_data[1].key)
      assert.are.equal(455, list[1].big_data[1].size)
      assert.are.equal(TOOLS, list[2].id)
      assert.are.equal(TOOLS:sub(1, 12) .. "\n", ok({ "--root", dir, "inspect", "-f", "{{.ID}}", "quay.io/acme/tools:2.3" }))
    end)

    it("fails with status 1 for an unknown image", function()
      fails(1, 'image not found: "nope"', { "--root", isulad_store(), "inspect", "nope" })
    end)
  end)

  describe("tag, untag and rm", function()
    it("tags and untags, in both output modes", function()
      local dir = isulad_store()
      assert.are.equal("", ok({ "--root", dir, "tag", "e4db", "example.com/a:1", "example.com/b:2" }))
      local st <close> = assert(imagestore.open(dir, { readonly = true }))
      assert.are.same({ "imagehub.isulad.com/official/busybox:latest", "example.com/a:1", "example.com/b:2" },
                      st:get(BUSYBOX).names)
      local r = assert(json.decode(ok({ "--root", dir, "--json", "untag", BUSYBOX, "example.com/a:1" })))
      assert.are.same({ id = BUSYBOX, removed = { "example.com/a:1" } }, r)
      assert.are.same({ "imagehub.isulad.com/official/busybox:latest", "example.com/b:2" }, st:get(BUSYBOX).names)
    end)

    it("refuses a bad name, an unknown image, and a read-only store", function()
      local dir = isulad_store()
      fails(1, 'invalid name "Bad Name": invalid reference "Bad Name": invalid character \' \' at position 4 in repository name',
            { "--root", dir, "tag", BUSYBOX, "Bad Name" })
      fails(1, 'image not found: "nope"', { "--root", dir, "tag", "nope", "a:1" })
      fails(1, "store is read-only: cannot add_name", { "--root", dir, "--readonly", "tag", BUSYBOX, "a:1" })
      fails(1, "store is read-only: cannot delete", { "--root", dir, "--readonly", "rm", BUSYBOX })
    end)

    it("refuses a missing store for reading, and writing into Podman's", function()
      local dir = helpers.tmpdir()
      fails(1, "store directory does not exist: " .. dir .. "/none", { "--root", dir .. "/none", "images" })
      local podman = podman_store()
      fails(1, podman .. " holds images.json at its top: that is the containers/storage (Podman, CRI-O, "
        .. "Buildah) layout, not an iSulad image store; open it readonly to read it (it is left as it is)",
            { "--root", podman, "tag", HELLO, "a:1" })
    end)

    it("removes by name one name only, by ID only with --force when it has several", function()
      local dir = isulad_store()
      ok({ "--root", dir, "tag", BUSYBOX, "example.com/a:1" })
      fails(1, "image e4db68de4ff2 has 2 names: give one of them, or --force", { "--root", dir, "rm", BUSYBOX })
      assert.are.equal("Untagged: example.com/a:1\n", ok({ "--root", dir, "rm", "example.com/a:1" }))
      assert.are.equal("Deleted: " .. BUSYBOX .. "\n", ok({ "--root", dir, "rm", BUSYBOX }))
      local r = assert(json.decode(ok({ "--root", dir, "--json", "rm", "--force", CENTOS })))
      assert.are.same({ { id = CENTOS, deleted = true } }, r)
      assert.are.equal("", ok({ "--root", dir, "images", "-q" }))
    end)
  end)

  describe("check, repair, big-data, usage, lua", function()
    it("checks (status 1 with findings) and repairs", function()
      local dir = isulad_store()
      -- the fixture's centos config does not match its recorded size and digest
      local out, err, status = run({ "--root", dir, "check" })
      assert.are.equal(1, status)
      assert.are.equal("", err)
      assert.matches("big%-data%-size: .*/" .. CENTOS .. "/", out)
      local findings = assert(json.decode((run({ "--root", dir, "--json", "check" }))))
      assert.is_true(#findings >= 1)
      assert.matches("re%-recorded", ok({ "--root", dir, "repair" }))
      assert.are.equal("no problems found\n", ok({ "--root", dir, "check" }))
      assert.are.equal("nothing to repair\n", ok({ "--root", dir, "repair" }))
    end)

    it("lists big data, and writes one item's bytes as they are", function()
      local dir = podman_store()
      local out = ok({ "--root", dir, "big-data", HELLO })
      assert.matches("^KEY%s+SIZE%s+DIGEST\nsha256:" .. HELLO .. "%s+455%s+sha256:" .. HELLO, out)
      local config = ok({ "--root", dir, "big-data", HELLO, "sha256:" .. HELLO })
      assert.are.equal("sha256:" .. HELLO, imagestore.sha256(config))
      fails(1, nil, { "--root", dir, "big-data", HELLO, "nokey" })
    end)

    it("counts images and sizes", function()
      local u = assert(json.decode(ok({ "--root", podman_store(), "--json", "usage" })))
      assert.are.equal(2, u.images)
      assert.are.equal(1104 + 1137, u.size)
    end)

    it("runs a Lua script with the store open", function()
      local dir = isulad_store()
      local script = helpers.tmpdir() .. "/s.lua"
      helpers.write_file(script, 'assert(store:add_name(arg[1], arg[2]))\n'
        .. 'io.write(#store:images(), " ", arg[0]:match("[^/]+$"), "\\n")\n')
      assert.are.equal("2 s.lua\n", ok({ "--root", dir, "lua", script, BUSYBOX, "example.com/s:1" }))
      assert.are.equal(BUSYBOX, (assert(imagestore.open(dir, { readonly = true })):lookup("example.com/s:1")))
      helpers.write_file(script, 'error("boom", 0)\n')
      fails(1, script .. ": boom", { "--root", dir, "lua", script })
    end)
  end)

  describe("gc", function()
    local function dangling_store()
      local dir = helpers.tmpdir() .. "/store"
      ok({ "--root", dir, "import", helpers.fixtures_dir .. "/oci-layout" })
      ok({ "--root", dir, "untag", TOOLS })
      return dir
    end

    it("needs --yes off a terminal, and prints the plan of a dry run", function()
      local dir = dangling_store()
      local before = helpers.tree_hash(dir)
      fails(2, "gc removes images: give --yes (or --dry-run) when not on a terminal",
            { "--root", dir, "gc", "--dangling" })
      local out = ok({ "--root", dir, "gc", "--dangling", "--dry-run" })
      assert.matches("^IMAGE%s+NAMES%s+SIZE%s+LOADED%s+RULE\n70e6b2b80b73%s+<none>", out)
      assert.matches("\ndry run: nothing removed\n$", out)
      assert.are.equal(before, helpers.tree_hash(dir))
    end)

    it("removes what the rules select with --yes, in both output modes", function()
      local dir = dangling_store()
      assert.matches("Deleted: " .. TOOLS .. "\n$", ok({ "--root", dir, "gc", "--dangling", "--yes" }))
      assert.are.equal(HELLO:sub(1, 12) .. "\n", ok({ "--root", dir, "images", "-q" }))
      local r = assert(json.decode(ok({ "--root", dir, "--json", "gc", "--keep-last", "0", "--yes" })))
      assert.are.equal(HELLO, r.report.removed[1].id)
      assert.are.equal("keep_last", r.plan.images[1].rule)
    end)

    it("refuses bad rules as usage errors", function()
      local dir = dangling_store()
      fails(2, "--high and --low go together", { "--root", dir, "gc", "--high", "1GB", "--dry-run" })
      fails(2, 'bad --high "lots" (bytes, or a size such as 20GB)',
            { "--root", dir, "gc", "--high", "lots", "--low", "1", "--dry-run" })
      local _, err, status = run({ "--root", dir, "gc", "--older-than", "soon", "--dry-run" })
      assert.are.equal(2, status)
      assert.matches("^imagestore: invalid policy: ", err)
    end)
  end)

  describe("both output modes", function()
    it("gives tag, repair, big-data, usage and import as text and as JSON", function()
      local dir = helpers.tmpdir() .. "/store"
      local layout = helpers.fixtures_dir .. "/oci-layout"
      -- import: a line per image, or the reports
      assert.are.equal("added 7d6555ccc876\nadded 70e6b2b80b73\n", ok({ "--root", dir, "import", layout }))
      local reports = assert(json.decode(ok({ "--root", dir, "--json", "import", layout })))
      assert.are.equal(1, #reports)
      assert.are.equal(2, #reports[1].images)
      assert.are.equal("unchanged", reports[1].images[1].status)
      -- tag
      local t = assert(json.decode(ok({ "--root", dir, "--json", "tag", HELLO, "example.com/h:1" })))
      assert.are.same({ id = HELLO, added = { "example.com/h:1" } }, t)
      -- big-data listing
      local items = assert(json.decode(ok({ "--root", dir, "--json", "big-data", HELLO })))
      assert.are.equal("sha256:" .. HELLO, items[1].key)
      assert.are.equal(455, items[1].size)
      -- usage
      local text = ok({ "--root", dir, "usage" })
      assert.matches("^disk_bytes: %d+ %(.-%)\nimages: 2\nsize: %d+ %(.-%)\n$", text)
      local u = assert(json.decode(ok({ "--root", dir, "--json", "usage" })))
      assert.are.equal(2, u.images)
      -- repair of a clean store
      assert.are.same({}, assert(json.decode(ok({ "--root", dir, "--json", "repair" }))))
      assert.are.equal("nothing to repair\n", ok({ "--root", dir, "repair" }))
    end)

    it("fails an import of what is none of the kinds with status 1", function()
      local dir, src = helpers.tmpdir(), helpers.tmpdir()
      local _, err, status = run({ "--root", dir .. "/store", "import", src })
      assert.are.equal(1, status)
      assert.matches("^imagestore: .+\n$", err)
      fails(2, "import needs at least one path", { "--root", dir .. "/store", "import" })
    end)
  end)

  describe("configuration", function()
    it("takes the root from IMAGESTORE_ROOT, and additional stores from the config file", function()
      local dir, podman = helpers.tmpdir() .. "/mine", podman_store()
      ok({ "--root", dir, "lua", "/dev/null" }) -- creates the store
      local conf = helpers.tmpdir() .. "/c.toml"
      helpers.write_file(conf, 'additional_stores = ["' .. podman .. '"]\n')
      local out = ok({ "images", "-q" }, "IMAGESTORE_ROOT=" .. q(dir) .. " IMAGESTORE_CONFIG=" .. q(conf))
      assert.are.equal(TOOLS:sub(1, 12) .. "\n" .. HELLO:sub(1, 12) .. "\n", out)
      helpers.write_file(conf, 'colour = "red"\n')
      fails(1, conf .. ': unknown key "colour"', { "--root", dir, "images" }, "IMAGESTORE_CONFIG=" .. q(conf))
    end)

    it("refuses a config or hooks file that is a FIFO, a directory or too large, without hanging", function()
      local dir = isulad_store()
      assert.are.equal(0, select(3, os.execute("mkfifo " .. q(dir .. "/imagestore.conf"))))
      fails(1, "config file " .. dir .. "/imagestore.conf is not a regular file", { "--root", dir, "images" })
      os.remove(dir .. "/imagestore.conf")
      helpers.write_file(dir .. "/imagestore.conf", "# " .. string.rep("x", 1 << 20) .. "\n")
      fails(1, "config file " .. dir .. "/imagestore.conf is larger than 1048576 bytes", { "--root", dir, "images" })
      os.remove(dir .. "/imagestore.conf")
      assert.are.equal(0, select(3, os.execute("mkdir " .. q(dir .. "/hooks.lua"))))
      fails(1, "hooks file " .. dir .. "/hooks.lua is not a regular file", { "--root", dir, "images" })
      local fifo = helpers.tmpdir() .. "/hooks.fifo"
      assert.are.equal(0, select(3, os.execute("mkfifo " .. q(fifo))))
      fails(1, "hooks file " .. fifo .. " is not a regular file", { "--root", dir, "--hooks", fifo, "images" })
      fails(1, "no hooks file " .. dir .. "/none.lua", { "--root", dir, "--hooks", dir .. "/none.lua", "images" })
    end)

    it("loads hooks from --hooks or <root>/hooks.lua", function()
      local dir = isulad_store()
      helpers.write_file(dir .. "/hooks.lua", [[
        return { name = function(name, use)
          if use == "store" and name:find("forbidden", 1, true) then return nil, "no forbidden names" end
          return name
        end }]])
      fails(1, "no forbidden names", { "--root", dir, "tag", BUSYBOX, "example.com/forbidden:1" })
      ok({ "--root", dir, "tag", BUSYBOX, "example.com/fine:1" })
    end)
  end)
end)
