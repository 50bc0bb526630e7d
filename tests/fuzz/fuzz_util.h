/* Shared by the fuzz targets: recur reads files by name, so each input is
 * written into a private folder (made once per process under $TMPDIR, removed
 * at exit). A broken harness aborts: libFuzzer then reports it like a bug. */
#ifndef RECUR_FUZZ_UTIL_H
#define RECUR_FUZZ_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recur.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s (recur: %s)\n", __FILE__, __LINE__, #cond,    \
                    recur_last_error());                                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char fuzz_dir_path[4096];

static inline void fuzz_remove_dir(void) {
    DIR *d = opendir(fuzz_dir_path);
    if (!d) return;
    char path[sizeof fuzz_dir_path + 256];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(fuzz_dir_path);
}

/* DIR/NAME in the private folder, in one of a few rotating buffers */
static inline const char *fuzz_path(const char *name) {
    static char paths[4][sizeof fuzz_dir_path + 64];
    static int next;
    if (!fuzz_dir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/recur-fuzz.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        FUZZ_CHECK(mkdtemp(fuzz_dir_path) != NULL);
        atexit(fuzz_remove_dir);
    }
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", fuzz_dir_path, name);
    return p;
}

static inline void fuzz_write(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
}

static inline int fuzz_all_zero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t k = 0; k < n; k++)
        if (c[k]) return 0;
    return 1;
}

#endif /* RECUR_FUZZ_UTIL_H */
