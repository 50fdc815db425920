"""Reliability: bad input at every entry point (Python API, CLI, spec files) gives one clear
message and writes nothing; sampler trouble is surfaced and recorded; Ctrl-C loses nothing;
fits are reproducible across processes.  Real sampler where a statistical claim is made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale.cli import main
from bayescale.errors import DataWarning, ProvenanceError, RunsTableError, SpecError
from conftest import TRUTH, simulate_runs


def grid_runs(n_sizes: int = 4, n_ratios: int = 3) -> pd.DataFrame:
    """Noise-free Chinchilla runs on an n_sizes x n_ratios grid."""
    N = np.repeat(np.geomspace(1e8, 1e10, n_sizes), n_ratios)
    D = N * np.tile(np.geomspace(5.0, 100.0, n_ratios), n_sizes)
    loss = bs.get_law("chinchilla").loss(TRUTH["chinchilla"], N=N, D=D)
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


def _cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bayescale.cli", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------------------- bad input, API
def test_too_few_distinct_model_sizes_is_an_error_naming_column_and_count():
    runs = grid_runs(n_sizes=2, n_ratios=4)
    with pytest.raises(RunsTableError, match=r"column 'N' has only 2 distinct values") as info:
        bs.fit(runs, "chinchilla", progressbar=False)
    msg = str(info.value)
    assert "'chinchilla' needs at least 3 distinct N" in msg and "add runs" in msg
    with pytest.raises(RunsTableError, match=r"column 'D' has only 1 distinct value"):
        bs.fit(grid_runs().assign(D=1e10), "chinchilla", progressbar=False)
    runs = grid_runs()
    with pytest.raises(RunsTableError, match=r"column 'C' has only 2 distinct"):
        bs.fit(runs.assign(C=np.where(runs["N"] > 1e9, 1e20, 1e19)).drop(columns="D"),
               "compute", progressbar=False)


def test_collinear_design_warns_that_n_and_d_terms_are_confounded():
    from bayescale.data.runs import check_design

    N = np.geomspace(1e8, 1e10, 8)
    runs = pd.DataFrame({"N": N, "D": 20 * N, "loss": np.linspace(3.0, 2.5, 8)})
    with pytest.warns(DataWarning, match=r"collinear .* median D/N = 20"):
        check_design(runs, bs.get_law("chinchilla"))
    check_design(grid_runs(), bs.get_law("chinchilla"))  # a grid: no warning (would be an error)


def test_single_group_in_a_hierarchical_fit_is_an_error():
    runs = grid_runs().assign(family="only")
    with pytest.raises(SpecError, match=r"groups=\['family'\] gives a single group"):
        bs.fit(runs, "chinchilla", groups=["family"], progressbar=False)


def test_loss_as_perplexity_stops_and_bits_warn_through_fit():
    """Perplexity stops the fit (issue 14: the README says such mistakes stop); bits warn."""
    ppl = grid_runs(n_sizes=2, n_ratios=4).assign(loss=lambda d: np.exp(d["loss"]) * 4)
    with pytest.raises(RunsTableError, match="looks like perplexity"):
        bs.fit(ppl, "chinchilla", progressbar=False)
    bits = grid_runs(n_sizes=2, n_ratios=4).rename(columns={"loss": "val_bpb"})
    with pytest.warns(DataWarning, match=r"'val_bpb' looks like bits.*math.log\(2\)"), \
            pytest.raises(RunsTableError):
        bs.fit(bits, "chinchilla", columns={"val_bpb": "loss"}, progressbar=False)
    named = grid_runs(n_sizes=2, n_ratios=4).rename(columns={"loss": "eval_ppl"})
    with pytest.raises(RunsTableError, match=r"'eval_ppl' looks like perplexity") as err:
        bs.fit(named, "chinchilla", columns={"eval_ppl": "loss"}, progressbar=False)
    assert str(err.value).count("perplexity") >= 1


def test_log_perplexity_is_not_mistaken_for_perplexity():
    from bayescale.data.runs import validate_runs

    runs = grid_runs().rename(columns={"loss": "log_ppl"})
    validate_runs(runs, columns={"log_ppl": "loss"})  # a DataWarning would fail here


def test_too_few_design_points_for_the_parameters():
    from bayescale.data.runs import check_design

    runs = pd.DataFrame({"N": [1e8, 2e8, 4e8], "D": [1e9, 2e9, 4e9], "loss": [3.0, 2.9, 2.8]})
    with pytest.raises(RunsTableError, match=r"3 distinct combinations of N, D, fewer than the 5"):
        check_design(runs, bs.get_law("chinchilla"))


# ---------------------------------------------------------------------------- bad input, CLI
BAD_INPUTS = {
    # name: (csv text, extra CLI args, substrings of the message)
    "misnamed column": ("Params,D,loss\n1e8,1e9,3.1\n2e8,2e9,3.0\n", [],
                        ["missing column 'N'", "did you mean 'Params'?"]),
    "text in numbers": ("N,D,loss\n1e8,lots,3.1\n2e8,2e9,3.0\n", [],
                        ["column 'D' has non-numeric values in row 0", "'lots'"]),
    "missing value": ("N,D,loss\n1e8,1e9,\n2e8,2e9,3.0\n", [],
                      ["column 'loss' has missing or infinite values in row 0"]),
    "infinite value": ("N,D,loss\n1e8,inf,3.1\n2e8,2e9,3.0\n", [],
                       ["column 'D' has missing or infinite values in row 0"]),
    "negative value": ("N,D,loss\n-1e8,1e9,3.1\n2e8,2e9,3.0\n", [],
                       ["column 'N' must be > 0, but row 0 holds -1e+08"]),
    "two model sizes": (None, [], ["column 'N' has only 2 distinct values",
                                   "needs at least 3 distinct N"]),
    "one group": (None, ["--groups", "family"], ["gives a single group"]),
    "unknown law": (None, ["--law", "chinchila"], ["did you mean 'chinchilla'"]),
    "empty file": ("", [], ["could not read runs file"]),
    "binary garbage": ("\x00\x01\x02\xff", [], ["runs"]),
    "header only": ("N,D,loss\n", [], ["the runs table is empty"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_cli_bad_input_gives_one_message_and_writes_nothing(case, tmp_path, capsys):
    text, extra, parts = BAD_INPUTS[case]
    csv = tmp_path / "runs.csv"
    if text is None:
        sizes = 2 if case == "two model sizes" else 4
        grid_runs(n_sizes=sizes, n_ratios=4).assign(family="only").to_csv(csv, index=False)
    else:
        csv.write_text(text, encoding="latin-1")
    out = tmp_path / "fit.nc"
    assert main(["fit", str(csv), "--out", str(out), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayescale: error:"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]  # nothing written


def test_cli_spec_file_errors(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    grid_runs().to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    bad_key = tmp_path / "bad_key.toml"
    bad_key.write_text("prior = 1\n" + bs.load_spec("chinchilla").to_toml())
    payload = tmp_path / "payload.toml"
    marker = tmp_path / "pwned"
    code = f"__import__('os').mkdir('{marker}')"
    payload.write_text(bs.load_spec("chinchilla").to_toml().replace(
        'dist = "LogNormal"', f'dist = "{code}"', 1))
    for spec, part in ((bad_key, "unknown key(s) ['prior'] (did you mean 'priors'?)"),
                       (payload, "'dist' must be a PyMC distribution name"),
                       (tmp_path / "missing.toml", "does not exist")):
        assert main(["fit", str(csv), "--spec", str(spec), "--out", str(out),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert part in err and "Traceback" not in err, err
    assert not out.exists() and not marker.exists()


def test_cli_prints_data_warnings_then_the_error(tmp_path):
    """In a real shell the warning (bits per byte) and the error (two sizes) both reach the user."""
    csv = tmp_path / "runs.csv"
    bits = grid_runs(n_sizes=2, n_ratios=4).rename(columns={"loss": "val_bpb"})
    bits.to_csv(csv, index=False)
    proc = _cli(["fit", str(csv), "--columns", "val_bpb=loss", "--out",
                 str(tmp_path / "fit.nc"), "--no-progress"])
    assert proc.returncode == 2, proc.stderr
    assert "DataWarning" in proc.stderr and "bits" in proc.stderr
    assert "bayescale: error: column 'N' has only 2 distinct values" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


# ---------------------------------------------------------------------------- loading
@pytest.mark.slow
def test_truncated_or_corrupted_fit_file_is_a_provenance_error(tmp_path, chinchilla_fit):
    path = chinchilla_fit.save(tmp_path / "fit.nc")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProvenanceError, match="not a readable netCDF fit"):
        bs.load_fit(truncated)
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ProvenanceError, match="not a readable netCDF fit"):
        bs.load_fit(garbage)
    assert main(["summary", str(truncated)]) == 2


# ---------------------------------------------------------------------------- sampler trouble
@pytest.mark.slow
def test_failed_diagnostics_are_reported_in_summary_check_cli_and_saved_file(
    tmp_path, chinchilla_runs, capsys
):
    with pytest.warns(bs.ConvergenceWarning, match="effective sample size"):
        fit = bs.fit(chinchilla_runs, draws=20, tune=50, chains=2, seed=1, progressbar=False,
                     prior_draws=0)
    assert fit.status == "failed diagnostics"
    checks = fit.check()
    assert list(checks.index) == ["divergences", "max_rhat", "min_ess_bulk", "min_ess_tail",
                                  "min_bfmi"]
    assert not checks.loc["min_ess_bulk", "ok"]
    assert "Increase draws" in checks.loc["min_ess_bulk", "advice"]
    summary = fit.summary()
    assert summary.attrs["status"] == "failed diagnostics"
    assert "effective sample size is low" in summary.attrs["diagnostics"]
    assert summary.select_dtypes("number").shape == summary.shape  # still a numeric table
    path = fit.save(tmp_path / "fit.nc")
    back = bs.load_fit(path)
    assert back.meta["status"] == "failed diagnostics" and back.status == "failed diagnostics"
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "status: failed diagnostics" in out and "Increase draws" in out


@pytest.mark.slow
def test_retry_raises_target_accept_on_a_hard_posterior():
    """A weakly identified posterior (the data-limited term is nearly flat in D) diverges at a
    low target_accept in the law's own coordinates; retry (the default) refits at 0.99, records
    it, and ends with fewer divergences.  (At target_accept 0.6 the identified coordinates
    diverge on this posterior too: 13 against 3 for seed 4, so the premise uses the natural ones.)

    Measured on 2026-11-29 over seeds 1-5 (300 + 300 draws, natural coordinates): 18, 9, 23, 53, 4
    divergences at target_accept 0.6; 2, 4, 0, 0, 5 at 0.8; none at 0.9 or 0.99.
    """
    runs = hard_runs()
    kw = dict(draws=300, tune=300, seed=4, progressbar=False, prior_draws=0, warn=False,
              target_accept=0.6)
    first = bs.fit(runs, "chinchilla", coordinates="natural", retry=False, **kw)
    assert first.diagnostics.divergences > 0, first.diagnostics
    again = bs.fit(runs, "chinchilla", coordinates="natural", **kw)
    settings = json.loads(again.meta["settings"])
    assert settings["target_accept"] == 0.99
    assert settings["retried"]["target_accept"] == 0.6
    assert settings["retried"]["divergences"] == first.diagnostics.divergences
    assert again.diagnostics.divergences < first.diagnostics.divergences


def hard_runs() -> pd.DataFrame:
    """Chinchilla runs whose D term decays so slowly (beta = 0.03) that it trades off with E."""
    truth = {"E": 1.0, "A": 400.0, "B": 6.0, "alpha": 0.34, "beta": 0.03}
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e7, 1e9, 4), 3)
    D = N * np.tile([5.0, 20.0, 80.0], 4)
    loss = bs.get_law("chinchilla").loss(truth, N=N, D=D) * np.exp(0.01 * rng.standard_normal(12))
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


# ---------------------------------------------------------------------------- Ctrl-C
@pytest.mark.slow
def test_ctrl_c_during_sampling_leaves_no_output(tmp_path):
    """SIGINT while nutpie samples: exit status 130, a clear message, no fit and no temp file.

    nutpie (and PyMC) answer Ctrl-C by returning the draws made so far; bayescale must not
    save that partial posterior as a fit.
    """
    csv = tmp_path / "runs.csv"
    simulate_runs("compute", TRUTH["compute"], seed=0).to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    cli = [sys.executable, "-m", "bayescale.cli", "fit", str(csv), "--law", "compute", "--out",
           str(out), "--draws", "1000000", "--tune", "200", "--no-progress"]
    # started as a terminal starts it: SIGINT at its default disposition.  A test suite launched
    # in the background (``cmd &`` from a script) inherits SIGINT ignored, and so would the
    # command, which Python then leaves ignored: the fit would sample its million draws.
    as_from_a_terminal = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                          "os.execv(sys.executable, sys.argv[1:])")
    proc = subprocess.Popen(
        [sys.executable, "-c", as_from_a_terminal, *cli],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    lines = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "bayescale: sampling" in line:
            break
    assert any("bayescale: sampling" in line for line in lines), "".join(lines)
    time.sleep(3.0)  # well into warm-up / sampling of a million draws
    assert proc.poll() is None, "the fit finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "interrupted; no partial output was written" in stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]  # no fit, no temp file


def test_partial_posterior_from_an_interrupted_sampler_is_refused():
    """PyMC's and nutpie's samplers return partial draws on Ctrl-C; bayescale re-raises."""
    import xarray as xr

    from bayescale.sampling.fit import _check_complete

    tree = xr.DataTree.from_dict({"posterior": xr.Dataset(
        {"a": (("chain", "draw"), np.zeros((4, 120)))})})
    with pytest.raises(KeyboardInterrupt, match="after 120 of 1000 draws"):
        _check_complete(tree, chains=4, draws=1000)
    _check_complete(tree, chains=4, draws=120)


# ---------------------------------------------------------------------------- reproducibility
@pytest.mark.slow
def test_same_seed_gives_identical_fits_across_processes(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    simulate_runs("compute", TRUTH["compute"], seed=1).to_csv(csv, index=False)
    args = ["fit", str(csv), "--law", "compute", "--draws", "200", "--tune", "200",
            "--seed", "5", "--no-progress", "--out"]
    # Machine code comes from the on-disk compile cache; a process that compiles the model
    # itself can differ from cached code in the last bits (numba fast-math), so fill the cache
    # first, then compare two processes that both load it.
    warm = _cli([*args, str(tmp_path / "warm.nc")], timeout=600)
    assert warm.returncode == 0, warm.stderr
    procs = [subprocess.Popen([sys.executable, "-m", "bayescale.cli", *args,
                               str(tmp_path / f"{k}.nc")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ})
             for k in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    a, b = bs.load_fit(tmp_path / "a.nc"), bs.load_fit(tmp_path / "b.nc")
    for name in (*a.law.param_names, "sigma", "nu"):
        assert np.array_equal(a.draws([name])[name], b.draws([name])[name]), name
    pd.testing.assert_frame_equal(a.summary(), b.summary(), check_exact=True)
    summaries = []
    for k in ("a", "b"):
        assert main(["summary", str(tmp_path / f"{k}.nc")]) == 0
        summaries.append(capsys.readouterr().out)
    assert summaries[0] == summaries[1] and "gamma" in summaries[0]
    # seed and versions are recorded
    assert a.meta["seed"] == 5
    versions = json.loads(a.meta["versions"])
    assert {"pymc", "pytensor", "arviz", "numpy", "nutpie"} <= set(versions)
    assert a.meta["bayescale_version"] == bs.__version__
    assert Path(tmp_path / "a.nc").stat().st_size > 0
