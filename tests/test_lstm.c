/* The LSTM primitive against an independent double-precision reference, whose
 * own backward is checked against central finite differences. Uses only the
 * public header. ctest runs it once per RECUR_ISA. */
#include <omp.h>
#include <pthread.h>
#include <string.h>

#include <recur.h>

#include "testutil.h"

typedef struct {
    int T, B, I, H, relu;
} shape;

static recur_lstm_desc desc_of(const shape *s) {
    recur_lstm_desc d = {s->T, s->B, s->I, s->H, s->relu ? RECUR_ACT_RELU : RECUR_ACT_TANH};
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
} ref_in;

/* y [T][B][H], hT, cT [B][H] */
static void ref_forward(ref_tape *tp, const ref_in *in, double *y, double *hT, double *cT) {
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H, G = 4 * H;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < B; n++) {
            const double *hp = t ? tp->h + ((t - 1) * B + n) * H : in->h0 + n * H;
            const double *cp = t ? tp->c + ((t - 1) * B + n) * H : in->c0 + n * H;
            const double *xt = in->x + (t * B + n) * I;
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
    ref_in rin;
    double *rdy, *rdhT, *rdcT;
} problem;

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
}

static void problem_free(problem *p) {
    free(p->W), free(p->U), free(p->b), free(p->x), free(p->h0), free(p->c0);
    free(p->dy), free(p->dhT), free(p->dcT);
    free(p->rin.W), free(p->rin.U), free(p->rin.b), free(p->rin.x), free(p->rin.h0);
    free(p->rin.c0), free(p->rdy), free(p->rdhT), free(p->rdcT);
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
    recur_lstm_desc d = desc_of(&p->s);
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
    recur_lstm_desc d = desc_of(&p->s);
    recur_status st = recur_lstm_forward(&d, p->W, p->U, p->b, p->x, p->h0, p->c0, o->y, o->hT,
                                         o->cT, o->ws);
    if (st == RECUR_OK)
        st = recur_lstm_backward(&d, p->W, p->U, p->b, p->x, p->h0, p->c0, p->dy, p->dhT, p->dcT,
                                 o->dx, o->dh0, o->dc0, o->dW, o->dU, o->db, o->ws);
    if (st != RECUR_OK) printf("\n    %s: %s", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

#define TOL 1e-4

/* recur against the reference on one shape; returns the worst relative error */
static double check_shape(shape s, uint64_t seed) {
    problem p;
    problem_init(&p, s, seed);
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
                printf("\n    T=%d B=%d I=%d H=%d %s: %s rel err %.3g", s.T, s.B, s.I, s.H,
                       s.relu ? "relu" : "tanh", cmp[k].name, e);
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

/* ---- Tests ---------------------------------------------------------------- */

/* The reference's backward against central differences of
 * L = sum(y*dy) + sum(hT*dhT) + sum(cT*dcT), all in double. */
static void test_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++) {
        shape s = {3, 2, 3, 4, relu};
        problem p;
        problem_init(&p, s, 11 + relu);
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
        if (!(worst < 1e-6)) printf("\n    %s: finite-difference error %.3g", relu ? "relu" : "tanh", worst);
        free(y), free(hT), free(cT);
        free(g.W), free(g.U), free(g.b), free(g.x), free(g.h0), free(g.c0);
        tape_free(&tp);
        problem_free(&p);
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

/* H = 70 spans several GEMM panels: with h0 NULL the inference forward once
 * ran the fused step GEMM on the input rows alone and misread every panel
 * after the first. */
static void test_inference_equals_training_forward(void) {
    for (int relu = 0; relu < 4; relu++) {
        problem p;
        problem_init(&p, (shape){5, 6, 7, relu < 2 ? 19 : 70, relu % 2}, 21);
        recur_lstm_desc d = desc_of(&p.s);
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

/* NULL optional pointers behave as documented: zeros in, nothing out. */
static void test_null_optional_pointers(void) {
    problem p;
    problem_init(&p, (shape){4, 3, 5, 10, 0}, 31);
    recur_lstm_desc d = desc_of(&p.s);
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
    const shape shapes[] = {{5, 9, 6, 20, 0}, {3, 1, 4, 40, 1}, {4, 7, 70, 33, 0}};
    const int threads[] = {2, 3, 5};
    for (int k = 0; k < 3; k++) {
        problem p;
        problem_init(&p, shapes[k], 51);
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
            const int equal = same(many.y, one.y, p.ny) && same(many.hT, one.hT, p.nh) &&
                             same(many.cT, one.cT, p.nh) && same(many.dx, one.dx, p.nx) &&
                             same(many.dh0, one.dh0, p.nh) && same(many.dc0, one.dc0, p.nh) &&
                             same(many.dW, one.dW, p.nW) && same(many.dU, one.dU, p.nU) &&
                             same(many.db, one.db, p.nb);
            if (!equal) printf("\n    shape %d: %d threads differ from 1", k, threads[n]);
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
    ADD_TEST(s, test_inference_equals_training_forward);
    ADD_TEST(s, test_null_optional_pointers);
    ADD_TEST(s, test_gradients_overwritten_not_accumulated);
    ADD_TEST(s, test_thread_counts);
    ADD_TEST(s, test_repeatable);
    ADD_TEST(s, test_concurrent_callers);
    return test_main_run();
}
