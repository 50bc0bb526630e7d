/* GRU and SimpleRNN gate kernels, AVX-512F: 16 hidden units per vector,
 * masked tails. kernels.h has the contracts; g and rg rows are 3H floats
 * (blocks z, r, h), every other array's rows H. Unfused, in the scalar
 * reference's order, for the reason simd/avx2/gru_avx2.c gives. */
#include <immintrin.h>

#include "../kernels.h"
#include "vmath_avx512.h"

static inline __m512 ld(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void st(float *p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }

/* lanes [0, n % 16) */
static inline __mmask16 tail_mask(size_t n) { return (__mmask16)((1u << (n % 16)) - 1u); }

static inline __m512 act(int relu, __m512 x) {
    return relu ? _mm512_max_ps(x, _mm512_setzero_ps()) : vtanh_avx512(x);
}

/* act'(.) from act's output a: relu: a > 0; tanh: 1 - a^2 */
static inline __m512 dact(int relu, __m512 a) {
    __m512 one = _mm512_set1_ps(1.0f);
    if (relu)
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ), one);
    return _mm512_sub_ps(one, _mm512_mul_ps(a, a));
}

/* reset_after = 1: z = sig(g_z + b0_z + rg_z + b1_z), r likewise,
 *                  rg_h += b1_h, hh = act(g_h + b0_h + r*rg_h)
 * reset_after = 0: z, r read from g_z, g_r; hh = act(g_h + b_h + rg_h)
 * h = z*h_prev + (1-z)*hh;  g out: z, r, hh */
KERNEL_INLINE void gru_fwd16(size_t H, int relu, int reset_after, float *g, float *rg,
                             const float *b, const float *hp, float *h, float *y, __mmask16 m) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 gh = _mm512_add_ps(ld(g + 2 * H, m), ld(b + 2 * H, m));
    __m512 z, r, hh;
    if (reset_after) {
        const float *b1 = b + 3 * H;
        z = _mm512_add_ps(_mm512_add_ps(ld(g, m), ld(b, m)), ld(rg, m));
        z = vsigmoid_avx512(_mm512_add_ps(z, ld(b1, m)));
        r = _mm512_add_ps(_mm512_add_ps(ld(g + H, m), ld(b + H, m)), ld(rg + H, m));
        r = vsigmoid_avx512(_mm512_add_ps(r, ld(b1 + H, m)));
        const __m512 rh = _mm512_add_ps(ld(rg + 2 * H, m), ld(b1 + 2 * H, m));
        st(rg + 2 * H, rh, m);
        hh = act(relu, _mm512_add_ps(gh, _mm512_mul_ps(r, rh)));
        st(g, z, m);
        st(g + H, r, m);
    } else {
        z = ld(g, m);
        hh = act(relu, _mm512_add_ps(gh, ld(rg + 2 * H, m)));
    }
    const __m512 hv =
        _mm512_add_ps(_mm512_mul_ps(z, ld(hp, m)), _mm512_mul_ps(_mm512_sub_ps(one, z), hh));
    st(h, hv, m);
    if (y) st(y, hv, m);
    st(g + 2 * H, hh, m);
}

KERNEL_INLINE void gru_fwd_rows(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                                int reset_after, float *g, float *rg, const float *b,
                                const float *h_prev, float *h, float *y) {
    const __mmask16 tail = tail_mask(n);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg, *rgr = rg + r * ldg;
        const size_t o = r * H;
        float *yr = y ? y + o : NULL;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            gru_fwd16(H, relu, reset_after, gr + j, rgr + j, b + j, h_prev + o + j, h + o + j,
                      yr ? yr + j : NULL, 0xFFFF);
        if (j < n)
            gru_fwd16(H, relu, reset_after, gr + j, rgr + j, b + j, h_prev + o + j, h + o + j,
                      yr ? yr + j : NULL, tail);
    }
}

/* one loop per (relu, reset_after), the flags constant in each: the GRU
 * forward measured 1-5% faster than with one loop testing them (1 thread,
 * T = 28, B = 32 and 256, H = 128) */
void gru_postgemm_fwd__avx512(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *b,
                              const float *h_prev, float *h, float *y) {
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
static inline void gru_fwd_reset16(size_t H, float *g, const float *rg, const float *b,
                                   const float *hp, float *rh, __mmask16 m) {
    __m512 z = _mm512_add_ps(_mm512_add_ps(ld(g, m), ld(b, m)), ld(rg, m));
    __m512 r = _mm512_add_ps(_mm512_add_ps(ld(g + H, m), ld(b + H, m)), ld(rg + H, m));
    z = vsigmoid_avx512(z);
    r = vsigmoid_avx512(r);
    st(g, z, m);
    st(g + H, r, m);
    st(rh, _mm512_mul_ps(r, ld(hp, m)), m);
}

void gru_postgemm_fwd_reset__avx512(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *rg, const float *b, const float *h_prev,
                                    float *rh) {
    const __mmask16 tail = tail_mask(n);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg;
        const float *rgr = rg + r * ldg;
        const size_t o = r * H;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            gru_fwd_reset16(H, gr + j, rgr + j, b + j, h_prev + o + j, rh + o + j, 0xFFFF);
        if (j < n) gru_fwd_reset16(H, gr + j, rgr + j, b + j, h_prev + o + j, rh + o + j, tail);
    }
}

/* dht = dh + dy;  dhh = dht*(1-z)*act'(hh);  dz = dht*(h_prev - hh)*z*(1-z);  dh = dht*z
 * reset_after = 1: dr = dhh*rg_h*r*(1-r); g: dz, dr, dhh; rg: dz, dr, dhh*r
 * reset_after = 0: g: dz, r, dhh; rg neither read nor written */
KERNEL_INLINE void gru_bwd16(size_t H, int relu, int reset_after, float *g, float *rg,
                             const float *hp, const float *dy, float *dh, __mmask16 m) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 z = ld(g, m), hh = ld(g + 2 * H, m), omz = _mm512_sub_ps(one, z);
    __m512 dht = ld(dh, m);
    if (dy) dht = _mm512_add_ps(dht, ld(dy, m));
    const __m512 dhh = _mm512_mul_ps(_mm512_mul_ps(dht, omz), dact(relu, hh));
    const __m512 dz =
        _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dht, _mm512_sub_ps(ld(hp, m), hh)), z), omz);
    if (reset_after) {
        const __m512 r = ld(g + H, m);
        const __m512 dr = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dhh, ld(rg + 2 * H, m)), r),
                                        _mm512_sub_ps(one, r));
        st(g + H, dr, m);
        st(rg, dz, m);
        st(rg + H, dr, m);
        st(rg + 2 * H, _mm512_mul_ps(dhh, r), m);
    }
    st(g, dz, m);
    st(g + 2 * H, dhh, m);
    st(dh, _mm512_mul_ps(dht, z), m);
}

KERNEL_INLINE void gru_bwd_rows(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                                int reset_after, float *g, float *rg, const float *h_prev,
                                const float *dy, float *dh) {
    const __mmask16 tail = tail_mask(n);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg, *rgr = reset_after ? rg + r * ldg : NULL;
        const size_t o = r * H;
        const float *dyr = dy ? dy + o : NULL;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            gru_bwd16(H, relu, reset_after, gr + j, rgr ? rgr + j : NULL, h_prev + o + j,
                      dyr ? dyr + j : NULL, dh + o + j, 0xFFFF);
        if (j < n)
            gru_bwd16(H, relu, reset_after, gr + j, rgr ? rgr + j : NULL, h_prev + o + j,
                      dyr ? dyr + j : NULL, dh + o + j, tail);
    }
}

/* as gru_postgemm_fwd: one loop per (relu, reset_after) */
void gru_postgemm_bwd__avx512(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *h_prev,
                              const float *dy, float *dh) {
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
static inline void gru_bwd_reset16(float *gr, const float *hp, const float *drh, float *dh,
                                   __mmask16 m) {
    const __m512 r = ld(gr, m), d = ld(drh, m);
    const __m512 omr = _mm512_sub_ps(_mm512_set1_ps(1.0f), r);
    st(gr, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, ld(hp, m)), r), omr), m);
    st(dh, _mm512_add_ps(ld(dh, m), _mm512_mul_ps(d, r)), m);
}

void gru_postgemm_bwd_reset__avx512(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *h_prev, const float *drh, float *dh) {
    const __mmask16 tail = tail_mask(n);
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg + H;
        const size_t o = r * H;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            gru_bwd_reset16(gr + j, h_prev + o + j, drh + o + j, dh + o + j, 0xFFFF);
        if (j < n) gru_bwd_reset16(gr + j, h_prev + o + j, drh + o + j, dh + o + j, tail);
    }
}

/* h = act(z + b), y = h */
static inline void rnn_fwd16(int relu, const float *z, const float *b, float *h, float *y,
                             __mmask16 m) {
    const __m512 hv = act(relu, _mm512_add_ps(ld(z, m), ld(b, m)));
    st(h, hv, m);
    if (y) st(y, hv, m);
}

void rnn_postgemm_fwd__avx512(size_t rows, size_t n, size_t H, int relu, const float *z,
                              const float *b, float *h, float *y) {
    const __mmask16 tail = tail_mask(n);
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * H;
        float *yr = y ? y + o : NULL;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            rnn_fwd16(relu, z + o + j, b + j, h + o + j, yr ? yr + j : NULL, 0xFFFF);
        if (j < n) rnn_fwd16(relu, z + o + j, b + j, h + o + j, yr ? yr + j : NULL, tail);
    }
}

/* dz = (dh + dy)*act'(h) */
static inline void rnn_bwd16(int relu, const float *h, const float *dy, const float *dh, float *dz,
                             __mmask16 m) {
    __m512 d = ld(dh, m);
    if (dy) d = _mm512_add_ps(d, ld(dy, m));
    st(dz, _mm512_mul_ps(d, dact(relu, ld(h, m))), m);
}

void rnn_postgemm_bwd__avx512(size_t rows, size_t n, size_t H, int relu, const float *h,
                              const float *dy, const float *dh, float *dz) {
    const __mmask16 tail = tail_mask(n);
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * H;
        const float *dyr = dy ? dy + o : NULL;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            rnn_bwd16(relu, h + o + j, dyr ? dyr + j : NULL, dh + o + j, dz + o + j, 0xFFFF);
        if (j < n) rnn_bwd16(relu, h + o + j, dyr ? dyr + j : NULL, dh + o + j, dz + o + j, tail);
    }
}
