/* exp, sigmoid and tanh on 4 floats (AArch64 NEON). Same method and constants
 * as simd/avx2/vmath_avx2.h, which explains them; errors in simd/README.md. */
#ifndef RECUR_VMATH_NEON_H
#define RECUR_VMATH_NEON_H

#include <arm_neon.h>

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
    const float32x4_t one = vdupq_n_f32(1.0f);
    float32x4_t ax = vabsq_f32(x);
    float32x4_t e = vexp_neon(vaddq_f32(ax, ax));
    float32x4_t big = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, one)));
    float32x4_t x2 = vmulq_f32(ax, ax);
    float32x4_t q = vdupq_n_f32(21844.0f / 6081075.0f);
    q = vfmaq_f32(vdupq_n_f32(-1382.0f / 155925.0f), q, x2);
    q = vfmaq_f32(vdupq_n_f32(62.0f / 2835.0f), q, x2);
    q = vfmaq_f32(vdupq_n_f32(-17.0f / 315.0f), q, x2);
    q = vfmaq_f32(vdupq_n_f32(2.0f / 15.0f), q, x2);
    q = vfmaq_f32(vdupq_n_f32(-1.0f / 3.0f), q, x2);
    float32x4_t small = vfmaq_f32(ax, vmulq_f32(q, x2), ax);
    float32x4_t t = vbslq_f32(vcltq_f32(ax, vdupq_n_f32(0.4f)), small, big);
    /* copy x's sign onto t */
    uint32x4_t sign = vdupq_n_u32(0x80000000u);
    return vbslq_f32(sign, x, t);
}

#endif /* RECUR_VMATH_NEON_H */
