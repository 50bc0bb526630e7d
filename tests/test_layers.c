/* The Embedding and Masking layers: forward by hand, gradients against finite
 * differences, the sparse embedding gradient, masks through the recurrent
 * layers, files, errors, threads. Public header only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <recur.h>

#include "modeltest.h"

static recur_model *build(int T, int F, const char *spec, recur_loss loss, uint64_t seed) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, seed)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, spec)));
    recur_optimizer sgd = recur_sgd(0.1f, 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &sgd, loss)));
    return m;
}

static void tmp_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/recur_test_layers_%d_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid(), name);
}

/* ---- Embedding forward by hand -------------------------------------------- */

/* T = 1: the model's output is the embedding itself */
static void test_embedding_forward_picks_rows(void) {
    recur_model *m = build(1, 1, "embedding:5:3", RECUR_LOSS_MSE, 1);
    size_t n;
    float *E = recur_model_params(m, &n);
    CU_ASSERT_FATAL(n == 15);
    for (int k = 0; k < 15; k++) {
        CU_ASSERT(E[k] >= -0.05f && E[k] < 0.05f); /* Keras's uniform(-0.05, 0.05) */
        E[k] = (float)k + 0.5f;
    }
    const int32_t ids[4] = {3, 0, 4, 3};
    float out[4 * 3];
    CU_ASSERT_FATAL(ok(recur_model_predict_ids(m, ids, 4, 3, out)));
    for (int s = 0; s < 4; s++)
        for (int j = 0; j < 3; j++) CU_ASSERT_EQUAL(out[s * 3 + j], E[ids[s] * 3 + j]);
    CU_ASSERT(recur_model_takes_ids(m));
    recur_model_destroy(m);

    /* every step's row: a relu SimpleRNN with W = U = I, b = 0 sums positive
     * inputs, h_T = E[a] + E[b] + E[c] */
    m = build(3, 1, "embedding:5:2,rnn:2:relu", RECUR_LOSS_MSE, 2);
    float *p = recur_model_params(m, &n);
    CU_ASSERT_FATAL(n == 10 + 4 + 4 + 2);
    for (int k = 0; k < 10; k++) p[k] = 0.1f * (float)(k + 1);
    const float eye[4] = {1, 0, 0, 1};
    memcpy(p + 10, eye, sizeof eye), memcpy(p + 14, eye, sizeof eye);
    p[18] = p[19] = 0;
    const int32_t seq[2 * 3] = {1, 4, 2, 0, 0, 3};
    float h[2 * 2];
    CU_ASSERT_FATAL(ok(recur_model_predict_ids(m, seq, 2, 2, h)));
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 2; j++) {
            double want = 0;
            for (int t = 0; t < 3; t++) want += p[seq[s * 3 + t] * 2 + j];
            CU_ASSERT_DOUBLE_EQUAL(h[s * 2 + j], want, 1e-6);
        }
    recur_model_destroy(m);
}

/* ---- gradients against finite differences ------------------------------- */

/* Central differences of the loss over every parameter against the model's
 * gradient; worst error relative to the difference's size. x or ids. */
static double fd_check(recur_model *m, const float *x, const int32_t *ids, const float *y, int N) {
    return fd_worst(m, x, ids, y, (size_t)N, 1, 2e-3f);
}

/* spreads the weights (no unit at a ReLU kink, an embedding bigger than its
 * 0.05 start) */
static void spread(recur_model *m, test_rng *r) {
    size_t n;
    float *p = recur_model_params(m, &n);
    for (size_t k = 0; k < n; k++) p[k] += (float)rng_uniform(r, -0.3, 0.3);
}

/* ids 1..4 only: rows 0, 5 and 6 of the table get exactly zero gradient */
static void test_embedding_gradient(void) {
    enum { T = 4, N = 5, V = 7, D = 3 };
    static const char *const specs[] = {"embedding:7:3,lstm:4,dense:3:softmax",
                                        "embedding:7:3,gru:4:seq,rnn:3,dense:3:softmax"};
    for (int c = 0; c < 2; c++) {
        recur_model *m =
            build(T, 1, specs[c], RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 10 + (uint64_t)c);
        test_rng r = {20 + (uint64_t)c};
        spread(m, &r);
        int32_t ids[N * T];
        float y[N];
        for (int k = 0; k < N * T; k++) ids[k] = 1 + (int32_t)(rng_next(&r) % 4);
        for (int k = 0; k < N; k++) y[k] = (float)(k % 3);
        double e = fd_check(m, NULL, ids, y, N);
        if (!(e < 2e-2)) printf("\n    %s: worst relative error %.3g", specs[c], e);
        CU_ASSERT(e < 2e-2);
        const float *g = recur_model_gradients(m, NULL);
        for (int v = 0; v < V; v++) {
            double norm = 0;
            for (int j = 0; j < D; j++) norm += fabs(g[v * D + j]);
            CU_ASSERT(v == 0 || v > 4 ? norm == 0.0 : norm > 0);
        }
        recur_model_destroy(m);
    }
}

/* A second compute_gradients on other ids leaves no row of the first: the
 * gradient equals a fresh model's bit for bit, also after the batch buffers
 * grow (a larger batch) in between. */
static void test_embedding_gradient_has_no_stale_rows(void) {
    enum { T = 4, D = 3 };
    const char *spec = "embedding:7:3,lstm:4,dense:3:softmax";
    const recur_loss sce = RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    recur_model *m = build(T, 1, spec, sce, 3), *fresh = build(T, 1, spec, sce, 3);
    test_rng r = {5};
    spread(m, &r);
    size_t n;
    const float *p = recur_model_params(m, &n);
    memcpy(recur_model_params(fresh, NULL), p, n * sizeof(float));
    int32_t a[3 * T], b[3 * T], c[6 * T];
    float y[6] = {0, 1, 2, 2, 1, 0}, loss;
    for (int k = 0; k < 3 * T; k++) a[k] = 1 + k % 3, b[k] = 4 + (k / 2) % 2;
    for (int k = 0; k < 6 * T; k++) c[k] = k % 2 ? 6 : 0;
    float *want = malloc(n * sizeof(float));
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(fresh, b, y, 3, 1, &loss)));
    memcpy(want, recur_model_gradients(fresh, NULL), n * sizeof(float));
    for (int v = 1; v <= 3; v++)
        for (int j = 0; j < D; j++) CU_ASSERT_EQUAL(want[v * D + j], 0.0f);

    CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(m, a, y, 3, 1, &loss)));
    const float *g = recur_model_gradients(m, NULL);
    CU_ASSERT(g[1 * D] != 0.0f && g[4 * D] == 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(m, b, y, 3, 1, &loss)));
    CU_ASSERT(memcmp(g, want, n * sizeof(float)) == 0);
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(m, a, y, 3, 1, &loss)));
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(m, c, y, 6, 1, &loss))); /* grows */
    CU_ASSERT(g[0] != 0.0f && g[6 * D] != 0.0f && g[1 * D] == 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(m, b, y, 3, 1, &loss)));
    CU_ASSERT(memcmp(g, want, n * sizeof(float)) == 0);
    free(want);
    recur_model_destroy(m), recur_model_destroy(fresh);
}

/* Masking mid-model (after Dropout, whose zeroed rows become masked steps)
 * and first; Embedding with mask_zero: every parameter against finite
 * differences. */
static void test_masking_gradients(void) {
    enum { T = 5, F = 3, N = 4 };
    const struct {
        const char *spec;
        int F;
    } cases[] = {{"masking:0.25,lstm:4,dense:3:softmax", F},
                 {"dense:2:tanh,dropout:0.6,masking:0,lstm:3:seq,gru:3,dense:3:softmax", F},
                 {"dense:3:tanh,masking:0.5,rnn:4,dense:3:softmax", F},
                 {"embedding:6:3:mask_zero,lstm:4:seq,dropout:0.2,rnn:3,dense:3:softmax", 1}};
    for (int c = 0; c < 4; c++) {
        recur_model *m = build(T, cases[c].F, cases[c].spec,
                               RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 30 + (uint64_t)c);
        test_rng r = {40 + (uint64_t)c};
        spread(m, &r);
        float x[N * T * F], y[N];
        int32_t ids[N * T];
        fill_uniform(&r, x, N * T * F, -1, 1);
        for (int k = 0; k < N * T; k++) ids[k] = (int32_t)(rng_next(&r) % 6);
        static const int at[N] = {0, 2, T - 1, 3};
        for (int s = 0; s < N; s++) { /* a masked step: first, last and in between */
            const int t = at[s];
            for (int j = 0; j < F; j++) x[(s * T + t) * F + j] = 0.25f;
            x[(s * T + (t + 2) % T) * F] = 0.25f; /* one feature only: not masked */
            ids[s * T + t] = 0;
            y[s] = (float)(s % 3);
        }
        double e = cases[c].F == 1 ? fd_check(m, NULL, ids, y, N) : fd_check(m, x, NULL, y, N);
        if (!(e < 2e-2)) printf("\n    %s: worst relative error %.3g", cases[c].spec, e);
        CU_ASSERT(e < 2e-2);
        recur_model_destroy(m);
    }
}

/* ---- Masking forward ----------------------------------------------------- */

static void test_masking_forward(void) {
    /* T = 1: the output is the step, zeroed when every feature is the value */
    recur_model *m = build(1, 2, "masking:0.5", RECUR_LOSS_MSE, 1);
    const float x[4 * 2] = {0.5f, 0.5f, 0.5f, 1.0f, 1.0f, 0.5f, -2.0f, 3.0f};
    float out[4 * 2];
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, 4, 4, out)));
    for (int k = 0; k < 8; k++) CU_ASSERT_EQUAL(out[k], k < 2 ? 0.0f : x[k]);
    CU_ASSERT(!recur_model_takes_ids(m));
    recur_model_destroy(m);

    /* The mask reaches the SimpleRNN: relu, W = I, U = 2I, b = 0. A masked
     * step carries h through; a zero input would double it instead. */
    m = build(3, 2, "masking:0.5,rnn:2:relu", RECUR_LOSS_MSE, 1);
    float *p = recur_model_params(m, NULL);
    const float w[10] = {1, 0, 0, 1, 2, 0, 0, 2, 0, 0};
    memcpy(p, w, sizeof w);
    const float seq[3 * 2] = {1, 2, 0.5f, 0.5f, 3, 1};
    float h[2];
    CU_ASSERT_FATAL(ok(recur_model_predict(m, seq, 1, 1, h)));
    CU_ASSERT_DOUBLE_EQUAL(h[0], 5.0, 1e-6); /* 3 + 2 * 1, not 3 + 4 * 1 */
    CU_ASSERT_DOUBLE_EQUAL(h[1], 5.0, 1e-6); /* 1 + 2 * 2, not 1 + 4 * 2 */
    recur_model_destroy(m);

    /* Embedding mask_zero the same way: ids 1, 0, 2 -> E[2] + 2 E[1] */
    m = build(3, 1, "embedding:3:2:mask_zero,rnn:2:relu", RECUR_LOSS_MSE, 1);
    p = recur_model_params(m, NULL);
    const float e[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    memcpy(p, e, sizeof e), memcpy(p + 6, w, sizeof w);
    const int32_t ids[3] = {1, 0, 2};
    CU_ASSERT_FATAL(ok(recur_model_predict_ids(m, ids, 1, 1, h)));
    CU_ASSERT_DOUBLE_EQUAL(h[0], 0.5 + 2 * 0.3, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(h[1], 0.6 + 2 * 0.4, 1e-6);
    recur_model_destroy(m);
}

/* ---- Masks through the recurrent layers: padding changes nothing -------- */

/* Keras: a masked step carries the states, the output is the last valid
 * step's. So a sample padded with masked steps at the end or the start gives
 * the unpadded sample's prediction (and gradient), for each recurrent kind and
 * through a return_sequences layer. Model u has T = 3, model p T = 6 with the
 * same weights (no weight depends on T); p's batch mixes right, left and
 * split padding. */
static void test_padding_changes_nothing(void) {
    enum { TU = 3, TP = 6, F = 2, N = 4 };
    static const char *const specs[] = {"lstm:4,dense:3:softmax", "gru:4,dense:3:softmax",
                                        "rnn:4,dense:3:softmax",
                                        "lstm:4:seq,dropout:0.3,gru:3,dense:3:softmax"};
    for (int c = 0; c < 8; c++) {
        const int tokens = c >= 4;
        char spec[128];
        snprintf(spec, sizeof spec, "%s,%s", tokens ? "embedding:9:2:mask_zero" : "masking:0",
                 specs[c % 4]);
        const recur_loss sce = RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
        recur_model *u = build(TU, tokens ? 1 : F, spec, sce, 7),
                    *p = build(TP, tokens ? 1 : F, spec, sce, 7);
        test_rng r = {50 + (uint64_t)c};
        spread(u, &r);
        size_t n;
        const float *w = recur_model_params(u, &n);
        memcpy(recur_model_params(p, NULL), w, n * sizeof(float));
        const int f = tokens ? 1 : F;
        float xu[N * TU * F], xp[N * TP * F] = {0}, y[N] = {0, 1, 2, 1};
        int32_t iu[N * TU], ip[N * TP] = {0};
        fill_uniform(&r, xu, N * TU * F, -1, 1);
        for (int k = 0; k < N * TU; k++) iu[k] = 1 + (int32_t)(rng_next(&r) % 8);
        static const int lead[N] = {0, 3, 1, 2}; /* masked steps before the sample's */
        for (int s = 0; s < N; s++)
            for (int t = 0; t < TU; t++) {
                ip[s * TP + lead[s] + t] = iu[s * TU + t];
                memcpy(xp + (s * TP + lead[s] + t) * f, xu + (s * TU + t) * f,
                       (size_t)f * sizeof(float));
            }
        float pu[N * 3], pp[N * 3], lu, lp;
        CU_ASSERT_FATAL(ok(tokens ? recur_model_predict_ids(u, iu, N, N, pu)
                                  : recur_model_predict(u, xu, N, N, pu)));
        CU_ASSERT_FATAL(ok(tokens ? recur_model_predict_ids(p, ip, N, N, pp)
                                  : recur_model_predict(p, xp, N, N, pp)));
        double worst = 0;
        for (int k = 0; k < N * 3; k++) worst = fmax(worst, fabs(pu[k] - pp[k]));
        if (!(worst < 1e-5)) printf("\n    %s: padded predictions differ by %.3g", spec, worst);
        CU_ASSERT(worst < 1e-5);
        CU_ASSERT_FATAL(ok(tokens ? recur_model_compute_gradients_ids(u, iu, y, N, 0, &lu)
                                  : recur_model_compute_gradients(u, xu, y, N, 0, &lu)));
        CU_ASSERT_FATAL(ok(tokens ? recur_model_compute_gradients_ids(p, ip, y, N, 0, &lp)
                                  : recur_model_compute_gradients(p, xp, y, N, 0, &lp)));
        CU_ASSERT_DOUBLE_EQUAL(lu, lp, 1e-5);
        const float *gu = recur_model_gradients(u, NULL), *gp = recur_model_gradients(p, NULL);
        double *want = malloc(n * sizeof(double));
        for (size_t k = 0; k < n; k++) want[k] = gu[k];
        double e = rel_err_f64(gp, want, n, 1e-3);
        if (!(e < 1e-4)) printf("\n    %s: padded gradients differ by %.3g", spec, e);
        CU_ASSERT(e < 1e-4);
        free(want);
        recur_model_destroy(u), recur_model_destroy(p);
    }
}

/* ---- files, summary --------------------------------------------------------- */

static void test_save_load_and_summary(void) {
    enum { T = 5, N = 6 };
    const struct {
        const char *spec;
        int F;
        const char *row;
    } cases[] = {{"embedding:50:8:mask_zero,lstm:4,dense:3:softmax", 1,
                  "embedding (Embedding)        (None, 5, 8)              400       \n"},
                 {"masking:-1,gru:4:seq,masking:0.5,rnn:3,dense:3:softmax", 2,
                  "masking_1 (Masking)          (None, 5, 4)              0         \n"}};
    for (int c = 0; c < 2; c++) {
        recur_model *a = build(T, cases[c].F, cases[c].spec,
                               RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 60 + (uint64_t)c),
                    *b;
        char sa[2048], sb[2048], path[256];
        recur_model_summary(a, sa, sizeof sa);
        if (!strstr(sa, cases[c].row)) printf("\n    no row \"%s\" in\n%s", cases[c].row, sa);
        CU_ASSERT(strstr(sa, cases[c].row) != NULL);
        tmp_path(path, sizeof path, "model.bin");
        CU_ASSERT_FATAL(ok(recur_model_save(a, path)));
        CU_ASSERT_FATAL(ok(recur_model_load(&b, path)));
        unlink(path);
        recur_model_summary(b, sb, sizeof sb);
        CU_ASSERT_STRING_EQUAL(sa, sb);
        CU_ASSERT_EQUAL(recur_model_takes_ids(b), cases[c].F == 1);
        test_rng r = {70};
        float x[N * T * 2], pa[N * 3], pb[N * 3];
        int32_t ids[N * T];
        fill_uniform(&r, x, N * T * 2, -1, 1);
        for (int k = 0; k < N * T; k++) {
            ids[k] = k % 4 == 0 ? 0 : (int32_t)(rng_next(&r) % 50);
            if (k % 5 == 1) x[2 * k] = x[2 * k + 1] = -1.0f; /* masked by the first Masking */
        }
        if (cases[c].F == 1) {
            CU_ASSERT_FATAL(ok(recur_model_predict_ids(a, ids, N, 4, pa)));
            CU_ASSERT_FATAL(ok(recur_model_predict_ids(b, ids, N, 3, pb)));
            ids[7] = 50; /* the loaded model still knows input_dim */
            CU_ASSERT_EQUAL(recur_model_predict_ids(b, ids, N, 3, pb), RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(mentions("[0, 50)"));
        } else {
            CU_ASSERT_FATAL(ok(recur_model_predict(a, x, N, 4, pa)));
            CU_ASSERT_FATAL(ok(recur_model_predict(b, x, N, 3, pb)));
        }
        CU_ASSERT(memcmp(pa, pb, sizeof pa) == 0);
        recur_model_destroy(a), recur_model_destroy(b);
    }
}

/* ---- errors ------------------------------------------------------------------ */

/* Ids outside [0, input_dim) are refused by every call that takes them,
 * naming the sample and the step; floats and ids go to their own models. */
static void test_ids_checked(void) {
    enum { T = 4, N = 5 };
    recur_model *m = build(T, 1, "embedding:10:3,lstm:3,dense:2:softmax",
                           RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 1);
    int32_t ids[N * T], bad[N * T];
    float y[N] = {0, 1, 0, 1, 1}, x[N * T] = {0}, out[N * 2], loss, acc;
    for (int k = 0; k < N * T; k++) ids[k] = bad[k] = k % 10;
    recur_fit_options fo = recur_fit_defaults();
    fo.batch_size = 2;
    for (int v = 0; v < 2; v++) {
        bad[3 * T + 2] = v ? -1 : 10; /* sample 3, step 2 */
        CU_ASSERT_EQUAL(recur_model_fit_ids(m, bad, y, N, &fo), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("sample 3") && mentions("step 2") && mentions(v ? "-1" : "10"));
        CU_ASSERT_EQUAL(recur_model_evaluate_ids(m, bad, y, N, 2, &loss, &acc),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("sample 3") && mentions("step 2"));
        CU_ASSERT_EQUAL(recur_model_predict_ids(m, bad, N, 2, out), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("sample 3") && mentions("step 2"));
        CU_ASSERT_EQUAL(recur_model_compute_gradients_ids(m, bad, y, N, 1, &loss),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("sample 3") && mentions("step 2"));
        fo.val_ids = bad, fo.val_y = y, fo.val_n = N;
        CU_ASSERT_EQUAL(recur_model_fit_ids(m, ids, y, N, &fo), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("validation data") && mentions("sample 3") && mentions("step 2"));
        fo.val_ids = NULL, fo.val_y = NULL, fo.val_n = 0;
    }
    CU_ASSERT(ok(recur_model_fit_ids(m, ids, y, N, &fo)));
    CU_ASSERT(ok(recur_model_evaluate_ids(m, ids, y, N, 3, &loss, &acc)));
    /* a token model refuses floats */
    CU_ASSERT_EQUAL(recur_model_fit(m, x, y, N, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("token ids"));
    CU_ASSERT_EQUAL(recur_model_evaluate(m, x, y, N, 2, &loss, &acc), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_predict(m, x, N, 2, out), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("*_ids"));
    CU_ASSERT_EQUAL(recur_model_compute_gradients(m, x, y, N, 1, &loss),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_predict_ids(m, NULL, N, 2, out), RECUR_ERR_NULL_POINTER);
    recur_model_destroy(m);

    /* a float model refuses ids */
    m = build(T, 1, "lstm:3,dense:2:softmax", RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 1);
    CU_ASSERT(!recur_model_takes_ids(m));
    CU_ASSERT_EQUAL(recur_model_fit_ids(m, ids, y, N, &fo), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("float features"));
    CU_ASSERT_EQUAL(recur_model_evaluate_ids(m, ids, y, N, 2, &loss, &acc),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_predict_ids(m, ids, N, 2, out), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_compute_gradients_ids(m, ids, y, N, 1, &loss),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("float features"));
    CU_ASSERT(ok(recur_model_predict(m, x, N, 2, out)));
    recur_model_destroy(m);
}

static void test_bad_specs_and_arguments(void) {
    const struct {
        int F;
        const char *spec, *needle;
    } bad[] = {{1, "lstm:4:seq,embedding:5:3", "first layer"},
               {1, "masking,embedding:5:3", "first layer"},
               {3, "embedding:5:3", "features = 1"},
               {1, "embedding:0:3", "input_dim '0'"},
               {1, "embedding:5:0", "output_dim '0'"},
               {1, "embedding:5", "INPUT_DIM:OUTPUT_DIM"},
               {1, "embedding:5:3:mask", "'mask' is not mask_zero"},
               {1, "embedding:x:3", "input_dim 'x'"},
               {2, "masking:abc", "'abc'"},
               {2, "masking:nan", "finite"},
               {2, "masking:1:2", "masking[:VALUE]"},
               {2, "lstm:3,masking", "sequence"},
               {1, "embedding:5:3,lstm:abc", "item 2"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, 4, bad[k].F, 1)));
        CU_ASSERT_EQUAL(recur_model_add_layers(m, bad[k].spec), RECUR_ERR_INVALID_ARGUMENT);
        if (!mentions(bad[k].needle)) printf(" (spec %s)", bad[k].spec);
        /* all or nothing: an Embedding of a failed spec does not stay */
        CU_ASSERT(recur_model_param_count(m) == 0 && !recur_model_takes_ids(m));
        recur_model_destroy(m);
    }
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 4, 1, 1)));
    CU_ASSERT_EQUAL(recur_model_add_embedding(NULL, 5, 3, 0), RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(recur_model_add_embedding(m, 0, 3, 0), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("input_dim"));
    CU_ASSERT_EQUAL(recur_model_add_embedding(m, 5, -3, 0), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_add_masking(m, NAN), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("mask_value"));
    CU_ASSERT(!recur_model_takes_ids(m));
    CU_ASSERT(ok(recur_model_add_embedding(m, 5, 3, 1)));
    CU_ASSERT(recur_model_takes_ids(m));
    CU_ASSERT_EQUAL(recur_model_add_embedding(m, 5, 3, 0), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("first layer"));
    CU_ASSERT(ok(recur_model_add_masking(m, 0.0f)));
    CU_ASSERT_EQUAL(recur_model_param_count(m), 15u);
    recur_model_destroy(m);
}

/* ---- threads ----------------------------------------------------------------- */

/* A token model's loss and gradient, bit for bit, on 1 and 2 threads (a batch
 * big enough for the embedding's parallel loops) */
static void test_token_gradients_thread_independent(void) {
    enum { T = 16, N = 64, V = 50 };
    recur_model *m = build(T, 1, "embedding:50:128:mask_zero,lstm:8,dense:3:softmax",
                           RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 9);
    test_rng r = {90};
    int32_t *ids = malloc(sizeof(int32_t) * N * T);
    float y[N], loss[2];
    for (int k = 0; k < N * T; k++) ids[k] = (int32_t)(rng_next(&r) % V);
    for (int k = 0; k < N; k++) y[k] = (float)(k % 3);
    size_t n;
    recur_model_params(m, &n);
    float *g[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    for (int k = 0; k < 2; k++) {
        recur_set_num_threads(k + 1);
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients_ids(m, ids, y, N, 1, &loss[k])));
        memcpy(g[k], recur_model_gradients(m, NULL), n * sizeof(float));
    }
    recur_set_num_threads(0);
    CU_ASSERT(memcmp(&loss[0], &loss[1], sizeof(float)) == 0);
    CU_ASSERT(memcmp(g[0], g[1], n * sizeof(float)) == 0);
    free(g[0]), free(g[1]), free(ids);
    recur_model_destroy(m);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("layers", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_embedding_forward_picks_rows);
    ADD_TEST(s, test_embedding_gradient);
    ADD_TEST(s, test_embedding_gradient_has_no_stale_rows);
    ADD_TEST(s, test_masking_forward);
    ADD_TEST(s, test_masking_gradients);
    ADD_TEST(s, test_padding_changes_nothing);
    ADD_TEST(s, test_save_load_and_summary);
    ADD_TEST(s, test_ids_checked);
    ADD_TEST(s, test_bad_specs_and_arguments);
    ADD_TEST(s, test_token_gradients_thread_independent);
    return test_main_run();
}
