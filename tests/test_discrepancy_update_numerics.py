"""The update's fast paths (closed-form 2 x 2 algebra, one inverse CDF per value of nu, no
tokens-per-parameter draws where no run is outside the range) compute what the plain numpy
calls did, and use up the same random numbers."""

import numpy as np
import pandas as pd

from bayescale.modeling.noise import noise_quantile
from bayescale.posterior.discrepancy import (
    _chol_spd,
    _common_student,
    _inv_spd,
    _split_loglik,
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


def test_common_student_one_quantile_per_nu_and_same_random_numbers():
    nu = np.array([3.0, np.inf, 3.0, 7.5, np.inf, 2.0])
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    t = _common_student(a, nu, 16)
    q = b.permutation((np.arange(16) + b.uniform()) / 16)[None, :]
    np.testing.assert_array_equal(t, noise_quantile(q, nu[:, None]))
    # need=False returns nothing but draws the same numbers: what follows does not move
    c, d = np.random.default_rng(9), np.random.default_rng(9)
    assert _common_student(c, nu, 16, need=False) is None
    _common_student(d, nu, 16)
    assert c.uniform() == d.uniform()


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
