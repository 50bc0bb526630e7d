/* The SimpleRNN primitive against an independent double-precision reference,
 * whose own backward is checked against central finite differences; then the
 * rest of the contract: NULL arguments, overwritten gradients, thread counts
 * and every invalid argument, through the harness shared with the GRU
 * (rnn_harness.h; the SimpleRNN has one mode, 0). Uses only the public header.
 * ctest runs it once per RECUR_ISA. */
#include "rnn_harness.h"

/* ---- Reference: plain loops in double, written from the equations ------- */

typedef struct {
    size_t T, B, I, H;
    int relu;
    double *a, *h; /* [T][B][H]: pre-activation, h_t */
    double kink;   /* relu: the smallest |a| of the last forward */
} ref_tape;

static void *tape_new(const shape *s) {
    ref_tape *tp = malloc(sizeof *tp);
    tp->T = s->T, tp->B = s->B, tp->I = s->I, tp->H = s->H, tp->relu = s->relu;
    size_t n = tp->T * tp->B * tp->H;
    tp->a = calloc(n, sizeof(double)), tp->h = calloc(n, sizeof(double));
    return tp;
}

static void tape_free(void *tape) {
    ref_tape *tp = tape;
    free(tp->a), free(tp->h);
    free(tp);
}

/* y [T][B][H], hT [B][H]; returns tp->kink */
static double ref_forward(void *tape, const ref_in *in, double *y, double *hT) {
    ref_tape *tp = tape;
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H;
    tp->kink = INFINITY;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < B; n++) {
            const double *hp = t ? tp->h + ((t - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (t * B + n) * I;
            double *a = tp->a + (t * B + n) * H;
            if (ref_masked(in, t, B, n)) { /* h carried through, y_t = h_t */
                for (size_t j = 0; j < H; j++) {
                    const size_t at = (t * B + n) * H + j;
                    a[j] = 0;
                    tp->h[at] = y[at] = hp[j];
                }
                continue;
            }
            /* h_t = act(x_t W + h_{t-1} U + b) */
            memcpy(a, in->b, H * sizeof(double));
            for (size_t k = 0; k < I; k++)
                for (size_t j = 0; j < H; j++) a[j] += xt[k] * in->W[k * H + j];
            for (size_t k = 0; k < H; k++)
                for (size_t j = 0; j < H; j++) a[j] += hp[k] * in->U[k * H + j];
            for (size_t j = 0; j < H; j++) {
                const size_t at = (t * B + n) * H + j;
                tp->h[at] = y[at] = actd(tp->relu, a[j]);
                if (fabs(a[j]) < tp->kink) tp->kink = fabs(a[j]);
            }
        }
    memcpy(hT, tp->h + (T - 1) * B * H, B * H * sizeof(double));
    return tp->kink;
}

static void ref_backward(const void *tape, const ref_in *in, const double *dy, const double *dhT,
                         ref_grad *gr) {
    const ref_tape *tp = tape;
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H;
    memset(gr->W, 0, I * H * sizeof(double));
    memset(gr->U, 0, H * H * sizeof(double));
    memset(gr->b, 0, H * sizeof(double));
    double *dh = malloc(B * H * sizeof(double)), *da = malloc(H * sizeof(double));
    memcpy(dh, dhT, B * H * sizeof(double));
    for (size_t tt = T; tt-- > 0;)
        for (size_t n = 0; n < B; n++) {
            const double *hp = tt ? tp->h + ((tt - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (tt * B + n) * I;
            double *dxt = gr->x + (tt * B + n) * I, *dhp = dh + n * H;
            if (ref_masked(in, tt, B, n)) { /* dh_{t-1} = dh_t + dy_t; no gate gradients */
                for (size_t j = 0; j < H; j++) dhp[j] += dy[(tt * B + n) * H + j];
                memset(dxt, 0, I * sizeof(double));
                continue;
            }
            for (size_t j = 0; j < H; j++) {
                const size_t at = (tt * B + n) * H + j;
                da[j] = (dhp[j] + dy[at]) * dactd(tp->relu, tp->a[at], tp->h[at]);
            }
            for (size_t j = 0; j < H; j++) gr->b[j] += da[j];
            for (size_t k = 0; k < I; k++) {
                double acc = 0;
                for (size_t j = 0; j < H; j++) {
                    gr->W[k * H + j] += xt[k] * da[j];
                    acc += da[j] * in->W[k * H + j];
                }
                dxt[k] = acc;
            }
            for (size_t k = 0; k < H; k++) {
                double acc = 0;
                for (size_t j = 0; j < H; j++) {
                    gr->U[k * H + j] += hp[k] * da[j];
                    acc += da[j] * in->U[k * H + j];
                }
                dhp[k] = acc;
            }
        }
    memcpy(gr->h0, dh, B * H * sizeof(double));
    free(dh), free(da);
}

/* ---- The cell ------------------------------------------------------------ */

static recur_rnn_desc rnn_desc(const cell_desc *c) {
    recur_rnn_desc d = {c->seq_len,     c->batch,      c->input_size,
                        c->hidden_size, c->activation, c->mask};
    return d;
}
RNN_HARNESS_WRAP(rnn, recur_rnn_desc, rnn_desc)

/* T, B, H of 1 and hidden sizes off every vector width (5, 17, 33, 70) */
static const shape edge_shapes[] = {
    {1, 1, 1, 1, 0, 0},   {1, 1, 1, 1, 1, 0},  {1, 3, 5, 7, 0, 0},   {4, 1, 3, 17, 1, 0},
    {4, 1, 3, 17, 0, 0},  {3, 5, 7, 5, 0, 0},  {3, 5, 7, 5, 1, 0},   {6, 4, 16, 33, 0, 0},
    {6, 4, 16, 33, 1, 0}, {5, 7, 2, 15, 1, 0}, {2, 2, 31, 16, 0, 0}, {7, 3, 4, 1, 1, 0},
    {7, 3, 4, 1, 0, 0},   {9, 6, 10, 40, 1, 0}, {4, 5, 70, 70, 0, 0}, {4, 5, 9, 70, 1, 0},
    {3, 2, 1, 17, 0, 0},  {8, 3, 20, 64, 1, 0}};

/* the last: 2.25 MiB of U at 20 rows a thread, where on Intel
 * (RECUR_CPU=intel) the forward splits hidden units and the backward rows */
static const shape thread_shapes[] = {
    {5, 9, 6, 20, 0, 0}, {3, 1, 4, 8, 1, 0}, {4, 2, 5, 37, 0, 0}, {6, 7, 3, 33, 1, 0},
    {2, 40, 4, 768, 0, 0}};

static const rnn_cell simple_rnn_cell = {
    .names = {{"tanh"}, {"relu"}},
    .modes = 1,
    .gates = 1,
    .bias_rows = {1},
    RNN_CELL_CALLS(rnn),
    RNN_CELL_SHAPES(edge_shapes, thread_shapes),
};

int main(void) {
    static const rnn_harness_case cases[] = {
        RNN_HARNESS_CASES_REFERENCE,
        RNN_HARNESS_CASES_ARGUMENTS,
        RNN_HARNESS_CASES_POINTERS,
    };
    return rnn_harness_main(&simple_rnn_cell, "rnn", cases, sizeof cases / sizeof *cases);
}
