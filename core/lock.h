/*
 * Cross-process coordination through <dir>/.imagestore.lock.
 *
 * Writers hold flock(LOCK_EX) on it around catch-up, mutate and persist;
 * readers that need to catch up hold LOCK_SH. The file also holds a
 * generation counter that every committed change increments, and a ring of
 * the last LOCK_RING changed image IDs. A call checks for foreign writes by
 * reading the counter (one pread of the header; never a mapping, which a
 * truncated file would turn into SIGBUS); when it moved, the ring says which
 * images to re-read, or that everything must be. A torn read only causes a
 * spurious catch-up: under the lock the counter is read again.
 *
 *   lock_open()        at store open (readonly: never creates the file)
 *   lock_acquire()     LOCK_SH or LOCK_EX; lock_release()
 *   lock_generation()  the counter; while the lock is held, the value read
 *                      when it was taken (only this store can change it then)
 *   lock_publish()     under LOCK_EX, once per changed image (NULL: all)
 *   lock_change_at()   under LOCK_SH/EX, which image generation g changed
 *
 * Only a regular file is used: a FIFO, symlink, directory, ... there is
 * IMAGE_STORE_ECORRUPT. A header that is not valid (zero-filled after a
 * crash, truncated, overwritten) is stamped afresh under LOCK_EX by a
 * writable store: at lock_open, and at every lock_acquire(LOCK_EX) (so a
 * writer never publishes into a broken file). A stamp starts the counter at
 * a random 48-bit value (getrandom; the clock if that fails) with a ring
 * that says "everything changed", so no store can mistake the new counter
 * for one it has seen: every store reloads everything. The stamp is
 * fsync'd. Until a writer stamps it, an invalid header reads as
 * LOCK_GENERATION_INVALID; a read-only store that meets one sets `degraded`
 * and says why in `problem`.
 *
 * One thread, two stores on one directory: flock belongs to the open file
 * description, so a store would wait forever for the lock another store of
 * the same thread holds (in a hook, or during a batch). The LOCK_EX holder
 * writes its pid, thread id and pid namespace into the header right after
 * taking the lock and clears them before releasing it; lock_acquire first
 * tries LOCK_NB, and when the lock is taken by this very thread it fails at
 * once with EDEADLK instead of waiting. Another thread or process is waited
 * for. A holder that changed nothing puts the file's mtime back, so a
 * failed or empty operation leaves the file as it found it, bytes and mtime.
 */
#ifndef IMAGE_LOCK_H
#define IMAGE_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

#define LOCK_FILE ".imagestore.lock"
#define LOCK_RING 1024
/* lock_generation() of a file whose header is not (yet) valid. */
#define LOCK_GENERATION_INVALID UINT64_MAX

typedef struct store_lock {
    int fd;               /* -1: no lock file (read-only store without one) */
    int held;             /* 0, LOCK_SH or LOCK_EX */
    bool writable;
    uint64_t generation;  /* while held: the file's counter */
    uint64_t pidns;       /* this process's pid namespace (owner fields), 0: unknown */
    uint64_t taken_at;    /* the generation when LOCK_EX was taken */
    struct timespec mtime; /* the file's mtime then, put back if nothing changed */
    /* This (read-only) store cannot see other processes' changes; problem
     * says why, a sentence for problems() ("" when all is well). As of the
     * last lock_open or lock_acquire. */
    bool degraded;
    char problem[256];
} store_lock;

#define LOCK_HAS_PROBLEM 1 /* store_lock has degraded and problem */

int lock_open(store_lock *l, int dirfd, const char *dir, bool readonly, image_error *err);
void lock_close(store_lock *l);
/* IMAGE_STORE_ESYS with errno EDEADLK when this thread holds the lock
 * through another store; other errors of flock and of reading the file. */
int lock_acquire(store_lock *l, bool exclusive, const char *dir, image_error *err);
void lock_release(store_lock *l);
/* The current generation (0 without a lock file, LOCK_GENERATION_INVALID
 * while the header is not valid). */
uint64_t lock_generation(const store_lock *l);
/* Records that image id (NULL: every image) changed; needs LOCK_EX. */
void lock_publish(store_lock *l, const char *id);
/* The image changed at generation g into id; false when the ring no longer
 * holds g or the change was "everything". */
bool lock_change_at(const store_lock *l, uint64_t g, char id[65]);

#endif
