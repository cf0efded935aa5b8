/*
 * image_store_gc() and image_store_usage() (core/store_gc.c): the store's
 * own garbage (temp entries, unrecorded big-data files, old quarantined
 * entries) removed under the exclusive lock or listed in a dry run, never
 * through a symlink, going on past a removal that fails; and the usage
 * figures (images, recorded sizes, disk blocks without following symlinks,
 * hard links once, the store itself only). Runs itself again under the
 * fault shim (build/test/fault_shim.so) for the failing removal.
 *
 * Prints TAP. Exits 1 when any test failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "image_store.h"
#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static char root[64], dir[96], outside[96];

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A path in a static ring of buffers (enough for one statement's uses). */
static char *pathf(const char *fmt, ...)
{
    static char ring[8][4096];
    static int next;
    char *p = ring[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, 4096, fmt, ap);
    va_end(ap);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void die_store(image_store_t *st, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, image_store_error_message(st));
    exit(2);
}

/* Three images: A with a manifest (7 bytes), B with a recorded size of
 * 1000 and a config, C without big data; then garbage around them. */
static void setup(void)
{
    rm_rf(dir);
    rm_rf(outside);
    image_store_t st;
    const char *na[] = {"a:1"}, *nb[] = {"b:1"};
    if (new_image_store(false, false, dir, &st) != 0 ||
        st.create(ID_A, na, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0 ||
        st.set_big_data(&st, ID_A, "manifest", "{\"a\":1}") != 0 ||
        st.create(ID_B, nb, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0 ||
        st.set_big_data(&st, ID_B, "config", "a config") != 0 ||
        st.set_size(&st, ID_B, 1000) != 0 ||
        st.create(ID_C, NULL, 0, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0)
        die_store(&st, "setup");
    image_store_close(&st);
    mkdir(pathf("%s/.tmp-00000000000000aa", dir), 0700);
    put(pathf("%s/.tmp-00000000000000aa/images.json", dir), "{}");
    put(pathf("%s/%s/.tmp-00000000000000bb", dir, ID_A), "half a file");
    put(pathf("%s/%s/sha256", dir, ID_A), "unrecorded big data");
    put(pathf("%s/%s/Stray.TXT", dir, ID_A), "no big-data file name");
    mkdir(outside, 0700);
    put(pathf("%s/precious", outside), "outside the store");
    if (symlink(pathf("%s/precious", outside), pathf("%s/%s/manifest2", dir, ID_C)) != 0 ||
        symlink(outside, pathf("%s/.tmp-00000000000000cc", dir)) != 0) {
        perror("symlink");
        exit(2);
    }
}

static void open_store(image_store_t *st, bool readonly)
{
    if (new_image_store(false, readonly, dir, st) != 0)
        die_store(st, "open");
}

/* "<kind> <path below dir>" of each entry, joined by "; ". */
static char *summary(const image_store_gc_entry *e, size_t n)
{
    static char out[8192];
    size_t len = 0, skip = strlen(dir) + 1;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < sizeof(out); i++)
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s %s", i ? "; " : "", e[i].kind,
                                strlen(e[i].path) > skip ? e[i].path + skip : e[i].path);
    return out;
}

static const char *WANT_GARBAGE =
    "temp-file .tmp-00000000000000aa; temp-file .tmp-00000000000000cc; "
    "temp-file " ID_A "/.tmp-00000000000000bb; orphan-file " ID_A "/sha256";

static int tree_sum;
static int sum_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    tree_sum += (int)st->st_blocks * 512;
    return 0;
}

/* du of a tree, not following symlinks, as nftw sees it. */
static int64_t du(const char *path)
{
    tree_sum = 0;
    nftw(path, sum_entry, 16, FTW_PHYS);
    return tree_sum;
}

static void test_dry_run_lists_and_changes_nothing(void)
{
    setup();
    image_store_t st;
    open_store(&st, true);
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options o = {.dry_run = true};
    check(image_store_gc(&st, &o, &e, &n) == 0, "dry run on a read-only store: %s",
          image_store_error_message(&st));
    check(strcmp(summary(e, n), WANT_GARBAGE) == 0, "dry run lists the garbage: %s", summary(e, n));
    check(n == 4 && strcmp(e[3].problem, "would remove big-data file sha256 of image " ID_A
                                         ", which its record does not name") == 0,
          "dry run sentence: %s", n == 4 ? e[3].problem : "?");
    check(n == 4 && e[0].bytes == du(pathf("%s/.tmp-00000000000000aa", dir)) && e[1].bytes == 0 &&
              e[3].bytes > 0,
          "bytes: the tree's blocks, a symlink's own (%lld, %lld)", n ? (long long)e[0].bytes : -1,
          n > 1 ? (long long)e[1].bytes : -1);
    check(exists(pathf("%s/.tmp-00000000000000aa", dir)) && exists(pathf("%s/%s/sha256", dir, ID_A)),
          "dry run removes nothing");
    image_store_gc_entries_free(e, n);
    check(image_store_gc(&st, NULL, &e, &n) == -1 && image_store_error_code(&st) == IMAGE_STORE_EREADONLY &&
              strcmp(image_store_error_message(&st), "store is read-only: cannot collect garbage") == 0,
          "removal on a read-only store: EREADONLY (%s)", image_store_error_message(&st));
    check(e == NULL && n == 0, "nothing returned on that failure");
    image_store_close(&st);
}

static void test_removes_garbage_and_nothing_else(void)
{
    setup();
    image_store_t st;
    open_store(&st, false);
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    check(image_store_gc(&st, NULL, &e, &n) == 0, "gc: %s", image_store_error_message(&st));
    check(strcmp(summary(e, n), WANT_GARBAGE) == 0, "gc removed the garbage: %s", summary(e, n));
    check(n == 4 && strcmp(e[0].problem, "removed leftover temporary entry .tmp-00000000000000aa") == 0 &&
              strcmp(e[2].problem, "removed leftover temporary file .tmp-00000000000000bb of image " ID_A) == 0,
          "sentences: %s / %s", n ? e[0].problem : "?", n > 2 ? e[2].problem : "?");
    image_store_gc_entries_free(e, n);
    check(!exists(pathf("%s/.tmp-00000000000000aa", dir)) && !exists(pathf("%s/.tmp-00000000000000cc", dir)) &&
              !exists(pathf("%s/%s/.tmp-00000000000000bb", dir, ID_A)) &&
              !exists(pathf("%s/%s/sha256", dir, ID_A)),
          "the garbage is gone");
    check(exists(pathf("%s/%s/Stray.TXT", dir, ID_A)) && exists(pathf("%s/%s/manifest", dir, ID_A)) &&
              exists(pathf("%s/%s/manifest2", dir, ID_C)) && exists(pathf("%s/precious", outside)),
          "stray files, recorded files, symlinks in images and what links point at stay");
    char *data = NULL;
    check(st.big_data(&st, ID_A, "manifest", &data) == 0 && strcmp(data, "{\"a\":1}") == 0,
          "the images are intact");
    free(data);
    check(image_store_gc(&st, NULL, &e, &n) == 0 && n == 0, "nothing is left to collect");
    image_store_gc_entries_free(e, n);
    image_store_close(&st);
}

static void test_quarantine_by_age(void)
{
    setup();
    image_store_t st;
    open_store(&st, false);
    mkdir(pathf("%s/.quarantine", dir), 0700);
    mkdir(pathf("%s/.quarantine/junk", dir), 0700);
    put(pathf("%s/.quarantine/junk/file", dir), "old junk");
    symlink(outside, pathf("%s/.quarantine/link", dir));
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options young = {.dry_run = true, .quarantine = true, .quarantine_age = 3600};
    int rc = image_store_gc(&st, &young, &e, &n);
    check(rc == 0 && n == 4, "entries changed now are not old (%zu)", n);
    image_store_gc_entries_free(e, n);
    image_store_gc_options old = {.quarantine = true, .quarantine_age = 3600,
                                  .now = (int64_t)time(NULL) + 7200};
    rc = image_store_gc(&st, &old, &e, &n);
    check(rc == 0 && n == 6, "gc with an age: %s (%zu)", image_store_error_message(&st), n);
    check(n == 6 && strcmp(e[4].kind, "quarantined") == 0 &&
              strcmp(e[4].path, pathf("%s/.quarantine/junk", dir)) == 0 &&
              strcmp(e[4].problem, "removed quarantined junk, unchanged for more than 3600 seconds") == 0 &&
              strcmp(e[5].path, pathf("%s/.quarantine/link", dir)) == 0,
          "quarantined entries come last: %s: %s", n > 4 ? e[4].path : "?", n > 4 ? e[4].problem : "?");
    image_store_gc_entries_free(e, n);
    check(!exists(pathf("%s/.quarantine/junk", dir)) && !exists(pathf("%s/.quarantine/link", dir)) &&
              exists(pathf("%s/precious", outside)),
          "removed, the link and not what it points at");
    image_store_close(&st);
}

static void test_quarantine_symlink_is_not_followed(void)
{
    setup();
    image_store_t st;
    open_store(&st, false);
    mkdir(pathf("%s/old", outside), 0700);
    symlink(outside, pathf("%s/.quarantine", dir));
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options o = {.quarantine = true, .quarantine_age = 0, .now = (int64_t)time(NULL) + 7200};
    int rc = image_store_gc(&st, &o, &e, &n);
    check(rc == 0 && n == 4, "gc with .quarantine a symlink: %s (%zu)", image_store_error_message(&st), n);
    image_store_gc_entries_free(e, n);
    check(exists(pathf("%s/old", outside)) && exists(pathf("%s/precious", outside)),
          "nothing where the symlink points is removed");
    image_store_close(&st);
}

static void test_refusals(void)
{
    setup();
    image_store_t st;
    open_store(&st, false);
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options neg = {.quarantine = true, .quarantine_age = -1};
    check(image_store_gc(&st, &neg, &e, &n) == -1 && image_store_error_code(&st) == IMAGE_STORE_EINVAL &&
              strcmp(image_store_error_message(&st), "gc: quarantine_age is negative") == 0,
          "a negative age: EINVAL (%s)", image_store_error_message(&st));
    check(image_store_gc(&st, NULL, NULL, &n) == -1 && image_store_error_code(&st) == IMAGE_STORE_EINVAL,
          "NULL out-parameter: EINVAL");
    check(image_store_batch_begin(&st) == 0, "batch begins");
    check(image_store_gc(&st, NULL, &e, &n) == -1 &&
              strcmp(image_store_error_message(&st), "cannot collect garbage inside a batch") == 0,
          "inside a batch: EINVAL (%s)", image_store_error_message(&st));
    image_store_batch_abort(&st);
    check(exists(pathf("%s/.tmp-00000000000000aa", dir)), "nothing removed by the refusals");
    image_store_close(&st);
    check(image_store_gc(&st, NULL, &e, &n) == -1 && image_store_error_code(&st) == IMAGE_STORE_EINVAL,
          "closed store: EINVAL");
    image_store_usage_figures u;
    check(image_store_usage(&st, &u) == -1 && image_store_error_code(&st) == IMAGE_STORE_EINVAL,
          "usage of a closed store: EINVAL");
    check(image_store_gc(NULL, NULL, &e, &n) == -1 && image_store_usage(NULL, &u) == -1, "NULL store");
}

static void test_foreign_layout(void)
{
    rm_rf(dir);
    mkdir(dir, 0700);
    put(pathf("%s/images.json", dir), "[]");
    image_store_t st;
    open_store(&st, true);
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    image_store_gc_options o = {.dry_run = true};
    check(image_store_gc(&st, &o, &e, &n) == -1 && image_store_error_code(&st) == IMAGE_STORE_ELAYOUT,
          "containers/storage's layout: ELAYOUT (%s)", image_store_error_message(&st));
    image_store_usage_figures u = {9, 9, 9};
    check(image_store_usage(&st, &u) == 0 && u.images == 0 && u.size == 0 && u.disk_bytes == 0,
          "its usage: no images");
    image_store_close(&st);
}

/* The second of the four removals fails: the others happen, the call says so. */
static void test_goes_on_past_a_failed_removal(void)
{
    setup();
    image_store_t st;
    open_store(&st, false);
    image_store_gc_entry *e = NULL;
    size_t n = 0;
    setenv("IMAGESTORE_FAULT_PATH", ".tmp-00000000000000cc", 1);
    setenv("IMAGESTORE_FAULT", "unlink:1:EIO", 1);
    int rc = image_store_gc(&st, NULL, &e, &n);
    unsetenv("IMAGESTORE_FAULT");
    unsetenv("IMAGESTORE_FAULT_PATH");
    check(rc == -1 && image_store_error_errno(&st) == EIO &&
              strcmp(image_store_error_message(&st),
                     pathf("remove %s/.tmp-00000000000000cc: Input/output error", dir)) == 0,
          "the failure is reported: %s", image_store_error_message(&st));
    check(strcmp(summary(e, n), "temp-file .tmp-00000000000000aa; temp-file " ID_A
                                "/.tmp-00000000000000bb; orphan-file " ID_A "/sha256") == 0,
          "the others were removed and listed: %s", summary(e, n));
    image_store_gc_entries_free(e, n);
    check(exists(pathf("%s/.tmp-00000000000000cc", dir)) && !exists(pathf("%s/%s/sha256", dir, ID_A)),
          "the disk says the same");
    image_store_close(&st);
}

static void test_usage(void)
{
    setup();
    image_store_t st;
    open_store(&st, true);
    image_store_usage_figures u;
    check(image_store_usage(&st, &u) == 0, "usage: %s", image_store_error_message(&st));
    check(u.images == 3, "three images (%zu)", u.images);
    check(u.size == 7 + 1000, "size: A's big data, B's recorded size, C nothing (%lld)", (long long)u.size);
    int64_t want = du(pathf("%s/%s", dir, ID_A)) + du(pathf("%s/%s", dir, ID_B)) + du(pathf("%s/%s", dir, ID_C));
    check(u.disk_bytes == want, "disk bytes as du counts them, symlinks not followed (%lld, want %lld)",
          (long long)u.disk_bytes, (long long)want);
    /* a second link to a file in another image: counted once */
    if (link(pathf("%s/%s/manifest", dir, ID_A), pathf("%s/%s/hardlink", dir, ID_C)) != 0)
        perror("link");
    image_store_usage_figures again = {0, 0, 0};
    int rc = image_store_usage(&st, &again);
    check(rc == 0 && again.disk_bytes == u.disk_bytes, "a hard link counts once (%lld)",
          (long long)again.disk_bytes);
    image_store_close(&st);
}

static void test_usage_of_the_store_itself_only(void)
{
    setup();
    char lower[128];
    snprintf(lower, sizeof(lower), "%s/lower", root);
    rm_rf(lower);
    image_store_t st;
    const char *names[] = {"lower:1"};
    if (new_image_store(false, false, lower, &st) != 0 ||
        st.create(NULL, names, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0 ||
        st.set_size(&st, "lower:1", 5000) != 0)
        die_store(&st, "lower");
    image_store_close(&st);
    const char *additional[] = {lower};
    image_store_options o = {.additional = additional, .additional_len = 1};
    if (image_store_open(&st, dir, &o) != 0)
        die_store(&st, "open with an additional store");
    image_store_usage_figures u = {0, 0, 0};
    int rc = image_store_usage(&st, &u);
    check(rc == 0 && u.images == 3 && u.size == 1007,
          "an additional store's images are not counted (%zu, %lld)", u.images, (long long)u.size);
    rc = image_store_batch_begin(&st) == 0 && st.delete(ID_B, &st) == 0 ? image_store_usage(&st, &u) : -1;
    check(rc == 0 && u.images == 2 && u.size == 7,
          "inside a batch: what the batch made of it (%zu, %lld)", u.images, (long long)u.size);
    image_store_batch_abort(&st);
    image_store_close(&st);
    rm_rf(lower);
}

static const test_case tests[] = {
    TEST_CASE(test_dry_run_lists_and_changes_nothing),
    TEST_CASE(test_removes_garbage_and_nothing_else),
    TEST_CASE(test_quarantine_by_age),
    TEST_CASE(test_quarantine_symlink_is_not_followed),
    TEST_CASE(test_refusals),
    TEST_CASE(test_foreign_layout),
    TEST_CASE(test_goes_on_past_a_failed_removal),
    TEST_CASE(test_usage),
    TEST_CASE(test_usage_of_the_store_itself_only),
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = rerun_under_fault_shim(argv);
    if (rc != 0)
        return rc;
    (void)argc;
    char template[] = "/tmp/store_gc_test-XXXXXX";
    if (mkdtemp(template) == NULL)
        return 2;
    snprintf(root, sizeof(root), "%s", template);
    snprintf(dir, sizeof(dir), "%s/store", template);
    snprintf(outside, sizeof(outside), "%s/outside", template);
    RUN_CASES(tests);
    rm_rf(template);
    return tap_done();
}
