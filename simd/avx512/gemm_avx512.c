/* Small GEMM for the per-step products of the time loop, AVX-512F.
 *   C[M][N] (+)= [A1 | A2] Bp     (A1 [M][K1], A2 [M][K2], Bp K1 + K2 rows)
 * Bp is B packed in panels of 32 columns (kernels.h); each k reads 128
 * contiguous bytes of the panel, so the walk over K stays within a few pages
 * whatever B's size. Two variants, one tile function:
 *  - f32_gemm_packed__avx512: 8 rows x 32 columns (16 zmm accumulators), what
 *    a Zen 4 was tuned with (its 512-bit FMAs run on two 256-bit pipes);
 *  - f32_gemm_packed__avx512_tall: up to 12 rows (24 accumulators), the rows
 *    dealt out evenly, with the panel prefetched 8 k ahead into L1 and the
 *    rows of C an accumulating tile adds to fetched before its k loop (C is
 *    the hoisted input product, long out of cache). On an Intel Xeon (two
 *    native 512-bit FMA ports, 48 KiB L1) a panel of K = 512 (64 KiB) does
 *    not stay in L1 between tiles; the prefetch and the fewer passes took the
 *    step product (M = 64, N = 2048, K = 512, one thread) from 133-147 to
 *    139-175 GFLOP/s in alternating runs.
 * Both sum every element over k in the same order: the same bits. */
#include <immintrin.h>

#include "../kernels.h"

static inline __mmask16 lanes(size_t n) {
    return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* One tile of mr <= 12 rows (a constant after inlining, so the unused rows
 * vanish); named accumulators keep the compiler from spilling an array. pfd:
 * 0, or how many k ahead to prefetch the panel (a constant too). */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
static inline __attribute__((always_inline)) void tile(const int mr, size_t K1, const float *A1,
                                                       size_t lda1, size_t K2, const float *A2,
                                                       size_t lda2, const float *P, float *C,
                                                       size_t ldc, int accumulate, __mmask16 m0,
                                                       __mmask16 m1, const int pfd) {
#define DECL(R) __m512 c##R##0 = _mm512_setzero_ps(), c##R##1 = _mm512_setzero_ps();
    ROWS(DECL)
#define FETCH(R)                                                                                   \
    if ((R) < mr) {                                                                                \
        _mm_prefetch((const char *)(C + (R)*ldc), _MM_HINT_T0);                                    \
        _mm_prefetch((const char *)(C + (R)*ldc + 16), _MM_HINT_T0);                               \
    }
    if (pfd && accumulate)
        ROWS(FETCH)
#define STEP(R)                                                                                    \
    if ((R) < mr) {                                                                                \
        const __m512 a = _mm512_set1_ps(A[(R)*lda + k]);                                           \
        c##R##0 = _mm512_fmadd_ps(a, b0, c##R##0);                                                 \
        c##R##1 = _mm512_fmadd_ps(a, b1, c##R##1);                                                 \
    }
        /* the same k loop over each source, the panel read on from where A1 ended */
#define SOURCE(A, lda, K)                                                                          \
    for (size_t k = 0; k < (K); k++, P += 32) {                                                    \
        if (pfd) {                                                                                 \
            _mm_prefetch((const char *)(P + 32 * pfd), _MM_HINT_T0);                               \
            _mm_prefetch((const char *)(P + 32 * pfd + 16), _MM_HINT_T0);                          \
        }                                                                                          \
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
        float *cr = C + (R)*ldc;                                                                   \
        if (accumulate) {                                                                          \
            c##R##0 = _mm512_add_ps(c##R##0, _mm512_maskz_loadu_ps(m0, cr));                       \
            c##R##1 = _mm512_add_ps(c##R##1, _mm512_maskz_loadu_ps(m1, cr + 16));                  \
        }                                                                                          \
        _mm512_mask_storeu_ps(cr, m0, c##R##0);                                                    \
        _mm512_mask_storeu_ps(cr + 16, m1, c##R##1);                                               \
    }
    ROWS(STORE)
#undef DECL
#undef FETCH
#undef STEP
#undef STORE
#undef SOURCE
}

/* A tile of mr rows at C (rows of A1, A2 and C at their first row), with the
 * height a constant in each case so every tile is fully unrolled. */
static inline __attribute__((always_inline)) void
tile_rows(size_t mr, size_t K1, const float *A1, size_t lda1, size_t K2, const float *A2,
          size_t lda2, const float *P, float *C, size_t ldc, int accumulate, __mmask16 m0,
          __mmask16 m1, const int pfd) {
    switch (mr) {
        // clang-format off
#define CASE(R) case R: tile(R, K1, A1, lda1, K2, A2, lda2, P, C, ldc, accumulate, m0, m1, pfd); break;
        CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2)
        CASE(1)
#undef CASE
    default: break;
        // clang-format on
    }
}

/* Rows in tiles of 8, the remainder last; no prefetch. */
void f32_gemm_packed__avx512(size_t M, size_t N, size_t K1, const float *A1, size_t lda1, size_t K2,
                             const float *A2, size_t lda2, const float *Bp, float *C, size_t ldc,
                             int accumulate) {
    if (K2 == 0) A2 = A1, lda2 = lda1; /* one source: no offsets on a NULL A2 */
    for (size_t n = 0; n < N; n += 32) {
        const __mmask16 m0 = lanes(N - n), m1 = N - n > 16 ? lanes(N - n - 16) : 0;
        const float *P = Bp + n * (K1 + K2); /* panel n / 32 */
        for (size_t m = 0; m < M; m += 8)
            tile_rows(M - m < 8 ? M - m : 8, K1, A1 + m * lda1, lda1, K2, A2 + m * lda2, lda2, P,
                      C + m * ldc + n, ldc, accumulate, m0, m1, 0);
    }
}

/* Taller tiles: up to 12 rows x 32 columns, the rows dealt out evenly (M =
 * 16: two tiles of 8; M = 64: six of 10 or 11), so a panel is walked
 * ceil(M / 12) times, not ceil(M / 8), and each k's two panel loads feed up to
 * 24 FMAs; the panel prefetched 8 k ahead. */
void f32_gemm_packed__avx512_tall(size_t M, size_t N, size_t K1, const float *A1, size_t lda1,
                                  size_t K2, const float *A2, size_t lda2, const float *Bp,
                                  float *C, size_t ldc, int accumulate) {
    if (K2 == 0) A2 = A1, lda2 = lda1;
    const size_t tiles = (M + 11) / 12;
    for (size_t n = 0; n < N; n += 32) {
        const __mmask16 m0 = lanes(N - n), m1 = N - n > 16 ? lanes(N - n - 16) : 0;
        const float *P = Bp + n * (K1 + K2);
        for (size_t q = 0, m = 0; q < tiles; q++) {
            const size_t mr = M / tiles + (q < M % tiles);
            tile_rows(mr, K1, A1 + m * lda1, lda1, K2, A2 + m * lda2, lda2, P, C + m * ldc + n, ldc,
                      accumulate, m0, m1, 8);
            m += mr;
        }
    }
}
