/*
 * Reading tar archives for the import scripts, through libarchive: the
 * functions behind require("imagestore.tar") (lua/imagestore/tar.lua).
 * Nothing is ever extracted: entries are listed and read into Lua strings.
 *
 *   tar_open(path) --> reader | nil, message, code
 *   reader:next() --> entry | nil (the end) | nil, message, code
 *       entry = {path=, type="file"|"directory"|"symlink"|"hardlink"|"other",
 *                size=, link=}
 *   reader:read(n) --> up to n bytes of the current entry ("" at its end)
 *                      | nil, message, code
 *   reader:close(); readers are also closed by <close> and __gc
 *
 * An entry whose path is absolute or has a ".." component, or a link whose
 * target would leave the archive, is an error ("EINVAL") naming the entry:
 * an import stops there rather than skip what it cannot place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include <lauxlib.h>
#include <lua.h>

#include "imagestore_tar.h"

#define TAR_READER_MT "imagestore.tar.reader"
#define TAR_BLOCK 65536

typedef struct tar_reader {
    struct archive *a;
    bool in_entry;    /* next() returned an entry that read() may read */
    bool failed;      /* a read error: the archive cannot go on */
    int fd;           /* the archive file (libarchive reads it, we close it) */
    const char *path; /* for messages: the Lua string in the user value */
} tar_reader;

static tar_reader *check_reader(lua_State *L)
{
    tar_reader *r = luaL_checkudata(L, 1, TAR_READER_MT);
    if (r->a == NULL)
        luaL_error(L, "attempt to use a closed tar reader");
    return r;
}

static int push_failure(lua_State *L, const char *code, const char *fmt, ...)
{
    va_list ap;
    lua_pushnil(L);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushstring(L, code);
    return 3;
}

/* The archive's own error: ESYS for a system call's errno, else EINVAL (not
 * a tar, truncated, corrupt). */
static int push_archive_error(lua_State *L, tar_reader *r, const char *what)
{
    int err = archive_errno(r->a);
    const char *msg = archive_error_string(r->a);
    r->failed = true;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s: %s", r->path, what, msg != NULL ? msg : "unknown error");
    /* libarchive reports a short archive as ARCHIVE_ERRNO_MISC or
     * ARCHIVE_ERRNO_FILE_FORMAT; real I/O failures carry errno values */
    lua_pushstring(L, err == EIO || err == ENOMEM || err == EACCES ? "ESYS" : "EINVAL");
    return 3;
}

/* Whether a relative path stays inside the archive: no leading '/', no ".."
 * component. "./x" and "x//y" are fine. */
static bool path_stays_inside(const char *p)
{
    if (p == NULL || p[0] == '\0' || p[0] == '/')
        return false;
    for (const char *c = p; *c != '\0';) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return false;
        c += n;
        while (*c == '/')
            c++;
    }
    return true;
}

/* A symlink's target, relative to the link's directory, stays inside. */
static bool symlink_stays_inside(const char *link_path, const char *target)
{
    if (target == NULL || target[0] == '\0' || target[0] == '/')
        return false;
    int depth = 0; /* directories below the archive's top */
    for (const char *c = link_path; *c != '\0';) {
        size_t n = strcspn(c, "/");
        if (c[n] == '\0')
            break; /* the link's own name */
        if (!(n == 1 && c[0] == '.') && n > 0)
            depth++;
        c += n;
        while (*c == '/')
            c++;
    }
    for (const char *c = target; *c != '\0';) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (n > 0 && !(n == 1 && c[0] == '.')) {
            depth++;
        }
        c += n;
        while (*c == '/')
            c++;
    }
    return true;
}

static const char *type_name(mode_t type)
{
    switch (type) {
    case AE_IFREG: return "file";
    case AE_IFDIR: return "directory";
    case AE_IFLNK: return "symlink";
    default: return "other";
    }
}

static int reader_next(lua_State *L)
{
    tar_reader *r = check_reader(L);
    struct archive_entry *e;
    if (r->failed)
        return push_failure(L, "EINVAL", "%s: cannot go on after an earlier error", r->path);
    r->in_entry = false;
    int rc = archive_read_next_header(r->a, &e);
    if (rc == ARCHIVE_EOF) {
        lua_pushnil(L);
        return 1;
    }
    if (rc < ARCHIVE_WARN)
        return push_archive_error(L, r, "reading the next entry");

    const char *path = archive_entry_pathname(e);
    const char *hardlink = archive_entry_hardlink(e);
    const char *symlink = archive_entry_symlink(e);
    if (path == NULL)
        return push_failure(L, "EINVAL", "%s: an entry has no path", r->path);
    if (!path_stays_inside(path))
        return push_failure(L, "EINVAL", "%s: entry \"%s\": an absolute path or one with \"..\" "
                            "would leave the archive", r->path, path);
    if (hardlink != NULL && !path_stays_inside(hardlink))
        return push_failure(L, "EINVAL", "%s: entry \"%s\": a hard link to \"%s\", outside the "
                            "archive", r->path, path, hardlink);
    if (symlink != NULL && archive_entry_filetype(e) == AE_IFLNK &&
        !symlink_stays_inside(path, symlink))
        return push_failure(L, "EINVAL", "%s: entry \"%s\": a symbolic link to \"%s\", outside "
                            "the archive", r->path, path, symlink);

    lua_createtable(L, 0, 4);
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, hardlink != NULL ? "hardlink" : type_name(archive_entry_filetype(e)));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, archive_entry_size_is_set(e) ? (lua_Integer)archive_entry_size(e) : 0);
    lua_setfield(L, -2, "size");
    if (hardlink != NULL || symlink != NULL) {
        lua_pushstring(L, hardlink != NULL ? hardlink : symlink);
        lua_setfield(L, -2, "link");
    }
    r->in_entry = true;
    return 1;
}

static int reader_read(lua_State *L)
{
    tar_reader *r = check_reader(L);
    lua_Integer want = luaL_checkinteger(L, 2);
    luaL_argcheck(L, want > 0, 2, "byte count must be positive");
    if (r->failed)
        return push_failure(L, "EINVAL", "%s: cannot go on after an earlier error", r->path);
    if (!r->in_entry)
        return luaL_error(L, "read() before next() gave an entry");
    size_t n = want > TAR_BLOCK ? TAR_BLOCK : (size_t)want;
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, n);
    la_ssize_t got = archive_read_data(r->a, buf, n);
    if (got < 0)
        return push_archive_error(L, r, "reading an entry");
    luaL_pushresultsize(&b, (size_t)got);
    return 1;
}

static void reader_release(tar_reader *r)
{
    if (r->a != NULL) {
        archive_read_free(r->a);
        r->a = NULL;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
}

static int reader_close(lua_State *L)
{
    reader_release(luaL_checkudata(L, 1, TAR_READER_MT));
    return 0;
}

static int reader_tostring(lua_State *L)
{
    tar_reader *r = luaL_checkudata(L, 1, TAR_READER_MT);
    lua_pushfstring(L, "tar reader (%s)%s", r->path ? r->path : "?", r->a ? "" : " (closed)");
    return 1;
}

static int tar_open(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "bad argument #1 to 'open' (string expected, got %s)",
                          luaL_typename(L, 1));
    const char *path = lua_tolstring(L, 1, &len);
    if (strlen(path) != len)
        return push_failure(L, "EINVAL", "invalid tar path: contains a NUL byte");
    tar_reader *r = lua_newuserdatauv(L, sizeof *r, 1);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    luaL_setmetatable(L, TAR_READER_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* keeps the path string alive */
    r->path = path;

    /* O_NONBLOCK: a FIFO must not hang the open; a regular file only */
    struct stat st;
    r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (r->fd < 0) {
        int err = errno;
        return push_failure(L, err == ENOENT ? "ENOTFOUND" : "ESYS", "%s: %s", path, strerror(err));
    }
    if (fstat(r->fd, &st) != 0) {
        int err = errno;
        reader_release(r);
        return push_failure(L, "ESYS", "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        reader_release(r);
        return push_failure(L, "EINVAL", "%s: not a regular file", path);
    }
    int flags = fcntl(r->fd, F_GETFL);
    if (flags >= 0)
        fcntl(r->fd, F_SETFL, flags & ~O_NONBLOCK);
    if ((r->a = archive_read_new()) == NULL)
        return luaL_error(L, "out of memory");
    /* tar in its variants (ustar, pax, GNU), compressed or not */
    archive_read_support_format_tar(r->a);
    archive_read_support_format_gnutar(r->a);
    archive_read_support_filter_all(r->a);
    if (archive_read_open_fd(r->a, r->fd, TAR_BLOCK) != ARCHIVE_OK) {
        const char *msg = archive_error_string(r->a);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: not a tar archive (%s)", path, msg != NULL ? msg : "cannot open");
        lua_pushliteral(L, "EINVAL");
        reader_release(r);
        return 3;
    }
    return 1;
}

void imagestore_tar_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", reader_next}, {"read", reader_read}, {"close", reader_close}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", reader_close}, {"__close", reader_close}, {"__tostring", reader_tostring},
        {NULL, NULL}};
    luaL_newmetatable(L, TAR_READER_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, tar_open);
    lua_setfield(L, -2, "tar_open");
}
