"""Numbers for people: the formatters of the report, its HTML typesetting, and a real report."""

from __future__ import annotations

import math
import re

import pytest

from bayescale.formatting import fmt_count, fmt_num, fmt_pct, fmt_sci, fmt_times
from bayescale.report.document import Document, Para, Table, html_text, table
from bayescale.report.risk import _level, _more_compute, _nats

NAN, INF = float("nan"), float("inf")
# Python's float syntax, which must never reach a reader: 2e+02, 5.81e-05, 3.54e+08
PY_FLOAT = re.compile(r"\de[+-]?0\d|\de\+")
# scientific notation inside a percentage: 2e+02%, 1.1e3%
SCI_PCT = re.compile(r"\de[+-]?\d+\s*%")


@pytest.mark.parametrize(("x", "expected"), [
    (5.76e23, "5.76e23"), (1e22, "1e22"), (1.4e18, "1.4e18"), (9.9996e23, "1e24"),
    (-3.21e-5, "-3.21e-5"), (1e-300, "1e-300"), (1.7e308, "1.7e308"), (0.0, "0"), (-0.0, "0"),
    (NAN, "n/a"), (INF, "infinite"), (-INF, "-infinite"), (42.0, "4.2e1"),
])
def test_fmt_sci(x, expected):
    assert fmt_sci(x) == expected


@pytest.mark.parametrize(("x", "sig", "expected"), [
    (0.3449, 3, "0.345"), (0.3449, 4, "0.3449"), (20.0, 3, "20"), (2.5, 3, "2.5"),
    (1878.2, 4, "1,878"), (999.96, 3, "1,000"), (999_999.0, 3, "1e6"), (123_456.0, 3, "123,000"),
    (3.54e8, 3, "3.54e8"), (5.8e-5, 2, "5.8e-5"), (1e-4, 2, "0.0001"), (0.00071, 2, "0.00071"),
    (-0.0166, 2, "-0.017"), (-2.5e7, 2, "-2.5e7"), (0.0, 3, "0"), (NAN, 3, "n/a"),
    (INF, 3, "infinite"), (-INF, 3, "-infinite"), (1e308, 3, "1e308"), (5e-324, 3, "4.94e-324"),
])
def test_fmt_num(x, sig, expected):
    assert fmt_num(x, sig) == expected


@pytest.mark.parametrize(("x", "expected"), [
    (7e10, "70B"), (1.4e12, "1.4T"), (3.12e10, "31.2B"), (57.3e6, "57.3M"), (5e5, "500K"),
    (999.96e9, "1T"), (999.6e3, "1M"), (999.0, "999"), (12.0, "12"), (0.5, "0.5"), (0.0, "0"),
    (2.1e15, "2.1e15"), (1e30, "1e30"), (-7e10, "-70B"), (NAN, "n/a"), (INF, "infinite"),
])
def test_fmt_count(x, expected):
    assert fmt_count(x) == expected


@pytest.mark.parametrize(("x", "expected"), [
    # the examples: "68% [0.79% to 2e+02%]" and "1.4e+02% more compute"
    (0.68, "68%"), (0.0079, "0.8%"), (1.96, "200%"), (1.4, "140%"),
    (0.024, "2.4%"), (0.02, "2%"), (0.0996, "10%"), (0.369, "37%"), (0.998, "100%"),
    (11.0, "1,100%"), (123.0, "12,000%"), (1e10, "1,000,000,000,000%"),
    (0.0021, "0.2%"), (0.0003, "0.03%"), (2e-7, "<0.01%"), (1e-300, "<0.01%"),
    (0.0, "0%"), (-0.05, "-5%"), (-0.0079, "-0.8%"), (-1e-9, ">-0.01%"),
    (NAN, "n/a"), (INF, "infinite"), (-INF, "-infinite"),
])
def test_fmt_pct(x, expected):
    text = fmt_pct(x)
    assert text == expected
    assert not SCI_PCT.search(text) and "e" not in text.replace("infinite", "")


@pytest.mark.parametrize(("x", "expected"), [
    (2.43, "2.4x"), (1.0, "1x"), (9.96, "10x"), (44.2, "44x"), (1000.4, "1,000x"),
    (3.2e7, "3.2e7x"), (0.5, "0.5x"), (0.0, "0x"), (NAN, "n/a"), (INF, "infinite"),
])
def test_fmt_times(x, expected):
    assert fmt_times(x) == expected


def test_no_python_float_syntax_over_many_magnitudes():
    for e in range(-320, 309):
        for m in (1.0, 2.5, 9.996):
            x = m * 10.0**e
            if not math.isfinite(x):
                continue
            for text in (fmt_sci(x), fmt_num(x), fmt_num(x, 1), fmt_count(x), fmt_pct(x),
                         fmt_times(x), fmt_pct(-x)):
                assert not PY_FLOAT.search(text), (x, text)
                assert not SCI_PCT.search(text), (x, text)


def test_report_phrases():
    assert _more_compute(0.68) == "68% more compute than needed"
    assert _more_compute(1.4) == "2.4x the compute needed"
    assert _more_compute(0.0021, short=True) == "0.2%"
    assert _more_compute(11.0, short=True) == "12x"
    assert _nats(5.81e-05) == "<0.0001" and _nats(0.000706) == "0.00071"
    assert _nats(0.0899) == "0.09"
    assert [_level(p) for p in (0.9, 0.95, 0.995, 0.5, 0.9999, 1e-7)] == [
        "90%", "95%", "99.5%", "50%", "99.99%", "0.00001%"]


def test_html_typesets_scientific_notation():
    assert html_text("With 5.76e23 FLOPs") == (
        'With <span class="num">5.76&#8239;&times;&#8239;10<sup>23</sup></span> FLOPs')
    assert html_text("1e22") == '<span class="num">10<sup>22</sup></span>'
    assert "10<sup>&minus;5</sup>" in html_text("-3.2e-5 nats")
    assert "&minus;3.2" in html_text("-3.2e-5 nats")
    # hashes, words, identifiers and ordinary numbers stay as they are
    for text in ("c480708d3c9fd63010696bf642644fe2458134ae5d95c32fb6cbee1e848e54be",
                 "file_1e5.csv", "v1.2e3", "x1e22", "the 12 runs", "1.2.3e4", "2e+02"):
        assert html_text(text) == text.replace("&", "&amp;")
    doc = Document("t", [Para("About 5.76e23 FLOPs."),
                         Table(table([["1e22", "68%"]], ["budget", "p"]), caption="at 1e22")])
    page = doc.to_html()
    assert page.count("<sup>22</sup>") == 2 and "<sup>23</sup>" in page
    assert "5.76e23" in doc.to_markdown("f")  # the Markdown twin keeps the plain text


@pytest.mark.slow
def test_chinchilla_report_numbers_read_well(chinchilla_fit):
    """A plan far from the optimum: deadweight compute of several hundred percent."""
    from bayescale.report import build_report

    doc = build_report(chinchilla_fit, budgets=[1e22, 5.76e23], target_loss=2.0,
                       plan=(4e9, 24e12), inference_tokens=1e13, prob=0.995, loo=False)
    md = "\n".join(line for line in doc.to_markdown("f").splitlines()
                   if not line.startswith("!["))
    assert not SCI_PCT.search(md), SCI_PCT.findall(md)
    assert "e+" not in md
    percents = re.findall(r"[^\s\[(]*%", md)
    assert percents and not [p for p in percents if re.search(r"\de", p)], percents
    assert not PY_FLOAT.search(md), PY_FLOAT.findall(md)
    lead = doc.blocks[0].text
    assert "5.76e23 FLOPs" in lead and "a 99.5% chance" in lead
    assert re.search(r"as if it spent \d+(\.\d)?x the compute needed \(up to \d+(\.\d)?x\)",
                     lead), lead
    plan_rows = next(b.frame for b in doc.blocks
                     if isinstance(b, Table) and "Regret" in b.caption)
    dead = plan_rows.set_index(plan_rows.columns[0]).loc["deadweight compute"].iloc[0]
    assert re.fullmatch(r"[\d,]+% \[[\d,]+% to [\d,]+%\]", dead), dead
    html = doc.to_html()
    assert "5.76&#8239;&times;&#8239;10<sup>23</sup>" in html


@pytest.mark.parametrize("span", [0.004, 0.05, 0.3, 1.5, 3.2, 6.0, 12.0])
def test_backtest_plot_tick_labels_are_plain_and_apart(span):
    """The coverage panel's x labels read '2x', '10x', never '2x10^0', and never collide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from bayescale.plots import plot_backtest

    rng = np.random.default_rng(1)
    n = 60
    bt = pd.DataFrame({"law": ["a"] * n + ["b"] * n, "by": "C",
                       "distance": np.tile(rng.uniform(0.001, span, n), 2),
                       "are": rng.uniform(0.001, 0.05, 2 * n),
                       **{f"covered_{lv}": rng.uniform(size=2 * n) < lv / 100
                          for lv in (50, 80, 95)}})
    fig = plot_backtest(bt)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes[:2]:
        labels = [t for t in [*ax.get_xticklabels(), *ax.get_xticklabels(minor=True)]
                  if t.get_text() and t.get_visible()]
        lo, hi = ax.get_xlim()
        labels = [t for t in labels if lo <= t.get_position()[0] <= hi]
        assert labels
        assert all(re.fullmatch(r"[\d.,]+(e\d+)?x", t.get_text()) for t in labels), \
            [t.get_text() for t in labels]
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        for left, right in zip(boxes, boxes[1:], strict=False):
            assert left.x1 < right.x0, [t.get_text() for t in labels]
    plt.close(fig)


def _figure_texts(fig) -> list[str]:
    """Every visible piece of text a reader sees on a drawn figure (titles, labels, legends,
    annotations, tick labels and axis offset texts)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def _long_numbers(text: str, max_sig: int = 4) -> list[str]:
    """Numbers written with more than ``max_sig`` significant figures ("0.12345678", "2.0999")."""
    out = []
    for num in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
        digits = num.replace(",", "").replace(".", "").lstrip("0").rstrip("0")
        if len(digits) > max_sig:
            out.append(num)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("which", ["regret", "prob", "prior_posterior"])
def test_plot_texts_are_formatted_for_people(chinchilla_fit, which):
    """regret_plot, prob_plot and prior_posterior_plot write numbers with the fmt_* helpers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayescale.plots import plot_prior_posterior, plot_prob_target, plot_regret

    if which == "regret":  # far from the optimum: hundreds of percent of deadweight compute
        fig = plot_regret(chinchilla_fit, (4e9, 24e12))
    elif which == "prob":  # an awkward target and budget: 2.0512, 5.761234e23
        fig = plot_prob_target(chinchilla_fit, 2.0512, budgets=[5.761234e23],
                               plan=(7.0123e10, 1.4e12), prob=0.9)
    else:
        fig = plot_prior_posterior(chinchilla_fit)
    texts = _figure_texts(fig)
    plt.close(fig)
    assert texts
    text = "\n".join(texts)
    assert not PY_FLOAT.search(text), PY_FLOAT.findall(text)
    assert not SCI_PCT.search(text), SCI_PCT.findall(text)
    assert not _long_numbers(text), _long_numbers(text)
    if which == "prob":
        assert "2.051" in text and "5.76e23" not in text.replace("e+", "")  # labels, not ticks
    if which == "regret":
        assert re.search(r"C = [\d.]+e\d+ FLOPs", text), text
