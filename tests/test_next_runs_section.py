"""The risk report's "What to run next" section: blocks from a computed design, both renderers."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bayescale.decisions._common import DecisionError
from bayescale.report.document import Bullets, Document, Figure, Heading, Para, Table
from bayescale.report.next_runs_section import next_runs_blocks


@pytest.fixture(scope="module")
def design(chinchilla_fit):
    import bayescale as bs

    return bs.next_runs(chinchilla_fit, 5.76e23, pilot=1e21, n_outcomes=32, max_draws=400,
                        max_runs=4)


def test_blocks_render_to_html_and_markdown(chinchilla_fit, design, tmp_path):
    blocks = next_runs_blocks(chinchilla_fit, design, dpi=60)
    kinds = [type(b) for b in blocks]
    assert kinds[:3] == [Heading, Para, Para] and blocks[0].text == "What to run next"
    assert blocks[1].kind == "answer" and blocks[2].kind == "note"
    assert Table in kinds and Figure in kinds
    tab = next(b for b in blocks if isinstance(b, Table)).frame
    assert list(tab.columns[:7]) == ["run", "parameters N", "tokens D", "FLOPs",
                                     "expected reduction", "per FLOP", "cumulative"]
    assert len(tab) == len(design.table) >= 1
    # what to train, what it buys, the Monte Carlo / ESS caveat and when to refit
    lead, note = blocks[1].text, blocks[2].text
    assert lead.startswith("Train ") and "N* at 5.76e23 FLOPs" in lead
    assert re.search(r"from a factor \d\.\d+x to a factor \d\.\d+x", lead)
    assert "Monte Carlo" in note and "effective sample size" in note and "efit" in note
    doc = Document("Pilot runs", blocks)
    html = doc.to_html()
    md = doc.to_markdown("files")
    text = re.sub(r"base64,[^\"]*", "", html) + md  # no Python float syntax, no NaN
    assert not re.search(r"\de[+-]0|\de\+|\bnan\b|n/a", text, flags=re.I)
    assert "<table>" in html and "data:image/png;base64," in html and "<script" not in html
    assert "](files/next_runs.png)" in md and "| run | parameters N |" in md
    assert "10<sup>23</sup>" in html  # 5.76e23 typeset
    (tmp_path / "s.html").write_text(html)


def test_no_figure_subsection_and_empty_batch(chinchilla_fit, design):
    blocks = next_runs_blocks(chinchilla_fit, design, figure=False, level=3)
    assert blocks[0].level == 3 and not any(isinstance(b, Figure) for b in blocks)
    empty = dataclasses.replace(design, table=design.table.iloc[:0], notes=[],
                                expected_spread=design.current_spread, spent=0.0)
    blocks = next_runs_blocks(chinchilla_fit, empty, figure=False)
    assert not any(isinstance(b, (Table, Bullets)) for b in blocks)
    assert "train nothing extra" in blocks[1].text


def test_errors_name_the_value(chinchilla_fit, design):
    with pytest.raises(DecisionError, match=r"DesignResult\); got dict"):
        next_runs_blocks(chinchilla_fit, {"table": None})
    other = dataclasses.replace(design, settings={**design.settings, "law": "kaplan"})
    with pytest.raises(DecisionError, match="law 'kaplan'"):
        next_runs_blocks(chinchilla_fit, other)
    with pytest.raises(DecisionError, match="level must be 2"):
        next_runs_blocks(chinchilla_fit, design, level=1)
