"""Numbers for people: the formatters of the report, its Markdown twin, plot titles, the CLI and
the decisions' messages (``70B``, ``5.76e23``, ``68%``, ``2.4x``).

No Python float syntax ("2e+02%", "5.81e-05", "3.54e+08") ever reaches a reader.  Plain text
only: very large and very small numbers are written "5.76e23" (the HTML report renders that as
5.76 x 10^23 with a superscript, see :mod:`bayescale.report.document`).
"""

from __future__ import annotations

import math

__all__ = [
    "fmt_count",
    "fmt_num",
    "fmt_pct",
    "fmt_sci",
    "fmt_times",
    "level_label",
]


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
    >>> from bayescale.formatting import fmt_sci
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
    >>> from bayescale.formatting import fmt_num
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
    >>> from bayescale.formatting import fmt_count
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
    >>> from bayescale.formatting import fmt_pct
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
    >>> from bayescale.formatting import fmt_times
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


def level_label(level: float) -> str:
    """``0.95 -> '95'``, ``0.5 -> '50'``, ``0.975 -> '97.5'``."""
    return f"{round(100.0 * level, 6):g}"
