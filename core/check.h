/*
 * Consistency check: a scan of the disk (not of memory) that lists what is
 * wrong with a store, without changing anything. repair() in store.c acts on
 * these findings.
 */
#ifndef IMAGE_CHECK_H
#define IMAGE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Where upkeep moves what cannot be an image (never deleted). */
#define QUARANTINE_DIR ".quarantine"

typedef enum finding_kind {
    FINDING_UNPARSEABLE,      /* images.json is not a valid record */
    FINDING_ID_MISMATCH,      /* the record's id is not its directory's name */
    FINDING_NO_RECORD,        /* an image directory without images.json */
    FINDING_NOT_IMAGE,        /* a directory whose name is not an image ID */
    FINDING_BIG_DATA_MISSING, /* a recorded big-data file is not there */
    FINDING_BIG_DATA_SIZE,    /* its size differs from the record */
    FINDING_BIG_DATA_DIGEST,  /* its sha256 differs from the record */
    FINDING_ORPHAN_FILE,      /* a file in an image directory that no record names */
    FINDING_DUPLICATE_NAME,   /* a name another image (sorting first) holds too */
    FINDING_TEMP_FILE,        /* a leftover .tmp- file or directory */
    FINDING_NOT_DIRECTORY,    /* an image's place (or .quarantine) taken by a non-directory */
    FINDING_NOT_FILE,         /* a symlink, FIFO, socket, device or subdirectory in an image */
    FINDING_UNREADABLE,       /* an I/O or permission error: the content is unknown */
    FINDING_UNSUPPORTED       /* a record beyond this library's limits (too deep, \u0000) */
} finding_kind;

typedef struct finding {
    finding_kind kind;
    char *path;    /* what it is about */
    char *detail;  /* a sentence */
    char *entry;   /* the store directory entry (image ID) it is in */
    char *item;    /* big-data key, file name or image name, or NULL */
    int64_t size;  /* the actual size, for big-data findings */
    char digest[72]; /* the actual sha256, for big-data findings */
} finding;

/* Scans the store at dirfd; 0, or an error (allocation, unreadable store). */
int check_scan(int dirfd, const char *dir, finding **out, size_t *len, image_error *err);
/* Reads <id>/images.json below dirfd, and says what is wrong when it is no
 * usable record: 0 with *out the record; or 0 with *out NULL, *kind
 * (FINDING_NO_RECORD: missing or not a regular file; FINDING_UNREADABLE: an
 * I/O or permission error, the content unknown; FINDING_UNPARSEABLE,
 * FINDING_UNSUPPORTED, FINDING_ID_MISMATCH), a sentence in why, and *about
 * the file it is about (RECORD_FILE, or NULL when there is none); -1 when
 * memory ran out. Load, check and repair all classify records this way. */
struct image_record;
int check_read_record(int dirfd, const char *dir, const char *id, struct image_record **out,
                      finding_kind *kind, const char **about, char *why, size_t why_len);
const char *finding_kind_name(finding_kind kind);
void findings_free(finding *findings, size_t len);
/* The big-data key a file name stands for (verbatim or "=" + base64), or
 * NULL when it is not one; malloc'd. */
char *big_data_key_of_file(const char *file);

#endif
