/* The Keras LSTM tutorial on MNIST trained data-parallel on MPI: what an HPC
 * code writes. The host initialises and finalises MPI; recur trains on a
 * duplicate of its communicator. Every rank reads the data; rank 0 prints.
 * Usage: mpirun -np N mpi_train [DIR [EPOCHS [GLOBAL_BATCH [LIMIT]]]]
 *   DIR: the MNIST IDX files (default data/mnist); EPOCHS (default 1);
 *   GLOBAL_BATCH: rows per step over all ranks (default 32, split evenly);
 *   LIMIT: train on the first LIMIT images only (default all).
 * samples/s counts training only: rank 0 evaluates the test set afterwards. */
#include <stdio.h>
#include <stdlib.h>

#include <recur_mpi.h>

static int rank;

static int ok(recur_status st) {
    if (st != RECUR_OK)
        fprintf(stderr, "rank %d: %s: %s\n", rank, recur_status_string(st), recur_last_error());
    return st == RECUR_OK;
}

/* every rank's ok, so that all go on or all stop */
static int all_ok(int mine) {
    int all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

int main(int argc, char **argv) {
    int provided, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *dir = argc > 1 ? argv[1] : "data/mnist";
    const int epochs = argc > 2 ? atoi(argv[2]) : 1, global = argc > 3 ? atoi(argv[3]) : 32;
    const long limit = argc > 4 ? atol(argv[4]) : 0;

    recur_dataset train = {0}, test = {0};
    recur_model *m = NULL;
    recur_optimizer adam = recur_adam(1e-3f);
    adam.decay = 1e-5f;
    int good = global >= size && epochs >= 0 && limit >= 0;
    if (!good && rank == 0) fprintf(stderr, "mpi_train: GLOBAL_BATCH must be >= the ranks\n");
    good = good && ok(recur_mnist_load_pair(dir, &train, &test));
    if (good && limit > 0 && (size_t)limit < train.n) train.n = (size_t)limit;
    good = good && ok(recur_model_create(&m, 28, 28, 42)) &&
           ok(recur_model_add_layers(m, "lstm:128:relu:seq,dropout:0.2,lstm:128:relu,dropout:0.1,"
                                        "dense:32:relu,dropout:0.2,dense:10:softmax")) &&
           ok(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY));
    if (!all_ok(good)) {
        recur_model_destroy(m);
        recur_dataset_free(&train), recur_dataset_free(&test);
        MPI_Finalize();
        return 1;
    }

    recur_fit_options fit = recur_fit_defaults();
    fit.epochs = epochs, fit.batch_size = global / size, fit.verbose = 2, fit.progress = stdout;
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    good = ok(recur_mpi_fit(m, MPI_COMM_WORLD, train.x, train.y, train.n, &fit));
    const double seconds = MPI_Wtime() - t0;
    if (good && rank == 0) {
        float loss, accuracy;
        if (ok(recur_model_evaluate(m, test.x, test.y, test.n, 256, &loss, &accuracy)))
            printf("%d ranks x batch %d: %.0f samples/s; test loss %.4f, test accuracy %.4f\n",
                   size, fit.batch_size, (double)train.n * epochs / seconds, loss, accuracy);
    }
    recur_model_destroy(m);
    recur_dataset_free(&train), recur_dataset_free(&test);
    MPI_Finalize();
    return good ? 0 : 1;
}
