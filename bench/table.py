#!/usr/bin/env python3
"""Prints recur_bench's JSON report as markdown: recur vs oneDNN per primitive
(LSTM, GRU both ways, SimpleRNN), training step and forward, medians over the
repetitions.

usage: bench/table.py build/bench/results.json
"""
import json
import statistics
import sys

TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
NOISY_CV = 0.10


def load(path):
    """{name: (median ms, median FLOP/s)}, {name: error message}, {name: time CV}, context."""
    with open(path) as f:
        doc = json.load(f)
    medians, samples, errors, cvs = {}, {}, {}, {}
    for b in doc["benchmarks"]:
        # UseRealTime() appends "/real_time" to every name
        name = b.get("run_name", b["name"]).removesuffix("/real_time")
        if b.get("error_occurred"):
            errors[name] = b.get("error_message", "")
            continue
        point = (b["real_time"] * TO_MS[b["time_unit"]], b.get("FLOPS", 0.0))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name] = point
            elif b.get("aggregate_name") == "cv":
                cvs[name] = b["real_time"]  # a fraction, whatever time_unit says
        else:  # no aggregates (a single repetition): take the median ourselves
            samples.setdefault(name, []).append(point)
    for name, pts in samples.items():
        medians.setdefault(name, tuple(statistics.median(p[k] for p in pts) for k in (0, 1)))
    return medians, errors, cvs, doc.get("context", {})


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def shape_key(name):
    """Sort order of the rows (repetitions may run interleaved): by H, I, B, T."""
    _, shape, act = name.split("/")
    t, b, i, h = (int(p[1:]) for p in shape.split("_"))
    return (h, i, b, t, act)


def table(title, kind, runs, errors, peak):
    rows = sorted((n for n in runs if n.startswith(kind + "/")), key=shape_key)
    if not rows:
        return
    print(f"\n### {title}\n")
    print(f"| shape T, B, I, H (act) | recur {kind} ms | oneDNN {kind} ms "
          "| oneDNN time / recur time | recur GFLOP/s | % of sgemm peak |")
    print("|---|--:|--:|--:|--:|--:|")
    for name in rows:
        _, shape, act = name.split("/")
        ms, flops = runs[name]
        theirs, label = runs.get(f"onednn_{kind}/{shape}/{act}", (None,))[0], act
        if theirs is None and act != "tanh" and f"onednn_{kind}/{shape}/{act}" not in errors:
            # oneDNN's LSTM and GRUs have only tanh: such a row compares with their tanh time
            theirs = runs.get(f"onednn_{kind}/{shape}/tanh", (None,))[0]
            label = f"{act} vs oneDNN tanh"
        dims = ", ".join(p[1:] for p in shape.split("_"))
        print(f"| {dims} ({label}) | {ms:.3f} | {fmt(theirs, '.3f')} "
              f"| {fmt(theirs and theirs / ms, '.2f')} | {flops / 1e9:.1f} "
              f"| {fmt(peak and 100 * flops / peak, '.0f')} |")


# (title, benchmark name prefix, oneDNN's primitive) per recur primitive
PRIMITIVES = [
    ("LSTM", "", "LSTM"),
    ("GRU, reset_after=1", "gru_", "lbr_gru"),
    ("GRU, reset_after=0", "gru0_", "vanilla_gru"),
    ("SimpleRNN", "rnn_", "vanilla_rnn"),
]


def masked_table(runs):
    """recur's LSTM training step with a step mask against the same shape unmasked."""
    rows = sorted((n for n in runs if n.startswith("train_masked/")), key=shape_key)
    if not rows:
        return
    print("\n### LSTM, training step with a step mask (right padding, each sample valid "
          "for T/2..T steps; all T steps count as work)\n")
    print("| shape T, B, I, H (act) | masked ms | unmasked ms | masked / unmasked time |")
    print("|---|--:|--:|--:|")
    for name in rows:
        _, shape, act = name.split("/")
        ms, plain = runs[name][0], runs.get(f"train/{shape}/{act}", (None,))[0]
        dims = ", ".join(p[1:] for p in shape.split("_"))
        print(f"| {dims} ({act}) | {ms:.3f} | {fmt(plain, '.3f')} "
              f"| {fmt(plain and ms / plain, '.2f')} |")


def model_table(runs, peak):
    rows = sorted(n for n in runs if n.startswith("model_"))
    if not rows:
        return
    print("\n### The tutorial model (2 x LSTM(128, relu), Dense, Dropout, Adam)\n")
    print("| benchmark | ms | samples/s | GFLOP/s | % of sgemm peak |")
    print("|---|--:|--:|--:|--:|")
    for name in rows:
        ms, flops = runs[name]
        kind, arg = name.split("/")
        samples = int(arg.split("_")[0][1:])
        print(f"| {kind} {arg} | {ms:.3f} | {samples / ms * 1e3:.0f} | {flops / 1e9:.1f} "
              f"| {fmt(peak and 100 * flops / peak, '.0f')} |")
    # the LSTMs written as a custom cell (examples/cells/lstm.c) against the built-in ones
    for arg in ("B32", "B128"):
        mine, theirs = runs.get(f"model_cell_train/{arg}"), runs.get(f"model_train/{arg}")
        if mine and theirs:
            print(f"\ncustom-cell LSTM over built-in LSTM, training step {arg}: "
                  f"{mine[0] / theirs[0]:.2f}x the time")


def main():
    runs, errors, cvs, ctx = load(sys.argv[1])
    peak = runs.get("sgemm_peak/1024", (None, None))[1]
    for name, prefix, theirs in PRIMITIVES:
        table(f"{name}, training step: forward + backward (oneDNN {theirs})",
              prefix + "train", runs, errors, peak)
        table(f"{name}, forward (recur: inference forward on packed weights; oneDNN {theirs}: forward_inference on reordered weights)",
              prefix + "fwd", runs, errors, peak)
    masked_table(runs)
    model_table(runs, peak)
    print(f"\nsgemm peak (dnnl_sgemm 1024^3): {fmt(peak and peak / 1e9, '.1f')} GFLOP/s; "
          f"threads: recur {ctx.get('recur_threads', '?')}, "
          f"OpenMP/oneDNN {ctx.get('omp_max_threads', '?')}; "
          f"recur ISA {ctx.get('recur_isa', '?')}; {ctx.get('num_cpus', '?')} CPUs")
    print(f"CPU: {ctx.get('cpu', '?')}; recur's time-loop choices: {ctx.get('recur_tuning', '?')}")
    one = runs.get("sgemm_peak_1thread/1024", (None, None))[1]
    if peak and one:
        threads = int(ctx.get("recur_threads", 0))
        shared = peak / one < 0.85 * threads
        note = " (well under the thread count: the run's cores were shared at times)" if shared else ""
        print(f"sgemm on 1 thread: {one / 1e9:.1f} GFLOP/s; {threads} threads ran {peak / one:.2f}x that{note}")
    # a shared or busy machine shows up as repetitions that disagree
    noisy = [f"{n} {100 * cv:.0f}%" for n, cv in cvs.items() if cv > NOISY_CV]
    if noisy:
        print(f"noisy (time CV > {100 * NOISY_CV:.0f}% over the repetitions): " + ", ".join(noisy))
    for name, msg in errors.items():
        print(f"skipped {name}: {msg}")


if __name__ == "__main__":
    main()
