/* recur_mpi_fit under mpirun -np 2: equality with one process taking the
 * whole global batch (with dropout, and for a masked token model), identical
 * weights across ranks, reduced training and validation metrics and history,
 * checkpoint and resume (and a resume on another rank count refused), a stop
 * from rank 0's callback, arguments that differ on one rank failing on every
 * rank, the host's communicator untouched, the RECUR_MPI_CHECK weight
 * compare, the stats. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <recur_mpi.h>

static int passed, failed, rank, size;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) passed++;                                                                        \
        else {                                                                                     \
            failed++;                                                                              \
            printf("rank %d: %s:%d: CHECK(%s) failed (%s)\n", rank, __FILE__, __LINE__, #cond,     \
                   recur_last_error());                                                            \
        }                                                                                          \
    } while (0)

enum { T = 6, F = 3, C = 3, N = 203, B = 8 };
static float x[N * T * F], y[N];

/* a learnable task: the class is the feature with the largest sum over time */
static void make_data(void) {
    uint64_t s = 12345;
    for (size_t k = 0; k < sizeof x / sizeof *x; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[k] = (float)((double)(s >> 11) * 0x1p-53 * 2.0 - 1.0);
    }
    for (int i = 0; i < N; i++) {
        float sum[C] = {0, 0, 0};
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++) sum[f] += x[(i * T + t) * F + f];
        y[i] = (float)(sum[1] > sum[0] ? (sum[2] > sum[1] ? 2 : 1) : (sum[2] > sum[0] ? 2 : 0));
    }
}

static recur_model *model_of(const char *spec) {
    recur_model *m = NULL; /* SGD: its step scales with the gradient (Adam's hardly) */
    recur_optimizer sgd = recur_sgd(0.2f, 0.9f);
    if (recur_model_create(&m, T, F, 5) || recur_model_add_layers(m, spec) ||
        recur_model_compile(m, &sgd, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)) {
        printf("rank %d: model: %s\n", rank, recur_last_error());
        exit(2);
    }
    return m;
}

static const char default_spec[] = "lstm:8,dense:3:softmax";
static recur_model *model(void) { return model_of(default_spec); }

static float loss_of(recur_model *m, float *acc) {
    float l = NAN, a = NAN;
    CHECK(recur_model_evaluate(m, x, y, N, 64, &l, &a) == RECUR_OK);
    if (acc) *acc = a;
    return l;
}

static int rel_close(double a, double b, double tol) {
    return fabs(a - b) <= tol * fabs(b) + 1e-30;
}

/* The loss over the data after one step of a fresh model of spec: on the
 * ranks (B rows each), or in one process on the same 2B rows with dropout
 * (training) on or off. */
static double after_mpi_step(const char *spec) {
    recur_model *m = model_of(spec);
    recur_fit_options o = recur_fit_defaults();
    o.batch_size = B, o.shuffle = 0;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, (size_t)B * (size_t)size, &o) == RECUR_OK);
    const double l = loss_of(m, NULL);
    recur_model_destroy(m);
    return l;
}

static double after_one_process_step(const char *spec, int training) {
    recur_model *m = model_of(spec);
    float l;
    CHECK(recur_model_compute_gradients(m, x, y, (size_t)B * (size_t)size, training, &l) ==
          RECUR_OK);
    CHECK(recur_model_apply_gradients(m) == RECUR_OK);
    const double after = loss_of(m, NULL);
    recur_model_destroy(m);
    return after;
}

/* One step of 2 ranks x B rows = one process computing 2B rows, applying. */
static void test_one_step_equals_single_process(void) {
    const double a = after_mpi_step(default_spec), b = after_one_process_step(default_spec, 1);
    if (!rel_close(a, b, 1e-5)) printf("rank %d: loss %.9g against %.9g\n", rank, a, b);
    CHECK(rel_close(a, b, 1e-5));
    recur_model *before = model();
    CHECK(a != loss_of(before, NULL)); /* it did step */
    recur_model_destroy(before);
}

typedef struct {
    int calls;
    recur_epoch_logs last;
    int spoil; /* spoil rank 0's weights in the first callback */
    recur_model *m;
} seen;

static int on_epoch(void *user, const recur_epoch_logs *logs) {
    seen *s = user;
    s->calls++, s->last = *logs;
    if (s->spoil && s->calls == 1) recur_model_params(s->m, NULL)[0] += 1.0f;
    return 0;
}

/* A short training: 2 ranks of B against 1 rank (its own communicator) of
 * 2B: the same loss and accuracy; weights identical across ranks; the
 * validation metrics are the whole validation part's; callback on rank 0. */
static void test_training_matches_and_weights_agree(void) {
    recur_model *m = model(), *ref = model();
    recur_fit_options o = recur_fit_defaults();
    o.epochs = 4, o.batch_size = B, o.validation_split = 0.25f;
    seen s = {0};
    o.on_epoch_end = on_epoch, o.user = &s;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, N, &o) == RECUR_OK);
    CHECK(s.calls == (rank == 0 ? 4 : 0));
    recur_fit_options r = o;
    r.batch_size = B * size, r.on_epoch_end = NULL;
    CHECK(recur_mpi_fit(ref, MPI_COMM_SELF, x, y, N, &r) == RECUR_OK);
    float am, ar;
    const double lm = loss_of(m, &am), lr = loss_of(ref, &ar);
    if (!rel_close(lm, lr, 1e-4) || am != ar)
        printf("rank %d: loss %.9g, accuracy %g against %.9g, %g\n", rank, lm, am, lr, ar);
    CHECK(rel_close(lm, lr, 1e-4));
    CHECK(am == ar);
    CHECK(am > 0.6f); /* it learned (a third by chance) */
    uint64_t h = recur_mpi_weights_checksum(m), all[2] = {0, 0};
    MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    CHECK(all[0] == all[1]);
    if (rank == 0) { /* validation: the last quarter, as one process evaluates it */
        const size_t ntrain = (size_t)((double)N * 0.75), vn = N - ntrain;
        float vl, va;
        CHECK(recur_model_evaluate(m, x + ntrain * T * F, y + ntrain, vn, 64, &vl, &va) ==
              RECUR_OK);
        CHECK(rel_close(s.last.val_loss, vl, 1e-5));
        CHECK(fabsf(s.last.val_accuracy - va) < 1e-6f);
        CHECK(s.last.epoch == 3 && isfinite(s.last.loss) && s.last.loss > 0);
    }
    recur_model_destroy(m), recur_model_destroy(ref);
}

static int mentions(const char *needle) {
    if (strstr(recur_last_error(), needle)) return 1;
    printf("rank %d: \"%s\" does not mention \"%s\"\n", rank, recur_last_error(), needle);
    return 0;
}

/* An argument that differs on rank 1 fails on both ranks, naming it. */
static void test_mismatch_fails_everywhere(void) {
    recur_model *m = model();
    recur_fit_options o = recur_fit_defaults();
    o.batch_size = B;
    size_t n = rank == 1 ? N - 1 : N;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, n, &o) == RECUR_ERR_INVALID_ARGUMENT);
    CHECK(mentions("rank 1's n is 202, rank 0's 203"));
    o.batch_size = rank == 1 ? 16 : B;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, N, &o) == RECUR_ERR_INVALID_ARGUMENT);
    CHECK(mentions("rank 1's batch_size is 16, rank 0's 8"));
    o.batch_size = B;
    static float y2[N];
    memcpy(y2, y, sizeof y2);
    if (rank == 1) y2[7] = y2[7] == 0 ? 1.0f : 0.0f;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y2, N, &o) == RECUR_ERR_INVALID_ARGUMENT);
    CHECK(mentions("rank 1's the data (hash) differs"));
    const recur_status want = rank == 1 ? RECUR_ERR_NULL_POINTER : RECUR_ERR_INVALID_ARGUMENT;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, rank == 1 ? NULL : y, N, &o) == want);
    CHECK(mentions(rank == 1 ? "y is NULL" : "rank 1 refused its arguments"));
    recur_model *other = NULL; /* a different architecture, same shape */
    recur_optimizer adam = recur_adam(0.01f);
    CHECK(recur_model_create(&other, T, F, 5) == RECUR_OK);
    CHECK(recur_model_add_layers(other, rank == 1 ? "gru:8,dense:3:softmax"
                                                  : "lstm:8,dense:3:softmax") == RECUR_OK);
    CHECK(recur_model_compile(other, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) ==
          RECUR_OK);
    CHECK(recur_mpi_fit(other, MPI_COMM_WORLD, x, y, N, &o) == RECUR_ERR_INVALID_ARGUMENT);
    CHECK(mentions("rank 1's the parameter count"));
    recur_model_destroy(other), recur_model_destroy(m);
}

/* recur works on a duplicate: the host's communicator keeps its error
 * handler, and a message the host posted before the call arrives after it. */
static void test_host_communicator_untouched(void) {
    recur_model *m = model();
    recur_fit_options o = recur_fit_defaults();
    o.batch_size = B;
    int token = 42 + rank, got = 0;
    MPI_Request rq[2];
    MPI_Irecv(&got, 1, MPI_INT, (rank + 1) % size, 7, MPI_COMM_WORLD, &rq[0]);
    MPI_Isend(&token, 1, MPI_INT, (rank + size - 1) % size, 7, MPI_COMM_WORLD, &rq[1]);
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, N, &o) == RECUR_OK);
    MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
    CHECK(got == 42 + (rank + 1) % size);
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(MPI_COMM_WORLD, &eh);
    CHECK(eh == MPI_ERRORS_ARE_FATAL);
    MPI_Errhandler_free(&eh);
    recur_model_destroy(m);
}

/* RECUR_MPI_CHECK=1: weights spoiled on rank 0 are caught after the next epoch. */
static void test_weight_check(void) {
    recur_model *m = model();
    recur_fit_options o = recur_fit_defaults();
    o.epochs = 3, o.batch_size = B;
    seen s = {0, {0}, 1, m};
    o.on_epoch_end = on_epoch, o.user = &s;
    setenv("RECUR_MPI_CHECK", "1", 1);
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, N, &o) == RECUR_ERR_STATE);
    CHECK(mentions("before step 14 rank 1's weights differ from rank 0's")); /* 13 steps an epoch */
    s.spoil = 0;
    CHECK(recur_mpi_fit(m, MPI_COMM_WORLD, x, y, N, &o) == RECUR_OK);
    unsetenv("RECUR_MPI_CHECK");
    recur_model_destroy(m);
}

/* Dropout draws its masks by global row: one step of 2 ranks equals one
 * process with both halves, dropout included. */
static void test_dropout_step_equals_single_process(void) {
    const char *spec = "lstm:8:seq,dropout:0.5,lstm:8,dropout:0.3,dense:3:softmax";
    const double a = after_mpi_step(spec), b = after_one_process_step(spec, 1),
                 c = after_one_process_step(spec, 0);
    if (!rel_close(a, b, 1e-5)) printf("rank %d: dropout loss %.9g against %.9g\n", rank, a, b);
    CHECK(rel_close(a, b, 1e-5));
    CHECK(!rel_close(a, c, 1e-4)); /* the masks mattered */
}

/* A masked token model (Embedding mask_zero, sparse embedding gradients)
 * trained for 3 epochs on 2 ranks matches one process: every rank's
 * embedding gradient is cleared whole after the sums brought other rows in. */
static void test_token_model_matches(void) {
    enum { V = 7 };
    static int32_t ids[N * T];
    static float yt[N];
    uint64_t r = 99;
    for (int i = 0; i < N; i++) {
        const int len = 2 + i % (T - 1); /* left padding: 0s first */
        int count = 0;
        for (int t = 0; t < T; t++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            ids[i * T + t] = t < T - len ? 0 : 1 + (int)((r >> 33) % (V - 1));
            count += ids[i * T + t] == 3;
        }
        yt[i] = (float)(count > 1 ? 2 : count);
    }
    recur_model *mm[2];
    for (int k = 0; k < 2; k++) {
        recur_model *m = NULL;
        recur_optimizer adam = recur_adam(0.02f);
        CHECK(recur_model_create(&m, T, 1, 9) == RECUR_OK);
        CHECK(recur_model_add_layers(m, "embedding:7:4:mask_zero,gru:8,dense:3:softmax") == RECUR_OK);
        CHECK(recur_model_compile(m, &adam, RECUR_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) == RECUR_OK);
        mm[k] = m;
    }
    recur_fit_options o = recur_fit_defaults();
    o.epochs = 3, o.batch_size = B;
    CHECK(recur_mpi_fit_ids(mm[0], MPI_COMM_WORLD, ids, yt, N, &o) == RECUR_OK);
    o.batch_size = B * size;
    CHECK(recur_mpi_fit_ids(mm[1], MPI_COMM_SELF, ids, yt, N, &o) == RECUR_OK);
    float la, lb, aa, ab;
    CHECK(recur_model_evaluate_ids(mm[0], ids, yt, N, 64, &la, &aa) == RECUR_OK);
    CHECK(recur_model_evaluate_ids(mm[1], ids, yt, N, 64, &lb, &ab) == RECUR_OK);
    if (!rel_close(la, lb, 1e-4)) printf("rank %d: token loss %.9g against %.9g\n", rank, la, lb);
    CHECK(rel_close(la, lb, 1e-4));
    CHECK(aa == ab);
    recur_model_destroy(mm[0]), recur_model_destroy(mm[1]);
}

typedef struct {
    recur_model *m;
    const char *path;
    int save_at, stop_at, calls;
} saver;

static int save_or_stop(void *user, const recur_epoch_logs *logs) {
    saver *s = user;
    s->calls++;
    if (logs->epoch + 1 == s->save_at && recur_model_save(s->m, s->path) != RECUR_OK) return 1;
    return logs->epoch + 1 == s->stop_at;
}

/* Rank 0 checkpoints after epoch 2 from its callback; every rank loads it
 * and resumes to epoch 4: the weights equal 4 uninterrupted epochs' bit for
 * bit. The history and training metrics are global and the same on every
 * rank; a resume on 1 rank is refused; a stop from rank 0 stops both. */
static void test_checkpoint_resume_and_history(void) {
    char path[64];
    int pid = (int)getpid();
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    snprintf(path, sizeof path, "/tmp/recur-test-mpi-%d.bin", pid);
    recur_model *full = model(), *part = model();
    recur_fit_options o = recur_fit_defaults();
    o.epochs = 4, o.batch_size = B, o.validation_split = 0.2f;
    CHECK(recur_mpi_fit(full, MPI_COMM_WORLD, x, y, N, &o) == RECUR_OK);
    const recur_epoch_logs *h;
    CHECK(recur_model_history(full, &h) == 4);
    CHECK(isfinite(h[3].accuracy) && h[3].accuracy > 0.0f && isfinite(h[3].val_loss));
    float mine[3] = {h[3].loss, h[3].accuracy, h[3].val_accuracy}, other[3];
    MPI_Allreduce(mine, other, 3, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(memcmp(mine, other, sizeof mine) == 0); /* the same logs on both ranks */

    saver sv = {part, path, 2, 2, 0};
    o.on_epoch_end = save_or_stop, o.user = &sv;
    CHECK(recur_mpi_fit(part, MPI_COMM_WORLD, x, y, N, &o) == RECUR_OK);
    CHECK(recur_model_history(part, NULL) == 2); /* rank 0's stop reached rank 1 */
    CHECK(sv.calls == (rank == 0 ? 2 : 0));
    MPI_Barrier(MPI_COMM_WORLD);
    recur_model *resumed = NULL;
    CHECK(recur_model_load(&resumed, path) == RECUR_OK);
    o.on_epoch_end = NULL, o.initial_epoch = RECUR_EPOCHS_DONE;
    CHECK(recur_mpi_fit(resumed, MPI_COMM_WORLD, x, y, N, &o) == RECUR_OK);
    CHECK(recur_model_history(resumed, &h) == 2 && h[0].epoch == 2);
    size_t np;
    const float *a = recur_model_params(full, &np), *b = recur_model_params(resumed, NULL);
    CHECK(memcmp(a, b, np * sizeof *a) == 0);
    recur_model_destroy(resumed);
    CHECK(recur_model_load(&resumed, path) == RECUR_OK);
    CHECK(recur_mpi_fit(resumed, MPI_COMM_SELF, x, y, N, &o) == RECUR_ERR_INVALID_ARGUMENT);
    CHECK(mentions("trained on 2 processes and this run has 1"));
    CHECK(recur_model_fit(resumed, x, y, N, &o) == RECUR_ERR_INVALID_ARGUMENT);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) unlink(path);
    recur_model_destroy(resumed), recur_model_destroy(full), recur_model_destroy(part);
}

/* the stats count the steps and the time waited, with the bucket asked for */
static void test_stats_and_buckets(void) {
    recur_model *a = model(), *b = model();
    recur_fit_options o = recur_fit_defaults();
    o.epochs = 2, o.batch_size = B;
    recur_mpi_options mo = recur_mpi_defaults();
    recur_mpi_stats st;
    mo.bucket_bytes = 0; /* each layer alone */
    CHECK(recur_mpi_fit_with(a, MPI_COMM_WORLD, x, NULL, y, N, &o, &mo, &st) == RECUR_OK);
    CHECK(st.ranks == 2 && st.steps == 2 * 13 && st.bucket_bytes == 0);
    CHECK(st.wait_seconds >= 0 && st.wait_seconds <= st.seconds && st.sum_seconds <= st.seconds);
    mo.bucket_bytes = 1L << 30; /* one bucket: the same sums */
    CHECK(recur_mpi_fit_with(b, MPI_COMM_WORLD, x, NULL, y, N, &o, &mo, &st) == RECUR_OK);
    CHECK(st.bucket_bytes == 1L << 30);
    size_t np;
    const float *pa = recur_model_params(a, &np), *pb = recur_model_params(b, NULL);
    CHECK(memcmp(pa, pb, np * sizeof(float)) == 0);
    static const int32_t some_ids[1];
    CHECK(recur_mpi_fit_with(b, MPI_COMM_WORLD, x, some_ids, y, N, &o, &mo, &st) ==
          RECUR_ERR_INVALID_ARGUMENT);
    /* RECUR_MPI_BUCKET_BYTES when the options leave it to the environment:
     * a value is taken whole, anything else fails on every rank */
    mo.bucket_bytes = -1;
    setenv("RECUR_MPI_BUCKET_BYTES", "4096", 1);
    CHECK(recur_mpi_fit_with(a, MPI_COMM_WORLD, x, NULL, y, N, &o, &mo, &st) == RECUR_OK);
    CHECK(st.bucket_bytes == 4096);
    static const char *const bad[] = {"12k", "", "-1", "99999999999999999999999", " 5x"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        setenv("RECUR_MPI_BUCKET_BYTES", bad[k], 1);
        CHECK(recur_mpi_fit_with(a, MPI_COMM_WORLD, x, NULL, y, N, &o, &mo, &st) ==
              RECUR_ERR_INVALID_ARGUMENT);
        CHECK(mentions(rank == 0 ? "RECUR_MPI_BUCKET_BYTES" : "rank 0 refused its arguments"));
    }
    unsetenv("RECUR_MPI_BUCKET_BYTES");
    recur_model_destroy(a), recur_model_destroy(b);
}

int main(int argc, char **argv) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0) printf("test_mpi: run with mpirun -np 2\n");
        MPI_Finalize();
        return 2;
    }
    make_data();
    test_one_step_equals_single_process();
    test_training_matches_and_weights_agree();
    test_dropout_step_equals_single_process();
    test_token_model_matches();
    test_checkpoint_resume_and_history();
    test_stats_and_buckets();
    test_mismatch_fails_everywhere();
    test_host_communicator_untouched();
    test_weight_check();
    int counts[2] = {passed, failed}, total[2];
    MPI_Allreduce(counts, total, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%d passed, %d failed\n", total[0], total[1]);
    MPI_Finalize();
    return total[1] != 0;
}
