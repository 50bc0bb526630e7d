/* The SimpleRNN layer: Keras's SimpleRNN(units, activation, return_sequences)
 * on recur_rnn_forward / recur_rnn_backward; bias [units]. */
#include <string.h>

#include "recurrent.h"

static size_t bias_len(const layer *L) {
    return (size_t)L->units;
}

static recur_rnn_desc desc(const layer *L, int T, int B, const unsigned char *mask) {
    recur_rnn_desc d = {T, B, L->in_feat, L->units, L->act, mask};
    return d;
}

static size_t workspace_size(const layer *L, int T, int B) {
    recur_rnn_desc d = desc(L, T, B, NULL);
    const size_t train = recur_rnn_workspace_size(&d), infer = recur_rnn_inference_scratch_size(&d);
    return train > infer ? train : infer;
}

static recur_status forward(const layer *L, int T, int B, const float *params, const float *x,
                            const unsigned char *mask, const float *s0, float *y, float *hT,
                            float *sT, int mode, void *ws) {
    recur_rnn_desc d = desc(L, T, B, mask);
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units, G = 1 * H;
    const float *W = params, *U = W + I * G, *b = U + H * G;
    recur_status st = mode & FWD_TAPE
                          ? recur_rnn_forward(&d, W, U, b, x, s0, y, sT ? sT : hT, ws)
                          : rnn_forward_inference_keep(&d, W, U, b, x, s0, y, sT ? sT : hT, ws,
                                                       mode & FWD_KEEP_PACK);
    if (!st && sT && hT) memcpy(hT, sT, (size_t)B * H * sizeof(float));
    return st;
}

static recur_status backward(const layer *L, int T, int B, const float *params, const float *x,
                             const unsigned char *mask, const float *dy, const float *dhT,
                             float *dx, float *grads, void *ws) {
    recur_rnn_desc d = desc(L, T, B, mask);
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units, G = 1 * H;
    const float *W = params, *U = W + I * G, *b = U + H * G;
    return recur_rnn_backward(&d, W, U, b, x, NULL, dy, dhT, dx, NULL, grads, grads + I * G,
                              grads + (I + H) * G, ws);
}

static const recurrent_cell cell = {"a SimpleRNN",  1,       1,       NULL, bias_len, NULL,
                                    workspace_size, forward, backward};

const layer_ops layer_simple_rnn = {5,
                                    "simple_rnn",
                                    "SimpleRNN",
                                    "rnn",
                                    recurrent_parse,
                                    recurrent_build,
                                    recurrent_arrays,
                                    recurrent_init,
                                    recurrent_alloc,
                                    recurrent_release,
                                    recurrent_forward,
                                    recurrent_backward,
                                    &cell};

recur_status recur_model_add_simple_rnn(recur_model *m, int units, recur_act activation,
                                        int return_sequences) {
    layer L = {.ops = &layer_simple_rnn,
               .units = units,
               .act = activation,
               .return_sequences = return_sequences != 0};
    return model_add(m, &L, "recur_model_add_simple_rnn");
}
