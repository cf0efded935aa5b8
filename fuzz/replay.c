/*
 * Runs a fuzz target over files, for `make check`: each file of the corpus
 * directories given is one input. TAP output, one line per directory, then
 * one line that says the target left nothing behind: the inputs run in a
 * child process whose TMPDIR is a fresh empty directory, and that directory
 * must be empty again once the child has exited (its exit handlers, where a
 * target removes what it made once, included).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef CORPUS_DIR
#define CORPUS_DIR "."
#endif

/* Replays every file of each directory; prints "ok N - DIR: K inputs
 * replayed" (N from 1), or "not ok" for a directory without inputs. */
static void replay(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        int files = 0;
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            FILE *f = fopen(path, "rb");
            if (f == NULL)
                continue;
            char *buf = NULL;
            size_t size = 0, cap = 0, got;
            char chunk[4096];
            while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                if (size + got > cap) {
                    cap = (size + got) * 2;
                    buf = realloc(buf, cap);
                    if (buf == NULL)
                        abort();
                }
                memcpy(buf + size, chunk, got);
                size += got;
            }
            fclose(f);
            LLVMFuzzerTestOneInput((const uint8_t *)(buf ? buf : ""), size);
            free(buf);
            files++;
        }
        if (d != NULL)
            closedir(d);
        printf("%s %d - %s: %d inputs replayed\n", files > 0 ? "ok" : "not ok", ++n, argv[i], files);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    static char corpus[] = CORPUS_DIR;
    char *dflt[] = {argv[0], corpus};
    const char *base = getenv("TMPDIR");
    char tmp[4096];
    int n, failed = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 1) { /* make check: this target's corpus in the repository */
        argc = 2;
        argv = dflt;
    }
    n = argc - 1; /* the child's lines */
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/fuzz-replay-XXXXXX", base) >= sizeof(tmp) ||
        mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        rmdir(tmp);
        return 2;
    }
    if (pid == 0) {
        if (setenv("TMPDIR", tmp, 1) != 0)
            _exit(2);
        replay(argc, argv);
        fflush(stdout);
        exit(0); /* runs the target's exit handlers */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return 2;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("not ok %d - the replay ended with %s %d\n", ++n,
               WIFEXITED(status) ? "exit status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        failed++;
    }
    /* what the target left in its TMPDIR */
    int left = 0;
    DIR *d = opendir(tmp);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        printf("# left behind: %s/%s\n", tmp, e->d_name);
        left++;
    }
    if (d != NULL)
        closedir(d);
    printf("%s %d - nothing left behind in TMPDIR (%d entries)\n", d != NULL && left == 0 ? "ok" : "not ok",
           ++n, left);
    failed += d == NULL || left > 0;
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("1..%d\n", n);
    return failed > 0;
}
