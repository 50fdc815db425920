"""Time the Besiroglu et al. (2024) anchor procedure on the Chinchilla table.

Runs, on one core, the full procedure of :mod:`bayescale.evaluation.baselines`:

1. the 4,500-start Huber / L-BFGS-B grid fit on the 240 runs left after dropping
   the 5 highest-loss rows of Epoch AI's reconstruction of Chinchilla Fig. 4;
2. 4,000 bootstrap refits started from that fit;

and prints wall / CPU times and the estimates with 95% percentile intervals next
to the published ones.  ``--reference`` additionally runs the reference-code
variant of the bootstrap (BFGS from Hoffmann et al.'s estimates, index stream of
``np.random.seed(42)``), which reproduces the published intervals.

Usage::

    PYTHONPATH=. python benchmarks/anchor_timing.py [--reference]
        [--n-boot 4000] [--seed 0] [--csv PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayescale.evaluation import baselines as bl

DEFAULT_CSV = Path("/work/shared/data/chinchilla/svg_extracted_data.csv")


def load(csv: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    df = pd.read_csv(csv)
    loss = df["loss"].to_numpy()
    df = df[loss < np.sort(loss)[-5]]  # drop the 5 highest-loss runs (Besiroglu et al.)
    N = df["Model Size"].to_numpy(float)
    D = df["Training FLOP"].to_numpy(float) / (6.0 * N)
    return N, D, df["loss"].to_numpy(float)


def timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def table(fit: bl.HuberFit, boot: pd.DataFrame) -> pd.DataFrame:
    iv = bl.bootstrap_intervals(boot, level=0.95)
    rows = []
    for k in ["E", "A", "B", "alpha", "beta", "a_opt"]:
        pub, plo, phi = bl.BESIROGLU_2024_ESTIMATES[k]
        rows.append(
            {
                "param": k,
                "ours": getattr(fit, k),
                "ours_lo": iv.loc[k, "lower"],
                "ours_hi": iv.loc[k, "upper"],
                "ours_se": iv.loc[k, "se"],
                "published": pub,
                "pub_lo": plo,
                "pub_hi": phi,
                "rel_diff": getattr(fit, k) / pub - 1.0,
            }
        )
    return pd.DataFrame(rows).set_index("param")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--n-boot", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--reference", action="store_true", help="also run the reference-code bootstrap"
    )
    args = ap.parse_args()

    try:  # one core: pin this process if the platform allows it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass

    N, D, L = load(args.csv)
    print(f"data: {len(N)} runs from {args.csv}")

    fit, w_fit, c_fit = timed(bl.huber_fit, N, D, L)
    print(
        f"grid fit : {fit.n_starts} starts ({fit.n_success} successful) "
        f"wall {w_fit:6.1f} s  cpu {c_fit:6.1f} s  ({1e3 * w_fit / fit.n_starts:.1f} ms/start)"
    )
    print(f"           objective {fit.objective:.12g}, best start {fit.init}")

    boot, w_b, c_b = timed(bl.bootstrap, N, D, L, n_boot=args.n_boot, seed=args.seed, start=fit)
    print(
        f"bootstrap: {args.n_boot} refits ({boot.attrs['n_failed']} flagged by scipy) "
        f"wall {w_b:6.1f} s  cpu {c_b:6.1f} s  ({1e3 * w_b / args.n_boot:.1f} ms/refit)"
    )
    print(f"total    : wall {w_fit + w_b:6.1f} s  cpu {c_fit + c_b:6.1f} s\n")

    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 140):
        print("estimates (95% percentile bootstrap intervals) vs Besiroglu et al. (2024):")
        print(table(fit, boot).to_string())

        if args.reference:
            ref, w_r, c_r = timed(
                bl.bootstrap,
                N,
                D,
                L,
                n_boot=args.n_boot,
                seed=np.random.RandomState(42),
                start=bl.HOFFMANN_2022_START,
                method="BFGS",
                options={},
            )
            print(
                f"\nreference-code bootstrap (BFGS from Hoffmann et al., RandomState(42)): "
                f"wall {w_r:.1f} s  cpu {c_r:.1f} s"
            )
            print(table(fit, ref).to_string())


if __name__ == "__main__":
    main()
