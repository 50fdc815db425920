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


def averaged_draws(n: int = 16000) -> Discrepancy:
    """Half the draws from a model with a mean miss, half from a zero-location model whose
    kappa is wider (it absorbs systematic misses), as in the shipped averaged prior."""
    rng = np.random.default_rng(3)
    miss = prior_draws(n // 2)
    zero_kappa = np.exp(np.log(0.03) + 0.6 * rng.standard_normal(n // 2))
    return Discrepancy(kappa=np.r_[miss.kappa, zero_kappa], bias=np.r_[miss.bias, np.zeros(n // 2)],
                       nu=20.0, train_max=1.0)


def test_own_splits_weigh_the_two_models():
    """Bayesian model averaging: splits that miss by as much up as down move the weight to the
    zero-location model (whose wider kappa holds systematic misses of either sign, and whose
    median is the law's), splits that all over-predict to the model with a mean miss; the
    update says how the weight moved."""
    prior = averaged_draws()
    assert np.mean(prior.bias != 0) == 0.5
    both = pd.concat([splits_with(0.05, 2), splits_with(-0.05, 2).assign(
        split=lambda r: r["split"] + "'")], ignore_index=True)
    either = update_discrepancy(prior, both, n_draws=4000)
    over = update_discrepancy(prior, splits_with(-0.05, 4), n_draws=4000)
    p_either, p_over = np.mean(either.bias != 0), np.mean(over.bias != 0)
    assert p_either < 0.35 and p_over > 0.65, (p_either, p_over)
    assert "weight of the model with a mean miss 0.50 ->" in either.source
    out = either.perturb(np.zeros((20000, 1)), [100.0], np.random.default_rng(0))
    assert abs(float(np.median(out))) < 0.01
    assert "on 50% of draws (0 on the zero-location model's)" in str(prior)


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
    assert set(cal.METHODS) >= {"none", "prior updated", "mean miss", "zero location", "anchor"}
    assert set(cal.MODEL_ROWS) <= set(cal.METHODS)
    assert cal._prior_name("without_x", True) == "without_x__v3"  # versioned cache names


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


def test_a_miss_the_law_itself_allows_is_not_an_extrapolation_error():
    """Splits whose runs all miss together by about the law's own uncertainty (a fit's
    posterior draws move every run of a forecast together, ``law_terms``): with that
    uncertainty shared along the split the update keeps kappa near the prior's small values;
    counted as independent per run (the model before) the same residuals, 30 runs each moving
    as one, push kappa up, although the forecast's draws already hold that miss."""
    from bayescale.posterior.discrepancy import law_terms

    rng = np.random.default_rng(7)
    rows = []
    for j in range(3):
        d = np.linspace(0.1, 1.0, 30)
        log_mu = 0.02 * rng.standard_normal((4000, 1)) * d  # law uncertainty, grows with d
        terms = law_terms(log_mu, np.full(4000, 0.003))
        miss = 0.02 * d * (1.5 if j % 2 else -1.5)  # 1.5 sd of the law's own uncertainty
        rows.append(pd.DataFrame({"split": f"s{j}", "residual": miss
                                  + 0.003 * rng.standard_normal(d.size),
                                  "scale": np.sqrt(0.003**2 + log_mu.var(axis=0)), "nu": np.inf,
                                  "d_C": d, "d_T": 0.0, **terms}))
    res = pd.concat(rows, ignore_index=True)
    prior = replace(prior_draws(), bias=0.0)
    shared = update_discrepancy(prior, res, n_draws=4000)
    independent = update_discrepancy(prior, res.drop(columns=["law_1", "law_2", "noise"]),
                                     n_draws=4000)
    k0, k_shared, k_ind = (float(np.median(x.kappa)) for x in (prior, shared, independent))
    assert k_shared < 1.5 * k0, (k0, k_shared)
    assert k_ind > 1.5 * k_shared, (k_ind, k_shared)  # 0.027 against 0.016
    np.testing.assert_allclose(res["noise"] ** 2 + res["law_1"] ** 2 + res["law_2"] ** 2,
                               res["scale"] ** 2, rtol=1e-9)


def test_the_law_terms_are_integrated_out_correctly():
    """The update's likelihood of a split (deviation and the law's shared terms integrated out,
    the latter by importance sampling around a robust mode) matches brute-force Monte Carlo
    from the prior, also with an outlying run under Student-t noise."""
    from scipy.special import gammaln, logsumexp

    from bayescale.posterior.discrepancy import _split_loglik, check_residuals

    rng = np.random.default_rng(11)
    d = np.linspace(0.1, 1.2, 10)
    load = np.c_[0.015 * d, 0.006 * np.cos(3 * d)]
    res = load @ np.array([1.2, -0.5]) + 0.02 * d + 0.01 * rng.standard_t(3, d.size)
    res[7] += 0.2  # an outlying run
    r = check_residuals(pd.DataFrame({"split": "a", "residual": res, "scale": 0.01, "nu": 3.0,
                                      "d_C": d, "d_T": 0.0, "law_1": load[:, 0],
                                      "law_2": load[:, 1], "noise": 0.01}),
                        ["split", "residual", "scale", "d_C", "d_T"])
    kappa, zero = np.array([0.01, 0.05]), np.zeros(2)
    est = _split_loglik(r, kappa, zero, np.full(2, 20.0), zero, 2048, np.random.default_rng(0))
    const = d.size * (gammaln(2.0) - gammaln(1.5) - 0.5 * np.log(3 * np.pi) - np.log(0.01))
    for i, k in enumerate(kappa):
        lp = []
        for _ in range(10):
            t, w = rng.standard_t(20, 40000), rng.standard_normal((40000, 2))
            x = (res - k * t[:, None] * d - w @ load.T) / 0.01
            lp.append(const - np.sum(2.0 * np.log1p(x * x / 3.0), axis=1))
        lp = np.concatenate(lp)
        assert est[i] == pytest.approx(logsumexp(lp) - np.log(lp.size), abs=0.2)
