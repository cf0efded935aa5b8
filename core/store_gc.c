/*
 * Store garbage collection and the usage figures image GC reads (Lua's
 * imagestore.gc holds the policy): image_store_gc() removes leftover temp
 * entries, unrecorded big-data files and old quarantined entries, under the
 * exclusive lock; image_store_usage() counts images, their recorded sizes
 * and the disk blocks their directories hold. Both walk the disk with
 * fstatat() and opens beneath the store's directory, never following a
 * symlink.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store_internal.h"

/* Below this many directory levels a tree is not measured further (a
 * hostile store may nest deeply; no image directory does). */
#define DU_MAX_DEPTH 64

/* ---- disk usage ---- */

typedef struct du_link {
    dev_t dev;
    ino_t ino;
    int64_t bytes;
} du_link;

/* A sum of st_blocks that counts an inode with several links once. */
typedef struct du {
    int64_t bytes;
    du_link *links;
    size_t len, cap;
    int err; /* the first errno met (ENOENT aside), 0 when none */
    char *err_path;
} du;

static void du_error(du *d, int errnum, const char *what)
{
    if (d->err == 0 && errnum != ENOENT) {
        d->err = errnum;
        d->err_path = strdup(what);
    }
}

static void du_add(du *d, const struct stat *st)
{
    int64_t bytes = (int64_t)st->st_blocks * 512;
    if (st->st_nlink <= 1 || S_ISDIR(st->st_mode)) {
        d->bytes += bytes;
        return;
    }
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        du_link *grown = realloc(d->links, cap * sizeof(*grown));
        if (grown == NULL) {
            du_error(d, ENOMEM, "malloc");
            return;
        }
        d->links = grown;
        d->cap = cap;
    }
    d->links[d->len++] = (du_link){st->st_dev, st->st_ino, bytes};
}

static int compare_links(const void *a, const void *b)
{
    const du_link *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The bytes counted, each multiply-linked inode once; resets the links. */
static int64_t du_total(du *d)
{
    int64_t total = d->bytes;
    if (d->len > 1)
        qsort(d->links, d->len, sizeof(*d->links), compare_links);
    for (size_t i = 0; i < d->len; i++)
        if (i == 0 || compare_links(&d->links[i - 1], &d->links[i]) != 0)
            total += d->links[i].bytes;
    d->len = 0;
    return total;
}

static void du_free(du *d)
{
    free(d->links);
    free(d->err_path);
}

/* Adds name below parentfd (path: what messages call it) and, for a
 * directory, everything in it. */
static void du_tree(du *d, int parentfd, const char *name, const char *path, int depth)
{
    struct stat st;
    if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        du_error(d, errno, path);
        return;
    }
    du_add(d, &st);
    if (!S_ISDIR(st.st_mode) || depth >= DU_MAX_DEPTH)
        return;
    int fd = fs_open_beneath(parentfd, name, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) {
        if (errno != ENOTDIR && errno != ELOOP) /* replaced since the stat */
            du_error(d, errno, path);
        return;
    }
    fs_dirent *entries;
    size_t n;
    const char *failed;
    int e = fs_list_dir(fd, NULL, &entries, &n, &failed);
    if (e != 0) {
        du_error(d, e, path);
        close(fd);
        return;
    }
    for (size_t i = 0; i < n && d->err == 0; i++) {
        char *sub = fs_join(path, entries[i].name);
        if (sub == NULL)
            du_error(d, ENOMEM, path);
        else
            du_tree(d, fd, entries[i].name, sub, depth + 1);
        free(sub);
    }
    fs_dirents_free(entries, n);
    close(fd);
}

/* The disk bytes of name below parentfd; -1 when they cannot be told. */
static int64_t tree_bytes(int parentfd, const char *name)
{
    du d;
    memset(&d, 0, sizeof(d));
    du_tree(&d, parentfd, name, name, 0);
    int64_t total = d.err != 0 ? -1 : du_total(&d);
    du_free(&d);
    return total;
}

/* ---- usage ---- */

/* An image's size as usage counts it (the binding's summaries() count it
 * the same way from the public copy). */
static int64_t record_usage_size(const image_record *r)
{
    if (r->size >= 0)
        return r->size;
    int64_t sum = 0;
    for (size_t i = 0; i < r->big_data_len; i++)
        if (r->big_data[i].size > 0)
            sum += r->big_data[i].size;
    return sum;
}

static int usage_of(store_state *s, image_store_usage_figures *out)
{
    du d;
    memset(&d, 0, sizeof(d));
    image_store_usage_figures u = {0, 0, 0};
    for (size_t i = 0; i < s->index.sorted.len && d.err == 0; i++) {
        const image_record *r = s->index.sorted.items[i];
        u.images++;
        u.size += record_usage_size(r);
        du_tree(&d, s->dirfd, r->id, r->id, 0);
    }
    int rc = 0;
    if (d.err != 0) {
        char *path = fs_join(s->dir, d.err_path ? d.err_path : "");
        rc = error_sys(&s->err, d.err, "stat", path ? path : s->dir);
        free(path);
    } else {
        u.disk_bytes = du_total(&d);
        *out = u;
    }
    du_free(&d);
    return rc;
}

int image_store_usage(image_store_t *image_store, image_store_usage_figures *usage)
{
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    if (usage == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "usage: NULL out-parameter"), -1;
    /* held across the walk, so that no writer is half-way through an image;
     * store_begin_read() catches up under it */
    bool take = !s->in_batch && s->layout == STORE_LAYOUT_ISULAD;
    int rc = take ? lock_acquire(&s->lock, false, s->dir, &s->err) : 0;
    if (rc == 0 && (rc = store_begin_read(s)) == 0) {
        rc = usage_of(s, usage);
        store_end_read(s);
    }
    if (take)
        lock_release(&s->lock);
    return rc == 0 ? 0 : -1;
}

/* ---- garbage collection ---- */

typedef struct gc_item {
    problem_kind kind;
    char *entry;  /* in <dir>, or in .quarantine for PROBLEM_QUARANTINED */
    char *file;   /* in the image directory entry, or NULL */
    char *what;   /* the sentence after "removed " / "would remove " */
    int64_t bytes;
} gc_item;

typedef struct gc_list {
    gc_item *items;
    size_t len, cap;
} gc_list;

static void gc_list_free(gc_list *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].entry);
        free(l->items[i].file);
        free(l->items[i].what);
    }
    free(l->items);
}

static int gc_add(store_state *s, gc_list *l, problem_kind kind, const char *entry,
                  const char *file, int64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int gc_add(store_state *s, gc_list *l, problem_kind kind, const char *entry,
                  const char *file, int64_t bytes, const char *fmt, ...)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        gc_item *grown = realloc(l->items, cap * sizeof(*grown));
        if (grown == NULL)
            return oom(s);
        l->items = grown;
        l->cap = cap;
    }
    gc_item *it = &l->items[l->len];
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&it->what, fmt, ap);
    va_end(ap);
    it->kind = kind;
    it->bytes = bytes;
    it->entry = strdup(entry);
    it->file = file ? strdup(file) : NULL;
    if (n < 0 || it->entry == NULL || (file && it->file == NULL)) {
        if (n >= 0)
            free(it->what);
        free(it->entry);
        free(it->file);
        return oom(s);
    }
    l->len++;
    return 0;
}

static bool is_temp(const char *name)
{
    return strncmp(name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0;
}

/* Whether the record on disk names a big-data item for key: memory is
 * caught up, but the file is only removed when the disk agrees. */
static bool disk_record_names(store_state *s, const char *id, const char *key)
{
    char why[256];
    image_record *r = NULL;
    problem_kind kind;
    const char *about;
    if (check_read_record(s->dirfd, s->dir, id, &r, &kind, &about, why, sizeof(why)) != 0 ||
        r == NULL)
        return true; /* unknown: keep the file */
    bool names = record_find_big_data(r, key) != NULL;
    record_free(r);
    return names;
}

/* The temp entries and unrecorded big-data files of one image directory. */
static int gc_scan_image(store_state *s, const image_record *r, gc_list *out)
{
    int dfd = fs_open_beneath(s->dirfd, r->id, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return 0; /* gone or replaced since the listing: nothing of ours there */
    fs_dirent *files;
    size_t n;
    const char *failed;
    int e = fs_list_dir(dfd, NULL, &files, &n, &failed);
    if (e != 0) {
        close(dfd);
        return e == ENOMEM ? oom(s) : 0; /* unreadable: nothing to judge (check() says so) */
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = files[i].name;
        struct stat st;
        if (is_temp(name)) {
            rc = gc_add(s, out, PROBLEM_TEMP_FILE, r->id, name, tree_bytes(dfd, name),
                        "leftover temporary file %s of image %s", name, r->id);
            continue;
        }
        if (strcmp(name, RECORD_FILE) == 0 ||
            fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue; /* not a file: repair() quarantines it */
        char *key = big_data_key_of_file(name);
        if (key != NULL && record_find_big_data(r, key) == NULL &&
            !disk_record_names(s, r->id, key))
            rc = gc_add(s, out, PROBLEM_ORPHAN_FILE, r->id, name, (int64_t)st.st_blocks * 512,
                        "big-data file %s of image %s, which its record does not name", name,
                        r->id);
        free(key);
    }
    fs_dirents_free(files, n);
    close(dfd);
    return rc;
}

/* The entries of .quarantine last changed more than age seconds before now. */
static int gc_scan_quarantine(store_state *s, int64_t now, int64_t age, gc_list *out)
{
    int qfd = fs_open_beneath(s->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (qfd < 0)
        return 0; /* none, or not a directory (check() says so): nothing to collect */
    fs_dirent *entries;
    size_t n;
    const char *failed;
    int e = fs_list_dir(qfd, NULL, &entries, &n, &failed), rc = 0;
    if (e != 0) {
        close(qfd);
        char *path = fs_join(s->dir, QUARANTINE_DIR);
        rc = e == ENOMEM ? oom(s) : error_sys(&s->err, e, failed, path ? path : s->dir);
        free(path);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat st;
        if (fstatat(qfd, entries[i].name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone since the listing */
        if (now - (int64_t)st.st_ctim.tv_sec > age)
            rc = gc_add(s, out, PROBLEM_QUARANTINED, entries[i].name, NULL,
                        tree_bytes(qfd, entries[i].name),
                        "quarantined %s, unchanged for more than %lld seconds", entries[i].name,
                        (long long)age);
    }
    fs_dirents_free(entries, n);
    close(qfd);
    return rc;
}

static int gc_scan(store_state *s, const image_store_gc_options *o, gc_list *out)
{
    fs_dirent *entries;
    size_t n;
    const char *failed;
    int e = fs_list_dir(s->dirfd, NULL, &entries, &n, &failed), rc = 0;
    if (e != 0)
        return e == ENOMEM ? oom(s) : error_sys(&s->err, e, failed, s->dir);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = entries[i].name;
        const image_record *r;
        if (is_temp(name))
            rc = gc_add(s, out, PROBLEM_TEMP_FILE, name, NULL, tree_bytes(s->dirfd, name),
                        "leftover temporary entry %s", name);
        else if ((r = strmap_get(&s->index.by_id, name)) != NULL)
            rc = gc_scan_image(s, r, out);
    }
    fs_dirents_free(entries, n);
    if (rc == 0 && o->quarantine) {
        int64_t now = o->now != 0 ? o->now : timestamp_now().seconds;
        rc = gc_scan_quarantine(s, now, o->quarantine_age, out);
    }
    return rc;
}

/* Removes it->file from the directory it->entry below base (or it->entry
 * itself); syncs that directory. */
static int gc_remove(store_state *s, int basefd, const char *base, const gc_item *it)
{
    int fd = basefd, e;
    if (it->file != NULL && (fd = fs_open_beneath(basefd, it->entry, O_RDONLY | O_DIRECTORY, 0)) < 0)
        e = errno;
    else
        e = fs_remove_tree_at(fd, it->file ? it->file : it->entry);
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (fd != basefd && fd >= 0)
        close(fd);
    if (e == 0 || e == ENOENT)
        return 0;
    char *dir = fs_join(base, it->entry);
    char *path = dir && it->file ? fs_join(dir, it->file) : NULL;
    int rc = error_sys(&s->err, e, "remove", path ? path : dir ? dir : base);
    free(path);
    free(dir);
    return rc;
}

/* Removes each item (going on past a failure); out gets what was removed. */
static int gc_collect(store_state *s, const gc_list *l, bool dry_run, gc_list *done)
{
    char *qpath = fs_join(s->dir, QUARANTINE_DIR);
    int qfd = -1, rc = 0;
    image_error first = s->err;
    if (qpath == NULL)
        return oom(s);
    for (size_t i = 0; i < l->len; i++) {
        const gc_item *it = &l->items[i];
        bool in_quarantine = it->kind == PROBLEM_QUARANTINED;
        int r = 0;
        if (!dry_run && in_quarantine && qfd < 0 &&
            (qfd = fs_open_beneath(s->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY, 0)) < 0)
            r = error_sys(&s->err, errno, "open", qpath);
        if (r == 0 && !dry_run)
            r = in_quarantine ? gc_remove(s, qfd, qpath, it) : gc_remove(s, s->dirfd, s->dir, it);
        if (r == 0)
            r = gc_add(s, done, it->kind, it->entry, it->file, it->bytes, "%s", it->what);
        if (r != 0 && rc == 0) {
            rc = r;
            first = s->err;
        }
    }
    if (qfd >= 0)
        close(qfd);
    free(qpath);
    if (rc != 0)
        s->err = first;
    return rc;
}

/* done as the caller's list: paths and sentences made here. */
static int gc_to_public(store_state *s, const gc_list *done, bool dry_run,
                        image_store_gc_entry **out, size_t *len)
{
    image_store_gc_entry *copy = calloc(done->len + 1, sizeof(*copy));
    if (copy == NULL)
        return oom(s);
    for (size_t i = 0; i < done->len; i++) {
        const gc_item *it = &done->items[i];
        bool q = it->kind == PROBLEM_QUARANTINED;
        int n = it->file ? asprintf(&copy[i].path, "%s/%s/%s", s->dir, it->entry, it->file)
                : q     ? asprintf(&copy[i].path, "%s/%s/%s", s->dir, QUARANTINE_DIR, it->entry)
                        : asprintf(&copy[i].path, "%s/%s", s->dir, it->entry);
        if (n < 0)
            copy[i].path = NULL;
        copy[i].kind = strdup(problem_kind_name(it->kind));
        if (asprintf(&copy[i].problem, "%s %s", dry_run ? "would remove" : "removed", it->what) < 0)
            copy[i].problem = NULL;
        copy[i].bytes = it->bytes;
        if (copy[i].path == NULL || copy[i].kind == NULL || copy[i].problem == NULL) {
            image_store_gc_entries_free(copy, i + 1);
            return oom(s);
        }
    }
    *out = copy;
    *len = done->len;
    return 0;
}

int image_store_gc(image_store_t *image_store, const image_store_gc_options *opts,
                   image_store_gc_entry **entries, size_t *len)
{
    if (entries != NULL && len != NULL) {
        *entries = NULL;
        *len = 0;
    }
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    image_store_gc_options o = opts ? *opts : (image_store_gc_options){false, false, 0, 0};
    if (entries == NULL || len == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "gc: NULL out-parameter"), -1;
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "cannot collect garbage inside a batch"), -1;
    if (o.quarantine_age < 0 || o.now < 0)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "gc: %s is negative",
                         o.now < 0 ? "now" : "quarantine_age"), -1;
    if (s->layout != STORE_LAYOUT_ISULAD)
        return error_set(&s->err, IMAGE_STORE_ELAYOUT,
                         "%s holds containers/storage's layout: its garbage is its own", s->dir), -1;
    int rc;
    if (o.dry_run) { /* a reader: the shared lock, caught up under it */
        if ((rc = lock_acquire(&s->lock, false, s->dir, &s->err)) == 0 &&
            (rc = store_begin_read(s)) == 0)
            store_end_read(s);
    } else {
        rc = store_begin_write(s, "collect garbage");
    }
    if (rc != 0) {
        lock_release(&s->lock);
        return -1;
    }
    gc_list found = {NULL, 0, 0}, done = {NULL, 0, 0};
    rc = gc_scan(s, &o, &found);
    if (rc == 0)
        rc = gc_collect(s, &found, o.dry_run, &done);
    image_error saved = s->err;
    if (gc_to_public(s, &done, o.dry_run, entries, len) != 0 && rc == 0)
        rc = IMAGE_STORE_ESYS;
    else if (rc != 0)
        s->err = saved;
    gc_list_free(&found);
    gc_list_free(&done);
    if (o.dry_run)
        lock_release(&s->lock);
    else
        return store_end_write(s, rc);
    return rc == 0 ? 0 : -1;
}

void image_store_gc_entries_free(image_store_gc_entry *entries, size_t len)
{
    if (entries == NULL)
        return;
    for (size_t i = 0; i < len; i++) {
        free(entries[i].path);
        free(entries[i].kind);
        free(entries[i].problem);
    }
    free(entries);
}
