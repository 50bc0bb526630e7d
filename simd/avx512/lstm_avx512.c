/* LSTM gate kernels, AVX-512F: 16 hidden units per vector, masked tails. */
#include <immintrin.h>

#include "../kernels.h"
#include "vmath_avx512.h"

static inline __m512 ld(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void st(float *p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }

static inline __m512 act(int relu, __m512 x) {
    return relu ? _mm512_max_ps(x, _mm512_setzero_ps()) : vtanh_avx512(x);
}

/* act'(.) from act's output a: relu: a > 0; tanh: 1 - a^2 */
static inline __m512 dact(int relu, __m512 a) {
    __m512 one = _mm512_set1_ps(1.0f);
    if (relu)
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ), one);
    return _mm512_fnmadd_ps(a, a, one);
}

static inline void fwd16(size_t H, int relu, float *z, const float *b, const float *cp, float *c,
                         float *h, float *y, __mmask16 m) {
    __m512 i = vsigmoid_avx512(_mm512_add_ps(ld(z, m), ld(b, m)));
    __m512 f = vsigmoid_avx512(_mm512_add_ps(ld(z + H, m), ld(b + H, m)));
    __m512 g = act(relu, _mm512_add_ps(ld(z + 2 * H, m), ld(b + 2 * H, m)));
    __m512 o = vsigmoid_avx512(_mm512_add_ps(ld(z + 3 * H, m), ld(b + 3 * H, m)));
    __m512 cn = _mm512_fmadd_ps(f, ld(cp, m), _mm512_mul_ps(i, g));
    st(c, cn, m);
    const __m512 hv = _mm512_mul_ps(o, act(relu, cn));
    st(h, hv, m);
    if (y) st(y, hv, m);
    st(z, i, m);
    st(z + H, f, m);
    st(z + 2 * H, g, m);
    st(z + 3 * H, o, m);
}

void lstm_postgemm_fwd__avx512(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                               const float *b, const float *c_prev, float *c, float *h, float *y) {
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1u);
    for (size_t r = 0; r < rows; r++) {
        float *zr = z + r * ldz;
        const float *cpr = c_prev + r * H;
        float *cr = c + r * H, *hr = h + r * H, *yr = y ? y + r * H : NULL;
        size_t j = 0;
        for (; j + 16 <= n; j += 16)
            fwd16(H, relu, zr + j, b + j, cpr + j, cr + j, hr + j, yr ? yr + j : NULL, 0xFFFF);
        if (j < n) fwd16(H, relu, zr + j, b + j, cpr + j, cr + j, hr + j, yr ? yr + j : NULL, tail);
    }
}

static inline void bwd16(size_t H, int relu, float *g4, const float *c, const float *cp,
                         const float *dy, const float *dh, float *dc, __mmask16 m) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 i = ld(g4, m), f = ld(g4 + H, m), g = ld(g4 + 2 * H, m), o = ld(g4 + 3 * H, m);
    __m512 a = act(relu, ld(c, m));
    __m512 dht = ld(dh, m);
    if (dy) dht = _mm512_add_ps(dht, ld(dy, m));
    __m512 dct = _mm512_fmadd_ps(_mm512_mul_ps(dht, o), dact(relu, a), ld(dc, m));
    __m512 dzi = _mm512_mul_ps(_mm512_mul_ps(dct, g), _mm512_mul_ps(i, _mm512_sub_ps(one, i)));
    __m512 dzf =
        _mm512_mul_ps(_mm512_mul_ps(dct, ld(cp, m)), _mm512_mul_ps(f, _mm512_sub_ps(one, f)));
    __m512 dzg = _mm512_mul_ps(_mm512_mul_ps(dct, i), dact(relu, g));
    __m512 dzo = _mm512_mul_ps(_mm512_mul_ps(dht, a), _mm512_mul_ps(o, _mm512_sub_ps(one, o)));
    st(g4, dzi, m);
    st(g4 + H, dzf, m);
    st(g4 + 2 * H, dzg, m);
    st(g4 + 3 * H, dzo, m);
    st(dc, _mm512_mul_ps(dct, f), m);
}

void lstm_postgemm_bwd__avx512(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                               const float *c, const float *c_prev, const float *dy,
                               const float *dh, float *dc) {
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1u);
    for (size_t r = 0; r < rows; r++) {
        float *gr = gates + r * ldz;
        size_t o = r * H, j = 0;
        const float *dyr = dy ? dy + o : NULL;
        for (; j + 16 <= n; j += 16)
            bwd16(H, relu, gr + j, c + o + j, c_prev + o + j, dyr ? dyr + j : NULL, dh + o + j,
                  dc + o + j, 0xFFFF);
        if (j < n)
            bwd16(H, relu, gr + j, c + o + j, c_prev + o + j, dyr ? dyr + j : NULL, dh + o + j,
                  dc + o + j, tail);
    }
}

#define UNARY(NAME, FN)                                                                          \
    void NAME(size_t n, const float *x, float *y) {                                              \
        size_t k = 0;                                                                            \
        for (; k + 16 <= n; k += 16) st(y + k, FN(ld(x + k, 0xFFFF)), 0xFFFF);                   \
        if (k < n) {                                                                             \
            __mmask16 m = (__mmask16)((1u << (n - k)) - 1u);                                     \
            st(y + k, FN(ld(x + k, m)), m);                                                      \
        }                                                                                        \
    }
UNARY(f32_vexp__avx512, vexp_avx512)
UNARY(f32_vsigmoid__avx512, vsigmoid_avx512)
UNARY(f32_vtanh__avx512, vtanh_avx512)

const simd_kernels simd_kernels_avx512 = {
    .name = "avx512",
    .lstm_fwd = lstm_postgemm_fwd__avx512,
    .lstm_bwd = lstm_postgemm_bwd__avx512,
    .gru_fwd = gru_postgemm_fwd__avx512,
    .gru_fwd_reset = gru_postgemm_fwd_reset__avx512,
    .gru_bwd = gru_postgemm_bwd__avx512,
    .gru_bwd_reset = gru_postgemm_bwd_reset__avx512,
    .rnn_fwd = rnn_postgemm_fwd__avx512,
    .rnn_bwd = rnn_postgemm_bwd__avx512,
    .vexp = f32_vexp__avx512,
    .vsigmoid = f32_vsigmoid__avx512,
    .vtanh = f32_vtanh__avx512,
    .gemm = f32_gemm_packed__avx512,
    .gemm_tall = f32_gemm_packed__avx512_tall,
    .gemm_nr = 32,
    .dropout_mask = dropout_mask__avx512,
};
