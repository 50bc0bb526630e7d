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

/* The CPU's kind for the time loop's choices: Intel's cores with AVX-512
 * run 512-bit FMAs natively (two ports on Xeons) and have 2 MiB of L2, AMD's
 * Zen 4 splits them over two 256-bit pipes and has 1 MiB; the thresholds
 * that chose the split and the input fusion were measured on each (see
 * rnn_engine.c). RECUR_CPU=intel|amd|generic forces one (tests, tuning). */
static recur_cpu cpu_kind = RECUR_CPU_GENERIC;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void choose_cpu(void) {
    const char *v = getenv("RECUR_CPU");
    if (v && !strcmp(v, "intel"))
        cpu_kind = RECUR_CPU_INTEL;
    else if (v && !strcmp(v, "amd"))
        cpu_kind = RECUR_CPU_AMD;
    else if (v && !strcmp(v, "generic"))
        cpu_kind = RECUR_CPU_GENERIC;
#if defined(__x86_64__)
    else {
        __builtin_cpu_init();
        cpu_kind = __builtin_cpu_is("intel") ? RECUR_CPU_INTEL
                   : __builtin_cpu_is("amd") ? RECUR_CPU_AMD
                                             : RECUR_CPU_GENERIC;
    }
#endif
}

recur_cpu recur_cpu_kind(void) {
    pthread_once(&cpu_once, choose_cpu);
    return cpu_kind;
}

/* the rules AMD's and unknown CPUs share (measured on a Zen 4) */
#define ZEN4_RULES                                                                                 \
    "rows split unless under 4 rows a thread; input fused up to 1 MiB of weights, or 8 MiB "       \
    "at a batch of 32 or more"

const char *recur_tuning(void) {
    static const char *const text[] = {
        [RECUR_CPU_GENERIC] = "cpu generic: " ZEN4_RULES,
        [RECUR_CPU_INTEL] = "cpu intel: per-step GEMM in tiles of up to 12 rows with the panel "
                            "prefetched (AVX-512); units split at 8 or fewer rows a thread once U "
                            "is 2 MiB, and in forwards at any batch once U is 4 MiB; input fused "
                            "only up to 1 MiB of weights, in inference at any size from a batch "
                            "of 48; LSTM and GRU tapes of 3, 5, 7... x 512 floats a row padded by "
                            "512",
        [RECUR_CPU_AMD] = "cpu amd: " ZEN4_RULES};
    return text[recur_cpu_kind()];
}

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
