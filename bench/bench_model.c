/* End-to-end benchmarks of the Keras tutorial model: one training step (the
 * same work as a fit step: gather, forward, loss, backward, Adam) at batch 32
 * and 128, and predict over 10,000 samples (at batch 256, and at 32 as
 * fit's validation runs it); and the training step with both LSTMs written
 * as the custom cell of examples/cells/lstm.c (model_cell_*: its time over
 * model_train's is the cost of writing a cell yourself).
 * FLOPs count the two LSTMs only,
 * with the primitive's convention (forward 2*T*4H*(I+H) per sample, training
 * 3x); the Dense layers add under 1%. */
#include <stdio.h>
#include <stdlib.h>

#include <recur.h>

#include "../examples/cells/cells.h"
#include "bench_model.h"
#include "shim.h"

#define TUTORIAL                                                                                  \
    "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dropout:0.1,dense:32:relu,dropout:0.2,"          \
    "dense:10:softmax"
#define TUTORIAL_CELL                                                                             \
    "cell:lstm_cell:128:relu:seq,dropout:0.2,cell:lstm_cell:128:relu,dropout:0.1,dense:32:relu,"  \
    "dropout:0.2,dense:10:softmax"
enum { T = 28, F = 28, PREDICT_N = 10000 };

static const double fwd_per_sample = 2.0 * T * 4 * 128 * (28 + 128) + 2.0 * T * 4 * 128 * (128 + 128);

typedef struct {
    int batch; /* training batch, or predict's batch size */
    int predict;
    int custom; /* the LSTMs as the custom cell */
} model_case;

static recur_model *tutorial(int custom) {
    recur_model *m;
    recur_optimizer adam = recur_adam(1e-3f);
    adam.decay = 1e-5f;
    if (recur_model_create(&m, T, F, 1)) return NULL;
    if ((custom && recur_model_register_cell(m, &cell_lstm)) ||
        recur_model_add_layers(m, custom ? TUTORIAL_CELL : TUTORIAL) ||
        recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)) {
        recur_model_destroy(m);
        return NULL;
    }
    return m;
}

static void bench_model(void *ctx, bench_state *st) {
    const model_case *c = ctx;
    const size_t n = c->predict ? PREDICT_N : (size_t)c->batch;
    float *x = malloc(n * T * F * sizeof(float)), *y = malloc(n * sizeof(float));
    float *out = malloc(n * 10 * sizeof(float));
    recur_model *m = tutorial(c->custom);
    if (!x || !y || !out || !m) {
        bench_skip(st, "setup failed");
    } else {
        uint32_t s = 12345;
        for (size_t k = 0; k < n * T * F; k++) x[k] = (float)((s = s * 1664525u + 1013904223u) >> 8) * 0x1p-24f;
        for (size_t k = 0; k < n; k++) y[k] = (float)(k % 10);
        float loss;
        recur_status r = RECUR_OK;
        /* warm-up: buffers sized, oneDNN's kernels generated */
        r = c->predict ? recur_model_predict(m, x, n, c->batch, out)
                       : recur_model_compute_gradients(m, x, y, n, 1, &loss);
        while (r == RECUR_OK && bench_keep_running(st)) {
            if (c->predict) {
                r = recur_model_predict(m, x, n, c->batch, out);
            } else {
                r = recur_model_compute_gradients(m, x, y, n, 1, &loss);
                if (r == RECUR_OK) r = recur_model_apply_gradients(m);
            }
        }
        if (r != RECUR_OK) bench_skip(st, recur_last_error());
    }
    recur_model_destroy(m);
    free(x), free(y), free(out);
}

static model_case cases[] = {{32, 0, 0}, {128, 0, 0}, {256, 1, 0},
                             {32, 0, 1}, {128, 0, 1}, {32, 1, 0}};

void bench_model_register(void) {
    bench_register("model_train/B32", bench_model, &cases[0], 3 * fwd_per_sample * 32);
    bench_register("model_train/B128", bench_model, &cases[1], 3 * fwd_per_sample * 128);
    bench_register("model_predict/N10000_B256", bench_model, &cases[2], fwd_per_sample * PREDICT_N);
    /* what fit's validation on 10,000 samples at the training batch costs */
    bench_register("model_predict/N10000_B32", bench_model, &cases[5], fwd_per_sample * PREDICT_N);
    bench_register("model_cell_train/B32", bench_model, &cases[3], 3 * fwd_per_sample * 32);
    bench_register("model_cell_train/B128", bench_model, &cases[4], 3 * fwd_per_sample * 128);
}
