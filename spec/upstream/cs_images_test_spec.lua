-- Port of containers/storage's images_test.go to the Lua API, at
-- containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7. Each `it`
-- names the Go test it ports (spec/upstream/README.md lists every case).
--
-- addTestImage(t, store, id, names) creates the image without names, with
-- the digest digest.FromString(""), then sets its names (updateNames with
-- setNames). The Go tests name images "first" and "second"; ours are the
-- sha256 of those words (IDs are 64 hex characters here).

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

local EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
local FIRST, SECOND = support.id_for("first"), support.id_for("second")

describe("containers/storage images_test.go", function()
  local st

  local function add_test_image(id, names)
    assert(st:create{ id = id, created = os.time(), digest = EMPTY_DIGEST })
    assert(st:set_names(id, names))
  end

  before_each(function()
    st = support.fresh_store()
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  -- TestAddNameToHistorySuccess: addNameToHistory("first") twice, then
  -- "second": two entries. Here a name reaches the history through the
  -- names calls.
  it("TestAddNameToHistorySuccess: a name given twice is in the history once", function()
    local id = assert(st:create{}).id
    assert(st:set_names(id, { "first" }))
    assert(st:set_names(id, { "first" }))
    assert(st:set_names(id, { "second" }))
    assert.are.equal(2, #st:get(id).names_history)
  end)

  describe("TestHistoryNames", function()
    -- The test's steps, up to step n.
    local function steps(n)
      add_test_image(FIRST, { "1", "2" })
      add_test_image(SECOND, { "2", "3" })
      if n >= 2 then assert(st:set_names(FIRST, { "1", "2", "3", "4" })) end
    end

    it("TestHistoryNames: names {1,2}, then {2,3} on the second image: histories {2,1} and {3,2}", function()
      steps(1)
      local first = st:get(FIRST)
      assert.are.same({ "1" }, first.names)
      assert.are.same({ "2", "1" }, first.names_history)
      local second = st:get(SECOND)
      assert.are.same({ "2", "3" }, second.names)
      assert.are.same({ "3", "2" }, second.names_history)
    end)

    it("TestHistoryNames: names {1,2,3,4}: history {4,3,2,1}; the image that lost 3 keeps {3,2}", function()
      steps(2)
      assert.are.same({ "4", "3", "2", "1" }, st:get(FIRST).names_history)
      local second = st:get(SECOND)
      assert.are.same({}, second.names)
      assert.are.same({ "3", "2" }, second.names_history)
    end)

    it("TestHistoryNames: adding 5: history {4,3,2,1,5}", function()
      steps(2)
      assert(st:add_name(FIRST, "5"))
      assert.are.same({ "4", "3", "2", "1", "5" }, st:get(FIRST).names_history)
    end)

    it("TestHistoryNames: removing 5 again: the history still holds it, {4,3,2,1,5}", function()
      steps(2)
      assert(st:add_name(FIRST, "5"))
      assert(st:remove_name(FIRST, "5"))
      assert.are.same({ "4", "3", "2", "1", "5" }, st:get(FIRST).names_history)
    end)
  end)
end)
