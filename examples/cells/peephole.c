/* An LSTM with peephole connections (Gers, Schraudolph, Schmidhuber 2002;
 * TensorFlow's PeepholeLSTMCell): the gates also see the cell state through
 * per-unit weights,
 *   i = sigmoid(z_i + w_i c')   f = sigmoid(z_f + w_f c')   g = act(z_c)
 *   c = f c' + i g              o = sigmoid(z_o + w_o c)     h = o act(c) */
#include "cells.h"

static void forward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    const float *wi = a->p[0], *wf = a->p[1], *wo = a->p[2];
    for (int r = 0; r < a->rows; r++) {
        float *i = a->z + r * a->ldz, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const float *cp = a->s_prev[1] + r * a->lds;
        float *h = a->s[0] + r * a->lds, *c = a->s[1] + r * a->lds;
        for (int j = 0; j < n; j++) i[j] += wi[j] * cp[j], f[j] += wf[j] * cp[j];
        recur_vsigmoid(n, i, i), recur_vsigmoid(n, f, f), recur_vact(a->act, n, g, g);
        for (int j = 0; j < n; j++) c[j] = f[j] * cp[j] + i[j] * g[j], o[j] += wo[j] * c[j];
        recur_vsigmoid(n, o, o);
        recur_vact(a->act, n, c, h);
        for (int j = 0; j < n; j++) h[j] *= o[j];
    }
}

static void backward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    const float relu = a->act == RECUR_ACT_RELU, w_tanh = 1.0f - relu; /* selects, not branches */
    const float *wi = a->p[0], *wf = a->p[1], *wo = a->p[2];
    for (int r = 0; r < a->rows; r++) {
        float *i = a->z + r * a->ldz, *f = i + H, *g = i + 2 * H, *o = i + 3 * H;
        const float *cp = a->s_prev[1] + r * a->lds, *c = a->s[1] + r * a->lds;
        const float *dh = a->ds[0] + r * a->lds, *dcn = a->ds[1] + r * a->lds;
        float *dwi = a->dp[0] + r * a->lddp, *dwf = a->dp[1] + r * a->lddp;
        float *dwo = a->dp[2] + r * a->lddp, *tc = a->scratch + r * a->ldscratch;
        recur_vact(a->act, n, c, tc);
        for (int j = 0; j < n; j++) {
            const float dzo = dh[j] * tc[j] * o[j] * (1.0f - o[j]);
            const float dtc = (tc[j] > 0.0f ? relu : 0.0f) + w_tanh * (1.0f - tc[j] * tc[j]);
            const float dc = dcn[j] + dh[j] * o[j] * dtc + dzo * wo[j];
            const float dzi = dc * g[j] * i[j] * (1.0f - i[j]);
            const float dzf = dc * cp[j] * f[j] * (1.0f - f[j]);
            const float dzg = dc * i[j] * ((g[j] > 0.0f ? relu : 0.0f) + w_tanh * (1.0f - g[j] * g[j]));
            a->ds_prev[1][r * a->lds + j] = dc * f[j] + dzi * wi[j] + dzf * wf[j];
            a->ds_prev[0][r * a->lds + j] = 0.0f;
            dwi[j] = dzi * cp[j], dwf[j] = dzf * cp[j], dwo[j] = dzo * c[j];
            i[j] = dzi, f[j] = dzf, g[j] = dzg, o[j] = dzo;
        }
    }
}

const recur_cell cell_peephole = {
    .name = "peephole_lstm",
    .gates = 4,
    .recurrent = 1,
    .states = 2,
    .gate_bias = {0.0f, 1.0f},
    .nparams = 3,
    .params = {{"peephole_i", 1, RECUR_INIT_UNIFORM, 0.1f},
               {"peephole_f", 1, RECUR_INIT_UNIFORM, 0.1f},
               {"peephole_o", 1, RECUR_INIT_UNIFORM, 0.1f}},
    .forward = forward,
    .backward = backward};
