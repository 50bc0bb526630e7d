/* Model files. Little-endian throughout:
 *   "RECURMDL"  u32 version (5; versions 1-4 load too: version 1 lacks the
 *               clip fields, versions 1-2 the layer option, 1-3 the fields of
 *               version 4, 1-4 the process count)
 *   i32 T, i32 F, u64 seed, u32 nlayers
 *   per layer: u32 kind (1 LSTM, 2 Dense, 3 Dropout, 4 GRU, 5 SimpleRNN,
 *              6 Embedding, 7 Masking, 8 Bidirectional, 9 custom cell: the
 *              kind's layer_ops.file_id), i32 units, i32 activation,
 *              i32 return_sequences, f32 rate, i32 option (version 3: GRU's
 *              reset_after, Embedding's mask_zero, 0 for the others);
 *              version 4: i32 go_backwards, i32 vocab (Embedding's input_dim),
 *              f32 mask_value (Masking), i32 merge (Bidirectional's mode),
 *              u32 inner kind (Bidirectional's layer, else 0), u32 name
 *              length (at most 64, 0 for none) and the bytes of the custom
 *              cell's name
 *   u32 compiled; if 1:
 *     u32 optimizer (0 Adam, 1 SGD), f32 learning_rate, decay, beta_1, beta_2,
 *     epsilon, momentum, i32 nesterov, f32 clipnorm, clipvalue (version 2),
 *     u32 loss (0 sparse CE, 1 MSE),
 *     u64 iterations, u64 shuffle_rng, u64 epochs_done, u32 ranks (version
 *     5: the processes of the data-parallel fit that trained it, 1 for one;
 *     1 for older files), u64 nparams,
 *     f32 params[nparams], f32 moment1[nparams], f32 moment2[nparams]
 *   u32 CRC-32 (zlib's) of every byte before it
 * Saving writes a temporary file in the target's folder, flushes and fsyncs
 * it, then renames it over the target: a crash leaves the old file or the new
 * one, never a mix. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "model.h"

#define MAGIC "RECURMDL"
#define VERSION 5u
#define NAME_MAX_LEN 64

/* ---- writing into a growing buffer -------------------------------------- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u32(wbuf *b, uint32_t v) {
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, c, 4);
}
static void put_u64(wbuf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void put_f32(wbuf *b, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(b, v);
}
static void put_floats(wbuf *b, const float *f, size_t n) {
    for (size_t k = 0; k < n; k++) put_f32(b, f[k]);
}

/* ---- reading with bounds checks ------------------------------------------ */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    int short_read;
} rbuf;

static uint32_t get_u32(rbuf *r) {
    if (r->len - r->pos < 4) {
        r->short_read = 1;
        return 0;
    }
    const unsigned char *c = r->p + r->pos;
    r->pos += 4;
    return (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
}
static uint64_t get_u64(rbuf *r) {
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}
static int32_t get_i32(rbuf *r) { return (int32_t)get_u32(r); }
static float get_f32(rbuf *r) {
    uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

static void serialise(const recur_model *m, wbuf *b) {
    put(b, MAGIC, 8);
    put_u32(b, VERSION);
    put_u32(b, (uint32_t)m->T);
    put_u32(b, (uint32_t)m->F);
    put_u64(b, m->seed);
    put_u32(b, (uint32_t)m->nlayers);
    for (int l = 0; l < m->nlayers; l++) {
        const layer *L = &m->layers[l];
        put_u32(b, L->ops->file_id);
        put_u32(b, (uint32_t)L->units);
        put_u32(b, (uint32_t)L->act);
        put_u32(b, (uint32_t)L->return_sequences);
        put_f32(b, L->rate);
        put_u32(b, (uint32_t)L->option);
        put_u32(b, (uint32_t)L->go_backwards);
        put_u32(b, (uint32_t)L->vocab);
        put_f32(b, L->mask_value);
        put_u32(b, (uint32_t)L->merge);
        put_u32(b, L->inner ? L->inner->file_id : 0u);
        const char *name = L->ucell ? L->ucell->name : "";
        const size_t len = strlen(name);
        put_u32(b, (uint32_t)len);
        put(b, name, len);
    }
    put_u32(b, (uint32_t)m->compiled);
    if (m->compiled) {
        const recur_optimizer *o = &m->opt;
        put_u32(b, (uint32_t)o->kind);
        put_f32(b, o->learning_rate);
        put_f32(b, o->decay);
        put_f32(b, o->beta_1);
        put_f32(b, o->beta_2);
        put_f32(b, o->epsilon);
        put_f32(b, o->momentum);
        put_u32(b, (uint32_t)o->nesterov);
        put_f32(b, o->clipnorm);
        put_f32(b, o->clipvalue);
        put_u32(b, (uint32_t)m->loss);
        put_u64(b, m->iterations);
        put_u64(b, m->shuffle_rng);
        put_u64(b, m->epochs_done);
        put_u32(b, m->ranks);
        put_u64(b, m->nparams);
        put_floats(b, m->params, m->nparams);
        put_floats(b, m->m1, m->nparams);
        put_floats(b, m->m2, m->nparams);
    }
    put_u32(b, (uint32_t)crc32_z(0L, b->p, b->len));
}

static recur_status write_atomically(const char *path, const unsigned char *data, size_t len,
                                     const char *fn) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dir = malloc(plen + 1);
    if (!tmp || !dir) {
        free(tmp), free(dir);
        return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    memcpy(dir, path, plen + 1);
    recur_status st = RECUR_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = recur_fail(RECUR_ERR_IO, "%s: cannot write %s: %s", fn, path, strerror(errno));
        goto done;
    }
    /* mkstemp makes the file 0600; a replaced file keeps its mode, a new one gets 0644 */
    struct stat old;
    fchmod(fd, stat(path, &old) == 0 ? (old.st_mode & 07777) : 0644);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = recur_fail(RECUR_ERR_IO, "%s: writing %s failed: %s", fn, path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (!st && fsync(fd) != 0)
        st = recur_fail(RECUR_ERR_IO, "%s: fsync of %s failed: %s", fn, path, strerror(errno));
    if (close(fd) != 0 && !st)
        st = recur_fail(RECUR_ERR_IO, "%s: closing %s failed: %s", fn, path, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = recur_fail(RECUR_ERR_IO, "%s: cannot replace %s: %s", fn, path, strerror(errno));
    if (st) {
        unlink(tmp);
    } else {
        /* make the rename itself durable */
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) fsync(dfd), close(dfd);
    }
done:
    free(tmp), free(dir);
    return st;
}

recur_status recur_model_save(const recur_model *m, const char *path) {
    static const char fn[] = "recur_model_save";
    if (!m || !path) return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, m ? "path" : "m");
    wbuf b = {0};
    serialise(m, &b);
    recur_status st = b.oom ? recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory", fn)
                            : write_atomically(path, b.p, b.len, fn);
    free(b.p);
    return st;
}

static recur_status read_file(const char *path, unsigned char **out, size_t *len, const char *fn) {
    FILE *f = fopen(path, "rb");
    if (!f) return recur_fail(RECUR_ERR_IO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *q = realloc(buf, cap);
            if (!q) {
                free(buf), fclose(f);
                return recur_fail(RECUR_ERR_OUT_OF_MEMORY, "%s: out of memory reading %s", fn, path);
            }
            buf = q;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return recur_fail(RECUR_ERR_IO, "%s: reading %s failed", fn, path);
    }
    *out = buf, *len = n;
    return RECUR_OK;
}

/* the message of a nested failure, copied before a new one overwrites it */
static const char *last_error_copy(char why[512]) {
    snprintf(why, 512, "%s", recur_last_error());
    return why;
}

#define BAD(...) (st = recur_fail(RECUR_ERR_FORMAT, __VA_ARGS__))

/* the parameters the layers need; SIZE_MAX if the count overflows */
static size_t layers_params(const recur_model *m) {
    size_t n = 0;
    for (int l = 0; l < m->nlayers; l++)
        if (__builtin_add_overflow(n, m->layers[l].nparams, &n)) return SIZE_MAX;
    return n;
}

static const layer_ops *kind_of(uint32_t id) {
    for (const layer_ops *const *k = layer_kinds; *k; k++)
        if ((*k)->file_id == id) return *k;
    return NULL;
}

static recur_status parse(rbuf *r, recur_model **out, const char *path, const char *fn,
                          const recur_cell *const *cells, int ncells) {
    recur_status st = RECUR_OK;
    recur_model *m = NULL;
    char why[512];
    uint32_t version = get_u32(r);
    if (version < 1 || version > VERSION)
        return BAD("%s: %s has format version %u; this recur reads versions 1 to %u", fn, path,
                   version, VERSION);
    int32_t T = get_i32(r), F = get_i32(r);
    uint64_t seed = get_u64(r);
    uint32_t nlayers = get_u32(r);
    if (r->short_read || nlayers > 10000)
        return BAD("%s: %s: bad header (%u layers)", fn, path, nlayers);
    if ((st = recur_model_create(&m, T, F, seed)))
        return BAD("%s: %s: bad input shape %d x %d", fn, path, T, F);
    for (int c = 0; c < ncells && !st; c++)
        if (recur_model_register_cell(m, cells[c]))
            BAD("%s: %s: cells[%d]: %s", fn, path, c, last_error_copy(why));
    for (uint32_t l = 0; l < nlayers && !st; l++) {
        layer L = {0};
        const uint32_t kind = get_u32(r);
        L.ops = kind_of(kind);
        L.units = get_i32(r);
        L.act = (recur_act)get_i32(r);
        L.return_sequences = get_i32(r);
        L.rate = get_f32(r);
        L.option = version >= 3 ? get_i32(r) : 0;
        uint32_t inner = 0, namelen = 0;
        char name[NAME_MAX_LEN + 1] = "";
        if (version >= 4) {
            L.go_backwards = get_i32(r);
            L.vocab = get_i32(r);
            L.mask_value = get_f32(r);
            L.merge = get_i32(r);
            inner = get_u32(r);
            namelen = get_u32(r);
            if (namelen <= NAME_MAX_LEN && r->len - r->pos >= namelen) {
                memcpy(name, r->p + r->pos, namelen);
                name[namelen] = 0;
                r->pos += namelen;
            } else {
                r->short_read = 1;
            }
        }
        if (namelen) {
            for (int c = 0; c < m->ncells; c++)
                if (!strcmp(m->cells[c]->name, name)) L.ucell = m->cells[c];
        }
        if (inner) L.inner = kind_of(inner);
        if (r->short_read) BAD("%s: %s is truncated in layer %u", fn, path, l + 1);
        else if (!L.ops) BAD("%s: %s: layer %u is of unknown kind %u", fn, path, l + 1, kind);
        else if (inner && !L.inner)
            BAD("%s: %s: layer %u wraps a layer of unknown kind %u", fn, path, l + 1, inner);
        else if (namelen && strlen(name) != namelen)
            BAD("%s: %s: layer %u has a cell name with a NUL byte", fn, path, l + 1);
        else if (namelen && !L.ucell)
            BAD("%s: %s: layer %u uses the custom cell '%s', which was not registered (load it "
                "with recur_model_load_with_cells and that cell)",
                fn, path, l + 1, name);
        else if (model_add(m, &L, fn))
            BAD("%s: %s: layer %u is invalid: %s", fn, path, l + 1, last_error_copy(why));
    }
    uint32_t compiled = st ? 0 : get_u32(r);
    if (!st && compiled) {
        recur_optimizer o = {0}; /* a field the format lacks is never read uninitialised */
        o.kind = (recur_optimizer_kind)get_u32(r);
        o.learning_rate = get_f32(r), o.decay = get_f32(r);
        o.beta_1 = get_f32(r), o.beta_2 = get_f32(r), o.epsilon = get_f32(r);
        o.momentum = get_f32(r), o.nesterov = get_i32(r);
        o.clipnorm = version >= 2 ? get_f32(r) : 0.0f;
        o.clipvalue = version >= 2 ? get_f32(r) : 0.0f;
        recur_loss loss = (recur_loss)get_u32(r);
        uint64_t iterations = get_u64(r), shuffle_rng = get_u64(r), epochs_done = get_u64(r);
        uint32_t ranks = version >= 5 ? get_u32(r) : 1;
        uint64_t nparams = get_u64(r);
        /* the count and the file's length are checked before compile
         * allocates: a few hundred bytes can describe a model of terabytes */
        size_t need = layers_params(m);
        if (r->short_read) BAD("%s: %s is truncated in the optimizer section", fn, path);
        else if (nparams != need)
            BAD("%s: %s holds %llu parameters but its layers need %zu", fn, path,
                (unsigned long long)nparams, need);
        else if ((r->len - r->pos) / 12 < nparams)
            BAD("%s: %s is truncated in the parameters", fn, path);
        else if (ranks < 1)
            BAD("%s: %s was trained on %u processes", fn, path, ranks);
        else if (recur_model_compile(m, &o, loss))
            BAD("%s: %s: bad optimizer or loss: %s", fn, path, last_error_copy(why));
        else {
            float *dst[3] = {m->params, m->m1, m->m2};
            for (int a = 0; a < 3; a++)
                for (size_t k = 0; k < nparams; k++) dst[a][k] = get_f32(r);
            m->iterations = iterations, m->shuffle_rng = shuffle_rng, m->epochs_done = epochs_done;
            m->ranks = ranks;
        }
    }
    if (!st && r->short_read) BAD("%s: %s is truncated", fn, path);
    else if (!st && r->pos != r->len)
        BAD("%s: %s has %zu bytes after the model", fn, path, r->len - r->pos);
    if (st) {
        recur_model_destroy(m);
        return st;
    }
    *out = m;
    return RECUR_OK;
}

static recur_status load(recur_model **out, const char *path, const recur_cell *const *cells,
                         int ncells, const char *fn) {
    if (!out || !path)
        return recur_fail(RECUR_ERR_NULL_POINTER, "%s: %s is NULL", fn, out ? "path" : "out");
    *out = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    recur_status st = read_file(path, &data, &len, fn);
    if (st) return st;
    if (len < 12 + 4 || memcmp(data, MAGIC, 8) != 0) {
        st = recur_fail(RECUR_ERR_FORMAT, "%s: %s is not a recur model file (bad magic)", fn, path);
    } else {
        rbuf r = {data, len, len - 4, 0};
        uint32_t stored = get_u32(&r);
        uint32_t actual = (uint32_t)crc32_z(0L, data, len - 4);
        if (stored != actual)
            st = recur_fail(RECUR_ERR_FORMAT,
                            "%s: %s is corrupted (checksum %08x, expected %08x) or truncated", fn,
                            path, actual, stored);
        else {
            rbuf body = {data, len - 4, 8, 0}; /* the checksum is not part of the model */
            st = parse(&body, out, path, fn, cells, ncells);
        }
    }
    free(data);
    return st;
}

recur_status recur_model_load(recur_model **out, const char *path) {
    return load(out, path, NULL, 0, "recur_model_load");
}

recur_status recur_model_load_with_cells(recur_model **out, const char *path,
                                         const recur_cell *const *cells, int ncells) {
    static const char fn[] = "recur_model_load_with_cells";
    if (ncells < 0 || (ncells > 0 && !cells))
        return recur_fail(RECUR_ERR_INVALID_ARGUMENT, "%s: cells is NULL or ncells %d < 0", fn,
                          ncells);
    return load(out, path, cells, ncells, fn);
}
