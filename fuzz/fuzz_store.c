/*
 * Fuzz target: a whole store directory. The input is a list of steps that
 * damage a small valid store (two images written as files) and plant things
 * around it: directories, files with the input's bytes, symlinks (to a
 * sentinel directory beside the store, to "..", to "/"), FIFOs and
 * truncations, anywhere from the store's top to a file of an image or of
 * .quarantine. Then every open mode runs every read member, check(),
 * repair() and a write on each image. It aborts when anything outside the
 * store changed; sanitizers and libFuzzer's timeout catch the rest. Each
 * input works in a fresh directory below $TMPDIR (default /tmp), removed
 * before the next.
 *
 * Built with clang -fsanitize=fuzzer,address for `make fuzz`, or with
 * fuzz/replay.c as a plain program that `make check` runs over the corpus.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ids[] = {
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
};

static const char *const names[] = {
    "images.json", "manifest", "config", "=c2hhMjU2OmFiYw==", ".imagestore.lock",
    ".imagestore.snapshot", "Stray File", "",
};

#define VICTIM "sentinel: nothing may change me\n"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    chmod(path, 0700);
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write(fd, data, len) < 0) { /* a FIFO without a reader, ...: fine */
    }
    close(fd);
}

/* Whether every directory on the way to path (below root) is a real one, so
 * that the harness itself never writes through a planted symlink. */
static int safe_parents(const char *root, const char *path)
{
    char buf[4400];
    size_t n = strlen(root);
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + n + 1; (p = strchr(p, '/')) != NULL; p++) {
        struct stat st;
        *p = '\0';
        int ok = lstat(buf, &st) == 0 ? S_ISDIR(st.st_mode) : mkdir(buf, 0700) == 0;
        *p = '/';
        if (!ok)
            return 0;
    }
    return 1;
}

static void valid_image(const char *store, int i)
{
    char path[4096], json[1024];
    snprintf(path, sizeof(path), "%s/%s", store, ids[i]);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s/manifest", store, ids[i]);
    put(path, "{}", 2);
    snprintf(json, sizeof(json),
             "{\"id\":\"%s\",\"names\":[\"img:%d\"],\"big-data-names\":[\"manifest\"],"
             "\"big-data-sizes\":{\"manifest\":2},\"big-data-digests\":{\"manifest\":"
             "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},"
             "\"created\":\"2020-01-01T00:00:00Z\"}",
             ids[i], i);
    snprintf(path, sizeof(path), "%s/%s/images.json", store, ids[i]);
    put(path, json, strlen(json));
}

/* Applies the input's steps below store. */
static void damage(const char *root, const char *store, const char *outside, const uint8_t *d,
                   size_t size)
{
    while (size >= 4) {
        unsigned op = d[0] % 6, slot = d[1] % 7, which = d[2] % 8;
        size_t len = d[3] < size - 4 ? d[3] : size - 4;
        const uint8_t *bytes = d + 4;
        d += 4 + len;
        size -= 4 + len;
        char base[4096], path[4200];
        if (slot < 4)
            snprintf(base, sizeof(base), "%s/%s", store, ids[slot]);
        else if (slot == 4)
            snprintf(base, sizeof(base), "%s", store);
        else
            snprintf(base, sizeof(base), "%s/.quarantine%s%s", store, slot == 6 ? "/" : "",
                     slot == 6 ? ids[0] : "");
        if (names[which][0] != '\0')
            snprintf(path, sizeof(path), "%s/%s", base, names[which]);
        else
            snprintf(path, sizeof(path), "%s", base);
        if (strcmp(path, store) == 0 || !safe_parents(root, path))
            continue; /* the store's own path is the caller's to choose: not damage */
        struct stat st;
        if (lstat(path, &st) == 0 && op != 5 && (!S_ISDIR(st.st_mode) || op != 0))
            rm_rf(path); /* make room */
        switch (op) {
        case 0:
            mkdir(path, 0700);
            break;
        case 1:
            put(path, bytes, len);
            break;
        case 2: {
            char target[4200];
            const char *targets[] = {outside, "..", "/", "images.json", "/dev/zero"};
            unsigned t = len ? bytes[0] % 6 : 0;
            if (t == 5)
                snprintf(target, sizeof(target), "%s/victim", outside);
            else
                snprintf(target, sizeof(target), "%s", targets[t]);
            if (symlink(target, path) != 0) {
            }
            break;
        }
        case 3:
            mkfifo(path, 0600);
            break;
        case 4: { /* a record of the slot's image holding the input's bytes */
            char json[1024];
            int n = snprintf(json, sizeof(json), "{\"id\":\"%s\",\"names\":[\"%.*s\"],\"x\":",
                             ids[slot % 4], (int)(len < 200 ? len : 200), (const char *)bytes);
            if (n > 0 && (size_t)n < sizeof(json) - 8) {
                memcpy(json + n, "[[1]]}", 7);
                put(path, json, strlen(json));
            }
            break;
        }
        case 5:
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && truncate(path, (off_t)len) != 0) {
            }
            break;
        }
    }
}

static void exercise(image_store_t *st, bool writable)
{
    image_storage_images *all = NULL;
    size_t n = 0;
    image_store_problem *p = NULL;
    size_t np = 0;
    if (st->problems(st, &p, &np) == 0)
        image_store_problems_free(p, np);
    if (st->images(st, &all, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *id = all[i].id;
        image_storage_images one;
        char *s = NULL, **keys = NULL;
        size_t nkeys = 0, len = 0;
        int64_t size;
        if (st->get(id, st, &one) == 0)
            image_storage_images_clear(&one);
        for (size_t k = 0; k < all[i].names_len; k++)
            if (st->lookup(all[i].names[k], st, &s) == 0)
                free(s), s = NULL;
        if (st->metadata(st, id, &s) == 0)
            free(s), s = NULL;
        if (all[i].digest != NULL) {
            image_storage_images *found = NULL;
            size_t nf = 0;
            if (st->by_digest(st, all[i].digest, &found, &nf) == 0)
                image_storage_images_free(found, nf);
        }
        if (st->big_data_names(st, id, &keys, &nkeys) == 0) {
            for (size_t k = 0; k < nkeys; k++) {
                if (st->big_data_len(st, id, keys[k], &s, &len) == 0)
                    free(s), s = NULL;
                if (st->big_data_digest(st, id, keys[k], &s) == 0)
                    free(s), s = NULL;
                st->big_data_size(st, id, keys[k], &size);
            }
            image_store_strings_free(keys, nkeys);
        }
        if (writable)
            st->set_size(st, id, 1);
    }
    image_storage_images_free(all, n);
    if (image_store_check(st, &p, &np) == 0)
        image_store_problems_free(p, np);
    image_store_check_options isulad = {true, NULL};
    p = NULL;
    np = 0;
    if (image_store_check_with(st, &isulad, &p, &np) == 0)
        image_store_problems_free(p, np);
    if (writable) {
        p = NULL;
        np = 0;
        image_store_repair(st, &p, &np);
        image_store_problems_free(p, np);
    }
}

/* The sentinel tree beside the store: a file and a directory with a file. */
static void sentinel_make(const char *outside)
{
    char path[4200];
    mkdir(outside, 0700);
    snprintf(path, sizeof(path), "%s/victim", outside);
    put(path, VICTIM, strlen(VICTIM));
    snprintf(path, sizeof(path), "%s/%s", outside, ids[0]);
    mkdir(path, 0700);
}

static int sentinel_intact(const char *outside)
{
    char path[4200], buf[128] = "";
    snprintf(path, sizeof(path), "%s/victim", outside);
    int fd = open(path, O_RDONLY | O_NOFOLLOW);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)strlen(VICTIM) || memcmp(buf, VICTIM, (size_t)n) != 0)
        return 0;
    int entries = 0;
    const char *dirs[] = {outside, NULL};
    snprintf(path, sizeof(path), "%s/%s", outside, ids[0]);
    dirs[1] = path;
    for (int i = 0; i < 2; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL)
            entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        if (d == NULL)
            return 0;
        closedir(d);
    }
    return entries == 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    char root[512];
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if ((size_t)snprintf(root, sizeof(root), "%s/fuzz_store-XXXXXX", tmp) >= sizeof(root) ||
        mkdtemp(root) == NULL)
        return 0;
    char store[600], outside[600];
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    sentinel_make(outside);
    mkdir(store, 0700);
    valid_image(store, 0);
    valid_image(store, 1);
    damage(root, store, outside, data, size);
    const struct {
        bool daemon, readonly;
    } modes[] = {{false, true}, {false, false}, {true, false}};
    for (size_t m = 0; m < 3; m++) {
        image_store_t st;
        if (new_image_store(modes[m].daemon, modes[m].readonly, store, &st) == 0)
            exercise(&st, !modes[m].readonly);
        image_store_close(&st);
    }
    if (!sentinel_intact(outside))
        abort(); /* something outside the store changed */
    rm_rf(root);
    return 0;
}
