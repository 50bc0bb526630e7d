/* exp, sigmoid and tanh on 8 floats (AVX2 + FMA).
 *
 * exp: x = n*ln2 + r with |r| <= ln2/2, exp(r) by its Taylor polynomial to
 * degree 7 (truncation below 6e-9 relative), 2^n built in the exponent bits.
 * Inputs are clamped to [-87.3, 88] so 2^n stays a normal float.
 * sigmoid(x) = 1 / (1 + exp(-x)).
 * tanh: x P(x^2) / Q(x^2), a rational fit (simd/vmath_tanh.h).
 * Measured maximum errors over a dense sweep are in simd/README.md and are
 * asserted by tests/test_simd.c. */
#ifndef RECUR_VMATH_AVX2_H
#define RECUR_VMATH_AVX2_H

#include <immintrin.h>

#include "../vmath_tanh.h"

static inline __m256 vexp_avx2(__m256 x) {
    /* constant first: min/max return their second operand on NaN, so NaN stays NaN */
    x = _mm256_max_ps(_mm256_set1_ps(-87.3f), _mm256_min_ps(_mm256_set1_ps(88.0f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 vsigmoid_avx2(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = vexp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

static inline __m256 vtanh_avx2(__m256 x) {
    /* constants first: min/max return their second operand on NaN */
    x = _mm256_max_ps(_mm256_set1_ps(-TANH_CLAMP), _mm256_min_ps(_mm256_set1_ps(TANH_CLAMP), x));
    const __m256 s = _mm256_mul_ps(x, x), one = _mm256_set1_ps(1.0f);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(TANH_P6), s, _mm256_set1_ps(TANH_P5));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_P4));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_P3));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_P2));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(TANH_P1));
    p = _mm256_fmadd_ps(p, s, one);
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(TANH_Q3), s, _mm256_set1_ps(TANH_Q2));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(TANH_Q1));
    q = _mm256_fmadd_ps(q, s, one);
    const __m256 t = _mm256_div_ps(_mm256_mul_ps(x, p), q);
    /* rounding may step past 1 near the clamp */
    return _mm256_max_ps(_mm256_set1_ps(-1.0f), _mm256_min_ps(one, t));
}

#endif /* RECUR_VMATH_AVX2_H */
