/*
 * imagestore: the command. A small C host that embeds Lua 5.4, preloads the
 * imagestore module (its C part linked in, its Lua files built in by
 * scripts/embed-lua.lua) and runs the command-line logic, which is Lua:
 * lua/imagestore/cli.lua's main(args) returns the exit status.
 *
 * Exit status: 0 success, 1 the operation failed, 2 a usage error; an error
 * inside the Lua code itself is reported as "imagestore: internal error: ..."
 * with status 1 (IMAGESTORE_DEBUG=1 adds the traceback).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "embedded_lua.h"
#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

int luaopen_imagestore_core(lua_State *L);

/* host.isatty(fd) --> whether fd (0, 1 or 2) is a terminal */
static int host_isatty(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 2, 1, "0, 1 or 2 expected");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

/* host.columns(fd) --> the terminal's width, or nil */
static int host_columns(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 2, 1, "0, 1 or 2 expected");
    struct winsize ws;
    if (ioctl((int)fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 0;
    lua_pushinteger(L, ws.ws_col);
    return 1;
}

/* require("imagestore.cli_host"): what only the host can tell the CLI. */
static int open_cli_host(lua_State *L)
{
    static const luaL_Reg fns[] = {{"isatty", host_isatty}, {"columns", host_columns}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

/* The preload loader of one built-in module (upvalue: its embedded_lua):
 * compiled only when it is first required, so that a command that needs a
 * few modules does not compile them all. */
static int load_builtin(lua_State *L)
{
    const embedded_lua *m = lua_touserdata(L, lua_upvalueindex(1));
    char chunk[128];
    snprintf(chunk, sizeof chunk, "=[built-in %s]", m->name);
    if (luaL_loadbufferx(L, m->text, m->len, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_call(L, 1, 1);
    return 1;
}

/* package.preload[name] for every built-in module. */
static int preload_modules(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_imagestore_core);
    lua_setfield(L, -2, "imagestore.core");
    lua_pushcfunction(L, open_cli_host);
    lua_setfield(L, -2, "imagestore.cli_host");
    for (const embedded_lua *m = embedded_lua_modules; m->name != NULL; m++) {
        lua_pushlightuserdata(L, (void *)(uintptr_t)m);
        lua_pushcclosure(L, load_builtin, 1);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
    return 0;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    const char *debug = getenv("IMAGESTORE_DEBUG");
    if (debug != NULL && debug[0] != '\0' && debug[0] != '0')
        luaL_traceback(L, L, msg, 1);
    else
        lua_pushstring(L, msg);
    return 1;
}

/* Protected: preload, require the CLI, call main(args); the status on top. */
static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    preload_modules(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "imagestore.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fputs("imagestore: out of memory\n", stderr);
        return 1;
    }
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status;
    if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
        fprintf(stderr, "imagestore: internal error: %s\n", lua_tostring(L, -1));
        status = 1;
    } else {
        status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 1;
    }
    fflush(stdout);
    lua_close(L);
    return status;
}
