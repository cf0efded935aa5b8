/*
 * The containers/storage layout (Podman, CRI-O, Buildah), read-only:
 *
 *   <dir>/images.json   every image record, one JSON array
 *   <dir>/<id>/<file>   the image's big-data files (record.h's file names)
 *   <dir>/images.lock   containers/storage's lock and last-writer token
 *
 * This file owns reading images.json into a fresh index and the lock
 * protocol; the rest of the store (index, references, reads, problems())
 * is shared with our own layout. The protocol is containers/storage's
 * (pkg/lockfile, images.go's load and ReloadIfChanged): each call opens
 * images.lock read-only, holds a shared fcntl lock on the whole file until
 * the call ends, reads the last-writer token (the file's first 64 bytes, or
 * fewer: an empty file is a valid "no writes yet"), and re-reads images.json
 * only when the token differs from the one memory reflects. Writers take
 * the exclusive lock, write images.json (atomically) and a new token.
 *
 * The lock is an open file description lock (F_OFD_SETLKW): it conflicts
 * with containers/storage's process-associated F_SETLKW locks as those
 * conflict with each other, but it belongs to our descriptor alone, so two
 * stores of one process on one directory, or any other close() of the file
 * in this process, never release each other's lock. Kernels without OFD
 * locks (before 3.15) get F_SETLKW.
 *
 * A read-only store never creates anything. containers/storage's own
 * read-only store creates a missing images.lock; here a missing lock file
 * means no writer has been there yet: no lock is taken, and the token reads
 * as "none" until a writer creates the file (the token then differs, and
 * everything is re-read). A lock file this process may not open is a
 * "lock-file" problem: no lock, no token, changes seen only at load().
 *
 * What containers/storage refuses or drops at load becomes a problem, never
 * a failed open: an element that is not a record we can hold (each element
 * is parsed on its own: a bad one costs only itself), an ID held again
 * later (the later record is the one loaded, as containers/storage's ID map
 * has it), a name held by several records (the last one keeps it, as a
 * writable containers/storage store would save it; its read-only store
 * refuses to load). Text that is not a JSON array at all (truncated,
 * zeroed, garbage) fails containers/storage's load; here it is one
 * "unparseable" problem and no image: the store opens, problems() and
 * check() say why, and a reader never sees a partial guess. An images.json
 * that is not a regular file (a symlink, a FIFO) is read as our own records
 * are (fs_read_file(): never followed, never blocking): a "no-record"
 * problem and no image. A missing images.json is a store without images, as
 * for containers/storage. Only a read that failed (EIO, EACCES) fails: the
 * content is unknown, memory stays as it was and the next call tries again.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "json_tree.h"
#include "text.h"
#include "store_internal.h"

#define CSTORAGE_LOCK "images.lock"

/* ---- the lock and its last-writer token ---- */

static int lock_error(store_state *s, int errnum, const char *call)
{
    char *path = fs_join(s->dir, CSTORAGE_LOCK);
    error_sys(&s->err, errnum, call, path ? path : s->dir);
    free(path);
    return IMAGE_STORE_ESYS;
}

static int lock_not_regular(store_state *s, mode_t mode)
{
    return error_set(&s->err, IMAGE_STORE_ECORRUPT, "lock file %s/%s is not a regular file (%s)",
                     s->dir, CSTORAGE_LOCK, fs_type_name(mode));
}

/* images.lock opened read-only for one call: *fd, or -1 with tok->state
 * saying why there is none. ECORRUPT when it is not a regular file. */
static int open_lock(store_state *s, int *fd, cstorage_token *tok)
{
    /* O_NONBLOCK: a FIFO there must not hang the call; O_NOFOLLOW: nor may a
     * symlink lead elsewhere */
    int f = openat(s->dirfd, CSTORAGE_LOCK, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    *fd = -1;
    if (f < 0) {
        int e = errno;
        if (e == ENOENT) {
            tok->state = CSTORAGE_NO_LOCK_FILE;
            return 0;
        }
        if (e == EACCES) {
            tok->state = CSTORAGE_LOCK_UNREADABLE;
            return 0;
        }
        if (fstatat(s->dirfd, CSTORAGE_LOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
            return lock_not_regular(s, st.st_mode);
        return lock_error(s, e, "open");
    }
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return lock_error(s, e, "stat");
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return lock_not_regular(s, st.st_mode);
    }
    *fd = f;
    return 0;
}

/* images.lock, opened once it exists and kept open between calls (as
 * containers/storage keeps its lock files): *fd, or -1 with tok->state
 * saying why there is none. */
static int kept_lock(store_state *s, int *fd, cstorage_token *tok)
{
    if (s->cstorage.kept_fd < 0) {
        int rc = open_lock(s, &s->cstorage.kept_fd, tok);
        if (rc != 0)
            return rc;
    }
    *fd = s->cstorage.kept_fd;
    return 0;
}

/* The shared lock on the whole file, waited for; release_shared() ends it. */
static int take_shared(store_state *s, int fd)
{
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int cmd = s->cstorage.classic_locks ? F_SETLKW : F_OFD_SETLKW;
    while (fcntl(fd, cmd, &fl) != 0) {
        if (errno == EINVAL && cmd == F_OFD_SETLKW) { /* no OFD locks: the classic kind */
            cmd = F_SETLKW;
            s->cstorage.classic_locks = true;
        } else if (errno != EINTR) {
            return lock_error(s, errno, "fcntl");
        }
    }
    return 0;
}

static void release_shared(store_state *s, int fd)
{
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, s->cstorage.classic_locks ? F_SETLK : F_OFD_SETLK, &fl) != 0) {
        close(fd); /* releases it too; reopened at the next call */
        s->cstorage.kept_fd = -1;
    }
}

/* containers/storage's GetLastWrite: up to 64 bytes from the start. */
static int read_token(store_state *s, int fd, cstorage_token *tok)
{
    ssize_t n;
    while ((n = pread(fd, tok->bytes, sizeof(tok->bytes), 0)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return lock_error(s, errno, "read");
    tok->state = CSTORAGE_TOKEN;
    tok->len = (size_t)n;
    return 0;
}

static bool token_equal(const cstorage_token *a, const cstorage_token *b)
{
    return a->state == b->state &&
           (a->state != CSTORAGE_TOKEN || (a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0));
}

/* generation(): the token as a number (FNV-1a), 0 without one. */
static uint64_t token_generation(const cstorage_token *tok)
{
    if (tok->state != CSTORAGE_TOKEN)
        return 0;
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < tok->len; i++)
        h = (h ^ tok->bytes[i]) * 1099511628211u;
    return h == 0 || h == LOCK_GENERATION_INVALID ? 1 : h;
}

/* ---- images.json into a fresh index ---- */

typedef struct element {
    image_record *r; /* packed */
    size_t at;       /* its index in the array */
    bool dropped;    /* a later element holds its ID */
} element;

typedef struct loader {
    const char *path; /* <dir>/images.json, for problems */
    element *items;
    size_t len, cap;
    problem_list problems;
    record_arena arena;
} loader;

static int add_problem(loader *ld, problem_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A problem about images.json; its text escaped for display. */
static int add_problem(loader *ld, problem_kind kind, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    text_vformat_escaped(text, sizeof(text), fmt, ap);
    va_end(ap);
    return problem_list_add(&ld->problems, kind, ld->path, text);
}

/* The element's "id", when it is one: for a problem's text. */
static const char *id_of(yajl_val v)
{
    for (size_t i = 0; YAJL_IS_OBJECT(v) && i < v->u.object.len; i++)
        if (strcmp(v->u.object.keys[i], "id") == 0)
            return YAJL_IS_STRING(v->u.object.values[i]) &&
                           image_id_is_valid(v->u.object.values[i]->u.string)
                       ? v->u.object.values[i]->u.string
                       : NULL;
    return NULL;
}

/* json_tree_each_element()'s callback: one element, a record or a problem. */
static int take_element(void *ctx, size_t at, yajl_val v, int code, const char *why)
{
    loader *ld = ctx;
    char reason[512];
    image_record *r = NULL;
    if (v != NULL) {
        if ((code = record_from_tree(&r, v, reason, sizeof(reason))) == RECORD_NOMEM)
            return JSON_TREE_NOMEM;
        why = reason;
    }
    if (r == NULL) {
        const char *id = id_of(v);
        problem_kind kind = code == RECORD_UNSUPPORTED ? PROBLEM_UNSUPPORTED : PROBLEM_UNPARSEABLE;
        int rc = id ? add_problem(ld, kind, "images.json[%zu] (image %s): %s", at, id, why)
                    : add_problem(ld, kind, "images.json[%zu]: %s", at, why);
        return rc == 0 ? 0 : JSON_TREE_NOMEM;
    }
    if (ld->len == ld->cap) { /* first: a packed record is never freed while packing goes on */
        size_t cap = ld->cap ? 2 * ld->cap : 16;
        element *grown = realloc(ld->items, cap * sizeof(*grown));
        if (grown == NULL) {
            record_free(r);
            return JSON_TREE_NOMEM;
        }
        ld->items = grown;
        ld->cap = cap;
    }
    image_record *packed = record_pack(r, &ld->arena);
    record_free(r);
    if (packed == NULL)
        return JSON_TREE_NOMEM;
    ld->items[ld->len++] = (element){packed, at, false};
    return 0;
}

/* containers/storage's ID map: of elements with one ID, the last is loaded. */
static int drop_repeated_ids(loader *ld)
{
    strmap ids; /* id -> its last element so far */
    strmap_init(&ids);
    int rc = strmap_reserve(&ids, ld->len);
    for (size_t i = 0; i < ld->len && rc == 0; i++) {
        element *e = &ld->items[i], *earlier = strmap_get(&ids, e->r->id);
        if (earlier != NULL) {
            earlier->dropped = true;
            rc = add_problem(ld, PROBLEM_DUPLICATE_ID,
                             "images.json[%zu]: image %s is there again as images.json[%zu], "
                             "which is the one loaded",
                             earlier->at, e->r->id, e->at);
        }
        strmap_put(&ids, e->r->id, e); /* reserved */
    }
    strmap_free(&ids);
    return rc;
}

/* containers/storage's load: a name held by several records stays with the
 * last of them (a writable store saves it so; a read-only one refuses). */
static int drop_repeated_names(loader *ld)
{
    strmap names; /* name -> its holder so far */
    strmap_init(&names);
    int rc = 0;
    for (size_t i = 0; i < ld->len && rc == 0; i++) {
        element *e = &ld->items[i];
        if (e->dropped)
            continue;
        if (strmap_reserve(&names, e->r->names.len) != 0) {
            rc = -1;
            break;
        }
        for (size_t j = 0; j < e->r->names.len && rc == 0; j++) {
            const char *name = e->r->names.items[j];
            element *holder = strmap_get(&names, name);
            if (holder != NULL) {
                rc = add_problem(ld, PROBLEM_DUPLICATE_NAME,
                                 "images.json[%zu]: name \"%s\" of image %s is also held by image "
                                 "%s (images.json[%zu]), which keeps it, as containers/storage "
                                 "gives a name to the last image holding it",
                                 holder->at, name, holder->r->id, e->r->id, e->at);
                strmap_remove(&names, name); /* its key is the holder's */
                record_remove_name(holder->r, name); /* packed: the text stays */
            }
            strmap_put(&names, name, e); /* reserved */
        }
    }
    strmap_free(&names);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    return strcmp((*(image_record *const *)a)->id, (*(image_record *const *)b)->id);
}

/* The loaded records into a fresh index, in ID order (so that each insert
 * appends); the records move there, the dropped ones are freed. */
static int build_index(loader *ld, image_index *ix)
{
    image_record **sorted = malloc((ld->len + 1) * sizeof(*sorted));
    size_t n = 0;
    int rc = sorted == NULL;
    for (size_t i = 0; i < ld->len; i++) {
        if (!ld->items[i].dropped && sorted != NULL)
            sorted[n++] = ld->items[i].r;
        else
            record_free(ld->items[i].r);
        ld->items[i].r = NULL;
    }
    if (rc == 0) {
        qsort(sorted, n, sizeof(*sorted), by_id);
        rc = strmap_reserve(&ix->by_id, n) || strmap_reserve(&ix->by_name, n) ||
             strmap_reserve(&ix->by_digest, n) || sorted_ids_reserve(&ix->sorted, n);
    }
    size_t added = 0;
    for (; rc == 0 && added < n; added++) {
        if ((rc = index_reserve(ix, sorted[added])) == 0)
            index_add(ix, sorted[added]);
    }
    for (size_t i = added; sorted != NULL && i < n; i++) /* not in the index: freed here */
        record_free(sorted[i]);
    free(sorted);
    return rc == 0 ? 0 : -1;
}

static void loader_free(loader *ld)
{
    record_arena_done(&ld->arena); /* first: freeing its last record frees a chunk */
    for (size_t i = 0; i < ld->len; i++)
        record_free(ld->items[i].r);
    free(ld->items);
    problem_list_free(&ld->problems);
}

/* Reads images.json into *ix and *problems (fresh; the caller frees them
 * when it does not keep them). Fails only when the read failed or memory
 * ran out. */
static int read_images(store_state *s, image_index *ix, problem_list *problems)
{
    char *json = NULL, why[512];
    size_t len = 0;
    struct stat st;
    loader ld;
    memset(&ld, 0, sizeof(ld));
    index_init(ix);
    memset(problems, 0, sizeof(*problems));
    char *path = fs_join(s->dir, RECORD_FILE);
    if (path == NULL)
        return oom(s);
    ld.path = path;
    int rc = fs_read_file(s->dirfd, s->dir, RECORD_FILE, 0, &json, &len, &s->err);
    int e = rc != 0 ? s->err.sys_errno : 0;
    if (e == ENOENT) { /* no images yet */
        rc = 0;
    } else if (rc != 0 && e != ENOMEM &&
               fstatat(s->dirfd, RECORD_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               !S_ISREG(st.st_mode)) {
        rc = add_problem(&ld, PROBLEM_NO_RECORD, "%s is %s, not a file; no image is loaded",
                         RECORD_FILE, fs_type_name(st.st_mode)) == 0 ? 0 : oom(s);
    } else if (rc == 0 && len > 0) { /* containers/storage: empty is no images */
        rc = json_tree_each_element(json, len, RECORD_MAX_DEPTH, take_element, &ld, why, sizeof(why));
        record_arena_done(&ld.arena); /* packing is over: records may be freed from here on */
        if (rc == JSON_TREE_INVALID) { /* nothing of it is believed */
            loader_free(&ld);
            memset(&ld, 0, sizeof(ld));
            ld.path = path;
            rc = add_problem(&ld, PROBLEM_UNPARSEABLE,
                             "%s; containers/storage cannot load it either, and no image is "
                             "loaded", why);
        } else if (rc == 0 && (rc = drop_repeated_ids(&ld)) == 0) {
            rc = drop_repeated_names(&ld);
        }
        if (rc == 0)
            rc = build_index(&ld, ix);
        if (rc != 0) /* the only failures left: memory */
            rc = oom(s);
    } else if (e == ENOMEM) {
        rc = oom(s);
    }
    free(json);
    if (rc == 0) {
        error_clear(&s->err);
        *problems = ld.problems;
        memset(&ld.problems, 0, sizeof(ld.problems));
    } else {
        index_free(ix, true);
    }
    loader_free(&ld);
    free(path);
    return rc;
}

int cstorage_load(store_state *s)
{
    image_index ix;
    problem_list problems;
    int rc = read_images(s, &ix, &problems);
    if (rc != 0)
        return rc;
    if (s->cstorage.seen.state == CSTORAGE_LOCK_UNREADABLE) {
        char *path = fs_join(s->dir, CSTORAGE_LOCK);
        if (path == NULL ||
            problem_list_add(&problems, PROBLEM_LOCK_FILE, path,
                             "the lock file cannot be opened (permission denied): this store "
                             "takes no lock, and changes by other processes are seen only at "
                             "load()") != 0)
            rc = oom(s);
        free(path);
    }
    if (rc != 0) {
        index_free(&ix, true);
        problem_list_free(&problems);
        return rc;
    }
    index_free(&s->index, true);
    problem_list_free(&s->problems);
    s->index = ix;
    s->problems = problems;
    s->stale = 0;
    return 0;
}

/* ---- the calls ---- */

int cstorage_begin_read(store_state *s, bool force)
{
    cstorage_token tok, was = s->cstorage.seen;
    int fd;
    memset(&tok, 0, sizeof(tok));
    int rc = kept_lock(s, &fd, &tok);
    bool locked = rc == 0 && fd >= 0 && (rc = take_shared(s, fd)) == 0;
    if (locked)
        rc = read_token(s, fd, &tok);
    if (rc == 0 && (force || !s->cstorage.loaded || !token_equal(&tok, &was))) {
        s->cstorage.seen = tok;
        if ((rc = cstorage_load(s)) == 0) {
            s->cstorage.loaded = true;
            s->seen_generation = token_generation(&tok);
        } else {
            s->cstorage.seen = was;
        }
    }
    if (rc != 0) {
        if (locked)
            release_shared(s, fd);
        return rc;
    }
    s->cstorage.lock_fd = locked ? fd : -1;
    return 0;
}

void cstorage_end_read(store_state *s)
{
    if (s->cstorage.lock_fd >= 0)
        release_shared(s, s->cstorage.lock_fd);
    s->cstorage.lock_fd = -1;
}

void cstorage_close(store_state *s)
{
    if (s->cstorage.kept_fd >= 0)
        close(s->cstorage.kept_fd);
    s->cstorage.kept_fd = s->cstorage.lock_fd = -1;
}

int cstorage_open(store_state *s)
{
    s->cstorage.loaded = false;
    int rc = cstorage_begin_read(s, true);
    if (rc == 0)
        cstorage_end_read(s);
    return rc;
}

int cstorage_reload(store_state *s, int fd)
{
    int old = s->dirfd, old_lock = s->cstorage.kept_fd;
    s->dirfd = fd;
    s->cstorage.kept_fd = -1; /* the lock file as the path names it now */
    int rc = cstorage_begin_read(s, true);
    if (rc != 0) {
        if (s->cstorage.kept_fd >= 0)
            close(s->cstorage.kept_fd);
        s->cstorage.kept_fd = old_lock;
        s->dirfd = old;
        close(fd);
        return rc;
    }
    cstorage_end_read(s);
    if (old_lock >= 0)
        close(old_lock);
    close(old);
    return 0;
}

/* ---- check() ---- */

typedef struct findings {
    finding *items;
    size_t len, cap;
} findings;

static int add_finding(store_state *s, findings *f, problem_kind kind, const char *entry,
                       const char *path, const char *detail)
{
    if (f->len == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 8;
        finding *grown = realloc(f->items, cap * sizeof(*grown));
        if (grown == NULL)
            return oom(s);
        f->items = grown;
        f->cap = cap;
    }
    finding *x = &f->items[f->len];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->size = -1;
    x->path = strdup(path);
    x->detail = strdup(detail);
    x->entry = entry ? strdup(entry) : NULL;
    if (x->path == NULL || x->detail == NULL || (entry && x->entry == NULL)) {
        free(x->path);
        free(x->detail);
        free(x->entry);
        return oom(s);
    }
    f->len++;
    return 0;
}

/* An image's place, <dir>/<id>: absent (its big data is then missing), a
 * directory, or taken by something else. */
static int check_image(store_state *s, findings *f, const image_record *r)
{
    struct stat st;
    if (fstatat(s->dirfd, r->id, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        char detail[128], *path = fs_join(s->dir, r->id);
        snprintf(detail, sizeof(detail), "an image's place is taken by %s, not a directory",
                 fs_type_name(st.st_mode));
        int rc = path ? add_finding(s, f, PROBLEM_NOT_DIRECTORY, r->id, path, detail) : oom(s);
        free(path);
        return rc;
    }
    int rc = check_image_files(s->dirfd, s->dir, r->id, r, &f->items, &f->len, &s->err);
    f->cap = f->len; /* what check_image_files() left is full */
    return rc;
}

/* 64-hex directories images.json has no record for. */
static int check_unrecorded(store_state *s, findings *f, const image_index *ix)
{
    fs_dirent *entries;
    size_t n;
    const char *failed;
    int e = fs_list_dir(s->dirfd, NULL, &entries, &n, &failed), rc = 0;
    if (e != 0)
        return e == ENOMEM ? oom(s) : error_sys(&s->err, e, "opendir", s->dir);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = entries[i].name;
        struct stat st;
        if (!image_id_is_valid(name) || strmap_get(&ix->by_id, name) != NULL ||
            fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        char detail[160], *path = fs_join(s->dir, name);
        snprintf(detail, sizeof(detail), "image directory %s has no record in %s", name,
                 RECORD_FILE);
        rc = path ? add_finding(s, f, PROBLEM_NO_RECORD, name, path, detail) : oom(s);
        free(path);
    }
    fs_dirents_free(entries, n);
    return rc;
}

int cstorage_check(store_state *s, finding **out, size_t *len)
{
    findings f = {NULL, 0, 0};
    image_index ix;
    problem_list problems;
    cstorage_token tok;
    int fd;
    memset(&tok, 0, sizeof(tok));
    int rc = kept_lock(s, &fd, &tok);
    bool locked = rc == 0 && fd >= 0 && (rc = take_shared(s, fd)) == 0;
    if (rc == 0 && (rc = read_images(s, &ix, &problems)) == 0) {
        for (size_t i = 0; i < problems.len && rc == 0; i++)
            rc = add_finding(s, &f, problems.items[i].kind, NULL, problems.items[i].path,
                             problems.items[i].text);
        for (size_t i = 0; i < ix.sorted.len && rc == 0; i++)
            rc = check_image(s, &f, ix.sorted.items[i]);
        if (rc == 0)
            rc = check_unrecorded(s, &f, &ix);
        index_free(&ix, true);
        problem_list_free(&problems);
    }
    if (locked)
        release_shared(s, fd);
    if (rc != 0) {
        findings_free(f.items, f.len);
        return rc;
    }
    *out = f.items;
    *len = f.len;
    return 0;
}
