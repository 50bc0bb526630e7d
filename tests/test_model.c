/* The Sequential model: loss, optimizers, summary, spec parser, gradients of
 * every layer against finite differences, save/load, fit. Public header only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <recur.h>

#include "modeltest.h"

/* ---- loss ---------------------------------------------------------------- */

/* The Keras documentation's example: y = [1, 2], p = [[.05, .95, 0], [.1, .8, .1]] -> 1.177 */
static void test_sparse_crossentropy_keras_example(void) {
    const float p[] = {0.05f, 0.95f, 0.0f, 0.1f, 0.8f, 0.1f}, y[] = {1, 2};
    float loss = 0;
    CU_ASSERT_FATAL(ok(recur_sparse_categorical_crossentropy(p, y, 2, 3, &loss)));
    CU_ASSERT_DOUBLE_EQUAL(loss, 1.177, 5e-4);
    CU_ASSERT_FATAL(ok(recur_sparse_categorical_crossentropy(p, y, 1, 3, &loss)));
    CU_ASSERT_DOUBLE_EQUAL(loss, 0.0513, 1e-4); /* -log(.95) */
    const float bad[] = {3};
    CU_ASSERT_EQUAL(recur_sparse_categorical_crossentropy(p, bad, 1, 3, &loss),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("labels[0]"));
}

/* A model's fused softmax + cross-entropy equals the loss on its predicted
 * probabilities. */
static void test_fused_loss_matches_probability_loss(void) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 3, 4, 7)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, "lstm:6,dense:5:softmax")));
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    test_rng r = {3};
    float x[10 * 12], y[10], p[10 * 5], fused, acc, direct;
    fill_uniform(&r, x, 120, -2, 2);
    for (int k = 0; k < 10; k++) y[k] = (float)(k % 5);
    CU_ASSERT_FATAL(ok(recur_model_evaluate(m, x, y, 10, 4, &fused, &acc)));
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, 10, 3, p)));
    CU_ASSERT_FATAL(ok(recur_sparse_categorical_crossentropy(p, y, 10, 5, &direct)));
    CU_ASSERT_DOUBLE_EQUAL(fused, direct, 1e-5);
    for (int k = 0; k < 10; k++) {
        double s = 0;
        for (int j = 0; j < 5; j++) s += p[k * 5 + j];
        CU_ASSERT_DOUBLE_EQUAL(s, 1.0, 1e-6);
    }
    recur_model_destroy(m);
}

/* ---- optimizers against hand-computed steps ----------------------------- */

/* y = w . x + b, F inputs, MSE on one sample, weights then bias from init:
 * dL/dw = 2 (w.x + b - t) x, dL/db = 2 (w.x + b - t) */
static const float linear1_init[] = {0.5f, -0.25f};

static recur_model *tiny_linear(const recur_optimizer *opt, int F, const float *init) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 1, F, 1)));
    CU_ASSERT_FATAL(ok(recur_model_add_dense(m, 1, RECUR_ACT_LINEAR)));
    CU_ASSERT_FATAL(ok(recur_model_compile(m, opt, RECUR_LOSS_MSE)));
    size_t n;
    float *p = recur_model_params(m, &n);
    CU_ASSERT_FATAL(n == (size_t)F + 1);
    memcpy(p, init, n * sizeof(float));
    return m;
}

static void test_adam_with_decay_matches_hand_computation(void) {
    recur_optimizer opt = recur_adam(0.01f);
    opt.decay = 0.1f;
    recur_model *m = tiny_linear(&opt, 1, linear1_init);
    const float x = 1.5f, t = 2.0f;
    double w = 0.5, b = -0.25, mw = 0, vw = 0, mb = 0, vb = 0;
    for (int it = 0; it < 5; it++) {
        float loss;
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, &x, &t, 1, 1, &loss)));
        CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
        double e = w * x + b - t, gw = 2 * e * x, gb = 2 * e;
        CU_ASSERT_DOUBLE_EQUAL(loss, e * e, 1e-5);
        double lr = 0.01 / (1 + 0.1 * it);
        double lr_t = lr * sqrt(1 - pow(0.999, it + 1)) / (1 - pow(0.9, it + 1));
        mw = 0.9 * mw + 0.1 * gw, vw = 0.999 * vw + 0.001 * gw * gw;
        mb = 0.9 * mb + 0.1 * gb, vb = 0.999 * vb + 0.001 * gb * gb;
        w -= lr_t * mw / (sqrt(vw) + 1e-7);
        b -= lr_t * mb / (sqrt(vb) + 1e-7);
        const float *p = recur_model_params(m, NULL);
        CU_ASSERT_DOUBLE_EQUAL(p[0], w, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(p[1], b, 1e-6);
    }
    recur_model_destroy(m);
}

static void test_sgd_momentum_matches_hand_computation(void) {
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        recur_optimizer opt = recur_sgd(0.05f, 0.9f);
        opt.nesterov = nesterov;
        opt.decay = 0.01f;
        recur_model *m = tiny_linear(&opt, 1, linear1_init);
        const float x = -0.5f, t = 1.0f;
        double w = 0.5, b = -0.25, vw = 0, vb = 0;
        for (int it = 0; it < 4; it++) {
            float loss;
            CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, &x, &t, 1, 1, &loss)));
            CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
            double e = w * x + b - t, gw = 2 * e * x, gb = 2 * e, lr = 0.05 / (1 + 0.01 * it);
            vw = 0.9 * vw - lr * gw, vb = 0.9 * vb - lr * gb;
            w += nesterov ? 0.9 * vw - lr * gw : vw;
            b += nesterov ? 0.9 * vb - lr * gb : vb;
            const float *p = recur_model_params(m, NULL);
            CU_ASSERT_DOUBLE_EQUAL(p[0], w, 1e-6);
            CU_ASSERT_DOUBLE_EQUAL(p[1], b, 1e-6);
        }
        recur_model_destroy(m);
    }
}

/* tiny_linear with two inputs: a kernel of two elements and a bias of one, so
 * per-array clipnorm (Keras's) and a global norm would differ. */
static const float linear2_init[] = {0.5f, -0.3f, 0.2f};

/* SGD steps with clipvalue, clipnorm and both (value first, then the norm of
 * each array), against the gradient clipped by hand in double. */
static void test_clipping_matches_hand_computation(void) {
    const struct {
        float clipvalue, clipnorm;
    } cases[] = {{3.0f, 0.0f}, {0.0f, 2.0f}, {3.0f, 2.0f}, {0.0f, 100.0f}};
    const float x[2] = {1.5f, -2.0f}, t = 3.0f;
    for (int c = 0; c < 4; c++) {
        recur_optimizer opt = recur_sgd(0.1f, 0.0f);
        opt.clipvalue = cases[c].clipvalue, opt.clipnorm = cases[c].clipnorm;
        recur_model *m = tiny_linear(&opt, 2, linear2_init);
        double w[3] = {0.5, -0.3, 0.2};
        for (int it = 0; it < 3; it++) {
            float loss;
            CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, &t, 1, 1, &loss)));
            CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
            const double e = w[0] * x[0] + w[1] * x[1] + w[2] - t;
            double g[3] = {2 * e * x[0], 2 * e * x[1], 2 * e}; /* kernel g[0..1], bias g[2] */
            const double v = cases[c].clipvalue, cn = cases[c].clipnorm;
            for (int k = 0; v > 0 && k < 3; k++) g[k] = g[k] > v ? v : g[k] < -v ? -v : g[k];
            const double nk = sqrt(g[0] * g[0] + g[1] * g[1]), nb = fabs(g[2]);
            if (cn > 0 && nk > cn) g[0] *= cn / nk, g[1] *= cn / nk;
            if (cn > 0 && nb > cn) g[2] *= cn / nb;
            const float *p = recur_model_params(m, NULL), *gc = recur_model_gradients(m, NULL);
            for (int k = 0; k < 3; k++) {
                w[k] -= 0.1 * g[k];
                CU_ASSERT_DOUBLE_EQUAL(gc[k], g[k], 1e-5); /* clipped in place */
                CU_ASSERT_DOUBLE_EQUAL(p[k], w[k], 1e-6);
            }
        }
        recur_model_destroy(m);
    }
    /* the first step of clipnorm 2 by hand: e = -1.45, g = (-4.35, 5.8 | -2.9),
     * ||kernel|| = 7.25 -> (-1.2, 1.6), |bias| 2.9 -> -2 */
    recur_optimizer opt = recur_sgd(1.0f, 0.0f);
    opt.clipnorm = 2.0f;
    recur_model *m = tiny_linear(&opt, 2, linear2_init);
    float loss;
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, &t, 1, 1, &loss)));
    CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
    const float *p = recur_model_params(m, NULL);
    CU_ASSERT_DOUBLE_EQUAL(p[0], 0.5 + 1.2, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p[1], -0.3 - 1.6, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p[2], 0.2 + 2.0, 1e-6);
    recur_model_destroy(m);

    const float bad[] = {-1.0f, NAN, INFINITY};
    for (int k = 0; k < 3; k++)
        for (int which = 0; which < 2; which++) {
            recur_optimizer o = recur_adam(1e-3f);
            *(which ? &o.clipvalue : &o.clipnorm) = bad[k];
            CU_ASSERT_FATAL(ok(recur_model_create(&m, 1, 2, 1)));
            CU_ASSERT_FATAL(ok(recur_model_add_dense(m, 1, RECUR_ACT_LINEAR)));
            CU_ASSERT_EQUAL(recur_model_compile(m, &o, RECUR_LOSS_MSE), RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(mentions("clipnorm and clipvalue"));
            recur_model_destroy(m);
        }
}

/* ---- gradients of every layer kind against finite differences ----------- */

/* Central differences of the model's loss (fixed dropout mask: the step count
 * does not move) against its backward, for every parameter and both losses. */
static double grad_check(const char *spec, recur_loss loss_kind, int classes, uint64_t seed) {
    enum { T = 4, F = 3, N = 5 };
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, seed)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, spec)));
    recur_optimizer sgd = recur_sgd(0.1f, 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &sgd, loss_kind)));
    test_rng r = {seed};
    float x[N * T * F], y[N * 8];
    fill_uniform(&r, x, N * T * F, -1, 1);
    for (int k = 0; k < N * classes; k++)
        y[k] = loss_kind == RECUR_LOSS_MSE ? (float)rng_uniform(&r, -1, 1) : (float)(k % classes);
    size_t n;
    float *p = recur_model_params(m, &n);
    /* spread the weights so no unit sits at a ReLU kink */
    for (size_t k = 0; k < n; k++) p[k] += (float)rng_uniform(&r, -0.3, 0.3);
    const double worst = fd_worst(m, x, NULL, y, N, 1, 2e-3f);
    recur_model_destroy(m);
    return worst;
}

static void test_layer_gradients_match_finite_differences(void) {
    const struct {
        const char *spec;
        recur_loss loss;
        int classes;
    } cases[] = {
        {"lstm:5:tanh:seq,dropout:0.3,lstm:4:relu,dense:6:tanh,dense:3:softmax",
         RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 3},
        {"lstm:4:relu:seq,dense:5:relu,dropout:0.25,lstm:3,dense:2:sigmoid", RECUR_LOSS_MSE, 2},
        {"lstm:4,dense:4:softmax", RECUR_LOSS_MSE, 4}, /* softmax backward, not fused */
        {"dense:3:tanh,lstm:3,dense:2:linear", RECUR_LOSS_MSE, 2},
        {"gru:5:tanh:seq,dropout:0.3,gru:4:relu,dense:3:softmax",
         RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 3},
        {"gru:4:relu:seq:reset_after=0,dense:3:relu,gru:3:reset_after=0,dense:2:sigmoid",
         RECUR_LOSS_MSE, 2},
        {"rnn:5:tanh:seq,dropout:0.2,rnn:4:relu,dense:3:softmax",
         RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 3},
        {"rnn:4:relu:seq,lstm:3:seq,gru:3,dense:2:linear", RECUR_LOSS_MSE, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        double e = grad_check(cases[k].spec, cases[k].loss, cases[k].classes, 100 + (uint64_t)k);
        if (!(e < 2e-2)) printf("\n    %s: worst relative error %.3g", cases[k].spec, e);
        CU_ASSERT(e < 2e-2);
    }
}

/* The gradient callback: every layer with parameters once per backward, last
 * first, with contiguous ranges that tile the buffer, and values already final. */
typedef struct {
    const float *grads;
    float *seen; /* the gradient values as each call saw them */
    size_t off[16], cnt[16];
    int calls;
} grad_calls;

static void record_range(void *user, size_t offset, size_t count) {
    grad_calls *c = user;
    if (c->calls < 16) c->off[c->calls] = offset, c->cnt[c->calls] = count;
    c->calls++;
    memcpy(c->seen + offset, c->grads + offset, count * sizeof(float));
}

static void test_gradient_callback_ranges_and_values(void) {
    enum { T = 5, F = 3, N = 6 };
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, 7)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(
        m, "bidirectional:gru:4:seq,dropout:0.2,lstm:3,dense:5:relu,dense:3:softmax")));
    recur_optimizer adam = recur_adam(0.01f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    test_rng r = {7};
    float x[N * T * F], y[N];
    fill_uniform(&r, x, N * T * F, -1, 1);
    for (int k = 0; k < N; k++) y[k] = (float)(k % 3);
    size_t n;
    grad_calls c = {recur_model_gradients(m, &n), NULL, {0}, {0}, 0};
    c.seen = calloc(n, sizeof(float));
    CU_ASSERT_FATAL(c.seen != NULL);
    CU_ASSERT(recur_model_set_gradient_callback(NULL, record_range, &c) == RECUR_ERR_NULL_POINTER);
    CU_ASSERT_FATAL(ok(recur_model_set_gradient_callback(m, record_range, &c)));
    float loss;
    for (int round = 0; round < 2; round++) { /* the second after an update */
        c.calls = 0;
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 1, &loss)));
        CU_ASSERT_FATAL(c.calls == 4); /* the dropout has no parameters */
        size_t end = n;
        for (int k = 0; k < c.calls; k++) { /* last layer first, tiling [0, n) */
            CU_ASSERT(c.cnt[k] > 0 && c.off[k] + c.cnt[k] == end);
            end = c.off[k];
        }
        CU_ASSERT(end == 0);
        CU_ASSERT(memcmp(c.seen, c.grads, n * sizeof(float)) == 0);
        CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
    }
    recur_fit_options o = recur_fit_defaults(); /* fit calls it once per step */
    o.batch_size = 4;
    c.calls = 0;
    CU_ASSERT_FATAL(ok(recur_model_fit(m, x, y, N, &o)));
    CU_ASSERT(c.calls == 2 * 4);
    CU_ASSERT_FATAL(ok(recur_model_set_gradient_callback(m, NULL, NULL)));
    c.calls = 0;
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 1, &loss)));
    CU_ASSERT(c.calls == 0);
    free(c.seen);
    recur_model_destroy(m);
}

/* ---- building: spec, summary, errors ------------------------------------ */

#define TUTORIAL                                                                                  \
    "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dropout:0.1,dense:32:relu,dropout:0.2,"          \
    "dense:10:softmax"

static void test_summary_of_tutorial(void) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 28, 28, 1)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, TUTORIAL)));
    CU_ASSERT_EQUAL(recur_model_param_count(m), 80384 + 131584 + 4128 + 330);
    size_t len = recur_model_summary(m, NULL, 0);
    char *s = malloc(len + 1);
    CU_ASSERT_EQUAL(recur_model_summary(m, s, len + 1), len);
    CU_ASSERT_EQUAL(strlen(s), len);
    CU_ASSERT(strstr(s, "lstm (LSTM)                  (None, 28, 128)           80384") != NULL);
    CU_ASSERT(strstr(s, "lstm_1 (LSTM)                (None, 128)               131584") != NULL);
    CU_ASSERT(strstr(s, "dropout_2 (Dropout)          (None, 32)                0") != NULL);
    CU_ASSERT(strstr(s, "dense_1 (Dense)              (None, 10)                330") != NULL);
    CU_ASSERT(strstr(s, "Total params: 216,426\n") != NULL);
    char small[40];
    CU_ASSERT_EQUAL(recur_model_summary(m, small, sizeof small), len); /* truncated, terminated */
    CU_ASSERT_EQUAL(strlen(small), sizeof small - 1);
    free(s);
    recur_model_destroy(m);
}

/* Keras's counts: GRU 3*(u*(in+u) + 2u) with reset_after, 3*(u*(in+u) + u)
 * without; SimpleRNN u*(in+u) + u */
static void test_summary_of_gru_and_simple_rnn(void) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 10, 32, 1)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(
        m, "gru:64:seq,gru:16:relu:seq:reset_after=0,rnn:32:seq,rnn:8:relu,dense:2:softmax")));
    CU_ASSERT_EQUAL(recur_model_add_gru(m, 4, RECUR_ACT_TANH, 1, 0), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("a GRU needs a sequence"));
    CU_ASSERT_EQUAL(recur_model_param_count(m), 18816 + 3888 + 1568 + 328 + 18);
    char s[2048];
    recur_model_summary(m, s, sizeof s);
    CU_ASSERT(strstr(s, "gru (GRU)                    (None, 10, 64)            18816") != NULL);
    CU_ASSERT(strstr(s, "gru_1 (GRU)                  (None, 10, 16)            3888") != NULL);
    CU_ASSERT(strstr(s, "simple_rnn (SimpleRNN)       (None, 10, 32)            1568") != NULL);
    CU_ASSERT(strstr(s, "simple_rnn_1 (SimpleRNN)     (None, 8)                 328") != NULL);
    CU_ASSERT(strstr(s, "Total params: 24,618\n") != NULL);
    /* the parameters in Keras's get_weights() order: gru's bias [2][192] last */
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    const float *p = recur_model_params(m, NULL);
    for (size_t k = 32 * 192 + 64 * 192; k < 18816; k++) CU_ASSERT_EQUAL(p[k], 0.0f);
    recur_model_destroy(m);
}

static void test_spec_errors(void) {
    const struct {
        const char *spec, *needle;
    } bad[] = {{"lstm:abc", "item 1"},          {"lstm:12,dense:10:foo", "'foo'"},
               {"lstm:8,dropout:1.5", "[0, 1)"}, {"conv:3", "unknown layer 'conv'"},
               {"", "item 1"},                   {"lstm:8,,dense:2", "item 2"},
               {"lstm:8:relu:seq:extra", "item 1"}, {"dense:4,lstm:4", "sequence"},
               {"lstm:4:sigmoid", "'sigmoid'"},  {"dense:0", "units"},
               {"gru:4:reset_after=2", "reset_after=0|1"}, {"lstm:4:reset_after=0", "item 1"},
               {"rnn:4:tanh:seq:seq:seq", "item 1"}, {"gru:x", "units"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, 5, 3, 1)));
        /* a first dense keeps the input a vector for the "dense:4,lstm:4" case */
        if (!strcmp(bad[k].spec, "dense:4,lstm:4")) CU_ASSERT(ok(recur_model_add_lstm(m, 3, RECUR_ACT_TANH, 0)));
        size_t before = recur_model_param_count(m);
        CU_ASSERT_EQUAL(recur_model_add_layers(m, bad[k].spec), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions(bad[k].needle));
        CU_ASSERT_EQUAL(recur_model_param_count(m), before); /* all or nothing */
        recur_model_destroy(m);
    }
}

static void test_call_order_and_arguments(void) {
    recur_model *m;
    float x[6] = {0}, y[2] = {0}, loss, acc;
    CU_ASSERT_EQUAL(recur_model_create(NULL, 3, 2, 1), RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(recur_model_create(&m, 0, 2, 1), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 3, 2, 1)));
    recur_fit_options fo = recur_fit_defaults();
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 1, &fo), RECUR_ERR_STATE);
    CU_ASSERT(mentions("not compiled"));
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_EQUAL(recur_model_compile(m, &adam, RECUR_LOSS_MSE), RECUR_ERR_STATE); /* no layers */
    CU_ASSERT(ok(recur_model_add_lstm(m, 4, RECUR_ACT_TANH, 1)));
    /* a sequence last is fine (per-step targets, test_seq.c); the loss's layer is not */
    CU_ASSERT_EQUAL(recur_model_compile(m, &adam, RECUR_LOSS_BINARY_CROSSENTROPY),
                    RECUR_ERR_UNSUPPORTED);
    CU_ASSERT(mentions("Dense(1, sigmoid)"));
    CU_ASSERT_EQUAL(recur_model_add_lstm(m, 4, RECUR_ACT_SIGMOID, 0), RECUR_ERR_UNSUPPORTED);
    CU_ASSERT_EQUAL(recur_model_add_dropout(m, -0.1f), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(ok(recur_model_add_lstm(m, 4, RECUR_ACT_TANH, 0)));
    CU_ASSERT(ok(recur_model_add_dense(m, 2, RECUR_ACT_SIGMOID)));
    CU_ASSERT_EQUAL(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY),
                    RECUR_ERR_UNSUPPORTED);
    CU_ASSERT(mentions("softmax"));
    recur_optimizer bad = recur_adam(NAN);
    CU_ASSERT_EQUAL(recur_model_compile(m, &bad, RECUR_LOSS_MSE), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("learning_rate"));
    CU_ASSERT(ok(recur_model_compile(m, &adam, RECUR_LOSS_MSE)));
    CU_ASSERT_EQUAL(recur_model_add_dense(m, 2, RECUR_ACT_LINEAR), RECUR_ERR_STATE);
    CU_ASSERT_EQUAL(recur_model_compile(m, &adam, RECUR_LOSS_MSE), RECUR_ERR_STATE);
    fo.batch_size = 0;
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 1, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("batch_size"));
    fo = recur_fit_defaults();
    fo.validation_split = 1.5f;
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 1, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("validation_split"));
    fo = recur_fit_defaults();
    CU_ASSERT_EQUAL(recur_model_fit(m, NULL, y, 1, &fo), RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(recur_model_evaluate(m, x, y, 1, 4, NULL, &acc), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(ok(recur_model_evaluate(m, x, y, 1, 4, &loss, &acc)));
    CU_ASSERT(isnan(acc)); /* no accuracy for MSE */
    recur_model_destroy(m);
    recur_model_destroy(NULL);
}

static void test_labels_validated(void) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 2, 2, 1)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, "lstm:3,dense:3:softmax")));
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    float x[3 * 4] = {0}, y[3] = {0, 2, 3}, loss, acc;
    recur_fit_options fo = recur_fit_defaults();
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 3, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("y[2] = 3"));
    y[2] = 1.5f;
    CU_ASSERT_EQUAL(recur_model_evaluate(m, x, y, 3, 2, &loss, &acc), RECUR_ERR_INVALID_ARGUMENT);
    /* validation labels outside the model's classes, with good training data */
    float vy[3] = {0, 1, 7};
    y[2] = 1;
    fo.val_x = x, fo.val_y = vy, fo.val_n = 3;
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 3, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("validation data") && mentions("y[2] = 7") && mentions("[0, 3)"));
    recur_model_destroy(m);
}

/* A NaN or infinity in the inputs (or an MSE target) is refused up front,
 * naming the sample and the element, by every call that takes data. */
static void test_nonfinite_data_refused(void) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 2, 2, 1)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, "lstm:3,dense:2")));
    recur_optimizer adam = recur_adam(1e-3f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_MSE)));
    float x[3 * 4] = {0}, y[3 * 2] = {0}, out[3 * 2], loss, acc;
    recur_fit_options fo = recur_fit_defaults();
    x[1 * 4 + 3] = NAN;
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 3, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("sample 1") && mentions("element 3") && mentions("nan"));
    CU_ASSERT_EQUAL(recur_model_evaluate(m, x, y, 3, 2, &loss, &acc), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_predict(m, x, 3, 2, out), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_compute_gradients(m, x, y, 3, 1, &loss),
                    RECUR_ERR_INVALID_ARGUMENT);
    x[1 * 4 + 3] = 0;
    y[2 * 2 + 1] = INFINITY;
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, 3, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("y of sample 2") && mentions("inf"));
    y[2 * 2 + 1] = 0;
    CU_ASSERT(ok(recur_model_fit(m, x, y, 3, &fo)));
    CU_ASSERT(ok(recur_model_predict(m, x, 3, 2, out)));
    recur_model_destroy(m);
}

/* ---- fit, save, load ---------------------------------------------------- */

/* A learnable toy problem: is the sum of the sequence positive? */
static void toy_data(float *x, float *y, int n, int T, int F, uint64_t seed) {
    test_rng r = {seed};
    for (int k = 0; k < n; k++) {
        double s = 0;
        for (int j = 0; j < T * F; j++) s += (x[k * T * F + j] = (float)rng_uniform(&r, -1, 1));
        y[k] = s > 0 ? 1.0f : 0.0f;
    }
}

static recur_model *toy_model(uint64_t seed) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 6, 2, seed)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, "lstm:16:relu:seq,dropout:0.1,lstm:8,dense:2:softmax")));
    recur_optimizer adam = recur_adam(5e-3f);
    adam.decay = 1e-4f;
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
    return m;
}

typedef struct {
    int calls, stop_after;
} cb_state;

static int on_epoch(void *user, const recur_epoch_logs *l) {
    cb_state *s = user;
    s->calls++;
    return l->epoch + 1 >= s->stop_after;
}

static void test_fit_learns_and_reports_history(void) {
    enum { N = 600, T = 6, F = 2 };
    float *x = malloc(sizeof(float) * N * T * F), y[N];
    toy_data(x, y, N, T, F, 5);
    recur_model *m = toy_model(3);
    float loss0, acc0, loss1, acc1;
    CU_ASSERT_FATAL(ok(recur_model_evaluate(m, x, y, N, 64, &loss0, &acc0)));
    recur_fit_options fo = recur_fit_defaults();
    fo.epochs = 20, fo.batch_size = 16, fo.validation_split = 0.25f;
    cb_state cb = {0, 6};
    fo.on_epoch_end = on_epoch, fo.user = &cb;
    CU_ASSERT_FATAL(ok(recur_model_fit(m, x, y, N, &fo)));
    const recur_epoch_logs *h;
    CU_ASSERT_EQUAL(recur_model_history(m, &h), 6); /* the callback stopped it */
    CU_ASSERT_EQUAL(cb.calls, 6);
    CU_ASSERT(h[5].loss < h[0].loss);
    CU_ASSERT(!isnan(h[5].val_loss) && h[5].val_accuracy > 0.75f);
    CU_ASSERT(h[0].seconds > 0);
    CU_ASSERT_FATAL(ok(recur_model_evaluate(m, x, y, N, 64, &loss1, &acc1)));
    CU_ASSERT(loss1 < loss0 && acc1 > 0.8f);
    recur_model_destroy(m);
    free(x);
}

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/recur_test_%d_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid(), name);
}

static void test_save_load_predicts_identically_and_resumes(void) {
    enum { N = 200, T = 6, F = 2 };
    float *x = malloc(sizeof(float) * N * T * F), y[N], pa[N * 2], pb[N * 2];
    toy_data(x, y, N, T, F, 9);
    recur_fit_options fo = recur_fit_defaults();
    fo.batch_size = 16;

    /* A: 2 epochs straight. B: 1 epoch, save, load, 1 more. */
    recur_model *a = toy_model(4), *b = toy_model(4), *c;
    fo.epochs = 2;
    CU_ASSERT_FATAL(ok(recur_model_fit(a, x, y, N, &fo)));
    fo.epochs = 1;
    CU_ASSERT_FATAL(ok(recur_model_fit(b, x, y, N, &fo)));
    char path[256];
    tmp_path(path, sizeof path, "model.bin");
    CU_ASSERT_FATAL(ok(recur_model_save(b, path)));
    CU_ASSERT_FATAL(ok(recur_model_load(&c, path)));
    CU_ASSERT_FATAL(ok(recur_model_predict(b, x, N, 32, pa)));
    CU_ASSERT_FATAL(ok(recur_model_predict(c, x, N, 7, pb)));
    CU_ASSERT(memcmp(pa, pb, sizeof pa) == 0);
    CU_ASSERT_FATAL(ok(recur_model_fit(c, x, y, N, &fo)));
    size_t na, nc;
    const float *wa = recur_model_params(a, &na), *wc = recur_model_params(c, &nc);
    CU_ASSERT(na == nc && memcmp(wa, wc, na * sizeof(float)) == 0);
    recur_model_destroy(c);

    /* damaged files are rejected with a reason */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    unsigned char *bytes = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    CU_ASSERT_FATAL(fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    char bad[256];
    tmp_path(bad, sizeof bad, "bad.bin");
    const struct {
        long len, flip;
        const char *needle;
    } damage[] = {{size / 2, -1, "corrupted"},
                  {size, size / 3, "corrupted"},
                  {size, 0, "magic"},
                  {6, -1, "magic"}};
    for (int k = 0; k < 4; k++) {
        f = fopen(bad, "wb");
        if (damage[k].flip >= 0) bytes[damage[k].flip] ^= 0x40;
        fwrite(bytes, 1, (size_t)damage[k].len, f);
        if (damage[k].flip >= 0) bytes[damage[k].flip] ^= 0x40;
        fclose(f);
        recur_model *d = (recur_model *)&d;
        CU_ASSERT_EQUAL(recur_model_load(&d, bad), RECUR_ERR_FORMAT);
        CU_ASSERT(d == NULL);
        CU_ASSERT(mentions(damage[k].needle));
    }
    CU_ASSERT_EQUAL(recur_model_load(&c, "/nonexistent/model.bin"), RECUR_ERR_IO);
    CU_ASSERT_EQUAL(recur_model_save(a, "/nonexistent/dir/model.bin"), RECUR_ERR_IO);
    CU_ASSERT(mentions("/nonexistent/dir/model.bin"));
    unlink(path), unlink(bad);
    free(bytes);
    recur_model_destroy(a), recur_model_destroy(b);
    free(x);
}

/* ---- resume, non-finite values, the file format -------------------------- */

typedef struct {
    recur_model *m;
    const char *path;
    int stop_after, calls, first_epoch, done_ok;
} ckpt_state;

/* saves a checkpoint after every epoch, as recur-train --checkpoint does */
static int save_and_maybe_stop(void *user, const recur_epoch_logs *l) {
    ckpt_state *c = user;
    if (c->calls++ == 0) c->first_epoch = l->epoch;
    c->done_ok &= recur_model_save(c->m, c->path) == RECUR_OK;
    return c->calls >= c->stop_after;
}

/* A: 3 epochs. B: checkpoints from the callback and stops after epoch 1; the
 * checkpoint, loaded and fit with initial_epoch RECUR_EPOCHS_DONE and epochs 3
 * (the total), trains epochs 2 and 3 and ends bit-identical to A. */
/* GRU and SimpleRNN models: the same weights after training on 1 or 2 threads
 * (and 3: uneven splits), and a saved model predicts bit-identically. */
static void test_recurrent_kinds_threads_and_files(void) {
    enum { N = 96, T = 6, F = 2 };
    static const char *const specs[] = {"gru:16:relu:seq,dropout:0.1,gru:8,dense:2:softmax",
                                        "gru:16:seq:reset_after=0,rnn:8:relu,dense:2:softmax",
                                        "rnn:40:tanh:seq,rnn:40,dense:2:softmax"};
    float *x = malloc(sizeof(float) * N * T * F), y[N], pa[N * 2], pb[N * 2];
    toy_data(x, y, N, T, F, 17);
    recur_fit_options fo = recur_fit_defaults();
    fo.batch_size = 12, fo.epochs = 2;
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        recur_model *m[3];
        for (int t = 0; t < 3; t++) {
            CU_ASSERT_FATAL(ok(recur_model_create(&m[t], T, F, 5)));
            CU_ASSERT_FATAL(ok(recur_model_add_layers(m[t], specs[k])));
            recur_optimizer adam = recur_adam(5e-3f);
            CU_ASSERT_FATAL(ok(recur_model_compile(m[t], &adam,
                                                   RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
            recur_set_num_threads(t + 1);
            CU_ASSERT_FATAL(ok(recur_model_fit(m[t], x, y, N, &fo)));
        }
        recur_set_num_threads(0);
        size_t n;
        const float *w0 = recur_model_params(m[0], &n);
        for (int t = 1; t < 3; t++) {
            const int same = memcmp(w0, recur_model_params(m[t], NULL), n * sizeof(float)) == 0;
            if (!same) printf("\n    %s: weights differ on %d threads", specs[k], t + 1);
            CU_ASSERT(same);
        }
        char path[256];
        tmp_path(path, sizeof path, "kinds.bin");
        recur_model *c;
        CU_ASSERT_FATAL(ok(recur_model_save(m[1], path)));
        CU_ASSERT_FATAL(ok(recur_model_load(&c, path)));
        CU_ASSERT_FATAL(ok(recur_model_predict(m[1], x, N, 32, pa)));
        CU_ASSERT_FATAL(ok(recur_model_predict(c, x, N, 7, pb)));
        CU_ASSERT(memcmp(pa, pb, sizeof pa) == 0);
        char s1[2048], s2[2048];
        recur_model_summary(m[1], s1, sizeof s1), recur_model_summary(c, s2, sizeof s2);
        CU_ASSERT(strcmp(s1, s2) == 0);
        unlink(path);
        recur_model_destroy(c);
        for (int t = 0; t < 3; t++) recur_model_destroy(m[t]);
    }
    free(x);
}

/* The two models the inference tests run: small layers with a mask,
 * Bidirectional and go_backwards; layers large enough that Intel's inference
 * plan joins the input product at a batch of 48 or more. */
#define INFER_MIXED_SPEC                                                                           \
    "masking,lstm:12:seq,bidirectional:gru:8:seq,rnn:6:relu:seq:backwards,lstm:5,dense:3:softmax"
#define INFER_LARGE_SPEC "lstm:256:seq,gru:256:seq,rnn:200,dense:3:softmax"

/* Predict and evaluate run the recurrent layers' inference forward (no
 * tapes, the layer's workspace as its scratch), compute_gradients the
 * training forward: the same loss, bit for bit where the two plans agree
 * (small layers, masks, Bidirectional, go_backwards), to rounding where the
 * inference takes the input product into the step (Intel's plan, B >= 48,
 * over 1 MiB of W and U: the model_cpu_intel run). */
static void test_inference_forward_matches_training_forward(void) {
    enum { N = 64, T = 5 };
    static const struct {
        const char *spec;
        int F;
        double tol;
    } cases[] = {
        {INFER_MIXED_SPEC, 4, 0},
        {INFER_LARGE_SPEC, 256, 2e-6},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int F = cases[k].F;
        float *x = malloc(sizeof(float) * N * T * F), y[N], eval, acc, grad;
        test_rng r = {11};
        fill_uniform(&r, x, (size_t)N * T * F, -1, 1);
        for (int n = 0; n < N; n++) {
            y[n] = (float)(n % 3);
            for (int t = 0; t < T; t++) /* padding: the first n % 3 steps, and step 2 of some */
                if (t < n % 3 || (t == 2 && n % 5 == 0))
                    memset(x + ((size_t)n * T + t) * F, 0, sizeof(float) * F);
        }
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, 9)));
        CU_ASSERT_FATAL(ok(recur_model_add_layers(m, cases[k].spec)));
        recur_optimizer sgd = recur_sgd(0.1f, 0.0f);
        CU_ASSERT_FATAL(
            ok(recur_model_compile(m, &sgd, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
        CU_ASSERT_FATAL(ok(recur_model_evaluate(m, x, y, N, N, &eval, &acc)));
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &grad)));
        if (cases[k].tol == 0) {
            CU_ASSERT(memcmp(&eval, &grad, sizeof eval) == 0);
        } else {
            CU_ASSERT_DOUBLE_EQUAL(eval, grad, cases[k].tol * fabs(grad));
        }
        if (eval != grad)
            printf("\n    %s: evaluate %.9g, training forward %.9g", cases[k].spec, eval, grad);
        recur_model_destroy(m);
        free(x);
    }
}

/* predict packs each recurrent layer's weights at its first batch and reuses
 * them for the next batches of the same size: its output equals, bit for bit,
 * each batch predicted alone by a new model with the same weights, the last
 * smaller batch included; after the weights change the next predict packs
 * the new ones. The
 * second model's layers are large enough that on the Intel kind
 * (model_cpu_intel) the 48-row batches join the input into the step. */
static void test_predict_reuses_packing_within_a_call(void) {
    static const struct {
        const char *spec;
        int F, batch;
    } cases[] = {
        {INFER_MIXED_SPEC, 4, 16},
        {INFER_LARGE_SPEC, 256, 48},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int F = cases[k].F, bs = cases[k].batch, N = 3 * bs + 5, T = 4, C = 3;
        float *x = malloc(sizeof(float) * (size_t)N * T * F);
        float *all = malloc(sizeof(float) * (size_t)N * C),
              *one = malloc(sizeof(float) * (size_t)N * C);
        test_rng r = {17};
        fill_uniform(&r, x, (size_t)N * T * F, -1, 1);
        for (int n = 0; n < N; n += 3) memset(x + (size_t)n * T * F, 0, sizeof(float) * F);
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, 5)));
        CU_ASSERT_FATAL(ok(recur_model_add_layers(m, cases[k].spec)));
        recur_optimizer sgd = recur_sgd(0.1f, 0.0f);
        CU_ASSERT_FATAL(
            ok(recur_model_compile(m, &sgd, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
        for (int round = 0; round < 2; round++) {
            CU_ASSERT_FATAL(ok(recur_model_predict(m, x, (size_t)N, bs, all)));
            recur_model *fresh;
            size_t np, np2;
            CU_ASSERT_FATAL(ok(recur_model_create(&fresh, T, F, 6)));
            CU_ASSERT_FATAL(ok(recur_model_add_layers(fresh, cases[k].spec)));
            CU_ASSERT_FATAL(
                ok(recur_model_compile(fresh, &sgd, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
            float *w = recur_model_params(m, &np), *w2 = recur_model_params(fresh, &np2);
            CU_ASSERT_FATAL(np == np2);
            memcpy(w2, w, sizeof(float) * np);
            for (int first = 0; first < N; first += bs) {
                const int B = N - first < bs ? N - first : bs;
                CU_ASSERT_FATAL(ok(recur_model_predict(fresh, x + (size_t)first * T * F, (size_t)B,
                                                       bs, one + (size_t)first * C)));
            }
            CU_ASSERT(memcmp(all, one, sizeof(float) * (size_t)N * C) == 0);
            recur_model_destroy(fresh);
            for (size_t j = 0; j < np; j++) w[j] *= 0.75f; /* new weights for the next round */
        }
        recur_model_destroy(m);
        free(x), free(all), free(one);
    }
}

static void test_checkpoint_from_callback_resumes_exactly(void) {
    enum { N = 150, T = 6, F = 2 };
    float *x = malloc(sizeof(float) * N * T * F), y[N];
    toy_data(x, y, N, T, F, 21);
    char path[256];
    tmp_path(path, sizeof path, "ckpt.bin");
    recur_fit_options fo = recur_fit_defaults();
    fo.batch_size = 16, fo.epochs = 3, fo.validation_split = 0.2f;
    recur_model *a = toy_model(8), *b = toy_model(8), *c;
    CU_ASSERT_FATAL(ok(recur_model_fit(a, x, y, N, &fo)));

    ckpt_state cs = {b, path, 1, 0, -1, 1};
    fo.on_epoch_end = save_and_maybe_stop, fo.user = &cs;
    CU_ASSERT_FATAL(ok(recur_model_fit(b, x, y, N, &fo)));
    CU_ASSERT(cs.done_ok && cs.calls == 1 && cs.first_epoch == 0);
    CU_ASSERT_FATAL(ok(recur_model_load(&c, path)));
    cs = (ckpt_state){c, path, 99, 0, -1, 1};
    fo.initial_epoch = RECUR_EPOCHS_DONE;
    CU_ASSERT_FATAL(ok(recur_model_fit(c, x, y, N, &fo)));
    const recur_epoch_logs *h;
    CU_ASSERT_EQUAL(recur_model_history(c, &h), 2);
    CU_ASSERT(cs.done_ok && cs.calls == 2 && cs.first_epoch == 1 && h[0].epoch == 1);
    size_t na, nc;
    const float *wa = recur_model_params(a, &na), *wc = recur_model_params(c, &nc);
    CU_ASSERT(na == nc && memcmp(wa, wc, na * sizeof(float)) == 0);

    /* all epochs done: nothing to train; an explicit initial_epoch past the end too */
    CU_ASSERT(ok(recur_model_fit(c, x, y, N, &fo)));
    CU_ASSERT_EQUAL(recur_model_history(c, NULL), 0);
    fo.initial_epoch = 5;
    CU_ASSERT(ok(recur_model_fit(c, x, y, N, &fo)));
    CU_ASSERT_EQUAL(recur_model_history(c, NULL), 0);
    CU_ASSERT(memcmp(wa, recur_model_params(c, NULL), na * sizeof(float)) == 0);
    fo.initial_epoch = -2;
    CU_ASSERT_EQUAL(recur_model_fit(c, x, y, N, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("initial_epoch"));
    unlink(path);
    recur_model_destroy(a), recur_model_destroy(b), recur_model_destroy(c);
    free(x);
}

/* A NaN weight stops fit before any update, naming the layer as Keras would;
 * a NaN sample in the third batch stops it there with the weights of the two
 * good steps, bit for bit. */
static int poison_sample_40(void *user, const recur_epoch_logs *logs) {
    (void)logs;
    ((float *)user)[40 * 6 * 2 + 3] = NAN;
    return 0;
}

static void test_nonfinite_loss_stops_fit_with_last_good_weights(void) {
    enum { N = 64, T = 6, F = 2 };
    float *x = malloc(sizeof(float) * N * T * F), y[N];
    toy_data(x, y, N, T, F, 31);
    recur_fit_options fo = recur_fit_defaults();
    fo.batch_size = 16, fo.epochs = 2, fo.shuffle = 0;

    /* layers: lstm, dropout, lstm_1, dense; the recurrent kernel of lstm_1 */
    recur_model *m = toy_model(5);
    size_t n;
    float *p = recur_model_params(m, &n);
    const size_t at = 4 * 16 * (2 + 16 + 1) + 4 * 8 * 16 + 7;
    p[at] = NAN;
    float *before = malloc(n * sizeof(float));
    memcpy(before, p, n * sizeof(float));
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, N, &fo), RECUR_ERR_NUMERIC);
    CU_ASSERT(mentions("non-finite loss at epoch 1, step 1"));
    CU_ASSERT(mentions("layer 3 (lstm_1) has non-finite weights"));
    CU_ASSERT(mentions("not applied"));
    CU_ASSERT(memcmp(before, p, n * sizeof(float)) == 0);
    CU_ASSERT_EQUAL(recur_model_history(m, NULL), 0);
    recur_model_destroy(m);

    /* NaN in the data is refused before any step */
    x[40 * T * F + 3] = NAN;
    recur_model *a = toy_model(5);
    memcpy(before, recur_model_params(a, NULL), n * sizeof(float));
    CU_ASSERT_EQUAL(recur_model_fit(a, x, y, N, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("sample 40"));
    CU_ASSERT(memcmp(before, recur_model_params(a, NULL), n * sizeof(float)) == 0);
    /* data that turns bad between epochs (the callback may touch it): samples
     * 32..47 make step 3 of epoch 2 */
    x[40 * T * F + 3] = 0.5f;
    fo.on_epoch_end = poison_sample_40, fo.user = x;
    CU_ASSERT_EQUAL(recur_model_fit(a, x, y, N, &fo), RECUR_ERR_NUMERIC);
    CU_ASSERT(mentions("non-finite loss at epoch 2, step 3: the input batch"));
    CU_ASSERT_EQUAL(recur_model_history(a, NULL), 1);
    /* the model still trains once the data is clean */
    x[40 * T * F + 3] = 0.5f;
    fo.on_epoch_end = NULL, fo.epochs = 1;
    CU_ASSERT(ok(recur_model_fit(a, x, y, N, &fo)));
    recur_model_destroy(a);
    free(before);
    free(x);
}

/* A finite loss with an overflowing gradient (x = 1e20, w = 1e10: the loss is
 * 1e60 in double, dL/dw = 2e50 is infinite in float) stops fit and
 * apply_gradients, naming the layer and the array, with nothing changed. */
static void test_nonfinite_gradient_is_not_applied(void) {
    recur_optimizer adam = recur_adam(0.01f);
    recur_model *m = tiny_linear(&adam, 1, linear1_init);
    float *p = recur_model_params(m, NULL);
    p[0] = 1e10f;
    const float x = 1e20f, t = 0.0f, keep[2] = {p[0], p[1]};
    recur_fit_options fo = recur_fit_defaults();
    CU_ASSERT_EQUAL(recur_model_fit(m, &x, &t, 1, &fo), RECUR_ERR_NUMERIC);
    CU_ASSERT(mentions("non-finite gradient in layer 1 (dense) kernel at epoch 1, step 1"));
    CU_ASSERT(memcmp(keep, p, sizeof keep) == 0);
    float loss;
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, &x, &t, 1, 1, &loss)));
    CU_ASSERT_EQUAL(recur_model_apply_gradients(m), RECUR_ERR_NUMERIC);
    CU_ASSERT(mentions("recur_model_apply_gradients: non-finite gradient in layer 1 (dense) kernel;"));
    CU_ASSERT(memcmp(keep, p, sizeof keep) == 0);
    /* the Adam state did not move either: a good step now equals a fresh model's first */
    recur_model *fresh = tiny_linear(&adam, 1, linear1_init);
    const float x1 = 1.0f, t1 = 2.0f;
    p[0] = 0.5f;
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, &x1, &t1, 1, 1, &loss)));
    CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(fresh, &x1, &t1, 1, 1, &loss)));
    CU_ASSERT_FATAL(ok(recur_model_apply_gradients(fresh)));
    CU_ASSERT(memcmp(p, recur_model_params(fresh, NULL), 2 * sizeof(float)) == 0);
    recur_model_destroy(fresh);
    recur_model_destroy(m);
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fwrite(b, 1, n, f) == n);
    fclose(f);
}

static void put_le32(unsigned char *b, uint32_t v) {
    for (int k = 0; k < 4; k++) b[k] = (unsigned char)(v >> (8 * k));
}

static uint32_t get_le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Version 2 files keep the clipping settings; version 1 files (no clip
 * fields) still load, with clipping off; later versions are refused. */
static void test_file_versions(void) {
    recur_optimizer opt = recur_sgd(0.1f, 0.0f);
    opt.clipnorm = 2.0f, opt.clipvalue = 3.0f;
    recur_model *a = tiny_linear(&opt, 2, linear2_init), *b;
    char path[256];
    tmp_path(path, sizeof path, "v2.bin");
    CU_ASSERT_FATAL(ok(recur_model_save(a, path)));
    CU_ASSERT_FATAL(ok(recur_model_load(&b, path)));
    const float x[2] = {1.5f, -2.0f}, t = 3.0f;
    float loss;
    for (recur_model *m = a;; m = b) { /* the loaded model clips as the original */
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, &t, 1, 1, &loss)));
        CU_ASSERT_FATAL(ok(recur_model_apply_gradients(m)));
        if (m == b) break;
    }
    CU_ASSERT(memcmp(recur_model_params(a, NULL), recur_model_params(b, NULL), 3 * sizeof(float)) == 0);
    recur_model_destroy(b);

    /* versions 1 to 4 of the same model, made from its version 5 bytes:
     * version 4 lacks the u32 process count after epochs_done (byte 152 for
     * one layer without a cell name), version 3 also the layer's 24 bytes of
     * version 4 fields after its option (bytes 56..80), version 2 also the
     * option (i32 after the layer's f32 rate, byte 52), version 1 also the
     * clip fields after the optimizer's i32 nesterov; checksums recomputed.
     * All load to the same model and save again as the version 5 bytes. */
    recur_optimizer plain = recur_sgd(0.1f, 0.0f);
    recur_model *c = tiny_linear(&plain, 2, linear2_init);
    CU_ASSERT_FATAL(ok(recur_model_save(c, path)));
    FILE *f = fopen(path, "rb");
    unsigned char v5[512], old[4][512];
    const size_t n5 = fread(v5, 1, sizeof v5, f), opt_at = 8 + 4 + 4 + 4 + 8 + 4 + 20;
    const size_t v4_at = opt_at + 4, clip_at = opt_at + 4 + 4 + 24 + 4; /* in version 2's layout */
    const size_t ranks_at = 152;
    fclose(f);
    CU_ASSERT_FATAL(n5 > ranks_at + 40 && n5 < sizeof v5);
    CU_ASSERT_FATAL(get_le32(v5 + ranks_at) == 1 && get_le32(v5 + ranks_at + 4) == 3); /* nparams */
    const size_t n[4] = {n5 - 40, n5 - 32, n5 - 28, n5 - 4}; /* versions 1 to 4 */
    memcpy(old[3], v5, ranks_at);
    memcpy(old[3] + ranks_at, v5 + ranks_at + 4, n[3] - ranks_at);
    memcpy(old[2], old[3], v4_at);
    memcpy(old[2] + v4_at, old[3] + v4_at + 24, n[2] - v4_at);
    memcpy(old[1], old[2], opt_at);
    memcpy(old[1] + opt_at, old[2] + opt_at + 4, n[1] - opt_at);
    memcpy(old[0], old[1], clip_at);
    memcpy(old[0] + clip_at, old[1] + clip_at + 8, n[0] - clip_at);
    for (int v = 0; v < 4; v++) {
        put_le32(old[v] + 8, (uint32_t)v + 1);
        put_le32(old[v] + n[v] - 4, (uint32_t)crc32(0L, old[v], (uInt)(n[v] - 4)));
        write_bytes(path, old[v], n[v]);
        CU_ASSERT_FATAL(ok(recur_model_load(&b, path)));
        CU_ASSERT(memcmp(recur_model_params(b, NULL), recur_model_params(c, NULL),
                         3 * sizeof(float)) == 0);
        CU_ASSERT(ok(recur_model_save(b, path)));
        f = fopen(path, "rb");
        unsigned char again[512];
        CU_ASSERT(fread(again, 1, sizeof again, f) == n5 && memcmp(again, v5, n5) == 0);
        fclose(f);
        recur_model_destroy(b);
    }

    /* a process count of 0 is refused */
    memcpy(old[0], v5, n5);
    put_le32(old[0] + ranks_at, 0);
    put_le32(old[0] + n5 - 4, (uint32_t)crc32(0L, old[0], (uInt)(n5 - 4)));
    write_bytes(path, old[0], n5);
    CU_ASSERT_EQUAL(recur_model_load(&b, path), RECUR_ERR_FORMAT);
    CU_ASSERT(mentions("trained on 0 processes"));

    put_le32(v5 + 8, 6);
    put_le32(v5 + n5 - 4, (uint32_t)crc32(0L, v5, (uInt)(n5 - 4)));
    write_bytes(path, v5, n5);
    CU_ASSERT_EQUAL(recur_model_load(&b, path), RECUR_ERR_FORMAT);
    CU_ASSERT(mentions("version 6"));
    unlink(path);
    recur_model_destroy(a), recur_model_destroy(c);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("model", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_sparse_crossentropy_keras_example);
    ADD_TEST(s, test_fused_loss_matches_probability_loss);
    ADD_TEST(s, test_adam_with_decay_matches_hand_computation);
    ADD_TEST(s, test_sgd_momentum_matches_hand_computation);
    ADD_TEST(s, test_layer_gradients_match_finite_differences);
    ADD_TEST(s, test_gradient_callback_ranges_and_values);
    ADD_TEST(s, test_summary_of_tutorial);
    ADD_TEST(s, test_summary_of_gru_and_simple_rnn);
    ADD_TEST(s, test_spec_errors);
    ADD_TEST(s, test_call_order_and_arguments);
    ADD_TEST(s, test_labels_validated);
    ADD_TEST(s, test_nonfinite_data_refused);
    ADD_TEST(s, test_fit_learns_and_reports_history);
    ADD_TEST(s, test_save_load_predicts_identically_and_resumes);
    ADD_TEST(s, test_clipping_matches_hand_computation);
    ADD_TEST(s, test_checkpoint_from_callback_resumes_exactly);
    ADD_TEST(s, test_recurrent_kinds_threads_and_files);
    ADD_TEST(s, test_inference_forward_matches_training_forward);
    ADD_TEST(s, test_predict_reuses_packing_within_a_call);
    ADD_TEST(s, test_nonfinite_loss_stops_fit_with_last_good_weights);
    ADD_TEST(s, test_nonfinite_gradient_is_not_applied);
    ADD_TEST(s, test_file_versions);
    return test_main_run();
}
