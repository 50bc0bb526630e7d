/* Dropout masks, AArch64 NEON: 4 hashes per vector, bit-identical to the scalar set. */
#include <arm_neon.h>

#include "../kernels.h"

void dropout_mask__neon(size_t n, uint64_t seed, uint32_t k0, float rate, float keep,
                        float *mask) {
    const uint32x4_t lo = vdupq_n_u32((uint32_t)seed), hi = vdupq_n_u32((uint32_t)(seed >> 32));
    const float32x4_t r = vdupq_n_f32(rate), kp = vdupq_n_f32(keep);
    const uint32_t first[4] = {0, 1, 2, 3};
    uint32x4_t k = vaddq_u32(vdupq_n_u32(k0), vld1q_u32(first));
    size_t i = 0;
    for (; i + 4 <= n; i += 4, k = vaddq_u32(k, vdupq_n_u32(4))) {
        uint32x4_t x = veorq_u32(vmlaq_u32(lo, k, vdupq_n_u32(DROPOUT_WEYL)), hi);
        x = veorq_u32(x, vshrq_n_u32(x, 16));
        x = vmulq_u32(x, vdupq_n_u32(DROPOUT_MUL1));
        x = veorq_u32(x, vshrq_n_u32(x, 15));
        x = vmulq_u32(x, vdupq_n_u32(DROPOUT_MUL2));
        x = veorq_u32(x, vshrq_n_u32(x, 16));
        float32x4_t u = vmulq_f32(vcvtq_f32_u32(vshrq_n_u32(x, 8)), vdupq_n_f32(0x1p-24f));
        vst1q_f32(mask + i, vreinterpretq_f32_u32(vandq_u32(vcgeq_f32(u, r), vreinterpretq_u32_f32(kp))));
    }
    if (i < n) dropout_mask__scalar(n - i, seed, k0 + (uint32_t)i, rate, keep, mask + i);
}
