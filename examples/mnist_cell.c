/* The MNIST tutorial with your own cell: the LSTMs of mnist_lstm.c replaced
 * by a custom cell of examples/cells/ (MGU, peephole LSTM or the LSTM cell),
 * optionally both ways (Bidirectional).
 * Usage: mnist_cell [DIR] [mgu|peephole_lstm|lstm_cell] [epochs] [bi] */
#include <recur.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cells/cells.h"

static int ok(recur_status st) {
    if (st != RECUR_OK) fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/mnist", *cell = argc > 2 ? argv[2] : "mgu";
    const int epochs = argc > 3 ? atoi(argv[3]) : 3, both = argc > 4 && !strcmp(argv[4], "bi");
    recur_dataset train, test;
    if (!ok(recur_mnist_load_pair(dir, &train, &test))) return 1;

    char spec[256];
    if (both)
        snprintf(spec, sizeof spec,
                 "bidirectional:cell:%s:64:seq,dropout:0.2,bidirectional:cell:%s:64,dropout:0.1,"
                 "dense:32:relu,dropout:0.2,dense:10:softmax",
                 cell, cell);
    else
        snprintf(spec, sizeof spec,
                 "cell:%s:128:seq,dropout:0.2,cell:%s:128,dropout:0.1,dense:32:relu,"
                 "dropout:0.2,dense:10:softmax",
                 cell, cell);
    recur_model *m;
    recur_optimizer adam = recur_adam(1e-3f);
    adam.decay = 1e-5f;
    if (!ok(recur_model_create(&m, 28, 28, 42)) ||
        !ok(recur_model_register_cell(m, &cell_mgu)) ||
        !ok(recur_model_register_cell(m, &cell_peephole)) ||
        !ok(recur_model_register_cell(m, &cell_lstm)) || !ok(recur_model_add_layers(m, spec)) ||
        !ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)))
        return 1;
    char summary[4096];
    recur_model_summary(m, summary, sizeof summary);
    fputs(summary, stdout);

    recur_fit_options fit = recur_fit_defaults();
    fit.epochs = epochs, fit.batch_size = 32, fit.verbose = 1, fit.progress = stderr;
    fit.val_x = test.x, fit.val_y = test.y, fit.val_n = test.n;
    float loss, accuracy;
    if (!ok(recur_model_fit(m, train.x, train.y, train.n, &fit)) ||
        !ok(recur_model_evaluate(m, test.x, test.y, test.n, 256, &loss, &accuracy)))
        return 1;
    const recur_epoch_logs *h;
    const int ne = recur_model_history(m, &h);
    double seconds = 0;
    for (int e = 0; e < ne; e++) seconds += h[e].seconds;
    printf("cell=%s bidirectional=%d test_loss=%.4f test_accuracy=%.4f train_seconds=%.1f\n",
           cell, both, loss, accuracy, seconds);
    recur_model_destroy(m);
    recur_dataset_free(&train);
    recur_dataset_free(&test);
    return 0;
}
