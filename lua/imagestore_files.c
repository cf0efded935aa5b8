/*
 * Files, digests and temp directories for the import scripts
 * (lua/imagestore/import.lua), part of imagestore.core. Nothing here
 * follows a final symbolic link or opens what is not a regular file (a FIFO
 * would hang a reader), and no read grows past the caller's limit.
 *
 *   file_stat(path [, follow]) --> {type = "file"|"directory"|"symlink"|"other",
 *                                    size =} (lstat, or stat when follow)
 *   file_read(path, limit) --> bytes ("ELIMIT" above limit, before reading)
 *   file_open(path) --> reader; reader:read(n) --> up to n bytes, "" at the end
 *   sha256_new() --> hasher; hasher:update(s) --> hasher;
 *                    hasher:digest() --> "sha256:<hex>" (once)
 *   temp_dir(base) --> a new private directory base/imagestore-import-XXXXXX
 *   host_machine() --> uname(2)'s machine ("x86_64", "aarch64", ...)
 *
 * Failures return nil, message, code: "ENOTFOUND" (no such file), "EINVAL"
 * (not a regular file), "ELIMIT", or the errno name ("EACCES", "EIO", ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <lauxlib.h>
#include <lua.h>

#include "imagestore_files.h"

#define FILE_READER_MT "imagestore.file.reader"
#define HASHER_MT "imagestore.sha256"
#define CHUNK_MAX 65536

static const char *errno_code(int err)
{
    if (err == ENOENT || err == ENOTDIR)
        return "ENOTFOUND";
    const char *name = strerrorname_np(err);
    return name != NULL ? name : "EIO";
}

static int push_errno(lua_State *L, const char *path, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    lua_pushstring(L, errno_code(err));
    return 3;
}

static int push_not_regular(lua_State *L, const char *path)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: not a regular file", path);
    lua_pushliteral(L, "EINVAL");
    return 3;
}

static const char *check_path(lua_State *L, int idx)
{
    size_t len;
    const char *path = luaL_checklstring(L, idx, &len);
    if (strlen(path) != len)
        luaL_argerror(L, idx, "path contains a NUL byte");
    return path;
}

/* Opens a regular file for reading without following a final symbolic link
 * and without blocking on a FIFO; -1 with errno (ELOOP, EINVAL) otherwise. */
static int open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

static int push_open_failure(lua_State *L, const char *path, int err)
{
    if (err == ELOOP || err == EINVAL)
        return push_not_regular(L, path);
    return push_errno(L, path, err);
}

/* file_stat(path [, follow]) --> {type=, size=} | nil, message, code */
static int file_stat(lua_State *L)
{
    const char *path = check_path(L, 1);
    struct stat st;
    if ((lua_toboolean(L, 2) ? stat(path, &st) : lstat(path, &st)) != 0)
        return push_errno(L, path, errno);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, S_ISREG(st.st_mode)   ? "file"
                      : S_ISDIR(st.st_mode) ? "directory"
                      : S_ISLNK(st.st_mode) ? "symlink"
                                            : "other");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    return 1;
}

static int push_too_big(lua_State *L, const char *path, long long size, lua_Integer limit)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s is %I bytes, above the limit of %I bytes", path, (lua_Integer)size,
                    limit);
    lua_pushliteral(L, "ELIMIT");
    return 3;
}

/* file_read(path, limit) --> bytes | nil, message, code */
static int file_read(lua_State *L)
{
    const char *path = check_path(L, 1);
    lua_Integer limit = luaL_checkinteger(L, 2);
    luaL_argcheck(L, limit >= 0, 2, "limit must be non-negative");
    struct stat st;
    int fd = open_regular(path, &st);
    if (fd < 0)
        return push_open_failure(L, path, errno);
    if (st.st_size > limit) {
        close(fd);
        return push_too_big(L, path, (long long)st.st_size, limit);
    }
    /* the file may grow after fstat: read at most limit + 1 bytes */
    luaL_Buffer b;
    size_t total = 0;
    luaL_buffinit(L, &b);
    for (;;) {
        size_t room = (size_t)limit + 1 - total;
        if (room == 0)
            break;
        char *p = luaL_prepbuffsize(&b, room < CHUNK_MAX ? room : CHUNK_MAX);
        ssize_t got = read(fd, p, room < CHUNK_MAX ? room : CHUNK_MAX);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            close(fd);
            return push_errno(L, path, err);
        }
        if (got == 0)
            break;
        luaL_addsize(&b, (size_t)got);
        total += (size_t)got;
    }
    close(fd);
    if (total > (size_t)limit)
        return push_too_big(L, path, (long long)total, limit);
    luaL_pushresult(&b);
    return 1;
}

typedef struct file_reader {
    int fd;
    const char *path; /* the Lua string in the user value */
} file_reader;

static file_reader *check_reader(lua_State *L)
{
    file_reader *r = luaL_checkudata(L, 1, FILE_READER_MT);
    if (r->fd < 0)
        luaL_error(L, "attempt to use a closed file reader");
    return r;
}

/* file_open(path) --> reader | nil, message, code */
static int file_open(lua_State *L)
{
    const char *path = check_path(L, 1);
    file_reader *r = lua_newuserdatauv(L, sizeof *r, 1);
    r->fd = -1;
    r->path = path;
    luaL_setmetatable(L, FILE_READER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    struct stat st;
    r->fd = open_regular(path, &st);
    if (r->fd < 0)
        return push_open_failure(L, path, errno);
    return 1;
}

/* reader:read(n) --> up to n bytes ("" at the end) | nil, message, code */
static int reader_read(lua_State *L)
{
    file_reader *r = check_reader(L);
    lua_Integer want = luaL_checkinteger(L, 2);
    luaL_argcheck(L, want > 0, 2, "byte count must be positive");
    size_t n = want > CHUNK_MAX ? CHUNK_MAX : (size_t)want;
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, n);
    ssize_t got;
    do
        got = read(r->fd, buf, n);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return push_errno(L, r->path, errno);
    luaL_pushresultsize(&b, (size_t)got);
    return 1;
}

static int reader_close(lua_State *L)
{
    file_reader *r = luaL_checkudata(L, 1, FILE_READER_MT);
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    return 0;
}

typedef struct hasher {
    EVP_MD_CTX *ctx; /* NULL once digest() was taken */
} hasher;

/* sha256_new() --> hasher */
static int sha256_new(lua_State *L)
{
    hasher *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->ctx = NULL;
    luaL_setmetatable(L, HASHER_MT);
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        return luaL_error(L, "sha256: cannot start a digest (out of memory)");
    return 1;
}

static hasher *check_hasher(lua_State *L)
{
    hasher *h = luaL_checkudata(L, 1, HASHER_MT);
    if (h->ctx == NULL)
        luaL_error(L, "attempt to use a finished sha256 hasher");
    return h;
}

/* hasher:update(s) --> hasher */
static int hasher_update(lua_State *L)
{
    hasher *h = check_hasher(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (EVP_DigestUpdate(h->ctx, s, len) != 1)
        return luaL_error(L, "sha256: digest update failed");
    lua_settop(L, 1);
    return 1;
}

/* hasher:digest() --> "sha256:<hex>"; the hasher is finished */
static int hasher_digest(lua_State *L)
{
    static const char hex[] = "0123456789abcdef";
    hasher *h = check_hasher(L);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(h->ctx, md, &len);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    if (ok != 1 || len != 32)
        return luaL_error(L, "sha256: digest failed");
    char out[7 + 64];
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < len; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    lua_pushlstring(L, out, sizeof out);
    return 1;
}

static int hasher_gc(lua_State *L)
{
    hasher *h = luaL_checkudata(L, 1, HASHER_MT);
    if (h->ctx != NULL) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
    return 0;
}

/* temp_dir(base) --> path | nil, message, code (mode 0700) */
static int temp_dir(lua_State *L)
{
    const char *base = check_path(L, 1);
    lua_pushfstring(L, "%s/imagestore-import-XXXXXX", base);
    size_t len;
    const char *tmpl = lua_tolstring(L, -1, &len);
    char *path = malloc(len + 1);
    if (path == NULL)
        return luaL_error(L, "out of memory");
    memcpy(path, tmpl, len + 1);
    if (mkdtemp(path) == NULL) {
        int err = errno;
        free(path);
        return push_errno(L, base, err);
    }
    lua_pushstring(L, path);
    free(path);
    return 1;
}

/* host_machine() --> "x86_64", "aarch64", ... */
static int host_machine(lua_State *L)
{
    struct utsname u;
    if (uname(&u) != 0)
        return push_errno(L, "uname", errno);
    lua_pushstring(L, u.machine);
    return 1;
}

void imagestore_files_register(lua_State *L)
{
    static const luaL_Reg reader_methods[] = {
        {"read", reader_read}, {"close", reader_close}, {NULL, NULL}};
    static const luaL_Reg reader_meta[] = {
        {"__gc", reader_close}, {"__close", reader_close}, {NULL, NULL}};
    static const luaL_Reg hasher_methods[] = {
        {"update", hasher_update}, {"digest", hasher_digest}, {NULL, NULL}};
    static const luaL_Reg hasher_meta[] = {{"__gc", hasher_gc}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"file_stat", file_stat}, {"file_read", file_read},       {"file_open", file_open},
        {"sha256_new", sha256_new}, {"temp_dir", temp_dir},       {"host_machine", host_machine},
        {NULL, NULL}};

    luaL_newmetatable(L, FILE_READER_MT);
    luaL_setfuncs(L, reader_meta, 0);
    luaL_newlib(L, reader_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, HASHER_MT);
    luaL_setfuncs(L, hasher_meta, 0);
    luaL_newlib(L, hasher_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
