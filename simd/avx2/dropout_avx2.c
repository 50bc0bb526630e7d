/* Dropout masks, AVX2: 8 hashes per vector, bit-identical to the scalar set. */
#include <immintrin.h>

#include "../kernels.h"

static inline __m256 mask8(__m256i k, __m256i lo, __m256i hi, __m256 rate, __m256 keep) {
    __m256i x = _mm256_xor_si256(
        _mm256_add_epi32(_mm256_mullo_epi32(k, _mm256_set1_epi32((int)DROPOUT_WEYL)), lo), hi);
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)DROPOUT_MUL1));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)DROPOUT_MUL2));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    /* x >> 8 < 2^24 converts exactly, as in the scalar code */
    __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x, 8)), _mm256_set1_ps(0x1p-24f));
    return _mm256_and_ps(_mm256_cmp_ps(u, rate, _CMP_GE_OQ), keep);
}

void dropout_mask__avx2(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                        float *mask) {
    const __m256i lo = _mm256_set1_epi32((int)(uint32_t)seed),
                  hi = _mm256_set1_epi32((int)(uint32_t)(seed >> 32));
    const __m256 r = _mm256_set1_ps(rate), kp = _mm256_set1_ps(keep);
    __m256i k = _mm256_add_epi32(_mm256_set1_epi32((int)k0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    size_t i = 0;
    for (; i + 8 <= n; i += 8, k = _mm256_add_epi32(k, _mm256_set1_epi32(8)))
        _mm256_storeu_ps(mask + i, mask8(k, lo, hi, r, kp));
    if (i < n) dropout_mask__scalar(n - i, seed, k0 + (uint32_t)i, rate, keep, mask + i);
}
