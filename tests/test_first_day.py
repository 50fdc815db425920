"""Issue 14 items 5-8: what a first day with bayescale tripped over.

Claims (real sampler where a statistical claim is made):

- ``compare`` flags laws whose elpd is not to be trusted (failed diagnostics; ``p_loo`` far above
  the free parameters: a Student-t fit dominated by 10 corrupted runs out of 40), and says which
  ranking answers an extrapolation question when LOO and a backtest disagree;
- ``allocate`` flags an allocation whose tokens per parameter lies outside the runs' ``D / N``
  (a law fitted to runs like the misfitting sweep's recommends ~0.1 tokens per parameter at
  1e22 FLOPs, from runs spanning 2-200) or whose ``N*`` is > 100x the largest model; the CLI
  and the risk report show the flag;
- ``bayescale predict`` reads points from CSV / Parquet, writes CSV / Parquet atomically, and
  with C alone predicts at each draw's compute-optimal split (never worse than any fixed split);
- saved fits carry a ``posterior_predictive`` group (95% intervals cover ~95% of the runs), it
  round-trips, ArviZ's PPC plot works on the reloaded tree, and ``fit.plot()`` draws the fit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.decisions.api import predict_optimal
from bayescale.posterior.result import ScalingFit
from conftest import simulate_runs

pytestmark = pytest.mark.slow

KW = dict(draws=200, tune=200, progressbar=False, prior_draws=0, warn=False)
#: A law like the one fitted to the misfitting sweep: a small parameter exponent and a large
#: data exponent put the compute-optimal split at ~0.1 tokens per parameter at 1e22 FLOPs.
MISFIT_LIKE = dict(E=1.5, A=26.0, B=2.1e6, alpha=0.15, beta=0.715)


def _copy(fit) -> ScalingFit:
    """A fit sharing nothing mutable with the session fixture, as it was before any save.

    Saving adds a posterior_predictive group to the tree, and other test modules save the
    session fixture, so the copy drops that group whatever ran before.
    """
    tree = fit.tree.copy()
    if "posterior_predictive" in tree.children:
        del tree["posterior_predictive"]
    return ScalingFit(tree, fit.spec, fit.runs, fit.reference, fit.diagnostics, fit.meta)


@pytest.fixture(scope="module")
def misfit_like():
    runs = simulate_runs("chinchilla", MISFIT_LIKE, seed=0)
    return bs.fit(runs, "chinchilla", seed=0, **KW)


@pytest.fixture(scope="module")
def misfit_like_path(misfit_like, tmp_path_factory):
    return misfit_like.save(tmp_path_factory.mktemp("fits") / "misfit_like.nc")


# --------------------------------------------------------------------------- item 5: compare
def test_compare_flags_p_loo_far_above_the_parameters_and_failed_fits():
    runs = simulate_runs("chinchilla", {"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.348,
                                        "beta": 0.366}, seed=0, sigma=0.002)
    corrupted = np.random.default_rng(1).choice(len(runs), 10, replace=False)
    runs.loc[corrupted, "loss"] *= 1.15  # 10 of 40 runs 15% off the law
    fits = {lik: bs.fit(runs, "chinchilla", likelihood=lik, seed=0, **KW)
            for lik in ("normal", "student_t")}
    cmp = bs.compare(fits)
    t = cmp.table
    # the Student-t fit explains the corrupted runs as outliers, nu at its bound: each of them
    # moves the posterior, p_loo ~ 20 for 7 free parameters (measured 19.8; normal: 5.3)
    assert t.loc["student_t", "p"] > 1.5 * 7
    assert "p_loo" in t.loc["student_t", "warning"]
    assert t.loc["normal", "p"] < 1.5 * 6
    assert "p_loo" not in t.loc["normal", "warning"]
    for name, f in fits.items():
        assert ("diagnostics failed" in t.loc[name, "warning"]) == (not f.diagnostics.ok)
    text = str(cmp)
    assert "warning" in text and "'student_t' has p_loo = " in text and "misspecified" in text


def test_compare_names_a_fit_that_failed_its_diagnostics(chinchilla_fit):
    bad = _copy(chinchilla_fit)
    bad.diagnostics = replace(bad.diagnostics, problems=["R-hat 1.2 for 'alpha' exceeds 1.01"])
    assert not bad.diagnostics.ok
    cmp = bs.compare({"good": chinchilla_fit, "bad": bad})
    assert cmp.table.loc["bad", "warning"] == "diagnostics failed"
    assert cmp.table.loc["good", "warning"] == ""
    assert "'bad' failed its sampling diagnostics (R-hat 1.2 for 'alpha'" in str(cmp)


def _fake_backtest(runs: pd.DataFrame, better: str, worse: str) -> pd.DataFrame:
    rows = []
    for cut in (1e20, 1e21):
        for i in runs.index[:5]:
            rows += [{"law": better, "cutoff": cut, "run": i, "lpd": 2.0},
                     {"law": worse, "cutoff": cut, "run": i, "lpd": 1.0},
                     {"law": f"{better}+disc", "cutoff": cut, "run": i, "lpd": 9.0}]
    return pd.DataFrame(rows)


def test_compare_with_a_backtest_says_which_ranking_answers_extrapolation(chinchilla_fit):
    fits = {"a": chinchilla_fit, "b": _copy(chinchilla_fit)}
    loo_order = list(bs.compare(fits).table.index)
    # the backtest prefers LOO's second law: they disagree
    cmp = bs.compare(fits, backtest=_fake_backtest(chinchilla_fit.runs, *loo_order[::-1]))
    assert cmp.table.loc[loo_order[1], "backtest_rank"] == 0
    assert cmp.table.loc[loo_order[0], "backtest_elpd"] == pytest.approx(10.0)
    assert list(cmp.backtest["n"]) == [10, 10]  # the '+disc' rows are not one of the fits
    text = str(cmp)
    assert "disagree" in text and "extrapolation" in text and "go by the backtest" in text
    # ... and agree
    cmp = bs.compare(fits, backtest=_fake_backtest(chinchilla_fit.runs, *loo_order))
    assert "ranks the laws as LOO does" in str(cmp) and "disagree" not in str(cmp)
    with pytest.raises(ValueError, match="label the fits as the backtest's laws"):
        bs.compare(fits, backtest=_fake_backtest(chinchilla_fit.runs, "x", "y"))


# --------------------------------------------------------------------------- item 6: allocate
def test_allocation_outside_the_runs_is_flagged(misfit_like):
    tab = bs.allocate(misfit_like, [1e18, 1e22], ci=(0.95,))
    per_budget = tab.groupby("budget")["flag"].agg(set)
    assert all(len(flags) == 1 for flags in per_budget)  # one flag per budget, on every row
    tpp = tab[tab["quantity"] == "tokens_per_param"].set_index("budget")
    ratio = misfit_like.runs["D"] / misfit_like.runs["N"]
    # inside the runs at 1e18 FLOPs (~46 tokens per parameter) ...
    assert ratio.min() < tpp.loc[1e18, "lo_95"] < tpp.loc[1e18, "hi_95"] < ratio.max()
    assert tpp.loc[1e18, "flag"] == ""
    # ... far below them at 1e22 (the true optimum is 0.11; the runs span 2 to 200)
    assert tpp.loc[1e22, "hi_95"] < ratio.min()
    assert tpp.loc[1e22, "flag"].startswith("tokens per parameter 0.1")
    assert "lies outside the runs' range 2 to 200" in tpp.loc[1e22, "flag"]


def test_allocation_far_beyond_the_largest_model_is_flagged(chinchilla_fit):
    tab = bs.allocate(chinchilla_fit, [5.76e23, 1e30])
    flags = tab.groupby("budget")["flag"].first()
    assert flags[5.76e23] == ""  # Gopher's budget: ~20-30 tokens per parameter, inside the runs
    n_max = chinchilla_fit.runs["N"].max()
    n_star = tab[(tab["quantity"] == "N") & (tab["budget"] == 1e30)]["median"].item()
    assert n_star > 100 * n_max
    assert "N* = " in flags[1e30] and "the largest N in the runs (16.2B)" in flags[1e30]
    assert "D* = " in flags[1e30]


def test_cli_allocate_and_report_show_the_flag(misfit_like, misfit_like_path, capsys):
    assert main(["allocate", str(misfit_like_path), "--budget", "1e18,1e22", "--ci", "0.95"]) == 0
    out = capsys.readouterr().out
    assert "flag" not in out.splitlines()[0]  # the table itself stays narrow
    flagged = [line for line in out.splitlines() if line.startswith("flag:")]
    assert len(flagged) == 1 and flagged[0].startswith("flag: at 1e+22 FLOPs tokens per parameter")
    from bayescale.report import build_report

    doc = build_report(misfit_like, budgets=[1e18, 1e22], loo=False)
    warnings = next(b for b in doc.blocks if getattr(b, "kind", "") == "warnings").items
    mine = [w for w in warnings if w.startswith("Allocation outside the runs")]
    assert len(mine) == 1 and "at 1e22 FLOPs tokens per parameter 0.1" in mine[0]


# --------------------------------------------------------------------------- item 7: predict
def test_predict_optimal_is_never_worse_than_a_fixed_split(chinchilla_fit):
    c = 5.76e23
    # the posterior's own law: the extrapolation discrepancy (on by default in both) adds the
    # same deviation to any split of one budget, tests/test_discrepancy_decisions.py
    opt = predict_optimal(chinchilla_fit, c, ci=(0.95,), discrepancy=False)
    n_med = opt["N"].item()
    fixed = chinchilla_fit.predict(N=n_med, D=c / (6 * n_med), ci=(0.95,),
                                   discrepancy=False).table
    # each draw's own optimum is at or below its loss at any one split, so every quantile is
    for col in ("lo_95", "median", "hi_95"):
        assert opt[col].item() <= fixed[col].item() + 1e-12
    assert opt["median"].item() == pytest.approx(fixed["median"].item(), rel=5e-3)
    noisy = predict_optimal(chinchilla_fit, c, ci=(0.95,), noise=True, discrepancy=False)
    assert noisy["hi_95"].item() - noisy["lo_95"].item() > opt["hi_95"].item() - opt["lo_95"].item()
    assert noisy["median"].item() == pytest.approx(opt["median"].item(), rel=0.01)


def test_cli_predict_points_files_and_c_alone(misfit_like, misfit_like_path, tmp_path, capsys):
    fit_path = str(misfit_like_path)
    budgets = tmp_path / "budgets.csv"
    pd.DataFrame({"name": ["small", "large"], "C": [1e18, 1e22]}).to_csv(budgets, index=False)
    out = tmp_path / "pred" / "optimal.parquet"
    assert main(["predict", fit_path, "--points", str(budgets), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compute-optimal split" in printed and "flag: at C = 1e+22 FLOPs" in printed
    got = pd.read_parquet(out)
    assert list(got["name"]) == ["small", "large"]
    assert {"C", "N", "D", "tokens_per_param", "median", "lo_95", "hi_95", "flag"} <= set(got)
    expect = predict_optimal(misfit_like, [1e18, 1e22])
    np.testing.assert_allclose(got["median"], expect["median"], rtol=1e-12)
    assert sorted(p.name for p in out.parent.iterdir()) == ["optimal.parquet"]  # no temp files
    # --C alone on the command line (it failed before: 'needs N and D')
    assert main(["predict", fit_path, "--C", "1e18", "--noise"]) == 0
    assert "a new run's loss" in capsys.readouterr().out
    # N and D from a Parquet file, a new run's loss, to CSV
    points = tmp_path / "points.parquet"
    pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "run": ["a", "b"]}).to_parquet(points)
    csv = tmp_path / "pred.csv"
    assert main(["predict", fit_path, "--points", str(points), "--noise", "--out", str(csv),
                 "--seed", "4"]) == 0
    got = pd.read_csv(csv)
    expect = misfit_like.predict(N=[1e8, 1e9], D=[2e9, 2e10], noise=True, seed=4).table
    assert list(got["run"]) == ["a", "b"]
    np.testing.assert_allclose(got["hi_95"], expect["hi_95"], rtol=1e-9)


def test_cli_predict_errors_name_the_fix(misfit_like_path, tmp_path, capsys):
    fit_path = str(misfit_like_path)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"params": [1e9], "tokens": [2e10]}).to_csv(bad, index=False)
    assert main(["predict", fit_path, "--points", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "needs N and D" in err and "'params'" in err and "Traceback" not in err
    bad.write_text("N,D\n1e9,2e10\n1.3B,2e10\n")
    assert main(["predict", fit_path, "--points", str(bad)]) == 2
    assert "column 'N' must hold positive numbers, but rows 1" in capsys.readouterr().err
    assert main(["predict", fit_path, "--C", "1e20", "--out", str(tmp_path / "x.xlsx")]) == 2
    assert "give a .csv or .parquet file" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()
    assert main(["predict", fit_path, "--C", "1e20", "--points", str(bad)]) == 2
    assert "not both" in capsys.readouterr().err


# --------------------------------------------------------------------------- item 8: PPC
def test_saved_fit_has_posterior_predictive_for_arviz(chinchilla_fit, tmp_path):
    import arviz as az
    import matplotlib.pyplot as plt
    import xarray as xr

    fit = _copy(chinchilla_fit)
    assert "posterior_predictive" not in fit.tree.children
    path = fit.save(tmp_path / "fit.nc")
    loaded = bs.load_fit(path)
    pp = loaded.tree["posterior_predictive"]["log_loss"]
    ll = loaded.tree["log_likelihood"]["log_loss"]
    assert pp.dims == ll.dims and pp.shape == ll.shape
    np.testing.assert_array_equal(pp, fit.tree["posterior_predictive"]["log_loss"])
    # replicated runs look like the observed ones: 95% intervals cover about 95% of the runs
    draws = np.asarray(pp).reshape(-1, pp.shape[-1])
    y = np.asarray(loaded.tree["observed_data"]["log_loss"])
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    assert 0.9 <= np.mean((lo <= y) & (y <= hi)) <= 0.995
    # arviz 1.x's predictive checks work on the reloaded tree
    pc = az.plot_ppc_dist(loaded.tree)
    pc.savefig(tmp_path / "ppc.png")
    assert (tmp_path / "ppc.png").stat().st_size > 1000
    plt.close("all")
    # a file saved before fits carried the group gets one on load
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    del tree["posterior_predictive"]
    old = tmp_path / "old.nc"
    tree.to_netcdf(old, engine="h5netcdf")
    assert "posterior_predictive" in bs.load_fit(old).tree.children
    # fit.plot() is the fit figure
    fig = loaded.plot(extend=1.0)
    assert fig.axes and "chinchilla law" in fig.axes[0].get_title()
    plt.close(fig)
