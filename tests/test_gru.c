/* The GRU primitive against an independent double-precision reference, whose
 * own backward is checked against central finite differences; then the rest
 * of the contract: NULL arguments, overwritten gradients, thread counts and
 * every invalid argument, through the harness shared with the SimpleRNN
 * (rnn_harness.h), in both reset modes (shape.mode is reset_after). Uses only
 * the public header. ctest runs it once per RECUR_ISA. */
#include "rnn_harness.h"

/* ---- Reference: plain loops in double, written from the equations ------- */

typedef struct {
    size_t T, B, I, H;
    int relu, reset_after;
    double *z, *r, *hh, *ah, *rh, *h; /* [T][B][H]: gates, candidate hh = act(ah), rh = the
                                         recurrent candidate term r scales (reset_after 1), h_t */
    double *xg, *hg;                  /* [3H] */
    double kink;                      /* relu: the smallest |ah| of the last forward */
} ref_tape;

static double sigm(double v) {
    return 1.0 / (1.0 + exp(-v));
}

static void *tape_new(const shape *s) {
    ref_tape *tp = malloc(sizeof *tp);
    tp->T = s->T, tp->B = s->B, tp->I = s->I, tp->H = s->H;
    tp->relu = s->relu, tp->reset_after = s->mode;
    size_t n = tp->T * tp->B * tp->H;
    tp->z = calloc(n, sizeof(double)), tp->r = calloc(n, sizeof(double));
    tp->hh = calloc(n, sizeof(double)), tp->ah = calloc(n, sizeof(double));
    tp->rh = calloc(n, sizeof(double)), tp->h = calloc(n, sizeof(double));
    tp->xg = calloc(3 * tp->H, sizeof(double)), tp->hg = calloc(3 * tp->H, sizeof(double));
    return tp;
}

static void tape_free(void *tape) {
    ref_tape *tp = tape;
    free(tp->z), free(tp->r), free(tp->hh), free(tp->ah), free(tp->rh), free(tp->h);
    free(tp->xg), free(tp->hg);
    free(tp);
}

/* y [T][B][H], hT [B][H]; returns tp->kink */
static double ref_forward(void *tape, const ref_in *in, double *y, double *hT) {
    ref_tape *tp = tape;
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H, G = 3 * H;
    const int after = tp->reset_after;
    tp->kink = INFINITY;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < B; n++) {
            const double *hp = t ? tp->h + ((t - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (t * B + n) * I;
            const size_t row = (t * B + n) * H;
            if (ref_masked(in, t, B, n)) { /* h carried through, y_t = h_t */
                for (size_t j = 0; j < H; j++) {
                    tp->z[row + j] = tp->r[row + j] = tp->hh[row + j] = 0;
                    tp->ah[row + j] = tp->rh[row + j] = 0;
                    y[row + j] = tp->h[row + j] = hp[j];
                }
                continue;
            }
            double *xg = tp->xg, *hg = tp->hg;
            /* xz, xr, xh = x_t W + b (reset_after 1: b[0]) */
            memcpy(xg, in->b, G * sizeof(double));
            for (size_t k = 0; k < I; k++)
                for (size_t col = 0; col < G; col++) xg[col] += xt[k] * in->W[k * G + col];
            /* reset_after 1: rz, rr, rh = h_{t-1} U + b[1]; 0: h_{t-1} U_z, h_{t-1} U_r */
            const size_t ncol = after ? G : 2 * H;
            if (after)
                memcpy(hg, in->b + G, G * sizeof(double));
            else
                memset(hg, 0, G * sizeof(double));
            for (size_t k = 0; k < H; k++)
                for (size_t col = 0; col < ncol; col++) hg[col] += hp[k] * in->U[k * G + col];
            for (size_t j = 0; j < H; j++) {
                tp->z[row + j] = sigm(xg[j] + hg[j]);
                tp->r[row + j] = sigm(xg[H + j] + hg[H + j]);
            }
            /* reset_after 0: (r * h_{t-1}) U_h, which needs the row's every r */
            if (!after)
                for (size_t k = 0; k < H; k++)
                    for (size_t j = 0; j < H; j++)
                        hg[2 * H + j] += tp->r[row + k] * hp[k] * in->U[k * G + 2 * H + j];
            for (size_t j = 0; j < H; j++) {
                const size_t at = row + j;
                const double z = tp->z[at], r = tp->r[at];
                /* hh = act(xh + r * rh)  or  act(xh + (r * h_{t-1}) U_h) */
                tp->rh[at] = hg[2 * H + j];
                tp->ah[at] = xg[2 * H + j] + (after ? r * hg[2 * H + j] : hg[2 * H + j]);
                tp->hh[at] = actd(tp->relu, tp->ah[at]);
                if (fabs(tp->ah[at]) < tp->kink) tp->kink = fabs(tp->ah[at]);
                /* h_t = z * h_{t-1} + (1 - z) * hh */
                tp->h[at] = z * hp[j] + (1 - z) * tp->hh[at];
                y[at] = tp->h[at];
            }
        }
    memcpy(hT, tp->h + (T - 1) * B * H, B * H * sizeof(double));
    return tp->kink;
}

static void ref_backward(const void *tape, const ref_in *in, const double *dy, const double *dhT,
                         ref_grad *gr) {
    const ref_tape *tp = tape;
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H, G = 3 * H;
    const int after = tp->reset_after;
    memset(gr->W, 0, I * G * sizeof(double));
    memset(gr->U, 0, H * G * sizeof(double));
    memset(gr->b, 0, (after ? 2 : 1) * G * sizeof(double));
    double *dh = malloc(B * H * sizeof(double)), *dxg = malloc(G * sizeof(double));
    double *dhg = malloc(G * sizeof(double)), *drh = malloc(H * sizeof(double));
    memcpy(dh, dhT, B * H * sizeof(double));
    for (size_t tt = T; tt-- > 0;)
        for (size_t n = 0; n < B; n++) {
            const double *hp = tt ? tp->h + ((tt - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (tt * B + n) * I;
            const double *rr = tp->r + (tt * B + n) * H;
            double *dxt = gr->x + (tt * B + n) * I, *dhp = dh + n * H;
            const size_t row = (tt * B + n) * H;
            if (ref_masked(in, tt, B, n)) { /* dh_{t-1} = dh_t + dy_t; no gate gradients */
                for (size_t j = 0; j < H; j++) dhp[j] += dy[row + j];
                memset(dxt, 0, I * sizeof(double));
                continue;
            }
            /* dxg: gradient of x_t W + b; dhg: of the recurrent products */
            for (size_t j = 0; j < H; j++) {
                const size_t at = row + j;
                const double z = tp->z[at], r = tp->r[at], hh = tp->hh[at];
                const double dht = dhp[j] + dy[at];
                const double dah = dht * (1 - z) * dactd(tp->relu, tp->ah[at], hh);
                dxg[j] = dhg[j] = dht * (hp[j] - hh) * z * (1 - z);
                dxg[2 * H + j] = dah;
                if (after) {
                    dxg[H + j] = dhg[H + j] = dah * tp->rh[at] * r * (1 - r);
                    dhg[2 * H + j] = dah * r;
                }
                dhp[j] = dht * z; /* the direct path; the products add theirs below */
            }
            if (!after) {
                /* through (r * h_{t-1}) U_h: d(r * h_{t-1}) = dah U_h^T */
                for (size_t k = 0; k < H; k++) {
                    double acc = 0;
                    for (size_t j = 0; j < H; j++) acc += dxg[2 * H + j] * in->U[k * G + 2 * H + j];
                    drh[k] = acc;
                }
                for (size_t k = 0; k < H; k++) {
                    dxg[H + k] = dhg[H + k] = drh[k] * hp[k] * rr[k] * (1 - rr[k]);
                    dhp[k] += drh[k] * rr[k];
                }
            }
            for (size_t col = 0; col < G; col++) gr->b[col] += dxg[col];
            for (size_t k = 0; k < I; k++)
                for (size_t col = 0; col < G; col++) gr->W[k * G + col] += xt[k] * dxg[col];
            for (size_t k = 0; k < I; k++) {
                double acc = 0;
                for (size_t col = 0; col < G; col++) acc += dxg[col] * in->W[k * G + col];
                dxt[k] = acc;
            }
            const size_t ncol = after ? G : 2 * H;
            if (after)
                for (size_t col = 0; col < G; col++) gr->b[G + col] += dhg[col];
            for (size_t k = 0; k < H; k++) {
                double acc = 0;
                for (size_t col = 0; col < ncol; col++) {
                    gr->U[k * G + col] += hp[k] * dhg[col];
                    acc += dhg[col] * in->U[k * G + col];
                }
                if (!after)
                    for (size_t j = 0; j < H; j++)
                        gr->U[k * G + 2 * H + j] += rr[k] * hp[k] * dxg[2 * H + j];
                dhp[k] += acc;
            }
        }
    memcpy(gr->h0, dh, B * H * sizeof(double));
    free(dh), free(dxg), free(dhg), free(drh);
}

/* ---- The cell ------------------------------------------------------------ */

static recur_gru_desc gru_desc(const cell_desc *c) {
    recur_gru_desc d = {c->seq_len,    c->batch, c->input_size, c->hidden_size,
                        c->activation, c->mode,  c->mask};
    return d;
}
RNN_HARNESS_WRAP(gru, recur_gru_desc, gru_desc)

/* T, B, H of 1 and hidden sizes off every vector width (5, 17, 33, 70),
 * each activation with each reset mode */
static const shape edge_shapes[] = {
    {1, 1, 1, 1, 0, 1},   {1, 1, 1, 1, 1, 0},   {1, 1, 1, 1, 0, 0},   {1, 1, 1, 1, 1, 1},
    {1, 3, 5, 7, 0, 0},   {1, 3, 5, 7, 1, 1},   {4, 1, 3, 17, 1, 1},  {4, 1, 3, 17, 0, 0},
    {3, 5, 7, 5, 0, 1},   {3, 5, 7, 5, 1, 0},   {6, 4, 16, 33, 0, 0}, {6, 4, 16, 33, 1, 1},
    {5, 7, 2, 15, 1, 0},  {2, 2, 31, 16, 0, 1}, {7, 3, 4, 1, 1, 1},   {7, 3, 4, 1, 0, 0},
    {9, 6, 10, 40, 1, 0}, {4, 5, 70, 70, 0, 1}, {4, 5, 9, 70, 1, 0},  {3, 2, 1, 17, 0, 1}};

/* the last two: 3 MiB of U at 20 rows a thread, where on Intel
 * (RECUR_CPU=intel) the forward splits hidden units and the backward rows */
static const shape thread_shapes[] = {
    {5, 9, 6, 20, 0, 1}, {3, 1, 4, 8, 1, 0}, {4, 2, 5, 37, 0, 0}, {6, 7, 3, 33, 1, 1},
    {2, 40, 8, 512, 0, 1}, {2, 40, 8, 512, 1, 0}};

static const rnn_cell gru_cell = {
    .names = {{"tanh reset_after=0", "tanh reset_after=1"},
              {"relu reset_after=0", "relu reset_after=1"}},
    .modes = 2,
    .gates = 3,
    .bias_rows = {1, 2}, /* reset_after 1: input and recurrent bias */
    RNN_CELL_CALLS(gru),
    RNN_CELL_SHAPES(edge_shapes, thread_shapes),
};

/* ---- GRU-only tests ------------------------------------------------------- */

static void test_bad_reset_after(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    const int bad[] = {2, -1, INT_MAX, INT_MIN};
    for (int k = 0; k < 4; k++) {
        cell_desc d = desc_of(&p.s);
        d.mode = bad[k];
        expect_refused(&p, &o, &d, RECUR_ERR_INVALID_ARGUMENT, "reset_after");
    }
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

int main(void) {
    static const rnn_harness_case cases[] = {
        RNN_HARNESS_CASES_REFERENCE,
        RNN_HARNESS_CASES_ARGUMENTS,
        RNN_CASE(test_bad_reset_after),
        RNN_HARNESS_CASES_POINTERS,
    };
    return rnn_harness_main(&gru_cell, "gru", cases, sizeof cases / sizeof *cases);
}
