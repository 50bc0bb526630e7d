/* The LSTM primitive against an independent double-precision reference, whose
 * own backward is checked against central finite differences, with and
 * without a step mask; masked calls also against unmasked calls on each
 * sample's valid steps alone. Uses only the public header. ctest runs it once
 * per RECUR_ISA. */
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include <recur.h>

#include "testutil.h"

typedef struct {
    int T, B, I, H, relu;
} shape;

static recur_lstm_desc desc_of(const shape *s) {
    recur_lstm_desc d = {s->T, s->B, s->I, s->H, s->relu ? RECUR_ACT_RELU : RECUR_ACT_TANH, NULL};
    return d;
}

/* ---- Reference: plain loops in double, written from the equations ------- */

typedef struct {
    size_t T, B, I, H;
    int relu;
    double *i, *f, *g, *o, *c, *h; /* [T][B][H]; c, h hold c_t, h_t */
    double *zbuf;                  /* [4H] */
} ref_tape;

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }
static double actd(int relu, double v) { return relu ? (v > 0 ? v : 0) : tanh(v); }

static void tape_init(ref_tape *tp, const shape *s) {
    tp->T = s->T, tp->B = s->B, tp->I = s->I, tp->H = s->H, tp->relu = s->relu;
    size_t n = tp->T * tp->B * tp->H;
    tp->i = calloc(n, sizeof(double)), tp->f = calloc(n, sizeof(double));
    tp->g = calloc(n, sizeof(double)), tp->o = calloc(n, sizeof(double));
    tp->c = calloc(n, sizeof(double)), tp->h = calloc(n, sizeof(double));
    tp->zbuf = calloc(4 * tp->H, sizeof(double));
}

static void tape_free(ref_tape *tp) {
    free(tp->i), free(tp->f), free(tp->g), free(tp->o), free(tp->c), free(tp->h), free(tp->zbuf);
}

typedef struct {
    double *W, *U, *b, *x, *h0, *c0; /* h0, c0 always present (zeros for "NULL") */
    const unsigned char *mask;       /* [T][B], 0 = masked step; NULL: none */
} ref_in;

static int ref_masked(const ref_in *in, size_t t, size_t B, size_t n) {
    return in->mask && !in->mask[t * B + n];
}

/* y [T][B][H], hT, cT [B][H] */
static void ref_forward(ref_tape *tp, const ref_in *in, double *y, double *hT, double *cT) {
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H, G = 4 * H;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < B; n++) {
            const double *hp = t ? tp->h + ((t - 1) * B + n) * H : in->h0 + n * H;
            const double *cp = t ? tp->c + ((t - 1) * B + n) * H : in->c0 + n * H;
            const double *xt = in->x + (t * B + n) * I;
            if (ref_masked(in, t, B, n)) { /* the states carried through, y_t = h_t */
                for (size_t j = 0; j < H; j++) {
                    size_t at = (t * B + n) * H + j;
                    tp->i[at] = tp->f[at] = tp->g[at] = tp->o[at] = 0;
                    tp->c[at] = cp[j];
                    y[at] = tp->h[at] = hp[j];
                }
                continue;
            }
            double *z = tp->zbuf;
            memcpy(z, in->b, G * sizeof(double));
            for (size_t k = 0; k < I; k++)
                for (size_t col = 0; col < G; col++) z[col] += xt[k] * in->W[k * G + col];
            for (size_t k = 0; k < H; k++)
                for (size_t col = 0; col < G; col++) z[col] += hp[k] * in->U[k * G + col];
            for (size_t j = 0; j < H; j++) {
                size_t at = (t * B + n) * H + j;
                tp->i[at] = sigm(z[j]);
                tp->f[at] = sigm(z[H + j]);
                tp->g[at] = actd(tp->relu, z[2 * H + j]);
                tp->o[at] = sigm(z[3 * H + j]);
                tp->c[at] = tp->f[at] * cp[j] + tp->i[at] * tp->g[at];
                tp->h[at] = tp->o[at] * actd(tp->relu, tp->c[at]);
                y[at] = tp->h[at];
            }
        }
    memcpy(hT, tp->h + (T - 1) * B * H, B * H * sizeof(double));
    memcpy(cT, tp->c + (T - 1) * B * H, B * H * sizeof(double));
}

typedef struct {
    double *W, *U, *b, *x, *h0, *c0;
} ref_grad;

/* derivative of act at pre-activation v, given a = act(v) */
static double dactd(int relu, double v, double a) { return relu ? (v > 0 ? 1 : 0) : 1 - a * a; }

static void ref_backward(const ref_tape *tp, const ref_in *in, const double *dy, const double *dhT,
                         const double *dcT, ref_grad *gr) {
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H, G = 4 * H;
    memset(gr->W, 0, I * G * sizeof(double));
    memset(gr->U, 0, H * G * sizeof(double));
    memset(gr->b, 0, G * sizeof(double));
    double *dh = malloc(B * H * sizeof(double)), *dc = malloc(B * H * sizeof(double));
    double *dz = malloc(B * G * sizeof(double));
    memcpy(dh, dhT, B * H * sizeof(double));
    memcpy(dc, dcT, B * H * sizeof(double));
    for (size_t tt = T; tt-- > 0;) {
        for (size_t n = 0; n < B; n++)
            for (size_t j = 0; j < H; j++) {
                size_t at = (tt * B + n) * H + j, k = n * H + j;
                if (ref_masked(in, tt, B, n)) { /* dh_{t-1} = dh_t + dy_t, dc_{t-1} = dc_t */
                    dh[k] += dy[at];
                    continue;
                }
                double i = tp->i[at], f = tp->f[at], g = tp->g[at], o = tp->o[at], c = tp->c[at];
                double cp = tt ? tp->c[at - B * H] : in->c0[k];
                double a = actd(tp->relu, c);
                double dht = dh[k] + dy[at];
                double dct = dc[k] + dht * o * dactd(tp->relu, c, a);
                double *d = dz + n * G;
                d[j] = dct * g * i * (1 - i);
                d[H + j] = dct * cp * f * (1 - f);
                /* relu: g > 0 exactly when its pre-activation is */
                d[2 * H + j] = dct * i * (tp->relu ? (g > 0 ? 1 : 0) : 1 - g * g);
                d[3 * H + j] = dht * a * o * (1 - o);
                dc[k] = dct * f;
            }
        for (size_t n = 0; n < B; n++) {
            const double *hp = tt ? tp->h + ((tt - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (tt * B + n) * I;
            const double *d = dz + n * G;
            double *dxt = gr->x + (tt * B + n) * I;
            if (ref_masked(in, tt, B, n)) { /* no gate gradients, dx_t = 0 */
                memset(dxt, 0, I * sizeof(double));
                continue;
            }
            for (size_t col = 0; col < G; col++) gr->b[col] += d[col];
            for (size_t k = 0; k < I; k++)
                for (size_t col = 0; col < G; col++) gr->W[k * G + col] += xt[k] * d[col];
            for (size_t k = 0; k < H; k++)
                for (size_t col = 0; col < G; col++) gr->U[k * G + col] += hp[k] * d[col];
            for (size_t k = 0; k < I; k++) {
                double acc = 0;
                for (size_t col = 0; col < G; col++) acc += d[col] * in->W[k * G + col];
                dxt[k] = acc;
            }
            for (size_t k = 0; k < H; k++) {
                double acc = 0;
                for (size_t col = 0; col < G; col++) acc += d[col] * in->U[k * G + col];
                dh[n * H + k] = acc;
            }
        }
    }
    memcpy(gr->h0, dh, B * H * sizeof(double));
    memcpy(gr->c0, dc, B * H * sizeof(double));
    free(dh), free(dc), free(dz);
}

/* ---- Problem data: float for recur, the same values in double ----------- */

typedef struct {
    shape s;
    size_t nW, nU, nb, nx, nh, ny;
    float *W, *U, *b, *x, *h0, *c0, *dy, *dhT, *dcT;
    unsigned char *mask; /* NULL unless problem_mask */
    ref_in rin;
    double *rdy, *rdhT, *rdcT;
} problem;

/* the descriptor of p: its shape and mask */
static recur_lstm_desc pdesc(const problem *p) {
    recur_lstm_desc d = desc_of(&p->s);
    d.mask = p->mask;
    return d;
}

static double *to_double(const float *p, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t k = 0; k < n; k++) d[k] = p[k];
    return d;
}

static void problem_init(problem *p, shape s, uint64_t seed) {
    test_rng r = {seed};
    p->s = s;
    size_t T = s.T, B = s.B, I = s.I, H = s.H, G = 4 * H;
    p->nW = I * G, p->nU = H * G, p->nb = G, p->nx = T * B * I, p->nh = B * H, p->ny = T * B * H;
    p->W = malloc(p->nW * 4), p->U = malloc(p->nU * 4), p->b = malloc(p->nb * 4);
    p->x = malloc(p->nx * 4), p->h0 = malloc(p->nh * 4), p->c0 = malloc(p->nh * 4);
    p->dy = malloc(p->ny * 4), p->dhT = malloc(p->nh * 4), p->dcT = malloc(p->nh * 4);
    double aw = sqrt(6.0 / (double)(I + G)), au = 1.5 / sqrt((double)H);
    fill_uniform(&r, p->W, p->nW, -aw, aw);
    fill_uniform(&r, p->U, p->nU, -au, au);
    fill_uniform(&r, p->b, p->nb, -0.5, 0.5);
    fill_uniform(&r, p->x, p->nx, -1, 1);
    fill_uniform(&r, p->h0, p->nh, -0.5, 0.5);
    fill_uniform(&r, p->c0, p->nh, -1, 1);
    fill_uniform(&r, p->dy, p->ny, -1, 1);
    fill_uniform(&r, p->dhT, p->nh, -1, 1);
    fill_uniform(&r, p->dcT, p->nh, -1, 1);
    p->rin.W = to_double(p->W, p->nW), p->rin.U = to_double(p->U, p->nU);
    p->rin.b = to_double(p->b, p->nb), p->rin.x = to_double(p->x, p->nx);
    p->rin.h0 = to_double(p->h0, p->nh), p->rin.c0 = to_double(p->c0, p->nh);
    p->rdy = to_double(p->dy, p->ny), p->rdhT = to_double(p->dhT, p->nh);
    p->rdcT = to_double(p->dcT, p->nh);
    p->mask = NULL, p->rin.mask = NULL;
}

/* gives p a mask (mask_new) for recur and the reference */
static void problem_mask(problem *p, uint64_t seed) {
    free(p->mask);
    p->rin.mask = p->mask = mask_new(p->s.T, p->s.B, seed);
}

static void problem_free(problem *p) {
    free(p->W), free(p->U), free(p->b), free(p->x), free(p->h0), free(p->c0);
    free(p->dy), free(p->dhT), free(p->dcT);
    free(p->rin.W), free(p->rin.U), free(p->rin.b), free(p->rin.x), free(p->rin.h0);
    free(p->rin.c0), free(p->rdy), free(p->rdhT), free(p->rdcT), free(p->mask);
}

/* Outputs of one forward + backward through recur. */
typedef struct {
    float *y, *hT, *cT, *dx, *dh0, *dc0, *dW, *dU, *db;
    void *ws;
} result;

static void *ws_alloc(const recur_lstm_desc *d) {
    size_t n = recur_lstm_workspace_size(d);
    CU_ASSERT_FATAL(n > 0);
    return aligned_alloc(64, (n + 63) / 64 * 64);
}

static void result_init(result *o, const problem *p) {
    recur_lstm_desc d = pdesc(p);
    o->y = malloc(p->ny * 4), o->hT = malloc(p->nh * 4), o->cT = malloc(p->nh * 4);
    o->dx = malloc(p->nx * 4), o->dh0 = malloc(p->nh * 4), o->dc0 = malloc(p->nh * 4);
    o->dW = malloc(p->nW * 4), o->dU = malloc(p->nU * 4), o->db = malloc(p->nb * 4);
    o->ws = ws_alloc(&d);
}

static void result_free(result *o) {
    free(o->y), free(o->hT), free(o->cT), free(o->dx), free(o->dh0), free(o->dc0);
    free(o->dW), free(o->dU), free(o->db), free(o->ws);
}

static int run_recur(const problem *p, result *o) {
    recur_lstm_desc d = pdesc(p);
    recur_status st = recur_lstm_forward(&d, p->W, p->U, p->b, p->x, p->h0, p->c0, o->y, o->hT,
                                         o->cT, o->ws);
    if (st == RECUR_OK)
        st = recur_lstm_backward(&d, p->W, p->U, p->b, p->x, p->h0, p->c0, p->dy, p->dhT, p->dcT,
                                 o->dx, o->dh0, o->dc0, o->dW, o->dU, o->db, o->ws);
    if (st != RECUR_OK) printf("\n    %s: %s", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

#define TOL 1e-4

/* recur against the reference on one shape, with a mask_new mask when
 * masked; returns the worst relative error */
static double check_shape_masked(shape s, uint64_t seed, int masked) {
    problem p;
    problem_init(&p, s, seed);
    if (masked) problem_mask(&p, seed);
    size_t G = 4 * (size_t)s.H;
    ref_tape tp;
    tape_init(&tp, &s);
    double *y = malloc(p.ny * 8), *hT = malloc(p.nh * 8), *cT = malloc(p.nh * 8);
    ref_grad g = {malloc(p.nW * 8), malloc(p.nU * 8), malloc(G * 8),
                  malloc(p.nx * 8), malloc(p.nh * 8), malloc(p.nh * 8)};
    ref_forward(&tp, &p.rin, y, hT, cT);
    ref_backward(&tp, &p.rin, p.rdy, p.rdhT, p.rdcT, &g);

    result o;
    result_init(&o, &p);
    double worst = 1.0;
    if (run_recur(&p, &o)) {
        const struct {
            const char *name;
            const float *got;
            const double *want;
            size_t n;
        } cmp[] = {{"y", o.y, y, p.ny},        {"hT", o.hT, hT, p.nh},     {"cT", o.cT, cT, p.nh},
                   {"dx", o.dx, g.x, p.nx},    {"dh0", o.dh0, g.h0, p.nh}, {"dc0", o.dc0, g.c0, p.nh},
                   {"dW", o.dW, g.W, p.nW},    {"dU", o.dU, g.U, p.nU},    {"db", o.db, g.b, G}};
        worst = 0;
        for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
            double e = rel_err_f64(cmp[k].got, cmp[k].want, cmp[k].n, 1e-3);
            if (!(e <= TOL))
                printf("\n    T=%d B=%d I=%d H=%d %s%s: %s rel err %.3g", s.T, s.B, s.I, s.H,
                       s.relu ? "relu" : "tanh", masked ? " masked" : "", cmp[k].name, e);
            if (e > worst || e != e) worst = e;
        }
    }
    result_free(&o);
    free(y), free(hT), free(cT);
    free(g.W), free(g.U), free(g.b), free(g.x), free(g.h0), free(g.c0);
    tape_free(&tp);
    problem_free(&p);
    return worst;
}

static double check_shape(shape s, uint64_t seed) {
    return check_shape_masked(s, seed, 0);
}

/* ---- Tests ---------------------------------------------------------------- */

/* The reference's backward against central differences of
 * L = sum(y*dy) + sum(hT*dhT) + sum(cT*dcT), all in double; with a mask
 * (mask_seed non-zero) the masked function's. */
static void reference_fd(shape s, uint64_t seed, uint64_t mask_seed) {
    problem p;
    problem_init(&p, s, seed);
    if (mask_seed) problem_mask(&p, mask_seed);
    ref_tape tp;
    tape_init(&tp, &s);
    double *y = malloc(p.ny * 8), *hT = malloc(p.nh * 8), *cT = malloc(p.nh * 8);
    ref_grad g = {malloc(p.nW * 8), malloc(p.nU * 8), malloc(p.nb * 8),
                  malloc(p.nx * 8), malloc(p.nh * 8), malloc(p.nh * 8)};
    ref_forward(&tp, &p.rin, y, hT, cT);
    ref_backward(&tp, &p.rin, p.rdy, p.rdhT, p.rdcT, &g);
    struct {
        double *param, *grad;
        size_t n;
    } sets[] = {{p.rin.W, g.W, p.nW}, {p.rin.U, g.U, p.nU},   {p.rin.b, g.b, p.nb},
                {p.rin.x, g.x, p.nx}, {p.rin.h0, g.h0, p.nh}, {p.rin.c0, g.c0, p.nh}};
    double worst = 0;
    for (size_t q = 0; q < 6; q++)
        for (size_t k = 0; k < sets[q].n; k++) {
            double keep = sets[q].param[k], L[2];
            for (int side = 0; side < 2; side++) {
                sets[q].param[k] = keep + (side ? -1e-6 : 1e-6);
                ref_forward(&tp, &p.rin, y, hT, cT);
                double acc = 0;
                for (size_t m = 0; m < p.ny; m++) acc += y[m] * p.rdy[m];
                for (size_t m = 0; m < p.nh; m++) acc += hT[m] * p.rdhT[m] + cT[m] * p.rdcT[m];
                L[side] = acc;
            }
            sets[q].param[k] = keep;
            double fd = (L[0] - L[1]) / 2e-6, e = fabs(fd - sets[q].grad[k]) / (1 + fabs(fd));
            if (e > worst) worst = e;
        }
    CU_ASSERT(worst < 1e-6);
    if (!(worst < 1e-6))
        printf("\n    %s%s: finite-difference error %.3g", s.relu ? "relu" : "tanh",
               mask_seed ? " masked" : "", worst);
    free(y), free(hT), free(cT);
    free(g.W), free(g.U), free(g.b), free(g.x), free(g.h0), free(g.c0);
    tape_free(&tp);
    problem_free(&p);
}

static void test_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++) reference_fd((shape){3, 2, 3, 4, relu}, 11 + relu, 0);
}

/* The masked reference (every mask_new pattern: B = 6 samples, one of each
 * kind) against central differences: the carried states, the zero gate
 * gradients and the straight-through dh, dc all come out of the function. */
static void test_masked_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++) {
        reference_fd((shape){6, 6, 3, 4, relu}, 13 + relu, 6);
        reference_fd((shape){5, 3, 2, 3, relu}, 15 + relu, 2 + relu);
    }
}

static const shape edge_shapes[] = {
    {1, 1, 1, 1, 0},  {1, 1, 1, 1, 1},   {1, 3, 5, 7, 0},    {4, 1, 3, 17, 1}, {3, 5, 7, 9, 0},
    {3, 5, 7, 9, 1},  {6, 4, 16, 33, 0}, {5, 7, 2, 15, 1},   {2, 2, 31, 16, 0}, {7, 3, 4, 1, 1},
    {9, 6, 10, 40, 1},  {4, 5, 70, 40, 0}};

static void test_matches_reference_edge_shapes(void) {
    for (size_t k = 0; k < sizeof edge_shapes / sizeof *edge_shapes; k++)
        CU_ASSERT(check_shape(edge_shapes[k], 100 + k) <= TOL);
}

static void test_matches_reference_tutorial_shape(void) {
    for (int relu = 0; relu < 2; relu++) CU_ASSERT(check_shape((shape){28, 32, 28, 128, relu}, 5) <= TOL);
}

static void test_matches_reference_large_shape(void) {
    for (int relu = 0; relu < 2; relu++) CU_ASSERT(check_shape((shape){40, 64, 24, 256, relu}, 9) <= TOL);
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

/* every output and gradient of two runs of p, bit for bit */
static int same_result(const result *a, const result *b, const problem *p) {
    return same(a->y, b->y, p->ny) && same(a->hT, b->hT, p->nh) && same(a->cT, b->cT, p->nh) &&
           same(a->dx, b->dx, p->nx) && same(a->dh0, b->dh0, p->nh) &&
           same(a->dc0, b->dc0, p->nh) && same(a->dW, b->dW, p->nW) &&
           same(a->dU, b->dU, p->nU) && same(a->db, b->db, p->nb);
}

/* shape sh on 1 thread and on `threads` gives the same bits */
static int threads_agree(shape sh, uint64_t seed, int threads) {
    problem p;
    problem_init(&p, sh, seed);
    result one, many;
    result_init(&one, &p);
    result_init(&many, &p);
    recur_set_num_threads(1);
    CU_ASSERT_FATAL(run_recur(&p, &one));
    recur_set_num_threads(threads);
    CU_ASSERT_FATAL(run_recur(&p, &many));
    recur_set_num_threads(0);
    const int equal = same_result(&one, &many, &p);
    result_free(&one);
    result_free(&many);
    problem_free(&p);
    return equal;
}

/* A layer at few rows a thread with U over 2 MiB (H = 384: 2.25 MiB), where
 * the CPU kinds choose differently on 2 threads (Intel: units split, input
 * hoisted; AMD and generic: rows split), against the reference and bit for
 * bit against 1 thread; recur_tuning() names the kind RECUR_CPU forced. Then
 * a layer of 2 MiB of weights, where the fusion rule once counted the rows a
 * thread gets (so 3 threads hoisted what 1 fused, and rounded differently).
 * The ctest runs lstm_cpu_intel and lstm_cpu_amd cover both kinds. */
static void test_cpu_kind_choices(void) {
    const char *want = getenv("RECUR_CPU");
    char prefix[32];
    snprintf(prefix, sizeof prefix, "cpu %s:", want ? want : "");
    if (want) CU_ASSERT(strncmp(recur_tuning(), prefix, strlen(prefix)) == 0);
    const shape sh = {3, 12, 8, 384, 1};
    CU_ASSERT(check_shape(sh, 77) <= TOL);
    CU_ASSERT(threads_agree(sh, 78, 2));
    /* 2 MiB of W and U at B = 32: 1 and 3 threads (11 rows each) make the
     * same choice of fusing the input product, so the same bits */
    CU_ASSERT(threads_agree((shape){2, 32, 256, 256, 0}, 79, 3));
    /* 2.25 MiB of U at 20 rows a thread: on Intel the forward splits hidden
     * units, the backward batch rows; the same bits as one thread */
    const shape wide = {2, 40, 8, 384, 0};
    CU_ASSERT(check_shape(wide, 80) <= TOL);
    CU_ASSERT(threads_agree(wide, 81, 2));
}

/* ---- Masks ------------------------------------------------------------------ */

/* Masked calls against the masked reference, every mask_new pattern: the
 * edge shapes, the tutorial's (both activations) and the large one. */
static void test_masked_matches_reference(void) {
    for (size_t k = 0; k < sizeof edge_shapes / sizeof *edge_shapes; k++)
        CU_ASSERT(check_shape_masked(edge_shapes[k], 200 + k, 1) <= TOL);
    for (int relu = 0; relu < 2; relu++)
        CU_ASSERT(check_shape_masked((shape){28, 32, 28, 128, relu}, 7 + relu, 1) <= TOL);
    CU_ASSERT(check_shape_masked((shape){40, 64, 24, 256, 0}, 9, 1) <= TOL);
}

/* A mask with every step valid gives the bits of no mask (NULL). */
static void test_all_valid_mask_equals_none(void) {
    problem p;
    problem_init(&p, (shape){6, 5, 7, 40, 1}, 91);
    result none, ones;
    result_init(&none, &p);
    result_init(&ones, &p);
    CU_ASSERT_FATAL(run_recur(&p, &none));
    p.mask = malloc(p.ny / p.s.H);
    memset(p.mask, 1, p.ny / p.s.H);
    CU_ASSERT_FATAL(run_recur(&p, &ones));
    CU_ASSERT(same_result(&ones, &none, &p));
    result_free(&none);
    result_free(&ones);
    problem_free(&p);
}

/* A masked call against unmasked calls (B = 1) on each sample's valid steps
 * alone: at a valid step y is the short run's, at a masked one exactly the
 * previous valid step's (or h0, before the first); hT, cT the short run's
 * last. Backward: the short run gets each masked step's dy added to the
 * valid step before it (dhT gets those after the last one), dx of a masked
 * step is exactly 0, dh0 adds the dy before the first valid step, dc0 is the
 * short run's, and dW, dU, db are the sums of the short runs'. With h0, c0
 * zeros and random. */
static void test_masked_equals_valid_steps_alone(void) {
    const shape shapes[] = {{9, 7, 5, 20, 0},
                            {12, 6, 3, 40, 1},
                            {7, 13, 10, 33, 0},
                            {10, 1, 4, 40, 1},
                            {28, 32, 28, 128, 1}};
    const uint64_t mask_seeds[] = {1, 2, 3, 3, 4}; /* B = 1: the interior hole */
    for (size_t q = 0; q < sizeof shapes / sizeof *shapes; q++)
        for (int with_state = 0; with_state < 2; with_state++) {
            const shape sh = shapes[q];
            const size_t T = sh.T, B = sh.B, I = sh.I, H = sh.H, G = 4 * H;
            problem p;
            problem_init(&p, sh, 300 + q);
            problem_mask(&p, mask_seeds[q]);
            if (!with_state) memset(p.h0, 0, p.nh * 4), memset(p.c0, 0, p.nh * 4);
            result o;
            result_init(&o, &p);
            CU_ASSERT_FATAL(run_recur(&p, &o));
            /* what the short runs say the masked call gives */
            double *y = calloc(p.ny, 8), *hT = calloc(p.nh, 8), *cT = calloc(p.nh, 8);
            double *dx = calloc(p.nx, 8), *dh0 = calloc(p.nh, 8), *dc0 = calloc(p.nh, 8);
            double *dW = calloc(p.nW, 8), *dU = calloc(p.nU, 8), *db = calloc(G, 8);
            int exact = 1;
            for (size_t b = 0; b < B; b++) {
                const unsigned char *m = p.mask;
                int L = 0;
                for (size_t t = 0; t < T; t++) L += m[t * B + b] != 0;
                /* the short sequence: x, dy of the valid steps; each masked
                 * step's dy joins the valid step before it (or dh0, or dhT) */
                float *xs = malloc((L ? L : 1) * I * 4), *dys = calloc((L ? L : 1) * H, 4);
                float *dhTs = malloc(H * 4);
                double *dh0_extra = calloc(H, 8);
                memcpy(dhTs, p.dhT + b * H, H * 4);
                for (int k = L, t = (int)T - 1; t >= 0; t--) {
                    const float *dyt = p.dy + (t * B + b) * H;
                    if (m[t * B + b]) {
                        k--;
                        memcpy(xs + k * I, p.x + (t * B + b) * I, I * 4);
                        for (size_t j = 0; j < H; j++) dys[k * H + j] += dyt[j];
                    } else if (k == L) {
                        for (size_t j = 0; j < H; j++) dhTs[j] += dyt[j];
                    } else if (k > 0) {
                        for (size_t j = 0; j < H; j++) dys[(k - 1) * H + j] += dyt[j];
                    } else {
                        for (size_t j = 0; j < H; j++) dh0_extra[j] += dyt[j];
                    }
                }
                float *ys = malloc((L ? L : 1) * H * 4), *hTs = malloc(H * 4), *cTs = malloc(H * 4);
                float *dxs = malloc((L ? L : 1) * I * 4), *dh0s = malloc(H * 4),
                      *dc0s = malloc(H * 4);
                float *dWs = malloc(p.nW * 4), *dUs = malloc(p.nU * 4), *dbs = malloc(G * 4);
                const float *h0b = p.h0 + b * H, *c0b = p.c0 + b * H;
                if (L) {
                    recur_lstm_desc d = {
                        L, 1, sh.I, sh.H, sh.relu ? RECUR_ACT_RELU : RECUR_ACT_TANH, NULL};
                    void *ws = ws_alloc(&d);
                    CU_ASSERT_EQUAL_FATAL(
                        recur_lstm_forward(&d, p.W, p.U, p.b, xs, h0b, c0b, ys, hTs, cTs, ws),
                        RECUR_OK);
                    CU_ASSERT_EQUAL_FATAL(recur_lstm_backward(&d, p.W, p.U, p.b, xs, h0b, c0b, dys,
                                                              dhTs, p.dcT + b * H, dxs, dh0s, dc0s,
                                                              dWs, dUs, dbs, ws),
                                          RECUR_OK);
                    free(ws);
                    for (size_t k = 0; k < p.nW; k++) dW[k] += dWs[k];
                    for (size_t k = 0; k < p.nU; k++) dU[k] += dUs[k];
                    for (size_t k = 0; k < G; k++) db[k] += dbs[k];
                } else { /* masked throughout: the states and their gradients pass through */
                    memcpy(hTs, h0b, H * 4), memcpy(cTs, c0b, H * 4);
                    memcpy(dh0s, dhTs, H * 4), memcpy(dc0s, p.dcT + b * H, H * 4);
                }
                /* the last valid step's h (y), or h0: the short run's, recur's */
                const float *prevs = h0b, *prev = h0b;
                for (int k = 0, t = 0; t < (int)T; t++) {
                    const size_t row = t * B + b;
                    if (m[row]) {
                        for (size_t j = 0; j < H; j++) y[row * H + j] = ys[k * H + j];
                        for (size_t i = 0; i < I; i++) dx[row * I + i] = dxs[k * I + i];
                        prevs = ys + k * H, prev = o.y + row * H;
                        k++;
                    } else {
                        /* carried bit for bit; dx exactly 0 */
                        for (size_t j = 0; j < H; j++) y[row * H + j] = prevs[j];
                        exact &= same(o.y + row * H, prev, H);
                        for (size_t i = 0; i < I; i++) exact &= o.dx[row * I + i] == 0.0f;
                    }
                }
                for (size_t j = 0; j < H; j++) {
                    hT[b * H + j] = hTs[j], cT[b * H + j] = cTs[j];
                    dh0[b * H + j] = dh0s[j] + (L ? dh0_extra[j] : 0);
                    dc0[b * H + j] = dc0s[j];
                }
                if (!L) exact &= same(o.dc0 + b * H, p.dcT + b * H, H);
                free(xs), free(dys), free(dhTs), free(dh0_extra), free(ys), free(hTs), free(cTs);
                free(dxs), free(dh0s), free(dc0s), free(dWs), free(dUs), free(dbs);
            }
            CU_ASSERT(exact);
            if (!exact) printf("\n    shape %zu: a masked step is not carried exactly", q);
            const struct {
                const char *name;
                const float *got;
                const double *want;
                size_t n;
            } cmp[] = {{"y", o.y, y, p.ny},    {"hT", o.hT, hT, p.nh},    {"cT", o.cT, cT, p.nh},
                       {"dx", o.dx, dx, p.nx}, {"dh0", o.dh0, dh0, p.nh}, {"dc0", o.dc0, dc0, p.nh},
                       {"dW", o.dW, dW, p.nW}, {"dU", o.dU, dU, p.nU},    {"db", o.db, db, G}};
            for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
                double e = rel_err_f64(cmp[k].got, cmp[k].want, cmp[k].n, 1e-3);
                CU_ASSERT(e <= 2e-5);
                if (!(e <= 2e-5))
                    printf("\n    shape %zu%s: %s rel err %.3g against the valid steps alone", q,
                           with_state ? " with h0, c0" : "", cmp[k].name, e);
            }
            free(y), free(hT), free(cT), free(dx), free(dh0), free(dc0), free(dW), free(dU),
                free(db);
            result_free(&o);
            problem_free(&p);
        }
}

/* H = 70 spans several GEMM panels: with h0 NULL the inference forward once
 * ran the fused step GEMM on the input rows alone and misread every panel
 * after the first. */
static void test_inference_equals_training_forward(void) {
    for (int relu = 0; relu < 8; relu++) { /* 4..7: masked */
        problem p;
        problem_init(&p, (shape){5 + relu / 4 * 4, 6, 7, relu % 4 < 2 ? 19 : 70, relu % 2}, 21);
        if (relu >= 4) problem_mask(&p, (uint64_t)relu);
        recur_lstm_desc d = pdesc(&p);
        result o;
        result_init(&o, &p);
        float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4), *cT = malloc(p.nh * 4);
        for (int with_state = 0; with_state < 2; with_state++) {
            const float *h0 = with_state ? p.h0 : NULL, *c0 = with_state ? p.c0 : NULL;
            CU_ASSERT_EQUAL_FATAL(recur_lstm_forward(&d, p.W, p.U, p.b, p.x, h0, c0, o.y, o.hT, o.cT, o.ws), RECUR_OK);
            CU_ASSERT_EQUAL_FATAL(recur_lstm_forward(&d, p.W, p.U, p.b, p.x, h0, c0, y, hT, cT, NULL), RECUR_OK);
            CU_ASSERT(same(y, o.y, p.ny) && same(hT, o.hT, p.nh) && same(cT, o.cT, p.nh));
        }
        free(y), free(hT), free(cT);
        result_free(&o);
        problem_free(&p);
    }
}

/* recur_lstm_forward_inference with caller-owned scratch: against the
 * reference; bit for bit the allocating inference forward (workspace NULL),
 * on 1 and 3 threads, whatever the scratch held before (NaN); a misaligned
 * scratch refused with y untouched. {3, 48, 400, 128} has just over 1 MiB of
 * W and U at a batch of 48: on the Intel kind (lstm_cpu_intel) inference
 * takes the input into the per-step GEMM with a buffer of one step's Z while
 * the training forward hoists it. */
static void test_inference_with_scratch(void) {
    for (int v = 0; v < 4; v++) { /* relu = v & 1, masked = v & 2 */
        const shape sh = {3, 48, 400, 128, v & 1};
        problem p;
        problem_init(&p, sh, 40 + (uint64_t)v);
        if (v & 2) problem_mask(&p, 7);
        recur_lstm_desc d = pdesc(&p);
        ref_tape tp;
        tape_init(&tp, &sh);
        double *ry = malloc(p.ny * 8), *rhT = malloc(p.nh * 8), *rcT = malloc(p.nh * 8);
        ref_forward(&tp, &p.rin, ry, rhT, rcT);
        const size_t n = recur_lstm_inference_scratch_size(&d), nf = (n + 63) / 64 * 16;
        CU_ASSERT_FATAL(n > 0);
        float *scratch = aligned_alloc(64, nf * 4 + 64);
        float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4), *cT = malloc(p.nh * 4);
        float *y2 = malloc(p.ny * 4), *hT2 = malloc(p.nh * 4), *cT2 = malloc(p.nh * 4);
        for (size_t k = 0; k < nf; k++) scratch[k] = NAN;
        CU_ASSERT_EQUAL_FATAL(recur_lstm_forward_inference(&d, p.W, p.U, p.b, p.x, p.h0, p.c0, y,
                                                           hT, cT, scratch),
                              RECUR_OK);
        CU_ASSERT(rel_err_f64(y, ry, p.ny, 1e-3) <= TOL && rel_err_f64(hT, rhT, p.nh, 1e-3) <= TOL &&
                  rel_err_f64(cT, rcT, p.nh, 1e-3) <= TOL);
        for (int threads = 1; threads <= 3; threads += 2) {
            recur_set_num_threads(threads);
            CU_ASSERT_EQUAL_FATAL(recur_lstm_forward(&d, p.W, p.U, p.b, p.x, p.h0, p.c0, y2, hT2,
                                                     cT2, NULL),
                                  RECUR_OK);
            CU_ASSERT(same(y, y2, p.ny) && same(hT, hT2, p.nh) && same(cT, cT2, p.nh));
            for (size_t k = 0; k < nf; k++) scratch[k] = NAN;
            CU_ASSERT_EQUAL_FATAL(recur_lstm_forward_inference(&d, p.W, p.U, p.b, p.x, p.h0, p.c0,
                                                               y2, hT2, cT2, scratch),
                                  RECUR_OK);
            CU_ASSERT(same(y, y2, p.ny) && same(hT, hT2, p.nh) && same(cT, cT2, p.nh));
        }
        recur_set_num_threads(0);
        memcpy(y2, y, p.ny * 4);
        CU_ASSERT_EQUAL(recur_lstm_forward_inference(&d, p.W, p.U, p.b, p.x, NULL, NULL, y2, NULL,
                                                     NULL, (char *)scratch + 4),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(strstr(recur_last_error(), "scratch") != NULL);
        CU_ASSERT(same(y, y2, p.ny));
        free(y), free(hT), free(cT), free(y2), free(hT2), free(cT2), free(scratch);
        free(ry), free(rhT), free(rcT);
        tape_free(&tp);
        problem_free(&p);
    }
}

/* Packed weights (recur_lstm_pack_weights): the forward on them gives
 * recur_lstm_forward_inference's y, hT, cT bit for bit, packed on 1 thread or
 * 3 and run on either, on a shorter sequence too, after W and U were
 * overwritten; at a shape whose plan joins the input (small), one that hoists
 * it (B = 5, over 1 MiB), and 48 rows of just over 1 MiB (joined on the
 * Intel kind, lstm_cpu_intel; hoisted elsewhere). Refused, naming the
 * problem, y untouched: a buffer packed for another batch or hidden size,
 * for a GRU, a zeroed one, a misaligned or NULL one. */
static void test_packed_weights(void) {
    const shape shapes[] = {{5, 6, 7, 40, 0}, {4, 5, 400, 128, 1}, {3, 48, 400, 128, 0}};
    for (size_t v = 0; v < 2 * sizeof shapes / sizeof *shapes; v++) { /* odd: masked */
        const shape sh = shapes[v / 2];
        problem p;
        problem_init(&p, sh, 80 + v);
        if (v & 1) problem_mask(&p, 21 + v);
        recur_lstm_desc d = pdesc(&p);
        const size_t n = recur_lstm_packed_weights_size(&d);
        CU_ASSERT_FATAL(n > 0);
        float *packed = nan_buffer(n), *scratch = nan_buffer(recur_lstm_inference_scratch_size(&d));
        float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4), *cT = malloc(p.nh * 4);
        float *y2 = malloc(p.ny * 4), *hT2 = malloc(p.nh * 4), *cT2 = malloc(p.nh * 4);
        CU_ASSERT_EQUAL_FATAL(
            recur_lstm_forward_inference(&d, p.W, p.U, p.b, p.x, p.h0, p.c0, y, hT, cT, scratch),
            RECUR_OK);
        for (int threads = 1; threads <= 3; threads += 2) {
            recur_set_num_threads(threads);
            CU_ASSERT_EQUAL_FATAL(recur_lstm_pack_weights(&d, p.W, p.U, packed), RECUR_OK);
            for (int run = 1; run <= 3; run += 2) {
                recur_set_num_threads(run);
                memset(y2, 0, p.ny * 4);
                CU_ASSERT_EQUAL_FATAL(recur_lstm_forward_packed(&d, packed, p.b, p.x, p.h0, p.c0,
                                                                y2, hT2, cT2, scratch),
                                      RECUR_OK);
                CU_ASSERT(same(y, y2, p.ny) && same(hT, hT2, p.nh) && same(cT, cT2, p.nh));
            }
        }
        recur_set_num_threads(0);
        /* a shorter sequence, and W, U gone: the buffer is all it reads */
        float *W = malloc(p.nW * 4), *U = malloc(p.nU * 4);
        memcpy(W, p.W, p.nW * 4), memcpy(U, p.U, p.nU * 4);
        recur_lstm_desc d1 = d;
        d1.seq_len = sh.T - 1;
        CU_ASSERT_EQUAL_FATAL(
            recur_lstm_forward_inference(&d1, p.W, p.U, p.b, p.x, p.h0, p.c0, y, hT, cT, NULL),
            RECUR_OK);
        for (size_t k = 0; k < p.nW; k++) p.W[k] = NAN;
        for (size_t k = 0; k < p.nU; k++) p.U[k] = NAN;
        CU_ASSERT_EQUAL_FATAL(
            recur_lstm_forward_packed(&d1, packed, p.b, p.x, p.h0, p.c0, y2, hT2, cT2, NULL),
            RECUR_OK);
        CU_ASSERT(same(y, y2, (size_t)d1.seq_len * sh.B * sh.H) && same(hT, hT2, p.nh) &&
                  same(cT, cT2, p.nh));
        memcpy(p.W, W, p.nW * 4), memcpy(p.U, U, p.nU * 4);
        free(W), free(U);
        /* refused */
        recur_lstm_desc other[2] = {d, d};
        other[0].batch = sh.B + 1, other[1].hidden_size = sh.H + 1;
        other[0].mask = other[1].mask = NULL;
        const char *what[2] = {"batch", "hidden_size"};
        memcpy(y2, y, p.ny * 4);
        for (int k = 0; k < 2; k++) {
            CU_ASSERT_EQUAL(recur_lstm_forward_packed(&other[k], packed, p.b, p.x, p.h0, p.c0, y2,
                                                      NULL, NULL, NULL),
                            RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(strstr(recur_last_error(), what[k]) != NULL);
        }
        recur_gru_desc g = {sh.T, sh.B, sh.I, sh.H, RECUR_ACT_TANH, 1, NULL};
        CU_ASSERT_EQUAL(recur_gru_forward_packed(&g, packed, p.b, p.x, p.h0, y2, NULL, NULL),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(strstr(recur_last_error(), "holds an LSTM's weights, not a GRU's") != NULL);
        float *zeros = aligned_alloc(64, 64 * 4);
        memset(zeros, 0, 64 * 4);
        CU_ASSERT_EQUAL(
            recur_lstm_forward_packed(&d, zeros, p.b, p.x, p.h0, p.c0, y2, NULL, NULL, NULL),
            RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(strstr(recur_last_error(), "does not hold packed weights") != NULL);
        CU_ASSERT_EQUAL(recur_lstm_forward_packed(&d, (char *)packed + 4, p.b, p.x, p.h0, p.c0, y2,
                                                  NULL, NULL, NULL),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT_EQUAL(
            recur_lstm_forward_packed(&d, NULL, p.b, p.x, p.h0, p.c0, y2, NULL, NULL, NULL),
            RECUR_ERR_NULL_POINTER);
        CU_ASSERT_EQUAL(
            recur_lstm_forward_packed(NULL, packed, p.b, p.x, p.h0, p.c0, y2, NULL, NULL, NULL),
            RECUR_ERR_NULL_POINTER);
        CU_ASSERT_EQUAL(recur_lstm_pack_weights(&d, p.W, NULL, packed), RECUR_ERR_NULL_POINTER);
        CU_ASSERT_EQUAL(recur_lstm_pack_weights(&d, p.W, p.U, (char *)packed + 4),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(same(y, y2, p.ny));
        CU_ASSERT_EQUAL(recur_lstm_packed_weights_size(NULL), 0);
        free(zeros), free(packed), free(scratch);
        free(y), free(hT), free(cT), free(y2), free(hT2), free(cT2);
        problem_free(&p);
    }
}

/* NULL optional pointers behave as documented: zeros in, nothing out. */
static void test_null_optional_pointers(void) {
    problem p;
    problem_init(&p, (shape){4, 3, 5, 10, 0}, 31);
    recur_lstm_desc d = pdesc(&p);
    result full, part;
    result_init(&full, &p);
    result_init(&part, &p);
    /* explicit zeros vs NULL for h0, c0 and dy; optional outputs skipped */
    memset(p.h0, 0, p.nh * 4), memset(p.c0, 0, p.nh * 4), memset(p.dy, 0, p.ny * 4);
    CU_ASSERT_FATAL(run_recur(&p, &full));
    CU_ASSERT_EQUAL(recur_lstm_forward(&d, p.W, p.U, p.b, p.x, NULL, NULL, part.y, NULL, NULL,
                                       part.ws),
                    RECUR_OK);
    CU_ASSERT(same(part.y, full.y, p.ny));
    CU_ASSERT_EQUAL(recur_lstm_backward(&d, p.W, p.U, p.b, p.x, NULL, NULL, NULL, p.dhT, p.dcT,
                                        NULL, NULL, NULL, part.dW, part.dU, part.db, part.ws),
                    RECUR_OK);
    CU_ASSERT(same(part.dW, full.dW, p.nW) && same(part.dU, full.dU, p.nU) &&
              same(part.db, full.db, p.nb));

    /* explicit zeros vs NULL for dhT and dcT, with a non-zero dy */
    test_rng r = {5};
    fill_uniform(&r, p.dy, p.ny, -1, 1);
    memset(p.dhT, 0, p.nh * 4), memset(p.dcT, 0, p.nh * 4);
    CU_ASSERT_FATAL(run_recur(&p, &full));
    CU_ASSERT_EQUAL(recur_lstm_forward(&d, p.W, p.U, p.b, p.x, p.h0, p.c0, part.y, part.hT,
                                       part.cT, part.ws),
                    RECUR_OK);
    CU_ASSERT_EQUAL(recur_lstm_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.c0, p.dy, NULL, NULL,
                                        part.dx, part.dh0, part.dc0, part.dW, part.dU, part.db,
                                        part.ws),
                    RECUR_OK);
    CU_ASSERT(same(part.dW, full.dW, p.nW) && same(part.dU, full.dU, p.nU) &&
              same(part.db, full.db, p.nb) && same(part.dx, full.dx, p.nx));
    CU_ASSERT(same(part.dh0, full.dh0, p.nh) && same(part.dc0, full.dc0, p.nh));
    /* and the gradients are not trivially zero */
    double nz = 0;
    for (size_t k = 0; k < p.nW; k++) nz += fabs(full.dW[k]);
    CU_ASSERT(nz > 0);
    result_free(&full);
    result_free(&part);
    problem_free(&p);
}

/* dW, dU, db are overwritten: NaN garbage in them changes nothing. */
static void test_gradients_overwritten_not_accumulated(void) {
    problem p;
    problem_init(&p, (shape){3, 4, 6, 12, 1}, 41);
    result a, b;
    result_init(&a, &p);
    result_init(&b, &p);
    for (size_t k = 0; k < p.nW; k++) a.dW[k] = 0.0f, b.dW[k] = NAN;
    for (size_t k = 0; k < p.nU; k++) a.dU[k] = 0.0f, b.dU[k] = NAN;
    for (size_t k = 0; k < p.nb; k++) a.db[k] = 0.0f, b.db[k] = NAN;
    for (size_t k = 0; k < p.nx; k++) b.dx[k] = NAN;
    CU_ASSERT_FATAL(run_recur(&p, &a) && run_recur(&p, &b));
    CU_ASSERT(same(a.dW, b.dW, p.nW) && same(a.dU, b.dU, p.nU) && same(a.db, b.db, p.nb));
    CU_ASSERT(same(a.dx, b.dx, p.nx));
    /* a second backward pass on a fresh forward gives the same, not double */
    CU_ASSERT_FATAL(run_recur(&p, &b));
    CU_ASSERT(same(a.dW, b.dW, p.nW) && same(a.db, b.db, p.nb));
    result_free(&a);
    result_free(&b);
    problem_free(&p);
}

/* 1 and 2 threads agree closely; B=1 leaves a thread without rows. */
/* Fixed partitions and reduction orders: every output bit-identical on 1, 2,
 * 3 and 5 threads, with and without the unit split's shapes (H = 20 > one
 * AVX2 panel; B = 1 splits units). */
static void test_thread_counts(void) {
    const shape shapes[] = {{5, 9, 6, 20, 0}, {3, 1, 4, 40, 1}, {4, 7, 70, 33, 0},
                            {8, 9, 6, 20, 1}, {7, 1, 4, 40, 0}, {9, 13, 70, 33, 1}};
    const int threads[] = {2, 3, 5};
    for (int k = 0; k < 6; k++) { /* 3..5: masked (B = 1: an interior hole) */
        problem p;
        problem_init(&p, shapes[k], 51);
        if (k >= 3) problem_mask(&p, k == 4 ? 3 : (uint64_t)k);
        result one, many;
        result_init(&one, &p);
        result_init(&many, &p);
        recur_set_num_threads(1);
        CU_ASSERT_EQUAL(recur_get_num_threads(), 1);
        CU_ASSERT_FATAL(run_recur(&p, &one));
        for (int n = 0; n < 3; n++) {
            recur_set_num_threads(threads[n]);
            CU_ASSERT_EQUAL(recur_get_num_threads(), threads[n]);
            CU_ASSERT_FATAL(run_recur(&p, &many));
            const int equal = same_result(&many, &one, &p);
            if (!equal)
                printf("\n    shape %d%s: %d threads differ from 1", k, k >= 3 ? " masked" : "",
                       threads[n]);
            CU_ASSERT(equal);
        }
        recur_set_num_threads(0);
        result_free(&one);
        result_free(&many);
        problem_free(&p);
    }
}

/* Same inputs, same thread count: bit-identical outputs. */
static void test_repeatable(void) {
    problem p;
    problem_init(&p, (shape){6, 8, 5, 24, 1}, 61);
    result a, b;
    result_init(&a, &p);
    result_init(&b, &p);
    CU_ASSERT_FATAL(run_recur(&p, &a) && run_recur(&p, &b));
    CU_ASSERT(same(a.y, b.y, p.ny) && same(a.dW, b.dW, p.nW) && same(a.dU, b.dU, p.nU));
    CU_ASSERT(same(a.dx, b.dx, p.nx) && same(a.dh0, b.dh0, p.nh));
    result_free(&a);
    result_free(&b);
    problem_free(&p);
}

typedef struct {
    problem *p;
    result *o;
    int ok;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    j->ok = run_recur(j->p, j->o);
    return NULL;
}

/* Concurrent calls from host threads (pthreads, and inside the host's own
 * OpenMP parallel region) give what sequential calls give. */
static void test_concurrent_callers(void) {
    problem p[2];
    result seq[2], par[2];
    for (int k = 0; k < 2; k++) {
        problem_init(&p[k], (shape){7, 5 + k, 9, 18 + 3 * k, k}, 71 + k);
        result_init(&seq[k], &p[k]);
        result_init(&par[k], &p[k]);
        CU_ASSERT_FATAL(run_recur(&p[k], &seq[k]));
    }
    /* in a host parallel region recur runs single-threaded: compare with that */
    recur_set_num_threads(1);
    for (int k = 0; k < 2; k++) CU_ASSERT_FATAL(run_recur(&p[k], &seq[k]));
    recur_set_num_threads(0);
    int ok[2] = {0, 0}, inner_threads[2] = {0, 0};
#pragma omp parallel num_threads(2)
    {
        int k = omp_get_thread_num();
        inner_threads[k] = recur_get_num_threads();
        ok[k] = run_recur(&p[k], &par[k]);
    }
    for (int k = 0; k < 2; k++) {
        CU_ASSERT(ok[k] && inner_threads[k] == 1);
        CU_ASSERT(same(par[k].y, seq[k].y, p[k].ny) && same(par[k].dW, seq[k].dW, p[k].nW));
        CU_ASSERT(same(par[k].dU, seq[k].dU, p[k].nU) && same(par[k].dx, seq[k].dx, p[k].nx));
    }

    /* pthreads: each call may itself use OpenMP threads */
    for (int k = 0; k < 2; k++) CU_ASSERT_FATAL(run_recur(&p[k], &seq[k]));
    pthread_t th[2];
    job jobs[2] = {{&p[0], &par[0], 0}, {&p[1], &par[1], 0}};
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, run_job, &jobs[k]);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT(jobs[k].ok);
        double *w = to_double(seq[k].dW, p[k].nW);
        CU_ASSERT(rel_err_f64(par[k].dW, w, p[k].nW, 1e-3) < 1e-5);
        free(w);
    }
    for (int k = 0; k < 2; k++) result_free(&seq[k]), result_free(&par[k]), problem_free(&p[k]);
}

int main(void) {
    printf("recur %s, kernels: %s, threads: %d\n", recur_version(), recur_isa(),
           recur_get_num_threads());
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("lstm", NULL, NULL);
    if (!s) return 2;
    ADD_TEST(s, test_reference_matches_finite_differences);
    ADD_TEST(s, test_matches_reference_edge_shapes);
    ADD_TEST(s, test_matches_reference_tutorial_shape);
    ADD_TEST(s, test_matches_reference_large_shape);
    ADD_TEST(s, test_masked_reference_matches_finite_differences);
    ADD_TEST(s, test_masked_matches_reference);
    ADD_TEST(s, test_all_valid_mask_equals_none);
    ADD_TEST(s, test_masked_equals_valid_steps_alone);
    ADD_TEST(s, test_inference_equals_training_forward);
    ADD_TEST(s, test_inference_with_scratch);
    ADD_TEST(s, test_packed_weights);
    ADD_TEST(s, test_null_optional_pointers);
    ADD_TEST(s, test_gradients_overwritten_not_accumulated);
    ADD_TEST(s, test_thread_counts);
    ADD_TEST(s, test_cpu_kind_choices);
    ADD_TEST(s, test_repeatable);
    ADD_TEST(s, test_concurrent_callers);
    return test_main_run();
}
