"""The compute-optimal frontier: model size N* and tokens D* against the budget, with bands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["allocation_curve", "plot_allocation"]


def plot_allocation(
    fit: Any,
    budgets: Sequence[float] | float | None = None,
    *,
    plan: tuple[float, float] | None = None,
    ci: Sequence[float] = (0.5, 0.95),
    group: str | None = None,
    flops_per_token: float | None = None,
    n_grid: int = 60,
    ax: Any = None,
    result: Mapping[str, Any] | None = None,
):
    """Plot the compute-optimal allocation N*(C) and D*(C) with posterior bands, log-log.

    The x-axis runs from the smallest run's compute to ten times the largest budget; compute
    beyond the largest run is shaded.  The runs themselves are drawn as faint points (their
    ``N`` and ``D`` against their compute), so the reader sees where the frontier is
    interpolated and where it is extrapolated.

    Parameters
    ----------
    fit : ScalingFit
        A fitted law with inputs ``("N", "D")``.
    budgets : float or sequence of float, optional
        Budgets to mark with their median allocation and 95% interval.
    plan : tuple (N, D), optional
        A proposed run, drawn as stars at its compute ``k N D``.
    ci : sequence of float, default (0.5, 0.95)
        Interval levels of the bands (nested, lighter for wider).
    group : str, optional
        Group of a hierarchical fit.
    flops_per_token : float, optional
        ``k`` in ``C = k N D``; defaults to the fit's convention.
    n_grid : int, default 60
        Budgets evaluated along the frontier.
    ax : matplotlib Axes, optional
        Draw into this axes; a new figure is made otherwise.
    result : dict, optional
        The numbers to draw, from :func:`allocation_curve` (computed once, e.g. by the report);
        the plot then decides nothing itself and the arguments above except ``ci`` and ``ax``
        are taken from it.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayescale.plots import plot_allocation
    >>> fig = plot_allocation(fit, [5.76e23], plan=(70e9, 1.4e12))   # doctest: +SKIP
    >>> fig.savefig("frontier.png")                                  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from bayescale.plots._style import shade_extrapolation

    r = result if result is not None else allocation_curve(
        fit, budgets, plan=plan, group=group, flops_per_token=flops_per_token, n_grid=n_grid)
    k, grid, opt, marks, at, plan = r["k"], r["grid"], r["opt"], r["marks"], r["at"], r["plan"]
    c_runs, runs = r["c_runs"], r["runs"]

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    else:
        fig = ax.figure
    colours = {"N": "#1f77b4", "D": "#d62728"}
    labels = {"N": "parameters N*", "D": "tokens D*"}
    levels = sorted(ci, reverse=True)
    for q in ("N", "D"):
        for i, lv in enumerate(levels):
            lo, hi = np.quantile(opt[q], [(1 - lv) / 2, (1 + lv) / 2], axis=0)
            ax.fill_between(grid, lo, hi, color=colours[q], alpha=0.15 + 0.15 * i, lw=0,
                            label=f"{lv:.0%} interval" if q == "N" else None)
        ax.plot(grid, np.median(opt[q], axis=0), color=colours[q], lw=1.6,
                label=f"{labels[q]} (median)")
    ax.scatter(c_runs, runs["N"], s=6, color=colours["N"], alpha=0.25, lw=0, label="runs: N")
    ax.scatter(c_runs, runs["D"], s=6, color=colours["D"], alpha=0.25, lw=0, marker="s",
               label="runs: D")
    if marks.size:
        for q in ("N", "D"):
            lo, med, hi = np.quantile(at[q], [0.025, 0.5, 0.975], axis=0)
            ax.errorbar(marks, med, yerr=[med - lo, hi - med], fmt="o", color=colours[q],
                        mec="k", ms=5, capsize=3, zorder=5)
        for c in marks:
            ax.axvline(c, color="0.4", lw=0.8, ls=":", zorder=1)
    if plan is not None:
        c_plan = k * plan[0] * plan[1]
        ax.scatter([c_plan, c_plan], [plan[0], plan[1]], marker="*", s=160,
                   color=[colours["N"], colours["D"]], edgecolor="k", zorder=6,
                   label="your plan (N and D)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], grid[-1])
    shade_extrapolation(ax, c_runs.max())
    ax.set_xlabel(f"training compute C = {k:g}ND (FLOPs)")
    ax.set_ylabel("parameters / tokens")
    ax.set_title("compute-optimal allocation: posterior median and intervals", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    return fig


def allocation_curve(
    fit: Any,
    budgets: Sequence[float] | float | None = None,
    *,
    plan: tuple[float, float] | None = None,
    group: str | None = None,
    flops_per_token: float | None = None,
    n_grid: int = 60,
) -> dict[str, Any]:
    """The numbers :func:`plot_allocation` draws, from the decisions (compute first).

    Each posterior draw's compute-optimal ``N*`` and ``D*`` (the law's own posterior, no
    discrepancy) over ``n_grid`` budgets from the smallest run's compute to ten times the
    largest budget, and at the marked ``budgets``.

    Returns
    -------
    dict
        ``k`` (FLOPs per parameter per token), ``grid`` (budgets, ``(n_grid,)``), ``opt``
        (``{"N", "D"}``: per-draw optima, ``(S, n_grid)``), ``marks`` and ``at`` (the same at
        ``budgets``, ``(S, M)``), ``plan``, ``c_runs`` and ``runs`` (the runs' compute and
        table).

    Examples
    --------
    >>> from bayescale.plots.allocation_plot import allocation_curve
    >>> r = allocation_curve(fit, [5.76e23], n_grid=20)
    >>> r["opt"]["N"].shape[1], r["at"]["N"].shape[1]
    (20, 1)
    """
    from bayescale.decisions import allocate
    from bayescale.plots._style import curve_draws

    k = fit.flops_per_token if flops_per_token is None else float(flops_per_token)
    draws = curve_draws(fit, group, k)
    runs = fit.runs
    c_runs = np.asarray(runs["C"] if "C" in runs else k * runs["N"] * runs["D"], dtype=float)
    marks = np.atleast_1d(np.asarray([] if budgets is None else budgets, dtype=float))
    top = [c_runs.max() * 10.0, *(marks * 10.0)]
    if plan is not None:
        top.append(k * plan[0] * plan[1] * 10.0)
    grid = np.logspace(np.log10(c_runs.min()), np.log10(max(top)), n_grid)
    opt = allocate(draws, grid, per_draw=True)
    at = allocate(draws, marks, per_draw=True) if marks.size else None
    return {"k": k, "grid": grid, "opt": {q: opt[q] for q in ("N", "D")}, "marks": marks,
            "at": None if at is None else {q: at[q] for q in ("N", "D")}, "plan": plan,
            "c_runs": c_runs, "runs": runs}
