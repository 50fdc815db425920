"""P(loss <= target) against the training budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["plot_prob_target", "prob_target_curve"]


def plot_prob_target(
    fit: Any,
    target: float,
    *,
    budgets: Sequence[float] | float | None = None,
    plan: tuple[float, float] | None = None,
    prob: float | None = 0.9,
    span: tuple[float, float] | None = None,
    group: str | None = None,
    flops_per_token: float | None = None,
    n_grid: int = 80,
    ax: Any = None,
    result: Mapping[str, Any] | None = None,
):
    """Plot the probability that one training run reaches ``loss <= target``, per budget.

    Two curves: for one real run (run-to-run noise included, solid) and for the law's mean
    loss (dashed).  Both assume each budget is spent on the compute-optimal allocation.  The
    budget axis is logarithmic; the probability axis is linear (a probability on a log axis
    hides exactly the region between 0.5 and 1 that matters).

    Parameters
    ----------
    fit : ScalingFit
    target : float
        Target loss (nats).
    budgets : float or sequence of float, optional
        Budgets to mark with their probability.
    plan : tuple (N, D), optional
        A proposed run, marked at its compute with its own probability.
    prob : float or None, default 0.9
        Draw the required probability and the smallest budget that reaches it; None to skip.
    span : (float, float), optional
        Budget range in FLOPs.  Default: from the smallest run's compute to 100 times the
        largest of the runs, the budgets and the plan.
    group : str, optional
        Group of a hierarchical fit.
    flops_per_token : float, optional
        ``k`` in ``C = k N D``; defaults to the fit's convention.
    n_grid : int, default 80
    ax : matplotlib Axes, optional
    result : mapping, optional
        The numbers to draw, computed first by :func:`prob_target_curve` (with the same
        ``target``, ``budgets``, ``plan``, ``prob``...); the figure then computes nothing.
        Default: computed here from the law's own posterior (no discrepancy).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayescale.plots import plot_prob_target
    >>> fig = plot_prob_target(fit, 2.0, budgets=[5.76e23])     # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from bayescale.formatting import fmt_num, fmt_pct, fmt_sci
    from bayescale.plots._style import shade_extrapolation

    if result is None:
        result = prob_target_curve(fit, target, budgets=budgets, plan=plan, prob=prob,
                                   span=span, group=group, flops_per_token=flops_per_token,
                                   n_grid=n_grid)
    k = float(result.get("flops_per_token", fit.flops_per_token if flops_per_token is None
                         else flops_per_token))
    runs = fit.runs
    c_runs = np.asarray(runs["C"] if "C" in runs else k * runs["N"] * runs["D"], dtype=float)
    marks = np.atleast_1d(np.asarray(result.get("budgets", []), dtype=float))
    plan = result.get("plan", plan)
    c_plan = None if plan is None else k * float(plan[0]) * float(plan[1])
    prob = result.get("prob", prob)
    grid = np.asarray(result["grid"], dtype=float)
    span = result.get("span", (grid[0], grid[-1]))
    p_run, p_mean = result["p_run"], result["p_mean"]

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    else:
        fig = ax.figure
    ax.plot(grid, p_run, color="#1f77b4", lw=1.8, label="one training run (with noise)")
    ax.plot(grid, p_mean, color="#1f77b4", lw=1.0, ls="--", label="the law's mean loss")
    if marks.size:
        pm = np.atleast_1d(result["p_budgets"])
        ax.scatter(marks, pm, color="#1f77b4", edgecolor="k", zorder=5, s=36,
                   label="your budget(s)")
        for c, p in zip(marks, pm, strict=True):
            ax.annotate(fmt_pct(p), (c, p), textcoords="offset points", xytext=(6, -12),
                        fontsize=8)
    if plan is not None:
        pp = result["p_plan"]
        ax.scatter([c_plan], [pp], marker="*", s=160, color="#ff7f0e", edgecolor="k",
                   zorder=6, label=f"your plan: {fmt_pct(pp)}")
    if prob is not None:
        ax.axhline(prob, color="0.5", lw=0.8, ls=":")
        c_req = result["required"]
        if np.isfinite(c_req) and span[0] <= c_req <= span[1]:
            ax.axvline(c_req, color="0.5", lw=0.8, ls=":")
            ax.annotate(f"{fmt_pct(prob)} at {fmt_sci(c_req, 2)} FLOPs", (c_req, prob),
                        textcoords="offset points", xytext=(-4, 6), ha="right", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(-0.02, 1.02)
    shade_extrapolation(ax, c_runs.max())
    ax.set_xlabel(f"training compute C = {fmt_num(k, 4)}ND (FLOPs), compute-optimal allocation")
    ax.set_ylabel(f"P(loss <= {fmt_num(target, 4)})")
    ax.set_title(f"probability of reaching loss {fmt_num(target, 4)}", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def prob_target_curve(
    fit: Any,
    target: float,
    *,
    budgets: Sequence[float] | float | None = None,
    plan: tuple[float, float] | None = None,
    prob: float | None = 0.9,
    span: tuple[float, float] | None = None,
    group: str | None = None,
    flops_per_token: float | None = None,
    n_grid: int = 80,
) -> dict[str, Any]:
    """The numbers :func:`plot_prob_target` draws, from the decisions (compute first).

    :func:`bayescale.prob_target` along a grid of budgets for one run and for the law's mean
    loss, at ``budgets`` and for ``plan``, and :func:`bayescale.budget_for` at ``prob``, all
    on the law's own posterior (``fit.draws(group=..., noise=True)``, no discrepancy).

    Parameters
    ----------
    fit, target, budgets, plan, prob, span, group, flops_per_token, n_grid
        As in :func:`plot_prob_target`.

    Returns
    -------
    dict
        ``grid`` and ``span``, ``p_run``, ``p_mean`` (the curves), ``budgets`` and
        ``p_budgets``, ``plan``
        and ``p_plan``, ``prob`` and ``required`` (the smallest budget reaching it, ``inf``
        if none), ``target`` and ``flops_per_token``.

    Examples
    --------
    >>> from bayescale.plots.prob_plot import prob_target_curve
    >>> curve = prob_target_curve(fit, 2.0, budgets=[5.76e23])
    >>> fig = plot_prob_target(fit, 2.0, budgets=[5.76e23], result=curve)
    """
    from bayescale.decisions import budget_for, prob_target
    from bayescale.plots._style import curve_draws

    k = fit.flops_per_token if flops_per_token is None else float(flops_per_token)
    draws = curve_draws(fit, group, k)  # the law's own posterior: no discrepancy
    runs = fit.runs
    c_runs = np.asarray(runs["C"] if "C" in runs else k * runs["N"] * runs["D"], dtype=float)
    marks = np.atleast_1d(np.asarray([] if budgets is None else budgets, dtype=float))
    c_plan = None if plan is None else k * float(plan[0]) * float(plan[1])
    if span is None:
        # where the probability climbs from 2% to 98%, widened to show the budgets and plan
        edges = np.array([budget_for(draws, target, q, on_unreachable="inf")
                          for q in (0.02, 0.98)])
        pts = [*marks, *([c_plan] if c_plan else []), *edges[np.isfinite(edges)]]
        pts = pts or [c_runs.min(), c_runs.max()]
        span = (max(min(pts) / 10.0, 1.0), max(pts) * 10.0)
    grid = np.logspace(np.log10(span[0]), np.log10(span[1]), n_grid)
    out: dict[str, Any] = {
        "target": target, "flops_per_token": k, "grid": grid, "span": span,
        "p_run": prob_target(draws, target, budgets=grid),
        "p_mean": prob_target(draws, target, budgets=grid, noise=False),
        "budgets": marks, "plan": plan, "prob": prob,
    }
    if marks.size:
        out["p_budgets"] = np.atleast_1d(prob_target(draws, target, budgets=marks))
    if plan is not None:
        out["p_plan"] = prob_target(draws, target, plan=plan)
    if prob is not None:
        out["required"] = budget_for(draws, target, prob, on_unreachable="inf")
    return out
