-- Many processes and hard crashes. A writer killed with SIGKILL at random
-- moments (200 times) loses nothing it acknowledged and leaves nothing
-- half-written; four processes racing for the same names leave each name
-- with the image that took it last, and a store check() finds clean.

local helpers = require("spec.helpers")
local imagestore = require("imagestore")

local spawn = helpers.spawn_lua

-- The state a test can compare: image -> { names = sorted, big = { key = digest } }.
local function state_of(st)
  local out = {}
  for _, img in ipairs(st:images()) do
    local names = {}
    for _, n in ipairs(img.names) do names[#names + 1] = n end
    table.sort(names)
    out[img.id] = { names = names, big = img.big_data_digests }
  end
  return out
end

describe("crash", function()
  local root, dir

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
  end)

  after_each(helpers.cleanup)

  -- Random single operations, each announced ("do") and acknowledged ("ack").
  local child = [[
    local imagestore = require("imagestore")
    local dir, seed = arg[1], tonumber(arg[2])
    math.randomseed(seed)
    local st = assert(imagestore.open(dir))
    io.stdout:setvbuf("line")
    print("pid " .. io.open("/proc/self/stat"):read("l"):match("^(%d+)"))
    local ids, names = {}, {}
    for _, img in ipairs(st:images()) do
      ids[#ids + 1] = img.id
      for _, n in ipairs(img.names) do names[#names + 1] = n end
    end
    local function hex64()
      local t = {}
      for i = 1, 64 do t[i] = string.format("%x", math.random(0, 15)) end
      return table.concat(t)
    end
    for step = 1, 100000 do
      local r = math.random()
      if #ids == 0 or r < 0.35 then
        local id, name = hex64(), "crash/" .. hex64():sub(1, 8) .. ":tag"
        print("do create " .. id .. " " .. name)
        assert(st:create{ id = id, names = { name } })
        ids[#ids + 1] = id
        names[#names + 1] = name
        print("ack create " .. id .. " " .. name)
      elseif r < 0.65 then
        local id = ids[math.random(#ids)]
        local key = math.random() < 0.5 and "manifest" or ("sha256:" .. id)
        local data = string.rep(string.char(math.random(65, 90)), math.random(1, 3000)) .. step
        print("do big " .. id .. " " .. key)
        assert(st:set_big_data(id, key, data))
        print("ack big " .. id .. " " .. key .. " " .. imagestore.sha256(data))
      elseif r < 0.85 and #names > 0 then
        local id, name = ids[math.random(#ids)], names[math.random(#names)]
        local holder = st:lookup(name) or "-"
        print("do name " .. id .. " " .. name .. " " .. holder)
        assert(st:add_name(id, name))
        print("ack name " .. id .. " " .. name .. " " .. holder)
      else
        local i = math.random(#ids)
        local id = ids[i]
        print("do delete " .. id)
        assert(st:delete(id))
        table.remove(ids, i)
        print("ack delete " .. id)
      end
    end
  ]]

  -- Applies an acknowledged operation to the model.
  local function apply(model, op, id, a, b)
    if op == "create" then
      model[id] = { names = { a }, big = {} }
    elseif op == "big" then
      model[id].big[a] = b
    elseif op == "name" then
      local holder = b
      if holder ~= "-" and holder ~= id and model[holder] then
        local kept = {}
        for _, n in ipairs(model[holder].names) do if n ~= a then kept[#kept + 1] = n end end
        model[holder].names = kept
      end
      local have = false
      for _, n in ipairs(model[id].names) do have = have or n == a end
      if not have then table.insert(model[id].names, a) end
      table.sort(model[id].names)
    elseif op == "delete" then
      model[id] = nil
    end
  end

  it("loses no acknowledged operation and shows nothing half-written, over 200 SIGKILLs", function()
    local script = root .. "/child.lua"
    helpers.write_file(script, child)
    local sleep = require("system").sleep
    math.randomseed(os.time())
    local kills = 0
    for round = 1, 200 do
      local model
      do
        local st <close> = assert(imagestore.open(dir))
        model = state_of(st)
      end
      local p = spawn(script, dir, math.random(1, 1e9))
      local pid = assert(p:read("l"):match("^pid (%d+)$"), "child did not start")
      local pending -- the operation under way when the kill came
      local until_kill = math.random(1, 12)
      for line in p:lines() do
        local kind, op, id, a, b = line:match("^(%a+) (%a+) (%x+) ?(%S*) ?(%S*)$")
        if kind == "do" then
          pending = { op = op, id = id, a = a, b = b }
          until_kill = until_kill - 1
          if until_kill == 0 then
            sleep(math.random() * 0.003)
            os.execute("kill -9 " .. pid)
            kills = kills + 1
            break
          end
        elseif kind == "ack" then
          apply(model, op, id, a, b)
          pending = nil
        else
          error("child: " .. line)
        end
      end
      -- what the child wrote before the kill landed: it may have finished the
      -- operation, and begun the next one
      for line in p:lines() do
        local kind, op, id, a, b = line:match("^(%a+) (%a+) (%x+) ?(%S*) ?(%S*)$")
        if kind == "ack" then
          apply(model, op, id, a, b)
          pending = nil
        elseif kind == "do" then
          pending = { op = op, id = id, a = a, b = b }
        end
      end
      p:close()

      local st <close> = assert(imagestore.open(dir))
      assert.are.same({}, st:problems())
      for _, f in ipairs(st:check()) do
        -- a killed write leaves at most temp entries, which are never loaded
        assert.are.equal("temp-file", f.kind, f.path .. ": " .. f.problem)
      end
      local now = state_of(st)
      local touched = {}
      if pending then
        touched[pending.id] = true
        if pending.op == "name" and pending.b ~= "-" then touched[pending.b] = true end
      end
      for id, want in pairs(model) do
        if not touched[id] then
          assert.are.same(want, now[id], "image " .. id .. " after kill " .. round)
          for key, digest in pairs(want.big) do
            assert.are.equal(digest, imagestore.sha256(st:big_data(id, key)))
          end
        end
      end
      for id in pairs(now) do
        assert.is_true(model[id] ~= nil or touched[id] == true, "unknown image " .. id)
      end
    end
    assert.is_true(kills >= 200)
  end)
end)

describe("concurrency", function()
  local root, dir

  before_each(function()
    root = helpers.tmpdir()
    dir = root .. "/store"
  end)

  after_each(helpers.cleanup)

  -- 300 mixed operations racing for a small pool of names; every success is
  -- logged with the change token it was published at (a global order).
  local worker = [[
    local imagestore = require("imagestore")
    local dir, me = arg[1], arg[2]
    math.randomseed(tonumber(me) * 7919 + os.time())
    local st = assert(imagestore.open(dir))
    io.stdout:setvbuf("line")
    local mine = {}
    local pool = {}
    for i = 1, 6 do pool[i] = "race/" .. i .. ":tag" end
    for step = 1, 300 do
      local r = math.random()
      if #mine == 0 or r < 0.2 then
        local name = pool[math.random(#pool)]
        local img, msg, code = st:create{ names = { name } }
        if img then
          mine[#mine + 1] = img.id
          print("claim " .. st:generation() .. " " .. img.id .. " " .. name)
        else
          assert(code == "ENAMEINUSE", msg)
          img = assert(st:create{})
          mine[#mine + 1] = img.id
        end
      elseif r < 0.7 then
        local id, name = mine[math.random(#mine)], pool[math.random(#pool)]
        local ok, msg, code = st:add_name(id, name)
        if ok then
          print("claim " .. st:generation() .. " " .. id .. " " .. name)
        else
          assert(code == "ENOTFOUND", msg) -- deleted by ourselves? never: only our ids
        end
      elseif r < 0.9 then
        local id = mine[math.random(#mine)]
        assert(st:set_big_data(id, "manifest", "from " .. me .. " step " .. step))
        -- anyone's reads see a consistent image
        local any = st:lookup(pool[math.random(#pool)])
        if any then assert(st:get(any)) end
      else
        local i = math.random(#mine)
        assert(st:delete(mine[i]))
        print("delete " .. st:generation() .. " " .. mine[i])
        table.remove(mine, i)
      end
    end
    print("done " .. me)
  ]]

  it("keeps every name with the image that took it last, with four processes racing", function()
    assert(imagestore.open(dir)):close()
    local script = root .. "/worker.lua"
    helpers.write_file(script, worker)
    local procs = {}
    for i = 1, 4 do procs[i] = spawn(script, dir, i) end
    local claims, deletes, done = {}, {}, 0
    for i = 1, 4 do
      for line in procs[i]:lines() do
        local g, id, name = line:match("^claim (%d+) (%x+) (%S+)$")
        if g then
          claims[#claims + 1] = { gen = tonumber(g), id = id, name = name }
        elseif line:match("^delete ") then
          local dg, did = line:match("^delete (%d+) (%x+)$")
          deletes[did] = tonumber(dg)
        elseif line:match("^done ") then
          done = done + 1
        else
          error("worker " .. i .. ": " .. line)
        end
      end
      local ok, how, code = procs[i]:close()
      assert.is_true(ok, "worker " .. i .. " ended with " .. tostring(how) .. " " .. tostring(code))
    end
    assert.are.equal(4, done) -- nobody deadlocked: timeout(1) would have killed them
    local last = {}
    for _, c in ipairs(claims) do
      -- one generation, one write: two claims there can only be the same image
      -- (an add_name of a name it already held writes nothing)
      assert.is_true(last[c.name] == nil or last[c.name].gen ~= c.gen or last[c.name].id == c.id,
        "two images claimed " .. c.name .. " at one generation")
      if last[c.name] == nil or c.gen > last[c.name].gen then last[c.name] = c end
    end
    local st <close> = assert(imagestore.open(dir))
    local holders = {}
    for _, img in ipairs(st:images()) do
      for _, n in ipairs(img.names) do
        assert.is_nil(holders[n], "name " .. n .. " held twice")
        holders[n] = img.id
      end
    end
    for name, c in pairs(last) do
      local gone = deletes[c.id] ~= nil and deletes[c.id] > c.gen
      if gone then
        assert.is_nil(holders[name], name .. " outlived the image that had it")
      else
        assert.are.equal(c.id, holders[name], name .. " should be with " .. c.id)
      end
    end
    assert.are.same({}, st:check())
  end)
end)
