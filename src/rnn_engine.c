/* The recurrent engine (rnn_engine.h): checks, workspace layout, the plan,
 * weight packing, the time loop and the hoisted gradient GEMMs. */
#include <omp.h>
#include <string.h>

#include "rnn_engine.h"

recur_status rnn_dims_init(rnn_dims *d, int T, int B, int I, int H, recur_act act, const char *fn,
                           const char *cell) {
    const struct {
        const char *name;
        int v;
    } dims[] = {
        {"seq_len (T)", T}, {"batch (B)", B}, {"input_size (I)", I}, {"hidden_size (H)", H}};
    for (size_t k = 0; k < 4; k++)
        if (dims[k].v <= 0)
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s must be positive, got %d", fn,
                              dims[k].name, dims[k].v);
    if (act != RECUR_ACT_TANH && act != RECUR_ACT_RELU)
        return recur_fail(RECUR_ERR_UNSUPPORTED,
                          "%s: activation %d is not supported by the %s (use RECUR_ACT_TANH "
                          "or RECUR_ACT_RELU)",
                          fn, (int)act, cell);
    d->T = T, d->B = B, d->I = I, d->H = H;
    d->relu = act == RECUR_ACT_RELU;
    return RECUR_OK;
}

size_t rnn_layout_add(rnn_layout *l, size_t a, size_t b) {
    size_t n, bytes, at = l->size;
    if (!l->ok || !recur_mul(a, b, &n) || !recur_mul(n, sizeof(float), &bytes) ||
        (bytes = recur_round_up(bytes)) == 0 || l->size > PTRDIFF_MAX - bytes) {
        l->ok = 0;
        return 0;
    }
    l->size += bytes;
    return at;
}

recur_status rnn_layout_fail(const rnn_dims *d, const char *fn) {
    return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                      "%s: sizes T=%lld B=%lld I=%lld H=%lld overflow the address space", fn,
                      (long long)d->T, (long long)d->B, (long long)d->I, (long long)d->H);
}

recur_status rnn_need(const void *p, const char *fn, const char *name) {
    return p ? RECUR_OK : recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, name);
}

recur_status rnn_check_aligned(const void *p, const char *fn, const char *name) {
    if ((uintptr_t)p % RECUR_ALIGN)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s %p is not 64-byte aligned", fn, name,
                          p);
    return RECUR_OK;
}

/* Threads split the batch (each runs its rows through every step, no
 * barrier) unless that leaves fewer than 4 rows each: then they split the
 * hidden units and meet at barriers within each step. With U packed, the
 * batch split won or tied at every H measured down to 4 rows a thread on a
 * Zen 4 (LSTM, 2 threads, H = 512: 94.5 vs 105 ms at B = 64, 24.8 vs 27.9 ms
 * at B = 16; H = 1024, B = 64: 375 vs 395 ms); at 2 rows a thread the unit
 * split won (7.5 vs 8.3 ms). On an Intel Xeon (2 MiB of L2 a core) a thread
 * that runs all of a large U for few rows streams it from L3 every step,
 * while half of it stays in its L2 under the unit split: at 8 rows a thread
 * (B = 16, 2 threads) the unit split with the input hoisted won, H = 512:
 * forward 8.7 vs 10.4 ms, training 23.9 vs 27.9; H = 1024: 41.2 vs 48.0 and
 * 110 vs 125 ms; at H = 128 it lost (B = 32: 4.2 vs 3.2 ms). There a
 * forward over 4 MiB of U also splits units at any batch (LSTM, 2 threads, B
 * = 64, H = 512: 31.3 vs 28.7 ms, T = 100: 120 vs 111; GRU H = 1024: 84.3 vs
 * 79.1), while its backward, which streams U^T once for dh and not the
 * weight-gradient GEMMs' inputs, keeps the rows (mixed with units: 85 vs 80
 * ms at H = 512, 308 vs 315 at H = 1024). The GRU's 3 MiB at H = 512 (a
 * thread's half of U and W no longer fits its L2 once inference takes the
 * input into the step, and reset_after = 0 meets twice a step) keeps the
 * rows at B = 64: forward 16.7 -> 16.4 ms, reset_after = 0 17.2 -> 16.3; T =
 * 100 65.9 -> 64.2 and 66.1 -> 62.4; training 53.4 -> 52.6 and 53.7 -> 52.4.
 * RECUR_LSTM_SPLIT=rows|units forces one (tests). */
static int use_unit_split(const rnn_dims *d, int64_t G, int nt, int64_t nr, int forward) {
    int forced = recur_lstm_split_override();
    if (forced) return forced == 2 && nt > 1 && d->H > nr;
    if (nt < 2 || d->H < nr * nt) return 0;
    if (d->B < 4 * nt) return 1;
    const size_t u_bytes = (size_t)d->H * (size_t)G * sizeof(float);
    if (recur_cpu_kind() != RECUR_CPU_INTEL || u_bytes < ((size_t)2 << 20)) return 0;
    return d->B <= 8 * nt || (forward && u_bytes >= ((size_t)4 << 20));
}

/* Whether the per-step GEMM also takes the input: Z_t = [x_t | h_{t-1}] [W; U]
 * forward and [dh_{t-1} | dx_t] = dZ_t [U^T | W^T] backward, instead of one
 * big GEMM each for X W and dZ W^T. Z_t then never goes to memory and back
 * between the two products, but every thread streams W as well as U each step:
 * a win while they fit a core's L2 (tutorial shapes, 1-3%) or, on a Zen 4, up
 * to 8 MiB while a thread has 16 or more batch rows to spend each pass on
 * (LSTM, 2 threads, H = 512: B = 64 98.2 vs 99.4 ms, B = 32 49.2 vs 50.1, but
 * B = 16 27.4 vs 26.6); a loss past that (H = 1024, B = 16: 108 vs 98 ms). On
 * the Intel Xeon the big GEMMs won past 1 MiB (T = 100, B = 64, H = 512:
 * training 355 vs 379 ms, forward 127 vs 132), except in inference at 48 or
 * more rows: there each step's Z stays in a buffer of one step instead of
 * going to a tape (lstm.c) and the per-step GEMM is at its best with many
 * rows to spend each pass over the weights on (LSTM, 1 thread, T = 25: B =
 * 64, H = 512 43.9 vs 47.9 ms; T = 100 169 vs 176; at B = 16 it lost, 14.4
 * vs 13.0). Training forwards stay hoisted there: their backward lost what
 * the forward saved. RECUR_LSTM_FUSE=0|1 forces it (tests). */
static int fuse_input(const rnn_dims *d, int64_t G, int pass) {
    const int forced = recur_lstm_fuse_override();
    if (forced >= 0) return forced;
    const size_t bytes = (size_t)(d->I + d->H) * (size_t)G * sizeof(float);
    if (bytes <= ((size_t)1 << 20)) return 1;
    if (recur_cpu_kind() == RECUR_CPU_INTEL) return pass == RNN_INFERENCE && d->B >= 48;
    /* The rows a pass over W and U serves: measured as 16 a thread on 2
     * threads, so a batch of 32. A rule on the batch alone, not on the rows
     * a thread gets: fused and hoisted products round differently, and the
     * choice must not move with the thread count. */
    return bytes <= ((size_t)8 << 20) && d->B >= 32;
}

rnn_plan rnn_plan_of(const rnn_dims *d, int64_t G, const simd_kernels *k, int pass) {
    /* Intel's native 512-bit FMAs: the taller tile with prefetch (same bits) */
    const int tall = recur_cpu_kind() == RECUR_CPU_INTEL && k->gemm_tall;
    rnn_plan p = {.gemm = tall ? k->gemm_tall : k->gemm,
                  .nr = (int64_t)k->gemm_nr,
                  .nt = recur_threads(),
                  .fuse = fuse_input(d, G, pass)};
    p.units = use_unit_split(d, G, p.nt, p.nr, pass != RNN_BACKWARD);
    p.one_step = pass == RNN_INFERENCE && p.fuse;
    return p;
}

int64_t rnn_tape_ld(int64_t G) {
    int64_t ld = (G + 15) / 16 * 16;
    if (recur_cpu_kind() == RECUR_CPU_INTEL && ld >= 1536 && ld % 512 == 0 && (ld / 512) % 2)
        ld += 512;
    return ld;
}

size_t rnn_packed_floats(const rnn_dims *d, int64_t gates) {
    /* panels at most 32 wide: forward gates*H' x (I+H), backward gates*H x
     * (H' + I') (' = rounded up to 32); 0 on overflow (the layout then fails) */
    const size_t Hp = ((size_t)d->H + 31) / 32 * 32, Ip = ((size_t)d->I + 31) / 32 * 32;
    const size_t G = (size_t)gates * (size_t)d->H, K = (size_t)d->I + (size_t)d->H;
    size_t fwd, bwd;
    if (!recur_mul((size_t)gates * Hp, K, &fwd) || !recur_mul(G, Hp + Ip, &bwd)) return 0;
    return fwd > bwd ? fwd : bwd;
}

void rnn_sync(const rnn_block *bl) {
    if (bl->units) {
#pragma omp barrier
    }
}

void rnn_copy_block(float *dst, const float *src, const rnn_block *bl, int64_t H) {
    for (int64_t r = bl->r0; r < bl->r1; r++) {
        size_t n = (size_t)(bl->j1 - bl->j0) * sizeof(float);
        if (src)
            memcpy(dst + r * H + bl->j0, src + r * H + bl->j0, n);
        else
            memset(dst + r * H + bl->j0, 0, n);
    }
}

void rnn_mask_copy(float *dst, const float *a, const float *b, const unsigned char *m,
                   const rnn_block *bl, int64_t H) {
    const int64_t j0 = bl->j0, n = bl->j1 - bl->j0;
    for (int64_t r = bl->r0; r < bl->r1; r++) {
        if (m[r]) continue;
        float *d = dst + r * H + j0;
        const float *x = a + r * H + j0;
        if (b) {
            const float *y = b + r * H + j0;
            for (int64_t j = 0; j < n; j++) d[j] = x[j] + y[j];
        } else {
            memcpy(d, x, (size_t)n * sizeof(float));
        }
    }
}

void rnn_mask_zero(float *z, int64_t ldz, int64_t H, int64_t gates, const unsigned char *m,
                   const rnn_block *bl) {
    for (int64_t r = bl->r0; r < bl->r1; r++) {
        if (m[r]) continue;
        for (int64_t q = 0; q < gates; q++)
            memset(z + r * ldz + q * H + bl->j0, 0, (size_t)(bl->j1 - bl->j0) * sizeof(float));
    }
}

/* In blocks of PACK_ROWS source rows, each walked across all the panels, so
 * the rows are read front to back as a few streams rather than 128 bytes
 * from each of K rows a panel (U of H = 1024, 16 MiB, from DRAM, one
 * thread: 3.9-4.1 ms panel by panel, 3.0-3.2 in blocks of 4 to 64 rows). */
enum { PACK_ROWS = 16 };
void rnn_pack_blocks(const float *A1, int64_t K1, const float *A2, int64_t K2, int64_t ld,
                     int64_t H, int64_t gates, int64_t nr, float *dst, int64_t p0, int64_t p1) {
    const int64_t np = (H + nr - 1) / nr, K = K1 + K2;
    if (p0 < 0) p0 = 0;
    if (p1 > gates * np) p1 = gates * np;
    for (int64_t k0 = 0; k0 < K; k0 += PACK_ROWS) {
        const int64_t k1 = k0 + PACK_ROWS < K ? k0 + PACK_ROWS : K;
        for (int64_t P = p0; P < p1; P++) {
            const int64_t q = P / np, j0 = (P % np) * nr, w = H - j0 < nr ? H - j0 : nr;
            float *out = dst + P * K * nr;
            for (int64_t k = k0; k < k1; k++) {
                const float *src = (k < K1 ? A1 + k * ld : A2 + (k - K1) * ld) + q * H + j0;
                memcpy(out + k * nr, src, (size_t)w * sizeof(float));
                memset(out + k * nr + w, 0, (size_t)(nr - w) * sizeof(float));
            }
        }
    }
}

/* In blocks of 8 source rows x 16 columns: rows of A lie a multiple of 2 KiB
 * apart at the usual H, so more of them at once would overfill their L1 sets. */
void rnn_pack_t(const float *A, int64_t n, int64_t lda, int64_t k0, int64_t K, int64_t nr,
                float *dst, int64_t p0, int64_t p1) {
    if (p0 < 0) p0 = 0;
    if (p1 > (n + nr - 1) / nr) p1 = (n + nr - 1) / nr;
    for (int64_t P = p0; P < p1; P++) {
        const int64_t j0 = P * nr, w = n - j0 < nr ? n - j0 : nr;
        float *out = dst + P * K * nr;
        const float *src = A + k0;
        if (w < nr) memset(out, 0, (size_t)(K * nr) * sizeof(float));
        for (int64_t b0 = 0; b0 < w; b0 += 8) {
            const int64_t b1 = b0 + 8 < w ? b0 + 8 : w;
            for (int64_t c0 = 0; c0 < K; c0 += 16) {
                const int64_t c1 = c0 + 16 < K ? c0 + 16 : K;
                for (int64_t k = c0; k < c1; k++)
                    for (int64_t jj = b0; jj < b1; jj++)
                        out[k * nr + jj] = src[(j0 + jj) * lda + k];
            }
        }
    }
}

void rnn_step_dx(const rnn_plan *p, const rnn_block *bl, const float *dz, int64_t G, int64_t ldz,
                 const float *wt, float *dx, int64_t I) {
    int64_t i0 = 0, i1 = I;
    if (bl->units) {
        recur_split((I + p->nr - 1) / p->nr, bl->nthreads, bl->thread, &i0, &i1);
        i0 *= p->nr, i1 = i1 * p->nr < I ? i1 * p->nr : I;
    }
    if (i1 > i0)
        p->gemm((size_t)(bl->r1 - bl->r0), (size_t)(i1 - i0), (size_t)G, dz, (size_t)ldz, 0, NULL,
                0, wt + i0 * G, dx + i0, (size_t)I, 0);
}

/* threads for the time loop: no more than there are rows or unit panels */
static int loop_threads(const rnn_dims *d, const rnn_plan *p) {
    const int64_t parts = p->units ? (d->H + p->nr - 1) / p->nr : d->B;
    return p->nt < parts ? p->nt : (int)parts;
}

/* Unit blocks are whole panels, so every thread's columns start at a panel. */
static rnn_block my_block(const rnn_dims *d, const rnn_plan *p) {
    const int n = omp_get_num_threads(), k = omp_get_thread_num();
    rnn_block bl = {0, d->B, 0, d->H, p->units, k, n};
    if (p->units) {
        recur_split((d->H + p->nr - 1) / p->nr, n, k, &bl.j0, &bl.j1);
        bl.j0 *= p->nr, bl.j1 = bl.j1 * p->nr < d->H ? bl.j1 * p->nr : d->H;
    } else {
        recur_split(d->B, n, k, &bl.r0, &bl.r1);
    }
    return bl;
}

void rnn_loop_run(const rnn_dims *d, const rnn_plan *p, const rnn_loop *l) {
#pragma omp parallel num_threads(loop_threads(d, p))
    {
        const recur_fpmode fp = recur_omp_enter();
        if (l->pack) {
            int64_t p0, p1;
            recur_split(l->npack, omp_get_num_threads(), omp_get_thread_num(), &p0, &p1);
            l->pack(l->ctx, p0, p1);
        }
        const rnn_block bl = my_block(d, p);
        if (l->begin) l->begin(l->ctx, &bl);
#pragma omp barrier
        for (int64_t k = 0; k < d->T; k++) l->step(l->ctx, l->reverse ? d->T - 1 - k : k, &bl);
        if (l->end) l->end(l->ctx, &bl);
        recur_omp_leave(fp);
    }
}

/* The header of a packed-weights buffer: what its panels were packed for. */
typedef struct {
    char magic[8]; /* "recurPW", with the terminating zero */
    int32_t version, cell, variant, I, H, B, nr, fuse;
} prepacked_header;
_Static_assert(sizeof(prepacked_header) <= RECUR_ALIGN, "the header fits its 64 bytes");
static const char prepacked_magic[8] = "recurPW";

static const int prepacked_gates[] = {0, 4, 3, 1}; /* by RNN_CELL_* */

/* bytes of the panels: the cell's largest packed region, rounded up */
static size_t prepacked_panel_bytes(const rnn_dims *d, int cell) {
    return recur_round_up(rnn_packed_floats(d, prepacked_gates[cell]) * sizeof(float));
}

size_t rnn_prepacked_size(const rnn_dims *d, int cell, const rnn_plan *p) {
    const size_t panels = rnn_packed_floats(d, prepacked_gates[cell]);
    rnn_layout l = {RECUR_ALIGN, panels != 0};
    rnn_layout_add(&l, panels, 1);
    if (!p->fuse) rnn_layout_add(&l, (size_t)d->I, (size_t)(prepacked_gates[cell] * d->H));
    return l.ok ? l.size : 0;
}

recur_status rnn_prepacked_need(const float *W, const float *U, const void *packed,
                                const char *fn) {
    recur_status st;
    if ((st = rnn_need(W, fn, "W")) || (st = rnn_need(U, fn, "U")) ||
        (st = rnn_need(packed, fn, "packed")))
        return st;
    return rnn_check_aligned(packed, fn, "packed");
}

float *rnn_prepacked_init(void *packed, int cell, int variant, const rnn_dims *d, const rnn_plan *p,
                          const float *W) {
    prepacked_header h = {.version = 1, .cell = cell, .variant = variant};
    h.I = (int32_t)d->I, h.H = (int32_t)d->H, h.B = (int32_t)d->B;
    h.nr = (int32_t)p->nr, h.fuse = p->fuse;
    memcpy(h.magic, prepacked_magic, sizeof h.magic);
    memset(packed, 0, RECUR_ALIGN);
    memcpy(packed, &h, sizeof h);
    char *panels = (char *)packed + RECUR_ALIGN;
    if (!p->fuse) /* the hoisted input product reads W as given */
        memcpy(panels + prepacked_panel_bytes(d, cell), W,
               (size_t)d->I * (size_t)(prepacked_gates[cell] * d->H) * sizeof(float));
    return (float *)panels;
}

/* the GRU's reset_after in a message */
static const char *variant_text(int cell, int variant) {
    return cell != RNN_CELL_GRU ? "" : variant ? ", reset_after 1" : ", reset_after 0";
}

recur_status rnn_prepacked_open(const void *packed, int cell, int variant, const rnn_dims *d,
                                const rnn_plan *p, const char *fn, const float **panels,
                                const float **w) {
    static const char *const cells[] = {"", "an LSTM", "a GRU", "a SimpleRNN"};
    prepacked_header h;
    memcpy(&h, packed, sizeof h);
    if (memcmp(h.magic, prepacked_magic, sizeof h.magic) || h.version != 1 || h.cell < 1 ||
        h.cell > 3)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: packed does not hold packed weights (fill it with the cell's "
                          "recur_*_pack_weights)",
                          fn);
    if (h.cell != cell)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: packed holds %s's weights, not %s's", fn,
                          cells[h.cell], cells[cell]);
    if (h.I != d->I || h.H != d->H || h.B != d->B || h.variant != variant)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: packed was packed for input_size %d, hidden_size %d, batch %d%s; "
                          "this call has input_size %lld, hidden_size %lld, batch %lld%s (pack "
                          "with the call's descriptor)",
                          fn, h.I, h.H, h.B, variant_text(cell, h.variant), (long long)d->I,
                          (long long)d->H, (long long)d->B, variant_text(cell, variant));
    if (h.nr != p->nr || h.fuse != p->fuse)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: packed was packed for another kernel set or CPU kind (panels %d "
                          "wide, input %s; here %lld wide, input %s): pack again in this process",
                          fn, h.nr, h.fuse ? "joined" : "hoisted", (long long)p->nr,
                          p->fuse ? "joined" : "hoisted");
    const char *at = (const char *)packed + RECUR_ALIGN;
    *panels = (const float *)at;
    *w = p->fuse ? NULL : (const float *)(at + prepacked_panel_bytes(d, cell));
    return RECUR_OK;
}

void rnn_pack_run(const rnn_dims *d, const rnn_plan *p, int64_t npack,
                  void (*pack)(void *ctx, int64_t p0, int64_t p1), void *ctx) {
    rnn_dims none = *d;
    none.T = 0; /* the loop without steps: pack, then nothing */
    const rnn_loop l = {npack, pack, NULL, NULL, NULL, ctx, 0};
    rnn_loop_run(&none, p, &l);
}

/* The stacked row of the weight-gradient jobs where `work` (rows times their
 * job's N, summed from the first job) is reached, rounded to the nearest row:
 * threads split the work, not the rows, since the jobs' N differ (the GRU
 * with reset_after = 0: 3H, 2H and H columns; by rows one of 2 threads had
 * twice the other's FLOPs). */
static int64_t row_at_work(const rnn_wgrad *w, int nw, int64_t work) {
    int64_t base = 0;
    for (int k = 0; k < nw; base += w[k].K, k++) {
        const int64_t job = w[k].K * w[k].N;
        if (work <= job) return base + (work + w[k].N / 2) / w[k].N;
        work -= job;
    }
    return base;
}

int rnn_weight_grads(int nt, int64_t TB, const rnn_wgrad *w, int nw, const rnn_bgrad *b, int nb) {
    int64_t rows = 0, blocks = 0, work = 0;
    for (int k = 0; k < nw; k++) rows += w[k].K, work += w[k].K * w[k].N;
    for (int k = 0; k < nb; k++) blocks += (b[k].N + 15) / 16;
    const int64_t parts = rows > blocks ? rows : blocks;
    int err = 0;
#pragma omp parallel num_threads(nt < parts ? nt : (int)parts)
    {
        const recur_fpmode fp = recur_omp_enter();
        const int n = omp_get_num_threads(), me = omp_get_thread_num();
        int64_t r0, r1, lo, hi;
        /* this thread's stacked rows (by work), one GEMM per job: oneDNN's A^T B gives
         * each element the same sum whatever the GEMM's row count (the thread
         * tests compare 1, 2, 3 and 5 threads bit for bit); blocks of a fixed
         * size cut the tutorial's dW and dU into 32 GEMMs of 5 rows, and its
         * training step measured slower (8.1 against 7.2 ms, runs minutes apart) */
        recur_split(work, n, me, &r0, &r1);
        r0 = row_at_work(w, nw, r0), r1 = row_at_work(w, nw, r1);
        int e = 0;
        int64_t base = 0;
        for (int k = 0; k < nw && !e; base += w[k].K, k++) {
            const int64_t a = r0 > base ? r0 - base : 0,
                          z = r1 - base < w[k].K ? r1 - base : w[k].K;
            if (a < z)
                e = recur_sgemm('T', 'N', z - a, w[k].N, TB, 1.0f, w[k].A + a, w[k].lda, w[k].dZ,
                                w[k].ldz, 0.0f, w[k].dst + a * w[k].ldd, w[k].ldd);
        }
        if (e) {
#pragma omp atomic write
            err = e;
        }
        /* this thread's 16-column blocks of the bias sums, job by job (a
         * column's sum runs down the rows in order, whoever computes it) */
        recur_split(blocks, n, me, &lo, &hi);
        base = 0;
        for (int k = 0; k < nb; base += (b[k].N + 15) / 16, k++) {
            const int64_t nbk = (b[k].N + 15) / 16;
            int64_t c0 = lo > base ? lo - base : 0, c1 = hi - base < nbk ? hi - base : nbk;
            if (c0 >= c1) continue;
            c0 *= 16, c1 = c1 * 16 < b[k].N ? c1 * 16 : b[k].N;
            float *dst = b[k].dst;
            memcpy(dst + c0, b[k].src + c0, (size_t)(c1 - c0) * sizeof(float));
            for (int64_t r = 1; r < TB; r++) {
                const float *row = b[k].src + r * b[k].lds;
                for (int64_t j = c0; j < c1; j++) dst[j] += row[j];
            }
        }
        recur_omp_leave(fp);
    }
    return err;
}
