"""The empirical discrepancy prior, the shape of the discrepancy, and its default use in predict.

Claims: the shipped prior (population draws learned across published scaling studies) loads,
is finite and carries its provenance (studies, cutoffs, the command that rebuilds it, the
date); the discrepancy is one deviation per posterior draw shared along a forecast (equal at
equal distance, proportional to compute distance), heavier-tailed than normal, growing with
distance in compute and in tokens per parameter, and zero inside the data; its spread does not
depend on how many draws a fit has (a 1,000-draw and a 4,000-draw fit, real sampler);
``fit.predict`` uses it by default (``discrepancy=False`` turns it off) and every predicted row
carries its distance from the data; a study's own residuals update the prior in the right
direction; the hierarchical model recovers a known kappa, and a known tail weight (Student-t
nu = 3), from simulated residuals, and mixes where the law's own uncertainty grows with the
distance as the deviation does (as on real splits).
"""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.evaluation.discrepancy import fit_discrepancy_prior
from bayescale.posterior.discrepancy import (
    POPULATION_PARAMS,
    Discrepancy,
    DiscrepancyPrior,
    empirical_prior,
    update_discrepancy,
)
from conftest import TRUTH

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "bayescale" / "data" / "bundled" / "discrepancy_prior"


def runs_table() -> pd.DataFrame:
    """A small sweep: 3 decades of compute, 10-100 tokens per parameter."""
    N = np.repeat(np.logspace(7.5, 9.0, 6), 3)
    D = N * np.tile([10.0, 30.0, 100.0], 6)
    loss = bs.get_law("chinchilla").loss(TRUTH["chinchilla"], N=N, D=D)
    loss = loss * np.exp(0.01 * np.random.default_rng(0).standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "C": 6 * N * D, "loss": loss})


# --------------------------------------------------------------------------- the shipped file
def test_prior_file_loads_and_has_provenance():
    prior = empirical_prior()
    assert list(prior.draws.columns) == list(POPULATION_PARAMS)
    assert len(prior.draws) >= 200 and np.isfinite(prior.draws.to_numpy()).all()
    assert (prior.draws[["tau_C", "omega_C", "tau_T", "omega_T"]] >= 0).all().all()
    assert (prior.draws["nu"] > 1).all()
    text = (FOLDER / "PROVENANCE.md").read_text()
    assert prior.provenance == text
    for study in ("chinchilla", "datablations", "porian", "gadre_small", "misfitting"):
        assert f"| {study} |" in text  # each study, with its cells, splits and runs
    assert "benchmarks/calibration.py --rebuild-prior" in text
    assert re.search(r"Date: \d{4}-\d{2}-\d{2}", text)
    assert "Cutoffs" in text and "no licence" in text
    # both models were sampled cleanly when it was built (v2's model with a mean miss had
    # R-hat 1.058 at 4 x 2000 draws and was rebuilt, 2026-12-02)
    fits = re.findall(r"(\d+) divergences, largest R-hat (\d+\.\d+)", text)
    assert len(fits) == 2, fits
    assert all(int(div) == 0 and float(rhat) <= 1.01 for div, rhat in fits), fits
    # shipped with the package: the package-data glob covers the folder's files
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["bayescale"]
    assert "data/bundled/*/*" in globs
    # a new study's kappa: a few percent of log loss per decade, wide but not absurd
    k = prior.new_study(20000, seed=0)
    med = float(np.median(k["kappa"]))
    assert 0.005 < med < 0.1
    assert np.quantile(k["kappa"], 0.95) > 2 * med
    # ... and its tail is not absurd: with a HalfNormal(1) spread between five studies, 1% of a
    # new study's kappa_T draws exceeded 1.2 per decade (a factor 3.4 of the loss)
    for name in ("kappa", "kappa_tpp"):
        assert np.quantile(k[name], 0.99) < 0.5, name
    assert "new study kappa (C)" in prior.summary().index
    # two models with equal weight: half the draws have no mean miss (the zero-location model)
    assert prior.p_mean_miss == pytest.approx(0.5)
    assert np.mean(k["bias"] == 0.0) == pytest.approx(0.5, abs=0.02)
    assert np.median(k["bias"][k["bias"] != 0]) < 0  # the other model: over-predicts on average
    assert "zero-location model" in text


def test_prior_rejects_a_broken_table():
    with pytest.raises(ValueError, match="missing"):
        DiscrepancyPrior(pd.DataFrame({"mu_C": [0.0]}))
    bad = empirical_prior().draws.copy()
    bad.loc[0, "nu"] = np.nan
    with pytest.raises(ValueError, match="rebuild-prior"):
        DiscrepancyPrior(bad)
    with pytest.raises(ValueError, match="runs must be the runs table"):
        empirical_prior().discrepancy(None)


# --------------------------------------------------------------------------- the shape
def test_deviation_is_shared_along_a_forecast():
    """One deviation per draw: equal at equal distance, proportional to compute distance."""
    disc = Discrepancy.default(runs_table())
    top = disc.train_max
    C = top * np.array([1.0, 10.0, 10.0, 100.0, 0.1])   # inside, 1, 1, 2 decades, inside
    tpp = np.full(C.size, 30.0)                          # inside the tokens-per-param range
    dev = disc.deviation(C, n_draws=3000, rng=np.random.default_rng(0), tpp=tpp)
    assert dev.shape == (3000, 5)
    assert np.all(dev[:, 0] == 0) and np.all(dev[:, 4] == 0)     # nothing inside the data
    np.testing.assert_array_equal(dev[:, 1], dev[:, 2])          # same distance: identical
    np.testing.assert_allclose(dev[:, 3], 2 * dev[:, 1], rtol=1e-12)  # proportional
    assert np.std(dev[:, 1]) > 0
    # tokens per parameter outside the range adds its own deviation (independent sign)
    over = disc.deviation(C[:2], n_draws=3000, rng=np.random.default_rng(0), tpp=[3000.0] * 2)
    assert np.std(over[:, 0]) > 0                                # 1.5 decades over-trained
    assert np.std(over[:, 1]) > np.std(dev[:, 1])
    # heavier tails than normal: kurtosis of a scale mixture of Student-t deviations > 3
    x = dev[:, 1]
    assert np.mean(x**4) / np.mean(x**2) ** 2 > 4.0
    # the term as shipped before stays available: independent per point
    old = Discrepancy(np.full(100, 0.02), top, shared=False)
    d = old.deviation(C[1:3], rng=np.random.default_rng(0))
    assert not np.allclose(d[:, 0], d[:, 1])


def test_discrepancy_draws_keep_their_distribution_for_any_draw_count():
    disc = Discrepancy.default(runs_table())
    far = [disc.train_max * 10]
    q = {n: np.quantile(np.abs(disc.deviation(far, n, np.random.default_rng(n))[:, 0]), 0.9)
         for n in (400, 1000, 4000, 16000)}
    for n in (400, 1000, 4000):
        assert q[n] == pytest.approx(q[16000], rel=0.25), q


@pytest.mark.slow
def test_a_1000_and_a_4000_draw_fit_get_the_same_discrepancy_spread():
    """Real fits: the deviation predict adds (log of discrepancy-on over -off draws, no noise,
    same seed) has the same spread whatever the fit's number of draws."""
    runs = runs_table()
    kw = dict(tune=300, seed=3, progressbar=False, prior_draws=0, warn=False)
    small = bs.fit(runs, "chinchilla", draws=500, chains=2, **kw)      # 1,000 draws
    large = bs.fit(runs, "chinchilla", draws=1000, chains=4, **kw)     # 4,000 draws
    far = dict(N=[3e10], D=[6e11])                                     # ~3.5 decades beyond
    spread = {}
    for name, f in (("small", small), ("large", large)):
        on = f.predict(**far, seed=5).draws.values.reshape(-1)
        off = f.predict(**far, seed=5, discrepancy=False).draws.values.reshape(-1)
        dev = np.log(on) - np.log(off)
        spread[name] = np.quantile(np.abs(dev), [0.5, 0.9])
        assert dev.size == (1000 if name == "small" else 4000)
    np.testing.assert_allclose(spread["small"], spread["large"], rtol=0.2)


# --------------------------------------------------------------------------- predict default
def test_predict_uses_the_discrepancy_by_default(chinchilla_fit, chinchilla_runs):
    inside = chinchilla_runs.iloc[::20]
    kw = dict(N=inside["N"], D=inside["D"], noise=True, seed=1)
    a = chinchilla_fit.predict(**kw).table
    b = chinchilla_fit.predict(**kw, discrepancy=False).table
    pd.testing.assert_frame_equal(a, b)                # nothing changes inside the data
    assert (a["extrapolation"] == "inside").all() and (a["decades_C"] == 0).all()
    pt = dict(N=[7e10, 7e10], D=[1.4e12, 1.4e13], noise=True, seed=1)
    on = chinchilla_fit.predict(**pt).table
    off = chinchilla_fit.predict(**pt, discrepancy=False).table
    none = chinchilla_fit.predict(**pt, discrepancy=None).table
    pd.testing.assert_frame_equal(off, none)
    width = lambda t: (t["hi_95"] - t["lo_95"]).to_numpy()  # noqa: E731
    assert np.all(width(on) > 1.2 * width(off))
    assert width(on)[1] > width(on)[0]                 # farther out, wider
    # distance columns: decades of compute beyond the largest run, tokens per parameter
    c_max = chinchilla_fit.runs["C"].max()
    np.testing.assert_allclose(on["decades_C"], np.log10(6 * 7e10 * np.array([1.4e12, 1.4e13])
                                                         / c_max))
    np.testing.assert_allclose(on["tokens_per_param"], [20.0, 200.0])
    tpp = chinchilla_fit.runs["D"] / chinchilla_fit.runs["N"]
    assert on["decades_tpp"].iloc[0] == 0.0
    assert on["decades_tpp"].iloc[1] == pytest.approx(max(0.0, np.log10(200 / tpp.max())))
    assert (on["extrapolation"] == "beyond").all()
    # a learned (or any) Discrepancy is used as given
    mine = Discrepancy(np.full(100, 0.2), train_max=c_max)
    wide = chinchilla_fit.predict(**pt, discrepancy=mine).table
    assert np.all(width(wide) > width(on))
    with pytest.raises(ValueError, match="discrepancy must be True"):
        chinchilla_fit.predict(**pt, discrepancy="yes")


# --------------------------------------------------------------------------- learning
def test_own_residuals_update_the_prior():
    prior = Discrepancy.default(runs_table(), n_draws=16000)
    rng = np.random.default_rng(0)
    d = np.tile([0.3, 0.6, 1.0], 4)
    split = np.repeat(["a", "b", "c", "d"], 3)
    base = dict(split=split, scale=0.005, nu=np.inf, d_C=d, d_T=0.0)
    # each split misses by 8% of log loss per decade, in its own direction
    sign = np.repeat([1.0, -1.0, 1.0, -1.0], 3)
    big = pd.DataFrame(base | {"residual": sign * 0.08 * d + 0.005 * rng.standard_normal(12)})
    small = pd.DataFrame(base | {"residual": 0.005 * rng.standard_normal(12)})
    up = update_discrepancy(prior, big, n_draws=4000)
    down = update_discrepancy(prior, small, n_draws=4000)
    assert np.median(down.kappa) < np.median(prior.kappa) < np.median(up.kappa)
    assert 0.04 < np.median(up.kappa) < 0.16
    assert "updated by 12 held-out runs in 4 splits" in up.source
    assert up.train_max == prior.train_max and up.tpp_range == prior.tpp_range


@pytest.mark.slow
def test_hierarchical_prior_recovers_a_known_kappa():
    """Residuals simulated from the model (kappa_C = 0.03 per decade in every study, a shared
    Student-t deviation per split) give a population kappa near 0.03."""
    rng = np.random.default_rng(2)
    rows = []
    for s in range(4):
        for c in range(3):
            for j in range(6):
                n = 8
                d_c = rng.uniform(0.1, 1.5, n)
                d_t = np.where(rng.uniform(size=n) < 0.3, rng.uniform(0, 1, n), 0.0)
                t, u = rng.standard_t(20, 2)
                res = 0.03 * d_c * t + 0.05 * d_t * u + 0.004 * rng.standard_normal(n)
                rows.append(pd.DataFrame({"study": f"s{s}", "cell": f"c{c}",
                                          "split": f"s{s}c{c}j{j}", "residual": res,
                                          "scale": 0.004, "nu": np.inf, "d_C": d_c,
                                          "d_T": d_t}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior, _ = fit_discrepancy_prior(pd.concat(rows), draws=300, tune=300, chains=2)
    k = prior.new_study(4000)
    assert 0.015 < np.median(k["kappa"]) < 0.06
    assert 0.01 < np.median(k["kappa_tpp"]) < 0.15
    # no spread between cells, no mean miss in the truth
    assert np.median(prior.draws["omega_T"]) < 0.6
    assert np.all(prior.draws["omega_C"] == 0.0)  # kappa_C by study only beside a mean miss
    assert abs(np.median(prior.draws["bias_C"])) < 0.01


@pytest.mark.slow
def test_hierarchical_prior_learns_the_tail_weight():
    """The tail weight ``nu`` of the shared deviation is learned from the errors, not left at
    its prior (``nu - 2 ~ Gamma(2, 0.1)``, median 19): the same 120 splits with Student-t(3)
    deviations and with normal ones, both of scale kappa_C = 0.03 per decade, fitted in one
    test; the heavy-tailed ones give a nu well below the normal ones' and below the prior's
    median, and both the right scale."""
    rng = np.random.default_rng(5)
    d_c = rng.uniform(0.3, 2.0, (120, 4))
    heavy, normal = rng.standard_t(3, 120), rng.standard_normal(120)
    noise = 0.003 * rng.standard_normal((120, 4))

    def fit(dev):
        rows = [pd.DataFrame({"study": f"s{j // 60}", "cell": f"c{j // 30 % 2}",
                              "split": f"j{j}", "residual": 0.03 * d_c[j] * dev[j] + noise[j],
                              "scale": 0.003, "nu": np.inf, "d_C": d_c[j], "d_T": 0.0})
                for j in range(120)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_discrepancy_prior(pd.concat(rows), draws=300, tune=300, chains=2)[0]

    priors = {"heavy": fit(heavy), "normal": fit(normal)}
    nu = {k: float(np.median(p.draws["nu"])) for k, p in priors.items()}
    # measured on these draws (2026-12-05): 3.2 against 23.7.  On the draws of the test's
    # previous form (same design, t(3) deviations of sample kurtosis 1.0, maximum-likelihood nu
    # 6.3): 12.6-12.8 at seeds 0-2 against 22 [9, 46], hence bounds that hold for both.  Its old
    # bound (< 12 alone, "7.6") came from coordinates whose nu had a bulk ESS of 3
    print("median nu", nu)
    assert nu["heavy"] < 0.75 * nu["normal"] and nu["heavy"] < 16, nu
    for p in priors.values():
        assert 0.015 < np.median(p.new_study(4000)["kappa"]) < 0.06


@pytest.mark.slow
def test_hierarchical_prior_samples_a_law_term_collinear_with_distance():
    """On real splits the law's own uncertainty grows with the distance as the deviation does
    (within a split ``law_1`` and ``d_C`` correlate at |r| 0.9-0.99), so the two trade off
    along a narrow ridge per split.  Simulated so, with a known kappa_C = 0.03 per decade and
    the law's shared terms drawn from their N(0, 1) prior, the fit recovers kappa and mixes:
    R-hat of the population parameters below 1.05 at 2 x 300 draws."""
    import arviz as az

    rng = np.random.default_rng(3)
    rows = []
    for s in range(3):
        for c in range(2):
            for j in range(8):
                d_c = np.sort(rng.uniform(0.05, 1.8, 8))
                load = np.c_[rng.uniform(0.01, 0.02) * d_c * (1 + 0.1 * rng.standard_normal(8)),
                             0.003 * np.cos(2 * d_c)]
                res = 0.03 * d_c * rng.standard_t(20) + load @ rng.standard_normal(2) \
                    + 0.004 * rng.standard_normal(8)
                rows.append(pd.DataFrame({
                    "study": f"s{s}", "cell": f"c{c}", "split": f"s{s}c{c}j{j}",
                    "residual": res, "scale": np.sqrt(0.004**2 + (load**2).sum(axis=1)),
                    "nu": np.inf, "d_C": d_c, "d_T": 0.0, "law_1": load[:, 0],
                    "law_2": load[:, 1], "noise": 0.004}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior, tree = fit_discrepancy_prior(pd.concat(rows), draws=300, tune=300, chains=2,
                                            location=False)
    post = tree["posterior"].to_dataset()[["mu", "tau", "omega", "nu"]]
    rhat = az.rhat(post)
    assert max(float(np.max(np.asarray(rhat[v]))) for v in rhat.data_vars) < 1.05
    assert 0.015 < np.median(prior.new_study(4000)["kappa"]) < 0.06
