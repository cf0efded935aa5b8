/*
 * In-memory indexes: a string-keyed hash map (open addressing, linear
 * probing, O(1) average) and a sorted array for ID-prefix search (O(log N)).
 * Keys are borrowed: the caller keeps each key alive while it is mapped.
 */
#ifndef IMAGE_INDEX_H
#define IMAGE_INDEX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap_entry {
    const char *key; /* NULL: empty slot */
    void *value;
    size_t hash;
} strmap_entry;

typedef struct strmap {
    strmap_entry *slots;
    size_t cap; /* power of two, or 0 */
    size_t len;
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);
void *strmap_get(const strmap *m, const char *key);
/* Inserts or replaces; 0, or -1 on allocation failure (map unchanged). */
int strmap_put(strmap *m, const char *key, void *value);
/* Makes room for n more entries so that n puts cannot fail; 0 or -1. */
int strmap_reserve(strmap *m, size_t n);
void strmap_remove(strmap *m, const char *key);

/* Pointers sorted by the string each one starts with (a `char *` first member). */
typedef struct sorted_ids {
    void **items;
    size_t len, cap;
} sorted_ids;

void sorted_ids_init(sorted_ids *s);
void sorted_ids_free(sorted_ids *s);
int sorted_ids_reserve(sorted_ids *s, size_t n);
int sorted_ids_insert(sorted_ids *s, void *item, const char *id);
void sorted_ids_remove(sorted_ids *s, const char *id);
/* The items whose id starts with prefix: *first and the count (0 if none). */
size_t sorted_ids_prefix(const sorted_ids *s, const char *prefix, size_t *first);


/* ---- the store's image indexes (records from record.h) ---- */

struct image_record;

typedef struct digest_bucket {
    size_t len, cap;
    struct image_record **items; /* &one while cap is 1 */
    struct image_record *one;
    char digest[]; /* the map key */
} digest_bucket;

typedef struct image_index {
    strmap by_id;      /* id -> record */
    strmap by_name;    /* name -> record */
    strmap by_digest;  /* digest -> digest_bucket */
    sorted_ids sorted; /* records by id, for prefixes and listing */
} image_index;

void index_init(image_index *ix);
/* Frees the indexes, and the records too when free_records. */
void index_free(image_index *ix, bool free_records);
/* Makes room so that index_add(r) cannot fail; 0 or -1 (allocation). */
int index_reserve(image_index *ix, const struct image_record *r);
void index_add(image_index *ix, struct image_record *r);
/* Unmaps r; with prune, frees digest buckets left empty. */
void index_remove(image_index *ix, struct image_record *r, bool prune);
/* Frees the digest buckets of r's digests that no record uses any more. */
void index_prune(image_index *ix, const struct image_record *r);

#endif
