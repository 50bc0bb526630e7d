/* A character model of a text against recur's C API: an Embedding, an LSTM
 * and a softmax at every step learn to predict the next character from the
 * first 90% of the text, the last 10% measure it in bits per character, and
 * the model then writes new text one character at a time. (recur-train text
 * does the same job with a GRU and dropout, which learn Moby Dick faster.)
 * Usage: char_model [FILE [CHARS [EPOCHS]]]
 *   FILE: a UTF-8 text (default data/moby-dick.txt); CHARS: use only its first
 *   CHARS characters (default all); EPOCHS: default 10 */
#include <math.h>
#include <recur.h>
#include <stdio.h>
#include <stdlib.h>

enum { T = 100 }; /* characters per training window */

static int ok(recur_status st) {
    if (st != RECUR_OK) fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

/* Non-overlapping windows of T characters; the target at each step is the
 * character after it. Returns how many (*x, *y allocated). */
static size_t windows(const int32_t *text, size_t chars, int32_t **x, float **y) {
    const size_t n = chars > T ? (chars - 1) / T : 0;
    *x = malloc((n ? n : 1) * T * sizeof(int32_t));
    *y = malloc((n ? n : 1) * T * sizeof(float));
    for (size_t k = 0; *x && *y && k < n * T; k++) (*x)[k] = text[k], (*y)[k] = (float)text[k + 1];
    return *x && *y ? n : 0;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "data/moby-dick.txt";
    recur_text text; /* the characters as ids 0..vocab-1 */
    if (!ok(recur_text_read(path, &text))) return 1;
    size_t chars = argc > 2 ? strtoul(argv[2], NULL, 10) : text.n;
    if (chars == 0 || chars > text.n) chars = text.n;
    const int epochs = argc > 3 ? atoi(argv[3]) : 10;

    const size_t ntest = chars / 10, ntrain = chars - ntest;
    int32_t *xtrain, *xtest;
    float *ytrain, *ytest;
    const size_t ntr = windows(text.ids, ntrain, &xtrain, &ytrain);
    const size_t nte = windows(text.ids + ntrain, ntest, &xtest, &ytest);
    if (!ntr || !nte) {
        fprintf(stderr, "%s: too short for windows of %d characters\n", path, T);
        return 1;
    }

    recur_model *m; /* T steps of one token id each */
    recur_optimizer adam = recur_adam(2e-3f);
    adam.decay = 1e-4f;
    if (!ok(recur_model_create(&m, T, 1, 42)) ||
        !ok(recur_model_add_embedding(m, text.vocab, 64, 0)) ||
        !ok(recur_model_add_lstm(m, 512, RECUR_ACT_TANH, 1)) ||         /* return_sequences */
        !ok(recur_model_add_dense(m, text.vocab, RECUR_ACT_SOFTMAX)) || /* at every step */
        !ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)))
        return 1;
    char summary[4096];
    recur_model_summary(m, summary, sizeof summary);
    fputs(summary, stdout);

    recur_fit_options fit = recur_fit_defaults();
    fit.epochs = epochs, fit.batch_size = 32, fit.verbose = 1, fit.progress = stderr;
    fit.val_ids = xtest, fit.val_y = ytest, fit.val_n = nte;
    /* loss: the mean cross-entropy in nats over every step of the test
     * windows (each window starts from zero states) */
    float loss, accuracy;
    if (!ok(recur_model_fit_ids(m, xtrain, ytrain, ntr, &fit)) ||
        !ok(recur_model_evaluate_ids(m, xtest, ytest, nte, 256, &loss, &accuracy)))
        return 1;
    printf("test: %.3f bits per character, next character right %.1f%% of the time\n",
           loss / log(2.0), 100.0 * accuracy);

    /* Writing: one step at a time, the LSTM's states carried from step to
     * step, each character drawn at temperature 0.8 and fed back in. */
    float *p = malloc((size_t)text.vocab * sizeof(float));
    uint64_t rng = 42;
    int32_t id = recur_text_id(&text, '\n');
    if (!p) return 1;
    if (id < 0) id = text.ids[0];
    recur_model_reset_states(m);
    for (int i = 0; i < 400; i++) {
        if (!ok(recur_model_predict_step_ids(m, &id, 1, p))) return 1;
        id = recur_sample(p, text.vocab, 0.8f, &rng);
        char utf8[8];
        recur_utf8_encode(text.chars[id], utf8);
        fputs(utf8, stdout);
    }
    putchar('\n');

    free(p);
    free(xtrain), free(ytrain), free(xtest), free(ytest);
    recur_model_destroy(m);
    recur_text_free(&text);
    return 0;
}
