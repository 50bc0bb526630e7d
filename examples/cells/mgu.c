/* The minimal gated unit (Zhou et al. 2016): one forget gate f.
 *   f = sigmoid(x W_f + h' U_f + b_f)
 *   hh = act(x W_h + (f * h') U_h + b_h)     h = (1 - f) * h' + f * hh
 * The candidate's product takes f * h', not h': a mid gate (cell.mid = 1),
 * as in Keras's GRU without reset_after. */
#include "cells.h"

/* f, then m = f * h' for the candidate's product */
static void forward_mid(const recur_cell_args *a) {
    for (int r = 0; r < a->rows; r++) {
        float *f = a->z + r * a->ldz, *m = a->m + r * a->lds;
        const float *hp = a->s_prev[0] + r * a->lds;
        recur_vsigmoid(a->units, f, f);
        for (int j = 0; j < a->units; j++) m[j] = f[j] * hp[j];
    }
}

static void forward(const recur_cell_args *a) {
    for (int r = 0; r < a->rows; r++) {
        const float *f = a->z + r * a->ldz, *hp = a->s_prev[0] + r * a->lds;
        float *hh = a->z + r * a->ldz + a->H, *h = a->s[0] + r * a->lds;
        recur_vact(a->act, a->units, hh, hh);
        for (int j = 0; j < a->units; j++) h[j] = hp[j] + f[j] * (hh[j] - hp[j]);
    }
}

/* the candidate's dz; f's gradient so far waits in scratch */
static void backward(const recur_cell_args *a) {
    for (int r = 0; r < a->rows; r++) {
        const float *f = a->z + r * a->ldz, *hp = a->s_prev[0] + r * a->lds;
        const float *dh = a->ds[0] + r * a->lds;
        float *hh = a->z + r * a->ldz + a->H, *dhp = a->ds_prev[0] + r * a->lds;
        float *df = a->scratch + r * a->ldscratch;
        for (int j = 0; j < a->units; j++) {
            const float d = a->act == RECUR_ACT_RELU ? (hh[j] > 0.0f) : 1.0f - hh[j] * hh[j];
            df[j] = dh[j] * (hh[j] - hp[j]);
            dhp[j] = dh[j] * (1.0f - f[j]);
            hh[j] = dh[j] * f[j] * d;
        }
    }
}

/* dm = d(f * h'): into f's gradient and h''s */
static void backward_mid(const recur_cell_args *a) {
    for (int r = 0; r < a->rows; r++) {
        float *f = a->z + r * a->ldz, *dhp = a->ds_prev[0] + r * a->lds;
        const float *hp = a->s_prev[0] + r * a->lds, *dm = a->dm + r * a->lds;
        const float *df = a->scratch + r * a->ldscratch;
        for (int j = 0; j < a->units; j++) {
            dhp[j] += dm[j] * f[j];
            f[j] = (df[j] + dm[j] * hp[j]) * f[j] * (1.0f - f[j]);
        }
    }
}

const recur_cell cell_mgu = {.name = "mgu",
                             .gates = 2,
                             .recurrent = 1,
                             .states = 1,
                             .forward = forward,
                             .backward = backward,
                             .mid = 1,
                             .forward_mid = forward_mid,
                             .backward_mid = backward_mid};
