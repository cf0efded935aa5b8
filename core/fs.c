#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

char *fs_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *out = malloc(la + lb + 2);
    if (out == NULL)
        return NULL;
    if (la == 0) { /* "" is the base itself */
        memcpy(out, b, lb + 1);
        return out;
    }
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
    return out;
}

const char *fs_type_name(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "a file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symbolic link";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    default: return "of an unknown type";
    }
}

int fs_open_beneath(int basefd, const char *rel, int flags, unsigned mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, basefd, rel, &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) /* before Linux 5.6, or a seccomp profile */
        return fs_open_beneath_walk(basefd, rel, flags, mode);
    return (int)fd;
}

/* ELOOP when dirfd/name is a symlink (what RESOLVE_NO_SYMLINKS says), else
 * the errno the open failed with. */
static int symlink_is_eloop(int dirfd, const char *name, int errnum)
{
    struct stat st;
    if (errnum == ENOTDIR &&
        fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return ELOOP;
    return errnum;
}

int fs_open_beneath_walk(int basefd, const char *rel, int flags, unsigned mode)
{
    if (rel[0] == '/') { /* RESOLVE_BENEATH: never an absolute path */
        errno = EXDEV;
        return -1;
    }
    int dir = basefd, fd = -1, errnum = 0;
    char name[NAME_MAX + 1];
    for (const char *p = rel;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0) /* "", "a//b", "a/" */
            errnum = EINVAL;
        else if (n == 2 && p[0] == '.' && p[1] == '.') /* never up, not even back down */
            errnum = EXDEV;
        else if (n > NAME_MAX)
            errnum = ENAMETOOLONG;
        if (errnum != 0)
            break;
        memcpy(name, p, n);
        name[n] = '\0';
        if (slash == NULL) { /* the last component: the caller's flags */
            fd = openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW, mode);
            if (fd < 0)
                errnum = symlink_is_eloop(dir, name, errno);
            break;
        }
        /* O_PATH: like openat2, a walk needs only search permission */
        int next = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            errnum = symlink_is_eloop(dir, name, errno);
            break;
        }
        if (dir != basefd)
            close(dir);
        dir = next;
        p = slash + 1;
    }
    if (dir != basefd)
        close(dir);
    if (fd < 0)
        errno = errnum;
    return fd;
}

/* "<syscall> <base>/<rel>: <strerror>" */
static int fs_error(image_error *err, int errnum, const char *syscall, const char *base,
                    const char *rel)
{
    char *path = rel ? fs_join(base, rel) : NULL;
    error_sys(err, errnum, syscall, path ? path : base);
    free(path);
    return IMAGE_STORE_ESYS;
}

static int temp_name(char out[24])
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

/* Writes base/rel (created with extra_flags: O_EXCL or O_TRUNC); fdatasyncs
 * it unless deferred. On failure the file is removed. */
static int write_file(int basefd, const char *basepath, const char *rel, int extra_flags,
                      const void *data, size_t len, bool sync, image_error *err)
{
    int fd = fs_open_beneath(basefd, rel, O_WRONLY | O_CREAT | extra_flags, 0600);
    if (fd < 0)
        return fs_error(err, errno, "open", basepath, rel);
    const char *op = NULL;
    if (write_all(fd, data, len) != 0)
        op = "write";
    else if (sync && fdatasync(fd) != 0)
        op = "fsync";
    int saved = errno;
    if (close(fd) != 0 && op == NULL) {
        op = "close";
        saved = errno;
    }
    if (op != NULL) {
        unlinkat(basefd, rel, 0);
        return fs_error(err, saved, op, basepath, rel);
    }
    return 0;
}

static int sync_dir(int basefd, const char *basepath, const char *rel, image_error *err)
{
    int fd = rel[0] ? fs_open_beneath(basefd, rel, O_RDONLY | O_DIRECTORY, 0) : basefd;
    if (fd < 0)
        return fs_error(err, errno, "open", basepath, rel);
    int rc = fsync(fd) == 0 ? 0 : fs_error(err, errno, "fsync", basepath, rel[0] ? rel : NULL);
    if (fd != basefd)
        close(fd);
    return rc;
}

/* ---- transactions ---- */

void fs_txn_init(fs_txn *txn, int basefd, const char *basepath, bool deferred_sync)
{
    memset(txn, 0, sizeof(*txn));
    txn->basefd = basefd;
    txn->basepath = basepath;
    txn->deferred_sync = deferred_sync;
    strmap_init(&txn->dirs);
    strmap_init(&txn->files);
}

static void staged_free(fs_staged *s)
{
    free(s->name);
    free(s->dir);
    free(s->key);
    free(s);
}

static fs_staged *push(fs_txn *txn, fs_stage_kind kind, const char *dir, const char *name,
                       image_error *err)
{
    fs_staged *s = calloc(1, sizeof(*s));
    if (s == NULL || (txn->len == txn->cap && txn->cap > SIZE_MAX / 4)) {
        free(s);
        error_sys(err, ENOMEM, "malloc", txn->basepath);
        return NULL;
    }
    s->kind = kind;
    s->name = strdup(name);
    s->dir = dir ? strdup(dir) : NULL;
    s->key = dir ? fs_join(dir, name) : NULL;
    bool ok = s->name && (!dir || (s->dir && s->key)) && temp_name(s->tmp) == 0;
    if (ok && txn->len == txn->cap) {
        size_t cap = txn->cap ? txn->cap * 2 : 8;
        fs_staged **items = realloc(txn->items, cap * sizeof(*items));
        if (items != NULL) {
            txn->items = items;
            txn->cap = cap;
        }
        ok = items != NULL;
    }
    strmap *map = kind == FS_STAGE_FILE ? &txn->files : kind == FS_STAGE_DIR ? &txn->dirs : NULL;
    if (ok && map != NULL)
        ok = strmap_put(map, kind == FS_STAGE_FILE ? s->key : s->name, s) == 0;
    if (!ok) {
        staged_free(s);
        error_sys(err, ENOMEM, "malloc", txn->basepath);
        return NULL;
    }
    txn->items[txn->len++] = s;
    return s;
}

/* Forgets item i; the maps then point at the latest remaining item, if any. */
static void drop(fs_txn *txn, size_t i)
{
    fs_staged *s = txn->items[i];
    memmove(&txn->items[i], &txn->items[i + 1], (txn->len - i - 1) * sizeof(fs_staged *));
    txn->len--;
    strmap *map = s->kind == FS_STAGE_FILE ? &txn->files : s->kind == FS_STAGE_DIR ? &txn->dirs : NULL;
    const char *key = s->kind == FS_STAGE_FILE ? s->key : s->name;
    if (map != NULL && strmap_get(map, key) == s) {
        strmap_remove(map, key);
        for (size_t j = txn->len; j-- > 0;) { /* rare: only after a failure */
            fs_staged *o = txn->items[j];
            if (o->kind == s->kind && strcmp(o->kind == FS_STAGE_FILE ? o->key : o->name, key) == 0) {
                strmap_put(map, o->kind == FS_STAGE_FILE ? o->key : o->name, o); /* had room */
                break;
            }
        }
    }
    staged_free(s);
}

/* Forgets every item (after commit or when freeing). */
static void clear_items(fs_txn *txn)
{
    for (size_t i = 0; i < txn->len; i++)
        staged_free(txn->items[i]);
    txn->len = 0;
    strmap_free(&txn->dirs);
    strmap_free(&txn->files);
}

static const fs_staged *find_dir(const fs_txn *txn, const char *name)
{
    return strmap_get(&txn->dirs, name);
}

bool fs_txn_has_dir(const fs_txn *txn, const char *name)
{
    return find_dir(txn, name) != NULL;
}

bool fs_txn_removes(const fs_txn *txn, const char *name)
{
    for (size_t i = txn->len; i-- > 0;) /* the latest word on name counts */
        if (txn->items[i]->kind != FS_STAGE_FILE && strcmp(txn->items[i]->name, name) == 0)
            return txn->items[i]->kind == FS_STAGE_REMOVE;
    return false;
}

char *fs_txn_staged_path(const fs_txn *txn, const char *dir, const char *name)
{
    const fs_staged *d = dir ? find_dir(txn, dir) : NULL;
    if (d != NULL)
        return fs_join(d->tmp, name);
    char *key = fs_join(dir ? dir : "", name);
    const fs_staged *s = key ? strmap_get(&txn->files, key) : NULL;
    free(key);
    return s ? strdup(s->tmp) : NULL;
}

/* Stages a copy of the live directory `name`: a temp directory holding a
 * hard link to each of its files, to be edited and exchanged with it. */
static int stage_update(fs_txn *txn, const char *name, image_error *err)
{
    fs_staged *s = push(txn, FS_STAGE_DIR, NULL, name, err);
    if (s == NULL)
        return IMAGE_STORE_ESYS;
    s->replaces = true;
    int rc = 0, src = -1, dst = -1;
    if (mkdirat(txn->basefd, s->tmp, 0700) != 0) {
        int saved = errno;
        drop(txn, txn->len - 1);
        return fs_error(err, saved, "mkdir", txn->basepath, name);
    }
    fs_dirent *entries = NULL;
    size_t n = 0;
    const char *failed;
    int list_err;
    if ((src = fs_open_beneath(txn->basefd, name, O_RDONLY | O_DIRECTORY, 0)) < 0 ||
        (dst = openat(txn->basefd, s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = fs_error(err, errno, "open", txn->basepath, name);
    } else if ((list_err = fs_list_dir(src, NULL, &entries, &n, &failed)) != 0) {
        /* a listing cut short: the copy would lose files */
        rc = fs_error(err, list_err, failed, txn->basepath, name);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *file = entries[i].name;
        struct stat st;
        if (fstatat(src, file, &st, AT_SYMLINK_NOFOLLOW) != 0)
            rc = fs_error(err, errno, "stat", txn->basepath, name);
        else if (S_ISDIR(st.st_mode)) /* a link cannot carry it over, and dropping it would lose it */
            rc = error_set(err, IMAGE_STORE_ECORRUPT,
                           "image directory %s/%s holds subdirectory %s, which is not the "
                           "store's: repair() moves it to .quarantine",
                           txn->basepath, name, file);
        else if (linkat(src, file, dst, file, 0) != 0) /* a symlink or FIFO as it is */
            rc = fs_error(err, errno, "link", txn->basepath, name);
    }
    fs_dirents_free(entries, n);
    if (src >= 0)
        close(src);
    if (dst >= 0)
        close(dst);
    if (rc != 0) {
        fs_remove_tree_at(txn->basefd, s->tmp);
        drop(txn, txn->len - 1);
    }
    return rc;
}

int fs_txn_stage_file(fs_txn *txn, const char *dir, const char *name, const void *data,
                      size_t len, image_error *err)
{
    bool sync = !txn->deferred_sync;
    int rc;
    if (dir != NULL && dir[0] != '\0') {
        /* A file of an image directory: written into a staged version of the
         * whole directory (a new one, or a copy of the live one), which
         * commit puts in place in one step. */
        const fs_staged *d = find_dir(txn, dir);
        if (d == NULL && (rc = stage_update(txn, dir, err)) != 0)
            return rc;
        d = find_dir(txn, dir);
        char *rel = fs_join(d->tmp, name);
        if (rel == NULL)
            return error_sys(err, ENOMEM, "malloc", txn->basepath);
        /* never write through a hard link to the live file: replace the name */
        if (unlinkat(txn->basefd, rel, 0) != 0 && errno != ENOENT)
            rc = fs_error(err, errno, "unlink", txn->basepath, rel);
        else
            rc = write_file(txn->basefd, txn->basepath, rel, O_EXCL, data, len, sync, err);
        free(rel);
        return rc;
    }
    fs_staged *s = push(txn, FS_STAGE_FILE, "", name, err);
    if (s == NULL)
        return IMAGE_STORE_ESYS;
    rc = write_file(txn->basefd, txn->basepath, s->tmp, O_EXCL, data, len, sync, err);
    if (rc != 0)
        drop(txn, txn->len - 1);
    return rc;
}

int fs_txn_stage_dir(fs_txn *txn, const char *name, image_error *err)
{
    fs_staged *s = push(txn, FS_STAGE_DIR, NULL, name, err);
    if (s == NULL)
        return IMAGE_STORE_ESYS;
    if (mkdirat(txn->basefd, s->tmp, 0700) != 0) {
        int saved = errno;
        drop(txn, txn->len - 1);
        return fs_error(err, saved, "mkdir", txn->basepath, name);
    }
    return 0;
}

int fs_txn_stage_remove(fs_txn *txn, const char *name, image_error *err)
{
    const fs_staged *d = find_dir(txn, name);
    for (size_t i = txn->len; d != NULL && i-- > 0;)
        if (txn->items[i] == d) {
            /* staged in this transaction: nobody has seen it, so just drop it */
            bool existed = d->replaces;
            fs_remove_tree_at(txn->basefd, d->tmp);
            drop(txn, i);
            if (!existed)
                return 0; /* and a new directory has nothing live to remove */
            break;
        }
    return push(txn, FS_STAGE_REMOVE, NULL, name, err) ? 0 : IMAGE_STORE_ESYS;
}

/* Puts back what commit had already renamed, last first. */
static void rollback(fs_txn *txn, size_t upto)
{
    int base = txn->basefd;
    for (size_t i = upto; i-- > 0;) {
        fs_staged *s = txn->items[i];
        if (!s->done)
            continue;
        char *final = s->kind == FS_STAGE_FILE ? fs_join(s->dir, s->name) : NULL;
        char *backup = s->kind == FS_STAGE_FILE ? strdup(s->backup) : NULL;
        char *tmp = s->kind == FS_STAGE_FILE ? strdup(s->tmp) : NULL;
        if (s->kind == FS_STAGE_FILE && final && backup && tmp) {
            if (s->backup[0] != '\0')
                renameat(base, backup, base, final);
            else
                renameat(base, final, base, tmp); /* removed as a temp by fs_txn_free */
        } else if (s->kind == FS_STAGE_DIR) {
            if (s->replaces)
                renameat2(base, s->tmp, base, s->name, RENAME_EXCHANGE);
            else
                renameat(base, s->name, base, s->tmp);
        } else if (s->kind == FS_STAGE_REMOVE) {
            renameat(base, s->tmp, base, s->name);
        }
        free(final);
        free(backup);
        free(tmp);
        s->done = false;
        s->backup[0] = '\0';
    }
}

static int rename_one(fs_txn *txn, fs_staged *s, image_error *err)
{
    int base = txn->basefd;
    if (s->kind == FS_STAGE_DIR) {
        /* a new directory must not replace anything; an edited copy trades
         * places with the live one, atomically */
        if (renameat2(base, s->tmp, base, s->name, s->replaces ? RENAME_EXCHANGE : RENAME_NOREPLACE) != 0)
            return fs_error(err, errno, "rename", txn->basepath, s->name);
    } else if (s->kind == FS_STAGE_REMOVE) {
        if (renameat2(base, s->name, base, s->tmp, RENAME_NOREPLACE) != 0) {
            if (errno == ENOENT) /* already gone */
                return 0;
            return fs_error(err, errno, "rename", txn->basepath, s->name);
        }
    } else {
        char *final = fs_join(s->dir, s->name), *tmp = strdup(s->tmp);
        char *backup = NULL;
        int rc = 0;
        struct stat st;
        if (final == NULL || tmp == NULL) {
            rc = error_sys(err, ENOMEM, "malloc", txn->basepath);
        } else if (fstatat(base, final, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (temp_name(s->backup) != 0 || (backup = strdup(s->backup)) == NULL ||
                linkat(base, final, base, backup, 0) != 0) {
                rc = fs_error(err, errno ? errno : ENOMEM, "link", txn->basepath, final);
                s->backup[0] = '\0';
            }
        }
        if (rc == 0 && renameat(base, tmp, base, final) != 0) {
            rc = fs_error(err, errno, "rename", txn->basepath, final);
            if (backup != NULL)
                unlinkat(base, backup, 0);
            s->backup[0] = '\0';
        }
        free(final);
        free(tmp);
        free(backup);
        if (rc != 0)
            return rc;
    }
    s->done = true;
    return 0;
}

/* fsyncs the store directory once the first `upto` items are renamed: every
 * rename of a transaction happens there (a file of an image directory is
 * staged inside a copy of the whole directory, never renamed on its own). */
static int sync_touched_dirs(fs_txn *txn, size_t upto, image_error *err)
{
    int rc = 0;
    if (upto > 0)
        rc = sync_dir(txn->basefd, txn->basepath, "", err);
    return rc;
}

int fs_txn_commit(fs_txn *txn, image_error *err)
{
    size_t i;
    int rc = 0;
    if (txn->len == 0)
        return 0;
    /* 1. the data, before anything becomes visible */
    if (txn->deferred_sync) {
        if (syncfs(txn->basefd) != 0)
            return fs_error(err, errno, "syncfs", txn->basepath, NULL);
    } else {
        for (i = 0; i < txn->len && rc == 0; i++)
            if (txn->items[i]->kind == FS_STAGE_DIR)
                rc = sync_dir(txn->basefd, txn->basepath, txn->items[i]->tmp, err);
        if (rc != 0)
            return rc;
    }
    /* 2. the renames, in order; at a barrier, what came before is made durable first */
    for (i = 0; i < txn->len; i++) {
        if (i > 0 && txn->items[i]->barrier && (rc = sync_touched_dirs(txn, i, err)) != 0)
            break;
        if ((rc = rename_one(txn, txn->items[i], err)) != 0)
            break;
    }
    /* 3. the directories */
    if (rc == 0)
        rc = sync_touched_dirs(txn, txn->len, err);
    if (rc != 0) {
        rollback(txn, i < txn->len ? i : txn->len);
        return rc;
    }
    /* Durable: clean up backups and removed trees, then forget the items. */
    for (i = 0; i < txn->len; i++) {
        fs_staged *s = txn->items[i];
        if (s->kind == FS_STAGE_FILE && s->backup[0] != '\0') {
            char *backup = strdup(s->backup);
            if (backup != NULL)
                unlinkat(txn->basefd, backup, 0);
            free(backup);
        } else if ((s->kind == FS_STAGE_REMOVE || (s->kind == FS_STAGE_DIR && s->replaces)) &&
                   s->done) {
            fs_remove_tree_at(txn->basefd, s->tmp); /* the old version: a leftover is only garbage */
        }
    }
    clear_items(txn);
    return 0;
}

void fs_txn_commit_last(fs_txn *txn, const char *const *names, size_t n)
{
    bool first = true;
    for (size_t k = 0; k < n; k++) {
        fs_staged *d = strmap_get(&txn->dirs, names[k]);
        size_t at = 0;
        while (d != NULL && at < txn->len && txn->items[at] != d)
            at++;
        if (d == NULL || at == txn->len)
            continue;
        memmove(&txn->items[at], &txn->items[at + 1], (txn->len - at - 1) * sizeof(fs_staged *));
        txn->items[txn->len - 1] = d;
        d->barrier = d->barrier || first;
        first = false;
    }
}

void fs_txn_free(fs_txn *txn)
{
    for (size_t i = txn->len; i-- > 0;) {
        fs_staged *s = txn->items[i];
        if (!s->done && s->kind == FS_STAGE_FILE) {
            char *tmp = strdup(s->tmp);
            if (tmp != NULL)
                unlinkat(txn->basefd, tmp, 0);
            free(tmp);
        } else if (!s->done && s->kind == FS_STAGE_DIR) {
            fs_remove_tree_at(txn->basefd, s->tmp);
        }
    }
    clear_items(txn);
    free(txn->items);
    txn->items = NULL;
    txn->cap = 0;
    strmap_free(&txn->dirs);
    strmap_free(&txn->files);
}

int fs_write_file(int basefd, const char *basepath, const char *name, const void *data,
                  size_t len, image_error *err)
{
    fs_txn txn;
    fs_txn_init(&txn, basefd, basepath, false);
    int rc = fs_txn_stage_file(&txn, NULL, name, data, len, err);
    if (rc == 0)
        rc = fs_txn_commit(&txn, err);
    fs_txn_free(&txn);
    return rc;
}

/* ---- reading and removing ---- */

static int compare_dirents(const void *a, const void *b)
{
    return strcmp(((const fs_dirent *)a)->name, ((const fs_dirent *)b)->name);
}

void fs_dirents_free(fs_dirent *entries, size_t len)
{
    for (size_t i = 0; i < len; i++)
        free(entries[i].name);
    free(entries);
}

int fs_list_dir(int dirfd, const char *rel, fs_dirent **out, size_t *len, const char **failed)
{
    *out = NULL;
    *len = 0;
    *failed = "open";
    int fd = rel ? fs_open_beneath(dirfd, rel, O_RDONLY | O_DIRECTORY, 0)
                 : openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno ? errno : EIO;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int saved = errno;
        close(fd);
        *failed = "opendir";
        return saved;
    }
    fs_dirent *entries = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            fs_dirent *grown = realloc(entries, cap * sizeof(*grown));
            if (grown == NULL)
                break;
            entries = grown;
        }
        if ((entries[n].name = strdup(e->d_name)) == NULL)
            break;
        entries[n++].type = e->d_type;
    }
    rc = errno; /* a failed readdir, or ENOMEM from above */
    *failed = e != NULL ? "malloc" : "readdir";
    closedir(d);
    if (rc != 0) {
        fs_dirents_free(entries, n);
        return rc;
    }
    if (n > 1)
        qsort(entries, n, sizeof(*entries), compare_dirents);
    *out = entries;
    *len = n;
    return 0;
}

int fs_remove_tree_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(parent, name, 0) == 0 ? 0 : errno;
        return errno == ENOENT ? 0 : errno;
    }
    fs_dirent *entries;
    size_t n;
    const char *failed;
    int rc = fs_list_dir(fd, NULL, &entries, &n, &failed);
    for (size_t i = 0; i < n; i++) {
        int r;
        if (entries[i].type == DT_DIR || entries[i].type == DT_UNKNOWN)
            r = fs_remove_tree_at(fd, entries[i].name);
        else
            r = unlinkat(fd, entries[i].name, 0) == 0 ? 0 : errno;
        if (r != 0 && rc == 0)
            rc = r;
    }
    fs_dirents_free(entries, n);
    close(fd);
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && rc == 0)
        rc = errno;
    return rc;
}

/* What a non-regular st is, for messages. */
/* "read <base>/<rel>: not a regular file (a FIFO)", errno EINVAL. */
static int not_regular(image_error *err, const struct stat *st, const char *base, const char *rel)
{
    char *path = fs_join(base, rel);
    error_set(err, IMAGE_STORE_ESYS, "read %s: not a regular file (%s)", path ? path : base,
              fs_type_name(st->st_mode));
    err->sys_errno = EINVAL;
    free(path);
    return IMAGE_STORE_ESYS;
}

int fs_read_file(int basefd, const char *basepath, const char *rel, size_t size_hint, char **data,
                 size_t *len, image_error *err)
{
    return fs_read_file_max(basefd, basepath, rel, size_hint, SIZE_MAX, data, len, err);
}

int fs_read_file_max(int basefd, const char *basepath, const char *rel, size_t size_hint,
                     size_t max, char **data, size_t *len, image_error *err)
{
    /* O_NONBLOCK: opening (or reading) a FIFO planted in the store must not
     * hang; O_NOCTTY: nor may a terminal become ours */
    int fd = fs_open_beneath(basefd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return fs_error(err, errno, "open", basepath, rel);
    struct stat st;
    bool checked = size_hint == 0;
    if (checked) { /* no hint: ask, and refuse what is not a regular file */
        if (fstat(fd, &st) != 0) {
            int saved = errno;
            close(fd);
            return fs_error(err, saved, "stat", basepath, rel);
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            return not_regular(err, &st, basepath, rel);
        }
        if ((uint64_t)st.st_size > max) {
            close(fd);
            return fs_error(err, EFBIG, "read", basepath, rel);
        }
        size_hint = (size_t)st.st_size;
    }
    /* One byte more than expected: a short read then means end of file. */
    size_t cap = size_hint + 2, used = 0;
    char *buf = malloc(cap);
    int rc = 0, read_errno = 0;
    while (buf != NULL) {
        if (used + 1 >= cap) { /* larger than expected: is it a file at all? */
            if (!checked) {
                if (fstat(fd, &st) != 0)
                    rc = fs_error(err, errno, "stat", basepath, rel);
                else if (!S_ISREG(st.st_mode)) /* /dev/zero would never end */
                    rc = not_regular(err, &st, basepath, rel);
                checked = true;
                if (rc != 0)
                    break;
            }
            char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            read_errno = errno;
            break;
        }
        used += (size_t)n;
        if (used > max) { /* it grew past the bound while we read */
            read_errno = EFBIG;
            break;
        }
        if (n == 0 || used + 1 < cap) /* end of file, or a short read of a regular file */
            break;
    }
    /* With a hint the common case (the expected bytes) costs no fstat: a
     * non-regular file that delivers exactly those bytes gives nothing a
     * regular file with them would not. Anything else (more, fewer, an
     * error, EAGAIN of an empty FIFO) is checked before it is believed. */
    if (!checked && buf != NULL && (read_errno != 0 || used != size_hint)) {
        if (fstat(fd, &st) != 0) {
            rc = fs_error(err, errno, "stat", basepath, rel);
        } else if (!S_ISREG(st.st_mode)) {
            rc = not_regular(err, &st, basepath, rel);
        }
    }
    if (rc == 0 && read_errno != 0)
        rc = fs_error(err, read_errno, "read", basepath, rel);
    close(fd);
    if (buf == NULL)
        return fs_error(err, ENOMEM, "read", basepath, rel);
    if (rc != 0) {
        free(buf);
        return rc;
    }
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
