/* The layer spec: "lstm:128:relu:seq,dropout:0.2,dense:10:softmax". */
#define _POSIX_C_SOURCE 200809L /* strtok_r: declared only for POSIX, not by -std=c11 alone */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int parse_act(const char *s, recur_act *a) {
    static const struct {
        const char *name;
        recur_act act;
    } acts[] = {{"linear", RECUR_ACT_LINEAR}, {"relu", RECUR_ACT_RELU}, {"tanh", RECUR_ACT_TANH},
                {"sigmoid", RECUR_ACT_SIGMOID}, {"softmax", RECUR_ACT_SOFTMAX}};
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++)
        if (!strcmp(s, acts[k].name)) return *a = acts[k].act, 1;
    return 0;
}

/* whole-string integer in [1, 1048576] */
static int parse_units(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > (1 << 20)) return 0;
    return *out = (int)v, 1;
}

#define MAX_FIELDS 4

/* One item into *L; on error a message into why. */
static int parse_item(char *item, layer *L, char *why, size_t whylen) {
    char *f[MAX_FIELDS + 1];
    int n = 0;
    for (char *save, *tok = strtok_r(item, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        if (n == MAX_FIELDS + 1) break;
        f[n++] = tok;
    }
    memset(L, 0, sizeof *L);
    if (n == 0) return snprintf(why, whylen, "empty layer"), 0;
    if (!strcmp(f[0], "lstm")) {
        L->kind = LAYER_LSTM, L->act = RECUR_ACT_TANH;
        if (n < 2 || n > 4) return snprintf(why, whylen, "expected lstm:UNITS[:tanh|relu][:seq]"), 0;
        if (!parse_units(f[1], &L->units))
            return snprintf(why, whylen, "units '%s' is not an integer in [1, 1048576]", f[1]), 0;
        for (int k = 2; k < n; k++) {
            if (!strcmp(f[k], "seq")) L->return_sequences = 1;
            else if (k == 2 && (!strcmp(f[k], "tanh") || !strcmp(f[k], "relu")))
                parse_act(f[k], &L->act);
            else return snprintf(why, whylen, "'%s' is not tanh, relu or seq", f[k]), 0;
        }
    } else if (!strcmp(f[0], "dense")) {
        L->kind = LAYER_DENSE, L->act = RECUR_ACT_LINEAR;
        if (n < 2 || n > 3) return snprintf(why, whylen, "expected dense:UNITS[:ACTIVATION]"), 0;
        if (!parse_units(f[1], &L->units))
            return snprintf(why, whylen, "units '%s' is not an integer in [1, 1048576]", f[1]), 0;
        if (n == 3 && !parse_act(f[2], &L->act))
            return snprintf(why, whylen,
                            "activation '%s' is not linear, relu, tanh, sigmoid or softmax", f[2]),
                   0;
    } else if (!strcmp(f[0], "dropout")) {
        L->kind = LAYER_DROPOUT;
        if (n != 2) return snprintf(why, whylen, "expected dropout:RATE"), 0;
        char *end;
        errno = 0;
        double r = strtod(f[1], &end);
        if (errno || end == f[1] || *end || !(r >= 0.0 && r < 1.0))
            return snprintf(why, whylen, "rate '%s' is not a number in [0, 1)", f[1]), 0;
        L->rate = (float)r;
    } else {
        return snprintf(why, whylen, "unknown layer '%s' (lstm, dense or dropout)", f[0]), 0;
    }
    return 1;
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
        char original[128], why[160];
        snprintf(original, sizeof original, "%s", item);
        layer L;
        if (!parse_item(item, &L, why, sizeof why)) {
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
    if (st) m->nlayers = before; /* all or nothing */
    return st;
}
