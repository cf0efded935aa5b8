/*
 * Fault injection for tests: an LD_PRELOAD shim that makes the Nth call of a
 * filesystem function fail, as a full disk or a broken one would.
 *
 *   IMAGESTORE_FAULT=<call>:<n>:<what>
 *     call  write | fdatasync | fsync | syncfs | rename | mkdir | link | open
 *     n     which call fails, counted from when the variable took this value
 *     what  an errno name (ENOSPC, EIO, EACCES, EROFS, EDQUOT, ...), or
 *           "short": write stores half of what it was given, then ENOSPC
 *
 * The variable is read at every call, so a test process can change it as it
 * goes. IMAGESTORE_FAULT_HIT is set to "1" once the fault has fired.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char armed[128]; /* the value the counters belong to */
static long counter;

static int errno_of(const char *name)
{
    static const struct {
        const char *name;
        int value;
    } names[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},       {"EACCES", EACCES}, {"EROFS", EROFS},
                 {"EDQUOT", EDQUOT}, {"EPERM", EPERM},   {"ENOMEM", ENOMEM}, {"EMFILE", EMFILE}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].value;
    return EIO;
}

/* 0: go ahead; -1: fail with errno set; 1: a short write. */
static int fault(const char *call)
{
    const char *spec = getenv("IMAGESTORE_FAULT");
    if (spec == NULL || spec[0] == '\0')
        return 0;
    if (strcmp(spec, armed) != 0) { /* a new fault: start counting again */
        snprintf(armed, sizeof(armed), "%s", spec);
        counter = 0;
    }
    size_t n = strcspn(spec, ":");
    if (strlen(call) != n || strncmp(spec, call, n) != 0)
        return 0;
    const char *rest = spec + n + 1;
    long nth = strtol(rest, NULL, 10);
    const char *what = strchr(rest, ':');
    if (++counter != nth || what == NULL)
        return 0;
    setenv("IMAGESTORE_FAULT_HIT", "1", 1);
    if (strcmp(what + 1, "short") == 0)
        return 1;
    errno = errno_of(what + 1);
    return -1;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void *buf, size_t len)
{
    static bool shorted;
    if (fd <= 2) /* the test's own output is not the store's */
        return REAL("write", ssize_t (*)(int, const void *, size_t))(fd, buf, len);
    int f = fault("write");
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

int fdatasync(int fd)
{
    if (fault("fdatasync"))
        return -1;
    return REAL("fdatasync", int (*)(int))(fd);
}

int fsync(int fd)
{
    if (fault("fsync"))
        return -1;
    return REAL("fsync", int (*)(int))(fd);
}

int syncfs(int fd)
{
    if (fault("syncfs"))
        return -1;
    return REAL("syncfs", int (*)(int))(fd);
}

int renameat(int a, const char *from, int b, const char *to)
{
    if (fault("rename"))
        return -1;
    return REAL("renameat", int (*)(int, const char *, int, const char *))(a, from, b, to);
}

int renameat2(int a, const char *from, int b, const char *to, unsigned flags)
{
    if (fault("rename"))
        return -1;
    return REAL("renameat2", int (*)(int, const char *, int, const char *, unsigned))(a, from, b, to,
                                                                                      flags);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    if (fault("mkdir"))
        return -1;
    return REAL("mkdirat", int (*)(int, const char *, mode_t))(dirfd, path, mode);
}

int linkat(int a, const char *from, int b, const char *to, int flags)
{
    if (fault("link"))
        return -1;
    return REAL("linkat", int (*)(int, const char *, int, const char *, int))(a, from, b, to, flags);
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
    if (number == SYS_openat2 && fault("open"))
        return -1;
    return REAL("syscall", long (*)(long, ...))(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
