/* The SimpleRNN layer: Keras's SimpleRNN(units, activation, return_sequences)
 * on recur_rnn_forward / recur_rnn_backward; bias [units]. */
#include "recurrent.h"

static size_t bias_len(const layer *L) {
    return (size_t)L->units;
}

static recur_rnn_desc desc(const layer *L, int B) {
    recur_rnn_desc d = {L->in_steps, B, L->in_feat, L->units, L->act};
    return d;
}

static size_t workspace_size(const layer *L, int B) {
    recur_rnn_desc d = desc(L, B);
    return recur_rnn_workspace_size(&d);
}

static recur_status forward(const layer *L, int B, const float *W, const float *U, const float *b,
                            const float *x, float *y, float *hT, void *ws) {
    recur_rnn_desc d = desc(L, B);
    return recur_rnn_forward(&d, W, U, b, x, NULL, y, hT, ws);
}

static recur_status backward(const layer *L, int B, const float *W, const float *U, const float *b,
                             const float *x, const float *dy, const float *dhT, float *dx,
                             float *dW, float *dU, float *db, void *ws) {
    recur_rnn_desc d = desc(L, B);
    return recur_rnn_backward(&d, W, U, b, x, NULL, dy, dhT, dx, NULL, dW, dU, db, ws);
}

static const recurrent_cell cell = {"a SimpleRNN",  1,       NULL,    bias_len, NULL,
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
