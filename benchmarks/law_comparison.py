"""Law comparison on the bundled data: PSIS-LOO tables and leave-future-out backtests.

For chinchilla (U = D: one epoch), datablations (all of the authors' runs, and without the runs
whose loss rose with more epochs), and gadre_small (hierarchical by training set): fit each law
(4 chains x 500 draws), compare by PSIS-LOO (and leave-one-training-set-out for gadre_small),
then backtest at 0.5, 1 and 1.5 orders of magnitude of compute below the largest run, with the
discrepancy term and the Huber + bootstrap anchor.

Run:  python benchmarks/law_comparison.py OUT_DIR     (about 20 minutes on 2 busy cores)
Writes loo_<dataset>.txt, backtest_<dataset>.csv / _summary.csv / .png into OUT_DIR.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd

import bayescale as bs
from bayescale.plots import plot_backtest

DRAWS = 500


def degraded(runs: pd.DataFrame, tol: float = 0.02) -> pd.Series:
    """Runs whose loss is > tol above the best loss of the same N and U on fewer tokens."""
    d = runs.sort_values(["N", "U", "D"])
    prev = d.groupby(["N", "U"])["loss"].transform(lambda s: s.cummin().shift(1))
    return (d["loss"] > prev * (1 + tol)).reindex(runs.index)


def datasets() -> dict[str, tuple[pd.DataFrame, list[str], dict]]:
    chin = bs.datasets.load("chinchilla", drop_outliers=True)
    chin = chin.assign(U=chin["D"])  # one epoch: every token unique
    db = bs.datasets.load("datablations", main_only=True)
    db_clean = db[~degraded(db)]
    gadre = bs.datasets.load("gadre_small")
    return {
        "chinchilla": (chin, ["chinchilla", "overtraining", "kaplan", "datablations"], {}),
        "datablations": (db, ["chinchilla", "datablations", "overtraining"], {}),
        "datablations_nodegraded": (db_clean, ["chinchilla", "datablations", "overtraining"], {}),
        "gadre_small": (gadre, ["chinchilla", "overtraining", "kaplan"],
                        {"groups": ["dataset"]}),
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    for name, (runs, laws, kw) in datasets().items():
        t0 = time.time()
        fits = {law: bs.fit(runs, law, draws=DRAWS, tune=DRAWS, seed=1, progressbar=False,
                            prior_draws=0, warn=False, **kw) for law in laws}
        lines = [f"# {name}: {len(runs)} runs"]
        for law, f in fits.items():
            lines.append(f"{law}: {f.diagnostics}")
        cmp = bs.compare(fits)
        lines += ["", str(cmp)]
        if kw.get("groups"):
            lines += ["", str(bs.compare(fits, groups=kw["groups"]))]
        text = "\n".join(lines)
        (out / f"loo_{name}.txt").write_text(text + "\n")
        print(text, flush=True)
        bt = bs.backtest(runs, laws, discrepancy=True, baseline=True, draws=DRAWS, tune=DRAWS,
                         seed=1, **kw)
        bt.to_csv(out / f"backtest_{name}.csv", index=False)
        summ = bs.backtest_summary(bt)
        summ.to_csv(out / f"backtest_{name}_summary.csv", index=False)
        print(summ.to_string(float_format=lambda x: f"{x:.4g}"), flush=True)
        print(bs.backtest_summary(bt, by=["law"]).to_string(float_format=lambda x: f"{x:.4g}"))
        fig = plot_backtest(bt)
        fig.savefig(out / f"backtest_{name}.png", dpi=110)
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "law_comparison"))
