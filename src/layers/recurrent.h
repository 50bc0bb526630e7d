/* What the recurrent layers (LSTM, GRU, SimpleRNN, custom cells) share: each
 * kind's file describes its primitive in a recurrent_cell and points its
 * layer_ops at these functions. */
#ifndef RECUR_LAYERS_RECURRENT_H
#define RECUR_LAYERS_RECURRENT_H

#include "../model.h"

struct recurrent_cell {
    const char *name;        /* "an LSTM", for messages */
    int gates;               /* the products are gates * units wide (0: the custom cell says) */
    int states;              /* state vectors of units each (0: the custom cell says) */
    const char *option_name; /* a 0/1 option the spec names ("reset_after"), or NULL */
    size_t (*bias_len)(const layer *L);
    void (*init_bias)(const layer *L, float *b); /* NULL: zeros */
    size_t (*workspace_size)(const layer *L, int T, int B); /* forward's (either kind), backward's */
    /* T steps of x [T][B][in] under mask [T][B] (NULL: all valid) from the
     * states s0 [states][B][units] (NULL: zeros); writes y [T][B][units], and
     * hT [B][units] and sT [states][B][units] when not NULL. params: the
     * layer's block of the flat buffer. mode: FWD_* flags; with FWD_TAPE a
     * training forward, keeping in ws what backward needs; without it no
     * backward follows (predict, evaluate), and the primitive's inference
     * forward may skip the tapes, and with FWD_KEEP_PACK its packing. */
    recur_status (*forward)(const layer *L, int T, int B, const float *params, const float *x,
                            const unsigned char *mask, const float *s0, float *y, float *hT,
                            float *sT, int mode, void *ws);
    /* after the training forward of the same T, B: dy [T][B][units] or dhT
     * [B][units] (either NULL: zeros) into dx (NULL: skip) and the layer's
     * gradient block (overwritten) */
    recur_status (*backward)(const layer *L, int T, int B, const float *params, const float *x,
                             const unsigned char *mask, const float *dy, const float *dhT,
                             float *dx, float *grads, void *ws);
};

/* gates and states of a layer's cell (custom cells carry their own) */
int recurrent_gates(const layer *L);
int recurrent_states(const layer *L);

int recurrent_parse(layer *L, char **f, int n, char *why, size_t whylen);
recur_status recurrent_build(layer *L, int has_prev, int index, const char *fn);
int recurrent_arrays(const layer *L, size_t off[], size_t len[], const char *name[]);
int recurrent_init(const layer *L, float *params, uint64_t *rng);
int recurrent_alloc(layer *L, int batch);
void recurrent_release(layer *L);
recur_status recurrent_forward(recur_model *m, layer *L, int l, const float *in, int B, int mode,
                               const float **out);
recur_status recurrent_backward(recur_model *m, layer *L, int l, int B, float *din);

/* Keras's initialisers (init.c) */
void init_glorot_uniform(float *w, size_t fan_in, size_t fan_out, uint64_t *rng);
/* w [rows][cols] with orthonormal rows (rows <= cols); 0 on allocation failure */
int init_orthogonal(float *w, size_t rows, size_t cols, uint64_t *rng);

#endif /* RECUR_LAYERS_RECURRENT_H */
