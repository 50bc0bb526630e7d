/* Keras-style training progress, written only to a stream the caller gave. */
#ifndef RECUR_PROGRESS_H
#define RECUR_PROGRESS_H

#include <stdio.h>

#include "recur.h"

typedef struct progress {
    FILE *out;   /* NULL: silent */
    int verbose; /* 1: bar (redrawn in place on a terminal), 2: one line per epoch */
    int tty;
    int steps;
    double t0, last_draw;
} progress;

void progress_init(progress *p, FILE *out, int verbose, int steps);
void progress_epoch_begin(progress *p, int epoch, int epochs);
/* step is 1-based; acc, mae NaN: not shown */
void progress_step(progress *p, int step, double loss, double acc, double mae);
void progress_epoch_end(progress *p, const recur_epoch_logs *logs);

#endif /* RECUR_PROGRESS_H */
