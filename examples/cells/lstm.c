/* Keras's LSTM as a custom cell: gates i, f, c, o; states h, c.
 *   i, f, o = sigmoid(z)   g = act(z_c)   c = f c' + i g   h = o act(c)
 * Forward keeps the activated gates in z; backward turns them into dz. */
#include "cells.h"

static void forward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    for (int r = 0; r < a->rows; r++) {
        float *i = a->z + r * a->ldz, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const float *cp = a->s_prev[1] + r * a->lds;
        float *h = a->s[0] + r * a->lds, *c = a->s[1] + r * a->lds;
        recur_vsigmoid(n, i, i), recur_vsigmoid(n, f, f), recur_vsigmoid(n, o, o);
        recur_vact(a->act, n, g, g);
        for (int j = 0; j < n; j++) c[j] = f[j] * cp[j] + i[j] * g[j];
        recur_vact(a->act, n, c, h);
        for (int j = 0; j < n; j++) h[j] *= o[j];
    }
}

/* d act(v) from y = act(v) (tanh) or from v itself (relu: v > 0 iff y > 0) */
static inline float dact(recur_act act, float y) {
    return act == RECUR_ACT_RELU ? (y > 0.0f) : 1.0f - y * y;
}

static void backward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    for (int r = 0; r < a->rows; r++) {
        float *i = a->z + r * a->ldz, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const float *cp = a->s_prev[1] + r * a->lds, *c = a->s[1] + r * a->lds;
        const float *dh = a->ds[0] + r * a->lds, *dc_in = a->ds[1] + r * a->lds;
        float *dhp = a->ds_prev[0] + r * a->lds, *dcp = a->ds_prev[1] + r * a->lds;
        float *tc = a->scratch + r * a->ldscratch;
        recur_vact(a->act, n, c, tc);
        for (int j = 0; j < n; j++) {
            const float dc = dc_in[j] + dh[j] * o[j] * dact(a->act, tc[j]);
            const float di = dc * g[j], df = dc * cp[j], dg = dc * i[j], dout = dh[j] * tc[j];
            dcp[j] = dc * f[j];
            dhp[j] = 0.0f; /* h' reaches this step only through the product */
            i[j] = di * i[j] * (1.0f - i[j]);
            f[j] = df * f[j] * (1.0f - f[j]);
            g[j] = dg * dact(a->act, g[j]);
            o[j] = dout * o[j] * (1.0f - o[j]);
        }
    }
}

const recur_cell cell_lstm = {.name = "lstm_cell",
                              .gates = 4,
                              .recurrent = 1,
                              .states = 2,
                              .gate_bias = {0.0f, 1.0f}, /* unit_forget_bias */
                              .forward = forward,
                              .backward = backward};
