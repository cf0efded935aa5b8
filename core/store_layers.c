/*
 * Additional stores: read-only stores below this one (containers/storage's
 * "additional image stores"), each a full store opened as
 * new_image_store(false, true, dir, ...) opens one. This file owns their
 * life (open, noticing that one vanished or came back, close) and the
 * lookups across the stack: the store itself first, then each additional
 * store in order (see "Additional stores" in image_store.h).
 *
 * An additional store is consulted lazily: a call that the store itself
 * answers never touches it. Each call that consults one first checks that
 * its directory is still the one it opened (one stat()), then runs its own
 * change check (store_begin_read). One that cannot be read is an
 * "additional-store" problem, retried when its directory changes or a
 * second has passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "digest.h"
#include "store_internal.h"

typedef struct layer {
    char *dir;          /* as given */
    image_store_t st;   /* open when `open` */
    bool open;
    dev_t dev;          /* the directory the open store reads */
    ino_t ino;
    mode_t mode;
    bool tried;         /* the last open failed: */
    struct stat tried_stat;   /* the directory then */
    struct timespec tried_at; /* CLOCK_MONOTONIC */
    char why[1024];     /* why it is unavailable ("" when open) */
} layer;

struct store_layers {
    size_t len;
    layer items[];
};

/* A retry of a failed open waits for its directory to change, or this long. */
#define RETRY_NANOS 1000000000LL

int store_layers_init(store_state *s, const image_store_options *opts)
{
    size_t n = opts != NULL ? opts->additional_len : 0;
    if (n == 0)
        return 0;
    if (opts->additional == NULL)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "invalid additional stores: NULL list");
    for (size_t i = 0; i < n; i++)
        if (opts->additional[i] == NULL || opts->additional[i][0] == '\0')
            return error_set(&s->err, IMAGE_STORE_EINVAL,
                             "invalid additional store directory #%zu: empty", i + 1);
    if (n > (SIZE_MAX - sizeof(struct store_layers)) / sizeof(layer))
        return oom(s);
    struct store_layers *ls = calloc(1, sizeof(*ls) + n * sizeof(layer));
    if (ls == NULL)
        return oom(s);
    s->layers = ls;
    for (size_t i = 0; i < n; i++) {
        if ((ls->items[i].dir = strdup(opts->additional[i])) == NULL)
            return oom(s);
        ls->len = i + 1;
    }
    return 0;
}

static void layer_close(layer *l)
{
    if (l->open)
        image_store_close(&l->st);
    l->open = false;
}

void store_layers_close(store_state *s)
{
    if (s->layers == NULL)
        return;
    for (size_t i = 0; i < s->layers->len; i++) {
        layer_close(&s->layers->items[i]);
        free(s->layers->items[i].dir);
    }
    free(s->layers);
    s->layers = NULL;
}

/* The additional stores' name hook: the store's own, run as the store's
 * (its calls are refused meanwhile). */
static int layer_name_hook(void *data, image_name_use use, const char *name,
                           image_hook_result *result)
{
    store_state *s = data;
    if (!s->hooks.installed || s->hooks.hooks.name == NULL)
        return 0;
    s->hooks.running++;
    int rc = s->hooks.hooks.name(s->hooks.hooks.data, use, name, result);
    s->hooks.running--;
    return rc;
}

/* Closes l, keeping why (which may be its store's error message). */
static void unavailable(layer *l, const char *why)
{
    snprintf(l->why, sizeof(l->why), "%s", why);
    layer_close(l);
}

static bool same_dir(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static bool retry_due(const layer *l, const struct stat *now)
{
    struct timespec t;
    if (!same_dir(&l->tried_stat, now) || clock_gettime(CLOCK_MONOTONIC, &t) != 0)
        return true;
    long long waited = (long long)(t.tv_sec - l->tried_at.tv_sec) * 1000000000LL +
                       (t.tv_nsec - l->tried_at.tv_nsec);
    return waited >= RETRY_NANOS;
}

static void note_failed_try(layer *l, const struct stat *now, const char *why)
{
    unavailable(l, why);
    l->tried = true;
    l->tried_stat = *now;
    if (clock_gettime(CLOCK_MONOTONIC, &l->tried_at) != 0)
        memset(&l->tried_at, 0, sizeof(l->tried_at));
}

/* Opens l (its directory stat()ed as now); its state, or NULL. */
static store_state *layer_try_open(store_state *s, layer *l, const struct stat *now)
{
    struct stat own;
    if (fstat(s->dirfd, &own) == 0 && own.st_dev == now->st_dev && own.st_ino == now->st_ino) {
        note_failed_try(l, now, "it is this store's own directory");
        return NULL;
    }
    if (new_image_store(false, true, l->dir, &l->st) != 0) {
        char why[sizeof(l->why)];
        snprintf(why, sizeof(why), "%s", image_store_error_message(&l->st));
        image_store_close(&l->st);
        note_failed_try(l, now, why);
        return NULL;
    }
    store_state *ls = state_of(&l->st);
    struct stat opened;
    if (fstat(ls->dirfd, &opened) != 0) {
        image_error err;
        error_sys(&err, errno, "fstat", ls->dir);
        image_store_close(&l->st);
        note_failed_try(l, now, err.message);
        return NULL;
    }
    image_store_hooks hooks = {.name = layer_name_hook, .data = s};
    image_store_set_hooks(&l->st, &hooks);
    l->open = true;
    l->tried = false;
    l->dev = opened.st_dev;
    l->ino = opened.st_ino;
    l->mode = opened.st_mode;
    l->why[0] = '\0';
    return ls;
}

/* The additional store l, caught up with its directory: its state, or NULL
 * when it cannot be read now (l->why says why). */
static store_state *layer_ready(store_state *s, layer *l)
{
    struct stat now;
    if (stat(l->dir, &now) != 0) {
        image_error err;
        if (errno == ENOENT)
            error_set(&err, IMAGE_STORE_ENOTFOUND, "store directory does not exist: %s", l->dir);
        else
            error_sys(&err, errno, "stat", l->dir);
        unavailable(l, err.message);
        l->tried = false;
        return NULL;
    }
    if (l->open) {
        if (now.st_dev == l->dev && now.st_ino == l->ino && now.st_mode == l->mode) {
            store_state *ls = state_of(&l->st);
            if (store_begin_read(ls) == 0)
                return ls;
            note_failed_try(l, &now, ls->err.message);
            return NULL;
        }
        layer_close(l); /* replaced, or its mode changed: open it afresh */
    } else if (l->tried && !retry_due(l, &now)) {
        return NULL;
    }
    return layer_try_open(s, l, &now);
}

void store_layers_open(store_state *s)
{
    for (size_t i = 0; s->layers != NULL && i < s->layers->len; i++)
        layer_ready(s, &s->layers->items[i]);
}

void store_layers_reload(store_state *s)
{
    for (size_t i = 0; s->layers != NULL && i < s->layers->len; i++) {
        layer *l = &s->layers->items[i];
        store_state *ls = l->open ? state_of(&l->st) : NULL;
        if (ls != NULL && store_reload(ls) != 0)
            unavailable(l, ls->err.message);
        l->tried = false; /* try again now */
        layer_ready(s, l);
    }
}

/* Whether the store itself, or an additional store above the k-th, holds id. */
static bool hidden_above(store_state *s, size_t k, const char *id)
{
    if (strmap_get(&s->index.by_id, id) != NULL)
        return true;
    for (size_t j = 0; j < k; j++) {
        layer *l = &s->layers->items[j];
        if (l->open && strmap_get(&state_of(&l->st)->index.by_id, id) != NULL)
            return true;
    }
    return false;
}

/* Resolves ref in the additional stores, the store itself having missed it
 * (ENOTFOUND, its message kept when none finds it either). */
static int resolve_below(store_state *s, const char *ref, store_state **owner, layer **in,
                         image_record **out)
{
    image_error missed = s->err;
    for (size_t k = 0; k < s->layers->len; k++) {
        layer *l = &s->layers->items[k];
        store_state *ls = layer_ready(s, l);
        image_record *r;
        if (ls == NULL)
            continue;
        int rc = store_resolve(ls, ref, &r);
        if (rc == IMAGE_STORE_ENOTFOUND || (rc == 0 && hidden_above(s, k, r->id)))
            continue;
        if (rc != 0) {
            s->err = ls->err;
            return rc;
        }
        *owner = ls;
        *in = l;
        *out = r;
        return 0;
    }
    s->err = missed;
    return IMAGE_STORE_ENOTFOUND;
}

/* Resolves ref through the stack: *owner is the store whose image *out is,
 * *in its layer (NULL: the store itself). */
static int resolve(store_state *s, const char *ref, store_state **owner, layer **in,
                   image_record **out)
{
    *owner = s;
    *in = NULL;
    int rc = store_resolve(s, ref, out);
    if (rc != IMAGE_STORE_ENOTFOUND || s->layers == NULL)
        return rc;
    return resolve_below(s, ref, owner, in, out);
}

/* The failure of an operation run on an additional store, as the store's. */
static int from_owner(store_state *s, store_state *owner, int rc)
{
    if (rc != 0 && owner != s)
        s->err = owner->err;
    return rc;
}

int store_layers_refuse(store_state *s, const char *op, const char *ref, int rc)
{
    if (rc != IMAGE_STORE_ENOTFOUND || !s->ref_missed || s->layers == NULL)
        return rc;
    store_state *owner;
    layer *l;
    image_record *r;
    /* The store itself missed ref: the rest of the stack decides. */
    int found = resolve_below(s, ref, &owner, &l, &r);
    if (found == 0)
        return error_set(&s->err, IMAGE_STORE_EREADONLY,
                         "image %s is in the read-only additional store %s: cannot %s", r->id,
                         l->dir, op);
    return found;
}

int store_layers_create(store_state *s, const char *id, const char **names, size_t names_len,
                        const char *layer_id, const char *metadata, timestamp time,
                        const char *digest, image_storage_images *out)
{
    bool copy = s->layers != NULL && id != NULL && image_id_is_valid(id) &&
                strmap_get(&s->index.by_id, id) == NULL;
    for (size_t k = 0; copy && k < s->layers->len; k++) {
        store_state *ls = layer_ready(s, &s->layers->items[k]);
        image_record *base = ls ? strmap_get(&ls->index.by_id, id) : NULL;
        if (base != NULL)
            return store_op_create_over(s, id, names, names_len, layer_id, metadata, time,
                                        digest, ls, base, out);
    }
    return store_op_create(s, id, names, names_len, layer_id, metadata, time, digest, out);
}

bool store_layers_exists(store_state *s, const char *ref)
{
    store_state *owner;
    layer *l;
    image_record *r;
    return resolve(s, ref, &owner, &l, &r) == 0;
}

int store_layers_get(store_state *s, const char *ref, image_storage_images *image)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    if (rc == 0 && record_to_public_at(image, r, owner->readonly, l ? l->dir : NULL) != 0)
        rc = oom(s);
    return rc;
}

int store_layers_lookup(store_state *s, const char *ref, char **id)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    if (rc == 0 && (*id = strdup(r->id)) == NULL)
        rc = oom(s);
    return rc;
}

int store_layers_metadata(store_state *s, const char *ref, char **metadata)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    if (rc == 0 && (*metadata = strdup(r->metadata ? r->metadata : "")) == NULL)
        rc = oom(s);
    return rc;
}

/* The big-data calls run on the image that answered, named by its full ID. */
int store_layers_big_data(store_state *s, const char *ref, const char *key, char **data,
                          size_t *len)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    return rc != 0 ? rc : from_owner(s, owner, store_op_big_data(owner, r->id, key, data, len));
}

int store_layers_big_data_size(store_state *s, const char *ref, const char *key, int64_t *size)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    return rc != 0 ? rc : from_owner(s, owner, store_op_big_data_size(owner, r->id, key, size));
}

int store_layers_big_data_digest(store_state *s, const char *ref, const char *key,
                                 char **digest)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    return rc != 0 ? rc
                   : from_owner(s, owner, store_op_big_data_digest(owner, r->id, key, digest));
}

int store_layers_big_data_names(store_state *s, const char *ref, char ***names, size_t *len)
{
    store_state *owner;
    layer *l;
    image_record *r;
    int rc = resolve(s, ref, &owner, &l, &r);
    return rc != 0 ? rc : from_owner(s, owner, store_op_big_data_names(owner, r->id, names, len));
}

/* One store of the stack in a listing: its records in ID order. */
typedef struct source {
    image_record *const *items;
    size_t len, at;
    bool read_only;
    const char *dir; /* the additional store's, or NULL */
} source;

/* The stack's stores, each caught up (an unreadable one empty); NULL on OOM. */
static source *sources_of(store_state *s, size_t *n)
{
    *n = 1 + s->layers->len;
    source *src = calloc(*n, sizeof(*src));
    if (src == NULL)
        return NULL;
    src[0] = (source){(image_record *const *)s->index.sorted.items, s->index.sorted.len, 0,
                      s->readonly, NULL};
    for (size_t k = 0; k < s->layers->len; k++) {
        layer *l = &s->layers->items[k];
        store_state *ls = layer_ready(s, l);
        if (ls != NULL)
            src[k + 1] = (source){(image_record *const *)ls->index.sorted.items,
                                  ls->index.sorted.len, 0, true, l->dir};
    }
    return src;
}

int store_layers_images(store_state *s, image_storage_images **images, size_t *len)
{
    size_t n, total = 0, out = 0;
    source *src = sources_of(s, &n);
    if (src == NULL)
        return oom(s);
    for (size_t k = 0; k < n; k++)
        total += src[k].len;
    image_storage_images *arr = calloc(total + 1, sizeof(*arr));
    if (arr == NULL) {
        free(src);
        return oom(s);
    }
    /* A merge of the sorted lists; of equal IDs the highest store's wins. */
    for (;;) {
        source *min = NULL;
        for (size_t k = 0; k < n; k++)
            if (src[k].at < src[k].len &&
                (min == NULL || strcmp(src[k].items[src[k].at]->id, min->items[min->at]->id) < 0))
                min = &src[k];
        if (min == NULL)
            break;
        const image_record *r = min->items[min->at];
        if (record_to_public_at(&arr[out], r, min->read_only, min->dir) != 0) {
            image_storage_images_free(arr, out);
            free(src);
            return oom(s);
        }
        out++;
        for (size_t k = 0; k < n; k++)
            if (src[k].at < src[k].len && strcmp(src[k].items[src[k].at]->id, r->id) == 0)
                src[k].at++;
    }
    free(src);
    *images = arr;
    *len = out;
    return 0;
}

int store_layers_by_digest(store_state *s, const char *digest, image_storage_images **images,
                           size_t *len)
{
    if (digest == NULL || !digest_is_valid(digest))
        return store_op_by_digest(s, digest, images, len); /* its EINVAL */
    size_t n, total = 0, out = 0;
    source *src = sources_of(s, &n);
    if (src == NULL)
        return oom(s);
    /* Each store's bucket for digest, instead of all its records. */
    for (size_t k = 0; k < n; k++) {
        bool readable = k == 0 || src[k].dir != NULL;
        store_state *owner = k == 0 ? s : state_of(&s->layers->items[k - 1].st);
        digest_bucket *b = readable ? strmap_get(&owner->index.by_digest, digest) : NULL;
        src[k].items = b ? b->items : NULL;
        src[k].len = b ? b->len : 0;
        total += src[k].len;
    }
    image_storage_images *arr = calloc(total + 1, sizeof(*arr));
    int rc = arr == NULL ? oom(s) : 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        for (size_t i = 0; i < src[k].len && rc == 0; i++) {
            const image_record *r = src[k].items[i];
            if (k > 0 && hidden_above(s, k - 1, r->id))
                continue;
            if (record_to_public_at(&arr[out], r, src[k].read_only, src[k].dir) != 0)
                rc = oom(s);
            else
                out++;
        }
    free(src);
    if (rc != 0) {
        image_storage_images_free(arr, out);
        return rc;
    }
    *images = arr;
    *len = out;
    return 0;
}

int store_layers_problems(store_state *s, image_store_problem **problems, size_t *len)
{
    problem_list all = {NULL, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < s->problems.len && rc == 0; i++)
        rc = problem_list_add(&all, s->problems.items[i].kind, s->problems.items[i].path,
                              s->problems.items[i].text);
    for (size_t k = 0; k < s->layers->len && rc == 0; k++) {
        layer *l = &s->layers->items[k];
        store_state *ls = layer_ready(s, l);
        if (ls == NULL) {
            char text[sizeof(l->why) + 64];
            snprintf(text, sizeof(text), "additional store unavailable, its images left out: %s",
                     l->why);
            rc = problem_list_add(&all, PROBLEM_ADDITIONAL_STORE, l->dir, text);
            continue;
        }
        for (size_t i = 0; i < ls->problems.len && rc == 0; i++)
            rc = problem_list_add(&all, ls->problems.items[i].kind, ls->problems.items[i].path,
                                  ls->problems.items[i].text);
    }
    if (rc == 0)
        rc = problem_list_to_public(&all, problems, len);
    problem_list_free(&all);
    return rc == 0 ? 0 : oom(s);
}
