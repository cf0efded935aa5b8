#include "index.h"

#include "record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash_string(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29));
}

void strmap_init(strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_free(strmap *m)
{
    free(m->slots);
    strmap_init(m);
}

static strmap_entry *find_slot(const strmap *m, const char *key, size_t hash)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        strmap_entry *e = &m->slots[i];
        if (e->key == NULL || (e->hash == hash && strcmp(e->key, key) == 0))
            return e;
    }
}

void *strmap_get(const strmap *m, const char *key)
{
    if (m->len == 0)
        return NULL;
    strmap_entry *e = find_slot(m, key, hash_string(key));
    return e->key ? e->value : NULL;
}

static int grow(strmap *m, size_t want)
{
    size_t cap = m->cap ? m->cap : 16;
    while (want * 4 > cap * 3) /* load factor <= 0.75 */
        cap *= 2;
    if (cap == m->cap)
        return 0;
    strmap_entry *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    strmap bigger = {slots, cap, 0};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL) {
            *find_slot(&bigger, m->slots[i].key, m->slots[i].hash) = m->slots[i];
            bigger.len++;
        }
    free(m->slots);
    *m = bigger;
    return 0;
}

int strmap_reserve(strmap *m, size_t n)
{
    return grow(m, m->len + n);
}

int strmap_put(strmap *m, const char *key, void *value)
{
    if (grow(m, m->len + 1) != 0)
        return -1;
    size_t hash = hash_string(key);
    strmap_entry *e = find_slot(m, key, hash);
    if (e->key == NULL)
        m->len++;
    e->key = key;
    e->hash = hash;
    e->value = value;
    return 0;
}

void strmap_remove(strmap *m, const char *key)
{
    if (m->len == 0)
        return;
    strmap_entry *e = find_slot(m, key, hash_string(key));
    if (e->key == NULL)
        return;
    /* Backward-shift deletion keeps probe chains intact without tombstones. */
    size_t mask = m->cap - 1, i = (size_t)(e - m->slots);
    for (size_t j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->len--;
}

static const char *item_id(const void *item)
{
    return *(char *const *)item;
}

void sorted_ids_init(sorted_ids *s)
{
    memset(s, 0, sizeof(*s));
}

void sorted_ids_free(sorted_ids *s)
{
    free(s->items);
    sorted_ids_init(s);
}

int sorted_ids_reserve(sorted_ids *s, size_t n)
{
    if (s->len + n <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 16;
    while (cap < s->len + n)
        cap *= 2;
    void **items = realloc(s->items, cap * sizeof(*items));
    if (items == NULL)
        return -1;
    s->items = items;
    s->cap = cap;
    return 0;
}

/* First position whose id compares >= key in its first n bytes. */
static size_t lower_bound(const sorted_ids *s, const char *key, size_t n)
{
    size_t lo = 0, hi = s->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(item_id(s->items[mid]), key, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int sorted_ids_insert(sorted_ids *s, void *item, const char *id)
{
    if (sorted_ids_reserve(s, 1) != 0)
        return -1;
    size_t at = s->len > 0 && strcmp(item_id(s->items[s->len - 1]), id) < 0
                    ? s->len /* appending, as load does: no search */
                    : lower_bound(s, id, strlen(id) + 1);
    memmove(&s->items[at + 1], &s->items[at], (s->len - at) * sizeof(void *));
    s->items[at] = item;
    s->len++;
    return 0;
}

void sorted_ids_remove(sorted_ids *s, const char *id)
{
    size_t at = lower_bound(s, id, strlen(id) + 1);
    if (at < s->len && strcmp(item_id(s->items[at]), id) == 0) {
        memmove(&s->items[at], &s->items[at + 1], (s->len - at - 1) * sizeof(void *));
        s->len--;
    }
}

size_t sorted_ids_prefix(const sorted_ids *s, const char *prefix, size_t *first)
{
    size_t n = strlen(prefix);
    size_t lo = lower_bound(s, prefix, n), hi = s->len, start = lo;
    while (lo < hi) { /* first position past the matches */
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(item_id(s->items[mid]), prefix, n) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = start;
    return lo - start;
}

/* ---- image indexes ---- */

void index_init(image_index *ix)
{
    strmap_init(&ix->by_id);
    strmap_init(&ix->by_name);
    strmap_init(&ix->by_digest);
    sorted_ids_init(&ix->sorted);
}

static void bucket_free(digest_bucket *b)
{
    if (b->items != &b->one)
        free(b->items);
    free(b);
}

void index_free(image_index *ix, bool free_records)
{
    for (size_t i = 0; i < ix->by_digest.cap; i++)
        if (ix->by_digest.slots[i].key != NULL)
            bucket_free(ix->by_digest.slots[i].value);
    if (free_records)
        for (size_t i = 0; i < ix->sorted.len; i++)
            record_free(ix->sorted.items[i]);
    strmap_free(&ix->by_id);
    strmap_free(&ix->by_name);
    strmap_free(&ix->by_digest);
    sorted_ids_free(&ix->sorted);
}

int index_reserve(image_index *ix, const image_record *r)
{
    if (strmap_reserve(&ix->by_id, 1) || strmap_reserve(&ix->by_name, r->names.len) ||
        strmap_reserve(&ix->by_digest, r->digests.len) || sorted_ids_reserve(&ix->sorted, 1))
        return -1;
    for (size_t i = 0; i < r->digests.len; i++) {
        const char *digest = r->digests.items[i];
        digest_bucket *b = strmap_get(&ix->by_digest, digest);
        if (b == NULL) { /* one allocation: the bucket, its key and its first slot */
            size_t n = strlen(digest) + 1;
            if ((b = malloc(sizeof(*b) + n)) == NULL)
                return -1;
            memcpy(b->digest, digest, n);
            b->len = 0;
            b->cap = 1;
            b->items = &b->one;
            strmap_put(&ix->by_digest, b->digest, b); /* reserved above */
        }
        if (b->len == b->cap) {
            size_t cap = b->cap * 2;
            image_record **items = malloc(cap * sizeof(*items));
            if (items == NULL)
                return -1;
            memcpy(items, b->items, b->len * sizeof(*items));
            if (b->items != &b->one)
                free(b->items);
            b->items = items;
            b->cap = cap;
        }
    }
    return 0;
}

void index_add(image_index *ix, image_record *r)
{
    strmap_put(&ix->by_id, r->id, r);
    for (size_t i = 0; i < r->names.len; i++)
        strmap_put(&ix->by_name, r->names.items[i], r);
    for (size_t i = 0; i < r->digests.len; i++) {
        digest_bucket *b = strmap_get(&ix->by_digest, r->digests.items[i]);
        b->items[b->len++] = r;
    }
    sorted_ids_insert(&ix->sorted, r, r->id);
}

void index_remove(image_index *ix, image_record *r, bool prune)
{
    if (strmap_get(&ix->by_id, r->id) == r)
        strmap_remove(&ix->by_id, r->id);
    for (size_t i = 0; i < r->names.len; i++)
        if (strmap_get(&ix->by_name, r->names.items[i]) == r)
            strmap_remove(&ix->by_name, r->names.items[i]);
    for (size_t i = 0; i < r->digests.len; i++) {
        digest_bucket *b = strmap_get(&ix->by_digest, r->digests.items[i]);
        for (size_t j = 0; b != NULL && j < b->len; j++)
            if (b->items[j] == r) {
                memmove(&b->items[j], &b->items[j + 1], (b->len - j - 1) * sizeof(*b->items));
                b->len--;
                break;
            }
        if (prune && b != NULL && b->len == 0) {
            strmap_remove(&ix->by_digest, b->digest);
            bucket_free(b);
        }
    }
    sorted_ids_remove(&ix->sorted, r->id);
}

void index_prune(image_index *ix, const image_record *r)
{
    for (size_t i = 0; i < r->digests.len; i++) {
        digest_bucket *b = strmap_get(&ix->by_digest, r->digests.items[i]);
        if (b != NULL && b->len == 0) {
            strmap_remove(&ix->by_digest, b->digest);
            bucket_free(b);
        }
    }
}

