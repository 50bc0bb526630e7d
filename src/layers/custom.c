/* Custom cells (Keras's RNN(cell)): the registry on each model and the layer
 * kind "cell", whose primitive is the cell engine (src/cell.c). Parameters:
 * kernel [in][G], recurrent_kernel [units][G] (when the cell has one), bias
 * [G] ([2][G] for a separate cell), then the cell's own arrays. */
#include <stdlib.h>
#include <string.h>

#include "../cell.h"
#include "recurrent.h"

static size_t bias_len(const layer *L) {
    return (L->ucell->separate ? 2 : 1) * (size_t)L->ucell->gates * (size_t)L->units;
}

static void init_bias(const layer *L, float *b) {
    for (int q = 0; q < L->ucell->gates; q++)
        for (int j = 0; j < L->units; j++) b[(size_t)q * L->units + j] = L->ucell->gate_bias[q];
}

static size_t workspace_size(const layer *L, int T, int B) {
    return cell_workspace_size(L->ucell, T, B, L->in_feat, L->units);
}

static recur_status forward(const layer *L, int T, int B, const float *params, const float *x,
                            const unsigned char *mask, const float *s0, float *y, float *hT,
                            float *sT, int mode, void *ws) {
    (void)mode; /* the cell engine's forward keeps its tapes and packs its weights either way */
    const cell_call c = {L->ucell, T, B, L->in_feat, L->units, L->act, mask};
    return cell_forward(&c, params, x, s0, y, hT, sT, ws);
}

static recur_status backward(const layer *L, int T, int B, const float *params, const float *x,
                             const unsigned char *mask, const float *dy, const float *dhT,
                             float *dx, float *grads, void *ws) {
    const cell_call c = {L->ucell, T, B, L->in_feat, L->units, L->act, mask};
    return cell_backward(&c, params, x, dy, dhT, dx, grads, ws);
}

static const recurrent_cell cell = {"a custom cell", 0,       0,       NULL, bias_len, init_bias,
                                    workspace_size,  forward, backward};

const layer_ops layer_custom = {9,
                                "rnn",
                                "RNN",
                                "cell",
                                recurrent_parse,
                                recurrent_build,
                                recurrent_arrays,
                                recurrent_init,
                                recurrent_alloc,
                                recurrent_release,
                                recurrent_forward,
                                recurrent_backward,
                                &cell};

recur_status recur_model_register_cell(recur_model *m, const recur_cell *c) {
    static const char fn[] = "recur_model_register_cell";
    if (!m || !c) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, m ? "cell" : "m");
    recur_status st = cell_check(c, fn);
    if (st) return st;
    for (int k = 0; k < m->ncells; k++) {
        if (m->cells[k] == c) return RECUR_OK;
        if (!strcmp(m->cells[k]->name, c->name))
            return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                              "%s: a different cell named '%s' is already registered", fn,
                              c->name);
    }
    const recur_cell **grown = realloc(m->cells, (size_t)(m->ncells + 1) * sizeof *grown);
    if (!grown) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    grown[m->ncells++] = c;
    m->cells = grown;
    return RECUR_OK;
}

recur_status recur_model_add_cell(recur_model *m, const char *name, int units, recur_act act,
                                  int return_sequences) {
    static const char fn[] = "recur_model_add_cell";
    if (!m || !name) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, m ? "name" : "m");
    layer L = {.ops = &layer_custom,
               .units = units,
               .act = act,
               .return_sequences = return_sequences != 0};
    for (int k = 0; k < m->ncells; k++)
        if (!strcmp(m->cells[k]->name, name)) L.ucell = m->cells[k];
    if (!L.ucell)
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT,
                          "%s: no cell named '%s' is registered on this model (call "
                          "recur_model_register_cell first)",
                          fn, name);
    return model_add(m, &L, fn);
}
