/* Custom cells (recur_cell): the example cells of examples/cells/ against
 * double-precision references checked by finite differences, the LSTM cell
 * against the built-in LSTM, masks, threads, registration and files. */
#include <omp.h>
#include <string.h>
#include <unistd.h>

#include <recur.h>

#include "../examples/cells/cells.h"
#include "testutil.h"

static int ok(recur_status s) {
    if (s) printf("\n    %s: %s\n", recur_status_string(s), recur_last_error());
    return s == RECUR_OK;
}

static int mentions(const char *needle) { return strstr(recur_last_error(), needle) != NULL; }

/* ---- References: one layer over a sequence, in double -------------------- */

enum { LSTM, MGU, PEEP, IND };

static double sg(double v) { return 1.0 / (1.0 + exp(-v)); }
static double act(int relu, double v) { return relu ? (v > 0 ? v : 0) : tanh(v); }

/* in [T][B][I] -> out [T][B][H]; p: kernel [I][G], recurrent [H][G], bias
 * [G], then the cell's arrays; mask [T][B] or NULL (state carried, output =
 * the carried h) */
static void ref_layer(int kind, int relu, int T, int B, int I, int H, const double *p,
                      const double *in, const unsigned char *mask, double *out) {
    const int gates = kind == MGU ? 2 : kind == IND ? 1 : 4, G = gates * H;
    const double *W = p, *U = W + I * G, *b = kind == IND ? U : U + H * G, *pe = b + G;
    double *h = calloc((size_t)B * H, sizeof *h), *c = calloc((size_t)B * H, sizeof *c);
    double *z = malloc((size_t)G * sizeof *z), *m = malloc((size_t)H * sizeof *m);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < B; n++) {
            double *hn = h + n * H, *cn = c + n * H;
            if (!mask || mask[t * B + n]) {
                const double *x = in + ((size_t)t * B + n) * I;
                for (int q = 0; q < G; q++) {
                    z[q] = b[q];
                    for (int k = 0; k < I; k++) z[q] += x[k] * W[k * G + q];
                    if (kind == LSTM || kind == PEEP || (kind == MGU && q < H))
                        for (int k = 0; k < H; k++) z[q] += hn[k] * U[k * G + q];
                }
                if (kind == IND) {
                    for (int j = 0; j < H; j++) hn[j] = act(relu, z[j] + pe[j] * hn[j]);
                } else if (kind == MGU) {
                    for (int j = 0; j < H; j++) m[j] = sg(z[j]) * hn[j];
                    for (int q = H; q < G; q++)
                        for (int k = 0; k < H; k++) z[q] += m[k] * U[k * G + q];
                    for (int j = 0; j < H; j++) {
                        const double f = sg(z[j]), hh = act(relu, z[H + j]);
                        hn[j] = (1 - f) * hn[j] + f * hh;
                    }
                } else {
                    for (int j = 0; j < H; j++) {
                        const double wi = kind == PEEP ? pe[j] : 0, wf = kind == PEEP ? pe[H + j] : 0;
                        const double wo = kind == PEEP ? pe[2 * H + j] : 0;
                        const double i = sg(z[j] + wi * cn[j]), f = sg(z[H + j] + wf * cn[j]);
                        const double g = act(relu, z[2 * H + j]);
                        cn[j] = f * cn[j] + i * g;
                        hn[j] = sg(z[3 * H + j] + wo * cn[j]) * act(relu, cn[j]);
                    }
                }
            }
            memcpy(out + ((size_t)t * B + n) * H, hn, (size_t)H * sizeof(double));
        }
    free(h), free(c), free(z), free(m);
}

static size_t layer_params(int kind, int I, int H) {
    const size_t G = (size_t)(kind == MGU ? 2 : kind == IND ? 1 : 4) * H;
    if (kind == IND) return G * I + G + (size_t)H;
    return G * (I + H) + G + (kind == PEEP ? 3 * (size_t)H : 0);
}

/* Two stacked layers (H1 with return_sequences, then H2), MSE of the last
 * step's h against y [B][H2]: the model's loss */
typedef struct {
    int kind, relu, T, B, I, H1, H2;
    const double *x, *y;
    const unsigned char *mask;
} ref_net;

static double ref_loss(const ref_net *r, const double *p) {
    const int T = r->T, B = r->B;
    double *a = malloc(sizeof(double) * T * B * r->H1), *o = malloc(sizeof(double) * T * B * r->H2);
    ref_layer(r->kind, r->relu, T, B, r->I, r->H1, p, r->x, r->mask, a);
    ref_layer(r->kind, r->relu, T, B, r->H1, r->H2, p + layer_params(r->kind, r->I, r->H1), a,
              r->mask, o);
    double loss = 0;
    for (int n = 0; n < B; n++)
        for (int j = 0; j < r->H2; j++) {
            const double e = o[((size_t)(T - 1) * B + n) * r->H2 + j] - r->y[n * r->H2 + j];
            loss += e * e / r->H2;
        }
    free(a), free(o);
    return loss / B;
}

/* ---- Two more cells for the engine's other paths ------------------------ */

/* IndRNN (Li et al. 2018): h = act(x W + u * h' + b), no recurrent kernel */
static void ind_forward(const recur_cell_args *a) {
    for (int r = 0; r < a->rows; r++) {
        const float *hp = a->s_prev[0] + r * a->lds, *u = a->p[0];
        float *z = a->z + r * a->ldz, *h = a->s[0] + r * a->lds;
        for (int j = 0; j < a->units; j++) z[j] += u[j] * hp[j];
        recur_vact(a->act, a->units, z, h);
    }
}

static void ind_backward(const recur_cell_args *a) {
    for (int r = 0; r < a->rows; r++) {
        const float *hp = a->s_prev[0] + r * a->lds, *h = a->s[0] + r * a->lds, *u = a->p[0];
        const float *dh = a->ds[0] + r * a->lds;
        float *z = a->z + r * a->ldz, *dhp = a->ds_prev[0] + r * a->lds, *du = a->dp[0] + r * a->lddp;
        for (int j = 0; j < a->units; j++) {
            const float d = dh[j] * (a->act == RECUR_ACT_RELU ? (h[j] > 0.0f) : 1.0f - h[j] * h[j]);
            z[j] = d, dhp[j] = d * u[j], du[j] = d * hp[j];
        }
    }
}

static const recur_cell cell_ind = {.name = "indrnn",
                                    .gates = 1,
                                    .recurrent = 0,
                                    .states = 1,
                                    .nparams = 1,
                                    .params = {{"recurrent_weight", 1, RECUR_INIT_UNIFORM, 0.9f}},
                                    .forward = ind_forward,
                                    .backward = ind_backward};

/* Keras's GRU with reset_after as a separate cell: z and zh apart */
static void gru_forward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    for (int r = 0; r < a->rows; r++) {
        float *zz = a->z + r * a->ldz, *zr = zz + H, *zc = zz + 2 * H;
        const float *hz = a->zh + r * a->ldz, *hr = hz + H, *hc = hz + 2 * H;
        const float *hp = a->s_prev[0] + r * a->lds;
        float *h = a->s[0] + r * a->lds;
        for (int j = 0; j < n; j++) zz[j] += hz[j], zr[j] += hr[j];
        recur_vsigmoid(n, zz, zz), recur_vsigmoid(n, zr, zr);
        for (int j = 0; j < n; j++) zc[j] += zr[j] * hc[j];
        recur_vact(a->act, n, zc, zc);
        for (int j = 0; j < n; j++) h[j] = zz[j] * hp[j] + (1.0f - zz[j]) * zc[j];
    }
}

static void gru_backward(const recur_cell_args *a) {
    const int n = a->units, H = a->H;
    for (int r = 0; r < a->rows; r++) {
        float *zz = a->z + r * a->ldz, *zr = zz + H, *zc = zz + 2 * H;
        float *hz = a->zh + r * a->ldz, *hr = hz + H, *hc = hz + 2 * H;
        const float *hp = a->s_prev[0] + r * a->lds, *dh = a->ds[0] + r * a->lds;
        float *dhp = a->ds_prev[0] + r * a->lds;
        for (int j = 0; j < n; j++) {
            const float g = zz[j], rr = zr[j], c = zc[j];
            const float dc = dh[j] * (1.0f - g) * (a->act == RECUR_ACT_RELU ? (c > 0.0f) : 1.0f - c * c);
            const float dg = dh[j] * (hp[j] - c) * g * (1.0f - g);
            const float dr = dc * hc[j] * rr * (1.0f - rr);
            dhp[j] = dh[j] * g;
            zz[j] = hz[j] = dg, zr[j] = hr[j] = dr, zc[j] = dc, hc[j] = dc * rr;
        }
    }
}

static const recur_cell cell_gru = {.name = "gru_cell",
                                    .gates = 3,
                                    .recurrent = 1,
                                    .separate = 1,
                                    .states = 1,
                                    .forward = gru_forward,
                                    .backward = gru_backward};

static const recur_cell *cell_of(int kind) {
    return kind == LSTM ? &cell_lstm : kind == MGU ? &cell_mgu : kind == IND ? &cell_ind : &cell_peephole;
}

/* the model of ref_net on the library, weights from the double ones */
static recur_model *build(int kind, int relu, int T, int I, int H1, int H2, int masking) {
    recur_model *m;
    const recur_cell *c = cell_of(kind);
    char spec[128];
    snprintf(spec, sizeof spec, "%scell:%s:%d:%s:seq,cell:%s:%d:%s", masking ? "masking:9," : "",
             c->name, H1, relu ? "relu" : "tanh", c->name, H2, relu ? "relu" : "tanh");
    CU_ASSERT_FATAL(ok(recur_model_create(&m, T, I, 7)));
    CU_ASSERT_FATAL(ok(recur_model_register_cell(m, c)));
    CU_ASSERT_FATAL(ok(recur_model_add_layers(m, spec)));
    recur_optimizer sgd = recur_sgd(0.1f, 0.0f);
    CU_ASSERT_FATAL(ok(recur_model_compile(m, &sgd, RECUR_LOSS_MSE)));
    return m;
}

/* The library's gradient against central differences of the double
 * reference (h = 1e-6), for each cell, activation, with and without a mask. */
static void check_cell(int kind, int relu, int masked) {
    enum { T = 5, B = 4, I = 3, H1 = 5, H2 = 3 };
    test_rng r = {1000 + (uint64_t)kind * 10 + (uint64_t)relu * 2 + (uint64_t)masked};
    recur_model *m = build(kind, relu, T, I, H1, H2, masked);
    size_t n;
    float *p = recur_model_params(m, &n);
    CU_ASSERT_FATAL(n == layer_params(kind, I, H1) + layer_params(kind, H1, H2));
    double *pd = malloc(n * sizeof *pd), *fd = malloc(n * sizeof *fd);
    for (size_t k = 0; k < n; k++) p[k] = (float)rng_uniform(&r, -0.6, 0.6), pd[k] = p[k];
    /* batch-major floats for the model, time-major doubles for the reference */
    float xf[B * T * I], yf[B * H2];
    double xd[T * B * I], yd[B * H2];
    unsigned char mask[T * B];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            /* sample 1: left padding, 2: a hole, 3: right padding */
            const int off = masked && ((b == 1 && t < 2) || (b == 2 && t == 2) || (b == 3 && t >= 3));
            mask[t * B + b] = !off;
            for (int k = 0; k < I; k++) {
                const double v = off ? 9.0 : rng_uniform(&r, -1, 1);
                xf[(b * T + t) * I + k] = (float)v, xd[(t * B + b) * I + k] = off ? 0.0 : v;
            }
        }
    for (int k = 0; k < B * H2; k++) yd[k] = yf[k] = (float)rng_uniform(&r, -1, 1);
    ref_net net = {kind, relu, T, B, I, H1, H2, xd, yd, masked ? mask : NULL};
    float loss;
    CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, xf, yf, B, 0, &loss)));
    const double l0 = ref_loss(&net, pd);
    CU_ASSERT(fabs(loss - l0) <= 1e-5 * (1 + fabs(l0)));
    for (size_t k = 0; k < n; k++) {
        const double keep = pd[k], h = 1e-6;
        pd[k] = keep + h;
        const double lp = ref_loss(&net, pd);
        pd[k] = keep - h;
        const double lm = ref_loss(&net, pd);
        pd[k] = keep;
        fd[k] = (lp - lm) / (2 * h);
    }
    const double e = rel_err_f64(recur_model_gradients(m, NULL), fd, n, 1e-3);
    if (!(e < 1e-4))
        printf("\n    cell %s relu %d masked %d: gradient error %.3g", cell_of(kind)->name, relu,
               masked, e);
    CU_ASSERT(e < 1e-4);
    free(pd), free(fd);
    recur_model_destroy(m);
}

static void test_lstm_cell_gradients(void) {
    for (int relu = 0; relu < 2; relu++) check_cell(LSTM, relu, 0);
}
static void test_mgu_gradients(void) {
    for (int relu = 0; relu < 2; relu++) check_cell(MGU, relu, 0);
}
static void test_peephole_gradients(void) {
    for (int relu = 0; relu < 2; relu++) check_cell(PEEP, relu, 0);
}
static void test_indrnn_gradients(void) {
    for (int relu = 0; relu < 2; relu++) check_cell(IND, relu, 0);
}
static void test_masked_gradients(void) {
    for (int kind = LSTM; kind <= IND; kind++) check_cell(kind, 0, 1);
}

/* ---- The LSTM cell against the built-in LSTM ----------------------------- */

static void compare_with_builtin(int gru, int relu) {
    enum { T = 28, B = 32, I = 28, N = 40 };
    char a[128], b[128];
    const char *kind = gru ? "gru" : "lstm", *cell = gru ? "gru_cell" : "lstm_cell";
    const char *act = relu ? ":relu" : "";
    snprintf(a, sizeof a, "%s:64%s:seq,%s:32%s", kind, act, kind, act);
    snprintf(b, sizeof b, "cell:%s:64%s:seq,cell:%s:32%s", cell, act, cell, act);
    recur_model *m[2];
    recur_optimizer sgd = recur_sgd(0.1f, 0.0f);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT_FATAL(ok(recur_model_create(&m[k], T, I, 99)));
        CU_ASSERT_FATAL(ok(recur_model_register_cell(m[k], gru ? &cell_gru : &cell_lstm)));
        CU_ASSERT_FATAL(ok(recur_model_add_layers(m[k], k ? b : a)));
        CU_ASSERT_FATAL(ok(recur_model_compile(m[k], &sgd, RECUR_LOSS_MSE)));
    }
    size_t n0, n1;
    float *p0 = recur_model_params(m[0], &n0), *p1 = recur_model_params(m[1], &n1);
    CU_ASSERT_FATAL(n0 == n1);
    /* the same layout and the same Keras initialisation, draw for draw */
    CU_ASSERT(memcmp(p0, p1, n0 * sizeof(float)) == 0);
    test_rng r = {5};
    float *x = malloc(sizeof(float) * N * T * I), y[N * 32], out[2][N * 32], loss[2];
    fill_uniform(&r, x, (size_t)N * T * I, -1, 1);
    fill_uniform(&r, y, N * 32, -1, 1);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT_FATAL(ok(recur_model_predict(m[k], x, N, B, out[k])));
        CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m[k], x, y, N, 0, &loss[k])));
    }
    double worst = 0, gmax = 0, gerr = 0;
    for (int k = 0; k < N * 32; k++) worst = fmax(worst, fabs(out[0][k] - out[1][k]));
    const float *g0 = recur_model_gradients(m[0], NULL), *g1 = recur_model_gradients(m[1], NULL);
    for (size_t k = 0; k < n0; k++) gmax = fmax(gmax, fabs(g0[k])), gerr = fmax(gerr, fabs(g0[k] - g1[k]));
    if (!(worst < 1e-5 && gerr < 1e-5 * gmax))
        printf("\n    %s relu %d: outputs differ by %.3g, gradients by %.3g of %.3g", kind, relu, worst, gerr,
               gmax);
    CU_ASSERT(worst < 1e-5);
    CU_ASSERT(gerr < 1e-5 * gmax);
    CU_ASSERT(fabs(loss[0] - loss[1]) < 1e-5 * loss[0]);
    free(x);
    recur_model_destroy(m[0]), recur_model_destroy(m[1]);
}

static void test_lstm_cell_matches_builtin(void) {
    compare_with_builtin(0, 0);
    compare_with_builtin(0, 1);
}

static void test_gru_cell_matches_builtin(void) {
    compare_with_builtin(1, 0);
    compare_with_builtin(1, 1);
}

/* ---- Threads, files, registration, summary ------------------------------- */

static void test_thread_counts(void) {
    enum { T = 6, I = 5, N = 9 };
    for (int kind = LSTM; kind <= IND; kind++) {
        float g[2][32768], loss[2];
        size_t n = 0;
        test_rng r = {77};
        float x[N * T * I], y[N * 8];
        fill_uniform(&r, x, N * T * I, -1, 1);
        fill_uniform(&r, y, N * 8, -1, 1);
        for (int k = 0; k < 2; k++) {
            recur_model *m = build(kind, 0, T, I, 64, 8, 0);
            recur_set_num_threads(k ? 2 : 1);
            CU_ASSERT_FATAL(ok(recur_model_compute_gradients(m, x, y, N, 0, &loss[k])));
            const float *gk = recur_model_gradients(m, &n);
            CU_ASSERT_FATAL(n <= 32768);
            memcpy(g[k], gk, n * sizeof(float));
            recur_model_destroy(m);
        }
        recur_set_num_threads(0);
        CU_ASSERT(memcmp(g[0], g[1], n * sizeof(float)) == 0);
        CU_ASSERT(loss[0] == loss[1]);
    }
}

static void test_save_load_needs_registration(void) {
    enum { T = 4, I = 3, N = 5 };
    recur_model *m = build(MGU, 0, T, I, 4, 2, 0), *l;
    char path[64];
    snprintf(path, sizeof path, "/tmp/recur_cells_%d.bin", (int)getpid());
    CU_ASSERT_FATAL(ok(recur_model_save(m, path)));
    CU_ASSERT_EQUAL(recur_model_load(&l, path), RECUR_ERR_FORMAT);
    CU_ASSERT(mentions("'mgu'") && mentions("layer 1"));
    CU_ASSERT(l == NULL);
    const recur_cell *wrong[] = {&cell_peephole};
    CU_ASSERT_EQUAL(recur_model_load_with_cells(&l, path, wrong, 1), RECUR_ERR_FORMAT);
    const recur_cell *cells[] = {&cell_peephole, &cell_mgu};
    CU_ASSERT_FATAL(ok(recur_model_load_with_cells(&l, path, cells, 2)));
    float x[N * T * I], o[2][N * 2];
    test_rng r = {3};
    fill_uniform(&r, x, N * T * I, -1, 1);
    CU_ASSERT_FATAL(ok(recur_model_predict(m, x, N, 2, o[0])));
    CU_ASSERT_FATAL(ok(recur_model_predict(l, x, N, 3, o[1])));
    CU_ASSERT(memcmp(o[0], o[1], sizeof o[0]) == 0);
    recur_model_destroy(l), recur_model_destroy(m);
    unlink(path);
}

static void fwd_nop(const recur_cell_args *a) { (void)a; }

static void test_bad_cells_refused(void) {
    recur_model *m;
    CU_ASSERT_FATAL(ok(recur_model_create(&m, 4, 3, 1)));
    recur_cell c = cell_lstm;
    const struct {
        int field, value;
        const char *needle;
    } bad[] = {{0, 0, "gates"}, {0, 9, "gates"}, {1, 0, "states"}, {2, 1, "separate needs"},
               {3, 4, "mid"},   {4, 1, "mid needs forward_mid"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        c = cell_lstm;
        if (bad[k].field == 0) c.gates = bad[k].value;
        if (bad[k].field == 1) c.states = bad[k].value;
        if (bad[k].field == 2) c.recurrent = 0, c.separate = 1;
        if (bad[k].field == 3) c.mid = bad[k].value;
        if (bad[k].field == 4) c.mid = bad[k].value;
        CU_ASSERT_EQUAL(recur_model_register_cell(m, &c), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions(bad[k].needle));
    }
    c = cell_lstm;
    c.name = "a:b";
    CU_ASSERT_EQUAL(recur_model_register_cell(m, &c), RECUR_ERR_INVALID_ARGUMENT);
    c = cell_lstm;
    c.backward = NULL;
    CU_ASSERT_EQUAL(recur_model_register_cell(m, &c), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(ok(recur_model_register_cell(m, &cell_lstm)));
    c = cell_mgu;
    c.name = "lstm_cell"; /* another cell under a taken name */
    CU_ASSERT_EQUAL(recur_model_register_cell(m, &c), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_add_layers(m, "cell:nosuch:4"), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("'nosuch'"));
    CU_ASSERT_EQUAL(recur_model_add_cell(m, "nosuch", 4, RECUR_ACT_TANH, 0),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_model_add_layers(m, "cell:lstm_cell:4:softmax"),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(ok(recur_model_add_cell(m, "lstm_cell", 4, RECUR_ACT_TANH, 0)));
    (void)fwd_nop;
    recur_model_destroy(m);
}

static void test_summary_and_arrays(void) {
    recur_model *m = build(PEEP, 0, 10, 8, 16, 4, 0);
    char s[2048];
    recur_model_summary(m, s, sizeof s);
    /* 4*16*(8+16) + 4*16 + 3*16 */
    CU_ASSERT(strstr(s, "rnn (RNN)                    (None, 10, 16)            1648") != NULL);
    CU_ASSERT(strstr(s, "rnn_1 (RNN)                  (None, 4)                 348") != NULL);
    recur_model_destroy(m);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("cells", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_lstm_cell_gradients);
    ADD_TEST(s, test_mgu_gradients);
    ADD_TEST(s, test_peephole_gradients);
    ADD_TEST(s, test_indrnn_gradients);
    ADD_TEST(s, test_masked_gradients);
    ADD_TEST(s, test_lstm_cell_matches_builtin);
    ADD_TEST(s, test_gru_cell_matches_builtin);
    ADD_TEST(s, test_thread_counts);
    ADD_TEST(s, test_save_load_needs_registration);
    ADD_TEST(s, test_bad_cells_refused);
    ADD_TEST(s, test_summary_and_arrays);
    return test_main_run();
}
