/* Keras's LSTM as a custom cell: gates i, f, c, o; states h, c.
 *   i, f, o = sigmoid(z)   g = act(z_c)   c = f c' + i g   h = o act(c)
 * Forward keeps the activated gates in z; backward turns them into dz. */
#include "cells.h"

static void forward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    for (int r = 0; r < a->rows; r++) {
        float *restrict i = a->z + r * a->ldz, *restrict f = i + H, *restrict g = i + 2 * H,
                        *restrict o = i + 3 * H;
        const float *restrict cp = a->s_prev[1] + r * a->lds;
        float *restrict h = a->s[0] + r * a->lds, *restrict c = a->s[1] + r * a->lds;
        recur_vsigmoid(n, i, i), recur_vsigmoid(n, f, f), recur_vsigmoid(n, o, o);
        recur_vact(a->act, n, g, g);
        for (int j = 0; j < n; j++) c[j] = f[j] * cp[j] + i[j] * g[j];
        recur_vact(a->act, n, c, h);
        for (int j = 0; j < n; j++) h[j] *= o[j];
    }
}

/* d act(v) from y = act(v): tanh 1 - y^2, relu (y > 0); relu is 0 or 1.
 * Written so that gcc vectorises the loops (it does not for a branch on relu
 * or for (float)(y > 0)) */
static inline float dact(float relu, float y) {
    return (y > 0.0f ? relu : 0.0f) + (1.0f - relu) * (1.0f - y * y);
}

/* one row; restrict parameters: the arrays never overlap, so it vectorises */
static void backward_row(int n, float relu, float *restrict i, float *restrict f,
                         float *restrict g, float *restrict o, const float *restrict cp,
                         const float *restrict tc, const float *restrict dh,
                         const float *restrict dc_in, float *restrict dhp, float *restrict dcp) {
    for (int j = 0; j < n; j++) {
        const float dc = dc_in[j] + dh[j] * o[j] * dact(relu, tc[j]);
        const float di = dc * g[j], df = dc * cp[j], dg = dc * i[j], dout = dh[j] * tc[j];
        dcp[j] = dc * f[j];
        dhp[j] = 0.0f; /* h' reaches this step only through the product */
        i[j] = di * i[j] * (1.0f - i[j]);
        f[j] = df * f[j] * (1.0f - f[j]);
        g[j] = dg * dact(relu, g[j]);
        o[j] = dout * o[j] * (1.0f - o[j]);
    }
}

static void backward(const recur_cell_args *a) {
    const int H = a->H, l = a->lds;
    for (int r = 0; r < a->rows; r++) {
        float *z = a->z + r * a->ldz, *tc = a->scratch + r * a->ldscratch;
        recur_vact(a->act, a->units, a->s[1] + r * l, tc); /* act(c_t) again */
        backward_row(a->units, a->act == RECUR_ACT_RELU, z, z + H, z + 2 * H, z + 3 * H,
                     a->s_prev[1] + r * l, tc, a->ds[0] + r * l, a->ds[1] + r * l,
                     a->ds_prev[0] + r * l, a->ds_prev[1] + r * l);
    }
}

const recur_cell cell_lstm = {.name = "lstm_cell",
                              .gates = 4,
                              .recurrent = 1,
                              .states = 2,
                              .gate_bias = {0.0f, 1.0f}, /* unit_forget_bias */
                              .forward = forward,
                              .backward = backward};
