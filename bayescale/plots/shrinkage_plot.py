"""Shrinkage: per-group estimates without pooling against partial pooling (forest plot)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["plot_shrinkage"]


def plot_shrinkage(
    fit: Any,
    unpooled: Any = None,
    *,
    params: Sequence[str] | None = None,
    ci: float = 0.9,
    derived: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]] | None = None,
    new_group: bool = True,
    log: bool | None = None,
):
    """Forest plot of per-group estimates: no pooling (grey) against partial pooling (colour).

    One panel per parameter, one row per group.  Each group shows its ``ci`` interval and median
    under partial pooling (``fit``) and, if ``unpooled`` is given, under no pooling (the same
    model with every parameter independent per group:
    :func:`bayescale.posterior.hierarchy.unpooled_spec`), joined by a thin line: how far each
    estimate moved towards the population.  The shaded band is the population centre's
    (``theta_mu``) interval; the last row, if ``new_group``, is a new group's parameter drawn
    from the population (its width is the between-group spread plus its uncertainty).

    Parameters
    ----------
    fit : ScalingFit
        A hierarchical fit with partial pooling.
    unpooled : ScalingFit, optional
        The no-pooling fit of the same runs and groups.
    params : sequence of str, optional
        Parameters (natural or sampled names, or outputs of ``derived``); default: the pooled
        parameters.
    ci : float
        Interval probability.
    derived : callable, optional
        ``derived(draws) -> {name: array}`` on each group's natural draws, e.g.
        :func:`bayescale.decisions.exponents` to show the compute-optimal exponent ``a``.
    new_group : bool
        Add the new-group row (needs every group-varying parameter pooled).
    log : bool, optional
        Log x axes (default: for parameters that are positive in every draw).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import bayescale as bs                                            # doctest: +SKIP
    >>> from bayescale.posterior.hierarchy import unpooled_spec
    >>> alone = bs.fit(runs, spec=unpooled_spec(fit.spec))                # doctest: +SKIP
    >>> fig = plot_shrinkage(fit, alone, params=["alpha", "beta"])        # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from bayescale.posterior.hierarchy import NEW_GROUP, group_summary, population_summary

    if not fit.groups:
        raise ValueError("plot_shrinkage needs a hierarchical fit (bs.fit(..., groups=[...]))")
    if unpooled is not None and list(unpooled.groups) != list(fit.groups):
        raise ValueError(
            f"the unpooled fit has groups {unpooled.groups}, the pooled one {fit.groups}; fit "
            "both on the same runs and grouping"
        )
    if params is None:
        params = [p for p in fit.law.param_names if fit.spec.pooling_of(p) == "pooled"
                  and p in fit.law.natural]
        if derived is not None:
            params = None  # every derived quantity, below
    table = group_summary(fit, params, ci=ci, derived=derived, new_group=new_group)
    names = list(dict.fromkeys(table["parameter"]))
    alone = (group_summary(unpooled, names, ci=ci, derived=derived)
             if unpooled is not None else None)
    pop = population_summary(fit, ci=ci).set_index("variable")
    tag = f"{round(100 * ci):d}"
    lo, hi = f"lo_{tag}", f"hi_{tag}"
    has_new = new_group and NEW_GROUP in set(table["group"])
    labels = list(fit.groups) + ([NEW_GROUP] if has_new else [])
    y = {g: len(labels) - 1 - i for i, g in enumerate(labels)}
    height = 1.2 + 0.32 * len(labels)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 1.8, height),
                             sharey=True, layout="constrained", squeeze=False)
    colour = colormaps["viridis"](0.35)
    for ax, name in zip(axes[0], names, strict=True):
        t = table[table["parameter"] == name].set_index("group")
        mu_name = f"{name}_mu"
        if mu_name in pop.index:
            ax.axvspan(pop.loc[mu_name, lo], pop.loc[mu_name, hi], color=colour, alpha=0.12,
                       lw=0, label=f"population centre ({ci:.0%})")
            ax.axvline(pop.loc[mu_name, "median"], color=colour, lw=0.8, alpha=0.6)
        if alone is not None:
            a = alone[alone["parameter"] == name].set_index("group")
            for g in fit.groups:
                yy = y[g] + 0.17
                ax.plot([a.loc[g, lo], a.loc[g, hi]], [yy, yy], color="0.55", lw=1.4)
                ax.plot(a.loc[g, "median"], yy, "o", mfc="white", mec="0.45", ms=4.5)
                ax.plot([a.loc[g, "median"], t.loc[g, "median"]], [yy, y[g] - 0.17],
                        color="0.75", lw=0.6, zorder=1)
        for g in labels:
            if g not in t.index:
                continue  # a new group has no value of a parameter that is independent
            yy = y[g] - (0.17 if alone is not None and g != NEW_GROUP else 0.0)
            new = g == NEW_GROUP
            ax.plot([t.loc[g, lo], t.loc[g, hi]], [yy, yy], color="0.2" if new else colour,
                    lw=1.8, ls="--" if new else "-")
            ax.plot(t.loc[g, "median"], yy, "D" if new else "o", color="0.2" if new else colour,
                    ms=4.5)
        values = t[[lo, hi]].to_numpy()
        if alone is not None:
            values = np.concatenate([values, a[[lo, hi]].to_numpy()])
        use_log = bool(np.all(values > 0)) if log is None else log
        if use_log:
            from bayescale.plots._style import plain_log_ticks

            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        ax.set_xlabel(name)
        ax.grid(axis="x", alpha=0.3)
    ax0 = axes[0][0]
    ax0.set_yticks([y[g] for g in labels], labels, fontsize=8)
    ax0.set_ylim(-0.7, len(labels) - 0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, marker="o", lw=1.8, label="partial pooling")]
    if alone is not None:
        handles.append(Line2D([], [], color="0.55", marker="o", mfc="white", lw=1.4,
                              label="no pooling"))
    if has_new:
        handles.append(Line2D([], [], color="0.2", marker="D", ls="--", label="new group"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8,
               frameon=False)
    fig.suptitle(f"Per-group estimates, medians and {ci:.0%} intervals", fontsize=10)
    return fig
