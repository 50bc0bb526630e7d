/* The LSTM primitive on the recurrent engine (rnn_engine.h).
 *
 * Forward:  per step t: Z_t = x_t W + h_{t-1} U; gate kernel (adds b,
 *           activates, updates c and h).
 * Backward: per step t, from T-1 down: gate kernel turns the saved gates into
 *           dZ_t in place; dh_{t-1} = dZ_t U^T, dx_t = dZ_t W^T. Then over all
 *           steps at once: dW = X^T dZ, dU = Hprev^T dZ, db = sum_rows dZ.
 * Weights are packed once per call into the GEMM's panels: forward each gate
 * block of [W; U] (or of U when the input product is hoisted), backward U^T
 * and W^T. A panel walk reads contiguous memory, so the kernel runs near the
 * FMA peak at every H (reading U in place fell to half of it at H = 1024: one
 * TLB entry per row of U).
 *
 * Training workspace (64-byte aligned regions), for backward:
 *   gates [T][B][ld]   i, f, g, o after activation (4H columns in rows of ld
 *                      floats, rnn_tape_ld); backward overwrites with dZ
 *   hs    [T+1][B][H]  h0 (or zeros), then h_t of every step
 *   cs    [T+1][B][H]  c0 (or zeros), then c_t of every step
 *   dh,dc [B][H]       the recurrent gradients carried between steps
 *   mk    [B][H]       masked rows (d->mask): backward's saved dc_t, then dh_t + dy_t
 *   up                 the packed weights (rnn_packed_floats)
 * Inference scratch: Z [T][B][ld] (only one step's [B][ld] when the plan
 * takes the input into the step), c [B][H] (updated in place, y is the h
 * tape), h0 [B][H], mk [B][H] (masked rows' c_{t-1} while the kernel runs),
 * the packed weights.
 *
 * Masks (rnn_step_mask): a step whose block has masked rows runs as usual,
 * then the masked rows get the carried states back: forward h_t = h_{t-1},
 * c_t = c_{t-1}, y_t = h_{t-1}; backward dZ_t = 0, dc_{t-1} = dc_t and, after
 * the dh product, dh_{t-1} = dh_t + dy_t. */
#include <stdlib.h>
#include <string.h>

#include "rnn_engine.h"

typedef struct {
    rnn_dims d;
    int64_t ld;                                    /* row stride of the gates (rnn_tape_ld) */
    size_t gates, hs, cs, dh, dc, mk, up, ws_size; /* byte offsets into the workspace, its size */
    size_t scratch_c, scratch_h0, scratch_mk, scratch_up,
        scratch_size; /* inference: Z [T][B][ld], c, h0, mk [B][H], packed */
} lstm_shape;

static recur_status lstm_shape_init(const recur_lstm_desc *d, lstm_shape *s, const char *fn) {
    if (!d) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: descriptor d is NULL", fn);
    recur_status st = rnn_dims_init(&s->d, d->seq_len, d->batch, d->input_size, d->hidden_size,
                                    d->activation, fn, "LSTM");
    if (st) return st;
    const size_t T = (size_t)d->seq_len, B = (size_t)d->batch, I = (size_t)d->input_size,
                 H = (size_t)d->hidden_size, packed = rnn_packed_floats(&s->d, 4);
    rnn_layout ws = {0, packed != 0}, sc = {0, packed != 0}, callers = {0, 1};
    /* the caller's arrays (x, y, W, U) must be addressable too */
    rnn_layout_add(&callers, T * B, I), rnn_layout_add(&callers, T * B, H);
    rnn_layout_add(&callers, I, 4 * H), rnn_layout_add(&callers, H, 4 * H);
    s->ld = rnn_tape_ld(4 * (int64_t)d->hidden_size);
    s->gates = rnn_layout_add(&ws, T * B, (size_t)s->ld);
    s->hs = rnn_layout_add(&ws, (T + 1) * B, H);
    s->cs = rnn_layout_add(&ws, (T + 1) * B, H);
    s->dh = rnn_layout_add(&ws, B, H);
    s->dc = rnn_layout_add(&ws, B, H);
    s->mk = rnn_layout_add(&ws, B, H);
    s->up = rnn_layout_add(&ws, packed, 1);
    rnn_layout_add(&sc, T * B, (size_t)s->ld);
    s->scratch_c = rnn_layout_add(&sc, B, H);
    s->scratch_h0 = rnn_layout_add(&sc, B, H);
    s->scratch_mk = rnn_layout_add(&sc, B, H);
    s->scratch_up = rnn_layout_add(&sc, packed, 1);
    if (!ws.ok || !sc.ok || !callers.ok || T + 1 < T) return rnn_layout_fail(&s->d, fn);
    s->ws_size = ws.size;
    s->scratch_size = sc.size;
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

/* What the step functions of one call share. */
typedef struct {
    const rnn_dims *d;
    const rnn_plan *p;
    const simd_kernels *k;
    const float *W, *U, *b, *x, *h0, *c0, *dy, *dhT, *dcT;
    float *z, *hs, *cs, *y, *hT, *cT, *up, *upw; /* hs NULL: inference */
    float *h0z;                                  /* inference: h0, or zeros */
    float *dx, *dh, *dc, *dh0, *dc0;
    const unsigned char *mask; /* [T][B] or NULL */
    float *mk;                 /* [B][H]: masked rows' saved state */
    int64_t Ix;                /* rows of W in the forward panels */
    int64_t L;                 /* row stride of z (the shape's ld) */
} lstm_call;

/* ---- Forward ---------------------------------------------------------------- */

static void fwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const lstm_call *c = ctx;
    rnn_pack_blocks(c->W, c->Ix, c->U, c->d->H, 4 * c->d->H, c->d->H, 4, c->p->nr, c->up, p0, p1);
}

static void fwd_begin(void *ctx, const rnn_block *bl) {
    const lstm_call *c = ctx;
    rnn_copy_block(c->hs ? c->hs : c->h0z, c->h0, bl, c->d->H);
    rnn_copy_block(c->cs, c->c0, bl, c->d->H);
}

/* Z_t = [x_t | h_{t-1}] [W; U] (fused) or Z_t += h_{t-1} U for this block, one
 * gate block at a time; then the gate kernel */
static void fwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const lstm_call *c = ctx;
    const int64_t B = c->d->B, I = c->d->I, H = c->d->H, L = c->L, nr = c->p->nr;
    const int64_t np = (H + nr - 1) / nr, Ix = c->Ix, nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0;
    const int64_t o = bl->r0 * H + bl->j0;
    const int train = c->hs != NULL;
    float *zt = c->z + (c->p->one_step ? 0 : t * B * L) + bl->r0 * L + bl->j0;
    const float *hp = rnn_h_prev(c->hs, c->y, c->h0z, t, B, H) + bl->r0 * H; /* all units */
    const float *xt = c->x + (t * B + bl->r0) * I;
    for (int64_t q = 0; q < 4; q++)
        c->p->gemm((size_t)nrow, (size_t)nj, (size_t)Ix, xt, (size_t)I, (size_t)H, hp, (size_t)H,
                   c->up + (q * np + bl->j0 / nr) * (Ix + H) * nr, zt + q * H, (size_t)L,
                   !c->p->fuse);
    float *yt = c->y + t * B * H + o;
    const unsigned char *m = rnn_step_mask(c->mask, t, B, bl);
    if (train) {
        c->k->lstm_fwd((size_t)nrow, (size_t)nj, (size_t)H, (size_t)L, c->d->relu, zt,
                       c->b + bl->j0, c->cs + t * B * H + o, c->cs + (t + 1) * B * H + o,
                       c->hs + (t + 1) * B * H + o, yt);
        if (m) { /* masked rows: h_t, c_t, y_t = h_{t-1}, c_{t-1}, h_{t-1} */
            rnn_mask_copy(c->hs + (t + 1) * B * H, c->hs + t * B * H, NULL, m, bl, H);
            rnn_mask_copy(c->cs + (t + 1) * B * H, c->cs + t * B * H, NULL, m, bl, H);
            rnn_mask_copy(c->y + t * B * H, c->hs + t * B * H, NULL, m, bl, H);
        }
    } else {
        if (m) rnn_mask_copy(c->mk, c->cs, NULL, m, bl, H); /* c is updated in place */
        c->k->lstm_fwd((size_t)nrow, (size_t)nj, (size_t)H, (size_t)L, c->d->relu, zt,
                       c->b + bl->j0, c->cs + o, c->cs + o, yt, NULL);
        if (m) {
            rnn_mask_copy(c->cs, c->mk, NULL, m, bl, H);
            rnn_mask_copy(c->y + t * B * H, rnn_h_prev(NULL, c->y, c->h0z, t, B, H), NULL, m, bl,
                          H);
        }
    }
    rnn_sync(bl); /* the next step's product reads every unit of h_t */
}

static void fwd_end(void *ctx, const rnn_block *bl) {
    const lstm_call *c = ctx;
    const int64_t B = c->d->B, H = c->d->H, T = c->d->T;
    if (c->hT) rnn_copy_block(c->hT, c->y + (T - 1) * B * H, bl, H);
    if (c->cT) rnn_copy_block(c->cT, c->hs ? c->cs + T * B * H : c->cs, bl, H);
}

/* A training forward (workspace) or an inference forward (scratch, or one
 * allocated for the call when both are NULL). Inference only: packed, weights
 * from recur_lstm_pack_weights instead of W and U; keep, the scratch's panels
 * still hold W and U as the previous inference call with the same sizes packed
 * them (the model's batches of one predict). Either skips the packing. */
static recur_status lstm_forward(const char *fn, const recur_lstm_desc *d, const float *W,
                                 const float *U, const float *b, const float *x, const float *h0,
                                 const float *c0, float *y, float *hT, float *cT, void *workspace,
                                 void *user_scratch, const void *packed, int keep) {
    lstm_shape s;
    recur_status st;
    if ((st = lstm_shape_init(d, &s, fn)) ||
        (st = packed ? rnn_check_aligned(packed, fn, "packed") : rnn_need(W, fn, "W")) ||
        (st = packed ? RECUR_OK : rnn_need(U, fn, "U")) || (st = rnn_need(b, fn, "b")) ||
        (st = rnn_need(x, fn, "x")) || (st = rnn_need(y, fn, "y")) ||
        (st = rnn_check_aligned(workspace, fn, "workspace")) ||
        (st = rnn_check_aligned(user_scratch, fn, "scratch")))
        return st;
    const int64_t T = s.d.T, B = s.d.B, I = s.d.I, H = s.d.H, G = 4 * H;
    const simd_kernels *k = recur_kernels();
    const rnn_plan p = rnn_plan_of(&s.d, G, k, workspace ? RNN_TRAIN_FORWARD : RNN_INFERENCE);
    const float *panels = NULL;
    if (packed && (st = rnn_prepacked_open(packed, RNN_CELL_LSTM, 0, &s.d, &p, fn, &panels, &W)))
        return st;
    char *mem = workspace;
    float *scratch = user_scratch, *owned = NULL;
    if (!mem && !scratch) {
        scratch = owned = aligned_alloc(RECUR_ALIGN, s.scratch_size);
        if (!scratch)
            return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch",
                              fn, s.scratch_size);
    }
    lstm_call c = {.d = &s.d,
                   .p = &p,
                   .k = k,
                   .L = s.ld,
                   .W = W,
                   .U = U,
                   .b = b,
                   .x = x,
                   .h0 = h0,
                   .c0 = c0,
                   .y = y,
                   .hT = hT,
                   .cT = cT,
                   .mask = d->mask,
                   .Ix = p.fuse ? I : 0};
    if (mem) {
        c.z = (float *)(mem + s.gates), c.hs = (float *)(mem + s.hs);
        c.cs = (float *)(mem + s.cs), c.up = (float *)(mem + s.up);
    } else {
        c.z = scratch, c.cs = (float *)((char *)scratch + s.scratch_c);
        c.h0z = (float *)((char *)scratch + s.scratch_h0);
        c.mk = (float *)((char *)scratch + s.scratch_mk);
        c.up = panels ? (float *)(uintptr_t)panels : (float *)((char *)scratch + s.scratch_up);
    }
    /* unless fused: x W for all steps first, one dnnl_sgemm */
    int err = p.fuse
                  ? 0
                  : recur_sgemm_par(p.nt, 'N', 'N', T * B, G, I, 1.0f, x, I, W, G, 0.0f, c.z, s.ld);
    if (!err) {
        const int repack = !packed && !keep;
        const rnn_loop loop = {repack ? 4 * ((H + p.nr - 1) / p.nr) : 0,
                               repack ? fwd_pack : NULL,
                               fwd_begin,
                               fwd_step,
                               fwd_end,
                               &c,
                               0};
        rnn_loop_run(&s.d, &p, &loop);
    }
    free(owned);
    return err ? recur_gemm_fail(err, fn) : RECUR_OK;
}

recur_status recur_lstm_forward(const recur_lstm_desc *d, const float *W, const float *U,
                                const float *b, const float *x, const float *h0, const float *c0,
                                float *y, float *hT, float *cT, void *workspace) {
    return lstm_forward("recur_lstm_forward", d, W, U, b, x, h0, c0, y, hT, cT, workspace, NULL,
                        NULL, 0);
}

recur_status recur_lstm_forward_inference(const recur_lstm_desc *d, const float *W, const float *U,
                                          const float *b, const float *x, const float *h0,
                                          const float *c0, float *y, float *hT, float *cT,
                                          void *scratch) {
    return lstm_forward("recur_lstm_forward_inference", d, W, U, b, x, h0, c0, y, hT, cT, NULL,
                        scratch, NULL, 0);
}

recur_status lstm_forward_inference_keep(const recur_lstm_desc *d, const float *W, const float *U,
                                         const float *b, const float *x, const float *h0,
                                         const float *c0, float *y, float *hT, float *cT,
                                         void *scratch, int keep) {
    return lstm_forward("recur_lstm_forward_inference", d, W, U, b, x, h0, c0, y, hT, cT, NULL,
                        scratch, NULL, keep && scratch);
}

size_t recur_lstm_packed_weights_size(const recur_lstm_desc *d) {
    lstm_shape s;
    if (lstm_shape_init(d, &s, "recur_lstm_packed_weights_size")) return 0;
    const rnn_plan p = rnn_plan_of(&s.d, 4 * s.d.H, recur_kernels(), RNN_INFERENCE);
    return rnn_prepacked_size(&s.d, RNN_CELL_LSTM, &p);
}

recur_status recur_lstm_pack_weights(const recur_lstm_desc *d, const float *W, const float *U,
                                     void *packed) {
    static const char fn[] = "recur_lstm_pack_weights";
    lstm_shape s;
    recur_status st;
    if ((st = lstm_shape_init(d, &s, fn)) || (st = rnn_prepacked_need(W, U, packed, fn))) return st;
    const int64_t I = s.d.I, H = s.d.H, G = 4 * H;
    const rnn_plan p = rnn_plan_of(&s.d, G, recur_kernels(), RNN_INFERENCE);
    lstm_call c = {.d = &s.d, .p = &p, .W = W, .U = U, .Ix = p.fuse ? I : 0};
    c.up = rnn_prepacked_init(packed, RNN_CELL_LSTM, 0, &s.d, &p, W);
    rnn_pack_run(&s.d, &p, 4 * ((H + p.nr - 1) / p.nr), fwd_pack, &c);
    return RECUR_OK;
}

recur_status recur_lstm_forward_packed(const recur_lstm_desc *d, const void *packed, const float *b,
                                       const float *x, const float *h0, const float *c0, float *y,
                                       float *hT, float *cT, void *scratch) {
    static const char fn[] = "recur_lstm_forward_packed";
    if (d && !packed) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: packed is NULL", fn);
    return lstm_forward(fn, d, NULL, NULL, b, x, h0, c0, y, hT, cT, NULL, scratch, packed, 0);
}

/* ---- Backward --------------------------------------------------------------- */

/* panels of U^T, then of W^T when dx is computed step by step */
static void bwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const lstm_call *c = ctx;
    const int64_t H = c->d->H, G = 4 * H, nph = (H + c->p->nr - 1) / c->p->nr;
    rnn_pack_t(c->U, H, G, 0, G, c->p->nr, c->up, p0, p1);
    rnn_pack_t(c->W, c->d->I, G, 0, G, c->p->nr, c->upw, p0 - nph, p1 - nph);
}

static void bwd_begin(void *ctx, const rnn_block *bl) {
    lstm_call *c = ctx;
    rnn_copy_block(c->dh, c->dhT, bl, c->d->H);
    rnn_copy_block(c->dc, c->dcT, bl, c->d->H);
}

static void bwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const lstm_call *c = ctx;
    const int64_t B = c->d->B, I = c->d->I, H = c->d->H, G = 4 * H, L = c->L;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    float *gt = c->z + (t * B + bl->r0) * L;
    const float *dyt = c->dy ? c->dy + t * B * H : NULL;
    const unsigned char *m = rnn_step_mask(c->mask, t, B, bl);
    if (m) rnn_mask_copy(c->mk, c->dc, NULL, m, bl, H); /* the kernel updates dc in place */
    c->k->lstm_bwd((size_t)nrow, (size_t)nj, (size_t)H, (size_t)L, c->d->relu, gt + bl->j0,
                   c->cs + (t + 1) * B * H + o, c->cs + t * B * H + o, dyt ? dyt + o : NULL,
                   c->dh + o, c->dc + o);
    if (m) { /* masked rows: dc_{t-1} = dc_t, dZ_t = 0; keep dh_t + dy_t for after the product */
        rnn_mask_copy(c->dc, c->mk, NULL, m, bl, H);
        rnn_mask_copy(c->mk, c->dh, dyt, m, bl, H);
        rnn_mask_zero(c->z + t * B * L, L, H, 4, m, bl);
    }
    rnn_sync(bl); /* the products read dZ_t of every unit */
    /* dh_{t-1}[rows][units] = dZ_t[rows][all 4H] U^T[4H][units] */
    if (t > 0 || c->dh0)
        c->p->gemm((size_t)nrow, (size_t)nj, (size_t)G, gt, (size_t)L, 0, NULL, 0,
                   c->up + bl->j0 * G, c->dh + o, (size_t)H, 0);
    /* dx_t = dZ_t W^T (else one GEMM after the loop) */
    if (c->p->fuse && c->dx)
        rnn_step_dx(c->p, bl, gt, G, L, c->upw, c->dx + (t * B + bl->r0) * I, I);
    if (m) rnn_mask_copy(c->dh, c->mk, NULL, m, bl, H); /* dh_{t-1} = dh_t + dy_t */
    /* no second barrier: each thread reads back only the units of dh it wrote */
}

static void bwd_end(void *ctx, const rnn_block *bl) {
    const lstm_call *c = ctx;
    if (c->dh0) rnn_copy_block(c->dh0, c->dh, bl, c->d->H);
    if (c->dc0) rnn_copy_block(c->dc0, c->dc, bl, c->d->H);
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
    if ((st = lstm_shape_init(d, &s, fn)) || (st = rnn_need(W, fn, "W")) ||
        (st = rnn_need(U, fn, "U")) || (st = rnn_need(b, fn, "b")) || (st = rnn_need(x, fn, "x")) ||
        (st = rnn_need(dW, fn, "dW")) || (st = rnn_need(dU, fn, "dU")) ||
        (st = rnn_need(db, fn, "db")) || (st = rnn_need(workspace, fn, "workspace")) ||
        (st = rnn_check_aligned(workspace, fn, "workspace")))
        return st;
    const int64_t T = s.d.T, B = s.d.B, I = s.d.I, H = s.d.H, G = 4 * H;
    char *mem = workspace;
    const simd_kernels *k = recur_kernels();
    const rnn_plan p = rnn_plan_of(&s.d, G, k, RNN_BACKWARD);
    const int64_t nph = (H + p.nr - 1) / p.nr, npi = p.fuse ? (I + p.nr - 1) / p.nr : 0;
    lstm_call c = {.d = &s.d,
                   .p = &p,
                   .k = k,
                   .L = s.ld,
                   .W = W,
                   .U = U,
                   .x = x,
                   .dy = dy,
                   .dhT = dhT,
                   .dcT = dcT,
                   .z = (float *)(mem + s.gates),
                   .hs = (float *)(mem + s.hs),
                   .cs = (float *)(mem + s.cs),
                   .up = (float *)(mem + s.up),
                   .dx = dx,
                   .dh = (float *)(mem + s.dh),
                   .dc = (float *)(mem + s.dc),
                   .dh0 = dh0,
                   .dc0 = dc0,
                   .mask = d->mask,
                   .mk = (float *)(mem + s.mk)};
    c.upw = c.up + nph * p.nr * G;
    const rnn_loop loop = {nph + npi, bwd_pack, bwd_begin, bwd_step, bwd_end, &c, 1};
    rnn_loop_run(&s.d, &p, &loop);

    const int64_t TB = T * B;
    const rnn_wgrad w[] = {{x, I, I, c.z, s.ld, G, dW, G}, {c.hs, H, H, c.z, s.ld, G, dU, G}};
    const rnn_bgrad bg[] = {{c.z, s.ld, G, db}};
    int err = rnn_weight_grads(p.nt, TB, w, 2, bg, 1);
    if (!err && dx && !p.fuse)
        err = recur_sgemm_par(p.nt, 'N', 'T', TB, I, G, 1.0f, c.z, s.ld, W, G, 0.0f, dx, I);
    return err ? recur_gemm_fail(err, fn) : RECUR_OK;
}
