"""Chunked grid predictions agree with ScalingFit.predict and give sensible allocation regret."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.decisions.grid import regret_grid
from bayescale.posterior.grid import predict_grid

# The numpy cores are exercised here through their former names too: deprecated aliases of
# the one public name per decision, same numbers (tests/test_names.py checks that they warn).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N_AXIS = np.logspace(8, 11, 7)
D_AXIS = np.logspace(9, 12.5, 5)


@pytest.mark.slow
@pytest.mark.parametrize("max_bytes", [1, 10**9])  # one point per chunk, and one chunk
def test_predict_grid_matches_predict(chinchilla_fit, max_bytes):
    table = predict_grid(chinchilla_fit, N_AXIS, D_AXIS, max_bytes=max_bytes)
    n, d = np.meshgrid(N_AXIS, D_AXIS, indexing="ij")
    # the extrapolation discrepancy is on by default in both, frozen once for the whole grid
    ref = chinchilla_fit.predict(N=n.ravel(), D=d.ravel()).table
    assert len(table) == N_AXIS.size * D_AXIS.size
    cols = ["N", "D", "extrapolation", "decades_C", "tokens_per_param", "decades_tpp", "mean",
            "median", "lo_95", "hi_95"]
    pd.testing.assert_frame_equal(table[cols], ref[cols], check_exact=False, rtol=1e-12)
    assert np.allclose(table["C"], 6 * table["N"] * table["D"])


@pytest.mark.slow
def test_regret_grid_is_zero_on_the_optimal_frontier(chinchilla_fit):
    from bayescale.decisions import compute_optimal

    draws = chinchilla_fit.draws()
    budgets = np.array([1e21, 1e23])
    med = {k: np.median(v)[None] for k, v in draws.items()}  # one plan: the median law's optimum
    opt = compute_optimal(med, budgets)
    n_opt, d_opt = opt["N"][0], opt["D"][0]
    diagonal = [0, 3]  # grid points (n_opt[i], d_opt[i]) of the 2 x 2 grids, N varying slowest
    on = regret_grid(chinchilla_fit, n_opt, d_opt).iloc[diagonal]
    off = regret_grid(chinchilla_fit, n_opt * 30, d_opt / 30).iloc[diagonal]  # 30x too big
    assert np.allclose(on["C"], budgets) and np.allclose(off["C"], budgets)
    assert (on["expected_regret"] >= -1e-9).all() and (off["expected_regret"] >= -1e-9).all()
    assert on["expected_regret"].max() < 0.005 < off["expected_regret"].min()
    assert (on["p_near_optimal"] > 0.9).all()
    # a model 30x larger than optimal: almost every draw says the optimal N is smaller
    assert (off["p_optimal_side"] < 0.05).all()


@pytest.mark.slow
def test_grid_rejects_bad_axes(chinchilla_fit):
    with pytest.raises(ValueError, match="N must be"):
        predict_grid(chinchilla_fit, [], [1e9])
    with pytest.raises(ValueError, match="D must be"):
        regret_grid(chinchilla_fit, [1e9], [-1.0])
    with pytest.raises(ValueError, match="max_bytes"):
        predict_grid(chinchilla_fit, [1e9], [1e10], max_bytes=0)
