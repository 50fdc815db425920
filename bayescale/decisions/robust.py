"""Decisions that account for the whole posterior: risk-averse and inference-aware allocation.

- :func:`risk_averse_allocation` picks **one** plan ``(N, D)`` on the budget line that minimises
  a risk functional (mean, quantile or CVaR) of the posterior loss distribution.  This is the
  Bayes decision, and it differs from the allocation that is optimal for the posterior-mean
  parameters (a plug-in that ignores uncertainty) and from the median of per-draw optima.
- :func:`inference_aware_allocation` minimises training plus inference compute for a loss
  target, per draw (Sardana et al. 2024, "Beyond Chinchilla-optimal"): when a model will serve
  many tokens it pays to train a smaller model on more data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import (
    LOG_INF,
    DecisionError,
    Deviation,
    as_generator,
    bisect_increasing,
    check_deviation,
    deprecated_alias,
    failure_curve,
    failure_draws,
    flop_model,
    golden_minimize,
    log_loss,
    natural_draws,
    noise_draws,
    positive_values,
    require_nd_law,
    resolve_law,
    sampled_params,
    summarise,
)
from bayescale.decisions.allocation import (
    _closed_kind,
    asymptotic_log_loss,
    inverse_frontier,
    optimal_log,
)
from bayescale.decisions.risk import cvar, expected_loss, loss_quantile
from bayescale.laws import Law
from bayescale.modeling.noise import failure_shift, noise_eps

__all__ = [
    "InferenceAwareAllocation",
    "RiskAverseAllocation",
    "inference_aware_allocation",
    "risk_averse_allocation",
]


# --------------------------------------------------------------------------- risk-averse
@dataclass(frozen=True)
class RiskAverseAllocation:
    """One allocation chosen against the whole posterior (see :func:`risk_averse_allocation`).

    Attributes
    ----------
    budget : float
        Training FLOPs.
    N, D : float
        The chosen parameters and tokens (on the budget line).
    tokens_per_param : float
        ``D / N``.
    utility : str
        ``"mean"``, ``"quantile"``, ``"cvar"`` or ``"custom"``.
    level : float
        Level of the quantile / CVaR (unused for the mean).
    objective : float
        The minimised functional of the loss distribution at ``(N, D)``.
    losses : ndarray
        Per-draw losses of the chosen plan, shape ``(S,)`` (with noise if requested).
    per_draw_N : ndarray
        Each draw's own compute-optimal ``N`` at the budget, shape ``(S,)``, for comparison.
    grid_N, grid_objective : ndarray
        The scan over ``N`` on the budget line (for plots).
    distance : pandas.DataFrame or None
        The chosen split's distance from the runs (one row with the distance columns of
        ``fit.predict`` rows); set by :func:`bayescale.risk_averse`, None from the numpy core.
    """

    budget: float
    N: float
    D: float
    tokens_per_param: float
    utility: str
    level: float
    objective: float
    losses: np.ndarray = field(repr=False)
    per_draw_N: np.ndarray = field(repr=False)
    grid_N: np.ndarray = field(repr=False)
    grid_objective: np.ndarray = field(repr=False)
    distance: pd.DataFrame | None = field(default=None, repr=False)


def _functional(utility: str | Callable, level: float) -> tuple[Callable, str]:
    if callable(utility):
        return (lambda x: np.asarray(utility(x), dtype=float)), "custom"
    if utility == "mean":
        return (lambda x: np.asarray(expected_loss(x))), "mean"
    if utility == "quantile":
        if not 0.0 < level < 1.0:
            raise DecisionError(f"level must be in (0, 1) for utility='quantile'; got {level!r}")
        return (lambda x: np.asarray(loss_quantile(x, level))), "quantile"
    if utility == "cvar":
        if not 0.0 <= level < 1.0:
            raise DecisionError(f"level must be in [0, 1) for utility='cvar'; got {level!r}")
        return (lambda x: np.asarray(cvar(x, level))), "cvar"
    raise DecisionError(
        f"utility must be 'mean', 'quantile', 'cvar' or a callable losses(S, G) -> (G,); got "
        f"{utility!r}"
    )


def _risk_averse_allocation(
    draws: Any,
    budget: float,
    *,
    utility: str | Callable[[np.ndarray], np.ndarray] = "mean",
    level: float = 0.9,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    grid: int = 401,
    noise: bool = False,
    sigma: Any = None,
    nu: Any = None,
    rng: Any = None,
    deviation: Deviation | None = None,
) -> RiskAverseAllocation:
    """The single allocation on the budget line minimising a risk functional of the loss.

    Scans ``log N`` on a grid spanning every draw's own optimum (plus a margin), evaluates the
    loss of every draw at every grid point (``S x grid``), picks the grid minimum of the
    functional and refines it by golden-section search with parabolic polishing.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the natural parameters, shape ``(S,)`` each.
    budget : float
        Training FLOPs.
    utility : {"mean", "quantile", "cvar"} or callable, default "mean"
        Functional of the per-draw losses to minimise: the posterior expected loss, the
        ``level`` quantile, or the CVaR (mean of the worst ``1 - level`` tail).  A callable
        receives losses of shape ``(S, G)`` and must return ``(G,)``.
    level : float, default 0.9
        Level of the quantile / CVaR.
    law, flops_per_token, flops, method
        As in :func:`~bayescale.decisions.compute_optimal` (``method`` only affects
        ``per_draw_N`` and the scan range).
    grid : int, default 401
        Number of grid points in the scan.
    noise : bool, default False
        Include run-to-run noise: each draw's loss is multiplied by ``exp(eps_s)``, drawn once
        per draw (common random numbers, so the objective stays smooth in ``N``).  False by
        the rule of every decision: the choice of split is a question about the law (one
        run's noise is the same whichever split it trains); a question about a training run
        counts its noise (see :mod:`bayescale.decisions`).
    sigma, nu, rng
        Noise draws and random source, as in :func:`~bayescale.decisions.loss_draws`.
    deviation : callable, optional
        A frozen extrapolation discrepancy ``deviation(C, tpp) -> (S, G)`` of the log loss
        (:meth:`bayescale.Discrepancy.frozen`), evaluated at every candidate's tokens per
        parameter with the same deviates (common random numbers, so the objective stays
        smooth in ``N``).  Its compute part is the same for every candidate of a budget (one
        factor per draw, which only re-weights the draws in the functional); its
        tokens-per-parameter part grows outside the runs' range, so a risk-averse functional
        is pulled towards the tokens per parameter the runs observed.  None (the default):
        the law's posterior alone.

    Returns
    -------
    RiskAverseAllocation

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.decisions import risk_averse
    >>> rng = np.random.default_rng(0)
    >>> draws = dict(E=np.full(400, 1.82), A=482.0 * np.exp(0.3 * rng.standard_normal(400)),
    ...              B=np.full(400, 2085.0), alpha=np.full(400, 0.348),
    ...              beta=np.full(400, 0.366))
    >>> ra = risk_averse(draws, 1e23, utility="cvar", level=0.9)
    >>> bool(ra.objective >= ra.losses.mean())
    True
    >>> f"{ra.N:.2e}"
    '6.10e+10'
    """
    law_obj = resolve_law(law)
    require_nd_law(law_obj, "a risk-averse allocation")
    fm = flop_model(flops_per_token, flops)
    nat, s = natural_draws(draws, law_obj)
    c, scalar = positive_values(budget, "budget", unit=" (FLOPs)")
    if not scalar:
        raise DecisionError(f"budget must be a single number of FLOPs; got {budget!r}")
    grid = int(grid)
    if grid < 3:
        raise DecisionError(f"grid must be at least 3; got {grid!r}")
    func, name = _functional(utility, float(level))
    deviation = check_deviation(deviation, s)
    log_c = float(np.log(c[0]))
    sig, v = noise_draws(draws, s, sigma, nu, noise)
    log_factor = np.zeros((s, 1))
    fail_u = curve = None
    if sig is not None:
        gen = as_generator(rng)
        log_factor = (sig * noise_eps(gen, (s,), v))[:, None]
        fail = failure_draws(draws, s, noise)
        curve = failure_curve(draws, s, noise) if fail is not None else None
        if curve is not None:  # the chance depends on the split: one uniform per draw, read
            fail_u = gen.uniform(size=(s, 1))   # against each split's chance (as below)
            fail_size = fail[1][:, None]
        elif fail is not None:  # drawn after the noise, which therefore does not change
            log_factor = log_factor + failure_shift(gen, (s, 1), *fail)

    u_star = optimal_log(law_obj, nat, np.array([log_c]), fm, method)[0][:, 0]
    lo, hi = float(np.min(u_star)) - 0.5, float(np.max(u_star)) + 0.5
    params = sampled_params(law_obj, nat, 1)

    def losses_at(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float).reshape(1, -1)
        y = fm.log_tokens(u, np.array([[log_c]]))
        log_l = log_loss(law_obj, params, N=u, D=y) + log_factor
        if curve is not None:  # a run fails at its split's own tokens per parameter
            t = np.broadcast_to(np.exp(y - u), (s, u.shape[1]))
            log_l = log_l + np.where(fail_u < curve.p(t), fail_size, 0.0)
        if deviation is not None:
            log_l = log_l + deviation(np.full(u.shape, c[0]), np.exp(y - u))
        return np.exp(log_l)

    def objective(u: np.ndarray) -> np.ndarray:
        val = func(losses_at(u))
        if val.shape != (np.size(u),):
            raise DecisionError(
                f"utility callable must reduce losses of shape (S, G) to shape (G,); got "
                f"{val.shape}"
            )
        return val

    u_grid = np.linspace(lo, hi, grid)
    obj_grid = objective(u_grid)
    i = int(np.nanargmin(obj_grid))
    a, b = u_grid[max(i - 1, 0)], u_grid[min(i + 1, grid - 1)]
    u_best, f_best = golden_minimize(objective, np.array([a]), np.array([b]))
    if not f_best[0] <= obj_grid[i]:
        u_best, f_best = np.array([u_grid[i]]), np.array([obj_grid[i]])
    u_opt = float(u_best[0])
    y_opt = float(fm.log_tokens(np.array([u_opt]), np.array([log_c]))[0])
    return RiskAverseAllocation(
        budget=float(c[0]),
        N=math.exp(u_opt),
        D=math.exp(y_opt),
        tokens_per_param=math.exp(y_opt - u_opt),
        utility=name,
        level=float(level),
        objective=float(f_best[0]),
        losses=losses_at(np.array([u_opt]))[:, 0],
        per_draw_N=np.exp(u_star),
        grid_N=np.exp(u_grid),
        grid_objective=obj_grid,
    )


# --------------------------------------------------------------------------- inference-aware
@dataclass(frozen=True)
class InferenceAwareAllocation:
    """Per-draw allocation minimising training + inference FLOPs for a loss target.

    Attributes
    ----------
    target_loss : float
    inference_tokens : float
    draws : dict of str to ndarray
        Per-draw arrays of shape ``(S,)``, NaN where the target is unreachable:

        - ``N``, ``D``, ``tokens_per_param``: the inference-aware allocation;
        - ``training_flops`` (``k N D``), ``inference_flops``
          (``inference_flops_per_token * N * inference_tokens``), ``total_flops``;
        - ``N_compute_optimal``, ``D_compute_optimal``, ``total_flops_compute_optimal``: the
          training-compute-optimal run reaching the same target, with its inference cost;
        - ``savings``: ``1 - total_flops / total_flops_compute_optimal`` (>= 0).
    reachable : ndarray of bool
        ``(S,)``: False where ``target_loss`` is at or below the draw's irreducible loss.
    n_unreachable : int
        Number of draws that cannot reach the target at any size (reported, not dropped).
    summary : pandas.DataFrame
        Tidy summary over the reachable draws: one row per quantity.
    """

    target_loss: float
    inference_tokens: float
    draws: dict[str, np.ndarray] = field(repr=False)
    reachable: np.ndarray = field(repr=False)
    n_unreachable: int
    summary: pd.DataFrame = field(repr=False)


def _tokens_for_target(law, kind, nat_r, params, u, log_t):
    """``log D`` such that ``L(e**u, D) = target`` (``+inf`` where unreachable at this N)."""
    t = math.exp(log_t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "chinchilla":
            rest = t - nat_r["E"] - nat_r["A"] * np.exp(-nat_r["alpha"] * u)
            y = (np.log(nat_r["B"]) - np.log(rest)) / nat_r["beta"]
            return np.where(rest > 0, y, np.inf)
        if kind == "kaplan":
            r = nat_r["alpha_N"] / nat_r["alpha_D"]
            rest = t ** (1.0 / nat_r["alpha_D"]) - np.exp(r * (np.log(nat_r["N_c"]) - u))
            y = np.log(nat_r["D_c"]) - np.log(rest)
            return np.where(rest > 0, y, np.inf)
    # generic: bisection on log D (loss decreases in D)
    big = np.full(np.shape(u), LOG_INF)
    ok = log_loss(law, params, N=u, D=big) < log_t
    hi = np.full(np.shape(u), 200.0)
    for _ in range(60):
        need = ok & ~(log_loss(law, params, N=u, D=hi) <= log_t)
        if not need.any():
            break
        hi = np.where(need, 2.0 * hi, hi)
    lo = np.full(np.shape(u), -50.0)
    y = bisect_increasing(lambda yy: log_loss(law, params, N=u, D=yy) <= log_t, lo, hi,
                          tol=1e-12)
    return np.where(ok, y, np.inf)


def _inference_aware_allocation(
    draws: Any,
    target_loss: float,
    inference_tokens: float,
    *,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    inference_flops_per_token: float = 2.0,
    method: str = "auto",
    ci: Sequence[float] = (0.5, 0.8, 0.95),
) -> InferenceAwareAllocation:
    """Minimise training + inference FLOPs subject to reaching ``target_loss``, per draw.

    For each draw, minimises ``k N D + k_inf N T`` (``k = flops_per_token``,
    ``k_inf = inference_flops_per_token``, ``T = inference_tokens``) over ``N`` with ``D``
    chosen so that ``L(N, D) = target_loss``.  For the Chinchilla law
    ``D = (B / (target - E - A N**-alpha))**(1 / beta)`` (closed form, likewise for Kaplan;
    other laws solve for ``D`` by bisection); the total is log-convex in ``log N`` for
    Chinchilla, and is minimised by golden-section search between the smallest ``N`` that can
    reach the target and the training-compute-optimal ``N`` (inference cost only ever pushes
    ``N`` down).

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the natural parameters, shape ``(S,)`` each.
    target_loss : float
        Loss to reach (nats), positive.
    inference_tokens : float
        Tokens to be processed at inference over the model's life, ``>= 0``.
    law : str or Law, default "chinchilla"
        A law with inputs ``("N", "D")``.
    flops_per_token : float, default 6.0
        Training FLOPs per parameter per token.
    inference_flops_per_token : float, default 2.0
        Inference FLOPs per parameter per token (a forward pass).
    method : {"auto", "closed", "numeric"}
        Solver for the training-compute-optimal reference run.
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Interval levels of the summary.

    Returns
    -------
    InferenceAwareAllocation
        Per-draw arrays (NaN where the target is unreachable, i.e. ``target_loss <= E``), the
        reachable mask, the count of unreachable draws and a summary over reachable draws.

    Examples
    --------
    >>> from bayescale.decisions import inference_aware
    >>> draws = dict(E=[1.69, 2.2], A=[406.4] * 2, B=[410.7] * 2, alpha=[0.34] * 2,
    ...              beta=[0.28] * 2)
    >>> res = inference_aware(draws, 2.0, inference_tokens=1e13)
    >>> res.n_unreachable            # the second draw has E = 2.2 > target
    1
    >>> f"{res.draws['N'][0]:.3g} params vs {res.draws['N_compute_optimal'][0]:.3g}"
    '6.49e+09 params vs 1.53e+10'
    """
    law_obj = resolve_law(law)
    require_nd_law(law_obj, "an inference-aware allocation")
    fm = flop_model(flops_per_token, None)
    k_inf = float(inference_flops_per_token)
    if not (np.isfinite(k_inf) and k_inf > 0):
        raise DecisionError(f"inference_flops_per_token must be positive; got "
                            f"{inference_flops_per_token!r}")
    nat, s = natural_draws(draws, law_obj)
    t_arr, scalar = positive_values(target_loss, "target_loss", unit=" (a loss in nats, > 0)")
    if not scalar:
        raise DecisionError(f"target_loss must be a single loss; got {target_loss!r}")
    tokens = float(np.asarray(inference_tokens, dtype=float))
    if not (np.isfinite(tokens) and tokens >= 0):
        raise DecisionError(f"inference_tokens must be >= 0 and finite; got {inference_tokens!r}")
    t = float(t_arr[0])
    log_t = math.log(t)
    log_k = math.log(fm.k)
    log_inf = math.log(k_inf * tokens) if tokens > 0 else -np.inf

    reachable = log_t > asymptotic_log_loss(law_obj, nat) + 1e-12
    names = ("N", "D", "tokens_per_param", "training_flops", "inference_flops", "total_flops",
             "N_compute_optimal", "D_compute_optimal", "total_flops_compute_optimal", "savings")
    out = {k: np.full(s, np.nan) for k in names}
    if reachable.any():
        rows = np.nonzero(reachable)[0]
        nat_r = {k: v[rows] for k, v in nat.items()}
        params = sampled_params(law_obj, nat_r, 0)
        kind = _closed_kind(law_obj)
        # training-compute-optimal run reaching the target (the T = 0 solution)
        log_c0 = inverse_frontier(law_obj, nat_r, np.full((rows.size, 1), log_t), fm, method)
        u0, y0, _ = optimal_log(law_obj, nat_r, log_c0, fm, method)
        u0, y0 = u0[:, 0], y0[:, 0]
        # smallest N that can reach the target with infinite data
        if kind == "chinchilla":
            u_min = (np.log(nat_r["A"]) - np.log(t - nat_r["E"])) / nat_r["alpha"]
        elif kind == "kaplan":
            r = nat_r["alpha_N"] / nat_r["alpha_D"]
            u_min = np.log(nat_r["N_c"]) - log_t / (nat_r["alpha_D"] * r)
        else:
            big = np.full(rows.size, LOG_INF)

            def can_reach(u):
                return log_loss(law_obj, params, N=u, D=big) < log_t

            lo = u0 - 8.0
            for _ in range(60):
                bad = can_reach(lo)
                if not bad.any():
                    break
                lo = np.where(bad, lo - 8.0, lo)
            u_min = bisect_increasing(can_reach, lo, u0, tol=1e-12)

        def log_total(u):
            y = _tokens_for_target(law_obj, kind, nat_r, params, u, log_t)
            with np.errstate(invalid="ignore"):
                return np.logaddexp(log_k + u + y, log_inf + u)

        u, _ = golden_minimize(log_total, u_min, u0 + 0.05)
        y = _tokens_for_target(law_obj, kind, nat_r, params, u, log_t)
        # never worse than the compute-optimal run (guards the search at T = 0)
        total0 = np.logaddexp(log_k + u0 + y0, log_inf + u0)
        worse = ~(log_total(u) <= total0)
        u, y = np.where(worse, u0, u), np.where(worse, y0, y)
        n, d = np.exp(u), np.exp(y)
        train, infer = fm.k * n * d, k_inf * tokens * n
        vals = {
            "N": n,
            "D": d,
            "tokens_per_param": d / n,
            "training_flops": train,
            "inference_flops": infer,
            "total_flops": train + infer,
            "N_compute_optimal": np.exp(u0),
            "D_compute_optimal": np.exp(y0),
            "total_flops_compute_optimal": np.exp(total0),
        }
        vals["savings"] = np.maximum(-np.expm1(np.log(vals["total_flops"]) - total0), 0.0)
        for k, v in vals.items():
            out[k][rows] = v
    summary = summarise({k: out[k][:, None] for k in names},
                        {"target_loss": np.array([t]), "inference_tokens": np.array([tokens])},
                        ci)
    return InferenceAwareAllocation(
        target_loss=t,
        inference_tokens=tokens,
        draws=out,
        reachable=reachable,
        n_unreachable=int(s - reachable.sum()),
        summary=summary,
    )


risk_averse_allocation = deprecated_alias(
    _risk_averse_allocation, "bayescale.decisions.risk_averse_allocation",
    "bayescale.decisions.risk_averse(draws, budget, law=...)")


inference_aware_allocation = deprecated_alias(
    _inference_aware_allocation, "bayescale.decisions.inference_aware_allocation",
    "bayescale.decisions.inference_aware(draws, target_loss, inference_tokens, law=...)")
