"""Small shared helpers of the plots and the report: plain tick labels on log axes, and the
number formatters that write numbers for people (``70B``, ``5.76e23``, ``68%``, ``2.4x``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "fmt_count",
    "fmt_num",
    "fmt_pct",
    "fmt_sci",
    "fmt_times",
    "plain_log_ticks",
    "shade_extrapolation",
    "times_log_ticks",
]

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


# --------------------------------------------------------------------------- numbers for people
# One set of formatters for the report, its Markdown twin, plot titles and the CLI: no Python
# float syntax ("2e+02%", "5.81e-05", "3.54e+08") ever reaches a reader.  Plain text only: very
# large and very small numbers are written "5.76e23" (the HTML report renders that as
# 5.76 x 10^23 with a superscript, see bayescale.report.document).


def _not_finite(x: float) -> str | None:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "infinite" if x > 0 else "-infinite"
    return None


def _trim(text: str) -> str:
    """``'2.50' -> '2.5'``, ``'3.00' -> '3'`` (decimals only)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_sci(x: float, sig: int = 3) -> str:
    """A number in compact scientific notation: ``5.76e23``, ``1e22``, ``-3.2e-5``.

    No ``+``, no leading zeros in the exponent, no trailing zeros in the mantissa; the HTML
    report shows it as ``5.76 x 10^23`` with a superscript exponent.

    Examples
    --------
    >>> from bayescale.plots._style import fmt_sci
    >>> fmt_sci(5.76e23), fmt_sci(1e22), fmt_sci(-3.21e-5, 2), fmt_sci(9.9996e23)
    ('5.76e23', '1e22', '-3.2e-5', '1e24')
    """
    x = float(x)
    bad = _not_finite(x)
    if bad is not None:
        return bad
    if x == 0:
        return "0"
    mant, exp = f"{x:.{max(sig, 1) - 1}e}".split("e")
    return f"{_trim(mant)}e{int(exp)}"


def fmt_num(x: float, sig: int = 3, *, sci_above: float = 1e6, sci_below: float = 1e-4) -> str:
    """A number with ``sig`` significant figures, as plain decimals where that reads well.

    Decimals (thousands separated by commas) for ``sci_below <= |x| < sci_above``, compact
    scientific notation (:func:`fmt_sci`) outside; trailing zeros are dropped.  NaN reads
    ``n/a`` and infinity ``infinite``.

    Examples
    --------
    >>> from bayescale.plots._style import fmt_num
    >>> fmt_num(0.3449), fmt_num(1878.2, 4), fmt_num(20.0), fmt_num(3.54e8), fmt_num(5.8e-5)
    ('0.345', '1,878', '20', '3.54e8', '5.8e-5')
    """
    x = float(x)
    bad = _not_finite(x)
    if bad is not None:
        return bad
    if x == 0:
        return "0"
    sig = max(int(sig), 1)
    mant, exp = f"{x:.{sig - 1}e}".split("e")  # rounds first: 999.96 -> 1.00e+03
    rounded = float(f"{mant}e{exp}")
    if not sci_below <= abs(rounded) < sci_above:
        return fmt_sci(x, sig)
    decimals = max(sig - 1 - int(exp), 0)
    return _trim(f"{rounded:,.{decimals}f}")


def fmt_count(x: float) -> str:
    """``3.12e10 -> '31.2B'``; counts of parameters or tokens in plain words.

    Three significant figures with K, M, B (billion) or T (trillion); beyond 1,000T compact
    scientific notation (``2.1e15``).

    Examples
    --------
    >>> from bayescale.plots._style import fmt_count
    >>> fmt_count(3.12e10), fmt_count(1.4e12), fmt_count(5e5), fmt_count(999.96e9)
    ('31.2B', '1.4T', '500K', '1T')
    """
    x = float(x)
    bad = _not_finite(x)
    if bad is not None:
        return bad
    if x == 0:
        return "0"
    exp = int(f"{x:.2e}".split("e")[1])  # after rounding to 3 figures
    if exp >= 15:
        return fmt_sci(x)
    for power, suffix in ((12, "T"), (9, "B"), (6, "M"), (3, "K")):
        if exp >= power:
            return fmt_num(x / 10.0**power) + suffix
    return fmt_num(x)


def fmt_pct(x: float) -> str:
    """A fraction as a percentage with sensible figures, never in scientific notation.

    Two significant figures from 100% up (``140%``, ``1,200%``), whole percents from 10%
    (``68%``), one decimal from 1% (``2.4%``), one significant figure below (``0.8%``,
    ``0.03%``), and ``<0.01%`` for smaller non-zero values.

    Examples
    --------
    >>> from bayescale.plots._style import fmt_pct
    >>> [fmt_pct(v) for v in (0.68, 0.0079, 1.96, 1.4, 0.024, 2e-7, 0, -0.05)]
    ['68%', '0.8%', '200%', '140%', '2.4%', '<0.01%', '0%', '-5%']
    """
    x = float(x)
    bad = _not_finite(x)
    if bad is not None:
        return bad
    p = abs(100.0 * x)
    sign = "-" if x < 0 else ""
    if p == 0:
        return "0%"
    if p < 0.01:
        return f"{'>-' if x < 0 else '<'}0.01%"
    if p >= 99.5:
        text = fmt_num(p, 2, sci_above=math.inf)
    elif p >= 9.95:
        text = f"{p:.0f}"
    elif p >= 0.995:
        text = _trim(f"{p:.1f}")
    else:
        text = fmt_num(p, 1)
    return f"{sign}{text}%"


def fmt_times(x: float) -> str:
    """A multiplier: ``2.4x``, ``44x``, ``1,000x`` (two significant figures below 10).

    Examples
    --------
    >>> from bayescale.plots._style import fmt_times
    >>> fmt_times(2.43), fmt_times(44.2), fmt_times(1000.4), fmt_times(3.2e7)
    ('2.4x', '44x', '1,000x', '3.2e7x')
    """
    x = float(x)
    bad = _not_finite(x)
    if bad is not None:
        return bad
    if abs(x) >= 9.95:
        return (f"{x:,.0f}" if abs(x) < 1e6 else fmt_sci(x, 2)) + "x"
    return fmt_num(x, 2) + "x"
