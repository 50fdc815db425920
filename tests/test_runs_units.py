"""Unit mistakes and perplexity in a runs table (issue 14, items 1 and 2).

Tokens in billions, parameters in millions, FLOPs in units of 1e21 and perplexity instead of
nats all pass every type check; the validator stops them with one message naming the column and
the likely factor, and lets genuine unusual data through on request (check_units=False,
loss_is=...).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TRUTH, simulate_runs

import bayescale as bs
from bayescale import DataWarning, RunsTableError
from bayescale.data.runs import validate_runs

MISFITTING = Path("/work/shared/data/misfitting/scaling_results_last_ckpt_only.csv")


def grid(n_sizes: int = 4, n_ratios: int = 3) -> pd.DataFrame:
    """Chinchilla-like runs: N 1e8-1e10, 5-100 tokens per parameter, C = 6 N D."""
    N = np.repeat(np.geomspace(1e8, 1e10, n_sizes), n_ratios)
    D = N * np.tile(np.geomspace(5.0, 100.0, n_ratios), n_sizes)
    loss = bs.get_law("chinchilla").loss(TRUTH["chinchilla"], N=N, D=D)
    return pd.DataFrame({"N": N, "D": D, "C": 6.0 * N * D, "loss": loss})


def error(fn, *args, **kwargs) -> str:
    """The message of the RunsTableError fn raises, with no warning before it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RunsTableError) as info:
            fn(*args, **kwargs)
    assert not caught, [str(w.message) for w in caught]
    return str(info.value)


def quiet(fn, *args, **kwargs) -> pd.DataFrame:
    """Call fn; fail on any warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


# ---------------------------------------------------------------------------- N and D magnitudes
def test_tokens_in_billions_name_the_column_and_the_factor():
    raw = grid().drop(columns="C").assign(D=lambda d: d["D"] / 1e9)
    msg = error(validate_runs, raw)
    assert msg.startswith("column 'D' looks like billions of tokens, not a count (median ")
    assert "multiply it by 1e9 (runs['D'] * 1e9)" in msg and "check_units=False" in msg


def test_tokens_in_millions_caught_by_the_tokens_per_parameter_ratio():
    # D / 1e6 >= 1e4 tokens in every run, so only the median D/N (~5e-5) gives it away
    N = np.repeat([1e9, 3e9, 1e10], 3)
    raw = pd.DataFrame({"N": N, "D": N * np.tile([20.0, 50.0, 100.0], 3) / 1e6,
                        "loss": np.linspace(2.6, 2.0, 9)})
    msg = error(validate_runs, raw)
    assert "column 'D' looks like millions of tokens" in msg
    assert "tokens per parameter" in msg and "runs['D'] * 1e6" in msg


@pytest.mark.parametrize(("factor", "word"), [(1e6, "millions"), (1e9, "billions")])
def test_parameters_in_millions_or_billions(factor, word):
    raw = grid().drop(columns="C").assign(N=lambda d: d["N"] / factor)
    msg = error(validate_runs, raw)
    assert msg.startswith(f"column 'N' looks like {word} of parameters")
    assert f"runs['N'] * {factor:.0e}".replace("e+0", "e") in msg


def test_large_models_in_millions_of_parameters_caught_by_the_ratio():
    N = np.array([1e10, 3e10, 7e10, 1e11])
    raw = pd.DataFrame({"N": N / 1e6, "D": 20 * N, "loss": [2.3, 2.2, 2.1, 2.0]})
    msg = error(validate_runs, raw)
    assert "column 'N' looks like millions of parameters" in msg and "20 is compute-optimal" in msg


def test_some_rows_in_other_units_are_named():
    raw = grid().drop(columns="C")
    raw.loc[[4, 7], "D"] /= 1e9
    msg = error(validate_runs, raw)
    assert "column 'D' looks like billions of tokens" in msg and "rows 4, 7 hold" in msg


def test_mapped_column_is_named_in_the_users_words():
    raw = grid().drop(columns="C").rename(columns={"D": "tokens_b"})
    raw["tokens_b"] /= 1e9
    msg = error(validate_runs, raw, columns={"tokens_b": "D"})
    assert "column 'D' (your 'tokens_b')" in msg and "runs['tokens_b'] * 1e9" in msg


def test_tiny_models_warn():
    raw = grid().drop(columns="C")
    raw.loc[0, ["N", "D"]] = [5e4, 1e6]
    with pytest.warns(DataWarning, match=r"row 0 of column 'N' holds 5e4, fewer parameters"):
        validate_runs(raw)


def test_one_row_far_off_in_tokens_per_parameter_warns():
    raw = grid().drop(columns="C")
    raw.loc[0, "D"] = raw.loc[0, "N"] * 1e7  # 1e7 tokens per parameter
    with pytest.warns(DataWarning, match=r"row 0 has 1e7 tokens per parameter \(D / N\), outside "
                                         r"0.001 to 1e6 while the median is 22"):
        validate_runs(raw)


# ---------------------------------------------------------------------------- C
def test_flops_in_units_of_1e21():
    raw = grid().assign(C=lambda d: d["C"] / 1e21)
    msg = error(validate_runs, raw)
    assert msg.startswith("column 'C' is 1e-21 times C = 6 N D")
    assert "units of 1e21 FLOPs" in msg and "runs['C'] * 1e21" in msg and "flops=" in msg


def test_flops_in_petaflop_days():
    raw = grid().assign(C=lambda d: d["C"] / 8.64e19)
    assert "petaflop/s-days" in error(validate_runs, raw)


def test_derived_tokens_blame_the_flops_column():
    raw = grid().drop(columns="D").assign(C=lambda d: d["C"] / 1e18)
    msg = error(validate_runs, raw)
    assert msg.startswith("column 'C' looks like units of 1e18 FLOPs, not FLOPs")
    assert "runs['C'] * 1e18" in msg


def test_a_user_flop_formula_is_respected():
    def flops(N, D):
        return 100.0 * N * D  # far from 6 N D, but it is the user's convention

    raw = grid().assign(C=lambda d: 100.0 * d["N"] * d["D"])
    assert "column 'C' is 16.7 times C = 6 N D" in error(validate_runs, raw)
    out = quiet(validate_runs, raw, flops=flops)
    assert out.attrs["flops"] == "flops"
    assert "1e-21 times C = 100 N D" in error(validate_runs, raw.assign(C=raw["C"] / 1e21),
                                              flops=100.0)


def test_flops_with_other_k_within_the_plausible_band_only_warn():
    raw = grid().assign(C=lambda d: 8.0 * d["N"] * d["D"])  # 8 N D read against 6 N D
    with pytest.warns(DataWarning, match="C disagrees with C = 6 N D by more than 5%"):
        validate_runs(raw)
    quiet(validate_runs, raw, flops=8.0)


def test_consistency_check_off_skips_the_flops_unit_check():
    quiet(validate_runs, grid().assign(C=lambda d: d["C"] / 1e21), check_consistency=False)


def test_compute_only_tables_in_large_units():
    raw = pd.DataFrame({"C": [1.0, 10.0, 100.0], "loss": [3.0, 2.8, 2.6]})
    msg = error(validate_runs, raw, require=("C", "loss"))
    assert "column 'C' holds 1, 10, 100" in msg and "1e21" in msg
    quiet(validate_runs, raw.assign(C=raw["C"] * 1e21), require=("C", "loss"))


# ---------------------------------------------------------------------------- the escape
def test_check_units_false_lets_unusual_data_through_and_is_remembered():
    raw = grid().drop(columns="C").assign(N=lambda d: d["N"] / 1e6)
    out = quiet(validate_runs, raw, check_units=False)
    assert out.attrs["check_units"] is False
    quiet(validate_runs, out)  # what bayescale.fit does with the table: no error again
    assert "check_units" not in validate_runs(grid()).attrs


# ---------------------------------------------------------------------------- real data passes
@pytest.mark.parametrize(("name", "options", "kwargs"), [
    ("chinchilla", {}, {}),
    ("datablations", {"main_only": True}, {"require": ("N", "D", "U", "loss")}),
    ("gadre_small", {"validation": "all"}, {"groups": ("dataset", "validation")}),
    ("porian", {"val": None}, {"groups": ("dataset", "setup")}),
    # the authors' optima: D only approximately C / (6 N) (a 5% warning of its own)
    ("porian_optima", {"val": None}, {"groups": ("dataset", "setup"),
                                      "check_consistency": False}),
])
def test_bundled_datasets_pass_the_unit_checks(name, options, kwargs):
    runs = bs.datasets.load(name, **options)
    out = quiet(validate_runs, runs, **kwargs)
    assert len(out) == len(runs)


def test_bundled_obsscaling_passes_the_unit_checks():
    obs = bs.datasets.load("obsscaling").dropna(subset=["D"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_runs(obs, require=("N", "D", "C"))
    # several models share a reported (N, D): that duplicate note is all
    assert [str(w.message) for w in caught if "repeat" not in str(w.message)] == []


def test_synthetic_test_runs_pass():
    for law, truth in TRUTH.items():
        quiet(validate_runs, simulate_runs(law, truth, seed=0))


@pytest.mark.skipif(not MISFITTING.exists(), reason="misfitting runs not available")
def test_misfitting_runs_pass_the_unit_checks():
    raw = pd.read_csv(MISFITTING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = validate_runs(raw)
    assert len(out) == len(raw)
    assert not [w for w in caught if "check_units" in str(w.message)]
    assert "billions of tokens" in error(validate_runs, raw.assign(D=raw["D"] / 1e9))


# ---------------------------------------------------------------------------- perplexity
def test_perplexity_values_stop_with_one_message():
    raw = grid().assign(loss=lambda d: np.exp(d["loss"]))
    msg = error(validate_runs, raw)
    assert msg.startswith("the loss column 'loss' looks like perplexity (a median of ")
    assert "loss_is='perplexity'" in msg and "numpy.log(runs['loss'])" in msg


def test_a_column_named_ppl_gets_one_message_not_two():
    raw = grid().assign(ppl=lambda d: np.exp(d["loss"])).drop(columns="loss")
    msg = error(validate_runs, raw, columns={"ppl": "loss"})  # error() fails on any warning
    assert "(its name 'ppl' and a median of" in msg


def test_a_perplexity_name_alone_is_enough():
    raw = grid().rename(columns={"loss": "eval_ppl"})  # values are nats, name says perplexity
    msg = error(validate_runs, raw, columns={"eval_ppl": "loss"})
    assert "(its name 'eval_ppl')" in msg and "loss_is='nats'" in msg
    out = quiet(validate_runs, raw, columns={"eval_ppl": "loss"}, loss_is="nats")
    np.testing.assert_allclose(out["loss"], raw["eval_ppl"])


def test_log_perplexity_is_nats():
    quiet(validate_runs, grid().rename(columns={"loss": "log_ppl"}), columns={"log_ppl": "loss"})


def test_loss_is_perplexity_takes_the_log_once():
    raw = grid()
    ppl = raw.assign(ppl=np.exp(raw["loss"])).drop(columns="loss")
    out = quiet(validate_runs, ppl, columns={"ppl": "loss"}, loss_is="perplexity")
    np.testing.assert_allclose(out["loss"], raw["loss"], rtol=1e-12)
    assert out.attrs["loss_is"] == "nats"
    again = quiet(validate_runs, out)  # bayescale.fit validates again: no second log
    np.testing.assert_allclose(again["loss"], raw["loss"], rtol=1e-12)


def test_loss_is_perplexity_below_one_is_an_error():
    raw = grid()
    msg = error(validate_runs, raw.assign(loss=0.5), loss_is="perplexity")
    assert "below 1, which no perplexity can be" in msg and "rows 0, 1, 2" in msg


def test_loss_is_bits_converts_and_does_not_warn():
    raw = grid()
    bits = raw.assign(val_bpt=raw["loss"] / math.log(2)).drop(columns="loss")
    out = quiet(validate_runs, bits, columns={"val_bpt": "loss"}, loss_is="bits")
    np.testing.assert_allclose(out["loss"], raw["loss"], rtol=1e-12)
    with pytest.warns(DataWarning, match=r"looks like bits.*loss_is='bits'"):
        validate_runs(bits, columns={"val_bpt": "loss"})


def test_loss_is_nats_accepts_high_losses():
    raw = grid().assign(loss=lambda d: d["loss"] + 11.0)
    error(validate_runs, raw)
    quiet(validate_runs, raw, loss_is="nats")


def test_loss_is_unknown_value():
    msg = error(validate_runs, grid(), loss_is="ppl")
    assert "loss_is must be one of ['nats', 'perplexity', 'bits']" in msg and "'ppl'" in msg


def test_missing_loss_with_a_perplexity_column_suggests_the_option():
    raw = grid().assign(ppl=lambda d: np.exp(d["loss"])).drop(columns="loss")
    msg = error(validate_runs, raw)
    assert "did you mean 'ppl'? pass columns={'ppl': 'loss'} and loss_is='perplexity')" in msg
