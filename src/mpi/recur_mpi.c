/* Data-parallel training on MPI (include/recur_mpi.h), on recur's public API:
 * compute_gradients on this rank's share of each global batch, the gradient
 * buffer summed across ranks in buckets posted from the gradient callback,
 * apply_gradients everywhere. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recur_mpi.h"

enum { CHUNK = 1 << 30 }; /* MPI counts are int: longer buckets go in pieces */

typedef struct {
    const float *f;
    const int32_t *ids;
} input;

/* The buckets of one step: layer ranges of the gradient buffer, posted as
 * MPI_Iallreduce in the order backward finishes them (the same on every rank) */
typedef struct {
    MPI_Comm comm;
    float *grads;
    float weight;  /* this rank's rows / the global batch's rows */
    size_t *off, *cnt;
    int nranges, cap, record, posted; /* record: list the ranges (setup) */
    MPI_Request *req;
    int nreq;
    int err; /* the first MPI error, else MPI_SUCCESS */
} buckets;

static recur_status mpi_fail(int rc, const char *fn, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return recur_set_error(RECUR_ERR_BACKEND, "%s: %s failed: %s", fn, what, text);
}

static void post(buckets *b, size_t off, size_t cnt) {
    float *g = b->grads + off;
    for (size_t k = 0; k < cnt; k++) g[k] *= b->weight;
    for (size_t at = 0; at < cnt; at += CHUNK) {
        const int c = (int)(cnt - at < CHUNK ? cnt - at : CHUNK);
        MPI_Request *r = &b->req[b->nreq++];
        int rc = MPI_Iallreduce(MPI_IN_PLACE, g + at, c, MPI_FLOAT, MPI_SUM, b->comm, r);
        if (rc != MPI_SUCCESS) *r = MPI_REQUEST_NULL, b->err = b->err ? b->err : rc;
    }
    b->posted++;
    int done; /* Open MPI progresses the sums only inside MPI calls */
    MPI_Testall(b->nreq, b->req, &done, MPI_STATUSES_IGNORE);
}

static void on_gradients(void *user, size_t off, size_t cnt) {
    buckets *b = user;
    if (!b->record) {
        post(b, off, cnt);
        return;
    }
    if (b->nranges == b->cap) {
        int cap = b->cap ? 2 * b->cap : 16;
        size_t *o = realloc(b->off, (size_t)cap * sizeof *o);
        if (o) b->off = o;
        size_t *c = o ? realloc(b->cnt, (size_t)cap * sizeof *c) : NULL;
        if (c) b->cnt = c;
        if (!c) {
            b->cap = -1; /* out of memory: reported after the pass */
            return;
        }
        b->cap = cap;
    }
    if (b->cap > 0) b->off[b->nranges] = off, b->cnt[b->nranges++] = cnt;
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

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
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
    if (n == 0 || o->batch_size <= 0 || o->epochs < 0 || o->initial_epoch < 0)
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                               "%s: n and batch_size must be positive, epochs and initial_epoch "
                               ">= 0, got %zu, %d, %d and %d",
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

/* ---- fit ----------------------------------------------------------------- */

typedef struct {
    recur_model *m;
    MPI_Comm c;
    int rank, size;
    input x;
    const float *y;
    size_t T, F, ny; /* per sample: T*F floats (or T ids), ny targets */
    float *xs, *ys;  /* this rank's share, gathered */
    int32_t *is;
    size_t *perm;
    buckets b;
} fit_state;

/* rows [first, first+rows) of the order into the share buffers */
static void gather_share(fit_state *s, const size_t *order, size_t rows) {
    for (size_t k = 0; k < rows; k++) {
        const size_t i = order[k];
        if (s->x.ids) memcpy(s->is + k * s->T, s->x.ids + i * s->T, s->T * sizeof(int32_t));
        else memcpy(s->xs + k * s->T * s->F, s->x.f + i * s->T * s->F, s->T * s->F * sizeof(float));
        memcpy(s->ys + k * s->ny, s->y + i * s->ny, s->ny * sizeof(float));
    }
}

/* the rows of rank r's share of a batch of B: as even as B allows */
static void share(size_t B, int size, int r, size_t *first, size_t *rows) {
    const size_t base = B / (size_t)size, extra = B % (size_t)size, ur = (size_t)r;
    *first = ur * base + (ur < extra ? ur : extra);
    *rows = base + (ur < extra);
}

/* one global step: gradients on this rank's share, summed, applied */
static recur_status step(fit_state *s, const size_t *order, size_t B, double *loss_sum,
                         const char *fn, int epoch, int stepno) {
    size_t first, rows;
    share(B, s->size, s->rank, &first, &rows);
    buckets *b = &s->b;
    b->weight = (float)((double)rows / (double)B);
    b->nreq = 0, b->posted = 0, b->err = MPI_SUCCESS;
    recur_status st = RECUR_OK;
    if (rows) {
        gather_share(s, order + first, rows);
        float loss;
        st = s->x.ids ? recur_model_compute_gradients_ids(s->m, s->is, s->ys, rows, 1, &loss)
                      : recur_model_compute_gradients(s->m, s->xs, s->ys, rows, 1, &loss);
        if (!st) *loss_sum += (double)loss * (double)rows;
    }
    if (!rows || st) { /* zeros for the buckets backward did not post: the same sums everywhere */
        for (int k = b->posted; k < b->nranges; k++) {
            memset(b->grads + b->off[k], 0, b->cnt[k] * sizeof(float));
            post(b, b->off[k], b->cnt[k]);
        }
    }
    int mine[2] = {(int)st, s->rank}, worst[2];
    MPI_Request sr;
    int rc = MPI_Iallreduce(mine, worst, 1, MPI_2INT, MPI_MAXLOC, s->c, &sr);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Iallreduce");
    b->req[b->nreq++] = sr;
    rc = MPI_Waitall(b->nreq, b->req, MPI_STATUSES_IGNORE);
    if (b->err || rc != MPI_SUCCESS) return mpi_fail(b->err ? b->err : rc, fn, "MPI_Iallreduce");
    if (st) return st;
    if (worst[0])
        return recur_set_error((recur_status)worst[0],
                               "%s: rank %d failed at epoch %d, step %d (%s)", fn, worst[1],
                               epoch + 1, stepno + 1, recur_status_string((recur_status)worst[0]));
    return recur_model_apply_gradients(s->m);
}

/* validation in shares, reduced: out {loss, accuracy, mae} */
static recur_status validate(fit_state *s, input vx, const float *vy, size_t vn, int batch,
                             float out[3], const char *fn) {
    size_t first, rows;
    share(vn, s->size, s->rank, &first, &rows);
    double sums[3] = {0, 0, 0}, total[3];
    recur_status st = RECUR_OK;
    if (rows) {
        recur_metrics r;
        st = vx.ids ? recur_model_evaluate_metrics_ids(s->m, vx.ids + first * s->T, vy + first * s->ny,
                                                       rows, batch, &r)
                    : recur_model_evaluate_metrics(s->m, vx.f + first * s->T * s->F,
                                                   vy + first * s->ny, rows, batch, &r);
        sums[0] = (double)r.loss * (double)rows, sums[1] = (double)r.accuracy * (double)rows;
        sums[2] = (double)r.mae * (double)rows;
    }
    int mine[2] = {(int)st, s->rank}, worst[2];
    int rc = MPI_Allreduce(mine, worst, 1, MPI_2INT, MPI_MAXLOC, s->c);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(sums, total, 3, MPI_DOUBLE, MPI_SUM, s->c);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Allreduce");
    if (st) return st;
    if (worst[0])
        return recur_set_error((recur_status)worst[0], "%s: rank %d failed in validation (%s)", fn,
                               worst[1], recur_status_string((recur_status)worst[0]));
    for (int k = 0; k < 3; k++) out[k] = (float)(total[k] / (double)vn);
    return RECUR_OK;
}

/* RECUR_MPI_CHECK=1: the weights' checksum against rank 0's */
static recur_status check_weights(fit_state *s, uint64_t *all, const char *fn, int epoch) {
    uint64_t h = recur_mpi_weights_checksum(s->m);
    int rc = MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, s->c);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Allgather");
    for (int r = 1; r < s->size; r++)
        if (all[r] != all[0])
            return recur_set_error(RECUR_ERR_STATE,
                                   "%s: after epoch %d rank %d's weights differ from rank 0's "
                                   "(checksum %016llx, not %016llx)",
                                   fn, epoch + 1, r, (unsigned long long)all[r],
                                   (unsigned long long)all[0]);
    return RECUR_OK;
}

static recur_status train(fit_state *s, size_t n, const recur_fit_options *o, uint64_t *scratch,
                          const char *fn) {
    recur_status st;
    /* validation: explicit data, else the last fraction */
    input vx = {s->x.f ? o->val_x : NULL, s->x.ids ? o->val_ids : NULL};
    const float *vy = o->val_y;
    size_t vn = o->val_n, ntrain = n;
    if (!vx.f && !vx.ids && o->validation_split > 0.0f) {
        ntrain = (size_t)((double)n * (1.0 - (double)o->validation_split));
        vn = n - ntrain;
        if (ntrain == 0 || vn == 0)
            return recur_set_error(RECUR_ERR_INVALID_ARGUMENT,
                                   "%s: validation_split %g of %zu samples leaves an empty part",
                                   fn, (double)o->validation_split, n);
        if (s->x.f) vx.f = s->x.f + ntrain * s->T * s->F;
        else vx.ids = s->x.ids + ntrain * s->T;
        vy = s->y + ntrain * s->ny;
    }
    /* the order: the same generator on every rank, seeded from the broadcast weights */
    uint64_t rng = recur_mpi_weights_checksum(s->m);
    const size_t G = (size_t)o->batch_size * (size_t)s->size;
    const int steps = (int)((ntrain + G - 1) / G);
    const int check = getenv("RECUR_MPI_CHECK") && strcmp(getenv("RECUR_MPI_CHECK"), "1") == 0;
    for (int epoch = o->initial_epoch; epoch < o->epochs; epoch++) {
        const double t0 = MPI_Wtime();
        for (size_t k = 0; k < ntrain; k++) s->perm[k] = k;
        if (o->shuffle)
            for (size_t k = ntrain - 1; k > 0; k--) {
                size_t j = (size_t)(rng_next(&rng) % (k + 1)), t = s->perm[k];
                s->perm[k] = s->perm[j], s->perm[j] = t;
            }
        double loss_sum = 0, total;
        for (int k = 0; k < steps; k++) {
            const size_t at = (size_t)k * G, B = ntrain - at < G ? ntrain - at : G;
            if ((st = step(s, s->perm + at, B, &loss_sum, fn, epoch, k))) return st;
        }
        int rc = MPI_Allreduce(&loss_sum, &total, 1, MPI_DOUBLE, MPI_SUM, s->c);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Allreduce");
        recur_epoch_logs logs = {epoch, (float)(total / (double)ntrain), NAN, NAN, NAN, 0.0, NAN, NAN};
        if (vx.f || vx.ids) {
            float v[3] = {NAN, NAN, NAN};
            if ((st = validate(s, vx, vy, vn, o->batch_size, v, fn))) return st;
            logs.val_loss = v[0], logs.val_accuracy = v[1], logs.val_mae = v[2];
        }
        if (check && (st = check_weights(s, scratch, fn, epoch))) return st;
        logs.seconds = MPI_Wtime() - t0;
        int stop = 0;
        if (s->rank == 0) {
            if (o->verbose && o->progress) {
                fprintf(o->progress, "Epoch %d/%d - %.1fs - %d ranks - loss: %.4f", epoch + 1,
                        o->epochs, logs.seconds, s->size, (double)logs.loss);
                if (vx.f || vx.ids) {
                    fprintf(o->progress, " - val_loss: %.4f", (double)logs.val_loss);
                    if (!isnan(logs.val_accuracy))
                        fprintf(o->progress, " - val_accuracy: %.4f", (double)logs.val_accuracy);
                    if (!isnan(logs.val_mae))
                        fprintf(o->progress, " - val_mae: %.4f", (double)logs.val_mae);
                }
                fputc('\n', o->progress);
                fflush(o->progress);
            }
            if (o->on_epoch_end) stop = o->on_epoch_end(o->user, &logs) != 0;
        }
        if ((rc = MPI_Bcast(&stop, 1, MPI_INT, 0, s->c)) != MPI_SUCCESS)
            return mpi_fail(rc, fn, "MPI_Bcast");
        if (stop) break;
    }
    return RECUR_OK;
}

static recur_status mpi_fit(recur_model *m, MPI_Comm comm, input x, const float *y, size_t n,
                            const recur_fit_options *o, const char *fn) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (!init || fin)
        return recur_set_error(RECUR_ERR_STATE, "%s: MPI is %s", fn,
                               fin ? "finalised" : "not initialised (the host initialises it)");
    if (comm == MPI_COMM_NULL)
        return recur_set_error(RECUR_ERR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", fn);
    fit_state s;
    memset(&s, 0, sizeof s);
    s.m = m, s.x = x, s.y = y;
    int rc = MPI_Comm_dup(comm, &s.c);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, fn, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(s.c, MPI_ERRORS_RETURN);
    MPI_Comm_rank(s.c, &s.rank);
    MPI_Comm_size(s.c, &s.size);

    recur_status st = check_local(m, x, y, n, o, fn);
    uint64_t mine[NINFO] = {(uint64_t)st};
    uint64_t *all = malloc((size_t)s.size * NINFO * sizeof *all);
    if (!all) {
        MPI_Comm_free(&s.c);
        return recur_set_error(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    if (!st) {
        int T, F;
        recur_model_input_shape(m, &T, &F);
        s.T = (size_t)T, s.F = x.ids ? 1 : (size_t)F, s.ny = recur_model_target_size(m);
        char summary[8192];
        size_t len = recur_model_summary(m, summary, sizeof summary);
        mine[I_N] = n, mine[I_BATCH] = (uint64_t)o->batch_size, mine[I_EPOCHS] = (uint64_t)o->epochs;
        mine[I_INITIAL] = (uint64_t)o->initial_epoch, mine[I_SHUFFLE] = o->shuffle != 0;
        mine[I_PARAMS] = recur_model_param_count(m);
        mine[I_ARCH] = fnv(0xcbf29ce484222325ull, summary, len < sizeof summary ? len : sizeof summary);
        uint64_t h = data_hash(0xcbf29ce484222325ull, x.f ? (const void *)x.f : (const void *)x.ids,
                               n * s.T * s.F);
        mine[I_DATA] = data_hash(h, y, n * s.ny);
        const int has_val = x.ids ? o->val_ids != NULL : o->val_x != NULL;
        uint64_t v = has_val ? data_hash(0x9e37ull, x.ids ? (const void *)o->val_ids : (const void *)o->val_x,
                                         o->val_n * s.T * s.F)
                             : 0;
        float split = o->validation_split;
        memcpy(&mine[I_VAL], &split, sizeof split);
        mine[I_VAL] ^= has_val ? data_hash(v, o->val_y, o->val_n * s.ny) : 0;
    }
    if ((st = agree(s.c, s.rank, s.size, mine, all, st, fn))) goto done;

    /* rank 0's weights everywhere */
    size_t np;
    float *params = recur_model_params(m, &np);
    for (size_t at = 0; at < np; at += CHUNK) {
        const int c = (int)(np - at < CHUNK ? np - at : CHUNK);
        if ((rc = MPI_Bcast(params + at, c, MPI_FLOAT, 0, s.c)) != MPI_SUCCESS) {
            st = mpi_fail(rc, fn, "MPI_Bcast");
            goto done;
        }
    }
    /* the buckets backward gives, from a pass over one sample (same on every rank) */
    s.b.comm = s.c, s.b.record = 1;
    /* the gradient buffer is the model's own memory: averaged in place before the step */
    s.b.grads = (float *)recur_model_gradients(m, NULL);
    float loss;
    recur_model_set_gradient_callback(m, on_gradients, &s.b);
    st = x.ids ? recur_model_compute_gradients_ids(m, x.ids, y, 1, 0, &loss)
               : recur_model_compute_gradients(m, x.f, y, 1, 0, &loss);
    s.b.record = 0;
    size_t nreq = 1;
    for (int k = 0; k < s.b.nranges; k++) nreq += (s.b.cnt[k] + CHUNK - 1) / CHUNK;
    const size_t b = (size_t)o->batch_size;
    s.b.req = malloc(nreq * sizeof *s.b.req);
    s.perm = malloc(n * sizeof *s.perm);
    s.ys = malloc(b * s.ny * sizeof *s.ys);
    if (x.ids) s.is = malloc(b * s.T * sizeof *s.is);
    else s.xs = malloc(b * s.T * s.F * sizeof *s.xs);
    if (!st && (s.b.cap < 0 || !s.b.req || !s.perm || !s.ys || !(s.is || s.xs)))
        st = recur_set_error(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    /* a local failure here must not leave the other ranks waiting */
    int mine2[2] = {(int)st, s.rank}, worst[2];
    if ((rc = MPI_Allreduce(mine2, worst, 1, MPI_2INT, MPI_MAXLOC, s.c)) != MPI_SUCCESS)
        st = mpi_fail(rc, fn, "MPI_Allreduce");
    else if (!st && worst[0])
        st = recur_set_error((recur_status)worst[0], "%s: rank %d failed to set up (%s)", fn,
                             worst[1], recur_status_string((recur_status)worst[0]));
    if (!st) st = train(&s, n, o, all, fn);
done:
    if (m) recur_model_set_gradient_callback(m, NULL, NULL);
    free(s.b.off), free(s.b.cnt), free(s.b.req), free(s.perm), free(s.xs), free(s.is), free(s.ys);
    free(all);
    MPI_Comm_free(&s.c);
    return st;
}

recur_status recur_mpi_fit(recur_model *m, MPI_Comm comm, const float *x, const float *y, size_t n,
                           const recur_fit_options *o) {
    input in = {x, NULL};
    return mpi_fit(m, comm, in, y, n, o, "recur_mpi_fit");
}

recur_status recur_mpi_fit_ids(recur_model *m, MPI_Comm comm, const int32_t *ids, const float *y,
                               size_t n, const recur_fit_options *o) {
    input in = {NULL, ids};
    return mpi_fit(m, comm, in, y, n, o, "recur_mpi_fit_ids");
}
