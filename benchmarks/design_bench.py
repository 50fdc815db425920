"""Does a pilot-run design narrow the decision more than other runs of the same cost? Real refits.

Two checks of :func:`bayescale.next_runs`, each ending in a table:

1. **Known truth.**  Runs are simulated from a known Chinchilla law (the test suite's
   ``TRUTH``, 1% log-normal noise) on a grid of small models; a fit to them gives a posterior
   for the compute-optimal ``N*`` at 5.76e23 FLOPs.  ``next_runs`` picks a batch under a pilot
   budget; the batch is "trained" (simulated from the truth) and the law refitted.  The same
   FLOPs are also spent (a) on the largest affordable candidate runs and (b) on random
   candidate runs, each refitted the same way.  Per seed and averaged over seeds: the realised
   narrowing of the 95% interval of ``log N*`` (initial width - width after the refit), the
   design's predicted narrowing (and the baselines' predicted narrowing, ``fixed=True``), and
   the distance of the refitted median ``N*`` from the true ``N*``.
2. **Real data, by hindsight.**  The bundled Chinchilla runs below 1e20 FLOPs are fitted; the
   design chooses among the real runs between 1e20 and 1e21 FLOPs under a pilot budget; the
   chosen runs (with their real losses) are added and the law refitted, against random real
   runs of equal cost and the largest real runs.

Usage (about 2 minutes on 2 cores at the defaults, more on a busy machine)::

    .venv/bin/python benchmarks/design_bench.py [--seeds 5] [--pilot 1e20] [--draws 400]
        [--real-pilot 3e21] [--real-random 4] [--skip-real] [--skip-truth]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import pandas as pd

import bayescale as bs
from bayescale.decisions import allocate
from bayescale.decisions.design import next_runs

TRUTH = {"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
BUDGET = 5.76e23


def simulate(n: np.ndarray, d: np.ndarray, rng: np.random.Generator,
             sigma: float = 0.01) -> pd.DataFrame:
    """Runs at (N, D) from the true law with log-normal noise (as tests/conftest.py)."""
    law = bs.get_law("chinchilla")
    loss = law.loss(TRUTH, N=n, D=d) * np.exp(sigma * rng.standard_normal(np.size(n)))
    return pd.DataFrame({"N": n, "D": d, "C": 6 * n * d, "loss": loss})


def initial_runs(seed: int) -> pd.DataFrame:
    """The conftest grid (8 sizes x 5 tokens-per-parameter), restricted to N <= 2e8."""
    n = np.repeat(np.logspace(7, 10, 8), 5)
    d = n * np.tile(np.logspace(np.log10(2), np.log10(200), 5), 8)
    keep = n <= 2e8
    return simulate(n[keep], d[keep], np.random.default_rng(seed))


def fit_runs(runs: pd.DataFrame, seed: int, draws: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, "chinchilla", draws=draws, tune=draws, seed=seed,
                      progressbar=False, prior_draws=0, warn=False)


def log_nstar(fit) -> np.ndarray:
    return np.log(allocate(fit.draws(), BUDGET, per_draw=True, discrepancy=False)["N"][:, 0])


def width95(fit) -> float:
    lo, hi = np.quantile(log_nstar(fit), [0.025, 0.975])
    return float(hi - lo)


def fill(cands: pd.DataFrame, budget: float, order: np.ndarray) -> list[int]:
    """Positions of candidates taken in ``order`` while they fit in ``budget`` FLOPs (those
    that do not fit are skipped): a batch of (at most) the same cost."""
    picked, spent = [], 0.0
    for j in order:
        c = float(cands["flops"].iloc[j])
        if spent + c <= budget * (1 + 1e-9):
            picked.append(int(j))
            spent += c
    return picked


def true_log_nstar() -> float:
    truth = {k: [v] for k, v in TRUTH.items()}
    return float(np.log(allocate(truth, BUDGET, per_draw=True)["N"][0, 0]))


def known_truth(seeds: int, pilot: float, draws: int) -> pd.DataFrame:
    truth = true_log_nstar()
    rows = []
    for seed in range(seeds):
        t0 = time.perf_counter()
        runs = initial_runs(seed)
        fit0 = fit_runs(runs, seed, draws)
        w0 = width95(fit0)
        res = next_runs(fit0, BUDGET, pilot=pilot, seed=seed)
        t_design = time.perf_counter() - t0
        cands = res.candidates
        rng = np.random.default_rng(1000 + seed)
        designs = {
            "design": res.table[["N", "D", "flops"]],
            "largest": cands.iloc[fill(cands, res.spent,
                                       np.argsort(-cands["flops"].to_numpy()))],
            "random": cands.iloc[fill(cands, res.spent, rng.permutation(len(cands)))],
        }
        for name, batch in designs.items():
            if batch.empty:
                continue
            new = simulate(batch["N"].to_numpy(), batch["D"].to_numpy(),
                           np.random.default_rng(2000 + seed))
            fit1 = fit_runs(pd.concat([runs, new], ignore_index=True), seed, draws)
            predicted = (res.expected_reduction if name == "design" else
                         next_runs(fit0, BUDGET, pilot=None, candidates=batch[["N", "D"]],
                                   fixed=True, seed=seed).expected_reduction)
            ln = log_nstar(fit1)
            rows.append({
                "seed": seed, "design": name, "runs": len(batch),
                "flops": float(batch["flops"].sum()), "width_before": w0,
                "width_after": width95(fit1), "realised": w0 - width95(fit1),
                "predicted": predicted,
                "err_N*": float(abs(np.median(ln) - truth)),
                "covers": bool(np.quantile(ln, 0.025) <= truth <= np.quantile(ln, 0.975)),
            })
        print(f"seed {seed}: design {len(res.table)} runs, {res.spent:.3g} FLOPs, predicted "
              f"{res.expected_reduction:.3f} (design step {t_design:.1f} s)", flush=True)
    return pd.DataFrame(rows)


def real_hindsight(pilot: float, n_random: int, draws: int) -> pd.DataFrame:
    runs = bs.datasets.load("chinchilla", drop_outliers=True)
    c = runs["C"].to_numpy(float)
    start = runs[c < 1e20].reset_index(drop=True)
    pool = runs[(c >= 1e20) & (c <= 1e21)].reset_index(drop=True)
    pool = pool.assign(flops=pool["C"])
    fit0 = fit_runs(start, 0, draws)
    w0 = width95(fit0)
    res = next_runs(fit0, BUDGET, pilot=pilot, candidates=pool[["N", "D"]], seed=0)
    chosen = res.candidates.index[res.candidates["chosen"] > 0]
    order = res.candidates.loc[chosen, "chosen"].sort_values().index
    designs = {"design": pool.loc[order]}
    designs["largest"] = pool.iloc[fill(pool, res.spent, np.argsort(-pool["flops"].to_numpy()))]
    rng = np.random.default_rng(7)
    for r in range(n_random):
        designs[f"random {r + 1}"] = pool.iloc[fill(pool, res.spent, rng.permutation(len(pool)))]
    print(f"real: {len(start)} runs below 1e20, {len(pool)} candidates in [1e20, 1e21]; design "
          f"{len(res.table)} runs, {res.spent:.3g} FLOPs", flush=True)
    print(res, flush=True)
    full = fit_runs(runs, 0, draws)
    ref = log_nstar(full)
    rows = []
    for name, batch in designs.items():
        fit1 = fit_runs(pd.concat([start, batch.drop(columns="flops")], ignore_index=True), 0,
                        draws)
        predicted = (res.expected_reduction if name == "design" else
                     next_runs(fit0, BUDGET, pilot=None, candidates=batch[["N", "D"]],
                               fixed=True, seed=0).expected_reduction)
        rows.append({"design": name, "runs": len(batch), "flops": float(batch["flops"].sum()),
                     "width_before": w0, "width_after": width95(fit1),
                     "realised": w0 - width95(fit1), "predicted": predicted,
                     "median_N*": float(np.exp(np.median(log_nstar(fit1)))),
                     "all_runs_median_N*": float(np.exp(np.median(ref)))})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--pilot", type=float, default=1e20)
    p.add_argument("--draws", type=int, default=400, help="draws (= tune) per chain of each fit")
    p.add_argument("--real-pilot", type=float, default=3e21)
    p.add_argument("--real-random", type=int, default=4)
    p.add_argument("--skip-real", action="store_true")
    p.add_argument("--skip-truth", action="store_true")
    a = p.parse_args()
    fmt = {"float_format": lambda x: f"{x:.4g}", "index": False}
    t0 = time.perf_counter()
    if not a.skip_truth:
        tab = known_truth(a.seeds, a.pilot, a.draws)
        print(f"\n== known truth: N* at {BUDGET:.3g} FLOPs, pilot {a.pilot:.3g} FLOPs, "
              f"{a.seeds} seeds (true N* = {math.exp(true_log_nstar()):.3g}) ==")
        print(tab.to_string(**fmt))
        mean = (tab.groupby("design")[["runs", "flops", "width_before", "width_after",
                                       "realised", "predicted", "err_N*", "covers"]]
                .mean().reset_index())
        print("\nmean over seeds:")
        print(mean.to_string(**fmt))
    if not a.skip_real:
        tab = real_hindsight(a.real_pilot, a.real_random, a.draws)
        print(f"\n== real Chinchilla runs by hindsight: start below 1e20 FLOPs, choose among "
              f"[1e20, 1e21], pilot {a.real_pilot:.3g} FLOPs ==")
        print(tab.to_string(**fmt))
        rnd = tab[tab["design"].str.startswith("random")]
        print(f"random runs, mean of {len(rnd)}: realised {rnd['realised'].mean():.4g}, "
              f"predicted {rnd['predicted'].mean():.4g}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
