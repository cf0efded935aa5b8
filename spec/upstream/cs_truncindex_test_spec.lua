-- Port of containers/storage's pkg/truncindex/truncindex_test.go to the Lua
-- API, at containers/storage 83cf57466529353aced8f1803f2302698e0b5cb7.
-- containers/storage resolves an image's ID prefix through a TruncIndex;
-- here the store's own ID-prefix lookup is the index: Add is create{id=},
-- Get is lookup, Delete is delete, Iterate is images(). Each `it` names the
-- Go test (and its step) it ports.
--
-- The test's IDs have 40 hex characters; ours have 64, so each is padded
-- with zeros (a prefix of the test's ID is a prefix of ours). Its second
-- ID, id[:6] .. "blabla", is not hex: "b1ab1a" takes its place (it shares
-- the first six characters with id and differs at the seventh, as the
-- test needs). The benchmarks (BenchmarkTruncIndex*) are not ported: speed
-- is measured by `make bench`, never by a unit test.

local helpers = require("spec.helpers")
local support = require("spec.upstream.support")

local fails = helpers.fails

local function pad(id) return id .. ("0"):rep(64 - #id) end

local ID = pad("99b36c2c326ccc11e726eee6ee78a0baf166ef96")
local ID2 = pad(ID:sub(1, 6) .. "b1ab1a")

local function not_found(ref) return 'image not found: "' .. ref .. '"' end
local function ambiguous(ref) return 'image reference "' .. ref .. '" is ambiguous: matches 2 images' end

describe("containers/storage truncindex_test.go", function()
  local st

  before_each(function()
    st = support.fresh_store()
  end)

  after_each(function()
    if st then st:close() end
    st = nil
    helpers.cleanup()
  end)

  -- assertIndexGet(index, input, expected, false)
  local function gets(input, want) assert.are.equal(want, st:lookup(input)) end

  -- The test's steps up to the first Add.
  local function with_id()
    assert(st:create{ id = ID })
  end
  local function with_both()
    with_id()
    assert(st:create{ id = ID2 })
  end

  it("TestTruncIndex: Get on an empty index fails", function()
    fails("ENOTFOUND", not_found("foobar"), st:lookup("foobar"))
  end)

  it("TestTruncIndex: an ID with a space cannot be added", function()
    fails("EINVAL", 'invalid image ID "I have a space": want 64 lowercase hex characters',
      st:create{ id = "I have a space" })
  end)

  -- Add("") fails in the index; an image never has the empty ID (create
  -- with id "" makes a random one, as containers/storage's create does).
  it("TestTruncIndex: the empty ID is never an image's", function()
    with_id()
    local img = assert(st:create{ id = "" })
    assert.are_not.equal("", img.id)
    assert.is_truthy(img.id:match("^" .. ("%x"):rep(64) .. "$"))
  end)

  it("TestTruncIndex: Get of an unknown ID, of \"\" and of the ID's second half fails", function()
    with_id()
    fails("ENOTFOUND", not_found("abracadabra"), st:lookup("abracadabra"))
    fails("ENOTFOUND", not_found(""), st:lookup(""))
    fails("ENOTFOUND", not_found(ID:sub(33)), st:lookup(ID:sub(33)))
  end)

  it("TestTruncIndex: the exact ID, its first letter and its first half find it", function()
    with_id()
    gets(ID, ID)
    gets(ID:sub(1, 1), ID)
    gets(ID:sub(1, 32), ID)
  end)

  it("TestTruncIndex: with a second ID, both exact IDs work", function()
    with_both()
    gets(ID, ID)
    gets(ID2, ID2)
  end)

  it("TestTruncIndex: 6 characters or fewer are ambiguous", function()
    with_both()
    for _, n in ipairs({ 6, 4, 1 }) do
      fails("EAMBIGUOUS", ambiguous(ID:sub(1, n)), st:lookup(ID:sub(1, n)))
    end
  end)

  it("TestTruncIndex: 7 characters are not ambiguous", function()
    with_both()
    gets(ID:sub(1, 7), ID)
    gets(ID2:sub(1, 7), ID2)
  end)

  it("TestTruncIndex: deleting an unknown ID or \"\" fails", function()
    with_both()
    fails("ENOTFOUND", not_found("non-existing"), st:delete("non-existing"))
    fails("ENOTFOUND", not_found(""), st:delete(""))
  end)

  it("TestTruncIndex: after deleting the second ID it is not found, by any prefix", function()
    with_both()
    assert.is_true(st:delete(ID2))
    fails("ENOTFOUND", not_found(ID2), st:lookup(ID2))
    fails("ENOTFOUND", not_found(ID2:sub(1, 7)), st:lookup(ID2:sub(1, 7)))
    fails("ENOTFOUND", not_found(ID2:sub(1, 11)), st:lookup(ID2:sub(1, 11)))
  end)

  it("TestTruncIndex: after deleting the second ID the short prefixes find the first again", function()
    with_both()
    assert.is_true(st:delete(ID2))
    for _, n in ipairs({ 6, 4, 1, 7, 15, 64 }) do gets(ID:sub(1, n), ID) end
  end)

  -- assertIndexIterate
  it("TestTruncIndex: iterating gives exactly the IDs added", function()
    local ids = {}
    for _, p in ipairs({ "19", "28", "37", "46" }) do
      ids[#ids + 1] = pad(p .. "b36c2c326ccc11e726eee6ee78a0baf166ef96")
      assert(st:create{ id = ids[#ids] })
    end
    local seen = {}
    for _, img in ipairs(st:images()) do
      assert.is_true(support.has(ids, img.id), "an unknown ID " .. img.id)
      seen[#seen + 1] = img.id
    end
    assert.are.same(ids, seen)
  end)

  -- assertIndexIterateDoNotPanic: an ID deleted while the index is being
  -- iterated. images() is a copy: deleting during the loop leaves it whole.
  it("TestTruncIndex: deleting while iterating", function()
    local a = pad("19b36c2c326ccc11e726eee6ee78a0baf166ef96")
    local b = pad("28b36c2c326ccc11e726eee6ee78a0baf166ef96")
    assert(st:create{ id = a })
    assert(st:create{ id = b })
    local visited = {}
    for _, img in ipairs(st:images()) do
      if img.id == a then assert.is_true(st:delete(a)) end
      visited[#visited + 1] = img.id
    end
    assert.are.same({ a, b }, visited)
    assert.are.same({ b }, helpers.ids(st:images()))
  end)
end)
