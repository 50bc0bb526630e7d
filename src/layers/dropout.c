/* The Dropout layer: Keras's inverted dropout, only while training: each
 * element is zeroed with probability rate, survivors scaled by 1/(1-rate). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/* dropout:RATE */
static int parse(layer *L, char **f, int n, char *why, size_t whylen) {
    if (n != 1) return snprintf(why, whylen, "expected dropout:RATE"), 0;
    char *end;
    errno = 0;
    double r = strtod(f[0], &end);
    if (errno || end == f[0] || *end || !(r >= 0.0 && r < 1.0))
        return snprintf(why, whylen, "rate '%s' is not a number in [0, 1)", f[0]), 0;
    L->rate = (float)r;
    return 1;
}

static recur_status build(layer *L, int has_prev, int index, const char *fn) {
    (void)has_prev, (void)index;
    if (!(L->rate >= 0.0f && L->rate < 1.0f))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: dropout rate must be in [0, 1), got %g",
                          fn, (double)L->rate);
    L->out_steps = L->in_steps, L->out_feat = L->in_feat;
    L->out_seq = L->in_steps > 1;
    L->nparams = 0;
    return RECUR_OK;
}

static int alloc(layer *L, int batch) {
    return (L->mask = model_alloc_floats((size_t)L->out_steps * (size_t)batch * L->out_feat)) !=
           NULL;
}

static void release(layer *L) {
    free(L->mask);
    L->mask = NULL;
}

/* The mask depends only on (seed, step, layer, element): the same for any
 * thread count, and reproducible after a resume. Element k is hashed from its
 * index alone; blocks of 2^30 elements, each its own stream, keep the
 * kernel's 32-bit index from wrapping. Each thread applies its part of the
 * mask while that is in cache. At inference the input passes through. */
static recur_status forward(recur_model *m, layer *L, int l, const float *in, int B, int training,
                            const float **out) {
    if (!training || L->rate <= 0.0f) {
        *out = in;
        return RECUR_OK;
    }
    const size_t n = (size_t)L->out_steps * (size_t)B * L->out_feat;
    const int nt = recur_threads();
    const uint64_t stream =
        rng_mix(m->seed ^ rng_mix(m->iterations * 0x9E3779B97F4A7C15ull + (uint64_t)l + 1));
    const float keep = 1.0f / (1.0f - L->rate), rate = L->rate;
    const dropout_mask_fn kernel = recur_kernels()->dropout_mask;
    const size_t block = (size_t)1 << 30;
    for (size_t k0 = 0; k0 < n; k0 += block) {
        const size_t len = n - k0 < block ? n - k0 : block;
        const uint64_t seed = k0 ? rng_mix(stream + k0) : stream;
        float *mask = L->mask + k0, *o = L->out + k0;
        const float *x = in + k0;
        const int64_t chunks = (int64_t)((len + 4095) / 4096); /* 16 KiB each */
#pragma omp parallel for num_threads(nt) schedule(static) if (len > 65536)
        for (int64_t c = 0; c < chunks; c++) {
            const size_t a = (size_t)c * 4096, b = a + 4096 < len ? a + 4096 : len;
            kernel(b - a, seed, (uint32_t)a, rate, keep, mask + a);
            for (size_t k = a; k < b; k++) o[k] = x[k] * mask[k];
        }
    }
    *out = L->out;
    return RECUR_OK;
}

static recur_status backward(recur_model *m, layer *L, int l, int B, float *din) {
    (void)m, (void)l;
    if (!din) return RECUR_OK;
    const size_t n = (size_t)L->out_steps * (size_t)B * L->out_feat;
    const float *dout = L->dout, *mask = L->mask;
    if (L->rate > 0.0f) {
#pragma omp parallel for simd num_threads(recur_threads()) schedule(static) if (n > 65536)
        for (size_t k = 0; k < n; k++) din[k] = dout[k] * mask[k];
    } else {
        memcpy(din, L->dout, n * sizeof(float));
    }
    return RECUR_OK;
}

const layer_ops layer_dropout = {3,    "dropout", "Dropout", "dropout", parse,    build, NULL,
                                 NULL, alloc,     release,   forward,   backward, NULL};

recur_status recur_model_add_dropout(recur_model *m, float rate) {
    layer L = {.ops = &layer_dropout, .rate = rate};
    return model_add(m, &L, "recur_model_add_dropout");
}
