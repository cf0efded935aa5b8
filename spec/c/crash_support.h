/*
 * What the crash tests share (spec/c/powerloss_test.c, killpoint_test.c):
 * the scenarios (every mutator, a batch, a batch of deletes, a sequence of
 * acknowledged operations, repair(), store GC and a daemon open over a
 * damaged store), what a
 * store looks like to a fresh open (its "view": every image with every
 * field and the bytes of every big-data item), and the judgement of a store
 * a crash left behind:
 *
 *   - a plain open and a daemon open both succeed;
 *   - every step acknowledged (returned 0) before the crash is there with
 *     its exact bytes; an image the step in flight touches is wholly as
 *     before it or wholly as after it; no other image differs;
 *   - check() finds nothing but temp leftovers (or what the store held
 *     before or after the step in flight: the damage repair() fixes);
 *   - the daemon open quarantines nothing (ditto), sees the same images,
 *     and leaves no temp leftover for check() to find.
 *
 * Header-only, like test_support.h: every function is static inline.
 */
#ifndef IMAGESTORE_CRASH_SUPPORT_H
#define IMAGESTORE_CRASH_SUPPORT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image_store.h"
#include "test_support.h"

#define A_ID "aaaa000000000000000000000000000000000000000000000000000000000001"
#define B_ID "bbbb000000000000000000000000000000000000000000000000000000000002"
#define C_ID "cccc000000000000000000000000000000000000000000000000000000000003"
#define D_ID "dddd000000000000000000000000000000000000000000000000000000000004"
#define E_ID "eeee000000000000000000000000000000000000000000000000000000000005"

/* ---- text ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static inline void sb_add(sbuf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (b->s == NULL)
            abort();
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static inline void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (b->s == NULL)
            abort();
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The text with every byte that is not printable ASCII as \xNN, at most max
 * bytes of it. */
static inline void sb_escaped(sbuf *b, const char *s, size_t len, size_t max)
{
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            sb_add(b, "\\n", 2);
        else if (c < 0x20 || c > 0x7e || c == '\\')
            sb_printf(b, "\\x%02x", c);
        else
            sb_add(b, &s[i], 1);
    }
    if (len > max)
        sb_printf(b, "...(%zu bytes)", len);
}

static inline char *sb_take(sbuf *b)
{
    char *s = b->s ? b->s : strdup("");
    memset(b, 0, sizeof(*b));
    return s;
}

/* ---- files ---- */

static inline void write_file_at(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        fprintf(stderr, "write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    close(fd);
}

/* cp -a, as far as a store needs it: directories, regular files, hard links
 * inside the tree kept as hard links. */
static inline void copy_tree_rec(const char *from, const char *to, char (*seen)[2][4096],
                                 ino_t *seen_ino, size_t *nseen)
{
    struct stat st;
    if (lstat(from, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        mkdir(to, st.st_mode & 07777);
        DIR *d = opendir(from);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char a[4096], b[4096];
            snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
            snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
            copy_tree_rec(a, b, seen, seen_ino, nseen);
        }
        if (d != NULL)
            closedir(d);
        return;
    }
    if (!S_ISREG(st.st_mode))
        return;
    if (st.st_nlink > 1) {
        for (size_t i = 0; i < *nseen; i++)
            if (seen_ino[i] == st.st_ino) {
                link(seen[i][1], to);
                return;
            }
        if (*nseen < 256) {
            seen_ino[*nseen] = st.st_ino;
            snprintf(seen[*nseen][1], sizeof(seen[0][1]), "%s", to);
            (*nseen)++;
        }
    }
    int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                                                          st.st_mode & 07777);
    char buf[65536];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            break;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
}

static inline void copy_tree(const char *from, const char *to)
{
    static char seen[256][2][4096];
    static ino_t seen_ino[256];
    size_t nseen = 0;
    rm_rf(to);
    copy_tree_rec(from, to, seen, seen_ino, &nseen);
}

/* Where the crash tests work: IMAGESTORE_CRASH_TMPDIR, else /dev/shm (tmpfs:
 * the syncs cost nothing, and the model, not the disk, says what is
 * durable), else /tmp. */
static inline const char *crash_tmpdir(void)
{
    const char *d = getenv("IMAGESTORE_CRASH_TMPDIR");
    if (d != NULL && d[0] != '\0')
        return d;
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

/* The start the crash tests share: re-run under the fault shim when not
 * yet there, read IMAGESTORE_CRASH_FULL into *full, and make the work
 * directory <crash_tmpdir()>/<name>-XXXXXX in workdir (len bytes). 0 to go
 * on, else the exit status main() returns. */
static inline int crash_main_start(char **argv, const char *name, bool *full, char *workdir,
                                   size_t len)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rerun = rerun_under_fault_shim(argv);
    if (rerun != 0)
        return rerun;
    const char *f = getenv("IMAGESTORE_CRASH_FULL");
    *full = f != NULL && strcmp(f, "0") != 0;
    snprintf(workdir, len, "%s/%s-XXXXXX", crash_tmpdir(), name);
    if (mkdtemp(workdir) == NULL) {
        perror(workdir);
        return 2;
    }
    return 0;
}

/* ---- views ---- */

/* One image as text: every field, every big-data item's bytes. */
static inline void dump_image(sbuf *b, image_store_t *st, const image_storage_images *img)
{
    sb_printf(b, "id %s\ndigest %s\n", img->id, img->digest ? img->digest : "-");
    for (size_t j = 0; j < img->digests_len; j++)
        sb_printf(b, "digests %s\n", img->digests[j]);
    for (size_t j = 0; j < img->names_len; j++)
        sb_printf(b, "name %s\n", img->names[j]);
    for (size_t j = 0; j < img->names_history_len; j++)
        sb_printf(b, "history %s\n", img->names_history[j]);
    sb_printf(b, "layer %s\nmetadata %s\ncreated %s\nloaded %s\nsize %lld\n",
              img->layer ? img->layer : "-", img->metadata ? img->metadata : "-",
              img->created ? img->created : "-", img->loaded ? img->loaded : "-",
              (long long)img->size);
    for (size_t j = 0; j < img->flags_len; j++)
        sb_printf(b, "flag %s %d %d %s\n", img->flags[j].key, (int)img->flags[j].kind,
                  (int)img->flags[j].boolean, img->flags[j].text ? img->flags[j].text : "-");
    for (size_t j = 0; j < img->big_data_names_len; j++) {
        char *data = NULL;
        size_t len = 0;
        sb_printf(b, "big-data %s %lld %s: ", img->big_data_names[j],
                  (long long)img->big_data_sizes[j],
                  img->big_data_digests[j] ? img->big_data_digests[j] : "-");
        if (st->big_data_len(st, img->id, img->big_data_names[j], &data, &len) == 0)
            sb_escaped(b, data, len, SIZE_MAX);
        else
            sb_printf(b, "(unreadable: %s %s)", image_store_error_name(st),
                      image_store_error_message(st));
        sb_add(b, "\n", 1);
        free(data);
    }
}

typedef struct image_text {
    char *id;
    char *text;
} image_text;

/* The store as a fresh open sees it, images in ID order. */
typedef struct view {
    image_text *items;
    size_t n;
} view;

static inline void view_free(view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->items[i].id);
        free(v->items[i].text);
    }
    free(v->items);
    memset(v, 0, sizeof(*v));
}

static inline bool view_of(image_store_t *st, view *v)
{
    image_storage_images *imgs = NULL;
    size_t n = 0;
    memset(v, 0, sizeof(*v));
    if (st->images(st, &imgs, &n) != 0)
        return false;
    v->items = calloc(n + 1, sizeof(*v->items));
    for (size_t i = 0; i < n; i++) {
        sbuf b = {0};
        dump_image(&b, st, &imgs[i]);
        v->items[i].id = strdup(imgs[i].id);
        v->items[i].text = sb_take(&b);
    }
    v->n = n;
    image_storage_images_free(imgs, n);
    return true;
}

static inline const char *view_find(const view *v, const char *id)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->items[i].id, id) == 0)
            return v->items[i].text;
    return NULL;
}

static inline bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static inline bool view_equal(const view *a, const view *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].id, b->items[i].id) != 0 ||
            strcmp(a->items[i].text, b->items[i].text) != 0)
            return false;
    return true;
}

/* ---- findings: "kind path" with the path relative to the store ---- */

typedef struct findings {
    char **items;
    size_t n;
} findings;

static inline void findings_free(findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->items[i]);
    free(f->items);
    memset(f, 0, sizeof(*f));
}

static inline void findings_from(findings *f, const image_store_problem *p, size_t n,
                                 const char *dir)
{
    size_t dl = strlen(dir);
    memset(f, 0, sizeof(*f));
    f->items = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *path = p[i].path ? p[i].path : "";
        if (strncmp(path, dir, dl) == 0 && path[dl] == '/')
            path += dl + 1;
        sbuf b = {0};
        sb_printf(&b, "%s %s", p[i].kind, path);
        f->items[f->n++] = sb_take(&b);
    }
}

static inline bool findings_has(const findings *f, const char *item)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->items[i], item) == 0)
            return true;
    return false;
}

static inline bool check_findings(image_store_t *st, const char *dir, findings *f)
{
    image_store_problem *p = NULL;
    size_t n = 0;
    if (image_store_check(st, &p, &n) != 0)
        return false;
    findings_from(f, p, n, dir);
    image_store_problems_free(p, n);
    return true;
}

static inline bool problem_findings(image_store_t *st, const char *dir, findings *f)
{
    image_store_problem *p = NULL;
    size_t n = 0;
    if (st->problems(st, &p, &n) != 0)
        return false;
    findings_from(f, p, n, dir);
    image_store_problems_free(p, n);
    return true;
}

/* ---- scenarios ---- */

typedef int (*step_fn)(image_store_t *st, const char *dir);

typedef struct step {
    const char *name;
    step_fn fn;
} step;

#define MAX_STEPS 8

typedef struct scenario {
    const char *name;
    void (*setup)(const char *dir);
    step steps[MAX_STEPS];
} scenario;

static inline size_t scenario_len(const scenario *sc)
{
    size_t n = 0;
    while (n < MAX_STEPS && sc->steps[n].fn != NULL)
        n++;
    return n;
}

static inline void setup_failed(image_store_t *st, const char *what)
{
    fprintf(stderr, "setup (%s): %s %s\n", what, image_store_error_name(st),
            image_store_error_message(st));
    exit(2);
}

/* A: a:1 with a manifest; B: b:1; D: d:1 with a manifest. No snapshot. */
static inline void setup_standard(const char *dir)
{
    image_store_t st;
    const char *a[] = {"a:1"}, *b[] = {"b:1"}, *d[] = {"d:1"};
    rm_rf(dir);
    if (new_image_store(false, false, dir, &st) != 0)
        setup_failed(&st, "open");
    if (st.create(A_ID, a, 1, "layer-a", "{}", (timestamp){1400000000, 0}, NULL, &st, NULL) != 0 ||
        st.create(B_ID, b, 1, NULL, "{}", (timestamp){1400000001, 0}, NULL, &st, NULL) != 0 ||
        st.create(D_ID, d, 1, NULL, "meta d", (timestamp){1400000002, 0}, NULL, &st, NULL) != 0 ||
        st.set_big_data_len(&st, A_ID, "manifest", "the manifest of a", 17) != 0 ||
        st.set_big_data_len(&st, D_ID, "manifest", "the manifest of d", 17) != 0)
        setup_failed(&st, "standard");
    image_store_close(&st);
}

/* The standard store, damaged in every way repair() mends by writing: D's
 * manifest no longer what its record says, a file in B no record names, a
 * name (a:1) also held by E, a directory that is no image, a subdirectory
 * in A (moved out of A's own directory), a temp leftover. */
static inline void setup_damaged(const char *dir)
{
    char path[4096], other[4200];
    setup_standard(dir);
    snprintf(path, sizeof(path), "%s/%s/manifest", dir, D_ID);
    write_file_at(path, "tampered", 8);
    snprintf(path, sizeof(path), "%s/%s/config", dir, B_ID);
    write_file_at(path, "an orphan config", 16);
    snprintf(path, sizeof(path), "%s/junk", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/junk/file", dir);
    write_file_at(path, "not an image", 12);
    snprintf(path, sizeof(path), "%s/%s/stray", dir, A_ID);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s/stray/file", dir, A_ID);
    write_file_at(path, "not a big-data file", 19);
    snprintf(path, sizeof(path), "%s/.tmp-00000000000000aa", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.tmp-00000000000000aa/images.json", dir);
    write_file_at(path, "{}", 2);
    /* E holds a:1 too: written in a store of its own, then moved in */
    snprintf(other, sizeof(other), "%s.other", dir);
    rm_rf(other);
    image_store_t st;
    const char *e[] = {"a:1"};
    if (new_image_store(false, false, other, &st) != 0 ||
        st.create(E_ID, e, 1, NULL, "{}", (timestamp){1400000003, 0}, NULL, &st, NULL) != 0)
        setup_failed(&st, "damaged");
    image_store_close(&st);
    char from[4300], to[4300];
    snprintf(from, sizeof(from), "%s/%s", other, E_ID);
    snprintf(to, sizeof(to), "%s/%s", dir, E_ID);
    if (rename(from, to) != 0)
        exit(2);
    rm_rf(other);
}

/* The standard store and a directory that is no image: all repair() does
 * is move it to .quarantine (no record is rewritten after it). */
static inline void setup_junk(const char *dir)
{
    char path[4096];
    setup_standard(dir);
    snprintf(path, sizeof(path), "%s/junk", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/junk/file", dir);
    write_file_at(path, "not an image", 12);
}

#define MANY 70

static inline void many_id(char id[65], int i)
{
    snprintf(id, 65, "%060d%04x", 0, i + 1);
}

/* MANY images with a snapshot that has gone stale (each record rewritten
 * since, by a process that did not close its store), a temp leftover and a
 * directory that is no image: a daemon open removes, quarantines and
 * rewrites the snapshot. */
static inline void setup_stale(const char *dir)
{
    image_store_t st;
    char id[65], name[32], path[4096];
    rm_rf(dir);
    if (new_image_store(false, false, dir, &st) != 0 || image_store_batch_begin(&st) != 0)
        setup_failed(&st, "stale");
    for (int i = 0; i < MANY; i++) {
        many_id(id, i);
        snprintf(name, sizeof(name), "many:%d", i);
        const char *names[] = {name};
        if (st.create(id, names, 1, NULL, "{}", (timestamp){1400000000 + i, 0}, NULL, &st, NULL) != 0 ||
            st.set_big_data_len(&st, id, "manifest", name, strlen(name)) != 0)
            setup_failed(&st, "stale create");
    }
    if (image_store_batch_commit(&st) != 0)
        setup_failed(&st, "stale commit");
    image_store_close(&st); /* writes the snapshot */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* rewrites every record, never closes: the snapshot stays stale */
        if (new_image_store(false, false, dir, &st) != 0 || image_store_batch_begin(&st) != 0)
            _exit(3);
        for (int i = 0; i < MANY; i++) {
            many_id(id, i);
            if (st.set_metadata(&st, id, "rewritten") != 0)
                _exit(3);
        }
        _exit(image_store_batch_commit(&st) == 0 ? 0 : 3);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "setup (stale): the child failed\n");
        exit(2);
    }
    snprintf(path, sizeof(path), "%s/.tmp-00000000000000bb", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/.tmp-00000000000000bb/manifest", dir);
    write_file_at(path, "left over", 9);
    snprintf(path, sizeof(path), "%s/junk", dir);
    mkdir(path, 0700);
}

static inline int s_create(image_store_t *st, const char *dir)
{
    (void)dir;
    const char *names[] = {"c:1"};
    return st->create(C_ID, names, 1, "layer-c", "{\"c\":1}", (timestamp){1500000000, 0}, NULL, st,
                      NULL);
}
static inline int s_set_names(image_store_t *st, const char *dir)
{
    (void)dir;
    const char *names[] = {"x:1", "b:1"}; /* takes b:1 from B: two records change */
    return st->set_names(A_ID, names, 2, st);
}
static inline int s_add_name(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->add_name(A_ID, "d:1", st); /* takes it from D */
}
static inline int s_remove_name(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->remove_name(A_ID, "a:1", st);
}
static inline int s_delete(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->delete(A_ID, st);
}
static inline int s_delete_d(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->delete(D_ID, st);
}
static inline int s_wipe(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->wipe(st);
}
static inline int s_save(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->save(st);
}
static inline int s_set_loaded_time(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->set_loaded_time(A_ID, (timestamp){1500000000, 5}, st);
}
static inline int s_set_metadata(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->set_metadata(st, A_ID, "changed");
}
static inline int s_set_metadata_b(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->set_metadata(st, B_ID, "changed later");
}
static inline int s_set_size(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->set_size(st, A_ID, 4242);
}
static inline int s_replace_big_data(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->set_big_data_len(st, A_ID, "manifest", "a new\0manifest", 14);
}
static inline int s_new_big_data(image_store_t *st, const char *dir)
{
    (void)dir; /* a key whose file name is "=" + base64 */
    return st->set_big_data_len(st, A_ID, "sha256:" A_ID, "a config", 8);
}
static inline int s_c_manifest(image_store_t *st, const char *dir)
{
    (void)dir;
    return st->set_big_data_len(st, C_ID, "manifest", "the manifest of c", 17);
}
static inline int s_repair(image_store_t *st, const char *dir)
{
    (void)dir;
    image_store_problem *actions = NULL;
    size_t n = 0;
    int rc = image_store_repair(st, &actions, &n);
    image_store_problems_free(actions, n);
    return rc;
}
static inline int s_batch(image_store_t *st, const char *dir)
{
    (void)dir;
    const char *names[] = {"c:1"};
    if (image_store_batch_begin(st) != 0)
        return -1;
    if (st->create(C_ID, names, 1, NULL, "{}", (timestamp){1500000000, 0}, NULL, st, NULL) != 0 ||
        st->set_big_data_len(st, C_ID, "manifest", "batched manifest", 16) != 0 ||
        st->add_name(B_ID, "a:1", st) != 0 || /* takes a:1 from A */
        st->set_size(st, A_ID, 7) != 0 || st->delete(D_ID, st) != 0) {
        image_store_batch_abort(st);
        return -1;
    }
    return image_store_batch_commit(st);
}
/* What imagestore.gc's apply does: several deletes in one batch. */
static inline int s_batch_deletes(image_store_t *st, const char *dir)
{
    (void)dir;
    if (image_store_batch_begin(st) != 0)
        return -1;
    if (st->delete(A_ID, st) != 0 || st->delete(B_ID, st) != 0 || st->delete(D_ID, st) != 0) {
        image_store_batch_abort(st);
        return -1;
    }
    return image_store_batch_commit(st);
}
/* Store GC of the damaged store: its temp leftover and B's unrecorded config. */
static inline int s_store_gc(image_store_t *st, const char *dir)
{
    (void)dir;
    image_store_gc_entry *entries = NULL;
    size_t n = 0;
    int rc = image_store_gc(st, NULL, &entries, &n);
    image_store_gc_entries_free(entries, n);
    return rc;
}
static inline int s_daemon_open(image_store_t *st, const char *dir)
{
    (void)st;
    image_store_t d;
    int rc = new_image_store(true, false, dir, &d);
    image_store_close(&d);
    return rc;
}

static const scenario scenarios[] __attribute__((unused)) = {
    {"create", setup_standard, {{"create", s_create}}},
    {"set_names", setup_standard, {{"set_names", s_set_names}}},
    {"add_name", setup_standard, {{"add_name", s_add_name}}},
    {"remove_name", setup_standard, {{"remove_name", s_remove_name}}},
    {"delete", setup_standard, {{"delete", s_delete}}},
    {"wipe", setup_standard, {{"wipe", s_wipe}}},
    {"set_loaded_time", setup_standard, {{"set_loaded_time", s_set_loaded_time}}},
    {"set_metadata", setup_standard, {{"set_metadata", s_set_metadata}}},
    {"set_size", setup_standard, {{"set_size", s_set_size}}},
    {"set_big_data (replace)", setup_standard, {{"set_big_data", s_replace_big_data}}},
    {"set_big_data (new key)", setup_standard, {{"set_big_data", s_new_big_data}}},
    {"save", setup_standard, {{"save", s_save}}},
    {"repair", setup_damaged, {{"repair", s_repair}}},
    {"repair (quarantine only)", setup_junk, {{"repair", s_repair}}},
    {"batch", setup_standard, {{"batch", s_batch}}},
    {"batch of deletes", setup_standard, {{"batch of deletes", s_batch_deletes}}},
    {"store gc", setup_damaged, {{"store gc", s_store_gc}}},
    {"sequence",
     setup_standard,
     {{"create", s_create},
      {"set_big_data", s_c_manifest},
      {"set_names", s_set_names},
      {"delete", s_delete_d},
      {"set_metadata", s_set_metadata_b}}},
    {"daemon open", setup_stale, {{"daemon open", s_daemon_open}}},
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- what each step must leave ---- */

/* views[i], found[i]: the store after step i (0: before the first), as a
 * fresh read-only open sees it. */
typedef struct expect {
    /* the images the scenario creates get "loaded" = the time they were
     * made, which differs from run to run: compare them without it */
    bool mask_new_loaded;
    size_t nsteps;
    view views[MAX_STEPS + 1];
    findings found[MAX_STEPS + 1];
} expect;

static inline bool expect_capture(expect *e, size_t i, const char *dir)
{
    image_store_t st;
    bool ok = new_image_store(false, true, dir, &st) == 0 && view_of(&st, &e->views[i]) &&
              check_findings(&st, dir, &e->found[i]);
    if (!ok)
        fprintf(stderr, "capture %s: %s\n", dir, image_store_error_message(&st));
    image_store_close(&st);
    return ok;
}

static inline void expect_free(expect *e)
{
    for (size_t i = 0; i <= e->nsteps && i <= MAX_STEPS; i++) {
        view_free(&e->views[i]);
        findings_free(&e->found[i]);
    }
}

/* Whether a finding may be there after `acked` steps: a temp leftover, or
 * what the store held before or after the step in flight. */
static inline bool finding_allowed(const expect *e, size_t acked, const char *item, bool temp_ok)
{
    if (strncmp(item, "temp-file ", 10) == 0)
        return temp_ok;
    return findings_has(&e->found[acked], item) ||
           (acked < e->nsteps && findings_has(&e->found[acked + 1], item));
}

static inline void explain_image(sbuf *why, const char *label, const char *text)
{
    sb_printf(why, "\n#   %s: ", label);
    if (text == NULL)
        sb_printf(why, "(absent)");
    else
        sb_escaped(why, text, strlen(text), 600);
}

/* text with its "loaded ..." line as "loaded *" (malloc'd). */
static inline char *mask_loaded(const char *text)
{
    if (text == NULL)
        return NULL;
    sbuf b = {0};
    const char *at = strstr(text, "\nloaded ");
    if (at == NULL)
        return strdup(text);
    const char *end = strchr(at + 1, '\n');
    sb_printf(&b, "%.*s\nloaded *%s", (int)(at - text), text, end ? end : "");
    return sb_take(&b);
}

/* The view v against what `acked` acknowledged steps allow. */
static inline bool view_allowed(const expect *e, size_t acked, const view *v, sbuf *why,
                                const char *who)
{
    const view *old = &e->views[acked], *new = acked < e->nsteps ? &e->views[acked + 1] : NULL;
    const view *all[3] = {v, old, new};
    for (int w = 0; w < 3; w++) {
        for (size_t i = 0; all[w] != NULL && i < all[w]->n; i++) {
            const char *id = all[w]->items[i].id;
            const char *got = view_find(v, id), *o = view_find(old, id);
            const char *n = new ? view_find(new, id) : o;
            bool pass = same_text(got, o) || same_text(got, n);
            if (!pass && e->mask_new_loaded && view_find(&e->views[0], id) == NULL) {
                char *mg = mask_loaded(got), *mo = mask_loaded(o), *mn = mask_loaded(n);
                pass = same_text(mg, mo) || same_text(mg, mn);
                free(mg);
                free(mo);
                free(mn);
            }
            if (pass)
                continue;
            sb_printf(why, "%s: image %.12s is %s", who, id,
                      new ? "neither as before nor as after the step in flight"
                          : "not as the acknowledged steps left it");
            explain_image(why, "got", got);
            explain_image(why, new ? "before" : "want", o);
            if (new)
                explain_image(why, "after", n);
            return false;
        }
    }
    return true;
}

static inline bool findings_allowed(const expect *e, size_t acked, const findings *f, bool temp_ok,
                                    sbuf *why, const char *who)
{
    for (size_t i = 0; i < f->n; i++)
        if (!finding_allowed(e, acked, f->items[i], temp_ok)) {
            sb_printf(why, "%s: %s", who, f->items[i]);
            return false;
        }
    return true;
}

/* Judges the store in dir that a crash left after `acked` steps; false with
 * the reason in why. Changes the store (the opens' upkeep). */
static inline bool verify_state(const char *dir, const expect *e, size_t acked, sbuf *why)
{
    image_store_t st;
    view plain = {0}, daemon = {0};
    findings f = {0};
    bool ok = false;
    if (new_image_store(false, false, dir, &st) != 0) {
        sb_printf(why, "plain open fails: %s %s", image_store_error_name(&st),
                  image_store_error_message(&st));
        image_store_close(&st);
        return false;
    }
    if (!view_of(&st, &plain))
        sb_printf(why, "plain open: images() fails: %s", image_store_error_message(&st));
    else if (!view_allowed(e, acked, &plain, why, "plain open"))
        ;
    else if (!check_findings(&st, dir, &f))
        sb_printf(why, "check() fails: %s", image_store_error_message(&st));
    else if (!findings_allowed(e, acked, &f, true, why, "check() after a plain open finds"))
        ;
    else
        ok = true;
    findings_free(&f);
    image_store_close(&st);
    if (!ok) {
        view_free(&plain);
        return false;
    }
    ok = false;
    if (new_image_store(true, false, dir, &st) != 0) {
        sb_printf(why, "daemon open fails: %s %s", image_store_error_name(&st),
                  image_store_error_message(&st));
    } else if (!problem_findings(&st, dir, &f)) {
        sb_printf(why, "daemon open: problems() fails");
    } else if (!findings_allowed(e, acked, &f, false, why, "daemon open reports")) {
        ;
    } else if (!view_of(&st, &daemon)) {
        sb_printf(why, "daemon open: images() fails: %s", image_store_error_message(&st));
    } else if (!view_equal(&plain, &daemon)) {
        sb_printf(why, "the daemon open sees other images than the plain open");
        (void)view_allowed(e, acked, &daemon, why, "daemon open");
    } else {
        findings_free(&f);
        if (!check_findings(&st, dir, &f))
            sb_printf(why, "check() after a daemon open fails: %s", image_store_error_message(&st));
        else if (findings_allowed(e, acked, &f, false, why, "check() after a daemon open finds"))
            ok = true;
    }
    findings_free(&f);
    image_store_close(&st);
    view_free(&plain);
    view_free(&daemon);
    return ok;
}

#endif
