/*
 * Fuzz target: reference resolution (full ID, name, repo@digest, ID prefix)
 * through the public API, on a small store made once in a temp directory
 * (below $TMPDIR, default /tmp), which is closed and removed at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static image_store_t st;
static bool ready;
static char dir[4096];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* At exit (libFuzzer's too, and the replay's): the store and its directory go. */
static void teardown(void)
{
    image_store_close(&st);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    const char *names[][2] = {{"docker.io/library/busybox:latest", "busybox"},
                              {"quay.io/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000", "x:1"}};
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if ((size_t)snprintf(dir, sizeof(dir), "%s/fuzz-reference-XXXXXX", tmp) >= sizeof(dir) ||
        mkdtemp(dir) == NULL)
        abort();
    if (new_image_store(false, false, dir, &st) != 0) {
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        abort();
    }
    atexit(teardown);
    for (int i = 0; i < 2; i++) {
        image_storage_images img;
        if (st.create(NULL, names[i], 2, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img) != 0)
            abort();
        st.set_big_data(&st, img.id, "manifest", i ? "m1" : "m0");
        image_storage_images_clear(&img);
    }
    ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    char *ref = malloc(size + 1);
    if (ref == NULL)
        return 0;
    memcpy(ref, data, size);
    ref[size] = '\0';
    char *id = NULL;
    image_storage_images img;
    if (st.lookup(ref, &st, &id) == 0) {
        if (strlen(id) != 64 || !st.exists(id, &st) || st.get(ref, &st, &img) != 0)
            abort();
        image_storage_images_clear(&img);
        free(id);
    } else {
        int code = image_store_error_code(&st);
        if (code != IMAGE_STORE_ENOTFOUND && code != IMAGE_STORE_EAMBIGUOUS &&
            code != IMAGE_STORE_EINVAL)
            abort();
    }
    image_storage_images *list = NULL;
    size_t n = 0;
    if (st.by_digest(&st, ref, &list, &n) == 0)
        image_storage_images_free(list, n);
    free(ref);
    return 0;
}
