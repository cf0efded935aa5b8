/*
 * Problem kinds and problem lists: one vocabulary for what load() skips
 * (problems()), what check() finds and what repair() does. The public
 * image_store_problem carries the kind's stable name (problem_kind_name()).
 */
#ifndef IMAGE_PROBLEM_H
#define IMAGE_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#include "image_store.h"

typedef enum problem_kind {
    PROBLEM_NONE,             /* no problem (repair: nothing done) */
    /* found by load, check or both */
    PROBLEM_UNPARSEABLE,      /* images.json is not a valid record */
    PROBLEM_ID_MISMATCH,      /* the record's id is not its directory's name */
    PROBLEM_NO_RECORD,        /* an image directory without images.json */
    PROBLEM_NOT_IMAGE,        /* a directory whose name is not an image ID */
    PROBLEM_BIG_DATA_MISSING, /* a recorded big-data file is not there */
    PROBLEM_BIG_DATA_SIZE,    /* its size differs from the record */
    PROBLEM_BIG_DATA_DIGEST,  /* its sha256 differs from the record */
    PROBLEM_ORPHAN_FILE,      /* a file in an image directory that no record names */
    PROBLEM_DUPLICATE_NAME,   /* a name another image (sorting first) holds too */
    PROBLEM_TEMP_FILE,        /* a leftover .tmp- file or directory */
    PROBLEM_NOT_DIRECTORY,    /* an image's place (or .quarantine) taken by a non-directory */
    PROBLEM_NOT_FILE,         /* a symlink, FIFO, socket, device or subdirectory in an image */
    PROBLEM_UNREADABLE,       /* an I/O or permission error: the content is unknown */
    PROBLEM_UNSUPPORTED,      /* a record beyond this library's limits (too deep, \u0000) */
    PROBLEM_LOCK_FILE,        /* the lock file's header was broken (a read-only store) */
    PROBLEM_DUPLICATE_ID,     /* containers/storage: an ID images.json holds again later */
    PROBLEM_ADDITIONAL_STORE, /* an additional store cannot be read now (problems() only) */
    /* what repair did */
    PROBLEM_QUARANTINED,      /* moved to .quarantine */
    PROBLEM_REMOVED,          /* a temp file removed */
    PROBLEM_RE_RECORDED,      /* a big-data item's size and digest recorded anew */
    PROBLEM_DROPPED_BIG_DATA, /* a big-data item whose file is gone dropped */
    PROBLEM_RECORDED_FILE,    /* an unrecorded big-data file recorded */
    PROBLEM_DROPPED_NAME,     /* a duplicate name dropped */
    /* what iSulad would do at its next start (check with the isulad option) */
    PROBLEM_ISULAD_DELETE,    /* it deletes the image directory */
    PROBLEM_ISULAD_SKIP,      /* it does not load the image (left on disk) */
    PROBLEM_ISULAD_CONVERT,   /* it converts a Docker schema 1 image to a new ID */
    PROBLEM_ISULAD_MISFILED,  /* it files the record under another directory */
    PROBLEM_ISULAD_RENAME,    /* it strips the default registry from a name */
    PROBLEM_ISULAD_DROPS_FIELD /* it rewrites the record without fields it does not know */
} problem_kind;

/* The stable name ("unparseable", "id-mismatch", ...). */
const char *problem_kind_name(problem_kind kind);
/* Kinds of damage that make a store entry unusable as an image: upkeep
 * moves such an entry to .quarantine. Read errors (unreadable) and records
 * beyond our limits (unsupported) are never among them. */
bool problem_kind_is_unusable_dir(problem_kind kind);

typedef struct problem {
    problem_kind kind;
    char *path;
    char *text;
} problem;

typedef struct problem_list {
    problem *items;
    size_t len, cap;
} problem_list;

/* Appends {kind, path, text} (copied); 0, or -1 on allocation failure. */
int problem_list_add(problem_list *l, problem_kind kind, const char *path, const char *text);
/* Replaces item i's text with "<text>; <more>" (kept as it was on OOM). */
void problem_list_append_text(problem_list *l, size_t i, const char *more);
void problem_list_free(problem_list *l);
/* A caller's copy (image_store_problems_free()); 0, or -1 on allocation
 * failure. An empty list is a non-NULL array of length 0. */
int problem_list_to_public(const problem_list *l, image_store_problem **out, size_t *len);

#endif
