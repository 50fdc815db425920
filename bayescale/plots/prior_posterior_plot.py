"""Prior against posterior, one panel per parameter: what the data taught the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_prior_posterior"]


def plot_prior_posterior(
    fit: Any,
    var_names: Sequence[str] | None = None,
    *,
    bins: int = 40,
    ncols: int = 4,
):
    """Histograms of prior and posterior draws of each parameter, on a common axis.

    Positive parameters spanning more than a decade of prior mass (``A``, ``B``...) get a log
    x-axis (densities are then per unit of ``log10``).  The x-range is the prior's central 98%
    joined with the posterior's, so a posterior far in the prior's tail stays visible; the
    posterior gets its own finer bins, so its shape shows next to a much wider prior.  Each
    panel prints the posterior median and 95% interval.

    Parameters
    ----------
    fit : ScalingFit
        A fit with a ``prior`` group (``bayescale.fit(..., prior_draws=500)``, the default).
    var_names : sequence of str, optional
        Default: the law's natural parameters and the noise parameters.  For a hierarchical
        fit, per-group parameters are shown pooled over groups.
    bins : int, default 40
    ncols : int, default 4

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the fit holds no prior draws.

    Examples
    --------
    >>> from bayescale.plots import plot_prior_posterior
    >>> fig = plot_prior_posterior(fit)            # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from bayescale.formatting import fmt_num
    from bayescale.modeling.spec import NOISE_PARAMS
    from bayescale.plots._style import plain_log_ticks

    if "prior" not in fit.tree.children:
        raise ValueError(
            "this fit has no prior draws to compare with; refit with prior_draws=500 "
            "(the default of bayescale.fit)"
        )
    prior = fit.tree["prior"]
    post = fit.tree["posterior"]
    if var_names is None:
        var_names = [*fit.law.natural, *NOISE_PARAMS[fit.spec.likelihood]]
    names = [v for v in var_names if v in prior.data_vars and v in post.data_vars]
    if not names:
        raise ValueError(f"none of {list(var_names)} is in both the prior and the posterior")
    ncols = min(ncols, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.2 * nrows),
                             layout="constrained", squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        pr = np.asarray(prior[name], dtype=float).ravel()
        po = np.asarray(post[name], dtype=float).ravel()
        pr, po = pr[np.isfinite(pr)], po[np.isfinite(po)]
        lo = min(np.quantile(pr, 0.01), po.min())
        hi = max(np.quantile(pr, 0.99), po.max())
        logx = lo > 0 and hi / lo > 20
        tr = np.log10 if logx else (lambda v: v)
        # densities in the plotted coordinate (log10 x on a log axis): the prior on coarse
        # bins over its range, the posterior on fine bins over its own range, so that its
        # shape stays visible however much narrower than the prior it is
        h_pr, e_pr = np.histogram(tr(pr), bins=bins, range=(tr(lo), tr(hi)), density=True)
        h_po, e_po = np.histogram(tr(po), bins=max(10, bins // 2), density=True)
        back = (lambda v: 10.0**v) if logx else (lambda v: v)
        ax.stairs(h_pr, back(e_pr), fill=True, color="0.6", alpha=0.6, label="prior")
        ax.stairs(h_po, back(e_po), fill=True, color="#1f77b4", alpha=0.7, label="posterior")
        med, lo95, hi95 = np.quantile(po, [0.5, 0.025, 0.975])
        ax.text(0.98, 0.95, f"{fmt_num(med)}\n[{fmt_num(lo95)}, {fmt_num(hi95)}]",
                transform=ax.transAxes, ha="right", va="top", fontsize=7)
        if logx:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis, max_ticks=5)
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle("prior (grey) and posterior (blue) of each parameter", fontsize=10)
    return fig
