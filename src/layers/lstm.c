/* The LSTM layer: Keras's LSTM(units, activation, return_sequences) on
 * recur_lstm_forward / recur_lstm_backward. Bias [4 units], gates i, f, c, o;
 * the forget block starts at 1 (Keras's unit_forget_bias). */
#include <string.h>

#include "recurrent.h"

static size_t bias_len(const layer *L) {
    return 4 * (size_t)L->units;
}

static void init_bias(const layer *L, float *b) {
    for (int j = 0; j < L->units; j++) b[L->units + j] = 1.0f;
}

static recur_lstm_desc desc(const layer *L, int T, int B, const unsigned char *mask) {
    recur_lstm_desc d = {T, B, L->in_feat, L->units, L->act, mask};
    return d;
}

static size_t workspace_size(const layer *L, int T, int B) {
    recur_lstm_desc d = desc(L, T, B, NULL);
    const size_t train = recur_lstm_workspace_size(&d),
                 infer = recur_lstm_inference_scratch_size(&d);
    return train > infer ? train : infer;
}

/* states: h then c, each [B][H] */
static recur_status forward(const layer *L, int T, int B, const float *params, const float *x,
                            const unsigned char *mask, const float *s0, float *y, float *hT,
                            float *sT, int mode, void *ws) {
    recur_lstm_desc d = desc(L, T, B, mask);
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units, G = 4 * H;
    const float *W = params, *U = W + I * G, *b = U + H * G;
    const size_t BH = (size_t)B * H;
    const float *c0 = s0 ? s0 + BH : NULL;
    float *h1 = sT ? sT : hT, *c1 = sT ? sT + BH : NULL;
    recur_status st = mode & FWD_TAPE ? recur_lstm_forward(&d, W, U, b, x, s0, c0, y, h1, c1, ws)
                                      : lstm_forward_inference_keep(&d, W, U, b, x, s0, c0, y, h1,
                                                                    c1, ws, mode & FWD_KEEP_PACK);
    if (!st && sT && hT) memcpy(hT, sT, BH * sizeof(float));
    return st;
}

static recur_status backward(const layer *L, int T, int B, const float *params, const float *x,
                             const unsigned char *mask, const float *dy, const float *dhT,
                             float *dx, float *grads, void *ws) {
    recur_lstm_desc d = desc(L, T, B, mask);
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units, G = 4 * H;
    const float *W = params, *U = W + I * G, *b = U + H * G;
    return recur_lstm_backward(&d, W, U, b, x, NULL, NULL, dy, dhT, NULL, dx, NULL, NULL, grads,
                               grads + I * G, grads + (I + H) * G, ws);
}

static const recurrent_cell cell = {"an LSTM",      4,       2,       NULL, bias_len, init_bias,
                                    workspace_size, forward, backward};

const layer_ops layer_lstm = {1,
                              "lstm",
                              "LSTM",
                              "lstm",
                              recurrent_parse,
                              recurrent_build,
                              recurrent_arrays,
                              recurrent_init,
                              recurrent_alloc,
                              recurrent_release,
                              recurrent_forward,
                              recurrent_backward,
                              &cell};

recur_status recur_model_add_lstm(recur_model *m, int units, recur_act activation,
                                  int return_sequences) {
    layer L = {.ops = &layer_lstm,
               .units = units,
               .act = activation,
               .return_sequences = return_sequences != 0};
    return model_add(m, &L, "recur_model_add_lstm");
}
