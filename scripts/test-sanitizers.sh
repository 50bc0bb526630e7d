#!/usr/bin/env bash
# The CUnit suites again, built with gcc's AddressSanitizer, UndefinedBehavior-
# Sanitizer and LeakSanitizer. Any report fails the run: UBSan aborts
# (-fno-sanitize-recover=all), ASan aborts on its first error, LSan exits
# non-zero at exit. Only tests whose command is a CUnit program of tests/ run:
# the script tests (installed consumers, NEON under qemu, recur-train on MNIST)
# add little under ASan and take long. The LSTM suite's kernel-set variants run
# once, under AVX2, which nearly every x86-64 CI machine has (every kernel set
# is checked by the `simd` suite).
# Usage: test-sanitizers.sh [BUILD_DIR]   (default build/asan)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build/asan}
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

CC=${CC:-gcc} cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRECUR_BUILD_TESTS=ON -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" \
  -DCMAKE_SHARED_LINKER_FLAGS="$san" > /dev/null
cmake --build "$build" -j"$(nproc)"
build=$(cd "$build" && pwd)
cd "$build"

tests=$(ctest -N -V | awk -v dir="$build/tests/" '
  /Test command:/ { cunit = index($4, dir) == 1 }
  /^ *Test +#/ { if (cunit && $3 != "lstm_scalar" && $3 != "lstm_avx512") print $3 }')
[[ -n $tests ]] || { echo "test-sanitizers: no CUnit tests found in $build" >&2; exit 1; }

# No leak suppressions: libgomp and oneDNN report none here (their pools and
# JIT caches stay reachable from globals, which LeakSanitizer does not count).
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --output-on-failure -R "^($(paste -sd'|' <<< "$tests"))\$"
