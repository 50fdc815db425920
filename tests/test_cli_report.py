"""The report and allocate commands: real fits with small draws, one-line errors."""

from __future__ import annotations

import re

import pytest

from bayescale.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def saved_fit(chinchilla_fit, tmp_path_factory):
    return chinchilla_fit.save(tmp_path_factory.mktemp("fit") / "fit.nc")


def test_allocate_prints_the_table(saved_fit, capsys):
    assert main(["allocate", str(saved_fit), "--budget", "1e22,5.76e23", "--ci", "0.95"]) == 0
    out, err = capsys.readouterr()
    assert "tokens_per_param" in out and "lo_95" in out and "5.76e+23" in out
    assert "orders of magnitude beyond the largest run" in err
    # --C, the name predict uses for a budget, gives the same table
    assert main(["allocate", str(saved_fit), "--C", "1e22,5.76e23", "--ci", "0.95"]) == 0
    assert capsys.readouterr().out == out


def test_allocate_errors_are_one_line(saved_fit, tmp_path, capsys):
    assert main(["allocate", str(saved_fit), "--budget", "1e22,-5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayescale: error: budgets must be positive") and "-5" in err
    assert "Traceback" not in err
    assert main(["allocate", str(tmp_path / "missing.nc"), "--budget", "1e22"]) == 2
    assert "no fit file" in capsys.readouterr().err
    # options that fit a runs table say so when given a saved fit, instead of being ignored
    assert main(["report", str(saved_fit), "--budget", "1e22", "--groups", "dataset",
                 "--envelope", "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "--groups, --envelope are for fitting a runs table" in err
    assert not (tmp_path / "r.html").exists()


def test_report_from_a_saved_fit(saved_fit, tmp_path, capsys):
    out = tmp_path / "r" / "report.html"
    code = main(["report", str(saved_fit), "--budget", "5.76e23", "--target-loss", "2.0",
                 "--plan", "7e10,1.4e12", "--no-loo", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "With 5.76e23 FLOPs, train a model" in printed and "wrote" in printed
    assert out.exists() and out.with_suffix(".md").exists()
    # the saved fit kept the dataset's citation
    html = out.read_text()
    assert "Besiroglu" in html
    # the default discrepancy is the prior updated by the runs' own leave-future-out splits
    assert "empirical prior updated by" in html


def test_report_fits_a_bundled_dataset(tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(["report", "dataset:chinchilla", "--budget", "1e23", "--no-markdown",
                 "--draws", "150", "--tune", "150", "--chains", "2", "--no-progress",
                 "--seed", "5", "-o", str(out), "--save-fit", str(tmp_path / "fit.nc")])
    assert code == 0, capsys.readouterr().err
    assert out.exists() and not out.with_suffix(".md").exists()
    assert (tmp_path / "fit.nc").exists()
    html = out.read_text()
    # 2 x 150 draws, or 2 x (2 to 4 times 150) after the automatic retry of a failed fit (the
    # report says "Only N posterior draws" while they are few, "from N posterior draws" else)
    m = re.search(r"(?:Only|from) (\d+) posterior draws", html)
    assert "245 runs" in html and m and int(m.group(1)) in range(300, 1201, 100)


def test_report_argument_errors(saved_fit, tmp_path, capsys):
    assert main(["report", str(saved_fit), "-o", str(tmp_path / "r.html")]) == 2
    assert "--budget" in capsys.readouterr().err
    assert main(["report", str(saved_fit), "--plan", "7e10", "-o", str(tmp_path / "r.html")]) == 2
    assert "two numbers N,D" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_no_discrepancy_gives_the_law_alone(saved_fit, capsys):
    """Beyond the runs the default interval is wider than the law's own (--no-discrepancy)."""
    def width(extra):
        assert main(["predict", str(saved_fit), "--N", "7e10", "--D", "1.4e12", "--ci", "0.95",
                     *extra]) == 0
        out = capsys.readouterr().out.splitlines()
        head = out[-2].split()
        row = dict(zip(head, out[-1].split(), strict=False))
        return float(row["hi_95"]) - float(row["lo_95"])

    assert width([]) > 3 * width(["--no-discrepancy"])
    assert main(["allocate", str(saved_fit), "--budget", "5.76e23", "--no-discrepancy"]) == 0
    assert "assume the law holds that far" in capsys.readouterr().err


def test_the_default_discrepancy_is_the_prior_updated_by_the_runs_own_splits(saved_fit, tmp_path,
                                                                           capsys):
    """By default a command refits the law on the smaller runs, scores the larger ones and
    updates the empirical prior: on the Chinchilla runs, whose law extrapolates well within
    them, the 95% interval at the Gopher run is narrower than the prior's alone
    (--prior-discrepancy) and wider than the law's own; the report names the update, and with
    the prior alone says that the default would update it."""
    def width(extra):
        assert main(["predict", str(saved_fit), "--N", "7e10", "--D", "1.4e12", "--ci", "0.95",
                     *extra]) == 0
        out, err = capsys.readouterr()
        head, row = out.splitlines()[-2].split(), out.splitlines()[-1].split()
        row = dict(zip(head, row, strict=False))
        return float(row["hi_95"]) - float(row["lo_95"]), err

    prior, err = width(["--prior-discrepancy"])
    assert "learning the discrepancy" not in err
    learned, _ = width([])  # learned by the inner fits now, or earlier and saved with the fit
    alone, _ = width(["--no-discrepancy"])
    assert alone < learned < 0.8 * prior
    # the flag that asked for it before it was the default still runs, to the same interval
    assert width(["--learn-discrepancy"])[0] == learned
    out = tmp_path / "learned.html"
    assert main(["report", str(saved_fit), "--budget", "5.76e23", "--no-loo", "--no-markdown",
                 "-o", str(out)]) == 0
    html = out.read_text()
    assert "empirical prior updated by" in html and "held-out runs in 2 splits" in html
    assert "study like none seen yet" not in html
    assert main(["report", str(saved_fit), "--budget", "5.76e23", "--no-loo", "--no-markdown",
                 "--prior-discrepancy", "-o", str(out)]) == 0
    html = out.read_text()
    assert "study like none seen yet" in html and "by default it is updated" in html
    assert main(["predict", str(saved_fit), "--N", "7e10", "--D", "1.4e12",
                 "--prior-discrepancy", "--no-discrepancy"]) == 2
    assert "contradict each other" in capsys.readouterr().err
