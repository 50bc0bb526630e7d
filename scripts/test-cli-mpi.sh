#!/usr/bin/env bash
# mpirun -np N recur-train: the subcommands data-parallel on small synthetic
# files. Two ranks print one summary, one progress line per epoch and one
# key=value line (ranks=2); two ranks with --batch b train as one process with
# --batch 2b; a checkpoint resumed on two ranks ends as the uninterrupted run
# and refuses one process; an MPMD launch with other data, another --resume
# file or a missing file on rank 1 fails naming rank 1, never hangs.
# Every check runs and the failures are listed at the end.
# Usage: test-cli-mpi.sh BUILD_DIR [MPIEXEC]
set -uo pipefail
bin=$(cd "${1:?usage: test-cli-mpi.sh BUILD_DIR [MPIEXEC]}" && pwd)/recur-train
mpi=("${2:-mpiexec}" --allow-run-as-root --oversubscribe --mca btl self,vader -x OMP_NUM_THREADS=1)
export OMP_NUM_THREADS=1 LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
key() { sed -nE "s/.*(^| )$1=([^ ]+).*/\\2/p" <<<"$2"; }
# close A B TOL: |A - B| <= TOL * |B|
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(a != "" && d <= t * m) }'; }
# the key=value line without its timings
metrics() { sed -E 's/ train_seconds=.*//' <<<"$1"; }

# 600 days of a weekly pattern, a wave, a trend and deterministic noise
awk 'BEGIN { split("0 9 7 8 6 -12 -15", w); print "day,day_of_week,value"
  for (t = 0; t < 600; t++)
    printf "%d,%d,%.2f\n", t, t % 7 + 1, 100 + 0.02 * t + w[t % 7 + 1] + 4 * sin(t / 10) + ((t * 37) % 11 - 5) * 0.2 }' \
  > "$tmp/a.csv"
# the same but one training value (windows are centred, so a shift would not do)
awk -F, -v OFS=, 'NR == 100 { $3 += 5 } 1' "$tmp/a.csv" > "$tmp/b.csv"
f=(forecast --csv "$tmp/a.csv" --column value --window 14 --layers lstm:16,dense:1 --lr 0.01)

# 1. two ranks: one summary, one line per epoch, one key=value line
"${mpi[@]}" -np 2 "$bin" "${f[@]}" --epochs 3 --batch 8 --history "$tmp/h.csv" --save "$tmp/m.bin" \
  > "$tmp/out" 2> "$tmp/err" || fail "2 ranks exited $?: $(cat "$tmp/err")"
last=$(grep '^test_rmse=' "$tmp/out")
echo "$last"
[[ $(grep -c '^test_rmse=' "$tmp/out") == 1 && $(key ranks "$last") == 2 ]] ||
  fail "2 ranks: not one key=value line with ranks=2: $(cat "$tmp/out")"
[[ $(grep -c '^Total params' "$tmp/out") == 1 ]] || fail "2 ranks: the summary is not printed once"
[[ $(grep -c '^Epoch 3/3' "$tmp/err") == 1 ]] || fail "2 ranks: not one progress line for epoch 3"
[[ -s "$tmp/m.bin" && -s "$tmp/h.csv" ]] || fail "2 ranks: --save or --history not written"

# 2. two ranks of --batch b equal one process of --batch 2b. With every
# training window in one global batch (419 windows, 2 x 210) the shuffle
# cannot matter; with small batches the ranks must draw one process's order.
for b in 210 8; do
  r2=$("${mpi[@]}" -np 2 "$bin" "${f[@]}" --epochs 4 --batch $b --quiet | tail -n 1)
  r1=$("$bin" "${f[@]}" --epochs 4 --batch $((2 * b)) --quiet | tail -n 1)
  close "$(key test_rmse "$r2")" "$(key test_rmse "$r1")" 0.002 ||
    fail "2 ranks x --batch $b: test_rmse $(key test_rmse "$r2"), 1 process x --batch $((2 * b)): $(key test_rmse "$r1")"
done

# 3. a checkpoint after epoch 1 resumed to epoch 2 on two ranks ends as two
# uninterrupted epochs
"${mpi[@]}" -np 2 "$bin" "${f[@]}" --epochs 1 --batch 8 --checkpoint "$tmp/ck.bin" --quiet > /dev/null ||
  fail "2 ranks with --checkpoint exited $?"
whole=$("${mpi[@]}" -np 2 "$bin" "${f[@]}" --epochs 2 --batch 8 --quiet | tail -n 1)
resumed=$("${mpi[@]}" -np 2 "$bin" "${f[@]}" --epochs 2 --batch 8 --resume "$tmp/ck.bin" --quiet 2> "$tmp/err" | tail -n 1)
[[ -n "$whole" && "$(metrics "$resumed")" == "$(metrics "$whole")" ]] ||
  fail "2 ranks: resumed '$(metrics "$resumed")' != uninterrupted '$(metrics "$whole")' $(cat "$tmp/err")"

# 4. that 2-rank checkpoint refused by one process, in one line
"$bin" "${f[@]}" --epochs 2 --batch 16 --resume "$tmp/ck.bin" --quiet > "$tmp/out" 2> "$tmp/err"
rc=$?
[[ $rc == 1 && $(wc -l < "$tmp/err") == 1 ]] && grep -qiE 'rank|process' "$tmp/err" ||
  fail "1 process resuming a 2-rank checkpoint: exit $rc, stderr: $(cat "$tmp/err")"

# 5. MPMD, rank 1 with other data: every rank fails, rank 0 says why once
g=(forecast --column value --window 14 --layers lstm:16,dense:1 --epochs 1 --quiet)
"${mpi[@]}" -np 1 "$bin" "${g[@]}" --csv "$tmp/a.csv" : -np 1 "$bin" "${g[@]}" --csv "$tmp/b.csv" \
  > "$tmp/out" 2> "$tmp/err"
rc=$?
[[ $rc == 1 && $(grep -c '^recur-train:' "$tmp/err") == 1 ]] &&
  grep -q "^recur-train: .*rank 1.*data" "$tmp/err" && ! grep -q '^test_rmse=' "$tmp/out" ||
  fail "MPMD with other data on rank 1: exit $rc, stderr: $(cat "$tmp/err")"

# 6. MPMD, rank 1 with another --resume file: one line, exit 1
"${mpi[@]}" -np 1 "$bin" "${g[@]}" --csv "$tmp/a.csv" --resume "$tmp/ck.bin" : \
  -np 1 "$bin" "${g[@]}" --csv "$tmp/a.csv" --resume "$tmp/m.bin" > "$tmp/out" 2> "$tmp/err"
rc=$?
[[ $rc == 1 && $(grep -c '^recur-train:' "$tmp/err") == 1 ]] &&
  grep -q "^recur-train: rank 1's --resume file differs from rank 0's" "$tmp/err" ||
  fail "MPMD with another --resume file on rank 1: exit $rc, stderr: $(cat "$tmp/err")"

# 7. MPMD, rank 1's --csv missing: the job ends at once, naming rank 1
timeout 60 "${mpi[@]}" -np 1 "$bin" "${g[@]}" --csv "$tmp/a.csv" : \
  -np 1 "$bin" "${g[@]}" --csv "$tmp/missing.csv" > "$tmp/out" 2> "$tmp/err"
rc=$?
[[ $rc != 0 && $rc != 124 ]] && grep -q "^recur-train: rank 1: --csv: .*missing.csv" "$tmp/err" ||
  fail "MPMD with rank 1's --csv missing: exit $rc (124: hung), stderr: $(cat "$tmp/err")"

# 8. classify on two ranks: words ending in x or y, learnt, one line
for c in x y; do
  awk -v c=$c 'BEGIN { srand(c == "x" ? 1 : 2); while (k < 120) { w = ""; n = 2 + int(rand() * 5)
    for (i = 0; i < n; i++) w = w substr("abcdefghijklmnopqrstuvw", 1 + int(rand() * 23), 1)
    if (!((w c) in s)) { s[w c] = 1; print w c; k++ } } }' > "$tmp/$c.txt"
done
"${mpi[@]}" -np 2 "$bin" classify --class ex="$tmp/x.txt" --class why="$tmp/y.txt" --epochs 6 \
  --batch 16 --layers embedding:V:8:mask_zero,gru:16,dense:C:softmax --lr 0.01 --quiet \
  > "$tmp/out" 2> "$tmp/err" || fail "classify on 2 ranks exited $?: $(cat "$tmp/err")"
last=$(tail -n 1 "$tmp/out")
echo "$last"
[[ $(grep -c '^test_loss=' "$tmp/out") == 1 && $(key ranks "$last") == 2 ]] &&
  awk -v a="$(key test_accuracy "$last")" 'BEGIN { exit !(a >= 0.8) }' ||
  fail "classify on 2 ranks: $(cat "$tmp/out")"

((failed == 0)) || { echo "$failed check(s) failed" >&2; exit 1; }
echo "all checks passed"
