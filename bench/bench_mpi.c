/* Data-parallel training on MPI, measured: the Keras tutorial model (MNIST
 * shapes, random pixels: the speed does not depend on them) trained through
 * recur_mpi_fit_with for one epoch after a warm-up epoch, for each bucket
 * size given. Rank 0 prints one line per bucket size: samples/s of the global
 * batch, the step time, and where a step waits: for the gradient sums after
 * backward (exposed communication) and in the small blocking sums (entry
 * counts and metrics; they also absorb the ranks' imbalance). Each figure is
 * the maximum over the ranks.
 *   mpiexec -np R bench_mpi [GLOBAL_BATCH [SAMPLES [BUCKET_BYTES...]]]
 * Threads per rank: OMP_NUM_THREADS. Defaults: 32, 16384, the default bucket. */
#include <stdio.h>
#include <stdlib.h>

#include <recur_mpi.h>

static const char tutorial[] = "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dropout:0.2,"
                               "dense:32:relu,dropout:0.2,dense:10:softmax";

static recur_model *model(int rank) {
    recur_model *m = NULL;
    recur_optimizer adam = recur_adam(0.001f);
    adam.decay = 1e-6f;
    if (recur_model_create(&m, 28, 28, 1) || recur_model_add_layers(m, tutorial) ||
        recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)) {
        fprintf(stderr, "bench_mpi: rank %d: %s\n", rank, recur_last_error());
        return NULL;
    }
    return m;
}

int main(int argc, char **argv) {
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int global = argc > 1 ? atoi(argv[1]) : 32;
    const long n = argc > 2 ? atol(argv[2]) : 16384;
    if (global < size || global % size || n < global) {
        if (rank == 0)
            fprintf(stderr, "bench_mpi: the global batch %d must be a multiple of the %d ranks "
                            "and at most the %ld samples\n", global, size, n);
        MPI_Finalize();
        return 2;
    }
    float *x = malloc((size_t)n * 28 * 28 * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (!x || !y) return 1;
    uint64_t s = 7;
    for (size_t k = 0; k < (size_t)n * 28 * 28; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[k] = (float)(s >> 40) * 0x1p-24f;
    }
    for (long i = 0; i < n; i++) y[i] = (float)(i % 10);
    if (rank == 0)
        printf("ranks threads global_batch bucket_bytes samples_per_s step_ms wait_ms wait_share "
               "sums_ms\n");
    const int nb = argc > 3 ? argc - 3 : 1;
    int rc = 0;
    for (int b = 0; b < nb && !rc; b++) {
        recur_model *m = model(rank);
        if (!m) {
            rc = 1;
            break;
        }
        recur_fit_options o = recur_fit_defaults();
        o.batch_size = global / size;
        recur_mpi_options mo = recur_mpi_defaults();
        if (argc > 3) mo.bucket_bytes = atol(argv[3 + b]);
        recur_mpi_stats st;
        o.epochs = 1; /* warm-up: buffers, pages, caches */
        rc = recur_mpi_fit_with(m, MPI_COMM_WORLD, x, NULL, y, (size_t)n, &o, &mo, &st) != RECUR_OK;
        o.epochs = 2, o.initial_epoch = 1;
        if (!rc)
            rc = recur_mpi_fit_with(m, MPI_COMM_WORLD, x, NULL, y, (size_t)n, &o, &mo, &st) !=
                 RECUR_OK;
        if (rc) {
            fprintf(stderr, "bench_mpi: rank %d: %s\n", rank, recur_last_error());
            break;
        }
        double mine[3] = {st.seconds, st.wait_seconds, st.sum_seconds}, worst[3];
        MPI_Reduce(mine, worst, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            const double steps = (double)st.steps;
            printf("%d %d %d %ld %.0f %.3f %.3f %.3f %.3f\n", size, recur_get_num_threads(), global,
                   st.bucket_bytes, (double)n / worst[0], 1e3 * worst[0] / steps,
                   1e3 * worst[1] / steps, worst[1] / worst[0], 1e3 * worst[2] / steps);
            fflush(stdout);
        }
        recur_model_destroy(m);
    }
    free(x), free(y);
    MPI_Finalize();
    return rc;
}
