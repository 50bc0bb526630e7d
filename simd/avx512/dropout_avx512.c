/* Dropout masks, AVX-512F: 16 hashes per vector, bit-identical to the scalar set. */
#include <immintrin.h>

#include "../kernels.h"

void dropout_mask__avx512(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                          float *mask) {
    const __m512i lo = _mm512_set1_epi32((int)(uint32_t)seed),
                  hi = _mm512_set1_epi32((int)(uint32_t)(seed >> 32));
    const __m512 r = _mm512_set1_ps(rate), kp = _mm512_set1_ps(keep);
    __m512i k = _mm512_add_epi32(_mm512_set1_epi32((int)k0),
                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (size_t i = 0; i < n; i += 16, k = _mm512_add_epi32(k, _mm512_set1_epi32(16))) {
        const __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512i x = _mm512_xor_si512(
            _mm512_add_epi32(_mm512_mullo_epi32(k, _mm512_set1_epi32((int)DROPOUT_WEYL)), lo), hi);
        x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
        x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)DROPOUT_MUL1));
        x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 15));
        x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)DROPOUT_MUL2));
        x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(x, 8)), _mm512_set1_ps(0x1p-24f));
        _mm512_mask_storeu_ps(mask + i, m, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(u, r, _CMP_GE_OQ), kp));
    }
}
