/* The Masking layer: Keras's Masking(mask_value). A step whose features all
 * equal mask_value is masked, and its features become 0 (Keras multiplies the
 * input by the mask); the mask it makes replaces any mask it was given, as
 * Keras's compute_mask does. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/* masking[:VALUE] */
static int parse(layer *L, char **f, int n, char *why, size_t whylen) {
    if (n > 1) return snprintf(why, whylen, "expected masking[:VALUE]"), 0;
    L->mask_value = 0.0f;
    if (n == 0) return 1;
    char *end;
    errno = 0;
    double v = strtod(f[0], &end);
    if (errno || end == f[0] || *end || !isfinite((float)v))
        return snprintf(why, whylen, "mask value '%s' is not a finite number", f[0]), 0;
    L->mask_value = (float)v;
    return 1;
}

static recur_status build(layer *L, int has_prev, int index, const char *fn) {
    if (!isfinite(L->mask_value))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: mask_value must be finite, got %g", fn,
                          (double)L->mask_value);
    if (has_prev && L->in_steps == 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: Masking needs a sequence, but layer %d gives one vector per sample",
                          fn, index);
    L->out_steps = L->in_steps, L->out_feat = L->in_feat;
    L->out_seq = 1;
    L->nparams = 0;
    return RECUR_OK;
}

static int alloc(layer *L, int batch) {
    return (L->own_mask = malloc((size_t)L->in_steps * (size_t)batch)) != NULL;
}

static void release(layer *L) {
    free(L->own_mask);
    L->own_mask = NULL;
}

/* in, out [T][B][F]: own_mask[t][b] = some feature of in[t][b] != mask_value;
 * out[t][b] = in[t][b] * own_mask[t][b] */
static recur_status forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                            const float **out) {
    (void)m, (void)l, (void)mode;
    const int64_t rows = (int64_t)L->in_steps * B;
    const size_t F = (size_t)L->in_feat;
    const float v = L->mask_value;
#pragma omp parallel for num_threads(recur_threads())                                              \
    schedule(static) if (rows * (int64_t)F > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * F;
        float *o = L->out + (size_t)r * F;
        size_t j = 0;
        while (j < F && x[j] == v) j++;
        L->own_mask[r] = j < F;
        if (j < F)
            memcpy(o, x, F * sizeof(float));
        else
            memset(o, 0, F * sizeof(float));
    }
    L->out_mask = L->own_mask;
    *out = L->out;
    return RECUR_OK;
}

/* din = dout * mask */
static recur_status backward(recur_model *m, layer *L, int l, int B, float *din) {
    (void)m, (void)l;
    if (!din) return RECUR_OK;
    const int64_t rows = (int64_t)L->in_steps * B;
    const size_t F = (size_t)L->in_feat;
    for (int64_t r = 0; r < rows; r++) {
        if (L->own_mask[r])
            memcpy(din + (size_t)r * F, L->dout + (size_t)r * F, F * sizeof(float));
        else
            memset(din + (size_t)r * F, 0, F * sizeof(float));
    }
    return RECUR_OK;
}

const layer_ops layer_masking = {7,    "masking", "Masking", "masking", parse,    build, NULL,
                                 NULL, alloc,     release,   forward,   backward, NULL};

recur_status recur_model_add_masking(recur_model *m, float mask_value) {
    layer L = {.ops = &layer_masking, .mask_value = mask_value};
    return model_add(m, &L, "recur_model_add_masking");
}
