/*
 * Record codec: one image record <-> the JSON of <dir>/<id>/images.json, in the
 * format iSulad and containers/storage write. Unknown keys are kept as JSON
 * text and written back unchanged.
 */
#ifndef IMAGE_RECORD_H
#define IMAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_store.h"

/* The file in <dir>/<id>/ that holds the image's record. */
#define RECORD_FILE "images.json"

typedef struct str_list {
    char **items;
    size_t len, cap;
} str_list;

typedef struct big_data_item {
    char *name;
    int64_t size;  /* -1 when not recorded */
    char *digest;  /* NULL when not recorded */
} big_data_item;

/* Packed records loaded together share chunks of memory: one malloc per
 * chunk instead of one per record. A chunk is freed with its last record. */
typedef struct record_chunk {
    size_t live; /* records still in it */
    size_t used, cap;
    char data[];
} record_chunk;

typedef struct record_arena {
    record_chunk *current;
} record_arena;

/* size bytes (aligned) for a packed record, from the arena's chunk, or from
 * malloc when arena is NULL or the record is large; *chunk says which. */
void *record_block_alloc(record_arena *arena, size_t size, record_chunk **chunk);
/* Drops the arena's hold on its current chunk (its records keep it alive). */
void record_arena_done(record_arena *arena);

typedef struct image_record {
    char *id; /* first member: the sorted ID index reads it */
    bool packed; /* one block holds everything: see record_pack() */
    struct record_chunk *chunk; /* packed into a shared chunk (NULL: its own block) */
    char *digest; /* given at create, else the first manifest's; kept once set */
    str_list names;
    str_list names_history;
    str_list digests; /* derived: record_recompute_digests() */
    char *layer;
    char *metadata;
    big_data_item *big_data;
    size_t big_data_len;
    char *created;
    char *loaded;
    int64_t size; /* -1 when absent */
    char *flags_json; /* the "flags" object as JSON text, or NULL */
    char **extra_keys; /* keys this version does not know, with their JSON */
    char **extra_values;
    size_t extra_len;
} image_record;

/* The deepest nesting of arrays and objects a record may hold (the record's
 * own object is level 1). Deeper text is refused before it is parsed. */
#define RECORD_MAX_DEPTH 1000

/* record_parse() and record_serialize() failures. */
enum {
    RECORD_INVALID = -1,     /* not a valid record */
    RECORD_UNSUPPORTED = -2, /* maybe valid, but this library cannot hold it */
    RECORD_NOMEM = -3,       /* allocation failure */
};

/* Parses and validates json (len bytes); 0, or a RECORD_*
 * code with a sentence in why: RECORD_INVALID, RECORD_UNSUPPORTED (nested
 * deeper than RECORD_MAX_DEPTH, or a string holding \u0000), RECORD_NOMEM. */
int record_parse(image_record **out, const char *json, size_t len, char *why, size_t why_len);
/* record_parse() of a parsed JSON value (a yajl_val, borrowed; anything but
 * an object is RECORD_INVALID): what a caller that reads many records from
 * one text uses. */
struct yajl_val_s;
int record_from_tree(image_record **out, struct yajl_val_s *root, char *why,
                     size_t why_len);
/* Serializes to malloc'd JSON text; 0, RECORD_INVALID when a string is not
 * UTF-8 (nothing unreadable is ever written), or RECORD_NOMEM. */
int record_serialize(char **out, size_t *len, const image_record *r);
image_record *record_new(void);
/* A copy in one allocation (record and every string and array it points
 * to): compact, and quick to build and free. A packed record is never edited
 * in place (edits go to record_clone()), except by record_remove_name(). NULL
 * on allocation failure. */
image_record *record_pack(const image_record *r, struct record_arena *arena);
/* Removes name from the record's names (packed or not); whether it was there. */
bool record_remove_name(image_record *r, const char *name);
void record_free(image_record *r);
/* A deep copy, or NULL on allocation failure. */
image_record *record_clone(const image_record *r);
/* Rebuilds digests: digest, then every manifest's digest in big-data order,
 * each once; a record without a digest takes the first of them (and keeps it
 * from then on, as containers/storage does). 0 or -1 (allocation). */
int record_recompute_digests(image_record *r);
/* Notes that the image now holds names (in containers/storage's order): each
 * goes to the front of the history in turn, so the last ends up first
 * (containers/storage's addNameToHistory). 0 or -1 (allocation, r unchanged). */
int record_note_names(image_record *r, const str_list *names);
int record_to_public(image_storage_images *out, const image_record *r, bool read_only);
/* record_to_public() of an image of the additional store `store` (NULL: none). */
int record_to_public_at(image_storage_images *out, const image_record *r, bool read_only,
                        const char *store);

/* Whether a big-data key names a manifest: it starts with "manifest"
 * (containers/storage's bigDataNameIsManifest). */
bool record_is_manifest_key(const char *key);
big_data_item *record_find_big_data(const image_record *r, const char *key);
/* Inserts or updates the item for key (an unpacked record) with size and a
 * copy of digest (NULL: not recorded); the item, or NULL on allocation
 * failure with the record unchanged. */
big_data_item *record_set_big_data(image_record *r, const char *key, int64_t size,
                                   const char *digest);
/* Removes the item for key, if any (an unpacked record). */
void record_remove_big_data(image_record *r, const char *key);
bool record_has_name(const image_record *r, const char *name);

/* List helpers; 0 or -1 (allocation). */
int str_list_append(str_list *l, const char *s);
/* Room for n more appends that cannot fail; 0 or -1. */
int str_list_reserve(str_list *l, size_t n);
void str_list_remove_at(str_list *l, size_t i);
void str_list_free(str_list *l);
/* Linear search: for short lists. */
bool str_list_contains(const str_list *l, const char *s);
/* out = copies of the items of first, then of second, each once, in order
 * of first appearance (either may be NULL); linear time. out is overwritten,
 * never freed or read (it may be uninitialized); 0, or -1 on allocation
 * failure with out untouched. */
int str_list_merge_unique(str_list *out, const str_list *first, const str_list *second);

bool image_id_is_valid(const char *id);
/* Big-data key -> file name (containers/storage's rule) into out; 0, or -1
 * with *why when the key is unsafe. */
int big_data_file_name_into(char out[static 256], const char *key, const char **why);

#endif
