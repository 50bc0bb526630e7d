#!/usr/bin/env bash
# Checkpoints and reproducibility, end to end on real MNIST:
#  - the same seed and thread count give byte-identical model files (weights,
#    optimizer state, position), and so do 1 and 2 threads;
#  - a run killed with SIGKILL in epoch 2 and resumed from its end-of-epoch-1
#    checkpoint ends byte-identical to a run never interrupted.
# Usage: test-resume.sh BUILD_DIR [DATA_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:?usage: test-resume.sh BUILD_DIR [DATA_DIR]}" && pwd)/recur-train
data=${2:-${RECUR_MNIST_DIR:-$src/data/mnist}}
tmp=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# small enough for about a second per epoch on 2 free cores
run() { "$bin" --data "$data" --limit 2000 --test-limit 500 --epochs 3 --seed 7 --threads 2 "$@"; }
result() { sed -E 's/ train_seconds=[^ ]* samples_per_second=[^ ]*//; s/ peak_rss_mb=[^ ]*//' "$1" | tail -n 1; }

run --quiet --save "$tmp/a.bin" > "$tmp/a.out" || fail "run A exited $?"
cat "$tmp/a.out"
run --quiet --save "$tmp/a2.bin" > /dev/null || fail "run A again exited $?"
cmp "$tmp/a.bin" "$tmp/a2.bin" || fail "two runs with the same seed and threads differ"
echo "ok: same seed, same threads: identical"
run --quiet --threads 1 --save "$tmp/a1.bin" > /dev/null || fail "run A on 1 thread exited $?"
cmp "$tmp/a.bin" "$tmp/a1.bin" || fail "1 and 2 threads give different weights"
echo "ok: 1 and 2 threads: identical"

# B: checkpoints every epoch; killed 0.05 s after it announces epoch 2 (its
# epoch-1 checkpoint is written by then), well before the epoch's end
run --checkpoint "$tmp/ck.bin" > /dev/null 2> "$tmp/b1.err" &
pid=$!
until grep -q '^Epoch 2/3$' "$tmp/b1.err"; do
  kill -0 "$pid" 2>/dev/null || fail "run B ended before epoch 2: $(cat "$tmp/b1.err")"
  sleep 0.02
done
sleep 0.05
kill -9 "$pid" 2>/dev/null || fail "run B finished before the kill"
set +e; { wait "$pid"; } 2> /dev/null; rc=$?; set -e # no "Killed" line from bash
pid=
[[ $rc == 137 ]] || fail "run B exited $rc, not by SIGKILL"
ends=$(grep -cE '^ *[0-9]+/[0-9]+ \[' "$tmp/b1.err" || true)
[[ $ends == 1 ]] || fail "run B was killed after $ends epochs, not in epoch 2"

run --checkpoint "$tmp/ck.bin" --resume "$tmp/ck.bin" --save "$tmp/b.bin" > "$tmp/b.out" 2> "$tmp/b.err" ||
  fail "the resumed run exited $?: $(cat "$tmp/b.err")"
grep -q '^Epoch 2/3$' "$tmp/b.err" && ! grep -q '^Epoch 1/3$' "$tmp/b.err" ||
  fail "the resumed run did not start at epoch 2: $(grep '^Epoch' "$tmp/b.err" | tr '\n' ' ')"
cmp "$tmp/a.bin" "$tmp/b.bin" || fail "killed and resumed differs from uninterrupted"
cmp "$tmp/a.bin" "$tmp/ck.bin" || fail "the last checkpoint differs from the saved model"
[[ $(result "$tmp/b.out") == "$(result "$tmp/a.out")" ]] || fail "test results differ: $(tail -n 1 "$tmp/b.out")"
echo "ok: killed in epoch 2, resumed: identical"
echo "resume test passed"
