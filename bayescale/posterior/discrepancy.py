"""Calibrated extrapolation: a discrepancy term for how wrong a scaling law is beyond its data.

Errors of a scaling law far beyond its data are systematic (the functional form is a little wrong,
the training recipe drifts), not run-to-run noise, so a posterior fitted inside the data is
over-confident outside it.  The discrepancy term adds, on the log-loss scale, one deviation per
posterior draw of the curve, shared by every point of a forecast, that grows with the distance
from the data::

    log L_new = law(x; theta) + delta(x) + noise,
    delta(x) = (bias + kappa_C t) d_C(x) + kappa_T u d_T(x),    t, u ~ StudentT(nu)

with ``d_C`` the decades of compute beyond the largest fitted run and ``d_T`` the decades of
tokens per parameter outside the fitted range (both 0 inside the data, where nothing changes).
Two points of one forecast at the same distance move together (which matters when a decision
compares two sizes), and the tails are heavier than normal.  ``bias`` is the mean miss per
decade, the only part that moves a forecast's median.  Whether a study has one is itself
uncertain: across published studies laws fitted to small runs over-predicted the loss of larger
ones on average, but not in every study, and a population mean miss moves the medians of studies
without one the wrong way.  So the shipped prior averages two models with equal prior weight:
one with a mean miss (``fit_discrepancy_prior(...)``) and one centred on zero that keeps the
law's median and puts systematic misses in ``kappa`` (``location=False``).  A study's own
leave-future-out splits (:func:`update_discrepancy`) weigh the two by how well each predicted
them (Bayesian model averaging; ``benchmarks/calibration.py`` scores the average and each
model alone).

``kappa`` cannot be learned from one fit (no run lies beyond its data).  The default is an
**empirical prior** learned across published scaling studies (:func:`empirical_prior`, shipped
in ``bayescale/data/bundled/discrepancy_prior`` with its provenance): nested leave-future-out
on every real dataset of the project (``benchmarks/calibration.py``), the standardised errors of
the held-out larger runs modelled hierarchically across studies
(:func:`~bayescale.evaluation.discrepancy.fit_discrepancy_prior`), a new study drawing its
``kappa`` from the population.
:func:`~bayescale.evaluation.discrepancy.learn_discrepancy` updates that prior with the user's
own leave-future-out residuals (:func:`update_discrepancy`).  In both, a held-out run's error is
the deviation plus the fit's own predictive error, split into the law's uncertainty, shared by
the runs of one forecast (:func:`law_terms`), and run-to-run noise: counted as independent per
run, a miss the law's own uncertainty allows would be read as an extrapolation error and
counted twice, since a forecast's posterior draws already hold it.

The term is on by default wherever the package predicts (:meth:`ScalingFit.predict
<bayescale.ScalingFit.predict>`; ``discrepancy=False`` turns it off, a learned
:class:`Discrepancy` replaces it), and every predicted row carries its distance from the data
(:func:`forecast_distance`).  ``discrepancy=True`` in :func:`bayescale.backtest` learns it inside
every training split (nested leave-future-out) and scores both variants.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Discrepancy",
    "DiscrepancyPrior",
    "FrozenDiscrepancy",
    "check_residuals",
    "data_range",
    "discrepancy_from_dataset",
    "discrepancy_to_dataset",
    "empirical_prior",
    "estimate_kappa",
    "extrapolation_distance",
    "forecast_distance",
    "law_terms",
    "log_mu_draws",
    "no_mean_beyond",
    "resample_draws",
    "resolve_discrepancy",
    "tpp_distance",
    "update_discrepancy",
]


def tpp_distance(tpp: Any, tpp_min: float, tpp_max: float) -> np.ndarray:
    """Decades of tokens per parameter outside the observed range ``[tpp_min, tpp_max]`` (0 inside).

    Examples
    --------
    >>> from bayescale.posterior.discrepancy import tpp_distance
    >>> tpp_distance([2.0, 20.0, 2000.0], 10.0, 200.0).round(3).tolist()
    [0.699, 0.0, 1.0]
    """
    t = np.log10(np.asarray(tpp, dtype=float))
    lo, hi = np.log10(float(tpp_min)), np.log10(float(tpp_max))
    return np.maximum(0.0, t - hi) + np.maximum(0.0, lo - t)


def data_range(runs: pd.DataFrame, by: str = "C") -> dict[str, float]:
    """The edge of the data a forecast is measured from: the largest ``by`` and the range of
    tokens per parameter ``D / N`` (NaN where the runs have no ``N`` and ``D``).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.posterior.discrepancy import data_range
    >>> runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 4e10], "C": [1.2e18, 2.4e20]})
    >>> {k: float(f"{v:.3g}") for k, v in data_range(runs).items()}
    {'train_max': 2.4e+20, 'tpp_min': 20.0, 'tpp_max': 40.0}
    """
    out = {"train_max": float(np.max(runs[by].to_numpy(dtype=float)))}
    if {"N", "D"} <= set(runs.columns):
        tpp = runs["D"].to_numpy(dtype=float) / runs["N"].to_numpy(dtype=float)
        out |= {"tpp_min": float(np.min(tpp)), "tpp_max": float(np.max(tpp))}
    else:
        out |= {"tpp_min": np.nan, "tpp_max": np.nan}
    return out


def extrapolation_distance(values: Any, train_max: float) -> np.ndarray:
    """Orders of magnitude beyond the largest training value, ``max(0, log10(v / train_max))``.

    Examples
    --------
    >>> from bayescale.posterior.discrepancy import extrapolation_distance
    >>> extrapolation_distance([1e20, 1e21, 1e23], 1e21).tolist()
    [0.0, 0.0, 2.0]
    """
    v = np.asarray(values, dtype=float)
    return np.maximum(0.0, np.log10(v) - np.log10(float(train_max)))


@dataclass(frozen=True)
class Discrepancy:
    """The extrapolation discrepancy term: how far a law's *function* may be off beyond its data.

    On the log-loss scale a forecast gets, per posterior draw ``s``, one deviation shared by every
    point of the forecast::

        delta_s(x) = (bias_s + kappa_s * t_s) * d_C(x) + kappa_tpp_s * d_T(x) * u_s,
        t_s, u_s ~ StudentT(nu_s)   (independent; Normal if nu is infinite)

    where ``d_C`` is the number of decades of ``by`` (compute) beyond the largest training run
    and ``d_T`` the number of decades of tokens per parameter outside the training range (0
    inside).  Two points at the same distance on one draw share the same deviation, points at
    different compute distance get deviations in proportion to it (a systematic miss of the
    curve, not independent noise per point), the tails are Student-t, and nothing changes
    inside the data.  Each draw's deviation per decade is bounded at ``log 2`` either way
    (:data:`SLOPE_CLIP`), about twice the largest miss measured, so that a mean (an expected loss, a
    CVaR) is not ruled by one draw of a heavy tail.  ``bias`` is the expected miss per decade
    (the empirical prior: 0 on the draws of its zero-location model, and on the others about
    -2% per decade: published laws fitted to small runs over-predicted the loss of larger
    ones).
    With ``shared=False`` the deviation is drawn independently per point from
    a normal (the term as shipped before the empirical prior).

    Attributes
    ----------
    kappa : numpy.ndarray
        Draws of the deviation scale (log loss) per decade of ``by`` beyond ``train_max``.
    train_max : float
        Largest value of ``by`` among the runs of the fit it is applied to.
    by : {"C", "N"}
        The scale along which distance is measured (compute by default).
    residuals : pandas.DataFrame
        The leave-future-out residuals it was learned from (one row per held-out run per inner
        split: ``split``, ``group``, ``distance``, ``d_T``, ``residual``, ``z``, ...).
    prior_scale : float
        Scale of the half-normal prior on ``kappa`` (``prior="half_normal"`` only).
    kappa_tpp : float or numpy.ndarray
        Deviation scale per decade of tokens per parameter outside ``tpp_range`` (draws paired
        with ``kappa``, or one value; 0 turns that part off).
    tpp_range : tuple of float, optional
        ``(min, max)`` tokens per parameter of the training runs; None: not measured.
    nu : float or numpy.ndarray
        Student-t degrees of freedom of the shared deviation (draws paired with ``kappa``, or
        one value); ``inf`` for a normal deviation.
    bias : float or numpy.ndarray
        Mean deviation of the log loss per decade of ``by`` beyond the data (draws paired with
        ``kappa``, or one value; negative: the law over-predicts the loss).
    shared : bool
        One deviation per draw along a forecast (default) or independent normal per point.
    source : str
        Where the draws came from (``"empirical prior"``, ``"empirical prior updated by 6
        held-out runs"``, ``"half-normal prior updated by ..."``).
    note : str
        Why the draws are what they are, when that is not the usual (e.g. a fit's default
        discrepancy that its runs could not update: which ``learn_discrepancy`` call would).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import Discrepancy
    >>> disc = Discrepancy(kappa=np.full(100, 0.02), train_max=1e21)
    >>> disc.sd([1e20, 1e22]).mean(axis=0).round(3).tolist()
    [0.0, 0.02]
    >>> dev = disc.deviation([1e22, 1e23], n_draws=100, rng=np.random.default_rng(0))
    >>> bool(np.allclose(dev[:, 1], 2 * dev[:, 0]))     # shared along the forecast
    True
    """

    kappa: np.ndarray
    train_max: float
    by: str = "C"
    residuals: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    prior_scale: float = 0.05
    kappa_tpp: Any = 0.0
    tpp_range: tuple[float, float] | None = None
    nu: Any = np.inf
    shared: bool = True
    source: str = "learned"
    bias: Any = 0.0
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        k = np.asarray(self.kappa, dtype=float).ravel()
        if k.size == 0 or not np.all(np.isfinite(k)) or np.any(k < 0):
            raise ValueError("kappa must be a non-empty array of finite, non-negative draws")
        if not (np.isfinite(self.train_max) and self.train_max > 0):
            raise ValueError(f"train_max must be a positive number, not {self.train_max!r}")
        if self.by not in ("C", "N"):
            raise ValueError(f"by must be 'C' or 'N', not {self.by!r}")
        kt = np.broadcast_to(np.asarray(self.kappa_tpp, dtype=float).ravel(), k.shape)
        if not np.all(np.isfinite(kt)) or np.any(kt < 0):
            raise ValueError("kappa_tpp must be finite and non-negative (one value or one per "
                             f"kappa draw, {k.size}); got {np.asarray(self.kappa_tpp)!r}")
        bias = np.broadcast_to(np.asarray(self.bias, dtype=float).ravel(), k.shape)
        if not np.all(np.isfinite(bias)):
            raise ValueError(f"bias must be finite (one value or one per kappa draw), not "
                             f"{self.bias!r}")
        nu = np.broadcast_to(np.asarray(self.nu, dtype=float).ravel(), k.shape)
        if np.any(np.isnan(nu)) or np.any(nu <= 0):
            raise ValueError(f"nu must be > 0 (np.inf for a normal deviation), not {self.nu!r}")
        if self.tpp_range is not None:
            lo, hi = (float(x) for x in self.tpp_range)
            if not (0 < lo <= hi < np.inf):
                raise ValueError(f"tpp_range must be (min, max) with 0 < min <= max, not "
                                 f"{self.tpp_range!r}")
            object.__setattr__(self, "tpp_range", (lo, hi))
        object.__setattr__(self, "kappa", k)
        object.__setattr__(self, "kappa_tpp", kt.copy())
        object.__setattr__(self, "nu", nu.copy())
        object.__setattr__(self, "bias", bias.copy())

    # ---------------------------------------------------------------- construction
    @classmethod
    def default(cls, runs: pd.DataFrame | None = None, *, by: str = "C", n_draws: int = 4000,
                seed: int = 0) -> Discrepancy:
        """The default term: a new study's draws from the shipped empirical prior.

        ``kappa``, ``kappa_tpp`` and ``nu`` are drawn from the population distribution learned
        across published scaling studies (:func:`empirical_prior`); ``runs`` (a runs table, or
        a fit's ``runs``) sets the edge of the data.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]})
        >>> disc = Discrepancy.default(runs)
        >>> disc.source, disc.train_max, disc.tpp_range
        ('empirical prior', 1.2e+20, (20.0, 20.0))
        """
        return empirical_prior().discrepancy(runs, by=by, n_draws=n_draws, seed=seed)

    def at(self, train_max: float) -> Discrepancy:
        """The same draws measured from another edge of the data (a fit on other runs).

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> Discrepancy(np.ones(3), 1e20).at(1e21).train_max
        1e+21
        """
        return replace(self, train_max=float(train_max))

    def for_runs(self, runs: pd.DataFrame) -> Discrepancy:
        """The same draws measured from the edge of ``runs`` (largest ``by``, range of D / N).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 4e10], "C": [1.2e18, 2.4e20]})
        >>> Discrepancy(np.ones(3), 1.0).for_runs(runs).tpp_range
        (20.0, 40.0)
        """
        r = data_range(runs, self.by)
        tpp = None if not np.isfinite(r["tpp_min"]) else (r["tpp_min"], r["tpp_max"])
        return replace(self, train_max=r["train_max"], tpp_range=tpp)

    # ---------------------------------------------------------------- distances and draws
    def distances(self, values: Any, tpp: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``(d_C, d_T)``: decades of ``by`` beyond the data and of tokens per parameter outside
        the training range (zeros when ``tpp`` or the range is unknown).

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> disc = Discrepancy(np.ones(2), 1e20, tpp_range=(10.0, 100.0))
        >>> [d.tolist() for d in disc.distances([1e21, 1e19], tpp=[20.0, 1000.0])]
        [[1.0, 0.0], [0.0, 1.0]]
        """
        d_c = extrapolation_distance(np.atleast_1d(values), self.train_max)
        if tpp is None or self.tpp_range is None:
            return d_c, np.zeros_like(d_c)
        d_t = tpp_distance(np.broadcast_to(np.atleast_1d(np.asarray(tpp, float)), d_c.shape),
                           *self.tpp_range)
        return d_c, np.nan_to_num(d_t)  # unknown tokens per parameter: no distance

    def _index(self, n_draws: int | None, rng: np.random.Generator | None) -> np.ndarray:
        if n_draws is None:
            return np.arange(self.kappa.size)
        rng = np.random.default_rng(0) if rng is None else rng
        return resample_draws(np.arange(self.kappa.size), n_draws, rng).astype(int)

    def sd(self, values: Any, n_draws: int | None = None,
           rng: np.random.Generator | None = None, *, tpp: Any = None) -> np.ndarray:
        """Scale of the deviation per draw and point, shape ``(n_draws, n_points)``.

        ``kappa * d_C + kappa_tpp * d_T`` (for a normal deviation its standard deviation; for
        ``shared=True`` the two parts have independent signs, so this is an upper bound).  With
        ``n_draws``, the draws are recycled (or thinned) to ``n_draws`` rows by
        :func:`resample_draws` (whole copies plus a random subset, in random order), so every
        row count sees the same distribution; ``rng`` (default: seed 0) makes the choice.

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> disc = Discrepancy(np.linspace(0.0, 0.04, 4000), train_max=1.0)
        >>> sd = disc.sd([10.0], n_draws=1000, rng=np.random.default_rng(0))
        >>> sd.shape, bool(sd.max() > 0.039)
        ((1000, 1), True)
        """
        d_c, d_t = self.distances(values, tpp)
        i = self._index(n_draws, rng)
        return self.kappa[i, None] * d_c[None, :] + self.kappa_tpp[i, None] * d_t[None, :]

    def deviation(self, values: Any, n_draws: int | None = None,
                  rng: np.random.Generator | None = None, *, tpp: Any = None) -> np.ndarray:
        """Draws of the deviation of the log loss, shape ``(n_draws, n_points)``.

        The same numbers as ``self.frozen(n_draws, rng)(values, tpp)`` (for ``shared=True``).

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> disc = Discrepancy(np.full(50, 0.02), 1.0, nu=3.0)
        >>> dev = disc.deviation([10.0, 10.0, 100.0], rng=np.random.default_rng(1))
        >>> bool(np.all(dev[:, 0] == dev[:, 1])), bool(np.allclose(dev[:, 2], 2 * dev[:, 0]))
        (True, True)
        """
        rng = np.random.default_rng(0) if rng is None else rng
        if not self.shared:
            d_c, _ = self.distances(values, tpp)
            i = self._index(n_draws, rng)
            return _slope(self.kappa[i, None] * rng.standard_normal((i.size, d_c.size))) \
                * d_c[None, :]
        d_c, d_t = self.distances(values, tpp)
        return self.frozen(n_draws, rng)._combine(d_c[None, :], d_t[None, :])

    def frozen(self, n_draws: int | None = None,
               rng: np.random.Generator | None = None) -> FrozenDiscrepancy:
        """The deviation with each draw's random parts fixed: a deterministic function per draw.

        Draws the ``n_draws`` rows of ``kappa``, ``kappa_tpp``, ``bias`` and ``nu`` (recycled or
        thinned by :func:`resample_draws`, as in :meth:`deviation`) and one standardised
        Student-t deviate per draw for each part, once.  The result maps ``(values, tpp)`` to
        the deviation of every draw, ``(n_draws, n_points)``, always with the same deviates
        (common random numbers): a root finder or an optimiser over the budget or the
        allocation then sees a smooth, deterministic objective, and two sizes compared by a
        decision share each draw's deviation.  With the same ``rng`` state it gives exactly
        the numbers of :meth:`deviation` (and so of ``fit.predict``).

        For ``shared=False`` (independent normal deviations per point) no such function
        exists; the frozen term then uses one normal deviate per draw, which keeps the
        distribution of the deviation at every single point.

        Parameters
        ----------
        n_draws : int, optional
            Number of posterior draws it will be added to (default: one per ``kappa`` draw).
        rng : numpy.random.Generator, optional
            Source of the draws (default: seed 0).

        Returns
        -------
        FrozenDiscrepancy

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> disc = Discrepancy(np.full(50, 0.02), 1.0, nu=3.0)
        >>> dev = disc.frozen(50, np.random.default_rng(1))
        >>> bool(np.array_equal(dev([10.0, 100.0]), dev([10.0, 100.0])))   # deterministic
        True
        >>> same = disc.deviation([10.0, 100.0], 50, np.random.default_rng(1))
        >>> bool(np.array_equal(dev([10.0, 100.0]), same))
        True
        """
        from bayescale.modeling.noise import EPS_CLIP

        rng = np.random.default_rng(0) if rng is None else rng
        i = self._index(n_draws, rng)
        if not self.shared:
            z = rng.standard_normal(i.size)
            return FrozenDiscrepancy(self, _slope(self.kappa[i] * z), np.zeros(i.size))
        t, u = (np.clip(_student(rng, self.nu[i]), -EPS_CLIP, EPS_CLIP) for _ in range(2))
        return FrozenDiscrepancy(self, _slope(self.bias[i] + self.kappa[i] * t),
                                 _slope(self.kappa_tpp[i] * u))

    def perturb(self, log_draws: np.ndarray, values: Any, rng: np.random.Generator, *,
                tpp: Any = None) -> np.ndarray:
        """Add the deviation to log-scale predictive draws of shape ``(S, P)``.

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.posterior.discrepancy import Discrepancy
        >>> disc = Discrepancy(np.full(10, 0.1), 1.0)
        >>> out = disc.perturb(np.zeros((10, 2)), [1.0, 100.0], np.random.default_rng(0))
        >>> bool(np.all(out[:, 0] == 0)), bool(np.any(out[:, 1] != 0))
        (True, True)
        """
        return log_draws + self.deviation(values, log_draws.shape[0], rng, tpp=tpp)

    @property
    def kappa_median(self) -> float:
        """Posterior median of ``kappa``."""
        return float(np.median(self.kappa))

    def __str__(self) -> str:
        lo, hi = np.quantile(self.kappa, [0.05, 0.95])
        n = len(self.residuals)
        splits = self.residuals["split"].nunique() if n else 0
        text = (f"Extrapolation discrepancy ({self.source}): kappa = {self.kappa_median:.3g} "
                f"[{lo:.3g}, {hi:.3g}] (90%) log-loss scale per order of magnitude of "
                f"{self.by} beyond {self.train_max:.3g}")
        if np.any(self.kappa_tpp > 0):
            tl, tm, th = np.quantile(self.kappa_tpp, [0.05, 0.5, 0.95])
            text += (f", kappa_tpp = {tm:.3g} [{tl:.3g}, {th:.3g}] per order of magnitude of "
                     "tokens per parameter outside the data")
        has_miss = self.bias != 0
        if np.any(has_miss):
            share = "" if np.all(has_miss) else \
                f" on {np.mean(has_miss):.0%} of draws (0 on the zero-location model's)"
            text += (f", mean miss {np.median(self.bias[has_miss]):+.3g} log loss per order "
                     f"of magnitude of {self.by}{share}")
        if np.any(np.isfinite(self.nu)):
            text += f", Student-t tails (nu median {np.median(self.nu):.3g})"
        text += "; shared along a forecast" if self.shared else "; independent per point"
        if n:
            text += f"; learned from {n} held-out runs in {splits} inner leave-future-out splits"
        if self.note:
            text += f". {self.note}"
        return text


@dataclass(frozen=True)
class FrozenDiscrepancy:
    """One fixed deviation function per posterior draw (from :meth:`Discrepancy.frozen`).

    ``dev(values, tpp)`` returns ``slope_C[s] * d_C + slope_T[s] * d_T`` of shape
    ``(n_draws, n_points)``, where ``d_C`` and ``d_T`` are the decades of ``values`` (along the
    term's ``by``) beyond the data and of tokens per parameter outside the observed range.
    ``values`` and ``tpp`` are ``(P,)`` (the same points for every draw) or ``(S, P)`` (each
    draw's own points, e.g. its own compute-optimal tokens per parameter); ``tpp=None`` means
    no tokens-per-parameter distance.

    Attributes
    ----------
    discrepancy : Discrepancy
        The term it was drawn from (its edge of the data, ``by``).
    slope_C, slope_T : numpy.ndarray
        Per-draw deviation per decade of ``by`` (``bias + kappa t``) and per decade of tokens
        per parameter (``kappa_tpp u``), shape ``(n_draws,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import Discrepancy
    >>> dev = Discrepancy(np.full(4, 0.02), 1e21, tpp_range=(10.0, 100.0)).frozen(4)
    >>> dev([1e20, 1e22], tpp=[20.0, 20.0]).shape
    (4, 2)
    >>> bool(np.all(dev([1e20], tpp=[20.0]) == 0))     # inside the data: nothing
    True
    """

    discrepancy: Discrepancy
    slope_C: np.ndarray
    slope_T: np.ndarray

    @property
    def n_draws(self) -> int:
        """Number of draws (rows of every result)."""
        return int(self.slope_C.size)

    def _combine(self, d_c: np.ndarray, d_t: np.ndarray) -> np.ndarray:
        return self.slope_C[:, None] * d_c + self.slope_T[:, None] * d_t

    def __call__(self, values: Any, tpp: Any = None) -> np.ndarray:
        disc = self.discrepancy
        v = np.asarray(values, dtype=float)
        v = v.reshape(1, -1) if v.ndim < 2 else v
        d_c = extrapolation_distance(v, disc.train_max)
        if tpp is None or disc.tpp_range is None:
            d_t = np.zeros_like(d_c)
        else:
            t = np.asarray(tpp, dtype=float)
            t = t.reshape(1, -1) if t.ndim < 2 else t
            d_t = np.nan_to_num(tpp_distance(t, *disc.tpp_range))
        d_c, d_t = np.broadcast_arrays(d_c, d_t)
        if d_c.shape[0] not in (1, self.n_draws):
            raise ValueError(
                f"the frozen discrepancy has {self.n_draws} draws but got values for "
                f"{d_c.shape[0]} rows; pass (points,) or ({self.n_draws}, points) arrays, or "
                f"freeze it with Discrepancy.frozen(n_draws={d_c.shape[0]})")
        return self._combine(d_c, d_t)


#: Largest deviation of the log loss a draw may take per decade of distance (a factor 2 of the
#: loss).  A new study's kappa is log-normal across studies and cells and its deviates
#: Student-t, so ``exp`` of the deviation has no finite mean and a few draws of 4,000 could
#: rule an expected loss or a CVaR: with kappa_T's between-study spread weakly identified, one
#: prior (2026-12-02) put the report's expected loss at a Gopher budget at 2.4e11.  The largest
#: shared miss among the 175 leave-future-out splits of ``benchmarks/calibration.py`` is 0.38
#: per decade (least-squares slope of a split's residuals on its decades of compute: gadre_small's
#: code validation set, two runs 0.55 decades out), 0.17 among the splits that reach a decade,
#: so the bound leaves the quantiles a table reports as they were and only stops a single draw
#: from ruling a mean (as :data:`EPS_CLIP` does for noise).
SLOPE_CLIP = float(np.log(2.0))


def _slope(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -SLOPE_CLIP, SLOPE_CLIP)


def _student(rng: np.random.Generator, nu: np.ndarray) -> np.ndarray:
    """One Student-t draw per element of ``nu`` (normal where ``nu`` is infinite)."""
    z = rng.standard_normal(nu.shape)
    fin = np.isfinite(nu)
    if np.any(fin):
        w = rng.chisquare(np.where(fin, nu, 1.0)) / np.where(fin, nu, 1.0)
        z = np.where(fin, z / np.sqrt(w), z)
    return z


def resample_draws(draws: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from ``draws`` with the same distribution, in random order.

    Whole copies of ``draws`` fill ``n`` as far as they go and a random subset (without
    replacement) the rest, then the result is shuffled: thinning (``n < len(draws)``) keeps a
    random subset and recycling (``n > len(draws)``) repeats every draw equally often, so the
    empirical distribution is kept whatever the order of ``draws`` (sorted draws included).
    Unlike ``np.resize``, which keeps the *first* ``n`` draws, it never truncates a sorted
    array to its smallest values.

    Parameters
    ----------
    draws : array_like
        1-D draws (e.g. of ``kappa``).
    n : int
        Number of draws wanted (>= 1).
    rng : numpy.random.Generator
        Source of the random subset and order.

    Returns
    -------
    numpy.ndarray
        ``n`` draws.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import resample_draws
    >>> k = np.arange(4000.0)                        # sorted, as from an inverse CDF
    >>> sub = resample_draws(k, 1000, np.random.default_rng(0))
    >>> bool(sub.max() > 3900), bool(sub.min() < 100)
    (True, True)
    >>> np.sort(resample_draws([1.0, 2.0], 5, np.random.default_rng(0))).tolist()[:4]
    [1.0, 1.0, 2.0, 2.0]
    """
    a = np.asarray(draws, dtype=float).ravel()
    n = int(n)
    if a.size == 0 or n < 1:
        raise ValueError(f"need >= 1 draw to resample and n >= 1; got {a.size} draws, n={n!r}")
    reps, rest = divmod(n, a.size)
    idx = np.concatenate([np.tile(np.arange(a.size), reps),
                          rng.choice(a.size, size=rest, replace=False)])
    return a[rng.permutation(idx)]


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
        ``n_draws`` draws of ``kappa``, in random order (stratified inverse-CDF draws,
        shuffled: any leading subset of them is a fair sample of the posterior).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import estimate_kappa
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
    # shuffled: stratified draws come out sorted, and a consumer that keeps the first n of
    # them (as np.resize did) would see only the smallest kappas
    return np.interp(rng.permutation(u), cdf, grid)


# --------------------------------------------------------------------------- empirical prior

#: ``Discrepancy.source`` of a new study's draws from the empirical prior, not yet updated by
#: the study's own splits (:func:`update_discrepancy` appends how it was updated).
PRIOR_SOURCE = "empirical prior"
#: Folder of the shipped prior under ``bayescale/data/bundled``.
PRIOR_FOLDER = "discrepancy_prior"
#: The population posterior draws (one row per draw).
PRIOR_FILE = "population_draws.csv"
#: Columns of :data:`PRIOR_FILE`: log-kappa means, between-study and between-cell sds, for the
#: compute (C) and tokens-per-parameter (T) parts, the Student-t tail of the deviation, and the
#: mean miss per decade of compute with its between-study and between-cell sds (all three 0 on
#: the rows of the zero-location model, see :meth:`DiscrepancyPrior.averaged`).
POPULATION_PARAMS = ("mu_C", "tau_C", "omega_C", "mu_T", "tau_T", "omega_T", "nu",
                     "bias_C", "bias_tau_C", "bias_omega_C")


@dataclass(frozen=True)
class DiscrepancyPrior:
    """Population distribution of the discrepancy across scaling studies.

    For study ``s`` and cell ``c`` (a training set-up, a validation set) of it::

        log kappa_C[c] = mu_C + tau_C * eta_s + omega_C * xi_c     (eta, xi ~ Normal(0, 1))
        log kappa_T[c] = mu_T + tau_T * eta'_s + omega_T * xi'_c
        bias_C[c] = bias_C + bias_tau_C * zeta_s + bias_omega_C * chi_c
        (omega_C = 0 where there is a mean miss: the cells differ through it)

    and the shared deviation is Student-t with ``nu`` degrees of freedom (see
    :class:`Discrepancy`).  A new study draws ``kappa`` from this distribution, each draw of
    the population parameters in turn.  The shipped prior (:meth:`averaged`) holds equally many
    draws of this model and of its zero-location variant (no mean miss: the three ``bias``
    columns 0), so a new study has no mean miss with probability one half, and
    :func:`update_discrepancy` re-weighs the two models by the study's own splits.

    Attributes
    ----------
    draws : pandas.DataFrame
        Posterior draws of :data:`POPULATION_PARAMS`, one row per draw.
    provenance : str
        Where the draws came from (the shipped ``PROVENANCE.md``, or a description).

    Examples
    --------
    >>> from bayescale.posterior.discrepancy import empirical_prior
    >>> prior = empirical_prior()
    >>> k = prior.new_study(1000)
    >>> sorted(k), k["kappa"].shape
    (['bias', 'kappa', 'kappa_tpp', 'nu'], (1000,))
    """

    draws: pd.DataFrame
    provenance: str = ""

    def __post_init__(self) -> None:
        missing = [c for c in POPULATION_PARAMS if c not in self.draws.columns]
        if missing:
            raise ValueError(f"a discrepancy prior needs columns {list(POPULATION_PARAMS)}; "
                             f"missing {missing}")
        d = self.draws[list(POPULATION_PARAMS)].astype(float)
        if len(d) == 0 or not np.all(np.isfinite(d.to_numpy())):
            raise ValueError("the discrepancy prior's draws must be a non-empty table of finite "
                             "numbers; rebuild it with `python benchmarks/calibration.py "
                             "--rebuild-prior`")
        object.__setattr__(self, "draws", d.reset_index(drop=True))

    @classmethod
    def averaged(cls, *priors: DiscrepancyPrior, seed: int = 0) -> DiscrepancyPrior:
        """Equal-weight mixture of several population posteriors (Bayesian model averaging).

        Each prior contributes the same number of draws (the smallest one's count; the others
        thinned evenly), shuffled together, so a new study draws its model with equal
        probability and :func:`update_discrepancy` turns that into the posterior weight of each
        model given the study's own splits (importance weights are the splits' likelihood).

        Parameters
        ----------
        *priors : DiscrepancyPrior
            The models, e.g. ``fit_discrepancy_prior(res)[0]`` (with a mean miss) and
            ``fit_discrepancy_prior(res, location=False)[0]`` (centred on zero).
        seed : int
            Seed of the shuffle.

        Returns
        -------
        DiscrepancyPrior

        Examples
        --------
        >>> import pandas as pd
        >>> from bayescale.posterior.discrepancy import POPULATION_PARAMS, DiscrepancyPrior
        >>> row = dict.fromkeys(POPULATION_PARAMS, 0.0) | {"mu_C": -4.0, "nu": 10.0}
        >>> a = DiscrepancyPrior(pd.DataFrame([row | {"bias_C": -0.02}] * 4), "with a mean miss")
        >>> b = DiscrepancyPrior(pd.DataFrame([row] * 6), "zero location")
        >>> mix = DiscrepancyPrior.averaged(a, b)
        >>> len(mix.draws), round(mix.p_mean_miss, 2)
        (8, 0.5)
        """
        if len(priors) < 2:
            raise ValueError(f"averaged() mixes two or more priors; got {len(priors)}")
        n = min(len(p.draws) for p in priors)
        parts = [p.draws.iloc[np.linspace(0, len(p.draws) - 1, n).round().astype(int)]
                 for p in priors]
        draws = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=seed)
        text = "Equal-weight average of:\n\n" + "\n\n".join(
            f"- model {i + 1}: {p.provenance}" for i, p in enumerate(priors))
        return cls(draws=draws, provenance=text)

    @property
    def p_mean_miss(self) -> float:
        """Share of the draws that have a mean miss (the rest: zero-location model)."""
        cols = self.draws[["bias_C", "bias_tau_C", "bias_omega_C"]].to_numpy()
        return float(np.mean(np.any(cols != 0.0, axis=1)))

    def new_study(self, n_draws: int = 4000, seed: int | None = 0) -> dict[str, np.ndarray]:
        """``kappa``, ``kappa_tpp``, ``nu`` and ``bias`` for a study not in the prior's data.

        Examples
        --------
        >>> from bayescale.posterior.discrepancy import empirical_prior
        >>> k = empirical_prior().new_study(4000, seed=1)
        >>> bool(0.001 < float(np.median(k["kappa"])) < 0.2)
        True
        """
        i, y = self._latent(n_draws, np.random.default_rng(seed))
        return _study_params(self._arrays(), i, y)

    def _arrays(self) -> dict[str, np.ndarray]:
        """Per population draw: location and scale of a new study's log kappa_C, log kappa_T
        and bias, and nu."""
        d = {k: self.draws[k].to_numpy() for k in POPULATION_PARAMS}
        return {"loc": np.stack([d["mu_C"], d["mu_T"], d["bias_C"]], axis=1),
                "sd": np.stack([np.hypot(d["tau_C"], d["omega_C"]),
                                np.hypot(d["tau_T"], d["omega_T"]),
                                np.hypot(d["bias_tau_C"], d["bias_omega_C"])], axis=1),
                "nu": d["nu"]}

    def _latent(self, n_draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A new study's draws as (population row, ``(n, 3)`` values of log kappa_C,
        log kappa_T and bias)."""
        a = self._arrays()
        i = resample_draws(np.arange(len(self.draws)), n_draws, rng).astype(int)
        z = np.stack([rng.standard_normal(n_draws) for _ in range(3)], axis=1)
        return i, a["loc"][i] + a["sd"][i] * z

    def discrepancy(self, runs: pd.DataFrame, *, by: str = "C", n_draws: int = 4000,
                    seed: int | None = 0) -> Discrepancy:
        """A :class:`Discrepancy` for a new study whose runs are ``runs`` (their edge).

        Examples
        --------
        >>> import pandas as pd
        >>> from bayescale.posterior.discrepancy import empirical_prior
        >>> runs = pd.DataFrame({"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]})
        >>> empirical_prior().discrepancy(runs).kappa.size
        4000
        """
        if runs is None or not isinstance(runs, pd.DataFrame):
            raise ValueError(
                f"runs must be the runs table the forecast extrapolates from (e.g. fit.runs), "
                f"not {type(runs).__name__}: the discrepancy grows with the distance from them")
        k = self.new_study(n_draws, seed)
        r = data_range(runs, by)
        tpp = None if not np.isfinite(r["tpp_min"]) else (r["tpp_min"], r["tpp_max"])
        return Discrepancy(kappa=k["kappa"], kappa_tpp=k["kappa_tpp"], nu=k["nu"],
                           bias=k["bias"], train_max=r["train_max"], tpp_range=tpp, by=by,
                           source=PRIOR_SOURCE)

    def summary(self) -> pd.DataFrame:
        """Median and 90% interval of each population parameter and of a new study's kappas.

        Examples
        --------
        >>> from bayescale.posterior.discrepancy import empirical_prior
        >>> list(empirical_prior().summary().columns)
        ['median', 'q05', 'q95']
        """
        k = self.new_study(20000, seed=0)
        rows = {c: self.draws[c].to_numpy() for c in POPULATION_PARAMS}
        rows |= {"new study kappa (C)": k["kappa"], "new study kappa (tpp)": k["kappa_tpp"],
                 "new study bias (C)": k["bias"]}
        return pd.DataFrame({name: np.quantile(v, [0.5, 0.05, 0.95]) for name, v in
                             rows.items()}, index=["median", "q05", "q95"]).T


_PRIOR_CACHE: dict[str, DiscrepancyPrior] = {}


def empirical_prior(path: str | os.PathLike | None = None) -> DiscrepancyPrior:
    """The discrepancy prior learned across published scaling studies (shipped with the package).

    Parameters
    ----------
    path : path, optional
        A CSV of population draws (columns :data:`POPULATION_PARAMS`) to use instead of the
        shipped ``bayescale/data/bundled/discrepancy_prior/population_draws.csv``.

    Returns
    -------
    DiscrepancyPrior
        The draws and their provenance (``PROVENANCE.md``: studies, cutoffs, the command that
        rebuilds it, the date).

    Examples
    --------
    >>> from bayescale.posterior.discrepancy import empirical_prior
    >>> prior = empirical_prior()
    >>> "rebuild" in prior.provenance and len(prior.draws) >= 100
    True
    """
    from importlib import resources

    key = "" if path is None else str(path)
    if key in _PRIOR_CACHE:
        return _PRIOR_CACHE[key]
    if path is None:
        folder = resources.files("bayescale") / "data" / "bundled" / PRIOR_FOLDER
        with (folder / PRIOR_FILE).open("rb") as fh:
            draws = pd.read_csv(fh)
        provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    else:
        draws = pd.read_csv(path)
        prov = os.path.join(os.path.dirname(os.fspath(path)), "PROVENANCE.md")
        provenance = open(prov, encoding="utf-8").read() if os.path.exists(prov) else str(path)
    prior = DiscrepancyPrior(draws=draws, provenance=provenance)
    _PRIOR_CACHE[key] = prior
    return prior


#: Leading components of a forecast's own law uncertainty kept as terms shared by the runs of
#: one split (columns ``law_1``, ``law_2`` of a residual table).
LAW_COMPONENTS = 2
LAW_COLUMNS = tuple(f"law_{k + 1}" for k in range(LAW_COMPONENTS))


def law_terms(log_mu: Any, sigma: Any) -> dict[str, np.ndarray]:
    """Split a forecast's predictive scale into the law's uncertainty and run-level noise.

    A fit's uncertainty about the law moves every run of one forecast together: its posterior
    draws of ``log mu`` (draws x runs) are nearly rank 1 or 2 across the runs (two components
    hold 94-100% of their variance in the median split of each study and rung of
    ``benchmarks/calibration.py``).  Counted
    as independent per run, a shared miss the law's own uncertainty allows looks like strong
    evidence of an extrapolation error (the mean of 30 runs' errors has a sixth of their
    scale), and ``kappa`` learned that way counts the law's uncertainty twice, since a
    forecast's draws already hold it.  This returns the :data:`LAW_COMPONENTS` leading
    principal components as loadings (``law_i = sum_k law_k[i] w_k``, ``w ~ Normal(0, 1)``
    shared by the runs) and the rest, independent per run (``noise``: the run-to-run noise and
    the law's variance the components miss).

    Parameters
    ----------
    log_mu : array_like
        Posterior draws of the law's log loss at the held-out runs (draws x runs).
    sigma : array_like
        Posterior draws of the run-to-run noise scale (log loss).

    Returns
    -------
    dict
        ``law_1``, ``law_2`` (loadings, one per run) and ``noise`` (one per run), with
        ``noise**2 + law_1**2 + law_2**2`` = ``median(sigma)**2 + var(log_mu)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import law_terms
    >>> w = np.random.default_rng(0).standard_normal((4000, 1))
    >>> log_mu = 0.01 * w * np.array([1.0, 2.0, 3.0])   # one shared direction
    >>> t = law_terms(log_mu, np.full(4000, 0.004))
    >>> np.abs(t["law_1"]).round(3).tolist(), t["noise"].round(3).tolist()
    ([0.01, 0.02, 0.03], [0.004, 0.004, 0.004])
    """
    lm = np.asarray(log_mu, dtype=float)
    lm = lm - lm.mean(axis=0)
    n = lm.shape[1]
    load = np.zeros((n, LAW_COMPONENTS))
    if n and lm.shape[0] > 1:
        _, sv, vt = np.linalg.svd(lm / np.sqrt(lm.shape[0]), full_matrices=False)
        k = min(LAW_COMPONENTS, sv.size)
        load[:, :k] = vt[:k].T * sv[:k]
    rest = np.maximum(lm.var(axis=0) - np.sum(load**2, axis=1), 0.0)
    noise = np.sqrt(float(np.median(np.asarray(sigma, dtype=float))) ** 2 + rest)
    return {**{c: load[:, k] for k, c in enumerate(LAW_COLUMNS)}, "noise": noise}


def check_residuals(residuals: pd.DataFrame, needed: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in needed if c not in residuals.columns]
    if missing:
        raise ValueError(f"the residual table needs columns {list(needed)}; missing {missing} "
                         "(learn_discrepancy(...).residuals and benchmarks/calibration.py "
                         "make such tables)")
    r = residuals.copy()
    r["nu"] = r["nu"].astype(float).fillna(np.inf) if "nu" in r else np.inf
    if not set(LAW_COLUMNS) | {"noise"} <= set(r.columns):
        # a table without the law's shared terms: its whole scale independent per run
        r[list(LAW_COLUMNS)] = 0.0
        r["noise"] = r["scale"]
    ok = np.isfinite(r["residual"]) & np.isfinite(r["noise"]) & (r["noise"] > 0) \
        & np.all(np.isfinite(r[list(LAW_COLUMNS)]), axis=1)
    return r[ok].reset_index(drop=True)


#: Share of each split's Monte Carlo points drawn from the prior of its shared terms; the rest
#: come from a Student-t around their posterior mode (:func:`_split_loglik`).  The prior's share
#: keeps the importance weights bounded where the mode's Student-t has lighter tails than the
#: prior (a Student-t deviation with ``nu`` near 2).
PRIOR_SHARE = 0.25


def _split_random(rng: np.random.Generator, n_t: int, df: float = 4.0) -> dict[str, Any]:
    """The random numbers of one split's likelihood estimate (:func:`_split_loglik`), drawn
    once per update and shared by every draw and every stage (common random numbers): the
    uniforms of the shared deviation's two Student-t coordinates (``q_t`` along compute, ``q_u``
    along tokens per parameter), normal quantiles of the law's shared terms (``z``) and the
    chi-square mixing variable ``g`` of the multivariate t (``df``) the points around the mode
    are drawn from, all five coordinates from one scrambled Sobol sequence (randomised
    quasi-Monte Carlo: with ``n_t`` a power of 2, every coordinate has one point in each stratum
    ``[k / n_t, (k + 1) / n_t)``, and the points fill the five dimensions jointly; so do the
    first ``PRIOR_SHARE * n_t`` points, the ones drawn from the prior).

    Drawn afresh for every chunk of 1,000 draws, as they were before, the estimate's Monte
    Carlo error differed between chunks: summed over the 30 splits of a 15-group study the
    log likelihood of one and the same draw varied by 2.4 nats (sd) from chunk to chunk, so the
    weights followed the luckiest chunk (importance ESS 49 of 16,000, however many adaptive
    stages).  Shared, the error is one smooth perturbation of the likelihood, the same for
    every draw, and it differs between seeds."""
    import warnings

    from scipy.stats import chi2, qmc

    from bayescale.modeling.noise import noise_quantile

    sobol = qmc.Sobol(d=2 + LAW_COMPONENTS + 1, scramble=True, seed=rng)
    m = int(np.log2(n_t)) if n_t > 0 else 0
    with warnings.catch_warnings():  # not a power of 2: fine, only less balanced
        warnings.simplefilter("ignore", UserWarning)
        u = sobol.random_base2(m) if 2 ** m == n_t else sobol.random(n_t)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    return {"q_t": u[:, 0], "q_u": u[:, 1], "z": noise_quantile(u[:, 2:2 + LAW_COMPONENTS]),
            "g": chi2.ppf(u[:, -1], df) / df, "df": df}


def _common_student(q: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """``(len(nu), len(q))`` Student-t draws: the common uniforms ``q`` (:func:`_split_random`),
    the same for every row, transformed by the inverse CDF with the row's own ``nu`` (normal
    where infinite).  A likelihood estimated with them is a smooth function of ``nu`` and the
    scales, and every part of the distribution, its tails included, is represented."""
    from bayescale.modeling.noise import noise_quantile

    # the draws share a few hundred values of nu (population rows): the inverse CDF, the
    # update's costliest call, once per value
    values, row = np.unique(np.asarray(nu, dtype=float), return_inverse=True)
    return noise_quantile(np.asarray(q, dtype=float)[None, :], values[:, None])[row.reshape(-1)]


def _split_loglik(r: pd.DataFrame, kappa: np.ndarray, kappa_tpp: np.ndarray, nu: np.ndarray,
                  bias: np.ndarray, n_t: int, rng: np.random.Generator | None = None,
                  crn: Mapping[str, Any] | None = None, steps: int = 3) -> np.ndarray:
    """Log likelihood of each draw ``(kappa, kappa_tpp, nu, bias)`` given one split's residuals,
    with the split's shared terms integrated out: the deviation along compute (``kappa t
    d_C``) and along tokens per parameter (``kappa_tpp u d_T``), ``t`` and ``u`` standard
    Student-t with the draw's ``nu``, and the law's shared uncertainty (:func:`law_terms`,
    standard normal weights of its components).  ``crn``: the split's common random numbers
    (:func:`_split_random`), else drawn from ``rng``.

    The integral is estimated by importance sampling from a defensive mixture (balance
    heuristic): ``PRIOR_SHARE`` of the ``n_t`` points from the terms' prior, the rest from a
    multivariate t (``crn["df"]``) around their posterior mode under the runs' Student-t noise
    (``steps`` iteratively reweighted least-squares steps, so that one outlying run does not
    pull it) with twice the covariance of its normal approximation.  Before, the deviation's
    points came from its prior alone; where a split's runs pin its deviation down far more
    tightly than the prior does (many runs, small noise), few of 64 points fell near it and the
    estimate jumped as ``kappa`` moved them past it: summed over 60 simulated splits of 8 runs
    (noise 0.005, true kappa 0.05), the log likelihood along a grid of kappa from .03 to .08
    swung by 30 nats with spurious modes at .036 and .064, and the update's importance ESS
    stayed at about 220 of 16,000 through eight adaptive stages.  Around the mode, the same 64
    points give the smooth curve of 8,192 prior points."""
    from scipy.special import gammaln, logsumexp

    if crn is None:
        if rng is None:
            raise TypeError("_split_loglik needs crn= (the split's random numbers) or rng=")
        crn = _split_random(rng, n_t)
    n_t = len(crn["q_t"])
    n_prior = round(PRIOR_SHARE * n_t)
    res = r["residual"].to_numpy(float)
    d_c, d_t = r["d_C"].to_numpy(float), r["d_T"].to_numpy(float)
    load = r[list(LAW_COLUMNS)].to_numpy(float)  # runs x components
    scale, nu_i = r["noise"].to_numpy(float), np.minimum(r["nu"].to_numpy(float), 1e4)
    const = float(np.sum(gammaln((nu_i + 1) / 2) - gammaln(nu_i / 2)
                         - 0.5 * np.log(np.pi * nu_i) - np.log(scale)))
    n, runs = np.size(kappa), res.size
    nu = np.asarray(nu, dtype=float)
    # the shared terms and their loadings (draws x runs x m): the Student-t coordinates first
    # (tokens per parameter only where a run lies outside the range), then the law's
    # components that load on any run
    cols = [np.asarray(kappa, dtype=float)[:, None] * d_c]
    if np.any(d_t != 0):
        cols.append(np.asarray(kappa_tpp, dtype=float)[:, None] * d_t)
    n_s = len(cols)
    law = [j for j in range(load.shape[1]) if np.any(load[:, j] != 0)]
    cols += [np.broadcast_to(load[:, j], (n, runs)) for j in law]
    a = np.stack(cols, axis=-1) / scale[:, None]  # standardised loadings
    m = a.shape[-1]
    y = (res - np.asarray(bias, dtype=float)[:, None] * d_c) / scale  # standardised residuals
    # the mode of the terms (iteratively reweighted least squares: Student-t runs and, for the
    # deviation's coordinates, Student-t priors; normal priors of the law's components)
    eye = np.eye(m)
    nu_s = np.where(np.isfinite(nu), nu, 1e4)[:, None]
    weight, prior_w = np.ones((n, runs)), np.ones((n, m))
    for _ in range(steps + 1):
        a_t = a.transpose(0, 2, 1)
        prec = np.matmul(a_t * weight[:, None, :], a) + prior_w[:, :, None] * eye
        mean = np.linalg.solve(prec, np.matmul(a_t, (weight * y)[..., None]))[..., 0]
        e = y - np.matmul(a, mean[..., None])[..., 0]
        weight = (nu_i + 1) / (nu_i + e * e)
        prior_w[:, :n_s] = (nu_s + 1) / (nu_s + mean[:, :n_s] ** 2)
    chol = np.linalg.cholesky(2.0 * np.linalg.inv(prec))
    df = float(crn["df"])
    # the points: the prior's for the first n_prior, the mode's multivariate t for the rest
    normal = np.column_stack([np.asarray(crn["z"])[:, j] for j in range(LAW_COMPONENTS)])
    from bayescale.modeling.noise import noise_logpdf, noise_quantile

    zs = np.column_stack([noise_quantile(crn["q_t"]), noise_quantile(crn["q_u"])])
    z_mode = np.column_stack([zs[:, :n_s], normal[:, law]])[n_prior:]  # n_t - n_prior x m
    g = np.asarray(crn["g"])[n_prior:]
    v = np.empty((n, n_t, m))
    v[:, n_prior:] = mean[:, None, :] + np.matmul((z_mode / np.sqrt(g)[:, None])[None],
                                                  chol.transpose(0, 2, 1))
    q_s = (crn["q_t"], crn["q_u"])
    for k in range(n_s):
        v[:, :n_prior, k] = _common_student(q_s[k][:n_prior], nu)
    v[:, :n_prior, n_s:] = normal[:n_prior][:, law]
    # importance weights: prior over the mixture of prior and mode's t
    log_p = (np.sum(noise_logpdf(v[..., :n_s], 0.0, 1.0, nu[:, None, None]), axis=-1)
             - 0.5 * np.sum(v[..., n_s:] ** 2, axis=-1) - (m - n_s) / 2 * np.log(2 * np.pi))
    std = np.matmul(v - mean[:, None, :], np.linalg.inv(chol).transpose(0, 2, 1))
    log_det = np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)[:, None]
    log_g = (gammaln((df + m) / 2) - gammaln(df / 2) - m / 2 * np.log(df * np.pi) - log_det
             - (df + m) / 2 * np.log1p(np.sum(std * std, axis=-1) / df))
    share = n_prior / n_t
    if n_prior in (0, n_t):  # one component only
        log_q = log_p if n_prior else log_g
    else:
        log_q = np.logaddexp(np.log(share) + log_p, np.log1p(-share) + log_g)
    # the runs' likelihood at every point (draws x points x runs, computed in place)
    # (batched matrix products, not einsum: 3-7x faster, the update's costliest lines)
    x = np.matmul(v, a.transpose(0, 2, 1))
    np.subtract(y[:, None, :], x, out=x)
    np.multiply(x, x, out=x)
    np.divide(x, nu_i, out=x)
    np.add(x, 1.0, out=x)  # log(1 + x), not log1p, which numpy does not vectorise: 2x
    np.log(x, out=x)       # faster, to 1e-16 absolute, which is what a sum of them needs
    np.multiply((nu_i + 1) / 2, x, out=x)
    lp = const - np.sum(x, axis=2) + log_p - log_q
    return logsumexp(lp, axis=1) - np.log(n_t)


def _study_params(a: Mapping[str, np.ndarray], i: np.ndarray, y: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """``kappa``, ``kappa_tpp``, ``nu``, ``bias`` from population rows ``i`` and values ``y``
    (log kappa_C, log kappa_T, bias; the bias is 0 where the row has no mean miss)."""
    return {"kappa": np.exp(y[:, 0]), "kappa_tpp": np.exp(y[:, 1]), "nu": a["nu"][i],
            "bias": np.where(a["sd"][i, 2] > 0, y[:, 2], a["loc"][i, 2])}


def _ess(logw: np.ndarray) -> float:
    w = np.exp(logw - logw.max())
    return float(w.sum() ** 2 / np.sum(w * w))


def _tempered(logw: np.ndarray, target: float) -> np.ndarray:
    """Normalised weights ``w**beta`` with the largest ``beta`` in (0, 1] whose effective sample
    size is at least ``target`` (bisection): a broad view of where the posterior lies."""
    lo, hi = 0.0, 1.0
    if _ess(logw) < target:
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _ess(mid * logw) >= target else (lo, mid)
        beta = lo
    else:
        beta = 1.0
    w = np.exp(beta * (logw - logw.max()))
    return w / w.sum()


def _refine(population: DiscrepancyPrior, i: np.ndarray, y: np.ndarray, logw: np.ndarray,
            loglik: Any, rng: np.random.Generator, defensive: float = 0.2,
            inflate: float = 2.0):
    """One stage of adaptive importance sampling (population Monte Carlo) in the space of
    (population row ``s``, ``y`` = log kappa_C, log kappa_T, bias).

    The likelihood is approximated by a Gaussian in ``y``: its precision is the current weighted
    draws' precision less the prior's (clipped at 0, so directions the splits do not inform
    stay at the prior) and it is tempered by ``inflate``.  A proposal draws ``s`` from the
    current weights mixed with the prior (``defensive``), then ``y`` from the prior of row ``s``
    times that Gaussian, in closed form; the weights are prior x likelihood / proposal.
    Returns the new rows, values and log weights."""
    a = population._arrays()
    n, rows = y.shape[0], len(population.draws)
    w = _tempered(logw, min(500.0, n / 20))
    miss_row = a["sd"][:, 2] > 0
    approx = {}
    for miss, dims in ((True, [0, 1, 2]), (False, [0, 1])):
        sel, rs = miss_row[i] == miss, miss_row == miss
        if not sel.any() or not rs.any():
            continue
        wg = w[sel] / w[sel].sum() if w[sel].sum() > 1e-12 else np.full(sel.sum(), 1 / sel.sum())
        yg = y[sel][:, dims]
        m_p = wg @ yg
        s_p = ((yg - m_p).T * wg) @ (yg - m_p) + 1e-8 * np.eye(len(dims))
        loc, sd = a["loc"][rs][:, dims], a["sd"][rs][:, dims]
        m_0 = loc.mean(axis=0)
        s_0 = np.cov(loc.T).reshape(len(dims), len(dims)) + np.diag((sd ** 2).mean(axis=0))
        lam = np.linalg.inv(s_p) - np.linalg.inv(s_0)
        val, vec = np.linalg.eigh(0.5 * (lam + lam.T))
        lam = (vec * np.clip(val, 0.0, None)) @ vec.T / inflate
        eta = (np.linalg.solve(s_p, m_p) - np.linalg.solve(s_0, m_0)) / inflate
        # keep eta in the range of lam (no pull along directions without information)
        eta = vec @ np.where(val > 0, vec.T @ eta, 0.0)
        approx[miss] = (dims, lam, eta)
    # rows by how well their prior agrees with the likelihood's approximation (the evidence of
    # the Gaussian in closed form), times the current weight of their model; a model no
    # current draw visits gets no proposals
    log_z = np.full(rows, -np.inf)
    for miss, (dims, lam, eta) in approx.items():
        rs = miss_row == miss
        loc, sd = a["loc"][rs][:, dims], a["sd"][rs][:, dims]
        k = len(dims)
        prec = lam[None] + np.einsum("ij,jk->ijk", 1.0 / sd ** 2, np.eye(k))
        b = loc / sd ** 2 + eta[None]
        mean = np.linalg.solve(prec, b[..., None])[..., 0]
        log_z[rs] = (0.5 * np.sum(b * mean, axis=1) - 0.5 * np.sum(loc ** 2 / sd ** 2, axis=1)
                     - 0.5 * np.linalg.slogdet(prec)[1] - np.sum(np.log(sd), axis=1)
                     + np.log(max(float(w[miss_row[i] == miss].sum()), 1e-300) / rs.sum()))
    q_row = np.exp(log_z - log_z.max())
    q_row = (1 - defensive) * q_row / q_row.sum() + defensive * np.isfinite(log_z) / \
        np.isfinite(log_z).sum()
    new_i = rng.choice(rows, size=n, p=q_row)
    new_miss = miss_row[new_i]
    new_y = np.zeros((n, 3))
    new_y[:, 2] = a["loc"][new_i, 2]  # the zero-location model's bias (0)
    log_q = np.log(q_row[new_i])
    log_p = np.full(n, -np.log(rows))
    for miss, (dims, lam, eta) in approx.items():
        sel = new_miss == miss
        if not sel.any():
            continue
        k = len(dims)
        loc, sd = a["loc"][new_i[sel]][:, dims], a["sd"][new_i[sel]][:, dims]
        prec = lam[None] + np.einsum("ij,jk->ijk", 1.0 / sd ** 2, np.eye(k))
        cov = np.linalg.inv(prec)
        mean = np.einsum("ijk,ik->ij", cov, loc / sd ** 2 + eta[None])
        chol = np.linalg.cholesky(cov)
        z = rng.standard_normal((int(sel.sum()), k))
        vals = mean + np.einsum("ijk,ik->ij", chol, z)
        new_y[np.ix_(sel, dims)] = vals
        log_det = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        log_q[sel] += -0.5 * np.sum(z * z, axis=1) - log_det - k / 2 * np.log(2 * np.pi)
        log_p[sel] += np.sum(-0.5 * ((vals - loc) / sd) ** 2 - np.log(sd)
                             - 0.5 * np.log(2 * np.pi), axis=1)
    return new_i, new_y, log_p + loglik(_study_params(a, new_i, new_y)) - log_q


#: Importance effective sample size below which :func:`update_discrepancy` warns: fewer
#: distinct draws than that leave a 95% interval's ends to a handful of them.
MIN_UPDATE_ESS = 100


def update_discrepancy(prior: Discrepancy, residuals: pd.DataFrame, *, n_draws: int = 4000,
                       n_t: int = 64, seed: int = 0, population: DiscrepancyPrior | None = None,
                       min_ess: float | None = None, max_stages: int = 4) -> Discrepancy:
    """Update a discrepancy's draws by a study's own leave-future-out residuals.

    The draws of ``prior`` (e.g. :meth:`Discrepancy.default`: a new study's kappas from the
    empirical prior) are weighted by the likelihood of the residuals under the model of
    :func:`~bayescale.evaluation.discrepancy.fit_discrepancy_prior`
    (each split's shared deviation integrated out) and resampled:
    importance sampling with the prior as proposal.  Many splits (a hierarchy's groups, each
    split twice) make the likelihood so sharp that few prior draws carry weight; given the
    ``population`` the prior's draws came from, the update then goes on by adaptive importance
    sampling (population Monte Carlo: each stage's proposal is fitted to the last stage's
    weighted draws and mixed with the prior) until the effective sample size reaches
    ``min_ess`` or ``max_stages`` stages are done.  Where the prior's draws come from several
    models (the shipped prior: with and without a mean miss, :meth:`DiscrepancyPrior.averaged`)
    the same weights are the models' posterior probabilities (Bayesian model averaging); the
    result's ``source`` says how the weight of the model with a mean miss moved.

    Parameters
    ----------
    prior : Discrepancy
        Prior draws (the more, the better the update: use >= 4 x ``n_draws``).
    residuals : pandas.DataFrame
        ``split``, ``residual``, ``scale``, ``nu``, ``d_C`` (or ``distance``) and ``d_T``
        (missing: 0) per held-out run, as in ``learn_discrepancy(...).residuals``.  Rows with
        a true ``failed`` (held-out runs that failed by the rule of the inner fit's own failed
        runs, :meth:`~bayescale.modeling.noise.RunFailures.exceeds`, and lie as many
        predictive sds above their forecast, as
        :func:`~bayescale.evaluation.discrepancy.forecast_draws` flags them) are left out of
        the likelihood: a run that blew up is the failure model's, not a bend of the curve.
        Left in, Muennighoff et al.'s many-epoch runs (residuals +0.35 to +1.09 log loss,
        7-22 predictive sd above their forecasts) left the update of a hierarchy's group at
        an effective sample size of 19 of 16,000 after four adaptive stages.
    n_draws : int
        Draws returned.
    n_t : int
        Importance-sampling points per split and prior draw for the split's shared terms (a
        quarter from their prior, the rest around their posterior mode given the split's runs,
        :func:`_split_loglik`; the same random numbers for every draw and stage, so that the
        weights differ by the draws' parameters, not by Monte Carlo noise).
    seed : int
        Seed of the Monte Carlo draws and the resampling.
    population : DiscrepancyPrior, optional
        The population ``prior`` was drawn from, as ``population.discrepancy(runs,
        n_draws=len(prior.kappa), seed=seed)`` draws it (those draws are regenerated with their
        population rows).  Without it the update is the one importance-sampling step.
    min_ess : float, optional
        Effective sample size below which the adaptive stages run (default ``n_draws / 4``).
    max_stages : int
        Most importance-sampling stages, the first included.

    Returns
    -------
    Discrepancy
        ``source`` says how many runs updated it and the effective sample size of the weights.

    Warns
    -----
    ConvergenceWarning
        When the effective sample size ends below :data:`MIN_UPDATE_ESS`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.posterior.discrepancy import Discrepancy, update_discrepancy
    >>> rng = np.random.default_rng(0)
    >>> prior = Discrepancy(rng.uniform(0.0, 0.1, 8000), train_max=1.0)
    >>> res = pd.DataFrame({"split": np.repeat(["a", "b"], 5), "residual": 0.0,
    ...                     "scale": 0.005, "nu": np.inf, "d_C": 1.0, "d_T": 0.0})
    >>> post = update_discrepancy(prior, res)
    >>> bool(np.median(post.kappa) < np.median(prior.kappa))
    True
    """
    r = residuals.copy()
    if "d_C" not in r and "distance" in r:
        r["d_C"] = r["distance"]
    if "d_T" not in r:
        r["d_T"] = 0.0
    r = check_residuals(r, ["split", "residual", "scale", "d_C", "d_T"])
    n_failed = 0
    if "failed" in r:
        keep = ~r["failed"].fillna(False).to_numpy(dtype=bool)
        n_failed = int((~keep).sum())
        r = r[keep]
    rng = np.random.default_rng(seed)
    splits = [sub for _, sub in r.groupby("split", sort=True)]
    # one set of random numbers per split for every draw, chunk and stage (_split_random)
    crns = [_split_random(rng, n_t) for _ in splits]

    def loglik(d: Mapping[str, np.ndarray]) -> np.ndarray:
        out = np.zeros(d["kappa"].size)
        for sub, crn in zip(splits, crns, strict=True):
            for a in range(0, out.size, 1000):
                sl = slice(a, a + 1000)
                out[sl] += _split_loglik(sub, d["kappa"][sl], d["kappa_tpp"][sl], d["nu"][sl],
                                         d["bias"][sl], n_t, crn=crn)
        return out

    draws = {"kappa": prior.kappa, "kappa_tpp": prior.kappa_tpp, "nu": prior.nu,
             "bias": prior.bias}
    if population is not None:  # the prior's draws with their population rows
        i, y = population._latent(prior.kappa.size, np.random.default_rng(seed))
        again = _study_params(population._arrays(), i, y)
        if not all(np.allclose(again[k], draws[k]) for k in draws):
            raise ValueError("prior was not drawn from population with this seed: pass "
                             "population.discrepancy(runs, n_draws=len(prior.kappa), seed=seed) "
                             "as prior, or population=None")
    logw = loglik(draws)
    ess, stages = _ess(logw), 1
    min_ess = n_draws / 4 if min_ess is None else float(min_ess)
    if population is not None and ess < min_ess and max_stages > 1:
        while ess < min_ess and stages < max_stages:
            i, y, logw = _refine(population, i, y, logw, loglik, rng)
            ess, stages = _ess(logw), stages + 1
        draws = _study_params(population._arrays(), i, y)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    # systematic resampling, then shuffled
    pos = (rng.uniform() + np.arange(n_draws)) / n_draws
    idx = rng.permutation(np.minimum(np.searchsorted(np.cumsum(w), pos), w.size - 1))
    n_runs, n_splits = len(r), r["split"].nunique()
    left = f"; {n_failed} failed held-out runs left to the failure model" if n_failed else ""
    miss = draws["bias"] != 0
    models = "" if (prior.bias != 0).all() or not (prior.bias != 0).any() else \
        f"; weight of the model with a mean miss {np.mean(prior.bias != 0):.2f} -> " \
        f"{w[miss].sum():.2f}"
    how = f"importance ESS {ess:.0f} of {w.size}" if stages == 1 else \
        f"adaptive importance sampling, {stages} stages, ESS {ess:.0f} of {w.size}"
    if ess < MIN_UPDATE_ESS:
        import warnings

        from bayescale.errors import ConvergenceWarning

        warnings.warn(
            f"the discrepancy's update by {n_runs} held-out runs in {n_splits} splits rests on "
            f"few draws ({how}), so its intervals beyond the data are coarse: look at its "
            f".residuals for held-out runs far above their forecast that did not count as "
            f"failures, or splits that agree on a deviation far below what the prior expects; "
            f"pass population= (adaptive stages) if you did not, or use discrepancy='prior'",
            ConvergenceWarning, stacklevel=2)
    return replace(prior, kappa=draws["kappa"][idx], kappa_tpp=draws["kappa_tpp"][idx],
                   nu=draws["nu"][idx], bias=draws["bias"][idx], residuals=residuals,
                   source=f"{prior.source} updated by {n_runs} held-out runs in {n_splits} "
                          f"splits ({how}{models}{left})")


# --------------------------------------------------------------------------- predictions

#: Columns every predicted row carries: where it lies relative to the fitted runs.
DISTANCE_COLUMNS = ("extrapolation", "decades_C", "tokens_per_param", "decades_tpp")


def _fit_runs(fit: Any, group: Any) -> pd.DataFrame:
    """The runs a prediction extrapolates from: an observed group's own, else all the fit's."""
    runs = fit.runs
    if fit.groups and isinstance(group, str) and group in fit.groups:
        from bayescale.modeling.model import group_labels

        sub = runs[(group_labels(runs, fit.spec.groups) == group).to_numpy()]
        if len(sub):
            return sub
    return runs


def discrepancy_to_dataset(disc: Discrepancy):
    """The discrepancy as an ``xarray.Dataset`` for a netCDF file (no pickle).

    Draws along ``discrepancy_draw`` (``deviation_kappa``, ``deviation_kappa_tpp``,
    ``deviation_nu``, ``deviation_bias``), the residual table it was learned from along
    ``held_out`` (one variable per column), everything else in ``attrs``;
    :func:`discrepancy_from_dataset` reads it back.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import (Discrepancy, discrepancy_from_dataset,
    ...                                              discrepancy_to_dataset)
    >>> disc = Discrepancy(np.full(4, 0.02), 1e21, tpp_range=(5.0, 40.0), note="why")
    >>> back = discrepancy_from_dataset(discrepancy_to_dataset(disc))
    >>> bool(np.array_equal(back.kappa, disc.kappa)), back.tpp_range, back.note
    (True, (5.0, 40.0), 'why')
    """
    import xarray as xr

    dim = "discrepancy_draw"
    res = disc.residuals.reset_index(drop=True)
    ds = (xr.Dataset.from_dataframe(res.rename_axis("held_out").astype(
        {c: str for c in res.columns if res[c].dtype == object
         or str(res[c].dtype).startswith("str")}))
        if len(res) else xr.Dataset())
    for name in ("kappa", "kappa_tpp", "nu", "bias"):  # prefixed: the residuals have a "nu"
        ds[f"deviation_{name}"] = xr.DataArray(np.asarray(getattr(disc, name), dtype=float),
                                               dims=(dim,))
    ds.attrs.update({
        "train_max": float(disc.train_max), "by": disc.by, "shared": int(disc.shared),
        "prior_scale": float(disc.prior_scale), "source": disc.source, "note": disc.note,
        "tpp_range": json.dumps(list(disc.tpp_range) if disc.tpp_range else None),
    })
    return ds


def discrepancy_from_dataset(ds: Any) -> Discrepancy:
    """A :class:`Discrepancy` from :func:`discrepancy_to_dataset`'s ``Dataset``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.discrepancy import (Discrepancy, discrepancy_from_dataset,
    ...                                              discrepancy_to_dataset)
    >>> discrepancy_from_dataset(discrepancy_to_dataset(Discrepancy(np.ones(2), 1e20))).kappa
    array([1., 1.])
    """
    a = ds.attrs
    held = [v for v in ds.data_vars if "held_out" in ds[v].dims]
    res = (ds[held].to_dataframe().reset_index(drop=True) if held else pd.DataFrame())
    tpp = json.loads(a.get("tpp_range", "null"))
    return Discrepancy(
        kappa=np.asarray(ds["deviation_kappa"]), train_max=float(a["train_max"]),
        by=str(a["by"]), residuals=res, prior_scale=float(a["prior_scale"]),
        kappa_tpp=np.asarray(ds["deviation_kappa_tpp"]), tpp_range=tuple(tpp) if tpp else None,
        nu=np.asarray(ds["deviation_nu"]), shared=bool(int(a["shared"])),
        source=str(a["source"]), bias=np.asarray(ds["deviation_bias"]),
        note=str(a.get("note", "")))


def resolve_discrepancy(fit: Any, discrepancy: Any, group: Any = None) -> Discrepancy | None:
    """The discrepancy a prediction uses.

    ``True`` (the default): the fit's own, :meth:`ScalingFit.default_discrepancy
    <bayescale.ScalingFit.default_discrepancy>` (the empirical prior updated by the fit's runs'
    leave-future-out splits, learned once per fit; the prior alone where the runs allow no
    split); ``"prior"``: the empirical prior alone, a new study's draws; ``False`` or ``None``:
    none; a :class:`Discrepancy`: itself.  The empirical prior was learned on log loss, so for
    laws that predict another target (downstream error, a target loss from a link law) ``True``
    and ``"prior"`` mean none.  For a hierarchical fit ``True`` is the observed ``group``'s own
    (learned on its runs alone), and the prior alone for a new group; the draws are measured from
    the edge of ``group``'s own runs.

    Examples
    --------
    >>> resolve_discrepancy(fit, "prior").source       # doctest: +SKIP
    'empirical prior'
    >>> resolve_discrepancy(fit, False) is None        # doctest: +SKIP
    True
    """
    if discrepancy is None or discrepancy is False:
        return None
    if isinstance(discrepancy, Discrepancy):
        return discrepancy
    if discrepancy is True or (isinstance(discrepancy, str) and discrepancy == "prior"):
        if fit.law.target != "loss":
            return None
        runs = _fit_runs(fit, group)
        if "C" not in runs.columns:
            return None
        if discrepancy is True:
            from bayescale.evaluation.discrepancy import fit_discrepancy

            return fit_discrepancy(fit, group)  # measured from the runs it was learned on
        return Discrepancy.default(runs)
    raise ValueError(f"discrepancy must be True (the default: the empirical prior updated by the "
                     f"fit's own leave-future-out splits), 'prior' (the empirical prior alone), "
                     f"False (none) or a Discrepancy (e.g. bayescale.learn_discrepancy(runs, "
                     f"law)), not {discrepancy!r}")


def forecast_distance(fit: Any, given: Mapping[str, Any], n_points: int, *, group: Any = None,
                      by: str = "C", flops: float = 6.0) -> tuple[np.ndarray | None, pd.DataFrame]:
    """How far each predicted point lies from the fit's runs, and its values along ``by``.

    Parameters
    ----------
    fit : ScalingFit
        The fit whose runs define the data (an observed group's own runs for ``group``).
    given : mapping
        The prediction's inputs (``N``, ``D``, ``C``, ...; None where not given).
    n_points : int
        Number of predicted points (inputs are broadcast to it).
    group : str, optional
        The group predicted, for hierarchical fits.
    by : {"C", "N"}
        The scale the discrepancy grows along (its values are returned).
    flops : float
        FLOPs per parameter per token, to derive C from N and D.

    Returns
    -------
    (numpy.ndarray or None, pandas.DataFrame)
        Values of ``by`` at the points (None if they cannot be derived), and the columns
        :data:`DISTANCE_COLUMNS`: ``extrapolation`` ("inside" or "beyond" the data),
        ``decades_C`` (decades of compute beyond the largest run), ``tokens_per_param`` and
        ``decades_tpp`` (decades of D / N outside the runs' range; NaN without N and D).

    Examples
    --------
    >>> along, dist = forecast_distance(fit, {"N": 7e10, "D": 1.4e12}, 1)   # doctest: +SKIP
    >>> dist.to_dict("records")                                             # doctest: +SKIP
    [{'extrapolation': 'beyond', 'decades_C': 1.66, 'tokens_per_param': 20.0, 'decades_tpp': 0.0}]
    """
    vals = {k: np.broadcast_to(np.atleast_1d(np.asarray(v, dtype=float)).ravel(), (n_points,))
            for k, v in given.items() if v is not None and k in ("N", "D", "C")}
    if "C" not in vals and {"N", "D"} <= set(vals):
        vals["C"] = flops * vals["N"] * vals["D"]
    if "D" not in vals and {"N", "C"} <= set(vals):
        vals["D"] = vals["C"] / (flops * vals["N"])
    if "N" not in vals and {"D", "C"} <= set(vals):
        vals["N"] = vals["C"] / (flops * vals["D"])
    runs = _fit_runs(fit, group)
    nan = np.full(n_points, np.nan)
    d_c = extrapolation_distance(vals["C"], float(runs["C"].max())) \
        if "C" in vals and "C" in runs.columns else nan
    tpp, d_t = nan, nan
    if {"N", "D"} <= set(vals):
        tpp = vals["D"] / vals["N"]
        if {"N", "D"} <= set(runs.columns):
            r = data_range(runs, "C") if "C" in runs.columns else data_range(runs, "N")
            d_t = tpp_distance(tpp, r["tpp_min"], r["tpp_max"])
    beyond = (np.nan_to_num(d_c) > 0) | (np.nan_to_num(d_t) > 0)
    table = pd.DataFrame({"extrapolation": np.where(beyond, "beyond", "inside"),
                          "decades_C": d_c, "tokens_per_param": tpp, "decades_tpp": d_t})
    return vals.get(by), table


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
        params = fit.draws(kind="sampled", group=group, rng=rng)
        p2 = {k: np.asarray(v).reshape(-1, 1) for k, v in params.items()}
        sub = {k: v[idx][None, :] for k, v in inputs.items()}
        out[:, idx] = np.broadcast_to(law.log_loss(p2, sub, fit.reference), (n_draws, len(idx)))
    return out


def no_mean_beyond(mean: Any, extrapolation: Any) -> np.ndarray:
    """``mean`` with NaN where a forecast carries the extrapolation discrepancy (beyond the runs).

    The discrepancy deviates the *log* loss by a Student-t draw scaled by a log-normal study
    scale, so the loss itself has no finite mean there (the sample mean is set by the few
    largest draws and by the clip of the deviates); medians and intervals are what to read.

    Examples
    --------
    >>> from bayescale.posterior.discrepancy import no_mean_beyond
    >>> no_mean_beyond([2.0, 2.5], ["inside", "beyond"]).tolist()
    [2.0, nan]
    """
    mean = np.asarray(mean, dtype=float).copy()
    mean[np.asarray(extrapolation) != "inside"] = np.nan
    return mean
