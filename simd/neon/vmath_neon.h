/* exp, sigmoid and tanh on 4 floats (AArch64 NEON). Same method and constants
 * as simd/avx2/vmath_avx2.h, which explains them (tanh: simd/vmath_tanh.h);
 * errors in simd/README.md. */
#ifndef RECUR_VMATH_NEON_H
#define RECUR_VMATH_NEON_H

#include <arm_neon.h>

#include "../vmath_tanh.h"

static inline float32x4_t vexp_neon(float32x4_t x) {
    /* vmaxnm/vminnm would drop a NaN; vmax/vmin propagate it */
    x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.0f)), vdupq_n_f32(-87.3f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040.0f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static inline float32x4_t vsigmoid_neon(float32x4_t x) {
    float32x4_t one = vdupq_n_f32(1.0f);
    return vdivq_f32(one, vaddq_f32(one, vexp_neon(vnegq_f32(x))));
}

static inline float32x4_t vtanh_neon(float32x4_t x) {
    /* FMIN/FMAX return NaN when either operand is NaN */
    x = vmaxq_f32(vdupq_n_f32(-TANH_CLAMP), vminq_f32(vdupq_n_f32(TANH_CLAMP), x));
    const float32x4_t s = vmulq_f32(x, x), one = vdupq_n_f32(1.0f);
    float32x4_t p = vfmaq_f32(vdupq_n_f32(TANH_P5), vdupq_n_f32(TANH_P6), s);
    p = vfmaq_f32(vdupq_n_f32(TANH_P4), p, s);
    p = vfmaq_f32(vdupq_n_f32(TANH_P3), p, s);
    p = vfmaq_f32(vdupq_n_f32(TANH_P2), p, s);
    p = vfmaq_f32(vdupq_n_f32(TANH_P1), p, s);
    p = vfmaq_f32(one, p, s);
    float32x4_t q = vfmaq_f32(vdupq_n_f32(TANH_Q2), vdupq_n_f32(TANH_Q3), s);
    q = vfmaq_f32(vdupq_n_f32(TANH_Q1), q, s);
    q = vfmaq_f32(one, q, s);
    const float32x4_t t = vdivq_f32(vmulq_f32(x, p), q);
    /* rounding may step past 1 near the clamp */
    return vmaxq_f32(vdupq_n_f32(-1.0f), vminq_f32(one, t));
}

#endif /* RECUR_VMATH_NEON_H */
