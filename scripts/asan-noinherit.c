/*
 * Preloaded (after libasan) into the lua5.4 that runs busted under ASan.
 *
 * The dynamic loader reads LD_PRELOAD once, at start-up, so removing it from
 * the environment here keeps ASan in this process but not in the programs
 * the specs start (sh, mktemp, cp, ...). Those are not ours, and with the
 * ASan runtime preloaded LeakSanitizer would fail them for their own
 * deliberate leaks at exit. A spec that starts a Lua interpreter which loads
 * the sanitized module must preload the runtime again: the Makefile exports
 * IMAGESTORE_LUA for that ("env LD_PRELOAD=... lua5.4").
 *
 * Part of the build tooling, not of the library; built only by SANITIZE=1.
 */
#define _POSIX_C_SOURCE 200112L
#include <stdlib.h>

__attribute__((constructor)) static void asan_noinherit(void)
{
    unsetenv("LD_PRELOAD");
}
