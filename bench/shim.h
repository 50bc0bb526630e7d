/* A C face for Google Benchmark (shim.cc is the only C++ in bench/).
 *
 * A benchmark is a C function that sets up, runs the timed loop
 *     while (bench_keep_running(st)) { ...one iteration... }
 * and tears down; only the loop is timed. Every benchmark is timed in wall
 * time (OpenMP work runs on threads the default CPU timer does not see),
 * reported in milliseconds, with a "FLOPS" rate counter. */
#ifndef RECUR_BENCH_SHIM_H
#define RECUR_BENCH_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_state bench_state; /* a benchmark::State */
typedef void (*bench_fn)(void *ctx, bench_state *st);

/* Registers run(ctx, st) as `name`; flops_per_iter feeds the FLOPS counter.
 * ctx must outlive bench_main. */
void bench_register(const char *name, bench_fn run, void *ctx, double flops_per_iter);
/* True while the timed loop should run another iteration. */
int bench_keep_running(bench_state *st);
/* Marks the benchmark failed with msg; the caller then leaves its loop. */
void bench_skip(bench_state *st, const char *msg);
/* Adds key: value to the report's context (e.g. thread count). */
void bench_add_context(const char *key, const char *value);
/* Parses the --benchmark_* flags and runs the selected benchmarks; 0 on success. */
int bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* RECUR_BENCH_SHIM_H */
