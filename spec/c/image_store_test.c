/*
 * The C interface of core/image_store.h, used exactly as a plain C caller
 * would: every member of the seed interface with its argument order as
 * written, the additions, the error slot, two independent stores in one
 * process and a failed open followed by image_store_close(). Everything it
 * gets back is freed, so it runs clean under ASan/LSan.
 *
 *   image_store_test [TMPDIR]
 *
 * Works below TMPDIR (default: a fresh mkdtemp directory) and removes what it
 * made. Prints TAP: "ok N - ...", "not ok N - ...", then "1..N". Exits 1 when
 * any test failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "image_store.h"
#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- assertions --------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static bool check_str(const char *got, const char *want, const char *what)
{
    bool ok = check(str_eq(got, want), "%s", what);

    if (!ok) {
        diag("     got: %s%s%s", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
        diag("expected: %s%s%s", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
    }
    return ok;
}

static bool check_int(long long got, long long want, const char *what)
{
    bool ok = check(got == want, "%s", what);

    if (!ok) {
        diag("     got: %lld", got);
        diag("expected: %lld", want);
    }
    return ok;
}

/* A failure: rc is -1, and the store's error slot holds code, name, message. */
static bool check_fail(const image_store_t *st, int rc, int code, const char *name,
                       const char *message, const char *what)
{
    bool ok = rc == -1 && image_store_error_code(st) == code &&
              str_eq(image_store_error_name(st), name) &&
              (message == NULL || str_eq(image_store_error_message(st), message));

    check(ok, "%s", what);
    if (!ok) {
        diag("     got: rc %d, code %d, name %s, message \"%s\"", rc, image_store_error_code(st),
             image_store_error_name(st) ? image_store_error_name(st) : "NULL",
             image_store_error_message(st) ? image_store_error_message(st) : "NULL");
        diag("expected: rc -1, code %d, name %s, message \"%s\"", code, name,
             message ? message : "(any)");
    }
    return ok;
}

static bool check_ok(const image_store_t *st, int rc, const char *what)
{
    bool ok = check(rc == 0, "%s", what);

    if (!ok) {
        diag("rc %d: %s %s", rc,
             image_store_error_name(st) ? image_store_error_name(st) : "NULL",
             image_store_error_message(st) ? image_store_error_message(st) : "NULL");
    }
    return ok;
}

/* ---- files -------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t len = strlen(a) + 1 + strlen(b) + 1;
    char *p = malloc(len);

    if (p == NULL) {
        perror("malloc");
        exit(2);
    }
    snprintf(p, len, "%s/%s", a, b);
    return p;
}

static bool is_file(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool path_exists(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0;
}

static bool write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    bool ok;

    if (f == NULL) {
        return false;
    }
    ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* ---- helpers ------------------------------------------------------------ */

static bool strings_eq(char **got, size_t got_len, const char *const *want, size_t want_len)
{
    size_t i;

    if (got_len != want_len) {
        return false;
    }
    for (i = 0; i < want_len; i++) {
        if (got == NULL || !str_eq(got[i], want[i])) {
            return false;
        }
    }
    return true;
}

static bool check_strings(char **got, size_t got_len, const char *const *want, size_t want_len,
                          const char *what)
{
    bool ok = check(strings_eq(got, got_len, want, want_len), "%s", what);
    size_t i;

    if (!ok) {
        diag("got %zu:", got_len);
        for (i = 0; i < got_len && got != NULL; i++) {
            diag("  %s", got[i] ? got[i] : "NULL");
        }
        diag("expected %zu:", want_len);
        for (i = 0; i < want_len; i++) {
            diag("  %s", want[i]);
        }
    }
    return ok;
}

static bool is_hex64(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 64) {
        return false;
    }
    for (i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static int64_t big_data_size_of(const image_storage_images *img, const char *key)
{
    size_t i;

    for (i = 0; i < img->big_data_names_len; i++) {
        if (str_eq(img->big_data_names[i], key)) {
            return img->big_data_sizes ? img->big_data_sizes[i] : -2;
        }
    }
    return -3;
}

static const char *big_data_digest_of(const image_storage_images *img, const char *key)
{
    size_t i;

    for (i = 0; i < img->big_data_names_len; i++) {
        if (str_eq(img->big_data_names[i], key)) {
            return img->big_data_digests ? img->big_data_digests[i] : NULL;
        }
    }
    return NULL;
}

#define ID_A "aaaa0000000000000000000000000000000000000000000000000000000000a1"
#define ID_B "aaaa1111111111111111111111111111111111111111111111111111111111b2"
#define ID_C "cccc2222222222222222222222222222222222222222222222222222222222c3"
#define DIGEST_X "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DIGEST_BAD_MSG ": want sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>"

/* ---- fixtures ----------------------------------------------------------- */

/* The directory the cases work below (argv[1]/image_store_test or a fresh
 * mkdtemp directory). */
static char *tmp;

/* The store a group of cases works on, in order, and a second one; the
 * directories they use below tmp. The first case of a group opens st (or
 * says it could not: then the group's other cases do nothing), the last
 * closes it and removes the directories. */
static image_store_t st, other;
static char *dir, *otherdir;
static bool st_open;

/* dir becomes tmp/name, otherdir tmp/other_name (or NULL). */
static void use_dirs(const char *name, const char *other_name)
{
    free(dir);
    free(otherdir);
    dir = name ? path_join(tmp, name) : NULL;
    otherdir = other_name ? path_join(tmp, other_name) : NULL;
}

/* The first case of a group: opens st on dir; false (and st closed) if that
 * failed. */
static bool open_group_store(const char *what)
{
    memset(&st, 0, sizeof(st));
    int rc = new_image_store(false, false, dir, &st);
    st_open = check_ok(&st, rc, what);
    if (!st_open)
        image_store_close(&st);
    return st_open;
}

/* ---- helpers ------------------------------------------------------------ */

static void test_image_store_sha256(void)
{
    char digest[72];

    check(image_store_sha256(digest, "abc", 3) == 0 &&
              str_eq(digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "image_store_sha256 of \"abc\"");
    check(image_store_sha256(digest, "", 0) == 0 &&
              str_eq(digest, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
          "image_store_sha256 of empty data");
}

static void test_timestamp_format(void)
{
    char buf[40];

    timestamp_format((timestamp){ 1500000000, 5 }, buf);
    check_str(buf, "2017-07-14T02:40:00.000000005Z", "timestamp_format writes 9 digits in UTC");
}

static void test_timestamp_parse(void)
{
    char buf[40];
    timestamp t;

    memset(&t, 0, sizeof(t));
    check(timestamp_parse("2020-03-16T05:46:12.172621513+02:00", &t) == 0, "timestamp_parse accepts an offset");
    timestamp_format(t, buf);
    check_str(buf, "2020-03-16T03:46:12.172621513Z", "timestamp_parse normalizes to UTC");
    check(timestamp_parse("yesterday", &t) == -1, "timestamp_parse rejects garbage");
}

static void test_timestamp_now(void)
{
    timestamp t = timestamp_now();
    check(t.seconds > 1500000000 && t.nanos >= 0 && t.nanos < 1000000000, "timestamp_now is plausible");
}

/* ---- a failed open ------------------------------------------------------ */

static void test_readonly_open_of_a_missing_dir_fails(void)
{
    char *missing = path_join(tmp, "missing");
    char want[4096];
    int rc;

    memset(&st, 0, sizeof(st));
    rc = new_image_store(false, true, missing, &st);
    snprintf(want, sizeof(want), "store directory does not exist: %s", missing);
    check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", want, "readonly open of a missing dir fails ENOTFOUND");
    check(!path_exists(missing), "readonly open does not create the dir");
    /* must be safe after a failed open, and twice */
    image_store_close(&st);
    image_store_close(&st);
    free(missing);
}

static void test_open_below_a_regular_file_fails(void)
{
    char *file = path_join(tmp, "plain-file");
    char *under_file = path_join(file, "store");
    int rc;

    check(write_text(file, "x"), "made a regular file");
    memset(&st, 0, sizeof(st));
    rc = new_image_store(false, false, under_file, &st);
    check_fail(&st, rc, IMAGE_STORE_ESYS, "ENOTDIR", NULL, "open below a regular file fails with ENOTDIR");
    check_int(image_store_error_errno(&st), ENOTDIR, "error_errno keeps ENOTDIR");
    {
        const char *msg = image_store_error_message(&st);
        const char *tail = ": Not a directory";
        bool ok = msg != NULL && strlen(msg) > strlen(tail) &&
                  strcmp(msg + strlen(msg) - strlen(tail), tail) == 0 && strstr(msg, file) != NULL;
        check(ok, "system error message is '<syscall> <path>: <strerror>'");
        if (!ok) {
            diag("got: %s", msg ? msg : "NULL");
        }
    }
    image_store_close(&st);
    image_store_close(NULL);

    free(under_file);
    free(file);
}

/* ---- image_store_open() and additional stores (tmp/layers-*) -------------- */

/* A plain store at path holding image id with name and a manifest. */
static bool make_lower_store(const char *path, const char *id, const char *name)
{
    image_store_t s;
    const char *names[] = { name };
    bool ok = new_image_store(false, false, path, &s) == 0 &&
              s.create(id, names, 1, "layer-c", "lower", IMAGE_TIME_NOW, NULL, &s, NULL) == 0 &&
              s.set_big_data(&s, id, "manifest", "lower manifest") == 0;
    image_store_close(&s);
    return ok;
}

static void test_image_store_open_without_options(void)
{
    char *path = path_join(tmp, "layers-plain");
    image_store_options ro = { .readonly = true };
    image_store_t s;
    char want[4096];
    int rc;

    rc = image_store_open(&s, path, &ro);
    snprintf(want, sizeof(want), "store directory does not exist: %s", path);
    check_fail(&s, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", want,
               "image_store_open with readonly set opens read-only");
    image_store_close(&s);
    rc = image_store_open(&s, path, NULL);
    check_ok(&s, rc, "image_store_open with NULL options opens as new_image_store(false, false)");
    {
        char *lock = path_join(path, ".imagestore.lock");
        check(is_file(lock), "it made the lock file");
        free(lock);
    }
    image_store_close(&s);
    rm_rf(path);
    free(path);
}

static void test_image_store_open_refuses_bad_additional_stores(void)
{
    char *path = path_join(tmp, "layers-bad");
    const char *dirs[] = { "/somewhere", "" };
    image_store_options opts = { .additional = NULL, .additional_len = 1 };
    image_store_t s;
    int rc;

    rc = image_store_open(&s, path, &opts);
    check_fail(&s, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid additional stores: NULL list",
               "a NULL list of additional stores is EINVAL");
    image_store_close(&s);
    opts.additional = dirs;
    opts.additional_len = 2;
    rc = image_store_open(&s, path, &opts);
    check_fail(&s, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid additional store directory #2: empty",
               "an empty additional store directory is EINVAL");
    image_store_close(&s);
    check(!path_exists(path), "a refused open creates nothing");
    free(path);
}

static void test_additional_stores(void)
{
    char *top = path_join(tmp, "layers-top");
    char *lower = path_join(tmp, "layers-lower");
    char *missing = path_join(tmp, "layers-missing");
    char given[4200], want[8192];
    const char *dirs[] = { given, missing };
    image_store_options opts = { .additional = dirs, .additional_len = 2 };
    const char *mine[] = { "mine:1" };
    image_storage_images img, *list = NULL;
    image_store_problem *problems = NULL;
    size_t n = 0;
    image_store_t s;
    char *text = NULL;
    int rc;

    check(make_lower_store(lower, ID_C, "lower:1"), "made an additional store");
    snprintf(given, sizeof(given), "%s", lower);
    rc = image_store_open(&s, top, &opts);
    given[0] = '\0'; /* the options are copied */
    if (!check_ok(&s, rc, "image_store_open with an additional store and a missing one")) {
        image_store_close(&s);
        goto out;
    }
    check_ok(&s, s.create(ID_A, mine, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &s, NULL),
             "create in the store itself");

    memset(&img, 0, sizeof(img));
    if (check_ok(&s, s.get("lower:1", &s, &img), "get finds an image of the additional store")) {
        check_str(img.id, ID_C, "its ID");
        check_str(img.store, lower, "store names the additional store as given");
        check(img.read_only, "it is read_only");
    }
    image_storage_images_clear(&img);
    if (check_ok(&s, s.get("mine:1", &s, &img), "get finds an image of the store itself")) {
        check(img.store == NULL && !img.read_only, "store NULL, not read_only");
    }
    image_storage_images_clear(&img);
    check(s.exists(ID_C, &s), "exists by the full ID of an image below");
    if (check_ok(&s, s.big_data(&s, "lower:1", "manifest", &text), "big_data reads below"))
        check_str(text, "lower manifest", "the lower image's big data");
    free(text);

    if (check_ok(&s, s.images(&s, &list, &n), "images lists both stores")) {
        check(n == 2 && str_eq(list[0].id, ID_A) && list[0].store == NULL && str_eq(list[1].id, ID_C) &&
                  str_eq(list[1].store, lower),
              "in ID order, each with its store");
    }
    image_storage_images_free(list, n);

    if (check_ok(&s, s.problems(&s, &problems, &n), "problems")) {
        snprintf(want, sizeof(want),
                 "additional store unavailable, its images left out: store directory does not exist: %s",
                 missing);
        check(n == 1 && str_eq(problems[0].kind, "additional-store") &&
                  str_eq(problems[0].path, missing) && str_eq(problems[0].problem, want),
              "the missing additional store is an additional-store problem");
    }
    image_store_problems_free(problems, n);

    snprintf(want, sizeof(want), "image %s is in the read-only additional store %s: cannot set_metadata",
             ID_C, lower);
    check_fail(&s, s.set_metadata(&s, "lower:1", "x"), IMAGE_STORE_EREADONLY, "EREADONLY", want,
               "set_metadata of an image below is EREADONLY, naming it and its store");

    memset(&img, 0, sizeof(img));
    if (check_ok(&s, s.create(ID_C, NULL, 0, NULL, NULL, IMAGE_TIME_NOW, NULL, &s, &img),
                 "create with the ID of an image below copies it up")) {
        const char *names[] = { "lower:1" };
        check_strings(img.names, img.names_len, names, 1, "the copy holds the lower image's names");
        check_str(img.metadata, "lower", "and its metadata");
        check_str(img.layer, "layer-c", "and its layer");
        check(img.store == NULL && !img.read_only, "the copy is the store's own");
    }
    image_storage_images_clear(&img);
    check_ok(&s, s.set_metadata(&s, "lower:1", "changed"), "the copy can change");
    image_store_close(&s);
out:
    rm_rf(top);
    rm_rf(lower);
    free(top);
    free(lower);
    free(missing);
}

/* An additional store whose change check fails (this thread holds its lock
 * through another store, in a batch) drops out, and comes back once its
 * directory changed. */
static void test_additional_store_whose_change_check_fails(void)
{
    char *top = path_join(tmp, "layers-top2");
    char *lower = path_join(tmp, "layers-lower2");
    const char *dirs[] = { lower };
    image_store_options opts = { .additional = dirs, .additional_len = 1 };
    const char *wn[] = { "w:1" }, *bn[] = { "in-batch:1" };
    image_store_problem *problems = NULL;
    image_storage_images img;
    image_store_t s, w;
    size_t n = 0;
    char want[8192];
    int rc;

    check(make_lower_store(lower, ID_C, "lower:1"), "made an additional store");
    rc = image_store_open(&s, top, &opts);
    if (!check_ok(&s, rc, "opened a store over it")) {
        image_store_close(&s);
        goto out;
    }
    check(s.exists("lower:1", &s), "its image is seen");
    rc = new_image_store(false, false, lower, &w);
    check_ok(&w, rc, "a second store writes the additional store");
    check_ok(&w, w.create(ID_B, wn, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &w, NULL), "it creates");
    check_ok(&w, image_store_batch_begin(&w), "and holds its lock in a batch");
    check_ok(&w, w.create(ID_A, bn, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &w, NULL),
             "creating inside the batch");
    snprintf(want, sizeof(want), "image not found: \"w:1\"");
    check_fail(&s, s.get("w:1", &s, &img), IMAGE_STORE_ENOTFOUND, "ENOTFOUND", want,
               "catching up fails (EDEADLK): its images are left out");
    check(!s.exists("lower:1", &s), "all of them");
    snprintf(want, sizeof(want),
             "additional store unavailable, its images left out: flock %s/.imagestore.lock: another "
             "store of this thread holds the lock (in a hook or a batch); use that store",
             lower);
    if (check_ok(&s, s.problems(&s, &problems, &n), "problems"))
        check(n == 1 && str_eq(problems[0].kind, "additional-store") && str_eq(problems[0].path, lower) &&
                  str_eq(problems[0].problem, want),
              "the failed change check is an additional-store problem");
    image_store_problems_free(problems, n);
    check_ok(&w, image_store_batch_commit(&w), "the batch commits, changing the directory");
    image_store_close(&w);
    memset(&img, 0, sizeof(img));
    if (check_ok(&s, s.get("in-batch:1", &s, &img), "the additional store is back at the next call"))
        check_str(img.store, lower, "with its images");
    image_storage_images_clear(&img);
    check(s.exists("w:1", &s) && s.exists("lower:1", &s), "all of them");
    image_store_close(&s);
out:
    rm_rf(top);
    rm_rf(lower);
    free(top);
    free(lower);
}

/* ---- one store, member by member (tmp/store, tmp/other) ------------------- */

static void test_new_image_store_creates_a_store(void)
{
    use_dirs("store", "other");
    memset(&other, 0, sizeof(other));
    if (!open_group_store("new_image_store creates a store")) {
        return;
    }
    {
        struct stat sb;
        check(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 07777) == 0700,
              "store dir has mode 0700");
    }
    check_str(image_store_dir(&st), dir, "image_store_dir gives the dir");
}

static void test_create_with_id_names_layer_metadata_and_time(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *n[] = { "example.com/app:1.0", "app2" };
        rc = st.create(ID_A, n, 2, "layer-a", "{}", (timestamp){ 1500000000, 5 }, NULL, &st, &img);
        if (check_ok(&st, rc, "create with id, names, layer, metadata and time")) {
            check_str(img.id, ID_A, "create returns the id");
            check_strings(img.names, img.names_len, n, 2, "create returns the names");
            check_int((long long)img.names_history_len, 0,
                      "names given at create stay out of the history (containers/storage)");
            check_str(img.layer, "layer-a", "create returns the layer");
            check_str(img.metadata, "{}", "create returns the metadata");
            check_str(img.created, "2017-07-14T02:40:00.000000005Z", "create stores the time as created");
            check_str(img.digest, NULL, "no digest yet");
            check_int((long long)img.digests_len, 0, "no digests yet");
            check_int((long long)img.big_data_names_len, 0, "no big data yet");
            check_int(img.size, -1, "size not recorded");
            check(!img.read_only, "image not read_only");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
    {
        char *rec = path_join(dir, ID_A "/images.json");
        check(is_file(rec), "create writes <dir>/<id>/images.json");
        free(rec);
    }
}

static void test_create_with_a_digest_at_time_now(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *n[] = { "b:1" };
        rc = st.create(ID_B, n, 1, NULL, NULL, IMAGE_TIME_NOW, DIGEST_X, &st, &img);
        if (check_ok(&st, rc, "create with a searchable digest and time now")) {
            check_str(img.digest, DIGEST_X, "explicit digest is the digest");
            check(img.digests_len == 1 && str_eq(img.digests[0], DIGEST_X), "digests holds the explicit digest");
            check(img.created != NULL && strlen(img.created) == 30 && img.created[29] == 'Z' &&
                      img.created[19] == '.',
                  "created is now in the stored format");
            if (img.created != NULL) {
                timestamp t;
                timestamp now = timestamp_now();
                check(timestamp_parse(img.created, &t) == 0 && t.seconds > now.seconds - 60 &&
                          t.seconds <= now.seconds + 1,
                      "IMAGE_TIME_NOW means now");
            }
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_create_without_an_id(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        rc = st.create(NULL, NULL, 0, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        if (check_ok(&st, rc, "create without id")) {
            check(is_hex64(img.id), "generated id is 64 lowercase hex");
        }
        if (img.id != NULL) {
            check_ok(&st, st.delete(img.id, &st), "delete the generated image");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_create_refuses_a_taken_id(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *n[] = { "fresh" };
        rc = st.create(ID_A, n, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        check_fail(&st, rc, IMAGE_STORE_EEXIST, "EEXIST", "image ID " ID_A " is already in use",
                   "create with a taken id fails EEXIST");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        check(!st.exists("fresh", &st), "failed create registers no name");
    }
}

static void test_create_refuses_a_taken_name(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *n[] = { "new", "app2" };
        rc = st.create(ID_C, n, 2, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        check_fail(&st, rc, IMAGE_STORE_ENAMEINUSE, "ENAMEINUSE", "name \"app2\" is already used by image " ID_A,
                   "create with a taken name fails ENAMEINUSE");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        check(!st.exists(ID_C, &st) && !st.exists("new", &st), "failed create leaves nothing");
    }
}

static void test_create_refuses_a_bad_id(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        rc = st.create("../x", NULL, 0, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL",
                   "invalid image ID \"../x\": want 64 lowercase hex characters", "create with a bad id fails EINVAL");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_create_refuses_an_empty_name(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *n[] = { "" };
        rc = st.create(ID_C, n, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid name \"\": empty",
                   "create with an empty name fails EINVAL");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_exists(void)
{
    if (!st_open)
        return;
    check(st.exists(ID_A, &st), "exists by full id");
    check(st.exists("app2", &st), "exists by name");
    check(st.exists("aaaa0", &st), "exists by unique prefix");
    check(!st.exists("nope", &st), "exists is false for an unknown ref");
}

static void test_lookup(void)
{
    char *s = NULL;
    int rc;

    if (!st_open)
        return;
    rc = st.lookup("example.com/app:1.0", &st, &s);
    if (check_ok(&st, rc, "lookup by name")) {
        check_str(s, ID_A, "lookup gives the full id");
    }
    free(s);
    s = NULL;
    rc = st.lookup("aaaa1", &st, &s);
    if (check_ok(&st, rc, "lookup by prefix")) {
        check_str(s, ID_B, "lookup by prefix gives the full id");
    }
    free(s);
    s = NULL;
    rc = st.lookup("aaaa", &st, &s);
    check_fail(&st, rc, IMAGE_STORE_EAMBIGUOUS, "EAMBIGUOUS",
               "image reference \"aaaa\" is ambiguous: matches 2 images", "lookup of a shared prefix fails EAMBIGUOUS");
    free(s);
    s = NULL;
    rc = st.lookup("nope", &st, &s);
    check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image not found: \"nope\"",
               "lookup of an unknown ref fails ENOTFOUND");
    free(s);
    s = NULL;
    rc = st.lookup("b@" DIGEST_X, &st, &s);
    if (check_ok(&st, rc, "lookup by repo@digest")) {
        check_str(s, ID_B, "repo@digest gives the image");
    }
    free(s);
    s = NULL;
}

static void test_get(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    rc = st.get("app2", &st, &img);
    if (check_ok(&st, rc, "get by name")) {
        check_str(img.id, ID_A, "get gives the image");
        check_str(img.layer, "layer-a", "get gives the layer");
    }
    image_storage_images_clear(&img);
    memset(&img, 0, sizeof(img));
    rc = st.get("nope", &st, &img);
    check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image not found: \"nope\"", "get of an unknown ref fails");
    image_storage_images_clear(&img);
    memset(&img, 0, sizeof(img));
}

static void test_set_names(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *n[] = { "x", "y", "x" };
        const char *want_names[] = { "x", "y" };
        const char *first[] = { "app2", "example.com/app:1.0" };
        const char *want_hist[] = { "y", "x", "example.com/app:1.0", "app2" };
        check_ok(&st, st.set_names(ID_A, first, 2, &st), "set_names");
        check_ok(&st, st.set_names(ID_A, n, 3, &st), "set_names again");
        rc = st.get(ID_A, &st, &img);
        if (check_ok(&st, rc, "get after set_names")) {
            check_strings(img.names, img.names_len, want_names, 2, "set_names dedupes keeping first occurrence");
            check_strings(img.names_history, img.names_history_len, want_hist, 4,
                          "set_names puts the names at the front of the history, last first");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_add_name(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *want_a[] = { "x", "y" };
        const char *want_b[] = { "b:1", "z" };
        check_ok(&st, st.add_name(ID_B, "z", &st), "add_name");
        check_ok(&st, st.add_name(ID_B, "z", &st), "add_name of a held name is a no-op");
        rc = st.get(ID_B, &st, &img);
        if (check_ok(&st, rc, "get after add_name")) {
            check_strings(img.names, img.names_len, want_b, 2, "add_name appends the name");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        rc = st.get(ID_A, &st, &img);
        if (check_ok(&st, rc, "get the other image")) {
            check_strings(img.names, img.names_len, want_a, 2, "other image untouched");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_add_name_steals_a_name(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    {
        const char *want_a[] = { "x" };
        const char *want_b[] = { "b:1", "z", "y" };
        check_ok(&st, st.add_name(ID_B, "y", &st), "add_name steals a name");
        rc = st.get(ID_A, &st, &img);
        if (check_ok(&st, rc, "get the former owner")) {
            check_strings(img.names, img.names_len, want_a, 1, "the former owner lost the name");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        rc = st.get(ID_B, &st, &img);
        if (check_ok(&st, rc, "get the new owner")) {
            check_strings(img.names, img.names_len, want_b, 3, "the new owner has the name");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

static void test_remove_name(void)
{
    int rc;

    if (!st_open)
        return;
    check_ok(&st, st.remove_name(ID_B, "z", &st), "remove_name");
    check(!st.exists("z", &st), "removed name is gone");
    rc = st.remove_name(ID_B, "z", &st);
    check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image " ID_B " has no name \"z\"",
               "remove_name of a name not held fails ENOTFOUND");
}

static void test_add_name_refuses_an_empty_name(void)
{
    int rc;

    if (!st_open)
        return;
    rc = st.add_name(ID_B, "", &st);
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid name \"\": empty", "add_name of an empty name fails");
}

static void test_metadata(void)
{
    char *s = NULL;
    int rc;

    if (!st_open)
        return;
    check_ok(&st, st.set_metadata(&st, ID_A, "{\"k\":1}"), "set_metadata");
    rc = st.metadata(&st, "x", &s);
    if (check_ok(&st, rc, "metadata")) {
        check_str(s, "{\"k\":1}", "metadata returns what was set");
    }
    free(s);
    s = NULL;
    rc = st.set_metadata(&st, "nope", "m");
    check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image not found: \"nope\"", "set_metadata of unknown ref");
}

static void test_big_data(void)
{
    image_storage_images img;
    char *s = NULL;
    char **names = NULL;
    size_t len = 0;
    int64_t size = 0;
    char digest[72];
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    check_ok(&st, st.set_big_data(&st, ID_A, "sha256:" ID_A, "config-data"), "set_big_data config");
    check_ok(&st, st.set_big_data(&st, ID_A, "manifest", "manifest-data"), "set_big_data manifest");
    rc = st.big_data(&st, ID_A, "manifest", &s);
    if (check_ok(&st, rc, "big_data")) {
        check_str(s, "manifest-data", "big_data returns the data");
    }
    free(s);
    s = NULL;
    rc = st.big_data_size(&st, ID_A, "manifest", &size);
    if (check_ok(&st, rc, "big_data_size")) {
        check_int(size, 13, "big_data_size is the length");
    }
    image_store_sha256(digest, "manifest-data", 13);
    rc = st.big_data_digest(&st, ID_A, "manifest", &s);
    if (check_ok(&st, rc, "big_data_digest")) {
        check_str(s, digest, "big_data_digest is the sha256");
    }
    free(s);
    s = NULL;
    rc = st.big_data_names(&st, ID_A, &names, &len);
    if (check_ok(&st, rc, "big_data_names")) {
        const char *w[] = { "sha256:" ID_A, "manifest" };
        check_strings(names, len, w, 2, "big_data_names in insertion order");
    }
    image_store_strings_free(names, len);
    names = NULL;
    len = 0;
    rc = st.get(ID_A, &st, &img);
    if (check_ok(&st, rc, "get after set_big_data")) {
        check_str(img.digest, digest, "manifest digest becomes the digest");
        check(img.digests_len == 1 && str_eq(img.digests[0], digest), "digests lists the manifest digest");
        check_int(big_data_size_of(&img, "manifest"), 13, "big_data_sizes parallel to names");
        check_str(big_data_digest_of(&img, "manifest"), digest, "big_data_digests parallel to names");
    }
    image_storage_images_clear(&img);
    memset(&img, 0, sizeof(img));
}

static void test_big_data_with_nul_bytes(void)
{
    int64_t size = 0;
    int rc;

    if (!st_open)
        return;
    {
        static const char bin[] = { 'a', '\0', 'b', '\0', (char)0xff, '\0' };
        char *data = NULL;
        size_t dlen = 0;
        check_ok(&st, st.set_big_data_len(&st, ID_A, "blob", bin, sizeof(bin)), "set_big_data_len with NUL bytes");
        rc = st.big_data_len(&st, ID_A, "blob", &data, &dlen);
        if (check_ok(&st, rc, "big_data_len")) {
            check(dlen == sizeof(bin) && data != NULL && memcmp(data, bin, sizeof(bin)) == 0,
                  "big_data_len returns the bytes");
            check(data != NULL && data[dlen] == '\0', "big_data_len result is NUL-terminated");
        }
        free(data);
        data = NULL;
        rc = st.big_data_size(&st, ID_A, "blob", &size);
        check(rc == 0 && size == (int64_t)sizeof(bin), "binary size recorded");
        rc = st.big_data_len(&st, ID_A, "missing", &data, &dlen);
        check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image " ID_A " has no big-data item \"missing\"",
                   "big_data_len of a missing key fails");
        free(data);
    }
}

static void test_big_data_refuses_missing_and_bad_keys(void)
{
    char *s = NULL;
    int rc;

    if (!st_open)
        return;
    rc = st.big_data(&st, "x", "missing", &s);
    check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image " ID_A " has no big-data item \"missing\"",
               "big_data of a missing key names the full id");
    free(s);
    s = NULL;
    rc = st.set_big_data(&st, ID_A, "..", "x");
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid big-data key \"..\": reserved name",
               "set_big_data with key .. fails EINVAL");
    rc = st.set_big_data(&st, ID_A, "", "x");
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid big-data key \"\": empty",
               "set_big_data with an empty key fails EINVAL");
}

static void test_size_and_loaded_time(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    check_ok(&st, st.set_size(&st, ID_A, 4096), "set_size");
    rc = st.set_size(&st, ID_A, -1);
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid size -1: must not be negative",
               "set_size negative fails EINVAL");
    check_ok(&st, st.set_loaded_time(ID_A, (timestamp){ 1500000000, 250000000 }, &st), "set_loaded_time");
    rc = st.get(ID_A, &st, &img);
    if (check_ok(&st, rc, "get after set_size and set_loaded_time")) {
        check_int(img.size, 4096, "size recorded");
        check_str(img.loaded, "2017-07-14T02:40:00.250000000Z", "loaded recorded");
    }
    image_storage_images_clear(&img);
    memset(&img, 0, sizeof(img));
}

static void test_images(void)
{
    image_storage_images *list = NULL;
    size_t len = 0;
    int rc;

    if (!st_open)
        return;
    rc = st.images(&st, &list, &len);
    if (check_ok(&st, rc, "images")) {
        check_int((long long)len, 2, "images lists both images");
    }
    image_storage_images_free(list, len);
    list = NULL;
    len = 0;
}

static void test_by_digest(void)
{
    image_storage_images *list = NULL;
    size_t len = 0;
    char digest[72];
    int rc;

    if (!st_open)
        return;
    image_store_sha256(digest, "manifest-data", 13); /* the manifest test_big_data set */
    rc = st.by_digest(&st, digest, &list, &len);
    if (check_ok(&st, rc, "by_digest of a manifest digest")) {
        check(len == 1 && str_eq(list[0].id, ID_A), "by_digest finds the image");
    }
    image_storage_images_free(list, len);
    list = NULL;
    len = 0;
    rc = st.by_digest(&st, "sha256:2222222222222222222222222222222222222222222222222222222222222222", &list, &len);
    if (check_ok(&st, rc, "by_digest of an unknown digest")) {
        check_int((long long)len, 0, "by_digest gives an empty list");
    }
    image_storage_images_free(list, len);
    list = NULL;
    len = 0;
    rc = st.by_digest(&st, "sha256:abc", &list, &len);
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "invalid digest \"sha256:abc\"" DIGEST_BAD_MSG,
               "by_digest of a malformed digest fails EINVAL");
    image_storage_images_free(list, len);
    list = NULL;
    len = 0;
}

static void test_save_load_and_problems(void)
{
    image_store_problem *problems = NULL;
    size_t len = 0;
    int rc;

    if (!st_open)
        return;
    check_ok(&st, st.save(&st), "save");
    check_ok(&st, st.load(&st), "load");
    rc = st.problems(&st, &problems, &len);
    if (check_ok(&st, rc, "problems")) {
        check_int((long long)len, 0, "no problems");
    }
    image_store_problems_free(problems, len);
    problems = NULL;
    len = 0;
}

/* a second store on the same dir sees the same images; error slots are separate */
static void test_second_store_on_the_same_dir(void)
{
    image_storage_images img;
    image_storage_images *list = NULL;
    size_t len = 0;
    char *s = NULL;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    rc = new_image_store(false, false, dir, &other);
    if (check_ok(&other, rc, "second store on the same dir")) {
        rc = other.get(ID_A, &other, &img);
        if (check_ok(&other, rc, "second store reads the record")) {
            const char *w[] = { "x" };
            check_strings(img.names, img.names_len, w, 1, "names persisted");
            check_int(img.size, 4096, "size persisted");
            check_str(img.loaded, "2017-07-14T02:40:00.250000000Z", "loaded time persisted");
            check_str(img.metadata, "{\"k\":1}", "metadata persisted");
        }
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        rc = other.big_data_len(&other, ID_A, "blob", &s, &len);
        check(rc == 0 && len == 6 && s != NULL && s[1] == '\0' && s[2] == 'b', "binary big data persisted");
        free(s);
        s = NULL;
        len = 0;

        rc = st.lookup("nope", &st, &s);
        free(s);
        s = NULL;
        rc = other.by_digest(&other, "bad", &list, &len);
        image_storage_images_free(list, len);
        list = NULL;
        len = 0;
        check(image_store_error_code(&st) == IMAGE_STORE_ENOTFOUND &&
                  image_store_error_code(&other) == IMAGE_STORE_EINVAL,
              "each store has its own error slot");

        check_ok(&st, st.delete(ID_B, &st), "delete");
        check(!st.exists(ID_B, &st), "deleted image is gone");
        rc = st.delete(ID_B, &st);
        check_fail(&st, rc, IMAGE_STORE_ENOTFOUND, "ENOTFOUND", "image not found: \"" ID_B "\"",
                   "delete of an unknown ref fails ENOTFOUND");
        check(!other.exists(ID_B, &other), "the other store sees the deletion at its next call");
        check_ok(&other, other.load(&other), "load in the other store");
        check(!other.exists(ID_B, &other), "load agrees");
    }
    image_store_close(&other);
    memset(&other, 0, sizeof(other));
}

/* an independent store in another dir */
static void test_independent_store_in_another_dir(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    rc = new_image_store(false, false, otherdir, &other);
    if (check_ok(&other, rc, "independent store")) {
        check(!other.exists(ID_A, &other), "independent store does not see the first store's images");
        {
            const char *n[] = { "x" };
            rc = other.create(ID_A, n, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &other, &img);
            check_ok(&other, rc, "independent store accepts the same id and name");
            image_storage_images_clear(&img);
            memset(&img, 0, sizeof(img));
        }
        check_ok(&other, other.wipe(&other), "wipe the independent store");
        check(st.exists(ID_A, &st), "wipe of one store leaves the other alone");
    }
    image_store_close(&other);
    memset(&other, 0, sizeof(other));
}

static void test_wipe(void)
{
    image_storage_images img;
    image_storage_images *list = NULL;
    size_t len = 0;
    int rc;

    if (!st_open)
        return;
    memset(&img, 0, sizeof(img));
    check_ok(&st, st.wipe(&st), "wipe");
    rc = st.images(&st, &list, &len);
    check(rc == 0 && len == 0, "wipe leaves no images");
    image_storage_images_free(list, len);
    list = NULL;
    len = 0;
    {
        char *imgdir = path_join(dir, ID_A);
        check(!path_exists(imgdir), "wipe removes the image dirs");
        free(imgdir);
    }
    {
        const char *n[] = { "x" };
        rc = st.create(ID_A, n, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        check_ok(&st, rc, "store usable after wipe");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
    }
}

/* The last case on tmp/store: reopens it read-only, then removes it. */
static void test_readonly_store(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    image_store_close(&st);
    memset(&st, 0, sizeof(st));
    memset(&img, 0, sizeof(img));

    rc = new_image_store(false, true, dir, &st);
    if (check_ok(&st, rc, "readonly open")) {
        const char *n[] = { "y" };
        rc = st.get(ID_A, &st, &img);
        check(rc == 0 && img.read_only, "images of a readonly store are read_only");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        rc = st.create(NULL, NULL, 0, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot create",
                   "create on a readonly store fails EREADONLY");
        image_storage_images_clear(&img);
        memset(&img, 0, sizeof(img));
        rc = st.set_names(ID_A, n, 1, &st);
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot set_names",
                   "set_names on a readonly store fails EREADONLY");
        rc = st.delete(ID_A, &st);
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot delete",
                   "delete on a readonly store fails EREADONLY");
        rc = st.wipe(&st);
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot wipe",
                   "wipe on a readonly store fails EREADONLY");
        rc = st.save(&st);
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot save",
                   "save on a readonly store fails EREADONLY");
        rc = st.set_big_data(&st, ID_A, "manifest", "m");
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot set_big_data",
                   "set_big_data on a readonly store fails EREADONLY");
        rc = st.set_size(&st, ID_A, 1);
        check_fail(&st, rc, IMAGE_STORE_EREADONLY, "EREADONLY", "store is read-only: cannot set_size",
                   "set_size on a readonly store fails EREADONLY");
        check(st.exists("x", &st), "readonly store still has the image");
    }
    image_store_close(&st);
    st_open = false;

    rm_rf(dir);
    rm_rf(otherdir);
}

/* ---- check with options: what iSulad would do at its next start --------- */
/* (tmp/isulad: one group of its own) */

#define ISULAD_LAYER "6194458b07fcf01f1483d96cd6c34302ffff7f382bb151a6d023c4e80ba3050a"
#define OCI_CONFIG                                                                          \
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","   \
    "\"diff_ids\":[\"" DIGEST_X "\"]}}"
#define SCHEMA2_MANIFEST                                                                    \
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest."    \
    "v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\"," \
    "\"size\":1,\"digest\":\"" DIGEST_X "\"},\"layers\":[]}"

/* An image iSulad loads as it is: a config, a manifest, a layer, a size. */
/* The name is set after create, so that the record has a names history
 * (create leaves it empty, as containers/storage does). */
static bool make_isulad_image(const char *id, const char *name, bool with_config)
{
    const char *names[] = { name };
    char key[80];
    snprintf(key, sizeof(key), "sha256:%s", id);
    return st.create(id, NULL, 0, ISULAD_LAYER, NULL, IMAGE_TIME_NOW, NULL, &st, NULL) == 0 &&
           st.set_names(id, names, 1, &st) == 0 &&
           (!with_config || st.set_big_data(&st, id, key, OCI_CONFIG) == 0) &&
           st.set_big_data(&st, id, "manifest", SCHEMA2_MANIFEST) == 0 &&
           st.set_size(&st, id, 1000) == 0;
}

/* Finding i of n, exactly: kind, path below dir, sentence. */
static void check_finding(const image_store_problem *f, size_t n, size_t i, const char *kind,
                          const char *rel, const char *problem, const char *what)
{
    char *path = path_join(dir, rel), label[200];
    bool there = i < n;
    snprintf(label, sizeof(label), "%s: kind and path", what);
    check(there && str_eq(f[i].kind, kind) && str_eq(f[i].path, path), "%s", label);
    snprintf(label, sizeof(label), "%s: the sentence", what);
    check_str(there ? f[i].problem : NULL, problem, label);
    free(path);
}

#define RENAMES_BUSYBOX                                                                    \
    "iSulad would rename \"docker.io/library/busybox:latest\" to \"busybox:latest\" at its " \
    "next start (it strips \"docker.io/\", then \"library/\", from the start of names) and "  \
    "rewrite this record"

static void test_check_with_isulad(void)
{
    image_store_problem *f = NULL, *plain = NULL;
    size_t n = 0, plain_n = 0;
    image_store_check_options opts = { false, NULL };
    int rc;

    use_dirs("isulad", NULL);
    if (!open_group_store("isulad check: open"))
        return;
    check(make_isulad_image(ID_A, "docker.io/library/busybox:latest", true),
          "isulad check: an image with a config, a manifest, a layer and a size");

    rc = image_store_check(&st, &plain, &plain_n);
    check(rc == 0 && plain_n == 0, "check() finds nothing wrong");
    rc = image_store_check_with(&st, NULL, &f, &n);
    check(rc == 0 && f != NULL && n == 0, "check_with(NULL options) is check()");
    image_store_problems_free(f, n);
    rc = image_store_check_with(&st, &opts, &f, &n);
    check(rc == 0 && n == 0, "check_with without isulad says nothing of iSulad");
    image_store_problems_free(f, n);

    opts.isulad = true;
    rc = image_store_check_with(&st, &opts, &f, &n);
    check_ok(&st, rc, "check_with isulad, default registry");
    check_int((long long)n, 2, "a rename, and the rewrite that comes with it");
    check_finding(f, n, 0, "isulad-rename", ID_A "/images.json", RENAMES_BUSYBOX,
                  "docker.io is the default registry");
    check_finding(f, n, 1, "isulad-drops-field", ID_A "/images.json",
                  "iSulad would rewrite this record at its next start (it renames a name) and "
                  "drop \"names-history\"",
                  "the rewrite drops the names history");
    image_store_problems_free(f, n);

    opts.isulad_default_registry = "";
    rc = image_store_check_with(&st, &opts, &f, &n);
    check(rc == 0 && n == 0, "no default registry: no name is rewritten");
    image_store_problems_free(f, n);
    opts.isulad_default_registry = "quay.io";
    rc = image_store_check_with(&st, &opts, &f, &n);
    check(rc == 0 && n == 0, "another default registry leaves docker.io names alone");
    image_store_problems_free(f, n);

    f = NULL;
    n = 7;
    opts.isulad_default_registry = "localhost:5000";
    rc = image_store_check_with(&st, &opts, &f, &n);
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL",
               "default registry \"localhost:5000\" is not a host name iSulad accepts",
               "a registry with a port is EINVAL (iSulad would not start)");
    check(f == NULL && n == 7, "a refused check returns nothing");

    opts.isulad_default_registry = NULL;
    check(make_isulad_image(ID_B, "isula.org/b:1", false), "isulad check: an image without config");
    rc = image_store_check_with(&st, &opts, &f, &n);
    check(rc == 0 && n == 3, "three findings");
    check_finding(f, n, 0, "isulad-rename", ID_A "/images.json", RENAMES_BUSYBOX,
                  "the rename is still found");
    check_finding(f, n, 2, "isulad-delete", ID_B,
                  "iSulad would delete this image directory at its next start: no big-data "
                  "item \"sha256:" ID_B "\" (its config)",
                  "an image without config would be deleted");
    image_store_problems_free(f, n);
    image_store_problems_free(plain, plain_n);

    image_store_close(&st);
    st_open = false;
    rm_rf(dir);
}

/* ---- the batch pair: applied in order, one commit, abort leaves nothing --- */
/* (tmp/batch: st, and other on the same directory) */

static void test_batch_stores_open(void)
{
    int rc;

    use_dirs("batch", NULL);
    if (!open_group_store("batch: open")) {
        return;
    }
    rc = new_image_store(false, false, dir, &other);
    check_ok(&other, rc, "batch: open a second store on the same directory");
}

static void test_batch_commit(void)
{
    const char *n1[] = {"batch/a:1"};
    image_storage_images img;
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (!st_open)
        return;
    check_ok(&st, image_store_batch_begin(&st), "batch_begin");
    check_fail(&st, image_store_batch_begin(&st), IMAGE_STORE_EINVAL, "EINVAL", "a batch is already open",
               "a nested batch_begin fails EINVAL");
    memset(&img, 0, sizeof(img));
    rc = st.create(ID_A, n1, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
    check_ok(&st, rc, "create inside a batch");
    image_storage_images_clear(&img);
    check_ok(&st, st.set_big_data_len(&st, ID_A, "manifest", "MANIFEST", 8), "set_big_data inside a batch");
    rc = st.big_data_len(&st, "batch/a:1", "manifest", &data, &len);
    check(rc == 0 && len == 8 && memcmp(data, "MANIFEST", 8) == 0, "a batch reads its own staged big data");
    free(data);
    data = NULL;
    check(!other.exists(ID_A, &other), "another store does not see an uncommitted batch");
    check_ok(&st, image_store_batch_commit(&st), "batch_commit");
    check(other.exists("batch/a:1", &other), "another store sees the batch once committed");
    check_fail(&st, image_store_batch_commit(&st), IMAGE_STORE_EINVAL, "EINVAL", "no batch is open",
               "batch_commit without a batch fails EINVAL");
}

/* The last case on tmp/batch: closes both stores and removes it. */
static void test_batch_abort(void)
{
    const char *n2[] = {"batch/b:1"};
    image_storage_images img;
    char *id = NULL, *b_dir;
    int rc;

    if (!st_open)
        return;
    check_ok(&st, image_store_batch_begin(&st), "batch_begin again");
    memset(&img, 0, sizeof(img));
    rc = st.create(ID_B, n2, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, &img);
    check_ok(&st, rc, "create inside the batch that is then aborted");
    check_str(img.id, ID_B, "that create gives the image");
    image_storage_images_clear(&img);
    check(st.exists("batch/b:1", &st), "the batch sees the image it created, by name");
    check_ok(&st, st.delete(ID_A, &st), "delete inside a batch");
    check(!st.exists(ID_A, &st), "the batch no longer sees the image it deleted");
    image_store_batch_abort(&st);
    check(!st.exists(ID_B, &st) && !st.exists("batch/b:1", &st), "abort forgets what the batch created");
    b_dir = path_join(dir, ID_B);
    check(!path_exists(b_dir), "abort leaves no directory of the image the batch created");
    free(b_dir);
    check(st.exists(ID_A, &st), "abort brings back what the batch deleted");
    check(!other.exists(ID_B, &other) && other.exists(ID_A, &other), "another store saw nothing of it");
    rc = st.lookup("batch/a:1", &st, &id);
    check(rc == 0 && id != NULL && strcmp(id, ID_A) == 0, "the store works after an abort");
    free(id);
    image_store_batch_abort(&st); /* without a batch: nothing happens */
    image_store_close(&other);
    image_store_close(&st);
    st_open = false;
    rm_rf(dir);
}

/* ---- hooks -------------------------------------------------------------- */

typedef struct hook_log {
    image_store_t *st;
    char events[2048];    /* "kind id8 names|old_names;" per event */
    int fail_event_at;    /* fail the Nth event (1-based) from now, 0: never */
    int events_seen;
    int reentry_rc, reentry_code;
    int close_code; /* image_store_close from inside the hook: the code it left */
} hook_log;

static int test_name_hook(void *data, image_name_use use, const char *name,
                          image_hook_result *result)
{
    hook_log *log = data;
    if (strcmp(name, "reenter") == 0) {
        log->reentry_rc = log->st->exists(ID_A, log->st) ? 0 : -1;
        log->reentry_code = image_store_error_code(log->st);
        return 0;
    }
    if (strcmp(name, "close-me") == 0) {
        image_store_close(log->st);
        log->close_code = image_store_error_code(log->st);
        return 0;
    }
    if (strncmp(name, "bad", 3) == 0) {
        image_hook_result_set_message(result, "names starting with bad are not allowed");
        return IMAGE_STORE_EINVAL;
    }
    if (strcmp(name, "boom") == 0) {
        image_hook_result_set_message(result, "the hook broke");
        return -1;
    }
    if (strchr(name, '/') != NULL)
        return 0;
    char full[256];
    snprintf(full, sizeof(full), "reg.example/%s", name);
    if (use == IMAGE_NAME_LOOKUP) {
        char mirror[256];
        snprintf(mirror, sizeof(mirror), "mirror.example/%s", name);
        return image_hook_result_add_name(result, full) == 0 &&
                       image_hook_result_add_name(result, mirror) == 0
                   ? 0
                   : -1;
    }
    return image_hook_result_add_name(result, full);
}

static const char *const event_kind_names[] = {"create", "delete", "names", "big_data",
                                               "loaded"};

static int test_event_hook(void *data, const image_event *e, image_hook_result *result)
{
    hook_log *log = data;
    size_t used = strlen(log->events);
    char *p = log->events + used;
    size_t room = sizeof(log->events) - used;
    int n = snprintf(p, room, "%s %.4s", event_kind_names[e->kind], e->id);
    for (size_t i = 0; i < e->names_len && n > 0 && (size_t)n < room; i++)
        n += snprintf(p + n, room - (size_t)n, " %s", e->names[i]);
    if (e->kind == IMAGE_EVENT_NAMES)
        for (size_t i = 0; i < e->old_names_len && n > 0 && (size_t)n < room; i++)
            n += snprintf(p + n, room - (size_t)n, " -%s", e->old_names[i]);
    if (e->kind == IMAGE_EVENT_BIG_DATA && n > 0 && (size_t)n < room)
        n += snprintf(p + n, room - (size_t)n, " %s %lld %.15s", e->key, (long long)e->size,
                      e->digest);
    if (e->kind == IMAGE_EVENT_LOADED && n > 0 && (size_t)n < room)
        n += snprintf(p + n, room - (size_t)n, " %s", e->loaded);
    if (n > 0 && (size_t)n < room)
        snprintf(p + n, room - (size_t)n, ";");
    if (log->fail_event_at > 0 && ++log->events_seen == log->fail_event_at) {
        image_hook_result_set_message(result, "audit refused it");
        return -1;
    }
    return 0;
}

static char *read_record_file(const char *store, const char *id)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/images.json", store, id);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 65536);
    if (buf != NULL && fread(buf, 1, 65535, f) == 0)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* The hooks' log, for the cases on tmp/hooks (st). */
static hook_log hlog;

static void test_set_hooks_installs_hooks(void)
{
    use_dirs("hooks", NULL);
    memset(&hlog, 0, sizeof(hlog));
    hlog.st = &st;
    if (!open_group_store("hooks: open")) {
        return;
    }
    image_store_hooks hooks = {test_name_hook, test_event_hook, &hlog};
    check_ok(&st, image_store_set_hooks(&st, &hooks), "set_hooks installs hooks");
}

static void test_name_hook_rewrites_a_created_name(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    const char *busybox[] = {"busybox"};
    memset(&img, 0, sizeof(img));
    rc = st.create(ID_A, busybox, 1, "layer1", NULL, IMAGE_TIME_NOW, NULL, &st, &img);
    if (check_ok(&st, rc, "create with a name the hook rewrites"))
        check_str(img.names_len == 1 ? img.names[0] : NULL, "reg.example/busybox",
                  "the name hook's name is stored");
    image_storage_images_clear(&img);
    check_str(hlog.events, "create aaaa reg.example/busybox;", "the event hook sees create");
}

static void test_short_name_found_through_the_hook(void)
{
    int rc;

    if (!st_open)
        return;
    char *id = NULL;
    rc = st.lookup("busybox", &st, &id);
    check(rc == 0 && str_eq(id, ID_A), "a short name is found through the hook's candidates");
    free(id);
}

static void test_name_hook_refusal_is_einval(void)
{
    int rc;

    if (!st_open)
        return;
    const char *bad[] = {"bad-name"};
    rc = st.create(ID_B, bad, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, NULL);
    check_fail(&st, rc, IMAGE_STORE_EINVAL, "EINVAL", "names starting with bad are not allowed",
               "a name the hook refuses is EINVAL with the hook's message");
    check(!st.exists(ID_B, &st), "a refused create makes nothing");
}

static void test_failing_name_hook_is_ehook(void)
{
    image_storage_images img;
    int rc;

    if (!st_open)
        return;
    const char *boom[] = {"boom"};
    rc = st.create(ID_B, boom, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, NULL);
    check_fail(&st, rc, IMAGE_STORE_EHOOK, "EHOOK", "name hook failed: the hook broke",
               "a failing name hook is EHOOK with its message");
    rc = st.get("boom", &st, &img);
    check_fail(&st, rc, IMAGE_STORE_EHOOK, "EHOOK", "name hook failed: the hook broke",
               "a failing name hook fails a lookup too");
}

static void test_several_hook_candidates_are_ambiguous(void)
{
    char *id = NULL;
    int rc;

    if (!st_open)
        return;
    const char *mirror[] = {"mirror.example/busybox"};
    rc = st.create(ID_B, mirror, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &st, NULL);
    check_ok(&st, rc, "create a second image under the other candidate");
    rc = st.lookup("busybox", &st, &id);
    check_fail(&st, rc, IMAGE_STORE_EAMBIGUOUS, "EAMBIGUOUS",
               "image reference \"busybox\" is ambiguous: matches reg.example/busybox "
               "(image aaaa00000000), mirror.example/busybox (image aaaa11111111)",
               "several candidates found are EAMBIGUOUS, listed");
    rc = st.lookup("reg.example/busybox", &st, &id);
    check(rc == 0 && str_eq(id, ID_A), "an exact name is found without the hook");
    free(id);
    id = NULL;
    rc = st.lookup("aaaa1", &st, &id);
    check(rc == 0 && str_eq(id, ID_B), "an ID prefix still works when no candidate matches");
    free(id);
    id = NULL;
}

/* set_names: the named image's event, then the one that lost a name;
 * failing the second aborts the whole change. */
static void test_event_hook_failing_aborts_set_names(void)
{
    char *id = NULL;
    int rc;

    if (!st_open)
        return;
    char *before_a = read_record_file(dir, ID_A), *before_b = read_record_file(dir, ID_B);
    hlog.events[0] = '\0';
    hlog.events_seen = 0;
    hlog.fail_event_at = 2;
    const char *steal[] = {"reg.example/busybox", "extra"};
    rc = st.set_names(ID_B, steal, 2, &st);
    check_fail(&st, rc, IMAGE_STORE_EHOOK, "EHOOK", "event hook failed: audit refused it",
               "an event hook failing in the middle of set_names is EHOOK");
    check_str(hlog.events,
              "names aaaa reg.example/busybox reg.example/extra -mirror.example/busybox;"
              "names aaaa -reg.example/busybox;",
              "set_names: the image named, then the one that loses a name");
    char *after_a = read_record_file(dir, ID_A), *after_b = read_record_file(dir, ID_B);
    check(before_a && after_a && strcmp(before_a, after_a) == 0 && before_b && after_b &&
              strcmp(before_b, after_b) == 0,
          "the aborted set_names left both records on disk as they were");
    free(before_a);
    free(before_b);
    free(after_a);
    free(after_b);
    rc = st.lookup("reg.example/busybox", &st, &id);
    check(rc == 0 && str_eq(id, ID_A), "the aborted set_names left the name where it was");
    free(id);
    id = NULL;
    hlog.fail_event_at = 0;
}

static void test_events_of_big_data_loaded_time_names_and_delete(void)
{
    if (!st_open)
        return;
    hlog.events[0] = '\0';
    check_ok(&st, st.set_big_data_len(&st, ID_A, "manifest", "abc", 3), "set_big_data with hooks");
    check_ok(&st, st.set_loaded_time(ID_A, (timestamp){1, 0}, &st), "set_loaded_time with hooks");
    check_ok(&st, st.remove_name(ID_A, "busybox", &st), "remove_name takes the hook's name");
    check_ok(&st, st.delete(ID_B, &st), "delete with hooks");
    check_str(hlog.events,
              "big_data aaaa manifest 3 sha256:ba7816bf;loaded aaaa 1970-01-01T00:00:01.000000000Z;"
              "names aaaa -reg.example/busybox;delete aaaa mirror.example/busybox;",
              "events for big data, loaded time, a removed name and a delete");
}

static void test_store_called_from_its_own_hook_refuses(void)
{
    if (!st_open)
        return;
    hlog.events[0] = '\0';
    check_ok(&st, st.add_name(ID_A, "reenter", &st), "a hook that calls its store");
    check(hlog.reentry_rc == -1 && hlog.reentry_code == IMAGE_STORE_EINVAL,
          "a store called from its own hook refuses (EINVAL)");
}

static void test_store_closed_from_its_own_hook_stays_open(void)
{
    if (!st_open)
        return;
    hlog.close_code = 0;
    check_ok(&st, st.add_name(ID_A, "close-me", &st), "a hook that closes its store");
    check(hlog.close_code == IMAGE_STORE_EINVAL,
          "closing a store from its own hook is refused (EINVAL)");
    char *id = NULL;
    check(st.lookup("close-me", &st, &id) == 0 && str_eq(id, ID_A),
          "the store is still open and holds the name the operation gave");
    free(id);
}

/* The last case on tmp/hooks: closes st and removes it. */
static void test_set_hooks_null_removes_the_hooks(void)
{
    char *id = NULL;
    int rc;

    if (!st_open)
        return;
    check(image_store_set_hooks(&st, NULL) == 0, "set_hooks(NULL) removes the hooks");
    hlog.events[0] = '\0';
    const char *plain[] = {"plain"};
    check_ok(&st, st.set_names(ID_A, plain, 1, &st), "set_names without hooks");
    rc = st.lookup("plain", &st, &id);
    check(rc == 0 && str_eq(id, ID_A) && hlog.events[0] == '\0',
          "without hooks names are stored as given and no event runs");
    free(id);
    image_store_close(&st);
    st_open = false;
    rm_rf(dir);
}

static const test_case tests[] = {
    TEST_CASE(test_image_store_sha256),
    TEST_CASE(test_timestamp_format),
    TEST_CASE(test_timestamp_parse),
    TEST_CASE(test_timestamp_now),
    TEST_CASE(test_readonly_open_of_a_missing_dir_fails),
    TEST_CASE(test_open_below_a_regular_file_fails),
    TEST_CASE(test_image_store_open_without_options),
    TEST_CASE(test_image_store_open_refuses_bad_additional_stores),
    TEST_CASE(test_additional_stores),
    TEST_CASE(test_additional_store_whose_change_check_fails),
    /* one store, in order */
    TEST_CASE(test_new_image_store_creates_a_store),
    TEST_CASE(test_create_with_id_names_layer_metadata_and_time),
    TEST_CASE(test_create_with_a_digest_at_time_now),
    TEST_CASE(test_create_without_an_id),
    TEST_CASE(test_create_refuses_a_taken_id),
    TEST_CASE(test_create_refuses_a_taken_name),
    TEST_CASE(test_create_refuses_a_bad_id),
    TEST_CASE(test_create_refuses_an_empty_name),
    TEST_CASE(test_exists),
    TEST_CASE(test_lookup),
    TEST_CASE(test_get),
    TEST_CASE(test_set_names),
    TEST_CASE(test_add_name),
    TEST_CASE(test_add_name_steals_a_name),
    TEST_CASE(test_remove_name),
    TEST_CASE(test_add_name_refuses_an_empty_name),
    TEST_CASE(test_metadata),
    TEST_CASE(test_big_data),
    TEST_CASE(test_big_data_with_nul_bytes),
    TEST_CASE(test_big_data_refuses_missing_and_bad_keys),
    TEST_CASE(test_size_and_loaded_time),
    TEST_CASE(test_images),
    TEST_CASE(test_by_digest),
    TEST_CASE(test_save_load_and_problems),
    TEST_CASE(test_second_store_on_the_same_dir),
    TEST_CASE(test_independent_store_in_another_dir),
    TEST_CASE(test_wipe),
    TEST_CASE(test_readonly_store),
    TEST_CASE(test_check_with_isulad),
    /* batches, in order */
    TEST_CASE(test_batch_stores_open),
    TEST_CASE(test_batch_commit),
    TEST_CASE(test_batch_abort),
    /* hooks, in order */
    TEST_CASE(test_set_hooks_installs_hooks),
    TEST_CASE(test_name_hook_rewrites_a_created_name),
    TEST_CASE(test_short_name_found_through_the_hook),
    TEST_CASE(test_name_hook_refusal_is_einval),
    TEST_CASE(test_failing_name_hook_is_ehook),
    TEST_CASE(test_several_hook_candidates_are_ambiguous),
    TEST_CASE(test_event_hook_failing_aborts_set_names),
    TEST_CASE(test_events_of_big_data_loaded_time_names_and_delete),
    TEST_CASE(test_store_called_from_its_own_hook_refuses),
    TEST_CASE(test_store_closed_from_its_own_hook_stays_open),
    TEST_CASE(test_set_hooks_null_removes_the_hooks),
};

int main(int argc, char **argv)
{
    char template[] = "/tmp/image_store_test-XXXXXX";

    if (argc > 1) {
        tmp = path_join(argv[1], "image_store_test");
        rm_rf(tmp);
        if (mkdir(tmp, 0700) != 0) {
            perror(tmp);
            free(tmp);
            return 2;
        }
    } else {
        if (mkdtemp(template) == NULL) {
            perror("mkdtemp");
            return 2;
        }
        tmp = strdup(template);
        if (tmp == NULL) {
            perror("strdup");
            return 2;
        }
    }
    RUN_CASES(tests);
    if (st_open) /* a group that did not get to its last case */
        image_store_close(&st);
    use_dirs(NULL, NULL);

    rm_rf(tmp);
    free(tmp);
    return tap_done();
}
