// The C shim around Google Benchmark declared in shim.h.
#include "shim.h"

#include <benchmark/benchmark.h>

static benchmark::State &state(bench_state *st) {
    return *reinterpret_cast<benchmark::State *>(st);
}

void bench_register(const char *name, bench_fn run, void *ctx, double flops_per_iter) {
    benchmark::RegisterBenchmark(
        name,
        [=](benchmark::State &st) {
            run(ctx, reinterpret_cast<bench_state *>(&st));
            st.counters["FLOPS"] =
                benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
        })
        ->UseRealTime() // the default CPU timer sees only the main thread
        ->Unit(benchmark::kMillisecond);
}

int bench_keep_running(bench_state *st) {
    return state(st).KeepRunning();
}

void bench_skip(bench_state *st, const char *msg) {
    state(st).SkipWithError(msg);
}

void bench_add_context(const char *key, const char *value) {
    benchmark::AddCustomContext(key, value);
}

int bench_main(int argc, char **argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
