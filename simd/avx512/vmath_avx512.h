/* exp, sigmoid and tanh on 16 floats (AVX-512F). Same method and constants as
 * simd/avx2/vmath_avx2.h, which explains them; errors in simd/README.md. */
#ifndef RECUR_VMATH_AVX512_H
#define RECUR_VMATH_AVX512_H

#include <immintrin.h>

static inline __m512 vexp_avx512(__m512 x) {
    /* constant first: min/max return their second operand on NaN, so NaN stays NaN */
    x = _mm512_max_ps(_mm512_set1_ps(-87.3f), _mm512_min_ps(_mm512_set1_ps(88.0f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    /* p * 2^n; scalef keeps NaN and handles the exponent without integer tricks */
    return _mm512_scalef_ps(p, n);
}

/* 1/d: the 14-bit estimate and one Newton step, y + y(1 - d y), about 2^-28
 * relative before rounding. A vector division costs about as much as the
 * rest of a sigmoid on a core with 512-bit units (16 cycles a vector), and
 * the gate kernels take a quarter of a forward at the tutorial's shapes.
 * vrcp14ps keeps NaN, and gives correct subnormal results without FTZ. */
static inline __m512 vrcp_avx512(__m512 d) {
    const __m512 y = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(1.0f)), y);
}

static inline __m512 vsigmoid_avx512(__m512 x) {
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = vexp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return vrcp_avx512(_mm512_add_ps(one, e));
}

static inline __m512 vtanh_avx512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    /* past |x| = 20 (where tanh is 1.0f, 2/(e+1) = 8e-18) e + 1 would grow
     * to 1.6e38, whose reciprocal is subnormal: slow, and inexact in the
     * Newton step. The constant first: min keeps its second operand, NaN. */
    __m512 e = vexp_avx512(_mm512_min_ps(_mm512_set1_ps(40.0f), _mm512_add_ps(ax, ax)));
    __m512 big = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), vrcp_avx512(_mm512_add_ps(e, one)), one);
    __m512 x2 = _mm512_mul_ps(ax, ax);
    __m512 q = _mm512_set1_ps(21844.0f / 6081075.0f);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1382.0f / 155925.0f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(62.0f / 2835.0f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-17.0f / 315.0f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(2.0f / 15.0f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.0f / 3.0f));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(q, x2), ax, ax);
    __m512 t = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.4f), _CMP_LT_OQ), big,
                                    small);
    __m512i s = _mm512_and_si512(_mm512_castps_si512(x), sign);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), s));
}

#endif /* RECUR_VMATH_AVX512_H */
