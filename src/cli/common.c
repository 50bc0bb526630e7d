/* recur-train's shared part (cli.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

void cli_die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("recur-train: ", stderr);
    if (cli_ranks() > 1) fprintf(stderr, "rank %d: ", cli_rank());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cli_parallel_abort(code);
}

void cli_die_all(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    if (cli_rank() == 0) {
        fputs("recur-train: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
    exit(code);
}

void cli_check(recur_status st, const char *what) {
    if (st != RECUR_OK) cli_die(1, "%s: %s", what, recur_last_error());
}

long cli_long(const char *flag, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        cli_die(2, "%s: '%s' is not an integer in [%ld, %ld]", flag, v, lo, hi);
    return x;
}

double cli_double(const char *flag, const char *v, double lo, double hi, int open_lo) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi || (open_lo && x == lo))
        cli_die(2, "%s: '%s' is not a number in %s%g, %g]", flag, v, open_lo ? "(" : "[", lo, hi);
    return x;
}

void cli_parse(int argc, char **argv, int first, cli_common *o, cli_flag_fn f, void *sub,
               const char *usage) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            if (cli_rank() == 0) fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) cli_die(2, "unexpected argument '%s' (see --help)", a);
        if (i + 1 >= argc) cli_die(2, "%s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--layers")) o->spec = v;
        else if (!strcmp(a, "--save")) o->save = v;
        else if (!strcmp(a, "--load")) o->load = v;
        else if (!strcmp(a, "--checkpoint")) o->checkpoint = v;
        else if (!strcmp(a, "--resume")) o->resume = v;
        else if (!strcmp(a, "--history")) o->history = v;
        else if (!strcmp(a, "--plot")) o->plot = v;
        else if (!strcmp(a, "--epochs")) o->epochs = cli_long(a, v, 0, 1000000);
        else if (!strcmp(a, "--batch")) o->batch = cli_long(a, v, 1, 1 << 20);
        else if (!strcmp(a, "--threads")) o->threads = cli_long(a, v, 0, 4096);
        else if (!strcmp(a, "--seed"))
            o->seed = (unsigned long long)cli_long(a, v, 0, (long)(~0UL >> 1));
        else if (!strcmp(a, "--lr")) o->lr = cli_double(a, v, 0.0, 1e3, 1);
        else if (!strcmp(a, "--decay")) o->decay = cli_double(a, v, 0.0, 1e6, 0);
        else if (!strcmp(a, "--clipnorm")) o->clipnorm = cli_double(a, v, 0.0, 1e30, 0);
        else if (!strcmp(a, "--clipvalue")) o->clipvalue = cli_double(a, v, 0.0, 1e30, 0);
        else if (!f || !f(sub, a, v)) cli_die(2, "unknown option '%s' (see --help)", a);
    }
    if (o->load && o->resume) cli_die(2, "--load and --resume exclude each other");
    recur_set_num_threads((int)o->threads);
    if (cli_rank() != 0) return; /* rank 0 alone writes files */
    if (o->save) cli_check_writable("--save", o->save);
    if (o->checkpoint) cli_check_writable("--checkpoint", o->checkpoint);
    if (o->history) cli_check_writable("--history", o->history);
    if (o->plot) cli_check_writable("--plot", o->plot);
}

/* Hours of training must not end in "cannot write": try a file in the
 * target's folder now (mkstemp creates it; it is removed at once). */
void cli_check_writable(const char *flag, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) cli_die(1, "%s: %s is a folder", flag, path);
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) cli_die(1, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) cli_die(1, "%s: cannot write %s: %s", flag, path, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
}

recur_model *cli_model(const cli_common *c, int T, int F, recur_loss loss) {
    recur_model *m = NULL;
    if (c->load || c->resume) {
        const char *from = c->load ? c->load : c->resume;
        cli_check(recur_model_load(&m, from), c->load ? "--load" : "--resume");
        cli_parallel_same_file(c->load ? "--load" : "--resume", from);
        int mt, mf;
        recur_model_input_shape(m, &mt, &mf);
        if (T && (mt != T || mf != F)) /* T = 0: the caller checks */
            cli_die(1, "the model in %s takes samples of %d x %d, the data gives %d x %d", from, mt,
                    mf, T, F);
        return m;
    }
    cli_check(recur_model_create(&m, T, F, c->seed), "model");
    cli_check(recur_model_add_layers(m, c->spec), "--layers");
    recur_optimizer adam = recur_adam((float)c->lr);
    adam.decay = (float)c->decay;
    adam.clipnorm = (float)c->clipnorm, adam.clipvalue = (float)c->clipvalue;
    cli_check(recur_model_compile(m, &adam, loss), "--layers");
    return m;
}

void cli_summary(const cli_common *c, recur_model *m) {
    if (c->quiet || cli_rank() != 0) return;
    size_t len = recur_model_summary(m, NULL, 0);
    char *text = malloc(len + 1);
    if (text) recur_model_summary(m, text, len + 1), fputs(text, stdout), free(text);
    fflush(stdout);
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

/* the history as CSV, written to a temporary name and renamed over path */
static int write_history(recur_model *m, const char *path) {
    const recur_epoch_logs *h;
    const int n = recur_model_history(m, &h);
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) return 0;
    snprintf(tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f != NULL;
    if (ok) {
        fprintf(f, "epoch,loss,accuracy,mae,val_loss,val_accuracy,val_mae,seconds\n");
        for (int e = 0; e < n; e++)
            fprintf(f, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", h[e].epoch + 1, h[e].loss,
                    h[e].accuracy, h[e].mae, h[e].val_loss, h[e].val_accuracy, h[e].val_mae,
                    h[e].seconds);
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
        ok = fclose(f) == 0 && ok;
    } else if (fd >= 0) {
        close(fd);
    }
    ok = ok && rename(tmp, path) == 0;
    if (!ok) unlink(tmp);
    free(tmp);
    return ok;
}

double cli_fit(const cli_common *c, recur_model *m, const cli_data *tr, const cli_data *va,
               double val_split) {
    recur_fit_options fo = recur_fit_defaults();
    fo.epochs = (int)c->epochs;
    fo.batch_size = (int)c->batch;
    fo.verbose = c->quiet ? 0 : 1;
    fo.progress = stderr;
    if (va && va->n)
        fo.val_x = va->x, fo.val_ids = va->ids, fo.val_y = va->y, fo.val_n = va->n;
    else
        fo.validation_split = (float)val_split;
    if (c->resume) fo.initial_epoch = RECUR_EPOCHS_DONE;
    checkpoint ck = {m, c->checkpoint, 0};
    if (c->checkpoint) fo.on_epoch_end = save_checkpoint, fo.user = &ck;
    const double t0 = omp_get_wtime();
    recur_status st = cli_parallel_fit(m, tr, &fo);
    const double seconds = omp_get_wtime() - t0;
    /* the fit's errors are the same on every rank: rank 0 reports them, and
     * it alone writes the last good state (the weights are the same) */
    if (st == RECUR_ERR_NUMERIC && c->checkpoint) {
        /* the model holds the last good weights: keep them for a look or a
         * restart with other settings */
        char why[512];
        snprintf(why, sizeof why, "%s", recur_last_error());
        if (cli_rank() == 0 && recur_model_save(m, c->checkpoint) != RECUR_OK)
            cli_die_all(1, "training: %s; --checkpoint: %s", why, recur_last_error());
        cli_die_all(1, "training: %s; the last good state is in %s", why, c->checkpoint);
    }
    if (st != RECUR_OK) cli_die_all(1, "training: %s", recur_last_error());
    /* a checkpoint that rank 0 could not write stopped every rank */
    if (cli_parallel_any(ck.failed)) cli_die_all(1, "--checkpoint: %s", recur_last_error());
    if (cli_rank() != 0) exit(0);
    if (c->history && !write_history(m, c->history))
        cli_die(1, "--history: cannot write %s: %s", c->history, strerror(errno));
    return seconds;
}

recur_metrics cli_evaluate(recur_model *m, const cli_data *d) {
    recur_metrics r;
    cli_check(d->ids ? recur_model_evaluate_metrics_ids(m, d->ids, d->y, d->n, 256, &r)
                     : recur_model_evaluate_metrics(m, d->x, d->y, d->n, 256, &r),
              "evaluation");
    return r;
}

int cli_gnuplot(const char *out, const char *script) {
    return cli_gnuplot_size(out, 1000, 420, script);
}

int cli_gnuplot_size(const char *out, int width, int height, const char *script) {
    const char *dot = strrchr(out, '.');
    const int svg = dot && !strcmp(dot, ".svg");
    FILE *p = popen("gnuplot 1>&2", "w");
    if (!p) {
        fprintf(stderr, "recur-train: --plot: cannot run gnuplot: %s\n", strerror(errno));
        return 1;
    }
    fprintf(p, "set terminal %s size %d,%d font 'sans,10'\nset output '%s'\n%s\n",
            svg ? "svg" : "pngcairo", width, height, out, script);
    const int rc = pclose(p);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        fprintf(stderr,
                "recur-train: --plot: gnuplot failed or is not installed (apt-get install "
                "gnuplot-nox); no plot written\n");
        return 1;
    }
    return 0;
}

void cli_plot_history(const cli_common *c, recur_model *m, const char *metric) {
    if (!c->plot) return;
    char data[] = "/tmp/recur-history-XXXXXX";
    int fd = mkstemp(data);
    if (fd < 0) return;
    close(fd);
    if (!write_history(m, data)) {
        unlink(data);
        return;
    }
    const int col = !strcmp(metric, "mae") ? 4 : 3;
    char script[2048];
    snprintf(script, sizeof script,
             "set datafile separator ','\nset key autotitle columnhead\nset grid\n"
             "set multiplot layout 1,2\nset xlabel 'epoch'\n"
             "set title 'loss'\nplot '%s' using 1:2 with linespoints title 'training', '' using "
             "1:5 with linespoints title 'validation'\n"
             "set title '%s'\nplot '%s' using 1:%d with linespoints title 'training', '' using "
             "1:%d with linespoints title 'validation'\nunset multiplot\n",
             data, metric, data, col, col + 3);
    cli_gnuplot(c->plot, script);
    unlink(data);
}
