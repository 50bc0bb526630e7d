/* GRU and SimpleRNN gate kernels, AVX2 + FMA: 8 hidden units per vector,
 * masked tails. kernels.h has the contracts; g and rg rows are 3H floats
 * (blocks z, r, h), every other array's rows H.
 * Sums and products go in the scalar reference's order, unfused: a fused
 * r*rg_h + g_h or z*h_prev + (1-z)*hh rounds differently, and where large terms
 * cancel that difference is all that is left. So these kernels differ from
 * scalar only through the vector exp/sigmoid/tanh; backward, which has none,
 * gives scalar's values. */
#include <immintrin.h>

#include "../kernels.h"
#include "vmath_avx2.h"

/* lane k of the result is all ones when k < n */
static inline __m256i tail_mask(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256 ld(const float *p, __m256i m, int full) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

static inline void st(float *p, __m256 v, __m256i m, int full) {
    if (full)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, m, v);
}

static inline __m256 act(int relu, __m256 x) {
    return relu ? _mm256_max_ps(x, _mm256_setzero_ps()) : vtanh_avx2(x);
}

/* act'(.) from act's output a: relu: a > 0; tanh: 1 - a^2 */
static inline __m256 dact(int relu, __m256 a) {
    __m256 one = _mm256_set1_ps(1.0f);
    if (relu) return _mm256_and_ps(_mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ), one);
    return _mm256_sub_ps(one, _mm256_mul_ps(a, a));
}

/* reset_after = 1: z = sig(g_z + b0_z + rg_z + b1_z), r likewise,
 *                  rg_h += b1_h, hh = act(g_h + b0_h + r*rg_h)
 * reset_after = 0: z, r read from g_z, g_r; hh = act(g_h + b_h + rg_h)
 * h = z*h_prev + (1-z)*hh;  g out: z, r, hh */
KERNEL_INLINE void gru_fwd8(size_t H, int relu, int reset_after, float *g, float *rg,
                            const float *b, const float *hp, float *h, float *y, __m256i m,
                            int full) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 gh = _mm256_add_ps(ld(g + 2 * H, m, full), ld(b + 2 * H, m, full));
    __m256 z, r, hh;
    if (reset_after) {
        const float *b1 = b + 3 * H;
        z = _mm256_add_ps(_mm256_add_ps(ld(g, m, full), ld(b, m, full)), ld(rg, m, full));
        z = vsigmoid_avx2(_mm256_add_ps(z, ld(b1, m, full)));
        r = _mm256_add_ps(_mm256_add_ps(ld(g + H, m, full), ld(b + H, m, full)),
                          ld(rg + H, m, full));
        r = vsigmoid_avx2(_mm256_add_ps(r, ld(b1 + H, m, full)));
        const __m256 rh = _mm256_add_ps(ld(rg + 2 * H, m, full), ld(b1 + 2 * H, m, full));
        st(rg + 2 * H, rh, m, full);
        hh = act(relu, _mm256_add_ps(gh, _mm256_mul_ps(r, rh)));
        st(g, z, m, full);
        st(g + H, r, m, full);
    } else {
        z = ld(g, m, full);
        hh = act(relu, _mm256_add_ps(gh, ld(rg + 2 * H, m, full)));
    }
    const __m256 hv =
        _mm256_add_ps(_mm256_mul_ps(z, ld(hp, m, full)), _mm256_mul_ps(_mm256_sub_ps(one, z), hh));
    st(h, hv, m, full);
    if (y) st(y, hv, m, full);
    st(g + 2 * H, hh, m, full);
}

KERNEL_INLINE void gru_fwd_rows(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                                int reset_after, float *g, float *rg, const float *b,
                                const float *h_prev, float *h, float *y) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg, *rgr = rg + r * ldg;
        const size_t o = r * H;
        float *yr = y ? y + o : NULL;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            gru_fwd8(H, relu, reset_after, gr + j, rgr + j, b + j, h_prev + o + j, h + o + j,
                     yr ? yr + j : NULL, all, 1);
        if (j < n)
            gru_fwd8(H, relu, reset_after, gr + j, rgr + j, b + j, h_prev + o + j, h + o + j,
                     yr ? yr + j : NULL, m, 0);
    }
}

/* one loop per (relu, reset_after), the flags constant in each: the GRU
 * forward measured 1-5% faster than with one loop testing them (1 thread,
 * T = 28, B = 32 and 256, H = 128, AVX-512; this AVX2 set 0.5-2%) */
void gru_postgemm_fwd__avx2(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *b, const float *h_prev, float *h,
                            float *y) {
    if (relu && reset_after)
        gru_fwd_rows(rows, n, H, ldg, 1, 1, g, rg, b, h_prev, h, y);
    else if (relu)
        gru_fwd_rows(rows, n, H, ldg, 1, 0, g, rg, b, h_prev, h, y);
    else if (reset_after)
        gru_fwd_rows(rows, n, H, ldg, 0, 1, g, rg, b, h_prev, h, y);
    else
        gru_fwd_rows(rows, n, H, ldg, 0, 0, g, rg, b, h_prev, h, y);
}

/* z = sig(g_z + b_z + rg_z), r = sig(g_r + b_r + rg_r) over g_z, g_r; rh = r*h_prev */
static inline void gru_fwd_reset8(size_t H, float *g, const float *rg, const float *b,
                                  const float *hp, float *rh, __m256i m, int full) {
    __m256 z = _mm256_add_ps(_mm256_add_ps(ld(g, m, full), ld(b, m, full)), ld(rg, m, full));
    __m256 r =
        _mm256_add_ps(_mm256_add_ps(ld(g + H, m, full), ld(b + H, m, full)), ld(rg + H, m, full));
    z = vsigmoid_avx2(z);
    r = vsigmoid_avx2(r);
    st(g, z, m, full);
    st(g + H, r, m, full);
    st(rh, _mm256_mul_ps(r, ld(hp, m, full)), m, full);
}

void gru_postgemm_fwd_reset__avx2(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *rg, const float *b, const float *h_prev, float *rh) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg;
        const float *rgr = rg + r * ldg;
        const size_t o = r * H;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            gru_fwd_reset8(H, gr + j, rgr + j, b + j, h_prev + o + j, rh + o + j, all, 1);
        if (j < n) gru_fwd_reset8(H, gr + j, rgr + j, b + j, h_prev + o + j, rh + o + j, m, 0);
    }
}

/* dht = dh + dy;  dhh = dht*(1-z)*act'(hh);  dz = dht*(h_prev - hh)*z*(1-z);  dh = dht*z
 * reset_after = 1: dr = dhh*rg_h*r*(1-r); g: dz, dr, dhh; rg: dz, dr, dhh*r
 * reset_after = 0: g: dz, r, dhh; rg neither read nor written */
KERNEL_INLINE void gru_bwd8(size_t H, int relu, int reset_after, float *g, float *rg,
                            const float *hp, const float *dy, float *dh, __m256i m, int full) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 z = ld(g, m, full), hh = ld(g + 2 * H, m, full), omz = _mm256_sub_ps(one, z);
    __m256 dht = ld(dh, m, full);
    if (dy) dht = _mm256_add_ps(dht, ld(dy, m, full));
    const __m256 dhh = _mm256_mul_ps(_mm256_mul_ps(dht, omz), dact(relu, hh));
    const __m256 dz = _mm256_mul_ps(
        _mm256_mul_ps(_mm256_mul_ps(dht, _mm256_sub_ps(ld(hp, m, full), hh)), z), omz);
    if (reset_after) {
        const __m256 r = ld(g + H, m, full);
        const __m256 dr = _mm256_mul_ps(
            _mm256_mul_ps(_mm256_mul_ps(dhh, ld(rg + 2 * H, m, full)), r), _mm256_sub_ps(one, r));
        st(g + H, dr, m, full);
        st(rg, dz, m, full);
        st(rg + H, dr, m, full);
        st(rg + 2 * H, _mm256_mul_ps(dhh, r), m, full);
    }
    st(g, dz, m, full);
    st(g + 2 * H, dhh, m, full);
    st(dh, _mm256_mul_ps(dht, z), m, full);
}

KERNEL_INLINE void gru_bwd_rows(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                                int reset_after, float *g, float *rg, const float *h_prev,
                                const float *dy, float *dh) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg, *rgr = reset_after ? rg + r * ldg : NULL;
        const size_t o = r * H;
        const float *dyr = dy ? dy + o : NULL;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            gru_bwd8(H, relu, reset_after, gr + j, rgr ? rgr + j : NULL, h_prev + o + j,
                     dyr ? dyr + j : NULL, dh + o + j, all, 1);
        if (j < n)
            gru_bwd8(H, relu, reset_after, gr + j, rgr ? rgr + j : NULL, h_prev + o + j,
                     dyr ? dyr + j : NULL, dh + o + j, m, 0);
    }
}

/* as gru_postgemm_fwd: one loop per (relu, reset_after) */
void gru_postgemm_bwd__avx2(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *h_prev, const float *dy, float *dh) {
    if (relu && reset_after)
        gru_bwd_rows(rows, n, H, ldg, 1, 1, g, rg, h_prev, dy, dh);
    else if (relu)
        gru_bwd_rows(rows, n, H, ldg, 1, 0, g, rg, h_prev, dy, dh);
    else if (reset_after)
        gru_bwd_rows(rows, n, H, ldg, 0, 1, g, rg, h_prev, dy, dh);
    else
        gru_bwd_rows(rows, n, H, ldg, 0, 0, g, rg, h_prev, dy, dh);
}

/* g_r in: r; out: drh*h_prev*r*(1-r);  dh += drh*r */
static inline void gru_bwd_reset8(float *gr, const float *hp, const float *drh, float *dh,
                                  __m256i m, int full) {
    const __m256 r = ld(gr, m, full), d = ld(drh, m, full);
    const __m256 omr = _mm256_sub_ps(_mm256_set1_ps(1.0f), r);
    st(gr, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, ld(hp, m, full)), r), omr), m, full);
    st(dh, _mm256_add_ps(ld(dh, m, full), _mm256_mul_ps(d, r)), m, full);
}

void gru_postgemm_bwd_reset__avx2(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *h_prev, const float *drh, float *dh) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg + H;
        const size_t o = r * H;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            gru_bwd_reset8(gr + j, h_prev + o + j, drh + o + j, dh + o + j, all, 1);
        if (j < n) gru_bwd_reset8(gr + j, h_prev + o + j, drh + o + j, dh + o + j, m, 0);
    }
}

/* h = act(z + b), y = h */
static inline void rnn_fwd8(int relu, const float *z, const float *b, float *h, float *y, __m256i m,
                            int full) {
    const __m256 hv = act(relu, _mm256_add_ps(ld(z, m, full), ld(b, m, full)));
    st(h, hv, m, full);
    if (y) st(y, hv, m, full);
}

void rnn_postgemm_fwd__avx2(size_t rows, size_t n, size_t H, int relu, const float *z,
                            const float *b, float *h, float *y) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * H;
        float *yr = y ? y + o : NULL;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            rnn_fwd8(relu, z + o + j, b + j, h + o + j, yr ? yr + j : NULL, all, 1);
        if (j < n) rnn_fwd8(relu, z + o + j, b + j, h + o + j, yr ? yr + j : NULL, m, 0);
    }
}

/* dz = (dh + dy)*act'(h) */
static inline void rnn_bwd8(int relu, const float *h, const float *dy, const float *dh, float *dz,
                            __m256i m, int full) {
    __m256 d = ld(dh, m, full);
    if (dy) d = _mm256_add_ps(d, ld(dy, m, full));
    st(dz, _mm256_mul_ps(d, dact(relu, ld(h, m, full))), m, full);
}

void rnn_postgemm_bwd__avx2(size_t rows, size_t n, size_t H, int relu, const float *h,
                            const float *dy, const float *dh, float *dz) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * H;
        const float *dyr = dy ? dy + o : NULL;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            rnn_bwd8(relu, h + o + j, dyr ? dyr + j : NULL, dh + o + j, dz + o + j, all, 1);
        if (j < n) rnn_bwd8(relu, h + o + j, dyr ? dyr + j : NULL, dh + o + j, dz + o + j, m, 0);
    }
}
