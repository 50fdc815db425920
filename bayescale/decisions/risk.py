"""Risk of a training decision: the posterior distribution of the loss it will reach.

The loss a single training run reaches is uncertain for two reasons: the law's parameters are
uncertain (one predicted loss per posterior draw) and runs scatter around the law (observation
noise, ``log observed = log law + eps`` with ``eps ~ Normal(0, sigma)`` or
``sigma * StudentT(nu)``).  Functions here take both into account:

- :func:`loss_draws` gives per-draw predicted losses, with simulated run-to-run noise;
- :func:`prob_below` gives ``P(loss <= target)`` for a budget (at each draw's compute-optimal
  allocation) or for a fixed plan ``(N, D)``.  The noise is integrated *analytically*
  (``P = mean_s F((log target - log L_s) / sigma_s)``), so the answer is exact given the draws,
  needs no random numbers and is smooth and monotone in the budget;
- :func:`budget_for_target` inverts it: the smallest budget reaching a target with a given
  probability;
- :func:`expected_loss`, :func:`loss_quantile` and :func:`cvar` are the risk functionals used
  by :func:`~bayescale.decisions.robust.risk_averse_allocation`.

Noise draws come from the ``sigma`` / ``nu`` arguments or, when those are ``None``, from
``draws["sigma"]`` / ``draws["nu"]`` if present (a fit hands them over with the law's
parameters).  Pass ``noise=False`` to get the distribution of the law's mean prediction only.
The noise model itself (draws, clipped at :data:`~bayescale.modeling.noise.EPS_CLIP` scale
units, and its CDF) is :mod:`bayescale.modeling.noise`'s, shared with prediction and the fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from bayescale.decisions._common import (
    MAX_ELEMENTS,
    DecisionError,
    Deviation,
    UnreachableTargetError,
    as_generator,
    bisect_increasing,
    check_deviation,
    check_prob,
    deprecated_alias,
    failure_curve,
    failure_draws,
    flop_model,
    is_nd_law,
    log_loss,
    natural_draws,
    noise_draws,
    positive_values,
    resolve_law,
    sampled_params,
)
from bayescale.decisions.allocation import asymptotic_log_loss, optimal_log_loss
from bayescale.laws import Law
from bayescale.modeling.noise import new_run_cdf, perturb

__all__ = [
    "budget_for_target",
    "cvar",
    "expected_loss",
    "loss_draws",
    "loss_quantile",
    "prob_below",
]


def _inputs(law: Law, N: Any, D: Any, C: Any) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """Validated log inputs for the law, broadcast together; returns ``(logs, shape)``."""
    given = {"N": N, "D": D, "C": C}
    for k, v in given.items():
        if v is not None and k not in law.inputs:
            raise DecisionError(
                f"law {law.name!r} reads inputs {law.inputs}; it does not take {k}={v!r}"
            )
    arrays = {}
    for k in law.inputs:
        if given.get(k) is None:
            raise DecisionError(f"law {law.name!r} needs input {k} (it reads {law.inputs})")
        a = np.asarray(given[k], dtype=float)
        bad = ~(np.isfinite(a) & (a > 0))
        if bad.any():
            raise DecisionError(f"{k} must be positive and finite; got {a[bad].reshape(-1)[0]!r}")
        arrays[k] = a
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        raise DecisionError(
            "inputs have incompatible shapes: "
            + ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
        ) from None
    return {k: np.log(a) for k, a in arrays.items()}, shape


def _prob_from_log_loss(
    log_l: np.ndarray, log_t: Any, sigma: np.ndarray | None, nu: np.ndarray | None,
    fail: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``mean_s P(log L_s + eps_s (+ a failure) <= log t)`` along axis 0 of ``log_l``
    ``(S, ...)``; ``fail`` is :func:`~bayescale.decisions._common.failure_draws`'s."""
    below = log_l <= log_t
    if sigma is None:
        return below.mean(axis=0)
    extra = (1,) * (log_l.ndim - 1)
    s = sigma.reshape(sigma.shape + extra)
    fp = fs = None
    if fail is not None:  # fail_p per draw, or per draw and point (at each one's own split)
        fp, fs = (a if a.ndim == log_l.ndim else a.reshape(a.shape + extra) for a in fail[:2])
    with np.errstate(divide="ignore", invalid="ignore"):
        # scipy is imported by noise_cdf only when called, which keeps importing this module
        # light
        cdf = new_run_cdf(log_t - log_l, s, None if nu is None else nu.reshape(nu.shape + extra),
                          fp, fs)
    if fail is not None:
        below = (1.0 - fp) * below + fp * (log_l + fs <= log_t)
    cdf = np.where(s > 0, cdf, below)
    return cdf.mean(axis=0)


def _failure_cap(fail: tuple[np.ndarray, np.ndarray] | None) -> str:
    """Clause of an unreachable-target error: failed runs cap the chance at ``1 - fail_p``."""
    if fail is None:
        return ""
    p = fail[0][:, -1] if np.ndim(fail[0]) == 2 else fail[0]  # per budget: at the largest
    return (f"; a new run fails (as some of the fit's runs did, fit.run_failures()) with "
            f"probability {float(np.mean(p)):.3g}{' there' if np.ndim(fail[0]) == 2 else ''}, "
            f"which no budget removes (noise=False asks about the law's loss instead)")


def _common_setup(draws, law, flops_per_token, flops, sigma, nu, noise):
    """``fail`` is ``(fail_p, fail_size, curve)``: ``curve`` (the draws' frozen failures, or
    None) gives the chance at each draw's own tokens per parameter (:func:`_optimal`)."""
    law_obj = resolve_law(law)
    fm = flop_model(flops_per_token, flops)
    nat, s = natural_draws(draws, law_obj)
    sig, v = noise_draws(draws, s, sigma, nu, noise)
    fail = failure_draws(draws, s, noise) if sig is not None else None
    if fail is not None:
        fail = (*fail, failure_curve(draws, s, noise) if is_nd_law(law_obj) else None)
    return law_obj, fm, nat, s, sig, v, fail


def _chance_at_plan(curve: Any, logs: dict, shape: tuple[int, ...]) -> np.ndarray:
    """Each draw's chance of failing at a plan's tokens per parameter, ``(S, *shape)``
    (``(S,)`` for one plan); ``logs`` holds the plan's ``log N`` and ``log D``."""
    t = np.exp(np.broadcast_to(logs["D"] - logs["N"], shape)).reshape(-1)
    return curve.p(t).reshape((-1, *shape))


def _prob_at_budgets(law_obj, nat, log_c, fm, method, deviation, log_t, sig, v, fail):
    """:func:`_prob_from_log_loss` at each draw's optimal split of each budget."""
    ll, f = _optimal(law_obj, nat, log_c, fm, method, deviation, fail)
    return _prob_from_log_loss(ll, log_t, sig, v, f)


def _fail_at(fail, tpp):
    """``fail`` with its chance read at ``tpp`` (per draw and point) where it has a curve."""
    if fail is None or fail[2] is None or tpp is None:
        return fail
    return fail[2].p(tpp), fail[1], None


def _optimal(law_obj, nat, log_c, fm, method, deviation, fail):
    """Per-draw optimal log loss ``(S, B)`` and ``fail`` read at each draw's optimum."""
    ll, tpp = optimal_log_loss(law_obj, nat, log_c, fm, method, deviation, with_tpp=True)
    return ll, _fail_at(fail, tpp)


def _check_target(target: Any, name: str = "target") -> tuple[np.ndarray, bool]:
    return positive_values(target, name, unit=" (a loss in nats, > 0)")


# --------------------------------------------------------------------------- public API
def loss_draws(
    draws: Any,
    N: Any = None,
    D: Any = None,
    *,
    C: Any = None,
    law: str | Law = "chinchilla",
    sigma: Any = None,
    nu: Any = None,
    rng: Any = None,
    noise: bool = True,
) -> np.ndarray:
    """Posterior (predictive) draws of the loss of a run with ``N`` parameters and ``D`` tokens.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the law's natural parameters, shape ``(S,)`` each; may also hold
        ``sigma`` and ``nu`` noise draws.
    N, D : float or array_like, optional
        Parameters and training tokens (laws with inputs ``("N", "D")``); broadcast together.
    C : float or array_like, optional
        Training FLOPs, for the compute law (inputs ``("C",)``).
    law : str or Law, default "chinchilla"
    sigma : float or array_like, optional
        Noise scale on the log-loss scale, a scalar or one value per draw.  Defaults to
        ``draws["sigma"]`` when present, else no noise.
    nu : float or array_like, optional
        Student-t degrees of freedom (scalar or per draw); defaults to ``draws["nu"]`` when
        present, else Gaussian noise.
    rng : int, numpy.random.Generator or None
        Source of the simulated noise; pass a seed or Generator for reproducible output.
    noise : bool, default True
        Add run-to-run noise ``exp(eps)`` (one independent draw per posterior draw and input
        point): the loss of *a training run*.  ``False`` returns the law's predicted loss per
        draw.  The rule of every decision: a question about a training run counts its noise,
        one about the law does not (see :mod:`bayescale.decisions`).

    Returns
    -------
    ndarray
        Shape ``(S,) + broadcast(N, D).shape``: one row per posterior draw.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.decisions import loss_draws
    >>> draws = dict(E=[1.69, 1.70], A=[406.4, 410.0], B=[410.7, 400.0], alpha=[0.34, 0.34],
    ...              beta=[0.28, 0.28], sigma=[0.01, 0.02])
    >>> loss_draws(draws, 70e9, 1.4e12, noise=False).round(3)
    array([1.937, 1.943])
    >>> loss_draws(draws, [1e9, 70e9], 1.4e12, rng=0).shape
    (2, 2)
    """
    law_obj = resolve_law(law)
    nat, s = natural_draws(draws, law_obj)
    logs, shape = _inputs(law_obj, N, D, C)
    params = sampled_params(law_obj, nat, len(shape))
    log_l = np.broadcast_to(log_loss(law_obj, params, **logs), (s, *shape))
    sig, v = noise_draws(draws, s, sigma, nu, noise)
    if sig is None:
        return np.exp(log_l)
    fail = failure_draws(draws, s, noise)
    fp, fs = (None, None) if fail is None else fail
    curve = failure_curve(draws, s, noise) if fail is not None and is_nd_law(law_obj) else None
    if curve is not None:  # each point fails at its own tokens per parameter
        fp = _chance_at_plan(curve, logs, shape)
    return np.exp(perturb(log_l, sig, v, as_generator(rng), fail_p=fp, fail_size=fs))


def _prob_below(
    draws: Any,
    target: float,
    *,
    budget: Any = None,
    plan: tuple[Any, Any] | None = None,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    sigma: Any = None,
    nu: Any = None,
    noise: bool = True,
    deviation: Deviation | None = None,
) -> float | np.ndarray:
    """Posterior probability that a training run reaches ``loss <= target``.

    Give exactly one of ``budget`` (each draw uses its own compute-optimal allocation, i.e. the
    probability that the best run affordable with ``C`` FLOPs reaches the target) or ``plan``
    (a fixed ``(N, D)``).

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the natural parameters (and optionally ``sigma``, ``nu``).
    target : float
        Target loss (nats), positive.
    budget : float or array_like, optional
        Training FLOPs (one or several budgets).  With the compute law the loss is simply
        ``L(C)``.
    plan : tuple (N, D), optional
        A fixed allocation; ``N`` and ``D`` may be arrays (broadcast together).
    law, flops_per_token, flops, method
        As in :func:`~bayescale.decisions.compute_optimal`.
    sigma, nu, noise
        Observation noise, as in :func:`loss_draws`.  The noise is integrated analytically,
        so the result is deterministic.
    deviation : callable, optional
        A frozen extrapolation discrepancy ``deviation(C, tpp) -> (S, P)`` of the log loss
        (:meth:`bayescale.Discrepancy.frozen`): each draw's loss is shifted by its deviation at
        the budget and tokens per parameter (at a budget: its own compute-optimal ones, the
        mean law's, see :func:`~bayescale.decisions.compute_optimal`).  None (the default):
        the law's posterior alone.

    Returns
    -------
    float or ndarray
        A float for a scalar budget or scalar plan, else an array with one probability per
        budget (or plan), within ``[0, 1]``.  Non-decreasing in the budget without
        ``deviation`` (a draw whose discrepancy bends the law upward can make it dip).

    Examples
    --------
    >>> from bayescale.decisions import prob_target
    >>> draws = dict(E=[1.69, 1.80], A=[406.4, 406.4], B=[410.7, 410.7], alpha=[0.34, 0.34],
    ...              beta=[0.28, 0.28])
    >>> prob_target(draws, 2.0, budgets=[1e21, 3e23, 1e25])
    array([0. , 0.5, 1. ])
    >>> prob_target(draws, 2.0, plan=(70e9, 1.4e12))   # Chinchilla's plan: 1.937 and 2.047
    0.5
    """
    if (budget is None) == (plan is None):
        raise DecisionError("give exactly one of budget=C or plan=(N, D)")
    law_obj, fm, nat, s, sig, v, fail = _common_setup(draws, law, flops_per_token, flops, sigma,
                                                      nu, noise)
    deviation = check_deviation(deviation, s)
    t, t_scalar = _check_target(target)
    if not t_scalar:
        raise DecisionError(f"target must be a single loss value; got {target!r} (use one call "
                            f"per target, or budget_for_target for several)")
    log_t = math.log(float(t[0]))
    if budget is not None:
        c, scalar = positive_values(budget, "budget", unit=" (FLOPs)")
        step = max(1, MAX_ELEMENTS // s)  # bounded memory for many budgets
        p = np.concatenate([
            _prob_at_budgets(law_obj, nat, np.log(c[j : j + step]), fm, method, deviation,
                             log_t, sig, v, fail)
            for j in range(0, c.size, step)
        ])
        return float(p[0]) if scalar else p
    if not is_nd_law(law_obj):
        raise DecisionError(
            f"plan=(N, D) needs a law with inputs ('N', 'D'); law {law_obj.name!r} reads "
            f"{law_obj.inputs}: pass budget=C instead"
        )
    try:
        n_plan, d_plan = plan  # type: ignore[misc]
    except (TypeError, ValueError):
        raise DecisionError(f"plan must be a pair (N, D); got {plan!r}") from None
    logs, shape = _inputs(law_obj, n_plan, d_plan, None)
    params = sampled_params(law_obj, nat, len(shape))
    log_l = np.broadcast_to(log_loss(law_obj, params, **logs), (s, *shape))
    if deviation is not None:
        u, y = (np.broadcast_to(logs[k], shape).reshape(-1) for k in ("N", "D"))
        dev = deviation(np.exp(fm.log_budget(u, y)), np.exp(y - u))
        log_l = log_l + dev.reshape((s, *shape))
    if fail is not None and fail[2] is not None:  # each plan fails at its own ratio
        fail = (_chance_at_plan(fail[2], logs, shape), fail[1], None)
    p = _prob_from_log_loss(log_l, log_t, sig, v, fail)
    return float(p) if shape == () else p


def _budget_for_target(
    draws: Any,
    target: Any,
    prob: float = 0.9,
    *,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    sigma: Any = None,
    nu: Any = None,
    noise: bool = True,
    bracket: tuple[float, float] = (1.0, 1e40),
    rtol: float = 1e-9,
    on_unreachable: str = "raise",
    deviation: Deviation | None = None,
) -> float | np.ndarray:
    """Smallest budget whose compute-optimal run reaches ``target`` with probability ``prob``.

    Solves ``prob_below(draws, target, budget=C) >= prob`` for the smallest ``C`` by bisection
    on ``log C`` within ``bracket`` (the probability is non-decreasing in ``C``), to a relative
    tolerance ``rtol`` on ``C``.  With ``deviation`` the probability is a deterministic
    function of ``C`` (the discrepancy is frozen) but need not be monotone (a draw whose
    discrepancy bends the law upward), so the search first scans ``log C`` in steps of 0.05
    decades for the first budget that meets ``prob`` and bisects within that step: the answer
    is the smallest such budget, hence non-decreasing in ``prob``.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the natural parameters (and optionally ``sigma``, ``nu``).
    target : float or array_like
        Target loss(es), positive.  Several targets are solved together.
    prob : float, default 0.9
        Required probability, in ``(0, 1]``.
    law, flops_per_token, flops, method
        As in :func:`~bayescale.decisions.compute_optimal`; the compute law is accepted.
    sigma, nu, noise
        Observation noise, as in :func:`prob_below`.
    bracket : (float, float), default (1.0, 1e40)
        Search range in FLOPs.  If the target is already met with probability ``prob`` at
        ``bracket[0]``, ``bracket[0]`` is returned.
    rtol : float, default 1e-9
        Relative tolerance on the budget.
    deviation : callable, optional
        A frozen extrapolation discrepancy (see :func:`prob_below`); None: none.
    on_unreachable : {"raise", "inf"}, default "raise"
        What to do when even ``bracket[1]`` does not give probability ``prob`` -- typically
        because the target is at or below the irreducible loss ``E`` for too many draws (more
        than ``1 - prob`` of them, without noise).  ``"raise"`` raises
        :class:`~bayescale.decisions.UnreachableTargetError` (a ``ValueError``) saying how many
        draws cannot reach the target; ``"inf"`` returns ``inf`` for that target.

    Returns
    -------
    float or ndarray
        The budget in FLOPs (a float for a scalar target).

    Examples
    --------
    >>> from bayescale.decisions import budget_for, prob_target
    >>> draws = dict(E=[1.69, 1.80], A=[406.4, 406.4], B=[410.7, 410.7], alpha=[0.34, 0.34],
    ...              beta=[0.28, 0.28])
    >>> c = budget_for(draws, 2.0, prob=0.5)
    >>> f"{c:.3g}"
    '1.11e+23'
    >>> prob_target(draws, 2.0, budgets=c)
    0.5
    >>> budget_for(draws, 1.75, prob=0.9, on_unreachable="inf")
    inf
    """
    law_obj, fm, nat, s, sig, v, fail = _common_setup(draws, law, flops_per_token, flops, sigma,
                                                      nu, noise)
    deviation = check_deviation(deviation, s)
    t, scalar = _check_target(target)
    prob = check_prob(prob, "prob")
    if on_unreachable not in ("raise", "inf"):
        raise DecisionError(f"on_unreachable must be 'raise' or 'inf'; got {on_unreachable!r}")
    br, _ = positive_values(bracket, "bracket", unit=" (FLOPs)")
    if br.size != 2 or not br[0] < br[1]:
        raise DecisionError(f"bracket must be (low, high) FLOPs with low < high; got {bracket!r}")
    if not 0 < rtol < 1:
        raise DecisionError(f"rtol must be in (0, 1); got {rtol!r}")
    log_t = np.log(t)
    # a discrepancy, or a failure chance that depends on each draw's split, can make the
    # probability fall with the budget somewhere: scan for the first budget that meets it
    if deviation is not None or (fail is not None and fail[2] is not None):
        out = _budget_scan(law_obj, nat, log_t, prob, fm, method, sig, v, deviation,
                           (math.log(br[0]), math.log(br[1])), rtol, on_unreachable, fail)
        return float(out[0]) if scalar else out

    def p_at(log_c: np.ndarray) -> np.ndarray:
        return _prob_at_budgets(law_obj, nat, log_c, fm, method, None, log_t, sig, v, fail)

    lo = np.full(t.shape, math.log(br[0]))
    hi = np.full(t.shape, math.log(br[1]))
    p_hi = p_at(hi)
    reach = p_hi >= prob
    if not reach.all() and on_unreachable == "raise":
        i = int(np.argmax(~reach))
        asym = np.exp(asymptotic_log_loss(law_obj, nat))
        n_floor = int(np.sum(asym >= t[i]))
        floor = (
            f"; the target is at or below the irreducible loss (the law's limit at infinite "
            f"compute, median {np.median(asym):.4g}) in {n_floor} of {s} draws"
            if n_floor
            else ""
        )
        raise UnreachableTargetError(
            f"target {t[i]:.6g} is not reached with probability {prob:g} at any budget up to "
            f"{br[1]:.3g} FLOPs: P(loss <= target) is only {p_hi[i]:.4g} there{floor}"
            f"{_failure_cap(fail)}.  Lower prob, raise the target, widen bracket, or pass "
            f"on_unreachable='inf'"
        )
    out = np.full(t.shape, np.inf)
    met_low = reach & (p_at(lo) >= prob)
    out[met_low] = br[0]
    todo = reach & ~met_low
    if todo.any():
        idx = np.nonzero(todo)[0]
        log_t_all = log_t

        def met(log_c):
            return _prob_at_budgets(law_obj, nat, log_c, fm, method, None, log_t_all[idx], sig,
                                    v, fail) >= prob

        res = bisect_increasing(met, lo[idx], hi[idx], tol=rtol)
        out[idx] = np.exp(res)
    return float(out[0]) if scalar else out


#: Step (decades of compute) of the scan that brackets the smallest budget meeting a probability
#: when a discrepancy makes the probability possibly non-monotone in the budget.
SCAN_DECADES = 0.05


def _budget_scan(law_obj, nat, log_t, prob, fm, method, sig, v, deviation, bracket, rtol,
                 on_unreachable, fail=None) -> np.ndarray:
    """Smallest budget meeting ``prob`` per target, by a scan of ``log C`` and bisection."""
    lo, hi = bracket
    n = max(2, math.ceil((hi - lo) / (SCAN_DECADES * math.log(10.0))) + 1)
    grid = np.linspace(lo, hi, n)
    step = max(1, MAX_ELEMENTS // next(iter(nat.values())).size)
    parts = [_optimal(law_obj, nat, grid[j : j + step], fm, method, deviation, fail)
             for j in range(0, n, step)]
    log_l = np.concatenate([ll for ll, _ in parts], axis=1)
    on_grid = fail  # the chance at each draw's own split of each budget of the grid
    if fail is not None and fail[2] is not None:
        on_grid = (np.concatenate([f[0] for _, f in parts], axis=1), fail[1], None)
    out = np.full(log_t.shape, np.inf)
    for i, lt in enumerate(log_t):
        met = _prob_from_log_loss(log_l, lt, sig, v, on_grid) >= prob
        if not met.any():
            if on_unreachable == "raise":
                p_max = float(np.max(_prob_from_log_loss(log_l, lt, sig, v, on_grid)))
                asym = np.exp(asymptotic_log_loss(law_obj, nat))
                n_floor = int(np.sum(asym >= math.exp(lt)))
                floor = (f"; the target is at or below the irreducible loss (the law's limit at "
                         f"infinite compute, median {np.median(asym):.4g}) in {n_floor} of "
                         f"{asym.size} draws" if n_floor else "")
                disc = deviation is not None
                raise UnreachableTargetError(
                    f"target {math.exp(lt):.6g} is not reached with probability {prob:g} at any "
                    f"budget up to {math.exp(hi):.3g} FLOPs"
                    + (" with the extrapolation discrepancy (which widens with every decade "
                       "beyond the runs)" if disc else "")
                    + f": P(loss <= target) is at most {p_max:.4g}{floor}"
                    f"{_failure_cap(on_grid)}.  "
                    f"Lower prob, raise the target, widen bracket, "
                    + ("pass discrepancy=False for the law's posterior alone, " if disc else "")
                    + "or pass on_unreachable='inf'"
                )
            continue
        j = int(np.argmax(met))
        if j == 0:
            out[i] = math.exp(lo)
            continue

        def ok(log_c, lt=lt):
            return _prob_at_budgets(law_obj, nat, log_c, fm, method, deviation, lt, sig, v,
                                    fail) >= prob

        res = bisect_increasing(ok, np.array([grid[j - 1]]), np.array([grid[j]]), tol=rtol)
        out[i] = math.exp(float(res[0]))
    return out


def expected_loss(losses: Any, *, axis: int = 0) -> np.ndarray | float:
    """Posterior expected loss: the mean of loss draws along ``axis``.

    Parameters
    ----------
    losses : array_like
        Loss draws, e.g. from :func:`loss_draws` (draws on axis 0).
    axis : int, default 0

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from bayescale.decisions import expected_loss
    >>> expected_loss([2.0, 2.1, 2.3])
    2.1333333333333333
    """
    x = _losses(losses)
    out = np.mean(x, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def loss_quantile(losses: Any, q: Any = 0.9, *, axis: int = 0) -> np.ndarray | float:
    """Quantile(s) ``q`` of loss draws along ``axis`` (linear interpolation, as numpy).

    Parameters
    ----------
    losses : array_like
        Loss draws (draws on axis 0).
    q : float or array_like, default 0.9
        Probability level(s) in ``[0, 1]``; ``0.9`` is the loss exceeded with probability 0.1.
    axis : int, default 0

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from bayescale.decisions import loss_quantile
    >>> loss_quantile([2.0, 2.1, 2.2, 2.3, 2.4], 0.5)
    2.2
    """
    x = _losses(losses)
    qa = np.asarray(q, dtype=float)
    if np.any(~((qa >= 0) & (qa <= 1))):
        raise DecisionError(f"q must be in [0, 1]; got {q!r}")
    out = np.quantile(x, qa, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def cvar(losses: Any, level: float = 0.9, *, axis: int = 0) -> np.ndarray | float:
    """Conditional value at risk: the mean loss over the worst ``1 - level`` of the draws.

    Uses the exact empirical definition (Rockafellar and Uryasev 2002): with ``S`` draws the
    worst ``m = (1 - level) S`` draws are averaged, the boundary draw getting fractional weight,
    so ``cvar`` is continuous in ``level``, equals the mean at ``level = 0`` and the maximum as
    ``level -> 1``, and is always ``>=`` the mean.

    Parameters
    ----------
    losses : array_like
        Loss draws (draws on ``axis``).
    level : float, default 0.9
        In ``[0, 1)``.
    axis : int, default 0

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from bayescale.decisions import cvar
    >>> cvar([1.0, 2.0, 3.0, 4.0], 0.5)   # mean of the worst half
    3.5
    >>> cvar([1.0, 2.0, 3.0, 4.0], 0.0)   # the mean
    2.5
    """
    x = _losses(losses)
    level = float(level)
    if not 0.0 <= level < 1.0:
        raise DecisionError(f"level must be in [0, 1); got {level!r}")
    x = np.sort(np.moveaxis(x, axis, 0), axis=0)
    n = x.shape[0]
    m = (1.0 - level) * n
    k = min(math.floor(m + 1e-9), n)
    frac = max(m - k, 0.0)
    total = x[n - k :].sum(axis=0) if k else np.zeros(x.shape[1:])
    if k < n and frac > 0:
        total = total + frac * x[n - k - 1]
    out = total / m
    return float(out) if np.ndim(out) == 0 else out


def _losses(losses: Any) -> np.ndarray:
    x = np.asarray(losses, dtype=float)
    if x.size == 0:
        raise DecisionError("losses is empty; pass at least one loss draw")
    if np.isnan(x).any():
        raise DecisionError("losses contains NaN; drop or fix those draws first")
    return x


prob_below = deprecated_alias(
    _prob_below, "bayescale.decisions.prob_below",
    "bayescale.decisions.prob_target(draws, target, budgets=..., law=...)")


budget_for_target = deprecated_alias(
    _budget_for_target, "bayescale.decisions.budget_for_target",
    "bayescale.decisions.budget_for(draws, target, prob, law=...)")
