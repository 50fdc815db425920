"""Tests for the runs-table schema and its validation (bayescale.data.runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayescale
from bayescale import DataWarning, RunsTableError
from bayescale.data.runs import read_runs, runs_hash, validate_runs


def make_runs(n: int = 4, index=None, **extra) -> pd.DataFrame:
    """A small valid runs table with labelled rows (run-0, run-1, ...)."""
    N = np.geomspace(1e7, 1e9, n)
    D = 20.0 * N
    loss = 1.7 + 400.0 / N**0.34 + 410.0 / D**0.28
    index = [f"run-{i}" for i in range(n)] if index is None else index
    df = pd.DataFrame({"N": N, "D": D, "loss": loss}, index=index)
    for k, v in extra.items():
        df[k] = v
    return df


def raises(match_all: list[str], fn, *args, **kwargs) -> RunsTableError:
    """Call fn, expect a RunsTableError whose message contains every substring in match_all."""
    with pytest.raises(RunsTableError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for part in match_all:
        assert part in msg, f"{part!r} not in error message {msg!r}"
    return info.value


# ---------------------------------------------------------------------------- error types
def test_runs_table_error_is_value_error_and_exported():
    assert issubclass(RunsTableError, ValueError)
    assert issubclass(RunsTableError, bayescale.BayescaleError)
    assert bayescale.validate_runs is validate_runs
    assert bayescale.read_runs is read_runs


# ---------------------------------------------------------------------------- canonical columns
def test_canonical_columns_pass_and_derive_c():
    raw = make_runs(family=["a", "a", "b", "b"])
    out = validate_runs(raw)
    assert out is not raw
    assert list(out.index) == list(raw.index)
    for col in ("N", "D", "loss", "C"):
        assert out[col].dtype == np.float64
    np.testing.assert_allclose(out["C"], 6.0 * raw["N"] * raw["D"], rtol=1e-15)
    assert out.attrs["flops"] == "C = 6 N D"
    assert out["family"].tolist() == ["a", "a", "b", "b"]
    # the input is not modified
    assert "C" not in raw.columns


def test_integer_columns_are_coerced_to_float():
    raw = pd.DataFrame({"N": [10**8, 2 * 10**8], "D": [10**9, 3 * 10**9], "loss": [3, 2]})
    out = validate_runs(raw)
    assert out["N"].dtype == np.float64 and out["loss"].tolist() == [3.0, 2.0]


def test_other_columns_and_attrs_kept():
    raw = make_runs(notes=["x", "y", "z", "w"])
    raw.attrs["source"] = "my export"
    out = validate_runs(raw)
    assert out["notes"].tolist() == ["x", "y", "z", "w"]
    assert out.attrs["source"] == "my export"


# ---------------------------------------------------------------------------- column mapping
def test_column_mapping():
    raw = pd.DataFrame(
        {"params": [1e8, 4e8], "tokens": [2e9, 8e9], "val/loss": [3.2, 2.9]},
        index=["small", "large"],
    )
    out = validate_runs(raw, columns={"params": "N", "tokens": "D", "val/loss": "loss"})
    assert out["N"].tolist() == [1e8, 4e8]
    assert out["D"].tolist() == [2e9, 8e9]
    assert out["loss"].tolist() == [3.2, 2.9]
    assert "params" not in out.columns


def test_column_mapping_from_flops_derives_tokens():
    raw = pd.DataFrame({"params": [1e8, 4e8], "flops": [1.2e18, 9.6e18], "val": [3.2, 2.9]})
    out = validate_runs(raw, columns={"params": "N", "flops": "C", "val": "loss"})
    np.testing.assert_allclose(out["D"], [2e9, 4e9], rtol=1e-15)


def test_column_mapping_misnamed_source_suggests_closest():
    raw = pd.DataFrame({"params": [1e8, 4e8], "tokens": [2e9, 8e9], "val_loss": [3.2, 2.9]})
    raises(
        ["'parms'", "did you mean 'params'?", "val_loss"],
        validate_runs,
        raw,
        columns={"parms": "N", "tokens": "D", "val_loss": "loss"},
    )


def test_column_mapping_onto_existing_column():
    raw = make_runs(params=[1.0, 2.0, 3.0, 4.0])
    raises(["['N']", "already has"], validate_runs, raw, columns={"params": "N"})


def test_column_mapping_two_sources_one_target():
    raw = pd.DataFrame({"a": [1e8], "b": [1e8], "D": [1e9], "loss": [3.0]})
    raises(["['N']", "several"], validate_runs, raw, columns={"a": "N", "b": "N"})


# ---------------------------------------------------------------------------- missing columns
def test_missing_column_named():
    raw = make_runs().drop(columns="loss")
    raises(["missing column 'loss'", "its columns are ['N', 'D']"], validate_runs, raw)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("Params", "N"), ("n", "N"), ("Loss", "loss"), ("tokens", "D"), ("val_loss", "loss")],
)
def test_missing_column_suggests_mapping(name, canonical):
    raw = make_runs().rename(columns={canonical: name})
    raises(
        [f"missing column {canonical!r}", f"did you mean {name!r}?",
         f"columns={{{name!r}: {canonical!r}}}"],
        validate_runs,
        raw,
    )


def test_missing_tokens_mentions_flops_alternative():
    raw = make_runs().drop(columns="D")
    raises(["'D'", "or C for training FLOPs"], validate_runs, raw)


def test_missing_several_columns_all_named():
    raw = pd.DataFrame({"x": [1.0, 2.0]})
    raises(["missing columns 'N', 'D', 'loss'"], validate_runs, raw)


def test_require_for_compute_law():
    raw = pd.DataFrame({"C": [1e18, 1e19], "loss": [3.0, 2.8]})
    out = validate_runs(raw, require=("C", "loss"))
    assert "D" not in out.columns
    raises(["missing column 'C'"], validate_runs, raw.drop(columns="C"), require=("C", "loss"))


def test_missing_group_column():
    raises(["missing column 'family'"], validate_runs, make_runs(), groups=("family",))


# ---------------------------------------------------------------------------- non-numeric values
def test_non_numeric_values_name_column_and_rows():
    raw = make_runs()
    raw["D"] = raw["D"].astype(object)
    raw.loc["run-1", "D"] = "lots"
    raw.loc["run-3", "D"] = "n/a"
    raises(["column 'D'", "non-numeric", "rows run-1, run-3", "'lots'"], validate_runs, raw)


def test_boolean_column_rejected():
    raw = make_runs()
    raw["loss"] = [True, False, True, True]
    raises(["column 'loss'", "booleans"], validate_runs, raw)


# ---------------------------------------------------------------------------- magnitude suffixes
def test_suffix_strings_parsed_with_warning():
    raw = make_runs(3, index=["a", "b", "c"])
    raw["N"] = ["1.3B", "70M", "7e9 "]
    with pytest.warns(DataWarning, match=r"'N' in rows a, b, c"):
        out = validate_runs(raw)
    np.testing.assert_allclose(out["N"], [1.3e9, 7e7, 7e9], rtol=1e-15)
    assert out["N"].dtype == np.float64


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.4T", 1.4e12), ("2k", 2e3), ("3 K", 3e3), (" 1.5b", 1.5e9), ("2G", 2e9), (".5M", 5e5)],
)
def test_suffix_values(text, value):
    # a 2k-parameter model is no language model: check_units=False tests the parsing alone
    raw = pd.DataFrame({"N": [text, "1e9"], "D": [1e9, 2e9], "loss": [3.0, 2.0]})
    with pytest.warns(DataWarning, match="row 0"):
        out = validate_runs(raw, check_units=False)
    assert out["N"].tolist() == pytest.approx([value, 1e9], rel=1e-15)


def test_plain_number_strings_do_not_warn():
    raw = pd.DataFrame({"N": ["1e8", "2.5e8"], "D": [1e9, 2e9], "loss": [3.0, 2.0]})
    out = validate_runs(raw)  # a DataWarning would be an error here (pytest config)
    assert out["N"].tolist() == [1e8, 2.5e8]


def test_negative_suffix_value_is_non_positive_error():
    raw = pd.DataFrame({"N": ["-1B", "1B"], "D": [1e9, 2e9], "loss": [3.0, 2.0]}, index=["x", "y"])
    with pytest.warns(DataWarning):
        raises(["column 'N'", "> 0", "row x"], validate_runs, raw)


# ---------------------------------------------------------------------------- NaN / inf
@pytest.mark.parametrize("col", ["N", "D", "loss"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_name_column_and_rows(col, bad):
    raw = make_runs()
    raw.loc["run-2", col] = bad
    raises([f"column {col!r}", "missing or infinite", "row run-2"], validate_runs, raw)


def test_nan_in_string_column_names_rows():
    raw = make_runs(3, index=["a", "b", "c"])
    raw["N"] = ["1e8", None, "3e8"]
    raises(["column 'N'", "missing or infinite", "row b"], validate_runs, raw)


def test_nullable_dtypes_with_missing_values():
    raw = make_runs(3, index=["a", "b", "c"])
    raw["loss"] = pd.array([3.0, None, 2.5], dtype="Float64")
    raises(["column 'loss'", "row b"], validate_runs, raw)
    raw = make_runs(3, index=["a", "b", "c"])
    raw["N"] = pd.array([10**8, 2 * 10**8, None], dtype="Int64")
    raises(["column 'N'", "row c"], validate_runs, raw)


def test_many_bad_rows_are_summarised():
    raw = make_runs(12)
    raw["loss"] = np.nan
    err = raises(["column 'loss'", "run-0", "run-7", "and 4 more"], validate_runs, raw)
    assert "run-8" not in str(err)


# ---------------------------------------------------------------------------- non-positive values
@pytest.mark.parametrize("col", ["N", "D", "C", "loss"])
@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_values(col, bad):
    raw = make_runs()
    if col == "C":
        raw["C"] = 6.0 * raw["N"] * raw["D"]
    raw.loc["run-1", col] = bad
    raw.loc["run-3", col] = bad
    raises([f"column {col!r}", "must be > 0", "rows run-1, run-3", f"{bad:g}"], validate_runs, raw)


def test_non_positive_optional_columns():
    raises(["column 'U'", "row run-0"], validate_runs, make_runs(U=[0.0, 1e9, 1e9, 1e9]))
    raises(["column 'epochs'", "row run-2"], validate_runs, make_runs(epochs=[1.0, 2.0, -1.0, 1.0]))


# ---------------------------------------------------------------------------- FLOPs convention
@pytest.mark.parametrize("k", [6, 6.0, 8.0])
def test_tokens_derived_from_compute_with_constant(k):
    N = np.array([1e8, 4e8, 1e9])
    D = np.array([2e9, 8e9, 3e10])
    raw = pd.DataFrame({"N": N, "C": k * N * D, "loss": [3.2, 2.9, 2.7]})
    out = validate_runs(raw, flops=k)
    np.testing.assert_allclose(out["D"], D, rtol=1e-14)
    assert out.attrs["flops"] == f"C = {float(k):g} N D"


def test_tokens_derived_from_compute_with_user_flop_function():
    def flops_with_attention(N, D):
        # 6 N D plus an attention-like term, increasing in D
        return 6.0 * N * D + 6.0 * 2048.0 * np.sqrt(N) * D + 1e3 * N * np.sqrt(D)

    N = np.geomspace(1e6, 1e12, 7)
    D = np.geomspace(1e7, 1e14, 7)
    C = flops_with_attention(N, D)
    raw = pd.DataFrame({"N": N, "C": C, "loss": np.linspace(4.0, 2.0, 7)})
    out = validate_runs(raw, flops=flops_with_attention)
    np.testing.assert_allclose(flops_with_attention(out["N"], out["D"]), C, rtol=1e-9)
    np.testing.assert_allclose(out["D"], D, rtol=1e-9)
    assert out.attrs["flops"] == "flops_with_attention"


def test_compute_derived_from_user_flop_function():
    def flops(N, D):
        return 6.0 * N * D + 12.0 * N * 2048 * D / 4096

    raw = make_runs()
    out = validate_runs(raw, flops=flops)
    np.testing.assert_allclose(out["C"], flops(raw["N"], raw["D"]), rtol=1e-15)


@pytest.mark.parametrize("bad", [0.0, -6.0, np.nan, np.inf])
def test_invalid_flops_constant(bad):
    raises(["flops must be a positive number"], validate_runs, make_runs(), flops=bad)


def test_inconsistent_compute_warns_with_rows():
    raw = make_runs()
    raw["C"] = 6.0 * raw["N"] * raw["D"]
    raw.loc["run-2", "C"] *= 2.0
    expected = r"C disagrees with C = 6 N D by more than 5% in row run-2 "
    with pytest.warns(DataWarning, match=expected):
        out = validate_runs(raw)
    assert out.loc["run-2", "C"] == raw.loc["run-2", "C"]  # C is kept as given


def test_consistent_compute_does_not_warn_and_check_can_be_disabled():
    raw = make_runs()
    raw["C"] = 6.0 * raw["N"] * raw["D"] * 1.04  # within 5%
    validate_runs(raw)
    raw["C"] *= 3.0
    validate_runs(raw, check_consistency=False)


# ---------------------------------------------------------------------------- suspicious tables
def test_duplicated_runs_warn():
    raw = make_runs()
    raw = pd.concat([raw, raw.iloc[[1]].rename(index={"run-1": "again"})])
    with pytest.warns(DataWarning, match=r"row again repeat"):
        out = validate_runs(raw)
    assert len(out) == 5


def test_repeat_runs_with_different_seeds_do_not_warn():
    raw = make_runs()
    raw = pd.concat([raw, raw.iloc[[1]].rename(index={"run-1": "again"})])
    raw["seed"] = [0, 0, 0, 0, 1]
    validate_runs(raw)


def test_duplicates_in_different_groups_do_not_warn():
    raw = make_runs()
    raw = pd.concat([raw, raw.iloc[[1]].rename(index={"run-1": "again"})])
    raw["family"] = ["a", "a", "a", "a", "b"]
    validate_runs(raw, groups=("family",))


def test_perplexity_like_losses_are_an_error():
    raw = make_runs()
    raw["loss"] = np.exp(raw["loss"]) * 3.0
    raises(["loss column 'loss' looks like perplexity", "median", "loss_is='perplexity'"],
           validate_runs, raw)


def test_too_few_rows():
    raises(["has 4 rows", "at least 6"], validate_runs, make_runs(), min_rows=6)
    assert len(validate_runs(make_runs(), min_rows=4)) == 4


def test_group_labels_with_nan():
    raw = make_runs(family=["a", None, "b", np.nan])
    raises(["grouping column 'family'", "missing labels", "rows run-1, run-3"],
           validate_runs, raw, groups=("family",))


def test_group_labels_become_strings():
    out = validate_runs(make_runs(family=[1, 1, 2, 2]), groups=("family",))
    assert out["family"].tolist() == ["1", "1", "2", "2"]


def test_duplicated_column_names():
    raw = pd.DataFrame([[1e8, 1e9, 3.0, 2.0]], columns=["N", "D", "loss", "loss"])
    raises(["duplicated column names ['loss']"], validate_runs, raw)


def test_empty_table():
    raises(["empty"], validate_runs, pd.DataFrame())
    raises(["empty"], validate_runs, pd.DataFrame(columns=["N", "D", "loss"]))


def test_not_a_table():
    raises(["DataFrame", "list"], validate_runs, [1, 2, 3])


# ---------------------------------------------------------------------------- files
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_read_runs_formats(tmp_path, suffix):
    raw = make_runs(index=range(4))
    path = tmp_path / f"runs{suffix}"
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
        raw.to_parquet(path, index=False)
    else:
        raw.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    df = read_runs(path)
    assert df.attrs["source"] == str(path)
    pd.testing.assert_frame_equal(df, raw.reset_index(drop=True), check_exact=False, rtol=1e-15)
    out = validate_runs(str(path))
    np.testing.assert_allclose(out["N"], raw["N"])
    assert out.attrs["source"] == str(path)


def test_read_runs_with_mapping_and_suffixes_from_csv(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("params,tokens,val/loss\n70M,1.4B,3.5\n1.3B,26B,2.9\n")
    with pytest.warns(DataWarning, match="'N' in rows 0, 1; 'D' in rows 0, 1"):
        out = validate_runs(path, columns={"params": "N", "tokens": "D", "val/loss": "loss"})
    np.testing.assert_allclose(out["N"], [7e7, 1.3e9])
    np.testing.assert_allclose(out["D"], [1.4e9, 2.6e10])


def test_read_runs_nonexistent_path(tmp_path):
    missing = tmp_path / "nope.csv"
    raises(["does not exist", "nope.csv"], read_runs, missing)
    raises(["does not exist", "nope.csv"], validate_runs, missing)


def test_read_runs_unknown_suffix(tmp_path):
    path = tmp_path / "runs.xlsx"
    path.write_bytes(b"not really")
    raises(["unknown file type '.xlsx'"], read_runs, path)


def test_read_runs_unparsable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_text("this is not parquet")
    raises(["could not read runs file", "broken.parquet"], read_runs, path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    raises(["could not read runs file", "empty.csv"], read_runs, empty)


def test_header_only_csv_is_empty_table(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("N,D,loss\n")
    raises(["empty"], validate_runs, path)


# ---------------------------------------------------------------------------- runs_hash
def test_runs_hash_depends_on_values_only():
    a, b = make_runs(), make_runs()
    assert runs_hash(a) == runs_hash(b)
    assert runs_hash(a) == runs_hash(a[["loss", "D", "N"]])
    b.loc["run-0", "loss"] += 1e-12
    assert runs_hash(a) != runs_hash(b)
    assert runs_hash(a, ["N", "D"]) == runs_hash(b, ["N", "D"])
