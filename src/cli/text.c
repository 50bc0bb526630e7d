/* recur-train text: a character model of a text file. The first 90% of its
 * characters train it and the last 10% test it; inputs are windows of --seq
 * characters and the target at every step is the next character. The test
 * text is scored statefully (a few long streams, states carried throughout),
 * and --sample draws characters one step at a time with the states carried. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

#define DEFAULT_SPEC "embedding:V:64,gru:512:seq,dropout:0.25,dense:V:softmax"
#define DEFAULT_SEQ 100
#define STREAMS 64 /* test streams scored side by side */

static const char usage[] =
    "usage: recur-train text --text FILE [--seq N] [--sample N] [--temperature T]\n"
    "                        [--prime STRING] [COMMON FLAGS]\n"
    "Trains a character model of a UTF-8 text on its first 90% and tests it on the last\n"
    "10%: windows of N characters (non-overlapping), the next character the target at\n"
    "every step. V in --layers stands for the number of distinct characters. Defaults:\n"
    "  --layers " DEFAULT_SPEC "\n"
    "  --seq 100 --epochs 12 --batch 32 --lr 0.002 --decay 2.5e-4, validation on the test\n"
    "  windows after each epoch.\n"
    "  --sample N        after the last line, print N characters drawn from the model one\n"
    "                    step at a time (states carried), primed with --prime\n"
    "  --temperature T   sharpens (T < 1) or flattens (T > 1) the sampled distribution\n"
    "                    (default 0.8)\n"
    "  --prime STRING    the characters fed before sampling (default: a newline, or the\n"
    "                    first test character when the text has no newline)\n"
    "test_bits_per_char: the test cross-entropy in bits over every test character after\n"
    "the first, the test text read as 64 contiguous streams with the states carried\n"
    "(window_bits_per_char: over the test windows, each from zero states, as validation);\n"
    "unigram_bits_per_char: the entropy of the training text's character frequencies.\n"
    "The key=value line is the last stdout line, or with --sample the line before the\n"
    "sample (scripts: the line starting test_bits_per_char=): test_bits_per_char\n"
    "unigram_bits_per_char window_bits_per_char test_accuracy train_seconds\n"
    "chars_per_second (over all ranks) epochs batch seq vocab chars_train chars_test threads\n"
    "ranks isa peak_rss_mb.\n"
    "--load: a model trained on the same text (the same characters); --seq defaults to its\n"
    "windows.\n";

typedef struct {
    const char *text, *prime;
    long seq, sample;
    double temperature;
} text_opts;

static int flag(void *sub, const char *a, const char *v) {
    text_opts *o = sub;
    if (!strcmp(a, "--text"))
        o->text = v;
    else if (!strcmp(a, "--seq"))
        o->seq = cli_long(a, v, 2, 1 << 20);
    else if (!strcmp(a, "--sample"))
        o->sample = cli_long(a, v, 0, 1L << 30);
    else if (!strcmp(a, "--temperature"))
        o->temperature = cli_double(a, v, 0.0, 1e3, 1);
    else if (!strcmp(a, "--prime"))
        o->prime = v;
    else
        return 0;
    return 1;
}

/* spec with every field that is exactly "V" replaced by the vocabulary size */
static char *expand_vocab(const char *spec, int vocab) {
    char *out = malloc(strlen(spec) * 8 + 1), *o = out;
    if (!out) cli_die(1, "out of memory");
    for (const char *p = spec; *p; p++) {
        const int starts = p == spec || p[-1] == ':' || p[-1] == ',';
        if (*p == 'V' && starts && (!p[1] || p[1] == ':' || p[1] == ','))
            o += sprintf(o, "%d", vocab);
        else
            *o++ = *p;
    }
    *o = '\0';
    return out;
}

/* the next code point of UTF-8 s at *i (advanced), or -1 if malformed */
static long utf8_next(const unsigned char *s, size_t *i) {
    const unsigned c = s[*i];
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len) return -1;
    long v = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) return -1;
        v = v << 6 | (s[*i + k] & 0x3F);
    }
    static const long least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < least[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return -1;
    *i += (size_t)len;
    return v;
}

/* --prime as ids of the text's vocabulary; characters the text lacks are an
 * error naming them */
static int32_t *prime_ids(const char *prime, const recur_text *t, const char *file, size_t *n) {
    const unsigned char *s = (const unsigned char *)prime;
    const size_t bytes = strlen(prime);
    int32_t *ids = malloc((bytes + 1) * sizeof(int32_t));
    long *cps = malloc((bytes + 1) * sizeof(long));
    char missing[256] = "";
    size_t k = 0, len = 0;
    if (!ids || !cps) cli_die(1, "out of memory");
    for (size_t i = 0; s[i]; k++) {
        const long c = cps[k] = utf8_next(s, &i);
        if (c < 0) cli_die(1, "--prime: malformed UTF-8 at byte %zu", i + 1);
        if ((ids[k] = recur_text_id(t, (uint32_t)c)) >= 0) continue;
        size_t seen = 0;
        while (cps[seen] != c) seen++;
        char ch[8];
        recur_utf8_encode((uint32_t)c, ch);
        if (c < 0x20) snprintf(ch, sizeof ch, "\\x%02lx", c);
        if (seen == k && len + strlen(ch) + 8 < sizeof missing)
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s'%s'", len ? ", " : "",
                                    ch);
    }
    free(cps);
    if (len) cli_die(1, "--prime: %s not in the characters of %s", missing, file);
    if (!k) cli_die(2, "--prime: empty string");
    *n = k;
    return ids;
}

/* windows [n][T] of text ids and their targets, the next character */
static size_t make_windows(const int32_t *text, size_t chars, int T, int32_t **x, float **y) {
    const size_t n = (chars - 1) / (size_t)T;
    *x = malloc(n * (size_t)T * sizeof(int32_t));
    *y = malloc(n * (size_t)T * sizeof(float));
    if (!*x || !*y) cli_die(1, "out of memory");
    for (size_t k = 0; k < n * (size_t)T; k++) (*x)[k] = text[k], (*y)[k] = (float)text[k + 1];
    return n;
}

/* The cross-entropy in bits of text[1..n) given the characters before it:
 * the text cut into up to STREAMS contiguous pieces stepped side by side,
 * each from zero states, so only each piece's first character lacks
 * context. *accuracy: the fraction whose most probable character is right. */
static double stream_bits(recur_model *m, const int32_t *text, size_t n, int vocab,
                          double *accuracy) {
    const int S = n - 1 < STREAMS ? (int)(n - 1) : STREAMS;
    size_t start[STREAMS + 1], longest = 0;
    for (int s = 0; s <= S; s++) start[s] = (size_t)s * (n - 1) / (size_t)S;
    for (int s = 0; s < S; s++)
        longest = start[s + 1] - start[s] > longest ? start[s + 1] - start[s] : longest;
    int32_t ids[STREAMS];
    float *p = malloc((size_t)S * (size_t)vocab * sizeof(float));
    if (!p) cli_die(1, "out of memory");
    double nats = 0.0;
    size_t right = 0;
    recur_model_reset_states(m);
    for (size_t t = 0; t < longest; t++) {
        /* a stream that has ended repeats its last character, unscored */
        for (int s = 0; s < S; s++) ids[s] = text[start[s] + (t < start[s + 1] - start[s] ? t : 0)];
        cli_check(recur_model_predict_step_ids(m, ids, S, p), "evaluation");
        for (int s = 0; s < S; s++) {
            if (t >= start[s + 1] - start[s]) continue;
            const float *ps = p + (size_t)s * (size_t)vocab;
            const int32_t next = text[start[s] + t + 1];
            int best = 0;
            for (int k = 1; k < vocab; k++) best = ps[k] > ps[best] ? k : best;
            right += best == next;
            nats -= log(fmax((double)ps[next], 1e-7)); /* Keras's clip */
        }
    }
    recur_model_reset_states(m);
    free(p);
    *accuracy = (double)right / (double)(n - 1);
    return nats / (double)(n - 1) / log(2.0);
}

/* the entropy in bits of the characters' frequencies in text[0..n) */
static double unigram_bits(const int32_t *text, size_t n, int vocab) {
    size_t *count = calloc((size_t)vocab, sizeof(size_t));
    if (!count) cli_die(1, "out of memory");
    for (size_t i = 0; i < n; i++) count[text[i]]++;
    double h = 0.0;
    for (int k = 0; k < vocab; k++)
        if (count[k]) h -= (double)count[k] / (double)n * log2((double)count[k] / (double)n);
    free(count);
    return h;
}

/* n characters drawn one step at a time after the prime, to stdout */
static void sample(recur_model *m, const recur_text *t, const int32_t *prime, size_t nprime, long n,
                   float temperature, uint64_t seed) {
    float *p = malloc((size_t)t->vocab * sizeof(float));
    if (!p) cli_die(1, "out of memory");
    uint64_t rng = seed;
    recur_model_reset_states(m);
    for (size_t i = 0; i < nprime; i++)
        cli_check(recur_model_predict_step_ids(m, &prime[i], 1, p), "--sample");
    for (long i = 0; i < n; i++) {
        const int32_t id = recur_sample(p, t->vocab, temperature, &rng);
        if (id < 0) cli_die(1, "--sample: the model gave no usable probabilities");
        char ch[8];
        recur_utf8_encode(t->chars[id], ch);
        fputs(ch, stdout);
        if (i + 1 < n) cli_check(recur_model_predict_step_ids(m, &id, 1, p), "--sample");
    }
    putchar('\n');
    free(p);
}

int cli_text(int argc, char **argv, int first) {
    cli_common c = {.spec = DEFAULT_SPEC, .epochs = 12, .batch = 32, .lr = 2e-3, .decay = 2.5e-4};
    text_opts o = {.temperature = 0.8};
    cli_parse(argc, argv, first, &c, flag, &o, usage);
    if (!o.text) cli_die(2, "text: --text FILE is required (see --help)");
    /* a bad model file fails before the text is read */
    recur_model *m = NULL;
    if (c.load || c.resume) m = cli_model(&c, 0, 0, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
    const char *model_from = c.load ? c.load : c.resume;
    int T = (int)o.seq, F = 1;
    if (m && !T) recur_model_input_shape(m, &T, &F); /* a loaded model's windows by default */
    if (!T) T = DEFAULT_SEQ;

    recur_text txt;
    cli_check(recur_text_read(o.text, &txt), "--text");
    const size_t ntest = (txt.n + 9) / 10, ntrain = txt.n - ntest;
    if (ntest < (size_t)T + 1)
        cli_die(1,
                "--text: %s has %zu characters, too few for windows of %d (--seq): its last "
                "10%% must hold one window and the character after it (%zu characters in all)",
                o.text, txt.n, T, (size_t)10 * (size_t)T + 1);
    size_t nprime = 0;
    int32_t newline = recur_text_id(&txt, '\n');
    int32_t *prime = o.prime ? prime_ids(o.prime, &txt, o.text, &nprime) : NULL;
    if (!prime) {
        nprime = 1;
        prime = malloc(sizeof(int32_t));
        if (!prime) cli_die(1, "out of memory");
        *prime = newline >= 0 ? newline : txt.ids[ntrain];
    }

    if (!m) {
        char *spec = expand_vocab(c.spec, txt.vocab);
        cli_common built = c;
        built.spec = spec;
        m = cli_model(&built, T, 1, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
        free(spec);
    }
    /* the model (built here or read from a file) must fit the text */
    const char *in = model_from ? " in " : "", *name = model_from ? model_from : "";
    int mt, mf;
    recur_model_input_shape(m, &mt, &mf);
    if (!recur_model_takes_ids(m))
        cli_die(1,
                "the model%s%s takes floats, a character model starts with an embedding "
                "(embedding:V:DIM in --layers)",
                in, name);
    if (mt != T)
        cli_die(1, "the model%s%s takes windows of %d characters, --seq is %d", in, name, mt, T);
    if (recur_model_output_size(m) != txt.vocab || recur_model_output_steps(m) != T)
        cli_die(1,
                "the model%s%s gives %d outputs at %d step(s), %s needs one of its %d "
                "characters at each of %d steps (dense:V:softmax after a recurrent layer "
                "with seq)",
                in, name, recur_model_output_size(m), recur_model_output_steps(m), o.text,
                txt.vocab, T);
    {
        /* the test and sampling read one step at a time, every id must be an
         * embedding row: one step with the last id finds out now */
        float *p = malloc((size_t)txt.vocab * sizeof(float));
        if (!p) cli_die(1, "out of memory");
        const int32_t last = txt.vocab - 1;
        recur_status st = recur_model_predict_step_ids(m, &last, 1, p);
        free(p);
        if (st == RECUR_ERR_UNSUPPORTED)
            cli_die(1, "the model%s%s cannot predict the next character: %s", in, name,
                    recur_last_error());
        if (st == RECUR_ERR_INVALID_ARGUMENT)
            cli_die(1,
                    "the embedding of the model%s%s has fewer rows than the %d characters "
                    "of %s (embedding:V:DIM in --layers): %s",
                    in, name, txt.vocab, o.text, recur_last_error());
        cli_check(st, "the model");
    }
    cli_summary(&c, m);

    int32_t *xtr, *xte;
    float *ytr, *yte;
    const size_t ntr = make_windows(txt.ids, ntrain, T, &xtr, &ytr);
    const size_t nte = make_windows(txt.ids + ntrain, ntest, T, &xte, &yte);
    const cli_data tr = {NULL, xtr, ytr, ntr}, te = {NULL, xte, yte, nte};
    const double seconds = cli_fit(&c, m, &tr, &te, 0.0);
    const int epochs_run = recur_model_history(m, NULL);

    double accuracy;
    const double bits = stream_bits(m, txt.ids + ntrain, ntest, txt.vocab, &accuracy);
    const recur_metrics w = cli_evaluate(m, &te);
    if (c.save) cli_check(recur_model_save(m, c.save), "--save");
    cli_plot_history(&c, m, "accuracy");

    struct rusage ru;
    const double peak_mb = getrusage(RUSAGE_SELF, &ru) ? 0.0 : (double)ru.ru_maxrss / 1024.0;
    printf("test_bits_per_char=%.4f unigram_bits_per_char=%.4f window_bits_per_char=%.4f "
           "test_accuracy=%.4f train_seconds=%.1f chars_per_second=%.0f epochs=%ld batch=%ld "
           "seq=%d vocab=%d chars_train=%zu chars_test=%zu threads=%d ranks=%d isa=%s "
           "peak_rss_mb=%.0f\n",
           bits, unigram_bits(txt.ids, ntrain, txt.vocab), w.loss / log(2.0), accuracy, seconds,
           seconds > 0 ? (double)(ntr * (size_t)T) * epochs_run / seconds : 0.0, c.epochs, c.batch,
           T, txt.vocab, ntrain, ntest, recur_get_num_threads(), cli_ranks(), recur_isa(), peak_mb);
    if (o.sample) {
        fflush(stdout);
        sample(m, &txt, prime, nprime, o.sample, (float)o.temperature, c.seed);
    }
    free(prime);
    free(xtr), free(ytr), free(xte), free(yte);
    recur_model_destroy(m);
    recur_text_free(&txt);
    return 0;
}
