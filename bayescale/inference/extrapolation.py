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

from bayescale.modeling.noise import perturb

__all__ = [
    "Discrepancy",
    "estimate_kappa",
    "extrapolation_distance",
    "learn_discrepancy",
    "log_mu_draws",
    "resample_draws",
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

    def sd(self, values: Any, n_draws: int | None = None,
           rng: np.random.Generator | None = None) -> np.ndarray:
        """Discrepancy standard deviations, shape ``(n_draws, n_points)``.

        With ``n_draws``, the ``kappa`` draws are recycled (or thinned) to ``n_draws`` rows by
        :func:`resample_draws` (whole copies plus a random subset, in random order), so every
        row count sees the same distribution of ``kappa``; ``rng`` (default: seed 0) makes
        the choice.

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.inference.extrapolation import Discrepancy
        >>> disc = Discrepancy(np.linspace(0.0, 0.04, 4000), train_max=1.0)
        >>> sd = disc.sd([10.0], n_draws=1000, rng=np.random.default_rng(0))
        >>> sd.shape, bool(sd.max() > 0.039)
        ((1000, 1), True)
        """
        d = extrapolation_distance(np.atleast_1d(values), self.train_max)
        k = self.kappa
        if n_draws is not None:
            k = resample_draws(k, n_draws, np.random.default_rng(0) if rng is None else rng)
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
        sd = self.sd(values, n_draws=log_draws.shape[0], rng=rng)
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
    >>> from bayescale.inference.extrapolation import resample_draws
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
    # shuffled: stratified draws come out sorted, and a consumer that keeps the first n of
    # them (as np.resize did) would see only the smallest kappas
    return np.interp(rng.permutation(u), cdf, grid)


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
    log_draws = perturb(log_draws, noise["sigma"], noise.get("nu"), rng)
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


#: Fewest larger runs an automatically chosen inner split holds out to predict.
MIN_HELD_OUT = 2
#: Inner splits (orders of magnitude below the largest run) tried first when none are given.
DEFAULT_SPLITS = (0.5, 1.0)


def _identifies(train: pd.DataFrame, law: Any) -> bool:
    """Whether ``train`` can identify ``law`` (the design check of :func:`bayescale.fit`)."""
    import warnings

    from bayescale.data.runs import check_design
    from bayescale.errors import RunsTableError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_design(train, law)
    except RunsTableError:
        return False
    return True


def _feasible_cuts(sub: pd.DataFrame, by: str, n_min: int, law: Any) -> np.ndarray:
    """Run values ``c`` of ``by`` whose split (fit ``by <= c``, predict ``by > c``) leaves
    ``>= n_min`` runs that identify the law and ``>= MIN_HELD_OUT`` runs to predict."""
    v = sub[by].to_numpy(dtype=float)
    u = np.unique(v)
    n_train = np.searchsorted(np.sort(v), u, side="right")
    cand = u[(n_train >= n_min) & (v.size - n_train >= MIN_HELD_OUT)]
    # more runs never identify a law less (distinct values only grow): the first cutoff
    # whose runs identify it starts the feasible ones
    for j, c in enumerate(cand):
        if _identifies(sub[v <= c], law):
            return cand[j:]
    return cand[:0]


def _largest_train(sub: pd.DataFrame, by: str, law: Any) -> int:
    """Most runs an inner fit can have while ``MIN_HELD_OUT`` larger runs are left (0: none)."""
    v = sub[by].to_numpy(dtype=float)
    u = np.unique(v)
    n_train = np.searchsorted(np.sort(v), u, side="right")
    ok = v.size - n_train >= MIN_HELD_OUT
    if ok.any() and _identifies(sub[v <= u[ok][-1]], law):
        return int(n_train[ok][-1])
    return 0


def _split_for(top: float, cut_low: float, cut_high: float | None) -> float:
    """An inner split (orders of magnitude) whose cutoff keeps the runs up to ``cut_low`` and
    none above: the middle of ``(log10(top / cut_high), log10(top / cut_low)]``."""
    d_hi = np.log10(top / cut_low)
    d_lo = d_hi - 0.2 if cut_high is None else np.log10(top / cut_high)
    mid = 0.5 * (d_lo + d_hi)
    for digits in (2, 3, 4, 6, 10):
        x = float(f"{mid:.{digits}g}")
        if d_lo < x <= d_hi:
            return x
    return float(mid)


def _inner_cuts(sub: pd.DataFrame, by: str, splits: Sequence[float] | None, n_min: int,
                law: Any) -> list[tuple[int, str, float]]:
    """Inner cutoffs of one group: ``(index, name, cut)``, at most one per partition.

    Given ``splits``, each is used as it is (skipped if it leaves fewer than ``n_min`` runs to
    fit or none to predict).  Without, the feasible cutoffs are those leaving ``n_min`` runs
    that identify the law and :data:`MIN_HELD_OUT` to predict; :data:`DEFAULT_SPLITS` are
    scaled down if the largest is beyond the farthest feasible cutoff (so that it lands
    there), and each is used if feasible and otherwise moved to the nearest (in log ``by``)
    feasible cutoff.
    """
    v = sub[by].to_numpy(dtype=float)
    top = float(v.max())
    out: list[tuple[int, str, float]] = []
    seen: set[int] = set()
    if splits is not None:
        for i, dist in enumerate(sorted(float(x) for x in splits)):
            cut = top / 10.0**dist
            n_train = int(np.sum(v <= cut))
            if n_train < n_min or n_train == v.size or n_train in seen:
                continue
            seen.add(n_train)
            out.append((i, f"{dist:g}", cut))
        return out
    feasible = _feasible_cuts(sub, by, n_min, law)
    if feasible.size == 0:
        return out
    allowed = set(feasible.tolist())
    # scaled down when the runs do not reach the largest default split
    scale = min(1.0, float(np.log10(top / feasible.min())) / max(DEFAULT_SPLITS))
    for i, dist in enumerate(DEFAULT_SPLITS):
        d = dist * scale
        cut = top / 10.0**d
        below = v[v <= cut]
        if scale == 1.0 and below.size and float(below.max()) in allowed:
            name = f"{dist:g}"
        else:  # the nearest cutoff (in orders of magnitude) the data allow
            cut = float(feasible[np.argmin(np.abs(np.log10(feasible) - np.log10(cut)))])
            name = f"{np.log10(top / cut):.3g}"
        n_train = int(np.sum(v <= cut))
        if n_train in seen:
            continue
        seen.add(n_train)
        out.append((i, name, cut))
    return out


def _no_split_error(parts, *, by, splits, n_min, n_floor, min_train, law, n_params) -> str:
    """The message when no inner split is possible: what to pass instead."""
    sizes = ", ".join(f"{lab!r}: {len(sub)} runs" for lab, sub in parts[:6]) + \
        (", ..." if len(parts) > 6 else "")
    why = (f"min_train={min_train}" if min_train is not None else
           f"the default min_train = 3 x {n_params} law parameters + 2 = {n_min}")
    held = 1 if splits is not None else MIN_HELD_OUT
    head = (f"learn_discrepancy found no inner split of the runs ({sizes}): an inner split "
            f"fits law {law.name!r} to the runs with {by} at or below a cutoff, at least "
            f"{n_min} of them ({why}), and predicts at least {held} larger run"
            f"{'s' if held > 1 else ''}")
    if splits is not None:
        for lab, sub in parts:
            f = _feasible_cuts(sub, by, n_min, law)
            if not f.size:
                continue
            v = np.unique(sub[by].to_numpy(dtype=float))
            top = float(v.max())
            a, b = (_split_for(top, c, float(v[v > c].min())) for c in (f.max(), f.min()))
            pair = f"({a:g},)" if a == b else f"({a:g}, {b:g})"
            return (f"{head}; none of splits={tuple(splits)} (orders of magnitude below the "
                    f"largest run) does.  Pass splits= between {a:g} and {b:g} (e.g. "
                    f"splits={pair}, for group {lab!r}), or omit splits= to have them chosen "
                    "from the runs")
        head += f"; none of splits={tuple(splits)}, nor any other split, does"
    largest = max(_largest_train(sub, by, law) for _, sub in parts)
    if largest >= n_floor:
        # the largest min_train that leaves room for as many inner splits as any other
        counts = {k: sum(len(_inner_cuts(sub, by, None, k, law)) for _, sub in parts)
                  for k in range(largest, n_floor - 1, -1)}
        best = max(counts, key=lambda k: (counts[k], k))
        return (f"{head}.  Pass min_train= between {n_floor} (the fewest runs a fit of "
                f"{law.name!r} takes) and {largest}: min_train={best} leaves room for "
                f"{counts[best]} inner split{'s' if counts[best] > 1 else ''}, and fewer "
                f"training runs lean more on the priors.  Or add runs")
    return (f"{head}, even with min_train={n_floor} (the fewest runs a fit of {law.name!r} "
            f"takes, one more than its law and noise parameters): add runs, or learn kappa "
            f"from a larger sweep and pass it as Discrepancy(kappa, train_max)")


def learn_discrepancy(
    runs: pd.DataFrame | str,
    law: str | None = None,
    *,
    spec: Any = None,
    by: str = "C",
    splits: Sequence[float] | None = None,
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

    By default the splits are 0.5 and 1 orders of magnitude below the largest run.  Where the
    runs do not allow that (a short sweep, such as a 16-run model ladder), the splits are chosen
    from the runs instead: both are scaled down so that the larger lands on the farthest cutoff
    that leaves ``min_train`` runs to fit, and each is moved to the nearest cutoff (in log
    ``by``) that leaves ``min_train`` runs to fit and 2 larger runs to predict.  The split names
    in ``residuals`` (``"<group>:<orders of magnitude>"``) give the distances used.

    Parameters
    ----------
    runs : DataFrame or path
        The runs the final fit uses (the inner splits never look beyond them).
    law, spec
        The law (name) or a full spec, as for :func:`bayescale.fit`.
    by : {"C", "N"}
        Scale along which extrapolation distance is measured.
    splits : sequence of float, optional
        Inner cutoffs, in orders of magnitude below the largest run, used exactly as given
        (those leaving fewer than ``min_train`` runs to fit, or none to predict, are skipped).
        Default: chosen from the runs, as above.
    groups : str or sequence of str, optional
        Grouping column(s) within which to split; errors are pooled across groups.
    prior_scale : float
        Half-normal prior scale on ``kappa`` (log-loss sd per order of magnitude).
    weighting : {"split", "run"}
        ``"split"`` (default): the held-out runs of one split share one unit of likelihood
        weight, because their errors are strongly correlated (a systematic miss, not independent
        noise); ``"run"``: every held-out run counts fully (over-confident about ``kappa``).
    min_train : int, optional
        Fewest runs an inner fit may use (default: ``3 x`` the number of law parameters + 2);
        at least one more than the law's and noise parameters.  Lower it for short sweeps:
        the error raised when no split is possible names the values that work.
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
        If no inner split has enough runs on both sides; the message says which ``min_train=``
        (or ``splits=``) values would work.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla", drop_outliers=True)
    >>> disc = bs.learn_discrepancy(runs, "chinchilla")          # doctest: +SKIP
    >>> print(disc)                                             # doctest: +SKIP

    A 16-run model ladder is too short for the default ``min_train`` of the Chinchilla law
    (17); the error says what to pass, e.g. ``min_train=12``:

    >>> disc = bs.learn_discrepancy(ladder, "chinchilla", min_train=12)   # doctest: +SKIP
    """
    from bayescale.inference.fit import _prepare, resolve_spec
    from bayescale.modeling.spec import NOISE_PARAMS

    if by not in ("C", "N"):
        raise ValueError(f"by must be 'C' or 'N', not {by!r}")
    if weighting not in ("split", "run"):
        raise ValueError(f"weighting must be 'split' or 'run', not {weighting!r}")
    s = resolve_spec(law, spec)
    table = _prepare(runs, s, columns, flops)
    if by not in table.columns:
        raise ValueError(f"the runs have no column {by!r} to measure extrapolation along")
    n_params = len(s.law_obj.params)
    n_floor = n_params + len(NOISE_PARAMS[s.likelihood]) + 1  # the fewest rows fit() takes
    if min_train is not None and not (isinstance(min_train, int | np.integer)
                                      and min_train >= n_floor):
        raise ValueError(
            f"min_train={min_train!r}: an inner fit of law {s.law_obj.name!r} needs an integer >= "
            f"{n_floor} runs (one more than its law and noise parameters); pass min_train >= "
            f"{n_floor}"
        )
    n_min = int(min_train) if min_train is not None else 3 * n_params + 2
    if splits is not None:
        splits = [float(x) for x in np.atleast_1d(splits)]
        bad = [x for x in splits if not (np.isfinite(x) and x > 0)]
        if not splits or bad:
            raise ValueError(
                f"splits must be positive orders of magnitude, not {bad[0] if bad else splits!r}"
                "; e.g. splits=(0.5, 1.0), or omit splits= to choose them from the runs"
            )
    kw = dict(draws=draws, tune=tune, chains=chains, progressbar=progressbar, prior_draws=0,
              warn=False, **fit_kwargs)
    gcols = [groups] if isinstance(groups, str) else list(groups or [])
    parts = []
    grouped = table.groupby(gcols, sort=True) if gcols else [("all", table)]
    subs = [("/".join(map(str, lab)) if isinstance(lab, tuple) else str(lab), sub)
            for lab, sub in grouped]
    plan = [(label, sub, _inner_cuts(sub, by, splits, n_min, s.law_obj)) for label, sub in subs]
    if not any(cuts for _, _, cuts in plan):
        raise ValueError(_no_split_error(
            subs, by=by, splits=splits, n_min=n_min, n_floor=n_floor, min_train=min_train,
            law=s.law_obj, n_params=n_params))
    for label, sub, cuts in plan:
        for i, name, cut in cuts:
            train, test = sub[sub[by] <= cut], sub[sub[by] > cut]
            parts.append(_split_residuals(
                train, test, law_spec=s, fit_kwargs=kw, by=by, split_name=f"{label}:{name}",
                group=label, seed=seed + i))
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
