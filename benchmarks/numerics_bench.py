"""The numerical kernels sped up for the test suite's time, each against the code it replaced.

Each row times the package's kernel as it is and a baseline kept here verbatim (the code before
the change), on the same inputs in the same process, and prints the median of ``--repeat``
calls of each (alternating), the ratio, and the largest difference between their results
(the speed-ups change no number beyond rounding):

1. ``group_labels``: a hierarchy's group labels for porian's 1,745 runs (dataset x setup),
   column by column (``bayescale.modeling.groups.group_labels``) against the row-by-row
   ``agg("/".join, axis=1)`` it replaced (99253a3 / e2467f4).  A hierarchical fit built them
   for every group asked about.
2. ``FailureRateCurve``: the grid posterior of a chance of failing by a covariate, 200 runs of
   distinct epochs; the ceiling ``c`` separated out of the grid (d87efb4) against ``expit``,
   ``log`` and ``log1p`` at every grid point.
3. ``_shift_loglik``: one group's likelihood of its failed flags at 2,000 draws of the fit's
   curve and 97 shifts of its log odds (what ``GroupFailureCurve.param_draws`` and
   ``GroupShiftPrior.learn`` call per group), 60 runs: one shift at a time summed by
   matrix-vector products (2026-12-04), against the 8-value blocks of one ``log_expit``
   (d87efb4) and the original ``expit``, ``log`` and ``log1p`` blocks.

Not here: the discrepancy update's split likelihood (``matmul`` in place of ``einsum``,
4bcd087), whose baseline is a whole function.

Measured 2026-12-04 18:10 UTC (2 cores, nothing else running, ``--repeat 7``): group_labels
0.259 -> 0.0017 s (154x); FailureRateCurve 0.972 -> 0.229 s (4.3x, the same evidence to 3e-16);
_shift_loglik 0.552 -> 0.354 s against the blocks (1.6x) and 0.652 -> 0.346 s against the
original (1.9x), the same to 2e-13 and 1e-10 of 458 nats.

Usage::

    python benchmarks/numerics_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit

from bayescale.modeling import noise
from bayescale.modeling.groups import group_labels


def paired_times(ours: Callable[[], object], base: Callable[[], object],
                 repeat: int) -> tuple[float, float]:
    """Median wall times of ``ours`` and ``base``, called alternately ``repeat`` times each
    after one warm-up call of each (alternating, so that a busy spell of the shared machine
    slows both)."""
    ours(), base()
    t_ours, t_base = [], []
    for _ in range(repeat):
        for fn, out in ((ours, t_ours), (base, t_base)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(t_ours), statistics.median(t_base)


# ------------------------------------------------------------------------------- baselines
def labels_row_by_row(table: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Group labels as before 99253a3: each row's values joined in Python."""
    return table[columns].astype(str).agg("/".join, axis=1)


def curve_before_d87efb4(values: np.ndarray, failed: np.ndarray) -> tuple[float, np.ndarray]:
    """``FailureRateCurve``'s log evidence and grid weights as computed before d87efb4."""
    x = np.log10(values)
    centre, scale = float(np.mean(x)), 2.0 * float(np.std(x))
    zu, inv = np.unique((x - centre) / scale, return_inverse=True)
    k_at = np.bincount(inv, weights=failed.astype(float), minlength=zu.size)
    n_at = np.bincount(inv, minlength=zu.size).astype(float)

    def log_post(a, b, c):
        out = (-np.log1p((a / 10.0) ** 2) - np.log1p((b / 2.5) ** 2)
               - np.log(10.0 * np.pi) - np.log(2.5 * np.pi))
        for i in range(0, zu.size, 16):
            p = c[:, None] * expit(a[:, None] + b[:, None] * zu[None, i:i + 16])
            p = np.clip(p, 1e-300, 1.0 - 1e-12)
            out = out + (k_at[i:i + 16] * np.log(p)
                         + (n_at[i:i + 16] - k_at[i:i + 16]) * np.log1p(-p)).sum(axis=1)
        return out

    def grid(ga, gb, gc):
        return tuple(v.ravel() for v in np.meshgrid(ga, gb, gc, indexing="ij"))

    ga, gb = np.linspace(*noise._EPOCHS_A, noise._EPOCHS_N), np.linspace(*noise._EPOCHS_B,
                                                                         noise._EPOCHS_N)
    gc = np.linspace(*noise._EPOCHS_C, noise._EPOCHS_NC)
    a, b, c = grid(ga, gb, gc)
    lp = log_post(a, b, c)
    live = lp > lp.max() - 20.0
    da, db, dc = ga[1] - ga[0], gb[1] - gb[0], gc[1] - gc[0]
    ga = np.linspace(a[live].min() - da, a[live].max() + da, noise._EPOCHS_N)
    gb = np.linspace(b[live].min() - db, b[live].max() + db, noise._EPOCHS_N)
    gc = np.linspace(max(c[live].min() - dc, 0.5 * noise._EPOCHS_C[0]),
                     min(c[live].max() + dc, 1.0), noise._EPOCHS_NC)
    a, b, c = grid(ga, gb, gc)
    lp = log_post(a, b, c)
    w = np.exp(lp - lp.max())
    cell = (ga[1] - ga[0]) * (gb[1] - gb[0]) * (gc[1] - gc[0])
    return float(lp.max() + np.log(w.sum() * cell)), w / w.sum()


def _shift_prepare(curve, values, failed):
    zu, inv = np.unique(curve._z(values), return_inverse=True)
    k = np.bincount(inv, weights=failed.astype(float), minlength=zu.size)
    n = np.bincount(inv, minlength=zu.size).astype(float)
    return zu, k, n


def shift_loglik_original(curve, th, values, failed):
    """``_shift_loglik`` before d87efb4: ``expit``, ``log`` and ``log1p`` in blocks of 8."""
    out = np.zeros((th.shape[0], noise._SHIFT_GRID.size))
    zu, k, n = _shift_prepare(curve, values, failed)
    for i in range(0, zu.size, 8):
        lo = noise._log_odds(th[:, None, :], zu[None, i:i + 8])
        p = np.clip(expit(lo + noise._SHIFT_GRID[None, :, None]), 1e-300, 1.0 - 1e-12)
        out += (k[i:i + 8] * np.log(p) + (n[i:i + 8] - k[i:i + 8]) * np.log1p(-p)).sum(axis=2)
    return out


def shift_loglik_blocks(curve, th, values, failed):
    """``_shift_loglik`` from d87efb4 to 2026-12-04: one ``log_expit`` in blocks of 8."""
    out = np.zeros((th.shape[0], noise._SHIFT_GRID.size))
    zu, k, n = _shift_prepare(curve, values, failed)
    for i in range(0, zu.size, 8):
        x = (noise._log_odds(th[:, None, :], zu[None, i:i + 8])
             + noise._SHIFT_GRID[None, :, None])
        log_p = log_expit(x)
        log_q = np.maximum(log_p - x, np.log(1e-12))
        np.maximum(log_p, np.log(1e-300), out=log_p)
        out += (k[i:i + 8] * log_p + (n[i:i + 8] - k[i:i + 8]) * log_q).sum(axis=2)
    return out


# ------------------------------------------------------------------------------------ rows
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    rows = []

    def row(what, ours, base, diff, scale):
        t_ours, t_base = paired_times(ours, base, a.repeat)
        rows.append((what, t_base, t_ours, t_base / t_ours, diff, scale))

    from bayescale.data.datasets import load

    porian = load("porian", val=None)
    cols = ["dataset", "setup"]
    same = bool((group_labels(porian, cols).to_numpy()
                 == labels_row_by_row(porian, cols).to_numpy()).all())
    row(f"group_labels, porian {len(porian):,} runs", lambda: group_labels(porian, cols),
        lambda: labels_row_by_row(porian, cols), 0.0 if same else np.inf, 0.0)

    rng = np.random.default_rng(0)
    epochs = np.geomspace(1.0, 500.0, 200)
    failed = rng.uniform(size=200) < 0.3 * expit(-4.0 + 2.5 * np.log10(epochs))
    ours = noise.FailureRateCurve(epochs, failed)
    ev, w = curve_before_d87efb4(epochs, failed)
    row("FailureRateCurve, 200 distinct epochs", lambda: noise.FailureRateCurve(epochs, failed),
        lambda: curve_before_d87efb4(epochs, failed),
        max(abs(ours.log_evidence - ev), float(np.max(np.abs(ours._grid[3] - w)))),
        abs(ev))

    tpp = 10 ** rng.uniform(-0.5, 2.0, 360)
    flags = rng.uniform(size=360) < 0.6 * expit(-1.0 - 6.0 * (np.log10(tpp) - 0.75) / 1.4)
    base = noise.FailureRateCurve(tpp, flags, covariate="tokens per parameter")
    th = base.param_draws(2000, np.random.default_rng(1))
    v, f = tpp[:60], flags[:60]
    now = noise._shift_loglik(base, th, v, f)
    for name, fn in (("blocks of one log_expit", shift_loglik_blocks),
                     ("original expit / log / log1p", shift_loglik_original)):
        old = fn(base, th, v, f)
        row(f"_shift_loglik, 2,000 draws x 97 shifts x 60 runs, vs {name}",
            lambda: noise._shift_loglik(base, th, v, f), lambda fn=fn: fn(base, th, v, f),
            float(np.max(np.abs(now - old))), float(np.max(np.abs(old))))

    print(f"{'kernel':<78} {'before s':>9} {'now s':>8} {'ratio':>6}  max |diff| (of)")
    for what, t_base, t_ours, ratio, diff, scale in rows:
        print(f"{what:<78} {t_base:9.4f} {t_ours:8.4f} {ratio:5.1f}x  {diff:.1e} ({scale:.3g})")


if __name__ == "__main__":
    main()
