/* The GRU layer: Keras's GRU(units, activation, reset_after, return_sequences)
 * on recur_gru_forward / recur_gru_backward. Gates z, r, h; bias [2][3 units]
 * (input, recurrent) with reset_after (Keras 2's default), [3 units] without. */
#include <string.h>

#include "recurrent.h"

static size_t bias_len(const layer *L) {
    return (L->option ? 6 : 3) * (size_t)L->units;
}

static recur_gru_desc desc(const layer *L, int T, int B, const unsigned char *mask) {
    recur_gru_desc d = {T, B, L->in_feat, L->units, L->act, L->option, mask};
    return d;
}

static size_t workspace_size(const layer *L, int T, int B) {
    recur_gru_desc d = desc(L, T, B, NULL);
    const size_t train = recur_gru_workspace_size(&d), infer = recur_gru_inference_scratch_size(&d);
    return train > infer ? train : infer;
}

static recur_status forward(const layer *L, int T, int B, const float *params, const float *x,
                            const unsigned char *mask, const float *s0, float *y, float *hT,
                            float *sT, int mode, void *ws) {
    recur_gru_desc d = desc(L, T, B, mask);
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units, G = 3 * H;
    const float *W = params, *U = W + I * G, *b = U + H * G;
    recur_status st = mode & FWD_TAPE
                          ? recur_gru_forward(&d, W, U, b, x, s0, y, sT ? sT : hT, ws)
                          : gru_forward_inference_keep(&d, W, U, b, x, s0, y, sT ? sT : hT, ws,
                                                       mode & FWD_KEEP_PACK);
    if (!st && sT && hT) memcpy(hT, sT, (size_t)B * H * sizeof(float));
    return st;
}

static recur_status backward(const layer *L, int T, int B, const float *params, const float *x,
                             const unsigned char *mask, const float *dy, const float *dhT,
                             float *dx, float *grads, void *ws) {
    recur_gru_desc d = desc(L, T, B, mask);
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units, G = 3 * H;
    const float *W = params, *U = W + I * G, *b = U + H * G;
    return recur_gru_backward(&d, W, U, b, x, NULL, dy, dhT, dx, NULL, grads, grads + I * G,
                              grads + (I + H) * G, ws);
}

static const recurrent_cell cell = {"a GRU",        3,       1,       "reset_after", bias_len, NULL,
                                    workspace_size, forward, backward};

const layer_ops layer_gru = {4,
                             "gru",
                             "GRU",
                             "gru",
                             recurrent_parse,
                             recurrent_build,
                             recurrent_arrays,
                             recurrent_init,
                             recurrent_alloc,
                             recurrent_release,
                             recurrent_forward,
                             recurrent_backward,
                             &cell};

recur_status recur_model_add_gru(recur_model *m, int units, recur_act activation, int reset_after,
                                 int return_sequences) {
    layer L = {.ops = &layer_gru,
               .units = units,
               .act = activation,
               .option = reset_after,
               .return_sequences = return_sequences != 0};
    return model_add(m, &L, "recur_model_add_gru");
}
