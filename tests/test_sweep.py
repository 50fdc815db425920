"""Sweeps of independent fits: serial and on a Dask LocalCluster give the same table."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from bayescale.sampling.sweep import fit_task, sweep

# A prior used by no other test, so this model's compiled code is not already in this process
# from another test (see test_dask_and_serial_sweeps_agree).
TEST_PRIOR = {"gamma": {"dist": "LogNormal", "kwargs": {"mu": -1.8971, "sigma": 0.617}}}


def _square(x: float) -> dict:
    if x < 0:
        raise ValueError(f"x must be >= 0, not {x}")
    return {"y": x * x}


def test_serial_sweep_reports_failures_in_their_row():
    out = sweep([{"x": 3}, {"x": -1}, {"x": 0.5}], _square, client="serial")
    assert out["x"].tolist() == [3, -1, 0.5]
    assert out["y"].iloc[[0, 2]].tolist() == [9, 0.25]
    assert np.isnan(out["y"].iloc[1])
    assert out["error"].iloc[1].startswith("ValueError: x must be >= 0, not -1")
    assert out["error"].iloc[[0, 2]].isna().all()
    assert (out["seconds"] >= 0).all()
    assert out["task"].tolist() == [0, 1, 2]


def test_sweep_accepts_a_dataframe_and_keeps_task_columns_apart():
    tasks = pd.DataFrame({"x": np.array([1, 2], dtype=np.int64)})

    def table(x):
        return pd.DataFrame({"x": [x, x], "k": [0, 1]})  # an output column named like an arg

    out = sweep(tasks, table, client="serial")
    assert list(out.columns[:3]) == ["x", "result_x", "k"]
    assert len(out) == 4 and out["error"].isna().all()
    assert isinstance(out["x"].iloc[0], int | np.integer)


def test_sweep_rejects_bad_task_names_and_clients():
    with pytest.raises(ValueError, match="identifiers"):
        sweep([{"not valid": 1}], _square, client="serial")
    pytest.importorskip("distributed")
    with pytest.raises(TypeError, match="scheduler address"):
        sweep([{"x": 1}], _square, client=42)


@pytest.mark.slow
def test_dask_and_serial_sweeps_agree():
    """The same tasks and seeds give bit-identical posteriors serially and on 2 Dask workers.

    Machine code for the model comes from the on-disk compile cache in every process.  A
    process that compiles a model itself (cache miss) can differ from the cached code in the
    last bits (numba/LLVM fast-math), so the cache is filled first in a separate process.
    """
    distributed = pytest.importorskip("distributed")
    kwargs = {"draws": 150, "tune": 150, "chains": 2, "priors": TEST_PRIOR, "warn": False}
    warm = textwrap.dedent(f"""
        from bayescale.sampling.sweep import fit_task
        fit_task("chinchilla", "compute", **{kwargs!r})
    """)
    subprocess.run([sys.executable, "-c", warm], check=True, capture_output=True, timeout=600)

    tasks = [
        {"dataset": "chinchilla", "law": "compute", "cutoff": None, "seed": 1, **kwargs},
        {"dataset": "chinchilla", "law": "compute", "cutoff": 1e21, "seed": 2, **kwargs},
        {"dataset": "no_such_dataset", "law": "compute", "seed": 3, **kwargs},
    ]
    serial = sweep(tasks, fit_task, client="serial")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    try:
        with distributed.Client(cluster) as client:
            parallel = sweep(tasks, fit_task, client=client)
    finally:
        cluster.close()

    cols = ["task", "param", "median", "lo_95", "hi_95", "r_hat", "ess_bulk", "n_train"]
    ok = serial["error"].isna()
    assert ok.sum() == 2 * 5  # two fits x (E, A, gamma, sigma, nu)
    pd.testing.assert_frame_equal(serial.loc[ok, cols].reset_index(drop=True),
                                  parallel.loc[parallel["error"].isna(), cols]
                                  .reset_index(drop=True))
    # the cutoff really cut, and the failed task is one row that names its problem
    n_train = serial.loc[ok].groupby("task")["n_train"].first()
    assert n_train[1] < n_train[0]
    for table in (serial, parallel):
        failed = table[table["error"].notna()]
        assert failed["task"].tolist() == [2]
        assert "no_such_dataset" in failed["error"].iloc[0]


def _settings(x: float, sampling=None) -> dict:
    return {"y": x, "draws": sampling.draws, "chains": sampling.chains}


def test_sweep_hands_one_sampling_options_object_to_every_task():
    """sweep(sampling=...) reaches each task as sampling= (as fit, backtest, learn_discrepancy
    and sbc take it), and is not a column of the table."""
    from bayescale.sampling import SamplingOptions

    out = sweep([{"x": 1.0}, {"x": 2.0}], _settings, client="serial",
                sampling={"draws": 123, "chains": 2})
    assert out["draws"].tolist() == [123, 123] and out["chains"].tolist() == [2, 2]
    assert "sampling" not in out.columns and out["error"].isna().all()
    with pytest.raises(TypeError, match="no field"):
        sweep([{"x": 1.0}], _settings, client="serial", sampling={"draw": 1})
    import inspect

    assert inspect.signature(fit_task).parameters["sampling"].default is None
    assert SamplingOptions.of({"draws": 5}).over(draws=500, tune=500)["draws"] == 5
