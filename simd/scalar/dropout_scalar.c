/* Dropout masks, the reference: one 32-bit hash per element (kernels.h). */
#include "../kernels.h"

void dropout_mask__scalar(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                          float *mask) {
    const uint32_t lo = (uint32_t)seed, hi = (uint32_t)(seed >> 32);
    for (size_t i = 0; i < n; i++) {
        uint32_t x = ((k0 + (uint32_t)i) * DROPOUT_WEYL + lo) ^ hi;
        x ^= x >> 16, x *= DROPOUT_MUL1, x ^= x >> 15, x *= DROPOUT_MUL2, x ^= x >> 16;
        mask[i] = (float)(x >> 8) * 0x1p-24f >= rate ? keep : 0.0f;
    }
}
