/* recur's LSTM primitive against oneDNN's own LSTM primitive, same shapes, same
 * run, plus dnnl_sgemm as the run's practical peak.
 *
 * Benchmark names, <what>/T<T>_B<B>_I<I>_H<H>/<activation>:
 *   fwd, train                 recur: forward; forward + backward
 *   onednn_fwd, onednn_train   oneDNN: forward_inference; forward_training + backward
 * and sgemm_peak/1024 (dnnl_sgemm, 1024^3), with sgemm_peak_1thread/1024 beside it
 * when the run has more threads.
 * FLOPs (the FLOPS counter): forward = 2*T*B*4H*(I+H), the GEMMs; training = 3x
 * forward. Inputs are random in [-0.1, 0.1], the same for both libraries; h0 and
 * c0 are zeros and the final states are not asked for, in both. bench/table.py
 * turns the JSON report into tables. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <recur.h>

#include "bench_model.h"
#include "shim.h"

enum { SGEMM_N = 1024, ALIGN_FLOATS = 16 /* 64 bytes */ };

typedef enum { PASS_FWD, PASS_TRAIN } lstm_pass;

typedef struct {
    recur_lstm_desc d;
    lstm_pass pass;
} lstm_case;

/* ---- Data ------------------------------------------------------------------ */

static size_t round_floats(size_t n) {
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

static float *falloc(size_t n) {
    return aligned_alloc(64, round_floats(n) * sizeof(float));
}

/* Deterministic uniform values in [-0.1, 0.1] (xorshift32). */
static void fill(float *p, size_t n, uint32_t seed) {
    for (size_t k = 0; k < n; k++) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        p[k] = 0.2f * (float)(seed >> 8) / (float)(1u << 24) - 0.1f;
    }
}

/* One layer's tensors in recur's (Keras) layouts, which are oneDNN's plain ones too:
 * W [I][4H] and U [H][4H] are oneDNN's ldigo with l = d = 1 (both order the
 * gates i, f, c, o), b [4H] is ldgo, x, y, dx, dy [T][B][*] are tnc. */
typedef struct {
    float *W, *U, *b, *x, *dy;    /* inputs */
    float *y, *dx, *dW, *dU, *db; /* outputs */
    float *buf;                   /* all of them, 64-byte aligned each */
} lstm_data;

static int data_alloc(lstm_data *m, const recur_lstm_desc *d) {
    const size_t T = (size_t)d->seq_len, B = (size_t)d->batch, I = (size_t)d->input_size,
                 H = (size_t)d->hidden_size, G = 4 * H;
    float **slot[] = {&m->W, &m->U, &m->b, &m->x, &m->dy, &m->y, &m->dx, &m->dW, &m->dU, &m->db};
    const size_t len[] = {I * G,     H * G,     G,     T * B * I, T * B * H,
                          T * B * H, T * B * I, I * G, H * G,     G};
    const size_t n = sizeof len / sizeof len[0];
    size_t total = 0;
    for (size_t k = 0; k < n; k++) total += round_floats(len[k]);
    if (!(m->buf = falloc(total))) return 0;
    /* outputs too: their pages get touched here, not in the timed loop */
    fill(m->buf, total, 20240607u);
    for (size_t k = 0, off = 0; k < n; off += round_floats(len[k]), k++) *slot[k] = m->buf + off;
    return 1;
}

/* ---- recur ------------------------------------------------------------------ */

/* "fwd" times the training forward (with a workspace): the inference forward
 * (workspace NULL) gives the same y but allocates its scratch on every call, so
 * it would time malloc and page faults. "train" adds the backward with dx and
 * all weight gradients. */
static recur_status recur_step(const lstm_case *c, lstm_data *m, void *ws) {
    recur_status s =
        recur_lstm_forward(&c->d, m->W, m->U, m->b, m->x, NULL, NULL, m->y, NULL, NULL, ws);
    if (s == RECUR_OK && c->pass == PASS_TRAIN)
        s = recur_lstm_backward(&c->d, m->W, m->U, m->b, m->x, NULL, NULL, m->dy, NULL, NULL, m->dx,
                                NULL, NULL, m->dW, m->dU, m->db, ws);
    return s;
}

static void bench_recur(void *ctx, bench_state *st) {
    const lstm_case *c = ctx;
    lstm_data m = {0};
    void *ws = aligned_alloc(64, (recur_lstm_workspace_size(&c->d) + 63) / 64 * 64);
    if (!ws || !data_alloc(&m, &c->d)) {
        bench_skip(st, "cannot allocate the benchmark's buffers");
    } else {
        recur_status s = recur_step(c, &m, ws); /* warm-up: the workspace's first touch */
        while (s == RECUR_OK && bench_keep_running(st)) s = recur_step(c, &m, ws);
        if (s != RECUR_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s: %s", recur_status_string(s), recur_last_error());
            bench_skip(st, msg);
        }
    }
    free(ws);
    free(m.buf);
}

/* ---- oneDNN ----------------------------------------------------------------- */

/* The memories of one benchmark, by role. */
/* clang-format off */
enum {
    M_X, M_Y, M_B, M_DY, M_DX, M_DB, /* recur's buffers, wrapped */
    M_W, M_U,                        /* W, U as ldigo: the source of the reorders */
    M_WF, M_UF,                      /* W, U in the layout forward chose */
    M_WB, M_UB,                      /* W, U in the layout backward chose */
    M_DW, M_DU,                      /* dW, dU in backward's layout */
    M_WS,                            /* the workspace forward_training leaves for backward */
    M_H0, M_C0, M_DH0, M_DC0,        /* zero initial states; their gradients */
    N_MEM
};
/* clang-format on */

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    dnnl_primitive_t fwd, bwd; /* bwd: NULL for inference */
    dnnl_memory_t mem[N_MEM];
    dnnl_exec_arg_t fwd_args[8], bwd_args[15];
    int n_fwd, n_bwd;
    void *grad[3]; /* dW, dU, db: backward accumulates into them */
    size_t grad_bytes[3];
    const char *failed; /* the oneDNN call that failed */
} onednn_lstm;

/* Calls fn; on failure leaves the status in s, names the innermost failing
 * call in o->failed and jumps to the caller's `done` label. */
#define TRY(fn, ...)                                                                               \
    do {                                                                                           \
        if ((s = fn(__VA_ARGS__)) != dnnl_success) {                                               \
            if (!o->failed) o->failed = #fn;                                                       \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* *dst = src copied into the layout md; once per benchmark, untimed. */
static dnnl_status_t reorder_into(onednn_lstm *o, dnnl_memory_t *dst, dnnl_memory_t src,
                                  const dnnl_memory_desc_t *md) {
    dnnl_status_t s;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    const dnnl_memory_desc_t *src_md;
    TRY(dnnl_memory_create, dst, md, o->eng, DNNL_MEMORY_ALLOCATE);
    TRY(dnnl_memory_get_memory_desc, src, &src_md);
    TRY(dnnl_reorder_primitive_desc_create, &pd, src_md, o->eng, md, o->eng, NULL);
    TRY(dnnl_primitive_create, &r, pd);
    const dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, *dst}};
    TRY(dnnl_primitive_execute, r, o->strm, 2, args);
    TRY(dnnl_stream_wait, o->strm);
done:
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

/* The memory descriptor a primitive wants for argument arg. */
static const dnnl_memory_desc_t *arg_md(const_dnnl_primitive_desc_t pd, int arg) {
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

/* Unidirectional, one layer, f32. Data stays in recur's tnc buffers; weights are
 * declared format_tag_any, and W, U are reordered once into whatever layout
 * each primitive picks (forward and backward may differ). No dst iter states
 * (hT, cT not wanted, as recur with NULL). h0 and c0 are explicit zeros rather
 * than NULL because oneDNN 2.6.3's backward without src_iter gets dU wrong
 * (checked against recur and finite differences); with src_iter it must also
 * write dh0, dc0, one extra small GEMM that recur skips. */
static dnnl_status_t onednn_setup(onednn_lstm *o, const lstm_case *c, lstm_data *m) {
    const dnnl_dim_t T = c->d.seq_len, B = c->d.batch, I = c->d.input_size, H = c->d.hidden_size;
    const dnnl_dims_t x_dims = {T, B, I}, y_dims = {T, B, H}, w_dims = {1, 1, I, 4, H},
                      u_dims = {1, 1, H, 4, H}, b_dims = {1, 1, 4, H}, s_dims = {1, 1, B, H};
    const int train = c->pass == PASS_TRAIN;
    dnnl_memory_desc_t x_md, y_md, b_md, s_md, w_md, u_md, w_any, u_any;
    dnnl_rnn_desc_t fd, bd;
    dnnl_status_t s;

    TRY(dnnl_memory_desc_init_by_tag, &x_md, 3, x_dims, dnnl_f32, dnnl_tnc);
    TRY(dnnl_memory_desc_init_by_tag, &y_md, 3, y_dims, dnnl_f32, dnnl_tnc);
    TRY(dnnl_memory_desc_init_by_tag, &b_md, 4, b_dims, dnnl_f32, dnnl_ldgo);
    TRY(dnnl_memory_desc_init_by_tag, &s_md, 4, s_dims, dnnl_f32, dnnl_ldnc);
    TRY(dnnl_memory_desc_init_by_tag, &w_md, 5, w_dims, dnnl_f32, dnnl_ldigo);
    TRY(dnnl_memory_desc_init_by_tag, &u_md, 5, u_dims, dnnl_f32, dnnl_ldigo);
    TRY(dnnl_memory_desc_init_by_tag, &w_any, 5, w_dims, dnnl_f32, dnnl_format_tag_any);
    TRY(dnnl_memory_desc_init_by_tag, &u_any, 5, u_dims, dnnl_f32, dnnl_format_tag_any);

    TRY(dnnl_engine_create, &o->eng, dnnl_cpu, 0);
    TRY(dnnl_stream_create, &o->strm, o->eng, dnnl_stream_default_flags);
    TRY(dnnl_lstm_forward_desc_init, &fd, train ? dnnl_forward_training : dnnl_forward_inference,
        dnnl_unidirectional_left2right, &x_md, &s_md, &s_md, &w_any, &u_any, &b_md, &y_md, NULL,
        NULL, 0);
    TRY(dnnl_primitive_desc_create, &o->fwd_pd, &fd, NULL, o->eng, NULL);
    if (train) {
        TRY(dnnl_lstm_backward_desc_init, &bd, dnnl_backward, dnnl_unidirectional_left2right, &x_md,
            &s_md, &s_md, &w_any, &u_any, &b_md, &y_md, NULL, NULL, &x_md, &s_md, &s_md, &w_any,
            &u_any, &b_md, &y_md, NULL, NULL, 0);
        TRY(dnnl_primitive_desc_create, &o->bwd_pd, &bd, NULL, o->eng, o->fwd_pd);
    }

    const struct {
        int id;
        const dnnl_memory_desc_t *md;
        void *data;
    } user[] = {{M_X, &x_md, m->x},   {M_Y, &y_md, m->y},   {M_B, &b_md, m->b},
                {M_DY, &y_md, m->dy}, {M_DX, &x_md, m->dx}, {M_DB, &b_md, m->db},
                {M_W, &w_md, m->W},   {M_U, &u_md, m->U}};
    for (size_t k = 0; k < sizeof user / sizeof user[0]; k++)
        TRY(dnnl_memory_create, &o->mem[user[k].id], user[k].md, o->eng, user[k].data);
    const int state_id[] = {M_H0, M_C0, M_DH0, M_DC0};
    for (int k = 0; k < (train ? 4 : 2); k++) {
        void *p;
        TRY(dnnl_memory_create, &o->mem[state_id[k]], &s_md, o->eng, DNNL_MEMORY_ALLOCATE);
        TRY(dnnl_memory_get_data_handle, o->mem[state_id[k]], &p);
        memset(p, 0, dnnl_memory_desc_get_size(&s_md));
    }
    TRY(reorder_into, o, &o->mem[M_WF], o->mem[M_W], arg_md(o->fwd_pd, DNNL_ARG_WEIGHTS_LAYER));
    TRY(reorder_into, o, &o->mem[M_UF], o->mem[M_U], arg_md(o->fwd_pd, DNNL_ARG_WEIGHTS_ITER));
    TRY(dnnl_primitive_create, &o->fwd, o->fwd_pd);
    if (train) {
        TRY(dnnl_memory_create, &o->mem[M_WS], arg_md(o->fwd_pd, DNNL_ARG_WORKSPACE), o->eng,
            DNNL_MEMORY_ALLOCATE);
        TRY(reorder_into, o, &o->mem[M_WB], o->mem[M_W], arg_md(o->bwd_pd, DNNL_ARG_WEIGHTS_LAYER));
        TRY(reorder_into, o, &o->mem[M_UB], o->mem[M_U], arg_md(o->bwd_pd, DNNL_ARG_WEIGHTS_ITER));
        TRY(dnnl_memory_create, &o->mem[M_DW], arg_md(o->bwd_pd, DNNL_ARG_DIFF_WEIGHTS_LAYER),
            o->eng, DNNL_MEMORY_ALLOCATE);
        TRY(dnnl_memory_create, &o->mem[M_DU], arg_md(o->bwd_pd, DNNL_ARG_DIFF_WEIGHTS_ITER),
            o->eng, DNNL_MEMORY_ALLOCATE);
        const int grad_id[] = {M_DW, M_DU, M_DB};
        for (int k = 0; k < 3; k++) {
            const dnnl_memory_desc_t *md;
            TRY(dnnl_memory_get_data_handle, o->mem[grad_id[k]], &o->grad[k]);
            TRY(dnnl_memory_get_memory_desc, o->mem[grad_id[k]], &md);
            o->grad_bytes[k] = dnnl_memory_desc_get_size(md);
        }
        TRY(dnnl_primitive_create, &o->bwd, o->bwd_pd);
    }

    /* argument lists: {DNNL_ARG_*, memory}; the workspace (training only) last in fwd */
    static const int fwd_map[][2] = {{DNNL_ARG_SRC_LAYER, M_X},     {DNNL_ARG_SRC_ITER, M_H0},
                                     {DNNL_ARG_SRC_ITER_C, M_C0},   {DNNL_ARG_WEIGHTS_LAYER, M_WF},
                                     {DNNL_ARG_WEIGHTS_ITER, M_UF}, {DNNL_ARG_BIAS, M_B},
                                     {DNNL_ARG_DST_LAYER, M_Y},     {DNNL_ARG_WORKSPACE, M_WS}};
    static const int bwd_map[][2] = {
        {DNNL_ARG_SRC_LAYER, M_X},           {DNNL_ARG_SRC_ITER, M_H0},
        {DNNL_ARG_SRC_ITER_C, M_C0},         {DNNL_ARG_WEIGHTS_LAYER, M_WB},
        {DNNL_ARG_WEIGHTS_ITER, M_UB},       {DNNL_ARG_BIAS, M_B},
        {DNNL_ARG_DST_LAYER, M_Y},           {DNNL_ARG_WORKSPACE, M_WS},
        {DNNL_ARG_DIFF_DST_LAYER, M_DY},     {DNNL_ARG_DIFF_SRC_LAYER, M_DX},
        {DNNL_ARG_DIFF_SRC_ITER, M_DH0},     {DNNL_ARG_DIFF_SRC_ITER_C, M_DC0},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, M_DW}, {DNNL_ARG_DIFF_WEIGHTS_ITER, M_DU},
        {DNNL_ARG_DIFF_BIAS, M_DB}};
    o->n_fwd = train ? 8 : 7;
    o->n_bwd = train ? 15 : 0;
    for (int k = 0; k < o->n_fwd; k++)
        o->fwd_args[k] = (dnnl_exec_arg_t){fwd_map[k][0], o->mem[fwd_map[k][1]]};
    for (int k = 0; k < o->n_bwd; k++)
        o->bwd_args[k] = (dnnl_exec_arg_t){bwd_map[k][0], o->mem[bwd_map[k][1]]};
done:
    return s;
}

/* One timed iteration. oneDNN's RNN backward adds into dW, dU, db, so they are
 * cleared first: that is the work recur does by overwriting them. */
static dnnl_status_t onednn_step(onednn_lstm *o) {
    dnnl_status_t s;
    if (o->bwd)
        for (int k = 0; k < 3; k++) memset(o->grad[k], 0, o->grad_bytes[k]);
    TRY(dnnl_primitive_execute, o->fwd, o->strm, o->n_fwd, o->fwd_args);
    if (o->bwd) TRY(dnnl_primitive_execute, o->bwd, o->strm, o->n_bwd, o->bwd_args);
    TRY(dnnl_stream_wait, o->strm);
done:
    return s;
}

static void onednn_free(onednn_lstm *o) {
    dnnl_primitive_destroy(o->fwd);
    dnnl_primitive_destroy(o->bwd);
    dnnl_primitive_desc_destroy(o->fwd_pd);
    dnnl_primitive_desc_destroy(o->bwd_pd);
    for (int k = 0; k < N_MEM; k++) dnnl_memory_destroy(o->mem[k]);
    dnnl_stream_destroy(o->strm);
    dnnl_engine_destroy(o->eng);
}

static void bench_onednn(void *ctx, bench_state *st) {
    const lstm_case *c = ctx;
    lstm_data m = {0};
    onednn_lstm o = {0};
    dnnl_status_t s = dnnl_out_of_memory;
    if (data_alloc(&m, &c->d))
        s = onednn_setup(&o, c, &m);
    else
        o.failed = "aligned_alloc";
    if (s == dnnl_success) s = onednn_step(&o); /* warm-up: JIT, the workspace's first touch */
    while (s == dnnl_success && bench_keep_running(st)) s = onednn_step(&o);
    if (s != dnnl_success) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s failed: %s", o.failed, dnnl_status2str(s));
        bench_skip(st, msg);
    }
    onednn_free(&o);
    free(m.buf);
}

/* ---- The run's practical peak ---------------------------------------------- */

static void bench_sgemm(void *ctx, bench_state *st) {
    (void)ctx;
    const dnnl_dim_t n = SGEMM_N;
    const size_t nn = (size_t)n * n;
    float *a = falloc(3 * nn);
    if (!a) {
        bench_skip(st, "cannot allocate the matrices");
        return;
    }
    float *b = a + nn, *c = b + nn;
    fill(a, 3 * nn, 1u);
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

static const recur_lstm_desc shapes[] = {
    {28, 32, 28, 128, RECUR_ACT_TANH}, /* the Keras MNIST tutorial: image rows as steps */
    {28, 32, 128, 128, RECUR_ACT_TANH},
    {28, 64, 128, 128, RECUR_ACT_TANH},
    {28, 256, 128, 128, RECUR_ACT_TANH},
    {100, 64, 512, 512, RECUR_ACT_TANH},
    /* DeepBench LSTM training shapes: T = 25, I = H */
    {25, 16, 512, 512, RECUR_ACT_TANH},
    {25, 64, 512, 512, RECUR_ACT_TANH},
    {25, 16, 1024, 1024, RECUR_ACT_TANH},
    {25, 64, 1024, 1024, RECUR_ACT_TANH},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

/* per shape: fwd, train, onednn_fwd, onednn_train; the tutorial shape adds ReLU fwd, train */
static lstm_case cases[4 * N_SHAPES + 2];
static int n_cases;

static void add_case(bench_fn run, const char *what, recur_lstm_desc d, lstm_pass pass) {
    lstm_case *c = &cases[n_cases++];
    *c = (lstm_case){d, pass};
    char name[128];
    snprintf(name, sizeof name, "%s/T%d_B%d_I%d_H%d/%s", what, d.seq_len, d.batch, d.input_size,
             d.hidden_size, d.activation == RECUR_ACT_RELU ? "relu" : "tanh");
    const double fwd =
        2.0 * d.seq_len * d.batch * 4.0 * d.hidden_size * (d.input_size + d.hidden_size);
    bench_register(name, run, c, pass == PASS_TRAIN ? 3 * fwd : fwd);
}

int main(int argc, char **argv) {
    bench_register("sgemm_peak/1024", bench_sgemm, NULL, 2.0 * SGEMM_N * SGEMM_N * SGEMM_N);
    if (omp_get_max_threads() > 1)
        bench_register("sgemm_peak_1thread/1024", bench_sgemm_1thread, NULL,
                       2.0 * SGEMM_N * SGEMM_N * SGEMM_N);
    bench_model_register();
    for (int k = 0; k < N_SHAPES; k++) {
        recur_lstm_desc d = shapes[k];
        add_case(bench_recur, "fwd", d, PASS_FWD);
        add_case(bench_recur, "train", d, PASS_TRAIN);
        add_case(bench_onednn, "onednn_fwd", d, PASS_FWD);
        add_case(bench_onednn, "onednn_train", d, PASS_TRAIN);
        if (k == 0) { /* ReLU must run at tanh's speed; oneDNN's LSTM has only tanh */
            d.activation = RECUR_ACT_RELU;
            add_case(bench_recur, "fwd", d, PASS_FWD);
            add_case(bench_recur, "train", d, PASS_TRAIN);
        }
    }
    /* recur follows OpenMP unless told otherwise; oneDNN always uses omp_get_max_threads() */
    char buf[32];
    snprintf(buf, sizeof buf, "%d", recur_get_num_threads());
    bench_add_context("recur_threads", buf);
    snprintf(buf, sizeof buf, "%d", omp_get_max_threads());
    bench_add_context("omp_max_threads", buf);
    bench_add_context("recur_isa", recur_isa());
    return bench_main(argc, argv);
}
