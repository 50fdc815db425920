"""Tests of the numpy decision layer (bayescale.decisions): deterministic maths on draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bayescale import decisions as bd
from bayescale.laws import get_law

# The numpy cores are exercised here through their former names too: deprecated aliases of
# the one public name per decision, same numbers (tests/test_names.py checks that they warn).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)  # Approach 3
BESIROGLU = dict(E=1.817, A=482.0, B=2085.0, alpha=0.348, beta=0.366)
KAPLAN = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.095)


def jittered(base: dict, s: int, seed: int = 0, scale: float = 0.02) -> dict:
    """Draws around published values: multiplicative jitter of relative size ``scale``."""
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(scale * rng.standard_normal(s)) for k, v in base.items()}


def chinchilla_loss(d: dict, n, dd):
    return d["E"] + d["A"] / n ** d["alpha"] + d["B"] / dd ** d["beta"]


def brute_optimum(d: dict, c: float, k: float = 6.0, n_grid: int = 400_001):
    """Direct grid minimisation of the Chinchilla loss on the budget line (scalar params)."""
    x = c / k
    u = np.linspace(0.0, np.log(x), n_grid)
    n = np.exp(u)
    loss = chinchilla_loss(d, n, x / n)
    i = int(np.argmin(loss))
    # refine once on a finer local grid
    u2 = np.linspace(u[max(i - 1, 0)], u[min(i + 1, n_grid - 1)], n_grid)
    loss2 = chinchilla_loss(d, np.exp(u2), x / np.exp(u2))
    j = int(np.argmin(loss2))
    return np.exp(u2[j]), x / np.exp(u2[j]), loss2[j]


@pytest.fixture(scope="module")
def draws():
    return jittered(BESIROGLU, 300, seed=1)


# --------------------------------------------------------------------------- allocation
def test_closed_form_matches_numeric_optimiser(draws):
    budgets = np.logspace(17, 27, 25)
    closed = bd.compute_optimal(draws, budgets, method="closed")
    numeric = bd.compute_optimal(draws, budgets, method="numeric")
    for key in ("N", "D", "loss", "tokens_per_param"):
        assert closed[key].shape == (300, 25)
        np.testing.assert_allclose(numeric[key], closed[key], rtol=1e-5, err_msg=key)
    # the numeric optimiser is in fact far tighter than the required 1e-5
    np.testing.assert_allclose(numeric["N"], closed["N"], rtol=1e-7)
    np.testing.assert_allclose(closed["N"] * closed["D"] * 6.0, np.broadcast_to(budgets, (300, 25)),
                               rtol=1e-12)


def test_closed_form_matches_numeric_for_kaplan():
    d = jittered(KAPLAN, 50, seed=2)
    budgets = np.logspace(15, 25, 7)
    closed = bd.compute_optimal(d, budgets, law="kaplan", method="closed")
    numeric = bd.compute_optimal(d, budgets, law="kaplan", method="numeric")
    np.testing.assert_allclose(numeric["N"], closed["N"], rtol=1e-6)
    np.testing.assert_allclose(numeric["loss"], closed["loss"], rtol=1e-12)


def test_hoffmann_tokens_per_parameter_against_brute_force():
    c = 5.76e23
    opt = bd.compute_optimal({k: [v] for k, v in HOFFMANN.items()}, c)
    n_bf, d_bf, l_bf = brute_optimum(HOFFMANN, c)
    ratio = opt["tokens_per_param"][0, 0]
    np.testing.assert_allclose(ratio, d_bf / n_bf, rtol=1e-5)
    np.testing.assert_allclose(opt["N"][0, 0], n_bf, rtol=1e-5)
    np.testing.assert_allclose(opt["loss"][0, 0], l_bf, rtol=1e-12)
    # Approach-3 parameters imply ~92.6 tokens per parameter at Chinchilla's budget (not ~20,
    # the paper's Approach 1/2 answer, and not 59): N* = 3.22e10, D* = 2.98e12.
    assert 92.0 < ratio < 93.5
    numeric = bd.compute_optimal({k: [v] for k, v in HOFFMANN.items()}, c, method="numeric")
    np.testing.assert_allclose(numeric["tokens_per_param"][0, 0], d_bf / n_bf, rtol=1e-5)


def test_exponents_and_scaling(draws):
    ex = bd.exponents(draws)
    np.testing.assert_allclose(ex["a"] + ex["b"], 1.0)
    opt = bd.compute_optimal(draws, [1e20, 1e24])
    slope_n = np.log(opt["N"][:, 1] / opt["N"][:, 0]) / np.log(1e4)
    slope_d = np.log(opt["D"][:, 1] / opt["D"][:, 0]) / np.log(1e4)
    np.testing.assert_allclose(slope_n, ex["a"], rtol=1e-10)
    np.testing.assert_allclose(slope_d, ex["b"], rtol=1e-10)
    red = opt["loss"] - draws["E"][:, None]
    np.testing.assert_allclose(np.log(red[:, 0] / red[:, 1]) / np.log(1e4), ex["gamma"],
                               rtol=1e-8)
    kap = bd.exponents(KAPLAN, law="kaplan")
    np.testing.assert_allclose(kap["a"], 0.095 / (0.076 + 0.095))


@pytest.mark.parametrize("method", ["closed", "numeric"])
def test_allocation_monotone_in_budget(draws, method):
    budgets = np.logspace(15, 30, 40)
    opt = bd.compute_optimal(draws, budgets, method=method)
    assert np.all(np.diff(opt["N"], axis=1) > 0)
    assert np.all(np.diff(opt["D"], axis=1) > 0)
    assert np.all(np.diff(opt["loss"], axis=1) < 0)
    assert np.all(opt["loss"] > draws["E"][:, None])


def test_user_flop_function():
    d = jittered(HOFFMANN, 20, seed=3)
    budgets = [1e21, 1e23]
    linear = bd.compute_optimal(d, budgets, flops=lambda n, dd: 6.0 * n * dd)
    closed = bd.compute_optimal(d, budgets)
    np.testing.assert_allclose(linear["N"], closed["N"], rtol=1e-6)

    def flops(n, dd):  # 6ND plus an attention-like term that grows with model width
        return 6.0 * n * dd + 12.0 * 48 * 2048 * n ** 0.5 * dd

    opt = bd.compute_optimal(d, budgets, flops=flops)
    np.testing.assert_allclose(flops(opt["N"], opt["D"]), np.broadcast_to(budgets, (20, 2)),
                               rtol=1e-9)
    # optimal along that budget line: nudging N either way (and re-solving D) is worse
    for f in (0.98, 1.02):
        n2 = opt["N"] * f
        d2 = np.array(opt["D"])
        for _ in range(100):  # fixed-point solve flops(n2, d2) = C (linear in D)
            d2 = d2 * np.broadcast_to(budgets, (20, 2)) / flops(n2, d2)
        assert np.all(chinchilla_loss({k: v[:, None] for k, v in d.items()}, n2, d2)
                      > opt["loss"])
    with pytest.raises(ValueError, match="method='closed'"):
        bd.compute_optimal(d, budgets, flops=flops, method="closed")


def test_allocation_table_is_tidy(draws):
    tab = bd.allocation_table(draws, [1e21, 1e22, 1e23])
    assert isinstance(tab, pd.DataFrame)
    assert list(tab.columns) == ["budget", "quantity", "mean", "median", "lo_50", "hi_50",
                                 "lo_80", "hi_80", "lo_95", "hi_95"]
    assert len(tab) == 3 * 4
    assert list(tab["quantity"][:4]) == ["N", "D", "loss", "tokens_per_param"]
    assert np.all(tab["lo_95"] <= tab["lo_80"]) and np.all(tab["lo_80"] <= tab["lo_50"])
    assert np.all(tab["lo_50"] <= tab["median"]) and np.all(tab["median"] <= tab["hi_50"])
    assert np.all(tab["hi_50"] <= tab["hi_80"]) and np.all(tab["hi_80"] <= tab["hi_95"])
    opt = bd.compute_optimal(draws, 1e22)
    row = tab[(tab["budget"] == 1e22) & (tab["quantity"] == "N")].iloc[0]
    np.testing.assert_allclose(row["median"], np.median(opt["N"]))
    np.testing.assert_allclose(row["hi_95"], np.quantile(opt["N"], 0.975))
    custom = bd.allocation_table(draws, 1e22, ci=(0.975,), quantities=("loss",))
    assert list(custom.columns) == ["budget", "quantity", "mean", "median", "lo_97.5",
                                    "hi_97.5"]


def test_compute_law_has_no_allocation():
    d = dict(E=1.7, A=1e3, gamma=0.15)
    for call in (
        lambda: bd.compute_optimal(d, 1e21, law="compute"),
        lambda: bd.allocation_table(d, 1e21, law="compute"),
        lambda: bd.regret(d, (1e9, 1e11), law="compute"),
        lambda: bd.risk_averse_allocation(d, 1e21, law="compute"),
        lambda: bd.inference_aware_allocation(d, 2.0, 1e12, law="compute"),
        lambda: bd.exponents(d, law="compute"),
    ):
        with pytest.raises(ValueError, match=r"no split of compute|inputs \('C',\)"):
            call()


# --------------------------------------------------------------------------- risk
def test_loss_draws_shapes_noise_and_seed():
    d = dict(jittered(HOFFMANN, 50, seed=4), sigma=np.full(50, 0.02))
    plain = bd.loss_draws(d, 70e9, 1.4e12, noise=False)
    np.testing.assert_allclose(plain, get_law("chinchilla").loss(d, N=70e9, D=1.4e12))
    assert bd.loss_draws(d, [1e9, 1e10, 1e11], 1e12, noise=False).shape == (50, 3)
    grid = bd.loss_draws(d, np.array([[1e9], [1e10]]), np.array([1e11, 1e12]), noise=False)
    assert grid.shape == (50, 2, 2)
    a = bd.loss_draws(d, 70e9, 1.4e12, rng=7)
    b = bd.loss_draws(d, 70e9, 1.4e12, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)
    ratio = np.log(bd.loss_draws(d, np.full(2000, 70e9), 1.4e12, rng=1) / plain[:, None])
    assert abs(ratio.std() - 0.02) < 0.002
    t = bd.loss_draws(d, 70e9, 1.4e12, nu=3.0, rng=1)
    assert t.shape == (50,) and np.all(np.isfinite(t))
    assert np.allclose(bd.loss_draws(d, 70e9, 1.4e12, sigma=0.0), plain)
    c = bd.loss_draws(dict(E=[1.7, 1.8], A=[1e3, 1e3], gamma=[0.15, 0.15]), C=1e21,
                      law="compute", noise=False)
    np.testing.assert_allclose(c, [1.7 + 1e3 * 1e21 ** -0.15, 1.8 + 1e3 * 1e21 ** -0.15])


@pytest.mark.parametrize("noise", [False, True])
def test_prob_below_monotone_and_bounded(draws, noise):
    d = dict(draws, sigma=np.full(300, 0.01))
    budgets = np.logspace(18, 28, 60)
    p = bd.prob_below(d, 2.05, budget=budgets, noise=noise)
    assert p.shape == (60,)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p) >= 0)
    assert p[0] < 0.01 and p[-1] > 0.99


def test_prob_below_matches_direct_computation(draws):
    opt = bd.compute_optimal(draws, 1e22)
    target = float(np.median(opt["loss"]))
    p = bd.prob_below(draws, target, budget=1e22)
    assert isinstance(p, float)
    assert p == np.mean(opt["loss"][:, 0] <= target)
    # analytic noise integration agrees with Monte Carlo through loss_draws
    d = dict(draws, sigma=np.full(300, 0.02), nu=np.full(300, 5.0))
    plan = (float(np.median(opt["N"])), float(np.median(opt["D"])))
    p_exact = bd.prob_below(d, target, plan=plan)
    mc = bd.loss_draws(d, np.full(4000, plan[0]), plan[1], rng=0)
    assert abs(p_exact - np.mean(mc <= target)) < 0.01
    p_plans = bd.prob_below(draws, target, plan=([1e9, 1e10], 1e12))
    assert p_plans.shape == (2,) and p_plans[1] >= p_plans[0]


def test_budget_for_target_inverts_prob_below(draws):
    target, prob = 2.05, 0.8
    c = bd.budget_for_target(draws, target, prob)
    assert bd.prob_below(draws, target, budget=c) >= prob
    assert bd.prob_below(draws, target, budget=c * (1 - 1e-6)) < prob
    # without noise it is the prob-quantile (order statistic) of the per-draw budgets
    ex = bd.exponents(draws)
    red = target - draws["E"]
    opt1 = bd.compute_optimal(draws, 6.0)  # C/k = 1
    k_coef = opt1["loss"][:, 0] - draws["E"]
    c_draw = 6.0 * (red / k_coef) ** (-1.0 / ex["gamma"])
    c_expected = np.sort(c_draw)[int(np.ceil(prob * 300)) - 1]
    np.testing.assert_allclose(c, c_expected, rtol=1e-8)
    # with noise the probability is continuous, so it is hit exactly
    d = dict(draws, sigma=np.full(300, 0.03))
    cn = bd.budget_for_target(d, target, prob)
    np.testing.assert_allclose(bd.prob_below(d, target, budget=cn), prob, atol=1e-6)
    # several targets at once, and the numeric optimiser gives the same budgets
    cs = bd.budget_for_target(draws, [2.2, 2.1, 2.05], prob)
    assert cs.shape == (3,) and np.all(np.diff(cs) > 0)
    np.testing.assert_allclose(cs[2], c, rtol=1e-8)
    cs_num = bd.budget_for_target(draws, [2.2, 2.1, 2.05], prob, method="numeric")
    np.testing.assert_allclose(cs_num, cs, rtol=1e-6)


def test_budget_for_target_with_compute_law():
    d = dict(E=np.array([1.7, 1.8, 1.75]), A=np.full(3, 1e3), gamma=np.full(3, 0.15))
    c = bd.budget_for_target(d, 2.2, prob=1.0, law="compute")
    expected = ((2.2 - 1.8) / 1e3) ** (-1 / 0.15)
    np.testing.assert_allclose(c, expected, rtol=1e-8)
    assert bd.prob_below(d, 2.2, budget=c, law="compute") == 1.0


def test_target_already_met_and_unreachable(draws):
    # a 1-FLOP "run" already has loss below 1e5 nats; a 1e14-FLOP one (loss ~10.4) below 20 nats
    assert bd.prob_below(draws, 1e5, budget=1.0) == 1.0
    assert bd.budget_for_target(draws, 1e5, 0.9) == 1.0
    assert bd.prob_below(draws, 20.0, budget=1e14) == 1.0
    assert bd.budget_for_target(draws, 20.0, 0.9, bracket=(1e14, 1e30)) == 1e14
    # below the irreducible loss of every draw: unreachable
    with pytest.raises(bd.UnreachableTargetError, match="irreducible loss") as info:
        bd.budget_for_target(draws, 1.5, 0.9)
    assert isinstance(info.value, ValueError)
    assert "300 of 300 draws" in str(info.value)
    assert bd.budget_for_target(draws, 1.5, 0.9, on_unreachable="inf") == np.inf
    # reachable for only some draws: fine at low prob, unreachable at high prob
    e_mid = float(np.quantile(draws["E"], 0.5)) + 1e-6
    with pytest.raises(bd.UnreachableTargetError, match="150 of 300"):
        bd.budget_for_target(draws, e_mid, 0.9)
    assert np.isfinite(bd.budget_for_target(draws, e_mid + 0.01, 0.3, bracket=(1, 1e60)))
    mixed = bd.budget_for_target(draws, [1.5, 1e5, 2.1], 0.9, on_unreachable="inf")
    assert mixed[0] == np.inf and mixed[1] == 1.0 and np.isfinite(mixed[2])


def test_cvar_quantile_expected_loss():
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, 1.0, size=(1000, 4))
    m = bd.expected_loss(x)
    for level in (0.0, 0.5, 0.9, 0.99, 0.999):
        cv = bd.cvar(x, level)
        assert np.all(cv >= m - 1e-12)
    np.testing.assert_allclose(bd.cvar(x, 0.0), m)
    np.testing.assert_allclose(bd.cvar(x, 0.9), np.sort(x, axis=0)[900:].mean(axis=0))
    np.testing.assert_allclose(bd.cvar(x, 0.9999), x.max(axis=0))
    assert np.all(bd.cvar(x, 0.9) >= bd.loss_quantile(x, 0.9))
    np.testing.assert_allclose(bd.loss_quantile(x, 0.5), np.median(x, axis=0))
    assert bd.cvar([2.0], 0.9) == 2.0
    assert bd.cvar([1.0, 2.0, 3.0], 0.5) == pytest.approx((3.0 + 0.5 * 2.0) / 1.5)
    np.testing.assert_allclose(bd.cvar(x.T, 0.9, axis=1), bd.cvar(x, 0.9))
    with pytest.raises(ValueError, match="level"):
        bd.cvar(x, 1.0)
    with pytest.raises(ValueError, match="q must be"):
        bd.loss_quantile(x, 1.5)


# --------------------------------------------------------------------------- regret
def test_regret_zero_at_optimum_positive_off_it(draws):
    one = {k: v[:1] for k, v in draws.items()}
    opt = bd.compute_optimal(one, 1e22)
    at_opt = bd.regret(one, (opt["N"][0, 0], opt["D"][0, 0]))
    assert at_opt.draws["excess_loss"].shape == (1,)
    assert at_opt.draws["excess_loss"][0] == pytest.approx(0.0, abs=1e-12)
    assert at_opt.draws["deadweight_compute"][0] == pytest.approx(0.0, abs=1e-9)
    num = bd.regret(one, (opt["N"][0, 0], opt["D"][0, 0]), method="numeric")
    assert num.draws["deadweight_compute"][0] == pytest.approx(0.0, abs=1e-7)
    off = bd.regret(draws, (opt["N"][0, 0] * 4, opt["D"][0, 0] / 4))
    assert np.all(off.draws["excess_loss"] > 0)
    assert np.all(off.draws["deadweight_compute"] > 0)
    # the optimum at the plan's budget and C_opt(L_plan) are consistent
    again = bd.compute_optimal(draws, off.draws["budget_opt"][:3])
    np.testing.assert_allclose(np.diag(again["loss"]), off.draws["loss_plan"][:3], rtol=1e-10)


def test_regret_many_plans_and_brute_force(draws):
    plans = (np.array([1e9, 1e10, 1e11]), np.array([1e12, 1e11, 1e10]))
    res = bd.regret(draws, plans)
    assert res.draws["excess_loss"].shape == (300, 3)
    assert np.all(res.draws["excess_loss"] >= 0) and np.all(res.draws["deadweight_compute"] >= 0)
    assert len(res.plans) == 3 and len(res.summary) == 3 * 7
    frame = res.to_frame()
    assert len(frame) == 900 and {"plan", "draw", "excess_loss"} <= set(frame.columns)
    # brute force for one draw and one plan
    d0 = {k: float(v[0]) for k, v in draws.items()}
    c = 6.0 * 1e10 * 1e11
    _, _, l_opt = brute_optimum(d0, c)
    l_plan = chinchilla_loss(d0, 1e10, 1e11)
    np.testing.assert_allclose(res.draws["excess_loss"][0, 1], l_plan - l_opt, rtol=1e-6)
    lo, hi = c / 1e6, c
    for _ in range(80):
        mid = np.sqrt(lo * hi)
        lo, hi = (lo, mid) if brute_optimum(d0, mid, n_grid=20001)[2] <= l_plan else (mid, hi)
    np.testing.assert_allclose(res.draws["deadweight_compute"][0, 1], c / hi - 1, rtol=1e-5)
    numeric = bd.regret(draws, plans, method="numeric")
    for key in ("excess_loss", "deadweight_compute"):
        np.testing.assert_allclose(numeric.draws[key], res.draws[key], rtol=1e-6, atol=1e-10)


# --------------------------------------------------------------------------- robust
def test_risk_averse_mean_equals_brute_force():
    d = jittered(BESIROGLU, 400, seed=6, scale=0.1)
    c = 1e23
    ra = bd.risk_averse_allocation(d, c, utility="mean")
    x = c / 6.0
    cols = {k: v[:, None] for k, v in d.items()}

    def mean_loss(u):
        return chinchilla_loss(cols, np.exp(u), x / np.exp(u)).mean(axis=0)

    coarse = np.linspace(18, 32, 2801)  # step 5e-3, then a local grid with step 5e-7
    i = int(np.argmin(mean_loss(coarse)))
    fine = np.linspace(coarse[i - 1], coarse[i + 1], 20_001)
    fine_loss = mean_loss(fine)
    n_bf = np.exp(fine[np.argmin(fine_loss)])
    np.testing.assert_allclose(ra.N, n_bf, rtol=1e-5)
    assert abs(ra.objective - fine_loss.min()) < 1e-13
    np.testing.assert_allclose(ra.N * ra.D * 6.0, c, rtol=1e-12)
    np.testing.assert_allclose(ra.objective, ra.losses.mean(), rtol=1e-12)
    assert ra.per_draw_N.shape == (400,) and ra.grid_objective.shape == ra.grid_N.shape
    # it is the Bayes decision: no per-draw optimum does better on average
    per_draw = bd.regret(d, (ra.per_draw_N, c / 6.0 / ra.per_draw_N)).draws["loss_plan"]
    assert np.all(per_draw.mean(axis=0) >= ra.objective - 1e-12)


def test_risk_averse_cvar_and_quantile():
    rng = np.random.default_rng(0)
    d = dict(E=np.full(400, 1.82), A=482.0 * np.exp(0.3 * rng.standard_normal(400)),
             B=np.full(400, 2085.0), alpha=np.full(400, 0.348), beta=np.full(400, 0.366))
    mean = bd.risk_averse_allocation(d, 1e23)
    cv = bd.risk_averse_allocation(d, 1e23, utility="cvar", level=0.9)
    q = bd.risk_averse_allocation(d, 1e23, utility="quantile", level=0.9)
    assert cv.objective >= bd.expected_loss(cv.losses)
    assert cv.objective >= mean.objective
    # uncertainty in the N-term makes the risk-averse choice a larger model
    assert cv.N > mean.N and q.N > mean.N
    np.testing.assert_allclose(cv.objective, bd.cvar(cv.losses, 0.9), rtol=1e-12)
    custom = bd.risk_averse_allocation(d, 1e23, utility=lambda x: x.mean(axis=0))
    np.testing.assert_allclose(custom.N, mean.N, rtol=1e-8)
    noisy = dict(d, sigma=np.full(400, 0.05))
    n1 = bd.risk_averse_allocation(noisy, 1e23, utility="cvar", noise=True, rng=3)
    n2 = bd.risk_averse_allocation(noisy, 1e23, utility="cvar", noise=True, rng=3)
    assert n1.N == n2.N and n1.objective > cv.objective


def test_inference_aware_allocation():
    d = jittered(HOFFMANN, 50, seed=7)
    target = 2.0
    zero = bd.inference_aware_allocation(d, target, 0.0)
    # with no inference it is the compute-optimal run for the target
    np.testing.assert_allclose(zero.draws["N"], zero.draws["N_compute_optimal"], rtol=1e-6)
    c0 = bd.budget_for_target({k: v[:1] for k, v in d.items()}, target, 1.0)
    np.testing.assert_allclose(zero.draws["training_flops"][0], c0, rtol=1e-6)
    res = bd.inference_aware_allocation(d, target, 1e13)
    assert res.n_unreachable == 0
    assert np.all(res.draws["N"] < res.draws["N_compute_optimal"])
    assert np.all(res.draws["D"] > res.draws["D_compute_optimal"])
    assert np.all(res.draws["savings"] > 0)
    np.testing.assert_allclose(chinchilla_loss(d, res.draws["N"], res.draws["D"]), target,
                               rtol=1e-10)
    # brute force for draw 0
    d0 = {k: float(v[0]) for k, v in d.items()}
    n_min = (d0["A"] / (target - d0["E"])) ** (1 / d0["alpha"])
    n = n_min * np.exp(np.linspace(1e-9, 8.0, 800_001))
    dd = (d0["B"] / (target - d0["E"] - d0["A"] * n ** -d0["alpha"])) ** (1 / d0["beta"])
    total = 6.0 * n * dd + 2.0 * n * 1e13
    np.testing.assert_allclose(res.draws["N"][0], n[np.argmin(total)], rtol=1e-4)
    np.testing.assert_allclose(res.draws["total_flops"][0], total.min(), rtol=1e-9)
    assert set(res.summary["quantity"]) >= {"N", "D", "total_flops", "savings"}


def test_inference_aware_reports_unreachable_draws():
    d = dict(E=[1.69, 2.2, 1.75], A=[406.4] * 3, B=[410.7] * 3, alpha=[0.34] * 3,
             beta=[0.28] * 3)
    res = bd.inference_aware_allocation(d, 2.0, 1e12)
    assert res.n_unreachable == 1
    assert list(res.reachable) == [True, False, True]
    assert np.isnan(res.draws["N"][1]) and np.all(np.isfinite(res.draws["N"][[0, 2]]))
    row = res.summary[res.summary["quantity"] == "N"].iloc[0]
    np.testing.assert_allclose(row["median"], np.median(res.draws["N"][[0, 2]]))
    none = bd.inference_aware_allocation(d, 1.5, 1e12)
    assert none.n_unreachable == 3 and np.all(np.isnan(none.draws["total_flops"]))


def _generic_chinchilla():
    """The Chinchilla law under another identity, so the generic numeric paths are used."""
    base = get_law("chinchilla")
    return dataclasses.replace(base, name="chinchilla_generic",
                               log_loss_fn=lambda xp, x, p: base.log_loss_fn(xp, x, p))


def test_generic_numeric_paths_match_closed_forms(draws):
    law = _generic_chinchilla()
    d = {k: v[:40] for k, v in draws.items()}
    budgets = [1e20, 1e23]
    np.testing.assert_allclose(bd.compute_optimal(d, budgets, law=law)["N"],
                               bd.compute_optimal(d, budgets)["N"], rtol=1e-6)
    np.testing.assert_allclose(bd.budget_for_target(d, 2.1, 0.7, law=law),
                               bd.budget_for_target(d, 2.1, 0.7), rtol=1e-7)
    plan = (3e9, 2e11)
    np.testing.assert_allclose(bd.regret(d, plan, law=law).draws["deadweight_compute"],
                               bd.regret(d, plan).draws["deadweight_compute"], rtol=1e-6)
    g = bd.inference_aware_allocation(d, 2.1, 1e12, law=law)
    c = bd.inference_aware_allocation(d, 2.1, 1e12)
    np.testing.assert_allclose(g.draws["N"], c.draws["N"], rtol=1e-5)
    np.testing.assert_allclose(g.draws["total_flops"], c.draws["total_flops"], rtol=1e-9)
    with pytest.raises(ValueError, match="no closed-form"):
        bd.exponents(d, law=law)


def test_kaplan_closed_paths_match_generic_numeric():
    base = get_law("kaplan")
    generic = dataclasses.replace(base, name="kaplan_generic",
                                  log_loss_fn=lambda xp, x, p: base.log_loss_fn(xp, x, p))
    d = jittered(KAPLAN, 20, seed=8)
    target = 2.2
    closed = bd.inference_aware_allocation(d, target, 1e12, law="kaplan")
    numeric = bd.inference_aware_allocation(d, target, 1e12, law=generic)
    assert closed.n_unreachable == 0
    np.testing.assert_allclose(numeric.draws["N"], closed.draws["N"], rtol=1e-5)
    np.testing.assert_allclose(closed.draws["total_flops"], numeric.draws["total_flops"],
                               rtol=1e-9)
    np.testing.assert_allclose(bd.loss_draws(d, closed.draws["N"], closed.draws["D"],
                                             law="kaplan", noise=False).diagonal(), target,
                               rtol=1e-10)
    np.testing.assert_allclose(bd.budget_for_target(d, target, 0.5, law="kaplan"),
                               bd.budget_for_target(d, target, 0.5, law=generic), rtol=1e-7)
