/* The Embedding layer: Keras's Embedding(input_dim, output_dim, mask_zero).
 * Token ids in (the batch's m->ids0 [T][B], checked against [0, input_dim)
 * by the model), rows of embeddings [input_dim][output_dim] out; mask_zero
 * masks the steps whose id is 0. It is always the first layer, so it never
 * computes an input gradient. */
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/* the rows of the gradient the last backward wrote (see backward) */
typedef struct {
    unsigned char *used; /* [input_dim]: 1 if the row is in rows[] */
    int32_t *rows;       /* [min(input_dim, T * batch)] */
    size_t nrows;
    int stale; /* the gradient block may hold rows nobody listed: zero it all */
} touched;

/* embedding:INPUT_DIM:OUTPUT_DIM[:mask_zero] */
static int parse(layer *L, char **f, int n, char *why, size_t whylen) {
    if (n < 2 || n > 3)
        return snprintf(why, whylen, "expected embedding:INPUT_DIM:OUTPUT_DIM[:mask_zero]"), 0;
    char *end;
    errno = 0;
    long v = strtol(f[0], &end, 10);
    if (errno || end == f[0] || *end || v < 1 || v > INT_MAX)
        return snprintf(why, whylen, "input_dim '%s' is not an integer in [1, %d]", f[0], INT_MAX),
               0;
    L->vocab = (int)v;
    if (!model_parse_units(f[1], &L->units))
        return snprintf(why, whylen, "output_dim '%s' is not an integer in [1, 1048576]", f[1]), 0;
    if (n == 3 && strcmp(f[2], "mask_zero"))
        return snprintf(why, whylen, "'%s' is not mask_zero", f[2]), 0;
    L->option = n == 3;
    return 1;
}

static recur_status build(layer *L, int has_prev, int index, const char *fn) {
    (void)index;
    if (has_prev || L->in_feat != 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: Embedding must be the first layer, on a model created with "
                          "features = 1 (%s)",
                          fn, has_prev ? "it comes after other layers" : "the model has more");
    if (L->vocab <= 0 || L->units <= 0 || L->units > (1 << 20))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: Embedding needs input_dim >= 1 and output_dim in [1, 1048576], got "
                          "%d and %d",
                          fn, L->vocab, L->units);
    if (L->option != 0 && L->option != 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: mask_zero must be 0 or 1, got %d", fn,
                          L->option);
    L->out_steps = L->in_steps, L->out_feat = L->units;
    L->out_seq = 1;
    L->nparams = (size_t)L->vocab * (size_t)L->units;
    return RECUR_OK;
}

static int arrays(const layer *L, size_t off[], size_t len[], const char *name[]) {
    off[0] = L->w_off, len[0] = L->nparams, name[0] = "embeddings";
    return 1;
}

/* Keras's default: uniform(-0.05, 0.05) */
static int init(const layer *L, float *p, uint64_t *rng) {
    for (size_t k = 0; k < L->nparams; k++) p[k] = (2.0f * rng_float(rng) - 1.0f) * 0.05f;
    return 1;
}

static void release(layer *L) {
    touched *u = L->extra;
    if (u) free(u->used), free(u->rows), free(u);
    free(L->own_mask);
    L->extra = NULL, L->own_mask = NULL;
}

static int alloc(layer *L, int batch) {
    const size_t V = (size_t)L->vocab, TB = (size_t)L->in_steps * (size_t)batch;
    touched *u = calloc(1, sizeof *u);
    if (!(L->extra = u)) return 0;
    u->used = calloc(V, 1);
    u->rows = malloc((TB < V ? TB : V) * sizeof(int32_t));
    u->stale = 1; /* new buffers know nothing of what an earlier batch size left */
    if (L->option && !(L->own_mask = malloc(TB))) return 0;
    return u->used && u->rows;
}

/* out [T][B][D] = embeddings[ids0[t][b]]; mask_zero: own_mask [T][B] = id != 0 */
static recur_status forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                            const float **out) {
    (void)l, (void)in, (void)mode;
    const int64_t rows = (int64_t)L->in_steps * B;
    const size_t D = (size_t)L->units;
    const float *E = m->params + L->w_off;
    const int32_t *ids = m->ids0;
#pragma omp parallel for num_threads(recur_threads())                                              \
    schedule(static) if (rows * (int64_t)D > 65536)
    for (int64_t r = 0; r < rows; r++)
        memcpy(L->out + (size_t)r * D, E + (size_t)ids[r] * D, D * sizeof(float));
    if (L->option) {
        for (int64_t r = 0; r < rows; r++) L->own_mask[r] = ids[r] != 0;
        L->out_mask = L->own_mask;
    }
    *out = L->out;
    return RECUR_OK;
}

/* dembeddings[id] = sum of dout[t][b] over the steps with that id. The
 * gradient block stays a full dense [input_dim][output_dim] array (the
 * optimizer, clipping and the finiteness check read all of it), but only the
 * rows the previous backward wrote are zeroed and only this batch's rows are
 * written. The sums run in (t, b) order whatever the thread count; threads
 * split the columns. The optimizer's update itself stays dense, as Keras's
 * Adam on an Embedding: every row's moments decay at every step. */
static recur_status backward(recur_model *m, layer *L, int l, int B, float *din) {
    (void)l, (void)din;
    touched *u = L->extra;
    const int64_t rows = (int64_t)L->in_steps * B, D = L->units;
    float *g = m->grads + L->w_off;
    const int32_t *ids = m->ids0;
    if (L->grads_summed) u->stale = 1, L->grads_summed = 0;
    if (u->stale) memset(g, 0, L->nparams * sizeof(float));
    for (size_t k = 0; k < u->nrows && !u->stale; k++) {
        memset(g + (size_t)u->rows[k] * (size_t)D, 0, (size_t)D * sizeof(float));
        u->used[u->rows[k]] = 0;
    }
    u->stale = 0, u->nrows = 0;
    for (int64_t r = 0; r < rows; r++)
        if (!u->used[ids[r]]) u->used[ids[r]] = 1, u->rows[u->nrows++] = ids[r];
    const int nt = recur_threads();
#pragma omp parallel num_threads(nt) if (rows * D > 65536)
    {
        const recur_fpmode fp = recur_omp_enter();
        int64_t lo, hi;
        recur_split(D, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int64_t r = 0; r < rows; r++) {
            float *gr = g + (int64_t)ids[r] * D;
            const float *d = L->dout + r * D;
            for (int64_t j = lo; j < hi; j++) gr[j] += d[j];
        }
        recur_omp_leave(fp);
    }
    return RECUR_OK;
}

const layer_ops layer_embedding = {6,       "embedding", "Embedding", "embedding", parse,
                                   build,   arrays,      init,        alloc,       release,
                                   forward, backward,    NULL};

recur_status recur_model_add_embedding(recur_model *m, int input_dim, int output_dim,
                                       int mask_zero) {
    layer L = {
        .ops = &layer_embedding, .vocab = input_dim, .units = output_dim, .option = mask_zero != 0};
    return model_add(m, &L, "recur_model_add_embedding");
}
