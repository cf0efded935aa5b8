/*
 * What the C tests share: TAP output, a table of cases to run, removing a
 * temp tree, and running the test again under the fault-injection shim
 * (spec/faults/fault_shim.c). Header-only: every test is one .c file that
 * the Makefile builds alone.
 */
#ifndef IMAGESTORE_TEST_SUPPORT_H
#define IMAGESTORE_TEST_SUPPORT_H

#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tests_run, tests_failed;

/* "ok N - ..." or "not ok N - ..."; returns cond. */
static inline bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool check(bool cond, const char *fmt, ...)
{
    va_list ap;
    tests_run++;
    if (!cond)
        tests_failed++;
    printf("%s %d - ", cond ? "ok" : "not ok", tests_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

/* A TAP comment line. */
static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* One case of a test program: a function that makes its own checks. */
typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* {"test_x", test_x}: a case named after its function. */
#define TEST_CASE(fn) {#fn, fn}

/* Runs the cases in order. Passing cases print only their checks; after a
 * case with a failed check, a TAP comment names it. */
static inline void run_cases(const test_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int failed = tests_failed;
        cases[i].fn();
        if (tests_failed > failed)
            diag("failed in %s", cases[i].name);
    }
}

#define RUN_CASES(table) run_cases((table), sizeof(table) / sizeof((table)[0]))

/* The plan line; the exit status main returns. */
static inline int tap_done(void)
{
    printf("1..%d\n", tests_run);
    return tests_failed == 0 ? 0 : 1;
}

static inline int test_remove_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* rm -rf, never following a symlink. */
static inline void rm_rf(const char *path)
{
    nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs this program again with fault_shim.so (beside it) preloaded, unless
 * it already runs so; returns only in the preloaded run (or 2 on failure to
 * exec, which main returns). ASan keeps its runtime first in LD_PRELOAD. */
static inline int rerun_under_fault_shim(char **argv)
{
    if (getenv("IMAGESTORE_FAULT_SHIM") != NULL)
        return 0;
    char self[4096], shim[4200], preload[8400], opts[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 2;
    self[n] = '\0';
    snprintf(shim, sizeof(shim), "%.*s/fault_shim.so", (int)(strrchr(self, '/') - self), self);
    const char *pre = getenv("LD_PRELOAD"), *asan = getenv("ASAN_OPTIONS");
    snprintf(preload, sizeof(preload), "%s%s%s", pre ? pre : "", pre ? " " : "", shim);
    setenv("LD_PRELOAD", preload, 1);
    setenv("IMAGESTORE_FAULT_SHIM", shim, 1);
    snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "",
             asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    execv(self, argv);
    perror("execv");
    return 2;
}

#endif
