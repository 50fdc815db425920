"""Calibrated extrapolation: a discrepancy term that grows beyond the fitted compute range.

Errors of a scaling law far beyond its data are systematic (the functional form is a little wrong,
the training recipe drifts), not run-to-run noise, so a posterior fitted inside the data is
over-confident outside it.  The discrepancy term adds, on the log-loss scale, a zero-mean normal
deviation whose standard deviation grows linearly with the distance beyond the largest fitted
run::

    log L_new = law(x; theta) + discrepancy + noise,
    discrepancy ~ Normal(0, (kappa * d)^2),   d = max(0, log10(C / C_max_train))

so that a new run's spread is ``sqrt(sigma^2 + (kappa d)^2)`` (with Student-t noise, the
convolution).  Inside the data (``d = 0``) nothing changes.  ``kappa`` (extra log-loss standard
deviation per order of magnitude of extrapolation) cannot be learned from a fit to the data,
because no run lies beyond the data; :func:`learn_discrepancy` learns it from leave-future-out
splits *inside* the user's runs: refit below inner cutoffs, look at how far the held-out larger
runs fall from their predictions relative to the predictive spread, and infer ``kappa`` from those
standardised errors (pooled across groups if asked).

The term is switchable: pass ``discrepancy=`` to :meth:`ScalingFit.predict
<bayescale.ScalingFit.predict>`, or ``discrepancy=True`` to :func:`bayescale.backtest`, which
learns ``kappa`` inside every training split (nested leave-future-out) and scores both variants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Discrepancy",
    "estimate_kappa",
    "extrapolation_distance",
    "learn_discrepancy",
    "log_mu_draws",
]


def extrapolation_distance(values: Any, train_max: float) -> np.ndarray:
    """Orders of magnitude beyond the largest training value, ``max(0, log10(v / train_max))``.

    Examples
    --------
    >>> from bayescale.inference.extrapolation import extrapolation_distance
    >>> extrapolation_distance([1e20, 1e21, 1e23], 1e21).tolist()
    [0.0, 0.0, 2.0]
    """
    v = np.asarray(values, dtype=float)
    return np.maximum(0.0, np.log10(v) - np.log10(float(train_max)))


@dataclass(frozen=True)
class Discrepancy:
    """The extrapolation discrepancy term: draws of ``kappa`` and the edge of the training data.

    Attributes
    ----------
    kappa : numpy.ndarray
        Draws of the extra log-loss standard deviation per order of magnitude beyond
        ``train_max``.
    train_max : float
        Largest value of ``by`` among the runs of the fit it is applied to.
    by : {"C", "N"}
        The scale along which distance is measured (compute by default).
    residuals : pandas.DataFrame
        The leave-future-out residuals it was learned from (one row per held-out run per inner
        split: ``split``, ``group``, ``distance``, ``z`` = residual / predictive sd, ...).
    prior_scale : float
        Scale of the half-normal prior on ``kappa``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.inference.extrapolation import Discrepancy
    >>> disc = Discrepancy(kappa=np.full(100, 0.02), train_max=1e21)
    >>> disc.sd([1e20, 1e22]).mean(axis=0).round(3).tolist()
    [0.0, 0.02]
    """

    kappa: np.ndarray
    train_max: float
    by: str = "C"
    residuals: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    prior_scale: float = 0.05

    def __post_init__(self) -> None:
        k = np.asarray(self.kappa, dtype=float).ravel()
        if k.size == 0 or not np.all(np.isfinite(k)) or np.any(k < 0):
            raise ValueError("kappa must be a non-empty array of finite, non-negative draws")
        if not (np.isfinite(self.train_max) and self.train_max > 0):
            raise ValueError(f"train_max must be a positive number, not {self.train_max!r}")
        if self.by not in ("C", "N"):
            raise ValueError(f"by must be 'C' or 'N', not {self.by!r}")
        object.__setattr__(self, "kappa", k)

    def at(self, train_max: float) -> Discrepancy:
        """The same ``kappa`` measured from another edge of the data (a fit on other runs).

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.inference.extrapolation import Discrepancy
        >>> Discrepancy(np.ones(3), 1e20).at(1e21).train_max
        1e+21
        """
        return replace(self, train_max=float(train_max))

    def sd(self, values: Any, n_draws: int | None = None) -> np.ndarray:
        """Discrepancy standard deviations, shape ``(n_draws, n_points)``.

        ``kappa`` draws are recycled (or thinned) to ``n_draws`` rows.
        """
        d = extrapolation_distance(np.atleast_1d(values), self.train_max)
        k = self.kappa if n_draws is None else np.resize(self.kappa, n_draws)
        return k[:, None] * d[None, :]

    def perturb(self, log_draws: np.ndarray, values: Any, rng: np.random.Generator) -> np.ndarray:
        """Add discrepancy draws to log-scale predictive draws of shape ``(S, P)``.

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.inference.extrapolation import Discrepancy
        >>> disc = Discrepancy(np.full(10, 0.1), 1.0)
        >>> out = disc.perturb(np.zeros((10, 2)), [1.0, 100.0], np.random.default_rng(0))
        >>> bool(np.all(out[:, 0] == 0)), bool(np.any(out[:, 1] != 0))
        (True, True)
        """
        sd = self.sd(values, n_draws=log_draws.shape[0])
        return log_draws + sd * rng.standard_normal(log_draws.shape)

    @property
    def kappa_median(self) -> float:
        """Posterior median of ``kappa``."""
        return float(np.median(self.kappa))

    def __str__(self) -> str:
        lo, hi = np.quantile(self.kappa, [0.05, 0.95])
        n = len(self.residuals)
        splits = self.residuals["split"].nunique() if n else 0
        return (
            f"Extrapolation discrepancy: kappa = {self.kappa_median:.3g} [{lo:.3g}, {hi:.3g}] "
            f"(90%) extra log-loss sd per order of magnitude of {self.by} beyond "
            f"{self.train_max:.3g}; learned from {n} held-out runs in {splits} inner "
            f"leave-future-out splits"
        )


def estimate_kappa(
    residual: Any,
    sd: Any,
    distance: Any,
    *,
    weight: Any = None,
    prior_scale: float = 0.05,
    n_draws: int = 4000,
    seed: int | None = 0,
) -> np.ndarray:
    """Posterior draws of ``kappa`` from leave-future-out residuals (1-D grid posterior).

    Model: ``residual_i ~ Normal(0, sd_i^2 + (kappa distance_i)^2)`` with a half-normal prior of
    scale ``prior_scale`` on ``kappa``; ``weight_i`` scales each run's log likelihood (a power
    likelihood), e.g. ``1 / n`` for the ``n`` runs of one split so that each split counts once.

    Parameters
    ----------
    residual : array-like
        Observed minus predicted (median) log loss of held-out runs.
    sd : array-like
        Predictive standard deviation of their log loss (without discrepancy).
    distance : array-like
        Orders of magnitude beyond the training data of the fit that predicted them.
    weight : array-like, optional
        Log-likelihood weights (default 1).
    prior_scale : float
        Half-normal prior scale of ``kappa`` (log-loss sd per order of magnitude).
    n_draws : int
        Number of draws returned.
    seed : int or None
        Seed of the inverse-CDF draws.

    Returns
    -------
    numpy.ndarray
        ``n_draws`` draws of ``kappa``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.inference.extrapolation import estimate_kappa
    >>> rng = np.random.default_rng(0)
    >>> d = rng.uniform(0.2, 1.0, 400)
    >>> r = rng.normal(0, np.sqrt(0.01**2 + (0.03 * d) ** 2))
    >>> k = estimate_kappa(r, np.full(400, 0.01), d, prior_scale=0.1)
    >>> bool(0.02 < np.median(k) < 0.04)
    True
    """
    r = np.asarray(residual, dtype=float).ravel()
    s = np.asarray(sd, dtype=float).ravel()
    d = np.asarray(distance, dtype=float).ravel()
    w = np.ones_like(r) if weight is None else np.asarray(weight, dtype=float).ravel()
    if not (r.shape == s.shape == d.shape == w.shape):
        raise ValueError("residual, sd, distance and weight must have the same length")
    if prior_scale <= 0:
        raise ValueError(f"prior_scale must be > 0, not {prior_scale!r}")
    ok = np.isfinite(r) & np.isfinite(s) & np.isfinite(d) & (s > 0) & (d > 0)
    r, s, d, w = r[ok], s[ok], d[ok], w[ok]
    # grid wide enough for the prior and for the largest standardised excess
    top = 8.0 * prior_scale
    if r.size:
        top = max(top, 3.0 * float(np.max(np.abs(r) / d)))
    grid = np.linspace(0.0, top, 4001)
    logp = -0.5 * (grid / prior_scale) ** 2
    if r.size:
        var = s[None, :] ** 2 + (grid[:, None] * d[None, :]) ** 2
        logp = logp + np.sum(w * (-0.5 * np.log(var) - 0.5 * r**2 / var), axis=1)
    p = np.exp(logp - logp.max())
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    rng = np.random.default_rng(seed)
    u = (np.arange(n_draws) + rng.uniform(size=n_draws)) / n_draws  # stratified
    return np.interp(u, cdf, grid)


def log_mu_draws(fit, table: pd.DataFrame, rng) -> np.ndarray:
    """Posterior draws of the law's log prediction (mean law) at each run of ``table``.

    Returns an array of shape ``(draws, runs)``.  For hierarchical fits each run uses its group's
    parameters, or a new group's (drawn from the population) if the fit has not seen the group.

    Examples
    --------
    >>> mu = log_mu_draws(fit, runs, np.random.default_rng(0))   # doctest: +SKIP
    """
    law = fit.law
    n = len(table)
    inputs = {k: table[k].to_numpy(dtype=float) for k in law.inputs}
    n_draws = fit.tree["posterior"].sizes["chain"] * fit.tree["posterior"].sizes["draw"]
    out = np.empty((n_draws, n))
    if fit.groups:
        from bayescale.modeling.model import group_labels

        labels = group_labels(table, fit.spec.groups).to_numpy()
    else:
        labels = np.array(["all"] * n)
    for lab in dict.fromkeys(labels):
        idx = np.flatnonzero(labels == lab)
        group = None if not fit.groups else (lab if lab in fit.groups else "new")
        params = fit._params_for_group(group, rng)
        p2 = {k: np.asarray(v).reshape(-1, 1) for k, v in params.items()}
        sub = {k: v[idx][None, :] for k, v in inputs.items()}
        out[:, idx] = np.broadcast_to(law.log_loss(p2, sub, fit.reference), (n_draws, len(idx)))
    return out


def _split_residuals(train, test, *, law_spec, fit_kwargs, by, split_name, group, seed):
    """Fit below an inner cutoff, return standardised errors of the held-out larger runs."""
    from bayescale.inference.fit import fit as _fit

    result = _fit(train, spec=law_spec, seed=seed, **fit_kwargs)
    law = result.law
    rng = np.random.default_rng(seed)
    log_draws = log_mu_draws(result, test, rng)
    noise = result.draws(kind="noise")
    shape = log_draws.shape
    eps = (rng.standard_t(noise["nu"].reshape(-1, 1), size=shape) if "nu" in noise
           else rng.standard_normal(shape))
    log_draws = log_draws + noise["sigma"].reshape(-1, 1) * eps
    med = np.median(log_draws, axis=0)
    q16, q84 = np.quantile(log_draws, [0.16, 0.84], axis=0)
    y = np.log(test[law.target].to_numpy(dtype=float))
    train_max = float(train[by].max())
    return pd.DataFrame({
        "split": split_name,
        "group": group,
        "run": test.index,
        by: test[by].to_numpy(dtype=float),
        "train_max": train_max,
        "distance": extrapolation_distance(test[by], train_max),
        "residual": y - med,
        "sd": (q84 - q16) / 2.0,
        "divergences": result.diagnostics.divergences,
    })


def learn_discrepancy(
    runs: pd.DataFrame | str,
    law: str | None = None,
    *,
    spec: Any = None,
    by: str = "C",
    splits: Sequence[float] = (0.5, 1.0),
    groups: str | Sequence[str] | None = None,
    prior_scale: float = 0.05,
    weighting: str = "split",
    min_train: int | None = None,
    n_draws: int = 4000,
    seed: int = 0,
    columns: Mapping[str, str] | None = None,
    flops: float = 6.0,
    draws: int = 400,
    tune: int = 400,
    chains: int = 4,
    progressbar: bool = False,
    **fit_kwargs: Any,
) -> Discrepancy:
    """Learn the extrapolation discrepancy ``kappa`` from leave-future-out splits of the runs.

    For every inner split ``s`` in ``splits`` (orders of magnitude), the law is refitted on the
    runs with ``by <= max(by) / 10**s`` and predicts the larger runs; their errors, relative to
    the predictive spread, at their distance beyond the inner fit's data, inform ``kappa`` (see
    :func:`estimate_kappa`).  With ``groups``, the splits are made within each group (e.g. each
    training set) and the errors pooled into one ``kappa``.

    Parameters
    ----------
    runs : DataFrame or path
        The runs the final fit uses (the inner splits never look beyond them).
    law, spec
        The law (name) or a full spec, as for :func:`bayescale.fit`.
    by : {"C", "N"}
        Scale along which extrapolation distance is measured.
    splits : sequence of float
        Inner cutoffs, in orders of magnitude below the largest run.
    groups : str or sequence of str, optional
        Grouping column(s) within which to split; errors are pooled across groups.
    prior_scale : float
        Half-normal prior scale on ``kappa`` (log-loss sd per order of magnitude).
    weighting : {"split", "run"}
        ``"split"`` (default): the held-out runs of one split share one unit of likelihood
        weight, because their errors are strongly correlated (a systematic miss, not independent
        noise); ``"run"``: every held-out run counts fully (over-confident about ``kappa``).
    min_train : int, optional
        Fewest runs an inner fit may use (default: ``3 x`` the number of law parameters + 2).
    n_draws, seed
        Number of ``kappa`` draws and the seed of fits and draws.
    columns, flops
        As for :func:`bayescale.fit`.
    draws, tune, chains, progressbar, **fit_kwargs
        Sampling settings of the inner fits.

    Returns
    -------
    Discrepancy
        ``kappa`` draws, ``train_max`` = the largest ``by`` in ``runs``, and the residual table.

    Raises
    ------
    ValueError
        If no inner split has enough runs on both sides.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla", drop_outliers=True)
    >>> disc = bs.learn_discrepancy(runs, "chinchilla")          # doctest: +SKIP
    >>> print(disc)                                             # doctest: +SKIP
    """
    from bayescale.inference.fit import _prepare, resolve_spec

    if by not in ("C", "N"):
        raise ValueError(f"by must be 'C' or 'N', not {by!r}")
    if weighting not in ("split", "run"):
        raise ValueError(f"weighting must be 'split' or 'run', not {weighting!r}")
    s = resolve_spec(law, spec)
    table = _prepare(runs, s, columns, flops)
    if by not in table.columns:
        raise ValueError(f"the runs have no column {by!r} to measure extrapolation along")
    n_min = min_train if min_train is not None else 3 * len(s.law_obj.params) + 2
    kw = dict(draws=draws, tune=tune, chains=chains, progressbar=progressbar, prior_draws=0,
              warn=False, **fit_kwargs)
    gcols = [groups] if isinstance(groups, str) else list(groups or [])
    parts = []
    grouped = table.groupby(gcols, sort=True) if gcols else [("all", table)]
    for label, sub in grouped:
        label = "/".join(map(str, label)) if isinstance(label, tuple) else str(label)
        top = float(sub[by].max())
        for i, dist in enumerate(sorted(float(x) for x in splits)):
            if dist <= 0:
                raise ValueError(f"splits must be positive orders of magnitude, not {dist!r}")
            cut = top / 10.0**dist
            train, test = sub[sub[by] <= cut], sub[sub[by] > cut]
            if len(train) < n_min or len(test) == 0:
                continue
            parts.append(_split_residuals(
                train, test, law_spec=s, fit_kwargs=kw, by=by, split_name=f"{label}:{dist:g}",
                group=label, seed=seed + i))
    if not parts:
        raise ValueError(
            f"no inner split of {splits} orders of magnitude leaves >= {n_min} runs to fit and "
            "runs to predict; use smaller splits or more runs"
        )
    res = pd.concat(parts, ignore_index=True)
    if weighting == "split":
        weight = 1.0 / res.groupby("split")["residual"].transform("size").to_numpy(dtype=float)
    else:
        weight = np.ones(len(res))
    res["z"] = res["residual"] / res["sd"]
    kappa = estimate_kappa(res["residual"], res["sd"], res["distance"], weight=weight,
                           prior_scale=prior_scale, n_draws=n_draws, seed=seed)
    return Discrepancy(kappa=kappa, train_max=float(table[by].max()), by=by, residuals=res,
                       prior_scale=prior_scale)
