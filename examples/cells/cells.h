/* Example custom cells (recur_cell, Keras's RNN(cell)), one per file. */
#ifndef RECUR_EXAMPLE_CELLS_H
#define RECUR_EXAMPLE_CELLS_H

#include <recur.h>

extern const recur_cell cell_lstm;     /* Keras's LSTM, to compare with the built-in one */
extern const recur_cell cell_mgu;      /* minimal gated unit (Zhou et al. 2016) */
extern const recur_cell cell_peephole; /* LSTM with peephole connections (Gers et al.) */

#endif
