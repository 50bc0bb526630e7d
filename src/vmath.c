/* Vector math for custom cells: the chosen kernel set's sigmoid and tanh, the
 * same functions its gate kernels inline, so a custom cell's activations have
 * the bits of the built-in cells' for the same input. One indirect call, no
 * allocation: cells call these on every row of every step. */
#include <string.h>

#include "internal.h"

void recur_vsigmoid(size_t n, const float *x, float *y) { recur_kernels()->vsigmoid(n, x, y); }

void recur_vtanh(size_t n, const float *x, float *y) { recur_kernels()->vtanh(n, x, y); }

/* relu as the built-in layers take it (x > 0 ? x : 0, so NaN gives 0); softmax
 * is not elementwise and, like an unknown act, copies x as linear does */
void recur_vact(recur_act act, size_t n, const float *x, float *y) {
    switch (act) {
    case RECUR_ACT_TANH:
        recur_vtanh(n, x, y);
        break;
    case RECUR_ACT_SIGMOID:
        recur_vsigmoid(n, x, y);
        break;
    case RECUR_ACT_RELU:
        for (size_t k = 0; k < n; k++) y[k] = x[k] > 0.0f ? x[k] : 0.0f;
        break;
    default:
        if (n && x != y) memmove(y, x, n * sizeof(float));
    }
}
