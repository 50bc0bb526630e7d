/* IDX reader and MNIST loader: exact values of good files (plain and gzip,
 * byte order), every malformed file's status and message, and the loader's
 * checks. Fixtures are written into a fresh temporary directory. Uses only the
 * public header (and zlib to write gzip fixtures). */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, clock_gettime */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <recur.h>

#include "modeltest.h"

static char tmpdir[] = "/tmp/recur-idx-XXXXXX";

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

/* tmpdir/name into buf */
static char *at(char *buf, const char *name) {
    CU_ASSERT_FATAL(snprintf(buf, PATH_CAP, "%s/%s", tmpdir, name) < PATH_CAP);
    return buf;
}

/* dir/prefix-kind, plus ".gz" when gz, into buf */
static char *mnist_path(char *buf, const char *dir, const char *prefix, const char *kind, int gz) {
    int n = snprintf(buf, PATH_CAP, "%s/%s-%s%s", dir, prefix, kind, gz ? ".gz" : "");
    CU_ASSERT_FATAL(n < PATH_CAP);
    return buf;
}

static void put_be(unsigned char *p, uint64_t v, int n) {
    for (int b = n - 1; b >= 0; b--, v >>= 8) p[b] = (unsigned char)v;
}

/* An IDX header (magic 00 00) into b; returns its length. */
static size_t idx_header(unsigned char *b, unsigned type, int rank, const uint32_t *dims) {
    b[0] = 0, b[1] = 0, b[2] = (unsigned char)type, b[3] = (unsigned char)rank;
    for (int k = 0; k < rank; k++) put_be(b + 4 + 4 * k, dims[k], 4);
    return 4 + 4 * (size_t)rank;
}

static void write_plain(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(fwrite(b, 1, n, f) == n);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

static void write_gz(const char *path, const void *b, size_t n) {
    gzFile f = gzopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_FATAL(gzwrite(f, b, (unsigned)n) == (int)n);
    CU_ASSERT_FATAL(gzclose(f) == Z_OK);
}

static void write_file(const char *path, const void *b, size_t n, int gz) {
    if (gz)
        write_gz(path, b, n);
    else
        write_plain(path, b, n);
}

/* A whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    CU_ASSERT_FATAL(b && fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static int idx_zeroed(const recur_idx *x) {
    for (int k = 0; k < RECUR_IDX_MAX_RANK; k++)
        if (x->dims[k]) return 0;
    return x->type == 0 && x->rank == 0 && x->count == 0 && x->data == NULL;
}

/* The message names `path` and, after it, says `word` (so a fixture's name
 * cannot supply the word). */
static int says(const char *path, const char *word) {
    const char *m = strstr(recur_last_error(), path);
    if (m && strstr(m + strlen(path), word)) return 1;
    printf("\n    message \"%s\" does not name \"%s\" then \"%s\"", recur_last_error(), path, word);
    return 0;
}

/* recur_idx_read(path) fails with `want`, leaves its output zeroed, and the
 * message names the path, then `word`. */
static int read_fails(const char *path, recur_status want, const char *word) {
    recur_idx x;
    memset(&x, 0xAB, sizeof x);
    recur_status st = recur_idx_read(path, &x);
    if (st != want)
        printf("\n    %s: got %s, want %s", path, recur_status_string(st),
               recur_status_string(want));
    int ok = st == want && idx_zeroed(&x) && says(path, word);
    if (st == RECUR_OK) recur_idx_free(&x);
    return ok;
}

/* ---- Good files ---------------------------------------------------------- */

static void check_u8(const char *path, int rank, const uint32_t *dims, const unsigned char *v,
                     size_t n) {
    recur_idx x;
    CU_ASSERT_EQUAL_FATAL(recur_idx_read(path, &x), RECUR_OK);
    CU_ASSERT_EQUAL(x.type, RECUR_IDX_U8);
    CU_ASSERT_EQUAL(x.rank, rank);
    for (int k = 0; k < rank; k++) CU_ASSERT_EQUAL(x.dims[k], dims[k]);
    for (int k = rank; k < RECUR_IDX_MAX_RANK; k++) CU_ASSERT_EQUAL(x.dims[k], 0);
    CU_ASSERT_EQUAL(x.count, n);
    CU_ASSERT(x.data && memcmp(x.data, v, n) == 0);
    recur_idx_free(&x);
    CU_ASSERT(idx_zeroed(&x));
}

static void test_read_u8_rank3(void) {
    const uint32_t dims[] = {2, 3, 4};
    unsigned char b[64], v[24];
    for (int k = 0; k < 24; k++) v[k] = (unsigned char)(k * 11);
    size_t h = idx_header(b, RECUR_IDX_U8, 3, dims);
    memcpy(b + h, v, 24);
    char p[PATH_CAP];
    for (int gz = 0; gz < 2; gz++) {
        /* the name says nothing: gzip is detected from the content */
        write_file(at(p, gz ? "u8r3-gz" : "u8r3.gz"), b, h + 24, gz);
        check_u8(p, 3, dims, v, 24);
    }
}

static void test_read_u8_rank1(void) {
    const uint32_t dims[] = {7};
    const unsigned char v[] = {0, 1, 127, 128, 200, 254, 255};
    unsigned char b[32];
    size_t h = idx_header(b, RECUR_IDX_U8, 1, dims);
    memcpy(b + h, v, 7);
    char p[PATH_CAP];
    write_plain(at(p, "u8r1"), b, h + 7);
    check_u8(p, 1, dims, v, 7);
    write_gz(at(p, "u8r1.gz"), b, h + 7);
    check_u8(p, 1, dims, v, 7);
}

/* 4-byte elements given as big-endian bit patterns come back in host order. */
static recur_idx read_words(const char *name, unsigned type, const uint32_t *words, int gz) {
    const uint32_t dims[] = {2, 2};
    unsigned char b[64];
    size_t h = idx_header(b, type, 2, dims);
    for (int k = 0; k < 4; k++) put_be(b + h + 4 * k, words[k], 4);
    char p[PATH_CAP];
    write_file(at(p, name), b, h + 16, gz);
    recur_idx x;
    memset(&x, 0, sizeof x);
    CU_ASSERT_EQUAL(recur_idx_read(p, &x), RECUR_OK);
    CU_ASSERT_EQUAL(x.type, type);
    CU_ASSERT(x.rank == 2 && x.dims[0] == 2 && x.dims[1] == 2 && x.count == 4);
    return x;
}

static void test_read_i32(void) {
    const int32_t want[] = {0x01020304, -2, INT32_MIN, 7};
    uint32_t words[4];
    memcpy(words, want, sizeof words);
    for (int gz = 0; gz < 2; gz++) {
        recur_idx x = read_words(gz ? "i32.gz" : "i32", RECUR_IDX_I32, words, gz);
        CU_ASSERT(x.data && memcmp(x.data, want, sizeof want) == 0);
        recur_idx_free(&x);
    }
}

static void test_read_f32(void) {
    const float want[] = {1.5f, -0.25f, 3.0e38f, 1e-40f /* subnormal */};
    uint32_t words[4];
    memcpy(words, want, sizeof words);
    recur_idx x = read_words("f32", RECUR_IDX_F32, words, 0);
    const float *got = x.data;
    CU_ASSERT_FATAL(got != NULL);
    for (int k = 0; k < 4; k++) CU_ASSERT_EQUAL(got[k], want[k]);
    recur_idx_free(&x);
}

static void test_read_i8_i16_f64(void) {
    char p[PATH_CAP];
    unsigned char b[64];
    const uint32_t dims[] = {3};
    recur_idx x;

    size_t h = idx_header(b, RECUR_IDX_I8, 1, dims);
    b[h] = 0x80, b[h + 1] = 0xFF, b[h + 2] = 0x05;
    write_plain(at(p, "i8"), b, h + 3);
    CU_ASSERT_EQUAL_FATAL(recur_idx_read(p, &x), RECUR_OK);
    const int8_t *i8 = x.data;
    CU_ASSERT(x.type == RECUR_IDX_I8 && i8[0] == -128 && i8[1] == -1 && i8[2] == 5);
    recur_idx_free(&x);

    h = idx_header(b, RECUR_IDX_I16, 1, dims);
    const int16_t w16[] = {0x0102, -3, INT16_MIN};
    for (int k = 0; k < 3; k++) put_be(b + h + 2 * k, (uint16_t)w16[k], 2);
    write_plain(at(p, "i16"), b, h + 6);
    CU_ASSERT_EQUAL_FATAL(recur_idx_read(p, &x), RECUR_OK);
    CU_ASSERT(x.type == RECUR_IDX_I16 && memcmp(x.data, w16, sizeof w16) == 0);
    recur_idx_free(&x);

    h = idx_header(b, RECUR_IDX_F64, 1, dims);
    const double w64[] = {0.1, -1e300, 2.0};
    for (int k = 0; k < 3; k++) {
        uint64_t u;
        memcpy(&u, &w64[k], 8);
        put_be(b + h + 8 * k, u, 8);
    }
    write_plain(at(p, "f64"), b, h + 24);
    CU_ASSERT_EQUAL_FATAL(recur_idx_read(p, &x), RECUR_OK);
    const double *f64 = x.data;
    CU_ASSERT(x.type == RECUR_IDX_F64 && f64[0] == 0.1 && f64[1] == -1e300 && f64[2] == 2.0);
    recur_idx_free(&x);
}

/* ---- Malformed files ----------------------------------------------------- */

/* A u8 file of dims {2, 3} whose data part is `n` bytes long. */
static char *u8_file(char *p, const char *name, size_t n, int gz) {
    const uint32_t dims[] = {2, 3};
    unsigned char b[64] = {0};
    size_t h = idx_header(b, RECUR_IDX_U8, 2, dims);
    for (size_t k = 0; k < n; k++) b[h + k] = (unsigned char)(k + 1);
    write_file(at(p, name), b, h + n, gz);
    return p;
}

static void test_truncated(void) {
    char p[PATH_CAP];
    CU_ASSERT(read_fails(u8_file(p, "trunc", 4, 0), RECUR_ERR_FORMAT, "truncated"));
    CU_ASSERT(mentions("expected 6") && mentions("found 4"));
    CU_ASSERT(read_fails(u8_file(p, "trunc.gz", 4, 1), RECUR_ERR_FORMAT, "truncated"));
    CU_ASSERT(read_fails(u8_file(p, "nodata", 0, 0), RECUR_ERR_FORMAT, "found 0"));
    /* the header itself cut: rank 2 but one dimension */
    const unsigned char cut[] = {0, 0, 8, 2, 0, 0, 0, 2};
    write_plain(at(p, "trunc-head"), cut, sizeof cut);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "truncated header"));
    write_plain(at(p, "trunc-magic"), cut, 3);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "truncated header"));
}

static void test_empty(void) {
    char p[PATH_CAP];
    write_plain(at(p, "empty"), "", 0);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "empty"));
    write_gz(at(p, "empty.gz"), "", 0);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "empty"));
}

static void test_bad_magic(void) {
    char p[PATH_CAP];
    const unsigned char b[][9] = {{1, 0, 8, 1, 0, 0, 0, 1, 5}, {0, 7, 8, 1, 0, 0, 0, 1, 5}};
    for (int k = 0; k < 2; k++) {
        write_plain(at(p, k ? "magic1" : "magic0"), b[k], 9);
        CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "magic"));
    }
}

static void test_unknown_type(void) {
    char p[PATH_CAP];
    const unsigned types[] = {0x00, 0x07, 0x0A, 0x0F, 0xFF};
    for (int k = 0; k < 5; k++) {
        const unsigned char b[] = {0, 0, (unsigned char)types[k], 1, 0, 0, 0, 1, 5, 5, 5, 5, 5, 5,
                                   5, 5};
        write_plain(at(p, "type"), b, sizeof b);
        CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "type"));
    }
}

static void test_bad_rank(void) {
    char p[PATH_CAP];
    unsigned char b[64] = {0, 0, 8, 0};
    write_plain(at(p, "rank0"), b, 8);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "rank 0"));
    const uint32_t ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    size_t h = idx_header(b, RECUR_IDX_U8, 9, ones);
    write_plain(at(p, "rank9"), b, h + 1);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "rank 9"));
    /* the largest rank allowed reads */
    h = idx_header(b, RECUR_IDX_U8, RECUR_IDX_MAX_RANK, ones);
    write_plain(at(p, "rank8"), b, h + 1);
    recur_idx x;
    CU_ASSERT_EQUAL(recur_idx_read(p, &x), RECUR_OK);
    CU_ASSERT(x.rank == RECUR_IDX_MAX_RANK && x.count == 1);
    recur_idx_free(&x);
}

static void test_zero_dimension(void) {
    char p[PATH_CAP];
    const uint32_t dims[] = {3, 0, 2};
    unsigned char b[64];
    size_t h = idx_header(b, RECUR_IDX_U8, 3, dims);
    write_plain(at(p, "dim0"), b, h);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "dimension 1 is 0"));
}

static void test_overflowing_dimensions(void) {
    char p[PATH_CAP];
    unsigned char b[64];
    const uint32_t big[] = {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF};
    write_plain(at(p, "ovf-count"), b, idx_header(b, RECUR_IDX_U8, 4, big) + 8);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "overflow"));
    /* the element count fits, its bytes (x4) do not */
    write_plain(at(p, "ovf-bytes"), b, idx_header(b, RECUR_IDX_I32, 2, big) + 8);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "overflow"));
    const uint32_t over[] = {1u << 20, 1u << 20, 2}; /* 2^41 bytes */
    write_plain(at(p, "over-limit"), b, idx_header(b, RECUR_IDX_U8, 3, over) + 8);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "2^40"));
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* 16-byte header claiming 2^39 bytes, then 4 bytes: a reader that trusts the
 * header would ask for 512 GiB and fail for memory (or take long), not say
 * the file is truncated. */
static void test_huge_claim_small_file(void) {
    char p[PATH_CAP];
    const uint32_t dims[] = {1u << 13, 1u << 13, 1u << 13};
    unsigned char b[64] = {0};
    write_plain(at(p, "huge-claim"), b, idx_header(b, RECUR_IDX_U8, 3, dims) + 4);
    double t0 = now();
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "truncated"));
    CU_ASSERT(mentions("549755813888") && mentions("found 4"));
    CU_ASSERT(now() - t0 < 1.0);
}

static void test_trailing_bytes(void) {
    char p[PATH_CAP];
    CU_ASSERT(read_fails(u8_file(p, "trail", 7, 0), RECUR_ERR_FORMAT, "trailing"));
    CU_ASSERT(read_fails(u8_file(p, "trail.gz", 7, 1), RECUR_ERR_FORMAT, "trailing"));
    recur_idx x; /* exactly the right size reads */
    CU_ASSERT_EQUAL(recur_idx_read(u8_file(p, "exact", 6, 0), &x), RECUR_OK);
    recur_idx_free(&x);
}

/* A valid gzip IDX file of 64 KiB of varied bytes; returns its path. */
static char *gz_fixture(char *p, const char *name) {
    enum { N = 1 << 16 };
    const uint32_t dims[] = {N};
    unsigned char *b = malloc(N + 8);
    size_t h = idx_header(b, RECUR_IDX_U8, 1, dims);
    test_rng r = {42};
    for (size_t k = 0; k < N; k++) b[h + k] = (unsigned char)(rng_next(&r) % 16);
    write_gz(at(p, name), b, h + N);
    free(b);
    recur_idx x; /* intact, it reads */
    CU_ASSERT_EQUAL(recur_idx_read(p, &x), RECUR_OK);
    recur_idx_free(&x);
    return p;
}

static void test_corrupt_gzip(void) {
    char p[PATH_CAP];
    size_t n;
    unsigned char *b = slurp(gz_fixture(p, "flipped.gz"), &n);
    for (size_t k = n / 2; k < n / 2 + 8; k++) b[k] ^= 0xFF;
    write_plain(p, b, n);
    free(b);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "gzip"));
}

static void test_truncated_gzip(void) {
    char p[PATH_CAP];
    size_t n;
    unsigned char *b = slurp(gz_fixture(p, "halved.gz"), &n);
    write_plain(p, b, n / 2);
    free(b);
    CU_ASSERT(read_fails(p, RECUR_ERR_FORMAT, "gzip"));
}

static void test_missing_file(void) {
    char p[PATH_CAP];
    CU_ASSERT(read_fails(at(p, "no-such-file"), RECUR_ERR_IO, "cannot open"));
    CU_ASSERT(mentions("No such file"));
    /* a directory opens but cannot be read */
    CU_ASSERT(read_fails(tmpdir, RECUR_ERR_IO, "read failed"));
}

static void test_null_arguments(void) {
    char p[PATH_CAP];
    recur_idx x;
    memset(&x, 0xAB, sizeof x);
    CU_ASSERT_EQUAL(recur_idx_read(NULL, &x), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(idx_zeroed(&x) && mentions("path"));
    CU_ASSERT_EQUAL(recur_idx_read(u8_file(p, "null-out", 6, 0), NULL), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("out"));
    recur_idx_free(NULL);
    recur_idx_free(&x);
    recur_dataset d;
    CU_ASSERT_EQUAL(recur_mnist_load(NULL, "train", &d), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("dir"));
    CU_ASSERT_EQUAL(recur_mnist_load(tmpdir, NULL, &d), RECUR_ERR_NULL_POINTER);
    CU_ASSERT(mentions("prefix"));
    CU_ASSERT_EQUAL(recur_mnist_load(tmpdir, "train", NULL), RECUR_ERR_NULL_POINTER);
    recur_dataset_free(NULL);
}

/* ---- MNIST --------------------------------------------------------------- */

/* A fresh folder tmpdir/name. */
static char *subdir(char *p, const char *name) {
    CU_ASSERT_FATAL(mkdir(at(p, name), 0700) == 0);
    return p;
}

static unsigned char pixel(size_t k) {
    return (unsigned char)(k * 37 % 256);
}

/* dir/prefix-images-idx3-ubyte (n images rows x cols of `type`, pixel(k)) and
 * dir/prefix-labels-idx1-ubyte (nl labels), with ".gz" and gzip'd when gz. */
static void write_mnist(const char *dir, const char *prefix, uint32_t n, uint32_t rows,
                        uint32_t cols, unsigned type, const unsigned char *labels, uint32_t nl,
                        int gz) {
    char p[PATH_CAP];
    const uint32_t dims[] = {n, rows, cols};
    size_t bytes = n * rows * cols * (type == RECUR_IDX_U8 ? 1 : 4);
    unsigned char *b = malloc(16 + bytes + 8 + nl);
    size_t h = idx_header(b, type, 3, dims);
    for (size_t k = 0; k < bytes; k++) b[h + k] = pixel(k);
    write_file(mnist_path(p, dir, prefix, "images-idx3-ubyte", gz), b, h + bytes, gz);
    h = idx_header(b, RECUR_IDX_U8, 1, &nl);
    memcpy(b + h, labels, nl);
    write_file(mnist_path(p, dir, prefix, "labels-idx1-ubyte", gz), b, h + nl, gz);
    free(b);
}

static const unsigned char labels5[] = {3, 0, 9, 1, 7};

static void check_set(const char *dir, const char *prefix) {
    recur_dataset d;
    CU_ASSERT_EQUAL_FATAL(recur_mnist_load(dir, prefix, &d), RECUR_OK);
    CU_ASSERT(d.n == 5 && d.seq_len == 3 && d.features == 4);
    for (size_t k = 0; k < 5 * 3 * 4; k++) CU_ASSERT_EQUAL(d.x[k], pixel(k) / 255.0f);
    for (size_t i = 0; i < 5; i++) CU_ASSERT_EQUAL(d.y[i], (float)labels5[i]);
    recur_dataset_free(&d);
    CU_ASSERT(d.n == 0 && d.x == NULL && d.y == NULL);
}

static void test_mnist_plain(void) {
    char dir[PATH_CAP];
    write_mnist(subdir(dir, "mnist-plain"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 0);
    check_set(dir, "train");
}

static void test_mnist_gzip_only(void) {
    char dir[PATH_CAP];
    write_mnist(subdir(dir, "mnist-gz"), "t10k", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 1);
    check_set(dir, "t10k");
}

static void test_mnist_scaling(void) {
    char dir[PATH_CAP], p[PATH_CAP];
    write_mnist(subdir(dir, "mnist-scale"), "train", 1, 2, 2, RECUR_IDX_U8, labels5, 1, 0);
    const uint32_t dims[] = {1, 2, 2};
    unsigned char b[32];
    size_t h = idx_header(b, RECUR_IDX_U8, 3, dims);
    b[h] = 0, b[h + 1] = 255, b[h + 2] = 51, b[h + 3] = 128;
    mnist_path(p, dir, "train", "images-idx3-ubyte", 0);
    write_plain(p, b, h + 4);
    recur_dataset d;
    CU_ASSERT_EQUAL_FATAL(recur_mnist_load(dir, "train", &d), RECUR_OK);
    CU_ASSERT_EQUAL(d.x[0], 0.0f);
    CU_ASSERT_EQUAL(d.x[1], 1.0f);
    CU_ASSERT_EQUAL(d.x[2], 0.2f);
    CU_ASSERT_EQUAL(d.x[3], 128 / 255.0f);
    recur_dataset_free(&d);
}

/* recur_mnist_load(dir, "train") fails with `want`, leaves *out zeroed, and
 * the message contains each of the NULL-terminated words. */
static int mnist_fails(const char *dir, recur_status want, const char *const *words) {
    recur_dataset d;
    memset(&d, 0xAB, sizeof d);
    recur_status st = recur_mnist_load(dir, "train", &d);
    if (st != want)
        printf("\n    %s: got %s, want %s", dir, recur_status_string(st),
               recur_status_string(want));
    int ok = st == want && d.n == 0 && d.seq_len == 0 && d.features == 0 && !d.x && !d.y;
    for (; *words; words++) ok &= mentions(*words);
    if (st == RECUR_OK) recur_dataset_free(&d);
    return ok;
}

static void test_mnist_label_out_of_range(void) {
    char dir[PATH_CAP], lp[PATH_CAP];
    const unsigned char bad[] = {0, 1, 2, 10, 4};
    write_mnist(subdir(dir, "mnist-label"), "train", 5, 3, 4, RECUR_IDX_U8, bad, 5, 0);
    mnist_path(lp, dir, "train", "labels-idx1-ubyte", 0);
    CU_ASSERT(mnist_fails(dir, RECUR_ERR_FORMAT, (const char *[]){lp, "label 3", "is 10", NULL}));
}

static void test_mnist_count_mismatch(void) {
    char dir[PATH_CAP], ip[PATH_CAP], lp[PATH_CAP];
    write_mnist(subdir(dir, "mnist-count"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 4, 0);
    mnist_path(ip, dir, "train", "images-idx3-ubyte", 0);
    mnist_path(lp, dir, "train", "labels-idx1-ubyte", 0);
    CU_ASSERT(
        mnist_fails(dir, RECUR_ERR_FORMAT, (const char *[]){ip, lp, "5 images", "4 labels", NULL}));
}

static void test_mnist_wrong_types(void) {
    char dir[PATH_CAP], p[PATH_CAP];
    write_mnist(subdir(dir, "mnist-i32"), "train", 5, 3, 4, RECUR_IDX_I32, labels5, 5, 0);
    mnist_path(p, dir, "train", "images-idx3-ubyte", 0);
    CU_ASSERT(mnist_fails(dir, RECUR_ERR_FORMAT, (const char *[]){p, "u8 of rank 3", NULL}));
    /* images of rank 2 */
    const uint32_t dims[] = {5, 12};
    unsigned char b[128] = {0};
    write_plain(p, b, idx_header(b, RECUR_IDX_U8, 2, dims) + 60);
    CU_ASSERT(mnist_fails(dir, RECUR_ERR_FORMAT, (const char *[]){p, "rank 2", NULL}));
    /* labels of rank 2 */
    write_mnist(subdir(dir, "mnist-lrank"), "train", 2, 1, 1, RECUR_IDX_U8, labels5, 2, 0);
    mnist_path(p, dir, "train", "labels-idx1-ubyte", 0);
    const uint32_t ldims[] = {2, 1};
    write_plain(p, b, idx_header(b, RECUR_IDX_U8, 2, ldims) + 2);
    CU_ASSERT(mnist_fails(dir, RECUR_ERR_FORMAT, (const char *[]){p, "u8 of rank 1", NULL}));
}

static void test_mnist_missing_and_broken(void) {
    char dir[PATH_CAP], p[PATH_CAP];
    subdir(dir, "mnist-none");
    mnist_path(p, dir, "train", "images-idx3-ubyte", 0);
    CU_ASSERT(mnist_fails(dir, RECUR_ERR_IO, (const char *[]){p, "exists", NULL}));
    strcat(p, ".gz");
    CU_ASSERT(mentions(p));
    /* a broken labels file: the reader's own message, naming that file */
    write_mnist(subdir(dir, "mnist-broken"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 0);
    mnist_path(p, dir, "train", "labels-idx1-ubyte", 0);
    write_plain(p, "\0\0\x08\x01\0\0\0\x05\x01", 9);
    CU_ASSERT(mnist_fails(dir, RECUR_ERR_FORMAT, (const char *[]){p, "truncated", NULL}));
}

/* recur_mnist_load_pair(dir) fails with RECUR_ERR_FORMAT, both sets zeroed,
 * the message containing each word. */
static int pair_fails(const char *dir, const char *const *words) {
    recur_dataset tr, te;
    memset(&tr, 0xAB, sizeof tr);
    memset(&te, 0xAB, sizeof te);
    recur_status st = recur_mnist_load_pair(dir, &tr, &te);
    int ok = st == RECUR_ERR_FORMAT && tr.n == 0 && !tr.x && !tr.y && te.n == 0 && !te.x && !te.y;
    for (; *words; words++) ok &= mentions(*words);
    if (st == RECUR_OK) recur_dataset_free(&tr), recur_dataset_free(&te);
    return ok;
}

static void test_mnist_pair(void) {
    char dir[PATH_CAP], tri[PATH_CAP], tei[PATH_CAP], trl[PATH_CAP], tel[PATH_CAP];
    recur_dataset tr, te;
    /* agreeing sets: a test set may use fewer classes than training */
    const unsigned char four[] = {3, 0, 9, 3};
    write_mnist(subdir(dir, "pair-ok"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 0);
    write_mnist(dir, "t10k", 4, 3, 4, RECUR_IDX_U8, four, 4, 1);
    CU_ASSERT_EQUAL_FATAL(recur_mnist_load_pair(dir, &tr, &te), RECUR_OK);
    CU_ASSERT(tr.n == 5 && te.n == 4 && te.seq_len == 3 && te.features == 4 && te.y[2] == 9.0f);
    recur_dataset_free(&tr), recur_dataset_free(&te);
    /* test images of another shape */
    write_mnist(subdir(dir, "pair-shape"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 0);
    write_mnist(dir, "t10k", 5, 4, 3, RECUR_IDX_U8, labels5, 5, 0);
    mnist_path(tri, dir, "train", "images-idx3-ubyte", 0);
    mnist_path(tei, dir, "t10k", "images-idx3-ubyte", 0);
    CU_ASSERT(pair_fails(dir, (const char *[]){tri, tei, "3 x 4", "4 x 3", NULL}));
    /* a test class that training never shows */
    const unsigned char other[] = {3, 0, 9, 1, 8};
    write_mnist(subdir(dir, "pair-labels"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 0);
    write_mnist(dir, "t10k", 5, 3, 4, RECUR_IDX_U8, other, 5, 0);
    mnist_path(trl, dir, "train", "labels-idx1-ubyte", 0);
    mnist_path(tel, dir, "t10k", "labels-idx1-ubyte", 0);
    CU_ASSERT(pair_fails(dir, (const char *[]){trl, tel, "class 8", "label 4", NULL}));
    /* either set broken on its own: that set's own message */
    write_mnist(subdir(dir, "pair-count"), "train", 5, 3, 4, RECUR_IDX_U8, labels5, 5, 0);
    write_mnist(dir, "t10k", 5, 3, 4, RECUR_IDX_U8, labels5, 4, 0);
    CU_ASSERT(pair_fails(dir, (const char *[]){"5 images", "4 labels", NULL}));
    CU_ASSERT_EQUAL(recur_mnist_load_pair(dir, NULL, &te), RECUR_ERR_NULL_POINTER);
}

int main(void) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("idx", suite_init, suite_cleanup);
    if (!s) return 2;
    ADD_TEST(s, test_read_u8_rank3);
    ADD_TEST(s, test_read_u8_rank1);
    ADD_TEST(s, test_read_i32);
    ADD_TEST(s, test_read_f32);
    ADD_TEST(s, test_read_i8_i16_f64);
    ADD_TEST(s, test_truncated);
    ADD_TEST(s, test_empty);
    ADD_TEST(s, test_bad_magic);
    ADD_TEST(s, test_unknown_type);
    ADD_TEST(s, test_bad_rank);
    ADD_TEST(s, test_zero_dimension);
    ADD_TEST(s, test_overflowing_dimensions);
    ADD_TEST(s, test_huge_claim_small_file);
    ADD_TEST(s, test_trailing_bytes);
    ADD_TEST(s, test_corrupt_gzip);
    ADD_TEST(s, test_truncated_gzip);
    ADD_TEST(s, test_missing_file);
    ADD_TEST(s, test_null_arguments);
    ADD_TEST(s, test_mnist_plain);
    ADD_TEST(s, test_mnist_gzip_only);
    ADD_TEST(s, test_mnist_scaling);
    ADD_TEST(s, test_mnist_label_out_of_range);
    ADD_TEST(s, test_mnist_count_mismatch);
    ADD_TEST(s, test_mnist_wrong_types);
    ADD_TEST(s, test_mnist_missing_and_broken);
    ADD_TEST(s, test_mnist_pair);
    return test_main_run();
}
