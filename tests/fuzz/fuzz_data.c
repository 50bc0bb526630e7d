/* The CSV, text and lines readers on arbitrary bytes, each reading the same
 * file. Checked beyond "no crash": a refusal leaves the output zeroed and its
 * message names the reader and the file; an accepted file is what the header
 * promises: finite values under distinct non-empty names that
 * recur_table_column finds; ids below vocab over ascending code points that,
 * encoded again, give back the file's bytes; non-blank lines without line
 * ends or NULs, in increasing line numbers. */
#include "fuzz_util.h" /* first: it sets the feature macros */

#include <math.h>

static void check_refusal(const char *fn, const char *path, const void *out, size_t size) {
    FUZZ_CHECK(fuzz_all_zero(out, size));
    const char *m = recur_last_error();
    FUZZ_CHECK(strncmp(m, fn, strlen(fn)) == 0 && strstr(m, path) != NULL);
}

static void check_csv(const char *path) {
    recur_table t;
    memset(&t, 0xA5, sizeof t);
    if (recur_csv_read(path, &t) != RECUR_OK) {
        check_refusal("recur_csv_read: ", path, &t, sizeof t);
        return;
    }
    FUZZ_CHECK(t.rows >= 1 && t.cols >= 1);
    for (int k = 0; k < t.cols; k++)
        FUZZ_CHECK(t.names[k][0] != '\0' && recur_table_column(&t, t.names[k]) == k);
    for (size_t k = 0; k < t.rows * (size_t)t.cols; k++) FUZZ_CHECK(isfinite(t.values[k]));
    recur_table_free(&t);
    FUZZ_CHECK(fuzz_all_zero(&t, sizeof t));
}

static void check_text(const char *path, const uint8_t *data, size_t size) {
    recur_text t;
    memset(&t, 0xA5, sizeof t);
    if (recur_text_read(path, &t) != RECUR_OK) {
        check_refusal("recur_text_read: ", path, &t, sizeof t);
        return;
    }
    FUZZ_CHECK(t.n >= 1 && t.vocab >= 1);
    char c[5];
    for (int k = 0; k < t.vocab; k++) {
        FUZZ_CHECK(k == 0 || t.chars[k - 1] < t.chars[k]);
        FUZZ_CHECK(recur_utf8_encode(t.chars[k], c) > 0 && recur_text_id(&t, t.chars[k]) == k);
    }
    if (size >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) data += 3, size -= 3;
    size_t at = 0;
    for (size_t k = 0; k < t.n; k++) {
        FUZZ_CHECK(t.ids[k] >= 0 && t.ids[k] < t.vocab);
        size_t len = (size_t)recur_utf8_encode(t.chars[t.ids[k]], c);
        FUZZ_CHECK(at + len <= size && memcmp(data + at, c, len) == 0);
        at += len;
    }
    FUZZ_CHECK(at == size);
    recur_text_free(&t);
}

static void check_lines(const char *path, size_t size) {
    recur_lines l;
    memset(&l, 0xA5, sizeof l);
    if (recur_lines_read(path, &l) != RECUR_OK) {
        check_refusal("recur_lines_read: ", path, &l, sizeof l);
        return;
    }
    FUZZ_CHECK(l.n >= 1);
    size_t bytes = 0;
    for (size_t k = 0; k < l.n; k++) {
        size_t len = strlen(l.lines[k]);
        FUZZ_CHECK(len > 0 && !memchr(l.lines[k], '\n', len));
        FUZZ_CHECK(l.line_numbers[k] > (k ? l.line_numbers[k - 1] : 0));
        bytes += len + 1;
    }
    FUZZ_CHECK(bytes <= size + 1);
    recur_lines_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("data");
    fuzz_write(path, data, size);
    check_csv(path);
    check_text(path, data, size);
    check_lines(path, size);
    return 0;
}
