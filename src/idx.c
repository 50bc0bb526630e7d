/* IDX files (the MNIST container) and the MNIST loader.
 *
 * IDX: 0 0 <type> <rank> | rank big-endian uint32 dims | elements, big-endian,
 * row-major. zlib's gz* calls read plain and gzip files alike. The header is
 * never trusted for an allocation: a 20-byte file can claim 2^39 bytes, so the
 * buffer grows only as bytes actually arrive. */
#define _POSIX_C_SOURCE 200809L /* access() */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

#define IDX_MAX_BYTES ((size_t)1 << 40)
#define IDX_FIRST_CHUNK ((size_t)1 << 16)
#define IDX_MAX_GZREAD ((size_t)1 << 30) /* gzread takes an unsigned and returns an int */
#define MNIST_CLASSES 10

static size_t idx_elem_size(unsigned type) {
    switch (type) {
    case RECUR_IDX_U8:
    case RECUR_IDX_I8:
        return 1;
    case RECUR_IDX_I16:
        return 2;
    case RECUR_IDX_I32:
    case RECUR_IDX_F32:
        return 4;
    case RECUR_IDX_F64:
        return 8;
    }
    return 0;
}

/* zlib's messages start "<path>: ", which ours already say. */
static const char *gz_reason(const char *msg, const char *path) {
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* Up to n bytes into p; *got says how many. A short count with no error is the
 * end of the file. zlib reports a damaged or cut gzip stream only through
 * gzerror, so it is asked after every read. */
static recur_status idx_fill(gzFile f, const char *path, void *p, size_t n, size_t *got) {
    *got = 0;
    while (*got < n) {
        size_t ask = n - *got < IDX_MAX_GZREAD ? n - *got : IDX_MAX_GZREAD;
        int r = gzread(f, (unsigned char *)p + *got, (unsigned)ask);
        int err;
        const char *msg = gz_reason(gzerror(f, &err), path);
        if (err == Z_ERRNO)
            return recur_fail(RECUR_ERR_IO, "recur_idx_read: %s: read failed: %s", path, msg);
        if (err == Z_MEM_ERROR)
            return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "recur_idx_read: %s: zlib: %s", path, msg);
        if (err != Z_OK)
            return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: corrupt gzip stream: %s", path,
                              msg);
        if (r < 0) return recur_fail(RECUR_ERR_IO, "recur_idx_read: %s: read failed", path);
        if (r == 0) break;
        *got += (size_t)r;
    }
    return RECUR_OK;
}

/* Big-endian elements to host order, in place, whatever the host's order. */
static void idx_to_host(unsigned char *p, size_t count, size_t esize) {
    for (size_t i = 0; esize > 1 && i < count; i++, p += esize) {
        uint64_t v = 0;
        for (size_t b = 0; b < esize; b++) v = v << 8 | p[b];
        uint16_t v16 = (uint16_t)v;
        uint32_t v32 = (uint32_t)v;
        memcpy(p, esize == 2 ? (void *)&v16 : esize == 4 ? (void *)&v32 : (void *)&v, esize);
    }
}

/* Header, then data; on failure the caller frees idx->data. */
static recur_status idx_load(gzFile f, const char *path, recur_idx *idx) {
    unsigned char head[4 + 4 * RECUR_IDX_MAX_RANK];
    size_t got;
    recur_status st = idx_fill(f, path, head, 4, &got);
    if (st != RECUR_OK) return st;
    if (got == 0) return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: empty file", path);
    if (got < 4)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_idx_read: %s: truncated header: expected 4 bytes, found %zu", path,
                          got);
    if (head[0] || head[1])
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_idx_read: %s: bad magic %02x %02x (an IDX file starts 00 00)",
                          path, head[0], head[1]);
    size_t esize = idx_elem_size(head[2]);
    if (!esize)
        return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: unknown type byte 0x%02x", path,
                          head[2]);
    int rank = head[3];
    if (rank < 1 || rank > RECUR_IDX_MAX_RANK)
        return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: rank %d (must be 1..%d)", path,
                          rank, RECUR_IDX_MAX_RANK);
    size_t head_len = 4 + 4 * (size_t)rank;
    if ((st = idx_fill(f, path, head + 4, head_len - 4, &got)) != RECUR_OK) return st;
    if (got < head_len - 4)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_idx_read: %s: truncated header: expected %zu bytes, found %zu",
                          path, head_len, 4 + got);

    size_t count = 1, bytes;
    for (int k = 0; k < rank; k++) {
        const unsigned char *d = head + 4 + 4 * k;
        idx->dims[k] = (size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];
        if (!idx->dims[k])
            return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: dimension %d is 0", path, k);
        if (!recur_mul(count, idx->dims[k], &count))
            return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: dimensions overflow size_t",
                              path);
    }
    if (!recur_mul(count, esize, &bytes))
        return recur_fail(RECUR_ERR_FORMAT, "recur_idx_read: %s: data size overflows size_t", path);
    if (bytes > IDX_MAX_BYTES)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_idx_read: %s: header claims %zu bytes of data, over the 2^40-byte "
                          "limit",
                          path, bytes);

    unsigned char *buf = NULL;
    size_t cap = 0, have = 0;
    while (have < bytes) {
        size_t next = !cap ? (bytes < IDX_FIRST_CHUNK ? bytes : IDX_FIRST_CHUNK)
                           : (cap > bytes / 2 ? bytes : 2 * cap);
        if (!(buf = realloc(idx->data, next)))
            return recur_fail(RECUR_ERR_OUT_OF_MEMORY,
                              "recur_idx_read: %s: cannot allocate %zu bytes", path, next);
        idx->data = buf, cap = next;
        st = idx_fill(f, path, buf + have, cap - have, &got);
        have += got;
        if (st != RECUR_OK) return st;
        if (have < cap) break;
    }
    if (have < bytes)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_idx_read: %s: truncated: expected %zu bytes of data after the "
                          "%zu-byte header, found %zu",
                          path, bytes, head_len, have);
    unsigned char extra;
    if ((st = idx_fill(f, path, &extra, 1, &got)) != RECUR_OK) return st;
    if (got)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_idx_read: %s: trailing bytes after the %zu bytes of data", path,
                          bytes);

    idx_to_host(buf, count, esize);
    idx->type = (recur_idx_type)head[2];
    idx->rank = rank;
    idx->count = count;
    return RECUR_OK;
}

recur_status recur_idx_read(const char *path, recur_idx *out) {
    if (!out) return recur_fail(RECUR_ERR_NULL_POINTER, "recur_idx_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return recur_fail(RECUR_ERR_NULL_POINTER, "recur_idx_read: path is NULL");
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) /* errno 0: zlib could not allocate its state */
        return recur_fail(errno ? RECUR_ERR_IO : RECUR_ERR_OUT_OF_MEMORY,
                          "recur_idx_read: %s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 17);
    recur_idx idx;
    memset(&idx, 0, sizeof idx);
    recur_status st = idx_load(f, path, &idx);
    gzclose(f);
    if (st == RECUR_OK)
        *out = idx;
    else
        free(idx.data);
    return st;
}

void recur_idx_free(recur_idx *idx) {
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* Reads DIR/PREFIX-NAME, or DIR/PREFIX-NAME.gz when the plain file does not
 * exist; *path (the caller frees it) is the file read, for later messages. */
static recur_status mnist_part(const char *dir, const char *prefix, const char *name, char **path,
                               recur_idx *idx) {
    size_t n = strlen(dir) + strlen(prefix) + strlen(name) + sizeof "/-.gz";
    char *p = *path = malloc(n);
    if (!p) return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "recur_mnist_load: out of memory");
    int len = snprintf(p, n, "%s/%s-%s", dir, prefix, name);
    if (access(p, F_OK) != 0 && errno == ENOENT) {
        strcpy(p + len, ".gz");
        if (access(p, F_OK) != 0 && errno == ENOENT) {
            p[len] = '\0';
            return recur_fail(RECUR_ERR_IO, "recur_mnist_load: neither %s nor %s.gz exists", p, p);
        }
    }
    return recur_idx_read(p, idx);
}

static recur_status mnist_check(const char *ipath, const recur_idx *img, const char *lpath,
                                const recur_idx *lab) {
    if (img->type != RECUR_IDX_U8 || img->rank != 3)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_mnist_load: %s: images must be u8 of rank 3, got type 0x%02x of "
                          "rank %d",
                          ipath, (unsigned)img->type, img->rank);
    if (lab->type != RECUR_IDX_U8 || lab->rank != 1)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_mnist_load: %s: labels must be u8 of rank 1, got type 0x%02x of "
                          "rank %d",
                          lpath, (unsigned)lab->type, lab->rank);
    if (img->dims[0] != lab->dims[0])
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_mnist_load: count mismatch: %s holds %zu images, %s holds %zu "
                          "labels",
                          ipath, img->dims[0], lpath, lab->dims[0]);
    if (img->dims[1] > INT_MAX || img->dims[2] > INT_MAX)
        return recur_fail(RECUR_ERR_FORMAT, "recur_mnist_load: %s: images of %zux%zu are too large",
                          ipath, img->dims[1], img->dims[2]);
    const unsigned char *y = lab->data;
    for (size_t i = 0; i < lab->count; i++)
        if (y[i] >= MNIST_CLASSES)
            return recur_fail(RECUR_ERR_FORMAT,
                              "recur_mnist_load: %s: label %zu is %u, outside 0..%d", lpath, i,
                              (unsigned)y[i], MNIST_CLASSES - 1);
    return RECUR_OK;
}

static recur_status mnist_convert(const recur_idx *img, const recur_idx *lab, recur_dataset *d) {
    size_t xbytes;
    if (!recur_mul(img->count, sizeof(float), &xbytes) || !(d->x = malloc(xbytes)) ||
        !(d->y = malloc(lab->count * sizeof(float))))
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "recur_mnist_load: cannot allocate %zu images",
                          img->dims[0]);
    const unsigned char *px = img->data, *y = lab->data;
    for (size_t k = 0; k < img->count; k++) d->x[k] = px[k] / 255.0f;
    for (size_t i = 0; i < lab->count; i++) d->y[i] = y[i];
    d->n = img->dims[0];
    d->seq_len = (int)img->dims[1];
    d->features = (int)img->dims[2];
    return RECUR_OK;
}

/* One set; *ipath and *lpath (the caller frees them, also on failure) name
 * the files read. */
static recur_status mnist_load(const char *dir, const char *prefix, recur_dataset *out,
                               char **ipath, char **lpath) {
    *ipath = *lpath = NULL;
    if (!out) return recur_fail(RECUR_ERR_NULL_POINTER, "recur_mnist_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir) return recur_fail(RECUR_ERR_NULL_POINTER, "recur_mnist_load: dir is NULL");
    if (!prefix) return recur_fail(RECUR_ERR_NULL_POINTER, "recur_mnist_load: prefix is NULL");
    recur_idx img, lab;
    memset(&img, 0, sizeof img);
    memset(&lab, 0, sizeof lab);
    recur_status st = mnist_part(dir, prefix, "images-idx3-ubyte", ipath, &img);
    if (st == RECUR_OK) st = mnist_part(dir, prefix, "labels-idx1-ubyte", lpath, &lab);
    if (st == RECUR_OK) st = mnist_check(*ipath, &img, *lpath, &lab);
    if (st == RECUR_OK) st = mnist_convert(&img, &lab, out);
    if (st != RECUR_OK) recur_dataset_free(out);
    recur_idx_free(&img);
    recur_idx_free(&lab);
    return st;
}

recur_status recur_mnist_load(const char *dir, const char *prefix, recur_dataset *out) {
    char *ipath, *lpath;
    recur_status st = mnist_load(dir, prefix, out, &ipath, &lpath);
    free(ipath);
    free(lpath);
    return st;
}

/* The two sets must describe one task: the same image shape, and no test
 * class that training never shows. */
static recur_status mnist_agree(const recur_dataset *train, const char *tri, const char *trl,
                                const recur_dataset *test, const char *tei, const char *tel) {
    if (train->seq_len != test->seq_len || train->features != test->features)
        return recur_fail(RECUR_ERR_FORMAT,
                          "recur_mnist_load_pair: image shapes differ: %s holds %d x %d images, "
                          "%s holds %d x %d",
                          tri, train->seq_len, train->features, tei, test->seq_len,
                          test->features);
    unsigned char seen[MNIST_CLASSES] = {0};
    for (size_t i = 0; i < train->n; i++) seen[(int)train->y[i]] = 1;
    for (size_t i = 0; i < test->n; i++)
        if (!seen[(int)test->y[i]])
            return recur_fail(RECUR_ERR_FORMAT,
                              "recur_mnist_load_pair: label sets differ: %s has class %d (label "
                              "%zu), which no label in %s has",
                              tel, (int)test->y[i], i, trl);
    return RECUR_OK;
}

recur_status recur_mnist_load_pair(const char *dir, recur_dataset *train, recur_dataset *test) {
    if (!train || !test)
        return recur_fail(RECUR_ERR_NULL_POINTER, "recur_mnist_load_pair: %s is NULL",
                          train ? "test" : "train");
    memset(test, 0, sizeof *test);
    char *p[4];
    recur_status st = mnist_load(dir, "train", train, &p[0], &p[1]);
    p[2] = p[3] = NULL;
    if (st == RECUR_OK) st = mnist_load(dir, "t10k", test, &p[2], &p[3]);
    if (st == RECUR_OK) st = mnist_agree(train, p[0], p[1], test, p[2], p[3]);
    if (st != RECUR_OK) recur_dataset_free(train), recur_dataset_free(test);
    for (int k = 0; k < 4; k++) free(p[k]);
    return st;
}

void recur_dataset_free(recur_dataset *d) {
    if (!d) return;
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}
