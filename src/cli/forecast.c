/* recur-train forecast: windows of a CSV column's past values predict its
 * value H steps ahead; the last fraction of the series is the test span. */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_SPEC "lstm:64:tanh,dense:1:linear"
#define MIN_TRAIN 16 /* training windows a series must give */

static const char usage[] =
    "usage: recur-train forecast --csv FILE --column NAME [--window N] [--horizon H]\n"
    "                   [--season S|auto] [--test-fraction F] [--features LIST]\n"
    "                   [--lags LIST] [--center 0|1] [--val-split X] [COMMON FLAGS]\n"
    "Windows of N past steps of FILE (a CSV of numbers with a header line, one row a\n"
    "step, in time order) predict column NAME H steps after the window's last step.\n"
    "  --window N         steps a window holds (default 28)\n"
    "  --horizon H        steps ahead (default 1)\n"
    "  --features LIST    the other columns each step carries: names (a,b), all (the\n"
    "                     default: every column but NAME) or none\n"
    "  --lags LIST        each step s also carries NAME's value L steps before s + H,\n"
    "                     so the last step holds the value L steps before the target\n"
    "                     (L >= H; e.g. 364,365 for a year back in daily data); none\n"
    "                     (the default)\n"
    "  --center 0|1       1 (default): NAME's values, lags and target relative to the\n"
    "                     window's mean; 0: as they are\n"
    "  --test-fraction F  the last F of the rows (default 0.2) are the test span: the\n"
    "                     windows whose target lies there, never shuffled into training\n"
    "  --val-split X      the progress bar's val_loss: the last X of the training\n"
    "                     windows, in time order (default 0.1; 0: none)\n"
    "  --season S         the seasonal baseline predicts the value S steps before the\n"
    "                     target (k S steps, the nearest known, when S < H); 0: none;\n"
    "                     auto (the default): the lag in 2..N with the largest\n"
    "                     autocorrelation of NAME over the training span\n"
    "Inputs and target are scaled (mean, std) from the training span only. Defaults:\n"
    "  --layers " DEFAULT_SPEC " --epochs 20 --batch 32 --lr 0.002\n"
    "  --threads 1 (windows this small gain nothing from a second thread)\n"
    "Last line: test_rmse test_mae (original units), the baselines persistence_rmse\n"
    "persistence_mae (the window's last value) and seasonal_rmse seasonal_mae season\n"
    "(when there is a season), all over the same test targets; window horizon features\n"
    "lags n_train n_val n_test train_seconds epochs threads ranks isa peak_rss_mb.\n"
    "--plot FILE draws the training curves (loss, mae) in FILE and the test span in FILE\n"
    "with -forecast before its extension: above, the mean absolute error of the forecast\n"
    "and of the seasonal baseline (persistence without a season) per season (7 steps\n"
    "without one) over the whole span; below, the actual series, the forecast and the\n"
    "baseline over its last 13 seasons.\n";

typedef struct {
    const char *csv, *column, *features;
    long window, horizon, season; /* season -1: auto */
    double test_fraction, val_split;
    long *lags;
    int nlags, center;
} forecast_opts;

/* "364,365" into a fresh array of values in [lo, hi]; "none" gives none */
static long *parse_list(const char *flag, const char *v, long lo, long hi, int *n) {
    *n = 0;
    if (!strcmp(v, "none")) return NULL;
    long *out = malloc((strlen(v) / 2 + 1) * sizeof *out);
    if (!out) cli_die(1, "out of memory");
    char item[32];
    for (const char *p = v;; p++) {
        size_t len = strcspn(p, ",");
        if (len >= sizeof item) cli_die(2, "%s: '%.*s' is not an integer", flag, (int)len, p);
        memcpy(item, p, len), item[len] = 0;
        out[(*n)++] = cli_long(flag, item, lo, hi);
        p += len;
        if (!*p) break;
    }
    return out;
}

static int flag(void *sub, const char *a, const char *v) {
    forecast_opts *o = sub;
    if (!strcmp(a, "--csv"))
        o->csv = v;
    else if (!strcmp(a, "--column"))
        o->column = v;
    else if (!strcmp(a, "--features"))
        o->features = v;
    else if (!strcmp(a, "--window"))
        o->window = cli_long(a, v, 1, 1L << 20);
    else if (!strcmp(a, "--horizon"))
        o->horizon = cli_long(a, v, 1, 1L << 30);
    else if (!strcmp(a, "--season"))
        o->season = strcmp(v, "auto") ? cli_long(a, v, 0, 1L << 30) : -1;
    else if (!strcmp(a, "--lags"))
        free(o->lags), o->lags = parse_list(a, v, 1, 1L << 30, &o->nlags);
    else if (!strcmp(a, "--center"))
        o->center = (int)cli_long(a, v, 0, 1);
    else if (!strcmp(a, "--val-split"))
        o->val_split = cli_double(a, v, 0.0, 0.9, 0);
    else if (!strcmp(a, "--test-fraction")) {
        char *end;
        o->test_fraction = strtod(v, &end);
        if (end == v || *end || !(o->test_fraction > 0 && o->test_fraction < 1))
            cli_die(2, "%s: '%s' is not a number in (0, 1)", a, v);
    } else
        return 0;
    return 1;
}

/* the index of column name of t, else exit 1 listing the columns */
static int column(const recur_table *t, const char *file, const char *flag, const char *name) {
    const int c = recur_table_column(t, name);
    if (c >= 0) return c;
    char list[1024] = "";
    size_t len = 0;
    for (int k = 0; k < t->cols && len < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", t->names[k]);
    cli_die(1, "%s: %s: no column '%s' (columns: %s)", file, flag, name, list);
}

/* --features into column indices (every column but the target for "all") */
static int *feature_columns(const forecast_opts *o, const recur_table *t, int target, int *n) {
    int *cols = malloc((size_t)t->cols * sizeof *cols);
    if (!cols) cli_die(1, "out of memory");
    *n = 0;
    if (!strcmp(o->features, "all")) {
        for (int c = 0; c < t->cols; c++)
            if (c != target) cols[(*n)++] = c;
        return cols;
    }
    if (!strcmp(o->features, "none")) return cols;
    char *list = strdup(o->features);
    if (!list) cli_die(1, "out of memory");
    for (char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        const char end = p[len];
        p[len] = 0;
        const int c = column(t, o->csv, "--features", p);
        if (c == target) cli_die(1, "%s: --features: '%s' is the --column itself", o->csv, p);
        for (int k = 0; k < *n; k++)
            if (cols[k] == c) cli_die(1, "%s: --features: '%s' is named twice", o->csv, p);
        cols[(*n)++] = c;
        p += len;
        if (!end) break;
    }
    free(list);
    return cols;
}

/* mean and standard deviation of x[i * stride], i < n (std 1 for a constant) */
static void mean_std(const double *x, size_t n, size_t stride, double *mean, double *sd) {
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) s += x[i * stride];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) q += (x[i * stride] - *mean) * (x[i * stride] - *mean);
    *sd = sqrt(q / (double)n);
    if (!(*sd > 0)) *sd = 1;
}

/* the lag in 2..maxlag with the largest autocorrelation of y[0..n), 0 if none is positive */
static long auto_season(const double *y, size_t n, long maxlag) {
    double mean, sd, best = 0;
    long season = 0;
    mean_std(y, n, 1, &mean, &sd);
    for (long L = 2; L <= maxlag && (size_t)L < n; L++) {
        double r = 0;
        for (size_t i = (size_t)L; i < n; i++) r += (y[i] - mean) * (y[i - L] - mean);
        r /= (double)n * sd * sd;
        if (r > best) best = r, season = L;
    }
    return season;
}

typedef struct {
    double rmse, mae;
} errors;

static errors score(const double *pred, const double *actual, size_t n) {
    double q = 0, a = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = pred[i] - actual[i];
        q += e * e, a += fabs(e);
    }
    return (errors){sqrt(q / (double)n), a / (double)n};
}

/* FILE.png -> FILE-forecast.png (the suffix before the extension, if any) */
static char *forecast_plot_name(const char *plot) {
    const char *dot = strrchr(plot, '.'), *slash = strrchr(plot, '/');
    const size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - plot) : strlen(plot);
    char *out = malloc(strlen(plot) + 10);
    if (!out) cli_die(1, "out of memory");
    sprintf(out, "%.*s-forecast%s", (int)stem, plot, plot + stem);
    return out;
}

/* The test span, rows first_row.. of the file: above, the mean absolute
 * error of the forecast and of the baseline (seasonal, else persistence) per
 * block of a season (7 steps without one) over the whole span; below, the
 * actual series, the forecast and the baseline over its last 13 blocks. */
static void plot_forecast(const char *plot, const forecast_opts *o, size_t first_row,
                          const double *actual, const double *pred, const double *base,
                          const char *base_name, size_t n) {
    char data[] = "/tmp/recur-forecast-XXXXXX";
    int fd = mkstemp(data);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd), unlink(data);
        fprintf(stderr, "recur-train: --plot: cannot write a temporary file\n");
        return;
    }
    const size_t block = o->season > 1 ? (size_t)o->season : 7;
    const size_t zoom = 13 * block < n ? 13 * block : n;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%zu %.6g %.6g %.6g\n", first_row + i, actual[i], pred[i], base[i]);
    fprintf(f, "\n\n");
    for (size_t i = 0; i + block <= n; i += block) {
        double ep = 0, eb = 0;
        for (size_t k = i; k < i + block; k++)
            ep += fabs(pred[k] - actual[k]), eb += fabs(base[k] - actual[k]);
        fprintf(f, "%.1f %.6g %.6g\n", (double)first_row + (double)i + 0.5 * (double)(block - 1),
                ep / (double)block, eb / (double)block);
    }
    const int ok = fclose(f) == 0;
    char *out = forecast_plot_name(plot), script[4096];
    snprintf(script, sizeof script,
             "set multiplot layout 2,1 title '%s: %s, %ld step%s ahead, over the test span (rows "
             "%zu to %zu)' noenhanced\n"
             "set grid\nset key top left horizontal width -4 noenhanced\n"
             "set offsets 0, 0, graph 0.15, 0\nset xlabel 'row of %s' noenhanced\n"
             "set ylabel 'absolute error'\nset title 'mean absolute error per %zu steps'\n"
             "plot '%s' index 1 using 1:3 with lines lw 1.5 lc rgb '#2ca02c' title '%s', '' "
             "index 1 using 1:2 with lines lw 1.5 lc rgb '#d62728' title 'forecast'\n"
             "set ylabel '%s' noenhanced\nset title 'the last %zu steps'\nset xrange [%zu:%zu]\n"
             "plot '%s' index 0 using 1:2 with linespoints lw 1.5 pt 7 ps 0.4 lc rgb '#333333' "
             "title 'actual', '' index 0 using 1:4 with lines lw 1.5 dt 2 lc rgb '#2ca02c' title "
             "'%s', '' index 0 using 1:3 with linespoints lw 1.5 pt 7 ps 0.4 lc rgb '#d62728' "
             "title 'forecast'\nunset multiplot\n",
             o->csv, o->column, o->horizon, o->horizon > 1 ? "s" : "", first_row, first_row + n - 1,
             o->csv, block, data, base_name, o->column, zoom, first_row + n - zoom,
             first_row + n - 1, data, base_name);
    if (ok) cli_gnuplot_size(out, 1000, 680, script);
    unlink(data);
    free(out);
}

int cli_forecast(int argc, char **argv, int first) {
    cli_common c = {.spec = DEFAULT_SPEC, .epochs = 20, .batch = 32, .lr = 2e-3, .threads = 1};
    forecast_opts o = {.features = "all",
                       .window = 28,
                       .horizon = 1,
                       .season = -1,
                       .test_fraction = 0.2,
                       .val_split = 0.1,
                       .center = 1};
    cli_parse(argc, argv, first, &c, flag, &o, usage);
    if (!o.csv || !o.column) cli_die(2, "forecast needs --csv FILE and --column NAME (see --help)");
    for (int l = 0; l < o.nlags; l++)
        if (o.lags[l] < o.horizon)
            cli_die(2, "--lags: %ld is below --horizon %ld (the value would be in the future)",
                    o.lags[l], o.horizon);
    /* a bad model file fails before the data is read */
    recur_model *m = NULL;
    if (c.load || c.resume) m = cli_model(&c, 0, 0, RECUR_LOSS_MSE);

    recur_table t;
    cli_check(recur_csv_read(o.csv, &t), "--csv");
    const int target = column(&t, o.csv, "--column", o.column);
    int nfeat;
    int *feat = feature_columns(&o, &t, target, &nfeat);

    /* Windows end at step j - H and predict row j; the first j is the first
     * whose window (and lags) lie in the file. Test targets are the last rows. */
    const size_t n = t.rows, N = (size_t)o.window, H = (size_t)o.horizon;
    size_t reach = H;
    for (int l = 0; l < o.nlags; l++) reach = (size_t)o.lags[l] > reach ? (size_t)o.lags[l] : reach;
    const size_t ntest = (size_t)llround(o.test_fraction * (double)n);
    if (ntest == 0)
        cli_die(1, "%s: --test-fraction %g of %zu rows leaves no test target", o.csv,
                o.test_fraction, n);
    const size_t split = n - ntest, j0 = N - 1 + reach;
    if (split < j0 + MIN_TRAIN)
        cli_die(1,
                "%s: %zu rows are too few for --window %zu, --horizon %zu%s and --test-fraction "
                "%g: the training span (%zu rows) gives %zu windows, at least %d needed",
                o.csv, n, N, H, reach > H ? ", --lags" : "", o.test_fraction, split,
                split > j0 ? split - j0 : 0, MIN_TRAIN);
    double *y = malloc(n * sizeof *y);
    if (!y) cli_die(1, "out of memory");
    for (size_t i = 0; i < n; i++) y[i] = t.values[i * (size_t)t.cols + (size_t)target];
    if (o.season < 0) o.season = auto_season(y, split, o.window);
    const size_t season_lag =
        o.season ? (size_t)o.season * ((H + (size_t)o.season - 1) / (size_t)o.season) : 0;
    if (season_lag > split)
        cli_die(
            1,
            "%s: --season %ld: the first test target (row %zu after the header) has no value %zu "
            "rows before it",
            o.csv, o.season, split + 1, season_lag);

    /* Scaling from the training span only: the value channels (the column,
     * its lags, the target) relative to the window's level, by the mean and
     * std of target - level over the training windows; other columns by
     * their mean and std over the training rows. */
    const size_t nw = n - j0, ntrain = split - j0, F = 1 + (size_t)nfeat + (size_t)o.nlags;
    double *level = calloc(nw, sizeof *level), *rel = malloc(nw * sizeof *rel);
    double *fmean = malloc(((size_t)nfeat + 1) * sizeof *fmean);
    double *fsd = malloc(((size_t)nfeat + 1) * sizeof *fsd);
    float *x = malloc(nw * N * F * sizeof *x), *yt = malloc(nw * sizeof *yt);
    if (!level || !rel || !fmean || !fsd || !x || !yt) cli_die(1, "out of memory");
    for (size_t w = 0; w < nw; w++) {
        const size_t last = j0 + w - H;
        if (o.center) {
            for (size_t k = 0; k < N; k++) level[w] += y[last - k];
            level[w] /= (double)N;
        }
        rel[w] = y[j0 + w] - level[w];
    }
    double mu, sd;
    mean_std(rel, ntrain, 1, &mu, &sd);
    for (int k = 0; k < nfeat; k++)
        mean_std(t.values + feat[k], split, (size_t)t.cols, &fmean[k], &fsd[k]);
    for (size_t w = 0; w < nw; w++) {
        const size_t start = j0 + w - H + 1 - N;
        yt[w] = (float)((rel[w] - mu) / sd);
        for (size_t k = 0; k < N; k++) {
            const size_t s = start + k;
            float *xs = x + (w * N + k) * F;
            xs[0] = (float)((y[s] - level[w] - mu) / sd);
            for (int f = 0; f < nfeat; f++)
                xs[1 + f] =
                    (float)((t.values[s * (size_t)t.cols + (size_t)feat[f]] - fmean[f]) / fsd[f]);
            for (int l = 0; l < o.nlags; l++)
                xs[1 + nfeat + l] = (float)((y[s + H - (size_t)o.lags[l]] - level[w] - mu) / sd);
        }
    }

    if (!m) m = cli_model(&c, (int)N, (int)F, RECUR_LOSS_MSE);
    const char *model_from = c.load ? c.load : c.resume;
    int mT, mF;
    recur_model_input_shape(m, &mT, &mF);
    if ((size_t)mT != N || (size_t)mF != F)
        cli_die(1, "the model in %s takes windows of %d x %d, these flags make %zu x %zu",
                model_from, mT, mF, N, F);
    if (recur_model_output_size(m) != 1)
        cli_die(1, "the model%s%s gives %d outputs per window, a forecast needs 1",
                model_from ? " in " : "", model_from ? model_from : "", recur_model_output_size(m));
    cli_summary(&c, m);

    /* validation: the last windows of the training span, in time order */
    const size_t nfit = (size_t)((double)ntrain * (1.0 - o.val_split)), nval = ntrain - nfit;
    const cli_data tr = {x, NULL, yt, nfit}, va = {x + nfit * N * F, NULL, yt + nfit, nval};
    const double seconds = cli_fit(&c, m, &tr, &va, 0.0);

    float *out = malloc(ntest * sizeof *out);
    double *pred = malloc(ntest * sizeof *pred), *actual = malloc(ntest * sizeof *actual);
    double *persist = malloc(ntest * sizeof *persist), *seasonal = malloc(ntest * sizeof *seasonal);
    if (!out || !pred || !actual || !persist || !seasonal) cli_die(1, "out of memory");
    cli_check(recur_model_predict(m, x + ntrain * N * F, ntest, 256, out), "prediction");
    for (size_t i = 0; i < ntest; i++) {
        const size_t j = split + i, w = ntrain + i;
        pred[i] = (double)out[i] * sd + mu + level[w];
        actual[i] = y[j];
        persist[i] = y[j - H];
        seasonal[i] = o.season ? y[j - season_lag] : NAN;
    }
    if (c.save) cli_check(recur_model_save(m, c.save), "--save");
    cli_plot_history(&c, m, "mae");
    if (c.plot) {
        char name[64];
        if (o.season)
            snprintf(name, sizeof name, "seasonal baseline, %ld steps back", o.season);
        else
            snprintf(name, sizeof name, "persistence, the last value");
        plot_forecast(c.plot, &o, split + 1, actual, pred, o.season ? seasonal : persist, name,
                      ntest);
    }

    const errors e = score(pred, actual, ntest), p = score(persist, actual, ntest);
    printf("test_rmse=%.2f test_mae=%.2f persistence_rmse=%.2f persistence_mae=%.2f ", e.rmse,
           e.mae, p.rmse, p.mae);
    if (o.season) {
        const errors s = score(seasonal, actual, ntest);
        printf("seasonal_rmse=%.2f seasonal_mae=%.2f season=%ld ", s.rmse, s.mae, o.season);
    }
    printf("window=%zu horizon=%zu features=%d lags=", N, H, nfeat);
    for (int l = 0; l < o.nlags; l++) printf("%s%ld", l ? "," : "", o.lags[l]);
    struct rusage ru;
    const double peak_mb = getrusage(RUSAGE_SELF, &ru) ? 0.0 : (double)ru.ru_maxrss / 1024.0;
    printf("%s n_train=%zu n_val=%zu n_test=%zu train_seconds=%.1f epochs=%ld threads=%d ranks=%d "
           "isa=%s peak_rss_mb=%.0f\n",
           o.nlags ? "" : "none", nfit, nval, ntest, seconds, c.epochs, recur_get_num_threads(),
           cli_ranks(), recur_isa(), peak_mb);
    recur_model_destroy(m);
    recur_table_free(&t);
    free(feat), free(y), free(level), free(rel), free(fmean), free(fsd), free(x), free(yt);
    free(out), free(pred), free(actual), free(persist), free(seasonal), free(o.lags);
    return 0;
}
