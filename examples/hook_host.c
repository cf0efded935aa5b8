/*
 * hook_host: a C program that embeds an image store and a Lua state, and
 * lets a Lua file govern the store through its hooks (lua/imagestore_lua_hooks.h).
 *
 *   hook_host DIR HOOKS.lua create NAME...   create an image; prints its ID
 *   hook_host DIR HOOKS.lua tag REF NAME     add a name
 *   hook_host DIR HOOKS.lua show REF         the image's ID and names
 *   hook_host DIR HOOKS.lua rmi REF          delete the image
 *
 * HOOKS.lua returns { name = fn | {fn...}, event = fn | {fn...} }. The store
 * is the C one: this program does not load the Lua module imagestore.
 * Failures print "hook_host: <message> (<code>)" and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_store.h"
#include "lauxlib.h"
#include "lua.h"
#include "imagestore_lua_hooks.h"
#include "lualib.h"

static int fail_store(const image_store_t *st)
{
    fprintf(stderr, "hook_host: %s (%s)\n", image_store_error_message(st),
            image_store_error_name(st));
    return 1;
}

/* Runs the hooks file; its table goes to the registry, its reference to *ref. */
static int load_hooks(lua_State *L, const char *file, int *ref)
{
    if (luaL_loadfile(L, file) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "hook_host: %s\n", lua_tostring(L, -1));
        return -1;
    }
    if (!lua_istable(L, -1)) {
        fprintf(stderr, "hook_host: %s must return a table of hooks, not a %s\n", file,
                luaL_typename(L, -1));
        return -1;
    }
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int show(image_store_t *st, const char *ref)
{
    image_storage_images img;
    if (st->get(ref, st, &img) != 0)
        return fail_store(st);
    printf("%s", img.id);
    for (size_t i = 0; i < img.names_len; i++)
        printf(" %s", img.names[i]);
    printf("\n");
    image_storage_images_clear(&img);
    return 0;
}

static int run(image_store_t *st, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "create") == 0) {
        image_storage_images img;
        const char **names = calloc((size_t)argc, sizeof(*names));
        if (names == NULL)
            return 1;
        for (int i = 1; i < argc; i++)
            names[i - 1] = argv[i];
        int rc = st->create(NULL, names, (size_t)(argc - 1), NULL, "{}", IMAGE_TIME_NOW, NULL,
                            st, &img);
        free(names);
        if (rc != 0)
            return fail_store(st);
        printf("%s\n", img.id);
        image_storage_images_clear(&img);
        return 0;
    }
    if (strcmp(cmd, "tag") == 0 && argc == 3)
        return st->add_name(argv[1], argv[2], st) == 0 ? 0 : fail_store(st);
    if (strcmp(cmd, "show") == 0 && argc == 2)
        return show(st, argv[1]);
    if (strcmp(cmd, "rmi") == 0 && argc == 2)
        return st->delete(argv[1], st) == 0 ? 0 : fail_store(st);
    fprintf(stderr, "hook_host: unknown command or wrong arguments: %s\n", cmd);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: hook_host DIR HOOKS.lua create NAME... | tag REF NAME | "
                        "show REF | rmi REF\n");
        return 2;
    }
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return 1;
    luaL_openlibs(L);
    imagestore_lua_hooks lh = {.L = L, .self_index = 0};
    image_store_t st;
    int status = 1;
    if (load_hooks(L, argv[2], &lh.table_ref) != 0)
        goto done_lua;
    if (new_image_store(false, false, argv[1], &st) != 0) {
        fail_store(&st);
        goto done_store;
    }
    image_store_hooks hooks;
    imagestore_lua_hooks_bind(&lh, &hooks);
    if (image_store_set_hooks(&st, &hooks) != 0) {
        fail_store(&st);
        goto done_store;
    }
    status = run(&st, argc - 3, argv + 3);
done_store:
    image_store_close(&st);
done_lua:
    lua_close(L);
    return status;
}
