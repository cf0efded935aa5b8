/* JSON for Lua policy code (lua/imagestore_json.c), part of imagestore.core. */
#ifndef IMAGESTORE_JSON_H
#define IMAGESTORE_JSON_H

#include <lua.h>

/* Adds json_decode, json_encode, json_null, json_array and json_object to
 * the table on top of the stack. */
void imagestore_json_register(lua_State *L);

#endif
