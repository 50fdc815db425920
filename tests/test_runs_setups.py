"""Runs that mix training set-ups, repeated runs, the envelope, warnings once per table, and
numeric group labels (issue 12 item 5, issue 14 item 3)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import DataWarning, RunsTableError
from bayescale.data.runs import MixedSetupWarning, check_design, envelope, validate_runs
from conftest import TRUTH

MISFITTING = Path("/work/shared/data/misfitting/scaling_results_last_ckpt_only.csv")


def sweep(lrs=(1e-3, 2e-3, 4e-3), n_sizes: int = 4, n_ratios: int = 3) -> pd.DataFrame:
    """A learning-rate sweep: every (N, D) trained at each rate, the middle one best."""
    law = bs.get_law("chinchilla")
    rows = []
    for lr in lrs:
        N = np.repeat(np.geomspace(1e8, 1e10, n_sizes), n_ratios)
        D = N * np.tile(np.geomspace(5.0, 100.0, n_ratios), n_sizes)
        penalty = 1.0 + 0.05 * np.log2(lr / 2e-3) ** 2 + 0.01 * np.log2(lr / 2e-3)
        rows.append(pd.DataFrame({"N": N, "D": D, "peak_lr": lr,
                                  "loss": law.loss(TRUTH["chinchilla"], N=N, D=D) * penalty}))
    return pd.concat(rows, ignore_index=True)


def caught(fn, *args, **kwargs) -> tuple[object, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, ws


# ---------------------------------------------------------------------------- mixed set-ups
def test_a_learning_rate_sweep_is_reported_with_both_fits():
    runs = sweep()
    with pytest.warns(MixedSetupWarning) as ws:
        validate_runs(runs)
    assert len(ws) == 1
    msg = str(ws[0].message)
    assert msg.startswith("12 of the 12 (N, D) points hold runs with different losses that "
                          "differ in 'peak_lr' (at 12 points)")
    assert "peak_lr = 0.002, 0.001, 0.004" in msg  # the example, best run first
    assert "envelope(runs, by=['N', 'D'])" in msg and "groups=['peak_lr']" in msg
    assert issubclass(MixedSetupWarning, DataWarning)


def test_grouping_by_the_set_up_column_or_the_envelope_is_quiet():
    runs = sweep()
    validate_runs(runs, groups=["peak_lr"])  # any BayescaleWarning is an error here
    best = envelope(runs)
    assert len(best) == 12 and (best["peak_lr"] == 2e-3).all()
    validate_runs(best)


def test_seed_replicates_and_unlabelled_repeats_are_not_set_ups():
    runs = sweep(lrs=(2e-3, 2e-3))
    runs["loss"] *= np.exp(0.01 * np.random.default_rng(0).standard_normal(len(runs)))
    validate_runs(runs.drop(columns="peak_lr"))  # repeats with nothing to tell them apart
    validate_runs(runs.assign(seed=np.repeat([0, 1], 12)))  # replicates differ only in seed
    validate_runs(runs.assign(run=[f"run-{i}" for i in range(24)]))  # a name per run


def test_measurements_are_not_set_ups():
    runs = sweep(lrs=(2e-3, 2e-3))
    runs["loss"] *= np.exp(0.01 * np.random.default_rng(1).standard_normal(len(runs)))
    runs["val_loss_c4"] = runs["loss"] * 1.1   # another evaluation of the same run
    runs["acc_hellaswag"] = np.round(np.linspace(0.3, 0.5, 24), 1)  # few distinct values
    validate_runs(runs)


def test_data_sets_at_the_same_points_warn_with_one_curve_each_as_the_remedy():
    """Three pretraining sets trained at the same (N, D), as in Gadre et al.'s sweep, fitted
    without groups: one law through all of them describes none.  The remedy is a curve per data
    set, not the best run per point (which would pick a data set per point)."""
    runs = sweep(lrs=(2e-3, 2e-3))
    runs["loss"] *= np.repeat([1.0, 1.04], 12)
    runs["dataset"] = np.repeat(["c4", "rpj"], 12)
    with pytest.warns(MixedSetupWarning, match=r"differ in 'dataset'") as caught:
        validate_runs(runs)
    message = str(caught[0].message)
    assert "mixes data sets" in message and "groups=['dataset']" in message
    assert "envelope" not in message
    validate_runs(runs, groups=["dataset"])  # one curve per data set: nothing to say


def test_unique_tokens_and_epochs_are_design_inputs_not_set_ups():
    runs = sweep(lrs=(2e-3, 2e-3))
    runs["loss"] *= np.repeat([1.0, 1.05], 12)
    runs["U"] = runs["D"] / np.repeat([1.0, 4.0], 12)
    runs["unique_tokens_code"] = np.repeat(["full", "quarter"], 12)
    validate_runs(runs, require=("N", "D", "U", "loss"))
    validate_runs(runs)  # Chinchilla's law ignores U, but the runs are distinct design points


def test_only_laws_of_n_and_d_are_checked():
    runs = sweep().assign(C=lambda d: 6 * d["N"] * d["D"])
    validate_runs(runs, require=("C", "loss"))


def test_several_differing_columns_are_named_most_frequent_first():
    runs = sweep()
    runs["schedule"] = np.where(runs.index % 5 == 0, "cosine", "wsd")
    with pytest.warns(MixedSetupWarning, match=r"differ in 'peak_lr' \(at 12 points\), "
                                                r"'schedule' \(at \d+ points\)"):
        validate_runs(runs)


def test_mixed_set_ups_within_groups_suggest_both_columns():
    runs = pd.concat([sweep().assign(family="a"), sweep().assign(family="b")],
                     ignore_index=True)
    with pytest.warns(MixedSetupWarning) as ws:
        validate_runs(runs, groups=["family"])
    msg = str(ws[0].message)
    assert "(N, D) points within a group (family)" in msg
    assert "envelope(runs, by=['N', 'D', 'family'])" in msg
    assert "groups=['family', 'peak_lr']" in msg


# ---------------------------------------------------------------------------- duplicates
def test_duplicates_name_the_differing_columns_and_a_working_subset():
    runs = sweep(lrs=(2e-3,))
    runs["sweep"] = "2024-11"
    repeat = runs.iloc[[3, 7]].assign(sweep="2025-02")
    raw = pd.concat([runs, repeat], ignore_index=True)
    with pytest.warns(DataWarning) as ws:
        validate_runs(raw)
    msg = str(ws[0].message)
    assert msg.startswith("rows 12, 13 repeat an earlier run's N, D, loss exactly (row 12 "
                          "repeats row 3) but differ in 'sweep'")
    assert "runs.drop_duplicates(subset=['N', 'D', 'loss'])" in msg
    assert len(raw.drop_duplicates(subset=["N", "D", "loss"])) == len(runs)
    assert len(raw.drop_duplicates()) == len(raw)  # what the old hint suggested: drops nothing


def test_duplicate_subset_uses_the_users_column_names():
    runs = sweep(lrs=(2e-3,)).assign(C=lambda d: 6 * d["N"] * d["D"]).drop(columns="D")
    raw = pd.concat([runs, runs.iloc[[0]]], ignore_index=True).rename(columns={"loss": "val"})
    with pytest.warns(DataWarning, match=r"drop_duplicates\(subset=\['N', 'C', 'val'\]\)"):
        validate_runs(raw, columns={"val": "loss"})
    assert len(raw.drop_duplicates(subset=["N", "C", "val"])) == len(runs)


@pytest.mark.skipif(not MISFITTING.exists(), reason="misfitting runs not available")
def test_misfitting_runs_duplicates_and_mixed_learning_rates():
    raw = pd.read_csv(MISFITTING)
    _, ws = caught(validate_runs, raw)
    messages = {w.category: str(w.message) for w in ws}
    assert set(messages) == {DataWarning, MixedSetupWarning}
    dup = messages[DataWarning]
    subset = ["N", "D", "loss"]
    n_dup = int(raw.duplicated(subset=subset).sum())
    assert n_dup == 21 and "and 13 more repeat an earlier run's N, D, loss exactly" in dup
    assert "differ in 'total_epochs', 'current_epoch', 'peak_lr'" in dup
    assert f"runs.drop_duplicates(subset={subset!r})" in dup
    clean = raw.drop_duplicates(subset=subset)
    assert len(clean) == len(raw) - n_dup
    assert "'peak_lr' (at 80 points)" in messages[MixedSetupWarning]
    best = envelope(clean)
    assert len(best) == best[["N", "D"]].drop_duplicates().shape[0] == 81
    validate_runs(best)  # one run per point: nothing left to report


# ---------------------------------------------------------------------------- envelope
def test_envelope_keeps_the_best_run_per_point_in_table_order():
    runs = pd.DataFrame({"N": [1e8, 1e8, 4e8, 4e8, 4e8], "D": [2e9, 2e9, 8e9, 8e9, 8e9],
                         "peak_lr": [1e-3, 2e-3, 1e-3, 2e-3, 4e-3],
                         "loss": [3.3, 3.2, 2.9, np.nan, 2.9]},
                        index=["a", "b", "c", "d", "e"])
    runs.attrs = {"source": "sweep.csv", "notes": "raw."}
    best = envelope(runs)
    assert best.index.tolist() == ["b", "c"]  # ties: the first; a missing loss never wins
    assert best.attrs["source"] == "sweep.csv"
    assert best.attrs["notes"].startswith("raw. envelope: kept the lowest-loss run of each of "
                                          "the 2")


def test_envelope_by_group_and_errors():
    runs = pd.concat([sweep().assign(dataset="c4"), sweep().assign(dataset="rpj")])
    assert len(envelope(runs, by=("N", "D", "dataset"))) == 24
    assert len(envelope(runs, by="N")) == 4
    with pytest.raises(RunsTableError, match=r"envelope needs column \['nope'\]"):
        envelope(runs, by=("N", "nope"))
    with pytest.raises(RunsTableError, match="no numeric values"):
        envelope(runs.assign(loss=np.nan))
    with pytest.raises(RunsTableError, match="DataFrame"):
        envelope([1, 2])
    # a column named twice (found by tests/test_fuzz_runs.py: pandas' "Grouper for 'N' not
    # 1-dimensional" before); a repeated column envelope does not read is no error
    twice = pd.DataFrame([[1e8, 1e8, 3.0], [1e8, 1e8, 2.9]], columns=["N", "N", "loss"])
    with pytest.raises(RunsTableError, match=r"duplicated column names \['N'\]"):
        envelope(twice, by=("N",))
    other = pd.DataFrame([[1e8, 1, 2, 3.0], [1e8, 1, 2, 2.9]], columns=["N", "x", "x", "loss"])
    assert len(envelope(other, by=("N",))) == 1


# ---------------------------------------------------------------------------- once per table
def test_each_warning_is_given_once_per_table():
    runs = sweep()
    _, first = caught(validate_runs, runs)
    assert [w.category for w in first] == [MixedSetupWarning]
    _, again = caught(validate_runs, runs)  # e.g. once per law in bayescale.compare
    assert again == []
    out, _ = caught(validate_runs, runs.copy())  # another table: warned anew
    _, handed_on = caught(validate_runs, out)  # bayescale.fit(validate_runs(runs))
    assert handed_on == []


def test_collinearity_warning_once_per_table():
    N = np.geomspace(1e8, 1e10, 8)
    runs = validate_runs(pd.DataFrame({"N": N, "D": 20 * N, "loss": np.linspace(3.0, 2.5, 8)}))
    law = bs.get_law("chinchilla")
    _, first = caught(check_design, runs, law)
    _, second = caught(check_design, runs, law)
    assert len(first) == 1 and "collinear" in str(first[0].message) and second == []


# ---------------------------------------------------------------------------- numeric groups
def lr_structure():
    from bayescale.modeling.groups import group_structure

    runs = validate_runs(sweep(), groups=["peak_lr"])
    return group_structure(runs, ("peak_lr",))


@pytest.mark.parametrize("request_", [0.002, np.float64(0.002), np.float32(0.002), "2e-3",
                                      np.array(0.002), 2e-3, "0.002", {"peak_lr": 0.002},
                                      {"peak_lr": np.float32(2e-3)}])
def test_numeric_group_requests_match_the_stored_label(request_):
    from bayescale.posterior.hierarchy import _resolve_request

    got = _resolve_request(lr_structure(), request_)
    assert got == ({"peak_lr": "0.002"} if isinstance(request_, dict) else "0.002")


def test_numeric_group_requests_that_match_nothing():
    from bayescale.posterior.hierarchy import _resolve_request

    s = lr_structure()
    assert s.cells == ("0.001", "0.002", "0.004")
    with pytest.raises(ValueError, match=r"group value 0.0021 matches no value of grouping "
                                         r"column 'peak_lr'; its values are \['0.001', '0.002'"):
        _resolve_request(s, 0.0021)
    assert _resolve_request(s, "new") == "new"
    assert _resolve_request(s, {"peak_lr": "new"}) == {"peak_lr": "new"}


def test_integer_labels_match_floats_and_several_columns_need_a_mapping():
    from bayescale.modeling.groups import group_structure
    from bayescale.posterior.hierarchy import _resolve_request

    runs = pd.DataFrame({"seq": ["1024", "2048"] * 2, "lr": ["0.001", "0.001", "0.002", "0.002"]})
    one = group_structure(runs, ("seq",))
    assert _resolve_request(one, 2048.0) == _resolve_request(one, np.int64(2048)) == "2048"
    two = group_structure(runs, ("seq", "lr"))
    assert _resolve_request(two, {"seq": 1024, "lr": 1e-3}) == {"seq": "1024", "lr": "0.001"}
    with pytest.raises(ValueError, match=r"group=1024 is one value, but this fit groups by "
                                         r"\['seq', 'lr'\]; pass a mapping"):
        _resolve_request(two, 1024)


@pytest.mark.slow
def test_predict_with_a_numeric_group_label():
    runs = sweep(lrs=(1e-3, 2e-3, 4e-3), n_sizes=4, n_ratios=3)
    fit = bs.fit(runs, "chinchilla", groups=["peak_lr"], draws=100, tune=100, chains=2, seed=1,
                 progressbar=False, prior_draws=0, warn=False)
    assert fit.groups == ["0.001", "0.002", "0.004"]
    by_label = fit.predict(N=1e9, D=2e10, group="0.002").table
    for request in (0.002, np.float64(0.002), np.float32(0.002), {"peak_lr": 0.002}):
        table = fit.predict(N=1e9, D=2e10, group=request).table
        assert table["median"].tolist() == by_label["median"].tolist(), request
        assert table["group"].tolist() == ["0.002"]
    with pytest.raises(ValueError, match="matches no value of grouping column 'peak_lr'"):
        fit.predict(N=1e9, D=2e10, group=0.003)
