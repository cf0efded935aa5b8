/*
 * fsync-floor: what the filesystem holding DIR charges for durability, as
 * references for the store's create figures.
 *
 *   fsync-floor [--keep] DIR [ITERATIONS]
 *     The cost of one durable, atomic single-file write of 1500 bytes -- the
 *     least a durable create can cost. Each iteration: open a temp file with
 *     O_CREAT|O_EXCL, write 1500 bytes, fdatasync, close, rename it to a new
 *     name, fsync the directory. Prints the median (seconds, per_op_us) and
 *     min / p10 / p90 / max in microseconds.
 *
 *   fsync-floor [--keep] --batch DIR N
 *     The least a batched create of N images can cost on the store's layout,
 *     with no store code at all: per image a temp directory holding three
 *     files (a ~600-byte record, the 249-byte manifest, the 1500-byte config),
 *     then one syncfs, then each directory renamed into place, then one fsync
 *     of the parent. Prints the time per image and images_per_s.
 *
 * Both work in a fresh subdirectory of DIR (made if missing), fsync-floor.<pid>, and remove it
 * at the end (not timed) unless --keep is given: bench/run keeps it until the
 * end of the run, since on ext4 inodes freed moments ago slow down every
 * create that follows (find_inode_bit skips "recently deleted" inodes, for up
 * to 300 s while their inode table blocks are dirty).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define LEN 1500

static int keep;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *path)
{
    fprintf(stderr, "fsync-floor: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double at(const double *sorted, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static int make_workdir(const char *parent, char *work, size_t size, struct statfs *sfs)
{
    if (mkdir(parent, 0700) != 0 && errno != EEXIST)
        fail("mkdir", parent);
    snprintf(work, size, "%s/fsync-floor.%ld", parent, (long)getpid());
    if (mkdir(work, 0700) != 0)
        fail("mkdir", work);
    int dirfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        fail("open", work);
    if (fstatfs(dirfd, sfs) != 0)
        fail("statfs", work);
    return dirfd;
}

static void write_file(int dirfd, const char *name, const char *buf, size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail("open", name);
    if (write(fd, buf, len) != (ssize_t)len)
        fail("write", name);
    if (close(fd) != 0)
        fail("close", name);
}

static int single_writes(const char *parent, size_t iters)
{
    char work[4096], tmp[64], dst[64];
    struct statfs sfs;
    int dirfd = make_workdir(parent, work, sizeof(work), &sfs);
    char buf[LEN];
    memset(buf, 'c', sizeof(buf));
    double *t = calloc(iters, sizeof(*t));
    if (t == NULL)
        fail("calloc", "");
    for (size_t i = 0; i < iters; i++) {
        snprintf(tmp, sizeof(tmp), ".tmp-%zu", i);
        snprintf(dst, sizeof(dst), "file-%zu", i);
        double t0 = now();
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            fail("open", tmp);
        if (write(fd, buf, LEN) != LEN)
            fail("write", tmp);
        if (fdatasync(fd) != 0)
            fail("fdatasync", tmp);
        if (close(fd) != 0)
            fail("close", tmp);
        if (renameat(dirfd, tmp, dirfd, dst) != 0)
            fail("rename", dst);
        if (fsync(dirfd) != 0)
            fail("fsync", work);
        t[i] = now() - t0;
    }
    for (size_t i = 0; i < iters && !keep; i++) {
        snprintf(dst, sizeof(dst), "file-%zu", i);
        if (unlinkat(dirfd, dst, 0) != 0)
            fail("unlink", dst);
    }
    close(dirfd);
    if (!keep && rmdir(work) != 0)
        fail("rmdir", work);

    qsort(t, iters, sizeof(*t), cmp_double);
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    printf("{\"impl\":\"fsync-floor\",\"phase\":\"fsync-floor\",\"n\":%zu,\"seconds\":%.9f,"
           "\"per_op_us\":%.3f,\"min_us\":%.3f,\"p10_us\":%.3f,\"p90_us\":%.3f,\"max_us\":%.3f,"
           "\"fs_type\":\"0x%lx\"}\n",
           iters, med, med * 1e6, t[0] * 1e6, at(t, iters, 0.1) * 1e6, at(t, iters, 0.9) * 1e6,
           t[iters - 1] * 1e6, (unsigned long)sfs.f_type);
    free(t);
    return 0;
}

static int batch_floor(const char *parent, size_t n)
{
    static const char *const files[3] = {
        "images.json", "manifest",
        "=c2hhMjU2OjNkZDNmOGQxZGIzOWE1MzZjNGY0ODMxOGVkYThlNGE4MDRmNTNmYmMyYjI1Yjk0ZTNhYTk4YjIwMWJlMDUwZGE="};
    static const size_t lens[3] = {600, 249, LEN};
    char work[4096], tmp[96], dst[96];
    struct statfs sfs;
    int dirfd = make_workdir(parent, work, sizeof(work), &sfs);
    char buf[LEN];
    memset(buf, 'c', sizeof(buf));

    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof(tmp), ".tmp-%064zx", i);
        if (mkdirat(dirfd, tmp, 0700) != 0)
            fail("mkdir", tmp);
        int sub = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0)
            fail("open", tmp);
        for (int j = 0; j < 3; j++)
            write_file(sub, files[j], buf, lens[j]);
        close(sub);
    }
    if (syncfs(dirfd) != 0)
        fail("syncfs", work);
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof(tmp), ".tmp-%064zx", i);
        snprintf(dst, sizeof(dst), "%064zx", i);
        if (renameat(dirfd, tmp, dirfd, dst) != 0)
            fail("rename", dst);
    }
    if (fsync(dirfd) != 0)
        fail("fsync", work);
    double dt = now() - t0;

    for (size_t i = 0; i < n && !keep; i++) {
        snprintf(dst, sizeof(dst), "%064zx", i);
        int sub = openat(dirfd, dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0)
            fail("open", dst);
        for (int j = 0; j < 3; j++)
            if (unlinkat(sub, files[j], 0) != 0)
                fail("unlink", files[j]);
        close(sub);
        if (unlinkat(dirfd, dst, AT_REMOVEDIR) != 0)
            fail("rmdir", dst);
    }
    close(dirfd);
    if (!keep && rmdir(work) != 0)
        fail("rmdir", work);
    printf("{\"impl\":\"fsync-floor\",\"phase\":\"batch-floor\",\"n\":%zu,\"seconds\":%.9f,"
           "\"per_op_us\":%.3f,\"images_per_s\":%.1f,\"fs_type\":\"0x%lx\"}\n",
           n, dt, dt * 1e6 / (double)(n ? n : 1), (double)n / dt, (unsigned long)sfs.f_type);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--keep") == 0) {
        keep = 1;
        argv++;
        argc--;
    }
    if (argc == 4 && strcmp(argv[1], "--batch") == 0) {
        size_t n = strtoul(argv[3], NULL, 10);
        return batch_floor(argv[2], n ? n : 1);
    }
    if (argc < 2 || argc > 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: fsync-floor [--keep] DIR [ITERATIONS]\n"
                        "       fsync-floor [--keep] --batch DIR N\n");
        return 2;
    }
    size_t iters = argc == 3 ? strtoul(argv[2], NULL, 10) : 300;
    return single_writes(argv[1], iters ? iters : 1);
}
