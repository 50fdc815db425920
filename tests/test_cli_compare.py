"""The compare and backtest commands of the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main

pytestmark = pytest.mark.slow


def test_cli_compare_prints_the_table_and_writes_csv(tmp_path, monkeypatch, capsys,
                                                     chinchilla_fit):
    """Plumbing: the command fits each law (here: the session's real fit, twice under two
    names) and prints ArviZ's comparison table."""
    seen = []

    def fake_fit(runs, law=None, **kw):
        seen.append(law)
        return chinchilla_fit

    monkeypatch.setattr(bs, "fit", fake_fit)
    out = tmp_path / "cmp.csv"
    assert main(["compare", "dataset:chinchilla", "--laws", "chinchilla,kaplan", "--out",
                 str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert seen == ["chinchilla", "kaplan"]
    assert "elpd" in text and "weight" in text
    table = pd.read_csv(out, index_col=0)
    assert set(table.index) == {"chinchilla", "kaplan"}


def test_cli_backtest_writes_table_and_plot(tmp_path, capsys, chinchilla_runs):
    runs = tmp_path / "runs.csv"
    chinchilla_runs[["N", "D", "loss"]].to_csv(runs, index=False)
    out, plot = tmp_path / "bt.csv", tmp_path / "bt.png"
    assert main(["backtest", str(runs), "--laws", "chinchilla", "--cutoffs", "1.3e21",
                 "--draws", "150", "--tune", "150", "--out", str(out), "--plot", str(plot),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "coverage_95" in text and "mean_are" in text
    bt = pd.read_csv(out)
    assert len(bt) == (chinchilla_runs["C"] > 1.3e21).sum()
    assert plot.stat().st_size > 0


def test_cli_compare_needs_two_laws(capsys):
    assert main(["compare", "dataset:chinchilla", "--laws", "chinchilla"]) == 2
    assert "at least two laws" in capsys.readouterr().err


def test_cli_compare_with_backtest_says_which_ranking_answers_extrapolation(
        monkeypatch, capsys, chinchilla_fit):
    """Plumbing: --backtest runs bayescale.backtest on the same runs and laws (labelled as the
    fits) and the comparison printed says whether it ranks the laws as LOO does."""
    monkeypatch.setattr(bs, "fit", lambda runs, law=None, **kw: chinchilla_fit)
    calls = []

    def fake_backtest(runs, laws, **kw):
        calls.append((dict(laws), kw.get("cutoffs")))
        order = ["chinchilla", "kaplan"]  # kaplan scores best on the held-out runs
        return pd.DataFrame([{"law": law, "cutoff": 1e21, "run": i, "lpd": 1.0 + 8 * j}
                             for j, law in enumerate(order) for i in range(10)])

    monkeypatch.setattr(bs, "backtest", fake_backtest)
    assert main(["compare", "dataset:chinchilla", "--laws", "chinchilla,kaplan", "--backtest",
                 "--cutoffs", "1e21", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert calls == [({"chinchilla": "chinchilla", "kaplan": "kaplan"}, [1e21])]
    assert "backtest_rank" in text
    # LOO cannot tell the two copies of one fit apart; whichever it puts first, the sentence
    # on the backtest is printed
    assert ("disagree" in text and "extrapolation" in text) or "ranks the laws as LOO" in text


def test_cli_compare_cutoffs_need_backtest(capsys):
    assert main(["compare", "dataset:chinchilla", "--laws", "chinchilla,kaplan",
                 "--cutoffs", "1e21"]) == 2
    err = capsys.readouterr().err
    assert "--cutoffs 1e+21" not in err and "--cutoffs 1e21" in err and "--backtest" in err
