#!/usr/bin/env bash
# A weak-scaling model of recur_mpi_fit: each rank keeps its batch b, so the
# compute of a step stays t_step whatever the rank count N, and what grows
# with N is the gradient sum (MPI_Iallreduce of the flat gradient buffer).
#
#   t_ar(S)    = 2 (N-1)/N * S / BW + 2 (N-1) * alpha      ring allreduce of S bytes
#   t_ar_rd(S) = 2 (N-1)/N * S / BW + 2 log2(N) * alpha    recursive doubling /
#                Rabenseifner (Open MPI's choice for small messages): same bytes,
#                log2(N) message steps each way instead of N-1
#   exposed    = max(t_ar(S_total) - fb * t_step * (S_total - S_first) / S_total,
#                    t_ar(S_first))
#   efficiency = t_step / (t_step + exposed)
#
# Assumption behind `exposed`: backward (fb * t_step) produces the gradients
# last layer first at an even rate per byte, and every sum but the first
# layer's can run behind what is left of backward; the first layer's
# gradients are ready only when backward ends, so its sum is always exposed.
# Left out: the latency of each bucket (recur sums several buckets, each paying
# the alpha term), stragglers, network contention, the optimizer step's time.
#
# Built-in models (t_step measured on an "Intel(R) Xeon(R) Processor", lscpu
# family 6 model 167, AVX-512, 2 cores shared with other jobs, load 1.4-1.8,
# 2026-11-30, Release builds):
#  tutorial   lstm:128:relu:seq,dropout,lstm:128:relu,dropout,dense:32,dropout,
#             dense:10 on 28x28: 216,426 parameters, the first LSTM 80,384;
#             per-rank batch 32. t_step = 9.221 ms: median of 3 runs of
#               mpiexec --allow-run-as-root --oversubscribe --mca btl self,vader \
#                 -np 1 -x OMP_NUM_THREADS=1 build/bench_mpi 32 8192
#             (9.105, 9.221, 9.319 ms). fb: the default 0.6, not measured.
#  lstm512    one LSTM layer T=100, B=64, I=H=512: 4*512*(512+512+1) =
#             2,099,200 parameters in one layer, so S_first = S_total and
#             nothing hides. t_step = 803 ms: median of 3 repetitions of
#               OMP_NUM_THREADS=1 recur_bench \
#                 --benchmark_filter='^train/T100_B64_I512_H512/tanh' \
#                 --benchmark_repetitions=3
#             (recur_lstm_forward + recur_lstm_backward; 1019, 803, 730 ms; a
#             second set gave 785). Forward alone (fwd/...) 317 ms, so
#             backward is (803 - 317) / 803 = 0.61 of the step: fb = 0.6.
#  lstm512x2  two of those layers stacked (the second's input is the first's
#             512-wide output, so 2,099,200 parameters each): t_step = 2 x 803
#             ms, S_total twice S_first; the second layer's sum can hide
#             behind the first layer's backward.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: mpi-scaling-model.sh [--model tutorial|lstm512|lstm512x2|all]
                            [--name NAME --total-bytes S --first-bytes S1 --step-ms T]
                            [--fb F] [--bw G1,G2,...] [--alpha US] [--max-ranks N] [--tsv]
  --model        a built-in model (default: all three)
  --name ...     a model given by hand: S (all gradients, parameters x 4 bytes),
                 S1 (the first layer's), T (one step's compute on one rank, ms);
                 --step-ms alone overrides a built-in model's step time
  --fb F         backward's share of the step, 0..1 (default 0.6)
  --bw LIST      network bandwidths in Gbit/s (default 25,100)
  --alpha US     latency per message step in microseconds (default 5)
  --max-ranks N  the largest N of 2, 4, 8, ... (default 256)
  --tsv          one line per model, bandwidth and N, tab-separated
EOF
}

die() { echo "mpi-scaling-model.sh: $*" >&2; exit 2; }
number() { # a non-negative decimal, optionally with an exponent
    [[ $2 =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$ ]] ||
        die "$1 wants a non-negative number, not '$2'"
}

model=all name='' total='' first='' step='' fb=0.6 bws=25,100 alpha=5 maxn=256 tsv=0
while (($#)); do
    opt=$1
    case $opt in
    -h | --help) usage; exit 0 ;;
    --tsv) tsv=1; shift; continue ;;
    --model | --name | --total-bytes | --first-bytes | --step-ms | --fb | --bw | --alpha | --max-ranks)
        (($# >= 2)) || die "$opt needs a value"
        val=$2; shift 2 ;;
    *) die "unknown argument '$opt' (--help lists the flags)" ;;
    esac
    case $opt in
    --model)
        [[ $val =~ ^(tutorial|lstm512|lstm512x2|all)$ ]] ||
            die "--model: '$val' is not tutorial, lstm512, lstm512x2 or all"
        model=$val ;;
    --name) [[ $val =~ ^[A-Za-z0-9_.+-]+$ ]] || die "--name: '$val' wants letters, digits, _ . + -"
        name=$val ;;
    --total-bytes) number "$opt" "$val"; total=$val ;;
    --first-bytes) number "$opt" "$val"; first=$val ;;
    --step-ms) number "$opt" "$val"; step=$val ;;
    --fb) number "$opt" "$val"; fb=$val ;;
    --alpha) number "$opt" "$val"; alpha=$val ;;
    --bw)
        [[ $val =~ ^[0-9.eE+-]+(,[0-9.eE+-]+)*$ ]] || die "--bw wants Gbit/s numbers separated by commas, not '$val'"
        for g in ${val//,/ }; do number --bw "$g"; done
        bws=$val ;;
    --max-ranks)
        if ! [[ $val =~ ^[0-9]{1,7}$ ]] || ((val < 2 || val > 1048576 || (val & (val - 1)) != 0)); then
            die "--max-ranks wants a power of two from 2 to 1048576, not '$val'"
        fi
        maxn=$val ;;
    esac
done

awk -v x="$fb" 'BEGIN { exit !(x <= 1) }' || die "--fb $fb is not within 0..1"
awk -v l="$bws" 'BEGIN { n = split(l, a, ","); for (i = 1; i <= n; i++) if (a[i] + 0 <= 0) exit 1 }' ||
    die "--bw: every bandwidth must be above 0"

# name, S_total bytes, S_first bytes, t_step ms, one model a line
models=
if [[ -n $name || -n $total || -n $first ]]; then
    [[ -n $name && -n $total && -n $first && -n $step ]] ||
        die "a model by hand needs --name, --total-bytes, --first-bytes and --step-ms"
    [[ $model == all ]] || die "--model and --name exclude each other"
    awk -v s="$total" -v f="$first" 'BEGIN { exit !(s > 0 && f > 0 && f <= s) }' ||
        die "--first-bytes $first must be above 0 and at most --total-bytes $total"
    models="$name $total $first $step"
else
    [[ -z $step || $model != all ]] || die "--step-ms with a built-in model wants --model tutorial, lstm512 or lstm512x2"
    tut="tutorial $((216426 * 4)) $((80384 * 4)) ${step:-9.221}"
    one="lstm512 $((2099200 * 4)) $((2099200 * 4)) ${step:-803}"
    two="lstm512x2 $((2 * 2099200 * 4)) $((2099200 * 4)) $(awk -v t="${step:-803}" 'BEGIN { print 2 * t }')"
    case $model in
    tutorial) models=$tut ;;
    lstm512) models=$one ;;
    lstm512x2) models=$two ;;
    all) models=$tut$'\n'$one$'\n'$two ;;
    esac
fi
awk -v t="${models##* }" 'BEGIN { exit !(t > 0) }' || die "--step-ms must be above 0"

printf '%s\n' "$models" | awk -v fb="$fb" -v bws="$bws" -v alpha_us="$alpha" -v maxn="$maxn" -v tsv="$tsv" '
function tar(S, n, latency_steps) { # ms
    return (2 * (n - 1) / n * S / bw + latency_steps * alpha) * 1e3
}
function exposed(ar_total, ar_first) {
    e = ar_total - fb * t * (S - S1) / S
    return e > ar_first ? e : ar_first
}
BEGIN {
    alpha = alpha_us * 1e-6
    nbw = split(bws, bwl, ",")
    if (tsv) print "model\tgbit_s\tranks\tt_ar_ring_ms\texposed_ring_ms\teff_ring\tt_ar_rd_ms\texposed_rd_ms\teff_rd"
}
{
    name = $1; S = $2; S1 = $3; t = $4
    if (!tsv) {
        printf "%s: gradients %.0f bytes, first layer %.0f bytes (%.0f%%); t_step %g ms, backward %g of it; alpha %g us\n",
            name, S, S1, 100 * S1 / S, t, fb, alpha_us
        if (S1 == S)
            print "  one layer: its sum waits for the end of backward, so nothing hides"
    }
    for (k = 1; k <= nbw; k++) {
        gbit = bwl[k]; bw = gbit * 1e9 / 8
        stop_ring = stop_rd = 0
        if (!tsv) {
            printf "  %g Gbit/s           ring allreduce            recursive doubling / Rabenseifner\n", gbit
            printf "  %6s %12s %12s %10s %12s %12s %10s\n", "N", "t_ar ms", "exposed ms", "efficiency", "t_ar ms", "exposed ms", "efficiency"
        }
        for (n = 2; n <= maxn; n *= 2) {
            lg = log(n) / log(2)
            ar = tar(S, n, 2 * (n - 1)); er = exposed(ar, tar(S1, n, 2 * (n - 1)))
            ad = tar(S, n, 2 * lg);      ed = exposed(ad, tar(S1, n, 2 * lg))
            effr = t / (t + er); effd = t / (t + ed)
            if (!stop_ring && (effr < 0.9 || ar > fb * t)) stop_ring = n
            if (!stop_rd && (effd < 0.9 || ad > fb * t)) stop_rd = n
            if (tsv)
                printf "%s\t%g\t%d\t%.6g\t%.6g\t%.6f\t%.6g\t%.6g\t%.6f\n", name, gbit, n, ar, er, effr, ad, ed, effd
            else
                printf "  %6d %12.3f %12.3f %10.3f %12.3f %12.3f %10.3f\n", n, ar, er, effr, ad, ed, effd
        }
        if (!tsv)
            printf "  communication stops hiding at N = %s (ring), N = %s (recursive doubling)\n\n",
                stop_ring ? stop_ring : "none up to " maxn, stop_rd ? stop_rd : "none up to " maxn
    }
}
END {
    if (!tsv) {
        print "Stops hiding: the first N where the efficiency falls below 0.9 or the whole sum"
        print "takes longer than backward. Open MPI (tuned) sums small messages by recursive"
        print "doubling or Rabenseifner (latency 2 log2(N) alpha) and large ones by a ring"
        print "(2 (N-1) alpha); the real choice lies between the two columns."
    }
}'
