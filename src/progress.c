/* Keras 2's Progbar format:
 *   Epoch 1/3
 *   1875/1875 [==============================] - 41s 22ms/step - loss: 0.2315 - accuracy: 0.9312
 * (a regression's metric is mae: "- loss: 0.0123 - mae: 0.0871 - val_loss: ... - val_mae: ...").
 * While running, " - ETA: 12s" replaces the time; on a terminal the line is
 * redrawn in place with '\r' at most every 50 ms, elsewhere only the final
 * line of each epoch is written. */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty */
#include <math.h>
#include <omp.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

void progress_init(progress *p, FILE *out, int verbose, int steps) {
    memset(p, 0, sizeof *p);
    p->out = verbose > 0 ? out : NULL;
    p->verbose = verbose;
    p->steps = steps;
    p->tty = p->out && verbose == 1 && isatty(fileno(out));
}

void progress_epoch_begin(progress *p, int epoch, int epochs) {
    p->t0 = omp_get_wtime();
    p->last_draw = 0;
    if (p->out) fprintf(p->out, "Epoch %d/%d\n", epoch + 1, epochs);
}

static void metric(FILE *f, const char *name, double v) {
    if (isnan(v)) return;
    fprintf(f, fabs(v) > 1e-3 || v == 0 ? " - %s: %.4f" : " - %s: %.4e", name, v);
}

static void bar(const progress *p, int step) {
    int digits = 1;
    for (int s = p->steps; s >= 10; s /= 10) digits++;
    char b[31];
    int filled = (int)(30.0 * step / p->steps);
    for (int k = 0; k < 30; k++) b[k] = k < filled - 1 ? '=' : '.';
    if (filled > 0) b[filled - 1] = step < p->steps ? '>' : '=';
    b[30] = 0;
    fprintf(p->out, "%*d/%d [%s]", digits, step, p->steps, b);
}

static void duration(FILE *f, double s) {
    long t = (long)s;
    if (t >= 3600) fprintf(f, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60) fprintf(f, "%ld:%02ld", t / 60, t % 60);
    else fprintf(f, "%lds", t);
}

void progress_step(progress *p, int step, double loss, double acc, double mae) {
    if (!p->tty || step == p->steps) return;
    double now = omp_get_wtime();
    if (now - p->last_draw < 0.05) return;
    p->last_draw = now;
    fputc('\r', p->out);
    bar(p, step);
    fputs(" - ETA: ", p->out);
    duration(p->out, (now - p->t0) / step * (p->steps - step));
    metric(p->out, "loss", loss);
    metric(p->out, "accuracy", acc);
    metric(p->out, "mae", mae);
    fputs("\033[K", p->out); /* clear what a longer previous line left */
    fflush(p->out);
}

void progress_epoch_end(progress *p, const recur_epoch_logs *l) {
    if (!p->out) return;
    double per_step = l->seconds / (p->steps ? p->steps : 1);
    if (p->tty) fputc('\r', p->out);
    if (p->verbose == 1) {
        bar(p, p->steps);
        fputs(" - ", p->out);
    }
    fprintf(p->out, "%.0fs ", l->seconds);
    if (per_step >= 1) fprintf(p->out, "%.0fs/step", per_step);
    else if (per_step >= 1e-3) fprintf(p->out, "%.0fms/step", per_step * 1e3);
    else fprintf(p->out, "%.0fus/step", per_step * 1e6);
    metric(p->out, "loss", l->loss);
    metric(p->out, "accuracy", l->accuracy);
    metric(p->out, "mae", l->mae);
    metric(p->out, "val_loss", l->val_loss);
    metric(p->out, "val_accuracy", l->val_accuracy);
    metric(p->out, "val_mae", l->val_mae);
    if (p->tty) fputs("\033[K", p->out);
    fputc('\n', p->out);
    fflush(p->out);
}
