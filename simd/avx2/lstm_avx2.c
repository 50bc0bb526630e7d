/* LSTM gate kernels, AVX2 + FMA: 8 hidden units per vector, masked tails. */
#include <immintrin.h>
#include <stdint.h>

#include "../kernels.h"
#include "vmath_avx2.h"

/* lane k of the result is all ones when k < n */
static inline __m256i tail_mask(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256 ld(const float *p, __m256i m, int full) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

static inline void st(float *p, __m256 v, __m256i m, int full) {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
}

static inline __m256 act(int relu, __m256 x) {
    return relu ? _mm256_max_ps(x, _mm256_setzero_ps()) : vtanh_avx2(x);
}

/* act'(.) from act's output a: relu: a > 0; tanh: 1 - a^2 */
static inline __m256 dact(int relu, __m256 a) {
    __m256 one = _mm256_set1_ps(1.0f);
    if (relu) return _mm256_and_ps(_mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ), one);
    return _mm256_fnmadd_ps(a, a, one);
}

static inline void fwd8(size_t H, int relu, float *z, const float *b, const float *cp, float *c,
                        float *h, float *y, __m256i m, int full) {
    __m256 i = vsigmoid_avx2(_mm256_add_ps(ld(z, m, full), ld(b, m, full)));
    __m256 f = vsigmoid_avx2(_mm256_add_ps(ld(z + H, m, full), ld(b + H, m, full)));
    __m256 g = act(relu, _mm256_add_ps(ld(z + 2 * H, m, full), ld(b + 2 * H, m, full)));
    __m256 o = vsigmoid_avx2(_mm256_add_ps(ld(z + 3 * H, m, full), ld(b + 3 * H, m, full)));
    __m256 cn = _mm256_fmadd_ps(f, ld(cp, m, full), _mm256_mul_ps(i, g));
    st(c, cn, m, full);
    const __m256 hv = _mm256_mul_ps(o, act(relu, cn));
    st(h, hv, m, full);
    if (y) st(y, hv, m, full);
    st(z, i, m, full);
    st(z + H, f, m, full);
    st(z + 2 * H, g, m, full);
    st(z + 3 * H, o, m, full);
}

void lstm_postgemm_fwd__avx2(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                             const float *b, const float *c_prev, float *c, float *h, float *y) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        float *zr = z + r * ldz;
        const float *cpr = c_prev + r * H;
        float *cr = c + r * H, *hr = h + r * H, *yr = y ? y + r * H : NULL;
        size_t j = 0;
        for (; j + 8 <= n; j += 8)
            fwd8(H, relu, zr + j, b + j, cpr + j, cr + j, hr + j, yr ? yr + j : NULL, all, 1);
        if (j < n) fwd8(H, relu, zr + j, b + j, cpr + j, cr + j, hr + j, yr ? yr + j : NULL, m, 0);
    }
}

static inline void bwd8(size_t H, int relu, float *g4, const float *c, const float *cp,
                        const float *dy, const float *dh, float *dc, __m256i m, int full) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 i = ld(g4, m, full), f = ld(g4 + H, m, full);
    __m256 g = ld(g4 + 2 * H, m, full), o = ld(g4 + 3 * H, m, full);
    __m256 a = act(relu, ld(c, m, full));
    __m256 dht = ld(dh, m, full);
    if (dy) dht = _mm256_add_ps(dht, ld(dy, m, full));
    __m256 dct = _mm256_fmadd_ps(_mm256_mul_ps(dht, o), dact(relu, a), ld(dc, m, full));
    __m256 dzi = _mm256_mul_ps(_mm256_mul_ps(dct, g), _mm256_mul_ps(i, _mm256_sub_ps(one, i)));
    __m256 dzf = _mm256_mul_ps(_mm256_mul_ps(dct, ld(cp, m, full)),
                               _mm256_mul_ps(f, _mm256_sub_ps(one, f)));
    __m256 dzg = _mm256_mul_ps(_mm256_mul_ps(dct, i), dact(relu, g));
    __m256 dzo = _mm256_mul_ps(_mm256_mul_ps(dht, a), _mm256_mul_ps(o, _mm256_sub_ps(one, o)));
    st(g4, dzi, m, full);
    st(g4 + H, dzf, m, full);
    st(g4 + 2 * H, dzg, m, full);
    st(g4 + 3 * H, dzo, m, full);
    st(dc, _mm256_mul_ps(dct, f), m, full);
}

void lstm_postgemm_bwd__avx2(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                             const float *c, const float *c_prev, const float *dy, const float *dh,
                             float *dc) {
    const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);
    for (size_t r = 0; r < rows; r++) {
        float *gr = gates + r * ldz;
        size_t o = r * H, j = 0;
        const float *dyr = dy ? dy + o : NULL;
        for (; j + 8 <= n; j += 8)
            bwd8(H, relu, gr + j, c + o + j, c_prev + o + j, dyr ? dyr + j : NULL, dh + o + j,
                 dc + o + j, all, 1);
        if (j < n)
            bwd8(H, relu, gr + j, c + o + j, c_prev + o + j, dyr ? dyr + j : NULL, dh + o + j,
                 dc + o + j, m, 0);
    }
}

#define UNARY(NAME, FN)                                                                          \
    void NAME(size_t n, const float *x, float *y) {                                              \
        const __m256i all = _mm256_set1_epi32(-1), m = tail_mask(n % 8);                         \
        size_t k = 0;                                                                            \
        for (; k + 8 <= n; k += 8) st(y + k, FN(ld(x + k, all, 1)), all, 1);                     \
        if (k < n) st(y + k, FN(ld(x + k, m, 0)), m, 0);                                         \
    }
UNARY(f32_vexp__avx2, vexp_avx2)
UNARY(f32_vsigmoid__avx2, vsigmoid_avx2)
UNARY(f32_vtanh__avx2, vtanh_avx2)

const simd_kernels simd_kernels_avx2 = {
    .name = "avx2",
    .lstm_fwd = lstm_postgemm_fwd__avx2,
    .lstm_bwd = lstm_postgemm_bwd__avx2,
    .gru_fwd = gru_postgemm_fwd__avx2,
    .gru_fwd_reset = gru_postgemm_fwd_reset__avx2,
    .gru_bwd = gru_postgemm_bwd__avx2,
    .gru_bwd_reset = gru_postgemm_bwd_reset__avx2,
    .rnn_fwd = rnn_postgemm_fwd__avx2,
    .rnn_bwd = rnn_postgemm_bwd__avx2,
    .vexp = f32_vexp__avx2,
    .vsigmoid = f32_vsigmoid__avx2,
    .vtanh = f32_vtanh__avx2,
    .gemm = f32_gemm_packed__avx2,
    .gemm_nr = 16,
    .dropout_mask = dropout_mask__avx2,
};
