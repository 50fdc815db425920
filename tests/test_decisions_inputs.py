"""Degenerate inputs and error messages of bayescale.decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale import decisions as bd
from bayescale.errors import BayescaleError

# The numpy cores are exercised here through their former names too: deprecated aliases of
# the one public name per decision, same numbers (tests/test_names.py checks that they warn).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def draws_of(s: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(0.02 * rng.standard_normal(s)) for k, v in HOFFMANN.items()}


def test_single_draw_works_everywhere():
    one = {k: np.array([v]) for k, v in HOFFMANN.items()}
    scalar = dict(HOFFMANN)  # 0-d values count as one draw
    for d in (one, scalar):
        opt = bd.compute_optimal(d, [1e21, 1e23])
        assert opt["N"].shape == (1, 2)
        assert bd.allocation_table(d, 1e22).shape[0] == 4
        assert bd.exponents(d)["a"].shape == (1,)
        assert bd.loss_draws(d, 1e9, 1e11, noise=False).shape == (1,)
        assert bd.prob_below(d, 2.0, budget=1e23) in (0.0, 1.0)
        assert np.isfinite(bd.budget_for_target(d, 2.0, 0.9))
        assert bd.regret(d, (1e9, 1e11)).draws["excess_loss"].shape == (1,)
        ra = bd.risk_averse_allocation(d, 1e22, utility="cvar")
        np.testing.assert_allclose(ra.N, opt["N"][0, 0] * (1e22 / 1e21) ** (0.28 / 0.62),
                                   rtol=1e-6)
        assert bd.inference_aware_allocation(d, 2.0, 1e12).n_unreachable == 0
        assert bd.cvar(bd.loss_draws(d, 1e9, 1e11, noise=False), 0.9) > 0


def test_tiny_budgets_still_compute():
    d = draws_of(20)
    for method in ("closed", "numeric"):
        opt = bd.compute_optimal(d, [1e-3, 1.0, 10.0], method=method)
        assert np.all(np.isfinite(opt["N"])) and np.all(np.isfinite(opt["loss"]))
        np.testing.assert_allclose(opt["N"] * opt["D"] * 6.0,
                                   np.broadcast_to([1e-3, 1.0, 10.0], (20, 3)), rtol=1e-9)
    closed = bd.compute_optimal(d, [1e-3, 1e40])
    numeric = bd.compute_optimal(d, [1e-3, 1e40], method="numeric")
    np.testing.assert_allclose(numeric["N"], closed["N"], rtol=1e-5)
    assert bd.prob_below(d, 2.0, budget=1.0) == 0.0


def test_bad_budgets_and_targets_name_the_argument():
    d = draws_of(5)
    with pytest.raises(ValueError, match=r"budgets must be positive.*-1e\+20.*index 1"):
        bd.compute_optimal(d, [1e20, -1e20])
    with pytest.raises(ValueError, match="budgets must be positive.*0.0"):
        bd.compute_optimal(d, 0.0)
    with pytest.raises(ValueError, match="budgets must be positive.*nan"):
        bd.compute_optimal(d, np.nan)
    with pytest.raises(ValueError, match="budgets is empty"):
        bd.compute_optimal(d, [])
    with pytest.raises(ValueError, match="budget must be positive"):
        bd.prob_below(d, 2.0, budget=-5)
    with pytest.raises(ValueError, match=r"target must be positive.*-1\.0"):
        bd.prob_below(d, -1.0, budget=1e22)
    with pytest.raises(ValueError, match=r"target must be positive.*0\.0"):
        bd.budget_for_target(d, 0.0)
    with pytest.raises(ValueError, match="target_loss must be positive"):
        bd.inference_aware_allocation(d, 0.0, 1e12)
    with pytest.raises(ValueError, match="inference_tokens must be >= 0"):
        bd.inference_aware_allocation(d, 2.0, -1.0)
    with pytest.raises(ValueError, match=r"prob must be in \(0, 1\]; got 1.5"):
        bd.budget_for_target(d, 2.0, 1.5)
    with pytest.raises(ValueError, match="prob must be in"):
        bd.budget_for_target(d, 2.0, 0.0)
    with pytest.raises(ValueError, match="bracket must be"):
        bd.budget_for_target(d, 2.0, bracket=(1e30, 1e20))
    with pytest.raises(ValueError, match="flops_per_token must be a positive number"):
        bd.compute_optimal(d, 1e20, flops_per_token=0)
    with pytest.raises(ValueError, match="method must be"):
        bd.compute_optimal(d, 1e20, method="brent")
    with pytest.raises(ValueError, match="exactly one of budget"):
        bd.prob_below(d, 2.0)
    with pytest.raises(ValueError, match="exactly one of budget"):
        bd.prob_below(d, 2.0, budget=1e20, plan=(1e9, 1e11))
    with pytest.raises(ValueError, match="plan must be a pair"):
        bd.regret(d, 1e9)
    with pytest.raises(ValueError, match=r"plan N must be positive"):
        bd.regret(d, (-1e9, 1e11))
    with pytest.raises(ValueError, match="utility must be"):
        bd.risk_averse_allocation(d, 1e22, utility="median")
    with pytest.raises(ValueError, match="ci levels"):
        bd.allocation_table(d, 1e22, ci=(0.95, 95))
    with pytest.raises(ValueError, match="unknown law 'chinchila'.*Did you mean 'chinchilla'"):
        bd.compute_optimal(d, 1e22, law="chinchila")


def test_bad_draws_are_explained():
    with pytest.raises(ValueError, match=r"missing natural parameter\(s\) \['beta'\].*'E', 'A', "
                                         r"'B', 'alpha', 'beta'"):
        bd.compute_optimal({k: v for k, v in HOFFMANN.items() if k != "beta"}, 1e22)
    sampled = dict(E=1.69, log_A0=-1.0, log_B0=-1.0, alpha=0.34, beta=0.28)
    with pytest.raises(ValueError, match="law.to_natural"):
        bd.compute_optimal(sampled, 1e22)
    bad = draws_of(10)
    bad["A"] = bad["A"][:9]
    with pytest.raises(ValueError, match=r"mismatched shapes.*A \(9,\)"):
        bd.compute_optimal(bad, 1e22)
    nan = draws_of(10)
    nan["alpha"][3] = np.nan
    with pytest.raises(ValueError, match=r"draws\['alpha'\] has 1 non-finite.*draw 3"):
        bd.prob_below(nan, 2.0, budget=1e22)
    neg = draws_of(10)
    neg["beta"][4] = -0.1
    with pytest.raises(ValueError, match=r"draws\['beta'\] must be positive.*draw 4"):
        bd.compute_optimal(neg, 1e22)
    with pytest.raises(ValueError, match="0 posterior draws"):
        bd.compute_optimal({k: [] for k in HOFFMANN}, 1e22)
    with pytest.raises(ValueError, match="must be a mapping"):
        bd.compute_optimal([1.69, 406.4], 1e22)
    with pytest.raises(ValueError, match="sigma has 3 values but the draws have 10"):
        bd.loss_draws(draws_of(10), 1e9, 1e11, sigma=[0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="sigma must be non-negative"):
        bd.loss_draws(draws_of(10), 1e9, 1e11, sigma=-0.1)
    with pytest.raises(ValueError, match="needs input D"):
        bd.loss_draws(draws_of(10), 1e9)
    with pytest.raises(ValueError, match="does not take C"):
        bd.loss_draws(draws_of(10), 1e9, 1e11, C=1e21)
    with pytest.raises(ValueError, match="rng must be"):
        bd.loss_draws(dict(draws_of(10), sigma=0.1), 1e9, 1e11, rng="seed")
    # errors are bayescale errors too
    with pytest.raises(BayescaleError):
        bd.compute_optimal(draws_of(3), -1.0)


def test_draw_containers():
    d = draws_of(12)
    frame = pd.DataFrame(d)
    np.testing.assert_allclose(bd.compute_optimal(frame, 1e22)["N"],
                               bd.compute_optimal(d, 1e22)["N"])
    # 2-D draws are ambiguous ((chain, draw) or per-group (S, G)) and refused
    chains = {k: v.reshape(3, 4) for k, v in d.items()}
    with pytest.raises(ValueError, match=r"1-D arrays of shape \(S,\).*pick one group"):
        bd.compute_optimal(chains, 1e22)
    extra = dict(d, sigma=np.full(12, 0.01), lp=np.zeros(12))
    assert bd.compute_optimal(extra, 1e22)["N"].shape == (12, 1)


def test_noise_without_sigma_is_deterministic():
    d = draws_of(8)
    a = bd.loss_draws(d, 1e9, 1e11)
    b = bd.loss_draws(d, 1e9, 1e11, noise=False)
    np.testing.assert_array_equal(a, b)
    with_sigma = dict(d, sigma=0.05)
    assert not np.allclose(bd.loss_draws(with_sigma, 1e9, 1e11, rng=0), b)
    np.testing.assert_array_equal(bd.loss_draws(with_sigma, 1e9, 1e11, noise=False), b)


def test_large_batch_4000_draws_by_200_budgets():
    """Chunked evaluation of a full posterior over many budgets agrees with the closed form.

    Timing lives in benchmarks/decisions_bench.py, not here.
    """
    d = draws_of(4000, seed=9)
    budgets = np.logspace(18, 26, 200)
    closed = bd.compute_optimal(d, budgets)
    numeric = bd.compute_optimal(d, budgets, method="numeric")
    np.testing.assert_allclose(numeric["N"], closed["N"], rtol=1e-5)


def test_flop_function_everywhere_and_infeasible_region():
    d = draws_of(30, seed=2)

    def linear(n, dd):
        return 6.0 * n * dd

    plan = (2e9, 4e10)
    np.testing.assert_allclose(bd.regret(d, plan, flops=linear).draws["deadweight_compute"],
                               bd.regret(d, plan).draws["deadweight_compute"], rtol=1e-6)
    np.testing.assert_allclose(bd.risk_averse_allocation(d, 1e22, flops=linear).N,
                               bd.risk_averse_allocation(d, 1e22).N, rtol=1e-6)
    np.testing.assert_allclose(bd.budget_for_target(d, 2.2, 0.5, flops=linear),
                               bd.budget_for_target(d, 2.2, 0.5), rtol=1e-7)

    def embedding_heavy(n, dd):  # a per-parameter overhead: large N is infeasible at small C
        return 6.0 * n * dd + 1e6 * n

    opt = bd.compute_optimal(d, [1e15, 1e20], flops=embedding_heavy)
    assert np.all(np.isfinite(opt["loss"]))
    np.testing.assert_allclose(embedding_heavy(opt["N"], opt["D"]),
                               np.broadcast_to([1e15, 1e20], (30, 2)), rtol=1e-9)
    with pytest.raises(ValueError, match="flops must be a callable"):
        bd.compute_optimal(d, 1e20, flops=6.0)
    with pytest.raises(ValueError, match="could not be solved"):
        bd.compute_optimal(d, 1e20, flops=lambda n, dd: np.minimum(6.0 * n * dd, 1e10))
