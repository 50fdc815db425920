"""Shared fixtures: synthetic runs from known laws and small real fits (real sampler)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

# Small draw counts keep real fits fast; BAYESCALE_TEST_DRAWS raises them for a thorough run.
TEST_DRAWS = int(os.environ.get("BAYESCALE_TEST_DRAWS", "400"))

# Seconds each test file took (setup, call and teardown summed; measured with the README's
# command on 2 cores).  The suite runs its heaviest files first, so that under
# ``-n 2 --dist loadfile --no-loadscope-reorder`` no worker is left with a long file at the end
# while the other idles (xdist's default order, by number of tests, put the few-test notebook
# and hierarchy files last).  Rewrite it after adding a slow file:
# ``BAYESCALE_RECORD_DURATIONS=1 python -m pytest -n 2 --dist loadfile --no-loadscope-reorder``.
DURATIONS = Path(__file__).with_name("durations.json")
_seconds: defaultdict[str, float] = defaultdict(float)


def pytest_collection_modifyitems(config, items):
    """Heaviest test files first (stable: a file's tests keep their order); files not in
    ``durations.json`` (new, or under a second) run last."""
    weight = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    items.sort(key=lambda item: -weight.get(item.nodeid.split("::")[0], 0.0))


def pytest_runtest_logreport(report):
    if os.environ.get("BAYESCALE_RECORD_DURATIONS"):
        _seconds[report.nodeid.split("::")[0]] += report.duration


def pytest_sessionfinish(session):
    """With ``BAYESCALE_RECORD_DURATIONS`` set, rewrite ``durations.json`` (controller only)."""
    if not os.environ.get("BAYESCALE_RECORD_DURATIONS") or hasattr(session.config, "workerinput"):
        return
    out = {k: round(v, 1) for k, v in sorted(_seconds.items(), key=lambda kv: -kv[1]) if v >= 1}
    tmp = DURATIONS.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(DURATIONS)


TRUTH = {
    "chinchilla": {"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366},
    "kaplan": {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.095},
    "compute": {"E": 1.8, "A": 1000.0, "gamma": 0.15},
}


def simulate_runs(law_name: str, truth: dict, *, seed: int, sigma: float = 0.01) -> pd.DataFrame:
    """Runs on a grid of model sizes and tokens-per-parameter, log-normal noise of scale sigma."""
    from bayescale.laws import get_law

    law = get_law(law_name)
    rng = np.random.default_rng(seed)
    N = np.repeat(np.logspace(7, 10, 8), 5)
    D = N * np.tile(np.logspace(np.log10(2), np.log10(200), 5), 8)
    inputs = {"N": N, "D": D} if law.inputs != ("C",) else {"C": 6 * N * D}
    loss = law.loss(truth, **inputs) * np.exp(sigma * rng.standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "C": 6 * N * D, "loss": loss})


@pytest.fixture(scope="session")
def chinchilla_runs() -> pd.DataFrame:
    import bayescale as bs

    return bs.datasets.load("chinchilla", drop_outliers=True)


@pytest.fixture(scope="session")
def chinchilla_fit(chinchilla_runs):
    """The Chinchilla replication fit, shared by tests that only read a posterior."""
    import bayescale as bs

    return bs.fit(chinchilla_runs, "chinchilla", draws=TEST_DRAWS, tune=TEST_DRAWS, seed=11,
                  progressbar=False, prior_draws=200)
