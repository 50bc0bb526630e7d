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

/* A failure of this process: "recur-train: " and the message on one line,
 * then exit with code. In a run of several ranks the line reads
 * "recur-train: rank R: ..." and the whole job ends (MPI_Abort), so no rank
 * waits for this one. */
void cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* A failure every rank reached alike (an error of the data-parallel fit, a
 * comparison across ranks): rank 0 prints the line, every rank finalises and
 * exits with code. In one process, cli_die. */
void cli_die_all(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
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
 * Returns the training seconds; dies on failure. With several ranks the fit
 * is data-parallel (recur_mpi_fit: --batch rows per rank) and returns on rank
 * 0 only: the other ranks exit 0 once it is done, so rank 0 alone evaluates,
 * saves and prints. */
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

/* ---- Several processes (parallel.c): mpirun -np N recur-train ... Every
 * rank reads the data itself and runs the same subcommand; without MPI in the
 * build, or without a launcher, these are one process's versions. */
/* Initialises MPI (MPI_THREAD_FUNNELED) when a launcher started the process
 * (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE set) and finalises it at exit. */
void cli_parallel_init(int *argc, char ***argv);
int cli_rank(void);  /* 0 in one process */
int cli_ranks(void); /* 1 in one process */
/* ends this process, and the whole job when there are several ranks */
void cli_parallel_abort(int code) __attribute__((noreturn));
/* 1 if flag is non-zero on any rank (a collective call) */
int cli_parallel_any(int flag);
/* --load/--resume: every rank hashes the bytes of its file; one that differs
 * from rank 0's fails every rank naming it (a collective call) */
void cli_parallel_same_file(const char *flag, const char *path);
/* recur_mpi_fit(_ids) on MPI_COMM_WORLD with several ranks, else
 * recur_model_fit(_ids) */
recur_status cli_parallel_fit(recur_model *m, const cli_data *d, const recur_fit_options *o);

/* subcommands */
int cli_mnist(int argc, char **argv, int first);
int cli_forecast(int argc, char **argv, int first);
int cli_text(int argc, char **argv, int first);
int cli_classify(int argc, char **argv, int first);

#endif /* RECUR_CLI_H */
