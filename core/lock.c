#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_store.h"

#define LOCK_MAGIC "imgstlk1"

struct lock_entry {
    uint64_t generation;
    char id[64]; /* all zero: every image */
};

struct lock_page {
    char magic[8];
    uint64_t generation;
    uint64_t ring_size;
    uint64_t reserved[5];
    struct lock_entry ring[LOCK_RING];
};

static int lock_fail(image_error *err, int errnum, const char *call, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE);
    return error_sys(err, errnum, call, path);
}

static bool page_valid(const struct lock_page *p)
{
    return memcmp(p->magic, LOCK_MAGIC, 8) == 0 && p->ring_size == LOCK_RING;
}

int lock_open(store_lock *l, int dirfd, const char *dir, bool readonly, image_error *err)
{
    memset(l, 0, sizeof(*l));
    l->fd = openat(dirfd, LOCK_FILE, (readonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC | O_NOFOLLOW,
                   0600);
    if (l->fd < 0) {
        if (readonly && (errno == ENOENT || errno == EACCES))
            return 0; /* none, or not ours to read: a reader goes without coordination */
        return lock_fail(err, errno, "open", dir);
    }
    l->writable = !readonly;
    struct stat st;
    if (fstat(l->fd, &st) != 0) {
        int saved = errno;
        lock_close(l);
        return lock_fail(err, saved, "stat", dir);
    }
    if (!readonly && (size_t)st.st_size < sizeof(struct lock_page)) {
        /* New (or foreign) file: size it and stamp it under the lock. */
        if (flock(l->fd, LOCK_EX) != 0) {
            int saved = errno;
            lock_close(l);
            return lock_fail(err, saved, "flock", dir);
        }
        int rc = 0;
        if (fstat(l->fd, &st) == 0 && (size_t)st.st_size < sizeof(struct lock_page)) {
            struct lock_page head;
            memset(&head, 0, sizeof(head));
            memcpy(head.magic, LOCK_MAGIC, 8);
            head.ring_size = LOCK_RING;
            if (ftruncate(l->fd, sizeof(struct lock_page)) != 0 ||
                pwrite(l->fd, &head, offsetof(struct lock_page, ring), 0) !=
                    (ssize_t)offsetof(struct lock_page, ring))
                rc = errno ? errno : EIO;
        }
        flock(l->fd, LOCK_UN);
        if (rc != 0) {
            lock_close(l);
            return lock_fail(err, rc, "write", dir);
        }
        st.st_size = sizeof(struct lock_page);
    }
    if ((size_t)st.st_size < sizeof(struct lock_page))
        return 0; /* read-only and not ours: lock, but no change tracking */
    void *map = mmap(NULL, sizeof(struct lock_page), readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                     MAP_SHARED, l->fd, 0);
    if (map == MAP_FAILED) {
        int saved = errno;
        lock_close(l);
        return lock_fail(err, saved, "mmap", dir);
    }
    l->page = map;
    if (!page_valid(l->page)) {
        munmap(l->page, sizeof(struct lock_page));
        l->page = NULL;
    }
    return 0;
}

void lock_close(store_lock *l)
{
    if (l->page != NULL)
        munmap(l->page, sizeof(struct lock_page));
    if (l->fd >= 0)
        close(l->fd); /* drops any flock we hold */
    memset(l, 0, sizeof(*l));
    l->fd = -1;
}

int lock_acquire(store_lock *l, bool exclusive, const char *dir, image_error *err)
{
    int op = exclusive ? LOCK_EX : LOCK_SH;
    if (l->fd < 0 || l->held == op || l->held == LOCK_EX)
        return 0;
    while (flock(l->fd, op) != 0)
        if (errno != EINTR)
            return lock_fail(err, errno, "flock", dir);
    l->held = op;
    return 0;
}

void lock_release(store_lock *l)
{
    if (l->fd >= 0 && l->held != 0)
        flock(l->fd, LOCK_UN);
    l->held = 0;
}

uint64_t lock_generation(const store_lock *l)
{
    return l->page ? __atomic_load_n(&l->page->generation, __ATOMIC_ACQUIRE) : 0;
}

void lock_publish(store_lock *l, const char *id)
{
    if (l->page == NULL || !l->writable)
        return;
    uint64_t g = l->page->generation + 1;
    struct lock_entry *e = &l->page->ring[g % LOCK_RING];
    memset(e->id, 0, sizeof(e->id));
    if (id != NULL)
        memcpy(e->id, id, strnlen(id, sizeof(e->id)));
    __atomic_store_n(&e->generation, g, __ATOMIC_RELEASE);
    __atomic_store_n(&l->page->generation, g, __ATOMIC_RELEASE);
}

bool lock_change_at(const store_lock *l, uint64_t g, char id[65])
{
    if (l->page == NULL)
        return false;
    const struct lock_entry *e = &l->page->ring[g % LOCK_RING];
    if (__atomic_load_n(&e->generation, __ATOMIC_ACQUIRE) != g)
        return false;
    memcpy(id, e->id, 64);
    id[64] = '\0';
    return id[0] != '\0';
}
