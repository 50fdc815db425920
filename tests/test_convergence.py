"""bayescale.posterior.convergence gives ArviZ's numbers (R-hat, ESS, MCSE, E-BFMI, summary)."""

import arviz as az
import numpy as np
import pytest
import xarray as xr
from scipy.special import ndtri

from bayescale.posterior import convergence as cv


def _chains(kind: str, rng) -> np.ndarray:
    if kind == "autocorrelated":  # a random walk on top of noise: R-hat > 1, low ESS
        return np.cumsum(rng.normal(size=(4, 1000)), axis=1) * 0.05 + rng.normal(size=(4, 1000))
    if kind == "ties":
        return np.round(rng.normal(size=(4, 300)), 1)
    if kind == "heavy":
        return rng.standard_t(2, size=(2, 77))
    if kind == "one chain":
        return rng.normal(size=(1, 200))
    if kind == "constant":
        return np.full((2, 50), 3.0)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["autocorrelated", "ties", "heavy", "one chain", "constant"])
def test_summary_matches_arviz(kind):
    a = _chains(kind, np.random.default_rng(1))
    ds = xr.Dataset({"a": (("chain", "draw"), a),
                     "b": (("chain", "draw", "g"), np.stack([a, a ** 2], -1))},
                    coords={"g": ["u", "v"]})
    ref = az.summary(ds, ci_prob=0.9, ci_kind="eti", round_to="none")
    mine = cv.summary_table(ds, ci=0.9)
    assert list(mine.index) == list(ref.index)
    assert list(mine.columns) == list(ref.columns)
    np.testing.assert_allclose(mine.to_numpy(float), ref.to_numpy(float), rtol=1e-10,
                               atol=1e-12, equal_nan=True)


def test_rhat_ess_bfmi_match_arviz_on_bad_chains():
    rng = np.random.default_rng(3)
    a = _chains("autocorrelated", rng)
    a[0] += 1.0  # one chain elsewhere: R-hat well above 1.01
    ds = xr.Dataset({"a": (("chain", "draw"), a)})
    assert cv.rhat(a) > 1.05
    np.testing.assert_allclose(cv.rhat(a), float(az.rhat(ds)["a"]), rtol=1e-12)
    for method in ("bulk", "tail", "mean"):
        np.testing.assert_allclose(cv.ess(a, method), float(az.ess(ds, method=method)["a"]),
                                   rtol=1e-10)
    tree = az.from_dict({"posterior": {"a": a}, "sample_stats": {"energy": a}})
    np.testing.assert_allclose(cv.bfmi(a), np.asarray(az.bfmi(tree)["energy"]), rtol=1e-12)


def test_normal_quantile_and_fft_length():
    p = np.r_[np.linspace(1e-12, 1 - 1e-12, 20001), 1e-300, 0.02425, 0.5, 1 - 1e-10]
    np.testing.assert_allclose(cv._normal_quantile(p), ndtri(p), rtol=2e-15, atol=2e-15)
    from scipy.fftpack import next_fast_len

    assert all(cv._next_fast_len(n) == next_fast_len(n) for n in range(1, 5000))


def test_errors_and_short_chains():
    assert np.isnan(cv.rhat(np.zeros((1, 100))))  # one chain: no R-hat
    assert np.isnan(cv.ess(np.full((2, 10), np.nan)))
    with pytest.raises(ValueError, match="method"):
        cv.ess(np.zeros((2, 10)), "median")
    with pytest.raises(ValueError, match="shape"):
        cv.rhat(np.zeros((2, 3, 4)))
