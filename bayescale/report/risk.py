"""The risk report: from a fitted law to a training-budget recommendation someone can sign.

:func:`write_report` writes a self-contained HTML page (figures embedded as PNG, CSS inline, no
scripts, nothing fetched from the network) and its Markdown twin (``report.md`` with the
figures as PNG files in ``report_files/``).  :func:`build_report` returns the same content as
a :class:`~bayescale.report.document.Document` without writing anything.

The report leads with a one-paragraph answer in plain language, then the warnings a decision
maker must read (extrapolation distance, sampling problems, runs that leave-one-out
cross-validation flags, parameters the data barely inform), then the numbers behind the
answer: the allocation table with intervals, P(loss <= target), the regret of the user's plan,
and finally the data, the law and its priors, prior against posterior, the fit to the runs,
sampling diagnostics and the provenance needed to reproduce it.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.decisions import DecisionError
from bayescale.files import atomic_write_bytes
from bayescale.report.document import (
    Bullets,
    Document,
    Figure,
    Heading,
    Para,
    Pre,
    Table,
    figure_png,
    table,
)

__all__ = ["LOO_K_MAX", "ReportFiles", "build_report", "write_report"]

#: Pareto k above which a run is flagged as too influential for PSIS-LOO (Vehtari et al. 2024).
LOO_K_MAX = 0.7
#: Posterior-to-prior spread ratio above which a parameter is "barely informed by the data".
PRIOR_DOMINATED = 0.5
#: Fewer posterior draws than this get a warning about rough interval ends.
FEW_DRAWS = 1000


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`.

    Attributes
    ----------
    html : Path
        The self-contained HTML report.
    markdown : Path or None
        The Markdown twin (None with ``markdown=False``).
    figures : tuple of Path
        PNG files of the Markdown twin's figures.
    document : Document
        The report's content (blocks), e.g. to render it elsewhere.
    """

    html: Path
    markdown: Path | None
    figures: tuple[Path, ...]
    document: Document = field(repr=False)


# --------------------------------------------------------------------------- formatting
# Every number the report shows goes through these (built on the formatters of
# bayescale.formatting): never Python's float syntax such as "2e+02%" or "5.81e-05".
def _sci(x: float) -> str:
    """FLOPs and other huge numbers: ``5.76e+23 -> '5.76e23'`` (HTML: 5.76 x 10^23)."""
    from bayescale.formatting import fmt_sci

    return fmt_sci(x)


def _count(x: float) -> str:
    """Parameters or tokens: ``7e10 -> '70B'``, ``1.4e12 -> '1.4T'``."""
    from bayescale.formatting import fmt_count

    return fmt_count(x)


def _num(x: float, sig: int = 3) -> str:
    """Any other number: ``sig`` significant figures, decimals where they read well."""
    from bayescale.formatting import fmt_num

    return fmt_num(x, sig)


def _loss(x: float) -> str:
    return f"{x:.3f}" if np.isfinite(x) else _num(x)


def _nats(x: float) -> str:
    """A difference of losses: two figures, ``'<0.0001'`` below (5.8e-05 nats is nothing)."""
    return "<0.0001" if 0 <= x < 1e-4 else _num(x, 2)


def _pct(p: float) -> str:
    """A probability: whole percents, ``'<1%'`` and ``'>99%'`` at the ends."""
    from bayescale.formatting import fmt_pct

    if p >= 0.995 and p < 1.0:
        return ">99%"
    if 0 < p < 0.005:
        return "<1%"
    return f"{p:.0%}" if np.isfinite(p) else fmt_pct(p)


def _interval(q: np.ndarray, fmt, sep: str = " to ") -> str:
    """``'median [lo to hi]'`` from quantiles ``(lo, median, hi)``."""
    return f"{fmt(q[1])} [{fmt(q[0])}{sep}{fmt(q[2])}]"


def _share(x: float) -> str:
    """A fraction as a percentage: ``0.68 -> '68%'``, ``0.0079 -> '0.8%'``, ``1.4 -> '140%'``."""
    from bayescale.formatting import fmt_pct

    return fmt_pct(x)


def _more_compute(x: float, *, short: bool = False) -> str:
    """Extra compute ``x`` (a fraction of what was needed) in words.

    ``0.68 -> '68% more compute than needed'``; from 100% on, as a multiple of the compute
    needed: ``1.4 -> '2.4x the compute needed'``.  ``short`` drops the words: ``'68%'``,
    ``'2.4x'``.
    """
    from bayescale.formatting import fmt_times

    if np.isfinite(x) and x >= 0.995:
        return fmt_times(1 + x) + ("" if short else " the compute needed")
    return _share(x) + ("" if short else " more compute than needed")


def _ratio(x: float) -> str:
    """Tokens per parameter and similar ratios: ``18.7``, ``341``, ``1,230``."""
    return _num(x, 3)


def _times(x: float) -> str:
    """A multiplier: ``'44x'``, ``'2.4x'``."""
    from bayescale.formatting import fmt_times

    return fmt_times(x)


def _level(p: float) -> str:
    """A probability the user chose, exactly: ``0.9 -> '90%'``, ``0.995 -> '99.5%'``."""
    from bayescale.formatting import fmt_num

    return fmt_num(100 * p, 4, sci_below=0) + "%"


def _target(t: float) -> str:
    """A target loss the user chose: ``2.0 -> '2'``, ``1.95 -> '1.95'``."""
    return _num(t, 4)


def _spec_num(v: float) -> str:
    """A prior's argument as in a spec file: ``0.5878``, ``2``, ``1e-5``."""
    from bayescale.formatting import fmt_sci

    return f"{v:g}" if v == 0 or 1e-4 <= abs(v) < 1e6 else fmt_sci(v, 6)


# --------------------------------------------------------------------------- checks
def check_report_law(law: Any) -> None:
    """Raise a clear :class:`~bayescale.decisions._common.DecisionError` for a law the report
    cannot plan a budget with: it needs a loss law of ``N`` and ``D`` (or of ``C`` alone).

    A budget fixes ``C = k N D``; an input it does not fix (``U``, the unique tokens of the
    data-constrained law) has no value to report at.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> from bayescale.report.risk import check_report_law
    >>> check_report_law(get_law("chinchilla"))           # fine: nothing raised
    >>> try:
    ...     check_report_law(get_law("datablations"))
    ... except Exception as e:
    ...     print(str(e)[:60])
    the report plans a budget with a loss law of N and D (or of
    """
    extra = [x for x in law.inputs if x not in ("N", "D", "C")]
    if extra or law.target != "loss":
        hint = (" For a budget under a cap on unique tokens use `bayescale allocate FIT "
                "--budget C --unique-tokens U` (bayescale.allocate_capped: the capped "
                "optimum, its epochs and the loss the cap costs), or fit --law chinchilla "
                "to runs without repeated data for the report." if "U" in extra else "")
        raise DecisionError(
            f"the report plans a budget with a loss law of N and D (or of C alone); law "
            f"{law.name!r} reads {list(law.inputs)}"
            + (f", and {extra} is not fixed by a budget" if extra else
               f" and predicts {law.target!r}, not the loss") + "." + hint)


def _check_args(budgets, target_loss, plan, prob, ci, k):
    if plan is not None:
        try:
            n_p, d_p = (float(v) for v in plan)
        except (TypeError, ValueError):
            raise DecisionError(f"plan must be a pair (N, D) of numbers; got {plan!r}") from None
        if not (n_p > 0 and d_p > 0 and math.isfinite(n_p * d_p)):
            raise DecisionError(f"plan N and D must be positive and finite; got {plan!r}")
        plan = (n_p, d_p)
    if budgets is None:
        if plan is None:
            raise DecisionError(
                "give budgets=[...] (training FLOPs) or plan=(N, D) to write a report"
            )
        budgets = [k * plan[0] * plan[1]]
    c = np.atleast_1d(np.asarray(budgets, dtype=float)).ravel()
    if c.size == 0 or not np.all(np.isfinite(c) & (c > 0)):
        raise DecisionError(f"budgets must be positive finite FLOPs; got {budgets!r}")
    c = np.unique(c)
    if target_loss is not None:
        target_loss = float(target_loss)
        if not (math.isfinite(target_loss) and target_loss > 0):
            raise DecisionError(f"target_loss must be a positive loss in nats; got {target_loss!r}")
    if not 0 < float(prob) < 1:
        raise DecisionError(f"prob must be in (0, 1); got {prob!r}")
    if not 0 < float(ci) < 1:
        raise DecisionError(f"ci must be in (0, 1); got {ci!r}")
    return c, target_loss, plan


def _noisy(loss: np.ndarray, draws: dict, rng: np.random.Generator) -> np.ndarray:
    """One training run's loss per draw: the law's loss times exp(noise), failing as the fit's
    failed runs did (:meth:`bayescale.ScalingFit.run_failures`)."""
    from bayescale.modeling.noise import new_run

    if draws.get("sigma") is None:
        return loss
    return loss * np.exp(new_run(np.zeros(loss.shape), draws, rng))


def _loo(fit, loo) -> tuple[Any, str]:
    """(ELPD result or None, note)."""
    if loo is False or loo is None:
        return None, "Leave-one-out cross-validation was not run for this report (loo=False)."
    if loo is True:
        if "log_likelihood" not in fit.tree.children:
            return None, "Leave-one-out cross-validation needs the fit's log-likelihood, absent."
        try:
            import arviz as az

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = az.loo(fit.tree, pointwise=True)
        except Exception as exc:  # a 1-draw fit, a broken log-likelihood...
            return None, f"Leave-one-out cross-validation could not be computed: {exc}"
    else:
        res = loo
    return res, ""


# --------------------------------------------------------------------------- the report
@dataclass
class _Facts:
    """Everything the report says, computed once from the posterior (private)."""

    fit: Any
    law: Any
    nd: bool
    k: float
    draws: dict
    s: int
    opts: dict
    qs: list
    lab: str
    runs: pd.DataFrame
    c_runs: np.ndarray
    budgets: np.ndarray
    ext: np.ndarray
    q_of: dict
    q_run: np.ndarray
    target_loss: float | None
    prob: float
    ci: float
    group: str | None
    plan: tuple[float, float] | None
    p_target: np.ndarray | None = None
    p_target_mean: np.ndarray | None = None
    c_req: float = math.nan
    c_half: float = math.nan
    below_floor: float = 0.0
    met: tuple[int, float, float] | None = None
    reg: Any = None
    plan_loss: np.ndarray | None = None
    p_plan: float | None = None
    c_plan: float = math.nan
    ext_plan: float = 0.0
    expo: dict | None = None
    discrepancy: Any = True
    seed: int = 0
    q_run_plain: np.ndarray | None = None
    data_group: str | None = None  # whose runs the distance is measured from (None: all)
    # what the figures draw (the law's own posterior), computed here, rendered by the plots
    reg_plain: Any = None
    prob_curve: dict | None = None
    allocation_curve: dict | None = None  # plot_allocation's numbers
    decision_curve: dict | None = None  # plot_decision's numbers
    choices: list | None = None  # (budget, risk_averse mean, risk_averse CVaR 90)


def _curve_draws(fit: Any, group: Any) -> Any:
    """``fit.draws(group=group, noise=True)``, one curve per draw: a hierarchy needs a group."""
    from bayescale.errors import NewGroupError

    if fit.groups and group is None:
        raise DecisionError(
            f"this is a hierarchical fit with groups {fit.groups}; pass group=<one of them> "
            f"(or group='new' for an unseen group drawn from the population)"
        )
    try:
        return fit.draws(group=group, noise=True)
    except NewGroupError:
        raise
    except ValueError as exc:
        raise DecisionError(str(exc)) from None


def _facts(fit, budgets, target_loss, plan, prob, ci, group, seed, discrepancy=True,
           regret=None) -> _Facts:
    """The report's numbers, from the public decision functions with the same discrepancy and
    seed, so that each equals what a user gets from ``predict_optimal`` / ``fit.predict`` /
    ``prob_target`` / ``budget_for`` / ``plan_regret`` called with them; ``regret``, the
    plan's :func:`~bayescale.plan_regret` result when the caller has it, is used as given.
    The figures' numbers (the law's own posterior) are computed here too: the plots only
    draw them."""
    from bayescale.decisions import exponents
    from bayescale.decisions.api import (
        allocate,
        budget_for,
        extrapolation,
        plan_regret,
        predict_optimal,
        prob_target,
    )
    from bayescale.modeling.model import group_labels
    from bayescale.plots.prob_plot import prob_target_curve
    from bayescale.posterior.discrepancy import resolve_discrepancy

    k = fit.flops_per_token
    budgets, target_loss, plan = _check_args(budgets, target_loss, plan, prob, ci, k)
    law = fit.law
    check_report_law(law)
    nd = set(law.inputs) == {"N", "D"}
    if plan is not None and not nd:
        raise DecisionError(
            f"plan=(N, D) needs a law with inputs ('N', 'D'); law {law.name!r} reads "
            f"{law.inputs}: pass budgets only"
        )
    try:  # resolved once: True is the empirical prior measured from the fit's runs
        disc = resolve_discrepancy(fit, discrepancy, group)
    except ValueError as exc:
        raise DecisionError(str(exc)) from None
    draws = _curve_draws(fit, group)
    opts = {"law": law, "flops_per_token": k}
    qs = [(1 - ci) / 2, 0.5, (1 + ci) / 2]
    runs = fit.runs
    new_group = group == "new" and bool(fit.groups)
    data_group = None if new_group else group  # an unseen group: every group's runs are its data
    if group is not None and fit.groups and not new_group:
        runs = runs[group_labels(runs, fit.spec.groups) == group]
    c_runs = np.asarray(runs["C"] if "C" in runs else k * runs["N"] * runs["D"], dtype=float)

    def loss_q(noise: bool, d: Any) -> np.ndarray:
        """(lo, median, hi) x budgets of the loss at each budget's optimal split."""
        if nd:
            t = predict_optimal(fit, budgets, noise=noise, ci=(ci,), group=group, seed=seed,
                                flops_per_token=k, discrepancy=d)
        else:
            t = fit.predict(C=budgets, noise=noise, ci=(ci,), group=group, seed=seed,
                            flops=k, discrepancy=d).table
        lo, hi = t.columns[t.columns.get_loc("median") + 1:][:2]
        return np.vstack([t[lo], t["median"], t[hi]]).astype(float)

    q_of = {}
    if nd:
        opt = allocate(draws, budgets, per_draw=True)
        q_of = {key: np.quantile(v, qs, axis=0) for key, v in opt.items() if key != "loss"}
    q_of["loss"] = loss_q(False, disc)
    f = _Facts(
        fit=fit, law=law, nd=nd, k=k, draws=draws, s=next(iter(draws.values())).size,
        opts=opts, qs=qs, lab=_level(ci), runs=runs, c_runs=c_runs, budgets=budgets,
        ext=extrapolation(fit, budgets, group=data_group), q_of=q_of,
        q_run=loss_q(True, disc), target_loss=target_loss, prob=prob, ci=ci,
        group=group, plan=plan, discrepancy=disc, seed=seed, data_group=data_group,
    )
    if disc is not None:
        f.q_run_plain = loss_q(True, False)
    on = {"group": group, "flops_per_token": k, "discrepancy": disc, "seed": seed}
    if target_loss is not None:
        f.p_target = np.atleast_1d(prob_target(fit, target_loss, budgets=budgets, **on))
        f.p_target_mean = np.atleast_1d(prob_target(fit, target_loss, budgets=budgets,
                                                    noise=False, **on))
        f.c_req = budget_for(fit, target_loss, prob, on_unreachable="inf", **on)
        f.c_half = budget_for(fit, target_loss, 0.5, on_unreachable="inf", **on)
        if "E" in draws:
            f.below_floor = float(np.mean(draws["E"] >= target_loss))
        if "loss" in runs:  # runs that already reach the target: (count, cheapest C, its loss)
            hit = runs["loss"].to_numpy(dtype=float) <= target_loss
            if hit.any():
                j = int(np.argmin(np.where(hit, c_runs, np.inf)))
                f.met = (int(hit.sum()), float(c_runs[j]), float(runs["loss"].iloc[j]))
    if target_loss is not None:
        f.prob_curve = prob_target_curve(fit, target_loss, budgets=budgets, plan=plan,
                                         prob=prob, group=group)
    if nd:
        from bayescale.decisions.api import risk_averse
        from bayescale.plots.allocation_plot import allocation_curve
        from bayescale.plots.decision_plot import decision_curve

        f.decision_curve = decision_curve(fit, budgets, plan=plan, group=group, seed=seed)
        f.allocation_curve = allocation_curve(fit, budgets, plan=plan, group=group)
        f.choices = [(c, risk_averse(fit, c, utility="mean", **on),
                      risk_averse(fit, c, utility="cvar", level=0.9, **on))
                     for c in budgets[:4]]
    if plan is not None:
        f.reg = plan_regret(fit, plan, ci=(ci,), **on) if regret is None else regret
        f.reg_plain = f.reg if disc is None and regret is None else plan_regret(draws, plan)
        pt = fit.predict(N=plan[0], D=plan[1], noise=True, ci=(ci,), group=group, seed=seed,
                         flops=k, discrepancy=disc).table
        lo, hi = pt.columns[pt.columns.get_loc("median") + 1:][:2]
        f.plan_loss = np.array([pt[lo].iloc[0], pt["median"].iloc[0], pt[hi].iloc[0]], float)
        if target_loss is not None:
            f.p_plan = prob_target(fit, target_loss, plan=plan, **on)
        f.c_plan = k * plan[0] * plan[1]
        f.ext_plan = float(extrapolation(fit, f.c_plan, group=f.data_group)[0])
    if nd:
        try:
            f.expo = exponents(draws, law=law)
        except DecisionError:  # no closed-form exponents for this law
            f.expo = None
    return f


def build_report(
    fit: Any,
    *,
    budgets: Sequence[float] | float | None = None,
    target_loss: float | None = None,
    plan: tuple[float, float] | None = None,
    prob: float = 0.9,
    ci: float = 0.95,
    group: str | None = None,
    inference_tokens: float | None = None,
    loo: Any = True,
    extra_warnings: Sequence[str] = (),
    title: str | None = None,
    dpi: int = 100,
    seed: int = 0,
    discrepancy: Any = True,
    next_runs: Any = None,
    regret: Any = None,
) -> Document:
    """Assemble the risk report of a fit without writing it (see :func:`write_report`).

    Parameters are those of :func:`write_report` (without ``path`` and ``markdown``),
    ``discrepancy`` included (True by default, as in ``fit.predict``), ``next_runs`` (a
    :func:`bayescale.next_runs` result, computed by the caller: adds "What to run next") and
    ``regret`` (the plan's :func:`bayescale.plan_regret` result, if the caller has it).

    Returns
    -------
    Document
        Title and blocks; ``doc.to_html()`` and ``doc.to_markdown(figure_dir)`` render it.

    Examples
    --------
    >>> from bayescale.report import build_report
    >>> doc = build_report(fit, budgets=[5.76e23], target_loss=2.0)   # doctest: +SKIP
    >>> [b.text for b in doc.blocks if type(b).__name__ == "Heading"]  # doctest: +SKIP
    """
    f = _facts(fit, budgets, target_loss, plan, float(prob), float(ci), group, seed,
               discrepancy, regret)
    loo_res, loo_note = _loo(fit, loo)
    warn = _warnings(f, loo_res, extra_warnings)
    if title is None:
        dataset = f.runs.attrs.get("name", "")
        title = (f"Training-budget risk report: {f.law.name} law, {len(f.runs)} runs"
                 + (f" ({dataset})" if dataset else "") + (f", group {group}" if group else ""))
    blocks: list[Any] = [
        Para(_lead(f), kind="answer"),
        Para(f"Intervals are {f.lab} equal-tailed posterior credible intervals from {f.s} "
             f"posterior draws; FLOPs = {_num(f.k, 4)} N D.  " + _discrepancy_note(f),
             kind="note"),
        Heading("Warnings"),
        Bullets(tuple(warn), kind="warnings") if warn else
        Para("No warnings: the budget is within the data, sampling diagnostics passed and no "
             "run is flagged by leave-one-out cross-validation."),
    ]
    blocks += _recommendation_blocks(f, dpi, seed)
    if f.target_loss is not None:
        blocks += _target_blocks(f, dpi)
    if f.plan is not None:
        blocks += _plan_blocks(f, dpi)
    if inference_tokens is not None and f.target_loss is not None and f.nd:
        blocks += _inference_blocks(f, inference_tokens)
    if next_runs is not None:  # a bs.next_runs(fit, ...) result, computed by the caller
        from bayescale.report.next_runs_section import next_runs_blocks

        blocks += next_runs_blocks(fit, next_runs, ci=f.ci, dpi=dpi)
    blocks += _data_blocks(f.runs, fit, f.k)
    blocks += _law_blocks(fit)
    blocks += _prior_posterior_blocks(fit, f.ci, dpi)
    blocks += _fit_blocks(f, loo_res, loo_note, dpi)
    blocks += [Heading("Sampling diagnostics"), Pre(str(fit.diagnostics))]
    blocks += _summary_blocks(fit, f.ci)
    blocks += _provenance_blocks(fit)
    return Document(title, blocks)


def _discrepancy_note(f: _Facts) -> str:
    """One sentence: whether the numbers include the extrapolation discrepancy."""
    if f.discrepancy is None:
        return ("Beyond the runs they are the law's own posterior (discrepancy=False): they "
                "assume the law keeps holding there.")
    out = ("Beyond the runs they include the extrapolation discrepancy "
           f"({f.discrepancy.source}: how far published scaling laws have missed at the same "
           "distance from their data), as fit.predict does by default; inside the runs it "
           "changes nothing.")
    from bayescale.posterior.discrepancy import PRIOR_SOURCE

    if f.discrepancy.source == PRIOR_SOURCE:  # not updated by these runs' own splits
        out += "  It is the prior for a study like none seen yet, so wider than most studies need"
        if f.discrepancy.note:  # the default, where the runs allow no inner split
            out += ("; these runs are too few, or span too little compute, for a leave-future-"
                    "out split of them to update it (bs.learn_discrepancy(runs, law) says "
                    "which min_train= would).")
        else:
            out += ("; by default it is updated by these runs' own leave-future-out splits, "
                    "which narrow it where the law has extrapolated well on them.")
    return out


def _figure_note(f: _Facts) -> str:
    """Caption addendum: the figures draw the law's own posterior (no discrepancy)."""
    if f.discrepancy is None or float(f.ext.max()) <= 0:
        return ""
    return ("  The figure shows the law's posterior alone; the tables add the extrapolation "
            "discrepancy beyond the runs.")


def _distance_share(f: _Facts, j: int) -> str:
    """One sentence: what the distance beyond the data contributes to one run's interval at
    budget j (the interval of the allocation table's "loss of one run" column).

    With the discrepancy on (the default) the tables include it and the sentence says how wide
    the interval would be without it; with it off, how wide it would be with the discrepancy
    that ``fit.predict`` applies by default.  Empty if it cannot be computed.
    """
    lab = f.lab
    try:
        if f.discrepancy is not None:
            (a, b), (lo, hi) = f.q_run_plain[[0, 2], j], f.q_run[[0, 2], j]
        else:
            from bayescale.decisions.api import predict_optimal

            c = float(f.budgets[j])
            if f.nd:
                t = predict_optimal(f.fit, [c], noise=True, ci=(f.ci,), group=f.group,
                                    seed=f.seed, flops_per_token=f.k, discrepancy=True)
            else:
                t = f.fit.predict(C=[c], noise=True, ci=(f.ci,), group=f.group, seed=f.seed,
                                  flops=f.k, discrepancy=True).table
            cols = t.columns[t.columns.get_loc("median") + 1:][:2]
            (a, b), (lo, hi) = f.q_run[[0, 2], j], (float(t[cols[0]].iloc[0]),
                                                     float(t[cols[1]].iloc[0]))
    except Exception:  # a report is never lost to an optional sentence
        return ""
    a, b, lo, hi = (float(x) for x in (a, b, lo, hi))
    if not all(np.isfinite([a, b, lo, hi])) or hi - lo <= b - a:
        return ""
    share = _pct(1 - (b - a) / (hi - lo))
    from bayescale.posterior.discrepancy import PRIOR_SOURCE, resolve_discrepancy

    used = f.discrepancy or resolve_discrepancy(f.fit, True, f.group)
    which = ("bayescale's extrapolation prior" + (
        "" if used is None or used.source == PRIOR_SOURCE else
        ", updated by these runs' own leave-future-out splits"))
    if f.discrepancy is not None:
        return (f"  The tables include how far published scaling laws have missed that far "
                f"beyond their data ({which}, as in fit.predict): "
                f"one run's {lab} interval at the recommended split is {_loss(lo)} to "
                f"{_loss(hi)}, against {_loss(a)} to {_loss(b)} for the law's posterior "
                f"alone, so the distance contributes {share} of that interval.")
    return (f"  How far published scaling laws have missed that far beyond their data "
            f"({which}, on by default in fit.predict and the decisions, off in this report) "
            f"would widen one run's {lab} interval at the "
            f"recommended split from {_loss(a)} to {_loss(b)} to {_loss(lo)} to {_loss(hi)}: "
            f"the distance would contribute {share} of that interval.")


def _span(x: np.ndarray) -> str:
    """``'0.14'`` or ``'0.14 to 0.3'``: the range of log-loss excesses, two digits."""
    lo, hi = f"{np.min(x):.2g}", f"{np.max(x):.2g}"
    return lo if lo == hi else f"{lo} to {hi}"


def _failures(f: _Facts) -> Any:
    """The fit's failed runs (:meth:`bayescale.ScalingFit.run_failures`), or None if none."""
    try:
        failures = f.fit.run_failures()
    except Exception:  # a report is never lost to an optional sentence
        return None
    return failures if failures is not None and failures.k > 0 else None


def _failures_where(failures: Any) -> str:
    """A sentence when the failed runs sit at one end of the runs' tokens per parameter
    (:meth:`bayescale.modeling.noise.RunFailures.with_tokens_per_param`), else ``''``."""
    if getattr(failures, "by_tpp", None) is None or failures.tpp_weight < 0.5:
        return ""
    from bayescale.formatting import fmt_num

    t = failures.by_tpp.values
    ft = t[failures.by_tpp.failed]
    near, far = failures.rate_at(tpp=[float(np.median(ft)), 20.0])
    return (f"{'It sits' if ft.size == 1 else 'They sit'} at {failures.where_failed()[:-1]}; "
            f"the runs' median is {fmt_num(float(np.median(t)))}): more likely a regime the law "
            f"misses than runs that fail anywhere (probability {failures.tpp_weight:.2f} "
            f"against a flat rate), so a new run's chance of failing like them depends on its "
            f"tokens per parameter: {_pct(near)} at {fmt_num(float(np.median(ft)))}, "
            f"{_pct(far)} at 20.  ")


def _failure_rate(f: _Facts, failures: Any) -> tuple[float, str]:
    """A new run's chance of failing for the report's group (its own runs' rate in a hierarchy,
    :meth:`bayescale.ScalingFit.group_failures`) and a clause saying whose rate it is.  Where
    the chance depends on tokens per parameter, it is read at the first budget's recommended
    split (its median), where the decisions read it, not at the runs' median."""
    g, whose = failures, ""
    if f.group is not None and f.fit.groups:
        try:
            g = f.fit.group_failures(f.group)
        except Exception:  # a report is never lost to an optional clause
            return failures.rate, ""
        if g is failures:  # a new group: the fit's pooled rate
            return failures.rate, " (a new group: the fit's pooled rate)"
        whose = (f" (this group's rate: {g.k} of its {g.n} runs failed, pooled with the "
                 f"other groups')")
    if getattr(g, "by_tpp", None) is None or g.tpp_weight < 0.5:
        return g.rate, whose
    from bayescale.formatting import fmt_num

    if f.nd and "tokens_per_param" in f.q_of:
        at = float(f.q_of["tokens_per_param"][1, 0])
        where = f"at the recommended split's {fmt_num(at)} tokens per parameter"
    else:
        at = float(np.median(g.by_tpp.values))
        where = f"at the runs' median tokens per parameter, {fmt_num(at)}"
    rate = float(g.rate_at(tpp=[at])[0])
    if g is failures:
        return rate, f" ({where})"
    return rate, (f" (this group's chance {where}: the fit's curve shifted by its own runs, "
                  f"{g.k} of its {g.n} failed)")


def _warnings(f: _Facts, loo_res: Any, extra: Sequence[str]) -> list[str]:
    """Plain-language warnings, most important first."""
    warn: list[str] = []
    c_max, c_min = f.c_runs.max(), f.c_runs.min()
    for j, (c, d) in enumerate(zip(f.budgets, f.ext, strict=True)):
        if d > 0.05:
            strength = "far " if d >= 2 else ""
            warn.append(
                f"Extrapolation: {_sci(c)} FLOPs is {d:.1f} orders of magnitude "
                f"({_times(10**d)}) more compute than the largest run ({_sci(c_max)} FLOPs), "
                f"{strength}beyond the data.  " + (
                    f"The intervals allow for the {f.law.name} law bending over that range as "
                    f"much as published laws have at that distance; a change of data, "
                    f"architecture or training recipe larger than in those studies is not "
                    f"included." if f.discrepancy is not None else
                    f"The intervals assume the {f.law.name} law keeps holding over that range; "
                    f"they do not include the risk that it bends (a different law, a change of "
                    f"data, architecture or training recipe), so treat them as a lower bound "
                    f"on the real uncertainty.") + _distance_share(f, j)
            )
        elif d < -0.05:
            warn.append(
                f"Extrapolation downward: {_sci(c)} FLOPs is {-d:.1f} orders of magnitude below "
                f"the smallest run ({_sci(c_min)} FLOPs); the law is not checked there."
            )
    if f.nd:
        n_max = float(f.runs["N"].max())
        for c, n_med in zip(f.budgets, f.q_of["N"][1], strict=True):
            if n_med > 10 * n_max:
                warn.append(
                    f"Model size: at {_sci(c)} FLOPs the recommended model ({_count(n_med)} "
                    f"parameters) is {_times(n_med / n_max)} larger than the largest model in the "
                    f"data ({_count(n_max)})."
                )
        from bayescale.decisions.api import allocate

        alloc = allocate(f.fit, f.budgets, ci=(f.ci,), group=f.group, flops_per_token=f.k,
                         discrepancy=False)  # the flags are about the split only
        flags = alloc["flag"].iloc[::alloc["quantity"].nunique()]  # one per budget
        warn += [f"Allocation outside the runs: at {_sci(c)} FLOPs {flag}, so the recommended "
                 f"split extrapolates the law's trade-off between N and D."
                 for c, flag in zip(f.budgets, flags, strict=True) if flag]
    if f.plan is not None and f.ext_plan > max(0.05, float(f.ext.max()) + 0.05):
        warn.append(f"Your plan's compute ({_sci(f.c_plan)} FLOPs) is {f.ext_plan:.1f} orders "
                    f"of magnitude beyond the largest run.")
    warn += [f"Sampling: {problem}." for problem in f.fit.diagnostics.problems]
    # what the runs table raised when it was fitted (kept in the fit, so a report made from a
    # saved file still says it): mixed set-ups, duplicates, implausible units
    warn += [f"Runs table: {w['message']}" for w in f.fit.data_warnings]
    failures = _failures(f)
    rate, whose = _failure_rate(f, failures) if failures is not None else (0.0, "")
    if failures is not None:
        warn.append(
            f"Failed runs: {failures.k} of the {failures.n} runs sit far above the fitted "
            f"curve (log loss more than {failures.threshold:g} robust standard deviations "
            f"above it, by {_span(failures.sizes)}; diverged or overfitted runs fail upward; "
            f"largest first: " + "; ".join(
                _failed_label(f.fit.runs, int(i), float(e))
                for i, e in zip(failures.rows[::-1][:5], failures.sizes[::-1][:5], strict=True))
            + (f" and {failures.k - 5} more" if failures.k > 5 else "") + ").  "
            + _failures_where(failures) + "One run's "
            f"intervals and probabilities include a {_pct(rate)} chance that the new "
            f"run fails like them{whose}; the law's do not.  Check them: a run that did not "
            f"fail but sits there because the law misses a set-up it does not model (many "
            f"epochs of repeated data, another learning rate) is not noise.")
    if loo_res is not None:
        kvals = np.asarray(loo_res.pareto_k, dtype=float).ravel()
        bad = np.nonzero(kvals > LOO_K_MAX)[0]
        if bad.size:
            worst = bad[np.argsort(-kvals[bad])][:8]
            shown = [_run_label(f.fit.runs, i, kvals[i]) for i in worst]
            more = f" and {bad.size - 8} more" if bad.size > 8 else ""
            warn.append(
                f"Leave-one-out cross-validation flags {bad.size} run(s) as too influential "
                f"(Pareto k > {LOO_K_MAX}): {'; '.join(shown)}{more}.  The fit leans on these "
                f"runs and its LOO estimate is unreliable: check them for errors or "
                f"diverged training, or compare with a likelihood or law that explains them."
            )
    if f.s < FEW_DRAWS:
        warn.append(f"Only {f.s} posterior draw{'s' if f.s != 1 else ''}: the ends of the "
                    f"intervals are rough; refit with more draws (at least {FEW_DRAWS}) before "
                    f"signing.")
    dominated = _prior_dominated(f.fit)
    if dominated:
        warn.append(
            "The data barely inform " + ", ".join(dominated) + ": the posterior is nearly as "
            "wide as the prior, so those numbers mostly restate the prior (see 'Prior and "
            "posterior')."
        )
    if f.target_loss is not None and not np.isfinite(f.c_req):
        floor = (f"; the target is at or below the irreducible loss E in "
                 f"{_pct(f.below_floor)} of the posterior draws" if f.below_floor > 0 else "")
        why = ("; the extrapolation discrepancy widens with every decade of compute beyond "
               "the runs, so far beyond them the chance of reaching a target stops rising "
               "(discrepancy=False gives the law's posterior alone)"
               if f.discrepancy is not None else "")
        if failures is not None and rate > 1 - f.prob:
            why += (f"; a run fails like {failures.k} of the {failures.n} runs with "
                    f"probability {_pct(rate)}, which no budget removes")
        warn.append(f"Target: no budget reaches loss {_target(f.target_loss)} with "
                    f"probability {_level(f.prob)}{floor}{why}.")
    return warn + [str(w) for w in extra]


def _lead(f: _Facts) -> str:
    """The one-paragraph answer for the person signing the budget."""
    q_of, q_run, lab = f.q_of, f.q_run, f.lab
    lead = []
    shown = min(3, f.budgets.size)
    for j in range(shown):
        c = f.budgets[j]
        if f.nd:
            lead.append(
                f"With {_sci(c)} FLOPs, train a model of about {_count(q_of['N'][1, j])} "
                f"parameters ({lab} interval {_count(q_of['N'][0, j])} to "
                f"{_count(q_of['N'][2, j])}) on about {_count(q_of['D'][1, j])} tokens "
                f"({_count(q_of['D'][0, j])} to {_count(q_of['D'][2, j])}), "
                f"{_ratio(q_of['tokens_per_param'][1, j])} tokens per parameter "
                f"({_ratio(q_of['tokens_per_param'][0, j])} to "
                f"{_ratio(q_of['tokens_per_param'][2, j])}); such a run should reach a loss of "
                f"{_loss(q_run[1, j])} ({_loss(q_run[0, j])} to {_loss(q_run[2, j])}, run-to-run "
                f"noise included)."
            )
        else:
            lead.append(
                f"With {_sci(c)} FLOPs the {f.law.name} law predicts a loss of "
                f"{_loss(q_run[1, j])} ({lab} interval {_loss(q_run[0, j])} to "
                f"{_loss(q_run[2, j])}); this law models loss against compute alone, so it "
                f"cannot say how to split the budget between parameters and tokens."
            )
    if f.budgets.size > shown:
        lead.append(f"The table below gives the other {f.budgets.size - shown} budgets.")
    if f.target_loss is not None:
        ps = ", ".join(f"{_pct(p)} at {_sci(c)} FLOPs"
                       for c, p in zip(f.budgets, f.p_target, strict=True))
        sentence = (f"The chance that one run reaches your target loss "
                    f"{_target(f.target_loss)} is {ps}")
        if np.isfinite(f.c_req):
            sentence += (f"; a {_level(f.prob)} chance needs about {_sci(f.c_req)} FLOPs "
                         f"(even odds: {_sci(f.c_half)}).")
        else:
            sentence += f"; no budget gives a {_level(f.prob)} chance" + (
                f" (even odds: {_sci(f.c_half)})." if np.isfinite(f.c_half) else ".")
        lead.append(sentence)
        if f.met is not None:
            lead.append(
                f"Your data already contain {f.met[0]} run(s) at or below this loss, the "
                f"cheapest with {_sci(f.met[1])} FLOPs (loss {_loss(f.met[2])}), so reaching "
                f"the target needs no extrapolation."
            )
    if f.plan is not None:
        ex = np.quantile(f.reg.draws["excess_loss"], f.qs)
        dw = np.quantile(f.reg.draws["deadweight_compute"], f.qs)
        pl = f.plan_loss
        sentence = (
            f"Your plan ({_count(f.plan[0])} parameters on {_count(f.plan[1])} tokens, "
            f"{_sci(f.c_plan)} FLOPs) should reach {_loss(pl[1])} ({_loss(pl[0])} to "
            f"{_loss(pl[2])}); against the compute-optimal split of the same budget it gives "
            f"up {_nats(ex[1])} nats (up to {_nats(ex[2])}), as if it spent "
            f"{_more_compute(dw[1])} (up to "
            f"{_more_compute(dw[2], short=(dw[1] >= 0.995) == (dw[2] >= 0.995))})"
        )
        if f.p_plan is not None:
            sentence += f"; its chance of reaching {_target(f.target_loss)} is {_pct(f.p_plan)}"
        lead.append(sentence + ".")
    far, low = float(f.ext.max()), float(f.ext.min())
    if far > 0.05:
        lead.append(f"Caution: this extrapolates {far:.1f} orders of magnitude of compute beyond "
                    f"the largest run" + (
                        "; the intervals allow for the law bending there as much as published "
                        "scaling laws have at that distance, and the warnings below say how "
                        "much of them that is." if f.discrepancy is not None else
                        " and assumes the law keeps holding; the warnings below say what that "
                        "means."))
    if low < -0.05:
        lead.append(f"Caution: {_sci(f.budgets[0])} FLOPs lies {-low:.1f} orders of magnitude "
                    f"below the smallest run, where the law was not checked.")
    if far <= 0.05 and low >= -0.05:
        lead.append("The budget" + ("s lie" if f.budgets.size > 1 else " lies")
                    + " within the compute range of the runs.")
    lead.append("Sampling diagnostics passed." if f.fit.diagnostics.ok else
                "Sampling diagnostics FAILED: do not use these numbers until the fit is "
                "repaired (see the warnings).")
    n_data = len(f.fit.data_warnings)
    if n_data:
        lead.append(f"The runs table raised {n_data} warning{'s' if n_data > 1 else ''} when it "
                    f"was fitted; read {'them' if n_data > 1 else 'it'} under Warnings before "
                    f"relying on these numbers.")
    return " ".join(lead)


def _recommendation_blocks(f: _Facts, dpi: int, seed: int) -> list:
    from bayescale.plots import plot_allocation, plot_decision, plot_fit

    q_of, lab = f.q_of, f.lab
    blocks: list[Any] = [
        Heading("Recommendation at your budget" + ("s" if f.budgets.size > 1 else ""))]
    rows = []
    for j, c in enumerate(f.budgets):
        d = f.ext[j]
        row = [_sci(c), f"+{d:.1f}" if d > 0 else (f"{d:.1f}" if d < 0 else "inside")]
        if f.nd:
            row += [_interval(q_of["N"][:, j], _count), _interval(q_of["D"][:, j], _count),
                    _interval(q_of["tokens_per_param"][:, j], _ratio)]
        row += [_interval(q_of["loss"][:, j], _loss), _interval(f.q_run[:, j], _loss)]
        rows.append(row)
    cols = ["budget (FLOPs)", "orders beyond the runs"]
    if f.nd:
        cols += ["parameters N*", "tokens D*", "tokens per parameter"]
    cols += ["loss of the law", "loss of one run"]
    blocks.append(Table(table(rows, cols), caption=f"Compute-optimal allocation: median [{lab}]"))
    if f.expo is not None:
        qa, qb = np.quantile(f.expo["a"], f.qs), np.quantile(f.expo["b"], f.qs)
        blocks.append(Para(
            f"Along the frontier the optimal model size grows as C^a and the tokens as C^b, "
            f"with a = {_interval(qa, lambda v: f'{v:.3f}')} and "
            f"b = {_interval(qb, lambda v: f'{v:.3f}')} ({lab}); a = b = 0.5 would mean "
            f"scaling parameters and tokens equally."))
    if not f.nd:
        blocks.append(Figure("extrapolation", figure_png(
            plot_fit(f.fit, group=f.group, ci=f.ci, extend=max(float(f.ext.max()), 0.0) + 0.3),
            dpi=dpi), f"The runs and the fitted law extrapolated to your budget ({lab} band)."))
        return blocks
    blocks.append(Figure("extrapolation", figure_png(
        plot_decision(f.fit, f.budgets, plan=f.plan, target=f.target_loss, ci=f.ci,
                      group=f.group, seed=seed, result=f.decision_curve), dpi=dpi),
        "The runs, the fitted law per model size, and the compute-optimal loss extrapolated "
        f"to your budget ({lab} bands); shaded: compute beyond the largest run."
        + _figure_note(f)))
    blocks.append(Figure("allocation", figure_png(
        plot_allocation(f.fit, f.budgets, plan=f.plan, group=f.group,
                        result=f.allocation_curve), dpi=dpi),
        "Compute-optimal parameters N* and tokens D* against compute, with 50% and 95% "
        "bands; faint points: the runs' own N and D."))
    rows = []
    for j, (c, mean, tail) in enumerate(f.choices):
        rows.append([_sci(c), _count(q_of["N"][1, j]),
                     f"{_count(mean.N)} ({_ratio(mean.tokens_per_param)} tok/param)",
                     f"{_count(tail.N)} ({_ratio(tail.tokens_per_param)} tok/param)",
                     f"{_loss(mean.objective)} / {_loss(tail.objective)}"])
    blocks += [
        Heading("Choosing one allocation under uncertainty", level=3),
        Table(table(rows, ["budget (FLOPs)", "median of per-draw optima N",
                           "N minimising expected loss", "N minimising the worst 10% (CVaR 90)",
                           "expected loss / CVaR 90"])),
        Para("The table above summarises each posterior draw's own optimum.  A single run must "
             "commit to one (N, D): these are the sizes that minimise the expected loss and the "
             "average of the worst 10% of outcomes over the whole posterior.  When they agree "
             "with the median the decision is robust to the remaining uncertainty.",
             kind="note"),
    ]
    return blocks


def _target_blocks(f: _Facts, dpi: int) -> list:
    from bayescale.plots import plot_prob_target

    t = f.target_loss
    failures = _failures(f)
    rows = [[_sci(c), _pct(p), _pct(pm)]
            for c, p, pm in zip(f.budgets, f.p_target, f.p_target_mean, strict=True)]
    for c, level in ((f.c_half, "even odds"), (f.c_req, _level(f.prob))):
        rows.append([f"{_sci(c)} (smallest for {level})" if np.isfinite(c) else
                     f"none (no budget gives {level})",
                     "50%" if level == "even odds" else level, ""])
    return [
        Heading(f"Probability of reaching loss {_target(t)}"),
        Table(table(rows, ["budget (FLOPs)", "P(one run reaches the target)",
                           "P(the law's mean loss does)"]),
              caption="Each budget spent on its compute-optimal allocation"),
        Para("One run's probability includes run-to-run noise (the spread of the runs around "
             "the law, from the likelihood" + (
                 f", and a {_pct(_failure_rate(f, failures)[0])} chance that the run fails as "
                 f"{failures.k} of the {failures.n} runs did" if failures else "")
             + "); the law's probability is about the expected loss only.", kind="note"),
        Figure("probability", figure_png(
            plot_prob_target(f.fit, t, result=f.prob_curve), dpi=dpi),
            f"P(loss <= {_target(t)}) against the budget; dotted: {_level(f.prob)} and the "
            f"smallest budget reaching it." + _figure_note(f)),
    ]


def _plan_blocks(f: _Facts, dpi: int) -> list:
    from bayescale.plots import plot_regret

    plan = f.plan
    sm = f.reg.summary.set_index("quantity")
    lo_c, hi_c = _ci_cols(f.ci)
    rows = [["parameters N", _count(plan[0])], ["tokens D", _count(plan[1])],
            ["tokens per parameter", _ratio(plan[1] / plan[0])],
            ["budget (FLOPs)", _sci(f.c_plan)],
            ["loss of one run", _interval(f.plan_loss, _loss)]]
    if f.p_plan is not None:
        rows.append([f"P(loss <= {_target(f.target_loss)})", _pct(f.p_plan)])
    for name, q, fmt in (("optimal N at this budget", "N_opt", _count),
                         ("optimal D at this budget", "D_opt", _count),
                         ("excess loss over the optimum (nats)", "excess_loss", _nats),
                         ("deadweight compute", "deadweight_compute", _share)):
        v = sm.loc[q]
        rows.append([name, f"{fmt(v['median'])} [{fmt(v[lo_c])} to {fmt(v[hi_c])}]"])
    return [
        Heading("Your plan"),
        Table(table(rows, ["", f"median [{f.lab}]"]),
              caption="Regret of your plan against each draw's optimum"),
        Para("Excess loss: how much lower the loss of a compute-optimal run with the same budget "
             "would be.  Deadweight compute: how much more compute the plan spends than a "
             "compute-optimal run reaching the same loss.", kind="note"),
        Figure("regret", figure_png(plot_regret(f.reg_plain, plan), dpi=dpi),
               "Posterior of the plan's excess loss and deadweight compute." + _figure_note(f)),
    ]


def _inference_blocks(f: _Facts, inference_tokens: float) -> list:
    from bayescale.decisions import inference_aware

    ia = inference_aware(f.draws, f.target_loss, inference_tokens, ci=(f.ci,))
    sm = ia.summary.set_index("quantity")
    lo_c, hi_c = _ci_cols(f.ci)
    rows = [[name, f"{fmt(sm.loc[q, 'median'])} [{fmt(sm.loc[q, lo_c])} to "
                   f"{fmt(sm.loc[q, hi_c])}]"]
            for name, q, fmt in (
                ("parameters N", "N", _count), ("tokens D", "D", _count),
                ("tokens per parameter", "tokens_per_param", _ratio),
                ("training + inference FLOPs", "total_flops", _sci),
                ("parameters of the training-optimal run", "N_compute_optimal", _count),
                ("its training + inference FLOPs", "total_flops_compute_optimal", _sci),
                ("FLOPs saved", "savings", _share))]
    blocks: list[Any] = [
        Heading("Accounting for inference"),
        Table(table(rows, ["", f"median [{f.lab}]"]), caption=(
            f"Smallest training + inference FLOPs reaching loss {_target(f.target_loss)} with "
            f"{_count(inference_tokens)} inference tokens")),
    ]
    if ia.n_unreachable:
        blocks.append(Para(f"{ia.n_unreachable} of {f.s} draws cannot reach the target at any "
                           f"size and are left out.", kind="note"))
    return blocks


def _fit_blocks(f: _Facts, loo_res: Any, loo_note: str, dpi: int) -> list:
    from bayescale.plots import plot_fit

    blocks: list[Any] = [
        Heading("The fit to the runs"),
        Figure("fit", figure_png(plot_fit(f.fit, group=f.group, ci=f.ci, extend=0.3), dpi=dpi),
               f"Loss against compute on log-log axes: the runs (points) and the posterior "
               f"median and {f.lab} band of the law for several model sizes."),
    ]
    if loo_res is None:
        return [*blocks, Para(loo_note, kind="note")]
    kvals = np.asarray(loo_res.pareto_k, dtype=float).ravel()
    blocks.append(Para(
        f"Leave-one-out cross-validation (PSIS-LOO): elpd_loo {float(loo_res.elpd):.1f} "
        f"(SE {float(loo_res.se):.1f}), effective number of parameters "
        f"{float(loo_res.p):.1f}; {int(np.sum(kvals > LOO_K_MAX))} of {kvals.size} runs "
        f"have Pareto k > {LOO_K_MAX} (largest {np.nanmax(kvals):.2f})."))
    return blocks


def _provenance_blocks(fit) -> list:
    from bayescale.version import __version__

    meta = fit.meta
    rows = [[key, str(meta[key])] for key in ("bayescale_version", "law", "seed", "sampler",
                                              "settings", "versions", "spec_hash", "data_hash",
                                              "created", "status") if key in meta]
    return [
        Heading("Reproducibility"),
        Table(table(rows, ["", "value"])),
        Para(f"Report generated by bayescale {__version__} on "
             f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}.", kind="note"),
    ]


def _ci_cols(ci: float) -> tuple[str, str]:
    from bayescale.formatting import level_label

    tag = level_label(ci)
    return f"lo_{tag}", f"hi_{tag}"


def _run_label(runs: pd.DataFrame, i: int, kval: float) -> str:
    row = runs.iloc[int(i)]
    parts = [f"row {int(i)}"]
    for col, fmt in (("N", _count), ("D", _count), ("C", _sci), ("loss", _loss)):
        if col in row.index and pd.notna(row[col]):
            parts.append(f"{col} {fmt(float(row[col]))}")
    return ", ".join(parts) + f" (k {kval:.2f})"


def _failed_label(runs: pd.DataFrame, i: int, excess: float) -> str:
    row = runs.iloc[int(i)]
    parts = [f"row {int(i)}"]
    for col, fmt in (("N", _count), ("D", _count), ("loss", _loss)):
        if col in row.index and pd.notna(row[col]):
            parts.append(f"{col} {fmt(float(row[col]))}")
    return ", ".join(parts) + f" (+{excess:.2g})"


def _prior_dominated(fit) -> list[str]:
    if "prior" not in fit.tree.children:
        return []
    prior, post = fit.tree["prior"], fit.tree["posterior"]
    out = []
    for name in fit.law.natural:
        if name not in prior.data_vars or name not in post.data_vars:
            continue
        pr = np.asarray(prior[name], dtype=float).ravel()
        po = np.asarray(post[name], dtype=float).ravel()
        if pr.size < 10 or po.size < 10:
            continue
        if np.all(pr > 0) and np.all(po > 0):
            pr, po = np.log(pr), np.log(po)
        w_pr = np.subtract(*np.quantile(pr, [0.95, 0.05]))
        w_po = np.subtract(*np.quantile(po, [0.95, 0.05]))
        if w_pr > 0 and w_po / w_pr > PRIOR_DOMINATED:
            out.append(name)
    return out


def _data_blocks(runs: pd.DataFrame, fit, k: float) -> list:
    blocks: list[Any] = [Heading("The data")]
    attrs = runs.attrs
    desc = [f"{len(runs)} training runs"]
    if attrs.get("name"):
        desc.append(f"from the bundled dataset '{attrs['name']}'")
    if attrs.get("description"):
        desc.append(f"({attrs['description']})")
    text = " ".join(desc) + "."
    if attrs.get("notes"):
        text += f"  Loader notes: {attrs['notes']}"
    blocks.append(Para(text))
    rows = []
    for col, fmt in (("N", _count), ("D", _count), ("C", _sci), ("loss", _loss)):
        if col in runs:
            v = runs[col].to_numpy(dtype=float)
            rows.append([col, fmt(v.min()), fmt(np.median(v)), fmt(v.max())])
    if "N" in runs and "D" in runs:
        tpp = (runs["D"] / runs["N"]).to_numpy(dtype=float)
        rows.append(["tokens per parameter", _ratio(tpp.min()), _ratio(np.median(tpp)),
                     _ratio(tpp.max())])
    blocks.append(Table(table(rows, ["column", "min", "median", "max"]),
                        caption=f"Runs table ({attrs.get('flops', f'C = {_num(k, 4)} N D')})"))
    if fit.groups:
        blocks.append(Para(f"Groups ({', '.join(fit.spec.groups)}): {', '.join(fit.groups)}."))
    if attrs.get("source"):
        blocks.append(Para(f"Source: {attrs['source']}"))
    if attrs.get("citation"):
        blocks.append(Para("If you use these data, cite:"))
        blocks.append(Pre(str(attrs["citation"]).strip()))
    return blocks


def _prior_text(prior: dict) -> str:
    kw = ", ".join(f"{k}={_spec_num(v)}" if isinstance(v, int | float) else f"{k}={v}"
                   for k, v in prior.get("kwargs", {}).items())
    return f"{prior['dist']}({kw})"


def _law_blocks(fit) -> list:
    law, spec = fit.law, fit.spec
    blocks: list[Any] = [Heading("The law and its priors"), Pre(law.formula)]
    if law.description:
        blocks.append(Para(law.description))
    if law.citation:
        blocks.append(Para(f"Reference: {law.citation}"))
    ref = ", ".join(f"{k}0 = {_sci(v)}" for k, v in fit.reference.items())
    blocks.append(Para(
        f"Sampled parameters are centred on reference scales ({ref}); likelihood: "
        f"{spec.likelihood.replace('_', '-')} on log loss.  Spec '{spec.name}'"
        + (f": {spec.description}" if getattr(spec, "description", "") else ".")))
    rows = []
    for p in law.params:
        prior = spec.priors.get(p.name)
        if prior is None:
            continue
        pooling = spec.pooling_of(p.name) if spec.groups else ""
        rows.append([p.name, _prior_text(prior), p.description]
                    + ([pooling] if spec.groups else []))
    for name, prior in spec.noise_priors.items():
        rows.append([name, _prior_text(prior), "observation noise"]
                    + ([""] if spec.groups else []))
    cols = ["parameter", "prior", "meaning"] + (["pooling"] if spec.groups else [])
    blocks.append(Table(table(rows, cols), caption="Priors as specified"))
    return blocks


def _prior_posterior_blocks(fit, ci: float, dpi: int) -> list:
    from bayescale.modeling.spec import NOISE_PARAMS

    blocks: list[Any] = [Heading("Prior and posterior")]
    if "prior" not in fit.tree.children:
        blocks.append(Para("This fit holds no prior draws (it was made with prior_draws=0), so "
                           "prior and posterior cannot be compared here.", kind="note"))
        return blocks
    prior, post = fit.tree["prior"], fit.tree["posterior"]
    qs = [(1 - ci) / 2, 0.5, (1 + ci) / 2]
    lab = _level(ci)
    rows = []
    for name in [*fit.law.natural, *NOISE_PARAMS[fit.spec.likelihood]]:
        if name not in prior.data_vars or name not in post.data_vars:
            continue
        pr = np.asarray(prior[name], dtype=float).ravel()
        po = np.asarray(post[name], dtype=float).ravel()
        qp, qq = np.quantile(pr, qs), np.quantile(po, qs)
        # widths on the log scale for positive parameters (A and B span many decades)
        wp, wq = (np.log(qp), np.log(qq)) if qp[0] > 0 and qq[0] > 0 else (qp, qq)
        width = (wq[2] - wq[0]) / (wp[2] - wp[0]) if wp[2] > wp[0] else float("nan")
        rows.append([name, f"{_num(qp[0])} to {_num(qp[2])}", _interval(qq, lambda v: _num(v, 4)),
                     _num(width, 2)])
    blocks.append(Table(table(rows, ["parameter", f"prior {lab}", f"posterior median [{lab}]",
                                     "posterior / prior width*"]),
                        caption="What the data changed (natural parameters)"))
    from bayescale.plots import plot_prior_posterior

    try:
        fig = plot_prior_posterior(fit)
    except ValueError as exc:
        blocks.append(Para(str(exc), kind="note"))
    else:
        blocks.append(Figure("prior_posterior", figure_png(fig, dpi=dpi),
                             "Prior (grey) and posterior (blue) of each parameter."))
    blocks.insert(2, Para("* Width of the posterior interval over the prior's, on the log "
                          "scale for positive parameters: near 0 the data decided, near 1 the "
                          "prior did.", kind="note"))
    return blocks


def _summary_blocks(fit, ci: float) -> list:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summ = fit.summary(ci=ci)
    except Exception as exc:  # e.g. a single draw
        return [Para(f"The posterior summary table could not be computed: {exc}", kind="note")]
    tag = f"{round(100 * ci):d}"
    cols = [c for c in ("median", f"lo_{tag}", f"hi_{tag}", "r_hat", "ess_bulk", "ess_tail")
            if c in summ.columns]
    fmts = {"r_hat": lambda v: f"{v:.3f}" if np.isfinite(v) else _num(v),
            "ess_bulk": lambda v: f"{v:,.0f}" if np.isfinite(v) else _num(v)}
    fmts["ess_tail"] = fmts["ess_bulk"]
    rows = [[str(idx), *(fmts.get(c, lambda v: _num(v, 4))(float(summ.loc[idx, c]))
                         for c in cols)] for idx in summ.index]
    return [Table(table(rows, ["parameter", *cols]),
                  caption="Posterior summary with convergence diagnostics")]


# --------------------------------------------------------------------------- writing
def write_report(
    fit: Any,
    path: str | os.PathLike,
    *,
    budgets: Sequence[float] | float | None = None,
    target_loss: float | None = None,
    plan: tuple[float, float] | None = None,
    prob: float = 0.9,
    ci: float = 0.95,
    group: str | None = None,
    inference_tokens: float | None = None,
    loo: Any = True,
    extra_warnings: Sequence[str] = (),
    title: str | None = None,
    markdown: bool = True,
    dpi: int = 100,
    seed: int = 0,
    discrepancy: Any = True,
    next_runs: Any = None,
    regret: Any = None,
) -> ReportFiles:
    """Write the risk report of a fit: a self-contained HTML page and its Markdown twin.

    Parameters
    ----------
    fit : ScalingFit
        A fitted law (Chinchilla, Kaplan, compute, or a hierarchical fit with ``group``).
    path : path
        The HTML file to write, e.g. ``"report.html"`` (a path without a suffix gets
        ``.html``).  The Markdown twin goes next to it (``report.md``) with its figures in
        ``report_files/``.
    budgets : float or sequence of float, optional
        Training budgets in FLOPs.  Default: the plan's budget (``k N D``); one of ``budgets``
        and ``plan`` is required.
    target_loss : float, optional
        A loss to reach: adds P(loss <= target) per budget and the smallest budget reaching
        it with probability ``prob``.
    plan : tuple (N, D), optional
        Your proposed run: adds its predicted loss and its regret against the optimum.
    prob : float, default 0.9
        Probability required of the target.
    ci : float, default 0.95
        Level of the reported credible intervals.
    group : str, optional
        Group of a hierarchical fit (a label, or ``"new"`` for an unseen group).
    inference_tokens : float, optional
        With ``target_loss``: adds the allocation minimising training plus inference FLOPs.
    loo : bool or ELPDData, default True
        Run PSIS-LOO (``arviz.loo``) and name the runs with Pareto k > 0.7 in the warnings;
        pass a precomputed result to reuse it, or False to skip.
    extra_warnings : sequence of str, optional
        More plain-language warnings to list (for example from a law comparison that flags
        this law).
    title : str, optional
        Page title; a default names the law, the number of runs and the dataset.
    markdown : bool, default True
        Also write the Markdown twin and its PNG figures.
    dpi : int, default 100
        Resolution of the figures.
    seed : int, default 0
        Seed of simulated run-to-run noise (intervals of one run's loss) and of the
        discrepancy's draws: every number of the report equals the matching public function
        called with the same ``seed`` and ``discrepancy`` (e.g. the table's loss of one run at
        a budget is ``bs.predict_optimal(fit, budget, noise=True, seed=seed)``).
    discrepancy : bool, "prior" or Discrepancy, default True
        The extrapolation discrepancy, as in ``fit.predict`` and the decisions: True the fit's
        own (the empirical prior learned across published scaling studies, updated by the
        runs' leave-future-out splits: :meth:`ScalingFit.default_discrepancy
        <bayescale.ScalingFit.default_discrepancy>`), ``"prior"`` the empirical prior alone, a
        :class:`~bayescale.Discrepancy` (e.g. from :func:`bayescale.learn_discrepancy`), False
        for the law's posterior alone.  Beyond the runs it widens the loss intervals and the
        probabilities of a target; the allocation (N*, D*) is the mean law's either way.
    next_runs : DesignResult, optional
        A result of :func:`bayescale.next_runs` for this fit: adds the section "What to run
        next" (which pilot runs narrow the decision most per FLOP).
    regret : RegretResult, optional
        The plan's regret when the caller has computed it
        (``bs.plan_regret(fit, plan, ci=(ci,), group=group, discrepancy=discrepancy,
        seed=seed)``, levels including ``ci``): the report uses it instead of computing it
        again.  Compute first, render second: the report's figures, too, are drawn from
        results computed once (:func:`bayescale.plots.plot_regret` and
        :func:`~bayescale.plots.plot_prob_target` take them).

    Returns
    -------
    ReportFiles
        The paths written and the report's content.

    Raises
    ------
    DecisionError
        (a ``ValueError``) for invalid budgets, plan, target, probability or interval level,
        and for a plan with a law that has no ``N``/``D`` split.

    Notes
    -----
    Every file is written to a temporary file in the destination folder and renamed into
    place, so an interrupted run never leaves a half-written report; figures are written
    before the Markdown, and the HTML last.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.load("chinchilla", drop_outliers=True))   # doctest: +SKIP
    >>> files = bs.write_report(fit, "report.html", budgets=[5.76e23], target_loss=2.0,
    ...                         plan=(70e9, 1.4e12))                       # doctest: +SKIP
    >>> files.markdown.name                                                # doctest: +SKIP
    'report.md'
    """
    path = Path(path)
    if not path.suffix:  # "-o report" : a browser opens report.html, not report
        path = path.with_suffix(".html")
    if path.suffix.lower() == ".md":
        raise DecisionError(
            f"path {str(path)!r} ends in .md; give the HTML file (e.g. report.html): the "
            f"Markdown twin is written next to it"
        )
    doc = build_report(fit, budgets=budgets, target_loss=target_loss, plan=plan, prob=prob,
                       ci=ci, group=group, inference_tokens=inference_tokens, loo=loo,
                       extra_warnings=extra_warnings, title=title, dpi=dpi, seed=seed,
                       discrepancy=discrepancy, next_runs=next_runs, regret=regret)
    md_path = None
    figures: list[Path] = []
    if markdown:
        fig_dir_name = f"{path.stem}_files"
        fig_dir = path.parent / fig_dir_name
        for f in doc.figures:
            out = fig_dir / f"{f.name}.png"
            atomic_write_bytes(out, f.png)
            figures.append(out)
        md_path = path.with_suffix(".md")
        atomic_write_bytes(md_path, doc.to_markdown(fig_dir_name).encode("utf-8"))
    atomic_write_bytes(path, doc.to_html().encode("utf-8"))
    return ReportFiles(html=path, markdown=md_path, figures=tuple(figures), document=doc)
