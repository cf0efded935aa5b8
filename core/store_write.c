/*
 * The write operations: each validates, edits clones of the records it
 * touches in one changeset, fires the event hook, and applies the changeset
 * (store_changeset.c). Called with the exclusive lock held (store_members.c).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "snapshot.h"
#include "store_internal.h"

#define EVENT_NAMES(list) (const char *const *)(list).items, (list).len

static int fire(store_state *s, image_event ev)
{
    return hooks_event(&s->hooks, &s->err, &ev);
}

static int fire_created(store_state *s, const image_record *r)
{
    return fire(s, (image_event){.kind = IMAGE_EVENT_CREATE, .id = r->id,
                                 .names = EVENT_NAMES(r->names), .layer = r->layer,
                                 .digest = r->digest});
}

static int fire_deleted(store_state *s, const image_record *r)
{
    return fire(s, (image_event){.kind = IMAGE_EVENT_DELETE, .id = r->id,
                                 .names = EVENT_NAMES(r->names)});
}

static int fire_renamed(store_state *s, const image_record *old, const image_record *next)
{
    image_event ev = {.kind = IMAGE_EVENT_NAMES, .id = next->id, .names = EVENT_NAMES(next->names)};
    ev.old_names = (const char *const *)old->names.items;
    ev.old_names_len = old->names.len;
    return fire(s, ev);
}

/* Removes from l every string in set (borrowed keys); keeps the order. */
static void drop_listed(str_list *l, const strmap *set)
{
    size_t kept = 0;
    for (size_t i = 0; i < l->len; i++) {
        if (strmap_get(set, l->items[i]) != NULL)
            free(l->items[i]);
        else
            l->items[kept++] = l->items[i];
    }
    l->len = kept;
}

/* Moves names to the owner's change, taking each from its current holder
 * (who is staged and saved too). */
static int steal_names(store_state *s, changeset *cs, change *owner, const str_list *names)
{
    strmap taken;
    size_t first = cs->len;
    int rc = store_set_of(&taken, names) == 0 ? 0 : oom(s);
    for (size_t i = 0; i < names->len && rc == 0; i++) {
        image_record *holder = strmap_get(&s->index.by_name, names->items[i]);
        if (holder != NULL && holder != owner->old && changeset_edit(s, cs, holder) == NULL)
            rc = IMAGE_STORE_ESYS;
    }
    for (size_t i = first; i < cs->len && rc == 0; i++) /* each victim once */
        drop_listed(&changeset_at(cs, i)->next->names, &taken);
    strmap_free(&taken);
    return rc;
}

static int random_id(store_state *s, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[32];
    do {
        if (fs_random_bytes(r, sizeof(r)) != 0)
            return error_sys(&s->err, errno, "getrandom", s->dir);
        for (int i = 0; i < 32; i++) {
            out[2 * i] = hex[r[i] >> 4];
            out[2 * i + 1] = hex[r[i] & 15];
        }
        out[64] = '\0';
    } while (strmap_get(&s->index.by_id, out) != NULL);
    return 0;
}

/* An image copied up from an additional store (store_op_create_over). */
typedef struct copy_up {
    store_state *from;
    const image_record *base;
} copy_up;

static int copy_up_error(store_state *s, const copy_up *up)
{
    int rc = error_set(&s->err, up->from->err.code, "cannot copy image %s up from %s: %s",
                       up->base->id, up->from->dir, up->from->err.message);
    s->err.sys_errno = up->from->err.sys_errno;
    return rc;
}

/* Fills the new image c->next with what the call left unset, the big data,
 * names history and names of up->base; its names are taken from their
 * holders here. */
static int take_base(store_state *s, changeset *cs, change *c, const copy_up *up, bool now,
                     bool have_layer, bool have_digest)
{
    image_record *r = c->next;
    const image_record *base = up->base;
    str_list extra = {NULL, 0, 0};
    int rc = 0;
    if ((!have_layer && base->layer && (r->layer = strdup(base->layer)) == NULL) ||
        (r->metadata == NULL && base->metadata && (r->metadata = strdup(base->metadata)) == NULL))
        return oom(s);
    if (now && base->created != NULL) {
        free(r->created);
        if ((r->created = strdup(base->created)) == NULL)
            return oom(s);
    }
    if (!have_digest && base->digest != NULL && (r->digest = strdup(base->digest)) == NULL)
        return oom(s);
    if (str_list_merge_unique(&r->names_history, &base->names_history, NULL) != 0)
        return oom(s);
    for (size_t i = 0; i < base->names.len && rc == 0; i++)
        if (!str_list_contains(&r->names, base->names.items[i]) &&
            str_list_append(&extra, base->names.items[i]) != 0)
            rc = oom(s);
    if (rc == 0)
        rc = steal_names(s, cs, c, &extra);
    for (size_t i = 0; i < extra.len && rc == 0; i++)
        if (str_list_append(&r->names, extra.items[i]) != 0)
            rc = oom(s);
    str_list_free(&extra);
    /* containers/storage adds the lower image's names, then the given ones,
     * to the copy, and so to its history */
    str_list added;
    if (rc == 0 && str_list_merge_unique(&added, &base->names, &r->names) != 0)
        rc = oom(s);
    if (rc == 0) {
        if (record_note_names(r, &added) != 0)
            rc = oom(s);
        str_list_free(&added);
    }
    for (size_t i = 0; i < base->big_data_len && rc == 0; i++) {
        const big_data_item *item = &base->big_data[i];
        char file[256], digest[72], *data = NULL;
        size_t len = 0;
        if ((rc = store_check_key(s, item->name, file)) != 0)
            break;
        if (store_op_big_data(up->from, base->id, item->name, &data, &len) != 0) {
            rc = copy_up_error(s, up);
            break;
        }
        if (item->digest == NULL && digest_sha256(digest, data, len) != 0)
            rc = error_set(&s->err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
        else if (record_set_big_data(r, item->name, (int64_t)len,
                                     item->digest ? item->digest : digest) == NULL)
            rc = oom(s);
        else
            rc = change_stage_file(s, cs, c, file, data, len);
        free(data);
    }
    return rc;
}

static int create_image(store_state *s, const char *id, const char **names, size_t names_len,
                        const char *layer, const char *metadata, timestamp time,
                        const char *digest, const copy_up *up, image_storage_images *out)
{
    char generated[65];
    int rc;
    if (id == NULL || id[0] == '\0') {
        if ((rc = random_id(s, generated)) != 0)
            return rc;
        id = generated;
    } else if (!image_id_is_valid(id)) {
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid image ID \"%s\": want 64 lowercase hex characters", id);
    }
    struct stat st;
    if (strmap_get(&s->index.by_id, id) != NULL ||
        (fstatat(s->dirfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         !(s->in_batch && fs_txn_removes(&s->batch, id)))) /* deleted earlier in this batch */
        return error_set(&s->err, IMAGE_STORE_EEXIST, "image ID %s is already in use", id);
    if ((rc = store_check_text(s, "layer", layer)) != 0 || (rc = store_check_text(s, "metadata", metadata)) != 0)
        return rc;
    if (digest != NULL && digest[0] != '\0' && !digest_is_valid(digest))
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid digest \"%s\": want sha256:<64 hex>, sha384:<96 hex> or "
                         "sha512:<128 hex>",
                         digest);
    bool now = time.seconds == IMAGE_TIME_NOW.seconds;
    if (now)
        time = timestamp_now();
    if ((rc = store_check_time(s, time)) != 0)
        return rc;
    str_list unique;
    if ((rc = store_collect_names(s, names, names_len, &unique)) != 0)
        return rc;
    for (size_t i = 0; i < unique.len; i++) {
        image_record *holder = strmap_get(&s->index.by_name, unique.items[i]);
        if (holder != NULL) {
            rc = error_set(&s->err, IMAGE_STORE_ENAMEINUSE, "name \"%s\" is already used by image %s",
                           unique.items[i], holder->id);
            str_list_free(&unique);
            return rc;
        }
    }

    changeset cs;
    changeset_init(s, &cs);
    change *c = changeset_edit(s, &cs, NULL);
    if (c == NULL) {
        rc = IMAGE_STORE_ESYS;
        goto out;
    }
    image_record *r = c->next;
    bool failed = false;
    r->id = strdup(id);
    r->names = unique;
    unique.items = NULL;
    unique.len = 0;
    r->layer = layer && layer[0] ? strdup(layer) : NULL;
    r->metadata = metadata ? strdup(metadata) : NULL;
    r->digest = digest && digest[0] ? strdup(digest) : NULL;
    r->created = store_format_time(time);
    r->loaded = store_format_time(timestamp_now());
    failed = r->id == NULL || (layer && layer[0] && r->layer == NULL) ||
             (metadata && r->metadata == NULL) || (digest && digest[0] && r->digest == NULL) ||
             r->created == NULL || r->loaded == NULL;
    if (failed) {
        rc = oom(s);
        goto out;
    }
    if (up != NULL && (rc = take_base(s, &cs, c, up, now, layer && layer[0],
                                      digest && digest[0])) != 0)
        goto out;
    /* names given at create stay out of the history (containers/storage) */
    if (record_recompute_digests(r) != 0) {
        rc = oom(s);
        goto out;
    }
    if ((rc = fire_created(s, r)) != 0)
        goto out;
    for (size_t i = 1; i < cs.len && rc == 0; i++) /* who lost a name to the copy */
        rc = fire_renamed(s, changeset_at(&cs, i)->old, changeset_at(&cs, i)->next);
    if (rc != 0)
        goto out;
    if (out != NULL && record_to_public(out, r, s->readonly) != 0) {
        rc = oom(s);
        goto out;
    }
    rc = changeset_apply(s, &cs);
    if (rc != 0 && out != NULL)
        image_storage_images_clear(out);
out:
    str_list_free(&unique);
    changeset_free(&cs);
    return rc;
}

int store_op_create(store_state *s, const char *id, const char **names, size_t names_len,
                    const char *layer, const char *metadata, timestamp time, const char *digest,
                    image_storage_images *out)
{
    return create_image(s, id, names, names_len, layer, metadata, time, digest, NULL, out);
}

int store_op_create_over(store_state *s, const char *id, const char **names, size_t names_len,
                         const char *layer, const char *metadata, timestamp time,
                         const char *digest, store_state *from, const image_record *base,
                         image_storage_images *out)
{
    copy_up up = {from, base};
    return create_image(s, id, names, names_len, layer, metadata, time, digest, &up, out);
}

/* set_names (replace) and add_name (append) share this. */
int store_op_set_names(store_state *s, const char *ref, const char **names, size_t names_len,
                        bool append)
{
    int rc;
    image_record *r;
    str_list unique, cs_order = {NULL, 0, 0};
    if ((rc = store_resolve(s, ref, &r)) != 0)
        return rc;
    if ((rc = store_collect_names(s, names, names_len, &unique)) != 0)
        return rc;
    if (append) {
        bool all_held = true;
        for (size_t i = 0; i < unique.len && all_held; i++)
            all_held = strmap_get(&s->index.by_name, unique.items[i]) == r;
        if (all_held) { /* nothing to do: no write */
            str_list_free(&unique);
            return 0;
        }
    }
    changeset cs;
    changeset_init(s, &cs);
    change *c = changeset_edit(s, &cs, r);
    if (c == NULL) {
        rc = IMAGE_STORE_ESYS;
        goto out;
    }
    if ((rc = steal_names(s, &cs, c, &unique)) != 0)
        goto out;
    /* containers/storage's order: add puts the new names first (we append
     * them, as iSulad does); its history follows its order */
    if (append && str_list_merge_unique(&cs_order, &unique, &c->next->names) != 0) {
        rc = oom(s);
        goto out;
    }
    if (append) {
        for (size_t i = 0; i < unique.len && rc == 0; i++)
            if (strmap_get(&s->index.by_name, unique.items[i]) != r &&
                str_list_append(&c->next->names, unique.items[i]) != 0)
                rc = oom(s);
    } else {
        str_list_free(&c->next->names);
        c->next->names = unique;
        unique.items = NULL;
        unique.len = 0;
    }
    if (rc == 0 && record_note_names(c->next, append ? &cs_order : &c->next->names) != 0)
        rc = oom(s);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < cs.len && rc == 0; i++) /* the image named, then who lost names */
        rc = fire_renamed(s, changeset_at(&cs, i)->old, changeset_at(&cs, i)->next);
    if (rc == 0)
        rc = changeset_apply(s, &cs);
out:
    str_list_free(&cs_order);
    str_list_free(&unique);
    changeset_free(&cs);
    return rc;
}

int store_op_remove_name(store_state *s, const char *ref, const char *given)
{
    int rc;
    image_record *r;
    const char *name;
    str_list holder = {NULL, 0, 0};
    if ((rc = store_resolve(s, ref, &r)) != 0 || (rc = store_given_name(s, given, &name, &holder)) != 0)
        return rc;
    changeset cs;
    changeset_init(s, &cs);
    change *c = NULL;
    if (!record_has_name(r, name))
        rc = error_set(&s->err, IMAGE_STORE_ENOTFOUND, "image %s has no name \"%s\"", r->id,
                       name);
    else if ((c = changeset_edit(s, &cs, r)) == NULL)
        rc = IMAGE_STORE_ESYS;
    if (rc == 0) {
        record_remove_name(c->next, name);
        if (record_note_names(c->next, &c->next->names) != 0) /* containers/storage does */
            rc = oom(s);
    }
    if (rc == 0) {
        if ((rc = fire_renamed(s, r, c->next)) == 0)
            rc = changeset_apply(s, &cs);
    }
    changeset_free(&cs);
    str_list_free(&holder);
    return rc;
}

/* Fields edited by the simple setters. */
typedef enum { FIELD_LOADED, FIELD_METADATA, FIELD_SIZE } field;

static int do_set_field(store_state *s, const char *ref, field which, const char *text,
                        int64_t number)
{
    int rc;
    image_record *r;
    if ((rc = store_resolve(s, ref, &r)) != 0)
        return rc;
    char *copy = NULL;
    if (text != NULL && (copy = strdup(text)) == NULL)
        return oom(s);
    changeset cs;
    changeset_init(s, &cs);
    change *c = changeset_edit(s, &cs, r);
    if (c == NULL) {
        free(copy);
        rc = IMAGE_STORE_ESYS;
        goto out;
    }
    switch (which) {
    case FIELD_LOADED:
        free(c->next->loaded);
        c->next->loaded = copy;
        rc = fire(s, (image_event){.kind = IMAGE_EVENT_LOADED, .id = r->id, .loaded = copy});
        break;
    case FIELD_METADATA:
        free(c->next->metadata);
        c->next->metadata = copy;
        break;
    case FIELD_SIZE:
        c->next->size = number;
        break;
    }
    if (rc == 0)
        rc = changeset_apply(s, &cs);
out:
    changeset_free(&cs);
    return rc;
}

int store_op_set_big_data(store_state *s, const char *ref, const char *key, const void *data,
                           size_t len)
{
    int rc;
    image_record *r;
    char file[256], digest[72];
    if ((rc = store_resolve(s, ref, &r)) != 0 || (rc = store_check_key(s, key, file)) != 0)
        return rc;
    if (data == NULL && len > 0)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big data: NULL");
    if (digest_sha256(digest, data ? data : "", len) != 0)
        return error_set(&s->err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
    changeset cs;
    changeset_init(s, &cs);
    change *c = changeset_edit(s, &cs, r);
    if (c == NULL) {
        rc = IMAGE_STORE_ESYS;
        goto out;
    }
    big_data_item *item = record_set_big_data(c->next, key, (int64_t)len, digest);
    if (item == NULL) {
        rc = oom(s);
        goto out;
    }
    if ((rc = fire(s, (image_event){.kind = IMAGE_EVENT_BIG_DATA, .id = r->id, .key = key,
                                    .size = item->size, .digest = item->digest})) != 0)
        goto out;
    if ((rc = change_stage_file(s, &cs, c, file, data ? data : "", len)) != 0)
        goto out;
    rc = changeset_apply(s, &cs);
out:
    changeset_free(&cs);
    return rc;
}

/* Removes the image directories of records (all, or the one given). */
static int remove_images(store_state *s, image_record *only)
{
    fs_txn own, *txn = s->in_batch ? &s->batch : &own;
    size_t n = only ? 1 : s->index.sorted.len;
    int rc = 0;
    fs_txn_init(&own, s->dirfd, s->dir, false);
    if (str_list_reserve(&s->changed, n) != 0)
        rc = oom(s);
    for (size_t i = 0; i < n && rc == 0; i++) {
        image_record *r = only ? only : s->index.sorted.items[i];
        rc = fs_txn_stage_remove(txn, r->id, &s->err);
    }
    if (rc == 0 && txn == &own)
        rc = fs_txn_commit(&own, &s->err);
    fs_txn_free(&own);
    if (rc != 0)
        return rc;
    while (n-- > 0) {
        image_record *r = only ? only : s->index.sorted.items[s->index.sorted.len - 1];
        store_note_changed(s, r->id); /* reserved above */
        index_remove(&s->index, r, true);
        record_free(r);
    }
    return 0;
}

int store_op_delete(store_state *s, const char *ref)
{
    image_record *r;
    int rc = store_resolve(s, ref, &r);
    if (rc == 0)
        rc = fire_deleted(s, r);
    return rc != 0 ? rc : remove_images(s, r);
}

int store_op_wipe(store_state *s)
{
    int rc = 0;
    for (size_t i = 0; i < s->index.sorted.len && rc == 0; i++)
        rc = fire_deleted(s, s->index.sorted.items[i]);
    if (rc == 0)
        rc = remove_images(s, NULL);
    if (rc == 0)
        s->changed_all = true;
    return rc;
}

int store_op_save(store_state *s)
{
    for (size_t i = 0; i < s->index.sorted.len; i++) {
        changeset cs;
        changeset_init(s, &cs);
        int rc = changeset_edit(s, &cs, s->index.sorted.items[i]) ? changeset_apply(s, &cs)
                                                                  : IMAGE_STORE_ESYS;
        changeset_free(&cs);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int store_op_set_loaded_time(store_state *s, const char *id, timestamp loaded)
{
    int rc = store_check_time(s, loaded);
    char *text = rc == 0 ? store_format_time(loaded) : NULL;
    if (rc == 0 && text == NULL)
        rc = oom(s);
    if (rc == 0)
        rc = do_set_field(s, id, FIELD_LOADED, text, 0);
    free(text);
    return rc;
}

int store_op_set_metadata(store_state *s, const char *id, const char *metadata)
{
    int rc = store_check_text(s, "metadata", metadata);
    return rc != 0 ? rc : do_set_field(s, id, FIELD_METADATA, metadata, 0);
}

int store_op_set_size(store_state *s, const char *id, int64_t size)
{
    if (size < 0)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid size %" PRId64 ": must not be negative",
                         size);
    return do_set_field(s, id, FIELD_SIZE, NULL, size);
}
