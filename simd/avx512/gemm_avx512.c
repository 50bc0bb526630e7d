/* Small GEMM for the per-step products of the LSTM, AVX-512F.
 *   C[M][N] (+)= [A1 | A2] Bp     (A1 [M][K1], A2 [M][K2], Bp K1 + K2 rows)
 * Bp is B packed in panels of 32 columns (kernels.h). Register tile: 8 rows x
 * 32 columns, 16 of the 32 zmm registers; each k reads 128 contiguous bytes of
 * the panel, so the walk over K stays within a few pages whatever B's size. */
#include <immintrin.h>

#include "../kernels.h"

static inline __mmask16 lanes(size_t n) { return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1u); }

/* One tile of mr <= 8 rows (a constant after inlining, so the unused rows
 * vanish); named accumulators keep the compiler from spilling an array. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
static inline __attribute__((always_inline)) void tile(const int mr, size_t K1, const float *A1,
                                                       size_t lda1, size_t K2, const float *A2,
                                                       size_t lda2, const float *P, float *C,
                                                       size_t ldc, int accumulate, __mmask16 m0,
                                                       __mmask16 m1) {
#define DECL(R) __m512 c##R##0 = _mm512_setzero_ps(), c##R##1 = _mm512_setzero_ps();
    ROWS(DECL)
#define STEP(R)                                                                                    \
    if ((R) < mr) {                                                                                \
        const __m512 a = _mm512_set1_ps(A[(R) * lda + k]);                                         \
        c##R##0 = _mm512_fmadd_ps(a, b0, c##R##0);                                                 \
        c##R##1 = _mm512_fmadd_ps(a, b1, c##R##1);                                                 \
    }
    /* the same k loop over each source, the panel read on from where A1 ended */
#define SOURCE(A, lda, K)                                                                          \
    for (size_t k = 0; k < (K); k++, P += 32) {                                                    \
        const __m512 b0 = _mm512_load_ps(P), b1 = _mm512_load_ps(P + 16);                          \
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
            c##R##0 = _mm512_add_ps(c##R##0, _mm512_maskz_loadu_ps(m0, cr));                       \
            c##R##1 = _mm512_add_ps(c##R##1, _mm512_maskz_loadu_ps(m1, cr + 16));                  \
        }                                                                                          \
        _mm512_mask_storeu_ps(cr, m0, c##R##0);                                                    \
        _mm512_mask_storeu_ps(cr + 16, m1, c##R##1);                                               \
    }
    ROWS(STORE)
#undef DECL
#undef STEP
#undef STORE
#undef SOURCE
}

void f32_gemm_packed__avx512(size_t M, size_t N, size_t K1, const float *A1, size_t lda1,
                             size_t K2, const float *A2, size_t lda2, const float *Bp, float *C,
                             size_t ldc, int accumulate) {
    if (K2 == 0) A2 = A1, lda2 = lda1; /* one source: no offsets on a NULL A2 */
    for (size_t n = 0; n < N; n += 32) {
        const __mmask16 m0 = lanes(N - n), m1 = N - n > 16 ? lanes(N - n - 16) : 0;
        const float *P = Bp + n * (K1 + K2); /* panel n / 32 */
        float *Cn = C + n;
        size_t m = 0;
        /* constant mr so each call inlines into a fully unrolled tile */
        for (; m + 8 <= M; m += 8)
            tile(8, K1, A1 + m * lda1, lda1, K2, A2 + m * lda2, lda2, P, Cn + m * ldc, ldc,
                 accumulate, m0, m1);
        const float *Am = A1 + m * lda1, *Bm = A2 + m * lda2;
        float *Cm = Cn + m * ldc;
        switch (M - m) {
        case 7: tile(7, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 6: tile(6, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 5: tile(5, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 4: tile(4, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 3: tile(3, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 2: tile(2, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        case 1: tile(1, K1, Am, lda1, K2, Bm, lda2, P, Cm, ldc, accumulate, m0, m1); break;
        default: break;
        }
    }
}
