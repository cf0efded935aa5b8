rockspec_format = "3.0"
package = "imagestore"
version = "scm-1"

source = {
   -- No public repository yet: `luarocks make` builds from the working tree.
   url = "git+file://.",
}

description = {
   summary = "Embedded, Lua-scriptable store for container images",
   detailed = [[
A C library (libimagestore) that reads and writes container image stores
(images.json records, names, big data, digests), and the Lua module
"imagestore" built on it.
]],
   license = "MIT",
}

dependencies = {
   "lua >= 5.4, < 5.5",
}

external_dependencies = {
   YAJL = { header = "yajl/yajl_tree.h" },
   OPENSSL = { header = "openssl/evp.h" },
}

build = {
   type = "make",
   -- The Lua module only; `make install` outside LuaRocks also installs the
   -- C library, its header and imagestore.pc.
   build_target = "module",
   build_variables = {
      CC = "$(CC)",
      CFLAGS = "$(CFLAGS)",
      LIBFLAG = "$(LIBFLAG)",
      LUA = "$(LUA)",
      LUA_INCDIR = "$(LUA_INCDIR)",
   },
   install_target = "install-lua",
   install_variables = {
      PREFIX = "$(PREFIX)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      LUA_CMOD_DIR = "$(LIBDIR)",
      LUA_LMOD_DIR = "$(LUADIR)",
   },
}
