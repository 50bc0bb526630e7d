#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds Release, and runs
# every test through ctest (CUnit suites, the installed-package consumers, the
# NEON kernels under qemu-aarch64), then the CUnit suites again under ASan,
# UBSan and LSan, the libFuzzer targets, and recur-train under valgrind.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh build test cross fuzz valgrind
scripts/fetch-mnist.sh data/mnist   # for the recur-train smoke test
scripts/fetch-data.sh all data      # births, Moby Dick, names: the examples' short runs
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DRECUR_BUILD_TESTS=ON
cmake --build build/release -j"$(nproc)"
cd build/release
RECUR_REQUIRE_NEON=1 ctest --output-on-failure --no-tests=error
../../scripts/test-sanitizers.sh   # build/asan: gcc -fsanitize=address,undefined
../../scripts/test-fuzz.sh         # build/fuzz: clang libFuzzer, 5 s per target
../../scripts/test-valgrind.sh .   # memcheck on this build's recur-train
