"""Point-estimate baselines: the Besiroglu et al. (2024) anchor procedure.

This module implements, in plain numpy/scipy, the frequentist procedure of
Besiroglu, Erdil, Barnett & You (2024), *Chinchilla Scaling: A replication
attempt* (arXiv:2404.10102), itself a re-implementation of Hoffmann et al.'s
(2022) "Approach 3".  bayescale's Bayesian fits are benchmarked against it.

The procedure
-------------
The Chinchilla law

.. math:: L(N, D) = E + A / N^\\alpha + B / D^\\beta

is parametrised as ``(a, b, e, alpha, beta)`` with ``A = exp(a)``,
``B = exp(b)``, ``E = exp(e)``, so that

.. math:: \\log \\hat L = \\operatorname{LSE}(a - \\alpha \\log N,\\;
          b - \\beta \\log D,\\; e).

The parameters minimise the *sum* of Huber losses (``delta = 1e-3``) of the
residuals ``log L_hat - log L``.  Because the objective is non-convex, scipy's
L-BFGS-B is started from every point of a grid of initialisations and the best
*successful* run is kept (runs that scipy reports as unsuccessful are ignored,
as in the reference code).  The default grid is Besiroglu et al.'s::

    alpha, beta in np.arange(0, 2.5, 0.5)   -> {0, 0.5, 1, 1.5, 2}      (5 each)
    e           in np.arange(-1, 1.5, 0.5)  -> {-1, -0.5, 0, 0.5, 1}    (5)
    a, b        in np.arange(0, 30, 5)      -> {0, 5, 10, 15, 20, 25}   (6 each)

i.e. ``5 * 5 * 5 * 6 * 6 = 4,500`` starts, enumerated in the order
``itertools.product(alpha, beta, e, a, b)`` (which only matters for exact
ties).  Note ``np.arange(-1, 1.5, 0.5)`` stops at 1.0: the grid has 4,500
starts, not the 5,400 one gets by also including ``e = 1.5``.

Uncertainty comes from a nonparametric bootstrap: rows are resampled with
replacement and the law is refitted on each resample (4,000 resamples in the
paper); intervals are percentile intervals of the refits.

Deviations from the reference implementation
--------------------------------------------
* The gradient is analytic (the reference grid search let scipy difference
  the objective numerically); the log-sum-exp is evaluated stably.  Both can
  move where a run *stops*, but not which minimum it is near.
* Bootstrap refits: the code accompanying the paper (as reproduced in
  downstream re-implementations of it) refits each resample with a *single*
  BFGS run (scipy defaults) started from Hoffmann et al.'s published
  estimates ``(a, b, e, alpha, beta) = (6.0073404, 6.0179186, 0.5267228,
  0.33917084, 0.2849083)``, not from the whole grid.  :func:`bootstrap`
  likewise does a single local refit per resample, but by default starts it
  from the full-data best fit and uses L-BFGS-B with tightened tolerances
  (:data:`BOOTSTRAP_OPTIONS`).  The tightening is necessary, not cosmetic:
  scipy's L-BFGS-B stops when the objective decrease falls below
  ``ftol * max(|f|, 1)``, i.e. an *absolute* ``2.2e-9`` here because the
  objective is ~1e-3, and from a start near the optimum that happens after a
  few iterations, leaving the refit essentially at its start (bootstrap
  intervals then collapse to nearly a point).  With the tight tolerances the
  refits agree with Nelder-Mead polishing, and starting from the full-data
  fit or from Hoffmann et al.'s values gives the same refit for >98% of
  resamples on the Chinchilla table.  ``start=HOFFMANN_2022_START,
  method="BFGS", options={}`` is the reference variant.  Resample indices
  come from ``numpy.random.default_rng(seed)``; passing a legacy
  ``numpy.random.RandomState(42)`` instead reproduces the reference index
  stream (``np.random.seed(42)`` followed by one ``np.random.choice`` per
  resample) when the rows are in the reference order.

Verification (Epoch AI's reconstruction of the Chinchilla table)
----------------------------------------------------------------
With ``D = C / (6 N)`` and the 5 highest-loss runs dropped (rows with loss
below the 5th-highest: 240 remain), :func:`huber_fit` gives E = 1.8172,
A = 477.8, B = 2143, alpha = 0.3473, beta = 0.3672 against the published
1.817, 482.0, 2085, 0.348, 0.366.  Our objective (1.018274e-3) is lower than
at the published point (1.018645e-3), and polishing either with tight
tolerances or Nelder-Mead lands on ours: the published point is a slightly
under-converged run of the same minimum (numerical gradient, default
tolerances), not a different one.  The reference bootstrap variant
reproduces the published 95% intervals to the printed digits; the default
variant (seed 0) agrees to Monte-Carlo error.  See
``benchmarks/anchor_timing.py``.

Everything here is numpy/scipy only; importing this module does not import
PyMC.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize

__all__ = [
    "BESIROGLU_2024_ESTIMATES",
    "BOOTSTRAP_OPTIONS",
    "DEFAULT_GRID_VALUES",
    "HOFFMANN_2022_START",
    "PARAM_NAMES",
    "HuberFit",
    "bootstrap",
    "bootstrap_intervals",
    "default_grid",
    "huber_fit",
    "huber_objective",
]

#: Order of the optimisation vector ``theta``.
PARAM_NAMES: tuple[str, ...] = ("a", "b", "e", "alpha", "beta")

#: Besiroglu et al.'s grid of initial values (see the module docstring).
DEFAULT_GRID_VALUES: dict[str, np.ndarray] = {
    "alpha": np.arange(0, 2.5, 0.5),
    "beta": np.arange(0, 2.5, 0.5),
    "e": np.arange(-1, 1.5, 0.5),
    "a": np.arange(0, 30, 5),
    "b": np.arange(0, 30, 5),
}

#: Hoffmann et al. (2022) estimates as ``(a, b, e, alpha, beta)``; the start
#: the reference code used for its bootstrap refits.
HOFFMANN_2022_START: tuple[float, ...] = (6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083)

#: Published Besiroglu et al. (2024) estimates with 95% bootstrap intervals
#: (``a_opt = beta / (alpha + beta)``; its interval is +-1.96 s.e.).
BESIROGLU_2024_ESTIMATES: dict[str, tuple[float, float, float]] = {
    "E": (1.817, 1.769, 1.871),
    "A": (482.0, 285.0, 744.0),
    "B": (2085.0, 1042.0, 5810.0),
    "alpha": (0.348, 0.317, 0.373),
    "beta": (0.366, 0.331, 0.415),
    "a_opt": (0.513, 0.513 - 1.96 * 0.020, 0.513 + 1.96 * 0.020),
}

#: scipy.optimize.minimize options of the bootstrap refits (see the module
#: docstring for why scipy's defaults are not used there).
BOOTSTRAP_OPTIONS: dict[str, float | int] = {"ftol": 1e-15, "gtol": 1e-10, "maxls": 50}


# --------------------------------------------------------------------------- #
# Objective
# --------------------------------------------------------------------------- #
def _prepare(N: ArrayLike, D: ArrayLike, loss: ArrayLike) -> tuple[np.ndarray, ...]:
    N = np.asarray(N, dtype=float).ravel()
    D = np.asarray(D, dtype=float).ravel()
    loss = np.asarray(loss, dtype=float).ravel()
    if not (N.shape == D.shape == loss.shape):
        raise ValueError(
            f"N, D and loss must have the same length, got {N.size}, {D.size}, {loss.size}"
        )
    if N.size == 0:
        raise ValueError("need at least one observation")
    if np.any(~np.isfinite(N) | (N <= 0)) or np.any(~np.isfinite(D) | (D <= 0)):
        raise ValueError("N and D must be finite and positive")
    if np.any(~np.isfinite(loss) | (loss <= 0)):
        raise ValueError("loss must be finite and positive")
    return np.log(N), np.log(D), np.log(loss)


def _fg(theta: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, delta: float):
    """Huber objective and its analytic gradient (vectorised over rows)."""
    a, b, e, alpha, beta = theta
    u1 = a - alpha * x
    u2 = b - beta * y
    m = np.maximum(u1, u2)
    np.maximum(m, e, out=m)
    w1 = np.exp(u1 - m)
    w2 = np.exp(u2 - m)
    w3 = np.exp(e - m)
    s = w1 + w2 + w3
    r = np.log(s)  # r = LSE(u1, u2, e) - log(loss)
    r += m
    r -= t
    # Huber: with c = clip(r, -delta, delta), huber(r) = c * (r - c/2) and huber'(r) = c
    c = np.minimum(np.maximum(r, -delta), delta)
    f = c @ (r - 0.5 * c)
    g = c / s  # d LSE / d u_k = w_k / s
    gw1 = g * w1
    gw2 = g * w2
    return float(f), np.array([gw1.sum(), gw2.sum(), g @ w3, -(gw1 @ x), -(gw2 @ y)])


def huber_objective(
    theta: ArrayLike, N: ArrayLike, D: ArrayLike, loss: ArrayLike, *, delta: float = 1e-3
) -> tuple[float, np.ndarray]:
    """Huber objective of the Chinchilla law and its gradient.

    Parameters
    ----------
    theta : array_like, shape (5,)
        ``(a, b, e, alpha, beta)`` with ``A = exp(a)``, ``B = exp(b)``,
        ``E = exp(e)``.
    N, D, loss : array_like
        Parameters, training tokens and final losses, one entry per run.
    delta : float, default 1e-3
        Huber threshold on the log-loss residual.

    Returns
    -------
    value : float
        ``sum_i huber_delta(log L_hat_i - log loss_i)``.
    grad : numpy.ndarray, shape (5,)
        Gradient with respect to ``theta``.

    Examples
    --------
    >>> import numpy as np
    >>> N, D = np.array([1e8, 1e9]), np.array([1e10, 2e10])
    >>> theta = np.array([6.0, 6.0, 0.5, 0.34, 0.28])
    >>> L = np.exp(0.5) + np.exp(6.0) / N**0.34 + np.exp(6.0) / D**0.28
    >>> value, grad = huber_objective(theta, N, D, L)
    >>> bool(value < 1e-20), grad.shape
    (True, (5,))
    """
    x, y, t = _prepare(N, D, loss)
    return _fg(np.asarray(theta, dtype=float), x, y, t, float(delta))


# --------------------------------------------------------------------------- #
# Grid fit
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class HuberFit:
    """Result of :func:`huber_fit`.

    Attributes
    ----------
    E, A, B, alpha, beta : float
        Fitted Chinchilla-law parameters on the natural scale.
    objective : float
        Sum of Huber losses at the optimum.
    params : dict
        The optimisation vector ``{"a", "b", "e", "alpha", "beta"}`` (log scale
        for ``A, B, E``).
    init : tuple of float
        The grid start ``(a, b, e, alpha, beta)`` that produced the best run.
    n_starts, n_success : int
        Number of starts tried and number scipy reported as successful.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float
    params: dict[str, float] = field(compare=False)
    init: tuple[float, ...] = ()
    n_starts: int = 1
    n_success: int = 1

    @property
    def theta(self) -> np.ndarray:
        """The optimisation vector ``(a, b, e, alpha, beta)`` as an array."""
        return np.array([self.params[k] for k in PARAM_NAMES])

    @property
    def a_opt(self) -> float:
        """Compute-optimal exponent ``N_opt ~ C**a_opt``, ``a_opt = beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Predicted loss ``E + A / N**alpha + B / D**beta``."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    @classmethod
    def from_theta(cls, theta: ArrayLike, objective: float, **kwargs: Any) -> HuberFit:
        th = np.asarray(theta, dtype=float)
        a, b, e, alpha, beta = (float(v) for v in th)
        return cls(
            E=float(np.exp(e)),
            A=float(np.exp(a)),
            B=float(np.exp(b)),
            alpha=alpha,
            beta=beta,
            objective=float(objective),
            params=dict(zip(PARAM_NAMES, (a, b, e, alpha, beta), strict=True)),
            **kwargs,
        )


def default_grid(values: Mapping[str, ArrayLike] | None = None) -> np.ndarray:
    """Grid of starting points in the reference enumeration order.

    Parameters
    ----------
    values : mapping, optional
        One 1-D array of values per parameter name in :data:`PARAM_NAMES`;
        missing names fall back to :data:`DEFAULT_GRID_VALUES`.

    Returns
    -------
    numpy.ndarray, shape (n_starts, 5)
        Columns ``(a, b, e, alpha, beta)``; rows enumerate
        ``itertools.product(alpha, beta, e, a, b)`` as in the reference code.

    Examples
    --------
    >>> default_grid().shape
    (4500, 5)
    >>> default_grid({"alpha": [0.5], "beta": [0.5], "e": [0.0], "a": [5], "b": [5, 10]})
    array([[ 5. ,  5. ,  0. ,  0.5,  0.5],
           [ 5. , 10. ,  0. ,  0.5,  0.5]])
    """
    vals = dict(DEFAULT_GRID_VALUES)
    if values is not None:
        unknown = set(values) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown grid parameters {sorted(unknown)}; expected {PARAM_NAMES}")
        vals.update({k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in values.items()})
    rows = [
        (a, b, e, alpha, beta)
        for alpha, beta, e, a, b in itertools.product(
            vals["alpha"], vals["beta"], vals["e"], vals["a"], vals["b"]
        )
    ]
    return np.asarray(rows, dtype=float)


def _as_grid(grid: np.ndarray | Mapping[str, ArrayLike] | Sequence | None) -> np.ndarray:
    if grid is None or isinstance(grid, Mapping):
        return default_grid(grid)
    arr = np.atleast_2d(np.asarray(grid, dtype=float))
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError("grid must be a mapping of values or an array of shape (n_starts, 5)")
    return arr


def _single_threaded_blas() -> AbstractContextManager:
    """Pin BLAS to one thread while looping over many tiny fits.

    The objective and scipy's L-BFGS-B make thousands of BLAS calls on
    vectors of a few hundred entries; with OpenBLAS's thread pool active
    (and cores shared with other work) that was measured to be 10-25x slower
    than single-threaded BLAS.  threadpoolctl ships with PyMC and scipy's
    test extras; without it this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _executor(workers: int) -> ProcessPoolExecutor:
    # "spawn": forking a process that holds BLAS threads can deadlock.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _local_fit(theta0, x, y, t, delta, method, options):
    return minimize(
        _fg,
        np.asarray(theta0, dtype=float),
        args=(x, y, t, delta),
        jac=True,
        method=method,
        options=options,
    )


def _run_starts(starts, x, y, t, delta, method, options):
    """Run one local fit per start; returns (thetas, values, successes)."""
    k = len(starts)
    thetas = np.empty((k, 5))
    values = np.empty(k)
    ok = np.empty(k, dtype=bool)
    with _single_threaded_blas(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i, s in enumerate(starts):
            res = _local_fit(s, x, y, t, delta, method, options)
            thetas[i] = res.x
            values[i] = res.fun if np.isfinite(res.fun) else np.inf
            ok[i] = bool(res.success) and np.all(np.isfinite(res.x))
    return thetas, values, ok


def _n_workers(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 1:
        return 1
    cpu = os.cpu_count() or 1
    return cpu if n_jobs < 0 else max(1, min(int(n_jobs), cpu))


def _map_starts(starts, x, y, t, delta, method, options, n_jobs):
    workers = _n_workers(n_jobs)
    if workers == 1 or len(starts) < 2 * workers:
        return _run_starts(starts, x, y, t, delta, method, options)
    chunks = np.array_split(starts, workers * 4)
    chunks = [c for c in chunks if len(c)]
    with _executor(workers) as ex:
        parts = list(
            ex.map(
                _run_starts,
                chunks,
                *([a] * len(chunks) for a in (x, y, t, delta, method, options)),
            )
        )
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def huber_fit(
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    delta: float = 1e-3,
    grid: np.ndarray | Mapping[str, ArrayLike] | None = None,
    n_jobs: int | None = 1,
    method: str = "L-BFGS-B",
    options: Mapping[str, Any] | None = None,
) -> HuberFit:
    """Fit ``L = E + A/N**alpha + B/D**beta`` by multi-start Huber regression.

    Minimises ``sum_i huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e)
    - log loss_i)`` with scipy's L-BFGS-B (analytic gradient) from every
    start in ``grid`` and keeps the lowest objective among the runs scipy
    reports as successful (all runs, if none is).  This is the point-estimate
    step of Besiroglu et al. (2024); see the module docstring.

    Parameters
    ----------
    N, D, loss : array_like
        Parameter counts, training tokens and final losses (one per run).
    delta : float, default 1e-3
        Huber threshold on the log-loss residual.
    grid : mapping or array_like, optional
        Starting points.  ``None`` (default) is Besiroglu et al.'s 4,500-start
        grid (:data:`DEFAULT_GRID_VALUES`); a mapping overrides the values of
        some parameters (see :func:`default_grid`); an array of shape
        ``(n_starts, 5)`` gives the starts ``(a, b, e, alpha, beta)`` directly.
    n_jobs : int, default 1
        Worker processes for the independent local fits (``-1``: all cores).
        The result does not depend on ``n_jobs``.  Workers are started with
        the "spawn" method, so scripts must guard their entry point with
        ``if __name__ == "__main__":``.
    method : str, default "L-BFGS-B"
        scipy.optimize.minimize method for the local fits.
    options : mapping, optional
        Options for scipy.optimize.minimize; the defaults are scipy's, as in
        the reference code.

    Returns
    -------
    HuberFit
        Best fit on the natural scale, its objective and the log-scale
        ``params``.

    Notes
    -----
    The objective is the *sum* (not mean) of Huber losses, as in the
    reference; this matters because scipy's stopping tolerances are absolute
    at this scale.  On one core the default grid takes roughly 25-30 s of CPU
    for the 240-run Chinchilla table (about 6 ms per start); the starts are
    independent, so ``n_jobs`` scales almost linearly.  They are *not* batched
    into one vectorised optimiser or pruned: either would change which point
    each run stops at, and so possibly the result.  BLAS is pinned to one
    thread during the loop (see ``_single_threaded_blas``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> N = 10 ** rng.uniform(7, 10, 80)
    >>> D = 10 ** rng.uniform(9, 11.5, 80)
    >>> L = 1.7 + 400 / N**0.34 + 410 / D**0.28
    >>> small = {"a": [0.0, 5.0, 10.0], "b": [0.0, 5.0, 10.0], "e": [0.0, 0.5]}
    >>> fit = huber_fit(N, D, L, grid=small)  # 5 * 5 * 2 * 3 * 3 = 450 starts
    >>> fit.n_starts, round(fit.E, 3), round(fit.alpha, 3), round(fit.beta, 3)
    (450, 1.7, 0.34, 0.28)

    Single runs with scipy's default tolerances can stop early when the
    objective is tiny (here, noise-free data); the multi-start grid is what
    makes the default procedure reliable.  Tighter tolerances help a single
    start:

    >>> one = {"a": [5.0], "b": [5.0], "e": [0.5], "alpha": [0.5], "beta": [0.5]}
    >>> fit1 = huber_fit(N, D, L, grid=one, options={"ftol": 1e-15, "gtol": 1e-10})
    >>> round(fit1.E, 3), round(fit1.A, 1), round(fit1.B, 1)
    (1.7, 400.0, 410.0)
    """
    x, y, t = _prepare(N, D, loss)
    starts = _as_grid(grid)
    opts = dict(options) if options is not None else None
    thetas, values, ok = _map_starts(starts, x, y, t, float(delta), method, opts, n_jobs)
    pool = ok if ok.any() else np.isfinite(values)
    if not pool.any():
        raise RuntimeError("every local fit failed to produce a finite objective")
    masked = np.where(pool, values, np.inf)
    best = int(np.argmin(masked))  # first minimum in grid order, as with a strict '<'
    return HuberFit.from_theta(
        thetas[best],
        values[best],
        init=tuple(float(v) for v in starts[best]),
        n_starts=len(starts),
        n_success=int(ok.sum()),
    )


# --------------------------------------------------------------------------- #
# Bootstrap
# --------------------------------------------------------------------------- #
def _resample_indices(n: int, n_boot: int, seed) -> np.ndarray:
    if isinstance(seed, np.random.RandomState):
        # reference stream: one np.random.choice(n_rows, n_rows) per resample
        return np.stack([seed.choice(n, size=n, replace=True) for _ in range(n_boot)])
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def _boot_chunk(idx_block, theta0, x, y, t, delta, method, options):
    out = np.empty((len(idx_block), 5))
    vals = np.empty(len(idx_block))
    ok = np.empty(len(idx_block), dtype=bool)
    with _single_threaded_blas(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i, idx in enumerate(idx_block):
            res = _local_fit(theta0, x[idx], y[idx], t[idx], delta, method, options)
            out[i] = res.x
            vals[i] = res.fun
            ok[i] = bool(res.success) and np.all(np.isfinite(res.x))
    return out, vals, ok


def bootstrap(
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    n_boot: int = 4000,
    seed: int | np.random.Generator | np.random.RandomState | None = 0,
    delta: float = 1e-3,
    start: HuberFit | ArrayLike | None = None,
    method: str = "L-BFGS-B",
    options: Mapping[str, Any] | None = None,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Nonparametric bootstrap of the Huber fit.

    Each of ``n_boot`` resamples draws ``len(N)`` rows with replacement and is
    refitted with one local optimisation started from ``start``.

    Parameters
    ----------
    N, D, loss : array_like
        Parameter counts, training tokens and final losses (one per run).
    n_boot : int, default 4000
        Number of bootstrap resamples (4,000 in Besiroglu et al.).
    seed : int, numpy.random.Generator or numpy.random.RandomState, default 0
        Source of the resample indices.  An int or ``Generator`` draws all
        indices at once with ``Generator.integers``; a legacy ``RandomState``
        is consumed as the reference code did (one ``choice`` per resample),
        so ``numpy.random.RandomState(42)`` reproduces its resamples.
    delta : float, default 1e-3
        Huber threshold on the log-loss residual.
    start : HuberFit or array_like, optional
        Starting point ``(a, b, e, alpha, beta)`` of every refit.  ``None``
        (default) first runs :func:`huber_fit` on the full data with the
        default 4,500-start grid and starts from its optimum; pass a
        precomputed :class:`HuberFit` to skip that.  The reference code
        started from Hoffmann et al.'s estimates,
        :data:`HOFFMANN_2022_START`.
    method : str, default "L-BFGS-B"
        scipy.optimize.minimize method of the refits (the reference used
        ``"BFGS"``).
    options : mapping, optional
        Options for scipy.optimize.minimize.  ``None`` (default) means
        :data:`BOOTSTRAP_OPTIONS` (tight tolerances); pass ``{}`` for scipy's
        defaults.
    n_jobs : int, default 1
        Worker processes (``-1``: all cores, "spawn" start method); results
        do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per resample with columns ``E, A, B, alpha, beta, a_opt``
        (``a_opt = beta / (alpha + beta)``).  ``df.attrs`` records the start,
        method, ``n_failed`` (refits scipy flagged as unsuccessful; they are
        kept, as in the reference) and the resample ``indices``.

    Notes
    -----
    Deterministic for a given integer ``seed`` (and independent of
    ``n_jobs``).  A single local refit per resample is the reference
    procedure; it assumes the resample optimum lies in the basin of
    ``start``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> N = 10 ** rng.uniform(7, 10, 60)
    >>> D = 10 ** rng.uniform(9, 11.5, 60)
    >>> L = (1.7 + 400 / N**0.34 + 410 / D**0.28) * np.exp(rng.normal(0, 0.01, 60))
    >>> fit = huber_fit(N, D, L, grid={"a": [0.0, 10.0], "b": [0.0, 10.0], "e": [0.0, 0.5]})
    >>> boot = bootstrap(N, D, L, n_boot=20, seed=0, start=fit)
    >>> boot.shape, list(boot.columns)
    ((20, 6), ['E', 'A', 'B', 'alpha', 'beta', 'a_opt'])
    """
    x, y, t = _prepare(N, D, loss)
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    if start is None:
        start = huber_fit(N, D, loss, delta=delta, n_jobs=n_jobs)
    theta0 = start.theta if isinstance(start, HuberFit) else np.asarray(start, dtype=float).ravel()
    if theta0.shape != (5,):
        raise ValueError("start must be a HuberFit or a vector (a, b, e, alpha, beta)")
    idx = _resample_indices(x.size, int(n_boot), seed)
    opts = dict(BOOTSTRAP_OPTIONS if options is None else options)

    workers = _n_workers(n_jobs)
    if workers == 1 or n_boot < 2 * workers:
        thetas, _, ok = _boot_chunk(idx, theta0, x, y, t, float(delta), method, opts)
    else:
        blocks = [b for b in np.array_split(idx, workers * 4) if len(b)]
        args = (theta0, x, y, t, float(delta), method, opts)
        with _executor(workers) as ex:
            parts = list(ex.map(_boot_chunk, blocks, *([a] * len(blocks) for a in args)))
        thetas = np.concatenate([p[0] for p in parts])
        ok = np.concatenate([p[2] for p in parts])

    a, b, e, alpha, beta = thetas.T
    with np.errstate(over="ignore", invalid="ignore"):
        df = pd.DataFrame(
            {
                "E": np.exp(e),
                "A": np.exp(a),
                "B": np.exp(b),
                "alpha": alpha,
                "beta": beta,
                "a_opt": beta / (alpha + beta),
            }
        )
    df.index.name = "resample"
    df.attrs.update(
        start=tuple(float(v) for v in theta0),
        method=method,
        delta=float(delta),
        n_failed=int((~ok).sum()),
        indices=idx,
    )
    return df


def bootstrap_intervals(df: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Percentile intervals of bootstrap refits.

    Parameters
    ----------
    df : pandas.DataFrame
        Output of :func:`bootstrap` (any numeric columns are summarised).
    level : float, default 0.95
        Central coverage of the intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter, with columns ``lower`` and ``upper`` (the
        ``(1 - level)/2`` and ``(1 + level)/2`` percentiles, numpy's default
        linear interpolation, as in the reference), ``median`` and ``se`` (the
        bootstrap standard deviation, ``ddof=1``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"alpha": np.linspace(0.30, 0.40, 101)})
    >>> bootstrap_intervals(df, level=0.9).round(3)
           lower  upper  median     se
    alpha  0.305  0.395    0.35  0.029
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    num = df.select_dtypes(include=[np.number])
    q = np.array([(1 - level) / 2, (1 + level) / 2, 0.5]) * 100
    rows = {}
    for col in num.columns:
        v = num[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        lo, hi, med = np.percentile(v, q) if v.size else (np.nan,) * 3
        se = float(np.std(v, ddof=1)) if v.size > 1 else np.nan
        rows[col] = {"lower": lo, "upper": hi, "median": med, "se": se}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper", "median", "se"])
    out.attrs["level"] = level
    return out
