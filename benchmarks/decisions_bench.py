"""Time the decision layer on a posterior-sized batch of draws; prints medians.

Measures, for ``S`` posterior draws (jittered around Hoffmann et al.'s Approach 3 parameters)
and ``B`` budgets:

- ``allocate(per_draw=True)`` with the Chinchilla closed form and with the numeric optimiser;
- ``prob_target`` over the budgets (noise integrated analytically);
- ``budget_for`` for one target;
- ``plan_regret`` of one plan;
- ``risk_averse`` (CVaR 90) at one budget;
- ``inference_aware`` for one target.

(A plain dict of draws carries no extrapolation discrepancy, so these time the decisions' own
work.)

Each is run ``--repeat`` times after one warm-up call; the median wall time is printed.  The
closed form and the numeric optimiser are checked to agree (relative 1e-5 on N*).

Usage::

    python benchmarks/decisions_bench.py [--draws 4000] [--budgets 200]
        [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bayescale import decisions as bd

HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def draws_of(s: int, seed: int = 9) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    draws = {k: v * np.exp(0.02 * rng.standard_normal(s)) for k, v in HOFFMANN.items()}
    draws["sigma"] = np.full(s, 0.01)
    return draws


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--budgets", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    a = parser.parse_args()
    d = draws_of(a.draws)
    budgets = np.logspace(18, 26, a.budgets)
    closed = bd.allocate(d, budgets, per_draw=True)
    numeric = bd.allocate(d, budgets, method="numeric", per_draw=True)
    np.testing.assert_allclose(numeric["N"], closed["N"], rtol=1e-5)
    cases = {
        "allocate per draw (closed form)": lambda: bd.allocate(d, budgets, per_draw=True),
        "allocate per draw (numeric)": lambda: bd.allocate(d, budgets, method="numeric",
                                                           per_draw=True),
        "prob_target over the budgets": lambda: bd.prob_target(d, 2.0, budgets=budgets),
        "budget_for (p = 0.9)": lambda: bd.budget_for(d, 2.0, 0.9),
        "plan_regret of one plan": lambda: bd.plan_regret(d, (70e9, 1.4e12)),
        "risk_averse (CVaR 90)": lambda: bd.risk_averse(d, 5.76e23, utility="cvar"),
        "inference_aware": lambda: bd.inference_aware(d, 2.0, 1e13),
    }
    print(f"{a.draws} draws x {a.budgets} budgets, median of {a.repeat} runs")
    for name, fn in cases.items():
        print(f"  {name:36s} {median_time(fn, a.repeat) * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
