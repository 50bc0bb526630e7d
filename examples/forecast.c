/* Daily US births forecast one day ahead by an LSTM, against recur's C API:
 * windows of 28 days (births, and the calendar columns of the file) predict
 * the next day; the last 20% of the days are the test span. The forecast is
 * compared with persistence (tomorrow as today) and with the seasonal
 * baseline (tomorrow as the same weekday last week). recur-train forecast
 * does the same job with flags.
 * Usage: forecast [CSV [EPOCHS [ROWS]]]
 *   (defaults: data/us-births-1969-1988.csv, 20 epochs, every row) */
#include <math.h>
#include <recur.h>
#include <stdio.h>
#include <stdlib.h>

enum { WINDOW = 28, SEASON = 7 };

static int ok(recur_status st) {
    if (st != RECUR_OK) fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

/* root mean square and mean absolute error of guess[i] against y[i] */
static void errors(const char *name, const double *guess, const double *y, size_t n) {
    double q = 0, a = 0;
    for (size_t i = 0; i < n; i++)
        q += (guess[i] - y[i]) * (guess[i] - y[i]), a += fabs(guess[i] - y[i]);
    printf("%-12s RMSE %7.1f  MAE %7.1f\n", name, sqrt(q / (double)n), a / (double)n);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "data/us-births-1969-1988.csv";
    const int epochs = argc > 2 ? atoi(argv[2]) : 20;
    recur_table t; /* year, month, date_of_month, day_of_week, births */
    if (!ok(recur_csv_read(path, &t))) return 1;
    size_t n = t.rows;
    if (argc > 3 && (size_t)atol(argv[3]) < n) n = (size_t)atol(argv[3]);
    const int births = recur_table_column(&t, "births"), F = t.cols;
    if (births < 0 || n < 5 * WINDOW) {
        fprintf(stderr, "%s: no births column, or fewer than %d rows\n", path, 5 * WINDOW);
        return 1;
    }
    double *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = t.values[i * F + births];

    /* Window w holds days w .. w+27 and predicts day w+28. The test windows
     * are those whose day lies in the last fifth; the scaling comes from the
     * days before it: births relative to their window's mean, divided by the
     * std of (next day - window mean); the calendar columns by mean and std. */
    const size_t nw = n - WINDOW, ntest = n / 5, ntrain = nw - ntest, train_days = n - ntest;
    double *level = calloc(nw, sizeof *level), *mean = calloc(F, sizeof *mean),
           *sd = calloc(F, sizeof *sd);
    for (size_t w = 0; w < nw; w++)
        for (int k = 0; k < WINDOW; k++) level[w] += y[w + k] / WINDOW;
    for (size_t w = 0; w < ntrain; w++) sd[births] += pow(y[w + WINDOW] - level[w], 2) / ntrain;
    for (int c = 0; c < F; c++) {
        if (c == births) continue;
        for (size_t i = 0; i < train_days; i++) mean[c] += t.values[i * F + c] / train_days;
        for (size_t i = 0; i < train_days; i++)
            sd[c] += pow(t.values[i * F + c] - mean[c], 2) / train_days;
    }
    for (int c = 0; c < F; c++) sd[c] = sd[c] > 0 ? sqrt(sd[c]) : 1;

    float *x = malloc(nw * WINDOW * F * sizeof *x), *target = malloc(nw * sizeof *target);
    for (size_t w = 0; w < nw; w++) {
        for (int k = 0; k < WINDOW; k++)
            for (int c = 0; c < F; c++) {
                const double v = t.values[(w + k) * F + c] - (c == births ? level[w] : mean[c]);
                x[(w * WINDOW + k) * F + c] = (float)(v / sd[c]);
            }
        target[w] = (float)((y[w + WINDOW] - level[w]) / sd[births]);
    }

    recur_model *m; /* 28 steps of F columns -> LSTM(64) -> Dense(1) */
    recur_optimizer adam = recur_adam(2e-3f);
    if (!ok(recur_model_create(&m, WINDOW, F, 42)) ||
        !ok(recur_model_add_lstm(m, 64, RECUR_ACT_TANH, 0)) ||
        !ok(recur_model_add_dense(m, 1, RECUR_ACT_LINEAR)) ||
        !ok(recur_model_compile(m, &adam, RECUR_LOSS_MSE)))
        return 1;
    recur_fit_options fit = recur_fit_defaults();
    fit.epochs = epochs, fit.batch_size = 32, fit.verbose = 1, fit.progress = stderr;
    fit.validation_split = 0.1f; /* the last tenth of the training windows, in time order */
    float *out = malloc(ntest * sizeof *out);
    if (!ok(recur_model_fit(m, x, target, ntrain, &fit)) ||
        !ok(recur_model_predict(m, x + ntrain * WINDOW * F, ntest, 256, out)))
        return 1;

    /* back to births, and the baselines over the same test days */
    double *forecast = malloc(3 * ntest * sizeof *forecast), *persistence = forecast + ntest,
           *seasonal = forecast + 2 * ntest;
    const double *actual = y + train_days;
    for (size_t i = 0; i < ntest; i++) {
        forecast[i] = out[i] * sd[births] + level[ntrain + i];
        persistence[i] = y[train_days + i - 1];
        seasonal[i] = y[train_days + i - SEASON];
    }
    printf("%zu training windows, %zu test days\n", ntrain, ntest);
    errors("LSTM", forecast, actual, ntest);
    errors("persistence", persistence, actual, ntest);
    errors("seasonal", seasonal, actual, ntest);

    recur_model_destroy(m);
    recur_table_free(&t);
    free(y), free(level), free(mean), free(sd), free(x), free(target), free(out), free(forecast);
    return 0;
}
