/* The SimpleRNN primitive against an independent double-precision reference,
 * whose own backward is checked against central finite differences; then the
 * rest of the contract: NULL arguments, overwritten gradients, thread counts
 * and every invalid argument. Uses only the public header. ctest runs it once
 * per RECUR_ISA. */
#include <limits.h>
#include <string.h>

#include <recur.h>

#include "testutil.h"

typedef struct {
    int T, B, I, H, relu;
} shape;

static recur_rnn_desc desc_of(const shape *s) {
    recur_rnn_desc d = {s->T, s->B, s->I, s->H, s->relu ? RECUR_ACT_RELU : RECUR_ACT_TANH};
    return d;
}

static const char *name_of(const shape *s) {
    return s->relu ? "relu" : "tanh";
}

/* ---- Reference: plain loops in double, written from the equations ------- */

typedef struct {
    size_t T, B, I, H;
    int relu;
    double *a, *h; /* [T][B][H]: pre-activation, h_t */
    double kink;   /* relu: the smallest |a| of the last forward */
} ref_tape;

static double actd(int relu, double v) {
    return relu ? (v > 0 ? v : 0) : tanh(v);
}
/* derivative of act at pre-activation v, given a = act(v) */
static double dactd(int relu, double v, double a) {
    return relu ? (v > 0 ? 1 : 0) : 1 - a * a;
}

static void tape_init(ref_tape *tp, const shape *s) {
    tp->T = s->T, tp->B = s->B, tp->I = s->I, tp->H = s->H, tp->relu = s->relu;
    size_t n = tp->T * tp->B * tp->H;
    tp->a = calloc(n, sizeof(double)), tp->h = calloc(n, sizeof(double));
}

static void tape_free(ref_tape *tp) {
    free(tp->a), free(tp->h);
}

typedef struct {
    double *W, *U, *b, *x, *h0; /* h0 always present (zeros for "NULL") */
} ref_in;

/* y [T][B][H], hT [B][H] */
static void ref_forward(ref_tape *tp, const ref_in *in, double *y, double *hT) {
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H;
    tp->kink = INFINITY;
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < B; n++) {
            const double *hp = t ? tp->h + ((t - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (t * B + n) * I;
            double *a = tp->a + (t * B + n) * H;
            /* h_t = act(x_t W + h_{t-1} U + b) */
            memcpy(a, in->b, H * sizeof(double));
            for (size_t k = 0; k < I; k++)
                for (size_t j = 0; j < H; j++) a[j] += xt[k] * in->W[k * H + j];
            for (size_t k = 0; k < H; k++)
                for (size_t j = 0; j < H; j++) a[j] += hp[k] * in->U[k * H + j];
            for (size_t j = 0; j < H; j++) {
                const size_t at = (t * B + n) * H + j;
                tp->h[at] = y[at] = actd(tp->relu, a[j]);
                if (fabs(a[j]) < tp->kink) tp->kink = fabs(a[j]);
            }
        }
    memcpy(hT, tp->h + (T - 1) * B * H, B * H * sizeof(double));
}

typedef struct {
    double *W, *U, *b, *x, *h0;
} ref_grad;

static void ref_backward(const ref_tape *tp, const ref_in *in, const double *dy, const double *dhT,
                         ref_grad *gr) {
    const size_t T = tp->T, B = tp->B, I = tp->I, H = tp->H;
    memset(gr->W, 0, I * H * sizeof(double));
    memset(gr->U, 0, H * H * sizeof(double));
    memset(gr->b, 0, H * sizeof(double));
    double *dh = malloc(B * H * sizeof(double)), *da = malloc(H * sizeof(double));
    memcpy(dh, dhT, B * H * sizeof(double));
    for (size_t tt = T; tt-- > 0;)
        for (size_t n = 0; n < B; n++) {
            const double *hp = tt ? tp->h + ((tt - 1) * B + n) * H : in->h0 + n * H;
            const double *xt = in->x + (tt * B + n) * I;
            double *dxt = gr->x + (tt * B + n) * I, *dhp = dh + n * H;
            for (size_t j = 0; j < H; j++) {
                const size_t at = (tt * B + n) * H + j;
                da[j] = (dhp[j] + dy[at]) * dactd(tp->relu, tp->a[at], tp->h[at]);
            }
            for (size_t j = 0; j < H; j++) gr->b[j] += da[j];
            for (size_t k = 0; k < I; k++) {
                double acc = 0;
                for (size_t j = 0; j < H; j++) {
                    gr->W[k * H + j] += xt[k] * da[j];
                    acc += da[j] * in->W[k * H + j];
                }
                dxt[k] = acc;
            }
            for (size_t k = 0; k < H; k++) {
                double acc = 0;
                for (size_t j = 0; j < H; j++) {
                    gr->U[k * H + j] += hp[k] * da[j];
                    acc += da[j] * in->U[k * H + j];
                }
                dhp[k] = acc;
            }
        }
    memcpy(gr->h0, dh, B * H * sizeof(double));
    free(dh), free(da);
}

/* ---- Problem data: float for recur, the same values in double ----------- */

typedef struct {
    shape s;
    size_t nW, nU, nb, nx, nh, ny;
    float *W, *U, *b, *x, *h0, *dy, *dhT;
    ref_in rin;
    double *rdy, *rdhT;
} problem;

static double *to_double(const float *p, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t k = 0; k < n; k++) d[k] = p[k];
    return d;
}

static void problem_init(problem *p, shape s, uint64_t seed) {
    test_rng r = {seed};
    p->s = s;
    size_t T = s.T, B = s.B, I = s.I, H = s.H;
    p->nW = I * H, p->nU = H * H, p->nb = H, p->nx = T * B * I, p->nh = B * H, p->ny = T * B * H;
    p->W = malloc(p->nW * 4), p->U = malloc(p->nU * 4), p->b = malloc(p->nb * 4);
    p->x = malloc(p->nx * 4), p->h0 = malloc(p->nh * 4);
    p->dy = malloc(p->ny * 4), p->dhT = malloc(p->nh * 4);
    double aw = sqrt(6.0 / (double)(I + H)), au = 1.5 / sqrt((double)H);
    fill_uniform(&r, p->W, p->nW, -aw, aw);
    fill_uniform(&r, p->U, p->nU, -au, au);
    fill_uniform(&r, p->b, p->nb, -0.5, 0.5);
    fill_uniform(&r, p->x, p->nx, -1, 1);
    fill_uniform(&r, p->h0, p->nh, -0.5, 0.5);
    fill_uniform(&r, p->dy, p->ny, -1, 1);
    fill_uniform(&r, p->dhT, p->nh, -1, 1);
    p->rin.W = to_double(p->W, p->nW), p->rin.U = to_double(p->U, p->nU);
    p->rin.b = to_double(p->b, p->nb), p->rin.x = to_double(p->x, p->nx);
    p->rin.h0 = to_double(p->h0, p->nh);
    p->rdy = to_double(p->dy, p->ny), p->rdhT = to_double(p->dhT, p->nh);
}

static void problem_free(problem *p) {
    free(p->W), free(p->U), free(p->b), free(p->x), free(p->h0), free(p->dy), free(p->dhT);
    free(p->rin.W), free(p->rin.U), free(p->rin.b), free(p->rin.x), free(p->rin.h0);
    free(p->rdy), free(p->rdhT);
}

/* With relu, a pre-activation within rounding of 0 can fall on different sides
 * of the kink in float and in double, and so take different derivatives: draw
 * seeds in turn until the reference's every |a| is at least `gap`. y, hT
 * [T][B][H], [B][H] receive the reference forward. 0 if no seed of 20 does. */
static int problem_draw(problem *p, ref_tape *tp, shape s, uint64_t seed, double gap, double *y,
                        double *hT) {
    for (int k = 0; k < 20; k++) {
        problem_init(p, s, seed + 1000 * (uint64_t)k);
        ref_forward(tp, &p->rin, y, hT);
        if (!s.relu || tp->kink >= gap) return 1;
        problem_free(p);
    }
    printf("\n    T=%d B=%d I=%d H=%d %s: no seed keeps relu %.0e from its kink", s.T, s.B, s.I,
           s.H, name_of(&s), gap);
    return 0;
}

/* Outputs of one forward + backward through recur. */
typedef struct {
    float *y, *hT, *dx, *dh0, *dW, *dU, *db;
    void *ws;
} result;

static void *ws_alloc(const recur_rnn_desc *d) {
    size_t n = recur_rnn_workspace_size(d);
    CU_ASSERT_FATAL(n > 0);
    /* 64 spare bytes for a deliberately misaligned pointer */
    return aligned_alloc(64, (n + 63) / 64 * 64 + 64);
}

static void result_init(result *o, const problem *p) {
    recur_rnn_desc d = desc_of(&p->s);
    o->y = malloc(p->ny * 4), o->hT = malloc(p->nh * 4), o->dx = malloc(p->nx * 4);
    o->dh0 = malloc(p->nh * 4), o->dW = malloc(p->nW * 4), o->dU = malloc(p->nU * 4);
    o->db = malloc(p->nb * 4);
    o->ws = ws_alloc(&d);
}

static void result_free(result *o) {
    free(o->y), free(o->hT), free(o->dx), free(o->dh0), free(o->dW), free(o->dU), free(o->db);
    free(o->ws);
}

static int run_recur(const problem *p, result *o) {
    recur_rnn_desc d = desc_of(&p->s);
    recur_status st = recur_rnn_forward(&d, p->W, p->U, p->b, p->x, p->h0, o->y, o->hT, o->ws);
    if (st == RECUR_OK)
        st = recur_rnn_backward(&d, p->W, p->U, p->b, p->x, p->h0, p->dy, p->dhT, o->dx, o->dh0,
                                o->dW, o->dU, o->db, o->ws);
    if (st != RECUR_OK) printf("\n    %s: %s", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

#define TOL 1e-4
/* relu pre-activations this far from 0: well above float's rounding of them */
#define KINK_GAP 1e-6

/* recur against the reference on one shape; returns the worst relative error */
static double check_shape(shape s, uint64_t seed) {
    problem p;
    ref_tape tp;
    tape_init(&tp, &s);
    size_t ny = (size_t)s.T * s.B * s.H, nh = (size_t)s.B * s.H;
    double *y = malloc(ny * 8), *hT = malloc(nh * 8);
    double worst = 1.0;
    if (!problem_draw(&p, &tp, s, seed, KINK_GAP, y, hT)) {
        free(y), free(hT), tape_free(&tp);
        return worst;
    }
    ref_grad g = {malloc(p.nW * 8), malloc(p.nU * 8), malloc(p.nb * 8), malloc(p.nx * 8),
                  malloc(p.nh * 8)};
    ref_backward(&tp, &p.rin, p.rdy, p.rdhT, &g);

    result o;
    result_init(&o, &p);
    if (run_recur(&p, &o)) {
        const struct {
            const char *name;
            const float *got;
            const double *want;
            size_t n;
        } cmp[] = {{"y", o.y, y, p.ny},        {"hT", o.hT, hT, p.nh},  {"dx", o.dx, g.x, p.nx},
                   {"dh0", o.dh0, g.h0, p.nh}, {"dW", o.dW, g.W, p.nW}, {"dU", o.dU, g.U, p.nU},
                   {"db", o.db, g.b, p.nb}};
        worst = 0;
        for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
            double e = rel_err_f64(cmp[k].got, cmp[k].want, cmp[k].n, 1e-3);
            if (!(e <= TOL))
                printf("\n    T=%d B=%d I=%d H=%d %s: %s rel err %.3g", s.T, s.B, s.I, s.H,
                       name_of(&s), cmp[k].name, e);
            if (e > worst || e != e) worst = e;
        }
    }
    result_free(&o);
    free(y), free(hT);
    free(g.W), free(g.U), free(g.b), free(g.x), free(g.h0);
    tape_free(&tp);
    problem_free(&p);
    return worst;
}

/* ---- Tests ---------------------------------------------------------------- */

/* The reference's backward against central differences of
 * L = sum(y*dy) + sum(hT*dhT), all in double. */
static void test_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++) {
        shape s = {3, 2, 3, 4, relu};
        problem p;
        ref_tape tp;
        tape_init(&tp, &s);
        double *y = malloc(24 * 8), *hT = malloc(8 * 8);
        /* 1e-3: no central difference with step 1e-6 crosses a kink */
        CU_ASSERT_FATAL(problem_draw(&p, &tp, s, 11 + relu, 1e-3, y, hT));
        ref_grad g = {malloc(p.nW * 8), malloc(p.nU * 8), malloc(p.nb * 8), malloc(p.nx * 8),
                      malloc(p.nh * 8)};
        ref_backward(&tp, &p.rin, p.rdy, p.rdhT, &g);
        struct {
            double *param, *grad;
            size_t n;
        } sets[] = {{p.rin.W, g.W, p.nW},
                    {p.rin.U, g.U, p.nU},
                    {p.rin.b, g.b, p.nb},
                    {p.rin.x, g.x, p.nx},
                    {p.rin.h0, g.h0, p.nh}};
        double worst = 0;
        for (size_t q = 0; q < sizeof sets / sizeof *sets; q++)
            for (size_t k = 0; k < sets[q].n; k++) {
                double keep = sets[q].param[k], L[2];
                for (int side = 0; side < 2; side++) {
                    sets[q].param[k] = keep + (side ? -1e-6 : 1e-6);
                    ref_forward(&tp, &p.rin, y, hT);
                    double acc = 0;
                    for (size_t m = 0; m < p.ny; m++) acc += y[m] * p.rdy[m];
                    for (size_t m = 0; m < p.nh; m++) acc += hT[m] * p.rdhT[m];
                    L[side] = acc;
                }
                sets[q].param[k] = keep;
                double fd = (L[0] - L[1]) / 2e-6, e = fabs(fd - sets[q].grad[k]) / (1 + fabs(fd));
                if (e > worst) worst = e;
            }
        CU_ASSERT(worst < 1e-6);
        if (!(worst < 1e-6)) printf("\n    %s: finite-difference error %.3g", name_of(&s), worst);
        free(y), free(hT);
        free(g.W), free(g.U), free(g.b), free(g.x), free(g.h0);
        tape_free(&tp);
        problem_free(&p);
    }
}

/* T, B, H of 1 and hidden sizes off every vector width (5, 17, 33, 70) */
static const shape edge_shapes[] = {
    {1, 1, 1, 1, 0},   {1, 1, 1, 1, 1},  {1, 3, 5, 7, 0},   {4, 1, 3, 17, 1},  {4, 1, 3, 17, 0},
    {3, 5, 7, 5, 0},   {3, 5, 7, 5, 1},  {6, 4, 16, 33, 0}, {6, 4, 16, 33, 1}, {5, 7, 2, 15, 1},
    {2, 2, 31, 16, 0}, {7, 3, 4, 1, 1},  {7, 3, 4, 1, 0},   {9, 6, 10, 40, 1}, {4, 5, 70, 70, 0},
    {4, 5, 9, 70, 1},  {3, 2, 1, 17, 0}, {8, 3, 20, 64, 1}};

static void test_matches_reference_edge_shapes(void) {
    for (size_t k = 0; k < sizeof edge_shapes / sizeof *edge_shapes; k++)
        CU_ASSERT(check_shape(edge_shapes[k], 100 + k) <= TOL);
}

static void test_matches_reference_tutorial_shape(void) {
    for (int relu = 0; relu < 2; relu++)
        CU_ASSERT(check_shape((shape){28, 32, 28, 128, relu}, 5) <= TOL);
}

static void test_matches_reference_large_shape(void) {
    for (int relu = 0; relu < 2; relu++)
        CU_ASSERT(check_shape((shape){12, 64, 100, 256, relu}, 9) <= TOL);
}

static int same(const float *a, const float *b, size_t n) {
    return !memcmp(a, b, n * sizeof(float));
}

static void test_inference_equals_training_forward(void) {
    for (int relu = 0; relu < 2; relu++) {
        problem p;
        problem_init(&p, (shape){5, 6, 7, 19, relu}, 21);
        recur_rnn_desc d = desc_of(&p.s);
        result o;
        result_init(&o, &p);
        float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4);
        for (int with_state = 0; with_state < 2; with_state++) {
            const float *h0 = with_state ? p.h0 : NULL;
            CU_ASSERT_EQUAL_FATAL(recur_rnn_forward(&d, p.W, p.U, p.b, p.x, h0, o.y, o.hT, o.ws),
                                  RECUR_OK);
            CU_ASSERT_EQUAL_FATAL(recur_rnn_forward(&d, p.W, p.U, p.b, p.x, h0, y, hT, NULL),
                                  RECUR_OK);
            CU_ASSERT(same(y, o.y, p.ny) && same(hT, o.hT, p.nh));
            /* hT not wanted changes nothing else */
            CU_ASSERT_EQUAL(recur_rnn_forward(&d, p.W, p.U, p.b, p.x, h0, y, NULL, NULL), RECUR_OK);
            CU_ASSERT(same(y, o.y, p.ny));
        }
        free(y), free(hT);
        result_free(&o);
        problem_free(&p);
    }
}

/* NULL optional pointers behave as documented: zeros in, nothing out. */
static void test_null_optional_pointers(void) {
    problem p;
    problem_init(&p, (shape){4, 3, 5, 10, 0}, 31);
    recur_rnn_desc d = desc_of(&p.s);
    result full, part;
    result_init(&full, &p);
    result_init(&part, &p);
    /* explicit zeros vs NULL for h0 and dy; hT, dx and dh0 not wanted */
    memset(p.h0, 0, p.nh * 4), memset(p.dy, 0, p.ny * 4);
    CU_ASSERT_FATAL(run_recur(&p, &full));
    CU_ASSERT_EQUAL(recur_rnn_forward(&d, p.W, p.U, p.b, p.x, NULL, part.y, NULL, part.ws),
                    RECUR_OK);
    CU_ASSERT(same(part.y, full.y, p.ny));
    CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, NULL, NULL, p.dhT, NULL, NULL,
                                       part.dW, part.dU, part.db, part.ws),
                    RECUR_OK);
    CU_ASSERT(same(part.dW, full.dW, p.nW) && same(part.dU, full.dU, p.nU) &&
              same(part.db, full.db, p.nb));

    /* explicit zeros vs NULL for dhT, with a non-zero dy and h0 */
    test_rng r = {5};
    fill_uniform(&r, p.dy, p.ny, -1, 1);
    fill_uniform(&r, p.h0, p.nh, -0.5, 0.5);
    memset(p.dhT, 0, p.nh * 4);
    CU_ASSERT_FATAL(run_recur(&p, &full));
    CU_ASSERT_EQUAL(recur_rnn_forward(&d, p.W, p.U, p.b, p.x, p.h0, part.y, part.hT, part.ws),
                    RECUR_OK);
    CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, NULL, part.dx, part.dh0,
                                       part.dW, part.dU, part.db, part.ws),
                    RECUR_OK);
    CU_ASSERT(same(part.dW, full.dW, p.nW) && same(part.dU, full.dU, p.nU) &&
              same(part.db, full.db, p.nb) && same(part.dx, full.dx, p.nx));
    CU_ASSERT(same(part.dh0, full.dh0, p.nh));

    /* dx and dh0 skipped one at a time: the other and dW, dU, db unchanged */
    for (int skip = 0; skip < 2; skip++) {
        memset(part.dx, 0, p.nx * 4), memset(part.dh0, 0, p.nh * 4);
        CU_ASSERT_EQUAL(recur_rnn_forward(&d, p.W, p.U, p.b, p.x, p.h0, part.y, NULL, part.ws),
                        RECUR_OK);
        CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT,
                                           skip ? part.dx : NULL, skip ? NULL : part.dh0, part.dW,
                                           part.dU, part.db, part.ws),
                        RECUR_OK);
        CU_ASSERT(skip ? same(part.dx, full.dx, p.nx) : same(part.dh0, full.dh0, p.nh));
        CU_ASSERT(same(part.dW, full.dW, p.nW) && same(part.dU, full.dU, p.nU) &&
                  same(part.db, full.db, p.nb));
    }
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
    for (size_t k = 0; k < p.nh; k++) b.dh0[k] = NAN;
    CU_ASSERT_FATAL(run_recur(&p, &a) && run_recur(&p, &b));
    CU_ASSERT(same(a.dW, b.dW, p.nW) && same(a.dU, b.dU, p.nU) && same(a.db, b.db, p.nb));
    CU_ASSERT(same(a.dx, b.dx, p.nx) && same(a.dh0, b.dh0, p.nh));
    /* a second backward pass on a fresh forward gives the same, not double */
    CU_ASSERT_FATAL(run_recur(&p, &b));
    CU_ASSERT(same(a.dW, b.dW, p.nW) && same(a.dU, b.dU, p.nU) && same(a.db, b.db, p.nb));
    result_free(&a);
    result_free(&b);
    problem_free(&p);
}

/* 1, 2 and 3 threads give the same bits; B=1 leaves threads without rows. */
static void test_thread_counts(void) {
    const shape shapes[] = {{5, 9, 6, 20, 0}, {3, 1, 4, 8, 1}, {4, 2, 5, 37, 0}, {6, 7, 3, 33, 1}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        problem p;
        problem_init(&p, shapes[k], 51);
        result one, more;
        result_init(&one, &p);
        result_init(&more, &p);
        recur_set_num_threads(1);
        CU_ASSERT_EQUAL(recur_get_num_threads(), 1);
        CU_ASSERT_FATAL(run_recur(&p, &one));
        for (int nt = 2; nt <= 3; nt++) {
            recur_set_num_threads(nt);
            CU_ASSERT_EQUAL(recur_get_num_threads(), nt);
            CU_ASSERT_FATAL(run_recur(&p, &more));
            int fwd = same(more.y, one.y, p.ny) && same(more.hT, one.hT, p.nh);
            int bwd = same(more.dx, one.dx, p.nx) && same(more.dh0, one.dh0, p.nh) &&
                      same(more.dW, one.dW, p.nW) && same(more.dU, one.dU, p.nU) &&
                      same(more.db, one.db, p.nb);
            CU_ASSERT(fwd && bwd);
            if (!(fwd && bwd))
                printf("\n    T=%d B=%d I=%d H=%d %s: %d threads differ from 1 in %s", p.s.T, p.s.B,
                       p.s.I, p.s.H, name_of(&p.s), nt, fwd ? "backward" : "forward");
        }
        recur_set_num_threads(0);
        result_free(&one);
        result_free(&more);
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
    CU_ASSERT(same(a.y, b.y, p.ny) && same(a.hT, b.hT, p.nh) && same(a.dW, b.dW, p.nW));
    CU_ASSERT(same(a.dU, b.dU, p.nU) && same(a.db, b.db, p.nb));
    CU_ASSERT(same(a.dx, b.dx, p.nx) && same(a.dh0, b.dh0, p.nh));
    result_free(&a);
    result_free(&b);
    problem_free(&p);
}

/* ---- Invalid arguments: the documented status, nothing written ----------- */

#define SENTINEL -777.0f

/* A valid small problem whose outputs hold the sentinel. */
static void fixture_init(problem *p, result *o) {
    problem_init(p, (shape){3, 2, 4, 5, 0}, 81);
    result_init(o, p);
    float *outs[] = {o->y, o->hT, o->dx, o->dh0, o->dW, o->dU, o->db};
    const size_t ns[] = {p->ny, p->nh, p->nx, p->nh, p->nW, p->nU, p->nb};
    for (int q = 0; q < 7; q++)
        for (size_t k = 0; k < ns[q]; k++) outs[q][k] = SENTINEL;
}

static int untouched(const float *a, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (a[k] != SENTINEL) return 0;
    return 1;
}

static int outputs_untouched(const problem *p, const result *o) {
    return untouched(o->y, p->ny) && untouched(o->hT, p->nh) && untouched(o->dx, p->nx) &&
           untouched(o->dh0, p->nh) && untouched(o->dW, p->nW) && untouched(o->dU, p->nU) &&
           untouched(o->db, p->nb);
}

static int mentions(const char *needle) {
    if (strstr(recur_last_error(), needle)) return 1;
    printf("\n    message \"%s\" does not mention \"%s\"", recur_last_error(), needle);
    return 0;
}

static recur_status fwd(const problem *p, result *o, const recur_rnn_desc *d, void *ws) {
    return recur_rnn_forward(d, p->W, p->U, p->b, p->x, p->h0, o->y, o->hT, ws);
}

static recur_status bwd(const problem *p, result *o, const recur_rnn_desc *d) {
    return recur_rnn_backward(d, p->W, p->U, p->b, p->x, p->h0, p->dy, p->dhT, o->dx, o->dh0, o->dW,
                              o->dU, o->db, o->ws);
}

/* d is invalid with `want`: training and inference forward, backward and
 * both sizes refuse it */
static void expect_refused(const problem *p, result *o, const recur_rnn_desc *d, recur_status want,
                           const char *name) {
    CU_ASSERT_EQUAL(fwd(p, o, d, o->ws), want);
    if (name) CU_ASSERT(mentions(name));
    CU_ASSERT_EQUAL(fwd(p, o, d, NULL), want);
    CU_ASSERT_EQUAL(bwd(p, o, d), want);
    if (name) CU_ASSERT(mentions(name));
    CU_ASSERT_EQUAL(recur_rnn_workspace_size(d), 0);
    CU_ASSERT_EQUAL(recur_rnn_inference_scratch_size(d), 0);
}

static void test_valid_fixture_succeeds(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    recur_rnn_desc d = desc_of(&p.s);
    CU_ASSERT_EQUAL(fwd(&p, &o, &d, o.ws), RECUR_OK);
    CU_ASSERT_EQUAL(bwd(&p, &o, &d), RECUR_OK);
    CU_ASSERT(!untouched(o.y, 1) && !untouched(o.dW, 1) && !untouched(o.db, 1));
    CU_ASSERT(recur_rnn_inference_scratch_size(&d) > 0);
    result_free(&o);
    problem_free(&p);
}

static void test_null_descriptor(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    CU_ASSERT_EQUAL(fwd(&p, &o, NULL, o.ws), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("descriptor"));
    CU_ASSERT_EQUAL(fwd(&p, &o, NULL, NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT_EQUAL(bwd(&p, &o, NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("descriptor"));
    CU_ASSERT_EQUAL(recur_rnn_workspace_size(NULL), 0);
    CU_ASSERT_EQUAL(recur_rnn_inference_scratch_size(NULL), 0);
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

static void test_bad_sizes(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    const char *names[] = {"seq_len", "batch", "input_size", "hidden_size"};
    const int bad[] = {0, -1, INT_MIN};
    for (int dim = 0; dim < 4; dim++)
        for (int k = 0; k < 3; k++) {
            recur_rnn_desc d = desc_of(&p.s);
            int *v[] = {&d.seq_len, &d.batch, &d.input_size, &d.hidden_size};
            *v[dim] = bad[k];
            expect_refused(&p, &o, &d, RECUR_ERR_INVALID_ARGUMENT, names[dim]);
        }
    /* sizes whose buffers cannot be addressed */
    recur_rnn_desc huge = {INT_MAX, INT_MAX, 4, INT_MAX, RECUR_ACT_TANH};
    expect_refused(&p, &o, &huge, RECUR_ERR_INVALID_ARGUMENT, NULL);
    recur_rnn_desc wide = {1, 1, INT_MAX, INT_MAX, RECUR_ACT_RELU}; /* W alone: 2^64 bytes */
    expect_refused(&p, &o, &wide, RECUR_ERR_INVALID_ARGUMENT, NULL);
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

static void test_unsupported_activation(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    const recur_act acts[] = {RECUR_ACT_LINEAR, RECUR_ACT_SIGMOID, RECUR_ACT_SOFTMAX, (recur_act)77,
                              (recur_act)-1};
    for (int k = 0; k < 5; k++) {
        recur_rnn_desc d = desc_of(&p.s);
        d.activation = acts[k];
        expect_refused(&p, &o, &d, RECUR_ERR_UNSUPPORTED, "activation");
    }
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

static void test_null_required_pointers(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    recur_rnn_desc d = desc_of(&p.s);
    const float *in[] = {p.W, p.U, p.b, p.x};
    const char *in_names[] = {"W", "U", "b", "x"};
    for (int k = 0; k < 4; k++) {
        const float *a[4] = {in[0], in[1], in[2], in[3]};
        a[k] = NULL;
        for (int train = 0; train < 2; train++) {
            CU_ASSERT_EQUAL(
                recur_rnn_forward(&d, a[0], a[1], a[2], a[3], p.h0, o.y, o.hT, train ? o.ws : NULL),
                RECUR_ERR_NULL_POINTER);
            CU_ASSERT(mentions(in_names[k]));
        }
        CU_ASSERT_EQUAL(recur_rnn_backward(&d, a[0], a[1], a[2], a[3], p.h0, p.dy, p.dhT, o.dx,
                                           o.dh0, o.dW, o.dU, o.db, o.ws),
                        RECUR_ERR_NULL_POINTER);
        CU_ASSERT(mentions(in_names[k]));
    }
    for (int train = 0; train < 2; train++) {
        CU_ASSERT_EQUAL(
            recur_rnn_forward(&d, p.W, p.U, p.b, p.x, p.h0, NULL, o.hT, train ? o.ws : NULL),
            RECUR_ERR_NULL_POINTER);
        CU_ASSERT(mentions("y"));
    }
    float *none = NULL;
    CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, none,
                                       o.dU, o.db, o.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dW"));
    CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, o.dW,
                                       none, o.db, o.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dU"));
    CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, o.dW,
                                       o.dU, none, o.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("db"));
    CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, o.dW,
                                       o.dU, o.db, NULL),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("workspace"));
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

static void test_misaligned_workspace(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    recur_rnn_desc d = desc_of(&p.s);
    const size_t offsets[] = {4, 32};
    for (int k = 0; k < 2; k++) {
        void *off = (char *)o.ws + offsets[k];
        CU_ASSERT_EQUAL(fwd(&p, &o, &d, off), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("aligned"));
        CU_ASSERT_EQUAL(recur_rnn_backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0,
                                           o.dW, o.dU, o.db, off),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("aligned"));
    }
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

int main(void) {
    printf("recur %s, kernels: %s, threads: %d\n", recur_version(), recur_isa(),
           recur_get_num_threads());
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("rnn", NULL, NULL);
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
    ADD_TEST(s, test_valid_fixture_succeeds);
    ADD_TEST(s, test_null_descriptor);
    ADD_TEST(s, test_bad_sizes);
    ADD_TEST(s, test_unsupported_activation);
    ADD_TEST(s, test_null_required_pointers);
    ADD_TEST(s, test_misaligned_workspace);
    return test_main_run();
}
