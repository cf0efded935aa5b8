/*
 * Lua functions as the hooks of a C image store (core/image_store.h,
 * image_store_set_hooks). Used by the binding (lua/imagestore_core.c) and by
 * C programs that embed a store and a Lua state (examples/hook_host.c).
 *
 * The hooks live in a table { name = {fn, ...}, event = {fn, ...} } (a lone
 * function stands for a list of one):
 *   name(name, use)  use is "store" or "lookup". Returns nothing to keep the
 *                    name, a string to replace it, (lookup) a list of
 *                    candidate names, or nil, message to refuse it (EINVAL).
 *                    Each hook sees every name the one before it gave.
 *   event(event)     event = { kind = "create" | "delete" | "names" |
 *                    "big_data" | "loaded", id = ..., ... }; the result is
 *                    ignored.
 * A hook that raises fails the operation with EHOOK and its message; the
 * store is left as it was. Every call into Lua is protected, so no Lua error
 * ever unwinds through the store.
 */
#ifndef IMAGESTORE_LUA_HOOKS_H
#define IMAGESTORE_LUA_HOOKS_H

#include "image_store.h"
#include "lua.h"

typedef struct imagestore_lua_hooks {
    lua_State *L;    /* the thread hooks run in: set it before each store call */
    int self_index;  /* > 0: the table is user value 1 of the userdata at this index */
    int table_ref;   /* otherwise: a reference in the registry of L */
} imagestore_lua_hooks;

/* Fills *out with trampolines that call the Lua hooks h describes (h must
 * outlive the store's use of them); install with image_store_set_hooks(). */
void imagestore_lua_hooks_bind(imagestore_lua_hooks *h, image_store_hooks *out);

#endif
