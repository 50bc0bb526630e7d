/* exp, sigmoid and tanh on 16 floats (AVX-512F). Same method and constants as
 * simd/avx2/vmath_avx2.h, which explains them (tanh: simd/vmath_tanh.h);
 * errors in simd/README.md. */
#ifndef RECUR_VMATH_AVX512_H
#define RECUR_VMATH_AVX512_H

#include <immintrin.h>

#include "../vmath_tanh.h"

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

/* x P(x^2) / Q(x^2), the reciprocal as the sigmoid's (vmath_tanh.h) */
static inline __m512 vtanh_avx512(__m512 x) {
    /* constants first: min/max return their second operand on NaN */
    x = _mm512_max_ps(_mm512_set1_ps(-TANH_CLAMP), _mm512_min_ps(_mm512_set1_ps(TANH_CLAMP), x));
    const __m512 s = _mm512_mul_ps(x, x), one = _mm512_set1_ps(1.0f);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(TANH_P6), s, _mm512_set1_ps(TANH_P5));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(TANH_P4));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(TANH_P3));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(TANH_P2));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(TANH_P1));
    p = _mm512_fmadd_ps(p, s, one);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(TANH_Q3), s, _mm512_set1_ps(TANH_Q2));
    q = _mm512_fmadd_ps(q, s, _mm512_set1_ps(TANH_Q1));
    q = _mm512_fmadd_ps(q, s, one);
    const __m512 t = _mm512_mul_ps(_mm512_mul_ps(x, p), vrcp_avx512(q));
    /* rounding may step past 1 near the clamp */
    return _mm512_max_ps(_mm512_set1_ps(-1.0f), _mm512_min_ps(one, t));
}

#endif /* RECUR_VMATH_AVX512_H */
