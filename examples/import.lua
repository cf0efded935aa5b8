-- Import images a host already has: an OCI layout, an oci-archive or
-- docker-archive tarball, a Podman/CRI-O `*-images` directory, or an iSulad
-- image store (the kind is detected).
--
--   lua5.4 examples/import.lua PATH [STORE]      (STORE: ./import-store)
--
-- Prints what was added, named, moved and skipped; exits 1 when the source
-- could not be read or an image was skipped.
local imagestore = require("imagestore")
local import = require("imagestore.import")

local path, dir = arg[1], arg[2] or "./import-store"
if not path then
  io.stderr:write("usage: lua5.4 examples/import.lua PATH [STORE]\n")
  os.exit(2)
end

local st <close> = assert(imagestore.open(dir))
local report, msg, code = import.auto(st, path, {
  progress = function(e)
    if e.kind == "blob" then
      io.stderr:write(("  checked %s %s (%d bytes)\n"):format(e.what, e.digest, e.size))
    end
  end,
})
if not report then
  io.stderr:write(("import: %s (%s)\n"):format(msg, code))
  os.exit(1)
end

print(("%s %s -> %s"):format(report.kind, report.source, dir))
for _, img in ipairs(report.images) do
  print(("%-9s %s  layer %s  %s"):format(img.status, img.id:sub(1, 12),
    img.layer and img.layer:sub(1, 12) or "-", table.concat(img.names, " ")))
end
for _, n in ipairs(report.names) do
  if n.from then print(("moved     %s from %s to %s"):format(n.name, n.from:sub(1, 12), n.id:sub(1, 12))) end
end
for _, s in ipairs(report.skipped) do
  print(("skipped   %s: %s (%s)"):format(s.source, s.message, s.code))
end
os.exit(#report.skipped == 0 and 0 or 1)
