/* model.summary() in Keras 2's layout: 65 columns, stops at 29 and 55. */
#include <stdarg.h>
#include <string.h>

#include "model.h"

typedef struct {
    char *buf;
    size_t size, len;
} sink;

static void put(sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->len < s->size ? s->buf + s->len : NULL,
                      s->len < s->size ? s->size - s->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n;
}

/* 1234567 -> "1,234,567" */
static void grouped(char *out, size_t n) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", n), o = 0;
    for (int k = 0; k < len; k++) {
        if (k && (len - k) % 3 == 0) out[o++] = ',';
        out[o++] = digits[k];
    }
    out[o] = 0;
}

size_t recur_model_summary(const recur_model *m, char *buf, size_t size) {
    sink s = {buf, buf ? size : 0, 0};
    if (s.size) buf[0] = 0;
    if (!m) return 0;
    const char *rule = "_________________________________________________________________";
    const char *dbl = "=================================================================";
    put(&s, "Model: \"sequential\"\n%s\n", rule);
    put(&s, "%-29s%-26s%-10s\n%s\n", "Layer (type)", "Output Shape", "Param #", dbl);
    for (int l = 0; l < m->nlayers; l++) {
        const layer *L = &m->layers[l];
        char name[64], shape[64];
        char keras[32];
        model_keras_name(m, l, keras, sizeof keras);
        snprintf(name, sizeof name, "%s (%s)", keras, L->ops->type);
        if (L->out_seq)
            snprintf(shape, sizeof shape, "(None, %d, %d)", L->out_steps, L->out_feat);
        else snprintf(shape, sizeof shape, "(None, %d)", L->out_feat);
        /* Keras cuts a field that reaches the next column to leave one space:
         * "bidirectional (Bidirectional (None, 10, 128)" */
        put(&s, "%-28.28s %-25.25s %-10zu\n%s\n", name, shape, L->nparams,
            l + 1 < m->nlayers ? rule : dbl);
    }
    if (!m->nlayers) put(&s, "%s\n", dbl);
    char total[40];
    grouped(total, recur_model_param_count(m));
    put(&s, "Total params: %s\nTrainable params: %s\nNon-trainable params: 0\n%s\n", total, total,
        rule);
    return s.len;
}
