/* recur-train classify: lines of text files into classes, one file per class.
 * Each line is a sequence of characters (Unicode code points) mapped to token
 * ids, padded to one length and masked (Embedding mask_zero), read by
 * recurrent layers and a Dense softmax over the classes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_SPEC "embedding:V:16:mask_zero,bidirectional:gru:32,dense:C:softmax"

static const char usage[] =
    "usage: recur-train classify --class NAME=FILE --class NAME=FILE [...]\n"
    "                   [--test-fraction F] [--max-len N] [--predictions FILE] [COMMON FLAGS]\n"
    "Learns to tell which file a line comes from: one sequence per line (blank lines\n"
    "skipped), its characters as tokens. Classes are numbered in the order given.\n"
    "  --class NAME=FILE   a class and its lines (UTF-8); at least two classes\n"
    "  --test-fraction F   the last F of each class's lines, shuffled with --seed, are the\n"
    "                      test set (a stratified split; default 0.2, in (0, 1))\n"
    "  --max-len N         sequences of N characters: longer lines keep their last N\n"
    "                      (default: the longest line)\n"
    "  --predictions FILE  the test lines as line<TAB>class<TAB>predicted<TAB>probability\n"
    "A line found in more than one class file is dropped from all of them (it cannot be\n"
    "learnt), a line repeated within one file is kept once; stderr says how many.\n"
    "Token ids: 0 pads (the lines are padded at the front, as Keras's pad_sequences), 1..\n"
    "the characters of all the files in code point order. Defaults:\n"
    "  --layers " DEFAULT_SPEC "\n"
    "  --epochs 30 --batch 32 --lr 0.003; validation curves on the test set (nothing is\n"
    "  chosen on it). In --layers, a field V is the number of token ids (characters + 1)\n"
    "  and C the number of classes.\n"
    "Last line: test_loss test_accuracy majority_accuracy (always answering the most\n"
    "frequent training class) classes n_train n_test vocab seq_len ambiguous duplicates\n"
    "truncated train_seconds epochs batch threads ranks isa.\n";

typedef struct {
    const char *name, *file;
} class_file;

typedef struct {
    class_file *cls;
    int ncls;
    double test_fraction;
    long max_len;
    const char *predictions;
} classify_opts;

static int flag(void *sub, const char *a, const char *v) {
    classify_opts *o = sub;
    if (!strcmp(a, "--class")) {
        const char *eq = strchr(v, '=');
        if (!eq) cli_die(2, "--class: '%s' is not NAME=FILE", v);
        if (eq == v) cli_die(2, "--class: '%s' has an empty class name", v);
        if (!eq[1]) cli_die(2, "--class: '%s' has an empty file name", v);
        const size_t len = (size_t)(eq - v);
        for (int k = 0; k < o->ncls; k++)
            if (strlen(o->cls[k].name) == len && !strncmp(o->cls[k].name, v, len))
                cli_die(2, "--class: class '%.*s' is given twice", (int)len, v);
        class_file *grown = realloc(o->cls, (size_t)(o->ncls + 1) * sizeof *grown);
        char *name = strndup(v, len);
        if (!grown || !name) cli_die(1, "out of memory");
        o->cls = grown;
        o->cls[o->ncls++] = (class_file){name, eq + 1};
    } else if (!strcmp(a, "--test-fraction")) {
        char *end;
        o->test_fraction = strtod(v, &end);
        if (end == v || *end || !(o->test_fraction > 0.0 && o->test_fraction < 1.0))
            cli_die(2, "%s: '%s' is not a number in (0, 1)", a, v);
    } else if (!strcmp(a, "--max-len")) {
        o->max_len = cli_long(a, v, 1, 1L << 20);
    } else if (!strcmp(a, "--predictions")) {
        cli_check_writable(a, v);
        o->predictions = v;
    } else {
        return 0;
    }
    return 1;
}

/* the code point at *s, which advances past it (valid UTF-8: the reader checked) */
static uint32_t utf8_next(const char **s) {
    const unsigned char *p = (const unsigned char *)*s;
    const int len = p[0] < 0x80 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
    uint32_t c = len == 1 ? p[0] : p[0] & (0x3Fu >> (len - 1));
    for (int k = 1; k < len; k++) c = c << 6 | (p[k] & 0x3Fu);
    *s += len;
    return c;
}

static size_t utf8_count(const char *s) {
    size_t n = 0;
    for (; *s; n++) utf8_next(&s);
    return n;
}

static int cmp_u32(const void *a, const void *b) {
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A line of a class file; `order` keeps the files' order. */
typedef struct {
    const char *s;
    int cls;
    size_t order;
} entry;

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c) return c;
    return (x->order > y->order) - (x->order < y->order);
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The id sequence of line s in row[0..T): ids right-aligned after zeros (the
 * padding), the last T characters of a longer line. Returns 1 if truncated. */
static int encode(const char *s, const uint32_t *chars, int vocab, int32_t *row, int T) {
    const size_t len = utf8_count(s);
    size_t skip = len > (size_t)T ? len - (size_t)T : 0;
    memset(row, 0, (size_t)T * sizeof *row);
    int32_t *out = row + T - (len - skip);
    for (size_t k = 0; k < len; k++) {
        uint32_t c = utf8_next(&s);
        if (k < skip) continue;
        const uint32_t *at = bsearch(&c, chars, (size_t)vocab, sizeof c, cmp_u32);
        *out++ = (int32_t)(at - chars) + 1;
    }
    return skip > 0;
}

/* --layers with each field V replaced by v and each field C by c */
static char *spec_fill(const char *spec, int v, int c) {
    const size_t n = strlen(spec);
    char *out = malloc(10 * n + 1), *w = out;
    if (!out) cli_die(1, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const int field = (spec[i] == 'V' || spec[i] == 'C') &&
                          (i == 0 || spec[i - 1] == ':' || spec[i - 1] == ',') &&
                          (spec[i + 1] == '\0' || spec[i + 1] == ':' || spec[i + 1] == ',');
        if (field)
            w += sprintf(w, "%d", spec[i] == 'V' ? v : c);
        else
            *w++ = spec[i];
    }
    *w = '\0';
    return out;
}

/* The test lines with their class and the model's answer, written to a
 * temporary name and renamed over path. */
static void write_predictions(const char *path, recur_model *m, const classify_opts *o,
                              const int32_t *ids, const float *y, const char *const *lines,
                              size_t n) {
    const int K = o->ncls;
    float *p = malloc(n * (size_t)K * sizeof *p);
    if (!p) cli_die(1, "out of memory");
    cli_check(recur_model_predict_ids(m, ids, n, 256, p), "--predictions");
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) cli_die(1, "out of memory");
    snprintf(tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        int best = 0;
        for (int k = 1; k < K; k++) best = p[i * K + k] > p[i * K + best] ? k : best;
        fprintf(f, "%s\t%s\t%s\t%.4f\n", lines[i], o->cls[(int)y[i]].name, o->cls[best].name,
                p[i * K + best]);
    }
    if (f)
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok, ok = fclose(f) == 0 && ok;
    else if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        const int e = errno;
        unlink(tmp);
        cli_die(1, "--predictions: cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    free(p);
}

int cli_classify(int argc, char **argv, int first) {
    cli_common c = {.spec = DEFAULT_SPEC, .epochs = 30, .batch = 32, .lr = 3e-3};
    classify_opts o = {.test_fraction = 0.2};
    cli_parse(argc, argv, first, &c, flag, &o, usage);
    if (o.ncls < 2)
        cli_die(2, "classify needs at least two --class NAME=FILE (%d given; see --help)", o.ncls);
    const int K = o.ncls;
    /* a bad model file fails before the data is read */
    const recur_loss loss = RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    const char *model_from = c.load ? c.load : c.resume;
    recur_model *m = model_from ? cli_model(&c, 0, 0, loss) : NULL;

    /* every line of every file, and the characters they use */
    recur_lines *lines = calloc((size_t)K, sizeof *lines);
    size_t total = 0, nchars = 0;
    if (!lines) cli_die(1, "out of memory");
    for (int k = 0; k < K; k++) {
        if (recur_lines_read(o.cls[k].file, &lines[k]) != RECUR_OK)
            cli_die(1, "--class %s: %s", o.cls[k].name, recur_last_error());
        total += lines[k].n;
        for (size_t i = 0; i < lines[k].n; i++) nchars += utf8_count(lines[k].lines[i]);
    }
    entry *e = malloc(total * sizeof *e);
    uint32_t *chars = malloc(nchars * sizeof *chars);
    if (!e || !chars) cli_die(1, "out of memory");
    size_t at = 0, nc = 0;
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < lines[k].n; i++, at++) {
            e[at] = (entry){lines[k].lines[i], k, at};
            for (const char *s = e[at].s; *s;) chars[nc++] = utf8_next(&s);
        }
    qsort(chars, nchars, sizeof *chars, cmp_u32);
    int vocab = 0;
    for (size_t i = 0; i < nchars; i++)
        if (!vocab || chars[i] != chars[vocab - 1]) chars[vocab++] = chars[i];

    /* A line in several classes is dropped from all, a repeated one kept once:
     * sorted by text, each run of equal lines keeps its first (in file order)
     * if the run has one class, else none. keep[] is in file order. */
    qsort(e, total, sizeof *e, cmp_entry);
    unsigned char *keep = calloc(total, 1);
    size_t *count = calloc((size_t)K, sizeof *count);
    size_t ambiguous = 0, ambiguous_lines = 0, duplicates = 0;
    if (!keep || !count) cli_die(1, "out of memory");
    for (size_t a = 0, b; a < total; a = b) {
        int mixed = 0;
        for (b = a + 1; b < total && !strcmp(e[b].s, e[a].s); b++) mixed |= e[b].cls != e[a].cls;
        if (mixed)
            ambiguous++, ambiguous_lines += b - a;
        else
            keep[e[a].order] = 1, count[e[a].cls]++, duplicates += b - a - 1;
    }

    /* The stratified split: each class's kept lines shuffled with the seed,
     * its last test_fraction to the test set. */
    size_t n_train = 0, n_test = 0, *n_test_of = calloc((size_t)K, sizeof *n_test_of);
    const char **kept = malloc(total * sizeof *kept);
    if (!n_test_of || !kept) cli_die(1, "out of memory");
    for (int k = 0; k < K; k++) {
        n_test_of[k] = (size_t)(o.test_fraction * (double)count[k] + 0.5);
        if (n_test_of[k] < 1 || n_test_of[k] >= count[k])
            cli_die(1,
                    "%s: class %s has %zu usable lines (of %zu read, less those also in another "
                    "class and repeats), too few to put a fraction %g in the test set and "
                    "keep some for training",
                    o.cls[k].file, o.cls[k].name, count[k], lines[k].n, o.test_fraction);
        n_test += n_test_of[k];
        n_train += count[k] - n_test_of[k];
    }
    int T = 0;
    if (m) {
        int F;
        recur_model_input_shape(m, &T, &F);
        if (!recur_model_takes_ids(m) || F != 1)
            cli_die(1, "the model in %s does not take token ids (an Embedding first)", model_from);
        if (recur_model_output_size(m) != K)
            cli_die(1, "the model in %s gives %d classes, %d --class given", model_from,
                    recur_model_output_size(m), K);
        if (o.max_len && o.max_len != T)
            cli_die(1, "--max-len %ld: the model in %s takes sequences of %d", o.max_len,
                    model_from, T);
    } else if (o.max_len) {
        T = (int)o.max_len;
    } else {
        size_t i = 0;
        for (int k = 0; k < K; k++)
            for (size_t j = 0; j < lines[k].n; j++, i++) {
                const size_t len = keep[i] ? utf8_count(lines[k].lines[j]) : 0;
                T = len > (size_t)T ? (int)len : T;
            }
    }

    /* samples: train then test, each class by class */
    int32_t *ids = malloc((n_train + n_test) * (size_t)T * sizeof *ids);
    float *y = malloc((n_train + n_test) * sizeof *y);
    const char **text = malloc((n_train + n_test) * sizeof *text);
    if (!ids || !y || !text)
        cli_die(1, "out of memory for %zu sequences of %d ids (--max-len sets the length)",
                n_train + n_test, T);
    uint64_t rng = c.seed;
    size_t tr = 0, te = n_train, truncated = 0, first_of = 0;
    for (int k = 0; k < K; first_of += lines[k].n, k++) {
        size_t n = 0;
        for (size_t i = first_of; i < first_of + lines[k].n; i++)
            if (keep[i]) kept[n++] = lines[k].lines[i - first_of];
        for (size_t i = n - 1; i > 0; i--) {
            const size_t j = (size_t)(splitmix64(&rng) % (i + 1));
            const char *s = kept[i];
            kept[i] = kept[j], kept[j] = s;
        }
        for (size_t i = 0; i < n; i++) {
            const size_t row = i < n - n_test_of[k] ? tr++ : te++;
            truncated += (size_t)encode(kept[i], chars, vocab, ids + row * T, T);
            y[row] = (float)k;
            text[row] = kept[i];
        }
    }

    if (!m) {
        char *spec = spec_fill(c.spec, vocab + 1, K);
        c.spec = spec;
        m = cli_model(&c, T, 1, loss);
        free(spec);
        c.spec = NULL;
        if (!recur_model_takes_ids(m))
            cli_die(1,
                    "--layers: the first layer must be an Embedding (embedding:V:DIM:mask_zero): "
                    "classify gives token ids");
        if (recur_model_output_size(m) != K)
            cli_die(1, "--layers: the model gives %d outputs, %d classes given",
                    recur_model_output_size(m), K);
    }
    /* notes once the data and the model are known good: a failure is one line */
    const int talk = !c.quiet && cli_rank() == 0;
    if (talk && (ambiguous || duplicates))
        fprintf(stderr,
                "recur-train: classify: dropped %zu distinct lines found in more than one class "
                "(%zu lines in all) and %zu repeats of a line within its class\n",
                ambiguous, ambiguous_lines, duplicates);
    if (talk && truncated)
        fprintf(stderr,
                "recur-train: classify: %zu lines longer than %d characters keep their "
                "last %d\n",
                truncated, T, T);
    cli_summary(&c, m);

    const cli_data train = {NULL, ids, y, n_train};
    const cli_data test = {NULL, ids + n_train * T, y + n_train, n_test};
    const double seconds = cli_fit(&c, m, &train, &test, 0.0);
    const recur_metrics r = cli_evaluate(m, &test);
    if (c.save) cli_check(recur_model_save(m, c.save), "--save");
    if (o.predictions)
        write_predictions(o.predictions, m, &o, test.ids, test.y, text + n_train, n_test);
    cli_plot_history(&c, m, "accuracy");

    int major = 0;
    for (int k = 1; k < K; k++)
        major = count[k] - n_test_of[k] > count[major] - n_test_of[major] ? k : major;
    printf("test_loss=%.4f test_accuracy=%.4f majority_accuracy=%.4f classes=%d n_train=%zu "
           "n_test=%zu vocab=%d seq_len=%d ambiguous=%zu duplicates=%zu truncated=%zu "
           "train_seconds=%.1f epochs=%ld batch=%ld threads=%d ranks=%d isa=%s\n",
           r.loss, r.accuracy, (double)n_test_of[major] / (double)n_test, K, n_train, n_test, vocab,
           T, ambiguous, duplicates, truncated, seconds, c.epochs, c.batch, recur_get_num_threads(),
           cli_ranks(), recur_isa());

    recur_model_destroy(m);
    for (int k = 0; k < K; k++) recur_lines_free(&lines[k]), free((char *)o.cls[k].name);
    free(lines), free(e), free(chars), free(keep), free(count), free(n_test_of), free(kept);
    free(ids), free(y), free(text), free(o.cls);
    return 0;
}
