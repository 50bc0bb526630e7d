/* The per-step GEMM in portable C, panels of 16 columns:
 *   C[M][N] (+)= [A1 | A2] Bp     (A1 [M][K1], A2 [M][K2], Bp K1 + K2 rows)
 * One row at a time against one panel: the 16 sums stay in registers and the
 * inner loop is a fixed-width multiply-add the compiler vectorises for the
 * target's baseline (SSE2, NEON). The reference for the SIMD GEMMs, and the
 * GEMM of the scalar and NEON sets. */
#include <string.h>

#include "../kernels.h"

enum { NR = 16 };

void f32_gemm_packed__scalar(size_t M, size_t N, size_t K1, const float *A1, size_t lda1, size_t K2,
                             const float *A2, size_t lda2, const float *Bp, float *C, size_t ldc,
                             int accumulate) {
    const size_t K = K1 + K2;
    for (size_t j0 = 0; j0 < N; j0 += NR) {
        const float *P = Bp + j0 / NR * K * NR;
        const size_t w = N - j0 < NR ? N - j0 : NR;
        for (size_t i = 0; i < M; i++) {
            float acc[NR] = {0};
            const float *a = A1 + i * lda1;
            for (size_t k = 0; k < K1; k++)
                for (size_t j = 0; j < NR; j++) acc[j] += a[k] * P[k * NR + j];
            a = A2 + i * lda2;
            for (size_t k = 0; k < K2; k++)
                for (size_t j = 0; j < NR; j++) acc[j] += a[k] * P[(K1 + k) * NR + j];
            float *c = C + i * ldc + j0;
            for (size_t j = 0; j < w; j++) c[j] = accumulate ? c[j] + acc[j] : acc[j];
        }
    }
}
