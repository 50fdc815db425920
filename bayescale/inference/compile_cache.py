"""Compile a PyMC model for nutpie with a persistent (on-disk) cache.

``nutpie.compile_pymc_model(model, backend="numba")`` wraps PyTensor's numba function for the
log density and its gradient in a ``numba.cfunc`` that nutpie's Rust sampler calls.  That
wrapper reads the model's data through closures over numpy arrays, which numba cannot cache, so
*every new process* pays the full numba compile again (on the Chinchilla model about 20-40 s on
the 2-core machines here, most of it re-typing PyTensor's already cached functions for the
wrapper and compiling numba's own array helpers).  This is what made a command-line fit slow.

:func:`compile_nutpie` builds the same nutpie model with a wrapper generated as source code
that reads the data pointers from nutpie's own ``user_data`` record (so :meth:`with_data` works
unchanged) and has no dynamic globals.  It is registered with PyTensor's numba cache locator
under a key derived from PyTensor's key of the compiled graph, so it is written to and loaded
from PyTensor's compile directory (``~/.pytensor`` unless ``PYTENSOR_FLAGS=base_compiledir=...``
says otherwise): the second process that fits a model of the same structure loads the compiled
wrapper in well under a second instead of compiling it.  The sampler, its settings and its
results are nutpie's; only where the machine code comes from changes.

If anything in this path fails (a nutpie or PyTensor release that changed the private helpers
it uses, a graph PyTensor does not cache), it falls back to ``nutpie.compile_pymc_model``.

Reproducibility: everything here is compiled under :func:`strict_math`, i.e. without numba's
fastmath flags (PyTensor turns them on by default).  Fastmath lets LLVM evaluate a sum in any
order and fuse multiplies into adds, and it chooses differently depending on how the code is
assembled: the Chinchilla model's log-density gradient computed by code compiled in the process
and by the same code loaded from PyTensor's cache differed in the last bits (bisecting the cache
traced it to one fused gradient kernel), which NUTS amplifies into different draws and
divergence counts for the same seed.  Without fastmath every floating-point operation is
evaluated as written, so the same bits come out however the code was compiled or loaded (and
these models sample as fast).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["compile_nutpie", "log_likelihood", "strict_math"]

_log = logging.getLogger(__name__)

# Bump when the generated wrapper source changes in a way its text does not show.
_WRAPPER_VERSION = "1"

_LOGP_TEMPLATE = """
def bayescale_logp(dim, x_, out_, logp_, ud_):
    if dim != {n_dim}:
        return -1
    try:
        ud = numba.carray(ud_, ({n_words},), np.uint64)
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_dim},))
{extract}
        lp, g = inner({call})
        logp_[0] = lp
        bad = False
        for i in range({n_dim}):
            out[i] = g[i]
            if not np.isfinite(g[i]):
                bad = True
        if bad:
            return 3
        if not np.isfinite(lp):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_TEMPLATE = """
def bayescale_expand(dim, expanded, x_, out_, ud_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        ud = numba.carray(ud_, ({n_words},), np.uint64)
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_expanded},))
{extract}
        (values,) = inner({call})
        for i in range({n_expanded}):
            out[i] = values[i]
    except Exception:
        return -2
    return 0
"""


@contextlib.contextmanager
def strict_math() -> Iterator[None]:
    """Compile PyTensor's numba code inside the block without fastmath (bit-reproducible).

    PyTensor reads ``config.numba__fastmath`` when it generates and jit-decorates a function, so
    functions compiled in the block keep IEEE semantics when they run later.  Their cache entries
    are keyed apart from fastmath ones (PyTensor adds the flag to its cache keys).

    Examples
    --------
    >>> with strict_math():                                      # doctest: +SKIP
    ...     fn = model.compile_fn(...)
    """
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        yield


def compile_nutpie(model: Any, *, cache: bool = True) -> Any:
    """Compile ``model`` for ``nutpie.sample`` with the numba backend, cached on disk.

    Parameters
    ----------
    model : pymc.Model
        The model (its ``pm.Data`` containers stay swappable with ``.with_data``).
    cache : bool
        Use the persistent wrapper cache (default).  ``False`` calls
        ``nutpie.compile_pymc_model(model, backend="numba")`` directly.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
        The same type nutpie returns; pass it to ``nutpie.sample``.

    Examples
    --------
    >>> import pymc as pm, nutpie                                   # doctest: +SKIP
    >>> from bayescale.inference.compile_cache import compile_nutpie
    >>> with pm.Model() as m:                                       # doctest: +SKIP
    ...     pm.Normal("x")
    >>> tree = nutpie.sample(compile_nutpie(m), draws=100, progress_bar=False)  # doctest: +SKIP
    """
    import nutpie

    with strict_math():  # bit-identical draws from a fresh and a cached compile (module doc)
        if cache:
            try:
                return _compile_cached(model)
            except Exception as exc:  # any failure: nutpie's own (uncached) compile is right
                _log.info("persistent nutpie compile cache not used (%s: %s)",
                          type(exc).__name__, exc)
        return nutpie.compile_pymc_model(model, backend="numba")


def _compile_cached(model: Any) -> Any:
    import numba
    import nutpie
    from nutpie import compile_pymc as ncp
    from pymc.initial_point import make_initial_point_fn
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    # What nutpie.compile_pymc_model(model, backend="numba") does before its cfunc step.
    point_fn = ncp._wrap_with_lock(make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    ))
    n_dim, n_expanded, logp_pt, expand_pt, init_fn, shape_info, reparam = ncp._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=point_fn,
    )
    shared_data: dict[str, np.ndarray] = {}
    keys: dict[Any, str] = {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var in keys:
            continue
        key = f"s{len(keys)}"
        keys[var] = key
        value = np.array(var.get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[key] = value
    user_data = ncp.make_user_data(keys, shared_data)
    layout = _Layout(user_data.dtype)

    def wrap(kind: str, fn: Any, shared: list) -> Any:
        base_key = CACHED_SRC_FUNCTIONS.get(fn.py_func)
        if base_key is None:
            raise RuntimeError(f"PyTensor does not cache the {kind} graph of this model")
        extract, args = [], []
        for i, var in enumerate(shared):
            k = keys[var]
            arr = shared_data[k]
            dims = "".join(f"ud[{layout.slot('shape', k) + j}], " for j in range(arr.ndim))
            pointer = f"address_as_void_pointer(ud[{layout.slot('data', k)}])"
            if not arr.dtype.name.isidentifier():  # the only text not made of integers here
                raise RuntimeError(f"unexpected dtype {arr.dtype.name!r} of model data {k}")
            extract.append(f"        a{i} = numba.carray({pointer}, ({dims}), np.{arr.dtype.name})")
            args.append(f"a{i}")
        template = _LOGP_TEMPLATE if kind == "logp" else _EXPAND_TEMPLATE
        src = template.format(n_dim=n_dim, n_expanded=n_expanded, n_words=layout.n_words,
                              extract="\n".join(extract) or "        pass",
                              call=", ".join(["x", *args]))
        namespace = {"__name__": __name__, "numba": numba, "np": np, "inner": fn,
                     "address_as_void_pointer": ncp.address_as_void_pointer}
        # numba compiles a C callback from Python source, so the wrapper for this model's data
        # layout is written from the fixed template above (integers and numpy dtype names only,
        # never user text) and compiled; nutpie builds its own wrappers the same way.
        exec(compile(src, f"<bayescale-nutpie-{kind}>", "exec"), namespace)
        py_func = namespace[f"bayescale_{kind}"]
        ident = "\n".join([_WRAPPER_VERSION, base_key, src, numba.__version__, nutpie.__version__])
        CACHED_SRC_FUNCTIONS[py_func] = hashlib.sha256(ident.encode()).hexdigest()
        return numba.cfunc(_signature(kind), cache=True)(py_func)

    logp_c = wrap("logp", logp_pt.vm.jit_fn, list(logp_pt.get_shared()))
    expand_c = wrap("expand", expand_pt.vm.jit_fn, list(expand_pt.get_shared()))
    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparam)
    return ncp.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_c,
        compiled_expand_func=expand_c,
        initial_point_func=init_fn,
        shared_data=shared_data,
        shared_var_keys=keys,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_pt,
        expand_func=expand_pt,
        reparameterized_names=reparam,
    )


class _Layout:
    """Word offsets of the fields of nutpie's ``user_data`` record (pointers, sizes, shapes)."""

    def __init__(self, dtype: np.dtype):
        if dtype.itemsize % 8:
            raise RuntimeError("unexpected nutpie user_data layout")
        self.dtype = dtype
        self.n_words = dtype.itemsize // 8

    def slot(self, field: str, key: str) -> int:
        shared, shared_off = self.dtype.fields["shared"][:2]
        sub, sub_off = shared.fields[field][:2]
        item, item_off = sub.fields[key][:2]
        if item.base.itemsize != 8:
            raise RuntimeError("unexpected nutpie user_data field size")
        offset = shared_off + sub_off + item_off
        if offset % 8:
            raise RuntimeError("unexpected nutpie user_data alignment")
        return offset // 8


def _signature(kind: str) -> Any:
    from numba import types

    double_p = types.CPointer(types.double)
    if kind == "logp":  # nutpie's C ABI: (dim, x, grad out, logp out, user data)
        return types.int64(types.uint64, double_p, double_p, double_p, types.voidptr)
    return types.int64(types.uint64, types.uint64, double_p, double_p, types.voidptr)


def log_likelihood(tree: Any, model: Any) -> None:
    """Add the pointwise ``log_likelihood`` group to ``tree``, re-using a compiled function.

    The same numbers as ``pm.compute_log_likelihood(tree, model=model)`` under
    :func:`strict_math` (compiled without fastmath, so that a fresh and a cached compile agree
    bit for bit), which compiles its function again on every call (about 1 s, a quarter of an
    in-process refit of the Chinchilla model).  The compiled function is kept on ``model``;
    bayescale re-uses a model for every fit of the same structure and swaps its data, and the
    function follows the swap.

    Examples
    --------
    >>> log_likelihood(tree, model)                          # doctest: +SKIP
    >>> tree["log_likelihood"]["log_loss"].dims              # doctest: +SKIP
    ('chain', 'draw', 'run')
    """
    import pymc as pm
    from pymc.backends.arviz import apply_function_over_dataset, coords_and_dims_for_inferencedata
    from pymc.model.transform.conditioning import remove_value_transforms

    cached = getattr(model, "_bayescale_loglik", None)
    if cached is None:
        # the posterior holds constrained values, so evaluate the model without transforms
        umodel = remove_value_transforms(model)
        with strict_math():
            fn = umodel.compile_fn(inputs=umodel.value_vars,
                                   outs=umodel.logp(vars=list(umodel.observed_RVs), sum=False),
                                   on_unused_input="ignore")
        model._bayescale_loglik = (umodel, fn)
    else:
        umodel, fn = cached
        values = {v.name: v.get_value() for v in model.data_vars}
        dims = {d for v in model.data_vars for d in (model.named_vars_to_dims.get(v.name) or ())}
        coords = {d: model.coords[d] for d in dims if model.coords.get(d) is not None}
        pm.set_data(values, model=umodel, coords=coords)
    coords, dims = coords_and_dims_for_inferencedata(umodel)
    names = [rv.name for rv in model.free_RVs]
    dtypes = {umodel.rvs_to_values[rv].name: umodel.rvs_to_values[rv].type.dtype
              for rv in umodel.free_RVs}
    posterior = tree["posterior"].to_dataset()[names].astype(dtypes, copy=False)
    tree["log_likelihood"] = apply_function_over_dataset(
        fn, posterior, output_var_names=[rv.name for rv in umodel.observed_RVs],
        sample_dims=("chain", "draw"), dims=dims, coords=coords, progressbar=False,
    )
