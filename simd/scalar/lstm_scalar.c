/* Reference kernels: plain C and libm, the yardstick for every SIMD set. */
#include <math.h>

#include "../kernels.h"

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static float act(int relu, float x) { return relu ? (x > 0.0f ? x : 0.0f) : tanhf(x); }
/* derivative of act at the point where act returned a */
static float dact(int relu, float a) { return relu ? (a > 0.0f ? 1.0f : 0.0f) : 1.0f - a * a; }

void lstm_postgemm_fwd__scalar(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *z,
                               const float *b, const float *c_prev, float *c, float *h, float *y) {
    for (size_t r = 0; r < rows; r++) {
        float *zi = z + r * ldz, *zf = zi + H, *zg = zi + 2 * H, *zo = zi + 3 * H;
        for (size_t j = 0; j < n; j++) {
            float i = sigmoid(zi[j] + b[j]);
            float f = sigmoid(zf[j] + b[H + j]);
            float g = act(relu, zg[j] + b[2 * H + j]);
            float o = sigmoid(zo[j] + b[3 * H + j]);
            float cn = f * c_prev[r * H + j] + i * g;
            c[r * H + j] = cn;
            h[r * H + j] = o * act(relu, cn);
            if (y) y[r * H + j] = h[r * H + j];
            zi[j] = i, zf[j] = f, zg[j] = g, zo[j] = o;
        }
    }
}

void lstm_postgemm_bwd__scalar(size_t rows, size_t n, size_t H, size_t ldz, int relu, float *gates,
                               const float *c, const float *c_prev, const float *dy,
                               const float *dh, float *dc) {
    for (size_t r = 0; r < rows; r++) {
        float *gi = gates + r * ldz, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        for (size_t j = 0; j < n; j++) {
            size_t k = r * H + j;
            float i = gi[j], f = gf[j], g = gg[j], o = go[j];
            float a = act(relu, c[k]);
            float dht = dh[k] + (dy ? dy[k] : 0.0f);
            float dct = dc[k] + dht * o * dact(relu, a);
            gi[j] = dct * g * i * (1.0f - i);
            gf[j] = dct * c_prev[k] * f * (1.0f - f);
            gg[j] = dct * i * dact(relu, g);
            go[j] = dht * a * o * (1.0f - o);
            dc[k] = dct * f;
        }
    }
}

void f32_vexp__scalar(size_t n, const float *x, float *y) {
    for (size_t k = 0; k < n; k++) y[k] = expf(x[k]);
}

void f32_vsigmoid__scalar(size_t n, const float *x, float *y) {
    for (size_t k = 0; k < n; k++) y[k] = sigmoid(x[k]);
}

void f32_vtanh__scalar(size_t n, const float *x, float *y) {
    for (size_t k = 0; k < n; k++) y[k] = tanhf(x[k]);
}

const simd_kernels simd_kernels_scalar = {
    .name = "scalar",
    .lstm_fwd = lstm_postgemm_fwd__scalar,
    .lstm_bwd = lstm_postgemm_bwd__scalar,
    .gru_fwd = gru_postgemm_fwd__scalar,
    .gru_fwd_reset = gru_postgemm_fwd_reset__scalar,
    .gru_bwd = gru_postgemm_bwd__scalar,
    .gru_bwd_reset = gru_postgemm_bwd_reset__scalar,
    .rnn_fwd = rnn_postgemm_fwd__scalar,
    .rnn_bwd = rnn_postgemm_bwd__scalar,
    .vexp = f32_vexp__scalar,
    .vsigmoid = f32_vsigmoid__scalar,
    .vtanh = f32_vtanh__scalar,
    .gemm = f32_gemm_packed__scalar,
    .gemm_nr = 16,
    .dropout_mask = dropout_mask__scalar,
};
