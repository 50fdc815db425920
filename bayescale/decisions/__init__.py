"""Training-budget decisions from posterior draws of a scaling law.

Each decision has one public name, and takes a fit or the fit's posterior draws:

- :func:`allocate`: the compute-optimal allocation of each budget (``N*``, ``D*``, tokens per
  parameter, loss), a table with intervals (``per_draw=True``: each draw's optimum);
- :func:`prob_target`: P(loss <= target) at a budget or for a plan;
- :func:`budget_for`: the smallest budget that reaches a target with a given probability;
- :func:`plan_regret`: the loss and compute a plan gives up against the optimum;
- :func:`risk_averse` and :func:`inference_aware`: one allocation against a risk functional,
  and the allocation that minimises training plus lifetime inference FLOPs;
- :func:`allocate_capped`: the compute-optimal plan under a cap on unique tokens
  (data-constrained law);
- :func:`next_runs`: which pilot runs to train next, by the expected narrowing of a decision per
  FLOP (:func:`design_runs` values given candidates on draws; :func:`candidate_runs`);
- :func:`~bayescale.decisions.grid.regret_grid`: the regret of every plan of a large (N, D)
  grid in bounded memory;
- and the numpy helpers on draws :func:`exponents`, :func:`loss_draws`,
  :func:`expected_loss`, :func:`loss_quantile`, :func:`cvar`.

``fit`` is a :class:`~bayescale.ScalingFit` or a mapping from the law's *natural* parameter
names (``law.natural``; for Chinchilla ``E, A, B, alpha, beta``) to arrays of posterior draws of
shape ``(S,)``, optionally with observation-noise draws ``sigma`` (log-loss scale) and ``nu``
(Student-t degrees of freedom).  Decisions are computed per draw, so their spread is the
decision's uncertainty.  The draws of a fit come from its one method for them::

    draws = fit.draws(group=None, noise=True, discrepancy=False)   # + .law, .flops_per_token

(for a hierarchical fit ``group=`` a group label or ``"new"``; ``discrepancy=True`` freezes the
extrapolation discrepancy onto the draws, and the decisions apply it).  The former names of the
numpy cores (``compute_optimal``, ``allocation_table``, ``prob_below``, ``budget_for_target``,
``regret``, ``risk_averse_allocation``, ``inference_aware_allocation``, ``capped_optimal``, and
``decision_draws`` / ``fit_flops_per_token``) remain as deprecated aliases: each warns once per
call with a :class:`DeprecationWarning` naming its replacement and returns the same numbers.

Run-to-run noise (``noise=``) follows the question asked.  A question about whether *a
training run* reaches a loss counts the noise of one run by default (``noise=True``:
:func:`prob_target`, :func:`budget_for`, :func:`loss_draws`); a question about *the law* leaves
it out (``noise=False``: ``fit.predict``, :func:`~bayescale.decisions.api.predict_optimal`,
:func:`risk_averse`, whose choice of split one run's noise does not change;
:func:`allocate` and :func:`plan_regret` compare mean-law losses and take no ``noise``).  Every
function that takes ``noise=`` accepts either value.

Training FLOPs are ``flops_per_token * N * D`` (the fit's convention, ``fit.flops_per_token``,
6 unless fitted with another; 6 for a plain dict of draws) unless a FLOP function
``flops(N, D)`` is given.  Bad arguments raise :class:`DecisionError` (a ``ValueError``)
naming the argument and value; unreachable targets raise :class:`UnreachableTargetError`.

Examples
--------
>>> import numpy as np
>>> from bayescale import decisions as bd
>>> hoffmann = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
>>> opt = bd.allocate(hoffmann, 5.76e23, per_draw=True)
>>> round(float(opt["tokens_per_param"][0, 0]), 1)
92.6
"""

from __future__ import annotations

from bayescale.decisions._common import DecisionError, UnreachableTargetError
from bayescale.decisions.allocation import allocation_table, compute_optimal, exponents
from bayescale.decisions.api import (
    allocate,
    budget_for,
    decision_draws,
    extrapolation,
    fit_flops_per_token,
    inference_aware,
    plan_regret,
    prob_target,
    risk_averse,
)
from bayescale.decisions.capped import CappedAllocation, allocate_capped, capped_optimal
from bayescale.decisions.design import (
    DesignResult,
    candidate_runs,
    design_runs,
    next_runs,
)
from bayescale.decisions.regret import RegretResult, regret
from bayescale.decisions.risk import (
    budget_for_target,
    cvar,
    expected_loss,
    loss_draws,
    loss_quantile,
    prob_below,
)
from bayescale.decisions.robust import (
    InferenceAwareAllocation,
    RiskAverseAllocation,
    inference_aware_allocation,
    risk_averse_allocation,
)

__all__ = [
    "CappedAllocation",
    "DecisionError",
    "DesignResult",
    "InferenceAwareAllocation",
    "RegretResult",
    "RiskAverseAllocation",
    "UnreachableTargetError",
    "allocate",
    "allocate_capped",
    "allocation_table",
    "budget_for",
    "budget_for_target",
    "candidate_runs",
    "capped_optimal",
    "compute_optimal",
    "cvar",
    "decision_draws",
    "design_runs",
    "expected_loss",
    "exponents",
    "extrapolation",
    "fit_flops_per_token",
    "inference_aware",
    "inference_aware_allocation",
    "loss_draws",
    "loss_quantile",
    "next_runs",
    "plan_regret",
    "prob_below",
    "prob_target",
    "regret",
    "risk_averse",
    "risk_averse_allocation",
]
