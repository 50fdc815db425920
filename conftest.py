"""Doctest namespace for the examples in bayescale's docstrings (run by ``--doctest-modules``).

Examples use a few names without defining them, as a reader of the docs would have them:

- ``runs``: the bundled Chinchilla runs (outliers dropped);
- ``fit``: the Chinchilla law fitted to ``runs`` at the defaults, seed 0 (4 chains x 1,000
  draws: ``bs.fit(runs, seed=0)``, so the examples show the numbers a reader gets; the compile
  cache makes it a few seconds after the first compile of the model);
- ``fits``: ``{"chinchilla": fit, "kaplan": <the Kaplan law fitted the same way>}``, for
  comparisons.

Numbers that come from the sampler are written to the precision that does not depend on its
floating-point path (``NUMBER`` in ``doctest_optionflags`` compares a float to the digits written,
within one unit of the last): the same fit in a fresh environment with other numpy, numba or
pytensor versions runs different chains, as a different seed would.  Each such example was
checked against the conftest fits with seeds 0-3 (``BAYESCALE_DOCTEST_SEED=1 pytest bayescale``
runs them with seed 1); a number that moved by more than half its last written digit across them
is written with one digit fewer.

Each is created once per session, and only when a collected example uses it. Examples run in a
temporary folder, so those that save files write nothing into the clone.
"""

from __future__ import annotations

import os
import re

import pytest

#: Seed of the doctest fits (0, the number a reader gets; 1-3 check that an example's numbers
#: do not depend on the sampler's path).
SEED = int(os.environ.get("BAYESCALE_DOCTEST_SEED", "0"))

# name in the examples -> fixture that provides it
NAMES = {"runs": "doctest_runs", "fit": "doctest_fit", "fits": "doctest_fits"}


@pytest.fixture(scope="session")
def doctest_runs():
    import bayescale as bs

    return bs.datasets.load("chinchilla", drop_outliers=True)


@pytest.fixture(scope="session")
def doctest_fit(doctest_runs):
    import bayescale as bs

    return bs.fit(doctest_runs, "chinchilla", seed=SEED, progressbar=False)


@pytest.fixture(scope="session")
def doctest_fits(doctest_runs, doctest_fit):
    import bayescale as bs

    kaplan = bs.fit(doctest_runs, "kaplan", seed=SEED, progressbar=False)
    return {"chinchilla": doctest_fit, "kaplan": kaplan}


@pytest.fixture(autouse=True)
def _doctest_setup(request):
    """Give a doctest the names it uses and a temporary working folder; other tests: nothing."""
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        yield
        return
    import matplotlib

    matplotlib.use("Agg")
    namespace = request.getfixturevalue("doctest_namespace")
    source = "\n".join(example.source for example in request.node.dtest.examples)
    for name, fixture in NAMES.items():
        if re.search(rf"(?<![\w.]){name}\b", source):
            namespace[name] = request.getfixturevalue(fixture)
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
