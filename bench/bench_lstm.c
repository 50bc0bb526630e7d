/* recur's LSTM primitive against oneDNN's own LSTM primitive, same shapes, same
 * run, plus dnnl_sgemm as the run's practical peak.
 *
 * Benchmark names, <what>/T<T>_B<B>_I<I>_H<H>/<activation>:
 *   fwd, train                 recur: inference forward (weights packed before
 *                              the timed loop, caller-owned scratch);
 *                              training forward + backward
 *   train_masked               recur: forward + backward with a step mask, right
 *                              padding, each sample valid for T/2..T steps
 *                              (FLOPs count all T steps, as train's)
 *   onednn_fwd, onednn_train   oneDNN: forward_inference; forward_training + backward
 * and sgemm_peak/1024 (dnnl_sgemm, 1024^3), with sgemm_peak_1thread/1024 beside it
 * when the run has more threads.
 * FLOPs (the FLOPS counter): forward = 2*T*B*4H*(I+H), the GEMMs; training = 3x
 * forward. Inputs are random in [-0.1, 0.1], the same for both libraries; h0 and
 * c0 are zeros and the final states are not asked for, in both. bench/table.py
 * turns the JSON report into tables. main also registers the tutorial model
 * (bench_model.c) and the GRU and SimpleRNN primitives (bench_gru.c). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <recur.h>

#include "bench_gru.h"
#include "bench_model.h"
#include "bench_util.h"
#include "shim.h"

enum { SGEMM_N = 1024, LSTM_GATES = 4 };

typedef struct {
    recur_lstm_desc d;
    int train; /* forward + backward; else forward */
} lstm_case;

/* recur's W [I][4H], U [H][4H] are oneDNN's ldigo (both order the gates i, f, c,
 * o) and b [4H] its ldgo: the same buffers serve both libraries.
 *
 * "fwd" times recur's inference forward on weights packed before the timed
 * loop (recur_lstm_pack_weights, at the start of ws; caller-owned scratch
 * after them), as oneDNN's row (forward_inference) runs on weights reordered
 * before it; "train" times the training forward (with a workspace) and the
 * backward with dx and all weight gradients, packing as every call does. */
static size_t packed_bytes(const lstm_case *c) {
    return c->train ? 0 : (recur_lstm_packed_weights_size(&c->d) + 63) / 64 * 64;
}

static recur_status recur_pack(const void *ctx, bench_rnn_data *m, void *ws) {
    const lstm_case *c = ctx;
    return recur_lstm_pack_weights(&c->d, m->W, m->U, ws);
}

static recur_status recur_step(const void *ctx, bench_rnn_data *m, void *ws) {
    const lstm_case *c = ctx;
    if (!c->train)
        return recur_lstm_forward_packed(&c->d, ws, m->b, m->x, NULL, NULL, m->y, NULL, NULL,
                                         (char *)ws + packed_bytes(c));
    recur_status s =
        recur_lstm_forward(&c->d, m->W, m->U, m->b, m->x, NULL, NULL, m->y, NULL, NULL, ws);
    if (s == RECUR_OK)
        s = recur_lstm_backward(&c->d, m->W, m->U, m->b, m->x, NULL, NULL, m->dy, NULL, NULL, m->dx,
                                NULL, NULL, m->dW, m->dU, m->db, ws);
    return s;
}

static bench_shape shape_of(const recur_lstm_desc *d) {
    return (bench_shape){d->seq_len, d->batch, d->input_size, d->hidden_size};
}

static void bench_recur(void *ctx, bench_state *st) {
    const lstm_case *c = ctx;
    bench_recur_run(st, c->train ? NULL : recur_pack, recur_step, c, shape_of(&c->d), LSTM_GATES,
                    LSTM_GATES * (size_t)c->d.hidden_size,
                    c->train ? recur_lstm_workspace_size(&c->d)
                             : packed_bytes(c) + recur_lstm_inference_scratch_size(&c->d));
}

static void bench_onednn(void *ctx, bench_state *st) {
    const lstm_case *c = ctx;
    const bench_onednn_desc o = {dnnl_vanilla_lstm, dnnl_eltwise_tanh, shape_of(&c->d), c->train};
    bench_onednn_run(st, &o, LSTM_GATES * (size_t)c->d.hidden_size, NULL, NULL, NULL);
}

/* ---- The run's practical peak ---------------------------------------------- */

static void bench_sgemm(void *ctx, bench_state *st) {
    (void)ctx;
    const dnnl_dim_t n = SGEMM_N;
    const size_t nn = (size_t)n * n;
    float *a = bench_falloc(3 * nn);
    if (!a) {
        bench_skip(st, "cannot allocate the matrices");
        return;
    }
    float *b = a + nn, *c = b + nn;
    bench_fill(a, 3 * nn, 1u);
    dnnl_status_t s = dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    while (s == dnnl_success && bench_keep_running(st))
        s = dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    if (s != dnnl_success) bench_skip(st, dnnl_status2str(s));
    free(a);
}

/* The same on one thread, in a run with more: the ratio of the two says whether
 * the run had its cores to itself (a shared VM's two vCPUs can land on one
 * physical core for minutes). */
static void bench_sgemm_1thread(void *ctx, bench_state *st) {
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    bench_sgemm(ctx, st);
    omp_set_num_threads(threads);
}

/* ---- Registration ----------------------------------------------------------- */

/* The masked training cases: the tutorial's shape and larger ones, each also
 * timed unmasked as "train" (bench_shapes), so masked / unmasked reads off. */
static const bench_shape masked_shapes[] = {
    {28, 32, 28, 128}, {28, 256, 128, 128}, {25, 64, 512, 512}};
enum { N_MASKED = sizeof masked_shapes / sizeof masked_shapes[0] };

/* per shape: fwd, train, onednn_fwd, onednn_train; the tutorial shape adds ReLU fwd, train */
static lstm_case cases[4 * BENCH_N_SHAPES + 2 + N_MASKED];
static int n_cases;

/* Right padding, [T][B]: sample b is valid for its first len_b steps, len_b
 * drawn uniformly from [T/2, T] (xorshift32, seeded); a padded batch of
 * sequences of random lengths, as a Keras mask_zero Embedding makes. */
static unsigned char *right_padding_mask(int T, int B, uint32_t seed) {
    unsigned char *m = malloc((size_t)T * B);
    if (!m) return NULL;
    for (int b = 0; b < B; b++) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        const int len = T / 2 + (int)(seed % (uint32_t)(T - T / 2 + 1));
        for (int t = 0; t < T; t++) m[(size_t)t * B + b] = t < len;
    }
    return m;
}

static void add_case(bench_fn run, const char *what, recur_lstm_desc d, int train) {
    lstm_case *c = &cases[n_cases++];
    *c = (lstm_case){d, train};
    bench_register_rnn(what, run, c, shape_of(&d), d.activation, LSTM_GATES, train);
}

int main(int argc, char **argv) {
    bench_register("sgemm_peak/1024", bench_sgemm, NULL, 2.0 * SGEMM_N * SGEMM_N * SGEMM_N);
    if (omp_get_max_threads() > 1)
        bench_register("sgemm_peak_1thread/1024", bench_sgemm_1thread, NULL,
                       2.0 * SGEMM_N * SGEMM_N * SGEMM_N);
    bench_model_register();
    for (int k = 0; k < BENCH_N_SHAPES; k++) {
        const bench_shape sh = bench_shapes[k];
        recur_lstm_desc d = {sh.T, sh.B, sh.I, sh.H, RECUR_ACT_TANH, NULL};
        add_case(bench_recur, "fwd", d, 0);
        add_case(bench_recur, "train", d, 1);
        add_case(bench_onednn, "onednn_fwd", d, 0);
        add_case(bench_onednn, "onednn_train", d, 1);
        if (k == 0) { /* ReLU must run at tanh's speed; oneDNN's LSTM has only tanh */
            d.activation = RECUR_ACT_RELU;
            add_case(bench_recur, "fwd", d, 0);
            add_case(bench_recur, "train", d, 1);
        }
    }
    for (int k = 0; k < N_MASKED; k++) {
        const bench_shape sh = masked_shapes[k];
        recur_lstm_desc d = {sh.T, sh.B, sh.I, sh.H, RECUR_ACT_TANH, NULL};
        if (!(d.mask = right_padding_mask(sh.T, sh.B, 12345u + (uint32_t)k))) return 1;
        add_case(bench_recur, "train_masked", d, 1);
    }
    bench_gru_register();
    /* recur follows OpenMP unless told otherwise; oneDNN always uses omp_get_max_threads() */
    char buf[32];
    snprintf(buf, sizeof buf, "%d", recur_get_num_threads());
    bench_add_context("recur_threads", buf);
    snprintf(buf, sizeof buf, "%d", omp_get_max_threads());
    bench_add_context("omp_max_threads", buf);
    bench_add_context("recur_isa", recur_isa());
    bench_add_context("recur_tuning", recur_tuning());
    char cpu[256];
    bench_add_context("cpu", bench_cpu_name(cpu, sizeof cpu));
    return bench_main(argc, argv);
}
