#!/usr/bin/env bash
# Cross-builds the SIMD kernels and their tests for AArch64 and runs them under
# qemu-aarch64 (correctness only: never time code under emulation).
# Exits 77 (skipped) when the cross tools are missing, unless RECUR_REQUIRE_NEON=1.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build/aarch64}
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null ||
   [[ ! -e /usr/lib/aarch64-linux-gnu/libcunit.a ]]; then
  echo "NEON tests need: scripts/install-deps.sh cross" >&2
  [[ ${RECUR_REQUIRE_NEON:-0} == 1 ]] && exit 1
  exit 77
fi
cmake -S "$src" -B "$out" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
      -DRECUR_KERNELS_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
cd "$out" && ctest --output-on-failure
