"""Small shared helpers of the plots: plain tick labels on log axes and the shaded region beyond
the runs (the number formatters are :mod:`bayescale.formatting`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bayescale.formatting import fmt_num, fmt_times

__all__ = [
    "curve_draws",
    "plain_log_ticks",
    "shade_extrapolation",
    "times_log_ticks",
]

_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
_FINE = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.5, 4.0, 4.5,
         5.0, 6.0, 7.0, 8.0, 9.0)


def curve_draws(fit: Any, group: Any = None, flops_per_token: float | None = None) -> Any:
    """``fit.draws(group=group, noise=True)``: one curve per draw, what the decisions take.

    A hierarchical fit needs a group (a label or ``"new"``); a bad group raises
    :class:`~bayescale.decisions.DecisionError` as the decisions do.
    """
    from bayescale.decisions import DecisionError
    from bayescale.errors import NewGroupError

    if fit.groups and group is None:
        raise DecisionError(
            f"this is a hierarchical fit with groups {fit.groups}; pass group=<one of them> "
            f"(or group='new' for an unseen group drawn from the population)"
        )
    try:
        return fit.draws(group=group, noise=True, flops_per_token=flops_per_token)
    except NewGroupError:
        raise
    except ValueError as exc:
        raise DecisionError(str(exc)) from None


def plain_log_ticks(axis: Any, *, max_ticks: int = 8) -> None:
    """Label a log axis with plain numbers (``1.8, 2, 2.5, 3``) instead of ``2 x 10^0``.

    Loss axes span less than a decade, where matplotlib's log locator labels almost nothing.
    Picks "nice" values inside the current limits, at most ``max_ticks`` of them; wider axes
    (more than two decades) keep matplotlib's powers of ten.
    """
    from matplotlib import ticker

    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and np.isfinite(hi)) or math.log10(hi / lo) > 2:
        return
    for mantissas in (_NICE, _FINE):  # the finer set when the coarse one gives < 3 ticks
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1,
                                            math.ceil(math.log10(hi)) + 1)
                 for m in mantissas]
        ticks = [t for t in ticks if lo <= t <= hi]
        while len(ticks) > max_ticks:
            ticks = ticks[::2]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:
        return
    axis.set_major_locator(ticker.FixedLocator(ticks))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: fmt_num(x, 3)))
    axis.set_minor_formatter(ticker.NullFormatter())


def times_log_ticks(axis: Any, *, max_ticks: int = 7) -> None:
    """Label a log axis of ratios with a few plain multipliers (``1x, 2x, 5x, 10x``).

    Replaces matplotlib's ``2 x 10^0``-style minor labels, which collide on axes spanning
    about a decade.  Picks ticks from 1-2-5, then 1-3, then powers of ten (every other one if
    needed) so that at most ``max_ticks`` labels fit; minor ticks stay, unlabelled.  An axis
    narrower than a factor of two gets evenly spaced ticks (``1.002x, 1.004x``).
    """
    from matplotlib import ticker

    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and np.isfinite(hi) and hi > lo):
        return
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    for mantissas in ((1.0, 2.0, 5.0), (1.0, 3.0), (1.0,)):
        ticks = [m * 10.0**e for e in decades for m in mantissas]
        ticks = [t for t in ticks if lo <= t <= hi]
        if len(ticks) <= max_ticks:
            break
    while len(ticks) > max_ticks:
        ticks = ticks[::2]
    fmt = fmt_times
    if len(ticks) < 2:  # less than a factor of ~2 wide: evenly spaced ticks, enough decimals
        ticks = [t for t in ticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10])
                 .tick_values(lo, hi) if lo <= t <= hi]
        if len(ticks) < 2:
            return
        decimals = max(0, -math.floor(math.log10(ticks[1] - ticks[0])))

        def fmt(x: float) -> str:
            return f"{x:.{decimals}f}x"
    axis.set_major_locator(ticker.FixedLocator(ticks))
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: fmt(x)))
    axis.set_minor_formatter(ticker.NullFormatter())


def shade_extrapolation(ax: Any, c_max: float, *, label: str = "beyond the runs") -> None:
    """Lightly shade compute beyond the largest run on a compute x-axis."""
    right = ax.get_xlim()[1]
    if right > c_max:
        ax.axvspan(c_max, right, color="0.92", zorder=0, lw=0, label=label)
        ax.set_xlim(right=right)
