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
echo "train smoke test passed"
