/* The primitive benchmarks' shared parts; see bench_util.h. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

enum { ALIGN_FLOATS = 16 /* 64 bytes */ };

const bench_shape bench_shapes[] = {
    {28, 32, 28, 128}, /* the Keras MNIST tutorial: image rows as steps */
    {28, 32, 128, 128},
    {28, 64, 128, 128},
    {28, 256, 128, 128},
    {100, 64, 512, 512},
    /* DeepBench LSTM training shapes: T = 25, I = H */
    {25, 16, 512, 512},
    {25, 64, 512, 512},
    {25, 16, 1024, 1024},
    {25, 64, 1024, 1024},
};
_Static_assert(sizeof bench_shapes / sizeof bench_shapes[0] == BENCH_N_SHAPES,
               "BENCH_N_SHAPES counts bench_shapes");

void bench_register_rnn(const char *what, bench_fn run, void *ctx, bench_shape s, recur_act act,
                        int gates, int train) {
    char name[128];
    snprintf(name, sizeof name, "%s/T%d_B%d_I%d_H%d/%s", what, s.T, s.B, s.I, s.H,
             act == RECUR_ACT_RELU ? "relu" : "tanh");
    const double fwd = 2.0 * s.T * s.B * gates * (double)s.H * (s.I + s.H);
    bench_register(name, run, ctx, train ? 3 * fwd : fwd);
}

/* ---- Data ------------------------------------------------------------------ */

static size_t round_floats(size_t n) {
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

float *bench_falloc(size_t n) {
    return aligned_alloc(64, round_floats(n) * sizeof(float));
}

/* xorshift32, the top 24 bits scaled */
void bench_fill(float *p, size_t n, uint32_t seed) {
    for (size_t k = 0; k < n; k++) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        p[k] = 0.2f * (float)(seed >> 8) / (float)(1u << 24) - 0.1f;
    }
}

int bench_data_alloc(bench_rnn_data *m, bench_shape s, int gates, size_t bias_len) {
    const size_t T = (size_t)s.T, B = (size_t)s.B, I = (size_t)s.I, G = (size_t)gates * s.H,
                 H = (size_t)s.H;
    float **slot[] = {&m->W, &m->U, &m->b, &m->x, &m->dy, &m->y, &m->dx, &m->dW, &m->dU, &m->db};
    const size_t len[] = {I * G,     H * G,     bias_len, T * B * I, T * B * H,
                          T * B * H, T * B * I, I * G,    H * G,     bias_len};
    const size_t n = sizeof len / sizeof len[0];
    size_t total = 0;
    for (size_t k = 0; k < n; k++) total += round_floats(len[k]);
    if (!(m->buf = bench_falloc(total))) return 0;
    bench_fill(m->buf, total, 20240607u);
    for (size_t k = 0, off = 0; k < n; off += round_floats(len[k]), k++) *slot[k] = m->buf + off;
    return 1;
}

/* ---- recur ------------------------------------------------------------------ */

void bench_recur_run(bench_state *st, bench_recur_step prepare, bench_recur_step step,
                     const void *ctx, bench_shape s, int gates, size_t bias_len, size_t ws_bytes) {
    bench_rnn_data m = {0};
    void *ws = bench_falloc((ws_bytes + sizeof(float) - 1) / sizeof(float));
    if (!ws || !bench_data_alloc(&m, s, gates, bias_len)) {
        bench_skip(st, "cannot allocate the benchmark's buffers");
    } else {
        recur_status r = prepare ? prepare(ctx, &m, ws) : RECUR_OK;
        if (r == RECUR_OK) r = step(ctx, &m, ws); /* warm-up: the workspace's first touch */
        while (r == RECUR_OK && bench_keep_running(st)) r = step(ctx, &m, ws);
        if (r != RECUR_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s: %s", recur_status_string(r), recur_last_error());
            bench_skip(st, msg);
        }
    }
    free(ws);
    free(m.buf);
}

/* ---- oneDNN ----------------------------------------------------------------- */

/* The memories of one benchmark, by role; those a cell or pass has no use for
 * stay NULL and are left out of the argument lists. */
/* clang-format off */
enum {
    M_X, M_Y, M_DY, M_DX,     /* recur's buffers, wrapped */
    M_B, M_DB,                /* the bias in oneDNN's gate rows; its gradient */
    M_W, M_U,                 /* W, U as ldigo: the source of the reorders */
    M_WF, M_UF,               /* W, U in the layout forward chose */
    M_WB, M_UB,               /* W, U in the layout backward chose */
    M_DW, M_DU,               /* dW, dU in backward's layout */
    M_WS,                     /* the workspace forward_training leaves for backward */
    M_H0, M_C0, M_DH0, M_DC0, /* zero initial states (c: LSTM only); their gradients */
    N_MEM
};
/* clang-format on */

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    dnnl_primitive_t fwd, bwd; /* bwd: NULL for inference */
    dnnl_memory_t mem[N_MEM];
    dnnl_exec_arg_t fwd_args[N_MEM], bwd_args[N_MEM];
    int n_fwd, n_bwd;
    void *grad[3]; /* dW, dU, db: backward accumulates into them */
    size_t grad_bytes[3];
    const char *failed; /* the oneDNN call that failed */
} onednn_rnn;

/* Calls fn; on failure leaves the status in s, names the innermost failing
 * call in o->failed and jumps to the caller's `done` label. */
#define TRY(fn, ...)                                                                               \
    do {                                                                                           \
        if ((s = fn(__VA_ARGS__)) != dnnl_success) {                                               \
            if (!o->failed) o->failed = #fn;                                                       \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Gate blocks of W and U, and bias rows, of a oneDNN cell. The LBR GRU keeps the
 * candidate's recurrent bias apart from its input bias, as a 4th row. */
static void cell_gates(dnnl_alg_kind_t cell, int *weight_gates, int *bias_gates) {
    *weight_gates = cell == dnnl_vanilla_lstm ? 4 : cell == dnnl_vanilla_rnn ? 1 : 3;
    *bias_gates = cell == dnnl_vanilla_gru ? 3 : cell == dnnl_vanilla_rnn ? 1 : 4;
}

/* *dst = src copied into the layout md; once per benchmark, untimed. */
static dnnl_status_t reorder_into(onednn_rnn *o, dnnl_memory_t *dst, dnnl_memory_t src,
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

/* The descriptors' memory: data, states, bias, weights (format_tag_any). */
typedef struct {
    dnnl_memory_desc_t x, y, s, b, w, u;
} rnn_mds;

/* The cell's forward (bwd = 0) or backward descriptor; no dst iter states. */
static dnnl_status_t rnn_desc_init(dnnl_rnn_desc_t *rd, const bench_onednn_desc *c, int bwd,
                                   const rnn_mds *d) {
    const dnnl_rnn_direction_t dir = dnnl_unidirectional_left2right;
    const dnnl_prop_kind_t prop = bwd        ? dnnl_backward
                                  : c->train ? dnnl_forward_training
                                             : dnnl_forward_inference;
    switch (c->cell) {
    case dnnl_vanilla_lstm:
        return bwd ? dnnl_lstm_backward_desc_init(rd, prop, dir, &d->x, &d->s, &d->s, &d->w, &d->u,
                                                  &d->b, &d->y, NULL, NULL, &d->x, &d->s, &d->s,
                                                  &d->w, &d->u, &d->b, &d->y, NULL, NULL, 0)
                   : dnnl_lstm_forward_desc_init(rd, prop, dir, &d->x, &d->s, &d->s, &d->w, &d->u,
                                                 &d->b, &d->y, NULL, NULL, 0);
    case dnnl_vanilla_gru:
        return bwd ? dnnl_gru_backward_desc_init(rd, prop, dir, &d->x, &d->s, &d->w, &d->u, &d->b,
                                                 &d->y, NULL, &d->x, &d->s, &d->w, &d->u, &d->b,
                                                 &d->y, NULL, 0)
                   : dnnl_gru_forward_desc_init(rd, prop, dir, &d->x, &d->s, &d->w, &d->u, &d->b,
                                                &d->y, NULL, 0);
    case dnnl_lbr_gru:
        return bwd ? dnnl_lbr_gru_backward_desc_init(rd, prop, dir, &d->x, &d->s, &d->w, &d->u,
                                                     &d->b, &d->y, NULL, &d->x, &d->s, &d->w, &d->u,
                                                     &d->b, &d->y, NULL, 0)
                   : dnnl_lbr_gru_forward_desc_init(rd, prop, dir, &d->x, &d->s, &d->w, &d->u,
                                                    &d->b, &d->y, NULL, 0);
    case dnnl_vanilla_rnn: /* alpha: relu's negative slope, 0 as Keras's; beta unused */
        return bwd ? dnnl_vanilla_rnn_backward_desc_init(
                         rd, prop, c->activation, dir, &d->x, &d->s, &d->w, &d->u, &d->b, &d->y,
                         NULL, &d->x, &d->s, &d->w, &d->u, &d->b, &d->y, NULL, 0, 0.0f, 0.0f)
                   : dnnl_vanilla_rnn_forward_desc_init(rd, prop, c->activation, dir, &d->x, &d->s,
                                                        &d->w, &d->u, &d->b, &d->y, NULL, 0, 0.0f,
                                                        0.0f);
    default: /* the bench builds only the three cell kinds above */
        return dnnl_unimplemented;
    }
}

/* Unidirectional, one layer, f32. Data stays in recur's tnc buffers; weights are
 * declared format_tag_any, and W, U are reordered once into whatever layout
 * each primitive picks (forward and backward may differ). No dst iter states
 * (hT, cT not wanted, as recur with NULL). h0 (and the LSTM's c0) are explicit
 * zeros rather than NULL because oneDNN 2.6.3's LSTM backward without src_iter
 * gets dU wrong (checked against recur and finite differences); with src_iter
 * it must also write dh0 (dc0), one extra small GEMM that recur skips. */
static dnnl_status_t onednn_setup(onednn_rnn *o, const bench_onednn_desc *c, bench_rnn_data *m,
                                  float *bias) {
    int wg, bg;
    cell_gates(c->cell, &wg, &bg);
    const dnnl_dim_t T = c->s.T, B = c->s.B, I = c->s.I, H = c->s.H;
    const dnnl_dims_t x_dims = {T, B, I}, y_dims = {T, B, H}, w_dims = {1, 1, I, wg, H},
                      u_dims = {1, 1, H, wg, H}, b_dims = {1, 1, bg, H}, s_dims = {1, 1, B, H};
    const int lstm = c->cell == dnnl_vanilla_lstm;
    rnn_mds d;
    dnnl_memory_desc_t w_md, u_md;
    dnnl_rnn_desc_t fd, bd;
    dnnl_status_t s;

    TRY(dnnl_memory_desc_init_by_tag, &d.x, 3, x_dims, dnnl_f32, dnnl_tnc);
    TRY(dnnl_memory_desc_init_by_tag, &d.y, 3, y_dims, dnnl_f32, dnnl_tnc);
    TRY(dnnl_memory_desc_init_by_tag, &d.b, 4, b_dims, dnnl_f32, dnnl_ldgo);
    TRY(dnnl_memory_desc_init_by_tag, &d.s, 4, s_dims, dnnl_f32, dnnl_ldnc);
    TRY(dnnl_memory_desc_init_by_tag, &w_md, 5, w_dims, dnnl_f32, dnnl_ldigo);
    TRY(dnnl_memory_desc_init_by_tag, &u_md, 5, u_dims, dnnl_f32, dnnl_ldigo);
    TRY(dnnl_memory_desc_init_by_tag, &d.w, 5, w_dims, dnnl_f32, dnnl_format_tag_any);
    TRY(dnnl_memory_desc_init_by_tag, &d.u, 5, u_dims, dnnl_f32, dnnl_format_tag_any);

    TRY(dnnl_engine_create, &o->eng, dnnl_cpu, 0);
    TRY(dnnl_stream_create, &o->strm, o->eng, dnnl_stream_default_flags);
    TRY(rnn_desc_init, &fd, c, 0, &d);
    TRY(dnnl_primitive_desc_create, &o->fwd_pd, &fd, NULL, o->eng, NULL);
    if (c->train) {
        TRY(rnn_desc_init, &bd, c, 1, &d);
        TRY(dnnl_primitive_desc_create, &o->bwd_pd, &bd, NULL, o->eng, o->fwd_pd);
    }

    const struct {
        int id;
        const dnnl_memory_desc_t *md;
        void *data;
    } user[] = {{M_X, &d.x, m->x}, {M_Y, &d.y, m->y},  {M_DY, &d.y, m->dy}, {M_DX, &d.x, m->dx},
                {M_B, &d.b, bias}, {M_W, &w_md, m->W}, {M_U, &u_md, m->U}};
    for (size_t k = 0; k < sizeof user / sizeof user[0]; k++)
        TRY(dnnl_memory_create, &o->mem[user[k].id], user[k].md, o->eng, user[k].data);
    const int state_id[] = {M_H0, M_C0, M_DH0, M_DC0};
    for (int k = 0; k < (c->train ? 4 : 2); k++) {
        void *p;
        if (!lstm && (state_id[k] == M_C0 || state_id[k] == M_DC0)) continue;
        TRY(dnnl_memory_create, &o->mem[state_id[k]], &d.s, o->eng, DNNL_MEMORY_ALLOCATE);
        TRY(dnnl_memory_get_data_handle, o->mem[state_id[k]], &p);
        memset(p, 0, dnnl_memory_desc_get_size(&d.s));
    }
    TRY(reorder_into, o, &o->mem[M_WF], o->mem[M_W], arg_md(o->fwd_pd, DNNL_ARG_WEIGHTS_LAYER));
    TRY(reorder_into, o, &o->mem[M_UF], o->mem[M_U], arg_md(o->fwd_pd, DNNL_ARG_WEIGHTS_ITER));
    TRY(dnnl_primitive_create, &o->fwd, o->fwd_pd);
    if (c->train) {
        TRY(dnnl_memory_create, &o->mem[M_WS], arg_md(o->fwd_pd, DNNL_ARG_WORKSPACE), o->eng,
            DNNL_MEMORY_ALLOCATE);
        TRY(reorder_into, o, &o->mem[M_WB], o->mem[M_W], arg_md(o->bwd_pd, DNNL_ARG_WEIGHTS_LAYER));
        TRY(reorder_into, o, &o->mem[M_UB], o->mem[M_U], arg_md(o->bwd_pd, DNNL_ARG_WEIGHTS_ITER));
        const int grad_id[] = {M_DW, M_DU, M_DB},
                  grad_arg[] = {DNNL_ARG_DIFF_WEIGHTS_LAYER, DNNL_ARG_DIFF_WEIGHTS_ITER,
                                DNNL_ARG_DIFF_BIAS};
        for (int k = 0; k < 3; k++) {
            const dnnl_memory_desc_t *md = arg_md(o->bwd_pd, grad_arg[k]);
            TRY(dnnl_memory_create, &o->mem[grad_id[k]], md, o->eng, DNNL_MEMORY_ALLOCATE);
            TRY(dnnl_memory_get_data_handle, o->mem[grad_id[k]], &o->grad[k]);
            o->grad_bytes[k] = dnnl_memory_desc_get_size(md);
        }
        TRY(dnnl_primitive_create, &o->bwd, o->bwd_pd);
    }

    /* argument lists: {DNNL_ARG_*, memory}, the memories this cell and pass have */
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
    for (size_t k = 0; k < sizeof fwd_map / sizeof fwd_map[0]; k++)
        if (o->mem[fwd_map[k][1]])
            o->fwd_args[o->n_fwd++] = (dnnl_exec_arg_t){fwd_map[k][0], o->mem[fwd_map[k][1]]};
    for (size_t k = 0; c->train && k < sizeof bwd_map / sizeof bwd_map[0]; k++)
        if (o->mem[bwd_map[k][1]])
            o->bwd_args[o->n_bwd++] = (dnnl_exec_arg_t){bwd_map[k][0], o->mem[bwd_map[k][1]]};
done:
    return s;
}

/* One timed iteration. oneDNN's RNN backward adds into dW, dU, db, so they are
 * cleared first: that is the work recur does by overwriting them. */
static dnnl_status_t onednn_step(onednn_rnn *o) {
    dnnl_status_t s;
    if (o->bwd)
        for (int k = 0; k < 3; k++) memset(o->grad[k], 0, o->grad_bytes[k]);
    TRY(dnnl_primitive_execute, o->fwd, o->strm, o->n_fwd, o->fwd_args);
    if (o->bwd) TRY(dnnl_primitive_execute, o->bwd, o->strm, o->n_bwd, o->bwd_args);
    TRY(dnnl_stream_wait, o->strm);
done:
    return s;
}

static void onednn_free(onednn_rnn *o) {
    dnnl_primitive_destroy(o->fwd);
    dnnl_primitive_destroy(o->bwd);
    dnnl_primitive_desc_destroy(o->fwd_pd);
    dnnl_primitive_desc_destroy(o->bwd_pd);
    for (int k = 0; k < N_MEM; k++) dnnl_memory_destroy(o->mem[k]);
    dnnl_stream_destroy(o->strm);
    dnnl_engine_destroy(o->eng);
}

void bench_onednn_run(bench_state *st, const bench_onednn_desc *c, size_t bias_len,
                      bench_onednn_bias to_bias, bench_onednn_check check, const void *ctx) {
    int wg, bg;
    cell_gates(c->cell, &wg, &bg);
    bench_rnn_data m = {0};
    onednn_rnn o = {0};
    float *bias = NULL;
    dnnl_status_t s = dnnl_out_of_memory;
    char msg[256];
    if (!bench_data_alloc(&m, c->s, wg, bias_len) ||
        (to_bias && !(bias = bench_falloc((size_t)bg * c->s.H)))) {
        o.failed = "aligned_alloc";
    } else {
        if (to_bias) to_bias(ctx, &m, bias);
        s = onednn_setup(&o, c, &m, to_bias ? bias : m.b);
    }
    if (s == dnnl_success) s = onednn_step(&o); /* warm-up: JIT, the workspace's first touch */
    if (s == dnnl_success && check && !check(ctx, &m, msg, sizeof msg)) {
        bench_skip(st, msg);
    } else {
        while (s == dnnl_success && bench_keep_running(st)) s = onednn_step(&o);
        if (s != dnnl_success) {
            snprintf(msg, sizeof msg, "%s failed: %s", o.failed, dnnl_status2str(s));
            bench_skip(st, msg);
        }
    }
    onednn_free(&o);
    free(bias);
    free(m.buf);
}

const char *bench_cpu_name(char *buf, size_t size) {
    char name[160] = "unknown CPU", vendor[32] = "?", line[256];
    int family = -1, model = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) { /* the first processor's fields */
        char *v = strchr(line, ':');
        if (!v) continue;
        v += 1 + (v[1] == ' ');
        v[strcspn(v, "\n")] = 0;
        if (!strncmp(line, "vendor_id", 9)) snprintf(vendor, sizeof vendor, "%s", v);
        else if (!strncmp(line, "cpu family", 10) && family < 0) family = atoi(v);
        else if (!strncmp(line, "model name", 10)) snprintf(name, sizeof name, "%s", v);
        else if (!strncmp(line, "model", 5) && model < 0) model = atoi(v);
        else if (!strncmp(line, "processor", 9) && model >= 0)
            break; /* the second processor */
    }
    if (f) fclose(f);
    snprintf(buf, size, "%s (%s, family %d, model %d)", name, vendor, family, model);
    return buf;
}
