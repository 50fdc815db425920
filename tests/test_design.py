"""Pilot-run design (bayescale.next_runs): preposterior importance sampling, greedy batches.

Fast tests check the machinery on hand-made draws (a conjugate case where the answer is known
in closed form, an uninformative candidate, budgets, errors).  The slow tests use the real
sampler: the known-truth check (simulate from a known Chinchilla law, design a batch, "train"
it from the truth, refit, and compare the realised narrowing of N*'s interval with a random
batch of the same cost), a hierarchical fit, and the command line.  The fuller comparison
(more seeds, the largest-runs baseline, real Chinchilla runs by hindsight) is
benchmarks/design_bench.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from bayescale.decisions import DecisionError, compute_optimal
from bayescale.decisions.design import DesignResult, design_runs

# The numpy cores are exercised here through their former names too: deprecated aliases of
# the one public name per decision, same numbers (tests/test_names.py checks that they warn).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TRUTH = {"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
BUDGET = 5.76e23


def jittered(s: int = 1000, seed: int = 0, sd: float = 0.02, sigma: float = 0.01) -> dict:
    """Draws around TRUTH: every parameter log-normal with relative sd ``sd``."""
    rng = np.random.default_rng(seed)
    out = {k: v * np.exp(sd * rng.standard_normal(s)) for k, v in TRUTH.items()}
    out["sigma"] = np.full(s, sigma)
    return out


def alpha_draws(s: int = 1000, seed: int = 2, sigma: float = 0.01) -> dict:
    """Only A and alpha uncertain (the parameter-count term): small runs pin them down."""
    out = jittered(s, sd=0.0, sigma=sigma)
    rng = np.random.default_rng(seed)
    out["A"] = TRUTH["A"] * np.exp(0.2 * rng.standard_normal(s))
    out["alpha"] = TRUTH["alpha"] * np.exp(0.03 * rng.standard_normal(s))
    return out


CANDS = pd.DataFrame({"N": [3e7, 1e8, 3e8, 1e9, 3e9], "D": [6e8, 2e9, 6e9, 2e10, 6e10]})


# --------------------------------------------------------------------------- fast: machinery
def test_batch_within_pilot_with_positive_reduction_and_ess():
    res = design_runs(alpha_draws(), CANDS, pilot=1e20, budget=BUDGET, n_outcomes=64, seed=1)
    assert isinstance(res, DesignResult)
    assert res.expected_reduction > 0
    assert 0 < res.spent <= 1e20
    assert res.table["flops"].sum() == pytest.approx(res.spent)
    assert (res.table["flops"].cumsum() <= 1e20 * (1 + 1e-9)).all()
    assert list(res.table["run"]) == list(range(1, len(res.table) + 1))
    for col in ("N", "D", "flops", "expected_reduction", "per_flop", "cumulative_reduction",
                "ess", "degenerate", "regret_reduction"):
        assert col in res.table
    assert (res.table["ess"] > 0).all() and (res.table["ess"] <= 1000).all()
    # the cumulative reduction is the sum of the steps' reductions
    assert res.table["cumulative_reduction"].iloc[-1] == pytest.approx(
        res.table["expected_reduction"].sum())
    assert res.current_spread - res.expected_spread == pytest.approx(
        res.table["cumulative_reduction"].iloc[-1])
    # every candidate valued on its own; the chosen ones numbered in order
    assert len(res.candidates) == len(CANDS)
    assert sorted(res.candidates.loc[res.candidates["chosen"] > 0, "chosen"]) == list(
        range(1, len(res.table) + 1))
    text = str(res)
    assert "log N* at 5.76e23 FLOPs" in text and "ESS" in text


def test_conjugate_case_matches_closed_form():
    """Only E uncertain, Normal noise, the candidate *is* the planned run: the posterior of the
    (nearly linear) log loss is Normal-Normal, so its sd shrinks by 1/sqrt(1 + tau^2/sigma^2)."""
    rng = np.random.default_rng(3)
    s = 4000
    draws = {k: np.full(s, v) for k, v in TRUTH.items()}
    draws["E"] = TRUTH["E"] + 0.03 * rng.standard_normal(s)
    plan = (1e9, 2e10)
    from bayescale.laws import get_law

    log_l = np.log(get_law("chinchilla").loss(draws, N=plan[0], D=plan[1]))
    tau = float(np.std(log_l))
    draws["sigma"] = np.full(s, tau)  # as noisy as the prior is wide: sd shrinks by sqrt(2)
    res = design_runs(draws, pd.DataFrame({"N": [plan[0]], "D": [plan[1]]}), pilot=None,
                      decision="forecast", plan=plan, spread="sd", fixed=True,
                      n_outcomes=256, max_draws=s, seed=5)
    assert res.current_spread == pytest.approx(tau, rel=1e-6)
    assert res.expected_spread == pytest.approx(tau / math.sqrt(2.0), rel=0.05)


def test_uninformative_candidate_has_no_value_and_is_not_chosen():
    """Only A and alpha uncertain: a run at an enormous N sees no A / alpha term, so it says
    nothing about N*; a run at a small N says a lot."""
    base = alpha_draws()
    cands = pd.DataFrame({"N": [1e8, 1e20], "D": [2e9, 1e9]})
    res = design_runs(base, cands, pilot=1e30, budget=BUDGET, n_outcomes=64, seed=0)
    useless = res.candidates.iloc[1]
    assert abs(useless["expected_reduction"]) < 5e-3 * res.current_spread
    assert res.candidates.iloc[0]["expected_reduction"] > 0.05 * res.current_spread
    assert useless["chosen"] == 0
    assert list(res.table["N"]) == [1e8]
    assert any("no further affordable candidate" in n for n in res.notes)


def test_noisier_runs_are_worth_less():
    quiet = design_runs(alpha_draws(sigma=0.005), CANDS, pilot=None, budget=BUDGET, fixed=True,
                        n_outcomes=64, seed=4)
    noisy = design_runs(alpha_draws(sigma=0.05), CANDS, pilot=None, budget=BUDGET, fixed=True,
                        n_outcomes=64, seed=4)
    assert quiet.expected_reduction > noisy.expected_reduction > -0.01


def test_a_pilot_that_may_fail_is_worth_less_by_its_chance_of_failing():
    """A fit whose runs failed: each simulated pilot fails with the draws' fail_p and then
    tells nothing, so a candidate's expected reduction falls by about that chance (exactly in
    expectation; 256 paths here), a certain failure is worth nothing and is not chosen, and a
    zero chance changes nothing at all."""
    base = alpha_draws()
    plain = design_runs(base, CANDS, pilot=None, budget=BUDGET, fixed=True, n_outcomes=256,
                        seed=4)
    assert not any("fails" in n for n in plain.notes) and "fail_p" not in plain.settings
    s = base["sigma"].size

    def with_failures(p: float):
        draws = {**base, "fail_p": np.full(s, p), "fail_size": np.full(s, 0.5)}
        return design_runs(draws, CANDS, pilot=None, budget=BUDGET, fixed=True,
                           n_outcomes=256, seed=4)

    zero = with_failures(0.0)
    np.testing.assert_array_equal(zero.candidates["expected_reduction"],
                                  plain.candidates["expected_reduction"])
    half = with_failures(0.5)
    ratio = half.candidates["expected_reduction"] / plain.candidates["expected_reduction"]
    assert ratio.between(0.35, 0.65).all(), ratio.tolist()
    # the batch of five loses less: its runs are partly redundant, so the ones that succeed
    # still tell most of it
    assert 0.5 * plain.expected_reduction < half.expected_reduction < plain.expected_reduction
    assert half.settings["fail_p"] == pytest.approx(0.5)
    assert any("fails as some of the fit's runs did, with probability 50%" in n
               for n in half.notes)
    doomed = design_runs({**base, "fail_p": np.ones(s), "fail_size": np.full(s, 0.5)}, CANDS,
                         pilot=1e21, budget=BUDGET, n_outcomes=64, seed=4)
    assert (doomed.candidates["expected_reduction"] == 0).all() and doomed.table.empty


def test_max_runs_prob_target_and_forecast():
    d = alpha_draws()
    res = design_runs(d, CANDS, pilot=1e21, budget=BUDGET, max_runs=1, n_outcomes=32)
    assert len(res.table) == 1 and any("max_runs=1" in n for n in res.notes)
    res = design_runs(d, CANDS, pilot=1e21, decision="prob_target", budget=BUDGET,
                      target=2.0, spread="sd", n_outcomes=32)
    assert "P(loss <= 2" in res.quantity and "regret_reduction" not in res.table
    assert res.current_regret is None
    res = design_runs(d, CANDS, pilot=1e21, decision="forecast", plan=(7e10, 1.4e12),
                      spread="ci80", n_outcomes=32)
    assert "70B" in res.quantity and res.current_spread > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"decision": "allocation"}, "needs budget="),
    ({"decision": "prob_target", "budget": BUDGET}, "needs target="),
    ({"decision": "forecast"}, "needs plan="),
    ({"decision": "oracle", "budget": BUDGET}, "decision must be one of"),
    ({"budget": BUDGET, "spread": "iqr"}, "spread must be one of"),
    ({"budget": BUDGET, "pilot": -1.0}, "pilot must be positive"),
    ({"budget": BUDGET, "pilot": None}, "pilot= .* is required"),
    ({"budget": BUDGET, "n_outcomes": 3}, "n_outcomes must be an integer >= 8"),
])
def test_errors_name_the_argument(kwargs, match):
    kw = {"pilot": 1e21, **kwargs}
    with pytest.raises(DecisionError, match=match):
        design_runs(jittered(), CANDS, **kw)


def test_bad_candidates_and_missing_noise():
    with pytest.raises(DecisionError, match="two of the columns N, D, C"):
        design_runs(jittered(), pd.DataFrame({"N": [1e9]}), pilot=1e21, budget=BUDGET)
    with pytest.raises(DecisionError, match=r"column 'D' must hold positive numbers; row 1"):
        design_runs(jittered(), pd.DataFrame({"N": [1e9, 1e9], "D": [1e10, -1.0]}), pilot=1e21,
                    budget=BUDGET)
    no_noise = {k: v for k, v in jittered().items() if k != "sigma"}
    with pytest.raises(DecisionError, match="draws need 'sigma'"):
        design_runs(no_noise, CANDS, pilot=1e21, budget=BUDGET)
    # C instead of D: the same runs
    by_c = CANDS.assign(C=6 * CANDS["N"] * CANDS["D"]).drop(columns="D")
    a = design_runs(alpha_draws(), CANDS, pilot=1e20, budget=BUDGET, n_outcomes=32)
    b = design_runs(alpha_draws(), by_c, pilot=1e20, budget=BUDGET, n_outcomes=32)
    np.testing.assert_allclose(a.candidates["D"], b.candidates["D"], rtol=1e-12)
    assert a.expected_reduction == pytest.approx(b.expected_reduction)


# --------------------------------------------------------------------------- slow: real fits
SEEDS = (0, 1, 2)
PILOT = 1e20
FIT = dict(draws=400, tune=400, progressbar=False, prior_draws=0, warn=False)


def _simulate(n, d, rng, sigma=0.01) -> pd.DataFrame:
    from bayescale.laws import get_law

    loss = get_law("chinchilla").loss(TRUTH, N=n, D=d) * np.exp(
        sigma * rng.standard_normal(np.size(n)))
    return pd.DataFrame({"N": n, "D": d, "C": 6 * n * d, "loss": loss})


def _width(fit) -> float:
    lo, hi = np.quantile(np.log(compute_optimal(fit.draws(), BUDGET)["N"][:, 0]), [0.025, 0.975])
    return float(hi - lo)


def _fit(runs, seed):
    import bayescale as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, "chinchilla", seed=seed, **FIT)


@pytest.fixture(scope="module")
def truth_trials(tmp_path_factory):
    """Per seed: fit small runs of the known law, design a batch, train it and a random batch
    of the same cost from the truth, refit both.  The conftest grid restricted to N <= 2e8."""
    import bayescale as bs
    from conftest import simulate_runs

    trials = []
    for seed in SEEDS:
        runs = simulate_runs("chinchilla", TRUTH, seed=seed)
        runs = runs[runs["N"] <= 2e8].reset_index(drop=True)
        fit0 = _fit(runs, seed)
        res = bs.next_runs(fit0, BUDGET, pilot=PILOT, n_outcomes=64, max_draws=600, seed=seed)
        cands = res.candidates
        rng = np.random.default_rng(100 + seed)
        picked, spent = [], 0.0
        for j in rng.permutation(len(cands)):  # random runs while they fit in the same FLOPs
            if spent + cands["flops"].iloc[j] <= res.spent:
                picked.append(j)
                spent += cands["flops"].iloc[j]
        random_batch = cands.iloc[picked]
        out = {"seed": seed, "fit0": fit0, "res": res, "w0": _width(fit0),
               "random_flops": spent}
        for name, batch in (("design", res.table), ("random", random_batch)):
            new = _simulate(batch["N"].to_numpy(), batch["D"].to_numpy(),
                            np.random.default_rng(200 + seed))
            out[name] = out["w0"] - _width(_fit(pd.concat([runs, new], ignore_index=True), seed))
        trials.append(out)
    trials[0]["path"] = trials[0]["fit0"].save(tmp_path_factory.mktemp("design") / "fit.nc")
    return trials


@pytest.mark.slow
def test_known_truth_design_beats_random_runs_of_equal_cost(truth_trials):
    for t in truth_trials:
        res = t["res"]
        assert res.expected_reduction > 0
        assert 0 < res.spent <= PILOT
        assert (res.table["ess"] > 0).all() and "ess" in res.candidates
        assert t["random_flops"] <= res.spent
    design = np.mean([t["design"] for t in truth_trials])
    random = np.mean([t["random"] for t in truth_trials])
    # averaged over seeds, the designed batch narrows the 95% interval of log N* at least as
    # much as random runs of the same cost (benchmarks/design_bench.py, 5 seeds: 1.50 against
    # 0.91 e-folds, the largest affordable runs 0.74)
    assert design >= random - 0.05, (design, random)
    assert design > 0


@pytest.mark.slow
def test_plot_and_cli(truth_trials, tmp_path, capsys):
    import matplotlib.pyplot as plt

    from bayescale.cli import main
    from bayescale.plots import plot_design

    t = truth_trials[0]
    fig = plot_design(t["fit0"], t["res"])
    assert fig.axes and fig.axes[0].get_xscale() == "log"
    plt.close(fig)
    out, plot = tmp_path / "cands.csv", tmp_path / "design.png"
    code = main(["design", str(t["path"]), "--budget", "5.76e23", "--pilot", "1e19",
                 "--outcomes", "32", "--max-draws", "400", "--out", str(out), "--plot",
                 str(plot)])
    assert code == 0
    text = capsys.readouterr().out
    assert "log N* at 5.76e23 FLOPs" in text and "per FLOP" in text
    table = pd.read_csv(out)
    assert {"N", "D", "flops", "expected_reduction", "per_flop", "ess", "chosen"} <= set(table)
    assert (table["flops"] <= 1e19 * (1 + 1e-9)).all()
    assert plot.stat().st_size > 0
    # the decision needs a budget: one sentence, exit status 2
    assert main(["design", str(t["path"]), "--pilot", "1e19"]) == 2
    assert "needs budget=" in capsys.readouterr().err


@pytest.mark.slow
def test_hierarchical_fit_names_the_group_a_run_teaches_most():
    import bayescale as bs
    from bayescale.data.synthetic import simulate_hierarchy

    sim = simulate_hierarchy(3, n_sizes=4, n_ratios=3, seed=3)
    runs = sim.runs
    thin = runs[runs["family"] == "g02"].nsmallest(4, "C")  # a thin group: 4 small runs
    runs = pd.concat([runs[runs["family"] != "g02"], thin], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hfit = bs.fit(runs, "chinchilla", groups=["family"], seed=0, target_accept=0.95,
                      draws=200, tune=300, progressbar=False, prior_draws=0, warn=False,
                      retry=False)
    res = bs.next_runs(hfit, 1e21, pilot=1e18, max_runs=3, n_outcomes=32, max_draws=400)
    assert set(res.candidates["group"]) == {"g00", "g01", "g02"}
    assert set(res.table["group"]) <= {"g00", "g01", "g02"}
    assert res.spent <= 1e18 and res.expected_reduction > 0
    assert list(res.by_group.columns[:2]) == ["group", "n_candidates"]
    assert set(res.by_group["group"]) == {"g00", "g01", "g02"}
    assert set(res.by_group["most_narrowed"]) <= {"g00", "g01", "g02"}
    assert "Per group" in str(res)
    one = bs.next_runs(hfit, 1e21, pilot=1e18, group="g02", max_runs=1, n_outcomes=32,
                       max_draws=400)
    assert "for group 'g02'" in one.quantity
    with pytest.raises(DecisionError, match="need a 'group' column"):
        bs.next_runs(hfit, 1e21, pilot=1e18, candidates=pd.DataFrame({"N": [1e7], "D": [1e8]}))
    with pytest.raises(DecisionError, match="not a group of this fit"):
        bs.next_runs(hfit, 1e21, pilot=1e18, group="g09")


# --------------------------------------------------------------------------- fixed cost per run
def test_fixed_run_cost_counts_against_the_pilot_and_the_value_per_flop():
    free = design_runs(alpha_draws(), CANDS, pilot=1e20, budget=BUDGET, n_outcomes=64, seed=1)
    assert (free.table["cost"] == free.table["flops"]).all()
    cost = 2e19
    res = design_runs(alpha_draws(), CANDS, pilot=1e20, budget=BUDGET, n_outcomes=64, seed=1,
                      run_cost=cost)
    tab = res.table
    assert not tab.empty and res.settings["run_cost"] == cost
    np.testing.assert_allclose(tab["cost"], tab["flops"] + cost)
    assert res.spent == pytest.approx(tab["cost"].sum()) and res.spent <= 1e20 * (1 + 1e-9)
    np.testing.assert_allclose(tab["per_flop"], tab["expected_reduction"] / tab["cost"])
    np.testing.assert_allclose(res.candidates["per_flop"],
                               res.candidates["expected_reduction"] / res.candidates["cost"])
    # a fixed cost per run buys fewer runs: at most floor(pilot / run_cost)
    assert len(tab) <= min(len(free.table), 5)
    # the candidates' own values do not depend on what the runs cost
    np.testing.assert_allclose(res.candidates["expected_reduction"],
                               free.candidates["expected_reduction"])


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "big"])
def test_run_cost_errors_name_the_value(bad):
    with pytest.raises(DecisionError, match=r"run_cost must be a number of FLOPs >= 0 "
                                            r"\(a fixed cost per run\); got"):
        design_runs(alpha_draws(), CANDS, pilot=1e20, budget=BUDGET, n_outcomes=16,
                    run_cost=bad)


def test_run_cost_and_refit_arguments_on_a_fit(chinchilla_fit):
    import bayescale as bs

    with pytest.raises(DecisionError, match="run_cost=1e21 FLOPs is not below the pilot"):
        bs.next_runs(chinchilla_fit, BUDGET, pilot=1e21, run_cost=1e21)
    with pytest.raises(DecisionError, match="refit must be a number of refits >= 0"):
        bs.next_runs(chinchilla_fit, BUDGET, pilot=1e21, refit=-1)
    res = bs.next_runs(chinchilla_fit, BUDGET, pilot=1e21, run_cost=1e20, n_outcomes=16,
                       max_draws=200)
    assert (res.candidates["flops"] <= 9e20 * (1 + 1e-9)).all()  # pilot minus the fixed cost
    assert res.spent <= 1e21 * (1 + 1e-9) and (res.table["cost"] >= 1e20).all()
    # two of the bundled runs failed: a pilot may fail too, at the fit's rate at the pilot's
    # own tokens per parameter (the two sit at the lowest, where the law misses a regime)
    f = chinchilla_fit.run_failures()
    assert f.k == 2 and f.by_tpp is not None
    tpp = (res.candidates["D"] / res.candidates["N"]).to_numpy()
    assert res.settings["fail_p"] == pytest.approx(np.mean(f.rate_at(tpp=tpp)), rel=0.25)
    assert tpp.min() < 1.0 and f.rate_at(tpp=[tpp.min()])[0] > 10 * f.rate  # not the median's
    assert any("a pilot run fails as some of the fit's runs did" in n for n in res.notes)


# --------------------------------------------------------------------------- refit where degenerate
def test_refit_revalues_the_runs_whose_weights_degenerate(chinchilla_fit):
    """A demanding ess_min makes the batch degenerate from its second run; refit=2 re-values
    runs 2.. from two real NUTS refits with run 1 added (outcome simulated), fresh weights."""
    import bayescale as bs

    kw = dict(pilot=1e21, n_outcomes=32, max_draws=200, ess_min=170, max_runs=3, seed=0)
    plain = bs.next_runs(chinchilla_fit, BUDGET, **kw)
    assert plain.table["degenerate"].any() and not plain.table["refit"].any()
    j = int(plain.table.loc[plain.table["degenerate"], "run"].iloc[0])
    if j == 1:
        pytest.skip("the first run already degenerates for this posterior: nothing to refit on")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bs.next_runs(chinchilla_fit, BUDGET, refit=2, **kw)
    tab = res.table
    # the same runs, re-valued from run j on
    np.testing.assert_allclose(tab["N"], plain.table["N"])
    assert list(tab["refit"]) == [r >= j for r in tab["run"]]
    before = tab["run"] < j
    np.testing.assert_allclose(tab.loc[before, "expected_spread"],
                               plain.table.loc[before, "expected_spread"])
    after = ~before
    # fresh weights: each refitted posterior starts from its own draws, so the ESS of the later
    # runs is of the order of what importance sampling through the earlier runs left, not the
    # collapse chaining would continue (both are Monte Carlo estimates from 200 draws)
    assert (tab.loc[after, "ess"] >= 0.8 * plain.table.loc[after, "ess"]).all()
    assert np.isfinite(tab.loc[after, ["expected_reduction", "se", "expected_spread"]]).all(
        axis=None)
    assert res.expected_spread == pytest.approx(tab["expected_spread"].iloc[-1])
    assert res.current_spread - res.expected_spread == pytest.approx(
        tab["cumulative_reduction"].iloc[-1])
    assert res.settings["refit"] == 2
    assert any("NUTS refit(s)" in n for n in res.notes)
    assert not any(n.startswith("the batch's weights degenerate") for n in res.notes)
