/*
 * bench_clock: a wall clock for bench/bench.lua. Stock Lua only has os.clock()
 * (CPU time, which leaves out the time a durable write waits for the disk)
 * and os.time() (whole seconds).
 *
 *   local clock = require("bench_clock")
 *   clock.now()   --> CLOCK_MONOTONIC in seconds (a float)
 *   clock.rss()   --> VmRSS of this process in bytes, from /proc/self/status
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

int luaopen_bench_clock(lua_State *L);

static int clock_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int clock_rss(lua_State *L)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    if (f == NULL)
        return luaL_error(L, "cannot open /proc/self/status");
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    if (kb < 0)
        return luaL_error(L, "no VmRSS in /proc/self/status");
    lua_pushinteger(L, (lua_Integer)kb * 1024);
    return 1;
}

int luaopen_bench_clock(lua_State *L)
{
    static const luaL_Reg fns[] = {{"now", clock_now}, {"rss", clock_rss}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
