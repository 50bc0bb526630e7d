/* recur-train: the Keras LSTM tutorial (or any layer spec) on MNIST-format data.
 * Progress goes to stderr; stdout ends with one key=value line. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <recur.h>

#define DEFAULT_SPEC                                                                              \
    "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dropout:0.1,dense:32:relu,dropout:0.2,"          \
    "dense:10:softmax"

static const char usage[] =
    "usage: recur-train [--data DIR] [--epochs N] [--batch N] [--layers SPEC] [--lr X]\n"
    "                   [--decay X] [--clipnorm X] [--clipvalue X] [--seed N] [--threads N]\n"
    "                   [--limit N] [--test-limit N] [--val-split X] [--save FILE]\n"
    "                   [--load FILE] [--checkpoint FILE] [--resume FILE] [--quiet]\n"
    "Trains a Sequential model on MNIST-format IDX files in DIR (default data/mnist) and\n"
    "evaluates it on the t10k set. Defaults: the Keras LSTM tutorial,\n"
    "  --layers " DEFAULT_SPEC "\n"
    "  --epochs 3 --batch 32 --lr 0.001 --decay 1e-5, validation on the t10k set.\n"
    "  SPEC layers: lstm:UNITS[:tanh|relu][:seq], gru:UNITS[:tanh|relu][:seq][:reset_after=0|1],\n"
    "  rnn:UNITS[:tanh|relu][:seq] (SimpleRNN), dense:UNITS[:ACTIVATION], dropout:RATE\n"
    "  --clipnorm X, --clipvalue X  Keras's gradient clipping (per array norm, per element)\n"
    "  --limit N         train on the first N training images\n"
    "  --test-limit N    validate and test on the first N t10k images\n"
    "  --load FILE       start from a model file; --epochs more epochs (0: evaluate only)\n"
    "  --checkpoint FILE save model, optimizer and position there after every epoch,\n"
    "                    and the last good state if training stops on a NaN\n"
    "  --resume FILE     continue a checkpoint: --epochs is the total, the run trains the\n"
    "                    rest; with the same --data, --limit, --val-split and --batch the\n"
    "                    weights end bit-identical to an uninterrupted run's\n"
    "With --load or --resume the model, optimizer and seed come from the file.\n";

typedef struct {
    const char *data, *spec, *save, *load, *checkpoint, *resume;
    long epochs, batch, threads, limit, test_limit;
    unsigned long long seed;
    double lr, decay, val_split, clipnorm, clipvalue;
    int quiet;
} options;

static void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("recur-train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static long parse_long(const char *flag, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        die(2, "%s: '%s' is not an integer in [%ld, %ld]", flag, v, lo, hi);
    return x;
}

static double parse_double(const char *flag, const char *v, double lo, double hi, int open_lo) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi || (open_lo && x == lo))
        die(2, "%s: '%s' is not a number in %s%g, %g]", flag, v, open_lo ? "(" : "[", lo, hi);
    return x;
}

static options parse_args(int argc, char **argv) {
    options o = {.data = "data/mnist", .spec = DEFAULT_SPEC, .epochs = 3, .batch = 32,
                 .lr = 1e-3, .decay = 1e-5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) die(2, "unexpected argument '%s' (see --help)", a);
        if (i + 1 >= argc) die(2, "%s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--data")) o.data = v;
        else if (!strcmp(a, "--layers")) o.spec = v;
        else if (!strcmp(a, "--save")) o.save = v;
        else if (!strcmp(a, "--load")) o.load = v;
        else if (!strcmp(a, "--checkpoint")) o.checkpoint = v;
        else if (!strcmp(a, "--resume")) o.resume = v;
        else if (!strcmp(a, "--epochs")) o.epochs = parse_long(a, v, 0, 1000000);
        else if (!strcmp(a, "--batch")) o.batch = parse_long(a, v, 1, 1 << 20);
        else if (!strcmp(a, "--threads")) o.threads = parse_long(a, v, 0, 4096);
        else if (!strcmp(a, "--limit")) o.limit = parse_long(a, v, 0, 1L << 40);
        else if (!strcmp(a, "--test-limit")) o.test_limit = parse_long(a, v, 0, 1L << 40);
        else if (!strcmp(a, "--seed")) o.seed = (unsigned long long)parse_long(a, v, 0, (long)(~0UL >> 1));
        else if (!strcmp(a, "--lr")) o.lr = parse_double(a, v, 0.0, 1e3, 1);
        else if (!strcmp(a, "--decay")) o.decay = parse_double(a, v, 0.0, 1e6, 0);
        else if (!strcmp(a, "--clipnorm")) o.clipnorm = parse_double(a, v, 0.0, 1e30, 0);
        else if (!strcmp(a, "--clipvalue")) o.clipvalue = parse_double(a, v, 0.0, 1e30, 0);
        else if (!strcmp(a, "--val-split")) o.val_split = parse_double(a, v, 0.0, 0.99, 0);
        else die(2, "unknown option '%s' (see --help)", a);
    }
    if (o.load && o.resume) die(2, "--load and --resume exclude each other");
    return o;
}

/* Hours of training must not end in "cannot write": try a file in the
 * target's folder now (mkstemp creates it; it is removed at once). */
static void check_writable(const char *flag, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) die(1, "%s: %s is a folder", flag, path);
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) die(1, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) die(1, "%s: cannot write %s: %s", flag, path, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
}

/* on_epoch_end: the model counts the epoch as done when this runs */
typedef struct {
    recur_model *m;
    const char *path;
    int failed;
} checkpoint;

static int save_checkpoint(void *user, const recur_epoch_logs *logs) {
    (void)logs;
    checkpoint *c = user;
    c->failed = recur_model_save(c->m, c->path) != RECUR_OK;
    return c->failed;
}

static void check(recur_status st, const char *what) {
    if (st != RECUR_OK) die(1, "%s: %s", what, recur_last_error());
}

int main(int argc, char **argv) {
    options o = parse_args(argc, argv);
    if (o.save) check_writable("--save", o.save);
    if (o.checkpoint) check_writable("--checkpoint", o.checkpoint);
    recur_set_num_threads((int)o.threads);
    recur_model *m = NULL; /* a bad model file fails before the data is read */
    if (o.load || o.resume)
        check(recur_model_load(&m, o.load ? o.load : o.resume), o.load ? "--load" : "--resume");

    recur_dataset train, test;
    check(recur_mnist_load_pair(o.data, &train, &test), "--data");
    size_t n = train.n, ntest = test.n;
    if (o.limit > 0 && (size_t)o.limit < n) n = (size_t)o.limit;
    if (o.test_limit > 0 && (size_t)o.test_limit < ntest) ntest = (size_t)o.test_limit;

    if (!m) {
        check(recur_model_create(&m, train.seq_len, train.features, o.seed), "model");
        check(recur_model_add_layers(m, o.spec), "--layers");
        recur_optimizer adam = recur_adam((float)o.lr);
        adam.decay = (float)o.decay;
        adam.clipnorm = (float)o.clipnorm, adam.clipvalue = (float)o.clipvalue;
        check(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY), "--layers");
    }
    /* the model (built here or read from a file) must fit the data */
    const char *model_from = o.load ? o.load : o.resume;
    int T, F, top = 0;
    recur_model_input_shape(m, &T, &F);
    if (T != train.seq_len || F != train.features)
        die(1, "the model%s%s takes samples of %d x %d, the images in %s are %d x %d",
            model_from ? " in " : "", model_from ? model_from : "", T, F, o.data, train.seq_len,
            train.features);
    for (size_t i = 0; i < train.n; i++) top = train.y[i] > top ? (int)train.y[i] : top;
    if (recur_model_output_size(m) <= top)
        die(1, "the model%s%s gives %d classes, the labels in %s go up to %d",
            model_from ? " in " : "", model_from ? model_from : "", recur_model_output_size(m),
            o.data, top);
    if (!o.quiet) {
        size_t len = recur_model_summary(m, NULL, 0);
        char *text = malloc(len + 1);
        if (text) recur_model_summary(m, text, len + 1), fputs(text, stdout), free(text);
        fflush(stdout);
    }

    recur_fit_options fo = recur_fit_defaults();
    fo.epochs = (int)o.epochs;
    fo.batch_size = (int)o.batch;
    fo.verbose = o.quiet ? 0 : 1;
    fo.progress = stderr;
    if (o.val_split > 0) fo.validation_split = (float)o.val_split;
    else fo.val_x = test.x, fo.val_y = test.y, fo.val_n = ntest;
    if (o.resume) fo.initial_epoch = RECUR_EPOCHS_DONE;
    checkpoint ck = {m, o.checkpoint, 0};
    if (o.checkpoint) fo.on_epoch_end = save_checkpoint, fo.user = &ck;

    double t0 = omp_get_wtime();
    recur_status st = recur_model_fit(m, train.x, train.y, n, &fo);
    double seconds = omp_get_wtime() - t0;
    if (st == RECUR_ERR_NUMERIC && o.checkpoint) {
        /* the model holds the last good weights: keep them for a look or a
         * restart with other settings */
        char why[512];
        snprintf(why, sizeof why, "%s", recur_last_error());
        if (recur_model_save(m, o.checkpoint) == RECUR_OK)
            die(1, "training: %s; the last good state is in %s", why, o.checkpoint);
        die(1, "training: %s; --checkpoint: %s", why, recur_last_error());
    }
    check(st, "training");
    if (ck.failed) die(1, "--checkpoint: %s", recur_last_error());
    const int epochs_run = recur_model_history(m, NULL);
    size_t trained = (size_t)(o.val_split > 0 ? (double)n * (1.0 - o.val_split) : (double)n);

    float loss, acc;
    check(recur_model_evaluate(m, test.x, test.y, ntest, 256, &loss, &acc), "evaluation");
    if (o.save) check(recur_model_save(m, o.save), "--save");

    struct rusage ru;
    const double peak_mb = getrusage(RUSAGE_SELF, &ru) ? 0.0 : (double)ru.ru_maxrss / 1024.0;
    printf("test_loss=%.4f test_accuracy=%.4f train_seconds=%.1f samples_per_second=%.0f "
           "epochs=%ld batch=%ld threads=%d isa=%s peak_rss_mb=%.0f\n",
           loss, acc, seconds, seconds > 0 ? (double)trained * epochs_run / seconds : 0.0,
           o.epochs, o.batch, recur_get_num_threads(), recur_isa(), peak_mb);
    recur_model_destroy(m);
    recur_dataset_free(&train);
    recur_dataset_free(&test);
    return 0;
}
