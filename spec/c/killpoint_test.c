/*
 * SIGKILL at every commit point (issue 15). Each scenario of
 * crash_support.h (every mutator, a batch, a sequence of five acknowledged
 * calls, repair() of a damaged store, a daemon open that cleans up and
 * rewrites a stale snapshot) runs in a child process with the fault shim
 * (spec/faults/fault_shim.c; the test runs itself again under it) armed to
 * kill it:
 *
 *   IMAGESTORE_FAULT=rename:N:KILL       SIGKILL instead of the Nth rename
 *   IMAGESTORE_FAULT=rename:N:KILLAFTER  the Nth rename done, then SIGKILL
 *   IMAGESTORE_FAULT=sync:N:KILL|KILLAFTER  the same for the Nth fsync,
 *                                        fdatasync or syncfs
 *   (IMAGESTORE_CRASH_FULL=1, make torture: also change:N, every call that
 *   changes the disk: writes, mkdir, link, unlink, creating opens)
 *
 * with IMAGESTORE_FAULT_PATH naming the store, for N = 1, 2, ... until the
 * child runs to its end without being killed (so every such call of the
 * scenario, counted as the shim counts them). The child tells the parent
 * through a pipe which steps returned 0 before it died. The parent then
 * judges the store the kill left, in place (real inodes: the snapshot's
 * stamps work as they would after a real crash), as crash_support.h's
 * verify_state says: a plain and a daemon open succeed, every acknowledged
 * step is there byte for byte, an image the step in flight touched is
 * wholly old or wholly new (the full image table and every big-data byte
 * compared), check() finds only temp leftovers.
 *
 * One TAP line per kill point, and one per scenario that says how many
 * kills landed: it fails when none did in a scenario that renames, or when
 * fewer renames were killed than the scenario makes (taken from a recorded
 * dry run, as powerloss_test.c records).
 *
 *
 * Environment: IMAGESTORE_CRASH_TMPDIR (default /dev/shm),
 * IMAGESTORE_CRASH_FULL, IMAGESTORE_KILLPOINT_ONLY=<scenario name>.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crash_support.h"

static char workdir[256], pristine[300], store[300];
static bool full;
static size_t total_landed;

/* The dry run: what each step leaves, and how many renames and syncs the
 * scenario makes (from a recorded log). */
static bool dry_run(const scenario *sc, expect *e, int *renames, int *syncs, int *changes)
{
    static int logs;
    char log[400];
    image_store_t st;
    size_t n = scenario_len(sc);
    memset(e, 0, sizeof(*e));
    e->nsteps = n;
    e->mask_new_loaded = true; /* the child creates them again, later */
    copy_tree(pristine, store);
    if (!expect_capture(e, 0, store))
        return false;
    if (new_image_store(false, false, store, &st) != 0) {
        image_store_close(&st);
        return false;
    }
    snprintf(log, sizeof(log), "%s/log.%d", workdir, ++logs);
    setenv("IMAGESTORE_RECORD_PATH", store, 1);
    setenv("IMAGESTORE_RECORD", log, 1);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (sc->steps[i].fn(&st, store) != 0) {
            check(false, "%s: dry run: step %s succeeds (%s)", sc->name, sc->steps[i].name,
                  image_store_error_message(&st));
            ok = false;
            break;
        }
        unsetenv("IMAGESTORE_RECORD");
        ok = expect_capture(e, i + 1, store);
        setenv("IMAGESTORE_RECORD", log, 1);
    }
    image_store_close(&st);
    unsetenv("IMAGESTORE_RECORD");
    unsetenv("IMAGESTORE_RECORD_PATH");
    *renames = *syncs = *changes = 0;
    FILE *f = fopen(log, "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strchr(line, '\n') == NULL) { /* a long write line: skip the rest of it */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
        }
        *renames += strncmp(line, "rename ", 7) == 0;
        *syncs += strncmp(line, "fsync ", 6) == 0 || strncmp(line, "fdatasync ", 10) == 0 ||
                  strncmp(line, "syncfs ", 7) == 0;
        *changes += strncmp(line, "ack ", 4) != 0;
    }
    if (f != NULL)
        fclose(f);
    unlink(log);
    return ok;
}

/* 1: killed (acked set), 0: ran to its end, -1: something else happened. */
static int run_child(const scenario *sc, const char *spec, size_t *acked, char *what, size_t wsize)
{
    int fds[2];
    copy_tree(pristine, store);
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        image_store_t st;
        if (new_image_store(false, false, store, &st) != 0)
            _exit(3);
        setenv("IMAGESTORE_FAULT_PATH", store, 1);
        setenv("IMAGESTORE_FAULT", spec, 1);
        for (size_t i = 0; i < scenario_len(sc); i++) {
            if (sc->steps[i].fn(&st, store) != 0)
                _exit(4);
            if (write(fds[1], "a", 1) != 1)
                _exit(5);
        }
        image_store_close(&st); /* may rewrite the snapshot: killable too */
        _exit(0);
    }
    close(fds[1]);
    char buf[16];
    ssize_t r;
    *acked = 0;
    while ((r = read(fds[0], buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
        if (r > 0)
            *acked += (size_t)r;
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        return 1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        snprintf(what, wsize, "exited with status %d (3: open failed, 4: a step failed)",
                 WEXITSTATUS(status));
    else
        snprintf(what, wsize, "died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return -1;
}

/* Every kill point of one call kind and timing; returns how many landed. */
static int kill_every(const scenario *sc, const expect *e, const char *call, const char *when)
{
    int landed = 0;
    for (int n = 1; n < 1000; n++) {
        char spec[64], what[128] = "";
        size_t acked = 0;
        snprintf(spec, sizeof(spec), "%s:%d:%s", call, n, when);
        int r = run_child(sc, spec, &acked, what, sizeof(what));
        if (r == 0)
            break;
        if (r < 0) {
            check(false, "%s: %s: the child is killed or runs through (%s)", sc->name, spec, what);
            break;
        }
        landed++;
        total_landed++;
        sbuf why = {0};
        bool ok = verify_state(store, e, acked, &why);
        check(ok, "%s: SIGKILL %s %s #%d (%zu of %zu steps acknowledged)", sc->name,
              strcmp(when, "KILL") == 0 ? "instead of" : "right after", call, n, acked, e->nsteps);
        if (!ok)
            diag("why: %s", why.s ? why.s : "?");
        free(why.s);
    }
    return landed;
}

static void run_scenario(const scenario *sc)
{
    expect e;
    int renames, syncs, changes;
    time_t t0 = time(NULL);
    sc->setup(pristine);
    if (!dry_run(sc, &e, &renames, &syncs, &changes)) {
        check(false, "%s: the dry run", sc->name);
        expect_free(&e);
        return;
    }
    const char *calls[] = {"rename", "sync", "change"};
    int landed[3][2] = {{0}};
    for (int c = 0; c < (full ? 3 : 2); c++)
        for (int w = 0; w < 2; w++)
            landed[c][w] = kill_every(sc, &e, calls[c], w == 0 ? "KILL" : "KILLAFTER");
    int all = 0;
    for (int c = 0; c < 3; c++)
        all += landed[c][0] + landed[c][1];
    check(all > 0 && (renames == 0 || landed[0][0] > 0) && landed[0][0] >= renames &&
              landed[0][1] >= renames && landed[1][0] >= syncs,
          "%s: %d kills landed (rename %d+%d of %d recorded, sync %d+%d of %d recorded%s)", sc->name,
          all, landed[0][0], landed[0][1], renames, landed[1][0], landed[1][1], syncs,
          full ? ", and every call that changes the disk" : "");
    diag("%s: %ld s", sc->name, (long)(time(NULL) - t0));
    expect_free(&e);
}

int main(int argc, char **argv)
{
    (void)argc;
    int status = crash_main_start(argv, "killpoint", &full, workdir, sizeof(workdir));
    if (status != 0)
        return status;
    const char *only = getenv("IMAGESTORE_KILLPOINT_ONLY");
    snprintf(pristine, sizeof(pristine), "%s/pristine", workdir);
    snprintf(store, sizeof(store), "%s/store", workdir);
    diag("kill points in %s (%s)", workdir, full ? "renames, syncs and every change" : "renames and syncs");
    time_t start = time(NULL);
    for (size_t i = 0; i < NSCENARIOS; i++)
        if (only == NULL || strcmp(only, scenarios[i].name) == 0)
            run_scenario(&scenarios[i]);
    rm_rf(workdir);
    diag("%zu kills landed, %ld s", total_landed,
         (long)(time(NULL) - start));
    return tap_done();
}
