"""Posterior predictions and allocation regret over a large (N, D) grid in bounded memory.

:meth:`ScalingFit.predict <bayescale.ScalingFit.predict>` returns every posterior draw at every
point, which is what one wants for a handful of points.  On a 200 x 200 planning grid with 4,000
draws that is 160 million numbers (1.3 GB per float64 array, and several such arrays while
computing the table).  The functions here walk the grid in chunks of points, keep only each
point's summary (mean, median, intervals), and so use memory proportional to ``max_bytes``
whatever the grid size.

Examples
--------
>>> import numpy as np
>>> from bayescale.inference.grid import predict_grid, regret_grid
>>> N, D = np.logspace(8, 11, 200), np.logspace(9, 13, 200)
>>> table = predict_grid(fit, N, D)        # doctest: +SKIP
>>> regret = regret_grid(fit, N, D)       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.inference.result import DEFAULT_CI, _ci_columns
from bayescale.modeling.noise import perturb

__all__ = ["predict_grid", "regret_grid"]

_DEFAULT_MAX_BYTES = 128 * 2**20


def _grid(N: Any, D: Any) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, v in (("N", N), ("D", D)):
        a = np.atleast_1d(np.asarray(v, dtype=float)).ravel()
        if not a.size or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError(f"{name} must be a non-empty array of positive finite values")
        out.append(a)
    n, d = np.meshgrid(out[0], out[1], indexing="ij")
    return n.ravel(), d.ravel()


def _chunks(n_points: int, n_draws: int, max_bytes: int, arrays: int) -> Iterator[slice]:
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, not {max_bytes!r}")
    step = max(1, int(max_bytes) // (8 * n_draws * arrays))
    for start in range(0, n_points, step):
        yield slice(start, min(start + step, n_points))


def _interval_table_sorted(x: np.ndarray, levels: Sequence[float]) -> pd.DataFrame:
    """Same numbers as :func:`interval_table` (numpy's linear quantiles), from one sort.

    ``np.quantile`` partitions once per requested quantile; sorting each point's draws once
    and interpolating is several times faster for the seven quantiles of a summary.
    """
    for lv in levels:
        if not 0 < lv < 1:
            raise ValueError(f"interval levels must be in (0, 1), not {lv!r}")
    qs = [0.5]
    for lv in levels:
        qs += [(1 - lv) / 2, 1 - (1 - lv) / 2]
    xs = np.sort(x.T, axis=1)  # (points, draws)
    n = xs.shape[1]
    out = {"mean": x.mean(axis=0)}
    cols = ["median", *_ci_columns(levels)]
    for name, q in zip(cols, qs, strict=True):
        h = q * (n - 1)
        lo = int(np.floor(h))
        hi = min(lo + 1, n - 1)
        t = h - lo
        a, b = xs[:, lo], xs[:, hi]
        diff = b - a
        # numpy's _lerp: a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5
        out[name] = b - diff * (1 - t) if t >= 0.5 else a + diff * t
    return pd.DataFrame(out)


def predict_grid(
    fit: Any,
    N: Any,
    D: Any,
    *,
    group: str | None = None,
    noise: bool = False,
    ci: Sequence[float] = DEFAULT_CI,
    seed: int | None = 0,
    flops: float = 6.0,
    max_bytes: int = _DEFAULT_MAX_BYTES,
    discrepancy: Any = True,
) -> pd.DataFrame:
    """Posterior predictive loss summary on the grid ``N x D``, chunked.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with inputs ``N`` and ``D``.
    N, D : array_like
        Grid axes (1-D); the grid has ``len(N) * len(D)`` points, ``N`` varying slowest.
    group, noise, ci, seed
        As for :meth:`ScalingFit.predict`.  With ``noise=True`` the noise draws depend on
        ``max_bytes`` (the chunking), not only on ``seed``.
    flops : float
        FLOPs per parameter per token, for the ``C`` column.
    max_bytes : int
        Memory for draws per chunk (default 128 MiB); peak memory is a small multiple of it.
    discrepancy : bool or Discrepancy, default True
        The extrapolation discrepancy, as for :meth:`ScalingFit.predict`: True the empirical
        prior, a :class:`~bayescale.Discrepancy`, or False / None for none.  Its deviates are
        drawn once for the whole grid (:meth:`Discrepancy.frozen
        <bayescale.Discrepancy.frozen>`, after the first chunk's noise), so every chunk sees the
        same deviation per draw and, without noise or in one chunk, the table equals
        ``fit.predict`` at the same points and seed.

    Returns
    -------
    pandas.DataFrame
        One row per grid point: ``N``, ``D``, ``C``, the distance columns of ``fit.predict``
        rows (``extrapolation``, ``decades_C``, ``tokens_per_param``, ``decades_tpp``),
        ``mean``, ``median``, ``lo_XX``, ``hi_XX``.

    Examples
    --------
    >>> t = predict_grid(fit, np.logspace(8, 11, 200), np.logspace(9, 13, 200))  # doctest: +SKIP
    >>> t.shape                                                                   # doctest: +SKIP
    (40000, 11)
    """
    law = fit.law
    if law.inputs != ("N", "D"):
        raise ValueError(f"predict_grid needs a law of N and D; {law.name!r} reads {law.inputs}")
    n, d = _grid(N, D)
    rng = np.random.default_rng(seed)
    params = {k: np.asarray(v).reshape(-1, 1) for k, v in fit._params_for_group(group, rng).items()}
    n_draws = next(iter(params.values())).shape[0]
    dev, along = None, None
    if noise:
        nd = fit.draws(kind="noise")
        sigma = nd["sigma"]
        nu = nd["nu"] if fit.spec.likelihood == "student_t" else None
    parts = []
    for sl in _chunks(len(n), n_draws, max_bytes, arrays=3):
        log_mu = law.log_loss(params, {"N": n[None, sl], "D": d[None, sl]}, fit.reference)
        log_mu = np.broadcast_to(log_mu, (n_draws, sl.stop - sl.start))
        if noise:
            log_mu = perturb(log_mu, sigma, nu, rng)
        if sl.start == 0:  # after the first chunk's noise, as predict draws them: one chunk
            dev, along = _frozen(fit, discrepancy, group, n_draws, rng, n, d, flops)  # = predict
        if dev is not None:
            log_mu = log_mu + dev(along[sl], d[sl] / n[sl])
        parts.append(_interval_table_sorted(np.exp(log_mu), ci))
    out = pd.concat([pd.DataFrame({"N": n, "D": d, "C": flops * n * d}),
                     _distance(fit, group, n, d, flops),
                     pd.concat(parts, ignore_index=True)], axis=1)
    if dev is not None:  # no finite mean where the discrepancy applies, as in predict
        from bayescale.inference.extrapolation import no_mean_beyond

        out["mean"] = no_mean_beyond(out["mean"], out["extrapolation"])
    return out


def _frozen(fit: Any, discrepancy: Any, group: Any, n_draws: int, rng: np.random.Generator,
            n: np.ndarray, d: np.ndarray, flops: float):
    """The fit's discrepancy frozen for ``n_draws`` draws and its values along ``by``."""
    from bayescale.inference.extrapolation import resolve_discrepancy

    disc = resolve_discrepancy(fit, discrepancy, group)
    if disc is None:
        return None, None
    along = flops * n * d if disc.by == "C" else n
    return disc.frozen(n_draws, rng), along


def _distance(fit: Any, group: Any, n: np.ndarray, d: np.ndarray, flops: float) -> pd.DataFrame:
    from bayescale.inference.extrapolation import forecast_distance

    return forecast_distance(fit, {"N": n, "D": d}, n.size, group=group, flops=flops)[1]


def regret_grid(
    fit: Any,
    N: Any,
    D: Any,
    *,
    group: str | None = None,
    flops_per_token: float = 6.0,
    tolerance: float = 0.01,
    max_bytes: int = _DEFAULT_MAX_BYTES,
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
        A fit of a law with inputs ``N`` and ``D`` that
        :func:`bayescale.decisions.compute_optimal` supports.
    N, D : array_like
        Grid axes (1-D).
    group : str, optional
        Group of a hierarchical fit (or ``"new"``).
    flops_per_token : float
        ``k`` in ``C = k N D``.
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
    >>> r = regret_grid(fit, np.logspace(8, 11, 200), np.logspace(9, 13, 200))  # doctest: +SKIP
    >>> r.nsmallest(3, "expected_regret")                                       # doctest: +SKIP
    """
    from bayescale.decisions import compute_optimal

    law = fit.law
    if law.inputs != ("N", "D"):
        raise ValueError(f"regret_grid needs a law of N and D; {law.name!r} reads {law.inputs}")
    n, d = _grid(N, D)
    rng = np.random.default_rng(seed)
    sampled = fit._params_for_group(group, rng)
    natural = law.to_natural(sampled, fit.reference)
    params = {k: np.asarray(v).reshape(-1, 1) for k, v in sampled.items()}
    n_draws = next(iter(params.values())).shape[0]
    c = flops_per_token * n * d
    dev, _ = _frozen(fit, discrepancy, group, n_draws, rng, n, d, flops_per_token)
    parts = []
    for sl in _chunks(len(n), n_draws, max_bytes, arrays=6):
        log_l = law.log_loss(params, {"N": n[None, sl], "D": d[None, sl]}, fit.reference)
        opt = compute_optimal(natural, c[sl], law=law, flops_per_token=flops_per_token)
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
                      _distance(fit, group, n, d, flops_per_token),
                      pd.concat(parts, ignore_index=True)], axis=1)


def _along_n(dev: Any, c: np.ndarray, tpp: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The frozen deviation at budget ``c`` (or size ``n`` for a term along N) and ``tpp``."""
    return dev(n if dev.discrepancy.by == "N" else c, tpp)
