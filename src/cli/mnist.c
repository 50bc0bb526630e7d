/* recur-train mnist: the Keras LSTM tutorial (or any layer spec) on
 * MNIST-format IDX files; recur-train with no subcommand means this. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

#define DEFAULT_SPEC                                                                              \
    "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dropout:0.1,dense:32:relu,dropout:0.2,"          \
    "dense:10:softmax"

static const char usage[] =
    "usage: recur-train [mnist] [--data DIR] [--limit N] [--test-limit N] [--val-split X]\n"
    "                   [COMMON FLAGS]\n"
    "Trains a Sequential model on MNIST-format IDX files in DIR (default data/mnist) and\n"
    "evaluates it on the t10k set. Defaults: the Keras LSTM tutorial,\n"
    "  --layers " DEFAULT_SPEC "\n"
    "  --epochs 3 --batch 32 --lr 0.001 --decay 1e-5, validation on the t10k set.\n"
    "  --limit N         train on the first N training images\n"
    "  --test-limit N    validate and test on the first N t10k images\n"
    "  --val-split X     validate on the last fraction X of the training images instead\n"
    "Last line: test_loss test_accuracy train_seconds samples_per_second epochs batch\n"
    "threads ranks isa peak_rss_mb (samples_per_second over all ranks).\n";

typedef struct {
    const char *data;
    long limit, test_limit;
    double val_split;
} mnist_opts;

static int flag(void *sub, const char *a, const char *v) {
    mnist_opts *o = sub;
    if (!strcmp(a, "--data")) o->data = v;
    else if (!strcmp(a, "--limit")) o->limit = cli_long(a, v, 0, 1L << 40);
    else if (!strcmp(a, "--test-limit")) o->test_limit = cli_long(a, v, 0, 1L << 40);
    else if (!strcmp(a, "--val-split")) o->val_split = cli_double(a, v, 0.0, 0.99, 0);
    else return 0;
    return 1;
}

int cli_mnist(int argc, char **argv, int first) {
    cli_common c = {.spec = DEFAULT_SPEC, .epochs = 3, .batch = 32, .lr = 1e-3, .decay = 1e-5};
    mnist_opts o = {.data = "data/mnist"};
    cli_parse(argc, argv, first, &c, flag, &o, usage);
    /* a bad model file fails before the data is read */
    recur_model *m = NULL;
    if (c.load || c.resume) m = cli_model(&c, 0, 0, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);

    recur_dataset train, test;
    cli_check(recur_mnist_load_pair(o.data, &train, &test), "--data");
    size_t n = train.n, ntest = test.n;
    if (o.limit > 0 && (size_t)o.limit < n) n = (size_t)o.limit;
    if (o.test_limit > 0 && (size_t)o.test_limit < ntest) ntest = (size_t)o.test_limit;
    if (!m) m = cli_model(&c, train.seq_len, train.features, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);

    /* the model (built here or read from a file) must fit the data */
    const char *model_from = c.load ? c.load : c.resume;
    int T, F, top = 0;
    recur_model_input_shape(m, &T, &F);
    if (T != train.seq_len || F != train.features)
        cli_die(1, "the model%s%s takes samples of %d x %d, the images in %s are %d x %d",
                model_from ? " in " : "", model_from ? model_from : "", T, F, o.data,
                train.seq_len, train.features);
    for (size_t i = 0; i < train.n; i++) top = train.y[i] > top ? (int)train.y[i] : top;
    if (recur_model_output_size(m) <= top)
        cli_die(1, "the model%s%s gives %d classes, the labels in %s go up to %d",
                model_from ? " in " : "", model_from ? model_from : "",
                recur_model_output_size(m), o.data, top);
    cli_summary(&c, m);

    const cli_data tr = {train.x, NULL, train.y, n}, te = {test.x, NULL, test.y, ntest};
    const cli_data none = {0};
    const double seconds = cli_fit(&c, m, &tr, o.val_split > 0 ? &none : &te, o.val_split);
    const int epochs_run = recur_model_history(m, NULL);
    /* every rank holds all n samples and an epoch covers them once across
     * the ranks: samples per second of the whole job */
    size_t trained = (size_t)(o.val_split > 0 ? (double)n * (1.0 - o.val_split) : (double)n);
    const recur_metrics r = cli_evaluate(m, &te);
    if (c.save) cli_check(recur_model_save(m, c.save), "--save");
    cli_plot_history(&c, m, "accuracy");

    struct rusage ru;
    const double peak_mb = getrusage(RUSAGE_SELF, &ru) ? 0.0 : (double)ru.ru_maxrss / 1024.0;
    printf("test_loss=%.4f test_accuracy=%.4f train_seconds=%.1f samples_per_second=%.0f "
           "epochs=%ld batch=%ld threads=%d ranks=%d isa=%s peak_rss_mb=%.0f\n",
           r.loss, r.accuracy, seconds, seconds > 0 ? (double)trained * epochs_run / seconds : 0.0,
           c.epochs, c.batch, recur_get_num_threads(), cli_ranks(), recur_isa(), peak_mb);
    recur_model_destroy(m);
    recur_dataset_free(&train);
    recur_dataset_free(&test);
    return 0;
}
