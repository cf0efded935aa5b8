/*
 * The read operations: copies of records and big data for callers. Called
 * after the store caught up with other processes (store_members.c).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "snapshot.h"
#include "store_internal.h"

int store_op_get(store_state *s, const char *id, image_storage_images *image)
{
    image_record *r;
    int rc = store_resolve(s, id, &r);
    if (rc == 0 && record_to_public(image, r, s->readonly) != 0)
        rc = oom(s);
    return rc;
}

int store_op_lookup(store_state *s, const char *name, char **id)
{
    image_record *r;
    int rc = store_resolve(s, name, &r);
    if (rc == 0 && (*id = strdup(r->id)) == NULL)
        rc = oom(s);
    return rc;
}

/* Copies records into a new array. */
static int copy_records(store_state *s, image_record *const *records, size_t n,
                        image_storage_images **out, size_t *len)
{
    image_storage_images *arr = calloc(n + 1, sizeof(*arr));
    if (arr == NULL)
        return oom(s);
    for (size_t i = 0; i < n; i++)
        if (record_to_public(&arr[i], records[i], s->readonly) != 0) {
            image_storage_images_free(arr, i);
            return oom(s);
        }
    *out = arr;
    *len = n;
    return 0;
}

int store_op_by_digest(store_state *s, const char *digest, image_storage_images **images,
                            size_t *len)
{
    if (digest == NULL || !digest_is_valid(digest))
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid digest \"%s\": want sha256:<64 hex>, sha384:<96 hex> or "
                         "sha512:<128 hex>",
                         digest ? digest : "");
    digest_bucket *b = strmap_get(&s->index.by_digest, digest);
    return copy_records(s, b ? b->items : NULL, b ? b->len : 0, images, len);
}

int store_op_metadata(store_state *s, const char *id, char **metadata)
{
    image_record *r;
    int rc = store_resolve(s, id, &r);
    if (rc == 0 && (*metadata = strdup(r->metadata ? r->metadata : "")) == NULL)
        rc = oom(s);
    return rc;
}

/* The record and the item for (ref, key): *item NULL when the record does
 * not list the key. Such a key is still read from its file, as both peers
 * do; only a missing file makes it ENOTFOUND. */
static int find_big_data(store_state *s, const char *ref, const char *key, image_record **r,
                         const big_data_item **item, char file[static 256])
{
    int rc;
    if ((rc = store_resolve(s, ref, r)) != 0 || (rc = store_check_key(s, key, file)) != 0)
        return rc;
    *item = record_find_big_data(*r, key);
    return 0;
}

static int read_big_data(store_state *s, const image_record *r, const char *key,
                         const big_data_item *item, const char *file, char **data, size_t *len)
{
    /* Inside a batch the current bytes may still be staged. */
    char *staged = s->in_batch ? fs_txn_staged_path(&s->batch, r->id, file) : NULL;
    char rel[64 + 1 + 256];
    snprintf(rel, sizeof(rel), "%s/%s", r->id, file);
    size_t hint = item && item->size > 0 ? (size_t)item->size : 0;
    int rc = fs_read_file(s->dirfd, s->dir, staged ? staged : rel, hint, data, len, &s->err);
    free(staged);
    if (rc != 0 && s->err.sys_errno == ENOENT) { /* gone from disk under us */
        struct stat st;
        if (fstatat(s->dirfd, r->id, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            return error_set(&s->err, IMAGE_STORE_ENOTFOUND,
                             "image not found: %s (deleted by another process)", r->id);
        if (item == NULL)
            return error_set(&s->err, IMAGE_STORE_ENOTFOUND,
                             "image %s has no big-data item \"%s\"", r->id, key);
        return error_set(&s->err, IMAGE_STORE_ENOTFOUND,
                         "image %s has no file for big-data item \"%s\" (removed from disk)", r->id,
                         key);
    }
    return rc;
}

int store_op_big_data(store_state *s, const char *id, const char *key, char **data,
                        size_t *len)
{
    image_record *r;
    const big_data_item *item;
    char file[256];
    int rc = find_big_data(s, id, key, &r, &item, file);
    if (rc == 0)
        rc = read_big_data(s, r, key, item, file, data, len);
    return rc;
}

int store_op_big_data_size(store_state *s, const char *id, const char *key, int64_t *size)
{
    image_record *r;
    const big_data_item *item;
    char file[256], *data = NULL;
    size_t len;
    int rc = find_big_data(s, id, key, &r, &item, file);
    if (rc == 0 && item != NULL && item->size >= 0)
        *size = item->size;
    else if (rc == 0 && (rc = read_big_data(s, r, key, item, file, &data, &len)) == 0)
        *size = (int64_t)len; /* not recorded: what the file holds */
    free(data);
    return rc;
}

int store_op_big_data_digest(store_state *s, const char *id, const char *key, char **digest)
{
    image_record *r;
    const big_data_item *item;
    char file[256], *data = NULL, computed[72];
    size_t len;
    int rc = find_big_data(s, id, key, &r, &item, file);
    bool recorded = rc == 0 && item != NULL && item->digest != NULL;
    if (rc == 0 && !recorded) { /* not recorded: digest what the file holds */
        if ((rc = read_big_data(s, r, key, item, file, &data, &len)) == 0 &&
            digest_sha256(computed, data, len) != 0)
            rc = error_set(&s->err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
    }
    if (rc == 0 && (*digest = strdup(recorded ? item->digest : computed)) == NULL)
        rc = oom(s);
    free(data);
    return rc;
}

int store_op_big_data_names(store_state *s, const char *id, char ***names, size_t *len)
{
    image_record *r;
    int rc = store_resolve(s, id, &r);
    if (rc != 0)
        return rc;
    char **out = calloc(r->big_data_len + 1, sizeof(char *));
    if (out == NULL)
        return oom(s);
    for (size_t i = 0; i < r->big_data_len; i++)
        if ((out[i] = strdup(r->big_data[i].name)) == NULL) {
            image_store_strings_free(out, i);
            return oom(s);
        }
    *names = out;
    *len = r->big_data_len;
    return 0;
}

int store_op_problems(store_state *s, image_store_problem **problems, size_t *len)
{
    return problem_list_to_public(&s->problems, problems, len) == 0 ? 0 : oom(s);
}

int store_op_images(store_state *s, image_storage_images **images, size_t *len)
{
    return copy_records(s, (image_record *const *)s->index.sorted.items,
                              s->index.sorted.len, images, len);
}
