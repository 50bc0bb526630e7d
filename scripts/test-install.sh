#!/usr/bin/env bash
# Installs a build into a scratch prefix and then MOVES the prefix, so that
# everything below runs against a copy in a place it was not installed to:
#  - bin/recur-train, with no LD_LIBRARY_PATH, trains briefly on real MNIST;
#  - examples/lstm_primitive.c built with pkg-config alone, and through
#    find_package(recur) against the shared and the static library, each
#    run and passing its own check.
# The consumers need only libdnnl-dev's header and library: oneDNN's own CMake
# config (which wants OpenCL) is never asked for.
# Usage: test-install.sh BUILD_DIR [MNIST_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: test-install.sh BUILD_DIR [MNIST_DIR]}" && pwd)
data=${2:-${RECUR_MNIST_DIR:-$src/data/mnist}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
unset LD_LIBRARY_PATH

cmake --install "$build" --prefix "$tmp/installed" >/dev/null
mkdir "$tmp/elsewhere"
mv "$tmp/installed" "$tmp/elsewhere/prefix"
prefix=$tmp/elsewhere/prefix
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
libdir=$(dirname "$libdir")

echo "-- installed recur-train, prefix moved after install"
"$prefix/bin/recur-train" --help > /dev/null || fail "bin/recur-train --help does not start"
[[ -f $data/train-images-idx3-ubyte || -f $data/train-images-idx3-ubyte.gz ]] ||
  fail "no MNIST in $data (scripts/fetch-mnist.sh $data)"
last=$("$prefix/bin/recur-train" --data "$data" --limit 512 --test-limit 256 --epochs 1 \
       --quiet | tail -n 1) || fail "bin/recur-train exited $?"
echo "$last"
[[ $last == test_loss=*" test_accuracy="* ]] || fail "bad last line: $last"

export PKG_CONFIG_PATH=$libdir/pkgconfig
echo "-- pkg-config: $(pkg-config --cflags --libs recur)"
cc -std=c11 -O2 "$src/examples/lstm_primitive.c" -o "$tmp/with_pkgconfig" \
   $(pkg-config --cflags --libs recur) -Wl,-rpath,"$libdir" -lm
"$tmp/with_pkgconfig"

mkdir -p "$tmp/consumer"
cat > "$tmp/consumer/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(recur 0.1 REQUIRED)
add_executable(with_cmake "$src/examples/lstm_primitive.c")
target_link_libraries(with_cmake PRIVATE recur::recur m)
add_executable(with_cmake_static "$src/examples/lstm_primitive.c")
target_link_libraries(with_cmake_static PRIVATE recur::recur_static m)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
"$tmp/consumer/build/with_cmake"
"$tmp/consumer/build/with_cmake_static"
echo "install test passed"
