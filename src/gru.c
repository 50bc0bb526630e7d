/* The GRU primitive on the recurrent engine (rnn_engine.h); gate blocks z, r,
 * h along 3H (Keras's order).
 *
 * The reset gate multiplies only the recurrent part of the candidate, so the
 * input and recurrent products stay apart: G_t = x_t W and R_t from h_{t-1},
 * both on packed panels. While W and U are small (the plan's fuse rule, as
 * the LSTM's) G_t is computed in the step, and backward's dx_t = dG_t W^T
 * too, while they are in cache; larger layers hoist G = X W and dX = dG W^T
 * into one big GEMM each. (At the tutorial's shape the two ways measured
 * within noise of each other on this Xeon, 1.12-1.18 vs 1.13-1.19 ms for a
 * 1-thread forward; the rule is the LSTM's, measured there.)
 *   reset_after = 1: R_t = h_{t-1} U (all three blocks); gate kernel.
 *   reset_after = 0: R_t[z, r] = h_{t-1} U_zr; a first kernel makes z, r and
 *     rh_t = r * h_{t-1}; then R_t[h] = rh_t U_h; the gate kernel.
 * Backward, per step from T-1 down, the kernel turns the saved gates into
 * dG_t (the input side's gradient, for dW, dx, db[0]) and, with reset_after,
 * dR_t (the recurrent side's, for dU, db[1]); dh_{t-1} = dh_t * z + dR_t U^T.
 * Without reset_after: drh = dG_t[h] U_h^T, then dr, then dh_{t-1} = dh_t * z
 * + drh * r + dG_t[z, r] U_zr^T; dU_zr = Hprev^T dG[z, r], dU_h = RH^T dG[h].
 * Training workspace: g, rg [T][B][ld] (3H columns in rows of ld floats,
 * rnn_tape_ld); hs [T+1][B][H] (h0 or zeros, then each h_t); rh [T][B][H]
 * (reset_after = 0); dh, drh [B][H]; mk [B][H] (masked rows' dh_t + dy_t in
 * backward); packed weights.
 * Masks (rnn_step_mask): a step whose block has masked rows runs as usual,
 * then forward gives the masked rows h_t = y_t = h_{t-1}; backward zeroes
 * their dG_t (and dR_t) and, after the products, sets dh_{t-1} = dh_t + dy_t. */
#include <stdlib.h>
#include <string.h>

#include "rnn_engine.h"

typedef struct {
    rnn_dims d;
    int ra;                                         /* reset_after */
    int64_t ld;                                     /* row stride of g, rg (rnn_tape_ld) */
    size_t g, rg, hs, rh, dh, drh, mk, up, ws_size; /* byte offsets into the workspace, its size */
    size_t s_rg, s_rh, s_h0, s_up, scratch_size;    /* inference: g [T][B][ld] (one step's
                                                       when joined), rg [B][ld], rh [B][H],
                                                       zeros [B][H], packed */
} gru_shape;

static recur_status gru_shape_init(const recur_gru_desc *d, gru_shape *s, const char *fn) {
    if (!d) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: descriptor d is NULL", fn);
    recur_status st = rnn_dims_init(&s->d, d->seq_len, d->batch, d->input_size, d->hidden_size,
                                    d->activation, fn, "GRU");
    if (st) return st;
    if (d->reset_after != 0 && d->reset_after != 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: reset_after must be 0 or 1, got %d", fn,
                          d->reset_after);
    s->ra = d->reset_after;
    const size_t T = (size_t)d->seq_len, B = (size_t)d->batch, I = (size_t)d->input_size,
                 H = (size_t)d->hidden_size, packed = rnn_packed_floats(&s->d, 3);
    rnn_layout ws = {0, packed != 0}, sc = {0, packed != 0}, callers = {0, 1};
    rnn_layout_add(&callers, T * B, I), rnn_layout_add(&callers, T * B, H);
    rnn_layout_add(&callers, I, 3 * H), rnn_layout_add(&callers, H, 3 * H);
    s->ld = rnn_tape_ld(3 * (int64_t)d->hidden_size);
    const size_t L = (size_t)s->ld;
    s->g = rnn_layout_add(&ws, T * B, L);
    s->rg = rnn_layout_add(&ws, T * B, L);
    s->hs = rnn_layout_add(&ws, (T + 1) * B, H);
    s->rh = rnn_layout_add(&ws, s->ra ? 1 : T * B, s->ra ? 1 : H);
    s->dh = rnn_layout_add(&ws, B, H);
    s->drh = rnn_layout_add(&ws, B, H);
    s->mk = rnn_layout_add(&ws, B, H);
    s->up = rnn_layout_add(&ws, packed, 1);
    rnn_layout_add(&sc, T * B, L);
    s->s_rg = rnn_layout_add(&sc, B, L);
    s->s_rh = rnn_layout_add(&sc, B, H);
    s->s_h0 = rnn_layout_add(&sc, B, H);
    s->s_up = rnn_layout_add(&sc, packed, 1);
    if (!ws.ok || !sc.ok || !callers.ok) return rnn_layout_fail(&s->d, fn);
    s->ws_size = ws.size;
    s->scratch_size = sc.size;
    return RECUR_OK;
}

size_t recur_gru_workspace_size(const recur_gru_desc *d) {
    gru_shape s;
    return gru_shape_init(d, &s, "recur_gru_workspace_size") ? 0 : s.ws_size;
}

size_t recur_gru_inference_scratch_size(const recur_gru_desc *d) {
    gru_shape s;
    return gru_shape_init(d, &s, "recur_gru_inference_scratch_size") ? 0 : s.scratch_size;
}

typedef struct {
    const gru_shape *s;
    const rnn_plan *p;
    const simd_kernels *k;
    const float *W, *U, *b, *x, *h0, *dy, *dhT;
    float *g, *rg, *hs, *rh, *y, *hT, *up, *upw, *h0z; /* hs NULL: inference (rg, rh one step) */
    float *dx, *dh, *drh, *dh0;
    const unsigned char *mask; /* [T][B] or NULL */
    float *mk;                 /* [B][H]: masked rows' dh_t + dy_t (backward) */
} gru_call;

/* ---- Forward ---------------------------------------------------------------- */

/* gate blocks of U, then (fused) of W */
static void fwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const gru_call *c = ctx;
    const int64_t H = c->s->d.H, n = 3 * ((H + c->p->nr - 1) / c->p->nr);
    rnn_pack_blocks(NULL, 0, c->U, H, 3 * H, H, 3, c->p->nr, c->up, p0, p1);
    rnn_pack_blocks(NULL, 0, c->W, c->s->d.I, 3 * H, H, 3, c->p->nr, c->upw, p0 - n, p1 - n);
}

static void fwd_begin(void *ctx, const rnn_block *bl) {
    const gru_call *c = ctx;
    rnn_copy_block(c->hs ? c->hs : c->h0z, c->h0, bl, c->s->d.H);
}

static void fwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const gru_call *c = ctx;
    const int64_t B = c->s->d.B, H = c->s->d.H, L = c->s->ld, nr = c->p->nr, np = (H + nr - 1) / nr;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    const int train = c->hs != NULL;
    /* h_{t-1}, all units of rows r0..; this step's rows of g, rg, rh */
    const float *hp = rnn_h_prev(c->hs, c->y, c->h0z, t, B, H) + bl->r0 * H;
    float *gt = c->g + (c->p->one_step ? 0 : t * B * L) + bl->r0 * L,
          *rgt = c->rg + ((train ? t * B : 0) + bl->r0) * L;
    float *rht = c->rh ? c->rh + ((train ? t * B : 0) + bl->r0) * H : NULL;
    const size_t n = (size_t)nrow, m = (size_t)nj;
    if (c->p->fuse) { /* G_t = x_t W, this block's units of each gate */
        const int64_t I = c->s->d.I;
        for (int64_t q = 0; q < 3; q++)
            c->p->gemm(n, m, (size_t)I, c->x + (t * B + bl->r0) * I, (size_t)I, 0, NULL, 0,
                       c->upw + (q * np + bl->j0 / nr) * I * nr, gt + q * H + bl->j0, (size_t)L, 0);
    }
    for (int64_t q = 0; q < (c->s->ra ? 3 : 2); q++)
        c->p->gemm(n, m, (size_t)H, hp, (size_t)H, 0, NULL, 0,
                   c->up + (q * np + bl->j0 / nr) * H * nr, rgt + q * H + bl->j0, (size_t)L, 0);
    if (!c->s->ra) {
        c->k->gru_fwd_reset(n, m, (size_t)H, (size_t)L, gt + bl->j0, rgt + bl->j0, c->b + bl->j0,
                            hp + bl->j0, rht + bl->j0);
        rnn_sync(bl); /* the candidate's product reads every unit of r * h */
        c->p->gemm(n, m, (size_t)H, rht, (size_t)H, 0, NULL, 0,
                   c->up + (2 * np + bl->j0 / nr) * H * nr, rgt + 2 * H + bl->j0, (size_t)L, 0);
    }
    float *yt = c->y + t * B * H + o;
    c->k->gru_fwd(n, m, (size_t)H, (size_t)L, c->s->d.relu, c->s->ra, gt + bl->j0, rgt + bl->j0,
                  c->b + bl->j0, hp + bl->j0, train ? c->hs + (t + 1) * B * H + o : yt,
                  train ? yt : NULL);
    const unsigned char *msk = rnn_step_mask(c->mask, t, B, bl);
    if (msk) { /* masked rows: h_t = y_t = h_{t-1} */
        const float *h1 = rnn_h_prev(c->hs, c->y, c->h0z, t, B, H);
        if (train) rnn_mask_copy(c->hs + (t + 1) * B * H, h1, NULL, msk, bl, H);
        rnn_mask_copy(c->y + t * B * H, h1, NULL, msk, bl, H);
    }
    rnn_sync(bl); /* the next step's product reads every unit of h_t */
}

static void fwd_end(void *ctx, const rnn_block *bl) {
    const gru_call *c = ctx;
    const rnn_dims *d = &c->s->d;
    if (c->hT) rnn_copy_block(c->hT, c->y + (d->T - 1) * d->B * d->H, bl, d->H);
}

/* A training forward (workspace) or an inference forward (scratch, or one
 * allocated for the call when both are NULL); packed and keep as the LSTM's
 * (lstm.c). */
static recur_status gru_forward(const char *fn, const recur_gru_desc *d, const float *W,
                                const float *U, const float *b, const float *x, const float *h0,
                                float *y, float *hT, void *workspace, void *user_scratch,
                                const void *packed, int keep) {
    gru_shape s;
    recur_status st;
    if ((st = gru_shape_init(d, &s, fn)) ||
        (st = packed ? rnn_check_aligned(packed, fn, "packed") : rnn_need(W, fn, "W")) ||
        (st = packed ? RECUR_OK : rnn_need(U, fn, "U")) || (st = rnn_need(b, fn, "b")) ||
        (st = rnn_need(x, fn, "x")) || (st = rnn_need(y, fn, "y")) ||
        (st = rnn_check_aligned(workspace, fn, "workspace")) ||
        (st = rnn_check_aligned(user_scratch, fn, "scratch")))
        return st;
    const int64_t T = s.d.T, B = s.d.B, I = s.d.I, H = s.d.H, G = 3 * H;
    const simd_kernels *k = recur_kernels();
    const rnn_plan p = rnn_plan_of(&s.d, G, k, workspace ? RNN_TRAIN_FORWARD : RNN_INFERENCE);
    const float *panels = NULL;
    if (packed && (st = rnn_prepacked_open(packed, RNN_CELL_GRU, s.ra, &s.d, &p, fn, &panels, &W)))
        return st;
    char *mem = workspace, *scratch = user_scratch, *owned = NULL;
    if (!mem && !scratch && !(scratch = owned = aligned_alloc(RECUR_ALIGN, s.scratch_size)))
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch", fn,
                          s.scratch_size);
    gru_call c = {.s = &s,
                  .p = &p,
                  .k = k,
                  .W = W,
                  .U = U,
                  .b = b,
                  .x = x,
                  .h0 = h0,
                  .y = y,
                  .hT = hT,
                  .mask = d->mask};
    if (mem) {
        c.g = (float *)(mem + s.g), c.rg = (float *)(mem + s.rg), c.hs = (float *)(mem + s.hs);
        c.rh = s.ra ? NULL : (float *)(mem + s.rh), c.up = (float *)(mem + s.up);
    } else {
        c.g = (float *)scratch, c.rg = (float *)(scratch + s.s_rg);
        c.rh = s.ra ? NULL : (float *)(scratch + s.s_rh), c.h0z = (float *)(scratch + s.s_h0);
        c.up = panels ? (float *)(uintptr_t)panels : (float *)(scratch + s.s_up);
    }
    const int64_t np = (H + p.nr - 1) / p.nr;
    c.upw = c.up + 3 * np * p.nr * H;
    int err = p.fuse
                  ? 0
                  : recur_sgemm_par(p.nt, 'N', 'N', T * B, G, I, 1.0f, x, I, W, G, 0.0f, c.g, s.ld);
    if (!err) {
        const int repack = !packed && !keep;
        const rnn_loop loop = {repack ? 3 * np * (p.fuse ? 2 : 1) : 0,
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

recur_status recur_gru_forward(const recur_gru_desc *d, const float *W, const float *U,
                               const float *b, const float *x, const float *h0, float *y, float *hT,
                               void *workspace) {
    return gru_forward("recur_gru_forward", d, W, U, b, x, h0, y, hT, workspace, NULL, NULL, 0);
}

recur_status recur_gru_forward_inference(const recur_gru_desc *d, const float *W, const float *U,
                                         const float *b, const float *x, const float *h0, float *y,
                                         float *hT, void *scratch) {
    return gru_forward("recur_gru_forward_inference", d, W, U, b, x, h0, y, hT, NULL, scratch, NULL,
                       0);
}

recur_status gru_forward_inference_keep(const recur_gru_desc *d, const float *W, const float *U,
                                        const float *b, const float *x, const float *h0, float *y,
                                        float *hT, void *scratch, int keep) {
    return gru_forward("recur_gru_forward_inference", d, W, U, b, x, h0, y, hT, NULL, scratch, NULL,
                       keep && scratch);
}

size_t recur_gru_packed_weights_size(const recur_gru_desc *d) {
    gru_shape s;
    if (gru_shape_init(d, &s, "recur_gru_packed_weights_size")) return 0;
    const rnn_plan p = rnn_plan_of(&s.d, 3 * s.d.H, recur_kernels(), RNN_INFERENCE);
    return rnn_prepacked_size(&s.d, RNN_CELL_GRU, &p);
}

recur_status recur_gru_pack_weights(const recur_gru_desc *d, const float *W, const float *U,
                                    void *packed) {
    static const char fn[] = "recur_gru_pack_weights";
    gru_shape s;
    recur_status st;
    if ((st = gru_shape_init(d, &s, fn)) || (st = rnn_prepacked_need(W, U, packed, fn))) return st;
    const int64_t H = s.d.H, G = 3 * H;
    const rnn_plan p = rnn_plan_of(&s.d, G, recur_kernels(), RNN_INFERENCE);
    const int64_t np = (H + p.nr - 1) / p.nr;
    gru_call c = {.s = &s, .p = &p, .W = W, .U = U};
    c.up = rnn_prepacked_init(packed, RNN_CELL_GRU, s.ra, &s.d, &p, W);
    c.upw = c.up + 3 * np * p.nr * H;
    rnn_pack_run(&s.d, &p, 3 * np * (p.fuse ? 2 : 1), fwd_pack, &c);
    return RECUR_OK;
}

recur_status recur_gru_forward_packed(const recur_gru_desc *d, const void *packed, const float *b,
                                      const float *x, const float *h0, float *y, float *hT,
                                      void *scratch) {
    static const char fn[] = "recur_gru_forward_packed";
    if (d && !packed) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: packed is NULL", fn);
    return gru_forward(fn, d, NULL, NULL, b, x, h0, y, hT, NULL, scratch, packed, 0);
}

/* ---- Backward --------------------------------------------------------------- */

/* reset_after: panels of U^T (3H rows each); else of U_h^T (H rows), then of
 * U_zr^T (2H rows) */
static void bwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const gru_call *c = ctx;
    const int64_t H = c->s->d.H, nr = c->p->nr, nph = (H + nr - 1) / nr,
                  nu = c->s->ra ? nph : 2 * nph;
    if (c->s->ra) {
        rnn_pack_t(c->U, H, 3 * H, 0, 3 * H, nr, c->up, p0, p1);
    } else {
        rnn_pack_t(c->U, H, 3 * H, 2 * H, H, nr, c->up, p0, p1);
        rnn_pack_t(c->U, H, 3 * H, 0, 2 * H, nr, c->up + nph * nr * H, p0 - nph, p1 - nph);
    }
    /* (fused) W^T after them */
    rnn_pack_t(c->W, c->s->d.I, 3 * H, 0, 3 * H, nr, c->upw, p0 - nu, p1 - nu);
}

/* dx_t = dG_t W^T once dG_t is complete */
static void bwd_dx(const gru_call *c, int64_t t, const rnn_block *bl) {
    const int64_t B = c->s->d.B, I = c->s->d.I, L = c->s->ld;
    rnn_step_dx(c->p, bl, c->g + (t * B + bl->r0) * L, 3 * c->s->d.H, L, c->upw,
                c->dx + (t * B + bl->r0) * I, I);
}

static void bwd_begin(void *ctx, const rnn_block *bl) {
    const gru_call *c = ctx;
    rnn_copy_block(c->dh, c->dhT, bl, c->s->d.H);
}

static void bwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const gru_call *c = ctx;
    const int64_t B = c->s->d.B, H = c->s->d.H, G = 3 * H, L = c->s->ld, nr = c->p->nr,
                  nph = (H + nr - 1) / nr;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    const size_t n = (size_t)nrow, m = (size_t)nj;
    const float *hp = c->hs + t * B * H + o;
    float *gt = c->g + (t * B + bl->r0) * L, *rgt = c->rg + (t * B + bl->r0) * L;
    const float *dyt = c->dy ? c->dy + t * B * H : NULL;
    const unsigned char *msk = rnn_step_mask(c->mask, t, B, bl);
    /* masked rows: dh_{t-1} = dh_t + dy_t, kept while the kernel and the
     * products overwrite dh; their dG_t (and dR_t) are zeroed */
    if (msk) rnn_mask_copy(c->mk, c->dh, dyt, msk, bl, H);
    c->k->gru_bwd(n, m, (size_t)H, (size_t)L, c->s->d.relu, c->s->ra, gt + bl->j0, rgt + bl->j0, hp,
                  dyt ? dyt + o : NULL, c->dh + o);
    if (msk) {
        rnn_mask_zero(c->g + t * B * L, L, H, 3, msk, bl);
        if (c->s->ra) rnn_mask_zero(c->rg + t * B * L, L, H, 3, msk, bl);
    }
    rnn_sync(bl); /* the products read every unit of this step's gradients */
    const int want_dh = t > 0 || c->dh0;
    if (c->s->ra) {
        if (want_dh)
            c->p->gemm(n, m, (size_t)G, rgt, (size_t)L, 0, NULL, 0, c->up + bl->j0 * G, c->dh + o,
                       (size_t)H, 1);
        if (c->p->fuse && c->dx) bwd_dx(c, t, bl);
        if (msk) rnn_mask_copy(c->dh, c->mk, NULL, msk, bl, H);
        return;
    }
    c->p->gemm(n, m, (size_t)H, gt + 2 * H, (size_t)L, 0, NULL, 0, c->up + bl->j0 * H, c->drh + o,
               (size_t)H, 0);
    /* masked rows: dG_h = 0 gave drh = 0, so their dr comes out 0 too */
    c->k->gru_bwd_reset(n, m, (size_t)H, (size_t)L, gt + bl->j0, hp, c->drh + o, c->dh + o);
    rnn_sync(bl); /* the next product reads dr of every unit */
    if (want_dh)
        c->p->gemm(n, m, (size_t)(2 * H), gt, (size_t)L, 0, NULL, 0,
                   c->up + nph * nr * H + bl->j0 * 2 * H, c->dh + o, (size_t)H, 1);
    if (c->p->fuse && c->dx) bwd_dx(c, t, bl);
    if (msk) rnn_mask_copy(c->dh, c->mk, NULL, msk, bl, H);
}

static void bwd_end(void *ctx, const rnn_block *bl) {
    const gru_call *c = ctx;
    if (c->dh0) rnn_copy_block(c->dh0, c->dh, bl, c->s->d.H);
}

recur_status recur_gru_backward(const recur_gru_desc *d, const float *W, const float *U,
                                const float *b, const float *x, const float *h0, const float *dy,
                                const float *dhT, float *dx, float *dh0, float *dW, float *dU,
                                float *db, void *workspace) {
    static const char fn[] = "recur_gru_backward";
    (void)h0; /* the training forward saved it in the workspace */
    gru_shape s;
    recur_status st;
    if ((st = gru_shape_init(d, &s, fn)) || (st = rnn_need(W, fn, "W")) ||
        (st = rnn_need(U, fn, "U")) || (st = rnn_need(b, fn, "b")) || (st = rnn_need(x, fn, "x")) ||
        (st = rnn_need(dW, fn, "dW")) || (st = rnn_need(dU, fn, "dU")) ||
        (st = rnn_need(db, fn, "db")) || (st = rnn_need(workspace, fn, "workspace")) ||
        (st = rnn_check_aligned(workspace, fn, "workspace")))
        return st;
    const int64_t T = s.d.T, B = s.d.B, I = s.d.I, H = s.d.H, G = 3 * H;
    char *mem = workspace;
    const simd_kernels *k = recur_kernels();
    const rnn_plan p = rnn_plan_of(&s.d, G, k, RNN_BACKWARD);
    const int64_t nph = (H + p.nr - 1) / p.nr, npi = p.fuse ? (I + p.nr - 1) / p.nr : 0;
    gru_call c = {.s = &s,
                  .p = &p,
                  .k = k,
                  .W = W,
                  .U = U,
                  .b = b,
                  .dy = dy,
                  .dhT = dhT,
                  .dx = dx,
                  .g = (float *)(mem + s.g),
                  .rg = (float *)(mem + s.rg),
                  .hs = (float *)(mem + s.hs),
                  .rh = s.ra ? NULL : (float *)(mem + s.rh),
                  .up = (float *)(mem + s.up),
                  .dh = (float *)(mem + s.dh),
                  .drh = (float *)(mem + s.drh),
                  .dh0 = dh0,
                  .mask = d->mask,
                  .mk = (float *)(mem + s.mk)};
    c.upw = c.up + nph * p.nr * G;
    const rnn_loop loop = {
        (s.ra ? nph : 2 * nph) + npi, bwd_pack, bwd_begin, bwd_step, bwd_end, &c, 1};
    rnn_loop_run(&s.d, &p, &loop);

    const int64_t TB = T * B, L = s.ld;
    int err;
    if (s.ra) {
        const rnn_wgrad w[] = {{x, I, I, c.g, L, G, dW, G}, {c.hs, H, H, c.rg, L, G, dU, G}};
        const rnn_bgrad bg[] = {{c.g, L, G, db}, {c.rg, L, G, db + G}};
        err = rnn_weight_grads(p.nt, TB, w, 2, bg, 2);
    } else {
        const rnn_wgrad w[] = {{x, I, I, c.g, L, G, dW, G},
                               {c.hs, H, H, c.g, L, 2 * H, dU, G},
                               {c.rh, H, H, c.g + 2 * H, L, H, dU + 2 * H, G}};
        const rnn_bgrad bg[] = {{c.g, L, G, db}};
        err = rnn_weight_grads(p.nt, TB, w, 3, bg, 1);
    }
    if (!err && dx && !p.fuse)
        err = recur_sgemm_par(p.nt, 'N', 'T', TB, I, G, 1.0f, c.g, L, W, G, 0.0f, dx, I);
    return err ? recur_gemm_fail(err, fn) : RECUR_OK;
}
