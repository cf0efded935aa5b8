/*
 * Keeping up with other processes. A writer holds the lock file
 * exclusively, first catches up with other processes' changes (lock.h), then
 * publishes the IDs it changed. A reader only compares the shared generation
 * counter with the one it has seen, and catches up under a shared lock when
 * they differ. The snapshot is rewritten when too little of it is current.
 * A containers/storage directory has its own protocol (store_cstorage.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "snapshot.h"
#include "store_internal.h"

/* More than 64 + N/share records are not vouched for by the snapshot. Close
 * refreshes it at share 32; writers, which pay for it while the caller waits,
 * at share 4, so that its cost per change stays small whatever N is. */
bool store_snapshot_is_stale(const store_state *s, size_t share)
{
    return s->stale > 64 + s->index.sorted.len / share;
}

/* Rewrites the snapshot from memory; needs the exclusive lock. A failure is
 * not reported: the snapshot is only a cache. */
void store_write_snapshot(store_state *s)
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
    problem_kind kind;
    image_record *r = NULL, *old = strmap_get(&s->index.by_id, id);
    struct stat st;
    if (fstatat(s->dirfd, id, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            return -1;
    } else if (store_read_record(s, id, &r, why, sizeof(why), &kind, NULL) != 0 || r == NULL) {
        return -1; /* unusable now: a full load records the problem */
    }
    if (r != NULL) {
        /* The new record wins its names from images whose change is yet to come. */
        for (size_t i = 0; i < r->names.len; i++) {
            image_record *holder = strmap_get(&s->index.by_name, r->names.items[i]);
            if (holder == NULL || holder == old)
                continue;
            if (record_has_name(holder, r->names.items[i])) {
                strmap_remove(&s->index.by_name, r->names.items[i]); /* before its key is freed */
                record_remove_name(holder, r->names.items[i]);
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
int store_catch_up(store_state *s)
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
        int rc = store_load_all(s);
        if (rc != 0)
            return rc;
    }
    s->seen_generation = g;
    return 0;
}

/* Tells other processes what this operation (or batch) changed. */
void store_publish_changes(store_state *s)
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
int store_refuse_in_hook(store_state *s)
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
        if ((rc = store_load_all(s)) == 0)
            s->seen_generation = g;
        lock_release(&s->lock);
    }
    return rc;
}

int store_begin_read(store_state *s)
{
    if (store_refuse_in_hook(s) != 0)
        return -1;
    error_clear(&s->err);
    if (s->layout == STORE_LAYOUT_CSTORAGE)
        return cstorage_begin_read(s, false);
    if (s->lock.fd < 0 && s->readonly && !s->lock.degraded)
        return adopt_new_lock_file(s);
    if (lock_generation(&s->lock) == s->seen_generation)
        return 0; /* the common case: one pread of the lock file's header */
    if (s->lock.held != 0)
        return store_catch_up(s);
    int rc = lock_acquire(&s->lock, false, s->dir, &s->err);
    if (rc == 0) {
        rc = store_catch_up(s);
        lock_release(&s->lock);
    }
    return rc;
}

void store_end_read(store_state *s)
{
    if (s->layout == STORE_LAYOUT_CSTORAGE)
        cstorage_end_read(s);
}

int store_begin_write(store_state *s, const char *op)
{
    if (store_refuse_in_hook(s) != 0)
        return -1;
    error_clear(&s->err);
    int rc = refuse_readonly(s, op);
    if (rc != 0 || s->in_batch)
        return rc;
    if ((rc = lock_acquire(&s->lock, true, s->dir, &s->err)) != 0)
        return rc;
    if ((rc = store_catch_up(s)) != 0)
        lock_release(&s->lock);
    return rc;
}

int store_end_write(store_state *s, int rc)
{
    if (s->in_batch) {
        if (rc == IMAGE_STORE_ESYS && !s->batch_failed) { /* the batch must not commit half */
            s->batch_failed = true;
            s->batch_errno = s->err.sys_errno;
            snprintf(s->batch_failure, sizeof(s->batch_failure), "%s", s->err.message);
        }
        return rc == 0 ? 0 : -1;
    }
    store_publish_changes(s);
    if (store_snapshot_is_stale(s, 4))
        store_write_snapshot(s);
    lock_release(&s->lock);
    return rc == 0 ? 0 : -1;
}
