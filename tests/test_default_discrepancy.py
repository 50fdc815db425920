"""The default discrepancy of a fit: the empirical prior updated by the fit's own runs.

Real fits (small draws): the inner leave-future-out fits run once per fit, the result is the
same object every prediction, decision and saved file uses, and where the runs allow no inner
split the prior alone is used with a note that says what to pass instead.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs


@pytest.fixture(scope="module")
def small_fit(chinchilla_runs):
    return bs.fit(chinchilla_runs, "chinchilla", draws=200, tune=200, chains=2, seed=3,
                  progressbar=False)


def _width95(fit, discrepancy):
    t = fit.predict(N=7e10, D=1.4e12, noise=True, ci=(0.95,), discrepancy=discrepancy).table
    return float(t["hi_95"].iloc[0] - t["lo_95"].iloc[0])


def test_the_default_is_the_prior_updated_by_the_runs_own_splits(small_fit):
    """True means the fit's own discrepancy: learned once from two inner splits of its runs,
    narrower than the prior alone at the Gopher run (the Chinchilla law extrapolates well
    within its runs) and wider than the law's own posterior."""
    disc = small_fit.default_discrepancy()
    assert disc.source.startswith("empirical prior updated by")
    assert disc.residuals["split"].nunique() == 2 and not disc.note
    assert small_fit.default_discrepancy() is disc  # learned once, kept on the fit
    default, prior, off = (_width95(small_fit, d) for d in (True, "prior", False))
    assert default == _width95(small_fit, disc)
    assert off < default < 0.8 * prior
    # the decisions use the same draws
    p = bs.prob_target(small_fit, 2.0, budgets=5.76e23, seed=0)
    assert p == bs.prob_target(small_fit, 2.0, budgets=5.76e23, seed=0, discrepancy=disc)


def test_saved_fits_keep_the_learned_discrepancy(small_fit, tmp_path, monkeypatch):
    """The saved file carries the learned draws: the reloaded fit predicts the same without
    refitting the inner splits."""
    small_fit.default_discrepancy()
    path = small_fit.save(tmp_path / "fit.nc")
    import bayescale.evaluation.discrepancy as ev

    def no_refit(*args, **kwargs):
        raise AssertionError("the reloaded fit refitted its inner splits")

    monkeypatch.setattr(ev, "learn_discrepancy", no_refit)
    back = bs.load_fit(path)
    a, b = small_fit.default_discrepancy(), back.default_discrepancy()
    for name in ("kappa", "kappa_tpp", "nu", "bias"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert (a.source, a.train_max, a.tpp_range) == (b.source, b.train_max, b.tpp_range)
    assert a.residuals.equals(b.residuals)
    assert _width95(back, True) == _width95(small_fit, True)


def test_runs_too_few_to_split_use_the_prior_alone_and_say_what_to_pass(chinchilla_runs):
    """A 16-run sweep leaves no inner split with the default min_train (17 for the Chinchilla
    law): the prior alone is used, its note names min_train=, and the report says so."""
    runs = chinchilla_runs.sort_values("C").iloc[::15].reset_index(drop=True)
    assert len(runs) == 16
    fit = bs.fit(runs, "chinchilla", draws=150, tune=150, chains=2, seed=0, progressbar=False,
                 retry=False, warn=False)
    disc = fit.default_discrepancy()
    assert disc.source == "empirical prior"
    assert "min_train=" in disc.note and "min_train=" in str(disc)
    assert _width95(fit, True) == _width95(fit, "prior")
    from bayescale.report.risk import build_report

    html = build_report(fit, budgets=[5.76e23], loo=False, dpi=30).to_html()
    assert "too few, or span too little compute" in html


def test_an_unknown_discrepancy_names_the_choices(chinchilla_fit):
    with pytest.raises(ValueError, match="'prior' \\(the empirical prior alone\\)"):
        chinchilla_fit.predict(N=7e10, D=1.4e12, discrepancy="learned")
