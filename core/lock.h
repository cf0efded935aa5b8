/*
 * Cross-process coordination through <dir>/.imagestore.lock.
 *
 * Writers hold flock(LOCK_EX) on it around catch-up, mutate and persist;
 * readers that need to catch up hold LOCK_SH. The file is also mapped shared:
 * it holds a generation counter that every committed change increments, and
 * a ring of the last LOCK_RING changed image IDs. A call checks for foreign
 * writes with one atomic load of the counter (no system call); when it moved,
 * the ring says which images to re-read, or that everything must be.
 *
 *   lock_open()        at store open (readonly: never creates the file)
 *   lock_acquire()     LOCK_SH or LOCK_EX; lock_release()
 *   lock_publish()     under LOCK_EX, once per changed image (NULL: all)
 *   lock_change_at()   under LOCK_SH/EX, which image generation g changed
 */
#ifndef IMAGE_LOCK_H
#define IMAGE_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define LOCK_FILE ".imagestore.lock"
#define LOCK_RING 1024

struct lock_page;

typedef struct store_lock {
    int fd;                 /* -1: no lock file (read-only store without one) */
    struct lock_page *page; /* NULL when unmapped */
    int held;               /* 0, LOCK_SH or LOCK_EX */
    bool writable;
} store_lock;

int lock_open(store_lock *l, int dirfd, const char *dir, bool readonly, image_error *err);
void lock_close(store_lock *l);
int lock_acquire(store_lock *l, bool exclusive, const char *dir, image_error *err);
void lock_release(store_lock *l);
/* The current generation (0 without a lock file). */
uint64_t lock_generation(const store_lock *l);
/* Records that image id (NULL: every image) changed; needs LOCK_EX. */
void lock_publish(store_lock *l, const char *id);
/* The image changed at generation g into id; false when the ring no longer
 * holds g or the change was "everything". */
bool lock_change_at(const store_lock *l, uint64_t g, char id[65]);

#endif
