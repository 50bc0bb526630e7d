/* Female or male? A first name read letter by letter, against recur's C API:
 * each name's bytes are token ids (0 pads) into an Embedding with mask_zero,
 * a bidirectional GRU reads them, a softmax answers.
 * Usage: names [DIR [EPOCHS [LIMIT]]]
 *   DIR holds female-first-names.txt and male-first-names.txt (scripts/fetch-data.sh
 *   names DIR; default data); EPOCHS default 30; LIMIT: only the first LIMIT names of
 *   each list (a quick run). */
#include <recur.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 16 /* the longest name has 15 letters; a longer one keeps its last 16 */

static int ok(recur_status st) {
    if (st != RECUR_OK) fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

static int by_text(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ids [T]: the name's bytes at the end, zeros (padding, masked) before them */
static void encode(const char *name, int32_t *ids) {
    size_t len = strlen(name), skip = len > T ? len - T : 0;
    memset(ids, 0, T * sizeof *ids);
    for (size_t k = skip; k < len; k++) ids[T - len + k] = (unsigned char)name[k];
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data";
    const int epochs = argc > 2 ? atoi(argv[2]) : 30;
    const size_t limit = argc > 3 ? (size_t)atol(argv[3]) : 0;
    const char *file[2] = {"female-first-names.txt", "male-first-names.txt"};
    recur_lines list[2];
    const char **names[2]; /* each list's names, sorted */
    size_t count[2];
    for (int c = 0; c < 2; c++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file[c]);
        if (!ok(recur_lines_read(path, &list[c]))) return 1;
        count[c] = limit && limit < list[c].n ? limit : list[c].n;
        if (!(names[c] = malloc(count[c] * sizeof *names[c]))) return 1;
        memcpy(names[c], list[c].lines, count[c] * sizeof *names[c]);
        qsort(names[c], count[c], sizeof *names[c], by_text);
    }

    /* 419 names are in both lists: a name that is both cannot be learnt, so it
     * is dropped; a name listed twice is kept once. Every fifth name of each
     * (alphabetical) list is kept for the test: a split with the lists'
     * proportions. */
    size_t n = count[0] + count[1], ntrain = 0, ntest = 0;
    int32_t *train_ids = malloc(n * T * sizeof(int32_t)),
            *test_ids = malloc(n * T * sizeof(int32_t));
    float *train_y = malloc(n * sizeof(float)), *test_y = malloc(n * sizeof(float));
    if (!train_ids || !test_ids || !train_y || !test_y) return 1;
    for (int c = 0; c < 2; c++) {
        size_t kept = 0;
        for (size_t i = 0; i < count[c]; i++) {
            const char *name = names[c][i];
            if (i > 0 && !strcmp(name, names[c][i - 1])) continue;
            if (bsearch(&name, names[1 - c], count[1 - c], sizeof name, by_text)) continue;
            if (kept++ % 5 == 4)
                encode(name, test_ids + ntest * T), test_y[ntest++] = (float)c;
            else
                encode(name, train_ids + ntrain * T), train_y[ntrain++] = (float)c;
        }
    }
    printf("%zu names to train on, %zu to test\n", ntrain, ntest);

    recur_model *m; /* T steps of one token id */
    recur_optimizer adam = recur_adam(3e-3f);
    if (!ok(recur_model_create(&m, T, 1, 42)) ||
        !ok(recur_model_add_embedding(m, 256, 16, 1)) || /* every byte value; 0 masks */
        !ok(recur_model_add_bidirectional(m, "gru:32", RECUR_MERGE_CONCAT)) ||
        !ok(recur_model_add_dense(m, 2, RECUR_ACT_SOFTMAX)) ||
        !ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)))
        return 1;
    char summary[4096];
    recur_model_summary(m, summary, sizeof summary);
    fputs(summary, stdout);

    recur_fit_options fit = recur_fit_defaults();
    fit.epochs = epochs, fit.batch_size = 32, fit.verbose = 1, fit.progress = stderr;
    fit.val_ids = test_ids, fit.val_y = test_y, fit.val_n = ntest;
    float loss, accuracy;
    if (!ok(recur_model_fit_ids(m, train_ids, train_y, ntrain, &fit)) ||
        !ok(recur_model_evaluate_ids(m, test_ids, test_y, ntest, 256, &loss, &accuracy)))
        return 1;
    size_t female = 0;
    for (size_t i = 0; i < ntest; i++) female += test_y[i] == 0;
    printf("test accuracy %.4f (always answering female: %.4f)\n", accuracy,
           (double)female / (double)ntest);

    /* names in neither list */
    const char *unseen[] = {"Zendaya", "Khaleesi", "Nevaeh", "Barack", "Kanye", "Brayden"};
    enum { NU = sizeof unseen / sizeof *unseen };
    int32_t ids[NU * T];
    float p[NU * 2];
    for (int i = 0; i < NU; i++) encode(unseen[i], ids + i * T);
    if (!ok(recur_model_predict_ids(m, ids, NU, NU, p))) return 1;
    for (int i = 0; i < NU; i++) printf("%-9s female %.2f\n", unseen[i], p[2 * i]);

    recur_model_destroy(m);
    for (int c = 0; c < 2; c++) recur_lines_free(&list[c]), free(names[c]);
    free(train_ids), free(test_ids), free(train_y), free(test_y);
    return 0;
}
