/* The LSTM layer: Keras's LSTM(units, activation, return_sequences) on
 * recur_lstm_forward / recur_lstm_backward. Bias [4 units], gates i, f, c, o;
 * the forget block starts at 1 (Keras's unit_forget_bias). */
#include "recurrent.h"

static size_t bias_len(const layer *L) {
    return 4 * (size_t)L->units;
}

static void init_bias(const layer *L, float *b) {
    for (int j = 0; j < L->units; j++) b[L->units + j] = 1.0f;
}

static recur_lstm_desc desc(const layer *L, int B) {
    recur_lstm_desc d = {L->in_steps, B, L->in_feat, L->units, L->act};
    return d;
}

static size_t workspace_size(const layer *L, int B) {
    recur_lstm_desc d = desc(L, B);
    return recur_lstm_workspace_size(&d);
}

static recur_status forward(const layer *L, int B, const float *W, const float *U, const float *b,
                            const float *x, float *y, float *hT, void *ws) {
    recur_lstm_desc d = desc(L, B);
    return recur_lstm_forward(&d, W, U, b, x, NULL, NULL, y, hT, NULL, ws);
}

static recur_status backward(const layer *L, int B, const float *W, const float *U, const float *b,
                             const float *x, const float *dy, const float *dhT, float *dx,
                             float *dW, float *dU, float *db, void *ws) {
    recur_lstm_desc d = desc(L, B);
    return recur_lstm_backward(&d, W, U, b, x, NULL, NULL, dy, dhT, NULL, dx, NULL, NULL, dW, dU,
                               db, ws);
}

static const recurrent_cell cell = {"an LSTM",      4,       NULL,    bias_len, init_bias,
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
