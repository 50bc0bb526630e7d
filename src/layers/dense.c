/* The Dense layer: Keras's Dense(units, activation), applied to every step of
 * a sequence. kernel [in][units] (glorot_uniform), bias [units] (zeros). With
 * softmax last and sparse categorical cross-entropy, or sigmoid last and
 * binary cross-entropy, the loss reads the logits (kept in pre) and hands
 * backward dLoss/d(logits) directly (the two are fused for stability). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/* dense:UNITS[:ACTIVATION] */
static int parse(layer *L, char **f, int n, char *why, size_t whylen) {
    static const recur_act acts[] = {RECUR_ACT_LINEAR, RECUR_ACT_RELU, RECUR_ACT_TANH,
                                     RECUR_ACT_SIGMOID, RECUR_ACT_SOFTMAX};
    L->act = RECUR_ACT_LINEAR;
    if (n < 1 || n > 2) return snprintf(why, whylen, "expected dense:UNITS[:ACTIVATION]"), 0;
    if (!model_parse_units(f[0], &L->units))
        return snprintf(why, whylen, "units '%s' is not an integer in [1, 1048576]", f[0]), 0;
    if (n == 1) return 1;
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++)
        if (!strcmp(f[1], model_act_name(acts[k]))) return L->act = acts[k], 1;
    return snprintf(why, whylen, "activation '%s' is not linear, relu, tanh, sigmoid or softmax",
                    f[1]),
           0;
}

static recur_status build(layer *L, int has_prev, int index, const char *fn) {
    (void)has_prev, (void)index;
    if (L->units <= 0 || L->units > (1 << 20))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: units must be in [1, 1048576], got %d",
                          fn, L->units);
    if (!model_act_name(L->act))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: unknown activation %d", fn, (int)L->act);
    L->out_steps = L->in_steps, L->out_feat = L->units;
    L->out_seq = L->in_steps > 1;
    L->nparams = (size_t)L->units * ((size_t)L->in_feat + 1);
    return RECUR_OK;
}

static int arrays(const layer *L, size_t off[], size_t len[], const char *name[]) {
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units;
    off[0] = L->w_off, len[0] = in * u, name[0] = "kernel";
    off[1] = L->w_off + in * u, len[1] = u, name[1] = "bias";
    return 2;
}

static int init(const layer *L, float *p, uint64_t *rng) {
    init_glorot_uniform(p, (size_t)L->in_feat, (size_t)L->units, rng);
    return 1;
}

static int alloc(layer *L, int batch) {
    if (L->act != RECUR_ACT_SOFTMAX && L->act != RECUR_ACT_SIGMOID) return 1;
    return (L->pre = model_alloc_floats((size_t)L->out_steps * (size_t)batch * L->out_feat)) !=
           NULL;
}

static void release(layer *L) {
    free(L->pre);
    L->pre = NULL;
}

static recur_status forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                            const float **out) {
    (void)l, (void)mode;
    const int64_t rows = (int64_t)L->in_steps * B, in_f = L->in_feat, u = L->units;
    const float *W = m->params + L->w_off, *b = W + in_f * u;
    float *z = L->pre ? L->pre : L->out;
    *out = L->out;
    int e =
        recur_sgemm_par(recur_threads(), 'N', 'N', rows, u, in_f, 1.0f, in, in_f, W, u, 0.0f, z, u);
    if (e) return recur_gemm_fail(e, "forward");
    const simd_kernels *k = recur_kernels();
    for (int64_t r = 0; r < rows; r++) {
        float *zr = z + r * u, *o = L->out + r * u;
        for (int64_t j = 0; j < u; j++) zr[j] += b[j];
        switch (L->act) {
        case RECUR_ACT_RELU:
            for (int64_t j = 0; j < u; j++) o[j] = zr[j] > 0.0f ? zr[j] : 0.0f;
            break;
        case RECUR_ACT_TANH:
            k->vtanh((size_t)u, zr, o);
            break;
        case RECUR_ACT_SIGMOID:
            k->vsigmoid((size_t)u, zr, o);
            break;
        case RECUR_ACT_SOFTMAX: {
            float mx = zr[0];
            for (int64_t j = 1; j < u; j++) mx = zr[j] > mx ? zr[j] : mx;
            double sum = 0;
            for (int64_t j = 0; j < u; j++) sum += (o[j] = expf(zr[j] - mx));
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < u; j++) o[j] *= inv;
            break;
        }
        default:
            break; /* linear: z is out */
        }
    }
    return RECUR_OK;
}

static recur_status backward(recur_model *m, layer *L, int l, int B, float *din) {
    const int64_t rows = (int64_t)L->in_steps * B, u = L->units, in_f = L->in_feat;
    const int nt = recur_threads();
    float *dz = L->dout, *g = m->grads + L->w_off;
    const int fused =
        l == m->nlayers - 1 &&
        ((L->act == RECUR_ACT_SOFTMAX && m->loss == RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) ||
         (L->act == RECUR_ACT_SIGMOID && m->loss == RECUR_LOSS_BINARY_CROSSENTROPY));
    for (int64_t r = 0; r < rows && !fused; r++) {
        float *d = dz + r * u;
        const float *o = L->out + r * u;
        switch (L->act) {
        case RECUR_ACT_RELU:
            for (int64_t j = 0; j < u; j++) d[j] = o[j] > 0.0f ? d[j] : 0.0f;
            break;
        case RECUR_ACT_TANH:
            for (int64_t j = 0; j < u; j++) d[j] *= 1.0f - o[j] * o[j];
            break;
        case RECUR_ACT_SIGMOID:
            for (int64_t j = 0; j < u; j++) d[j] *= o[j] * (1.0f - o[j]);
            break;
        case RECUR_ACT_SOFTMAX: {
            double s = 0;
            for (int64_t j = 0; j < u; j++) s += (double)d[j] * o[j];
            for (int64_t j = 0; j < u; j++) d[j] = o[j] * (d[j] - (float)s);
            break;
        }
        default:
            break;
        }
    }
    float *db = g + in_f * u;
    memcpy(db, dz, (size_t)u * sizeof(float));
    for (int64_t r = 1; r < rows; r++)
        for (int64_t j = 0; j < u; j++) db[j] += dz[r * u + j];
    int e = recur_sgemm_par(nt, 'T', 'N', in_f, u, rows, 1.0f, L->in, in_f, dz, u, 0.0f, g, u);
    if (!e && din)
        e = recur_sgemm_par(nt, 'N', 'T', rows, in_f, u, 1.0f, dz, u, m->params + L->w_off, u, 0.0f,
                            din, in_f);
    return e ? recur_gemm_fail(e, "backward") : RECUR_OK;
}

const layer_ops layer_dense = {2,    "dense", "Dense", "dense", parse,    build, arrays,
                               init, alloc,   release, forward, backward, NULL};

recur_status recur_model_add_dense(recur_model *m, int units, recur_act activation) {
    layer L = {.ops = &layer_dense, .units = units, .act = activation};
    return model_add(m, &L, "recur_model_add_dense");
}
