/*
 * Change sets: the records an operation edits (as clones) and the files it
 * stages, committed in one fs transaction and then swapped into the indexes.
 * Nothing in memory changes unless the commit succeeded.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

void changeset_init(store_state *s, changeset *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->cap = sizeof(cs->items) / sizeof(cs->items[0]);
    strmap_init(&cs->later);
    fs_txn_init(&cs->own, s->dirfd, s->dir, false);
    cs->txn = s->in_batch ? &s->batch : &cs->own;
}

change *changeset_at(changeset *cs, size_t i)
{
    return i < 8 ? &cs->items[i] : &cs->more[i - 8];
}

/* The change for old (existing or new), with a clone to edit; NULL on OOM. */
change *changeset_edit(store_state *s, changeset *cs, image_record *old)
{
    for (size_t i = 0; i < cs->len && i < 8; i++)
        if (changeset_at(cs, i)->old == old && old != NULL)
            return changeset_at(cs, i);
    uintptr_t at = old && cs->len > 8 ? (uintptr_t)strmap_get(&cs->later, old->id) : 0;
    if (at != 0)
        return changeset_at(cs, at - 1);
    if (cs->len >= 8 && old != NULL && strmap_reserve(&cs->later, 1) != 0) {
        oom(s);
        return NULL;
    }
    if (cs->len == cs->cap) {
        size_t more = cs->cap * 2 - 8;
        change *grown = realloc(cs->more, more * sizeof(change));
        if (grown == NULL) {
            oom(s);
            return NULL;
        }
        cs->more = grown;
        cs->cap = more + 8;
    }
    if (old != NULL && s->in_batch && store_batch_note_names(s, old) != 0)
        return NULL;
    image_record *next = old ? record_clone(old) : record_new();
    if (next == NULL) {
        oom(s);
        return NULL;
    }
    if (cs->len >= 8 && old != NULL)
        strmap_put(&cs->later, old->id, (void *)(uintptr_t)(cs->len + 1)); /* room was made */
    change *c = changeset_at(cs, cs->len++);
    c->old = old;
    c->next = next;
    return c;
}

void changeset_free(changeset *cs)
{
    fs_txn_free(&cs->own);
    for (size_t i = 0; i < cs->len; i++)
        record_free(changeset_at(cs, i)->next);
    free(cs->more);
    strmap_free(&cs->later);
}

/* A new image's directory, staged once per transaction. */
static int stage_new_image_dir(store_state *s, changeset *cs, const change *c)
{
    if (c->old != NULL || fs_txn_has_dir(cs->txn, c->next->id))
        return 0;
    return fs_txn_stage_dir(cs->txn, c->next->id, &s->err);
}

/* Stages a file in c's image directory. */
int change_stage_file(store_state *s, changeset *cs, change *c, const char *name,
                             const void *data, size_t len)
{
    int rc = stage_new_image_dir(s, cs, c);
    return rc != 0 ? rc : fs_txn_stage_file(cs->txn, c->next->id, name, data, len, &s->err);
}

int store_note_changed(store_state *s, const char *id)
{
    return str_list_append(&s->changed, id) == 0 ? 0 : oom(s);
}

/* Writes every staged record, commits (outside a batch), then swaps the
 * records into memory. */
static int stage_record(store_state *s, fs_txn *txn, const image_record *r)
{
    char *json;
    size_t len;
    int rc = record_serialize(&json, &len, r);
    if (rc == RECORD_INVALID) /* only a foreign record can hold such text */
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "cannot write the record of image %s: a string in it is not valid UTF-8",
                         r->id);
    if (rc != 0)
        return oom(s);
    rc = fs_txn_stage_file(txn, r->id, RECORD_FILE, json, len, &s->err);
    free(json);
    return rc;
}

/* Stages every staged record's file (outside a batch; inside, records are
 * written once each at commit), commits (outside a batch), then swaps the
 * records into memory. */
int changeset_apply(store_state *s, changeset *cs)
{
    int rc;
    /* Last edited first: images that lose a name are written before the one
     * that gains it, so a crash between the two never leaves a name twice. */
    for (size_t i = cs->len; i-- > 0;) {
        change *c = changeset_at(cs, i);
        if (record_recompute_digests(c->next) != 0)
            return oom(s);
        if ((rc = stage_new_image_dir(s, cs, c)) != 0)
            return rc;
        if (!s->in_batch && (rc = stage_record(s, cs->txn, c->next)) != 0)
            return rc;
    }
    /* The image that took names (the first edited) after those that lost them. */
    if (!s->in_batch && cs->len > 1)
        fs_txn_commit_last(cs->txn, (const char *const *)&changeset_at(cs, 0)->next->id, 1);
    for (size_t i = 0; i < cs->len; i++)
        if (index_reserve(&s->index, changeset_at(cs, i)->next) != 0 ||
            str_list_reserve(&s->changed, cs->len) != 0)
            return oom(s);
    if (cs->txn == &cs->own && (rc = fs_txn_commit(&cs->own, &s->err)) != 0)
        return rc;
    /* Published: nothing below can fail (the room was reserved above). */
    for (size_t i = 0; i < cs->len; i++)
        if (changeset_at(cs, i)->old != NULL)
            index_remove(&s->index, changeset_at(cs, i)->old, false);
    for (size_t i = 0; i < cs->len; i++)
        index_add(&s->index, changeset_at(cs, i)->next);
    for (size_t i = cs->len; i-- > 0;) { /* noted in write order, see above */
        change *c = changeset_at(cs, i);
        store_note_changed(s, c->next->id);
        if (c->old != NULL)
            index_prune(&s->index, c->old);
        record_free(c->old);
        c->old = NULL;
        c->next = NULL;
    }
    return 0;
}

/* At batch commit: each record the batch changed, once, in the order of its
 * last change (so the write order of every name move is kept). */
/* What a batch remembers of an image it edits: its names on disk. */
typedef struct disk_names {
    char *id;
    str_list names;
} disk_names;

int store_batch_note_names(store_state *s, const image_record *r)
{
    if (strmap_get(&s->batch_disk_names, r->id) != NULL)
        return 0;
    disk_names *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return oom(s);
    if ((d->id = strdup(r->id)) == NULL || str_list_merge_unique(&d->names, &r->names, NULL) != 0) {
        free(d->id);
        free(d);
        return oom(s);
    }
    if (strmap_put(&s->batch_disk_names, d->id, d) != 0) {
        str_list_free(&d->names);
        free(d->id);
        free(d);
        return oom(s);
    }
    return 0;
}

void store_batch_names_free(store_state *s)
{
    strmap *m = &s->batch_disk_names;
    for (size_t i = 0; i < m->cap; i++) {
        disk_names *d = m->slots[i].key ? m->slots[i].value : NULL;
        if (d != NULL) {
            str_list_free(&d->names);
            free(d->id);
            free(d);
        }
    }
    strmap_free(m);
    strmap_init(m);
}

/* Whether r holds a name its record on disk does not; -1 on OOM. */
static int gains_names(store_state *s, const image_record *r)
{
    const disk_names *d = strmap_get(&s->batch_disk_names, r->id);
    if (r->names.len == 0)
        return 0;
    if (d == NULL)
        return 1;
    strmap on_disk;
    if (store_set_of(&on_disk, &d->names) != 0) {
        strmap_free(&on_disk);
        return oom(s), -1;
    }
    int gains = 0;
    for (size_t i = 0; i < r->names.len && !gains; i++)
        gains = strmap_get(&on_disk, r->names.items[i]) == NULL;
    strmap_free(&on_disk);
    return gains;
}

int store_stage_batch_records(store_state *s)
{
    strmap seen;
    strmap_init(&seen);
    const char **order = malloc((s->changed.len + 1) * sizeof(char *));
    size_t n = 0;
    int rc = order ? 0 : oom(s);
    for (size_t i = s->changed.len; rc == 0 && i-- > 0;) {
        const char *id = s->changed.items[i];
        if (strmap_get(&seen, id) != NULL)
            continue;
        if (strmap_put(&seen, id, &seen) != 0) /* any non-NULL value */
            rc = oom(s);
        else
            order[n++] = id;
    }
    const char **gainers = rc == 0 ? malloc((n + 1) * sizeof(char *)) : NULL;
    size_t gained = 0;
    if (rc == 0 && gainers == NULL)
        rc = oom(s);
    while (rc == 0 && n-- > 0) {
        image_record *r = strmap_get(&s->index.by_id, order[n]);
        if (r == NULL) /* deleted since */
            continue;
        int gains = (rc = stage_record(s, &s->batch, r)) == 0 ? gains_names(s, r) : 0;
        if (gains < 0)
            rc = IMAGE_STORE_ESYS;
        else if (gains > 0)
            gainers[gained++] = r->id;
    }
    /* Images that gained names go in after every image that lost one (and
     * every removal), behind a barrier. */
    if (rc == 0)
        fs_txn_commit_last(&s->batch, gainers, gained);
    free(gainers);
    free(order);
    strmap_free(&seen);
    return rc;
}
