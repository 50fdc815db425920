"""The risk report of a hierarchical fit: for one named group, and for a new (unseen) group."""

from __future__ import annotations

import re
import warnings

import pytest

from bayescale.decisions._common import DecisionError
from bayescale.errors import NewGroupError
from bayescale.report import build_report, write_report
from bayescale.report.document import Table

BUDGET = 1e22
FIT = dict(seed=0, target_accept=0.95, draws=200, tune=300, progressbar=False, prior_draws=100,
           warn=False, retry=False)


@pytest.fixture(scope="module")
def runs():
    from bayescale.data.synthetic import simulate_hierarchy

    return simulate_hierarchy(3, n_sizes=4, n_ratios=3, seed=3).runs


@pytest.fixture(scope="module")
def hfit(runs):
    """The default hierarchy: E and the exponents pooled, A and B per group."""
    import bayescale as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, "chinchilla", groups=["family"], **FIT)


@pytest.fixture(scope="module")
def pooled_fit(runs):
    """Every parameter pooled: a new group has a loss curve."""
    import bayescale as bs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bs.fit(runs, spec="chinchilla_pooled", groups=["family"], **FIT)


def _report(fit, group):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_report(fit, budgets=[BUDGET], target_loss=2.2, plan=(1e9, 2e10),
                            group=group, loo=False, dpi=50)


def _allocation_median_n(doc) -> str:
    tab = next(b for b in doc.blocks if isinstance(b, Table)
               and b.caption.startswith("Compute-optimal allocation")).frame
    return tab["parameters N*"].iloc[0].split(" [")[0]


def _headings(doc) -> list[str]:
    return [b.text for b in doc.blocks if type(b).__name__ == "Heading"]


def test_named_group_report_is_that_group_s(hfit, runs, tmp_path):
    import bayescale as bs
    from bayescale.formatting import fmt_count

    docs = {g: _report(hfit, g) for g in ("g00", "g01")}
    for g, doc in docs.items():
        n_runs = int((runs["family"] == g).sum())
        assert doc.title.endswith(f"{n_runs} runs, group {g}"), doc.title
        assert {"Recommendation at your budget", "Your plan", "The data"} <= set(_headings(doc))
        # the report's N* is the group's own allocation (bs.allocate with group=)
        alloc = bs.allocate(hfit, [BUDGET], group=g)
        med = float(alloc.set_index("quantity").loc["N", "median"])
        assert _allocation_median_n(doc) == fmt_count(med)
        html = doc.to_html()
        text = re.sub(r"base64,[^\"]*", "", html) + doc.to_markdown("files")
        assert not re.search(r"\de\+|\bnan\b", text)
    # two groups with their own A and B: two different answers
    assert docs["g00"].blocks[0].text != docs["g01"].blocks[0].text
    files = write_report(hfit, tmp_path / "g01.html", budgets=[BUDGET], group="g01", loo=False,
                         dpi=50)
    assert files.html.exists() and files.markdown.exists()


def test_hierarchical_report_needs_a_group(hfit):
    with pytest.raises(DecisionError, match="pass group=<one of them>"):
        _report(hfit, None)
    with pytest.raises(DecisionError, match="g09"):
        _report(hfit, "g09")


def test_new_group_with_per_group_scales_says_what_to_pool(hfit):
    """A and B per group (the default): an unseen group has no loss curve; one clear error."""
    with pytest.raises(NewGroupError, match="pooled"):
        _report(hfit, "new")


def test_new_group_report_with_pooled_fit(pooled_fit, runs):
    import bayescale as bs
    from bayescale.formatting import fmt_count

    doc = _report(pooled_fit, "new")
    assert "group new" in doc.title
    alloc = bs.allocate(pooled_fit, [BUDGET], group="new")
    med = float(alloc.set_index("quantity").loc["N", "median"])
    assert _allocation_median_n(doc) == fmt_count(med)
    # an unseen group is measured against all the runs (the population's data)
    assert f"{len(runs)} runs" in doc.title
    # wider than an observed group's: a new group's N* is less certain
    named = _report(pooled_fit, "g01")

    def width(d):
        cell = next(b for b in d.blocks if isinstance(b, Table)
                    and b.caption.startswith("Compute-optimal allocation")).frame
        return cell["parameters N*"].iloc[0]

    assert width(doc) != width(named)


def test_pooled_fit_named_group_report(pooled_fit, runs):
    doc = _report(pooled_fit, "g01")
    n_runs = int((runs["family"] == "g01").sum())
    assert doc.title.endswith(f"{n_runs} runs, group g01")
    assert "<h2>The data</h2>" in doc.to_html()


def test_report_carries_a_what_to_run_next_section(pooled_fit):
    """build_report(next_runs=...) renders the design computed by the caller."""
    import bayescale as bs
    from bayescale.report import build_report

    design = bs.next_runs(pooled_fit, budget=BUDGET, pilot=BUDGET / 1e3, group="g01")
    doc = build_report(pooled_fit, budgets=[BUDGET], group="g01", loo=False, next_runs=design)
    heads = [b.text for b in doc.blocks if type(b).__name__ == "Heading"]
    assert any("run next" in h.lower() for h in heads)
