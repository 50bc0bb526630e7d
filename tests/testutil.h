/* Small helpers shared by the CUnit test programs. */
#ifndef RECUR_TESTUTIL_H
#define RECUR_TESTUTIL_H

#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Deterministic generator (splitmix64) so every failure reproduces. */
typedef struct {
    uint64_t s;
} test_rng;

static inline uint64_t rng_next(test_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline double rng_uniform(test_rng *r, double lo, double hi) {
    return lo + (hi - lo) * (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline void fill_uniform(test_rng *r, float *p, size_t n, double lo, double hi) {
    for (size_t k = 0; k < n; k++) p[k] = (float)rng_uniform(r, lo, hi);
}

/* ---- Step masks [T][B] ----------------------------------------------------- */

/* A mask with every pattern in turn over the samples: sample b gets kind
 * (b + seed) % 6: 0 all valid, 1 right padding, 2 left padding, 3 an interior
 * hole, 4 masked throughout, 5 random steps. Lengths are random (seeded). */
static inline unsigned char *mask_new(int T, int B, uint64_t seed) {
    test_rng r = {seed * 7919 + 1};
    unsigned char *m = malloc((size_t)T * B);
    for (int b = 0; b < B; b++) {
        const int kind = (int)((b + seed) % 6);
        /* len in [1, T-1] (T = 1: 1), hole [a, e) with 0 < a < e < T when T >= 3 */
        const int len = T > 1 ? 1 + (int)(rng_next(&r) % (uint64_t)(T - 1)) : 1;
        const int a = T >= 3 ? 1 + (int)(rng_next(&r) % (uint64_t)(T - 2)) : T;
        const int e = T >= 3 ? a + 1 + (int)(rng_next(&r) % (uint64_t)(T - 1 - a)) : T;
        for (int t = 0; t < T; t++) {
            int v = 1;
            if (kind == 1) v = t < len;
            if (kind == 2) v = t >= T - len;
            if (kind == 3) v = t < a || t >= e;
            if (kind == 4) v = 0;
            if (kind == 5) v = (int)(rng_next(&r) & 1);
            /* non-zero bytes other than 1 mean valid too */
            m[(size_t)t * B + b] = v ? (unsigned char)(1 + rng_next(&r) % 255) : 0;
        }
    }
    return m;
}

/* 64-byte aligned floats for n bytes (rounded up, plus a line), NaN-filled:
 * caller scratch and buffers whose stale contents must not matter */
static inline float *nan_buffer(size_t n) {
    const size_t nf = (n + 63) / 64 * 16;
    float *v = aligned_alloc(64, nf * 4 + 64);
    for (size_t k = 0; k < nf + 16; k++) v[k] = NAN;
    return v;
}

/* max |a-b| / max(max|b|, floor): an error relative to the array's scale */
static inline double rel_err_f64(const float *a, const double *b, size_t n, double floor) {
    double num = 0, den = floor;
    for (size_t k = 0; k < n; k++) {
        double e = fabs((double)a[k] - b[k]);
        if (e > num || e != e) num = e;
        if (fabs(b[k]) > den) den = fabs(b[k]);
    }
    return num / den;
}

/* Runs the registry's tests; the exit code counts failed assertions, which
 * CU_basic_run_tests itself does not report. */
static inline int test_main_run(void) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    int framework = CU_get_error();
    CU_cleanup_registry();
    return (failed || framework) ? 1 : 0;
}

#define ADD_TEST(suite, fn)                                                                      \
    do {                                                                                         \
        if (!CU_add_test(suite, #fn, fn)) return 2;                                              \
    } while (0)

#endif /* RECUR_TESTUTIL_H */
