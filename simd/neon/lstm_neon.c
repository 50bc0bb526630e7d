/* LSTM gate kernels, AArch64 NEON: 4 hidden units per vector. A tail shorter
 * than 4 goes through the same vector code on a zero-padded copy. */
#include <arm_neon.h>
#include <string.h>

#include "../kernels.h"
#include "vmath_neon.h"

static inline float32x4_t act(int relu, float32x4_t x) {
    return relu ? vmaxq_f32(x, vdupq_n_f32(0.0f)) : vtanh_neon(x);
}

/* act'(.) from act's output a: relu: a > 0; tanh: 1 - a^2 */
static inline float32x4_t dact(int relu, float32x4_t a) {
    float32x4_t one = vdupq_n_f32(1.0f);
    if (relu)
        return vreinterpretq_f32_u32(
            vandq_u32(vcgtq_f32(a, vdupq_n_f32(0.0f)), vreinterpretq_u32_f32(one)));
    return vfmsq_f32(one, a, a);
}

/* z, b: four gate blocks `stride` floats apart */
static inline void fwd4(size_t stride, int relu, float *z, const float *b, const float *cp,
                        float *c, float *h, float *y) {
    float32x4_t i = vsigmoid_neon(vaddq_f32(vld1q_f32(z), vld1q_f32(b)));
    float32x4_t f = vsigmoid_neon(vaddq_f32(vld1q_f32(z + stride), vld1q_f32(b + stride)));
    float32x4_t g = act(relu, vaddq_f32(vld1q_f32(z + 2 * stride), vld1q_f32(b + 2 * stride)));
    float32x4_t o = vsigmoid_neon(vaddq_f32(vld1q_f32(z + 3 * stride), vld1q_f32(b + 3 * stride)));
    float32x4_t cn = vfmaq_f32(vmulq_f32(i, g), f, vld1q_f32(cp));
    vst1q_f32(c, cn);
    const float32x4_t hv = vmulq_f32(o, act(relu, cn));
    vst1q_f32(h, hv);
    if (y) vst1q_f32(y, hv);
    vst1q_f32(z, i);
    vst1q_f32(z + stride, f);
    vst1q_f32(z + 2 * stride, g);
    vst1q_f32(z + 3 * stride, o);
}

void lstm_postgemm_fwd__neon(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                             const float *b, const float *c_prev, float *c, float *h, float *y) {
    for (size_t r = 0; r < rows; r++) {
        float *zr = z + r * ldz;
        const float *cpr = c_prev + r * H;
        float *cr = c + r * H, *hr = h + r * H, *yr = y ? y + r * H : NULL;
        size_t j = 0;
        for (; j + 4 <= n; j += 4) fwd4(H, relu, zr + j, b + j, cpr + j, cr + j, hr + j, yr ? yr + j : NULL);
        if (j < n) {
            size_t tn = n - j;
            float tz[16] = {0}, tb[16] = {0}, tcp[4] = {0}, tc[4], th[4];
            for (int q = 0; q < 4; q++) {
                memcpy(tz + 4 * q, zr + q * H + j, tn * sizeof(float));
                memcpy(tb + 4 * q, b + q * H + j, tn * sizeof(float));
            }
            memcpy(tcp, cpr + j, tn * sizeof(float));
            fwd4(4, relu, tz, tb, tcp, tc, th, NULL);
            for (int q = 0; q < 4; q++) memcpy(zr + q * H + j, tz + 4 * q, tn * sizeof(float));
            memcpy(cr + j, tc, tn * sizeof(float));
            memcpy(hr + j, th, tn * sizeof(float));
            if (yr) memcpy(yr + j, th, tn * sizeof(float));
        }
    }
}

static inline void bwd4(size_t stride, int relu, float *g4, const float *c, const float *cp,
                        const float *dy, const float *dh, float *dc) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    float32x4_t i = vld1q_f32(g4), f = vld1q_f32(g4 + stride);
    float32x4_t g = vld1q_f32(g4 + 2 * stride), o = vld1q_f32(g4 + 3 * stride);
    float32x4_t a = act(relu, vld1q_f32(c));
    float32x4_t dht = vld1q_f32(dh);
    if (dy) dht = vaddq_f32(dht, vld1q_f32(dy));
    float32x4_t dct = vfmaq_f32(vld1q_f32(dc), vmulq_f32(dht, o), dact(relu, a));
    vst1q_f32(g4, vmulq_f32(vmulq_f32(dct, g), vmulq_f32(i, vsubq_f32(one, i))));
    vst1q_f32(g4 + stride,
              vmulq_f32(vmulq_f32(dct, vld1q_f32(cp)), vmulq_f32(f, vsubq_f32(one, f))));
    vst1q_f32(g4 + 2 * stride, vmulq_f32(vmulq_f32(dct, i), dact(relu, g)));
    vst1q_f32(g4 + 3 * stride, vmulq_f32(vmulq_f32(dht, a), vmulq_f32(o, vsubq_f32(one, o))));
    vst1q_f32(dc, vmulq_f32(dct, f));
}

void lstm_postgemm_bwd__neon(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                             const float *c, const float *c_prev, const float *dy, const float *dh,
                             float *dc) {
    for (size_t r = 0; r < rows; r++) {
        float *gr = gates + r * ldz;
        size_t o = r * H, j = 0;
        const float *dyr = dy ? dy + o : NULL;
        for (; j + 4 <= n; j += 4)
            bwd4(H, relu, gr + j, c + o + j, c_prev + o + j, dyr ? dyr + j : NULL, dh + o + j,
                 dc + o + j);
        if (j < n) {
            size_t sz = (n - j) * sizeof(float);
            float tg[16] = {0}, tc[4] = {0}, tcp[4] = {0}, tdy[4] = {0}, tdh[4] = {0}, tdc[4] = {0};
            for (int q = 0; q < 4; q++) memcpy(tg + 4 * q, gr + q * H + j, sz);
            memcpy(tc, c + o + j, sz);
            memcpy(tcp, c_prev + o + j, sz);
            if (dyr) memcpy(tdy, dyr + j, sz);
            memcpy(tdh, dh + o + j, sz);
            memcpy(tdc, dc + o + j, sz);
            bwd4(4, relu, tg, tc, tcp, dyr ? tdy : NULL, tdh, tdc);
            for (int q = 0; q < 4; q++) memcpy(gr + q * H + j, tg + 4 * q, sz);
            memcpy(dc + o + j, tdc, sz);
        }
    }
}

#define UNARY(NAME, FN)                                                                          \
    void NAME(size_t n, const float *x, float *y) {                                              \
        size_t k = 0;                                                                            \
        for (; k + 4 <= n; k += 4) vst1q_f32(y + k, FN(vld1q_f32(x + k)));                       \
        if (k < n) {                                                                             \
            float t[4] = {0};                                                                    \
            memcpy(t, x + k, (n - k) * sizeof(float));                                           \
            vst1q_f32(t, FN(vld1q_f32(t)));                                                      \
            memcpy(y + k, t, (n - k) * sizeof(float));                                           \
        }                                                                                        \
    }
UNARY(f32_vexp__neon, vexp_neon)
UNARY(f32_vsigmoid__neon, vsigmoid_neon)
UNARY(f32_vtanh__neon, vtanh_neon)

const simd_kernels simd_kernels_neon = {
    .name = "neon",
    .lstm_fwd = lstm_postgemm_fwd__neon,
    .lstm_bwd = lstm_postgemm_bwd__neon,
    .gru_fwd = gru_postgemm_fwd__neon,
    .gru_fwd_reset = gru_postgemm_fwd_reset__neon,
    .gru_bwd = gru_postgemm_bwd__neon,
    .gru_bwd_reset = gru_postgemm_bwd_reset__neon,
    .rnn_fwd = rnn_postgemm_fwd__neon,
    .rnn_bwd = rnn_postgemm_bwd__neon,
    .vexp = f32_vexp__neon,
    .vsigmoid = f32_vsigmoid__neon,
    .vtanh = f32_vtanh__neon,
    .gemm = f32_gemm_packed__scalar,
    .gemm_nr = 16,
    .dropout_mask = dropout_mask__neon,
};
