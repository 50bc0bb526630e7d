#!/usr/bin/env bash
# Installs the Debian packages recur needs, by group, where any are missing.
#   scripts/install-deps.sh build test cross bench fuzz valgrind torch
# build: compiler, CMake, oneDNN, zlib, gnuplot (recur-train --plot)
# test: CUnit, Open MPI (librecur_mpi and its tests under mpirun)
# cross: aarch64 cross compiler, qemu-user and CUnit for arm64 (NEON tests)
# bench: Google Benchmark and a C++ compiler
# fuzz: clang and its libFuzzer/sanitizer runtimes   valgrind: memcheck
# torch: PyTorch and OpenBLAS, for the optional bench/compare_pytorch.py
# Without root or apt-get it names the missing packages and stops.
set -euo pipefail

declare -A groups=(
  [build]="gcc g++ make cmake pkg-config libdnnl-dev zlib1g-dev gnuplot-nox"
  [test]="libcunit1-dev libopenmpi-dev openmpi-bin"
  [cross]="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcunit1-dev:arm64"
  [bench]="g++ libbenchmark-dev python3"
  [fuzz]="clang libclang-rt-14-dev"
  [valgrind]="valgrind"
  [torch]="python3-torch libopenblas0-openmp"
)

wanted=()
for g in "${@:-build test}"; do
  [[ -n ${groups[$g]:-} ]] || { echo "install-deps: unknown group '$g' (build test cross bench fuzz valgrind torch)" >&2; exit 2; }
  wanted+=(${groups[$g]})
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${wanted[@]}"; do installed "$p" || missing+=("$p"); done
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "recur needs these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

for p in "${missing[@]}"; do
  if [[ $p == *:arm64 ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
done
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
