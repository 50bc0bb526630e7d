/* Reference GRU and SimpleRNN gate kernels: plain C and libm (kernels.h has
 * the equations). */
#include <math.h>

#include "../kernels.h"

static float sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}
static float act(int relu, float x) {
    return relu ? (x > 0.0f ? x : 0.0f) : tanhf(x);
}
static float dact(int relu, float a) {
    return relu ? (a > 0.0f ? 1.0f : 0.0f) : 1.0f - a * a;
}

/* g, rg [rows][ldg]: z = sig(g_z + b0_z + rg_z + b1_z) ... h = z*h_prev + (1-z)*hh */
void gru_postgemm_fwd__scalar(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *b,
                              const float *h_prev, float *h, float *y) {
    const float *b1 = reset_after ? b + 3 * H : NULL;
    for (size_t r = 0; r < rows; r++) {
        float *gz = g + r * ldg, *gr = gz + H, *gh = gz + 2 * H;
        float *rz = rg + r * ldg, *rr = rz + H, *rh = rz + 2 * H;
        for (size_t j = 0; j < n; j++) {
            float z, rs, hh;
            if (reset_after) {
                z = sigmoid(gz[j] + b[j] + rz[j] + b1[j]);
                rs = sigmoid(gr[j] + b[H + j] + rr[j] + b1[H + j]);
                rh[j] += b1[2 * H + j];
                hh = act(relu, gh[j] + b[2 * H + j] + rs * rh[j]);
            } else {
                z = gz[j], rs = gr[j];
                hh = act(relu, gh[j] + b[2 * H + j] + rh[j]);
            }
            const size_t k = r * H + j;
            h[k] = z * h_prev[k] + (1.0f - z) * hh;
            if (y) y[k] = h[k];
            gz[j] = z, gr[j] = rs, gh[j] = hh;
        }
    }
}

/* reset_after = 0: z, r over g_z, g_r; rh = r*h_prev */
void gru_postgemm_fwd_reset__scalar(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *rg, const float *b, const float *h_prev,
                                    float *rh) {
    for (size_t r = 0; r < rows; r++) {
        float *gz = g + r * ldg, *gr = gz + H;
        const float *rz = rg + r * ldg, *rr = rz + H;
        for (size_t j = 0; j < n; j++) {
            gz[j] = sigmoid(gz[j] + b[j] + rz[j]);
            gr[j] = sigmoid(gr[j] + b[H + j] + rr[j]);
            rh[r * H + j] = gr[j] * h_prev[r * H + j];
        }
    }
}

/* dht = dh + dy; dhh = dht(1-z)act'(hh); dz = dht(h_prev-hh)z(1-z); dh = dht*z */
void gru_postgemm_bwd__scalar(size_t rows, size_t n, size_t H, size_t ldg, int relu,
                              int reset_after, float *g, float *rg, const float *h_prev,
                              const float *dy, float *dh) {
    for (size_t r = 0; r < rows; r++) {
        float *gz = g + r * ldg, *gr = gz + H, *gh = gz + 2 * H;
        float *rz = rg + r * ldg, *rr = rz + H, *rh = rz + 2 * H;
        for (size_t j = 0; j < n; j++) {
            const size_t k = r * H + j;
            const float z = gz[j], rs = gr[j], hh = gh[j];
            const float dht = dh[k] + (dy ? dy[k] : 0.0f);
            const float dhh = dht * (1.0f - z) * dact(relu, hh);
            const float dz = dht * (h_prev[k] - hh) * z * (1.0f - z);
            if (reset_after) {
                const float dr = dhh * rh[j] * rs * (1.0f - rs);
                gr[j] = rr[j] = dr;
                rz[j] = dz;
                rh[j] = dhh * rs;
            }
            gz[j] = dz, gh[j] = dhh;
            dh[k] = dht * z;
        }
    }
}

/* reset_after = 0: g_r = drh*h_prev*r(1-r); dh += drh*r */
void gru_postgemm_bwd_reset__scalar(size_t rows, size_t n, size_t H, size_t ldg, float *g,
                                    const float *h_prev, const float *drh, float *dh) {
    for (size_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg + H;
        for (size_t j = 0; j < n; j++) {
            const size_t k = r * H + j;
            const float rs = gr[j];
            gr[j] = drh[k] * h_prev[k] * rs * (1.0f - rs);
            dh[k] += drh[k] * rs;
        }
    }
}

/* h = act(z + b) */
void rnn_postgemm_fwd__scalar(size_t rows, size_t n, size_t H, int relu, const float *z,
                              const float *b, float *h, float *y) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            const size_t k = r * H + j;
            h[k] = act(relu, z[k] + b[j]);
            if (y) y[k] = h[k];
        }
}

/* dz = (dh + dy) act'(h) */
void rnn_postgemm_bwd__scalar(size_t rows, size_t n, size_t H, int relu, const float *h,
                              const float *dy, const float *dh, float *dz) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) {
            const size_t k = r * H + j;
            dz[k] = (dh[k] + (dy ? dy[k] : 0.0f)) * dact(relu, h[k]);
        }
}
