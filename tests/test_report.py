"""The risk report: self-contained HTML + Markdown twin, rendered in headless Chromium."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

import bayescale as bs
from bayescale.posterior.result import ScalingFit
from bayescale.report import build_report

pytestmark = pytest.mark.slow

PLAN = (70e9, 1.4e12)
IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _decode_png(data: bytes):
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()  # full decode, not just the header
    return img


@pytest.fixture(scope="module")
def report(chinchilla_fit, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    files = bs.write_report(chinchilla_fit, out, budgets=[1e22, 5.76e23], target_loss=2.0,
                            plan=PLAN, inference_tokens=1e13)
    return files


def test_files_written_atomically_and_self_contained(report):
    html = report.html.read_text()
    folder = report.html.parent
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.md",
                                                        "report_files"]
    assert not [p for p in folder.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]
    # nothing fetched: no scripts, stylesheets, frames or remote sources
    for bad in ("<script", "<link", "<iframe", "@import", 'src="http', "src='http", "url("):
        assert bad not in html, bad
    imgs = IMG_RE.findall(html)
    assert len(imgs) == len(report.figures) == 6
    assert html.count("<img ") == len(imgs)
    for data in imgs:
        img = _decode_png(base64.b64decode(data))
        assert img.size[0] > 300 and img.size[1] > 200


def test_markdown_twin_mirrors_the_html(report):
    md = report.markdown.read_text()
    html = report.html.read_text()
    md_heads = re.findall(r"^## (.+)$", md, flags=re.M)
    html_heads = re.findall(r"<h2>(.+?)</h2>", html)
    assert md_heads == [h.replace("&#x27;", "'") for h in html_heads]
    links = re.findall(r"!\[[^\]]*\]\((report_files/[^)]+\.png)\)", md)
    assert len(links) == 6
    for link in links:
        _decode_png((report.markdown.parent / link).read_bytes())


def test_report_contents(report, chinchilla_fit):
    doc = report.document
    lead = doc.blocks[0]
    assert lead.kind == "answer"
    # the answer names the budget, a model size and the probability of the target
    assert "5.76e23 FLOPs" in lead.text and "parameters" in lead.text
    assert "target loss 2" in lead.text and "Your plan" in lead.text
    assert "1.6 orders of magnitude" in lead.text
    text = report.markdown.read_text()
    for needle in ("## Warnings", "orders of magnitude", "Recommendation at your budgets",
                   "tokens per parameter", "Probability of reaching loss 2", "Your plan",
                   "deadweight compute", "Accounting for inference", "## The data",
                   "Besiroglu", "Hoffmann", "The law and its priors", "LogNormal",
                   "Prior and posterior", "The fit to the runs", "Pareto k",
                   "Sampling diagnostics", "r_hat", "Reproducibility",
                   chinchilla_fit.meta["data_hash"]):
        assert needle in text, needle
    # the two failed runs are named, with the chance that a new run fails like them
    failures = chinchilla_fit.run_failures()
    assert failures.k == 2
    assert "Failed runs: 2 of the 240 runs" in text
    for i in failures.rows:
        assert f"row {int(i)}, N " in text
    # both at the lowest tokens per parameter (0.46-0.51): a regime the law misses, so a run
    # at the report's allocations (about 20) hardly ever fails like them
    assert "They sit at the lowest tokens per parameter (0.456 to 0.506;" in text
    assert failures.tpp_weight > 0.9 and failures.rate < 0.005
    assert "a <1% chance that the run fails as 2 of the 240 runs did" in text
    # the allocation table agrees with bs.allocate
    tab = bs.allocate(chinchilla_fit, 5.76e23, ci=(0.95,)).set_index("quantity")
    ratio = tab.loc["tokens_per_param", "median"]
    assert f"{ratio:.3g} [" in text
    # numbers for people: no Python float syntax; HTML typesets 5.76e23 with a superscript
    assert "e+" not in text and "e-0" not in text
    assert "with 10T inference tokens" in text
    # beyond the runs the numbers include the extrapolation discrepancy (the default, as in
    # fit.predict); it widens with every decade, so the chance of loss 2 rises slowly there
    # and a 90% chance is near where it levels off: whether some budget gives it moves with
    # the discrepancy's Monte Carlo draws, so the lead and the warnings must only agree
    assert "Beyond the runs they include the extrapolation discrepancy" in text
    if "no budget gives a 90% chance" in lead.text:
        assert "no budget gives a 90% chance (even odds: " in lead.text
        assert "Target: no budget reaches loss 2" in text and "discrepancy widens" in text
    else:
        assert re.search(r"a 90% chance needs about \S+ FLOPs \(even odds: ", lead.text)
        assert "Target: no budget reaches" not in text
    assert "5.76&#8239;&times;&#8239;10<sup>23</sup></span> FLOPs" in report.html.read_text()


def test_unreachable_target_with_the_discrepancy_says_why(chinchilla_fit):
    """A target far below every draw's irreducible loss E: no budget gives a 90% chance, and
    the warnings say why, the discrepancy's widening included (deterministic, unlike loss 2
    in ``test_report_contents``, which sits where the chance levels off)."""
    doc = build_report(chinchilla_fit, budgets=[5.76e23], target_loss=0.5)
    lead = doc.blocks[0]
    assert "no budget gives a 90% chance" in lead.text
    warnings = next(b for b in doc.blocks if type(b).__name__ == "Bullets").items
    target = next(w for w in warnings if w.startswith("Target: no budget reaches loss 0.5"))
    assert "irreducible loss E in 100%" in target and "discrepancy widens" in target


def test_loo_hook_names_influential_runs(chinchilla_fit):
    n = len(chinchilla_fit.runs)
    k = np.zeros(n)
    k[[3, 17]] = [0.95, 0.75]
    fake = SimpleNamespace(pareto_k=k, elpd=100.0, se=5.0, p=6.0)
    doc = build_report(chinchilla_fit, budgets=[1e21], loo=fake,
                                 extra_warnings=["A law comparison prefers another law."])
    warnings = next(b for b in doc.blocks if type(b).__name__ == "Bullets").items
    flagged = next(w for w in warnings if "Pareto k" in w)
    assert "2 run(s)" in flagged and "row 3" in flagged and "row 17" in flagged
    assert flagged.index("row 3") < flagged.index("row 17")  # worst first
    assert "A law comparison prefers another law." in warnings
    # within the data: no extrapolation warning, and the lead says so
    assert not any(w.startswith("Extrapolation") for w in warnings)
    assert "within the compute range" in doc.blocks[0].text


def test_degenerate_report_one_draw_low_budget_met_target(chinchilla_fit, tmp_path):
    f = chinchilla_fit
    one = ScalingFit(f.tree.isel(chain=slice(0, 1), draw=slice(0, 1)), f.spec, f.runs,
                     f.reference, f.diagnostics, f.meta)
    worst = float(f.runs["loss"].max())
    files = bs.write_report(one, tmp_path / "r.html", budgets=[1e15], target_loss=worst + 0.5,
                            loo=False)
    doc = files.document
    warnings = next(b for b in doc.blocks if type(b).__name__ == "Bullets").items
    assert any("Only 1 posterior draw:" in w for w in warnings)
    assert any(w.startswith("Extrapolation downward") for w in warnings)
    assert "below the smallest run" in doc.blocks[0].text
    assert f"already contain {len(f.runs)} run(s)" in doc.blocks[0].text
    assert "not run" in files.html.read_text()  # the LOO note


def test_report_argument_errors(chinchilla_fit, tmp_path):
    with pytest.raises(ValueError, match=r"budgets=.*or plan="):
        bs.write_report(chinchilla_fit, tmp_path / "r.html")
    with pytest.raises(ValueError, match=r"ends in \.md"):
        bs.write_report(chinchilla_fit, tmp_path / "r.md", budgets=[1e22])
    with pytest.raises(ValueError, match="plan N and D must be positive"):
        bs.write_report(chinchilla_fit, tmp_path / "r.html", plan=(0, 1e12))
    with pytest.raises(ValueError, match="target_loss must be a positive"):
        bs.write_report(chinchilla_fit, tmp_path / "r.html", budgets=[1e22], target_loss=-2)
    assert not list(tmp_path.iterdir())  # nothing written on error


def test_renders_in_headless_chromium(report, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); "
                    ".ci/run installs it")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    url = report.html.resolve().as_uri()

    shot = tmp_path / "shot.png"
    proc = subprocess.run([*flags, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                           "--window-size=1200,3000", url], capture_output=True, text=True,
                          timeout=180, env=env, check=False)
    assert shot.exists(), proc.stderr[-2000:]
    for bad in ("Uncaught", "ERROR:CONSOLE", "Not allowed to load", "net::ERR"):
        assert bad not in proc.stderr, proc.stderr[-2000:]
    img = _decode_png(shot.read_bytes()).convert("RGB")
    assert img.size == (1200, 3000)
    pixels = np.asarray(img).reshape(-1, 3)
    non_white = np.mean(np.any(pixels < 235, axis=1))
    colours = len(np.unique(pixels[::7], axis=0))
    assert non_white > 0.05, non_white  # text, tables and figures, not a blank page
    assert colours > 500, colours  # anti-aliased plots, not a flat error page

    # Did every figure decode in the browser?  A test-only copy of the page gets a script that
    # writes each image's decoded width into the DOM, which --dump-dom prints after load.
    probe = tmp_path / "probe.html"
    probe.write_text(report.html.read_text().replace(
        "</body>",
        "<script>window.addEventListener('load', () => { document.body.dataset.widths = "
        "Array.from(document.images).map(i => i.complete ? i.naturalWidth : -1).join(','); "
        "});</script></body>"))
    dom = subprocess.run([*flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180, env=env, check=False)
    m = re.search(r'data-widths="([^"]*)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    widths = [int(w) for w in m.group(1).split(",")]
    assert len(widths) == 6 and all(w > 300 for w in widths), widths
    assert dom.stdout.count("<h2>") == report.html.read_text().count("<h2>")


def test_report_for_the_compute_law(chinchilla_runs, tmp_path):
    """A law of compute alone: a loss prediction and P(target), no allocation, no plan."""
    fit = bs.fit(chinchilla_runs, "compute", draws=200, tune=200, chains=2, seed=3,
                 progressbar=False, prior_draws=100, warn=False)
    files = bs.write_report(fit, tmp_path / "r.html", budgets=[1e23], target_loss=2.0,
                            loo=False)
    lead = files.document.blocks[0].text
    assert "compute law predicts a loss of" in lead and "cannot say how to split" in lead
    heads = [b.text for b in files.document.blocks if type(b).__name__ == "Heading"]
    assert "Probability of reaching loss 2" in heads and "Your plan" not in heads
    assert len(IMG_RE.findall(files.html.read_text())) == len(files.figures) == 4
    with pytest.raises(ValueError, match="needs a law with inputs"):
        bs.write_report(fit, tmp_path / "r2.html", plan=(1e9, 1e10))


def test_compute_first_render_second(chinchilla_fit, monkeypatch):
    """Plots draw results they are given without deciding anything; the report hands them the
    results it computed once, and takes a plan's regret computed by the caller."""
    import matplotlib.pyplot as plt

    import bayescale.decisions as bd
    from bayescale.plots import plot_prob_target, plot_regret
    from bayescale.plots.prob_plot import prob_target_curve

    fit = chinchilla_fit
    reg = bs.plan_regret(fit, PLAN, ci=(0.95,), discrepancy=False)
    curve = prob_target_curve(fit, 2.0, budgets=[5.76e23], plan=PLAN)
    assert set(curve) >= {"grid", "p_budgets", "p_mean", "p_plan", "p_run", "required"}
    np.testing.assert_array_equal(curve["p_budgets"],
                                  bs.prob_target(fit, 2.0, budgets=[5.76e23],
                                                 discrepancy=False))

    def no_deciding(*args, **kwargs):
        raise AssertionError("a plot given its result decided again")

    from bayescale.plots import plot_allocation, plot_decision
    from bayescale.plots.allocation_plot import allocation_curve
    from bayescale.plots.decision_plot import decision_curve

    alloc = allocation_curve(fit, [5.76e23], plan=PLAN, n_grid=12)
    dec = decision_curve(fit, [5.76e23], plan=PLAN, n_grid=12)
    per_draw = bs.allocate(fit, [5.76e23], per_draw=True, discrepancy=False)
    np.testing.assert_array_equal(alloc["at"]["N"], per_draw["N"])
    assert dec["frontier"].shape == (per_draw["N"].shape[0], 12)
    for name in ("plan_regret", "prob_target", "budget_for", "allocate", "loss_draws",
                 "risk_averse"):
        monkeypatch.setattr(bd, name, no_deciding)
    plt.close(plot_regret(reg))
    plt.close(plot_prob_target(fit, 2.0, result=curve))
    plt.close(plot_allocation(fit, result=alloc))
    plt.close(plot_decision(fit, [5.76e23], plan=PLAN, result=dec))
    monkeypatch.undo()

    doc = build_report(fit, budgets=[5.76e23], target_loss=2.0, plan=PLAN, loo=False, dpi=30,
                       regret=reg)
    again = build_report(fit, budgets=[5.76e23], target_loss=2.0, plan=PLAN, loo=False,
                         dpi=30, discrepancy=False)
    strip = lambda d: re.sub(r"base64,[^\"]*|generated by .*? on [^.]*", "",  # noqa: E731
                             d.to_html())
    plan_rows = lambda h: re.findall(r"excess loss over the optimum[^<]*</td><td>[^<]*", h)  # noqa: E731
    assert plan_rows(strip(doc)) == plan_rows(strip(again)) != []


def test_the_fits_stored_data_warnings_reach_the_report(chinchilla_fit, tmp_path):
    """A report made from a saved fit says what the runs table raised when it was fitted (the
    person signing the budget never saw the fit's console), in the lead and under Warnings;
    a path without a suffix gets .html so that a browser opens it."""
    import json

    f = chinchilla_fit
    told = {"code": "MixedSetupWarning", "severity": "medium",
            "message": "12 of the 40 (N, D) points hold runs that differ in 'decay'"}
    meta = {**f.meta, "warnings": json.dumps([told])}
    mixed = ScalingFit(f.tree, f.spec, f.runs, f.reference, f.diagnostics, meta)
    assert mixed.warnings == [told]
    assert "warning [MixedSetupWarning]: 12 of the 40" in repr(mixed)
    files = bs.write_report(mixed, tmp_path / "report", budgets=[1e22], loo=False)
    assert files.html == tmp_path / "report.html" and files.html.exists()
    doc = files.document
    warnings = next(b for b in doc.blocks if type(b).__name__ == "Bullets").items
    assert f"Runs table: {told['message']}" in warnings
    assert "raised 1 warning when it was fitted" in doc.blocks[0].text
    # a fit without stored warnings (or saved before fits kept them) says nothing of the kind
    assert "raised" not in build_report(f, budgets=[1e22], loo=False).blocks[0].text
