/* The recurrent layers' shared part (recurrent.h): spec fields, shapes,
 * weight arrays, initialisation, buffers, and the calls into the primitive.
 * Parameters: kernel [in][G], recurrent_kernel [units][G], bias (the cell's
 * length), G = gates * units. */
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/* KIND:UNITS[:tanh|relu][:seq][:OPTION=0|1] */
int recurrent_parse(layer *L, char **f, int n, char *why, size_t whylen) {
    const recurrent_cell *c = L->ops->cell;
    const size_t optlen = c->option_name ? strlen(c->option_name) : 0;
    L->act = RECUR_ACT_TANH;
    L->option = 1;
    if (n < 1 || n > 4)
        return snprintf(why, whylen, "expected %s:UNITS[:tanh|relu][:seq]%s%s%s", L->ops->spec,
                        c->option_name ? "[:" : "", c->option_name ? c->option_name : "",
                        c->option_name ? "=0|1]" : ""),
               0;
    if (!model_parse_units(f[0], &L->units))
        return snprintf(why, whylen, "units '%s' is not an integer in [1, 1048576]", f[0]), 0;
    for (int k = 1; k < n; k++) {
        if (!strcmp(f[k], "seq"))
            L->return_sequences = 1;
        else if (k == 1 && !strcmp(f[k], "tanh"))
            L->act = RECUR_ACT_TANH;
        else if (k == 1 && !strcmp(f[k], "relu"))
            L->act = RECUR_ACT_RELU;
        else if (optlen && !strncmp(f[k], c->option_name, optlen) && f[k][optlen] == '=' &&
                 (f[k][optlen + 1] == '0' || f[k][optlen + 1] == '1') && !f[k][optlen + 2])
            L->option = f[k][optlen + 1] - '0';
        else
            return snprintf(why, whylen, "'%s' is not tanh, relu, seq%s%s%s", f[k],
                            c->option_name ? " or " : "", c->option_name ? c->option_name : "",
                            c->option_name ? "=0|1" : ""),
                   0;
    }
    return 1;
}

recur_status recurrent_build(layer *L, int has_prev, int index, const char *fn) {
    const recurrent_cell *c = L->ops->cell;
    if (L->units <= 0 || L->units > (1 << 20))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: units must be in [1, 1048576], got %d",
                          fn, L->units);
    if (L->act != RECUR_ACT_TANH && L->act != RECUR_ACT_RELU)
        return recur_fail(model_act_name(L->act) ? RECUR_ERR_UNSUPPORTED
                                                 : RECUR_ERR_INVALID_ARGUMENT,
                          "%s: %s's activation must be tanh or relu, not %s", fn, c->name,
                          model_act_name(L->act) ? model_act_name(L->act) : "unknown");
    if (c->option_name && L->option != 0 && L->option != 1)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: %s must be 0 or 1, got %d", fn,
                          c->option_name, L->option);
    if (L->in_steps == 1 && has_prev)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: %s needs a sequence, but layer %d gives one vector per sample (set "
                          "return_sequences on the recurrent layer before it)",
                          fn, c->name, index);
    L->return_sequences = L->return_sequences != 0;
    L->out_steps = L->return_sequences ? L->in_steps : 1;
    L->out_feat = L->units;
    L->out_seq = L->return_sequences;
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units, G = (size_t)c->gates * u;
    L->nparams = G * (in + u) + c->bias_len(L);
    return RECUR_OK;
}

int recurrent_arrays(const layer *L, size_t off[3], size_t len[3], const char *name[3]) {
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units;
    const size_t G = (size_t)L->ops->cell->gates * u;
    off[0] = L->w_off, len[0] = in * G, name[0] = "kernel";
    off[1] = off[0] + len[0], len[1] = u * G, name[1] = "recurrent_kernel";
    off[2] = off[1] + len[1], len[2] = L->ops->cell->bias_len(L), name[2] = "bias";
    return 3;
}

/* glorot_uniform kernel (fan_out = G for the fused kernel), orthogonal
 * recurrent kernel, zero bias unless the cell says otherwise */
int recurrent_init(const layer *L, float *p, uint64_t *rng) {
    const size_t in = (size_t)L->in_feat, u = (size_t)L->units;
    const size_t G = (size_t)L->ops->cell->gates * u;
    init_glorot_uniform(p, in, G, rng);
    if (!init_orthogonal(p + in * G, u, G, rng)) return 0;
    if (L->ops->cell->init_bias) L->ops->cell->init_bias(L, p + (in + u) * G);
    return 1;
}

int recurrent_alloc(layer *L, int batch) {
    size_t ws = L->ops->cell->workspace_size(L, batch);
    if (!ws || !(L->ws = aligned_alloc(RECUR_ALIGN, recur_round_up(ws)))) return 0;
    if (!L->return_sequences)
        return (L->seq = model_alloc_floats((size_t)L->in_steps * (size_t)batch * L->units)) !=
               NULL;
    return 1;
}

void recurrent_release(layer *L) {
    free(L->ws), free(L->seq);
    L->ws = NULL, L->seq = NULL;
}

/* The training forward with the layer's workspace gives inference's y too,
 * without inference's temporary allocation. */
recur_status recurrent_forward(recur_model *m, layer *L, int l, const float *in, int B,
                               int training, const float **out) {
    (void)l, (void)training;
    const size_t in_f = (size_t)L->in_feat, u = (size_t)L->units;
    const size_t G = (size_t)L->ops->cell->gates * u;
    const float *W = m->params + L->w_off, *U = W + in_f * G, *b = U + u * G;
    recur_status s = L->ops->cell->forward(L, B, W, U, b, in, L->return_sequences ? L->out : L->seq,
                                           L->return_sequences ? NULL : L->out, L->ws);
    *out = L->out;
    return s;
}

recur_status recurrent_backward(recur_model *m, layer *L, int l, int B, float *din) {
    (void)l;
    const size_t in_f = (size_t)L->in_feat, u = (size_t)L->units;
    const size_t G = (size_t)L->ops->cell->gates * u, wo = L->w_off;
    const float *W = m->params + wo, *U = W + in_f * G, *b = U + u * G;
    float *g = m->grads + wo;
    return L->ops->cell->backward(L, B, W, U, b, L->in, L->return_sequences ? L->dout : NULL,
                                  L->return_sequences ? NULL : L->dout, din, g, g + in_f * G,
                                  g + (in_f + u) * G, L->ws);
}
