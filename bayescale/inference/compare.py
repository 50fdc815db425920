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
predicts the *bigger* runs" use :func:`bayescale.backtest`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Comparison", "compare"]

OBSERVED = "log_loss"
_RUN_COLUMNS = ("N", "D", "U", "C", "loss", "error", "target_loss")


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    Attributes
    ----------
    table : pandas.DataFrame
        ArviZ's comparison table, best law first: ``rank``, ``elpd``, ``p``, ``se``,
        ``elpd_diff``, ``dse``, ``weight`` (stacking), ``p_worse``, ``diag_diff``,
        ``diag_elpd``, plus ``n_high_k`` (runs or groups above the Pareto-k threshold).
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

    Examples
    --------
    >>> import bayescale as bs
    >>> cmp = bs.compare({"chinchilla": fit_a, "datablations": fit_b})   # doctest: +SKIP
    >>> cmp.table[["elpd", "se", "elpd_diff", "dse", "weight"]]          # doctest: +SKIP
    >>> cmp.high_k                                                       # doctest: +SKIP
    """

    table: pd.DataFrame
    pointwise: pd.DataFrame
    high_k: pd.DataFrame
    threshold: float
    kind: str
    elpd: Mapping[str, Any] = field(repr=False)

    def difference(self, a: str, b: str) -> tuple[float, float]:
        """``elpd(a) - elpd(b)`` and its standard error from the paired pointwise differences.

        Examples
        --------
        >>> d, se = cmp.difference("datablations", "chinchilla")   # doctest: +SKIP
        """
        for name in (a, b):
            if name not in self.elpd:
                raise KeyError(f"no law {name!r} in this comparison; it has {list(self.elpd)}")
        ea = np.asarray(self.elpd[a].elpd_i).ravel()
        eb = np.asarray(self.elpd[b].elpd_i).ravel()
        diff = ea - eb
        return float(diff.sum()), float(np.sqrt(len(diff) * np.var(diff)))

    def __str__(self) -> str:
        cols = [c for c in ("rank", "elpd", "se", "elpd_diff", "dse", "weight", "p", "n_high_k")
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
    labels = runs[list(cols)].astype(str).agg("/".join, axis=1).to_numpy()
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
) -> Comparison:
    """Compare fitted laws by PSIS-LOO (or leave-one-group-out) and flag high Pareto k runs.

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

    Returns
    -------
    Comparison
        ``table`` (ArviZ's compare table plus ``n_high_k``), ``pointwise``, ``high_k``.

    Raises
    ------
    ValueError
        If fewer than two fits are given, or the fits were made on different runs.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("datablations", main_only=True)
    >>> fits = {law: bs.fit(runs, law) for law in ("chinchilla", "datablations")}  # doctest: +SKIP
    >>> print(bs.compare(fits))                                                    # doctest: +SKIP
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
    kind = "loo" if not cols else f"logo by {'/'.join(cols)}"
    return Comparison(table=table, pointwise=pointwise,
                      high_k=pointwise[pointwise["high_k"]].reset_index(drop=True),
                      threshold=threshold, kind=kind, elpd=elpd)
