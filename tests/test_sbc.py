"""Simulation-based calibration: the uniformity tests (numpy, exact null), and a quick SBC of
every built-in law and of a hierarchical fit with the real sampler.

The quick SBC (20 simulations per model, small draws) calls a model miscalibrated when the
smallest per-parameter ECDF p-value is below 0.01 / (number of parameters): under calibration
that happens with probability <= 1% per model (Bonferroni), so a run over the four models below
has a false-alarm rate of at most ~4% for a random seed (the seeds are fixed, so the outcome is
deterministic).  That the check can fail is shown by ``test_sbc_detects_a_wrong_noise_prior``.
The full check (100 simulations per law, the fit defaults) is ``bayescale sbc --law NAME``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayescale.errors import SpecError
from bayescale.evaluation.sbc import (
    default_design,
    ecdf_band,
    rank_uniformity,
    sbc,
    uniformity_pvalues,
)
from bayescale.laws import LAWS

N_NULL = 2000


# ---------------------------------------------------------------------------- the tests (numpy)
def test_uniformity_tests_hold_their_false_alarm_rate():
    """Under uniform ranks, P(p < 0.05) is 0.05 for the ECDF test (and about that for chi2)."""
    rng = np.random.default_rng(11)
    reps = 400
    p = np.array([[v for k, v in uniformity_pvalues(rng.integers(0, 100, 40), 100,
                                                    n_null=N_NULL).items() if k.startswith("p_")]
                  for _ in range(reps)])
    rate = (p < 0.05).mean(axis=0)
    lo, hi = stats.binom.ppf([0.001, 0.999], reps, 0.05) / reps
    assert lo <= rate[0] <= hi, rate  # p_ecdf
    assert rate[1] <= hi, rate  # p_chisq (discrete: at most nominal)


@pytest.mark.parametrize(
    "kind", ["too narrow (U shape)", "too wide (hump)", "biased (shifted)"]
)
def test_uniformity_tests_detect_miscalibrated_ranks(kind):
    rng = np.random.default_rng(3)
    n, n_ranks = 100, 100
    z = rng.standard_normal(n)
    if kind.startswith("too narrow"):  # truth often outside a posterior half as wide
        u = stats.norm.cdf(2.0 * z)
    elif kind.startswith("too wide"):
        u = stats.norm.cdf(0.4 * z)
    else:
        u = stats.norm.cdf(z + 0.6)
    ranks = np.minimum((u * n_ranks).astype(int), n_ranks - 1)
    res = uniformity_pvalues(ranks, n_ranks, n_null=N_NULL)
    assert res["p_ecdf"] < 0.001, res


def test_ecdf_band_has_its_simultaneous_coverage():
    n, n_ranks, prob = 50, 100, 0.9
    _, lo, hi = ecdf_band(n, n_ranks, prob=prob, n_null=N_NULL)
    rng = np.random.default_rng(5)
    reps = 1000
    inside = 0
    for _ in range(reps):
        ecdf = np.cumsum(np.bincount(rng.integers(0, n_ranks, n), minlength=n_ranks))[:-1] / n
        inside += bool(np.all((ecdf >= lo) & (ecdf <= hi)))
    lo_rate, hi_rate = stats.binom.ppf([0.001, 0.999], reps, prob) / reps
    assert lo_rate - 0.02 <= inside / reps <= hi_rate + 0.02, inside / reps
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) >= 0)


def test_uniformity_pvalues_rejects_bad_ranks():
    with pytest.raises(ValueError, match=r"0\.\.99"):
        uniformity_pvalues(np.array([0, 100]), 100)
    with pytest.raises(ValueError, match="integers"):
        uniformity_pvalues(np.array([0.5, 1.0]), 100)


def test_rank_uniformity_table_and_plot():
    from bayescale.plots import plot_sbc_ecdf

    rng = np.random.default_rng(0)
    ranks = pd.DataFrame({
        "sim": np.tile(np.arange(60), 2),
        "parameter": ["good"] * 60 + ["bad"] * 60,
        "rank": np.r_[rng.integers(0, 100, 60), rng.integers(80, 100, 60)],
        "divergences": 0,
    })
    ranks.attrs.update(n_ranks=100, law="compute", groups=[], n_sims=60)
    table = rank_uniformity(ranks, n_null=N_NULL)
    assert list(table.index) == ["good", "bad"]
    assert table.loc["good", "p_ecdf"] > 0.01 > table.loc["bad", "p_ecdf"]
    assert table.loc["bad", "mean_rank"] > 0.8
    fig = plot_sbc_ecdf(ranks, n_null=N_NULL)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert "bad" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="no ranks"):
        plot_sbc_ecdf(ranks, parameters=["nope"])


@pytest.mark.parametrize("law", sorted(LAWS))
def test_default_design_identifies_every_law(law):
    from bayescale.data.runs import check_design

    design = default_design(law)
    assert len(design) == 24
    check_design(design.assign(loss=2.5) if "loss" not in design else design, LAWS[law])
    assert default_design(law, n_groups=2)["family"].nunique() == 2


def test_sbc_argument_errors():
    with pytest.raises(ValueError, match="n_sims"):
        sbc("compute", n_sims=0)
    with pytest.raises(ValueError, match="thinned"):
        sbc("compute", n_sims=2, draws=10, chains=2, n_ranks=100)
    with pytest.raises(SpecError, match="same law"):
        sbc("compute", n_sims=2, fit_spec="chinchilla")


# ---------------------------------------------------------------------------- quick SBC, real fits
QUICK = dict(n_sims=20, draws=150, tune=150, chains=2, n_ranks=50)


def _check_calibrated(ranks: pd.DataFrame) -> pd.DataFrame:
    table = rank_uniformity(ranks)
    n_params = len(table)
    assert ranks.attrs["n_invalid"] == 0
    assert ranks["sim"].nunique() == ranks.attrs["n_sims"]
    assert table["p_ecdf"].min() >= 0.01 / n_params, table
    return table


@pytest.mark.slow
@pytest.mark.parametrize("law", ["chinchilla", "kaplan", "compute"])
def test_quick_sbc_of_builtin_laws(law):
    ranks = sbc(law, seed=1, **QUICK)
    table = _check_calibrated(ranks)
    assert set(LAWS[law].param_names) | {"sigma", "nu"} == set(table.index)
    assert ranks["rank"].between(0, QUICK["n_ranks"] - 1).all()


@pytest.mark.slow
def test_quick_sbc_of_a_hierarchical_fit():
    """Groups with pooled exponent and offset (non-centred) and independent scales."""
    ranks = sbc("compute", groups=["family"], n_groups=3, seed=2, **QUICK)
    table = _check_calibrated(ranks)
    assert {"gamma_mu", "gamma_tau", "E_mu", "E_tau", "log_A0[g0]", "gamma[g2]"} <= set(
        table.index)


@pytest.mark.slow
def test_sbc_detects_a_wrong_noise_prior():
    """The check can fail: data simulated with 10x the noise the fitted prior allows
    (sigma ~ HalfNormal(0.5) against HalfNormal(0.05)) give ranks the test rejects."""
    from bayescale.modeling.spec import default_spec

    noisy = default_spec("compute").replace(noise_priors={
        "sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0.5}},
        "nu": {"dist": "Gamma", "kwargs": {"alpha": 2.0, "beta": 0.1}}})
    ranks = sbc(noisy, fit_spec="compute", seed=1, **QUICK)
    table = rank_uniformity(ranks)
    assert table["p_ecdf"].min() < 0.01 / len(table), table
    assert table.loc["sigma", "mean_rank"] > 0.8  # the fit underestimates the noise


def test_sbc_refuses_a_prior_whose_predictions_all_overflow():
    from bayescale.modeling.spec import default_spec

    absurd = default_spec("compute").with_priors(
        log_A0={"dist": "Normal", "kwargs": {"mu": 800.0, "sigma": 1.0}})
    with pytest.raises(SpecError, match="every one of the 3 prior draws"):
        sbc(absurd, n_sims=3, draws=50, tune=50, chains=2)
