/* go_backwards and Bidirectional: outputs against single-direction models
 * with the same weights, gradients against finite differences, masks, the
 * summary, files, thread counts. Public header only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <recur.h>

#include "../examples/cells/cells.h"
#include "modeltest.h"

static const char *const merges[] = {"concat", "sum", "mul", "ave"};

/* a compiled MSE model of spec on T x F samples, with the example cells
 * lstm_cell and peephole_lstm registered */
static recur_model *model_of(int T, int F, const char *spec, uint64_t seed) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, F, seed)));
    CU_ASSERT_FATAL(ok(recur_model_register_cell(m, &cell_lstm)));
    CU_ASSERT_FATAL(ok(recur_model_register_cell(m, &cell_peephole)));
    if (!ok(recur_model_add_layers(m, spec))) printf("\n    spec %s", spec);
    recur_optimizer sgd = recur_sgd(0.05f, 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &sgd, RECUR_LOSS_MSE)));
    return m;
}

/* dst[n][t] = src[n][T-1-t], steps of F floats */
static void reverse_samples(float *dst, const float *src, int N, int T, int F) {
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            memcpy(dst + ((size_t)n * T + t) * F, src + ((size_t)n * T + (T - 1 - t)) * F,
                   (size_t)F * sizeof(float));
}

static int same_floats(const float *a, const float *b, size_t n, const char *what) {
    for (size_t k = 0; k < n; k++)
        if (a[k] != b[k]) {
            printf("\n    %s: element %zu is %.9g, expected %.9g", what, k, (double)a[k],
                   (double)b[k]);
            return 0;
        }
    return 1;
}

/* ---- go_backwards -------------------------------------------------------- */

static const char *const kinds[] = {"lstm:4", "gru:4", "gru:4:relu:reset_after=0", "rnn:4"};

/* A go_backwards layer on x is the same layer on x reversed in time: the
 * same sequence output (which comes out in reversed order), the same last
 * output. */
static void test_go_backwards_reads_the_reversed_sequence(void) {
    enum { N = 6, T = 5, F = 3, U = 4 };
    test_rng r = {11};
    float x[N * T * F], xr[N * T * F], ya[N * T * U], yb[N * T * U];
    fill_uniform(&r, x, N * T * F, -1, 1);
    reverse_samples(xr, x, N, T, F);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (int seq = 0; seq < 2; seq++) {
            char sa[64], sb[64];
            snprintf(sb, sizeof sb, "%s%s,dense:2", kinds[k], seq ? ":seq" : "");
            snprintf(sa, sizeof sa, "%s%s:backwards,dense:2", kinds[k], seq ? ":seq" : "");
            recur_model *a = model_of(T, F, sa, 3), *b = model_of(T, F, sb, 4);
            size_t na, nb;
            float *pa = recur_model_params(a, &na), *pb = recur_model_params(b, &nb);
            CU_ASSERT_FATAL(na == nb);
            memcpy(pb, pa, na * sizeof(float));
            const int S = seq ? T : 1;
            CU_ASSERT_FATAL(ok(recur_model_predict(a, x, N, 4, ya)));
            CU_ASSERT_FATAL(ok(recur_model_predict(b, xr, N, 4, yb)));
            CU_ASSERT(same_floats(ya, yb, (size_t)N * S * 2, sa));
            /* and not the same layer on x */
            CU_ASSERT_FATAL(ok(recur_model_predict(b, x, N, 4, yb)));
            CU_ASSERT(memcmp(ya, yb, sizeof(float) * N * S * 2) != 0);
            recur_model_destroy(a), recur_model_destroy(b);
        }
}

/* ---- gradients against finite differences -------------------------------- */

/* Central differences of the MSE loss against the model's backward for every
 * parameter (as test_model.c's grad_check); x NULL: uniform in [-1, 1). eps
 * 4e-3, not 2e-3: the float loss (about 1) then moves by some hundred ulps,
 * not a few dozen (2e-3 gave 2.03e-2 on a smooth GRU from rounding alone). */
static double grad_check(int T, int F, const char *spec, const float *xin, uint64_t seed) {
    enum { N = 5 };
    recur_model *m = model_of(T, F, spec, seed);
    test_rng r = {seed};
    const int C = recur_model_output_size(m);
    float *x = malloc(sizeof(float) * N * T * F), *y = malloc(sizeof(float) * N * C);
    if (xin)
        memcpy(x, xin, sizeof(float) * N * T * F);
    else
        fill_uniform(&r, x, (size_t)N * T * F, -1, 1);
    fill_uniform(&r, y, (size_t)N * C, -1, 1);
    size_t n;
    float *p = recur_model_params(m, &n);
    for (size_t k = 0; k < n; k++) p[k] += (float)rng_uniform(&r, -0.3, 0.3);
    const double worst = fd_worst(m, x, NULL, y, N, 1, 4e-3f);
    free(x), free(y);
    recur_model_destroy(m);
    return worst;
}

static void check_grads(int T, int F, const char *spec, const float *x, uint64_t seed) {
    const double e = grad_check(T, F, spec, x, seed);
    if (!(e < 2e-2)) printf("\n    %s: worst relative error %.3g", spec, e);
    CU_ASSERT(e < 2e-2);
}

static void test_go_backwards_gradients(void) {
    check_grads(4, 3, "lstm:4:seq:backwards,gru:3:backwards,dense:2", NULL, 21);
    check_grads(4, 3, "dense:3:tanh,rnn:3:relu:seq:backwards,lstm:2:backwards", NULL, 22);
    check_grads(4, 3, "gru:3:seq:backwards:reset_after=0,rnn:2:backwards", NULL, 23);
}

/* every merge mode, each built-in kind inside, return_sequences on and off,
 * with a layer before (so dLoss/d(input) is checked) and after; tanh inside,
 * as a ReLU's kink within eps of a pre-activation spoils a difference */
static void test_bidirectional_gradients(void) {
    static const char *const inner[] = {"lstm:3", "gru:3", "gru:3:reset_after=0", "rnn:3"};
    uint64_t seed = 40;
    for (size_t k = 0; k < sizeof inner / sizeof *inner; k++)
        for (int mg = 0; mg < 4; mg++)
            for (int seq = 0; seq < 2; seq++) {
                char spec[128];
                snprintf(spec, sizeof spec, "dense:3:tanh,bidirectional:%s%s:merge=%s,%s", inner[k],
                         seq ? ":seq" : "", merges[mg], seq ? "rnn:2" : "dense:2");
                check_grads(4, 3, spec, NULL, seed++);
            }
    /* the wrapped layer going backwards swaps the copies' directions */
    check_grads(4, 3, "bidirectional:lstm:3:seq:backwards:merge=mul,gru:2", NULL, seed++);
}

/* ---- outputs by hand ----------------------------------------------------- */

/* y [N][S][C] of model m on x */
static float *predict(recur_model *m, const float *x, int N, int S) {
    float *y = malloc(sizeof(float) * (size_t)N * S * recur_model_output_size(m));
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, (size_t)N, 3, y)));
    return y;
}

/* the merge of a forward and a backward row of U */
static float merged(int mode, float f, float b) {
    return mode == 1 ? f + b : mode == 2 ? f * b : (f + b) * 0.5f;
}

/* Bidirectional's output by hand from two single-direction models holding its
 * forward and backward weights: [y_f | y_b], y_f + y_b, y_f * y_b, (y_f +
 * y_b) / 2, y_b flipped back into time order. A last rnn reads the sequence
 * outputs whole. */
static void test_merge_modes_by_hand(void) {
    enum { N = 5, T = 6, F = 3, U = 3 };
    static const char *const inner[] = {"lstm:3", "gru:3", "rnn:3"};
    test_rng r = {5};
    float x[N * T * F];
    fill_uniform(&r, x, N * T * F, -1, 1);
    for (size_t k = 0; k < sizeof inner / sizeof *inner; k++)
        for (int mg = 0; mg < 4; mg++)
            for (int seq = 0; seq < 2; seq++)
                for (int swap = 0; swap < 2; swap++) { /* swap: the wrapped layer goes backwards */
                    char sbi[96], sf[64], sb[64];
                    const char *sq = seq ? ":seq" : "";
                    snprintf(sbi, sizeof sbi, "bidirectional:%s%s%s:merge=%s", inner[k], sq,
                             swap ? ":backwards" : "", merges[mg]);
                    snprintf(sf, sizeof sf, "%s%s%s", inner[k], sq, swap ? ":backwards" : "");
                    snprintf(sb, sizeof sb, "%s%s%s", inner[k], sq, swap ? "" : ":backwards");
                    recur_model *bi = model_of(T, F, sbi, 7), *mf = model_of(T, F, sf, 8),
                                *mb = model_of(T, F, sb, 9);
                    size_t n, nf, nb;
                    float *p = recur_model_params(bi, &n), *pf = recur_model_params(mf, &nf),
                          *pb = recur_model_params(mb, &nb);
                    CU_ASSERT_FATAL(n == 2 * nf && nf == nb);
                    memcpy(pf, p, nf * sizeof(float));
                    memcpy(pb, p + nf, nb * sizeof(float));
                    const int S = seq ? T : 1, C = mg ? U : 2 * U;
                    CU_ASSERT_FATAL(recur_model_output_size(bi) == C);
                    float *y = predict(bi, x, N, S), *yf = predict(mf, x, N, S),
                          *yb = predict(mb, x, N, S);
                    int bad = 0;
                    for (int s = 0; s < N; s++)
                        for (int t = 0; t < S; t++)
                            for (int j = 0; j < U; j++) {
                                const float f = yf[((size_t)s * S + t) * U + j];
                                const float b = yb[((size_t)s * S + (S - 1 - t)) * U + j];
                                const float *row = y + ((size_t)s * S + t) * C;
                                if (mg == 0)
                                    bad += row[j] != f || row[U + j] != b;
                                else
                                    bad += row[j] != merged(mg, f, b);
                            }
                    if (bad) printf("\n    %s: %d outputs differ", sbi, bad);
                    CU_ASSERT(bad == 0);
                    free(y), free(yf), free(yb);
                    recur_model_destroy(bi), recur_model_destroy(mf), recur_model_destroy(mb);
                }
}

/* Keras's initialisers for the forward copy, then the backward copy from the
 * same generator: the forward half is a lone layer's initial weights; the
 * API call and the spec build the same model. */
static void test_initial_weights_and_add_function(void) {
    enum { T = 4, F = 3 };
    recur_model *bi = model_of(T, F, "bidirectional:lstm:5:seq:merge=ave", 31);
    recur_model *one = model_of(T, F, "lstm:5:seq", 31);
    recur_model *api;
    CU_ASSERT_FATAL(ok(recur_model_create(&api, T, F, 31)));
    CU_ASSERT_FATAL(ok(recur_model_add_bidirectional(api, "lstm:5:seq", RECUR_MERGE_AVE)));
    recur_optimizer sgd = recur_sgd(0.05f, 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compile(api, &sgd, RECUR_LOSS_MSE)));
    size_t n, n1, na;
    const float *p = recur_model_params(bi, &n), *p1 = recur_model_params(one, &n1),
                *pa = recur_model_params(api, &na);
    CU_ASSERT_FATAL(n == 2 * n1 && na == n);
    CU_ASSERT(memcmp(p, p1, n1 * sizeof(float)) == 0);
    CU_ASSERT(memcmp(p, pa, n * sizeof(float)) == 0);
    /* the backward kernel is drawn afresh; both biases hold the forget gate's 1 */
    CU_ASSERT(memcmp(p, p + n1, 3 * 20 * sizeof(float)) != 0);
    for (int j = 0; j < 20; j++) {
        const float want = j >= 5 && j < 10 ? 1.0f : 0.0f;
        CU_ASSERT_EQUAL(p[n1 - 20 + j], want);
        CU_ASSERT_EQUAL(p[n - 20 + j], want);
    }
    recur_model_destroy(bi), recur_model_destroy(one), recur_model_destroy(api);
}

/* ---- masks ---------------------------------------------------------------- */

enum { MN = 6, MT = 6, MF = 3 };

/* x [MN][MT][MF] with masked (all-zero) steps: none, right padding, left
 * padding, holes, everything, the middle */
static void masked_input(float *x, uint64_t seed) {
    static const char *const pattern[MN] = {"111111", "111100", "001111",
                                            "101101", "000000", "110011"};
    test_rng r = {seed};
    fill_uniform(&r, x, MN * MT * MF, -1, 1);
    for (int s = 0; s < MN; s++)
        for (int t = 0; t < MT; t++)
            if (pattern[s][t] == '0') memset(x + ((size_t)s * MT + t) * MF, 0, MF * sizeof(float));
}

static int step_masked(const float *x, int s, int t) {
    const float *v = x + ((size_t)s * MT + t) * MF;
    return v[0] == 0 && v[1] == 0 && v[2] == 0;
}

/* go_backwards under a mask: still the layer on the reversed sequence (whose
 * mask is reversed with it) */
static void test_go_backwards_with_a_mask(void) {
    float x[MN * MT * MF], xr[MN * MT * MF], ya[MN * MT * 2], yb[MN * MT * 2];
    masked_input(x, 12);
    reverse_samples(xr, x, MN, MT, MF);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (int seq = 0; seq < 2; seq++) {
            char sa[80], sb[80];
            snprintf(sb, sizeof sb, "masking:0,%s%s,dense:2", kinds[k], seq ? ":seq" : "");
            snprintf(sa, sizeof sa, "masking:0,%s%s:backwards,dense:2", kinds[k],
                     seq ? ":seq" : "");
            recur_model *a = model_of(MT, MF, sa, 3), *b = model_of(MT, MF, sb, 4);
            size_t na, nb;
            float *pa = recur_model_params(a, &na), *pb = recur_model_params(b, &nb);
            CU_ASSERT_FATAL(na == nb);
            memcpy(pb, pa, na * sizeof(float));
            const int S = seq ? MT : 1;
            CU_ASSERT_FATAL(ok(recur_model_predict(a, x, MN, 4, ya)));
            CU_ASSERT_FATAL(ok(recur_model_predict(b, xr, MN, 4, yb)));
            CU_ASSERT(same_floats(ya, yb, (size_t)MN * S * 2, sa));
            recur_model_destroy(a), recur_model_destroy(b);
        }
}

/* Bidirectional under a mask, by hand from the two directions under the same
 * mask: the merge at valid steps, zeros at masked steps of a sequence output
 * (both copies output zeros there, as Keras's zero_output_for_mask), the
 * merged last outputs otherwise. */
static void test_masked_merge_by_hand(void) {
    enum { U = 3 };
    static const char *const inner[] = {"lstm:3", "gru:3", "rnn:3"};
    float x[MN * MT * MF];
    masked_input(x, 13);
    for (size_t k = 0; k < sizeof inner / sizeof *inner; k++)
        for (int mg = 0; mg < 4; mg++)
            for (int seq = 0; seq < 2; seq++) {
                char sbi[96], sf[64], sb[64];
                const char *sq = seq ? ":seq" : "";
                snprintf(sbi, sizeof sbi, "masking:0,bidirectional:%s%s:merge=%s", inner[k], sq,
                         merges[mg]);
                snprintf(sf, sizeof sf, "masking:0,%s%s", inner[k], sq);
                snprintf(sb, sizeof sb, "masking:0,%s%s:backwards", inner[k], sq);
                recur_model *bi = model_of(MT, MF, sbi, 7), *mf = model_of(MT, MF, sf, 8),
                            *mb = model_of(MT, MF, sb, 9);
                size_t n, nf, nb;
                float *p = recur_model_params(bi, &n), *pf = recur_model_params(mf, &nf),
                      *pb = recur_model_params(mb, &nb);
                CU_ASSERT_FATAL(n == 2 * nf && nf == nb);
                memcpy(pf, p, nf * sizeof(float));
                memcpy(pb, p + nf, nb * sizeof(float));
                const int S = seq ? MT : 1, C = mg ? U : 2 * U;
                float *y = predict(bi, x, MN, S), *yf = predict(mf, x, MN, S),
                      *yb = predict(mb, x, MN, S);
                int bad = 0, zeros = 0;
                for (int s = 0; s < MN; s++)
                    for (int t = 0; t < S; t++) {
                        const float *row = y + ((size_t)s * S + t) * C;
                        if (seq && step_masked(x, s, t)) {
                            for (int j = 0; j < C; j++) bad += row[j] != 0.0f;
                            zeros++;
                            continue;
                        }
                        for (int j = 0; j < U; j++) {
                            const float f = yf[((size_t)s * S + t) * U + j];
                            const float b = yb[((size_t)s * S + (S - 1 - t)) * U + j];
                            if (mg == 0)
                                bad += row[j] != f || row[U + j] != b;
                            else
                                bad += row[j] != merged(mg, f, b);
                        }
                    }
                if (bad) printf("\n    %s: %d outputs differ", sbi, bad);
                CU_ASSERT(bad == 0);
                CU_ASSERT(!seq || zeros == 14);
                free(y), free(yf), free(yb);
                recur_model_destroy(bi), recur_model_destroy(mf), recur_model_destroy(mb);
            }
}

/* As Keras: where the padding sits changes nothing, and a padded sample
 * gives what the unpadded one gives on a model of its own length; the
 * sequence output's mask reaches the layer after. */
static void test_padding_changes_nothing(void) {
    enum { L = 4, U = 2 };
    static const char *const places[] = {"111100", "001111", "101101", "110011"};
    static const char *const specs[] = {"masking:0,bidirectional:lstm:3:seq,lstm:2",
                                        "masking:0,bidirectional:gru:3:seq:merge=mul,rnn:2",
                                        "masking:0,bidirectional:rnn:3:merge=ave,dense:2"};
    test_rng r = {14};
    float v[L * MF], x[4 * MT * MF] = {0};
    fill_uniform(&r, v, L * MF, -1, 1);
    for (int s = 0; s < 4; s++)
        for (int t = 0, i = 0; t < MT; t++)
            if (places[s][t] == '1')
                memcpy(x + ((size_t)s * MT + t) * MF, v + (i++) * MF, sizeof(float) * MF);
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        recur_model *padded = model_of(MT, MF, specs[k], 5), *plain = model_of(L, MF, specs[k], 6);
        size_t n, n2;
        float *p = recur_model_params(padded, &n), *p2 = recur_model_params(plain, &n2);
        CU_ASSERT_FATAL(n == n2);
        memcpy(p2, p, n * sizeof(float));
        float y[4 * U], want[U];
        CU_ASSERT_FATAL(ok(recur_model_predict(padded, x, 4, 4, y)));
        CU_ASSERT_FATAL(ok(recur_model_predict(plain, v, 1, 1, want)));
        for (int s = 0; s < 4; s++)
            for (int j = 0; j < U; j++) {
                const int close = fabsf(y[s * U + j] - want[j]) < 1e-5f;
                if (!close)
                    printf("\n    %s, padding %s: %.7g, unpadded %.7g", specs[k], places[s],
                           (double)y[s * U + j], (double)want[j]);
                CU_ASSERT(close);
            }
        recur_model_destroy(padded), recur_model_destroy(plain);
    }
}

static void test_masked_gradients(void) {
    float x[MN * MT * MF];
    masked_input(x, 15);
    uint64_t seed = 70;
    for (int mg = 0; mg < 4; mg++) {
        char spec[96];
        snprintf(spec, sizeof spec, "masking:0,bidirectional:lstm:3:seq:merge=%s,gru:2",
                 merges[mg]);
        check_grads(MT, MF, spec, x, seed++);
        snprintf(spec, sizeof spec, "masking:0,bidirectional:gru:3:merge=%s,dense:2", merges[mg]);
        check_grads(MT, MF, spec, x, seed++);
    }
    check_grads(MT, MF, "masking:0,rnn:3:seq:backwards,lstm:2:backwards", x, seed++);
}

/* ---- custom cells inside ---------------------------------------------------- */

/* The example LSTM cell wrapped: the built-in LSTM's weights draw for draw
 * and its outputs; a cell with its own arrays (peephole weights) wrapped:
 * gradients against finite differences, and a file round trip. */
static void test_custom_cells_inside(void) {
    enum { N = 6, T = 5, F = 3 };
    for (int api = 0; api < 2; api++) {
        recur_model *a = model_of(T, F, "bidirectional:lstm:5:seq:merge=sum,lstm:2", 3), *b;
        CU_ASSERT_FATAL(ok(recur_model_create(&b, T, F, 3)));
        CU_ASSERT_FATAL(ok(recur_model_register_cell(b, &cell_lstm)));
        const char *spec = "bidirectional:cell:lstm_cell:5:seq:merge=sum,lstm:2";
        CU_ASSERT_FATAL(
            api ? ok(recur_model_add_bidirectional(b, "cell:lstm_cell:5:seq", RECUR_MERGE_SUM)) &&
                      ok(recur_model_add_lstm(b, 2, RECUR_ACT_TANH, 0))
                : ok(recur_model_add_layers(b, spec)));
        recur_optimizer sgd = recur_sgd(0.05f, 0.0f);
        CU_ASSERT_FATAL(ok(recur_model_compile(b, &sgd, RECUR_LOSS_MSE)));
        size_t na, nb;
        const float *pa = recur_model_params(a, &na), *pb = recur_model_params(b, &nb);
        CU_ASSERT_FATAL(na == nb);
        CU_ASSERT(memcmp(pa, pb, na * sizeof(float)) == 0);
        test_rng r = {8};
        float x[N * T * F], ya[N * 2], yb[N * 2];
        fill_uniform(&r, x, N * T * F, -1, 1);
        CU_ASSERT_FATAL(ok(recur_model_predict(a, x, N, 4, ya)));
        CU_ASSERT_FATAL(ok(recur_model_predict(b, x, N, 4, yb)));
        for (int k = 0; k < N * 2; k++) CU_ASSERT(fabsf(ya[k] - yb[k]) < 1e-5f);
        char s[1024];
        recur_model_summary(b, s, sizeof s);
        CU_ASSERT(
            strstr(s, "\nbidirectional (Bidirectional (None, 5, 5)              360       \n") !=
            NULL);
        recur_model_destroy(a), recur_model_destroy(b);
    }
    check_grads(4, 3, "dense:3:tanh,bidirectional:cell:peephole_lstm:3:seq:merge=mul,rnn:2", NULL,
                60);
    check_grads(4, 3, "bidirectional:cell:peephole_lstm:3:backwards,dense:2", NULL, 61);

    recur_model *m = model_of(T, F, "bidirectional:cell:peephole_lstm:4:seq,lstm:2", 9), *c;
    char path[64];
    snprintf(path, sizeof path, "/tmp/recur_test_bidi_cell_%d.bin", (int)getpid());
    CU_ASSERT_FATAL(ok(recur_model_save(m, path)));
    CU_ASSERT_EQUAL(recur_model_load(&c, path), RECUR_ERR_FORMAT);
    CU_ASSERT(mentions("peephole_lstm"));
    const recur_cell *cells[] = {&cell_peephole};
    CU_ASSERT_FATAL(ok(recur_model_load_with_cells(&c, path, cells, 1)));
    size_t n;
    const float *p = recur_model_params(m, &n);
    CU_ASSERT(memcmp(p, recur_model_params(c, NULL), n * sizeof(float)) == 0);
    test_rng r = {9};
    float x[N * T * F], ya[N * 2], yb[N * 2];
    fill_uniform(&r, x, N * T * F, -1, 1);
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, N, 4, ya)));
    CU_ASSERT_FATAL(ok(recur_model_predict(c, x, N, 5, yb)));
    CU_ASSERT(memcmp(ya, yb, sizeof ya) == 0);
    unlink(path);
    recur_model_destroy(m), recur_model_destroy(c);
}

/* ---- summary, errors ------------------------------------------------------ */

/* Keras: Bidirectional(LSTM(64, return_sequences=True)) on (None, 10, 8) is
 * (None, 10, 128) with 2 x 4 x (64 x (8 + 64) + 64) = 37376 parameters;
 * Bidirectional(GRU(32), merge_mode="sum") after it (None, 32) with 2 x 3 x
 * (32 x (128 + 32) + 2 x 32) = 31104. Keras cuts names that reach the next
 * column. */
static void test_summary_as_keras_prints_it(void) {
    for (int api = 0; api < 2; api++) {
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, 10, 8, 1)));
        if (api) {
            CU_ASSERT_FATAL(
                ok(recur_model_add_bidirectional(m, "lstm:64:seq", RECUR_MERGE_CONCAT)));
            CU_ASSERT_FATAL(ok(recur_model_add_bidirectional(m, "gru:32", RECUR_MERGE_SUM)));
            CU_ASSERT_FATAL(ok(recur_model_add_dense(m, 2, RECUR_ACT_SOFTMAX)));
        } else {
            CU_ASSERT_FATAL(ok(recur_model_add_layers(
                m, "bidirectional:lstm:64:seq,bidirectional:gru:32:merge=sum,dense:2:softmax")));
        }
        CU_ASSERT_EQUAL(recur_model_param_count(m), 37376 + 31104 + 66);
        CU_ASSERT_EQUAL(recur_model_output_size(m), 2);
        char s[2048];
        recur_model_summary(m, s, sizeof s);
        CU_ASSERT(
            strstr(s, "\nbidirectional (Bidirectional (None, 10, 128)           37376     \n") !=
            NULL);
        CU_ASSERT(
            strstr(s, "\nbidirectional_1 (Bidirection (None, 32)                31104     \n") !=
            NULL);
        CU_ASSERT(
            strstr(s, "\ndense (Dense)                (None, 2)                 66        \n") !=
            NULL);
        CU_ASSERT(strstr(s, "Total params: 68,546\n") != NULL);
        recur_model_destroy(m);
    }
    /* a sequence of one step (the copies are rebuilt as first layers) */
    recur_model *m = model_of(1, 3, "bidirectional:lstm:2:seq:merge=concat,dense:1", 2);
    char s[1024];
    recur_model_summary(m, s, sizeof s);
    CU_ASSERT(strstr(s, "\nbidirectional (Bidirectional (None, 1, 4)              96        \n") !=
              NULL);
    const float x[3] = {0.5f, -1.0f, 0.25f};
    float y = NAN;
    CU_ASSERT(ok(recur_model_predict(m, x, 1, 1, &y)) && isfinite(y) && y != 0.0f);
    recur_model_destroy(m);
}

static void test_errors_name_the_problem(void) {
    const struct {
        const char *spec, *needle;
    } cases[] = {
        {"bidirectional", "expected bidirectional:KIND"},
        {"bidirectional:dense:4", "'dense' is not a recurrent layer"},
        {"bidirectional:dropout:0.5", "'dropout' is not a recurrent layer"},
        {"bidirectional:bidirectional:lstm:4", "'bidirectional' is not a recurrent layer"},
        {"bidirectional:conv:4", "unknown recurrent layer 'conv'"},
        {"bidirectional:lstm:4:merge=max", "merge mode 'max' is not concat, sum, mul or ave"},
        {"bidirectional:lstm:4:merge=sum:merge=sum", "merge given twice"},
        {"bidirectional:lstm:four", "units 'four'"},
        {"bidirectional:gru:4:reset_after=2", "'reset_after=2'"},
        {"bidirectional:cell:nosuch:4", "no cell named 'nosuch'"},
        {"lstm:4,bidirectional:lstm:4", "needs a sequence"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        recur_model *m;
        CU_ASSERT_FATAL(ok(recur_model_create(&m, 5, 3, 1)));
        CU_ASSERT_EQUAL(recur_model_add_layers(m, cases[k].spec), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions(cases[k].needle));
        CU_ASSERT_EQUAL(recur_model_param_count(m), 0); /* nothing added */
        recur_model_destroy(m);
    }
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 5, 3, 1)));
    CU_ASSERT_EQUAL(recur_model_add_bidirectional(m, NULL, RECUR_MERGE_SUM),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("layer_spec is NULL"));
    CU_ASSERT_EQUAL(recur_model_add_bidirectional(NULL, "lstm:4", RECUR_MERGE_SUM),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(recur_model_add_bidirectional(m, "lstm:4", (recur_merge_mode)7),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("merge must be"));
    CU_ASSERT_EQUAL(recur_model_add_bidirectional(m, "dense:4", RECUR_MERGE_SUM),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("'dense' is not a recurrent layer"));
    CU_ASSERT_EQUAL(recur_model_add_bidirectional(m, "lstm:4:merge=sum", RECUR_MERGE_SUM),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("as the merge argument"));
    CU_ASSERT_EQUAL(recur_model_add_bidirectional(m, "lstm:4,dense:2", RECUR_MERGE_SUM),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_param_count(m), 0);
    recur_model_destroy(m);
}

/* ---- files and threads ----------------------------------------------------- */

static void toy_data(float *x, float *y, int N, int T, int F, uint64_t seed) {
    test_rng r = {seed};
    for (int s = 0; s < N; s++) {
        const int c = s % 2;
        for (int k = 0; k < T * F; k++)
            x[(size_t)s * T * F + k] = (float)rng_uniform(&r, -1, 1) * 0.5f + (c ? 0.3f : -0.3f);
        y[s] = (float)c;
    }
}

/* trained on 1, 2 and 3 threads: the same weights bit for bit (2 threads run
 * the directions at once); saved and loaded: the same predictions and
 * summary */
static void test_threads_and_files(void) {
    enum { N = 64, T = 7, F = 3 };
    static const char *const specs[] = {
        "bidirectional:lstm:12:seq:merge=mul,dropout:0.1,bidirectional:gru:8,dense:2:softmax",
        "bidirectional:rnn:16:relu:seq:merge=ave,bidirectional:lstm:8:backwards:merge=sum,"
        "dense:2:softmax"};
    float *x = malloc(sizeof(float) * N * T * F), y[N], pa[N * 2], pb[N * 2];
    toy_data(x, y, N, T, F, 17);
    recur_fit_options fo = recur_fit_defaults();
    fo.batch_size = 10, fo.epochs = 2;
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        recur_model *m[3];
        for (int t = 0; t < 3; t++) {
            CU_ASSERT_FATAL(ok(recur_model_create(&m[t], T, F, 5)));
            CU_ASSERT_FATAL(ok(recur_model_add_layers(m[t], specs[k])));
            recur_optimizer adam = recur_adam(5e-3f);
            CU_ASSERT_FATAL(
                ok(recur_model_compile(m[t], &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)));
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
        char path[64];
        snprintf(path, sizeof path, "/tmp/recur_test_bidi_%d.bin", (int)getpid());
        recur_model *c;
        CU_ASSERT_FATAL(ok(recur_model_save(m[1], path)));
        CU_ASSERT_FATAL(ok(recur_model_load(&c, path)));
        CU_ASSERT_FATAL(ok(recur_model_predict(m[1], x, N, 32, pa)));
        CU_ASSERT_FATAL(ok(recur_model_predict(c, x, N, 7, pb)));
        CU_ASSERT(memcmp(pa, pb, sizeof pa) == 0);
        char s1[2048], s2[2048];
        recur_model_summary(m[1], s1, sizeof s1), recur_model_summary(c, s2, sizeof s2);
        CU_ASSERT(strcmp(s1, s2) == 0);
        /* and it trains on from there like the original */
        CU_ASSERT_FATAL(ok(recur_model_fit(m[1], x, y, N, &fo)));
        CU_ASSERT_FATAL(ok(recur_model_fit(c, x, y, N, &fo)));
        CU_ASSERT(memcmp(recur_model_params(m[1], NULL), recur_model_params(c, NULL),
                         n * sizeof(float)) == 0);
        unlink(path);
        recur_model_destroy(c);
        for (int t = 0; t < 3; t++) recur_model_destroy(m[t]);
    }
    free(x);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("bidi", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_go_backwards_reads_the_reversed_sequence);
    ADD_TEST(s, test_go_backwards_gradients);
    ADD_TEST(s, test_bidirectional_gradients);
    ADD_TEST(s, test_merge_modes_by_hand);
    ADD_TEST(s, test_initial_weights_and_add_function);
    ADD_TEST(s, test_go_backwards_with_a_mask);
    ADD_TEST(s, test_masked_merge_by_hand);
    ADD_TEST(s, test_padding_changes_nothing);
    ADD_TEST(s, test_masked_gradients);
    ADD_TEST(s, test_custom_cells_inside);
    ADD_TEST(s, test_summary_as_keras_prints_it);
    ADD_TEST(s, test_errors_name_the_problem);
    ADD_TEST(s, test_threads_and_files);
    return test_main_run();
}
