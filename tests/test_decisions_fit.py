"""Decisions taken from a real fit (bayescale.allocate ...): the Chinchilla posterior's answers.

The statistical claims run on the session's real NUTS fit of the bundled Chinchilla runs
(``chinchilla_fit`` in conftest.py); the degenerate-input tests cut that fit down to one draw.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs
from bayescale import decisions as bd
from bayescale.posterior.result import ScalingFit

# The numpy cores (and group_draws) are exercised here through their former names too:
# deprecated aliases, same numbers (tests/test_names.py and test_draws_api.py check the warnings).
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

#: Hoffmann et al. (2022) Approach 3 published parameters.
HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
GOPHER_BUDGET = 5.76e23


@pytest.fixture(scope="module")
def draws(chinchilla_fit):
    return chinchilla_fit.draws(noise=True)


@pytest.fixture(scope="module")
def one_draw_fit(chinchilla_fit):
    """The Chinchilla fit cut to its first draw (plumbing of degenerate posteriors)."""
    f = chinchilla_fit
    tree = f.tree.isel(chain=slice(0, 1), draw=slice(0, 1))
    return ScalingFit(tree, f.spec, f.runs, f.reference, f.diagnostics, f.meta)


def test_decision_draws_match_the_posterior(chinchilla_fit, draws):
    s = chinchilla_fit.diagnostics.chains * chinchilla_fit.diagnostics.draws
    # with the two failed runs' chance and size (ScalingFit.run_failures)
    assert sorted(draws) == sorted([*chinchilla_fit.law.natural, "sigma", "nu", "fail_p",
                                    "fail_size"])
    assert all(v.shape == (s,) for v in draws.values())
    np.testing.assert_array_equal(draws["alpha"], chinchilla_fit.draws()["alpha"])
    assert chinchilla_fit.flops_per_token == 6.0


def test_closed_form_and_numeric_optimiser_agree_on_fit_draws(draws):
    budgets = np.logspace(18, 26, 9)
    closed = bd.compute_optimal(draws, budgets, method="closed")
    numeric = bd.compute_optimal(draws, budgets, method="numeric")
    for key in ("N", "D", "loss", "tokens_per_param"):
        np.testing.assert_allclose(numeric[key], closed[key], rtol=1e-6, err_msg=key)


def test_allocations_monotone_in_budget(chinchilla_fit, draws):
    budgets = np.logspace(17, 27, 41)
    opt = bd.compute_optimal(draws, budgets)
    assert np.all(np.diff(opt["N"], axis=1) > 0)
    assert np.all(np.diff(opt["D"], axis=1) > 0)
    assert np.all(np.diff(opt["loss"], axis=1) < 0)
    # the law's posterior alone: the extrapolation discrepancy widens with every decade
    # beyond the runs (tests/test_discrepancy_decisions.py)
    table = bs.allocate(chinchilla_fit, budgets, ci=(0.95,), discrepancy=False)
    for q, sign in (("N", 1), ("D", 1), ("loss", -1)):
        rows = table[table["quantity"] == q]
        for col in ("median", "lo_95", "hi_95"):
            assert np.all(sign * np.diff(rows[col].to_numpy()) > 0), (q, col)
    p = bs.prob_target(chinchilla_fit, 2.0, budgets=budgets, discrepancy=False)
    assert np.all(np.diff(p) >= 0) and p[0] < 0.01 and p[-1] > 0.99


def test_exponent_a_consistent_with_besiroglu(draws):
    """Besiroglu et al. (2024): a = beta / (alpha + beta) = 0.513 (s.e. 0.020)."""
    a = bd.exponents(draws)["a"]
    lo, med, hi = np.quantile(a, [0.025, 0.5, 0.975])
    assert lo <= 0.513 <= hi, (lo, med, hi)
    assert abs(med - 0.513) < 2 * 0.020, med


def test_tokens_per_parameter_at_gopher_budget(chinchilla_fit):
    """95% interval of D*/N* at 5.76e23 FLOPs includes 20 and excludes Hoffmann's Approach 3.

    The ratio implied by the published Approach 3 parameters is computed here with the closed
    form (and checked against a brute-force grid), not hard-coded: it is 92.6, not the 59
    sometimes quoted.
    """
    tab = bs.allocate(chinchilla_fit, GOPHER_BUDGET, ci=(0.95,)).set_index("quantity")
    lo, hi = tab.loc["tokens_per_param", ["lo_95", "hi_95"]]
    hoffmann = float(bd.compute_optimal(HOFFMANN, GOPHER_BUDGET)["tokens_per_param"][0, 0])
    x = GOPHER_BUDGET / 6.0
    n = np.exp(np.linspace(np.log(1e9), np.log(1e12), 200_001))
    loss = HOFFMANN["E"] + HOFFMANN["A"] / n ** HOFFMANN["alpha"] + HOFFMANN["B"] / (
        x / n) ** HOFFMANN["beta"]
    brute = x / n[np.argmin(loss)] ** 2
    assert hoffmann == pytest.approx(brute, rel=1e-3)
    assert hoffmann == pytest.approx(92.6, abs=0.1)
    assert lo <= 20.0 <= hi, (lo, hi)
    assert not lo <= hoffmann <= hi, (lo, hi, hoffmann)


def test_fit_wrappers_equal_the_numpy_layer(chinchilla_fit, draws):
    plan = (70e9, 1.4e12)
    off = {"discrepancy": False}  # the numpy layer without deviation= is the law alone
    assert bs.prob_target(chinchilla_fit, 2.0, plan=plan, **off) == bd.prob_below(draws, 2.0,
                                                                                   plan=plan)
    assert bs.budget_for(chinchilla_fit, 2.0, 0.9, **off) == bd.budget_for_target(draws, 2.0,
                                                                                  0.9)
    np.testing.assert_array_equal(bs.plan_regret(chinchilla_fit, plan, **off).draws[
        "excess_loss"], bd.regret(draws, plan).draws["excess_loss"])
    ra = bs.risk_averse(chinchilla_fit, GOPHER_BUDGET, utility="cvar", **off)
    assert ra.N == bd.risk_averse_allocation(draws, GOPHER_BUDGET, utility="cvar").N
    ia = bs.inference_aware(chinchilla_fit, 2.0, 1e13)
    assert ia.n_unreachable == 0
    # serving 1e13 tokens pays for a smaller model trained on more data
    assert np.all(ia.draws["N"] < ia.draws["N_compute_optimal"])


def test_degenerate_one_draw(one_draw_fit):
    tab = bs.allocate(one_draw_fit, [1e20, 1e22], ci=(0.95,))
    np.testing.assert_allclose(tab["lo_95"], tab["median"])
    np.testing.assert_allclose(tab["hi_95"], tab["median"])
    # without noise a single draw's probability is exactly 0 or 1
    p = bs.prob_target(one_draw_fit, 2.2, budgets=[1e19, 1e23], noise=False, discrepancy=False)
    np.testing.assert_array_equal(p, [0.0, 1.0])
    assert bs.plan_regret(one_draw_fit, (1e9, 2e10)).draws["excess_loss"].shape == (1,)
    assert np.isfinite(bs.budget_for(one_draw_fit, 2.2, 0.9, discrepancy=False))


def test_degenerate_budget_below_smallest_run(chinchilla_fit):
    c_min = float(chinchilla_fit.runs["C"].min())
    opt = bs.allocate(chinchilla_fit, c_min / 1e3).set_index("quantity")
    assert np.all(np.isfinite(opt["median"]))
    assert opt.loc["N", "median"] < chinchilla_fit.runs["N"].min()
    d = bd.extrapolation(chinchilla_fit, [c_min / 1e3, c_min, 10 * chinchilla_fit.runs["C"].max()])
    np.testing.assert_allclose(d, [-3.0, 0.0, 1.0])


def test_degenerate_target_already_met_and_unreachable(chinchilla_fit):
    worst = float(chinchilla_fit.runs["loss"].max())
    c_min = float(chinchilla_fit.runs["C"].min())
    # every run already beats this target: any budget in the data's range reaches it
    assert bs.prob_target(chinchilla_fit, worst + 1.0, budgets=c_min) > 0.999
    assert bs.budget_for(chinchilla_fit, worst + 1.0, 0.9) < c_min
    with pytest.raises(bd.UnreachableTargetError, match="irreducible loss"):
        bs.budget_for(chinchilla_fit, 1.0, 0.9)
    assert bs.budget_for(chinchilla_fit, 1.0, 0.9, on_unreachable="inf") == np.inf


def test_clear_errors(chinchilla_fit):
    with pytest.raises(ValueError, match="has no groups"):
        bs.allocate(chinchilla_fit, 1e22, group="a")
    with pytest.raises(ValueError, match="ScalingFit"):
        bs.allocate("fit.nc", 1e22)
    with pytest.raises(ValueError, match=r"missing natural parameter\(s\) \['A'"):
        bs.allocate({"E": 1.0}, 1e22)  # a mapping is draws: they must have the law's parameters
    with pytest.raises(ValueError, match=r"budgets must be positive.*-1"):
        bs.allocate(chinchilla_fit, [1e22, -1.0])
    with pytest.raises(ValueError, match="exactly one of budget"):
        bs.prob_target(chinchilla_fit, 2.0)
