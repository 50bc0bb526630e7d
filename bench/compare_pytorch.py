#!/usr/bin/env python3
"""Trains the Keras MNIST tutorial model in PyTorch and prints its throughput
next to recur's, measured in the same run.

Optional: needs PyTorch and an optimised BLAS, from apt on Debian
(scripts/install-deps.sh torch: python3-torch libopenblas0-openmp; on the
reference libblas Debian's torch runs about 10x slower). Run it with Debian's
interpreter, /usr/bin/python3:

  /usr/bin/python3 bench/compare_pytorch.py [--threads N] [--batch 32] [--steps 200] [--repeats 3]

Model: LSTM(128, sequences) -> Dropout(0.2) -> LSTM(128, last step) ->
Dropout(0.1) -> Dense(32, relu) -> Dropout(0.2) -> Dense(10), softmax
cross-entropy, Adam(1e-3), on random MNIST-shaped data (28 steps x 28
features). Two torch variants: nn.LSTM (tanh), and a step-by-step LSTM cell
with ReLU activations, as the tutorial (and recur's benchmark) uses.
recur's number comes from build/bench/bench/recur_bench (model_train/B32);
bench/run.sh builds it. Median of --repeats timed blocks of --steps steps.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:
    print("bench/compare_pytorch.py: PyTorch is not installed (Debian: apt-get install python3-torch)")
    sys.exit(2)

T, F, H, CLASSES = 28, 28, 128, 10
FLOP_PER_SAMPLE = 35.5e6  # the project's convention for one training sample of this model
EPOCH = 60000
ROOT = pathlib.Path(__file__).resolve().parent.parent
RECUR_BENCH = ROOT / "build/bench/bench/recur_bench"
TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


class ReluLSTM(nn.Module):
    """LSTM layer with relu in place of tanh, time-major: [T, B, I] -> [T, B, H].
    The input projection runs once over all steps; the gates are laid out
    i, f, o, g so one sigmoid covers three of them (fewer ops per step)."""

    def __init__(self, inputs, hidden):
        super().__init__()
        self.hidden = hidden
        self.x2g = nn.Linear(inputs, 4 * hidden)
        self.u = nn.Parameter(torch.empty(hidden, 4 * hidden))
        nn.init.orthogonal_(self.u)

    def forward(self, x):
        steps, batch, _ = x.shape
        H = self.hidden
        gx = self.x2g(x.reshape(steps * batch, -1)).view(steps, batch, 4 * H)
        h = x.new_zeros(batch, H)
        c = x.new_zeros(batch, H)
        out = []
        # unbind, not gx[t]: each indexing's backward would add a whole [T, B, 4H] zero tensor
        for gxt in gx.unbind(0):
            zs, zg = torch.addmm(gxt, h, self.u).split([3 * H, H], dim=1)
            i, f, o = torch.sigmoid(zs).chunk(3, dim=1)
            c = torch.addcmul(f * c, i, torch.relu(zg))
            h = o * torch.relu(c)
            out.append(h)
        return torch.stack(out)


class Tutorial(nn.Module):
    """The tutorial model on time-major input [T, B, F]; returns logits [B, 10]."""

    def __init__(self, relu):
        super().__init__()
        if relu:
            self.lstm1, self.lstm2 = ReluLSTM(F, H), ReluLSTM(H, H)
        else:
            self.lstm1, self.lstm2 = nn.LSTM(F, H), nn.LSTM(H, H)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(H, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, CLASSES))
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        seq = sequence(self.lstm1(x))
        seq = sequence(self.lstm2(self.drop(seq)))
        return self.head(seq[-1])


def sequence(out):
    """The output sequence of an LSTM layer (nn.LSTM also returns its final state)."""
    return out[0] if isinstance(out, tuple) else out


def torch_samples_per_s(relu, batch, steps, repeats, warmup=5):
    torch.manual_seed(0)
    model = Tutorial(relu)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(T, batch, F)
    y = torch.randint(0, CLASSES, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    return steps * batch / statistics.median(times)


def recur_samples_per_s(threads):
    """recur_bench's median model_train/B32 step, as samples/s; None if unavailable."""
    if not RECUR_BENCH.exists():
        print(f"recur_bench not found at {RECUR_BENCH.relative_to(ROOT)}: run bench/run.sh first (it builds it)")
        return None
    cmd = [str(RECUR_BENCH), "--benchmark_filter=model_train/B32", "--benchmark_repetitions=3",
           "--benchmark_report_aggregates_only=true", "--benchmark_format=json"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"recur_bench failed (status {run.returncode}): {run.stderr.strip()}")
        return None
    for b in json.loads(run.stdout)["benchmarks"]:
        if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
            return 32 / (b["real_time"] * TO_SECONDS[b["time_unit"]])
    print("recur_bench reported no median for model_train/B32")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = [("recur (LSTM ReLU, batch 32)", recur_samples_per_s(args.threads))]
    rows.append(("torch nn.LSTM (tanh)", torch_samples_per_s(False, args.batch, args.steps, args.repeats)))
    rows.append(("torch LSTM cell, ReLU", torch_samples_per_s(True, args.batch, args.steps, args.repeats)))

    recur = rows[0][1]
    print("| implementation | samples/s | s per MNIST epoch | GFLOP/s | recur speedup (recur / this row) |")
    print("|---|---:|---:|---:|---:|")
    for name, sps in rows:
        if sps is None:
            print(f"| {name} | n/a | n/a | n/a | n/a |")
            continue
        speedup = f"{recur / sps:.2f}x" if recur else "n/a"
        print(f"| {name} | {sps:,.0f} | {EPOCH / sps:.1f} | {sps * FLOP_PER_SAMPLE / 1e9:.1f} | {speedup} |")
    recur_batch = "" if args.batch == 32 else " (recur: batch 32)"
    print(f"\ntorch {torch.__version__} on {blas_in_use()}, {torch.get_num_threads()} threads, "
          f"batch {args.batch}{recur_batch}, median of {args.repeats} x {args.steps} steps")


def blas_in_use():
    """The BLAS library this process has mapped (Debian's torch links libblas.so.3,
    whichever implementation the alternatives system points it at)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
    return ", ".join(sorted(os.path.realpath(p) for p in libs)) or "an unknown BLAS"



if __name__ == "__main__":
    main()
