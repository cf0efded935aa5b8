/*
 * The store: in-memory records with their indexes, kept equal to the disk.
 *
 * Every mutation stages the changed records (clones) and files in an fs
 * transaction, commits it, and only then swaps the clones into the indexes;
 * a failure before that frees the clones, so memory and disk stay as they
 * were. Inside a batch the transaction is the batch's: files are staged
 * without syncing, memory changes at once, and the commit at the end makes
 * everything durable with one sync (or the abort reloads memory from disk).
 *
 * Around each call: a writer holds the lock file exclusively, first catches
 * up with other processes' changes (lock.h), then publishes the IDs it
 * changed. A reader only compares the shared generation counter with the one
 * it has seen, and catches up under a shared lock when they differ.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "fs.h"
#include "hooks.h"
#include "image_store.h"
#include "index.h"
#include "lock.h"
#include "record.h"
#include "snapshot.h"
#include "check.h"
#include "text.h"

#define RECORD_FILE "images.json"

struct image_store_state {
    char *dir;
    int dirfd;
    bool daemon;
    bool readonly;
    image_index index;
    image_store_problem *problems;
    size_t problems_len;
    store_lock lock;
    uint64_t seen_generation; /* of the lock file, as far as memory reflects it */
    str_list changed;         /* IDs the current operation (or batch) wrote */
    bool changed_all;         /* ... or everything */
    bool in_batch;
    fs_txn batch;             /* the open batch's staged writes (deferred sync) */
    bool batch_failed;        /* a write inside the batch failed: commit refuses */
    int batch_errno;
    char batch_failure[1024];
    size_t stale;             /* records the snapshot does not vouch for */
    hook_slot hooks;
    image_error err;
};

typedef struct image_store_state store_state;

/* ---- errors and references ---- */

/* What a closed store's state points at: never read or written, only told
 * apart from a store whose allocation failed (NULL). */
static const char closed_marker;
#define CLOSED_STATE ((store_state *)(uintptr_t)&closed_marker)

static store_state *state_of(const image_store_t *st)
{
    return st != NULL && st->state != CLOSED_STATE ? st->state : NULL;
}

static int oom(store_state *s)
{
    return error_sys(&s->err, ENOMEM, "malloc", s->dir);
}

static int refuse_readonly(store_state *s, const char *op)
{
    if (!s->readonly)
        return 0;
    return error_set(&s->err, IMAGE_STORE_EREADONLY, "store is read-only: cannot %s", op);
}

/* The repository part of a name: without "@digest" and without ":tag". */
static size_t repository_length(const char *name)
{
    size_t n = strcspn(name, "@");
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (name[i] == ':')
            colon = name + i;
        else if (name[i] == '/')
            colon = NULL;
    return colon ? (size_t)(colon - name) : n;
}

static int resolve_repo_digest(store_state *s, const char *ref, const char *at, image_record **out)
{
    const char *digest = at + 1;
    size_t repo_len = (size_t)(at - ref);
    digest_bucket *b = digest_is_valid(digest) ? strmap_get(&s->index.by_digest, digest) : NULL;
    image_record *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; b != NULL && i < b->len; i++) {
        image_record *r = b->items[i];
        for (size_t j = 0; j < r->names.len; j++) {
            const char *name = r->names.items[j];
            if (repository_length(name) == repo_len && strncmp(name, ref, repo_len) == 0) {
                if (found != r)
                    matches++;
                found = r;
                break;
            }
        }
    }
    if (matches > 1)
        return error_set(&s->err, IMAGE_STORE_EAMBIGUOUS,
                         "image reference \"%s\" is ambiguous: matches %zu images", ref, matches);
    *out = found;
    return 0;
}

/* An exact name, or repo@digest; NULL when neither matches. */
static int resolve_name(store_state *s, const char *ref, image_record **out)
{
    if ((*out = strmap_get(&s->index.by_name, ref)) != NULL)
        return 0;
    const char *at = strrchr(ref, '@');
    return at != NULL && at != ref ? resolve_repo_digest(s, ref, at, out) : 0;
}

/* The name hook's candidates for ref: one image, several (EAMBIGUOUS, the
 * message lists the names that matched), or none (*out NULL). */
static int resolve_candidates(store_state *s, const char *ref, image_record **out)
{
    str_list candidates;
    int rc = hooks_lookup_candidates(&s->hooks, &s->err, ref, &candidates);
    image_record **images = NULL; /* distinct images found, in candidate order */
    size_t found = 0;
    char listed[768] = "";
    size_t used = 0;
    if (rc == 0 && candidates.len > 0 &&
        (images = malloc(candidates.len * sizeof(*images))) == NULL)
        rc = oom(s);
    for (size_t i = 0; rc == 0 && i < candidates.len; i++) {
        image_record *r;
        if ((rc = resolve_name(s, candidates.items[i], &r)) != 0 || r == NULL)
            continue;
        bool seen = false;
        for (size_t j = 0; j < found; j++)
            seen = seen || images[j] == r;
        if (seen)
            continue;
        images[found++] = r;
        int n = snprintf(listed + used, sizeof(listed) - used, "%s%s (image %.12s)",
                         used ? ", " : "", candidates.items[i], r->id);
        used = n < 0 || (size_t)n >= sizeof(listed) - used ? sizeof(listed) - 1 : used + (size_t)n;
    }
    *out = rc == 0 && found == 1 ? images[0] : NULL;
    free(images);
    str_list_free(&candidates);
    if (rc == 0 && found > 1)
        rc = error_set(&s->err, IMAGE_STORE_EAMBIGUOUS,
                       "image reference \"%s\" is ambiguous: matches %s", ref, listed);
    return rc;
}

/* Resolves a reference: full ID, name, the name hook's candidates,
 * repo@digest, then unique ID prefix. */
static int resolve(store_state *s, const char *ref, image_record **out)
{
    image_record *r;
    *out = NULL;
    if (ref == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid image reference: NULL");
    if ((r = strmap_get(&s->index.by_id, ref)) != NULL ||
        (r = strmap_get(&s->index.by_name, ref)) != NULL) {
        *out = r;
        return 0;
    }
    int rc = resolve_candidates(s, ref, &r);
    const char *at = strrchr(ref, '@');
    if (rc == 0 && r == NULL && at != NULL && at != ref) /* the exact name missed above */
        rc = resolve_repo_digest(s, ref, at, &r);
    if (rc != 0 || r != NULL) {
        *out = r;
        return rc;
    }
    size_t len = strlen(ref);
    if (len < 64 && is_lower_hex(ref, 0)) {
        size_t first, count = sorted_ids_prefix(&s->index.sorted, ref, &first);
        if (count > 1)
            return error_set(&s->err, IMAGE_STORE_EAMBIGUOUS,
                             "image reference \"%s\" is ambiguous: matches %zu images", ref,
                             count);
        if (count == 1) {
            *out = s->index.sorted.items[first];
            return 0;
        }
    }
    return error_set(&s->err, IMAGE_STORE_ENOTFOUND, "image not found: \"%s\"", ref);
}

/* ---- validation ---- */

static int check_name(store_state *s, const char *name)
{
    if (name == NULL || name[0] == '\0')
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid name \"\": empty");
    if (!text_is_utf8(name, strlen(name)))
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid name \"%s\": not valid UTF-8", name);
    if (text_has_control(name))
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid name \"%s\": holds a control character", name);
    return 0;
}

/* What a record keeps as JSON text must be UTF-8, or no open could read it. */
static int check_text(store_state *s, const char *what, const char *value)
{
    if (value == NULL || text_is_utf8(value, strlen(value)))
        return 0;
    return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid %s: not valid UTF-8", what);
}

static int check_time(store_state *s, timestamp t)
{
    /* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z: what RFC 3339 can write. */
    if (t.seconds < -62167219200LL || t.seconds > 253402300799LL || t.nanos < 0 ||
        t.nanos > 999999999)
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid time %" PRId64 ".%09d: outside the years 0000 to 9999",
                         t.seconds, (int)t.nanos);
    return 0;
}

static char *format_time(timestamp t)
{
    char buf[40];
    timestamp_format(t, buf);
    return strdup(buf);
}

/* name as the name hook would have it stored, checked; *out is name or a
 * string owned by holder. */
static int given_name(store_state *s, const char *name, const char **out, str_list *holder)
{
    int rc = check_name(s, name);
    if (rc == 0)
        rc = hooks_store_name(&s->hooks, &s->err, name, out, holder);
    return rc != 0 ? rc : check_name(s, *out);
}

/* Names deduplicated in order, each checked (after the name hook). */
static int collect_names(store_state *s, const char **names, size_t len, str_list *out)
{
    str_list holder = {NULL, 0, 0};
    strmap seen;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    strmap_init(&seen);
    if (len > 0 && names == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid names: NULL list");
    for (size_t i = 0; i < len && rc == 0; i++) {
        const char *name;
        if ((rc = given_name(s, names[i], &name, &holder)) != 0 || strmap_get(&seen, name))
            continue;
        if (str_list_append(out, name) != 0 ||
            strmap_put(&seen, out->items[out->len - 1], out) != 0)
            rc = oom(s);
    }
    strmap_free(&seen);
    str_list_free(&holder);
    if (rc != 0)
        str_list_free(out);
    return rc;
}

/* A set of the strings of l (borrowed); 0 or -1. */
static int set_of(strmap *set, const str_list *l)
{
    strmap_init(set);
    if (strmap_reserve(set, l->len) != 0)
        return -1;
    for (size_t i = 0; i < l->len; i++)
        strmap_put(set, l->items[i], set); /* room was made */
    return 0;
}

/* ---- events for the event hook ---- */

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

/* history = names, then the old history, deduplicated (containers/storage). */
static int prepend_history(image_record *r, const str_list *names)
{
    str_list merged = {NULL, 0, 0};
    if (str_list_merge_unique(&merged, names, &r->names_history) != 0)
        return -1;
    str_list_free(&r->names_history);
    r->names_history = merged;
    return 0;
}

/* ---- change sets: stage, commit, publish ---- */

typedef struct change {
    image_record *old;  /* NULL for a new image */
    image_record *next; /* the staged replacement (owned until published) */
} change;

typedef struct changeset {
    change items[8];
    change *more; /* when items is not enough */
    size_t len, cap;
    strmap later; /* id of old -> index + 1, for the changes in more */
    fs_txn own;   /* outside a batch */
    fs_txn *txn;  /* own, or the batch's */
} changeset;

static void changeset_init(store_state *s, changeset *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->cap = sizeof(cs->items) / sizeof(cs->items[0]);
    strmap_init(&cs->later);
    fs_txn_init(&cs->own, s->dirfd, s->dir, false);
    cs->txn = s->in_batch ? &s->batch : &cs->own;
}

static change *changeset_at(changeset *cs, size_t i)
{
    return i < 8 ? &cs->items[i] : &cs->more[i - 8];
}

/* The change for old (existing or new), with a clone to edit; NULL on OOM. */
static change *changeset_edit(store_state *s, changeset *cs, image_record *old)
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

static void changeset_free(changeset *cs)
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
static int change_stage_file(store_state *s, changeset *cs, change *c, const char *name,
                             const void *data, size_t len)
{
    int rc = stage_new_image_dir(s, cs, c);
    return rc != 0 ? rc : fs_txn_stage_file(cs->txn, c->next->id, name, data, len, &s->err);
}

static int note_changed(store_state *s, const char *id)
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
static int changeset_apply(store_state *s, changeset *cs)
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
        note_changed(s, c->next->id);
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
static int stage_batch_records(store_state *s)
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
    while (rc == 0 && n-- > 0) {
        image_record *r = strmap_get(&s->index.by_id, order[n]);
        if (r != NULL) /* else deleted since */
            rc = stage_record(s, &s->batch, r);
    }
    free(order);
    strmap_free(&seen);
    return rc;
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
    int rc = set_of(&taken, names) == 0 ? 0 : oom(s);
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

/* ---- operations ---- */

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

static int do_create(store_state *s, const char *id, const char **names, size_t names_len,
                     const char *layer, const char *metadata, timestamp time,
                     const char *digest, image_storage_images *out)
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
    if ((rc = check_text(s, "layer", layer)) != 0 || (rc = check_text(s, "metadata", metadata)) != 0)
        return rc;
    if (digest != NULL && digest[0] != '\0' && !digest_is_valid(digest))
        return error_set(&s->err, IMAGE_STORE_EINVAL,
                         "invalid digest \"%s\": want sha256:<64 hex>, sha384:<96 hex> or "
                         "sha512:<128 hex>",
                         digest);
    if (time.seconds == IMAGE_TIME_NOW.seconds)
        time = timestamp_now();
    if ((rc = check_time(s, time)) != 0)
        return rc;
    str_list unique;
    if ((rc = collect_names(s, names, names_len, &unique)) != 0)
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
    r->digest_explicit = r->digest != NULL;
    r->created = format_time(time);
    r->loaded = format_time(timestamp_now());
    failed = r->id == NULL || (layer && layer[0] && r->layer == NULL) ||
             (metadata && r->metadata == NULL) || (r->digest_explicit && r->digest == NULL) ||
             r->created == NULL || r->loaded == NULL || prepend_history(r, &r->names) != 0 ||
             record_recompute_digests(r) != 0;
    if (failed) {
        rc = oom(s);
        goto out;
    }
    if ((rc = fire_created(s, r)) != 0)
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

/* set_names (replace) and add_name (append) share this. */
static int do_set_names(store_state *s, const char *ref, const char **names, size_t names_len,
                        bool append)
{
    int rc;
    image_record *r;
    str_list unique;
    if ((rc = resolve(s, ref, &r)) != 0)
        return rc;
    if ((rc = collect_names(s, names, names_len, &unique)) != 0)
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
    if (append) {
        for (size_t i = 0; i < unique.len; i++)
            if (strmap_get(&s->index.by_name, unique.items[i]) != r &&
                str_list_append(&c->next->names, unique.items[i]) != 0) {
                rc = oom(s);
                goto out;
            }
    } else {
        str_list_free(&c->next->names);
        c->next->names = unique;
        unique.items = NULL;
        unique.len = 0;
    }
    if (prepend_history(c->next, append ? &unique : &c->next->names) != 0) {
        rc = oom(s);
        goto out;
    }
    for (size_t i = 0; i < cs.len && rc == 0; i++) /* the image named, then who lost names */
        rc = fire_renamed(s, changeset_at(&cs, i)->old, changeset_at(&cs, i)->next);
    if (rc == 0)
        rc = changeset_apply(s, &cs);
out:
    str_list_free(&unique);
    changeset_free(&cs);
    return rc;
}

static int do_remove_name(store_state *s, const char *ref, const char *given)
{
    int rc;
    image_record *r;
    const char *name;
    str_list holder = {NULL, 0, 0};
    if ((rc = resolve(s, ref, &r)) != 0 || (rc = given_name(s, given, &name, &holder)) != 0)
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
        for (size_t i = 0; i < c->next->names.len; i++)
            if (strcmp(c->next->names.items[i], name) == 0) {
                str_list_remove_at(&c->next->names, i);
                break;
            }
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
    if ((rc = resolve(s, ref, &r)) != 0)
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

/* The file name of a big-data key, into file; EINVAL for an unsafe key. */
static int check_key(store_state *s, const char *key, char file[static 256])
{
    const char *why = NULL;
    if (key == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big-data key: NULL");
    if (!text_is_utf8(key, strlen(key)))
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big-data key \"%s\": not valid UTF-8",
                         key);
    if (big_data_file_name_into(file, key, &why) == 0)
        return 0;
    return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid big-data key \"%s\": %s", key, why);
}

static int do_set_big_data(store_state *s, const char *ref, const char *key, const void *data,
                           size_t len)
{
    int rc;
    image_record *r;
    char file[256], digest[72];
    if ((rc = resolve(s, ref, &r)) != 0 || (rc = check_key(s, key, file)) != 0)
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
    big_data_item *item = record_find_big_data(c->next, key);
    if (item == NULL) {
        big_data_item *grown =
            realloc(c->next->big_data, (c->next->big_data_len + 1) * sizeof(big_data_item));
        if (grown == NULL) {
            rc = oom(s);
            goto out;
        }
        c->next->big_data = grown;
        item = &grown[c->next->big_data_len];
        memset(item, 0, sizeof(*item));
        if ((item->name = strdup(key)) == NULL) {
            rc = oom(s);
            goto out;
        }
        c->next->big_data_len++;
    }
    free(item->digest);
    if ((item->digest = strdup(digest)) == NULL) {
        rc = oom(s);
        goto out;
    }
    item->size = (int64_t)len;
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
        note_changed(s, r->id); /* reserved above */
        index_remove(&s->index, r, true);
        record_free(r);
    }
    return 0;
}

static int do_delete(store_state *s, const char *ref)
{
    image_record *r;
    int rc = resolve(s, ref, &r);
    if (rc == 0)
        rc = fire_deleted(s, r);
    return rc != 0 ? rc : remove_images(s, r);
}

static int do_wipe(store_state *s)
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

static int do_save(store_state *s)
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

/* ---- loading ---- */

typedef struct loaded_state {
    image_index index;
    image_store_problem *problems;
    size_t problems_len, problems_cap;
    size_t stale; /* records read from their files, not from the snapshot */
} loaded_state;

/* Appends {path, kind, problem} to a problem list. */
static int push_problem(image_store_problem **list, size_t *len, size_t *cap, const char *path,
                        const char *kind, const char *text)
{
    if (*len == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 4;
        image_store_problem *grown = realloc(*list, grown_cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        *list = grown;
        *cap = grown_cap;
    }
    image_store_problem *p = &(*list)[*len];
    p->path = strdup(path);
    p->kind = strdup(kind);
    p->problem = strdup(text);
    if (p->path == NULL || p->kind == NULL || p->problem == NULL) {
        free(p->path);
        free(p->kind);
        free(p->problem);
        return -1;
    }
    (*len)++;
    return 0;
}

static int add_problem(loaded_state *ls, const char *path, const char *kind, const char *text)
{
    return push_problem(&ls->problems, &ls->problems_len, &ls->problems_cap, path, kind, text);
}

/* Reads <name>/images.json (check_read_record()), packed into arena. An
 * unusable record is *out NULL with *why and *kind, the finding's name.
 * Returns -1 only when memory ran out. */
static int read_record(store_state *s, const char *name, image_record **out, char *why,
                       size_t why_len, const char **kind, record_arena *arena)
{
    finding_kind k;
    const char *about;
    if (check_read_record(s->dirfd, s->dir, name, out, &k, &about, why, why_len) != 0)
        return -1;
    if (*out == NULL) {
        *kind = finding_kind_name(k);
        return 0;
    }
    image_record *packed = record_pack(*out, arena);
    record_free(*out);
    *out = packed;
    return packed ? 0 : -1;
}

/* A problem about <dir>/<name>[/<file>]. */
static int add_entry_problem(store_state *s, loaded_state *ls, const char *name, const char *file,
                             const char *kind, const char *text)
{
    char *dirpath = fs_join(s->dir, name), *path = dirpath && file ? fs_join(dirpath, file) : NULL;
    int rc = dirpath && (path || !file) ? add_problem(ls, path ? path : dirpath, kind, text) : -1;
    free(path);
    free(dirpath);
    return rc;
}

/* Adds r to the index; a name another image already holds is dropped here
 * (in memory only) and reported. */
static int admit_record(store_state *s, loaded_state *ls, image_record *r)
{
    for (size_t i = 0; i < r->names.len;) {
        image_record *holder = strmap_get(&ls->index.by_name, r->names.items[i]);
        if (holder == NULL) {
            i++;
            continue;
        }
        char msg[300];
        snprintf(msg, sizeof(msg), "name \"%s\" is also held by image %s; ignored here",
                 r->names.items[i], holder->id);
        if (add_entry_problem(s, ls, r->id, RECORD_FILE, "duplicate-name", msg) != 0)
            return -1;
        record_drop_name(r, i);
    }
    if (index_reserve(&ls->index, r) != 0)
        return -1;
    index_add(&ls->index, r);
    return 0;
}

/* An entry of the store directory, as listed. */
typedef struct dir_entry {
    char *name;
    unsigned char type; /* d_type: DT_DIR, ..., or DT_UNKNOWN */
} dir_entry;

/* What load needs to know of an entry: its type, and for an image
 * directory the stat of its record file (the snapshot's stamp). */
typedef struct entry_stat {
    int err;          /* errno of the entry's fstatat, or 0 */
    mode_t mode;      /* the entry's type */
    int record_err;   /* errno of the record file's fstatat, or 0 */
    struct stat record;
} entry_stat;

typedef struct stat_job {
    int dirfd;
    const dir_entry *entries;
    entry_stat *out;
    size_t from, to;
} stat_job;

static void *stat_range(void *arg)
{
    stat_job *job = arg;
    for (size_t i = job->from; i < job->to; i++) {
        const dir_entry *d = &job->entries[i];
        entry_stat *e = &job->out[i];
        struct stat st;
        e->err = e->record_err = 0;
        e->mode = d->type == DT_DIR ? S_IFDIR : 0;
        if (d->type != DT_DIR) { /* readdir did not say: ask */
            e->err = fstatat(job->dirfd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
            e->mode = e->err ? 0 : st.st_mode & S_IFMT;
        }
        if (e->err == 0 && S_ISDIR(e->mode) && image_id_is_valid(d->name)) {
            char rel[64 + 1 + sizeof(RECORD_FILE)];
            snprintf(rel, sizeof(rel), "%s/%s", d->name, RECORD_FILE);
            e->record_err = fstatat(job->dirfd, rel, &e->record, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
        }
    }
    return NULL;
}

/* Stats every entry; a large directory in two threads (a stat is mostly
 * system-call cost, and open is waiting for all of them). */
static void stat_entries(int dirfd, const dir_entry *entries, size_t n, entry_stat *out)
{
    stat_job whole = {dirfd, entries, out, 0, n}, half = whole;
    pthread_t thread;
    if (n < 4096 || (half.from = n / 2, pthread_create(&thread, NULL, stat_range, &half)) != 0) {
        stat_range(&whole);
        return;
    }
    whole.to = n / 2;
    stat_range(&whole);
    pthread_join(thread, NULL);
}

/* One entry of the store directory: an image directory, or a problem. */
static int load_entry(store_state *s, loaded_state *ls, snapshot *snap, const char *name,
                      const entry_stat *es, record_arena *arena)
{
    char why[512];
    const char *kind;
    image_record *r = NULL;
    int rc = 0;
    if (es->err != 0) {
        snprintf(why, sizeof(why), "cannot stat the entry: %s", strerror(es->err));
        rc = add_entry_problem(s, ls, name, NULL, "unreadable", why);
    } else if (!S_ISDIR(es->mode)) {
        /* plain files (images.lock, ...) are not ours to judge, unless they
         * take an image's place */
        if (image_id_is_valid(name)) {
            snprintf(why, sizeof(why), "an image's place is taken by %s, not a directory",
                     fs_type_name(es->mode));
            rc = add_entry_problem(s, ls, name, NULL, "not-a-directory", why);
        }
    } else if (!image_id_is_valid(name)) {
        rc = add_entry_problem(s, ls, name, NULL, "not-an-image",
                               "not an image directory: the name is not a 64-hex ID");
    } else if (snap != NULL && es->record_err == 0 && S_ISREG(es->record.st_mode) &&
               (r = snapshot_take(snap, name, &es->record, lock_generation(&s->lock), arena)) != NULL) {
        rc = admit_record(s, ls, r);
    } else if ((rc = read_record(s, name, &r, why, sizeof(why), &kind, arena)) == 0) {
        ls->stale++;
        rc = r ? admit_record(s, ls, r) : add_entry_problem(s, ls, name, RECORD_FILE, kind, why);
    }
    if (rc != 0 || (r != NULL && strmap_get(&ls->index.by_id, r->id) != r))
        record_free(r);
    return rc;
}

static void loaded_free(loaded_state *ls)
{
    index_free(&ls->index, true);
    image_store_problems_free(ls->problems, ls->problems_len);
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const dir_entry *)a)->name, ((const dir_entry *)b)->name);
}

static void entries_free(dir_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(entries[i].name);
    free(entries);
}

/* The store directory's entries, without "." names (ours, and temp entries). */
static int list_store(store_state *s, dir_entry **out, size_t *len)
{
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return error_sys(&s->err, saved, "opendir", s->dir);
    }
    dir_entry *entries = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            dir_entry *grown = realloc(entries, cap * sizeof(*grown));
            if (grown == NULL) {
                rc = oom(s);
                break;
            }
            entries = grown;
        }
        if ((entries[n].name = strdup(e->d_name)) == NULL) {
            rc = oom(s);
            break;
        }
        entries[n++].type = e->d_type;
    }
    if (rc == 0 && errno != 0)
        rc = error_sys(&s->err, errno, "readdir", s->dir);
    closedir(d);
    if (rc != 0) {
        entries_free(entries, n);
        return rc;
    }
    if (n > 1) /* in name order, so that duplicate names resolve the same way every time */
        qsort(entries, n, sizeof(*entries), compare_entries);
    *out = entries;
    *len = n;
    return 0;
}

/* Builds a fresh index from the disk (with the snapshot's help); replaces
 * memory only on success. */
static int load_all(store_state *s)
{
    loaded_state ls;
    memset(&ls, 0, sizeof(ls));
    index_init(&ls.index);
    dir_entry *entries = NULL;
    size_t n = 0;
    int rc = list_store(s, &entries, &n);
    if (rc == 0) {
        snapshot *snap = snapshot_read(s->dirfd, s->dir);
        record_arena arena = {NULL};
        if (strmap_reserve(&ls.index.by_id, n) || strmap_reserve(&ls.index.by_name, n) ||
            strmap_reserve(&ls.index.by_digest, n) || sorted_ids_reserve(&ls.index.sorted, n))
            rc = oom(s);
        entry_stat *stats = malloc((n + 1) * sizeof(entry_stat));
        if (stats == NULL)
            rc = oom(s);
        else
            stat_entries(s->dirfd, entries, n, stats);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (load_entry(s, &ls, snap, entries[i].name, &stats[i], &arena) != 0)
                rc = oom(s);
        free(stats);
        record_arena_done(&arena);
        snapshot_free(snap);
    }
    entries_free(entries, n);
    if (rc == 0 && s->lock.problem[0] != '\0') {
        char *path = fs_join(s->dir, LOCK_FILE);
        if (path == NULL || add_problem(&ls, path, "lock-file", s->lock.problem) != 0)
            rc = oom(s);
        free(path);
    }
    if (rc != 0) {
        loaded_free(&ls);
        return rc;
    }
    index_free(&s->index, true);
    image_store_problems_free(s->problems, s->problems_len);
    s->index = ls.index;
    s->problems = ls.problems;
    s->problems_len = ls.problems_len;
    s->stale = ls.stale;
#ifdef __GLIBC__
    if (n > 1024)
        malloc_trim(0); /* give back what decoding the records left free between them */
#endif
    return 0;
}

/* ---- keeping up with other processes ---- */

/* More than 64 + N/share records are not vouched for by the snapshot. Close
 * refreshes it at share 32; writers, which pay for it while the caller waits,
 * at share 4, so that its cost per change stays small whatever N is. */
static bool snapshot_is_stale(const store_state *s, size_t share)
{
    return s->stale > 64 + s->index.sorted.len / share;
}

/* Rewrites the snapshot from memory; needs the exclusive lock. A failure is
 * not reported: the snapshot is only a cache. */
static void write_snapshot(store_state *s)
{
    image_error saved = s->err;
    if (snapshot_write(s->dirfd, s->dir, (image_record *const *)s->index.sorted.items,
                       s->index.sorted.len, lock_generation(&s->lock), &s->err) == 0)
        s->stale = 0;
    s->err = saved;
}

/* Re-reads one image after another process changed it. */
static int reload_image(store_state *s, const char *id)
{
    char why[512];
    const char *kind;
    image_record *r = NULL, *old = strmap_get(&s->index.by_id, id);
    struct stat st;
    if (fstatat(s->dirfd, id, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            return -1;
    } else if (read_record(s, id, &r, why, sizeof(why), &kind, NULL) != 0 || r == NULL) {
        return -1; /* unusable now: a full load records the problem */
    }
    if (r != NULL) {
        /* The new record wins its names from images whose change is yet to come. */
        for (size_t i = 0; i < r->names.len; i++) {
            image_record *holder = strmap_get(&s->index.by_name, r->names.items[i]);
            if (holder == NULL || holder == old)
                continue;
            for (size_t j = 0; j < holder->names.len; j++)
                if (strcmp(holder->names.items[j], r->names.items[i]) == 0) {
                    strmap_remove(&s->index.by_name, r->names.items[i]);
                    record_drop_name(holder, j);
                    break;
                }
        }
        if (index_reserve(&s->index, r) != 0) {
            record_free(r);
            return -1;
        }
    }
    if (old != NULL)
        index_remove(&s->index, old, false);
    if (r != NULL)
        index_add(&s->index, r);
    if (old != NULL) {
        index_prune(&s->index, old);
        record_free(old);
    }
    s->stale++;
    return 0;
}

/* Brings memory up to the lock file's generation. */
static int catch_up(store_state *s)
{
    uint64_t g = lock_generation(&s->lock), from = s->seen_generation;
    if (g == from)
        return 0;
    bool partial = g > from && g - from <= LOCK_RING;
    for (uint64_t i = from + 1; partial && i <= g; i++) {
        char id[65];
        partial = lock_change_at(&s->lock, i, id) && image_id_is_valid(id) &&
                  reload_image(s, id) == 0;
    }
    if (!partial) {
        int rc = load_all(s);
        if (rc != 0)
            return rc;
    }
    s->seen_generation = g;
    return 0;
}

/* Tells other processes what this operation (or batch) changed. */
static void publish_changes(store_state *s)
{
    if (s->changed_all || s->changed.len > LOCK_RING / 2) {
        lock_publish(&s->lock, NULL);
    } else {
        for (size_t i = 0; i < s->changed.len; i++)
            lock_publish(&s->lock, s->changed.items[i]);
    }
    s->stale += s->changed.len;
    s->seen_generation = lock_generation(&s->lock);
    str_list_free(&s->changed);
    s->changed_all = false;
}

/* A hook calling the store that called it would see it half-changed. */
static int refuse_in_hook(store_state *s)
{
    if (s->hooks.running == 0)
        return 0;
    return error_set(&s->err, IMAGE_STORE_EINVAL,
                     "cannot use the store from inside one of its hooks");
}

/* A read-only store opened where no writer had been has no lock file to
 * watch: it looks for one at each call, and reloads everything once one
 * appears (what happened before it is unknown). */
static int adopt_new_lock_file(store_state *s)
{
    store_lock fresh;
    image_error ignored;
    if (lock_open(&fresh, s->dirfd, s->dir, true, &ignored) != 0 || fresh.fd < 0) {
        lock_close(&fresh);
        return 0;
    }
    s->lock = fresh;
    int rc = lock_acquire(&s->lock, false, s->dir, &s->err);
    if (rc == 0) {
        uint64_t g = lock_generation(&s->lock);
        if ((rc = load_all(s)) == 0)
            s->seen_generation = g;
        lock_release(&s->lock);
    }
    return rc;
}

static int begin_read(store_state *s)
{
    if (refuse_in_hook(s) != 0)
        return -1;
    error_clear(&s->err);
    if (s->lock.fd < 0 && s->readonly && !s->lock.degraded)
        return adopt_new_lock_file(s);
    if (lock_generation(&s->lock) == s->seen_generation)
        return 0; /* the common case: one pread of the lock file's header */
    if (s->lock.held != 0)
        return catch_up(s);
    int rc = lock_acquire(&s->lock, false, s->dir, &s->err);
    if (rc == 0) {
        rc = catch_up(s);
        lock_release(&s->lock);
    }
    return rc;
}

static int begin_write(store_state *s, const char *op)
{
    if (refuse_in_hook(s) != 0)
        return -1;
    error_clear(&s->err);
    int rc = refuse_readonly(s, op);
    if (rc != 0 || s->in_batch)
        return rc;
    if ((rc = lock_acquire(&s->lock, true, s->dir, &s->err)) != 0)
        return rc;
    if ((rc = catch_up(s)) != 0)
        lock_release(&s->lock);
    return rc;
}

static int end_write(store_state *s, int rc)
{
    if (s->in_batch) {
        if (rc == IMAGE_STORE_ESYS && !s->batch_failed) { /* the batch must not commit half */
            s->batch_failed = true;
            s->batch_errno = s->err.sys_errno;
            snprintf(s->batch_failure, sizeof(s->batch_failure), "%s", s->err.message);
        }
        return rc == 0 ? 0 : -1;
    }
    publish_changes(s);
    if (snapshot_is_stale(s, 4))
        write_snapshot(s);
    lock_release(&s->lock);
    return rc == 0 ? 0 : -1;
}

/* ---- the seed interface ---- */

#define STATE_OR_FAIL(st)                                                                          \
    store_state *s = state_of(st);                                                                 \
    if (s == NULL || s->dirfd < 0 || refuse_in_hook(s) != 0)                                       \
    return -1

/* A mutator: lock, catch up, run `call`, publish, unlock. */
#define WRITE_OP(st, op, call)                                                                     \
    do {                                                                                           \
        STATE_OR_FAIL(st);                                                                         \
        int rc_ = begin_write(s, op);                                                              \
        if (rc_ != 0)                                                                              \
            return -1;                                                                             \
        return end_write(s, (call));                                                               \
    } while (0)

/* A reader: catch up if another process wrote, then run `call`. */
#define READ_OP(st, call)                                                                          \
    do {                                                                                           \
        STATE_OR_FAIL(st);                                                                         \
        if (begin_read(s) != 0)                                                                    \
            return -1;                                                                             \
        return (call) == 0 ? 0 : -1;                                                               \
    } while (0)

static int m_create(const char *id, const char **names, size_t names_len, const char *layer,
                    const char *metadata, timestamp time, const char *searchable_digest,
                    image_store_t *st, image_storage_images *image)
{
    WRITE_OP(st, "create",
             do_create(s, id, names, names_len, layer, metadata, time, searchable_digest, image));
}

static int m_set_names(const char *id, const char **names, size_t names_len, image_store_t *st)
{
    WRITE_OP(st, "set_names", do_set_names(s, id, names, names_len, false));
}

static int m_add_name(const char *id, const char *name, image_store_t *st)
{
    WRITE_OP(st, "add_name", do_set_names(s, id, &name, 1, true));
}

static int m_remove_name(const char *id, const char *name, image_store_t *st)
{
    WRITE_OP(st, "remove_name", do_remove_name(s, id, name));
}

static int m_delete(const char *id, image_store_t *st)
{
    WRITE_OP(st, "delete", do_delete(s, id));
}

static int m_wipe(image_store_t *st)
{
    WRITE_OP(st, "wipe", do_wipe(s));
}

static int set_loaded_time(store_state *s, const char *id, timestamp loaded)
{
    int rc = check_time(s, loaded);
    char *text = rc == 0 ? format_time(loaded) : NULL;
    if (rc == 0 && text == NULL)
        rc = oom(s);
    if (rc == 0)
        rc = do_set_field(s, id, FIELD_LOADED, text, 0);
    free(text);
    return rc;
}

static int m_set_loaded_time(const char *id, timestamp loaded, image_store_t *st)
{
    WRITE_OP(st, "set_loaded_time", set_loaded_time(s, id, loaded));
}

static int m_save(const image_store_t *st)
{
    WRITE_OP(st, "save", do_save(s));
}

static int set_metadata(store_state *s, const char *id, const char *metadata)
{
    int rc = check_text(s, "metadata", metadata);
    return rc != 0 ? rc : do_set_field(s, id, FIELD_METADATA, metadata, 0);
}

static int m_set_metadata(image_store_t *st, const char *id, const char *metadata)
{
    WRITE_OP(st, "set_metadata", set_metadata(s, id, metadata));
}

static int set_size(store_state *s, const char *id, int64_t size)
{
    if (size < 0)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid size %" PRId64 ": must not be negative",
                         size);
    return do_set_field(s, id, FIELD_SIZE, NULL, size);
}

static int m_set_size(image_store_t *st, const char *id, int64_t size)
{
    WRITE_OP(st, "set_size", set_size(s, id, size));
}

static int m_set_big_data_len(image_store_t *st, const char *id, const char *key,
                              const void *data, size_t len)
{
    WRITE_OP(st, "set_big_data", do_set_big_data(s, id, key, data, len));
}

static int m_set_big_data(image_store_t *st, const char *id, const char *key, const char *data)
{
    return m_set_big_data_len(st, id, key, data, data ? strlen(data) : 0);
}

static bool m_exists(const char *id, const image_store_t *st)
{
    store_state *s = state_of(st);
    image_record *r;
    if (s == NULL || s->dirfd < 0 || begin_read(s) != 0)
        return false;
    return resolve(s, id, &r) == 0;
}

static int get_image(store_state *s, const char *id, image_storage_images *image)
{
    image_record *r;
    int rc = resolve(s, id, &r);
    if (rc == 0 && record_to_public(image, r, s->readonly) != 0)
        rc = oom(s);
    return rc;
}

static int m_get(const char *id, const image_store_t *st, image_storage_images *image)
{
    READ_OP(st, get_image(s, id, image));
}

static int lookup_id(store_state *s, const char *name, char **id)
{
    image_record *r;
    int rc = resolve(s, name, &r);
    if (rc == 0 && (*id = strdup(r->id)) == NULL)
        rc = oom(s);
    return rc;
}

static int m_lookup(const char *name, const image_store_t *st, char **id)
{
    READ_OP(st, lookup_id(s, name, id));
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

static int m_images(const image_store_t *st, image_storage_images **images, size_t *len)
{
    READ_OP(st, copy_records(s, (image_record *const *)s->index.sorted.items, s->index.sorted.len,
                             images, len));
}

static int images_by_digest(store_state *s, const char *digest, image_storage_images **images,
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

static int m_by_digest(const image_store_t *st, const char *digest, image_storage_images **images,
                       size_t *len)
{
    READ_OP(st, images_by_digest(s, digest, images, len));
}

/* A containers/storage (Podman, CRI-O) images directory keeps every record
 * in one <dir>/images.json; iSulad's layout, ours, never has that file. */
static int refuse_foreign_layout(store_state *s, int dirfd)
{
    struct stat st;
    if (fstatat(dirfd, RECORD_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : error_sys(&s->err, errno, "stat", s->dir);
    return error_set(&s->err, IMAGE_STORE_ELAYOUT,
                     "%s holds %s at its top: that is the containers/storage (Podman, CRI-O) "
                     "layout, not an iSulad image store; it is left as it is",
                     s->dir, RECORD_FILE);
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Re-reads the disk from the directory's path (it may have been replaced:
 * then its lock file is another one too). */
static int reload(store_state *s)
{
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "cannot load inside a batch");
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_sys(&s->err, errno, "open", s->dir);
    int old = s->dirfd, rc;
    store_lock lock = s->lock, fresh;
    bool replaced = !same_file(fd, old);
    if ((rc = refuse_foreign_layout(s, fd)) != 0) {
        close(fd);
        return rc;
    }
    if (replaced) {
        if ((rc = lock_open(&fresh, fd, s->dir, s->readonly, &s->err)) != 0) {
            close(fd);
            return rc;
        }
        s->lock = fresh;
    }
    s->dirfd = fd;
    if ((rc = lock_acquire(&s->lock, false, s->dir, &s->err)) == 0) {
        uint64_t g = lock_generation(&s->lock);
        if ((rc = load_all(s)) == 0)
            s->seen_generation = g;
        lock_release(&s->lock);
    }
    if (rc != 0) {
        if (replaced) {
            lock_close(&s->lock);
            s->lock = lock;
        }
        s->dirfd = old;
        close(fd);
        return rc;
    }
    if (replaced)
        lock_close(&lock);
    close(old);
    return 0;
}

static int m_load(image_store_t *st)
{
    STATE_OR_FAIL(st);
    error_clear(&s->err);
    return reload(s) == 0 ? 0 : -1;
}

static int get_metadata(store_state *s, const char *id, char **metadata)
{
    image_record *r;
    int rc = resolve(s, id, &r);
    if (rc == 0 && (*metadata = strdup(r->metadata ? r->metadata : "")) == NULL)
        rc = oom(s);
    return rc;
}

static int m_metadata(const image_store_t *st, const char *id, char **metadata)
{
    READ_OP(st, get_metadata(s, id, metadata));
}

/* The record and item for (ref, key), or ENOTFOUND / EINVAL. */
static int find_big_data(store_state *s, const char *ref, const char *key, image_record **r,
                         big_data_item **item, char file[static 256])
{
    int rc;
    if ((rc = resolve(s, ref, r)) != 0 || (rc = check_key(s, key, file)) != 0)
        return rc;
    if ((*item = record_find_big_data(*r, key)) == NULL) {
        return error_set(&s->err, IMAGE_STORE_ENOTFOUND, "image %s has no big-data item \"%s\"",
                         (*r)->id, key);
    }
    return 0;
}

static int read_big_data(store_state *s, const image_record *r, const big_data_item *item,
                         const char *file, char **data, size_t *len)
{
    /* Inside a batch the current bytes may still be staged. */
    char *staged = s->in_batch ? fs_txn_staged_path(&s->batch, r->id, file) : NULL;
    char rel[64 + 1 + 256];
    snprintf(rel, sizeof(rel), "%s/%s", r->id, file);
    size_t hint = item->size > 0 ? (size_t)item->size : 0;
    int rc = fs_read_file(s->dirfd, s->dir, staged ? staged : rel, hint, data, len, &s->err);
    free(staged);
    if (rc != 0 && s->err.sys_errno == ENOENT) { /* gone from disk under us */
        struct stat st;
        if (fstatat(s->dirfd, r->id, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            return error_set(&s->err, IMAGE_STORE_ENOTFOUND,
                             "image not found: %s (deleted by another process)", r->id);
        return error_set(&s->err, IMAGE_STORE_ENOTFOUND,
                         "image %s has no file for big-data item \"%s\" (removed from disk)", r->id,
                         item->name);
    }
    return rc;
}

static int get_big_data(store_state *s, const char *id, const char *key, char **data,
                        size_t *len)
{
    image_record *r;
    big_data_item *item;
    char file[256];
    int rc = find_big_data(s, id, key, &r, &item, file);
    if (rc == 0)
        rc = read_big_data(s, r, item, file, data, len);
    return rc;
}

static int m_big_data_len(const image_store_t *st, const char *id, const char *key, char **data,
                          size_t *len)
{
    READ_OP(st, get_big_data(s, id, key, data, len));
}

static int m_big_data(const image_store_t *st, const char *id, const char *key, char **data)
{
    size_t len;
    return m_big_data_len(st, id, key, data, &len);
}

static int get_big_data_size(store_state *s, const char *id, const char *key, int64_t *size)
{
    image_record *r;
    big_data_item *item;
    char file[256], *data = NULL;
    size_t len;
    int rc = find_big_data(s, id, key, &r, &item, file);
    if (rc == 0 && item->size >= 0)
        *size = item->size;
    else if (rc == 0 && (rc = read_big_data(s, r, item, file, &data, &len)) == 0)
        *size = (int64_t)len; /* not recorded: what the file holds */
    free(data);
    return rc;
}

static int m_big_data_size(const image_store_t *st, const char *id, const char *key, int64_t *size)
{
    READ_OP(st, get_big_data_size(s, id, key, size));
}

static int get_big_data_digest(store_state *s, const char *id, const char *key, char **digest)
{
    image_record *r;
    big_data_item *item;
    char file[256], *data = NULL, computed[72];
    size_t len;
    int rc = find_big_data(s, id, key, &r, &item, file);
    if (rc == 0 && item->digest == NULL) { /* not recorded: digest what the file holds */
        if ((rc = read_big_data(s, r, item, file, &data, &len)) == 0 &&
            digest_sha256(computed, data, len) != 0)
            rc = error_set(&s->err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
    }
    if (rc == 0 && (*digest = strdup(item->digest ? item->digest : computed)) == NULL)
        rc = oom(s);
    free(data);
    return rc;
}

static int m_big_data_digest(const image_store_t *st, const char *id, const char *key,
                             char **digest)
{
    READ_OP(st, get_big_data_digest(s, id, key, digest));
}

static int get_big_data_names(store_state *s, const char *id, char ***names, size_t *len)
{
    image_record *r;
    int rc = resolve(s, id, &r);
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

static int m_big_data_names(const image_store_t *st, const char *id, char ***names, size_t *len)
{
    READ_OP(st, get_big_data_names(s, id, names, len));
}

static int copy_problems(store_state *s, image_store_problem **problems, size_t *len)
{
    image_store_problem *out = calloc(s->problems_len + 1, sizeof(*out));
    if (out == NULL)
        return oom(s);
    for (size_t i = 0; i < s->problems_len; i++) {
        out[i].path = strdup(s->problems[i].path);
        out[i].kind = strdup(s->problems[i].kind);
        out[i].problem = strdup(s->problems[i].problem);
        if (out[i].path == NULL || out[i].kind == NULL || out[i].problem == NULL) {
            image_store_problems_free(out, i + 1);
            return oom(s);
        }
    }
    *problems = out;
    *len = s->problems_len;
    return 0;
}

static int m_problems(const image_store_t *st, image_store_problem **problems, size_t *len)
{
    READ_OP(st, copy_problems(s, problems, len));
}

void image_store_problems_free(image_store_problem *problems, size_t len)
{
    if (problems == NULL)
        return;
    for (size_t i = 0; i < len; i++) {
        free(problems[i].path);
        free(problems[i].kind);
        free(problems[i].problem);
    }
    free(problems);
}

/* ---- upkeep: daemon recovery, check, repair ---- */


/* Moves <dir>/<rel> (an entry, or "<id>/<file>") to <dir>/.quarantine/<rel>
 * (with a numbered suffix when taken); *moved_to receives the new path.
 * Moved, never deleted. No symlink is followed on either side: the source
 * is renamed from its own parent, opened beneath the store, and
 * .quarantine (and .quarantine/<id>) must be real directories. */
static int quarantine(store_state *s, const char *rel, char **moved_to)
{
    char target[256 + 16], parent_rel[65], *qpath = fs_join(s->dir, QUARANTINE_DIR);
    const char *slash = strchr(rel, '/'), *leaf = slash ? slash + 1 : rel;
    int qfd = -1, into = -1, from = s->dirfd, rc = 0;
    *moved_to = NULL;
    if (qpath == NULL)
        return oom(s);
    if (mkdirat(s->dirfd, QUARANTINE_DIR, 0700) != 0 && errno != EEXIST)
        rc = error_sys(&s->err, errno, "mkdir", qpath);
    else if ((qfd = fs_open_beneath(s->dirfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY, 0)) < 0)
        rc = errno == ENOTDIR || errno == ELOOP
                 ? error_set(&s->err, IMAGE_STORE_ECORRUPT,
                             "%s is not a directory; move it away so that upkeep can quarantine",
                             qpath)
                 : error_sys(&s->err, errno, "open", qpath);
    into = qfd;
    if (rc == 0 && slash != NULL) { /* a file of an image: kept under the image's ID */
        snprintf(parent_rel, sizeof(parent_rel), "%.*s", (int)(slash - rel), rel);
        if ((mkdirat(qfd, parent_rel, 0700) != 0 && errno != EEXIST) ||
            (into = fs_open_beneath(qfd, parent_rel, O_RDONLY | O_DIRECTORY, 0)) < 0)
            rc = errno == ENOTDIR || errno == ELOOP
                     ? error_set(&s->err, IMAGE_STORE_ECORRUPT, "%s/%s is not a directory", qpath,
                                 parent_rel)
                     : error_sys(&s->err, errno, "mkdir", qpath);
        else if ((from = fs_open_beneath(s->dirfd, parent_rel, O_RDONLY | O_DIRECTORY, 0)) < 0)
            rc = error_sys(&s->err, errno, "open", s->dir);
    }
    for (int n = 0; rc == 0; n++) {
        snprintf(target, sizeof(target), n ? "%s.%d" : "%s", leaf, n);
        if (renameat2(from, leaf, into, target, RENAME_NOREPLACE) == 0)
            break;
        if (errno != EEXIST || n > 1000) {
            char *path = fs_join(s->dir, rel);
            rc = error_sys(&s->err, errno, "rename", path ? path : s->dir);
            free(path);
        }
    }
    if (rc == 0) { /* durable: the entry left one directory and entered another */
        if (fsync(into) != 0 || fsync(from) != 0)
            rc = error_sys(&s->err, errno, "fsync", qpath);
        else if (slash ? asprintf(moved_to, "%s/%s/%s", qpath, parent_rel, target) < 0
                       : asprintf(moved_to, "%s/%s", qpath, target) < 0)
            *moved_to = NULL, rc = oom(s);
    }
    if (into >= 0 && into != qfd)
        close(into);
    if (qfd >= 0)
        close(qfd);
    if (from != s->dirfd && from >= 0)
        close(from);
    free(qpath);
    return rc;
}

/* Removes the .tmp- entries an interrupted write left in the store directory. */
static void remove_temp_entries(store_state *s)
{
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0)
            fs_remove_tree_at(fd, e->d_name);
    closedir(d);
}

/* Kinds of damage that make a store entry unusable as an image: upkeep
 * moves such an entry to .quarantine. Read errors ("unreadable") and
 * records beyond our limits ("unsupported") are never among them. */
static bool kind_is_unusable_dir(const char *kind)
{
    return strcmp(kind, "unparseable") == 0 || strcmp(kind, "id-mismatch") == 0 ||
           strcmp(kind, "no-record") == 0 || strcmp(kind, "not-an-image") == 0 ||
           strcmp(kind, "not-a-directory") == 0;
}

/* The store directory entry a path below it is in ("<dir>/<entry>[/...]"). */
static char *entry_of(const store_state *s, const char *path)
{
    size_t n = strlen(s->dir);
    if (strncmp(path, s->dir, n) != 0 || path[n] != '/')
        return NULL;
    const char *entry = path + n + 1;
    return strndup(entry, strcspn(entry, "/"));
}

/* Whether entry is (still) unusable, looked at again under the exclusive
 * lock: what load saw may have been fixed since. */
static bool still_unusable(store_state *s, const char *entry)
{
    struct stat st;
    if (entry[0] == '.' || fstatat(s->dirfd, entry, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
    if (!image_id_is_valid(entry) || !S_ISDIR(st.st_mode))
        return true;
    char why[512];
    const char *kind = NULL;
    image_record *r = NULL;
    if (read_record(s, entry, &r, why, sizeof(why), &kind, NULL) != 0 || r != NULL) {
        record_free(r);
        return false;
    }
    return kind_is_unusable_dir(kind);
}

/* Appends "; <more>" to a problem's sentence (kept as it was on OOM). */
static void problem_append(image_store_problem *p, const char *more)
{
    char *text = NULL;
    if (asprintf(&text, "%s; %s", p->problem, more) >= 0) {
        free(p->problem);
        p->problem = text;
    }
}

/* Daemon open: clear temp entries, then quarantine every image directory
 * without a valid record; problems() keeps saying what was moved, or why
 * it could not be. */
static void recover(store_state *s)
{
    remove_temp_entries(s);
    for (size_t i = 0; i < s->problems_len; i++) {
        image_store_problem *p = &s->problems[i];
        char *entry = kind_is_unusable_dir(p->kind) ? entry_of(s, p->path) : NULL, *moved = NULL;
        if (entry != NULL && still_unusable(s, entry)) {
            char more[1100];
            if (quarantine(s, entry, &moved) == 0)
                snprintf(more, sizeof(more), "moved to %s", moved);
            else
                snprintf(more, sizeof(more), "not moved: %s", s->err.message);
            problem_append(p, more);
        }
        free(moved);
        free(entry);
    }
    error_clear(&s->err);
}

static int findings_to_problems(store_state *s, const finding *f, size_t n,
                                image_store_problem **out, size_t *len)
{
    image_store_problem *list = NULL;
    size_t count = 0, cap = 0;
    for (size_t i = 0; i < n; i++)
        if (push_problem(&list, &count, &cap, f[i].path, finding_kind_name(f[i].kind),
                         f[i].detail) != 0) {
            image_store_problems_free(list, count);
            return oom(s);
        }
    if (list == NULL && (list = calloc(1, sizeof(*list))) == NULL)
        return oom(s);
    *out = list;
    *len = count;
    return 0;
}

int image_store_check(image_store_t *image_store, image_store_problem **findings, size_t *len)
{
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    finding *f = NULL;
    size_t n = 0;
    /* shared, so that no writer is half-way through while we look (a batch
     * already holds it exclusively) */
    bool take = !s->in_batch;
    int rc = take ? lock_acquire(&s->lock, false, s->dir, &s->err) : 0;
    if (rc == 0) {
        rc = check_scan(s->dirfd, s->dir, &f, &n, &s->err);
        if (take)
            lock_release(&s->lock);
    }
    if (rc == 0)
        rc = findings_to_problems(s, f, n, findings, len);
    findings_free(f, n);
    return rc == 0 ? 0 : -1;
}

/* Records the file's actual size and sha256 as a big-data item (adding it). */
static int record_file_as(store_state *s, image_record *r, const char *key, int64_t size,
                          const char *digest)
{
    big_data_item *item = record_find_big_data(r, key);
    if (item == NULL) {
        big_data_item *grown = realloc(r->big_data, (r->big_data_len + 1) * sizeof(*grown));
        if (grown == NULL)
            return oom(s);
        r->big_data = grown;
        item = &grown[r->big_data_len];
        memset(item, 0, sizeof(*item));
        if ((item->name = strdup(key)) == NULL)
            return oom(s);
        r->big_data_len++;
    }
    char *copy = strdup(digest);
    if (copy == NULL)
        return oom(s);
    free(item->digest);
    item->digest = copy;
    item->size = size;
    return 0;
}

static int drop_big_data(image_record *r, const char *key)
{
    for (size_t i = 0; i < r->big_data_len; i++)
        if (strcmp(r->big_data[i].name, key) == 0) {
            free(r->big_data[i].name);
            free(r->big_data[i].digest);
            memmove(&r->big_data[i], &r->big_data[i + 1],
                    (r->big_data_len - i - 1) * sizeof(big_data_item));
            r->big_data_len--;
            break;
        }
    return 0;
}

/* The actual size and sha256 of <entry>/<file>. */
static int measure_file(store_state *s, const char *entry, const char *file, int64_t *size,
                        char digest[72])
{
    char rel[64 + 1 + 256], *data = NULL;
    size_t len;
    snprintf(rel, sizeof(rel), "%s/%s", entry, file);
    int rc = fs_read_file(s->dirfd, s->dir, rel, 0, &data, &len, &s->err);
    if (rc == 0 && digest_sha256(digest, data, len) != 0)
        rc = error_set(&s->err, IMAGE_STORE_ESYS, "sha256: OpenSSL failed");
    *size = (int64_t)len;
    free(data);
    return rc;
}

/* The action list of a repair, and the first error it met (it goes on). */
typedef struct repair_log {
    image_store_problem *acts;
    size_t count, cap;
    int rc;
    image_error first;
} repair_log;

static void repair_note(store_state *s, repair_log *log, int rc, const char *path,
                        const char *action, const char *text)
{
    if (rc != 0) {
        if (log->rc == 0) {
            log->rc = rc;
            log->first = s->err;
        }
        return;
    }
    if (action != NULL && push_problem(&log->acts, &log->count, &log->cap, path, action, text) != 0 &&
        log->rc == 0) {
        log->rc = oom(s);
        log->first = s->err;
    }
}

/* Whether a file name is some big-data key's (verbatim or "=" + base64). */
static bool is_big_data_file(const char *file)
{
    char *key = big_data_key_of_file(file);
    bool is = key != NULL;
    free(key);
    return is;
}

/* Phase 1, the files: quarantine what cannot be an image or is not a file,
 * clear temp files. */
static void repair_files(store_state *s, const finding *f, size_t n, repair_log *log)
{
    for (size_t i = 0; i < n; i++) {
        char *moved = NULL, rel[64 + 1 + 256], text[1400];
        const char *action = NULL;
        int rc = 0;
        bool entry_level = kind_is_unusable_dir(finding_kind_name(f[i].kind)) &&
                           f[i].entry[0] != '.'; /* never .quarantine itself */
        if (entry_level || f[i].kind == FINDING_NOT_FILE ||
            (f[i].kind == FINDING_ORPHAN_FILE && !is_big_data_file(f[i].item))) {
            if (entry_level)
                snprintf(rel, sizeof(rel), "%s", f[i].entry);
            else
                snprintf(rel, sizeof(rel), "%s/%s", f[i].entry, f[i].item);
            if ((rc = quarantine(s, rel, &moved)) == 0) {
                action = "quarantined";
                snprintf(text, sizeof(text), "%s; moved to %s", f[i].detail, moved);
            }
        } else if (f[i].kind == FINDING_TEMP_FILE) {
            bool in_image = strcmp(f[i].entry, f[i].item) != 0;
            if (in_image)
                snprintf(rel, sizeof(rel), "%s/%s", f[i].entry, f[i].item);
            else
                snprintf(rel, sizeof(rel), "%s", f[i].entry);
            /* from the image directory itself, opened without symlinks */
            int dfd = in_image ? fs_open_beneath(s->dirfd, f[i].entry, O_RDONLY | O_DIRECTORY, 0)
                               : s->dirfd;
            int e = dfd < 0 ? errno : fs_remove_tree_at(dfd, in_image ? f[i].item : rel);
            if (in_image && dfd >= 0)
                close(dfd);
            if (e != 0 && e != ENOENT) {
                char *path = fs_join(s->dir, rel);
                rc = error_sys(&s->err, e, "remove", path ? path : s->dir);
                free(path);
            } else {
                action = "removed";
                snprintf(text, sizeof(text), "removed %s", f[i].detail);
            }
        }
        repair_note(s, log, rc, f[i].path, action, text);
        free(moved);
    }
}

/* Phase 2, the records (after memory is reloaded from what phase 1 left):
 * each image's fixes in one change, all of them in one transaction. */
static void repair_records(store_state *s, const finding *f, size_t n, repair_log *log)
{
    changeset cs;
    changeset_init(s, &cs);
    size_t first_action = log->count;
    for (size_t i = 0; i < n; i++) {
        image_record *r = f[i].entry ? strmap_get(&s->index.by_id, f[i].entry) : NULL;
        const char *action = NULL;
        char text[1400];
        int rc = 0;
        if (r == NULL)
            continue;
        change *c = changeset_edit(s, &cs, r);
        if (c == NULL) {
            repair_note(s, log, IMAGE_STORE_ESYS, f[i].path, NULL, NULL);
            break;
        }
        switch (f[i].kind) {
        case FINDING_BIG_DATA_SIZE:
        case FINDING_BIG_DATA_DIGEST:
            rc = record_file_as(s, c->next, f[i].item, f[i].size, f[i].digest);
            action = "re-recorded";
            snprintf(text, sizeof(text), "recorded %lld bytes and %s for \"%s\"",
                     (long long)f[i].size, f[i].digest, f[i].item);
            break;
        case FINDING_NOT_FILE: /* moved away in phase 1: a recorded key's file is gone now */
        case FINDING_BIG_DATA_MISSING: {
            char *key = f[i].kind == FINDING_NOT_FILE ? big_data_key_of_file(f[i].item)
                                                       : strdup(f[i].item);
            if (key != NULL && record_find_big_data(c->next, key) != NULL &&
                faccessat(s->dirfd, f[i].path + strlen(s->dir) + 1, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
                errno == ENOENT) {
                drop_big_data(c->next, key);
                action = "dropped-big-data";
                snprintf(text, sizeof(text), "dropped \"%s\", whose file is gone", key);
            }
            free(key);
            break;
        }
        case FINDING_ORPHAN_FILE: {
            char *key = big_data_key_of_file(f[i].item), digest[72];
            int64_t size;
            if (key != NULL && (rc = measure_file(s, f[i].entry, f[i].item, &size, digest)) == 0 &&
                (rc = record_file_as(s, c->next, key, size, digest)) == 0) {
                action = "recorded-file";
                snprintf(text, sizeof(text), "recorded %s as big-data item \"%s\"", f[i].item, key);
            }
            free(key);
            break;
        }
        case FINDING_DUPLICATE_NAME: /* load gave it to the first image: save that */
            action = "dropped-name";
            snprintf(text, sizeof(text), "dropped name \"%s\" from image %s", f[i].item, r->id);
            break;
        default:
            break;
        }
        repair_note(s, log, rc, f[i].path, action, text);
    }
    int rc = cs.len > 0 ? changeset_apply(s, &cs) : 0;
    if (rc != 0) { /* none of the record fixes happened */
        for (size_t i = first_action; i < log->count; i++) {
            free(log->acts[i].path);
            free(log->acts[i].kind);
            free(log->acts[i].problem);
        }
        log->count = first_action;
        repair_note(s, log, rc, NULL, NULL, NULL);
    }
    changeset_free(&cs);
}

/* Fixes what it can and lists every action it took in *out, also when it
 * ends with an error (the first one met; it goes on past it). */
static int do_repair(store_state *s, image_store_problem **out, size_t *out_len)
{
    finding *f = NULL;
    size_t n = 0;
    repair_log log;
    memset(&log, 0, sizeof(log));
    *out = NULL;
    *out_len = 0;
    int rc = check_scan(s->dirfd, s->dir, &f, &n, &s->err);
    if (rc != 0)
        return rc;
    repair_files(s, f, n, &log);
    if ((rc = load_all(s)) == 0)
        repair_records(s, f, n, &log);
    else
        repair_note(s, &log, rc, NULL, NULL, NULL);
    findings_free(f, n);
    s->changed_all = true; /* files moved under other processes' feet: they reload */
    if (log.acts == NULL && (log.acts = calloc(1, sizeof(*log.acts))) == NULL) {
        if (log.rc == 0)
            return oom(s);
    }
    *out = log.acts;
    *out_len = log.count;
    if (log.rc != 0)
        s->err = log.first;
    return log.rc;
}

int image_store_repair(image_store_t *image_store, image_store_problem **actions, size_t *len)
{
    if (actions != NULL && len != NULL) {
        *actions = NULL;
        *len = 0;
    }
    STATE_OR_FAIL(image_store);
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "cannot repair inside a batch"), -1;
    if (begin_write(s, "repair") != 0)
        return -1;
    return end_write(s, do_repair(s, actions, len));
}

/* ---- batches ---- */

int image_store_batch_begin(image_store_t *image_store)
{
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "a batch is already open"), -1;
    if (begin_write(s, "batch") != 0)
        return -1;
    fs_txn_init(&s->batch, s->dirfd, s->dir, true);
    s->in_batch = true;
    s->batch_failed = false;
    return 0;
}

/* Ends the batch: memory back to what the disk holds, lock released. */
static void batch_discard(store_state *s)
{
    image_error saved = s->err;
    fs_txn_free(&s->batch);
    s->in_batch = false;
    str_list_free(&s->changed);
    s->changed_all = false;
    if (load_all(s) == 0)
        s->seen_generation = lock_generation(&s->lock);
    lock_release(&s->lock);
    s->err = saved;
}

int image_store_batch_commit(image_store_t *image_store)
{
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    if (!s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "no batch is open"), -1;
    int rc;
    if (s->batch_failed) {
        rc = error_set(&s->err, IMAGE_STORE_ESYS, "batch not committed: %s", s->batch_failure);
        s->err.sys_errno = s->batch_errno; /* the code of the write that failed */
    }
    else if ((rc = stage_batch_records(s)) == 0)
        rc = fs_txn_commit(&s->batch, &s->err);
    if (rc != 0) {
        batch_discard(s);
        return -1;
    }
    fs_txn_free(&s->batch);
    s->in_batch = false;
    publish_changes(s);
    if (snapshot_is_stale(s, 4))
        write_snapshot(s);
    error_clear(&s->err);
    lock_release(&s->lock);
    return 0;
}

void image_store_batch_abort(image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    if (s != NULL && s->in_batch && s->hooks.running == 0)
        batch_discard(s);
}

int image_store_set_hooks(image_store_t *image_store, const image_store_hooks *hooks)
{
    STATE_OR_FAIL(image_store);
    s->hooks.installed = hooks != NULL;
    if (hooks != NULL)
        s->hooks.hooks = *hooks;
    else
        memset(&s->hooks.hooks, 0, sizeof(s->hooks.hooks));
    return 0;
}

bool image_store_in_hook(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    return s != NULL && s->hooks.running > 0;
}

/* ---- lifecycle ---- */

/* Rewrites the snapshot, caught up under the exclusive lock. */
static void refresh_snapshot(store_state *s)
{
    image_error saved = s->err;
    if (lock_acquire(&s->lock, true, s->dir, &s->err) == 0) {
        if (catch_up(s) == 0)
            write_snapshot(s);
        lock_release(&s->lock);
    }
    s->err = saved;
}

static void set_members(image_store_t *st)
{
    st->create = m_create;
    st->set_names = m_set_names;
    st->delete = m_delete;
    st->wipe = m_wipe;
    st->set_loaded_time = m_set_loaded_time;
    st->add_name = m_add_name;
    st->save = m_save;
    st->set_metadata = m_set_metadata;
    st->set_big_data = m_set_big_data;
    st->exists = m_exists;
    st->get = m_get;
    st->lookup = m_lookup;
    st->images = m_images;
    st->by_digest = m_by_digest;
    st->load = m_load;
    st->metadata = m_metadata;
    st->big_data = m_big_data;
    st->big_data_size = m_big_data_size;
    st->big_data_digest = m_big_data_digest;
    st->big_data_names = m_big_data_names;
    st->set_big_data_len = m_set_big_data_len;
    st->big_data_len = m_big_data_len;
    st->remove_name = m_remove_name;
    st->set_size = m_set_size;
    st->problems = m_problems;
}

int new_image_store(bool daemon, bool readonly, const char *dir, image_store_t *image_store)
{
    memset(image_store, 0, sizeof(*image_store));
    set_members(image_store);
    store_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    image_store->state = s;
    s->dirfd = -1;
    s->lock.fd = -1;
    s->daemon = daemon;
    s->readonly = readonly;
    index_init(&s->index);
    if (dir == NULL || dir[0] == '\0') {
        error_set(&s->err, IMAGE_STORE_EINVAL, "invalid store directory: empty");
        return -1;
    }
    if ((s->dir = strdup(dir)) == NULL) {
        oom(s);
        return -1;
    }
    size_t n = strlen(s->dir);
    while (n > 1 && s->dir[n - 1] == '/')
        s->dir[--n] = '\0';
    struct stat st;
    if (stat(s->dir, &st) != 0) {
        if (errno != ENOENT) {
            error_sys(&s->err, errno, "stat", s->dir);
            return -1;
        }
        if (readonly) {
            error_set(&s->err, IMAGE_STORE_ENOTFOUND, "store directory does not exist: %s", s->dir);
            return -1;
        }
        if (fs_mkdir_all(s->dir, 0700, &s->err) != 0)
            return -1;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        error_sys(&s->err, errno, "open", s->dir);
        return -1;
    }
    /* Load under a shared lock, so no writer is half-way through. */
    int rc = refuse_foreign_layout(s, s->dirfd);
    if (rc == 0)
        rc = lock_open(&s->lock, s->dirfd, s->dir, readonly, &s->err);
    if (rc == 0 && (rc = lock_acquire(&s->lock, false, s->dir, &s->err)) == 0) {
        s->seen_generation = lock_generation(&s->lock);
        rc = load_all(s);
        lock_release(&s->lock);
    }
    if (rc == 0 && daemon && !readonly) { /* the daemon owns the store's upkeep */
        if (lock_acquire(&s->lock, true, s->dir, &s->err) == 0) {
            recover(s);
            lock_release(&s->lock);
        }
        if (snapshot_is_stale(s, 32))
            refresh_snapshot(s); /* and keeps it quick to open */
    }
    if (rc != 0) {
        lock_close(&s->lock);
        close(s->dirfd);
        s->dirfd = -1;
        return -1;
    }
    return 0;
}

void image_store_close(image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    if (s == NULL)
        return;
    if (s->in_batch)
        batch_discard(s);
    if (s->dirfd >= 0 && !s->readonly && snapshot_is_stale(s, 32))
        refresh_snapshot(s); /* this process wrote: leave the next open quick */
    lock_close(&s->lock);
    if (s->dirfd >= 0)
        close(s->dirfd);
    str_list_free(&s->changed);
    index_free(&s->index, true);
    image_store_problems_free(s->problems, s->problems_len);
    free(s->dir);
    free(s);
    image_store->state = CLOSED_STATE;
}

static bool is_closed(const image_store_t *st)
{
    return st == NULL || st->state == CLOSED_STATE || st->create == NULL;
}

int image_store_error_code(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    return s ? s->err.code : is_closed(image_store) ? IMAGE_STORE_EINVAL : IMAGE_STORE_ESYS;
}

int image_store_error_errno(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    return s ? s->err.sys_errno : is_closed(image_store) ? 0 : ENOMEM;
}

const char *image_store_error_name(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    return s ? error_name(&s->err) : is_closed(image_store) ? "EINVAL" : "ENOMEM";
}

const char *image_store_error_message(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    if (s == NULL)
        return is_closed(image_store) ? "store is closed" : "out of memory";
    return s->err.message;
}

uint64_t image_store_generation(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    return s && s->seen_generation != LOCK_GENERATION_INVALID ? s->seen_generation : 0;
}

const char *image_store_dir(const image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    return s ? s->dir : NULL;
}

int image_store_sha256(char out[static 72], const void *data, size_t len)
{
    return digest_sha256(out, data, len);
}
