#!/usr/bin/env bash
# recur-train forecast end to end on synthetic series: a short run on a weekly
# pattern must beat persistence far and find the season, its last line must
# carry every key, the baselines must be exact on a ramp, changing the test
# span must change nothing in training (scaling and validation from the
# training span only), a saved model must reload to the same result, --plot
# must draw both pictures, and bad input must fail with one line and write
# nothing.
# Usage: test-cli-forecast.sh BUILD_DIR
set -euo pipefail
bin=$(cd "${1:?usage: test-cli-forecast.sh BUILD_DIR}" && pwd)/recur-train
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export LC_ALL=C

# 600 days: a weekly pattern of 7 levels, a slow wave, a trend and a little
# deterministic noise; the day of the week as a second column
awk 'BEGIN { split("0 9 7 8 6 -12 -15", w); print "day,day_of_week,value"
  for (t = 0; t < 600; t++)
    printf "%d,%d,%.2f\n", t, t % 7 + 1, 100 + 0.02 * t + w[t % 7 + 1] + 4 * sin(t / 10) + ((t * 37) % 11 - 5) * 0.2 }' \
  > "$tmp/weekly.csv"
fast=(--window 14 --epochs 6 --layers "lstm:16,dense:1" --lr 0.01 --batch 16)
"$bin" forecast --csv "$tmp/weekly.csv" --column value "${fast[@]}" --save "$tmp/m.bin" \
  --history "$tmp/h.csv" > "$tmp/out" 2> "$tmp/err" || fail "training exited $?: $(cat "$tmp/err")"
last=$(tail -n 1 "$tmp/out")
echo "$last"
for key in test_rmse test_mae persistence_rmse persistence_mae seasonal_rmse seasonal_mae season \
  window horizon features lags n_train n_val n_test train_seconds epochs threads isa peak_rss_mb; do
  [[ " $last" == *" $key="* ]] || fail "no $key in: $last"
done
val() { sed -E "s/.*(^| )$1=([^ ]+).*/\\2/" <<<"$2"; }
# 600 rows: the last 120 are the test span; windows of 14 from row 14 on give
# 600 - 120 - 14 = 466 training windows, the last 47 of them for validation
[[ $(val season "$last") == 7 && $(val n_test "$last") == 120 && $(val n_train "$last") == 419 &&
  $(val n_val "$last") == 47 && $(val features "$last") == 2 && $(val lags "$last") == none ]] ||
  fail "season, split or inputs wrong: $last"
awk -v m="$(val test_rmse "$last")" -v p="$(val persistence_rmse "$last")" 'BEGIN { exit !(m < 0.5 * p) }' ||
  fail "test RMSE $(val test_rmse "$last") is not below half of persistence's $(val persistence_rmse "$last")"
[[ $(wc -l < "$tmp/h.csv") == 7 ]] || fail "history has $(wc -l < "$tmp/h.csv") lines, not 1 + 6 epochs"

# the same model file gives the same test result
again=$("$bin" forecast --csv "$tmp/weekly.csv" --column value --window 14 --load "$tmp/m.bin" \
  --epochs 0 --quiet | tail -n 1)
[[ ${again%% lags=*} == "${last%% lags=*}" ]] || fail "reloaded model differs: $again"

# the test span multiplied by 10: the same training, epoch by epoch
awk -F, -v OFS=, 'NR > 481 { $3 *= 10 } 1' "$tmp/weekly.csv" > "$tmp/test10.csv"
"$bin" forecast --csv "$tmp/test10.csv" --column value "${fast[@]}" --history "$tmp/h10.csv" \
  --quiet > "$tmp/out10"
cmp <(cut -d, -f1-7 "$tmp/h.csv") <(cut -d, -f1-7 "$tmp/h10.csv") ||
  fail "the test span changed training: $(paste -d'|' "$tmp/h.csv" "$tmp/h10.csv")"

# the baselines on a ramp (value = row): persistence misses by H, the seasonal
# baseline by the nearest multiple of S at least H back (2 * 2 for H = 3)
awk 'BEGIN { print "v"; for (t = 0; t < 200; t++) print t }' > "$tmp/ramp.csv"
ramp=$("$bin" forecast --csv "$tmp/ramp.csv" --column v --window 5 --horizon 3 --season 2 \
  --layers "lstm:4,dense:1" --epochs 1 --quiet | tail -n 1)
[[ $(val persistence_rmse "$ramp") == 3.00 && $(val persistence_mae "$ramp") == 3.00 &&
  $(val seasonal_rmse "$ramp") == 4.00 && $(val seasonal_mae "$ramp") == 4.00 &&
  $(val features "$ramp") == 0 && $(val n_test "$ramp") == 40 ]] || fail "ramp baselines: $ramp"
# --lags: each step carries the value L steps before s + H (a window fewer for each step of reach)
lagged=$("$bin" forecast --csv "$tmp/ramp.csv" --column v --window 5 --horizon 3 --lags 3,30 \
  --season 0 --layers "lstm:4,dense:1" --epochs 1 --quiet | tail -n 1)
[[ $(val lags "$lagged") == 3,30 && $(val n_train "$lagged") == 113 && $(val n_val "$lagged") == 13 &&
  " $lagged" != *" seasonal_rmse="* ]] || fail "--lags 3,30 --season 0: $lagged"

# --plot: the training curves in FILE, the forecast in FILE-forecast (when gnuplot runs)
if command -v gnuplot > /dev/null; then
  "$bin" forecast --csv "$tmp/weekly.csv" --column value "${fast[@]}" --epochs 2 --quiet \
    --plot "$tmp/p.png" > /dev/null 2> "$tmp/err" || fail "--plot exited $?: $(cat "$tmp/err")"
  [[ -s $tmp/p.png && -s $tmp/p-forecast.png && ! -s $tmp/err ]] ||
    fail "--plot drew $(ls "$tmp"/p*.png 2> /dev/null): $(cat "$tmp/err")"
else
  echo "no gnuplot: --plot not checked"
fi

expect_error() { # CODE PATTERN ARGS...: exit code, one line on stderr naming the problem, no file
  local code=$1 pattern=$2; shift 2
  set +e
  "$bin" forecast "$@" --epochs 1 --save "$tmp/none.bin" --history "$tmp/none.csv" > /dev/null 2> "$tmp/err"
  local rc=$?
  set -e
  [[ $rc == "$code" ]] || fail "recur-train forecast $* exited $rc, expected $code: $(cat "$tmp/err")"
  [[ $(wc -l < "$tmp/err") == 1 ]] || fail "recur-train forecast $* printed $(wc -l < "$tmp/err") lines on stderr"
  grep -q -- "$pattern" "$tmp/err" || fail "recur-train forecast $*: '$pattern' not in: $(cat "$tmp/err")"
  [[ ! -e $tmp/none.bin && ! -e $tmp/none.csv ]] || fail "recur-train forecast $* wrote a file"
  echo "ok ($rc): $(cat "$tmp/err")"
}
w=(--csv "$tmp/weekly.csv")
expect_error 2 "needs --csv FILE and --column NAME" --column value
expect_error 2 "needs --csv FILE and --column NAME" "${w[@]}"
expect_error 1 "no column 'valu' (columns: day, day_of_week, value)" "${w[@]}" --column valu
expect_error 1 "$tmp/none/x.csv" --csv "$tmp/none/x.csv" --column value
printf 'day,value\n0,1.5\n1,2.5\n2,abc\n' > "$tmp/text.csv"
expect_error 1 "text.csv:4: column 'value' (2): 'abc' is not a number" --csv "$tmp/text.csv" --column value
head -n 40 "$tmp/weekly.csv" > "$tmp/short.csv"
expect_error 1 "39 rows are too few for --window 28, --horizon 1 and --test-fraction 0.2" --csv "$tmp/short.csv" --column value
expect_error 1 "600 rows are too few for --window 28, --horizon 500" "${w[@]}" --column value --horizon 500
expect_error 1 "too few for --window 28, --horizon 1, --lags and" "${w[@]}" --column value --lags 480
expect_error 2 "--window: '0' is not an integer" "${w[@]}" --column value --window 0
expect_error 2 "--horizon: '0' is not an integer" "${w[@]}" --column value --horizon 0
expect_error 2 "--test-fraction: '0' is not a number in (0, 1)" "${w[@]}" --column value --test-fraction 0
expect_error 2 "--test-fraction: '1' is not a number in (0, 1)" "${w[@]}" --column value --test-fraction 1
expect_error 2 "--test-fraction: 'nan' is not a number in (0, 1)" "${w[@]}" --column value --test-fraction nan
expect_error 1 "leaves no test target" "${w[@]}" --column value --test-fraction 0.0001
expect_error 1 "--features: no column 'weekday' (columns: day, day_of_week, value)" "${w[@]}" \
  --column value --features day,weekday
expect_error 1 "--features: 'value' is the --column itself" "${w[@]}" --column value --features value
expect_error 1 "--features: 'day' is named twice" "${w[@]}" --column value --features day,day
expect_error 2 "--lags: 1 is below --horizon 2" "${w[@]}" --column value --horizon 2 --lags 7,1
expect_error 2 "--lags: 'x' is not an integer" "${w[@]}" --column value --lags 7,x
expect_error 1 "--season 590: the first test target" "${w[@]}" --column value --season 590
expect_error 2 "--center: '2'" "${w[@]}" --column value --center 2
expect_error 1 "the model in $tmp/m.bin takes windows of 14 x 3, these flags make 28 x 3" \
  "${w[@]}" --column value --load "$tmp/m.bin"
echo "forecast CLI test passed"
