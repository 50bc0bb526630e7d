#!/usr/bin/env bash
# scripts/mpi-scaling-model.sh against numbers computed by hand: no
# communication cost gives efficiency 1; a sum as long as the step halves it;
# what hides behind backward and what cannot; the two latency terms; the
# efficiency never rises with N; bad flags end with one line and exit 2.
set -euo pipefail
model=$(cd "$(dirname "$0")" && pwd)/mpi-scaling-model.sh
fail() { echo "FAIL: $*" >&2; exit 1; }
# field F (9 = eff_rd, 6 = eff_ring, 4 = t_ar_ring_ms, 7 = t_ar_rd_ms) at N ranks
field() { awk -F'\t' -v n="$1" -v f="$2" 'NR > 1 && $3 == n { print $f }'; }
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d < 1e-9 && d > -1e-9) }' || fail "$3: $1, expected $2"; }

# a huge bandwidth and no latency: nothing to wait for, at every N
out=$("$model" --tsv --model tutorial --bw 1e12 --alpha 0)
[[ $(awk -F'\t' 'NR > 1' <<<"$out" | wc -l) == 8 ]] || fail "expected N = 2..256 (8 lines): $out"
awk -F'\t' 'NR > 1 && ($6 < 0.999999 || $9 < 0.999999) { exit 1 }' <<<"$out" ||
    fail "efficiency below 1 with no communication cost: $out"
echo "ok: infinite bandwidth, alpha 0: efficiency 1"

# 1e8 bytes in one layer, 1 GB/s = 8 Gbit/s, N = 2: 2 * 1/2 * 1e8 / 1e9 s = 100 ms,
# all of it exposed: 100 / (100 + 100) = 0.5
one=(--tsv --name one --total-bytes 1e8 --first-bytes 1e8 --step-ms 100 --bw 8 --alpha 0 --max-ranks 4)
out=$("$model" "${one[@]}")
near "$(field 2 4 <<<"$out")" 100 "t_ar ring, N=2"
near "$(field 2 6 <<<"$out")" 0.5 "efficiency ring, N=2"
near "$(field 2 9 <<<"$out")" 0.5 "efficiency rd, N=2"
# N = 4: 2 * 3/4 * 100 ms = 150 ms: 100 / 250
near "$(field 4 6 <<<"$out")" 0.4 "efficiency ring, N=4"
echo "ok: 1e8 bytes at 1 GB/s on 2 ranks: t_ar 100 ms, efficiency 0.5 (0.4 on 4)"

# two equal layers: t_ar(total) = 100 ms, backward 0.6 * 100 ms of which half
# hides the second layer's sum: 100 - 30 = 70 ms > t_ar(first) = 50 ms
out=$("$model" --tsv --name two --total-bytes 1e8 --first-bytes 5e7 --step-ms 100 --fb 0.6 --bw 8 --alpha 0 --max-ranks 2)
near "$(field 2 5 <<<"$out")" 70 "exposed, two layers"
near "$(field 2 6 <<<"$out")" "$(awk 'BEGIN { printf "%.6f", 100 / 170 }')" "efficiency, two layers"
# a long backward hides all but the first layer's sum: exposed = t_ar(first) = 50
out=$("$model" --tsv --name two --total-bytes 1e8 --first-bytes 5e7 --step-ms 1000 --fb 1 --bw 8 --alpha 0 --max-ranks 2)
near "$(field 2 5 <<<"$out")" 50 "exposed, long backward"
echo "ok: two layers: 70 ms exposed; with a long backward only the first layer's 50 ms"

# latency alone (8 bytes, a huge bandwidth), alpha 10 us, N = 8:
# ring 2 * 7 * 10 us = 0.14 ms, recursive doubling 2 * 3 * 10 us = 0.06 ms
out=$("$model" --tsv --name lat --total-bytes 8 --first-bytes 8 --step-ms 1 --bw 1e12 --alpha 10 --max-ranks 8)
near "$(awk -v x="$(field 8 4 <<<"$out")" 'BEGIN { printf "%.9f", x }')" 0.14 "ring latency, N=8"
near "$(awk -v x="$(field 8 7 <<<"$out")" 'BEGIN { printf "%.9f", x }')" 0.06 "rd latency, N=8"
echo "ok: latency terms 2(N-1) alpha and 2 log2(N) alpha"

# efficiency never rises with N, for every built-in model, bandwidth and algorithm
out=$("$model" --tsv --bw 1,25,100 --alpha 5 --max-ranks 1024)
awk -F'\t' 'NR > 1 { k = $1 "/" $2
    if (k in r && ($6 > r[k] + 1e-12 || $9 > d[k] + 1e-12)) { print "rises at " k " N=" $3; exit 1 }
    r[k] = $6; d[k] = $9 }' <<<"$out" || fail "efficiency rises with N"
# the human table states where communication stops hiding (ring, 25 Gbit/s,
# tutorial: eff 0.862 < 0.9 first at 128 with the measured 9.221 ms)
"$model" --model tutorial | grep -q 'stops hiding at N = 128 (ring)' ||
    fail "tutorial at 25 Gbit/s should stop hiding at N = 128 (ring)"
echo "ok: efficiency non-increasing in N; the tutorial stops hiding at N = 128"

# bad flags: exit 2 and exactly one line on stderr
for bad in "--bogus" "--alpha" "--alpha -1" "--fb 1.5" "--bw 25,,100" "--bw 0" "--max-ranks 6" \
    "--model big" "--name x --total-bytes 10 --first-bytes 20 --step-ms 1" "--name x --total-bytes 10" \
    "--step-ms 5" "--model tutorial --step-ms 0"; do
    set +e
    # shellcheck disable=SC2086 # the flags are split on purpose
    err=$("$model" $bad 2>&1 >/dev/null)
    rc=$?
    set -e
    [[ $rc == 2 ]] || fail "'$bad' exited $rc, expected 2"
    [[ $(wc -l <<<"$err") == 1 && $err == mpi-scaling-model.sh:* ]] || fail "'$bad' printed: $err"
done
echo "ok: bad flags exit 2 with one line"
