"""The decisions, one public name each: they take a fit, or a mapping of its posterior draws.

Each function here takes a :class:`~bayescale.ScalingFit` (its draws come from
:meth:`ScalingFit.draws <bayescale.ScalingFit.draws>` with ``noise=True``: the natural
parameters plus the observation-noise parameters ``sigma`` and ``nu``, for a group with
``group=``, the discrepancy frozen with ``seed``) or those draws themselves (any mapping of
``(S,)`` arrays; ``law=`` for a plain dict), and runs the numpy core of
:mod:`bayescale.decisions` on them.  The former names of the numpy cores are deprecated aliases
that warn and give the same numbers:

===========================  ==============================================================
:func:`allocate`             ``allocation_table``; ``compute_optimal`` is ``per_draw=True``
:func:`prob_target`          ``prob_below``
:func:`budget_for`           ``budget_for_target``
:func:`plan_regret`          ``regret``
:func:`risk_averse`          ``risk_averse_allocation``
:func:`inference_aware`      ``inference_aware_allocation``
:func:`extrapolation`        how far a budget lies beyond the runs, in orders of magnitude
:func:`predict_optimal`      the loss of a run that splits a budget compute-optimally
===========================  ==============================================================

Run-to-run noise follows the question: one about *a training run* counts it (``noise=True``:
:func:`prob_target`, :func:`budget_for`), one about *the law* does not (``noise=False``:
``fit.predict``, :func:`predict_optimal`, :func:`risk_averse`).

Training FLOPs default to the fit's FLOP convention (``fit.flops_per_token``: ``C = k N D``,
``k = 6`` unless the fit was made with another ``flops``); pass ``flops_per_token`` or a FLOP
function ``flops(N, D)`` to override it.  For a hierarchical fit pass ``group=`` (a group label,
or ``"new"`` for an unseen group drawn from the population).

Examples
--------
>>> import bayescale as bs
>>> # fit = bs.fit(bs.datasets.load("chinchilla", drop_outliers=True), seed=0)
>>> tab = bs.allocate(fit, [1e22, 5.76e23], ci=(0.95,))
>>> tab[["budget", "quantity", "median", "lo_95", "hi_95"]]
         budget          quantity     median      lo_95      hi_95
0  1.000000e+22                 N    9.0e+09    8.0e+09    1.0e+10
1  1.000000e+22                 D   1.85e+11    1.6e+11    2.1e+11
2  1.000000e+22              loss  2.138e+00  2.131e+00  2.145e+00
3  1.000000e+22  tokens_per_param    2.1e+01    1.6e+01    2.6e+01
4  5.760000e+23                 N    7.1e+10      6e+10      9e+10
5  5.760000e+23                 D   1.35e+12    1.1e+12    1.6e+12
6  5.760000e+23              loss   1.90e+00    1.8e+00    2.1e+00
7  5.760000e+23  tokens_per_param    1.9e+01    1.2e+01    2.8e+01
>>> round(bs.prob_target(fit, 2.0, budgets=5.76e23), 1)
0.9

The same decision from the draws (here without the discrepancy, which draws carry only when
asked for):

>>> draws = fit.draws(noise=True)
>>> round(bs.prob_target(draws, 2.0, budgets=5.76e23), 3)   # few runs fail at 20 tokens/param
0.98
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import (
    DecisionError,
    failure_curve,
    is_nd_law,
    positive_values,
    summarise,
    warn_deprecated,
)
from bayescale.decisions.allocation import _allocation_table, _compute_optimal
from bayescale.decisions.regret import RegretResult, _regret
from bayescale.decisions.risk import _budget_for_target, _prob_below
from bayescale.decisions.robust import (
    InferenceAwareAllocation,
    RiskAverseAllocation,
    _inference_aware_allocation,
    _risk_averse_allocation,
)

__all__ = [
    "allocate",
    "budget_for",
    "decision_draws",
    "extrapolation",
    "fit_flops_per_token",
    "inference_aware",
    "plan_regret",
    "predict_optimal",
    "prob_target",
    "risk_averse",
]

def _is_fit(fit: Any) -> bool:
    return all(hasattr(fit, a) for a in ("tree", "spec", "runs", "draws"))


def _check_fit(fit: Any) -> None:
    if not _is_fit(fit):
        raise DecisionError(
            f"fit must be a bayescale ScalingFit (from bayescale.fit or bayescale.load_fit); got "
            f"{type(fit).__name__}.  For raw arrays of draws use the functions of "
            f"bayescale.decisions directly"
        )


def _fit_draws(fit: Any, group: Any = None, *, discrepancy: Any = False, seed: Any = 0,
               flops_per_token: float | None = None, group_seed: Any = 0) -> Any:
    """A fit's draws for a decision: ``fit.draws(group=..., noise=True, discrepancy=...)``.

    One curve per draw: a hierarchical fit needs ``group``.  A new group's effects are drawn
    with ``group_seed`` (0, as they always were), the discrepancy's deviates with ``seed``.
    Bad groups and discrepancies raise :class:`DecisionError`.
    """
    _check_fit(fit)
    if fit.groups and group is None:
        raise DecisionError(
            f"this is a hierarchical fit with groups {fit.groups}; pass group=<one of them> "
            f"(or group='new' for an unseen group drawn from the population)"
        )
    from bayescale.errors import NewGroupError

    try:
        return fit.draws(group=group, noise=True, discrepancy=discrepancy, seed=seed,
                         rng=np.random.default_rng(group_seed), flops_per_token=flops_per_token)
    except NewGroupError:
        raise  # one exception type for "this hierarchy cannot predict a new group"
    except (ValueError, KeyError) as exc:
        raise DecisionError(str(exc).strip("'\"")) from None


def _source(fit: Any, *, group: Any, law: Any, flops_per_token: float | None, flops: Any,
            method: str, discrepancy: Any = False, seed: Any = 0, deviation: Any = None,
            group_seed: Any = 0, default_law: str = "chinchilla",
            ) -> tuple[Any, dict[str, Any], Any]:
    """``(draws, options of the numpy core, frozen deviation or None)`` of a decision.

    ``fit`` is a :class:`~bayescale.ScalingFit` (its draws, law, FLOP convention and the
    discrepancy resolved and frozen with ``seed``) or a mapping of draws (e.g. from
    :meth:`ScalingFit.draws <bayescale.ScalingFit.draws>`, whose ``law``,
    ``flops_per_token`` and ``deviation`` are the defaults; a plain dict: law
    ``"chinchilla"``, 6 FLOPs per parameter per token, no deviation).
    """
    if _is_fit(fit):
        if law is not None:
            raise DecisionError("law= is for a mapping of draws; a fit has its own law")
        k = fit.flops_per_token if flops_per_token is None else flops_per_token
        draws = _fit_draws(fit, group, discrepancy=discrepancy, seed=seed, flops_per_token=k,
                           group_seed=group_seed)
        dev = draws.deviation if deviation is None else deviation
        return draws, {"law": fit.law, "flops_per_token": k, "flops": flops,
                       "method": method}, dev
    if not isinstance(fit, Mapping):
        raise DecisionError(
            f"fit must be a bayescale ScalingFit (from bayescale.fit or bayescale.load_fit) or a "
            f"mapping of posterior draws (fit.draws(noise=True)); got {type(fit).__name__}"
        )
    if group is not None:
        raise DecisionError(f"group={group!r} is for a fit; draws are of one group already "
                            "(fit.draws(group=...))")
    wide = [name for name, v in fit.items() if np.ndim(v) > 1]
    if wide:
        raise DecisionError(
            f"draws {wide} have a group axis (a hierarchical fit's draws without group=); pass "
            "one group's draws, fit.draws(group=..., noise=True)"
        )
    if law is None:
        law = getattr(fit, "law", None) or default_law
    if flops_per_token is None:
        flops_per_token = getattr(fit, "flops_per_token", 6.0)
    if deviation is None and discrepancy is not None and discrepancy is not False:
        deviation = getattr(fit, "deviation", None)
    return fit, {"law": law, "flops_per_token": flops_per_token, "flops": flops,
                 "method": method}, deviation


def decision_draws(fit: Any, *, group: str | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Deprecated: use ``fit.draws(group=group, noise=True, seed=seed)``.

    The law's natural parameters and the noise parameters (``sigma``, ``nu``) of a fit, each
    of shape ``(S,)``: for a hierarchical fit a group (or ``"new"``) is required.

    Examples
    --------
    >>> import warnings
    >>> from bayescale.decisions.api import decision_draws
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     d = decision_draws(fit)
    >>> sorted(d) == sorted(fit.draws(noise=True))
    True
    """
    warn_deprecated("bayescale.decisions.decision_draws",
                    "fit.draws(group=group, noise=True, seed=seed)")
    return dict(_fit_draws(fit, group, group_seed=seed))


def fit_flops_per_token(fit: Any) -> float:
    """Deprecated: use ``fit.flops_per_token``, the FLOP convention stored with the fit.

    Examples
    --------
    >>> fit.flops_per_token
    6.0
    """
    warn_deprecated("bayescale.decisions.fit_flops_per_token", "fit.flops_per_token")
    return float(fit.flops_per_token)


def _distance(fit: Any, group: str | None, c: Any, tpp: Any, k: float) -> pd.DataFrame:
    """The distance columns of ``fit.predict`` rows for budgets ``c`` split at ``tpp``."""
    from bayescale.posterior.discrepancy import forecast_distance

    c = np.atleast_1d(np.asarray(c, dtype=float)).ravel()
    given: dict[str, Any] = {"C": c}
    if tpp is not None:
        t = np.broadcast_to(np.asarray(tpp, dtype=float).ravel(), c.shape)
        n = np.sqrt(c / (k * t))
        given |= {"N": n, "D": t * n}
    return forecast_distance(fit, given, c.size, group=group, flops=k)[1]


def allocate(
    fit: Any,
    budgets: Any,
    *,
    ci: Sequence[float] = (0.5, 0.8, 0.95),
    group: str | None = None,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    discrepancy: Any = True,
    seed: int | None = 0,
    law: Any = None,
    deviation: Any = None,
    per_draw: bool = False,
) -> pd.DataFrame:
    """Compute-optimal allocation of each budget, with credible intervals, from a fit.

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fitted law with inputs ``("N", "D")`` (Chinchilla, Kaplan, ...), or a mapping of
        its posterior draws, ``{name: (S,) array}`` of the law's natural parameters (plus
        ``sigma`` / ``nu`` where a decision counts noise): the draws of
        :meth:`ScalingFit.draws <bayescale.ScalingFit.draws>` (``fit.draws(group=...,
        noise=True, discrepancy=...)``, which carry their law, FLOP convention and frozen
        discrepancy), or any dict with ``law=``.  Every decision of this module takes either;
        given draws there is no group, discrepancy or distance to the runs to add, and the
        numbers are those of the numpy core on the same draws.
    budgets : float or array_like
        Training budgets in FLOPs.
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Equal-tailed credible interval levels.
    group : str, optional
        Group of a hierarchical fit: a label, or ``"new"`` for an unseen group drawn from the
        population (as in :meth:`ScalingFit.draws <bayescale.ScalingFit.draws>`).
    flops_per_token, flops, method
        FLOP convention and solver: ``C = flops_per_token * N * D`` (default the fit's own
        convention, ``fit.flops_per_token``; for draws theirs, else 6) or a FLOP function
        ``flops(N, D)``; ``method`` ``"auto"``, ``"closed"`` or ``"numeric"`` optimum.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the fit's own
        (:meth:`ScalingFit.default_discrepancy <bayescale.ScalingFit.default_discrepancy>`,
        the empirical prior updated by the runs' leave-future-out splits); ``"prior"``: the
        empirical prior alone; a :class:`~bayescale.Discrepancy` (e.g. from
        :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        It applies to ``loss`` only: ``N``, ``D`` and ``tokens_per_param`` are each draw's
        optimum of the mean law (the discrepancy's compute part is the same all along a
        budget line, so it cannot move the optimum; its tokens-per-parameter part could, but
        its sign is unknown and a per-draw optimiser would chase it out of the runs' range;
        :func:`risk_averse` chooses one plan against it).
    seed : int or None, default 0
        Seed of the discrepancy's draws.
    law : str or Law, optional
        For draws without a law of their own (a plain dict): the law (default
        ``"chinchilla"``).  A fit has its own.
    deviation : callable, optional
        For draws: a frozen discrepancy ``deviation(C, tokens_per_param)`` (default the draws'
        own ``.deviation``; ``discrepancy=False`` turns it off).
    per_draw : bool, default False
        Return each draw's optimum instead of the table: a dict of ``(S, B)`` arrays ``N``,
        ``D``, ``loss`` (with the deviation) and ``tokens_per_param``, one column per budget
        (what ``compute_optimal`` returned).

    Returns
    -------
    pandas.DataFrame
        One row per budget x quantity (``N``, ``D``, ``loss``, ``tokens_per_param``) with
        ``mean``, ``median`` and ``lo_XX`` / ``hi_XX`` columns.  ``loss`` is the law's loss at
        the optimum (no run-to-run noise; with the discrepancy unless it is off).  Every row
        carries its budget's distance from the runs, as ``fit.predict`` rows do
        (``extrapolation``, ``decades_C``, ``tokens_per_param``: the median optimal split,
        ``decades_tpp``).  ``flag`` (the same on every row of a budget) is
        empty, or says why the allocation lies outside the runs: its tokens per parameter
        (median, or the widest interval) outside the range of ``D / N`` in the fit's runs, or
        a median ``N*`` or ``D*`` more than :data:`FAR_BEYOND` (100) times the largest ``N``
        or ``D`` of the runs.  There the split extrapolates the law's trade-off between
        parameters and tokens, which the runs never tested.

    Raises
    ------
    DecisionError
        For a non-positive budget or a law without an ``N``/``D`` split (the compute law).

    Examples
    --------
    >>> import bayescale as bs
    >>> tab = bs.allocate(fit, [1e22, 5.76e23], ci=(0.95,))
    >>> tab.set_index(["budget", "quantity"])["median"]
    budget        quantity
    1.000000e+22  N                     9.0e+09
                  D                    1.85e+11
                  loss                2.138e+00
                  tokens_per_param      2.1e+01
    5.760000e+23  N                     7.1e+10
                  D                    1.35e+12
                  loss                 1.90e+00
                  tokens_per_param      1.9e+01
    Name: median, dtype: float64
    """
    positive_values(budgets, "budgets", unit=" (FLOPs)")  # before the discrepancy's inner fits
    draws, opts, dev = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                               flops=flops, method=method, discrepancy=discrepancy, seed=seed,
                               deviation=deviation)
    if per_draw:
        return _compute_optimal(draws, budgets, deviation=dev, **opts)
    table = _allocation_table(draws, budgets, ci=ci, deviation=dev, **opts)
    if not _is_fit(fit):
        return table
    flags = _allocation_flags(fit, table, group)
    n_q = table["quantity"].nunique()
    table["flag"] = np.repeat(np.asarray(flags, dtype=object), n_q)
    if set(fit.law.inputs) == {"N", "D"}:
        per_budget = table[table["quantity"] == "tokens_per_param"]
        dist = _distance(fit, group, per_budget["budget"], per_budget["median"],
                         opts["flops_per_token"])
        for col in dist.columns:
            table[col] = np.repeat(dist[col].to_numpy(), n_q)
        if dev is not None:
            from bayescale.posterior.discrepancy import no_mean_beyond

            loss_rows = table["quantity"] == "loss"
            table.loc[loss_rows, "mean"] = no_mean_beyond(table.loc[loss_rows, "mean"],
                                                          table.loc[loss_rows, "extrapolation"])
    return table



#: An allocation whose median ``N*`` or ``D*`` exceeds the runs' largest ``N`` or ``D`` this many
#: times over is flagged by :func:`allocate`.
FAR_BEYOND = 100.0


def _group_runs(fit: Any, group: str | None) -> pd.DataFrame:
    """The runs of ``group`` (a label the fit has seen), else all of the fit's runs."""
    runs = fit.runs
    if group is not None and fit.groups and str(group) in fit.groups:
        from bayescale.modeling.model import group_labels

        runs = runs[group_labels(runs, fit.spec.groups) == str(group)]
    return runs


def _allocation_flags(fit: Any, table: pd.DataFrame, group: str | None) -> list[str]:
    """One flag per budget of an allocation table (``""`` where it stays within the runs)."""
    from bayescale.formatting import fmt_count, fmt_num, fmt_times

    runs = _group_runs(fit, group)
    n_runs, d_runs = (runs[c].to_numpy(dtype=float) for c in ("N", "D"))
    r_lo, r_hi = float(np.min(d_runs / n_runs)), float(np.max(d_runs / n_runs))
    span = f"the runs' range {fmt_num(r_lo)} to {fmt_num(r_hi)}"
    levels = sorted((c[3:] for c in table.columns if c.startswith("lo_")), key=float)
    wide = levels[-1] if levels else None
    n_q = table["quantity"].nunique()
    flags = []
    for j in range(0, len(table), n_q):  # rows are budget-major: one block per budget
        q = table.iloc[j:j + n_q].set_index("quantity")
        parts = []
        if "tokens_per_param" in q.index:
            med = float(q.loc["tokens_per_param", "median"])
            lo, hi = med, med
            interval = ""
            if wide is not None:
                lo, hi = (float(q.loc["tokens_per_param", f"{e}_{wide}"]) for e in ("lo", "hi"))
                interval = f"{wide}% interval {fmt_num(lo)} to {fmt_num(hi)}"
            if not r_lo <= med <= r_hi:
                parts.append(f"tokens per parameter {fmt_num(med)}"
                             + (f" ({interval})" if interval else "") + f" lies outside {span}")
            elif lo < r_lo or hi > r_hi:
                parts.append(f"the tokens per parameter's {interval} reaches outside {span}")
        for name, top in (("N", float(n_runs.max())), ("D", float(d_runs.max()))):
            med = float(q.loc[name, "median"]) if name in q.index else 0.0
            if med > FAR_BEYOND * top:
                parts.append(f"{name}* = {fmt_count(med)} is {fmt_times(med / top)} the largest "
                             f"{name} in the runs ({fmt_count(top)})")
        flags.append("; ".join(parts))
    return flags


def predict_optimal(
    fit: Any,
    budgets: Any,
    *,
    noise: bool = False,
    ci: Sequence[float] = (0.5, 0.8, 0.95),
    group: str | None = None,
    seed: int | None = 0,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    discrepancy: Any = True,
) -> pd.DataFrame:
    """Predicted loss of a run that splits each budget compute-optimally, from a fit.

    Every posterior draw trains at its *own* optimal ``(N*, D*)`` for the budget (as in
    :func:`allocate`), so the interval of the loss includes the uncertainty of the split.  This
    is what ``fit.predict(C=...)`` cannot do for a law of ``N`` and ``D``: there ``C`` alone
    does not say which run was trained.

    Parameters
    ----------
    fit : ScalingFit
        A fitted law with inputs ``("N", "D")``.
    budgets : float or array_like
        Training budgets in FLOPs.
    noise : bool, default False
        False: the law's loss at the optimum (uncertainty about the curve).  True: one new
        training run's loss there, run-to-run noise included (the fit's ``sigma`` and ``nu``,
        drawn by :func:`bayescale.modeling.noise.perturb`).  False as in ``fit.predict``: a
        prediction is of the law unless asked for a run (the rule of every decision, see
        :func:`prob_target`).
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Equal-tailed credible interval levels.
    group : str, optional
        Group of a hierarchical fit (see :func:`allocate`).
    seed : int or None, default 0
        Seed of the noise draws and of the discrepancy's draws (drawn in that order from one
        generator, as in ``fit.predict``: at a budget where every draw's optimum were the
        same ``(N, D)`` the two give the same numbers).
    flops_per_token, flops, method
        As in :func:`allocate`.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the fit's own
        (:meth:`ScalingFit.default_discrepancy <bayescale.ScalingFit.default_discrepancy>`,
        the empirical prior updated by the runs' leave-future-out splits); ``"prior"``: the
        empirical prior alone; a :class:`~bayescale.Discrepancy` (e.g. from
        :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        Each draw's deviation is taken at the budget and at that draw's own optimal tokens per
        parameter (the split is the mean law's, as in :func:`allocate`).

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``C``, the median ``N`` and ``D`` of the per-draw optima, the
        distance columns of ``fit.predict`` rows (``extrapolation``, ``decades_C``,
        ``tokens_per_param``: the median of the per-draw optima, ``decades_tpp``), ``mean``,
        ``median`` and ``lo_XX`` / ``hi_XX`` of the loss, and ``flag`` (as in
        :func:`allocate`: why the split lies outside the runs, or empty).

    Raises
    ------
    DecisionError
        For a non-positive budget or a law without an ``N``/``D`` split.

    Examples
    --------
    >>> from bayescale.decisions.api import predict_optimal
    >>> predict_optimal(fit, [1e22, 5.76e23], noise=True)[["C", "N", "median", "lo_95", "hi_95"]]
                  C        N  median  lo_95  hi_95
    0  1.000000e+22  9.0e+09   2.138   2.11   2.17
    1  5.760000e+23  7.1e+10    1.90    1.8    2.2
    """
    from bayescale.modeling.noise import new_run
    from bayescale.posterior.result import frozen_deviation, interval_table

    _check_fit(fit)
    draws, opts, _ = _source(fit, group=group, law=None, flops_per_token=flops_per_token,
                             flops=flops, method=method)
    opt = _compute_optimal(draws, budgets, **opts)
    c, _ = positive_values(budgets, "budgets", unit=" (FLOPs)")
    log_loss = np.log(opt["loss"])
    rng = np.random.default_rng(seed)
    if noise:
        fr = failure_curve(draws, log_loss.shape[0], True) if is_nd_law(fit.law) else None
        nd = draws if fr is None else {**draws, "fail_p": fr.p(opt["tokens_per_param"])}
        log_loss = new_run(log_loss, nd, rng)      # failures at each draw's own optimal split
    try:  # after the noise, from the same generator, as fit.predict draws them
        dev = frozen_deviation(fit, discrepancy, group, log_loss.shape[0], rng,
                               opts["flops_per_token"])
    except ValueError as exc:
        raise DecisionError(str(exc)) from None
    if dev is not None:
        log_loss = log_loss + dev(c, opt["tokens_per_param"])
    tpp = np.median(opt["tokens_per_param"], axis=0)
    out = pd.DataFrame({"C": c, **{q: np.median(opt[q], axis=0) for q in ("N", "D")}})
    out = pd.concat([out, _distance(fit, group, c, tpp, opts["flops_per_token"]),
                     interval_table(np.exp(log_loss), ci)], axis=1)
    if dev is not None:
        from bayescale.posterior.discrepancy import no_mean_beyond

        out["mean"] = no_mean_beyond(out["mean"], out["extrapolation"])
    summary = summarise({q: opt[q] for q in ("N", "D", "tokens_per_param")}, {"budget": c}, ci)
    out["flag"] = _allocation_flags(fit, summary, group)
    return out


def prob_target(
    fit: Any,
    target: float,
    *,
    budgets: Any = None,
    plan: tuple[Any, Any] | None = None,
    noise: bool = True,
    group: str | None = None,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    discrepancy: Any = True,
    seed: int | None = 0,
    law: Any = None,
    deviation: Any = None,
) -> float | np.ndarray:
    """Posterior probability that a training run reaches ``loss <= target``.

    Give exactly one of ``budgets`` (each posterior draw uses its own compute-optimal
    allocation of the budget) or ``plan`` (a fixed ``(N, D)``).

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fitted law, or a mapping of posterior draws (``fit.draws(group=..., noise=True)``:
        the law's natural parameters, with ``sigma`` / ``nu`` where noise counts), each of
        shape ``(S,)``; see :func:`allocate`.
    target : float
        Target loss in nats, positive.
    budgets : float or array_like, optional
        Training FLOPs.
    plan : tuple (N, D), optional
        A fixed allocation (``N`` and ``D`` may be arrays).
    noise : bool, default True
        Include run-to-run noise (the probability for *one* training run), integrated
        analytically from the fit's ``sigma`` (and ``nu``), and the chance that the run fails
        as some of the fit's runs did (:meth:`ScalingFit.run_failures
        <bayescale.ScalingFit.run_failures>`; where it depends on tokens per parameter, at
        the plan's, or at each draw's own optimal split).  ``False`` gives the probability
        that the law's mean loss is below the target.  The rule of every decision: a question
        about *a training run* counts its noise (True: this function, :func:`budget_for`); a
        question about *the law* does not (False: ``fit.predict``, :func:`predict_optimal`,
        :func:`risk_averse`).
    group, flops_per_token, flops, method
        As in :func:`allocate`.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the fit's own
        (:meth:`ScalingFit.default_discrepancy <bayescale.ScalingFit.default_discrepancy>`,
        the empirical prior updated by the runs' leave-future-out splits); ``"prior"``: the
        empirical prior alone; a :class:`~bayescale.Discrepancy` (e.g. from
        :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        At a budget the deviation is taken at each draw's own optimal split (as in
        :func:`predict_optimal`); for a plan, at the plan.
    seed : int or None, default 0
        Seed of the discrepancy's draws.

    law, deviation
        For a mapping of draws, as in :func:`allocate`.
    Returns
    -------
    float or ndarray
        One probability per budget (or plan); a float for a scalar budget or plan.

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.prob_target(fit, 2.0, budgets=[1e22, 5.88e23, 1e25]).round(1)
    array([0. , 0.9, 0.9])
    >>> bs.prob_target(fit, 2.0, budgets=[1e22, 5.88e23, 1e25],
    ...                discrepancy=False).round(2)
    array([0.  , 0.98, 1.  ])
    >>> round(bs.prob_target(fit, 2.0, plan=(70e9, 1.4e12)), 1)
    0.9
    """
    if budgets is not None:  # checked before the discrepancy's inner fits
        positive_values(budgets, "budgets", unit=" (FLOPs)")
    draws, opts, dev = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                               flops=flops, method=method, discrepancy=discrepancy, seed=seed,
                               deviation=deviation)
    return _prob_below(draws, target, budget=budgets, plan=plan, noise=noise, deviation=dev,
                       **opts)


def budget_for(
    fit: Any,
    target: Any,
    prob: float = 0.9,
    *,
    noise: bool = True,
    group: str | None = None,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    on_unreachable: str = "raise",
    discrepancy: Any = True,
    seed: int | None = 0,
    law: Any = None,
    deviation: Any = None,
) -> float | np.ndarray:
    """Smallest budget whose compute-optimal run reaches ``target`` with probability ``prob``.

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fitted law, or a mapping of posterior draws (``fit.draws(group=..., noise=True)``:
        the law's natural parameters, with ``sigma`` / ``nu`` where noise counts), each of
        shape ``(S,)``; see :func:`allocate`.
    target : float or array_like
        Target loss(es) in nats.
    prob : float, default 0.9
        Required probability, in ``(0, 1]``.
    noise : bool, default True
        Count run-to-run noise: the budget for *one training run* to reach the target.
        False: the budget at which the law's mean loss does.  The rule of every decision: a
        question about a training run counts its noise (True); one about the law does not
        (False; see :func:`prob_target`).
    group, flops_per_token, flops, method
        As in :func:`allocate`.
    on_unreachable : {"raise", "inf"}, default "raise"
        A target at or below the irreducible loss in too many draws raises
        :class:`~bayescale.decisions.UnreachableTargetError` (``"raise"``) or returns ``inf``.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the fit's own
        (:meth:`ScalingFit.default_discrepancy <bayescale.ScalingFit.default_discrepancy>`,
        the empirical prior updated by the runs' leave-future-out splits); ``"prior"``: the
        empirical prior alone; a :class:`~bayescale.Discrepancy` (e.g. from
        :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        Its deviates are frozen, so P(loss <= target) is a deterministic function of the
        budget; the search scans the budget in 0.05-decade steps for the first one that
        meets ``prob`` (a draw whose discrepancy bends the law upward can make the
        probability dip) and bisects within it, so the answer is non-decreasing in ``prob``.
    seed : int or None, default 0
        Seed of the discrepancy's draws.

    law, deviation
        For a mapping of draws, as in :func:`allocate`.
    Returns
    -------
    float or ndarray
        Budget(s) in FLOPs.  A target that is met even by a tiny run returns the search's lower
        end, 1 FLOP.

    Examples
    --------
    >>> import bayescale as bs
    >>> f"{bs.budget_for(fit, 2.05, prob=0.8):.1g}"
    '6e+22'
    >>> f"{bs.budget_for(fit, 2.05, prob=0.8, discrepancy=False):.3g}"
    '7.4e+22'
    """
    draws, opts, dev = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                               flops=flops, method=method, discrepancy=discrepancy, seed=seed,
                               deviation=deviation)
    return _budget_for_target(draws, target, prob, noise=noise, on_unreachable=on_unreachable,
                              deviation=dev, **opts)


def plan_regret(
    fit: Any,
    plan: tuple[Any, Any],
    *,
    ci: Sequence[float] = (0.5, 0.8, 0.95),
    group: str | None = None,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    discrepancy: Any = True,
    seed: int | None = 0,
    law: Any = None,
    deviation: Any = None,
) -> RegretResult:
    """Excess loss and deadweight compute of a plan ``(N, D)`` under the fit's posterior.

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fitted law, or a mapping of posterior draws (``fit.draws(group=..., noise=True)``:
        the law's natural parameters, with ``sigma`` / ``nu`` where noise counts), each of
        shape ``(S,)``; see :func:`allocate`.
    plan : tuple (N, D)
        Parameters and training tokens of the proposed run(s).
    ci, group, flops_per_token, flops, method
        As in :func:`allocate`.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the fit's own
        (:meth:`ScalingFit.default_discrepancy <bayescale.ScalingFit.default_discrepancy>`,
        the empirical prior updated by the runs' leave-future-out splits); ``"prior"``: the
        empirical prior alone; a :class:`~bayescale.Discrepancy` (e.g. from
        :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        The plan and the optimum share the budget, so the compute part of each draw's
        deviation multiplies both losses alike (it cancels from their ratio and scales the
        excess); the tokens-per-parameter part is taken at the plan's and at the optimum's
        own split and does not cancel (see :func:`~bayescale.decisions.regret`).
    seed : int or None, default 0
        Seed of the discrepancy's draws.

    law, deviation
        For a mapping of draws, as in :func:`allocate`.
    Returns
    -------
    RegretResult
        Per-draw ``excess_loss`` (loss above the compute-optimal run with the same budget) and
        ``deadweight_compute`` (fraction of the budget a compute-optimal run would not have
        needed to reach the plan's loss), with a tidy ``summary``; its ``plans`` rows carry
        the distance columns of ``fit.predict`` rows.

    Examples
    --------
    >>> import bayescale as bs
    >>> r = bs.plan_regret(fit, (70e9, 1.4e12))
    >>> r.summary.set_index("quantity")["median"]
    quantity
    loss_plan                 1.90
    loss_opt                  1.90
    excess_loss              5e-05
    deadweight_compute       2e-03
    budget_opt            5.87e+23
    N_opt                  7.2e+10
    D_opt                 1.36e+12
    Name: median, dtype: float64
    """
    from dataclasses import replace

    draws, opts, dev = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                               flops=flops, method=method, discrepancy=discrepancy, seed=seed,
                               deviation=deviation)
    res = _regret(draws, plan, ci=ci, deviation=dev, **opts)
    if not _is_fit(fit):
        return res
    from bayescale.posterior.discrepancy import forecast_distance

    p = res.plans
    dist = forecast_distance(fit, {"N": p["N"], "D": p["D"], "C": p["budget"]}, len(p),
                             group=group, flops=opts["flops_per_token"])[1]
    return replace(res, plans=pd.concat([p, dist], axis=1))


def risk_averse(
    fit: Any,
    budget: float,
    *,
    utility: str | Callable[[np.ndarray], np.ndarray] = "mean",
    level: float = 0.9,
    noise: bool = False,
    group: str | None = None,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    seed: int = 0,
    discrepancy: Any = True,
    law: Any = None,
    deviation: Any = None,
) -> RiskAverseAllocation:
    """The single allocation of ``budget`` that minimises a risk functional of the loss.

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fitted law, or a mapping of posterior draws (``fit.draws(group=..., noise=True)``:
        the law's natural parameters, with ``sigma`` / ``nu`` where noise counts), each of
        shape ``(S,)``; see :func:`allocate`.
    budget : float
        Training FLOPs.
    utility : {"mean", "quantile", "cvar"} or callable, default "mean"
        Posterior expected loss, its ``level`` quantile, or its CVaR (mean of the worst
        ``1 - level`` of the draws); see
        :func:`~bayescale.decisions.risk_averse_allocation`.
    level : float, default 0.9
    noise : bool, default False
        Include run-to-run noise in the loss distribution.  False by the rule of every
        decision (a question about *the law* leaves the noise out, one about *a training
        run* counts it; see :func:`prob_target`): the choice of split is a question about the
        law, since one run's noise is the same whichever split it trains.  With True, a run
        fails as some of the fit's runs did (:meth:`ScalingFit.run_failures
        <bayescale.ScalingFit.run_failures>`), and where that chance depends on tokens per
        parameter each split is valued at its own: such a split is worth avoiding.
    group, flops_per_token, flops, method
        As in :func:`allocate`.
    seed : int, default 0
        Seed of the noise draws (``noise=True``) and of the discrepancy's draws.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the fit's own
        (:meth:`ScalingFit.default_discrepancy <bayescale.ScalingFit.default_discrepancy>`,
        the empirical prior updated by the runs' leave-future-out splits); ``"prior"``: the
        empirical prior alone; a :class:`~bayescale.Discrepancy` (e.g. from
        :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        Every candidate split is scored with each draw's deviation at its own tokens per
        parameter (common random numbers): the compute part is one factor per draw on the
        whole budget line, the tokens-per-parameter part penalises splits outside the runs'
        range of ``D / N`` through the spread it adds.

    law, deviation
        For a mapping of draws, as in :func:`allocate`.
    Returns
    -------
    RiskAverseAllocation
        With ``distance``: the chosen split's distance from the runs (the columns of
        ``fit.predict`` rows).

    Examples
    --------
    >>> import bayescale as bs
    >>> ra = bs.risk_averse(fit, 5.76e23, utility="cvar", level=0.9)
    >>> f"{ra.N:.3g} parameters, {ra.D:.3g} tokens"
    '7.1e+10 parameters, 1.3e+12 tokens'
    """
    from dataclasses import replace

    rng: Any = seed
    if discrepancy is not None and discrepancy is not False and _is_fit(fit):
        rng = np.random.default_rng(seed)  # the discrepancy's deviates, then the noise draws
    draws, opts, dev = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                               flops=flops, method=method, discrepancy=discrepancy, seed=rng,
                               deviation=deviation)
    ra = _risk_averse_allocation(draws, budget, utility=utility, level=level, noise=noise,
                                 rng=rng, deviation=dev, **opts)
    if not _is_fit(fit):
        return ra
    return replace(ra, distance=_distance(fit, group, ra.budget, ra.tokens_per_param,
                                          opts["flops_per_token"]))


def inference_aware(
    fit: Any,
    target_loss: float,
    inference_tokens: float,
    *,
    inference_flops_per_token: float = 2.0,
    ci: Sequence[float] = (0.5, 0.8, 0.95),
    group: str | None = None,
    flops_per_token: float | None = None,
    method: str = "auto",
    law: Any = None,
) -> InferenceAwareAllocation:
    """Per-draw allocation minimising training plus lifetime inference FLOPs for a target loss.

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fitted law, or a mapping of posterior draws (``fit.draws(group=..., noise=True)``:
        the law's natural parameters, with ``sigma`` / ``nu`` where noise counts), each of
        shape ``(S,)``; see :func:`allocate`.
    target_loss : float
        Loss to reach, nats.
    inference_tokens : float
        Tokens the model will process at inference over its life.
    inference_flops_per_token : float, default 2.0
        Inference FLOPs per parameter per token.
    ci, group, flops_per_token, method
        As in :func:`allocate`.

    law
        For a mapping of draws, as in :func:`allocate`.
    Returns
    -------
    InferenceAwareAllocation
        Per-draw ``N``, ``D``, FLOP totals and savings against the training-compute-optimal
        run reaching the same target, and the number of draws for which the target is
        unreachable (below the irreducible loss).

    Examples
    --------
    >>> import bayescale as bs
    >>> res = bs.inference_aware(fit, 2.0, inference_tokens=1e13)
    >>> res.summary.set_index("quantity").loc[["N", "savings"], "median"]
    quantity
    N          1.8e+10
    savings      0.368
    Name: median, dtype: float64
    """
    draws, opts, _ = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                             flops=None, method=method)
    return _inference_aware_allocation(draws, target_loss, inference_tokens, law=opts["law"],
                                       flops_per_token=opts["flops_per_token"],
                                       inference_flops_per_token=inference_flops_per_token,
                                       method=method, ci=ci)


def extrapolation(fit: Any, budgets: Any, *, group: str | None = None) -> np.ndarray:
    """Orders of magnitude of compute between each budget and the fit's runs.

    Parameters
    ----------
    fit : ScalingFit
    budgets : float or array_like
        Training FLOPs.
    group : str, optional
        For a hierarchical fit, measure against this group's runs only.

    Returns
    -------
    ndarray
        ``log10(budget / largest run's compute)`` where the budget is above the largest run
        (positive: an extrapolation), ``log10(budget / smallest run's compute)`` where it is
        below the smallest (negative), and 0 inside the runs' range.

    Examples
    --------
    >>> from bayescale.decisions.api import extrapolation
    >>> extrapolation(fit, [1e20, 5.76e23]).round(2)
    array([0.  , 1.65])
    """
    _check_fit(fit)
    c, _ = positive_values(budgets, "budgets", unit=" (FLOPs)")
    runs = fit.runs
    if group is not None and fit.groups:
        from bayescale.modeling.model import group_labels

        runs = runs[group_labels(runs, fit.spec.groups) == group]
        if runs.empty:
            raise DecisionError(f"group {group!r} has no runs; groups are {fit.groups}")
    if "C" in runs:
        rc = runs["C"].to_numpy(dtype=float)
    else:
        rc = fit.flops_per_token * runs["N"].to_numpy(dtype=float) * runs["D"].to_numpy(
            dtype=float)
    hi, lo = np.log10(rc.max()), np.log10(rc.min())
    lc = np.log10(c)
    return np.where(lc > hi, lc - hi, np.where(lc < lo, lc - lo, 0.0))
