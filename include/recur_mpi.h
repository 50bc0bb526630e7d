/* recur on MPI: data-parallel training across the ranks of a communicator.
 * A separate library (librecur_mpi, pkg-config recur-mpi, CMake
 * recur::recur_mpi); programs that do not include this header never need
 * mpi.h.
 *
 * The host owns MPI: recur never calls MPI_Init or MPI_Finalize. MPI must be
 * initialised with at least MPI_THREAD_FUNNELED and these calls made from the
 * thread that initialised it (OpenMP threads inside each rank as usual). The
 * communicator is duplicated for the call (the host's traffic on it is never
 * mixed with recur's) and errors on the duplicate return, never abort. */
#ifndef RECUR_MPI_H
#define RECUR_MPI_H

#include <mpi.h>

#include "recur.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Data-parallel recur_model_fit: a collective call on comm, every rank with
 * the same compiled model, the SAME full data set x/y of n samples and the
 * same options. Rank 0's weights are broadcast first. Each global batch holds
 * batch_size rows per rank (batch_size * ranks), drawn in an order shuffled
 * identically on every rank (the generator is seeded from the broadcast
 * weights); rank r takes its fixed share of it (rows r*b..r*b+b; the last
 * batch split as evenly as its rows allow) and computes gradients on it;
 * gradients are summed across ranks, each rank's weighted by its share of the
 * rows, so the step uses the gradient of the mean loss over the global batch
 * (for per-step targets with masks: each rank's mean over its valid steps,
 * weighted by rows). The sums start layer by layer (MPI_Iallreduce from
 * recur_model_set_gradient_callback) while backward runs on earlier layers
 * and are waited for before the optimizer step, which then runs identically
 * on every rank. Results equal a single process with batch batch_size * ranks
 * up to float rounding of the sums, for models without dropout (a dropout
 * mask depends on the row's place in its batch, so ranks draw other masks).
 *
 * Options: epochs, batch_size (per rank), shuffle, validation (val_x/val_y or
 * validation_split; evaluated in shares and reduced), initial_epoch (>= 0),
 * verbose (2 and 1 both print one line per epoch), progress, on_epoch_end:
 * printing and the callback on rank 0 only; its return value stops every
 * rank. Training accuracy/mae are NaN in the logs (compute_gradients gives
 * the loss only); the model's history and epoch count are not updated.
 *
 * Errors fail on every rank, never hang: arguments that differ between ranks
 * (n, batch size, epochs, parameter count, architecture, a hash of the data)
 * or that one rank refuses give RECUR_ERR_INVALID_ARGUMENT naming the rank and
 * the difference; an MPI error gives RECUR_ERR_BACKEND with MPI's text; MPI
 * not initialised, finalised or below MPI_THREAD_FUNNELED gives
 * RECUR_ERR_STATE. With RECUR_MPI_CHECK=1 in the environment, a checksum of
 * the weights is compared across ranks after every epoch (RECUR_ERR_STATE
 * naming the first rank that differs from rank 0). */
RECUR_API recur_status recur_mpi_fit(recur_model *m, MPI_Comm comm, const float *x,
                                     const float *y, size_t n, const recur_fit_options *options);
/* The same for token models: ids [n][T] (validation: val_ids with val_y). */
RECUR_API recur_status recur_mpi_fit_ids(recur_model *m, MPI_Comm comm, const int32_t *ids,
                                         const float *y, size_t n,
                                         const recur_fit_options *options);

/* A checksum of the model's weights (FNV-1a over their bytes), e.g. to check
 * that ranks agree. 0 for a model not compiled. */
RECUR_API uint64_t recur_mpi_weights_checksum(recur_model *m);

#ifdef __cplusplus
}
#endif

#endif
