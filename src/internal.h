/* Shared internals of librecur; nothing here is exported. */
#ifndef RECUR_INTERNAL_H
#define RECUR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "recur.h"
#include "../simd/kernels.h"

/* Records `s` and a printf-style message as this thread's last error; returns s. */
recur_status recur_fail(recur_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The kernel set picked once per process (RECUR_ISA or the CPU's best). */
const simd_kernels *recur_kernels(void);

/* The CPU kind the time loop's thresholds follow: decided once from the
 * vendor, or RECUR_CPU=intel|amd|generic. */
typedef enum { RECUR_CPU_GENERIC, RECUR_CPU_INTEL, RECUR_CPU_AMD } recur_cpu;
recur_cpu recur_cpu_kind(void);

/* RECUR_LSTM_SPLIT, read once: 0 unset, 1 "rows", 2 "units" */
int recur_lstm_split_override(void);
/* RECUR_LSTM_FUSE, read once: -1 unset, 0 or 1 */
int recur_lstm_fuse_override(void);

/* Threads to use for the next parallel region: 1 inside an active parallel
 * region, else the recur_set_num_threads value or OpenMP's default. */
int recur_threads(void);

/* C[M][N] = alpha*op(A)*op(B) + beta*C, row-major, through dnnl_sgemm.
 * Returns 0 or oneDNN's status code; safe inside parallel regions (it records
 * no message: the caller does that on its own thread with recur_gemm_fail).
 * Call it where oneDNN runs single-threaded: in recur's own parallel regions,
 * after recur_omp_enter(). */
int recur_sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* The same product over nt threads, in blocks of its larger output side that
 * depend on the shape only (so the result does not depend on nt); returns 0
 * or the first failing oneDNN status. */
int recur_sgemm_par(int nt, char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc);

/* Turns a oneDNN status from the GEMMs of `what` into RECUR_ERR_BACKEND. */
recur_status recur_gemm_fail(int dnnl_status, const char *what);

/* First thing in each of recur's parallel regions: oneDNN calls from this
 * thread then run single-threaded (the setting is the region's own and does
 * not leak to the host's OpenMP state), and subnormal floats are flushed to
 * zero (x86: MXCSR's FTZ and DAZ bits; AArch64: FPCR.FZ), as TensorFlow does
 * on CPUs. An x86 core takes a microcode assist for a subnormal operand or
 * result: the tutorial's weight-gradient GEMMs, whose inputs hold some once
 * training is under way, ran at 63-85 GFLOP/s against 145 with the flush.
 * Returns the thread's mode for recur_omp_leave, the last thing in the
 * region: the mode is a per-thread register, and the caller's thread and the
 * OpenMP pool it shares with the host must get their own back. */
typedef struct {
    uint64_t saved;
} recur_fpmode;
recur_fpmode recur_omp_enter(void);
void recur_omp_leave(recur_fpmode m);

/* [lo, hi) of n items for thread k of nt, in contiguous near-equal chunks. */
static inline void recur_split(int64_t n, int nt, int k, int64_t *lo, int64_t *hi) {
    *lo = n * k / nt;
    *hi = n * (k + 1) / nt;
}

/* a*b into *out; 0 on overflow. */
static inline int recur_mul(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

#define RECUR_ALIGN 64
static inline size_t recur_round_up(size_t n) {
    return (n + RECUR_ALIGN - 1) / RECUR_ALIGN * RECUR_ALIGN;
}

/* The inference forwards of the model's predict and evaluate. keep: the
 * scratch's packed region still holds W and U as the previous call packed
 * them, a call with the same sizes and the same weights (the batches of one
 * pass), so the packing is skipped; 0: as recur_*_forward_inference. */
recur_status lstm_forward_inference_keep(const recur_lstm_desc *d, const float *W, const float *U,
                                         const float *b, const float *x, const float *h0,
                                         const float *c0, float *y, float *hT, float *cT,
                                         void *scratch, int keep);
recur_status gru_forward_inference_keep(const recur_gru_desc *d, const float *W, const float *U,
                                        const float *b, const float *x, const float *h0, float *y,
                                        float *hT, void *scratch, int keep);
recur_status rnn_forward_inference_keep(const recur_rnn_desc *d, const float *W, const float *U,
                                        const float *b, const float *x, const float *h0, float *y,
                                        float *hT, void *scratch, int keep);

#endif /* RECUR_INTERNAL_H */
