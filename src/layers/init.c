/* Keras's default initialisers, drawn from the model's seeded generator. */
#include <math.h>
#include <stdlib.h>

#include "recurrent.h"

void init_glorot_uniform(float *w, size_t fan_in, size_t fan_out, uint64_t *rng) {
    float limit = (float)sqrt(6.0 / (double)(fan_in + fan_out));
    for (size_t k = 0; k < fan_in * fan_out; k++) w[k] = (2.0f * rng_float(rng) - 1.0f) * limit;
}

static double rng_normal(uint64_t *rng) {
    double u1 = ((double)(rng_next(rng) >> 11) + 1.0) * 0x1p-53; /* (0, 1] */
    double u2 = (double)(rng_next(rng) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* As Keras's Orthogonal: QR of a cols x rows normal matrix, Q's columns (signs
 * fixed so R's diagonal is positive, which Gram-Schmidt gives by
 * construction) become w's rows. */
int init_orthogonal(float *w, size_t rows, size_t cols, uint64_t *rng) {
    double *q = malloc(rows * cols * sizeof(double)); /* q[r][.]: column r of Q, length cols */
    if (!q) return 0;
    for (size_t k = 0; k < rows * cols; k++) q[k] = rng_normal(rng);
    for (size_t r = 0; r < rows; r++) {
        double *v = q + r * cols;
        for (int pass = 0; pass < 2; pass++) /* twice: full orthogonality in floating point */
            for (size_t p = 0; p < r; p++) {
                const double *e = q + p * cols;
                double dot = 0;
                for (size_t k = 0; k < cols; k++) dot += e[k] * v[k];
                for (size_t k = 0; k < cols; k++) v[k] -= dot * e[k];
            }
        double norm = 0;
        for (size_t k = 0; k < cols; k++) norm += v[k] * v[k];
        norm = sqrt(norm);
        for (size_t k = 0; k < cols; k++) v[k] /= norm;
    }
    for (size_t k = 0; k < rows * cols; k++) w[k] = (float)q[k];
    free(q);
    return 1;
}
