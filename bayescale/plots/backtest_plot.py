"""Backtest skill against extrapolation distance: error and interval coverage per law."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_backtest"]


def plot_backtest(
    bt: pd.DataFrame,
    *,
    laws: Sequence[str] | None = None,
    levels: Sequence[float] = (0.5, 0.8, 0.95),
    n_bins: int = 4,
    axes: Any = None,
):
    """Plot a leave-future-out backtest: error and coverage against extrapolation distance.

    Left: absolute relative error of each held-out run's predicted median against how far beyond
    the training runs it lies (``by`` of the run over the largest training ``by``), log-log.
    Right: empirical coverage of the central predictive intervals in bins of that distance
    (log x axis), with the nominal levels as dotted lines; a calibrated law follows them at every
    distance.  Distances are labelled as plain multiples (``2x``, ``10x``) of the largest
    training ``by``.

    Parameters
    ----------
    bt : pandas.DataFrame
        Output of :func:`bayescale.backtest`.
    laws : sequence of str, optional
        Laws (values of ``bt["law"]``) to draw; default all.
    levels : sequence of float
        Interval levels to draw coverage for (must have been scored).
    n_bins : int
        Number of distance bins (quantiles of the distances) for the coverage panel.
    axes : pair of matplotlib Axes, optional
        Draw into these; a new figure is made otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import bayescale as bs
    >>> bt = bs.backtest(bs.datasets.load("chinchilla"), ["chinchilla"])   # doctest: +SKIP
    >>> from bayescale.plots import plot_backtest
    >>> fig = plot_backtest(bt)                                           # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from bayescale.plots._style import times_log_ticks

    if not isinstance(bt, pd.DataFrame) or not {"law", "distance", "are"} <= set(bt.columns):
        raise ValueError("plot_backtest needs the DataFrame returned by bayescale.backtest")
    names = list(dict.fromkeys(bt["law"])) if laws is None else list(laws)
    unknown = [n for n in names if n not in set(bt["law"])]
    if unknown:
        raise ValueError(f"no law(s) {unknown} in the backtest; it has {sorted(set(bt['law']))}")
    levels = [lv for lv in levels if f"covered_{round(100 * lv):d}" in bt.columns]
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    else:
        fig = axes[0].figure
    ax_err, ax_cov = axes
    by = bt.attrs.get("by", bt["by"].iloc[0] if "by" in bt.columns else "C")
    ratio = 10.0 ** bt["distance"].to_numpy(dtype=float)
    # bins of distance shared by every law, so coverage is compared on the same runs
    edges = np.unique(np.quantile(ratio, np.linspace(0, 1, n_bins + 1)))
    if len(edges) < 2:
        edges = np.array([ratio.min(), ratio.max() * 1.0001])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = ["o", "s", "^", "D", "v", "P"]
    styles = {0.5: ":", 0.8: "--", 0.95: "-"}
    for i, name in enumerate(names):
        sub = bt[bt["law"] == name]
        r = 10.0 ** sub["distance"].to_numpy(dtype=float)
        c = colors[i % len(colors)]
        ax_err.scatter(r, np.maximum(sub["are"].to_numpy(dtype=float), 1e-5), s=14, alpha=0.6,
                       color=c, marker=markers[i % len(markers)], label=name)
        idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, len(edges) - 2)
        centres = np.sqrt(edges[:-1] * edges[1:])
        for lv in levels:
            col = f"covered_{round(100 * lv):d}"
            cov = [sub[col].to_numpy()[idx == b].mean() if np.any(idx == b) else np.nan
                   for b in range(len(edges) - 1)]
            ax_cov.plot(centres, cov, color=c, ls=styles.get(lv, "-"), marker="o", ms=4)
    for lv in levels:
        ax_cov.axhline(lv, color="0.4", lw=0.8, ls=":")
    ax_err.set_xscale("log")
    ax_err.set_yscale("log")
    times_log_ticks(ax_err.xaxis)
    ax_err.set_xlabel(f"{by} / largest training {by}")
    ax_err.set_ylabel("|median / observed - 1|")
    ax_err.set_title("error of the predicted median")
    ax_err.legend(fontsize=8)
    ax_cov.set_xscale("log")
    times_log_ticks(ax_cov.xaxis)  # plain "2x" labels: "2x10^0" minor labels collided
    ax_cov.set_ylim(-0.03, 1.03)
    ax_cov.set_xlabel(f"{by} / largest training {by} (binned)")
    ax_cov.set_ylabel("coverage of held-out runs")
    ax_cov.set_title("interval coverage (dotted: nominal)")
    # colours are the laws (left legend); here one entry per interval level, in a row below
    # the panel (inside it, a legend covered the low-coverage lines)
    handles = [Line2D([], [], color="0.3", ls=styles.get(lv, "-"), marker="o", ms=4,
                      label=f"{round(100 * lv):d}% interval") for lv in levels]
    if handles:
        ax_cov.legend(handles=handles, fontsize=8, ncol=len(handles), loc="upper center",
                      bbox_to_anchor=(0.5, -0.16), frameon=False)
    return fig
