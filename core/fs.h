/*
 * Filesystem layer. Every write goes through a transaction on a base
 * directory (the store); paths are relative to it and never leave it.
 *
 *   fs_txn txn;
 *   fs_txn_init(&txn, storefd, "/path/of/store", false);
 *   fs_txn_stage_dir(&txn, id, err);                        // a new image directory
 *   fs_txn_stage_file(&txn, id, "images.json", buf, n, err); // a file in it, or in an existing one
 *   fs_txn_stage_remove(&txn, id, err);                     // or: an image directory to delete
 *   fs_txn_commit(&txn, err);   // make data durable, rename everything in order, fsync dirs
 *   fs_txn_free(&txn);          // removes whatever was staged and not committed
 *
 * Every temporary name is a ".tmp-<random>" entry of the base directory
 * itself. A directory below the base (an image) only ever changes whole: a
 * new one is staged as a temp directory and renamed into place; a live one
 * is staged as a temp copy (hard links to its files), edited there, and
 * exchanged with the live one in one renameat2(RENAME_EXCHANGE), after which
 * the old version is deleted; a removed one is renamed to a temp name, then
 * deleted. So a reader, or a crash, sees an image before or after a change,
 * never in between. A file of the base itself (mode 0600) is staged beside
 * it and renamed over it, the replaced one kept as a hard link until the
 * commit is durable. Temp names are never records or big-data files, and a
 * crash leaves garbage only in the base directory, where one listing finds
 * it (daemon open removes it).
 *
 * Durability: without deferred_sync every staged file is fdatasync'd when it
 * is written; with it (batches) nothing is synced until commit, which calls
 * syncfs() once. Either way, commit renames only after the data is durable,
 * then fsyncs each directory it renamed into, once. If a rename fails, the
 * renames already done are undone (a replaced file comes back from a
 * hard-link backup), so a failed commit leaves the directories as they were.
 */
#ifndef IMAGE_FS_H
#define IMAGE_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "index.h"

#define FS_TMP_PREFIX ".tmp-"

typedef enum { FS_STAGE_FILE, FS_STAGE_DIR, FS_STAGE_REMOVE } fs_stage_kind;

typedef struct fs_staged {
    fs_stage_kind kind;
    char *key;        /* FILE: "dir/name", the lookup key */
    char *dir;        /* FILE: the directory below base ("" = base); else NULL */
    char *name;       /* final name (FILE: in dir; DIR/REMOVE: in base) */
    char tmp[24];     /* the staged (or removed-to) name, in the base directory */
    char backup[24];  /* hard link to a replaced file during commit (in the base), or "" */
    bool done;        /* renamed during commit */
    bool replaces;    /* DIR: an edited copy of a live directory, exchanged with it */
    bool barrier;     /* commit makes everything renamed before it durable first */
} fs_staged;

typedef struct fs_txn {
    int basefd;
    const char *basepath; /* for messages; borrowed */
    bool deferred_sync;
    fs_staged **items;    /* in staging order */
    size_t len, cap;
    strmap dirs;          /* name -> its DIR item */
    strmap files;         /* "dir/name" -> its latest FILE item */
} fs_txn;

void fs_txn_init(fs_txn *txn, int basefd, const char *basepath, bool deferred_sync);
/* Stages dir/name (dir: a directory below base, or a directory staged in
 * this transaction by its final name). */
int fs_txn_stage_file(fs_txn *txn, const char *dir, const char *name, const void *data,
                      size_t len, image_error *err);
int fs_txn_stage_dir(fs_txn *txn, const char *name, image_error *err);
int fs_txn_stage_remove(fs_txn *txn, const char *name, image_error *err);
/* True when name is a directory staged (new) in this transaction. */
bool fs_txn_has_dir(const fs_txn *txn, const char *name);
/* True when the live directory name is staged for removal (and not staged
 * anew since). */
bool fs_txn_removes(const fs_txn *txn, const char *name);
/* Where the staged content of dir/name is, relative to base (malloc'd), or
 * NULL when nothing is staged for it. */
char *fs_txn_staged_path(const fs_txn *txn, const char *dir, const char *name);
int fs_txn_commit(fs_txn *txn, image_error *err);
/* Moves the staged directories named (in this order) to the end of the
 * commit, behind a barrier: commit puts them in place only after every
 * rename before them is durable (the directories fsynced). Names not staged
 * are skipped. An image that gains a name is put in place this way after
 * the images that lost it, so that no crash leaves the name in both. */
void fs_txn_commit_last(fs_txn *txn, const char *const *names, size_t n);
/* Removes everything staged and not committed; the transaction is empty after. */
void fs_txn_free(fs_txn *txn);

/* Opens rel below basefd without following symlinks anywhere on the way:
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, where that is ENOSYS
 * (before Linux 5.6, some seccomp profiles), fs_open_beneath_walk(). -1 with
 * errno: ELOOP for a symlink, EXDEV for a way out. */
int fs_open_beneath(int basefd, const char *rel, int flags, unsigned mode);
/* The fallback, exposed for tests: walks rel one component at a time, each
 * directory opened O_PATH | O_DIRECTORY | O_NOFOLLOW, the last one with
 * flags | O_NOFOLLOW. Refuses an absolute path and ".." (EXDEV), an empty
 * component ("", "a//b", "a/": EINVAL), a symlink anywhere (ELOOP). */
int fs_open_beneath_walk(int basefd, const char *rel, int flags, unsigned mode);
/* Removes a tree below dirfd without following symlinks; returns 0 or an errno. */
/* An entry of a directory listing. */
typedef struct fs_dirent {
    char *name;
    unsigned char type; /* d_type: DT_DIR, DT_REG, ..., or DT_UNKNOWN when not said */
} fs_dirent;

/* The one directory lister: every entry of the directory rel beneath dirfd
 * (opened without following symlinks; NULL: dirfd itself) but "." and "..",
 * in name order. 0, or an errno with *failed naming the call that failed
 * ("open", "opendir", "readdir", "malloc") and nothing allocated. */
int fs_list_dir(int dirfd, const char *rel, fs_dirent **out, size_t *len, const char **failed);
void fs_dirents_free(fs_dirent *entries, size_t len);
int fs_remove_tree_at(int dirfd, const char *name);
/* Reads base/rel into a malloc'd, NUL-terminated buffer. Only a regular
 * file is read: anything else is "read <path>: not a regular file (a FIFO)"
 * (IMAGE_STORE_ESYS, errno EINVAL); opening never blocks. With a size_hint
 * (the size the file should have; 0: unknown) the fstat is made only when
 * the bytes read are not exactly that many. */
int fs_read_file(int basefd, const char *basepath, const char *rel, size_t size_hint, char **data,
                 size_t *len, image_error *err);
/* fs_read_file() of a file of at most max bytes: a larger one (also one
 * that grows past max while it is read) is errno EFBIG, and is never read
 * whole. */
int fs_read_file_max(int basefd, const char *basepath, const char *rel, size_t size_hint,
                     size_t max, char **data, size_t *len, image_error *err);
/* Writes base/name durably and atomically on its own (a transaction of one). */
int fs_write_file(int basefd, const char *basepath, const char *name, const void *data,
                  size_t len, image_error *err);
/* mkdir -p with mode for the missing components; 0 or error. */
int fs_mkdir_all(const char *path, unsigned mode, image_error *err);
int fs_random_bytes(void *buf, size_t len);
/* "a file", "a symbolic link", "a FIFO", "a directory", ...: a mode's type,
 * for messages. */
const char *fs_type_name(unsigned mode);
/* a + "/" + b, malloc'd. */
char *fs_join(const char *a, const char *b);

#endif
