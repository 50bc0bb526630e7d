/* GRU and SimpleRNN gate kernels, AArch64 NEON: 4 hidden units per vector. A
 * tail shorter than 4 goes through the same vector code on zero-padded copies
 * whose blocks lie 4 floats apart instead of H. kernels.h has the contracts;
 * g and rg rows are 3H floats (blocks z, r, h), every other array's rows H.
 * Unfused, in the scalar reference's order, for the reason
 * simd/avx2/gru_avx2.c gives. */
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
    return vsubq_f32(one, vmulq_f32(a, a));
}

/* `blocks` runs of cnt floats, `stride` apart in p, to t 4 floats apart; and back */
static void gather(float *t, const float *p, size_t stride, int blocks, size_t cnt) {
    for (int q = 0; q < blocks; q++) memcpy(t + 4 * q, p + q * stride, cnt * sizeof(float));
}

static void scatter(float *p, const float *t, size_t stride, int blocks, size_t cnt) {
    for (int q = 0; q < blocks; q++) memcpy(p + q * stride, t + 4 * q, cnt * sizeof(float));
}

/* reset_after = 1: z = sig(g_z + b0_z + rg_z + b1_z), r likewise,
 *                  rg_h += b1_h, hh = act(g_h + b0_h + r*rg_h)
 * reset_after = 0: z, r read from g_z, g_r; hh = act(g_h + b_h + rg_h)
 * h = z*h_prev + (1-z)*hh;  g out: z, r, hh;  g, rg, b blocks `s` apart */
static inline void gru_fwd4(size_t s, int relu, int reset_after, float *g, float *rg,
                            const float *b, const float *hp, float *h, float *y) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t gh = vaddq_f32(vld1q_f32(g + 2 * s), vld1q_f32(b + 2 * s));
    float32x4_t z, r, hh;
    if (reset_after) {
        const float *b1 = b + 3 * s;
        z = vaddq_f32(vaddq_f32(vld1q_f32(g), vld1q_f32(b)), vld1q_f32(rg));
        z = vsigmoid_neon(vaddq_f32(z, vld1q_f32(b1)));
        r = vaddq_f32(vaddq_f32(vld1q_f32(g + s), vld1q_f32(b + s)), vld1q_f32(rg + s));
        r = vsigmoid_neon(vaddq_f32(r, vld1q_f32(b1 + s)));
        const float32x4_t rh = vaddq_f32(vld1q_f32(rg + 2 * s), vld1q_f32(b1 + 2 * s));
        vst1q_f32(rg + 2 * s, rh);
        hh = act(relu, vaddq_f32(gh, vmulq_f32(r, rh)));
        vst1q_f32(g, z);
        vst1q_f32(g + s, r);
    } else {
        z = vld1q_f32(g);
        hh = act(relu, vaddq_f32(gh, vld1q_f32(rg + 2 * s)));
    }
    const float32x4_t hv = vaddq_f32(vmulq_f32(z, vld1q_f32(hp)), vmulq_f32(vsubq_f32(one, z), hh));
    vst1q_f32(h, hv);
    if (y) vst1q_f32(y, hv);
    vst1q_f32(g + 2 * s, hh);
}

void gru_postgemm_fwd__neon(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *b, const float *h_prev, float *h,
                            float *y) {
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg, *rgr = rg + r * ldg;
        const size_t o = r * H;
        float *yr = y ? y + o : NULL;
        size_t j = 0;
        for (; j + 4 <= n; j += 4)
            gru_fwd4(H, relu, reset_after, gr + j, rgr + j, b + j, h_prev + o + j, h + o + j,
                     yr ? yr + j : NULL);
        if (j < n) {
            const size_t tn = n - j;
            float tg[12] = {0}, trg[12] = {0}, tb[24] = {0}, thp[4] = {0}, th[4];
            gather(tg, gr + j, H, 3, tn);
            if (reset_after)
                gather(trg, rgr + j, H, 3, tn);
            else
                gather(trg + 8, rgr + 2 * H + j, H, 1, tn);
            gather(tb, b + j, H, reset_after ? 6 : 3, tn);
            gather(thp, h_prev + o + j, H, 1, tn);
            gru_fwd4(4, relu, reset_after, tg, trg, tb, thp, th, NULL);
            scatter(gr + j, tg, H, 3, tn);
            if (reset_after) scatter(rgr + 2 * H + j, trg + 8, H, 1, tn);
            scatter(h + o + j, th, H, 1, tn);
            if (yr) scatter(yr + j, th, H, 1, tn);
        }
    }
}

/* z = sig(g_z + b_z + rg_z), r = sig(g_r + b_r + rg_r) over g_z, g_r; rh = r*h_prev */
static inline void gru_fwd_reset4(size_t s, float *g, const float *rg, const float *b,
                                  const float *hp, float *rh) {
    float32x4_t z = vaddq_f32(vaddq_f32(vld1q_f32(g), vld1q_f32(b)), vld1q_f32(rg));
    float32x4_t r = vaddq_f32(vaddq_f32(vld1q_f32(g + s), vld1q_f32(b + s)), vld1q_f32(rg + s));
    z = vsigmoid_neon(z);
    r = vsigmoid_neon(r);
    vst1q_f32(g, z);
    vst1q_f32(g + s, r);
    vst1q_f32(rh, vmulq_f32(r, vld1q_f32(hp)));
}

void gru_postgemm_fwd_reset__neon(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *rg, const float *b, const float *h_prev, float *rh) {
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg;
        const float *rgr = rg + r * ldg;
        const size_t o = r * H;
        size_t j = 0;
        for (; j + 4 <= n; j += 4)
            gru_fwd_reset4(H, gr + j, rgr + j, b + j, h_prev + o + j, rh + o + j);
        if (j < n) {
            const size_t tn = n - j;
            float tg[8] = {0}, trg[8] = {0}, tb[8] = {0}, thp[4] = {0}, trh[4];
            gather(tg, gr + j, H, 2, tn);
            gather(trg, rgr + j, H, 2, tn);
            gather(tb, b + j, H, 2, tn);
            gather(thp, h_prev + o + j, H, 1, tn);
            gru_fwd_reset4(4, tg, trg, tb, thp, trh);
            scatter(gr + j, tg, H, 2, tn);
            scatter(rh + o + j, trh, H, 1, tn);
        }
    }
}

/* dht = dh + dy;  dhh = dht*(1-z)*act'(hh);  dz = dht*(h_prev - hh)*z*(1-z);  dh = dht*z
 * reset_after = 1: dr = dhh*rg_h*r*(1-r); g: dz, dr, dhh; rg: dz, dr, dhh*r
 * reset_after = 0: g: dz, r, dhh; rg neither read nor written;  g, rg blocks `s` apart */
static inline void gru_bwd4(size_t s, int relu, int reset_after, float *g, float *rg,
                            const float *hp, const float *dy, float *dh) {
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t z = vld1q_f32(g), hh = vld1q_f32(g + 2 * s), omz = vsubq_f32(one, z);
    float32x4_t dht = vld1q_f32(dh);
    if (dy) dht = vaddq_f32(dht, vld1q_f32(dy));
    const float32x4_t dhh = vmulq_f32(vmulq_f32(dht, omz), dact(relu, hh));
    const float32x4_t dz =
        vmulq_f32(vmulq_f32(vmulq_f32(dht, vsubq_f32(vld1q_f32(hp), hh)), z), omz);
    if (reset_after) {
        const float32x4_t r = vld1q_f32(g + s);
        const float32x4_t dr =
            vmulq_f32(vmulq_f32(vmulq_f32(dhh, vld1q_f32(rg + 2 * s)), r), vsubq_f32(one, r));
        vst1q_f32(g + s, dr);
        vst1q_f32(rg, dz);
        vst1q_f32(rg + s, dr);
        vst1q_f32(rg + 2 * s, vmulq_f32(dhh, r));
    }
    vst1q_f32(g, dz);
    vst1q_f32(g + 2 * s, dhh);
    vst1q_f32(dh, vmulq_f32(dht, z));
}

void gru_postgemm_bwd__neon(size_t rows, size_t n, size_t H, size_t ldg, int relu, int reset_after,
                            float *g, float *rg, const float *h_prev, const float *dy, float *dh) {
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg, *rgr = reset_after ? rg + r * ldg : NULL;
        const size_t o = r * H;
        const float *dyr = dy ? dy + o : NULL;
        size_t j = 0;
        for (; j + 4 <= n; j += 4)
            gru_bwd4(H, relu, reset_after, gr + j, rgr ? rgr + j : NULL, h_prev + o + j,
                     dyr ? dyr + j : NULL, dh + o + j);
        if (j < n) {
            const size_t tn = n - j;
            float tg[12] = {0}, trg[12] = {0}, thp[4] = {0}, tdy[4] = {0}, tdh[4] = {0};
            gather(tg, gr + j, H, 3, tn);
            if (rgr) gather(trg + 8, rgr + 2 * H + j, H, 1, tn);
            gather(thp, h_prev + o + j, H, 1, tn);
            if (dyr) gather(tdy, dyr + j, H, 1, tn);
            gather(tdh, dh + o + j, H, 1, tn);
            gru_bwd4(4, relu, reset_after, tg, rgr ? trg : NULL, thp, dyr ? tdy : NULL, tdh);
            scatter(gr + j, tg, H, 3, tn);
            if (rgr) scatter(rgr + j, trg, H, 3, tn);
            scatter(dh + o + j, tdh, H, 1, tn);
        }
    }
}

/* g_r in: r; out: drh*h_prev*r*(1-r);  dh += drh*r */
static inline void gru_bwd_reset4(float *gr, const float *hp, const float *drh, float *dh) {
    const float32x4_t r = vld1q_f32(gr), d = vld1q_f32(drh);
    const float32x4_t omr = vsubq_f32(vdupq_n_f32(1.0f), r);
    vst1q_f32(gr, vmulq_f32(vmulq_f32(vmulq_f32(d, vld1q_f32(hp)), r), omr));
    vst1q_f32(dh, vaddq_f32(vld1q_f32(dh), vmulq_f32(d, r)));
}

void gru_postgemm_bwd_reset__neon(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                  const float *h_prev, const float *drh, float *dh) {
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg + H;
        const size_t o = r * H;
        size_t j = 0;
        for (; j + 4 <= n; j += 4) gru_bwd_reset4(gr + j, h_prev + o + j, drh + o + j, dh + o + j);
        if (j < n) {
            const size_t sz = (n - j) * sizeof(float);
            float tr[4] = {0}, thp[4] = {0}, tdrh[4] = {0}, tdh[4] = {0};
            memcpy(tr, gr + j, sz);
            memcpy(thp, h_prev + o + j, sz);
            memcpy(tdrh, drh + o + j, sz);
            memcpy(tdh, dh + o + j, sz);
            gru_bwd_reset4(tr, thp, tdrh, tdh);
            memcpy(gr + j, tr, sz);
            memcpy(dh + o + j, tdh, sz);
        }
    }
}

/* h = act(z + b), y = h */
static inline void rnn_fwd4(int relu, const float *z, const float *b, float *h, float *y) {
    const float32x4_t hv = act(relu, vaddq_f32(vld1q_f32(z), vld1q_f32(b)));
    vst1q_f32(h, hv);
    if (y) vst1q_f32(y, hv);
}

void rnn_postgemm_fwd__neon(size_t rows, size_t n, size_t H, int relu, const float *z,
                            const float *b, float *h, float *y) {
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * H;
        float *yr = y ? y + o : NULL;
        size_t j = 0;
        for (; j + 4 <= n; j += 4) rnn_fwd4(relu, z + o + j, b + j, h + o + j, yr ? yr + j : NULL);
        if (j < n) {
            const size_t sz = (n - j) * sizeof(float);
            float tz[4] = {0}, tb[4] = {0}, th[4];
            memcpy(tz, z + o + j, sz);
            memcpy(tb, b + j, sz);
            rnn_fwd4(relu, tz, tb, th, NULL);
            memcpy(h + o + j, th, sz);
            if (yr) memcpy(yr + j, th, sz);
        }
    }
}

/* dz = (dh + dy)*act'(h) */
static inline void rnn_bwd4(int relu, const float *h, const float *dy, const float *dh, float *dz) {
    float32x4_t d = vld1q_f32(dh);
    if (dy) d = vaddq_f32(d, vld1q_f32(dy));
    vst1q_f32(dz, vmulq_f32(d, dact(relu, vld1q_f32(h))));
}

void rnn_postgemm_bwd__neon(size_t rows, size_t n, size_t H, int relu, const float *h,
                            const float *dy, const float *dh, float *dz) {
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * H;
        const float *dyr = dy ? dy + o : NULL;
        size_t j = 0;
        for (; j + 4 <= n; j += 4)
            rnn_bwd4(relu, h + o + j, dyr ? dyr + j : NULL, dh + o + j, dz + o + j);
        if (j < n) {
            const size_t sz = (n - j) * sizeof(float);
            float th[4] = {0}, tdy[4] = {0}, tdh[4] = {0}, tdz[4];
            memcpy(th, h + o + j, sz);
            if (dyr) memcpy(tdy, dyr + j, sz);
            memcpy(tdh, dh + o + j, sz);
            rnn_bwd4(relu, th, dyr ? tdy : NULL, tdh, tdz);
            memcpy(dz + o + j, tdz, sz);
        }
    }
}
