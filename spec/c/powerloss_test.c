/*
 * Power loss at every point of every mutator (issue 15), after the crash
 * simulators of SQLite's test VFS (test6.c), ALICE and CrashMonkey (OSDI '14,
 * '18): record what a mutator does to the disk, then build every state a
 * power loss could leave, and open each one.
 *
 * 1. Record. The test runs itself again under spec/faults/fault_shim.c with
 *    IMAGESTORE_RECORD: each scenario of crash_support.h (every mutator, a
 *    batch, a sequence of five acknowledged calls, repair() of a damaged
 *    store, a daemon open that cleans up and rewrites a stale snapshot)
 *    runs on a fresh store, and the shim logs every write, pwrite, trunc,
 *    fsync, fdatasync, syncfs, file creation, mkdir, rename (plain,
 *    RENAME_NOREPLACE, RENAME_EXCHANGE), link, unlink and rmdir below the
 *    store, by inode. After each step returns 0 the test logs "ack N", and
 *    notes what a fresh open sees (every image, every field, the bytes of
 *    every big-data item) and what check() finds.
 * 2. Model. The store as it was before the first step (scanned: inodes,
 *    bytes, entries) plus the log replayed gives the disk after any prefix
 *    of the calls. For crash point k (the first k calls done; every k from
 *    0 to the end, so every sync point and every other call) a call is
 *    durable when a later call before k made it so: data written to a file
 *    by an fsync or fdatasync of that file, or a syncfs; a change to a
 *    directory (an entry created, renamed, linked, removed) by an fsync of
 *    that directory (of both, for a rename between two; of the one it
 *    links into, for a link), or a syncfs. fsync of a file never makes its
 *    name durable.
 * 3. Crash states. Two modes:
 *    worst    (POSIX, nothing more) durable calls stay; any other data may
 *             be lost or cut short, and any other directory change may be
 *             undone, in any order, as long as what depends on it is
 *             undone with it (a later call on the same name, a call inside
 *             a directory the undone mkdir made, an rmdir after the
 *             removals in it). A directory change that something durable
 *             depends on (an entry a durable rmdir or rename needs) stays.
 *             The subsets of these changes number 2^n; this test explores
 *             a principled part of them for each k: nothing lost; all that
 *             can be lost lost; each directory change undone on its own
 *             (with its dependents), once with all unsynced data kept and
 *             once with it all lost; each suffix of the directory changes
 *             undone (a filesystem that keeps their order); and each file
 *             with unsynced data lost, cut to half of what was written
 *             since its last sync, or zero-filled to its new size (metadata
 *             without data: ext4 data=writeback), all else kept.
 *             IMAGESTORE_CRASH_FULL=1 (make torture) adds every subset of
 *             the undoable directory changes when there are at most 12 of
 *             them (else the principled part only), with all unsynced data
 *             kept and with it lost.
 *    ordered  ext4 data=ordered: a crash keeps a prefix of the calls made
 *             since the last sync (any fsync, fdatasync or syncfs commits
 *             the journal, which is the whole prefix before it), with the
 *             data of every write in the prefix: a rename never exposes a
 *             file whose data was not written.
 *    States equal to one already judged (same tree, same bytes, same hard
 *    links, same number of acknowledged steps) are not judged again.
 * 4. Judge each state (crash_support.h, verify_state): materialized in a
 *    directory of its own, a plain open and a daemon open succeed; every
 *    acknowledged step is there byte for byte; an image the step in flight
 *    touches is wholly old or wholly new; check() finds only temp leftovers
 *    (besides the damage the repair scenario starts with).
 *
 * One TAP line per (scenario, mode, crash point), naming the call the crash
 * follows and how many states it added; a failing one prints the first bad
 * state (which changes were lost) and why. The snapshot's stat stamps name
 * inodes, which a materialized copy cannot keep, so these states open
 * without it (killpoint_test.c crashes the real tree, snapshot and all).
 *
 * A name move writes the image that loses the name first, and makes that
 * durable (a barrier: the store directory fsynced) before the image that
 * gains it is put in place, also at a batch's commit: no state may hold a
 * name in two records.
 *
 * Environment: IMAGESTORE_CRASH_TMPDIR (default /dev/shm), IMAGESTORE_CRASH_FULL,
 * IMAGESTORE_POWERLOSS_ONLY=<scenario name>, IMAGESTORE_POWERLOSS_MODE=worst|ordered,
 * IMAGESTORE_POWERLOSS_VERBOSE (lists the recorded calls).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crash_support.h"

/* ---- the recorded calls ---- */

typedef enum kind {
    K_WRITE,
    K_TRUNC,
    K_FSYNC,
    K_FDATASYNC,
    K_SYNCFS,
    K_CREATE,
    K_MKDIR,
    K_RENAME,
    K_LINK,
    K_UNLINK,
    K_RMDIR
} kind;

typedef struct op {
    kind kind;
    size_t acked;  /* steps acknowledged before it */
    char *what;    /* for messages */
    int ino;       /* written, truncated, synced, created, moved, linked or removed */
    int ino2;      /* rename: what the destination held, or -1 */
    int d1, d2;    /* the directories of n1 and n2 */
    char *n1, *n2;
    unsigned flags; /* rename */
    long long off;  /* write: where; trunc: the length */
    size_t len;
    unsigned char *data;
    int durable_at; /* the first call that makes it durable, or INT_MAX */
    int *hard, *soft; /* directory changes it needs (see the header) */
    size_t nhard, nsoft;
} op;

static bool is_sync(const op *o) { return o->kind == K_FSYNC || o->kind == K_FDATASYNC || o->kind == K_SYNCFS; }
static bool is_data(const op *o) { return o->kind == K_WRITE || o->kind == K_TRUNC; }
static bool is_dir_op(const op *o) { return o->kind >= K_CREATE; }

/* ---- the model of the disk ---- */

typedef struct dent {
    const char *name;
    int ino;
} dent;

typedef struct dlist {
    dent *e;
    size_t n, cap;
} dlist;

typedef struct mfile {
    unsigned char *data;
    size_t len, cap;
    bool owned;
} mfile;

typedef struct model {
    int n, cap;        /* inodes; 0 is the store directory */
    char *type;        /* 'f' or 'd' */
    unsigned *mode;
    mfile *file0;      /* the bytes before the first step */
    dlist *dir0;       /* the entries before the first step */
    long long *real;   /* real inode number -> model inode: pairs, latest last */
    int *mapped;
    size_t nmap, capmap;
    op *ops;
    int nops;
    size_t nacks;
    const char *root;  /* the recorded store's path */
} model;

static void dl_set(dlist *l, const char *name, int ino)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0) {
            l->e[i].ino = ino;
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->e = realloc(l->e, l->cap * sizeof(dent));
        if (l->e == NULL)
            abort();
    }
    l->e[l->n++] = (dent){name, ino};
}

static int dl_get(const dlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0)
            return l->e[i].ino;
    return -1;
}

static void dl_del(dlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0) {
            l->e[i] = l->e[--l->n];
            return;
        }
}

static int new_inode(model *m, char type, unsigned mode)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->type = realloc(m->type, (size_t)m->cap);
        m->mode = realloc(m->mode, (size_t)m->cap * sizeof(unsigned));
        m->file0 = realloc(m->file0, (size_t)m->cap * sizeof(mfile));
        m->dir0 = realloc(m->dir0, (size_t)m->cap * sizeof(dlist));
        if (!m->type || !m->mode || !m->file0 || !m->dir0)
            abort();
    }
    m->type[m->n] = type;
    m->mode[m->n] = mode;
    memset(&m->file0[m->n], 0, sizeof(mfile));
    memset(&m->dir0[m->n], 0, sizeof(dlist));
    return m->n++;
}

static void map_real(model *m, long long real, int id)
{
    if (m->nmap == m->capmap) {
        m->capmap = m->capmap ? m->capmap * 2 : 64;
        m->real = realloc(m->real, m->capmap * sizeof(long long));
        m->mapped = realloc(m->mapped, m->capmap * sizeof(int));
        if (!m->real || !m->mapped)
            abort();
    }
    m->real[m->nmap] = real;
    m->mapped[m->nmap++] = id;
}

static int lookup_real(const model *m, long long real)
{
    for (size_t i = m->nmap; i-- > 0;)
        if (m->real[i] == real)
            return m->mapped[i];
    return -1;
}

static bool read_whole(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    sbuf b = {0};
    char buf[65536];
    size_t n;
    if (f == NULL)
        return false;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        sb_add(&b, buf, n);
    fclose(f);
    *len = b.len;
    *data = (unsigned char *)sb_take(&b);
    return true;
}

/* The tree below path into model inode id (a directory). */
static void scan(model *m, const char *path, int id)
{
    DIR *d = opendir(path);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        struct stat st;
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (lstat(child, &st) != 0)
            continue;
        int c = lookup_real(m, (long long)st.st_ino);
        if (c < 0) {
            c = new_inode(m, S_ISDIR(st.st_mode) ? 'd' : 'f', st.st_mode & 07777);
            map_real(m, (long long)st.st_ino, c);
            if (S_ISDIR(st.st_mode)) {
                scan(m, child, c);
            } else if (S_ISREG(st.st_mode)) {
                read_whole(child, &m->file0[c].data, &m->file0[c].len);
                m->file0[c].owned = true;
            }
        }
        dl_set(&m->dir0[id], strdup(e->d_name), c);
    }
    if (d != NULL)
        closedir(d);
}

/* "%2f" and the like back to bytes (in place). */
static char *unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return s;
}

/* The path below the store, 64-hex IDs cut to 8. */
static void short_path(sbuf *b, const model *m, const char *path)
{
    size_t rl = strlen(m->root);
    if (strncmp(path, m->root, rl) == 0)
        path += rl + (path[rl] == '/');
    if (*path == '\0')
        path = ".";
    while (*path) {
        size_t hex = 0;
        while (isxdigit((unsigned char)path[hex]) && !isupper((unsigned char)path[hex]))
            hex++;
        if (hex == 64) {
            sb_add(b, path, 8);
            sb_add(b, "..", 2);
            path += 64;
        } else {
            size_t n = hex ? hex : 1;
            sb_add(b, path, n);
            path += n;
        }
    }
}

static int need_inode(const model *m, long long real, const char *line, sbuf *err)
{
    int id = lookup_real(m, real);
    if (id < 0 && err->len == 0)
        sb_printf(err, "the log names inode %lld, which is not in the store: %.200s", real, line);
    return id;
}

/* Reads the log into m->ops; false with the reason in err. */
static bool parse_log(model *m, const char *logpath, sbuf *err)
{
    unsigned char *text;
    size_t len;
    if (!read_whole(logpath, &text, &len)) {
        sb_printf(err, "cannot read the log %s", logpath);
        return false;
    }
    size_t acked = 0;
    int cap = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)text, "\n", &save); line != NULL && err->len == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *tok[16];
        int nt = 0;
        char *copy = strdup(line), *s2 = NULL;
        for (char *t = strtok_r(copy, " ", &s2); t != NULL && nt < 16; t = strtok_r(NULL, " ", &s2))
            tok[nt++] = t;
        if (nt == 0) {
            free(copy);
            continue;
        }
        if (strcmp(tok[0], "ack") == 0) {
            acked = (size_t)strtoul(tok[1], NULL, 10);
            m->nacks = acked;
            free(copy);
            continue;
        }
        op o;
        memset(&o, 0, sizeof(o));
        o.acked = acked;
        o.ino = o.ino2 = o.d1 = o.d2 = -1;
        o.durable_at = INT_MAX;
        sbuf what = {0};
        sb_printf(&what, "%s ", tok[0]);
        if (strcmp(tok[0], "write") == 0 && nt >= 6) {
            o.kind = K_WRITE;
            o.ino = need_inode(m, atoll(tok[1]), line, err);
            o.off = atoll(tok[2]);
            o.len = (size_t)atoll(tok[3]);
            o.data = malloc(o.len + 1);
            for (size_t i = 0; i < o.len; i++) {
                char hex[3] = {tok[4][2 * i], tok[4][2 * i + 1], 0};
                o.data[i] = (unsigned char)strtol(hex, NULL, 16);
            }
            short_path(&what, m, unescape(tok[5]));
            sb_printf(&what, " [%lld,+%zu)", o.off, o.len);
        } else if (strcmp(tok[0], "trunc") == 0 && nt >= 4) {
            o.kind = K_TRUNC;
            o.ino = need_inode(m, atoll(tok[1]), line, err);
            o.off = atoll(tok[2]);
            short_path(&what, m, unescape(tok[3]));
        } else if ((strcmp(tok[0], "fsync") == 0 || strcmp(tok[0], "fdatasync") == 0 ||
                    strcmp(tok[0], "syncfs") == 0) && nt >= 3) {
            o.kind = tok[0][1] == 's' ? K_FSYNC : tok[0][1] == 'd' ? K_FDATASYNC : K_SYNCFS;
            o.ino = o.kind == K_SYNCFS ? -1 : need_inode(m, atoll(tok[1]), line, err);
            short_path(&what, m, unescape(tok[2]));
        } else if ((strcmp(tok[0], "create") == 0 || strcmp(tok[0], "mkdir") == 0) && nt >= 5) {
            o.kind = tok[0][0] == 'c' ? K_CREATE : K_MKDIR;
            o.d1 = need_inode(m, atoll(tok[1]), line, err);
            o.n1 = strdup(unescape(tok[2]));
            o.ino = new_inode(m, o.kind == K_CREATE ? 'f' : 'd', o.kind == K_CREATE ? 0600 : 0700);
            map_real(m, atoll(tok[3]), o.ino);
            short_path(&what, m, unescape(tok[4]));
        } else if (strcmp(tok[0], "rename") == 0 && nt >= 10) {
            o.kind = K_RENAME;
            o.d1 = need_inode(m, atoll(tok[1]), line, err);
            o.n1 = strdup(unescape(tok[2]));
            o.d2 = need_inode(m, atoll(tok[3]), line, err);
            o.n2 = strdup(unescape(tok[4]));
            o.flags = (unsigned)atoi(tok[5]);
            o.ino = need_inode(m, atoll(tok[6]), line, err);
            o.ino2 = atoll(tok[7]) != 0 ? need_inode(m, atoll(tok[7]), line, err) : -1;
            short_path(&what, m, unescape(tok[8]));
            sb_add(&what, " -> ", 4);
            short_path(&what, m, unescape(tok[9]));
            if (o.flags & 2)
                sb_printf(&what, " (EXCHANGE)");
            if (o.flags & 1)
                sb_printf(&what, " (NOREPLACE)");
        } else if (strcmp(tok[0], "link") == 0 && nt >= 8) {
            o.kind = K_LINK;
            o.d1 = need_inode(m, atoll(tok[1]), line, err);
            o.n1 = strdup(unescape(tok[2]));
            o.d2 = need_inode(m, atoll(tok[3]), line, err);
            o.n2 = strdup(unescape(tok[4]));
            o.ino = need_inode(m, atoll(tok[5]), line, err);
            short_path(&what, m, unescape(tok[6]));
            sb_add(&what, " -> ", 4);
            short_path(&what, m, unescape(tok[7]));
        } else if ((strcmp(tok[0], "unlink") == 0 || strcmp(tok[0], "rmdir") == 0) && nt >= 5) {
            o.kind = tok[0][0] == 'u' ? K_UNLINK : K_RMDIR;
            o.d1 = need_inode(m, atoll(tok[1]), line, err);
            o.n1 = strdup(unescape(tok[2]));
            o.ino = lookup_real(m, atoll(tok[3]));
            short_path(&what, m, unescape(tok[4]));
        } else {
            sb_printf(err, "cannot read this log line: %.200s", line);
        }
        o.what = sb_take(&what);
        free(copy);
        if (m->nops == cap) {
            cap = cap ? cap * 2 : 64;
            m->ops = realloc(m->ops, (size_t)cap * sizeof(op));
            if (m->ops == NULL)
                abort();
        }
        m->ops[m->nops++] = o;
    }
    free(text);
    return err->len == 0;
}

/* ---- what each call needs (durability, dependencies) ---- */

/* The first sync after op i of directory or file x (-1: syncfs only). */
static int synced_by(const model *m, int i, int x)
{
    for (int s = i + 1; s < m->nops; s++) {
        const op *o = &m->ops[s];
        if (o->kind == K_SYNCFS || (x >= 0 && (o->kind == K_FSYNC || o->kind == K_FDATASYNC) && o->ino == x))
            return s;
    }
    return INT_MAX;
}

static bool same_key(int d1, const char *n1, int d2, const char *n2)
{
    return d1 >= 0 && d1 == d2 && n1 && n2 && strcmp(n1, n2) == 0;
}

static bool keys_meet(const op *a, const op *b)
{
    return same_key(a->d1, a->n1, b->d1, b->n1) || same_key(a->d1, a->n1, b->d2, b->n2) ||
           same_key(a->d2, a->n2, b->d1, b->n1) || same_key(a->d2, a->n2, b->d2, b->n2);
}

static void push_int(int **a, size_t *n, int v)
{
    *a = realloc(*a, (*n + 1) * sizeof(int));
    if (*a == NULL)
        abort();
    (*a)[(*n)++] = v;
}

static void analyse(model *m)
{
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        if (is_data(o)) {
            o->durable_at = synced_by(m, i, o->ino);
        } else if (is_dir_op(o)) {
            /* a link changes only the directory it links into */
            int a = o->kind == K_LINK ? synced_by(m, i, o->d2) : synced_by(m, i, o->d1);
            int b = o->kind != K_LINK && o->d2 >= 0 && o->d2 != o->d1 ? synced_by(m, i, o->d2) : a;
            o->durable_at = a > b ? a : b;
            for (int j = 0; j < i; j++) {
                const op *p = &m->ops[j];
                if (!is_dir_op(p))
                    continue;
                bool hard = keys_meet(o, p) ||
                            (o->kind == K_RMDIR && o->ino >= 0 && (p->d1 == o->ino || p->d2 == o->ino));
                bool soft = p->kind == K_MKDIR && (p->ino == o->d1 || p->ino == o->d2);
                if (hard)
                    push_int(&o->hard, &o->nhard, j);
                else if (soft)
                    push_int(&o->soft, &o->nsoft, j);
            }
        }
    }
}

/* ---- crash states ---- */

/* how[i] for each call before the crash: 0 lost (or a sync: nothing to
 * do), -1 done, -2 (a write) done with zeros for its bytes, n > 0 (a
 * write) its first n bytes done. */

static void all_done(const model *m, int k, int *how)
{
    for (int i = 0; i < k; i++)
        how[i] = is_sync(&m->ops[i]) ? 0 : -1;
}

/* Undoes the directory changes in seed and whatever depends on them;
 * false (how untouched) when something durable needs one of them. */
static bool undo(const model *m, int k, const bool *seed, int *how, bool *mark)
{
    memset(mark, 0, (size_t)k * sizeof(bool));
    for (int j = 0; j < k; j++) {
        const op *o = &m->ops[j];
        if (!is_dir_op(o))
            continue;
        if (seed[j]) {
            mark[j] = true;
            continue;
        }
        bool hard = false, soft = false;
        for (size_t d = 0; d < o->nhard; d++)
            hard = hard || mark[o->hard[d]];
        for (size_t d = 0; d < o->nsoft; d++)
            soft = soft || mark[o->soft[d]];
        if (hard && o->durable_at < k)
            return false;
        mark[j] = hard || soft;
    }
    for (int j = 0; j < k; j++)
        if (mark[j])
            how[j] = 0;
    return true;
}

static bool unsynced(const op *o, int k) { return o->durable_at >= k; }

/* Loses the unsynced data of inode ino (-1: of every file): variant 0 all of
 * it, 1 all but the first half of its bytes, 2 zeros instead of its bytes. */
static void lose_data(const model *m, int k, int ino, int variant, int *how)
{
    size_t total = 0, done = 0;
    for (int i = 0; i < k; i++)
        if (is_data(&m->ops[i]) && unsynced(&m->ops[i], k) && m->ops[i].ino == ino)
            total += m->ops[i].kind == K_WRITE ? m->ops[i].len : 0;
    size_t half = total / 2;
    for (int i = 0; i < k; i++) {
        const op *o = &m->ops[i];
        if (!is_data(o) || !unsynced(o, k) || (ino >= 0 && o->ino != ino) || how[i] == 0)
            continue;
        if (variant == 0) {
            how[i] = 0;
        } else if (variant == 2) {
            how[i] = o->kind == K_WRITE ? -2 : -1;
        } else {
            size_t n = o->kind == K_WRITE ? o->len : 0;
            if (done >= half && (n > 0 || done > 0))
                how[i] = 0;
            else if (done + n > half)
                how[i] = (int)(half - done);
            done += n;
        }
    }
}

/* The disk as a replay leaves it. */
typedef struct rstate {
    mfile *f;
    dlist *d;
    int n;
} rstate;

static void rs_init(rstate *r, const model *m)
{
    r->n = m->n;
    r->f = calloc((size_t)m->n, sizeof(mfile));
    r->d = calloc((size_t)m->n, sizeof(dlist));
    for (int i = 0; i < m->n; i++) {
        r->f[i] = m->file0[i];
        r->f[i].owned = false;
        r->f[i].cap = 0;
        const dlist *src = &m->dir0[i];
        if (src->n > 0) {
            r->d[i].e = malloc(src->n * sizeof(dent));
            memcpy(r->d[i].e, src->e, src->n * sizeof(dent));
            r->d[i].n = r->d[i].cap = src->n;
        }
    }
}

static void rs_free(rstate *r)
{
    for (int i = 0; i < r->n; i++) {
        if (r->f[i].owned)
            free(r->f[i].data);
        free(r->d[i].e);
    }
    free(r->f);
    free(r->d);
}

static void rs_write(mfile *f, long long off, const unsigned char *data, size_t len, bool zeros)
{
    size_t end = (size_t)off + len;
    if (!f->owned || end > f->cap) {
        size_t cap = end > f->len ? end : f->len;
        unsigned char *d = malloc(cap + 1);
        if (d == NULL)
            abort();
        if (f->len > 0)
            memcpy(d, f->data, f->len);
        if (f->owned)
            free(f->data);
        f->data = d;
        f->cap = cap;
        f->owned = true;
    }
    if ((size_t)off > f->len)
        memset(f->data + f->len, 0, (size_t)off - f->len);
    if (zeros)
        memset(f->data + off, 0, len);
    else
        memcpy(f->data + off, data, len);
    if (end > f->len)
        f->len = end;
}

static void rs_apply(rstate *r, const op *o, int how)
{
    switch (o->kind) {
    case K_WRITE:
        rs_write(&r->f[o->ino], o->off, o->data, how > 0 ? (size_t)how : o->len, how == -2);
        break;
    case K_TRUNC:
        if ((size_t)o->off < r->f[o->ino].len)
            r->f[o->ino].len = (size_t)o->off;
        else if ((size_t)o->off > r->f[o->ino].len)
            rs_write(&r->f[o->ino], o->off, NULL, 0, true);
        break;
    case K_CREATE:
    case K_MKDIR:
        dl_set(&r->d[o->d1], o->n1, o->ino);
        break;
    case K_LINK:
        dl_set(&r->d[o->d2], o->n2, o->ino);
        break;
    case K_UNLINK:
    case K_RMDIR:
        dl_del(&r->d[o->d1], o->n1);
        break;
    case K_RENAME: {
        int a = dl_get(&r->d[o->d1], o->n1), b = dl_get(&r->d[o->d2], o->n2);
        if (a < 0 || ((o->flags & 2) && b < 0))
            break; /* what it moves was undone */
        if (o->flags & 2) {
            dl_set(&r->d[o->d1], o->n1, b);
            dl_set(&r->d[o->d2], o->n2, a);
        } else {
            dl_del(&r->d[o->d1], o->n1);
            dl_set(&r->d[o->d2], o->n2, a);
        }
        break;
    }
    default:
        break;
    }
}

static void replay(const model *m, int k, const int *how, rstate *r)
{
    rs_init(r, m);
    for (int i = 0; i < k; i++)
        if (how[i] != 0)
            rs_apply(r, &m->ops[i], how[i]);
}

/* ---- hashing and materializing a state ---- */

typedef struct hash {
    uint64_t a, b;
} hash;

static void mix(hash *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ s[i]) * 1099511628211ull;
        h->b = (h->b ^ s[i]) * 0x100000001b3ull + (h->b >> 29) + 0x9e3779b97f4a7c15ull;
    }
}

static int cmp_dent(const void *x, const void *y)
{
    return strcmp(((const dent *)x)->name, ((const dent *)y)->name);
}

/* Walks the tree from inode 0: hashes it, or (path != NULL) creates it. */
typedef struct walk {
    const model *m;
    rstate *r;
    int *first;       /* inode -> order of first visit, -1 */
    char **first_path; /* for hard links */
    int visits;
    hash h;
    bool failed;
} walk;

static void walk_dir(walk *w, int ino, const char *path)
{
    dlist *l = &w->r->d[ino];
    if (l->n > 1)
        qsort(l->e, l->n, sizeof(dent), cmp_dent);
    for (size_t i = 0; i < l->n; i++) {
        int c = l->e[i].ino;
        char child[4096];
        if (path != NULL)
            snprintf(child, sizeof(child), "%s/%s", path, l->e[i].name);
        mix(&w->h, l->e[i].name, strlen(l->e[i].name) + 1);
        if (w->first[c] >= 0) { /* a hard link, or a directory met again */
            char ref[32];
            snprintf(ref, sizeof(ref), "L%d", w->first[c]);
            mix(&w->h, ref, strlen(ref) + 1);
            if (path != NULL && w->m->type[c] == 'f' && link(w->first_path[c], child) != 0)
                w->failed = true;
            continue;
        }
        w->first[c] = w->visits++;
        if (path != NULL)
            w->first_path[c] = strdup(child);
        if (w->m->type[c] == 'd') {
            mix(&w->h, "D{", 2);
            if (path != NULL && mkdir(child, w->m->mode[c] ? w->m->mode[c] : 0700) != 0)
                w->failed = true;
            walk_dir(w, c, path != NULL ? child : NULL);
            mix(&w->h, "}", 1);
        } else {
            const mfile *f = &w->r->f[c];
            char head[48];
            snprintf(head, sizeof(head), "F%zu:", f->len);
            mix(&w->h, head, strlen(head));
            if (f->len > 0)
                mix(&w->h, f->data, f->len);
            if (path != NULL) {
                int fd = open(child, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                              w->m->mode[c] ? w->m->mode[c] : 0600);
                if (fd < 0 || (f->len > 0 && write(fd, f->data, f->len) != (ssize_t)f->len))
                    w->failed = true;
                if (fd >= 0)
                    close(fd);
            }
        }
    }
}

/* The hash of a state; with path, the state made there (an empty directory). */
static hash walk_state(const model *m, rstate *r, const char *path, bool *failed)
{
    walk w = {m, r, malloc((size_t)m->n * sizeof(int)), NULL, 0, {14695981039346656037ull, 7}, false};
    for (int i = 0; i < m->n; i++)
        w.first[i] = -1;
    w.first[0] = w.visits++;
    if (path != NULL)
        w.first_path = calloc((size_t)m->n, sizeof(char *));
    walk_dir(&w, 0, path);
    if (w.first_path != NULL) {
        for (int i = 0; i < m->n; i++)
            free(w.first_path[i]);
        free(w.first_path);
    }
    free(w.first);
    if (failed != NULL)
        *failed = w.failed;
    return w.h;
}

/* The states judged so far in this scenario and mode. */
typedef struct seen {
    hash *h;
    size_t n, cap;
} seen;

static bool seen_add(seen *s, hash h)
{
    if (s->n * 2 >= s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        hash *t = calloc(cap, sizeof(hash));
        for (size_t i = 0; i < s->cap; i++)
            if (s->h[i].a || s->h[i].b) {
                size_t j = s->h[i].a & (cap - 1);
                while (t[j].a || t[j].b)
                    j = (j + 1) & (cap - 1);
                t[j] = s->h[i];
            }
        free(s->h);
        s->h = t;
        s->cap = cap;
    }
    size_t j = h.a & (s->cap - 1);
    while (s->h[j].a || s->h[j].b) {
        if (s->h[j].a == h.a && s->h[j].b == h.b)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->h[j] = h;
    s->n++;
    return true;
}

/* ---- running it ---- */

static char workdir[256], recdir[300], statedir[300], logpath[300];
static bool full;
static size_t total_states, total_points, total_capped;

typedef struct point {
    const model *m;
    const expect *e;
    int k;
    seen *seen;
    int *how;
    bool *mark;
    size_t added, tried;
    bool failed;
    sbuf first_failure;
} point;

/* Judges the state how describes (label: which changes were lost). */
static void try_state(point *p, const char *label_fmt, ...) __attribute__((format(printf, 2, 3)));

static void try_state(point *p, const char *label_fmt, ...)
{
    rstate r;
    p->tried++;
    replay(p->m, p->k, p->how, &r);
    hash h = walk_state(p->m, &r, NULL, NULL);
    size_t acked = p->k < p->m->nops ? p->m->ops[p->k].acked : p->m->nacks;
    uint64_t salt = (uint64_t)acked * 0x9e3779b97f4a7c15ull;
    h.a ^= salt;
    h.b += salt;
    if (!seen_add(p->seen, h)) {
        rs_free(&r);
        return;
    }
    p->added++;
    total_states++;
    bool failed;
    rm_rf(statedir);
    mkdir(statedir, 0700);
    walk_state(p->m, &r, statedir, &failed);
    sbuf why = {0};
    bool ok = !failed && verify_state(statedir, p->e, acked, &why);
    if (failed)
        sb_printf(&why, "could not make the state on disk");
    rs_free(&r);
    if (!ok && !p->failed) {
        va_list ap;
        p->failed = true;
        sb_printf(&p->first_failure, "state (%zu acknowledged): ", acked);
        va_start(ap, label_fmt);
        char label[512];
        vsnprintf(label, sizeof(label), label_fmt, ap);
        va_end(ap);
        sb_printf(&p->first_failure, "%s\n# why: %s", label, why.s ? why.s : "?");
    }
    free(why.s);
}

static const char *op_label(const model *m, int i) { return m->ops[i].what; }

static void worst_states(point *p)
{
    const model *m = p->m;
    int k = p->k;
    bool *seed = calloc((size_t)k + 1, sizeof(bool));
    int *undoable = malloc(((size_t)k + 1) * sizeof(int));
    int nu = 0;
    /* which directory changes can be undone at all */
    for (int i = 0; i < k; i++) {
        if (!is_dir_op(&m->ops[i]) || !unsynced(&m->ops[i], k))
            continue;
        all_done(m, k, p->how);
        seed[i] = true;
        if (undo(m, k, seed, p->how, p->mark))
            undoable[nu++] = i;
        seed[i] = false;
    }
    all_done(m, k, p->how);
    try_state(p, "nothing lost");
    /* everything that can be lost */
    all_done(m, k, p->how);
    for (int u = 0; u < nu; u++)
        seed[undoable[u]] = true;
    if (!undo(m, k, seed, p->how, p->mark)) /* together they may pin more: one by one */
        for (int u = 0; u < nu; u++) {
            memset(seed, 0, (size_t)k * sizeof(bool));
            seed[undoable[u]] = true;
            undo(m, k, seed, p->how, p->mark);
        }
    lose_data(m, k, -1, 0, p->how);
    try_state(p, "every unsynced change lost");
    memset(seed, 0, (size_t)k * sizeof(bool));
    for (int u = 0; u < nu; u++) {
        int i = undoable[u];
        seed[i] = true;
        for (int data = 0; data < 2; data++) {
            all_done(m, k, p->how);
            undo(m, k, seed, p->how, p->mark);
            if (data)
                lose_data(m, k, -1, 0, p->how);
            try_state(p, "undone: %s (and what depends on it)%s", op_label(m, i),
                      data ? "; all unsynced data lost" : "");
        }
        seed[i] = false;
        /* a suffix: this and every later undoable change */
        all_done(m, k, p->how);
        for (int v = u; v < nu; v++)
            seed[undoable[v]] = true;
        if (undo(m, k, seed, p->how, p->mark))
            try_state(p, "undone: %s and every later directory change", op_label(m, i));
        memset(seed, 0, (size_t)k * sizeof(bool));
    }
    /* each file's unsynced data */
    for (int x = 0; x < m->n; x++) {
        bool has = false;
        for (int i = 0; i < k && !has; i++)
            has = is_data(&m->ops[i]) && unsynced(&m->ops[i], k) && m->ops[i].ino == x;
        if (!has)
            continue;
        static const char *variants[] = {"lost", "cut to half", "zero-filled"};
        const char *name = NULL;
        for (int i = k; i-- > 0 && name == NULL;)
            if (is_data(&m->ops[i]) && m->ops[i].ino == x)
                name = op_label(m, i);
        for (int v = 0; v < 3; v++) {
            all_done(m, k, p->how);
            lose_data(m, k, x, v, p->how);
            try_state(p, "unsynced data %s: %s", variants[v], name);
        }
    }
    /* make torture: every subset of the undoable changes */
    if (full && nu > 12)
        total_capped++;
    if (full && nu > 0 && nu <= 12) {
        for (unsigned bits = 1; bits < (1u << nu); bits++) {
            memset(seed, 0, (size_t)k * sizeof(bool));
            for (int u = 0; u < nu; u++)
                seed[undoable[u]] = (bits >> u) & 1;
            for (int data = 0; data < 2; data++) {
                all_done(m, k, p->how);
                if (!undo(m, k, seed, p->how, p->mark))
                    break;
                if (data)
                    lose_data(m, k, -1, 0, p->how);
                try_state(p, "subset %#x of the %d undoable directory changes undone%s",
                          bits, nu, data ? "; all unsynced data lost" : "");
            }
        }
    }
    free(seed);
    free(undoable);
}

static void ordered_states(point *p)
{
    const model *m = p->m;
    int b = 0;
    for (int i = 0; i < p->k; i++)
        if (is_sync(&m->ops[i]))
            b = i + 1;
    for (int j = b; j <= p->k; j++) {
        for (int i = 0; i < p->k; i++)
            p->how[i] = i < j && !is_sync(&m->ops[i]) ? -1 : 0;
        try_state(p, "journal committed up to call %d of %d (calls since the last sync: %d)",
                  j, p->k, p->k - b);
    }
}

/* Records scenario sc into m and e; false (with a TAP line) on failure. */
static bool record(const scenario *sc, model *m, expect *e)
{
    image_store_t st;
    size_t n = scenario_len(sc);
    memset(m, 0, sizeof(*m));
    memset(e, 0, sizeof(*e));
    e->nsteps = n;
    sc->setup(recdir);
    if (!expect_capture(e, 0, recdir))
        return check(false, "%s: a fresh open of the store before it", sc->name);
    if (new_image_store(false, false, recdir, &st) != 0) {
        check(false, "%s: open: %s", sc->name, image_store_error_message(&st));
        image_store_close(&st);
        return false;
    }
    m->root = recdir;
    new_inode(m, 'd', 0700);
    struct stat rst;
    stat(recdir, &rst);
    map_real(m, (long long)rst.st_ino, 0);
    scan(m, recdir, 0);
    static int logs;
    snprintf(logpath, sizeof(logpath), "%s/log.%d", workdir, ++logs); /* the shim keeps a log open by name */
    setenv("IMAGESTORE_RECORD_PATH", recdir, 1);
    setenv("IMAGESTORE_RECORD", logpath, 1);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int rc = sc->steps[i].fn(&st, recdir);
        if (rc != 0) {
            ok = check(false, "%s: step %s succeeds (%s)", sc->name, sc->steps[i].name,
                       image_store_error_message(&st));
            break;
        }
        char ack[32];
        int len = snprintf(ack, sizeof(ack), "ack %zu\n", i + 1);
        if (write(logfd, ack, (size_t)len) != len)
            ok = false;
        unsetenv("IMAGESTORE_RECORD");
        ok = ok && expect_capture(e, i + 1, recdir);
        setenv("IMAGESTORE_RECORD", logpath, 1);
    }
    unsetenv("IMAGESTORE_RECORD");
    unsetenv("IMAGESTORE_RECORD_PATH");
    close(logfd);
    image_store_close(&st);
    if (!ok)
        return false;
    sbuf err = {0};
    if (!parse_log(m, logpath, &err)) {
        check(false, "%s: the log reads back: %s", sc->name, err.s);
        free(err.s);
        return false;
    }
    analyse(m);
    return true;
}

static void model_free(model *m)
{
    for (int i = 0; i < m->nops; i++) {
        op *o = &m->ops[i];
        free(o->what);
        free(o->n1);
        free(o->n2);
        free(o->data);
        free(o->hard);
        free(o->soft);
    }
    free(m->ops);
    for (int i = 0; i < m->n; i++) {
        if (m->file0[i].owned)
            free(m->file0[i].data);
        free(m->dir0[i].e);
    }
    free(m->type);
    free(m->mode);
    free(m->file0);
    free(m->dir0);
    free(m->real);
    free(m->mapped);
}

/* Names the scan strdup'ed, freed apart (the ops share none of them). */
static void scan_names_free(model *m, int upto)
{
    for (int i = 0; i < upto; i++)
        for (size_t j = 0; j < m->dir0[i].n; j++)
            free((char *)(uintptr_t)m->dir0[i].e[j].name);
}

static void run_scenario(const scenario *sc, const char *only_mode)
{
    model m;
    expect e;
    clock_t t0 = clock();
    if (!record(sc, &m, &e)) {
        expect_free(&e);
        return;
    }
    int syncs = 0, renames = 0;
    for (int i = 0; i < m.nops; i++) {
        syncs += is_sync(&m.ops[i]);
        renames += m.ops[i].kind == K_RENAME;
    }
    diag("%s: %d recorded calls (%d syncs, %d renames), %zu steps", sc->name, m.nops, syncs, renames,
         e.nsteps);
    if (getenv("IMAGESTORE_POWERLOSS_VERBOSE") != NULL)
        for (int i = 0; i < m.nops; i++)
            diag("  call %d (acked %zu, durable at %d): %s", i + 1, m.ops[i].acked,
                 m.ops[i].durable_at == INT_MAX ? -1 : m.ops[i].durable_at + 1, m.ops[i].what);
    check(e.nsteps == m.nacks, "%s: every step acknowledged in the log (%zu of %zu)", sc->name,
          m.nacks, e.nsteps);
    static const char *modes[] = {"worst", "ordered"};
    for (int mode = 0; mode < 2; mode++) {
        if (only_mode != NULL && strcmp(only_mode, modes[mode]) != 0)
            continue;
        seen s = {0};
        size_t states = 0, tried = 0;
        for (int k = 0; k <= m.nops; k++) {
            point p = {&m, &e, k, &s, malloc(((size_t)k + 1) * sizeof(int)),
                       malloc(((size_t)k + 1) * sizeof(bool)), 0, 0, false, {0}};
            if (mode == 0)
                worst_states(&p);
            else
                ordered_states(&p);
            total_points++;
            states += p.added;
            tried += p.tried;
            const char *after = k == 0 ? "before the first call" : op_label(&m, k - 1);
            size_t acked = k < m.nops ? m.ops[k].acked : m.nacks;
            check(!p.failed, "%s [%s] crash after call %d/%d (%s), %zu acknowledged: %zu new states",
                  sc->name, modes[mode], k, m.nops, after, acked, p.added);
            if (p.failed)
                diag("%s", p.first_failure.s);
            free(p.first_failure.s);
            free(p.how);
            free(p.mark);
        }
        diag("%s [%s]: %d crash points, %zu distinct states judged (%zu built)", sc->name,
             modes[mode], m.nops + 1, states, tried);
        free(s.h);
    }
    diag("%s: %.1f s of CPU", sc->name, (double)(clock() - t0) / CLOCKS_PER_SEC);
    scan_names_free(&m, m.n);
    model_free(&m);
    expect_free(&e);
}

int main(int argc, char **argv)
{
    (void)argc;
    int status = crash_main_start(argv, "powerloss", &full, workdir, sizeof(workdir));
    if (status != 0)
        return status;
    const char *only = getenv("IMAGESTORE_POWERLOSS_ONLY");
    const char *only_mode = getenv("IMAGESTORE_POWERLOSS_MODE");
    snprintf(recdir, sizeof(recdir), "%s/rec", workdir);
    snprintf(statedir, sizeof(statedir), "%s/state", workdir);
    diag("power-loss states in %s (%s enumeration)", workdir, full ? "full" : "bounded");
    time_t start = time(NULL);
    for (size_t i = 0; i < NSCENARIOS; i++)
        if (only == NULL || strcmp(only, scenarios[i].name) == 0)
            run_scenario(&scenarios[i], only_mode);
    rm_rf(workdir);
    if (full)
        diag("%zu crash points had more than 12 undoable directory changes: the principled "
             "subset only there", total_capped);
    diag("%zu crash points, %zu distinct crash states judged, %ld s", total_points, total_states,
         (long)(time(NULL) - start));
    return tap_done();
}
