/* What the GRU and SimpleRNN tests share: a primitive against an independent
 * double-precision reference, whose own backward is checked against central
 * finite differences; then the rest of the contract: NULL arguments,
 * overwritten gradients, thread counts and every invalid argument.
 *
 * A test program describes its cell in an rnn_cell (gate count, bias rows,
 * the primitive's calls wrapped to take a cell_desc, its reference forward and
 * backward, its shape lists), defines its cell-specific tests, and runs its
 * list of cases through rnn_harness_main. Uses only the public header. */
#ifndef RECUR_RNN_HARNESS_H
#define RECUR_RNN_HARNESS_H

#include <limits.h>
#include <string.h>

#include <recur.h>

#include "testutil.h"

/* mode: the cell's variant, 0 .. modes-1 (the GRU's reset_after; 0 for a
 * SimpleRNN, which has one) */
typedef struct {
    int T, B, I, H, relu, mode;
} shape;

/* Every cell's descriptor in one form; each cell converts it to its own. */
typedef struct {
    int seq_len, batch, input_size, hidden_size;
    recur_act activation;
    int mode;
} cell_desc;

/* ---- For the references: plain loops in double ---------------------------- */

/* the activation, relu or tanh */
static double actd(int relu, double v) {
    return relu ? (v > 0 ? v : 0) : tanh(v);
}
/* derivative of act at pre-activation v, given a = act(v) */
static double dactd(int relu, double v, double a) {
    return relu ? (v > 0 ? 1 : 0) : 1 - a * a;
}

typedef struct {
    double *W, *U, *b, *x, *h0; /* h0 always present (zeros for "NULL") */
} ref_in;

typedef struct {
    double *W, *U, *b, *x, *h0;
} ref_grad;

typedef struct {
    const char *names[2][2]; /* [relu][mode], for messages */
    int modes;               /* how many values shape.mode takes */
    int gates;               /* W [I][gates*H], U [H][gates*H] */
    int bias_rows[2];        /* b [bias_rows[mode]][gates*H] */
    /* recur_<cell>_* taking a cell_desc (NULL passed on as NULL) */
    recur_status (*forward)(const cell_desc *d, const float *W, const float *U, const float *b,
                            const float *x, const float *h0, float *y, float *hT, void *ws);
    recur_status (*backward)(const cell_desc *d, const float *W, const float *U, const float *b,
                             const float *x, const float *h0, const float *dy, const float *dhT,
                             float *dx, float *dh0, float *dW, float *dU, float *db, void *ws);
    size_t (*workspace_size)(const cell_desc *d);
    size_t (*inference_scratch_size)(const cell_desc *d);
    /* the reference: a tape of the forward for its backward; ref_forward
     * writes y [T][B][H], hT [B][H] and returns the smallest |pre-activation|
     * of a relu (how close a kink came) */
    void *(*tape_new)(const shape *s);
    void (*tape_free)(void *tape);
    double (*ref_forward)(void *tape, const ref_in *in, double *y, double *hT);
    void (*ref_backward)(const void *tape, const ref_in *in, const double *dy, const double *dhT,
                         ref_grad *gr);
    /* the shapes of test_matches_reference_edge_shapes and test_thread_counts */
    const shape *edge_shapes;
    size_t n_edge_shapes;
    const shape *thread_shapes;
    size_t n_thread_shapes;
} rnn_cell;

/* rnn_cell's calls: the wrappers RNN_HARNESS_WRAP(p, ...) defines and the
 * file's tape_new, tape_free, ref_forward and ref_backward */
#define RNN_CELL_CALLS(p)                                                                        \
    .forward = p##_forward_c, .backward = p##_backward_c,                                        \
    .workspace_size = p##_workspace_size_c,                                                      \
    .inference_scratch_size = p##_inference_scratch_size_c, .tape_new = tape_new,                \
    .tape_free = tape_free, .ref_forward = ref_forward, .ref_backward = ref_backward

/* rnn_cell's shape lists from two arrays */
#define RNN_CELL_SHAPES(edge, thread)                                                            \
    .edge_shapes = edge, .n_edge_shapes = sizeof edge / sizeof *edge, .thread_shapes = thread,   \
    .n_thread_shapes = sizeof thread / sizeof *thread

/* Defines <p>_forward_c, <p>_backward_c, <p>_workspace_size_c and
 * <p>_inference_scratch_size_c: recur_<p>_* on a cell_desc, which conv
 * (desc_t conv(const cell_desc *)) turns into the cell's descriptor. */
#define RNN_HARNESS_WRAP(p, desc_t, conv)                                                        \
    static recur_status p##_forward_c(const cell_desc *c, const float *W, const float *U,       \
                                      const float *b, const float *x, const float *h0, float *y, \
                                      float *hT, void *ws) {                                     \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_forward(c ? &d : NULL, W, U, b, x, h0, y, hT, ws);                    \
    }                                                                                            \
    static recur_status p##_backward_c(const cell_desc *c, const float *W, const float *U,      \
                                       const float *b, const float *x, const float *h0,          \
                                       const float *dy, const float *dhT, float *dx, float *dh0, \
                                       float *dW, float *dU, float *db, void *ws) {              \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_backward(c ? &d : NULL, W, U, b, x, h0, dy, dhT, dx, dh0, dW, dU, db, \
                                    ws);                                                         \
    }                                                                                            \
    static size_t p##_workspace_size_c(const cell_desc *c) {                                     \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_workspace_size(c ? &d : NULL);                                        \
    }                                                                                            \
    static size_t p##_inference_scratch_size_c(const cell_desc *c) {                             \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_inference_scratch_size(c ? &d : NULL);                                \
    }

/* the cell under test, set by rnn_harness_main */
static const rnn_cell *cell;

static cell_desc desc_of(const shape *s) {
    cell_desc d = {s->T, s->B, s->I, s->H, s->relu ? RECUR_ACT_RELU : RECUR_ACT_TANH, s->mode};
    return d;
}

static const char *name_of(const shape *s) {
    return cell->names[s->relu][s->mode];
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
    size_t T = s.T, B = s.B, I = s.I, H = s.H, G = (size_t)cell->gates * H;
    p->nW = I * G, p->nU = H * G, p->nb = (size_t)cell->bias_rows[s.mode] * G;
    p->nx = T * B * I, p->nh = B * H, p->ny = T * B * H;
    p->W = malloc(p->nW * 4), p->U = malloc(p->nU * 4), p->b = malloc(p->nb * 4);
    p->x = malloc(p->nx * 4), p->h0 = malloc(p->nh * 4);
    p->dy = malloc(p->ny * 4), p->dhT = malloc(p->nh * 4);
    double aw = sqrt(6.0 / (double)(I + G)), au = 1.5 / sqrt((double)H);
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
 * seeds in turn until the reference's every relu pre-activation is at least
 * `gap` from 0. y, hT [T][B][H], [B][H] receive the reference forward. 0 if
 * no seed of 20 does. */
static int problem_draw(problem *p, void *tape, shape s, uint64_t seed, double gap, double *y,
                        double *hT) {
    for (int k = 0; k < 20; k++) {
        problem_init(p, s, seed + 1000 * (uint64_t)k);
        double kink = cell->ref_forward(tape, &p->rin, y, hT);
        if (!s.relu || kink >= gap) return 1;
        problem_free(p);
    }
    printf("\n    T=%d B=%d I=%d H=%d %s: no seed keeps relu %.0e from its kink", s.T, s.B, s.I,
           s.H, name_of(&s), gap);
    return 0;
}

static ref_grad ref_grad_alloc(const problem *p) {
    ref_grad g = {malloc(p->nW * 8), malloc(p->nU * 8), malloc(p->nb * 8), malloc(p->nx * 8),
                  malloc(p->nh * 8)};
    return g;
}

static void ref_grad_free(ref_grad *g) {
    free(g->W), free(g->U), free(g->b), free(g->x), free(g->h0);
}

/* Outputs of one forward + backward through recur. */
typedef struct {
    float *y, *hT, *dx, *dh0, *dW, *dU, *db;
    void *ws;
} result;

static void *ws_alloc(const cell_desc *d) {
    size_t n = cell->workspace_size(d);
    CU_ASSERT_FATAL(n > 0);
    /* 64 spare bytes for a deliberately misaligned pointer */
    return aligned_alloc(64, (n + 63) / 64 * 64 + 64);
}

static void result_init(result *o, const problem *p) {
    cell_desc d = desc_of(&p->s);
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
    cell_desc d = desc_of(&p->s);
    recur_status st = cell->forward(&d, p->W, p->U, p->b, p->x, p->h0, o->y, o->hT, o->ws);
    if (st == RECUR_OK)
        st = cell->backward(&d, p->W, p->U, p->b, p->x, p->h0, p->dy, p->dhT, o->dx, o->dh0,
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
    void *tape = cell->tape_new(&s);
    size_t ny = (size_t)s.T * s.B * s.H, nh = (size_t)s.B * s.H;
    double *y = malloc(ny * 8), *hT = malloc(nh * 8);
    double worst = 1.0;
    if (!problem_draw(&p, tape, s, seed, KINK_GAP, y, hT)) {
        free(y), free(hT), cell->tape_free(tape);
        return worst;
    }
    ref_grad g = ref_grad_alloc(&p);
    cell->ref_backward(tape, &p.rin, p.rdy, p.rdhT, &g);

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
    ref_grad_free(&g);
    cell->tape_free(tape);
    problem_free(&p);
    return worst;
}

static int same(const float *a, const float *b, size_t n) {
    return !memcmp(a, b, n * sizeof(float));
}

/* ---- Tests, each over every activation and mode of the cell --------------- */

/* The reference's backward against central differences of
 * L = sum(y*dy) + sum(hT*dhT), all in double. */
static void test_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++) {
            shape s = {3, 2, 3, 4, relu, mode};
            problem p;
            void *tape = cell->tape_new(&s);
            double *y = malloc(24 * 8), *hT = malloc(8 * 8);
            /* 1e-3: no central difference with step 1e-6 crosses a kink */
            CU_ASSERT_FATAL(
                problem_draw(&p, tape, s, 11 + (uint64_t)(cell->modes * relu + mode), 1e-3, y, hT));
            ref_grad g = ref_grad_alloc(&p);
            cell->ref_backward(tape, &p.rin, p.rdy, p.rdhT, &g);
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
                        cell->ref_forward(tape, &p.rin, y, hT);
                        double acc = 0;
                        for (size_t m = 0; m < p.ny; m++) acc += y[m] * p.rdy[m];
                        for (size_t m = 0; m < p.nh; m++) acc += hT[m] * p.rdhT[m];
                        L[side] = acc;
                    }
                    sets[q].param[k] = keep;
                    double fd = (L[0] - L[1]) / 2e-6,
                           e = fabs(fd - sets[q].grad[k]) / (1 + fabs(fd));
                    if (e > worst) worst = e;
                }
            CU_ASSERT(worst < 1e-6);
            if (!(worst < 1e-6))
                printf("\n    %s: finite-difference error %.3g", name_of(&s), worst);
            free(y), free(hT);
            ref_grad_free(&g);
            cell->tape_free(tape);
            problem_free(&p);
        }
}

static void test_matches_reference_edge_shapes(void) {
    for (size_t k = 0; k < cell->n_edge_shapes; k++)
        CU_ASSERT(check_shape(cell->edge_shapes[k], 100 + k) <= TOL);
}

static void test_matches_reference_tutorial_shape(void) {
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++)
            CU_ASSERT(check_shape((shape){28, 32, 28, 128, relu, mode}, 5) <= TOL);
}

static void test_matches_reference_large_shape(void) {
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++)
            CU_ASSERT(check_shape((shape){12, 64, 100, 256, relu, mode}, 9) <= TOL);
}

static void test_inference_equals_training_forward(void) {
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++) {
            problem p;
            problem_init(&p, (shape){5, 6, 7, 19, relu, mode}, 21);
            cell_desc d = desc_of(&p.s);
            result o;
            result_init(&o, &p);
            float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4);
            for (int with_state = 0; with_state < 2; with_state++) {
                const float *h0 = with_state ? p.h0 : NULL;
                CU_ASSERT_EQUAL_FATAL(cell->forward(&d, p.W, p.U, p.b, p.x, h0, o.y, o.hT, o.ws),
                                      RECUR_OK);
                CU_ASSERT_EQUAL_FATAL(cell->forward(&d, p.W, p.U, p.b, p.x, h0, y, hT, NULL),
                                      RECUR_OK);
                CU_ASSERT(same(y, o.y, p.ny) && same(hT, o.hT, p.nh));
                /* hT not wanted changes nothing else */
                CU_ASSERT_EQUAL(cell->forward(&d, p.W, p.U, p.b, p.x, h0, y, NULL, NULL),
                                RECUR_OK);
                CU_ASSERT(same(y, o.y, p.ny));
            }
            free(y), free(hT);
            result_free(&o);
            problem_free(&p);
        }
}

/* NULL optional pointers behave as documented: zeros in, nothing out. */
static void test_null_optional_pointers(void) {
    for (int mode = 0; mode < cell->modes; mode++) {
        problem p;
        problem_init(&p, (shape){4, 3, 5, 10, 0, mode}, 31);
        cell_desc d = desc_of(&p.s);
        result full, part;
        result_init(&full, &p);
        result_init(&part, &p);
        /* explicit zeros vs NULL for h0 and dy; hT, dx and dh0 not wanted */
        memset(p.h0, 0, p.nh * 4), memset(p.dy, 0, p.ny * 4);
        CU_ASSERT_FATAL(run_recur(&p, &full));
        CU_ASSERT_EQUAL(cell->forward(&d, p.W, p.U, p.b, p.x, NULL, part.y, NULL, part.ws),
                        RECUR_OK);
        CU_ASSERT(same(part.y, full.y, p.ny));
        CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, NULL, NULL, p.dhT, NULL, NULL,
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
        CU_ASSERT_EQUAL(cell->forward(&d, p.W, p.U, p.b, p.x, p.h0, part.y, part.hT, part.ws),
                        RECUR_OK);
        CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, NULL, part.dx,
                                       part.dh0, part.dW, part.dU, part.db, part.ws),
                        RECUR_OK);
        CU_ASSERT(same(part.dW, full.dW, p.nW) && same(part.dU, full.dU, p.nU) &&
                  same(part.db, full.db, p.nb) && same(part.dx, full.dx, p.nx));
        CU_ASSERT(same(part.dh0, full.dh0, p.nh));

        /* dx and dh0 skipped one at a time: the other and dW, dU, db unchanged */
        for (int skip = 0; skip < 2; skip++) {
            memset(part.dx, 0, p.nx * 4), memset(part.dh0, 0, p.nh * 4);
            CU_ASSERT_EQUAL(cell->forward(&d, p.W, p.U, p.b, p.x, p.h0, part.y, NULL, part.ws),
                            RECUR_OK);
            CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT,
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
}

/* dW, dU, db are overwritten: NaN garbage in them changes nothing. */
static void test_gradients_overwritten_not_accumulated(void) {
    for (int mode = 0; mode < cell->modes; mode++) {
        problem p;
        problem_init(&p, (shape){3, 4, 6, 12, 1, mode}, 41);
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
}

/* 1, 2 and 3 threads give the same bits; B=1 leaves threads without rows. */
static void test_thread_counts(void) {
    for (size_t k = 0; k < cell->n_thread_shapes; k++) {
        problem p;
        problem_init(&p, cell->thread_shapes[k], 51);
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
    for (int mode = 0; mode < cell->modes; mode++) {
        problem p;
        problem_init(&p, (shape){6, 8, 5, 24, 1, mode}, 61);
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
}

/* ---- Invalid arguments: the documented status, nothing written ----------- */

#define SENTINEL -777.0f

/* A valid small problem whose outputs hold the sentinel; in the cell's last
 * mode (the GRU's default reset_after=1). */
static void fixture_init(problem *p, result *o) {
    problem_init(p, (shape){3, 2, 4, 5, 0, cell->modes - 1}, 81);
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

static recur_status fwd(const problem *p, result *o, const cell_desc *d, void *ws) {
    return cell->forward(d, p->W, p->U, p->b, p->x, p->h0, o->y, o->hT, ws);
}

static recur_status bwd(const problem *p, result *o, const cell_desc *d) {
    return cell->backward(d, p->W, p->U, p->b, p->x, p->h0, p->dy, p->dhT, o->dx, o->dh0, o->dW,
                          o->dU, o->db, o->ws);
}

/* d is invalid with `want`: training and inference forward, backward and
 * both sizes refuse it */
static void expect_refused(const problem *p, result *o, const cell_desc *d, recur_status want,
                           const char *name) {
    CU_ASSERT_EQUAL(fwd(p, o, d, o->ws), want);
    if (name) CU_ASSERT(mentions(name));
    CU_ASSERT_EQUAL(fwd(p, o, d, NULL), want);
    CU_ASSERT_EQUAL(bwd(p, o, d), want);
    if (name) CU_ASSERT(mentions(name));
    CU_ASSERT_EQUAL(cell->workspace_size(d), 0);
    CU_ASSERT_EQUAL(cell->inference_scratch_size(d), 0);
}

static void test_valid_fixture_succeeds(void) {
    problem p;
    result o;
    fixture_init(&p, &o);
    cell_desc d = desc_of(&p.s);
    CU_ASSERT_EQUAL(fwd(&p, &o, &d, o.ws), RECUR_OK);
    CU_ASSERT_EQUAL(bwd(&p, &o, &d), RECUR_OK);
    /* db's first and last entries: with the GRU's two bias rows, one of each */
    CU_ASSERT(!untouched(o.y, 1) && !untouched(o.dW, 1) && !untouched(o.db, 1) &&
              !untouched(o.db + p.nb - 1, 1));
    CU_ASSERT(cell->inference_scratch_size(&d) > 0);
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
    CU_ASSERT_EQUAL(cell->workspace_size(NULL), 0);
    CU_ASSERT_EQUAL(cell->inference_scratch_size(NULL), 0);
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
            cell_desc d = desc_of(&p.s);
            int *v[] = {&d.seq_len, &d.batch, &d.input_size, &d.hidden_size};
            *v[dim] = bad[k];
            expect_refused(&p, &o, &d, RECUR_ERR_INVALID_ARGUMENT, names[dim]);
        }
    /* sizes whose buffers cannot be addressed */
    cell_desc huge = {INT_MAX, INT_MAX, 4, INT_MAX, RECUR_ACT_TANH, p.s.mode};
    expect_refused(&p, &o, &huge, RECUR_ERR_INVALID_ARGUMENT, NULL);
    cell_desc wide = {1, 1, INT_MAX, INT_MAX, RECUR_ACT_RELU, 0}; /* W alone: 2^64 bytes or more */
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
        cell_desc d = desc_of(&p.s);
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
    cell_desc d = desc_of(&p.s);
    const float *in[] = {p.W, p.U, p.b, p.x};
    const char *in_names[] = {"W", "U", "b", "x"};
    for (int k = 0; k < 4; k++) {
        const float *a[4] = {in[0], in[1], in[2], in[3]};
        a[k] = NULL;
        for (int train = 0; train < 2; train++) {
            CU_ASSERT_EQUAL(
                cell->forward(&d, a[0], a[1], a[2], a[3], p.h0, o.y, o.hT, train ? o.ws : NULL),
                RECUR_ERR_NULL_POINTER);
            CU_ASSERT(mentions(in_names[k]));
        }
        CU_ASSERT_EQUAL(cell->backward(&d, a[0], a[1], a[2], a[3], p.h0, p.dy, p.dhT, o.dx, o.dh0,
                                       o.dW, o.dU, o.db, o.ws),
                        RECUR_ERR_NULL_POINTER);
        CU_ASSERT(mentions(in_names[k]));
    }
    for (int train = 0; train < 2; train++) {
        CU_ASSERT_EQUAL(cell->forward(&d, p.W, p.U, p.b, p.x, p.h0, NULL, o.hT, train ? o.ws : NULL),
                        RECUR_ERR_NULL_POINTER);
        CU_ASSERT(mentions("y"));
    }
    float *none = NULL;
    CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, none,
                                   o.dU, o.db, o.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dW"));
    CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, o.dW,
                                   none, o.db, o.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dU"));
    CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, o.dW,
                                   o.dU, none, o.ws),
                    RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("db"));
    CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0, o.dW,
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
    cell_desc d = desc_of(&p.s);
    const size_t offsets[] = {4, 32};
    for (int k = 0; k < 2; k++) {
        void *off = (char *)o.ws + offsets[k];
        CU_ASSERT_EQUAL(fwd(&p, &o, &d, off), RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("aligned"));
        CU_ASSERT_EQUAL(cell->backward(&d, p.W, p.U, p.b, p.x, p.h0, p.dy, p.dhT, o.dx, o.dh0,
                                       o.dW, o.dU, o.db, off),
                        RECUR_ERR_INVALID_ARGUMENT);
        CU_ASSERT(mentions("aligned"));
    }
    CU_ASSERT(outputs_untouched(&p, &o));
    result_free(&o);
    problem_free(&p);
}

/* ---- main ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    CU_TestFunc fn;
} rnn_harness_case;

/* a case named as its function, as ADD_TEST names it */
#define RNN_CASE(fn) {#fn, fn}

/* The harness's tests in their order, in three groups so that a cell's own
 * argument checks can go between the last two. */
#define RNN_HARNESS_CASES_REFERENCE                                                              \
    RNN_CASE(test_reference_matches_finite_differences),                                         \
        RNN_CASE(test_matches_reference_edge_shapes),                                            \
        RNN_CASE(test_matches_reference_tutorial_shape),                                         \
        RNN_CASE(test_matches_reference_large_shape),                                            \
        RNN_CASE(test_inference_equals_training_forward), RNN_CASE(test_null_optional_pointers), \
        RNN_CASE(test_gradients_overwritten_not_accumulated), RNN_CASE(test_thread_counts),      \
        RNN_CASE(test_repeatable)
#define RNN_HARNESS_CASES_ARGUMENTS                                                              \
    RNN_CASE(test_valid_fixture_succeeds), RNN_CASE(test_null_descriptor),                       \
        RNN_CASE(test_bad_sizes), RNN_CASE(test_unsupported_activation)
#define RNN_HARNESS_CASES_POINTERS                                                               \
    RNN_CASE(test_null_required_pointers), RNN_CASE(test_misaligned_workspace)

/* Runs `cases` in a suite named `suite` on cell c; the exit code as
 * test_main_run's. */
static int rnn_harness_main(const rnn_cell *c, const char *suite, const rnn_harness_case *cases,
                            size_t n) {
    cell = c;
    printf("recur %s, kernels: %s, threads: %d\n", recur_version(), recur_isa(),
           recur_get_num_threads());
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    if (!s) return 2;
    for (size_t k = 0; k < n; k++)
        if (!CU_add_test(s, cases[k].name, cases[k].fn)) return 2;
    return test_main_run();
}

#endif /* RECUR_RNN_HARNESS_H */
