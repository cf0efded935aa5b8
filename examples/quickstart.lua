-- Quick start: open (or create) a store, add an image, look it up.
--
--   lua5.4 examples/quickstart.lua [store-dir]
--
-- Safe to run again: the image's ID is the digest of its config, so a second
-- run finds the image already there and reuses it.
local imagestore = require("imagestore")

local dir = arg[1] or "./demo-store"
local st <close> = assert(imagestore.open(dir))
print(("opened %s"):format(tostring(st)))

-- An image's ID is the hex digest of its config; its manifest points at it.
local config = '{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},'
  .. '"rootfs":{"type":"layers","diff_ids":[]}}'
local config_digest = imagestore.sha256(config)
local id = config_digest:sub(#"sha256:" + 1)
local manifest = ([[{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",]]
  .. [["config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},]]
  .. [["layers":[]}]]):format(config_digest, #config)
local layer = imagestore.sha256("demo layer"):sub(#"sha256:" + 1)
local names = { "docker.io/library/busybox:latest", "localhost/demo:1" }

if st:exists(id) then
  print(("image %s is already in the store: reusing it"):format(id))
else
  local img = assert(st:create{
    id = id,
    names = names,
    layer = layer,
    metadata = '{"source":"examples/quickstart.lua"}',
  })
  print(("created image %s (created %s)"):format(img.id, img.created))
end

-- The rest is idempotent, so it runs either way.
assert(st:set_names(id, names))
assert(st:set_big_data(id, "manifest", manifest))
assert(st:set_big_data(id, config_digest, config))
print(("stored big data %q (%d bytes) and %q (%d bytes)"):format(
  "manifest", #manifest, config_digest, #config))

print("images in the store:")
for _, img in ipairs(assert(st:images())) do
  print(("  %s  %s"):format(img.id:sub(1, 12), table.concat(img.names, ", ")))
  print(("    digest %s"):format(img.digest or "(none)"))
  for _, key in ipairs(img.big_data_names) do
    print(("    big data %q: %s bytes, %s"):format(
      key, tostring(img.big_data_sizes[key]), img.big_data_digests[key] or "digest unknown"))
  end
end

local by_name = assert(st:lookup("localhost/demo:1"))
print(("lookup %q -> %s"):format("localhost/demo:1", by_name))
local prefix = id:sub(1, 12)
local by_prefix = assert(st:lookup(prefix))
print(("lookup %q -> %s"):format(prefix, by_prefix))
assert(by_name == id and by_prefix == id)

local img = assert(st:get("docker.io/library/busybox:latest"))
assert(img.digest == imagestore.sha256(manifest))
print(("the image's digest is the manifest's sha256: %s"):format(img.digest))
local found = assert(st:by_digest(img.digest))
print(("by_digest finds %d image(s)"):format(#found))

local ok, msg, code = st:lookup("localhost/missing:1")
print(("lookup of a missing name returns %s, %q, %s"):format(tostring(ok), msg, code))
