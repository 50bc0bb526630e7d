/* Data-parallel training on MPI (include/recur_mpi.h): recur_model_fit_parallel
 * (recur.h) with MPI underneath. Checks that the ranks agree, then the hooks:
 * broadcast and small sums are blocking collectives; the gradient ranges
 * backward finishes are coalesced into buckets and summed with
 * MPI_Iallreduce while backward runs on, waited for before the step. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recur_mpi.h"

enum { CHUNK = 1 << 30 }; /* MPI counts are int: longer buffers go in pieces */

typedef struct {
    const float *f;
    const int32_t *ids;
} input;

/* The transport: the duplicated communicator, the open bucket, the requests
 * of this step, the debug weight check and the time spent waiting. */
typedef struct {
    MPI_Comm comm;
    int rank, size;
    recur_model *m;
    size_t bucket;       /* floats per bucket (0: each layer's range alone) */
    size_t lo, hi;       /* the open bucket [lo, hi) of the gradient buffer, empty if equal */
    float *grads;
    MPI_Request *req;
    int nreq, cap;
    int err;             /* the first MPI error of this step, else MPI_SUCCESS */
    int check;           /* RECUR_MPI_CHECK=1: weights compared before every step's sum */
    uint64_t *hashes;    /* [size] */
    long steps;
    double wait, sums;   /* seconds in grads_wait and in the small sums */
    const char *fn;
} transport;

static recur_status mpi_fail(int rc, const char *fn, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return recur_set_error(RECUR_ERR_BACKEND, "%s: %s failed: %s", fn, what, text);
}

static uint64_t fnv(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *c = p;
    for (size_t k = 0; k < bytes; k++) h = (h ^ c[k]) * 0x100000001b3ull;
    return h;
}

/* a fast hash for data sets (32-bit words) */
static uint64_t data_hash(uint64_t h, const void *p, size_t words) {
    const unsigned char *c = p;
    for (size_t k = 0; k < words; k++) {
        uint32_t w;
        memcpy(&w, c + 4 * k, 4);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}

uint64_t recur_mpi_weights_checksum(recur_model *m) {
    size_t n;
    const float *p = recur_model_params(m, &n);
    return p ? fnv(0xcbf29ce484222325ull, p, n * sizeof *p) : 0;
}

/* ---- Checks that every rank agrees --------------------------------------- */

enum { I_STATUS, I_N, I_BATCH, I_EPOCHS, I_INITIAL, I_SHUFFLE, I_PARAMS, I_ARCH, I_DATA, I_VAL, NINFO };
static const char *const info_name[NINFO] = {
    "status",        "n",                      "batch_size",          "epochs",
    "initial_epoch", "shuffle",                "the parameter count", "the architecture (summary)",
    "the data (hash)", "the validation data or split"};

/* Local argument checks; the message stays in recur_last_error. */
static recur_status check_local(recur_model *m, input x, const float *y, size_t n,
                                const recur_fit_options *o, const char *fn) {
    int provided, main_thread;
    MPI_Query_thread(&provided);
    MPI_Is_thread_main(&main_thread);
    if (provided < MPI_THREAD_FUNNELED)
        return recur_set_error(RECUR_ERR_STATE,
                               "%s: MPI was initialised below MPI_THREAD_FUNNELED (level %d): "
                               "use MPI_Init_thread",
                               fn, provided);
    if (provided == MPI_THREAD_FUNNELED && !main_thread)
        return recur_set_error(RECUR_ERR_STATE,
                               "%s: called from a thread other than MPI's main thread under "
                               "MPI_THREAD_FUNNELED",
                               fn);
    if (!m || !o || !y || !(x.f || x.ids))
        return recur_set_error(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn,
                               !m ? "m" : !o ? "options" : !y ? "y" : "x");
    if (!recur_model_params(m, NULL))
        return recur_set_error(RECUR_ERR_STATE, "%s: the model is not compiled", fn);
    if (!recur_model_takes_ids(m) != !x.ids)
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT, "%s: the model takes %s: use %s", fn,
                               x.ids ? "float inputs" : "token ids",
                               x.ids ? "recur_mpi_fit" : "recur_mpi_fit_ids");
    if (n == 0 || o->batch_size <= 0 || o->epochs < 0 ||
        (o->initial_epoch < 0 && o->initial_epoch != RECUR_EPOCHS_DONE))
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                               "%s: n and batch_size must be positive, epochs >= 0 and "
                               "initial_epoch >= 0 or RECUR_EPOCHS_DONE, got %zu, %d, %d and %d",
                               fn, n, o->batch_size, o->epochs, o->initial_epoch);
    if (!(o->validation_split >= 0.0f && o->validation_split < 1.0f))
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                               "%s: validation_split must be in [0, 1), got %g", fn,
                               (double)o->validation_split);
    const int has_val = x.ids ? o->val_ids != NULL : o->val_x != NULL;
    if (has_val != (o->val_y != NULL) || (has_val && o->val_n == 0))
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                               "%s: validation needs inputs, val_y and val_n > 0 together", fn);
    return RECUR_OK;
}

/* One allgather of each rank's view; every rank fails alike on a difference. */
static recur_status agree(MPI_Comm c, int rank, int size, const uint64_t *mine, uint64_t *all,
                          recur_status local, const char *fn) {
    int rc = MPI_Allgather(mine, NINFO, MPI_UINT64_T, all, NINFO, MPI_UINT64_T, c);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Allgather");
    for (int r = 0; r < size; r++)
        if (all[(size_t)r * NINFO + I_STATUS] != RECUR_OK) {
            if (r == rank) return local; /* its own message */
            return recur_set_error(RECUR_ERR_INVALID_ARGUMENT, "%s: rank %d refused its arguments (%s)",
                                   fn, r, recur_status_string((recur_status)all[(size_t)r * NINFO]));
        }
    for (int r = 1; r < size; r++)
        for (int k = 1; k < NINFO; k++) {
            const uint64_t a = all[k], b = all[(size_t)r * NINFO + k];
            if (a == b) continue;
            if (k == I_ARCH || k == I_DATA || k == I_VAL)
                return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                                       "%s: rank %d's %s differs from rank 0's", fn, r,
                                       info_name[k]);
            return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                                   "%s: rank %d's %s is %llu, rank 0's %llu", fn, r, info_name[k],
                                   (unsigned long long)b, (unsigned long long)a);
        }
    return RECUR_OK;
}

/* ---- The hooks ------------------------------------------------------------ */

static recur_status hook_broadcast(void *user, void *p, size_t bytes) {
    transport *t = user;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        const int c = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
        int rc = MPI_Bcast((char *)p + at, c, MPI_BYTE, 0, t->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, t->fn, "MPI_Bcast");
    }
    return RECUR_OK;
}

static recur_status hook_sum(void *user, double *v, int n) {
    transport *t = user;
    const double t0 = MPI_Wtime();
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, t->comm);
    t->sums += MPI_Wtime() - t0;
    return rc == MPI_SUCCESS ? RECUR_OK : mpi_fail(rc, t->fn, "MPI_Allreduce");
}

/* the open bucket into MPI_Iallreduce (in pieces of at most CHUNK floats) */
static void flush(transport *t) {
    for (size_t at = t->lo; at < t->hi; at += CHUNK) {
        const int c = (int)(t->hi - at < CHUNK ? t->hi - at : CHUNK);
        if (t->nreq == t->cap) {
            int cap = t->cap ? 2 * t->cap : 64;
            MPI_Request *r = realloc(t->req, (size_t)cap * sizeof *r);
            if (!r) { /* no room to track it: sum it now */
                int rc = MPI_Allreduce(MPI_IN_PLACE, t->grads + at, c, MPI_FLOAT, MPI_SUM, t->comm);
                if (rc != MPI_SUCCESS && !t->err) t->err = rc;
                continue;
            }
            t->req = r, t->cap = cap;
        }
        MPI_Request *r = &t->req[t->nreq++];
        int rc = MPI_Iallreduce(MPI_IN_PLACE, t->grads + at, c, MPI_FLOAT, MPI_SUM, t->comm, r);
        if (rc != MPI_SUCCESS) *r = MPI_REQUEST_NULL, t->err = t->err ? t->err : rc;
    }
    t->lo = t->hi = 0;
}

/* Backward gives the ranges last layer first, so each one ends where the
 * open bucket starts: it grows downwards until it holds `bucket` floats. */
static void hook_grads_ready(void *user, float *grads, size_t off, size_t cnt) {
    transport *t = user;
    t->grads = grads;
    if (t->lo != t->hi && off + cnt != t->lo) flush(t);
    if (t->lo == t->hi) t->hi = off + cnt;
    t->lo = off;
    if (t->hi - t->lo >= t->bucket) flush(t);
    int done; /* Open MPI moves nonblocking collectives on only inside MPI calls */
    if (t->nreq) MPI_Testall(t->nreq, t->req, &done, MPI_STATUSES_IGNORE);
}

static recur_status check_weights(transport *t) {
    uint64_t h = recur_mpi_weights_checksum(t->m);
    int rc = MPI_Allgather(&h, 1, MPI_UINT64_T, t->hashes, 1, MPI_UINT64_T, t->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, t->fn, "MPI_Allgather");
    for (int r = 1; r < t->size; r++)
        if (t->hashes[r] != t->hashes[0])
            return recur_set_error(RECUR_ERR_STATE,
                                   "%s: before step %ld rank %d's weights differ from rank 0's "
                                   "(checksum %016llx, not %016llx)",
                                   t->fn, t->steps + 1, r, (unsigned long long)t->hashes[r],
                                   (unsigned long long)t->hashes[0]);
    return RECUR_OK;
}

static recur_status hook_grads_wait(void *user) {
    transport *t = user;
    const double t0 = MPI_Wtime();
    if (t->lo != t->hi) flush(t);
    int rc = MPI_Waitall(t->nreq, t->req, MPI_STATUSES_IGNORE);
    t->wait += MPI_Wtime() - t0;
    t->nreq = 0;
    const int err = t->err ? t->err : rc;
    t->err = MPI_SUCCESS;
    if (err != MPI_SUCCESS) return mpi_fail(err, t->fn, "MPI_Iallreduce");
    recur_status st = t->check ? check_weights(t) : RECUR_OK;
    t->steps++;
    return st;
}

/* ---- fit ----------------------------------------------------------------- */

static recur_status mpi_fit(recur_model *m, MPI_Comm comm, input x, const float *y, size_t n,
                            const recur_fit_options *o, const recur_mpi_options *mo,
                            recur_mpi_stats *stats, const char *fn) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin)
        return recur_set_error(RECUR_ERR_STATE, "%s: MPI is %s", fn,
                               fin ? "finalised" : "not initialised (the host initialises it)");
    if (comm == MPI_COMM_NULL)
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", fn);
    transport t;
    memset(&t, 0, sizeof t);
    t.m = m, t.fn = fn;
    int rc = MPI_Comm_dup(comm, &t.comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(t.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(t.comm, &t.rank);
    MPI_Comm_size(t.comm, &t.size);
    const char *env = getenv("RECUR_MPI_CHECK");
    t.check = env && strcmp(env, "1") == 0;
    long bucket_bytes = mo ? mo->bucket_bytes : -1;
    recur_status env_st = RECUR_OK; /* a bad value fails on every rank, as check_local */
    if (bucket_bytes < 0) {
        env = getenv("RECUR_MPI_BUCKET_BYTES");
        bucket_bytes = RECUR_MPI_DEFAULT_BUCKET_BYTES;
        if (env) {
            char *end;
            errno = 0;
            const long v = strtol(env, &end, 10);
            if (errno || end == env || *end || v < 0)
                env_st = recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                                         "%s: RECUR_MPI_BUCKET_BYTES=\"%s\" is not a byte count "
                                         "(a whole number, 0 or more)",
                                         fn, env);
            else
                bucket_bytes = v;
        }
    }
    t.bucket = bucket_bytes > 0 ? (size_t)bucket_bytes / sizeof(float) : 0;

    recur_status st = env_st ? env_st : check_local(m, x, y, n, o, fn);
    uint64_t mine[NINFO] = {(uint64_t)st};
    uint64_t *all = malloc((size_t)t.size * NINFO * sizeof *all);
    t.hashes = malloc((size_t)t.size * sizeof *t.hashes);
    if (!all || !t.hashes) {
        free(all), free(t.hashes);
        MPI_Comm_free(&t.comm);
        return recur_set_error(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    if (!st) {
        int T, F;
        recur_model_input_shape(m, &T, &F);
        const size_t sT = (size_t)T, sF = x.ids ? 1 : (size_t)F, ny = recur_model_target_size(m);
        char summary[8192];
        size_t len = recur_model_summary(m, summary, sizeof summary);
        mine[I_N] = n, mine[I_BATCH] = (uint64_t)o->batch_size, mine[I_EPOCHS] = (uint64_t)o->epochs;
        mine[I_INITIAL] = (uint64_t)(int64_t)o->initial_epoch, mine[I_SHUFFLE] = o->shuffle != 0;
        mine[I_PARAMS] = recur_model_param_count(m);
        mine[I_ARCH] = fnv(0xcbf29ce484222325ull, summary, len < sizeof summary ? len : sizeof summary);
        uint64_t h = data_hash(0xcbf29ce484222325ull, x.f ? (const void *)x.f : (const void *)x.ids,
                               n * sT * sF);
        mine[I_DATA] = data_hash(h, y, n * ny);
        const int has_val = x.ids ? o->val_ids != NULL : o->val_x != NULL;
        uint64_t v = has_val ? data_hash(0x9e37ull, x.ids ? (const void *)o->val_ids : (const void *)o->val_x,
                                         o->val_n * sT * sF)
                             : 0;
        float split = o->validation_split;
        memcpy(&mine[I_VAL], &split, sizeof split);
        mine[I_VAL] ^= has_val ? data_hash(v, o->val_y, o->val_n * ny) : 0;
    }
    if (!(st = agree(t.comm, t.rank, t.size, mine, all, st, fn))) {
        recur_parallel p = {t.rank, t.size, &t, hook_broadcast, hook_sum, hook_grads_ready,
                            hook_grads_wait};
        const double t0 = MPI_Wtime();
        st = recur_model_fit_parallel(m, x.f, x.ids, y, n, o, &p);
        const double seconds = MPI_Wtime() - t0;
        if (!st && t.check) st = check_weights(&t); /* after the last step */
        if (stats) {
            stats->ranks = t.size, stats->steps = t.steps, stats->seconds = seconds;
            stats->wait_seconds = t.wait, stats->sum_seconds = t.sums;
            stats->bucket_bytes = (long)(t.bucket * sizeof(float));
        }
    }
    free(all), free(t.hashes), free(t.req);
    MPI_Comm_free(&t.comm);
    return st;
}

recur_status recur_mpi_fit(recur_model *m, MPI_Comm comm, const float *x, const float *y, size_t n,
                           const recur_fit_options *o) {
    input in = {x, NULL};
    return mpi_fit(m, comm, in, y, n, o, NULL, NULL, "recur_mpi_fit");
}

recur_status recur_mpi_fit_ids(recur_model *m, MPI_Comm comm, const int32_t *ids, const float *y,
                               size_t n, const recur_fit_options *o) {
    input in = {NULL, ids};
    return mpi_fit(m, comm, in, y, n, o, NULL, NULL, "recur_mpi_fit_ids");
}

recur_mpi_options recur_mpi_defaults(void) {
    recur_mpi_options o = {-1};
    return o;
}

recur_status recur_mpi_fit_with(recur_model *m, MPI_Comm comm, const float *x, const int32_t *ids,
                                const float *y, size_t n, const recur_fit_options *o,
                                const recur_mpi_options *mo, recur_mpi_stats *stats) {
    static const char fn[] = "recur_mpi_fit_with";
    if (!x == !ids)
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT, "%s: give exactly one of x and ids", fn);
    input in = {x, ids};
    return mpi_fit(m, comm, in, y, n, o, mo, stats, fn);
}
