/*
 * Fault injection for tests: an LD_PRELOAD shim that makes chosen calls of
 * a filesystem function fail, as a full disk or a broken one would, kills
 * the process at a chosen call, as a crash would, and records what a
 * process does to a directory tree, so that a test can work out every state
 * a power loss could leave (spec/c/powerloss_test.c).
 *
 *   IMAGESTORE_FAULT=<call>:<n>:<what>       the nth such call fails
 *   IMAGESTORE_FAULT=<call>:every:<what>     every such call fails
 *     call  write      write(2) (not on fds 0-2)
 *           pwrite     pwrite, pwrite64
 *           fdatasync | fsync | syncfs
 *           sync       any of those three (one count for all of them)
 *           rename     renameat, renameat2
 *           mkdir      mkdirat
 *           link       linkat
 *           unlink     unlinkat (both files and, with AT_REMOVEDIR,
 *                      directories), unlink, rmdir
 *           openat2    SYS_openat2 through syscall(2), as the store opens
 *                      files below its directory; "open" is the same (its
 *                      old name)
 *           openat     the libc openat function
 *           read       read, pread, pread64
 *           getdents   readdir, readdir64: returns NULL with errno set, as
 *                      a failing getdents64 makes it
 *           fstat      fstat
 *           stat       stat, lstat, fstatat
 *           change     every call above that changes the disk: write,
 *                      pwrite, the syncs, rename, mkdir, link, unlink, and
 *                      openat2/openat with O_CREAT or O_TRUNC (one count)
 *     n     which call fails, counted from when the variables took their
 *           values (1 is the first)
 *     what  an errno name (ENOSPC, EIO, EACCES, EROFS, ENOSYS, ELOOP, ...;
 *           an unknown name is EIO), or "short": write stores half of what
 *           it was given, then ENOSPC, or
 *           KILL       SIGKILL before the call: it never happens
 *           KILLAFTER  the call happens, then SIGKILL: the caller never
 *                      learns its result
 *
 *   IMAGESTORE_FAULT_PATH=<substring>
 *     only calls on a path containing it count and fail. The path is the
 *     absolute one: of the fd (through /proc/self/fd) for write, read,
 *     fstat, fsyncs and readdir; of dirfd + name for the *at calls (rename
 *     and link: either name).
 *
 * The variables are read at every call, so a test process can change them
 * as it goes; a new value of either starts the count again.
 * IMAGESTORE_FAULT_HIT is set to "1" once a fault has fired.
 *
 * Recording:
 *
 *   IMAGESTORE_RECORD=<log file>        append one line per call that
 *                                       succeeded and changed the disk or
 *                                       made it durable
 *   IMAGESTORE_RECORD_PATH=<directory>  only calls on it or below it (the
 *                                       absolute path, as for
 *                                       IMAGESTORE_FAULT_PATH; unset: all)
 *
 * Lines (fields separated by one space; names and paths %XX-escaped, so
 * that none holds a space; ino is st_ino, pino that of the parent
 * directory the name is in; the path, last, is for people):
 *   write <ino> <offset> <len> <hex bytes> <path>        write, pwrite
 *   trunc <ino> <len> <path>                            O_TRUNC, ftruncate
 *   fsync <ino> <path> | fdatasync <ino> <path> | syncfs <ino> <path>
 *   create <pino> <name> <ino> <path>                   a new regular file
 *   mkdir <pino> <name> <ino> <path>
 *   rename <spino> <sname> <dpino> <dname> <flags> <sino> <dino> <path> <path>
 *                 flags as renameat2's (1 NOREPLACE, 2 EXCHANGE); dino is
 *                 what the destination held before (0: nothing)
 *   link <spino> <sname> <dpino> <dname> <ino> <path> <path>
 *   unlink <pino> <name> <ino> <path> | rmdir <pino> <name> <ino> <path>
 * A test may append its own lines (say, "ack 3") between calls: the log is
 * opened O_APPEND and each line is written with one write(2). The log stays
 * open while the variable names it: a new log needs a new name.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

static char armed[512]; /* the values the counter belongs to */
static long counter;

static int errno_of(const char *name)
{
    for (int e = 1; e < 200; e++) {
        const char *n = strerrorname_np(e);
        if (n != NULL && strcmp(n, name) == 0)
            return e;
    }
    return EIO;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

/* Where a call works: an fd, or dirfd + name. */
typedef struct where {
    int fd;           /* >= 0: this fd; else dirfd + name */
    int dirfd;
    const char *name;
} where;

#define AT_FD(f) (&(where){(f), -1, NULL})
#define AT_NAME(d, n) (&(where){-1, (d), (n)})

static bool fd_path(int fd, char *out, size_t size)
{
    char link[64];
    if (fd == AT_FDCWD)
        return getcwd(out, size) != NULL;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, size - 1);
    if (n < 0)
        return false;
    out[n] = '\0';
    return true;
}

/* The absolute path a call works on (size >= 2 * PATH_MAX). */
static bool where_path(const where *w, char *path, size_t size)
{
    if (w == NULL)
        return false;
    if (w->fd >= 0)
        return fd_path(w->fd, path, size);
    if (w->name == NULL)
        return false;
    if (w->name[0] == '/') {
        snprintf(path, size, "%s", w->name);
    } else {
        if (!fd_path(w->dirfd, path, PATH_MAX))
            path[0] = '\0';
        size_t n = strlen(path);
        snprintf(path + n, size - n, "/%s", w->name);
    }
    return true;
}

static bool path_matches(const where *w, const char *filter)
{
    char path[2 * PATH_MAX];
    if (!where_path(w, path, sizeof(path)))
        return false;
    return strstr(path, filter) != NULL;
}

/* What fault() tells a wrapper. */
#define GO 0           /* go ahead */
#define FAIL (-1)      /* fail with errno set */
#define SHORT 1        /* write: store half */
#define KILL_AFTER 2   /* make the call, then die */

/* Calls that change the disk also count as "change". */
#define CHANGES true
#define READS false

/* alias: a second name for the call, or NULL. */
static int fault(const char *call, const char *alias, bool changes, const where *w1,
                 const where *w2)
{
    const char *spec = getenv("IMAGESTORE_FAULT");
    if (spec == NULL || spec[0] == '\0')
        return GO;
    const char *filter = getenv("IMAGESTORE_FAULT_PATH");
    if (filter != NULL && filter[0] == '\0')
        filter = NULL;
    char now[sizeof(armed)];
    snprintf(now, sizeof(now), "%s\n%s", spec, filter ? filter : "");
    if (strcmp(now, armed) != 0) { /* a new fault: start counting again */
        memcpy(armed, now, sizeof(armed));
        counter = 0;
    }
    size_t n = strcspn(spec, ":");
    bool named = (strlen(call) == n && strncmp(spec, call, n) == 0) ||
                 (alias != NULL && strlen(alias) == n && strncmp(spec, alias, n) == 0) ||
                 (changes && n == 6 && strncmp(spec, "change", 6) == 0);
    if (!named || spec[n] != ':')
        return GO;
    if (filter != NULL && !path_matches(w1, filter) && !path_matches(w2, filter))
        return GO;
    const char *rest = spec + n + 1;
    const char *what = strchr(rest, ':');
    if (what == NULL)
        return GO;
    if (strncmp(rest, "every:", 6) != 0 &&
        __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST) != strtol(rest, NULL, 10))
        return GO;
    setenv("IMAGESTORE_FAULT_HIT", "1", 1);
    if (strcmp(what + 1, "KILL") == 0)
        raise(SIGKILL);
    if (strcmp(what + 1, "KILLAFTER") == 0)
        return KILL_AFTER;
    if (strcmp(what + 1, "short") == 0) {
        if (strcmp(call, "write") == 0)
            return SHORT;
        errno = ENOSPC; /* elsewhere: the disk is full */
        return FAIL;
    }
    errno = errno_of(what + 1);
    return FAIL;
}

/* After the real call, for KILLAFTER. */
static void after(int f)
{
    if (f == KILL_AFTER)
        raise(SIGKILL);
}

/* ---- recording ---- */

static int log_fd = -1;
static char log_name[PATH_MAX];

/* The log to record into, or -1 when not recording. */
static int record_log(void)
{
    const char *name = getenv("IMAGESTORE_RECORD");
    if (name == NULL || name[0] == '\0')
        return -1;
    if (log_fd >= 0 && strcmp(name, log_name) == 0)
        return log_fd;
    if (log_fd >= 0)
        close(log_fd);
    snprintf(log_name, sizeof(log_name), "%s", name);
    log_fd = REAL("open", int (*)(const char *, int, ...))(
        name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    return log_fd;
}

/* Whether the absolute path is one to record. */
static bool record_wanted(const char *path)
{
    if (record_log() < 0)
        return false;
    const char *prefix = getenv("IMAGESTORE_RECORD_PATH");
    if (prefix == NULL || prefix[0] == '\0')
        return strcmp(path, log_name) != 0;
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* A growing line. */
typedef struct line {
    char *s;
    size_t len, cap;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (l->len + n + 2 > l->cap) {
        size_t cap = (l->len + n + 2) * 2;
        char *grown = realloc(l->s, cap);
        if (grown == NULL)
            abort(); /* a test's shim: a log with a hole would describe another run */
        l->s = grown;
        l->cap = cap;
    }
    memcpy(l->s + l->len, s, n);
    l->len += n;
}

static void put_word(line *l, const char *s)
{
    if (l->len > 0)
        put(l, " ", 1);
    put(l, s, strlen(s));
}

/* A name or path, with every byte outside [A-Za-z0-9._=+/-] as %XX. */
static void put_escaped(line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (l->len > 0)
        put(l, " ", 1);
    if (s[0] == '\0')
        put(l, "%00", 3); /* never empty: one word */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("._=+/-", *p) != NULL) {
            put(l, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            put(l, e, 3);
        }
    }
}

static void put_num(line *l, long long v)
{
    char b[32];
    snprintf(b, sizeof(b), "%lld", v);
    put_word(l, b);
}

static void put_hex(line *l, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    char chunk[512];
    put_word(l, "");
    if (len == 0)
        put(l, "-", 1);
    while (len > 0) {
        size_t n = len > sizeof(chunk) / 2 ? sizeof(chunk) / 2 : len;
        for (size_t i = 0; i < n; i++) {
            chunk[2 * i] = hex[p[i] >> 4];
            chunk[2 * i + 1] = hex[p[i] & 15];
        }
        put(l, chunk, 2 * n);
        p += n;
        len -= n;
    }
}

static void emit(line *l)
{
    if (l->s != NULL) {
        l->s[l->len++] = '\n';
        ssize_t (*real_write)(int, const void *, size_t) =
            REAL("write", ssize_t (*)(int, const void *, size_t));
        int fd = record_log();
        if (fd >= 0 && real_write(fd, l->s, l->len) != (ssize_t)l->len)
            abort(); /* a log with a hole would describe another run */
    }
    free(l->s);
}

static long long ino_of_fd(int fd)
{
    struct stat st;
    if (REAL("fstat", int (*)(int, struct stat *))(fd, &st) != 0)
        return 0;
    return (long long)st.st_ino;
}

static long long ino_of_path(const char *path)
{
    struct stat st;
    if (REAL("lstat", int (*)(const char *, struct stat *))(path, &st) != 0)
        return 0;
    return (long long)st.st_ino;
}

/* An entry a call names: its absolute path, parent's inode, leaf name and
 * (when it exists) inode, taken before the call. */
typedef struct entry {
    bool wanted;
    char path[2 * PATH_MAX];
    long long pino, ino;
    const char *leaf; /* into path */
} entry;

static void entry_at(entry *e, int dirfd, const char *name)
{
    e->wanted = false;
    if (record_log() < 0 || !where_path(AT_NAME(dirfd, name), e->path, sizeof(e->path)))
        return;
    size_t n = strlen(e->path);
    while (n > 1 && e->path[n - 1] == '/') /* "dir/" names dir */
        e->path[--n] = '\0';
    if (!record_wanted(e->path))
        return;
    e->wanted = true;
    e->ino = ino_of_path(e->path);
    char *slash = strrchr(e->path, '/');
    e->leaf = slash + 1;
    *slash = '\0';
    e->pino = ino_of_path(slash == e->path ? "/" : e->path);
    *slash = '/';
}

/* One line about an fd: "<op> <ino> [<number>] <path>". */
static void record_fd(const char *op, int fd, bool with_number, long long number)
{
    char path[2 * PATH_MAX];
    if (record_log() < 0 || !fd_path(fd, path, sizeof(path)) || !record_wanted(path))
        return;
    line l = {0};
    put_word(&l, op);
    put_num(&l, ino_of_fd(fd));
    if (with_number)
        put_num(&l, number);
    put_escaped(&l, path);
    emit(&l);
}

static void record_write(int fd, off_t at, const void *data, size_t len)
{
    char path[2 * PATH_MAX];
    if (record_log() < 0 || !fd_path(fd, path, sizeof(path)) || !record_wanted(path))
        return;
    line l = {0};
    put_word(&l, "write");
    put_num(&l, ino_of_fd(fd));
    put_num(&l, (long long)at);
    put_num(&l, (long long)len);
    put_hex(&l, data, len);
    put_escaped(&l, path);
    emit(&l);
}

/* "<op> <pino> <name> <ino> <path>" for the entry e (ino: when known). */
static void record_entry(const char *op, const entry *e, long long ino)
{
    if (!e->wanted)
        return;
    line l = {0};
    put_word(&l, op);
    put_num(&l, e->pino);
    put_escaped(&l, e->leaf);
    put_num(&l, ino);
    put_escaped(&l, e->path);
    emit(&l);
}

/* An entry seen again after the call made it. */
static long long ino_now(const entry *e)
{
    return ino_of_path(e->path);
}

static void record_two(const char *op, const entry *a, const entry *b, bool with_flags,
                       unsigned flags, long long ino1, long long ino2)
{
    if (!a->wanted && !b->wanted)
        return;
    line l = {0};
    put_word(&l, op);
    put_num(&l, a->pino);
    put_escaped(&l, a->leaf);
    put_num(&l, b->pino);
    put_escaped(&l, b->leaf);
    if (with_flags)
        put_num(&l, flags);
    put_num(&l, ino1);
    if (with_flags)
        put_num(&l, ino2);
    put_escaped(&l, a->path);
    put_escaped(&l, b->path);
    emit(&l);
}

/* An open that may create or truncate: what was there before, then what the
 * call did. */
static void record_open_before(entry *e, int dirfd, const char *name, int flags)
{
    e->wanted = false;
    if (flags & (O_CREAT | O_TRUNC))
        entry_at(e, dirfd, name);
}

static void record_open_after(const entry *e, int fd, int flags)
{
    if (!e->wanted || fd < 0)
        return;
    if (e->ino == 0) {
        record_entry("create", e, ino_of_fd(fd));
    } else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
        line l = {0};
        put_word(&l, "trunc");
        put_num(&l, ino_of_fd(fd));
        put_num(&l, 0);
        put_escaped(&l, e->path);
        emit(&l);
    }
}

/* ---- the calls ---- */

ssize_t write(int fd, const void *buf, size_t len)
{
    static bool shorted;
    ssize_t (*real)(int, const void *, size_t) = REAL("write", ssize_t (*)(int, const void *, size_t));
    if (fd <= 2) /* the test's own output is not the store's */
        return real(fd, buf, len);
    int f = fault("write", NULL, CHANGES, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    if (f == SHORT && len > 1) {
        shorted = true;
        len /= 2;
    } else if (shorted) { /* the rest of a short write finds the disk full */
        shorted = false;
        errno = ENOSPC;
        return -1;
    }
    off_t at = record_log() >= 0 ? lseek(fd, 0, SEEK_CUR) : -1;
    ssize_t n = real(fd, buf, len);
    if (n > 0 && at >= 0) {
        int saved = errno;
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_APPEND))
            at = lseek(fd, 0, SEEK_CUR) - n;
        record_write(fd, at, buf, (size_t)n);
        errno = saved;
    }
    after(f);
    return n;
}

static ssize_t do_pwrite(const char *real_name, int fd, const void *buf, size_t len, off_t at)
{
    int f = fault("pwrite", NULL, CHANGES, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    ssize_t n = REAL(real_name, ssize_t (*)(int, const void *, size_t, off_t))(fd, buf, len, at);
    if (n > 0) {
        int saved = errno;
        record_write(fd, at, buf, (size_t)n);
        errno = saved;
    }
    after(f);
    return n;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t at)
{
    return do_pwrite("pwrite", fd, buf, len, at);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t at)
{
    return do_pwrite("pwrite64", fd, buf, len, at);
}

int ftruncate(int fd, off_t len)
{
    int rc = REAL("ftruncate", int (*)(int, off_t))(fd, len);
    if (rc == 0)
        record_fd("trunc", fd, true, (long long)len);
    return rc;
}

ssize_t read(int fd, void *buf, size_t len)
{
    int f = fault("read", NULL, READS, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    ssize_t n = REAL("read", ssize_t (*)(int, void *, size_t))(fd, buf, len);
    after(f);
    return n;
}

ssize_t pread(int fd, void *buf, size_t len, off_t at)
{
    int f = fault("read", NULL, READS, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    ssize_t n = REAL("pread", ssize_t (*)(int, void *, size_t, off_t))(fd, buf, len, at);
    after(f);
    return n;
}

ssize_t pread64(int fd, void *buf, size_t len, off_t at)
{
    int f = fault("read", NULL, READS, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    ssize_t n = REAL("pread64", ssize_t (*)(int, void *, size_t, off_t))(fd, buf, len, at);
    after(f);
    return n;
}

/* fsync, fdatasync, syncfs: also counted together as "sync". */
static int do_sync(const char *name, int fd)
{
    int f = fault(name, "sync", CHANGES, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    int rc = REAL(name, int (*)(int))(fd);
    if (rc == 0) {
        int saved = errno;
        record_fd(name, fd, false, 0);
        errno = saved;
    }
    after(f);
    return rc;
}

int fdatasync(int fd) { return do_sync("fdatasync", fd); }
int fsync(int fd) { return do_sync("fsync", fd); }
int syncfs(int fd) { return do_sync("syncfs", fd); }

static int do_rename(int a, const char *from, int b, const char *to, unsigned flags, bool two)
{
    int f = fault("rename", NULL, CHANGES, AT_NAME(a, from), AT_NAME(b, to));
    if (f == FAIL)
        return -1;
    entry src, dst;
    entry_at(&src, a, from);
    entry_at(&dst, b, to);
    int rc = two ? REAL("renameat2", int (*)(int, const char *, int, const char *, unsigned))(
                       a, from, b, to, flags)
                 : REAL("renameat", int (*)(int, const char *, int, const char *))(a, from, b, to);
    if (rc == 0) {
        int saved = errno;
        record_two("rename", &src, &dst, true, flags, src.ino, dst.ino);
        errno = saved;
    }
    after(f);
    return rc;
}

int renameat(int a, const char *from, int b, const char *to)
{
    return do_rename(a, from, b, to, 0, false);
}

int renameat2(int a, const char *from, int b, const char *to, unsigned flags)
{
    return do_rename(a, from, b, to, flags, true);
}

/* rename(2): recorded, not counted (the store never calls it). */
int rename(const char *from, const char *to)
{
    entry src, dst;
    entry_at(&src, AT_FDCWD, from);
    entry_at(&dst, AT_FDCWD, to);
    int rc = REAL("rename", int (*)(const char *, const char *))(from, to);
    if (rc == 0) {
        int saved = errno;
        record_two("rename", &src, &dst, true, 0, src.ino, dst.ino);
        errno = saved;
    }
    return rc;
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    int f = fault("mkdir", NULL, CHANGES, AT_NAME(dirfd, path), NULL);
    if (f == FAIL)
        return -1;
    entry e;
    entry_at(&e, dirfd, path);
    int rc = REAL("mkdirat", int (*)(int, const char *, mode_t))(dirfd, path, mode);
    if (rc == 0) {
        int saved = errno;
        record_entry("mkdir", &e, ino_now(&e));
        errno = saved;
    }
    after(f);
    return rc;
}

/* mkdir(2): recorded, not counted (the store calls it only to create its
 * directory, at open). */
int mkdir(const char *path, mode_t mode)
{
    entry e;
    entry_at(&e, AT_FDCWD, path);
    int rc = REAL("mkdir", int (*)(const char *, mode_t))(path, mode);
    if (rc == 0) {
        int saved = errno;
        record_entry("mkdir", &e, ino_now(&e));
        errno = saved;
    }
    return rc;
}

int linkat(int a, const char *from, int b, const char *to, int flags)
{
    int f = fault("link", NULL, CHANGES, AT_NAME(a, from), AT_NAME(b, to));
    if (f == FAIL)
        return -1;
    entry src, dst;
    entry_at(&src, a, from);
    entry_at(&dst, b, to);
    int rc = REAL("linkat", int (*)(int, const char *, int, const char *, int))(a, from, b, to, flags);
    if (rc == 0) {
        int saved = errno;
        record_two("link", &src, &dst, false, 0, src.ino, 0);
        errno = saved;
    }
    after(f);
    return rc;
}

/* unlinkat, unlink, rmdir: which is 0, 1, 2. */
static int do_unlink(int which, int dirfd, const char *path, int flags)
{
    int f = fault("unlink", NULL, CHANGES, AT_NAME(dirfd, path), NULL);
    if (f == FAIL)
        return -1;
    entry e;
    entry_at(&e, dirfd, path);
    int rc = which == 0 ? REAL("unlinkat", int (*)(int, const char *, int))(dirfd, path, flags)
             : which == 1 ? REAL("unlink", int (*)(const char *))(path)
                          : REAL("rmdir", int (*)(const char *))(path);
    if (rc == 0) {
        int saved = errno;
        record_entry(flags & AT_REMOVEDIR ? "rmdir" : "unlink", &e, e.ino);
        errno = saved;
    }
    after(f);
    return rc;
}

int unlinkat(int dirfd, const char *path, int flags) { return do_unlink(0, dirfd, path, flags); }
int unlink(const char *path) { return do_unlink(1, AT_FDCWD, path, 0); }
int rmdir(const char *path) { return do_unlink(2, AT_FDCWD, path, AT_REMOVEDIR); }

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, unsigned);
        va_end(ap);
    }
    int f = fault("openat", NULL, (flags & (O_CREAT | O_TRUNC)) != 0, AT_NAME(dirfd, path), NULL);
    if (f == FAIL)
        return -1;
    entry e;
    record_open_before(&e, dirfd, path, flags);
    int fd = REAL("openat", int (*)(int, const char *, int, ...))(dirfd, path, flags, mode);
    if (fd >= 0) {
        int saved = errno;
        record_open_after(&e, fd, flags);
        errno = saved;
    }
    after(f);
    return fd;
}

struct dirent *readdir(DIR *d)
{
    int f = fault("getdents", NULL, READS, AT_FD(dirfd(d)), NULL);
    if (f == FAIL)
        return NULL;
    struct dirent *e = REAL("readdir", struct dirent *(*)(DIR *))(d);
    after(f);
    return e;
}

struct dirent64 *readdir64(DIR *d)
{
    int f = fault("getdents", NULL, READS, AT_FD(dirfd(d)), NULL);
    if (f == FAIL)
        return NULL;
    struct dirent64 *e = REAL("readdir64", struct dirent64 *(*)(DIR *))(d);
    after(f);
    return e;
}

int fstat(int fd, struct stat *st)
{
    int f = fault("fstat", NULL, READS, AT_FD(fd), NULL);
    if (f == FAIL)
        return -1;
    int rc = REAL("fstat", int (*)(int, struct stat *))(fd, st);
    after(f);
    return rc;
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    int f = fault("stat", NULL, READS, AT_NAME(dirfd, path), NULL);
    if (f == FAIL)
        return -1;
    int rc = REAL("fstatat", int (*)(int, const char *, struct stat *, int))(dirfd, path, st, flags);
    after(f);
    return rc;
}

int stat(const char *path, struct stat *st)
{
    int f = fault("stat", NULL, READS, AT_NAME(AT_FDCWD, path), NULL);
    if (f == FAIL)
        return -1;
    int rc = REAL("stat", int (*)(const char *, struct stat *))(path, st);
    after(f);
    return rc;
}

int lstat(const char *path, struct stat *st)
{
    int f = fault("stat", NULL, READS, AT_NAME(AT_FDCWD, path), NULL);
    if (f == FAIL)
        return -1;
    int rc = REAL("lstat", int (*)(const char *, struct stat *))(path, st);
    after(f);
    return rc;
}

/* The store opens files with openat2 through syscall(2). */
long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    long (*real)(long, ...) = REAL("syscall", long (*)(long, ...));
    if (number != SYS_openat2)
        return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    const struct open_how *how = (const struct open_how *)a[2];
    int flags = how != NULL ? (int)how->flags : 0;
    int f = fault("openat2", "open", (flags & (O_CREAT | O_TRUNC)) != 0,
                  AT_NAME((int)a[0], (const char *)a[1]), NULL);
    if (f == FAIL)
        return -1;
    entry e;
    record_open_before(&e, (int)a[0], (const char *)a[1], flags);
    long fd = real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (fd >= 0) {
        int saved = errno;
        record_open_after(&e, (int)fd, flags);
        errno = saved;
    }
    after(f);
    return fd;
}
