"""Where the discrepancy puts the forecast's median, and how a study's own splits move it.

Claims (issue 13, "ARE no worse than today"): the discrepancy's only effect on the median of a
forecast is its mean miss ``bias``: with ``bias = 0`` the median stays the law's (the
deviation is symmetric), and with ``bias = b`` it moves by ``b x`` decades of compute beyond
the data and nothing inside the data; the update by a study's own leave-future-out splits
learns that location (splits without a miss pull a negative prior mean towards zero, splits
that all over-predict push it further), and a zero-location prior (``fit_discrepancy_prior(...,
location=False)``) stays centred whatever the splits show, widening instead; and the
calibration benchmark scores every method on a random stream of its own, so a row's numbers
do not depend on the rows scored before it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayescale.posterior.discrepancy import Discrepancy, update_discrepancy

ROOT = Path(__file__).resolve().parents[1]


def prior_draws(n: int = 16000, bias: float = -0.03) -> Discrepancy:
    """Prior draws like a new study's: log-normal kappa, a negative mean miss, Student-t."""
    rng = np.random.default_rng(0)
    return Discrepancy(kappa=np.exp(np.log(0.015) + 0.8 * rng.standard_normal(n)),
                       bias=bias + 0.03 * rng.standard_normal(n), nu=20.0, train_max=1.0)


def test_the_median_moves_by_the_mean_miss_only():
    base = np.zeros((20000, 3))  # a law with no uncertainty: median 0 everywhere
    C = [0.5, 10.0, 100.0]  # inside the data, 1 and 2 decades beyond it
    disc = prior_draws(20000)
    centred = replace(disc, bias=0.0)
    med = np.median(centred.perturb(base, C, np.random.default_rng(1)), axis=0)
    assert med[0] == 0.0
    assert np.abs(med[1:]).max() < 0.002  # Monte Carlo error of a median of 20,000 draws
    shifted = replace(disc, bias=-0.02)
    med = np.median(shifted.perturb(base, C, np.random.default_rng(1)), axis=0)
    assert med[0] == 0.0
    assert med[1:] == pytest.approx([-0.02, -0.04], abs=0.003)


def test_a_zero_location_prior_stays_centred_and_widens():
    disc = replace(prior_draws(), bias=0.0)
    upd = update_discrepancy(disc, splits_with(-0.06), n_draws=4000)
    assert np.all(upd.bias == 0.0)
    assert np.median(upd.kappa) > 2 * np.median(disc.kappa)
    out = upd.perturb(np.zeros((20000, 1)), [100.0], np.random.default_rng(0))
    assert abs(float(np.median(out))) < 0.004  # the law's median, up to Monte Carlo error


def splits_with(slope: float, n_splits: int = 3) -> pd.DataFrame:
    """Inner splits whose held-out runs all miss by ``slope`` log loss per decade."""
    d = np.tile([0.2, 0.5, 0.8, 1.0], n_splits)
    rng = np.random.default_rng(2)
    return pd.DataFrame({"split": np.repeat([f"s{i}" for i in range(n_splits)], 4),
                         "residual": slope * d + 0.003 * rng.standard_normal(d.size),
                         "scale": 0.003, "nu": np.inf, "d_C": d, "d_T": 0.0})


def test_own_splits_learn_the_location():
    prior = prior_draws()
    none = update_discrepancy(prior, splits_with(0.0), n_draws=4000)
    over = update_discrepancy(prior, splits_with(-0.06), n_draws=4000)
    b0, b_none, b_over = (float(np.median(x.bias)) for x in (prior, none, over))
    assert b0 == pytest.approx(-0.03, abs=0.003)
    assert b0 < b_none < 0.0 and abs(b_none) < 0.5 * abs(b0)
    assert b_over < b0


def test_calibration_scores_each_method_on_its_own_stream():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import calibration as cal
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    meta = {"study": "chinchilla", "cell": "all", "split_index": 0}
    alone = cal._method_rng(0, meta)("prior updated").standard_normal(5)
    rng = cal._method_rng(0, meta)
    rng("prior").standard_normal(1000)  # another method's draws first
    assert np.array_equal(rng("prior updated").standard_normal(5), alone)
    other = cal._method_rng(0, meta | {"cell": "other"})("prior updated").standard_normal(5)
    assert not np.array_equal(other, alone)
    assert set(cal.METHODS) >= {"none", "prior updated", "zero location", "anchor"}
    assert cal._prior_name("without_x", True) == "without_x"  # the shipped model's cache


@pytest.mark.slow
def test_zero_location_model_fits_without_a_mean_miss():
    from bayescale.evaluation.discrepancy import fit_discrepancy_prior

    rng = np.random.default_rng(4)
    rows = []
    for study in ("a", "b", "c"):
        for cell in ("x", "y"):
            for j in range(4):
                d = np.array([0.25, 0.5, 1.0, 1.5])
                slope = 0.03 * rng.standard_normal()
                rows.append(pd.DataFrame({
                    "study": study, "cell": cell, "split": f"{study}{cell}{j}",
                    "residual": slope * d + 0.003 * rng.standard_normal(d.size),
                    "scale": 0.003, "nu": np.inf, "d_C": d, "d_T": 0.0}))
    res = pd.concat(rows, ignore_index=True)
    prior, tree = fit_discrepancy_prior(res, draws=200, tune=300, chains=2, location=False)
    assert "bias_cell" not in tree["posterior"]
    assert np.all(prior.draws[["bias_C", "bias_tau_C", "bias_omega_C"]].to_numpy() == 0.0)
    assert "zero location" in prior.provenance
    assert np.all(prior.new_study(1000)["bias"] == 0.0)
    assert 0.01 < float(np.exp(np.median(prior.draws["mu_C"]))) < 0.08
