"""One panel per group: the group's runs and its fitted law with posterior bands, log-log."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_group_curves"]


def plot_group_curves(
    fit: Any,
    *,
    groups: Sequence[str] | None = None,
    n_curves: int = 3,
    ci: float = 0.9,
    noise: bool = False,
    extend: float = 0.5,
    held_out: pd.DataFrame | None = None,
    ncols: int = 4,
):
    """Loss against compute for each group of a hierarchical fit, one panel per group.

    Each panel shows the group's runs (filled, coloured by model size ``N``) and, for
    ``n_curves`` model sizes of that group, the posterior median of the group's law and its
    ``ci`` band, extrapolated ``extend`` orders of magnitude beyond the group's largest run.
    Axes are shared and log-log, so groups can be compared at a glance.

    Parameters
    ----------
    fit : ScalingFit
        A hierarchical fit.
    groups : sequence of str, optional
        Groups to show (default: all).
    n_curves : int
        Model sizes per panel.
    ci : float
        Band probability.
    noise : bool
        Bands for new runs (with run-to-run noise) rather than the mean law.
    extend : float
        Orders of magnitude of compute beyond each group's largest run.
    held_out : pandas.DataFrame, optional
        Runs not used in the fit (same grouping columns), drawn as open markers, e.g. the
        largest runs a data-poor group is asked to extrapolate to.
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_group_curves(fit, groups=fit.groups[:4])    # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    from bayescale.modeling.model import group_labels

    if not fit.groups:
        raise ValueError("plot_group_curves needs a hierarchical fit (bs.fit(..., groups=[...]))")
    if fit.law.inputs != ("N", "D"):
        raise ValueError(f"plot_group_curves draws laws of N and D, not {fit.law.inputs}")
    groups = list(groups) if groups is not None else list(fit.groups)
    unknown = [g for g in groups if g not in fit.groups]
    if unknown:
        raise ValueError(f"unknown group(s) {unknown}; the fit's groups are {fit.groups}")
    runs = fit.runs.assign(_group=group_labels(fit.runs, fit.spec.groups).to_numpy())
    extra = None
    if held_out is not None:
        extra = held_out.assign(_group=group_labels(held_out, fit.spec.groups).to_numpy())
        if "C" not in extra:
            extra = extra.assign(C=6.0 * extra["N"] * extra["D"])
    every = pd.concat([runs, extra]) if extra is not None else runs
    norm = LogNorm(vmin=every["N"].min(), vmax=every["N"].max())
    cmap = colormaps["viridis"]
    ncols = max(1, min(ncols, len(groups)))
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 1.0, 2.7 * nrows + 0.6),
                             sharex=True, sharey=True, layout="constrained", squeeze=False)
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    for ax, g in zip(axes.flat, groups, strict=False):
        r = runs[runs["_group"] == g]
        C = np.asarray(r["C"] if "C" in r else 6.0 * r["N"] * r["D"], dtype=float)
        h = extra[extra["_group"] == g] if extra is not None else None
        c_top = np.log10(max(C.max(), h["C"].max() if h is not None and len(h) else 0.0))
        sizes = np.unique(np.concatenate([r["N"].to_numpy(),
                                          h["N"].to_numpy() if h is not None else []]))
        picks = sizes[np.unique(np.linspace(0, sizes.size - 1, min(n_curves, sizes.size))
                                .round().astype(int))]
        both = pd.concat([r, h]) if h is not None else r
        for n in picks:
            c_n = np.log10(np.asarray(6.0 * n * both.loc[both["N"] == n, "D"], dtype=float))
            top = c_top + extend if n == picks[-1] else c_n.max() + 0.2
            grid = np.logspace(c_n.min() - 0.2, top, 60)  # where this size has runs
            pred = fit.predict(N=np.full_like(grid, n), D=grid / (6.0 * n), group=g,
                               noise=noise, ci=(ci,))
            q = np.quantile(pred.draws.values.reshape(-1, grid.size), [lo_q, 0.5, hi_q], axis=0)
            col = cmap(norm(n))
            ax.fill_between(grid, q[0], q[2], color=col, alpha=0.22, lw=0)
            ax.plot(grid, q[1], color=col, lw=1.2)
        ax.scatter(C, r["loss"], c=r["N"], cmap=cmap, norm=norm, s=12, edgecolor="k",
                   linewidth=0.3, zorder=3)
        if h is not None and len(h):
            ax.scatter(h["C"], h["loss"], facecolor="none", edgecolor=cmap(norm(h["N"])),
                       s=22, linewidth=1.0, zorder=3)
        ax.set_title(g, fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    loss = every["loss"].to_numpy(dtype=float)
    axes.flat[0].set_ylim(0.9 * loss.min(), 1.15 * loss.max())  # shared: the runs set the scale
    from bayescale.plots._style import plain_log_ticks

    plain_log_ticks(axes.flat[0].yaxis)
    for ax in axes[-1]:
        ax.set_xlabel("compute C = 6ND (FLOPs)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("loss (nats/token)", fontsize=8)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=axes, label="parameters N", shrink=0.8)
    kind = "new runs" if noise else "mean law"
    note = "; open markers: held-out runs" if held_out is not None else ""
    fig.suptitle(f"{fit.law.name} law per group: median and {ci:.0%} band ({kind}){note}",
                 fontsize=10)
    return fig
