/* What the GRU and SimpleRNN tests share: a primitive against an independent
 * double-precision reference, whose own backward is checked against central
 * finite differences; then the rest of the contract: NULL arguments,
 * overwritten gradients, thread counts and every invalid argument.
 *
 * A test program describes its cell in an rnn_cell (gate count, bias rows,
 * the primitive's calls wrapped to take a cell_desc, its reference forward and
 * backward, its shape lists), defines its cell-specific tests, and runs its
 * list of cases through rnn_harness_main. Uses only the public header.
 *
 * Step masks: cell_desc.mask goes into the cell's descriptor, ref_in.mask to
 * its reference (which carries h through a masked step and passes dh_t + dy_t
 * straight to step t-1). Masked calls are checked against the reference
 * (itself against finite differences), against unmasked calls on each
 * sample's valid steps alone, across thread counts and inference. */
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
    const unsigned char *mask; /* [T][B] or NULL */
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
    const unsigned char *mask;  /* [T][B], 0 = masked step; NULL: none */
} ref_in;

/* whether the reference masks step t of sample n */
static int ref_masked(const ref_in *in, size_t t, size_t B, size_t n) {
    return in->mask && !in->mask[t * B + n];
}

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
    recur_status (*forward_inference)(const cell_desc *d, const float *W, const float *U,
                                      const float *b, const float *x, const float *h0, float *y,
                                      float *hT, void *scratch);
    recur_status (*backward)(const cell_desc *d, const float *W, const float *U, const float *b,
                             const float *x, const float *h0, const float *dy, const float *dhT,
                             float *dx, float *dh0, float *dW, float *dU, float *db, void *ws);
    size_t (*workspace_size)(const cell_desc *d);
    size_t (*inference_scratch_size)(const cell_desc *d);
    size_t (*packed_weights_size)(const cell_desc *d);
    recur_status (*pack_weights)(const cell_desc *d, const float *W, const float *U, void *packed);
    recur_status (*forward_packed)(const cell_desc *d, const void *packed, const float *b,
                                   const float *x, const float *h0, float *y, float *hT,
                                   void *scratch);
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
    .forward = p##_forward_c, .forward_inference = p##_forward_inference_c,                      \
    .backward = p##_backward_c,                                                                  \
    .workspace_size = p##_workspace_size_c,                                                      \
    .inference_scratch_size = p##_inference_scratch_size_c,                                      \
    .packed_weights_size = p##_packed_weights_size_c, .pack_weights = p##_pack_weights_c,       \
    .forward_packed = p##_forward_packed_c, .tape_new = tape_new,                                \
    .tape_free = tape_free, .ref_forward = ref_forward, .ref_backward = ref_backward

/* rnn_cell's shape lists from two arrays */
#define RNN_CELL_SHAPES(edge, thread)                                                            \
    .edge_shapes = edge, .n_edge_shapes = sizeof edge / sizeof *edge, .thread_shapes = thread,   \
    .n_thread_shapes = sizeof thread / sizeof *thread

/* Defines <p>_forward_c, <p>_forward_inference_c, <p>_backward_c, <p>_workspace_size_c and
 * <p>_inference_scratch_size_c: recur_<p>_* on a cell_desc, which conv
 * (desc_t conv(const cell_desc *)) turns into the cell's descriptor. */
#define RNN_HARNESS_WRAP(p, desc_t, conv)                                                        \
    static recur_status p##_forward_c(const cell_desc *c, const float *W, const float *U,       \
                                      const float *b, const float *x, const float *h0, float *y, \
                                      float *hT, void *ws) {                                     \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_forward(c ? &d : NULL, W, U, b, x, h0, y, hT, ws);                    \
    }                                                                                            \
    static recur_status p##_forward_inference_c(const cell_desc *c, const float *W,             \
                                                const float *U, const float *b, const float *x,  \
                                                const float *h0, float *y, float *hT,            \
                                                void *scratch) {                                 \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_forward_inference(c ? &d : NULL, W, U, b, x, h0, y, hT, scratch);     \
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
    }                                                                                            \
    static size_t p##_packed_weights_size_c(const cell_desc *c) {                                \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_packed_weights_size(c ? &d : NULL);                                   \
    }                                                                                            \
    static recur_status p##_pack_weights_c(const cell_desc *c, const float *W, const float *U,  \
                                           void *packed) {                                       \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_pack_weights(c ? &d : NULL, W, U, packed);                            \
    }                                                                                            \
    static recur_status p##_forward_packed_c(const cell_desc *c, const void *packed,            \
                                             const float *b, const float *x, const float *h0,    \
                                             float *y, float *hT, void *scratch) {               \
        desc_t d = c ? conv(c) : (desc_t){0};                                                    \
        return recur_##p##_forward_packed(c ? &d : NULL, packed, b, x, h0, y, hT, scratch);      \
    }

/* the cell under test, set by rnn_harness_main */
static const rnn_cell *cell;

static cell_desc desc_of(const shape *s) {
    cell_desc d = {s->T,    s->B, s->I, s->H, s->relu ? RECUR_ACT_RELU : RECUR_ACT_TANH,
                   s->mode, NULL};
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
    unsigned char *mask; /* NULL unless problem_mask */
    ref_in rin;
    double *rdy, *rdhT;
} problem;

/* the descriptor of p: its shape and mask */
static cell_desc pdesc(const problem *p) {
    cell_desc d = desc_of(&p->s);
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
    p->mask = NULL, p->rin.mask = NULL;
}

/* gives p a mask (mask_new) for recur and the reference */
static void problem_mask(problem *p, uint64_t seed) {
    free(p->mask);
    p->rin.mask = p->mask = mask_new(p->s.T, p->s.B, seed);
}

static void problem_free(problem *p) {
    free(p->W), free(p->U), free(p->b), free(p->x), free(p->h0), free(p->dy), free(p->dhT);
    free(p->rin.W), free(p->rin.U), free(p->rin.b), free(p->rin.x), free(p->rin.h0);
    free(p->rdy), free(p->rdhT), free(p->mask);
}

/* With relu, a pre-activation within rounding of 0 can fall on different sides
 * of the kink in float and in double, and so take different derivatives: draw
 * seeds in turn until the reference's every relu pre-activation is at least
 * `gap` from 0. y, hT [T][B][H], [B][H] receive the reference forward. 0 if
 * no seed of 20 does. mask_seed non-zero: with problem_mask(p, mask_seed). */
static int problem_draw(problem *p, void *tape, shape s, uint64_t seed, uint64_t mask_seed,
                        double gap, double *y, double *hT) {
    for (int k = 0; k < 20; k++) {
        problem_init(p, s, seed + 1000 * (uint64_t)k);
        if (mask_seed) problem_mask(p, mask_seed);
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
    cell_desc d = pdesc(p);
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
    cell_desc d = pdesc(p);
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

/* recur against the reference on one shape, with a mask_new mask when
 * mask_seed is non-zero; returns the worst relative error */
static double check_shape_masked(shape s, uint64_t seed, uint64_t mask_seed) {
    problem p;
    void *tape = cell->tape_new(&s);
    size_t ny = (size_t)s.T * s.B * s.H, nh = (size_t)s.B * s.H;
    double *y = malloc(ny * 8), *hT = malloc(nh * 8);
    double worst = 1.0;
    if (!problem_draw(&p, tape, s, seed, mask_seed, KINK_GAP, y, hT)) {
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
                printf("\n    T=%d B=%d I=%d H=%d %s%s: %s rel err %.3g", s.T, s.B, s.I, s.H,
                       name_of(&s), mask_seed ? " masked" : "", cmp[k].name, e);
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

static double check_shape(shape s, uint64_t seed) {
    return check_shape_masked(s, seed, 0);
}

static int same(const float *a, const float *b, size_t n) {
    return !memcmp(a, b, n * sizeof(float));
}

/* ---- Masks ------------------------------------------------------------------ */

/* Masked calls against the masked reference, every mask_new pattern: the
 * edge shapes and the tutorial's, each activation and mode. */
static void test_masked_matches_reference(void) {
    for (size_t k = 0; k < cell->n_edge_shapes; k++)
        CU_ASSERT(check_shape_masked(cell->edge_shapes[k], 200 + k, 1 + k) <= TOL);
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++)
            CU_ASSERT(check_shape_masked((shape){28, 32, 28, 128, relu, mode}, 7,
                                         (uint64_t)(1 + 2 * relu + mode)) <= TOL);
}

/* A mask with every step valid gives the bits of no mask (NULL). */
static void test_all_valid_mask_equals_none(void) {
    for (int mode = 0; mode < cell->modes; mode++) {
        problem p;
        problem_init(&p, (shape){6, 5, 7, 40, 1, mode}, 91);
        result none, ones;
        result_init(&none, &p);
        result_init(&ones, &p);
        CU_ASSERT_FATAL(run_recur(&p, &none));
        p.mask = malloc((size_t)p.s.T * p.s.B);
        memset(p.mask, 1, (size_t)p.s.T * p.s.B);
        CU_ASSERT_FATAL(run_recur(&p, &ones));
        CU_ASSERT(same(ones.y, none.y, p.ny) && same(ones.hT, none.hT, p.nh) &&
                  same(ones.dx, none.dx, p.nx) && same(ones.dh0, none.dh0, p.nh) &&
                  same(ones.dW, none.dW, p.nW) && same(ones.dU, none.dU, p.nU) &&
                  same(ones.db, none.db, p.nb));
        result_free(&none);
        result_free(&ones);
        problem_free(&p);
    }
}

/* A masked call against unmasked calls (B = 1) on each sample's valid steps
 * alone: at a valid step y is the short run's, at a masked one exactly the
 * previous valid step's (or h0, before the first); hT the short run's last.
 * Backward: the short run gets each masked step's dy added to the valid step
 * before it (dhT gets those after the last one), dx of a masked step is
 * exactly 0, dh0 adds the dy before the first valid step, and dW, dU, db are
 * the sums of the short runs'. With h0 zeros and random. */
static void test_masked_equals_valid_steps_alone(void) {
    const shape shapes[] = {{9, 7, 5, 20, 0, 0},
                            {12, 6, 3, 40, 1, 0},
                            {7, 13, 10, 33, 0, 0},
                            {10, 1, 4, 40, 1, 0},
                            {28, 32, 28, 128, 1, 0}};
    const uint64_t mask_seeds[] = {1, 2, 3, 3, 4}; /* B = 1: the interior hole */
    for (size_t q = 0; q < sizeof shapes / sizeof *shapes; q++)
        for (int mode = 0; mode < cell->modes; mode++)
            for (int with_state = 0; with_state < 2; with_state++) {
                shape sh = shapes[q];
                sh.mode = mode;
                const size_t T = sh.T, B = sh.B, I = sh.I, H = sh.H;
                problem p;
                problem_init(&p, sh, 300 + q);
                problem_mask(&p, mask_seeds[q]);
                if (!with_state) memset(p.h0, 0, p.nh * 4);
                result o;
                result_init(&o, &p);
                CU_ASSERT_FATAL(run_recur(&p, &o));
                /* what the short runs say the masked call gives */
                double *y = calloc(p.ny, 8), *hT = calloc(p.nh, 8), *dx = calloc(p.nx, 8);
                double *dh0 = calloc(p.nh, 8), *dW = calloc(p.nW, 8), *dU = calloc(p.nU, 8);
                double *db = calloc(p.nb, 8);
                int exact = 1;
                for (size_t b = 0; b < B; b++) {
                    const unsigned char *m = p.mask;
                    int L = 0;
                    for (size_t t = 0; t < T; t++) L += m[t * B + b] != 0;
                    const size_t Ls = L ? (size_t)L : 1;
                    /* the short sequence: x, dy of the valid steps; each masked
                     * step's dy joins the valid step before it (or dh0, or dhT) */
                    float *xs = malloc(Ls * I * 4), *dys = calloc(Ls * H, 4);
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
                    float *ys = malloc(Ls * H * 4), *hTs = malloc(H * 4);
                    float *dxs = malloc(Ls * I * 4), *dh0s = malloc(H * 4);
                    float *dWs = malloc(p.nW * 4), *dUs = malloc(p.nU * 4), *dbs = malloc(p.nb * 4);
                    const float *h0b = p.h0 + b * H;
                    if (L) {
                        cell_desc d = desc_of(&sh);
                        d.seq_len = L, d.batch = 1;
                        void *ws = ws_alloc(&d);
                        CU_ASSERT_EQUAL_FATAL(
                            cell->forward(&d, p.W, p.U, p.b, xs, h0b, ys, hTs, ws), RECUR_OK);
                        CU_ASSERT_EQUAL_FATAL(cell->backward(&d, p.W, p.U, p.b, xs, h0b, dys, dhTs,
                                                             dxs, dh0s, dWs, dUs, dbs, ws),
                                              RECUR_OK);
                        free(ws);
                        for (size_t k = 0; k < p.nW; k++) dW[k] += dWs[k];
                        for (size_t k = 0; k < p.nU; k++) dU[k] += dUs[k];
                        for (size_t k = 0; k < p.nb; k++) db[k] += dbs[k];
                    } else { /* masked throughout: h and its gradient pass through */
                        memcpy(hTs, h0b, H * 4), memcpy(dh0s, dhTs, H * 4);
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
                        hT[b * H + j] = hTs[j];
                        dh0[b * H + j] = dh0s[j] + (L ? dh0_extra[j] : 0);
                    }
                    free(xs), free(dys), free(dhTs), free(dh0_extra), free(ys), free(hTs);
                    free(dxs), free(dh0s), free(dWs), free(dUs), free(dbs);
                }
                CU_ASSERT(exact);
                if (!exact)
                    printf("\n    shape %zu %s: a masked step is not carried exactly", q,
                           name_of(&sh));
                const struct {
                    const char *name;
                    const float *got;
                    const double *want;
                    size_t n;
                } cmp[] = {{"y", o.y, y, p.ny},    {"hT", o.hT, hT, p.nh},
                           {"dx", o.dx, dx, p.nx}, {"dh0", o.dh0, dh0, p.nh},
                           {"dW", o.dW, dW, p.nW}, {"dU", o.dU, dU, p.nU},
                           {"db", o.db, db, p.nb}};
                for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
                    double e = rel_err_f64(cmp[k].got, cmp[k].want, cmp[k].n, 1e-3);
                    CU_ASSERT(e <= 2e-5);
                    if (!(e <= 2e-5))
                        printf("\n    shape %zu %s%s: %s rel err %.3g against the valid steps "
                               "alone",
                               q, name_of(&sh), with_state ? " with h0" : "", cmp[k].name, e);
                }
                free(y), free(hT), free(dx), free(dh0), free(dW), free(dU), free(db);
                result_free(&o);
                problem_free(&p);
            }
}

/* ---- Tests, each over every activation and mode of the cell --------------- */

/* The reference's backward against central differences of
 * L = sum(y*dy) + sum(hT*dhT), all in double; with a mask (mask_seed
 * non-zero) the masked function's. */
static void reference_fd(shape s, uint64_t seed, uint64_t mask_seed) {
    problem p;
    void *tape = cell->tape_new(&s);
    double *y = malloc((size_t)s.T * s.B * s.H * 8), *hT = malloc((size_t)s.B * s.H * 8);
    /* 1e-3: no central difference with step 1e-6 crosses a kink */
    CU_ASSERT_FATAL(problem_draw(&p, tape, s, seed, mask_seed, 1e-3, y, hT));
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
            double fd = (L[0] - L[1]) / 2e-6, e = fabs(fd - sets[q].grad[k]) / (1 + fabs(fd));
            if (e > worst) worst = e;
        }
    CU_ASSERT(worst < 1e-6);
    if (!(worst < 1e-6))
        printf("\n    %s%s: finite-difference error %.3g", name_of(&s), mask_seed ? " masked" : "",
               worst);
    free(y), free(hT);
    ref_grad_free(&g);
    cell->tape_free(tape);
    problem_free(&p);
}

static void test_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++)
            reference_fd((shape){3, 2, 3, 4, relu, mode},
                         11 + (uint64_t)(cell->modes * relu + mode), 0);
}

/* The masked reference (every mask_new pattern: B = 6 samples, one of each
 * kind) against central differences: the carried state, the zero gate
 * gradients and the straight-through dh all come out of the function. */
static void test_masked_reference_matches_finite_differences(void) {
    for (int relu = 0; relu < 2; relu++)
        for (int mode = 0; mode < cell->modes; mode++) {
            reference_fd((shape){6, 6, 3, 4, relu, mode}, 13 + (uint64_t)(2 * relu + mode), 6);
            reference_fd((shape){5, 3, 2, 3, relu, mode}, 17 + (uint64_t)(2 * relu + mode),
                         2 + (uint64_t)relu);
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

/* The inference forward with caller-owned scratch: against the reference; bit
 * for bit the allocating one (workspace NULL) on 1 and 3 threads, whatever the
 * scratch held before (NaN); a misaligned scratch refused with y untouched.
 * Just over 1 MiB of W and U at a batch of 48: on the Intel kind (the
 * <cell>_cpu_intel runs) inference takes the input product into the step,
 * one step's buffer at a time, while the training forward hoists it. The
 * forward alone needs no distance from ReLU's kink (gap 0). */
static void test_inference_with_scratch(void) {
    for (int v = 0; v < 4; v++) /* relu = v & 1, masked = v & 2 */
        for (int mode = 0; mode < cell->modes; mode++) {
            const int H = cell->gates > 1 ? 128 : 256, I = cell->gates > 1 ? 640 : 900;
            const shape sh = {3, 48, I, H, v & 1, mode};
            void *tape = cell->tape_new(&sh);
            double *ry = malloc((size_t)3 * 48 * H * 8), *rhT = malloc((size_t)48 * H * 8);
            problem p;
            if (!problem_draw(&p, tape, sh, 60 + (uint64_t)v, v & 2 ? 9 : 0, 0, ry, rhT)) {
                CU_FAIL("no seed");
                cell->tape_free(tape), free(ry), free(rhT);
                continue;
            }
            cell_desc d = pdesc(&p);
            const size_t n = cell->inference_scratch_size(&d), nf = (n + 63) / 64 * 16;
            CU_ASSERT_FATAL(n > 0);
            float *scratch = aligned_alloc(64, nf * 4 + 64);
            float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4);
            float *y2 = malloc(p.ny * 4), *hT2 = malloc(p.nh * 4);
            for (size_t k = 0; k < nf; k++) scratch[k] = NAN;
            CU_ASSERT_EQUAL_FATAL(
                cell->forward_inference(&d, p.W, p.U, p.b, p.x, p.h0, y, hT, scratch), RECUR_OK);
            const double e = rel_err_f64(y, ry, p.ny, 1e-3), eh = rel_err_f64(hT, rhT, p.nh, 1e-3);
            if (!(e <= TOL && eh <= TOL))
                printf("\n    %s inference: y rel err %.3g, hT %.3g", name_of(&sh), e, eh);
            CU_ASSERT(e <= TOL && eh <= TOL);
            for (int threads = 1; threads <= 3; threads += 2) {
                recur_set_num_threads(threads);
                CU_ASSERT_EQUAL_FATAL(cell->forward(&d, p.W, p.U, p.b, p.x, p.h0, y2, hT2, NULL),
                                      RECUR_OK);
                CU_ASSERT(same(y, y2, p.ny) && same(hT, hT2, p.nh));
                for (size_t k = 0; k < nf; k++) scratch[k] = NAN;
                CU_ASSERT_EQUAL_FATAL(
                    cell->forward_inference(&d, p.W, p.U, p.b, p.x, p.h0, y2, hT2, scratch),
                    RECUR_OK);
                CU_ASSERT(same(y, y2, p.ny) && same(hT, hT2, p.nh));
            }
            recur_set_num_threads(0);
            memcpy(y2, y, p.ny * 4);
            CU_ASSERT_EQUAL(cell->forward_inference(&d, p.W, p.U, p.b, p.x, NULL, y2, NULL,
                                                    (char *)scratch + 4),
                            RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(strstr(recur_last_error(), "scratch") != NULL);
            CU_ASSERT(same(y, y2, p.ny));
            free(y), free(hT), free(y2), free(hT2), free(scratch), free(ry), free(rhT);
            cell->tape_free(tape);
            problem_free(&p);
        }
}

/* Packed weights: the forward on them gives recur_<cell>_forward_inference's
 * y and hT bit for bit, packed on 1 thread or 3 and run on either, on a
 * shorter sequence too, after W and U were overwritten (the buffer holds its
 * own copy); at a shape whose plan joins the input (small), one that hoists
 * it (B = 5, over 1 MiB), and the 48-row one of test_inference_with_scratch
 * (joined on the Intel kind, hoisted elsewhere). A buffer packed for another
 * batch, hidden size or mode, a zeroed one, a misaligned or NULL one are
 * refused naming the problem, y untouched. */
static void test_packed_weights(void) {
    const int big = cell->gates > 1;
    const shape shapes[] = {{5, 6, 7, 40, 0, 0},
                            {4, 5, big ? 640 : 900, big ? 128 : 256, 1, 0},
                            {3, 48, big ? 640 : 900, big ? 128 : 256, 0, 0}};
    for (size_t v = 0; v < 2 * sizeof shapes / sizeof *shapes; v++) /* odd: masked */
        for (int mode = 0; mode < cell->modes; mode++) {
            shape sh = shapes[v / 2];
            sh.mode = mode;
            problem p;
            problem_init(&p, sh, 70 + v);
            if (v & 1) problem_mask(&p, 11 + v);
            cell_desc d = pdesc(&p);
            const size_t n = cell->packed_weights_size(&d);
            CU_ASSERT_FATAL(n > 0);
            float *packed = nan_buffer(n), *scratch = nan_buffer(cell->inference_scratch_size(&d));
            float *y = malloc(p.ny * 4), *hT = malloc(p.nh * 4);
            float *y2 = malloc(p.ny * 4), *hT2 = malloc(p.nh * 4);
            CU_ASSERT_EQUAL_FATAL(
                cell->forward_inference(&d, p.W, p.U, p.b, p.x, p.h0, y, hT, scratch), RECUR_OK);
            for (int threads = 1; threads <= 3; threads += 2) {
                recur_set_num_threads(threads);
                CU_ASSERT_EQUAL_FATAL(cell->pack_weights(&d, p.W, p.U, packed), RECUR_OK);
                for (int run = 1; run <= 3; run += 2) {
                    recur_set_num_threads(run);
                    memset(y2, 0, p.ny * 4), memset(hT2, 0, p.nh * 4);
                    CU_ASSERT_EQUAL_FATAL(
                        cell->forward_packed(&d, packed, p.b, p.x, p.h0, y2, hT2, scratch),
                        RECUR_OK);
                    if (!(same(y, y2, p.ny) && same(hT, hT2, p.nh)))
                        printf("\n    %s T%d B%d I%d H%d: packed on %d threads, run on %d differ",
                               name_of(&sh), sh.T, sh.B, sh.I, sh.H, threads, run);
                    CU_ASSERT(same(y, y2, p.ny) && same(hT, hT2, p.nh));
                }
            }
            recur_set_num_threads(0);
            /* a shorter sequence, and W, U gone: the buffer is all it reads */
            float *W = malloc(p.nW * 4), *U = malloc(p.nU * 4);
            memcpy(W, p.W, p.nW * 4), memcpy(U, p.U, p.nU * 4);
            cell_desc d1 = d;
            d1.seq_len = sh.T - 1;
            CU_ASSERT_EQUAL_FATAL(
                cell->forward_inference(&d1, p.W, p.U, p.b, p.x, p.h0, y, hT, NULL), RECUR_OK);
            for (size_t k = 0; k < p.nW; k++) p.W[k] = NAN;
            for (size_t k = 0; k < p.nU; k++) p.U[k] = NAN;
            CU_ASSERT_EQUAL_FATAL(cell->forward_packed(&d1, packed, p.b, p.x, p.h0, y2, hT2, NULL),
                                  RECUR_OK);
            CU_ASSERT(same(y, y2, (size_t)d1.seq_len * sh.B * sh.H) && same(hT, hT2, p.nh));
            memcpy(p.W, W, p.nW * 4), memcpy(p.U, U, p.nU * 4);
            free(W), free(U);
            /* refused: another batch, hidden size or mode; not packed; misaligned; NULL */
            cell_desc other[3] = {d, d, d};
            other[0].batch = sh.B + 1, other[1].hidden_size = sh.H + 1, other[2].mode = 1 - mode;
            const char *what[3] = {"batch", "hidden_size", "reset_after"};
            memcpy(y2, y, p.ny * 4);
            for (int k = 0; k < (cell->modes > 1 ? 3 : 2); k++) {
                other[k].mask = NULL;
                CU_ASSERT_EQUAL(cell->forward_packed(&other[k], packed, p.b, p.x, p.h0, y2, NULL,
                                                     NULL),
                                RECUR_ERR_INVALID_ARGUMENT);
                CU_ASSERT(strstr(recur_last_error(), what[k]) != NULL);
            }
            float *zeros = aligned_alloc(64, 64 * 4);
            memset(zeros, 0, 64 * 4);
            CU_ASSERT_EQUAL(cell->forward_packed(&d, zeros, p.b, p.x, p.h0, y2, NULL, NULL),
                            RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(strstr(recur_last_error(), "does not hold packed weights") != NULL);
            CU_ASSERT_EQUAL(cell->forward_packed(&d, (char *)packed + 4, p.b, p.x, p.h0, y2, NULL,
                                                 NULL),
                            RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT(strstr(recur_last_error(), "packed") != NULL);
            CU_ASSERT_EQUAL(cell->forward_packed(&d, NULL, p.b, p.x, p.h0, y2, NULL, NULL),
                            RECUR_ERR_NULL_POINTER);
            CU_ASSERT_EQUAL(cell->pack_weights(&d, p.W, p.U, (char *)packed + 4),
                            RECUR_ERR_INVALID_ARGUMENT);
            CU_ASSERT_EQUAL(cell->pack_weights(&d, NULL, p.U, packed), RECUR_ERR_NULL_POINTER);
            CU_ASSERT(same(y, y2, p.ny));
            CU_ASSERT_EQUAL(cell->packed_weights_size(NULL), 0);
            free(zeros), free(packed), free(scratch), free(y), free(hT), free(y2), free(hT2);
            problem_free(&p);
        }
}

/* also masked: H = 40 spans several panels */
static void test_inference_equals_training_forward(void) {
    for (int relu = 0; relu < 4; relu++) /* 2, 3: masked */
        for (int mode = 0; mode < cell->modes; mode++) {
            problem p;
            if (relu < 2) {
                problem_init(&p, (shape){5, 6, 7, 19, relu, mode}, 21);
            } else {
                problem_init(&p, (shape){9, 6, 7, 40, relu % 2, mode}, 22);
                problem_mask(&p, (uint64_t)(relu + 2 * mode));
            }
            cell_desc d = pdesc(&p);
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
        cell_desc d = pdesc(&p);
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

/* 1, 2 and 3 threads give the same bits; B=1 leaves threads without rows.
 * Each shape unmasked, then masked (B = 1: an interior hole). */
static void test_thread_counts(void) {
    for (size_t kk = 0; kk < 2 * cell->n_thread_shapes; kk++) {
        const size_t k = kk % cell->n_thread_shapes;
        const int masked = kk >= cell->n_thread_shapes;
        problem p;
        problem_init(&p, cell->thread_shapes[k], 51);
        if (masked) problem_mask(&p, cell->thread_shapes[k].B == 1 ? 3 : 1 + k);
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
                printf("\n    T=%d B=%d I=%d H=%d %s%s: %d threads differ from 1 in %s", p.s.T,
                       p.s.B, p.s.I, p.s.H, name_of(&p.s), masked ? " masked" : "", nt,
                       fwd ? "backward" : "forward");
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
    cell_desc huge = {INT_MAX, INT_MAX, 4, INT_MAX, RECUR_ACT_TANH, p.s.mode, NULL};
    expect_refused(&p, &o, &huge, RECUR_ERR_INVALID_ARGUMENT, NULL);
    cell_desc wide = {1, 1,   INT_MAX, INT_MAX, RECUR_ACT_RELU,
                      0, NULL}; /* W alone: 2^64 bytes or more */
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
#define RNN_HARNESS_CASES_REFERENCE                                                                \
    RNN_CASE(test_reference_matches_finite_differences),                                           \
        RNN_CASE(test_matches_reference_edge_shapes),                                              \
        RNN_CASE(test_matches_reference_tutorial_shape),                                           \
        RNN_CASE(test_matches_reference_large_shape),                                              \
        RNN_CASE(test_masked_reference_matches_finite_differences),                                \
        RNN_CASE(test_masked_matches_reference), RNN_CASE(test_all_valid_mask_equals_none),        \
        RNN_CASE(test_masked_equals_valid_steps_alone),                                            \
        RNN_CASE(test_inference_equals_training_forward), RNN_CASE(test_inference_with_scratch),   \
        RNN_CASE(test_packed_weights),                                                             \
        RNN_CASE(test_null_optional_pointers),                                                     \
        RNN_CASE(test_gradients_overwritten_not_accumulated), RNN_CASE(test_thread_counts),        \
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
