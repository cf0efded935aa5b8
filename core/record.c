#include "record.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "digest.h"
#include "index.h"
#include "json_tree.h"
#include "text.h"

bool image_id_is_valid(const char *id)
{
    return id != NULL && is_lower_hex(id, 64);
}

bool record_is_manifest_key(const char *key)
{
    return strncmp(key, "manifest", 8) == 0;
}

int big_data_file_name_into(char out[static 256], const char *key, const char **why)
{
    *why = NULL;
    size_t len = strlen(key);
    if (len == 0) {
        *why = "empty";
        return -1;
    }
    bool verbatim = true;
    for (const char *p = key; *p && verbatim; p++)
        verbatim = *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z');
    if (verbatim) {
        if (strcmp(key, ".") == 0 || strcmp(key, "..") == 0 || strcmp(key, "images.json") == 0)
            *why = "reserved name";
        else if (len > 255)
            *why = "file name longer than 255 bytes";
        else
            memcpy(out, key, len + 1);
        return *why ? -1 : 0;
    }
    if (1 + 4 * ((len + 2) / 3) > 255) {
        *why = "file name longer than 255 bytes";
        return -1;
    }
    out[0] = '=';
    base64_encode_into(out + 1, key, len);
    if (strchr(out, '/') != NULL) {
        *why = "file name would contain '/'";
        return -1;
    }
    return 0;
}

/* ---- lists ---- */

int str_list_reserve(str_list *l, size_t n)
{
    if (l->len + n <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 1;
    while (cap < l->len + n)
        cap *= 2;
    char **items = realloc(l->items, cap * sizeof(char *));
    if (items == NULL)
        return -1;
    l->items = items;
    l->cap = cap;
    return 0;
}

int str_list_append(str_list *l, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL || str_list_reserve(l, 1) != 0) {
        free(copy);
        return -1;
    }
    l->items[l->len++] = copy;
    return 0;
}

void str_list_remove_at(str_list *l, size_t i)
{
    free(l->items[i]);
    memmove(&l->items[i], &l->items[i + 1], (l->len - i - 1) * sizeof(char *));
    l->len--;
}

void str_list_free(str_list *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
    l->cap = 0;
}

bool str_list_contains(const str_list *l, const char *s)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

/* ---- deduplication in linear time ---- */

/* Lists up to this long are searched linearly; longer ones get a hash map. */
#define SMALL_SET 16

/* A set of borrowed strings: a short array first, a strmap once large. */
typedef struct str_set {
    const char *few[SMALL_SET];
    size_t len;
    strmap map; /* once len > SMALL_SET; values are the set itself */
} str_set;

static void str_set_init(str_set *set)
{
    set->len = 0;
    strmap_init(&set->map);
}

static void str_set_free(str_set *set)
{
    strmap_free(&set->map);
}

static bool str_set_has(const str_set *set, const char *s)
{
    if (set->len > SMALL_SET)
        return strmap_get(&set->map, s) != NULL;
    for (size_t i = 0; i < set->len; i++)
        if (strcmp(set->few[i], s) == 0)
            return true;
    return false;
}

/* Adds s (kept alive by the caller); 0 or -1 (allocation, set unchanged). */
static int str_set_add(str_set *set, const char *s)
{
    if (set->len < SMALL_SET) {
        set->few[set->len++] = s;
        return 0;
    }
    if (set->len == SMALL_SET) { /* moving to the map */
        if (strmap_reserve(&set->map, 2 * SMALL_SET) != 0)
            return -1;
        for (size_t i = 0; i < SMALL_SET; i++)
            strmap_put(&set->map, set->few[i], set); /* reserved */
    }
    if (strmap_put(&set->map, s, set) != 0) {
        if (set->len == SMALL_SET)
            strmap_free(&set->map);
        return -1;
    }
    set->len++;
    return 0;
}

/* Appends a copy of s to l unless set has it; 0 or -1 (allocation). */
static int append_unique(str_list *l, str_set *set, const char *s)
{
    if (str_set_has(set, s))
        return 0;
    if (str_list_append(l, s) != 0)
        return -1;
    if (str_set_add(set, l->items[l->len - 1]) != 0) {
        str_list_remove_at(l, l->len - 1);
        return -1;
    }
    return 0;
}

int str_list_merge_unique(str_list *out, const str_list *first, const str_list *second)
{
    str_list merged = {NULL, 0, 0};
    str_set seen;
    str_set_init(&seen);
    const str_list *srcs[] = {first, second};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; srcs[k] != NULL && i < srcs[k]->len; i++)
            if (append_unique(&merged, &seen, srcs[k]->items[i]) != 0) {
                str_set_free(&seen);
                str_list_free(&merged);
                return -1;
            }
    str_set_free(&seen);
    *out = merged;
    return 0;
}

static int str_list_copy(str_list *dst, const str_list *src)
{
    dst->items = NULL;
    dst->len = 0;
    dst->cap = 0;
    for (size_t i = 0; i < src->len; i++)
        if (str_list_append(dst, src->items[i]) != 0) {
            str_list_free(dst);
            return -1;
        }
    return 0;
}

/* ---- records ---- */

static void chunk_free(record_chunk *c);

image_record *record_new(void)
{
    image_record *r = calloc(1, sizeof(*r));
    if (r != NULL)
        r->size = -1;
    return r;
}

void record_free(image_record *r)
{
    if (r == NULL)
        return;
    if (r->packed) {
        record_chunk *chunk = r->chunk;
        if (chunk == NULL)
            free(r);
        else if (--chunk->live == 0)
            chunk_free(chunk);
        return;
    }
    free(r->id);
    free(r->digest);
    str_list_free(&r->names);
    str_list_free(&r->names_history);
    str_list_free(&r->digests);
    free(r->layer);
    free(r->metadata);
    for (size_t i = 0; i < r->big_data_len; i++) {
        free(r->big_data[i].name);
        free(r->big_data[i].digest);
    }
    free(r->big_data);
    free(r->created);
    free(r->loaded);
    free(r->flags_json);
    for (size_t i = 0; i < r->extra_len; i++) {
        free(r->extra_keys[i]);
        free(r->extra_values[i]);
    }
    free(r->extra_keys);
    free(r->extra_values);
    free(r);
}

/* strdup that keeps NULL; sets *failed on allocation failure. */
static char *dup_or_null(const char *s, bool *failed)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *failed = true;
    return d;
}

image_record *record_clone(const image_record *r)
{
    image_record *c = record_new();
    if (c == NULL)
        return NULL;
    bool failed = false;
    c->id = dup_or_null(r->id, &failed);
    c->digest = dup_or_null(r->digest, &failed);
    c->layer = dup_or_null(r->layer, &failed);
    c->metadata = dup_or_null(r->metadata, &failed);
    c->created = dup_or_null(r->created, &failed);
    c->loaded = dup_or_null(r->loaded, &failed);
    c->flags_json = dup_or_null(r->flags_json, &failed);
    c->size = r->size;
    c->packed = false;
    c->chunk = NULL;
    if (str_list_copy(&c->names, &r->names) || str_list_copy(&c->names_history, &r->names_history) ||
        str_list_copy(&c->digests, &r->digests))
        failed = true;
    if (r->big_data_len > 0) {
        c->big_data = calloc(r->big_data_len, sizeof(big_data_item));
        if (c->big_data == NULL) {
            failed = true;
        } else {
            c->big_data_len = r->big_data_len;
            for (size_t i = 0; i < r->big_data_len; i++) {
                c->big_data[i].name = dup_or_null(r->big_data[i].name, &failed);
                c->big_data[i].digest = dup_or_null(r->big_data[i].digest, &failed);
                c->big_data[i].size = r->big_data[i].size;
            }
        }
    }
    if (r->extra_len > 0) {
        c->extra_keys = calloc(r->extra_len, sizeof(char *));
        c->extra_values = calloc(r->extra_len, sizeof(char *));
        if (c->extra_keys == NULL || c->extra_values == NULL) {
            failed = true;
        } else {
            c->extra_len = r->extra_len;
            for (size_t i = 0; i < r->extra_len; i++) {
                c->extra_keys[i] = dup_or_null(r->extra_keys[i], &failed);
                c->extra_values[i] = dup_or_null(r->extra_values[i], &failed);
            }
        }
    }
    if (failed) {
        record_free(c);
        return NULL;
    }
    return c;
}

/* ---- packing ---- */

typedef struct packer {
    char *base;   /* NULL while measuring */
    size_t used;
} packer;

static void *pack_bytes(packer *p, const void *src, size_t n, size_t align)
{
    p->used = (p->used + align - 1) & ~(align - 1);
    void *dst = p->base ? p->base + p->used : NULL;
    if (dst != NULL && src != NULL)
        memcpy(dst, src, n);
    p->used += n;
    return dst;
}

static char *pack_string(packer *p, const char *s)
{
    return s ? pack_bytes(p, s, strlen(s) + 1, 1) : NULL;
}

static void pack_list(packer *p, str_list *dst, const str_list *src)
{
    dst->items = pack_bytes(p, NULL, src->len * sizeof(char *), sizeof(char *));
    dst->len = dst->cap = src->len;
    for (size_t i = 0; i < src->len; i++) {
        char *s = pack_string(p, src->items[i]);
        if (p->base)
            dst->items[i] = s;
    }
}

/* Lays r out at p (or only measures it, with p->base NULL). */
static void pack_into(packer *p, image_record *dst, const image_record *r)
{
    pack_bytes(p, NULL, sizeof(image_record), sizeof(void *));
    image_record tmp;
    image_record *d = p->base ? dst : &tmp;
    *d = *r;
    d->packed = true;
    d->id = pack_string(p, r->id);
    d->digest = pack_string(p, r->digest);
    pack_list(p, &d->names, &r->names);
    pack_list(p, &d->names_history, &r->names_history);
    pack_list(p, &d->digests, &r->digests);
    d->layer = pack_string(p, r->layer);
    d->metadata = pack_string(p, r->metadata);
    d->big_data = pack_bytes(p, NULL, r->big_data_len * sizeof(big_data_item), sizeof(void *));
    for (size_t i = 0; i < r->big_data_len; i++) {
        char *name = pack_string(p, r->big_data[i].name);
        char *digest = pack_string(p, r->big_data[i].digest);
        if (p->base)
            d->big_data[i] = (big_data_item){name, r->big_data[i].size, digest};
    }
    d->created = pack_string(p, r->created);
    d->loaded = pack_string(p, r->loaded);
    d->flags_json = pack_string(p, r->flags_json);
    d->extra_keys = pack_bytes(p, NULL, r->extra_len * sizeof(char *), sizeof(char *));
    d->extra_values = pack_bytes(p, NULL, r->extra_len * sizeof(char *), sizeof(char *));
    for (size_t i = 0; i < r->extra_len; i++) {
        char *k = pack_string(p, r->extra_keys[i]), *v = pack_string(p, r->extra_values[i]);
        if (p->base) {
            d->extra_keys[i] = k;
            d->extra_values[i] = v;
        }
    }
}

#define CHUNK_SIZE (1024 * 1024)

/* Chunks are mapped with MAP_POPULATE: one system call makes every page
 * present, where touching fresh memory would fault page by page. */
static record_chunk *chunk_new(void)
{
    void *p = mmap(NULL, sizeof(record_chunk) + CHUNK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    record_chunk *c = p;
    c->live = 0;
    c->used = 0;
    c->cap = CHUNK_SIZE;
    return c;
}

static void chunk_free(record_chunk *c)
{
    munmap(c, sizeof(record_chunk) + c->cap);
}

void *record_block_alloc(record_arena *arena, size_t size, record_chunk **chunk)
{
    size = (size + 15) & ~(size_t)15;
    *chunk = NULL;
    if (arena == NULL || size > CHUNK_SIZE / 8)
        return malloc(size);
    record_chunk *c = arena->current;
    if (c == NULL || c->cap - c->used < size) {
        if (c != NULL && c->live == 0)
            chunk_free(c);
        arena->current = c = chunk_new();
        if (c == NULL)
            return NULL;
    }
    void *p = c->data + c->used;
    c->used += size;
    c->live++;
    *chunk = c;
    return p;
}

void record_arena_done(record_arena *arena)
{
    if (arena->current != NULL && arena->current->live == 0)
        chunk_free(arena->current);
    arena->current = NULL;
}

image_record *record_pack(const image_record *r, record_arena *arena)
{
    packer measure = {NULL, 0};
    pack_into(&measure, NULL, r);
    record_chunk *chunk;
    packer p = {record_block_alloc(arena, measure.used, &chunk), 0};
    if (p.base == NULL)
        return NULL;
    image_record *out = (image_record *)(void *)p.base;
    pack_into(&p, out, r);
    out->chunk = chunk;
    return out;
}

bool record_remove_name(image_record *r, const char *name)
{
    for (size_t i = 0; i < r->names.len; i++) {
        if (strcmp(r->names.items[i], name) != 0)
            continue;
        if (!r->packed) {
            str_list_remove_at(&r->names, i);
        } else {
            memmove(&r->names.items[i], &r->names.items[i + 1],
                    (r->names.len - i - 1) * sizeof(char *));
            r->names.len--;
        }
        return true;
    }
    return false;
}

big_data_item *record_set_big_data(image_record *r, const char *key, int64_t size,
                                   const char *digest)
{
    char *digest_copy = digest ? strdup(digest) : NULL;
    if (digest != NULL && digest_copy == NULL)
        return NULL;
    big_data_item *item = record_find_big_data(r, key);
    if (item == NULL) {
        char *name = strdup(key);
        big_data_item *grown =
            name ? realloc(r->big_data, (r->big_data_len + 1) * sizeof(*grown)) : NULL;
        if (grown == NULL) {
            free(name);
            free(digest_copy);
            return NULL;
        }
        r->big_data = grown;
        item = &grown[r->big_data_len++];
        item->name = name;
        item->digest = NULL;
    }
    free(item->digest);
    item->digest = digest_copy;
    item->size = size;
    return item;
}

big_data_item *record_find_big_data(const image_record *r, const char *key)
{
    for (size_t i = 0; i < r->big_data_len; i++)
        if (strcmp(r->big_data[i].name, key) == 0)
            return &r->big_data[i];
    return NULL;
}

void record_remove_big_data(image_record *r, const char *key)
{
    big_data_item *item = record_find_big_data(r, key);
    if (item == NULL)
        return;
    size_t i = (size_t)(item - r->big_data);
    free(item->name);
    free(item->digest);
    memmove(item, item + 1, (r->big_data_len - i - 1) * sizeof(*item));
    r->big_data_len--;
}

bool record_has_name(const image_record *r, const char *name)
{
    return str_list_contains(&r->names, name);
}

int record_recompute_digests(image_record *r)
{
    str_list digests = {NULL, 0, 0};
    str_set seen;
    str_set_init(&seen);
    int rc = 0;
    if (r->digest != NULL)
        rc = append_unique(&digests, &seen, r->digest);
    for (size_t i = 0; rc == 0 && i < r->big_data_len; i++) {
        const big_data_item *b = &r->big_data[i];
        if (b->digest != NULL && record_is_manifest_key(b->name))
            rc = append_unique(&digests, &seen, b->digest);
    }
    str_set_free(&seen);
    if (rc == 0 && r->digest == NULL && digests.len > 0 &&
        (r->digest = strdup(digests.items[0])) == NULL)
        rc = -1;
    if (rc != 0) {
        str_list_free(&digests);
        return -1;
    }
    str_list_free(&r->digests);
    r->digests = digests;
    return 0;
}

int record_note_names(image_record *r, const str_list *names)
{
    str_list newest_first = {NULL, 0, 0}, merged;
    if (str_list_reserve(&newest_first, names->len) != 0)
        return -1;
    for (size_t i = names->len; i-- > 0;) /* borrowed: only merged owns copies */
        newest_first.items[newest_first.len++] = names->items[i];
    int rc = str_list_merge_unique(&merged, &newest_first, &r->names_history);
    free(newest_first.items);
    if (rc != 0)
        return -1;
    str_list_free(&r->names_history);
    r->names_history = merged;
    return 0;
}

/* ---- JSON out ---- */

/* In record_serialize(): st keeps the failure. */
#define GEN(call)                                                                                  \
    do {                                                                                           \
        if ((st = (call)) != yajl_gen_status_ok)                                                   \
            goto fail;                                                                             \
    } while (0)

static yajl_gen_status gen_string(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static char *value_to_json(yajl_val v);
static yajl_gen_status gen_raw(yajl_gen g, const char *json);

/* yajl_gen refuses to nest deeper than YAJL_MAX_DEPTH (128): a subtree this
 * deep in one generator is written by a fresh one and spliced in as text. */
#define GEN_SPLICE_DEPTH 100

/* Writes a yajl tree value back as JSON at nesting depth (of generator g);
 * numbers keep their original text. Only allocation can make it fail. */
static yajl_gen_status gen_value(yajl_gen g, yajl_val v, size_t depth)
{
    yajl_gen_status st = yajl_gen_status_ok;
    if ((YAJL_IS_ARRAY(v) || YAJL_IS_OBJECT(v)) && depth >= GEN_SPLICE_DEPTH) {
        char *json = value_to_json(v);
        if (json == NULL)
            return yajl_gen_generation_complete; /* any failure: only malloc fails */
        st = gen_raw(g, json);
        free(json);
        return st;
    }
    if (v == NULL || YAJL_IS_NULL(v))
        return yajl_gen_null(g);
    if (YAJL_IS_STRING(v))
        return gen_string(g, v->u.string);
    if (YAJL_IS_NUMBER(v))
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    if (YAJL_IS_TRUE(v))
        return yajl_gen_bool(g, 1);
    if (YAJL_IS_FALSE(v))
        return yajl_gen_bool(g, 0);
    if (YAJL_IS_ARRAY(v)) {
        if ((st = yajl_gen_array_open(g)) != yajl_gen_status_ok)
            return st;
        for (size_t i = 0; i < v->u.array.len; i++)
            if ((st = gen_value(g, v->u.array.values[i], depth + 1)) != yajl_gen_status_ok)
                return st;
        return yajl_gen_array_close(g);
    }
    if ((st = yajl_gen_map_open(g)) != yajl_gen_status_ok)
        return st;
    for (size_t i = 0; i < v->u.object.len; i++) {
        if ((st = gen_string(g, v->u.object.keys[i])) != yajl_gen_status_ok ||
            (st = gen_value(g, v->u.object.values[i], depth + 1)) != yajl_gen_status_ok)
            return st;
    }
    return yajl_gen_map_close(g);
}

/* Copies the generator's buffer out; 0 or -1. */
static int gen_take(yajl_gen g, char **out, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok)
        return -1;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, buf, n);
    copy[n] = '\0';
    *out = copy;
    if (len)
        *len = n;
    return 0;
}

/* v as malloc'd JSON text, or NULL (allocation failure). */
static char *value_to_json(yajl_val v)
{
    char *out = NULL;
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g == NULL)
        return NULL;
    if (gen_value(g, v, 0) != yajl_gen_status_ok || gen_take(g, &out, NULL) != 0)
        out = NULL;
    yajl_gen_free(g);
    return out;
}

static yajl_gen_status gen_raw(yajl_gen g, const char *json)
{
    /* yajl_gen_number writes its text verbatim: the way to emit kept JSON. */
    return yajl_gen_number(g, json, strlen(json));
}

static yajl_gen_status gen_list(yajl_gen g, const char *key, const str_list *l)
{
    yajl_gen_status st;
    if (l->len == 0)
        return yajl_gen_status_ok;
    if ((st = gen_string(g, key)) != yajl_gen_status_ok || (st = yajl_gen_array_open(g)))
        return st;
    for (size_t i = 0; i < l->len; i++)
        if ((st = gen_string(g, l->items[i])) != yajl_gen_status_ok)
            return st;
    return yajl_gen_array_close(g);
}

static yajl_gen_status gen_opt_string(yajl_gen g, const char *key, const char *value)
{
    yajl_gen_status st;
    if (value == NULL)
        return yajl_gen_status_ok;
    if ((st = gen_string(g, key)) != yajl_gen_status_ok)
        return st;
    return gen_string(g, value);
}

int record_serialize(char **out, size_t *len, const image_record *r)
{
    int rc = RECORD_NOMEM;
    yajl_gen_status st = yajl_gen_status_ok;
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g == NULL)
        return RECORD_NOMEM;
    /* a string that is not UTF-8 would make a record no parser reads back */
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    GEN(yajl_gen_map_open(g));
    GEN(gen_opt_string(g, "id", r->id));
    GEN(gen_opt_string(g, "digest", r->digest));
    GEN(gen_list(g, "names", &r->names));
    GEN(gen_list(g, "names-history", &r->names_history));
    GEN(gen_opt_string(g, "layer", r->layer));
    GEN(gen_opt_string(g, "metadata", r->metadata));
    if (r->big_data_len > 0) {
        GEN(gen_string(g, "big-data-names"));
        GEN(yajl_gen_array_open(g));
        for (size_t i = 0; i < r->big_data_len; i++)
            GEN(gen_string(g, r->big_data[i].name));
        GEN(yajl_gen_array_close(g));
        GEN(gen_string(g, "big-data-sizes"));
        GEN(yajl_gen_map_open(g));
        for (size_t i = 0; i < r->big_data_len; i++)
            if (r->big_data[i].size >= 0) {
                GEN(gen_string(g, r->big_data[i].name));
                GEN(yajl_gen_integer(g, r->big_data[i].size));
            }
        GEN(yajl_gen_map_close(g));
        GEN(gen_string(g, "big-data-digests"));
        GEN(yajl_gen_map_open(g));
        for (size_t i = 0; i < r->big_data_len; i++)
            if (r->big_data[i].digest != NULL) {
                GEN(gen_string(g, r->big_data[i].name));
                GEN(gen_string(g, r->big_data[i].digest));
            }
        GEN(yajl_gen_map_close(g));
    }
    GEN(gen_opt_string(g, "created", r->created));
    GEN(gen_opt_string(g, "loaded", r->loaded));
    if (r->size >= 0) {
        GEN(gen_string(g, "size"));
        GEN(yajl_gen_integer(g, r->size));
    }
    if (r->flags_json != NULL) {
        GEN(gen_string(g, "flags"));
        GEN(gen_raw(g, r->flags_json));
    }
    for (size_t i = 0; i < r->extra_len; i++) {
        GEN(gen_string(g, r->extra_keys[i]));
        GEN(gen_raw(g, r->extra_values[i]));
    }
    GEN(yajl_gen_map_close(g));
    rc = gen_take(g, out, len) == 0 ? 0 : RECORD_NOMEM;
fail:
    if (st == yajl_gen_invalid_string)
        rc = RECORD_INVALID;
    yajl_gen_free(g);
    return rc;
}

/* ---- JSON in ---- */

_Static_assert((int)JSON_TREE_INVALID == (int)RECORD_INVALID &&
                   (int)JSON_TREE_UNSUPPORTED == (int)RECORD_UNSUPPORTED &&
                   (int)JSON_TREE_NOMEM == (int)RECORD_NOMEM,
               "json_tree_parse() codes are record_parse() codes");

typedef struct parse_ctx {
    char *why;
    size_t why_len;
} parse_ctx;

/* Writes the reason to why (record text in it escaped for display) and
 * returns code. */
static int fail_as(parse_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_as(parse_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_vformat_escaped(c->why, c->why_len, fmt, ap);
    va_end(ap);
    return code;
}

#define bad(c, ...) fail_as((c), RECORD_INVALID, __VA_ARGS__)

static int nomem(parse_ctx *c)
{
    return fail_as(c, RECORD_NOMEM, "%s", "out of memory");
}

static int take_string(parse_ctx *c, yajl_val v, const char *key, char **out)
{
    if (!YAJL_IS_STRING(v))
        return bad(c, "\"%s\" is not a string", key);
    if ((*out = strdup(v->u.string)) == NULL)
        return nomem(c);
    return 0;
}

static int take_list(parse_ctx *c, yajl_val v, const char *key, str_list *out, bool nonempty)
{
    if (YAJL_IS_NULL(v))
        return 0;
    if (!YAJL_IS_ARRAY(v))
        return bad(c, "\"%s\" is not an array", key);
    int rc = 0;
    str_set seen; /* out's items */
    str_set_init(&seen);
    for (size_t i = 0; rc == 0 && i < v->u.array.len; i++) {
        yajl_val s = v->u.array.values[i];
        if (!YAJL_IS_STRING(s))
            rc = bad(c, "\"%s\" holds a value that is not a string", key);
        else if (nonempty && s->u.string[0] == '\0')
            rc = bad(c, "\"%s\" holds an empty string", key);
        else if (append_unique(out, &seen, s->u.string) != 0)
            rc = nomem(c);
    }
    str_set_free(&seen);
    return rc;
}

static yajl_val object_get(yajl_val obj, const char *key)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

/* Key lookups in a yajl object (NULL or another type: nothing found),
 * through a map once it is large; of duplicate keys the first wins. */
typedef struct obj_lookup {
    yajl_val obj;
    strmap map;
} obj_lookup;

static int obj_lookup_init(obj_lookup *l, yajl_val obj)
{
    l->obj = YAJL_IS_OBJECT(obj) ? obj : NULL;
    strmap_init(&l->map);
    if (l->obj == NULL || obj->u.object.len <= SMALL_SET)
        return 0;
    if (strmap_reserve(&l->map, obj->u.object.len) != 0)
        return -1;
    for (size_t i = obj->u.object.len; i-- > 0;) /* backwards: the first replaces the rest */
        strmap_put(&l->map, obj->u.object.keys[i], obj->u.object.values[i]); /* reserved */
    return 0;
}

static yajl_val obj_lookup_get(const obj_lookup *l, const char *key)
{
    if (l->obj == NULL)
        return NULL;
    return l->map.cap > 0 ? strmap_get(&l->map, key) : object_get(l->obj, key);
}

/* One big-data item: names[i], with its size and digest when recorded. */
static int take_big_data_item(parse_ctx *c, yajl_val n, const obj_lookup *sizes,
                              const obj_lookup *digests, str_set *seen, image_record *r)
{
    if (!YAJL_IS_STRING(n))
        return bad(c, "\"%s\" holds a value that is not a string", "big-data-names");
    const char *why;
    char file[256];
    if (big_data_file_name_into(file, n->u.string, &why) != 0)
        return bad(c, "unsafe big-data key: %s", why);
    if (str_set_has(seen, n->u.string))
        return 0;
    big_data_item *b = &r->big_data[r->big_data_len];
    b->size = -1;
    if ((b->name = strdup(n->u.string)) == NULL)
        return nomem(c);
    r->big_data_len++;
    if (str_set_add(seen, b->name) != 0)
        return nomem(c);
    yajl_val sz = obj_lookup_get(sizes, n->u.string);
    if (sz != NULL) {
        if (!YAJL_IS_INTEGER(sz) || YAJL_GET_INTEGER(sz) < 0)
            return bad(c, "size of big-data item \"%s\" is not a non-negative integer",
                       n->u.string);
        b->size = YAJL_GET_INTEGER(sz);
    }
    yajl_val dg = obj_lookup_get(digests, n->u.string);
    if (dg != NULL && !YAJL_IS_NULL(dg)) {
        if (!YAJL_IS_STRING(dg) || !digest_is_valid(dg->u.string))
            return bad(c, "digest of big-data item \"%s\" is not a valid digest", n->u.string);
        if ((b->digest = strdup(dg->u.string)) == NULL)
            return nomem(c);
    }
    return 0;
}

static int take_big_data(parse_ctx *c, yajl_val root, image_record *r)
{
    yajl_val names = object_get(root, "big-data-names");
    yajl_val sizes = object_get(root, "big-data-sizes");
    yajl_val digests = object_get(root, "big-data-digests");
    if (names == NULL || YAJL_IS_NULL(names))
        return 0;
    if (!YAJL_IS_ARRAY(names))
        return bad(c, "\"%s\" is not an array", "big-data-names");
    if (sizes != NULL && !YAJL_IS_NULL(sizes) && !YAJL_IS_OBJECT(sizes))
        return bad(c, "\"%s\" is not an object", "big-data-sizes");
    if (digests != NULL && !YAJL_IS_NULL(digests) && !YAJL_IS_OBJECT(digests))
        return bad(c, "\"%s\" is not an object", "big-data-digests");
    r->big_data = calloc(names->u.array.len + 1, sizeof(big_data_item));
    if (r->big_data == NULL)
        return nomem(c);
    obj_lookup by_size, by_digest;
    str_set seen; /* the names taken */
    str_set_init(&seen);
    int rc = 0;
    int failed = obj_lookup_init(&by_size, sizes); /* both always initialized */
    if (obj_lookup_init(&by_digest, digests) != 0 || failed != 0)
        rc = nomem(c);
    for (size_t i = 0; rc == 0 && i < names->u.array.len; i++)
        rc = take_big_data_item(c, names->u.array.values[i], &by_size, &by_digest, &seen, r);
    str_set_free(&seen);
    strmap_free(&by_size.map);
    strmap_free(&by_digest.map);
    return rc;
}

static bool is_known_key(const char *key)
{
    static const char *const known[] = {
        "id", "digest", "names", "names-history", "layer", "metadata", "big-data-names",
        "big-data-sizes", "big-data-digests", "created", "loaded", "Loaded", "size", "flags",
        "digests"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(key, known[i]) == 0)
            return true;
    return false;
}

static int take_fields(parse_ctx *c, yajl_val root, image_record *r)
{
    yajl_val v;
    int rc;
    if ((v = object_get(root, "id")) == NULL)
        return bad(c, "%s", "no \"id\"");
    if (!YAJL_IS_STRING(v) || !image_id_is_valid(v->u.string))
        return bad(c, "%s", "\"id\" is not 64 lowercase hex characters");
    if ((rc = take_string(c, v, "id", &r->id)) != 0)
        return rc;
    if ((v = object_get(root, "digest")) != NULL && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_STRING(v))
            return bad(c, "\"%s\" is not a string", "digest");
        if (v->u.string[0] != '\0') {
            if (!digest_is_valid(v->u.string))
                return bad(c, "\"digest\" is not a valid digest: %s", v->u.string);
            if ((rc = take_string(c, v, "digest", &r->digest)) != 0)
                return rc;
        }
    }
    if ((v = object_get(root, "names")) != NULL &&
        (rc = take_list(c, v, "names", &r->names, true)) != 0)
        return rc;
    if ((v = object_get(root, "names-history")) != NULL &&
        (rc = take_list(c, v, "names-history", &r->names_history, false)) != 0)
        return rc;
    static const struct {
        const char *key;
        size_t offset;
    } strings[] = {{"layer", offsetof(image_record, layer)},
                   {"metadata", offsetof(image_record, metadata)},
                   {"created", offsetof(image_record, created)},
                   {"loaded", offsetof(image_record, loaded)},
                   {"Loaded", offsetof(image_record, loaded)}};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        char **slot = (char **)((char *)r + strings[i].offset);
        if (*slot != NULL || (v = object_get(root, strings[i].key)) == NULL || YAJL_IS_NULL(v))
            continue;
        if ((rc = take_string(c, v, strings[i].key, slot)) != 0)
            return rc;
    }
    if ((v = object_get(root, "size")) != NULL && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
            return bad(c, "\"%s\" is not a non-negative integer", "size");
        r->size = YAJL_GET_INTEGER(v);
    }
    if ((v = object_get(root, "flags")) != NULL && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_OBJECT(v))
            return bad(c, "\"%s\" is not an object", "flags");
        if ((r->flags_json = value_to_json(v)) == NULL)
            return nomem(c);
    }
    return take_big_data(c, root, r);
}

static int take_extras(parse_ctx *c, yajl_val root, image_record *r)
{
    size_t n = root->u.object.len;
    r->extra_keys = calloc(n + 1, sizeof(char *));
    r->extra_values = calloc(n + 1, sizeof(char *));
    if (r->extra_keys == NULL || r->extra_values == NULL)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        const char *key = root->u.object.keys[i];
        if (is_known_key(key))
            continue;
        r->extra_keys[r->extra_len] = strdup(key);
        r->extra_values[r->extra_len] = value_to_json(root->u.object.values[i]);
        r->extra_len++;
        if (r->extra_keys[r->extra_len - 1] == NULL || r->extra_values[r->extra_len - 1] == NULL)
            return nomem(c);
    }
    if (r->extra_len == 0) {
        free(r->extra_keys);
        free(r->extra_values);
        r->extra_keys = r->extra_values = NULL;
    }
    return 0;
}

int record_parse(image_record **out, const char *json, size_t len, char *why, size_t why_len)
{
    int rc;
    *out = NULL;
    yajl_val root;
    if ((rc = json_tree_parse(&root, json, len, RECORD_MAX_DEPTH, why, why_len)) != 0)
        return rc; /* JSON_TREE_* and RECORD_* codes are the same */
    rc = record_from_tree(out, root, why, why_len);
    yajl_tree_free(root);
    return rc;
}

int record_from_tree(image_record **out, yajl_val root, char *why, size_t why_len)
{
    parse_ctx c = {why, why_len};
    int rc = 0;
    *out = NULL;
    image_record *r = record_new();
    if (r == NULL) {
        rc = nomem(&c);
    } else if (!YAJL_IS_OBJECT(root)) {
        rc = bad(&c, "%s", "not a JSON object");
    } else if ((rc = take_fields(&c, root, r)) == 0 && (rc = take_extras(&c, root, r)) == 0) {
        if (record_recompute_digests(r) != 0)
            rc = nomem(&c);
    }
    if (rc != 0) {
        record_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- public copies ---- */

static int copy_flags(image_storage_images *out, const char *json)
{
    char why[64];
    yajl_val root;
    if (json_tree_parse(&root, json, strlen(json), RECORD_MAX_DEPTH, why, sizeof(why)) != 0 ||
        !YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return -1;
    }
    int rc = -1;
    size_t n = root->u.object.len;
    out->flags = calloc(n + 1, sizeof(image_flag));
    if (out->flags == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        yajl_val v = root->u.object.values[i];
        image_flag *f = &out->flags[i];
        out->flags_len = i + 1;
        if ((f->key = strdup(root->u.object.keys[i])) == NULL)
            goto out;
        if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
            f->kind = IMAGE_FLAG_BOOL;
            f->boolean = YAJL_IS_TRUE(v);
            continue;
        }
        if (YAJL_IS_NULL(v)) {
            f->kind = IMAGE_FLAG_NULL;
            continue;
        }
        f->kind = YAJL_IS_STRING(v)   ? IMAGE_FLAG_STRING
                  : YAJL_IS_NUMBER(v) ? IMAGE_FLAG_NUMBER
                                      : IMAGE_FLAG_JSON;
        f->text = YAJL_IS_STRING(v)   ? strdup(v->u.string)
                  : YAJL_IS_NUMBER(v) ? strdup(v->u.number.r)
                                      : value_to_json(v);
        if (f->text == NULL)
            goto out;
    }
    rc = 0;
out:
    yajl_tree_free(root);
    return rc;
}

/* Lays out the copy's strings and arrays (measuring when p->base is NULL). */
static void public_into(packer *p, image_storage_images *out, const image_record *r)
{
    out->id = pack_string(p, r->id);
    out->digest = pack_string(p, r->digest);
    out->layer = pack_string(p, r->layer);
    out->metadata = pack_string(p, r->metadata);
    out->created = pack_string(p, r->created);
    out->loaded = pack_string(p, r->loaded);
    const str_list *lists[] = {&r->digests, &r->names, &r->names_history};
    char ***arrays[] = {&out->digests, &out->names, &out->names_history};
    size_t *lens[] = {&out->digests_len, &out->names_len, &out->names_history_len};
    for (size_t k = 0; k < 3; k++) {
        *arrays[k] = pack_bytes(p, NULL, (lists[k]->len + 1) * sizeof(char *), sizeof(char *));
        *lens[k] = lists[k]->len;
        for (size_t i = 0; i < lists[k]->len; i++) {
            char *s = pack_string(p, lists[k]->items[i]);
            if (p->base)
                (*arrays[k])[i] = s;
        }
    }
    size_t n = r->big_data_len;
    out->big_data_names_len = n;
    out->big_data_names = pack_bytes(p, NULL, (n + 1) * sizeof(char *), sizeof(char *));
    out->big_data_digests = pack_bytes(p, NULL, (n + 1) * sizeof(char *), sizeof(char *));
    out->big_data_sizes = pack_bytes(p, NULL, (n + 1) * sizeof(int64_t), sizeof(int64_t));
    for (size_t i = 0; i < n; i++) {
        char *name = pack_string(p, r->big_data[i].name);
        char *digest = pack_string(p, r->big_data[i].digest);
        if (p->base) {
            out->big_data_names[i] = name;
            out->big_data_digests[i] = digest;
            out->big_data_sizes[i] = r->big_data[i].size;
        }
    }
}

int record_to_public(image_storage_images *out, const image_record *r, bool read_only)
{
    return record_to_public_at(out, r, read_only, NULL);
}

int record_to_public_at(image_storage_images *out, const image_record *r, bool read_only,
                        const char *store)
{
    memset(out, 0, sizeof(*out));
    /* One block holds every string and array; image_storage_images_clear()
     * frees it whole. Flags, rare, are allocated apart. */
    packer measure = {NULL, 0};
    image_storage_images scratch;
    memset(&scratch, 0, sizeof(scratch));
    public_into(&measure, &scratch, r);
    pack_string(&measure, store);
    packer p = {malloc(measure.used), 0};
    if (p.base == NULL)
        return -1;
    public_into(&p, out, r);
    out->store = pack_string(&p, store);
    out->internal_block = p.base;
    out->size = r->size;
    out->read_only = read_only;
    if (r->flags_json != NULL && copy_flags(out, r->flags_json) != 0) {
        image_storage_images_clear(out);
        return -1;
    }
    return 0;
}

static void free_strings(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void image_storage_images_clear(image_storage_images *img)
{
    if (img == NULL)
        return;
    for (size_t i = 0; img->flags != NULL && i < img->flags_len; i++) {
        free(img->flags[i].key);
        free(img->flags[i].text);
    }
    free(img->flags);
    if (img->internal_block != NULL) {
        free(img->internal_block);
    } else { /* fields allocated one by one */
        free(img->id);
        free(img->digest);
        free_strings(img->digests, img->digests_len);
        free_strings(img->names, img->names_len);
        free_strings(img->names_history, img->names_history_len);
        free(img->layer);
        free(img->metadata);
        free_strings(img->big_data_names, img->big_data_names_len);
        free(img->big_data_sizes);
        free_strings(img->big_data_digests, img->big_data_names_len);
        free(img->created);
        free(img->loaded);
        free(img->store);
    }
    memset(img, 0, sizeof(*img));
    img->size = -1;
}

void image_storage_images_free(image_storage_images *images, size_t len)
{
    if (images == NULL)
        return;
    for (size_t i = 0; i < len; i++)
        image_storage_images_clear(&images[i]);
    free(images);
}

void image_store_strings_free(char **strings, size_t len)
{
    free_strings(strings, len);
}
