/* recur-train under a launcher (mpirun -np N recur-train ...): all of the
 * program's MPI use. Built with RECUR_CLI_MPI (CMake found MPI and built
 * librecur_mpi); without it, the single-process versions at the end. MPI is
 * initialised only when a launcher started the process, so a plain
 * recur-train never touches it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* one process: the library's own fit */
static recur_status fit_alone(recur_model *m, const cli_data *d, const recur_fit_options *o) {
    return d->ids ? recur_model_fit_ids(m, d->ids, d->y, d->n, o)
                  : recur_model_fit(m, d->x, d->y, d->n, o);
}

#ifdef RECUR_CLI_MPI
#include <recur_mpi.h>

static int rank, ranks = 1;

static void finalise(void) {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}

void cli_parallel_init(int *argc, char ***argv) {
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_SIZE")) return;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fputs("recur-train: MPI_Init_thread failed\n", stderr);
        exit(1);
    }
    atexit(finalise);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
}

int cli_rank(void) { return rank; }
int cli_ranks(void) { return ranks; }

void cli_parallel_abort(int code) {
    if (ranks > 1) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int cli_parallel_any(int flag) {
    if (ranks == 1) return flag != 0;
    int any = 0;
    flag = flag != 0;
    if (MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        cli_die(1, "MPI_Allreduce failed");
    return any;
}

/* FNV-1a over the file's bytes */
static uint64_t file_hash(const char *flag, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) cli_die(1, "%s: cannot read %s", flag, path);
    uint64_t h = 14695981039346656037ULL;
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < got; i++) h = (h ^ buf[i]) * 1099511628211ULL;
    const int bad = ferror(f);
    fclose(f);
    if (bad) cli_die(1, "%s: cannot read %s", flag, path);
    return h;
}

void cli_parallel_same_file(const char *flag, const char *path) {
    if (ranks == 1) return;
    const uint64_t mine = file_hash(flag, path);
    uint64_t *all = malloc((size_t)ranks * sizeof *all);
    if (!all) cli_die(1, "out of memory");
    if (MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        cli_die(1, "MPI_Allgather failed");
    int differs = 0;
    for (int r = 1; r < ranks && !differs; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (differs) cli_die_all(1, "rank %d's %s file differs from rank 0's", differs, flag);
}

recur_status cli_parallel_fit(recur_model *m, const cli_data *d, const recur_fit_options *o) {
    if (ranks == 1) return fit_alone(m, d, o);
    return d->ids ? recur_mpi_fit_ids(m, MPI_COMM_WORLD, d->ids, d->y, d->n, o)
                  : recur_mpi_fit(m, MPI_COMM_WORLD, d->x, d->y, d->n, o);
}

#else /* one process: the same calls, without MPI */

void cli_parallel_init(int *argc, char ***argv) { (void)argc, (void)argv; }
int cli_rank(void) { return 0; }
int cli_ranks(void) { return 1; }
void cli_parallel_abort(int code) { exit(code); }
int cli_parallel_any(int flag) { return flag != 0; }
void cli_parallel_same_file(const char *flag, const char *path) { (void)flag, (void)path; }
recur_status cli_parallel_fit(recur_model *m, const cli_data *d, const recur_fit_options *o) {
    return fit_alone(m, d, o);
}

#endif
