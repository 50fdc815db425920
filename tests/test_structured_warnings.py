"""Warnings are structured, kept in the saved fit, and printed once per message by the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.errors import DataWarning
from tests.conftest import TRUTH, simulate_runs


@pytest.mark.slow
def test_fit_keeps_its_warnings_and_the_saved_file_too(tmp_path):
    runs = simulate_runs("compute", TRUTH["compute"], seed=3)
    runs = runs.loc[np.r_[np.arange(len(runs)), [0, 1]]].reset_index(drop=True)  # 2 repeats
    with pytest.warns(DataWarning):
        fit = bs.fit(runs, "compute", draws=100, tune=100, chains=2, seed=0, progressbar=False,
                     prior_draws=0, warn=False, retry=False)
    kept = json.loads(fit.meta["warnings"])
    assert kept and {"code", "severity", "message"} <= set(kept[0])
    assert any(w["code"] == "DataWarning" and "repeat" in w["message"] for w in kept), kept
    assert all("\n" not in w["message"] for w in kept)
    path = fit.save(tmp_path / "fit.nc")
    assert json.loads(bs.load_fit(path).meta["warnings"]) == kept


def test_cli_prints_each_warning_once_on_one_line(capsys):
    import warnings

    from bayescale import cli

    def noisy(_args):
        for _ in range(8):
            warnings.warn("rows 1, 2 repeat\nan earlier run", DataWarning, stacklevel=1)
        return 0

    cli._COMMANDS["spec"], original = noisy, cli._COMMANDS["spec"]
    try:
        assert main(["spec", "compute"]) == 0
    finally:
        cli._COMMANDS["spec"] = original
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "DataWarning" in ln]
    assert lines == ["bayescale: warning [DataWarning]: rows 1, 2 repeat an earlier run"]
    assert "warnings.warn" not in err  # no Python source line


@pytest.mark.slow
def test_cli_fit_prints_a_data_warning_once_and_summary_repeats_it(tmp_path, capsys):
    """``bayescale fit`` prints the warning as it is raised and not again in the fit's summary;
    ``bayescale summary`` of the saved file (another person, another day) prints it."""
    runs = simulate_runs("compute", TRUTH["compute"], seed=3)
    runs = runs.loc[np.r_[np.arange(len(runs)), [0, 1]]].reset_index(drop=True)  # 2 repeats
    csv = tmp_path / "runs.csv"
    runs.to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(csv), "--law", "compute", "--out", str(out), "--draws", "100",
                 "--tune", "100", "--chains", "2", "--no-progress", "--no-retry"]) == 0
    cap = capsys.readouterr()
    said = (cap.out + cap.err).splitlines()
    assert sum("[DataWarning]" in ln and "repeat" in ln for ln in said) == 1, said
    assert main(["summary", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(ln.startswith("warning [DataWarning]") and "repeat" in ln for ln in lines) == 1
