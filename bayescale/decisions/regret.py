"""Regret of a training plan: how much loss, and how much compute, it leaves on the table.

For a plan ``(N, D)`` with budget ``C = k N D`` (or ``flops(N, D)``), per posterior draw:

- **excess loss** ``L(N, D) - L*(C)``: the loss above the compute-optimal run with the same
  budget (zero at the draw's optimum, positive elsewhere);
- **deadweight compute** ``C / C_opt(L(N, D)) - 1``: the fraction of the budget that was not
  needed, where ``C_opt(L)`` is the smallest budget whose optimal run reaches loss ``L``.  A
  plan with deadweight 0.25 spent 25% more compute than a compute-optimal run reaching the same
  loss would have.

``C_opt`` inverts the frontier ``L*(C)``: in closed form for the Chinchilla and Kaplan laws
(``L* = E + K (C/k)**-gamma``), otherwise by vectorised bisection on ``log C``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import (
    DecisionError,
    Deviation,
    check_deviation,
    deprecated_alias,
    flop_model,
    log_loss,
    natural_draws,
    require_nd_law,
    resolve_law,
    sampled_params,
    summarise,
)
from bayescale.decisions.allocation import inverse_frontier, optimal_log
from bayescale.laws import Law

__all__ = ["RegretResult", "regret"]

_QUANTITIES = (
    "loss_plan",
    "loss_opt",
    "excess_loss",
    "deadweight_compute",
    "budget_opt",
    "N_opt",
    "D_opt",
)


@dataclass(frozen=True)
class RegretResult:
    """Per-draw regret of one or several plans (see :func:`regret`).

    Attributes
    ----------
    plans : pandas.DataFrame
        One row per plan: ``plan`` (index 0, 1, ...), ``N``, ``D`` and ``budget`` (FLOPs).
    draws : dict of str to ndarray
        Per-draw arrays, shape ``(S,)`` for a single plan or ``(S, P)`` for ``P`` plans:

        - ``loss_plan``: predicted loss of the plan;
        - ``loss_opt``: compute-optimal loss at the plan's budget;
        - ``excess_loss``: ``loss_plan - loss_opt`` (>= 0);
        - ``deadweight_compute``: ``budget / budget_opt - 1`` (>= 0);
        - ``budget_opt``: smallest budget whose optimal loss equals ``loss_plan``;
        - ``N_opt``, ``D_opt``: the compute-optimal allocation at the plan's budget.
    summary : pandas.DataFrame
        Tidy posterior summary: one row per plan x quantity with ``mean``, ``median`` and
        ``lo_XX``/``hi_XX`` columns.
    """

    plans: pd.DataFrame
    draws: dict[str, np.ndarray] = field(repr=False)
    summary: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Long per-draw table: one row per (plan, draw) with every quantity as a column.

        Examples
        --------
        >>> from bayescale.decisions import plan_regret
        >>> hoffmann = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
        >>> plan_regret(hoffmann, (70e9, 1.4e12)).to_frame().columns[:4].tolist()
        ['plan', 'draw', 'N', 'D']
        """
        p = len(self.plans)
        arrays = {k: np.asarray(v).reshape(-1, p) for k, v in self.draws.items()}
        s = next(iter(arrays.values())).shape[0]
        frame = {
            "plan": np.repeat(np.arange(p), s),
            "draw": np.tile(np.arange(s), p),
            "N": np.repeat(self.plans["N"].to_numpy(), s),
            "D": np.repeat(self.plans["D"].to_numpy(), s),
            "budget": np.repeat(self.plans["budget"].to_numpy(), s),
        }
        for k, a in arrays.items():
            frame[k] = a.T.reshape(-1)
        return pd.DataFrame(frame)


def _regret(
    draws: Any,
    plan: tuple[Any, Any],
    *,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    method: str = "auto",
    ci: Sequence[float] = (0.5, 0.8, 0.95),
    deviation: Deviation | None = None,
) -> RegretResult:
    """Excess loss and deadweight compute of a plan ``(N, D)`` relative to each draw's optimum.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the law's natural parameters, shape ``(S,)`` each.
    plan : tuple (N, D)
        Parameters and training tokens.  ``N`` and ``D`` may be arrays (broadcast together,
        flattened to ``P`` plans).
    law : str or Law, default "chinchilla"
        A law with inputs ``("N", "D")``.
    flops_per_token : float, default 6.0
        The plan's budget is ``flops_per_token * N * D``.
    flops : callable, optional
        User FLOP model ``flops(N, D)``; see :func:`~bayescale.decisions.compute_optimal`.
    method : {"auto", "closed", "numeric"}
        Solver for the optimum and for its inverse ``C_opt(L)``.
    ci : sequence of float, default (0.5, 0.8, 0.95)
        Interval levels of the summary.
    deviation : callable, optional
        A frozen extrapolation discrepancy ``deviation(C, tpp) -> (S, P)`` of the log loss
        (:meth:`bayescale.Discrepancy.frozen`).  The plan and the optimum have the same budget,
        so the discrepancy's compute part is one factor per draw on both losses: it cancels
        from the ratio ``loss_plan / loss_opt`` and from the allocation, and only scales the
        excess loss.  Its tokens-per-parameter part does not cancel: a plan outside the runs'
        range of ``D / N`` carries it and the (mean law's) optimum usually does not.
        ``loss_plan``, ``loss_opt`` and ``excess_loss`` include it; ``deadweight_compute``,
        ``budget_opt``, ``N_opt`` and ``D_opt`` stay the mean law's (a budget ratio along the
        law's frontier, where the compute part cancels to first order).  None (the default):
        the law's posterior alone.

    Returns
    -------
    RegretResult
        ``plans``, per-draw ``draws`` (``(S,)`` for one plan) and a tidy ``summary``.
        Excess loss and deadweight are clipped at 0 (without ``deviation`` tiny negative
        values can only come from floating-point rounding at the optimum itself; with it, a
        draw whose tokens-per-parameter deviation favours the plan counts as no regret: the
        plan is then at least as good as the mean law's optimum).

    Examples
    --------
    >>> from bayescale.decisions import plan_regret
    >>> hoffmann = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    >>> r = plan_regret(hoffmann, (175e9, 300e9))   # a GPT-3-like plan
    >>> round(float(r.draws["excess_loss"][0]), 4)
    0.0482
    >>> round(float(r.draws["deadweight_compute"][0]), 2)
    1.98
    """
    law_obj = resolve_law(law)
    require_nd_law(law_obj, "regret against the compute-optimal allocation")
    fm = flop_model(flops_per_token, flops)
    nat, s = natural_draws(draws, law_obj)
    deviation = check_deviation(deviation, s)
    try:
        n_plan, d_plan = plan
    except (TypeError, ValueError):
        raise DecisionError(f"plan must be a pair (N, D); got {plan!r}") from None
    n_arr, d_arr = (np.asarray(a, dtype=float) for a in (n_plan, d_plan))
    for name, a in (("N", n_arr), ("D", d_arr)):
        bad = ~(np.isfinite(a) & (a > 0))
        if bad.any():
            raise DecisionError(f"plan {name} must be positive and finite; got "
                                f"{a[bad].reshape(-1)[0]!r}")
    try:
        n_arr, d_arr = np.broadcast_arrays(n_arr, d_arr)
    except ValueError:
        raise DecisionError(f"plan N {n_arr.shape} and D {d_arr.shape} do not broadcast") from None
    scalar = n_arr.ndim == 0
    u_p, y_p = np.log(n_arr.reshape(-1)), np.log(d_arr.reshape(-1))
    log_c = fm.log_budget(u_p, y_p)
    if not np.all(np.isfinite(log_c)):
        raise DecisionError("flops(N, D) returned a non-positive or non-finite budget for the plan")
    params = sampled_params(law_obj, nat, 1)
    log_l_plan = np.broadcast_to(log_loss(law_obj, params, N=u_p[None], D=y_p[None]),
                                 (s, u_p.size))
    u_o, y_o, log_l_opt = optimal_log(law_obj, nat, log_c, fm, method)
    log_c_opt = inverse_frontier(law_obj, nat, log_l_plan, fm, method,
                                 log_c_hint=log_c[None, :])
    dev_plan = dev_opt = 0.0
    if deviation is not None:
        c_plan = np.exp(log_c)
        dev_plan = deviation(c_plan, np.exp(y_p - u_p))
        dev_opt = deviation(c_plan, np.exp(y_o - u_o))
    out = {
        "loss_plan": np.exp(log_l_plan + dev_plan),
        "loss_opt": np.exp(log_l_opt + dev_opt),
        "excess_loss": np.maximum(np.exp(log_l_plan + dev_plan) - np.exp(log_l_opt + dev_opt),
                                  0.0),
        "deadweight_compute": np.maximum(np.expm1(log_c[None, :] - log_c_opt), 0.0),
        "budget_opt": np.exp(np.minimum(log_c_opt, log_c[None, :])),
        "N_opt": np.exp(u_o),
        "D_opt": np.exp(y_o),
    }
    budgets = np.exp(log_c)
    plans = pd.DataFrame({"plan": np.arange(u_p.size), "N": np.exp(u_p), "D": np.exp(y_p),
                          "budget": budgets})
    summary = summarise(out, {"plan": plans["plan"].to_numpy(), "N": plans["N"].to_numpy(),
                              "D": plans["D"].to_numpy(), "budget": budgets}, ci)
    if scalar:
        out = {k: v[:, 0] for k, v in out.items()}
    return RegretResult(plans=plans, draws=out, summary=summary)


regret = deprecated_alias(
    _regret, "bayescale.decisions.regret",
    "bayescale.decisions.plan_regret(draws, plan, law=...)")
