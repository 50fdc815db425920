"""Compute-optimal allocation under a cap on unique tokens (data-constrained law).

With only ``U`` unique tokens available, a budget ``C = k N D`` that calls for more than ``U``
training tokens must repeat data: ``D / U`` epochs.  The data-constrained law of Muennighoff et
al. (2023; :mod:`bayescale.laws.datablations`) values repeated tokens (and parameters beyond
what the unique data can feed) less, so the best split of ``C`` moves.  For every posterior
draw and budget this module finds

* the **capped optimum**: ``argmin_N L(N, D = C / (k N), U = min(D, U_cap))`` on the budget
  line, its tokens ``D``, epochs ``max(D / U_cap, 1)`` and loss;
* the **uncapped optimum** of the same law (``U = D``, every token fresh), which for this law
  is the Chinchilla closed form ``N* = G (C / k)^(beta / (alpha + beta))``;
* the **cost of the cap**: the relative loss increase ``L_capped / L_free - 1``, and whether the
  cap binds (the uncapped optimum would need more than ``U_cap`` tokens).

The loss along the budget line has kinks (where ``D`` crosses ``U_cap`` and where ``N``
crosses ``N_opt(U)``), so the minimum is found by a grid over ``log N`` around the uncapped
optimum (``n_grid`` points over ``+-span`` e-folds; 0.07 e-folds apart by default) and refined
by golden-section search between the grid neighbours of the best grid point: exact to about
``1e-8`` in ``log N`` where the grid resolves the minimum.  This is the brute-force grid of the
datablations case study, made exact and vectorised over draws and budgets.

:func:`allocate_capped` takes a fit or a mapping of its draws and returns a
:class:`CappedAllocation` with credible intervals and each draw's plan (``.draws``; the former
``capped_optimal`` is its deprecated numpy-core name).

Examples
--------
>>> from bayescale.decisions.capped import allocate_capped
>>> c4 = dict(E=1.869, A=520.8, B=1487.7, alpha=0.3527, beta=0.3527, R_D_star=15.39,
...           R_N_star=5.31)
>>> out = allocate_capped(c4, 1e22, 2e10).draws
>>> round(float(out["epochs"][0, 0]), 1), bool(out["N"][0, 0] < out["N_free"][0, 0])
(12.3, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import (
    DecisionError,
    check_levels,
    deprecated_alias,
    golden_minimize,
    log_loss,
    natural_draws,
    positive_values,
    resolve_law,
    sampled_params,
    summarise,
)
from bayescale.laws import Law, get_law

__all__ = ["CappedAllocation", "allocate_capped", "capped_optimal"]

#: Quantities of :func:`capped_optimal`, in the order of the summary table.
QUANTITIES = ("N", "D", "epochs", "tokens_per_param", "loss", "N_free", "D_free", "loss_free",
              "cap_cost", "binding")


def _require_capped_law(law: Law) -> None:
    if set(law.inputs) != {"N", "D", "U"}:
        raise DecisionError(
            f"law={law.name!r} has inputs {law.inputs}; an allocation under a unique-token cap "
            "needs a data-constrained law with inputs ('N', 'D', 'U'): fit law='datablations' "
            "(runs with a column U of unique tokens; U = D for single-epoch runs)"
        )


def _per_budget(x: Any, name: str, b: int) -> np.ndarray:
    arr, _ = positive_values(x, name, unit=" (tokens)" if name == "unique_tokens" else "")
    arr = arr.ravel()
    if arr.size not in (1, b):
        raise DecisionError(f"{name} must be one value or one per budget ({b}); got "
                            f"{arr.size} values")
    return np.broadcast_to(arr, (b,)).astype(float)


def _capped_optimal(
    draws: Any,
    budgets: Any,
    unique_tokens: Any,
    *,
    law: str | Law = "datablations",
    flops_per_token: float = 6.0,
    n_grid: int = 241,
    span: float = 8.0,
) -> dict[str, np.ndarray]:
    """Compute-optimal (N, D, epochs) per posterior draw under a cap on unique tokens.

    Parameters
    ----------
    draws : mapping of str to array_like
        Draws of the law's natural parameters (for ``"datablations"``: ``E, A, B, alpha, beta,
        R_D_star, R_N_star``), each of shape ``(S,)`` or scalars (one draw).
    budgets : float or array_like
        Training FLOPs ``C`` (``B`` budgets).
    unique_tokens : float or array_like
        The cap ``U_cap`` on unique tokens: one value, or one per budget.
    law : str or Law, default "datablations"
        A law with inputs ``("N", "D", "U")``.
    flops_per_token : float, default 6.0
        ``k`` in ``C = k N D``.
    n_grid : int, default 241
        Grid points over ``log N`` before the golden-section refinement (at least 21).
    span : float, default 8.0
        Half-width of the grid in e-folds of ``N`` around the uncapped optimum (8: a factor
        of about 3,000 either way).

    Returns
    -------
    dict of str to ndarray, each ``(S, B)``
        ``N``, ``D``, ``epochs`` (``max(D / U_cap, 1)``), ``tokens_per_param``, ``loss`` at
        the capped optimum; ``N_free``, ``D_free``, ``loss_free`` at the uncapped optimum;
        ``cap_cost`` (``loss / loss_free - 1``); ``binding`` (1.0 where the uncapped optimum
        needs more than ``U_cap`` tokens, else 0.0); ``at_edge`` (1.0 where the capped grid
        minimum was at the end of the grid: widen ``span``).

    Raises
    ------
    DecisionError
        For a law without a ``U`` input, non-positive budgets or caps, bad grid settings or
        malformed draws.

    Examples
    --------
    >>> from bayescale.decisions.capped import allocate_capped
    >>> c4 = dict(E=1.869, A=520.8, B=1487.7, alpha=0.3527, beta=0.3527, R_D_star=15.39,
    ...           R_N_star=5.31)
    >>> out = allocate_capped(c4, [1e20, 1e22], 2e10).draws
    >>> out["epochs"].round(2).tolist()      # 1e20 needs fewer tokens than the cap
    [[1.0, 12.29]]
    >>> f"{100 * float(out['cap_cost'][0, 1]):.2f}%"
    '2.06%'
    """
    law_obj = resolve_law(law)
    _require_capped_law(law_obj)
    k = float(flops_per_token)
    if not (math.isfinite(k) and k > 0):
        raise DecisionError(f"flops_per_token must be positive and finite; got "
                            f"{flops_per_token!r}")
    if not (isinstance(n_grid, (int, np.integer)) and n_grid >= 21):
        raise DecisionError(f"n_grid must be an integer >= 21; got {n_grid!r}")
    if not (math.isfinite(float(span)) and 0.5 <= float(span) <= 40):
        raise DecisionError(f"span must be between 0.5 and 40 e-folds of N; got {span!r}")
    nat, _ = natural_draws(draws, law_obj)
    c, _ = positive_values(budgets, "budgets", unit=" (FLOPs)")
    c = c.ravel()
    u_cap = _per_budget(unique_tokens, "unique_tokens", c.size)
    lc = np.log(c / k)[None, :]        # log(C / k) = log N + log D on the budget line
    lu_cap = np.log(u_cap)[None, :]
    p2 = sampled_params(law_obj, nat, 1)  # (S, 1): against (S, B)
    p3 = sampled_params(law_obj, nat, 2)  # (S, 1, 1): against (S, B, G)

    def loss(ln: np.ndarray, capped: bool, params: dict, lcx, lux) -> np.ndarray:
        ld = lcx - ln
        lu = np.minimum(ld, lux) if capped else ld
        out = log_loss(law_obj, params, N=ln, D=ld, U=lu)
        return np.where(np.isfinite(out), out, np.inf)

    # centre: the Chinchilla closed form, exact for the uncapped optimum of this law
    a, b = nat["alpha"][:, None], nat["beta"][:, None]
    log_g = (np.log(a * nat["A"][:, None]) - np.log(b * nat["B"][:, None])) / (a + b)
    centre = log_g + b / (a + b) * lc                               # (S, B)
    t = np.linspace(-float(span), float(span), int(n_grid))
    step = t[1] - t[0]
    grid = centre[..., None] + t                                    # (S, B, G)
    res: dict[str, np.ndarray] = {}
    for capped in (True, False):
        vals = loss(grid, capped, p3, lc[..., None], lu_cap[..., None])
        i = np.argmin(vals, axis=-1)
        best = np.take_along_axis(grid, i[..., None], axis=-1)[..., 0]
        ln, lmin = golden_minimize(lambda x, c_=capped: loss(x, c_, p2, lc, lu_cap),
                                   best - step, best + step)
        key = "" if capped else "_free"
        res["N" + key] = np.exp(ln)
        res["D" + key] = np.exp(lc - ln)
        res["loss" + key] = np.exp(lmin)
        if capped:
            res["at_edge"] = ((i == 0) | (i == t.size - 1)).astype(float)
    res["epochs"] = np.maximum(res["D"] / u_cap[None, :], 1.0)
    res["tokens_per_param"] = res["D"] / res["N"]
    res["cap_cost"] = res["loss"] / res["loss_free"] - 1.0
    res["binding"] = (res["D_free"] > u_cap[None, :]).astype(float)
    return {q: res[q] for q in (*QUANTITIES, "at_edge")}


@dataclass
class CappedAllocation:
    """Compute-optimal allocation under a unique-token cap, from :func:`allocate_capped`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per budget and quantity: ``budget``, ``unique_tokens``, ``quantity``
        (``N``, ``D``, ``epochs``, ``tokens_per_param``, ``loss``, ``N_free``, ``D_free``,
        ``loss_free``, ``cap_cost``, ``binding``, ``plan_loss``), ``mean``, ``median`` and
        ``lo_XX`` / ``hi_XX`` per interval level.  ``plan_loss`` is the law's loss, per draw,
        of the one plan a team would train: the posterior-median capped ``(N, D)``.
    plan : pandas.DataFrame
        Per budget, the median capped plan: ``budget``, ``unique_tokens``, ``N``, ``D``,
        ``epochs``, ``p_binding`` (posterior probability that the cap binds).
    draws : dict of str to ndarray
        The per-draw values of :func:`capped_optimal` (``(S, B)`` arrays) and ``plan_loss``.
    notes : list of str
        Warnings in words (grid minima at the edge of the grid).

    Examples
    --------
    >>> res = bs.allocate_capped(fit, [1e22], unique_tokens=2e10)   # doctest: +SKIP
    >>> print(res)                                                   # doctest: +SKIP
    """

    table: pd.DataFrame
    plan: pd.DataFrame
    draws: dict[str, np.ndarray] = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def row(self, budget: float, quantity: str) -> pd.Series:
        """The summary row of one budget and quantity (e.g. ``res.row(1e22, "N")``)."""
        t = self.table
        sel = t[np.isclose(t["budget"], float(budget)) & (t["quantity"] == quantity)]
        if sel.empty:
            quantities = list(dict.fromkeys(t["quantity"]))
            raise KeyError(f"no row for budget {budget!r} and quantity {quantity!r}; budgets "
                           f"{sorted(set(t['budget']))}, quantities {quantities}")
        return sel.iloc[0]

    def __str__(self) -> str:
        from bayescale.formatting import fmt_count, fmt_num, fmt_pct, fmt_sci

        lo = next(c for c in self.table.columns if c.startswith("lo_"))
        hi = "hi_" + lo[3:]
        lab = lo[3:] + "%"

        def iv(c: float, q: str, fmt) -> str:
            r = self.row(c, q)
            return f"{fmt(r['median'])} [{fmt(r[lo])} to {fmt(r[hi])}]"

        lines = [f"Compute-optimal allocation under a unique-token cap: median [{lab}] over "
                 "posterior draws."]
        for _, p in self.plan.iterrows():
            c = p["budget"]
            lines.append(
                f"{fmt_sci(c)} FLOPs, at most {fmt_count(p['unique_tokens'])} unique tokens: "
                f"N {iv(c, 'N', fmt_count)}, D {iv(c, 'D', fmt_count)}, epochs "
                f"{iv(c, 'epochs', lambda v: fmt_num(v, 3))}, loss "
                f"{iv(c, 'loss', lambda v: f'{v:.3f}')}.  Uncapped: N "
                f"{iv(c, 'N_free', fmt_count)}, D {iv(c, 'D_free', fmt_count)}, loss "
                f"{iv(c, 'loss_free', lambda v: f'{v:.3f}')}.  The cap costs "
                f"{iv(c, 'cap_cost', fmt_pct)} of loss and binds with probability "
                f"{fmt_pct(p['p_binding'])}; the median plan ({fmt_count(p['N'])} parameters, "
                f"{fmt_count(p['D'])} tokens) reaches {iv(c, 'plan_loss', lambda v: f'{v:.3f}')}.")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def allocate_capped(
    fit: Any,
    budgets: Any,
    unique_tokens: Any,
    *,
    ci: Sequence[float] | float = (0.5, 0.8, 0.95),
    group: str | None = None,
    flops_per_token: float | None = None,
    n_grid: int = 241,
    span: float = 8.0,
    seed: int = 0,
    law: str | Law | None = None,
) -> CappedAllocation:
    """Compute-optimal (N, D, epochs) under a unique-token cap, with intervals, from a fit.

    For each posterior draw of a data-constrained fit (``law="datablations"``), the model size
    and tokens that minimise the law's loss at each budget when at most ``unique_tokens`` distinct
    tokens exist (:func:`capped_optimal`), against the same law's optimum with unlimited unique
    data, and the loss of the median plan.  This is the allocation the datablations case
    study computes by hand on a 300-point grid.

    Parameters
    ----------
    fit : ScalingFit or mapping
        A fit of a law with inputs ``("N", "D", "U")``, or a mapping of its draws (e.g.
        ``fit.draws()``, or a dict of the law's natural parameters with ``law=``).
    budgets : float or array_like
        Training FLOPs.
    unique_tokens : float or array_like
        Cap on unique tokens (one value, or one per budget).
    ci : float or sequence of float, default (0.5, 0.8, 0.95)
        Equal-tailed interval levels of the table.
    group : str, optional
        Hierarchical fits: a group label or ``"new"``.
    flops_per_token : float, optional
        ``k`` in ``C = k N D`` (default: the fit's own, usually 6).
    n_grid, span
        Grid over ``log N`` (see :func:`capped_optimal`).
    seed : int, default 0
        Seed of the population draws for ``group="new"``.
    law : str or Law, optional
        For a mapping of draws without a law of its own: the law (default
        ``"datablations"``); a fit has its own.

    Returns
    -------
    CappedAllocation
        ``.table`` (tidy, one row per budget x quantity), ``.plan`` (median plan per budget),
        ``.draws`` and a readable ``str()``.

    Raises
    ------
    DecisionError
        For a fit of a law without unique tokens, bad budgets, caps or levels.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("datablations", main_only=True)          # doctest: +SKIP
    >>> fit = bs.fit(runs, "datablations")                               # doctest: +SKIP
    >>> res = bs.allocate_capped(fit, [1e21, 1e22], unique_tokens=2e10)  # doctest: +SKIP
    >>> res.row(1e22, "epochs")[["median", "lo_95", "hi_95"]]            # doctest: +SKIP
    """
    from bayescale.decisions.api import _source

    draws, opts, _ = _source(fit, group=group, law=law, flops_per_token=flops_per_token,
                             flops=None, method="auto", group_seed=seed,
                             default_law="datablations")
    law_obj = get_law(opts["law"]) if isinstance(opts["law"], str) else opts["law"]
    _require_capped_law(law_obj)
    levels = check_levels(ci)
    k = opts["flops_per_token"]
    nat, _ = natural_draws(draws, law_obj)
    out = _capped_optimal(nat, budgets, unique_tokens, law=law_obj, flops_per_token=k,
                          n_grid=n_grid, span=span)
    c, _ = positive_values(budgets, "budgets", unit=" (FLOPs)")
    c = c.ravel()
    u_cap = _per_budget(unique_tokens, "unique_tokens", c.size)
    n_plan = np.median(out["N"], axis=0)
    d_plan = c / (float(k) * n_plan)  # on the budget line (medians of N and D need not be)
    params = sampled_params(law_obj, nat, 1)
    lu = np.minimum(np.log(d_plan), np.log(u_cap))[None, :]
    out["plan_loss"] = np.exp(log_loss(law_obj, params, N=np.log(n_plan)[None, :],
                                       D=np.log(d_plan)[None, :], U=lu))
    values = {q: out[q] for q in (*QUANTITIES, "plan_loss")}
    table = summarise(values, {"budget": c, "unique_tokens": u_cap}, levels)
    plan = pd.DataFrame({"budget": c, "unique_tokens": u_cap, "N": n_plan, "D": d_plan,
                         "epochs": np.maximum(d_plan / u_cap, 1.0),
                         "p_binding": out["binding"].mean(axis=0)})
    notes = []
    edge = out["at_edge"].mean(axis=0)
    for cj, e in zip(c, edge, strict=True):
        if e > 0:
            notes.append(f"at {cj:.3g} FLOPs, {e:.1%} of draws have their best grid point at the "
                         f"edge of the search (+-{span:g} e-folds of N): pass a larger span=")
    return CappedAllocation(table=table, plan=plan, draws=out, notes=notes)


capped_optimal = deprecated_alias(
    _capped_optimal, "bayescale.decisions.capped_optimal",
    "bayescale.decisions.allocate_capped(draws, budgets, unique_tokens, law=...).draws")
