"""Run many independent fits (backtests, law x dataset grids, per-family fits, SBC) on Dask.

:func:`sweep` sends one task per fit to a ``dask.distributed`` cluster: a ``LocalCluster`` on
this machine by default, or any running scheduler (``client="tcp://host:8786"``), so the same
call runs on a laptop or a multi-node cluster.  Results come back as one tidy
``pandas.DataFrame`` with the task's arguments as columns; a task that raises is reported in
its own row (``error`` column) instead of crashing the sweep.  ``client="serial"`` runs the
same tasks one after another in this process, which gives the same results for the same seeds.

Dask is an optional dependency: ``pip install "bayescale[dask]"``.  A ``LocalCluster`` starts
its worker processes by importing your script, so in a script call :func:`sweep` under
``if __name__ == "__main__":`` (notebooks need nothing special).

Each fit samples its chains in parallel threads (nutpie), so on a small machine the sweep runs
one single-threaded worker process per core (``threads_per_worker=1``) and the task function
should sample with ``cores=1``; :func:`fit_task` does.  Compiled models are cached on disk
(:mod:`bayescale.sampling.compile_cache`), so only the first fit of each model structure on a
machine pays the compile.
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["fit_task", "sweep"]


def fit_task(
    dataset: str,
    law: str = "chinchilla",
    *,
    cutoff: float | None = None,
    by: str = "C",
    seed: int = 0,
    draws: int = 500,
    tune: int = 500,
    chains: int = 4,
    cores: int = 1,
    sampling: Any = None,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Fit ``law`` to a bundled dataset (optionally only the runs with ``by <= cutoff``).

    The default task of :func:`sweep`: one row per natural parameter with the posterior
    median, 95% interval, R-hat and bulk ESS, plus the fit's divergences and the number of
    training runs.

    Parameters
    ----------
    dataset : str
        Name for :func:`bayescale.datasets.load` (``"chinchilla"``...).
    law : str
        Law or built-in spec name.
    cutoff : float, optional
        Keep only the runs with ``by <= cutoff`` (a leave-future-out training split).
    by : str
        Column the cutoff applies to (``"C"``, ``"N"``...).
    seed, draws, tune, chains, cores, **fit_kwargs
        Passed to :func:`bayescale.fit` (``cores=1``: one thread per task, see module notes).
    sampling : SamplingOptions or dict, optional
        The sampler settings as one object (:class:`bayescale.sampling.SamplingOptions`), as
        :func:`bayescale.fit` takes them: a field that is set replaces ``draws``, ``tune``...;
        a field left None keeps this task's default (500 draws and warm-up, 4 chains, 1 core,
        no progress bar).

    Returns
    -------
    pandas.DataFrame
        Columns ``param``, ``median``, ``lo_95``, ``hi_95``, ``r_hat``, ``ess_bulk``,
        ``divergences``, ``n_train``.

    Examples
    --------
    >>> from bayescale.sampling.sweep import fit_task
    >>> fit_task("chinchilla", "compute", draws=200, tune=200)   # doctest: +SKIP
    """
    from bayescale.data.datasets import load
    from bayescale.sampling.fit import fit

    runs = load(dataset)
    if cutoff is not None:
        if by not in runs.columns:
            raise ValueError(
                f"cutoff column {by!r} is not in dataset {dataset!r}; it has {list(runs.columns)}"
            )
        runs = runs[runs[by] <= cutoff]
    fit_kwargs.setdefault("progressbar", False)
    if sampling is not None:
        fit_kwargs["sampling"] = sampling
    result = fit(runs, law, seed=seed, draws=draws, tune=tune, chains=chains, cores=cores,
                 **fit_kwargs)
    table = result.summary(ci=0.95)
    out = table[["median", "lo_95", "hi_95", "r_hat", "ess_bulk"]].rename_axis("param")
    out = out.reset_index()
    out["divergences"] = int(result.diagnostics.divergences)
    out["n_train"] = len(result.runs)
    return out


def _tidy(task: Mapping[str, Any], value: Any) -> pd.DataFrame:
    """One task's output as rows: DataFrame as is, dict/Series as one row, else ``value``."""
    if isinstance(value, pd.DataFrame):
        out = value.reset_index(drop=True).copy()
    elif isinstance(value, pd.Series):
        out = value.to_frame().T.reset_index(drop=True)
    elif isinstance(value, Mapping):
        out = pd.DataFrame([dict(value)])
    else:
        out = pd.DataFrame({"value": [value]})
    clash = [k for k in task if k in out.columns]
    if clash:
        out = out.rename(columns={k: f"result_{k}" for k in clash})
    for i, (k, v) in enumerate(task.items()):
        out.insert(i, k, [v] * len(out) if len(out) else [])
    return out


def _run_task(fn: Callable[..., Any], task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one task, never raising: the output or the error, its warnings and its wall time."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value, error = fn(**task), None
        except Exception as exc:  # a failed fit is a row, not a crashed sweep
            value = None
            error = f"{type(exc).__name__}: {exc}"
            frames = traceback.extract_tb(exc.__traceback__)
            if frames:
                error += f" (at {frames[-1].name}, line {frames[-1].lineno})"
    messages = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                       for w in caught})
    return {"value": value, "error": error, "warnings": "; ".join(messages),
            "seconds": time.perf_counter() - start}


def _as_tasks(tasks: Iterable[Mapping[str, Any]] | pd.DataFrame) -> list[dict[str, Any]]:
    if isinstance(tasks, pd.DataFrame):
        rows = tasks.to_dict(orient="records")
    else:
        rows = [dict(t) for t in tasks]
    for i, t in enumerate(rows):
        for k in t:
            if not isinstance(k, str) or not k.isidentifier():
                raise ValueError(f"task {i} has argument name {k!r}; names must be identifiers")
        for k, v in list(t.items()):  # numpy scalars from DataFrames -> plain Python
            if isinstance(v, np.generic):
                t[k] = v.item()
    return rows


def sweep(
    tasks: Iterable[Mapping[str, Any]] | pd.DataFrame,
    fn: Callable[..., Any] = fit_task,
    *,
    client: Any = None,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    retries: int = 0,
    sampling: Any = None,
) -> pd.DataFrame:
    """Run ``fn(**task)`` for every task, on Dask (default) or serially, as one tidy table.

    Parameters
    ----------
    tasks : iterable of mappings, or DataFrame
        Keyword arguments of each call, e.g. ``[{"dataset": "chinchilla", "law": "kaplan",
        "cutoff": 1e21, "seed": 0}, ...]``; a DataFrame gives one task per row.  Put seeds in
        the tasks: results do not depend on which worker runs a task or in which order.
    fn : callable
        Module-level function (so worker processes can import it) returning a DataFrame, a
        dict / Series (one row) or a scalar (column ``value``).  Default :func:`fit_task`.
    client : None, str, "serial" or distributed.Client
        ``None``: start a ``LocalCluster`` of processes for this sweep and close it after.  A
        scheduler address (``"tcp://10.0.0.5:8786"``) or a ``distributed.Client``: use that
        cluster.  ``"serial"``: run in this process, one task after another.
    n_workers : int, optional
        Worker processes of the ``LocalCluster`` (default: one per core).
    threads_per_worker : int
        Threads per ``LocalCluster`` worker (1: each fit samples on its own core).
    retries : int
        Times Dask re-runs a task whose *worker died* (a raised exception is not retried; it
        is reported in the ``error`` column).
    sampling : SamplingOptions or dict, optional
        Sampler settings for every task (:class:`bayescale.sampling.SamplingOptions`), passed
        to ``fn`` as ``sampling=`` (so ``fn`` must take it, as :func:`fit_task` does); a field
        left None keeps ``fn``'s own default.  Not a column of the table.

    Returns
    -------
    pandas.DataFrame
        For each task, in task order, the rows of its output with the task's arguments as the
        leading columns (an output column with the same name as an argument becomes
        ``result_<name>``), then ``task`` (its index), ``error`` (None, or the exception type
        and message), ``warnings`` (warnings the task emitted) and ``seconds`` (its wall
        time).  A failed task gives one row with ``error`` set.

    Raises
    ------
    ImportError
        If Dask is needed but not installed (``pip install "bayescale[dask]"``).

    Examples
    --------
    >>> from bayescale.sampling.sweep import sweep
    >>> tasks = [{"dataset": "chinchilla", "law": law, "seed": 0}
    ...          for law in ("chinchilla", "kaplan", "compute")]
    >>> table = sweep(tasks)                                   # doctest: +SKIP
    >>> ok = table[table.error.isna()]                         # doctest: +SKIP
    >>> ok.pivot(index="param", columns="law", values="median")  # doctest: +SKIP
    >>> sweep(tasks, client="tcp://scheduler:8786")            # doctest: +SKIP

    A function of your own, with a failing task reported rather than raised:

    >>> def square(x):
    ...     if x < 0:
    ...         raise ValueError(f"x must be >= 0, not {x}")
    ...     return {"y": x * x}
    >>> out = sweep([{"x": 2}, {"x": -1}], square, client="serial")
    >>> out["y"].tolist()
    [4.0, nan]
    >>> out["error"].iloc[1].startswith("ValueError: x must be >= 0, not -1")
    True
    """
    rows = _as_tasks(tasks)
    if sampling is not None:
        from functools import partial

        from bayescale.sampling.options import SamplingOptions

        fn = partial(fn, sampling=SamplingOptions.of(sampling))
    if isinstance(client, str) and client == "serial":
        outputs = [_run_task(fn, t) for t in rows]
    else:
        outputs = _run_on_dask(fn, rows, client=client, n_workers=n_workers,
                               threads_per_worker=threads_per_worker, retries=retries)
    frames = []
    for i, (task, out) in enumerate(zip(rows, outputs, strict=True)):
        part = (_tidy(task, out["value"]) if out["error"] is None
                else _tidy(task, {}))
        if not len(part):  # an empty output still gets a row saying so
            part = _tidy(task, {})
        part["task"] = i
        part["error"] = out["error"]
        part["warnings"] = out["warnings"]
        part["seconds"] = out["seconds"]
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=["task", "error", "warnings", "seconds"])
    return pd.concat(frames, ignore_index=True, sort=False)


def _run_on_dask(fn, rows, *, client, n_workers, threads_per_worker, retries):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(
            'sweep() runs on Dask, which is not installed: pip install "bayescale[dask]" '
            '(or pass client="serial" to run the tasks in this process)'
        ) from None
    own_cluster = own_client = None
    if client is None:
        import os

        own_cluster = LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
        )
        client = own_client = Client(own_cluster)
    elif isinstance(client, str):
        client = own_client = Client(client)
    elif not isinstance(client, Client):
        raise TypeError(
            f"client must be None, a scheduler address, 'serial' or a distributed.Client, "
            f"not {type(client).__name__}"
        )
    try:
        futures = [client.submit(_run_task, fn, t, pure=False, retries=retries) for t in rows]
        outputs = []
        for fut in futures:
            try:
                outputs.append(fut.result())
            except Exception as exc:  # the worker died (segfault, out of memory...)
                outputs.append({"value": None, "error": f"{type(exc).__name__}: {exc}",
                                "warnings": "", "seconds": float("nan")})
        return outputs
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
