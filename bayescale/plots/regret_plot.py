"""The regret of a training plan: posterior of its excess loss and deadweight compute."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_regret"]


def plot_regret(
    fit: Any,
    plan: tuple[float, float],
    *,
    group: str | None = None,
    flops_per_token: float | None = None,
    bins: int = 40,
):
    """Histograms of a plan's excess loss and deadweight compute over the posterior.

    Left: ``L(plan) - L*(C)``, the loss left on the table against each draw's compute-optimal
    run with the same budget.  Right: deadweight compute, how much more compute (in % of the
    optimum's) the plan spends than a compute-optimal run reaching the same loss, on a log axis
    when it spans a wide range; draws where the plan is optimal to floating-point precision
    are counted in the title.

    Parameters
    ----------
    fit : ScalingFit
    plan : tuple (N, D)
        Parameters and tokens of the proposed run.
    group : str, optional
        Group of a hierarchical fit.
    flops_per_token : float, optional
        ``k`` in ``C = k N D``; defaults to the fit's convention.
    bins : int, default 40

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayescale.plots import plot_regret
    >>> fig = plot_regret(fit, (70e9, 1.4e12))        # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from bayescale.decisions import regret
    from bayescale.decisions.api import decision_draws, fit_flops_per_token
    from bayescale.plots._style import fmt_count, plain_log_ticks

    k = fit_flops_per_token(fit) if flops_per_token is None else float(flops_per_token)
    res = regret(decision_draws(fit, group=group), plan, law=fit.law, flops_per_token=k)
    excess = res.draws["excess_loss"]
    dead = 100.0 * res.draws["deadweight_compute"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
    ax1.hist(excess, bins=bins, color="#9467bd", alpha=0.8)
    med, hi = np.quantile(excess, [0.5, 0.95])
    ax1.axvline(med, color="k", lw=1, label=f"median {med:.3g}")
    ax1.axvline(hi, color="k", lw=1, ls="--", label=f"95th percentile {hi:.3g}")
    ax1.set_xlabel("excess loss over the compute-optimal run (nats)")
    ax1.set_ylabel("posterior draws")
    ax1.legend(fontsize=7)
    tiny = dead < 1e-6
    pos = dead[~tiny]
    logx = pos.size > 0 and pos.max() > 3.0 * pos.min()
    if pos.size:
        edges = (np.logspace(np.log10(pos.min()), np.log10(pos.max()), bins) if logx
                 else bins)
        ax2.hist(pos, bins=edges, color="#8c564b", alpha=0.8)
    med, hi = np.quantile(dead, [0.5, 0.95])
    ax2.axvline(max(med, 1e-6), color="k", lw=1, label=f"median {med:.3g}%")
    ax2.axvline(max(hi, 1e-6), color="k", lw=1, ls="--", label=f"95th percentile {hi:.3g}%")
    if logx:
        ax2.set_xscale("log")
        plain_log_ticks(ax2.xaxis)
    ax2.set_xlabel("deadweight compute: % more than an optimal run needs")
    ax2.legend(fontsize=7)
    title = (f"regret of the plan N = {fmt_count(plan[0])}, D = {fmt_count(plan[1])} "
             f"(C = {res.plans['budget'].iloc[0]:.3g} FLOPs)")
    if tiny.any():
        title += f"; optimal in {tiny.mean():.0%} of draws"
    fig.suptitle(title, fontsize=10)
    return fig
