"""Loss against compute, extrapolated along the compute-optimal frontier to the chosen budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["decision_curve", "plot_decision"]


def plot_decision(
    fit: Any,
    budgets: Sequence[float] | float,
    *,
    plan: tuple[float, float] | None = None,
    target: float | None = None,
    ci: float = 0.95,
    group: str | None = None,
    flops_per_token: float | None = None,
    n_curves: int = 4,
    n_grid: int = 80,
    seed: int = 0,
    ax: Any = None,
    result: Mapping[str, Any] | None = None,
):
    """Plot the runs, the fitted law and its extrapolation to the budget(s), log-log.

    Draws :func:`~bayescale.plots.plot_fit` (runs and per-model-size curves over the data),
    then the compute-optimal frontier ``L*(C)`` (median and ``ci`` band of the mean law) from
    the smallest run to beyond the largest budget, and at each budget the chosen point: the
    median loss of one compute-optimal run with its ``ci`` interval including run-to-run noise.
    Compute beyond the largest run is shaded.

    Parameters
    ----------
    fit : ScalingFit
        A fitted law with inputs ``("N", "D")``.
    budgets : float or sequence of float
        Training budgets (FLOPs).
    plan : tuple (N, D), optional
        A proposed run, drawn as a star with its predicted loss interval.
    target : float, optional
        Target loss, drawn as a horizontal line.
    ci : float, default 0.95
        Interval level of the band and the error bars.
    group : str, optional
        Group of a hierarchical fit.
    flops_per_token : float, optional
        ``k`` in ``C = k N D``; defaults to the fit's convention.
    n_curves : int, default 4
        Model sizes drawn by :func:`plot_fit`.
    n_grid : int, default 80
        Budgets evaluated along the frontier.
    seed : int, default 0
        Seed of the simulated run-to-run noise of the error bars.
    ax : matplotlib Axes, optional
    result : dict, optional
        The numbers to draw, from :func:`decision_curve` (computed once, e.g. by the report);
        the plot then decides nothing itself (the runs and per-size curves still come from
        ``fit``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayescale.plots import plot_decision
    >>> fig = plot_decision(fit, [5.76e23], plan=(70e9, 1.4e12), target=2.0)   # doctest: +SKIP
    """
    from bayescale.plots._style import plain_log_ticks, shade_extrapolation
    from bayescale.plots.fit_plot import plot_fit

    r = result if result is not None else decision_curve(
        fit, budgets, plan=plan, group=group, flops_per_token=flops_per_token, n_grid=n_grid,
        seed=seed)
    k, grid, marks, c_runs, c_plan = r["k"], r["grid"], r["marks"], r["c_runs"], r["c_plan"]

    fig = plot_fit(fit, group=group, n_curves=n_curves, ci=ci, extend=0.0, ax=ax)
    ax = fig.axes[0]
    lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
    lo, med, hi = np.quantile(r["frontier"], [lo_q, 0.5, hi_q], axis=0)
    ax.fill_between(grid, lo, hi, color="#ff7f0e", alpha=0.25, lw=0, zorder=2)
    ax.plot(grid, med, color="#ff7f0e", lw=1.8, zorder=4,
            label=f"compute-optimal loss L*(C), median and {ci:.0%}")
    lo, med, hi = np.quantile(r["at"], [lo_q, 0.5, hi_q], axis=0)
    ax.errorbar(marks, med, yerr=[med - lo, hi - med], fmt="o", color="#ff7f0e", mec="k",
                ms=6, capsize=4, zorder=7, label=f"your budget: one run, {ci:.0%} interval")
    if r["plan_loss"] is not None:
        lo, med, hi = np.quantile(r["plan_loss"], [lo_q, 0.5, hi_q])
        ax.errorbar([c_plan], [med], yerr=[[med - lo], [hi - med]], fmt="*", ms=13,
                    color="#9467bd", mec="k", capsize=4, zorder=6, label="your plan")
    if target is not None:
        ax.axhline(target, color="#2ca02c", lw=1.0, ls="--", label=f"target loss {target:g}")
    ax.set_xlim(grid[0] / 1.5, grid[-1])
    shade_extrapolation(ax, c_runs.max())
    ax.autoscale(axis="y")
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel(f"training compute C = {k:g}ND (FLOPs)")
    ax.set_title("runs, fitted law and its extrapolation to your budget", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def decision_curve(
    fit: Any,
    budgets: Sequence[float] | float,
    *,
    plan: tuple[float, float] | None = None,
    group: str | None = None,
    flops_per_token: float | None = None,
    n_grid: int = 80,
    seed: int = 0,
) -> dict[str, Any]:
    """The numbers :func:`plot_decision` draws, from the decisions (compute first).

    Per posterior draw (the law's own posterior, no discrepancy): the compute-optimal mean-law
    loss over ``n_grid`` budgets from the smallest run to three times the largest budget or
    plan, one compute-optimal run's loss at each budget (run-to-run noise simulated with
    ``seed``), and one run of the plan.

    Returns
    -------
    dict
        ``k``, ``grid`` (``(n_grid,)``), ``frontier`` (``(S, n_grid)``), ``marks`` and ``at``
        (``(S, M)``, noise included), ``plan_loss`` (``(S,)`` or None), ``c_plan``, ``c_runs``.

    Examples
    --------
    >>> from bayescale.plots.decision_plot import decision_curve
    >>> r = decision_curve(fit, [5.76e23], plan=(70e9, 1.4e12), n_grid=20)
    >>> r["frontier"].shape[1], r["at"].shape[1], r["plan_loss"].ndim
    (20, 1, 1)
    """
    from bayescale.decisions import allocate, loss_draws
    from bayescale.modeling.noise import noise_eps
    from bayescale.plots._style import curve_draws

    k = fit.flops_per_token if flops_per_token is None else float(flops_per_token)
    draws = curve_draws(fit, group, k)
    marks = np.atleast_1d(np.asarray(budgets, dtype=float))
    runs = fit.runs
    c_runs = np.asarray(runs["C"] if "C" in runs else k * runs["N"] * runs["D"], dtype=float)
    c_plan = None if plan is None else k * float(plan[0]) * float(plan[1])
    top = max([c_runs.max(), *marks, *([c_plan] if c_plan else [])]) * 3.0
    grid = np.logspace(np.log10(c_runs.min()), np.log10(top), n_grid)
    frontier = allocate(draws, grid, per_draw=True)["loss"]
    rng = np.random.default_rng(seed)
    at = allocate(draws, marks, per_draw=True)["loss"]
    sigma, nu = draws.get("sigma"), draws.get("nu")
    if sigma is not None:
        at = at * np.exp(sigma[:, None] * noise_eps(rng, at.shape, nu))
    plan_loss = (None if plan is None
                 else loss_draws(draws, plan[0], plan[1], law=fit.law, rng=seed))
    return {"k": k, "grid": grid, "frontier": frontier, "marks": marks, "at": at,
            "plan_loss": plan_loss, "c_plan": c_plan, "c_runs": c_runs}
