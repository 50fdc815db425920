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

Units.  ``N`` and ``D`` are plain counts and ``C`` plain FLOPs.  A column exported in millions or
billions passes every type check and fits a wrong law (tokens in billions fit to beta = 0.54),
so :func:`validate_runs` checks magnitudes: fewer than 10,000 parameters or tokens in a run
(``D / 1e9``, ``N / 1e6``), a median tokens-per-parameter ratio outside 0.01 to 100,000, or a
``C`` more than 5 times away from ``flops(N, D)`` is a :class:`~bayescale.errors.RunsTableError`
naming the column and the likely factor; fewer than 100,000 parameters or 1,000,000 tokens is a
:class:`~bayescale.errors.DataWarning`.  For unusual but genuine data pass ``check_units=False``.
``loss`` is cross-entropy in nats per token: a column that looks like perplexity (its name, or a
median above 12 nats, more than any tokenizer's uniform loss) is an error unless you say what it
holds with ``loss_is="perplexity"`` (its log is taken), ``"bits"`` (bits per token, times ln 2)
or ``"nats"``.  Both choices are remembered in the returned table's ``attrs``, so the table can be
passed on to :func:`bayescale.fit`.

Set-ups.  Several runs at the same design point (``N``, ``D``, and ``U``, ``epochs``, ``step``
when present) that differ in another column (learning rate, schedule, sweep...) mix training
set-ups: one law fitted through all of them describes none.  :func:`validate_runs` warns
(:class:`MixedSetupWarning`) naming the columns and offering the two sound fits: the best run at
each point (:func:`envelope`, as isoFLOP analyses do) or one curve per set-up (``groups=[...]``).
Runs that differ only in ``seed`` are replicates, not set-ups.  Runs of several data sets or
model families (the schema's ``dataset``, ``family``, ``setup``) at the same points, fitted
without ``groups``, warn too, offering one curve per data set (``groups=["dataset"]``): one law
through all of them describes none (pooling them on purpose: filter the warning).
Each warning is given once per table, however often the table is validated (for example once
per law by :func:`bayescale.compare`).
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import DataWarning, RunsTableError

__all__ = [
    "CATEGORICAL_COLUMNS",
    "LOSS_UNITS",
    "MIN_DISTINCT",
    "NUMERIC_COLUMNS",
    "MixedSetupWarning",
    "check_design",
    "design_point",
    "envelope",
    "read_runs",
    "runs_hash",
    "validate_runs",
]


class MixedSetupWarning(DataWarning):
    """Runs at the same design point differ in another column (learning rate, sweep...).

    A :class:`~bayescale.errors.DataWarning`: filter it alone with
    ``warnings.filterwarnings("ignore", category=MixedSetupWarning)``.
    """


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

#: What ``validate_runs(loss_is=...)`` accepts: the units the ``loss`` column is in.
LOSS_UNITS = ("nats", "perplexity", "bits")
_PPL_WORDS = {"ppl", "perplexity", "pplx"}
_BITS_WORDS = {"bits", "bit", "bpb", "bpc", "bpt", "bpw", "bpd"}
# Unit checks.  Below _MIN_COUNT parameters or tokens no language-model run exists (an error);
# below _FEW_* it is implausible (a warning).  Tokens per parameter: error when the median leaves
# _RATIO_MEDIAN, warning for rows outside _RATIO_ROWS.  C / flops(N, D) outside _C_RATIO: error.
_MIN_COUNT = 1e4
_FEW_N, _FEW_D = 1e5, 1e6
_RATIO_MEDIAN = (1e-2, 1e5)
_RATIO_ROWS = (1e-3, 1e6)
_C_RATIO = (1.0 / 6.0, 5.0)
_MAX_LOSS_NATS = 12.0
_UNIT_WORDS = {1e3: "thousands", 1e6: "millions", 1e9: "billions", 1e12: "trillions"}
_PF_DAY = 8.64e19
_C_UNITS = (*(10.0 ** (3 * i) for i in range(1, 9)), 1e15, 1e18, 1e21, _PF_DAY)
# Non-numeric columns the schema reserves: which set-up they are is the user's grouping choice.
_SETUP_EXEMPT = ("seed",)
_METRIC_WORDS = {"loss", "losses", "acc", "accuracy", "error", "err", "ppl", "perplexity", "bpb",
                 "bpc", "score", "lo95", "hi95", "std", "stderr", "sem", "ci"}


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
    check_units: bool = True,
    loss_is: str | None = None,
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
        Compare a given ``C`` with ``flops(N, D)``: warn when they disagree by more than 5%, and
        (with ``check_units``) raise when ``C`` is off by more than a factor of 5 (other units).
    check_units : bool, default True
        Check that ``N``, ``D`` and ``C`` are plain counts (no run below 10,000 parameters or
        tokens, a median tokens-per-parameter ratio within 0.01 to 100,000, ``C`` near
        ``flops(N, D)``) and warn about implausibly small models (below 1e5 parameters or 1e6
        tokens).  ``False`` skips these checks, for unusual but genuine data; the returned table
        remembers it (``attrs["check_units"]``), so :func:`bayescale.fit` accepts it as it is.
    loss_is : {None, "nats", "perplexity", "bits"}
        What the ``loss`` column holds.  ``None`` (default): cross-entropy in nats per token,
        and a column that looks like perplexity (named ``ppl`` or ``perplexity``, or a median
        above 12) is an error.  ``"perplexity"``: its log is taken.  ``"bits"``: bits per token,
        multiplied by ln 2.  ``"nats"``: trust the values as they are.  The returned table
        records ``attrs["loss_is"] = "nats"`` when you chose one.

    Returns
    -------
    pandas.DataFrame
        Canonical float columns, the original index, ``attrs`` preserved plus
        ``attrs["flops"]`` describing the FLOP convention.

    Raises
    ------
    RunsTableError
        Naming the column, the offending rows and how to fix them.

    Warns
    -----
    DataWarning
        Numbers read from suffixes, ``C`` off ``flops(N, D)`` by more than 5%, implausibly small
        models, a loss column named like bits, runs repeated exactly.
    MixedSetupWarning
        Runs at the same (N, D) that differ in another column (learning rate, sweep...).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data.runs import validate_runs
    >>> raw = pd.DataFrame({"params": [1e8, 4e8], "flops": [1.2e18, 9.6e18], "val": [3.2, 2.9]})
    >>> runs = validate_runs(raw, columns={"params": "N", "flops": "C", "val": "loss"})
    >>> runs["D"].tolist()
    [2000000000.0, 4000000000.0]

    Tokens in billions are caught, with the fix:

    >>> validate_runs(pd.DataFrame({"N": [1e8, 4e8], "D": [2.0, 8.0], "loss": [3.2, 2.9]}))
    Traceback (most recent call last):
    ...
    bayescale.errors.RunsTableError: column 'D' looks like billions of tokens, not a count ...

    A perplexity column is converted only when asked:

    >>> ppl = pd.DataFrame({"N": [1e8, 4e8], "D": [2e9, 8e9], "ppl": [24.5, 18.2]})
    >>> validate_runs(ppl, columns={"ppl": "loss"}, loss_is="perplexity")["loss"].round(3).tolist()
    [3.199, 2.901]
    """
    if isinstance(runs, str | os.PathLike):
        runs = read_runs(runs)
    if not isinstance(runs, pd.DataFrame):
        raise RunsTableError(
            f"runs must be a pandas DataFrame or a path to a CSV/Parquet file, "
            f"not {type(runs).__name__}"
        )
    if loss_is is not None and loss_is not in LOSS_UNITS:
        raise RunsTableError(
            f"loss_is must be one of {list(LOSS_UNITS)} (or None to check the loss column), "
            f"not {loss_is!r}"
        )
    seen = _warned_set(runs)
    attrs = dict(runs.attrs)
    if loss_is is None and attrs.get("loss_is") in LOSS_UNITS:
        loss_is = attrs["loss_is"]
    check_units = bool(check_units) and attrs.get("check_units", True) is not False
    source = {v: str(k) for k, v in (columns or {}).items()}  # canonical name -> user's name

    def warn(message: str, category: type[Warning] = DataWarning) -> None:
        _warn_once(seen, message, category, stacklevel=4)

    df = _apply_columns(runs.copy(), columns)
    df.attrs = attrs
    if len(df) == 0:
        raise RunsTableError("the runs table is empty; it needs one row per training run")
    dup = _duplicated_columns(df)
    if dup:
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
            ppl = [x for x in names if c == "loss" and _words(x) & _PPL_WORDS
                   and "log" not in _words(x)]
            guess = (lower or alias or ppl or close or [None])[0]
            hint = f" (did you mean {guess!r}? pass columns={{{guess!r}: {c!r}}}" if guess else ""
            if guess and guess in ppl:
                hint += " and loss_is='perplexity'"
            parts.append(f"{c!r}{hint}{')' if guess else ''}")
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
        warn(
            f"read numbers written with suffixes or spaces as plain numbers: {desc}; "
            "check that B means billions (not bytes) in your export"
        )
    needed_numeric = [c for c in ("N", "D", "C", "loss") if c in df.columns]
    for col in needed_numeric:
        vals = df[col].to_numpy()
        bad = ~np.isfinite(vals)
        if bad.any():
            raise RunsTableError(
                f"column {col!r} has missing or infinite values in {_rows(df.index[bad])}; "
                "drop those runs (runs.dropna() in Python; delete those rows of a file "
                "given to the command line) or fill them in"
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

    # Loss units: perplexity stops here unless the caller said what the column holds.
    if "loss" in df.columns:
        loss_name = source.get("loss", "loss")
        df["loss"] = _loss_in_nats(df, loss_name, loss_is)
        if loss_is is None:
            bits = _bits_message(loss_name)
            if bits:
                warn(bits)
        else:
            df.attrs["loss_is"] = "nats"

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
    derived: set[str] = set()
    if "N" in df.columns:
        n = df["N"].to_numpy()
        if "D" not in df.columns and "C" in df.columns:
            c = df["C"].to_numpy()
            with np.errstate(all="ignore"):
                df["D"] = c / (flops * n) if not callable(flops) else _solve_tokens(flops_fn, n, c)
            derived.add("D")
        elif "C" not in df.columns and "D" in df.columns:
            with np.errstate(all="ignore"):
                df["C"] = np.asarray(flops_fn(n, df["D"].to_numpy()), dtype=float)
            derived.add("C")
    if check_units:
        for message in _check_units(df, flops_fn, flops_desc, derived, source,
                                    check_consistency=check_consistency):
            warn(message)
    else:
        df.attrs["check_units"] = False
    if (check_consistency and "N" in df.columns and not derived
            and {"C", "D"} <= set(df.columns)):
        with np.errstate(all="ignore"):
            implied = np.asarray(flops_fn(df["N"].to_numpy(), df["D"].to_numpy()), dtype=float)
            rel = np.abs(implied / df["C"].to_numpy() - 1.0)
        off = rel > 0.05
        if off.any():
            warn(
                f"C disagrees with {flops_desc} by more than 5% in {_rows(df.index[off])} "
                f"(up to {rel.max():.0%}); bayescale uses N and D for the law and C only for "
                "budgets. Pass flops= with your FLOP formula if yours differs"
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

    dup_message = _duplicates_message(df, groups, source, derived)
    if dup_message:
        warn(dup_message)
    if {"N", "D"} <= set(require) and "loss" in df.columns:
        mixed = _mixed_setups_message(df, groups, source)
        if mixed:
            warn(mixed, MixedSetupWarning)
    _register(df, seen)
    return df


# ------------------------------------------------------------------------ warn once per table
# id(table) -> (weak reference, messages already given).  validate_runs shares the set between its
# input and its output, so a table validated once per law (bayescale.compare) and the validated
# table handed on to check_design warn once.  Identity, not content: a new table warns anew.
_WARNED: dict[int, tuple[weakref.ref, set[str]]] = {}


def _warned_set(table: Any) -> set[str]:
    entry = _WARNED.get(id(table))
    if entry is not None and entry[0]() is table:
        return entry[1]
    seen: set[str] = set()
    _register(table, seen)
    return seen


def _register(table: Any, seen: set[str]) -> None:
    key = id(table)

    def forget(ref, _key=key):
        if _WARNED.get(_key, (None,))[0] is ref:
            del _WARNED[_key]

    try:
        _WARNED[key] = (weakref.ref(table, forget), seen)
    except TypeError:  # not weak-referenceable: warn every time
        pass


def _warn_once(seen: set[str], message: str, category: type[Warning], stacklevel: int) -> None:
    if message in seen:
        return
    seen.add(message)
    warnings.warn(message, category, stacklevel=stacklevel)


# ------------------------------------------------------------------------ loss units
def _words(name: str) -> set[str]:
    return set(re.split(r"[^a-z]+", str(name).lower())) - {""}


def _bits_message(name: str) -> str | None:
    """The warning for a loss column named like bits, or None."""
    if not _words(name) & _BITS_WORDS:
        return None
    return (
        f"the loss column {name!r} looks like bits (per byte or per token), but bayescale "
        f"expects nats per token: pass bits per token times ln 2 (runs[{name!r}] * "
        "math.log(2), or loss_is='bits'); bits per byte also need the tokenizer's bytes per "
        "token. Pass loss_is='nats' if the values are already in nats"
    )


def _loss_in_nats(df: pd.DataFrame, name: str, loss_is: str | None) -> pd.Series:
    """The loss column in nats per token; RunsTableError for perplexity nobody asked to convert."""
    loss = df["loss"]
    vals = loss.to_numpy(dtype=float)
    if loss_is == "perplexity":
        bad = vals < 1.0
        if bad.any():
            shown = ", ".join(f"{v:g}" for v in vals[bad][:3])
            raise RunsTableError(
                f"loss_is='perplexity', but the loss column {name!r} holds {shown} in "
                f"{_rows(df.index[bad])}, below 1, which no perplexity can be; if the column "
                "already holds cross-entropy, leave out loss_is (or pass loss_is='nats')"
            )
        return pd.Series(np.log(vals), index=loss.index, name=loss.name)
    if loss_is == "bits":
        return loss * math.log(2.0)
    if loss_is is None:
        words = _words(name)
        named = bool(words & _PPL_WORDS) and "log" not in words
        median = float(np.median(vals))
        if named or median > _MAX_LOSS_NATS:
            why = " and ".join(
                ([f"its name {name!r}"] if named else [])
                + ([f"a median of {median:.3g}, above the {_MAX_LOSS_NATS:g} nats/token of a "
                    "uniform guess over any tokenizer's vocabulary"]
                   if median > _MAX_LOSS_NATS else [])
            )
            raise RunsTableError(
                f"the loss column {name!r} looks like perplexity ({why}), but bayescale fits "
                "cross-entropy in nats per token (perplexity fits wrong exponents): fit its log, "
                f"runs['loss'] = numpy.log(runs[{name!r}]), or pass loss_is='perplexity' to "
                "bayescale.validate_runs and fit the table it returns; pass loss_is='nats' if "
                "the values already are nats per token"
            )
    return loss


# ------------------------------------------------------------------------ unit checks
def _g(x: float) -> str:
    """``1e9`` rather than ``1e+09``."""
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2],
                  f"{x:.3g}")


def _snap(factor: float, choices: Sequence[float]) -> float:
    """The choice nearest to ``factor`` on a log scale."""
    return min(choices, key=lambda u: abs(math.log10(u) - math.log10(factor)))


def _unit_name(u: float, what: str) -> str:
    return f"{_UNIT_WORDS[u]} of {what}" if u in _UNIT_WORDS else f"units of {_g(u)} {what}"


def _col(name: str, source: Mapping[str, str]) -> str:
    """``'D'`` or ``'D' (your 'tokens')`` for messages."""
    return f"{name!r}" + (f" (your {source[name]!r})" if name in source else "")


def _times(name: str, source: Mapping[str, str], u: float) -> str:
    return f"runs[{source.get(name, name)!r}] * {_g(u)}"


def _guess_unit(values: np.ndarray, ratio_factor: float | None, typical: float) -> float:
    """Likely unit of a column that is too small: from the tokens-per-parameter ratio when the
    other column is sound (``ratio_factor``: the factor that brings it to 20), else from the
    column's median alone (the unit that brings it nearest a typical value)."""
    units = tuple(_UNIT_WORDS)
    if ratio_factor is not None and np.isfinite(ratio_factor) and ratio_factor > 1:
        return _snap(ratio_factor, units)
    return _snap(typical / float(np.median(values)), units)


def _check_units(df: pd.DataFrame, flops_fn, flops_desc: str, derived: set[str],
                 source: Mapping[str, str], *, check_consistency: bool) -> list[str]:
    """Raise a RunsTableError for magnitudes no language-model run has (naming the column and
    the likely factor); return warnings for implausible ones."""
    out: list[str] = []
    has = set(df.columns)
    escape = ("or, if these values really are plain counts, pass check_units=False to "
              "bayescale.validate_runs and fit the table it returns")
    N = df["N"].to_numpy(float) if "N" in has else None
    D = df["D"].to_numpy(float) if "D" in has else None
    with np.errstate(all="ignore"):
        ratio = D / N if N is not None and D is not None else None

    # Too small to be counts: N, then D (blaming C when D was derived from it).
    for col, values, other_ok, what, typical in (
        ("N", N, D is not None and "D" not in derived, "parameters", 3e8),
        ("D", D, N is not None, "tokens", 1e10),
    ):
        if values is None:
            continue
        bad = values < _MIN_COUNT
        if not bad.any():
            continue
        if ratio is not None and other_ok and np.all(df.loc[bad, "D" if col == "N" else "N"]
                                                     .to_numpy(float) >= _MIN_COUNT):
            r = float(np.median(ratio[bad]))
            fix = r / 20.0 if col == "N" else 20.0 / r
        else:
            fix = None
        u = _guess_unit(values[bad], fix, typical)
        where = (f"median {_g(np.median(values))}" if bad.all() else
                 f"{_rows(df.index[bad])} {_verb(df.index[bad], 'holds', 'hold')} "
                 f"{', '.join(_g(v) for v in values[bad][:3])}"
                 f" while the median is {_g(np.median(values))}")
        if col == "D" and "D" in derived:
            raise _c_units_error(float(np.median(ratio[bad])), f"is below {_MIN_COUNT:,.0f} "
                                 f"tokens ({where})", flops_desc, source, escape)
        raise RunsTableError(
            f"column {_col(col, source)} looks like {_unit_name(u, what)}, not a count "
            f"({where}; no language-model run has fewer than {_MIN_COUNT:,.0f} {what}): "
            f"multiply it by {_g(u)} ({_times(col, source, u)}), {escape}"
        )

    # Tokens per parameter: a median far outside any training regime is a unit mistake.
    if ratio is not None:
        med = float(np.median(ratio))
        lo, hi = _RATIO_MEDIAN
        if not lo <= med <= hi:
            if med < lo and "D" in derived:  # D too small because C is in larger units
                raise _c_units_error(med, f"gives a median of {_g(med)} tokens per parameter, "
                                     f"below {lo:g}", flops_desc, source, escape)
            if med < lo:  # too few tokens per parameter: D too small
                u = _snap(20.0 / med, tuple(_UNIT_WORDS))
                col, what = "D", "tokens"
            else:  # too many: N too small
                u = _snap(med / 20.0, tuple(_UNIT_WORDS))
                col, what = "N", "parameters"
            raise RunsTableError(
                f"column {_col(col, source)} looks like {_unit_name(u, what)}: the runs have a "
                f"median of {_g(med)} tokens per parameter (D / N), outside the {lo:g} to "
                f"{hi:g} of any training run (20 is compute-optimal): multiply it by {_g(u)} "
                f"({_times(col, source, u)}), {escape}"
            )
        lo, hi = _RATIO_ROWS
        off = ~((ratio >= lo) & (ratio <= hi))
        if off.any():
            out.append(
                f"{_rows(df.index[off])} {_verb(df.index[off], 'has', 'have')} "
                f"{', '.join(_g(v) for v in ratio[off][:3])} tokens per parameter (D / N),"
                f" outside {_g(lo)} to {_g(hi)} while the median is {_g(med)}: check those rows' "
                "units (N and D must be plain counts); pass check_units=False to silence"
            )

    # C against flops(N, D), when all three were given.
    if check_consistency and N is not None and D is not None and "C" in has and not derived:
        with np.errstate(all="ignore"):
            r = df["C"].to_numpy(float) / np.asarray(flops_fn(N, D), dtype=float)
        r = r[np.isfinite(r) & (r > 0)]
        if r.size:
            med = float(np.median(r))
            lo, hi = _C_RATIO
            if not lo <= med <= hi:
                u = _snap(1.0 / med, (*_C_UNITS, *(1.0 / x for x in _C_UNITS[:8])))
                unit = ("petaflop/s-days" if u == _PF_DAY else
                        f"units of {_g(u)} FLOPs" if u > 1 else f"1/{_g(1 / u)} of a FLOP")
                raise RunsTableError(
                    f"column {_col('C', source)} is {_g(med)} times {flops_desc} (median over "
                    f"the runs; within {lo:.2g} to {hi:g} for any FLOP formula), so it looks like "
                    f"{unit}: multiply it by {_g(u)} ({_times('C', source, u)}), pass flops= with "
                    "your FLOP formula, or drop C (bayescale derives it from N and D); "
                    f"{escape}"
                )
    elif N is None and "C" in has:  # a compute-only table
        C = df["C"].to_numpy(float)
        bad = C < 1e9
        if bad.any():
            raise RunsTableError(
                f"column {_col('C', source)} holds {', '.join(_g(v) for v in C[bad][:3])} "
                f"in {_rows(df.index[bad])}, below the 1e9 FLOPs of the smallest language-model "
                "run: C looks like it is in larger units; multiply it by the unit (e.g. "
                f"{_times('C', source, 1e21)} for units of 1e21 FLOPs, * {_g(_PF_DAY)} for "
                f"petaflop/s-days), {escape}"
            )

    # Implausibly small models (warning).
    for col, values, few, what in (("N", N, _FEW_N, "parameters"), ("D", D, _FEW_D, "tokens")):
        if values is None:
            continue
        small = values < few
        if small.any():
            out.append(
                f"{_rows(df.index[small])} of column {_col(col, source)} "
                f"{_verb(df.index[small], 'holds', 'hold')} "
                f"{', '.join(_g(v) for v in values[small][:3])}, fewer {what} than any "
                f"language-model run we know ({_g(few)}): check the column's units; pass "
                "check_units=False to silence"
            )
    return out


def _c_units_error(ratio: float, problem: str, flops_desc: str, source: Mapping[str, str],
                   escape: str) -> RunsTableError:
    """The error for a C in larger units, seen through the D derived from it."""
    u = _snap(20.0 / ratio, _C_UNITS)
    unit = "petaflop/s-days" if u == _PF_DAY else f"units of {_g(u)} FLOPs"
    return RunsTableError(
        f"column {_col('C', source)} looks like {unit}, not FLOPs: the D derived from it "
        f"(D = C / (k N), {flops_desc}) {problem}: multiply C by {_g(u)} "
        f"({_times('C', source, u)}) or give D directly, {escape}"
    )


# ------------------------------------------------------------------------ repeated runs, set-ups
def design_point(runs: pd.DataFrame, groups: Sequence[str] = ()) -> list[str]:
    """Columns that define one design point: N, D, the other schema inputs present (U, epochs,
    step), the groups.  Runs that share them and differ in another column mix set-ups
    (:class:`MixedSetupWarning`); :func:`envelope` keeps the best of them with ``by=`` this.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data.runs import design_point
    >>> design_point(pd.DataFrame(columns=["N", "D", "U", "loss", "lr", "family"]),
    ...              groups=["family"])
    ['N', 'D', 'U', 'family']
    """
    return ["N", "D", *[c for c in ("U", "epochs", "step") if c in runs.columns],
            *[g for g in groups if g in runs.columns]]


def _differs(col: pd.Series, i: np.ndarray, j: np.ndarray) -> bool:
    """Does the column differ between any row ``i[k]`` and row ``j[k]`` (missing == missing)?"""
    a, b = col.iloc[i].to_numpy(), col.iloc[j].to_numpy()
    both_missing = np.asarray(pd.isna(a) & pd.isna(b), dtype=bool)
    try:
        ne = np.asarray(a != b, dtype=bool)
    except Exception:  # values that do not compare
        return True
    return bool(np.any(ne & ~both_missing))


def _duplicates_message(df: pd.DataFrame, groups: Sequence[str], source: Mapping[str, str],
                        derived: set[str]) -> str | None:
    """Warning text for runs repeated exactly (same N, D, loss, groups, seed), or None."""
    cols = [c for c in ("N", "D", "loss", *groups, "seed") if c in df.columns]
    if not cols:
        return None
    try:
        dup = df.duplicated(subset=cols, keep="first").to_numpy()
    except TypeError:  # unhashable values in a grouping column
        return None
    if not dup.any():
        return None
    # Which other columns tell a repeat from the run it repeats?
    first = df.reset_index(drop=True).groupby(cols, sort=False, dropna=False).ngroup()
    first_pos = pd.Series(np.arange(len(df))).groupby(first.to_numpy()).transform("min")
    rep_pos = np.flatnonzero(dup)
    orig_pos = first_pos.to_numpy()[rep_pos]
    differ = [c for c in df.columns if c not in cols and c not in derived
              and _differs(df[c], rep_pos, orig_pos)]
    # drop_duplicates on the user's table: their column names, and C in place of a derived D.
    subset = []
    for c in cols:
        name = "C" if c in derived else source.get(c, c)
        if name not in subset:
            subset.append(name)
    rows = df.index[dup]
    example = f" (row {df.index[rep_pos[0]]} repeats row {df.index[orig_pos[0]]})"
    if differ:
        shown = ", ".join(repr(str(c)) for c in differ[:6])
        more = f" and {len(differ) - 6} more" if len(differ) > 6 else ""
        what = (f" but differ in {shown}{more} (the same run recorded twice under different "
                "labels?)")
    else:
        what = ""
    return (
        f"{_rows(rows)} {_verb(rows, 'repeats', 'repeat')} an earlier run's "
        f"{', '.join(cols)} exactly{example}{what}. Drop the repeats with "
        f"runs.drop_duplicates(subset={subset!r}) unless they are genuine repeat runs"
    )


def _is_setup_column(col: pd.Series, name: Any, n_rows: int) -> bool:
    """Could this column label a training set-up (not a measurement, not a run name)?"""
    if str(name) in _SETUP_EXEMPT or str(name) in NUMERIC_COLUMNS or _words(name) & _METRIC_WORDS:
        return False
    try:
        distinct = col.nunique(dropna=False)
    except TypeError:  # unhashable values
        return False
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return distinct <= max(10, n_rows // 2)
    return distinct < n_rows or n_rows <= 2  # a name per run identifies runs, not set-ups


def _mixed_setups_message(df: pd.DataFrame, groups: Sequence[str],
                          source: Mapping[str, str]) -> str | None:
    """Warning text for runs at one design point that differ in another column, or None."""
    key = design_point(df, groups)
    n = len(df)
    try:
        g = df.groupby(key, sort=False, dropna=False)
        mixed_cells = g["loss"].transform("nunique").to_numpy() > 1
    except TypeError:
        return None
    if not mixed_cells.any():
        return None
    sub = df.loc[mixed_cells]
    gs = sub.groupby(key, sort=False, dropna=False)
    counts: dict[Any, int] = {}
    for c in df.columns:
        if c in key or not _is_setup_column(df[c], c, n):
            continue
        try:
            k = int((gs[c].nunique(dropna=False) > 1).sum())
        except TypeError:
            continue
        if k:
            counts[c] = k
    if not counts:
        return None
    order = sorted(counts, key=lambda c: -counts[c])
    top = order[0]
    n_points = gs.ngroups
    n_all = g.ngroups
    cols = ", ".join(f"{str(c)!r} (at {counts[c]} point{'s' if counts[c] > 1 else ''})"
                     for c in order[:5])
    if len(order) > 5:
        cols += f" and {len(order) - 5} more"
    # One example: the first point where the top column differs.
    for _, cell in gs:
        if cell[top].nunique(dropna=False) > 1:
            break
    cell = cell.sort_values("loss").head(4)
    example = (
        f"e.g. {_rows(cell.index)} at N = {_g(cell['N'].iloc[0])}, D = {_g(cell['D'].iloc[0])} "
        f"have {top} = {', '.join(str(v) for v in cell[top])} and loss = "
        f"{', '.join(f'{v:.4g}' for v in cell['loss'])}"
    )
    user_groups = [source.get(x, x) for x in groups]
    point = [source.get(x, x) for x in key if x not in groups]
    within = f" within a group ({', '.join(user_groups)})" if groups else ""
    head = (f"{n_points} of the {n_all} ({', '.join(point)}) points{within} hold runs with "
            f"different losses that differ in {cols}: {example}. ")
    by_group = f"groups={[*user_groups, str(top)]!r}"
    if str(top) in CATEGORICAL_COLUMNS:  # data sets or model families: one curve each
        one, many = {"dataset": ("data set", "data sets"), "family": ("model family",
                     "model families"), "setup": ("set-up", "set-ups")}[str(top)]
        return head + (
            f"One law fitted through all of them mixes {many} and describes none of them: fit "
            f"one curve per {one}, {by_group} (a hierarchical fit: each {one} its own curve, "
            f"sharing strength), or one {one} at a time"
        )
    return head + (
        "One law fitted through all of them mixes training set-ups and describes none: fit the "
        "best run at each point, runs = bayescale.data.runs.envelope(runs, by="
        f"{[source.get(x, x) for x in key]!r}) (as isoFLOP analyses do), or one curve per "
        f"set-up, {by_group}"
    )


def _duplicated_columns(df: pd.DataFrame, among: Sequence[str] | None = None) -> list[str]:
    """Column names that appear more than once (only those in ``among``, if given), sorted."""
    names = df.columns[df.columns.duplicated()]
    return sorted({str(c) for c in names if among is None or c in among})


def envelope(
    runs: pd.DataFrame,
    by: Sequence[str] = ("N", "D"),
    *,
    loss: str = "loss",
) -> pd.DataFrame:
    """Keep the lowest-loss run at each design point (the envelope over training set-ups).

    A sweep of learning rates (or schedules, or any set-up) at every model size and token count
    holds several runs per ``(N, D)``; a scaling law of the *best achievable* loss is fitted to
    the best of them, as isoFLOP analyses do.  This is the first sound fit
    :class:`MixedSetupWarning` offers (the other is one curve per set-up, ``groups=[...]``).

    Parameters
    ----------
    runs : pandas.DataFrame
        A runs table (raw or validated).
    by : sequence of str, default ("N", "D")
        Columns that define one design point; add grouping columns (``("N", "D", "dataset")``)
        for one envelope per group.
    loss : str, default "loss"
        The column to minimise.  Rows with a missing loss are ignored.

    Returns
    -------
    pandas.DataFrame
        One row per design point (the first of tied runs), in the table's order and with its
        index; ``attrs`` kept, with a sentence added to ``attrs["notes"]``.

    Raises
    ------
    RunsTableError
        When a column of ``by`` or ``loss`` is missing or named twice, or no row has a
        numeric loss.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.data.runs import envelope
    >>> runs = pd.DataFrame({"N": [1e8, 1e8, 4e8, 4e8], "D": [2e9, 2e9, 8e9, 8e9],
    ...                      "peak_lr": [1e-3, 2e-3, 1e-3, 2e-3], "loss": [3.3, 3.2, 2.9, 3.0]})
    >>> envelope(runs)[["N", "peak_lr", "loss"]]
                 N  peak_lr  loss
    1  100000000.0    0.002   3.2
    2  400000000.0    0.001   2.9
    """
    if not isinstance(runs, pd.DataFrame):
        raise RunsTableError(f"envelope needs a pandas DataFrame, not {type(runs).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in (*by, loss) if c not in runs.columns]
    if missing:
        raise RunsTableError(
            f"envelope needs column{'s' if len(missing) > 1 else ''} {missing}; the table's "
            f"columns are {[str(c) for c in runs.columns]} (pass by=[...] or loss=...)"
        )
    dup = _duplicated_columns(runs, among=(*by, loss))
    if dup:
        raise RunsTableError(
            f"the runs table has duplicated column names {dup}, which envelope groups by or "
            f"reads the loss from; rename them so that each name is one column"
        )
    values = pd.to_numeric(runs[loss], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values)
    if not ok.any():
        raise RunsTableError(f"column {loss!r} has no numeric values; envelope needs a loss")
    work = runs[by].reset_index(drop=True).loc[ok]
    work["_loss"] = values[ok]
    best = work.groupby(by, sort=False, dropna=False)["_loss"].idxmin().to_numpy()
    out = runs.iloc[np.sort(best)]
    out.attrs = {**runs.attrs, "notes": (
        f"{runs.attrs.get('notes', '')} envelope: kept the lowest-{loss} run of each of the "
        f"{len(out)} points ({', '.join(map(str, by))}) of {len(runs)} runs."
    ).strip()}
    return out


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
            _warn_once(
                _warned_set(runs),
                f"log N and log D are almost collinear (correlation "
                f"{np.corrcoef(ln, ld)[0, 1]:.3f}; median D/N = {ratio:.3g}): the runs cannot "
                f"tell the N term of law {name!r} from its D term, so predictions at other "
                "tokens-per-parameter ratios (and compute-optimal allocations) come from the "
                "priors; add runs with more and fewer tokens per parameter",
                DataWarning,
                stacklevel=4,
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
