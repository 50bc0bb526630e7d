/* IDX and MNIST reading on arbitrary bytes, plain or gzip (zlib detects which).
 * The input is read as one IDX file, then given to recur_mnist_load twice:
 * as both the images and the labels file (prefix "train", labels under the
 * .gz name), and, when it holds a u8 rank-1 header (00 00 08 01) past its
 * start, split there into images and labels (prefix "t10k", images under
 * the .gz name), so valid pairs reach the conversion. Checked beyond "no
 * crash": what the header promises is what was allocated, and failures leave
 * the output zeroed as documented. */
#define _GNU_SOURCE /* memmem */
#include "fuzz_util.h"

static void check_idx(const char *path) {
    recur_idx idx;
    memset(&idx, 0xA5, sizeof idx);
    if (recur_idx_read(path, &idx) != RECUR_OK) {
        FUZZ_CHECK(fuzz_all_zero(&idx, sizeof idx));
        FUZZ_CHECK(recur_last_error()[0] != '\0');
        return;
    }
    FUZZ_CHECK(idx.rank >= 1 && idx.rank <= RECUR_IDX_MAX_RANK);
    size_t count = 1;
    for (int k = 0; k < idx.rank; k++) count *= idx.dims[k];
    FUZZ_CHECK(count == idx.count && idx.data != NULL);
    size_t esize = idx.type == RECUR_IDX_U8 || idx.type == RECUR_IDX_I8 ? 1
                   : idx.type == RECUR_IDX_I16                          ? 2
                   : idx.type == RECUR_IDX_F64                          ? 8
                                                                        : 4;
    /* every promised byte is readable (ASan checks the allocation's size) */
    const volatile unsigned char *p = idx.data;
    unsigned sum = 0;
    for (size_t k = 0; k < count * esize; k++) sum += p[k];
    (void)sum;
    recur_idx_free(&idx);
    FUZZ_CHECK(fuzz_all_zero(&idx, sizeof idx));
}

static void check_mnist(const char *prefix) {
    recur_dataset d;
    memset(&d, 0xA5, sizeof d);
    if (recur_mnist_load(fuzz_path(""), prefix, &d) != RECUR_OK) {
        FUZZ_CHECK(fuzz_all_zero(&d, sizeof d));
        return;
    }
    FUZZ_CHECK(d.n > 0 && d.seq_len > 0 && d.features > 0);
    for (size_t k = 0; k < d.n * (size_t)d.seq_len * (size_t)d.features; k++)
        FUZZ_CHECK(d.x[k] >= 0.0f && d.x[k] <= 1.0f);
    for (size_t i = 0; i < d.n; i++) FUZZ_CHECK(d.y[i] >= 0.0f && d.y[i] <= 9.0f);
    recur_dataset_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *one = fuzz_path("one.idx");
    fuzz_write(one, data, size);
    check_idx(one);

    fuzz_write(fuzz_path("train-images-idx3-ubyte"), data, size);
    fuzz_write(fuzz_path("train-labels-idx1-ubyte.gz"), data, size);
    check_mnist("train");

    static const uint8_t labels_magic[4] = {0, 0, RECUR_IDX_U8, 1};
    const uint8_t *cut = size > 4 ? memmem(data + 1, size - 1, labels_magic, 4) : NULL;
    if (cut) {
        fuzz_write(fuzz_path("t10k-images-idx3-ubyte.gz"), data, (size_t)(cut - data));
        fuzz_write(fuzz_path("t10k-labels-idx1-ubyte"), cut, size - (size_t)(cut - data));
        check_mnist("t10k");
    }
    return 0;
}
