"""Training-budget decisions from posterior draws of a scaling law (numpy only).

Every function takes ``draws``: a mapping from the law's *natural* parameter names
(``law.natural``; for Chinchilla ``E, A, B, alpha, beta``) to arrays of posterior draws of
shape ``(S,)``, optionally with observation-noise draws ``sigma`` (log-loss scale) and ``nu``
(Student-t degrees of freedom).  Decisions are computed per draw, so their spread is the
decision's uncertainty; nothing here samples or imports PyMC.  From a fit::

    draws = {**fit.draws(), **fit.draws(kind="noise")}   # natural parameters + sigma (, nu)

(for a hierarchical fit with per-group parameters of shape ``(S, G)``, select one group).

- :mod:`~bayescale.decisions.allocation`: :func:`compute_optimal`, :func:`exponents`,
  :func:`allocation_table`;
- :mod:`~bayescale.decisions.risk`: :func:`loss_draws`, :func:`prob_below`,
  :func:`budget_for_target`, :func:`expected_loss`, :func:`loss_quantile`, :func:`cvar`;
- :mod:`~bayescale.decisions.regret`: :func:`regret`;
- :mod:`~bayescale.decisions.robust`: :func:`risk_averse_allocation`,
  :func:`inference_aware_allocation`;
- :mod:`~bayescale.decisions.api`: the same decisions taken from a fit (:func:`allocate`,
  :func:`prob_target`, :func:`budget_for`, :func:`plan_regret`, :func:`risk_averse`,
  :func:`inference_aware`; also exported as ``bayescale.allocate`` ...).
- :mod:`~bayescale.decisions.design`: which pilot runs to train next, by the expected
  narrowing of a decision per FLOP (:func:`next_runs`, :func:`design_runs`,
  :func:`candidate_runs`; ``bayescale.next_runs``).
- :mod:`~bayescale.decisions.capped`: the compute-optimal plan under a cap on unique tokens
  (data-constrained law; :func:`capped_optimal`, ``bayescale.allocate_capped``).
- :mod:`~bayescale.decisions.grid`: the regret of every plan of a large (N, D) grid in bounded
  memory (:func:`~bayescale.decisions.grid.regret_grid`).

Run-to-run noise (``noise=``) follows the question asked.  A question about whether *a
training run* reaches a loss counts the noise of one run by default (``noise=True``:
:func:`prob_target`, :func:`budget_for`); a question about *the law* leaves it out
(``noise=False``: ``fit.predict``, :func:`~bayescale.decisions.api.predict_optimal`,
:func:`risk_averse`; :func:`allocate` and :func:`plan_regret` compare mean-law losses and take
no ``noise``).  Every function that takes ``noise=`` accepts either value.

Training FLOPs are ``flops_per_token * N * D`` (6 by default) unless a FLOP function
``flops(N, D)`` is given.  Bad arguments raise :class:`DecisionError` (a ``ValueError``)
naming the argument and value; unreachable targets raise :class:`UnreachableTargetError`.

Examples
--------
>>> import numpy as np
>>> from bayescale import decisions as bd
>>> hoffmann = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
>>> opt = bd.compute_optimal(hoffmann, 5.76e23)
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
