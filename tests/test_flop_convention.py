"""The FLOP convention is data on the fit (issue 16, item 3): ``fit.flops_per_token``.

Stored as a number in ``fit.meta`` and in the saved file's attributes, loaded back, and the
default of every use of the fit: ``predict`` (C to N or D), the prediction grids and the
decisions.  Before, the decisions recovered it by a regular expression from the runs table's
text ``"C = 6 N D"`` and ``predict`` always took 6.
"""

from __future__ import annotations

import numpy as np
import pytest

import bayescale as bs
from bayescale.posterior.result import flops_per_token_of


@pytest.fixture(scope="module")
def fit8(chinchilla_runs):
    """The Chinchilla runs read with C = 8 N D (C derived from N and D), a small fit."""
    runs = chinchilla_runs[["N", "D", "loss"]]
    return bs.fit(runs, "chinchilla", flops=8, draws=100, tune=200, chains=2, seed=3,
                  progressbar=False, retry=False, warn=False, prior_draws=0)


def test_a_fit_stores_its_convention_and_saving_keeps_it(fit8, chinchilla_fit, tmp_path):
    assert chinchilla_fit.flops_per_token == 6.0
    assert fit8.flops_per_token == 8.0
    assert isinstance(fit8.meta["flops_per_token"], float)
    np.testing.assert_allclose(fit8.runs["C"], 8 * fit8.runs["N"] * fit8.runs["D"])
    back = bs.load_fit(fit8.save(tmp_path / "fit8.nc"))
    assert back.flops_per_token == 8.0 and isinstance(back.meta["flops_per_token"], float)
    six = bs.load_fit(chinchilla_fit.save(tmp_path / "fit6.nc"))
    assert six.flops_per_token == 6.0


def test_a_fit_with_convention_8_predicts_and_decides_with_8(fit8):
    n, c = np.array([1e9, 1e10]), np.array([1e20, 1e22])
    table = fit8.predict(N=n, C=c).table
    np.testing.assert_allclose(table["D"], c / (8 * n))
    same = fit8.predict(N=n, D=c / (8 * n)).table
    np.testing.assert_allclose(table["median"], same["median"])
    assert fit8.predict(N=n, C=c, flops=6).table["D"].iloc[0] == pytest.approx(c[0] / (6 * n[0]))
    opt = bs.allocate(fit8, [1e22], per_draw=True, discrepancy=False)
    np.testing.assert_allclose(8 * opt["N"] * opt["D"], 1e22, rtol=1e-9)
    d = fit8.draws(noise=True)
    assert d.flops_per_token == 8.0
    np.testing.assert_array_equal(bs.prob_target(d, 2.3, budgets=[1e20]),
                                  bs.prob_target(fit8, 2.3, budgets=[1e20], discrepancy=False))
    from bayescale.posterior.grid import predict_grid

    grid = predict_grid(fit8, [1e9], [2e10], discrepancy=False)
    assert grid["C"].iloc[0] == pytest.approx(8 * 1e9 * 2e10)
    with pytest.warns(DeprecationWarning, match="fit.flops_per_token"):
        assert bs.decisions.fit_flops_per_token(fit8) == 8.0


def test_a_file_saved_before_reads_its_convention_from_the_text(fit8, tmp_path):
    """A file written before the number was stored: the runs' "C = 8 N D" text, once, on load."""
    import h5py

    path = fit8.save(tmp_path / "old.nc")
    with h5py.File(path, "a") as f:
        del f.attrs["flops_per_token"]
    back = bs.load_fit(path)
    assert "flops_per_token" in back.meta and back.flops_per_token == 8.0
    assert flops_per_token_of("C = 6 N D") == 6.0
    assert flops_per_token_of("C = 7.5 N D") == 7.5
    assert flops_per_token_of("my_flops") == 6.0
    assert flops_per_token_of(None) == 6.0
