/* The Sequential model's internals, shared by model.c, optim.c, model_io.c,
 * spec.c and summary.c. */
#ifndef RECUR_MODEL_H
#define RECUR_MODEL_H

#include "internal.h"

typedef struct layer layer;

/* most weight arrays one layer has (a Bidirectional custom cell: 2 x 8) */
#define LAYER_MAX_ARRAYS 16
typedef struct recurrent_cell recurrent_cell;

/* What a forward runs for (layer_ops.forward's mode): Dropout drops only
 * with FWD_DROPOUT (Keras's training=True); without FWD_TAPE no backward
 * follows, and recurrent layers run their inference forward (no tapes).
 * FWD_KEEP_PACK (inference only): the weights and the batch are those of the
 * model's previous forward, a batch before in the same predict or evaluate,
 * so a recurrent layer may use the weights it packed then. */
enum { FWD_DROPOUT = 1, FWD_TAPE = 2, FWD_KEEP_PACK = 4 };

/* A layer kind: one file in src/layers/ fills one of these; the model, the
 * spec parser, the summary and the model file walk it and never switch on
 * the kind. NULL slots: nothing to do. */
typedef struct layer_ops {
    uint32_t file_id; /* the kind's number in model files (1 LSTM, 2 Dense, 3 Dropout, ...) */
    const char *keras; /* Keras's layer name, numbered per kind: "lstm", "lstm_1", ... */
    const char *type;  /* the summary's type column: "LSTM" */
    const char *spec;  /* the spec keyword: "lstm" */
    /* spec fields after the keyword (f[0..n)) into *L, from a zeroed layer with
     * ops set; 0 and a message in why when they are wrong */
    int (*parse)(layer *L, char **f, int n, char *why, size_t whylen);
    /* checks the options against the input shape (in_steps, in_feat, and
     * whether a previous layer exists) and sets out_steps, out_feat, out_seq,
     * nparams */
    recur_status (*build)(layer *L, int has_prev, int index, const char *fn);
    /* the weight arrays in Keras's get_weights() order: absolute offsets into
     * the flat buffers (from w_off), lengths, names; returns how many (<=
     * LAYER_MAX_ARRAYS) */
    int (*arrays)(const layer *L, size_t off[], size_t len[], const char *name[]);
    /* Keras's initialisers into the layer's parameters (zeroed before); 0 on
     * allocation failure */
    int (*init)(const layer *L, float *params, uint64_t *rng);
    /* batch buffers beyond out and dout, for `batch` rows; 0 on failure */
    int (*alloc)(layer *L, int batch);
    void (*release)(layer *L);
    /* forward over the batch: *out is what the next layer reads (out, or in
     * for an identity). L->in_mask is the input's step mask ([in_steps][B],
     * 1 valid, 0 masked; NULL: no mask); the model has set L->out_mask to it
     * when the output is a sequence (else NULL), and a layer that makes or
     * drops a mask (Embedding, Masking) sets it here. mode: FWD_* flags. */
    recur_status (*forward)(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                            const float **out);
    /* from dout, the parameter gradients and (din non-NULL) dLoss/d(input) */
    recur_status (*backward)(recur_model *m, layer *L, int l, int B, float *din);
    const recurrent_cell *cell; /* recurrent layers: their primitive (src/layers/recurrent.c) */
} layer_ops;

struct layer {
    const layer_ops *ops;
    int units;            /* recurrent layers, Dense */
    recur_act act;        /* recurrent layers, Dense */
    int return_sequences; /* recurrent layers */
    int option;           /* GRU: reset_after; Embedding: mask_zero */
    float rate;           /* Dropout */
    int go_backwards;     /* recurrent layers: run on the reversed sequence (Keras) */
    int zero_output;      /* recurrent layers: zeros, not the previous output, at masked
                             steps (Keras inside Bidirectional with return_sequences) */
    int vocab;            /* Embedding: input_dim */
    float mask_value;     /* Masking */
    int merge;            /* Bidirectional: recur_merge_mode */
    const layer_ops *inner;    /* Bidirectional: the wrapped recurrent kind */
    const recur_cell *ucell;   /* a custom cell's definition (the layer kind "cell") */
    char cell_name[64];        /* a spec's custom cell name, until the model resolves it */

    /* Per-sample shapes: steps is T for a sequence, 1 for a vector. */
    int in_steps, in_feat, out_steps, out_feat;
    int out_seq;           /* the output is a sequence (the summary's shape) */
    size_t w_off, nparams; /* into the flat parameter buffer */

    /* Batch buffers, sized for the model's batch capacity; rows are
     * time-major ([steps][B][feat]) for sequences. */
    const float *in; /* the input seen by the last forward */
    float *out;      /* output; Dropout at inference and non-seq recurrent layers point elsewhere */
    float *dout;     /* dLoss/d(out) */
    float *seq;      /* recurrent: all steps' h when only h_T is returned */
    float *pre;      /* Dense softmax: the logits */
    float *mask;     /* Dropout: 0 or 1/(1-rate) */
    void *ws;        /* recurrent: the primitive's workspace */
    const unsigned char *in_mask, *out_mask; /* step masks [steps][B] (see forward) */
    unsigned char *own_mask;                 /* Embedding, Masking: the mask they make */
    float *state;    /* recurrent, stateful stepping: [2][states][step batch][units] (the
                        carried states, then the step's new ones), then the step's workspace */
    layer *sub;      /* Bidirectional: the forward and backward layers */
    void *extra;     /* a kind's own batch buffers */
    int grads_summed; /* the gradient block was overwritten outside backward (a
                         data-parallel sum): a sparse backward must clear all of it */
};

/* The kinds, in src/layers/; layer_kinds ends with NULL. */
extern const layer_ops layer_lstm, layer_gru, layer_simple_rnn, layer_dense, layer_dropout,
    layer_embedding, layer_masking, layer_bidirectional, layer_custom;
extern const layer_ops *const layer_kinds[];

/* splitmix64: one 64-bit state, cheap, and trivially saved in checkpoints */
static inline uint64_t rng_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t rng_next(uint64_t *s) { return rng_mix(*s += 0x9E3779B97F4A7C15ull); }
/* uniform in [0, 1) with 24 random bits: exactly representable as float */
static inline float rng_float(uint64_t *s) { return (float)(rng_next(s) >> 40) * 0x1p-24f; }

struct recur_model {
    int T, F; /* input: T steps of F features */
    uint64_t seed;
    int nlayers, cap_layers;
    layer *layers;

    /* compile */
    int compiled;
    recur_optimizer opt;
    recur_loss loss;
    size_t nparams;
    float *params, *grads, *m1, *m2; /* flat, 64-byte aligned; m1/m2: Adam moments, SGD velocity */
    uint64_t iterations;             /* optimizer steps taken */

    /* training position, saved with the model */
    uint64_t shuffle_rng; /* state of the shuffle generator */
    uint64_t epochs_done;
    uint32_t ranks; /* processes of the data-parallel training so far (1: one process) */

    /* data-parallel fit (recur_model_fit_parallel), else NULL; while it runs,
     * a batch of B rows is rows [batch_first, batch_first + B) of a global
     * batch of batch_rows (dropout draws its masks by global row) */
    const recur_parallel *par;
    int batch_first, batch_rows;

    /* batch buffers */
    int cap_batch;
    float *x0;     /* [T][B][F] the batch, time-major */
    int32_t *ids0; /* [T][B] the batch's token ids, time-major (token models) */
    int vocab;     /* token models (Embedding first): ids must be in [0, vocab); else 0 */
    const recur_cell **cells; /* custom cells registered on this model */
    int ncells;
    float *yb;     /* [B][outputs] or [B] labels */
    size_t *perm;  /* training order */
    size_t perm_n;

    recur_epoch_logs *history;
    int history_n;

    /* recur_model_set_gradient_callback: each layer's final gradient range */
    void (*grad_fn)(void *user, size_t offset, size_t count);
    void *grad_user;

    int step_batch; /* stateful stepping: the batch the layers' state buffers hold (0: none) */
};

/* A batch's input: float features, or token ids (exactly one non-NULL). */
typedef struct {
    const float *f;
    const int32_t *ids;
} model_input;

/* model.c */
/* floats of target per sample: 1 (a class or 0/1 label) or the outputs, times
 * the steps when the last layer returns a sequence */
size_t model_target_size(const recur_model *m);
recur_status model_ensure_batch(recur_model *m, int batch, const char *fn);
int model_output_size(const recur_model *m);
/* Adds one layer (validated), used by the public add functions and the loader. */
recur_status model_add(recur_model *m, const layer *proto, const char *fn);
/* "layer 3 (lstm_1)": the 1-based index and the Keras name the summary shows */
/* Keras's name of layer l ("lstm", "lstm_1", "dense", ...) */
void model_keras_name(const recur_model *m, int l, char *buf, size_t size);
void model_layer_name(const recur_model *m, int l, char *buf, size_t size);

/* A layer's weight arrays (its ops->arrays; 0 for a kind without weights). */
int layer_arrays(const layer *L, size_t off[], size_t len[], const char *name[]);
/* a zeroed, 64-byte aligned float buffer of n (at least 1) floats, or NULL */
float *model_alloc_floats(size_t n);
/* a spec's UNITS field: a whole-string integer in [1, 1048576]; 0 if not */
int model_parse_units(const char *s, int *units);
/* the activation's name ("relu"), or NULL for an unknown value */
const char *model_act_name(recur_act a);

/* optim.c */
/* The first weight array whose gradient holds a NaN or infinity: its layer
 * into *l and its name into *array; 0 when every gradient is finite. */
int grads_nonfinite(const recur_model *m, int *l, const char **array);
/* Clipping (clipvalue, then clipnorm per array, in place in m->grads) and one
 * optimizer step over the flat buffers; the gradients must be finite. */
void optim_step(recur_model *m);
/* A batch's loss as sums over its entries: one per sample, or one per valid
 * (unmasked) step for a last layer that returns a sequence. The mean is
 * loss / count (0 when count is 0). */
typedef struct loss_sums {
    double loss;    /* summed loss of the entries */
    double abs_err; /* MSE: summed mean absolute error of the entries (the mae metric) */
    long count;     /* entries: samples, or valid steps */
    long correct;   /* classification: entries answered right */
} loss_sums;
/* loss over a batch and dLoss/d(output) of the batch's mean loss into the last
 * layer's dout (zero at masked steps); for the fused softmax + sparse
 * cross-entropy and sigmoid + binary cross-entropy, dLoss/d(logits). */
loss_sums loss_forward_backward(recur_model *m, const float *out, const float *y, int B,
                                int want_grad);
/* The same with the gradient of the mean over `entries` entries (a global
 * batch's valid entries in data-parallel training; 0: this batch's count). */
loss_sums loss_forward_backward_of(recur_model *m, const float *out, const float *y, int B,
                                   int want_grad, long entries);
/* the entries (samples, or valid steps) of the last forward's batch of B */
long loss_entries(const recur_model *m, int B);

#endif /* RECUR_MODEL_H */
