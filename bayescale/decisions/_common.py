"""Shared machinery of the decision layer: argument checks, law evaluation on draws, optimisers.

Everything here works on plain numpy arrays of posterior draws of *natural* parameters
(``{"E": (S,), "A": (S,), ...}``) and is private; the public functions live in
:mod:`~bayescale.decisions.allocation`, :mod:`~bayescale.decisions.risk`,
:mod:`~bayescale.decisions.regret` and :mod:`~bayescale.decisions.robust`.

Conventions
-----------
- Work in logs: ``u = log N``, ``y = log D``, ``log C`` and ``log L``.  Laws expose
  ``law.log_loss_fn(xp, x, p)`` where ``x[k] = log(input_k / reference_k)``; with all reference
  scales equal to 1 the centred inputs are just the logs, so the optimisers never leave log
  space (no overflow for absurd budgets, and no ``exp``/``log`` round trip per evaluation).
- Arrays of draws are shaped ``(S, 1)`` when evaluated against ``(S, B)`` or ``(1, B)`` inputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import BayescaleError
from bayescale.formatting import level_label
from bayescale.laws import Law, get_law

__all__ = ["DecisionError", "UnreachableTargetError", "deprecated_alias",
           "warn_deprecated"]

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...
#: Largest number of (draw x budget) elements evaluated at once by the numeric optimiser.
MAX_ELEMENTS = 1 << 16
#: Relative tolerance on log N of the numeric optimiser (absolute tolerance ``XTOL * max(1, |u|)``).
XTOL = 1e-8
#: ``log D`` (or ``log N``) standing in for "infinitely many tokens" when probing asymptotes.
LOG_INF = 1.0e4


class DecisionError(BayescaleError, ValueError):
    """An argument of a decision function is invalid; the message names it and its value."""


class UnreachableTargetError(DecisionError):
    """A loss target cannot be reached (at the requested probability) at any budget searched."""


def warn_deprecated(old: str, new: str) -> None:
    """One :class:`DeprecationWarning` for a call of ``old``, naming ``new``, its replacement.

    Raised once per call (a deprecated name calls the implementation directly, never another
    deprecated name), attributed to the caller's line.

    Examples
    --------
    >>> import warnings
    >>> from bayescale.decisions._common import warn_deprecated
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_deprecated("old_name", "new_name")
    >>> str(caught[0].message)
    'old_name is deprecated; use new_name instead (same arguments where they exist, same numbers)'
    """
    import warnings

    warnings.warn(f"{old} is deprecated; use {new} instead (same arguments where they exist, "
                  "same numbers)", DeprecationWarning, stacklevel=3)


def deprecated_alias(impl: Any, old: str, new: str) -> Any:
    """A former public name of a decision: warns (:func:`warn_deprecated`), then calls ``impl``.

    Examples
    --------
    >>> import warnings
    >>> from bayescale.decisions._common import deprecated_alias
    >>> twice = deprecated_alias(lambda x: 2 * x, "pkg.old_twice", "pkg.twice(x)")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = twice(3)
    >>> value, twice.__name__, caught[0].category.__name__
    (6, 'old_twice', 'DeprecationWarning')
    """
    name = old.rsplit(".", 1)[-1]

    def alias(*args: Any, **kwargs: Any) -> Any:
        warn_deprecated(old, new)
        return impl(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = (f"Deprecated: use ``{new}``.\n\nThe same arguments and the same numbers as "
                     "before; the decision has one public name, which takes a fit or a mapping "
                     "of draws.\n")
    return alias


# --------------------------------------------------------------------------- laws and draws
def resolve_law(law: str | Law) -> Law:
    """``get_law`` with the error re-raised as a :class:`DecisionError` naming ``law``."""
    try:
        return get_law(law)
    except ValueError as exc:
        raise DecisionError(f"law: {exc}") from None


def is_nd_law(law: Law) -> bool:
    return set(law.inputs) == {"N", "D"} and len(law.inputs) == 2


def require_nd_law(law: Law, what: str) -> None:
    """Raise a clear error if ``law`` does not take ``N`` and ``D``."""
    if is_nd_law(law):
        return
    if tuple(law.inputs) == ("C",):
        raise DecisionError(
            f"law={law.name!r} has inputs ('C',): it models loss as a function of training "
            f"compute alone, so there is no split of compute between parameters N and tokens D "
            f"and {what} is undefined.  Fit a law with inputs ('N', 'D'), such as 'chinchilla' "
            f"or 'kaplan'; prob_below and budget_for_target do accept the compute law."
        )
    raise DecisionError(
        f"law={law.name!r} has inputs {law.inputs}; {what} needs a law with inputs ('N', 'D')"
    )


def _keys(draws: Any) -> list[str]:
    if hasattr(draws, "columns"):
        return [str(c) for c in draws.columns]
    return [str(k) for k in draws]


def check_mapping(draws: Any) -> None:
    if not (isinstance(draws, Mapping) or hasattr(draws, "columns")):
        raise DecisionError(
            "draws must be a mapping (or DataFrame) from natural parameter name to an array of "
            f"posterior draws, e.g. {{'E': ..., 'A': ..., 'alpha': ...}}; got "
            f"{type(draws).__name__}"
        )


def natural_draws(draws: Any, law: Law) -> tuple[dict[str, np.ndarray], int]:
    """Validate ``draws`` against ``law.natural``; return ``({name: (S,) float array}, S)``.

    Arrays must be 1-D ``(S,)`` (2-D arrays are refused: they are ambiguous between
    ``(chain, draw)`` and per-group ``(S, G)``).  A scalar counts as one draw.  Extra keys
    (``sigma``, ``nu``, ...) are ignored here.
    """
    check_mapping(draws)
    keys = _keys(draws)
    missing = [k for k in law.natural if k not in keys]
    if missing:
        hint = ""
        sampled = [p for p in law.param_names if p in keys and p not in law.natural]
        if sampled:
            hint = (
                f"  The draws look like the sampled parameterisation ({', '.join(sampled)}); "
                f"convert them with law.to_natural(params, reference) first."
            )
        raise DecisionError(
            f"draws are missing natural parameter(s) {missing} of law {law.name!r}, which needs "
            f"{list(law.natural)}; got keys {sorted(keys)}.{hint}"
        )
    arrays = {k: np.asarray(draws[k], dtype=float) for k in law.natural}
    shapes = {k: a.shape for k, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        desc = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise DecisionError(
            f"draws have mismatched shapes ({desc}); every parameter needs one value per "
            f"posterior draw, all with the same shape (usually (S,) with S = chains * draws)"
        )
    shape = next(iter(shapes.values()))
    if len(shape) > 1:
        raise DecisionError(
            f"draws must be 1-D arrays of shape (S,), one value per posterior draw; got shape "
            f"{shape}.  Flatten (chain, draw) arrays with .reshape(-1), and for a hierarchical "
            f"fit with per-group parameters (S, G) pick one group: {{k: v[:, g]}}"
        )
    out = {k: a.reshape(-1) for k, a in arrays.items()}
    n = next(iter(out.values())).size
    if n == 0:
        raise DecisionError("draws are empty (0 posterior draws); need at least one draw")
    for k, a in out.items():
        bad = ~np.isfinite(a)
        if bad.any():
            raise DecisionError(
                f"draws[{k!r}] has {int(bad.sum())} non-finite value(s) (first at draw "
                f"{int(np.argmax(bad))}: {a[bad][0]!r}); drop or fix those draws"
            )
    for k in _POSITIVE_NATURAL.get(tuple(law.natural), ()):
        bad = ~(out[k] >= 0) if k == "E" else ~(out[k] > 0)
        if bad.any():
            need = "non-negative" if k == "E" else "positive"
            raise DecisionError(
                f"draws[{k!r}] must be {need} for law {law.name!r}; {int(bad.sum())} draw(s) "
                f"are not (first at draw {int(np.argmax(bad))}: {out[k][bad][0]!r})"
            )
    return out, n


#: Natural parameters that must be positive (E: non-negative), keyed by the natural-parameter
#: tuple of the registered laws (chinchilla, kaplan, compute).
_POSITIVE_NATURAL: dict[tuple[str, ...], tuple[str, ...]] = {
    ("E", "A", "B", "alpha", "beta"): ("E", "A", "B", "alpha", "beta"),
    ("N_c", "D_c", "alpha_N", "alpha_D"): ("N_c", "D_c", "alpha_N", "alpha_D"),
    ("E", "A", "gamma"): ("E", "A", "gamma"),
}


def per_draw(value: Any, name: str, n: int, *, positive: bool, allow_zero: bool = False,
             allow_inf: bool = False) -> np.ndarray:
    """A scalar or per-draw array as a ``(n,)`` float array, validated."""
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        a = np.full(n, float(a))
    else:
        a = a.reshape(-1)
        if a.size != n:
            raise DecisionError(
                f"{name} has {a.size} values but the draws have {n}; pass a scalar or one value "
                f"per posterior draw"
            )
    ok = ~np.isnan(a) & (np.isfinite(a) | allow_inf)
    if positive:
        ok &= (a >= 0) if allow_zero else (a > 0)
    if not ok.all():
        i = int(np.argmax(~ok))
        need = "non-negative" if allow_zero else "positive"
        raise DecisionError(
            f"{name} must be {need} and finite; got {float(a[i])!r} (at draw {i})"
        )
    return a


def noise_draws(
    draws: Any, n: int, sigma: Any, nu: Any, noise: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Resolve observation-noise draws: explicit arguments win, else ``draws['sigma'/'nu']``."""
    if not noise:
        return None, None
    keys = _keys(draws)
    if sigma is None and "sigma" in keys:
        sigma = draws["sigma"]
    if nu is None and "nu" in keys:
        nu = draws["nu"]
    if sigma is None:
        return None, None
    s = per_draw(sigma, "sigma", n, positive=True, allow_zero=True)
    v = None if nu is None else per_draw(nu, "nu", n, positive=True, allow_inf=True)
    return s, v


def failure_draws(draws: Any, n: int, noise: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """A new run's per-draw chance of failing and a failure's log-loss excess,
    ``(draws["fail_p"], draws["fail_size"])`` validated, or None (no noise, or no failed runs;
    see :meth:`bayescale.ScalingFit.run_failures`).

    Examples
    --------
    >>> from bayescale.decisions._common import failure_draws
    >>> failure_draws({"fail_p": [0.1, 0.2], "fail_size": [0.5, 0.6]}, 2, True)[0].tolist()
    [0.1, 0.2]
    >>> failure_draws({"sigma": [0.1, 0.2]}, 2, True) is None
    True
    """
    if not noise:
        return None
    keys = _keys(draws)
    if "fail_p" not in keys and "fail_size" not in keys:
        return None
    if "fail_p" not in keys or "fail_size" not in keys:
        raise DecisionError("draws must hold both fail_p and fail_size (a new run's chance of "
                            "failing and its log-loss excess) or neither")
    p = per_draw(draws["fail_p"], "fail_p", n, positive=True, allow_zero=True)
    if np.any(p > 1):
        raise DecisionError(f"fail_p must be a probability in [0, 1]; got {float(p.max())!r}")
    size = per_draw(draws["fail_size"], "fail_size", n, positive=True, allow_zero=True)
    return p, size


def failure_curve(draws: Any, n: int, noise: bool) -> Any:
    """The draws' :attr:`~bayescale.posterior.result.PosteriorDraws.failures` when a new
    run's chance of failing depends on its tokens per parameter (a
    :class:`~bayescale.modeling.noise.FrozenFailures` of ``n`` draws), else None: a decision
    then reads the chance at each draw's own allocation instead of ``fail_p``.

    Examples
    --------
    >>> from bayescale.decisions._common import failure_curve
    >>> failure_curve({"fail_p": [0.1], "fail_size": [0.5]}, 1, True) is None   # a plain dict
    True
    """
    fr = getattr(draws, "failures", None)
    if not noise or fr is None or not getattr(fr, "depends_on_tpp", False):
        return None
    return fr if np.asarray(fr.flat).size == n else None


def sampled_params(law: Law, nat: Mapping[str, np.ndarray], extra_dims: int = 1) -> dict:
    """Law's sampled parameters (reference scales 1) reshaped to ``(S,) + (1,) * extra_dims``."""
    reference = {k: 1.0 for k in law.inputs}
    shaped = {k: v.reshape(v.shape + (1,) * extra_dims) for k, v in nat.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        return law.from_natural(shaped, reference)


def log_loss(law: Law, params: Mapping[str, Any], **logs: Any) -> np.ndarray:
    """Log loss from log inputs (``u=log N``...), with params from :func:`sampled_params`."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        return np.asarray(law.log_loss_fn(np, logs, params))


#: A frozen extrapolation discrepancy as the numpy core takes it: ``deviation(C, tpp)`` maps
#: budgets ``C`` and tokens per parameter ``tpp`` (``(P,)`` or ``(S, P)``; ``tpp`` None for a
#: law of compute alone) to each draw's deviation of the log loss, ``(S, P)``, always the same
#: for the same arguments (see :meth:`bayescale.Discrepancy.frozen`).  None: no discrepancy.
Deviation = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


def check_deviation(deviation: Any, s: int) -> Deviation | None:
    """``deviation`` (None, or a callable for ``s`` draws), validated."""
    if deviation is None:
        return None
    if not callable(deviation):
        raise DecisionError(
            f"deviation must be None or a callable deviation(C, tpp) -> (S, P) array, such as "
            f"bayescale.Discrepancy(...).frozen(S, rng); got {type(deviation).__name__}"
        )
    n = getattr(deviation, "n_draws", s)
    if n != s:
        raise DecisionError(
            f"deviation was frozen for {n} draws but the draws have {s}; freeze it with "
            f"Discrepancy.frozen(n_draws={s}, rng=...)"
        )
    return deviation


# --------------------------------------------------------------------------- scalars and arrays
def positive_values(x: Any, name: str, *, unit: str = "") -> tuple[np.ndarray, bool]:
    """A positive finite scalar or 1-D array -> ``(1-D array, was_scalar)``."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise DecisionError(
            f"{name} must be a positive number or array of numbers; got {x!r}"
        ) from None
    scalar = a.ndim == 0
    a = a.reshape(-1)
    if a.size == 0:
        raise DecisionError(f"{name} is empty; pass at least one value")
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        i = int(np.argmax(bad))
        where = "" if scalar else f" (at index {i})"
        raise DecisionError(f"{name} must be positive and finite{unit}; got {float(a[i])!r}{where}")
    return a, scalar


def check_prob(p: float, name: str, *, allow_one: bool = True) -> float:
    p = float(p)
    if not (0.0 < p < 1.0 or (allow_one and p == 1.0)):
        interval = "(0, 1]" if allow_one else "(0, 1)"
        raise DecisionError(f"{name} must be in {interval}; got {p!r}")
    return p


def check_levels(ci: Any) -> tuple[float, ...]:
    levels = (ci,) if np.ndim(ci) == 0 else tuple(ci)
    for lv in levels:
        if not 0.0 < float(lv) < 1.0:
            raise DecisionError(f"ci levels must be in (0, 1); got {lv!r} in ci={ci!r}")
    return tuple(float(lv) for lv in levels)


def summarise(
    values: Mapping[str, np.ndarray],
    index: Mapping[str, np.ndarray],
    ci: Sequence[float],
) -> pd.DataFrame:
    """Tidy summary: one row per column of ``index`` x quantity.

    ``values[q]`` are ``(S, B)`` arrays (NaNs ignored); ``index[name]`` are ``(B,)`` arrays that
    label the columns (e.g. ``budget``).  Columns: index names, ``quantity``, ``mean``, ``median``
    and ``lo_XX`` / ``hi_XX`` for each equal-tailed interval level.
    """
    levels = check_levels(ci)
    names = list(values)
    b = next(iter(values.values())).shape[1]
    probs = [0.5]
    for lv in levels:
        probs += [(1.0 - lv) / 2.0, (1.0 + lv) / 2.0]
    stacked = np.stack([np.asarray(values[q], dtype=float) for q in names])  # (Q, S, B)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, silently
        qs = np.nanquantile(stacked, probs, axis=1)  # (P, Q, B)
        mean = np.nanmean(stacked, axis=1)  # (Q, B)
    cols: dict[str, Any] = {}
    for name, arr in index.items():
        cols[name] = np.repeat(np.asarray(arr).reshape(-1), len(names))
    cols["quantity"] = np.tile(np.asarray(names, dtype=object), b)
    cols["mean"] = mean.T.reshape(-1)
    cols["median"] = qs[0].T.reshape(-1)
    for j, lv in enumerate(levels):
        lab = level_label(lv)
        cols[f"lo_{lab}"] = qs[1 + 2 * j].T.reshape(-1)
        cols[f"hi_{lab}"] = qs[2 + 2 * j].T.reshape(-1)
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- FLOP models
@dataclass(frozen=True)
class FlopModel:
    """Training FLOPs as ``k * N * D`` or as a user function ``flops(N, D)``.

    ``flops`` must broadcast over arrays and increase strictly in ``D`` for fixed ``N``.
    """

    k: float
    fn: Callable[[np.ndarray, np.ndarray], Any] | None = None

    @property
    def linear(self) -> bool:
        return self.fn is None

    def log_budget(self, u: Any, y: Any) -> np.ndarray:
        """``log C`` for ``log N = u`` and ``log D = y``."""
        if self.fn is None:
            return math.log(self.k) + np.asarray(u) + np.asarray(y)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            c = np.asarray(self.fn(np.exp(u), np.exp(y)), dtype=float)
            return np.log(c)

    def log_tokens(self, u: np.ndarray, log_c: np.ndarray) -> np.ndarray:
        """``log D`` on the budget line ``C(N, D) = C`` for ``log N = u``."""
        if self.fn is None:
            return log_c - math.log(self.k) - u
        return _solve_increasing(lambda y: self.log_budget(u, y) - log_c,
                                 np.broadcast_to(log_c - math.log(self.k) - u,
                                                 np.broadcast_shapes(np.shape(u),
                                                                     np.shape(log_c))))


def flop_model(flops_per_token: Any, flops: Callable | None) -> FlopModel:
    try:
        k = float(np.asarray(flops_per_token, dtype=float))
    except (TypeError, ValueError):
        k = float("nan")
    if not (np.isfinite(k) and k > 0):
        raise DecisionError(
            f"flops_per_token must be a positive number (training FLOPs = flops_per_token * N * "
            f"D); got {flops_per_token!r}"
        )
    if flops is not None and not callable(flops):
        raise DecisionError(
            f"flops must be a callable flops(N, D) -> FLOPs or None; got {type(flops).__name__}"
        )
    return FlopModel(k, flops)


def _solve_increasing(g: Callable[[np.ndarray], np.ndarray], y0: np.ndarray,
                      tol: float = 1e-12) -> np.ndarray:
    """Vectorised root of an increasing function ``g`` of ``log D``, from the guess ``y0``.

    A unit-slope Newton step then secant steps (``g`` is close to ``log D + const`` for any
    FLOP model dominated by ``k N D``, so this usually converges in 3-4 evaluations); elements
    that do not converge fall back to the bracketing :func:`_solve_bracketed`.
    """
    y0 = np.array(y0, dtype=float)
    g0 = g(y0)
    with np.errstate(invalid="ignore"):
        y1 = y0 - np.where(np.isfinite(g0), g0, 0.0)
    g1 = g(y1)
    for _ in range(8):
        conv = np.abs(g1) <= tol
        if conv.all():
            return y1
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            slope = (g1 - g0) / (y1 - y0)
            ok = ~conv & np.isfinite(slope) & (slope > 0)
            step = np.where(ok, g1 / np.where(ok, slope, 1.0), 0.0)
        y0, g0 = np.where(ok, y1, y0), np.where(ok, g1, g0)
        y1 = y1 - step
        g1 = g(y1)
    bad = ~(np.abs(g1) <= tol)
    if bad.any():
        y1 = np.where(bad, _solve_bracketed(g, y1 if np.all(np.isfinite(y1)) else y0), y1)
    return y1


def _solve_bracketed(g: Callable[[np.ndarray], np.ndarray], y0: np.ndarray,
                     tol: float = 1e-12) -> np.ndarray:
    """Vectorised root of an increasing function ``g`` (Illinois regula falsi from guess ``y0``).

    Returns ``-inf`` where ``g > 0`` even far below ``y0`` (the plan is infeasible: the
    budget is exceeded with almost no tokens); raises if ``g`` never reaches 0 from below.
    """
    y0 = np.array(y0, dtype=float)
    lo, hi = y0 - 1.0, y0 + 1.0
    glo, ghi = g(lo), g(hi)
    step = 2.0
    for _ in range(12):  # brackets up to ~8000 e-folds either side of the guess
        need_lo = glo > 0
        need_hi = ~(ghi >= 0)
        if not (need_lo.any() or need_hi.any()):
            break
        if need_lo.any():
            lo = np.where(need_lo, lo - step, lo)
            glo = np.where(need_lo, g(lo), glo)
        if need_hi.any():
            hi = np.where(need_hi, hi + step, hi)
            ghi = np.where(need_hi, g(hi), ghi)
        step *= 2.0
    if not np.all(ghi >= 0):
        raise DecisionError(
            "flops(N, D) could not be solved for D on the budget line: it must be finite and "
            "increase without bound in D (check the function returns FLOPs, not e.g. NaN)"
        )
    infeasible = ~(glo <= 0)
    lo, glo = np.where(infeasible, hi - 1.0, lo), np.where(infeasible, -1.0, glo)
    side = np.zeros(lo.shape, dtype=np.int8)
    y = lo.copy()
    done = infeasible.copy()
    for _ in range(100):
        with np.errstate(invalid="ignore", divide="ignore"):
            yn = np.where(ghi != glo, hi - ghi * (hi - lo) / (ghi - glo), 0.5 * (lo + hi))
        yn = np.where((yn > lo) & (yn < hi), yn, 0.5 * (lo + hi))
        gy = g(yn)
        y = np.where(done, y, yn)  # converged elements are frozen
        pos = gy > 0
        # Illinois: halve the stale end's value when the same end is kept twice in a row.
        hi, lo = np.where(pos, yn, hi), np.where(pos, lo, yn)
        ghi_new, glo_new = np.where(pos, gy, ghi), np.where(pos, glo, gy)
        glo_new = np.where(pos & (side == 1), 0.5 * glo_new, glo_new)
        ghi_new = np.where(~pos & (side == -1), 0.5 * ghi_new, ghi_new)
        side = np.where(pos, 1, -1).astype(np.int8)
        glo, ghi = glo_new, ghi_new
        done |= (np.abs(gy) <= tol) | (hi - lo <= tol * np.maximum(1.0, np.abs(yn)))
        if np.all(done):
            break
    return np.where(infeasible, -np.inf, y)


# --------------------------------------------------------------------------- 1-D optimisers
def golden_minimize(
    f: Callable[[np.ndarray], np.ndarray],
    lo: Any,
    hi: Any,
    *,
    xtol: float = XTOL,
    polish: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise minimisation of a smooth unimodal ``f`` on ``[lo, hi]``.

    ``f`` maps an array of abscissae (shape of ``broadcast(lo, hi)``) to values of the same
    shape; every step evaluates it once on the whole array.  Golden-section search shrinks the
    bracket (to ``1e-2`` when polishing, else to ``xtol * max(1, |x|)``); then ``polish`` takes
    three safeguarded parabolic (finite-difference Newton) steps with shrinking stencils,
    which resolve the minimiser far below the ``sqrt(eps)`` floor of comparison-only searches
    (to about ``1e-10`` in ``x`` for the laws here).  A step is kept only where it stays in
    the bracket and does not increase ``f``.  Returns ``(argmin, min)``.
    """
    lo, hi = (np.array(a, dtype=float) for a in np.broadcast_arrays(lo, hi))
    width = float(np.max(hi - lo))
    tol = xtol * max(1.0, float(np.min(np.abs(0.5 * (lo + hi)))))
    target = 1e-2 if polish else tol
    n_iter = max(1, math.ceil(math.log(max(width, target) / target) / -math.log(GOLDEN)))
    c = hi - GOLDEN * (hi - lo)
    d = lo + GOLDEN * (hi - lo)
    fc, fd = f(c), f(d)
    for _ in range(n_iter):
        left = ~(fc > fd)  # ties and NaN on the right move left
        lo = np.where(left, lo, c)
        hi = np.where(left, d, hi)
        x = np.where(left, hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo))
        fx = f(x)
        c, d, fc, fd = (
            np.where(left, x, d),
            np.where(left, c, x),
            np.where(left, fx, fd),
            np.where(left, fc, fx),
        )
    best = ~(fc > fd)
    x, fx = np.where(best, c, d), np.where(best, fc, fd)
    if not polish:
        return x, fx
    for h in (2e-3, 1e-4, 1e-5):
        fm, fp = f(x - h), f(x + h)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            curv = fp - 2.0 * fx + fm
            step = -0.5 * h * (fp - fm) / curv
        ok = (curv > 0) & np.isfinite(step)
        xn = np.where(ok, x + np.where(ok, step, 0.0), x)
        ok &= (xn >= lo) & (xn <= hi)
        xn = np.where(ok, xn, x)
        fn = f(xn)
        keep = ok & (fn <= fx + 8.0 * np.finfo(float).eps * np.abs(fx))
        x, fx = np.where(keep, xn, x), np.where(keep, fn, fx)
    return x, fx


def bisect_increasing(
    met: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, *, tol: float,
) -> np.ndarray:
    """Smallest ``x`` in ``[lo, hi]`` with ``met(x)`` True, for a monotone predicate.

    Assumes ``met(hi)`` holds (returns ``hi`` where it does not); bisects until the bracket is
    below ``tol`` and returns the upper end (where the predicate holds).
    """
    lo, hi = (np.array(a, dtype=float) for a in np.broadcast_arrays(lo, hi))
    width = float(np.max(hi - lo)) if lo.size else 0.0
    n_iter = max(0, math.ceil(math.log2(max(width, tol) / tol)))
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        ok = met(mid)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


# --------------------------------------------------------------------------- helpers
def as_generator(rng: Any) -> np.random.Generator:
    """A numpy Generator from None, an int seed, a SeedSequence or a Generator (returned as is)."""
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise DecisionError(
        f"rng must be None, an int seed or a numpy.random.Generator; got {type(rng).__name__}"
    )
