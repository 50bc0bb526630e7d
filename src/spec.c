/* The layer spec: "lstm:128:relu:seq,dropout:0.2,dense:10:softmax"; each
 * kind parses its own fields (layer_ops.parse). */
#define _POSIX_C_SOURCE 200809L /* strtok_r: declared only for POSIX, not by -std=c11 alone */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int model_parse_units(const char *s, int *units) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > (1 << 20)) return 0;
    *units = (int)v;
    return 1;
}

#define MAX_FIELDS 10

/* One item into *L: the keyword picks the kind, whose parser reads the rest;
 * on error a message into why. */
static int parse_item(const recur_model *m, char *item, layer *L, char *why, size_t whylen) {
    char *f[MAX_FIELDS + 1];
    int n = 0;
    for (char *save, *tok = strtok_r(item, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        if (n == MAX_FIELDS + 1) break;
        f[n++] = tok;
    }
    memset(L, 0, sizeof *L);
    if (n == 0) return snprintf(why, whylen, "empty layer"), 0;
    for (const layer_ops *const *k = layer_kinds; *k; k++)
        if (!strcmp(f[0], (*k)->spec)) {
            L->ops = *k;
            if (!L->ops->parse(L, f + 1, n - 1, why, whylen)) return 0;
            if (!L->cell_name[0]) return 1;
            for (int c = 0; c < m->ncells; c++)
                if (!strcmp(m->cells[c]->name, L->cell_name)) L->ucell = m->cells[c];
            if (!L->ucell)
                return snprintf(why, whylen,
                                "no cell named '%s' is registered on this model (call "
                                "recur_model_register_cell first)",
                                L->cell_name),
                       0;
            return 1;
        }
    size_t len = (size_t)snprintf(why, whylen, "unknown layer '%s' (", f[0]);
    for (const layer_ops *const *k = layer_kinds; *k && len < whylen; k++)
        len += (size_t)snprintf(why + len, whylen - len, "%s%s", k == layer_kinds ? "" : ", ",
                                (*k)->spec);
    if (len < whylen) snprintf(why + len, whylen - len, ")");
    return 0;
}

recur_status recur_model_add_layers(recur_model *m, const char *spec) {
    static const char fn[] = "recur_model_add_layers";
    if (!m || !spec) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, m ? "spec" : "m");
    size_t len = strlen(spec);
    char *copy = malloc(len + 1);
    if (!copy) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    memcpy(copy, spec, len + 1);
    const int before = m->nlayers;
    recur_status st = RECUR_OK;
    int index = 1;
    for (char *item = copy;; index++) {
        char *comma = strchr(item, ',');
        if (comma) *comma = 0;
        char original[128], why[200];
        snprintf(original, sizeof original, "%s", item);
        layer L;
        if (!parse_item(m, item, &L, why, sizeof why)) {
            st = recur_fail(RECUR_ERR_INVALID_ARGUMENT, "layer spec item %d ('%s'): %s", index,
                            original, why);
            break;
        }
        if ((st = model_add(m, &L, fn))) {
            char inner[400];
            snprintf(inner, sizeof inner, "%s", recur_last_error());
            recur_fail(st, "layer spec item %d ('%s'): %s", index, original, inner);
            break;
        }
        if (!comma) break;
        item = comma + 1;
    }
    free(copy);
    if (st) { /* all or nothing: an Embedding the spec added goes too */
        m->nlayers = before;
        if (!before) m->vocab = 0;
    }
    return st;
}
