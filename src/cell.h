/* The engine for custom cells (recur_cell, Keras's RNN(cell)): the time loop,
 * products, masks and backpropagation through time around a user's step. */
#ifndef RECUR_CELL_H
#define RECUR_CELL_H

#include "internal.h"

typedef struct {
    const recur_cell *cell;
    int T, B, I, H;
    recur_act act;
    const unsigned char *mask; /* [T][B], NULL: all valid */
} cell_call;

/* RECUR_OK when the definition is usable; else a message naming the field */
recur_status cell_check(const recur_cell *c, const char *fn);
/* training workspace bytes; 0 on overflow */
size_t cell_workspace_size(const recur_cell *c, int T, int B, int I, int H);
/* params: kernel [I][G], recurrent_kernel [H][G] (if any), bias ([2][G] if
 * separate), then the cell's arrays. s0/sT: [states][B][H] (s0 NULL: zeros,
 * sT NULL: not wanted); hT [B][H] or NULL. */
recur_status cell_forward(const cell_call *c, const float *params, const float *x,
                          const float *s0, float *y, float *hT, float *sT, void *ws);
/* after cell_forward with the same workspace: gradients (overwritten) in the
 * params layout; dy [T][B][H] or dhT [B][H] (NULL: zeros); dx NULL: skipped */
recur_status cell_backward(const cell_call *c, const float *params, const float *x,
                           const float *dy, const float *dhT, float *dx, float *grads, void *ws);

#endif /* RECUR_CELL_H */
