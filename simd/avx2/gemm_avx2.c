/* Small GEMM for the per-step products of the LSTM, AVX2 + FMA.
 *   C[M][N] (+)= [A1 | A2] Bp     (A1 [M][K1], A2 [M][K2], Bp K1 + K2 rows)
 * Bp is B packed in panels of 16 columns (kernels.h). Register tile: 6 rows x
 * 16 columns, 12 accumulators. */
#include <immintrin.h>

#include "../kernels.h"

static inline __m256i lanes(size_t n) {
    int k = n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One tile of mr <= 6 rows (a constant after inlining, so the unused rows
 * vanish); named accumulators keep the compiler from spilling an array. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
static inline __attribute__((always_inline)) void tile(const int mr, size_t K1, const float *A1,
                                                       size_t lda1, size_t K2, const float *A2,
                                                       size_t lda2, const float *P, float *C,
                                                       size_t ldc, int accumulate, __m256i m0,
                                                       __m256i m1) {
#define DECL(R) __m256 c##R##0 = _mm256_setzero_ps(), c##R##1 = _mm256_setzero_ps();
    ROWS(DECL)
#define STEP(R)                                                                                    \
    if ((R) < mr) {                                                                                \
        const __m256 a = _mm256_broadcast_ss(A + (R) * lda + k);                                   \
        c##R##0 = _mm256_fmadd_ps(a, b0, c##R##0);                                                 \
        c##R##1 = _mm256_fmadd_ps(a, b1, c##R##1);                                                 \
    }
    /* the same k loop over each source, the panel read on from where A1 ended */
#define SOURCE(A, lda, K)                                                                          \
    for (size_t k = 0; k < (K); k++, P += 16) {                                                    \
        const __m256 b0 = _mm256_load_ps(P), b1 = _mm256_load_ps(P + 8);                           \
        ROWS(STEP)                                                                                 \
    }
    {
        const float *A = A1;
        const size_t lda = lda1;
        SOURCE(A, lda, K1)
    }
    {
        const float *A = A2;
        const size_t lda = lda2;
        SOURCE(A, lda, K2)
    }
#define STORE(R)                                                                                   \
    if ((R) < mr) {                                                                                \
        float *cr = C + (R) * ldc;                                                                 \
        if (accumulate) {                                                                          \
            c##R##0 = _mm256_add_ps(c##R##0, _mm256_maskload_ps(cr, m0));                          \
            c##R##1 = _mm256_add_ps(c##R##1, _mm256_maskload_ps(cr + 8, m1));                      \
        }                                                                                          \
        _mm256_maskstore_ps(cr, m0, c##R##0);                                                      \
        _mm256_maskstore_ps(cr + 8, m1, c##R##1);                                                  \
    }
    ROWS(STORE)
#undef DECL
#undef STEP
#undef STORE
#undef SOURCE
}

void f32_gemm_packed__avx2(size_t M, size_t N, size_t K1, const float *A1, size_t lda1,
                           size_t K2, const float *A2, size_t lda2, const float *Bp, float *C,
                           size_t ldc, int accumulate) {
    if (K2 == 0) A2 = A1, lda2 = lda1; /* one source: no offsets on a NULL A2 */
    for (size_t n = 0; n < N; n += 16) {
        const __m256i m0 = lanes(N - n), m1 = N - n > 8 ? lanes(N - n - 8) : _mm256_setzero_si256();
        const float *P = Bp + n * (K1 + K2); /* panel n / 16 */
        float *Cn = C + n;
        size_t m = 0;
        for (; m + 6 <= M; m += 6)
            tile(6, K1, A1 + m * lda1, lda1, K2, A2 + m * lda2, lda2, P, Cn + m * ldc, ldc,
                 accumulate, m0, m1);
        const float *Am = A1 + m * lda1, *Bm = A2 + m * lda2;
        float *Cm = Cn + m * ldc;
        switch (M - m) {
        case 5: tile(5, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 4: tile(4, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 3: tile(3, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 2: tile(2, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 1: tile(1, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        default: break;
        }
    }
}
