"""Fuzz tests of the runs-table validator: malformed frames and CSV files of every kind may only
raise the documented RunsTableError and warn with DataWarning, never anything else."""

from __future__ import annotations

import os
import string
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayescale.data.runs import NUMERIC_COLUMNS, envelope, validate_runs
from bayescale.errors import DataWarning, RunsTableError

NAMES = ["N", "D", "C", "loss", "family", "seed", "U", "epochs", "step", "params", "tokens",
         "val_loss", "Loss", "n", "flops", "", " ", "N ", "dataset"]

# BAYESCALE_FUZZ_EXAMPLES=5000 for a thorough search.
FUZZ = settings(max_examples=int(os.environ.get("BAYESCALE_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-3, max_value=1e13),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=8),
    st.sampled_from(["1.3B", "70M", "7e9 ", "-1B", "1e400", "nan", "inf", "", "  ", "1,000",
                     "0x10", "1e", "B", ".", "+.5k", "1_000", "NaN", "None", "\x00", "1.4T"]),
    st.none(),
    st.booleans(),
)


@st.composite
def frames(draw) -> pd.DataFrame:
    """A DataFrame with random column names, dtypes and (mostly) malformed values."""
    n_rows = draw(st.integers(min_value=0, max_value=6))
    n_cols = draw(st.integers(min_value=0, max_value=6))
    name = st.one_of(st.sampled_from(NAMES), st.text(max_size=5), st.integers(-3, 3))
    names = draw(st.lists(name, min_size=n_cols, max_size=n_cols))
    data = {}
    columns = []
    for name in names:
        kind = draw(st.sampled_from(["float", "int", "object", "bool", "nullable", "category"]))
        if kind == "float":
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                   min_size=n_rows, max_size=n_rows))
            col = pd.Series(values, dtype="float64")
        elif kind == "int":
            values = draw(st.lists(st.integers(-(2**62), 2**62), min_size=n_rows, max_size=n_rows))
            col = pd.Series(values, dtype="int64")
        elif kind == "bool":
            col = pd.Series(draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows)),
                            dtype=bool)
        elif kind == "nullable":
            values = draw(st.lists(st.one_of(st.none(), st.integers(-10**6, 10**12)),
                                   min_size=n_rows, max_size=n_rows))
            col = pd.Series(values, dtype="Int64")
        elif kind == "category":
            values = draw(st.lists(st.sampled_from(["a", "b", "1e9"]), min_size=n_rows,
                                   max_size=n_rows))
            col = pd.Series(values, dtype="category")
        else:
            values = draw(st.lists(cell, min_size=n_rows, max_size=n_rows))
            col = pd.Series(values, dtype=object)
        columns.append(name)
        data[len(data)] = col
    df = pd.DataFrame(data) if data else pd.DataFrame(index=range(n_rows))
    if data:
        df.columns = columns
    return df


def _call(runs, **kwargs) -> pd.DataFrame | None:
    """Validate; return the table or None after a RunsTableError; fail on anything else."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = validate_runs(runs, **kwargs)
        except RunsTableError as exc:
            assert str(exc), "a RunsTableError needs a message"
            out = None
    foreign = [w for w in caught if not issubclass(w.category, DataWarning)]
    assert not foreign, [f"{w.category.__name__}: {w.message}" for w in foreign]
    return out


def _check_valid_output(out: pd.DataFrame, require) -> None:
    for col in require:
        assert col in out.columns
    for col in ("N", "D", "C", "loss"):
        if col in out.columns and col in require:
            vals = out[col].to_numpy()
            assert vals.dtype == np.float64
            assert np.all(np.isfinite(vals)) and np.all(vals > 0), (col, vals)


REQUIRE = st.sampled_from([("N", "D", "loss"), ("C", "loss"), ("N", "loss"), ()])


@FUZZ
@given(df=frames(), require=REQUIRE, group=st.sampled_from([(), ("family",), ("dataset",)]),
       k=st.sampled_from([6.0, 0.0, -1.0, float("nan"), 1e300]))
def test_validator_raises_only_documented_errors_on_random_frames(df, require, group, k):
    out = _call(df, require=require, groups=group, flops=k)
    if out is not None:
        _check_valid_output(out, require)


@FUZZ
@given(df=frames(), require=REQUIRE, group=st.sampled_from([(), ("family",)]),
       check_units=st.booleans(), check_consistency=st.booleans(),
       loss_is=st.sampled_from([None, "nats", "perplexity", "bits", "ppl"]),
       flops=st.sampled_from([6.0, 1e-30, lambda n, d: 6.0 * n * d, lambda n, d: n * 0.0 + 1.0]))
def test_validator_unit_and_loss_options_raise_only_documented_errors(
    df, require, group, check_units, check_consistency, loss_is, flops
):
    out = _call(df, require=require, groups=group, check_units=check_units,
                check_consistency=check_consistency, loss_is=loss_is, flops=flops)
    if out is not None:
        _check_valid_output(out, require)


@FUZZ
@given(df=frames(), by=st.sampled_from([("N", "D"), ("N",), ("family",), ("N", "D", "seed")]))
def test_envelope_raises_only_documented_errors(df, by):
    try:
        out = envelope(df, by=by)
    except RunsTableError as exc:
        assert str(exc)
        return
    assert len(out) <= len(df) and list(out.columns) == list(df.columns)


@st.composite
def sweeps(draw) -> pd.DataFrame:
    """Valid runs at repeated (N, D) with set-up, metric, seed and name columns of any kind."""
    n_points = draw(st.integers(1, 6))
    reps = draw(st.integers(1, 4))
    N = np.repeat(np.geomspace(1e8, 1e10, n_points), reps)
    D = 20.0 * N
    n = len(N)
    loss = draw(st.lists(st.sampled_from([2.5, 2.6, 2.7, 3.0]), min_size=n, max_size=n))
    df = pd.DataFrame({"N": N, "D": D, "loss": loss})
    extra = st.lists(st.one_of(st.sampled_from([1e-3, 2e-3]), st.sampled_from(["a", "b"]),
                               st.none(), st.booleans(), st.integers(0, 3)),
                     min_size=n, max_size=n)
    for name in draw(st.lists(st.sampled_from(["peak_lr", "seed", "val_loss", "run", "sweep",
                                               "family", "U", "acc"]), unique=True, max_size=4)):
        df[name] = pd.Series(draw(extra), dtype=object)
    return df


@FUZZ
@given(df=sweeps(), group=st.sampled_from([(), ("sweep",), ("family",)]))
def test_set_up_and_duplicate_checks_never_crash(df, group):
    out = _call(df, groups=group if set(group) <= set(df.columns) else ())
    if out is not None:
        _check_valid_output(out, ("N", "D", "loss"))


@FUZZ
@given(df=frames(), mapping=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(
    ["N", "D", "C", "loss", "family"]), max_size=3))
def test_validator_with_random_column_mappings(df, mapping):
    out = _call(df, columns=mapping)
    if out is not None:
        _check_valid_output(out, ("N", "D", "loss"))


@FUZZ
@given(
    header=st.lists(st.sampled_from(["N", "D", "C", "loss", "params", "family", "x", '"N"', ""]),
                    min_size=0, max_size=5),
    rows=st.lists(st.lists(st.one_of(
        st.sampled_from(["1e9", "1.3B", "-2", "0", "nan", "inf", "", "abc", '"1,5"', "1e400",
                         "3.1", "2.9 ", "'", '"', "\\", "\t", ";"]),
        st.text(alphabet=string.printable, max_size=6)), min_size=0, max_size=6),
        min_size=0, max_size=6),
    sep=st.sampled_from([",", ";", "\t"]),
    suffix=st.sampled_from([".csv", ".tsv", ".txt", ".parquet", ""]),
)
def test_validator_raises_only_documented_errors_on_random_csv_files(
    tmp_path_factory, header, rows, sep, suffix
):
    path = tmp_path_factory.mktemp("fuzz") / f"runs{suffix}"
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    path.write_text(text)
    out = _call(path)
    if out is not None:
        _check_valid_output(out, ("N", "D", "loss"))


@FUZZ
@given(blob=st.binary(max_size=200))
def test_validator_on_random_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("bytes") / "runs.csv"
    path.write_bytes(blob)
    _call(path)


def test_fuzz_strategies_reach_valid_tables():
    """The fuzzers are not vacuous: a well-formed table through the same helper passes."""
    df = pd.DataFrame({"N": [1e8, 2e8, 4e8], "D": ["2B", "4B", "8B"], "loss": [3.0, 2.9, 2.8]})
    with pytest.warns(DataWarning):
        out = validate_runs(df)
    _check_valid_output(out, ("N", "D", "loss"))
    assert set(NUMERIC_COLUMNS) >= {"N", "D", "loss"}
