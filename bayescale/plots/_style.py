"""Small shared helpers of the plots: plain tick labels on log axes, number formatting."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["fmt_count", "plain_log_ticks", "shade_extrapolation"]

_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
_FINE = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.5, 4.0, 4.5,
         5.0, 6.0, 7.0, 8.0, 9.0)


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
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:.3g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def shade_extrapolation(ax: Any, c_max: float, *, label: str = "beyond the runs") -> None:
    """Lightly shade compute beyond the largest run on a compute x-axis."""
    right = ax.get_xlim()[1]
    if right > c_max:
        ax.axvspan(c_max, right, color="0.92", zorder=0, lw=0, label=label)
        ax.set_xlim(right=right)


def fmt_count(x: float) -> str:
    """``3.12e10 -> '31.2B'``; counts of parameters or tokens in plain words.

    Examples
    --------
    >>> from bayescale.plots._style import fmt_count
    >>> fmt_count(3.12e10), fmt_count(1.4e12), fmt_count(5e5)
    ('31.2B', '1.4T', '500K')
    """
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    for div, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            v = x / div
            return f"{v:.3g}{suffix}" if v < 1000 else f"{x:.3g}"
    return f"{x:.3g}"
