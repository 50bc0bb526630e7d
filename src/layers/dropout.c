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

/* The mask and output for elements [g, g + len) of the batch as one process
 * would hold it (time-major [steps][rows][feat]), at offset `at` of this
 * batch's buffers. Element g is hashed from its index alone, in blocks of 2^30
 * elements, each its own stream (the kernel's index is 32-bit); chunks of
 * 16 KiB split across threads and applied while in cache. */
static void drop_range(const layer *L, dropout_mask_fn kernel, uint64_t stream, size_t g,
                       size_t len, size_t at, const float *in, int nt) {
    const float keep = 1.0f / (1.0f - L->rate), rate = L->rate;
    const size_t block = (size_t)1 << 30;
    while (len) {
        const size_t k0 = g & ~(block - 1), off = g - k0;
        const size_t part = block - off < len ? block - off : len;
        const uint64_t seed = k0 ? rng_mix(stream + k0) : stream;
        float *mask = L->mask + at, *o = L->out + at;
        const float *x = in + at;
        const int64_t chunks = (int64_t)((part + 4095) / 4096);
#pragma omp parallel for num_threads(nt) schedule(static) if (part > 65536)
        for (int64_t c = 0; c < chunks; c++) {
            const size_t a = (size_t)c * 4096, b = a + 4096 < part ? a + 4096 : part;
            kernel(b - a, seed, (uint32_t)(off + a), rate, keep, mask + a);
            for (size_t k = a; k < b; k++) o[k] = x[k] * mask[k];
        }
        g += part, at += part, len -= part;
    }
}

/* The mask depends only on (seed, step, layer, element): the same for any
 * thread count, reproducible after a resume, and in data-parallel training
 * (a batch that is rows [batch_first, +B) of a global batch of batch_rows)
 * the mask one process would draw for the global batch. At inference the
 * input passes through. */
static recur_status forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                            const float **out) {
    if (!(mode & FWD_DROPOUT) || L->rate <= 0.0f) {
        *out = in;
        return RECUR_OK;
    }
    const size_t F = (size_t)L->out_feat, S = (size_t)L->out_steps;
    const int nt = recur_threads();
    const uint64_t stream =
        rng_mix(m->seed ^ rng_mix(m->iterations * 0x9E3779B97F4A7C15ull + (uint64_t)l + 1));
    const dropout_mask_fn kernel = recur_kernels()->dropout_mask;
    const size_t G = m->batch_rows ? (size_t)m->batch_rows : (size_t)B;
    if (G == (size_t)B) {
        drop_range(L, kernel, stream, 0, S * (size_t)B * F, 0, in, nt);
    } else {
        const size_t first = (size_t)m->batch_first;
        for (size_t t = 0; t < S; t++)
            drop_range(L, kernel, stream, (t * G + first) * F, (size_t)B * F, t * (size_t)B * F,
                       in, nt);
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
#pragma omp parallel num_threads(recur_threads()) if (n > 65536)
        {
            const recur_fpmode fp = recur_omp_enter();
#pragma omp for simd schedule(static)
            for (size_t k = 0; k < n; k++) din[k] = dout[k] * mask[k];
            recur_omp_leave(fp);
        }
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
