/* The Lua modules built into the imagestore command (scripts/embed-lua.lua). */
#ifndef IMAGESTORE_EMBEDDED_LUA_H
#define IMAGESTORE_EMBEDDED_LUA_H

#include <stddef.h>

typedef struct embedded_lua {
    const char *name; /* module name, e.g. "imagestore.cli" */
    const char *text;
    size_t len;
} embedded_lua;

/* Ends with {NULL, NULL, 0}. */
extern const embedded_lua embedded_lua_modules[];

#endif
