/* recur-train's shared part: the common flags, model creation or loading,
 * training with checkpoints and history, the summary, plots. Each subcommand
 * (mnist.c, forecast.c, text.c, classify.c) reads its data, builds its model
 * through these and prints its last key=value line. Progress goes to stderr;
 * stdout gets the summary and that last line. */
#ifndef RECUR_CLI_H
#define RECUR_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <recur.h>

typedef struct {
    const char *spec, *save, *load, *checkpoint, *resume, *history, *plot;
    long epochs, batch, threads;
    unsigned long long seed;
    double lr, decay, clipnorm, clipvalue;
    int quiet;
} cli_common;

/* A subcommand's own flag: 1 if it took flag (with its value), 0 if unknown. */
typedef int (*cli_flag_fn)(void *sub, const char *flag, const char *value);

/* Parses argv[first..argc): common flags into *c (which holds the
 * subcommand's defaults), the rest through f; --help prints usage and exits
 * 0; an unknown flag or a bad value exits 2 naming it. */
void cli_parse(int argc, char **argv, int first, cli_common *c, cli_flag_fn f, void *sub,
               const char *usage);

/* exits with code: "recur-train: " and the message on one line */
void cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* dies with code 1 naming what and recur_last_error() unless st is RECUR_OK */
void cli_check(recur_status st, const char *what);
long cli_long(const char *flag, const char *v, long lo, long hi);
double cli_double(const char *flag, const char *v, double lo, double hi, int open_lo);
/* fails early when a file cannot be written (before hours of training) */
void cli_check_writable(const char *flag, const char *path);

/* The model: loaded from --load/--resume, else T x F with --layers, Adam
 * (--lr, --decay, --clipnorm, --clipvalue) and loss. */
recur_model *cli_model(const cli_common *c, int T, int F, recur_loss loss);
/* the summary on stdout unless --quiet */
void cli_summary(const cli_common *c, recur_model *m);

/* Training data: floats x [n][T][F] or ids [n][T], targets y. */
typedef struct {
    const float *x;
    const int32_t *ids;
    const float *y;
    size_t n;
} cli_data;

/* Fits with the common flags (epochs, batch, checkpoint, resume, history):
 * validation on val when val->n > 0, else the last val_split of train.
 * Returns the training seconds; dies on failure. */
double cli_fit(const cli_common *c, recur_model *m, const cli_data *train, const cli_data *val,
               double val_split);
/* loss, accuracy, mae over data (inference) */
recur_metrics cli_evaluate(recur_model *m, const cli_data *d);

/* --plot: runs gnuplot on script (its "set output" is added); a missing
 * gnuplot is a one-line message on stderr, not an error. Returns 0 when drawn. */
int cli_gnuplot(const char *out, const char *script);
/* the same at width x height pixels (cli_gnuplot: 1000 x 420) */
int cli_gnuplot_size(const char *out, int width, int height, const char *script);
/* --plot of the training curves from the history of the last fit: loss and
 * metric ("accuracy" or "mae"), training and validation */
void cli_plot_history(const cli_common *c, recur_model *m, const char *metric);

/* subcommands */
int cli_mnist(int argc, char **argv, int first);
int cli_forecast(int argc, char **argv, int first);
int cli_text(int argc, char **argv, int first);
int cli_classify(int argc, char **argv, int first);

#endif /* RECUR_CLI_H */
