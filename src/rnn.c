/* The SimpleRNN primitive on the recurrent engine (rnn_engine.h).
 *
 * Forward:  per step: Z_t = x_t W + h_{t-1} U (the input product fused into
 *           the step's GEMM or hoisted, as the LSTM's); h_t = act(Z_t + b).
 * Backward: per step from T-1 down: dZ_t = (dh + dy_t) act'(h_t) over Z_t;
 *           dh_{t-1} = dZ_t U^T, dx_t = dZ_t W^T. Then dW = X^T dZ,
 *           dU = Hprev^T dZ, db = sum_rows dZ.
 * Training workspace: z [T][B][H] (then dZ), hs [T+1][B][H] (h0 or zeros,
 * then every h_t), dh [B][H], mk [B][H] (masked rows' dh_t + dy_t in
 * backward), the packed weights.
 * Masks (rnn_step_mask): forward gives a step's masked rows h_t = y_t =
 * h_{t-1}; backward zeroes their dZ_t and, after the dh product, sets
 * dh_{t-1} = dh_t + dy_t. */
#include <stdlib.h>
#include <string.h>

#include "rnn_engine.h"

typedef struct {
    rnn_dims d;
    size_t z, hs, dh, mk, up, ws_size;
    size_t scratch_h0, scratch_up, scratch_size; /* inference: Z [T][B][H] (one step's when
                                                    joined), h0 [B][H], packed */
} rnn_shape;

static recur_status rnn_shape_init(const recur_rnn_desc *d, rnn_shape *s, const char *fn) {
    if (!d) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: descriptor d is NULL", fn);
    recur_status st = rnn_dims_init(&s->d, d->seq_len, d->batch, d->input_size, d->hidden_size,
                                    d->activation, fn, "SimpleRNN");
    if (st) return st;
    const size_t T = (size_t)d->seq_len, B = (size_t)d->batch, I = (size_t)d->input_size,
                 H = (size_t)d->hidden_size, packed = rnn_packed_floats(&s->d, 1);
    rnn_layout ws = {0, packed != 0}, sc = {0, packed != 0}, callers = {0, 1};
    rnn_layout_add(&callers, T * B, I), rnn_layout_add(&callers, T * B, H);
    rnn_layout_add(&callers, I, H), rnn_layout_add(&callers, H, H);
    s->z = rnn_layout_add(&ws, T * B, H);
    s->hs = rnn_layout_add(&ws, (T + 1) * B, H);
    s->dh = rnn_layout_add(&ws, B, H);
    s->mk = rnn_layout_add(&ws, B, H);
    s->up = rnn_layout_add(&ws, packed, 1);
    rnn_layout_add(&sc, T * B, H);
    s->scratch_h0 = rnn_layout_add(&sc, B, H);
    s->scratch_up = rnn_layout_add(&sc, packed, 1);
    if (!ws.ok || !sc.ok || !callers.ok) return rnn_layout_fail(&s->d, fn);
    s->ws_size = ws.size;
    s->scratch_size = sc.size;
    return RECUR_OK;
}

size_t recur_rnn_workspace_size(const recur_rnn_desc *d) {
    rnn_shape s;
    return rnn_shape_init(d, &s, "recur_rnn_workspace_size") ? 0 : s.ws_size;
}

size_t recur_rnn_inference_scratch_size(const recur_rnn_desc *d) {
    rnn_shape s;
    return rnn_shape_init(d, &s, "recur_rnn_inference_scratch_size") ? 0 : s.scratch_size;
}

typedef struct {
    const rnn_dims *d;
    const rnn_plan *p;
    const simd_kernels *k;
    const float *W, *U, *b, *x, *h0, *dy, *dhT;
    float *z, *hs, *y, *hT, *up, *upw; /* hs NULL: inference */
    float *h0z;                        /* inference: h0, or zeros */
    float *dx, *dh, *dh0;
    const unsigned char *mask; /* [T][B] or NULL */
    float *mk;                 /* [B][H]: masked rows' dh_t + dy_t (backward) */
    int64_t Ix;                /* rows of W in the forward panels */
} rnn_call;

static void fwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const rnn_call *c = ctx;
    rnn_pack_blocks(c->W, c->Ix, c->U, c->d->H, c->d->H, c->d->H, 1, c->p->nr, c->up, p0, p1);
}

static void fwd_begin(void *ctx, const rnn_block *bl) {
    const rnn_call *c = ctx;
    rnn_copy_block(c->hs ? c->hs : c->h0z, c->h0, bl, c->d->H);
}

static void fwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const rnn_call *c = ctx;
    const int64_t B = c->d->B, I = c->d->I, H = c->d->H, nr = c->p->nr, Ix = c->Ix;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    const int train = c->hs != NULL;
    float *zt = c->z + (c->p->one_step ? 0 : t * B * H) + o;
    const float *hp = rnn_h_prev(c->hs, c->y, c->h0z, t, B, H) + bl->r0 * H; /* all units */
    c->p->gemm((size_t)nrow, (size_t)nj, (size_t)Ix, c->x + (t * B + bl->r0) * I, (size_t)I,
               (size_t)H, hp, (size_t)H, c->up + bl->j0 / nr * (Ix + H) * nr, zt, (size_t)H,
               !c->p->fuse);
    float *yt = c->y + t * B * H + o;
    if (train)
        c->k->rnn_fwd((size_t)nrow, (size_t)nj, (size_t)H, c->d->relu, zt, c->b + bl->j0,
                      c->hs + (t + 1) * B * H + o, yt);
    else
        c->k->rnn_fwd((size_t)nrow, (size_t)nj, (size_t)H, c->d->relu, zt, c->b + bl->j0, yt, NULL);
    const unsigned char *m = rnn_step_mask(c->mask, t, B, bl);
    if (m) { /* masked rows: h_t = y_t = h_{t-1} */
        const float *h1 = rnn_h_prev(c->hs, c->y, c->h0z, t, B, H);
        if (train) rnn_mask_copy(c->hs + (t + 1) * B * H, h1, NULL, m, bl, H);
        rnn_mask_copy(c->y + t * B * H, h1, NULL, m, bl, H);
    }
    rnn_sync(bl); /* the next step's product reads every unit of h_t */
}

static void fwd_end(void *ctx, const rnn_block *bl) {
    const rnn_call *c = ctx;
    if (c->hT) rnn_copy_block(c->hT, c->y + (c->d->T - 1) * c->d->B * c->d->H, bl, c->d->H);
}

/* A training forward (workspace) or an inference forward (scratch, or one
 * allocated for the call when both are NULL); packed and keep as the LSTM's
 * (lstm.c). */
static recur_status rnn_forward(const char *fn, const recur_rnn_desc *d, const float *W,
                                const float *U, const float *b, const float *x, const float *h0,
                                float *y, float *hT, void *workspace, void *user_scratch,
                                const void *packed, int keep) {
    rnn_shape s;
    recur_status st;
    if ((st = rnn_shape_init(d, &s, fn)) ||
        (st = packed ? rnn_check_aligned(packed, fn, "packed") : rnn_need(W, fn, "W")) ||
        (st = packed ? RECUR_OK : rnn_need(U, fn, "U")) || (st = rnn_need(b, fn, "b")) ||
        (st = rnn_need(x, fn, "x")) || (st = rnn_need(y, fn, "y")) ||
        (st = rnn_check_aligned(workspace, fn, "workspace")) ||
        (st = rnn_check_aligned(user_scratch, fn, "scratch")))
        return st;
    const int64_t T = s.d.T, B = s.d.B, I = s.d.I, H = s.d.H;
    const simd_kernels *k = recur_kernels();
    const rnn_plan p = rnn_plan_of(&s.d, H, k, workspace ? RNN_TRAIN_FORWARD : RNN_INFERENCE);
    const float *panels = NULL;
    if (packed && (st = rnn_prepacked_open(packed, RNN_CELL_SIMPLE, 0, &s.d, &p, fn, &panels, &W)))
        return st;
    char *mem = workspace;
    float *scratch = user_scratch, *owned = NULL;
    if (!mem && !scratch && !(scratch = owned = aligned_alloc(RECUR_ALIGN, s.scratch_size)))
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch", fn,
                          s.scratch_size);
    rnn_call c = {.d = &s.d,
                  .p = &p,
                  .k = k,
                  .W = W,
                  .U = U,
                  .b = b,
                  .x = x,
                  .h0 = h0,
                  .y = y,
                  .hT = hT,
                  .mask = d->mask,
                  .Ix = p.fuse ? I : 0};
    if (mem) {
        c.z = (float *)(mem + s.z), c.hs = (float *)(mem + s.hs), c.up = (float *)(mem + s.up);
    } else {
        c.z = scratch;
        c.up = panels ? (float *)(uintptr_t)panels : (float *)((char *)scratch + s.scratch_up);
        c.h0z = (float *)((char *)scratch + s.scratch_h0);
    }
    int err =
        p.fuse ? 0 : recur_sgemm_par(p.nt, 'N', 'N', T * B, H, I, 1.0f, x, I, W, H, 0.0f, c.z, H);
    if (!err) {
        const int repack = !packed && !keep;
        const rnn_loop loop = {repack ? (H + p.nr - 1) / p.nr : 0,
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

recur_status recur_rnn_forward(const recur_rnn_desc *d, const float *W, const float *U,
                               const float *b, const float *x, const float *h0, float *y, float *hT,
                               void *workspace) {
    return rnn_forward("recur_rnn_forward", d, W, U, b, x, h0, y, hT, workspace, NULL, NULL, 0);
}

recur_status recur_rnn_forward_inference(const recur_rnn_desc *d, const float *W, const float *U,
                                         const float *b, const float *x, const float *h0, float *y,
                                         float *hT, void *scratch) {
    return rnn_forward("recur_rnn_forward_inference", d, W, U, b, x, h0, y, hT, NULL, scratch, NULL,
                       0);
}

recur_status rnn_forward_inference_keep(const recur_rnn_desc *d, const float *W, const float *U,
                                        const float *b, const float *x, const float *h0, float *y,
                                        float *hT, void *scratch, int keep) {
    return rnn_forward("recur_rnn_forward_inference", d, W, U, b, x, h0, y, hT, NULL, scratch, NULL,
                       keep && scratch);
}

size_t recur_rnn_packed_weights_size(const recur_rnn_desc *d) {
    rnn_shape s;
    if (rnn_shape_init(d, &s, "recur_rnn_packed_weights_size")) return 0;
    const rnn_plan p = rnn_plan_of(&s.d, s.d.H, recur_kernels(), RNN_INFERENCE);
    return rnn_prepacked_size(&s.d, RNN_CELL_SIMPLE, &p);
}

recur_status recur_rnn_pack_weights(const recur_rnn_desc *d, const float *W, const float *U,
                                    void *packed) {
    static const char fn[] = "recur_rnn_pack_weights";
    rnn_shape s;
    recur_status st;
    if ((st = rnn_shape_init(d, &s, fn)) || (st = rnn_prepacked_need(W, U, packed, fn))) return st;
    const int64_t I = s.d.I, H = s.d.H;
    const rnn_plan p = rnn_plan_of(&s.d, H, recur_kernels(), RNN_INFERENCE);
    rnn_call c = {.d = &s.d, .p = &p, .W = W, .U = U, .Ix = p.fuse ? I : 0};
    c.up = rnn_prepacked_init(packed, RNN_CELL_SIMPLE, 0, &s.d, &p, W);
    rnn_pack_run(&s.d, &p, (H + p.nr - 1) / p.nr, fwd_pack, &c);
    return RECUR_OK;
}

recur_status recur_rnn_forward_packed(const recur_rnn_desc *d, const void *packed, const float *b,
                                      const float *x, const float *h0, float *y, float *hT,
                                      void *scratch) {
    static const char fn[] = "recur_rnn_forward_packed";
    if (d && !packed) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: packed is NULL", fn);
    return rnn_forward(fn, d, NULL, NULL, b, x, h0, y, hT, NULL, scratch, packed, 0);
}

/* panels of U^T, then of W^T when dx is computed step by step */
static void bwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const rnn_call *c = ctx;
    const int64_t H = c->d->H, nph = (H + c->p->nr - 1) / c->p->nr;
    rnn_pack_t(c->U, H, H, 0, H, c->p->nr, c->up, p0, p1);
    rnn_pack_t(c->W, c->d->I, H, 0, H, c->p->nr, c->upw, p0 - nph, p1 - nph);
}

static void bwd_begin(void *ctx, const rnn_block *bl) {
    const rnn_call *c = ctx;
    rnn_copy_block(c->dh, c->dhT, bl, c->d->H);
}

static void bwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const rnn_call *c = ctx;
    const int64_t B = c->d->B, I = c->d->I, H = c->d->H;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    float *dzt = c->z + (t * B + bl->r0) * H;
    const float *dyt = c->dy ? c->dy + t * B * H : NULL;
    c->k->rnn_bwd((size_t)nrow, (size_t)nj, (size_t)H, c->d->relu, c->hs + (t + 1) * B * H + o,
                  dyt ? dyt + o : NULL, c->dh + o, dzt + bl->j0);
    const unsigned char *m = rnn_step_mask(c->mask, t, B, bl);
    if (m) { /* masked rows: dZ_t = 0; keep dh_t + dy_t for after the product */
        rnn_mask_copy(c->mk, c->dh, dyt, m, bl, H);
        rnn_mask_zero(c->z + t * B * H, H, H, 1, m, bl);
    }
    rnn_sync(bl); /* the products read dZ_t of every unit */
    if (t > 0 || c->dh0)
        c->p->gemm((size_t)nrow, (size_t)nj, (size_t)H, dzt, (size_t)H, 0, NULL, 0,
                   c->up + bl->j0 * H, c->dh + o, (size_t)H, 0);
    if (c->p->fuse && c->dx)
        rnn_step_dx(c->p, bl, dzt, H, H, c->upw, c->dx + (t * B + bl->r0) * I, I);
    if (m) rnn_mask_copy(c->dh, c->mk, NULL, m, bl, H); /* dh_{t-1} = dh_t + dy_t */
}

static void bwd_end(void *ctx, const rnn_block *bl) {
    const rnn_call *c = ctx;
    if (c->dh0) rnn_copy_block(c->dh0, c->dh, bl, c->d->H);
}

recur_status recur_rnn_backward(const recur_rnn_desc *d, const float *W, const float *U,
                                const float *b, const float *x, const float *h0, const float *dy,
                                const float *dhT, float *dx, float *dh0, float *dW, float *dU,
                                float *db, void *workspace) {
    static const char fn[] = "recur_rnn_backward";
    (void)h0; /* the training forward saved it in the workspace */
    rnn_shape s;
    recur_status st;
    if ((st = rnn_shape_init(d, &s, fn)) || (st = rnn_need(W, fn, "W")) ||
        (st = rnn_need(U, fn, "U")) || (st = rnn_need(b, fn, "b")) || (st = rnn_need(x, fn, "x")) ||
        (st = rnn_need(dW, fn, "dW")) || (st = rnn_need(dU, fn, "dU")) ||
        (st = rnn_need(db, fn, "db")) || (st = rnn_need(workspace, fn, "workspace")) ||
        (st = rnn_check_aligned(workspace, fn, "workspace")))
        return st;
    const int64_t T = s.d.T, B = s.d.B, I = s.d.I, H = s.d.H;
    char *mem = workspace;
    const simd_kernels *k = recur_kernels();
    const rnn_plan p = rnn_plan_of(&s.d, H, k, RNN_BACKWARD);
    const int64_t nph = (H + p.nr - 1) / p.nr, npi = p.fuse ? (I + p.nr - 1) / p.nr : 0;
    rnn_call c = {.d = &s.d,
                  .p = &p,
                  .k = k,
                  .W = W,
                  .U = U,
                  .x = x,
                  .dy = dy,
                  .dhT = dhT,
                  .z = (float *)(mem + s.z),
                  .hs = (float *)(mem + s.hs),
                  .up = (float *)(mem + s.up),
                  .dx = dx,
                  .dh = (float *)(mem + s.dh),
                  .dh0 = dh0,
                  .mask = d->mask,
                  .mk = (float *)(mem + s.mk)};
    c.upw = c.up + nph * p.nr * H;
    const rnn_loop loop = {nph + npi, bwd_pack, bwd_begin, bwd_step, bwd_end, &c, 1};
    rnn_loop_run(&s.d, &p, &loop);

    const int64_t TB = T * B;
    const rnn_wgrad w[] = {{x, I, I, c.z, H, H, dW, H}, {c.hs, H, H, c.z, H, H, dU, H}};
    const rnn_bgrad bg[] = {{c.z, H, H, db}};
    int err = rnn_weight_grads(p.nt, TB, w, 2, bg, 1);
    if (!err && dx && !p.fuse)
        err = recur_sgemm_par(p.nt, 'N', 'T', TB, I, H, 1.0f, c.z, H, W, H, 0.0f, dx, I);
    return err ? recur_gemm_fail(err, fn) : RECUR_OK;
}
