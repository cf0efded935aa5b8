/*
 * Loading: lists the store directory, reads every image record (from the
 * snapshot when it vouches for the file, otherwise from <id>/images.json),
 * and builds a fresh index; what cannot be loaded becomes a problem, never a
 * failed open. Also which layout a directory holds and opening it, load()
 * (re-reading from the directory's path) and the problem list. The
 * containers/storage layout loads in store_cstorage.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "snapshot.h"
#include "store_internal.h"

typedef struct loaded_state {
    image_index index;
    problem_list problems;
    size_t stale; /* records read from their files, not from the snapshot */
} loaded_state;

static int add_problem(loaded_state *ls, const char *path, problem_kind kind, const char *text)
{
    return problem_list_add(&ls->problems, kind, path, text);
}

/* Reads <name>/images.json (check_read_record()), packed into arena. An
 * unusable record is *out NULL with *why and *kind.
 * Returns -1 only when memory ran out. */
int store_read_record(store_state *s, const char *name, image_record **out, char *why,
                       size_t why_len, problem_kind *kind, record_arena *arena)
{
    const char *about;
    if (check_read_record(s->dirfd, s->dir, name, out, kind, &about, why, why_len) != 0)
        return -1;
    if (*out == NULL)
        return 0;
    image_record *packed = record_pack(*out, arena);
    record_free(*out);
    *out = packed;
    return packed ? 0 : -1;
}

/* A problem about <dir>/<name>[/<file>]. */
static int add_entry_problem(store_state *s, loaded_state *ls, const char *name, const char *file,
                             problem_kind kind, const char *text)
{
    char *dirpath = fs_join(s->dir, name), *path = dirpath && file ? fs_join(dirpath, file) : NULL;
    int rc = dirpath && (path || !file) ? add_problem(ls, path ? path : dirpath, kind, text) : -1;
    free(path);
    free(dirpath);
    return rc;
}

/* Adds r to the index; a name another image already holds is dropped here
 * (in memory only) and reported. */
static int admit_record(store_state *s, loaded_state *ls, image_record *r)
{
    for (size_t i = 0; i < r->names.len;) {
        image_record *holder = strmap_get(&ls->index.by_name, r->names.items[i]);
        if (holder == NULL) {
            i++;
            continue;
        }
        char msg[300];
        snprintf(msg, sizeof(msg), "name \"%s\" is also held by image %s; ignored here",
                 r->names.items[i], holder->id);
        if (add_entry_problem(s, ls, r->id, RECORD_FILE, PROBLEM_DUPLICATE_NAME, msg) != 0)
            return -1;
        record_remove_name(r, r->names.items[i]);
    }
    if (index_reserve(&ls->index, r) != 0)
        return -1;
    index_add(&ls->index, r);
    return 0;
}

/* What load needs to know of an entry: its type, and for an image
 * directory the stat of its record file (the snapshot's stamp). */
typedef struct entry_stat {
    int err;          /* errno of the entry's fstatat, or 0 */
    mode_t mode;      /* the entry's type */
    int record_err;   /* errno of the record file's fstatat, or 0 */
    struct stat record;
} entry_stat;

typedef struct stat_job {
    int dirfd;
    const fs_dirent *entries;
    entry_stat *out;
    size_t from, to;
} stat_job;

static void *stat_range(void *arg)
{
    stat_job *job = arg;
    for (size_t i = job->from; i < job->to; i++) {
        const fs_dirent *d = &job->entries[i];
        entry_stat *e = &job->out[i];
        struct stat st;
        e->err = e->record_err = 0;
        e->mode = d->type == DT_DIR ? S_IFDIR : 0;
        if (d->type != DT_DIR) { /* readdir did not say: ask */
            e->err = fstatat(job->dirfd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
            e->mode = e->err ? 0 : st.st_mode & S_IFMT;
        }
        if (e->err == 0 && S_ISDIR(e->mode) && image_id_is_valid(d->name)) {
            char rel[64 + 1 + sizeof(RECORD_FILE)];
            snprintf(rel, sizeof(rel), "%s/%s", d->name, RECORD_FILE);
            e->record_err = fstatat(job->dirfd, rel, &e->record, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
        }
    }
    return NULL;
}

/* Stats every entry; a large directory in two threads (a stat is mostly
 * system-call cost, and open is waiting for all of them). */
static void stat_entries(int dirfd, const fs_dirent *entries, size_t n, entry_stat *out)
{
    stat_job whole = {dirfd, entries, out, 0, n}, half = whole;
    pthread_t thread;
    if (n < 4096 || (half.from = n / 2, pthread_create(&thread, NULL, stat_range, &half)) != 0) {
        stat_range(&whole);
        return;
    }
    whole.to = n / 2;
    stat_range(&whole);
    pthread_join(thread, NULL);
}

/* One entry of the store directory: an image directory, or a problem. */
static int load_entry(store_state *s, loaded_state *ls, snapshot *snap, const char *name,
                      const entry_stat *es, record_arena *arena)
{
    char why[512];
    problem_kind kind;
    image_record *r = NULL;
    int rc = 0;
    if (es->err != 0) {
        snprintf(why, sizeof(why), "cannot stat the entry: %s", strerror(es->err));
        rc = add_entry_problem(s, ls, name, NULL, PROBLEM_UNREADABLE, why);
    } else if (!S_ISDIR(es->mode)) {
        /* plain files (images.lock, ...) are not ours to judge, unless they
         * take an image's place */
        if (image_id_is_valid(name)) {
            snprintf(why, sizeof(why), "an image's place is taken by %s, not a directory",
                     fs_type_name(es->mode));
            rc = add_entry_problem(s, ls, name, NULL, PROBLEM_NOT_DIRECTORY, why);
        }
    } else if (!image_id_is_valid(name)) {
        rc = add_entry_problem(s, ls, name, NULL, PROBLEM_NOT_IMAGE,
                               "not an image directory: the name is not a 64-hex ID");
    } else if (snap != NULL && es->record_err == 0 && S_ISREG(es->record.st_mode) &&
               (r = snapshot_take(snap, name, &es->record, lock_generation(&s->lock), arena)) != NULL) {
        rc = admit_record(s, ls, r);
    } else if ((rc = store_read_record(s, name, &r, why, sizeof(why), &kind, arena)) == 0) {
        ls->stale++;
        rc = r ? admit_record(s, ls, r) : add_entry_problem(s, ls, name, RECORD_FILE, kind, why);
    }
    if (rc != 0 || (r != NULL && strmap_get(&ls->index.by_id, r->id) != r))
        record_free(r);
    return rc;
}

static void loaded_free(loaded_state *ls)
{
    index_free(&ls->index, true);
    problem_list_free(&ls->problems);
}

/* The store directory's entries, without "." names (ours, and temp entries). */
static int list_store(store_state *s, fs_dirent **out, size_t *len)
{
    fs_dirent *entries;
    size_t n, kept = 0;
    const char *failed;
    int e = fs_list_dir(s->dirfd, NULL, &entries, &n, &failed);
    if (e != 0)
        return e == ENOMEM ? oom(s)
                           : error_sys(&s->err, e, strcmp(failed, "readdir") ? "opendir" : failed,
                                       s->dir);
    for (size_t i = 0; i < n; i++) {
        if (entries[i].name[0] == '.')
            free(entries[i].name);
        else
            entries[kept++] = entries[i];
    }
    /* in name order, so that duplicate names resolve the same way every time */
    *out = entries;
    *len = kept;
    return 0;
}

/* Builds a fresh index from the disk (with the snapshot's help); replaces
 * memory only on success. */
int store_load_all(store_state *s)
{
    if (s->layout == STORE_LAYOUT_CSTORAGE)
        return cstorage_load(s);
    loaded_state ls;
    memset(&ls, 0, sizeof(ls));
    index_init(&ls.index);
    fs_dirent *entries = NULL;
    size_t n = 0;
    int rc = list_store(s, &entries, &n);
    if (rc == 0) {
        snapshot *snap = snapshot_read(s->dirfd, s->dir);
        record_arena arena = {NULL};
        if (strmap_reserve(&ls.index.by_id, n) || strmap_reserve(&ls.index.by_name, n) ||
            strmap_reserve(&ls.index.by_digest, n) || sorted_ids_reserve(&ls.index.sorted, n))
            rc = oom(s);
        entry_stat *stats = malloc((n + 1) * sizeof(entry_stat));
        if (stats == NULL)
            rc = oom(s);
        else
            stat_entries(s->dirfd, entries, n, stats);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (load_entry(s, &ls, snap, entries[i].name, &stats[i], &arena) != 0)
                rc = oom(s);
        free(stats);
        record_arena_done(&arena);
        snapshot_free(snap);
    }
    fs_dirents_free(entries, n);
    if (rc == 0 && s->lock.problem[0] != '\0') {
        char *path = fs_join(s->dir, LOCK_FILE);
        if (path == NULL || add_problem(&ls, path, PROBLEM_LOCK_FILE, s->lock.problem) != 0)
            rc = oom(s);
        free(path);
    }
    if (rc != 0) {
        loaded_free(&ls);
        return rc;
    }
    index_free(&s->index, true);
    problem_list_free(&s->problems);
    s->index = ls.index;
    s->problems = ls.problems;
    s->stale = ls.stale;
#ifdef __GLIBC__
    if (n > 1024)
        malloc_trim(0); /* give back what decoding the records left free between them */
#endif
    return 0;
}

/* A containers/storage (Podman, CRI-O, Buildah) images directory keeps
 * every record in one <dir>/images.json; iSulad's layout, ours, never has
 * that file at its top. Whatever the entry is: a symlink or a FIFO there is
 * still no record of ours, and reading it says what is wrong with it. */
int store_detect_layout(store_state *s, int dirfd, store_layout *layout)
{
    struct stat st;
    *layout = STORE_LAYOUT_ISULAD;
    if (fstatat(dirfd, RECORD_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : error_sys(&s->err, errno, "stat", s->dir);
    *layout = STORE_LAYOUT_CSTORAGE;
    return 0;
}

/* This library writes only its own layout. */
static int refuse_cstorage_writes(store_state *s)
{
    return error_set(&s->err, IMAGE_STORE_ELAYOUT,
                     "%s holds %s at its top: that is the containers/storage (Podman, CRI-O, "
                     "Buildah) layout, not an iSulad image store; open it readonly to read it "
                     "(it is left as it is)",
                     s->dir, RECORD_FILE);
}

int store_refuse_foreign_layout(store_state *s, int dirfd)
{
    store_layout layout;
    int rc = store_detect_layout(s, dirfd, &layout);
    return rc != 0 || layout == STORE_LAYOUT_ISULAD ? rc : refuse_cstorage_writes(s);
}

int store_open_layout(store_state *s)
{
    int rc = store_detect_layout(s, s->dirfd, &s->layout);
    if (rc != 0)
        return rc;
    if (s->layout == STORE_LAYOUT_CSTORAGE)
        return s->readonly ? cstorage_open(s) : refuse_cstorage_writes(s);
    /* Load under a shared lock, so no writer is half-way through. */
    if ((rc = lock_open(&s->lock, s->dirfd, s->dir, s->readonly, &s->err)) == 0 &&
        (rc = lock_acquire(&s->lock, false, s->dir, &s->err)) == 0) {
        s->seen_generation = lock_generation(&s->lock);
        rc = store_load_all(s);
        lock_release(&s->lock);
    }
    return rc;
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Re-reads the disk from the directory's path (it may have been replaced:
 * then its lock file is another one too). */
int store_reload(store_state *s)
{
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "cannot load inside a batch");
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_sys(&s->err, errno, "open", s->dir);
    if (s->layout == STORE_LAYOUT_CSTORAGE) /* stays so: without images.json, no images */
        return cstorage_reload(s, fd);
    int old = s->dirfd, rc;
    store_lock lock = s->lock, fresh;
    bool replaced = !same_file(fd, old);
    if ((rc = store_refuse_foreign_layout(s, fd)) != 0) {
        close(fd);
        return rc;
    }
    if (replaced) {
        if ((rc = lock_open(&fresh, fd, s->dir, s->readonly, &s->err)) != 0) {
            close(fd);
            return rc;
        }
        s->lock = fresh;
    }
    s->dirfd = fd;
    if ((rc = lock_acquire(&s->lock, false, s->dir, &s->err)) == 0) {
        uint64_t g = lock_generation(&s->lock);
        if ((rc = store_load_all(s)) == 0)
            s->seen_generation = g;
        lock_release(&s->lock);
    }
    if (rc != 0) {
        if (replaced) {
            lock_close(&s->lock);
            s->lock = lock;
        }
        s->dirfd = old;
        close(fd);
        return rc;
    }
    if (replaced)
        lock_close(&lock);
    close(old);
    return 0;
}
