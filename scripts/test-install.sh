#!/usr/bin/env bash
# Installs a build into a scratch prefix, then builds two outside programs
# against it: examples/lstm_primitive.c with pkg-config alone, and the same
# file through find_package(recur). Both must run and pass their own check.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: test-install.sh BUILD_DIR}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH=$libdir

echo "-- pkg-config: $(pkg-config --cflags --libs recur)"
cc -std=c11 -O2 "$src/examples/lstm_primitive.c" -o "$tmp/with_pkgconfig" \
   $(pkg-config --cflags --libs recur) -lm
LD_LIBRARY_PATH=$(dirname "$libdir") "$tmp/with_pkgconfig"

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
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
"$tmp/consumer/build/with_cmake"
"$tmp/consumer/build/with_cmake_static"
echo "install test passed"
