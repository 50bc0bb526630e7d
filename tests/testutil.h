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
