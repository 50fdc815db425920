"""MCMC convergence statistics in NumPy: rank-normalised split R-hat, bulk / tail ESS, MCSE, E-BFMI.

The algorithms of Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC", *Bayesian
Analysis* 16(2), written as ArviZ (``arviz_stats``) writes them, so the numbers are ArviZ's
(``tests/test_convergence.py`` checks them against ``arviz.rhat`` / ``arviz.ess`` /
``arviz.summary`` to 1e-10).  Why a copy: importing ArviZ's statistics imports SciPy's
``stats`` and Matplotlib (about 1.5 s on an idle machine, more on a loaded one), which a
command-line fit pays every time for seven numbers.  The only SciPy-like pieces needed, average
ranks and the normal quantile function, are a few lines of NumPy here (the quantile function is
Wichura's AS 241, accurate to about 1e-16, the algorithm of :class:`statistics.NormalDist`).

Arrays are ``(chain, draw)`` for one scalar; :func:`summary_table` takes an ``xarray.Dataset``
of posterior draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["bfmi", "ess", "mcse_mean", "mcse_sd", "rhat", "summary_table"]


# --------------------------------------------------------------------------- numerics
def _normal_quantile(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile function (Wichura 1988, AS 241 PPND16), vectorised."""
    p = np.asarray(p, dtype=float)
    q = p - 0.5
    out = np.empty_like(p)
    central = np.abs(q) <= 0.425
    if central.any():
        qc = q[central]
        r = 0.180625 - qc * qc
        num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                    + 67265.770927008700853) * r + 45921.953931549871457) * r
                  + 13731.693765509461125) * r + 1971.5909503065514427) * r
                + 133.14166789178437745) * r + 3.387132872796366608)
        den = (((((((5226.495278852545925 * r + 28729.085735721942674) * r
                    + 39307.89580009271061) * r + 21213.794301586595867) * r
                  + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1.0)
        out[central] = qc * num / den
    tail = ~central
    if tail.any():
        qt = q[tail]
        pt = p[tail]
        r = np.where(qt < 0, pt, 1.0 - pt)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.sqrt(-np.log(r))
        near = r <= 5.0
        x = np.empty_like(r)
        rn = r[near] - 1.6
        x[near] = ((((((((7.7454501427834140764e-4 * rn + 0.0227238449892691845833) * rn
                         + 0.24178072517745061177) * rn + 1.27045825245236838258) * rn
                       + 3.64784832476320460504) * rn + 5.7694972214606914055) * rn
                     + 4.6303378461565452959) * rn + 1.42343711074968357734)
                   / (((((((1.05075007164441684324e-9 * rn + 5.475938084995344946e-4) * rn
                           + 0.0151986665636164571966) * rn + 0.14810397642748007459) * rn
                         + 0.68976733498510000455) * rn + 1.6763848301838038494) * rn
                       + 2.05319162663775882187) * rn + 1.0))
        rf = r[~near] - 5.0
        x[~near] = ((((((((2.01033439929228813265e-7 * rf + 2.71155556874348757815e-5) * rf
                          + 0.0012426609473880784386) * rf + 0.026532189526576123093) * rf
                        + 0.29656057182850489123) * rf + 1.7848265399172913358) * rf
                      + 5.4637849111641143699) * rf + 6.6579046435011037772)
                    / (((((((2.04426310338993978564e-15 * rf + 1.4215117583164458887e-7) * rf
                            + 1.8463183175100546818e-5) * rf + 7.868691311456132591e-4) * rf
                          + 0.0148753612908506148525) * rf + 0.13692988092273580531) * rf
                        + 0.59983220655588793769) * rf + 1.0))
        out[tail] = np.where(qt < 0, -x, x)
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a flat array, ties given their average rank (``scipy.stats.rankdata``)."""
    sorter = np.argsort(x, kind="quicksort")
    inv = np.empty(sorter.size, dtype=np.intp)
    inv[sorter] = np.arange(sorter.size, dtype=np.intp)
    xs = x[sorter]
    obs = np.r_[True, xs[1:] != xs[:-1]]
    dense = obs.cumsum()[inv]
    count = np.r_[np.nonzero(obs)[0], len(obs)]
    return 0.5 * (count[dense] + count[dense - 1] + 1)


def _z_scale(a: np.ndarray) -> np.ndarray:
    ranks = _average_ranks(a.ravel())
    return _normal_quantile((ranks - 3 / 8) / (ranks.size - 2 * 3 / 8 + 1)).reshape(a.shape)


def _split(a: np.ndarray) -> np.ndarray:
    half = a.shape[1] // 2
    return np.vstack((a[:, :half], a[:, -half:]))


def _next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (``scipy.fftpack.next_fast_len``)."""
    best = 2 ** int(np.ceil(np.log2(max(n, 1))))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _autocov(a: np.ndarray) -> np.ndarray:
    n = a.shape[1]
    m = _next_fast_len(2 * n)
    a = a - a.mean(axis=1, keepdims=True)
    f = np.fft.rfft(a, n=m, axis=1)
    f *= np.conjugate(f)
    return np.fft.irfft(f, n=m, axis=1)[:, :n] / n


def _invalid(a: np.ndarray, min_chains: int) -> bool:
    return bool(np.isnan(a).any()) or a.shape[1] < 4 or a.shape[0] < min_chains


def _rhat_basic(a: np.ndarray) -> float:
    n = a.shape[1]
    between = n * np.var(a.mean(axis=1), ddof=1)
    within = np.mean(np.var(a, axis=1, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):  # constant draws: NaN, as ArviZ
        return float(np.sqrt((between / within + n - 1) / n))


def _ess_basic(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    if np.max(a) - np.min(a) < np.finfo(float).resolution:
        return float(a.size)
    n_chain, n_draw = a.shape
    acov = _autocov(a)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(a.mean(axis=1), ddof=1)
    rho = np.zeros(n_draw)
    even = 1.0
    rho[0] = even
    odd = 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[1] = odd
    t = 1
    while t < n_draw - 3 and even + odd > 0.0:  # Geyer's initial positive sequence
        even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if even + odd >= 0:
            rho[t + 1] = even
            rho[t + 2] = odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:  # Geyer's initial monotone sequence
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    total = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1 / np.log10(total))
    return float(np.nan) if np.isnan(rho).any() else float(total / tau)


def _as_2d(draws: Any) -> np.ndarray:
    a = np.asarray(draws, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"draws must be (chain, draw) for one scalar; got shape {a.shape}")
    return a


# --------------------------------------------------------------------------- public
def rhat(draws: Any) -> float:
    """Rank-normalised split R-hat (the larger of bulk and folded), as ``arviz.rhat``.

    Parameters
    ----------
    draws : array-like, shape (chain, draw)

    Returns
    -------
    float
        NaN with fewer than 2 chains or 4 draws, or with NaN draws.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(rhat(rng.normal(size=(4, 500))), 3)
    1.001
    """
    a = _as_2d(draws)
    if _invalid(a, 2):
        return float("nan")
    s = _split(a)
    bulk = _rhat_basic(_z_scale(s))
    tail = _rhat_basic(_z_scale(np.abs(s - np.median(s))))
    return max(bulk, tail)


def ess(draws: Any, method: str = "bulk", prob: float | None = None) -> float:
    """Effective sample size, as ``arviz.ess``.

    Parameters
    ----------
    draws : array-like, shape (chain, draw)
    method : {"bulk", "tail", "mean"}
        ``bulk``: of rank-normalised split chains; ``tail``: the smaller of the quantile ESS at
        ``prob`` and ``1 - prob``; ``mean``: of the split chains themselves.
    prob : float, optional
        For ``method="tail"``: the quantiles ``prob`` and ``1 - prob``.  The default is
        ArviZ's: ``arviz_base.rcParams["stats.ci_prob"]`` (0.89, so the 11% and 89%
        quantiles; Vehtari et al. use 5% and 95%), so that the number is the one
        ``arviz.summary`` prints.

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 3500 < ess(rng.normal(size=(4, 1000))) < 4500
    True
    """
    a = _as_2d(draws)
    if _invalid(a, 1):
        return float("nan")
    if method == "bulk":
        return _ess_basic(_z_scale(_split(a)))
    if method == "mean":
        return _ess_basic(_split(a))
    if method == "tail":
        if prob is None:
            from arviz_base import rcParams

            prob = float(rcParams["stats.ci_prob"])
        lo, hi = sorted((prob, 1 - prob))
        return min(_ess_basic(_split(a <= np.quantile(a, q))) for q in (lo, hi))
    raise ValueError(f"method must be 'bulk', 'tail' or 'mean', not {method!r}")


def mcse_mean(draws: Any) -> float:
    """Monte Carlo standard error of the posterior mean, as ``arviz.mcse(method="mean")``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 0.01 < mcse_mean(rng.normal(size=(4, 1000))) < 0.02
    True
    """
    a = _as_2d(draws)
    if _invalid(a, 1):
        return float("nan")
    return float(np.std(a, ddof=1) / np.sqrt(_ess_basic(_split(a))))


def mcse_sd(draws: Any) -> float:
    """Monte Carlo standard error of the posterior sd, as ``arviz.mcse(method="sd")``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> 0.005 < mcse_sd(rng.normal(size=(4, 1000))) < 0.02
    True
    """
    a = _as_2d(draws)
    if _invalid(a, 1):
        return float("nan")
    c = a - a.mean()
    n_eff = _ess_basic(_split(c ** 2))
    evar = (c ** 2).mean()
    varvar = ((c ** 4).mean() - evar ** 2) / n_eff
    with np.errstate(divide="ignore", invalid="ignore"):  # constant draws: NaN, as ArviZ
        return float(np.sqrt(varvar / evar / 4))


def bfmi(energy: Any) -> np.ndarray:
    """Estimated Bayesian fraction of missing information per chain, as ``arviz.bfmi``.

    Parameters
    ----------
    energy : array-like, shape (chain, draw)
        The sampler's Hamiltonian energy.

    Returns
    -------
    numpy.ndarray
        One E-BFMI per chain (below 0.3 signals poorly explored energy).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bfmi(rng.normal(size=(2, 1000))).round(1)
    array([2., 2.])
    """
    e = _as_2d(energy)
    return np.square(np.diff(e, axis=1)).mean(axis=1) / np.var(e, axis=1, ddof=1)


def _scalars(ds: Any):
    """(label, (chain, draw) array) for each scalar in a posterior Dataset, ArviZ's labels."""
    for name, da in ds.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        da = da.transpose("chain", "draw", *extra)
        a = np.asarray(da)
        if not extra:
            yield name, a
            continue
        flat = a.reshape(a.shape[0], a.shape[1], -1)
        index = pd.MultiIndex.from_product([da.coords[d].values for d in extra]) \
            if len(extra) > 1 else da.coords[extra[0]].values
        for k, label in enumerate(index):
            label = ", ".join(str(v) for v in label) if isinstance(label, tuple) else str(label)
            yield f"{name}[{label}]", flat[:, :, k]


def summary_table(ds: Any, *, ci: float = 0.95) -> pd.DataFrame:
    """Mean, sd, equal-tailed interval, bulk / tail ESS, R-hat and MCSE of each scalar.

    The columns and numbers of ``arviz.summary(ds, ci_prob=ci, ci_kind="eti",
    round_to="none")``: ``mean``, ``sd``, ``eti{ci}_lb``, ``eti{ci}_ub``, ``ess_bulk``,
    ``ess_tail``, ``r_hat``, ``mcse_mean``, ``mcse_sd``; one row per scalar, labelled
    ``name`` or ``name[coord]``.

    Parameters
    ----------
    ds : xarray.Dataset
        Posterior draws with dims ``chain`` and ``draw``.
    ci : float
        Interval probability.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> ds = xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(4, 500)))})
    >>> list(summary_table(ds).columns)  # doctest: +NORMALIZE_WHITESPACE
    ['mean', 'sd', 'eti95_lb', 'eti95_ub', 'ess_bulk', 'ess_tail', 'r_hat', 'mcse_mean',
     'mcse_sd']
    """
    tag = f"{round(100 * ci):d}" if round(100 * ci) == 100 * ci else f"{100 * ci:g}"
    rows = {}
    for label, a in _scalars(ds):
        lo, hi = np.quantile(a, [(1 - ci) / 2, 1 - (1 - ci) / 2])
        rows[label] = {
            "mean": float(a.mean()), "sd": float(a.std(ddof=1)),
            f"eti{tag}_lb": float(lo), f"eti{tag}_ub": float(hi),
            "ess_bulk": ess(a, "bulk"), "ess_tail": ess(a, "tail"),
            "r_hat": rhat(a) if a.shape[0] > 1 else float("nan"),
            "mcse_mean": mcse_mean(a), "mcse_sd": mcse_sd(a),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
