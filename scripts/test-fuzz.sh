#!/usr/bin/env bash
# libFuzzer on the readers of untrusted input, with ASan and UBSan: IDX/MNIST
# files (fuzz_idx), model files (fuzz_model_load), layer specs (fuzz_spec),
# CSV, text and lines files (fuzz_data).
# Builds tests/fuzz with clang into BUILD_DIR and runs each fuzzer for
# RECUR_FUZZ_SECONDS (default 5) on a copy of its seed corpus in
# tests/fuzz/corpus (the repository is never written). Any crash, leak,
# timeout, sanitizer report or failed harness check fails the script; the
# input that did it is kept in BUILD_DIR/findings/ to add to the corpus.
# Usage: test-fuzz.sh [BUILD_DIR]   (default build/fuzz)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build/fuzz}
seconds=${RECUR_FUZZ_SECONDS:-5}

CC=${FUZZ_CC:-clang} cmake -S "$src/tests/fuzz" -B "$build" > /dev/null
cmake --build "$build" -j"$(nproc)"

# tmpfs when there is one: the harnesses write every input to a file, and the
# model fuzzer's saves fsync
work=$(mktemp -d -p /dev/shm 2> /dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/findings"
export TMPDIR=$work # the harnesses' scratch files
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
for target in idx:idx model_load:model spec:spec data:data; do
  name=${target%%:*} corpus=${target#*:}
  cp -r "$src/tests/fuzz/corpus/$corpus" "$work/corpus-$corpus"
  log=$work/fuzz_$name.log
  if "$build/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/findings/$name-" \
      "$work/corpus-$corpus" > "$log" 2>&1; then
    echo "fuzz_$name: ok, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | cut -d' ' -f2) runs" \
         "from $(ls "$src/tests/fuzz/corpus/$corpus" | wc -l) seeds"
  else
    status=1
    echo "fuzz_$name: FAILED" >&2
    grep -E 'ERROR|SUMMARY|check failed|Test unit written' "$log" >&2 || tail -n 40 "$log" >&2
  fi
done
exit $status
