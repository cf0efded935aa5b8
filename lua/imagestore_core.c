/*
 * imagestore.core: the Lua binding of the C image store (core/image_store.h).
 *
 * Conventions (docs/contract.md; the userdata lifecycle of Lua's liolib.c):
 *   - A store is a full userdata created closed, given its metatable, and only
 *     then opened (as liolib.c does), so a failure leaves a consistent object.
 *     __gc and __close are the same idempotent function.
 *   - Expected failures return nil, message, code; programmer errors (wrong
 *     types, unknown keys, a closed store) raise. Mutators return true.
 *   - No raise while C memory is held: memory a member returns is written
 *     straight into a "box" userdata that was created (or is the store's own,
 *     reused), given its metatable and marked to-be-closed before the C call.
 *     Converting it to Lua may raise (memory errors); the box's __close/__gc
 *     then frees it.
 *   - Argument arrays (names) are built in GC-managed userdata, not malloc'd.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"

#include "image_store.h"
#include "imagestore_lua_hooks.h"
#include "imagestore_json.h"
#include "imagestore_tar.h"
#include "imagestore_files.h"

#ifndef IMAGESTORE_VERSION /* the Makefile passes its VERSION */
#error "IMAGESTORE_VERSION must be defined (-DIMAGESTORE_VERSION=\"x.y.z\")"
#endif
#define STORE_MT "imagestore.store"
#define BOX_MT "imagestore.box"

#define LUA_EXPORT __attribute__((visibility("default")))

/* ---------------------------------------------------------------- store */

/* User value 1 of a store is its hooks table {name = {...}, event = {...}}
 * (lua/imagestore_lua_hooks.h): held there, not in the registry, so hooks that capture
 * the store do not keep it from being collected. User value 2 is the box its
 * methods reuse (box_new). */
typedef struct lstore {
    image_store_t st;
    bool open;       /* new_image_store() has run and image_store_close() has not */
    imagestore_lua_hooks hooks; /* hooks.L is the thread of the current call */
} lstore;

/* luaL_argerror that names the method also when Lua cannot (a call
 * through pcall, or a tail call): every function registered here carries
 * its name as upvalue 1. */
static int arg_error(lua_State *L, int arg, const char *msg)
{
    lua_Debug ar;
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    if (name == NULL || (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name != NULL))
        return luaL_argerror(L, arg, msg);
    return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, name, msg);
}

static int type_error(lua_State *L, int arg, const char *expected)
{
    const char *got = luaL_typename(L, arg);
    if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
        got = lua_tostring(L, -1);
    return arg_error(L, arg, lua_pushfstring(L, "%s expected, got %s", expected, got));
}

static void check_type(lua_State *L, int arg, int type)
{
    if (lua_type(L, arg) != type)
        type_error(L, arg, lua_typename(L, type));
}

static int check_option(lua_State *L, int arg, const char *const options[])
{
    const char *name = lua_tostring(L, arg);
    if (lua_type(L, arg) != LUA_TSTRING)
        return type_error(L, arg, "string");
    for (int i = 0; options[i] != NULL; i++)
        if (strcmp(options[i], name) == 0)
            return i;
    return arg_error(L, arg, lua_pushfstring(L, "invalid option '%s'", name));
}

static void *check_udata(lua_State *L, int arg, const char *tname)
{
    void *p = luaL_testudata(L, arg, tname);
    if (p == NULL)
        type_error(L, arg, tname);
    return p;
}

static lstore *store_check(lua_State *L)
{
    lstore *s = check_udata(L, 1, STORE_MT);
    if (!s->open)
        luaL_error(L, "attempt to use a closed store");
    if (image_store_in_hook(&s->st))
        luaL_error(L, "cannot use the store from inside one of its hooks");
    s->hooks.L = L;
    return s;
}

static int store_release(lua_State *L)
{
    lstore *s = check_udata(L, 1, STORE_MT);
    if (s->open && image_store_in_hook(&s->st))
        return luaL_error(L, "cannot close the store from inside one of its hooks");
    if (s->open) {
        s->open = false;
        image_store_close(&s->st);
    }
    return 0;
}

static int store_tostring(lua_State *L)
{
    lstore *s = check_udata(L, 1, STORE_MT);
    if (s->open)
        lua_pushfstring(L, "imagestore.store (%s)", image_store_dir(&s->st));
    else
        lua_pushliteral(L, "imagestore.store (closed)");
    return 1;
}

static int store_close(lua_State *L)
{
    store_release(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* nil, message, code for the store's last failure. */
static int push_store_error(lua_State *L, const lstore *s)
{
    lua_pushnil(L);
    lua_pushstring(L, image_store_error_message(&s->st));
    lua_pushstring(L, image_store_error_name(&s->st));
    return 3;
}

static int push_result(lua_State *L, const lstore *s, int rc)
{
    if (rc != 0)
        return push_store_error(L, s);
    lua_pushboolean(L, 1);
    return 1;
}

/* ------------------------------------------------------------------ box */

static int fail_boxed(lua_State *L, const lstore *s, int bidx);

/* C memory returned by a member, owned by a Lua value until converted. */
typedef struct box {
    bool busy; /* between box_new() and its release */
    bool has_image;
    image_storage_images image;
    image_storage_images *images;
    size_t images_len;
    char *str;
    size_t str_len;
    char **strs;
    size_t strs_len;
    image_store_problem *problems;
    size_t problems_len;
    image_store_gc_entry *gc;
    size_t gc_len;
} box;

static int box_release(lua_State *L)
{
    box *b = luaL_checkudata(L, 1, BOX_MT);
    if (b->has_image) {
        b->has_image = false;
        image_storage_images_clear(&b->image);
    }
    image_storage_images_free(b->images, b->images_len);
    b->images = NULL;
    b->images_len = 0;
    free(b->str);
    b->str = NULL;
    b->str_len = 0;
    image_store_strings_free(b->strs, b->strs_len);
    b->strs = NULL;
    b->strs_len = 0;
    image_store_problems_free(b->problems, b->problems_len);
    b->problems = NULL;
    b->problems_len = 0;
    image_store_gc_entries_free(b->gc, b->gc_len);
    b->gc = NULL;
    b->gc_len = 0;
    b->busy = false;
    return 0;
}

static box *box_push_new(lua_State *L)
{
    box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOX_MT);
    return b;
}

/* Pushes an empty to-be-closed box for a method of the store at index 1;
 * *idx receives its stack index. Call it before the C call that fills it,
 * and lua_closeslot(L, *idx) when done. The box is the store's own (its
 * user value 2), made once, unless that one is busy: a finalizer that runs
 * while a result is converted may call the same store. */
static box *box_new(lua_State *L, int *idx)
{
    box *b = NULL;
    if (lua_getiuservalue(L, 1, 2) == LUA_TUSERDATA)
        b = lua_touserdata(L, -1);
    if (b == NULL || b->busy) {
        lua_pop(L, 1);
        b = box_push_new(L);
    }
    b->busy = true;
    *idx = lua_gettop(L);
    lua_toclose(L, *idx);
    return b;
}

/* nil, message, code for a failed call whose result box is at bidx (closed). */
static int fail_boxed(lua_State *L, const lstore *s, int bidx)
{
    push_store_error(L, s);
    lua_closeslot(L, bidx);
    return 3;
}

/* ------------------------------------------------------------ arguments */

static const char *check_string(lua_State *L, int idx, size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        type_error(L, idx, "string");
    return lua_tolstring(L, idx, len);
}

/* nil, 'invalid <what> "<s>": <why>', "EINVAL" (s may hold NUL bytes). */
static int push_invalid(lua_State *L, const char *what, const char *s, size_t len,
                        const char *why)
{
    luaL_Buffer b;
    lua_pushnil(L);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "invalid ");
    luaL_addstring(&b, what);
    luaL_addstring(&b, " \"");
    luaL_addlstring(&b, s, len);
    luaL_addstring(&b, "\": ");
    luaL_addstring(&b, why);
    luaL_pushresult(&b);
    lua_pushliteral(L, "EINVAL");
    return 3;
}

static bool has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

/* A string argument used as a C string: raises unless it is a string. Returns
 * NULL after pushing nil, message, "EINVAL" when it contains a NUL byte. */
static const char *arg_cstring(lua_State *L, int idx, const char *what)
{
    size_t len;
    const char *s = check_string(L, idx, &len);
    if (has_nul(s, len)) {
        push_invalid(L, what, s, len, "contains a NUL byte");
        return NULL;
    }
    return s;
}

enum arg_status {
    ARG_OK,
    ARG_BADTYPE, /* the caller raises */
    ARG_INVALID  /* nil, message, "EINVAL" pushed; the caller returns 3 */
};

/* Builds a NULL-terminated const char * array from the table of strings at
 * tidx, in a userdata left on the stack; the strings stay anchored by the
 * table, which the caller keeps on the stack. ARG_BADTYPE for anything but a
 * sequence of strings, ARG_INVALID for a name with a NUL byte. */
static enum arg_status names_array(lua_State *L, int tidx, const char ***out, size_t *out_len)
{
    size_t n, i, count = 0;
    const char **v;

    if (lua_type(L, tidx) != LUA_TTABLE)
        return ARG_BADTYPE;
    n = lua_rawlen(L, tidx);
    lua_pushnil(L);
    while (lua_next(L, tidx) != 0) {
        count++;
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 ||
            (lua_Unsigned)lua_tointeger(L, -2) > n || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 2);
            return ARG_BADTYPE;
        }
        lua_pop(L, 1);
    }
    if (count != n)
        return ARG_BADTYPE;

    v = lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
    for (i = 0; i < n; i++) {
        size_t len;
        const char *s;
        lua_rawgeti(L, tidx, (lua_Integer)(i + 1));
        s = lua_tolstring(L, -1, &len);
        lua_pop(L, 1); /* still referenced by the table */
        if (has_nul(s, len)) {
            push_invalid(L, "name", s, len, "contains a NUL byte");
            return ARG_INVALID;
        }
        v[i] = s;
    }
    v[n] = NULL;
    *out = v;
    *out_len = n;
    return ARG_OK;
}

/* Epoch seconds (integer or float) or an RFC 3339 string at idx into *ts.
 * ARG_BADTYPE for other types and for non-finite or out-of-range numbers;
 * ARG_INVALID for a string timestamp_parse() rejects. */
static enum arg_status arg_time(lua_State *L, int idx, timestamp *ts)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (has_nul(s, len) || timestamp_parse(s, ts) != 0) {
            push_invalid(L, "time", s, len, "want RFC 3339");
            return ARG_INVALID;
        }
        return ARG_OK;
    }
    if (lua_type(L, idx) != LUA_TNUMBER)
        return ARG_BADTYPE;
    if (lua_isinteger(L, idx)) {
        ts->seconds = (int64_t)lua_tointeger(L, idx);
        ts->nanos = 0;
    } else {
        lua_Number x = lua_tonumber(L, idx);
        int64_t sec;
        int32_t nanos;
        /* also rejects NaN and the infinities */
        if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
            return ARG_BADTYPE;
        sec = (int64_t)x; /* truncates toward zero */
        if ((lua_Number)sec > x)
            sec--;
        nanos = (int32_t)((x - (lua_Number)sec) * 1e9 + 0.5);
        if (nanos >= 1000000000) {
            if (sec == INT64_MAX)
                return ARG_BADTYPE;
            sec++;
            nanos -= 1000000000;
        }
        ts->seconds = sec;
        ts->nanos = nanos;
    }
    return ARG_OK;
}

#define TIME_EXPECTED "integer, finite float or RFC 3339 string expected"

/* --------------------------------------------------------- conversions */

/* lua_pushlstring, not lua_pushstring: the latter first looks the pointer up
 * in Lua's string cache, which a fresh C copy never hits. */
static void push_opt_string(lua_State *L, const char *s)
{
    if (s != NULL)
        lua_pushlstring(L, s, strlen(s));
    else
        lua_pushnil(L);
}

static int table_size(size_t n)
{
    return n > INT32_MAX ? 0 : (int)n;
}

/* At most this many earlier strings are compared when looking for one to
 * share (push_shared): enough for real records, linear for hostile ones. */
#define SHARE_MAX 8

/* Pushes s; when it equals one of the first strings of v, whose Lua strings
 * are the array at vidx, pushes that string instead of a new copy. Digests
 * repeat within a record (digest, manifest and config digests). */
static void push_shared(lua_State *L, const char *s, int vidx, char *const *v, size_t n)
{
    if (s != NULL)
        for (size_t i = 0; i < n && i < SHARE_MAX; i++)
            if (v[i] != NULL && strcmp(v[i], s) == 0) {
                lua_rawgeti(L, vidx, (lua_Integer)(i + 1));
                return;
            }
    push_opt_string(L, s);
}

static void push_string_array(lua_State *L, char *const *v, size_t n)
{
    lua_createtable(L, table_size(n), 0);
    for (size_t i = 0; i < n; i++) {
        push_opt_string(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/* push_string_array, sharing the strings of the array at vidx (push_shared). */
static void push_shared_array(lua_State *L, char *const *v, size_t n, int vidx,
                              char *const *shared, size_t shared_n)
{
    lua_createtable(L, table_size(n), 0);
    for (size_t i = 0; i < n; i++) {
        push_shared(L, v[i], vidx, shared, shared_n);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

static void push_flag(lua_State *L, const image_flag *f)
{
    switch (f->kind) {
    case IMAGE_FLAG_BOOL:
        lua_pushboolean(L, f->boolean);
        break;
    case IMAGE_FLAG_NUMBER:
        if (f->text == NULL || lua_stringtonumber(L, f->text) == 0)
            push_opt_string(L, f->text);
        break;
    case IMAGE_FLAG_STRING:
    case IMAGE_FLAG_JSON:
    default:
        push_opt_string(L, f->text);
        break;
    }
}

/* The keys of an image table, in the order push_image sets them. Every
 * method that returns images carries them as upvalues from IMAGE_KEYS on
 * (set_image_method), so building a table neither hashes nor looks up a key. */
enum image_key {
    K_ID, K_DIGEST, K_DIGESTS, K_NAMES, K_NAMES_HISTORY, K_LAYER, K_METADATA,
    K_BIG_DATA_NAMES, K_BIG_DATA_SIZES, K_BIG_DATA_DIGESTS, K_CREATED, K_LOADED,
    K_SIZE, K_FLAGS, K_READ_ONLY, K_STORE, K_COUNT
};
static const char *const image_keys[K_COUNT] = {
    "id", "digest", "digests", "names", "names_history", "layer", "metadata",
    "big_data_names", "big_data_sizes", "big_data_digests", "created", "loaded",
    "size", "flags", "read_only", "store",
};
#define IMAGE_KEYS 3 /* upvalue of image_keys[0]: after the name and the getter */

static void push_key(lua_State *L, enum image_key k)
{
    lua_pushvalue(L, lua_upvalueindex(IMAGE_KEYS + (int)k));
}

/* A fresh table, as the C copy is: the sub-tables are its own, created at
 * their final sizes; only strings a record repeats are shared (one Lua
 * string for a digest met twice), and Lua strings are values. */
static void push_image(lua_State *L, const image_storage_images *img)
{
    char *const *bnames = img->big_data_names;
    const int64_t *sizes = img->big_data_sizes;
    char *const *bdigests = img->big_data_digests;
    int nsizes = 0, ndigests = 0, nflags = 0;
    int t, dg, nm, bn;
    size_t i;

    lua_createtable(L, 0, 16);
    t = lua_gettop(L);
    push_string_array(L, img->digests, img->digests_len); /* digest is digests[0] */
    dg = t + 1;

    push_key(L, K_ID);
    push_opt_string(L, img->id);
    lua_rawset(L, t);
    push_key(L, K_DIGEST);
    push_shared(L, img->digest, dg, img->digests, img->digests_len);
    lua_rawset(L, t);
    push_key(L, K_DIGESTS);
    lua_pushvalue(L, dg);
    lua_rawset(L, t);
    push_string_array(L, img->names, img->names_len);
    nm = t + 2; /* the history repeats names */
    push_key(L, K_NAMES);
    lua_pushvalue(L, nm);
    lua_rawset(L, t);
    push_key(L, K_NAMES_HISTORY);
    push_shared_array(L, img->names_history, img->names_history_len, nm, img->names,
                      img->names_len);
    lua_rawset(L, t);
    push_key(L, K_LAYER);
    push_opt_string(L, img->layer);
    lua_rawset(L, t);
    push_key(L, K_METADATA);
    push_opt_string(L, img->metadata);
    lua_rawset(L, t);
    push_string_array(L, bnames, img->big_data_names_len);
    bn = t + 3; /* its strings are the keys of the two tables below */
    push_key(L, K_BIG_DATA_NAMES);
    lua_pushvalue(L, bn);
    lua_rawset(L, t);

    for (i = 0; i < img->big_data_names_len; i++) {
        if (bnames[i] == NULL)
            continue;
        nsizes += sizes != NULL && sizes[i] >= 0;
        ndigests += bdigests != NULL && bdigests[i] != NULL;
    }
    push_key(L, K_BIG_DATA_SIZES);
    lua_createtable(L, 0, nsizes);
    for (i = 0; nsizes > 0 && i < img->big_data_names_len; i++) {
        if (bnames[i] == NULL || sizes[i] < 0)
            continue;
        lua_rawgeti(L, bn, (lua_Integer)(i + 1));
        lua_pushinteger(L, (lua_Integer)sizes[i]);
        lua_rawset(L, -3);
    }
    lua_rawset(L, t);
    push_key(L, K_BIG_DATA_DIGESTS);
    lua_createtable(L, 0, ndigests);
    for (i = 0; ndigests > 0 && i < img->big_data_names_len; i++) {
        if (bnames[i] == NULL || bdigests[i] == NULL)
            continue;
        lua_rawgeti(L, bn, (lua_Integer)(i + 1));
        if (strcmp(bdigests[i], bnames[i]) == 0) /* a config kept under its digest */
            lua_pushvalue(L, -1);
        else
            push_shared(L, bdigests[i], dg, img->digests, img->digests_len);
        lua_rawset(L, -3);
    }
    lua_rawset(L, t);

    push_key(L, K_CREATED);
    push_opt_string(L, img->created);
    lua_rawset(L, t);
    push_key(L, K_LOADED);
    push_opt_string(L, img->loaded);
    lua_rawset(L, t);
    push_key(L, K_SIZE);
    if (img->size >= 0)
        lua_pushinteger(L, (lua_Integer)img->size);
    else
        lua_pushnil(L);
    lua_rawset(L, t);

    for (i = 0; i < img->flags_len; i++)
        nflags += img->flags[i].key != NULL && img->flags[i].kind != IMAGE_FLAG_NULL;
    push_key(L, K_FLAGS);
    lua_createtable(L, 0, nflags); /* null flags are left out */
    for (i = 0; i < img->flags_len; i++) {
        const image_flag *f = &img->flags[i];
        if (f->key == NULL || f->kind == IMAGE_FLAG_NULL)
            continue;
        push_opt_string(L, f->key);
        push_flag(L, f);
        lua_rawset(L, -3);
    }
    lua_rawset(L, t);

    push_key(L, K_READ_ONLY);
    lua_pushboolean(L, img->read_only);
    lua_rawset(L, t);
    if (img->store != NULL) { /* an image of an additional store */
        push_key(L, K_STORE);
        lua_pushstring(L, img->store);
        lua_rawset(L, t);
    }
    lua_settop(L, t);
}

static void push_image_array(lua_State *L, const image_storage_images *v, size_t n)
{
    size_t i;
    lua_createtable(L, table_size(n), 0);
    for (i = 0; i < n; i++) {
        push_image(L, &v[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/* ---------------------------------------------------------------- open */

static bool opt_boolean(lua_State *L, int idx, const char *key)
{
    if (lua_type(L, idx) != LUA_TBOOLEAN)
        luaL_error(L, "bad option '%s' (boolean expected, got %s)", key, luaL_typename(L, idx));
    return lua_toboolean(L, idx);
}

/* The "additional" option (at idx): a list of directories, into a C array
 * kept alive as a userdata on the stack; its length in *n. Raises unless it
 * is a list of strings. */
static const char **opt_additional(lua_State *L, int idx, size_t *n)
{
    const char **dirs;
    lua_Integer count = 0;
    size_t i;
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "bad option 'additional' (table expected, got %s)", luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        count++;
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1)
            luaL_error(L, "bad option 'additional' (list of strings expected, got key '%s')",
                       luaL_tolstring(L, -2, NULL));
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "bad option 'additional' (string expected at [%d], got %s)",
                       (int)lua_tointeger(L, -2), luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    *n = (size_t)count;
    dirs = lua_newuserdatauv(L, (*n + 1) * sizeof(*dirs), 0);
    for (i = 0; i < *n; i++) {
        if (lua_rawgeti(L, idx, (lua_Integer)(i + 1)) != LUA_TSTRING)
            luaL_error(L, "bad option 'additional' (list of strings expected, got a table with "
                          "holes)");
        dirs[i] = lua_tostring(L, -1); /* the option table keeps the string alive */
        lua_pop(L, 1);
    }
    return dirs;
}

/* core.open(dir [, opts]) --> store | nil, message, code */
static int core_open(lua_State *L)
{
    size_t len, i;
    const char *dir = check_string(L, 1, &len);
    bool readonly = false, daemon = false, additional = false;
    image_store_options opts;
    lstore *s;
    int rc;

    memset(&opts, 0, sizeof opts);

    if (!lua_isnoneornil(L, 2)) {
        check_type(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (key != NULL && strcmp(key, "readonly") == 0)
                readonly = opt_boolean(L, -1, key);
            else if (key != NULL && strcmp(key, "daemon") == 0)
                daemon = opt_boolean(L, -1, key);
            else if (key != NULL && strcmp(key, "additional") == 0)
                additional = true;
            else
                luaL_error(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL));
            lua_pop(L, 1);
        }
    }
    lua_settop(L, 2);
    if (additional) {
        lua_getfield(L, 2, "additional"); /* 3: the list, 4: the C array */
        opts.additional = opt_additional(L, 3, &opts.additional_len);
    }
    if (has_nul(dir, len))
        return push_invalid(L, "store directory", dir, len, "contains a NUL byte");
    for (i = 0; i < opts.additional_len; i++) {
        size_t n;
        lua_rawgeti(L, 3, (lua_Integer)(i + 1));
        lua_tolstring(L, -1, &n);
        if (has_nul(opts.additional[i], n))
            return push_invalid(L, "additional store directory", opts.additional[i], n,
                                "contains a NUL byte");
        lua_pop(L, 1);
    }
    opts.daemon = daemon;
    opts.readonly = readonly;

    s = lua_newuserdatauv(L, sizeof *s, 2);
    memset(s, 0, sizeof *s);
    s->open = false;
    s->hooks.self_index = 1;
    luaL_setmetatable(L, STORE_MT);
    lua_createtable(L, 0, 2);
    lua_newtable(L);
    lua_setfield(L, -2, "name");
    lua_newtable(L);
    lua_setfield(L, -2, "event");
    lua_setiuservalue(L, -2, 1);
    box_push_new(L); /* the store's box (box_new) */
    lua_setiuservalue(L, -2, 2);

    rc = image_store_open(&s->st, dir, &opts);
    s->open = true; /* the userdata owns the store: a raise lets __gc close it */
    if (rc != 0) {
        push_store_error(L, s); /* copies the message before closing */
        s->open = false;
        image_store_close(&s->st);
        return 3;
    }
    return 1;
}

/* --------------------------------------------------------------- methods */

/* A field of the create table as a C string, NULL when nil; raises unless it
 * is a string or nil. */
static void check_string_field(lua_State *L, int idx, const char *field)
{
    if (!lua_isnil(L, idx) && lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "bad field '%s' in create table (string expected, got %s)", field,
                   luaL_typename(L, idx));
}

/* The string field at idx (already type-checked) or NULL when nil; *ok is
 * false after pushing nil, message, "EINVAL" for a NUL byte. */
static const char *cstring_field(lua_State *L, int idx, const char *what, bool *ok)
{
    size_t len;
    const char *s;
    if (!*ok || lua_isnil(L, idx))
        return NULL;
    s = lua_tolstring(L, idx, &len);
    if (has_nul(s, len)) {
        push_invalid(L, what, s, len, "contains a NUL byte");
        *ok = false;
        return NULL;
    }
    return s;
}

/* st:create{ id=, names=, layer=, metadata=, created=, digest= } --> image */
static int store_create(lua_State *L)
{
    static const char *const fields[] = {"id", "names", "layer", "metadata", "created",
                                         "digest", NULL};
    enum { F_ID = 3, F_NAMES, F_LAYER, F_METADATA, F_CREATED, F_DIGEST };
    lstore *s = store_check(L);
    const char *id, *layer, *metadata, *digest;
    const char **names = NULL;
    size_t names_len = 0;
    timestamp created = IMAGE_TIME_NOW; /* unless given */
    bool ok = true;
    int i, bidx, rc;
    box *b;

    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    check_type(L, 2, LUA_TTABLE);
    lua_settop(L, 2);

    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        for (i = 0; key != NULL && fields[i] != NULL; i++)
            if (strcmp(key, fields[i]) == 0)
                break;
        if (key == NULL || fields[i] == NULL)
            luaL_error(L, "unknown key '%s' in create table", luaL_tolstring(L, -2, NULL));
        lua_pop(L, 1);
    }

    /* Fields go to stack slots F_ID..F_DIGEST and stay there. */
    for (i = 0; fields[i] != NULL; i++) {
        lua_pushstring(L, fields[i]);
        lua_rawget(L, 2);
    }

    /* Every raise (type errors) before any nil, message, code. */
    check_string_field(L, F_ID, "id");
    check_string_field(L, F_LAYER, "layer");
    check_string_field(L, F_METADATA, "metadata");
    check_string_field(L, F_DIGEST, "digest");
    if (!lua_isnil(L, F_CREATED)) {
        int t = lua_type(L, F_CREATED);
        if ((t != LUA_TNUMBER && t != LUA_TSTRING) ||
            (t == LUA_TNUMBER && arg_time(L, F_CREATED, &created) != ARG_OK))
            luaL_error(L, "bad field 'created' in create table (" TIME_EXPECTED ")");
    }
    if (!lua_isnil(L, F_NAMES)) {
        switch (names_array(L, F_NAMES, &names, &names_len)) {
        case ARG_OK:
            break;
        case ARG_BADTYPE:
            return luaL_error(L, "bad field 'names' in create table (table of strings expected)");
        case ARG_INVALID:
            return 3;
        }
    }

    id = cstring_field(L, F_ID, "image ID", &ok);
    layer = cstring_field(L, F_LAYER, "layer", &ok);
    metadata = cstring_field(L, F_METADATA, "metadata", &ok);
    digest = cstring_field(L, F_DIGEST, "digest", &ok);
    if (!ok)
        return 3;
    if (lua_type(L, F_CREATED) == LUA_TSTRING && arg_time(L, F_CREATED, &created) != ARG_OK)
        return 3;

    b = box_new(L, &bidx);
    rc = s->st.create(id, names, names_len, layer, metadata, created, digest, &s->st,
                      &b->image);
    if (rc != 0) {
        return fail_boxed(L, s, bidx);
    }
    b->has_image = true;
    push_image(L, &b->image);
    lua_closeslot(L, bidx);
    return 1;
}

/* st:set_names(ref, names) --> true */
static int store_set_names(lua_State *L)
{
    lstore *s = store_check(L);
    const char **names = NULL;
    size_t names_len = 0;
    const char *ref;

    check_string(L, 2, NULL);
    lua_settop(L, 3);
    switch (names_array(L, 3, &names, &names_len)) {
    case ARG_OK:
        break;
    case ARG_BADTYPE:
        return arg_error(L, 3, "table of strings expected");
    case ARG_INVALID:
        return 3;
    }
    if ((ref = arg_cstring(L, 2, "reference")) == NULL)
        return 3;
    return push_result(L, s, s->st.set_names(ref, names, names_len, &s->st));
}

/* st:add_name(ref, name) / st:remove_name(ref, name) --> true */
static int name_op(lua_State *L, bool add)
{
    lstore *s = store_check(L);
    const char *ref, *name;

    check_string(L, 2, NULL);
    check_string(L, 3, NULL);
    if ((ref = arg_cstring(L, 2, "reference")) == NULL)
        return 3;
    if ((name = arg_cstring(L, 3, "name")) == NULL)
        return 3;
    return push_result(L, s, add ? s->st.add_name(ref, name, &s->st)
                                 : s->st.remove_name(ref, name, &s->st));
}

static int store_add_name(lua_State *L)
{
    return name_op(L, true);
}

static int store_remove_name(lua_State *L)
{
    return name_op(L, false);
}

/* st:batch(function(st) ... end) --> true
 * Runs fn with the store in a batch: its operations apply in order, and the
 * batch commits with one sync when fn returns. If fn raises, the batch is
 * aborted (nothing reaches the disk) and the error propagates. */
static int store_batch(lua_State *L)
{
    lstore *s = store_check(L);
    check_type(L, 2, LUA_TFUNCTION);
    if (image_store_batch_begin(&s->st) != 0)
        return push_store_error(L, s);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 1, 0, 0);
    s->hooks.L = L; /* the calls inside may have come from another thread */
    if (status != LUA_OK) {
        if (s->open)
            image_store_batch_abort(&s->st);
        return lua_error(L);
    }
    if (!s->open)
        return luaL_error(L, "store closed inside its batch: the batch was discarded");
    return push_result(L, s, image_store_batch_commit(&s->st));
}

/* st:delete(ref) --> true */
static int store_delete(lua_State *L)
{
    lstore *s = store_check(L);
    const char *ref = arg_cstring(L, 2, "reference");
    if (ref == NULL)
        return 3;
    return push_result(L, s, s->st.delete(ref, &s->st));
}

static int store_wipe(lua_State *L)
{
    lstore *s = store_check(L);
    return push_result(L, s, s->st.wipe(&s->st));
}

static int store_save(lua_State *L)
{
    lstore *s = store_check(L);
    return push_result(L, s, s->st.save(&s->st));
}

static int store_load(lua_State *L)
{
    lstore *s = store_check(L);
    return push_result(L, s, s->st.load(&s->st));
}

/* st:set_loaded_time(ref, t) --> true */
static int store_set_loaded_time(lua_State *L)
{
    lstore *s = store_check(L);
    const char *ref;
    timestamp t;

    check_string(L, 2, NULL);
    if ((lua_type(L, 3) != LUA_TNUMBER && lua_type(L, 3) != LUA_TSTRING) ||
        (lua_type(L, 3) == LUA_TNUMBER && arg_time(L, 3, &t) != ARG_OK))
        return arg_error(L, 3, TIME_EXPECTED);
    if ((ref = arg_cstring(L, 2, "reference")) == NULL)
        return 3;
    if (lua_type(L, 3) == LUA_TSTRING && arg_time(L, 3, &t) != ARG_OK)
        return 3;
    return push_result(L, s, s->st.set_loaded_time(ref, t, &s->st));
}

/* st:set_metadata(ref, s) --> true */
static int store_set_metadata(lua_State *L)
{
    lstore *s = store_check(L);
    const char *ref, *metadata;

    check_string(L, 2, NULL);
    check_string(L, 3, NULL);
    if ((ref = arg_cstring(L, 2, "reference")) == NULL)
        return 3;
    if ((metadata = arg_cstring(L, 3, "metadata")) == NULL)
        return 3;
    return push_result(L, s, s->st.set_metadata(&s->st, ref, metadata));
}

/* st:set_size(ref, n) --> true; n an integer (or a float with integral value) */
static int store_set_size(lua_State *L)
{
    lstore *s = store_check(L);
    const char *ref;
    lua_Integer n;
    int isnum;

    check_string(L, 2, NULL);
    if (lua_type(L, 3) != LUA_TNUMBER)
        type_error(L, 3, "integer");
    n = lua_tointegerx(L, 3, &isnum);
    if (!isnum)
        arg_error(L, 3, "number has no integer representation");
    if ((ref = arg_cstring(L, 2, "reference")) == NULL)
        return 3;
    return push_result(L, s, s->st.set_size(&s->st, ref, (int64_t)n));
}

/* st:set_big_data(ref, key, data) --> true; data may hold any bytes */
static int store_set_big_data(lua_State *L)
{
    lstore *s = store_check(L);
    const char *ref, *key, *data;
    size_t len;

    check_string(L, 2, NULL);
    check_string(L, 3, NULL);
    data = check_string(L, 4, &len);
    if ((ref = arg_cstring(L, 2, "reference")) == NULL)
        return 3;
    if ((key = arg_cstring(L, 3, "big-data key")) == NULL)
        return 3;
    return push_result(L, s, s->st.set_big_data_len(&s->st, ref, key, data, len));
}

/* ------------------------------------------------------------- getters */

/* The read methods: one row each in getters[], one function for all
 * (store_getter, whose upvalue 2 is the row):
 *   exists(ref) --> boolean; a reference with a NUL byte names nothing
 *   get(ref) --> image                    lookup(ref) --> id
 *   images() --> { image... }             by_digest(digest) --> { image... }
 *   metadata(ref) --> string              big_data_names(ref) --> { key... }
 *   big_data(ref, key) --> string (any bytes)
 *   big_data_size(ref, key) --> integer   big_data_digest(ref, key) --> string */
enum getter_op {
    G_EXISTS, G_GET, G_LOOKUP, G_IMAGES, G_BY_DIGEST, G_METADATA, G_BIG_DATA,
    G_BIG_DATA_SIZE, G_BIG_DATA_DIGEST, G_BIG_DATA_NAMES, G_COUNT
};

/* What a getter takes after the store. */
enum getter_args {
    ARGS_NONE,
    ARGS_REF,     /* a string without NUL bytes ("what" names it in EINVAL) */
    ARGS_REF_KEY, /* a reference and a big-data key, both type-checked first */
    ARGS_ANY_REF  /* any string; one with a NUL byte is passed as NULL */
};

/* What it returns; the results after RESULT_SIZE are C memory, held in a box
 * while they are converted. */
enum getter_result {
    RESULT_FOUND, RESULT_SIZE, RESULT_STRING, RESULT_BYTES, RESULT_STRINGS,
    RESULT_IMAGE, RESULT_IMAGES
};

static const struct getter {
    const char *name;
    enum getter_args args;
    const char *what;
    enum getter_result result;
} getters[G_COUNT] = {
    [G_EXISTS] = {"exists", ARGS_ANY_REF, NULL, RESULT_FOUND},
    [G_GET] = {"get", ARGS_REF, "reference", RESULT_IMAGE},
    [G_LOOKUP] = {"lookup", ARGS_REF, "reference", RESULT_STRING},
    [G_IMAGES] = {"images", ARGS_NONE, NULL, RESULT_IMAGES},
    [G_BY_DIGEST] = {"by_digest", ARGS_REF, "digest", RESULT_IMAGES},
    [G_METADATA] = {"metadata", ARGS_REF, "reference", RESULT_STRING},
    [G_BIG_DATA] = {"big_data", ARGS_REF_KEY, NULL, RESULT_BYTES},
    [G_BIG_DATA_SIZE] = {"big_data_size", ARGS_REF_KEY, NULL, RESULT_SIZE},
    [G_BIG_DATA_DIGEST] = {"big_data_digest", ARGS_REF_KEY, NULL, RESULT_STRING},
    [G_BIG_DATA_NAMES] = {"big_data_names", ARGS_REF, "reference", RESULT_STRINGS},
};

/* The member a getter calls: 0, or -1 with the error in the store. */
static int getter_call(enum getter_op op, image_store_t *st, const char *ref, const char *key,
                       box *b, bool *found, int64_t *size)
{
    switch (op) {
    case G_EXISTS:
        *found = ref != NULL && st->exists(ref, st);
        return !*found && image_store_error_code(st) == IMAGE_STORE_EHOOK ? -1 : 0;
    case G_GET: return st->get(ref, st, &b->image);
    case G_LOOKUP: return st->lookup(ref, st, &b->str);
    case G_IMAGES: return st->images(st, &b->images, &b->images_len);
    case G_BY_DIGEST: return st->by_digest(st, ref, &b->images, &b->images_len);
    case G_METADATA: return st->metadata(st, ref, &b->str);
    case G_BIG_DATA: return st->big_data_len(st, ref, key, &b->str, &b->str_len);
    case G_BIG_DATA_SIZE: return st->big_data_size(st, ref, key, size);
    case G_BIG_DATA_DIGEST: return st->big_data_digest(st, ref, key, &b->str);
    case G_BIG_DATA_NAMES: return st->big_data_names(st, ref, &b->strs, &b->strs_len);
    case G_COUNT: break;
    }
    return -1;
}

/* Checks (ref, key) at 2 and 3; false after pushing nil, message, code. */
static bool ref_key_args(lua_State *L, const char **ref, const char **key)
{
    check_string(L, 2, NULL);
    check_string(L, 3, NULL);
    if ((*ref = arg_cstring(L, 2, "reference")) == NULL)
        return false;
    if ((*key = arg_cstring(L, 3, "big-data key")) == NULL)
        return false;
    return true;
}

static int store_getter(lua_State *L)
{
    enum getter_op op = (enum getter_op)lua_tointeger(L, lua_upvalueindex(2));
    const struct getter *g = &getters[op];
    lstore *s = store_check(L);
    const char *ref = NULL, *key = NULL;
    bool found = false;
    int64_t size = -1;
    box *b = NULL;
    int bidx = 0;
    size_t len;

    switch (g->args) {
    case ARGS_NONE:
        break;
    case ARGS_REF:
        if ((ref = arg_cstring(L, 2, g->what)) == NULL)
            return 3;
        break;
    case ARGS_REF_KEY:
        if (!ref_key_args(L, &ref, &key))
            return 3;
        break;
    case ARGS_ANY_REF:
        ref = check_string(L, 2, &len);
        if (has_nul(ref, len))
            ref = NULL;
        break;
    }
    if (g->result > RESULT_SIZE)
        b = box_new(L, &bidx);
    if (getter_call(op, &s->st, ref, key, b, &found, &size) != 0)
        return b != NULL ? fail_boxed(L, s, bidx) : push_store_error(L, s);

    switch (g->result) {
    case RESULT_FOUND: lua_pushboolean(L, found); break;
    case RESULT_SIZE: lua_pushinteger(L, (lua_Integer)size); break;
    case RESULT_STRING: push_opt_string(L, b->str); break;
    case RESULT_BYTES: lua_pushlstring(L, b->str != NULL ? b->str : "", b->str_len); break;
    case RESULT_STRINGS: push_string_array(L, b->strs, b->strs_len); break;
    case RESULT_IMAGE:
        b->has_image = true;
        push_image(L, &b->image);
        break;
    case RESULT_IMAGES: push_image_array(L, b->images, b->images_len); break;
    }
    if (b != NULL)
        lua_closeslot(L, bidx);
    return 1;
}

/* Pushes a problem list as { {path=, kind=, problem=}... }. */
static void push_problems(lua_State *L, const image_store_problem *p, size_t n)
{
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        push_opt_string(L, p[i].path);
        lua_setfield(L, -2, "path");
        push_opt_string(L, p[i].kind);
        lua_setfield(L, -2, "kind");
        push_opt_string(L, p[i].problem);
        lua_setfield(L, -2, "problem");
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

typedef int (*problems_fn)(image_store_t *, image_store_problem **, size_t *);

static int problems_result(lua_State *L, problems_fn fn)
{
    lstore *s = store_check(L);
    int bidx;
    box *b = box_new(L, &bidx);
    if (fn(&s->st, &b->problems, &b->problems_len) != 0) {
        if (b->problems == NULL)
            return fail_boxed(L, s, bidx);
        push_store_error(L, s); /* repair(): what it did before and after the failure */
        push_problems(L, b->problems, b->problems_len);
        lua_closeslot(L, bidx);
        return 4;
    }
    push_problems(L, b->problems, b->problems_len);
    lua_closeslot(L, bidx);
    return 1;
}

static int problems_member(image_store_t *st, image_store_problem **p, size_t *n)
{
    return st->problems(st, p, n);
}

/* st:generation() --> integer: the change token this store has caught up with */
static int store_generation(lua_State *L)
{
    lstore *s = store_check(L);
    lua_pushinteger(L, (lua_Integer)image_store_generation(&s->st));
    return 1;
}

/* st:problems() --> { {path=, kind=, problem=}... }: what load skipped */
static int store_problems(lua_State *L)
{
    return problems_result(L, problems_member);
}

/* st:check([opts]) --> { {path=, kind=, problem=}... }: what is wrong on
 * disk. opts: isulad = true adds what iSulad would do at its next start;
 * default_registry = "<host>" (with isulad) is iSulad's default-host. */
static int store_check_disk(lua_State *L)
{
    lstore *s = store_check(L);
    image_store_check_options opts = {false, NULL};
    if (!lua_isnoneornil(L, 2)) {
        check_type(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (key != NULL && strcmp(key, "isulad") == 0) {
                opts.isulad = opt_boolean(L, -1, key);
            } else if (key != NULL && strcmp(key, "default_registry") == 0) {
                size_t len;
                if (lua_type(L, -1) != LUA_TSTRING)
                    luaL_error(L, "bad option '%s' (string expected, got %s)", key,
                               luaL_typename(L, -1));
                opts.isulad_default_registry = lua_tolstring(L, -1, &len); /* the table keeps it */
                if (has_nul(opts.isulad_default_registry, len))
                    luaL_error(L, "bad option '%s' (contains a NUL byte)", key);
            } else {
                luaL_error(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL));
            }
            lua_pop(L, 1);
        }
        if (opts.isulad_default_registry != NULL && !opts.isulad)
            luaL_error(L, "option 'default_registry' needs isulad = true");
    }
    int bidx;
    box *b = box_new(L, &bidx);
    if (image_store_check_with(&s->st, &opts, &b->problems, &b->problems_len) != 0)
        return fail_boxed(L, s, bidx);
    push_problems(L, b->problems, b->problems_len);
    lua_closeslot(L, bidx);
    return 1;
}

/* st:repair() --> { {path=, kind=, problem=}... }: what it did; on a
 * failure nil, message, code, and what it did all the same */
static int store_repair(lua_State *L)
{
    return problems_result(L, image_store_repair);
}

/* ------------------------------------------------------------ gc, usage */

/* st:usage() --> { images=, size=, disk_bytes= }: the store itself */
static int store_usage(lua_State *L)
{
    lstore *s = store_check(L);
    image_store_usage_figures u;
    if (image_store_usage(&s->st, &u) != 0)
        return push_store_error(L, s);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)u.images);
    lua_setfield(L, -2, "images");
    lua_pushinteger(L, (lua_Integer)u.size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)u.disk_bytes);
    lua_setfield(L, -2, "disk_bytes");
    return 1;
}

/* An option at idx that must be an integer >= 0 (floats with an integer
 * value too); raises otherwise. */
static int64_t opt_count(lua_State *L, int idx, const char *key)
{
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (lua_type(L, idx) != LUA_TNUMBER || !isint)
        luaL_error(L, "bad option '%s' (integer expected, got %s)", key,
                   lua_type(L, idx) == LUA_TNUMBER ? "a fraction" : luaL_typename(L, idx));
    if (v < 0)
        luaL_error(L, "bad option '%s' (must not be negative)", key);
    return (int64_t)v;
}

/* st:store_gc{ dry_run=, quarantine_age=, now= } -->
 * { {path=, kind=, problem=, bytes=}... }: what it removed (or would);
 * on a failure nil, message, code, and what it removed all the same */
static int store_store_gc(lua_State *L)
{
    lstore *s = store_check(L);
    image_store_gc_options opts = {false, false, 0, 0};
    if (!lua_isnoneornil(L, 2)) {
        check_type(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (key != NULL && strcmp(key, "dry_run") == 0) {
                opts.dry_run = opt_boolean(L, -1, key);
            } else if (key != NULL && strcmp(key, "quarantine_age") == 0) {
                opts.quarantine = true;
                opts.quarantine_age = opt_count(L, -1, key);
            } else if (key != NULL && strcmp(key, "now") == 0) {
                opts.now = opt_count(L, -1, key);
            } else {
                luaL_error(L, "unknown option '%s'", luaL_tolstring(L, -2, NULL));
            }
            lua_pop(L, 1);
        }
    }
    int bidx;
    box *b = box_new(L, &bidx);
    int rc = image_store_gc(&s->st, &opts, &b->gc, &b->gc_len);
    if (rc != 0 && b->gc == NULL)
        return fail_boxed(L, s, bidx);
    int nret = rc != 0 ? push_store_error(L, s) + 1 : 1;
    lua_createtable(L, table_size(b->gc_len), 0);
    for (size_t i = 0; i < b->gc_len; i++) {
        lua_createtable(L, 0, 4);
        push_opt_string(L, b->gc[i].path);
        lua_setfield(L, -2, "path");
        push_opt_string(L, b->gc[i].kind);
        lua_setfield(L, -2, "kind");
        push_opt_string(L, b->gc[i].problem);
        lua_setfield(L, -2, "problem");
        lua_pushinteger(L, (lua_Integer)b->gc[i].bytes);
        lua_setfield(L, -2, "bytes");
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    lua_closeslot(L, bidx);
    return nret;
}

/* An image's place in summaries(): its time (loaded, else created), and
 * whether it has one. */
typedef struct summary_order {
    const image_storage_images *img;
    timestamp t;
    bool timed;
} summary_order;

static int compare_summaries(const void *a, const void *b)
{
    const summary_order *x = a, *y = b;
    if (x->timed != y->timed)
        return x->timed ? -1 : 1; /* images without a time last */
    if (x->timed && x->t.seconds != y->t.seconds)
        return x->t.seconds < y->t.seconds ? -1 : 1;
    if (x->timed && x->t.nanos != y->t.nanos)
        return x->t.nanos < y->t.nanos ? -1 : 1;
    return strcmp(x->img->id, y->img->id);
}

/* st:summaries() --> { {id=, names=, loaded=, created=, time=, size=,
 * read_only=, store=}... }: what garbage-collection policies read, at a
 * fraction of images()' cost, least recently loaded first. time is the
 * loaded time, else the created time, as epoch seconds (a float); images
 * with neither (or neither a valid RFC 3339 time) come last, without time.
 * Ties go by ID. size is the recorded size, else the sum of the recorded
 * big-data sizes (as image_store_usage() counts it). */
static int store_summaries(lua_State *L)
{
    lstore *s = store_check(L);
    int bidx;
    box *b = box_new(L, &bidx);
    if (s->st.images(&s->st, &b->images, &b->images_len) != 0)
        return fail_boxed(L, s, bidx);
    size_t n = b->images_len;
    summary_order *order = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*order), 0);
    for (size_t i = 0; i < n; i++) {
        const image_storage_images *img = &b->images[i];
        order[i].img = img;
        order[i].timed = (img->loaded != NULL && timestamp_parse(img->loaded, &order[i].t) == 0) ||
                         (img->created != NULL && timestamp_parse(img->created, &order[i].t) == 0);
    }
    qsort(order, n, sizeof(*order), compare_summaries);
    lua_createtable(L, table_size(n), 0);
    for (size_t i = 0; i < n; i++) {
        const image_storage_images *img = order[i].img;
        int64_t size = img->size;
        if (size < 0) {
            size = 0;
            for (size_t k = 0; k < img->big_data_names_len; k++)
                if (img->big_data_sizes != NULL && img->big_data_sizes[k] > 0)
                    size += img->big_data_sizes[k];
        }
        lua_createtable(L, 0, 8);
        push_opt_string(L, img->id);
        lua_setfield(L, -2, "id");
        push_string_array(L, img->names, img->names_len);
        lua_setfield(L, -2, "names");
        push_opt_string(L, img->loaded);
        lua_setfield(L, -2, "loaded");
        push_opt_string(L, img->created);
        lua_setfield(L, -2, "created");
        if (order[i].timed) {
            lua_pushnumber(L, (lua_Number)order[i].t.seconds + (lua_Number)order[i].t.nanos / 1e9);
            lua_setfield(L, -2, "time");
        }
        lua_pushinteger(L, (lua_Integer)size);
        lua_setfield(L, -2, "size");
        lua_pushboolean(L, img->read_only);
        lua_setfield(L, -2, "read_only");
        if (img->store != NULL) {
            lua_pushstring(L, img->store);
            lua_setfield(L, -2, "store");
        }
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    lua_closeslot(L, bidx);
    return 1;
}

/* ---------------------------------------------------------------- module */

/* core.sha256(data) --> "sha256:<hex>" */
static int core_sha256(lua_State *L)
{
    size_t len;
    const char *data = check_string(L, 1, &len);
    char out[72];
    if (image_store_sha256(out, data, len) != 0)
        return luaL_error(L, "sha256 failed");
    lua_pushstring(L, out);
    return 1;
}

/* ---------------------------------------------------------------- hooks */

static const char *const hook_kinds[] = {"name", "event", NULL};

/* Whether the store's hooks table (at -1) lists hooks of this kind. */
static bool has_hooks(lua_State *L, const char *kind)
{
    lua_getfield(L, -1, kind);
    bool has = lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
    return has;
}

/* Installs the trampolines for the kinds that have hooks (none: no cost). */
static int sync_hooks(lua_State *L, lstore *s)
{
    image_store_hooks hooks;
    imagestore_lua_hooks_bind(&s->hooks, &hooks);
    lua_getiuservalue(L, 1, 1);
    if (!has_hooks(L, "name"))
        hooks.name = NULL;
    if (!has_hooks(L, "event"))
        hooks.event = NULL;
    lua_pop(L, 1);
    return image_store_set_hooks(&s->st, hooks.name || hooks.event ? &hooks : NULL);
}

/* st:add_hook(kind, fn) --> true; kind is "name" or "event" (lua/imagestore_lua_hooks.h). */
static int store_add_hook(lua_State *L)
{
    lstore *s = store_check(L);
    int kind = check_option(L, 2, hook_kinds);
    check_type(L, 3, LUA_TFUNCTION);
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, hook_kinds[kind]);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 2);
    return push_result(L, s, sync_hooks(L, s));
}

/* st:remove_hook(fn) --> true if fn was a hook (every place it was), else false. */
static int store_remove_hook(lua_State *L)
{
    lstore *s = store_check(L);
    bool removed = false;
    check_type(L, 2, LUA_TFUNCTION);
    lua_getiuservalue(L, 1, 1);
    for (int i = 0; hook_kinds[i] != NULL; i++) {
        lua_getfield(L, -1, hook_kinds[i]);
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1), kept = 0;
        for (lua_Integer j = 1; j <= n; j++) {
            lua_rawgeti(L, -1, j);
            if (lua_rawequal(L, -1, 2)) {
                removed = true;
                lua_pop(L, 1);
                continue;
            }
            lua_rawseti(L, -2, ++kept);
        }
        for (lua_Integer j = kept + 1; j <= n; j++) {
            lua_pushnil(L);
            lua_rawseti(L, -2, j);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (sync_hooks(L, s) != 0)
        return push_store_error(L, s);
    lua_pushboolean(L, removed);
    return 1;
}

static const luaL_Reg store_methods[] = {
    {"add_hook", store_add_hook},
    {"remove_hook", store_remove_hook},
    {"set_names", store_set_names},
    {"add_name", store_add_name},
    {"remove_name", store_remove_name},
    {"delete", store_delete},
    {"batch", store_batch},
    {"wipe", store_wipe},
    {"save", store_save},
    {"load", store_load},
    {"set_loaded_time", store_set_loaded_time},
    {"set_metadata", store_set_metadata},
    {"set_size", store_set_size},
    {"set_big_data", store_set_big_data},
    {"problems", store_problems},
    {"check", store_check_disk},
    {"generation", store_generation},
    {"repair", store_repair},
    {"store_gc", store_store_gc},
    {"usage", store_usage},
    {"summaries", store_summaries},
    {"close", store_close},
    {NULL, NULL},
};

static const luaL_Reg store_meta[] = {
    {"__gc", store_release},
    {"__close", store_release},
    {"__tostring", store_tostring},
    {NULL, NULL},
};

static const luaL_Reg box_meta[] = {
    {"__gc", box_release},
    {"__close", box_release},
    {NULL, NULL},
};

static const luaL_Reg core_funcs[] = {
    {"open", core_open},
    {"sha256", core_sha256},
    {NULL, NULL},
};

LUA_EXPORT int luaopen_imagestore_core(lua_State *L);

/* luaL_setfuncs with each function's own name as its upvalue (arg_error). */
static void set_named_funcs(lua_State *L, const luaL_Reg *funcs)
{
    for (; funcs->name != NULL; funcs++) {
        lua_pushstring(L, funcs->name);
        lua_pushcclosure(L, funcs->func, 1);
        lua_setfield(L, -2, funcs->name);
    }
}

/* A method that returns images: its name, its getter (index into getters[],
 * or -1) and the keys of an image table (IMAGE_KEYS) as upvalues. */
static void set_image_method(lua_State *L, const char *name, lua_CFunction fn, int index)
{
    lua_pushstring(L, name);
    lua_pushinteger(L, index);
    for (int k = 0; k < K_COUNT; k++)
        lua_pushstring(L, image_keys[k]);
    lua_pushcclosure(L, fn, IMAGE_KEYS - 1 + K_COUNT);
    lua_setfield(L, -2, name);
}

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

LUA_EXPORT int luaopen_imagestore_core(lua_State *L)
{
    luaL_newmetatable(L, STORE_MT);
    luaL_setfuncs(L, store_meta, 0);
    lua_createtable(L, 0, COUNT_OF(store_methods) + G_COUNT);
    set_named_funcs(L, store_methods);
    set_image_method(L, "create", store_create, -1);
    for (int op = 0; op < G_COUNT; op++)
        set_image_method(L, getters[op].name, store_getter, op);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newmetatable(L, BOX_MT);
    luaL_setfuncs(L, box_meta, 0);
    lua_pop(L, 1);

    luaL_newlibtable(L, core_funcs);
    set_named_funcs(L, core_funcs);
    imagestore_json_register(L);
    imagestore_tar_register(L);
    imagestore_files_register(L);
    lua_pushliteral(L, IMAGESTORE_VERSION);
    lua_setfield(L, -2, "_VERSION");
    lua_pushliteral(L, IMAGESTORE_VERSION);
    lua_setfield(L, -2, "VERSION");
    return 1;
}
