#!/usr/bin/env bash
# recur-train text end to end on a synthetic text (a sentence repeated): a
# short run must get far below the unigram entropy, the last line must carry
# its keys (the unigram entropy checked against od's count of the training
# characters), a saved model must reload to the same test result, --sample N
# must print N characters that continue the sentence (stateful sampling), and
# bad input must fail with one line and write nothing.
# Usage: test-cli-text.sh BUILD_DIR
set -euo pipefail
bin=$(cd "${1:?usage: test-cli-text.sh BUILD_DIR}" && pwd)/recur-train
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export LC_ALL=C

sentence='the quick brown fox jumps over the lazy dog.'
for _ in $(seq 300); do echo "$sentence"; done > "$tmp/text.txt" # 13,500 characters
fast=(--layers "embedding:V:8,lstm:32:seq,dense:V:softmax" --seq 32 --batch 8 --lr 0.01 --epochs 4)
"$bin" text --text "$tmp/text.txt" "${fast[@]}" --save "$tmp/m.bin" --sample 120 \
  --temperature 0.01 --prime "the " > "$tmp/out" 2> "$tmp/err" ||
  fail "training exited $?: $(cat "$tmp/err")"
last=$(grep '^test_bits_per_char=' "$tmp/out")
echo "$last"
for key in test_bits_per_char unigram_bits_per_char window_bits_per_char test_accuracy \
  train_seconds chars_per_second epochs batch seq vocab chars_train chars_test threads isa \
  peak_rss_mb; do
  [[ " $last" == *" $key="* ]] || fail "no $key in: $last"
done
val() { sed -E "s/.*(^| )$1=([^ ]+).*/\\2/" <<<"$last"; }
[[ $(val vocab) == 29 && $(val chars_train) == 12150 && $(val chars_test) == 1350 &&
  $(val seq) == 32 ]] || fail "vocab, split or seq wrong: $last"
# the entropy of the first 12,150 characters' frequencies
want=$(head -c 12150 "$tmp/text.txt" | od -An -v -tu1 -w1 | sort | uniq -c |
  awk '{ c[NR] = $1; n += $1 } END { for (k in c) h -= c[k] / n * log(c[k] / n) / log(2); printf "%.4f", h }')
[[ $(val unigram_bits_per_char) == "$want" ]] || fail "unigram entropy $(val unigram_bits_per_char), od says $want"
awk -v b="$(val test_bits_per_char)" 'BEGIN { exit !(b < 0.5) }' ||
  fail "test bits per character $(val test_bits_per_char) not below 0.5 (unigram $want)"

# --sample 120: after the key=value line, 120 characters and a newline, which
# at a near-zero temperature continue the sentence
tail -n +"$(($(grep -n '^test_bits_per_char=' "$tmp/out" | cut -d: -f1) + 1))" "$tmp/out" > "$tmp/sample"
[[ $(wc -c < "$tmp/sample") == 121 ]] || fail "--sample 120 printed $(wc -c < "$tmp/sample") bytes"
repeated=$(cat "$tmp/text.txt" "$tmp/text.txt") # no "| head": under pipefail its SIGPIPE fails the test
repeated=${repeated:0:1000}
[[ $repeated == *"the $(head -c 120 "$tmp/sample")"* ]] || fail "the sample does not continue the text: $(cat "$tmp/sample")"

# the saved model gives the same test result; --seq defaults to its windows
again=$("$bin" text --text "$tmp/text.txt" --load "$tmp/m.bin" --epochs 0 --quiet | tail -n 1)
[[ ${again%% window_bits*} == "${last%% window_bits*}" ]] || fail "reloaded model differs: $again"
# V in a user's --layers, a GRU, --sample without --prime (a newline) at temperature 1
"$bin" text --text "$tmp/text.txt" --layers "embedding:V:4,gru:8:seq,dense:V:softmax" --seq 20 \
  --epochs 1 --quiet --sample 50 --temperature 1 > "$tmp/out2" || fail "GRU run exited $?"
[[ $(tail -n +2 "$tmp/out2" | wc -c) == 51 ]] || fail "--sample 50 printed: $(tail -n +2 "$tmp/out2")"
[[ -z $(tail -n +2 "$tmp/out2" | tr -d 'a-z .\n') ]] || fail "sampled characters not in the text"

expect_error() { # CODE ARGS...: exit code, one line on stderr, no model file
  local code=$1; shift
  set +e; "$bin" text "$@" --epochs 1 --save "$tmp/none.bin" > /dev/null 2> "$tmp/err"; local rc=$?; set -e
  [[ $rc == "$code" ]] || fail "recur-train text $* exited $rc, expected $code: $(cat "$tmp/err")"
  [[ $(wc -l < "$tmp/err") == 1 ]] || fail "recur-train text $* printed $(wc -l < "$tmp/err") lines on stderr"
  [[ ! -e $tmp/none.bin ]] || fail "recur-train text $* wrote its model"
  echo "ok ($rc): $(cat "$tmp/err")"
}
expect_message() { grep -q -- "$1" "$tmp/err" || fail "unexpected message: $(cat "$tmp/err")"; }
: > "$tmp/empty.txt"
printf 'a text\nwith a NUL \0 on line 2\n' > "$tmp/nul.txt"
printf 'line 1\nline 2\nline \xff 3\n' > "$tmp/latin1.txt"
head -c 320 "$tmp/text.txt" > "$tmp/short.txt"
expect_error 2 --seq 10
expect_message "--text FILE is required"
expect_error 1 --text "$tmp/missing.txt"
expect_error 1 --text "$tmp/empty.txt"
expect_message "empty"
expect_error 1 --text "$tmp/nul.txt"
expect_message "nul.txt:2: NUL byte"
expect_error 1 --text "$tmp/latin1.txt"
expect_message "latin1.txt:3: malformed UTF-8"
expect_error 1 --text "$tmp/short.txt" --seq 32
expect_message "short.txt has 320 characters, too few for windows of 32 (--seq).* (321 characters in all)"
expect_error 2 --text "$tmp/text.txt" --seq 1
expect_error 2 --text "$tmp/text.txt" --seq x
expect_error 2 --text "$tmp/text.txt" --temperature 0
expect_error 2 --text "$tmp/text.txt" --temperature -1
expect_error 2 --text "$tmp/text.txt" --sample -3
expect_error 2 --text "$tmp/text.txt" --prime ""
expect_error 1 --text "$tmp/text.txt" --prime "The Quick fox!"
expect_message "--prime: 'T', 'Q', '!' not in the characters of $tmp/text.txt"
expect_error 1 --text "$tmp/text.txt" --prime $'the \xff'
expect_message "--prime: malformed UTF-8 at byte 5"
expect_error 1 --text "$tmp/text.txt" --layers "lstm:8:seq,dense:V:softmax"
expect_message "starts with an embedding"
expect_error 1 --text "$tmp/text.txt" --layers "embedding:V:8,lstm:8,dense:V:softmax"
expect_message "gives 29 outputs at 1 step(s)"
expect_error 1 --text "$tmp/text.txt" --layers "embedding:V:8,lstm:8:seq,dense:28:softmax"
expect_error 1 --text "$tmp/text.txt" --layers "embedding:20:8,lstm:8:seq,dense:V:softmax"
expect_message "the embedding of the model has fewer rows than the 29 characters"
expect_error 1 --text "$tmp/text.txt" --layers "embedding:V:8,bidirectional:lstm:8:seq,dense:V:softmax"
expect_message "cannot predict the next character"
expect_error 1 --text "$tmp/text.txt" --layers "embedding:V:8,lstm:8:seq,dense:W:softmax"
expect_error 1 --text "$tmp/text.txt" --load "$tmp/m.bin" --seq 16
expect_message "takes windows of 32 characters, --seq is 16"
echo "cli text test passed"
