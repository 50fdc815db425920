"""Diagnostics give advice that fits the failure, never a setting already in use (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.posterior.diagnostics import Diagnostics, diagnose
from bayescale.sampling.fit import RETRY_MAX_DRAWS, _mixing_remedy, _remedy
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
    r = _remedy(d, 0.9, 300, 300)
    assert r["draws"] >= 600 and r["tune"] == 600  # R-hat: longer warm-up too


def test_remedy_for_divergences_and_at_the_limit():
    bad = Diagnostics(4, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, ["4 divergent transitions"])
    assert _remedy(bad, 0.9, 1000, 1000) == {"target_accept": 0.99}
    assert _remedy(bad, 0.99, 1000, 1000) is None
    ok = Diagnostics(0, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, [])
    assert _remedy(ok, 0.9, 1000, 1000) is None


def test_a_retry_that_still_mixes_slowly_gets_the_draws_its_ess_asks_for_and_then_stops():
    # misfitting by learning rate (robustness benchmark): the non-centring retry at 2,000 draws
    # removed the divergences but left bulk ESS 363 < 400 and R-hat 1.017; 4,000 draws left
    # R-hat 1.013, 8,000 at target_accept 0.95 passed in four seeds
    slow = Diagnostics(0, 1.017, 363.0, 487.0, 0.9, 4, 2000, {}, ["effective sample size is low"])
    more = _mixing_remedy(slow, {"centered": ("E", "beta"), "draws": 2000}, 1000, 1000)
    assert more == {"draws": 8000, "tune": 2000, "target_accept": 0.95}
    # at most 8 times the retry's draws, however small the ESS (a short test fit: ESS 9 at 40)
    stuck = Diagnostics(0, 1.19, 9.0, 6.0, 0.9, 2, 40, {}, ["effective sample size is low"])
    assert _mixing_remedy(stuck, {"draws": 40}, 20, 50)["draws"] == 320
    # an ESS twice the minimum after doubling: doubling is enough
    near = Diagnostics(0, 1.012, 500.0, 600.0, 0.9, 4, 2000, {}, ["R-hat"])
    assert _mixing_remedy(near, {"draws": 2000}, 1000, 1000)["draws"] == 4000
    # a higher target_accept in use (the law's own 0.99, or the first retry's) is kept
    assert "target_accept" not in _mixing_remedy(slow, {"draws": 2000}, 1000, 1000, 0.99)
    assert "target_accept" not in _mixing_remedy(slow, {"target_accept": 0.99}, 1000, 1000)
    # never past RETRY_MAX_DRAWS, never for divergences or modes
    assert _mixing_remedy(slow, {"draws": RETRY_MAX_DRAWS}, 1000, 1000) is None
    assert _mixing_remedy(slow, {"draws": 4000}, 1000, 1000)["draws"] == RETRY_MAX_DRAWS
    div = Diagnostics(2, 1.009, 387.0, 487.0, 0.9, 4, 2000, {}, ["2 divergent transitions"])
    assert _mixing_remedy(div, {"draws": 2000}, 1000, 1000) is None
    modes = Diagnostics(0, 1.2, 30.0, 40.0, 0.9, 4, 2000, {"modes": "alpha"}, ["modes"])
    assert _mixing_remedy(modes, {"draws": 2000}, 1000, 1000) is None
    # after a target_accept retry (no draws changed) the draws grow from the fit's own
    assert _mixing_remedy(slow, {"target_accept": 0.99}, 1000, 1000) == {"draws": 4000,
                                                                            "tune": 1000}


def test_a_large_runs_table_retries_up_to_4000_draws_only():
    """The long mixing retry stores chains x draws x runs values per pointwise array: a
    5,000-run hierarchy stops at 4,000 draws (640 MB per array), not 8,000."""
    from bayescale.sampling.fit import RETRY_MAX_DRAWS_LARGE, retry_max_draws

    assert retry_max_draws(240, 4) == RETRY_MAX_DRAWS
    assert retry_max_draws(1024, 4) == RETRY_MAX_DRAWS  # porian's 15 set-ups
    assert retry_max_draws(5000, 4) == RETRY_MAX_DRAWS_LARGE
    slow = Diagnostics(0, 1.017, 363.0, 487.0, 0.9, 4, 2000, {}, ["effective sample size is low"])
    big = retry_max_draws(5000, 4)
    assert _mixing_remedy(slow, {"draws": 2000}, 1000, 1000, 0.9, big)["draws"] == 4000
    assert _mixing_remedy(slow, {"draws": 4000}, 1000, 1000, 0.9, big) is None
    assert _remedy(slow, 0.9, 4000, 4000, big) is None
    assert _remedy(slow, 0.9, 4000, 4000)["draws"] == 8000


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


def test_two_modes_get_a_run_that_would_separate_them():
    """Chains in two modes of E: the note names a run where the two curves' losses differ."""
    from types import SimpleNamespace

    import arviz as az

    from bayescale.laws import get_law
    from bayescale.modeling import default_spec
    from bayescale.sampling.fit import _mode_notes

    law = get_law("chinchilla")
    ref = {"N": 1e8, "D": 2e9}
    rng = np.random.default_rng(0)
    modes = [dict(E=1.9, A=400.0, alpha=0.34, B=1800.0, beta=0.28),
             dict(E=1.5, A=150.0, alpha=0.22, B=1800.0, beta=0.28)]
    post = {}
    for name in law.param_names:
        vals = [law.from_natural(m, ref)[name] for m in modes]
        chains = [vals[0], vals[0], vals[1], vals[1]]
        post[name] = np.stack([v + 1e-3 * rng.standard_normal(200) for v in chains])
    post["sigma"] = np.full((4, 200), 0.004)
    tree = az.from_dict({"posterior": post})
    runs = pd.DataFrame({"N": np.geomspace(1e7, 3e8, 8)})
    runs["D"] = 20 * runs["N"]
    fake = SimpleNamespace(diagnostics=SimpleNamespace(worst={"modes": "E"}), tree=tree,
                           law=law, spec=default_spec("chinchilla"), runs=runs, reference=ref,
                           meta={})
    (note,) = _mode_notes(fake)
    assert "two modes of 'E'" in note and "chains [2, 3] against [0, 1]" in note
    assert "would separate them" in note and "N = " in note and "C = " in note


def test_advice_after_the_retry_limit_never_offers_retry_again():
    """Once the automatic retry has run, the advice drops ``retry=True`` (it was in use); slow
    chains get 'more draws may pass', divergences 'the model or the runs need a change'."""
    from types import SimpleNamespace

    import pandas as pd

    from bayescale.modeling import default_spec
    from bayescale.sampling.fit import _limit_advice

    spec = default_spec("chinchilla").replace(groups=("lr",))
    table = pd.DataFrame({"lr": list("abcde") * 4})
    slow = SimpleNamespace(
        problems=["effective sample size is low (bulk 300, tail 280 for 'beta'; want 400): "
                  "interval ends are noisy. Increase draws (draws=8000, or retry=True)"],
        divergences=0, worst={"rhat": "E", "ess": "beta"})
    out = _limit_advice(slow, {"draws": 4000}, spec, table, {"draws": 4000})
    assert not any("retry=True" in p for p in out)
    assert "draws=8000 may pass" in out[-1] and "pool_scale" not in out[-1]
    diverging = SimpleNamespace(problems=["3 divergent transitions: ..."], divergences=3,
                                worst={"rhat": "alpha_tau", "ess": "alpha_tau"})
    out = _limit_advice(diverging, {"target_accept": 0.99}, spec, table, {"draws": 1000})
    assert "the model or the runs need a change" in out[-1]
    assert "may pass" not in out[-1]


@pytest.mark.slow
def test_a_hierarchy_of_three_groups_that_still_diverges_is_refitted_in_natural_coordinates():
    """Gadre et al.'s three pretraining sets under the all-pooled spec: the identified,
    centred fit diverges (a funnel where the sets agree) and so does its target_accept 0.99
    retry; the refit in natural coordinates, every group effect non-centred, passes at the
    defaults, and the record says what changed."""
    import json

    runs = bs.datasets.load("gadre_small")
    fit = bs.fit(runs, spec="chinchilla_pooled", groups=["dataset"], seed=0, progressbar=False,
                 prior_draws=0)
    assert fit.diagnostics.ok, fit.diagnostics
    settings = json.loads(fit.meta["settings"])
    first = settings["retried"]
    assert first["coordinates"] == "identified" and first["divergences"] > 0
    assert settings["coordinates"] == "natural" and fit.spec.centered == ()


@pytest.mark.slow
def test_a_hierarchy_of_eight_groups_diverging_where_e_tau_shrinks_passes_at_target_accept_099():
    """Eight simulated families at the defaults: the centred fit diverges where the offset's
    between-group scale shrinks; the retry's first step, the same coordinates at 0.99, passes
    (the order before, non-centring an exponent first, still diverged here after the whole
    ladder; benchmarks/retry_order.py), and nothing was non-centred."""
    import json

    from bayescale.data.synthetic import simulate_hierarchy

    runs = simulate_hierarchy(8, seed=5).runs
    fit = bs.fit(runs, "chinchilla", groups=["family"], seed=5, progressbar=False,
                 prior_draws=0, warn=False)
    assert fit.diagnostics.ok, fit.diagnostics
    settings = json.loads(fit.meta["settings"])
    assert settings["retried"]["divergences"] > 0 and settings["retried"]["target_accept"] < 0.99
    assert settings["target_accept"] == 0.99 and settings["draws"] == 1000
    assert set(fit.spec.centered) == {"E", "alpha", "beta"}


def _diag(divergences=0, rhat=1.0, ess=5000.0):
    from types import SimpleNamespace

    ok = divergences == 0 and rhat <= 1.01 and ess >= 400
    return SimpleNamespace(ok=ok, divergences=divergences, worst={}, chains=4, max_rhat=rhat,
                           min_ess_bulk=ess, min_ess_tail=ess, problems=["failed: x"])


def _scripted(diags):
    """A refit that returns the given diagnostics in turn and records what it was asked."""
    from types import SimpleNamespace

    asked, queue = [], list(diags)

    def refit(remedy):
        asked.append(remedy)
        return SimpleNamespace(diagnostics=queue.pop(0))

    return refit, asked


def test_the_retry_ladder_steps_in_order(monkeypatch):
    """The control flow of the retry (the statistics of each step are measured on real fits in
    benchmarks/robustness.py and the slow tests): what is asked after what."""
    from bayescale.modeling import default_spec
    from bayescale.sampling.fit import _retry_ladder

    kw = dict(target_accept=0.9, draws=1000, tune=1000, max_draws=8000)
    few = pd.DataFrame({"dataset": list("abc") * 10})
    spec = default_spec("chinchilla").replace(groups=("dataset",))
    # 2-4 groups, still diverging at 0.99 -> natural coordinates, non-centred
    refit, asked = _scripted([_diag(divergences=4), _diag()])
    _retry_ladder(_diag(divergences=40), refit, table=few, spec=spec, **kw)
    assert asked == [{"target_accept": 0.99}, {"coordinates": "natural", "centered": ()}]
    # ... and if the natural coordinates still diverge, they get the smaller step too
    refit, asked = _scripted([_diag(divergences=4), _diag(divergences=1), _diag()])
    _retry_ladder(_diag(divergences=40), refit, table=few, spec=spec, **kw)
    assert asked[1:] == [{"coordinates": "natural", "centered": ()},
                         {"coordinates": "natural", "centered": (), "target_accept": 0.99}]
    # 5+ groups: the same coordinates at 0.99 first; still diverging -> the weakly pinned
    # exponents non-centred, at 0.99 and twice the draws
    monkeypatch.setattr("bayescale.modeling.model.noncentring_remedy", lambda t, s: ("E",))
    many = pd.DataFrame({"dataset": list("abcdef") * 5})
    refit, asked = _scripted([_diag(divergences=1), _diag()])
    _retry_ladder(_diag(divergences=40), refit, table=many, spec=spec, **kw)
    assert asked == [{"target_accept": 0.99},
                     {"centered": ("E",), "draws": 2000, "target_accept": 0.99}]
    refit, asked = _scripted([_diag()])  # 0.99 was enough: nothing non-centred
    _retry_ladder(_diag(divergences=40), refit, table=many, spec=spec, **kw)
    assert asked == [{"target_accept": 0.99}]
    # mixing slowly -> twice the draws -> the draws the ESS asks for at 0.95 -> if those long
    # chains diverge, at 0.99
    refit, asked = _scripted([_diag(rhat=1.017, ess=363), _diag(divergences=1), _diag()])
    final, first, remedy = _retry_ladder(_diag(rhat=1.03, ess=200), refit, table=None,
                                         spec=default_spec("chinchilla"), **kw)
    assert asked[0] == {"draws": 2000, "tune": 2000}
    assert asked[1] == {"draws": 8000, "tune": 2000, "target_accept": 0.95}
    assert asked[2] == {**asked[1], "target_accept": 0.99} == remedy
    assert final.diagnostics.ok and first is not final
    # nothing to do: no refit
    refit, asked = _scripted([])
    assert _retry_ladder(_diag(), refit, table=None, spec=spec, **kw) is None and not asked


def test_outlier_note_offers_the_envelope_only_where_a_design_point_repeats():
    """Heavy-tailed runs pin the Student-t nu near 2 and the fit names the worst runs.  Fitting
    the best run per (N, D) is offered as a remedy only where some (N, D) holds several runs: a
    sweep already reduced to its envelope (one run per point, as ``--envelope`` leaves it) is
    not told to do it again."""
    import warnings

    runs = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=4, sigma=0.004)
    rng = np.random.default_rng(4)
    bad = rng.choice(len(runs), 6, replace=False)
    runs.loc[bad, "loss"] *= np.exp(rng.choice([-1.0, 1.0], 6) * rng.uniform(0.1, 0.3, 6))
    twice = pd.concat([runs, runs.assign(loss=runs["loss"] * np.exp(
        0.004 * rng.standard_normal(len(runs))))], ignore_index=True)
    notes = {}
    for name, table in (("one per point", runs), ("repeated", twice)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bs.fit(table, "chinchilla", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=3,
                         progressbar=False, prior_draws=0, retry=False)
        notes[name] = [n for n in fit.diagnostics.notes if "lower bound" in n]
        assert len(notes[name]) == 1, (name, fit.diagnostics.notes)
        assert any(f"row {b} " in notes[name][0] for b in bad), notes[name]  # names them
    assert "envelope" not in notes["one per point"][0]
    assert "drop them, or give the set-up column as groups=" in notes["one per point"][0]
    assert "bayescale.data.runs.envelope" in notes["repeated"][0]
