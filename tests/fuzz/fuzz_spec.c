/* recur_model_add_layers on arbitrary strings, on a small model (T 5, F 3).
 * Checked beyond "no crash": a refused spec adds nothing (the summary is
 * unchanged) and says why; an accepted one is summarised in full and into
 * a short buffer, and compiled when its parameters are few. */
#include "fuzz_util.h"

static char *summary(const recur_model *m) {
    size_t need = recur_model_summary(m, NULL, 0);
    char *s = malloc(need + 1), small[40];
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(recur_model_summary(m, s, need + 1) == need && strlen(s) == need);
    FUZZ_CHECK(recur_model_summary(m, small, sizeof small) == need &&
               strlen(small) == (need < sizeof small ? need : sizeof small - 1));
    FUZZ_CHECK(strncmp(s, small, strlen(small)) == 0);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *spec = malloc(size + 1);
    FUZZ_CHECK(spec != NULL);
    memcpy(spec, data, size);
    spec[size] = '\0';

    recur_model *m;
    FUZZ_CHECK(recur_model_create(&m, 5, 3, 7) == RECUR_OK);
    char *before = summary(m);
    if (recur_model_add_layers(m, spec) != RECUR_OK) {
        FUZZ_CHECK(recur_last_error()[0] != '\0');
        char *after = summary(m);
        FUZZ_CHECK(strcmp(before, after) == 0);
        free(after);
    } else {
        free(summary(m));
        if (recur_model_param_count(m) <= 1 << 15) {
            recur_optimizer adam = recur_adam(1e-3f);
            if (recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) !=
                RECUR_OK)
                recur_model_compile(m, &adam, RECUR_LOSS_MSE);
            free(summary(m));
        }
    }
    free(before);
    recur_model_destroy(m);
    free(spec);
    return 0;
}
