/* The recurrent layers' shared part (recurrent.h): spec fields, shapes,
 * weight arrays, initialisation, buffers, go_backwards, masks, and the calls
 * into the primitive. Parameters: kernel [in][G], recurrent_kernel
 * [units][G] (absent for a custom cell without one), bias (the cell's
 * length), then a custom cell's own arrays; G = gates * units. */
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

int recurrent_gates(const layer *L) { return L->ucell ? L->ucell->gates : L->ops->cell->gates; }
int recurrent_states(const layer *L) { return L->ucell ? L->ucell->states : L->ops->cell->states; }

/* the spec's activation names */
static int parse_act(const char *s, recur_act *a, int custom) {
    if (!strcmp(s, "tanh")) *a = RECUR_ACT_TANH;
    else if (!strcmp(s, "relu")) *a = RECUR_ACT_RELU;
    else if (custom && !strcmp(s, "sigmoid")) *a = RECUR_ACT_SIGMOID;
    else if (custom && !strcmp(s, "linear")) *a = RECUR_ACT_LINEAR;
    else return 0;
    return 1;
}

/* KIND:UNITS[:tanh|relu][:seq][:backwards][:OPTION=0|1]; a custom cell's
 * fields start with its name (cell:NAME:UNITS...), kept in L->cell_name for
 * the spec parser to look up on the model */
int recurrent_parse(layer *L, char **f, int n, char *why, size_t whylen) {
    const recurrent_cell *c = L->ops->cell;
    const size_t optlen = c->option_name ? strlen(c->option_name) : 0;
    const int custom = L->ops == &layer_custom;
    L->act = RECUR_ACT_TANH;
    L->option = 1;
    if (custom) {
        if (n < 1 || strlen(f[0]) >= sizeof L->cell_name)
            return snprintf(why, whylen, "expected cell:NAME:UNITS[:ACTIVATION][:seq][:backwards]"),
                   0;
        snprintf(L->cell_name, sizeof L->cell_name, "%s", f[0]);
        f++, n--;
    }
    if (n < 1 || n > 5)
        return snprintf(why, whylen, "expected %s:%sUNITS[:tanh|relu][:seq][:backwards]%s%s%s",
                        L->ops->spec, custom ? "NAME:" : "", c->option_name ? "[:" : "",
                        c->option_name ? c->option_name : "", c->option_name ? "=0|1]" : ""),
               0;
    if (!model_parse_units(f[0], &L->units))
        return snprintf(why, whylen, "units '%s' is not an integer in [1, 1048576]", f[0]), 0;
    for (int k = 1; k < n; k++) {
        for (int e = 1; e < k; e++)
            if (!strcmp(f[e], f[k])) return snprintf(why, whylen, "'%s' given twice", f[k]), 0;
        if (!strcmp(f[k], "seq"))
            L->return_sequences = 1;
        else if (!strcmp(f[k], "backwards"))
            L->go_backwards = 1;
        else if (k == 1 && parse_act(f[k], &L->act, custom))
            ;
        else if (optlen && !strncmp(f[k], c->option_name, optlen) && f[k][optlen] == '=' &&
                 (f[k][optlen + 1] == '0' || f[k][optlen + 1] == '1') && !f[k][optlen + 2])
            L->option = f[k][optlen + 1] - '0';
        else
            return snprintf(why, whylen, "'%s' is not %s, seq, backwards%s%s%s", f[k],
                            custom ? "tanh, relu, sigmoid, linear" : "tanh, relu",
                            c->option_name ? " or " : "", c->option_name ? c->option_name : "",
                            c->option_name ? "=0|1" : ""),
                   0;
    }
    return 1;
}

static size_t extra_params(const layer *L) {
    size_t n = 0;
    for (int a = 0; L->ucell && a < L->ucell->nparams; a++)
        n += (size_t)L->ucell->params[a].size_per_unit * (size_t)L->units;
    return n;
}

static int has_recurrent_kernel(const layer *L) { return !L->ucell || L->ucell->recurrent; }

recur_status recurrent_build(layer *L, int has_prev, int index, const char *fn) {
    const recurrent_cell *c = L->ops->cell;
    const char *name = L->ucell ? L->ucell->name : c->name;
    if (L->ops == &layer_custom && !L->ucell)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: the custom cell layer has no cell", fn);
    if (L->units <= 0 || L->units > (1 << 20))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: units must be in [1, 1048576], got %d",
                          fn, L->units);
    const int act_ok = L->act == RECUR_ACT_TANH || L->act == RECUR_ACT_RELU ||
                       (L->ucell && (L->act == RECUR_ACT_SIGMOID || L->act == RECUR_ACT_LINEAR));
    if (!act_ok)
        return recur_fail(model_act_name(L->act) ? RECUR_ERR_UNSUPPORTED
                                                 : RECUR_ERR_INVALID_ARGUMENT,
                          "%s: %s's activation must be tanh or relu, not %s", fn, name,
                          model_act_name(L->act) ? model_act_name(L->act) : "unknown");
    if (c->option_name && L->option != 0 && L->option != 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s must be 0 or 1, got %d", fn,
                          c->option_name, L->option);
    if (L->in_steps == 1 && has_prev)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: %s needs a sequence, but layer %d gives one vector per sample (set "
                          "return_sequences on the recurrent layer before it)",
                          fn, name, index);
    L->return_sequences = L->return_sequences != 0;
    L->go_backwards = L->go_backwards != 0;
    L->out_steps = L->return_sequences ? L->in_steps : 1;
    L->out_feat = L->units;
    L->out_seq = L->return_sequences;
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units,
                 G = (size_t)recurrent_gates(L) * u;
    L->nparams = G * (in + (has_recurrent_kernel(L) ? u : 0)) + c->bias_len(L) + extra_params(L);
    return RECUR_OK;
}

int recurrent_arrays(const layer *L, size_t off[], size_t len[], const char *name[]) {
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units;
    const size_t G = (size_t)recurrent_gates(L) * u;
    int n = 0;
    off[n] = L->w_off, len[n] = in * G, name[n++] = "kernel";
    if (has_recurrent_kernel(L))
        off[n] = off[n - 1] + len[n - 1], len[n] = u * G, name[n++] = "recurrent_kernel";
    off[n] = off[n - 1] + len[n - 1], len[n] = L->ops->cell->bias_len(L), name[n++] = "bias";
    for (int a = 0; L->ucell && a < L->ucell->nparams; a++) {
        off[n] = off[n - 1] + len[n - 1];
        len[n] = (size_t)L->ucell->params[a].size_per_unit * u;
        name[n++] = L->ucell->params[a].name;
    }
    return n;
}

/* glorot_uniform kernel (fan_out = G for the fused kernel), orthogonal
 * recurrent kernel, the cell's bias, a custom cell's own initialisers */
int recurrent_init(const layer *L, float *p, uint64_t *rng) {
    size_t off[LAYER_MAX_ARRAYS], len[LAYER_MAX_ARRAYS];
    const char *name[LAYER_MAX_ARRAYS];
    const int n = recurrent_arrays(L, off, len, name);
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units;
    const size_t G = (size_t)recurrent_gates(L) * u;
    int a = 0;
    init_glorot_uniform(p, in, G, rng);
    a++;
    if (has_recurrent_kernel(L) && !init_orthogonal(p + off[a++] - L->w_off, u, G, rng)) return 0;
    if (L->ops->cell->init_bias) L->ops->cell->init_bias(L, p + off[a] - L->w_off);
    a++;
    for (int k = 0; a < n; a++, k++) {
        const recur_cell_param *cp = &L->ucell->params[k];
        float *w = p + off[a] - L->w_off;
        for (size_t e = 0; e < len[a]; e++)
            w[e] = cp->init == RECUR_INIT_CONSTANT  ? cp->value
                   : cp->init == RECUR_INIT_UNIFORM ? (2.0f * rng_float(rng) - 1.0f) * cp->value
                                                    : 0.0f;
    }
    return 1;
}

/* go_backwards: the reversed input, its mask and the reversed dx */
typedef struct {
    float *x, *dx;
    unsigned char *mask;
} reversed;

int recurrent_alloc(layer *L, int batch) {
    size_t ws = L->ops->cell->workspace_size(L, L->in_steps, batch);
    if (!ws || !(L->ws = aligned_alloc(RECUR_ALIGN, recur_round_up(ws)))) return 0;
    const size_t T = (size_t)L->in_steps, B = (size_t)batch;
    if (!L->return_sequences && !(L->seq = model_alloc_floats(T * B * (size_t)L->units))) return 0;
    if (L->go_backwards) {
        reversed *r = calloc(1, sizeof *r);
        if (!(L->extra = r)) return 0;
        r->x = model_alloc_floats(T * B * (size_t)L->in_feat);
        r->dx = model_alloc_floats(T * B * (size_t)L->in_feat);
        r->mask = calloc(T * B, 1);
        if (!r->x || !r->dx || !r->mask) return 0;
    }
    return 1;
}

void recurrent_release(layer *L) {
    reversed *r = L->go_backwards ? L->extra : NULL;
    if (r) free(r->x), free(r->dx), free(r->mask), free(r);
    free(L->ws), free(L->seq);
    L->ws = NULL, L->seq = NULL, L->extra = NULL;
}

/* dst[t] = src[T-1-t], rows of n bytes */
static void reverse_steps(void *dst, const void *src, int T, size_t n) {
    for (int t = 0; t < T; t++) memcpy((char *)dst + (size_t)t * n, (const char *)src + (size_t)(T - 1 - t) * n, n);
}

/* rows [B][n] of v at the masked steps of mask [T][B] set to 0 */
static void zero_masked(float *v, const unsigned char *mask, int T, int B, size_t n) {
    for (size_t k = 0; k < (size_t)T * (size_t)B; k++)
        if (!mask[k]) memset(v + k * n, 0, n * sizeof(float));
}

recur_status recurrent_forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                               const float **out) {
    (void)l;
    const int T = L->in_steps;
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units;
    const float *x = in;
    const unsigned char *mask = L->in_mask;
    if (L->go_backwards) {
        reversed *r = L->extra;
        reverse_steps(r->x, in, T, (size_t)B * I * sizeof(float));
        x = r->x;
        if (mask) {
            reverse_steps(r->mask, mask, T, (size_t)B);
            mask = r->mask;
        }
    }
    float *y = L->return_sequences ? L->out : L->seq;
    recur_status s = L->ops->cell->forward(L, T, B, m->params + L->w_off, x, mask, NULL, y,
                                           L->return_sequences ? NULL : L->out, NULL, mode, L->ws);
    if (!s && L->return_sequences && L->zero_output && mask) zero_masked(y, mask, T, B, H);
    *out = L->out;
    return s;
}

recur_status recurrent_backward(recur_model *m, layer *L, int l, int B, float *din) {
    (void)l;
    const int T = L->in_steps;
    const size_t I = (size_t)L->in_feat, H = (size_t)L->units;
    const float *x = L->in;
    const unsigned char *mask = L->in_mask;
    float *dx = din;
    reversed *r = L->go_backwards ? L->extra : NULL;
    if (r) {
        x = r->x;
        mask = mask ? r->mask : NULL;
        dx = din ? r->dx : NULL;
    }
    if (L->return_sequences && L->zero_output && mask) zero_masked(L->dout, mask, T, B, H);
    recur_status s = L->ops->cell->backward(
        L, T, B, m->params + L->w_off, x, mask, L->return_sequences ? L->dout : NULL,
        L->return_sequences ? NULL : L->dout, dx, m->grads + L->w_off, L->ws);
    if (!s && r && din) reverse_steps(din, r->dx, T, (size_t)B * I * sizeof(float));
    return s;
}
