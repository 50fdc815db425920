"""The command line: real fits with small draws, and one-sentence errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from bayescale.cli import main


def test_spec_and_datasets_commands(capsys):
    assert main(["spec", "chinchilla"]) == 0
    assert "[priors.alpha]" in capsys.readouterr().out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla" in out and "gadre_small" in out


def test_unknown_spec_is_one_line_error(capsys):
    assert main(["spec", "chinchila"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayescale: error:") and "chinchilla" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_fit_summary_predict_roundtrip(tmp_path, capsys, chinchilla_runs):
    csv = tmp_path / "runs.csv"
    chinchilla_runs.rename(columns={"N": "params", "loss": "val_loss"})[
        ["params", "D", "val_loss"]].to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    code = main(["fit", str(csv), "--columns", "params=N,val_loss=loss", "--out", str(out),
                 "--draws", "300", "--tune", "300", "--no-progress", "--seed", "3"])
    assert code == 0, capsys.readouterr().err
    assert out.exists()
    assert "alpha" in capsys.readouterr().out
    assert main(["summary", str(out)]) == 0
    assert "beta" in capsys.readouterr().out
    assert main(["predict", str(out), "--N", "7e10", "--D", "1.4e12", "--noise"]) == 0
    table = capsys.readouterr().out
    assert "median" in table and "hi_95" in table


def test_fit_with_missing_column_fails_cleanly(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    pd.DataFrame({"Params": [1e8, 2e8], "tokens": [1e9, 2e9], "loss": [3.0, 2.9]}).to_csv(
        csv, index=False)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(csv), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'N'" in err and "Params" in err and "Traceback" not in err
    assert not out.exists()
    # the advice is in the command line's words, not the Python API's
    pd.DataFrame({"N": [1e8, 2e8], "D": [1e9, 2e9], "val_loss": [3.0, 2.9]}).to_csv(
        csv, index=False)
    assert main(["fit", str(csv), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "pass --columns val_loss=loss" in err and "columns={" not in err, err


def test_errors_exit_nonzero_without_traceback_in_a_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bayescale.cli", "summary", str(tmp_path / "nope.nc")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("bayescale: error:")
    assert "Traceback" not in proc.stderr


def test_other_libraries_warnings_are_one_line_each_and_the_blas_note_is_dropped(capsys):
    """A compare once printed PyTensor's five-line BLAS note with its source line; the CLI
    prints another library's warning once, as its first sentence on one line, named by library."""
    import warnings

    from bayescale import cli

    site = "/x/.venv/lib/python3.12/site-packages/somelib/mod.py"

    def noisy(_args):
        for _ in range(3):
            warnings.warn_explicit("Something odd happened. Details follow\non two lines.",
                                   RuntimeWarning, site, 12)
        warnings.warn_explicit("PyTensor could not link to a BLAS installation. Operations...",
                               UserWarning, site.replace("somelib", "pytensor"), 2940)
        return 0

    cli._COMMANDS["spec"], original = noisy, cli._COMMANDS["spec"]
    try:
        assert main(["spec", "compute"]) == 0
    finally:
        cli._COMMANDS["spec"] = original
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "bayescale: warning [RuntimeWarning]: Something odd happened (from somelib)"]


@pytest.mark.slow
def test_mixed_setups_advice_in_flags_and_envelope_fits_the_best_runs(tmp_path, capsys):
    """A sweep of two learning rates per (N, D): the warning's remedies are given as flags, and
    ``--envelope`` (the first remedy) fits the best run at each point without the warning."""
    import numpy as np

    from bayescale.posterior.result import load_fit
    from tests.conftest import TRUTH, simulate_runs

    good = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=5).assign(lr=1e-3)
    worse = good.assign(lr=3e-3, loss=good["loss"] * 1.05)
    csv = tmp_path / "sweep.csv"
    pd.concat([good, worse]).rename(columns={"loss": "val_loss"}).to_csv(csv, index=False)
    small = ["--draws", "100", "--tune", "100", "--chains", "2", "--no-progress", "--no-retry"]
    out = tmp_path / "mixed.nc"
    assert main(["fit", str(csv), "--columns", "val_loss=loss", "--out", str(out), *small]) == 0
    err = capsys.readouterr().err
    assert "[MixedSetupWarning]" in err and "--envelope" in err and "--groups lr" in err, err
    # once: the discrepancy's inner fits (subsets of the same runs) do not repeat it
    assert err.count("[MixedSetupWarning]") == 1, err
    assert "bayescale.data.runs.envelope(" not in err and "groups=[" not in err
    out = tmp_path / "best.nc"
    assert main(["fit", str(csv), "--columns", "val_loss=loss", "--envelope", "--out",
                 str(out), *small]) == 0
    err = capsys.readouterr().err
    assert "MixedSetupWarning" not in err and "kept the best of 80 runs at each of 40" in err
    fit = load_fit(out)
    assert len(fit.runs) == len(good) and np.allclose(fit.runs["lr"], 1e-3)


def test_envelope_keeps_the_design_points_the_warning_names(tmp_path, capsys):
    """--envelope with the Chinchilla law on runs that also vary unique data U: runs at one
    (N, D) with different U are different points (as the mixed-set-up warning counts them),
    so only the worse learning rate at each (N, D, U) is dropped."""
    from bayescale.cli import _parser, _runs_for_fit

    runs = pd.DataFrame({"N": [1e8] * 4, "D": [2e9] * 4, "U": [2e9, 2e9, 5e8, 5e8],
                         "lr": [1e-3, 3e-3] * 2, "val": [3.0, 3.1, 3.2, 3.3]})
    csv = tmp_path / "runs.csv"
    runs.to_csv(csv, index=False)
    a = _parser().parse_args(["fit", str(csv), "--columns", "val=loss", "--envelope",
                              "--out", str(tmp_path / "f.nc")])
    kept, columns = _runs_for_fit(a.runs, a)
    assert columns is None and kept["loss"].tolist() == [3.0, 3.2]
    assert "points (N, D, U)" in capsys.readouterr().err


def test_pooling_on_the_command_line_reaches_the_fit(tmp_path, capsys):
    """--pooling beta=shared,E=independent is the pooling= of bayescale.fit; a bad mode is a
    one-line error that names the accepted modes."""
    import bayescale as bs
    from bayescale.data.synthetic import simulate_hierarchy

    csv = tmp_path / "runs.csv"
    simulate_hierarchy(3, n_sizes=6, n_ratios=4, sizes=(1e7, 3e9), seed=2).runs.to_csv(
        csv, index=False)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(csv), "--groups", "family", "--pooling", "beta=shared,E=independent",
                 "--draws", "100", "--tune", "100", "--chains", "2", "--no-progress",
                 "--no-retry", "--out", str(out)]) == 0, capsys.readouterr().err
    spec = bs.load_fit(out).spec
    assert spec.pooling_of("beta") == "shared" and spec.pooling_of("E") == "independent"
    assert spec.pooling_of("alpha") == "pooled"
    # the default discrepancy of such a fit refits the law within each group, without the
    # hierarchy's pooling or centring
    assert main(["predict", str(out), "--N", "3e10", "--D", "6e11", "--group", "g00"]) == 0
    err = capsys.readouterr().err
    assert "within each of the 3 groups" in err and "empirical prior updated by" in err
    with pytest.raises(SystemExit):
        main(["fit", str(csv), "--groups", "family", "--pooling", "beta=partial", "--out",
              str(tmp_path / "bad.nc")])
    err = capsys.readouterr().err
    assert "shared, pooled, independent" in err and "'beta=partial'" in err
    assert not (tmp_path / "bad.nc").exists()
