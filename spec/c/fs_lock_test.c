/*
 * The filesystem layer and the lock file against a hostile or broken
 * directory: the openat2 fallback (a symlinked component anywhere), reads
 * of what is not a regular file, a lock file that is zero-filled, truncated,
 * a FIFO or a symlink, two stores of one thread on one directory (EDEADLK,
 * never a hang), and the fault shim's read, readdir, openat and path-filter
 * forms. The test re-executes itself with spec/faults/fault_shim.c
 * preloaded (as fault_test does); everything that could hang or crash runs
 * in a forked child under alarm(). TAP output.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "image_store.h"
#include "test_support.h"
#include "lock.h"

#define A_ID "aaaa000000000000000000000000000000000000000000000000000000000001"
#define B_ID "bbbb000000000000000000000000000000000000000000000000000000000002"
#define CHILD_SECONDS 20

static char root[64]; /* the test's temp directory */

/* ---- helpers ---- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* A fresh store dir under root: A (names a:1, big data "manifest" =
 * "the manifest") and B (b:1). */
static void make_store(const char *dir)
{
    image_store_t st;
    const char *a[] = {"a:1"}, *b[] = {"b:1"};
    rm_rf(dir);
    if (new_image_store(false, false, dir, &st) != 0 ||
        st.create(A_ID, a, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0 ||
        st.create(B_ID, b, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0 ||
        st.set_big_data_len(&st, A_ID, "manifest", "the manifest", 12) != 0) {
        fprintf(stderr, "setup %s: %s\n", dir, image_store_error_message(&st));
        exit(2);
    }
    image_store_close(&st);
}

/* The file holding image id's big data (the one that is not images.json). */
static void big_data_path(const char *dir, const char *id, char *out, size_t size)
{
    char idir[256];
    snprintf(idir, sizeof(idir), "%.150s/%.64s", dir, id);
    DIR *d = opendir(idir);
    struct dirent *e;
    out[0] = '\0';
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "images.json") != 0)
            snprintf(out, size, "%s/%.255s", idir, e->d_name);
    if (d != NULL)
        closedir(d);
}

static bool open_store(const char *dir, bool readonly, image_store_t *st)
{
    if (new_image_store(false, readonly, dir, st) == 0)
        return true;
    printf("# open %s: %s\n", dir, image_store_error_message(st));
    return false;
}

static bool image_has_name(image_store_t *st, const char *id, const char *name)
{
    image_storage_images img;
    memset(&img, 0, sizeof(img));
    if (st->get(id, st, &img) != 0)
        return false;
    bool found = false;
    for (size_t i = 0; i < img.names_len; i++)
        found = found || strcmp(img.names[i], name) == 0;
    image_storage_images_clear(&img);
    return found;
}

/* Runs fn in a forked child under alarm(CHILD_SECONDS); a hang (SIGALRM) or
 * a crash (SIGBUS, SIGSEGV) is a failure. The child's message comes back. */
typedef bool (*child_fn)(void *arg, char *msg, size_t size);

static bool in_child(child_fn fn, void *arg, char *msg, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(CHILD_SECONDS);
        char m[1024] = "";
        bool ok = fn(arg, m, sizeof(m));
        ssize_t w = write(fds[1], m, strlen(m));
        (void)w;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    while (used + 1 < size && (n = read(fds[0], msg + used, size - 1 - used)) > 0)
        used += (size_t)n;
    msg[used] = '\0';
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return false;
    if (WIFSIGNALED(status)) {
        snprintf(msg + strlen(msg), size - strlen(msg), " [child killed by signal %d%s]",
                 WTERMSIG(status), WTERMSIG(status) == SIGALRM ? ": it hung" : "");
        return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#define FAIL(...) (snprintf(msg, size, __VA_ARGS__), false)

static void set_fault(const char *spec, const char *path)
{
    unsetenv("IMAGESTORE_FAULT_HIT");
    if (path)
        setenv("IMAGESTORE_FAULT_PATH", path, 1);
    else
        unsetenv("IMAGESTORE_FAULT_PATH");
    setenv("IMAGESTORE_FAULT", spec, 1);
}

static void clear_fault(void)
{
    unsetenv("IMAGESTORE_FAULT");
    unsetenv("IMAGESTORE_FAULT_PATH");
}

/* ---- 1. the openat2 fallback ---- */

static int walk_errno(int base, const char *rel, int flags)
{
    errno = 0;
    int fd = fs_open_beneath_walk(base, rel, flags, 0600);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno;
}

/* root/walk: a tree with symlinks at every depth, and root/outside; made
 * the first time a case asks. Returns an O_DIRECTORY fd of root/walk. */
static int walk_base(void)
{
    static bool made;
    char base[128], outside[128], p[256], q[256];
    snprintf(base, sizeof(base), "%s/walk", root);
    if (made)
        return open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    made = true;
    snprintf(outside, sizeof(outside), "%s/outside", root);
    mkdir(base, 0700);
    mkdir(outside, 0700);
    snprintf(p, sizeof(p), "%s/secret", outside);
    write_text(p, "outside");
    snprintf(p, sizeof(p), "%s/a", base);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/a/b", base);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/a/b/file", base);
    write_text(p, "inside");
    snprintf(p, sizeof(p), "%s/out", base); /* first component: to the outside */
    symlink(outside, p);
    snprintf(p, sizeof(p), "%s/a/in", base); /* middle component: even one that stays inside */
    symlink("b", p);
    snprintf(p, sizeof(p), "%s/a/b/flink", base); /* last component */
    snprintf(q, sizeof(q), "%s/secret", outside);
    symlink(q, p);
    return open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_walk_opens_a_plain_path(void)
{
    int bfd = walk_base();
    int fd = fs_open_beneath_walk(bfd, "a/b/file", O_RDONLY, 0);
    char buf[32] = "";
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    check(strcmp(buf, "inside") == 0, "walk: a plain path below the base opens (read \"%s\")", buf);
    close(bfd);
}

static void test_walk_refuses_symlinks_dotdot_and_bad_paths(void)
{
    int bfd = walk_base();
    struct {
        const char *rel;
        int flags;
        int want;
        const char *what;
    } cases[] = {
        {"out/secret", O_RDONLY, ELOOP, "a symlinked first component"},
        {"a/in/file", O_RDONLY, ELOOP, "a symlinked middle component"},
        {"a/b/flink", O_RDONLY, ELOOP, "a symlinked last component"},
        {"out", O_RDONLY | O_DIRECTORY, ELOOP, "a symlinked directory opened as one"},
        {"a/in", O_RDONLY | O_DIRECTORY, ELOOP, "a symlinked directory opened as one, inside"},
        {"../outside/secret", O_RDONLY, EXDEV, "\"..\" first"},
        {"a/../a/b/file", O_RDONLY, EXDEV, "\"..\" in the middle"},
        {"a/b/..", O_RDONLY | O_DIRECTORY, EXDEV, "\"..\" last"},
        {"/etc/passwd", O_RDONLY, EXDEV, "an absolute path"},
        {"", O_RDONLY, EINVAL, "an empty path"},
        {"a//b/file", O_RDONLY, EINVAL, "an empty component"},
        {"a/b/", O_RDONLY, EINVAL, "a trailing slash"},
        {"a/b/missing", O_RDONLY, ENOENT, "a missing file"},
        {"a/b/file/x", O_RDONLY, ENOTDIR, "a file as a directory"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = walk_errno(bfd, cases[i].rel, cases[i].flags);
        check(got == cases[i].want, "walk: %s (%s) is refused with %s (got %s)", cases[i].what,
              cases[i].rel, strerrorname_np(cases[i].want), got ? strerrorname_np(got) : "success");
    }
    close(bfd);
}

static void test_walk_creates_the_last_component(void)
{
    char p[256];
    int bfd = walk_base();
    int got = walk_errno(bfd, "a/b/new", O_WRONLY | O_CREAT | O_EXCL);
    snprintf(p, sizeof(p), "%s/walk/a/b/new", root);
    check(got == 0 && access(p, F_OK) == 0, "walk: O_CREAT makes the last component (%s)",
          got ? strerrorname_np(got) : "ok");
    close(bfd);
}

/* openat2 says the same where it exists */
static void test_openat2_refuses_a_symlinked_middle_component(void)
{
    int bfd = walk_base();
    errno = 0;
    int fd = fs_open_beneath(bfd, "a/in/file", O_RDONLY, 0);
    check(fd < 0 && errno == ELOOP, "openat2 refuses the symlinked middle component too (%s)",
          fd < 0 ? strerrorname_np(errno) : "opened");
    if (fd >= 0)
        close(fd);
    close(bfd);
}

/* forced onto the fallback through the shim */
static void test_fallback_refuses_a_symlinked_directory(void)
{
    int bfd = walk_base();
    set_fault("openat2:every:ENOSYS", NULL);
    errno = 0;
    int fd = fs_open_beneath(bfd, "out/secret", O_RDONLY, 0);
    int saved = errno;
    bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
    clear_fault();
    check(hit && fd < 0 && saved == ELOOP,
          "with openat2 ENOSYS (shim), fs_open_beneath still refuses a symlinked directory (%s)",
          fd < 0 ? strerrorname_np(saved) : "opened it");
    if (fd >= 0)
        close(fd);
    close(bfd);
}

/* An image directory swapped for a symlink to a copy outside, read through
 * the fallback: big_data must not read the outside file. */
static void test_fallback_refuses_a_symlinked_image_directory(void)
{
    char dir[128], outside[128], cmd[2048];
    snprintf(dir, sizeof(dir), "%s/fallback", root);
    snprintf(outside, sizeof(outside), "%s/fallback-outside", root);
    make_store(dir);
    image_store_t st;
    if (!open_store(dir, false, &st)) {
        check(false, "fallback: open");
        image_store_close(&st);
        return;
    }
    char file[512];
    big_data_path(dir, A_ID, file, sizeof(file));
    /* the copy outside: same record, a different manifest of the same size */
    snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s/%s %s && mv %s/%s %s/moved-away && ln -s %s %s/%s",
             outside, dir, A_ID, outside, dir, A_ID, root, outside, dir, A_ID);
    if (system(cmd) != 0)
        exit(2);
    char ofile[600];
    snprintf(ofile, sizeof(ofile), "%s/%s", outside, strrchr(file, '/') + 1);
    write_text(ofile, "OUTSIDE!!!!!");
    char *data = NULL;
    size_t len = 0;
    set_fault("openat2:every:ENOSYS", NULL);
    int rc = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
    clear_fault();
    check(hit && rc != 0 && strcmp(image_store_error_name(&st), "ELOOP") == 0,
          "fallback: big_data through a symlinked image directory fails ELOOP (rc %d, %s: %s%s%s)",
          rc, image_store_error_name(&st), rc ? image_store_error_message(&st) : "read ",
          rc ? "" : (data ? data : ""), hit ? "" : " [openat2 was not faulted]");
    free(data);
    image_store_close(&st);
    snprintf(cmd, sizeof(cmd), "rm -f %s/%s && mv %s/moved-away %s/%s", dir, A_ID, root, dir, A_ID);
    if (system(cmd) != 0)
        exit(2);
}

/* ---- 2. reads of what is not a regular file ---- */

static bool child_fifo_big_data(void *arg, char *msg, size_t size)
{
    const char *dir = arg;
    char file[512];
    big_data_path(dir, A_ID, file, sizeof(file));
    image_store_t st;
    if (!open_store(dir, false, &st))
        return FAIL("open: %s", image_store_error_message(&st));
    if (unlink(file) != 0 || mkfifo(file, 0600) != 0)
        return FAIL("mkfifo %s", file);
    char *data = NULL;
    size_t len = 0;
    int rc = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    bool ok = rc != 0 && strstr(image_store_error_message(&st), "not a regular file (a FIFO)") &&
              strstr(image_store_error_message(&st), file) &&
              strcmp(image_store_error_name(&st), "EINVAL") == 0;
    snprintf(msg, size, "rc %d, %s: %s", rc, image_store_error_name(&st),
             rc ? image_store_error_message(&st) : "returned data");
    free(data);
    /* with a writer that has written nothing (EAGAIN) */
    int w = open(file, O_RDWR | O_NONBLOCK);
    data = NULL;
    rc = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    ok = ok && rc != 0 && strstr(image_store_error_message(&st), "not a regular file");
    snprintf(msg + strlen(msg), size - strlen(msg), "; with a writer: rc %d, %s", rc,
             rc ? image_store_error_message(&st) : "returned data");
    /* and one that writes more than the record says */
    if (write(w, "more than twelve bytes", 22) != 22)
        ok = false;
    free(data);
    data = NULL;
    rc = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    ok = ok && rc != 0 && strstr(image_store_error_message(&st), "not a regular file");
    snprintf(msg + strlen(msg), size - strlen(msg), "; with data: rc %d", rc);
    free(data);
    close(w);
    image_store_close(&st);
    return ok;
}

static bool child_fifo_record(void *arg, char *msg, size_t size)
{
    const char *dir = arg;
    char rec[512];
    snprintf(rec, sizeof(rec), "%s/%s/images.json", dir, B_ID);
    if (unlink(rec) != 0 || mkfifo(rec, 0600) != 0)
        return FAIL("mkfifo %s", rec);
    image_store_t st;
    bool opened = open_store(dir, true, &st);
    bool exists = opened && st.exists(B_ID, &st);
    image_store_close(&st);
    snprintf(msg, size, "opened %d, B loaded %d", opened, exists);
    return opened && !exists;
}

static void test_big_data_of_a_fifo_fails_without_blocking(void)
{
    char dir[128], msg[2048];
    snprintf(dir, sizeof(dir), "%s/fifo-read", root);
    make_store(dir);
    check(in_child(child_fifo_big_data, dir, msg, sizeof(msg)),
          "big_data of a FIFO fails, naming it, without blocking: %s", msg);
}

static void test_fifo_record_skipped_at_open(void)
{
    char dir[128], msg[2048];
    snprintf(dir, sizeof(dir), "%s/fifo-read", root);
    make_store(dir);
    check(in_child(child_fifo_record, dir, msg, sizeof(msg)),
          "a FIFO as a record is skipped at open, without blocking: %s", msg);
}

/* ---- 3. a zero-filled lock file ---- */

static char lock_path[256];

static void zero_fill_lock(const char *dir, off_t size)
{
    snprintf(lock_path, sizeof(lock_path), "%s/.imagestore.lock", dir);
    struct stat st;
    if (stat(lock_path, &st) != 0)
        exit(2);
    if (size < 0)
        size = st.st_size;
    int fd = open(lock_path, O_WRONLY | O_TRUNC);
    char zero[4096] = {0};
    for (off_t at = 0; at < size; at += (off_t)sizeof(zero)) {
        size_t n = size - at < (off_t)sizeof(zero) ? (size_t)(size - at) : sizeof(zero);
        if (write(fd, zero, n) != (ssize_t)n)
            exit(2);
    }
    close(fd);
}

static bool lock_magic_ok(const char *dir)
{
    char path[256], magic[9] = "";
    snprintf(path, sizeof(path), "%s/.imagestore.lock", dir);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, magic, 8) : -1;
    if (fd >= 0)
        close(fd);
    return n == 8 && memcmp(magic, "imgstlk1", 8) == 0;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The cases on a zero-filled lock file share root/zero, made by the first
 * of them, and the lock file's size before it was zero-filled. */
static char zero_dir[128];
static off_t zero_full;

static void test_zero_filled_lock_stamped_by_a_writable_open(void)
{
    const char *dir = zero_dir;
    snprintf(zero_dir, sizeof(zero_dir), "%s/zero", root);
    make_store(dir);
    zero_fill_lock(dir, -1);
    zero_full = file_size(lock_path);
    /* two writers opened on the broken file must still see each other */
    image_store_t x, y, z;
    bool ok = open_store(dir, false, &x) && open_store(dir, false, &y);
    check(ok && lock_magic_ok(dir), "a writable open stamps a zero-filled lock file afresh");
    ok = ok && x.add_name(A_ID, "x:1", &x) == 0 && y.add_name(A_ID, "y:1", &y) == 0;
    check(ok && image_has_name(&y, A_ID, "x:1") && image_has_name(&y, A_ID, "y:1"),
          "two stores opened on a zero-filled lock file see each other's add_name");
    image_store_close(&x);
    image_store_close(&y);
    ok = open_store(dir, false, &z);
    check(ok && image_has_name(&z, A_ID, "x:1") && image_has_name(&z, A_ID, "y:1"),
          "no acknowledged add_name was overwritten (fresh open has both names)");
    image_store_close(&z);
}

/* the stamp is made durable: an fsync of the lock file happens, and its
 * failure fails the open */
static void test_zero_filled_lock_stamp_is_fsynced(void)
{
    const char *dir = zero_dir;
    image_store_t z;
    zero_fill_lock(dir, zero_full);
    set_fault("fsync:1:EIO", ".imagestore.lock");
    bool opened = open_store(dir, false, &z);
    bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
    clear_fault();
    check(hit && !opened && strcmp(image_store_error_name(&z), "EIO") == 0 &&
              strstr(image_store_error_message(&z), ".imagestore.lock") != NULL,
          "the stamp is fsync'd: a failing fsync of the lock file fails the open (%s)",
          opened ? "opened" : image_store_error_message(&z));
    image_store_close(&z);
}

/* read-only: cannot repair, says so */
static void test_zero_filled_lock_read_only_is_degraded(void)
{
    const char *dir = zero_dir;
    zero_fill_lock(dir, zero_full);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    store_lock l;
    image_error err;
    memset(&err, 0, sizeof(err));
    int rc = lock_open(&l, dfd, dir, true, &err);
    check(rc == 0 && l.degraded && l.problem[0] != '\0' && !lock_magic_ok(dir),
          "a read-only lock_open of a zero-filled lock file succeeds, degraded, and writes "
          "nothing: %s",
          rc == 0 ? l.problem : err.message);
    check(lock_generation(&l) == LOCK_GENERATION_INVALID,
          "its generation reads as LOCK_GENERATION_INVALID");
    lock_close(&l);
    image_store_t r;
    bool opened = open_store(dir, true, &r);
    image_store_problem *probs = NULL;
    size_t nprobs = 0;
    bool listed = false;
    if (opened && r.problems(&r, &probs, &nprobs) == 0)
        for (size_t i = 0; i < nprobs; i++)
            listed = listed || (strcmp(probs[i].kind, "lock-file") == 0 &&
                                strstr(probs[i].path, ".imagestore.lock") != NULL);
    image_store_problems_free(probs, nprobs);
    image_store_close(&r);
    check(opened && listed, "a read-only store lists the broken lock file in problems()");
    close(dfd);
}

/* a writer repairs it; the read-only lock then is whole again */
static void test_writer_repairs_a_zero_filled_lock(void)
{
    const char *dir = zero_dir;
    image_store_t z;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    store_lock l;
    image_error err;
    memset(&err, 0, sizeof(err));
    bool ok = open_store(dir, false, &z);
    image_store_close(&z);
    int rc = lock_open(&l, dfd, dir, true, &err);
    check(ok && rc == 0 && !l.degraded && l.problem[0] == '\0' &&
              lock_generation(&l) != LOCK_GENERATION_INVALID,
          "after a writable open, a read-only lock_open is not degraded");
    lock_close(&l);
    close(dfd);
}

/* ---- 4. a truncated lock file ---- */

struct trunc_case {
    const char *dir;
    off_t size;
};

static bool child_truncated(void *arg, char *msg, size_t size)
{
    const struct trunc_case *tc = arg;
    const char *dir = tc->dir;
    image_store_t a, b, r;
    if (!open_store(dir, false, &a) || !open_store(dir, false, &b) || !open_store(dir, true, &r))
        return FAIL("open");
    uint64_t gb = image_store_generation(&b);
    char path[256];
    snprintf(path, sizeof(path), "%s/.imagestore.lock", dir);
    if (truncate(path, tc->size) != 0)
        return FAIL("truncate");
    /* every call of every open store: no SIGBUS */
    image_storage_images *imgs = NULL;
    size_t n = 0;
    if (b.images(&b, &imgs, &n) != 0 || n != 2)
        return FAIL("images() after truncation: %s (%zu)", image_store_error_message(&b), n);
    image_storage_images_free(imgs, n);
    if (!r.exists(A_ID, &r) || !b.exists(B_ID, &b))
        return FAIL("exists after truncation");
    /* B's image goes away behind everyone's back; only a full reload sees that */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/%s", dir, B_ID);
    if (system(cmd) != 0)
        return FAIL("rm");
    /* a writer repairs the file and publishes */
    if (a.add_name(A_ID, "after:1", &a) != 0)
        return FAIL("add_name after truncation: %s", image_store_error_message(&a));
    if (file_size(path) < 64 + 1024 * 72 || !lock_magic_ok(dir))
        return FAIL("lock file not re-stamped (size %lld)", (long long)file_size(path));
    char *id = NULL;
    bool sees = b.lookup("after:1", &b, &id) == 0 && strcmp(id, A_ID) == 0;
    free(id);
    id = NULL;
    bool rsees = r.lookup("after:1", &r, &id) == 0;
    free(id);
    uint64_t gb2 = image_store_generation(&b);
    bool reloaded = !b.exists(B_ID, &b) && !r.exists(B_ID, &r) && !a.exists(B_ID, &a);
    snprintf(msg, size, "B sees the write %d, read-only sees it %d, all reloaded %d, generation %llu -> %llu",
             sees, rsees, reloaded, (unsigned long long)gb, (unsigned long long)gb2);
    image_store_close(&a);
    image_store_close(&b);
    image_store_close(&r);
    return sees && rsees && reloaded && gb2 != gb && gb2 != gb + 1;
}

static void test_truncated_lock_file(void)
{
    char dir[128], msg[2048];
    snprintf(dir, sizeof(dir), "%s/truncated", root);
    off_t sizes[] = {0, 20, 64, 4096};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        make_store(dir);
        struct trunc_case tc = {dir, sizes[i]};
        check(in_child(child_truncated, &tc, msg, sizeof(msg)),
              "lock file truncated to %lld bytes under open stores: no crash, a writer re-stamps it, "
              "every store reloads everything: %s",
              (long long)sizes[i], msg);
    }
}

/* ---- 5. a lock file that is not a regular file ---- */

static bool child_open_fails(void *arg, char *msg, size_t size)
{
    const char *dir = arg;
    bool ok = true;
    for (int ro = 1; ro >= 0; ro--) {
        image_store_t st;
        int rc = new_image_store(false, ro, dir, &st);
        const char *m = image_store_error_message(&st);
        bool good = rc != 0 && image_store_error_code(&st) == IMAGE_STORE_ECORRUPT &&
                    strstr(m, "lock file ") && strstr(m, ".imagestore.lock is not a regular file (");
        snprintf(msg + strlen(msg), size - strlen(msg), "%s%s: %s", ro ? "" : "; ",
                 ro ? "read-only" : "writable", rc ? m : "opened");
        image_store_close(&st);
        ok = ok && good;
    }
    return ok;
}

/* dir: root/lockfifo, a fresh store whose lock file is removed; path:
 * where the lock file was. */
static void store_without_lock_file(char dir[128], char path[256])
{
    snprintf(dir, 128, "%s/lockfifo", root);
    make_store(dir);
    snprintf(path, 256, "%s/.imagestore.lock", dir);
    unlink(path);
}

static void test_fifo_as_lock_file_refused(void)
{
    char dir[128], path[256], msg[2048];
    store_without_lock_file(dir, path);
    mkfifo(path, 0600);
    msg[0] = '\0';
    check(in_child(child_open_fails, dir, msg, sizeof(msg)) && strstr(msg, "(a FIFO)"),
          "a FIFO as the lock file: both opens fail at once with ECORRUPT: %s", msg);
    unlink(path);
}

static void test_symlink_as_lock_file_refused(void)
{
    char dir[128], path[256], msg[2048];
    store_without_lock_file(dir, path);
    char target[256];
    snprintf(target, sizeof(target), "%s/lock-target", root);
    write_text(target, "");
    symlink(target, path);
    msg[0] = '\0';
    check(in_child(child_open_fails, dir, msg, sizeof(msg)) && strstr(msg, "(a symbolic link)") &&
              file_size(target) == 0,
          "a symlink as the lock file: refused, its target untouched: %s", msg);
    unlink(path);
}

static void test_directory_as_lock_file_refused(void)
{
    char dir[128], path[256], msg[2048];
    store_without_lock_file(dir, path);
    mkdir(path, 0700);
    msg[0] = '\0';
    check(in_child(child_open_fails, dir, msg, sizeof(msg)) && strstr(msg, "(a directory)"),
          "a directory as the lock file: refused: %s", msg);
    rmdir(path);
}

/* ---- 6. two stores of one thread ---- */

static bool child_batch_then_open(void *arg, char *msg, size_t size)
{
    const char *dir = arg;
    image_store_t a, b, c;
    if (!open_store(dir, false, &a) || !open_store(dir, false, &c))
        return FAIL("open");
    if (image_store_batch_begin(&a) != 0)
        return FAIL("batch: %s", image_store_error_message(&a));
    const char *names[] = {"batched:1"};
    if (a.create(NULL, names, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &a, NULL) != 0)
        return FAIL("create in batch");
    double t0 = now();
    int rc = new_image_store(false, false, dir, &b);
    double took = now() - t0;
    bool ok = rc != 0 && strcmp(image_store_error_name(&b), "EDEADLK") == 0 &&
              image_store_error_code(&b) == IMAGE_STORE_ESYS &&
              strstr(image_store_error_message(&b), "another store of this thread") && took < 2;
    snprintf(msg, size, "open during the batch: %s (%.2f s)",
             rc ? image_store_error_message(&b) : "opened", took);
    image_store_close(&b);
    /* a store opened before: its write fails at once too, and a read-only open */
    rc = c.create(NULL, NULL, 0, NULL, NULL, IMAGE_TIME_NOW, NULL, &c, NULL);
    ok = ok && rc != 0 && strcmp(image_store_error_name(&c), "EDEADLK") == 0;
    snprintf(msg + strlen(msg), size - strlen(msg), "; other:create: %s",
             rc ? image_store_error_name(&c) : "succeeded");
    rc = new_image_store(false, true, dir, &b);
    ok = ok && rc != 0 && strcmp(image_store_error_name(&b), "EDEADLK") == 0;
    snprintf(msg + strlen(msg), size - strlen(msg), "; read-only open: %s",
             rc ? image_store_error_name(&b) : "opened");
    image_store_close(&b);
    if (image_store_batch_commit(&a) != 0)
        return FAIL("commit: %s", image_store_error_message(&a));
    /* and afterwards all is well */
    ok = ok && c.exists("batched:1", &c) &&
         c.create(NULL, NULL, 0, NULL, NULL, IMAGE_TIME_NOW, NULL, &c, NULL) == 0;
    image_store_close(&a);
    image_store_close(&c);
    return ok;
}

static image_store_t *hook_other;
static char hook_saw[64];

static int write_from_hook(void *data, const image_event *event, image_hook_result *result)
{
    (void)data;
    (void)result;
    if (event->kind != IMAGE_EVENT_CREATE || hook_saw[0] != '\0')
        return 0;
    const char *names[] = {"from-hook:1"};
    int rc = hook_other->create(NULL, names, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, hook_other, NULL);
    snprintf(hook_saw, sizeof(hook_saw), "%s", rc ? image_store_error_name(hook_other) : "ok");
    return 0;
}

static bool child_hook(void *arg, char *msg, size_t size)
{
    const char *dir = arg;
    image_store_t a, b;
    if (!open_store(dir, false, &a) || !open_store(dir, false, &b))
        return FAIL("open");
    hook_other = &b;
    image_store_hooks hooks = {NULL, write_from_hook, NULL};
    image_store_set_hooks(&a, &hooks);
    const char *names[] = {"hooked:1"};
    int rc = a.create(NULL, names, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &a, NULL);
    snprintf(msg, size, "create: %s; the hook's write through another store: %s",
             rc ? image_store_error_message(&a) : "ok", hook_saw);
    bool ok = rc == 0 && strcmp(hook_saw, "EDEADLK") == 0 && b.exists("hooked:1", &b) &&
              !b.exists("from-hook:1", &b);
    image_store_close(&a);
    image_store_close(&b);
    return ok;
}

/* B in another process (or thread) waits for A's batch, then sees it. */
struct waiter {
    const char *dir;
    int go;      /* read end: A's batch is open */
    double took; /* seconds B's open waited */
    bool sees;
    char error[256];
};

static void *wait_and_open(void *arg)
{
    struct waiter *w = arg;
    char c;
    if (read(w->go, &c, 1) != 1)
        return NULL;
    image_store_t b;
    double t0 = now();
    int rc = new_image_store(false, false, w->dir, &b);
    w->took = now() - t0;
    w->sees = rc == 0 && b.exists("waited-for:1", &b);
    snprintf(w->error, sizeof(w->error), "%s", rc ? image_store_error_message(&b) : "");
    image_store_close(&b);
    return NULL;
}

/* thread: true for another thread, false for another process */
static bool child_waits(void *arg, char *msg, size_t size)
{
    bool thread = *(bool *)((void **)arg)[1];
    const char *dir = ((void **)arg)[0];
    int go[2], res[2];
    if (pipe(go) != 0 || pipe(res) != 0)
        return FAIL("pipe");
    struct waiter w = {dir, go[0], 0, false, ""};
    pthread_t t;
    pid_t pid = -1;
    if (thread) {
        if (pthread_create(&t, NULL, wait_and_open, &w) != 0)
            return FAIL("pthread_create");
    } else if ((pid = fork()) == 0) {
        wait_and_open(&w);
        ssize_t n = write(res[1], &w, sizeof(w));
        _exit(n == (ssize_t)sizeof(w) ? 0 : 1);
    }
    image_store_t a;
    if (!open_store(dir, false, &a) || image_store_batch_begin(&a) != 0)
        return FAIL("open A / batch");
    const char *names[] = {"waited-for:1"};
    if (a.create(NULL, names, 1, NULL, NULL, IMAGE_TIME_NOW, NULL, &a, NULL) != 0)
        return FAIL("create");
    if (write(go[1], "g", 1) != 1)
        return FAIL("write");
    usleep(800000);
    if (image_store_batch_commit(&a) != 0)
        return FAIL("commit: %s", image_store_error_message(&a));
    image_store_close(&a);
    if (thread) {
        pthread_join(t, NULL);
    } else {
        if (read(res[0], &w, sizeof(w)) != (ssize_t)sizeof(w))
            return FAIL("no result from the other process");
        waitpid(pid, NULL, 0);
    }
    snprintf(msg, size, "waited %.2f s, sees the batch %d%s%s", w.took, w.sees,
             w.error[0] ? ", error: " : "", w.error);
    return w.error[0] == '\0' && w.took > 0.5 && w.sees;
}

/* dir: root/deadlock, a fresh store */
static void deadlock_store(char dir[128])
{
    snprintf(dir, 128, "%s/deadlock", root);
    make_store(dir);
}

static void test_second_store_of_the_thread_during_a_batch_gets_edeadlk(void)
{
    char dir[128], msg[2048];
    deadlock_store(dir);
    check(in_child(child_batch_then_open, dir, msg, sizeof(msg)),
          "during a batch, a second store of the same thread fails at once with EDEADLK: %s", msg);
}

static void test_hook_writing_through_a_second_store_gets_edeadlk(void)
{
    char dir[128], msg[2048];
    deadlock_store(dir);
    check(in_child(child_hook, dir, msg, sizeof(msg)),
          "an event hook writing through a second store gets EDEADLK, no hang: %s", msg);
}

/* thread: in another thread, else in another process */
static void store_elsewhere_waits_for_the_batch(bool thread)
{
    char dir[128], msg[2048];
    bool th = thread;
    void *args[2] = {dir, &th};
    deadlock_store(dir);
    check(in_child(child_waits, args, msg, sizeof(msg)),
          "a store in another %s waits for the batch, then sees it: %s",
          thread ? "thread" : "process", msg);
}

static void test_store_in_another_process_waits_for_the_batch(void)
{
    store_elsewhere_waits_for_the_batch(false);
}

static void test_store_in_another_thread_waits_for_the_batch(void)
{
    store_elsewhere_waits_for_the_batch(true);
}

/* ---- 7. the shim's new forms ---- */

/* root/shim, a store made the first time a case asks; file: the path of
 * image A's big-data file. */
static const char *shim_store(char file[512])
{
    static char dir[128];
    static bool made;
    if (!made) {
        snprintf(dir, sizeof(dir), "%s/shim", root);
        make_store(dir);
        made = true;
    }
    if (file != NULL)
        big_data_path(dir, A_ID, file, 512);
    return dir;
}

static void test_shim_read_every_with_a_path_filter(void)
{
    char file[512];
    const char *dir = shim_store(file);
    image_store_t st;
    if (!open_store(dir, false, &st)) {
        check(false, "shim: open");
        image_store_close(&st);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    /* read, every time, only of the big-data file */
    set_fault("read:every:EIO", strrchr(file, '/') + 1);
    int rc1 = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    char msg1[600];
    snprintf(msg1, sizeof(msg1), "%s", image_store_error_message(&st));
    free(data);
    data = NULL;
    int rc2 = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    free(data);
    data = NULL;
    char *meta = NULL;
    int rc3 = st.metadata(&st, A_ID, &meta);
    free(meta);
    clear_fault();
    check(rc1 != 0 && rc2 != 0 && strstr(msg1, "read ") == msg1 && strstr(msg1, file) &&
              strstr(msg1, "Input/output error") && rc3 == 0,
          "shim read:every:EIO with a path filter fails every read of that file only: %s", msg1);
    image_store_close(&st);
}

/* the counting form of read: the 1st read of the file fails, the 2nd not */
static void test_shim_read_1_fails_only_the_first_read(void)
{
    char file[512];
    const char *dir = shim_store(file);
    image_store_t st;
    if (!open_store(dir, false, &st)) {
        check(false, "shim: open");
        image_store_close(&st);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    set_fault("read:1:EIO", strrchr(file, '/') + 1);
    int rc1 = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    free(data);
    data = NULL;
    int rc2 = st.big_data_len(&st, A_ID, "manifest", &data, &len);
    clear_fault();
    check(rc1 != 0 && rc2 == 0 && len == 12, "shim read:1:EIO fails only the first read");
    free(data);
    image_store_close(&st);
}

/* readdir: a failing listing fails the open */
static void test_shim_getdents_fails_the_store_listing(void)
{
    const char *dir = shim_store(NULL);
    image_store_t o;
    set_fault("getdents:1:EIO", NULL);
    int rc = new_image_store(false, false, dir, &o);
    bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
    clear_fault();
    check(hit && rc != 0 && strcmp(image_store_error_name(&o), "EIO") == 0 &&
              strstr(image_store_error_message(&o), "readdir ") != NULL,
          "shim getdents:1:EIO fails the store's listing: %s", image_store_error_message(&o));
    image_store_close(&o);
}

/* openat, filtered to the lock file */
static void test_shim_openat_filtered_to_the_lock_file(void)
{
    const char *dir = shim_store(NULL);
    image_store_t o;
    set_fault("openat:every:EACCES", ".imagestore.lock");
    int rc = new_image_store(false, false, dir, &o);
    clear_fault();
    check(rc != 0 && strcmp(image_store_error_name(&o), "EACCES") == 0 &&
              strstr(image_store_error_message(&o), ".imagestore.lock") != NULL,
          "shim openat:every:EACCES with a filter fails the lock file's open: %s",
          image_store_error_message(&o));
    image_store_close(&o);
}

/* openat2 and its old name */
static void test_shim_openat2_and_its_old_name(void)
{
    const char *dir = shim_store(NULL);
    image_store_t o;
    char *data = NULL;
    size_t len = 0;
    const char *forms[] = {"openat2:1:EACCES", "open:1:EACCES"};
    for (int i = 0; i < 2; i++) {
        if (!open_store(dir, false, &o))
            break;
        set_fault(forms[i], NULL);
        int rc = o.big_data_len(&o, A_ID, "manifest", &data, &len);
        clear_fault();
        check(rc != 0 && strcmp(image_store_error_name(&o), "EACCES") == 0,
              "shim %s fails the next openat2", forms[i]);
        free(data);
        data = NULL;
        image_store_close(&o);
    }
}

/* fstat of a record: the open lists it as unreadable */
static void test_shim_fstat_filtered_to_one_record(void)
{
    const char *dir = shim_store(NULL);
    image_store_t o;
    char rec[256];
    snprintf(rec, sizeof(rec), "%s/images.json", B_ID);
    set_fault("fstat:every:EIO", rec);
    int rc = new_image_store(false, true, dir, &o);
    bool b_loaded = rc == 0 && o.exists(B_ID, &o), a_loaded = rc == 0 && o.exists(A_ID, &o);
    clear_fault();
    image_store_close(&o);
    check(rc == 0 && a_loaded && !b_loaded,
          "shim fstat:every:EIO with a filter fails that record's read only");
}

/* a listing that fails while an image directory is copied must fail the
 * write, not lose the files it did not list */
static void test_failing_readdir_while_copying_an_image_keeps_its_big_data(void)
{
    const char *dir = shim_store(NULL);
    image_store_t o;
    char *data = NULL;
    size_t len = 0;
    if (!open_store(dir, false, &o)) {
        check(false, "shim: open");
        image_store_close(&o);
        return;
    }
    set_fault("getdents:every:EIO", A_ID);
    int rc = o.set_metadata(&o, A_ID, "changed");
    bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
    clear_fault();
    char m[600];
    snprintf(m, sizeof(m), "%s", rc ? image_store_error_message(&o) : "succeeded");
    image_store_close(&o);
    bool kept = false;
    if (open_store(dir, false, &o)) {
        kept = o.big_data_len(&o, A_ID, "manifest", &data, &len) == 0 && len == 12;
        free(data);
        data = NULL;
    }
    image_store_close(&o);
    check(hit && rc != 0 && strstr(m, "readdir") && strstr(m, "Input/output error") && kept,
          "a failing readdir while an image is copied fails set_metadata and keeps its big "
          "data: %s",
          m);
}

/* ---- 8. fs_write_file (the snapshot's writer) under failures ---- */

/* The names in dir, sorted and joined with " " ("" when empty). */
static void dir_listing(const char *dir, char *out, size_t size)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0)
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? " " : "",
                     names[i]->d_name);
        free(names[i]);
    }
    free(names);
}

static bool file_holds(const char *path, const char *want)
{
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    return f != NULL && got == strlen(want) && memcmp(buf, want, got) == 0;
}

/* For a new file and a replaced one: each failing call of fs_write_file in
 * turn (the nth write, sync, link, rename, open), until the write no longer
 * reaches it. Each time the write fails, nothing is left behind (no temp
 * file, no backup link) and a replaced file keeps its bytes. */
static void test_fs_write_file_rolls_back_every_failure(void)
{
    static const char *const calls[] = {"write", "sync", "link", "rename", "openat2"};
    char dir[128], file[160], listing[512], want[64];
    snprintf(dir, sizeof(dir), "%s/fs-write", root);
    snprintf(file, sizeof(file), "%s/f", dir);
    for (int replace = 0; replace < 2; replace++) {
        for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
            int hits = 0;
            for (int n = 1; n < 20; n++) {
                rm_rf(dir);
                mkdir(dir, 0700);
                if (replace) {
                    FILE *f = fopen(file, "w");
                    if (f == NULL || fputs("old", f) < 0 || fclose(f) != 0) {
                        check(false, "fs_write_file: set up %s", file);
                        return;
                    }
                }
                snprintf(want, sizeof(want), "%s", replace ? "f" : "");
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                image_error err;
                memset(&err, 0, sizeof(err));
                char spec[64];
                snprintf(spec, sizeof(spec), "%s:%d:EIO", calls[c], n);
                set_fault(spec, dir);
                int rc = fs_write_file(dfd, dir, "f", "new", 3, &err);
                bool hit = getenv("IMAGESTORE_FAULT_HIT") != NULL;
                clear_fault();
                close(dfd);
                dir_listing(dir, listing, sizeof(listing));
                if (!hit) {
                    check(rc == 0 && file_holds(file, "new") && strcmp(listing, "f") == 0,
                          "fs_write_file (%s file) with no %s failing writes it (after %d failing)",
                          replace ? "a replaced" : "a new", calls[c], hits);
                    break;
                }
                hits++;
                check(rc != 0 && strcmp(listing, want) == 0 &&
                          (!replace || file_holds(file, "old")),
                      "fs_write_file (%s file) with %s fails and leaves the directory as it was "
                      "(%s; listing \"%s\")",
                      replace ? "a replaced" : "a new", spec, err.message, listing);
            }
        }
    }
    rm_rf(dir);
}

/* ---- 9. what takes the lock exclusively waits for a shared holder ---- */

/* Forks a process that holds a shared flock on dir's lock file for
 * `seconds`; returns its pid once it holds it (-1 on failure). */
static pid_t hold_shared_lock(const char *dir, double seconds)
{
    char path[256];
    int ready[2];
    snprintf(path, sizeof(path), "%s/.imagestore.lock", dir);
    if (pipe(ready) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char ok = fd >= 0 && flock(fd, LOCK_SH) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
        nanosleep(&d, NULL);
        _exit(0);
    }
    char got = 'n';
    close(ready[1]);
    if (pid < 0 || read(ready[0], &got, 1) != 1 || got != 'y') {
        if (pid > 0)
            waitpid(pid, NULL, 0);
        pid = -1;
    }
    close(ready[0]);
    return pid;
}

#define HOLD_SECONDS 0.6

/* A daemon open quarantines under the exclusive lock: it waits. */
static void test_daemon_open_waits_for_a_shared_holder(void)
{
    char dir[128], junk[160];
    snprintf(dir, sizeof(dir), "%s/wait-daemon", root);
    make_store(dir);
    snprintf(junk, sizeof(junk), "%s/junk", dir); /* not an image: the daemon moves it */
    mkdir(junk, 0700);
    pid_t holder = hold_shared_lock(dir, HOLD_SECONDS);
    double t0 = now();
    image_store_t st;
    int rc = new_image_store(true, false, dir, &st);
    double waited = now() - t0;
    image_store_close(&st);
    if (holder > 0)
        waitpid(holder, NULL, 0);
    check(holder > 0 && rc == 0 && waited >= HOLD_SECONDS * 0.8,
          "a daemon open waits for a process holding the lock shared (waited %.2f s)", waited);
}

/* A close that rewrites a stale snapshot does so under the exclusive lock.
 * Stale at close but not at a write: more than 64 + N/32 records the
 * snapshot does not vouch for, and at most 64 + N/4 (N = 400: 77 to 164). */
static void test_close_refreshing_the_snapshot_waits_for_a_shared_holder(void)
{
    char dir[128], snap[192];
    snprintf(dir, sizeof(dir), "%s/wait-close", root);
    snprintf(snap, sizeof(snap), "%s/.imagestore.snapshot", dir);
    rm_rf(dir);
    image_store_t st;
    bool ok = open_store(dir, false, &st) && image_store_batch_begin(&st) == 0;
    char ids[400][65];
    for (int i = 0; ok && i < 400; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%064x", i + 1);
        ok = st.create(ids[i], NULL, 0, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) == 0;
    }
    ok = ok && image_store_batch_commit(&st) == 0;
    image_store_close(&st); /* the snapshot vouches for all 400 */
    ok = ok && open_store(dir, false, &st) && image_store_batch_begin(&st) == 0;
    for (int i = 0; ok && i < 100; i++)
        ok = st.set_size(&st, ids[i], 1) == 0;
    ok = ok && image_store_batch_commit(&st) == 0;
    struct stat before;
    bool had = stat(snap, &before) == 0;
    pid_t holder = ok ? hold_shared_lock(dir, HOLD_SECONDS) : -1;
    double t0 = now();
    image_store_close(&st);
    double waited = now() - t0;
    if (holder > 0)
        waitpid(holder, NULL, 0);
    struct stat after;
    bool rewritten = had && stat(snap, &after) == 0 &&
                     (after.st_ino != before.st_ino || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                      after.st_mtim.tv_nsec != before.st_mtim.tv_nsec);
    check(ok && holder > 0 && rewritten && waited >= HOLD_SECONDS * 0.8,
          "a close that rewrites the snapshot waits for a process holding the lock shared "
          "(rewritten %d, waited %.2f s)", rewritten, waited);
    rm_rf(dir);
}

/* A writable open stamps a broken lock file under the exclusive lock. */
static void test_stamping_a_broken_lock_file_waits_for_a_shared_holder(void)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/wait-stamp", root);
    make_store(dir);
    zero_fill_lock(dir, -1);
    pid_t holder = hold_shared_lock(dir, HOLD_SECONDS);
    double t0 = now();
    image_store_t st;
    int rc = new_image_store(false, false, dir, &st);
    double waited = now() - t0;
    image_store_close(&st);
    if (holder > 0)
        waitpid(holder, NULL, 0);
    check(holder > 0 && rc == 0 && lock_magic_ok(dir) && waited >= HOLD_SECONDS * 0.8,
          "stamping a zero-filled lock file waits for a process holding it shared (waited %.2f s)",
          waited);
}

static const test_case tests[] = {
    TEST_CASE(test_walk_opens_a_plain_path),
    TEST_CASE(test_walk_refuses_symlinks_dotdot_and_bad_paths),
    TEST_CASE(test_walk_creates_the_last_component),
    TEST_CASE(test_openat2_refuses_a_symlinked_middle_component),
    TEST_CASE(test_fallback_refuses_a_symlinked_directory),
    TEST_CASE(test_fallback_refuses_a_symlinked_image_directory),
    TEST_CASE(test_big_data_of_a_fifo_fails_without_blocking),
    TEST_CASE(test_fifo_record_skipped_at_open),
    /* these four share one store, in this order */
    TEST_CASE(test_zero_filled_lock_stamped_by_a_writable_open),
    TEST_CASE(test_zero_filled_lock_stamp_is_fsynced),
    TEST_CASE(test_zero_filled_lock_read_only_is_degraded),
    TEST_CASE(test_writer_repairs_a_zero_filled_lock),
    TEST_CASE(test_truncated_lock_file),
    TEST_CASE(test_fifo_as_lock_file_refused),
    TEST_CASE(test_symlink_as_lock_file_refused),
    TEST_CASE(test_directory_as_lock_file_refused),
    TEST_CASE(test_second_store_of_the_thread_during_a_batch_gets_edeadlk),
    TEST_CASE(test_hook_writing_through_a_second_store_gets_edeadlk),
    TEST_CASE(test_store_in_another_process_waits_for_the_batch),
    TEST_CASE(test_store_in_another_thread_waits_for_the_batch),
    TEST_CASE(test_shim_read_every_with_a_path_filter),
    TEST_CASE(test_shim_read_1_fails_only_the_first_read),
    TEST_CASE(test_shim_getdents_fails_the_store_listing),
    TEST_CASE(test_shim_openat_filtered_to_the_lock_file),
    TEST_CASE(test_shim_openat2_and_its_old_name),
    TEST_CASE(test_shim_fstat_filtered_to_one_record),
    TEST_CASE(test_failing_readdir_while_copying_an_image_keeps_its_big_data),
    TEST_CASE(test_fs_write_file_rolls_back_every_failure),
    TEST_CASE(test_daemon_open_waits_for_a_shared_holder),
    TEST_CASE(test_close_refreshing_the_snapshot_waits_for_a_shared_holder),
    TEST_CASE(test_stamping_a_broken_lock_file_waits_for_a_shared_holder),
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rerun = rerun_under_fault_shim(argv);
    if (rerun != 0)
        return rerun;
    (void)argc;
    clear_fault();
    snprintf(root, sizeof(root), "/tmp/fs_lock_test-XXXXXX");
    if (mkdtemp(root) == NULL)
        return 2;
    RUN_CASES(tests);
    rm_rf(root);
    return tap_done();
}
