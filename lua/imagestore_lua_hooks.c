#include "imagestore_lua_hooks.h"

#include <stdio.h>
#include <string.h>

#include "lauxlib.h"

/* What a protected call gets (as a light userdata) and gives back. */
typedef struct hook_call {
    imagestore_lua_hooks *h;
    image_name_use use;
    const char *name;
    const image_event *event;
    image_hook_result *result;
    int verdict; /* 0, or IMAGE_STORE_EINVAL for a refusal */
} hook_call;

/* Pushes the list of hooks of this kind from the hooks table at index 2 (a
 * table; empty when none). */
static void push_hook_list(lua_State *L, const char *kind)
{
    if (lua_type(L, 2) != LUA_TTABLE) {
        lua_newtable(L);
        return;
    }
    lua_getfield(L, 2, kind);
    if (lua_isfunction(L, -1)) { /* a lone function: a list of one */
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
}

static const char *use_name(image_name_use use)
{
    return use == IMAGE_NAME_STORE ? "store" : "lookup";
}

/* Appends the string at -1 (popped) to the list at idx. */
static void append_to(lua_State *L, int idx)
{
    lua_rawseti(L, idx, (lua_Integer)lua_rawlen(L, idx) + 1);
}

static int run_name_hooks(lua_State *L)
{
    hook_call *c = lua_touserdata(L, 1);
    push_hook_list(L, "name"); /* 3 */
    lua_replace(L, 2);         /* 2: the hooks */
    lua_createtable(L, 1, 0);  /* 3: the names so far */
    lua_pushstring(L, c->name);
    append_to(L, 3);
    lua_Integer hooks = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = 1; i <= hooks; i++) {
        lua_newtable(L); /* 4: the names this hook gives */
        lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
        for (lua_Integer j = 1; j <= n; j++) {
            int top = lua_gettop(L);
            lua_rawgeti(L, 2, i);
            lua_rawgeti(L, 3, j);
            lua_pushstring(L, use_name(c->use));
            lua_call(L, 2, 2);
            if (lua_isnil(L, -2) && !lua_isnoneornil(L, -1)) { /* nil, message: refused */
                image_hook_result_set_message(c->result, luaL_tolstring(L, -1, NULL));
                c->verdict = IMAGE_STORE_EINVAL;
                return 0;
            }
            lua_pop(L, 1);
            if (lua_isnil(L, -1)) {
                lua_rawgeti(L, 3, j); /* kept */
                append_to(L, 4);
            } else if (lua_type(L, -1) == LUA_TSTRING) {
                lua_pushvalue(L, -1);
                append_to(L, 4);
            } else if (lua_type(L, -1) == LUA_TTABLE && c->use == IMAGE_NAME_LOOKUP) {
                lua_Integer k, m = (lua_Integer)lua_rawlen(L, -1);
                for (k = 1; k <= m; k++) {
                    if (lua_rawgeti(L, -1, k) != LUA_TSTRING)
                        return luaL_error(L, "name hook gave a candidate that is a %s, not a string",
                                          luaL_typename(L, -1));
                    append_to(L, 4);
                }
            } else {
                return luaL_error(L, "name hook returned a %s; want nothing, a string%s, or nil "
                                     "and a message",
                                  luaL_typename(L, -1),
                                  c->use == IMAGE_NAME_LOOKUP ? ", a list of names" : "");
            }
            lua_settop(L, top);
        }
        lua_replace(L, 3);
    }
    /* Report a change only: one name equal to the one given means "keep". */
    lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
    if (n == 1) {
        lua_rawgeti(L, 3, 1);
        bool same = strcmp(lua_tostring(L, -1), c->name) == 0;
        lua_pop(L, 1);
        if (same)
            return 0;
    }
    for (lua_Integer j = 1; j <= n; j++) {
        lua_rawgeti(L, 3, j);
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (memchr(s, '\0', len) != NULL)
            return luaL_error(L, "name hook gave a name with a NUL byte");
        if (image_hook_result_add_name(c->result, s) != 0)
            return luaL_error(L, "not enough memory");
        lua_pop(L, 1);
    }
    if (n == 0)
        return luaL_error(L, "name hooks left no name for \"%s\"", c->name);
    return 0;
}

static void set_string_field(lua_State *L, const char *key, const char *value)
{
    if (value == NULL)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

static void set_names_field(lua_State *L, const char *key, const char *const *names, size_t n)
{
    lua_createtable(L, n > 1000000 ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, key);
}

static const char *const event_kinds[] = {"create", "delete", "names", "big_data", "loaded"};

static void push_event(lua_State *L, const image_event *e)
{
    lua_createtable(L, 0, 6);
    set_string_field(L, "kind", event_kinds[e->kind]);
    set_string_field(L, "id", e->id);
    switch (e->kind) {
    case IMAGE_EVENT_CREATE:
        set_names_field(L, "names", e->names, e->names_len);
        set_string_field(L, "layer", e->layer);
        set_string_field(L, "digest", e->digest);
        break;
    case IMAGE_EVENT_DELETE:
        set_names_field(L, "names", e->names, e->names_len);
        break;
    case IMAGE_EVENT_NAMES:
        set_names_field(L, "names", e->names, e->names_len);
        set_names_field(L, "old_names", e->old_names, e->old_names_len);
        break;
    case IMAGE_EVENT_BIG_DATA:
        set_string_field(L, "key", e->key);
        lua_pushinteger(L, (lua_Integer)e->size);
        lua_setfield(L, -2, "size");
        set_string_field(L, "digest", e->digest);
        break;
    case IMAGE_EVENT_LOADED:
        set_string_field(L, "loaded", e->loaded);
        break;
    }
}

static int run_event_hooks(lua_State *L)
{
    hook_call *c = lua_touserdata(L, 1);
    push_hook_list(L, "event"); /* 3 */
    lua_replace(L, 2);          /* 2: the hooks */
    lua_Integer hooks = (lua_Integer)lua_rawlen(L, 2);
    if (hooks == 0)
        return 0;
    push_event(L, c->event); /* 3 */
    for (lua_Integer i = 1; i <= hooks; i++) {
        lua_rawgeti(L, 2, i);
        lua_pushvalue(L, 3);
        lua_call(L, 1, 0);
    }
    return 0;
}

/* Runs fn(c) protected; a raise becomes the result's message and EHOOK. */
static int protected_call(hook_call *c, lua_CFunction fn)
{
    lua_State *L = c->h->L;
    if (L == NULL || !lua_checkstack(L, 8)) {
        image_hook_result_set_message(c->result, "no Lua stack to run the hook on");
        return IMAGE_STORE_EHOOK;
    }
    int top = lua_gettop(L);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, c);
    /* The hooks table, fetched here: the caller's stack is out of reach
     * inside the protected call. Neither push can raise. */
    if (c->h->self_index > 0)
        lua_getiuservalue(L, c->h->self_index, 1);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, c->h->table_ref);
    int status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK) {
        if (lua_type(L, -1) == LUA_TSTRING) {
            image_hook_result_set_message(c->result, lua_tostring(L, -1));
        } else {
            char what[96];
            snprintf(what, sizeof(what), "hook raised a %s value", luaL_typename(L, -1));
            image_hook_result_set_message(c->result, what);
        }
        lua_settop(L, top);
        return IMAGE_STORE_EHOOK;
    }
    lua_settop(L, top);
    return c->verdict;
}

static int name_trampoline(void *data, image_name_use use, const char *name,
                           image_hook_result *result)
{
    hook_call c = {.h = data, .use = use, .name = name, .result = result};
    return protected_call(&c, run_name_hooks);
}

static int event_trampoline(void *data, const image_event *event, image_hook_result *result)
{
    hook_call c = {.h = data, .event = event, .result = result};
    return protected_call(&c, run_event_hooks);
}

void imagestore_lua_hooks_bind(imagestore_lua_hooks *h, image_store_hooks *out)
{
    out->name = name_trampoline;
    out->event = event_trampoline;
    out->data = h;
}
