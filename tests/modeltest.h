/* Helpers for the tests that go through recur's public API: status and
 * message checks that print what went wrong, and the finite-difference check
 * of a model's gradient. */
#ifndef RECUR_MODELTEST_H
#define RECUR_MODELTEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <recur.h>

#include "testutil.h"

/* st is RECUR_OK; else prints the status and the last error */
static inline int ok(recur_status st) {
    if (st != RECUR_OK) printf("\n    %s: %s", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

/* the last error message holds needle; else prints both */
static inline int mentions(const char *needle) {
    if (strstr(recur_last_error(), needle)) return 1;
    printf("\n    message \"%s\" does not mention \"%s\"", recur_last_error(), needle);
    return 0;
}

static inline float model_loss(recur_model *m, const float *x, const int32_t *ids, const float *y,
                               size_t n, int training) {
    float loss = NAN;
    CU_ASSERT_FATAL(ok(ids ? recur_model_compute_gradients_ids(m, ids, y, n, training, &loss)
                           : recur_model_compute_gradients(m, x, y, n, training, &loss)));
    return loss;
}

/* The gradient of the loss over n samples (x, or ids for a token model)
 * against central differences of step eps over every parameter, in the model's
 * order: the worst |fd - g| / (2e-3 + |fd|). training as for
 * recur_model_compute_gradients (a fixed dropout mask: the step count does not
 * move). */
static inline double fd_worst(recur_model *m, const float *x, const int32_t *ids, const float *y,
                              size_t n, int training, float eps) {
    size_t np;
    float *p = recur_model_params(m, &np);
    model_loss(m, x, ids, y, n, training);
    float *g = malloc(np * sizeof(float));
    memcpy(g, recur_model_gradients(m, NULL), np * sizeof(float));
    double worst = 0;
    for (size_t k = 0; k < np; k++) {
        const float keep = p[k];
        p[k] = keep + eps;
        const float lp = model_loss(m, x, ids, y, n, training);
        p[k] = keep - eps;
        const float lm = model_loss(m, x, ids, y, n, training);
        p[k] = keep;
        const double fd = ((double)lp - lm) / (2.0 * eps);
        const double e = fabs(fd - g[k]) / (2e-3 + fabs(fd));
        if (e > worst) worst = e;
    }
    free(g);
    return worst;
}

#endif
