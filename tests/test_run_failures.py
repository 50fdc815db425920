"""Failed runs: a new run's loss fails upward as the fit's own failed runs did.

Claims: :class:`~bayescale.modeling.noise.RunFailures` flags exactly the runs far above the
curve and none of a clean sweep; the failure mixture is the same in the draws
(:func:`~bayescale.modeling.noise.perturb`) and in the probabilities integrated analytically
(:func:`~bayescale.decisions.prob_target`); it leaves the noise draws as they were; and, with
the real sampler on runs from a known law of which some failed, it flags those runs and
restores the new-run predictive's coverage, which without it is too low.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayescale.modeling.noise import (
    RunFailures,
    failure_shift,
    new_run_cdf,
    perturb,
)
from tests.conftest import TEST_DRAWS, TRUTH, simulate_runs

S = 4000


def _draws(p=0.1, size=0.4, seed=0):
    rng = np.random.default_rng(seed)
    return dict(E=np.full(S, 1.69), A=np.full(S, 406.4), B=np.full(S, 410.7),
                alpha=np.full(S, 0.34), beta=np.full(S, 0.28),
                sigma=rng.uniform(0.01, 0.03, S), nu=rng.uniform(3.0, 8.0, S),
                fail_p=np.full(S, p), fail_size=np.full(S, size))


def test_flags_exactly_the_runs_far_above_the_curve():
    rng = np.random.default_rng(0)
    r = 0.01 * rng.standard_t(5.0, 300)
    assert RunFailures.from_residuals(r).k == 0          # a clean sweep, heavy tails and all
    blown = r.copy()
    blown[[3, 50, 200]] += [0.3, 0.9, 0.2]
    low = blown.copy()
    low[7] -= 0.5                                        # a run far *below* is not a failure
    f = RunFailures.from_residuals(low)
    assert (f.k, f.n) == (3, 300)
    assert f.rows.tolist() == [200, 3, 50]                # which runs, smallest excess first
    np.testing.assert_allclose(np.sort(f.sizes),
                               np.sort(blown[[3, 50, 200]] - np.median(low)), atol=1e-12)
    d = f.draws(20000, np.random.default_rng(1))
    assert np.mean(d["fail_p"]) == pytest.approx(3.5 / 301, rel=0.03)   # Beta(1/2 + k, ...)
    assert set(np.round(d["fail_size"], 12)) <= set(np.round(f.sizes, 12))


def test_perturb_keeps_the_noise_and_fails_at_the_rate():
    log_mu = np.zeros((S, 50))
    sigma, nu = np.full(S, 0.02), np.full(S, 4.0)
    plain = perturb(log_mu, sigma, nu, np.random.default_rng(3))
    failed = perturb(log_mu, sigma, nu, np.random.default_rng(3), fail_p=np.full(S, 0.1),
                     fail_size=np.full(S, 0.5))
    shift = failed - plain
    np.testing.assert_allclose(shift[shift > 1e-9], 0.5, rtol=1e-12)   # noise untouched
    assert np.mean(shift > 0.25) == pytest.approx(0.1, abs=0.01)
    assert np.all(np.abs(shift[shift <= 0.25]) < 1e-12)
    out = failure_shift(np.random.default_rng(0), (S, 2), np.zeros(S), np.ones(S))
    assert not out.any()


def test_cdf_matches_the_draws():
    d = 0.03
    sigma, nu, p, size = 0.02, 4.0, 0.2, 0.1
    y = perturb(np.zeros((200000, 1)), sigma, nu, np.random.default_rng(5),
                fail_p=np.array([p]), fail_size=np.array([size]))
    mc = float(np.mean(y <= d))
    assert float(new_run_cdf(d, sigma, nu, p, size)) == pytest.approx(mc, abs=0.003)
    assert float(new_run_cdf(d, sigma, nu)) > float(new_run_cdf(d, sigma, nu, p, size)) + 0.1


def test_prob_target_integrates_the_failures_the_draws_hold():
    from bayescale.decisions import loss_draws, prob_target

    d = _draws()
    plan = (7e10, 1.4e12)
    for target in (1.93, 1.96, 2.2):
        p = prob_target(d, target, plan=plan)
        mc = np.mean(loss_draws(d, *plan, rng=np.random.default_rng(2)) <= target)
        assert p == pytest.approx(mc, abs=0.02)
    plain = {k: v for k, v in d.items() if not k.startswith("fail")}
    # far above the law a run still misses whenever it fails by more than the margin
    assert prob_target(plain, 2.5, plan=plan) == pytest.approx(1.0, abs=1e-3)
    assert prob_target(d, 2.5, plan=plan) == pytest.approx(0.9, abs=0.005)
    # and no budget buys that back: failures cap the chance at 1 - fail_p
    from bayescale.decisions import budget_for

    assert budget_for(d, 2.5, prob=0.95, on_unreachable="inf") == np.inf
    with pytest.raises(ValueError, match=r"fails .* with probability 0\.1, which no budget"):
        budget_for(d, 2.5, prob=0.95)
    assert np.isfinite(budget_for(plain, 2.5, prob=0.95))
    with pytest.raises(ValueError, match="fail_size"):
        prob_target({k: v for k, v in d.items() if k != "fail_size"}, 2.0, plan=plan)


def test_risk_averse_counts_failures():
    from bayescale.decisions import risk_averse_allocation

    d = _draws(p=0.3, size=0.5)
    plain = {k: v for k, v in d.items() if not k.startswith("fail")}
    a = risk_averse_allocation(d, 1e23, noise=True, rng=7)
    b = risk_averse_allocation(plain, 1e23, noise=True, rng=7)
    # the same noise (drawn first), and 30% of the draws failed by exp(0.5)
    assert np.mean(a.losses > b.losses * 1.3) == pytest.approx(0.3, abs=0.03)
    assert np.all(a.losses >= b.losses * (1 - 1e-9))


@pytest.mark.slow
def test_real_fit_flags_failed_runs_and_covers_new_ones():
    """Known law, 40 runs of which 4 blew up by 0.3-0.8 in log loss: the fit finds those 4;
    new runs from the same process (failing at the same rate, 10%) are covered by the 95%
    new-run intervals at about 95% with the failure component and too rarely without it."""
    import bayescale as bs

    runs = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=3)
    bad = np.array([5, 17, 22, 33])
    runs.loc[bad, "loss"] *= np.exp([0.3, 0.5, 0.8, 0.4])
    fit = bs.fit(runs, "chinchilla", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=4,
                 progressbar=False, prior_draws=0)
    f = fit.run_failures()
    assert f.k == 4 and f.n == 40 and sorted(f.rows.tolist()) == bad.tolist()
    nd = fit.draws(kind="noise")
    assert {"fail_p", "fail_size"} <= set(nd)
    assert np.mean(nd["fail_p"]) == pytest.approx(4.5 / 41, rel=0.05)
    # new runs at the training inputs (inside the data: no discrepancy), 10% failing
    rng = np.random.default_rng(9)
    N, D = runs["N"].to_numpy(), runs["D"].to_numpy()
    law = bs.laws.get_law("chinchilla").loss(TRUTH["chinchilla"], N=N, D=D)
    reps = 60
    y = law[None, :] * np.exp(0.01 * rng.standard_normal((reps, N.size))
                              + np.where(rng.uniform(size=(reps, N.size)) < 0.1,
                                         rng.choice([0.3, 0.5, 0.8, 0.4], (reps, N.size)), 0.0))
    pred = fit.predict(N=N, D=D, noise=True, ci=(0.95,), seed=1).table
    cov = np.mean((pred["lo_95"].to_numpy() <= y) & (y <= pred["hi_95"].to_numpy()))
    assert 0.93 <= cov <= 0.99, cov
    # the same fit's noise without the failure component misses the failed new runs
    mean = np.log(fit.predict(N=N, D=D, noise=False, seed=1).draws.values.reshape(-1, N.size))
    sd = fit.draws(kind="noise")
    plain = perturb(mean, sd["sigma"], sd.get("nu"), np.random.default_rng(1))
    lo, hi = np.exp(np.quantile(plain, [0.025, 0.975], axis=0))
    cov_plain = np.mean((lo <= y) & (y <= hi))
    assert cov_plain < 0.93, cov_plain          # short of 95% by about the failures' 10% / 2
    assert cov > cov_plain + 0.03, (cov, cov_plain)
    # a clean sweep of the same law has none, and its draws carry no failure keys
    clean = bs.fit(simulate_runs("chinchilla", TRUTH["chinchilla"], seed=3), "chinchilla",
                   draws=TEST_DRAWS, tune=TEST_DRAWS, seed=4, progressbar=False, prior_draws=0)
    assert clean.run_failures().k == 0
    assert "fail_p" not in clean.draws(noise=True)
