"""Decisions from a fitted law: thin wrappers of the numpy decision layer that take a fit.

Each function here takes a :class:`~bayescale.ScalingFit`, pulls its posterior draws (natural
parameters plus the observation-noise parameters ``sigma`` and ``nu``) with
:func:`decision_draws`, and calls the matching numpy function of :mod:`bayescale.decisions`:

===========================  ==============================================================
:func:`allocate`             :func:`~bayescale.decisions.allocation_table`
:func:`prob_target`          :func:`~bayescale.decisions.prob_below`
:func:`budget_for`           :func:`~bayescale.decisions.budget_for_target`
:func:`plan_regret`          :func:`~bayescale.decisions.regret`
:func:`risk_averse`          :func:`~bayescale.decisions.risk_averse_allocation`
:func:`inference_aware`      :func:`~bayescale.decisions.inference_aware_allocation`
:func:`extrapolation`        how far a budget lies beyond the runs, in orders of magnitude
:func:`predict_optimal`      the loss of a run that splits a budget compute-optimally
===========================  ==============================================================

Training FLOPs default to the convention the fit's runs table was read with (``C = k N D``,
``k = 6`` unless the fit was made with another ``flops``); pass ``flops_per_token`` or a FLOP
function ``flops(N, D)`` to override it.  For a hierarchical fit pass ``group=`` (a group label,
or ``"new"`` for an unseen group drawn from the population).

Examples
--------
>>> import bayescale as bs
>>> # fit = bs.fit(bs.datasets.load("chinchilla", drop_outliers=True), seed=0)
>>> tab = bs.allocate(fit, [1e22, 5.76e23], ci=(0.95,))
>>> tab[["budget", "quantity", "median", "lo_95", "hi_95"]]
         budget          quantity        median         lo_95         hi_95
0  1.000000e+22                 N  8.978659e+09  7.924449e+09  1.015429e+10
1  1.000000e+22                 D  1.856253e+11  1.641342e+11  2.103196e+11
2  1.000000e+22              loss  2.138195e+00  2.131356e+00  2.145182e+00
3  1.000000e+22  tokens_per_param  2.067406e+01  1.616401e+01  2.654059e+01
4  5.760000e+23                 N  7.111631e+10  5.800531e+10  8.688586e+10
5  5.760000e+23                 D  1.349901e+12  1.104898e+12  1.655021e+12
6  5.760000e+23              loss  1.895123e+00  1.509761e+00  2.352914e+00
7  5.760000e+23  tokens_per_param  1.898160e+01  1.271666e+01  2.853223e+01
>>> round(bs.prob_target(fit, 2.0, budgets=5.76e23), 2)
0.75
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import DecisionError, positive_values, summarise
from bayescale.decisions.allocation import allocation_table
from bayescale.decisions.regret import RegretResult, regret
from bayescale.decisions.risk import budget_for_target, prob_below
from bayescale.decisions.robust import (
    InferenceAwareAllocation,
    RiskAverseAllocation,
    inference_aware_allocation,
    risk_averse_allocation,
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

_FLOPS_RE = re.compile(r"^\s*C\s*=\s*([0-9.eE+-]+)\s*N\s*D\s*$")


def _check_fit(fit: Any) -> None:
    if not all(hasattr(fit, a) for a in ("tree", "spec", "runs", "draws")):
        raise DecisionError(
            f"fit must be a bayescale ScalingFit (from bayescale.fit or bayescale.load_fit); got "
            f"{type(fit).__name__}.  For raw arrays of draws use the functions of "
            f"bayescale.decisions directly"
        )


def decision_draws(fit: Any, *, group: str | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Posterior draws of a fit in the form the decision layer takes.

    Parameters
    ----------
    fit : ScalingFit
        A fitted law.
    group : str, optional
        For a hierarchical fit: a group label, or ``"new"`` for an unseen group drawn from the
        population (pooled parameters).  Must be omitted for a fit without groups.
    seed : int, default 0
        Seed of the population draws for ``group="new"``.

    Returns
    -------
    dict of str to ndarray
        The law's natural parameters (``fit.law.natural``) and the noise parameters
        (``sigma``, and ``nu`` for a Student-t likelihood), each of shape ``(S,)`` with
        ``S = chains * draws``.

    Examples
    --------
    >>> from bayescale.decisions.api import decision_draws
    >>> d = decision_draws(fit)
    >>> sorted(d)
    ['A', 'B', 'E', 'alpha', 'beta', 'nu', 'sigma']
    """
    _check_fit(fit)
    noise = fit.draws(kind="noise")
    if not fit.groups:
        if group not in (None, "all"):
            raise DecisionError(
                f"group={group!r} was given but this fit has no groups; omit group="
            )
        nat = fit.draws()
    else:
        if group is None:
            raise DecisionError(
                f"this is a hierarchical fit with groups {fit.groups}; pass group=<one of them> "
                f"(or group='new' for an unseen group drawn from the population)"
            )
        from bayescale.errors import NewGroupError

        try:
            sampled = fit.params_for_group(group, np.random.default_rng(seed))
        except NewGroupError:
            raise  # one exception type for "this hierarchy cannot predict a new group"
        except ValueError as exc:
            raise DecisionError(str(exc)) from None
        nat = fit.law.to_natural(sampled, fit.reference)
    out = {k: np.asarray(nat[k], dtype=float).reshape(-1) for k in fit.law.natural}
    size = next(iter(out.values())).size
    for k in fit.law.natural:
        if out[k].size != size:  # a scalar natural parameter (e.g. shared in a pooled law)
            out[k] = np.broadcast_to(out[k], (size,)).copy()
    out.update({k: np.asarray(v, dtype=float).reshape(-1) for k, v in noise.items()})
    return out


def fit_flops_per_token(fit: Any) -> float:
    """FLOPs per parameter per token of the fit's runs table (``C = k N D``), 6 if unknown.

    The runs table records its FLOP convention (``runs.attrs["flops"]`` such as
    ``"C = 6 N D"``); decisions use the same convention by default so that a budget means the
    same FLOPs as the runs' compute.  A fit made with a FLOP *function* falls back to 6: pass
    that function as ``flops=`` to the decision functions.

    Examples
    --------
    >>> from bayescale.decisions.api import fit_flops_per_token
    >>> fit_flops_per_token(fit)
    6.0
    """
    desc = fit.runs.attrs.get("flops", "")
    if not desc:
        try:
            desc = json.loads(fit.meta.get("settings", "{}")).get("flops", "")
        except (TypeError, ValueError):
            desc = ""
    m = _FLOPS_RE.match(str(desc))
    return float(m.group(1)) if m else 6.0


def _opts(fit, flops_per_token, flops, method) -> dict[str, Any]:
    k = fit_flops_per_token(fit) if flops_per_token is None else flops_per_token
    return {"law": fit.law, "flops_per_token": k, "flops": flops, "method": method}


def _frozen_deviation(fit: Any, discrepancy: Any, group: str | None, n_draws: int,
                      rng: np.random.Generator, k: float):
    """The fit's discrepancy frozen for ``n_draws`` draws as the numpy core takes it, or None."""
    from bayescale.posterior.discrepancy import resolve_discrepancy

    try:
        disc = resolve_discrepancy(fit, discrepancy, group)
    except ValueError as exc:
        raise DecisionError(str(exc)) from None
    if disc is None:
        return None
    frozen = disc.frozen(n_draws, rng)
    if disc.by == "C":
        return frozen

    class _AlongN:  # a term measured along N: N = sqrt(C / (k tpp)) on the budget line
        n_draws = frozen.n_draws

        def __call__(self, c, tpp):
            if tpp is None:
                raise DecisionError("a discrepancy measured along N needs a law of N and D; "
                                    "pass a Discrepancy with by='C' or discrepancy=False")
            c, t = np.broadcast_arrays(np.asarray(c, float), np.asarray(tpp, float))
            return frozen(np.sqrt(c / (k * t)), t)

    return _AlongN()


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
) -> pd.DataFrame:
    """Compute-optimal allocation of each budget, with credible intervals, from a fit.

    Parameters
    ----------
    fit : ScalingFit
        A fitted law with inputs ``("N", "D")`` (Chinchilla, Kaplan, ...).
    budgets : float or array_like
        Training budgets in FLOPs.
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Equal-tailed credible interval levels.
    group : str, optional
        Group of a hierarchical fit (see :func:`decision_draws`).
    flops_per_token, flops, method
        FLOP convention and solver, as in :func:`~bayescale.decisions.compute_optimal`;
        ``flops_per_token`` defaults to the fit's own convention (:func:`fit_flops_per_token`).
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the empirical
        prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`); a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`);
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
    1.000000e+22  N                   8.978659e+09
                  D                   1.856253e+11
                  loss                2.138195e+00
                  tokens_per_param    2.067406e+01
    5.760000e+23  N                   7.111631e+10
                  D                   1.349901e+12
                  loss                1.895123e+00
                  tokens_per_param    1.898160e+01
    Name: median, dtype: float64
    """
    draws = decision_draws(fit, group=group)
    opts = _opts(fit, flops_per_token, flops, method)
    dev = _frozen_deviation(fit, discrepancy, group, next(iter(draws.values())).size,
                            np.random.default_rng(seed), opts["flops_per_token"])
    table = allocation_table(draws, budgets, ci=ci, deviation=dev, **opts)
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
        drawn by :func:`bayescale.modeling.noise.perturb`).
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Equal-tailed credible interval levels.
    group : str, optional
        Group of a hierarchical fit (see :func:`decision_draws`).
    seed : int or None, default 0
        Seed of the noise draws and of the discrepancy's draws (drawn in that order from one
        generator, as in ``fit.predict``: at a budget where every draw's optimum were the
        same ``(N, D)`` the two give the same numbers).
    flops_per_token, flops, method
        As in :func:`allocate`.
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the empirical
        prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`); a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`);
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
                  C             N    median     lo_95     hi_95
    0  1.000000e+22  8.978659e+09  2.138433  2.109713  2.166717
    1  5.760000e+23  7.111631e+10  1.896601  1.520971  2.354383
    """
    from bayescale.decisions.allocation import compute_optimal
    from bayescale.modeling.noise import perturb
    from bayescale.posterior.result import interval_table

    draws = decision_draws(fit, group=group)
    opts = _opts(fit, flops_per_token, flops, method)
    opt = compute_optimal(draws, budgets, **opts)
    c, _ = positive_values(budgets, "budgets", unit=" (FLOPs)")
    log_loss = np.log(opt["loss"])
    rng = np.random.default_rng(seed)
    if noise:
        log_loss = perturb(log_loss, draws["sigma"], draws.get("nu"), rng)
    dev = _frozen_deviation(fit, discrepancy, group, log_loss.shape[0], rng,
                            opts["flops_per_token"])
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
) -> float | np.ndarray:
    """Posterior probability that a training run reaches ``loss <= target``.

    Give exactly one of ``budgets`` (each posterior draw uses its own compute-optimal
    allocation of the budget) or ``plan`` (a fixed ``(N, D)``).

    Parameters
    ----------
    fit : ScalingFit
    target : float
        Target loss in nats, positive.
    budgets : float or array_like, optional
        Training FLOPs.
    plan : tuple (N, D), optional
        A fixed allocation (``N`` and ``D`` may be arrays).
    noise : bool, default True
        Include run-to-run noise (the probability for *one* training run), integrated
        analytically from the fit's ``sigma`` (and ``nu``).  ``False`` gives the probability
        that the law's mean loss is below the target.
    group, flops_per_token, flops, method
        As in :func:`allocate`.
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the empirical
        prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`); a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        At a budget the deviation is taken at each draw's own optimal split (as in
        :func:`predict_optimal`); for a plan, at the plan.
    seed : int or None, default 0
        Seed of the discrepancy's draws.

    Returns
    -------
    float or ndarray
        One probability per budget (or plan); a float for a scalar budget or plan.

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.prob_target(fit, 2.0, budgets=[1e22, 5.88e23, 1e25]).round(2)
    array([0.  , 0.75, 0.79])
    >>> bs.prob_target(fit, 2.0, budgets=[1e22, 5.88e23, 1e25],
    ...                discrepancy=False).round(2)
    array([0.  , 0.98, 1.  ])
    >>> round(bs.prob_target(fit, 2.0, plan=(70e9, 1.4e12)), 2)
    0.75
    """
    draws = decision_draws(fit, group=group)
    opts = _opts(fit, flops_per_token, flops, method)
    dev = _frozen_deviation(fit, discrepancy, group, next(iter(draws.values())).size,
                            np.random.default_rng(seed), opts["flops_per_token"])
    return prob_below(draws, target, budget=budgets, plan=plan, noise=noise, deviation=dev,
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
) -> float | np.ndarray:
    """Smallest budget whose compute-optimal run reaches ``target`` with probability ``prob``.

    Parameters
    ----------
    fit : ScalingFit
    target : float or array_like
        Target loss(es) in nats.
    prob : float, default 0.9
        Required probability, in ``(0, 1]``.
    noise : bool, default True
        Count run-to-run noise (see :func:`prob_target`).
    group, flops_per_token, flops, method
        As in :func:`allocate`.
    on_unreachable : {"raise", "inf"}, default "raise"
        A target at or below the irreducible loss in too many draws raises
        :class:`~bayescale.decisions.UnreachableTargetError` (``"raise"``) or returns ``inf``.
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the empirical
        prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`); a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        Its deviates are frozen, so P(loss <= target) is a deterministic function of the
        budget; the search scans the budget in 0.05-decade steps for the first one that
        meets ``prob`` (a draw whose discrepancy bends the law upward can make the
        probability dip) and bisects within it, so the answer is non-decreasing in ``prob``.
    seed : int or None, default 0
        Seed of the discrepancy's draws.

    Returns
    -------
    float or ndarray
        Budget(s) in FLOPs.  A target that is met even by a tiny run returns the search's lower
        end, 1 FLOP.

    Examples
    --------
    >>> import bayescale as bs
    >>> f"{bs.budget_for(fit, 2.05, prob=0.8):.3g}"
    '1.83e+23'
    >>> f"{bs.budget_for(fit, 2.05, prob=0.8, discrepancy=False):.3g}"
    '7.38e+22'
    """
    draws = decision_draws(fit, group=group)
    opts = _opts(fit, flops_per_token, flops, method)
    dev = _frozen_deviation(fit, discrepancy, group, next(iter(draws.values())).size,
                            np.random.default_rng(seed), opts["flops_per_token"])
    return budget_for_target(draws, target, prob, noise=noise, on_unreachable=on_unreachable,
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
) -> RegretResult:
    """Excess loss and deadweight compute of a plan ``(N, D)`` under the fit's posterior.

    Parameters
    ----------
    fit : ScalingFit
    plan : tuple (N, D)
        Parameters and training tokens of the proposed run(s).
    ci, group, flops_per_token, flops, method
        As in :func:`allocate`.
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the empirical
        prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`); a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        The plan and the optimum share the budget, so the compute part of each draw's
        deviation multiplies both losses alike (it cancels from their ratio and scales the
        excess); the tokens-per-parameter part is taken at the plan's and at the optimum's
        own split and does not cancel (see :func:`~bayescale.decisions.regret`).
    seed : int or None, default 0
        Seed of the discrepancy's draws.

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
    loss_plan             1.894270e+00
    loss_opt              1.894151e+00
    excess_loss           4.812988e-05
    deadweight_compute    1.797354e-03
    budget_opt            5.869451e+23
    N_opt                 7.186861e+10
    D_opt                 1.363599e+12
    Name: median, dtype: float64
    """
    from dataclasses import replace

    draws = decision_draws(fit, group=group)
    opts = _opts(fit, flops_per_token, flops, method)
    dev = _frozen_deviation(fit, discrepancy, group, next(iter(draws.values())).size,
                            np.random.default_rng(seed), opts["flops_per_token"])
    res = regret(draws, plan, ci=ci, deviation=dev, **opts)
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
) -> RiskAverseAllocation:
    """The single allocation of ``budget`` that minimises a risk functional of the loss.

    Parameters
    ----------
    fit : ScalingFit
    budget : float
        Training FLOPs.
    utility : {"mean", "quantile", "cvar"} or callable, default "mean"
        Posterior expected loss, its ``level`` quantile, or its CVaR (mean of the worst
        ``1 - level`` of the draws); see
        :func:`~bayescale.decisions.risk_averse_allocation`.
    level : float, default 0.9
    noise : bool, default False
        Include run-to-run noise in the loss distribution.
    group, flops_per_token, flops, method
        As in :func:`allocate`.
    seed : int, default 0
        Seed of the noise draws (``noise=True``) and of the discrepancy's draws.
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, with exactly the meaning it has in
        :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`: beyond the fitted runs (in
        compute, or in tokens per parameter) each posterior draw of the law gets one
        heavy-tailed deviation of the log loss that grows with the distance, shared by every
        budget and plan of the decision; nothing changes inside the data.  True: the empirical
        prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`); a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`);
        False or None: off (the law's posterior alone).  Each draw's deviates are drawn once
        (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`, seeded by ``seed``), so the
        decision is a deterministic function of the budget and the split.
        Every candidate split is scored with each draw's deviation at its own tokens per
        parameter (common random numbers): the compute part is one factor per draw on the
        whole budget line, the tokens-per-parameter part penalises splits outside the runs'
        range of ``D / N`` through the spread it adds.

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
    '7.16e+10 parameters, 1.34e+12 tokens'
    """
    from dataclasses import replace

    draws = decision_draws(fit, group=group)
    opts = _opts(fit, flops_per_token, flops, method)
    rng: Any = seed
    dev = None
    if discrepancy is not None and discrepancy is not False:
        rng = np.random.default_rng(seed)
        dev = _frozen_deviation(fit, discrepancy, group, next(iter(draws.values())).size, rng,
                                opts["flops_per_token"])
    ra = risk_averse_allocation(draws, budget, utility=utility, level=level, noise=noise,
                                rng=rng, deviation=dev, **opts)
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
) -> InferenceAwareAllocation:
    """Per-draw allocation minimising training plus lifetime inference FLOPs for a target loss.

    Parameters
    ----------
    fit : ScalingFit
    target_loss : float
        Loss to reach, nats.
    inference_tokens : float
        Tokens the model will process at inference over its life.
    inference_flops_per_token : float, default 2.0
        Inference FLOPs per parameter per token.
    ci, group, flops_per_token, method
        As in :func:`allocate`.

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
    N          1.811401e+10
    savings    3.676555e-01
    Name: median, dtype: float64
    """
    k = fit_flops_per_token(fit) if flops_per_token is None else flops_per_token
    return inference_aware_allocation(decision_draws(fit, group=group), target_loss,
                                      inference_tokens, law=fit.law, flops_per_token=k,
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
        rc = fit_flops_per_token(fit) * runs["N"].to_numpy(dtype=float) * runs["D"].to_numpy(
            dtype=float)
    hi, lo = np.log10(rc.max()), np.log10(rc.min())
    lc = np.log10(c)
    return np.where(lc > hi, lc - hi, np.where(lc < lo, lc - lo, 0.0))
