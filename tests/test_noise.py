"""The observation-noise model is written once, in bayescale.modeling.noise, and used everywhere.

Claims: no module outside :mod:`bayescale.modeling.noise` draws Student-t / normal noise or
evaluates its density or CDF itself; the decision layer, the report, backtests, grids and
``ScalingFit.predict`` give exactly the draws of :func:`~bayescale.modeling.noise.perturb` /
:func:`~bayescale.modeling.noise.noise_eps` for the same seed, and ``prob_below`` integrates
the same noise analytically (:func:`~bayescale.modeling.noise.noise_cdf`).
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import bayescale
from bayescale.decisions import loss_draws, prob_below, risk_averse_allocation
from bayescale.modeling.noise import EPS_CLIP, noise_cdf, noise_eps, noise_logpdf, perturb

# The numpy cores are exercised here through their former names too: deprecated aliases of
# the one public name per decision, same numbers (tests/test_names.py checks that they warn).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHIN = dict(E=1.82, A=482.0, B=2085.0, alpha=0.348, beta=0.366)
S = 500


def draws(nu: bool = True) -> dict:
    rng = np.random.default_rng(0)
    out = {k: np.full(S, v) for k, v in CHIN.items()}
    out["A"] = CHIN["A"] * np.exp(0.1 * rng.standard_normal(S))
    out["sigma"] = np.abs(0.02 + 0.005 * rng.standard_normal(S))
    if nu:
        out["nu"] = 2.0 + rng.gamma(2.0, 2.0, S)
    return out


def test_no_module_writes_its_own_noise():
    """The noise draw, density and CDF live only in bayescale/modeling/noise.py."""
    root = pathlib.Path(bayescale.__file__).parent
    pattern = re.compile(r"standard_t\(|stdtr|ndtr|stats\.t\.|stats\.norm\.")
    offenders = [
        f"{p.relative_to(root)}:{i}"
        for p in root.rglob("*.py") if p.relative_to(root).as_posix() != "modeling/noise.py"
        for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("nu", [True, False])
def test_loss_draws_are_perturb_of_the_law(nu):
    d = draws(nu)
    mean = loss_draws(d, [1e9, 7e10], [2e10, 1.4e12], noise=False)
    got = loss_draws(d, [1e9, 7e10], [2e10, 1.4e12], rng=3)
    want = np.exp(perturb(np.log(mean), d["sigma"], d.get("nu"), np.random.default_rng(3)))
    np.testing.assert_allclose(got, want, rtol=1e-14)  # exp(log(x)) rounds in the last bit


def test_heavy_tails_are_clipped_so_means_exist():
    d = draws() | {"nu": np.full(S, 2.0), "sigma": np.full(S, 1.0)}
    z = np.log(loss_draws(d, 1e9, 2e10, rng=0) / loss_draws(d, 1e9, 2e10, noise=False))
    assert np.max(np.abs(z)) <= EPS_CLIP


@pytest.mark.parametrize("nu", [True, False])
def test_prob_below_integrates_the_same_noise(nu):
    d = draws(nu)
    plan = (7e10, 1.4e12)
    mean = loss_draws(d, *plan, noise=False)
    target = float(np.median(mean)) * 1.01
    p = prob_below(d, target, plan=plan)
    z = (np.log(target) - np.log(mean)) / d["sigma"]
    assert p == pytest.approx(float(np.mean(noise_cdf(z, d.get("nu")))), rel=1e-12)
    # and a Monte Carlo of the noise draws agrees within its error
    sims = np.stack([loss_draws(d, *plan, rng=s) for s in range(40)])
    assert np.mean(sims <= target) == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / sims.size))


def test_risk_averse_allocation_draws_its_noise_from_noise_eps():
    d = draws()
    ra = risk_averse_allocation(d, 1e23, noise=True, rng=7)
    law_loss = loss_draws(d, ra.N, ra.D, noise=False)
    factor = np.exp(d["sigma"] * noise_eps(np.random.default_rng(7), (S,), d["nu"]))
    np.testing.assert_allclose(ra.losses, law_loss * factor, rtol=1e-10)


def test_report_run_loss_uses_noise_eps():
    from bayescale.report.risk import _noisy

    d = draws()
    loss = np.full((S, 3), 2.0)
    got = _noisy(loss, d, np.random.default_rng(2))
    z = noise_eps(np.random.default_rng(2), (S, 3), d["nu"])
    np.testing.assert_array_equal(got, loss * np.exp(d["sigma"][:, None] * z))
    assert _noisy(loss, {k: v for k, v in d.items() if k != "sigma"}, None) is loss


@pytest.mark.parametrize("nu", [None, 4.0])
def test_backtest_score_uses_the_noise_model(nu):
    from scipy.special import logsumexp

    from bayescale.evaluation.backtest import _score

    rng = np.random.default_rng(0)
    log_mu = 0.01 * rng.standard_normal((200, 5))
    sigma = np.full(200, 0.02)
    nus = None if nu is None else np.full(200, nu)
    y = np.array([0.0, 0.01, -0.02, 0.05, 0.2])
    out = _score(log_mu, sigma, nus, y, rng=np.random.default_rng(1), levels=(0.5, 0.95))
    lp = noise_logpdf(y[None, :], log_mu, sigma[:, None], None if nu is None else nus[:, None])
    np.testing.assert_allclose(out["lpd"], logsumexp(lp, axis=0) - np.log(200), rtol=1e-12)
    pred = perturb(log_mu, sigma, nus, np.random.default_rng(1))
    np.testing.assert_allclose(out["median"], np.exp(np.median(pred, axis=0)), rtol=1e-12)


@pytest.mark.slow
def test_predict_and_predict_grid_draw_the_same_noise(chinchilla_fit):
    """``predict(noise=True)`` is ``perturb`` of the mean law, and the one-chunk grid equals it."""
    from bayescale.posterior.grid import predict_grid

    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    # the extrapolation discrepancy (on by default beyond the data) is not noise: off here
    mean = chinchilla_fit.predict(N=N, D=D, discrepancy=False).draws.values.reshape(-1, 2)
    new = chinchilla_fit.predict(N=N, D=D, noise=True, seed=4,
                                 discrepancy=False).draws.values.reshape(-1, 2)
    nd = chinchilla_fit.draws(kind="noise")
    # failures at each point's tokens per parameter (the fit's rate depends on them)
    fd = chinchilla_fit.failure_draws(tpp=D / N)
    assert fd["fail_p"].shape == (nd["sigma"].size, 2)
    want = np.exp(perturb(np.log(mean), nd["sigma"], nd.get("nu"), np.random.default_rng(4),
                          fail_p=fd["fail_p"], fail_size=fd["fail_size"]))
    np.testing.assert_allclose(new, want, rtol=1e-12)
    grid = predict_grid(chinchilla_fit, N[:1], D[:1], noise=True, seed=4, max_bytes=10**9)
    ref = chinchilla_fit.predict(N=N[:1], D=D[:1], noise=True, seed=4, discrepancy=False).table
    np.testing.assert_allclose(grid[["median", "lo_95", "hi_95"]].to_numpy(),
                               ref[["median", "lo_95", "hi_95"]].to_numpy(), rtol=1e-12)


@pytest.mark.slow
def test_plot_decision_draws_one_run_with_noise_eps(chinchilla_fit):
    from matplotlib.figure import Figure

    from bayescale.plots.decision_plot import plot_decision

    fig = plot_decision(chinchilla_fit, [5.76e23], plan=(70e9, 1.4e12), target=2.0)
    assert isinstance(fig, Figure)
