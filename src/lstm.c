/* The LSTM primitive: one layer over a whole sequence, forward and backward.
 *
 * Forward:  per step t: Z_t = x_t W + h_{t-1} U; gate kernel (adds b,
 *           activates, updates c and h).
 * Backward: per step t, from T-1 down: gate kernel turns the saved gates into
 *           dZ_t in place; dh_{t-1} = dZ_t U^T, dx_t = dZ_t W^T. Then over all
 *           steps at once: dW = X^T dZ, dU = Hprev^T dZ, db = sum_rows dZ.
 * The per-step products are small ([B/threads x I+H] x [I+H x 4H]). Where the
 * kernel set has a register-blocked GEMM, each call first packs the weights
 * into that kernel's panels (kernels.h), once for all T steps: forward each
 * gate block of [W; U], backward U^T and W^T. A panel walk reads contiguous
 * memory, so the kernel runs near the FMA peak at every H (reading U in place
 * fell to half of it at H = 1024: one TLB entry per row of U). When W and U
 * outgrow the caches (fuse_input), x_t W and dZ_t W^T leave the time loop for
 * one big dnnl_sgemm each over all T steps. Sets without a GEMM kernel
 * (scalar, NEON) do the same with dnnl_sgemm on U as it is.
 * In the time loop threads split the batch (each runs its rows through every
 * step, no barrier) or, for small batches, the hidden units (see
 * use_unit_split). The big GEMMs are split over threads by output block.
 *
 * Training workspace (64-byte aligned regions), for backward:
 *   gates [T][B][4H]   i, f, g, o after activation; backward overwrites with dZ
 *   hs    [T+1][B][H]  h0 (or zeros), then h_t of every step
 *   cs    [T+1][B][H]  c0 (or zeros), then c_t of every step
 *   dh,dc [B][H]       the recurrent gradients carried between steps
 *   up                 the packed weights: the larger of forward's 4H' x (I+H)
 *                      and backward's 4H x (H' + I') (' = rounded up to 32) */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    int64_t T, B, I, H, G; /* G = 4H */
    int relu;
    size_t gates, hs, cs, dh, dc, up, ws_size; /* byte offsets into the workspace, its size */
    size_t scratch_up, scratch_size; /* inference: Z [T][B][4H], c [B][H], packed [W; U] */
} lstm_shape;

/* sum of 64-byte-rounded float arrays; 0 on overflow */
static int add_floats(size_t *total, size_t a, size_t b) {
    size_t n, bytes;
    if (!recur_mul(a, b, &n) || !recur_mul(n, sizeof(float), &bytes)) return 0;
    bytes = recur_round_up(bytes);
    if (bytes == 0 || *total > PTRDIFF_MAX - bytes) return 0;
    *total += bytes;
    return 1;
}

static recur_status lstm_shape_init(const recur_lstm_desc *d, lstm_shape *s, const char *fn) {
    if (!d) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: descriptor d is NULL", fn);
    const struct {
        const char *name;
        int v;
    } dims[] = {{"seq_len (T)", d->seq_len},
                {"batch (B)", d->batch},
                {"input_size (I)", d->input_size},
                {"hidden_size (H)", d->hidden_size}};
    for (size_t k = 0; k < 4; k++)
        if (dims[k].v <= 0)
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s must be positive, got %d", fn,
                              dims[k].name, dims[k].v);
    if (d->activation != RECUR_ACT_TANH && d->activation != RECUR_ACT_RELU)
        return recur_fail(RECUR_ERR_UNSUPPORTED,
                          "%s: activation %d is not supported by the LSTM (use RECUR_ACT_TANH "
                          "or RECUR_ACT_RELU)",
                          fn, (int)d->activation);
    s->T = d->seq_len, s->B = d->batch, s->I = d->input_size, s->H = d->hidden_size;
    s->G = 4 * s->H;
    s->relu = d->activation == RECUR_ACT_RELU;
    size_t T = (size_t)s->T, B = (size_t)s->B, I = (size_t)s->I, H = (size_t)s->H;
    size_t TB, TB1, G = 4 * H, ws = 0, scratch = 0, unused = 0;
    /* packed weights, panels up to 32 wide: forward [W; U] per gate block,
     * 4H' x (I+H); backward U^T and W^T, 4H x (H' + I') (' = rounded to 32) */
    size_t Hp = (H + 31) / 32 * 32, Ip = (I + 31) / 32 * 32, pf, pb, packed;
    int ok = recur_mul(T, B, &TB) && recur_mul(T + 1, B, &TB1) && recur_mul(4 * Hp, I + H, &pf) &&
             recur_mul(G, Hp + Ip, &pb);
    packed = pf > pb ? pf : pb;
    /* the caller's arrays (x, y, W, U) must be addressable too */
    ok = ok && add_floats(&unused, TB, I) && add_floats(&unused, TB, H) &&
         add_floats(&unused, I, G) && add_floats(&unused, H, G);
    s->gates = ws, ok = ok && add_floats(&ws, TB, G);
    s->hs = ws, ok = ok && add_floats(&ws, TB1, H);
    s->cs = ws, ok = ok && add_floats(&ws, TB1, H);
    s->dh = ws, ok = ok && add_floats(&ws, B, H);
    s->dc = ws, ok = ok && add_floats(&ws, B, H);
    s->up = ws, ok = ok && add_floats(&ws, packed, 1);
    ok = ok && add_floats(&scratch, TB, G) && add_floats(&scratch, B, H);
    s->scratch_up = scratch, ok = ok && add_floats(&scratch, pf, 1);
    if (!ok)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: sizes T=%d B=%d I=%d H=%d overflow the address space", fn,
                          d->seq_len, d->batch, d->input_size, d->hidden_size);
    s->ws_size = ws;
    s->scratch_size = scratch;
    return RECUR_OK;
}

size_t recur_lstm_workspace_size(const recur_lstm_desc *d) {
    lstm_shape s;
    return lstm_shape_init(d, &s, "recur_lstm_workspace_size") ? 0 : s.ws_size;
}

size_t recur_lstm_inference_scratch_size(const recur_lstm_desc *d) {
    lstm_shape s;
    return lstm_shape_init(d, &s, "recur_lstm_inference_scratch_size") ? 0 : s.scratch_size;
}

static recur_status need(const void *p, const char *fn, const char *name) {
    return p ? RECUR_OK : recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, name);
}

static recur_status check_workspace(const void *ws, const char *fn) {
    if ((uintptr_t)ws % RECUR_ALIGN)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: workspace %p is not 64-byte aligned", fn, ws);
    return RECUR_OK;
}

/* Forward packing: gate block q of [W; U] (columns [qH, qH+H), rows I of W
 * then H of U) becomes np = ceil(H/nr) panels of I+H rows; panel P = q*np + p,
 * for P in [p0, p1). */
static void pack_wu(const float *W, const float *U, int64_t I, int64_t H, int64_t nr, float *up,
                    int64_t p0, int64_t p1) {
    const int64_t np = (H + nr - 1) / nr, G = 4 * H, K = I + H;
    for (int64_t P = p0; P < p1; P++) {
        const int64_t q = P / np, j0 = (P % np) * nr, w = H - j0 < nr ? H - j0 : nr;
        float *dst = up + P * K * nr;
        for (int64_t k = 0; k < K; k++) {
            const float *src = (k < I ? W + k * G : U + (k - I) * G) + q * H + j0;
            memcpy(dst + k * nr, src, (size_t)w * sizeof(float));
            memset(dst + k * nr + w, 0, (size_t)(nr - w) * sizeof(float));
        }
    }
}

/* Backward packing: the transpose of A [n][4H] (U or W: column j of A^T is
 * row j of A) becomes ceil(n/nr) panels of 4H rows; panels [p0, p1). Done in
 * blocks of 8 source rows x 16 columns: rows of A lie a multiple of 2 KiB apart
 * at the usual H, so more of them at once would overfill their L1 sets. */
static void pack_t(const float *A, int64_t n, int64_t G, int64_t nr, float *dst0, int64_t p0,
                   int64_t p1) {
    for (int64_t P = p0; P < p1; P++) {
        const int64_t j0 = P * nr, w = n - j0 < nr ? n - j0 : nr;
        float *dst = dst0 + P * G * nr;
        if (w < nr) memset(dst, 0, (size_t)(G * nr) * sizeof(float));
        for (int64_t b0 = 0; b0 < w; b0 += 8) {
            const int64_t b1 = b0 + 8 < w ? b0 + 8 : w;
            for (int64_t k0 = 0; k0 < G; k0 += 16) {
                const int64_t k1 = k0 + 16 < G ? k0 + 16 : G;
                for (int64_t k = k0; k < k1; k++)
                    for (int64_t jj = b0; jj < b1; jj++) dst[k * nr + jj] = A[(j0 + jj) * G + k];
            }
        }
    }
}

/* this thread's share of n panels */
static void my_panels(int64_t n, int64_t *p0, int64_t *p1) {
    recur_split(n, omp_get_num_threads(), omp_get_thread_num(), p0, p1);
}

/* Which part of each time step a thread owns: batch rows [r0, r1) and hidden
 * units [j0, j1). Threads split the batch (each runs its rows through every
 * step, no barrier) unless that leaves fewer than 4 rows each: then they split
 * the hidden units and meet at a barrier after each step. With U packed, the
 * batch split won or tied at every H measured down to 4 rows a thread (2
 * threads, H = 512: 94.5 vs 105 ms at B = 64, 24.8 vs 27.9 ms at B = 16;
 * H = 1024, B = 64: 375 vs 395 ms); at 2 rows a thread the unit split won
 * (7.5 vs 8.3 ms). RECUR_LSTM_SPLIT=rows|units forces one (tests). */
typedef struct {
    int64_t r0, r1, j0, j1;
} lstm_block;

static int use_unit_split(const lstm_shape *s, int nt, int64_t nr) {
    int forced = recur_lstm_split_override();
    if (forced) return forced == 2 && nt > 1 && s->H > nr;
    return nt > 1 && s->H >= nr * nt && s->B < 4 * nt;
}

/* Whether the per-step GEMM also takes the input: Z_t = [x_t | h_{t-1}] [W; U]
 * forward and [dh_{t-1} | dx_t] = dZ_t [U^T | W^T] backward, instead of one
 * big GEMM each for X W and dZ W^T. Z_t then never goes to memory and back
 * between the two products, but every thread streams W as well as U each step:
 * a win while they fit a core's L2 (tutorial shapes, 1-3%) or, up to 8 MiB,
 * while a thread has 16 or more batch rows to spend each pass on (2 threads,
 * H = 512: B = 64 98.2 vs 99.4 ms, B = 32 49.2 vs 50.1, but B = 16 27.4 vs
 * 26.6); a loss past that (H = 1024, B = 16: 108 vs 98 ms).
 * RECUR_LSTM_FUSE=0|1 forces it (tests). */
static int fuse_input(const lstm_shape *s, int nt, int units) {
    const int forced = recur_lstm_fuse_override();
    if (forced >= 0) return forced;
    const size_t bytes = (size_t)(s->I + s->H) * (size_t)s->G * sizeof(float);
    /* batch rows a thread runs against all of W and U per step */
    const int64_t rows = units ? s->B * nt : (s->B + nt - 1) / nt;
    return bytes <= ((size_t)1 << 20) || (bytes <= ((size_t)8 << 20) && rows >= 16);
}

/* threads for the time loop, and this thread's block */
static int loop_threads(const lstm_shape *s, int nt, int units, int64_t nr) {
    int64_t parts = units ? (s->H + nr - 1) / nr : s->B;
    return nt < parts ? nt : (int)parts;
}

/* Unit blocks are whole panels of the packed GEMM (16 floats without one),
 * so every thread's columns start at a panel. */
static lstm_block my_block(const lstm_shape *s, int units, int64_t nr) {
    const int n = omp_get_num_threads(), k = omp_get_thread_num();
    lstm_block bl = {0, s->B, 0, s->H};
    if (units) {
        recur_split((s->H + nr - 1) / nr, n, k, &bl.j0, &bl.j1);
        bl.j0 *= nr, bl.j1 = bl.j1 * nr < s->H ? bl.j1 * nr : s->H;
    } else {
        recur_split(s->B, n, k, &bl.r0, &bl.r1);
    }
    return bl;
}

/* dst[r][j0..j1) = src ? src[r][j0..j1) : 0 for r in [r0, r1), rows of H floats */
static void copy_block(float *dst, const float *src, const lstm_block *bl, int64_t H) {
    for (int64_t r = bl->r0; r < bl->r1; r++) {
        size_t n = (size_t)(bl->j1 - bl->j0) * sizeof(float);
        if (src) memcpy(dst + r * H + bl->j0, src + r * H + bl->j0, n);
        else memset(dst + r * H + bl->j0, 0, n);
    }
}

/* How a call runs its time loop; forward and backward decide alike. */
typedef struct {
    f32_gemm_packed_fn gemm; /* the set's packed GEMM, or NULL: dnnl_sgemm */
    int64_t nr;              /* its panel width (16 without one) */
    int nt, units, fuse;     /* threads; use_unit_split; fuse_input */
} lstm_plan;

static lstm_plan plan_of(const lstm_shape *s, const simd_kernels *kern) {
    lstm_plan p = {kern->gemm, kern->gemm ? (int64_t)kern->gemm_nr : 16, recur_threads(), 0, 0};
    p.units = use_unit_split(s, p.nt, p.nr);
    p.fuse = p.gemm && fuse_input(s, p.nt, p.units);
    return p;
}

recur_status recur_lstm_forward(const recur_lstm_desc *d, const float *W, const float *U,
                                const float *b, const float *x, const float *h0, const float *c0,
                                float *y, float *hT, float *cT, void *workspace) {
    static const char fn[] = "recur_lstm_forward";
    lstm_shape s;
    recur_status st;
    if ((st = lstm_shape_init(d, &s, fn)) || (st = need(W, fn, "W")) || (st = need(U, fn, "U")) ||
        (st = need(b, fn, "b")) || (st = need(x, fn, "x")) || (st = need(y, fn, "y")) ||
        (st = check_workspace(workspace, fn)))
        return st;

    const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = s.G;
    const int train = workspace != NULL, relu = s.relu;
    char *ws = workspace;
    float *scratch = NULL, *z, *hs = NULL, *cs;
    if (train) {
        z = (float *)(ws + s.gates), hs = (float *)(ws + s.hs), cs = (float *)(ws + s.cs);
    } else {
        scratch = aligned_alloc(RECUR_ALIGN, s.scratch_size);
        if (!scratch)
            return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch",
                              fn, s.scratch_size);
        z = scratch;
        cs = (float *)((char *)scratch + recur_round_up((size_t)(T * B * G) * sizeof(float)));
    }
    const simd_kernels *kern = recur_kernels();
    const lstm_postgemm_fwd_fn gate_fwd = kern->lstm_fwd;
    const lstm_plan pl = plan_of(&s, kern);
    const f32_gemm_packed_fn gemm = pl.gemm;
    const int64_t nr = pl.nr, np = (H + nr - 1) / nr;
    const int nt = pl.nt, units = pl.units, fuse = pl.fuse;
    float *up = train ? (float *)(ws + s.up) : (float *)((char *)scratch + s.scratch_up);
    const int64_t Ix = fuse ? I : 0; /* rows of W in the packed panels */
    /* unless fused: x W for all steps first, one dnnl_sgemm */
    int err = fuse ? 0 : recur_sgemm_par(nt, 'N', 'N', T * B, G, I, 1.0f, x, I, W, G, 0.0f, z, G);
    if (!err) {
#pragma omp parallel num_threads(loop_threads(&s, nt, units, nr))
        {
            recur_omp_enter();
            if (gemm) {
                int64_t p0, p1;
                my_panels(4 * np, &p0, &p1);
                pack_wu(W, U, Ix, H, nr, up, p0, p1);
#pragma omp barrier
            }
            const lstm_block bl = my_block(&s, units, nr);
            const int64_t nrow = bl.r1 - bl.r0, nj = bl.j1 - bl.j0, o = bl.r0 * H + bl.j0;
            /* training: h_t and c_t kept per step; inference: c updated in place */
            if (train) copy_block(hs, h0, &bl, H);
            copy_block(cs, c0, &bl, H);
            for (int64_t t = 0; t < T && nrow > 0 && nj > 0; t++) {
                float *zt = z + (t * B + bl.r0) * G + bl.j0;
                const float *hp; /* all units of h_{t-1}, rows r0..; NULL: zeros */
                if (t == 0) hp = h0 ? h0 + bl.r0 * H : NULL;
                else hp = train ? hs + (t * B + bl.r0) * H : y + ((t - 1) * B + bl.r0) * H;
                /* Z_t = [x_t | h_{t-1}] [W; U] (fused) or Z_t += h_{t-1} U for this
                 * block, one gate at a time */
                const float *xt = x + (t * B + bl.r0) * I;
                int e = 0;
                for (int64_t q = 0; q < 4; q++) {
                    float *zq = zt + q * H;
                    if (gemm && (fuse || hp))
                        gemm((size_t)nrow, (size_t)nj, (size_t)Ix, xt, (size_t)I, hp ? (size_t)H : 0,
                             hp, (size_t)H, up + (q * np + bl.j0 / nr) * (Ix + H) * nr, zq,
                             (size_t)G, !fuse);
                    else if (hp && !e)
                        e = recur_sgemm('N', 'N', nrow, nj, H, 1.0f, hp, H, U + q * H + bl.j0, G,
                                        1.0f, zq, G);
                }
                if (e) {
#pragma omp atomic write
                    err = e;
                }
                float *yt = y + t * B * H + o;
                if (train) {
                    gate_fwd((size_t)nrow, (size_t)nj, (size_t)H, relu, zt, b + bl.j0,
                             cs + t * B * H + o, cs + (t + 1) * B * H + o,
                             hs + (t + 1) * B * H + o, yt);
                } else {
                    gate_fwd((size_t)nrow, (size_t)nj, (size_t)H, relu, zt, b + bl.j0, cs + o, cs + o,
                             yt, NULL);
                }
                if (units) {
#pragma omp barrier
                }
            }
            if (hT) copy_block(hT, y + (T - 1) * B * H, &bl, H);
            if (cT) copy_block(cT, train ? cs + T * B * H : cs, &bl, H);
        }
    }
    free(scratch);
    return err ? recur_gemm_fail(err, fn) : RECUR_OK;
}

recur_status recur_lstm_backward(const recur_lstm_desc *d, const float *W, const float *U,
                                 const float *b, const float *x, const float *h0, const float *c0,
                                 const float *dy, const float *dhT, const float *dcT, float *dx,
                                 float *dh0, float *dc0, float *dW, float *dU, float *db,
                                 void *workspace) {
    static const char fn[] = "recur_lstm_backward";
    (void)h0, (void)c0; /* the training forward saved them in the workspace */
    lstm_shape s;
    recur_status st;
    if ((st = lstm_shape_init(d, &s, fn)) || (st = need(W, fn, "W")) || (st = need(U, fn, "U")) ||
        (st = need(b, fn, "b")) || (st = need(x, fn, "x")) || (st = need(dW, fn, "dW")) ||
        (st = need(dU, fn, "dU")) || (st = need(db, fn, "db")) ||
        (st = need(workspace, fn, "workspace")) || (st = check_workspace(workspace, fn)))
        return st;

    const int64_t T = s.T, B = s.B, I = s.I, H = s.H, G = s.G;
    const int relu = s.relu;
    char *ws = workspace;
    float *dz = (float *)(ws + s.gates), *hs = (float *)(ws + s.hs), *cs = (float *)(ws + s.cs);
    float *dh = (float *)(ws + s.dh), *dc = (float *)(ws + s.dc);
    const simd_kernels *kern = recur_kernels();
    const lstm_postgemm_bwd_fn gate_bwd = kern->lstm_bwd;
    const lstm_plan pl = plan_of(&s, kern);
    const f32_gemm_packed_fn gemm = pl.gemm;
    const int64_t nr = pl.nr;
    const int nt = pl.nt, units = pl.units, fuse = pl.fuse;
    /* panels of U^T, and of W^T when dx is computed step by step */
    const int64_t nph = (H + nr - 1) / nr, npi = fuse ? (I + nr - 1) / nr : 0;
    float *upu = (float *)(ws + s.up), *upw = upu + nph * nr * G;
    int err = 0;

#pragma omp parallel num_threads(loop_threads(&s, nt, units, nr))
    {
        recur_omp_enter();
        int64_t p0, p1, i0 = 0, i1 = I; /* columns of dx this thread computes per step */
        if (gemm) {
            my_panels(nph + npi, &p0, &p1);
            pack_t(U, H, G, nr, upu, p0, p1 < nph ? p1 : nph);
            pack_t(W, I, G, nr, upw, (p0 > nph ? p0 : nph) - nph, p1 - nph);
            if (units) { /* all rows: a share of dx's column panels */
                my_panels(npi, &i0, &i1);
                i0 *= nr, i1 = i1 * nr < I ? i1 * nr : I;
            }
        }
        const lstm_block bl = my_block(&s, units, nr);
        const int64_t nrow = bl.r1 - bl.r0, nj = bl.j1 - bl.j0, o = bl.r0 * H + bl.j0;
        copy_block(dh, dhT, &bl, H);
        copy_block(dc, dcT, &bl, H);
#pragma omp barrier
        for (int64_t t = T - 1; t >= 0 && nrow > 0 && nj > 0; t--) {
            float *gt = dz + (t * B + bl.r0) * G;
            gate_bwd((size_t)nrow, (size_t)nj, (size_t)H, relu, gt + bl.j0, cs + (t + 1) * B * H + o,
                     cs + t * B * H + o, dy ? dy + t * B * H + o : NULL, dh + o, dc + o);
            if (units) {
#pragma omp barrier
            }
            /* dh_{t-1}[rows][units] = dZ_t[rows][all 4H] U^T[4H][units] */
            if (t > 0 || dh0) {
                if (gemm) {
                    gemm((size_t)nrow, (size_t)nj, (size_t)G, gt, (size_t)G, 0, NULL, 0,
                         upu + bl.j0 * G, dh + o, (size_t)H, 0);
                } else {
                    int e = recur_sgemm('N', 'T', nrow, nj, G, 1.0f, gt, G, U + bl.j0 * G, G,
                                        0.0f, dh + o, H);
                    if (e) {
#pragma omp atomic write
                        err = e;
                    }
                }
            }
            /* dx_t[rows][i0..i1) = dZ_t W^T, while dZ_t is in cache (else one GEMM below) */
            if (fuse && dx && i1 > i0)
                gemm((size_t)nrow, (size_t)(i1 - i0), (size_t)G, gt, (size_t)G, 0, NULL, 0,
                     upw + i0 * G, dx + (t * B + bl.r0) * I + i0, (size_t)I, 0);
            /* no second barrier: each thread reads back only the units of dh it wrote */
        }
        if (dh0) copy_block(dh0, dh, &bl, H);
        if (dc0) copy_block(dc0, dc, &bl, H);
    }
    if (err) return recur_gemm_fail(err, fn);

    const int64_t TB = T * B;
    /* dW = X^T dZ and dU = Hprev^T dZ as one stacked [I+H][4H] output whose
     * rows the threads split (whole rows: every thread's GEMMs keep N = 4H),
     * then db = column sums of dZ, columns split in 16-float blocks; one
     * parallel region for all three */
    const int64_t blocks = (G + 15) / 16;
#pragma omp parallel num_threads(nt < blocks ? nt : (int)blocks)
    {
        recur_omp_enter();
        const int n = omp_get_num_threads(), k = omp_get_thread_num();
        int64_t r0, r1, lo, hi;
        recur_split(I + H, n, k, &r0, &r1);
        int e = 0;
        if (r0 < I) {
            const int64_t e1 = r1 < I ? r1 : I;
            e = recur_sgemm('T', 'N', e1 - r0, G, TB, 1.0f, x + r0, I, dz, G, 0.0f, dW + r0 * G, G);
        }
        if (r1 > I && !e) {
            const int64_t a = (r0 > I ? r0 : I) - I, b = r1 - I;
            e = recur_sgemm('T', 'N', b - a, G, TB, 1.0f, hs + a, H, dz, G, 0.0f, dU + a * G, G);
        }
        if (e) {
#pragma omp atomic write
            err = e;
        }
        recur_split(blocks, n, k, &lo, &hi);
        lo *= 16, hi = hi * 16 < G ? hi * 16 : G;
        if (lo < hi) {
            memcpy(db + lo, dz + lo, (size_t)(hi - lo) * sizeof(float));
            for (int64_t r = 1; r < TB; r++) {
                const float *row = dz + r * G;
                for (int64_t j = lo; j < hi; j++) db[j] += row[j];
            }
        }
    }
    if (err) return recur_gemm_fail(err, fn);
    if (dx && !fuse &&
        (err = recur_sgemm_par(nt, 'N', 'T', TB, I, G, 1.0f, dz, G, W, G, 0.0f, dx, I)))
        return recur_gemm_fail(err, fn);
    return RECUR_OK;
}
