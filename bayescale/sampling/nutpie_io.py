"""nutpie without ArviZ's import cost: a lazy ``arviz`` module and nutpie's trace as a DataTree.

``nutpie.sample`` imports ``arviz`` at module level, only to call ``arviz.from_dict`` when it
converts its trace.  ArviZ's import brings SciPy's statistics and Matplotlib with it: 1.6 s of
a 6 s warm ``bayescale fit`` on an idle machine (``benchmarks/run.py --only cli``).  Two steps
avoid it without changing a number:

- :func:`import_nutpie` imports nutpie with ``arviz`` registered as a *deferred* module: the
  real ArviZ module object, whose code runs the first time anything reads one of its
  attributes (as with the standard library's :class:`importlib.util.LazyLoader`).  A user's
  ``import arviz`` afterwards gets the same module and loads it then.  If ArviZ is already
  imported nothing is changed.
- :func:`trace_to_datatree` converts nutpie's raw trace (``return_raw_trace=True``; Apache
  Arrow record batches, one per chain) into the ``posterior`` and ``sample_stats`` groups that
  ``nutpie.sample`` would have returned, with ``arviz_base`` (which PyMC imports anyway and
  which does not import SciPy), copying each chain's Arrow batch with nutpie's own
  ``_add_arrow_data``.  ``tests/test_nutpie_io.py`` checks that the two give
  identical arrays, dims, coords and attributes for the same seed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["import_nutpie", "trace_to_datatree"]

# nutpie's own list: statistics it drops from the trace unless the matching setting is on
_SKIPS = {
    "store_gradient": ["gradient"],
    "store_unconstrained": ["unconstrained_draw"],
    "adapt_options.mass_matrix_options.store_mass_matrix": [
        "mass_matrix_inv", "mass_matrix_eigvals", "mass_matrix_stds"],
    "store_divergences": [
        "divergence_start", "divergence_end", "divergence_momentum",
        "divergence_start_gradient"],
    "store_transformed": ["transformed_position", "transformed_gradient", "transformation_mu"],
}


_LOAD_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """A module whose code runs the first time an attribute it lacks is read.

    The import system's own checks read ``__spec__`` (set, so they do not trigger the load);
    anything else (``arviz.from_dict``, ``from arviz import x``, a submodule's import, which
    reads ``__path__``) executes the module in place, so the object in ``sys.modules`` becomes
    the real module, as with :class:`importlib.util.LazyLoader` (whose trigger, any attribute
    including ``__spec__``, fires on the next ``import arviz`` statement on Python 3.12).
    """

    def __getattr__(self, attr: str) -> Any:
        with _LOAD_LOCK:  # other threads wait here until the module has run
            if type(self) is _Deferred:
                d = self.__dict__
                spec = d["__spec__"]
                if d.get("_bayescale_loading"):  # the module's own code, mid-run: not there yet
                    raise AttributeError(
                        f"partially initialised module {spec.name!r} has no attribute {attr!r}")
                d["_bayescale_loading"] = True
                if spec.submodule_search_locations is not None:
                    self.__path__ = spec.submodule_search_locations
                try:
                    spec.loader.exec_module(self)
                except BaseException:  # as a failed import: not left half-made in sys.modules
                    if sys.modules.get(spec.name) is self:
                        del sys.modules[spec.name]
                    raise
                finally:
                    d.pop("_bayescale_loading", None)
                self.__class__ = types.ModuleType  # from here on, an ordinary module
        return getattr(self, attr)


def _defer(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__dict__.pop("__path__", None)  # read by a submodule's import: load first
    module.__class__ = _Deferred
    sys.modules[name] = module


def import_nutpie():
    """Import and return ``nutpie``, deferring ArviZ's import until ArviZ is used.

    Returns
    -------
    module
        The ``nutpie`` module.

    Examples
    --------
    >>> nutpie = import_nutpie()
    >>> hasattr(nutpie, "sample")
    True
    """
    if "nutpie" not in sys.modules:
        _defer("arviz")
    import nutpie

    return nutpie


def _nested(settings: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(settings, Mapping) or part not in settings:
            return False
        settings = settings[part]
    return settings


def trace_to_datatree(raw: Any, *, coords: Mapping[str, Any], settings: Mapping[str, Any],
                      nutpie_version: str, reparameterized: Sequence[str] = ()):
    """The ``posterior`` and ``sample_stats`` of a raw nutpie trace, as ``nutpie.sample`` makes.

    Parameters
    ----------
    raw : nutpie trace
        What ``nutpie.sample(..., return_raw_trace=True)`` (or its background sampler's
        ``wait()``) returned: Arrow record batches, warm-up rows flagged by ``tuning``.
    coords : mapping
        The compiled model's coordinates (``compiled.coords``).
    settings : mapping
        The sampler's settings (``sampler._settings.as_dict()``); decides which statistics are
        dropped and is stored as ``inference_library_settings``.
    nutpie_version : str
        Stored as ``inference_library_version``.
    reparameterized : sequence of str
        The compiled model's ``reparameterized_names`` (its unconstrained twins of transformed
        variables), which nutpie leaves out of the posterior.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior`` and ``sample_stats`` (warm-up draws are not kept).

    Examples
    --------
    >>> import pymc as pm
    >>> from bayescale.sampling.compile_cache import compile_nutpie
    >>> nutpie = import_nutpie()
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x")
    >>> compiled = compile_nutpie(m)
    >>> s = nutpie.sample(compiled, draws=50, tune=50, chains=2, seed=1, progress_bar=False,
    ...                   return_raw_trace=True, blocking=False)
    >>> tree = trace_to_datatree(s.wait(), coords=compiled.coords,
    ...                          settings=s._settings.as_dict(), nutpie_version=nutpie.__version__,
    ...                          reparameterized=compiled.reparameterized_names)
    >>> dict(tree["posterior"].sizes)
    {'chain': 2, 'draw': 50}
    """
    import arviz_base
    import pandas as pd
    from nutpie.sample import _add_arrow_data  # nutpie's own batch -> array copy (no ArviZ)

    if not raw.is_arrow():
        raise ValueError("trace_to_datatree reads nutpie's Arrow traces only (no zarr store)")
    draws, stats = raw.get_arrow_trace()
    n_chains = len(draws)
    skip: list[str] = []
    for setting, names in _SKIPS.items():
        if not _nested(settings.get("settings", {}), setting):
            skip.extend(names)
    n_tune = [int(s.column("tuning").to_numpy().sum()) for s in stats]
    length = max(d.num_rows - t for d, t in zip(draws, n_tune, strict=True))
    post: dict[str, np.ndarray] = {}
    stat: dict[str, np.ndarray] = {}
    dims: dict[str, list[str]] = {}
    for i, (d, t) in enumerate(zip(draws, n_tune, strict=True)):
        _add_arrow_data(post, length, d.slice(t, d.num_rows - t), i, n_chains, dims, [])
    for i, (s, t) in enumerate(zip(stats, n_tune, strict=True)):
        _add_arrow_data(stat, length, s.slice(t, s.num_rows - t), i, n_chains, dims, skip)
    for name in reparameterized or ():
        post.pop(name, None)
    attrs = {"inference_library": "nutpie", "inference_library_version": nutpie_version,
             "inference_library_settings": json.dumps(settings)}
    return arviz_base.from_dict(
        {"posterior": post, "sample_stats": stat}, dims=dims,
        coords={name: pd.Index(v) for name, v in coords.items()},
        attrs={"sample_stats": attrs},
    )
