"""The update's likelihood estimate: its fast paths (closed-form 2 x 2 algebra, one inverse
CDF per value of nu, no tokens-per-parameter draws where no run is outside the range) compute
what the plain numpy calls did, and its random numbers are common to every draw."""

import numpy as np
import pandas as pd

from bayescale.modeling.noise import noise_quantile
from bayescale.posterior.discrepancy import (
    _chol_spd,
    _common_student,
    _inv_spd,
    _split_loglik,
    _split_random,
)


def _spd(rng, shape, k):
    a = rng.normal(size=(*shape, k, k))
    return np.eye(k) + a @ np.swapaxes(a, -1, -2)


def test_closed_form_inverse_and_cholesky_match_lapack():
    rng = np.random.default_rng(0)
    for k in (2, 3):
        m = _spd(rng, (50, 7), k)
        np.testing.assert_allclose(_inv_spd(m), np.linalg.inv(m), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(_chol_spd(m), np.linalg.cholesky(m), rtol=1e-12, atol=1e-14)


def test_common_student_one_quantile_per_nu():
    nu = np.array([3.0, np.inf, 3.0, 7.5, np.inf, 2.0])
    q = _split_random(np.random.default_rng(5), 16)["q_t"]
    np.testing.assert_array_equal(_common_student(q, nu), noise_quantile(q[None, :], nu[:, None]))
    # one point per stratum in every coordinate (scrambled Sobol, 16 = 2**4 points)
    from scipy.special import ndtr
    from scipy.stats import chi2

    crn = _split_random(np.random.default_rng(5), 16)
    for u in (crn["q_t"], crn["q_u"], *ndtr(crn["z"]).T, chi2.cdf(crn["g"] * 4.0, 4.0)):
        assert np.array_equal(np.sort(np.floor(u * 16)), np.arange(16))
    # and not a power of 2: still n_t finite draws
    assert np.isfinite(_split_random(np.random.default_rng(5), 24)["z"]).all()


def test_every_chunk_of_draws_shares_the_random_numbers():
    """The same draw gets the same likelihood in every chunk of the update (before, each chunk
    of 1,000 drew its own numbers, and summed over many splits the noise ruled the weights)."""
    rng = np.random.default_rng(3)
    n = 8
    r = pd.DataFrame({"residual": rng.normal(0, 0.03, n), "d_C": np.linspace(0.1, 1.0, n),
                      "d_T": np.r_[np.zeros(n - 2), 0.3, 0.6], "law_1": rng.normal(0, 0.01, n),
                      "law_2": rng.normal(0, 0.004, n), "noise": 0.01, "nu": 3.0})
    crn = _split_random(np.random.default_rng(0), 32)
    one = np.full(5, 1.0)
    a = _split_loglik(r, 0.02 * one, 0.05 * one, 8 * one, -0.01 * one, 32, crn=crn)
    b = _split_loglik(r, 0.02 * one, 0.05 * one, 8 * one, -0.01 * one, 32, crn=crn)
    assert np.ptp(a) == 0 and np.array_equal(a, b)


def test_update_weights_are_not_ruled_by_monte_carlo_noise():
    """Prior draws that are all the same get the same weight, in every chunk of 1,000, however
    many splits there are: the weights vary by the draws' parameters only.  (With random
    numbers of its own per chunk, the same draw's log likelihood varied by 2.4 nats between
    chunks over the 30 splits of a 15-group study: importance ESS 49 of 16,000.)"""
    from bayescale.posterior.discrepancy import Discrepancy, update_discrepancy

    rng = np.random.default_rng(4)
    rows = []
    for k in range(30):
        d = np.linspace(0.2, 1.0, 10)
        rows.append(pd.DataFrame({"split": f"s{k}", "residual": 0.02 * d * rng.standard_t(8)
                                  + rng.normal(0, 0.01, 10), "scale": 0.012, "nu": 8.0,
                                  "law_1": 0.005 * d, "law_2": 0.002 * (d - 0.6),
                                  "noise": 0.01, "d_C": d, "d_T": 0.0}))
    res = pd.concat(rows, ignore_index=True)
    prior = Discrepancy(np.full(3000, 0.02), train_max=1.0, nu=np.full(3000, 8.0))
    post = update_discrepancy(prior, res, n_draws=1000, n_t=32, seed=0)
    assert "ESS 3000 of 3000" in post.source, post.source


def test_split_likelihood_ignores_the_tpp_draws_only_where_every_d_T_is_zero():
    rng = np.random.default_rng(2)
    n = 6
    r = pd.DataFrame({"residual": rng.normal(0, 0.02, n), "d_C": np.linspace(0.1, 0.6, n),
                      "d_T": 0.0, "law_1": rng.normal(0, 0.01, n),
                      "law_2": rng.normal(0, 0.004, n), "noise": 0.01, "nu": 4.0})
    s = 40
    kappa, kappa_tpp = np.linspace(0.005, 0.1, s), np.full(s, 0.2)
    nu, bias = np.full(s, 5.0), np.zeros(s)
    base = _split_loglik(r, kappa, kappa_tpp, nu, bias, 32, np.random.default_rng(1))
    # the tpp scale cannot matter when no run is outside the range
    other = _split_loglik(r, kappa, 10 * kappa_tpp, nu, bias, 32, np.random.default_rng(1))
    np.testing.assert_array_equal(base, other)
    # and it does as soon as one is
    r2 = r.assign(d_T=np.r_[np.zeros(n - 1), 0.5])
    a = _split_loglik(r2, kappa, kappa_tpp, nu, bias, 32, np.random.default_rng(1))
    b = _split_loglik(r2, kappa, 10 * kappa_tpp, nu, bias, 32, np.random.default_rng(1))
    assert np.all(np.isfinite(a)) and not np.allclose(a, b)
    # a higher kappa_tpp explains a large miss at d_T > 0 better
    r3 = r2.assign(residual=np.r_[r2["residual"].to_numpy()[:-1], 0.3])
    lo = _split_loglik(r3, kappa, kappa_tpp * 0.01, nu, bias, 32, np.random.default_rng(1))
    hi = _split_loglik(r3, kappa, kappa_tpp, nu, bias, 32, np.random.default_rng(1))
    assert np.mean(hi > lo) > 0.9
