"""The risk report's "What to run next" section, from a computed pilot-run design.

The design is computed once by :func:`bayescale.next_runs` (a
:class:`~bayescale.decisions.design.DesignResult`); this module only turns it into report
blocks (:mod:`bayescale.report.document`): a heading, two plain paragraphs for a training
lead (what to train and what it buys; how far to trust the estimate and when to refit), the
batch as a table, the (N, D) plane from :func:`bayescale.plots.plot_design`, and any notes.

Examples
--------
>>> import bayescale as bs                                                    # doctest: +SKIP
>>> from bayescale.report.document import Document
>>> from bayescale.report.next_runs_section import next_runs_blocks
>>> res = bs.next_runs(fit, 5.76e23, pilot=1e21)                              # doctest: +SKIP
>>> doc = Document("What to run next", next_runs_blocks(fit, res))            # doctest: +SKIP
>>> html = doc.to_html()                                                      # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from bayescale.decisions import DecisionError
from bayescale.report.document import Block, Bullets, Figure, Heading, Para, Table, figure_png

__all__ = ["next_runs_blocks"]

_SPREAD_WORDS = {"ci95": "95% interval", "ci80": "80% interval", "sd": "standard deviation"}


def _fmt():
    import bayescale.formatting

    return bayescale.formatting


def _check(fit: Any, result: Any) -> None:
    from bayescale.decisions.design import DesignResult

    if not isinstance(result, DesignResult):
        raise DecisionError(
            "next_runs must be the result of bs.next_runs(fit, budget, pilot=...) (a "
            f"DesignResult); got {type(result).__name__}: compute it first and pass it"
        )
    law = result.settings.get("law")
    fit_law = getattr(getattr(fit, "law", None), "name", None)
    if law is not None and fit_law is not None and law != fit_law:
        raise DecisionError(
            f"the design was made from a fit of law {law!r} but the report's fit is of law "
            f"{fit_law!r}: run bs.next_runs on the report's own fit"
        )


def _spread_text(result: Any, value: float) -> str:
    """A spread in words a training lead can read (``'a factor 3.1x'`` for N*)."""
    f = _fmt()
    if result.decision == "allocation" and result.spread != "sd":
        return f"a factor {_factor(value)}"
    if result.decision == "prob_target":
        return f"{f.fmt_num(100 * value, 2)} percentage points"
    if result.decision == "forecast" and result.spread != "sd":
        return f"±{f.fmt_pct(math.expm1(value / 2))} of the loss"
    return f.fmt_num(value, 3)


def _factor(log_width: float) -> str:
    """The ratio of an interval's ends from its log-width, to three figures: ``'1.52x'``."""
    return _fmt().fmt_num(math.exp(log_width), 3) + "x"


def _quantity_words(result: Any) -> str:
    f = _fmt()
    st = result.settings
    grp = st.get("groups") or []
    tail = (f" for group {grp[0]}" if len(grp) == 1 else
            f" (averaged over groups {', '.join(map(str, grp))})" if grp else "")
    if result.decision == "allocation":
        return f"the compute-optimal model size N* at {f.fmt_sci(st['budget'])} FLOPs" + tail
    if result.decision == "prob_target":
        return (f"the probability of reaching loss {f.fmt_num(st['target'], 4)} at "
                f"{f.fmt_sci(st['budget'])} FLOPs" + tail)
    plan = st["plan"]
    return (f"the loss forecast of the planned run (N {f.fmt_count(plan[0])}, "
            f"D {f.fmt_count(plan[1])})" + tail)


def _run_words(row: pd.Series) -> str:
    f = _fmt()
    grp = f" in group {row['group']}" if "group" in row.index else ""
    return (f"{f.fmt_count(row['N'])} parameters on {f.fmt_count(row['D'])} tokens{grp} "
            f"({f.fmt_sci(row['flops'])} FLOPs)")


def _lead(result: Any) -> str:
    f = _fmt()
    tab = result.table
    what = _quantity_words(result)
    now = _spread_text(result, result.current_spread)
    if tab.empty:
        return (f"No pilot run within the {f.fmt_sci(result.pilot)} FLOP pilot budget is "
                f"expected to narrow {what} by more than its Monte Carlo error (the "
                f"{_SPREAD_WORDS[result.spread]} is {now} now): train nothing extra for this "
                "decision, or raise the pilot budget.")
    n = len(tab)
    if n == 1:
        runs = f"one run: {_run_words(tab.iloc[0])}"
    elif n <= 3:
        runs = f"{n} runs, in this order: " + "; ".join(_run_words(r) for _, r in tab.iterrows())
    else:
        runs = (f"the {n} runs in the table below, starting with "
                f"{_run_words(tab.iloc[0])}")
    share = (result.expected_reduction / result.current_spread
             if result.current_spread > 0 else float("nan"))
    text = (f"Train {runs}. Together they use {f.fmt_sci(result.spent)} of the "
            f"{f.fmt_sci(result.pilot)} pilot FLOPs and are expected to narrow the "
            f"{_SPREAD_WORDS[result.spread]} of {what} from {now} to "
            f"{_spread_text(result, result.expected_spread)} ({f.fmt_pct(share)} of its width).")
    if result.current_regret is not None and result.expected_regret is not None:
        now_r, after_r = result.current_regret, result.expected_regret
        if now_r - after_r < 1e-3:
            text += (f" The expected regret of committing now is already small "
                     f"({f.fmt_num(now_r, 2)} nats of loss; {f.fmt_num(after_r, 2)} after the "
                     "batch): the pilot buys certainty about the decision, not a measurably "
                     "better final run.")
        else:
            text += (f" In loss, the expected regret of committing now (loss above each draw's "
                     f"own optimum) falls from {f.fmt_num(now_r, 2)} to "
                     f"{f.fmt_num(after_r, 2)} nats: the batch is worth "
                     f"{f.fmt_num(now_r - after_r, 2)} nats of final loss on average.")
    return text


def _caveat(result: Any) -> str:
    f = _fmt()
    st = result.settings
    tab = result.table
    s, m = st.get("n_draws"), st.get("n_outcomes")
    text = (f"These are expectations, estimated by re-weighting {s} posterior draws over {m} "
            "simulated outcomes of each run (importance sampling, no refit)")
    if not tab.empty:
        last = tab.iloc[-1]
        se = float(tab["se"].iloc[0])
        text += (f"; the first run's expected reduction is known to ±{f.fmt_num(se, 2)} "
                 f"(Monte Carlo standard error), and after the whole batch the effective "
                 f"sample size is {f.fmt_num(float(last['ess']), 2)} of {s} draws")
    text += "."
    if not tab.empty and "refit" in tab and tab["refit"].any():
        j = int(tab.loc[tab["refit"].astype(bool), "run"].iloc[0])
        text += (f" The importance weights degenerated from run {j} on, so those runs were "
                 f"valued again from {st.get('refit')} full refits with the earlier runs' "
                 "outcomes simulated.")
    deg = tab.index[tab["degenerate"].astype(bool)] if not tab.empty else []
    if len(deg):
        first = int(tab.loc[deg[0], "run"])
        text += (f" From run {first} on the weights rest on a handful of draws, so the value "
                 f"of the later runs is optimistic: train runs 1 to {max(first - 1, 1)}, refit "
                 "with their results and ask again.")
    else:
        text += (" Refit with the new runs once they are trained, before committing the "
                 "budget: the ranking assumes the fitted law holds at the pilot runs, and a "
                 "surprising result changes what the next best run is.")
    return text


def _table(result: Any) -> pd.DataFrame:
    f = _fmt()
    tab = result.table
    alloc_ratio = result.decision == "allocation" and result.spread != "sd"
    rows = []
    for _, r in tab.iterrows():
        row = {"run": str(int(r["run"]))}
        if "group" in tab:
            row["group"] = str(r["group"])
        if "name" in tab:
            row["name"] = str(r["name"])
        share = (r["cumulative_reduction"] / result.current_spread
                 if result.current_spread > 0 else float("nan"))
        row.update({
            "parameters N": f.fmt_count(r["N"]),
            "tokens D": f.fmt_count(r["D"]),
            "FLOPs": f.fmt_sci(r["flops"]),
            "expected reduction": f"{f.fmt_num(r['expected_reduction'], 2)} "
                                  f"± {f.fmt_num(r['se'], 1)}",
            "per FLOP": f.fmt_sci(r["per_flop"], 2),
            "cumulative": f"{f.fmt_num(r['cumulative_reduction'], 2)} ({f.fmt_pct(share)})",
        })
        if alloc_ratio:
            row["N* interval after"] = _factor(r["expected_spread"])
        row["ESS"] = f.fmt_num(float(r["ess"]), 2) + (" (low)" if r["degenerate"] else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _caption(result: Any) -> str:
    unit = {"allocation": "e-folds of N* (log of the interval's ratio of ends)",
            "prob_target": "probability", "forecast": "log loss"}[result.decision]
    words = _SPREAD_WORDS[result.spread]
    return (f"Pilot runs in the order chosen: expected reduction of the {words} of "
            f"{result.quantity}, in {unit}, given the runs before it (± Monte Carlo error); "
            "per FLOP; cumulative (share of the width now); ESS: effective posterior draws "
            "after the runs so far.")


def next_runs_blocks(
    fit: Any,
    result: Any,
    *,
    ci: float = 0.95,
    dpi: int = 100,
    level: int = 2,
    figure: bool = True,
) -> list[Block]:
    """Report blocks "What to run next" from a pilot-run design computed by ``bs.next_runs``.

    Nothing is recomputed but the figure's frontier: the blocks say what ``result`` holds.

    Parameters
    ----------
    fit : ScalingFit
        The fit the design was made from (drawn on the figure).
    result : DesignResult
        The output of :func:`bayescale.next_runs` for ``fit``.
    ci : float, default 0.95
        Level of the compute-optimal frontier's band on the figure.
    dpi : int, default 100
        Resolution of the figure.
    level : int, default 2
        Heading level of the section (3 to nest it under another section).
    figure : bool, default True
        Include the (N, D) plot (:func:`bayescale.plots.plot_design`).

    Returns
    -------
    list of blocks
        ``Heading``, an answer ``Para`` (what to train and what it buys), a note ``Para``
        (Monte Carlo error, effective sample size, when to refit), the batch as a ``Table``,
        the ``Figure`` and the design's notes as ``Bullets`` (if any).

    Raises
    ------
    DecisionError
        If ``result`` is not a :class:`~bayescale.decisions.design.DesignResult`, or was made
        from a fit of another law.

    Examples
    --------
    >>> import bayescale as bs                                                # doctest: +SKIP
    >>> from bayescale.report.document import Document
    >>> from bayescale.report.next_runs_section import next_runs_blocks
    >>> res = bs.next_runs(fit, 5.76e23, pilot=1e21)                          # doctest: +SKIP
    >>> doc = Document("Pilot runs", next_runs_blocks(fit, res))              # doctest: +SKIP
    >>> print(doc.to_markdown("figures"))                                     # doctest: +SKIP
    """
    from bayescale.plots import plot_design

    _check(fit, result)
    if level not in (2, 3):
        raise DecisionError(f"level must be 2 (a section) or 3 (a subsection); got {level!r}")
    blocks: list[Block] = [Heading("What to run next", level=level),
                           Para(_lead(result), kind="answer"),
                           Para(_caveat(result), kind="note")]
    if not result.table.empty:
        blocks.append(Table(_table(result), caption=_caption(result)))
    if result.by_group is not None and not result.by_group.empty:
        f = _fmt()
        top = result.by_group.iloc[0]
        blocks.append(Para(
            f"Per group: the most informative run per FLOP is in group {top['group']} "
            f"({f.fmt_count(top['N'])} parameters, {f.fmt_count(top['D'])} tokens), and it "
            f"narrows group {top['most_narrowed']}'s decision most; a group with few runs "
            "borrows least from the others and usually teaches most."))
    if figure:
        blocks.append(Figure("next_runs", figure_png(plot_design(fit, result, ci=ci), dpi=dpi),
                             "Runs so far (grey), the candidate pilot runs coloured by expected "
                             "reduction per FLOP, the chosen batch (red rings, numbered), and "
                             f"the compute-optimal frontier N*(C) with its {ci:.0%} band."))
    if result.notes:
        degenerate = bool(result.candidates["degenerate"].any()) or (
            not result.table.empty and bool(result.table["degenerate"].any()))
        blocks.append(Bullets(tuple(result.notes), kind="warnings" if degenerate else ""))
    return blocks

