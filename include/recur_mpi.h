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
 * the same compiled model architecture, the SAME full data set x/y of n
 * samples and the same options; it is recur_model_fit_parallel (recur.h) with
 * MPI underneath, so: rank 0's weights, optimizer state and training position
 * are broadcast first; options->batch_size is PER RANK (a global batch is
 * batch_size * ranks rows, shuffled alike on every rank; rank r computes
 * rows r*b..r*b+b of it, the last batch split as evenly as its rows allow);
 * the gradients, scaled by the global batch's entry count, are summed with
 * MPI_Iallreduce in buckets posted while backward runs on earlier layers
 * (the last layer's first, the same order on every rank) and waited for
 * before the optimizer step, which then runs identically everywhere. The
 * result equals one process fitting with batch batch_size * ranks up to
 * float rounding (the sums over the batch are split at rank boundaries), with
 * dropout too (masks are drawn by global row). The model's history, epoch
 * count and training position advance as in recur_model_fit, so a checkpoint
 * written by rank 0 from on_epoch_end resumes (initial_epoch
 * RECUR_EPOCHS_DONE) on the same number of ranks; another number is refused.
 *
 * Metrics (training and validation, validation evaluated in shares) are
 * global. Printing (the progress bar) and on_epoch_end happen on rank 0
 * only; its return value stops every rank.
 *
 * Errors fail on every rank, never hang: arguments that differ between ranks
 * (n, batch size, epochs, parameter count, architecture, a hash of the data)
 * or that one rank refuses give RECUR_ERR_INVALID_ARGUMENT naming the rank and
 * the difference; a failure of one rank mid-training reaches the others at
 * the same step (RECUR_ERR_STATE naming it); an MPI error gives
 * RECUR_ERR_BACKEND with MPI's text; MPI not initialised, finalised or below
 * MPI_THREAD_FUNNELED gives RECUR_ERR_STATE. With RECUR_MPI_CHECK=1 in the
 * environment, a checksum of the weights is compared across ranks before
 * every step and at the end (RECUR_ERR_STATE naming the first rank that
 * differs from rank 0). RECUR_MPI_BUCKET_BYTES sets the bucket size. */
RECUR_API recur_status recur_mpi_fit(recur_model *m, MPI_Comm comm, const float *x,
                                     const float *y, size_t n, const recur_fit_options *options);
/* The same for token models: ids [n][T] (validation: val_ids with val_y). */
RECUR_API recur_status recur_mpi_fit_ids(recur_model *m, MPI_Comm comm, const int32_t *ids,
                                         const float *y, size_t n,
                                         const recur_fit_options *options);

/* the default bucket: gradient ranges are summed in pieces of at least this
 * many bytes (a layer's range is never split) */
#define RECUR_MPI_DEFAULT_BUCKET_BYTES (256 * 1024)

typedef struct recur_mpi_options {
    long bucket_bytes; /* -1: RECUR_MPI_BUCKET_BYTES or the default; 0: each layer alone */
} recur_mpi_options;
RECUR_API recur_mpi_options recur_mpi_defaults(void);

/* Where the time of the last fit went, on this rank. */
typedef struct recur_mpi_stats {
    int ranks;
    long steps;
    double seconds;      /* the whole fit */
    double wait_seconds; /* waiting for the gradient sums after backward (exposed communication) */
    double sum_seconds;  /* in the small blocking sums (entry counts, metrics: waits for the
                            slowest rank too) */
    long bucket_bytes;
} recur_mpi_stats;

/* recur_mpi_fit / _ids (x or ids, the other NULL) with options and stats
 * (either may be NULL). */
RECUR_API recur_status recur_mpi_fit_with(recur_model *m, MPI_Comm comm, const float *x,
                                          const int32_t *ids, const float *y, size_t n,
                                          const recur_fit_options *options,
                                          const recur_mpi_options *mpi_options,
                                          recur_mpi_stats *stats);

/* A checksum of the model's weights (FNV-1a over their bytes), e.g. to check
 * that ranks agree. 0 for a model not compiled. */
RECUR_API uint64_t recur_mpi_weights_checksum(recur_model *m);

#ifdef __cplusplus
}
#endif

#endif
