/*
 * Fuzz target: reference resolution (full ID, name, repo@digest, ID prefix)
 * through the public API, on a small store made once in a temp directory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static image_store_t st;
static bool ready;

static void setup(void)
{
    char dir[] = "/tmp/fuzz-reference-XXXXXX";
    const char *names[][2] = {{"docker.io/library/busybox:latest", "busybox"},
                              {"quay.io/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000", "x:1"}};
    if (mkdtemp(dir) == NULL || new_image_store(false, false, dir, &st) != 0)
        abort();
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
