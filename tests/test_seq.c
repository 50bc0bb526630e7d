/* Per-step targets, binary cross-entropy, the MAE metric, masked losses,
 * stateful stepping and sampling. Public header only. */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <recur.h>

#include "modeltest.h"

/* Sanitizers bring their own malloc, which the counting below would replace. */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !__has_feature(address_sanitizer) &&   \
    !__has_feature(memory_sanitizer)
#define COUNT_ALLOCATIONS 1
#include <link.h>
#endif

/* ---- counting the library's allocations (glibc) ---------------------------- *
 * The test program's malloc family replaces glibc's for the whole process; a
 * call counts when it comes from librecur's code itself (the OpenMP runtime
 * allocates its thread teams at every parallel region, outside recur). */

#ifdef COUNT_ALLOCATIONS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t k, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
static atomic_int counting;
static atomic_long allocations;
static uintptr_t recur_lo, recur_hi; /* librecur's loaded segments */

static int find_recur(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size, (void)data;
    if (!strstr(info->dlpi_name, "librecur")) return 0;
    for (int k = 0; k < info->dlpi_phnum; k++)
        if (info->dlpi_phdr[k].p_type == PT_LOAD) {
            const uintptr_t lo = info->dlpi_addr + info->dlpi_phdr[k].p_vaddr,
                            hi = lo + info->dlpi_phdr[k].p_memsz;
            if (!recur_lo || lo < recur_lo) recur_lo = lo;
            if (hi > recur_hi) recur_hi = hi;
        }
    return 1;
}

#define COUNT()                                                                                    \
    do {                                                                                           \
        const uintptr_t from = (uintptr_t)__builtin_return_address(0);                             \
        if (atomic_load(&counting) && from >= recur_lo && from < recur_hi)                         \
            atomic_fetch_add(&allocations, 1);                                                     \
    } while (0)
/* default visibility: the build hides symbols, and these must replace libc's */
#define VISIBLE __attribute__((visibility("default"), noinline))
VISIBLE void *malloc(size_t n) {
    COUNT();
    return __libc_malloc(n);
}
VISIBLE void *calloc(size_t k, size_t n) {
    COUNT();
    return __libc_calloc(k, n);
}
VISIBLE void *realloc(void *p, size_t n) {
    COUNT();
    return __libc_realloc(p, n);
}
VISIBLE void *aligned_alloc(size_t a, size_t n) {
    COUNT();
    return __libc_memalign(a, n);
}
VISIBLE int posix_memalign(void **p, size_t a, size_t n) {
    COUNT();
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}

/* librecur's allocations while fn(arg) runs */
static long allocations_during(void (*fn)(void *), void *arg) {
    if (!recur_hi) dl_iterate_phdr(find_recur, NULL);
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
    fn(arg);
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}
#endif

static recur_model *build(int T, int F, const char *spec, recur_loss loss, uint64_t seed) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, seed)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, spec)));
    recur_optimizer adam = recur_adam(1e-2f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, loss)));
    return m;
}

/* x [N][T][F] uniform in [-1, 1] away from 0, with the steps (n + t) % 3 == 0
 * all zeros when masked (a Masking(0) first masks them) */
static void inputs(float *x, int N, int T, int F, int masked, uint64_t seed) {
    test_rng r = {seed};
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++) {
                float v = (float)rng_uniform(&r, 0.1, 1.0);
                x[(n * T + t) * F + f] = masked && (n + t) % 3 == 0 ? 0.0f : (f % 2 ? -v : v);
            }
}

static int is_masked(int n, int t) {
    return (n + t) % 3 == 0;
}

/* targets: labels (sample n, step t) or MSE values, ny per sample */
static void targets(float *y, int N, int ny, recur_loss loss, int C, uint64_t seed) {
    test_rng r = {seed};
    for (int k = 0; k < N * ny; k++)
        y[k] = loss == RECUR_LOSS_MSE                   ? (float)rng_uniform(&r, -1, 1)
               : loss == RECUR_LOSS_BINARY_CROSSENTROPY ? (float)((k * 5 / 3) % 2)
                                                        : (float)((k * 7 + 1) % C);
}

/* ---- gradients ------------------------------------------------------------ */

typedef struct {
    const char *spec;
    recur_loss loss;
    int per_step, masked;
} seq_case;

static int targets_per_sample(const recur_model *m, const seq_case *c, int T) {
    return (c->per_step ? T : 1) * (c->loss == RECUR_LOSS_MSE ? recur_model_output_size(m) : 1);
}

static double grad_check(const seq_case *c, uint64_t seed) {
    enum { T = 4, F = 3, N = 5 };
    recur_model *m = build(T, F, c->spec, c->loss, seed);
    const int ny = targets_per_sample(m, c, T);
    float x[N * T * F], *y = malloc(sizeof(float) * N * (size_t)ny);
    inputs(x, N, T, F, c->masked, seed);
    targets(y, N, ny, c->loss, recur_model_output_size(m), seed + 1);
    size_t n;
    float *p = recur_model_params(m, &n);
    test_rng r = {seed + 2};
    for (size_t k = 0; k < n; k++) p[k] += (float)rng_uniform(&r, -0.3, 0.3);
    const double worst = fd_worst(m, x, NULL, y, N, 0, 2e-3f);
    free(y);
    recur_model_destroy(m);
    return worst;
}

static const seq_case grad_cases[] = {
    {"lstm:4:seq,dense:3:softmax", RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 1, 0},
    {"gru:3:seq,dense:2:linear", RECUR_LOSS_MSE, 1, 0},
    {"rnn:3,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY, 0, 0},
    {"lstm:3:seq,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY, 1, 0},
    {"lstm:3:seq", RECUR_LOSS_MSE, 1, 0}, /* a recurrent layer last */
    {"masking:0,lstm:3:seq,dense:3:softmax", RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 1, 1},
    {"masking:0,gru:3:seq,dense:2:tanh", RECUR_LOSS_MSE, 1, 1},
    {"masking:0,rnn:3:seq,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY, 1, 1},
};

static void test_gradients_match_finite_differences(void) {
    for (size_t k = 0; k < sizeof grad_cases / sizeof *grad_cases; k++) {
        double e = grad_check(&grad_cases[k], 40 + k);
        if (!(e < 2e-2)) printf("\n    %s: worst relative error %.3g", grad_cases[k].spec, e);
        CU_ASSERT(e < 2e-2);
    }
}

/* The same gradients bit for bit on 1 and 2 threads. */
static void test_gradients_independent_of_threads(void) {
    enum { T = 5, F = 3, N = 7 };
    for (size_t c = 0; c < sizeof grad_cases / sizeof *grad_cases; c++) {
        recur_model *m = build(T, F, grad_cases[c].spec, grad_cases[c].loss, 9);
        const int ny = targets_per_sample(m, &grad_cases[c], T);
        float x[N * T * F], *y = malloc(sizeof(float) * N * (size_t)ny), loss[2];
        inputs(x, N, T, F, grad_cases[c].masked, 4);
        targets(y, N, ny, grad_cases[c].loss, recur_model_output_size(m), 5);
        size_t n;
        recur_model_params(m, &n);
        float *g[2];
        for (int t = 0; t < 2; t++) {
            recur_set_num_threads(t + 1);
            CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 1, &loss[t])));
            g[t] = malloc(n * sizeof(float));
            memcpy(g[t], recur_model_gradients(m, NULL), n * sizeof(float));
        }
        recur_set_num_threads(0);
        CU_ASSERT(memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
        CU_ASSERT(memcmp(g[0], g[1], n * sizeof(float)) == 0);
        free(g[0]), free(g[1]), free(y);
        recur_model_destroy(m);
    }
}

/* ---- loss values by hand --------------------------------------------------- */

/* Sparse cross-entropy on two samples with masked steps: the mean of -log p
 * over the 4 valid steps of 6, from predict's probabilities. */
static void test_masked_crossentropy_by_hand(void) {
    enum { T = 3, F = 2, N = 2, C = 3 };
    recur_model *m = build(T, F, "masking:0,lstm:3:seq,dense:3:softmax",
                           RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 11);
    /* sample 0: valid, masked, valid; sample 1: valid, valid, masked */
    const float x[N * T * F] = {0.5f, -1, 0, 0, 1, 0.25f, -0.5f, 1, 0.75f, 0.5f, 0, 0};
    const float y[N * T] = {0, 1, 2, 2, 0, 1};
    const int valid[N * T] = {1, 0, 1, 1, 1, 0};
    float p[N * T * C];
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, N, 2, p)));
    double sum = 0, all = 0;
    int right = 0;
    for (int k = 0; k < N * T; k++) {
        const float *pk = p + k * C;
        const double l = -log((double)pk[(int)y[k]]);
        int best = 0;
        for (int j = 1; j < C; j++) best = pk[j] > pk[best] ? j : best;
        all += l;
        if (valid[k]) sum += l, right += best == (int)y[k];
    }
    recur_metrics r;
    CU_ASSERT_FATAL(ok(recur_model_evaluate_metrics(m, x, y, N, 1, &r)));
    CU_ASSERT_DOUBLE_EQUAL(r.loss, sum / 4, 1e-5);
    CU_ASSERT(fabs(r.loss - all / 6) > 1e-3); /* not the mean over every step */
    CU_ASSERT_EQUAL(r.accuracy, (float)right / 4.0f);
    CU_ASSERT(isnan(r.mae));
    float loss, acc;
    CU_ASSERT_FATAL(ok(recur_model_evaluate(m, x, y, N, 2, &loss, &acc)));
    CU_ASSERT_DOUBLE_EQUAL(loss, sum / 4, 1e-5);
    CU_ASSERT_EQUAL(acc, r.accuracy);
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss)));
    CU_ASSERT_DOUBLE_EQUAL(loss, sum / 4, 1e-5);
    recur_model_destroy(m);
}

/* Per-step MSE and MAE with masked steps: means over the outputs, then over
 * the valid steps. */
static void test_masked_mse_and_mae_by_hand(void) {
    enum { T = 4, F = 2, N = 3, C = 2 };
    recur_model *m = build(T, F, "masking:0,gru:3:seq,dense:2:linear", RECUR_LOSS_MSE, 12);
    float x[N * T * F], y[N * T * C], p[N * T * C];
    inputs(x, N, T, F, 1, 6);
    targets(y, N, T * C, RECUR_LOSS_MSE, C, 7);
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, N, 3, p)));
    double sq = 0, ab = 0;
    int valid = 0;
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            if (is_masked(n, t)) continue;
            valid++;
            for (int j = 0; j < C; j++) {
                const double e = (double)p[(n * T + t) * C + j] - y[(n * T + t) * C + j];
                sq += e * e / C, ab += fabs(e) / C;
            }
        }
    recur_metrics r;
    CU_ASSERT_FATAL(ok(recur_model_evaluate_metrics(m, x, y, N, 2, &r)));
    CU_ASSERT_DOUBLE_EQUAL(r.loss, sq / valid, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(r.mae, ab / valid, 1e-5);
    CU_ASSERT(isnan(r.accuracy));
    recur_model_destroy(m);
}

/* Binary cross-entropy from predict's probabilities, accuracy (p > 0.5) == y,
 * and a confident wrong answer costs its logit (no clipping at -log 1e-7). */
static void test_binary_crossentropy_by_hand(void) {
    enum { T = 3, F = 2, N = 4 };
    recur_model *m = build(T, F, "rnn:3,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY, 13);
    float x[N * T * F], p[N];
    const float y[N] = {0, 1, 1, 0};
    inputs(x, N, T, F, 0, 8);
    size_t n;
    float *w = recur_model_params(m, &n);
    w[n - 1] = 0.3f; /* a bias so that p is not near 0.5 everywhere */
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, N, 4, p)));
    double sum = 0;
    int right = 0;
    for (int k = 0; k < N; k++) {
        sum -= y[k] ? log((double)p[k]) : log(1.0 - p[k]);
        right += (p[k] > 0.5f) == (y[k] > 0.5f);
    }
    float loss, acc;
    CU_ASSERT_FATAL(ok(recur_model_evaluate(m, x, y, N, 3, &loss, &acc)));
    CU_ASSERT_DOUBLE_EQUAL(loss, sum / N, 1e-5);
    CU_ASSERT_EQUAL(acc, (float)right / N);
    /* kernel 0, bias 40: z = 40 everywhere; labels 0 cost 40 each, 1 cost ~0 */
    for (size_t k = n - 4; k < n - 1; k++) w[k] = 0.0f;
    w[n - 1] = 40.0f;
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss)));
    CU_ASSERT_DOUBLE_EQUAL(loss, 20.0, 1e-4);
    const float *g = recur_model_gradients(m, NULL);
    CU_ASSERT_DOUBLE_EQUAL(g[n - 1], 0.5, 1e-6); /* sum (p - y) / N = 2 / 4 */
    recur_model_destroy(m);
}

/* Changing the label at a masked step changes neither the loss nor the
 * gradient; at a valid step it changes both. A batch with no valid step has
 * loss 0 and gradient 0. */
static void test_masked_steps_contribute_nothing(void) {
    enum { T = 4, F = 3, N = 5 };
    const struct {
        const char *spec;
        recur_loss loss;
    } cases[] = {
        {"masking:0,lstm:3:seq,dense:3:softmax", RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        {"masking:0,rnn:3:seq,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY},
        {"masking:0,gru:3:seq,dense:2:linear", RECUR_LOSS_MSE}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        recur_model *m = build(T, F, cases[c].spec, cases[c].loss, 14);
        const int C = recur_model_output_size(m), per = cases[c].loss == RECUR_LOSS_MSE ? C : 1;
        float x[N * T * F], y[N * T * 3], loss0, loss1;
        inputs(x, N, T, F, 1, 9);
        targets(y, N, T * per, cases[c].loss, C, 10);
        size_t n;
        recur_model_params(m, &n);
        float *g0 = malloc(n * sizeof(float));
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss0)));
        memcpy(g0, recur_model_gradients(m, NULL), n * sizeof(float));
        /* sample 1, step 2 is masked; sample 1, step 1 is not */
        const int masked = (1 * T + 2) * per, kept = (1 * T + 1) * per;
        const float keep = y[masked];
        y[masked] = cases[c].loss == RECUR_LOSS_MSE ? keep + 5.0f
                                                    : (float)(((int)keep + 1) % (C > 1 ? C : 2));
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss1)));
        CU_ASSERT(memcmp(&loss0, &loss1, sizeof loss0) == 0);
        CU_ASSERT(memcmp(g0, recur_model_gradients(m, NULL), n * sizeof(float)) == 0);
        y[masked] = keep;
        y[kept] = cases[c].loss == RECUR_LOSS_MSE ? y[kept] + 5.0f
                                                  : (float)(((int)y[kept] + 1) % (C > 1 ? C : 2));
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss1)));
        CU_ASSERT(loss1 != loss0);
        CU_ASSERT(memcmp(g0, recur_model_gradients(m, NULL), n * sizeof(float)) != 0);
        /* nothing valid */
        memset(x, 0, sizeof x);
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss1)));
        CU_ASSERT_EQUAL(loss1, 0.0f);
        const float *g = recur_model_gradients(m, NULL);
        size_t nonzero = 0;
        for (size_t k = 0; k < n; k++) nonzero += g[k] != 0.0f;
        CU_ASSERT_EQUAL(nonzero, 0);
        recur_metrics r;
        CU_ASSERT_FATAL(ok(recur_model_evaluate_metrics(m, x, y, N, 2, &r)));
        CU_ASSERT_EQUAL(r.loss, 0.0f);
        free(g0);
        recur_model_destroy(m);
    }
}

/* ---- compile and data checks ----------------------------------------------- */

static void test_binary_crossentropy_needs_dense_1_sigmoid(void) {
    const char *bad[] = {"lstm:3,dense:2:sigmoid", "lstm:3,dense:1:linear", "lstm:1"};
    const char *why[] = {"more than 1 unit", "not sigmoid", "another kind"};
    recur_optimizer adam = recur_adam(1e-3f);
    for (int k = 0; k < 3; k++) {
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, 3, 2, 1)));
        CU_ASSERT_FATAL(ok(recur_model_add_layers(m, bad[k])));
        CU_ASSERT_EQUAL(recur_model_compile(m, &adam, RECUR_LOSS_BINARY_CROSSENTROPY),
                        RECUR_ERR_UNSUPPORTED);
        CU_ASSERT(mentions("Dense(1, sigmoid)"));
        CU_ASSERT(mentions(why[k]));
        recur_model_destroy(m);
    }
    recur_model *m = build(3, 2, "lstm:3:seq,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY, 1);
    float x[2 * 3 * 2] = {0}, y[2 * 3] = {0, 1, 1, 0, 2, 1}, loss;
    CU_ASSERT_EQUAL(recur_model_compute_gradients(m, x, y, 2, 0, &loss),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("sample 1 at step 1"));
    recur_model_destroy(m);
}

/* ---- fit -------------------------------------------------------------------- */

/* recur_model_output_steps: T when the last layer gives a sequence (a Dense
 * on one included), 1 when it gives a vector, 0 for NULL and no layers */
static void test_output_steps(void) {
    const char *specs[] = {"lstm:3:seq,dense:2:softmax", "gru:3:seq", "lstm:3,dense:2:softmax",
                           "lstm:3:seq,rnn:3", "embedding:9:2,lstm:3:seq,dropout:0.5"};
    const int want[] = {5, 5, 1, 1, 5};
    for (int k = 0; k < 5; k++) {
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, 5, k == 4 ? 1 : 2, 1)));
        CU_ASSERT_EQUAL(recur_model_output_steps(m), 0);
        CU_ASSERT_FATAL(ok(recur_model_add_layers(m, specs[k])));
        CU_ASSERT_EQUAL(recur_model_output_steps(m), want[k]);
        recur_model_destroy(m);
    }
    CU_ASSERT_EQUAL(recur_model_output_steps(NULL), 0);
}

/* label at step t: whether x_0 + ... + x_t > 0 (the running sign), per step */
static void running_sign(float *x, float *y, int N, int T, uint64_t seed) {
    test_rng r = {seed};
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int t = 0; t < T; t++) {
            x[n * T + t] = (float)rng_uniform(&r, -1, 1);
            s += x[n * T + t];
            y[n * T + t] = s > 0;
        }
    }
}

static void test_fit_learns_per_step_task(void) {
    enum { N = 256, T = 6 };
    const recur_loss losses[] = {RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
                                 RECUR_LOSS_BINARY_CROSSENTROPY};
    const char *specs[] = {"lstm:8:seq,dense:2:softmax", "gru:8:seq,dense:1:sigmoid"};
    float *x = malloc(sizeof(float) * N * T), *y = malloc(sizeof(float) * N * T);
    running_sign(x, y, N, T, 21);
    for (int c = 0; c < 2; c++) {
        recur_model *m = build(T, 1, specs[c], losses[c], 22);
        recur_fit_options fo = recur_fit_defaults();
        fo.epochs = 15, fo.batch_size = 16;
        CU_ASSERT_FATAL(ok(recur_model_fit(m, x, y, N, &fo)));
        const recur_epoch_logs *h;
        CU_ASSERT_EQUAL(recur_model_history(m, &h), 15);
        if (!(h[14].loss < 0.5f * h[0].loss && h[14].accuracy > 0.9f))
            printf("\n    %s: loss %g -> %g, accuracy %g", specs[c], (double)h[0].loss,
                   (double)h[14].loss, (double)h[14].accuracy);
        CU_ASSERT(h[14].loss < 0.5f * h[0].loss);
        CU_ASSERT(h[14].accuracy > 0.9f);
        CU_ASSERT(isnan(h[14].mae) && isnan(h[14].val_mae));
        recur_model_destroy(m);
    }
    free(x), free(y);
}

/* A regression logs mae and val_mae (history and progress line) as
 * evaluate_metrics computes them. */
static void test_mae_logged(void) {
    enum { N = 96, T = 5 };
    float *x = malloc(sizeof(float) * N * T), *y = malloc(sizeof(float) * N * T);
    test_rng r = {31};
    for (int k = 0; k < N * T; k++) x[k] = (float)rng_uniform(&r, -1, 1), y[k] = 0.5f * x[k];
    recur_model *m = build(T, 1, "lstm:4:seq,dense:1:linear", RECUR_LOSS_MSE, 23);
    FILE *log = tmpfile();
    CU_ASSERT_FATAL(log != NULL);
    recur_fit_options fo = recur_fit_defaults();
    fo.epochs = 3, fo.batch_size = 8, fo.verbose = 2, fo.progress = log;
    fo.val_x = x + 64 * T, fo.val_y = y + 64 * T, fo.val_n = N - 64;
    CU_ASSERT_FATAL(ok(recur_model_fit(m, x, y, 64, &fo)));
    const recur_epoch_logs *h;
    CU_ASSERT_FATAL(recur_model_history(m, &h) == 3);
    CU_ASSERT(h[2].mae > 0 && h[2].mae < h[0].mae);
    CU_ASSERT(isnan(h[2].accuracy) && isnan(h[2].val_accuracy));
    recur_metrics v;
    CU_ASSERT_FATAL(ok(recur_model_evaluate_metrics(m, fo.val_x, fo.val_y, N - 64, 8, &v)));
    CU_ASSERT_EQUAL(h[2].val_mae, v.mae);
    CU_ASSERT_EQUAL(h[2].val_loss, v.loss);
    char text[4096] = {0};
    rewind(log);
    fread(text, 1, sizeof text - 1, log);
    fclose(log);
    CU_ASSERT(strstr(text, " - mae: ") != NULL);
    CU_ASSERT(strstr(text, " - val_mae: ") != NULL);
    CU_ASSERT(strstr(text, "accuracy") == NULL);
    recur_model_destroy(m);
    free(x), free(y);
}

/* ---- stateful stepping ------------------------------------------------------ */

/* a model trained for a moment on random targets, so its weights are not
 * the initial ones */
static recur_model *stepping_model(int T, int F, const char *spec, recur_loss loss) {
    enum { N = 32 };
    recur_model *m = build(T, F, spec, loss, 24);
    const int ny = T * (loss == RECUR_LOSS_MSE ? recur_model_output_size(m) : 1);
    float *x = malloc(sizeof(float) * N * T * F), *y = malloc(sizeof(float) * N * (size_t)ny);
    inputs(x, N, T, F, 0, 12);
    targets(y, N, ny, loss, recur_model_output_size(m), 13);
    recur_fit_options fo = recur_fit_defaults();
    fo.epochs = 2, fo.batch_size = 8;
    CU_ASSERT(ok(recur_model_fit(m, x, y, N, &fo)));
    free(x), free(y);
    return m;
}

/* x_t [B][F] <- step t of x [B][T][F] */
static void step_input(float *xt, const float *x, int B, int T, int F, int t) {
    for (int b = 0; b < B; b++) memcpy(xt + b * F, x + ((size_t)b * T + t) * F, F * sizeof(float));
}

/* max |step t's output - predict's output at step t| over the whole sequence */
static double step_vs_predict(recur_model *m, const float *x, int B, int T, int F, int C,
                              const float *pred) {
    float *xt = malloc(sizeof(float) * B * F), *o = malloc(sizeof(float) * B * C);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        step_input(xt, x, B, T, F, t);
        CU_ASSERT_FATAL(ok(recur_model_predict_step(m, xt, B, o)));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < C; j++)
                worst = fmax(worst, fabs(o[b * C + j] - pred[((size_t)b * T + t) * C + j]));
    }
    free(xt), free(o);
    return worst;
}

static void test_stepping_matches_predict(void) {
    enum { T = 6, F = 3, B = 3 };
    const struct {
        const char *spec;
        recur_loss loss;
        int masked;
    } cases[] = {
        {"lstm:5:seq,dropout:0.2,gru:4:seq,dense:3:softmax",
         RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 0},
        {"rnn:4:relu:seq,lstm:3:seq,dense:2:linear", RECUR_LOSS_MSE, 0},
        {"gru:4:reset_after=0:seq,dense:1:sigmoid", RECUR_LOSS_BINARY_CROSSENTROPY, 0},
        {"masking:0,lstm:4:seq,dense:2:tanh", RECUR_LOSS_MSE, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        recur_model *m = stepping_model(T, F, cases[c].spec, cases[c].loss);
        const int C = recur_model_output_size(m);
        float x[B * T * F], pred[B * T * 3];
        inputs(x, B, T, F, cases[c].masked, 14 + c);
        CU_ASSERT_FATAL(ok(recur_model_predict(m, x, B, 2, pred)));
        double e = step_vs_predict(m, x, B, T, F, C, pred);
        if (!(e < 1e-5)) printf("\n    %s: stepping differs by %g", cases[c].spec, e);
        CU_ASSERT(e < 1e-5);
        /* the states ran on: the same sequence again from there differs */
        CU_ASSERT(step_vs_predict(m, x, B, T, F, C, pred) > 1e-4);
        recur_model_reset_states(m);
        CU_ASSERT(step_vs_predict(m, x, B, T, F, C, pred) < 1e-5);
        /* 2 streams: a change of batch starts from zero states */
        float pred2[2 * T * 3], x2[2 * T * F];
        memcpy(x2, x, sizeof x2);
        CU_ASSERT_FATAL(ok(recur_model_predict(m, x2, 2, 2, pred2)));
        CU_ASSERT(step_vs_predict(m, x2, 2, T, F, C, pred2) < 1e-5);
        recur_model_destroy(m);
    }
}

/* A recurrent layer without return_sequences gives its h at the step: after
 * the whole sequence, the step's output is predict's. */
static void test_stepping_without_return_sequences(void) {
    enum { T = 5, F = 2, B = 4, C = 2 };
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, 25)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, "lstm:4:seq,gru:3,dense:2:softmax")));
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    float x[B * T * F], pred[B * C], xt[B * F], o[B * C];
    inputs(x, B, T, F, 0, 15);
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, B, B, pred)));
    for (int t = 0; t < T; t++) {
        step_input(xt, x, B, T, F, t);
        CU_ASSERT_FATAL(ok(recur_model_predict_step(m, xt, B, o)));
    }
    for (int k = 0; k < B * C; k++) CU_ASSERT_DOUBLE_EQUAL(o[k], pred[k], 1e-5);
    recur_model_destroy(m);
}

/* Token models step on ids; ids 0 (mask_zero) carry the states through. */
static void test_stepping_token_model(void) {
    enum { T = 5, B = 2, V = 7 };
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, 1, 26)));
    CU_ASSERT_FATAL(
        ok(recur_model_add_layers(m, "embedding:7:4:mask_zero,lstm:5:seq,dense:7:softmax")));
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    const int32_t ids[B * T] = {3, 1, 0, 6, 2, 5, 5, 4, 0, 1};
    float pred[B * T * V], o[B * V];
    CU_ASSERT_FATAL(ok(recur_model_predict_ids(m, ids, B, B, pred)));
    double worst = 0;
    for (int t = 0; t < T; t++) {
        const int32_t it[B] = {ids[t], ids[T + t]};
        CU_ASSERT_FATAL(ok(recur_model_predict_step_ids(m, it, B, o)));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < V; j++)
                worst = fmax(worst, fabs(o[b * V + j] - pred[(b * T + t) * V + j]));
    }
    CU_ASSERT(worst < 1e-5);
    float xt[B] = {0};
    CU_ASSERT_EQUAL(recur_model_predict_step(m, xt, B, o), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("_ids"));
    const int32_t bad[B] = {1, 7};
    CU_ASSERT_EQUAL(recur_model_predict_step_ids(m, bad, B, o), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("token id 7"));
    recur_model_destroy(m);
}

static void test_stepping_refusals(void) {
    const char *specs[] = {"lstm:3:seq:backwards,dense:2:linear",
                           "bidirectional:gru:3:seq,dense:2:linear"};
    const char *why[] = {"layer 1 (lstm) reads the sequence from its end (go_backwards)",
                         "layer 1 (bidirectional) reads the sequence from its end (Bidirectional)"};
    float xt[2 * 2] = {0}, o[2 * 2];
    for (int k = 0; k < 2; k++) {
        recur_model *m = build(4, 2, specs[k], RECUR_LOSS_MSE, 27);
        CU_ASSERT_EQUAL(recur_model_predict_step(m, xt, 2, o), RECUR_ERR_UNSUPPORTED);
        CU_ASSERT(mentions(why[k]));
        recur_model_destroy(m);
    }
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 4, 2, 1)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, "lstm:3:seq,dense:2:linear")));
    CU_ASSERT_EQUAL(recur_model_predict_step(m, xt, 2, o), RECUR_ERR_STATE);
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_MSE)));
    CU_ASSERT_EQUAL(recur_model_predict_step(NULL, xt, 2, o), RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(recur_model_predict_step(m, NULL, 2, o), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("x_t"));
    CU_ASSERT_EQUAL(recur_model_predict_step(m, xt, 2, NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("out"));
    CU_ASSERT_EQUAL(recur_model_predict_step(m, xt, 0, o), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("batch"));
    xt[3] = NAN;
    CU_ASSERT_EQUAL(recur_model_predict_step(m, xt, 2, o), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("sample 1"));
    const int32_t ids[2] = {0, 1};
    CU_ASSERT_EQUAL(recur_model_predict_step_ids(m, ids, 2, o), RECUR_ERR_INVALID_ARGUMENT);
    recur_model_reset_states(NULL);
    recur_model_reset_states(m); /* before any step: nothing to reset */
    recur_model_destroy(m);
}

#ifdef COUNT_ALLOCATIONS
typedef struct {
    recur_model *m;
    const float *xt;
    float *o;
    int B, steps;
} step_run;

static void run_steps(void *arg) {
    step_run *s = arg;
    for (int k = 0; k < s->steps; k++)
        CU_ASSERT(ok(recur_model_predict_step(s->m, s->xt, s->B, s->o)));
}
#endif

/* After the first step, steps allocate nothing (glibc: counted in malloc). */
static void test_stepping_allocates_nothing_after_the_first_call(void) {
#ifdef COUNT_ALLOCATIONS
    enum { T = 8, F = 3, B = 2 };
    recur_model *m = build(T, F, "masking:0,lstm:16:seq,gru:8,dense:5:softmax",
                           RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 28);
    float xt[B * F] = {0.5f, 0.25f, -1, 0, 0, 0}, o[B * 5];
    step_run first = {m, xt, o, B, 1}, later = {m, xt, o, B, 20};
    CU_ASSERT(allocations_during(run_steps, &first) > 0); /* the counter counts */
    CU_ASSERT_EQUAL(allocations_during(run_steps, &later), 0);
    recur_model_reset_states(m);
    CU_ASSERT_EQUAL(allocations_during(run_steps, &later), 0);
    recur_model_destroy(m);
#endif
}

/* ---- sampling ---------------------------------------------------------------- */

/* chi-square of counts against probabilities q (the cells with q > 0) */
static double chi_square(const long *counts, const double *q, int n, long draws) {
    double c2 = 0;
    for (int k = 0; k < n; k++)
        if (q[k] > 0) {
            const double e = q[k] * (double)draws;
            c2 += (counts[k] - e) * (counts[k] - e) / e;
        }
    return c2;
}

static void test_sample(void) {
    enum { n = 5, draws = 200000 };
    const float p[n] = {0.1f, 0.2f, 0.3f, 0.4f, 0.0f};
    const float temps[3] = {1.0f, 0.5f, 2.0f};
    for (int k = 0; k < 3; k++) {
        double q[n], s = 0;
        for (int j = 0; j < n; j++) s += (q[j] = pow(p[j], 1.0 / temps[k]));
        for (int j = 0; j < n; j++) q[j] /= s;
        long counts[n] = {0};
        uint64_t rng = 99;
        for (int d = 0; d < draws; d++) {
            const int i = recur_sample(p, n, temps[k], &rng);
            CU_ASSERT_FATAL(i >= 0 && i < n);
            counts[i]++;
        }
        const double c2 = chi_square(counts, q, n, draws);
        if (!(c2 < 20)) printf("\n    temperature %g: chi-square %g", (double)temps[k], c2);
        CU_ASSERT(c2 < 20); /* 3 degrees of freedom: p < 2e-4 */
        CU_ASSERT_EQUAL(counts[4], 0);
    }
    /* deterministic for a seed, and the generator moves */
    uint64_t a = 5, b = 5;
    int sa[64], sb[64], same = 1, varied = 0;
    for (int d = 0; d < 64; d++) sa[d] = recur_sample(p, n, 1.0f, &a);
    for (int d = 0; d < 64; d++) sb[d] = recur_sample(p, n, 1.0f, &b);
    for (int d = 0; d < 64; d++) same &= sa[d] == sb[d], varied |= sa[d] != sa[0];
    CU_ASSERT(same && varied);
    /* argmax: temperature 0, negative, tiny; a huge one is uniform on the support */
    uint64_t r = 1;
    CU_ASSERT_EQUAL(recur_sample(p, n, 0.0f, &r), 3);
    CU_ASSERT_EQUAL(recur_sample(p, n, -1.0f, &r), 3);
    CU_ASSERT_EQUAL(r, 1); /* argmax draws nothing */
    for (int d = 0; d < 100; d++) CU_ASSERT_EQUAL(recur_sample(p, n, 1e-6f, &r), 3);
    const float w[3] = {2.0f, 6.0f, 2.0f}; /* weights need not sum to 1 */
    long c3[3] = {0};
    for (int d = 0; d < 30000; d++) c3[recur_sample(w, 3, 1.0f, &r)]++;
    const double q3[3] = {0.2, 0.6, 0.2};
    CU_ASSERT(chi_square(c3, q3, 3, 30000) < 20);
    long cu[n] = {0};
    for (int d = 0; d < 40000; d++) cu[recur_sample(p, n, 1e30f, &r)]++;
    const double qu[n] = {0.25, 0.25, 0.25, 0.25, 0};
    CU_ASSERT(chi_square(cu, qu, n, 40000) < 20);
    /* invalid arguments: -1 */
    const float neg[2] = {0.5f, -0.1f}, zeros[2] = {0, 0}, nan2[2] = {NAN, 1};
    CU_ASSERT_EQUAL(recur_sample(NULL, n, 1.0f, &r), -1);
    CU_ASSERT_EQUAL(recur_sample(p, n, 1.0f, NULL), -1);
    CU_ASSERT_EQUAL(recur_sample(p, 0, 1.0f, &r), -1);
    CU_ASSERT_EQUAL(recur_sample(neg, 2, 1.0f, &r), -1);
    CU_ASSERT_EQUAL(recur_sample(zeros, 2, 1.0f, &r), -1);
    CU_ASSERT_EQUAL(recur_sample(nan2, 2, 1.0f, &r), -1);
    CU_ASSERT_EQUAL(recur_sample(p, n, NAN, &r), -1);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("seq", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_gradients_match_finite_differences);
    ADD_TEST(s, test_gradients_independent_of_threads);
    ADD_TEST(s, test_masked_crossentropy_by_hand);
    ADD_TEST(s, test_masked_mse_and_mae_by_hand);
    ADD_TEST(s, test_binary_crossentropy_by_hand);
    ADD_TEST(s, test_masked_steps_contribute_nothing);
    ADD_TEST(s, test_binary_crossentropy_needs_dense_1_sigmoid);
    ADD_TEST(s, test_output_steps);
    ADD_TEST(s, test_fit_learns_per_step_task);
    ADD_TEST(s, test_mae_logged);
    ADD_TEST(s, test_stepping_matches_predict);
    ADD_TEST(s, test_stepping_without_return_sequences);
    ADD_TEST(s, test_stepping_token_model);
    ADD_TEST(s, test_stepping_refusals);
    ADD_TEST(s, test_stepping_allocates_nothing_after_the_first_call);
    ADD_TEST(s, test_sample);
    return test_main_run();
}
