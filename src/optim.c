/* Losses and optimizers over the model's flat buffers. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "model.h"

/* In double, squares of floats cannot overflow, so the sum is NaN or infinite
 * exactly when an element is: one pass serves clipnorm and the finiteness
 * check. The simd reduction's order is fixed by the code, not the threads. */
static double sumsq(const float *g, size_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t k = 0; k < n; k++) s += (double)g[k] * g[k];
    return s;
}

int grads_nonfinite(const recur_model *m, int *l, const char **array) {
    /* one vectorised pass over all gradients (x - x is 0 exactly when x is
     * finite); the slower search below runs only once something is found */
    const float *g = m->grads;
    const long n = (long)m->nparams;
    int bad = 0;
#pragma omp parallel for simd num_threads(recur_threads()) schedule(static) reduction(| : bad) if (n > 65536)
    for (long k = 0; k < n; k++) bad |= g[k] - g[k] != 0.0f;
    if (!bad) return 0;
    for (int i = 0; i < m->nlayers; i++) {
        size_t off[LAYER_MAX_ARRAYS], len[LAYER_MAX_ARRAYS];
        const char *name[LAYER_MAX_ARRAYS];
        for (int a = 0, na = layer_arrays(&m->layers[i], off, len, name); a < na; a++)
            if (!isfinite(sumsq(m->grads + off[a], len[a]))) {
                *l = i, *array = name[a];
                return 1;
            }
    }
    return 0;
}

/* tf.keras OptimizerV2's order: clip_by_value, then clip_by_norm per variable,
 * g * clipnorm / ||g|| when ||g|| > clipnorm. */
static void clip(recur_model *m) {
    const float cv = m->opt.clipvalue;
    const double cn = m->opt.clipnorm;
    if (cv == 0.0f && cn == 0.0) return;
    for (int i = 0; i < m->nlayers; i++) {
        size_t off[LAYER_MAX_ARRAYS], len[LAYER_MAX_ARRAYS];
        const char *name[LAYER_MAX_ARRAYS];
        for (int a = 0, na = layer_arrays(&m->layers[i], off, len, name); a < na; a++) {
            float *g = m->grads + off[a];
            const size_t n = len[a];
            if (cv > 0.0f)
                for (size_t k = 0; k < n; k++) g[k] = g[k] > cv ? cv : g[k] < -cv ? -cv : g[k];
            const double norm = cn > 0.0 ? sqrt(sumsq(g, n)) : 0.0;
            if (norm > cn) {
                const float s = (float)(cn / norm);
                for (size_t k = 0; k < n; k++) g[k] *= s;
            }
        }
    }
}

/* Keras's legacy Adam and SGD, with the legacy decay lr / (1 + decay * t):
 *   Adam: t = iterations + 1; lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)
 *         m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr_t m / (sqrt(v) + eps)
 *   SGD:  v = mu v - lr g;  p += v   (Nesterov: p += mu v - lr g) */
void optim_step(recur_model *m) {
    clip(m);
    const recur_optimizer *o = &m->opt;
    const double lr = (double)o->learning_rate / (1.0 + (double)o->decay * (double)m->iterations);
    float *p = m->params, *m1 = m->m1, *m2 = m->m2;
    const float *g = m->grads;
    const long n = (long)m->nparams;
    const int adam = o->kind == RECUR_OPTIMIZER_ADAM;
    const double t = (double)(m->iterations + 1);
    const float lr_t =
        adam ? (float)(lr * sqrt(1.0 - pow(o->beta_2, t)) / (1.0 - pow(o->beta_1, t))) : 0.0f;
    const float b1 = o->beta_1, b2 = o->beta_2, eps = o->epsilon;
    const float mu = o->momentum, lrf = (float)lr;
    const int nesterov = o->nesterov;
#pragma omp parallel num_threads(recur_threads()) if (n > 32768)
    {
        const recur_fpmode fp = recur_omp_enter(); /* g * g of small gradients is subnormal */
        if (adam) {
#pragma omp for simd schedule(static)
            for (long k = 0; k < n; k++) {
                m1[k] = b1 * m1[k] + (1.0f - b1) * g[k];
                m2[k] = b2 * m2[k] + (1.0f - b2) * g[k] * g[k];
                p[k] -= lr_t * m1[k] / (sqrtf(m2[k]) + eps);
            }
        } else {
#pragma omp for simd schedule(static)
            for (long k = 0; k < n; k++) {
                m1[k] = mu * m1[k] - lrf * g[k];
                p[k] += nesterov ? mu * m1[k] - lrf * g[k] : m1[k];
            }
        }
        recur_omp_leave(fp);
    }
    m->iterations++;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

long loss_entries(const recur_model *m, int B) {
    const layer *last = &m->layers[m->nlayers - 1];
    const unsigned char *mask = last->out_mask; /* [S][B], NULL: all valid */
    const size_t n = (size_t)last->out_steps * (size_t)B;
    long count = 0;
    for (size_t k = 0; k < n; k++) count += !mask || mask[k];
    return count;
}

/* Each entry (a sample, or a valid step of one for per-step targets) weighs
 * 1/count, count = the batch's valid entries (or the global batch's, given);
 * masked steps weigh 0 (Keras 3's masked mean) and get a zero gradient. out
 * and dout are time-major [S][B][C] (row t * B + b) while y is per sample,
 * [B][S] labels or [B][S][C] targets. */
loss_sums loss_forward_backward(recur_model *m, const float *out, const float *y, int B,
                                int want_grad) {
    return loss_forward_backward_of(m, out, y, B, want_grad, 0);
}

loss_sums loss_forward_backward_of(recur_model *m, const float *out, const float *y, int B,
                                   int want_grad, long entries) {
    const layer *last = &m->layers[m->nlayers - 1];
    const int C = last->out_feat, S = last->out_steps;
    const unsigned char *mask = last->out_mask; /* [S][B], NULL: all valid */
    loss_sums r = {0, 0, loss_entries(m, B), 0};
    const float n = (float)(entries ? entries : r.count), scale = 2.0f / (n * (float)C);
    for (int t = 0; t < S; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * (size_t)B + (size_t)b, k = (size_t)b * (size_t)S + t;
            const float *o = out + row * C;
            float *d = last->dout + row * C;
            if (mask && !mask[row]) {
                if (want_grad) memset(d, 0, (size_t)C * sizeof(float));
                continue;
            }
            if (m->loss == RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
                /* from the logits: -log softmax(z)_y = logsumexp(z) - z_y; the
                 * gradient w.r.t. the logits is (p - onehot(y)) / count */
                const float *z = last->pre + row * C;
                const int label = (int)y[k];
                float mx = z[0];
                for (int j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
                double sum = 0;
                for (int j = 0; j < C; j++) sum += exp((double)z[j] - mx);
                r.loss += (double)mx + log(sum) - (double)z[label];
                r.correct += argmax(o, C) == label;
                if (want_grad)
                    for (int j = 0; j < C; j++) d[j] = (o[j] - (j == label ? 1.0f : 0.0f)) / n;
            } else if (m->loss == RECUR_LOSS_BINARY_CROSSENTROPY) {
                /* from the logit, as Keras does after a sigmoid: -y log p - (1-y)
                 * log(1-p) = max(z, 0) - y z + log(1 + exp(-|z|)), without the
                 * clipping to [1e-7, 1-1e-7] that probabilities would need; the
                 * gradient w.r.t. the logit is (p - y) / count */
                const double z = last->pre[row], yv = y[k];
                r.loss += fmax(z, 0.0) - yv * z + log1p(exp(-fabs(z)));
                r.correct += (o[0] > 0.5f) == (y[k] > 0.5f);
                if (want_grad) d[0] = (o[0] - y[k]) / n;
            } else {
                /* mean over the outputs; MAE alongside */
                const float *yt = y + k * C;
                double sq = 0, ab = 0;
                for (int j = 0; j < C; j++) {
                    const float e = o[j] - yt[j];
                    sq += (double)e * e;
                    ab += fabs((double)e);
                    if (want_grad) d[j] = scale * e;
                }
                r.loss += sq / C;
                r.abs_err += ab / C;
            }
        }
    return r;
}

recur_status recur_sparse_categorical_crossentropy(const float *probs, const float *labels,
                                                   size_t n, int classes, float *loss) {
    static const char fn[] = "recur_sparse_categorical_crossentropy";
    if (!probs || !labels || !loss)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn,
                          !probs ? "probs" : !labels ? "labels" : "loss");
    if (n == 0 || classes < 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: need n > 0 and classes > 0", fn);
    /* Keras on probabilities: clip to [eps, 1-eps], take logs, and treat them
     * as logits (which renormalises each row) */
    const double eps = 1e-7;
    double total = 0;
    for (size_t r = 0; r < n; r++) {
        float l = labels[r];
        if (!(l >= 0.0f && l < (float)classes && l == floorf(l)))
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: labels[%zu] = %g is not a class index in [0, %d)", fn, r,
                              (double)l, classes);
        const float *p = probs + r * (size_t)classes;
        double sum = 0;
        for (int j = 0; j < classes; j++) sum += fmin(fmax(p[j], eps), 1.0 - eps);
        total += log(sum) - log(fmin(fmax(p[(int)l], eps), 1.0 - eps));
    }
    *loss = (float)(total / (double)n);
    return RECUR_OK;
}
