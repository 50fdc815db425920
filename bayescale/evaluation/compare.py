"""Compare fitted laws by PSIS-LOO: which law predicts a held-out run like the ones we have.

:func:`compare` takes fits of different laws (or specs) *to the same runs* and returns ArviZ's
comparison table (``elpd``, its standard error, differences to the best law with their standard
errors, stacking weights) computed by Pareto-smoothed importance sampling leave-one-out
cross-validation on each fit's ``log_likelihood`` group (variable ``log_loss``, one value per run
and draw).  Runs whose Pareto ``k`` exceeds ArviZ's threshold are listed by name (rows of
``fit.runs``): for those the PSIS estimate is unreliable and the run is highly influential, so a
large ``elpd`` difference driven by them deserves an exact refit without the run.

Leave-one-group-out (``groups="family"``, or any column of the runs) sums each run's pointwise
log likelihood within a group *before* PSIS, so that each importance ratio leaves a whole group
out (Vehtari et al. 2017, sec. 2; the PSIS-LOGO of the loo R package).  Leaving a whole group out
moves the posterior much more than leaving one run out, so high ``k`` values are common there;
they are reported, not hidden.  No refits are made.

LOO answers "which law predicts a new run *inside* the range of the data"; for "which law
predicts the *bigger* runs" use :func:`bayescale.backtest`.  Pass its result as
``compare(fits, backtest=bt)`` to put both rankings side by side: where they disagree, the
comparison says so and that the backtest is the one that answers an extrapolation question.

Two things make a law's ``elpd`` untrustworthy, and both are flagged in the table's ``warning``
column and in the printed comparison rather than ranked silently: a fit that failed its sampling
diagnostics (its posterior, and so its LOO, may be wrong), and an effective number of parameters
``p_loo`` far above the fit's free parameters (more than :data:`P_LOO_FACTOR` = 1.5 times the
law's plus the noise model's, for a fit without groups), the sign of a misspecified law or of a
few runs that dominate the fit (Vehtari et al. 2017, sec. 4; the loo package's ``p_loo`` advice).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["P_LOO_FACTOR", "Comparison", "compare"]

OBSERVED = "log_loss"
#: ``p_loo`` above this multiple of a fit's free parameters (law + noise) is flagged.
P_LOO_FACTOR = 1.5
_RUN_COLUMNS = ("N", "D", "U", "C", "loss", "error", "target_loss")


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        ArviZ's comparison table, best law first: ``rank``, ``elpd``, ``p``, ``se``,
        ``elpd_diff``, ``dse``, ``weight`` (stacking), ``p_worse``, ``diag_diff``,
        ``diag_elpd``, plus ``n_high_k`` (runs or groups above the Pareto-k threshold) and
        ``warning`` (empty, or why the law's elpd is not to be trusted: failed sampling
        diagnostics, ``p_loo`` far above the free parameters).  With a backtest also
        ``backtest_elpd`` (summed log predictive density of the held-out larger runs) and
        ``backtest_rank`` (0 = best).
    pointwise : pandas.DataFrame
        One row per law and run (or group): ``law``, ``unit`` (row label of ``fit.runs`` or the
        group label), ``elpd_i``, ``pareto_k``, ``high_k`` and the run's ``N``, ``D``... columns.
    high_k : pandas.DataFrame
        The rows of ``pointwise`` with ``high_k`` True.
    threshold : float
        The Pareto-k threshold used (ArviZ's ``good_k``, ``min(1 - 1/log10(S), 0.7)``).
    kind : str
        ``"loo"`` or ``"logo by <columns>"``.
    elpd : dict
        The ArviZ ``ELPDData`` of each law.
    notes : tuple of str
        The warnings in full sentences, and the verdict of the backtest against LOO.
    backtest : pandas.DataFrame or None
        Per law: predictions of held-out runs scored (``n``, over all cutoffs), ``elpd`` and
        ``rank`` in the backtest.

    Examples
    --------
    >>> import bayescale as bs
    >>> cmp = bs.compare({"chinchilla": fits["chinchilla"], "kaplan": fits["kaplan"]})
    >>> cmp.table[["elpd", "se", "elpd_diff", "dse"]].round(0)
                 elpd    se  elpd_diff   dse
    chinchilla  880.0  18.0        0.0   0.0
    kaplan      651.0  14.0     -229.0  21.0
    >>> len(cmp.high_k)                   # runs where PSIS-LOO is unreliable
    0
    """

    table: pd.DataFrame
    pointwise: pd.DataFrame
    high_k: pd.DataFrame
    threshold: float
    kind: str
    elpd: Mapping[str, Any] = field(repr=False)
    notes: tuple[str, ...] = ()
    backtest: pd.DataFrame | None = None

    def difference(self, a: str, b: str) -> tuple[float, float]:
        """``elpd(a) - elpd(b)`` and its standard error from the paired pointwise differences.

        Examples
        --------
        >>> import bayescale as bs
        >>> cmp = bs.compare(fits)
        >>> d, se = cmp.difference("kaplan", "chinchilla")
        >>> round(d), round(se)
        (-229, 21)
        """
        for name in (a, b):
            if name not in self.elpd:
                raise KeyError(f"no law {name!r} in this comparison; it has {list(self.elpd)}")
        ea = np.asarray(self.elpd[a].elpd_i).ravel()
        eb = np.asarray(self.elpd[b].elpd_i).ravel()
        diff = ea - eb
        return float(diff.sum()), float(np.sqrt(len(diff) * np.var(diff)))

    def __str__(self) -> str:
        cols = [c for c in ("rank", "elpd", "se", "elpd_diff", "dse", "weight", "p", "n_high_k",
                            "backtest_elpd", "backtest_rank", "warning")
                if c in self.table.columns]
        text = [f"PSIS-{self.kind.upper() if self.kind == 'loo' else self.kind} comparison "
                f"(elpd on the log scale of the target; higher is better)",
                self.table[cols].to_string(float_format=lambda x: f"{x:.4g}")]
        if len(self.high_k):
            text.append(
                f"{len(self.high_k)} point(s) with Pareto k > {self.threshold:.2f} (PSIS "
                "unreliable there; refit without them to check):"
            )
            show = [c for c in ("law", "unit", "pareto_k", *_RUN_COLUMNS, "run_name")
                    if c in self.high_k.columns]
            text.append(self.high_k[show].to_string(index=False,
                                                    float_format=lambda x: f"{x:.4g}"))
        else:
            text.append(f"all Pareto k <= {self.threshold:.2f}")
        text += [f"- {note}" for note in self.notes]
        return "\n".join(text)

    def _repr_html_(self) -> str:
        return f"<pre>{self}</pre>"


def _check_same_runs(fits: Mapping[str, Any]) -> None:
    names = list(fits)
    ref = fits[names[0]]
    y0 = np.asarray(ref.tree["observed_data"][OBSERVED]).ravel()
    for name in names[1:]:
        f = fits[name]
        y = np.asarray(f.tree["observed_data"][OBSERVED]).ravel()
        if y.shape != y0.shape or not np.allclose(y, y0, rtol=0, atol=1e-12):
            raise ValueError(
                f"fits {names[0]!r} and {name!r} were not made on the same runs ({len(y0)} vs "
                f"{len(y)} observations, or different values); LOO compares laws on identical "
                "data, so fit every law to the same runs table"
            )


def _free_params(fit) -> int | None:
    """Free parameters of a fit without groups (law + noise model); None for a hierarchy."""
    from bayescale.modeling.spec import NOISE_PARAMS

    if fit.spec.groups:
        return None
    return len(fit.law.params) + len(NOISE_PARAMS[fit.spec.likelihood])


def _law_warnings(name: str, fit, p_loo: float, check_p: bool) -> tuple[list[str], list[str]]:
    """(short flags for the table, sentences for the notes) about one law's elpd."""
    short, notes = [], []
    if not fit.diagnostics.ok:
        short.append("diagnostics failed")
        first = fit.diagnostics.problems[0] if fit.diagnostics.problems else "see fit.check()"
        notes.append(
            f"{name!r} failed its sampling diagnostics ({first}); its posterior and so its elpd "
            "may be wrong: repair the fit (fit.check() gives the remedy) before ranking it"
        )
    n_free = _free_params(fit) if check_p else None
    if n_free is not None and np.isfinite(p_loo) and p_loo > P_LOO_FACTOR * n_free:
        short.append(f"p_loo {p_loo:.3g} > {P_LOO_FACTOR:g} x {n_free} parameters")
        notes.append(
            f"{name!r} has p_loo = {p_loo:.3g} effective parameters for {n_free} free ones "
            f"(law + noise): the law is misspecified for these runs or a few runs dominate the "
            "fit; look at its Pareto k and elpd_i in .pointwise and at the runs it fits worst "
            "before trusting its rank"
        )
    return short, notes


def _backtest_scores(bt: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Per law: held-out runs scored, summed lpd and rank, on the runs every law was scored on."""
    if not isinstance(bt, pd.DataFrame) or not {"law", "lpd"} <= set(bt.columns):
        raise ValueError(
            "backtest= takes the DataFrame returned by bayescale.backtest (columns 'law' and "
            f"'lpd'); got {type(bt).__name__}"
            + (f" with columns {list(bt.columns)}" if isinstance(bt, pd.DataFrame) else "")
        )
    shared = [name for name in labels if name in set(bt["law"])]
    if len(shared) < 2:
        raise ValueError(
            f"the backtest scores laws {sorted(set(bt['law']))} but the fits are labelled "
            f"{list(labels)}; at least two must match: label the fits as the backtest's laws"
        )
    keys = [c for c in ("cutoff", "run") if c in bt.columns]
    rows = bt[bt["law"].isin(shared)]
    if keys:  # the held-out runs every law was scored on, so that the sums compare
        wide = rows.pivot_table(index=keys, columns="law", values="lpd", aggfunc="sum")
        wide = wide[shared].dropna()
        elpd, n = wide.sum(), len(wide)
    else:
        elpd, n = rows.groupby("law")["lpd"].sum(), rows.groupby("law").size().min()
    out = pd.DataFrame({"n": n, "elpd": [float(elpd[name]) for name in shared]}, index=shared)
    out["rank"] = out["elpd"].rank(ascending=False, method="first").astype(int) - 1
    return out


def _backtest_note(loo_order: Sequence[str], scores: pd.DataFrame) -> str:
    loo = [name for name in loo_order if name in scores.index]
    lfo = list(scores.sort_values("rank").index)
    if loo == lfo:
        return (f"The leave-future-out backtest ({scores['n'].iloc[0]} predictions of held-out "
                f"larger runs) ranks the laws as LOO does: {' > '.join(lfo)}.")
    return (f"LOO and the leave-future-out backtest disagree: LOO ranks {' > '.join(loo)}, the "
            f"backtest {' > '.join(lfo)} ({scores['n'].iloc[0]} predictions of held-out larger "
            "runs).  LOO "
            "scores new runs inside the range of the data (interpolation); the backtest scores "
            "the larger runs each law was not fitted to (extrapolation), so for a budget beyond "
            "the runs go by the backtest.")


def _group_tree(fit, cols: Sequence[str]):
    """A DataTree whose log_likelihood sums the runs of each group (for PSIS-LOGO)."""
    import xarray as xr

    runs = fit.runs.reset_index(drop=True)
    missing = [c for c in cols if c not in runs.columns]
    if missing:
        raise ValueError(
            f"groups={list(cols)}: the runs have no column(s) {missing}; they have "
            f"{list(runs.columns)}"
        )
    from bayescale.modeling.groups import group_labels

    labels = group_labels(runs, tuple(cols)).to_numpy()
    order = list(dict.fromkeys(labels))
    ll = fit.tree["log_likelihood"][OBSERVED]
    dim = next(d for d in ll.dims if d not in ("chain", "draw"))
    summed = np.stack(
        [np.asarray(ll.isel({dim: np.flatnonzero(labels == g)})).sum(axis=-1) for g in order],
        axis=-1,
    )
    da = xr.DataArray(summed, dims=("chain", "draw", "group_out"),
                      coords={"chain": ll["chain"], "draw": ll["draw"], "group_out": order},
                      name=OBSERVED)
    return xr.DataTree.from_dict({
        "posterior": fit.tree["posterior"].to_dataset(),
        "log_likelihood": xr.Dataset({OBSERVED: da}),
    }), order, labels


def compare(
    fits: Mapping[str, Any],
    *,
    groups: str | Sequence[str] | None = None,
    method: str = "stacking",
    reference: str | None = None,
    backtest: pd.DataFrame | None = None,
) -> Comparison:
    """Compare fitted laws by PSIS-LOO (or leave-one-group-out) and flag high Pareto k runs.

    Laws whose elpd is not to be trusted are flagged (column ``warning``, and a sentence in the
    printed comparison): fits that failed their sampling diagnostics, and fits without groups
    whose ``p_loo`` exceeds :data:`P_LOO_FACTOR` times their free parameters (law + noise).

    Parameters
    ----------
    fits : mapping of str to ScalingFit
        Fits of the laws to compare, made on the *same* runs, keyed by a label.
    groups : str or sequence of str, optional
        Column(s) of the runs defining groups for leave-one-group-out: the pointwise log
        likelihoods of a group's runs are summed before PSIS.  Default: leave one run out.
        Works for hierarchical fits (``groups="family"`` leaves a whole family out) and for
        plain fits (``groups="N"`` leaves each model size out).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ArviZ computes the model weights.
    reference : str, optional
        Law to compute ``elpd_diff`` against (default: the best).
    backtest : pandas.DataFrame, optional
        The result of :func:`bayescale.backtest` on the same runs, with laws labelled as the
        fits are.  Adds ``backtest_elpd`` and ``backtest_rank`` (summed log predictive density
        of the held-out larger runs every law was scored on) and says whether the backtest
        ranks the laws as LOO does; where they disagree, the backtest answers the question
        about extrapolation (LOO scores interpolation).

    Returns
    -------
    Comparison
        ``table`` (ArviZ's compare table plus ``n_high_k`` and ``warning``), ``pointwise``,
        ``high_k``, ``notes``.

    Raises
    ------
    ValueError
        If fewer than two fits are given, the fits were made on different runs, or the backtest
        scores fewer than two of the fits' labels.

    Examples
    --------
    >>> import bayescale as bs
    >>> cmp = bs.compare(fits)            # two laws fitted to the same runs
    >>> cmp.table[["rank", "elpd_diff"]].round(0)
                rank  elpd_diff
    chinchilla     0        0.0
    kaplan         1     -229.0
    >>> cmp.table.loc["kaplan", "warning"]              # doctest: +ELLIPSIS
    'p_loo ... > 1.5 x 6 parameters'

    On data with repeated epochs, with a backtest beside LOO (a minute of fits):

    >>> runs = bs.datasets.load("datablations", main_only=True)
    >>> fits = {law: bs.fit(runs, law) for law in ("chinchilla", "datablations")}  # doctest: +SKIP
    >>> print(bs.compare(fits))                                                    # doctest: +SKIP
    >>> bt = bs.backtest(runs, ["chinchilla", "datablations"])                     # doctest: +SKIP
    >>> bs.compare(fits, backtest=bt).table[["elpd", "backtest_rank", "warning"]]  # doctest: +SKIP
    """
    import arviz as az

    if not isinstance(fits, Mapping) or len(fits) < 2:
        raise ValueError("compare needs a dict of at least two fits, {label: fit}")
    for name, f in fits.items():
        if not hasattr(f, "tree") or "log_likelihood" not in f.tree.children:
            raise ValueError(
                f"{name!r} is not a bayescale fit with a log_likelihood group; pass the "
                "ScalingFit returned by bayescale.fit or load_fit"
            )
    _check_same_runs(fits)
    cols = [groups] if isinstance(groups, str) else list(groups or [])
    elpd, units = {}, {}
    for name, f in fits.items():
        if cols:
            tree, order, _ = _group_tree(f, cols)
            units[name] = order
        else:
            tree = f.tree
            units[name] = list(f.runs.index)
        with warnings.catch_warnings():  # high k is reported below, by run
            warnings.filterwarnings("ignore", message=".*Pareto.*")
            warnings.filterwarnings("ignore", message=".*[Ee]stimated shape parameter.*")
            elpd[name] = az.loo(tree, pointwise=True, var_name=OBSERVED)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        table = az.compare(elpd, method=method, reference=reference, round_to="none")
    threshold = float(min(e.good_k for e in elpd.values()))
    rows = []
    for name, e in elpd.items():
        k = np.asarray(e.pareto_k).ravel()
        ei = np.asarray(e.elpd_i).ravel()
        part = pd.DataFrame({"law": name, "unit": units[name], "elpd_i": ei, "pareto_k": k})
        part["high_k"] = ~(part["pareto_k"] <= threshold)  # NaN k: PSIS failed there
        if not cols:
            runs = fits[name].runs
            extra = [c for c in (*_RUN_COLUMNS, "run_name", *fits[name].spec.groups)
                     if c in runs.columns]
            part = pd.concat([part, runs[extra].reset_index(drop=True)], axis=1)
        rows.append(part)
    pointwise = pd.concat(rows, ignore_index=True)
    n_high = pointwise.groupby("law")["high_k"].sum()
    table = table.copy()
    table["n_high_k"] = [int(n_high.get(name, 0)) for name in table.index]
    flags, notes = [], []
    for name in table.index:
        short, sentences = _law_warnings(name, fits[name], float(elpd[name].p), not cols)
        flags.append("; ".join(short))
        notes += sentences
    table["warning"] = flags
    scores = None
    if backtest is not None:
        scores = _backtest_scores(backtest, list(table.index))
        table["backtest_elpd"] = [scores["elpd"].get(name, np.nan) for name in table.index]
        table["backtest_rank"] = pd.array([scores["rank"].get(name, pd.NA)
                                           for name in table.index], dtype="Int64")
        notes.append(_backtest_note(list(table.index), scores))
    kind = "loo" if not cols else f"logo by {'/'.join(cols)}"
    return Comparison(table=table, pointwise=pointwise,
                      high_k=pointwise[pointwise["high_k"]].reset_index(drop=True),
                      threshold=threshold, kind=kind, elpd=elpd, notes=tuple(notes),
                      backtest=scores)
