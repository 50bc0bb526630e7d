/* Every SIMD kernel set against the scalar reference, and the vector exp,
 * sigmoid and tanh against double-precision libm. Built without oneDNN so the
 * aarch64 cross build runs it under qemu for the NEON kernels. */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS */
#include <float.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../simd/kernels.h"
#include "testutil.h"

/* Bounds asserted below; the measured values are printed and recorded in
 * simd/README.md. */
#define EXP_MAX_ULP 2.0
#define SIGMOID_MAX_ULP 3.0
#define TANH_MAX_ULP 7.0
#define TANH_MAX_ABS 4e-7

static const simd_kernels *sets[4];
static int nsets;

static void find_sets(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        sets[nsets++] = &simd_kernels_avx2;
    if (__builtin_cpu_supports("avx512f")) sets[nsets++] = &simd_kernels_avx512;
#elif defined(__aarch64__)
    sets[nsets++] = &simd_kernels_neon;
#endif
}

/* distance in units in the last place of float at the reference's magnitude */
static double ulp_err(float got, double want) {
    if (want == 0.0) return got == 0.0f ? 0.0 : fabs(got) / FLT_TRUE_MIN;
    int e;
    frexp(want, &e);
    double ulp = ldexp(1.0, e - 24);
    if (ulp < FLT_TRUE_MIN) ulp = FLT_TRUE_MIN;
    return fabs((double)got - want) / ulp;
}

static double ref_exp(double x) {
    return exp(x);
}
static double ref_sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}
static double ref_tanh(double x) {
    return tanh(x);
}

typedef struct {
    double max_ulp, max_abs, worst_x;
} err_stats;

/* fn over a dense sweep of [lo, hi] plus tails and special points; results
 * below FLT_MIN are compared in absolute terms (denormal flushing is allowed) */
static err_stats sweep(f32_unary_fn fn, double (*ref)(double), double lo, double hi) {
    enum { N = 1 << 20 };
    static float x[N + 7], y[N + 7];
    size_t n = 0;
    for (size_t k = 0; k < N; k++) x[n++] = (float)(lo + (hi - lo) * (double)k / (N - 1));
    const float extra[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 0.39999998f, 0.4f, 0.40000004f};
    for (size_t k = 0; k < 7; k++) x[n++] = extra[k];
    fn(n, x, y);
    err_stats s = {0, 0, 0};
    for (size_t k = 0; k < n; k++) {
        double want = ref(x[k]);
        if (fabs(want) < FLT_MIN) {
            if (fabs(y[k] - want) > 2 * FLT_MIN) s.max_ulp = INFINITY, s.worst_x = x[k];
            continue;
        }
        double u = ulp_err(y[k], want), a = fabs((double)y[k] - want);
        if (u > s.max_ulp || u != u) s.max_ulp = u, s.worst_x = x[k];
        if (a > s.max_abs) s.max_abs = a;
    }
    return s;
}

static void test_vmath_accuracy(void) {
    for (int k = 0; k < nsets; k++) {
        err_stats e = sweep(sets[k]->vexp, ref_exp, -87.0, 88.0);
        err_stats s = sweep(sets[k]->vsigmoid, ref_sigmoid, -30.0, 30.0);
        err_stats t = sweep(sets[k]->vtanh, ref_tanh, -10.0, 10.0);
        err_stats t2 = sweep(sets[k]->vtanh, ref_tanh, -0.6, 0.6);
        if (t2.max_ulp > t.max_ulp) t = t2;
        printf("\n  %-6s exp %.2f ulp, sigmoid %.2f ulp (abs %.2g), tanh %.2f ulp (abs %.2g, "
               "worst at x=%.8g)",
               sets[k]->name, e.max_ulp, s.max_ulp, s.max_abs, t.max_ulp, t.max_abs, t.worst_x);
        CU_ASSERT(e.max_ulp <= EXP_MAX_ULP);
        CU_ASSERT(s.max_ulp <= SIGMOID_MAX_ULP);
        CU_ASSERT(t.max_ulp <= TANH_MAX_ULP);
        CU_ASSERT(t.max_abs <= TANH_MAX_ABS);
    }
}

static void test_vmath_special_values(void) {
    const float x[] = {NAN, INFINITY, -INFINITY, 1000.0f, -1000.0f, 88.5f, -88.5f, -100.0f, 0.0f};
    const size_t n = sizeof x / sizeof *x;
    for (int k = 0; k < nsets; k++) {
        float e[16], s[16], t[16];
        sets[k]->vexp(n, x, e);
        sets[k]->vsigmoid(n, x, s);
        sets[k]->vtanh(n, x, t);
        CU_ASSERT(isnan(e[0]) && isnan(s[0]) && isnan(t[0]));
        CU_ASSERT(t[1] == 1.0f && t[2] == -1.0f && t[3] == 1.0f && t[4] == -1.0f);
        CU_ASSERT(s[1] == 1.0f && s[2] >= 0.0f && s[2] < 1e-37f && s[3] == 1.0f);
        CU_ASSERT(s[4] >= 0.0f && s[4] < 1e-37f);
        CU_ASSERT(isfinite(e[1]) && e[1] > 1e38f && e[2] >= 0.0f && e[2] < 1e-37f);
        CU_ASSERT(e[7] >= 0.0f && e[7] < 1e-37f);
        CU_ASSERT(e[8] == 1.0f && s[8] == 0.5f && t[8] == 0.0f);
    }
}

/* A value mix that exercises saturation and the ReLU kink. */
static void fill_mixed(test_rng *r, float *p, size_t n) {
    for (size_t k = 0; k < n; k++) {
        switch (rng_next(r) % 8) {
        case 0:
            p[k] = 0.0f;
            break;
        case 1:
            p[k] = (float)rng_uniform(r, -60, 60);
            break;
        case 2:
            p[k] = (rng_next(r) & 1) ? 1e4f : -1e4f;
            break;
        default:
            p[k] = (float)rng_uniform(r, -3, 3);
        }
    }
}

#define GUARD 19
#define SENTINEL 12345.0f

static float *alloc_guarded(size_t n) {
    float *p = malloc((n + GUARD) * sizeof(float));
    for (size_t k = n; k < n + GUARD; k++) p[k] = SENTINEL;
    return p;
}

static int guard_intact(const float *p, size_t n) {
    for (size_t k = n; k < n + GUARD; k++)
        if (p[k] != SENTINEL) return 0;
    return 1;
}

static int close_enough(const float *a, const float *b, size_t n, double tol) {
    for (size_t k = 0; k < n; k++) {
        double d = fabs((double)a[k] - b[k]);
        if (!(d <= tol * (1.0 + fabs((double)b[k])))) {
            printf("\n    index %zu: %.9g vs scalar %.9g", k, a[k], b[k]);
            return 0;
        }
    }
    return 1;
}

/* fn(x) within the asserted bounds: NaN for NaN, results below FLT_MIN in
 * absolute terms as in sweep */
static int within_bounds(const float *x, const float *y, size_t n, double (*ref)(double),
                         double max_ulp, double max_abs) {
    for (size_t k = 0; k < n; k++) {
        if (isnan(x[k]) != isnan(y[k])) {
            printf("\n    x=%.9g gives %.9g", x[k], y[k]);
            return 0;
        }
        if (isnan(x[k])) continue;
        const double want = ref(x[k]), a = fabs((double)y[k] - want);
        if (fabs(want) < FLT_MIN ? a > 2 * FLT_MIN : ulp_err(y[k], want) > max_ulp || a > max_abs) {
            printf("\n    x=%.9g gives %.9g, want %.9g", x[k], y[k], want);
            return 0;
        }
    }
    return 1;
}

/* The last float before an inaccessible page, so reading past it faults. */
static float *fenced_end(size_t n, void **map, size_t *len) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t data = (n * sizeof(float) + page - 1) / page * page;
    *len = data + page;
    *map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED || mprotect((char *)*map + data, page, PROT_NONE)) return NULL;
    return (float *)((char *)*map + data);
}

static int same_bits(float a, float b) {
    return !memcmp(&a, &b, sizeof a) || (isnan(a) && isnan(b));
}

/* Every set's sigmoid and tanh (scalar included) over a mix with large |x|,
 * infinities and NaN against double precision in one long call; then every
 * length 0..70 and a long one, at four alignments, out of place and in place:
 * the long call's bits (a tail computes what a full vector does), nothing
 * read past x[n-1] (an inaccessible page follows it at offset 0) and nothing
 * written outside y[0, n). */
static void test_vmath_lengths_alignment_in_place(void) {
    enum { L = 4133, NMAX = 70, LONG = 1000, PAD = 16 };
    static const float special[] = {NAN,    INFINITY, -INFINITY, 100.0f, -100.0f, 50.0f,
                                    -50.0f, 1e4f,     -1e4f,     88.5f,  -88.5f,  0.0f,
                                    -0.0f,  1e-30f,   -1e-30f,   0.4f,   -0.4f,   20.0f};
    float *x = malloc(L * sizeof(float)), *want = malloc(L * sizeof(float));
    float *yb = malloc((PAD + LONG + 4 + PAD) * sizeof(float));
    void *map;
    size_t maplen;
    float *end = fenced_end(LONG + 4, &map, &maplen);
    CU_ASSERT_FATAL(x && want && yb && end);
    test_rng r = {11};
    for (size_t k = 0; k < L; k++)
        x[k] = k % 7 == 3   ? special[(k / 7) % (sizeof special / sizeof *special)]
               : k % 3 == 0 ? (float)rng_uniform(&r, -0.6, 0.6)
               : k % 5 == 0 ? (float)rng_uniform(&r, -100, 100)
                            : (float)rng_uniform(&r, -12, 12);
    const simd_kernels *all[5] = {&simd_kernels_scalar};
    for (int k = 0; k < nsets; k++) all[k + 1] = sets[k];
    for (int k = 0; k <= nsets; k++)
        for (int t = 0; t < 2; t++) {
            const f32_unary_fn fn = t ? all[k]->vtanh : all[k]->vsigmoid;
            fn(L, x, want);
            CU_ASSERT(t ? within_bounds(x, want, L, ref_tanh, TANH_MAX_ULP, TANH_MAX_ABS)
                        : within_bounds(x, want, L, ref_sigmoid, SIGMOID_MAX_ULP, 1.0));
            int ok = 1;
            for (size_t n = 0; n <= NMAX + 1 && ok; n++)
                for (size_t off = 0; off < 4 && ok; off++)
                    for (int inplace = 0; inplace < 2 && ok; inplace++) {
                        const size_t m = n > NMAX ? LONG : n, s = (m * 37 + off * 11) % (L - m);
                        float *src = end - m - off, *y = inplace ? src : yb + PAD + off;
                        for (size_t i = 0; i < PAD + LONG + 4 + PAD; i++) yb[i] = SENTINEL;
                        for (size_t i = 0; i < off; i++) src[m + i] = SENTINEL;
                        memcpy(src, x + s, m * sizeof(float));
                        fn(m, src, y);
                        for (size_t i = 0; i < m; i++) ok &= same_bits(y[i], want[s + i]);
                        for (size_t i = 0; i < off; i++) ok &= src[m + i] == SENTINEL;
                        if (!inplace) {
                            ok &= !memcmp(src, x + s, m * sizeof(float));
                            for (size_t i = 0; i < PAD + off; i++) ok &= yb[i] == SENTINEL;
                            for (size_t i = PAD + off + m; i < PAD + LONG + 4 + PAD; i++)
                                ok &= yb[i] == SENTINEL;
                        }
                        if (!ok)
                            printf("\n    %s %s: n %zu, offset %zu, in place %d", all[k]->name,
                                   t ? "tanh" : "sigmoid", m, off, inplace);
                    }
            CU_ASSERT(ok);
        }
    munmap(map, maplen);
    free(x), free(want), free(yb);
}

/* The LSTM's c = f c_prev + i g and h = o act(c) with |c_prev| up to 1e4: a
 * fused multiply-add and a separate multiply and add may differ by rounding
 * of the terms, not of the (possibly cancelled) sum, so the bound scales with
 * |f c_prev| + |i g| (h inherits it: |act'| <= 1, |o| <= 1). z holds the
 * reference's activated gates i, f, g, o. */
static int close_to_cell(const float *a, const float *b, const float *z, size_t ldz,
                         const float *cp, size_t rows, size_t H, double tol) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < H; j++) {
            const float *g = z + r * ldz;
            const size_t k = r * H + j;
            const double terms = fabs((double)g[H + j] * cp[k]) + fabs((double)g[j] * g[2 * H + j]);
            if (!(fabs((double)a[k] - b[k]) <= tol * (1.0 + fabs((double)b[k]) + terms))) {
                printf("\n    index %zu: %.9g vs scalar %.9g", k, a[k], b[k]);
                return 0;
            }
        }
    return 1;
}

static const size_t hidden_sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 128};
#define NH (sizeof hidden_sizes / sizeof *hidden_sizes)
#define KERNEL_TOL 4e-6

/* A gate tape's row stride in the kernel tests: cols, or past them when pad
 * (the LSTM's and GRU's tapes may be padded: rnn_tape_ld) */
static size_t tape_ld(size_t cols, int pad) {
    return cols + (pad ? 3 : 0);
}

static void test_lstm_fwd_matches_scalar(void) {
    test_rng r = {42};
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int relu = 0; relu < 2; relu++) {
                /* G: the row stride of z */
                const size_t H = hidden_sizes[hi], rows = 1 + hi % 3, G = tape_ld(4 * H, hi % 2),
                             RH = rows * H;
                float *z = alloc_guarded(rows * G), *zr = alloc_guarded(rows * G);
                float *b = alloc_guarded(4 * H), *cp = alloc_guarded(RH);
                float *c = alloc_guarded(RH), *cr = alloc_guarded(RH);
                float *h = alloc_guarded(RH), *hr = alloc_guarded(RH), *y = alloc_guarded(RH);
                fill_mixed(&r, z, rows * G);
                fill_mixed(&r, b, 4 * H);
                fill_mixed(&r, cp, RH);
                memcpy(zr, z, rows * G * sizeof(float));
                lstm_postgemm_fwd__scalar(rows, H, H, G, relu, zr, b, cp, cr, hr, NULL);
                sets[k]->lstm_fwd(rows, H, H, G, relu, z, b, cp, c, h, y);
                CU_ASSERT(close_enough(z, zr, rows * G, KERNEL_TOL));
                CU_ASSERT(close_to_cell(c, cr, zr, G, cp, rows, H, KERNEL_TOL));
                CU_ASSERT(close_to_cell(h, hr, zr, G, cp, rows, H, KERNEL_TOL));
                CU_ASSERT(memcmp(y, h, RH * sizeof(float)) == 0); /* y: the same h again */
                CU_ASSERT(guard_intact(z, rows * G) && guard_intact(c, RH) && guard_intact(h, RH) &&
                          guard_intact(y, RH));
                /* c may alias c_prev (the inference path updates it in place) */
                memcpy(z, zr, rows * G * sizeof(float));
                fill_mixed(&r, z, rows * G);
                memcpy(zr, z, rows * G * sizeof(float));
                memcpy(c, cp, RH * sizeof(float));
                lstm_postgemm_fwd__scalar(rows, H, H, G, relu, zr, b, cp, cr, hr, NULL);
                sets[k]->lstm_fwd(rows, H, H, G, relu, z, b, c, c, h, NULL);
                CU_ASSERT(close_to_cell(c, cr, zr, G, cp, rows, H, KERNEL_TOL));
                CU_ASSERT(close_to_cell(h, hr, zr, G, cp, rows, H, KERNEL_TOL));
                free(z), free(zr), free(b), free(cp), free(c), free(cr), free(h), free(hr), free(y);
            }
}

static void test_lstm_bwd_matches_scalar(void) {
    test_rng r = {7};
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int mode = 0; mode < 4; mode++) {
                const int relu = mode & 1, with_dy = mode >> 1;
                const size_t H = hidden_sizes[hi], rows = 1 + (hi + 1) % 3;
                const size_t G = tape_ld(4 * H, !(hi % 2)), RH = rows * H; /* G: z's row stride */
                float *g = alloc_guarded(rows * G), *gr = alloc_guarded(rows * G);
                float *c = alloc_guarded(RH), *cp = alloc_guarded(RH), *dy = alloc_guarded(RH);
                float *dh = alloc_guarded(RH), *dc = alloc_guarded(RH), *dcr = alloc_guarded(RH);
                /* gates as a forward leaves them: i, f, o in [0, 1], g = act(.) */
                float *b0 = calloc(4 * H, sizeof(float));
                fill_mixed(&r, g, rows * G);
                fill_mixed(&r, cp, RH);
                float *cn = alloc_guarded(RH), *hn = alloc_guarded(RH);
                lstm_postgemm_fwd__scalar(rows, H, H, G, relu, g, b0, cp, cn, hn, NULL);
                /* exact zeros in c and g hit the ReLU kink */
                for (size_t q = 0; q < RH; q += 3) cn[q] = 0.0f;
                memcpy(c, cn, RH * sizeof(float));
                fill_uniform(&r, dy, RH, -2, 2);
                fill_uniform(&r, dh, RH, -2, 2);
                fill_uniform(&r, dc, RH, -2, 2);
                memcpy(gr, g, rows * G * sizeof(float));
                memcpy(dcr, dc, RH * sizeof(float));
                const float *dyp = with_dy ? dy : NULL;
                lstm_postgemm_bwd__scalar(rows, H, H, G, relu, gr, c, cp, dyp, dh, dcr);
                sets[k]->lstm_bwd(rows, H, H, G, relu, g, c, cp, dyp, dh, dc);
                CU_ASSERT(close_enough(g, gr, rows * G, KERNEL_TOL));
                CU_ASSERT(close_enough(dc, dcr, RH, KERNEL_TOL));
                CU_ASSERT(guard_intact(g, rows * G) && guard_intact(dc, RH));
                free(g), free(gr), free(c), free(cp), free(dy), free(dh), free(dc), free(dcr);
                free(b0), free(cn), free(hn);
            }
}

/* The scalar reference itself against the equations, in double. */
static void test_scalar_reference_equations(void) {
    test_rng r = {3};
    const size_t H = 5, G = 20;
    for (int relu = 0; relu < 2; relu++) {
        float z[20], b[20], cp[5], c[5], h[5];
        fill_uniform(&r, z, G, -3, 3);
        fill_uniform(&r, b, G, -1, 1);
        fill_uniform(&r, cp, H, -2, 2);
        float z0[20];
        memcpy(z0, z, sizeof z);
        lstm_postgemm_fwd__scalar(1, H, H, G, relu, z, b, cp, c, h, NULL);
        for (size_t j = 0; j < H; j++) {
            double i = 1 / (1 + exp(-(double)(z0[j] + b[j])));
            double f = 1 / (1 + exp(-(double)(z0[H + j] + b[H + j])));
            double gz = (double)z0[2 * H + j] + b[2 * H + j];
            double g = relu ? fmax(gz, 0) : tanh(gz);
            double o = 1 / (1 + exp(-(double)(z0[3 * H + j] + b[3 * H + j])));
            double cn = f * cp[j] + i * g;
            double hn = o * (relu ? fmax(cn, 0) : tanh(cn));
            CU_ASSERT_DOUBLE_EQUAL(c[j], cn, 1e-5);
            CU_ASSERT_DOUBLE_EQUAL(h[j], hn, 1e-5);
            CU_ASSERT_DOUBLE_EQUAL(z[2 * H + j], g, 1e-5);
        }
    }
}

/* B in the packed layout kernels.h describes, written from its definition:
 * panels of nr columns, K rows each, zero-padded to nr. */
static float *pack_panels(const float *B, size_t ldb, size_t K, size_t N, size_t nr) {
    const size_t np = (N + nr - 1) / nr;
    float *Bp = aligned_alloc(64, (np * K * nr * sizeof(float) + 63) / 64 * 64);
    for (size_t p = 0; p < np; p++)
        for (size_t k = 0; k < K; k++)
            for (size_t jj = 0; jj < nr; jj++) {
                const size_t j = p * nr + jj;
                Bp[(p * K + k) * nr + jj] = j < N ? B[k * ldb + j] : 0.0f;
            }
    return Bp;
}

/* The register-blocked GEMMs on packed B against a double-precision loop
 * (and a set's tall variant against its gemm, bit for bit): every row
 * remainder of the 6-, 8- and 12-row tiles, column tails inside a panel,
 * several panels, one source or two (K1 + K2, either empty), padded leading
 * dimensions, overwrite and accumulate, and no writes outside C's rows. */
static void test_gemm_matches_reference(void) {
    static const size_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 23, 25, 36, 64},
                        Ns[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100},
                        Ks[][2] = {{1, 0}, {5, 0}, {128, 0}, {0, 7}, {3, 5}, {28, 128}};
    test_rng r = {17};
    for (int k = 0; k < 2 * nsets; k++) {
        /* each set's gemm, then its gemm_tall where it has one */
        const simd_kernels *set = sets[k % nsets];
        const f32_gemm_packed_fn gemm = k < nsets ? set->gemm : set->gemm_tall;
        if (!gemm) continue;
        CU_ASSERT(set->gemm_nr > 0 && set->gemm_nr % 4 == 0);
        for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
            for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
                for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++)
                    for (int acc = 0; acc < 2; acc++) {
                        const size_t M = Ms[a], N = Ns[b], K1 = Ks[c][0], K2 = Ks[c][1],
                                     K = K1 + K2;
                        const size_t lda1 = K1 + 3, lda2 = K2 + 1, ldb = N + 5, ldc = N + 2;
                        float *A1 = alloc_guarded(M * lda1 + 1), *A2 = alloc_guarded(M * lda2 + 1);
                        float *B = malloc(K * ldb * sizeof(float) + 1);
                        float *C = alloc_guarded(M * ldc), *C0 = malloc(M * ldc * sizeof(float));
                        fill_uniform(&r, A1, M * lda1, -1, 1);
                        fill_uniform(&r, A2, M * lda2, -1, 1);
                        fill_uniform(&r, B, K * ldb, -1, 1);
                        fill_uniform(&r, C, M * ldc, -1, 1);
                        memcpy(C0, C, M * ldc * sizeof(float));
                        float *Bp = pack_panels(B, ldb, K, N, set->gemm_nr);
                        gemm(M, N, K1, A1, lda1, K2, K2 ? A2 : NULL, lda2, Bp, C, ldc, acc);
                        int good = guard_intact(C, M * ldc);
                        if (k >= nsets) { /* the tall tiles sum in gemm's order: its bits */
                            float *C1 = malloc(M * ldc * sizeof(float));
                            memcpy(C1, C0, M * ldc * sizeof(float));
                            set->gemm(M, N, K1, A1, lda1, K2, K2 ? A2 : NULL, lda2, Bp, C1, ldc,
                                      acc);
                            good &= memcmp(C1, C, M * ldc * sizeof(float)) == 0;
                            free(C1);
                        }
                        for (size_t i = 0; i < M; i++)
                            for (size_t j = 0; j < ldc; j++) {
                                double want = acc || j >= N ? C0[i * ldc + j] : 0.0;
                                for (size_t q = 0; j < N && q < K; q++)
                                    want += (double)(q < K1 ? A1[i * lda1 + q]
                                                            : A2[i * lda2 + q - K1]) *
                                            B[q * ldb + j];
                                if (!(fabs(C[i * ldc + j] - want) <= 1e-5 * (1 + sqrt((double)K))))
                                    good = 0;
                            }
                        if (!good)
                            printf("\n    %s %s M=%zu N=%zu K1=%zu K2=%zu acc=%d wrong", set->name,
                                   k < nsets ? "gemm" : "gemm_tall", M, N, K1, K2, acc);
                        CU_ASSERT(good);
                        free(A1), free(A2), free(B), free(Bp), free(C), free(C0);
                    }
    }
}

/* Dropout masks: every set gives the scalar set's bits (lengths around the
 * vector widths, offsets up to the 32-bit wrap); the scalar masks drop the
 * asked fraction, scale the rest by keep, and differ between seeds. */
static void test_dropout_masks(void) {
    static const size_t ns[] = {1, 3, 4, 7, 8, 15, 16, 17, 33, 1000};
    static const uint32_t k0s[] = {0, 5, 0xFFFFFFF0u};
    float want[1000], got[1000 + GUARD];
    for (int k = 0; k < nsets; k++)
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t b = 0; b < sizeof k0s / sizeof *k0s; b++) {
                const uint64_t seed = 0x0123456789ABCDEFull * (a + 1) + b;
                dropout_mask__scalar(ns[a], seed, k0s[b], 0.3f, 1.0f / 0.7f, want);
                for (size_t i = 0; i < ns[a] + GUARD; i++) got[i] = SENTINEL;
                sets[k]->dropout_mask(ns[a], seed, k0s[b], 0.3f, 1.0f / 0.7f, got);
                CU_ASSERT(memcmp(got, want, ns[a] * sizeof(float)) == 0);
                CU_ASSERT(guard_intact(got, ns[a]));
            }
    const size_t n = 1 << 20;
    float *m1 = malloc(n * sizeof(float)), *m2 = malloc(n * sizeof(float));
    static const float rates[] = {0.0f, 0.1f, 0.2f, 0.5f, 0.9f};
    for (size_t r = 0; r < sizeof rates / sizeof *rates; r++) {
        const float rate = rates[r], keep = 1.0f / (1.0f - rate);
        dropout_mask__scalar(n, 42, 0, rate, keep, m1);
        dropout_mask__scalar(n, 43, 0, rate, keep, m2);
        size_t zeros = 0, other = 0, both = 0;
        for (size_t i = 0; i < n; i++) {
            zeros += m1[i] == 0.0f;
            other += m1[i] != 0.0f && m1[i] != keep;
            both += (m1[i] == 0.0f) == (m2[i] == 0.0f);
        }
        /* binomial: 5 sigma is under 0.25% of n here */
        CU_ASSERT(fabs((double)zeros / n - rate) < 0.0025);
        CU_ASSERT_EQUAL(other, 0);
        const double agree = (double)rate * rate + (1.0 - rate) * (1.0 - rate);
        CU_ASSERT(fabs((double)both / n - agree) < 0.0025);
    }
    free(m1), free(m2);
}

/* Threads may split the hidden units: two calls on [0, n1) and [n1, H) with
 * offset pointers must give exactly what one call on [0, H) gives. */
static void test_lstm_kernels_on_unit_ranges(void) {
    test_rng r = {23};
    const simd_kernels *all[5] = {&simd_kernels_scalar};
    for (int k = 0; k < nsets; k++) all[k + 1] = sets[k];
    for (int k = 0; k <= nsets; k++)
        for (int relu = 0; relu < 2; relu++) {
            const size_t rows = 3, H = 37, n1 = 21, G = 4 * H + 2,
                         RH = rows * H; /* G: z's stride */
            float z[3 * 150], zs[3 * 150], b[148], cp[111], c[111], cs[111], h[111], hs[111],
                ys[111];
            float dy[111], dh[111], dc[111], dcs[111];
            fill_mixed(&r, z, rows * G);
            fill_mixed(&r, b, 4 * H);
            fill_mixed(&r, cp, RH);
            memcpy(zs, z, sizeof z);
            all[k]->lstm_fwd(rows, H, H, G, relu, z, b, cp, c, h, NULL);
            all[k]->lstm_fwd(rows, n1, H, G, relu, zs, b, cp, cs, hs, ys);
            all[k]->lstm_fwd(rows, H - n1, H, G, relu, zs + n1, b + n1, cp + n1, cs + n1, hs + n1,
                             ys + n1);
            CU_ASSERT(memcmp(ys, hs, sizeof hs) == 0);
            CU_ASSERT(!memcmp(z, zs, sizeof z) && !memcmp(c, cs, sizeof c) &&
                      !memcmp(h, hs, sizeof h));
            fill_uniform(&r, dy, RH, -1, 1);
            fill_uniform(&r, dh, RH, -1, 1);
            fill_uniform(&r, dc, RH, -1, 1);
            memcpy(dcs, dc, sizeof dc);
            all[k]->lstm_bwd(rows, H, H, G, relu, z, c, cp, dy, dh, dc);
            all[k]->lstm_bwd(rows, n1, H, G, relu, zs, c, cp, dy, dh, dcs);
            all[k]->lstm_bwd(rows, H - n1, H, G, relu, zs + n1, c + n1, cp + n1, dy + n1, dh + n1,
                             dcs + n1);
            CU_ASSERT(!memcmp(z, zs, sizeof z) && !memcmp(dc, dcs, sizeof dc));
        }
}

/* ---- GRU and SimpleRNN kernels against scalar. Each case runs units [0, n)
 * of rows whose stride H is n, or n + 5 so that every row has units no call
 * may touch; the arrays start with values of their own (outputs too) so any
 * write outside [0, n) of a row, or into the guard past the end, shows. */

static const size_t unit_pads[] = {0, 5};

static float *copy_guarded(const float *p, size_t n) {
    float *q = alloc_guarded(n);
    memcpy(q, p, n * sizeof(float));
    return q;
}

/* got (a set's result) against want (scalar's) over rows of len floats, unit
 * (column mod H): units [0, n) within tol (0: bit for bit) relative to the
 * larger of |want| and scale (NULL: zeros), the rest as they were before the
 * call (orig) in both, and both guards intact. */
static int rows_match_ld(const char *what, const float *got, const float *want, const float *orig,
                         const float *scale, size_t rows, size_t len, size_t used, size_t H,
                         size_t n, double tol) {
    for (size_t k = 0; k < rows * len; k++) {
        const int mine = k % len < used && (k % len) % H < n;
        const double d = fabs((double)got[k] - want[k]);
        const double mag = fmax(fabs((double)want[k]), scale ? scale[k] : 0.0);
        if (mine ? !(d <= tol * (1.0 + mag)) : got[k] != orig[k] || want[k] != orig[k]) {
            printf("\n    %s: row %zu column %zu (n=%zu H=%zu): %.9g vs scalar %.9g (was %.9g)",
                   what, k / len, k % len, n, H, got[k], want[k], orig[k]);
            return 0;
        }
    }
    return guard_intact(got, rows * len) && guard_intact(want, rows * len);
}

/* rows of len floats, all of them the kernel's to write (per H-block, n of them) */
static int rows_match(const char *what, const float *got, const float *want, const float *orig,
                      const float *scale, size_t rows, size_t len, size_t H, size_t n, double tol) {
    return rows_match_ld(what, got, want, orig, scale, rows, len, len, H, n, tol);
}

static void test_gru_fwd_matches_scalar(void) {
    test_rng r = {11};
    char what[96];
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int mode = 0; mode < 16; mode++) {
                const int relu = mode & 1, ra = (mode >> 1) & 1, with_y = (mode >> 2) & 1;
                const size_t n = hidden_sizes[hi], H = n + unit_pads[mode >> 3];
                const size_t rows = 1 + (hi + mode) % 3, L = tape_ld(3 * H, hi % 2), G = rows * L,
                             RH = rows * H;
                const size_t nb = (ra ? 6 : 3) * H;
                float *g = alloc_guarded(G), *rg = alloc_guarded(G), *b = alloc_guarded(nb);
                float *hp = alloc_guarded(RH), *h = alloc_guarded(RH), *y = alloc_guarded(RH);
                fill_mixed(&r, g, G);
                fill_mixed(&r, rg, G);
                fill_mixed(&r, b, nb);
                fill_mixed(&r, hp, RH);
                fill_mixed(&r, h, RH);
                memcpy(y, h, RH * sizeof(float)); /* so past n, y and h keep the same values */
                if (!ra) /* g_z, g_r hold z, r from gru_postgemm_fwd_reset */
                    for (size_t q = 0; q < rows; q++) fill_uniform(&r, g + q * L, 2 * H, 0, 1);
                /* 0: scalar's copies, 1: the set's */
                float *g0 = copy_guarded(g, G), *g1 = copy_guarded(g, G);
                float *rg0 = copy_guarded(rg, G), *rg1 = copy_guarded(rg, G);
                float *h0 = copy_guarded(h, RH), *h1 = copy_guarded(h, RH);
                float *y1 = copy_guarded(y, RH);
                gru_postgemm_fwd__scalar(rows, n, H, L, relu, ra, g0, rg0, b, hp, h0, NULL);
                sets[k]->gru_fwd(rows, n, H, L, relu, ra, g1, rg1, b, hp, h1, with_y ? y1 : NULL);
                snprintf(what, sizeof what, "%s gru_fwd relu=%d reset_after=%d y=%d", sets[k]->name,
                         relu, ra, with_y);
                /* z and r carry the vector sigmoid's few ulp, which r*rg_h passes on to
                 * hh and z*h_prev + (1-z)*hh to h at the size of those terms (1e4
                 * here, so more than KERNEL_TOL of an h that they nearly cancel to) */
                float *sg = calloc(G, sizeof(float)), *sh = calloc(RH, sizeof(float));
                for (size_t q = 0; q < rows; q++)
                    for (size_t j = 0; j < H; j++) {
                        const size_t kh = q * L + 2 * H + j;
                        sg[kh] = ra ? fabsf(rg0[kh]) : 0.0f;
                        sh[q * H + j] = fabsf(hp[q * H + j]) + fabsf(g0[kh]) + sg[kh];
                    }
                CU_ASSERT(rows_match_ld(what, g1, g0, g, sg, rows, L, 3 * H, H, n, KERNEL_TOL));
                CU_ASSERT(
                    rows_match_ld(what, rg1, rg0, rg, NULL, rows, L, 3 * H, H, n, KERNEL_TOL));
                CU_ASSERT(rows_match(what, h1, h0, h, sh, rows, H, H, n, KERNEL_TOL));
                /* y: the same h again; NULL: y1 untouched */
                CU_ASSERT(with_y ? rows_match(what, y1, h1, y, NULL, rows, H, H, n, 0)
                                 : memcmp(y1, y, (RH + GUARD) * sizeof(float)) == 0);
                free(g), free(rg), free(b), free(hp), free(h), free(y);
                free(g0), free(rg0), free(h0), free(g1), free(rg1), free(h1), free(y1);
                free(sg), free(sh);
            }
}

static void test_gru_fwd_reset_matches_scalar(void) {
    test_rng r = {13};
    char what[64];
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int pad = 0; pad < 2; pad++) {
                const size_t n = hidden_sizes[hi], H = n + unit_pads[pad];
                const size_t rows = 1 + (hi + pad) % 3, L = tape_ld(3 * H, hi % 2), G = rows * L,
                             RH = rows * H;
                float *g = alloc_guarded(G), *rg = alloc_guarded(G), *b = alloc_guarded(3 * H);
                float *hp = alloc_guarded(RH), *rh = alloc_guarded(RH);
                fill_mixed(&r, g, G);
                fill_mixed(&r, rg, G);
                fill_mixed(&r, b, 3 * H);
                fill_mixed(&r, hp, RH);
                fill_mixed(&r, rh, RH);
                float *g0 = copy_guarded(g, G), *rh0 = copy_guarded(rh, RH);
                float *g1 = copy_guarded(g, G), *rh1 = copy_guarded(rh, RH);
                gru_postgemm_fwd_reset__scalar(rows, n, H, L, g0, rg, b, hp, rh0);
                sets[k]->gru_fwd_reset(rows, n, H, L, g1, rg, b, hp, rh1);
                snprintf(what, sizeof what, "%s gru_fwd_reset", sets[k]->name);
                CU_ASSERT(rows_match_ld(what, g1, g0, g, NULL, rows, L, 3 * H, H, n, KERNEL_TOL));
                CU_ASSERT(rows_match(what, rh1, rh0, rh, NULL, rows, H, H, n, KERNEL_TOL));
                free(g), free(rg), free(b), free(hp), free(rh);
                free(g0), free(rh0), free(g1), free(rh1);
            }
}

static void test_gru_bwd_matches_scalar(void) {
    test_rng r = {17};
    char what[96];
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int mode = 0; mode < 16; mode++) {
                const int relu = mode & 1, ra = (mode >> 1) & 1, with_dy = (mode >> 2) & 1;
                const size_t n = hidden_sizes[hi], H = n + unit_pads[mode >> 3];
                const size_t rows = 1 + (hi + mode + 1) % 3, L = tape_ld(3 * H, hi % 2),
                             G = rows * L, RH = rows * H;
                const size_t nb = (ra ? 6 : 3) * H;
                float *g = alloc_guarded(G), *rg = alloc_guarded(G), *b = alloc_guarded(nb);
                float *hp = alloc_guarded(RH), *h = alloc_guarded(RH), *dy = alloc_guarded(RH);
                float *dh = alloc_guarded(RH);
                /* g and rg as a forward leaves them: z, r in [0, 1], hh = act(.) with
                 * exact zeros (relu) and +-1 (saturated tanh); rg_h = rh + b1_h */
                fill_mixed(&r, g, G);
                fill_mixed(&r, rg, G);
                fill_mixed(&r, b, nb);
                fill_mixed(&r, hp, RH);
                if (!ra) gru_postgemm_fwd_reset__scalar(rows, H, H, L, g, rg, b, hp, h);
                gru_postgemm_fwd__scalar(rows, H, H, L, relu, ra, g, rg, b, hp, h, NULL);
                if (!ra) fill_mixed(&r, rg, G); /* unread: anything */
                fill_uniform(&r, dy, RH, -2, 2);
                fill_uniform(&r, dh, RH, -2, 2);
                const float *dyp = with_dy ? dy : NULL;
                float *g0 = copy_guarded(g, G), *g1 = copy_guarded(g, G);
                float *rg0 = copy_guarded(rg, G), *rg1 = copy_guarded(rg, G);
                float *dh0 = copy_guarded(dh, RH), *dh1 = copy_guarded(dh, RH);
                gru_postgemm_bwd__scalar(rows, n, H, L, relu, ra, g0, rg0, hp, dyp, dh0);
                sets[k]->gru_bwd(rows, n, H, L, relu, ra, g1, rg1, hp, dyp, dh1);
                snprintf(what, sizeof what, "%s gru_bwd relu=%d reset_after=%d dy=%d",
                         sets[k]->name, relu, ra, with_dy);
                CU_ASSERT(rows_match_ld(what, g1, g0, g, NULL, rows, L, 3 * H, H, n, KERNEL_TOL));
                CU_ASSERT(
                    rows_match_ld(what, rg1, rg0, rg, NULL, rows, L, 3 * H, H, n, KERNEL_TOL));
                CU_ASSERT(rows_match(what, dh1, dh0, dh, NULL, rows, H, H, n, KERNEL_TOL));
                free(g), free(rg), free(b), free(hp), free(h), free(dy), free(dh);
                free(g0), free(rg0), free(dh0), free(g1), free(rg1), free(dh1);
            }
}

static void test_gru_bwd_reset_matches_scalar(void) {
    test_rng r = {19};
    char what[64];
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int pad = 0; pad < 2; pad++) {
                const size_t n = hidden_sizes[hi], H = n + unit_pads[pad];
                const size_t rows = 1 + (hi + pad + 2) % 3, L = tape_ld(3 * H, hi % 2),
                             G = rows * L, RH = rows * H;
                float *g = alloc_guarded(G), *hp = alloc_guarded(RH), *drh = alloc_guarded(RH);
                float *dh = alloc_guarded(RH);
                fill_mixed(&r, g, G);
                for (size_t q = 0; q < rows; q++) /* r in [0, 1] */
                    fill_uniform(&r, g + q * L + H, H, 0, 1);
                fill_mixed(&r, hp, RH);
                fill_uniform(&r, drh, RH, -2, 2);
                fill_uniform(&r, dh, RH, -2, 2);
                float *g0 = copy_guarded(g, G), *dh0 = copy_guarded(dh, RH);
                float *g1 = copy_guarded(g, G), *dh1 = copy_guarded(dh, RH);
                gru_postgemm_bwd_reset__scalar(rows, n, H, L, g0, hp, drh, dh0);
                sets[k]->gru_bwd_reset(rows, n, H, L, g1, hp, drh, dh1);
                snprintf(what, sizeof what, "%s gru_bwd_reset", sets[k]->name);
                CU_ASSERT(rows_match_ld(what, g1, g0, g, NULL, rows, L, 3 * H, H, n, KERNEL_TOL));
                CU_ASSERT(rows_match(what, dh1, dh0, dh, NULL, rows, H, H, n, KERNEL_TOL));
                free(g), free(hp), free(drh), free(dh), free(g0), free(dh0), free(g1), free(dh1);
            }
}

static void test_rnn_fwd_matches_scalar(void) {
    test_rng r = {31};
    char what[64];
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int mode = 0; mode < 8; mode++) {
                const int relu = mode & 1, with_y = (mode >> 1) & 1;
                const size_t n = hidden_sizes[hi], H = n + unit_pads[mode >> 2];
                const size_t rows = 1 + (hi + mode) % 3, RH = rows * H;
                float *z = alloc_guarded(RH), *b = alloc_guarded(H), *h = alloc_guarded(RH);
                float *y = alloc_guarded(RH);
                fill_mixed(&r, z, RH);
                fill_mixed(&r, b, H);
                fill_mixed(&r, h, RH);
                memcpy(y, h, RH * sizeof(float)); /* so past n, y and h keep the same values */
                float *h0 = copy_guarded(h, RH), *h1 = copy_guarded(h, RH);
                float *y1 = copy_guarded(y, RH);
                rnn_postgemm_fwd__scalar(rows, n, H, relu, z, b, h0, NULL);
                sets[k]->rnn_fwd(rows, n, H, relu, z, b, h1, with_y ? y1 : NULL);
                snprintf(what, sizeof what, "%s rnn_fwd relu=%d y=%d", sets[k]->name, relu, with_y);
                CU_ASSERT(rows_match(what, h1, h0, h, NULL, rows, H, H, n, KERNEL_TOL));
                CU_ASSERT(with_y ? rows_match(what, y1, h1, y, NULL, rows, H, H, n, 0)
                                 : memcmp(y1, y, (RH + GUARD) * sizeof(float)) == 0);
                free(z), free(b), free(h), free(y), free(h0), free(h1), free(y1);
            }
}

static void test_rnn_bwd_matches_scalar(void) {
    test_rng r = {37};
    char what[64];
    for (int k = 0; k < nsets; k++)
        for (size_t hi = 0; hi < NH; hi++)
            for (int mode = 0; mode < 8; mode++) {
                const int relu = mode & 1, with_dy = (mode >> 1) & 1;
                const size_t n = hidden_sizes[hi], H = n + unit_pads[mode >> 2];
                const size_t rows = 1 + (hi + mode + 1) % 3, RH = rows * H;
                float *z = alloc_guarded(RH), *b = alloc_guarded(H), *h = alloc_guarded(RH);
                float *dy = alloc_guarded(RH), *dh = alloc_guarded(RH), *dz = alloc_guarded(RH);
                /* h as a forward leaves it: exact zeros (relu), +-1 (saturated tanh) */
                fill_mixed(&r, z, RH);
                fill_mixed(&r, b, H);
                rnn_postgemm_fwd__scalar(rows, H, H, relu, z, b, h, NULL);
                fill_uniform(&r, dy, RH, -2, 2);
                fill_uniform(&r, dh, RH, -2, 2);
                fill_mixed(&r, dz, RH);
                const float *dyp = with_dy ? dy : NULL;
                float *dz0 = copy_guarded(dz, RH), *dz1 = copy_guarded(dz, RH);
                rnn_postgemm_bwd__scalar(rows, n, H, relu, h, dyp, dh, dz0);
                sets[k]->rnn_bwd(rows, n, H, relu, h, dyp, dh, dz1);
                snprintf(what, sizeof what, "%s rnn_bwd relu=%d dy=%d", sets[k]->name, relu,
                         with_dy);
                CU_ASSERT(rows_match(what, dz1, dz0, dz, NULL, rows, H, H, n, KERNEL_TOL));
                free(z), free(b), free(h), free(dy), free(dh), free(dz), free(dz0), free(dz1);
            }
}

/* As for the LSTM: two calls on units [0, n1) and [n1, H) with offset pointers
 * give bit for bit what one call on [0, H) gives, for every GRU and RNN kernel. */
static void test_gru_rnn_kernels_on_unit_ranges(void) {
    enum { ROWS = 3, H = 37, N1 = 21, L = 3 * H + 4, G = ROWS * L, RH = ROWS * H };
    test_rng r = {41};
    const simd_kernels *all[5] = {&simd_kernels_scalar};
    for (int k = 0; k < nsets; k++) all[k + 1] = sets[k];
    for (int k = 0; k <= nsets; k++)
        for (int mode = 0; mode < 4; mode++) {
            const simd_kernels *K = all[k];
            const int relu = mode & 1, ra = mode >> 1;
            const size_t n2 = H - N1;
            float g[G], gs[G], rg[G], rgs[G], b[6 * H], hp[RH], h[RH], hs[RH], ys[RH];
            float rh[RH], rhs[RH], dy[RH], dh[RH], dhs[RH], drh[RH];
            fill_mixed(&r, g, G);
            fill_mixed(&r, rg, G);
            fill_mixed(&r, b, 6 * H);
            fill_mixed(&r, hp, RH);
            memcpy(gs, g, sizeof g);
            if (!ra) {
                K->gru_fwd_reset(ROWS, H, H, L, g, rg, b, hp, rh);
                K->gru_fwd_reset(ROWS, N1, H, L, gs, rg, b, hp, rhs);
                K->gru_fwd_reset(ROWS, n2, H, L, gs + N1, rg + N1, b + N1, hp + N1, rhs + N1);
                CU_ASSERT(!memcmp(g, gs, sizeof g) && !memcmp(rh, rhs, sizeof rh));
            }
            memcpy(rgs, rg, sizeof rg);
            K->gru_fwd(ROWS, H, H, L, relu, ra, g, rg, b, hp, h, NULL);
            K->gru_fwd(ROWS, N1, H, L, relu, ra, gs, rgs, b, hp, hs, ys);
            K->gru_fwd(ROWS, n2, H, L, relu, ra, gs + N1, rgs + N1, b + N1, hp + N1, hs + N1,
                       ys + N1);
            CU_ASSERT(!memcmp(g, gs, sizeof g) && !memcmp(rg, rgs, sizeof rg));
            CU_ASSERT(!memcmp(h, hs, sizeof h) && !memcmp(ys, hs, sizeof hs));
            fill_uniform(&r, dy, RH, -1, 1);
            fill_uniform(&r, dh, RH, -1, 1);
            memcpy(dhs, dh, sizeof dh);
            K->gru_bwd(ROWS, H, H, L, relu, ra, g, rg, hp, dy, dh);
            K->gru_bwd(ROWS, N1, H, L, relu, ra, gs, rgs, hp, dy, dhs);
            K->gru_bwd(ROWS, n2, H, L, relu, ra, gs + N1, rgs + N1, hp + N1, dy + N1, dhs + N1);
            CU_ASSERT(!memcmp(g, gs, sizeof g) && !memcmp(rg, rgs, sizeof rg));
            CU_ASSERT(!memcmp(dh, dhs, sizeof dh));
            if (!ra) {
                fill_uniform(&r, drh, RH, -1, 1);
                K->gru_bwd_reset(ROWS, H, H, L, g, hp, drh, dh);
                K->gru_bwd_reset(ROWS, N1, H, L, gs, hp, drh, dhs);
                K->gru_bwd_reset(ROWS, n2, H, L, gs + N1, hp + N1, drh + N1, dhs + N1);
                CU_ASSERT(!memcmp(g, gs, sizeof g) && !memcmp(dh, dhs, sizeof dh));
            }
            /* SimpleRNN: z in rg's first RH floats, dz in rh */
            K->rnn_fwd(ROWS, H, H, relu, rg, b, h, NULL);
            K->rnn_fwd(ROWS, N1, H, relu, rg, b, hs, ys);
            K->rnn_fwd(ROWS, n2, H, relu, rg + N1, b + N1, hs + N1, ys + N1);
            CU_ASSERT(!memcmp(h, hs, sizeof h) && !memcmp(ys, hs, sizeof hs));
            K->rnn_bwd(ROWS, H, H, relu, h, dy, dh, rh);
            K->rnn_bwd(ROWS, N1, H, relu, h, dy, dh, rhs);
            K->rnn_bwd(ROWS, n2, H, relu, h + N1, dy + N1, dh + N1, rhs + N1);
            CU_ASSERT(!memcmp(rh, rhs, sizeof rh));
        }
}

int main(void) {
    find_sets();
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("simd", NULL, NULL);
    if (!s) return 2;
    printf("kernel sets tested against scalar:");
    for (int k = 0; k < nsets; k++) printf(" %s", sets[k]->name);
    printf("\n");
    ADD_TEST(s, test_scalar_reference_equations);
    ADD_TEST(s, test_vmath_accuracy);
    ADD_TEST(s, test_vmath_special_values);
    ADD_TEST(s, test_vmath_lengths_alignment_in_place);
    ADD_TEST(s, test_lstm_fwd_matches_scalar);
    ADD_TEST(s, test_lstm_bwd_matches_scalar);
    ADD_TEST(s, test_gemm_matches_reference);
    ADD_TEST(s, test_lstm_kernels_on_unit_ranges);
    ADD_TEST(s, test_gru_fwd_matches_scalar);
    ADD_TEST(s, test_gru_fwd_reset_matches_scalar);
    ADD_TEST(s, test_gru_bwd_matches_scalar);
    ADD_TEST(s, test_gru_bwd_reset_matches_scalar);
    ADD_TEST(s, test_rnn_fwd_matches_scalar);
    ADD_TEST(s, test_rnn_bwd_matches_scalar);
    ADD_TEST(s, test_gru_rnn_kernels_on_unit_ranges);
    ADD_TEST(s, test_dropout_masks);
    return test_main_run();
}
