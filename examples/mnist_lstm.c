/* The Keras LSTM tutorial on MNIST, against recur's C API.
 * Usage: mnist_lstm [DIR]   (DIR holds the four MNIST IDX files; default data/mnist) */
#include <recur.h>
#include <stdio.h>

static int ok(recur_status st) {
    if (st != RECUR_OK) fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/mnist";
    recur_dataset train, test;
    if (!ok(recur_mnist_load_pair(dir, &train, &test))) return 1; /* checked to agree */

    recur_model *m; /* 28 time steps of 28 pixels per image */
    recur_optimizer adam = recur_adam(1e-3f);
    adam.decay = 1e-5f;
    if (!ok(recur_model_create(&m, 28, 28, 42)) ||
        !ok(recur_model_add_lstm(m, 128, RECUR_ACT_RELU, 1)) ||
        !ok(recur_model_add_dropout(m, 0.2f)) ||
        !ok(recur_model_add_lstm(m, 128, RECUR_ACT_RELU, 0)) ||
        !ok(recur_model_add_dropout(m, 0.1f)) ||
        !ok(recur_model_add_dense(m, 32, RECUR_ACT_RELU)) ||
        !ok(recur_model_add_dropout(m, 0.2f)) ||
        !ok(recur_model_add_dense(m, 10, RECUR_ACT_SOFTMAX)) ||
        !ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)))
        return 1;

    char summary[4096];
    recur_model_summary(m, summary, sizeof summary);
    fputs(summary, stdout);

    recur_fit_options fit = recur_fit_defaults();
    fit.epochs = 3, fit.batch_size = 32, fit.verbose = 1, fit.progress = stderr;
    fit.val_x = test.x, fit.val_y = test.y, fit.val_n = test.n;
    float loss, accuracy;
    if (!ok(recur_model_fit(m, train.x, train.y, train.n, &fit)) ||
        !ok(recur_model_evaluate(m, test.x, test.y, test.n, 256, &loss, &accuracy)))
        return 1;
    printf("test loss %.4f, test accuracy %.4f\n", loss, accuracy);

    recur_model_destroy(m);
    recur_dataset_free(&train);
    recur_dataset_free(&test);
    return 0;
}
