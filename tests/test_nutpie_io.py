"""nutpie's trace converted by bayescale equals nutpie's own conversion; ArviZ stays unimported."""

import subprocess
import sys
import textwrap

import numpy as np
import pymc as pm

from bayescale.sampling.compile_cache import compile_nutpie
from bayescale.sampling.nutpie_io import import_nutpie, trace_to_datatree


def test_trace_to_datatree_equals_nutpies_conversion():
    nutpie = import_nutpie()
    with pm.Model(coords={"g": ["a", "b", "c"]}) as m:
        x = pm.Normal("x", dims="g")
        y = pm.HalfNormal("y")  # transformed: its unconstrained twin must not appear
        pm.Normal("obs", x.sum() * y, 1, observed=np.array([0.3, 1.2]))
    compiled = compile_nutpie(m)
    kw = dict(draws=60, tune=40, chains=3, seed=5, progress_bar=False, save_warmup=False)
    s = nutpie.sample(compiled, return_raw_trace=True, blocking=False, **kw)
    mine = trace_to_datatree(s.wait(), coords=compiled.coords, settings=s._settings.as_dict(),
                             nutpie_version=nutpie.__version__,
                             reparameterized=compiled.reparameterized_names)
    ref = nutpie.sample(compiled, **kw)
    assert sorted(mine.children) == sorted(ref.children)
    for group in ("posterior", "sample_stats"):
        a, b = mine[group].to_dataset(), ref[group].to_dataset()
        assert sorted(a.data_vars) == sorted(b.data_vars)
        for name in b.data_vars:
            assert a[name].dims == b[name].dims, name
            np.testing.assert_array_equal(a[name].values, b[name].values)
        for name in b.coords:
            np.testing.assert_array_equal(a[name].values, b[name].values)
        assert {k: v for k, v in a.attrs.items() if k != "created_at"} == \
            {k: v for k, v in b.attrs.items() if k != "created_at"}


def test_a_fit_does_not_import_arviz_until_asked():
    code = textwrap.dedent("""
        import sys
        import bayescale as bs
        fit = bs.fit(bs.datasets.load("chinchilla").head(60), "chinchilla", draws=50, tune=50,
                     chains=2, progressbar=False, seed=1)
        fit.summary(); fit.check()
        print("loaded" if type(sys.modules.get("arviz")).__name__ == "module" else "deferred")
        import arviz as az
        print(az.__version__, type(sys.modules["arviz"]).__name__)
        print(len(az.summary(fit.tree, var_names=["alpha"])))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-3] == "deferred"
    assert lines[-2].endswith(" module")  # the user's import arviz gets the real module
    assert lines[-1] == "1"


def test_deferred_arviz_loads_once_when_threads_race():
    code = textwrap.dedent("""
        import sys, threading
        from bayescale.sampling.nutpie_io import import_nutpie
        import_nutpie()
        module = sys.modules["arviz"]
        assert type(module).__name__ == "_Deferred"
        got, errors = [], []
        def read():
            try:
                got.append(module.summary)
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=read) for _ in range(6)]
        [t.start() for t in threads]; [t.join() for t in threads]
        import arviz
        print(len(got), len({id(f) for f in got}), errors, type(arviz).__name__,
              arviz is module)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["6", "1", "[]", "module", "True"]
