/*
 * Every mutator under injected filesystem failures (spec/faults/fault_shim.c,
 * preloaded: the test re-executes itself with LD_PRELOAD). For each mutator
 * and each failing call (write, fdatasync, fsync, syncfs, rename, mkdir, link,
 * open, read), the 1st, 2nd, ... such call fails in turn with ENOSPC, EIO,
 * EACCES, EROFS or a short write, until the mutator no longer reaches that
 * call. (Not readdir: a mutator lists directories after its commit too, to
 * remove an old version, where a failure only leaves garbage behind;
 * spec/c/fs_lock_test.c covers the listing that matters.)
 * Each time: the mutator fails with the injected code and a message naming a
 * path in the store, and memory and disk are exactly as before (compared
 * with a dump of images() and a hash of every file), also for a fresh open.
 * TAP output.
 */

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"
#include "test_support.h"

#define A_ID "aaaa000000000000000000000000000000000000000000000000000000000001"
#define B_ID "bbbb000000000000000000000000000000000000000000000000000000000002"

/* ---- what "as before" means ---- */

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void add(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        if (t->s == NULL)
            abort();
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void adds(text *t, const char *s)
{
    add(t, s ? s : "(null)", strlen(s ? s : "(null)"));
    add(t, "\n", 1);
}

/* Everything the API says about the store. */
static char *dump_memory(image_store_t *st)
{
    text t = {0};
    image_storage_images *imgs = NULL;
    size_t n = 0;
    if (st->images(st, &imgs, &n) != 0)
        return strdup("images() failed");
    for (size_t i = 0; i < n; i++) {
        const image_storage_images *img = &imgs[i];
        char line[64];
        adds(&t, img->id);
        adds(&t, img->digest);
        for (size_t j = 0; j < img->names_len; j++)
            adds(&t, img->names[j]);
        for (size_t j = 0; j < img->names_history_len; j++)
            adds(&t, img->names_history[j]);
        adds(&t, img->metadata);
        adds(&t, img->loaded);
        snprintf(line, sizeof(line), "size %lld", (long long)img->size);
        adds(&t, line);
        for (size_t j = 0; j < img->big_data_names_len; j++) {
            char *data = NULL;
            size_t len = 0;
            adds(&t, img->big_data_names[j]);
            adds(&t, img->big_data_digests[j]);
            snprintf(line, sizeof(line), "%lld", (long long)img->big_data_sizes[j]);
            adds(&t, line);
            if (st->big_data_len(st, img->id, img->big_data_names[j], &data, &len) == 0)
                add(&t, data, len);
            free(data);
        }
    }
    image_storage_images_free(imgs, n);
    return t.s ? t.s : strdup("");
}

static text tree;
static size_t tree_root_len;

static int tree_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    const char *rel = path + tree_root_len;
    if (strstr(rel, ".imagestore.lock") != NULL)
        return 0; /* the lock file's counter moves only on success; its bytes are not data */
    adds(&tree, rel);
    if (type == FTW_F) {
        FILE *f = fopen(path, "rb");
        char buf[4096];
        size_t n;
        while (f != NULL && (n = fread(buf, 1, sizeof(buf), f)) > 0)
            add(&tree, buf, n);
        if (f != NULL)
            fclose(f);
        char mode[32];
        snprintf(mode, sizeof(mode), "\nmode %o size %lld\n", (unsigned)sb->st_mode,
                 (long long)sb->st_size);
        adds(&tree, mode);
    }
    return 0;
}

/* Every entry below dir, with contents (nftw visits in directory order:
 * compared as sorted lines would be nicer, but the order is stable for an
 * unchanged directory). */
static char *dump_disk(const char *dir)
{
    tree.len = 0;
    tree.s = NULL;
    tree.cap = 0;
    tree_root_len = strlen(dir);
    nftw(dir, tree_entry, 16, FTW_PHYS);
    return tree.s ? tree.s : strdup("");
}

/* ---- the mutators ---- */

typedef int (*mutator)(image_store_t *st);

static int m_create(image_store_t *st)
{
    const char *names[] = {"new:1"};
    return st->create(NULL, names, 1, "layer", "{}", (timestamp){0, 0}, NULL, st, NULL);
}
static int m_set_names(image_store_t *st)
{
    const char *names[] = {"x:1", "b:1"}; /* takes b:1 from B: two records change */
    return st->set_names(A_ID, names, 2, st);
}
static int m_add_name(image_store_t *st) { return st->add_name(A_ID, "b:1", st); }
static int m_remove_name(image_store_t *st) { return st->remove_name(A_ID, "a:1", st); }
static int m_delete(image_store_t *st) { return st->delete(A_ID, st); }
static int m_wipe(image_store_t *st) { return st->wipe(st); }
static int m_save(image_store_t *st) { return st->save(st); }
static int m_set_loaded_time(image_store_t *st)
{
    return st->set_loaded_time(A_ID, (timestamp){1500000000, 5}, st);
}
static int m_set_metadata(image_store_t *st) { return st->set_metadata(st, A_ID, "changed"); }
static int m_set_size(image_store_t *st) { return st->set_size(st, A_ID, 4242); }
static int m_replace_big_data(image_store_t *st)
{
    return st->set_big_data_len(st, A_ID, "manifest", "a new manifest", 14);
}
static int m_new_big_data(image_store_t *st)
{
    return st->set_big_data_len(st, A_ID, "sha256:" A_ID, "a config", 8);
}
static int m_batch(image_store_t *st)
{
    const char *names[] = {"batched:1"};
    image_storage_images img;
    if (image_store_batch_begin(st) != 0)
        return -1;
    memset(&img, 0, sizeof(img));
    if (st->create(NULL, names, 1, NULL, NULL, (timestamp){0, 0}, NULL, st, &img) == 0) {
        st->set_big_data_len(st, img.id, "manifest", "batched manifest", 16);
        image_storage_images_clear(&img);
    }
    st->set_metadata(st, B_ID, "in a batch");
    st->delete(A_ID, st);
    return image_store_batch_commit(st);
}

static const struct {
    const char *name;
    mutator fn;
} mutators[] = {
    {"create", m_create},
    {"set_names", m_set_names},
    {"add_name", m_add_name},
    {"remove_name", m_remove_name},
    {"delete", m_delete},
    {"wipe", m_wipe},
    {"save", m_save},
    {"set_loaded_time", m_set_loaded_time},
    {"set_metadata", m_set_metadata},
    {"set_size", m_set_size},
    {"set_big_data (replace)", m_replace_big_data},
    {"set_big_data (new key)", m_new_big_data},
    {"batch", m_batch},
};

static const char *calls[] = {"write", "fdatasync", "fsync", "syncfs", "rename",
                              "mkdir", "link",      "open",  "read"};
static const char *codes[] = {"ENOSPC", "EIO", "EACCES", "EROFS", "short"};

/* The store the cases work on: <temp dir>/store. */
static char dir[64];

static void setup(void)
{
    image_store_t st;
    const char *a[] = {"a:1"}, *b[] = {"b:1"};
    rm_rf(dir);
    if (new_image_store(false, false, dir, &st) != 0 ||
        st.create(A_ID, a, 1, NULL, "{}", (timestamp){1400000000, 0}, NULL, &st, NULL) != 0 ||
        st.create(B_ID, b, 1, NULL, "{}", (timestamp){1400000000, 0}, NULL, &st, NULL) != 0 ||
        st.set_big_data_len(&st, A_ID, "manifest", "the manifest", 12) != 0) {
        fprintf(stderr, "setup: %s\n", image_store_error_message(&st));
        exit(2);
    }
    image_store_close(&st);
}

/* One mutator, one call, the nth such call failing with code. false: the
 * mutator did not reach it. */
static bool run_fault_case(size_t m, const char *call, int nth, const char *code)
{
    image_store_t st;
    char spec[64], what[160];
    setup();
    if (new_image_store(false, false, dir, &st) != 0) {
        check(false, "open for %s", mutators[m].name);
        image_store_close(&st);
        return false;
    }
    char *mem_before = dump_memory(&st), *disk_before = dump_disk(dir);
    snprintf(spec, sizeof(spec), "%s:%d:%s", call, nth, code);
    unsetenv("IMAGESTORE_FAULT_HIT");
    setenv("IMAGESTORE_FAULT", spec, 1);
    int rc = mutators[m].fn(&st);
    unsetenv("IMAGESTORE_FAULT");
    bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
    snprintf(what, sizeof(what), "%s with %s", mutators[m].name, spec);
    if (hit) {
        const char *want = strcmp(code, "short") == 0 ? "ENOSPC" : code;
        const char *msg = image_store_error_message(&st);
        check(rc != 0, "%s fails", what);
        check(strcmp(image_store_error_name(&st), want) == 0, "%s reports %s (got %s: %s)", what,
              want, image_store_error_name(&st), msg);
        check(strstr(msg, dir) != NULL, "%s names a path in the store: %s", what, msg);
        char *mem_after = dump_memory(&st), *disk_after = dump_disk(dir);
        check(strcmp(mem_before, mem_after) == 0, "%s leaves memory as it was", what);
        check(strcmp(disk_before, disk_after) == 0, "%s leaves the disk as it was", what);
        image_store_t again;
        if (new_image_store(false, false, dir, &again) == 0) {
            char *mem_again = dump_memory(&again);
            check(strcmp(mem_before, mem_again) == 0, "%s: a fresh open sees the old store", what);
            free(mem_again);
        }
        image_store_close(&again);
        free(mem_after);
        free(disk_after);
    }
    free(mem_before);
    free(disk_before);
    image_store_close(&st);
    return hit;
}

/* How many failure cases ran. */
static int cases;

/* The mutator under every call of `calls` failing, the 1st, 2nd, ... such
 * call in turn until the mutator no longer reaches it (for write, a short
 * write too). Returns how many failures the mutator met. */
static int run_under_faults(size_t m)
{
    int reached = 0;
    for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
        for (int nth = 1; nth < 200 && run_fault_case(m, calls[c], nth, codes[(nth + c) % 4]);
             nth++)
            reached++, cases++;
        for (int nth = 1; c == 0 && nth < 200 && run_fault_case(m, "write", nth, "short"); nth++)
            reached++, cases++; /* a short write, then a full disk */
    }
    return reached;
}

/* One case: mutator m fails cleanly under every injected failure, meets at
 * least one, and works without faults. */
static void test_mutator_under_faults(size_t m)
{
    int reached = run_under_faults(m);
    check(reached > 0, "%s meets at least one injected failure (%d)", mutators[m].name,
          reached);
    /* and without faults it works */
    image_store_t st;
    setup();
    new_image_store(false, false, dir, &st);
    int rc = mutators[m].fn(&st);
    check(rc == 0, "%s succeeds without faults (%s)", mutators[m].name,
          image_store_error_message(&st));
    image_store_close(&st);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rerun = rerun_under_fault_shim(argv);
    if (rerun != 0)
        return rerun;
    char template[] = "/tmp/fault_test-XXXXXX";
    if (mkdtemp(template) == NULL)
        return 2;
    snprintf(dir, sizeof(dir), "%s/store", template);
    (void)argc;
    /* the cases: one per mutator */
    for (size_t m = 0; m < sizeof(mutators) / sizeof(mutators[0]); m++) {
        int failed = tests_failed;
        test_mutator_under_faults(m);
        if (tests_failed > failed)
            diag("failed in the case of %s", mutators[m].name);
    }
    rm_rf(template);
    printf("# %d failure cases\n", cases);
    return tap_done();
}
