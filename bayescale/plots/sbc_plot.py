"""Simulation-based calibration: ECDF of the ranks minus the uniform CDF, simultaneous bands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_sbc_ecdf"]


def plot_sbc_ecdf(
    ranks: Any,
    *,
    parameters: Sequence[str] | None = None,
    prob: float = 0.95,
    ncols: int = 4,
    n_null: int = 10_000,
):
    """ECDF-difference plot of SBC ranks (Säilynoja, Bürkner and Vehtari 2022).

    One panel per parameter: the ECDF of the normalised ranks minus the uniform CDF, inside the
    simultaneous ``prob`` band of uniform ranks.  A calibrated posterior stays inside the band
    everywhere (it leaves it somewhere with probability ``1 - prob``); a curve that drops below
    and then rises (a "U" shape below zero) means intervals too narrow, a hump above zero
    intervals too wide, and a curve that stays on one side a biased posterior.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Output of :func:`bayescale.evaluation.sbc.sbc`.
    parameters : sequence of str, optional
        Parameters to show (default: all, in the order of the table).
    prob : float
        Simultaneous coverage of the band.
    ncols : int
        Panels per row.
    n_null : int
        Monte Carlo samples used to calibrate the band.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.plots import plot_sbc_ecdf
    >>> rng = np.random.default_rng(0)
    >>> ranks = pd.DataFrame({"parameter": ["alpha"] * 100, "rank": rng.integers(0, 100, 100)})
    >>> ranks.attrs["n_ranks"] = 100
    >>> fig = plot_sbc_ecdf(ranks, n_null=2000)
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt

    from bayescale.evaluation.sbc import ecdf_band, uniformity_pvalues

    n_ranks = int(ranks.attrs.get("n_ranks", ranks["rank"].max() + 1))
    names = list(dict.fromkeys(ranks["parameter"])) if parameters is None else list(parameters)
    unknown = [p for p in names if p not in set(ranks["parameter"])]
    if unknown:
        raise ValueError(f"no ranks for {unknown}; the table has {sorted(set(ranks['parameter']))}")
    if not names:
        raise ValueError("the ranks table is empty")
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.8 * ncols, 2.3 * nrows), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        r = ranks.loc[ranks["parameter"] == name, "rank"].to_numpy(dtype=np.int64)
        z, lo, hi = ecdf_band(r.size, n_ranks, prob=prob, n_null=n_null)
        ecdf = np.cumsum(np.bincount(r, minlength=n_ranks))[:-1] / r.size
        x = np.r_[0.0, z, 1.0]
        ax.fill_between(x, np.r_[0.0, lo - z, 0.0], np.r_[0.0, hi - z, 0.0], step="post",
                        color="0.85", label=f"{prob:.0%} simultaneous band")
        ax.step(x, np.r_[0.0, ecdf - z, 0.0], where="post", color="C0", lw=1.4)
        ax.axhline(0.0, color="0.4", lw=0.6)
        p = uniformity_pvalues(r, n_ranks, n_null=n_null)["p_ecdf"]
        outside = np.any((ecdf < lo) | (ecdf > hi))
        ax.set_title(f"{name}  (p = {p:.2g})", fontsize=9,
                     color="C3" if outside else "black")
    for ax in axes[-1]:
        ax.set_xlabel("normalised rank")
    for ax in axes[:, 0]:
        ax.set_ylabel("ECDF - uniform")
    attrs = getattr(ranks, "attrs", {})
    if "law" in attrs:
        fig.suptitle(
            f"SBC of {attrs['law']}" + (f" (groups {attrs['groups']})" if attrs.get("groups")
                                        else "")
            + f": {ranks['sim'].nunique() if 'sim' in ranks else attrs.get('n_sims', '?')} "
            f"simulations, {n_ranks - 1} thinned draws",
            fontsize=10,
        )
    axes.ravel()[0].legend(fontsize=7, loc="lower left", frameon=False)
    return fig
