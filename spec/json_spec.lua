-- imagestore.json: JSON for Lua policy code, on the core's yajl.

local helpers = require("spec.helpers")
local fails = helpers.fails
local json = require("imagestore.json")

local raised = helpers.raised

describe("imagestore.json", function()
  describe("module", function()
    it("creates no globals when required", function()
      assert.are.same({}, helpers.globals_added("imagestore.json"))
    end)

    it("exports exactly the documented names", function()
      local names = {}
      for k in pairs(json) do names[#names + 1] = k end
      table.sort(names)
      assert.are.same({ "array", "array_mt", "decode", "encode", "null", "object", "object_mt" }, names)
    end)
  end)

  describe("decode", function()
    it("reads every kind of value", function()
      local v = assert(json.decode('{"s":"x","i":-3,"f":2.5,"t":true,"F":false,"n":null,"a":[1,"2"],"o":{"k":[]}}'))
      assert.are.equal("x", v.s)
      assert.are.equal(-3, v.i)
      assert.are.equal("integer", math.type(v.i))
      assert.are.equal(2.5, v.f)
      assert.is_true(v.t)
      assert.is_false(v.F)
      assert.are.equal(json.null, v.n)
      assert.are.equal(1, v.a[1])
      assert.are.equal("2", v.a[2])
      assert.are.equal(0, #v.o.k)
    end)

    it("reads a bare scalar as the whole text", function()
      assert.are.equal(42, json.decode("42"))
      assert.are.equal("hi", json.decode(' "hi" '))
      assert.are.equal(json.null, json.decode("null"))
      assert.is_false(json.decode("false"))
    end)

    it("keeps integers that fit as integers, and makes floats of the rest", function()
      assert.are.equal("integer", math.type(json.decode("9223372036854775807")))
      assert.are.equal("integer", math.type(json.decode("-9223372036854775808")))
      assert.are.equal("float", math.type(json.decode("9223372036854775808")))
      assert.are.equal("float", math.type(json.decode("1.0")))
      assert.are.equal(100.0, json.decode("1e2"))
      local long = "1" .. string.rep("0", 100)
      assert.are.equal(1e100, json.decode(long))
    end)

    it("keeps object keys as strings, even when they look like numbers", function()
      local v = json.decode('{"1":"a","2":"b"}')
      assert.are.equal("a", v["1"])
      assert.is_nil(v[1])
    end)

    it("reads escapes, including \\u0000, into the bytes they stand for", function()
      assert.are.equal("a\0b\n\"\\/\u{e9}\u{1F433}", json.decode('"a\\u0000b\\n\\"\\\\\\/\\u00e9\\ud83d\\udc33"'))
    end)

    it("marks arrays and objects, so that empty ones keep their kind", function()
      local v = json.decode('{"a":[],"o":{}}')
      assert.are.equal(json.array_mt, getmetatable(v.a))
      assert.are.equal(json.object_mt, getmetatable(v.o))
      assert.are.equal(json.object_mt, getmetatable(v))
      assert.are.equal('{"a":[],"o":{}}', json.encode(v))
    end)

    it("lets the last of duplicate keys win", function()
      assert.are.equal(2, json.decode('{"k":1,"k":2}').k)
    end)

    local INVALID = {
      { "", "invalid JSON at byte 0: parse error: premature EOF" },
      { "[1,", "invalid JSON at byte 3: parse error: premature EOF" },
      { "{} x", "invalid JSON at byte 4: parse error: trailing garbage" },
      { "{}{}", "invalid JSON at byte 3: parse error: trailing garbage" },
      { "// c\n{}", "invalid JSON at byte 0: lexical error: probable comment found in input text, comments are not enabled." },
      { '"\255"', "invalid JSON at byte 2: lexical error: invalid bytes in UTF8 string." },
      { "{a:1}", "invalid JSON at byte 2: lexical error: invalid char in json text." },
      { "[01]", "invalid JSON at byte 3: parse error: after array element, I expect ',' or ']'" },
      { "[-]", "invalid JSON at byte 2: lexical error: malformed number, a digit is required after the minus sign." },
      { "nul", "invalid JSON at byte 3: lexical error: invalid string in json text." },
    }
    for _, case in ipairs(INVALID) do
      -- (bytes outside printable ASCII spelled out: a case name must be text)
      local shown = case[1]:gsub("[^\32-\126]", function(c) return ("\\%d"):format(c:byte()) end)
      it(("refuses %q with the parser's reason"):format(shown), function()
        fails("EINVAL", case[2], json.decode(case[1]))
      end)
    end

    it("refuses text nested deeper than max_depth, 1000 by default", function()
      local deep = string.rep("[", 1000) .. string.rep("]", 1000)
      assert.is_table(json.decode(deep))
      fails("EINVAL", "invalid JSON: nested deeper than 1000 levels",
            json.decode("[" .. deep .. "]"))
      fails("EINVAL", "invalid JSON: nested deeper than 2 levels",
            json.decode('{"a":{"b":{}}}', { max_depth = 2 }))
      assert.is_table(json.decode('{"a":{}}', { max_depth = 2 }))
    end)

    it("refuses a million unclosed brackets without a crash", function()
      local ok, msg, code = json.decode(string.rep("[", 1000000))
      assert.is_nil(ok)
      assert.are.equal("EINVAL", code)
      assert.are.equal("invalid JSON: nested deeper than 1000 levels", msg)
    end)

    it("reads a large array whole", function()
      local parts = {}
      for i = 1, 100000 do parts[i] = ('{"id":%d,"name":"n%d"}'):format(i, i) end
      local v = assert(json.decode("[" .. table.concat(parts, ",") .. "]"))
      assert.are.equal(100000, #v)
      assert.are.equal("n99999", v[99999].name)
    end)

    it("raises for a wrong argument", function()
      assert.are.equal("bad argument #1 to 'decode' (string expected, got nil)", raised(json.decode, nil))
      assert.are.equal("bad argument #2 (table expected, got number)", raised(json.decode, "1", 5))
      assert.are.equal("unknown option 'depth'", raised(json.decode, "1", { depth = 3 }))
      assert.are.equal("bad argument #2 to 'decode' (max_depth must be 1..100000)",
                       raised(json.decode, "1", { max_depth = 0 }))
    end)
  end)

  describe("encode", function()
    it("writes objects with their keys sorted, arrays in order", function()
      assert.are.equal('{"a":1,"b":[true,false,"x"],"c":{"d":null}}',
                       json.encode({ c = { d = json.null }, a = 1, b = { true, false, "x" } }))
    end)

    it("gives the same text for the same table, whatever its insertion order", function()
      local a, b = {}, {}
      for i = 1, 50 do a["k" .. i] = i end
      for i = 50, 1, -1 do b["k" .. i] = i end
      assert.are.equal(json.encode(a), json.encode(b))
    end)

    it("writes an unmarked empty table as an object, and marked ones as marked", function()
      assert.are.equal("{}", json.encode({}))
      assert.are.equal("[]", json.encode(json.array()))
      assert.are.equal("{}", json.encode(json.object()))
      fails("EINVAL", "cannot encode a table key of type number (object keys are strings)",
            json.encode(json.object({ [1] = "a" })))
    end)

    it("writes a table with holes or other keys as an object, and refuses non-string keys", function()
      fails("EINVAL", "cannot encode a table key of type number (object keys are strings)",
            json.encode({ [1] = "a", [3] = "c" }))
      fails("EINVAL", "cannot encode a table key of type boolean (object keys are strings)",
            json.encode({ [true] = 1 }))
    end)

    it("writes floats so that they read back as the same floats", function()
      for _, x in ipairs({ 0.1, 1 / 3, 1e300, -2.5e-300, 2 ^ 63, 1.0, -0.0 }) do
        local text = json.encode(x)
        local back = json.decode(text)
        assert.are.equal("float", math.type(back), text)
        assert.are.equal(x, back, text)
      end
      assert.are.equal("0.1", json.encode(0.1))
      assert.are.equal("1.0", json.encode(1.0))
      assert.are.equal("1e+300", json.encode(1e300))
    end)

    it("returns the text alone, so that its result can be passed on", function()
      assert.are.equal(1, select("#", json.encode({ 1 })))
      assert.are.equal(1, select("#", json.encode({ 1 }, { indent = true })))
      assert.are.equal(1, select("#", json.decode("[1]")))
      assert.are.equal(1, select("#", json.decode("null")))
    end)

    it("round-trips what it decodes", function()
      local text = '{"a":[1,2.5,"x",null,true,{}],"b":{"c":[]},"i":-3}'
      assert.are.equal(text, json.encode(json.decode(text)))
    end)

    it("indents when asked, with empty containers on one line", function()
      assert.are.equal('{\n  "a": [\n    1\n  ],\n  "e": [],\n  "o": {}\n}',
                       json.encode({ a = { 1 }, e = json.array(), o = {} }, { indent = true }))
    end)

    local UNENCODABLE = {
      { "a function", print, "cannot encode a value of type function" },
      { "NaN", 0 / 0, "cannot encode NaN or infinity" },
      { "infinity", math.huge, "cannot encode NaN or infinity" },
      { "a string that is not UTF-8", "caf\233", "cannot encode a string that is not UTF-8" },
      { "a key that is not UTF-8", { ["\255"] = 1 }, "cannot encode a string that is not UTF-8" },
      { "a coroutine in an array", { coroutine.create(print) }, "cannot encode a value of type thread" },
    }
    for _, case in ipairs(UNENCODABLE) do
      it("refuses " .. case[1], function()
        fails("EINVAL", case[3], json.encode(case[2]))
      end)
    end

    it("refuses a cycle, and nesting more than 127 levels deep", function()
      local t = {}
      t.self = t
      local message = "cannot encode a value nested more than 127 levels deep (a cycle?)"
      fails("EINVAL", message, json.encode(t))
      local deep = json.array()
      for _ = 2, 128 do deep = { deep } end -- 128 levels
      fails("EINVAL", message, json.encode(deep))
      local ok = json.array()
      for _ = 2, 127 do ok = { ok } end
      assert.are.equal(string.rep("[", 127) .. string.rep("]", 127), json.encode(ok))
    end)

    it("raises for a wrong argument", function()
      assert.are.equal("null", json.encode(nil))
      assert.are.equal("unknown option 'pretty'", raised(json.encode, 1, { pretty = true }))
      assert.are.equal("bad argument #2 to 'encode' (boolean expected, got string)",
                       raised(json.encode, 1, { indent = "yes" }))
      assert.are.equal("bad argument #1 (table expected, got string)", raised(json.array, "x"))
    end)
  end)
end)
