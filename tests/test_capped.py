"""Allocation under a unique-token cap (data-constrained law): known truth and a real fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayescale.decisions import compute_optimal
from bayescale.decisions._common import DecisionError
from bayescale.decisions.capped import allocate_capped, capped_optimal
from bayescale.laws import get_law

# The numpy cores are exercised here through their former names too: deprecated aliases of
# the one public name per decision, same numbers (tests/test_names.py checks that they warn).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

C4 = {"E": 1.869, "A": 520.8, "B": 1487.7, "alpha": 0.3527, "beta": 0.3527,
      "R_D_star": 15.39, "R_N_star": 5.31}
LAW = get_law("datablations")


def brute_force(params, c, u_cap, grid_n):
    """The case study's recipe on a very fine grid: D = C / 6N, U = min(D, U_cap), argmin."""
    d = c / (6 * grid_n)
    capped = LAW.loss(params, N=grid_n, D=d, U=np.minimum(d, u_cap))
    free = LAW.loss(params, N=grid_n, D=d, U=d)
    return grid_n[capped.argmin()], capped.min(), grid_n[free.argmin()], free.min()


@pytest.mark.parametrize("c,u_cap", [(1e21, 2e10), (1e22, 2e10), (1e23, 1e11), (1e22, 1e9)])
def test_matches_a_fine_brute_force_grid(c, u_cap):
    grid_n = np.geomspace(1e6, 1e14, 400_001)  # 4.6e-5 e-folds apart
    n_cap, l_cap, n_free, l_free = brute_force(C4, c, u_cap, grid_n)
    out = capped_optimal(C4, c, u_cap)
    assert out["N"][0, 0] == pytest.approx(n_cap, rel=1e-4)
    assert out["loss"][0, 0] == pytest.approx(l_cap, rel=1e-9)
    assert out["loss"][0, 0] <= l_cap * (1 + 1e-12)  # never worse than the grid
    assert out["N_free"][0, 0] == pytest.approx(n_free, rel=1e-4)
    assert out["loss_free"][0, 0] == pytest.approx(l_free, rel=1e-9)
    assert out["D"][0, 0] * out["N"][0, 0] * 6 == pytest.approx(c, rel=1e-10)
    assert out["epochs"][0, 0] == pytest.approx(max(out["D"][0, 0] / u_cap, 1.0))
    assert out["at_edge"][0, 0] == 0


def test_uncapped_optimum_is_the_chinchilla_closed_form():
    chin = {k: C4[k] for k in ("E", "A", "B", "alpha", "beta")}
    budgets = np.array([1e19, 1e21, 5.76e23])
    closed = compute_optimal(chin, budgets, law="chinchilla")
    out = capped_optimal(C4, budgets, 1e15)  # a cap far above any D: never binds
    np.testing.assert_allclose(out["N_free"][0], closed["N"][0], rtol=1e-6)
    np.testing.assert_allclose(out["loss_free"][0], closed["loss"][0], rtol=1e-9)
    np.testing.assert_allclose(out["N"][0], out["N_free"][0], rtol=1e-6)
    np.testing.assert_allclose(out["cap_cost"][0], 0.0, atol=1e-12)
    assert (out["binding"][0] == 0).all() and (out["epochs"][0] == 1).all()


def test_tighter_caps_cost_more_and_repeat_more():
    caps = np.array([1e12, 1e11, 3e10, 1e10, 3e9, 1e9])
    out = capped_optimal(C4, np.full(caps.size, 1e22), caps)
    cost, epochs = out["cap_cost"][0], out["epochs"][0]
    assert np.all(np.diff(cost) >= -1e-12) and cost[-1] > 0.05
    assert np.all(np.diff(epochs) >= -1e-9) and epochs[0] == 1 and epochs[-1] > 20
    assert out["binding"][0].tolist() == [0, 1, 1, 1, 1, 1]  # D_free(1e22) = 1.8e11


def test_vectorised_over_draws_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    draws = {k: v * np.exp(0.05 * rng.standard_normal(6)) for k, v in C4.items()}
    out = capped_optimal(draws, [1e21, 1e22], [1e10, 2e10])
    for s in range(6):
        one = capped_optimal({k: v[s] for k, v in draws.items()}, [1e21, 1e22], [1e10, 2e10])
        for q in ("N", "loss", "N_free", "cap_cost"):
            np.testing.assert_allclose(out[q][s], one[q][0], rtol=1e-10)


@pytest.mark.parametrize("kwargs,match", [
    ({"budgets": -1.0}, "budgets must be positive"),
    ({"unique_tokens": 0.0}, "unique_tokens must be positive"),
    ({"unique_tokens": [1e9, 2e9, 3e9]}, r"one per budget \(2\); got 3"),
    ({"n_grid": 5}, "n_grid must be an integer >= 21; got 5"),
    ({"span": 0.1}, "span must be between"),
    ({"law": "chinchilla"}, "law='chinchilla' has inputs"),
])
def test_errors_name_the_value(kwargs, match):
    args = {"budgets": [1e21, 1e22], "unique_tokens": 1e10, **kwargs}
    law = args.pop("law", "datablations")
    draws = C4 if law == "datablations" else {k: C4[k] for k in ("E", "A", "B", "alpha", "beta")}
    with pytest.raises(DecisionError, match=match):
        capped_optimal(draws, args["budgets"], args["unique_tokens"], law=law,
                       **{k: v for k, v in args.items() if k in ("n_grid", "span")})


# ---------------------------------------------------------------------------- a real small fit
@pytest.fixture(scope="module")
def datablations_fit():
    import bayescale as bs

    runs = bs.datasets.load("datablations", main_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, "datablations", draws=200, tune=300, seed=3, progressbar=False,
                      prior_draws=0, warn=False, retry=False)


def test_real_fit_matches_the_case_study_recipe(datablations_fit):
    """The case study's brute force (300-point grid, 1e8..1e11) on the fit's own draws."""
    from bayescale.decisions.api import decision_draws

    c, u_max = 1e22, 2e10
    res = allocate_capped(datablations_fit, [1e21, c], unique_tokens=u_max, ci=(0.5, 0.95))
    post = decision_draws(datablations_fit)
    nat = {k: post[k][:, None] for k in LAW.natural}
    grid_n = np.geomspace(1e8, 1e11, 300)
    grid_d = c / (6 * grid_n)
    capped = LAW.loss(nat, N=grid_n[None, :], D=grid_d[None, :],
                      U=np.minimum(grid_d, u_max)[None, :])
    free = LAW.loss(nat, N=grid_n[None, :], D=grid_d[None, :], U=grid_d[None, :])
    n_cap, n_free = grid_n[capped.argmin(1)], grid_n[free.argmin(1)]
    inside = (n_cap > grid_n[0]) & (n_cap < grid_n[-1]) & (n_free < grid_n[-1])
    got = res.draws["N"][:, 1]
    # per draw within the grid's resolution (2.3% in N); the exact optimum is never worse
    assert np.all(np.abs(np.log(got[inside] / n_cap[inside])) < 0.025)
    assert np.all(res.draws["loss"][:, 1] <= capped.min(1) * (1 + 1e-12))
    np.testing.assert_allclose(np.median(res.draws["N_free"][:, 1]), np.median(n_free),
                               rtol=0.03)
    # the case study's checks: more than one epoch, and a model no larger than uncapped
    assert res.row(c, "epochs")["median"] > 1
    assert res.row(c, "N")["median"] <= res.row(c, "N_free")["median"]
    assert res.row(c, "cap_cost")["lo_95"] >= 0
    assert set(res.table["quantity"]) >= {"N", "D", "epochs", "loss", "N_free", "loss_free",
                                          "cap_cost", "binding", "plan_loss"}
    assert list(res.plan.columns) == ["budget", "unique_tokens", "N", "D", "epochs",
                                      "p_binding"]
    # the loss of the one plan a team would train is no lower than each draw's own optimum
    assert np.all(res.draws["plan_loss"] >= res.draws["loss"] * (1 - 1e-12))
    text = str(res)
    assert "unique tokens" in text and "e+" not in text and "1e22 FLOPs" in text


def test_fit_errors(datablations_fit, chinchilla_fit):
    with pytest.raises(DecisionError, match="needs a data-constrained law"):
        allocate_capped(chinchilla_fit, 1e22, 2e10)
    with pytest.raises(DecisionError, match="ci levels must be in"):
        allocate_capped(datablations_fit, 1e22, 2e10, ci=95)
    with pytest.raises(DecisionError, match="has no groups"):
        allocate_capped(datablations_fit, 1e22, 2e10, group="g01")


def test_cli_allocates_under_a_cap_and_the_report_says_what_to_use(datablations_fit, tmp_path,
                                                                   capsys):
    """``bayescale allocate FIT --unique-tokens U`` prints the capped plan of a saved
    data-constrained fit; ``bayescale report`` with that law stops before fitting and says
    what to run instead (it cannot plan a budget for a law that also reads U)."""
    from bayescale.cli import main

    path = datablations_fit.save(tmp_path / "db.nc")
    assert main(["allocate", str(path), "--budget", "1e22", "--unique-tokens", "2e10"]) == 0
    out = capsys.readouterr().out
    want = allocate_capped(datablations_fit, 1e22, 2e10).row(1e22, "epochs")["median"]
    assert "epochs" in out and f"{want:.3g}"[:3] in out
    csv = tmp_path / "runs.csv"
    csv.write_text("N,D,U,loss\n1e8,2e9,1e9,3.1\n")
    assert main(["report", str(csv), "--law", "datablations", "--budget", "1e22",
                 "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "--unique-tokens" in err and "'U'" in err and "sampling" not in err
