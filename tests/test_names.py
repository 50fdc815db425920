"""One public name per decision (issue 16, item 5), and the ``noise`` rule.

Each decision keeps one name (``allocate``, ``prob_target``, ``budget_for``, ``plan_regret``,
``risk_averse``, ``inference_aware``, ``allocate_capped``), which takes a fit or a mapping of
draws; the former numpy-core names are deprecated aliases that warn once per call, with a
``DeprecationWarning`` naming the kept name, and return the same numbers.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import decisions as bd

BUDGETS = [1e21, 5.76e23]
PLAN = (70e9, 1.4e12)


@pytest.fixture(scope="module")
def draws(chinchilla_fit):
    """200 draws of the Chinchilla fit, noise included, as a plain dict (law: chinchilla)."""
    d = chinchilla_fit.draws(noise=True)
    return {k: np.asarray(v)[:200].copy() for k, v in d.items()}


def old(name, *args, **kwargs):
    """Call the deprecated ``bd.<name>``: exactly one DeprecationWarning, naming its
    replacement, and the result."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = getattr(bd, name)(*args, **kwargs)
    dep = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(dep) == 1, [str(w.message) for w in dep]
    assert f"bayescale.decisions.{name} is deprecated" in str(dep[0].message)
    assert dep[0].filename == __file__  # attributed to the caller's line
    return out, str(dep[0].message)


def same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_compute_optimal_is_allocate_per_draw(draws):
    got, msg = old("compute_optimal", draws, BUDGETS)
    assert "allocate(" in msg and "per_draw=True" in msg
    same_arrays(got, bd.allocate(draws, BUDGETS, per_draw=True))
    got, _ = old("compute_optimal", draws, BUDGETS, method="numeric", flops_per_token=8.0)
    same_arrays(got, bd.allocate(draws, BUDGETS, method="numeric", flops_per_token=8.0,
                                 per_draw=True))


def test_allocation_table_is_allocate(draws):
    got, msg = old("allocation_table", draws, BUDGETS, ci=(0.9,))
    assert "bayescale.decisions.allocate(" in msg
    pd.testing.assert_frame_equal(got, bd.allocate(draws, BUDGETS, ci=(0.9,)))


def test_prob_below_is_prob_target(draws):
    got, msg = old("prob_below", draws, 2.0, budget=BUDGETS)
    assert "prob_target(" in msg
    np.testing.assert_array_equal(got, bd.prob_target(draws, 2.0, budgets=BUDGETS))
    got, _ = old("prob_below", draws, 2.0, plan=PLAN, noise=False)
    assert got == bd.prob_target(draws, 2.0, plan=PLAN, noise=False)


def test_budget_for_target_is_budget_for(draws):
    got, msg = old("budget_for_target", draws, 2.05, 0.8)
    assert "budget_for(" in msg
    assert got == bd.budget_for(draws, 2.05, 0.8)


def test_regret_is_plan_regret(draws):
    got, msg = old("regret", draws, PLAN)
    assert "plan_regret(" in msg
    new = bd.plan_regret(draws, PLAN)
    same_arrays(got.draws, new.draws)
    pd.testing.assert_frame_equal(got.summary, new.summary)


def test_risk_averse_allocation_is_risk_averse(draws):
    got, msg = old("risk_averse_allocation", draws, 5.76e23, utility="cvar", noise=True,
                   rng=3)
    assert "risk_averse(" in msg
    new = bd.risk_averse(draws, 5.76e23, utility="cvar", noise=True, seed=3)
    assert (got.N, got.D, got.objective) == (new.N, new.D, new.objective)
    np.testing.assert_array_equal(got.losses, new.losses)


def test_inference_aware_allocation_is_inference_aware(draws):
    got, msg = old("inference_aware_allocation", draws, 2.0, 1e13)
    assert "inference_aware(" in msg
    new = bd.inference_aware(draws, 2.0, 1e13)
    same_arrays(got.draws, new.draws)


def test_capped_optimal_is_allocate_capped():
    c4 = dict(E=1.869, A=520.8, B=1487.7, alpha=0.3527, beta=0.3527, R_D_star=15.39,
              R_N_star=5.31)
    got, msg = old("capped_optimal", c4, [1e21, 1e22], 2e10)
    assert "allocate_capped(" in msg
    new = bd.allocate_capped(c4, [1e21, 1e22], 2e10).draws
    same_arrays(got, {k: new[k] for k in got})


def test_fit_level_aliases(chinchilla_fit):
    fit = chinchilla_fit
    got, msg = old("fit_flops_per_token", fit)
    assert "fit.flops_per_token" in msg and got == fit.flops_per_token == 6.0
    got, msg = old("decision_draws", fit)
    assert "fit.draws(group=group, noise=True" in msg
    same_arrays(got, fit.draws(noise=True))


def test_a_fit_and_its_draws_give_the_same_decision(chinchilla_fit):
    """The kept names take either; with the discrepancy off they agree exactly."""
    fit = chinchilla_fit
    d = fit.draws(noise=True)
    np.testing.assert_array_equal(bd.prob_target(d, 2.0, budgets=BUDGETS),
                                  bd.prob_target(fit, 2.0, budgets=BUDGETS, discrepancy=False))
    table = bd.allocate(fit, BUDGETS, discrepancy=False)
    np.testing.assert_array_equal(bd.allocate(d, BUDGETS)["median"], table["median"])
    with pytest.raises(bd.DecisionError, match="ScalingFit"):
        bd.allocate("fit.nc", BUDGETS)
    with pytest.raises(bd.DecisionError, match="law= is for a mapping"):
        bd.allocate(fit, BUDGETS, law="kaplan")
    with pytest.raises(bd.DecisionError, match="group="):
        bd.allocate(d, BUDGETS, group="g1")


def test_the_package_exports_one_name_per_decision():
    kept = ["allocate", "prob_target", "budget_for", "plan_regret", "risk_averse",
            "inference_aware", "allocate_capped", "next_runs"]
    for name in kept:
        assert getattr(bs, name) is getattr(bd, name)
    for name in ("compute_optimal", "prob_below", "budget_for_target", "regret",
                 "risk_averse_allocation", "inference_aware_allocation", "capped_optimal",
                 "allocation_table", "decision_draws", "fit_flops_per_token"):
        assert name not in bs.__all__
        assert (getattr(bd, name).__doc__ or "").lstrip().startswith("Deprecated")


# ------------------------------------------------------------------------ the noise rule
NOISE_DEFAULTS = {  # a question about a training run: True; about the law: False
    bd.prob_target: True,
    bd.budget_for: True,
    bd.loss_draws: True,
    bd.risk_averse: False,
    bd.api.predict_optimal: False,
    bs.ScalingFit.predict: False,
}


@pytest.mark.parametrize("func", list(NOISE_DEFAULTS), ids=lambda f: f.__qualname__)
def test_noise_defaults_follow_the_rule_and_say_so(func):
    assert inspect.signature(func).parameters["noise"].default is NOISE_DEFAULTS[func]
    doc = " ".join((func.__doc__ or "").split())
    block = doc[doc.index("noise :"):]
    block = block[:block.index(" : ", len("noise :"))] if " : " in block[8:] else block
    assert "run" in block and "law" in block, block
