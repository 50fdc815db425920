"""What to train next, on the (N, D) plane: the runs, the candidates by value per FLOP, the
chosen batch and the compute-optimal frontier N*(C) with its interval."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_design"]


def plot_design(
    fit: Any,
    result: Any,
    *,
    ci: float = 0.95,
    n_grid: int = 40,
    ax: Any = None,
):
    """Plot a pilot-run design (:func:`bayescale.next_runs`) on the log-log (N, D) plane.

    Shows the fit's runs (grey), every candidate coloured by its expected reduction of the
    decision's spread per FLOP (on its own; hollow where it is not expected to help, a cross
    where its importance weights degenerate), the chosen batch (red rings, numbered in the
    order chosen), the compute-optimal frontier ``(N*(C), D*(C))`` from the smallest run's
    compute to beyond the decision's budget with its ``ci`` interval (a band across the
    isoFLOP lines), and the isoFLOP lines of the largest candidate and of the budget.

    Parameters
    ----------
    fit : ScalingFit
        The fit the design was made from.
    result : DesignResult
        The output of :func:`bayescale.next_runs` for ``fit``.
    ci : float, default 0.95
        Level of the frontier's interval.
    n_grid : int, default 40
        Budgets along the frontier.
    ax : matplotlib Axes, optional
        Draw into this axes; a new figure is made otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.plots import plot_design
    >>> res = bs.next_runs(fit, 5.76e23, pilot=1e21)        # doctest: +SKIP
    >>> plot_design(fit, res).savefig("design.png")         # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from bayescale.decisions import allocate
    from bayescale.formatting import fmt_sci
    from bayescale.plots._style import curve_draws

    if not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci must be in (0, 1); got {ci!r}")
    settings = result.settings
    k = float(settings.get("flops_per_token", 6.0))
    runs = fit.runs
    n_runs = runs["N"].to_numpy(dtype=float)
    d_runs = runs["D"].to_numpy(dtype=float)
    c_runs = k * n_runs * d_runs
    cands = result.candidates
    budget = settings.get("budget")
    groups = settings.get("groups") or [None]
    group = groups[0]
    top = max(c_runs.max(), cands["flops"].max()) * 3.0
    if budget is not None:
        top = max(top, budget * 3.0)
    grid = np.geomspace(c_runs.min(), top, n_grid)
    opt = allocate(curve_draws(fit, group if fit.groups else None, k), grid, per_draw=True)
    q = (1.0 - ci) / 2.0
    n_lo, n_med, n_hi = np.quantile(opt["N"], [q, 0.5, 1.0 - q], axis=0)

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    else:
        fig = ax.figure
    band_n = np.concatenate([n_lo, n_hi[::-1]])
    band_c = np.concatenate([grid, grid[::-1]])
    ax.fill(band_n, band_c / (k * band_n), color="#1f77b4", alpha=0.15, lw=0,
            label=f"N*(C): {ci:.0%} interval" + (f" (group {group})" if group else ""))
    ax.plot(n_med, grid / (k * n_med), color="#1f77b4", lw=1.5, label="N*(C): median")
    ax.scatter(n_runs, d_runs, s=8, color="0.55", alpha=0.6, lw=0, label="runs so far", zorder=2)

    # candidates: the best value per FLOP at each (N, D) (over groups of a hierarchical fit)
    agg = (cands.groupby(["N", "D"], as_index=False)
           .agg(per_flop=("per_flop", "max"), degenerate=("degenerate", "all")))
    good = agg["per_flop"] > 0
    if good.any():
        vals = agg.loc[good, "per_flop"].to_numpy()
        norm = LogNorm(vmin=vals.min(), vmax=vals.max()) if vals.min() < vals.max() else None
        sc = ax.scatter(agg.loc[good, "N"], agg.loc[good, "D"], c=vals, cmap="viridis",
                        norm=norm, s=36, edgecolor="k", lw=0.3, zorder=3,
                        label="candidates (colour: value per FLOP)")
        fig.colorbar(sc, ax=ax, label="expected reduction of the spread per FLOP")
    if (~good).any():
        ax.scatter(agg.loc[~good, "N"], agg.loc[~good, "D"], s=30, facecolor="none",
                   edgecolor="0.5", lw=0.7, zorder=3, label="candidates with no expected value")
    deg = agg["degenerate"]
    if deg.any():
        ax.scatter(agg.loc[deg, "N"], agg.loc[deg, "D"], marker="x", s=30, color="#d62728",
                   lw=0.8, zorder=4, label="weights degenerate (ESS low)")
    tab = result.table
    if not tab.empty:
        ax.scatter(tab["N"], tab["D"], s=170, facecolor="none", edgecolor="#d62728", lw=1.6,
                   zorder=5, label=f"chosen batch ({len(tab)} runs, {fmt_sci(result.spent)} "
                   "FLOPs)")
        labels: dict[tuple[float, float], list[str]] = {}
        for _, r in tab.iterrows():  # runs at the same (N, D) in several groups share a label
            text = str(int(r["run"])) + (f" ({r['group']})" if "group" in tab else "")
            labels.setdefault((float(r["N"]), float(r["D"])), []).append(text)
        for (n, d), texts in labels.items():
            ax.annotate(", ".join(texts), (n, d), xytext=(6, 5), textcoords="offset points",
                        fontsize=7, color="#d62728", zorder=6)

    xs = np.geomspace(min(n_runs.min(), n_lo.min()) / 2, max(n_runs.max(), n_hi.max()) * 2, 50)
    iso = [(cands["flops"].max(), "largest candidate", ":")]
    if budget is not None:
        iso.append((budget, "budget", "--"))
    for c, label, ls in iso:
        ax.plot(xs, c / (k * xs), color="0.35", lw=0.9, ls=ls,
                label=f"isoFLOP {fmt_sci(c)} ({label})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xs[0], xs[-1])
    d_all = np.concatenate([d_runs, cands["D"].to_numpy(float), grid / (k * n_med)])
    ax.set_ylim(d_all.min() / 2, d_all.max() * 2)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("training tokens D")
    ax.set_title(f"what to train next: {result.quantity}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return fig
