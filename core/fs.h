/*
 * Filesystem layer: every write goes through a transaction.
 *
 *   fs_txn txn;
 *   fs_txn_init(&txn);
 *   fs_txn_stage_file(&txn, dirfd, dirpath, "images.json", buf, len, err);  // temp + write + fdatasync
 *   ...more files, possibly in other directories...
 *   fs_txn_commit(&txn, err);   // rename each in order, then fsync each directory
 *   fs_txn_free(&txn);          // unlinks whatever was staged and not committed
 *
 * A staged file is a `.tmp-<random>` file (mode 0600) in the target's own
 * directory. If a rename in commit fails, the renames already done are undone
 * (replaced files come back from a hard-link backup), so a failed commit leaves
 * the directories as they were. Names starting with ".tmp-" are never a record
 * or a big-data file name.
 *
 * A new image directory is made the same way: fs_txn_stage_dir() makes a
 * `.tmp-<random>` directory, files staged into it go straight to their final
 * names (fdatasync'd), and commit fsyncs it and renames it into place.
 */
#ifndef IMAGE_FS_H
#define IMAGE_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define FS_TMP_PREFIX ".tmp-"

typedef struct fs_staged {
    int dirfd;          /* directory the entry goes into (not owned) */
    char *dirpath;      /* for messages */
    char *name;         /* final name */
    char tmp[24];       /* staged name */
    char backup[24];    /* hard link to the replaced file during commit, or "" */
    bool is_dir;
    int own_fd;         /* for a staged directory: its fd (owned), else -1 */
    bool renamed;
} fs_staged;

typedef struct fs_txn {
    fs_staged *items;
    size_t len, cap;
    bool committed;
} fs_txn;

void fs_txn_init(fs_txn *txn);
int fs_txn_stage_file(fs_txn *txn, int dirfd, const char *dirpath, const char *name,
                      const void *data, size_t len, image_error *err);
/* Makes a temp directory that becomes dirpath/name at commit; *fd receives
 * its descriptor (owned by the transaction) to stage files into. */
int fs_txn_stage_dir(fs_txn *txn, int dirfd, const char *dirpath, const char *name, int *fd,
                     image_error *err);
int fs_txn_commit(fs_txn *txn, image_error *err);
void fs_txn_free(fs_txn *txn);

/* Atomically removes dirpath/name (a directory): renames it to a temp name,
 * fsyncs dirfd, then deletes the tree. */
int fs_remove_dir(int dirfd, const char *dirpath, const char *name, image_error *err);
/* Removes a tree below dirfd without following symlinks; best effort, returns
 * 0 or an errno. */
int fs_remove_tree_at(int dirfd, const char *name);

/* Reads a whole regular file into a malloc'd, NUL-terminated buffer. */
int fs_read_file_at(int dirfd, const char *dirpath, const char *name, char **data, size_t *len,
                    image_error *err);

/* mkdir -p with mode for the missing components; 0 or error. */
int fs_mkdir_all(const char *path, unsigned mode, image_error *err);

/* Fills buf with len random bytes from getrandom(2); 0 or -1. */
int fs_random_bytes(void *buf, size_t len);

/* dirpath + "/" + name, malloc'd. */
char *fs_join(const char *dirpath, const char *name);

#endif
