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
#include "problem.h"

/* Where upkeep moves what cannot be an image (never deleted). */
#define QUARANTINE_DIR ".quarantine"

typedef struct finding {
    problem_kind kind;
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
 * (PROBLEM_NO_RECORD: missing or not a regular file; PROBLEM_UNREADABLE: an
 * I/O or permission error, the content unknown; PROBLEM_UNPARSEABLE,
 * PROBLEM_UNSUPPORTED, PROBLEM_ID_MISMATCH), a sentence in why, and *about
 * the file it is about (RECORD_FILE, or NULL when there is none); -1 when
 * memory ran out. Load, check and repair all classify records this way. */
struct image_record;
int check_read_record(int dirfd, const char *dir, const char *id, struct image_record **out,
                      problem_kind *kind, const char **about, char *why, size_t why_len);
/* The checks of one image directory, entry, against its record r when r
 * comes from elsewhere (containers/storage keeps every record in one
 * <dir>/images.json): big-data files missing or differing from r, and
 * (when entry is a directory) entries that are not regular files or that r
 * does not name. Appends to *out (*len items, malloc'd or NULL); 0, or an
 * error when memory ran out (*out and *len still hold what was found). */
int check_image_files(int dirfd, const char *dir, const char *entry,
                      const struct image_record *r, finding **out, size_t *len,
                      image_error *err);
void findings_free(finding *findings, size_t len);
/* The big-data key a file name stands for (verbatim or "=" + base64), or
 * NULL when it is not one; malloc'd. */
char *big_data_key_of_file(const char *file);

#endif
