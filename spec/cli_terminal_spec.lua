-- The imagestore command on a terminal: it runs under a pseudo-terminal
-- made by script(1) (util-linux, in every Debian), and what the screen shows
-- is rebuilt from the bytes it wrote (carriage returns, line clears).

local helpers = require("spec.helpers")
local q = helpers.shell_quote

local ROOT = os.getenv("IMAGESTORE_ROOT") or "."
local CLI = os.getenv("IMAGESTORE_CLI") or (ROOT .. "/build/bin/imagestore")
local FIXTURES = helpers.fixtures_dir

-- Runs the command on a pseudo-terminal, typing input; the bytes the
-- terminal received and the exit status.
local function on_terminal(args, input)
  local dir = helpers.tmpdir()
  local cmd = { q(CLI) }
  for _, a in ipairs(args) do cmd[#cmd + 1] = q(a) end
  local inner = table.concat(cmd, " ")
  local out = dir .. "/out"
  -- script -e: its status is the command's; -q: no banner; the typed input
  -- comes through script's stdin
  local status = select(3, os.execute(("printf %%s %s | script -qec %s /dev/null > %s 2>&1")
    :format(q(input or ""), q(inner), q(out))))
  return helpers.read_file(out), status
end

-- The screen the bytes leave: lines, each as the last writes left it.
local function screen(bytes)
  local lines, row, col = { {} }, 1, 1
  local i = 1
  while i <= #bytes do
    local c = bytes:sub(i, i)
    if c == "\r" then
      col = 1
    elseif c == "\n" then
      row, col = row + 1, 1
      lines[row] = lines[row] or {}
    elseif c == "\27" then
      local seq = bytes:match("^%[[%d;]*%a", i + 1)
      assert(seq, "an escape sequence this screen does not know at byte " .. i)
      if seq == "[K" then
        for k = col, #lines[row] do lines[row][k] = nil end
      else
        error("unexpected escape sequence ESC" .. seq)
      end
      i = i + #seq
    else
      lines[row][col] = c
      col = col + 1
    end
    i = i + 1
  end
  local text = {}
  for r = 1, #lines do text[r] = table.concat(lines[r]) end
  while #text > 0 and text[#text] == "" do text[#text] = nil end
  return text
end

describe("the imagestore command on a terminal", function()
  after_each(helpers.cleanup)

  it("shows import progress on one line that ends with the totals", function()
    local store = helpers.tmpdir() .. "/store"
    local layout = FIXTURES .. "/oci-layout"
    local bytes, status = on_terminal({ "--root", store, "import", layout })
    assert.are.equal(0, status, bytes)
    -- the line was rewritten in place, more than once
    local _, rewrites = bytes:gsub("\r\27%[K", "")
    assert.is_true(rewrites >= 2, bytes)
    assert.are.same({ layout .. ": 2 images, 4 blobs, 1.56 kB" }, screen(bytes))
  end)

  -- A store with one dangling image (70e6…) and one named image.
  local function store_with_dangling()
    local store = helpers.tmpdir() .. "/store"
    local _, status = on_terminal({ "--root", store, "import", FIXTURES .. "/oci-layout" })
    assert.are.equal(0, status)
    _, status = on_terminal({ "--root", store, "untag", "70e6" })
    assert.are.equal(0, status)
    return store
  end

  it("asks before gc deletes, and a no leaves the store as it was", function()
    local store = store_with_dangling()
    local before = helpers.tree_hash(store)
    local bytes, status = on_terminal({ "--root", store, "gc", "--dangling" }, "n\n")
    assert.are.equal(0, status, bytes)
    local shown = screen(bytes)
    -- the terminal echoes the typed answer where the prompt waits for it
    assert.are.equal("Remove 1 image (1.1 kB)? [y/N] nothing removed", shown[#shown])
    assert.matches("^70e6b2b80b73%s+<none>%s+1%.1 kB%s+%S+%s+dangling$", shown[#shown - 2])
    assert.are.equal(before, helpers.tree_hash(store))
  end)

  it("deletes after a yes, and without asking with --yes", function()
    local store = store_with_dangling()
    local bytes, status = on_terminal({ "--root", store, "gc", "--dangling" }, "y\n")
    assert.are.equal(0, status, bytes)
    local shown = screen(bytes)
    -- (the answer was typed, and echoed, before the prompt was written)
    assert.are.equal("Remove 1 image (1.1 kB)? [y/N] Deleted: "
      .. "70e6b2b80b73b8271aa5c7ed90f72747cf853d6b3b9edd4880a055c8d249af37", shown[#shown])
    bytes, status = on_terminal({ "--root", store, "gc", "--dangling", "--yes" })
    assert.are.equal(0, status, bytes)
    assert.is_nil(bytes:find("[y/N]", 1, true))
    assert.are.equal("0 image(s) to remove, 0 B", screen(bytes)[2])
  end)

  it("writes one line per image, and no progress, when stderr is not a terminal", function()
    local store = helpers.tmpdir() .. "/store"
    local dir = helpers.tmpdir()
    local status = select(3, os.execute(("%s --root %s import %s > %s 2> %s"):format(
      q(CLI), q(store), q(FIXTURES .. "/oci-layout"), q(dir .. "/out"), q(dir .. "/err"))))
    assert.are.equal(0, status)
    assert.are.equal("", helpers.read_file(dir .. "/err"))
    assert.are.equal("added 7d6555ccc876\nadded 70e6b2b80b73\n", helpers.read_file(dir .. "/out"))
  end)
end)
