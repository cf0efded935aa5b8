/*
 * Read errors are not content errors (issue 9, findings 4, 5 and 15): with
 * EIO injected on reading records or big-data files, a daemon open, check()
 * and repair() report what they could not read and move, drop or change
 * nothing; a repair() that meets a failing step goes on and reports all it
 * did; and a closed store says so. Runs itself again under the fault shim
 * (build/test/fault_shim.so), as fault_test does.
 *
 * Prints TAP. Exits 1 when any test failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "image_store.h"
#include "test_support.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool exists(const char *fmt, ...)
{
    char path[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void fault(const char *spec, const char *path)
{
    if (spec == NULL) {
        unsetenv("IMAGESTORE_FAULT");
        unsetenv("IMAGESTORE_FAULT_PATH");
        return;
    }
    setenv("IMAGESTORE_FAULT_PATH", path, 1);
    setenv("IMAGESTORE_FAULT", spec, 1);
}

/* The store the cases work on: <temp dir>/store. */
static char dir[64];

/* A store of three images, each with a manifest; no snapshot, so that
 * opens read every record file. */
static void setup(void)
{
    rm_rf(dir);
    image_store_t st;
    if (new_image_store(false, false, dir, &st) != 0) {
        fprintf(stderr, "setup: %s\n", image_store_error_message(&st));
        exit(2);
    }
    const char *ids[] = {ID_A, ID_B, ID_C};
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "img:%d", i);
        const char *names[] = {name};
        if (st.create(ids[i], names, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0 ||
            st.set_big_data(&st, ids[i], "manifest", "{\"schemaVersion\":2}") != 0) {
            fprintf(stderr, "setup: %s\n", image_store_error_message(&st));
            exit(2);
        }
    }
    image_store_close(&st);
    char snap[4200];
    snprintf(snap, sizeof(snap), "%s/.imagestore.snapshot", dir);
    unlink(snap);
}

static size_t count_kind(const image_store_problem *p, size_t n, const char *kind)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(p[i].kind, kind) == 0;
    return c;
}

/* A daemon open with every `call` on `path` (a suffix filter) failing with
 * EIO: want images are reported unreadable and nothing is moved. */
static void daemon_open_under_eio(const char *call, const char *path, size_t want)
{
    setup();
    image_store_t st;
    fault(call, path);
    int rc = new_image_store(true, false, dir, &st);
    fault(NULL, NULL);
    check(rc == 0, "%s on %s: a daemon open succeeds (%s)", call, path,
          rc ? image_store_error_message(&st) : "");
    image_store_problem *probs = NULL;
    size_t n = 0;
    if (rc == 0 && st.problems(&st, &probs, &n) == 0) {
        check(n == want && count_kind(probs, n, "unreadable") == want,
              "%s on %s: %zu image(s) reported unreadable (%zu problems, first %s: %s)", call,
              path, want, n, n ? probs[0].kind : "-", n ? probs[0].problem : "-");
        check(n > 0 && strstr(probs[0].problem, "Input/output error") != NULL,
              "%s on %s: the problem names the I/O error", call, path);
    }
    image_store_problems_free(probs, n);
    check(!exists("%s/.quarantine", dir) && exists("%s/%s/images.json", dir, ID_B),
          "%s on %s: nothing was moved to .quarantine", call, path);
    image_store_close(&st);
    /* and once the disk reads again, every image is there */
    image_storage_images *all_images = NULL;
    size_t len = 0;
    rc = new_image_store(false, true, dir, &st);
    check(rc == 0 && st.images(&st, &all_images, &len) == 0 && len == 3,
          "%s on %s: all three images open afterwards", call, path);
    image_storage_images_free(all_images, len);
    image_store_close(&st);
}

/* Every open, then every read, of one record (B's), then of every record. */
static void test_daemon_open_under_eio(void)
{
    const char *calls[] = {"openat2:every:EIO", "read:every:EIO"};
    for (size_t c = 0; c < 2; c++) {
        char only_b[4200];
        snprintf(only_b, sizeof(only_b), "%s/%s/images.json", dir, ID_B);
        daemon_open_under_eio(calls[c], only_b, 1);
        daemon_open_under_eio(calls[c], "/images.json", 3);
    }
}

/* check() and repair() with every `call` on image A's manifest failing
 * with EIO. */
static void check_and_repair_under_eio(const char *call)
{
    char manifest[4200];
    snprintf(manifest, sizeof(manifest), "%s/%s/manifest", dir, ID_A);
    setup();
    image_store_t st;
    if (new_image_store(false, false, dir, &st) != 0)
        exit(2);
    image_store_problem *found = NULL, *acts = NULL;
    size_t nfound = 0, nacts = 0;
    fault(call, manifest);
    int rc_check = image_store_check(&st, &found, &nfound);
    int rc_repair = image_store_repair(&st, &acts, &nacts);
    fault(NULL, NULL);
    check(rc_check == 0 && nfound == 1 && strcmp(found[0].kind, "unreadable") == 0 &&
              strcmp(found[0].path, manifest) == 0,
          "%s on a manifest: check() says unreadable, not missing (%s)", call,
          nfound ? found[0].kind : "nothing");
    check(rc_repair == 0 && nacts == 0, "%s on a manifest: repair() does nothing (%zu actions%s%s)",
          call, nacts, nacts ? ": " : "", nacts ? acts[0].kind : "");
    image_store_problems_free(found, nfound);
    image_store_problems_free(acts, nacts);
    char **names = NULL, *data = NULL;
    size_t nnames = 0;
    check(st.big_data_names(&st, ID_A, &names, &nnames) == 0 && nnames == 1 &&
              st.big_data(&st, ID_A, "manifest", &data) == 0 &&
              strcmp(data, "{\"schemaVersion\":2}") == 0,
          "%s on a manifest: the record keeps it, and it reads back", call);
    image_store_strings_free(names, nnames);
    free(data);
    image_store_close(&st);
}

/* Every open, then every read, of a manifest. */
static void test_check_and_repair_under_eio(void)
{
    check_and_repair_under_eio("openat2:every:EIO");
    check_and_repair_under_eio("read:every:EIO");
}

static void test_repair_goes_on_after_a_failed_move(void)
{
    setup();
    char stray[4200];
    const char *ids[] = {ID_A, ID_B};
    for (int i = 0; i < 2; i++) {
        snprintf(stray, sizeof(stray), "%s/%s/Not A Key", dir, ids[i]);
        FILE *f = fopen(stray, "w");
        if (f == NULL)
            exit(2);
        fputs("stray", f);
        fclose(f);
    }
    image_store_t st;
    if (new_image_store(false, false, dir, &st) != 0)
        exit(2);
    image_store_problem *acts = NULL;
    size_t n = 0;
    fault("rename:1:EIO", "Not A Key");
    int rc = image_store_repair(&st, &acts, &n);
    fault(NULL, NULL);
    check(rc == -1 && strcmp(image_store_error_name(&st), "EIO") == 0,
          "repair() with its first move failing ends with that error (%s: %s)",
          image_store_error_name(&st), image_store_error_message(&st));
    check(n == 1 && strcmp(acts[0].kind, "quarantined") == 0 && strstr(acts[0].path, ID_B) != NULL,
          "and still reports the move that worked (%zu actions)", n);
    check(exists("%s/%s/Not A Key", dir, ID_A) && exists("%s/.quarantine/%s/Not A Key", dir, ID_B),
          "the failed one stayed, the other was moved");
    image_store_problems_free(acts, n);
    acts = NULL;
    rc = image_store_repair(&st, &acts, &n);
    check(rc == 0 && n == 1 && strcmp(acts[0].kind, "quarantined") == 0,
          "a second repair() finishes the job");
    image_store_problems_free(acts, n);
    image_store_close(&st);
}

static void test_check_reports_an_unlistable_image_directory(void)
{
    setup();
    image_store_t st;
    if (new_image_store(false, false, dir, &st) != 0)
        exit(2);
    char image[4200];
    snprintf(image, sizeof(image), "%s/%s", dir, ID_A);
    image_store_problem *found = NULL;
    size_t n = 0;
    fault("getdents:every:EIO", image);
    int rc = image_store_check(&st, &found, &n);
    fault(NULL, NULL);
    check(rc == 0 && n == 1 && strcmp(found[0].kind, "unreadable") == 0 &&
              strcmp(found[0].path, image) == 0,
          "EIO listing an image directory: check() says unreadable (%zu findings, first %s)", n,
          n ? found[0].kind : "-");
    image_store_problems_free(found, n);
    image_store_close(&st);
}

static void test_open_fails_on_an_unlistable_store_directory(void)
{
    setup();
    image_store_t again;
    fault("getdents:every:EIO", dir);
    int rc = new_image_store(false, true, dir, &again);
    fault(NULL, NULL);
    check(rc != 0 && strcmp(image_store_error_name(&again), "EIO") == 0 &&
              strstr(image_store_error_message(&again), "readdir") != NULL,
          "EIO listing the store directory: open fails with it (%s: %s)",
          image_store_error_name(&again), image_store_error_message(&again));
    image_store_close(&again);
}

static void test_closed_store_says_so(void)
{
    setup();
    image_store_t st;
    if (new_image_store(false, false, dir, &st) != 0)
        exit(2);
    image_store_close(&st);
    char *id = NULL;
    check(st.lookup("img:0", &st, &id) == -1 && id == NULL, "a member of a closed store fails");
    check(strcmp(image_store_error_message(&st), "store is closed") == 0 &&
              strcmp(image_store_error_name(&st), "EINVAL") == 0 &&
              image_store_error_code(&st) == IMAGE_STORE_EINVAL,
          "and says the store is closed, not out of memory (%s: %s)", image_store_error_name(&st),
          image_store_error_message(&st));
    image_store_close(&st); /* twice is fine */
    check(!st.exists("img:0", &st), "exists() on a closed store is false");
}

static const test_case tests[] = {
    TEST_CASE(test_daemon_open_under_eio),
    TEST_CASE(test_check_and_repair_under_eio),
    TEST_CASE(test_repair_goes_on_after_a_failed_move),
    TEST_CASE(test_check_reports_an_unlistable_image_directory),
    TEST_CASE(test_open_fails_on_an_unlistable_store_directory),
    TEST_CASE(test_closed_store_says_so),
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = rerun_under_fault_shim(argv);
    if (rc != 0)
        return rc;
    (void)argc;
    char template[] = "/tmp/upkeep_faults_test-XXXXXX";
    if (mkdtemp(template) == NULL)
        return 2;
    snprintf(dir, sizeof(dir), "%s/store", template);
    RUN_CASES(tests);
    rm_rf(template);
    return tap_done();
}
