"""What the command line's speed-ups must not change (issue 14: a fast CLI, same results).

The pointwise log-likelihood is computed with numpy from the law's own formula instead of a
compiled PyTensor function; it must give the numbers PyTensor gives (to 1e-10), for the default
fit (Student-t, identified coordinates), a normal likelihood, a hierarchy and a law of compute.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TRUTH, simulate_runs

FIT = dict(draws=60, tune=60, chains=2, progressbar=False, prior_draws=0, retry=False,
           warn=False)


def _model_of_last_fit():
    from bayescale.sampling import fit as fit_module

    model, _ = list(fit_module._COMPILED.values())[-1]  # the model the last fit sampled
    return model


def _runs(case: str):
    import bayescale as bs

    if case == "chinchilla":
        return bs.datasets.load("chinchilla"), {}
    if case == "compute":
        return simulate_runs("compute", TRUTH["compute"], seed=3), {"law": "compute"}
    runs = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=4)
    runs["family"] = np.where(np.arange(len(runs)) % 2 == 0, "a", "b")
    return runs, {"groups": ["family"], "likelihood": "normal"}


@pytest.mark.parametrize("case", ["chinchilla", "hierarchy_normal", "compute"])
def test_numpy_log_likelihood_equals_pytensor(case):
    import xarray as xr

    import bayescale as bs
    from bayescale.sampling import compile_cache as cc
    from bayescale.sampling.compile_cache import log_likelihood_pytensor

    runs, kwargs = _runs(case)
    law = kwargs.pop("law", "chinchilla")
    fit = bs.fit(runs, law, seed=5, **kwargs, **FIT)
    numpy_ll = fit.tree["log_likelihood"]
    reference = xr.DataTree.from_dict({"posterior": fit.tree["posterior"].to_dataset()})
    model = _model_of_last_fit()
    assert cc._numpy_log_likelihood(fit.tree, model) is not None  # the numpy path was taken
    log_likelihood_pytensor(reference, model)
    want = reference["log_likelihood"]
    assert list(numpy_ll.data_vars) == list(want.data_vars) == ["log_loss"]
    a, b = numpy_ll["log_loss"], want["log_loss"]
    assert a.dims == b.dims == ("chain", "draw", "run")
    assert a.shape == (2, 60, len(fit.runs))
    np.testing.assert_array_equal(a["run"], b["run"])
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-10)


def test_graph_key_does_not_probe_the_c_toolchain():
    """Keying a model must not run the C compiler (PyTensor's BLAS probe took ~1 s per CLI fit)."""
    import subprocess
    import sys

    code = (
        "import numpy as np, pytensor\n"
        "from tests.test_compile_cache import _small_model\n"
        "from bayescale.sampling.compile_cache import graph_key\n"
        "graph_key(_small_model(np.array([3.4, 3.1, 2.9, 2.7, 2.5, 2.4])))\n"
        "params = pytensor.config._config_var_dict\n"
        "print(sorted(f for f in ('blas__ldflags', 'gcc_version_str')\n"
        "             if hasattr(params[f], 'val')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv", [
    ["fit", "runs.csv", "--out", "f.nc"],
    ["demo"],
    ["report", "runs.csv"],
    ["compare", "runs.csv", "--laws", "chinchilla,kaplan"],
    ["backtest", "runs.csv", "--laws", "chinchilla"],
    ["sbc"],
])
def test_cli_sampling_flags_are_one_sampling_options(argv):
    """Every sampling command maps its flags onto one SamplingOptions; unset flags stay None
    so the Python function's own defaults apply (fit: 4 x 1000 + 1000; backtest: 400 + 400)."""
    from bayescale.cli import _parser, _sampling_options
    from bayescale.sampling.options import SamplingOptions

    a = _parser().parse_args(argv)
    assert _sampling_options(a) == SamplingOptions(progressbar=True)
    a = _parser().parse_args([*argv, "--draws", "300", "--tune", "200", "--chains", "2",
                              "--sampler", "pymc", "--target-accept", "0.95", "--no-progress"])
    assert _sampling_options(a) == SamplingOptions(draws=300, tune=200, chains=2,
                                                   sampler="pymc", target_accept=0.95,
                                                   progressbar=False)
    # the defaults a fit then takes are bayescale.fit's own
    import inspect

    from bayescale.sampling.fit import fit

    defaults = {k: v.default for k, v in inspect.signature(fit.__wrapped__).parameters.items()}
    assert (defaults["draws"], defaults["tune"], defaults["chains"]) == (1000, 1000, 4)


def test_command_line_exits_fast_with_its_output_and_status(tmp_path):
    """The command line ends with os._exit (no interpreter teardown): its output is still all
    there, in order, and its exit status is the command's."""
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "bayescale", "spec", "compute"],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0
    assert ok.stdout.startswith("# Compute-only law") and ok.stdout.rstrip().endswith("}")
    bad = subprocess.run([sys.executable, "-m", "bayescale", "fit", "missing.csv", "--out",
                          "f.nc"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("bayescale: error: runs file 'missing.csv' does not exist; "
                                  "check the path")
