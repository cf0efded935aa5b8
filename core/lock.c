#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "image_store.h"

#define LOCK_MAGIC "imgstlk1"

/* The file: a header, then the ring. Same layout as when it was mapped. */
struct lock_entry {
    uint64_t generation;
    char id[64]; /* all zero: every image */
};

struct lock_head {
    char magic[8];
    uint64_t generation;
    uint64_t ring_size;
    uint64_t owner_pid; /* the LOCK_EX holder, 0: none (or not saying) */
    uint64_t owner_tid;
    uint64_t owner_pidns;
    uint64_t reserved[2];
};

/* What the fast path reads: magic, generation, ring_size. */
#define HEAD_CHECK offsetof(struct lock_head, owner_pid)
#define OWNER_AT offsetof(struct lock_head, owner_pid)
#define RING_AT sizeof(struct lock_head)
#define FILE_SIZE (RING_AT + LOCK_RING * sizeof(struct lock_entry))
#define ENTRY_AT(g) ((off_t)(RING_AT + ((g) % LOCK_RING) * sizeof(struct lock_entry)))

_Static_assert(sizeof(struct lock_head) == 64, "header layout");
_Static_assert(sizeof(struct lock_entry) == 72, "ring layout");

static const char DEGRADED_HEADER[] =
    "the lock file's header is not valid (zero-filled, truncated or overwritten) and a "
    "read-only store cannot repair it: changes by other processes are seen only once a "
    "writable store has, or at load()";
static const char DEGRADED_ACCESS[] =
    "the lock file cannot be opened (permission denied): this store takes no lock, and "
    "changes by other processes are seen only at load()";

static void set_degraded(store_lock *l, const char *why)
{
    l->degraded = why != NULL;
    snprintf(l->problem, sizeof(l->problem), "%s", why ? why : "");
}

static void lock_path(char *out, size_t size, const char *dir)
{
    snprintf(out, size, "%s/%s", dir, LOCK_FILE);
}

static int lock_fail(image_error *err, int errnum, const char *call, const char *dir)
{
    char path[4200];
    lock_path(path, sizeof(path), dir);
    return error_sys(err, errnum, call, path);
}

static int not_regular(image_error *err, mode_t mode, const char *dir)
{
    return error_set(err, IMAGE_STORE_ECORRUPT, "lock file %s/%s is not a regular file (%s)", dir,
                     LOCK_FILE, fs_type_name(mode));
}

static ssize_t pread_full(int fd, void *buf, size_t len, off_t at)
{
    ssize_t n;
    while ((n = pread(fd, buf, len, at)) < 0 && errno == EINTR)
        ;
    return n;
}

static int pwrite_full(int fd, const void *buf, size_t len, off_t at)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

static bool head_valid(const struct lock_head *h)
{
    return memcmp(h->magic, LOCK_MAGIC, 8) == 0 && h->ring_size == LOCK_RING;
}

/* 1: a valid header in *h; 0: none (short, zero-filled, foreign); -1: errno.
 * With st: the file's stat too, and one shorter than header + ring is not
 * valid either. */
static int read_head(int fd, struct lock_head *h, struct stat *st)
{
    if (st != NULL && fstat(fd, st) != 0)
        return -1;
    ssize_t n = pread_full(fd, h, sizeof(*h), 0);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(*h) || !head_valid(h))
        return 0;
    return st == NULL || (size_t)st->st_size >= FILE_SIZE;
}

/* A start no store can have seen: 48 random bits, or the clock's. */
static uint64_t fresh_generation(void)
{
    uint64_t r;
    if (fs_random_bytes(&r, sizeof(r)) != 0) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        r = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
    }
    r &= ((uint64_t)1 << 48) - 1;
    return r != 0 ? r : 1;
}

/* Writes a fresh header and ring ("everything changed" at the new
 * generation) over the whole file, durably; needs LOCK_EX. Never shrinks
 * the file: an older reader may still have it mapped. */
static int stamp(store_lock *l, const char *dir, image_error *err)
{
    char *page = calloc(1, FILE_SIZE);
    if (page == NULL)
        return lock_fail(err, ENOMEM, "write", dir);
    struct lock_head *h = (struct lock_head *)page;
    uint64_t g = fresh_generation();
    memcpy(h->magic, LOCK_MAGIC, 8);
    h->generation = g;
    h->ring_size = LOCK_RING;
    struct lock_entry *e = (struct lock_entry *)(page + ENTRY_AT(g));
    e->generation = g; /* id all zero: every image */
    int rc = 0;
    if (pwrite_full(l->fd, page, FILE_SIZE, 0) != 0)
        rc = lock_fail(err, errno, "write", dir);
    else if (fsync(l->fd) != 0)
        rc = lock_fail(err, errno, "fsync", dir);
    free(page);
    if (rc == 0)
        l->generation = g;
    return rc;
}

/* This thread, as the owner fields name it. */
static void owner_of_this_thread(const store_lock *l, uint64_t owner[3])
{
    owner[0] = (uint64_t)getpid();
    owner[1] = (uint64_t)gettid();
    owner[2] = l->pidns;
}

static int write_owner(store_lock *l, bool mine)
{
    uint64_t owner[3] = {0, 0, 0};
    if (mine)
        owner_of_this_thread(l, owner);
    return pwrite_full(l->fd, owner, sizeof(owner), OWNER_AT);
}

/* pid and tid numbers repeat across pid namespaces (two containers' pid 1
 * sharing a store): the namespace's inode tells them apart. */
static uint64_t pid_namespace(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The lock is wanted and busy: is it this thread's, through another store?
 * (A store of this thread never holds LOCK_SH across a caller's code, so
 * only an exclusive holder can be.) */
static bool held_by_this_thread(store_lock *l, int op)
{
    if (l->held != 0)
        return false; /* we hold LOCK_SH: nobody holds LOCK_EX */
    if (op == LOCK_EX) {
        int r;
        while ((r = flock(l->fd, LOCK_SH | LOCK_NB)) != 0 && errno == EINTR)
            ;
        if (r == 0) /* only readers: the owner fields are stale; LOCK_EX converts */
            return false;
    }
    uint64_t owner[3], me[3];
    if (pread_full(l->fd, owner, sizeof(owner), OWNER_AT) != (ssize_t)sizeof(owner))
        return false;
    owner_of_this_thread(l, me);
    return memcmp(owner, me, sizeof(me)) == 0;
}

/* flock that never waits for this thread itself. */
static int take(store_lock *l, int op, const char *dir, image_error *err)
{
    int r;
    while ((r = flock(l->fd, op | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (r == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return lock_fail(err, errno, "flock", dir);
    if (held_by_this_thread(l, op)) {
        error_set(err, IMAGE_STORE_ESYS,
                  "flock %s/%s: another store of this thread holds the lock (in a hook or a "
                  "batch); use that store",
                  dir, LOCK_FILE);
        err->sys_errno = EDEADLK;
        return IMAGE_STORE_ESYS;
    }
    while (flock(l->fd, op) != 0) {
        if (errno != EINTR) {
            int saved = errno;
            if (l->held == 0) /* the LOCK_SH probe may have succeeded */
                flock(l->fd, LOCK_UN);
            return lock_fail(err, saved, "flock", dir);
        }
    }
    return 0;
}

/* Under LOCK_EX: stamps the file if its header (or size) is not valid. */
static int repair(store_lock *l, const char *dir, image_error *err)
{
    struct lock_head h;
    struct stat st;
    int v = read_head(l->fd, &h, &st);
    if (v < 0)
        return lock_fail(err, errno, "read", dir);
    if (v == 0) {
        l->taken_at = LOCK_GENERATION_INVALID; /* changed: keep the new mtime */
        return stamp(l, dir, err);
    }
    l->generation = l->taken_at = h.generation;
    l->mtime = st.st_mtim;
    return 0;
}

int lock_open(store_lock *l, int dirfd, const char *dir, bool readonly, image_error *err)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    /* O_NONBLOCK: a FIFO there must not hang the open; O_NOFOLLOW: nor may a
     * symlink lead elsewhere */
    int flags = (readonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
                O_NOCTTY;
    int fd = openat(dirfd, LOCK_FILE, flags, 0600);
    struct stat st;
    if (fd < 0) {
        int saved = errno;
        if (readonly && saved == ENOENT)
            return 0; /* none: no writer has used this store */
        if (readonly && saved == EACCES) {
            set_degraded(l, DEGRADED_ACCESS); /* not ours to read: go without */
            return 0;
        }
        /* ELOOP: a symlink; EISDIR, ENXIO: a directory, a socket */
        if (fstatat(dirfd, LOCK_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
            return not_regular(err, st.st_mode, dir);
        return lock_fail(err, saved, "open", dir);
    }
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return lock_fail(err, saved, "stat", dir);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return not_regular(err, st.st_mode, dir);
    }
    l->fd = fd;
    l->writable = !readonly;
    struct lock_head h;
    l->pidns = pid_namespace();
    int v = read_head(fd, &h, readonly ? NULL : &st);
    if (v < 0) {
        int saved = errno;
        lock_close(l);
        return lock_fail(err, saved, "read", dir);
    }
    if (v == 1)
        return 0;
    if (readonly) {
        set_degraded(l, DEGRADED_HEADER);
        return 0;
    }
    /* New, or broken (a crash between creating and stamping it, someone
     * truncating it): stamp it under the lock, unless someone did first. */
    int rc = take(l, LOCK_EX, dir, err);
    if (rc == 0) {
        rc = repair(l, dir, err);
        flock(fd, LOCK_UN);
    }
    if (rc != 0)
        lock_close(l);
    return rc;
}

void lock_close(store_lock *l)
{
    lock_release(l);
    if (l->fd >= 0)
        close(l->fd); /* drops any flock we hold */
    memset(l, 0, sizeof(*l));
    l->fd = -1;
}

int lock_acquire(store_lock *l, bool exclusive, const char *dir, image_error *err)
{
    int op = exclusive ? LOCK_EX : LOCK_SH;
    if (l->fd < 0 || l->held == op || l->held == LOCK_EX)
        return 0;
    int rc = take(l, op, dir, err);
    if (rc != 0)
        return rc;
    l->held = op;
    if (exclusive) {
        l->taken_at = LOCK_GENERATION_INVALID; /* until repair() has the mtime */
        /* a writer never publishes into a broken file: stamp it first */
        if ((rc = repair(l, dir, err)) == 0 && write_owner(l, true) != 0)
            rc = lock_fail(err, errno, "write", dir);
    } else {
        struct lock_head h;
        int v = read_head(l->fd, &h, NULL);
        if (v < 0)
            rc = lock_fail(err, errno, "read", dir);
        l->generation = v == 1 ? h.generation : LOCK_GENERATION_INVALID;
        if (!l->writable)
            set_degraded(l, v == 1 ? NULL : DEGRADED_HEADER);
    }
    if (rc != 0)
        lock_release(l);
    return rc;
}

void lock_release(store_lock *l)
{
    if (l->fd >= 0 && l->held != 0) {
        if (l->held == LOCK_EX) {
            write_owner(l, false);
            if (l->generation == l->taken_at) /* nothing published: as it was */
                futimens(l->fd, (struct timespec[2]){{0, UTIME_OMIT}, l->mtime});
        }
        flock(l->fd, LOCK_UN);
    }
    l->held = 0;
}

uint64_t lock_generation(const store_lock *l)
{
    if (l->fd < 0)
        return 0;
    if (l->held != 0) /* nobody else can change it now */
        return l->generation;
    struct lock_head h;
    if (pread_full(l->fd, &h, HEAD_CHECK, 0) != (ssize_t)HEAD_CHECK || !head_valid(&h))
        return LOCK_GENERATION_INVALID;
    return h.generation;
}

void lock_publish(store_lock *l, const char *id)
{
    if (l->fd < 0 || !l->writable || l->held != LOCK_EX)
        return;
    uint64_t g = l->generation + 1;
    struct lock_entry e;
    memset(&e, 0, sizeof(e));
    e.generation = g;
    if (id != NULL)
        memcpy(e.id, id, strnlen(id, sizeof(e.id)));
    /* the entry first: a reader that sees g finds it (it reads under LOCK_SH) */
    if (pwrite_full(l->fd, &e, sizeof(e), ENTRY_AT(g)) == 0 &&
        pwrite_full(l->fd, &g, sizeof(g), offsetof(struct lock_head, generation)) == 0)
        l->generation = g;
}

bool lock_change_at(const store_lock *l, uint64_t g, char id[65])
{
    if (l->fd < 0 || g == LOCK_GENERATION_INVALID)
        return false;
    struct lock_entry e;
    if (pread_full(l->fd, &e, sizeof(e), ENTRY_AT(g)) != (ssize_t)sizeof(e) || e.generation != g)
        return false;
    memcpy(id, e.id, 64);
    id[64] = '\0';
    return id[0] != '\0';
}
