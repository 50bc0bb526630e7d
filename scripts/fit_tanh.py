#!/usr/bin/env python3
"""Fits the rational tanh of simd/vmath_tanh.h and prints its coefficients.

tanh(x) ~ x P(s) / Q(s), s = x^2, P of degree NP and Q of degree NQ in s, both
with constant term 1 (tanh(x)/x -> 1 at 0), on (0, X]. Each round solves the
linear least-squares problem P - f Q ~ 0 (f = tanh(x)/x) weighted by
1 / (f Q_previous) (so the residual approximates the relative error of P/Q),
then multiplies each point's weight by the square root of its relative error
(Lawson's reweighting towards the minimax fit); the best round is kept.
Needs numpy (Debian: python3-numpy). Usage: fit_tanh.py [NP NQ X]."""
import sys

import numpy as np


def fit(npd, nqd, lim, rounds=60):
    x = np.unique(np.concatenate([np.linspace(1e-4, lim, 200000), np.geomspace(1e-6, 1, 20000)]))
    s, f = x * x, np.tanh(x) / x
    cols = [s**k for k in range(1, npd + 1)] + [-f * s**k for k in range(1, nqd + 1)]
    a = np.stack(cols, 1)
    w, qprev, best = np.ones_like(x), np.ones_like(x), None
    for _ in range(rounds):
        scale = np.sqrt(w) / (qprev * f)
        a2, r2 = a * scale[:, None], (f - 1) * scale
        norms = np.linalg.norm(a2, axis=0)
        c = np.linalg.lstsq(a2 / norms, r2, rcond=None)[0] / norms
        p, q = np.concatenate([[1.0], c[:npd]]), np.concatenate([[1.0], c[npd:]])
        pv, qv = np.polyval(p[::-1], s), np.polyval(q[::-1], s)
        err = (x * pv / qv - np.tanh(x)) / np.tanh(x)
        worst = np.max(np.abs(err))
        if best is None or worst < best[0]:
            best = (worst, p, q)
        qprev = qv
        w = w * np.sqrt(np.abs(err)) + 1e-30
        w /= w.max()
    return best


def main():
    npd, nqd, lim = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])) if len(sys.argv) == 4 else (6, 3, 9.0)
    worst, p, q = fit(npd, nqd, lim)
    print(f"max relative error of the fit (double): {worst:.2e}")
    for k in range(1, npd + 1):
        print(f"#define TANH_P{k} {p[k]:.17g}f")
    for k in range(1, nqd + 1):
        print(f"#define TANH_Q{k} {q[k]:.17g}f")


if __name__ == "__main__":
    main()
