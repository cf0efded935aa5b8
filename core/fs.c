#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"

int fs_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

char *fs_join(const char *dirpath, const char *name)
{
    size_t a = strlen(dirpath), b = strlen(name);
    char *out = malloc(a + b + 2);
    if (out == NULL)
        return NULL;
    memcpy(out, dirpath, a);
    out[a] = '/';
    memcpy(out + a + 1, name, b + 1);
    return out;
}

/* Error about dirpath/name; keeps errnum. */
static int fs_error(image_error *err, int errnum, const char *syscall, const char *dirpath,
                    const char *name)
{
    char *path = name ? fs_join(dirpath, name) : NULL;
    error_sys(err, errnum, syscall, path ? path : dirpath);
    free(path);
    return IMAGE_STORE_ESYS;
}

static int fs_temp_name(char out[24])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[8];
    if (fs_random_bytes(r, sizeof(r)) != 0)
        return -1;
    memcpy(out, FS_TMP_PREFIX, 5);
    for (int i = 0; i < 8; i++) {
        out[5 + 2 * i] = hex[r[i] >> 4];
        out[6 + 2 * i] = hex[r[i] & 15];
    }
    out[21] = '\0';
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void fs_txn_init(fs_txn *txn)
{
    memset(txn, 0, sizeof(*txn));
}

static fs_staged *txn_push(fs_txn *txn, int dirfd, const char *dirpath, const char *name,
                           image_error *err)
{
    if (txn->len == txn->cap) {
        size_t cap = txn->cap ? txn->cap * 2 : 4;
        fs_staged *items = realloc(txn->items, cap * sizeof(*items));
        if (items == NULL) {
            error_sys(err, ENOMEM, "malloc", dirpath);
            return NULL;
        }
        txn->items = items;
        txn->cap = cap;
    }
    fs_staged *s = &txn->items[txn->len];
    memset(s, 0, sizeof(*s));
    s->own_fd = -1;
    s->dirfd = dirfd;
    s->dirpath = strdup(dirpath);
    s->name = strdup(name);
    if (s->dirpath == NULL || s->name == NULL) {
        free(s->dirpath);
        free(s->name);
        error_sys(err, ENOMEM, "malloc", dirpath);
        return NULL;
    }
    txn->len++;
    return s;
}

static void txn_pop(fs_txn *txn)
{
    fs_staged *s = &txn->items[--txn->len];
    if (s->own_fd >= 0)
        close(s->own_fd);
    free(s->dirpath);
    free(s->name);
}

/* Writes data into a new file dirfd/name (O_EXCL) and fdatasyncs it. */
static int write_new_file(int dirfd, const char *dirpath, const char *name, const void *data,
                          size_t len, image_error *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fs_error(err, errno, "open", dirpath, name);
    const char *op = NULL;
    if (write_all(fd, data, len) != 0)
        op = "write";
    else if (fdatasync(fd) != 0)
        op = "fsync";
    if (op != NULL) {
        int saved = errno;
        close(fd);
        unlinkat(dirfd, name, 0);
        return fs_error(err, saved, op, dirpath, name);
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlinkat(dirfd, name, 0);
        return fs_error(err, saved, "close", dirpath, name);
    }
    return 0;
}

static bool txn_is_staged_dir(const fs_txn *txn, int dirfd)
{
    for (size_t i = 0; i < txn->len; i++)
        if (txn->items[i].is_dir && txn->items[i].own_fd == dirfd)
            return true;
    return false;
}

int fs_txn_stage_file(fs_txn *txn, int dirfd, const char *dirpath, const char *name,
                      const void *data, size_t len, image_error *err)
{
    if (txn_is_staged_dir(txn, dirfd)) /* the whole directory is new: write in place */
        return write_new_file(dirfd, dirpath, name, data, len, err);
    fs_staged *s = txn_push(txn, dirfd, dirpath, name, err);
    if (s == NULL)
        return IMAGE_STORE_ESYS;
    for (int tries = 0;; tries++) {
        if (fs_temp_name(s->tmp) != 0) {
            int saved = errno;
            txn_pop(txn);
            return fs_error(err, saved, "getrandom", dirpath, NULL);
        }
        int rc = write_new_file(dirfd, dirpath, s->tmp, data, len, err);
        if (rc == 0)
            return 0;
        if (err->sys_errno != EEXIST || tries > 8) {
            txn_pop(txn);
            return rc;
        }
    }
}

int fs_txn_stage_dir(fs_txn *txn, int dirfd, const char *dirpath, const char *name, int *fd,
                     image_error *err)
{
    fs_staged *s = txn_push(txn, dirfd, dirpath, name, err);
    if (s == NULL)
        return IMAGE_STORE_ESYS;
    s->is_dir = true;
    for (int tries = 0;; tries++) {
        if (fs_temp_name(s->tmp) != 0) {
            int saved = errno;
            txn_pop(txn);
            return fs_error(err, saved, "getrandom", dirpath, NULL);
        }
        if (mkdirat(dirfd, s->tmp, 0700) == 0)
            break;
        if (errno != EEXIST || tries > 8) {
            int saved = errno;
            txn_pop(txn);
            return fs_error(err, saved, "mkdir", dirpath, name);
        }
    }
    s->own_fd = openat(dirfd, s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (s->own_fd < 0) {
        int saved = errno;
        unlinkat(dirfd, s->tmp, AT_REMOVEDIR);
        txn_pop(txn);
        return fs_error(err, saved, "open", dirpath, name);
    }
    *fd = s->own_fd;
    return 0;
}

/* Puts back what commit had already renamed, last first. */
static void txn_rollback(fs_txn *txn, size_t upto)
{
    for (size_t i = upto; i-- > 0;) {
        fs_staged *s = &txn->items[i];
        if (!s->renamed)
            continue;
        if (s->backup[0] != '\0')
            renameat(s->dirfd, s->backup, s->dirfd, s->name);
        else if (s->is_dir)
            renameat(s->dirfd, s->name, s->dirfd, s->tmp); /* freed as a temp below */
        else
            unlinkat(s->dirfd, s->name, 0);
        s->renamed = false;
        s->backup[0] = '\0';
    }
}

static int sync_dir(int dirfd, const char *dirpath, image_error *err)
{
    if (fsync(dirfd) != 0)
        return fs_error(err, errno, "fsync", dirpath, NULL);
    return 0;
}

int fs_txn_commit(fs_txn *txn, image_error *err)
{
    size_t i;
    int rc = 0;
    for (i = 0; i < txn->len; i++) {
        fs_staged *s = &txn->items[i];
        if (s->is_dir && fsync(s->own_fd) != 0) {
            rc = fs_error(err, errno, "fsync", s->dirpath, s->name);
            break;
        }
        if (!s->is_dir) {
            struct stat st;
            if (fstatat(s->dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (fs_temp_name(s->backup) != 0 ||
                    linkat(s->dirfd, s->name, s->dirfd, s->backup, 0) != 0) {
                    rc = fs_error(err, errno, "link", s->dirpath, s->name);
                    s->backup[0] = '\0';
                    break;
                }
            }
        }
        if (renameat(s->dirfd, s->tmp, s->dirfd, s->name) != 0) {
            rc = fs_error(err, errno, "rename", s->dirpath, s->name);
            if (s->backup[0] != '\0')
                unlinkat(s->dirfd, s->backup, 0);
            s->backup[0] = '\0';
            break;
        }
        s->renamed = true;
    }
    if (rc != 0) {
        txn_rollback(txn, i);
        return rc;
    }
    /* Every rename is in place: make the directories durable, each once. */
    for (i = 0; i < txn->len; i++) {
        fs_staged *s = &txn->items[i];
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || txn->items[j].dirfd == s->dirfd;
        if (!seen && (rc = sync_dir(s->dirfd, s->dirpath, err)) != 0)
            break;
    }
    if (rc != 0) {
        txn_rollback(txn, txn->len);
        return rc;
    }
    for (i = 0; i < txn->len; i++) {
        fs_staged *s = &txn->items[i];
        if (s->backup[0] != '\0')
            unlinkat(s->dirfd, s->backup, 0);
        s->backup[0] = '\0';
    }
    txn->committed = true;
    return 0;
}

void fs_txn_free(fs_txn *txn)
{
    while (txn->len > 0) {
        fs_staged *s = &txn->items[txn->len - 1];
        if (!s->renamed) {
            if (s->is_dir)
                fs_remove_tree_at(s->dirfd, s->tmp);
            else
                unlinkat(s->dirfd, s->tmp, 0);
        }
        txn_pop(txn);
    }
    free(txn->items);
    fs_txn_init(txn);
}

int fs_remove_tree_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(parent, name, 0) == 0 ? 0 : errno;
        return errno == ENOENT ? 0 : errno;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int saved = errno;
        close(fd);
        return saved;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int r;
        if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)
            r = fs_remove_tree_at(fd, e->d_name);
        else
            r = unlinkat(fd, e->d_name, 0) == 0 ? 0 : errno;
        if (r != 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && rc == 0)
        rc = errno;
    return rc;
}

int fs_remove_dir(int dirfd, const char *dirpath, const char *name, image_error *err)
{
    char tmp[24];
    for (int tries = 0;; tries++) {
        if (fs_temp_name(tmp) != 0)
            return fs_error(err, errno, "getrandom", dirpath, NULL);
        if (renameat2(dirfd, name, dirfd, tmp, RENAME_NOREPLACE) == 0)
            break;
        if (errno != EEXIST || tries > 8)
            return fs_error(err, errno, "rename", dirpath, name);
    }
    if (fsync(dirfd) != 0) {
        int saved = errno;
        renameat(dirfd, tmp, dirfd, name);
        return fs_error(err, saved, "fsync", dirpath, NULL);
    }
    fs_remove_tree_at(dirfd, tmp); /* a leftover .tmp- tree is garbage, not data */
    return 0;
}

int fs_read_file_at(int dirfd, const char *dirpath, const char *name, char **data, size_t *len,
                    image_error *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fs_error(err, errno, "open", dirpath, name);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return fs_error(err, saved, "stat", dirpath, name);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fs_error(err, EINVAL, "read", dirpath, name);
    }
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return fs_error(err, ENOMEM, "read", dirpath, name);
    }
    for (;;) {
        if (used + 1 >= cap) { /* the file grew */
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                close(fd);
                return fs_error(err, ENOMEM, "read", dirpath, name);
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            free(buf);
            close(fd);
            return fs_error(err, saved, "read", dirpath, name);
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}

int fs_mkdir_all(const char *path, unsigned mode, image_error *err)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return error_sys(err, ENOMEM, "mkdir", path);
    int rc = 0;
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, (mode_t)mode) != 0 && errno != EEXIST) {
            rc = error_sys(err, errno, "mkdir", copy);
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(copy);
    return rc;
}
