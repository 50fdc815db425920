"""The observation-noise model, written once: draws, densities and the model's observed variable.

A training run's log loss is the law's log loss plus noise::

    log loss = mu + sigma * eps,   eps ~ Normal(0, 1)   or   StudentT(nu)

The Student-t likelihood (the default) keeps the Bayesian counterpart of Besiroglu et al.'s
Huber loss robust to diverged runs and digitisation outliers.  Its degrees of freedom are held
above :data:`NU_MIN` = 2 (the spec's prior truncated there), so a new run's loss always has a
finite mean and variance: with ``nu`` near 1, as fits of real sweeps that mix learning rates
drifted to before, a predictive *mean* of ``exp(log loss)`` is dominated by single draws and
printed as 1e11 next to a median of 2.7.  (``exp`` of a Student-t variable has no finite mean
for any ``nu``; the predictive tables therefore report the mean of the *law* and the median and
quantiles of a new run, and clip the noise draws at :data:`EPS_CLIP` standard units, far beyond
any quantile a table reports.)

Everything else in bayescale that needs noise (prediction, grids, backtests, decisions, the
report, plots) calls the functions here rather than writing its own draw.

**Failed runs.**  Training runs fail upward (divergence, loss spikes, overfitting after many
epochs of repeated data); they do not fail downward.  The symmetric Student-t keeps the fit
robust to them but gives a new run's loss no upward skew: on Muennighoff et al.'s runs, six
forecasts of runs that blew up (loss 5.9-11, log residuals +0.6 to +1.1) sat 12-23 scale units
above our 95% intervals.  So a new run's loss (``noise=True`` everywhere) is a mixture: with
probability ``p`` the run fails and its log loss sits ``size`` above where it would have been.
:class:`RunFailures` learns both from the fit's own runs: a run whose log loss is more than
:data:`FAIL_Z` robust standard deviations (1.4826 x the median absolute deviation of the
residuals about their median) above the fitted curve counts as failed; ``p ~ Beta(1/2 + k,
1/2 + n - k)`` for ``k`` failures of ``n`` runs (Jeffreys' prior) and ``size`` is one of the
failed runs' excesses, resampled.  Without a failed run there is no failure component.

Examples
--------
>>> import numpy as np
>>> from bayescale.modeling.noise import noise_eps
>>> eps = noise_eps(np.random.default_rng(0), (4, 3), nu=np.array([3.0, 5.0, 30.0, 8.0]))
>>> eps.shape
(4, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["EPS_CLIP", "FAIL_Z", "NU_MIN", "RunFailures", "new_run", "new_run_cdf", "noise_cdf",
           "noise_eps", "noise_logpdf", "noise_quantile", "observe", "perturb"]

#: Lower bound of the Student-t degrees of freedom: the predictive mean and variance exist.
NU_MIN = 2.0

#: Noise draws are clipped at this many scale units (a 1-in-10^6 event for nu = 2.5): the
#: quantiles reported are unchanged and a single draw cannot dominate a mean.
EPS_CLIP = 30.0

#: A run whose log loss sits more than this many robust standard deviations above the fitted
#: curve counts as a failed run (:class:`RunFailures`).  Under the fits' own Student-t noise
#: with nu = 2, 0.5% of runs would pass it by chance (the MAD of t_2 is 0.816 sigma, so 8
#: robust sd are 9.7 sigma, and P(t_2 > 9.7) = 0.0052); under Normal noise 6e-16.
FAIL_Z = 8.0


def _shaped(v: Any, ndim: int) -> np.ndarray:
    """Per-draw values ``(S,)`` reshaped to broadcast against ``(S, ...)`` arrays."""
    a = np.asarray(v, dtype=float)
    return a.reshape(a.shape + (1,) * (ndim - a.ndim)) if a.ndim else a


def noise_eps(rng: np.random.Generator, shape: tuple[int, ...], nu: Any = None) -> np.ndarray:
    """Standardised noise draws of ``shape`` (axis 0: posterior draws), Normal or Student-t.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    shape : tuple of int
        Output shape; ``nu`` (if given) is per draw, along axis 0.
    nu : array_like, optional
        Student-t degrees of freedom per draw (``(S,)``) or a scalar; None for Normal noise.

    Returns
    -------
    numpy.ndarray
        Draws clipped to ``[-EPS_CLIP, EPS_CLIP]``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import noise_eps
    >>> noise_eps(np.random.default_rng(1), (2, 2)).shape
    (2, 2)
    """
    if nu is None:
        eps = rng.standard_normal(size=shape)
    else:
        df = np.broadcast_to(_shaped(nu, len(shape)), shape)
        eps = standard_t_like_scipy(rng, df, shape)
    return np.clip(eps, -EPS_CLIP, EPS_CLIP)


def standard_t_like_scipy(rng: np.random.Generator, df: np.ndarray,
                          shape: tuple[int, ...]) -> np.ndarray:
    """Unclipped standard Student-t draws, the numbers SciPy's Student-t sampler draws.

    SciPy's ``t._rvs`` is this one numpy call on the generator it is given; the prior
    predictive's Student-t noise is drawn with it (:mod:`bayescale.sampling.prior_rng`), so that
    prior draws neither import ``scipy.stats`` nor change, and so is :func:`noise_eps`'s (which
    clips it; the prior predictive is not clipped, because it must stay PyMC's).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import standard_t_like_scipy
    >>> standard_t_like_scipy(np.random.default_rng(0), np.full(3, 4.0), (3,)).shape
    (3,)
    """
    return rng.standard_t(df, size=shape)


def perturb(log_mu: np.ndarray, sigma: Any, nu: Any, rng: np.random.Generator, *,
            fail_p: Any = None, fail_size: Any = None) -> np.ndarray:
    """A new run's log loss per draw: ``log_mu + sigma * eps`` (axis 0 of ``log_mu``: draws).

    ``sigma`` (and ``nu``) are per draw ``(S,)`` or scalars; ``sigma=None`` returns ``log_mu``.
    With ``fail_p`` and ``fail_size`` (per draw, from :meth:`RunFailures.draws`) each point of
    draw ``s`` also fails with probability ``fail_p[s]``, adding ``fail_size[s]``; the
    uniforms for that are drawn after the noise, so the noise draws do not change.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import perturb
    >>> out = perturb(np.zeros((3, 2)), np.array([0.01, 0.02, 0.0]), None,
    ...               np.random.default_rng(0))
    >>> bool(np.all(out[2] == 0))
    True
    """
    log_mu = np.asarray(log_mu, dtype=float)
    if sigma is None:
        return log_mu
    eps = noise_eps(rng, log_mu.shape, nu)
    out = log_mu + _shaped(sigma, log_mu.ndim) * eps
    if fail_p is not None:
        out = out + failure_shift(rng, log_mu.shape, fail_p, fail_size)
    return out


def new_run(log_mu: np.ndarray, noise: Any, rng: np.random.Generator) -> np.ndarray:
    """:func:`perturb` with every noise parameter read from one mapping of per-draw arrays
    (``fit.draws(kind="noise")`` or a decision's draws: ``sigma``, and ``nu``, ``fail_p``,
    ``fail_size`` where present): a new run's log loss, failures included.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import new_run, perturb
    >>> nd = {"sigma": np.full(3, 0.01), "fail_p": np.full(3, 0.5), "fail_size": np.ones(3)}
    >>> a = new_run(np.zeros((3, 2)), nd, np.random.default_rng(0))
    >>> b = perturb(np.zeros((3, 2)), nd["sigma"], None, np.random.default_rng(0),
    ...             fail_p=nd["fail_p"], fail_size=nd["fail_size"])
    >>> bool(np.array_equal(a, b))
    True
    """
    return perturb(log_mu, noise["sigma"], noise.get("nu"), rng, fail_p=noise.get("fail_p"),
                   fail_size=noise.get("fail_size"))


def failure_shift(rng: np.random.Generator, shape: tuple[int, ...], fail_p: Any,
                  fail_size: Any) -> np.ndarray:
    """Additive log-loss shifts of failed runs: ``fail_size[s]`` with probability ``fail_p[s]``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import failure_shift
    >>> out = failure_shift(np.random.default_rng(0), (2000, 3), np.full(2000, 0.1),
    ...                     np.full(2000, 0.5))
    >>> sorted(set(out.ravel().tolist())), bool(0.08 < np.mean(out > 0) < 0.12)
    ([0.0, 0.5], True)
    """
    p = _shaped(fail_p, len(shape))
    size = _shaped(fail_size, len(shape))
    hit = rng.uniform(size=shape) < p
    return np.where(hit, size, 0.0)


def new_run_cdf(d: Any, sigma: Any, nu: Any = None, fail_p: Any = None,
                fail_size: Any = None) -> np.ndarray:
    """P(a new run's log loss <= law's log loss + ``d``), per draw: the noise CDF at
    ``d / sigma``, mixed with a failed run's (``d - fail_size``) with weight ``fail_p``.

    All arguments broadcast (per-draw values shaped to ``d``'s leading axis by the caller).

    Examples
    --------
    >>> from bayescale.modeling.noise import new_run_cdf
    >>> float(new_run_cdf(0.0, 0.1))
    0.5
    >>> round(float(new_run_cdf(0.0, 0.1, None, 0.2, 1.0)), 6)   # a failed run is above
    0.4
    """
    cdf = noise_cdf(np.asarray(d, dtype=float) / sigma, nu)
    if fail_p is None:
        return cdf
    failed = noise_cdf((np.asarray(d, dtype=float) - fail_size) / sigma, nu)
    return (1.0 - fail_p) * cdf + fail_p * failed


@dataclass(frozen=True)
class RunFailures:
    """Failed runs among a fit's runs, and the chance that a new run fails like them.

    A run fails when its log loss sits more than ``threshold`` robust standard deviations
    above the fitted curve (module docstring).  ``k`` of ``n`` runs failed, by ``sizes`` (their
    log-loss excesses over the median residual).

    Attributes
    ----------
    k, n : int
        Failed runs and all runs.
    sizes : numpy.ndarray
        The failed runs' excesses (log loss), ``(k,)``, smallest first.
    scale : float
        The robust standard deviation of the residuals (log loss).
    threshold : float
        :data:`FAIL_Z` unless given.
    rows : numpy.ndarray
        Positions of the failed runs among the residuals given, in the order of ``sizes``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import RunFailures
    >>> r = np.r_[np.random.default_rng(0).normal(0, 0.01, 99), 0.8]
    >>> f = RunFailures.from_residuals(r)
    >>> f.k, f.n, round(float(f.sizes[0]), 1), f.rows.tolist()   # which run: the last
    (1, 100, 0.8, [99])
    >>> d = f.draws(4000, np.random.default_rng(1))
    >>> round(float(np.mean(d["fail_p"])), 3)       # (1/2 + 1) / (1 + 100)
    0.015
    """

    k: int
    n: int
    sizes: np.ndarray
    scale: float
    threshold: float = FAIL_Z
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @classmethod
    def from_residuals(cls, residuals: Any, threshold: float = FAIL_Z) -> RunFailures:
        """Classify runs by their log-loss residuals about the fitted curve.

        Examples
        --------
        >>> from bayescale.modeling.noise import RunFailures
        >>> RunFailures.from_residuals([0.0, 0.01, -0.01, 0.02, -0.02]).k
        0
        """
        full = np.asarray(residuals, dtype=float).reshape(-1)
        keep = np.flatnonzero(np.isfinite(full))
        r = full[keep]
        if r.size == 0:
            return cls(0, 0, np.zeros(0), float("nan"), float(threshold))
        centre = float(np.median(r))
        scale = 1.4826 * float(np.median(np.abs(r - centre)))
        if not scale > 0:
            return cls(0, int(r.size), np.zeros(0), scale, float(threshold))
        excess = r - centre
        hit = np.flatnonzero(excess > threshold * scale)
        hit = hit[np.argsort(excess[hit], kind="stable")]
        return cls(int(hit.size), int(r.size), excess[hit], scale, float(threshold), keep[hit])

    def draws(self, n_draws: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Per posterior draw: the chance of failing (``fail_p``) and a failure's excess
        (``fail_size``); an empty dict when no run failed.

        Examples
        --------
        >>> import numpy as np
        >>> from bayescale.modeling.noise import RunFailures
        >>> RunFailures.from_residuals(np.zeros(3)).draws(10, np.random.default_rng(0))
        {}
        """
        if self.k == 0:
            return {}
        p = rng.beta(0.5 + self.k, 0.5 + self.n - self.k, size=n_draws)
        return {"fail_p": p, "fail_size": rng.choice(self.sizes, size=n_draws)}

    @property
    def rate(self) -> float:
        """Posterior mean chance that a new run fails, ``(k + 1/2) / (n + 1)``; 0 without
        a failed run."""
        return 0.0 if self.k == 0 else (self.k + 0.5) / (self.n + 1.0)

    def __str__(self) -> str:
        if self.k == 0:
            return (f"no failed runs: none of the {self.n} runs sits more than "
                    f"{self.threshold:g} robust sd above the curve")
        lo, hi = np.min(self.sizes), np.max(self.sizes)
        by = f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g}-{hi:.2g}"
        return (f"{self.k} of {self.n} runs failed (log loss {self.threshold:g}+ robust sd "
                f"above the curve, by {by}); a new run fails with probability {self.rate:.1%}")


def noise_logpdf(y: Any, mu: Any, sigma: Any, nu: Any = None) -> np.ndarray:
    """Log density of observed log losses ``y`` under the noise model (numpy, broadcasting).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import noise_logpdf
    >>> round(float(noise_logpdf(0.0, 0.0, 1.0)), 4)
    -0.9189
    """
    from scipy import stats

    if nu is None:
        return stats.norm.logpdf(y, loc=mu, scale=sigma)
    return stats.t.logpdf(y, df=nu, loc=mu, scale=sigma)


def noise_cdf(z: Any, nu: Any = None) -> np.ndarray:
    """CDF of the standardised noise at ``z`` (Normal, or Student-t with ``nu``).

    Examples
    --------
    >>> from bayescale.modeling.noise import noise_cdf
    >>> float(noise_cdf(0.0, 3.0))
    0.5
    """
    from scipy import special

    if nu is None:
        return special.ndtr(z)
    return special.stdtr(nu, z)


def noise_quantile(q: Any, nu: Any = None) -> np.ndarray:
    """Inverse CDF of the standardised noise (Normal, or Student-t with ``nu``; Normal where
    ``nu`` is infinite), elementwise over broadcast ``q`` and ``nu``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.modeling.noise import noise_cdf, noise_quantile
    >>> z = noise_quantile(0.9, 3.0)
    >>> float(noise_quantile(0.5, 3.0)), float(np.round(noise_cdf(z, 3.0), 12))
    (0.0, 0.9)
    >>> noise_quantile([0.5, 0.975], [np.inf, np.inf]).round(2).tolist()
    [0.0, 1.96]
    """
    from scipy import special

    if nu is None:
        return special.ndtri(q)
    q, nu = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(nu, dtype=float))
    fin = np.isfinite(nu)
    return np.where(fin, special.stdtrit(np.where(fin, nu, 1.0), q), special.ndtri(q))


def observe(name: str, family: str, mu: Any, sigma: Any, nu: Any, observed: Any, dims: Any):
    """Create the model's observed variable (inside a ``pm.Model`` context).

    Examples
    --------
    >>> import pymc as pm
    >>> from bayescale.modeling.noise import observe
    >>> with pm.Model():
    ...     s = pm.HalfNormal("s", 1.0)
    ...     v = observe("y", "normal", 0.0, s, None, [0.1, -0.2], None)
    >>> v.name
    'y'
    """
    import pymc as pm

    if family == "normal":
        return pm.Normal(name, mu=mu, sigma=sigma, observed=observed, dims=dims)
    return pm.CustomDist(name, mu, sigma, nu, dist=_student_t_dist, logp=student_t_logp,
                         observed=observed, dims=dims)


def _student_t_dist(mu, sigma, nu, size):
    import pymc as pm

    return pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma, size=size)


def student_t_logp(value, mu, sigma, nu):
    """``pymc.StudentT``'s log density, in a form cheaper per observation (PyTensor).

    ``log t(v | nu, mu, sigma) = c(nu, sigma) - (nu + 1) / 2 * log(nu sigma^2 + (v - mu)^2)``
    with ``c = gammaln((nu + 1) / 2) - gammaln(nu / 2) - log(pi) / 2 + nu / 2 * log(nu sigma^2)``:
    the same function as ``pm.logp(pm.StudentT.dist(nu, mu, sigma), v)`` (to ~1e-14 per
    observation), with one ``log`` and no division per observation, and a gradient with one
    division.  On the 100-group, 5,000-run benchmark hierarchy it cut the log density and
    gradient evaluation by about a third (``benchmarks/hierarchical_bench.py``).  Checks
    ``sigma > 0`` and ``nu > 0`` as PyMC's does (``-inf`` in a model's log density).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> from bayescale.modeling.noise import student_t_logp
    >>> v = np.array([0.1, -0.3, 2.0])
    >>> ours = student_t_logp(v, 0.05, 0.2, 4.0).eval()
    >>> theirs = pm.logp(pm.StudentT.dist(nu=4.0, mu=0.05, sigma=0.2), v).eval()
    >>> bool(np.allclose(ours, theirs, rtol=1e-13, atol=1e-13))
    True
    """
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import check_parameters

    s2nu = sigma ** 2 * nu
    half = (nu + 1.0) / 2.0
    const = pt.gammaln(half) - pt.gammaln(nu / 2.0) - 0.5 * np.log(np.pi) - 0.5 * pt.log(s2nu)
    # log1p(d^2 / s2nu) written as log((s2nu + d^2) / s2nu) with the scalar 1 / s2nu computed
    # once: libm's log is markedly cheaper than log1p, and no large terms cancel
    res = const - half * pt.log((s2nu + pt.sqr(value - mu)) * pt.reciprocal(s2nu))
    return check_parameters(res, sigma > 0, nu > 0, msg="sigma > 0, nu > 0")
