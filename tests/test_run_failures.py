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
import pandas as pd
import pytest

from bayescale.modeling.noise import (
    FailureRatePrior,
    RunFailures,
    failure_shift,
    new_run_cdf,
    perturb,
)
from tests.conftest import TEST_DRAWS, TRUTH, simulate_runs

S = 4000
# The four-group hierarchies below test the failure model, not convergence: at 4 x 400 draws
# their tau mix slowly (R-hat about 1.02) and the automatic retry refits them twice more (800
# and 3,200 draws, about 90 s each test); the retry ladder has its own tests
# (tests/test_diagnostics_advice.py).  One fit each: retry=RETRY.
RETRY = False


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


def test_group_rates_pool_across_groups_and_recover_known_rates():
    """The beta-binomial across groups recovers a known population of rates, and a group's
    posterior mean is closer to its true rate than its own count under Jeffreys' prior."""
    rng = np.random.default_rng(4)
    n = rng.integers(20, 300, 300)
    known = FailureRatePrior(rng.binomial(n, rng.beta(0.5, 40.0, 300)), n)
    assert known.mean(0, 0) == pytest.approx(0.5 / 40.5, rel=0.25)
    new_n = rng.integers(15, 40, 400)
    new_rate = rng.beta(0.5, 40.0, 400)
    new_k = rng.binomial(new_n, new_rate)
    pooled = np.array([known.mean(k, m) for k, m in zip(new_k, new_n, strict=True)])
    jeffreys = (new_k + 0.5) / (new_n + 1.0)
    assert np.mean((pooled - new_rate) ** 2) < 0.5 * np.mean((jeffreys - new_rate) ** 2)
    d = known.draws(3, 30, 20000, np.random.default_rng(0))
    assert np.mean(d) == pytest.approx(known.mean(3, 30), rel=0.03)
    f = RunFailures(3, 30, np.full(3, 0.5), 0.01, prior=known)
    assert f.rate == pytest.approx(known.mean(3, 30))
    assert RunFailures(3, 30, np.full(3, 0.5), 0.01).rate == pytest.approx(3.5 / 31)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        FailureRatePrior([3], [2])


def test_within_counts_a_groups_own_runs():
    rng = np.random.default_rng(0)
    r = 0.01 * rng.standard_normal(60)
    r[[45, 50, 55]] += [0.5, 0.6, 0.7]            # every failure in the last 20 runs
    f = RunFailures.from_residuals(r)
    g, h = f.within(np.arange(60) >= 40), f.within(np.arange(40))
    assert (f.k, f.n, g.k, g.n, h.k, h.n) == (3, 60, 3, 20, 0, 40)
    assert g.rate > f.rate > h.rate > 0
    # the group without failures still resamples the fit's failure sizes
    d = h.draws(1000, np.random.default_rng(1))
    assert set(np.round(d["fail_size"], 12)) <= set(np.round(f.sizes, 12))
    assert "none of these 40 runs failed" in str(h) and "3 of 20 runs failed" in str(g)
    assert RunFailures.from_residuals(r[:40]).draws(10, np.random.default_rng(0)) == {}


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
    from bayescale.decisions import risk_averse

    d = _draws(p=0.3, size=0.5)
    plain = {k: v for k, v in d.items() if not k.startswith("fail")}
    a = risk_averse(d, 1e23, noise=True, seed=7)
    b = risk_averse(plain, 1e23, noise=True, seed=7)
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
    print(f"coverage {cov:.3f}")
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


@pytest.mark.slow
def test_hierarchy_gives_each_group_its_own_failure_rate(tmp_path):
    """Four groups, three blow-ups all in one: that group's new runs fail at its own rate
    (3 of 20, pooled with the clean groups), the others' at far less, a new group at the fit's
    pooled rate; the failing group's new-run intervals reach up to the failures, the others'
    do not."""
    import bayescale as bs
    from bayescale.data.synthetic import simulate_hierarchy

    runs = simulate_hierarchy(4, seed=11).runs.reset_index(drop=True)
    own = np.flatnonzero(runs["family"] == "g02")
    bad = own[[3, 9, 15]]
    runs.loc[bad, "loss"] *= np.exp([0.4, 0.6, 0.5])
    fit = bs.fit(runs, "chinchilla", groups=["family"], draws=TEST_DRAWS, tune=TEST_DRAWS,
                 seed=2, progressbar=False, prior_draws=0, warn=False, retry=RETRY)
    f = fit.run_failures()
    assert sorted(f.rows.tolist()) == sorted(bad.tolist())
    g, other = fit.group_failures("g02"), fit.group_failures("g03")
    n_other = int((runs["family"] == "g03").sum())
    assert (g.k, g.n, other.k, other.n) == (3, own.size, 0, n_other)
    clean = [int((runs["family"] == c).sum()) for c in ("g00", "g01", "g03")]
    p_bad = np.mean(fit.draws(group="g02", noise=True)["fail_p"])
    p_other = np.mean(fit.draws(group="g03", noise=True)["fail_p"])
    p_flat = FailureRatePrior([0, 0, 0], clean).mean(3, own.size)
    assert g._flat_rate() == pytest.approx(p_flat)
    # the draws: that flat rate weighed (f.tpp_weight, below 0.5 here, as asserted below)
    # against the fit's curve in tokens per parameter shifted by the group's own runs
    assert p_bad == pytest.approx(g.rate, rel=0.08) and 0.7 * p_flat < p_bad < 1.3 * p_flat
    # Jeffreys per group: 0.17 and 0.024.  The clean group's pooled flat rate is about 0.5%;
    # its draws also take the fit's curve (weight about 0.4), which its 20 clean runs shift
    # down to about 2% (they say little: the fit's curve gives them 4%), so about 1% in all
    assert other._flat_rate() < 0.006
    assert p_bad > 0.08 and p_other < 0.5 * 0.024 and p_other < p_bad / 10
    p_new = fit.group_failures("new").rate            # (the law's draws need pooled A0, B0)
    assert p_new == pytest.approx(f.rate)
    # the pooled rate: three failures spread over the runs' tokens per parameter weigh the
    # flat Jeffreys rate above a curve in tokens per parameter, so it stays near it
    assert f.tpp_weight < 0.5 and p_new == pytest.approx(3.5 / (len(runs) + 1), rel=0.1)
    assert fit.group_failures({"family": "g02"}).k == 3
    assert f"by group, each its own rate (fit.group_failures): g02 3 of {own.size}" in \
        fit.describe()
    # the groups' new-run intervals inside the data: the failing group's reach further up
    width = {}
    for grp in ("g02", "g03"):
        t = fit.predict(N=1e8, D=2e9, group=grp, noise=True, ci=(0.95,), seed=1).table
        width[grp] = float(np.log(t["hi_95"].iloc[0] / t["median"].iloc[0]))
    assert width["g02"] > width["g03"] + 0.05, width
    # and the report for that group says whose rate it gives
    from bayescale.report import write_report

    files = write_report(fit, tmp_path / "g02.html", budgets=[1e20], group="g02", loo=False,
                         dpi=50)
    text = " ".join(files.markdown.read_text().split())
    assert f"this group's rate: 3 of its {own.size} runs failed" in text
    # a pilot is valued knowing it may fail, at its group's rate (bs.next_runs)
    res = bs.next_runs(fit, 1e21, pilot=1e18, max_runs=1, n_outcomes=16, max_draws=200)
    note = next(n for n in res.notes if "a pilot run fails" in n)
    assert "by the candidate's group (g02 " in note, note
    assert p_other < res.settings["fail_p"] < p_bad


@pytest.mark.slow
def test_hierarchy_group_failures_follow_the_fits_curve_in_tokens_per_param(tmp_path):
    """Real sampler: four groups, one of which blew up at its four most under-trained runs.
    The fit reads the failures as a regime at low tokens per parameter; the failing group's
    chance there is far above a clean group's, and more than ten times its own at the runs'
    most over-trained end (a flat rate by group was the same at both), and the report for
    the failing group says whose chance it gives."""
    import bayescale as bs
    from bayescale.data.synthetic import simulate_hierarchy

    runs = simulate_hierarchy(4, seed=11).runs.reset_index(drop=True)
    tpp = (runs["D"] / runs["N"]).to_numpy()
    own = np.flatnonzero(runs["family"] == "g02")
    bad = own[np.argsort(tpp[own])[:4]]
    runs.loc[bad, "loss"] *= np.exp([0.4, 0.6, 0.5, 0.45])
    fit = bs.fit(runs, "chinchilla", groups=["family"], draws=TEST_DRAWS, tune=TEST_DRAWS,
                 seed=2, progressbar=False, prior_draws=0, warn=False, retry=RETRY)
    f = fit.run_failures()
    assert sorted(f.rows.tolist()) == sorted(bad.tolist()) and f.tpp_weight > 0.5
    low, high = float(tpp[bad].max()), float(tpp.max())
    g, other = fit.group_failures("g02"), fit.group_failures("g03")
    p_g, p_other = g.rate_at(tpp=[low, high]), other.rate_at(tpp=[low, high])
    print("failing group", p_g, "clean group", p_other, "fit", f.rate_at(tpp=[low, high]))
    assert p_g[0] > 0.1 and p_g[0] > 3 * p_other[0], (p_g, p_other)
    assert p_g[1] < p_g[0] / 10 and p_other[1] < 0.01, (p_g, p_other)  # not a flat rate
    from bayescale.report import write_report

    files = write_report(fit, tmp_path / "g02.html", budgets=[1e20], group="g02", loo=False,
                         dpi=50)
    text = " ".join(files.markdown.read_text().split())
    assert "this group's chance at the recommended split's " in text, text[:3000]
    assert f"the fit's curve shifted by its own runs, 4 of its {own.size} failed" in text


# --------------------------------------------------------------------------- rate by epochs
def _curve(epochs, a=-4.0, b=2.5, c=0.3):
    """The true chance of failing: a logistic curve in log10 epochs rising to a ceiling ``c``
    (0.5% at one epoch, 5% at ten, 22% at 100, 27% at 300)."""
    from scipy.special import expit

    return c * expit(a + b * np.log10(epochs))


def test_rate_by_epochs_recovers_a_known_curve_with_calibrated_intervals():
    """60 data sets of 200 runs, epochs log-uniform on [1, 300], failing by a known curve: the
    posterior mean tracks the truth at 1, 10 and 100 epochs, and the central 90% intervals of
    the draws cover the truth at about 90%."""
    from bayescale.modeling.noise import EpochsFailureRate

    rng = np.random.default_rng(0)
    at = np.array([1.0, 10.0, 100.0])
    truth = _curve(at)
    hits, means = [], []
    for _ in range(60):
        epochs = 10 ** rng.uniform(0, np.log10(300), 200)
        failed = rng.uniform(size=epochs.size) < _curve(epochs)
        if not failed.any():
            continue
        m = EpochsFailureRate(epochs, failed)
        d = m.draws(2000, rng, at)
        lo, hi = np.quantile(d, [0.05, 0.95], axis=0)
        hits.append((lo <= truth) & (truth <= hi))
        means.append(m.mean(at))
    cover = np.mean(hits, axis=0)
    print("coverage of the 90% intervals at 1, 10, 100 epochs:", cover)
    assert np.all((0.8 <= cover) & (cover <= 0.98)), cover
    # the posterior mean where failures are common is on target; at one epoch (0.5%: one
    # failure in 200 runs at most) it is pulled up by the posterior's right skew, but small
    ratio = np.median(np.asarray(means), axis=0) / truth
    assert np.all((0.6 < ratio[1:]) & (ratio[1:] < 1.6)), ratio
    assert np.median(np.asarray(means)[:, 0]) < 0.02, ratio


def test_separated_failures_give_a_finite_slope_and_a_small_rate_at_one_epoch():
    """Muennighoff et al.'s pattern: every failed run had more epochs than every run that did
    not.  Maximum likelihood puts the slope at infinity; the Cauchy prior keeps it finite,
    the rate at one epoch small and the rate at many epochs that of the runs there."""
    from bayescale.modeling.noise import EpochsFailureRate

    epochs = np.r_[np.geomspace(1, 50, 200), np.geomspace(60, 600, 30)]
    failed = np.r_[np.zeros(200, bool), np.arange(30) % 3 == 0]          # 10 of the 30
    m = EpochsFailureRate(epochs, failed)
    p1, p300 = m.mean([1.0, 300.0])
    assert p1 < 0.01 and 0.15 < p300 < 0.6, (p1, p300)
    d = m.draws(4000, np.random.default_rng(1), [1.0, 300.0])
    assert np.all(np.isfinite(d)) and np.all(d[:, 1] >= d[:, 0] - 1e-12)
    with pytest.raises(ValueError, match="do not vary"):
        EpochsFailureRate(np.full(5, 2.0), np.r_[True, False, False, False, False])
    with pytest.raises(ValueError, match="positive and finite"):
        m.mean([0.0])


def test_a_fit_of_repeated_data_fails_at_each_points_epochs():
    """Real sampler, the data-constrained law: 80 runs from its published C4 fit, a third of
    those beyond 40 epochs blown up.  The fit learns a rate by epochs, a new run at one epoch
    gets a 95% interval that does not reach the blow-ups while one at 200 epochs does, and
    new runs from the same process are covered at both."""
    import warnings

    import bayescale as bs

    law = bs.laws.get_law("datablations")
    truth = dict(E=1.869, A=520.8, B=1487.7, alpha=0.3527, beta=0.3527, R_D_star=15.39,
                 R_N_star=5.31)
    rng = np.random.default_rng(5)
    N = np.repeat(np.geomspace(1e7, 1e9, 8), 10)
    D = N * np.tile(np.geomspace(10, 100, 10), 8)
    epochs = np.tile(np.geomspace(1, 400, 10), 8)[rng.permutation(80)]
    U = D / epochs

    def sample(n_epochs):
        mu = law.loss(truth, N=N, D=D, U=D / n_epochs)
        blow = (n_epochs > 40) & (rng.uniform(size=N.size) < 1 / 3)
        return mu * np.exp(0.01 * rng.standard_normal(N.size) + np.where(blow, 0.6, 0.0))

    runs = pd.DataFrame({"N": N, "D": D, "U": U, "loss": sample(epochs)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(runs, "datablations", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=2,
                     progressbar=False, prior_draws=0, warn=False)
    f = fit.run_failures()
    assert f.k >= 5 and f.by_epochs is not None
    assert np.all(epochs[f.rows] > 40)
    p1, p200 = f.rate_at([1.0, 200.0])
    assert p1 < 0.02 < f.rate < p200, (p1, f.rate, p200)
    assert "it depends on the epochs of repeated data" in str(f)
    widths = {}
    for e in (1.0, 200.0):
        pred = fit.predict(N=N, D=D, U=D / e, noise=True, ci=(0.95,), seed=1).table
        widths[e] = float(np.median(np.log(pred["hi_95"] / pred["median"])))
        y = np.stack([sample(np.full(N.size, e)) for _ in range(20)])
        cov = np.mean((pred["lo_95"].to_numpy() <= y) & (y <= pred["hi_95"].to_numpy()))
        assert cov >= 0.9, (e, cov)
    assert widths[1.0] < 0.2 < widths[200.0], widths
    # the public per-draw failures that predict and backtest use: per point with epochs,
    # reproducible from the fit's seed, one check of the epochs naming the point
    fd = fit.failure_draws(epochs=[1.0, 200.0], size=500)
    assert fd["fail_p"].shape == (500, 2) and fd["fail_size"].shape == (500,)
    assert fd["fail_p"][:, 0].mean() < f.rate < fd["fail_p"][:, 1].mean()
    again = fit.failure_draws(epochs=[1.0, 200.0], size=500)
    assert np.array_equal(fd["fail_p"], again["fail_p"])
    assert fit.failure_draws()["fail_p"].shape == (fit.draws(kind="noise")["sigma"].size,)
    with pytest.raises(ValueError, match=r"point\(s\) \[1\] have \[-1.0\]"):
        fit.failure_draws(epochs=[1.0, -1.0])


# --------------------------------------------------------------------------- by tokens per param
def _tpp_sweep(kind, seed, n=300):
    """``n`` runs, tokens per parameter log-uniform over 0.05-1,000; failures either at the
    under-trained end only (40% of the runs below 0.6: a regime the law misses) or anywhere
    (2% of all runs)."""
    rng = np.random.default_rng(seed)
    tpp = np.exp(rng.uniform(np.log(0.05), np.log(1000), n))
    p = np.where(tpp < 0.6, 0.4, 0.0) if kind == "edge" else np.full(n, 0.02)
    fail = rng.uniform(size=n) < p
    r = rng.normal(0, 0.01, n) + np.where(fail, rng.uniform(0.1, 0.4, n), 0.0)
    return RunFailures.from_residuals(r).with_tokens_per_param(tpp)


def test_rate_by_tokens_per_param_tells_an_under_trained_end_from_failures_anywhere():
    """Known truth, 40 sweeps of each kind.  Failures at the under-trained end: the curve in
    tokens per parameter takes all the weight, the rate at 0.1 is the true 40% and at 20 and
    1,000 next to nothing.  Failures anywhere: the flat rate keeps most of the weight, and the
    rate is the true 2% at both ends and in the middle, its 90% intervals covering it."""
    at = [0.1, 20.0, 1000.0]
    for kind in ("edge", "flat"):
        weight, mean, cover = [], [], []
        for seed in range(40):
            f = _tpp_sweep(kind, seed)
            assert f.by_tpp is not None and f.k > 0
            d = f.draws(4000, np.random.default_rng(seed), tpp=at)["fail_p"]
            assert d.shape == (4000, 3)
            lo, hi = np.quantile(d, [0.05, 0.95], axis=0)
            weight.append(f.tpp_weight)
            mean.append(f.rate_at(tpp=at))
            cover.append((lo <= 0.02) & (0.02 <= hi))
            if kind == "edge":
                assert hi[1] < 0.01 and hi[2] < 0.01, (seed, hi)
        weight, mean = np.array(weight), np.mean(mean, axis=0)
        if kind == "edge":
            assert np.all(weight > 0.9), weight
            assert 0.3 < mean[0] < 0.55 and mean[1] < 0.001 and mean[2] < 0.001, mean
        else:
            assert np.median(weight) < 0.5 and np.mean(weight > 0.5) <= 0.2, weight
            assert np.all((mean > 0.015) & (mean < 0.03)), mean
            assert np.all(np.mean(cover, axis=0) >= 0.85), np.mean(cover, axis=0)
    with pytest.raises(ValueError, match=r"tokens per parameter must be positive and finite; "
                                         r"point\(s\) \[0\]"):
        f.rate_at(tpp=[0.0])
    # a group of a hierarchy keeps the curve, shifted by its own runs (tested below)
    g = _tpp_sweep("edge", 0).within(np.arange(100))
    assert g.by_tpp is not None and g.by_tpp.values.size == 100


def test_a_group_keeps_the_fits_curve_in_tokens_per_param_shifted_by_its_own_runs():
    """Three groups of one sweep whose failures sit below 1 token per parameter.  Group A's
    runs there failed (half of them), group B's did not, group C never ran there.  Each keeps
    the fit's curve: at 20 tokens per parameter every group's chance is next to nothing
    (a flat rate by group gave A its count, 1 in 10 or so, at any split); below 1, A's is
    above the fit's, B's below, and C's the fit's, which its runs cannot move."""
    rng = np.random.default_rng(3)
    tpp = np.r_[np.geomspace(0.3, 100, 80), np.geomspace(0.3, 100, 80),
                np.geomspace(5, 100, 80)]
    group = np.repeat(np.array(["A", "B", "C"]), 80)
    fail = (group == "A") & (tpp < 1) & (rng.uniform(size=tpp.size) < 0.5)
    r = rng.normal(0, 0.01, tpp.size) + np.where(fail, rng.uniform(0.1, 0.4, tpp.size), 0.0)
    f = RunFailures.from_residuals(r).with_tokens_per_param(tpp)
    assert f.k == fail.sum() > 3 and f.tpp_weight > 0.9
    counts = [int(fail[group == g].sum()) for g in "ABC"]
    priors = FailureRatePrior.leave_one_out(counts, [80, 80, 80])
    shift = f.group_shift([group == g for g in "ABC"])  # as fit.group_failures learns it
    by = {g: f.within(group == g, prior=p, shift=shift)
          for g, p in zip("ABC", priors, strict=True)}
    low, at_20 = {}, {}
    for g, fg in by.items():
        assert fg.by_tpp.values.size == 80 and fg.tpp_weight == f.tpp_weight
        low[g], at_20[g] = fg.rate_at(tpp=[0.4, 20.0])
    fit_low, fit_20 = f.rate_at(tpp=[0.4, 20.0])
    print("at 0.4:", low, fit_low, "at 20:", at_20, fit_20)
    assert low["A"] > 1.3 * fit_low and low["B"] < fit_low / 3, (low, fit_low)
    assert fit_low / 1.5 < low["C"] < 1.5 * fit_low, (low, fit_low)
    assert max(at_20.values()) < 0.01 < by["A"]._flat_rate(), at_20
    # the draws the decisions read (frozen once per posterior draw) agree with the mean
    fr = by["A"].frozen(4000, np.random.default_rng(0))
    assert np.mean(fr.p([0.4, 20.0]), axis=0) == pytest.approx([low["A"], at_20["A"]],
                                                               abs=0.03)
    assert "none of these 80 runs failed" in str(by["C"]) and "0.3 to" in str(by["C"])


def test_a_group_keeps_the_fits_curve_in_epochs_shifted_by_its_own_runs():
    """The same for a rate by epochs of repeated data (laws with ``U``): before, a group's rate
    was flat in epochs.  Group A's runs beyond 50 epochs failed (half of them), B's did not,
    C never repeated its data more than 20 times.  At one epoch every group's chance is next
    to nothing; at 300, A's is above the fit's, B's below, and C's the fit's."""
    rng = np.random.default_rng(5)
    epochs = np.r_[np.geomspace(1, 500, 60), np.geomspace(1, 500, 60), np.geomspace(1, 20, 60)]
    group = np.repeat(np.array(["A", "B", "C"]), 60)
    fail = (group == "A") & (epochs > 50) & (rng.uniform(size=epochs.size) < 0.5)
    r = rng.normal(0, 0.01, epochs.size) + np.where(fail, rng.uniform(0.2, 0.6, epochs.size),
                                                    0.0)
    f = RunFailures.from_residuals(r).with_epochs(epochs)
    assert f.k == fail.sum() > 3 and f.by_epochs is not None
    shift = f.group_shift([group == g for g in "ABC"])  # the epochs curve's: no tpp curve
    assert shift is not None and shift.mean_tau > 0.5
    by = {g: f.within(group == g, shift=shift) for g in "ABC"}
    one, far = {}, {}
    for g, fg in by.items():
        assert fg.by_epochs.values.size == 60 and fg.epochs_rows.size == 60
        one[g], far[g] = fg.rate_at([1.0, 300.0])
    fit_one, fit_far = f.rate_at([1.0, 300.0])
    print("at 1:", one, fit_one, "at 300:", far, fit_far)
    assert far["A"] > 1.3 * fit_far and far["B"] < fit_far / 3, (far, fit_far)
    assert fit_far / 1.5 < far["C"] < 1.5 * fit_far, (far, fit_far)
    assert max(one.values()) < 0.01, one
    # what predictions read: each point's chance at its epochs, per draw
    d = by["A"].draws(4000, np.random.default_rng(0), epochs=[1.0, 300.0])
    assert d["fail_p"].shape == (4000, 2)
    assert np.mean(d["fail_p"], axis=0) == pytest.approx([one["A"], far["A"]], abs=0.03)
    assert "depends on the epochs" in str(by["C"])


def test_group_curves_cover_known_group_curves():
    """Known truth: groups whose chance of failing is one curve in tokens per parameter,
    ``0.6 expit(a_g - 6 z)``, its intercept ``a_g`` shifted by a Normal(0, 1) of each group's
    own (inside the ceiling, where the model shifts the log odds of the chance itself, so the
    truth is not exactly the model's).  Over 12 sweeps of 6
    groups (the spread of the shifts learned from each sweep's groups, as a fit's are), each
    group's central 90% interval of its chance at 0.5 and 1 token per parameter covers the
    truth at about 90%."""
    from scipy.special import expit

    from bayescale.modeling.noise import FailureRateCurve, GroupFailureCurve, GroupShiftPrior

    rng = np.random.default_rng(0)
    at, hits = np.array([0.5, 1.0]), []
    for _ in range(12):
        true = rng.normal(0, 1.0, 6)
        tpp = 10 ** rng.uniform(-0.5, 2.0, 6 * 60)
        g = np.repeat(np.arange(6), 60)
        x = np.log10(tpp)
        z, z_at = ((v - x.mean()) / (2 * x.std()) for v in (x, np.log10(at)))
        failed = rng.uniform(size=tpp.size) < 0.6 * expit(-1.0 + true[g] - 6.0 * z)
        base = FailureRateCurve(tpp, failed, covariate="tokens per parameter")
        shift = GroupShiftPrior.learn(base, [(tpp[g == j], failed[g == j]) for j in range(6)])
        for j in range(6):
            d = GroupFailureCurve(base, tpp[g == j], failed[g == j], shift).draws(2000, rng, at)
            lo, hi = np.quantile(d, [0.05, 0.95], axis=0)
            truth = 0.6 * expit(-1.0 + true[j] - 6.0 * z_at)
            hits.append((lo <= truth) & (truth <= hi))
    cover = np.mean(hits, axis=0)
    print("coverage of the 90% intervals at 0.5 and 1 token per parameter:", cover)
    assert np.all((0.78 <= cover) & (cover <= 0.99)), cover


@pytest.mark.slow
def test_chinchillas_most_under_trained_runs_do_not_widen_forecasts_at_20_tokens_per_param():
    """Real sampler, Hoffmann et al.'s 245 runs with the five that Besiroglu et al. (2024)
    drop: the fit flags the seven most under-trained runs (below 0.6 tokens per parameter).
    A flat rate gave every new run their 3% chance of failing by up to 0.3 in log loss, and a
    new run's 95% interval at 1B parameters and 20B tokens (inside the data) reached 2.67
    instead of 2.57.  Now the rate depends on tokens per parameter: that interval is the one
    the fit without the five gives, while a run as under-trained as the flagged ones still
    gets their chance."""
    import warnings

    import bayescale as bs

    hi = {}
    for drop in (False, True):
        runs = bs.datasets.load("chinchilla", drop_outliers=drop)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bs.fit(runs, "chinchilla", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=3,
                         progressbar=False, prior_draws=0, warn=False)
        f = fit.run_failures()
        tpp = (fit.runs["D"] / fit.runs["N"]).to_numpy()
        assert f.by_tpp is not None and f.tpp_weight > 0.9
        assert np.all(tpp[f.rows] < 0.6) and f.rate < 0.005
        assert "they sit at the lowest tokens per parameter" in str(f)
        pred = fit.predict(N=[1e9, 2e9], D=[2e10, 1e9], noise=True, discrepancy=False,
                           ci=(0.95,), seed=1).table
        hi[drop] = np.log(pred["hi_95"] / pred["median"]).to_numpy()
        if not drop:
            assert f.k >= 5
            assert f.rate_at(tpp=[0.5])[0] > 0.05                # as under-trained as they
            assert hi[drop][1] > 0.1                             # ... reaches up to them
            # and a decision on a plan that under-trained counts that chance (not the rate
            # at the runs' median, which a 20-tokens-per-parameter plan gets)
            for plan, rate in (((2e9, 1e9), f.rate_at(tpp=[0.5])[0]), ((1e9, 2e10), f.rate)):
                law_hi = fit.predict(N=plan[0], D=plan[1], discrepancy=False,
                                     ci=(0.99,)).table["hi_99"].iloc[0]
                p = bs.prob_target(fit, 1.05 * law_hi, plan=plan, discrepancy=False)
                assert 1.0 - p > 0.5 * rate and (1.0 - p < 0.01) == (rate < 0.005), (plan, p)
    assert abs(hi[False][0] - hi[True][0]) < 0.01, hi


def test_decisions_read_the_failure_rate_at_each_plans_own_tokens_per_param():
    """Known truth: failures only below 0.6 tokens per parameter (40% of the runs there).
    A decision on a plan at 0.1 tokens per parameter counts that 40% chance of failing, one at
    20 next to none, and a budget's chance counts the rate at each draw's own optimal split
    (about 20 for this law), which ``fail_p`` at the sweep's median would not say.  Before,
    every plan got the rate at the runs' median tokens per parameter."""
    from bayescale.decisions import budget_for, design_runs, loss_draws, prob_target
    from bayescale.laws import get_law
    from bayescale.posterior.result import PosteriorDraws

    f = _tpp_sweep("edge", 0)
    fr = f.frozen(S, np.random.default_rng(3))
    arrays = {k: v for k, v in _draws().items() if not k.startswith("fail")}
    arrays.update(sigma=np.full(S, 0.001), fail_p=fr.p(), fail_size=fr.fail_size)
    d = PosteriorDraws(arrays, law=get_law("chinchilla"), failures=fr)
    plain = dict(d)                                   # the median rate for every plan, as before
    truth = f.rate_at(tpp=[0.1, 20.0])
    assert truth[0] > 0.3 and truth[1] < 0.001
    hoffmann = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    plans = [(1e10, 1e9), (7e10, 1.4e12)]            # 0.1 and 20 tokens per parameter
    for (n, dd), rate in zip(plans, truth, strict=True):
        law_loss = get_law("chinchilla").loss(hoffmann, N=n, D=dd)
        target = float(law_loss) * 1.02                # the law meets it; a failed run does not
        p = prob_target(d, target, plan=(n, dd))
        assert p == pytest.approx(1.0 - rate, abs=0.02), (n, dd, p, rate)
        sim = loss_draws(d, n, dd, rng=0)                       # the same, simulated
        assert np.mean(sim > target) == pytest.approx(rate, abs=0.02)
        assert loss_draws(d, [n, n], [dd, dd], rng=0).shape == (S, 2)
        assert prob_target(plain, target, plan=(n, dd)) == pytest.approx(
            1.0 - fr.p().mean(), abs=0.02)
    vec = prob_target(d, 2.0, plan=(np.array([1e10, 7e10]), np.array([1e9, 1.4e12])))
    assert vec.shape == (2,)
    # a budget: each draw's optimum is near 20 tokens per parameter, where none fail
    c = 5.88e23
    assert prob_target(d, 2.0, budgets=c) == pytest.approx(1.0, abs=0.005)
    c90 = budget_for(d, 2.0, prob=0.9)
    assert prob_target(d, 2.0, budgets=c90) == pytest.approx(0.9, abs=0.01)
    # the same frozen draws read anywhere: fail_p is the curve at the runs' median
    assert np.array_equal(fr.p(), fr.p(np.full((S, 1), f._typical_tpp()))[:, 0])
    # a design's pilot candidates: each fails at its own tokens per parameter
    cands = pd.DataFrame({"N": [1e8, 1e8], "D": [1e7, 2e9]})           # 0.1 and 20
    res = design_runs(d, cands, pilot=1e19, budget=c, n_outcomes=8, max_draws=1000, seed=0)
    assert res.settings["fail_p"] == pytest.approx(np.mean(truth), abs=0.03)
    flat = design_runs(plain, cands, pilot=1e19, budget=c, n_outcomes=8, max_draws=1000, seed=0)
    assert flat.settings["fail_p"] == pytest.approx(fr.p().mean(), abs=0.002)


def _over_trained_failures(above=40.0):
    """Frozen failures of a sweep where 40% of the runs above ``above`` tokens per parameter
    fail by 0.1-0.4 in log loss, none below."""
    rng = np.random.default_rng(4)
    tpp = np.exp(rng.uniform(np.log(0.5), np.log(1000), 300))
    fail = rng.uniform(size=300) < np.where(tpp > above, 0.4, 0.0)
    r = rng.normal(0, 0.01, 300) + np.where(fail, rng.uniform(0.1, 0.4, 300), 0.0)
    f = RunFailures.from_residuals(r).with_tokens_per_param(tpp)
    assert f.tpp_weight > 0.9
    return f.frozen(S, np.random.default_rng(3))


def test_budget_for_finds_the_first_budget_when_failures_make_the_chance_fall():
    """Known truth: runs above 300 tokens per parameter fail (40%).  With Hoffmann et al.'s
    law the compute-optimal split grows with the budget (C^0.097: 98 at 1e24 FLOPs, 370 at
    1e30), so P(loss <= 2) rises to 1 and then falls.  budget_for scans for the first budget
    that meets 0.9 (a bisection from the top of the bracket called it unreachable), and says
    where the chance is capped when no budget meets it."""
    from bayescale.decisions import budget_for, prob_target
    from bayescale.laws import get_law
    from bayescale.posterior.result import PosteriorDraws

    fr = _over_trained_failures(above=300.0)
    arrays = {k: v for k, v in _draws().items() if not k.startswith("fail")}
    arrays.update(sigma=np.full(S, 0.001), fail_p=fr.p(), fail_size=fr.fail_size)
    d = PosteriorDraws(arrays, law=get_law("chinchilla"), failures=fr)
    p = prob_target(d, 2.0, budgets=[1e24, 1e33])
    assert p[0] > 0.99 and p[1] < 0.8, p
    c = budget_for(d, 2.0, prob=0.9)
    assert 1e22 < c < 1e24 and prob_target(d, 2.0, budgets=c) >= 0.9
    assert c == pytest.approx(budget_for(dict(d), 2.0, prob=0.9), rel=1e-3)  # none fail there
    with pytest.raises(ValueError, match=r"at any budget up to 1e\+40 FLOPs: .* fails .* with "
                                         r"probability 0\.[3-5]\d* there"):
        budget_for(d, 1.72, prob=0.9)


def test_a_risk_averse_split_avoids_the_tokens_per_param_where_runs_fail():
    """Known truth: 40% of the runs above 40 tokens per parameter fail by 0.1-0.4 in log loss,
    none below.  With noise the risk-averse split at a budget whose optimum lies up there
    moves below 40 tokens per parameter, where none fail; with the rate at the runs' median
    (a plain dict of the draws: the same chance at every split) it stays at the optimum."""
    from bayescale.decisions import risk_averse
    from bayescale.laws import get_law
    from bayescale.posterior.result import PosteriorDraws

    fr = _over_trained_failures()
    # a law whose compute-optimal split is 60 tokens per parameter ((B / A)^(1 / 0.34))
    arrays = dict(E=np.full(S, 1.69), A=np.full(S, 406.4), B=np.full(S, 1634.0),
                  alpha=np.full(S, 0.34), beta=np.full(S, 0.34), sigma=np.full(S, 0.001),
                  fail_p=fr.p(), fail_size=fr.fail_size)
    d = PosteriorDraws(arrays, law=get_law("chinchilla"), failures=fr)
    kw = dict(utility="cvar", level=0.9, noise=True, seed=0, law="chinchilla")
    law_only = risk_averse(dict(d), 1e21, **{**kw, "noise": False})
    assert law_only.tokens_per_param == pytest.approx(60, rel=0.05)
    median = risk_averse(dict(d), 1e21, **kw)
    own = risk_averse(d, 1e21, **kw)
    assert median.tokens_per_param == pytest.approx(law_only.tokens_per_param, rel=0.05)
    assert own.tokens_per_param < 40 < median.tokens_per_param, (own, median)
