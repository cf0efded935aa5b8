/*
 * JSON for Lua policy code, on the core's JSON library (yajl): the
 * functions behind require("imagestore.json") (lua/imagestore/json.lua).
 *
 *   json_decode(text [, max_depth]) --> value | nil, message, "EINVAL"
 *   json_encode(value [, indent]) --> text | nil, message, "EINVAL"
 *   json_null                           the value of JSON null
 *
 * Decoded arrays and objects carry the metatables json_array / json_object
 * (upvalues here, shared with json.lua), so that an empty one encodes back
 * as it was read. Text must be UTF-8, both ways.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl_gen.h>
#include <yajl_parse.h>

#include <lauxlib.h>
#include <lua.h>

#include "imagestore_json.h"

#define JSON_PARSER_MT "imagestore.json.parser"
#define JSON_GEN_MT "imagestore.json.gen"
#define JSON_DEFAULT_DEPTH 1000
/* yajl's generator nests at most this deep (YAJL_MAX_DEPTH - 1, yajl_gen.c) */
#define YAJL_GEN_DEPTH "127"

/* Upvalues of both functions. */
enum { UV_NULL = 1, UV_ARRAY_MT, UV_OBJECT_MT };

/* A yajl handle owned by a userdata, freed by __gc or __close: a Lua error
 * (out of memory) in a callback must not leak it. */
typedef struct parser_box {
    yajl_handle h;
} parser_box;

typedef struct gen_box {
    yajl_gen g;
} gen_box;

/* ---------------------------------------------------------------- decode */

typedef struct decoder {
    lua_State *L;
    int depth, max_depth;
    bool too_deep;
} decoder;

/* The value on top of the stack goes into the container below it: appended
 * to an array (its length is kept just under it), or set under the key. */
static int add_value(decoder *d)
{
    lua_State *L = d->L;
    int top = lua_gettop(L);
    if (top < 3 || d->depth == 0)
        return 1; /* the top-level value: stays on the stack */
    if (lua_type(L, top - 1) == LUA_TSTRING) { /* object: container, key, value */
        lua_rawset(L, top - 2);
        return 1;
    }
    lua_Integer n = lua_tointeger(L, top - 1) + 1; /* array: container, length, value */
    lua_rawseti(L, top - 2, n);
    lua_pushinteger(L, n);
    lua_replace(L, top - 1);
    return 1;
}

static int on_null(void *ctx)
{
    decoder *d = ctx;
    lua_pushvalue(d->L, lua_upvalueindex(UV_NULL));
    return add_value(d);
}

static int on_boolean(void *ctx, int b)
{
    decoder *d = ctx;
    lua_pushboolean(d->L, b);
    return add_value(d);
}

/* Integers that fit stay integers; others become floats, as Lua reads them. */
static int on_number(void *ctx, const char *s, size_t len)
{
    decoder *d = ctx;
    char buf[64];
    if (len >= sizeof(buf)) { /* long digit strings: as a float */
        luaL_Buffer b;
        luaL_buffinit(d->L, &b);
        luaL_addlstring(&b, s, len);
        luaL_pushresult(&b);
        lua_Number v = lua_tonumber(d->L, -1);
        lua_pop(d->L, 1);
        lua_pushnumber(d->L, v);
        return add_value(d);
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (lua_stringtonumber(d->L, buf) == 0)
        return 0; /* yajl checked the syntax: not reached */
    return add_value(d);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    decoder *d = ctx;
    lua_pushlstring(d->L, (const char *)s, len);
    return add_value(d);
}

static int open_container(decoder *d, int mt)
{
    if (d->depth >= d->max_depth) {
        d->too_deep = true;
        return 0;
    }
    luaL_checkstack(d->L, 4, "JSON nested too deeply");
    d->depth++;
    lua_newtable(d->L);
    lua_pushvalue(d->L, lua_upvalueindex(mt));
    lua_setmetatable(d->L, -2);
    return 1;
}

static int on_start_map(void *ctx)
{
    decoder *d = ctx;
    return open_container(d, UV_OBJECT_MT);
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    decoder *d = ctx;
    lua_pushlstring(d->L, (const char *)key, len);
    return 1;
}

static int close_container(decoder *d)
{
    d->depth--;
    return add_value(d);
}

static int on_end_map(void *ctx)
{
    return close_container(ctx);
}

static int on_start_array(void *ctx)
{
    decoder *d = ctx;
    if (!open_container(d, UV_ARRAY_MT))
        return 0;
    lua_pushinteger(d->L, 0); /* its length so far */
    return 1;
}

static int on_end_array(void *ctx)
{
    decoder *d = ctx;
    lua_pop(d->L, 1); /* the length */
    return close_container(d);
}

static const yajl_callbacks decode_callbacks = {
    on_null, on_boolean, NULL, NULL, on_number, on_string,
    on_start_map, on_map_key, on_end_map, on_start_array, on_end_array,
};

static int parser_gc(lua_State *L)
{
    parser_box *p = luaL_checkudata(L, 1, JSON_PARSER_MT);
    if (p->h != NULL) {
        yajl_free(p->h);
        p->h = NULL;
    }
    return 0;
}

/* nil, message, "EINVAL" */
static int fail(lua_State *L, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    lua_pushliteral(L, "EINVAL");
    return 3;
}

static int max_depth_arg(lua_State *L, int idx)
{
    lua_Integer depth = luaL_optinteger(L, idx, JSON_DEFAULT_DEPTH);
    luaL_argcheck(L, depth >= 1 && depth <= 100000, idx, "max_depth must be 1..100000");
    return (int)depth;
}

static int json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    decoder d = {L, 0, max_depth_arg(L, 2), false};
    lua_settop(L, 1);

    parser_box *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->h = NULL;
    luaL_setmetatable(L, JSON_PARSER_MT);
    lua_toclose(L, 2);
    if ((p->h = yajl_alloc(&decode_callbacks, NULL, &d)) == NULL)
        return luaL_error(L, "out of memory");
    /* strict JSON: no comments, UTF-8 checked, one value, nothing after it */
    yajl_status st = yajl_parse(p->h, (const unsigned char *)text, len);
    size_t at = len; /* where it failed: within the text, or at its end */
    if (st == yajl_status_ok)
        st = yajl_complete_parse(p->h);
    else
        at = yajl_get_bytes_consumed(p->h);
    if (st != yajl_status_ok) {
        char msg[256];
        if (d.too_deep) {
            snprintf(msg, sizeof msg, "invalid JSON: nested deeper than %d levels", d.max_depth);
        } else {
            unsigned char *why = yajl_get_error(p->h, 0, NULL, 0);
            int n = snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s", at,
                             why != NULL ? (const char *)why : "parse error");
            while (n > 0 && (size_t)n < sizeof msg && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = '\0'; /* yajl ends its messages with a newline */
            if (why != NULL)
                yajl_free_error(p->h, why);
        }
        lua_settop(L, 2);
        lua_closeslot(L, 2);
        return fail(L, msg);
    }
    /* stack: text, parser, value */
    lua_replace(L, 1);
    lua_closeslot(L, 2);
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- encode */

typedef struct encoder {
    lua_State *L;
    yajl_gen g;
    char why[200];
} encoder;

static int encode_value(encoder *e, int idx);

static bool encode_fail(encoder *e, const char *fmt, const char *what)
{
    if (e->why[0] == '\0')
        snprintf(e->why, sizeof e->why, fmt, what);
    return false;
}

static bool gen_ok(encoder *e, yajl_gen_status st)
{
    switch (st) {
    case yajl_gen_status_ok: return true;
    case yajl_gen_invalid_string: return encode_fail(e, "cannot encode %s", "a string that is not UTF-8");
    case yajl_gen_invalid_number: return encode_fail(e, "cannot encode %s", "NaN or infinity");
    case yajl_max_depth_exceeded:
        return encode_fail(e, "cannot encode a value nested more than %s levels deep (a cycle?)",
                           YAJL_GEN_DEPTH);
    default: return encode_fail(e, "cannot encode the value (%s)", "JSON generator error");
    }
}

/* Whether the table at idx is a sequence 1..n with nothing else; n in *n. */
static bool is_sequence(lua_State *L, int idx, lua_Integer *n)
{
    lua_Integer count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1) {
            lua_pop(L, 1);
            return false;
        }
        if (k > max)
            max = k;
        count++;
    }
    *n = count;
    return count > 0 && max == count;
}

/* An object key, borrowed from the table being encoded. */
typedef struct key_ref {
    const char *s;
    size_t len;
} key_ref;

static int compare_keys(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static bool encode_array(encoder *e, int idx, lua_Integer n)
{
    if (!gen_ok(e, yajl_gen_array_open(e->g)))
        return false;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(e->L, idx, i);
        bool ok = encode_value(e, lua_gettop(e->L));
        lua_pop(e->L, 1);
        if (!ok)
            return false;
    }
    return gen_ok(e, yajl_gen_array_close(e->g));
}

/* An object, keys sorted by their bytes (the same table, the same text). */
static bool encode_object(encoder *e, int idx)
{
    lua_State *L = e->L;
    size_t n = 0, cap = 0;
    key_ref *keys = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            free(keys);
            encode_fail(e, "cannot encode a table key of type %s (object keys are strings)",
                        luaL_typename(L, -1));
            lua_pop(L, 1);
            return false;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            key_ref *grown = realloc(keys, ncap * sizeof *keys);
            if (grown == NULL) {
                free(keys);
                lua_pop(L, 1);
                return encode_fail(e, "cannot encode the value (%s)", "out of memory");
            }
            keys = grown;
            cap = ncap;
        }
        /* the key string stays alive: the table holds it */
        keys[n].s = lua_tolstring(L, -1, &keys[n].len);
        n++;
    }
    if (n > 1)
        qsort(keys, n, sizeof *keys, compare_keys);
    bool ok = gen_ok(e, yajl_gen_map_open(e->g));
    for (size_t i = 0; ok && i < n; i++) {
        ok = gen_ok(e, yajl_gen_string(e->g, (const unsigned char *)keys[i].s, keys[i].len));
        if (ok) {
            lua_pushlstring(L, keys[i].s, keys[i].len);
            lua_rawget(L, idx);
            ok = encode_value(e, lua_gettop(L));
            lua_pop(L, 1);
        }
    }
    free(keys);
    return ok && gen_ok(e, yajl_gen_map_close(e->g));
}

static bool has_metatable(lua_State *L, int idx, int uv)
{
    if (!lua_getmetatable(L, idx))
        return false;
    bool same = lua_rawequal(L, -1, lua_upvalueindex(uv));
    lua_pop(L, 1);
    return same;
}

static bool encode_table(encoder *e, int idx)
{
    lua_State *L = e->L;
    luaL_checkstack(L, 6, "JSON nested too deeply");
    lua_Integer n = 0;
    if (has_metatable(L, idx, UV_ARRAY_MT))
        return encode_array(e, idx, (lua_Integer)lua_rawlen(L, idx));
    if (has_metatable(L, idx, UV_OBJECT_MT) || !is_sequence(L, idx, &n))
        return encode_object(e, idx);
    return encode_array(e, idx, n);
}

static int encode_value(encoder *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return gen_ok(e, yajl_gen_null(e->g));
    case LUA_TBOOLEAN: return gen_ok(e, yajl_gen_bool(e->g, lua_toboolean(L, idx)));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return gen_ok(e, yajl_gen_integer(e->g, (long long)lua_tointeger(L, idx)));
        else {
            lua_Number v = lua_tonumber(L, idx);
            char buf[64];
            if (!isfinite(v))
                return encode_fail(e, "cannot encode %s", "NaN or infinity");
            int len = 0;
            for (int digits = 15; digits <= 17; digits++) { /* the shortest that reads back */
                len = snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
                if (strtod(buf, NULL) == (double)v)
                    break;
            }
            if (strspn(buf, "-0123456789") == (size_t)len && len + 2 < (int)sizeof buf) {
                memcpy(buf + len, ".0", 3); /* stays a float when read back */
                len += 2;
            }
            return gen_ok(e, yajl_gen_number(e->g, buf, (size_t)len));
        }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return gen_ok(e, yajl_gen_string(e->g, (const unsigned char *)s, len));
    }
    case LUA_TTABLE: return encode_table(e, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_rawequal(L, idx, lua_upvalueindex(UV_NULL)))
            return gen_ok(e, yajl_gen_null(e->g));
        /* fall through */
    default: return encode_fail(e, "cannot encode a value of type %s", luaL_typename(L, idx));
    }
}

static int gen_gc(lua_State *L)
{
    gen_box *b = luaL_checkudata(L, 1, JSON_GEN_MT);
    if (b->g != NULL) {
        yajl_gen_free(b->g);
        b->g = NULL;
    }
    return 0;
}

static int json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    bool indent = false;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TBOOLEAN);
        indent = lua_toboolean(L, 2);
    }
    encoder e = {L, NULL, {0}};
    lua_settop(L, 1);

    gen_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->g = NULL;
    luaL_setmetatable(L, JSON_GEN_MT);
    lua_toclose(L, 2);
    if ((b->g = yajl_gen_alloc(NULL)) == NULL)
        return luaL_error(L, "out of memory");
    e.g = b->g;
    yajl_gen_config(e.g, yajl_gen_validate_utf8, 1);
    if (indent) {
        yajl_gen_config(e.g, yajl_gen_beautify, 1);
        yajl_gen_config(e.g, yajl_gen_indent_string, "  ");
    }
    if (!encode_value(&e, 1)) {
        lua_closeslot(L, 2);
        return fail(L, e.why);
    }
    const unsigned char *out;
    size_t len;
    yajl_gen_get_buf(e.g, &out, &len);
    if (indent && len > 0 && out[len - 1] == '\n')
        len--; /* beautify ends the text with a newline */
    lua_pushlstring(L, (const char *)out, len);
    lua_replace(L, 1);
    lua_closeslot(L, 2);
    lua_settop(L, 1);
    return 1;
}

/* ------------------------------------------------------------- register */

void imagestore_json_register(lua_State *L)
{
    static const luaL_Reg parser_meta[] = {{"__gc", parser_gc}, {"__close", parser_gc}, {NULL, NULL}};
    static const luaL_Reg gen_meta[] = {{"__gc", gen_gc}, {"__close", gen_gc}, {NULL, NULL}};
    luaL_newmetatable(L, JSON_PARSER_MT);
    luaL_setfuncs(L, parser_meta, 0);
    lua_pop(L, 1);
    luaL_newmetatable(L, JSON_GEN_MT);
    luaL_setfuncs(L, gen_meta, 0);
    lua_pop(L, 1);

    /* the module table is on top */
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "json_null");
    lua_newtable(L); /* array metatable */
    lua_pushliteral(L, "json array");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "json_array");
    lua_newtable(L); /* object metatable */
    lua_pushliteral(L, "json object");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "json_object");

    static const struct {
        const char *name;
        lua_CFunction fn;
    } fns[] = {{"json_decode", json_decode}, {"json_encode", json_encode}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        lua_pushlightuserdata(L, NULL);
        lua_getfield(L, -2, "json_array");
        lua_getfield(L, -3, "json_object");
        lua_pushcclosure(L, fns[i].fn, 3);
        lua_setfield(L, -2, fns[i].name);
    }
}
