/* The public API's contract: every invalid argument gets its documented status
 * and a message naming it, nothing is written on failure, errors are per
 * thread. Uses only the public header. */
#include <float.h>
#include <limits.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <recur.h>

#include "modeltest.h"

#define SENTINEL -777.0f

/* A valid small problem with every buffer allocated and outputs pre-marked. */
typedef struct {
    recur_lstm_desc d;
    float *W, *U, *b, *x, *h0, *c0, *y, *hT, *cT, *dy, *dx, *dh0, *dc0, *dW, *dU, *db;
    void *ws;
} fixture;

static float *filled(size_t n, float v) {
    float *p = malloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) p[k] = v;
    return p;
}

static void fx_init(fixture *f) {
    f->d = (recur_lstm_desc){3, 2, 4, 5, RECUR_ACT_TANH, NULL};
    size_t T = 3, B = 2, I = 4, H = 5, G = 20;
    f->W = filled(I * G, 0.1f), f->U = filled(H * G, 0.05f), f->b = filled(G, 0.0f);
    f->x = filled(T * B * I, 0.5f), f->h0 = filled(B * H, 0.0f), f->c0 = filled(B * H, 0.0f);
    f->dy = filled(T * B * H, 1.0f);
    f->y = filled(T * B * H, SENTINEL), f->hT = filled(B * H, SENTINEL);
    f->cT = filled(B * H, SENTINEL), f->dx = filled(T * B * I, SENTINEL);
    f->dh0 = filled(B * H, SENTINEL), f->dc0 = filled(B * H, SENTINEL);
    f->dW = filled(I * G, SENTINEL), f->dU = filled(H * G, SENTINEL), f->db = filled(G, SENTINEL);
    size_t n = recur_lstm_workspace_size(&f->d);
    f->ws = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
}

static void fx_free(fixture *f) {
    free(f->W), free(f->U), free(f->b), free(f->x), free(f->h0), free(f->c0), free(f->dy);
    free(f->y), free(f->hT), free(f->cT), free(f->dx), free(f->dh0), free(f->dc0);
    free(f->dW), free(f->dU), free(f->db), free(f->ws);
}

static int untouched(const float *p, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (p[k] != SENTINEL) return 0;
    return 1;
}

/* outputs of both calls still hold the sentinel */
static int outputs_untouched(const fixture *f) {
    return untouched(f->y, 30) && untouched(f->hT, 10) && untouched(f->cT, 10) &&
           untouched(f->dx, 24) && untouched(f->dh0, 10) && untouched(f->dc0, 10) &&
           untouched(f->dW, 80) && untouched(f->dU, 100) && untouched(f->db, 20);
}

static recur_status fwd(fixture *f, const recur_lstm_desc *d) {
    return recur_lstm_forward(d, f->W, f->U, f->b, f->x, f->h0, f->c0, f->y, f->hT, f->cT, f->ws);
}

static recur_status bwd(fixture *f, const recur_lstm_desc *d) {
    return recur_lstm_backward(d, f->W, f->U, f->b, f->x, f->h0, f->c0, f->dy, NULL, NULL, f->dx,
                               f->dh0, f->dc0, f->dW, f->dU, f->db, f->ws);
}

static void test_status_strings(void) {
    CU_ASSERT_STRING_EQUAL(recur_status_string(RECUR_OK), "RECUR_OK");
    CU_ASSERT_STRING_EQUAL(recur_status_string(RECUR_ERR_NULL_POINTER), "RECUR_ERR_NULL_POINTER");
    CU_ASSERT_STRING_EQUAL(recur_status_string(RECUR_ERR_INVALID_ARGUMENT),
                           "RECUR_ERR_INVALID_ARGUMENT");
    CU_ASSERT_STRING_EQUAL(recur_status_string(RECUR_ERR_UNSUPPORTED), "RECUR_ERR_UNSUPPORTED");
    CU_ASSERT_STRING_EQUAL(recur_status_string(RECUR_ERR_OUT_OF_MEMORY), "RECUR_ERR_OUT_OF_MEMORY");
    CU_ASSERT_STRING_EQUAL(recur_status_string(RECUR_ERR_BACKEND), "RECUR_ERR_BACKEND");
    CU_ASSERT_STRING_EQUAL(recur_status_string((recur_status)1234), "RECUR_ERR_UNKNOWN");
    CU_ASSERT_STRING_EQUAL(recur_version(), RECUR_VERSION_STRING);
    const char *isa = recur_isa();
    CU_ASSERT(!strcmp(isa, "scalar") || !strcmp(isa, "avx2") || !strcmp(isa, "avx512") ||
              !strcmp(isa, "neon"));
}

static void test_valid_call_succeeds(void) {
    fixture f;
    fx_init(&f);
    CU_ASSERT_EQUAL(fwd(&f, &f.d), RECUR_OK);
    CU_ASSERT_EQUAL(bwd(&f, &f.d), RECUR_OK);
    CU_ASSERT(!untouched(f.y, 1) && !untouched(f.dW, 1));
    fx_free(&f);
}

static void test_null_descriptor(void) {
    fixture f;
    fx_init(&f);
    CU_ASSERT_EQUAL(fwd(&f, NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("descriptor"));
    CU_ASSERT_EQUAL(bwd(&f, NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(recur_lstm_workspace_size(NULL), 0);
    CU_ASSERT_EQUAL(recur_lstm_inference_scratch_size(NULL), 0);
    CU_ASSERT(outputs_untouched(&f));
    fx_free(&f);
}

static void test_bad_sizes(void) {
    fixture f;
    fx_init(&f);
    const char *names[] = {"seq_len", "batch", "input_size", "hidden_size"};
    const int bad[] = {0, -1, INT_MIN};
    for (int dim = 0; dim < 4; dim++)
        for (int k = 0; k < 3; k++) {
            recur_lstm_desc d = f.d;
            int *v[] = {&d.seq_len, &d.batch, &d.input_size, &d.hidden_size};
            *v[dim] = bad[k];
            CU_ASSERT_EQUAL(fwd(&f, &d), RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(mentions(names[dim]));
            CU_ASSERT_EQUAL(bwd(&f, &d), RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(mentions(names[dim]));
            CU_ASSERT_EQUAL(recur_lstm_workspace_size(&d), 0);
        }
    /* sizes whose buffers cannot be addressed */
    recur_lstm_desc huge = {INT_MAX, INT_MAX, 4, INT_MAX, RECUR_ACT_TANH, NULL};
    CU_ASSERT_EQUAL(fwd(&f, &huge), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("overflow"));
    CU_ASSERT_EQUAL(recur_lstm_workspace_size(&huge), 0);
    recur_lstm_desc wide = {1, 1, INT_MAX, INT_MAX, RECUR_ACT_RELU, NULL}; /* W alone: 2^64 bytes */
    CU_ASSERT_EQUAL(fwd(&f, &wide), RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(recur_lstm_inference_scratch_size(&wide), 0);
    CU_ASSERT(outputs_untouched(&f));
    fx_free(&f);
}

static void test_unsupported_activation(void) {
    fixture f;
    fx_init(&f);
    const recur_act acts[] = {RECUR_ACT_LINEAR, RECUR_ACT_SIGMOID, RECUR_ACT_SOFTMAX,
                              (recur_act)77, (recur_act)-1};
    for (int k = 0; k < 5; k++) {
        recur_lstm_desc d = f.d;
        d.activation = acts[k];
        CU_ASSERT_EQUAL(fwd(&f, &d), RECUR_ERR_UNSUPPORTED);
        CU_ASSERT(mentions("activation"));
        CU_ASSERT_EQUAL(bwd(&f, &d), RECUR_ERR_UNSUPPORTED);
        CU_ASSERT_EQUAL(recur_lstm_workspace_size(&d), 0);
    }
    CU_ASSERT(outputs_untouched(&f));
    fx_free(&f);
}

static void test_null_required_pointers(void) {
    fixture f;
    fx_init(&f);
    const recur_lstm_desc *d = &f.d;
    CU_ASSERT_EQUAL(recur_lstm_forward(d, NULL, f.U, f.b, f.x, NULL, NULL, f.y, NULL, NULL, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("W"));
    CU_ASSERT_EQUAL(recur_lstm_forward(d, f.W, NULL, f.b, f.x, NULL, NULL, f.y, NULL, NULL, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("U"));
    CU_ASSERT_EQUAL(recur_lstm_forward(d, f.W, f.U, NULL, f.x, NULL, NULL, f.y, NULL, NULL, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("b"));
    CU_ASSERT_EQUAL(recur_lstm_forward(d, f.W, f.U, f.b, NULL, NULL, NULL, f.y, NULL, NULL, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("x"));
    CU_ASSERT_EQUAL(recur_lstm_forward(d, f.W, f.U, f.b, f.x, NULL, NULL, NULL, f.hT, f.cT, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("y"));
    CU_ASSERT(outputs_untouched(&f));

    float *none = NULL;
    const float *in[] = {f.W, f.U, f.b, f.x};
    const char *in_names[] = {"W", "U", "b", "x"};
    for (int k = 0; k < 4; k++) {
        const float *a[4] = {in[0], in[1], in[2], in[3]};
        a[k] = NULL;
        CU_ASSERT_EQUAL(recur_lstm_backward(d, a[0], a[1], a[2], a[3], NULL, NULL, f.dy, NULL,
                                            NULL, f.dx, f.dh0, f.dc0, f.dW, f.dU, f.db, f.ws),
                        RECUR_ERR_NULL_POINTER);
        CU_ASSERT(mentions(in_names[k]));
    }
    CU_ASSERT_EQUAL(recur_lstm_backward(d, f.W, f.U, f.b, f.x, NULL, NULL, f.dy, NULL, NULL, f.dx,
                                        f.dh0, f.dc0, none, f.dU, f.db, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dW"));
    CU_ASSERT_EQUAL(recur_lstm_backward(d, f.W, f.U, f.b, f.x, NULL, NULL, f.dy, NULL, NULL, f.dx,
                                        f.dh0, f.dc0, f.dW, none, f.db, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dU"));
    CU_ASSERT_EQUAL(recur_lstm_backward(d, f.W, f.U, f.b, f.x, NULL, NULL, f.dy, NULL, NULL, f.dx,
                                        f.dh0, f.dc0, f.dW, f.dU, none, f.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("db"));
    CU_ASSERT_EQUAL(recur_lstm_backward(d, f.W, f.U, f.b, f.x, NULL, NULL, f.dy, NULL, NULL, f.dx,
                                        f.dh0, f.dc0, f.dW, f.dU, f.db, NULL),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("workspace"));
    CU_ASSERT(outputs_untouched(&f));
    fx_free(&f);
}

static void test_misaligned_workspace(void) {
    fixture f;
    fx_init(&f);
    void *off = (char *)f.ws + 4;
    CU_ASSERT_EQUAL(recur_lstm_forward(&f.d, f.W, f.U, f.b, f.x, NULL, NULL, f.y, NULL, NULL, off),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(mentions("aligned"));
    CU_ASSERT_EQUAL(recur_lstm_backward(&f.d, f.W, f.U, f.b, f.x, NULL, NULL, f.dy, NULL, NULL,
                                        f.dx, NULL, NULL, f.dW, f.dU, f.db, off),
                    RECUR_ERR_INVALID_ARGUMENT);
    CU_ASSERT(outputs_untouched(&f));
    fx_free(&f);
}

static void test_workspace_sizes_grow_with_shape(void) {
    recur_lstm_desc a = {10, 8, 16, 32, RECUR_ACT_TANH, NULL}, b = a;
    b.seq_len = 20;
    size_t wa = recur_lstm_workspace_size(&a), wb = recur_lstm_workspace_size(&b);
    /* at least the saved gates, c and h per step */
    CU_ASSERT(wa >= (size_t)(10 * 8 * 6 * 32) * sizeof(float));
    CU_ASSERT(wb > wa);
    CU_ASSERT(recur_lstm_inference_scratch_size(&a) >= (size_t)(10 * 8 * 4 * 32) * sizeof(float));
}

/* The memory bound: what the training workspace adds per sample stays
 * within 2x the tape backward needs (gates 4H, h_{t-1} and c_t per step);
 * the packed weights are a per-layer constant and cancel in the difference. */
static void test_workspace_per_sample_within_twice_the_tape(void) {
    const int shapes[][3] = {{28, 28, 128}, {28, 128, 128}, {25, 512, 512}, {25, 1024, 1024}, {5, 3, 7}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        const int T = shapes[k][0], I = shapes[k][1], H = shapes[k][2];
        recur_lstm_desc a = {T, 32, I, H, RECUR_ACT_RELU, NULL}, b = a;
        b.batch = 64;
        const double per_sample =
            (double)(recur_lstm_workspace_size(&b) - recur_lstm_workspace_size(&a)) / 32.0;
        const double tape = (double)T * 6.0 * H * sizeof(float);
        if (!(per_sample >= tape && per_sample <= 2.0 * tape))
            printf("\n    T=%d I=%d H=%d: %.0f workspace bytes per sample, tape %.0f", T, I, H,
                   per_sample, tape);
        CU_ASSERT(per_sample >= tape && per_sample <= 2.0 * tape);
    }
}

static void *fail_in_thread(void *arg) {
    char *out = arg;
    strcpy(out, recur_last_error()); /* before any failure here: empty */
    recur_lstm_desc d = {1, 1, 1, 1, RECUR_ACT_SIGMOID, NULL};
    recur_lstm_forward(&d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    strcat(out, "|");
    strcat(out, recur_last_error());
    return NULL;
}

static void test_errors_are_per_thread(void) {
    recur_lstm_forward(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    char mine[512], theirs[1100] = "";
    strcpy(mine, recur_last_error());
    pthread_t th;
    pthread_create(&th, NULL, fail_in_thread, theirs);
    pthread_join(th, NULL);
    CU_ASSERT(theirs[0] == '|');                /* a fresh thread has no error */
    CU_ASSERT(strstr(theirs, "activation") != NULL);
    CU_ASSERT_STRING_EQUAL(recur_last_error(), mine); /* ours is unchanged */
}

static void test_thread_settings(void) {
    recur_set_num_threads(1);
    CU_ASSERT_EQUAL(recur_get_num_threads(), 1);
    recur_set_num_threads(3);
    CU_ASSERT_EQUAL(recur_get_num_threads(), 3);
    recur_set_num_threads(-5); /* negative: back to OpenMP's default */
    CU_ASSERT_EQUAL(recur_get_num_threads(), omp_get_max_threads());
    recur_set_num_threads(0);
    int inside = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        inside = recur_get_num_threads();
    }
    CU_ASSERT_EQUAL(inside, omp_get_max_threads() > 1 ? 1 : omp_get_max_threads());
    /* recur leaves the host's OpenMP setting alone */
    int before = omp_get_max_threads();
    fixture f;
    fx_init(&f);
    recur_set_num_threads(1);
    CU_ASSERT_EQUAL(fwd(&f, &f.d), RECUR_OK);
    recur_set_num_threads(0);
    CU_ASSERT_EQUAL(omp_get_max_threads(), before);
    fx_free(&f);
}

/* recur_vact: tanh and sigmoid within the kernels' few ulp, relu (NaN gives 0,
 * as in the built-in layers) and linear exact, the same bits in place and as
 * recur_vtanh/recur_vsigmoid; softmax (not elementwise) and an unknown act
 * copy x; nothing written past n; n = 0 touches nothing. */
static void test_vector_activations(void) {
    enum { N = 37 };
    static const recur_act acts[] = {RECUR_ACT_LINEAR,  RECUR_ACT_RELU,    RECUR_ACT_TANH,
                                     RECUR_ACT_SIGMOID, RECUR_ACT_SOFTMAX, (recur_act)99};
    float x[N], y[N + 1], z[N + 1], v[N];
    for (int k = 0; k < N; k++) x[k] = (float)(k - 18) * 0.37f;
    x[0] = -60.0f, x[1] = 60.0f, x[2] = -0.0f, x[3] = NAN;
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
        const recur_act act = acts[a];
        y[N] = z[N] = SENTINEL;
        memcpy(z, x, sizeof x);
        recur_vact(act, N, x, y);
        recur_vact(act, N, z, z);
        CU_ASSERT(!memcmp(y, z, sizeof y));
        CU_ASSERT(y[N] == SENTINEL);
        if (act == RECUR_ACT_TANH || act == RECUR_ACT_SIGMOID) {
            int ok = isnan(y[3]);
            for (int k = 0; k < N; k++) {
                double t = x[k], want = act == RECUR_ACT_TANH ? tanh(t) : 1.0 / (1.0 + exp(-t));
                if (k != 3) ok &= fabs(y[k] - want) <= 2.5e-7;
            }
            CU_ASSERT(ok);
            (act == RECUR_ACT_TANH ? recur_vtanh : recur_vsigmoid)(N, x, v);
            CU_ASSERT(!memcmp(v, y, sizeof v));
        } else if (act == RECUR_ACT_RELU) {
            int ok = y[3] == 0.0f && !signbit(y[2]);
            for (int k = 0; k < N; k++)
                if (k != 3) ok &= y[k] == (x[k] > 0.0f ? x[k] : 0.0f);
            CU_ASSERT(ok);
        } else {
            CU_ASSERT(!memcmp(y, x, sizeof x));
        }
        recur_vact(act, 0, NULL, NULL);
    }
    recur_vsigmoid(0, NULL, NULL);
    recur_vtanh(0, NULL, NULL);
}

/* whether this thread computes with subnormal floats (not flushed to zero) */
static int keeps_subnormals(void) {
    volatile float tiny = FLT_MIN, q = tiny / 4.0f;
    return q != 0.0f && q * 4.0f == tiny;
}

/* Subnormals are flushed to zero inside recur's calls (as TensorFlow does on
 * CPUs), and neither the caller's thread nor the OpenMP threads it shares keep
 * that mode afterwards. The forget gate is 1.0f (bias 30), the input gate's
 * candidate tanh(0) = 0, so c_T = 1 * c_0 exactly: c_0 itself when it is
 * subnormal and not flushed, 0 when flushed. On 1 and 2 threads, with every
 * unit of every row. */
static void test_subnormals_flushed_inside_only(void) {
    enum { B = 3, H = 37 };
    recur_lstm_desc d = {2, B, 1, H, RECUR_ACT_TANH, NULL};
    float W[4 * H] = {0}, U[H * 4 * H], b[4 * H] = {0}, x[2 * B] = {0}, y[2 * B * H];
    float c0[B * H], cT[B * H];
    memset(U, 0, sizeof U);
    for (int j = 0; j < H; j++) b[H + j] = 30.0f; /* forget gate */
    for (int k = 0; k < B * H; k++) c0[k] = FLT_MIN / 8.0f * (float)(1 + k % 5);
    void *ws = aligned_alloc(64, (recur_lstm_workspace_size(&d) + 63) / 64 * 64);
    CU_ASSERT_FATAL(ws != NULL);
    CU_ASSERT(keeps_subnormals());
    for (int nt = 1; nt <= 2; nt++) {
        recur_set_num_threads(nt);
        for (int train = 0; train < 2; train++) {
            memset(cT, 0xff, sizeof cT);
            CU_ASSERT_EQUAL(recur_lstm_forward(&d, W, U, b, x, NULL, c0, y, NULL, cT,
                                               train ? ws : NULL),
                            RECUR_OK);
            int flushed = 1;
            for (int k = 0; k < B * H; k++) flushed &= cT[k] == 0.0f;
            CU_ASSERT(flushed);
            CU_ASSERT(keeps_subnormals()); /* the caller's mode is back */
            int workers = 0, team = 0;
#pragma omp parallel num_threads(2) reduction(+ : workers, team)
            workers += keeps_subnormals(), team++;
            CU_ASSERT_EQUAL(workers, team); /* and the pool's */
        }
    }
    recur_set_num_threads(0);
    free(ws);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("api", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_status_strings);
    ADD_TEST(s, test_valid_call_succeeds);
    ADD_TEST(s, test_null_descriptor);
    ADD_TEST(s, test_bad_sizes);
    ADD_TEST(s, test_unsupported_activation);
    ADD_TEST(s, test_null_required_pointers);
    ADD_TEST(s, test_misaligned_workspace);
    ADD_TEST(s, test_workspace_sizes_grow_with_shape);
    ADD_TEST(s, test_workspace_per_sample_within_twice_the_tape);
    ADD_TEST(s, test_errors_are_per_thread);
    ADD_TEST(s, test_thread_settings);
    ADD_TEST(s, test_vector_activations);
    ADD_TEST(s, test_subnormals_flushed_inside_only);
    return test_main_run();
}
