/* recur's GRU and SimpleRNN primitives against oneDNN's own GRU and vanilla RNN
 * primitives, at the LSTM's shapes (bench_util.c), in the same run.
 *
 * Benchmark names, <what>/T<T>_B<B>_I<I>_H<H>/<activation>, <what> one of
 *   <cell>_fwd, <cell>_train                 recur: inference forward (weights packed
 *                                            before the timed loop, caller-owned
 *                                            scratch); training forward + backward
 *   onednn_<cell>_fwd, onednn_<cell>_train   oneDNN: forward_inference; forward_training
 *                                            + backward
 * with <cell>
 *   gru    reset_after = 1 (Keras 2's default)  vs dnnl_lbr_gru
 *   gru0   reset_after = 0                      vs dnnl_vanilla_gru
 *   rnn    SimpleRNN                            vs dnnl_vanilla_rnn
 * All tanh; the tutorial shape adds relu rows: recur's GRUs alone (oneDNN's GRUs
 * are tanh only, so table.py sets them beside oneDNN's tanh time) and both
 * libraries' RNN (eltwise_relu). FLOPs as the LSTM's, the GEMMs: forward
 * 2*T*B*3H*(I+H) for the GRUs, 2*T*B*H*(I+H) for the RNN; training 3x forward.
 *
 * Both libraries get the same random numbers. Once per oneDNN benchmark, after
 * its warm-up and outside the timed loop, recur's forward of the same kind must give
 * oneDNN's y to within check_tol(), or the benchmark is skipped: that proves the
 * layouts below map one library's parameters onto the other's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <oneapi/dnnl/dnnl.h>
#include <recur.h>

#include "bench_gru.h"
#include "bench_util.h"
#include "shim.h"

/* float rounding of a K = I + H long sum, carried through T steps, grows with
 * K: 1e-4 up to K = 256, in proportion past it (2048: 8e-4); a wrong weight
 * or bias mapping is off by 1e-2 or more */
static double check_tol(const bench_shape *s) {
    const double k = (double)(s->I + s->H) / 256.0;
    return 1e-4 * (k > 1.0 ? k : 1.0);
}

typedef enum { CELL_GRU, CELL_GRU0, CELL_RNN, N_CELLS } cell_kind;

typedef struct {
    cell_kind cell;
    bench_shape s;
    recur_act act;
    int train; /* forward + backward; else forward */
} rnn_case;

static void lbr_gru_bias(const void *ctx, const bench_rnn_data *m, float *bias);

/* How each recur cell maps onto oneDNN. W [I][gates*H] and U [H][gates*H] are
 * oneDNN's ldigo as they are: Keras's GRU blocks z, r, h are oneDNN's u, r, o. */
static const struct {
    const char *name;
    int gates;              /* GEMM column blocks of H */
    int bias_rows;          /* recur's b: bias_rows * H */
    dnnl_alg_kind_t onednn; /* the oneDNN cell */
    bench_onednn_bias bias; /* recur's b to oneDNN's, NULL: the same */
} cells[N_CELLS] = {
    [CELL_GRU] = {"gru", 3, 6, dnnl_lbr_gru, lbr_gru_bias}, /* b [2][3H] */
    [CELL_GRU0] = {"gru0", 3, 3, dnnl_vanilla_gru, NULL},   /* b [3H], oneDNN's ldgo */
    [CELL_RNN] = {"rnn", 1, 1, dnnl_vanilla_rnn, NULL},     /* b [H] */
};

/* recur's b [2][3H] (row 0 input, row 1 recurrent; blocks z, r, h) to oneDNN's
 * LBR GRU bias [4][H], rows u, r, o, u': z and r only ever see the sum of their
 * two biases; the candidate keeps its input bias in o and its recurrent one,
 * the one r multiplies, in u'. */
static void lbr_gru_bias(const void *ctx, const bench_rnn_data *m, float *bias) {
    const size_t H = (size_t)((const rnn_case *)ctx)->s.H;
    const float *bx = m->b, *bh = m->b + 3 * H;
    for (size_t j = 0; j < 2 * H; j++) bias[j] = bx[j] + bh[j];
    for (size_t j = 0; j < H; j++) bias[2 * H + j] = bx[2 * H + j], bias[3 * H + j] = bh[2 * H + j];
}

/* ---- recur ------------------------------------------------------------------ */

static recur_gru_desc gru_desc(const rnn_case *c) {
    return (recur_gru_desc){c->s.T, c->s.B, c->s.I, c->s.H, c->act, c->cell == CELL_GRU, NULL};
}

static recur_rnn_desc rnn_desc(const rnn_case *c) {
    return (recur_rnn_desc){c->s.T, c->s.B, c->s.I, c->s.H, c->act, NULL};
}

/* y from m's inputs: for "train" the training forward, keeping in ws what
 * backward needs; for "fwd" the inference forward with ws as its scratch
 * (oneDNN's row is forward_inference). */
static recur_status recur_forward(const rnn_case *c, const bench_rnn_data *m, float *y, void *ws) {
    if (c->cell == CELL_RNN) {
        const recur_rnn_desc d = rnn_desc(c);
        return c->train
                   ? recur_rnn_forward(&d, m->W, m->U, m->b, m->x, NULL, y, NULL, ws)
                   : recur_rnn_forward_inference(&d, m->W, m->U, m->b, m->x, NULL, y, NULL, ws);
    }
    const recur_gru_desc d = gru_desc(c);
    return c->train ? recur_gru_forward(&d, m->W, m->U, m->b, m->x, NULL, y, NULL, ws)
                    : recur_gru_forward_inference(&d, m->W, m->U, m->b, m->x, NULL, y, NULL, ws);
}

/* "fwd" runs on weights packed before the timed loop (recur_pack, at the
 * start of ws; the scratch after them), as oneDNN's row runs on weights
 * reordered before it. */
static size_t packed_bytes(const rnn_case *c) {
    const recur_gru_desc g = gru_desc(c);
    const recur_rnn_desc r = rnn_desc(c);
    const size_t n = c->train              ? 0
                     : c->cell == CELL_RNN ? recur_rnn_packed_weights_size(&r)
                                           : recur_gru_packed_weights_size(&g);
    return (n + 63) / 64 * 64;
}

static recur_status recur_pack(const void *ctx, bench_rnn_data *m, void *ws) {
    const rnn_case *c = ctx;
    const recur_gru_desc g = gru_desc(c);
    const recur_rnn_desc r = rnn_desc(c);
    return c->cell == CELL_RNN ? recur_rnn_pack_weights(&r, m->W, m->U, ws)
                               : recur_gru_pack_weights(&g, m->W, m->U, ws);
}

/* "train" adds the backward with dx and all weight gradients. */
static recur_status recur_step(const void *ctx, bench_rnn_data *m, void *ws) {
    const rnn_case *c = ctx;
    if (!c->train) {
        void *scratch = (char *)ws + packed_bytes(c);
        const recur_gru_desc g = gru_desc(c);
        const recur_rnn_desc r = rnn_desc(c);
        return c->cell == CELL_RNN
                   ? recur_rnn_forward_packed(&r, ws, m->b, m->x, NULL, m->y, NULL, scratch)
                   : recur_gru_forward_packed(&g, ws, m->b, m->x, NULL, m->y, NULL, scratch);
    }
    recur_status s = recur_forward(c, m, m->y, ws);
    if (s != RECUR_OK) return s;
    if (c->cell == CELL_RNN) {
        const recur_rnn_desc d = rnn_desc(c);
        return recur_rnn_backward(&d, m->W, m->U, m->b, m->x, NULL, m->dy, NULL, m->dx, NULL, m->dW,
                                  m->dU, m->db, ws);
    }
    const recur_gru_desc d = gru_desc(c);
    return recur_gru_backward(&d, m->W, m->U, m->b, m->x, NULL, m->dy, NULL, m->dx, NULL, m->dW,
                              m->dU, m->db, ws);
}

/* the training workspace, or the inference scratch */
static size_t workspace_size(const rnn_case *c) {
    const recur_gru_desc g = gru_desc(c);
    const recur_rnn_desc r = rnn_desc(c);
    if (c->cell == CELL_RNN)
        return c->train ? recur_rnn_workspace_size(&r) : recur_rnn_inference_scratch_size(&r);
    return c->train ? recur_gru_workspace_size(&g) : recur_gru_inference_scratch_size(&g);
}

static void bench_recur(void *ctx, bench_state *st) {
    const rnn_case *c = ctx;
    bench_recur_run(st, c->train ? NULL : recur_pack, recur_step, c, c->s, cells[c->cell].gates,
                    (size_t)cells[c->cell].bias_rows * c->s.H, packed_bytes(c) + workspace_size(c));
}

/* ---- oneDNN ----------------------------------------------------------------- */

/* oneDNN's y is in m->y; recur's forward must agree (the unpacked inference
 * forward for "fwd": the packed one gives its y bit for bit, test_gru). */
static int check_y(const void *ctx, const bench_rnn_data *m, char *msg, size_t msg_len) {
    const rnn_case *c = ctx;
    const size_t n = (size_t)c->s.T * c->s.B * c->s.H;
    float *y = bench_falloc(n), *ws = bench_falloc(workspace_size(c) / sizeof(float) + 1);
    recur_status s = y && ws ? recur_forward(c, m, y, ws) : RECUR_ERR_OUT_OF_MEMORY;
    double diff = 0;
    size_t at = 0;
    for (size_t k = 0; s == RECUR_OK && k < n; k++) {
        const double e = fabs((double)y[k] - m->y[k]);
        if (!(e <= diff)) diff = e, at = k; /* a NaN sticks */
    }
    free(y);
    free(ws);
    if (s != RECUR_OK)
        snprintf(msg, msg_len, "check: recur's forward failed: %s: %s", recur_status_string(s),
                 recur_last_error());
    else if (!(diff <= check_tol(&c->s)))
        snprintf(msg, msg_len, "check: recur's y and oneDNN's differ by %.3g at %zu (> %g)", diff,
                 at, check_tol(&c->s));
    else
        return 1;
    return 0;
}

static void bench_onednn(void *ctx, bench_state *st) {
    const rnn_case *c = ctx;
    const bench_onednn_desc o = {cells[c->cell].onednn,
                                 c->act == RECUR_ACT_RELU ? dnnl_eltwise_relu : dnnl_eltwise_tanh,
                                 c->s, c->train};
    bench_onednn_run(st, &o, (size_t)cells[c->cell].bias_rows * c->s.H, cells[c->cell].bias,
                     check_y, c);
}

/* ---- Registration ----------------------------------------------------------- */

/* per shape and cell: recur fwd, train, oneDNN fwd, train, all tanh; the
 * tutorial shape adds ReLU: recur's fwd, train for each cell, oneDNN's for the
 * RNN */
static rnn_case cases[4 * N_CELLS * BENCH_N_SHAPES + 2 * N_CELLS + 2];
static int n_cases;

static void add_case(int onednn, cell_kind cell, bench_shape s, recur_act act, int train) {
    rnn_case *c = &cases[n_cases++];
    *c = (rnn_case){cell, s, act, train};
    char what[64];
    snprintf(what, sizeof what, "%s%s_%s", onednn ? "onednn_" : "", cells[cell].name,
             train ? "train" : "fwd");
    bench_register_rnn(what, onednn ? bench_onednn : bench_recur, c, s, act, cells[cell].gates,
                       train);
}

void bench_gru_register(void) {
    for (int k = 0; k < BENCH_N_SHAPES; k++) {
        for (int cell = 0; cell < N_CELLS; cell++) {
            for (int onednn = 0; onednn < 2; onednn++)
                for (int train = 0; train < 2; train++)
                    add_case(onednn, cell, bench_shapes[k], RECUR_ACT_TANH, train);
            if (k != 0) continue;
            for (int onednn = 0; onednn < (cell == CELL_RNN ? 2 : 1); onednn++)
                for (int train = 0; train < 2; train++)
                    add_case(onednn, cell, bench_shapes[k], RECUR_ACT_RELU, train);
        }
    }
}
