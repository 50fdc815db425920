"""bayescale's benchmark suite: one command, one table of medians and ratios.

Every figure is measured against its baseline *in the same run* (the machines are shared and
noisy, so absolute seconds move from run to run; ratios move much less).  Each measurement is
repeated (``--reps``) and the median is printed.  Cold starts run in a new process with empty
PyTensor / numba caches (``PYTENSOR_FLAGS=base_compiledir=<fresh dir>``,
``NUMBA_CACHE_DIR=<fresh dir>``); warm starts run in a new process whose caches were filled by
an earlier run; "in-process" fits re-use the compiled model of an earlier fit in the same
process.  Peak memory is the peak resident set size of the process that did the work.

Items:

1. Time to a full Chinchilla posterior (4 chains x 1000 draws; 240 runs, Besiroglu et al.'s 5
   outliers dropped) vs the anchor procedure of Besiroglu et al. (2024): the 4,500-start
   Huber / L-BFGS grid fit plus 4,000 bootstrap refits (``bayescale.evaluation.baselines``), on
   the same 2 cores.  ``bayescale fit`` on the command line (``dataset:chinchilla``: all 245
   runs, outliers kept), cold and warm, with nutpie (default,
   low-rank mass matrix) and with PyMC's NUTS; and ``bayescale.fit`` in-process.  Interval
   widths of the posterior vs the bootstrap for each parameter and for the predicted loss at
   and beyond the largest runs (where the data are thin).
2. Effective samples per second (bulk ESS of the slowest parameter / sampling time) of each
   sampler backend (nutpie low-rank, nutpie diagonal) against PyMC's default NUTS on the
   same model.
3. Hierarchical fits at 10 / 100 / 1,000 groups and 1e3 / 1e4 / 1e5 runs: time, time per
   gradient and peak memory.
4. Posterior predictive and allocation regret over a 200 x 200 (N, D) grid with 4,000 draws:
   chunked (``bayescale.posterior.grid``) vs ``ScalingFit.predict`` on all points at once.
5. A backtest-style sweep, 3 laws x 5 compute cutoffs x 2 datasets: serial vs a Dask
   ``LocalCluster`` (``bayescale.sampling.sweep``).
6. The default discrepancy's cost: a fit's first prediction beyond its runs learns it (two
   inner leave-future-out fits, or two per group of a hierarchy), once per fit.  Its time
   against the fit's own (4 x 1000), in one process: Chinchilla (``--reps`` fits) and the
   15-group porian hierarchy (one fit; not with ``--quick``).

``discrepancy`` (2026-12-03, 2 cores, nothing else running; ``--only discrepancy --reps 2``, the
code before the update's speed-up, aa7cd35 from a worktree on ``PYTHONPATH``, then 62100a6,
one after the other): Chinchilla's first prediction 5.61 -> 3.30 s (0.60x -> 0.40x of its fit),
the porian hierarchy's 89 -> 54.5 s (3.43x -> 2.01x of its fit).  The update was 83% of a
group's learning (5.1 of 6.2 s, cProfile); it is now about 2.9 s of 3.8 s, the rest the two
inner fits.

Usage::

    python benchmarks/run.py                 # the full suite, < 15 min on 2 cores
    python benchmarks/run.py --quick         # smaller settings, a few minutes
    python benchmarks/run.py --only anchor,posterior --json results.json
    python benchmarks/run.py --only cli --reps 5   # the CLI rows and targets only (~3 min)
    python benchmarks/run.py --only cli_hier       # a hierarchy from the CLI, cold and warm

``cli_hier`` (2026-12-02, 2 cores, load ~1.3; ``bayescale fit dataset:gadre_small --groups
dataset``, 3 groups, 95 runs): cold 29.8 s, warm 10.9 s (median of 3).  Before 64226f9 every
hierarchy compiled twice and never warm-started: nutpie gives the slices of vector variables
as numpy integers, json refused the compile-index entry, and the exception sent the compile to
nutpie's own (a second full compile) in every process.  Measured the same way on the code
before the fix (ef16c55) and after, same machine, one after the other: cold 70.0 -> 30.7 s,
warm 36.8 / 32.3 -> 11.0 / 11.2 s.

The anchor can also be timed on its own, on one core: ``benchmarks/anchor_timing.py``.

The CLI rows again on 2026-12-02 00:35 UTC (load ~1.4, after this session's retry and compile
index changes, which do not touch a single Chinchilla fit): ``--only cli --reps 5`` warm
4.13 s (NOT met), cold 19.2 s (not met), anchor 17.6 s.  The same warm fit from the README's
install (fresh venv, no dask; ``bayescale fit dataset:chinchilla``, six runs one after the
other, load 1.4-1.5): 4.68, 3.88, 3.55, 3.55, 3.55, 3.47 s, median 3.55 s.  The difference is
dask: with it installed (the test extras) xarray imports ``dask.array`` on its first array
check and ``distributed`` on every ``to_netcdf`` (0.3 s of the save).

The CLI rows (issue 14's targets: warm <= 4 s, cold <= 12 s) as last measured, 2026-12-01
20:58 UTC, 2 cores, machine quiet (load ~1.1): ``--only cli --reps 5`` gave warm **3.82 s**
(target met) and cold 18.5 s (not met), anchor 17.9 s.  What changed since 19:00: the prior
draws no longer import ``scipy.stats`` (``bayescale.sampling.prior_rng`` draws SciPy's
half-normal and Student-t numbers with numpy, bit-identical).  Per phase, a warm fit's prior
draws went from 1.5-1.9 s to 0.6-0.75 s; they run while nutpie samples (~1.1 s), so they are
off the critical path now; six interleaved warm pairs (HEAD before / after, load ~1.05):
median 4.45 -> 4.04 s.  Two more runs of the same command on the final code (fffbafe), machine
otherwise idle (load 0.4-1.3): 22:16 UTC warm 4.93 s, cold 17.9 s; 22:19 UTC warm 3.68 s
(five runs 3.57-3.78 s), cold 16.6 s.  So the warm target is met in two of three runs and the
margin is small; the cold target is not met.  In the README's install (no dask), six warm
fits at load 0.4-0.6: 3.65-4.25 s, median 4.02 s.

The same command at 19:00 UTC, 2 cores, machine quiet (load 1.0-1.2): warm 4.23 s
(five runs 3.93-4.53 s), cold 18.6 s (17.9-20.1 s), anchor 19.2 s: 4.5x and 1.0x faster than the
anchor; both targets NOT met.  The same command on the code before that day's changes (4d6c0fb),
also on a quiet machine (17:54, load ~1): warm 5.49 s, cold 26.3 s, anchor 18.4 s; so warm
0.77x and cold 0.71x of before.  Six interleaved warm pairs of the current code with the
prior draws compiled by numba and by PyTensor's Python linker, at load 1.2-1.4: median 4.10 s
against 4.56 s (the Python linker imported ``scipy.stats`` for the half-normal prior, 0.7 s,
which it no longer does).  The Python linker is kept because it saves 4-9 s on every cold
fit, and a runs table with a new number of runs recompiles (244 of the 245 Chinchilla runs
after the 245: 18.8 s, then 8.7 s warm, at load 3).  In the
README's install (no test extras, so no dask) the warm fit is ~0.5 s shorter: 3.7-4.9 s, median
4.15 s at load 1.1-1.3, because xarray imports ``dask.array`` (and, to save, ``distributed``)
whenever dask is installed.

What that day's changes did: ArviZ is no longer imported by a fit (nutpie imports it at module
level for one ``from_dict``; ``bayescale.sampling.nutpie_io`` defers that import and converts
nutpie's raw trace itself, and ``bayescale.posterior.convergence`` computes R-hat, ESS, MCSE and
E-BFMI with ArviZ's numbers in numpy: 1.6 s of the warm fit, more under load); the prior draws
use the Python linker (cold: 38.6 -> 32.0 s and 43.1 -> 33.8 s, paired at load ~3.5) and are
made while nutpie's threads sample; ``arviz_base`` is imported before PyMC (its lazy_loader
calls ``inspect.stack()``, whose cost grows with the loaded modules: 0.2 s early, 0.4-0.9 s
late).

Where a cold fit's time goes (cProfile, load ~4, so about double an idle machine's): numba's
compile of the log density and gradient (the C callback nutpie calls: ~11 s of type inference
and LLVM for 99 graph nodes; NUMBA_OPT=0 or 1 is slower, not faster), of the ``expand``
callback (~2 s), PyTensor's numba code generation and graph rewrites (~4-8 s, with a one-off
0.9 s C build of PyTensor's own helper module in a fresh compile directory).  Reaching 12 s
needs a cheaper compile than numba's of the PyTensor graph; not attempted.
Where a warm fit's time goes (per-phase timer, load ~3): imports ~1.5-2 s (PyMC ~0.6-1.1 s,
with ``pymc.gp`` 0.4 s; pandas, numba), loading the compiled model ~1.5 s (numba's first-use
registry set-up and cache load, the model graph and its key), sampling ~2 s, netCDF save
~1.3 s (62 variables through h5netcdf; dask's scheduler lookup 0.3 s when dask is installed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ITEMS = ("import", "cli", "cli_hier", "posterior", "anchor", "inproc", "grid",
         "hierarchical", "sweep", "discrepancy")
#: The issue's targets for ``bayescale fit`` on the command line (2 cores), in seconds.
CLI_TARGETS = {"warm": 4.0, "cold": 12.0}
PARAMS = ("E", "A", "B", "alpha", "beta")
# Predicted loss: inside the data, at Chinchilla's size, and 10x beyond the largest run.
POINTS = {"in data (1e9, 2e10)": (1e9, 2e10), "Chinchilla (7e10, 1.4e12)": (70e9, 1.4e12),
          "beyond (1e12, 2e13)": (1e12, 2e13)}


# --------------------------------------------------------------------------- workers
# Each worker runs in its own process (``run.py --worker NAME``) and prints one JSON object.


def _chinchilla():
    import bayescale as bs

    return bs.datasets.load("chinchilla", drop_outliers=True)


def _free_min_ess(tree, names) -> float:
    import arviz as az
    import numpy as np

    ds = tree["posterior"].to_dataset()[[n for n in names if n in tree["posterior"].data_vars]]
    ess = az.ess(ds, method="bulk")
    return float(min(np.min(np.asarray(ess[v])) for v in ess.data_vars))


def worker_anchor(a: dict) -> dict:
    import numpy as np

    from bayescale.evaluation import baselines as bl

    runs = _chinchilla()
    N, D, L = (runs[c].to_numpy(float) for c in ("N", "D", "loss"))
    w0, c0 = time.perf_counter(), time.process_time()
    fit = bl.huber_fit(N, D, L, n_jobs=a["n_jobs"])
    w1 = time.perf_counter()
    boot = bl.bootstrap(N, D, L, n_boot=a["n_boot"], seed=0, start=fit, n_jobs=a["n_jobs"])
    w2 = time.perf_counter()
    iv = bl.bootstrap_intervals(boot[list(PARAMS)], level=0.95)
    pred = {}
    for name, (n, d) in POINTS.items():
        loss = boot["E"] + boot["A"] / n ** boot["alpha"] + boot["B"] / d ** boot["beta"]
        pred[name] = [float(np.percentile(loss, 2.5)), float(np.percentile(loss, 97.5))]
    return {"grid_s": w1 - w0, "boot_s": w2 - w1, "total_s": w2 - w0,
            "cpu_parent_s": time.process_time() - c0, "n_starts": fit.n_starts,
            "n_boot": a["n_boot"],
            "params": {k: [float(iv.loc[k, "lower"]), float(iv.loc[k, "upper"])] for k in PARAMS},
            "pred": pred}


def worker_inproc(a: dict) -> dict:
    """In-process fits: bayescale.fit (nutpie), nutpie diagonal, PyMC's default NUTS."""
    t0 = time.perf_counter()
    import nutpie
    import pymc as pm

    import bayescale as bs
    from bayescale.posterior.result import ScalingFit
    from bayescale.sampling import fit as fit_mod

    runs = _chinchilla()
    out: dict[str, Any] = {"import_s": time.perf_counter() - t0}
    draws, tune, reps = a["draws"], a["tune"], a["reps"]
    t = time.perf_counter()
    first = bs.fit(runs, seed=0, draws=draws, tune=tune, progressbar=False)
    out["first_fit_s"] = time.perf_counter() - t
    free = ScalingFit._free_names(first.spec)

    res: dict[str, list] = {k: [] for k in ("fit_s", "lowrank_sample_s", "lowrank_ess",
                                            "diag_sample_s", "diag_ess", "pymc_sample_s",
                                            "pymc_total_s", "pymc_ess", "bsfit_pymc_s")}
    result = first
    for r in range(reps):
        t = time.perf_counter()
        result = bs.fit(runs, seed=r + 1, draws=draws, tune=tune, progressbar=False)
        res["fit_s"].append(time.perf_counter() - t)
        res["lowrank_sample_s"].append(float(result.tree["posterior"].attrs["sampling_time"]))
        res["lowrank_ess"].append(_free_min_ess(result.tree, free))

    model, compiled = next(reversed(fit_mod._COMPILED.values()))
    for r in range(reps):
        t = time.perf_counter()
        tree = nutpie.sample(compiled, draws=draws, tune=tune, chains=4, seed=r + 1,
                             progress_bar=False, adaptation="diag", cores=2)
        res["diag_sample_s"].append(time.perf_counter() - t)
        res["diag_ess"].append(_free_min_ess(tree, free))

    # PyMC's default NUTS on the same model (slow, so fewer repetitions); a short first run
    # fills the compile caches.
    with model:
        pm.sample(draws=20, tune=20, chains=2, cores=2, random_seed=0, progressbar=False,
                  compute_convergence_checks=False)
    for r in range(a["pymc_reps"]):
        t = time.perf_counter()
        with model:
            tree = pm.sample(draws=draws, tune=tune, chains=4, cores=2, random_seed=r + 1,
                             progressbar=False, compute_convergence_checks=False)
        res["pymc_total_s"].append(time.perf_counter() - t)
        res["pymc_sample_s"].append(float(tree["posterior"].attrs["sampling_time"]))
        res["pymc_ess"].append(_free_min_ess(tree, free))
    t = time.perf_counter()
    bs.fit(runs, seed=1, draws=draws, tune=tune, progressbar=False, sampler="pymc")
    res["bsfit_pymc_s"].append(time.perf_counter() - t)
    out.update(res)

    summary = result.summary(ci=0.95)
    out["params"] = {k: [float(summary.loc[k, "lo_95"]), float(summary.loc[k, "hi_95"])]
                     for k in PARAMS}
    pred = result.predict(N=[p[0] for p in POINTS.values()], D=[p[1] for p in POINTS.values()],
                          ci=[0.95]).table
    out["pred"] = {name: [float(pred["lo_95"][i]), float(pred["hi_95"][i])]
                   for i, name in enumerate(POINTS)}
    out["divergences"] = int(result.diagnostics.divergences)
    if a.get("save"):
        result.save(a["save"])
    return out


def worker_grid(a: dict) -> dict:
    import numpy as np

    import bayescale as bs
    from bayescale.decisions.grid import regret_grid
    from bayescale.posterior.grid import predict_grid

    fit = bs.load_fit(a["fit"])
    N, D = np.logspace(8, 12, a["size"]), np.logspace(9, 13.5, a["size"])
    out: dict[str, Any] = {"draws": int(fit.draws(["E"])["E"].size)}
    if a["mode"] == "load":
        return out
    times = []
    for _ in range(a["reps"]):
        t = time.perf_counter()
        if a["mode"] == "predict_chunked":
            table = predict_grid(fit, N, D)
        elif a["mode"] == "regret_chunked":
            table = regret_grid(fit, N, D)
        else:  # the baseline: every draw at every point at once
            n, d = np.meshgrid(N, D, indexing="ij")
            table = fit.predict(N=n.ravel(), D=d.ravel()).table
        times.append(time.perf_counter() - t)
    out["times"] = times
    out["rows"] = len(table)
    return out


def _hier_runs(groups: int, points: int, seed: int = 0):
    """``points`` runs spread over ``groups`` groups (E and alpha vary by group).

    ``bayescale.data.synthetic.simulate_hierarchy`` (used by ``hierarchical_bench.py``) needs
    at least 2 x 2 runs per group; 1,000 groups x 1e3 runs has one, so sizes are drawn here.
    """
    import numpy as np
    import pandas as pd

    from bayescale.laws import get_law

    law = get_law("chinchilla")
    rng = np.random.default_rng(seed)
    g = np.arange(points) % groups
    e = 1.8 * np.exp(0.05 * rng.standard_normal(groups))
    alpha = 0.34 * np.exp(0.05 * rng.standard_normal(groups))
    N = 10 ** rng.uniform(7, 10, points)
    D = N * 10 ** rng.uniform(np.log10(2), np.log10(200), points)
    truth = {"E": e[g], "A": np.full(points, 406.4), "B": np.full(points, 410.7),
             "alpha": alpha[g], "beta": np.full(points, 0.28)}
    loss = law.loss(truth, N=N, D=D) * np.exp(0.01 * rng.standard_normal(points))
    return pd.DataFrame({"N": N, "D": D, "loss": loss, "family": [f"g{i:04d}" for i in g]})


def worker_hier(a: dict) -> dict:
    """One group count, several run counts: compile once, then time the gradient per size.

    Fits of the same structure re-use the compiled model (``bayescale.fit``'s cache swaps
    the data), so only the first size pays the compile.  Sizes listed in ``sample`` also get
    a short NUTS run.
    """
    import resource

    import numpy as np

    import bayescale as bs
    from bayescale.modeling.model import resolve_reference
    from bayescale.sampling import fit as fit_mod

    out = []
    for points in a["points"]:
        runs = _hier_runs(a["groups"], points)
        r: dict[str, Any] = {"points": points}
        t = time.perf_counter()
        spec = fit_mod.resolve_spec("chinchilla", groups=["family"])
        table = fit_mod.prepare_runs(runs, spec, None, 6.0)
        _, compiled = fit_mod._model_for(table, spec, resolve_reference(table, spec), "nutpie")
        r["compile_s"] = time.perf_counter() - t
        x = np.zeros(compiled.n_dim)
        compiled.logp_func(x)
        n_calls = max(3, int(2e6 // points))
        t = time.perf_counter()
        for _ in range(n_calls):
            compiled.logp_func(x)
        r["grad_ms"] = 1e3 * (time.perf_counter() - t) / n_calls
        r["n_dim"] = int(compiled.n_dim)
        if points in a["sample"]:
            t = time.perf_counter()
            result = bs.fit(runs, "chinchilla", groups="family", draws=a["draws"],
                            tune=a["tune"], chains=a["chains"], seed=1, progressbar=False,
                            warn=False, prior_draws=0)
            r["fit_s"] = time.perf_counter() - t
            r["sampling_s"] = float(result.tree["posterior"].attrs["sampling_time"])
            r["mean_steps"] = float(np.asarray(result.tree["sample_stats"]["n_steps"]).mean())
            r["divergences"] = int(result.diagnostics.divergences)
            r["max_rhat"] = float(result.diagnostics.max_rhat)
        # peak resident memory of this process so far (sizes run in increasing order)
        r["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.append(r)
    return {"sizes": out}


def worker_sweep(a: dict) -> dict:
    import numpy as np

    import bayescale as bs
    from bayescale.sampling.sweep import fit_task, sweep

    tasks = []
    for dataset in a["datasets"]:
        c = bs.datasets.load(dataset)["C"].to_numpy(float)
        for cutoff in np.quantile(c, np.linspace(0.5, 0.9, a["cutoffs"])):
            for law in a["laws"]:
                tasks.append({"dataset": dataset, "law": law, "cutoff": float(cutoff),
                              "seed": 0, "draws": a["draws"], "tune": a["tune"],
                              "chains": a["chains"], "prior_draws": 0, "warn": False})
    out: dict[str, Any] = {"tasks": len(tasks)}
    t = time.perf_counter()
    serial = sweep([{**x, "cores": a["chains"]} for x in tasks], fit_task, client="serial")
    out["serial_s"] = time.perf_counter() - t
    t = time.perf_counter()
    parallel = sweep([{**x, "cores": 1} for x in tasks], fit_task, client=None,
                     n_workers=a["workers"], threads_per_worker=1)
    out["dask_s"] = time.perf_counter() - t
    out["serial_failed"] = int(serial.groupby("task")["error"].first().notna().sum())
    out["dask_failed"] = int(parallel.groupby("task")["error"].first().notna().sum())
    return out


def worker_discrepancy(a: dict) -> dict:
    """The first prediction beyond the runs learns the fit's default discrepancy (two inner
    fits per fit, or per group of a hierarchy): its time against the fit's own, in-process."""
    import bayescale as bs
    from bayescale.data.isoflop import isoflop_window

    out: dict[str, Any] = {}
    configs = [("chinchilla", _chinchilla(), [], {"N": 2.8e11, "D": 3e11})]
    if a.get("porian", True):
        runs = isoflop_window(bs.datasets.load("porian", val=None), 0.5)
        configs.append(("porian", runs, ["dataset", "setup"], {"N": 1e10, "D": 2e11}))
    for name, runs, groups, point in configs:
        rec: dict[str, list] = {"fit_s": [], "learn_s": [], "again_s": []}
        for r in range(a["reps"] if not groups else 1):
            t = time.perf_counter()
            fit = bs.fit(runs, groups=groups or None, seed=r, progressbar=False, warn=False)
            rec["fit_s"].append(time.perf_counter() - t)
            labels = list(fit.groups) if groups else [None]
            for key in ("learn_s", "again_s"):  # the first predictions learn, then reuse
                t = time.perf_counter()
                for g in labels:
                    fit.predict(**point, group=g) if g is not None else fit.predict(**point)
                rec[key].append(time.perf_counter() - t)
        rec["groups"] = len(labels)
        out[name] = rec
    return out


WORKERS = {"anchor": worker_anchor, "inproc": worker_inproc, "grid": worker_grid,
           "hier": worker_hier, "sweep": worker_sweep, "discrepancy": worker_discrepancy}


# --------------------------------------------------------------------------- parent side


class Bench:
    def __init__(self, tmp: Path, verbose: bool):
        self.tmp = tmp
        self.verbose = verbose
        self.n_dirs = 0

    def cache_env(self, name: str | None = None) -> dict[str, str]:
        """Environment with PyTensor / numba caches in a named dir (a fresh one if None)."""
        if name is None:
            self.n_dirs += 1
            name = f"fresh{self.n_dirs}"
        d = self.tmp / "caches" / name
        (d / "numba").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        flags = [f for f in env.get("PYTENSOR_FLAGS", "").split(",")
                 if f and not f.startswith("base_compiledir")]
        env["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={d / 'pytensor'}"])
        env["NUMBA_CACHE_DIR"] = str(d / "numba")
        return env

    def process(self, cmd: list[str], env: dict[str, str], timeout: float) -> dict:
        """Run a command; its wall time, peak RSS (MB), exit code and output."""
        out_path = self.tmp / f"out{time.monotonic_ns()}.txt"
        with open(out_path, "w") as out:
            t = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=self.tmp)
            deadline = t + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    status = -9
                    break
                time.sleep(0.05)
            wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status) if status != -9 else -9
        text = out_path.read_text()
        if self.verbose or proc.returncode:
            tail = "\n".join(text.splitlines()[-15:])
            print(f"  [{' '.join(cmd[-4:])}] exit {proc.returncode} in {wall:.1f} s\n{tail}",
                  file=sys.stderr)
        return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "code": proc.returncode,
                "text": text}

    def worker(self, name: str, args: dict, env: dict[str, str], timeout: float = 900) -> dict:
        cmd = [sys.executable, str(HERE / "run.py"), "--worker", name, "--args", json.dumps(args)]
        p = self.process(cmd, env, timeout)
        result = None
        for line in reversed(p["text"].splitlines()):
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                break
        return {**p, "result": result}

    def cli_fit(self, sampler: str, env: dict[str, str], draws: int,
                runs: str = "dataset:chinchilla", extra: tuple[str, ...] = ()) -> dict:
        exe = Path(sys.executable).with_name("bayescale")
        head = [str(exe)] if exe.exists() else [sys.executable, "-m", "bayescale.cli"]
        out = self.tmp / f"fit{time.monotonic_ns()}.nc"
        cmd = [*head, "fit", runs, *extra, "--out", str(out), "--no-progress",
               "--sampler", sampler, "--draws", str(draws), "--tune", str(draws)]
        return self.process(cmd, env, timeout=900)


def _median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller settings (a few minutes)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of each timing")
    ap.add_argument("--only", default=",".join(ITEMS), help=f"comma-separated of {ITEMS}")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--verbose", action="store_true", help="show each process's output")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--args", default="{}", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        result = WORKERS[a.worker](json.loads(a.args))
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    if a.only == "robustness":  # real-data fits at the defaults (not in the default suite)
        return subprocess.call([sys.executable, str(HERE / "robustness.py")])

    only = set(a.only.split(","))
    unknown = only - set(ITEMS)
    if unknown:
        ap.error(f"unknown items {sorted(unknown)}; choose from {ITEMS}")
    quick = a.quick
    reps = a.reps or (2 if quick else 3)
    draws = 1000
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bayescale-bench-"))
    bench = Bench(tmp, a.verbose)
    rows: list[dict] = []
    raw: dict[str, Any] = {"reps": reps, "quick": quick, "cpus": os.cpu_count()}

    def row(item, measure, value, unit, baseline_name="", baseline=float("nan"),
            kind="time", n=1, note=""):
        rows.append({"item": item, "measure": measure, "value": value, "unit": unit,
                     "baseline_name": baseline_name, "baseline": baseline, "kind": kind,
                     "n": n, "note": note})

    def progress(msg):
        print(f"[{time.perf_counter() - start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    try:
        anchor = None
        if "import" in only:
            progress("import time")
            env = bench.cache_env("warm_nutpie")
            base = [bench.process([sys.executable, "-c", "pass"], env, 60)["wall"]
                    for _ in range(reps)]
            imp = [bench.process([sys.executable, "-c", "import bayescale"], env, 60)["wall"]
                   for _ in range(reps)]
            row("import", "python -c 'import bayescale'", _median(imp), "s",
                "python -c pass", _median(base), kind="info", n=reps)
            raw["import"] = {"bare": base, "bayescale": imp}

        if "anchor" in only or "posterior" in only or "inproc" in only or "cli" in only:
            progress("anchor: Huber grid fit + bootstrap (2 processes)")
            n_boot = 400 if quick else 4000
            w = bench.worker("anchor", {"n_boot": n_boot, "n_jobs": 2}, bench.cache_env("x"))
            anchor = w["result"]
            raw["anchor"] = anchor
            if anchor:
                scale = 4000 / n_boot
                anchor_s = anchor["grid_s"] + anchor["boot_s"] * scale
                note = "" if n_boot == 4000 else f"bootstrap scaled from {n_boot} refits"
                row("anchor", "4,500-start grid fit (2 cores)", anchor["grid_s"], "s",
                    kind="info")
                row("anchor", "4,000 bootstrap refits (2 cores)", anchor["boot_s"] * scale, "s",
                    kind="info", note=note)
                row("anchor", "grid + bootstrap = time to intervals", anchor_s, "s",
                    kind="info", note=note)

        anchor_total = (anchor["grid_s"] + anchor["boot_s"] * 4000 / anchor["n_boot"]
                        if anchor else float("nan"))

        if "posterior" in only or "cli" in only:
            # "cli" alone: the default sampler only (PyMC's NUTS takes minutes per fit)
            for sampler in ("nutpie", "pymc") if "posterior" in only else ("nutpie",):
                # a cold start (empty caches) costs ~40 s: repeated for the default sampler only
                n_cold = reps if sampler == "nutpie" else 1
                n_warm = reps if sampler == "nutpie" else 1
                progress(f"CLI fit, {sampler}: {n_cold} cold + {n_warm} warm")
                cold = []
                for i in range(n_cold):  # the first cold run fills the warm cache
                    env = bench.cache_env(f"warm_{sampler}" if i == 0 else None)
                    if sampler == "nutpie" and i == 0:
                        # the import item may have created this dir; start it empty
                        shutil.rmtree(tmp / "caches" / "warm_nutpie", ignore_errors=True)
                        env = bench.cache_env("warm_nutpie")
                    cold.append(bench.cli_fit(sampler, env, draws))
                warm = [bench.cli_fit(sampler, bench.cache_env(f"warm_{sampler}"), draws)
                        for _ in range(n_warm)]
                raw[f"cli_{sampler}"] = {"cold": [c["wall"] for c in cold],
                                         "warm": [c["wall"] for c in warm],
                                         "codes": [c["code"] for c in cold + warm]}
                for label, runs in (("cold", cold), ("warm", warm)):
                    ok = [r["wall"] for r in runs if r["code"] == 0]
                    note = "" if len(ok) == len(runs) else "some runs failed"
                    if sampler == "nutpie":
                        note = "; ".join(x for x in (f"target <= {CLI_TARGETS[label]:g} s", note)
                                         if x)
                    row("posterior", f"CLI fit end to end, {label}, {sampler}", _median(ok), "s",
                        "anchor", anchor_total, n=len(ok), note=note)

        if "cli_hier" in only:
            # a hierarchy from the command line: Gadre et al.'s 3 training sets (95 runs);
            # the first process compiles (empty caches), the next ones load the compile index
            progress(f"CLI hierarchical fit (gadre_small by dataset): 1 cold + {reps} warm")
            shutil.rmtree(tmp / "caches" / "hier", ignore_errors=True)
            args = ("dataset:gadre_small", ("--groups", "dataset"))
            cold = bench.cli_fit("nutpie", bench.cache_env("hier"), draws, *args)
            warm = [bench.cli_fit("nutpie", bench.cache_env("hier"), draws, *args)
                    for _ in range(reps)]
            raw["cli_hier"] = {"cold": cold["wall"], "warm": [w["wall"] for w in warm],
                               "codes": [c["code"] for c in [cold, *warm]]}
            ok = [w["wall"] for w in warm if w["code"] == 0]
            row("cli_hier", "CLI hierarchical fit, cold (empty caches)", cold["wall"], "s",
                note="" if cold["code"] == 0 else "failed")
            row("cli_hier", "CLI hierarchical fit, warm (compile index)", _median(ok), "s",
                "cold", cold["wall"], n=len(ok))

        inproc = None
        if "inproc" in only or "grid" in only:
            progress("in-process fits: bayescale.fit, nutpie diag, PyMC default NUTS")
            fit_path = tmp / "chinchilla_fit.nc"
            w = bench.worker("inproc", {"draws": draws, "tune": draws, "reps": reps,
                                        "pymc_reps": max(1, reps - 1), "save": str(fit_path)},
                             bench.cache_env("warm_nutpie"))
            inproc = w["result"]
            raw["inproc"] = inproc
        if inproc and "inproc" in only:
            row("posterior", "bayescale.fit in-process (model compiled), nutpie",
                _median(inproc["fit_s"]), "s", "anchor", anchor_total, n=reps)
            row("posterior", "bayescale.fit in-process (model compiled), pymc",
                _median(inproc["bsfit_pymc_s"]), "s", "anchor", anchor_total,
                n=len(inproc["bsfit_pymc_s"]))
            row("posterior", "nutpie sampling only (4 x 1000 + 1000 tune)",
                _median(inproc["lowrank_sample_s"]), "s", "anchor", anchor_total, n=reps)
            pymc_rate = _median([e / s for e, s in zip(inproc["pymc_ess"],
                                                       inproc["pymc_sample_s"], strict=True)])
            for key, label in (("lowrank", "nutpie low-rank (default)"),
                               ("diag", "nutpie diagonal")):
                rate = [e / s for e, s in zip(inproc[f"{key}_ess"], inproc[f"{key}_sample_s"],
                                              strict=True)]
                row("ESS/s", f"{label}: min bulk ESS / sampling s", _median(rate), "1/s",
                    "PyMC default NUTS", pymc_rate, kind="rate", n=reps,
                    note=f"min ESS {_median(inproc[f'{key}_ess']):.0f}")
            row("ESS/s", "PyMC default NUTS: min bulk ESS / sampling s", pymc_rate, "1/s",
                kind="info", n=reps, note=f"min ESS {_median(inproc['pymc_ess']):.0f}, "
                f"sampling {_median(inproc['pymc_sample_s']):.1f} s")
            if anchor:
                for k in PARAMS:
                    wp = inproc["params"][k][1] - inproc["params"][k][0]
                    wb = anchor["params"][k][1] - anchor["params"][k][0]
                    row("intervals", f"95% width of {k}", wp, "", "bootstrap", wb, kind="width")
                for k in POINTS:
                    wp = inproc["pred"][k][1] - inproc["pred"][k][0]
                    wb = anchor["pred"][k][1] - anchor["pred"][k][0]
                    row("intervals", f"95% width of loss at {k}", wp, "", "bootstrap", wb,
                        kind="width")

        if "grid" in only and inproc:
            size = 100 if quick else 200
            progress(f"{size} x {size} grid, {draws * 4} draws")
            env = bench.cache_env("warm_nutpie")
            fit_path = str(tmp / "chinchilla_fit.nc")
            base = bench.worker("grid", {"fit": fit_path, "size": size, "mode": "load",
                                         "reps": 1}, env)
            res = {}
            for mode in ("predict_chunked", "regret_chunked", "predict_all_at_once"):
                r = 1  # each is one long measurement (tens of seconds)
                res[mode] = bench.worker("grid", {"fit": fit_path, "size": size, "mode": mode,
                                                  "reps": r}, env)
            raw["grid"] = {k: {"rss_mb": v["rss_mb"], "result": v["result"]}
                           for k, v in {**res, "load": base}.items()}
            ref = res["predict_all_at_once"]
            ref_t = _median(ref["result"]["times"]) if ref["result"] else float("nan")
            for mode, label in (("predict_chunked", "posterior predictive, chunked"),
                                ("regret_chunked", "allocation regret, chunked")):
                if res[mode]["result"]:
                    row("grid", f"{label} (time)", _median(res[mode]["result"]["times"]), "s",
                        "predict() all at once", ref_t)
                    row("grid", f"{label} (peak memory)", res[mode]["rss_mb"], "MB",
                        "predict() all at once", ref["rss_mb"], kind="memory",
                        note=f"process after loading the fit: {base['rss_mb']:.0f} MB")

        if "hierarchical" in only:
            h_draws = 100
            groups_list, points = ((10, 100), [1000, 10000]) if quick else (
                (10, 100, 1000), [1000, 10000, 100000])
            progress(f"hierarchical: {groups_list} groups x {points} runs (compile, gradient; "
                     f"2 chains x {h_draws} draws at 1e3 runs and <= 100 groups)")
            env = bench.cache_env("warm_hier")
            raw["hierarchical"] = []
            base = None
            for groups in groups_list:
                sample = [1000] if groups <= 100 else []
                w = bench.worker("hier", {"groups": groups, "points": points, "draws": h_draws,
                                          "tune": h_draws, "chains": 2, "sample": sample},
                                 env, timeout=400)
                raw["hierarchical"].append({"groups": groups, "result": w["result"]})
                if w["result"] is None:
                    row("hierarchical", f"{groups} groups", float("nan"), "ms", kind="info",
                        note="failed or timed out (400 s)")
                    continue
                for r in w["result"]["sizes"]:
                    base = base or r["grad_ms"]
                    note = (f"{r['n_dim']} dims, compile {r['compile_s']:.1f} s, "
                            f"peak {r['peak_mb']:.0f} MB")
                    if "fit_s" in r:
                        note += (f"; fit {r['fit_s']:.0f} s ({r['mean_steps']:.0f} steps/draw, "
                                 f"{r['divergences']} div, R-hat {r['max_rhat']:.2f})")
                    row("hierarchical", f"{groups} groups x {r['points']:.0e} runs: logp+grad",
                        r["grad_ms"], "ms", "10 x 1e3", base, kind="growth", note=note)

        if "discrepancy" in only:
            progress("the default discrepancy: first prediction beyond the runs vs the fit "
                     "(chinchilla; porian, 15 groups)")
            w = bench.worker("discrepancy", {"reps": reps, "porian": not quick},
                             bench.cache_env("warm_nutpie"), timeout=1200)
            raw["discrepancy"] = r = w["result"]
            for name, rec in (r or {}).items():
                what = f"{name}, {rec['groups']} groups" if rec["groups"] > 1 else name
                fit_s = _median(rec["fit_s"])
                row("discrepancy", f"{what}: first prediction (learns it)",
                    _median(rec["learn_s"]), "s", "the fit", fit_s, n=len(rec["learn_s"]),
                    kind="info",
                    note=f"fit {fit_s:.1f} s; later predictions {_median(rec['again_s']):.2f} s")

        if "sweep" in only:
            cfg = {"datasets": ["chinchilla", "gadre_small"], "laws": ["chinchilla", "kaplan",
                                                                       "compute"],
                   "cutoffs": 2 if quick else 5, "draws": 100, "tune": 100, "chains": 2,
                   "workers": 2}
            progress("sweep: serial vs Dask LocalCluster")
            w = bench.worker("sweep", cfg, bench.cache_env("warm_nutpie"), timeout=900)
            r = w["result"]
            raw["sweep"] = r
            if r:
                row("sweep", f"{r['tasks']} fits on a Dask LocalCluster (2 workers)",
                    r["dask_s"], "s", "serial", r["serial_s"],
                    note=f"failed fits: {r['dask_failed']} dask, {r['serial_failed']} serial")
    finally:
        raw["total_s"] = time.perf_counter() - start
        _print_table(rows, raw)
        if a.json:
            Path(a.json).write_text(json.dumps({"rows": rows, "raw": raw}, indent=1,
                                               default=str))
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _print_table(rows: list[dict], raw: dict) -> None:
    """Value, baseline and the ratio in the direction that reads naturally for each kind."""
    print()
    print(f"bayescale benchmarks: {raw.get('cpus')} CPUs, {raw.get('reps')} repetitions "
          f"(medians){', --quick' if raw.get('quick') else ''}; total "
          f"{raw.get('total_s', float('nan')):.0f} s")
    head = f"{'item':<13} {'measure':<58} {'median':>10} {'baseline':>18} {'ratio':>15}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        v, b = r["value"], r["baseline"]
        value = f"{v:.3g} {r['unit']}".strip() if not math.isnan(v) else "n/a"
        base = f"{r['baseline_name']} {b:.3g}" if not math.isnan(b) else ""
        ratio = ""
        if not (math.isnan(b) or math.isnan(v)) and v > 0:
            if r["kind"] == "time":
                ratio = f"{b / v:.2f}x faster"
            elif r["kind"] == "rate":
                ratio = f"{v / b:.2f}x"
            elif r["kind"] == "width":
                ratio = f"{v / b:.2f}x as wide"
            elif r["kind"] == "memory":
                ratio = f"{v / b:.2f}x memory"
            elif r["kind"] == "growth":
                ratio = f"{v / b:.1f}x the time"
            else:
                ratio = f"{v / b:.2f}x"
        print(f"{r['item']:<13} {r['measure']:<58} {value:>10} {base:>18} {ratio:>15}  "
              f"{r['note']}")
    _print_targets(rows)


def _print_targets(rows: list[dict]) -> None:
    """The issue's targets (2 cores), met or not, from this run's rows."""
    by = {r["measure"]: r for r in rows}

    def value(measure):
        r = by.get(measure)
        return r["value"] if r else float("nan")

    anchor = value("grid + bootstrap = time to intervals")
    checks = [
        (f"warm CLI fit (4 x 1000) <= {CLI_TARGETS['warm']:g} s",
         value("CLI fit end to end, warm, nutpie"), CLI_TARGETS["warm"], "<="),
        (f"cold CLI fit <= {CLI_TARGETS['cold']:g} s", value("CLI fit end to end, cold, nutpie"),
         CLI_TARGETS["cold"], "<="),
        ("time to intervals >= 10x faster than the anchor (warm CLI)",
         anchor / value("CLI fit end to end, warm, nutpie"), 10.0, ">="),
        ("time to intervals >= 10x faster than the anchor (in-process fit)",
         anchor / value("bayescale.fit in-process (model compiled), nutpie"), 10.0, ">="),
        ("ESS/s >= 3x PyMC's default NUTS",
         value("nutpie low-rank (default): min bulk ESS / sampling s")
         / value("PyMC default NUTS: min bulk ESS / sampling s"), 3.0, ">="),
    ]
    print("\ntargets (2 cores):")
    for label, v, goal, op in checks:
        if math.isnan(v):
            verdict = "not measured"
        else:
            met = v <= goal if op == "<=" else v >= goal
            verdict = f"{'MET' if met else 'NOT MET'} ({v:.3g})"
        print(f"  {label:<66} {verdict}")


if __name__ == "__main__":
    sys.exit(main())
