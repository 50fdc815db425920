"""The on-disk cached nutpie wrapper computes the model's log density and is re-used by a new
process (its machine code is loaded, not compiled)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest


def _small_model(loss):
    import pandas as pd

    from bayescale.modeling.model import build_model
    from bayescale.sampling.fit import resolve_spec

    runs = pd.DataFrame({"N": [1e8, 3e8, 1e9, 3e9, 1e10, 3e10], "D": [2e9, 6e9, 2e10, 6e10,
                                                                      2e11, 6e11],
                         "loss": loss})
    spec = resolve_spec("chinchilla")
    return build_model(runs, spec, reference={"N": 1e9, "D": 1e10})


def _call_logp(compiled, x):
    """Call the compiled C callback the way nutpie's sampler does."""
    cfunc = compiled.compiled_logp_func.ctypes
    grad = np.zeros_like(x)
    logp = np.zeros(1)
    dp = ctypes.POINTER(ctypes.c_double)
    code = cfunc(x.size, x.ctypes.data_as(dp), grad.ctypes.data_as(dp), logp.ctypes.data_as(dp),
                 ctypes.c_void_p(compiled.user_data.ctypes.data))
    return code, float(logp[0]), grad


@pytest.mark.slow
def test_cached_wrapper_matches_pytensor_and_follows_new_data():
    from bayescale.sampling.compile_cache import compile_nutpie

    loss = np.array([3.4, 3.1, 2.9, 2.7, 2.5, 2.4])
    model = _small_model(loss)
    compiled = compile_nutpie(model)
    assert type(compiled.compiled_logp_func).__name__ == "CFunc"
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = 0.3 * rng.standard_normal(compiled.n_dim)
        code, logp, grad = _call_logp(compiled, x)
        ref_logp, ref_grad = compiled.logp_func(x)
        assert code == 0
        assert np.isclose(logp, ref_logp, rtol=1e-10)
        assert np.allclose(grad, ref_grad, rtol=1e-8, atol=1e-10)

    # new observations through with_data, as bayescale.fit does on a refit
    y_new = np.log(loss * 1.05)
    moved = compiled.with_data(y=y_new)
    shared = {v.name: v for v in compiled.logp_func.get_shared()}
    old = shared["y"].get_value()
    shared["y"].set_value(y_new)
    try:
        ref_logp, ref_grad = compiled.logp_func(x)
    finally:
        shared["y"].set_value(old)
    code, logp, grad = _call_logp(moved, x)
    assert code == 0 and np.isclose(logp, ref_logp, rtol=1e-10)
    assert not np.isclose(logp, _call_logp(compiled, x)[1])


@pytest.mark.slow
def test_a_new_process_loads_the_wrapper_from_the_cache(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from bayescale.sampling.compile_cache import compile_nutpie
        from tests.test_compile_cache import _small_model
        c = compile_nutpie(_small_model(np.array([3.4, 3.1, 2.9, 2.7, 2.5, 2.4])))
        print("hits", c.compiled_logp_func.cache_hits, c.compiled_expand_func.cache_hits)
    """)
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, cwd=root, text=True,
                           capture_output=True, timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    hits = [r.stdout.split("hits")[-1].split() for r in runs]
    assert hits[0] == ["0", "0"]  # first process: compiled, and written to the cache
    assert hits[1] == ["1", "1"]  # second process: both callbacks loaded from it
    assert any(p.name.startswith("bayescale-nutpie-logp") for p in tmp_path.rglob("*.nbi"))


@pytest.mark.slow
def test_cached_log_likelihood_equals_pymc_after_refits(chinchilla_runs):
    """Refits re-use the model (the log-likelihood follows its data swap); numbers equal PyMC's
    own (computed with numpy from the law's formula since the CLI speed-up: to 1e-10 of PyMC
    under the same no-fastmath flags, and of PyMC's fastmath default)."""
    import pymc as pm

    import bayescale as bs
    from bayescale.sampling import fit as fit_mod
    from bayescale.sampling.compile_cache import strict_math

    for runs in (chinchilla_runs, chinchilla_runs.iloc[:150], chinchilla_runs.iloc[40:]):
        result = bs.fit(runs, "chinchilla", draws=100, tune=100, chains=2, progressbar=False,
                        warn=False, prior_draws=0, retry=False)
        model, _ = next(reversed(fit_mod._COMPILED.values()))
        ours = result.tree["log_likelihood"]["log_loss"]
        with strict_math():
            theirs = pm.compute_log_likelihood(result.tree.copy(), model=model,
                                               progressbar=False,
                                               extend_inferencedata=False)["log_loss"]
        default = pm.compute_log_likelihood(result.tree.copy(), model=model, progressbar=False,
                                            extend_inferencedata=False)["log_loss"]
        assert ours.shape == (2, 100, len(runs))
        np.testing.assert_allclose(ours.values, theirs.values, rtol=0, atol=1e-10)
        np.testing.assert_array_equal(ours["run"].values, theirs["run"].values)
        np.testing.assert_allclose(ours.values, default.values, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- the compile index
_INDEX_SCRIPT = textwrap.dedent("""
    import ctypes, sys
    import numpy as np
    from bayescale.sampling import compile_cache as cc
    from tests.test_compile_cache import _call_logp, _small_model
    c = cc.compile_nutpie(_small_model(np.array([3.4, 3.1, 2.9, 2.7, 2.5, 2.4])))
    x = np.linspace(-0.4, 0.4, c.n_dim)
    code, logp, grad = _call_logp(c, x)
    moved = c.with_data(y=np.log(np.array([3.4, 3.1, 2.9, 2.7, 2.5, 2.4]) * 1.05))
    print("result", cc.last_compile, code, logp.hex(), *[g.hex() for g in grad],
          _call_logp(moved, x)[1].hex(), c.initial_point_func(1).round(12).tolist())
    if len(sys.argv) > 1:  # the lazily compiled PyTensor function agrees with the callback
        ref_logp, ref_grad = c.logp_func(x)
        assert np.isclose(ref_logp, logp, rtol=1e-12), (ref_logp, logp)
        assert np.allclose(ref_grad, grad, rtol=1e-10, atol=1e-12)
        print("pytensor ok")
""")


def _index_run(tmp_path, *args):
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba-own")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", _INDEX_SCRIPT, *args], env=env, cwd=root,
                       text=True, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(x for x in r.stdout.splitlines() if x.startswith("result"))
    return line.split(" ", 2)[1], line.split(" ", 2)[2], r.stdout


@pytest.mark.slow
def test_a_warm_process_skips_the_graph_rewrite_with_identical_results(tmp_path):
    """The index lets a new process load the callbacks without rewriting the graph; the log
    density, gradient, data swap and initial points are bit-identical to a compiling process,
    and the index holds no code (JSON of sizes, names and cache keys)."""
    how, first, _ = _index_run(tmp_path)
    assert how == "compiled"
    entries = list((tmp_path / "bayescale-compile-index").glob("*.json"))
    assert len(entries) == 1
    text = entries[0].read_text()
    assert "def " not in text and "numba" not in text
    how, second, out = _index_run(tmp_path, "check")
    assert how == "index"
    assert second == first
    assert "pytensor ok" in out
    # numba's cache emptied under an index entry: the entry is not used, the model compiles
    for p in tmp_path.rglob("bayescale-nutpie-*"):
        p.unlink()
    how, third, _ = _index_run(tmp_path)
    assert how == "compiled" and third == first


@pytest.mark.slow
def test_graph_key_follows_the_graph_data_shapes_and_flags():
    import pytensor

    from bayescale.sampling.compile_cache import graph_key

    loss = np.array([3.4, 3.1, 2.9, 2.7, 2.5, 2.4])
    key = graph_key(_small_model(loss))
    assert graph_key(_small_model(loss)) == key  # a rebuilt model
    assert graph_key(_small_model(loss * 1.01)) == key  # new values of the same data
    with pytensor.config.change_flags(numba__fastmath=not pytensor.config.numba__fastmath):
        assert graph_key(_small_model(loss)) != key
    import pandas as pd

    from bayescale.modeling.model import build_model
    from bayescale.sampling.fit import resolve_spec

    runs = pd.DataFrame({"N": [1e8, 3e8, 1e9, 3e9, 1e10, 3e10, 1e11],
                         "D": [2e9, 6e9, 2e10, 6e10, 2e11, 6e11, 2e12],
                         "loss": [3.4, 3.1, 2.9, 2.7, 2.5, 2.4, 2.3]})
    spec = resolve_spec("chinchilla")
    longer = build_model(runs, spec, reference={"N": 1e9, "D": 1e10})
    assert graph_key(longer) != key  # seven runs, not six
    student = build_model(runs.iloc[:6], spec.replace(likelihood="normal"),
                          reference={"N": 1e9, "D": 1e10})
    assert graph_key(student) != key  # another likelihood


_HIER_SCRIPT = textwrap.dedent("""
    import numpy as np, pandas as pd
    from bayescale.modeling.model import build_model
    from bayescale.sampling import compile_cache as cc
    from bayescale.sampling.fit import resolve_spec
    N = np.tile([1e8, 3e8, 1e9, 3e9, 1e10, 3e10], 2)
    runs = pd.DataFrame({"N": N, "D": 20 * N, "g": ["a"] * 6 + ["b"] * 6,
                         "loss": [3.4, 3.1, 2.9, 2.7, 2.5, 2.4, 3.5, 3.2, 3.0, 2.8, 2.6, 2.5]})
    spec = resolve_spec("chinchilla", groups=["g"])
    c = cc.compile_nutpie(build_model(runs, spec, reference={"N": 1e9, "D": 2e10}))
    print("result", cc.last_compile, c.n_dim)
""")


@pytest.mark.slow
def test_a_hierarchy_is_indexed_and_loaded_by_the_next_process(tmp_path):
    """nutpie gives the slices of vector variables as numpy integers; the index entry of a
    hierarchy was refused by json, which sent every hierarchical fit to a second, uncached
    compile and every later process to a full compile."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba-own")}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hows = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _HIER_SCRIPT], env=env, cwd=root, text=True,
                           capture_output=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        hows.append(next(x for x in r.stdout.splitlines() if x.startswith("result")).split()[1])
    assert hows == ["compiled", "index"]
    assert len(list((tmp_path / "bayescale-compile-index").glob("*.json"))) == 1
