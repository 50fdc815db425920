"""One public way to get a fit's posterior draws (issue 16, item 2): ``ScalingFit.draws``.

``fit.draws(group=..., noise=..., discrepancy=...)`` is what prediction, the decisions, the
plots and the report read.  The three former ways (``bayescale.group_draws``,
``ScalingFit.params_for_group``, ``bayescale.decisions.decision_draws``) are deprecated
wrappers that warn and give the same arrays; the numbers below were computed by the code before
the change (same seeds), so they also pin that nothing moved.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_hierarchy import crossed_fake

import bayescale as bs
from bayescale.decisions import api


def same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


# Sums of each parameter's draws, from the code before this change (crossed_fake, seeds as
# in the tests): group_draws(fit, group, kind, seed=3), decision_draws(fit, group) and
# fit.params_for_group(group, default_rng(5)).
BEFORE = {
    ("a/x", "natural"): {"E": 180.00000000000009, "A": 426374198.5577173,
                         "gamma": 34.66506035734791},
    ("a/x", "sampled"): {"E": 180.00000000000009, "log_A0": 9.999999999999998,
                         "gamma": 34.66506035734791},
    ("new", "natural"): {"E": 180.00000000000009, "A": 4550441852608105.0,
                         "gamma": 26.116633269359628},
    ("new", "sampled"): {"E": 180.00000000000009, "log_A0": 9.999999999999998,
                         "gamma": 26.116633269359628},
    ("a/new", "natural"): {"E": 180.00000000000009, "A": 2.8454919972394316e+16,
                           "gamma": 31.18650172142361},
    ("a/new", "sampled"): {"E": 180.00000000000009, "log_A0": 9.999999999999998,
                           "gamma": 31.18650172142361},
}
BEFORE_DECISION = {
    "a/x": {"E": 180.00000000000009, "A": 426374198.5577173, "gamma": 34.66506035734791},
    "new": {"E": 180.00000000000009, "A": 2496467334199.4316, "gamma": 23.33704436661021},
    "a/new": {"E": 180.00000000000009, "A": 6.367624842137842e+23, "gamma": 29.85031521835306},
}
BEFORE_PARAMS = {
    "a/x": 34.66506035734791, "new": 22.610640334423724, "a/new": 30.315594729759603,
}
REQUEST = {"a/x": "a/x", "new": "new", "a/new": {"dataset": "a", "setup": "new"}}


@pytest.mark.parametrize("label", list(REQUEST))
@pytest.mark.parametrize("kind", ["natural", "sampled"])
def test_draws_of_a_group_are_the_numbers_of_before(label, kind):
    fit, _ = crossed_fake()
    group = REQUEST[label]
    new = fit.draws(group=group, kind=kind, seed=3)
    for name, total in BEFORE[(label, kind)].items():
        assert float(np.sum(new[name])) == pytest.approx(total, rel=1e-13), name
        assert new[name].shape == (100,)
    with pytest.warns(DeprecationWarning, match=r"use fit\.draws\(group=group"):
        old = bs.group_draws(fit, group, kind=kind, seed=3)
    same(new, old)


@pytest.mark.parametrize("label", list(REQUEST))
def test_decision_draws_and_params_for_group_are_thin_wrappers(label):
    fit, _ = crossed_fake()
    group = REQUEST[label]
    new = fit.draws(group=group, noise=True, rng=np.random.default_rng(0))
    for name, total in BEFORE_DECISION[label].items():
        assert float(np.sum(new[name])) == pytest.approx(total, rel=1e-13), name
    assert {"sigma", "nu"} <= set(new)
    with pytest.warns(DeprecationWarning, match=r"fit\.draws\(group=group, noise=True"):
        old = api.decision_draws(fit, group=group)
    same(new, old)
    rng_new, rng_old = np.random.default_rng(5), np.random.default_rng(5)
    sampled = fit.draws(kind="sampled", group=group, rng=rng_new)
    assert float(np.sum(sampled["gamma"])) == pytest.approx(BEFORE_PARAMS[label], rel=1e-13)
    with pytest.warns(DeprecationWarning, match="kind='sampled'"):
        params = fit.params_for_group(group, rng_old)
    same(sampled, params)


def test_draws_without_a_group(chinchilla_fit):
    """group=None: the posterior itself; noise adds sigma and nu; the draws know their law."""
    fit = chinchilla_fit
    post = fit.tree["posterior"]
    d = fit.draws(noise=True)
    # the Chinchilla runs hold two failed runs (fit.run_failures()): their chance and size
    assert fit.run_failures().k == 2
    fail = ["fail_p", "fail_size"]
    assert sorted(d) == sorted([*fit.law.natural, "sigma", "nu", *fail])
    for k, v in d.items():
        if k in fail:
            assert v.shape == d["sigma"].shape and np.all((v > 0) & (v < 1))
            continue
        np.testing.assert_array_equal(v, np.asarray(post[k]).reshape(-1))
    assert d.law is fit.law and d.flops_per_token == 6.0 and d.group is None
    assert d.deviation is None
    assert sorted(fit.draws()) == sorted(fit.law.natural)
    assert sorted(fit.draws(kind="noise")) == sorted(["nu", "sigma", *fail])
    same({k: v for k, v in fit.draws(kind="noise").items() if k in fail},
         {k: v for k, v in d.items() if k in fail})  # the same draws, every call
    same(fit.draws(group="all"), fit.draws())
    with pytest.warns(DeprecationWarning):
        same(api.decision_draws(fit), d)
    with pytest.raises(ValueError, match="has no groups"):
        fit.draws(group="g1")
    with pytest.raises(ValueError, match="kind must be"):
        fit.draws(kind="published")


def test_draws_with_the_discrepancy_decide_as_the_fit_does(chinchilla_fit):
    """The frozen discrepancy rides on the draws: a decision from them equals one from the fit
    (same seed), and discrepancy=False on the draws turns it off."""
    fit = chinchilla_fit
    budgets = [1e22, 5.76e23, 1e25]
    d = fit.draws(noise=True, discrepancy=True, seed=4)
    assert d.deviation is not None and d.deviation(5.76e23, 20.0).shape[0] == d["E"].size
    np.testing.assert_array_equal(bs.prob_target(d, 2.0, budgets=budgets),
                                  bs.prob_target(fit, 2.0, budgets=budgets, seed=4))
    np.testing.assert_array_equal(
        bs.prob_target(d, 2.0, budgets=budgets, discrepancy=False),
        bs.prob_target(fit, 2.0, budgets=budgets, discrepancy=False))
    assert bs.budget_for(d, 2.05, 0.8) == bs.budget_for(fit, 2.05, 0.8, seed=4)
    per_draw = bs.allocate(d, budgets, per_draw=True)
    table = bs.allocate(fit, budgets, seed=4)
    loss = table[table["quantity"] == "loss"]["median"].to_numpy()
    np.testing.assert_allclose(np.median(per_draw["loss"], axis=0), loss, rtol=1e-12)


# prob_target / budget_for of crossed_fake before the change (group, seed, discrepancy): the
# seed of the discrepancy and the new group's draws as they were (group effects with seed 0).
# The rows with the discrepancy on follow the shipped prior: re-recorded when it was rebuilt
# (2026-12-02: two models averaged, the law's own uncertainty counted once; v3 the same
# day: half-normal(0.5) spreads, kappa_C by study beside a mean miss, deviations bounded).
BEFORE_DECISIONS = {
    ("a/x", 0, True): ([7.801878670759473e-15, 0.9999959238685436, 0.9815165249174906],
                       1.9555737980504434e+20),
    ("a/x", 7, True): ([7.801878670759473e-15, 0.9999959238685436, 0.9796409811664821],
                       1.9555737980504434e+20),
    ("a/x", 7, False): ([7.801878670759473e-15, 0.9999959238685436, 0.9999999962233979],
                        1.955573796949611e+20),
    ("new", 0, True): ([8.860916608345223e-13, 0.4510994662120599, 0.8271030611738145],
                       3.088050405397254e+21),
    ("new", 7, True): ([8.860916608345223e-13, 0.4510994662120599, 0.7991215248423095],
                       2.3867179032385683e+21),
    ("new", 7, False): ([8.860916608345223e-13, 0.4510994662120599, 0.8491107316084106],
                        3.9338725411476283e+21),
}


@pytest.mark.parametrize("key", list(BEFORE_DECISIONS))
def test_decisions_of_a_hierarchy_are_the_numbers_of_before(key):
    group, seed, disc = key
    fit, _ = crossed_fake()
    p, budget = BEFORE_DECISIONS[key]
    got = bs.prob_target(fit, 2.2, budgets=[1e18, 1e21, 1e23], group=group, seed=seed,
                         discrepancy=disc)
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-16)
    got = bs.budget_for(fit, 2.2, 0.6, group=group, seed=seed, discrepancy=disc,
                        on_unreachable="inf")
    assert got == pytest.approx(budget, rel=1e-12)


def test_a_hierarchy_needs_a_group_for_one_curve_per_draw():
    fit, _ = crossed_fake()
    assert fit.draws()["gamma"].shape == (100, 5)  # every group on the last axis
    with pytest.raises(bs.decisions.DecisionError, match="pass group=<one of them>"):
        bs.prob_target(fit, 2.2, budgets=1e21)
    with pytest.raises(bs.decisions.DecisionError, match="group axis"):
        bs.prob_target(fit.draws(noise=True), 2.2, budgets=1e21, law=fit.law)
    with pytest.raises(ValueError, match="pass group="):
        fit.draws(discrepancy=True)
