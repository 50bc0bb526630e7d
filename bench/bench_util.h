/* What the primitive benchmarks (bench_lstm.c, bench_gru.c) share: the shapes,
 * the names and FLOP counts, the data, recur's timed loop, and one oneDNN RNN
 * primitive (LSTM, GRU, LBR GRU or vanilla RNN) set up over the same buffers. */
#ifndef RECUR_BENCH_UTIL_H
#define RECUR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>
#include <recur.h>

#include "shim.h"

typedef struct {
    int T, B, I, H;
} bench_shape;

/* The shapes every primitive is timed at; bench_shapes[0] is the Keras MNIST
 * tutorial's, where the ReLU rows go. */
enum { BENCH_N_SHAPES = 9 };
extern const bench_shape bench_shapes[BENCH_N_SHAPES];

/* Registers run(ctx) as <what>/T<T>_B<B>_I<I>_H<H>/<tanh|relu> with the FLOPs of
 * a cell whose GEMMs have gates*H columns: forward 2*T*B*gates*H*(I+H), training
 * (train != 0) 3x forward. */
void bench_register_rnn(const char *what, bench_fn run, void *ctx, bench_shape s, recur_act act,
                        int gates, int train);

/* "model name (vendor, family F, model M)" from /proc/cpuinfo into buf, or
 * "unknown CPU"; returns buf. */
const char *bench_cpu_name(char *buf, size_t size);

/* ---- Data ------------------------------------------------------------------ */

/* n floats, 64-byte aligned, rounded up to whole cache lines; NULL on failure. */
float *bench_falloc(size_t n);
/* Deterministic uniform values in [-0.1, 0.1] from seed. */
void bench_fill(float *p, size_t n, uint32_t seed);

/* One layer's tensors in recur's (Keras) layouts: W [I][gates*H], U [H][gates*H],
 * b and db [bias_len], x, dx [T][B][I], y, dy [T][B][H]. For a cell whose gate
 * order matches oneDNN's, W and U are oneDNN's ldigo with l = d = 1. */
typedef struct {
    float *W, *U, *b, *x, *dy;    /* inputs */
    float *y, *dx, *dW, *dU, *db; /* outputs */
    float *buf;                   /* all of them, 64-byte aligned each; free(buf) */
} bench_rnn_data;

/* Allocates and fills every tensor, outputs too (their pages get touched here,
 * not in the timed loop), with the same numbers for every benchmark of a shape;
 * 0 on failure. */
int bench_data_alloc(bench_rnn_data *m, bench_shape s, int gates, size_t bias_len);

/* ---- recur ------------------------------------------------------------------ */

/* One timed iteration of a recur benchmark. */
typedef recur_status (*bench_recur_step)(const void *ctx, bench_rnn_data *m, void *ws);

/* Allocates a workspace of ws_bytes and the data, runs prepare once (NULL:
 * none) and step once untimed (the workspace's first touch), then step in the
 * timed loop; skips st on any failure. prepare packs the weights of an
 * inference benchmark into the workspace, as oneDNN's reorder runs before its
 * timed loop. */
void bench_recur_run(bench_state *st, bench_recur_step prepare, bench_recur_step step,
                     const void *ctx, bench_shape s, int gates, size_t bias_len, size_t ws_bytes);

/* ---- oneDNN ----------------------------------------------------------------- */

typedef struct {
    dnnl_alg_kind_t cell;       /* dnnl_vanilla_lstm, _vanilla_gru, _lbr_gru, _vanilla_rnn */
    dnnl_alg_kind_t activation; /* dnnl_vanilla_rnn's: dnnl_eltwise_tanh or dnnl_eltwise_relu */
    bench_shape s;
    int train; /* forward_training + backward; else forward_inference */
} bench_onednn_desc;

/* Fills oneDNN's bias (ldgo: one row of H per oneDNN bias gate, oneDNN's gate
 * order) from recur's m->b. */
typedef void (*bench_onednn_bias)(const void *ctx, const bench_rnn_data *m, float *bias);
/* Called once after the warm-up, with oneDNN's forward output in m->y; returns 1
 * if it is right, else 0 with a message in msg. */
typedef int (*bench_onednn_check)(const void *ctx, const bench_rnn_data *m, char *msg,
                                  size_t msg_len);

/* Times oneDNN's primitive c over bench_data_alloc's buffers (gates and bias_len
 * as for recur): x, y, dx, dy wrapped as they are, W and U reordered once into
 * the layouts the primitives choose, the bias from to_bias (NULL: recur's b is
 * oneDNN's bias as it is). check (NULL: none) runs after the untimed warm-up.
 * st is skipped on any failure, naming the oneDNN call. */
void bench_onednn_run(bench_state *st, const bench_onednn_desc *c, size_t bias_len,
                      bench_onednn_bias to_bias, bench_onednn_check check, const void *ctx);

#endif /* RECUR_BENCH_UTIL_H */
