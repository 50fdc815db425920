"""Compute-optimal allocation of a training budget between parameters and tokens, per draw.

For a law ``L(N, D)`` and a budget of ``C`` training FLOPs, the compute-optimal allocation
minimises ``L`` on the budget line ``C = k * N * D`` (``k = flops_per_token``, 6 by default,
Kaplan et al. 2020) or on ``C = flops(N, D)`` for a user FLOP function.  Every function here
works draw by draw: a posterior of ``S`` draws gives ``S`` allocations per budget, whose spread
is the uncertainty of the decision.

Two solvers:

- **closed form** for the Chinchilla law (Hoffmann et al. 2022, Appendix D.2)::

      G  = (alpha A / (beta B)) ** (1 / (alpha + beta))
      N* = G (C / k) ** (beta / (alpha + beta)),   D* = G**-1 (C / k) ** (alpha / (alpha + beta))

  and for the Kaplan law (``N* = (r N_c**r X / D_c) ** (1 / (1 + r))`` with
  ``r = alpha_N / alpha_D`` and ``X = C / k``);
- **numeric**: vectorised golden-section search over ``log N`` for every (draw, budget) at
  once, for any law with inputs ``("N", "D")`` (``law.log_loss_fn``), to a relative tolerance
  of about ``1e-8`` in ``log N``.  It assumes the loss is unimodal along the budget line, which
  holds for every registered law (each is a monotone function of a sum of exponentials of
  ``log N``).  The search bracket is ``N`` and ``D`` both above ``e**-25`` and ``N * D = C/k``,
  so even a budget "below anything sensible" (a handful of FLOPs) gives a finite answer.

The compute law (inputs ``("C",)``) has no allocation; its functions raise a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import (
    LOG_INF,
    MAX_ELEMENTS,
    DecisionError,
    Deviation,
    FlopModel,
    bisect_increasing,
    check_deviation,
    deprecated_alias,
    flop_model,
    golden_minimize,
    is_nd_law,
    log_loss,
    natural_draws,
    positive_values,
    require_nd_law,
    resolve_law,
    sampled_params,
    summarise,
)
from bayescale.laws import Law
from bayescale.laws.chinchilla import CHINCHILLA
from bayescale.laws.compute import COMPUTE
from bayescale.laws.kaplan import KAPLAN

__all__ = ["allocation_table", "compute_optimal", "exponents"]

#: Half-width margin (in log N) of the numeric search bracket beyond the balanced point.
_BRACKET_MARGIN = 25.0
_QUANTITIES = ("N", "D", "loss", "tokens_per_param")


# --------------------------------------------------------------------------- closed forms
def _closed_kind(law: Law) -> str | None:
    if law.log_loss_fn is CHINCHILLA.log_loss_fn and law.natural == CHINCHILLA.natural:
        return "chinchilla"
    if law.log_loss_fn is KAPLAN.log_loss_fn and law.natural == KAPLAN.natural:
        return "kaplan"
    return None


def _closed_log_n(kind: str, nat: dict[str, np.ndarray], log_x: np.ndarray) -> np.ndarray:
    """``log N*`` for ``log X = log(C / k)``; ``nat`` arrays shaped to broadcast with ``log_x``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "chinchilla":
            al, be = nat["alpha"], nat["beta"]
            log_g = (np.log(al * nat["A"]) - np.log(be * nat["B"])) / (al + be)
            return log_g + be / (al + be) * log_x
        r = nat["alpha_N"] / nat["alpha_D"]
        return (np.log(r) + r * np.log(nat["N_c"]) - np.log(nat["D_c"]) + log_x) / (1.0 + r)


def _frontier(kind: str, law: Law, nat: dict[str, np.ndarray]):
    """``(E, log K, gamma)`` of the frontier ``L*(C) = E + K (C/k)**-gamma``, per draw ``(S,)``."""
    if kind == "chinchilla":
        al, be = nat["alpha"], nat["beta"]
        gamma = al * be / (al + be)
        e = nat["E"]
    else:  # kaplan: no irreducible term
        al, be = nat["alpha_N"], nat["alpha_D"]
        gamma = al * be / (al + be)
        e = np.zeros_like(al)
    params = sampled_params(law, nat, 0)
    u = _closed_log_n(kind, nat, np.zeros_like(al))
    l1 = np.exp(log_loss(law, params, N=u, D=-u))  # L*(X = 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_k = np.log(l1 - e)
    return e, log_k, gamma


# --------------------------------------------------------------------------- core (private)
def _method(law: Law, fm: FlopModel, method: str) -> str | None:
    """The closed-form kind to use, or None for the numeric optimiser."""
    if method not in ("auto", "closed", "numeric"):
        raise DecisionError(f"method must be 'auto', 'closed' or 'numeric'; got {method!r}")
    kind = _closed_kind(law) if fm.linear else None
    if method == "closed" and kind is None:
        why = "a user flops(N, D) function" if not fm.linear else f"law {law.name!r}"
        raise DecisionError(
            f"method='closed' is not available with {why}: closed forms exist only for the "
            f"chinchilla and kaplan laws with FLOPs = flops_per_token * N * D; use "
            f"method='numeric' or 'auto'"
        )
    return None if method == "numeric" else kind


def optimal_log(
    law: Law, nat: dict[str, np.ndarray], log_c: Any, fm: FlopModel, method: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-draw compute-optimal ``(log N*, log D*, log L*)``, each ``(S, B)``.

    ``log_c`` is ``(B,)`` (same budgets for every draw) or ``(S, B)`` (per-draw budgets).
    """
    require_nd_law(law, "a compute-optimal allocation")
    s = next(iter(nat.values())).size
    log_c = np.asarray(log_c, dtype=float)
    if log_c.ndim <= 1:
        log_c = log_c.reshape(1, -1)
    b = log_c.shape[1]
    kind = _method(law, fm, method)
    params = sampled_params(law, nat, 1)
    cols = {k: v[:, None] for k, v in nat.items()}
    out_u = np.empty((s, b))
    out_y = np.empty((s, b))
    out_l = np.empty((s, b))
    # Chunks of budgets keep the temporaries to about MAX_ELEMENTS elements each.
    step = max(1, (MAX_ELEMENTS if kind is None else 16 * MAX_ELEMENTS) // s)
    for j in range(0, b, step):
        lc = log_c[:, j : j + step]
        shape = (s, lc.shape[1])
        if kind is not None:
            log_x = lc - math.log(fm.k)
            u = np.broadcast_to(_closed_log_n(kind, cols, log_x), shape)
            y = log_x - u
            fu = log_loss(law, params, N=u, D=y)
        else:
            # Bracket centred on the balanced point N = D of the budget line C = k N D.
            mid = 0.5 * (lc - math.log(fm.k))
            half = np.abs(mid) + _BRACKET_MARGIN
            lo, hi = np.broadcast_to(mid - half, shape), np.broadcast_to(mid + half, shape)

            def f(u, lc=lc):
                return log_loss(law, params, N=u, D=fm.log_tokens(u, lc))

            u, fu = golden_minimize(f, lo, hi)
            y = fm.log_tokens(u, lc)
        out_u[:, j : j + step] = u
        out_y[:, j : j + step] = y
        out_l[:, j : j + step] = fu
    return out_u, out_y, out_l


def optimal_log_loss(
    law: Law, nat: dict[str, np.ndarray], log_c: Any, fm: FlopModel, method: str = "auto",
    deviation: Deviation | None = None, *, with_tpp: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """Per-draw ``log L*(C)`` ``(S, B)``; for the compute law simply ``log L(C)``.

    With ``deviation`` (a frozen discrepancy) each draw's deviation at the budget and at its
    own optimal tokens per parameter is added; the optimum itself is the mean law's.  With
    ``with_tpp``, ``(log L*, tokens per parameter of each draw's optimum (S, B))``, the second
    None for the compute law.
    """
    if tuple(law.inputs) == ("C",):
        log_c = np.asarray(log_c, dtype=float)
        if log_c.ndim <= 1:
            log_c = log_c.reshape(1, -1)
        s = next(iter(nat.values())).size
        out = log_loss(law, sampled_params(law, nat, 1), C=log_c)
        out = np.broadcast_to(out, (s, log_c.shape[1]))
        out = out if deviation is None else out + deviation(np.exp(log_c), None)
        return (out, None) if with_tpp else out
    u, y, ll = optimal_log(law, nat, log_c, fm, method)
    tpp = np.exp(y - u)
    if deviation is not None:
        log_c = np.asarray(log_c, dtype=float)
        ll = ll + deviation(np.exp(log_c.reshape(1, -1) if log_c.ndim <= 1 else log_c), tpp)
    return (ll, tpp) if with_tpp else ll


def asymptotic_log_loss(law: Law, nat: dict[str, np.ndarray]) -> np.ndarray:
    """``log`` of the loss as compute -> infinity, per draw ``(S,)`` (``log E``, or ``-inf``)."""
    params = sampled_params(law, nat, 0)
    if tuple(law.inputs) == ("C",):
        return log_loss(law, params, C=np.full_like(next(iter(nat.values())), LOG_INF))
    if is_nd_law(law):
        big = np.full_like(next(iter(nat.values())), LOG_INF)
        return log_loss(law, params, N=big, D=big)
    raise DecisionError(f"law {law.name!r} has inputs {law.inputs}; expected ('N', 'D') or ('C',)")


def inverse_frontier(
    law: Law,
    nat: dict[str, np.ndarray],
    log_target: np.ndarray,
    fm: FlopModel,
    method: str = "auto",
    *,
    log_c_hint: Any = None,
    tol: float = 1e-11,
) -> np.ndarray:
    """Smallest ``log C`` whose per-draw optimal loss is ``<= exp(log_target)``; ``(S, P)``.

    ``+inf`` where the target is at or below the draw's asymptotic loss.  ``log_c_hint``
    (broadcastable to ``(S, P)``) is a budget known to reach the target, e.g. a plan's budget.
    """
    s = next(iter(nat.values())).size
    log_target = np.asarray(log_target, dtype=float)
    if log_target.ndim <= 1:
        log_target = np.broadcast_to(log_target.reshape(1, -1), (s, log_target.size))
    kind = _method(law, fm, method) if is_nd_law(law) else None
    if kind is not None:
        e, log_k, gamma = _frontier(kind, law, nat)
        with np.errstate(divide="ignore", invalid="ignore"):
            red = np.log(np.exp(log_target) - e[:, None])
            log_x = -(red - log_k[:, None]) / gamma[:, None]
        log_x = np.where(np.exp(log_target) > e[:, None], log_x, np.inf)
        return log_x + math.log(fm.k)
    if tuple(law.inputs) == ("C",) and law.log_loss_fn is COMPUTE.log_loss_fn:
        e, a, g = nat["E"][:, None], nat["A"][:, None], nat["gamma"][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_c = -(np.log(np.exp(log_target) - e) - np.log(a)) / g
        return np.where(np.exp(log_target) > e, log_c, np.inf)

    def loss_at(lc):
        return optimal_log_loss(law, nat_cols, lc, fm, method)

    reachable = log_target > asymptotic_log_loss(law, nat)[:, None]
    out = np.full(log_target.shape, np.inf)
    if not reachable.any():
        return out
    # Work on the reachable (draw, target) elements only, as a flat list of "draws".
    rows, cols = np.nonzero(reachable)
    nat_cols = {k: v[rows] for k, v in nat.items()}
    tgt = log_target[rows, cols][:, None]
    hi = np.full(tgt.shape, 60.0) if log_c_hint is None else np.broadcast_to(
        np.asarray(log_c_hint, dtype=float), log_target.shape)[rows, cols][:, None].copy()
    # Raise hi until the target is met, lower lo until it is not (per element).
    step = 8.0
    for _ in range(60):
        bad = ~(loss_at(hi) <= tgt)
        if not bad.any():
            break
        hi = np.where(bad, hi + step, hi)
        step *= 2.0
    lo = hi - 8.0
    step = 8.0
    for _ in range(60):
        bad = loss_at(lo) <= tgt
        if not bad.any():
            break
        lo = np.where(bad, lo - step, lo)
        step *= 2.0
    res = bisect_increasing(lambda lc: loss_at(lc) <= tgt, lo, hi, tol=tol)
    out[rows, cols] = res[:, 0]
    return out


def _setup(draws: Any, law: str | Law, flops_per_token: Any, flops: Callable | None):
    law_obj = resolve_law(law)
    fm = flop_model(flops_per_token, flops)
    nat, s = natural_draws(draws, law_obj)
    return law_obj, fm, nat, s


# --------------------------------------------------------------------------- public API
def _compute_optimal(
    draws: Any,
    budgets: Any,
    *,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    deviation: Deviation | None = None,
) -> dict[str, np.ndarray]:
    """Compute-optimal model size, data and loss for every posterior draw and budget.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the law's natural parameters (``law.natural``; for Chinchilla
        ``E, A, B, alpha, beta``), each of shape ``(S,)``, e.g. ``fit.draws()``.  Extra keys
        such as ``sigma`` are ignored.
    budgets : float or array_like
        Training compute budgets ``C`` in FLOPs, positive; a scalar is one budget.
    law : str or Law, default "chinchilla"
        A law with inputs ``("N", "D")``.
    flops_per_token : float, default 6.0
        ``k`` in ``C = k N D`` (forward + backward pass FLOPs per parameter per token).
    flops : callable, optional
        A user FLOP model ``flops(N, D) -> C`` (broadcasting over arrays, strictly increasing in
        ``D``), e.g. one that counts attention FLOPs.  When given it replaces ``k N D``; ``D``
        on the budget line is found by a vectorised root find (started from ``C / (k N)``) and
        the numeric optimiser is used.  Sizes whose FLOPs exceed the budget even with almost
        no tokens are treated as infinitely bad.
    method : {"auto", "closed", "numeric"}, default "auto"
        ``"auto"`` uses the closed form when one exists (Chinchilla and Kaplan laws with
        ``C = k N D``) and the numeric optimiser otherwise.
    deviation : callable, optional
        A frozen extrapolation discrepancy ``deviation(C, tpp) -> (S, B)`` of the log loss
        (:meth:`bayescale.Discrepancy.frozen`), added to ``"loss"`` at each draw's optimum.
        The allocation itself is the mean law's: the discrepancy's compute part is the same
        everywhere on a budget line, so it cannot move the optimum; its tokens-per-parameter
        part could, but its sign is unknown (it is uncertainty about the law beyond the runs)
        and a per-draw optimiser would chase it out of the observed range.  A single plan
        chosen against it is :func:`~bayescale.decisions.risk_averse_allocation`.  None (the
        default): no discrepancy.

    Returns
    -------
    dict of str to ndarray
        ``"N"`` (parameters), ``"D"`` (tokens), ``"loss"`` (predicted loss, no observation
        noise) and ``"tokens_per_param"`` (``D / N``), each of shape ``(S, B)``: one row per
        draw, one column per budget (``B = 1`` for a scalar budget).

    Raises
    ------
    DecisionError
        (a ``ValueError``) for a non-positive budget, missing or mismatched draws, or a law
        without an ``N``/``D`` allocation (the compute law).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.decisions import allocate
    >>> hoffmann = dict(E=[1.69], A=[406.4], B=[410.7], alpha=[0.34], beta=[0.28])
    >>> opt = allocate(hoffmann, [5.76e23], per_draw=True)
    >>> opt["N"].shape
    (1, 1)
    >>> f"{opt['N'][0, 0]:.3g} parameters, {opt['D'][0, 0]:.3g} tokens"
    '3.22e+10 parameters, 2.98e+12 tokens'
    >>> num = allocate(hoffmann, [5.76e23], method="numeric", per_draw=True)
    >>> bool(np.isclose(num["N"][0, 0], opt["N"][0, 0], rtol=1e-6))
    True
    """
    law_obj, fm, nat, s = _setup(draws, law, flops_per_token, flops)
    deviation = check_deviation(deviation, s)
    c, _ = positive_values(budgets, "budgets", unit=" (FLOPs)")
    u, y, ll = optimal_log(law_obj, nat, np.log(c), fm, method)
    if deviation is not None:
        ll = ll + deviation(c, np.exp(y - u))
    return {"N": np.exp(u), "D": np.exp(y), "loss": np.exp(ll), "tokens_per_param": np.exp(y - u)}


def exponents(draws: Any, *, law: str | Law = "chinchilla") -> dict[str, np.ndarray]:
    """Per-draw exponents of the compute-optimal frontier: ``N* ~ C**a``, ``D* ~ C**b``.

    For the Chinchilla law ``a = beta / (alpha + beta)``, ``b = alpha / (alpha + beta)`` and the
    reducible optimal loss falls as ``L* - E ~ C**-gamma`` with
    ``gamma = alpha beta / (alpha + beta)``.  For the Kaplan law the same formulas hold with
    ``alpha_N`` and ``alpha_D`` in place of ``alpha`` and ``beta`` (and ``E = 0``).

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the natural parameters, shape ``(S,)`` each.
    law : str or Law, default "chinchilla"
        ``"chinchilla"`` or ``"kaplan"``; other laws have no closed-form exponents.

    Returns
    -------
    dict of str to ndarray
        ``"a"``, ``"b"`` (``a + b = 1``) and ``"gamma"``, each of shape ``(S,)``.

    Examples
    --------
    >>> from bayescale.decisions import exponents
    >>> ex = exponents(dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28))
    >>> [round(float(ex[k][0]), 4) for k in ("a", "b", "gamma")]
    [0.4516, 0.5484, 0.1535]
    """
    law_obj = resolve_law(law)
    require_nd_law(law_obj, "the allocation exponents")
    kind = _closed_kind(law_obj)
    if kind is None:
        raise DecisionError(
            f"law={law_obj.name!r} has no closed-form allocation exponents (only 'chinchilla' "
            f"and 'kaplan' do); estimate them from compute_optimal at two budgets instead"
        )
    nat, _ = natural_draws(draws, law_obj)
    al, be = (nat["alpha"], nat["beta"]) if kind == "chinchilla" else (
        nat["alpha_N"], nat["alpha_D"])
    if not (np.all(al > 0) and np.all(be > 0)):
        raise DecisionError(f"law {law_obj.name!r} needs positive exponents in every draw")
    return {"a": be / (al + be), "b": al / (al + be), "gamma": al * be / (al + be)}


def _allocation_table(
    draws: Any,
    budgets: Any,
    *,
    ci: Sequence[float] = (0.5, 0.8, 0.95),
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    quantities: Sequence[str] = _QUANTITIES,
    deviation: Deviation | None = None,
) -> pd.DataFrame:
    """Tidy posterior summary of the compute-optimal allocation at each budget.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the law's natural parameters, shape ``(S,)`` each.
    budgets : float or array_like
        Training budgets in FLOPs.
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Levels of the equal-tailed credible intervals.
    law, flops_per_token, flops, method
        As in :func:`compute_optimal`.
    quantities : sequence of str, default ("N", "D", "loss", "tokens_per_param")
        Which quantities to summarise, in row order.
    deviation : callable, optional
        A frozen extrapolation discrepancy, added to ``loss`` only (see
        :func:`compute_optimal`); None (the default): none.

    Returns
    -------
    pandas.DataFrame
        One row per budget x quantity with columns ``budget``, ``quantity``, ``mean``,
        ``median`` and ``lo_XX``/``hi_XX`` for every level (``lo_95``, ``hi_95`` for 0.95;
        ``lo_97.5`` for 0.975).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.decisions import allocate
    >>> rng = np.random.default_rng(0)
    >>> draws = dict(E=1.82 + 0.01 * rng.standard_normal(500), A=482.0, B=2085.0,
    ...              alpha=0.348 + 0.01 * rng.standard_normal(500), beta=0.366)
    >>> draws = {k: np.broadcast_to(v, (500,)) for k, v in draws.items()}
    >>> tab = allocate(draws, [1e21, 1e23], ci=(0.9,))
    >>> list(tab.columns)
    ['budget', 'quantity', 'mean', 'median', 'lo_90', 'hi_90']
    >>> tab.shape
    (8, 6)
    """
    quantities = tuple(quantities)
    unknown = [q for q in quantities if q not in _QUANTITIES]
    if unknown or not quantities:
        raise DecisionError(f"quantities must be a non-empty subset of {_QUANTITIES}; got "
                            f"{quantities!r}")
    opt = _compute_optimal(draws, budgets, law=law, flops_per_token=flops_per_token, flops=flops,
                          method=method, deviation=deviation)
    c, _ = positive_values(budgets, "budgets")
    return summarise({q: opt[q] for q in quantities}, {"budget": c}, ci)


compute_optimal = deprecated_alias(
    _compute_optimal, "bayescale.decisions.compute_optimal",
    "bayescale.decisions.allocate(draws, budgets, law=..., per_draw=True)")


allocation_table = deprecated_alias(
    _allocation_table, "bayescale.decisions.allocation_table",
    "bayescale.decisions.allocate(draws, budgets, law=...)")
