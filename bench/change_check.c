/*
 * The cost of the cross-process change check (issue #4): lookups by name on
 * a store of N images, first with no other process writing, then while a
 * second process rewrites one image's metadata as fast as it can. Every
 * lookup compares the store's change token with the shared one; when another
 * process wrote, the lookup first re-reads the images that changed.
 *
 *   change-check DIR N SECONDS
 *
 * Prints two JSON lines: lookup-name-quiet and lookup-name-with-writer, with
 * per_op_us and, for the second, how many writes the other process made.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image_store.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const image_store_t *st, const char *what)
{
    fprintf(stderr, "change-check: %s: %s\n", what, image_store_error_message(st));
    exit(1);
}

/* Lookups of every name, round after round, for `seconds`; µs per lookup. */
static double lookups(image_store_t *st, int n, double seconds, long *count)
{
    char name[64];
    double t0 = now(), t;
    *count = 0;
    do {
        for (int i = 0; i < n; i++) {
            char *id = NULL;
            snprintf(name, sizeof(name), "change-check/%d:tag", i);
            if (st->lookup(name, st, &id) != 0)
                die(st, "lookup");
            free(id);
        }
        *count += n;
    } while ((t = now()) - t0 < seconds);
    return (t - t0) / (double)*count * 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: change-check DIR N SECONDS\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = atoi(argv[2]);
    double seconds = atof(argv[3]);
    image_store_t st;
    if (new_image_store(false, false, dir, &st) != 0)
        die(&st, "open");
    if (image_store_batch_begin(&st) != 0)
        die(&st, "batch");
    for (int i = 0; i < n; i++) {
        char name[64];
        const char *names[] = {name};
        snprintf(name, sizeof(name), "change-check/%d:tag", i);
        if (st.create(NULL, names, 1, NULL, "{}", IMAGE_TIME_NOW, NULL, &st, NULL) != 0)
            die(&st, "create");
    }
    if (image_store_batch_commit(&st) != 0)
        die(&st, "commit");

    long quiet_ops, busy_ops;
    double quiet = lookups(&st, n, seconds, &quiet_ops);

    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    pid_t writer = fork();
    if (writer == 0) { /* the other process: its own store on the same directory */
        image_store_t w;
        long writes = 0;
        close(pipefd[0]);
        if (new_image_store(false, false, dir, &w) != 0)
            die(&w, "writer open");
        double t0 = now();
        while (now() - t0 < seconds + 1) {
            char meta[64];
            snprintf(meta, sizeof(meta), "{\"write\":%ld}", writes);
            if (w.set_metadata(&w, "change-check/0:tag", meta) != 0)
                die(&w, "set_metadata");
            writes++;
        }
        if (write(pipefd[1], &writes, sizeof(writes)) != (ssize_t)sizeof(writes))
            _exit(1);
        image_store_close(&w);
        _exit(0);
    }
    close(pipefd[1]);
    usleep(200000); /* let it get going */
    uint64_t g0 = image_store_generation(&st);
    double busy = lookups(&st, n, seconds, &busy_ops);
    uint64_t seen = image_store_generation(&st) - g0;
    long writes = 0;
    if (read(pipefd[0], &writes, sizeof(writes)) != (ssize_t)sizeof(writes))
        writes = -1;
    waitpid(writer, NULL, 0);
    printf("{\"impl\":\"imagestore-c\",\"phase\":\"lookup-name-quiet\",\"n\":%d,\"ops\":%ld,"
           "\"per_op_us\":%.4f}\n",
           n, quiet_ops, quiet);
    printf("{\"impl\":\"imagestore-c\",\"phase\":\"lookup-name-with-writer\",\"n\":%d,\"ops\":%ld,"
           "\"per_op_us\":%.4f,\"writer_writes\":%ld,\"changes_caught_up\":%llu}\n",
           n, busy_ops, busy, writes, (unsigned long long)seen);
    image_store_close(&st);
    return 0;
}
