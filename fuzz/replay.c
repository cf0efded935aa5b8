/*
 * Runs a fuzz target over files, for `make check`: each file of the corpus
 * directories given is one input. TAP output, one line per directory.
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef CORPUS_DIR
#define CORPUS_DIR "."
#endif

int main(int argc, char **argv)
{
    int n = 0;
    static char corpus[] = CORPUS_DIR;
    char *dflt[] = {argv[0], corpus};
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 1) { /* make check: this target's corpus in the repository */
        argc = 2;
        argv = dflt;
    }
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
    printf("1..%d\n", n);
    return 0;
}
