"""Coordinates of the discrepancy prior's fit: whitened per split against the ones before.

``fit_discrepancy_prior`` (the hierarchical model behind the shipped discrepancy prior and the
ten leave-one-study-out priors of ``benchmarks/calibration.py``) samples each split's compute
slope and the law's two shared terms in coordinates that whiten the split's likelihood
(``bayescale.evaluation.discrepancy.WHITENED_SPLITS = True``); before 2026-12-05 they were
sampled as ``t_j`` (Student-t) and ``w_j`` (normal) directly, a narrow ridge per split because
the law's own uncertainty grows with the distance as the deviation does.  This fits the same
model both ways, in one process, to the real residuals of ``benchmarks/calibration.py``'s
cache with one study left out (as the leave-one-study-out table does), and prints per
coordinates: seconds, leapfrog steps per draw, divergences, the worst R-hat and the smallest
bulk ESS of the population parameters (``mu``, ``tau``, ``omega``, ``nu``, ``bias_*``), and
that ESS per second; then the ratios.

Needs the cache of ``python benchmarks/calibration.py --collect-only`` (about 35-40 minutes
from empty on 2 cores; ``--cache``).

Measured 2026-12-05 07:50-07:55 UTC (2 cores, alone on the machine; ``python
benchmarks/prior_geometry.py``: chinchilla left out, the model with a mean miss, 4 x 200 draws,
target_accept 0.99): before, 229 s, 754 leapfrog steps per draw, 0 divergences, worst R-hat
1.358, smallest ESS 10 (``tau_C``); whitened, 61 s, 225 steps, 0, 1.102, 30.  **Ratios: seconds
0.26, steps 0.30, smallest ESS per second 11.4x.**  Neither passes at 200 draws; the
leave-one-study-out priors use 4 x 1,000 (``calibration.LOSO_SAMPLING``).

Usage::

    python benchmarks/prior_geometry.py                    # chinchilla left out, 4 x 200
    python benchmarks/prior_geometry.py --leave-out porian --draws 500 --zero-location
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibration as cal

POPULATION = ("mu", "tau", "omega", "nu", "bias_C", "bias_tau_C", "bias_omega_C")


def one(res, whitened: bool, draws: int, location: bool, seed: int) -> dict:
    import arviz as az

    import bayescale.evaluation.discrepancy as disc

    disc.WHITENED_SPLITS = whitened
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, tree = disc.fit_discrepancy_prior(res, draws=draws, tune=draws, chains=4,
                                             target_accept=0.99, seed=seed, location=location)
    seconds = time.perf_counter() - t
    post = tree["posterior"].to_dataset()
    post = post[[v for v in POPULATION if v in post]]
    if "omega" in post and location:  # omega_C is 0 by construction with a mean miss
        post["omega"] = post["omega"].sel(part=["T"])
    rhat, ess = az.rhat(post), az.ess(post)
    ss = tree["sample_stats"]
    worst = max(float(np.nanmax(np.asarray(rhat[v]))) for v in rhat.data_vars)
    low = min(float(np.nanmin(np.asarray(ess[v]))) for v in ess.data_vars)
    return {"coordinates": "whitened" if whitened else "before", "seconds": seconds,
            "steps": float(np.asarray(ss["n_steps"]).mean()),
            "divergences": int(np.asarray(ss["diverging"]).sum()), "worst_rhat": worst,
            "min_ess": low, "ess_per_s": low / seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=cal.DEFAULT_CACHE)
    ap.add_argument("--leave-out", default="chinchilla")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--zero-location", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not a.cache.exists():
        ap.error(f"no calibration cache at {a.cache}: run python benchmarks/calibration.py "
                 "--collect-only first")
    paths = cal.collect(a.cache, None, verbose=False, mixture=False)
    res = cal.residual_table(paths)
    if a.leave_out not in set(res["study"]):
        ap.error(f"--leave-out {a.leave_out!r} is not one of {sorted(set(res['study']))}")
    res = res[res["study"] != a.leave_out]
    print(f"{len(res)} held-out runs in {res['split'].nunique()} splits, {a.leave_out} left "
          f"out; 4 x {a.draws} draws, {'zero location' if a.zero_location else 'mean miss'}",
          flush=True)
    rows = []
    for whitened in (False, True):
        rows.append(one(res, whitened, a.draws, not a.zero_location, a.seed))
        r = rows[-1]
        print(f"{r['coordinates']:9s} {r['seconds']:6.0f} s  {r['steps']:5.0f} steps/draw  "
              f"{r['divergences']} div  worst R-hat {r['worst_rhat']:.3f}  "
              f"min ESS {r['min_ess']:.0f}  ESS/s {r['ess_per_s']:.2f}", flush=True)
    before, now = rows
    print(f"ratios whitened / before: seconds {now['seconds'] / before['seconds']:.2f}, "
          f"steps {now['steps'] / before['steps']:.2f}, "
          f"min ESS per second {now['ess_per_s'] / before['ess_per_s']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
