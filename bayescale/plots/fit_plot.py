"""Fitted law against the runs on log-log axes, with posterior bands."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_fit"]


def plot_fit(
    fit: Any,
    *,
    group: str | None = None,
    n_curves: int = 5,
    ci: float = 0.95,
    noise: bool = False,
    extend: float = 1.0,
    margin: float = 0.5,
    ax: Any = None,
):
    """Plot loss against training compute: runs as points, the law's posterior as bands.

    For laws in (N, D) one curve is drawn per model size (``n_curves`` sizes spread over the
    data), loss against compute ``C = 6 N D``, each over the compute range of that size's runs
    (plus ``margin`` decades either side; the largest size's curve continues ``extend`` decades
    beyond the largest run); for the compute law, one curve against ``C``.  The loss axis is
    logarithmic with plain tick labels (``2, 2.5, 3``).

    Parameters
    ----------
    fit : ScalingFit
        A fitted law.
    group : str, optional
        Group to plot for hierarchical fits (default: the first group); ``"new"`` draws an
        unseen group from the population, over all groups' runs.
    n_curves : int
        Number of model sizes to draw curves for.
    ci : float
        Credible interval of the bands.
    noise : bool
        Bands for new runs (with run-to-run noise) instead of the mean law.
    extend : float
        Orders of magnitude of compute to extrapolate beyond the largest run.
    margin : float
        Orders of magnitude of compute each model size's curve extends beyond its own runs.
    ax : matplotlib Axes, optional
        Draw into this axes; a new figure is made otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_fit(fit)              # doctest: +SKIP
    >>> fig.savefig("fit.png")           # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    runs = fit.runs
    if fit.groups:
        group = group or fit.groups[0]
        from bayescale.modeling.model import group_labels

        if group != "new":  # an unseen group: every group's runs are shown as its data
            runs = runs[group_labels(runs, fit.spec.groups) == group]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    else:
        fig = ax.figure
    C = np.asarray(runs["C"] if "C" in runs else 6.0 * runs["N"] * runs["D"], dtype=float)
    c_lo, c_hi = np.log10(np.min(C)), np.log10(np.max(C)) + extend
    cmap = colormaps["viridis"]
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    if fit.law.inputs == ("C",):
        grid = np.logspace(c_lo, c_hi, 120)
        pred = fit.predict(C=grid, group=group, noise=noise, ci=(ci,))
        q = np.quantile(pred.draws.values.reshape(-1, grid.size), [lo_q, 0.5, hi_q], axis=0)
        ax.fill_between(grid, q[0], q[2], color=cmap(0.3), alpha=0.3, lw=0,
                        label=f"{ci:.0%} interval")
        ax.plot(grid, q[1], color=cmap(0.3), label="posterior median")
        ax.scatter(C, runs["loss"], s=14, color="k", zorder=3, label="runs")
    else:
        N = runs["N"].to_numpy()
        norm = LogNorm(vmin=N.min(), vmax=N.max())
        sizes = np.unique(N)
        picks = sizes[np.unique(np.linspace(0, sizes.size - 1, min(n_curves, sizes.size))
                                .round().astype(int))]
        for n in picks:
            c_n = np.log10(C[N == n])
            hi_n = c_hi if n == picks[-1] else min(c_n.max() + margin, c_hi)
            grid = np.logspace(max(c_n.min() - margin, c_lo - margin), hi_n, 100)
            d = grid / (6.0 * n)
            pred = fit.predict(N=np.full_like(grid, n), D=d, group=group, noise=noise, ci=(ci,))
            q = np.quantile(pred.draws.values.reshape(-1, grid.size), [lo_q, 0.5, hi_q], axis=0)
            col = cmap(norm(n))
            ax.fill_between(grid, q[0], q[2], color=col, alpha=0.25, lw=0)
            ax.plot(grid, q[1], color=col, lw=1.4, zorder=4)
        sc = ax.scatter(C, runs["loss"], c=N, cmap=cmap, norm=norm, s=14, edgecolor="k",
                        linewidth=0.3, zorder=3)
        fig.colorbar(sc, ax=ax, label="parameters N")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from bayescale.plots._style import plain_log_ticks

    plain_log_ticks(ax.yaxis)
    ax.set_xlabel("training compute C = 6ND (FLOPs)")
    ax.set_ylabel("loss (nats/token)")
    kind = "new runs" if noise else "mean law"
    title = f"{fit.law.name} law: posterior median and {ci:.0%} band ({kind})"
    ax.set_title(title + (f", group {group}" if group else ""), fontsize=10)
    if fit.law.inputs == ("C",):
        ax.legend(fontsize=8)
    return fig
