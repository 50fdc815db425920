"""Posterior predictions over a large (N, D) grid in bounded memory.

:meth:`ScalingFit.predict <bayescale.ScalingFit.predict>` returns every posterior draw at every
point, which is what one wants for a handful of points.  On a 200 x 200 planning grid with 4,000
draws that is 160 million numbers (1.3 GB per float64 array, and several such arrays while
computing the table).  The functions here walk the grid in chunks of points, keep only each
point's summary (mean, median, intervals), and so use memory proportional to ``max_bytes``
whatever the grid size.

Examples
--------
>>> import numpy as np
>>> from bayescale.posterior.grid import predict_grid
>>> N, D = np.logspace(8, 11, 20), np.logspace(9, 13, 20)
>>> table = predict_grid(fit, N, D)

The allocation regret over such a grid is :func:`bayescale.decisions.grid.regret_grid`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.modeling.noise import new_run
from bayescale.posterior.result import DEFAULT_CI, ci_columns

__all__ = ["DEFAULT_MAX_BYTES", "chunks", "frozen_discrepancy", "grid_distance",
           "grid_points", "predict_grid"]

DEFAULT_MAX_BYTES = 128 * 2**20


def grid_points(N: Any, D: Any) -> tuple[np.ndarray, np.ndarray]:
    """The points of the grid ``N x D``, flattened with ``N`` varying slowest.

    Examples
    --------
    >>> from bayescale.posterior.grid import grid_points
    >>> n, d = grid_points([1e9, 1e10], [2e10, 2e11, 2e12])
    >>> (n / 1e9).tolist(), (d / 1e10).tolist()
    ([1.0, 1.0, 1.0, 10.0, 10.0, 10.0], [2.0, 20.0, 200.0, 2.0, 20.0, 200.0])
    """
    out = []
    for name, v in (("N", N), ("D", D)):
        a = np.atleast_1d(np.asarray(v, dtype=float)).ravel()
        if not a.size or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError(f"{name} must be a non-empty array of positive finite values")
        out.append(a)
    n, d = np.meshgrid(out[0], out[1], indexing="ij")
    return n.ravel(), d.ravel()


def chunks(n_points: int, n_draws: int, max_bytes: int, arrays: int) -> Iterator[slice]:
    """Slices of the points such that ``arrays`` float64 arrays of (draws x points) fit in
    ``max_bytes``.

    Examples
    --------
    >>> from bayescale.posterior.grid import chunks
    >>> list(chunks(5, n_draws=100, max_bytes=8 * 100 * 2, arrays=1))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
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
    cols = ["median", *ci_columns(levels)]
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
    flops: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
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
    flops : float, optional
        FLOPs per parameter per token, for the ``C`` column; default the fit's own convention
        (:attr:`ScalingFit.flops_per_token <bayescale.ScalingFit.flops_per_token>`).
    max_bytes : int
        Memory for draws per chunk (default 128 MiB); peak memory is a small multiple of it.
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, as for :meth:`ScalingFit.predict`: True the fit's own
        (the empirical prior updated by its runs' leave-future-out splits), ``"prior"`` the
        empirical prior alone, a :class:`~bayescale.Discrepancy`, or False / None for none.
        Its deviates are drawn once for the whole grid (:meth:`Discrepancy.frozen
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
    >>> t = predict_grid(fit, np.logspace(8, 11, 20), np.logspace(9, 13, 20))
    >>> t.shape
    (400, 15)
    """
    law = fit.law
    if law.inputs != ("N", "D"):
        raise ValueError(f"predict_grid needs a law of N and D; {law.name!r} reads {law.inputs}")
    n, d = grid_points(N, D)
    flops = fit.flops_per_token if flops is None else float(flops)
    rng = np.random.default_rng(seed)
    params = {k: np.asarray(v).reshape(-1, 1) for k, v in fit._curve_draws(group, rng).items()}
    n_draws = next(iter(params.values())).shape[0]
    dev, along = None, None
    if noise:  # failures per point below: their rate may depend on tokens per parameter
        from bayescale.modeling.spec import NOISE_PARAMS

        nd = fit.draws(kind="noise", group=group,
                       names=list(NOISE_PARAMS[fit.spec.likelihood]))
        frozen = fit.frozen_failures(group)      # drawn once, read at each chunk's points
    parts = []
    for sl in chunks(len(n), n_draws, max_bytes, arrays=3):
        log_mu = law.log_loss(params, {"N": n[None, sl], "D": d[None, sl]}, fit.reference)
        log_mu = np.broadcast_to(log_mu, (n_draws, sl.stop - sl.start))
        if noise:  # the same failure draws per draw in every chunk (seeded by the fit)
            fail = {} if frozen is None else {"fail_p": frozen.p(d[sl] / n[sl]),
                                              "fail_size": frozen.fail_size}
            log_mu = new_run(log_mu, {**nd, **fail}, rng)
        if sl.start == 0:  # after the first chunk's noise, as predict draws them: one chunk
            # = predict
            dev, along = frozen_discrepancy(fit, discrepancy, group, n_draws, rng, n, d, flops)
        if dev is not None:
            log_mu = log_mu + dev(along[sl], d[sl] / n[sl])
        parts.append(_interval_table_sorted(np.exp(log_mu), ci))
    out = pd.concat([pd.DataFrame({"N": n, "D": d, "C": flops * n * d}),
                     grid_distance(fit, group, n, d, flops),
                     pd.concat(parts, ignore_index=True)], axis=1)
    if dev is not None:  # no finite mean where the discrepancy applies, as in predict
        from bayescale.posterior.discrepancy import no_mean_beyond

        out["mean"] = no_mean_beyond(out["mean"], out["extrapolation"])
    return out


def frozen_discrepancy(fit: Any, discrepancy: Any, group: Any, n_draws: int,
                       rng: np.random.Generator, n: np.ndarray, d: np.ndarray, flops: float):
    """The fit's discrepancy frozen for ``n_draws`` draws and its values along ``by``.

    ``(None, None)`` when ``discrepancy`` resolves to none (False, or a law of another target);
    else the :class:`~bayescale.posterior.discrepancy.FrozenDiscrepancy` (one deviate per draw
    for every point) and the points' compute ``flops * n * d`` (or ``n`` for a term along N).
    """
    from bayescale.posterior.discrepancy import resolve_discrepancy

    disc = resolve_discrepancy(fit, discrepancy, group)
    if disc is None:
        return None, None
    along = flops * n * d if disc.by == "C" else n
    return disc.frozen(n_draws, rng), along


def grid_distance(fit: Any, group: Any, n: np.ndarray, d: np.ndarray,
                  flops: float) -> pd.DataFrame:
    """The distance columns of ``fit.predict`` rows at the points ``(n, d)``
    (:func:`~bayescale.posterior.discrepancy.forecast_distance`)."""
    from bayescale.posterior.discrepancy import forecast_distance

    return forecast_distance(fit, {"N": n, "D": d}, n.size, group=group, flops=flops)[1]
