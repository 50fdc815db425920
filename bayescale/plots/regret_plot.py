"""The regret of a training plan: posterior of its excess loss and deadweight compute."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_regret"]


def plot_regret(
    fit: Any,
    plan: tuple[float, float] | None = None,
    *,
    group: str | None = None,
    flops_per_token: float | None = None,
    bins: int = 40,
    result: Any = None,
):
    """Histograms of a plan's excess loss and deadweight compute over the posterior.

    Left: ``L(plan) - L*(C)``, the loss left on the table against each draw's compute-optimal
    run with the same budget.  Right: deadweight compute, how much more compute (in % of the
    optimum's) the plan spends than a compute-optimal run reaching the same loss.  Each panel
    uses a log x-axis when its values span more than a factor of 3 (a near-optimal plan's
    regret spans orders of magnitude); the title counts the draws for which the plan is
    optimal to floating-point precision when there are at least 1% of them.

    Compute first, render second: pass the decision's result (``result=``, or as the first
    argument) and the figure draws it without computing anything; given a fit and a plan
    instead, it computes the regret of the law's own posterior (no discrepancy).

    Parameters
    ----------
    fit : ScalingFit or RegretResult
        The fit, or the result of :func:`bayescale.plan_regret` to draw.
    plan : tuple (N, D), optional
        Parameters and tokens of the proposed run (needed with a fit; with a result, its own
        plan is drawn).
    group : str, optional
        Group of a hierarchical fit.
    flops_per_token : float, optional
        ``k`` in ``C = k N D``; defaults to the fit's convention.
    bins : int, default 40
    result : RegretResult, optional
        A precomputed :func:`bayescale.plan_regret` result (one plan): drawn as it is.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayescale.plots import plot_regret
    >>> fig = plot_regret(fit, (70e9, 1.4e12))        # doctest: +SKIP
    >>> fig = plot_regret(bs.plan_regret(fit, (70e9, 1.4e12)))   # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from bayescale.decisions import RegretResult, plan_regret
    from bayescale.formatting import fmt_count, fmt_num, fmt_pct, fmt_sci
    from bayescale.plots._style import curve_draws

    if isinstance(fit, RegretResult):
        fit, result = None, fit
    if result is None:
        if fit is None or plan is None:
            raise ValueError("plot_regret needs a fit and plan=(N, D), or result= (a "
                             "bayescale.plan_regret result)")
        k = fit.flops_per_token if flops_per_token is None else float(flops_per_token)
        result = plan_regret(curve_draws(fit, group, k), plan)
    res = result
    if plan is None:
        plan = (float(res.plans["N"].iloc[0]), float(res.plans["D"].iloc[0]))
    excess = res.draws["excess_loss"]
    dead = 100.0 * res.draws["deadweight_compute"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
    _panel(ax1, excess, bins, "#9467bd", "excess loss over the optimal run (nats)",
           lambda v: fmt_num(v, 2))
    _panel(ax2, dead, bins, "#8c564b", "deadweight compute (% extra)", lambda v: fmt_pct(v / 100.0))
    ax1.set_ylabel("posterior draws")
    tiny = dead < 1e-6
    title = (f"regret of the plan N = {fmt_count(plan[0])}, D = {fmt_count(plan[1])} "
             f"(C = {fmt_sci(res.plans['budget'].iloc[0])} FLOPs)")
    if tiny.mean() >= 0.01:
        title += f"; optimal in {fmt_pct(tiny.mean())} of draws"
    fig.suptitle(title, fontsize=10)
    return fig


def _panel(ax, values, bins, colour, xlabel, fmt) -> None:
    """Histogram on a log x-axis when the positive values span more than a factor of 3."""
    from matplotlib.ticker import FuncFormatter

    from bayescale.formatting import fmt_num
    from bayescale.plots._style import plain_log_ticks

    pos = values[values > 1e-12 * max(float(values.max()), 1e-300)]
    logx = pos.size > 1 and pos.max() > 3.0 * pos.min()
    if logx:
        edges = np.logspace(np.log10(pos.min()), np.log10(pos.max()), bins)
        ax.hist(pos, bins=edges, color=colour, alpha=0.8)
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis, max_ticks=6)
    else:
        ax.hist(values, bins=bins, color=colour, alpha=0.8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_num(v, 2)))
    med, hi = np.quantile(values, [0.5, 0.95])
    floor = pos.min() if logx else -np.inf
    ax.axvline(max(med, floor), color="k", lw=1, label=f"median {fmt(med)}")
    ax.axvline(max(hi, floor), color="k", lw=1, ls="--", label=f"95th percentile {fmt(hi)}")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7)
