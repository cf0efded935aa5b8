/*
 * The snapshot: every record in one binary file, <dir>/.imagestore.snapshot,
 * so that open reads one file instead of one per image. It is only a cache:
 * each entry carries the inode, mtime and ctime of its record file,
 * <id>/images.json, and is used only while that file still has exactly
 * those (every write of ours makes a new file; an edit in place changes its
 * mtime and ctime). A directory changed within a second of the
 * snapshot could change again within the same timestamp tick unseen (the
 * "racy" case), so its entry is used only while the change token is still
 * the snapshot's. A snapshot that fails its sha256, or does not decode, is
 * ignored whole.
 */
#ifndef IMAGE_SNAPSHOT_H
#define IMAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "error.h"
#include "record.h"

#define SNAPSHOT_FILE ".imagestore.snapshot"

typedef struct snapshot {
    char *data; /* the whole file, read */
    size_t len;
    uint64_t generation; /* the lock file's change token when it was written */
    char boot_id[40];    /* and the boot it was written in */
    size_t *entries; /* offsets of the entries, in ID order */
    size_t count;
    size_t cursor;   /* where the last snapshot_take() stopped */
} snapshot;

/* Writes the snapshot of records (durably); 0 or an error. */
int snapshot_write(int dirfd, const char *dir, image_record *const *records, size_t n,
                   uint64_t generation, image_error *err);
/* Reads and verifies the snapshot; NULL when missing or unusable. */
snapshot *snapshot_read(int dirfd, const char *dir);
/* The record for id if the snapshot has it and st (of its record file)
 * still matches; NULL otherwise (also on a malformed entry). A "racy" entry also
 * needs the change token to be the one the snapshot was written at, in the
 * same boot: no writer came after it. */
image_record *snapshot_take(snapshot *snap, const char *id, const struct stat *st,
                            uint64_t generation, record_arena *arena);
void snapshot_free(snapshot *snap);

#endif
