/* The custom-cell engine (cell.h) on the recurrent engine (rnn_engine.h).
 *
 * Forward:  Z = X W + b for all steps (one GEMM); per step t: Z_t += h_{t-1} U
 *           (or ZH_t = h_{t-1} U + b_h for a separate cell) on the packed
 *           panel GEMM, then the cell's forward on the thread's block; masked
 *           rows keep the previous states.
 * Backward: per step from T-1 down: dS_t[0] += dy_t; the cell's backward
 *           writes dZ_t (over Z_t), dZH_t, dS_{t-1} through its elementwise
 *           math and its per-row parameter gradients; masked rows get zeros
 *           and pass dS_t through; then dS_{t-1}[0] += dZH_t U^T. After the
 *           loop: dW = X^T dZ, dU = Hprev^T dZH, the biases and the cell's
 *           arrays as column sums over all rows, dx = dZ W^T.
 * A cell with mid gates (cell->mid) splits the product: the other gates take
 * h_{t-1}, the mid gates the cell's m_t (forward_mid), with a barrier between
 * under a unit split; backward runs dm = dZ_mid U_mid^T and backward_mid
 * before the product of the other gates.
 * Workspace: Z [T][B][G], ZH [T][B][G] (separate), S [states][T+1][B][H],
 * dS [2][states][B][H], dP [T][B][P] (P: the cell's array floats), M
 * [T][B][H] and dM [B][H] (mid), scratch [B][8H], packed U. */
#include <stdlib.h>
#include <string.h>

#include "cell.h"
#include "rnn_engine.h"

recur_status cell_check(const recur_cell *c, const char *fn) {
    const char *why = !c->name || !c->name[0] || strlen(c->name) > 63 ? "name must be 1 to 63 bytes"
                      : strchr(c->name, ':') || strchr(c->name, ',')
                          ? "name must not hold ':' or ','"
                      : c->gates < 1 || c->gates > RECUR_CELL_MAX_GATES ? "gates must be in [1, 8]"
                      : c->states < 1 || c->states > RECUR_CELL_MAX_STATES
                          ? "states must be in [1, 4]"
                      : c->recurrent != 0 && c->recurrent != 1 ? "recurrent must be 0 or 1"
                      : c->separate != 0 && c->separate != 1   ? "separate must be 0 or 1"
                      : c->separate && !c->recurrent ? "separate needs recurrent = 1"
                      : c->mid < 0 || c->mid >= c->gates ? "mid must be in [0, gates)"
                      : c->mid && (!c->recurrent || c->separate)
                          ? "mid needs recurrent = 1 and separate = 0"
                      : c->mid && (!c->forward_mid || !c->backward_mid)
                          ? "mid needs forward_mid and backward_mid"
                      : c->nparams < 0 || c->nparams > RECUR_CELL_MAX_PARAMS
                          ? "nparams must be in [0, 4]"
                      : !c->forward || !c->backward ? "forward and backward must be set"
                                                    : NULL;
    for (int a = 0; !why && a < c->nparams; a++) {
        const recur_cell_param *p = &c->params[a];
        if (!p->name || !p->name[0]) why = "every parameter array needs a name";
        else if (p->size_per_unit < 1 || p->size_per_unit > 64)
            why = "a parameter array's size_per_unit must be in [1, 64]";
        else if (p->init != RECUR_INIT_ZEROS && p->init != RECUR_INIT_CONSTANT &&
                 p->init != RECUR_INIT_UNIFORM)
            why = "a parameter array has an unknown init";
    }
    if (why)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: cell '%s': %s", fn,
                          c->name ? c->name : "(null)", why);
    return RECUR_OK;
}

static int64_t param_floats(const recur_cell *c, int64_t H) {
    int64_t P = 0;
    for (int a = 0; a < c->nparams; a++) P += c->params[a].size_per_unit * H;
    return P;
}

typedef struct {
    rnn_dims d;
    int64_t G, P, S;
    size_t z, zh, s, ds, dp, m, dm, scr, up, size;
} cell_shape;

static int shape_of(const recur_cell *c, int T, int B, int I, int H, cell_shape *s) {
    s->d.T = T, s->d.B = B, s->d.I = I, s->d.H = H, s->d.relu = 0;
    s->G = (int64_t)c->gates * H, s->P = param_floats(c, H), s->S = c->states;
    const size_t TB = (size_t)T * (size_t)B, packed = rnn_packed_floats(&s->d, c->gates);
    rnn_layout l = {0, packed != 0 && T > 0 && B > 0 && I > 0 && H > 0};
    s->z = rnn_layout_add(&l, TB, (size_t)s->G);
    s->zh = rnn_layout_add(&l, c->separate ? TB : 1, (size_t)s->G);
    s->s = rnn_layout_add(&l, (size_t)s->S * (TB + (size_t)B), (size_t)H);
    s->ds = rnn_layout_add(&l, 2 * (size_t)s->S * (size_t)B, (size_t)H);
    s->dp = rnn_layout_add(&l, s->P ? TB : 1, s->P ? (size_t)s->P : 1);
    s->m = rnn_layout_add(&l, c->mid ? TB : 1, (size_t)H);
    s->dm = rnn_layout_add(&l, c->mid ? (size_t)B : 1, (size_t)H);
    s->scr = rnn_layout_add(&l, (size_t)B, (size_t)RECUR_CELL_MAX_GATES * (size_t)H);
    s->up = rnn_layout_add(&l, packed, 1);
    s->size = l.size;
    return l.ok;
}

size_t cell_workspace_size(const recur_cell *c, int T, int B, int I, int H) {
    cell_shape s;
    return shape_of(c, T, B, I, H, &s) ? s.size : 0;
}

typedef struct {
    const cell_call *c;
    const cell_shape *s;
    const rnn_plan *p;
    const float *W, *U, *b, *bh, *x, *s0, *dy, *dhT;
    const float *const *pa; /* the cell's arrays */
    float *z, *zh, *st, *ds, *dp, *m, *dm, *scr, *up, *y, *hT, *sT;
} cell_ctx;

/* state k at step slot t (0: initial), row 0 */
static float *state(const cell_ctx *x, int64_t k, int64_t t) {
    const int64_t B = x->s->d.B, H = x->s->d.H, T = x->s->d.T;
    return x->st + (k * (T + 1) + t) * B * H;
}

/* dS buffer (parity) k, row 0 */
static float *dstate(const cell_ctx *x, int64_t par, int64_t k) {
    const int64_t B = x->s->d.B, H = x->s->d.H;
    return x->ds + (par * x->s->S + k) * B * H;
}

static recur_cell_args args_of(const cell_ctx *x, const rnn_block *bl, int64_t t, float **sp,
                               float **sn, const float **pa) {
    const int64_t B = x->s->d.B, H = x->s->d.H, G = x->s->G, o = bl->r0 * H + bl->j0;
    recur_cell_args a;
    memset(&a, 0, sizeof a);
    a.rows = (int)(bl->r1 - bl->r0), a.units = (int)(bl->j1 - bl->j0), a.H = (int)H;
    a.act = x->c->act;
    a.z = x->z + (t * B + bl->r0) * G + bl->j0;
    a.zh = x->zh ? x->zh + (t * B + bl->r0) * G + bl->j0 : NULL;
    a.ldz = (int)G;
    for (int64_t k = 0; k < x->s->S; k++) {
        sp[k] = state(x, k, t) + o;
        sn[k] = state(x, k, t + 1) + o;
    }
    a.s_prev = (const float *const *)sp, a.s = sn, a.lds = (int)H;
    for (int k = 0; k < x->c->cell->nparams; k++) pa[k] = x->pa[k] + bl->j0;
    a.p = pa;
    a.m = x->m ? x->m + t * B * H + o : NULL;
    a.scratch = x->scr + bl->r0 * RECUR_CELL_MAX_GATES * H + bl->j0;
    a.ldscratch = (int)(RECUR_CELL_MAX_GATES * H);
    a.user = x->c->cell->user;
    return a;
}

/* ---- Forward ---------------------------------------------------------------- */

static void fwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const cell_ctx *x = ctx;
    const int64_t H = x->s->d.H;
    rnn_pack_blocks(NULL, 0, x->U, H, x->s->G, H, x->c->cell->gates, x->p->nr, x->up, p0, p1);
}

static void fwd_begin(void *ctx, const rnn_block *bl) {
    const cell_ctx *x = ctx;
    const int64_t B = x->s->d.B, H = x->s->d.H;
    for (int64_t k = 0; k < x->s->S; k++)
        rnn_copy_block(state(x, k, 0), x->s0 ? x->s0 + k * B * H : NULL, bl, H);
}

static void fwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const cell_ctx *x = ctx;
    const recur_cell *cl = x->c->cell;
    const int64_t B = x->s->d.B, H = x->s->d.H, G = x->s->G, nr = x->p->nr, np = (H + nr - 1) / nr;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    const int64_t nq = cl->gates - cl->mid; /* gates whose product takes h_{t-1} */
    float *sp[RECUR_CELL_MAX_STATES], *sn[RECUR_CELL_MAX_STATES];
    const float *pa[RECUR_CELL_MAX_PARAMS];
    const recur_cell_args a = args_of(x, bl, t, sp, sn, pa);
    float *dst = (x->zh ? x->zh : x->z) + (t * B + bl->r0) * G + bl->j0;
    if (cl->recurrent) {
        const float *hp = state(x, 0, t) + bl->r0 * H; /* all units */
        for (int64_t q = 0; q < nq; q++)
            x->p->gemm((size_t)nrow, (size_t)nj, (size_t)H, hp, (size_t)H, 0, NULL, 0,
                       x->up + (q * np + bl->j0 / nr) * H * nr, dst + q * H, (size_t)G, !x->zh);
        if (x->zh)
            for (int64_t r = 0; r < nrow; r++)
                for (int64_t q = 0; q < cl->gates; q++) {
                    float *zr = dst + r * G + q * H;
                    const float *br = x->bh + q * H + bl->j0;
                    for (int64_t j = 0; j < nj; j++) zr[j] += br[j];
                }
    }
    if (cl->mid) {
        cl->forward_mid(&a);
        rnn_sync(bl); /* the mid product reads every unit of m_t */
        const float *mt = x->m + (t * B + bl->r0) * H;
        for (int64_t q = nq; q < cl->gates; q++)
            x->p->gemm((size_t)nrow, (size_t)nj, (size_t)H, mt, (size_t)H, 0, NULL, 0,
                       x->up + (q * np + bl->j0 / nr) * H * nr, dst + q * H, (size_t)G, 1);
    }
    cl->forward(&a);
    const unsigned char *msk = rnn_step_mask(x->c->mask, t, B, bl);
    if (msk) /* masked rows keep their states */
        for (int64_t k = 0; k < x->s->S; k++)
            rnn_mask_copy(state(x, k, t + 1), state(x, k, t), NULL, msk, bl, H);
    float *yt = x->y + t * B * H + o;
    const float *ht = state(x, 0, t + 1) + o;
    for (int64_t r = 0; r < nrow; r++) memcpy(yt + r * H, ht + r * H, (size_t)nj * sizeof(float));
    rnn_sync(bl); /* the next step's product reads every unit of h_t */
}

static void fwd_end(void *ctx, const rnn_block *bl) {
    const cell_ctx *x = ctx;
    const int64_t B = x->s->d.B, H = x->s->d.H, T = x->s->d.T;
    if (x->hT) rnn_copy_block(x->hT, state(x, 0, T), bl, H);
    for (int64_t k = 0; x->sT && k < x->s->S; k++)
        rnn_copy_block(x->sT + k * B * H, state(x, k, T), bl, H);
}

static recur_status setup(const cell_call *c, const float *params, void *ws, cell_shape *s,
                          cell_ctx *x, const float **pa, const char *fn) {
    if (!params || !ws)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn,
                          params ? "workspace" : "params");
    if (!shape_of(c->cell, c->T, c->B, c->I, c->H, s))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: cell '%s': sizes T=%d B=%d I=%d H=%d are invalid or overflow", fn,
                          c->cell->name, c->T, c->B, c->I, c->H);
    const recur_cell *cl = c->cell;
    const int64_t I = c->I, H = c->H, G = s->G;
    char *mem = ws;
    memset(x, 0, sizeof *x);
    x->c = c, x->s = s;
    x->W = params;
    x->U = cl->recurrent ? x->W + I * G : NULL;
    x->b = x->W + (I + (cl->recurrent ? H : 0)) * G;
    x->bh = cl->separate ? x->b + G : NULL;
    const float *arr = x->b + (cl->separate ? 2 : 1) * G;
    for (int a = 0; a < cl->nparams; a++) {
        pa[a] = arr;
        arr += cl->params[a].size_per_unit * H;
    }
    x->pa = pa;
    x->z = (float *)(mem + s->z);
    x->zh = cl->separate ? (float *)(mem + s->zh) : NULL;
    x->st = (float *)(mem + s->s);
    x->ds = (float *)(mem + s->ds);
    x->dp = s->P ? (float *)(mem + s->dp) : NULL;
    x->m = cl->mid ? (float *)(mem + s->m) : NULL;
    x->dm = cl->mid ? (float *)(mem + s->dm) : NULL;
    x->scr = (float *)(mem + s->scr);
    x->up = (float *)(mem + s->up);
    return RECUR_OK;
}

recur_status cell_forward(const cell_call *c, const float *params, const float *x_in,
                          const float *s0, float *y, float *hT, float *sT, void *ws) {
    static const char fn[] = "cell_forward";
    cell_shape s;
    cell_ctx x;
    const float *pa[RECUR_CELL_MAX_PARAMS];
    recur_status st = setup(c, params, ws, &s, &x, pa, fn);
    if (st) return st;
    const int64_t T = c->T, B = c->B, I = c->I, G = s.G, TB = T * B;
    const rnn_plan p0 = rnn_plan_of(&s.d, G, recur_kernels(), RNN_TRAIN_FORWARD);
    rnn_plan p = p0;
    p.fuse = 0;
    x.p = &p, x.x = x_in, x.s0 = s0, x.y = y, x.hT = hT, x.sT = sT;
    /* Z = X W + b: the bias rows first, then the GEMM adds onto them */
    for (int64_t r = 0; r < TB; r++) memcpy(x.z + r * G, x.b, (size_t)G * sizeof(float));
    int err = recur_sgemm_par(p.nt, 'N', 'N', TB, G, I, 1.0f, x_in, I, x.W, G, 1.0f, x.z, G);
    if (err) return recur_gemm_fail(err, fn);
    const int64_t np = (c->H + p.nr - 1) / p.nr;
    const rnn_loop loop = {c->cell->recurrent ? c->cell->gates * np : 0,
                           c->cell->recurrent ? fwd_pack : NULL,
                           fwd_begin,
                           fwd_step,
                           fwd_end,
                           &x,
                           0};
    rnn_loop_run(&s.d, &p, &loop);
    return RECUR_OK;
}

/* ---- Backward --------------------------------------------------------------- */

/* panels of U^T: the other gates' columns, then the mid gates' */
static void bwd_pack(void *ctx, int64_t p0, int64_t p1) {
    const cell_ctx *x = ctx;
    const int64_t H = x->s->d.H, G = x->s->G, nph = (H + x->p->nr - 1) / x->p->nr;
    const int64_t Gn = (x->c->cell->gates - x->c->cell->mid) * H;
    rnn_pack_t(x->U, H, G, 0, Gn, x->p->nr, x->up, p0, p1);
    if (x->c->cell->mid)
        rnn_pack_t(x->U, H, G, Gn, G - Gn, x->p->nr, x->up + nph * x->p->nr * Gn, p0 - nph,
                   p1 - nph);
}

static void bwd_begin(void *ctx, const rnn_block *bl) {
    const cell_ctx *x = ctx;
    const int64_t H = x->s->d.H, T = x->s->d.T;
    const int64_t par = (T - 1) & 1; /* step t reads dS[t & 1], writes dS[(t - 1) & 1] */
    rnn_copy_block(dstate(x, par, 0), x->dhT, bl, H);
    for (int64_t k = 1; k < x->s->S; k++) rnn_copy_block(dstate(x, par, k), NULL, bl, H);
}

static void bwd_step(void *ctx, int64_t t, const rnn_block *bl) {
    const cell_ctx *x = ctx;
    const recur_cell *cl = x->c->cell;
    const int64_t B = x->s->d.B, H = x->s->d.H, G = x->s->G, P = x->s->P;
    const int64_t nrow = bl->r1 - bl->r0, nj = bl->j1 - bl->j0, o = bl->r0 * H + bl->j0;
    const int64_t cur = t & 1, nxt = (t - 1) & 1;
    if (x->dy) { /* dS_t[0] += dy_t */
        float *d = dstate(x, cur, 0) + o;
        const float *g = x->dy + t * B * H + o;
        for (int64_t r = 0; r < nrow; r++)
            for (int64_t j = 0; j < nj; j++) d[r * H + j] += g[r * H + j];
    }
    float *sp[RECUR_CELL_MAX_STATES], *sn[RECUR_CELL_MAX_STATES];
    float *dsc[RECUR_CELL_MAX_STATES], *dsn[RECUR_CELL_MAX_STATES], *dpa[RECUR_CELL_MAX_PARAMS];
    const float *pa[RECUR_CELL_MAX_PARAMS];
    recur_cell_args a = args_of(x, bl, t, sp, sn, pa);
    for (int64_t k = 0; k < x->s->S; k++) {
        dsc[k] = dstate(x, cur, k) + o;
        dsn[k] = dstate(x, nxt, k) + o;
    }
    a.ds = (const float *const *)dsc, a.ds_prev = dsn;
    int64_t off = 0;
    for (int k = 0; k < cl->nparams; k++) {
        dpa[k] = x->dp + (t * B + bl->r0) * P + off + bl->j0;
        off += cl->params[k].size_per_unit * H;
    }
    a.dp = dpa, a.lddp = (int)P;
    cl->backward(&a);
    const int64_t Gn = (cl->gates - cl->mid) * H, nph = (H + x->p->nr - 1) / x->p->nr;
    if (cl->mid) { /* dm = dZ_mid U_mid^T, then the cell's part before the mid product */
        rnn_sync(bl);
        x->p->gemm((size_t)nrow, (size_t)nj, (size_t)(G - Gn), x->z + (t * B + bl->r0) * G + Gn,
                   (size_t)G, 0, NULL, 0, x->up + nph * x->p->nr * Gn + bl->j0 * (G - Gn),
                   x->dm + o, (size_t)H, 0);
        a.dm = x->dm + o;
        cl->backward_mid(&a);
    }
    const unsigned char *msk = rnn_step_mask(x->c->mask, t, B, bl);
    if (msk) { /* masked rows: no gradient into z or the arrays; the states pass through */
        rnn_mask_zero(x->z + t * B * G, G, H, cl->gates, msk, bl);
        if (x->zh) rnn_mask_zero(x->zh + t * B * G, G, H, cl->gates, msk, bl);
        for (int k = 0; k < cl->nparams; k++)
            rnn_mask_zero(x->dp + t * B * P + (dpa[k] - x->dp - (t * B + bl->r0) * P - bl->j0), P,
                          H, cl->params[k].size_per_unit, msk, bl);
        for (int64_t k = 0; k < x->s->S; k++)
            rnn_mask_copy(dstate(x, nxt, k), dstate(x, cur, k), NULL, msk, bl, H);
    }
    if (!cl->recurrent || t == 0) return;
    rnn_sync(bl); /* the product reads dZ_t of every unit */
    const float *dz = (x->zh ? x->zh : x->z) + (t * B + bl->r0) * G;
    x->p->gemm((size_t)nrow, (size_t)nj, (size_t)Gn, dz, (size_t)G, 0, NULL, 0,
               x->up + bl->j0 * Gn, dstate(x, nxt, 0) + o, (size_t)H, 1);
}

recur_status cell_backward(const cell_call *c, const float *params, const float *x_in,
                           const float *dy, const float *dhT, float *dx, float *grads, void *ws) {
    static const char fn[] = "cell_backward";
    cell_shape s;
    cell_ctx x;
    const float *pa[RECUR_CELL_MAX_PARAMS];
    recur_status st = setup(c, params, ws, &s, &x, pa, fn);
    if (st) return st;
    if (!grads) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: grads is NULL", fn);
    const recur_cell *cl = c->cell;
    const int64_t T = c->T, B = c->B, I = c->I, H = c->H, G = s.G, TB = T * B;
    rnn_plan p = rnn_plan_of(&s.d, G, recur_kernels(), RNN_BACKWARD);
    p.fuse = 0;
    x.p = &p, x.x = x_in, x.dy = dy, x.dhT = dhT;
    const int64_t nph = (H + p.nr - 1) / p.nr;
    const rnn_loop loop = {cl->recurrent ? (cl->mid ? 2 : 1) * nph : 0, cl->recurrent ? bwd_pack : NULL, bwd_begin,
                           bwd_step, NULL, &x, 1};
    rnn_loop_run(&s.d, &p, &loop);

    float *dW = grads, *dU = cl->recurrent ? dW + I * G : NULL;
    float *db = dW + (I + (cl->recurrent ? H : 0)) * G, *dbh = cl->separate ? db + G : NULL;
    float *dpa = db + (cl->separate ? 2 : 1) * G;
    const float *dzh = x.zh ? x.zh : x.z;
    const int64_t Gn = (cl->gates - cl->mid) * H;
    rnn_wgrad w[3] = {{x_in, I, I, x.z, G, G, dW, G},
                      {x.st, H, H, dzh, G, Gn, dU, G},
                      {x.m, H, H, x.z + Gn, G, G - Gn, dU + Gn, G}};
    rnn_bgrad bg[3] = {{x.z, G, G, db}};
    int nb = 1;
    if (dbh) bg[nb++] = (rnn_bgrad){x.zh, G, G, dbh};
    if (s.P) bg[nb++] = (rnn_bgrad){x.dp, s.P, s.P, dpa};
    int err = rnn_weight_grads(p.nt, TB, w, cl->recurrent ? (cl->mid ? 3 : 2) : 1, bg, nb);
    if (!err && dx) err = recur_sgemm_par(p.nt, 'N', 'T', TB, I, G, 1.0f, x.z, G, x.W, G, 0.0f, dx, I);
    return err ? recur_gemm_fail(err, fn) : RECUR_OK;
}
