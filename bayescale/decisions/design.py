"""What to train next: pilot runs chosen by the value of the information they buy, per FLOP.

A posterior over a scaling law leaves a decision uncertain (the compute-optimal model size
``N*`` at a budget, the probability of reaching a target loss, the loss forecast of a planned
run).  A few small pilot runs narrow it; this module says *which* runs narrow it most per FLOP,
before they are trained, by **preposterior analysis with importance sampling** on the posterior
draws the fit already has:

1. Subsample ``S`` posterior draws (``max_draws``, 1000 by default) and ``M`` *outcome paths*
   (``n_outcomes``): path ``m`` takes draw ``s_m`` as the truth, and every candidate run ``c``
   gets a simulated outcome ``y_mc = law(c; theta_sm) + noise`` with that draw's ``sigma`` and
   ``nu`` (:func:`~bayescale.modeling.noise.perturb`).
2. After observing ``y_mc`` the posterior is the same draws re-weighted by the likelihood,
   ``w_s ~ p(y_mc | theta_s)`` (:func:`~bayescale.modeling.noise.noise_logpdf`).  The path's own
   truth draw ``s_m`` gets weight 0 (it is a draw of the prior of the experiment, not of the
   sample that approximates the posterior; keeping it makes very informative runs look better
   than they are, as the weights collapse onto it).
   **A pilot can fail.**  When some of the fit's runs failed (diverged or overfitted runs far
   above the curve, :meth:`bayescale.ScalingFit.run_failures`), each simulated run fails with
   the fit's chance of a new run failing (``fail_p`` per draw; in a hierarchy its group's,
   :meth:`~bayescale.ScalingFit.group_failures`; where the chance depends on tokens per
   parameter, as when the failed runs are a sweep's most under-trained, at the candidate's
   own, from the draws' ``.failures``).  A failed run tells nothing about the law
   (the fit flags it and its heavy-tailed likelihood all but ignores it), so on that path it
   leaves the weights as they were and its FLOPs are spent all the same: the expected
   reduction falls by the chance of failing, more in a set-up whose runs fail often.
3. The decision's *spread* under the weights (the width of the weighted 95% or 80% interval of
   the decision quantity, or its weighted sd) is averaged over the paths: the expected spread
   after the run.  Expected reduction = spread now - expected spread after.
4. **Greedy batch**: the run with the largest expected reduction *per FLOP* is chosen, every
   path's weights are multiplied by that run's likelihood of the path's outcome (so later
   choices are valued given the earlier ones: the paths carry their outcomes), and the next
   run is chosen the same way, until the pilot budget (or ``max_runs``) is spent.
5. The importance-sampling effective sample size ``1 / sum w^2`` is reported per candidate
   and per step (median over paths); candidates whose weights degenerate (ESS below
   ``ess_min``) are flagged: their value rests on a handful of draws and is optimistic.  No
   refit is done for them (refitting with each simulated outcome would be exact but costs a
   NUTS run per path and candidate).
6. For the allocation decision the **expected value of sample information** in regret terms is
   computed as well: the posterior expected regret (loss above each draw's own optimum) of the
   Bayes choice of ``N`` on the budget line, now and averaged over the paths after the batch.

All of it is numpy on arrays of draws (outcomes for every candidate and path are simulated at
once; common random numbers across candidates make their comparison far less noisy than their
absolute values).  :func:`next_runs` takes a fit; :func:`design_runs` takes plain draws;
:func:`candidate_runs` builds the default candidate set.

Examples
--------
>>> import bayescale as bs                                             # doctest: +SKIP
>>> fit = bs.load_fit("chinchilla_fit.nc")                             # doctest: +SKIP
>>> res = bs.next_runs(fit, 5.76e23, pilot=1e21)                       # doctest: +SKIP
>>> print(res)                                                         # doctest: +SKIP
>>> res.table[["N", "D", "flops", "expected_reduction", "ess"]]        # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions._common import (
    DecisionError,
    FlopModel,
    failure_curve,
    failure_draws,
    flop_model,
    log_loss,
    natural_draws,
    noise_draws,
    positive_values,
    require_nd_law,
    resolve_law,
    sampled_params,
)
from bayescale.laws import Law

__all__ = ["DesignResult", "candidate_runs", "design_runs", "next_runs"]

DECISIONS = ("allocation", "prob_target", "forecast")
SPREADS = {"ci95": 0.95, "ci80": 0.80, "sd": None}
#: Points of the grid of log N on the budget line over which the Bayes allocation is chosen.
_REGRET_GRID = 161
#: Largest number of float32 log-likelihood values (candidates x paths x draws) held at once.
_MAX_CACHE = 250_000_000


# =========================================================================== result
@dataclass
class DesignResult:
    """A recommended batch of pilot runs and the value of each, from :func:`next_runs`.

    Attributes
    ----------
    table : pandas.DataFrame
        The chosen batch in the order it was chosen: ``run`` (1, 2, ...), ``group`` (a
        hierarchical fit), ``N``, ``D``, ``flops``, ``tokens_per_param``,
        ``expected_reduction`` (of the decision's spread, given the runs before it), ``se`` (its
        Monte Carlo standard error over the outcome paths; a run is only added when its
        reduction exceeds two of them), ``per_flop`` (that reduction / the run's FLOPs),
        ``cumulative_reduction``,
        ``expected_spread`` (after the runs so far), ``ess`` (median over outcome paths of the
        importance-sampling effective sample size after the runs so far), ``ess_p10`` (its 10th
        percentile), ``degenerate`` (``ess < ess_min``) and, for the allocation decision,
        ``regret_reduction`` (cumulative expected value of sample information in nats of loss).
    candidates : pandas.DataFrame
        Every candidate run with its value *on its own*: ``N``, ``D``, ``flops``,
        ``expected_reduction``, ``se``, ``per_flop``, ``ess``, ``ess_p10``, ``degenerate``,
        ``regret_reduction`` and ``chosen`` (its position in the batch, 0 if not chosen).
    decision : str
        ``"allocation"``, ``"prob_target"`` or ``"forecast"``.
    quantity : str
        The decision quantity in words (e.g. ``"log N* at 5.76e23 FLOPs"``).
    spread : str
        ``"ci95"``, ``"ci80"`` or ``"sd"``: how the quantity's spread is measured.
    current_spread, expected_spread : float
        The spread now and its expectation after the batch (in the quantity's units: e-folds
        of ``N*`` for the allocation, so ``exp(spread)`` is the ratio of the interval's ends).
    pilot, spent : float
        The pilot budget and the FLOPs the batch uses.
    current_regret, expected_regret : float or None
        Posterior expected regret (nats) of the Bayes allocation now and after the batch
        (allocation decision only).
    by_group : pandas.DataFrame or None
        Hierarchical fits: per candidate group, its best run per FLOP and the group whose
        decision that run narrows most.
    notes : list of str
        Warnings in words (degenerate weights, why the greedy search stopped).
    settings : dict
        Budget, target, plan, groups, draws, outcome paths, seed, FLOPs per token.

    Examples
    --------
    >>> res = bs.next_runs(fit, 5.76e23, pilot=1e21)    # doctest: +SKIP
    >>> res.table                                       # doctest: +SKIP
    >>> print(res)                                      # doctest: +SKIP
    """

    table: pd.DataFrame
    candidates: pd.DataFrame
    decision: str
    quantity: str
    spread: str
    current_spread: float
    expected_spread: float
    pilot: float
    spent: float
    current_regret: float | None = None
    expected_regret: float | None = None
    by_group: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_reduction(self) -> float:
        """Expected reduction of the spread by the whole batch."""
        return self.current_spread - self.expected_spread

    def __str__(self) -> str:
        from bayescale.formatting import fmt_count, fmt_num, fmt_pct, fmt_sci, fmt_times

        spread_words = {"ci95": "width of the 95% interval", "ci80": "width of the 80% interval",
                        "sd": "sd"}[self.spread]
        st = self.settings
        lines = [f"Next runs to narrow {self.quantity} ({spread_words}), "
                 f"pilot budget {fmt_sci(self.pilot)} FLOPs; {st.get('n_draws')} posterior "
                 f"draws, {st.get('n_outcomes')} simulated outcomes per run, "
                 f"{len(self.candidates)} candidates."]
        ratio = self.decision == "allocation" and self.spread != "sd"
        now = f"now {fmt_num(self.current_spread)}"
        after = f"{fmt_num(self.expected_spread)}"
        if ratio:
            now += f" (N* uncertain by a factor {fmt_times(math.exp(self.current_spread))})"
            after += f" ({fmt_times(math.exp(self.expected_spread))})"
        if self.table.empty:
            lines.append(f"Spread {now}; no candidate run is worth its FLOPs within the pilot "
                         "budget.")
        else:
            red = self.expected_reduction
            share = red / self.current_spread if self.current_spread > 0 else float("nan")
            lines.append(f"Spread {now}; expected after the {len(self.table)} run(s) below: "
                         f"{after}, a reduction of {fmt_num(red)} ({fmt_pct(share)}) for "
                         f"{fmt_sci(self.spent)} FLOPs.")
            cols = {"run": "run", "N": "N", "D": "D", "flops": "FLOPs",
                    "expected_reduction": "reduction", "per_flop": "per FLOP",
                    "cumulative_reduction": "cumulative", "ess": "ESS"}
            tab = self.table.copy()
            if "group" in tab:
                cols = {"run": "run", "group": "group", **{k: v for k, v in cols.items()
                                                           if k != "run"}}
            out = pd.DataFrame({
                v: (tab[k].map(fmt_count) if k in ("N", "D") else
                    tab[k].map(fmt_sci) if k in ("flops", "per_flop") else
                    tab[k].map(lambda x: fmt_num(x, 3)) if k in (
                        "expected_reduction", "cumulative_reduction") else
                    tab[k].map(lambda x: f"{x:.0f}") if k == "ess" else tab[k])
                for k, v in cols.items()})
            lines.append(out.to_string(index=False))
        if self.current_regret is not None and self.expected_regret is not None:
            lines.append(
                f"Expected regret of the Bayes allocation (loss above each draw's optimum): now "
                f"{fmt_num(self.current_regret, 2)} nats, after the batch "
                f"{fmt_num(self.expected_regret, 2)} (value of the information "
                f"{fmt_num(self.current_regret - self.expected_regret, 2)} nats).")
        if self.by_group is not None and not self.by_group.empty:
            top = self.by_group.iloc[0]
            lines.append(
                f"Per group: the best run per FLOP is in group {top['group']!r} "
                f"(N {fmt_count(top['N'])}, D {fmt_count(top['D'])}); it narrows group "
                f"{top['most_narrowed']!r}'s decision most.")
            lines.append(self.by_group[["group", "n_candidates", "expected_reduction",
                                        "per_flop", "most_narrowed"]].to_string(
                index=False, float_format=lambda x: f"{x:.3g}"))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


# =========================================================================== candidates
def _log_cost(fm: FlopModel, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.asarray(fm.log_budget(np.log(n), np.log(d)), dtype=float)


def _tokens_for(fm: FlopModel, n: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.exp(fm.log_tokens(np.log(n), np.log(c)))


def _grid(runs: pd.DataFrame, n_sizes: int, n_ratios: int, beyond: float) -> pd.DataFrame:
    """(N, D) grid: N from the smallest run's to ``beyond`` x the largest, tokens per parameter
    over the runs' range (to ``sqrt(beyond)`` x the largest), D kept within the runs' D range
    (to ``beyond`` x the largest): no run far outside the data on either axis."""
    n = runs["N"].to_numpy(dtype=float)
    d = runs["D"].to_numpy(dtype=float)
    ratio = d / n
    sizes = np.geomspace(n.min(), n.max() * beyond, n_sizes)
    ratios = np.geomspace(ratio.min(), ratio.max() * math.sqrt(beyond), n_ratios)
    nn, rr = np.meshgrid(sizes, ratios, indexing="ij")
    nn, dd = nn.ravel(), (nn * rr).ravel()
    keep = (dd >= d.min() * (1 - 1e-9)) & (dd <= d.max() * beyond * (1 + 1e-9))
    return pd.DataFrame({"N": nn[keep], "D": dd[keep]})


def candidate_runs(
    fit: Any,
    max_flops: float,
    *,
    isoflop: Sequence[float] | float | None = None,
    groups: Sequence[str] | None = None,
    n_sizes: int = 12,
    n_ratios: int = 8,
    beyond: float = 4.0,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
) -> pd.DataFrame:
    """Default candidate pilot runs: a grid around and modestly beyond the data, or isoFLOPs.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with inputs ``("N", "D")``.
    max_flops : float
        Largest FLOPs of one candidate run (:func:`next_runs` uses the pilot budget).
    isoflop : float or sequence of float, optional
        Instead of the grid: isoFLOP curves at these budgets (each ``<= max_flops``), 9 model
        sizes per curve from 1/8 to 8 times the posterior median ``N*`` of that budget.
    groups : sequence of str, optional
        Hierarchical fits: the groups to propose runs in (default every observed group); one
        copy of the candidate set per group, with a ``group`` column.
    n_sizes, n_ratios : int, default 12 and 8
        Grid of model sizes (log-spaced from the smallest run's ``N`` to ``beyond`` times the
        largest) and tokens per parameter (from the smallest ratio of the runs to
        ``sqrt(beyond)`` times the largest); grid points whose ``D`` falls below the smallest
        run's or above ``beyond`` times the largest are dropped (the law is least trustworthy
        far outside the data, and a design would otherwise exploit exactly that).
    beyond : float, default 4.0
        How far beyond the data the grid reaches (factor on ``N`` and ``D``).
    flops_per_token, flops
        FLOP convention (default: the fit's own, ``fit.flops_per_token``).

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``flops`` (and ``group``), only runs of at most ``max_flops`` FLOPs.

    Raises
    ------
    DecisionError
        If no candidate costs at most ``max_flops`` (the message gives the cheapest).

    Examples
    --------
    >>> from bayescale.decisions.design import candidate_runs
    >>> cands = candidate_runs(fit, 1e21)                 # doctest: +SKIP
    >>> bool((cands["flops"] <= 1e21).all())              # doctest: +SKIP
    True
    """
    from bayescale.decisions.api import _check_fit, _fit_draws

    _check_fit(fit)
    require_nd_law(fit.law, "a design of (N, D) pilot runs")
    (cap,), _ = positive_values(max_flops, "max_flops", unit=" (FLOPs)")
    k = fit.flops_per_token if flops_per_token is None else flops_per_token
    fm = flop_model(k, flops)
    for name, v in (("n_sizes", n_sizes), ("n_ratios", n_ratios)):
        if int(v) < 1:
            raise DecisionError(f"{name} must be a positive integer; got {v!r}")
    if not (float(beyond) >= 1.0):
        raise DecisionError(f"beyond must be >= 1 (a factor on the largest run's N); got "
                            f"{beyond!r}")
    group_list = _candidate_groups(fit, groups)
    frames = []
    for g in group_list:
        if isoflop is None:
            runs = fit.runs if g is None else _group_runs(fit, g)
            tab = _grid(runs, int(n_sizes), int(n_ratios), float(beyond))
        else:
            from bayescale.decisions.allocation import _compute_optimal

            c, _ = positive_values(isoflop, "isoflop", unit=" (FLOPs)")
            too_big = c[c > cap * (1 + 1e-9)]
            if too_big.size:
                raise DecisionError(
                    f"isoflop budget {too_big[0]:.3g} FLOPs is above the largest run allowed "
                    f"({cap:.3g} FLOPs, the pilot budget); pass isoFLOP budgets <= {cap:.3g} or "
                    f"raise the pilot budget"
                )
            opt = _compute_optimal(_fit_draws(fit, g), c, law=fit.law,
                                   flops_per_token=fm.k, flops=flops)
            med = np.median(opt["N"], axis=0)
            nn = (med[:, None] * np.geomspace(1 / 8, 8, 9)[None, :])
            cc = np.broadcast_to(c[:, None], nn.shape)
            tab = pd.DataFrame({"N": nn.ravel(), "D": _tokens_for(fm, nn.ravel(), cc.ravel()),
                                "isoflop": cc.ravel()})
        tab["flops"] = np.exp(_log_cost(fm, tab["N"].to_numpy(), tab["D"].to_numpy()))
        tab = tab[tab["flops"] <= cap * (1 + 1e-9)]
        if g is not None:
            tab.insert(0, "group", g)
        frames.append(tab)
    out = pd.concat(frames, ignore_index=True)
    if out.empty:
        runs = fit.runs
        cheapest = float(np.exp(_log_cost(fm, runs["N"].to_numpy(float),
                                          runs["D"].to_numpy(float))).min())
        raise DecisionError(
            f"no candidate run costs at most {cap:.3g} FLOPs (the pilot budget): the grid starts "
            f"at the smallest run, which costs {cheapest:.3g}; raise the pilot budget or pass "
            f"your own candidates=DataFrame(N=..., D=...)"
        )
    return out.reset_index(drop=True)


def _candidate_groups(fit: Any, groups: Any) -> list[Any]:
    if not fit.groups:
        if groups is not None:
            raise DecisionError(f"groups={groups!r} was given but this fit has no groups; omit it")
        return [None]
    if groups is None:
        return list(fit.groups)
    groups = [groups] if isinstance(groups, str) else list(groups)
    return [_resolve(fit, g, "groups") for g in groups]


def _resolve(fit: Any, g: Any, what: str) -> str:
    from bayescale.posterior.hierarchy import resolve_group

    try:
        lab = resolve_group(fit, g)
    except ValueError as exc:
        raise DecisionError(f"{what}: {exc}") from None
    if lab != "new" and lab not in fit.groups:
        raise DecisionError(
            f"{what}: {g!r} is not a group of this fit; its groups are {fit.groups}"
            + (" (or 'new' for an unseen group)" if what == "group" else "")
        )
    return lab


def _group_runs(fit: Any, g: str) -> pd.DataFrame:
    from bayescale.modeling.model import group_labels

    return fit.runs[group_labels(fit.runs, fit.spec.groups).to_numpy() == g]


def _check_candidates(cands: Any, fm: FlopModel, hierarchical: bool, fit: Any | None
                      ) -> pd.DataFrame:
    if not isinstance(cands, pd.DataFrame):
        raise DecisionError(
            f"candidates must be a DataFrame with columns N and D (or C with one of them); got "
            f"{type(cands).__name__}"
        )
    if cands.empty:
        raise DecisionError("candidates is empty; pass at least one run (N, D)")
    tab = cands.copy().reset_index(drop=True)
    have = [c for c in ("N", "D", "C") if c in tab]
    if len(have) < 2:
        raise DecisionError(
            f"candidates need two of the columns N, D, C; got columns {list(tab.columns)}"
        )
    for c in have:
        a = pd.to_numeric(tab[c], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(a) & (a > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise DecisionError(
                f"candidates column {c!r} must hold positive numbers; row {i} holds "
                f"{tab[c].iloc[i]!r}"
            )
        tab[c] = a
    if "D" not in tab:
        tab["D"] = _tokens_for(fm, tab["N"].to_numpy(), tab["C"].to_numpy())
    if "N" not in tab:
        # C = k N D is symmetric in N and D for the linear convention
        if not fm.linear:
            raise DecisionError("with a flops(N, D) function, candidates need column N")
        tab["N"] = tab["C"].to_numpy() / (fm.k * tab["D"].to_numpy())
    tab["flops"] = np.exp(_log_cost(fm, tab["N"].to_numpy(), tab["D"].to_numpy()))
    if hierarchical:
        col = "group" if "group" in tab else None
        if col is None and fit is not None and len(fit.spec.groups) == 1 and \
                fit.spec.groups[0] in tab:
            col = fit.spec.groups[0]
        if col is None:
            raise DecisionError(
                f"this is a hierarchical fit, so candidates need a 'group' column naming the "
                f"group each run would be trained in (one of {fit.groups})"
            )
        tab["group"] = [_resolve(fit, g, "candidates['group']") for g in tab[col]]
        if (tab["group"] == "new").any():
            raise DecisionError("candidates['group'] may not be 'new': a pilot run is trained in "
                                "an observed group (add the new group's runs and refit first)")
    return tab


# =========================================================================== engine
@dataclass
class _Problem:
    mu: np.ndarray                  # (S, K) law's log loss of every candidate, per draw
    sigma: np.ndarray               # (S,)
    nu: np.ndarray | None           # (S,)
    q: np.ndarray                   # (S, F) decision quantity per draw, per focus column
    cost: np.ndarray                # (K,)
    regret_loss: np.ndarray | None  # (F, S, G) loss on the budget line's grid of N
    regret_best: np.ndarray | None  # (F, S) each draw's optimal loss
    fail_p: np.ndarray | None = None  # (S, K) chance that the candidate's run fails, per draw


def _normalise(lw: np.ndarray) -> np.ndarray:
    m = lw.max(axis=1, keepdims=True)
    w = np.exp(lw - m)
    return w / w.sum(axis=1, keepdims=True)


class _Spread:
    """Weighted spread of each focus column of ``q`` for many weight vectors at once."""

    def __init__(self, q: np.ndarray, kind: str):
        self.kind = kind
        self.q = q
        self.order = np.argsort(q, axis=0, kind="stable")       # (S, F)
        self.sorted = np.take_along_axis(q, self.order, axis=0)  # (S, F)
        ident = np.arange(q.shape[0])
        self.identity = [bool(np.array_equal(self.order[:, f], ident))
                         for f in range(q.shape[1])]
        level = SPREADS[kind]
        self.a = None if level is None else (1.0 - level) / 2.0

    def __call__(self, w: np.ndarray) -> np.ndarray:
        """``w`` (M, S) normalised weights -> spreads (M, F)."""
        s = self.q.shape[0]
        out = np.empty((w.shape[0], self.q.shape[1]))
        for f in range(self.q.shape[1]):
            if self.a is None:
                mean = w @ self.q[:, f]
                var = w @ (self.q[:, f] ** 2) - mean**2
                out[:, f] = np.sqrt(np.maximum(var, 0.0))
                continue
            c = np.cumsum(w if self.identity[f] else w[:, self.order[:, f]], axis=1)
            lo = np.minimum((c < self.a).sum(axis=1), s - 1)
            hi = np.minimum((c < 1.0 - self.a).sum(axis=1), s - 1)
            out[:, f] = self.sorted[hi, f] - self.sorted[lo, f]
        return out


def _regret(w: np.ndarray, prob: _Problem) -> np.ndarray:
    """Posterior expected regret of the Bayes allocation under each row of ``w``; (M,)."""
    assert prob.regret_loss is not None and prob.regret_best is not None
    out = np.zeros(w.shape[0])
    for f in range(prob.regret_loss.shape[0]):
        exp_loss = w @ prob.regret_loss[f]              # (M, G)
        out += exp_loss.min(axis=1) - w @ prob.regret_best[f]
    return out / prob.regret_loss.shape[0]


def _run(prob: _Problem, *, pilot: float | None, spread: str, n_outcomes: int, ess_min: float,
         max_runs: int | None, rng: np.random.Generator, fixed: bool,
         min_z: float = 2.0) -> dict[str, Any]:
    from bayescale.formatting import fmt_sci
    from bayescale.modeling.noise import noise_logpdf, perturb

    s, k = prob.mu.shape
    m = int(n_outcomes)
    if k * m * s > _MAX_CACHE:
        raise DecisionError(
            f"{k} candidates x {m} outcome paths x {s} draws is too many to hold "
            f"({k * m * s:.3g} log-likelihood values); pass fewer candidates, n_outcomes or "
            f"max_draws"
        )
    # Path m takes draw truth[m] as the truth; every candidate's outcome on that path is
    # simulated from it, so a batch's outcomes along one path are jointly distributed as the
    # experiment's (the prior predictive of the batch), and later runs are valued given earlier.
    truth = rng.choice(s, size=m, replace=m > s)
    nu_t = None if prob.nu is None else prob.nu[truth]
    y = perturb(prob.mu[truth], prob.sigma[truth], nu_t, rng)          # (M, K)
    loglik = np.empty((k, m, s), dtype=np.float32)
    sig = prob.sigma[None, :]
    nu = None if prob.nu is None else prob.nu[None, :]
    with np.errstate(divide="ignore", under="ignore"):
        for j in range(k):
            loglik[j] = noise_logpdf(y[:, j : j + 1], prob.mu[None, :, j], sig, nu)
    if prob.fail_p is not None:
        # a pilot fails as the fit's runs did, with the truth draw's chance: it then tells
        # nothing (the fit flags it; its heavy-tailed likelihood all but ignores it), so on
        # that path it leaves the weights alone, and its FLOPs are spent all the same
        failed = rng.uniform(size=(m, k)) < prob.fail_p[truth]        # (M, K)
        for j in np.flatnonzero(failed.any(axis=0)):
            loglik[j][failed[:, j]] = 0.0
    base = np.zeros((m, s))
    base[np.arange(m), truth] = -np.inf     # a path's truth is not one of its posterior draws
    spread_of = _Spread(prob.q, spread)
    has_regret = prob.regret_loss is not None

    def evaluate(lw: np.ndarray, with_regret: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        w = _normalise(lw)
        sp = spread_of(w).mean(axis=1)                                 # (M,)
        ess = 1.0 / np.sum(w * w, axis=1)
        reg = _regret(w, prob) if (with_regret and has_regret) else None
        return sp, ess, reg

    sp0, ess0, reg0 = evaluate(base, True)
    now = float(sp0.mean())
    uniform = np.full((1, s), 1.0 / s)
    current = float(spread_of(uniform).mean())
    current_regret = float(_regret(uniform, prob)[0]) if has_regret else None
    reg0_mean = float(reg0.mean()) if reg0 is not None else None

    # ---- every candidate on its own (also the greedy's first step)
    f_cols = prob.q.shape[1]
    single = {"expected_reduction": np.empty(k), "se": np.empty(k), "ess": np.empty(k),
              "ess_p10": np.empty(k), "regret_reduction": np.full(k, np.nan)}
    per_focus = np.empty((k, f_cols))
    focus0 = spread_of(_normalise(base)).mean(axis=0) if f_cols > 1 else None
    for j in range(k):
        lw = base + loglik[j]
        w = _normalise(lw)
        spf = spread_of(w)
        sp = spf.mean(axis=1)
        ess = 1.0 / np.sum(w * w, axis=1)
        diff = sp0 - sp
        single["expected_reduction"][j] = float(diff.mean())
        single["se"][j] = float(diff.std(ddof=1) / math.sqrt(m))
        per_focus[j] = (focus0 - spf.mean(axis=0)) if focus0 is not None else diff.mean()
        single["ess"][j] = float(np.median(ess))
        single["ess_p10"][j] = float(np.quantile(ess, 0.1))
        if has_regret:
            single["regret_reduction"][j] = reg0_mean - float(_regret(w, prob).mean())
    single["per_flop"] = single["expected_reduction"] / prob.cost

    # ---- greedy batch (or a fixed batch in the given order)
    chosen: list[int] = []
    rows: list[dict[str, Any]] = []
    lw = base
    cur_paths = sp0
    spent = 0.0
    stop = ""
    while True:
        if max_runs is not None and len(chosen) >= max_runs:
            stop = f"stopped at max_runs={max_runs}"
            break
        if fixed:
            if len(chosen) == k:
                break
            pick = len(chosen)
            sp, ess, _ = evaluate(lw + loglik[pick])
        else:
            left = pilot - spent
            options = [j for j in range(k)
                       if j not in chosen and prob.cost[j] <= left * (1 + 1e-9)]
            if not options:
                if not chosen:
                    stop = "no candidate fits in the pilot budget"
                break
            best = None
            for j in options:
                if not chosen:
                    gain, se, res = single["expected_reduction"][j], single["se"][j], None
                else:
                    res = evaluate(lw + loglik[j])
                    diff = cur_paths - res[0]
                    gain, se = float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(m))
                # only runs whose expected reduction is distinguishable from zero compete
                if gain <= min_z * se or gain <= 0:
                    continue
                ratio = gain / prob.cost[j]
                if best is None or ratio > best[0]:
                    best = (ratio, j, res)
            if best is None:
                stop = (f"no further affordable candidate is expected to narrow the decision "
                        f"(expected reduction within {min_z:g} Monte Carlo standard errors of "
                        f"0), so the batch stops at {len(chosen)} run(s) with "
                        f"{fmt_sci(pilot - spent)} of the pilot FLOPs unspent")
                break
            pick = best[1]
            sp, ess, _ = best[2] if best[2] is not None else evaluate(lw + loglik[pick])
        lw = lw + loglik[pick]
        reg = _regret(_normalise(lw), prob) if has_regret else None
        diff = cur_paths - sp
        rows.append({
            "index": pick,
            "expected_reduction": float(diff.mean()),
            "se": float(diff.std(ddof=1) / math.sqrt(m)),
            "per_flop": float(diff.mean()) / prob.cost[pick],
            "cumulative_reduction": now - float(sp.mean()),
            "expected_spread": current - (now - float(sp.mean())),
            "ess": float(np.median(ess)),
            "ess_p10": float(np.quantile(ess, 0.1)),
            "regret_reduction": (reg0_mean - float(reg.mean())) if reg is not None else np.nan,
        })
        cur_paths = sp
        spent += float(prob.cost[pick])
        chosen.append(pick)
    expected_regret = None
    if has_regret and current_regret is not None:
        last = rows[-1]["regret_reduction"] if rows else 0.0
        expected_regret = current_regret - float(last)
    return {"single": single, "per_focus": per_focus, "rows": rows, "chosen": chosen,
            "current": current, "expected": current - (now - float(cur_paths.mean())),
            "spent": spent, "stop": stop, "current_regret": current_regret,
            "expected_regret": expected_regret, "ess0": float(np.median(ess0))}


# =========================================================================== decision quantity
def _quantity(decision: str, law: Law, nat: dict[str, np.ndarray], sigma: np.ndarray,
              nu: np.ndarray | None, fm: FlopModel, budget: float | None,
              target: float | None, plan: tuple[float, float] | None, regret: bool
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Decision quantity per draw ``(S,)`` and, for the allocation, the regret grid."""
    from bayescale.decisions.allocation import optimal_log

    if decision == "forecast":
        assert plan is not None
        params = sampled_params(law, nat, 0)
        q = log_loss(law, params, N=np.full_like(sigma, math.log(plan[0])),
                     D=np.full_like(sigma, math.log(plan[1])))
        return np.asarray(q, dtype=float), None, None
    assert budget is not None
    lc = math.log(budget)
    u, _, ll = optimal_log(law, nat, np.array([lc]), fm)
    u, ll = u[:, 0], ll[:, 0]
    if decision == "prob_target":
        from bayescale.modeling.noise import noise_cdf

        assert target is not None
        z = (math.log(target) - ll) / sigma
        return np.asarray(noise_cdf(z, nu), dtype=float), None, None
    if not regret:
        return u, None, None
    lo, hi = np.quantile(u, [0.0, 1.0])
    grid = np.linspace(lo - 0.5, hi + 0.5, _REGRET_GRID)
    params = sampled_params(law, nat, 1)
    lg = log_loss(law, params, N=grid[None, :], D=fm.log_tokens(grid[None, :], np.array(lc)))
    return u, np.exp(lg), np.exp(ll)


def _check_decision(decision: str, budget: Any, target: Any, plan: Any
                    ) -> tuple[float | None, float | None, tuple[float, float] | None]:
    if decision not in DECISIONS:
        raise DecisionError(f"decision must be one of {DECISIONS}; got {decision!r}")
    b = t = p = None
    if decision in ("allocation", "prob_target"):
        if budget is None:
            raise DecisionError(
                f"decision={decision!r} needs budget= (the training FLOPs of the decision, e.g. "
                f"5.76e23)"
            )
        vals, scalar = positive_values(budget, "budget", unit=" (FLOPs)")
        if not scalar and vals.size != 1:
            raise DecisionError(f"budget must be one number (FLOPs); got {budget!r}")
        b = float(vals[0])
    if decision == "prob_target":
        if target is None:
            raise DecisionError("decision='prob_target' needs target= (a loss in nats, e.g. 2.0)")
        (t,), _ = positive_values(target, "target", unit=" (a loss in nats)")
        t = float(t)
    if decision == "forecast":
        try:
            n_plan, d_plan = plan
        except (TypeError, ValueError):
            raise DecisionError(
                f"decision='forecast' needs plan=(N, D), the planned run; got plan={plan!r}"
            ) from None
        (n_plan,), _ = positive_values(n_plan, "plan N")
        (d_plan,), _ = positive_values(d_plan, "plan D")
        p = (float(n_plan), float(d_plan))
    return b, t, p


def _describe(decision: str, budget: float | None, target: float | None,
              plan: tuple[float, float] | None, focus: Sequence[Any]) -> str:
    from bayescale.formatting import fmt_count, fmt_num, fmt_sci

    if decision == "allocation":
        text = f"log N* at {fmt_sci(budget)} FLOPs"
    elif decision == "prob_target":
        text = f"P(loss <= {fmt_num(target)} | {fmt_sci(budget)} FLOPs) per draw"
    else:
        assert plan is not None
        text = f"log loss of a run with N {fmt_count(plan[0])}, D {fmt_count(plan[1])}"
    real = [g for g in focus if g is not None]
    if real:
        text += (f" for group {real[0]!r}" if len(real) == 1 else
                 f" (mean over groups {', '.join(map(str, real))})")
    return text


def _check_common(pilot: Any, spread: str, n_outcomes: Any, max_draws: Any, ess_min: Any,
                  max_runs: Any, fixed: bool) -> float | None:
    if spread not in SPREADS:
        raise DecisionError(f"spread must be one of {tuple(SPREADS)}; got {spread!r}")
    for name, v, lo in (("n_outcomes", n_outcomes, 8), ("max_draws", max_draws, 50)):
        if not (isinstance(v, (int, np.integer)) and v >= lo):
            raise DecisionError(f"{name} must be an integer >= {lo}; got {v!r}")
    if max_runs is not None and not (isinstance(max_runs, (int, np.integer)) and max_runs >= 1):
        raise DecisionError(f"max_runs must be a positive integer or None; got {max_runs!r}")
    if not (float(ess_min) >= 0):
        raise DecisionError(f"ess_min must be >= 0; got {ess_min!r}")
    if pilot is None:
        if not fixed:
            raise DecisionError("pilot= (total FLOPs for the pilot runs, e.g. 1e21) is required")
        return None
    (p,), _ = positive_values(pilot, "pilot", unit=" (FLOPs)")
    return float(p)


def _subsample(s: int, max_draws: int, rng: np.random.Generator) -> np.ndarray:
    if s <= max_draws:
        return np.arange(s)
    return np.sort(rng.choice(s, size=max_draws, replace=False))


def _finish(out: dict[str, Any], cands: pd.DataFrame, *, decision: str, quantity: str,
            spread: str, pilot: float | None, ess_min: float, focus: Sequence[Any],
            settings: dict[str, Any]) -> DesignResult:
    single = out["single"]
    run_cost = float(settings.get("run_cost", 0.0))
    cand = cands.copy()
    cand["cost"] = cand["flops"] + run_cost
    for key in ("expected_reduction", "se", "per_flop", "ess", "ess_p10"):
        cand[key] = single[key]
    cand["degenerate"] = cand["ess"] < ess_min
    cand["regret_reduction"] = single["regret_reduction"]
    cand["chosen"] = 0
    for pos, j in enumerate(out["chosen"], start=1):
        cand.loc[j, "chosen"] = pos
    rows = []
    for pos, r in enumerate(out["rows"], start=1):
        c = cands.iloc[r["index"]]
        row = {"run": pos}
        if "group" in cands:
            row["group"] = c["group"]
        if "name" in cands:
            row["name"] = c["name"]
        row.update({"N": float(c["N"]), "D": float(c["D"]), "flops": float(c["flops"]),
                    "cost": float(c["flops"]) + run_cost,
                    "tokens_per_param": float(c["D"] / c["N"])})
        row.update({k: v for k, v in r.items() if k != "index"})
        row["degenerate"] = r["ess"] < ess_min
        row["refit"] = False
        rows.append(row)
    cols = ["run", *(["group"] if "group" in cands else []),
            *(["name"] if "name" in cands else []), "N", "D", "flops", "cost", "tokens_per_param",
            "expected_reduction", "se", "per_flop", "cumulative_reduction", "expected_spread",
            "ess", "ess_p10", "degenerate", "refit", "regret_reduction"]
    table = pd.DataFrame(rows, columns=cols)
    if decision != "allocation":
        table = table.drop(columns="regret_reduction")
        cand = cand.drop(columns="regret_reduction")
    notes = []
    n_deg = int(cand["degenerate"].sum())
    if n_deg:
        notes.append(
            f"{n_deg} of {len(cand)} candidates have degenerate importance weights (median ESS "
            f"< {ess_min:g} of {settings['n_draws']} draws; column 'degenerate'): their value "
            "rests on a few draws and is optimistic.  A refit per simulated outcome would settle "
            "it and is not done here; raise max_draws (a fit with more draws) to check."
        )
    if (table["degenerate"].any() if not table.empty else False):
        first = int(table.loc[table["degenerate"], "run"].iloc[0])
        notes.append(f"the batch's weights degenerate from run {first} on (ESS < {ess_min:g}): "
                     "the cumulative reductions from there are optimistic; refit after training "
                     "the first runs and ask again")
    if out["stop"]:
        notes.append(out["stop"])
    by_group = None
    if "group" in cands:
        per_focus = out["per_focus"]
        recs = []
        for g, idx in cand.groupby("group").groups.items():
            idx = np.asarray(list(idx))
            best = idx[int(np.argmax(cand.loc[idx, "per_flop"].to_numpy()))]
            j = int(np.argmax(per_focus[best]))
            recs.append({"group": g, "n_candidates": len(idx), "N": cand.loc[best, "N"],
                         "D": cand.loc[best, "D"], "flops": cand.loc[best, "flops"],
                         "expected_reduction": cand.loc[best, "expected_reduction"],
                         "per_flop": cand.loc[best, "per_flop"],
                         "ess": cand.loc[best, "ess"],
                         "most_narrowed": focus[j], "its_reduction": per_focus[best, j]})
        by_group = pd.DataFrame(recs).sort_values("per_flop", ascending=False,
                                                  ignore_index=True)
    return DesignResult(
        table=table, candidates=cand, decision=decision, quantity=quantity, spread=spread,
        current_spread=out["current"], expected_spread=out["expected"],
        pilot=float(pilot) if pilot is not None else float(out["spent"]), spent=out["spent"],
        current_regret=out["current_regret"], expected_regret=out["expected_regret"],
        by_group=by_group, notes=notes, settings=settings,
    )


# =========================================================================== public API
def design_runs(
    draws: Any,
    candidates: pd.DataFrame,
    *,
    pilot: float | None,
    decision: str = "allocation",
    budget: float | None = None,
    target: float | None = None,
    plan: tuple[float, float] | None = None,
    law: str | Law = "chinchilla",
    flops_per_token: float = 6.0,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    spread: str = "ci95",
    n_outcomes: int = 128,
    max_draws: int = 1000,
    max_runs: int | None = None,
    ess_min: float = 50.0,
    regret: bool = True,
    fixed: bool = False,
    run_cost: float = 0.0,
    seed: int = 0,
) -> DesignResult:
    """Greedy batch of pilot runs by expected reduction of decision uncertainty per FLOP (draws).

    The numpy core of :func:`next_runs`, for posterior draws of a law without groups; see the
    module docstring for the method.

    Parameters
    ----------
    draws : mapping of str to array_like
        Posterior draws of the law's natural parameters and of the noise: ``sigma`` (required;
        the log-loss noise scale) and ``nu`` (Student-t; omitted for Normal noise), each
        ``(S,)``; e.g. ``{**fit.draws(), **fit.draws(kind="noise")}``.
    candidates : pandas.DataFrame
        Candidate runs: columns ``N`` and ``D`` (or ``C`` and one of them); an optional
        ``name`` column is carried into the result.
    pilot : float or None
        Total FLOPs of the batch.  ``None`` only with ``fixed=True``.
    decision : {"allocation", "prob_target", "forecast"}, default "allocation"
        ``log N*`` at ``budget``; the per-draw probability ``P(loss <= target | budget)``
        (compute-optimal run, noise integrated); or the law's log loss at ``plan=(N, D)``.
    budget, target, plan
        The decision's budget (FLOPs), target loss (nats) and planned run ``(N, D)``.
    law, flops_per_token, flops
        As in :func:`~bayescale.decisions.compute_optimal`; the FLOPs of a run are
        ``flops_per_token * N * D`` or ``flops(N, D)``.
    spread : {"ci95", "ci80", "sd"}, default "ci95"
        The decision's spread: width of the equal-tailed 95% or 80% interval, or the sd.
    n_outcomes : int, default 128
        Simulated outcome paths (truth draws) per candidate.
    max_draws : int, default 1000
        Posterior draws used (a random subsample if there are more).
    max_runs : int, optional
        At most this many runs in the batch.
    ess_min : float, default 50
        Candidates and batch steps whose median importance-sampling ESS is below this are
        flagged ``degenerate``.
    regret : bool, default True
        Also compute the expected value of sample information in regret terms (allocation
        decision only).
    fixed : bool, default False
        Evaluate ``candidates`` as one batch in the given order instead of choosing among them
        (the predicted value of a design made some other way).
    run_cost : float, default 0
        A fixed cost of every run, in FLOPs, on top of its training FLOPs (evaluation,
        start-up, a queue slot priced in FLOPs): it counts against ``pilot`` and in the value
        per FLOP, so a few larger runs can beat many small ones.
    seed : int, default 0
        Seed of the draw subsample, the truth draws and the simulated noise.

    Returns
    -------
    DesignResult

    Raises
    ------
    DecisionError
        For missing noise draws, a bad decision specification, or bad candidates.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.decisions.design import design_runs
    >>> rng = np.random.default_rng(0)
    >>> draws = {"E": 1.8 + 0.02 * rng.standard_normal(400), "A": np.full(400, 482.0),
    ...          "B": np.full(400, 2085.0), "alpha": 0.35 + 0.02 * rng.standard_normal(400),
    ...          "beta": 0.37 + 0.02 * rng.standard_normal(400), "sigma": np.full(400, 0.01)}
    >>> cands = pd.DataFrame({"N": [1e8, 1e9, 3e9], "D": [2e9, 2e10, 6e10]})
    >>> res = design_runs(draws, cands, pilot=1e21, budget=5.76e23, n_outcomes=32)
    >>> bool(res.expected_reduction > 0), bool(res.spent <= 1e21)
    (True, True)
    """
    law_obj = resolve_law(law)
    require_nd_law(law_obj, "a design of (N, D) pilot runs")
    fm = flop_model(flops_per_token, flops)
    p = _check_common(pilot, spread, n_outcomes, max_draws, ess_min, max_runs, fixed)
    b, t, pl = _check_decision(decision, budget, target, plan)
    nat, s = natural_draws(draws, law_obj)
    sig, nu = noise_draws(draws, s, None, None, True)
    if sig is None:
        raise DecisionError(
            "draws need 'sigma' (the noise scale of a run's log loss, and 'nu' for Student-t "
            "noise) to simulate pilot outcomes: pass {**fit.draws(), **fit.draws(kind='noise')}"
        )
    fail = failure_draws(draws, s, True)
    cands = _check_candidates(candidates, fm, False, None)
    rng = np.random.default_rng(seed)
    idx = _subsample(s, int(max_draws), rng)
    nat = {k: v[idx] for k, v in nat.items()}
    sig = sig[idx]
    nu = None if nu is None else nu[idx]
    rc = _check_run_cost(run_cost)
    curve = failure_curve(draws, s, True)
    if curve is not None:  # each candidate fails at its own tokens per parameter
        fp = _fail_matrix([curve.p(_cand_tpp(cands))[idx]], [0] * len(cands))
    else:
        fp = _fail_matrix([None if fail is None else fail[0][idx]], [0] * len(cands))
    prob = _problem(law_obj, fm, [nat], [nat], [0] * len(cands), sig, nu, cands, decision, b,
                    t, pl, regret, rc, fail_p=fp)
    out = _run(prob, pilot=p, spread=spread, n_outcomes=int(n_outcomes), ess_min=ess_min,
               max_runs=max_runs, rng=rng, fixed=fixed)
    settings = {"budget": b, "target": t, "plan": pl, "groups": None, "n_draws": idx.size,
                "n_outcomes": int(n_outcomes), "seed": seed, "flops_per_token": fm.k,
                "max_runs": max_runs, "run_cost": rc}
    res = _finish(out, cands, decision=decision, quantity=_describe(decision, b, t, pl, [None]),
                  spread=spread, pilot=p, ess_min=float(ess_min), focus=[None],
                  settings=settings)
    _note_failures(res, prob, cands)
    return res


def _fail_matrix(per_group: Sequence[np.ndarray | None], gidx: Sequence[int]
                 ) -> np.ndarray | None:
    """Each candidate's per-draw chance of failing, ``(S, K)``, from its group's draws
    (``(S,)``: the same for each of the group's candidates; ``(S, K)``: each candidate's own
    column); None when no candidate can fail (no failed run in the fit, or in the candidates'
    groups)."""
    if all(f is None or not np.any(f > 0) for f in per_group):
        return None
    s = next(f.shape[0] for f in per_group if f is not None)
    cols = [np.zeros(s) if per_group[g] is None
            else (per_group[g][:, k] if np.ndim(per_group[g]) == 2
                  else np.asarray(per_group[g], dtype=float))
            for k, g in enumerate(gidx)]
    return np.column_stack(cols) if cols else None


def _cand_tpp(cands: pd.DataFrame) -> np.ndarray:
    """Each candidate's tokens per parameter, ``D / N``."""
    return cands["D"].to_numpy(dtype=float) / cands["N"].to_numpy(dtype=float)


def _note_failures(res: DesignResult, prob: _Problem, cands: pd.DataFrame) -> None:
    """Say in the result's notes how often a pilot is expected to fail (none: nothing)."""
    from bayescale.formatting import fmt_pct

    if prob.fail_p is None:
        return
    rate = prob.fail_p.mean(axis=0)                                      # (K,)
    res.settings["fail_p"] = float(rate.mean())
    if "group" in cands and cands["group"].nunique() > 1:
        by = pd.Series(rate, index=cands["group"].to_numpy()).groupby(level=0).mean()
        hi = by.sort_values(ascending=False)
        said = ", ".join(f"{g} {fmt_pct(v)}" for g, v in hi.head(3).items())
        what = f"by the candidate's group ({said}{', ...' if len(hi) > 3 else ''})"
    else:
        what = fmt_pct(float(rate.mean()))
    res.notes.append(
        f"a pilot run fails as some of the fit's runs did, with probability {what}; a failed "
        "run is valued as telling nothing and its FLOPs as spent, so the expected reductions "
        "allow for it")


def _problem(law: Law, fm: FlopModel, cand_nats: list[dict[str, np.ndarray]],
             focus_nats: list[dict[str, np.ndarray]], cand_group_idx: Sequence[int],
             sigma: np.ndarray, nu: np.ndarray | None, cands: pd.DataFrame, decision: str,
             budget: float | None, target: float | None, plan: tuple[float, float] | None,
             regret: bool, run_cost: float = 0.0,
             fail_p: np.ndarray | None = None) -> _Problem:
    s = sigma.size
    k = len(cands)
    ln = np.log(cands["N"].to_numpy(dtype=float))
    ld = np.log(cands["D"].to_numpy(dtype=float))
    mu = np.empty((s, k))
    gidx = np.asarray(cand_group_idx)
    for gi, nat in enumerate(cand_nats):
        cols = np.nonzero(gidx == gi)[0]
        if cols.size:
            params = sampled_params(law, nat, 1)
            mu[:, cols] = log_loss(law, params, N=ln[None, cols], D=ld[None, cols])
    qs, losses, bests = [], [], []
    want_regret = regret and decision == "allocation"
    for nat in focus_nats:
        q, lg, lb = _quantity(decision, law, nat, sigma, nu, fm, budget, target, plan,
                              want_regret)
        qs.append(q)
        losses.append(lg)
        bests.append(lb)
    q = np.stack(qs, axis=1)
    ok = np.all(np.isfinite(q), axis=1) & np.all(np.isfinite(mu), axis=1)
    if not ok.all():
        if ok.sum() < 50:
            raise DecisionError(
                f"only {int(ok.sum())} of {s} draws give a finite decision quantity and finite "
                "predictions at the candidates; check the candidates' N and D"
            )
    has = want_regret and all(x is not None for x in losses)
    keep = np.nonzero(ok)[0]
    if q.shape[1] == 1:  # draws in the order of the quantity: weighted quantiles need no gather
        keep = keep[np.argsort(q[keep, 0], kind="stable")]
    return _Problem(
        mu=mu[keep], sigma=sigma[keep], nu=None if nu is None else nu[keep], q=q[keep],
        cost=cands["flops"].to_numpy(dtype=float) + run_cost,
        regret_loss=np.stack([x[keep] for x in losses]) if has else None,
        regret_best=np.stack([x[keep] for x in bests]) if has else None,
        fail_p=None if fail_p is None else fail_p[keep],
    )


def next_runs(
    fit: Any,
    budget: float | None = None,
    *,
    pilot: float | None,
    decision: str = "allocation",
    target: float | None = None,
    plan: tuple[float, float] | None = None,
    candidates: pd.DataFrame | None = None,
    isoflop: Sequence[float] | float | None = None,
    max_run_flops: float | None = None,
    group: Any = None,
    candidate_groups: Sequence[str] | None = None,
    spread: str = "ci95",
    n_outcomes: int = 128,
    max_draws: int = 1000,
    max_runs: int | None = None,
    ess_min: float = 50.0,
    regret: bool = True,
    fixed: bool = False,
    flops_per_token: float | None = None,
    flops: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    run_cost: float = 0.0,
    refit: int = 0,
    seed: int = 0,
) -> DesignResult:
    """Which pilot runs to train next: the batch that narrows a decision most per FLOP.

    Preposterior analysis by importance sampling on the fit's posterior draws (the module
    docstring of :mod:`bayescale.decisions.design` gives the method): for each candidate run
    and each of ``n_outcomes`` simulated outcomes, the posterior draws are re-weighted by the
    outcome's likelihood and the decision's spread is recomputed; runs are added greedily by
    expected reduction of the spread per FLOP until ``pilot`` FLOPs are spent.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with inputs ``("N", "D")``.
    budget : float, optional
        Training FLOPs of the decision (required for ``"allocation"`` and ``"prob_target"``).
    pilot : float
        Total FLOPs available for the pilot runs; every candidate costs at most
        ``max_run_flops`` (default: ``pilot``).
    decision : {"allocation", "prob_target", "forecast"}, default "allocation"
        What to be surer about: the compute-optimal ``N*`` at ``budget`` (its log); the
        probability that the compute-optimal run at ``budget`` reaches ``target`` (per draw,
        noise integrated); or the law's log-loss forecast at ``plan=(N, D)``.
    target : float, optional
        Target loss (nats) for ``"prob_target"``.
    plan : tuple (N, D), optional
        The planned run for ``"forecast"``.
    candidates : pandas.DataFrame, optional
        Your own candidate runs (columns ``N`` and ``D``, or ``C`` and one of them; a ``group``
        column for a hierarchical fit; an optional ``name``).  Default: :func:`candidate_runs`,
        a grid of ``(N, D)`` around and modestly beyond the data, each run costing at most
        ``max_run_flops``.
    isoflop : float or sequence of float, optional
        Candidates on isoFLOP curves at these budgets instead of the grid.
    max_run_flops : float, optional
        Largest FLOPs of one default candidate (default ``pilot``).
    group : str or sequence of str, optional
        Hierarchical fits: the group(s) whose decision matters (``"new"`` for an unseen group);
        default every observed group, with the mean of their spreads as the objective.
    candidate_groups : sequence of str, optional
        Hierarchical fits: groups to propose pilot runs in (default every observed group).
    spread : {"ci95", "ci80", "sd"}, default "ci95"
        How the decision's uncertainty is measured (width of the 95% / 80% interval, or sd).
    n_outcomes : int, default 128
        Simulated outcomes (paths) per candidate.
    max_draws : int, default 1000
        Posterior draws used (a random subsample of the fit's).
    max_runs : int, optional
        Cap on the number of runs in the batch.
    ess_min : float, default 50
        Importance-sampling ESS below which a candidate (or batch step) is flagged.
    regret : bool, default True
        For the allocation decision, also compute the expected value of sample information in
        regret terms (nats of loss).
    fixed : bool, default False
        Evaluate ``candidates`` as one given batch, in order (e.g. to compare a design chosen
        another way); ``pilot`` may then be None.
    flops_per_token, flops
        FLOP convention (default: the fit's own, ``C = 6 N D`` unless the fit says otherwise).
    run_cost : float, default 0
        A fixed cost of every run in FLOPs, on top of its training FLOPs (evaluation,
        start-up, a queue slot priced in FLOPs); it counts against ``pilot`` and in the value
        per FLOP (table column ``cost``), so it favours fewer, larger runs.
    refit : int, default 0
        Where the batch's importance weights degenerate (median ESS below ``ess_min`` from run
        ``j`` on, ``j >= 2``), re-estimate the value of runs ``j``... with ``refit`` real NUTS
        refits: each adds runs ``1..j-1`` with outcomes simulated from one posterior draw to
        the fit's runs, refits (the fit's spec and sampler settings) and values the rest of the
        batch by importance sampling from the refitted posterior, whose weights start fresh.
        The rows from ``j`` on then hold the average over the refits (column ``refit``
        True; ``se`` is their spread over refits).  The runs are not re-chosen: which runs are
        best after run ``j-1`` depends on its outcome, so train those, refit and ask again.
        Fits without groups only; each refit costs one NUTS fit.
    seed : int, default 0
        Seed of the draw subsample, truth draws and simulated noise.

    Returns
    -------
    DesignResult
        ``.table`` (the batch), ``.candidates`` (every candidate's own value), ``.by_group``
        (hierarchical fits) and a readable ``str()``.

    Raises
    ------
    DecisionError
        For a fit without an ``N``/``D`` law, a missing budget / target / plan, no candidate
        within the pilot budget, or malformed candidates.

    Examples
    --------
    >>> import bayescale as bs
    >>> res = bs.next_runs(fit, 5.76e23, pilot=1e21)                    # doctest: +SKIP
    >>> print(res)                                                      # doctest: +SKIP
    >>> res = bs.next_runs(fit, 5.76e23, pilot=1e21, decision="prob_target",
    ...                    target=2.0)                                  # doctest: +SKIP
    >>> res = bs.next_runs(hfit, 1e22, pilot=1e20, group="g03")         # doctest: +SKIP
    """
    from bayescale.decisions.api import _check_fit, _fit_draws

    _check_fit(fit)
    law = fit.law
    require_nd_law(law, "a design of (N, D) pilot runs")
    k = fit.flops_per_token if flops_per_token is None else flops_per_token
    fm = flop_model(k, flops)
    p = _check_common(pilot, spread, n_outcomes, max_draws, ess_min, max_runs, fixed)
    b, t, pl = _check_decision(decision, budget, target, plan)
    rc = _check_run_cost(run_cost)
    hierarchical = bool(fit.groups)
    if not (isinstance(refit, (int, np.integer)) and not isinstance(refit, bool)
            and refit >= 0):
        raise DecisionError(f"refit must be a number of refits >= 0 (e.g. 4); got {refit!r}")
    if refit and hierarchical:
        raise DecisionError("refit= is not available for hierarchical fits yet; pass refit=0 "
                            "and refit by hand after training the first runs")
    if candidates is not None and isoflop is not None:
        raise DecisionError("give candidates= or isoflop=, not both")
    if candidates is None:
        if fixed:
            raise DecisionError("fixed=True evaluates your candidates=DataFrame as a batch; "
                                "pass candidates")
        cap = p if max_run_flops is None else max_run_flops
        if max_run_flops is None and rc > 0:
            if rc >= p:
                from bayescale.formatting import fmt_sci

                raise DecisionError(
                    f"run_cost={fmt_sci(rc)} FLOPs is not below the pilot budget {fmt_sci(p)}: "
                    "no run can be afforded; lower run_cost or raise pilot")
            cap = p - rc
        cands = candidate_runs(fit, cap, isoflop=isoflop, groups=candidate_groups,
                               flops_per_token=fm.k, flops=flops)
    else:
        cands = _check_candidates(candidates, fm, hierarchical, fit)
        if candidate_groups is not None and hierarchical:
            keep = {_resolve(fit, g, "candidate_groups") for g in candidate_groups}
            cands = cands[cands["group"].isin(keep)].reset_index(drop=True)
            if cands.empty:
                raise DecisionError(f"no candidate is in candidate_groups={candidate_groups!r}")
    noise = fit.draws(kind="noise")
    sig_all = np.asarray(noise["sigma"], dtype=float).reshape(-1)
    nu_all = np.asarray(noise["nu"], dtype=float).reshape(-1) if "nu" in noise else None
    rng = np.random.default_rng(seed)
    idx = _subsample(sig_all.size, int(max_draws), rng)
    if not hierarchical:
        if group not in (None, "all"):
            raise DecisionError(f"group={group!r} was given but this fit has no groups; omit it")
        nat = {kk: v[idx] for kk, v in _fit_draws(fit).items() if kk in law.natural}
        nat, _ = natural_draws(nat, law)
        focus: list[Any] = [None]
        cand_nats, focus_nats, gidx = [nat], [nat], [0] * len(cands)
    else:
        if group is None:
            focus = list(fit.groups)
        else:
            focus = [_resolve(fit, g, "group")
                     for g in ([group] if isinstance(group, str) or np.ndim(group) == 0
                               else list(group))]
        cache: dict[str, dict[str, np.ndarray]] = {}

        def nat_of(g: str) -> dict[str, np.ndarray]:
            if g not in cache:
                try:
                    d = fit.draws(group=g, seed=seed)
                except ValueError as exc:
                    raise DecisionError(str(exc)) from None
                cache[g] = natural_draws({kk: np.asarray(v)[idx] for kk, v in d.items()},
                                         law)[0]
            return cache[g]

        cgroups = list(dict.fromkeys(cands["group"]))
        cand_nats = [nat_of(g) for g in cgroups]
        gidx = [cgroups.index(g) for g in cands["group"]]
        focus_nats = [nat_of(g) for g in focus]
    sig = sig_all[idx]
    nu = None if nu_all is None else nu_all[idx]
    # each candidate's group fails at its own rate (ScalingFit.group_failures), and where
    # that rate depends on tokens per parameter, each candidate at its own
    frozen = [fit.frozen_failures(g) for g in ([None] if not hierarchical else cgroups)]
    tpp = _cand_tpp(cands)
    fp = _fail_matrix([None if fr is None else fr.p(tpp)[idx] for fr in frozen], gidx)
    prob = _problem(law, fm, cand_nats, focus_nats, gidx, sig, nu, cands, decision, b, t, pl,
                    regret, rc, fail_p=fp)
    out = _run(prob, pilot=p, spread=spread, n_outcomes=int(n_outcomes), ess_min=ess_min,
               max_runs=max_runs, rng=rng, fixed=fixed)
    settings = {"budget": b, "target": t, "plan": pl,
                "groups": focus if hierarchical else None, "n_draws": int(prob.sigma.size),
                "n_outcomes": int(n_outcomes), "seed": seed, "flops_per_token": fm.k,
                "max_runs": max_runs, "law": law.name, "run_cost": rc}
    res = _finish(out, cands, decision=decision, quantity=_describe(decision, b, t, pl, focus),
                  spread=spread, pilot=p, ess_min=float(ess_min), focus=focus,
                  settings=settings)
    _note_failures(res, prob, cands)
    if refit:
        _refit_degenerate(fit, res, int(refit), fm=fm, flops=flops, ess_min=float(ess_min),
                          regret=regret, max_draws=int(max_draws), seed=seed)
    return res


# =========================================================================== fixed costs, refits
def _check_run_cost(run_cost: Any) -> float:
    try:
        rc = float(run_cost)
    except (TypeError, ValueError):
        rc = math.nan
    if not (math.isfinite(rc) and rc >= 0):
        raise DecisionError(f"run_cost must be a number of FLOPs >= 0 (a fixed cost per run); "
                            f"got {run_cost!r}")
    return rc


def _refit_degenerate(fit: Any, res: DesignResult, n_refits: int, *, fm: FlopModel,
                      flops: Callable | None, ess_min: float, regret: bool, max_draws: int,
                      seed: int) -> None:
    """Re-estimate, in place, the batch rows whose importance weights degenerate (``refit=``).

    From the first degenerate run ``j`` (``j >= 2``): ``n_refits`` times, add runs ``1..j-1``
    with outcomes simulated from one posterior draw to the fit's runs, refit with NUTS and
    value runs ``j..`` as a fixed batch by importance sampling from the refitted posterior.
    """
    import json

    from bayescale.decisions.api import _fit_draws
    from bayescale.formatting import fmt_num
    from bayescale.modeling.noise import perturb
    from bayescale.sampling.fit import fit as fit_runs

    tab = res.table
    if tab.empty or not tab["degenerate"].any():
        return
    j = int(tab.loc[tab["degenerate"], "run"].iloc[0])
    if j == 1:
        res.notes.append("refit: the first run's weights already degenerate, so there are no "
                         "earlier runs to refit on; design from a fit with more draws "
                         "(max_draws) instead")
        return
    prefix, rest = tab.iloc[: j - 1], tab.iloc[j - 1:]
    law = fit.law
    draws = _fit_draws(fit)
    nat = {k: draws[k] for k in law.natural}
    sig, nu = draws["sigma"], draws.get("nu")
    meta = fit.meta.get("settings", "{}")
    meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
    sampling = {k: meta[k] for k in ("draws", "tune", "chains", "target_accept", "coordinates")
                if meta.get(k) is not None}
    cols = [c for c in ("N", "D", "C", "loss") if c in fit.runs]
    runs0 = fit.runs[cols]
    n_new = prefix["N"].to_numpy(dtype=float)
    d_new = prefix["D"].to_numpy(dtype=float)
    rng = np.random.default_rng([seed, 7919])
    st = res.settings
    start, after, ess, p10, reg_after = [], [], [], [], []
    for r in range(n_refits):
        t = int(rng.integers(sig.size))
        params = sampled_params(law, {k: np.atleast_1d(v[t]) for k, v in nat.items()}, 1)
        mu = log_loss(law, params, N=np.log(n_new)[None, :], D=np.log(d_new)[None, :])
        y = perturb(mu, sig[t:t + 1], None if nu is None else nu[t:t + 1], rng)[0]
        new = pd.DataFrame({"N": n_new, "D": d_new, "C": np.exp(_log_cost(fm, n_new, d_new)),
                            "loss": np.exp(y)})
        runs_r = pd.concat([runs0, new[cols]], ignore_index=True)
        refitted = fit_runs(runs_r, spec=fit.spec, flops=fm.k if flops is None else flops,
                          seed=seed + 1 + r, progressbar=False, prior_draws=0, retry=False,
                          warn=False, **sampling)
        rr = next_runs(refitted, st["budget"], pilot=None, decision=res.decision,
                       target=st["target"], plan=st["plan"],
                       candidates=rest[["N", "D"]].reset_index(drop=True), fixed=True,
                       spread=res.spread, n_outcomes=int(st["n_outcomes"]), max_draws=max_draws,
                       ess_min=ess_min, regret=regret, flops_per_token=fm.k, flops=flops,
                       run_cost=float(st.get("run_cost", 0.0)), seed=seed + 1 + r)
        start.append(rr.current_spread)
        after.append(rr.table["expected_spread"].to_numpy(dtype=float))
        ess.append(rr.table["ess"].to_numpy(dtype=float))
        p10.append(rr.table["ess_p10"].to_numpy(dtype=float))
        if rr.current_regret is not None and "regret_reduction" in rr.table:
            reg_after.append(rr.current_regret - rr.table["regret_reduction"].to_numpy(float))
    start_a, after_a = np.asarray(start), np.asarray(after)          # (R,), (R, K)
    prev = np.column_stack([start_a, after_a[:, :-1]])                # spread before each run
    gain = prev - after_a
    se = (gain.std(axis=0, ddof=1) / math.sqrt(n_refits) if n_refits > 1
          else np.full(gain.shape[1], np.nan))
    idx = rest.index
    table = res.table.copy()
    table.loc[idx, "expected_reduction"] = gain.mean(axis=0)
    table.loc[idx, "se"] = se
    table.loc[idx, "per_flop"] = gain.mean(axis=0) / table.loc[idx, "cost"].to_numpy(float)
    table.loc[idx, "expected_spread"] = after_a.mean(axis=0)
    table.loc[idx, "cumulative_reduction"] = res.current_spread - after_a.mean(axis=0)
    table.loc[idx, "ess"] = np.mean(ess, axis=0)
    table.loc[idx, "ess_p10"] = np.min(p10, axis=0)
    table.loc[idx, "degenerate"] = table.loc[idx, "ess"] < ess_min
    table.loc[idx, "refit"] = True
    if reg_after and res.current_regret is not None and "regret_reduction" in table:
        table.loc[idx, "regret_reduction"] = res.current_regret - np.mean(reg_after, axis=0)
        res.expected_regret = res.current_regret - float(table["regret_reduction"].iloc[-1])
    res.table = table
    res.expected_spread = float(table["expected_spread"].iloc[-1])
    is_before = float(prefix["expected_spread"].iloc[-1])
    res.notes = [n for n in res.notes if not n.startswith("the batch's weights degenerate")]
    first = "run 1" if j == 2 else f"runs 1 to {j - 1}"
    later = f"run {j}" if j == len(table) else f"runs {j} to {len(table)}"
    res.notes.append(
        f"the importance weights degenerate from run {j} on, so {later} were re-valued from "
        f"{n_refits} NUTS refit(s), each with {first} added and outcomes simulated from one "
        f"posterior draw (column 'refit'): spread after run {j - 1} {fmt_num(is_before)} by "
        f"importance sampling, {fmt_num(float(start_a.mean()))} by the refits; the runs were not "
        f"re-chosen (train {first}, refit and ask again)")
    res.settings["refit"] = n_refits
