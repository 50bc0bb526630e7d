/* recur: recurrent neural networks trained on CPUs.
 *
 * The one public header. Every exported name starts with recur_ / RECUR_.
 * Every call that can fail returns a recur_status; recur_last_error() then
 * gives a sentence naming the argument and the problem. The library never
 * prints, exits or aborts. */
#ifndef RECUR_H
#define RECUR_H

#include <stddef.h>

#include "recur_version.h"

#if defined(_WIN32)
#define RECUR_API
#else
#define RECUR_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status and errors ------------------------------------------------- */

typedef enum {
    RECUR_OK = 0,
    RECUR_ERR_NULL_POINTER = 1,     /* a required pointer argument is NULL */
    RECUR_ERR_INVALID_ARGUMENT = 2, /* a size or value is out of range, or sizes overflow */
    RECUR_ERR_UNSUPPORTED = 3,      /* valid but not supported here (e.g. a sigmoid LSTM) */
    RECUR_ERR_OUT_OF_MEMORY = 4,    /* an allocation failed */
    RECUR_ERR_BACKEND = 5,          /* oneDNN reported a failure */
    RECUR_ERR_IO = 6,               /* a file could not be opened, read or written */
    RECUR_ERR_FORMAT = 7,           /* a file's contents are malformed */
    RECUR_ERR_STATE = 8,            /* a call made in the wrong order */
    RECUR_ERR_NUMERIC = 9           /* a non-finite value appeared */
} recur_status;

/* The code's name, e.g. "RECUR_ERR_NULL_POINTER"; "RECUR_ERR_UNKNOWN" for others. */
RECUR_API const char *recur_status_string(recur_status s);
/* A message on the calling thread's last failure ("" if none yet). Valid until
 * the thread's next failing call into recur. */
RECUR_API const char *recur_last_error(void);

/* The library's version, "MAJOR.MINOR.PATCH" (RECUR_VERSION_STRING when built). */
RECUR_API const char *recur_version(void);

/* ---- Threads and instruction sets -------------------------------------- */

/* Number of OpenMP threads recur uses; 0 (the default) follows OpenMP
 * (omp_get_max_threads(), i.e. OMP_NUM_THREADS). Called from inside an active
 * OpenMP parallel region, recur always runs on the calling thread alone. recur
 * never changes the host's OpenMP settings. */
RECUR_API void recur_set_num_threads(int n);
/* The number of threads the next call from this thread would use. */
RECUR_API int recur_get_num_threads(void);

/* The SIMD kernel set chosen once at first use: "scalar", "avx2", "avx512" or
 * "neon". The environment variable RECUR_ISA (same names) forces a set; a set
 * the CPU cannot run, or an unknown name, falls back to the best available. */
RECUR_API const char *recur_isa(void);

/* ---- Activations --------------------------------------------------------- */

typedef enum {
    RECUR_ACT_LINEAR,
    RECUR_ACT_RELU,
    RECUR_ACT_TANH,
    RECUR_ACT_SIGMOID,
    RECUR_ACT_SOFTMAX
} recur_act;

/* ---- The LSTM primitive -------------------------------------------------- *
 *
 * One LSTM layer over a whole sequence, Keras semantics:
 *   z_t = x_t W + h_{t-1} U + b          gate blocks along 4H: i, f, c, o
 *   i = sig(z_i)  f = sig(z_f)  o = sig(z_o)  g = act(z_c)
 *   c_t = f * c_{t-1} + i * g            h_t = o * act(c_t)      y_t = h_t
 * act is tanh or relu (Keras `activation`); gates are always sigmoid.
 *
 * Layouts, all row-major float32:
 *   W [I][4H]  U [H][4H]  b [4H]          (Keras kernel, recurrent_kernel, bias)
 *   x [T][B][I]  y, dy [T][B][H]           (time-major)
 *   h0, c0, hT, cT and their gradients [B][H]
 *
 * Forward: h0/c0 NULL mean zeros; hT/cT NULL mean not wanted. With a workspace
 * it is a training forward and keeps in the workspace what backward needs; with
 * workspace NULL it is inference, gives the same y, and allocates a temporary of
 * recur_lstm_inference_scratch_size(d) bytes for the duration of the call.
 *
 * Backward takes the workspace as the training forward left it, with the same
 * W, U, b, x, h0, c0, and may overwrite it. dy, dhT, dcT NULL mean zeros. It
 * writes dx, dh0, dc0 (each NULL: not computed) and OVERWRITES dW [I][4H],
 * dU [H][4H], db [4H] (they are never accumulated into).
 *
 * workspace: caller-owned, at least recur_lstm_workspace_size(d) bytes,
 * 64-byte aligned (e.g. aligned_alloc(64, round_up(size, 64))).
 *
 * Errors: RECUR_ERR_NULL_POINTER for a required pointer that is NULL,
 * RECUR_ERR_INVALID_ARGUMENT for non-positive sizes, sizes whose buffers
 * overflow, or a misaligned workspace, RECUR_ERR_UNSUPPORTED for an activation
 * other than tanh or relu. Nothing is written when a call fails its checks.
 *
 * Reentrant: concurrent calls on different output buffers are safe. */
typedef struct recur_lstm_desc {
    int seq_len, batch, input_size, hidden_size; /* T, B, I, H */
    recur_act activation;                        /* RECUR_ACT_TANH or RECUR_ACT_RELU */
} recur_lstm_desc;

/* Bytes of training workspace; 0 if the descriptor is invalid. */
RECUR_API size_t recur_lstm_workspace_size(const recur_lstm_desc *d);
/* Bytes an inference forward (workspace NULL) allocates; 0 if invalid. */
RECUR_API size_t recur_lstm_inference_scratch_size(const recur_lstm_desc *d);

RECUR_API recur_status recur_lstm_forward(const recur_lstm_desc *d, const float *W, const float *U,
                                          const float *b, const float *x, const float *h0,
                                          const float *c0, float *y, float *hT, float *cT,
                                          void *workspace);

RECUR_API recur_status recur_lstm_backward(const recur_lstm_desc *d, const float *W,
                                           const float *U, const float *b, const float *x,
                                           const float *h0, const float *c0, const float *dy,
                                           const float *dhT, const float *dcT, float *dx,
                                           float *dh0, float *dc0, float *dW, float *dU,
                                           float *db, void *workspace);

#ifdef __cplusplus
}
#endif

#endif /* RECUR_H */
