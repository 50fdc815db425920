"""Loss against compute, extrapolated along the compute-optimal frontier to the chosen budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_decision"]


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

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayescale.plots import plot_decision
    >>> fig = plot_decision(fit, [5.76e23], plan=(70e9, 1.4e12), target=2.0)   # doctest: +SKIP
    """
    from bayescale.decisions import allocate, loss_draws
    from bayescale.modeling.noise import noise_eps
    from bayescale.plots._style import curve_draws, plain_log_ticks, shade_extrapolation
    from bayescale.plots.fit_plot import plot_fit

    k = fit.flops_per_token if flops_per_token is None else float(flops_per_token)
    draws = curve_draws(fit, group, k)
    marks = np.atleast_1d(np.asarray(budgets, dtype=float))
    runs = fit.runs
    c_runs = np.asarray(runs["C"] if "C" in runs else k * runs["N"] * runs["D"], dtype=float)
    c_plan = None if plan is None else k * float(plan[0]) * float(plan[1])
    top = max([c_runs.max(), *marks, *([c_plan] if c_plan else [])]) * 3.0
    grid = np.logspace(np.log10(c_runs.min()), np.log10(top), n_grid)

    fig = plot_fit(fit, group=group, n_curves=n_curves, ci=ci, extend=0.0, ax=ax)
    ax = fig.axes[0]
    lo_q, hi_q = (1 - ci) / 2, (1 + ci) / 2
    frontier = allocate(draws, grid, per_draw=True)["loss"]
    lo, med, hi = np.quantile(frontier, [lo_q, 0.5, hi_q], axis=0)
    ax.fill_between(grid, lo, hi, color="#ff7f0e", alpha=0.25, lw=0, zorder=2)
    ax.plot(grid, med, color="#ff7f0e", lw=1.8, zorder=4,
            label=f"compute-optimal loss L*(C), median and {ci:.0%}")

    rng = np.random.default_rng(seed)
    sigma, nu = draws.get("sigma"), draws.get("nu")

    def with_noise(loss: np.ndarray) -> np.ndarray:
        if sigma is None:
            return loss
        return loss * np.exp(sigma[:, None] * noise_eps(rng, loss.shape, nu))

    at = with_noise(allocate(draws, marks, per_draw=True)["loss"])
    lo, med, hi = np.quantile(at, [lo_q, 0.5, hi_q], axis=0)
    ax.errorbar(marks, med, yerr=[med - lo, hi - med], fmt="o", color="#ff7f0e", mec="k",
                ms=6, capsize=4, zorder=7, label=f"your budget: one run, {ci:.0%} interval")
    if plan is not None:
        pl = loss_draws(draws, plan[0], plan[1], law=fit.law, rng=seed)
        lo, med, hi = np.quantile(pl, [lo_q, 0.5, hi_q])
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
