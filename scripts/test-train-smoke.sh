#!/usr/bin/env bash
# recur-train end to end on real MNIST: a short run must beat an accuracy floor
# far above chance (0.1), its saved model must reload to the same test result,
# and bad invocations must fail with one clear line.
# Usage: test-train-smoke.sh BUILD_DIR [DATA_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:?usage: test-train-smoke.sh BUILD_DIR [DATA_DIR]}" && pwd)/recur-train
data=${2:-${RECUR_MNIST_DIR:-$src/data/mnist}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" --data "$data" --limit 6000 --epochs 2 --quiet --save "$tmp/m.bin" > "$tmp/out" 2> "$tmp/err" ||
  fail "training exited $?: $(cat "$tmp/err")"
last=$(tail -n 1 "$tmp/out")
echo "$last"
[[ $last == test_loss=*" test_accuracy="*" train_seconds="*" samples_per_second="* ]] || fail "bad last line: $last"
acc=$(sed -E 's/.*test_accuracy=([0-9.]+).*/\1/' <<<"$last")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.70) }' || fail "test accuracy $acc is below the 0.70 floor"

again=$("$bin" --data "$data" --load "$tmp/m.bin" --epochs 0 --quiet | tail -n 1)
[[ ${again%% train_seconds*} == "${last%% train_seconds*}" ]] || fail "reloaded model differs: $again"

expect_error() { # CODE ARGS...: exit code and a one-line message naming the problem
  local code=$1; shift
  set +e; "$bin" --data "$data" "$@" > /dev/null 2> "$tmp/err"; local rc=$?; set -e
  [[ $rc == "$code" ]] || fail "recur-train $* exited $rc, expected $code"
  [[ $(wc -l < "$tmp/err") == 1 ]] || fail "recur-train $* printed $(wc -l < "$tmp/err") lines on stderr"
  echo "ok ($rc): $(cat "$tmp/err")"
}
expect_error 2 --epochs -1
expect_error 2 --batch 0
expect_error 2 --lr nan
expect_error 2 --bogus 1
expect_error 1 --layers "lstm:128,dropout:1.5,dense:10:softmax"
expect_error 1 --data /nonexistent/mnist
expect_error 1 --load "$tmp/err"
expect_error 2 --clipnorm -1
expect_error 2 --clipvalue nan
expect_error 2 --test-limit -5
expect_error 2 --load "$tmp/m.bin" --resume "$tmp/m.bin"
# unwritable outputs fail before any data is read or any training is done
expect_error 1 --save /nonexistent/dir/m.bin
expect_error 1 --checkpoint /nonexistent/dir/ck.bin
expect_error 1 --save "$tmp"
expect_error 1 --resume /nonexistent/ck.bin
expect_error 1 --resume "$tmp/err"
# lr 1000 makes the relu LSTMs overflow within a few steps: a clean stop, the
# last good state kept
expect_error 1 --limit 500 --test-limit 100 --lr 1000 --quiet --checkpoint "$tmp/nan.bin"
grep -q "non-finite .* the step was not applied; the last good state is in $tmp/nan.bin" "$tmp/err" ||
  fail "unexpected message: $(cat "$tmp/err")"
"$bin" --data "$data" --load "$tmp/nan.bin" --epochs 0 --test-limit 100 --quiet > /dev/null ||
  fail "the last good state does not load"
# Data that disagree: each refused with one line naming both sides.
# idx_images FILE N ROWS COLS, idx_labels FILE LABEL...: small IDX files
be32() { printf "\\x%02x\\x%02x\\x%02x\\x%02x" $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
idx_images() {
  { printf "\x00\x00\x08\x03$(be32 "$2")$(be32 "$3")$(be32 "$4")"; head -c $(($2 * $3 * $4)) /dev/zero; } > "$1"
}
idx_labels() {
  local f=$1 bytes=""; shift
  for l in "$@"; do bytes+=$(printf '\\x%02x' "$l"); done
  printf "\x00\x00\x08\x01$(be32 $#)$bytes" > "$f"
}
mkdir "$tmp/shape" "$tmp/labels" "$tmp/big"
ln -s "$data/train-images-idx3-ubyte" "$tmp/shape/train-images-idx3-ubyte"
ln -s "$data/train-labels-idx1-ubyte" "$tmp/shape/train-labels-idx1-ubyte"
idx_images "$tmp/shape/t10k-images-idx3-ubyte" 10 32 32
idx_labels "$tmp/shape/t10k-labels-idx1-ubyte" 0 1 2 3 4 5 6 7 8 9
expect_error 1 --data "$tmp/shape" --epochs 1 --quiet
grep -q "train-images-idx3-ubyte holds 28 x 28 images, .*t10k-images-idx3-ubyte holds 32 x 32" "$tmp/err" ||
  fail "unexpected message: $(cat "$tmp/err")"
idx_images "$tmp/labels/train-images-idx3-ubyte" 4 28 28
idx_labels "$tmp/labels/train-labels-idx1-ubyte" 0 1 2 3
idx_images "$tmp/labels/t10k-images-idx3-ubyte" 2 28 28
idx_labels "$tmp/labels/t10k-labels-idx1-ubyte" 1 7
expect_error 1 --data "$tmp/labels" --epochs 1 --quiet
grep -q "t10k-labels-idx1-ubyte has class 7 .* no label in .*train-labels-idx1-ubyte" "$tmp/err" ||
  fail "unexpected message: $(cat "$tmp/err")"
# a saved 28 x 28 model on 32 x 32 data; a model with fewer classes than the labels
idx_images "$tmp/big/train-images-idx3-ubyte" 4 32 32
idx_labels "$tmp/big/train-labels-idx1-ubyte" 0 1 2 3
idx_images "$tmp/big/t10k-images-idx3-ubyte" 2 32 32
idx_labels "$tmp/big/t10k-labels-idx1-ubyte" 1 2
expect_error 1 --data "$tmp/big" --load "$tmp/m.bin" --epochs 0 --quiet
grep -q "the model in $tmp/m.bin takes samples of 28 x 28, the images in $tmp/big are 32 x 32" "$tmp/err" ||
  fail "unexpected message: $(cat "$tmp/err")"
expect_error 1 --layers "lstm:8,dense:5:softmax" --epochs 1 --quiet
grep -q "the model gives 5 classes, the labels in $data go up to 9" "$tmp/err" ||
  fail "unexpected message: $(cat "$tmp/err")"
echo "train smoke test passed"
