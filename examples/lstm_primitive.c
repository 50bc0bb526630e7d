/* The LSTM primitive on its own: a forward pass, the gradients of a loss, one
 * gradient step, and a check that the loss went down; then the new weights
 * packed once and run on again, as an inference loop would.
 *   cc lstm_primitive.c $(pkg-config --cflags --libs recur) -lm */
#include <recur.h>
#include <stdio.h>
#include <stdlib.h>

enum { T = 20, B = 16, I = 8, H = 32, G = 4 * H };

/* L = mean over (t, b, j) of (y - 0.5)^2; writes dL/dy into dy */
static double loss(const float *y, float *dy) {
    double L = 0;
    for (int k = 0; k < T * B * H; k++) {
        L += (y[k] - 0.5) * (y[k] - 0.5);
        if (dy) dy[k] = (float)(2 * (y[k] - 0.5) / (T * B * H));
    }
    return L / (T * B * H);
}

static float *randn(int n, float scale) {
    float *p = malloc(sizeof(float) * n);
    for (int k = 0; k < n; k++) p[k] = scale * ((float)rand() / RAND_MAX - 0.5f);
    return p;
}

int main(void) {
    recur_lstm_desc d = {.seq_len = T, .batch = B, .input_size = I, .hidden_size = H,
                         .activation = RECUR_ACT_TANH};
    float *W = randn(I * G, 0.5f), *U = randn(H * G, 0.3f), *b = randn(G, 0.1f);
    float *x = randn(T * B * I, 2.0f), *y = malloc(sizeof(float) * T * B * H);
    float *dy = malloc(sizeof(float) * T * B * H);
    float *dW = malloc(sizeof(float) * I * G), *dU = malloc(sizeof(float) * H * G);
    float *db = malloc(sizeof(float) * G);
    size_t bytes = recur_lstm_workspace_size(&d);
    void *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);

    recur_status st = recur_lstm_forward(&d, W, U, b, x, NULL, NULL, y, NULL, NULL, ws);
    double before = loss(y, dy);
    if (st == RECUR_OK)
        st = recur_lstm_backward(&d, W, U, b, x, NULL, NULL, dy, NULL, NULL, NULL, NULL, NULL, dW,
                                 dU, db, ws);
    if (st != RECUR_OK) {
        fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
        return 1;
    }
    const float lr = 0.5f;
    for (int k = 0; k < I * G; k++) W[k] -= lr * dW[k];
    for (int k = 0; k < H * G; k++) U[k] -= lr * dU[k];
    for (int k = 0; k < G; k++) b[k] -= lr * db[k];
    st = recur_lstm_forward(&d, W, U, b, x, NULL, NULL, y, NULL, NULL, NULL); /* inference */
    double after = loss(y, NULL);
    printf("recur %s (%s kernels, %d threads): loss %.6f -> %.6f after one step\n",
           recur_version(), recur_isa(), recur_get_num_threads(), before, after);

    /* inference on packed weights: the same y, bit for bit */
    void *packed = aligned_alloc(64, (recur_lstm_packed_weights_size(&d) + 63) / 64 * 64);
    float *y2 = malloc(sizeof(float) * T * B * H);
    if (st == RECUR_OK) st = recur_lstm_pack_weights(&d, W, U, packed);
    if (st == RECUR_OK)
        st = recur_lstm_forward_packed(&d, packed, b, x, NULL, NULL, y2, NULL, NULL, NULL);
    int same = st == RECUR_OK;
    for (int k = 0; same && k < T * B * H; k++) same = y2[k] == y[k];
    if (st != RECUR_OK) fprintf(stderr, "%s: %s\n", recur_status_string(st), recur_last_error());
    printf("packed weights: %s\n", same ? "the same y" : "a different y");
    free(W), free(U), free(b), free(x), free(y), free(dy), free(dW), free(dU), free(db), free(ws);
    free(packed), free(y2);
    return st == RECUR_OK && after < before && same ? 0 : 1;
}
