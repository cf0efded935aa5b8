/*
 * Fault injection for tests: an LD_PRELOAD shim that makes chosen calls of
 * a filesystem function fail, as a full disk or a broken one would.
 *
 *   IMAGESTORE_FAULT=<call>:<n>:<what>       the nth such call fails
 *   IMAGESTORE_FAULT=<call>:every:<what>     every such call fails
 *     call  write      write(2) (not on fds 0-2)
 *           pwrite     pwrite, pwrite64
 *           fdatasync | fsync | syncfs
 *           rename     renameat, renameat2
 *           mkdir      mkdirat
 *           link       linkat
 *           openat2    SYS_openat2 through syscall(2), as the store opens
 *                      files below its directory; "open" is the same (its
 *                      old name)
 *           openat     the libc openat function
 *           read       read, pread, pread64
 *           getdents   readdir, readdir64: returns NULL with errno set, as
 *                      a failing getdents64 makes it
 *           fstat      fstat
 *           stat       stat, lstat, fstatat
 *     n     which call fails, counted from when the variables took their
 *           values (1 is the first)
 *     what  an errno name (ENOSPC, EIO, EACCES, EROFS, ENOSYS, ELOOP, ...;
 *           an unknown name is EIO), or "short": write stores half of what
 *           it was given, then ENOSPC
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
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static bool path_matches(const where *w, const char *filter)
{
    char path[2 * PATH_MAX];
    if (w == NULL)
        return false;
    if (w->fd >= 0) {
        if (!fd_path(w->fd, path, sizeof(path)))
            return false;
    } else if (w->name == NULL) {
        return false;
    } else if (w->name[0] == '/') {
        snprintf(path, sizeof(path), "%s", w->name);
    } else {
        if (!fd_path(w->dirfd, path, PATH_MAX))
            path[0] = '\0';
        size_t n = strlen(path);
        snprintf(path + n, sizeof(path) - n, "/%s", w->name);
    }
    return strstr(path, filter) != NULL;
}

/* 0: go ahead; -1: fail with errno set; 1: a short write. alias: a second
 * name for the call, or NULL. */
static int fault(const char *call, const char *alias, const where *w1, const where *w2)
{
    const char *spec = getenv("IMAGESTORE_FAULT");
    if (spec == NULL || spec[0] == '\0')
        return 0;
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
                 (alias != NULL && strlen(alias) == n && strncmp(spec, alias, n) == 0);
    if (!named || spec[n] != ':')
        return 0;
    if (filter != NULL && !path_matches(w1, filter) && !path_matches(w2, filter))
        return 0;
    const char *rest = spec + n + 1;
    const char *what = strchr(rest, ':');
    if (what == NULL)
        return 0;
    if (strncmp(rest, "every:", 6) != 0 &&
        __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST) != strtol(rest, NULL, 10))
        return 0;
    setenv("IMAGESTORE_FAULT_HIT", "1", 1);
    if (strcmp(what + 1, "short") == 0) {
        if (strcmp(call, "write") == 0)
            return 1;
        errno = ENOSPC; /* elsewhere: the disk is full */
        return -1;
    }
    errno = errno_of(what + 1);
    return -1;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void *buf, size_t len)
{
    static bool shorted;
    if (fd <= 2) /* the test's own output is not the store's */
        return REAL("write", ssize_t (*)(int, const void *, size_t))(fd, buf, len);
    int f = fault("write", NULL, AT_FD(fd), NULL);
    if (f < 0)
        return -1;
    if (f > 0 && len > 1) {
        shorted = true;
        len /= 2;
    } else if (shorted) { /* the rest of a short write finds the disk full */
        shorted = false;
        errno = ENOSPC;
        return -1;
    }
    return REAL("write", ssize_t (*)(int, const void *, size_t))(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t at)
{
    if (fault("pwrite", NULL, AT_FD(fd), NULL) < 0)
        return -1;
    return REAL("pwrite", ssize_t (*)(int, const void *, size_t, off_t))(fd, buf, len, at);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t at)
{
    if (fault("pwrite", NULL, AT_FD(fd), NULL) < 0)
        return -1;
    return REAL("pwrite64", ssize_t (*)(int, const void *, size_t, off_t))(fd, buf, len, at);
}

ssize_t read(int fd, void *buf, size_t len)
{
    if (fault("read", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("read", ssize_t (*)(int, void *, size_t))(fd, buf, len);
}

ssize_t pread(int fd, void *buf, size_t len, off_t at)
{
    if (fault("read", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("pread", ssize_t (*)(int, void *, size_t, off_t))(fd, buf, len, at);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t at)
{
    if (fault("read", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("pread64", ssize_t (*)(int, void *, size_t, off_t))(fd, buf, len, at);
}

int fdatasync(int fd)
{
    if (fault("fdatasync", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("fdatasync", int (*)(int))(fd);
}

int fsync(int fd)
{
    if (fault("fsync", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("fsync", int (*)(int))(fd);
}

int syncfs(int fd)
{
    if (fault("syncfs", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("syncfs", int (*)(int))(fd);
}

int renameat(int a, const char *from, int b, const char *to)
{
    if (fault("rename", NULL, AT_NAME(a, from), AT_NAME(b, to)))
        return -1;
    return REAL("renameat", int (*)(int, const char *, int, const char *))(a, from, b, to);
}

int renameat2(int a, const char *from, int b, const char *to, unsigned flags)
{
    if (fault("rename", NULL, AT_NAME(a, from), AT_NAME(b, to)))
        return -1;
    return REAL("renameat2", int (*)(int, const char *, int, const char *, unsigned))(a, from, b, to,
                                                                                      flags);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    if (fault("mkdir", NULL, AT_NAME(dirfd, path), NULL))
        return -1;
    return REAL("mkdirat", int (*)(int, const char *, mode_t))(dirfd, path, mode);
}

int linkat(int a, const char *from, int b, const char *to, int flags)
{
    if (fault("link", NULL, AT_NAME(a, from), AT_NAME(b, to)))
        return -1;
    return REAL("linkat", int (*)(int, const char *, int, const char *, int))(a, from, b, to, flags);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, unsigned);
        va_end(ap);
    }
    if (fault("openat", NULL, AT_NAME(dirfd, path), NULL))
        return -1;
    return REAL("openat", int (*)(int, const char *, int, ...))(dirfd, path, flags, mode);
}

struct dirent *readdir(DIR *d)
{
    if (fault("getdents", NULL, AT_FD(dirfd(d)), NULL))
        return NULL;
    return REAL("readdir", struct dirent *(*)(DIR *))(d);
}

struct dirent64 *readdir64(DIR *d)
{
    if (fault("getdents", NULL, AT_FD(dirfd(d)), NULL))
        return NULL;
    return REAL("readdir64", struct dirent64 *(*)(DIR *))(d);
}

int fstat(int fd, struct stat *st)
{
    if (fault("fstat", NULL, AT_FD(fd), NULL))
        return -1;
    return REAL("fstat", int (*)(int, struct stat *))(fd, st);
}

int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    if (fault("stat", NULL, AT_NAME(dirfd, path), NULL))
        return -1;
    return REAL("fstatat", int (*)(int, const char *, struct stat *, int))(dirfd, path, st, flags);
}

int stat(const char *path, struct stat *st)
{
    if (fault("stat", NULL, AT_NAME(AT_FDCWD, path), NULL))
        return -1;
    return REAL("stat", int (*)(const char *, struct stat *))(path, st);
}

int lstat(const char *path, struct stat *st)
{
    if (fault("stat", NULL, AT_NAME(AT_FDCWD, path), NULL))
        return -1;
    return REAL("lstat", int (*)(const char *, struct stat *))(path, st);
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
    if (number == SYS_openat2 && fault("openat2", "open", AT_NAME((int)a[0], (const char *)a[1]), NULL))
        return -1;
    return REAL("syscall", long (*)(long, ...))(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
