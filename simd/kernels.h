/* recur's SIMD kernels: single-threaded, allocation-free, one name per ISA.
 *
 * Names follow op__isa. Each ISA's kernels live in simd/<isa>/ and are
 * compiled with that ISA's flags only; src/dispatch.c picks a set at run time.
 * This header includes nothing from src/ so the kernels and their tests build
 * on their own (the aarch64 cross build has no oneDNN). */
#ifndef RECUR_SIMD_KERNELS_H
#define RECUR_SIMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Forward gate math of one LSTM time step for `rows` batch rows and hidden
 * units [0, n) of H (n < H when threads split the hidden units: pointers then
 * start at the first unit; strides stay those of the full rows; rows of z
 * are ldz >= 4H floats apart, the tape's rnn_tape_ld).
 *   z      [rows][ldz] in: x_t W + h_{t-1} U (bias not added yet), blocks i, f, c, o
 *                      out: the activated gates i, f, g, o (what backward needs)
 *   b      [4H]
 *   c_prev [rows][H], c [rows][H] (c may alias c_prev), h [rows][H]
 *   y      [rows][H]   a second copy of h (the caller's output), or NULL
 *   i = sig(z_i+b_i)  f = sig(z_f+b_f)  g = act(z_c+b_c)  o = sig(z_o+b_o)
 *   c = f*c_prev + i*g                   h = o*act(c)
 * act is relu when `relu` is non-zero, else tanh. */
typedef void (*lstm_postgemm_fwd_fn)(size_t rows, size_t n, size_t H, size_t ldz, int relu,
                                     float *z, const float *b, const float *c_prev, float *c,
                                     float *h, float *y);

/* Backward gate math of one LSTM time step for `rows` batch rows and hidden
 * units [0, n) of H, strided as in the forward.
 *   gates  [rows][ldz] in: i, f, g, o from the forward; out: dz (dL/dz, blocks i, f, c, o)
 *   c, c_prev [rows][H] the step's cell state and the previous one
 *   dy     [rows][H]   dL/dy_t, or NULL for zeros
 *   dh     [rows][H]   dL/dh_t arriving from step t+1
 *   dc     [rows][H]   in: dL/dc_t from step t+1; out: dL/dc_{t-1}
 *   dh_t = dh + dy;  dc_t = dc + dh_t*o*act'(c)
 *   dz_o = dh_t*act(c)*o(1-o)  dz_i = dc_t*g*i(1-i)  dz_f = dc_t*c_prev*f(1-f)
 *   dz_c = dc_t*i*act'(z_c)    dc_prev = dc_t*f
 * act' is taken from the outputs: tanh' = 1-t^2, relu' = (value > 0). */
typedef void (*lstm_postgemm_bwd_fn)(size_t rows, size_t n, size_t H, size_t ldz, int relu,
                                     float *gates, const float *c, const float *c_prev,
                                     const float *dy, const float *dh, float *dc);

/* GRU forward gate math of one step, `rows` batch rows and hidden units
 * [0, n) of H, strided as the LSTM's; blocks z, r, h along 3H; rows of g and
 * rg are ldg >= 3H floats apart (rnn_tape_ld).
 *   g      [rows][ldg] in: x_t W (no bias); out: z, r, hh (what backward needs)
 *   rg     [rows][ldg] in: the step's recurrent products, no bias:
 *                      reset_after = 1: h_{t-1} U, all three blocks; out: its
 *                      h block gets b1_h added (backward needs rh)
 *                      reset_after = 0: only the h block is read: (r*h_{t-1}) U_h
 *   b      reset_after = 1: [2][3H] (input bias, recurrent bias); 0: [3H]
 *   h_prev [rows][H], h [rows][H], y [rows][H] a second copy of h or NULL
 *   reset_after = 1: z = sig(g_z + b0_z + rg_z + b1_z)  r = sig(g_r + b0_r + rg_r + b1_r)
 *                    hh = act(g_h + b0_h + r * (rg_h + b1_h))
 *   reset_after = 0: g_z, g_r hold z, r already (gru_postgemm_fwd_reset)
 *                    hh = act(g_h + b_h + rg_h)
 *   h = z*h_prev + (1-z)*hh
 * act is relu when `relu` is non-zero, else tanh. */
typedef void (*gru_postgemm_fwd_fn)(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                                    int reset_after, float *g, float *rg, const float *b,
                                    const float *h_prev, float *h, float *y);
/* reset_after = 0, the half before the candidate's product:
 *   z = sig(g_z + b_z + rg_z), r = sig(g_r + b_r + rg_r) written over g_z, g_r
 *   (rg_z, rg_r in: h_{t-1} U_z, h_{t-1} U_r);  rh [rows][H] = r * h_prev */
typedef void (*gru_postgemm_fwd_reset_fn)(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                          const float *rg, const float *b, const float *h_prev,
                                          float *rh);
/* GRU backward gate math of one step:
 *   g in: z, r, hh from the forward; rg in (reset_after = 1): rg_h = rh + b1_h
 *   dht = dh + dy (dy NULL: zeros)
 *   dhh = dht*(1-z)*act'(hh)   dz = dht*(h_prev - hh)*z*(1-z)
 *   reset_after = 1: dr = dhh*rg_h*r*(1-r); g out: dz, dr, dhh; rg out: dz, dr, dhh*r
 *   reset_after = 0: g out: dz, r (kept for gru_postgemm_bwd_reset), dhh; rg unread
 *   dh out: dht*z, the direct path to h_{t-1} (the caller adds the products)
 * act' from the output: tanh' = 1-t^2, relu' = (value > 0). */
typedef void (*gru_postgemm_bwd_fn)(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                                    int reset_after, float *g, float *rg, const float *h_prev,
                                    const float *dy, float *dh);
/* reset_after = 0, after drh = dhh U_h^T [rows][H] is known:
 *   g_r in: r; out: drh*h_prev*r*(1-r)     dh += drh*r */
typedef void (*gru_postgemm_bwd_reset_fn)(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                          const float *h_prev, const float *drh, float *dh);

/* SimpleRNN forward of one step: h = act(z + b), into h and y (NULL: none).
 *   z [rows][H] in: x_t W + h_{t-1} U (no bias)   b [H]   h, y [rows][H] */
typedef void (*rnn_postgemm_fwd_fn)(size_t rows, size_t n, size_t H, int relu, const float *z,
                                    const float *b, float *h, float *y);
/* SimpleRNN backward: dz = (dh + dy) * act'(h), dy NULL: zeros; dz [rows][H]. */
typedef void (*rnn_postgemm_bwd_fn)(size_t rows, size_t n, size_t H, int relu, const float *h,
                                    const float *dy, const float *dh, float *dz);

/* Elementwise y = f(x) over n floats (y may alias x). */
typedef void (*f32_unary_fn)(size_t n, const float *x, float *y);

/* C[M][N] = [A1 | A2] B (+ C when accumulate): A1 [M][K1] and A2 [M][K2]
 * row-major with leading dimensions, side by side as one [M][K1+K2] operand;
 * B [K1+K2][N] packed; C row-major. For the small per-step products of the
 * time loop, where one B (weights) serves every step and the step's two inputs
 * (x_t and h_{t-1}) live in different arrays. K2 = 0 for one source (A2 unread).
 * Packed B: panels of nr columns (the set's gemm_nr), each K1+K2 rows of nr
 * contiguous floats; B's row k, column j sits at Bp[(j / nr) * (K1+K2) * nr +
 * k * nr + j % nr]. The last panel is padded with zeros to nr columns (read,
 * never stored). Bp is 64-byte aligned. */
typedef void (*f32_gemm_packed_fn)(size_t M, size_t N, size_t K1, const float *A1, size_t lda1,
                                   size_t K2, const float *A2, size_t lda2, const float *Bp,
                                   float *C, size_t ldc, int accumulate);

/* Dropout mask for elements k0 .. k0+n-1 of a stream named by seed:
 *   x = ((k * DROPOUT_WEYL + (uint32_t)seed) ^ (uint32_t)(seed >> 32)), then the
 *   lowbias32 finaliser (xor-shift 16, * MUL1, xor-shift 15, * MUL2, xor-shift 16);
 *   u = (x >> 8) * 2^-24 in [0, 1);  mask[i] = u >= rate ? keep : 0.
 * Integer arithmetic mod 2^32 and one exact conversion, so every set gives the
 * same bits; k wraps at 2^32 (callers split longer streams). */
#define DROPOUT_WEYL 0x9E3779B9u
#define DROPOUT_MUL1 0x7FEB352Du
#define DROPOUT_MUL2 0x846CA68Bu
typedef void (*dropout_mask_fn)(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                                float *mask);

typedef struct simd_kernels {
    const char *name;
    lstm_postgemm_fwd_fn lstm_fwd;
    lstm_postgemm_bwd_fn lstm_bwd;
    gru_postgemm_fwd_fn gru_fwd;
    gru_postgemm_fwd_reset_fn gru_fwd_reset;
    gru_postgemm_bwd_fn gru_bwd;
    gru_postgemm_bwd_reset_fn gru_bwd_reset;
    rnn_postgemm_fwd_fn rnn_fwd;
    rnn_postgemm_bwd_fn rnn_bwd;
    f32_unary_fn vexp, vsigmoid, vtanh;
    f32_gemm_packed_fn gemm; /* the per-step GEMM on packed B */
    /* the same product in taller register tiles with software prefetch of the
     * panel, for cores that run the wide FMAs natively (Intel's AVX-512); the
     * same bits as gemm; NULL where the set has none */
    f32_gemm_packed_fn gemm_tall;
    size_t gemm_nr; /* its panel width */
    dropout_mask_fn dropout_mask;
} simd_kernels;

/* a kernel's inner function, inlined also where gcc's heuristics would not
 * (so that a loop per constant flag is specialised, constants hoisted) */
#define KERNEL_INLINE static inline __attribute__((always_inline))

/* One table per ISA, defined beside its kernels. */
extern const simd_kernels simd_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
extern const simd_kernels simd_kernels_avx2, simd_kernels_avx512;
#endif
#if defined(__aarch64__)
extern const simd_kernels simd_kernels_neon;
#endif

/* scalar: portable C with libm; the reference every other set is tested against */
void lstm_postgemm_fwd__scalar(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                               const float *b, const float *c_prev, float *c, float *h, float *y);
void lstm_postgemm_bwd__scalar(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                               const float *c, const float *c_prev, const float *dy,
                               const float *dh, float *dc);
void gru_postgemm_fwd__scalar(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *b,
                              const float *h_prev, float *h, float *y);
void gru_postgemm_fwd_reset__scalar(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *rg, const float *b, const float *h_prev,
                                    float *rh);
void gru_postgemm_bwd__scalar(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *h_prev,
                              const float *dy, float *dh);
void gru_postgemm_bwd_reset__scalar(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *h_prev, const float *drh, float *dh);
void rnn_postgemm_fwd__scalar(size_t rows, size_t n, size_t H, int relu, const float *z,
                              const float *b, float *h, float *y);
void rnn_postgemm_bwd__scalar(size_t rows, size_t n, size_t H, int relu, const float *h,
                              const float *dy, const float *dh, float *dz);
void f32_gemm_packed__scalar(size_t M, size_t N, size_t K1, const float *A1, size_t lda1, size_t K2,
                             const float *A2, size_t lda2, const float *Bp, float *C, size_t ldc,
                             int accumulate);
void f32_vexp__scalar(size_t n, const float *x, float *y);
void f32_vsigmoid__scalar(size_t n, const float *x, float *y);
void f32_vtanh__scalar(size_t n, const float *x, float *y);
void dropout_mask__scalar(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                          float *mask);

#if defined(__x86_64__) || defined(__i386__)
void lstm_postgemm_fwd__avx2(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                             const float *b, const float *c_prev, float *c, float *h, float *y);
void lstm_postgemm_bwd__avx2(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                             const float *c, const float *c_prev, const float *dy, const float *dh,
                             float *dc);
void gru_postgemm_fwd__avx2(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *b, const float *h_prev, float *h,
                            float *y);
void gru_postgemm_fwd_reset__avx2(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *rg, const float *b, const float *h_prev, float *rh);
void gru_postgemm_bwd__avx2(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *h_prev, const float *dy, float *dh);
void gru_postgemm_bwd_reset__avx2(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *h_prev, const float *drh, float *dh);
void rnn_postgemm_fwd__avx2(size_t rows, size_t n, size_t H, int relu, const float *z,
                            const float *b, float *h, float *y);
void rnn_postgemm_bwd__avx2(size_t rows, size_t n, size_t H, int relu, const float *h,
                            const float *dy, const float *dh, float *dz);
void f32_vexp__avx2(size_t n, const float *x, float *y);
void f32_vsigmoid__avx2(size_t n, const float *x, float *y);
void f32_vtanh__avx2(size_t n, const float *x, float *y);
void dropout_mask__avx2(size_t n, uint64_t seed, uint32_t k0, float rate, float keep, float *mask);
void f32_gemm_packed__avx2(size_t M, size_t N, size_t K1, const float *A1, size_t lda1, size_t K2,
                           const float *A2, size_t lda2, const float *Bp, float *C, size_t ldc,
                           int accumulate);

void lstm_postgemm_fwd__avx512(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                               const float *b, const float *c_prev, float *c, float *h, float *y);
void lstm_postgemm_bwd__avx512(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                               const float *c, const float *c_prev, const float *dy,
                               const float *dh, float *dc);
void gru_postgemm_fwd__avx512(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *b,
                              const float *h_prev, float *h, float *y);
void gru_postgemm_fwd_reset__avx512(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *rg, const float *b, const float *h_prev,
                                    float *rh);
void gru_postgemm_bwd__avx512(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *h_prev,
                              const float *dy, float *dh);
void gru_postgemm_bwd_reset__avx512(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *h_prev, const float *drh, float *dh);
void rnn_postgemm_fwd__avx512(size_t rows, size_t n, size_t H, int relu, const float *z,
                              const float *b, float *h, float *y);
void rnn_postgemm_bwd__avx512(size_t rows, size_t n, size_t H, int relu, const float *h,
                              const float *dy, const float *dh, float *dz);
void f32_vexp__avx512(size_t n, const float *x, float *y);
void f32_vsigmoid__avx512(size_t n, const float *x, float *y);
void f32_vtanh__avx512(size_t n, const float *x, float *y);
void dropout_mask__avx512(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                          float *mask);
void f32_gemm_packed__avx512(size_t M, size_t N, size_t K1, const float *A1, size_t lda1, size_t K2,
                             const float *A2, size_t lda2, const float *Bp, float *C, size_t ldc,
                             int accumulate);
void f32_gemm_packed__avx512_tall(size_t M, size_t N, size_t K1, const float *A1, size_t lda1,
                                  size_t K2, const float *A2, size_t lda2, const float *Bp,
                                  float *C, size_t ldc, int accumulate);
#endif

#if defined(__aarch64__)
void lstm_postgemm_fwd__neon(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                             const float *b, const float *c_prev, float *c, float *h, float *y);
void lstm_postgemm_bwd__neon(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                             const float *c, const float *c_prev, const float *dy, const float *dh,
                             float *dc);
void gru_postgemm_fwd__neon(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *b, const float *h_prev, float *h,
                            float *y);
void gru_postgemm_fwd_reset__neon(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *rg, const float *b, const float *h_prev, float *rh);
void gru_postgemm_bwd__neon(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *h_prev, const float *dy, float *dh);
void gru_postgemm_bwd_reset__neon(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *h_prev, const float *drh, float *dh);
void rnn_postgemm_fwd__neon(size_t rows, size_t n, size_t H, int relu, const float *z,
                            const float *b, float *h, float *y);
void rnn_postgemm_bwd__neon(size_t rows, size_t n, size_t H, int relu, const float *h,
                            const float *dy, const float *dh, float *dz);
void f32_vexp__neon(size_t n, const float *x, float *y);
void f32_vsigmoid__neon(size_t n, const float *x, float *y);
void f32_vtanh__neon(size_t n, const float *x, float *y);
void dropout_mask__neon(size_t n, uint64_t seed, uint32_t k0, float rate, float keep, float *mask);
#endif

#endif /* RECUR_SIMD_KERNELS_H */
