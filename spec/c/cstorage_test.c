/*
 * containers/storage's image store layout (Podman, CRI-O, Buildah) through
 * the C API, read-only: the store Podman wrote (spec/fixtures/
 * containers-storage, copied first) with every value its README lists,
 * every lookup, the refusals (ELAYOUT for a writable open, EREADONLY for
 * every change), problems() for what containers/storage drops or refuses,
 * the lock protocol (a reload only on a new last-writer token; a read waits
 * for a writer's fcntl lock, held by a forked child), and the element-wise
 * parser (json_tree_each_element()) directly.
 *
 *   cstorage_test [TMPDIR]
 *
 * Prints TAP; exits 1 when a check failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "image_store.h"
#include "json_tree.h"
#include "test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HELLO "7d6555ccc8763045ecdf38dcc36070ae51aa9adf0965fb13c1017805a23b0caf"
#define TOOLS "70e6b2b80b73b8271aa5c7ed90f72747cf853d6b3b9edd4880a055c8d249af37"
#define HELLO_DIGEST "sha256:4da0e808d00fcf504200be476f73c791f93316fd7d707b1a602f2bc8c82d9a9e"
#define TOOLS_DIGEST "sha256:aff55b086042d24f18b3104400e75e4e9839ecb9bd2a58f22093bd7c74ee2bff"
#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char *tmp;   /* this run's directory */
static int serial;  /* for fresh store directories */
static char dir[4096];

/* ---- helpers ---- */

static bool str_eq(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool check_str(const char *got, const char *want, const char *what)
{
    bool ok = check(str_eq(got, want), "%s", what);
    if (!ok) {
        diag("     got: %s", got ? got : "NULL");
        diag("expected: %s", want ? want : "NULL");
    }
    return ok;
}

static bool check_fail(const image_store_t *st, int rc, int code, const char *message,
                       const char *what)
{
    bool ok = rc == -1 && image_store_error_code(st) == code &&
              str_eq(image_store_error_message(st), message);
    check(ok, "%s", what);
    if (!ok)
        diag("got rc %d, code %d, \"%s\"; expected code %d, \"%s\"", rc,
             image_store_error_code(st), image_store_error_message(st), code, message);
    return ok;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void write_in(const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, text, strlen(text));
}

/* A new token, as a containers/storage writer leaves it. */
static void touch_token(char c)
{
    char token[64];
    memset(token, c, sizeof(token));
    char path[4200];
    snprintf(path, sizeof(path), "%s/images.lock", dir);
    write_file(path, token, sizeof(token));
}

/* dir = a fresh copy of the fixture. */
static void fresh_copy(void)
{
    const char *fixtures = getenv("IMAGESTORE_FIXTURES");
    char cmd[9000];
    snprintf(dir, sizeof(dir), "%s/store-%d", tmp, ++serial);
    snprintf(cmd, sizeof(cmd), "cp -a '%s/containers-storage/vfs-images' '%s' && chmod -R u+w '%s'",
             fixtures ? fixtures : "spec/fixtures", dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot copy the fixture: %s\n", cmd);
        exit(2);
    }
}

static bool open_ro(image_store_t *st)
{
    int rc = new_image_store(false, true, dir, st);
    if (!check(rc == 0, "read-only open of %s", dir))
        diag("%s: %s", image_store_error_name(st), image_store_error_message(st));
    return rc == 0;
}

static char *lookup(image_store_t *st, const char *ref)
{
    char *id = NULL;
    return st->lookup(ref, st, &id) == 0 ? id : NULL;
}

static bool check_lookup(image_store_t *st, const char *ref, const char *want)
{
    char *id = lookup(st, ref);
    bool ok = check_str(id, want, ref);
    free(id);
    return ok;
}

/* The IDs images() lists, joined by ' '. */
static void ids_of(image_store_t *st, char *out, size_t size)
{
    image_storage_images *list = NULL;
    size_t n = 0, used = 0;
    out[0] = '\0';
    if (st->images(st, &list, &n) != 0) {
        snprintf(out, size, "(images() failed: %s)", image_store_error_message(st));
        return;
    }
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%.4s", i ? " " : "", list[i].id);
    image_storage_images_free(list, n);
}

static bool check_ids(image_store_t *st, const char *want, const char *what)
{
    char got[512];
    ids_of(st, got, sizeof(got));
    return check_str(got, want, what);
}

/* problems() (or check()) as "kind path-after-dir: problem" lines. */
static void problems_text(const image_store_problem *p, size_t n, char *out, size_t size)
{
    size_t used = 0, skip = strlen(dir);
    out[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s %s: %s\n", p[i].kind,
                                 strncmp(p[i].path, dir, skip) == 0 ? p[i].path + skip : p[i].path,
                                 p[i].problem);
}

static bool check_problems(image_store_t *st, const char *want, const char *what)
{
    image_store_problem *p = NULL;
    size_t n = 0;
    char got[8192];
    if (!check(st->problems(st, &p, &n) == 0, "%s: problems()", what))
        return false;
    problems_text(p, n, got, sizeof(got));
    image_store_problems_free(p, n);
    return check_str(got, want, what);
}

static bool check_findings(image_store_t *st, const char *want, const char *what)
{
    image_store_problem *p = NULL;
    size_t n = 0;
    char got[8192];
    if (!check(image_store_check(st, &p, &n) == 0, "%s: check()", what))
        return false;
    problems_text(p, n, got, sizeof(got));
    image_store_problems_free(p, n);
    return check_str(got, want, what);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the fixture ---- */

/* One image as the fixture's README and podman-inspect.json say. */
static void check_image(image_store_t *st, const char *id, const char *digest, const char *const *names,
                        size_t names_len, const char *layer, const char *created, int64_t config_size)
{
    image_storage_images img;
    memset(&img, 0, sizeof(img));
    if (!check(st->get(id, st, &img) == 0, "get(%.12s)", id))
        return;
    check_str(img.id, id, "its id");
    check_str(img.digest, digest, "its digest");
    bool names_ok = img.names_len == names_len;
    for (size_t i = 0; names_ok && i < names_len; i++)
        names_ok = str_eq(img.names[i], names[i]);
    check(names_ok, "its names, in order");
    check_str(img.layer, layer, "its layer");
    check_str(img.created, created, "its created time");
    check(img.read_only, "read_only is set");
    check(img.digests_len == 1 && str_eq(img.digests[0], digest), "its digests");
    check(img.big_data_names_len == 4, "four big-data items");
    img.big_data_names_len = img.big_data_names_len < 4 ? img.big_data_names_len : 4;
    char config_key[80], manifest_key[100], signature_key[100];
    snprintf(config_key, sizeof(config_key), "sha256:%s", id);
    snprintf(manifest_key, sizeof(manifest_key), "manifest-%s", digest);
    snprintf(signature_key, sizeof(signature_key), "signature-%s", digest + 7);
    const char *keys[] = {config_key, manifest_key, "manifest", signature_key};
    const int64_t sizes[] = {config_size, 341, 341, 0};
    const char *digests[] = {config_key, digest, digest, EMPTY_SHA256};
    for (size_t i = 0; i < img.big_data_names_len; i++) {
        check_str(img.big_data_names[i], keys[i], "a big-data key, in the record's order");
        check(img.big_data_sizes[i] == sizes[i], "%s: recorded size %lld", keys[i], (long long)sizes[i]);
        check_str(img.big_data_digests[i], digests[i], "its recorded digest");
        char *data = NULL, *dg = NULL, computed[72];
        size_t len = 0;
        int64_t size = -1;
        if (check(st->big_data_len(st, id, keys[i], &data, &len) == 0, "big_data_len(%s)", keys[i])) {
            check(len == (size_t)sizes[i], "its bytes: %zu", len);
            image_store_sha256(computed, data, len);
            check_str(computed, digests[i], "their sha256");
        }
        free(data);
        check(st->big_data_size(st, id, keys[i], &size) == 0 && size == sizes[i], "big_data_size");
        check(st->big_data_digest(st, id, keys[i], &dg) == 0 && str_eq(dg, digests[i]), "big_data_digest");
        free(dg);
    }
    image_storage_images_clear(&img);
}

static void test_fixture_reads_back(void)
{
    fresh_copy();
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    check_ids(&st, "70e6 7d65", "images(): both, in ID order");
    const char *hello[] = {"example.com/demo/hello:1.0", "localhost/hello:latest"};
    const char *tools[] = {"quay.io/acme/tools:2.3"};
    check_image(&st, HELLO, HELLO_DIGEST, hello, 2,
                "a50ee53fc90835409f87778fc64aa91751af54afb536f135091d8e3d766ca69a",
                "2026-11-28T19:09:52.622771137Z", 455);
    check_image(&st, TOOLS, TOOLS_DIGEST, tools, 1,
                "24badb1df5d81e06fb42695db6f3e31caf19f61ecb74aa623357a81a9f529158",
                "2026-11-28T19:09:53.017427454Z", 422);
    check_lookup(&st, "localhost/hello:latest", HELLO);
    check_lookup(&st, "example.com/demo/hello:1.0", HELLO);
    check_lookup(&st, "quay.io/acme/tools:2.3", TOOLS);
    check_lookup(&st, "7d6555cc", HELLO);
    check_lookup(&st, "localhost/hello@" HELLO_DIGEST, HELLO);
    check_lookup(&st, "quay.io/acme/tools@" TOOLS_DIGEST, TOOLS);
    check(st.exists("70e6b2b8", &st), "exists(ID prefix)");
    check(!st.exists("docker.io/library/hello:1.0", &st), "exists(another name) is false");
    image_storage_images *list = NULL;
    size_t n = 0;
    check(st.by_digest(&st, TOOLS_DIGEST, &list, &n) == 0 && n == 1 && str_eq(list[0].id, TOOLS),
          "by_digest(tools' manifest digest)");
    image_storage_images_free(list, n);
    char *meta = NULL;
    check(st.metadata(&st, HELLO, &meta) == 0 &&
              str_eq(meta, "{\"signatures-sizes\":{\"" HELLO_DIGEST "\":[]}}"),
          "metadata(hello)");
    free(meta);
    char **keys = NULL;
    size_t nkeys = 0;
    check(st.big_data_names(&st, TOOLS, &keys, &nkeys) == 0 && nkeys == 4, "big_data_names(tools)");
    image_store_strings_free(keys, nkeys);
    char *data = NULL;
    check_fail(&st, st.big_data(&st, TOOLS, "config", &data), IMAGE_STORE_ENOTFOUND,
               "image " TOOLS " has no big-data item \"config\"", "an unknown key: ENOTFOUND");
    check_problems(&st, "", "problems(): none");
    check_findings(&st, "", "check(): nothing wrong");
    check(image_store_generation(&st) != 0, "generation() comes from the token");
    image_store_close(&st);
}

static void test_writable_open_refused(void)
{
    fresh_copy();
    char want[5000];
    snprintf(want, sizeof(want),
             "%s holds images.json at its top: that is the containers/storage (Podman, CRI-O, "
             "Buildah) layout, not an iSulad image store; open it readonly to read it (it is left "
             "as it is)",
             dir);
    for (int daemon = 0; daemon <= 1; daemon++) {
        image_store_t st;
        check_fail(&st, new_image_store(daemon, false, dir, &st), IMAGE_STORE_ELAYOUT, want,
                   daemon ? "a daemon open: ELAYOUT" : "a writable open: ELAYOUT");
        check_str(image_store_error_name(&st), "ELAYOUT", "named ELAYOUT");
        image_store_close(&st);
    }
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s/.imagestore.lock", dir);
    check(access(lock, F_OK) != 0, "no lock file of ours was made");
}

static void test_every_change_refused(void)
{
    fresh_copy();
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    const char *names[] = {"x:1"};
    image_storage_images img;
    memset(&img, 0, sizeof(img));
#define REFUSED(call, op) \
    check_fail(&st, (call), IMAGE_STORE_EREADONLY, "store is read-only: cannot " op, op ": EREADONLY")
    REFUSED(st.create(NULL, names, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, &img), "create");
    REFUSED(st.set_names(HELLO, names, 1, &st), "set_names");
    REFUSED(st.add_name(HELLO, "x:1", &st), "add_name");
    REFUSED(st.remove_name(HELLO, "localhost/hello:latest", &st), "remove_name");
    REFUSED(st.delete(HELLO, &st), "delete");
    REFUSED(st.wipe(&st), "wipe");
    REFUSED(st.save(&st), "save");
    REFUSED(st.set_loaded_time(HELLO, (timestamp){5, 0}, &st), "set_loaded_time");
    REFUSED(st.set_metadata(&st, HELLO, "{}"), "set_metadata");
    REFUSED(st.set_size(&st, HELLO, 5), "set_size");
    REFUSED(st.set_big_data(&st, HELLO, "manifest", "x"), "set_big_data");
    REFUSED(st.set_big_data_len(&st, HELLO, "manifest", "x", 1), "set_big_data");
    REFUSED(image_store_batch_begin(&st), "batch");
    image_store_problem *acts = NULL;
    size_t n = 0;
    REFUSED(image_store_repair(&st, &acts, &n), "repair");
    image_store_problems_free(acts, n);
#undef REFUSED
    check_ids(&st, "70e6 7d65", "both images still there");
    image_store_close(&st);
}

static void test_problems_of_dropped_records(void)
{
    fresh_copy();
    write_in("images.json",
             "[5,"
             "{\"id\":\"" A64 "\",\"names\":[\"a:1\",\"shared:1\"]},"
             "{\"id\":\"" B64 "\",\"names\":[\"b:1\"]},"
             "{\"id\":\"" A64 "\",\"names\":[\"a:2\",\"shared:1\"]},"
             "{\"id\":\"" HELLO "\",\"names\":[\"shared:1\",\"h\\u00e9\"]},"
             "{\"id\":\"" TOOLS "\",\"digest\":\"sha256:nothex\"},"
             "{\"id\":\"" B64 "x\"},"
             "{\"id\":\"" B64 "\",\"names\":[\"bad\xff\"]}]");
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    check_ids(&st, "7d65 aaaa bbbb", "the last record of an ID; bad elements dropped");
    check_problems(&st,
                   "unparseable /images.json: images.json[0]: not a JSON object\n"
                   "unparseable /images.json: images.json[5] (image " TOOLS "): \"digest\" is not a valid digest: sha256:nothex\n"
                   "unparseable /images.json: images.json[6]: \"id\" is not 64 lowercase hex characters\n"
                   "unparseable /images.json: images.json[7]: a string is not valid UTF-8\n"
                   "duplicate-id /images.json: images.json[1]: image " A64 " is there again as images.json[3], which is the one loaded\n"
                   "duplicate-name /images.json: images.json[3]: name \"shared:1\" of image " A64 " is also held by image " HELLO " (images.json[4]), which keeps it, as containers/storage gives a name to the last image holding it\n",
                   "problems(): each element's own, then IDs, then names");
    check_lookup(&st, "shared:1", HELLO);
    check_lookup(&st, "a:2", A64);
    check_lookup(&st, "h\xc3\xa9", HELLO);
    char *id = lookup(&st, "a:1");
    check(id == NULL, "the earlier record of an ID is not loaded");
    free(id);
    check_findings(&st,
                   "unparseable /images.json: images.json[0]: not a JSON object\n"
                   "unparseable /images.json: images.json[5] (image " TOOLS "): \"digest\" is not a valid digest: sha256:nothex\n"
                   "unparseable /images.json: images.json[6]: \"id\" is not 64 lowercase hex characters\n"
                   "unparseable /images.json: images.json[7]: a string is not valid UTF-8\n"
                   "duplicate-id /images.json: images.json[1]: image " A64 " is there again as images.json[3], which is the one loaded\n"
                   "duplicate-name /images.json: images.json[3]: name \"shared:1\" of image " A64 " is also held by image " HELLO " (images.json[4]), which keeps it, as containers/storage gives a name to the last image holding it\n"
                   "orphan-file /" HELLO "/=bWFuaWZlc3Qtc2hhMjU2OjRkYTBlODA4ZDAwZmNmNTA0MjAwYmU0NzZmNzNjNzkxZjkzMzE2ZmQ3ZDcwN2IxYTYwMmYyYmM4YzgyZDlhOWU=: file =bWFuaWZlc3Qtc2hhMjU2OjRkYTBlODA4ZDAwZmNmNTA0MjAwYmU0NzZmNzNjNzkxZjkzMzE2ZmQ3ZDcwN2IxYTYwMmYyYmM4YzgyZDlhOWU= is in no record\n"
                   "orphan-file /" HELLO "/=c2hhMjU2OjdkNjU1NWNjYzg3NjMwNDVlY2RmMzhkY2MzNjA3MGFlNTFhYTlhZGYwOTY1ZmIxM2MxMDE3ODA1YTIzYjBjYWY=: file =c2hhMjU2OjdkNjU1NWNjYzg3NjMwNDVlY2RmMzhkY2MzNjA3MGFlNTFhYTlhZGYwOTY1ZmIxM2MxMDE3ODA1YTIzYjBjYWY= is in no record\n"
                   "orphan-file /" HELLO "/=c2lnbmF0dXJlLTRkYTBlODA4ZDAwZmNmNTA0MjAwYmU0NzZmNzNjNzkxZjkzMzE2ZmQ3ZDcwN2IxYTYwMmYyYmM4YzgyZDlhOWU=: file =c2lnbmF0dXJlLTRkYTBlODA4ZDAwZmNmNTA0MjAwYmU0NzZmNzNjNzkxZjkzMzE2ZmQ3ZDcwN2IxYTYwMmYyYmM4YzgyZDlhOWU= is in no record\n"
                   "orphan-file /" HELLO "/manifest: file manifest is in no record\n"
                   "no-record /" TOOLS ": image directory " TOOLS " has no record in images.json\n",
                   "check(): the same, and what the image directories hold");
    image_store_close(&st);
}

static void test_unparseable_file(void)
{
    fresh_copy();
    write_in("images.json", "[{\"id\":\"" A64 "\"},{\"id\":");
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    check_ids(&st, "", "a truncated images.json: no image, not a part of it");
    check_problems(&st,
                   "unparseable /images.json: not JSON: parse error: premature EOF; "
                   "containers/storage cannot load it either, and no image is loaded\n",
                   "problems(): says why");
    /* the writer repairs it: the new token brings it back */
    write_in("images.json", "[{\"id\":\"" A64 "\"}]");
    touch_token('r');
    check_ids(&st, "aaaa", "after the writer's new token: its images");
    check_problems(&st, "", "problems(): none now");
    image_store_close(&st);
}

static void test_reload_only_on_a_new_token(void)
{
    fresh_copy();
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    uint64_t g = image_store_generation(&st);
    write_in("images.json", "[{\"id\":\"" A64 "\",\"names\":[\"new:1\"]}]");
    check_ids(&st, "70e6 7d65", "images.json rewritten without a new token: not re-read");
    check(image_store_generation(&st) == g, "generation() unchanged");
    touch_token('1');
    check_lookup(&st, "new:1", A64);
    check_ids(&st, "aaaa", "a new token: re-read");
    check(image_store_generation(&st) != g, "generation() changed with the token");
    write_in("images.json", "[]");
    check_ids(&st, "aaaa", "the same token: not re-read");
    check(st.load(&st) == 0, "load()");
    check_ids(&st, "", "load() re-reads anyway");
    image_store_close(&st);
}

static void test_read_waits_for_the_writer_lock(void)
{
    fresh_copy();
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    char lock[4200], next[4200], json[4200];
    snprintf(lock, sizeof(lock), "%s/images.lock", dir);
    snprintf(next, sizeof(next), "%s/next.json", tmp);
    snprintf(json, sizeof(json), "%s/images.json", dir);
    const char *text = "[{\"id\":\"" A64 "\",\"names\":[\"written:1\"]}]";
    write_file(next, text, strlen(text));
    int ready[2];
    if (pipe(ready) != 0) {
        perror("pipe");
        exit(2);
    }
    pid_t pid = fork();
    if (pid == 0) { /* the writer, as containers/storage's: F_WRLCK, write, new token */
        close(ready[0]);
        int fd = open(lock, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fd < 0 || fcntl(fd, F_SETLKW, &fl) != 0)
            _exit(3);
        if (write(ready[1], "L", 1) != 1)
            _exit(4);
        usleep(1000 * 1000);
        char token[64];
        memset(token, 'w', sizeof(token));
        if (rename(next, json) != 0 || pwrite(fd, token, sizeof(token), 0) != (ssize_t)sizeof(token))
            _exit(5);
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    check(pid > 0 && read(ready[0], &c, 1) == 1, "the writer holds the lock");
    close(ready[0]);
    double t0 = now();
    check_lookup(&st, "written:1", A64); /* without waiting: the old images */
    double waited = now() - t0;
    int status = -1;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer succeeded");
    check(waited > 0.5, "the read waited for the writer (%.2f s)", waited);
    image_store_close(&st);
}

static void test_missing_lock_file_is_not_created(void)
{
    fresh_copy();
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s/images.lock", dir);
    unlink(lock);
    image_store_t st;
    if (!open_ro(&st)) {
        image_store_close(&st);
        return;
    }
    check_ids(&st, "70e6 7d65", "opens without images.lock");
    check(image_store_generation(&st) == 0, "generation() 0: no token");
    check(access(lock, F_OK) != 0, "images.lock was not created");
    write_in("images.json", "[{\"id\":\"" B64 "\"}]");
    touch_token('n');
    check_ids(&st, "bbbb", "the first writer's lock file and token are seen");
    image_store_close(&st);
}

/* ---- the element-wise parser ---- */

typedef struct seen {
    char text[1024];
    size_t used;
} seen;

static int note_element(void *ctx, size_t at, yajl_val v, int code, const char *why)
{
    seen *s = ctx;
    const char *what = v == NULL ? why : YAJL_IS_OBJECT(v) ? "object" : YAJL_IS_ARRAY(v) ? "array" : "scalar";
    s->used += (size_t)snprintf(s->text + s->used, sizeof(s->text) - s->used, "%zu:%d:%s;", at, code, what);
    return 0;
}

static void test_each_element(void)
{
    char deep[4200], why[256];
    size_t n = 0;
    n += (size_t)snprintf(deep, sizeof(deep), "[{\"a\":");
    for (int i = 0; i < 1001; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1001; i++)
        deep[n++] = ']';
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "},{\"b\":\"x\\u0000\"},[[\"\xc3\x28\"]],{},1]");
    seen s = {"", 0};
    int rc = json_tree_each_element(deep, n, 1000, note_element, &s, why, sizeof(why));
    check(rc == 0, "a bad element does not end the parse");
    check_str(s.text,
              "0:-2:nested deeper than 1000 levels;1:-2:a string holds \\u0000, which this library "
              "cannot keep;2:-1:a string is not valid UTF-8;3:0:object;4:0:scalar;",
              "each element in order: too deep, \\u0000, not UTF-8, then fine ones");
    s.used = 0;
    s.text[0] = '\0';
    rc = json_tree_each_element("[{}, {", 6, 1000, note_element, &s, why, sizeof(why));
    check(rc == JSON_TREE_INVALID, "a truncated array is JSON_TREE_INVALID");
    check_str(why, "not JSON: parse error: premature EOF", "and says so");
    rc = json_tree_each_element("null", 4, 1000, note_element, &s, why, sizeof(why));
    check(rc == 0, "null is an array without elements");
    rc = json_tree_each_element("\"x\"", 3, 1000, note_element, &s, why, sizeof(why));
    check(rc == JSON_TREE_INVALID && str_eq(why, "not a JSON array"), "a string is not an array");
    check_str(s.text, "0:0:object;", "only the complete element was handed over");
}

static const test_case tests[] = {
    TEST_CASE(test_fixture_reads_back),
    TEST_CASE(test_writable_open_refused),
    TEST_CASE(test_every_change_refused),
    TEST_CASE(test_problems_of_dropped_records),
    TEST_CASE(test_unparseable_file),
    TEST_CASE(test_reload_only_on_a_new_token),
    TEST_CASE(test_read_waits_for_the_writer_lock),
    TEST_CASE(test_missing_lock_file_is_not_created),
    TEST_CASE(test_each_element),
};

int main(int argc, char **argv)
{
    char template[] = "/tmp/cstorage_test-XXXXXX";
    const char *base = argc > 1 ? argv[1] : NULL;
    char path[4096];
    if (base != NULL) {
        snprintf(path, sizeof(path), "%s/cstorage_test", base);
        rm_rf(path);
        if (mkdir(path, 0700) != 0) {
            perror(path);
            return 2;
        }
        tmp = path;
    } else if ((tmp = mkdtemp(template)) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    RUN_CASES(tests);
    rm_rf(tmp);
    return tap_done();
}
