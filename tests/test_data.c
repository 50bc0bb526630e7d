/* CSV, text and lines readers: exact values of good files (CRLF, no final
 * LF, a byte order mark, every UTF-8 length), every malformed file's status
 * and message (file, line, column), and the real data sets when
 * scripts/fetch-data.sh has put them in data/ (skipped with a note when not).
 * Fixtures are written into a fresh temporary directory. Uses only the
 * public header. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, truncate */
#include <ftw.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <recur.h>

#include "testutil.h"

static char tmpdir[] = "/tmp/recur-data-XXXXXX";

static int suite_init(void) {
    return mkdtemp(tmpdir) ? 0 : 1;
}

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int suite_cleanup(void) {
    return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define PATH_CAP 512

/* tmpdir/name into a rotating buffer */
static const char *at(const char *name) {
    static char buf[4][PATH_CAP];
    static int next;
    char *p = buf[next++ % 4];
    CU_ASSERT_FATAL(snprintf(p, PATH_CAP, "%s/%s", tmpdir, name) < PATH_CAP);
    return p;
}

/* n bytes into tmpdir/name; returns the path */
static const char *put(const char *name, const char *b, size_t n) {
    const char *path = at(name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(b, 1, n, f) == n);
    CU_ASSERT_FATAL(fclose(f) == 0);
    return path;
}
/* a string literal, embedded NULs included */
#define PUT(name, lit) put(name, lit, sizeof lit - 1)

static int all_zero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t k = 0; k < n; k++)
        if (c[k]) return 0;
    return 1;
}

typedef enum { CSV, TEXT, LINES } reader;
static const char *const reader_fn[] = {"recur_csv_read", "recur_text_read", "recur_lines_read"};

/* Reads path with r; it fails with `want`, the output is left zeroed, and the
 * message is "FN: PATH:LINE: " ("FN: PATH: " for line 0) followed by each of
 * `words` in order. */
static int read_fails(reader r, const char *path, recur_status want, size_t line,
                      const char *const *words) {
    union {
        recur_table t;
        recur_text x;
        recur_lines l;
    } out;
    size_t size = r == CSV ? sizeof out.t : r == TEXT ? sizeof out.x : sizeof out.l;
    memset(&out, 0xAB, sizeof out);
    recur_status st = r == CSV    ? recur_csv_read(path, &out.t)
                      : r == TEXT ? recur_text_read(path, &out.x)
                                  : recur_lines_read(path, &out.l);
    int ok = st == want && all_zero(&out, size);
    if (st != want)
        printf("\n    %s: got %s, want %s", path, recur_status_string(st),
               recur_status_string(want));
    if (st == RECUR_OK) {
        if (r == CSV) recur_table_free(&out.t);
        if (r == TEXT) recur_text_free(&out.x);
        if (r == LINES) recur_lines_free(&out.l);
    }
    char head[PATH_CAP + 64];
    if (line)
        snprintf(head, sizeof head, "%s: %s:%zu: ", reader_fn[r], path, line);
    else
        snprintf(head, sizeof head, "%s: %s: ", reader_fn[r], path);
    const char *m = recur_last_error();
    if (strncmp(m, head, strlen(head))) {
        printf("\n    message \"%s\" does not start \"%s\"", m, head);
        return 0;
    }
    m += strlen(head);
    for (; *words; words++) {
        const char *w = strstr(m, *words);
        if (!w) {
            printf("\n    message \"%s\" lacks \"%s\" (in order)", recur_last_error(), *words);
            return 0;
        }
        m = w + strlen(*words);
    }
    return ok;
}
#define FAILS(r, path, want, line, ...)                                                            \
    read_fails(r, path, want, line, (const char *const[]){__VA_ARGS__, NULL})

/* ---- CSV ----------------------------------------------------------------- */

static recur_table csv_ok(const char *path) {
    recur_table t;
    memset(&t, 0xAB, sizeof t);
    recur_status st = recur_csv_read(path, &t);
    if (st != RECUR_OK) printf("\n    %s", recur_last_error());
    CU_ASSERT_EQUAL_FATAL(st, RECUR_OK);
    return t;
}

static void test_csv_values(void) {
    recur_table t = csv_ok(PUT("v.csv", "a,b,c\n1,2.5,-3\n+4,.5,1e3\n-0.25,5.,7E-2\n"));
    CU_ASSERT_EQUAL(t.rows, 3);
    CU_ASSERT_EQUAL_FATAL(t.cols, 3);
    CU_ASSERT_STRING_EQUAL(t.names[0], "a");
    CU_ASSERT_STRING_EQUAL(t.names[1], "b");
    CU_ASSERT_STRING_EQUAL(t.names[2], "c");
    const double want[] = {1, 2.5, -3, 4, .5, 1e3, -0.25, 5., 7E-2};
    for (int k = 0; k < 9; k++) CU_ASSERT_EQUAL(t.values[k], want[k]);
    CU_ASSERT_EQUAL(recur_table_column(&t, "a"), 0);
    CU_ASSERT_EQUAL(recur_table_column(&t, "c"), 2);
    CU_ASSERT_EQUAL(recur_table_column(&t, "d"), -1);
    CU_ASSERT_EQUAL(recur_table_column(&t, "A"), -1);
    CU_ASSERT_EQUAL(recur_table_column(&t, NULL), -1);
    CU_ASSERT_EQUAL(recur_table_column(NULL, "a"), -1);
    recur_table_free(&t);
    CU_ASSERT(all_zero(&t, sizeof t));
    recur_table_free(&t); /* zeroed accepted */
    recur_table_free(NULL);

    /* long digit strings, underflow to zero, names as they are (UTF-8, inner spaces) */
    t = csv_ok(PUT(
        "w.csv", "n\xC3\xBCm "
                 "ber,x_1\n123456789012345678901234567890,1e-400\n0001,-1.7976931348623157e308\n"));
    CU_ASSERT(t.rows == 2 && t.cols == 2);
    CU_ASSERT_STRING_EQUAL(t.names[0], "n\xC3\xBCm ber");
    CU_ASSERT_EQUAL(recur_table_column(&t, "x_1"), 1);
    CU_ASSERT_EQUAL(t.values[0], 123456789012345678901234567890.0);
    CU_ASSERT_EQUAL(t.values[1], 0.0);
    CU_ASSERT_EQUAL(t.values[2], 1.0);
    CU_ASSERT_EQUAL(t.values[3], -1.7976931348623157e308);
    recur_table_free(&t);
}

/* Line ends and file ends that all give the table x,y = (1,2), (3,4). */
static void test_csv_line_ends(void) {
    static const char *const files[] = {
        "x,y\n1,2\n3,4\n",
        "x,y\r\n1,2\r\n3,4\r\n",
        "x,y\n1,2\n3,4",
        "x,y\r\n1,2\r\n3,4\r",
        "x,y\n1,2\n3,4\n\n",
        "x,y\r\n1,2\r\n3,4\r\n\r\n",
        "\xEF\xBB\xBFx,y\n1,2\n3,4\n",
    };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        recur_table t = csv_ok(put("ends.csv", files[f], strlen(files[f])));
        CU_ASSERT(t.rows == 2 && t.cols == 2);
        CU_ASSERT_STRING_EQUAL(t.names[0], "x");
        CU_ASSERT_STRING_EQUAL(t.names[1], "y");
        for (int k = 0; k < 4; k++) CU_ASSERT_EQUAL(t.values[k], k + 1);
        recur_table_free(&t);
    }
}

/* A file like the births data with `bad` as row 16's births (line 17). */
static const char *births_like(const char *bad) {
    char b[2048];
    int n = snprintf(b, sizeof b, "year,month,date_of_month,day_of_week,births\n");
    for (int d = 1; d <= 15; d++)
        n += snprintf(b + n, sizeof b - (size_t)n, "1969,1,%d,%d,%d\n", d, (d + 1) % 7 + 1,
                      9000 + d);
    n += snprintf(b + n, sizeof b - (size_t)n, "1969,1,16,5,%s\n1969,1,17,6,9017\n", bad);
    return put("births.csv", b, (size_t)n);
}

static void test_csv_numbers(void) {
    const char *p = births_like("abc");
    CU_ASSERT(FAILS(CSV, p, RECUR_ERR_FORMAT, 17, "column 'births' (5): 'abc' is not a number"));
    p = births_like("9016");
    recur_table t = csv_ok(p);
    CU_ASSERT(t.rows == 17 && t.cols == 5 && t.values[15 * 5 + 4] == 9016);
    recur_table_free(&t);

    /* what strtod reads but a decimal number is not */
    static const char *const bad[] = {
        "nan",   "NAN",  "inf", "-inf",         "Infinity", "0x10", "0X1p3", " 1",  "1 ",
        "\t1",   "1e",   "1e+", "e5",           ".",        "+",    "-",     "+-1", "--1",
        "1.2.3", "1e5x", "1d",  "\xEF\xBC\x91", "'1'",      "\"1\""};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char want[64];
        snprintf(want, sizeof want, "'%s' is not a number", bad[k]);
        CU_ASSERT(FAILS(CSV, births_like(bad[k]), RECUR_ERR_FORMAT, 17, "'births' (5)", want));
    }
    CU_ASSERT(FAILS(CSV, births_like("1e999"), RECUR_ERR_FORMAT, 17, "'births' (5)",
                    "'1e999' is out of range"));
    CU_ASSERT(FAILS(CSV, births_like("-2e308"), RECUR_ERR_FORMAT, 17, "out of range"));
    CU_ASSERT(FAILS(CSV, births_like(""), RECUR_ERR_FORMAT, 17, "'births' (5): empty cell"));
    /* a long cell is cut in the message */
    CU_ASSERT(FAILS(CSV, births_like("1234567890123456789012345678901234567890123456789x"),
                    RECUR_ERR_FORMAT, 17, "'1234567890123456789012345678901234567890...' is not"));
    CU_ASSERT(FAILS(CSV, PUT("c1.csv", "a,b\n1,2\n,3\n"), RECUR_ERR_FORMAT, 3,
                    "column 'a' (1): empty cell"));
}

/* strtod follows LC_NUMERIC; the reader must not (skipped when no locale with
 * a decimal comma is installed) */
static void test_csv_locale(void) {
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *set = NULL;
    for (size_t k = 0; k < sizeof names / sizeof *names && !set; k++)
        set = setlocale(LC_NUMERIC, names[k]);
    if (!set) {
        printf("\n    note: no decimal-comma locale installed, locale check skipped ");
        return;
    }
    recur_table t = csv_ok(PUT("loc.csv", "a\n1.5\n"));
    CU_ASSERT_EQUAL(t.values[0], 1.5);
    recur_table_free(&t);
    CU_ASSERT(FAILS(CSV, PUT("loc2.csv", "a\n1,5\n"), RECUR_ERR_FORMAT, 2, "2 cells"));
    setlocale(LC_NUMERIC, "C");
}

static void test_csv_shape(void) {
    CU_ASSERT(FAILS(CSV, PUT("s1.csv", "a,b\n1,2\n3\n"), RECUR_ERR_FORMAT, 3,
                    "1 cell, but the header names 2 columns"));
    CU_ASSERT(FAILS(CSV, PUT("s2.csv", "a,b\n1,2\n3,4,5\n6,7\n"), RECUR_ERR_FORMAT, 3,
                    "3 cells, but the header names 2 columns"));
    CU_ASSERT(FAILS(CSV, PUT("s3.csv", "a\n1\n2,\n"), RECUR_ERR_FORMAT, 3,
                    "2 cells, but the header names 1 column"));
    CU_ASSERT(FAILS(CSV, PUT("s4.csv", "a\n1\n\n2\n"), RECUR_ERR_FORMAT, 3, "blank line"));
    CU_ASSERT(FAILS(CSV, PUT("s5.csv", "a\n1\n\n\n"), RECUR_ERR_FORMAT, 3, "blank line"));
    CU_ASSERT(FAILS(CSV, PUT("s6.csv", "a\r\n1\r\n\r\n\r\n"), RECUR_ERR_FORMAT, 3, "blank line"));
    CU_ASSERT(FAILS(CSV, PUT("s7.csv", "a\n\n1\n"), RECUR_ERR_FORMAT, 2, "blank line"));
    CU_ASSERT(FAILS(CSV, PUT("s8.csv", "a,b\n"), RECUR_ERR_FORMAT, 0, "no data row"));
    CU_ASSERT(FAILS(CSV, PUT("s9.csv", "a,b"), RECUR_ERR_FORMAT, 0, "no data row"));
    CU_ASSERT(FAILS(CSV, PUT("s10.csv", "a,b\n\n"), RECUR_ERR_FORMAT, 0, "no data row"));
    CU_ASSERT(FAILS(CSV, PUT("s11.csv", ""), RECUR_ERR_FORMAT, 0, "empty file"));
    CU_ASSERT(FAILS(CSV, PUT("s12.csv", "\xEF\xBB\xBF"), RECUR_ERR_FORMAT, 0, "empty file"));
    CU_ASSERT(FAILS(CSV, PUT("s13.csv", "a\n1\n2\0\n"), RECUR_ERR_FORMAT, 3, "NUL byte at byte 2"));
    CU_ASSERT(FAILS(CSV, PUT("s14.csv", "a\n1\r2\n"), RECUR_ERR_FORMAT, 2, "not a number"));
}

static void test_csv_header(void) {
    CU_ASSERT(FAILS(CSV, PUT("h1.csv", "\n1\n"), RECUR_ERR_FORMAT, 1, "empty header line"));
    CU_ASSERT(
        FAILS(CSV, PUT("h2.csv", "a,,c\n1,2,3\n"), RECUR_ERR_FORMAT, 1, "column 2 has no name"));
    CU_ASSERT(
        FAILS(CSV, PUT("h4.csv", "a,b,\n1,2,3\n"), RECUR_ERR_FORMAT, 1, "column 3 has no name"));
    CU_ASSERT(FAILS(CSV, PUT("h5.csv", "x,b,x,a,b\n1,2,3,4,5\n"), RECUR_ERR_FORMAT, 1,
                    "column 3's name 'x' repeats column 1's"));
    CU_ASSERT(FAILS(CSV, PUT("h6.csv", "b,a,c,a,b\n1,2,3,4,5\n"), RECUR_ERR_FORMAT, 1,
                    "column 4's name 'a' repeats column 2's"));
    CU_ASSERT(FAILS(CSV, PUT("h7.csv", "a, b\n1,2\n"), RECUR_ERR_FORMAT, 1,
                    "column 2's name ' b': spaces"));
    CU_ASSERT(
        FAILS(CSV, PUT("h8.csv", "a,b \n1,2\n"), RECUR_ERR_FORMAT, 1, "column 2's", "spaces"));
    CU_ASSERT(FAILS(CSV, PUT("h9.csv", "\"a\",b\n1,2\n"), RECUR_ERR_FORMAT, 1,
                    "column 1's name '\"a\"': quoting is not supported"));
    CU_ASSERT(FAILS(CSV, PUT("h10.csv", "a,b\tc\n1,2\n"), RECUR_ERR_FORMAT, 1, "column 2's",
                    "control character"));
    CU_ASSERT(FAILS(CSV, PUT("h11.csv", "a\0,b\n1,2\n"), RECUR_ERR_FORMAT, 1, "column 1's",
                    "control character"));
    CU_ASSERT(FAILS(CSV, PUT("h12.csv", "a,b\xC3\n1,2\n"), RECUR_ERR_FORMAT, 1,
                    "malformed UTF-8 at byte 4 of the line (0xC3): a sequence cut short"));
    CU_ASSERT(FAILS(CSV, PUT("h13.csv", "a,b\r\r\n1,2\n"), RECUR_ERR_FORMAT, 1, "column 2's",
                    "control character"));
}

static void test_csv_files(void) {
    recur_table t;
    CU_ASSERT(FAILS(CSV, at("missing.csv"), RECUR_ERR_IO, 0, "cannot open", "No such file"));
    CU_ASSERT(FAILS(CSV, tmpdir, RECUR_ERR_IO, 0, "read failed"));
    memset(&t, 0xAB, sizeof t);
    CU_ASSERT_EQUAL(recur_csv_read(NULL, &t), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(all_zero(&t, sizeof t) && strstr(recur_last_error(), "path"));
    CU_ASSERT_EQUAL(recur_csv_read(at("x"), NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(strstr(recur_last_error(), "out") != NULL);
}

/* A sparse file just over the limit, refused before it is read (all readers). */
static void test_too_big(void) {
    const char *p = PUT("big.txt", "a\n");
    if (truncate(p, ((off_t)1 << 30) + 1) != 0) {
        printf("\n    note: cannot make a sparse 1 GiB file, size check skipped ");
        return;
    }
    for (reader r = CSV; r <= LINES; r++)
        CU_ASSERT(FAILS(r, p, RECUR_ERR_FORMAT, 0, "1073741825 bytes, over the 1 GiB limit"));
    remove(p);
}

/* ---- UTF-8 --------------------------------------------------------------- */

static void test_utf8_encode(void) {
    char b[5];
    CU_ASSERT(recur_utf8_encode('a', b) == 1 && !strcmp(b, "a"));
    CU_ASSERT(recur_utf8_encode(0x7F, b) == 1 && !strcmp(b, "\x7F"));
    CU_ASSERT(recur_utf8_encode(0x80, b) == 2 && !strcmp(b, "\xC2\x80"));
    CU_ASSERT(recur_utf8_encode(0xE9, b) == 2 && !strcmp(b, "\xC3\xA9"));
    CU_ASSERT(recur_utf8_encode(0x7FF, b) == 2 && !strcmp(b, "\xDF\xBF"));
    CU_ASSERT(recur_utf8_encode(0x800, b) == 3 && !strcmp(b, "\xE0\xA0\x80"));
    CU_ASSERT(recur_utf8_encode(0x2014, b) == 3 && !strcmp(b, "\xE2\x80\x94"));
    CU_ASSERT(recur_utf8_encode(0xFFFF, b) == 3 && !strcmp(b, "\xEF\xBF\xBF"));
    CU_ASSERT(recur_utf8_encode(0x10000, b) == 4 && !strcmp(b, "\xF0\x90\x80\x80"));
    CU_ASSERT(recur_utf8_encode(0x1F600, b) == 4 && !strcmp(b, "\xF0\x9F\x98\x80"));
    CU_ASSERT(recur_utf8_encode(0x10FFFF, b) == 4 && !strcmp(b, "\xF4\x8F\xBF\xBF"));
    static const uint32_t invalid[] = {0, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0x110000, 0xFFFFFFFF};
    for (size_t k = 0; k < sizeof invalid / sizeof *invalid; k++) {
        memset(b, 'x', sizeof b);
        CU_ASSERT(recur_utf8_encode(invalid[k], b) == 0 && b[0] == '\0');
    }
    CU_ASSERT_EQUAL(recur_utf8_encode('a', NULL), 0);
}

/* Every boundary code point, written by the encoder and read back. */
static void test_text_round_trip(void) {
    static const uint32_t cps[] = {0x10FFFF, 0x1,    0x7F,   0x80,   0x7FF,   0x800,
                                   0xD7FF,   0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x1F600};
    const int n = sizeof cps / sizeof *cps;
    char b[5 * 12 * 2], *w = b;
    for (int rep = 0; rep < 2; rep++)
        for (int k = 0; k < n; k++) w += recur_utf8_encode(cps[k], w);
    recur_text t;
    CU_ASSERT_EQUAL_FATAL(recur_text_read(put("rt.txt", b, (size_t)(w - b)), &t), RECUR_OK);
    CU_ASSERT_EQUAL(t.n, 2 * (size_t)n);
    CU_ASSERT_EQUAL_FATAL(t.vocab, n);
    for (int k = 1; k < n; k++) CU_ASSERT(t.chars[k - 1] < t.chars[k]);
    for (int k = 0; k < 2 * n; k++) {
        CU_ASSERT_EQUAL(t.chars[t.ids[k]], cps[k % n]);
        CU_ASSERT_EQUAL(recur_text_id(&t, cps[k % n]), t.ids[k]);
    }
    CU_ASSERT_EQUAL(t.ids[0], n - 1); /* U+10FFFF, the largest */
    CU_ASSERT_EQUAL(t.ids[1], 0);
    recur_text_free(&t);
}

/* ---- Text ---------------------------------------------------------------- */

static void test_text_values(void) {
    recur_text t;
    memset(&t, 0xAB, sizeof t);
    CU_ASSERT_EQUAL_FATAL(recur_text_read(PUT("t.txt", "ab\nba\n"), &t), RECUR_OK);
    CU_ASSERT(t.n == 6 && t.vocab == 3);
    CU_ASSERT(t.chars[0] == '\n' && t.chars[1] == 'a' && t.chars[2] == 'b');
    const int32_t want[] = {1, 2, 0, 2, 1, 0};
    for (int k = 0; k < 6; k++) CU_ASSERT_EQUAL(t.ids[k], want[k]);
    CU_ASSERT_EQUAL(recur_text_id(&t, 'a'), 1);
    CU_ASSERT_EQUAL(recur_text_id(&t, 'c'), -1);
    CU_ASSERT_EQUAL(recur_text_id(&t, 0), -1);
    CU_ASSERT_EQUAL(recur_text_id(&t, 0x10FFFF), -1);
    CU_ASSERT_EQUAL(recur_text_id(NULL, 'a'), -1);
    recur_text_free(&t);
    CU_ASSERT(all_zero(&t, sizeof t));
    CU_ASSERT_EQUAL(recur_text_id(&t, 'a'), -1);
    recur_text_free(NULL);

    /* 1-, 2-, 3- and 4-byte characters, a byte order mark skipped, CR kept */
    CU_ASSERT_EQUAL_FATAL(
        recur_text_read(PUT("u.txt", "\xEF\xBB\xBF\xF0\x9F\x98\x80\xE2\x80\x94\xC3\xA9\x61\r\n"),
                        &t),
        RECUR_OK);
    CU_ASSERT(t.n == 6 && t.vocab == 6);
    const uint32_t chars[] = {'\n', '\r', 'a', 0xE9, 0x2014, 0x1F600};
    const int32_t ids[] = {5, 4, 3, 2, 1, 0};
    for (int k = 0; k < 6; k++) CU_ASSERT(t.chars[k] == chars[k] && t.ids[k] == ids[k]);
    recur_text_free(&t);

    /* a single character, no line end */
    CU_ASSERT_EQUAL_FATAL(recur_text_read(PUT("one.txt", "\xE2\x80\x9C"), &t), RECUR_OK);
    CU_ASSERT(t.n == 1 && t.vocab == 1 && t.chars[0] == 0x201C && t.ids[0] == 0);
    recur_text_free(&t);
}

/* Malformed UTF-8, each on line 3 after multibyte characters on lines 1-2;
 * also read as lines, which must name the same line and byte. (Letters after
 * a hex escape are escapes too, \x61 for 'a': "\xC3a" would be one byte.) */
static void test_text_malformed(void) {
    static const struct {
        const char *bytes, *what;
    } bad[] = {
        {"\xC0\xAF", "(0xC0): an overlong encoding"},
        {"\xC1\xBF", "(0xC1): an overlong encoding"},
        {"\xE0\x80\xAF", "(0xE0): an overlong encoding"},
        {"\xE0\x9F\xBF", "(0xE0): an overlong encoding"},
        {"\xF0\x80\x80\xAF", "(0xF0): an overlong encoding"},
        {"\xF0\x8F\xBF\xBF", "(0xF0): an overlong encoding"},
        {"\xED\xA0\x80", "(0xED): a UTF-16 surrogate"},
        {"\xED\xBF\xBF", "(0xED): a UTF-16 surrogate"},
        {"\xF4\x90\x80\x80", "(0xF4): a code point above U+10FFFF"},
        {"\xF7\xBF\xBF\xBF", "(0xF7): a code point above U+10FFFF"},
        {"\x80", "(0x80): a continuation byte with no lead byte"},
        {"\xBF", "(0xBF): a continuation byte with no lead byte"},
        {"\xF8\x88\x80\x80\x80", "(0xF8): a byte UTF-8 never uses"},
        {"\xFF", "(0xFF): a byte UTF-8 never uses"},
        {"\xC3\x61", "(0xC3): a sequence cut short"},
        {"\xE2\x80\x61", "(0xE2): a sequence cut short"},
        {"\xF0\x9F\x98\n", "(0xF0): a sequence cut short"},
        {"\xE2\x80", "(0xE2): a sequence cut short by the end of the file"},
        {"\xF0\x9F\x98", "(0xF0): a sequence cut short by the end of the file"},
        {"\xC3", "(0xC3): a sequence cut short by the end of the file"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char b[64], want[96];
        int n = snprintf(b, sizeof b, "\xC3\xA9t\xC3\xA9\n\xE2\x80\x94\n\xF0\x9F\x98\x80x%s",
                         bad[k].bytes);
        const char *p = put("bad.txt", b, (size_t)n);
        snprintf(want, sizeof want, "malformed UTF-8 at byte 6 of the line %s", bad[k].what);
        CU_ASSERT(FAILS(TEXT, p, RECUR_ERR_FORMAT, 3, want));
        CU_ASSERT(FAILS(LINES, p, RECUR_ERR_FORMAT, 3, want));
    }
    /* a truncated sequence at the end of a line that is not the file's last */
    const char *p = PUT("cut.txt", "ok\n\xE2\x80\nok\n");
    CU_ASSERT(
        FAILS(TEXT, p, RECUR_ERR_FORMAT, 2, "byte 1 of the line (0xE2): a sequence cut short"));
    CU_ASSERT(strstr(recur_last_error(), "end of the file") == NULL);
    CU_ASSERT(FAILS(LINES, p, RECUR_ERR_FORMAT, 2, "(0xE2): a sequence cut short"));
    CU_ASSERT(strstr(recur_last_error(), "end of the file") == NULL);
}

static void test_text_errors(void) {
    CU_ASSERT(FAILS(TEXT, PUT("e.txt", ""), RECUR_ERR_FORMAT, 0, "empty file"));
    CU_ASSERT(FAILS(TEXT, PUT("bom.txt", "\xEF\xBB\xBF"), RECUR_ERR_FORMAT, 0, "empty file"));
    CU_ASSERT(FAILS(TEXT, PUT("nul.txt", "ab\ncd\0e"), RECUR_ERR_FORMAT, 2,
                    "NUL byte at byte 3 of the line (a binary file?)"));
    CU_ASSERT(FAILS(TEXT, PUT("nul0.txt", "\0"), RECUR_ERR_FORMAT, 1, "NUL byte at byte 1"));
    CU_ASSERT(FAILS(TEXT, at("missing.txt"), RECUR_ERR_IO, 0, "cannot open", "No such file"));
    CU_ASSERT(FAILS(TEXT, tmpdir, RECUR_ERR_IO, 0, "read failed"));
    recur_text t;
    memset(&t, 0xAB, sizeof t);
    CU_ASSERT_EQUAL(recur_text_read(NULL, &t), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(all_zero(&t, sizeof t) && strstr(recur_last_error(), "path"));
    CU_ASSERT_EQUAL(recur_text_read(at("x"), NULL), RECUR_ERR_NULL_POINTER);
}

/* ---- Lines --------------------------------------------------------------- */

static void test_lines_values(void) {
    recur_lines l;
    memset(&l, 0xAB, sizeof l);
    CU_ASSERT_EQUAL_FATAL(
        recur_lines_read(PUT("l.txt", "\xEF\xBB\xBF\x41nn\nBob\r\n\nCy\r\n  \n\r\nZo\xC3\xAB\r"),
                         &l),
        RECUR_OK);
    static const char *const want[] = {"Ann", "Bob", "Cy", "  ", "Zo\xC3\xAB"};
    static const size_t lines[] = {1, 2, 4, 5, 7};
    CU_ASSERT_EQUAL_FATAL(l.n, 5);
    for (int k = 0; k < 5; k++) {
        CU_ASSERT_STRING_EQUAL(l.lines[k], want[k]);
        CU_ASSERT_EQUAL(l.line_numbers[k], lines[k]);
    }
    recur_lines_free(&l);
    CU_ASSERT(all_zero(&l, sizeof l));
    recur_lines_free(&l);
    recur_lines_free(NULL);

    /* one line, no line end; blank lines first; a lone CR inside a line is kept */
    CU_ASSERT_EQUAL_FATAL(recur_lines_read(PUT("l1.txt", "x"), &l), RECUR_OK);
    CU_ASSERT(l.n == 1 && !strcmp(l.lines[0], "x") && l.line_numbers[0] == 1);
    recur_lines_free(&l);
    CU_ASSERT_EQUAL_FATAL(recur_lines_read(PUT("l2.txt", "\n\n\na\rb\n\n"), &l), RECUR_OK);
    CU_ASSERT(l.n == 1 && !strcmp(l.lines[0], "a\rb") && l.line_numbers[0] == 4);
    recur_lines_free(&l);
}

static void test_lines_errors(void) {
    CU_ASSERT(FAILS(LINES, PUT("le.txt", ""), RECUR_ERR_FORMAT, 0, "has no lines (empty file)"));
    CU_ASSERT(FAILS(LINES, PUT("lb.txt", "\xEF\xBB\xBF"), RECUR_ERR_FORMAT, 0,
                    "has no lines (empty file)"));
    CU_ASSERT(FAILS(LINES, PUT("lk.txt", "\n\r\n\n"), RECUR_ERR_FORMAT, 0,
                    "has no lines (only blank lines)"));
    CU_ASSERT(FAILS(LINES, PUT("ln.txt", "a\n\nb\0\n"), RECUR_ERR_FORMAT, 3,
                    "NUL byte at byte 2 of the line (a binary file?)"));
    CU_ASSERT(FAILS(LINES, PUT("lu.txt", "a\n\xC3\xA9\xC0\x80\n"), RECUR_ERR_FORMAT, 2,
                    "byte 3 of the line (0xC0): an overlong encoding"));
    CU_ASSERT(FAILS(LINES, at("missing.txt"), RECUR_ERR_IO, 0, "cannot open", "No such file"));
    CU_ASSERT(FAILS(LINES, tmpdir, RECUR_ERR_IO, 0, "read failed"));
    recur_lines l;
    memset(&l, 0xAB, sizeof l);
    CU_ASSERT_EQUAL(recur_lines_read(NULL, &l), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(all_zero(&l, sizeof l) && strstr(recur_last_error(), "path"));
    CU_ASSERT_EQUAL(recur_lines_read(at("x"), NULL), RECUR_ERR_NULL_POINTER);
}

/* ---- The real data sets (scripts/fetch-data.sh all data) ------------------ */

/* RECUR_DATA_DIR/name when that file exists, else NULL after a note */
static const char *real(const char *name) {
    static char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/%s", RECUR_DATA_DIR, name);
    if (access(p, R_OK) == 0) return p;
    printf("\n    note: %s absent (scripts/fetch-data.sh all data), its checks skipped ", p);
    return NULL;
}

static void test_real_births(void) {
    const char *p = real("us-births-1969-1988.csv");
    if (!p) return;
    recur_table t = csv_ok(p);
    CU_ASSERT_EQUAL(t.rows, 7305);
    CU_ASSERT_EQUAL_FATAL(t.cols, 5);
    static const char *const names[] = {"year", "month", "date_of_month", "day_of_week", "births"};
    for (int k = 0; k < 5; k++) CU_ASSERT_EQUAL(recur_table_column(&t, names[k]), k);
    const double first[] = {1969, 1, 1, 3, 8486};
    for (int k = 0; k < 5; k++) CU_ASSERT_EQUAL(t.values[k], first[k]);
    const double *last = t.values + (t.rows - 1) * 5;
    CU_ASSERT(last[0] == 1988 && last[1] == 12 && last[2] == 31);
    double lo = 1e9, hi = 0;
    for (size_t i = 0; i < t.rows; i++) {
        const double *r = t.values + i * 5;
        CU_ASSERT(r[3] >= 1 && r[3] <= 7);
        if (i)
            CU_ASSERT(r[3] == (int)t.values[(i - 1) * 5 + 3] % 7 + 1); /* one day after another */
        lo = r[4] < lo ? r[4] : lo;
        hi = r[4] > hi ? r[4] : hi;
    }
    CU_ASSERT(lo == 6675 && hi == 12851);
    recur_table_free(&t);
}

static void test_real_moby_dick(void) {
    const char *p = real("moby-dick.txt");
    if (!p) return;
    recur_text t;
    CU_ASSERT_EQUAL_FATAL(recur_text_read(p, &t), RECUR_OK);
    CU_ASSERT_EQUAL(t.n, 1190317);
    CU_ASSERT_EQUAL(t.vocab, 83);
    CU_ASSERT(t.chars[0] == '\n' && t.chars[1] == ' ');
    static const uint32_t curly[] = {0x2014, 0x2018, 0x2019, 0x201C, 0x201D};
    for (int k = 0; k < 5; k++) CU_ASSERT_EQUAL(recur_text_id(&t, curly[k]), 78 + k);
    CU_ASSERT(recur_text_id(&t, '\'') == -1 && recur_text_id(&t, '"') == -1);
    size_t lines = 0;
    for (size_t k = 0; k < t.n; k++) lines += t.ids[k] == 0;
    CU_ASSERT_EQUAL(lines, 21424);
    CU_ASSERT_EQUAL(t.ids[t.n - 1], 0);
    recur_text_free(&t);
}

static void test_real_names(void) {
    static const struct {
        const char *file;
        size_t n;
    } sets[] = {{"female-first-names.txt", 4951}, {"male-first-names.txt", 3898}};
    for (int s = 0; s < 2; s++) {
        const char *p = real(sets[s].file);
        if (!p) continue;
        recur_lines l;
        CU_ASSERT_EQUAL_FATAL(recur_lines_read(p, &l), RECUR_OK);
        CU_ASSERT_EQUAL(l.n, sets[s].n);
        for (size_t i = 0; i < l.n; i++) {
            CU_ASSERT_EQUAL(l.line_numbers[i], i + 1); /* no blank line */
            const char *w = l.lines[i];
            CU_ASSERT(w[0] >= 'A' && w[0] <= 'Z');
            CU_ASSERT(strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-") ==
                      strlen(w));
        }
        recur_lines_free(&l);
    }
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("data", suite_init, suite_cleanup);
    if (!s) return 2;
    const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"csv values", test_csv_values},         {"csv line ends", test_csv_line_ends},
        {"csv numbers", test_csv_numbers},       {"csv locale", test_csv_locale},
        {"csv shape", test_csv_shape},           {"csv header", test_csv_header},
        {"csv files", test_csv_files},           {"over 1 GiB", test_too_big},
        {"utf8 encode", test_utf8_encode},       {"text round trip", test_text_round_trip},
        {"text values", test_text_values},       {"text malformed", test_text_malformed},
        {"text errors", test_text_errors},       {"lines values", test_lines_values},
        {"lines errors", test_lines_errors},     {"real births", test_real_births},
        {"real moby dick", test_real_moby_dick}, {"real names", test_real_names},
    };
    for (size_t k = 0; k < sizeof tests / sizeof *tests; k++)
        if (!CU_add_test(s, tests[k].name, tests[k].fn)) return 2;
    return test_main_run();
}
