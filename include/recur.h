/* recur: recurrent neural networks trained on CPUs.
 *
 * The one public header. Every exported name starts with recur_ / RECUR_.
 * Every call that can fail returns a recur_status; recur_last_error() then
 * gives a sentence naming the argument and the problem. The library never
 * prints, exits or aborts. */
#ifndef RECUR_H
#define RECUR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
/* Sets the calling thread's message (printf format) and returns s: for
 * companion libraries (librecur_mpi) that report through recur's status. */
RECUR_API recur_status recur_set_error(recur_status s, const char *fmt, ...);

/* The library's version, "MAJOR.MINOR.PATCH" (RECUR_VERSION_STRING when built). */
RECUR_API const char *recur_version(void);

/* ---- Threads and instruction sets -------------------------------------- */

/* Number of OpenMP threads recur uses; 0 (the default) follows OpenMP
 * (omp_get_max_threads(), i.e. OMP_NUM_THREADS). Called from inside an active
 * OpenMP parallel region, recur always runs on the calling thread alone. recur
 * never changes the host's OpenMP settings.
 * Subnormal floats are flushed to zero (x86 FTZ and DAZ, AArch64 FPCR.FZ) in
 * recur's parallel work, as TensorFlow does on CPUs: the recurrent layers,
 * every GEMM, Bidirectional, the Embedding gradient, Dropout's backward and
 * the optimizer update; every thread's own floating-point mode is restored
 * before recur hands it back. */
RECUR_API void recur_set_num_threads(int n);
/* The number of threads the next call from this thread would use. */
RECUR_API int recur_get_num_threads(void);

/* The SIMD kernel set chosen once at first use: "scalar", "avx2", "avx512" or
 * "neon". The environment variable RECUR_ISA (same names) forces a set; a set
 * the CPU cannot run, or an unknown name, falls back to the best available. */
RECUR_API const char *recur_isa(void);
/* The CPU kind recur tuned its time loop for and the choices that follow
 * (RECUR_CPU=intel|amd|generic overrides the vendor's), for benchmark
 * reports. */
RECUR_API const char *recur_tuning(void);

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
 * workspace NULL it is inference and allocates a temporary of
 * recur_lstm_inference_scratch_size(d) bytes for the duration of the call.
 * recur_lstm_forward_inference is that inference forward with caller-owned
 * scratch (at least recur_lstm_inference_scratch_size(d) bytes, 64-byte
 * aligned; NULL: allocated for the call as above), for repeated calls that
 * should allocate nothing. Inference writes only y, hT and cT (and the
 * scratch) and gives the training forward's y to within float rounding; bit
 * for bit except where its plan takes the input product into the per-step
 * GEMM and the training plan does not (on an Intel CPU kind, a batch of 48 or
 * more and over 1 MiB of W and U).
 *
 * Backward takes the workspace as the training forward left it, with the same
 * W, U, b, x, h0, c0, and may overwrite it. dy, dhT, dcT NULL mean zeros. It
 * writes dx, dh0, dc0 (each NULL: not computed) and OVERWRITES dW [I][4H],
 * dU [H][4H], db [4H] (they are never accumulated into).
 *
 * workspace: caller-owned, at least recur_lstm_workspace_size(d) bytes,
 * 64-byte aligned (e.g. aligned_alloc(64, round_up(size, 64))).
 *
 * Masking (d->mask, Keras's RNN with a mask): mask [T][B] bytes, time-major
 * (mask[t * B + b]), non-zero = step t of sample b is valid; NULL = every step
 * is valid (a positional initializer {T, B, I, H, act} leaves it NULL). At a
 * masked step the sample's states are carried through unchanged, h_t = h_{t-1},
 * c_t = c_{t-1}, and y_t = h_t: the last valid step's h, or h0 before any
 * valid step; hT, cT are the states after the last step. Backward is the exact
 * gradient of that: a masked step's gate pre-activation gradients are 0 (it
 * adds nothing to dW, dU, db; its dx_t row is 0) and the state gradients pass
 * straight through, dh_{t-1} = dh_t + dy_t, dc_{t-1} = dc_t. Any pattern works
 * (left or right padding, holes, a sample masked throughout). Backward must be
 * given the mask its forward had. Masked steps are still computed and then
 * discarded, so their x must be finite (a NaN there reaches dW as 0 * NaN).
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
    const unsigned char *mask; /* [T][B], non-zero = step valid; NULL: all valid (see above) */
} recur_lstm_desc;

/* Bytes of training workspace; 0 if the descriptor is invalid. */
RECUR_API size_t recur_lstm_workspace_size(const recur_lstm_desc *d);
/* Bytes of inference scratch: what recur_*_forward_inference takes and a
 * NULL-workspace forward allocates; 0 if the descriptor is invalid. */
RECUR_API size_t recur_lstm_inference_scratch_size(const recur_lstm_desc *d);

RECUR_API recur_status recur_lstm_forward(const recur_lstm_desc *d, const float *W, const float *U,
                                          const float *b, const float *x, const float *h0,
                                          const float *c0, float *y, float *hT, float *cT,
                                          void *workspace);

RECUR_API recur_status recur_lstm_forward_inference(const recur_lstm_desc *d, const float *W,
                                                    const float *U, const float *b,
                                                    const float *x, const float *h0,
                                                    const float *c0, float *y, float *hT,
                                                    float *cT, void *scratch);

/* Weights packed once for many inference calls, as oneDNN reorders its
 * weights once: every forward packs W and U into its GEMM's panels (2-10% of
 * an inference call at the bench's shapes), and a caller that runs the same
 * weights again and again can pack them once instead:
 *
 *   size_t n = recur_lstm_packed_weights_size(&d);
 *   void *packed = aligned_alloc(64, (n + 63) / 64 * 64);
 *   recur_lstm_pack_weights(&d, W, U, packed);
 *   for (...) recur_lstm_forward_packed(&d, packed, b, x, h0, c0, y, hT, cT, scratch);
 *
 * packed: caller-owned, at least recur_lstm_packed_weights_size(d) bytes,
 * 64-byte aligned; it holds its own copy of what the forward needs of W and
 * U, so they may change or go after packing (pack again for new weights). It
 * is laid out for the descriptor's input_size, hidden_size and batch and for
 * this process's kernels: a forward whose descriptor differs in any of them,
 * or a buffer packed on another CPU kind, is RECUR_ERR_INVALID_ARGUMENT
 * naming what differs; seq_len, activation and mask may differ. The forward
 * is recur_lstm_forward_inference's (scratch as there, NULL allocating for
 * the call), the same y bit for bit. */
RECUR_API size_t recur_lstm_packed_weights_size(const recur_lstm_desc *d);
RECUR_API recur_status recur_lstm_pack_weights(const recur_lstm_desc *d, const float *W,
                                               const float *U, void *packed);
RECUR_API recur_status recur_lstm_forward_packed(const recur_lstm_desc *d, const void *packed,
                                                 const float *b, const float *x, const float *h0,
                                                 const float *c0, float *y, float *hT, float *cT,
                                                 void *scratch);

RECUR_API recur_status recur_lstm_backward(const recur_lstm_desc *d, const float *W,
                                           const float *U, const float *b, const float *x,
                                           const float *h0, const float *c0, const float *dy,
                                           const float *dhT, const float *dcT, float *dx,
                                           float *dh0, float *dc0, float *dW, float *dU,
                                           float *db, void *workspace);

/* ---- The GRU primitive -------------------------------------------------- *
 *
 * One GRU layer over a whole sequence, Keras semantics; gate blocks along 3H
 * in Keras's order z, r, h (PyTorch's r, z, n order and reset differ):
 *   reset_after = 1 (Keras 2 / TF2 default; oneDNN's lbr_gru), b [2][3H]:
 *     xz, xr, xh = x_t W + b[0]        rz, rr, rh = h_{t-1} U + b[1]
 *     z = sig(xz + rz)  r = sig(xr + rr)  hh = act(xh + r * rh)
 *   reset_after = 0 (TF1; oneDNN's vanilla_gru), b [3H]:
 *     xz, xr, xh = x_t W + b
 *     z = sig(xz + h_{t-1} U_z)  r = sig(xr + h_{t-1} U_r)  hh = act(xh + (r * h_{t-1}) U_h)
 *   h_t = z * h_{t-1} + (1 - z) * hh        y_t = h_t
 * act is tanh or relu (the candidate's activation); z and r are sigmoid.
 * W [I][3H], U [H][3H]; everything else as the LSTM: time-major x [T][B][I],
 * y, dy [T][B][H]; h0, hT, dhT, dh0 [B][H]; h0 NULL means zeros, hT NULL not
 * wanted; the workspace makes a training forward, NULL an inference one (as
 * the LSTM's: recur_gru_forward_inference takes caller-owned scratch); backward after that forward, dy/dhT NULL mean zeros, dx/dh0
 * NULL are skipped, dW, dU, db are OVERWRITTEN. mask: as the LSTM's (masked
 * steps carry h through, y_t = h_t; backward zeroes their gate gradients and
 * passes dh_{t-1} = dh_t + dy_t). Errors: as the LSTM's, plus
 * RECUR_ERR_INVALID_ARGUMENT for reset_after other than 0 or 1. */
typedef struct recur_gru_desc {
    int seq_len, batch, input_size, hidden_size; /* T, B, I, H */
    recur_act activation; /* candidate activation: RECUR_ACT_TANH or RECUR_ACT_RELU; gates z, r are sigmoid */
    int reset_after;      /* 1 (Keras 2 / TF2 default): reset gate applied after the recurrent product,
                             b is [2][3H] (row 0 input bias, row 1 recurrent bias);
                             0: reset gate applied to h before the product, b is [3H] */
    const unsigned char *mask; /* [T][B], non-zero = step valid; NULL: all valid (as the LSTM's) */
} recur_gru_desc;
RECUR_API size_t recur_gru_workspace_size(const recur_gru_desc *d);
/* Bytes of inference scratch: what recur_*_forward_inference takes and a
 * NULL-workspace forward allocates; 0 if the descriptor is invalid. */
RECUR_API size_t recur_gru_inference_scratch_size(const recur_gru_desc *d);
RECUR_API recur_status recur_gru_forward(const recur_gru_desc *d, const float *W, const float *U,
                                         const float *b, const float *x, const float *h0, float *y,
                                         float *hT, void *workspace);
RECUR_API recur_status recur_gru_forward_inference(const recur_gru_desc *d, const float *W,
                                                   const float *U, const float *b, const float *x,
                                                   const float *h0, float *y, float *hT,
                                                   void *scratch);
/* Packed weights as the LSTM's (recur_lstm_pack_weights); reset_after too
 * must match. */
RECUR_API size_t recur_gru_packed_weights_size(const recur_gru_desc *d);
RECUR_API recur_status recur_gru_pack_weights(const recur_gru_desc *d, const float *W,
                                              const float *U, void *packed);
RECUR_API recur_status recur_gru_forward_packed(const recur_gru_desc *d, const void *packed,
                                                const float *b, const float *x, const float *h0,
                                                float *y, float *hT, void *scratch);
RECUR_API recur_status recur_gru_backward(const recur_gru_desc *d, const float *W, const float *U,
                                          const float *b, const float *x, const float *h0,
                                          const float *dy, const float *dhT, float *dx, float *dh0,
                                          float *dW, float *dU, float *db, void *workspace);

/* ---- The SimpleRNN primitive -------------------------------------------- *
 *
 *   h_t = act(x_t W + h_{t-1} U + b)     y_t = h_t
 * W [I][H], U [H][H], b [H]; act tanh (Keras's default) or relu; layouts,
 * NULL arguments, workspace, inference scratch, packed weights, mask (h
 * carried through masked steps) and errors as the LSTM's. */
typedef struct recur_rnn_desc {
    int seq_len, batch, input_size, hidden_size; /* T, B, I, H */
    recur_act activation; /* RECUR_ACT_TANH (Keras default) or RECUR_ACT_RELU */
    const unsigned char *mask; /* [T][B], non-zero = step valid; NULL: all valid (as the LSTM's) */
} recur_rnn_desc;
RECUR_API size_t recur_rnn_workspace_size(const recur_rnn_desc *d);
RECUR_API size_t recur_rnn_inference_scratch_size(const recur_rnn_desc *d);
RECUR_API recur_status recur_rnn_forward(const recur_rnn_desc *d, const float *W, const float *U,
                                         const float *b, const float *x, const float *h0, float *y,
                                         float *hT, void *workspace);
RECUR_API recur_status recur_rnn_forward_inference(const recur_rnn_desc *d, const float *W,
                                                   const float *U, const float *b, const float *x,
                                                   const float *h0, float *y, float *hT,
                                                   void *scratch);
RECUR_API size_t recur_rnn_packed_weights_size(const recur_rnn_desc *d);
RECUR_API recur_status recur_rnn_pack_weights(const recur_rnn_desc *d, const float *W,
                                              const float *U, void *packed);
RECUR_API recur_status recur_rnn_forward_packed(const recur_rnn_desc *d, const void *packed,
                                                const float *b, const float *x, const float *h0,
                                                float *y, float *hT, void *scratch);
RECUR_API recur_status recur_rnn_backward(const recur_rnn_desc *d, const float *W, const float *U,
                                          const float *b, const float *x, const float *h0,
                                          const float *dy, const float *dhT, float *dx, float *dh0,
                                          float *dW, float *dU, float *db, void *workspace);

/* ---- The Sequential model -------------------------------------------------- *
 *
 * Keras's Sequential, in C. Samples are [T][F] floats, batch-major at the API
 * ([N][T][F], as Keras takes them). Build it layer by layer, compile, fit:
 *
 *   recur_model *m;
 *   recur_model_create(&m, 28, 28, 42);                 T, F, seed
 *   recur_model_add_lstm(m, 128, RECUR_ACT_RELU, 1);    return_sequences
 *   recur_model_add_dropout(m, 0.2f);
 *   recur_model_add_dense(m, 10, RECUR_ACT_SOFTMAX);
 *   recur_optimizer adam = recur_adam(1e-3f);
 *   recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
 *   recur_model_fit(m, x, y, n, &options);
 *
 * Initialisation follows Keras and is seeded: glorot_uniform kernels (the
 * fused LSTM kernel counts fan_out = 4*units), orthogonal recurrent kernels,
 * zero biases with the LSTM forget-gate bias 1. Parameters, gradients and
 * optimizer state live in flat buffers; a training step allocates nothing.
 * A model is used by one thread at a time; separate models are independent. */
typedef struct recur_model recur_model;

RECUR_API recur_status recur_model_create(recur_model **out, int seq_len, int features,
                                          uint64_t seed);
RECUR_API void recur_model_destroy(recur_model *m); /* NULL accepted */

/* Layers. A recurrent layer (LSTM, GRU, SimpleRNN) takes a sequence; Dense
 * and Dropout take either (Dense on a sequence applies to every step, as
 * Keras's Dense on rank-3 input). */
RECUR_API recur_status recur_model_add_lstm(recur_model *m, int units, recur_act activation,
                                            int return_sequences);
/* Keras's GRU(units, activation, reset_after, return_sequences) and
 * SimpleRNN(units, activation, return_sequences); activation tanh or relu. */
RECUR_API recur_status recur_model_add_gru(recur_model *m, int units, recur_act activation,
                                           int reset_after, int return_sequences);
RECUR_API recur_status recur_model_add_simple_rnn(recur_model *m, int units, recur_act activation,
                                                  int return_sequences);
RECUR_API recur_status recur_model_add_dense(recur_model *m, int units, recur_act activation);
RECUR_API recur_status recur_model_add_dropout(recur_model *m, float rate);
/* Layers from a comma-separated spec, e.g.
 * "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dense:10:softmax". Layer kinds:
 * lstm:UNITS[:tanh|relu][:seq], gru:UNITS[:tanh|relu][:seq][:reset_after=0|1]
 * (default 1), rnn:UNITS[:tanh|relu][:seq] (SimpleRNN),
 * dense:UNITS[:linear|relu|tanh|sigmoid|softmax], dropout:RATE. A bad spec
 * adds nothing and the message names the item. */
RECUR_API recur_status recur_model_add_layers(recur_model *m, const char *spec);

/* ---- Tokens, masks, both directions ------------------------------------ *
 *
 * Keras's Embedding(input_dim, output_dim, mask_zero): token ids in, vectors
 * of output_dim out (uniform(-0.05, 0.05) initial weights). It must be the
 * first layer of a model created with features = 1; the model then takes
 * int32 token ids [N][T] through the *_ids calls below (the float calls refuse
 * it, and the *_ids calls refuse a float model). An id outside [0, input_dim)
 * is an error naming the sample and the step. mask_zero: id 0 is padding and
 * masks its step. Spec: embedding:INPUT_DIM:OUTPUT_DIM[:mask_zero]. */
RECUR_API recur_status recur_model_add_embedding(recur_model *m, int input_dim, int output_dim,
                                                 int mask_zero);
/* Keras's Masking(mask_value): a step whose features all equal mask_value is
 * masked (and its features become 0, as Keras's). Spec: masking[:VALUE]
 * (default 0). */
RECUR_API recur_status recur_model_add_masking(recur_model *m, float mask_value);

/* A mask made by Embedding(mask_zero) or Masking flows through Dropout, Dense
 * and recurrent layers with return_sequences, as in Keras. A recurrent layer
 * at a masked step carries its states through unchanged and outputs its
 * previous output (zeros before the first valid step); inside Bidirectional
 * with return_sequences it outputs zeros there instead (Keras sets
 * zero_output_for_mask on both copies). Losses and metrics skip masked steps.
 *
 * Recurrent specs take `backwards` (Keras go_backwards: the layer reads the
 * sequence from its last step, and a sequence output comes out in that
 * reversed order), e.g. lstm:64:seq:backwards. */

typedef enum {
    RECUR_MERGE_CONCAT, /* Keras's default: [forward | backward] features */
    RECUR_MERGE_SUM,
    RECUR_MERGE_MUL,
    RECUR_MERGE_AVE
} recur_merge_mode;
/* Keras's Bidirectional(layer, merge_mode) over the recurrent layer that
 * `layer_spec` describes (built-in or custom cell: "lstm:64:seq",
 * "cell:mgu:32"): a forward copy and a backward copy (go_backwards, its
 * sequence output flipped back into time order), each with its own weights
 * (forward's arrays then backward's in the parameter buffer), merged. Spec:
 * bidirectional:KIND:...[:merge=concat|sum|mul|ave], e.g.
 * "bidirectional:lstm:64:seq:merge=sum"; layer_spec holds no merge field.
 * A wrapped layer with `backwards` swaps the copies' directions, as Keras
 * (its backward copy takes go_backwards = not the layer's). */
RECUR_API recur_status recur_model_add_bidirectional(recur_model *m, const char *layer_spec,
                                                     recur_merge_mode merge);

/* ---- Custom cells: Keras's RNN(cell) ------------------------------------ *
 *
 * A cell is the math of one step; recur runs the rest (time loop, threads,
 * backpropagation through time, masks, Bidirectional, parameters, optimizer,
 * saving). The common shape is "products, then elementwise": with G = gates *
 * units, recur computes for each step
 *   z = x_t W + b                     W: kernel [I][G]
 *   z += h_{t-1} U                    U: recurrent_kernel [units][G] (recurrent = 1)
 * or, with separate = 1, the recurrent part apart: zh = h_{t-1} U + b_h (bias
 * [2][G]: b, then b_h), as Keras's GRU with reset_after. The cell's forward
 * turns z (and zh) and the previous states into the new states; state 0 is h,
 * the layer's output. Its backward turns dLoss/d(new states) into dLoss/dz
 * (and dLoss/dzh), written over z (and zh), and into dLoss/d(previous states)
 * through its elementwise math; recur adds the products' parts. A cell may
 * also own per-unit parameter arrays (peephole weights, IndRNN's recurrent
 * weights) whose gradient it gives per row; recur sums the rows in a fixed
 * order, so results never depend on the thread count. */

#define RECUR_CELL_MAX_GATES 8
#define RECUR_CELL_MAX_STATES 4
#define RECUR_CELL_MAX_PARAMS 4

/* One call of a cell's step: `rows` batch rows of `units` units (a thread's
 * block: the first unit of the block is unit 0 of every pointer). Element
 * (r, j) of gate q: z[r * ldz + q * H + j]; of state k: s[k][r * lds + j]; of
 * parameter array a's row i (arrays are size_per_unit rows of H): p[a][i * H
 * + j]; of a per-row parameter gradient: dp[a][r * lddp + i * H + j]; of m,
 * dm and scratch: m[r * lds + j], scratch[r * ldscratch + j] (scratch has
 * RECUR_CELL_MAX_GATES * H floats a row, the caller's own for the step: it
 * keeps its contents from backward to backward_mid of the same step). */
typedef struct recur_cell_args {
    int rows, units, H;
    recur_act act;                /* the layer's activation */
    float *z, *zh;                /* zh: separate cells only, else NULL */
    int ldz;
    const float *const *s_prev;   /* states at t-1 */
    float *const *s;              /* forward: write the new states; backward: the new states (read) */
    int lds;
    const float *const *p;        /* the cell's parameter arrays */
    float *m;                     /* mid cells: forward_mid writes m; backward: m as it was */
    float *scratch;
    int ldscratch;
    /* backward only */
    const float *const *ds;       /* dLoss/d(new states) */
    float *const *ds_prev;        /* write dLoss/d(states at t-1) through the elementwise math */
    float *const *dp;             /* write each row's share of the parameter arrays' gradients */
    int lddp;
    const float *dm;              /* backward_mid: dLoss/dm */
    const void *user;             /* the cell's user pointer */
} recur_cell_args;

typedef enum {
    RECUR_INIT_ZEROS,
    RECUR_INIT_CONSTANT, /* value */
    RECUR_INIT_UNIFORM   /* uniform(-value, value) */
} recur_init;

typedef struct recur_cell_param {
    const char *name;  /* "peephole_i": the summary and error messages use it */
    int size_per_unit; /* the array is size_per_unit * units floats */
    recur_init init;
    float value;
} recur_cell_param;

typedef struct recur_cell {
    const char *name;  /* registry name: stored in model files, used by specs (cell:NAME:UNITS) */
    int gates;         /* products gates * units wide, 1..RECUR_CELL_MAX_GATES */
    int recurrent;     /* 1: h_{t-1} U joins the product; 0: no recurrent kernel */
    int separate;      /* 1: the recurrent product comes apart in zh (needs recurrent) */
    int states;        /* state vectors of units each, 1..RECUR_CELL_MAX_STATES (h first) */
    float gate_bias[RECUR_CELL_MAX_GATES]; /* initial bias of each gate block (Keras's
                                               unit_forget_bias: 1 for a forget gate) */
    int nparams;       /* per-unit parameter arrays, 0..RECUR_CELL_MAX_PARAMS */
    recur_cell_param params[RECUR_CELL_MAX_PARAMS];
    void (*forward)(const recur_cell_args *a);
    void (*backward)(const recur_cell_args *a);
    const void *user;  /* passed to every call */
    /* Mid-step products (GRU without reset_after, the original MGU): the last
     * `mid` gate blocks' recurrent product takes a vector m the cell makes
     * from the other gates instead of h_{t-1} (m = r * h_{t-1}). Per step:
     * z[other gates] += h_{t-1} U; forward_mid writes m; z[mid gates] += m U;
     * forward. Backward: backward writes dz of the mid gates (and may leave
     * partial results in scratch); recur computes dm = dz[mid] U[mid]^T;
     * backward_mid writes dz of the other gates and ADDS to ds_prev the parts
     * through m. 0: no mid gates (NULL functions). Needs recurrent = 1 and
     * separate = 0. */
    int mid;
    void (*forward_mid)(const recur_cell_args *a);
    void (*backward_mid)(const recur_cell_args *a);
} recur_cell;

/* Registers a cell on this model (the model keeps the pointer: the struct
 * must outlive it); names are unique per model. Then "cell:NAME:UNITS[:tanh|
 * relu][:seq][:backwards]" in a spec, or recur_model_add_cell, adds one. */
RECUR_API recur_status recur_model_register_cell(recur_model *m, const recur_cell *cell);
RECUR_API recur_status recur_model_add_cell(recur_model *m, const char *name, int units,
                                            recur_act activation, int return_sequences);

/* Vector math for cells, on the kernel set recur_isa() names (the functions
 * its gate kernels use): y[k] = f(x[k]) for k < n; y == x or the two apart,
 * any alignment, nothing read or written past n. */
RECUR_API void recur_vsigmoid(size_t n, const float *x, float *y);
RECUR_API void recur_vtanh(size_t n, const float *x, float *y);
/* act: tanh, relu (NaN gives 0, as in the layers), sigmoid or linear; softmax
 * (not elementwise) and unknown values copy x, as linear */
RECUR_API void recur_vact(recur_act act, size_t n, const float *x, float *y);

typedef enum { RECUR_OPTIMIZER_ADAM, RECUR_OPTIMIZER_SGD } recur_optimizer_kind;
typedef struct recur_optimizer {
    recur_optimizer_kind kind;
    float learning_rate;
    float decay;                   /* lr / (1 + decay * iterations), Keras's legacy decay */
    float beta_1, beta_2, epsilon; /* Adam */
    float momentum;                /* SGD */
    int nesterov;                  /* SGD */
    /* Gradient clipping as Keras's legacy (tf.keras OptimizerV2) optimizers,
     * 0 = off: first every element is clamped to [-clipvalue, clipvalue], then
     * each array (an LSTM's kernel, recurrent_kernel and bias separately, not
     * the global norm) whose L2 norm exceeds clipnorm is scaled to clipnorm. */
    float clipnorm, clipvalue;
} recur_optimizer;
/* Keras's legacy Adam: beta_1 0.9, beta_2 0.999, epsilon 1e-7, decay 0, no clipping. */
RECUR_API recur_optimizer recur_adam(float learning_rate);
RECUR_API recur_optimizer recur_sgd(float learning_rate, float momentum);

typedef enum {
    RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, /* y: [N] class indices as floats */
    RECUR_LOSS_MSE,                             /* y: [N][outputs] targets */
    RECUR_LOSS_BINARY_CROSSENTROPY              /* y: [N] 0 or 1, after a Dense(1, sigmoid) */
} recur_loss;
/* A last layer that returns a sequence (return_sequences, then a Dense that
 * runs on every step) takes per-step targets: sparse categorical
 * cross-entropy labels [N][T], MSE targets [N][T][outputs], binary
 * cross-entropy labels [N][T]; the loss is the mean over the valid (unmasked)
 * steps. As Keras 3 (and recent tf.keras) reduce a masked loss: a masked step
 * weighs 0 and the batch's sum is divided by its count of valid steps, not by
 * B * T; a batch without a valid step has loss 0 and gradient 0. MSE is the
 * mean over the outputs of each sample or step, then that mean.
 *
 * Binary cross-entropy is computed from the Dense's logit z, as Keras's
 * TensorFlow backend does after a sigmoid: max(z, 0) - y z + log(1 +
 * exp(-|z|)), which equals Keras's clipped formula on probabilities except
 * that it does not saturate at -log(1e-7) for confident wrong answers; the
 * gradient (p - y) / count is fused into the Dense as for softmax. Accuracy:
 * (p > 0.5) == y. */

/* Allocates parameters and optimizer state and initialises the weights.
 * Sparse categorical cross-entropy needs a Dense softmax last, binary
 * cross-entropy a Dense(1, sigmoid) (each fused with its loss for stability;
 * else RECUR_ERR_UNSUPPORTED naming the problem). The last layer may give one
 * vector per sample or a sequence (per-step targets, above). */
RECUR_API recur_status recur_model_compile(recur_model *m, const recur_optimizer *opt,
                                           recur_loss loss);

typedef struct recur_epoch_logs {
    int epoch;         /* 0-based from the start of training: a resumed fit starts at initial_epoch */
    float loss;        /* mean over the epoch's training samples (with dropout); per-step
                          targets: the sum over all valid steps / their count */
    float accuracy;    /* NaN for MSE; per-step targets: the fraction of valid steps right */
    float val_loss;    /* NaN without validation data */
    float val_accuracy;
    double seconds;    /* wall time of the epoch, validation included */
    float mae, val_mae; /* mean absolute error (Keras's "mae" metric) for MSE, else NaN */
} recur_epoch_logs;

/* Called after each epoch, once the model counts it as done; a non-zero
 * return stops training. It may call recur_model_save on the model (a
 * checkpoint: loading it and fitting with initial_epoch RECUR_EPOCHS_DONE
 * continues exactly where this run would), evaluate and predict; not fit. */
typedef int (*recur_epoch_callback)(void *user, const recur_epoch_logs *logs);

/* initial_epoch value: the epochs the model has done (e.g. a loaded checkpoint's) */
#define RECUR_EPOCHS_DONE (-1)

typedef struct recur_fit_options {
    int epochs;             /* default 1 */
    int batch_size;         /* default 32; the last batch of an epoch may be smaller */
    int shuffle;            /* default 1: reshuffle the training samples every epoch */
    float validation_split; /* the LAST fraction of x/y, taken before shuffling */
    const float *val_x, *val_y; /* validation data (overrides validation_split) */
    size_t val_n;
    int verbose;            /* 0 silent, 1 progress bar, 2 one line per epoch */
    FILE *progress;         /* where verbose output goes; recur writes nothing without it */
    recur_epoch_callback on_epoch_end;
    void *user;
    const int32_t *val_ids; /* token models: validation ids (with val_y, val_n) */
    int initial_epoch;      /* Keras's initial_epoch, default 0: fit runs epochs
                               initial_epoch..epochs-1, so `epochs` is the total;
                               RECUR_EPOCHS_DONE resumes a checkpoint */
} recur_fit_options;
RECUR_API recur_fit_options recur_fit_defaults(void);

/* Trains. A non-finite loss or gradient stops it at once with
 * RECUR_ERR_NUMERIC, before that step's update: the model keeps the last good
 * weights and optimizer state, and the message names the layer (index and
 * Keras name, e.g. "layer 3 (lstm_1)"), the epoch and the step. */
RECUR_API recur_status recur_model_fit(recur_model *m, const float *x, const float *y, size_t n,
                                       const recur_fit_options *options);
/* The epochs of the last fit, in order; valid until the next fit or destroy. */
RECUR_API int recur_model_history(const recur_model *m, const recur_epoch_logs **epochs);

/* Loss and accuracy (NaN for MSE) over n samples, in inference mode; with
 * per-step targets, means over all the valid steps (masked steps skipped).
 * Evaluate, predict and the predict_step calls run the LSTM, GRU and
 * SimpleRNN layers' inference forward (recur_*_forward_inference): the
 * training forward's outputs, bit for bit except to rounding where that plan
 * takes the input product into the step (see recur_lstm_forward). */
RECUR_API recur_status recur_model_evaluate(recur_model *m, const float *x, const float *y,
                                            size_t n, int batch_size, float *loss,
                                            float *accuracy);
/* The same with every metric: accuracy NaN for MSE, mae (mean absolute
 * error) NaN unless the loss is MSE. */
typedef struct recur_metrics {
    float loss, accuracy, mae;
} recur_metrics;
RECUR_API recur_status recur_model_evaluate_metrics(recur_model *m, const float *x, const float *y,
                                                    size_t n, int batch_size, recur_metrics *out);
RECUR_API recur_status recur_model_evaluate_metrics_ids(recur_model *m, const int32_t *ids,
                                                        const float *y, size_t n, int batch_size,
                                                        recur_metrics *out);
/* out [n][recur_model_output_size(m)]: probabilities for a softmax model. */
RECUR_API recur_status recur_model_predict(recur_model *m, const float *x, size_t n,
                                           int batch_size, float *out);
RECUR_API int recur_model_output_size(const recur_model *m);
/* Output steps per sample: the sequence length when the last layer returns a
 * sequence (the model takes per-step targets), 1 when it gives one vector per
 * sample; 0 for NULL or a model without layers. */
RECUR_API int recur_model_output_steps(const recur_model *m);
/* The sample shape given to recur_model_create (0 and 0 for NULL), e.g. to
 * check a loaded model against the data. */
RECUR_API void recur_model_input_shape(const recur_model *m, int *seq_len, int *features);
RECUR_API size_t recur_model_param_count(const recur_model *m);
/* Floats of y per sample for the compiled loss (1 or outputs, times the
 * output steps for per-step targets); 0 for NULL or a model not compiled. */
RECUR_API size_t recur_model_target_size(const recur_model *m);
/* Keras's model.summary() table into buf (snprintf rules: returns the full
 * length, writes at most size bytes including the terminating NUL). */
RECUR_API size_t recur_model_summary(const recur_model *m, char *buf, size_t size);

/* The flat parameter buffer of a compiled model: layer by layer, each layer's
 * arrays in Keras's get_weights() order (LSTM: kernel [I][4H],
 * recurrent_kernel [H][4H], bias [4H]; GRU: kernel [I][3H], recurrent_kernel
 * [H][3H], bias [2][3H] with reset_after, else [3H]; SimpleRNN: kernel [I][H],
 * recurrent_kernel [H][H], bias [H]; Dense: kernel [in][units], bias
 * [units]). Writable: set weights by writing into it. NULL if not compiled. */
RECUR_API float *recur_model_params(recur_model *m, size_t *count);
/* The gradient buffer, same layout, as the last compute_gradients left it. */
RECUR_API const float *recur_model_gradients(const recur_model *m, size_t *count);
/* Forward and backward over n samples as one batch: the mean loss (over the
 * valid steps, for per-step targets) into *loss and its gradient into the
 * gradient buffer, parameters unchanged. training
 * non-zero applies dropout, with the mask the next fit step would draw (it
 * depends on the seed and the optimizer's step count only). For data-parallel
 * training: compute, average the gradient buffers across ranks, apply. */
RECUR_API recur_status recur_model_compute_gradients(recur_model *m, const float *x,
                                                     const float *y, size_t n, int training,
                                                     float *loss);
/* One optimizer step with the gradient buffer's contents, which clipping
 * (clipvalue, clipnorm) changes in place. A non-finite gradient gives
 * RECUR_ERR_NUMERIC naming the layer and array, and changes nothing. */
RECUR_API recur_status recur_model_apply_gradients(recur_model *m);
/* Called during every backward pass (fit, compute_gradients) as soon as a
 * layer's gradients are final, last layer first, with that layer's range
 * [offset, offset + count) of the gradient buffer (layers without parameters
 * are skipped; the ranges cover the buffer once). E.g. to start reducing a
 * bucket across ranks while backward runs on. It must not call into the
 * model. fn NULL removes it; RECUR_ERR_NULL_POINTER for m NULL. */
RECUR_API recur_status recur_model_set_gradient_callback(
    recur_model *m, void (*fn)(void *user, size_t offset, size_t count), void *user);

/* ---- Data-parallel fit, whatever carries the bytes ----------------------
 * recur_model_fit across `size` processes: how librecur_mpi (recur_mpi.h)
 * trains, open to any other transport. Every process calls
 * recur_model_fit_parallel with the same architecture, data, options and
 * size; process 0's weights, optimizer state and training position are
 * broadcast first. options->batch_size is per process: a global batch is
 * batch_size * size rows of one order shuffled alike everywhere, and process
 * r computes the gradient of rows [r*b, r*b + b) (the last batch split as
 * evenly as its rows allow), scaled by the global batch's entry count, so the
 * sums over processes are the gradient of the global batch's mean loss (as
 * one process with batch_size * size; dropout masks are drawn by global row,
 * so they match too). The optimizer step then runs identically everywhere.
 * Metrics, history and validation (evaluated in shares) are global; the
 * progress bar and on_epoch_end run on process 0 only (its return value
 * stops every process). A model file records the process count, and resuming
 * (initial_epoch RECUR_EPOCHS_DONE) with another count fails. Every failure
 * is reached on every process at the same step, so none waits forever. The
 * hooks return RECUR_OK or an error set with recur_set_error. */
typedef struct recur_parallel {
    int rank, size; /* this process's place among `size` */
    void *user;     /* passed to the hooks */
    /* process 0's `bytes` at p into every process's p */
    recur_status (*broadcast)(void *user, void *p, size_t bytes);
    /* n doubles summed across processes, in place, the same on all of them */
    recur_status (*sum)(void *user, double *v, int n);
    /* backward finished grads[offset, offset + count): start summing it
     * across processes, in place. The same ranges in the same order on every
     * process (last layer first); the sums must be done by grads_wait. */
    void (*grads_ready)(void *user, float *grads, size_t offset, size_t count);
    /* waits until every range of this step is summed */
    recur_status (*grads_wait)(void *user);
} recur_parallel;

/* x (float models) or ids (token models; the other NULL); validation data
 * through the options as for recur_model_fit(_ids). */
RECUR_API recur_status recur_model_fit_parallel(recur_model *m, const float *x,
                                                const int32_t *ids, const float *y, size_t n,
                                                const recur_fit_options *options,
                                                const recur_parallel *parallel);

/* Model files: architecture, weights, optimizer state and training position,
 * versioned, checksummed, replaced atomically. See README.md for the format. */
RECUR_API recur_status recur_model_save(const recur_model *m, const char *path);
RECUR_API recur_status recur_model_load(recur_model **out, const char *path);
/* Loads a model that uses custom cells: cells[0..ncells) are registered on
 * it first; a cell the file names but the list lacks fails with
 * RECUR_ERR_FORMAT naming the file, the layer and the cell. */
RECUR_API recur_status recur_model_load_with_cells(recur_model **out, const char *path,
                                                   const recur_cell *const *cells, int ncells);

/* ---- Token models: the same calls, typed for int32 ids ------------------ *
 * ids [N][T] (val_ids in recur_fit_options for validation); y as the float
 * calls. */
RECUR_API recur_status recur_model_fit_ids(recur_model *m, const int32_t *ids, const float *y,
                                           size_t n, const recur_fit_options *options);
RECUR_API recur_status recur_model_evaluate_ids(recur_model *m, const int32_t *ids,
                                                const float *y, size_t n, int batch_size,
                                                float *loss, float *accuracy);
RECUR_API recur_status recur_model_predict_ids(recur_model *m, const int32_t *ids, size_t n,
                                               int batch_size, float *out);
RECUR_API recur_status recur_model_compute_gradients_ids(recur_model *m, const int32_t *ids,
                                                         const float *y, size_t n, int training,
                                                         float *loss);
/* Whether the model takes token ids (an Embedding first). */
RECUR_API int recur_model_takes_ids(const recur_model *m);

/* ---- Stateful stepping, for generation ---------------------------------- *
 * Keras's stateful=True: each call runs ONE step for `batch` independent
 * streams and the recurrent layers keep their states for the next call, so n
 * steps cost n steps. x_t [batch][features] (ids_t [batch]): the streams'
 * inputs at this step; out [batch][outputs]: the last layer's output at this
 * step (the output at that step of a whole-sequence predict, for a model
 * whose last layers return sequences; a recurrent layer without
 * return_sequences gives its h at the step). The first call, a change of
 * batch, or recur_model_reset_states starts from zero states. Training and
 * predict do not touch these states. The first call (and a change of batch)
 * allocates the state buffers; later steps allocate nothing. A mask made by
 * Masking or Embedding(mask_zero) is honoured as predict honours it: a masked
 * step carries the stream's states through and repeats its previous output.
 * Layers that need the whole sequence (go_backwards, Bidirectional) cannot
 * step: RECUR_ERR_UNSUPPORTED naming the layer. */
RECUR_API recur_status recur_model_predict_step(recur_model *m, const float *x_t, int batch,
                                                float *out);
RECUR_API recur_status recur_model_predict_step_ids(recur_model *m, const int32_t *ids_t,
                                                    int batch, float *out);
RECUR_API void recur_model_reset_states(recur_model *m);
/* Draws an index from probabilities p[0..n) sharpened by temperature (p^(1/T)
 * renormalised; T -> 0 is argmax), with a splitmix64 generator state *rng.
 * p need not sum to 1 (weights); computed in double through logs, so any
 * positive temperature works (a tiny one picks among the largest p). T <= 0
 * returns the first largest p without drawing. Returns -1 for p or rng
 * NULL, n < 1, a NaN temperature, a negative or non-finite p, or p all 0. */
RECUR_API int recur_sample(const float *p, int n, float temperature, uint64_t *rng);

/* Keras's sparse_categorical_crossentropy on probabilities (clipped to
 * [1e-7, 1-1e-7]), mean over n rows of `classes` values. */
RECUR_API recur_status recur_sparse_categorical_crossentropy(const float *probs,
                                                             const float *labels, size_t n,
                                                             int classes, float *loss);

/* ---- Data: IDX files (MNIST, Fashion-MNIST) ------------------------------ *
 *
 * IDX: bytes 0 0 <type> <rank>, then rank big-endian uint32 dims, then the
 * elements, big-endian, row-major. Malformed files (bad magic or type, rank 0
 * or above RECUR_IDX_MAX_RANK, a zero dimension, sizes that overflow or exceed
 * 2^40 bytes, truncated data, trailing bytes, a corrupt gzip stream) give
 * RECUR_ERR_FORMAT; files that cannot be opened or read give RECUR_ERR_IO. The
 * message names the file. On failure *out is left zeroed. */
typedef enum {
    RECUR_IDX_U8 = 0x08, RECUR_IDX_I8 = 0x09, RECUR_IDX_I16 = 0x0B,
    RECUR_IDX_I32 = 0x0C, RECUR_IDX_F32 = 0x0D, RECUR_IDX_F64 = 0x0E
} recur_idx_type;
#define RECUR_IDX_MAX_RANK 8
typedef struct recur_idx {
    recur_idx_type type;
    int rank;
    size_t dims[RECUR_IDX_MAX_RANK];
    size_t count;  /* product of dims */
    void *data;    /* count elements of `type`, converted to host byte order */
} recur_idx;
/* Reads an IDX file, plain or gzip-compressed (detected from the content, not the name). */
RECUR_API recur_status recur_idx_read(const char *path, recur_idx *out);
RECUR_API void recur_idx_free(recur_idx *idx); /* NULL and zeroed structs accepted */

typedef struct recur_dataset {
    size_t n;              /* samples */
    int seq_len, features; /* each image: seq_len time steps (its rows) of `features` pixels (its columns) */
    float *x;              /* [n][seq_len][features], pixels scaled to [0,1] (byte/255) */
    float *y;              /* [n] class labels 0..9 as floats */
} recur_dataset;
/* Loads DIR/<prefix>-images-idx3-ubyte and DIR/<prefix>-labels-idx1-ubyte (each also tried with
 * ".gz" appended when the plain name does not exist); prefix is "train" or "t10k".
 * Images must be U8 of rank 3, labels U8 of rank 1 with values below 10, and
 * their counts equal (else RECUR_ERR_FORMAT). On failure *out is left zeroed. */
RECUR_API recur_status recur_mnist_load(const char *dir, const char *prefix, recur_dataset *out);
/* Both sets of DIR, "train" and "t10k", checked to agree: the same image shape
 * and no test class that no training label has (else RECUR_ERR_FORMAT, naming
 * both files). On failure both are left zeroed. */
RECUR_API recur_status recur_mnist_load_pair(const char *dir, recur_dataset *train,
                                             recur_dataset *test);
RECUR_API void recur_dataset_free(recur_dataset *d); /* NULL accepted */

/* ---- Data: CSV tables, text, lines --------------------------------------- *
 * Every reader refuses what it cannot read right with RECUR_ERR_FORMAT (or
 * RECUR_ERR_IO) and a message naming the file, the line (1-based) and, for
 * CSV, the column; on failure *out is left zeroed. A UTF-8 byte order mark
 * starting a file is skipped; files over 1 GiB are refused. */

/* A CSV file: a header line of column names, then rows of numbers (decimal,
 * optional sign and exponent), comma-separated, LF or CRLF line ends, every
 * row as many cells as the header. An empty cell, a non-numeric cell, a
 * ragged row, a duplicate or empty column name, or no data row is an error.
 * Strict: no quoting and nothing trimmed (a name with quotes, control
 * characters or spaces around it is refused); a number is
 * [+-]digits[.digits][(e|E)[+-]digits] (also ".5", "5."), never inf, nan,
 * hex or spaced, and must fit a double. The last line may lack its LF; a blank
 * line is an error unless it is the file's last line. names[0] starts one
 * block holding every name: free with recur_table_free only. */
typedef struct recur_table {
    size_t rows;
    int cols;
    char **names;   /* [cols] */
    double *values; /* [rows][cols] */
} recur_table;
RECUR_API recur_status recur_csv_read(const char *path, recur_table *out);
/* the column's index, or -1 */
RECUR_API int recur_table_column(const recur_table *t, const char *name);
RECUR_API void recur_table_free(recur_table *t); /* NULL and zeroed accepted */

/* A UTF-8 text as characters (Unicode code points), each mapped to a token id:
 * ids in the order of the sorted distinct code points. Every character counts,
 * line ends included as they are (a CRLF file gives CR characters). An empty
 * file, a NUL byte or malformed UTF-8 (a binary file: a stray or invalid byte,
 * a truncated sequence, an overlong encoding, a surrogate, a code point above
 * U+10FFFF) is an error naming the line and the byte in it. */
typedef struct recur_text {
    size_t n;         /* characters */
    int32_t *ids;     /* [n] */
    int vocab;        /* distinct characters */
    uint32_t *chars;  /* [vocab] code point of each id, ascending */
} recur_text;
RECUR_API recur_status recur_text_read(const char *path, recur_text *out);
RECUR_API void recur_text_free(recur_text *t);
/* The id of code point c in t, or -1. */
RECUR_API int recur_text_id(const recur_text *t, uint32_t c);
/* Writes code point c as UTF-8 into buf (at least 5 bytes, NUL-terminated);
 * returns its length (0, and buf "", for U+0000, which no reader accepts, a
 * surrogate or a value above U+10FFFF; 0 for a NULL buf). */
RECUR_API int recur_utf8_encode(uint32_t c, char *buf);

/* The lines of a UTF-8 text file (LF or CRLF), without their line ends;
 * blank lines (empty once the line end is removed: a line of spaces is kept)
 * skipped. A file with no line, a NUL byte or malformed UTF-8 is an error
 * naming the line. lines[0] starts one block holding every line: free with
 * recur_lines_free only. */
typedef struct recur_lines {
    size_t n;
    char **lines; /* [n], NUL-terminated UTF-8 */
    size_t *line_numbers; /* [n] 1-based line of each in the file */
} recur_lines;
RECUR_API recur_status recur_lines_read(const char *path, recur_lines *out);
RECUR_API void recur_lines_free(recur_lines *l);

#ifdef __cplusplus
}
#endif

#endif /* RECUR_H */
