/* The Sequential model: layers, initialisation, forward/backward, fit,
 * evaluate, predict. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "layers/recurrent.h"
#include "model.h"
#include "progress.h"

/* ---- Building ---------------------------------------------------------- */

recur_status recur_model_create(recur_model **out, int seq_len, int features, uint64_t seed) {
    static const char fn[] = "recur_model_create";
    if (!out) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: out is NULL", fn);
    *out = NULL;
    if (seq_len <= 0 || features <= 0)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: seq_len and features must be positive, got %d and %d", fn, seq_len,
                          features);
    recur_model *m = calloc(1, sizeof *m);
    if (!m) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    m->T = seq_len, m->F = features, m->seed = seed;
    m->shuffle_rng = rng_mix(seed ^ 0x53485546464C45ull); /* an independent stream */
    m->ranks = 1;
    *out = m;
    return RECUR_OK;
}

static void free_batch_buffers(recur_model *m) {
    for (int l = 0; l < m->nlayers; l++) {
        layer *L = &m->layers[l];
        free(L->out), free(L->dout);
        L->out = L->dout = NULL;
        if (L->ops->release) L->ops->release(L);
    }
    free(m->x0), free(m->yb), free(m->ids0);
    m->x0 = m->yb = NULL;
    m->ids0 = NULL;
    m->cap_batch = 0;
}

void recur_model_destroy(recur_model *m) {
    if (!m) return;
    free_batch_buffers(m);
    for (int l = 0; l < m->nlayers; l++) free(m->layers[l].state);
    free(m->layers), free(m->params), free(m->grads), free(m->m1), free(m->m2);
    free(m->perm), free(m->history), free(m->cells);
    free(m);
}

const char *model_act_name(recur_act a) {
    switch (a) {
    case RECUR_ACT_LINEAR: return "linear";
    case RECUR_ACT_RELU: return "relu";
    case RECUR_ACT_TANH: return "tanh";
    case RECUR_ACT_SIGMOID: return "sigmoid";
    case RECUR_ACT_SOFTMAX: return "softmax";
    }
    return NULL;
}

recur_status model_add(recur_model *m, const layer *proto, const char *fn) {
    if (!m) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: model is NULL", fn);
    if (m->compiled)
        return recur_fail(RECUR_ERR_STATE, "%s: the model is compiled; add layers before compile",
                          fn);
    if (!proto->ops) return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: unknown layer kind", fn);
    layer L = *proto;
    const layer *prev = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
    L.in_steps = prev ? prev->out_steps : m->T;
    L.in_feat = prev ? prev->out_feat : m->F;
    recur_status st = L.ops->build(&L, prev != NULL, m->nlayers, fn);
    if (st) return st;
    if (m->nlayers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        layer *grown = realloc(m->layers, (size_t)cap * sizeof *grown);
        if (!grown) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
        m->layers = grown, m->cap_layers = cap;
    }
    m->layers[m->nlayers++] = L;
    if (L.ops == &layer_embedding) m->vocab = L.vocab; /* the model now takes token ids */
    return RECUR_OK;
}

recur_optimizer recur_adam(float learning_rate) {
    recur_optimizer o = {RECUR_OPTIMIZER_ADAM, learning_rate, 0.0f, 0.9f, 0.999f, 1e-7f, 0.0f, 0,
                         0.0f, 0.0f};
    return o;
}

recur_optimizer recur_sgd(float learning_rate, float momentum) {
    recur_optimizer o = {RECUR_OPTIMIZER_SGD, learning_rate, 0.0f, 0.9f, 0.999f, 1e-7f, momentum, 0,
                         0.0f, 0.0f};
    return o;
}

void model_keras_name(const recur_model *m, int l, char *buf, size_t size) {
    const layer_ops *k = m->layers[l].ops;
    int same = 0; /* Keras numbers each kind apart: lstm, lstm_1, dense, ... */
    for (int i = 0; i < l; i++) same += m->layers[i].ops == k;
    if (same) snprintf(buf, size, "%s_%d", k->keras, same);
    else snprintf(buf, size, "%s", k->keras);
}

int layer_arrays(const layer *L, size_t off[], size_t len[], const char *name[]) {
    return L->ops->arrays ? L->ops->arrays(L, off, len, name) : 0;
}

void model_layer_name(const recur_model *m, int l, char *buf, size_t size) {
    char name[32];
    model_keras_name(m, l, name, sizeof name);
    snprintf(buf, size, "layer %d (%s)", l + 1, name);
}

int model_output_size(const recur_model *m) {
    return m->nlayers ? m->layers[m->nlayers - 1].out_feat : m->F;
}
int recur_model_output_size(const recur_model *m) { return m ? model_output_size(m) : 0; }
int recur_model_output_steps(const recur_model *m) {
    const layer *last = m && m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
    return !last ? 0 : last->out_seq ? last->out_steps : 1;
}
void recur_model_input_shape(const recur_model *m, int *seq_len, int *features) {
    if (seq_len) *seq_len = m ? m->T : 0;
    if (features) *features = m ? m->F : 0;
}
size_t recur_model_param_count(const recur_model *m) {
    size_t n = 0;
    for (int l = 0; m && l < m->nlayers; l++) n += m->layers[l].nparams;
    return n;
}

float *model_alloc_floats(size_t n) {
    size_t bytes = recur_round_up((n ? n : 1) * sizeof(float));
    float *p = aligned_alloc(RECUR_ALIGN, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

recur_status recur_model_compile(recur_model *m, const recur_optimizer *opt, recur_loss loss) {
    static const char fn[] = "recur_model_compile";
    if (!m || !opt) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, m ? "opt" : "m");
    if (m->compiled) return recur_fail(RECUR_ERR_STATE, "%s: the model is already compiled", fn);
    if (!m->nlayers) return recur_fail(RECUR_ERR_STATE, "%s: the model has no layers", fn);
    /* a last layer that returns a sequence takes per-step targets */
    const layer *last = &m->layers[m->nlayers - 1];
    if (loss == RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
        if (last->ops != &layer_dense || last->act != RECUR_ACT_SOFTMAX || last->units < 2)
            return recur_fail(RECUR_ERR_UNSUPPORTED,
                              "%s: sparse categorical cross-entropy needs a Dense softmax layer "
                              "with at least 2 units last",
                              fn);
    } else if (loss == RECUR_LOSS_BINARY_CROSSENTROPY) {
        if (last->ops != &layer_dense || last->act != RECUR_ACT_SIGMOID || last->units != 1)
            return recur_fail(RECUR_ERR_UNSUPPORTED,
                              "%s: binary cross-entropy needs a Dense(1, sigmoid) layer last, "
                              "got %s",
                              fn,
                              last->ops != &layer_dense        ? "another kind of layer"
                              : last->act != RECUR_ACT_SIGMOID ? "a Dense that is not sigmoid"
                                                               : "a Dense with more than 1 unit");
    } else if (loss != RECUR_LOSS_MSE) {
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: unknown loss %d", fn, (int)loss);
    }
    if (opt->kind != RECUR_OPTIMIZER_ADAM && opt->kind != RECUR_OPTIMIZER_SGD)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: unknown optimizer %d", fn,
                          (int)opt->kind);
    if (!(opt->learning_rate > 0 && isfinite(opt->learning_rate)) ||
        !(opt->decay >= 0 && isfinite(opt->decay)))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: learning_rate must be positive and decay non-negative, got %g and %g",
                          fn, (double)opt->learning_rate, (double)opt->decay);
    if (opt->kind == RECUR_OPTIMIZER_ADAM &&
        !(opt->beta_1 >= 0 && opt->beta_1 < 1 && opt->beta_2 >= 0 && opt->beta_2 < 1 &&
          opt->epsilon > 0))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: Adam needs beta_1, beta_2 in [0, 1) and epsilon > 0", fn);
    if (opt->kind == RECUR_OPTIMIZER_SGD && !(opt->momentum >= 0 && opt->momentum < 1))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: SGD momentum must be in [0, 1), got %g",
                          fn, (double)opt->momentum);
    if (!(opt->clipnorm >= 0 && isfinite(opt->clipnorm)) ||
        !(opt->clipvalue >= 0 && isfinite(opt->clipvalue)))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: clipnorm and clipvalue must be finite and >= 0 (0: off), got %g and %g",
                          fn, (double)opt->clipnorm, (double)opt->clipvalue);

    size_t n = 0;
    for (int l = 0; l < m->nlayers; l++) {
        m->layers[l].w_off = n;
        n += m->layers[l].nparams;
    }
    m->params = model_alloc_floats(n), m->grads = model_alloc_floats(n);
    m->m1 = model_alloc_floats(n), m->m2 = model_alloc_floats(n);
    if (!m->params || !m->grads || !m->m1 || !m->m2) {
        free(m->params), free(m->grads), free(m->m1), free(m->m2);
        m->params = m->grads = m->m1 = m->m2 = NULL;
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu parameters", fn, n);
    }
    uint64_t rng = m->seed;
    for (int l = 0; l < m->nlayers; l++) {
        const layer *L = &m->layers[l];
        if (L->ops->init && !L->ops->init(L, m->params + L->w_off, &rng))
            return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    m->nparams = n;
    m->opt = *opt;
    m->loss = loss;
    m->iterations = 0;
    m->compiled = 1;
    return RECUR_OK;
}

/* ---- Batch buffers ------------------------------------------------------ */

recur_status model_ensure_batch(recur_model *m, int batch, const char *fn) {
    if (batch <= m->cap_batch) return RECUR_OK;
    free_batch_buffers(m);
    size_t B = (size_t)batch;
    int ok = (m->x0 = model_alloc_floats((size_t)m->T * B * m->F)) != NULL;
    ok = ok && (m->ids0 = calloc((size_t)m->T * B, sizeof(int32_t))) != NULL;
    ok = ok && (m->yb = model_alloc_floats(B * model_target_size(m))) != NULL;
    for (int l = 0; ok && l < m->nlayers; l++) {
        layer *L = &m->layers[l];
        size_t outn = (size_t)L->out_steps * B * L->out_feat;
        ok = (L->out = model_alloc_floats(outn)) && (L->dout = model_alloc_floats(outn));
        ok = ok && (!L->ops->alloc || L->ops->alloc(L, batch));
    }
    if (!ok) {
        free_batch_buffers(m);
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: cannot allocate buffers for batch %d", fn,
                          batch);
    }
    m->cap_batch = batch;
    return RECUR_OK;
}

/* x0 [T][B][F] (or ids0 [T][B]) <- samples idx[0..B) of the input [N][T][F]
 * (idx NULL: first..first+B) */
static void gather(recur_model *m, model_input x, const float *y, const size_t *idx, size_t first,
                   int B) {
    const size_t T = (size_t)m->T, F = (size_t)m->F, ny = model_target_size(m);
    const size_t row = x.ids ? T * sizeof(int32_t) : T * F * sizeof(float);
    /* Samples drawn at random from a data set larger than the caches come
     * from memory: the threads split them, and each prefetches its next
     * sample while copying this one (a fit step's gather cost 3% of an epoch
     * on one thread without). A copy, so the split cannot change results. */
    const int nt = recur_threads();
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && (size_t)B * row > 16384)
    for (int b = 0; b < B; b++) {
        const size_t s = idx ? idx[b] : first + (size_t)b;
        if (b + 1 < B) {
            const size_t nx = idx ? idx[b + 1] : s + 1;
            const char *p = x.ids ? (const char *)(x.ids + nx * T) : (const char *)(x.f + nx * T * F);
            for (size_t off = 0; off < row; off += 64) __builtin_prefetch(p + off);
        }
        if (x.ids) {
            const int32_t *src = x.ids + s * T;
            for (size_t t = 0; t < T; t++) m->ids0[t * (size_t)B + (size_t)b] = src[t];
        } else {
            const float *src = x.f + s * T * F;
            for (size_t t = 0; t < T; t++)
                memcpy(m->x0 + (t * (size_t)B + (size_t)b) * F, src + t * F, F * sizeof(float));
        }
        if (y) memcpy(m->yb + (size_t)b * ny, y + s * ny, ny * sizeof(float));
    }
}

/* ---- Forward and backward ---------------------------------------------- */

/* Runs the layers on the batch in m->x0; returns the last output [B][C]. */
static const float *forward(recur_model *m, int B, int mode, recur_status *st) {
    const float *in = m->x0;
    const unsigned char *mask = NULL;
    for (int l = 0; l < m->nlayers; l++) {
        layer *L = &m->layers[l];
        L->in = in;
        L->in_mask = mask;
        L->out_mask = L->out_seq ? mask : NULL;
        if ((*st = L->ops->forward(m, L, l, in, B, mode, &in))) return NULL;
        mask = L->out_mask;
    }
    return in;
}

/* Data-parallel: the layers backward did not reach (a failure, or a process
 * with no rows in the last batch) still join the sums, in the same order as
 * backward: zeros for no rows, NaN after a failure (so every process refuses
 * the step). */
static void post_rest(recur_model *m, int from, float fill) {
    for (int l = from; l >= 0; l--) {
        layer *L = &m->layers[l];
        if (!L->nparams) continue;
        float *g = m->grads + L->w_off;
        for (size_t k = 0; k < L->nparams; k++) g[k] = fill;
        m->par->grads_ready(m->par->user, m->grads, L->w_off, L->nparams);
    }
}

/* Layer by layer from the last; the last layer's dout holds dLoss/d(out) (or
 * dLoss/d(logits) for the fused softmax + cross-entropy). In a data-parallel
 * step (m->par) every layer's range is posted whatever happens: as soon as it
 * is final, or by post_rest (B = 0 or a failure). */
static recur_status backward(recur_model *m, int B) {
    if (m->par && B == 0) {
        post_rest(m, m->nlayers - 1, 0.0f);
        return RECUR_OK;
    }
    for (int l = m->nlayers - 1; l >= 0; l--) {
        layer *L = &m->layers[l];
        recur_status st = L->ops->backward(m, L, l, B, l > 0 ? m->layers[l - 1].dout : NULL);
        if (st) {
            if (m->par) post_rest(m, l, NAN);
            return st;
        }
        if (m->grad_fn && L->nparams) m->grad_fn(m->grad_user, L->w_off, L->nparams);
        if (m->par && L->nparams) m->par->grads_ready(m->par->user, m->grads, L->w_off, L->nparams);
    }
    return RECUR_OK;
}

/* ---- fit, evaluate, predict -------------------------------------------- */

recur_fit_options recur_fit_defaults(void) {
    recur_fit_options o;
    memset(&o, 0, sizeof o);
    o.epochs = 1, o.batch_size = 32, o.shuffle = 1;
    return o;
}

static int all_finite(const float *v, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k])) return 0;
    return 1;
}

/* A NaN or infinity in the data would surface epochs later as a "non-finite
 * loss"; one pass now names the sample instead. */
static recur_status check_finite(const float *v, size_t n, size_t per, const char *fn,
                                 const char *what, const char *name) {
    for (size_t k = 0; k < n; k++)
        if (!all_finite(v + k * per, per)) {
            size_t j = 0;
            while (isfinite(v[k * per + j])) j++;
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: %s: %s of sample %zu holds %g at element %zu", fn, what, name,
                              k, (double)v[k * per + j], j);
        }
    return RECUR_OK;
}

/* The input of n samples of T steps matches the model's type (ids for a
 * token model, else floats), holds only finite floats or ids in [0, vocab). */
static recur_status check_steps(const recur_model *m, model_input x, size_t n, size_t T,
                                const char *fn, const char *what) {
    if (!x.f && !x.ids)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s %s is NULL", fn, what,
                          m->vocab ? "ids" : "x");
    if (x.ids && !m->vocab)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: the model takes float features (no Embedding first); use the "
                          "float calls",
                          fn);
    if (x.f && m->vocab)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: the model takes token ids (an Embedding first); use the *_ids calls",
                          fn);
    size_t elems;
    if (!recur_mul(n, T * (size_t)m->F, &elems) || elems > PTRDIFF_MAX / sizeof(float))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s: %zu samples overflow", fn, what, n);
    if (x.f) return check_finite(x.f, n, T * (size_t)m->F, fn, what, "x");
    for (size_t k = 0; k < n * T; k++)
        if (x.ids[k] < 0 || x.ids[k] >= m->vocab)
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: %s: token id %d of sample %zu at step %zu is outside [0, %d) "
                              "(the Embedding's input_dim)",
                              fn, what, (int)x.ids[k], k / T, k % T, m->vocab);
    return RECUR_OK;
}

static recur_status check_input(const recur_model *m, model_input x, size_t n, const char *fn,
                                const char *what) {
    return check_steps(m, x, n, (size_t)m->T, fn, what);
}

size_t model_target_size(const recur_model *m) {
    const layer *last = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
    const size_t steps = last && last->out_seq ? (size_t)last->out_steps : 1;
    return steps * (m->loss == RECUR_LOSS_MSE ? (size_t)model_output_size(m) : 1);
}

static recur_status check_data(const recur_model *m, model_input x, const float *y, size_t n,
                               const char *fn, const char *what) {
    recur_status st;
    if (!y) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s y is NULL", fn, what);
    if (n == 0) return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s has no samples", fn, what);
    if ((st = check_input(m, x, n, fn, what))) return st;
    const size_t ny = model_target_size(m);
    if (m->loss == RECUR_LOSS_MSE) return check_finite(y, n, ny, fn, what, "y");
    const int C = m->loss == RECUR_LOSS_BINARY_CROSSENTROPY ? 2 : model_output_size(m);
    for (size_t k = 0; k < n * ny; k++)
        if (!(y[k] >= 0.0f && y[k] < (float)C && y[k] == floorf(y[k]))) {
            if (ny == 1)
                return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                                  "%s: %s label y[%zu] = %g is not a class index in [0, %d)", fn,
                                  what, k, (double)y[k], C);
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: %s label of sample %zu at step %zu = %g is not a class index "
                              "in [0, %d)",
                              fn, what, k / ny, k % ny, (double)y[k], C);
        }
    return RECUR_OK;
}

/* rows of the batch that starts at sample `first` of n */
static int batch_rows(size_t n, size_t first, int batch) {
    return (int)(n - first < (size_t)batch ? n - first : (size_t)batch);
}

/* evaluate and predict: a batch size, then buffers for it */
static recur_status prepare_batches(recur_model *m, int batch_size, const char *fn) {
    if (batch_size <= 0)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: batch_size must be positive, got %d", fn,
                          batch_size);
    return model_ensure_batch(m, batch_size, fn);
}

static void sums_add(loss_sums *a, loss_sums b) {
    a->loss += b.loss, a->abs_err += b.abs_err, a->count += b.count, a->correct += b.correct;
}

/* the means over the entries summed (0 without any: Keras divides no-NaN),
 * NaN for the metric the loss lacks (accuracy for MSE, MAE otherwise) */
static recur_metrics metrics_of(const recur_model *m, loss_sums s) {
    const double n = s.count ? (double)s.count : 1.0;
    const int mse = m->loss == RECUR_LOSS_MSE;
    recur_metrics r = {(float)(s.loss / n), mse ? NAN : (float)((double)s.correct / n),
                       mse ? (float)(s.abs_err / n) : NAN};
    return r;
}

/* Loss and metrics over n samples, inference mode, in batches: sums over all
 * the entries (valid steps), divided by their count. */
static recur_status evaluate_sums(recur_model *m, model_input x, const float *y, size_t n,
                                  int batch, loss_sums *total) {
    *total = (loss_sums){0, 0, 0, 0};
    for (size_t first = 0; first < n; first += (size_t)batch) {
        int B = batch_rows(n, first, batch);
        gather(m, x, y, NULL, first, B);
        recur_status st;
        /* the batches after the first of the same size reuse the packed weights */
        const float *o = forward(m, B, first && B == batch ? FWD_KEEP_PACK : 0, &st);
        if (!o) return st;
        sums_add(total, loss_forward_backward(m, o, m->yb, B, 0));
    }
    return RECUR_OK;
}

static recur_status evaluate(recur_model *m, model_input x, const float *y, size_t n, int batch,
                             recur_metrics *out) {
    loss_sums total;
    recur_status st = evaluate_sums(m, x, y, n, batch, &total);
    if (!st) *out = metrics_of(m, total);
    return st;
}

static recur_status check_ready(const recur_model *m, const char *fn) {
    if (!m) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: model is NULL", fn);
    if (!m->compiled)
        return recur_fail(RECUR_ERR_STATE, "%s: the model is not compiled (call recur_model_compile)",
                          fn);
    return RECUR_OK;
}

/* null_out: the name of an output pointer the caller gave as NULL, or NULL */
static recur_status model_evaluate(recur_model *m, model_input x, const float *y, size_t n,
                                   int batch_size, recur_metrics *out, const char *null_out,
                                   const char *fn) {
    recur_status st;
    if ((st = check_ready(m, fn)) || (st = check_data(m, x, y, n, fn, "data"))) return st;
    if (null_out) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, null_out);
    if ((st = prepare_batches(m, batch_size, fn))) return st;
    return evaluate(m, x, y, n, batch_size, out);
}

/* evaluate's loss and accuracy */
static recur_status evaluate_two(recur_model *m, model_input x, const float *y, size_t n,
                                 int batch_size, float *loss, float *accuracy, const char *fn) {
    recur_metrics r = {0, 0, 0};
    const char *null_out = !loss ? "loss" : !accuracy ? "accuracy" : NULL;
    recur_status st = model_evaluate(m, x, y, n, batch_size, &r, null_out, fn);
    if (!st) *loss = r.loss, *accuracy = r.accuracy;
    return st;
}

recur_status recur_model_evaluate(recur_model *m, const float *x, const float *y, size_t n,
                                  int batch_size, float *loss, float *accuracy) {
    model_input in = {x, NULL};
    return evaluate_two(m, in, y, n, batch_size, loss, accuracy, "recur_model_evaluate");
}

recur_status recur_model_evaluate_ids(recur_model *m, const int32_t *ids, const float *y, size_t n,
                                      int batch_size, float *loss, float *accuracy) {
    model_input in = {NULL, ids};
    return evaluate_two(m, in, y, n, batch_size, loss, accuracy, "recur_model_evaluate_ids");
}

recur_status recur_model_evaluate_metrics(recur_model *m, const float *x, const float *y, size_t n,
                                          int batch_size, recur_metrics *out) {
    model_input in = {x, NULL};
    return model_evaluate(m, in, y, n, batch_size, out, out ? NULL : "out",
                          "recur_model_evaluate_metrics");
}

recur_status recur_model_evaluate_metrics_ids(recur_model *m, const int32_t *ids, const float *y,
                                              size_t n, int batch_size, recur_metrics *out) {
    model_input in = {NULL, ids};
    return model_evaluate(m, in, y, n, batch_size, out, out ? NULL : "out",
                          "recur_model_evaluate_metrics_ids");
}

static recur_status model_predict(recur_model *m, model_input x, size_t n, int batch_size,
                                  float *out, const char *fn) {
    recur_status st;
    if ((st = check_ready(m, fn))) return st;
    if ((!x.f && !x.ids) || !out)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn,
                          out ? (x.ids || m->vocab ? "ids" : "x") : "out");
    if (n == 0) return RECUR_OK;
    if ((st = check_input(m, x, n, fn, "data"))) return st;
    if ((st = prepare_batches(m, batch_size, fn))) return st;
    const layer *last = &m->layers[m->nlayers - 1];
    const size_t C = (size_t)model_output_size(m), S = last->out_seq ? (size_t)last->out_steps : 1;
    for (size_t first = 0; first < n; first += (size_t)batch_size) {
        int B = batch_rows(n, first, batch_size);
        gather(m, x, NULL, NULL, first, B);
        const float *o = forward(m, B, first && B == batch_size ? FWD_KEEP_PACK : 0, &st);
        if (!o) return st;
        /* time-major [S][B][C] inside, [n][S][C] out */
        for (size_t t = 0; t < S; t++)
            for (int b = 0; b < B; b++)
                memcpy(out + ((first + (size_t)b) * S + t) * C, o + (t * (size_t)B + (size_t)b) * C,
                       C * sizeof(float));
    }
    return RECUR_OK;
}

recur_status recur_model_predict(recur_model *m, const float *x, size_t n, int batch_size,
                                 float *out) {
    model_input in = {x, NULL};
    return model_predict(m, in, n, batch_size, out, "recur_model_predict");
}

recur_status recur_model_predict_ids(recur_model *m, const int32_t *ids, size_t n, int batch_size,
                                     float *out) {
    model_input in = {NULL, ids};
    return model_predict(m, in, n, batch_size, out, "recur_model_predict_ids");
}

int recur_model_takes_ids(const recur_model *m) { return m && m->vocab > 0; }

/* ---- Stateful stepping ----------------------------------------------------- */

/* bytes of a recurrent layer's carried and new states, [2][states][B][units] */
static size_t step_state_bytes(const layer *L, int B) {
    return recur_round_up(2 * (size_t)recurrent_states(L) * (size_t)B * (size_t)L->units *
                          sizeof(float));
}

static void free_states(recur_model *m) {
    for (int l = 0; l < m->nlayers; l++) {
        free(m->layers[l].state);
        m->layers[l].state = NULL;
    }
    m->step_batch = 0;
}

/* Zero states for `batch` streams and a one-step workspace after them, in
 * one buffer per recurrent layer: allocated at the first step and at a change
 * of batch, so a step allocates nothing after that. */
static recur_status ensure_states(recur_model *m, int batch, const char *fn) {
    if (batch == m->step_batch) return RECUR_OK;
    free_states(m);
    for (int l = 0; l < m->nlayers; l++) {
        layer *L = &m->layers[l];
        if (!L->ops->cell) continue;
        const size_t ws = L->ops->cell->workspace_size(L, 1, batch),
                     bytes = step_state_bytes(L, batch);
        if (!ws || !(L->state = aligned_alloc(RECUR_ALIGN, bytes + recur_round_up(ws)))) {
            free_states(m);
            return recur_fail(RECUR_ERR_OUT_OF_MEMORY,
                              "%s: cannot allocate the states of %d streams", fn, batch);
        }
        memset(L->state, 0, bytes);
    }
    m->step_batch = batch;
    return RECUR_OK;
}

void recur_model_reset_states(recur_model *m) {
    for (int l = 0; m && l < m->nlayers; l++) {
        layer *L = &m->layers[l];
        if (L->state) memset(L->state, 0, step_state_bytes(L, m->step_batch));
    }
}

/* One step of a recurrent layer from its carried states s0 to the new ones
 * s1 (the primitive must not write the states it reads), copied back. */
static recur_status step_recurrent(recur_model *m, layer *L, const float *in, int B) {
    const size_t n = (size_t)recurrent_states(L) * (size_t)B * (size_t)L->units;
    float *s0 = L->state, *s1 = s0 + n;
    void *ws = (char *)L->state + step_state_bytes(L, B);
    recur_status st = L->ops->cell->forward(L, 1, B, m->params + L->w_off, in, L->in_mask, s0,
                                            L->out, NULL, s1, 0, ws);
    if (!st) memcpy(s0, s1, n * sizeof(float));
    return st;
}

/* Every layer on one step: shaped as a 1-step sequence while it runs (its
 * buffers, sized for T steps of the batch capacity, hold that), recurrent
 * layers from their carried states. Masks flow as in forward. */
static recur_status model_step(recur_model *m, model_input x, int batch, float *out,
                               const char *fn) {
    recur_status st;
    if ((st = check_ready(m, fn))) return st;
    if ((!x.f && !x.ids) || !out)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn,
                          out ? (x.ids || m->vocab ? "ids_t" : "x_t") : "out");
    if (batch < 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: batch must be positive, got %d", fn,
                          batch);
    for (int l = 0; l < m->nlayers; l++)
        if (m->layers[l].go_backwards || m->layers[l].inner) {
            char name[64];
            model_layer_name(m, l, name, sizeof name);
            return recur_fail(RECUR_ERR_UNSUPPORTED,
                              "%s: %s reads the sequence from its end (%s) and cannot run step "
                              "by step",
                              fn, name, m->layers[l].inner ? "Bidirectional" : "go_backwards");
        }
    if ((st = check_steps(m, x, (size_t)batch, 1, fn, "the step's input")) ||
        (st = model_ensure_batch(m, batch, fn)) || (st = ensure_states(m, batch, fn)))
        return st;
    if (x.ids) memcpy(m->ids0, x.ids, (size_t)batch * sizeof(int32_t));
    const float *in = x.f ? x.f : m->x0;
    const unsigned char *mask = NULL;
    for (int l = 0; l < m->nlayers; l++) {
        layer *L = &m->layers[l];
        const int in_steps = L->in_steps, out_steps = L->out_steps;
        L->in = in;
        L->in_mask = mask;
        L->out_mask = L->out_seq ? mask : NULL;
        L->in_steps = L->out_steps = 1;
        if (L->ops->cell) {
            st = step_recurrent(m, L, in, batch);
            in = L->out;
        } else {
            st = L->ops->forward(m, L, l, in, batch, 0, &in);
        }
        L->in_steps = in_steps, L->out_steps = out_steps;
        if (st) return st;
        mask = L->out_mask;
    }
    memcpy(out, in, (size_t)batch * (size_t)model_output_size(m) * sizeof(float));
    return RECUR_OK;
}

recur_status recur_model_predict_step(recur_model *m, const float *x_t, int batch, float *out) {
    model_input in = {x_t, NULL};
    return model_step(m, in, batch, out, "recur_model_predict_step");
}

recur_status recur_model_predict_step_ids(recur_model *m, const int32_t *ids_t, int batch,
                                          float *out) {
    model_input in = {NULL, ids_t};
    return model_step(m, in, batch, out, "recur_model_predict_step_ids");
}

/* w_k = p_k^(1/T) / max_j p_j^(1/T) = exp((log p_k - log p_max) / T) in double:
 * no overflow whatever T, and an exact 0 for p_k = 0. T <= 0 is argmax. */
int recur_sample(const float *p, int n, float temperature, uint64_t *rng) {
    if (!p || !rng || n < 1 || isnan(temperature)) return -1;
    int best = 0;
    for (int k = 0; k < n; k++) {
        if (!(p[k] >= 0.0f && isfinite(p[k]))) return -1;
        if (p[k] > p[best]) best = k;
    }
    if (p[best] == 0.0f) return -1;
    if (temperature <= 0.0f) return best;
    const double top = log((double)p[best]), inv = 1.0 / (double)temperature;
    double sum = 0;
    for (int k = 0; k < n; k++) sum += p[k] > 0.0f ? exp((log((double)p[k]) - top) * inv) : 0.0;
    double u = (double)(rng_next(rng) >> 11) * 0x1p-53 * sum;
    int last = best;
    for (int k = 0; k < n; k++) {
        const double w = p[k] > 0.0f ? exp((log((double)p[k]) - top) * inv) : 0.0;
        if (u < w) return k;
        u -= w;
        if (w > 0) last = k;
    }
    return last; /* rounding carried u past the last weight */
}

/* ---- Non-finite values: stop before the update ---------------------------- */

/* " at epoch 2, step 17" (1-based, as the progress bar counts), or "" */
static const char *position(char *buf, size_t size, int epoch, int step) {
    if (epoch < 0) return "";
    snprintf(buf, size, " at epoch %d, step %d", epoch + 1, step + 1);
    return buf;
}

/* A batch's loss is not finite: names the first place a NaN or infinity shows
 * up on the way to it. The scan runs only on failure. */
static recur_status loss_fail(const recur_model *m, int B, const char *fn, int epoch, int step) {
    char pos[48], name[64];
    const char *at = position(pos, sizeof pos, epoch, step);
    if (!all_finite(m->x0, (size_t)m->T * (size_t)B * (size_t)m->F))
        return recur_fail(RECUR_ERR_NUMERIC,
                          "%s: non-finite loss%s: the input batch holds NaN or infinity; the step "
                          "was not applied",
                          fn, at);
    for (int l = 0; l < m->nlayers; l++) {
        const layer *L = &m->layers[l];
        const size_t nout = (size_t)L->out_steps * (size_t)B * (size_t)L->out_feat;
        const char *why = !all_finite(m->params + L->w_off, L->nparams) ? "has non-finite weights"
                          : !all_finite(L->out, nout)                   ? "gives non-finite outputs"
                                                                        : NULL;
        if (why) {
            model_layer_name(m, l, name, sizeof name);
            return recur_fail(RECUR_ERR_NUMERIC,
                              "%s: non-finite loss%s: %s %s; the step was not applied", fn, at,
                              name, why);
        }
    }
    model_layer_name(m, m->nlayers - 1, name, sizeof name);
    return recur_fail(RECUR_ERR_NUMERIC,
                      "%s: non-finite loss%s: the loss overflows on the finite outputs of %s; the "
                      "step was not applied",
                      fn, at, name);
}

/* The update, unless a gradient holds a NaN or infinity: then nothing changes
 * and the last good weights and optimizer state stay. */
static recur_status apply_step(recur_model *m, const char *fn, int epoch, int step) {
    int l;
    const char *array;
    if (grads_nonfinite(m, &l, &array)) {
        char pos[48], name[64];
        model_layer_name(m, l, name, sizeof name);
        return recur_fail(RECUR_ERR_NUMERIC,
                          "%s: non-finite gradient in %s %s%s; the step was not applied", fn, name,
                          array, position(pos, sizeof pos, epoch, step));
    }
    optim_step(m);
    return RECUR_OK;
}

int recur_model_history(const recur_model *m, const recur_epoch_logs **epochs) {
    if (epochs) *epochs = m ? m->history : NULL;
    return m ? m->history_n : 0;
}

/* A failure mid-epoch: ends a progress line being redrawn in place, so the
 * caller's message starts on a line of its own. */
static recur_status fit_stop(const progress *bar, recur_status st) {
    if (bar->tty) fputc('\n', bar->out);
    return st;
}

/* ---- Data-parallel steps (recur_model_fit_parallel) ----------------------- */

/* the rows of process r's share of a global batch of B: as even as B allows */
static void par_share(size_t B, int size, int r, size_t *first, size_t *rows) {
    const size_t base = B / (size_t)size, extra = B % (size_t)size, ur = (size_t)r;
    *first = ur * base + (ur < extra ? ur : extra);
    *rows = base + (ur < extra);
}

/* Failure flags ride on the per-step sums: a failing process adds 1 and
 * rank + 1, so after the sum f[0] counts the failures and f[1] names the
 * process when one failed. */
static void par_flag(const recur_model *m, recur_status local, double f[2]) {
    f[0] = local ? 1.0 : 0.0, f[1] = local ? (double)m->par->rank + 1.0 : 0.0;
}

/* after the sum: the local error first, else one naming the failed process
 * and what it was doing ("in forward"), at epoch and step when epoch >= 0 */
static recur_status par_failed(const recur_model *m, recur_status local, const double f[2],
                               const char *fn, const char *what, int epoch, int step) {
    if (local || f[0] == 0.0) return local;
    char pos[48];
    const char *at = position(pos, sizeof pos, epoch, step);
    const int size = m->par->size;
    if (f[0] == 1.0)
        return recur_fail(RECUR_ERR_STATE, "%s: process %d of %d failed %s%s", fn, (int)f[1] - 1,
                          size, what, at);
    return recur_fail(RECUR_ERR_STATE, "%s: %d of %d processes failed %s%s", fn, (int)f[0], size,
                      what, at);
}

/* Every process learns whether any failed; see par_failed. */
static recur_status par_agree(recur_model *m, recur_status local, const char *fn,
                              const char *where) {
    double f[2];
    par_flag(m, local, f);
    recur_status st = m->par->sum(m->par->user, f, 2);
    return st ? st : par_failed(m, local, f, fn, where, -1, 0);
}

/* process 0's parameters, optimizer state and training position everywhere */
static recur_status par_broadcast_model(recur_model *m) {
    const recur_parallel *p = m->par;
    uint64_t pos[4] = {m->iterations, m->shuffle_rng, m->epochs_done, m->ranks};
    float *arrays[3] = {m->params, m->m1, m->m2};
    recur_status st = p->broadcast(p->user, pos, sizeof pos);
    for (int a = 0; a < 3 && !st; a++)
        st = p->broadcast(p->user, arrays[a], m->nparams * sizeof(float));
    if (!st)
        m->iterations = pos[0], m->shuffle_rng = pos[1], m->epochs_done = pos[2],
        m->ranks = (uint32_t)pos[3];
    return st;
}

/* One training step on a global batch of Bg rows at order[0..Bg): this
 * process's share forward, the global entry count, its loss gradient against
 * that count, backward posting each layer's range, the sums, the step. */
static recur_status fit_step(recur_model *m, model_input x, const float *y, const size_t *order,
                             int Bg, loss_sums *out, const char *fn, int epoch, int step) {
    const recur_parallel *p = m->par;
    size_t first = 0, rows = (size_t)Bg;
    if (p) par_share((size_t)Bg, p->size, p->rank, &first, &rows);
    const int B = (int)rows;
    m->batch_first = (int)first, m->batch_rows = p ? Bg : 0;
    recur_status st = RECUR_OK;
    const float *o = NULL;
    long entries = 0;
    if (B) {
        gather(m, x, y, order + first, 0, B);
        if ((o = forward(m, B, FWD_DROPOUT | FWD_TAPE, &st))) entries = loss_entries(m, B);
    }
    if (p) { /* the global count first: each share's gradient is scaled by it */
        double v[3] = {(double)entries};
        par_flag(m, st, v + 1);
        recur_status ps = p->sum(p->user, v, 3);
        if (ps) return ps;
        if ((ps = par_failed(m, st, v + 1, fn, "in forward", epoch, step))) return ps;
        entries = (long)v[0];
    }
    if (st) return st; /* one process's forward failed (with p, par_failed returned) */
    loss_sums batch = {0, 0, 0, 0};
    if (B) batch = loss_forward_backward_of(m, o, m->yb, B, 1, entries);
    if (!p) {
        if (!isfinite(batch.loss)) return loss_fail(m, B, fn, epoch, step);
        if ((st = backward(m, B))) return st;
        *out = batch;
        return apply_step(m, fn, epoch, step);
    }
    const int local_nan = !isfinite(batch.loss);
    st = backward(m, B);
    recur_status ws = p->grads_wait(p->user);
    for (int l = 0; l < m->nlayers; l++) m->layers[l].grads_summed = 1;
    if (ws) return ws;
    double v[5] = {batch.loss, batch.abs_err, (double)batch.correct};
    par_flag(m, st, v + 3);
    if ((ws = p->sum(p->user, v, 5))) return ws;
    if ((ws = par_failed(m, st, v + 3, fn, "in backward", epoch, step))) return ws;
    if (!isfinite(v[0])) {
        if (local_nan) return loss_fail(m, B, fn, epoch, step);
        return recur_fail(RECUR_ERR_NUMERIC,
                          "%s: non-finite loss at epoch %d, step %d on another process; the step "
                          "was not applied",
                          fn, epoch + 1, step + 1);
    }
    out->loss = v[0], out->abs_err = v[1], out->correct = (long)v[2], out->count = entries;
    return apply_step(m, fn, epoch, step);
}

/* validation: one process's whole, or in shares summed */
static recur_status fit_validate(recur_model *m, model_input vx, const float *vy, size_t vn,
                                 int batch, recur_metrics *out, const char *fn) {
    const recur_parallel *p = m->par;
    size_t first = 0, rows = vn;
    if (p) par_share(vn, p->size, p->rank, &first, &rows);
    loss_sums s = {0, 0, 0, 0};
    recur_status st = RECUR_OK;
    if (rows) {
        const size_t T = (size_t)m->T;
        model_input part = {vx.f ? vx.f + first * T * (size_t)m->F : NULL,
                            vx.ids ? vx.ids + first * T : NULL};
        st = evaluate_sums(m, part, vy + first * model_target_size(m), rows, batch, &s);
    }
    if (p) {
        if ((st = par_agree(m, st, fn, "in validation"))) return st;
        double v[4] = {s.loss, s.abs_err, (double)s.count, (double)s.correct};
        if ((st = p->sum(p->user, v, 4))) return st;
        s.loss = v[0], s.abs_err = v[1], s.count = (long)v[2], s.correct = (long)v[3];
    }
    if (!st) *out = metrics_of(m, s);
    return st;
}

static recur_status fit_checks(recur_model *m, model_input x, const float *y, size_t n,
                               const recur_fit_options *o, const char *fn) {
    recur_status st;
    if (!o) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: options is NULL", fn);
    if (o->epochs < 0 || o->batch_size <= 0)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: epochs must be >= 0 and batch_size > 0, got %d and %d", fn,
                          o->epochs, o->batch_size);
    if (o->initial_epoch < 0 && o->initial_epoch != RECUR_EPOCHS_DONE)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: initial_epoch must be >= 0 or RECUR_EPOCHS_DONE, got %d", fn,
                          o->initial_epoch);
    if (!(o->validation_split >= 0.0f && o->validation_split < 1.0f))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: validation_split must be in [0, 1), got %g", fn,
                          (double)o->validation_split);
    if ((st = check_data(m, x, y, n, fn, "training data"))) return st;
    model_input vx = {x.f ? o->val_x : NULL, x.ids ? o->val_ids : NULL};
    if (vx.f || vx.ids || o->val_y) return check_data(m, vx, o->val_y, o->val_n, fn, "validation data");
    if (o->validation_split > 0.0f) {
        const size_t ntrain = (size_t)((double)n * (1.0 - (double)o->validation_split));
        if (ntrain == 0 || ntrain == n)
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: validation_split %g of %zu samples leaves an empty part", fn,
                              (double)o->validation_split, n);
    }
    return RECUR_OK;
}

static recur_status model_fit(recur_model *m, model_input x, const float *y, size_t n,
                              const recur_fit_options *o, const char *fn) {
    recur_status st;
    const recur_parallel *p = m->par;
    const int size = p ? p->size : 1;
    st = fit_checks(m, x, y, n, o, fn);
    if (p) { /* every process passes its checks, then takes process 0's state */
        if ((st = par_agree(m, st, fn, "its argument checks")) || (st = par_broadcast_model(m)))
            return st;
    }
    if (st) return st;

    /* validation: explicit data, else the last fraction before any shuffling */
    const size_t ny = model_target_size(m);
    model_input vx = {x.f ? o->val_x : NULL, x.ids ? o->val_ids : NULL};
    const float *vy = o->val_y;
    size_t vn = o->val_n, ntrain = n;
    if (!vx.f && !vx.ids && !vy && o->validation_split > 0.0f) {
        ntrain = (size_t)((double)n * (1.0 - (double)o->validation_split));
        vn = n - ntrain;
        if (x.f) vx.f = x.f + ntrain * (size_t)m->T * (size_t)m->F;
        else vx.ids = x.ids + ntrain * (size_t)m->T;
        vy = y + ntrain * ny;
    }

    /* Keras's initial_epoch: epochs is the total; a resumed run trains the rest */
    if (o->initial_epoch == RECUR_EPOCHS_DONE && m->epochs_done > 0 && m->ranks != (uint32_t)size)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: the checkpoint was trained on %u process%s and this run has %d: "
                          "resume it on %u (each global batch, and so the order, depends on the "
                          "count)",
                          fn, m->ranks, m->ranks == 1 ? "" : "es", size, m->ranks);
    const int first = o->initial_epoch != RECUR_EPOCHS_DONE ? o->initial_epoch
                      : m->epochs_done < (uint64_t)o->epochs ? (int)m->epochs_done
                                                             : o->epochs;
    const int todo = first < o->epochs ? o->epochs - first : 0;

    if ((st = model_ensure_batch(m, o->batch_size, fn))) return st;
    size_t *perm = realloc(m->perm, (ntrain ? ntrain : 1) * sizeof *perm);
    recur_epoch_logs *hist = realloc(m->history, ((size_t)todo + 1) * sizeof *hist);
    if (perm) m->perm = perm;
    if (hist) m->history = hist;
    st = !perm || !hist ? recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn) : RECUR_OK;
    if (p && (st = par_agree(m, st, fn, "to allocate"))) return st;
    if (st) return st;
    m->history_n = 0;
    if (todo) m->ranks = (uint32_t)size;

    const size_t G = (size_t)o->batch_size * (size_t)size; /* the global batch */
    const int steps = (int)((ntrain + G - 1) / G);
    progress bar;
    progress_init(&bar, o->verbose && (!p || p->rank == 0) ? o->progress : NULL, o->verbose,
                  steps);
    for (int epoch = first; epoch < o->epochs; epoch++) {
        double t0 = omp_get_wtime();
        for (size_t k = 0; k < ntrain; k++) perm[k] = k;
        if (o->shuffle)
            for (size_t k = ntrain - 1; k > 0; k--) {
                size_t j = (size_t)(rng_next(&m->shuffle_rng) % (k + 1));
                size_t t = perm[k];
                perm[k] = perm[j], perm[j] = t;
            }
        progress_epoch_begin(&bar, epoch, o->epochs);
        loss_sums sums = {0, 0, 0, 0}; /* the epoch's so far */
        for (int s = 0; s < steps; s++) {
            size_t at = (size_t)s * G;
            loss_sums batch = {0, 0, 0, 0};
            st = fit_step(m, x, y, perm + at, (int)(ntrain - at < G ? ntrain - at : G), &batch,
                          fn, epoch, s);
            if (st) break;
            sums_add(&sums, batch);
            const recur_metrics so_far = metrics_of(m, sums);
            progress_step(&bar, s + 1, so_far.loss, so_far.accuracy, so_far.mae);
        }
        m->batch_first = m->batch_rows = 0;
        if (st) return fit_stop(&bar, st);
        const recur_metrics train = metrics_of(m, sums);
        recur_epoch_logs logs = {epoch, train.loss, train.accuracy, NAN, NAN, 0.0, train.mae, NAN};
        recur_metrics val;
        if (vx.f || vx.ids) {
            if ((st = fit_validate(m, vx, vy, vn, o->batch_size, &val, fn)))
                return fit_stop(&bar, st);
            logs.val_loss = val.loss, logs.val_accuracy = val.accuracy, logs.val_mae = val.mae;
        }
        logs.seconds = omp_get_wtime() - t0;
        m->history[m->history_n++] = logs;
        m->epochs_done++; /* before the callback: a checkpoint written there records this epoch */
        progress_epoch_end(&bar, &logs);
        int stop = 0;
        if (o->on_epoch_end && (!p || p->rank == 0)) stop = o->on_epoch_end(o->user, &logs) != 0;
        if (p) { /* process 0's decision for all */
            double v = stop;
            if ((st = p->sum(p->user, &v, 1))) return st;
            stop = v != 0.0;
        }
        if (stop) break;
    }
    return RECUR_OK;
}

recur_status recur_model_fit(recur_model *m, const float *x, const float *y, size_t n,
                             const recur_fit_options *o) {
    static const char fn[] = "recur_model_fit";
    recur_status st = check_ready(m, fn);
    model_input in = {x, NULL};
    return st ? st : model_fit(m, in, y, n, o, fn);
}

recur_status recur_model_fit_ids(recur_model *m, const int32_t *ids, const float *y, size_t n,
                                 const recur_fit_options *o) {
    static const char fn[] = "recur_model_fit_ids";
    recur_status st = check_ready(m, fn);
    model_input in = {NULL, ids};
    return st ? st : model_fit(m, in, y, n, o, fn);
}

recur_status recur_model_fit_parallel(recur_model *m, const float *x, const int32_t *ids,
                                      const float *y, size_t n, const recur_fit_options *o,
                                      const recur_parallel *p) {
    static const char fn[] = "recur_model_fit_parallel";
    recur_status st = check_ready(m, fn);
    if (st) return st;
    if (!p || !p->broadcast || !p->sum || !p->grads_ready || !p->grads_wait)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s", fn,
                          !p ? "parallel is NULL" : "a hook of parallel is NULL");
    if (p->size < 1 || p->rank < 0 || p->rank >= p->size)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: rank %d of size %d is out of range", fn,
                          p->rank, p->size);
    if (!x == !ids)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: give exactly one of x and ids", fn);
    model_input in = {x, ids};
    m->par = p;
    st = model_fit(m, in, y, n, o, fn);
    m->par = NULL;
    m->batch_first = m->batch_rows = 0;
    return st;
}

/* ---- Low-level training steps ------------------------------------------ */

float *recur_model_params(recur_model *m, size_t *count) {
    if (count) *count = m && m->compiled ? m->nparams : 0;
    return m && m->compiled ? m->params : NULL;
}

const float *recur_model_gradients(const recur_model *m, size_t *count) {
    if (count) *count = m && m->compiled ? m->nparams : 0;
    return m && m->compiled ? m->grads : NULL;
}

static recur_status model_compute_gradients(recur_model *m, model_input x, const float *y,
                                           size_t n, int training, float *loss, const char *fn) {
    recur_status st;
    if ((st = check_ready(m, fn)) || (st = check_data(m, x, y, n, fn, "data"))) return st;
    if (!loss) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: loss is NULL", fn);
    if (n > (size_t)INT32_MAX)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %zu samples is too many for one batch",
                          fn, n);
    const int B = (int)n;
    if ((st = model_ensure_batch(m, B, fn))) return st;
    gather(m, x, y, NULL, 0, B);
    const float *out = forward(m, B, (training ? FWD_DROPOUT : 0) | FWD_TAPE, &st);
    if (!out) return st;
    *loss = metrics_of(m, loss_forward_backward(m, out, m->yb, B, 1)).loss;
    return backward(m, B);
}

recur_status recur_model_compute_gradients(recur_model *m, const float *x, const float *y,
                                           size_t n, int training, float *loss) {
    model_input in = {x, NULL};
    return model_compute_gradients(m, in, y, n, training, loss, "recur_model_compute_gradients");
}

recur_status recur_model_compute_gradients_ids(recur_model *m, const int32_t *ids, const float *y,
                                               size_t n, int training, float *loss) {
    model_input in = {NULL, ids};
    return model_compute_gradients(m, in, y, n, training, loss,
                                   "recur_model_compute_gradients_ids");
}

size_t recur_model_target_size(const recur_model *m) {
    return m && m->compiled ? model_target_size(m) : 0;
}

recur_status recur_model_set_gradient_callback(recur_model *m,
                                               void (*fn)(void *user, size_t offset, size_t count),
                                               void *user) {
    if (!m) return recur_fail(RECUR_ERR_NULL_POINTER, "recur_model_set_gradient_callback: m is NULL");
    m->grad_fn = fn, m->grad_user = user;
    return RECUR_OK;
}

recur_status recur_model_apply_gradients(recur_model *m) {
    static const char fn[] = "recur_model_apply_gradients";
    recur_status st = check_ready(m, fn);
    return st ? st : apply_step(m, fn, -1, 0);
}
