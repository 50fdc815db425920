"""The same data, spec and seed give the same posterior, bit for bit, whether the sampler's code
was compiled just now, loaded from the on-disk cache by a new process, or re-used in memory by a
later fit in the same process (issue 12, item 7: a cold and a cached compile once gave different
posteriors and 4 vs 1 divergent transitions).

Every posterior variable is compared, whatever its name, so the test does not depend on how the
model is parameterised.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Fits the Chinchilla runs, then half of them (new data through the same compiled model), then
# all of them again with the first seed; saves every posterior and log-likelihood array and the
# divergence flags of the first and the last fit.
_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import bayescale as bs

    runs = bs.datasets.load("chinchilla", drop_outliers=True)
    kw = dict(draws=200, tune=200, chains=2, seed=3, progressbar=False, prior_draws=0)
    arrays = {}

    def record(tag, result):
        tree = result.tree
        for group in ("posterior", "log_likelihood"):
            ds = tree[group]
            for name in ds.data_vars:
                arrays[f"{tag}/{group}/{name}"] = np.asarray(ds[name].values)
        arrays[f"{tag}/diverging"] = np.asarray(tree["sample_stats"]["diverging"].values)

    record("first", bs.fit(runs, "chinchilla", **kw))
    bs.fit(runs.iloc[::2], "chinchilla", **{**kw, "seed": 4})
    record("again", bs.fit(runs, "chinchilla", **kw))
    np.savez(sys.argv[1], **arrays)
""")


def _fit_in_new_process(cache_dir, out):
    flags = ",".join(f for f in (os.environ.get("PYTENSOR_FLAGS", ""),
                                 f"base_compiledir={cache_dir}") if f)
    env = {**os.environ, "PYTENSOR_FLAGS": flags,
           "NUMBA_CACHE_DIR": str(cache_dir / "numba-own")}
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(out)], env=env, cwd=ROOT, text=True,
                       capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _compiled_files(cache_dir):
    return {p.relative_to(cache_dir) for p in cache_dir.rglob("*.nbc")}


def _assert_same(a, b, tag_a, tag_b, what):
    names_a = {k.split("/", 1)[1] for k in a if k.startswith(tag_a + "/")}
    names_b = {k.split("/", 1)[1] for k in b if k.startswith(tag_b + "/")}
    assert names_a == names_b, what
    assert any(n.startswith("posterior/") for n in names_a)
    differ = [n for n in sorted(names_a)
              if not np.array_equal(a[f"{tag_a}/{n}"], b[f"{tag_b}/{n}"])]
    assert not differ, f"{what}: {differ} differ"
    div_a, div_b = int(a[f"{tag_a}/diverging"].sum()), int(b[f"{tag_b}/diverging"].sum())
    assert div_a == div_b, f"{what}: {div_a} vs {div_b} divergent transitions"


@pytest.mark.slow
def test_cold_cached_and_in_memory_compiles_give_the_same_posterior(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cold = _fit_in_new_process(cache, tmp_path / "cold.npz")  # empty cache: compiles, fills it
    filled = _compiled_files(cache)
    assert any("bayescale-nutpie-logp" in str(p) for p in filled)
    warm = _fit_in_new_process(cache, tmp_path / "warm.npz")  # filled cache: loads everything
    assert _compiled_files(cache) == filled, "the second process compiled instead of loading"

    _assert_same(cold, warm, "first", "first", "empty vs filled cache")
    _assert_same(cold, cold, "first", "again", "in-memory re-use (empty cache)")
    _assert_same(warm, warm, "first", "again", "in-memory re-use (filled cache)")
