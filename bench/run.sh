#!/usr/bin/env bash
# Builds and runs the benchmark suite (recur vs oneDNN: LSTM, GRU, SimpleRNN), then prints the
# tables. Extra arguments go to recur_bench (--benchmark_filter=train,
# --benchmark_min_time=0.2, ...). Threads: --threads N, else OMP_NUM_THREADS,
# else every core; recur and oneDNN both follow OMP_NUM_THREADS.
#   bench/run.sh [--threads N] [--benchmark_* ...]
# The JSON report is left in build/bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
while (($#)); do
  case $1 in
    --threads) export OMP_NUM_THREADS=${2:?--threads needs a count}; shift 2 ;;
    --threads=*) export OMP_NUM_THREADS=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
command -v python3 >/dev/null || { echo "bench/run.sh: python3 is needed for the tables" >&2; exit 1; }

scripts/install-deps.sh build bench
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DRECUR_BUILD_BENCH=ON -DRECUR_BUILD_TESTS=OFF >/dev/null
cmake --build build/bench -j"$(nproc)" --target recur_bench >/dev/null
# The file gets JSON; the console keeps Google Benchmark's readable progress.
# Repetitions run in random order across benchmarks, so a slow spell of this
# shared machine hits recur and oneDNN alike instead of one of them.
build/bench/bench/recur_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out_format=json --benchmark_out=build/bench/results.json "${args[@]}"
python3 bench/table.py build/bench/results.json
