"""Allocation regret over a large (N, D) grid in bounded memory.

The grid walk of :func:`bayescale.posterior.grid.predict_grid` (chunks of points, one summary
per point, memory proportional to ``max_bytes``) applied to the regret of each point against
each draw's compute-optimal plan of the same budget.

Examples
--------
>>> import numpy as np
>>> from bayescale.decisions.grid import regret_grid
>>> N, D = np.logspace(8, 11, 20), np.logspace(9, 13, 20)
>>> regret = regret_grid(fit, N, D)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions.allocation import _compute_optimal
from bayescale.posterior.grid import (
    DEFAULT_MAX_BYTES,
    chunks,
    frozen_discrepancy,
    grid_distance,
    grid_points,
)

__all__ = ["regret_grid"]


def regret_grid(
    fit: Any,
    N: Any,
    D: Any,
    *,
    group: str | None = None,
    flops_per_token: float | None = None,
    tolerance: float = 0.01,
    max_bytes: int = DEFAULT_MAX_BYTES,
    discrepancy: Any = True,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Allocation regret of every grid point against the compute-optimal plan, per draw.

    A point ``(N, D)`` costs ``C = flops_per_token * N * D``.  For each posterior draw its
    regret is how much higher its (mean-law) loss is than the loss of that draw's
    compute-optimal allocation of the same ``C``; summarising over draws says which plans are
    safe whichever law is true.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with inputs ``N`` and ``D`` that :func:`bayescale.allocate` supports.
    N, D : array_like
        Grid axes (1-D).
    group : str, optional
        Group of a hierarchical fit (or ``"new"``).
    flops_per_token : float, optional
        ``k`` in ``C = k N D`` (default the fit's own convention, ``fit.flops_per_token``).
    tolerance : float
        Relative regret counted as near-optimal for ``p_near_optimal``.
    max_bytes : int
        Memory for draws per chunk (default 128 MiB).
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, as for :meth:`ScalingFit.predict` (False / None: off),
        frozen once per draw.  A point and the optimum it is compared with have the same
        budget, so the compute part of each draw's deviation is the same factor on both and
        cancels exactly from the relative regret; what remains is the tokens-per-parameter
        part, which makes splits outside the runs' range of ``D / N`` riskier.  The optimum
        (and ``p_optimal_side``) is each draw's mean-law optimum, as in
        :func:`bayescale.allocate`.
    seed : int or None
        Seed of the discrepancy's draws (and of new-group draws).

    Returns
    -------
    pandas.DataFrame
        One row per grid point: ``N``, ``D``, ``C``, the distance columns of ``fit.predict``
        rows, ``expected_regret`` (mean of
        ``loss / optimal_loss - 1`` over draws), ``p_near_optimal`` (share of draws whose
        relative regret is below ``tolerance``) and ``p_optimal_side`` (share of draws whose
        optimal ``N`` at this budget is above this point's ``N``).

    Examples
    --------
    >>> r = regret_grid(fit, np.logspace(8, 11, 20), np.logspace(9, 13, 20))
    >>> r.nsmallest(3, "expected_regret")[["N", "D", "expected_regret", "p_near_optimal"]]
                    N             D  expected_regret  p_near_optimal
    64   2.976351e+08  6.951928e+09          0.00001             1.0
    147  1.274275e+09  2.976351e+10          0.00002             1.0
    209  3.792690e+09  7.847600e+10          0.00003             1.0
    """
    law = fit.law
    if law.inputs != ("N", "D"):
        raise ValueError(f"regret_grid needs a law of N and D; {law.name!r} reads {law.inputs}")
    n, d = grid_points(N, D)
    if fit.groups and group is None:
        raise ValueError(f"this fit has groups {fit.groups}; pass group=<one of them> or "
                         "group='new' for an unseen group")
    flops_per_token = fit.flops_per_token if flops_per_token is None else float(flops_per_token)
    rng = np.random.default_rng(seed)
    sampled = fit.draws(kind="sampled", group=group, rng=rng)
    natural = law.to_natural(sampled, fit.reference)
    params = {k: np.asarray(v).reshape(-1, 1) for k, v in sampled.items()}
    n_draws = next(iter(params.values())).shape[0]
    c = flops_per_token * n * d
    dev, _ = frozen_discrepancy(fit, discrepancy, group, n_draws, rng, n, d, flops_per_token)
    parts = []
    for sl in chunks(len(n), n_draws, max_bytes, arrays=6):
        log_l = law.log_loss(params, {"N": n[None, sl], "D": d[None, sl]}, fit.reference)
        opt = _compute_optimal(natural, c[sl], law=law, flops_per_token=flops_per_token)
        log_ratio = log_l - np.log(opt["loss"])
        if dev is not None:  # the compute part cancels: the same budget on both sides
            log_ratio = log_ratio + _along_n(dev, c[sl], d[sl] / n[sl], n[sl]) \
                - _along_n(dev, c[sl], opt["tokens_per_param"], opt["N"])
        rel = np.exp(log_ratio) - 1.0
        parts.append(pd.DataFrame({
            "expected_regret": rel.mean(axis=0),
            "p_near_optimal": (rel < tolerance).mean(axis=0),
            "p_optimal_side": (opt["N"] > n[None, sl]).mean(axis=0),
        }))
    return pd.concat([pd.DataFrame({"N": n, "D": d, "C": c}),
                      grid_distance(fit, group, n, d, flops_per_token),
                      pd.concat(parts, ignore_index=True)], axis=1)


def _along_n(dev: Any, c: np.ndarray, tpp: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The frozen deviation at budget ``c`` (or size ``n`` for a term along N) and ``tpp``."""
    return dev(n if dev.discrepancy.by == "N" else c, tpp)
