"""The runs table: one documented schema for training runs, and its validation.

A runs table is a :class:`pandas.DataFrame` (or a CSV / Parquet file) with one row per training
run (or per evaluated checkpoint).  Canonical columns:

============  ======================================================================
column        meaning
============  ======================================================================
``N``         parameters (count, > 0)
``D``         training tokens (count, > 0); derived as ``C / (k N)`` when only ``C`` is given
``C``         training FLOPs (> 0); derived as ``k N D`` when only ``D`` is given
``loss``      final loss in **nats per token** (> 0)
``family``    optional: model family (grouping column)
``dataset``   optional: training or evaluation data set (grouping column)
``setup``     optional: training set-up (grouping column)
``seed``      optional: random seed of the run
``U``         optional: unique tokens (data-constrained laws)
``epochs``    optional: passes over the unique data
``step``      optional: training step of a checkpoint
============  ======================================================================

``k`` is the FLOPs per parameter per token, 6 by default (``flops=6.0``); pass another number,
or a function ``flops(N, D) -> C`` for your own FLOP formula (``D`` is then solved from ``C``
numerically).  Any other columns are kept untouched.  Real exports never use these names:
map them with ``columns={"params": "N", "tokens": "D", "val/loss": "loss"}``.

Numbers written with a magnitude suffix (``"1.3B"``, ``"70M"``, ``"1.4T"``, ``"7e9 "``) are read
as numbers, with a :class:`~bayescale.errors.DataWarning` naming the rows.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import DataWarning, RunsTableError

__all__ = [
    "CATEGORICAL_COLUMNS",
    "MIN_DISTINCT",
    "NUMERIC_COLUMNS",
    "check_design",
    "read_runs",
    "runs_hash",
    "validate_runs",
]

NUMERIC_COLUMNS = ("N", "D", "C", "loss", "U", "epochs", "step")
POSITIVE_COLUMNS = ("N", "D", "C", "loss", "U", "epochs")
CATEGORICAL_COLUMNS = ("family", "dataset", "setup")
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_NUMBER_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKmMbBgGtT]?)\s*$")
_MAX_ROWS_LISTED = 8
# Common export names for the canonical columns (compared lower-case, without "_", "-", " ", "/"),
# used only to suggest a columns= mapping when a required column is missing.
_SYNONYMS = {
    "N": ("params", "parameters", "nparams", "numparams", "nparameters", "modelsize"),
    "D": ("tokens", "ntokens", "numtokens", "traintokens", "trainingtokens"),
    "C": ("flops", "compute", "trainflops", "trainingflops"),
    "loss": ("valloss", "evalloss", "validationloss", "testloss", "trainloss", "crossentropy"),
}

RunsLike = pd.DataFrame | str | os.PathLike


def _verb(labels: Sequence[Any], singular: str, plural: str) -> str:
    """``singular`` for one row, ``plural`` for several ("row 7 holds" / "rows 7, 9 hold")."""
    return plural if len(list(labels)) > 1 else singular


def _rows(labels: Sequence[Any]) -> str:
    labels = list(labels)
    shown = ", ".join(str(x) for x in labels[:_MAX_ROWS_LISTED])
    more = f" and {len(labels) - _MAX_ROWS_LISTED} more" if len(labels) > _MAX_ROWS_LISTED else ""
    return f"row{'s' if len(labels) > 1 else ''} {shown}{more}"


def read_runs(path: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a runs table from a CSV or Parquet file (no validation).

    Parameters
    ----------
    path : str or path-like
        ``.csv``, ``.tsv``, ``.parquet`` or ``.pq`` file.
    **kwargs
        Passed to :func:`pandas.read_csv` or :func:`pandas.read_parquet`.

    Returns
    -------
    pandas.DataFrame
        The raw table; ``attrs["source"]`` holds the path.

    Examples
    --------
    >>> import io, pandas as pd, tempfile, os
    >>> from bayescale.data.runs import read_runs
    >>> path = os.path.join(tempfile.mkdtemp(), "runs.csv")
    >>> pd.DataFrame({"N": [1e8], "D": [2e9], "loss": [3.1]}).to_csv(path, index=False)
    >>> read_runs(path).shape
    (1, 3)
    """
    p = Path(path)
    if not p.exists():
        raise RunsTableError(f"runs file {str(p)!r} does not exist; check the path")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p, **kwargs)
        elif suffix == ".tsv":
            df = pd.read_csv(p, sep="\t", **kwargs)
        elif suffix in (".csv", ".txt", ""):
            df = pd.read_csv(p, **kwargs)
        else:
            raise RunsTableError(
                f"cannot read {str(p)!r}: unknown file type {suffix!r}; use .csv, .tsv or .parquet"
            )
    except RunsTableError:
        raise
    except Exception as exc:  # parser errors: one clear sentence
        raise RunsTableError(f"could not read runs file {str(p)!r}: {exc}") from exc
    df.attrs["source"] = str(p)
    return df


def _to_numeric(series: pd.Series, column: str) -> tuple[pd.Series, list[Any]]:
    """Coerce a column to float, reading magnitude suffixes; raise naming unparsable rows."""
    if pd.api.types.is_bool_dtype(series):
        raise RunsTableError(f"column {column!r} holds booleans; it must hold positive numbers")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64"), []
    values = np.full(len(series), np.nan)
    bad, suffixed = [], []
    for i, (label, v) in enumerate(series.items()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, int | float | np.number) and not isinstance(v, bool):
            values[i] = float(v)
            continue
        m = _NUMBER_RE.match(str(v))
        if m is None:
            bad.append((label, v))
            continue
        number, suffix = m.groups()
        values[i] = float(number) * (_SUFFIX[suffix.lower()] if suffix else 1.0)
        if suffix or str(v) != str(v).strip():
            suffixed.append(label)
    if bad:
        labels = [b[0] for b in bad]
        examples = ", ".join(repr(b[1]) for b in bad[:3])
        raise RunsTableError(
            f"column {column!r} has non-numeric values in {_rows(labels)} (e.g. {examples}); "
            "write plain numbers such as 1.3e9 (suffixes K, M, B, T are also understood)"
        )
    return pd.Series(values, index=series.index, name=series.name), suffixed


def _apply_columns(df: pd.DataFrame, columns: Mapping[str, str] | None) -> pd.DataFrame:
    if not columns:
        return df
    missing = [src for src in columns if src not in df.columns]
    if missing:
        hints = []
        for src in missing:
            close = difflib.get_close_matches(str(src), [str(c) for c in df.columns], n=1)
            hints.append(f"{src!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise RunsTableError(
            f"columns= maps {', '.join(hints)}, but the table has no such column; "
            f"its columns are {list(df.columns)}"
        )
    targets = list(columns.values())
    dup = {t for t in targets if targets.count(t) > 1}
    if dup:
        raise RunsTableError(f"columns= maps several columns onto {sorted(dup)}; map one each")
    clash = [t for src, t in columns.items() if t in df.columns and t != src and t not in columns]
    if clash:
        raise RunsTableError(
            f"columns= renames onto {clash}, which the table already has; drop or rename "
            "the existing column first"
        )
    return df.rename(columns=dict(columns))


def _solve_tokens(flops: Callable[[np.ndarray, np.ndarray], np.ndarray], N, C) -> np.ndarray:
    """Solve ``flops(N, D) = C`` for D by bisection on log D (flops must increase with D)."""
    lo = np.full_like(N, -10.0 * np.log(10.0))
    hi = np.full_like(N, 40.0 * np.log(10.0))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        too_big = np.asarray(flops(N, np.exp(mid)), dtype=float) > C
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    return np.exp(0.5 * (lo + hi))


def validate_runs(
    runs: RunsLike,
    *,
    columns: Mapping[str, str] | None = None,
    flops: float | Callable[[Any, Any], Any] = 6.0,
    require: Sequence[str] = ("N", "D", "loss"),
    groups: Sequence[str] = (),
    min_rows: int = 1,
    check_consistency: bool = True,
) -> pd.DataFrame:
    """Check and tidy a runs table; return a new DataFrame in the canonical schema.

    Parameters
    ----------
    runs : DataFrame or path
        The table, or a CSV / Parquet file to read with :func:`read_runs`.
    columns : mapping, optional
        Renames applied first, ``{"your name": "canonical name"}``.
    flops : float or callable, default 6.0
        FLOPs per parameter per token ``k`` (``C = k N D``), or a function ``flops(N, D) -> C``.
    require : sequence of str, default ("N", "D", "loss")
        Canonical columns the caller needs (a law's inputs plus ``loss``).  ``D`` may be derived
        from ``C`` and ``N``, and ``C`` from ``N`` and ``D``.
    groups : sequence of str
        Grouping columns that must be present and have no missing values.
    min_rows : int
        Fewer rows than this is an error (a law with p parameters needs more than p runs).
    check_consistency : bool
        Warn when ``N``, ``D`` and ``C`` are all given but disagree with ``flops`` by > 5%.

    Returns
    -------
    pandas.DataFrame
        Canonical float columns, the original index, ``attrs`` preserved plus
        ``attrs["flops"]`` describing the FLOP convention.

    Raises
    ------
    RunsTableError
        Naming the column, the offending rows and how to fix them.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data.runs import validate_runs
    >>> raw = pd.DataFrame({"params": [1e8, 4e8], "flops": [1.2e18, 9.6e18], "val": [3.2, 2.9]})
    >>> runs = validate_runs(raw, columns={"params": "N", "flops": "C", "val": "loss"})
    >>> runs["D"].tolist()
    [2000000000.0, 4000000000.0]
    """
    if isinstance(runs, str | os.PathLike):
        runs = read_runs(runs)
    if not isinstance(runs, pd.DataFrame):
        raise RunsTableError(
            f"runs must be a pandas DataFrame or a path to a CSV/Parquet file, "
            f"not {type(runs).__name__}"
        )
    attrs = dict(runs.attrs)
    df = _apply_columns(runs.copy(), columns)
    df.attrs = attrs
    if len(df) == 0:
        raise RunsTableError("the runs table is empty; it needs one row per training run")
    if df.columns.duplicated().any():
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise RunsTableError(f"the runs table has duplicated column names {dup}; rename them")

    # Missing required columns, with suggestions.
    present = set(df.columns)
    derivable = {"D": {"C", "N"}, "C": {"N", "D"}}
    missing = [
        c for c in require if c not in present and not derivable.get(c, {None}) <= present
    ]
    missing += [g for g in groups if g not in present and g not in missing]
    if missing:
        parts = []
        for c in missing:
            names = [str(x) for x in df.columns if str(x) not in NUMERIC_COLUMNS]
            close = difflib.get_close_matches(c, names, n=1, cutoff=0.5)
            lower = [x for x in names if x.lower() == c.lower()]
            alias = [x for x in names if re.sub(r"[\s_/-]", "", x.lower()) in _SYNONYMS.get(c, ())]
            guess = (lower or alias or close or [None])[0]
            hint = f" (did you mean {guess!r}? pass columns={{{guess!r}: {c!r}}})" if guess else ""
            parts.append(f"{c!r}{hint}")
        extra = " (or C for training FLOPs, from which D = C / (k N))" if "D" in missing else ""
        if "U" in missing:
            extra += (" (U: unique tokens seen; for runs that never repeat data, add the column "
                      "as a copy of D)")
        raise RunsTableError(
            f"the runs table is missing column{'s' if len(parts) > 1 else ''} "
            f"{', '.join(parts)}{extra}; its columns are {[str(c) for c in df.columns]}"
        )

    # Numeric coercion and value checks.
    converted: dict[str, list[Any]] = {}
    for col in NUMERIC_COLUMNS:
        if col in df.columns:
            df[col], suffixed = _to_numeric(df[col], col)
            if suffixed:
                converted[col] = suffixed
    if converted:
        desc = "; ".join(f"{c!r} in {_rows(r)}" for c, r in converted.items())
        warnings.warn(
            f"read numbers written with suffixes or spaces as plain numbers: {desc}; "
            "check that B means billions (not bytes) in your export",
            DataWarning,
            stacklevel=2,
        )
    needed_numeric = [c for c in ("N", "D", "C", "loss") if c in df.columns]
    for col in needed_numeric:
        vals = df[col].to_numpy()
        bad = ~np.isfinite(vals)
        if bad.any():
            raise RunsTableError(
                f"column {col!r} has missing or infinite values in {_rows(df.index[bad])}; "
                "drop those runs (runs.dropna()) or fill them in"
            )
    for col in POSITIVE_COLUMNS:
        if col in df.columns:
            vals = df[col].to_numpy()
            bad = np.isfinite(vals) & (vals <= 0)
            if bad.any():
                shown = ", ".join(f"{v:g}" for v in vals[bad][:3])
                raise RunsTableError(
                    f"column {col!r} must be > 0, but {_rows(df.index[bad])} "
                    f"{_verb(df.index[bad], 'holds', 'hold')} {shown}; "
                    "drop those runs or fix the values"
                )

    # FLOPs convention: derive the missing one of D and C.
    if callable(flops):
        flops_fn = flops
        flops_desc = getattr(flops, "__name__", "user function")
    else:
        k = float(flops)
        if not np.isfinite(k) or k <= 0:
            raise RunsTableError(f"flops must be a positive number or a function, not {flops!r}")

        def flops_fn(n, d, _k=k):
            return _k * n * d

        flops_desc = f"C = {k:g} N D"
    df.attrs["flops"] = flops_desc
    if "N" in df.columns:
        n = df["N"].to_numpy()
        if "D" not in df.columns and "C" in df.columns:
            c = df["C"].to_numpy()
            df["D"] = c / (flops * n) if not callable(flops) else _solve_tokens(flops_fn, n, c)
        elif "C" not in df.columns and "D" in df.columns:
            df["C"] = np.asarray(flops_fn(n, df["D"].to_numpy()), dtype=float)
        elif check_consistency and "C" in df.columns and "D" in df.columns:
            implied = np.asarray(flops_fn(n, df["D"].to_numpy()), dtype=float)
            rel = np.abs(implied / df["C"].to_numpy() - 1.0)
            off = rel > 0.05
            if off.any():
                warnings.warn(
                    f"C disagrees with {flops_desc} by more than 5% in {_rows(df.index[off])} "
                    f"(up to {rel.max():.0%}); bayescale uses N and D for the law and C only for "
                    "budgets. Pass flops= with your FLOP formula if yours differs",
                    DataWarning,
                    stacklevel=2,
                )

    # Grouping columns: present, no missing labels, stored as strings.
    for g in groups:
        lab = df[g]
        bad = lab.isna().to_numpy()
        if bad.any():
            raise RunsTableError(
                f"grouping column {g!r} has missing labels in {_rows(df.index[bad])}; "
                "label every run (e.g. runs[g].fillna('unknown'))"
            )
        df[g] = lab.astype(str)

    if len(df) < min_rows:
        raise RunsTableError(
            f"the runs table has {len(df)} rows but needs at least {min_rows} to fit this law "
            "(more runs than law parameters); add runs or choose a law with fewer parameters"
        )

    if "loss" in df.columns:
        sources = [str(k) for k, v in (columns or {}).items() if v == "loss"]
        _warn_loss_units(sources[0] if sources else "loss")
        _warn_suspicious_loss(df)
    dup_cols = [c for c in ("N", "D", "loss", *groups, "seed") if c in df.columns]
    dup = (df.duplicated(subset=dup_cols, keep="first").to_numpy() if dup_cols
           else np.zeros(len(df), dtype=bool))
    if dup.any():
        warnings.warn(
            f"{_rows(df.index[dup])} {_verb(df.index[dup], 'repeats', 'repeat')} an earlier run exactly ({', '.join(dup_cols)}); "
            "drop duplicates (runs.drop_duplicates()) unless they are genuine repeat runs",
            DataWarning,
            stacklevel=2,
        )
    return df


def _warn_loss_units(name: str) -> None:
    """Warn when the column mapped to ``loss`` is named like bits or perplexity."""
    words = set(re.split(r"[^a-z]+", name.lower()))
    if words & {"bits", "bit", "bpb", "bpc", "bpt", "bpw", "bpd"}:
        warnings.warn(
            f"the loss column {name!r} looks like bits (per byte or per token), but bayescale "
            f"expects nats per token: pass bits per token times ln 2 (runs[{name!r}] * "
            "math.log(2)); bits per byte also need the tokenizer's bytes per token. Ignore this "
            "warning if the values are already in nats",
            DataWarning,
            stacklevel=3,
        )
    elif words & {"ppl", "perplexity", "pplx"} and "log" not in words:
        warnings.warn(
            f"the loss column {name!r} looks like perplexity, but bayescale expects cross-entropy "
            f"in nats per token: pass log(perplexity) (numpy.log(runs[{name!r}])). Ignore this "
            "warning if the values are already in nats",
            DataWarning,
            stacklevel=3,
        )


# Fewest distinct values of each scale input that can identify a law: a power law plus an
# offset (or a curve in that direction) is fitted exactly by any two points, so a third is the
# first that tests it.
MIN_DISTINCT = 3
_SCALE_INPUTS = ("N", "D", "C", "loss")


def check_design(runs: pd.DataFrame, law: Any) -> None:
    """Check that a validated runs table can identify a law's parameters.

    Raises when an input of the law (``N``, ``D``, ``C``, or ``loss`` for link laws) takes
    fewer than :data:`MIN_DISTINCT` distinct values, or when the runs have fewer distinct input
    combinations than the law has parameters.  Warns (:class:`~bayescale.errors.DataWarning`)
    when ``log N`` and ``log D`` are almost collinear (every run at one tokens-per-parameter
    ratio), so that the N and D terms of the law cannot be told apart.

    Parameters
    ----------
    runs : pandas.DataFrame
        Output of :func:`validate_runs`.
    law : bayescale.laws.Law
        The law to fit.

    Raises
    ------
    RunsTableError
        Naming the column, its distinct values and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data.runs import check_design
    >>> from bayescale.laws import get_law
    >>> runs = pd.DataFrame({"N": [1e8, 1e8, 1e9, 1e9], "D": [1e9, 1e10, 1e9, 1e10],
    ...                      "loss": [3.2, 3.0, 3.0, 2.8]})
    >>> check_design(runs, get_law("chinchilla"))
    Traceback (most recent call last):
    ...
    bayescale.errors.RunsTableError: column 'N' has only 2 distinct values (1e+08, 1e+09), ...
    """
    name = getattr(law, "name", str(law))
    for col in law.inputs:
        if col not in _SCALE_INPUTS or col not in runs.columns:
            continue
        values = np.unique(runs[col].to_numpy(dtype=float))
        if values.size < MIN_DISTINCT:
            shown = ", ".join(f"{v:.4g}" for v in values)
            raise RunsTableError(
                f"column {col!r} has only {values.size} distinct value"
                f"{'s' if values.size != 1 else ''} ({shown}), but law {name!r} needs at least "
                f"{MIN_DISTINCT} distinct {col} values to identify its parameters (a curve in "
                f"{col} with a scale, an exponent and an offset passes exactly through "
                f"{'any single value' if values.size == 1 else 'any two values'}); add runs at "
                f"other values of {col}"
                + (", or fit law='compute' to the runs' C" if col in ("N", "D") else "")
            )
    cols = [c for c in law.inputs if c in runs.columns]
    n_points = len(runs[cols].drop_duplicates()) if cols else 0
    n_params = len(law.params)
    if cols and n_points < n_params:
        raise RunsTableError(
            f"the runs have {n_points} distinct combinations of {', '.join(cols)}, fewer than "
            f"the {n_params} parameters of law {name!r}; add runs at new {', '.join(cols)} or "
            "choose a law with fewer parameters"
        )
    if {"N", "D"} <= set(law.inputs) and {"N", "D"} <= set(runs.columns) and len(runs) > 2:
        ln, ld = np.log(runs["N"].to_numpy(float)), np.log(runs["D"].to_numpy(float))
        if ln.std() > 0 and ld.std() > 0 and abs(np.corrcoef(ln, ld)[0, 1]) > 0.99:
            ratio = np.median(runs["D"].to_numpy(float) / runs["N"].to_numpy(float))
            warnings.warn(
                f"log N and log D are almost collinear (correlation "
                f"{np.corrcoef(ln, ld)[0, 1]:.3f}; median D/N = {ratio:.3g}): the runs cannot "
                f"tell the N term of law {name!r} from its D term, so predictions at other "
                "tokens-per-parameter ratios (and compute-optimal allocations) come from the "
                "priors; add runs with more and fewer tokens per parameter",
                DataWarning,
                stacklevel=3,
            )


def _warn_suspicious_loss(df: pd.DataFrame) -> None:
    loss = df["loss"].to_numpy()
    if np.median(loss) > 12.0:
        warnings.warn(
            f"losses have median {np.median(loss):.3g}, which looks like perplexity rather than "
            "cross-entropy in nats/token; pass log(perplexity) as loss",
            DataWarning,
            stacklevel=3,
        )


def runs_hash(runs: pd.DataFrame, cols: Sequence[str] | None = None) -> str:
    """SHA-256 of the runs table's values (for provenance of saved fits).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data.runs import runs_hash
    >>> len(runs_hash(pd.DataFrame({"N": [1.0], "D": [2.0], "loss": [3.0]})))
    64
    """
    cols = [c for c in (cols or runs.columns) if c in runs.columns]
    h = hashlib.sha256()
    for c in sorted(map(str, cols)):
        h.update(c.encode())
        values = runs[c].to_numpy()
        if values.dtype.kind == "f":
            h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        else:
            h.update("\x1f".join(map(str, values)).encode())
    return h.hexdigest()
