"""Discrepancy draws keep their distribution whatever the number of posterior draws, and
learn_discrepancy chooses inner splits that short sweeps allow.

Claims: ``kappa`` draws come back in random order, and recycling or thinning them to a fit's
number of draws (predict, backtest) keeps their distribution, so a 1,000-draw fit gets the same
discrepancy spread as a 4,000-draw one (before, ``np.resize`` of sorted draws kept only the
smallest kappas); a 16-run model ladder gets inner splits when ``min_train`` allows, and an
error naming the ``min_train=`` values that work when it does not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.evaluation.backtest import _score
from bayescale.evaluation.discrepancy import _inner_cuts
from bayescale.posterior.discrepancy import (
    Discrepancy,
    estimate_kappa,
    resample_draws,
)

# a sorted sample of kappa, as the inverse-CDF draws of estimate_kappa used to be returned
SORTED_KAPPA = np.sort(np.abs(np.random.default_rng(3).normal(0.0, 0.02, 4000)))


def test_estimate_kappa_returns_draws_in_random_order():
    rng = np.random.default_rng(0)
    d = rng.uniform(0.2, 1.0, 300)
    r = rng.normal(0.0, np.sqrt(0.01**2 + (0.03 * d) ** 2))
    k = estimate_kappa(r, np.full(d.size, 0.01), d, prior_scale=0.1, seed=1)
    assert k.size == 4000
    assert not np.all(np.diff(k) >= 0)
    # any leading block is a fair sample: its 95% quantile is the whole sample's
    assert np.quantile(k[:1000], 0.95) == pytest.approx(np.quantile(k, 0.95), rel=0.1)
    # the same stratified values as before, only shuffled, and reproducible
    assert np.array_equal(k, estimate_kappa(r, np.full(d.size, 0.01), d, prior_scale=0.1,
                                            seed=1))


def test_resample_draws_keeps_the_distribution():
    rng = np.random.default_rng(0)
    k = np.arange(4000.0)
    thin = resample_draws(k, 1000, rng)
    assert thin.size == 1000 and np.unique(thin).size == 1000  # a subset, no repeats
    assert thin.min() < 100 and thin.max() > 3900
    grown = resample_draws(k[:300], 1000, rng)
    counts = np.bincount(grown.astype(int), minlength=300)
    assert set(counts.tolist()) <= {3, 4} and counts.sum() == 1000  # every draw 3 or 4 times
    assert not np.all(np.diff(grown) >= 0)
    a = resample_draws(k, 1000, np.random.default_rng(5))
    assert np.array_equal(a, resample_draws(k, 1000, np.random.default_rng(5)))
    with pytest.raises(ValueError, match="n=0"):
        resample_draws(k, 0, rng)


@pytest.mark.parametrize("n_small", [1000, 400])
def test_discrepancy_spread_does_not_depend_on_the_number_of_draws(n_small):
    """A fit with fewer draws than kappa has sees the whole kappa distribution (measured
    before the fix, at 1,000 of these 4,000 sorted draws: 95% quantile of the sd 0.006 vs 0.039)."""
    disc = Discrepancy(kappa=SORTED_KAPPA, train_max=1e20)
    far = [1e21]  # one order of magnitude beyond the data: sd = kappa
    q_full = np.quantile(disc.sd(far, n_draws=4000)[:, 0], 0.95)
    q_small = np.quantile(disc.sd(far, n_draws=n_small)[:, 0], 0.95)
    # Monte Carlo error of a 95% quantile of n_small draws of a half-normal: ~5%
    assert q_small == pytest.approx(q_full, rel=0.15)
    assert q_full == pytest.approx(np.quantile(SORTED_KAPPA, 0.95), rel=0.02)
    # the perturbations: their spread matches too
    rng = np.random.default_rng(1)
    big = disc.perturb(np.zeros((4000, 1)), far, rng)[:, 0]
    small = disc.perturb(np.zeros((n_small, 1)), far, rng)[:, 0]
    se = np.std(big) * np.sqrt(2.0 / n_small)  # rough; the kurtosis of a scale mixture is > 3
    assert abs(np.std(small) - np.std(big)) < 4 * se
    assert np.std(small) > 0.015  # before: 0.004 at 1,000 draws


def test_backtest_score_uses_the_whole_kappa_distribution():
    """``_score`` with 400 posterior draws and 4,000 sorted kappa draws gives the intervals it
    gives with the same kappas shuffled (before: only the 400 smallest kappas were used)."""
    s, n = 400, 30
    log_mu = np.zeros((s, n))
    sigma = np.full(s, 0.005)
    dist = np.full(n, 1.0)
    y = np.zeros(n)
    kw = dict(distance=dist, levels=(0.95,))
    a = _score(log_mu, sigma, None, y, kappa=SORTED_KAPPA, rng=np.random.default_rng(0), **kw)
    shuffled = np.random.default_rng(9).permutation(SORTED_KAPPA)
    b = _score(log_mu, sigma, None, y, kappa=shuffled, rng=np.random.default_rng(0), **kw)
    wa, wb = np.mean(a["rel_width_95"]), np.mean(b["rel_width_95"])
    assert wa == pytest.approx(wb, rel=0.1)
    # the width of a 95% interval of sqrt(sigma^2 + kappa^2) z, kappa ~ HalfNormal(0.02)
    assert 0.07 < wa < 0.12


# --------------------------------------------------------------------------- inner splits
TRUTH = dict(E=1.8, A=482.0, B=2085.0, alpha=0.348, beta=0.366)


def ladder(n: int = 16, decades: float = 1.5, seed: int = 0) -> pd.DataFrame:
    """A model ladder at 20 tokens per parameter, ``decades`` orders of magnitude of C."""
    N = np.logspace(8.0, 8.0 + decades / 2.0, n)
    D = 20.0 * N
    law = bs.get_law("chinchilla")
    loss = law.loss(TRUTH, N=N, D=D) * np.exp(0.01 * np.random.default_rng(seed).normal(size=n))
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


def _cuts(runs, min_train, splits=None):
    from bayescale.sampling.fit import prepare_runs, resolve_spec

    s = resolve_spec("chinchilla")
    t = prepare_runs(runs, s, None, 6.0)
    return [(name, int((t["C"] <= c).sum())) for _, name, c in
            _inner_cuts(t, "C", splits, min_train, s.law_obj)]


def test_inner_splits_follow_what_the_runs_allow():
    runs = ladder()
    # 1.5 decades, 16 runs: 0.5 and 1 decade leave 10 and 5 runs; with min_train=10 the
    # splits are scaled to 0.3 and 0.6 decades (13 and 10 runs to fit, 3 and 6 to predict)
    assert _cuts(runs, 10) == [("0.3", 13), ("0.6", 10)]
    assert _cuts(runs, 8) == [("0.4", 12), ("0.8", 8)]
    # only one cutoff leaves 14 runs to fit and 2 to predict
    assert _cuts(runs, 14) == [("0.2", 14)]
    assert _cuts(runs, 15) == []
    # runs that reach 1 decade below the top keep the default splits (and their names)
    wide = ladder(decades=6.0)
    assert _cuts(wide, 10) == [("0.5", 14), ("1", 13)]
    # explicit splits are used as given
    assert _cuts(runs, 8, splits=[0.1, 0.5]) == [("0.1", 15), ("0.5", 10)]


def test_short_ladder_error_names_the_min_train_that_works():
    runs = ladder()
    with pytest.raises(ValueError) as err:
        bs.learn_discrepancy(runs, "chinchilla")
    msg = str(err.value)
    assert "16 runs" in msg and "at least 17" in msg
    assert "min_train= between 8" in msg and "and 14" in msg
    assert "min_train=13" in msg  # the largest that leaves room for 2 splits
    with pytest.raises(ValueError, match=r"min_train=5: .* pass min_train >= 8"):
        bs.learn_discrepancy(runs, "chinchilla", min_train=5)
    with pytest.raises(ValueError, match=r"none of splits=\(5.0,\).*Pass splits= between"):
        bs.learn_discrepancy(runs, "chinchilla", splits=[5.0], min_train=10)
    with pytest.raises(ValueError, match="add runs"):
        bs.learn_discrepancy(runs.iloc[:8], "chinchilla")
    with pytest.raises(ValueError, match="splits must be positive"):
        bs.learn_discrepancy(runs, "chinchilla", splits=[-1.0])


@pytest.mark.slow
def test_short_ladder_learns_kappa_with_the_suggested_min_train():
    """The real sampler on the 16-run ladder, at the min_train the error suggests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ladder's N and D are collinear, by design
        disc = bs.learn_discrepancy(ladder(), "chinchilla", min_train=13, draws=200, tune=200,
                                    chains=2, seed=1)
    res = disc.residuals
    assert set(res["split"]) == {"all:0.2", "all:0.3"}
    assert len(res) == 2 + 3
    assert (res["distance"] > 0).all() and np.isfinite(res["z"]).all()
    assert disc.kappa.size == 4000 and np.isfinite(disc.kappa).all()
    assert "2 inner" in str(disc)


@pytest.mark.slow
def test_groups_split_within_each_group_without_a_mixed_setup_warning():
    """With groups=, the inner splits are made within each model family (split names
    "<family>:<orders of magnitude>") and the runs are validated as a fit grouped by family
    would be: families that share (N, D) points are not a mixed set-up."""
    from bayescale.data.runs import MixedSetupWarning
    from bayescale.data.synthetic import simulate_hierarchy

    runs = simulate_hierarchy(3, n_sizes=6, n_ratios=4, sizes=(1e7, 3e9), seed=2).runs
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixedSetupWarning)
        disc = bs.learn_discrepancy(runs, "chinchilla", groups="family", draws=200, tune=200,
                                    chains=2, seed=1)
    families = {s.split(":")[0] for s in disc.residuals["split"]}
    assert families == set(runs["family"])
    assert disc.train_max == pytest.approx(float((6 * runs["N"] * runs["D"]).max()))
    assert "updated by" in disc.source
