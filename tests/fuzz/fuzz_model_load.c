/* recur_model_load on arbitrary bytes. A fuzzer cannot forge CRC-32s, so the
 * harness rewrites the trailing checksum of every input of 16 bytes or more
 * to match and the parser behind it gets fuzzed (tests/test_model.c checks
 * that a wrong checksum is refused). A model that loads is summarised, run
 * on zero samples when compiled and small, and saved; the saved file must
 * load again and save to the same bytes. */
#include "fuzz_util.h"

#include <zlib.h>

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rough floats of activations per sample, from the header and layer records
 * (the format README.md documents); predict runs only when it is small. */
static double activations_per_sample(const uint8_t *data, size_t size) {
    const double T = (int32_t)le32(data + 12), F = (int32_t)le32(data + 16);
    const uint32_t nlayers = le32(data + 28);
    double units = 0;
    for (uint32_t l = 0; l < nlayers && 32 + 20 * (size_t)l + 8 <= size; l++)
        units += (int32_t)le32(data + 32 + 20 * (size_t)l + 4);
    return T * (F + 16 * units);
}

static void try_predict(recur_model *m, const uint8_t *data, size_t size) {
    size_t nparams;
    if (!recur_model_params(m, &nparams)) return; /* not compiled */
    const double T = (int32_t)le32(data + 12), F = (int32_t)le32(data + 16);
    if (T * F > 1 << 16 || activations_per_sample(data, size) > 1 << 20 ||
        T * (double)nparams > 1 << 22)
        return;
    /* a sequence output gives C values per step */
    const size_t n = 3, C = (size_t)recur_model_output_size(m) * (size_t)recur_model_output_steps(m);
    float *x = calloc(n * (size_t)(T * F), sizeof(float)), *out = malloc(n * C * sizeof(float));
    int32_t *ids = calloc(n * (size_t)T, sizeof(int32_t)); /* id 0: valid for any Embedding */
    FUZZ_CHECK(x && out && ids);
    /* batch 2: one full batch and a smaller last one; a token model takes ids */
    recur_status st = recur_model_takes_ids(m) ? recur_model_predict_ids(m, ids, n, 2, out)
                                               : recur_model_predict(m, x, n, 2, out);
    FUZZ_CHECK(st == RECUR_OK || st == RECUR_ERR_NUMERIC || st == RECUR_ERR_OUT_OF_MEMORY);
    free(x);
    free(ids);
    free(out);
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    FUZZ_CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *p = malloc((size_t)n + 1);
    FUZZ_CHECK(p && fread(p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *in = malloc(size + 1);
    FUZZ_CHECK(in != NULL);
    memcpy(in, data, size);
    if (size >= 16) {
        uint32_t crc = (uint32_t)crc32_z(0L, in, size - 4);
        for (int k = 0; k < 4; k++) in[size - 4 + k] = (uint8_t)(crc >> 8 * k);
    }
    const char *path = fuzz_path("in.recur");
    fuzz_write(path, in, size);

    recur_model *m = (recur_model *)&m;
    if (recur_model_load(&m, path) != RECUR_OK) {
        FUZZ_CHECK(m == NULL && recur_last_error()[0] != '\0');
        free(in);
        return 0;
    }

    size_t need = recur_model_summary(m, NULL, 0);
    char *text = malloc(need + 1), small[24];
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(recur_model_summary(m, text, need + 1) == need && strlen(text) == need);
    FUZZ_CHECK(recur_model_summary(m, small, sizeof small) == need &&
               strlen(small) == (need < sizeof small ? need : sizeof small - 1));
    free(text);

    try_predict(m, in, size);

    const char *out1 = fuzz_path("out1.recur"), *out2 = fuzz_path("out2.recur");
    FUZZ_CHECK(recur_model_save(m, out1) == RECUR_OK);
    recur_model *again;
    FUZZ_CHECK(recur_model_load(&again, out1) == RECUR_OK);
    FUZZ_CHECK(recur_model_save(again, out2) == RECUR_OK);
    size_t len1, len2;
    uint8_t *b1 = slurp(out1, &len1), *b2 = slurp(out2, &len2);
    FUZZ_CHECK(len1 == len2 && memcmp(b1, b2, len1) == 0);
    free(b1);
    free(b2);
    recur_model_destroy(again);
    recur_model_destroy(m);
    free(in);
    return 0;
}
