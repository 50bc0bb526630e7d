/* Keras's Bidirectional(layer, merge_mode): two copies of a recurrent layer,
 * the forward one reading the sequence from its first step, the backward one
 * (go_backwards) from its last, each with its own weights, merged per step:
 *   concat  y = [y_f | y_b]    sum  y = y_f + y_b
 *   mul     y = y_f * y_b      ave  y = (y_f + y_b) / 2
 * where y_b is the backward copy's output flipped back into time order when
 * it is a sequence. Parameters: the forward copy's arrays, then the backward
 * copy's, each in the inner kind's order. With return_sequences both copies
 * output zeros at masked steps (Keras's zero_output_for_mask). A wrapped
 * layer with go_backwards swaps the directions, as Keras builds the backward
 * copy with go_backwards = !layer.go_backwards.
 *
 * The two copies are layers of the inner kind in L->sub, rebuilt from L by
 * make_sub wherever needed and kept only as batch buffers (alloc to
 * release), so copying L by value never shares or loses anything. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/* copy k (0 forward, 1 backward) of L, shaped by the inner kind's build */
static recur_status make_sub(const layer *L, int k, int has_prev, int index, const char *fn,
                             layer *S) {
    memset(S, 0, sizeof *S);
    S->ops = L->inner;
    S->units = L->units, S->act = L->act, S->option = L->option, S->ucell = L->ucell;
    S->return_sequences = L->return_sequences;
    S->go_backwards = k ? !L->go_backwards : L->go_backwards != 0;
    S->zero_output = L->return_sequences != 0;
    S->in_steps = L->in_steps, S->in_feat = L->in_feat;
    recur_status st = S->ops->build(S, has_prev, index, fn);
    S->w_off = L->w_off + (size_t)k * S->nparams;
    return st;
}

/* the recurrent kind whose spec keyword is s, or NULL with a message */
static const layer_ops *inner_kind(const char *s, char *why, size_t whylen) {
    for (const layer_ops *const *k = layer_kinds; *k; k++)
        if (!strcmp(s, (*k)->spec)) {
            if ((*k)->cell) return *k;
            snprintf(why, whylen, "'%s' is not a recurrent layer (lstm, gru, rnn or cell)", s);
            return NULL;
        }
    snprintf(why, whylen, "unknown recurrent layer '%s' (lstm, gru, rnn or cell)", s);
    return NULL;
}

static int parse_merge(const char *s, int *merge) {
    static const char *const names[] = {"concat", "sum", "mul", "ave"};
    for (int k = 0; k < 4; k++)
        if (!strcmp(s, names[k])) return *merge = k, 1;
    return 0;
}

/* KIND:FIELDS...[:merge=MODE] (merge only when allowed): the inner kind
 * parses its fields, the wrapper keeps what it parsed */
static int parse_fields(layer *L, char **f, int n, int allow_merge, char *why, size_t whylen) {
    if (n < 1)
        return snprintf(why, whylen,
                        "expected bidirectional:KIND:...[:merge=concat|sum|mul|ave], e.g. "
                        "bidirectional:lstm:64:seq"),
               0;
    if (!(L->inner = inner_kind(f[0], why, whylen))) return 0;
    int kept = 1, merges = 0;
    for (int k = 1; k < n; k++) {
        if (strncmp(f[k], "merge=", 6)) {
            f[kept++] = f[k];
            continue;
        }
        if (!allow_merge)
            return snprintf(why, whylen, "'%s': give the merge mode as the merge argument", f[k]),
                   0;
        if (merges++) return snprintf(why, whylen, "merge given twice"), 0;
        if (!parse_merge(f[k] + 6, &L->merge))
            return snprintf(why, whylen, "merge mode '%s' is not concat, sum, mul or ave",
                            f[k] + 6),
                   0;
    }
    layer I = {.ops = L->inner};
    if (!L->inner->parse(&I, f + 1, kept - 1, why, whylen)) return 0;
    L->units = I.units, L->act = I.act, L->option = I.option;
    L->return_sequences = I.return_sequences, L->go_backwards = I.go_backwards;
    memcpy(L->cell_name, I.cell_name, sizeof L->cell_name);
    return 1;
}

static int parse(layer *L, char **f, int n, char *why, size_t whylen) {
    return parse_fields(L, f, n, 1, why, whylen);
}

static recur_status build(layer *L, int has_prev, int index, const char *fn) {
    if (!L->inner || !L->inner->cell)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN or a "
                          "custom cell), not %s",
                          fn, L->inner ? L->inner->type : "nothing");
    if (L->merge < RECUR_MERGE_CONCAT || L->merge > RECUR_MERGE_AVE)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: Bidirectional's merge mode must be concat, sum, mul or ave (0 to "
                          "3), got %d",
                          fn, L->merge);
    layer S;
    recur_status st = make_sub(L, 0, has_prev, index, fn, &S);
    if (st) return st;
    L->return_sequences = S.return_sequences, L->go_backwards = S.go_backwards;
    L->out_steps = S.out_steps, L->out_seq = S.out_seq;
    L->out_feat = L->merge == RECUR_MERGE_CONCAT ? 2 * L->units : L->units;
    L->nparams = 2 * S.nparams;
    return RECUR_OK;
}

/* Keras names the copies' weights forward_lstm/.../kernel and
 * backward_lstm/.../kernel; the arrays here are "forward_kernel",
 * "backward_kernel" and so on (a custom cell's own arrays keep the cell's
 * names: the buffers hold no room for prefixed copies). */
static const char *prefixed(const char *name, int k) {
    static const char *const known[][3] = {
        {"kernel", "forward_kernel", "backward_kernel"},
        {"recurrent_kernel", "forward_recurrent_kernel", "backward_recurrent_kernel"},
        {"bias", "forward_bias", "backward_bias"}};
    for (size_t a = 0; a < sizeof known / sizeof *known; a++)
        if (!strcmp(name, known[a][0])) return known[a][1 + k];
    return name;
}

static int arrays(const layer *L, size_t off[], size_t len[], const char *name[]) {
    int n = 0;
    for (int k = 0; k < 2; k++) {
        layer S;
        if (make_sub(L, k, 0, 0, "", &S)) return 0;
        const int got = S.ops->arrays(&S, off + n, len + n, name + n);
        for (int a = n; a < n + got; a++) name[a] = prefixed(name[a], k);
        n += got;
    }
    return n;
}

/* the inner kind's initialisers, forward copy first */
static int init(const layer *L, float *p, uint64_t *rng) {
    for (int k = 0; k < 2; k++) {
        layer S;
        if (make_sub(L, k, 0, 0, "", &S)) return 0;
        if (!S.ops->init(&S, p + (S.w_off - L->w_off), rng)) return 0;
    }
    return 1;
}

/* L->extra: the backward copy's dLoss/d(input), added to the forward copy's */
static void release(layer *L) {
    free(L->extra);
    L->extra = NULL;
    for (int k = 0; L->sub && k < 2; k++) {
        layer *S = &L->sub[k];
        free(S->out), free(S->dout);
        if (S->ops) S->ops->release(S);
    }
    free(L->sub);
    L->sub = NULL;
}

static int alloc(layer *L, int batch) {
    const size_t B = (size_t)batch, outn = (size_t)L->out_steps * B * (size_t)L->units;
    if (!(L->extra = model_alloc_floats((size_t)L->in_steps * B * (size_t)L->in_feat)) ||
        !(L->sub = calloc(2, sizeof *L->sub)))
        return 0;
    for (int k = 0; k < 2; k++)
        if (make_sub(L, k, 0, 0, "", &L->sub[k])) return 0;
    for (int k = 0; k < 2; k++) {
        layer *S = &L->sub[k];
        if (!(S->out = model_alloc_floats(outn)) || !(S->dout = model_alloc_floats(outn)) ||
            !S->ops->alloc(S, batch))
            return 0;
    }
    return 1;
}

/* Both directions at once, one thread each (the primitives then run on one
 * thread), or one after the other with all threads. Measured on 2 threads
 * (Intel Xeon, 2 cores, AVX-512), Bidirectional(LSTM(128)) on T = 28, I = 28
 * then Dense(10), best of 20-80 runs, at once vs one after the other: a
 * training step at B = 32 3.15-3.39 vs 3.50-3.79 ms, predict 1.21-1.25 vs
 * 1.31-1.38 ms; at B = 256 27.5-30.2 vs 29.8-32.0 ms, predict 10.5-11.4 vs
 * 10.9-11.8 ms (a GRU at B = 256: 24.0-25.0 vs 23.6-23.8 ms, a wash). With
 * more threads the region would leave all but two idle, so the directions
 * take turns with all of them (not measured: this machine has 2 cores). */
static int concurrent(int nt) {
    return nt == 2;
}

/* one pass of both copies: forward, or backward (each copy's dLoss/d(input)
 * into din[k], NULL: not wanted) */
typedef struct {
    recur_model *m;
    layer *L;
    int l, B, mode, backward;
    float *din[2];
} bidi_run;

static recur_status run_one(const bidi_run *r, int k) {
    layer *S = &r->L->sub[k];
    const float *ignored;
    return r->backward ? S->ops->backward(r->m, S, r->l, r->B, r->din[k])
                       : S->ops->forward(r->m, S, r->l, S->in, r->B, r->mode, &ignored);
}

static recur_status run_both(const bidi_run *r) {
    const int nt = recur_threads();
    if (!concurrent(nt)) {
        recur_status st = run_one(r, 0);
        return st ? st : run_one(r, 1);
    }
    recur_status st[2] = {RECUR_OK, RECUR_OK};
    char why[512] = "";
#pragma omp parallel num_threads(2)
    {
        const recur_fpmode fp = recur_omp_enter();
        const int nth = omp_get_num_threads(), k = omp_get_thread_num();
        for (int d = k; d < 2; d += nth) /* one thread, if the runtime gives no more, runs both */
            if ((st[d] = run_one(r, d))) {
                if (k) snprintf(why, sizeof why, "%s", recur_last_error());
                break;
            }
        recur_omp_leave(fp);
    }
    if (st[0] || !st[1]) return st[0];
    return why[0] ? recur_fail(st[1], "%s", why) : st[1]; /* the message of another thread */
}

/* step t of the backward copy's output: flipped when it is a sequence */
static size_t back_step(const layer *L, int t) {
    return L->return_sequences ? (size_t)(L->out_steps - 1 - t) : (size_t)t;
}

/* both copies on in [in_steps][B][in_feat], their outputs [steps][B][units]
 * merged row by row into out [steps][B][out_feat] */
static recur_status forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                            const float **out) {
    for (int k = 0; k < 2; k++) {
        layer *S = &L->sub[k];
        S->w_off = L->w_off + (size_t)k * (L->nparams / 2);
        S->in = in, S->in_mask = L->in_mask, S->out_mask = NULL;
    }
    bidi_run r = {m, L, l, B, mode, 0, {NULL, NULL}};
    recur_status st = run_both(&r);
    if (st) return st;
    const size_t U = (size_t)L->units, F = (size_t)L->out_feat;
    for (int t = 0; t < L->out_steps; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * (size_t)B + (size_t)b;
            const float *yf = L->sub[0].out + row * U;
            const float *yb = L->sub[1].out + (back_step(L, t) * (size_t)B + (size_t)b) * U;
            float *y = L->out + row * F;
            switch (L->merge) {
            case RECUR_MERGE_CONCAT:
                memcpy(y, yf, U * sizeof(float));
                memcpy(y + U, yb, U * sizeof(float));
                break;
            case RECUR_MERGE_SUM:
                for (size_t j = 0; j < U; j++) y[j] = yf[j] + yb[j];
                break;
            case RECUR_MERGE_MUL:
                for (size_t j = 0; j < U; j++) y[j] = yf[j] * yb[j];
                break;
            default:
                for (size_t j = 0; j < U; j++) y[j] = (yf[j] + yb[j]) * 0.5f;
            }
        }
    *out = L->out;
    return RECUR_OK;
}

/* the merge's gradient into each copy's dout, then both copies' backward;
 * dLoss/d(input) is the sum of the two */
static recur_status backward(recur_model *m, layer *L, int l, int B, float *din) {
    const size_t U = (size_t)L->units, F = (size_t)L->out_feat;
    layer *S0 = &L->sub[0], *S1 = &L->sub[1];
    for (int t = 0; t < L->out_steps; t++)
        for (int b = 0; b < B; b++) {
            const size_t row = (size_t)t * (size_t)B + (size_t)b;
            const size_t brow = back_step(L, t) * (size_t)B + (size_t)b;
            const float *dy = L->dout + row * F;
            float *df = S0->dout + row * U, *db = S1->dout + brow * U;
            const float *yf = S0->out + row * U, *yb = S1->out + brow * U;
            switch (L->merge) {
            case RECUR_MERGE_CONCAT:
                memcpy(df, dy, U * sizeof(float));
                memcpy(db, dy + U, U * sizeof(float));
                break;
            case RECUR_MERGE_SUM:
                memcpy(df, dy, U * sizeof(float));
                memcpy(db, dy, U * sizeof(float));
                break;
            case RECUR_MERGE_MUL:
                for (size_t j = 0; j < U; j++) df[j] = dy[j] * yb[j], db[j] = dy[j] * yf[j];
                break;
            default:
                for (size_t j = 0; j < U; j++) df[j] = db[j] = dy[j] * 0.5f;
            }
        }
    float *dx_back = L->extra;
    bidi_run r = {m, L, l, B, 1, 1, {din, din ? dx_back : NULL}};
    recur_status st = run_both(&r);
    if (st || !din) return st;
    const size_t n = (size_t)L->in_steps * (size_t)B * (size_t)L->in_feat;
    for (size_t k = 0; k < n; k++) din[k] += dx_back[k];
    return RECUR_OK;
}

const layer_ops layer_bidirectional = {
    8,    "bidirectional", "Bidirectional", "bidirectional", parse,    build, arrays,
    init, alloc,           release,         forward,         backward, NULL};

#define MAX_FIELDS 10

recur_status recur_model_add_bidirectional(recur_model *m, const char *layer_spec,
                                           recur_merge_mode merge) {
    static const char fn[] = "recur_model_add_bidirectional";
    if (!m || !layer_spec)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, m ? "layer_spec" : "m");
    if ((int)merge < RECUR_MERGE_CONCAT || (int)merge > RECUR_MERGE_AVE)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: merge must be RECUR_MERGE_CONCAT, _SUM, _MUL or _AVE, got %d", fn,
                          (int)merge);
    char copy[256], why[200];
    if (strlen(layer_spec) >= sizeof copy)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: layer_spec is longer than %zu bytes", fn,
                          sizeof copy - 1);
    snprintf(copy, sizeof copy, "%s", layer_spec);
    char *f[MAX_FIELDS];
    int n = 0;
    for (char *s = copy; s; n++) { /* every field, empty ones too */
        if (n == MAX_FIELDS)
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: layer_spec '%s' has too many fields",
                              fn, layer_spec);
        f[n] = s;
        if ((s = strchr(s, ':'))) *s++ = 0;
    }
    layer L = {.ops = &layer_bidirectional};
    if (!parse_fields(&L, f, n, 0, why, sizeof why))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: layer_spec '%s': %s", fn, layer_spec,
                          why);
    L.merge = (int)merge;
    if (L.cell_name[0]) {
        for (int c = 0; c < m->ncells; c++)
            if (!strcmp(m->cells[c]->name, L.cell_name)) L.ucell = m->cells[c];
        if (!L.ucell)
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: no cell named '%s' is registered on this model (call "
                              "recur_model_register_cell first)",
                              fn, L.cell_name);
    }
    return model_add(m, &L, fn);
}
