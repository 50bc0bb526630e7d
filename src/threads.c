/* Thread count and the oneDNN GEMM wrappers. */
#include <omp.h>
#include <stdatomic.h>

#include <oneapi/dnnl/dnnl.h>

#include "internal.h"

static atomic_int requested_threads; /* 0: OpenMP's default */

void recur_set_num_threads(int n) { atomic_store(&requested_threads, n > 0 ? n : 0); }

int recur_threads(void) {
    if (omp_in_parallel()) return 1;
    int n = atomic_load(&requested_threads);
    return n > 0 ? n : omp_get_max_threads();
}

int recur_get_num_threads(void) { return recur_threads(); }

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define FP_FLUSH 0x8040u /* MXCSR: FTZ (bit 15), DAZ (bit 6) */
static uint64_t fp_get(void) { return _mm_getcsr(); }
static void fp_set(uint64_t v) { _mm_setcsr((unsigned)v); }
#elif defined(__aarch64__)
#define FP_FLUSH ((uint64_t)1 << 24) /* FPCR.FZ */
static uint64_t fp_get(void) {
    uint64_t v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void fp_set(uint64_t v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
#else
#define FP_FLUSH 0
static uint64_t fp_get(void) { return 0; }
static void fp_set(uint64_t v) { (void)v; }
#endif

recur_fpmode recur_omp_enter(void) {
    omp_set_num_threads(1);
    const uint64_t v = fp_get();
    if (FP_FLUSH) fp_set(v | FP_FLUSH);
    return (recur_fpmode){v};
}

/* only the flush bits go back: exception flags raised meanwhile stay raised */
void recur_omp_leave(recur_fpmode m) {
    if (FP_FLUSH) fp_set((fp_get() & ~(uint64_t)FP_FLUSH) | (m.saved & FP_FLUSH));
}

int recur_sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return 0;
    return (int)dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

recur_status recur_gemm_fail(int dnnl_status, const char *what) {
    return recur_fail(RECUR_ERR_BACKEND, "%s: dnnl_sgemm failed with oneDNN status %d", what,
                      dnnl_status);
}

/* The larger output side is cut into 1, 2, 4, 8 or 16 blocks, as many as
 * leave each at least 192 rows or 256 columns (columns in multiples of 16
 * floats, so threads never share a cache line of C), and each block is its
 * own GEMM: oneDNN's sum for an element of A B^T can depend on the number of
 * rows of the GEMM it sits in (measured: dx = dZ W^T on 1 and 3 threads), so
 * the blocks depend on the shape alone, never on the thread count. Threads
 * take contiguous runs of blocks (powers of two balance 2, 4, 8 and 16).
 * Smaller blocks cost oneDNN dearly: on the Intel Xeon, one thread, the
 * hoisted X W of 1600 x 1024 x 1024 ran at 112 GFLOP/s in 16 blocks of 100
 * rows, 164 in 200, 178 whole; dZ W^T at 142, 157 and 174; 64-column blocks
 * of 400 x 4096 x 1024 at 119 against 150 in 256 and 162 whole. */
int recur_sgemm_par(int nt, char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc) {
    const int split_n = N > M;
    const int64_t side = split_n ? N : M, least = split_n ? 256 : 192;
    int64_t nb = 1;
    while (nb < 16 && side / (2 * nb) >= least) nb *= 2;
    int64_t size = (side + nb - 1) / nb;
    if (split_n) size = (size + 15) / 16 * 16;
    nb = (side + size - 1) / size;
    if (nb < nt) nt = (int)nb;
    if (nt < 1) nt = 1;
    int status = 0;
#pragma omp parallel num_threads(nt)
    {
        const recur_fpmode fp = recur_omp_enter();
        int64_t b0, b1;
        recur_split(nb, omp_get_num_threads(), omp_get_thread_num(), &b0, &b1);
        int s = 0;
        for (int64_t blk = b0; blk < b1 && !s; blk++) {
            const int64_t lo = blk * size, hi = lo + size < side ? lo + size : side;
            if (split_n)
                s = recur_sgemm(ta, tb, M, hi - lo, K, alpha, A, lda,
                                tb == 'N' ? B + lo : B + lo * ldb, ldb, beta, C + lo, ldc);
            else
                s = recur_sgemm(ta, tb, hi - lo, N, K, alpha, ta == 'N' ? A + lo * lda : A + lo,
                                lda, B, ldb, beta, C + lo * ldc, ldc);
        }
        if (s) {
#pragma omp atomic write
            status = s;
        }
        recur_omp_leave(fp);
    }
    return status;
}
