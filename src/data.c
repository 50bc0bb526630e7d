/* CSV tables of numbers, UTF-8 texts and files of lines.
 *
 * Each file is read whole into one buffer (with room for a NUL after its
 * last byte) and parsed in place; messages say "FUNCTION: FILE:LINE: ...".
 * The formats are strict on purpose: a file recur would misread is refused,
 * naming the line (and for CSV the column), rather than guessed at. */
#define _POSIX_C_SOURCE 200809L /* fileno, newlocale, uselocale */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define DATA_MAX_BYTES ((size_t)1 << 30)
#define DATA_FIRST_CHUNK ((size_t)1 << 16)
#define DATA_SHOW 40 /* bytes of a cell or name quoted in a message */
#define UNICODE_END 0x110000u

#define CSV "recur_csv_read"
#define TEXT "recur_text_read"
#define LINES "recur_lines_read"

/* A quoted cell or name: at most DATA_SHOW bytes, then "..." */
#define SHOW(s, n) (int)((n) > DATA_SHOW ? DATA_SHOW : (n)), (s), ((n) > DATA_SHOW ? "..." : "")

/* The whole file into *buf (the caller frees it), *n bytes, plus a NUL at
 * (*buf)[*n]. fstat sizes the buffer for regular files and refuses big ones
 * before reading; the read loop still stops at the limit for pipes and files
 * that grow. */
static recur_status data_slurp(const char *fn, const char *path, char **buf, size_t *n) {
    *buf = NULL, *n = 0;
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return recur_fail(RECUR_ERR_IO, "%s: %s: cannot open: %s", fn, path,
                          errno ? strerror(errno) : "unknown error");
    struct stat sb;
    size_t cap = DATA_FIRST_CHUNK, have = 0;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((uintmax_t)sb.st_size > DATA_MAX_BYTES) {
            fclose(f);
            return recur_fail(RECUR_ERR_FORMAT, "%s: %s: %jd bytes, over the 1 GiB limit", fn, path,
                              (intmax_t)sb.st_size);
        }
        cap = (size_t)sb.st_size + 1; /* one more byte to see the end */
    }
    char *b = NULL;
    recur_status st = RECUR_OK;
    for (;;) {
        char *nb = realloc(b, cap + 1);
        if (!nb) {
            st = recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: %s: cannot allocate %zu bytes", fn, path,
                            cap + 1);
            break;
        }
        b = nb;
        errno = 0;
        have += fread(b + have, 1, cap - have, f);
        if (ferror(f)) {
            st = recur_fail(RECUR_ERR_IO, "%s: %s: read failed: %s", fn, path,
                            errno ? strerror(errno) : "unknown error");
            break;
        }
        if (have < cap) break;
        if (have > DATA_MAX_BYTES) {
            st = recur_fail(RECUR_ERR_FORMAT, "%s: %s: over the 1 GiB limit", fn, path);
            break;
        }
        cap = cap > DATA_MAX_BYTES / 2 ? DATA_MAX_BYTES + 1 : 2 * cap;
    }
    fclose(f);
    if (st != RECUR_OK) {
        free(b);
        return st;
    }
    b[have] = '\0';
    *buf = b, *n = have;
    return RECUR_OK;
}

/* A UTF-8 byte order mark's length at s (0 when there is none). */
static size_t data_bom(const char *s, size_t n) {
    return n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0;
}

typedef struct {
    char *pos, *end; /* the bytes not read yet */
    size_t line;     /* 1-based number of the line last returned */
} data_reader;

/* The next line as [*s, *e), without its LF and a CR before it (or a CR
 * ending the file); 0 at the end. The empty rest after a final LF is no line. */
static int data_line(data_reader *r, char **s, char **e) {
    if (r->pos == r->end) return 0;
    char *lf = memchr(r->pos, '\n', (size_t)(r->end - r->pos));
    *s = r->pos;
    *e = lf ? lf : r->end;
    if (*e > *s && (*e)[-1] == '\r') (*e)--;
    r->pos = lf ? lf + 1 : r->end;
    r->line++;
    return 1;
}

/* The character at p (p < end) into *c; returns its length in bytes, or 0
 * after recording why it is not one: a NUL byte, or malformed UTF-8 (stray
 * continuation or invalid byte, truncated, overlong, a UTF-16 surrogate,
 * above U+10FFFF). The message names line `line`, which starts at bol. */
static int data_char(const char *fn, const char *path, size_t line, const char *bol, const char *p,
                     const char *end, uint32_t *c) {
    const unsigned char *u = (const unsigned char *)p;
    size_t at = (size_t)(p - bol) + 1;
    if (!u[0]) {
        recur_fail(RECUR_ERR_FORMAT,
                   "%s: %s:%zu: NUL byte at byte %zu of the line (a binary file?)", fn, path, line,
                   at);
        return 0;
    }
    if (u[0] < 0x80) return *c = u[0], 1;
    int len = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : 2;
    uint32_t v = u[0] & (0x7Fu >> len);
    const char *why = NULL;
    if (u[0] < 0xC0) why = "a continuation byte with no lead byte";
    if (u[0] >= 0xF8) why = "a byte UTF-8 never uses";
    for (int k = 1; k < len && !why; k++) {
        if (p + k == end)
            why = "a sequence cut short by the end of the file";
        else if ((u[k] & 0xC0) != 0x80)
            why = "a sequence cut short";
        else
            v = v << 6 | (u[k] & 0x3Fu);
    }
    if (!why && v < (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u)) why = "an overlong encoding";
    if (!why && v >= 0xD800 && v <= 0xDFFF) why = "a UTF-16 surrogate";
    if (!why && v >= UNICODE_END) why = "a code point above U+10FFFF";
    if (why) {
        recur_fail(RECUR_ERR_FORMAT,
                   "%s: %s:%zu: malformed UTF-8 at byte %zu of the line (0x%02X): %s", fn, path,
                   line, at, u[0], why);
        return 0;
    }
    *c = v;
    return len;
}

/* [s, e) of line `line` (starting at bol) is UTF-8 with no NUL. */
static recur_status data_check_utf8(const char *fn, const char *path, size_t line, const char *bol,
                                    const char *s, const char *e, const char *file_end) {
    uint32_t c;
    for (int len; s < e; s += len)
        if (!(len = data_char(fn, path, line, bol, s, file_end, &c))) return RECUR_ERR_FORMAT;
    return RECUR_OK;
}

/* ---- CSV ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    int col;
} csv_name;

static int csv_name_cmp(const void *a, const void *b) {
    const csv_name *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->col > y->col) - (x->col < y->col);
}

/* A repeated name: the first column that repeats an earlier one. Sorting
 * makes this O(cols log cols), whatever the header's width. */
static recur_status csv_unique(const char *path, const recur_table *t) {
    csv_name *v = malloc((size_t)t->cols * sizeof *v);
    if (!v) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, CSV ": %s: out of memory", path);
    for (int k = 0; k < t->cols; k++) v[k] = (csv_name){t->names[k], k};
    qsort(v, (size_t)t->cols, sizeof *v, csv_name_cmp);
    int first = -1, later = INT_MAX;
    for (int k = 1; k < t->cols; k++)
        if (!strcmp(v[k - 1].name, v[k].name) && v[k].col < later)
            first = v[k - 1].col, later = v[k].col;
    free(v);
    if (first < 0) return RECUR_OK;
    const char *s = t->names[later];
    size_t n = strlen(s);
    return recur_fail(RECUR_ERR_FORMAT, CSV ": %s:1: column %d's name '%.*s%s' repeats column %d's",
                      path, later + 1, SHOW(s, n), first + 1);
}

/* What a name must not be: empty, quoted, padded with spaces, holding
 * control characters or malformed UTF-8. */
static recur_status csv_name_check(const char *path, const char *bol, const char *s, const char *e,
                                   const char *file_end, int col) {
    size_t n = (size_t)(e - s);
    if (!n) return recur_fail(RECUR_ERR_FORMAT, CSV ": %s:1: column %d has no name", path, col + 1);
    const char *why = NULL;
    if (memchr(s, '"', n))
        why = "quoting is not supported";
    else if (*s == ' ' || *s == '\t' || e[-1] == ' ' || e[-1] == '\t')
        why = "spaces around a name are not trimmed";
    for (const char *p = s; p < e && !why; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) why = "a control character";
    if (why)
        return recur_fail(RECUR_ERR_FORMAT, CSV ": %s:1: column %d's name '%.*s%s': %s", path,
                          col + 1, SHOW(s, n), why);
    return data_check_utf8(CSV, path, 1, bol, s, e, file_end);
}

/* The header line [s, e): cols and names (names[0] starts one block that
 * holds every name). */
static recur_status csv_header(const char *path, const char *s, const char *e, const char *file_end,
                               recur_table *t) {
    if (s == e)
        return recur_fail(RECUR_ERR_FORMAT,
                          CSV ": %s:1: empty header line (a CSV file starts with the column names)",
                          path);
    size_t cols = 1;
    for (const char *p = s; p < e; p++) cols += *p == ',';
    if (cols > INT_MAX)
        return recur_fail(RECUR_ERR_FORMAT, CSV ": %s:1: %zu columns, over %d", path, cols,
                          INT_MAX);
    char *block = malloc((size_t)(e - s) + 1);
    char **names = malloc(cols * sizeof *names);
    if (!block || !names) {
        free(block), free(names);
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, CSV ": %s: out of memory", path);
    }
    names[0] = block; /* what recur_table_free frees, whatever happens next */
    t->names = names, t->cols = (int)cols;
    const char *p = s;
    for (int k = 0; k < t->cols; k++) {
        const char *comma = memchr(p, ',', (size_t)(e - p)), *q = comma ? comma : e;
        recur_status st = csv_name_check(path, s, p, q, file_end, k);
        if (st != RECUR_OK) return st;
        names[k] = block + (p - s);
        memcpy(names[k], p, (size_t)(q - p));
        names[k][q - p] = '\0';
        p = q + 1;
    }
    return csv_unique(path, t);
}

/* What strtod reads as a decimal number, and nothing else strtod accepts
 * (leading spaces, hex, inf, nan): [+-] digits [. digits] [(e|E) [+-]
 * digits], with a digit somewhere before the exponent. */
static int csv_decimal(const char *s, const char *e) {
    size_t digits = 0;
    if (s < e && (*s == '+' || *s == '-')) s++;
    for (; s < e && *s >= '0' && *s <= '9'; s++) digits++;
    if (s < e && *s == '.')
        for (s++; s < e && *s >= '0' && *s <= '9'; s++) digits++;
    if (!digits) return 0;
    if (s < e && (*s == 'e' || *s == 'E')) {
        if (++s < e && (*s == '+' || *s == '-')) s++;
        if (s == e || *s < '0' || *s > '9') return 0;
        while (s < e && *s >= '0' && *s <= '9') s++;
    }
    return s == e;
}

/* The cell [s, e) of column col; *e may be overwritten (it is a separator,
 * a line end or the NUL after the buffer). */
static recur_status csv_cell(const char *path, size_t line, const recur_table *t, int col, char *s,
                             char *e, double *v) {
    const char *name = t->names[col];
    size_t n = (size_t)(e - s), nn = strlen(name);
    if (!n)
        return recur_fail(RECUR_ERR_FORMAT, CSV ": %s:%zu: column '%.*s%s' (%d): empty cell", path,
                          line, SHOW(name, nn), col + 1);
    if (!csv_decimal(s, e))
        return recur_fail(RECUR_ERR_FORMAT,
                          CSV ": %s:%zu: column '%.*s%s' (%d): '%.*s%s' is not a number", path,
                          line, SHOW(name, nn), col + 1, SHOW(s, n));
    *e = '\0'; /* strtod reads all of a decimal cell, and stops there */
    *v = strtod(s, NULL);
    if (!isfinite(*v))
        return recur_fail(RECUR_ERR_FORMAT,
                          CSV ": %s:%zu: column '%.*s%s' (%d): '%.*s%s' is out of range", path,
                          line, SHOW(name, nn), col + 1, SHOW(s, n));
    return RECUR_OK;
}

/* The data rows after the header; t->values and t->rows grow as they go, so
 * the caller frees what is there on failure. */
static recur_status csv_rows(const char *path, data_reader *r, recur_table *t) {
    size_t cap = 0, cols = (size_t)t->cols;
    char *s, *e;
    while (data_line(r, &s, &e)) {
        if (s == e) {
            if (r->pos == r->end) break; /* one blank line may end the file */
            return recur_fail(RECUR_ERR_FORMAT, CSV ": %s:%zu: blank line", path, r->line);
        }
        const char *nul = memchr(s, '\0', (size_t)(e - s));
        if (nul)
            return recur_fail(RECUR_ERR_FORMAT,
                              CSV ": %s:%zu: NUL byte at byte %zu of the line (a binary file?)",
                              path, r->line, (size_t)(nul - s) + 1);
        size_t cells = 1;
        for (const char *p = s; p < e; p++) cells += *p == ',';
        if (cells != cols)
            return recur_fail(RECUR_ERR_FORMAT,
                              CSV ": %s:%zu: %zu cell%s, but the header names %zu column%s", path,
                              r->line, cells, cells == 1 ? "" : "s", cols, cols == 1 ? "" : "s");
        if (t->rows == cap) {
            size_t next = cap ? 2 * cap : 1 + 8192 / cols, bytes; /* wide rows start few */
            double *v;
            if (next < cap || !recur_mul(next, cols, &bytes) ||
                !recur_mul(bytes, sizeof(double), &bytes) || !(v = realloc(t->values, bytes)))
                return recur_fail(RECUR_ERR_OUT_OF_MEMORY,
                                  CSV ": %s:%zu: cannot allocate %zu rows of %zu values", path,
                                  r->line, next, cols);
            t->values = v, cap = next;
        }
        double *row = t->values + t->rows * cols;
        for (int k = 0; k < t->cols; k++) {
            char *comma = memchr(s, ',', (size_t)(e - s)), *q = comma ? comma : e;
            recur_status st = csv_cell(path, r->line, t, k, s, q, &row[k]);
            if (st != RECUR_OK) return st;
            s = q + 1;
        }
        t->rows++;
    }
    if (!t->rows)
        return recur_fail(RECUR_ERR_FORMAT, CSV ": %s: no data row after the header", path);
    double *v = realloc(t->values, t->rows * cols * sizeof(double));
    if (v) t->values = v;
    return RECUR_OK;
}

static recur_status csv_parse(const char *path, char *buf, size_t n, recur_table *t) {
    data_reader r = {buf + data_bom(buf, n), buf + n, 0};
    char *s, *e;
    if (!data_line(&r, &s, &e))
        return recur_fail(RECUR_ERR_FORMAT,
                          CSV ": %s: empty file (a CSV file starts with a header line)", path);
    recur_status st = csv_header(path, s, e, r.end, t);
    if (st != RECUR_OK) return st;
    /* strtod's decimal point is the locale's: read numbers in "C" on this thread */
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, CSV ": %s: out of memory", path);
    locale_t old = uselocale(c);
    st = csv_rows(path, &r, t);
    uselocale(old);
    freelocale(c);
    return st;
}

recur_status recur_csv_read(const char *path, recur_table *out) {
    if (!out) return recur_fail(RECUR_ERR_NULL_POINTER, CSV ": out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return recur_fail(RECUR_ERR_NULL_POINTER, CSV ": path is NULL");
    char *buf;
    size_t n;
    recur_status st = data_slurp(CSV, path, &buf, &n);
    if (st != RECUR_OK) return st;
    recur_table t = {0};
    st = csv_parse(path, buf, n, &t);
    free(buf);
    if (st == RECUR_OK)
        *out = t;
    else
        recur_table_free(&t);
    return st;
}

int recur_table_column(const recur_table *t, const char *name) {
    if (!t || !t->names || !name) return -1;
    for (int k = 0; k < t->cols; k++)
        if (!strcmp(t->names[k], name)) return k;
    return -1;
}

void recur_table_free(recur_table *t) {
    if (!t) return;
    if (t->names) free(t->names[0]);
    free(t->names);
    free(t->values);
    memset(t, 0, sizeof *t);
}

/* ---- Text ----------------------------------------------------------------- */

/* Every character's code point into t->ids (then turned into ids in place),
 * the distinct ones into t->chars through a bitmap of all code points. */
static recur_status text_decode(const char *path, const char *buf, size_t n, recur_text *t) {
    const char *p = buf + data_bom(buf, n), *end = buf + n, *bol = buf;
    if (p == end) return recur_fail(RECUR_ERR_FORMAT, TEXT ": %s: empty file", path);
    size_t bytes;
    uint64_t *seen = calloc(UNICODE_END / 64, sizeof *seen);
    if (recur_mul((size_t)(end - p), sizeof *t->ids, &bytes)) t->ids = malloc(bytes);
    if (!seen || !t->ids) {
        free(seen);
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, TEXT ": %s: cannot allocate for %zu bytes", path,
                          n);
    }
    size_t line = 1;
    for (int len; p < end; p += len) {
        uint32_t c;
        if (!(len = data_char(TEXT, path, line, bol, p, end, &c))) {
            free(seen);
            return RECUR_ERR_FORMAT;
        }
        if (c == '\n') line++, bol = p + 1;
        seen[c / 64] |= (uint64_t)1 << (c % 64);
        t->ids[t->n++] = (int32_t)c;
    }
    int vocab = 0;
    for (uint32_t w = 0; w < UNICODE_END / 64; w++) vocab += __builtin_popcountll(seen[w]);
    if (!(t->chars = malloc((size_t)vocab * sizeof *t->chars))) {
        free(seen);
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, TEXT ": %s: out of memory", path);
    }
    for (uint32_t w = 0; w < UNICODE_END / 64; w++)
        for (uint64_t b = seen[w]; b; b &= b - 1)
            t->chars[t->vocab++] = w * 64 + (uint32_t)__builtin_ctzll(b);
    free(seen);
    for (size_t k = 0; k < t->n; k++) t->ids[k] = recur_text_id(t, (uint32_t)t->ids[k]);
    int32_t *ids = realloc(t->ids, t->n * sizeof *ids);
    if (ids) t->ids = ids;
    return RECUR_OK;
}

recur_status recur_text_read(const char *path, recur_text *out) {
    if (!out) return recur_fail(RECUR_ERR_NULL_POINTER, TEXT ": out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return recur_fail(RECUR_ERR_NULL_POINTER, TEXT ": path is NULL");
    char *buf;
    size_t n;
    recur_status st = data_slurp(TEXT, path, &buf, &n);
    if (st != RECUR_OK) return st;
    recur_text t = {0};
    st = text_decode(path, buf, n, &t);
    free(buf);
    if (st == RECUR_OK)
        *out = t;
    else
        recur_text_free(&t);
    return st;
}

void recur_text_free(recur_text *t) {
    if (!t) return;
    free(t->ids);
    free(t->chars);
    memset(t, 0, sizeof *t);
}

int recur_text_id(const recur_text *t, uint32_t c) {
    if (!t || !t->chars) return -1;
    int lo = 0, hi = t->vocab;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (t->chars[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->vocab && t->chars[lo] == c ? lo : -1;
}

int recur_utf8_encode(uint32_t c, char *buf) {
    if (!buf) return 0;
    static const unsigned char lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
    unsigned char *u = (unsigned char *)buf;
    int len = c == 0 || (c >= 0xD800 && c <= 0xDFFF) || c >= UNICODE_END ? 0
              : c < 0x80                                                 ? 1
              : c < 0x800                                                ? 2
              : c < 0x10000                                              ? 3
                                                                         : 4;
    if (len == 1) u[0] = (unsigned char)c;
    if (len > 1) {
        for (int k = len - 1; k > 0; k--, c >>= 6) u[k] = (unsigned char)(0x80 | (c & 0x3F));
        u[0] = (unsigned char)(lead[len] | c);
    }
    u[len] = '\0';
    return len;
}

/* ---- Lines ---------------------------------------------------------------- */

/* Two passes: check every line and count the non-blank ones, then move them
 * to the front of buf, each NUL-terminated (the text only moves back, and a
 * last line without LF has the buffer's spare byte). On success l->lines[0]
 * is buf. */
static recur_status lines_split(const char *path, char *buf, size_t n, recur_lines *l) {
    char *start = buf + data_bom(buf, n), *s, *e;
    data_reader r = {start, buf + n, 0};
    size_t count = 0;
    while (data_line(&r, &s, &e)) {
        if (s == e) continue;
        if (data_check_utf8(LINES, path, r.line, s, s, e, r.end) != RECUR_OK)
            return RECUR_ERR_FORMAT;
        count++;
    }
    if (!count)
        return recur_fail(RECUR_ERR_FORMAT, LINES ": %s: has no lines (%s)", path,
                          start == r.end ? "empty file" : "only blank lines");
    l->lines = malloc(count * sizeof *l->lines);
    l->line_numbers = malloc(count * sizeof *l->line_numbers);
    if (!l->lines || !l->line_numbers)
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, LINES ": %s: cannot allocate %zu lines", path,
                          count);
    r = (data_reader){start, buf + n, 0};
    char *w = buf;
    while (data_line(&r, &s, &e)) {
        if (s == e) continue;
        size_t len = (size_t)(e - s);
        memmove(w, s, len);
        w[len] = '\0';
        l->lines[l->n] = w;
        l->line_numbers[l->n++] = r.line;
        w += len + 1;
    }
    return RECUR_OK;
}

recur_status recur_lines_read(const char *path, recur_lines *out) {
    if (!out) return recur_fail(RECUR_ERR_NULL_POINTER, LINES ": out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return recur_fail(RECUR_ERR_NULL_POINTER, LINES ": path is NULL");
    char *buf;
    size_t n;
    recur_status st = data_slurp(LINES, path, &buf, &n);
    if (st != RECUR_OK) return st;
    recur_lines l = {0};
    st = lines_split(path, buf, n, &l);
    if (st == RECUR_OK) {
        *out = l;
        return st;
    }
    free(buf);
    free(l.lines);
    free(l.line_numbers);
    return st;
}

void recur_lines_free(recur_lines *l) {
    if (!l) return;
    if (l->lines && l->n) free(l->lines[0]);
    free(l->lines);
    free(l->line_numbers);
    memset(l, 0, sizeof *l);
}
