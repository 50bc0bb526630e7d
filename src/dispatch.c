/* Picks the SIMD kernel set once: scalar first, then the best the CPU runs,
 * unless RECUR_ISA names one it can run. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const simd_kernels *chosen = &simd_kernels_scalar;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static const simd_kernels *supported(const char *name) {
    if (!strcmp(name, "scalar")) return &simd_kernels_scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &simd_kernels_avx2;
    if (!strcmp(name, "avx512") && __builtin_cpu_supports("avx512f")) return &simd_kernels_avx512;
#elif defined(__aarch64__)
    if (!strcmp(name, "neon")) return &simd_kernels_neon;
#endif
    return NULL;
}

static void choose(void) {
    static const char *const ladder[] = {"avx512", "avx2", "neon"};
    const char *want = getenv("RECUR_ISA");
    const simd_kernels *k = want ? supported(want) : NULL;
    for (size_t i = 0; !k && i < sizeof ladder / sizeof *ladder; i++) k = supported(ladder[i]);
    if (k) chosen = k;
}

const simd_kernels *recur_kernels(void) {
    pthread_once(&chosen_once, choose);
    return chosen;
}

const char *recur_isa(void) { return recur_kernels()->name; }

/* Test and tuning overrides of the LSTM's time-loop choices, read once. */
static int split_override, fuse_override = -1;
static pthread_once_t overrides_once = PTHREAD_ONCE_INIT;

static void read_overrides(void) {
    const char *v = getenv("RECUR_LSTM_SPLIT");
    split_override = !v ? 0 : !strcmp(v, "rows") ? 1 : !strcmp(v, "units") ? 2 : 0;
    v = getenv("RECUR_LSTM_FUSE");
    fuse_override = !v ? -1 : !strcmp(v, "0") ? 0 : !strcmp(v, "1") ? 1 : -1;
}

int recur_lstm_split_override(void) {
    pthread_once(&overrides_once, read_overrides);
    return split_override;
}

int recur_lstm_fuse_override(void) {
    pthread_once(&overrides_once, read_overrides);
    return fuse_override;
}
