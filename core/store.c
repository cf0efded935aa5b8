/*
 * The store's lifecycle: new_image_store() opens (and for a daemon, keeps
 * up) a store, image_store_close() ends it; the error accessors; batches,
 * which hold the exclusive lock and one deferred-sync transaction from begin
 * to commit; and the hooks' set-up. The rest of the store is split by
 * concern: see store_internal.h.
 *
 * Every mutation stages the changed records (clones) and files in an fs
 * transaction, commits it, and only then swaps the clones into the indexes;
 * a failure before that frees the clones, so memory and disk stay as they
 * were. Inside a batch the transaction is the batch's: files are staged
 * without syncing, memory changes at once, and the commit at the end makes
 * everything durable with one sync (or the abort reloads memory from disk).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "snapshot.h"
#include "store_internal.h"

const char store_closed_marker;

int image_store_batch_begin(image_store_t *image_store)
{
    STATE_OR_FAIL(image_store);
    error_clear(&s->err);
    if (s->in_batch)
        return error_set(&s->err, IMAGE_STORE_EINVAL, "a batch is already open"), -1;
    if (store_begin_write(s, "batch") != 0)
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
    store_batch_names_free(s);
    str_list_free(&s->changed);
    s->changed_all = false;
    if (store_load_all(s) == 0)
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
    else if ((rc = store_stage_batch_records(s)) == 0)
        rc = fs_txn_commit(&s->batch, &s->err);
    if (rc != 0) {
        batch_discard(s);
        return -1;
    }
    fs_txn_free(&s->batch);
    s->in_batch = false;
    store_batch_names_free(s);
    store_publish_changes(s);
    if (store_snapshot_is_stale(s, 4))
        store_write_snapshot(s);
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

/* Rewrites the snapshot, caught up under the exclusive lock. */
static void refresh_snapshot(store_state *s)
{
    image_error saved = s->err;
    if (lock_acquire(&s->lock, true, s->dir, &s->err) == 0) {
        if (store_catch_up(s) == 0)
            store_write_snapshot(s);
        lock_release(&s->lock);
    }
    s->err = saved;
}

int image_store_open(image_store_t *image_store, const char *dir, const image_store_options *opts)
{
    bool daemon = opts != NULL && opts->daemon, readonly = opts != NULL && opts->readonly;
    memset(image_store, 0, sizeof(*image_store));
    store_set_members(image_store);
    store_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    image_store->state = s;
    s->dirfd = -1;
    s->lock.fd = -1;
    s->cstorage.lock_fd = -1;
    s->cstorage.kept_fd = -1;
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
    if (store_layers_init(s, opts) != 0)
        return -1;
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
    int rc = store_open_layout(s);
    if (rc == 0 && daemon && !readonly) { /* the daemon owns the store's upkeep */
        if (lock_acquire(&s->lock, true, s->dir, &s->err) == 0) {
            store_recover(s);
            lock_release(&s->lock);
        }
        if (store_snapshot_is_stale(s, 32))
            refresh_snapshot(s); /* and keeps it quick to open */
    }
    if (rc != 0) {
        lock_close(&s->lock);
        cstorage_close(s);
        close(s->dirfd);
        s->dirfd = -1;
        return -1;
    }
    store_layers_open(s);
    return 0;
}

int new_image_store(bool daemon, bool readonly, const char *dir, image_store_t *image_store)
{
    image_store_options opts = {.daemon = daemon, .readonly = readonly};
    return image_store_open(image_store, dir, &opts);
}

void image_store_close(image_store_t *image_store)
{
    store_state *s = state_of(image_store);
    if (s == NULL)
        return;
    if (s->hooks.running > 0) { /* the operation that runs the hook still uses the state */
        error_set(&s->err, IMAGE_STORE_EINVAL,
                  "cannot close the store from inside one of its hooks");
        return;
    }
    if (s->in_batch)
        batch_discard(s);
    if (s->dirfd >= 0 && !s->readonly && store_snapshot_is_stale(s, 32))
        refresh_snapshot(s); /* this process wrote: leave the next open quick */
    lock_close(&s->lock);
    cstorage_close(s);
    if (s->dirfd >= 0)
        close(s->dirfd);
    str_list_free(&s->changed);
    index_free(&s->index, true);
    problem_list_free(&s->problems);
    store_layers_close(s);
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
