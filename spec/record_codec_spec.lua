-- The record codec against hostile and unusual images.json files, seen
-- through the Lua API: deep nesting, \u0000 escapes, records far deeper than
-- yajl_gen's own limit, huge name lists, and messages that echo raw bytes.

local helpers = require("spec.helpers")
local fails, succeeds, create = helpers.fails, helpers.succeeds, helpers.create
local imagestore = require("imagestore")

describe("record codec", function()
  local root, dir, st, good

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
    st = assert(imagestore.open(dir))
    good = create(st, { names = { "good:1" } }).id
    st:close()
    st = nil
  end)

  after_each(function()
    if st then pcall(st.close, st) end
    st = nil
    helpers.cleanup()
  end)

  -- Writes <dir>/<id>/images.json by hand; its path.
  local function plant(id, text)
    helpers.mkdir(dir .. "/" .. id)
    local path = dir .. "/" .. id .. "/images.json"
    helpers.write_file(path, text)
    return path
  end

  local function record(id, rest)
    return '{"id":"' .. id .. '","created":"2020-01-01T00:00:00.000000000Z"' .. rest .. "}"
  end

  -- Opens the store: the planted record is skipped, reported with `message`,
  -- and its file is left as it was.
  local function refused(id, path, text, message)
    st = assert(imagestore.open(dir))
    assert.is_false(st:exists(id))
    assert.are.equal(good, st:lookup("good:1"))
    local problems = st:problems()
    assert.are.equal(1, #problems)
    assert.are.equal(path, problems[1].path)
    assert.is_truthy(problems[1].problem:find(message, 1, true), problems[1].problem)
    succeeds(st:save())
    assert.are.equal(text, helpers.read_file(path))
  end

  it("refuses 0.8 MB of nested arrays without overflowing the stack", function()
    local id = helpers.random_id()
    local text = record(id, ',"x":' .. string.rep("[", 400000) .. string.rep("]", 400000))
    local path = plant(id, text)
    refused(id, path, text, "nested deeper than 1000 levels")
  end)

  it("refuses a string holding \\u0000 instead of cutting it short", function()
    local id = helpers.random_id()
    local text = record(id, ',"names":["evil\\u0000:1"]')
    local path = plant(id, text)
    refused(id, path, text, "a string holds \\u0000, which this library cannot keep")
  end)

  it("keeps \\\\u0000 (an escaped backslash, then text) whole", function()
    local id = helpers.random_id()
    plant(id, record(id, ',"names":["a:1"],"metadata":"x\\\\u0000y"'))
    st = assert(imagestore.open(dir))
    assert.are.same({}, st:problems())
    assert.are.equal("x\\u0000y", st:metadata(id))
  end)

  it("keeps an unknown key 200 levels deep, and writes it back unchanged", function()
    local id = helpers.random_id()
    local deep = string.rep('[{"k":', 100) .. "1.50e3" .. string.rep("}]", 100)
    local path = plant(id, record(id, ',"names":["deep:1"],"x-deep":' .. deep))
    st = assert(imagestore.open(dir))
    assert.are.same({}, st:problems())
    assert.are.equal(id, st:lookup("deep:1"))
    succeeds(st:set_metadata(id, "rewritten"))
    succeeds(st:add_name(id, "deep:2"))
    local text = helpers.read_file(path)
    assert.is_truthy(text:find('"x-deep":' .. deep, 1, true))
    st:close()
    st = assert(imagestore.open(dir))
    assert.are.same({}, st:problems())
    assert.are.equal("rewritten", st:metadata(id))
    assert.are.same({ "deep:1", "deep:2" }, st:get(id).names)
  end)

  local many = 60000

  it("opens a record with " .. many .. " names, duplicates dropped in order", function()
    local id = helpers.random_id()
    local names = {}
    for i = 1, many do
      names[#names + 1] = string.format('"r/app%d:v1"', i)
    end
    for i = 1, 1000 do -- repeats
      names[#names + 1] = string.format('"r/app%d:v1"', i)
    end
    plant(id, record(id, ',"names":[' .. table.concat(names, ",") .. "]"))
    st = assert(imagestore.open(dir))
    assert.are.same({}, st:problems())
    local last = "r/app" .. many .. ":v1"
    local img = st:get(last)
    assert.are.equal(id, img.id)
    assert.are.equal(many, #img.names)
    assert.are.equal("r/app1:v1", img.names[1])
    assert.are.equal(last, img.names[many])
  end)

  describe("messages", function()
    local function missing(name)
      return imagestore.open(root .. "/" .. name, { readonly = true })
    end

    it("escape control characters of what they echo", function()
      fails("ENOTFOUND", "store directory does not exist: " .. root .. "/evil\\n\\x1b[31mred\\r\\t\\x7f",
        missing("evil\n\27[31mred\r\t\127"))
    end)

    it("escape bytes that are not UTF-8, and leave UTF-8 alone", function()
      fails("ENOTFOUND", "store directory does not exist: " .. root .. "/caf\\xe9",
        missing("caf\233"))
      fails("ENOTFOUND", "store directory does not exist: " .. root .. "/caf\195\169",
        missing("caf\195\169"))
    end)
  end)
end)
