"""Diagnostics give advice that fits the failure, never a setting already in use (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs
from bayescale.inference.diagnostics import Diagnostics, diagnose
from bayescale.inference.fit import _remedy
from tests.conftest import TEST_DRAWS, TRUTH, simulate_runs


def _tree(a: np.ndarray, diverging: int = 0):
    import arviz as az

    div = np.zeros(a.shape, bool)
    div.flat[:diverging] = True
    rng = np.random.default_rng(1)
    return az.from_dict({"posterior": {"alpha": a},
                         "sample_stats": {"diverging": div,
                                          "energy": rng.normal(size=a.shape)}})


def test_divergence_advice_respects_the_target_accept_in_use():
    a = np.random.default_rng(0).normal(size=(4, 500))
    low = diagnose(_tree(a, 3), ["alpha"], {"target_accept": 0.9, "draws": 500})
    assert "target_accept=0.99" in low.problems[0]
    high = diagnose(_tree(a, 3), ["alpha"], {"target_accept": 0.99, "draws": 500})
    assert "target_accept=0.99" not in high.problems[0]
    assert "already 0.99" in high.problems[0]


def test_chains_in_separate_modes_are_named():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 500)) * 0.01 + np.array([0.15, 0.15, 0.30, 0.30])[:, None]
    d = diagnose(_tree(a), ["alpha"], {"target_accept": 0.9, "draws": 500})
    assert any("different modes of 'alpha'" in p for p in d.problems), d.problems
    # and more draws are not offered as the remedy for two modes
    assert _remedy(d, 0.9, 500, 500) is None


def test_rhat_advice_doubles_the_draws_in_use():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(4, 300)), axis=1) * 0.05  # slow mixing, one mode
    d = diagnose(_tree(walk), ["alpha"], {"target_accept": 0.9, "draws": 300, "tune": 300})
    assert not d.ok
    assert "draws=600" in " ".join(d.problems)
    assert _remedy(d, 0.9, 300, 300) == {"draws": 600, "tune": 600}


def test_remedy_for_divergences_and_at_the_limit():
    bad = Diagnostics(4, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, ["4 divergent transitions"])
    assert _remedy(bad, 0.9, 1000, 1000) == {"target_accept": 0.99}
    assert _remedy(bad, 0.99, 1000, 1000) is None
    ok = Diagnostics(0, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, [])
    assert _remedy(ok, 0.9, 1000, 1000) is None


def test_old_saved_diagnostics_without_notes_still_load():
    d = Diagnostics(0, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, [])
    text = d.to_json().replace(', "notes": []', "")
    assert Diagnostics.from_json(text).notes == []


@pytest.mark.slow
def test_nu_at_its_bound_names_the_outlying_runs():
    """Real sampler: runs that diverged in training pull nu to 2; the note names those rows."""
    runs = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=2)
    bad = [3, 17, 29]
    runs.loc[bad, "loss"] *= np.array([1.6, 1.45, 1.7])  # diverged / unfinished runs
    fit = bs.fit(runs, "chinchilla", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=0,
                 progressbar=False, prior_draws=0, warn=False)
    nu = float(np.median(fit.draws(["nu"])["nu"]))
    assert nu > 2.0  # the bound holds: a new run's loss has a finite mean and variance
    notes = " ".join(fit.diagnostics.notes)
    assert "nu =" in notes, (nu, fit.diagnostics)
    for row in bad:
        assert f"row {row} " in notes, notes
    assert fit.diagnostics.divergences == 0
