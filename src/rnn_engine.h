/* The recurrent engine: what the LSTM, GRU and SimpleRNN primitives share.
 *
 * A cell is G = gates * H columns of products followed by elementwise gate
 * math. The engine gives each call:
 *  - the checks and sizes of the common descriptor (T, B, I, H, activation)
 *    and a workspace layout builder;
 *  - a plan: the per-step panel GEMM of the kernel set, the thread count,
 *    whether threads split batch rows or hidden units, and whether the input
 *    product joins the per-step GEMM (cells whose input and recurrent sums
 *    meet before any gate math: LSTM, SimpleRNN);
 *  - weight packing into the GEMM's panels, column blocks or transposes;
 *  - the time loop: one parallel region in which each thread packs its share
 *    of the panels, then runs its block (rows or units) through every step by
 *    calling the cell's step function;
 *  - the hoisted GEMMs over all steps (the input product, dx, and the weight
 *    gradients with their bias column sums), split over threads by output
 *    block so that results do not depend on the thread count.
 * Cells live in lstm.c, gru.c, rnn.c and hold only their own step math. */
#ifndef RECUR_RNN_ENGINE_H
#define RECUR_RNN_ENGINE_H

#include <string.h>

#include "internal.h"

typedef struct {
    int64_t T, B, I, H;
    int relu;
} rnn_dims;

/* Checks sizes (positive) and the activation (tanh or relu); `cell` names the
 * layer in messages ("LSTM", "GRU", "SimpleRNN"). */
recur_status rnn_dims_init(rnn_dims *d, int T, int B, int I, int H, recur_act act, const char *fn,
                           const char *cell);

/* Workspace layout: regions of floats, each 64-byte aligned; ok turns 0 on
 * any overflow (then the call fails naming the sizes). */
typedef struct {
    size_t size;
    int ok;
} rnn_layout;
/* Appends a region of a*b floats; returns its byte offset. */
size_t rnn_layout_add(rnn_layout *l, size_t a, size_t b);
/* The failure for a layout that overflowed. */
recur_status rnn_layout_fail(const rnn_dims *d, const char *fn);

recur_status rnn_need(const void *p, const char *fn, const char *name);
/* RECUR_ERR_INVALID_ARGUMENT naming `name` unless p is NULL or 64-byte aligned */
recur_status rnn_check_aligned(const void *p, const char *fn, const char *name);

/* How a call runs its time loop; forward and backward decide alike. */
typedef struct {
    f32_gemm_packed_fn gemm; /* the set's per-step GEMM */
    int64_t nr;              /* its panel width */
    int nt;                  /* threads */
    int units;               /* threads split hidden units (barriers per step), else rows */
    int fuse;                /* the input product runs in the per-step GEMM */
    int one_step;            /* inference with fuse: a step's products go to a buffer of one
                                step (row 0 of the tape) instead of a T-long tape */
} rnn_plan;

/* Which pass a plan is for. */
enum { RNN_BACKWARD = 0, RNN_TRAIN_FORWARD = 1, RNN_INFERENCE = 2 };
/* G: columns of the cell's products; pass: RNN_*. Forward and backward may
 * split threads differently (the split never changes the bits, and nothing in
 * the workspace depends on it). */
rnn_plan rnn_plan_of(const rnn_dims *d, int64_t G, const simd_kernels *k, int pass);

/* The row stride, in floats, of a cell's [T*B][G] tapes of gate products and
 * their gradients, which the weight gradients read as dnnl_sgemm's B
 * (A^T dZ): G rounded up to 16 floats (rows start on cache lines), and on the
 * Intel kind a stride of 3, 5, 7... times 512 floats grows by 512. oneDNN's
 * A^T B reading B at such a stride measured far below its peak on the Intel
 * Xeon (one thread, 512 x 1536 x 1600, the GRU's dW at H = 512: 120-128
 * GFLOP/s at 1536 against 158-167 at 2048 and 3072; 2560: 120, 3584: 127,
 * 1552: 139-146). The GRU's and the LSTM's tapes use it (their kernels take
 * the stride); the SimpleRNN's (H) would meet such a stride only at H = 1536,
 * 2560..., and keep H, the stride of its h rows too. */
int64_t rnn_tape_ld(int64_t G);

/* Largest packed-weight region any plan may need, in floats: forward gate
 * blocks of W and U, backward transposes of U and W. */
size_t rnn_packed_floats(const rnn_dims *d, int64_t gates);

/* A thread's part of each step: batch rows [r0, r1) and hidden units [j0, j1). */
typedef struct {
    int64_t r0, r1, j0, j1;
    int units;            /* the plan's split */
    int thread, nthreads; /* this thread among the loop's */
} rnn_block;

/* With a unit split, every thread waits for the others (a cell's step calls
 * it where its next product reads other threads' units); else nothing. */
void rnn_sync(const rnn_block *bl);

/* dst[r][j0..j1) = src ? src[r][j0..j1) : 0 for the block's rows, rows of H floats */
void rnn_copy_block(float *dst, const float *src, const rnn_block *bl, int64_t H);

/* ---- Step masks (the descriptors' mask [T][B]; 0: step t of sample b is
 * masked). At a masked step a row's states are carried through (h_t = h_{t-1},
 * the LSTM's c_t = c_{t-1}, y_t = h_t); backward gives that row dZ_t = 0 and
 * passes the state gradients straight through (dh_{t-1} = dh_t + dy_t,
 * dc_{t-1} = dc_t). The cells run their GEMMs and gate kernels on every row of
 * the block as usual and then fix the masked rows with these helpers, only at
 * steps where the block has any. */

/* The mask row of step t (m[r], r < B) if some of the block's rows are masked
 * at t; NULL when mask is NULL or every row of the block is valid. */
static inline const unsigned char *rnn_step_mask(const unsigned char *mask, int64_t t, int64_t B,
                                                 const rnn_block *bl) {
    if (!mask) return NULL;
    const unsigned char *m = mask + t * B;
    return memchr(m + bl->r0, 0, (size_t)(bl->r1 - bl->r0)) ? m : NULL;
}

/* For each of the block's rows r with m[r] == 0: dst[r][j0..j1) = a[r][j0..j1)
 * (+ b[r][j0..j1) when b is not NULL); rows of H floats, pointers at row 0. */
void rnn_mask_copy(float *dst, const float *a, const float *b, const unsigned char *m,
                   const rnn_block *bl, int64_t H);

/* For each of the block's rows r with m[r] == 0: zeros columns q*H + [j0, j1),
 * q < gates, of row r of z (rows of ldz floats, z at row 0). */
void rnn_mask_zero(float *z, int64_t ldz, int64_t H, int64_t gates, const unsigned char *m,
                   const rnn_block *bl);

/* Packs column blocks of the two-source matrix [A1 (K1 rows); A2 (K2 rows)]
 * (row stride ld): block q < gates is columns [q*H, q*H + H), cut into np =
 * ceil(H/nr) panels of K1+K2 rows; panel P = q*np + p. Packs the panels of
 * [p0, p1) that exist: a caller packing several matrices one after another
 * passes each its share of one range, shifted by the panels before it. */
void rnn_pack_blocks(const float *A1, int64_t K1, const float *A2, int64_t K2, int64_t ld,
                     int64_t H, int64_t gates, int64_t nr, float *dst, int64_t p0, int64_t p1);
/* Packs the transpose of columns [k0, k0+K) of A [n][lda]: ceil(n/nr) panels
 * of K rows (panel P holds rows [P*nr, P*nr+nr) of A as columns); the panels
 * of [p0, p1) that exist, as rnn_pack_blocks. */
void rnn_pack_t(const float *A, int64_t n, int64_t lda, int64_t k0, int64_t K, int64_t nr,
                float *dst, int64_t p0, int64_t p1);

/* h_{t-1} for step t, row 0 of [B][H]: the training tape hs [T+1][B][H]
 * (hs[0] is h0 or zeros), or in inference (hs NULL) y_{t-1}, and for t = 0 a
 * copy of h0 or zeros in h0z (never NULL: the panels the step GEMM reads
 * always hold the rows of U). */
static inline const float *rnn_h_prev(const float *hs, const float *y, const float *h0z, int64_t t,
                                      int64_t B, int64_t H) {
    return hs ? hs + t * B * H : t ? y + (t - 1) * B * H : h0z;
}

/* dx_t = dZ_t W^T for the block's rows, while dZ_t is in cache (the fused
 * path): dz [rows][ldz] (G columns) and dx [rows][I] start at the block's
 * first row, wt is W^T packed by rnn_pack_t. With a unit split every thread
 * has all rows and takes a share of dx's column panels. */
void rnn_step_dx(const rnn_plan *p, const rnn_block *bl, const float *dz, int64_t G, int64_t ldz,
                 const float *wt, float *dx, int64_t I);

/* One call's time loop. All threads first run pack(ctx, p0, p1) over their
 * share of npack panels, then begin(ctx, block); a barrier; then step(ctx,
 * t, block) for t = 0..T-1 (or T-1..0 when reverse); then end(ctx, block).
 * NULL hooks are skipped. Every thread's block is non-empty. */
typedef struct {
    int64_t npack;
    void (*pack)(void *ctx, int64_t p0, int64_t p1);
    void (*begin)(void *ctx, const rnn_block *bl);
    void (*step)(void *ctx, int64_t t, const rnn_block *bl);
    void (*end)(void *ctx, const rnn_block *bl);
    void *ctx;
    int reverse;
} rnn_loop;
void rnn_loop_run(const rnn_dims *d, const rnn_plan *p, const rnn_loop *l);

/* ---- Weights packed once for many inference calls (recur_*_pack_weights):
 * a 64-byte header, the forward panels of the inference plan, and, when
 * that plan hoists the input product (dnnl_sgemm reads W in place), a copy of
 * W [I][G]. The header names what the panels were packed for; a forward
 * given them checks it against its own descriptor and plan. */
enum { RNN_CELL_LSTM = 1, RNN_CELL_GRU = 2, RNN_CELL_SIMPLE = 3 };
/* cell: RNN_CELL_*; variant: the GRU's reset_after, else 0; p: the
 * descriptor's inference plan. Bytes of a packed-weights buffer (0 on
 * overflow): */
size_t rnn_prepacked_size(const rnn_dims *d, int cell, const rnn_plan *p);
/* recur_*_pack_weights' arguments: W, U and packed given, packed 64-byte
 * aligned (the first failure, naming the argument). */
recur_status rnn_prepacked_need(const float *W, const float *U, const void *packed, const char *fn);
/* Writes the header of a buffer and, when the plan hoists the input product,
 * its copy of W [I][gates * H]; returns where the caller packs the panels. */
float *rnn_prepacked_init(void *packed, int cell, int variant, const rnn_dims *d, const rnn_plan *p,
                          const float *W);
/* Checks a buffer against the call (RECUR_ERR_INVALID_ARGUMENT naming what
 * differs) and gives its panels and W's copy (NULL: the plan joins the input). */
recur_status rnn_prepacked_open(const void *packed, int cell, int variant, const rnn_dims *d,
                                const rnn_plan *p, const char *fn, const float **panels,
                                const float **w);
/* Runs only a loop's pack hook, split over the plan's threads. */
void rnn_pack_run(const rnn_dims *d, const rnn_plan *p, int64_t npack,
                  void (*pack)(void *ctx, int64_t p0, int64_t p1), void *ctx);

/* A weight gradient: dst [K][ldd], columns [0, N) = A^T dZ, A [TB][lda] (K
 * columns used), dZ [TB][ldz] (N columns used). */
typedef struct {
    const float *A;
    int64_t lda, K;
    const float *dZ;
    int64_t ldz, N;
    float *dst;
    int64_t ldd;
} rnn_wgrad;
/* A bias gradient: dst [N] = column sums of src [TB][lds]. */
typedef struct {
    const float *src;
    int64_t lds, N;
    float *dst;
} rnn_bgrad;
/* All of a call's weight and bias gradients in one parallel region: threads
 * split the stacked output rows of the weight gradients (whole rows, shares
 * of equal rows x columns) and the bias columns (16-float blocks). Returns 0
 * or a oneDNN status. */
int rnn_weight_grads(int nt, int64_t TB, const rnn_wgrad *w, int nw, const rnn_bgrad *b, int nb);

#endif /* RECUR_RNN_ENGINE_H */
