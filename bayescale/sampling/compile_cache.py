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

Skipping the graph rewrite (warm processes).  Even with the machine code cached, building the
nutpie model rewrites the log density's PyTensor graph and its gradient (about 3.5 s of a warm
command-line fit on the Chinchilla model) only to learn the cache keys of code that is already on
disk.  :func:`compile_nutpie` therefore also writes a small JSON *index* entry beside the numba
cache: keyed by :func:`graph_key` (a SHA-256 of the model's un-rewritten graphs, op by op with
their ``__props__``, constants by their bytes, data by name, type and shape, plus the versions of
Python, numpy, numba, PyTensor, PyMC, nutpie, every PyTensor config flag and this wrapper's
version), it records what the rewrite produced: sizes, variable layout and the cache keys of the
two wrappers.  A later process with the same key regenerates the wrappers' source from the
templates below (no code is read from the index) and loads their machine code from numba's
cache; if that code is missing it compiles the usual way.  Nothing is unpickled from the index,
and a graph with any op that cannot be keyed this way (an op without ``__props__``, a value of
an unknown kind) is simply not indexed.  The PyTensor functions (``logp_func``,
``expand_func``), which only tests and benchmarks call, are compiled on first use.

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

__all__ = ["compile_nutpie", "graph_key", "log_likelihood", "log_likelihood_pytensor",
           "strict_math"]

_log = logging.getLogger(__name__)

# Bump when the generated wrapper source changes in a way its text does not show.
_WRAPPER_VERSION = "1"
# Bump when the index entries' meaning changes.
_INDEX_VERSION = "1"
#: How the last :func:`compile_nutpie` call in this process built its model: "index" (graph
#: rewrite skipped, machine code loaded), "compiled" (rewritten; machine code compiled or
#: loaded) or "nutpie" (nutpie's own uncached compile).
last_compile: str = ""

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
    >>> from bayescale.sampling.compile_cache import compile_nutpie
    >>> with pm.Model() as m:                                       # doctest: +SKIP
    ...     pm.Normal("x")
    >>> tree = nutpie.sample(compile_nutpie(m), draws=100, progress_bar=False)  # doctest: +SKIP
    """
    global last_compile
    from bayescale.sampling.nutpie_io import import_nutpie

    nutpie = import_nutpie()

    with strict_math():  # bit-identical draws from a fresh and a cached compile (module doc)
        if cache:
            try:
                return _compile_cached(model)
            except Exception as exc:  # any failure: nutpie's own (uncached) compile is right
                _log.info("persistent nutpie compile cache not used (%s: %s)",
                          type(exc).__name__, exc)
        last_compile = "nutpie"
        return nutpie.compile_pymc_model(model, backend="numba")


def _compile_cached(model: Any) -> Any:
    global last_compile
    from nutpie import compile_pymc as ncp  # imported by compile_nutpie (import_nutpie)
    from pymc.initial_point import make_initial_point_fn
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    # What nutpie.compile_pymc_model(model, backend="numba") does before its cfunc step.
    point_fn = ncp._wrap_with_lock(make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    ))
    outputs = _key_outputs(model)
    try:
        index_key = graph_key(model, outputs)
    except _Unkeyable as exc:
        _log.debug("compile index not used: %s", exc)
        index_key = None
    if index_key is not None:
        entry = _read_index(index_key)
        if entry is not None:
            try:
                compiled = _from_index(model, entry, point_fn, outputs)
            except Exception as exc:  # e.g. numba's cache was emptied: compile the usual way
                _log.info("compile index entry not usable (%s: %s); compiling",
                          type(exc).__name__, exc)
            else:
                last_compile = "index"
                return compiled

    def make_functions():
        return ncp._make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True,
                                   pymc_initial_point_fn=point_fn)

    n_dim, n_expanded, logp_pt, expand_pt, init_fn, shape_info, reparam = make_functions()
    shared_vars = _unique([*logp_pt.get_shared(), *expand_pt.get_shared()])
    base_keys = {}
    for kind, fn in (("logp", logp_pt.vm.jit_fn), ("expand", expand_pt.vm.jit_fn)):
        base_keys[kind] = CACHED_SRC_FUNCTIONS.get(fn.py_func)
        if base_keys[kind] is None:
            raise RuntimeError(f"PyTensor does not cache the {kind} graph of this model")
    compiled = _assemble(
        model, n_dim=n_dim, n_expanded=n_expanded, shape_info=shape_info, reparam=reparam,
        shared_vars=shared_vars, shared={"logp": list(logp_pt.get_shared()),
                                         "expand": list(expand_pt.get_shared())},
        inner={"logp": logp_pt.vm.jit_fn, "expand": expand_pt.vm.jit_fn}, base_keys=base_keys,
        init_fn=init_fn, logp_pt=logp_pt, expand_pt=expand_pt,
    )
    last_compile = "compiled"
    if index_key is not None:
        names = [v.name for v in shared_vars]
        if len(set(names)) == len(names) and all(names):  # found again by name
            _write_index(index_key, {
                "n_dim": int(n_dim), "n_expanded": int(n_expanded),
                # nutpie gives numpy integers for the slices of vector variables (every
                # hierarchy): plain ints, or json refuses the entry
                "shape_info": [[str(n) for n in shape_info[0]],
                               [[int(sl.start), int(sl.stop)] for sl in shape_info[1]],
                               [[int(d) for d in sh] for sh in shape_info[2]]],
                "reparam": list(reparam), "shared": names,
                "logp_shared": [v.name for v in logp_pt.get_shared()],
                "expand_shared": [v.name for v in expand_pt.get_shared()],
                "base_keys": base_keys,
            })
    return compiled


def _unique(variables: list) -> list:
    out: list = []
    for var in variables:
        if var not in out:
            out.append(var)
    return out


#: The numpy dtypes of model data the generated wrapper may name (the only words in its source
#: besides the fixed template): numeric types only, checked before the source is compiled.
_DATA_DTYPES = frozenset({"float64", "float32", "int64", "int32", "int16", "int8", "uint8",
                          "bool"})


def _assemble(model: Any, *, n_dim: int, n_expanded: int, shape_info: Any, reparam: list,
              shared_vars: list, shared: dict, inner: dict, base_keys: dict, init_fn: Any,
              logp_pt: Any, expand_pt: Any, require_cached: bool = False) -> Any:
    """Generate and compile (or load) the two C callbacks; return nutpie's compiled model."""
    import numba
    import nutpie  # imported by compile_nutpie (import_nutpie)
    from nutpie import compile_pymc as ncp
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    shared_data: dict[str, np.ndarray] = {}
    keys: dict[Any, str] = {}
    for var in shared_vars:
        key = f"s{len(keys)}"
        keys[var] = key
        value = np.array(var.get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[key] = value
    user_data = ncp.make_user_data(keys, shared_data)
    layout = _Layout(user_data.dtype)

    def wrap(kind: str, fn: Any, shared: list) -> Any:
        base_key = base_keys[kind]
        extract, args = [], []
        for i, var in enumerate(shared):
            k = keys[var]
            arr = shared_data[k]
            dims = "".join(f"ud[{layout.slot('shape', k) + j}], " for j in range(arr.ndim))
            pointer = f"address_as_void_pointer(ud[{layout.slot('data', k)}])"
            if arr.dtype.name not in _DATA_DTYPES:  # the only text not made of integers here
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
        # the module is part of the key: numba's cache records the wrapper's module by name,
        # so an entry written by an older layout of the package (bayescale.inference...) would
        # fail to load on every fit instead of being replaced
        ident = "\n".join([_WRAPPER_VERSION, __name__, base_key, src, numba.__version__,
                           nutpie.__version__])
        CACHED_SRC_FUNCTIONS[py_func] = hashlib.sha256(ident.encode()).hexdigest()
        cfunc = numba.cfunc(_signature(kind), cache=True)(py_func)
        if require_cached and not cfunc.cache_hits:  # compiled against the stand-in: refuse
            raise RuntimeError(f"numba's cache has no {kind} callback for this model")
        return cfunc

    logp_c = wrap("logp", inner["logp"], shared["logp"])
    expand_c = wrap("expand", inner["expand"], shared["expand"])
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


class _Unkeyable(Exception):
    """A graph that :func:`graph_key` cannot describe exactly (it is then not indexed)."""


def graph_key(model: Any, outputs: list | None = None) -> str:
    """A SHA-256 key of everything the nutpie model's rewritten graphs are a function of.

    The un-rewritten log density and the graphs of the values nutpie stores (deterministics,
    constrained parameters), written out op by op: each op by its class and ``__props__``
    (the fields PyTensor itself compares ops by), each constant by its dtype, shape and bytes,
    each data container by its name, type and current shape, each free variable by its name and
    type; with the model's ``check_bounds``, the versions of Python, numpy, numba, PyTensor,
    PyMC and nutpie, every PyTensor config flag (fastmath included) and the wrapper version.
    Two models with equal keys rewrite to the same graphs.

    PyTensor's flags whose default is computed on first use by probing the C toolchain
    (``blas__ldflags``, ``gcc_version_str``...: a compiler run, about 1 s) are not computed
    for the key: left at their defaults they are recorded as "this machine's default" (the
    same in every process on the machine), set by the user they are recorded as set.  They only
    configure PyTensor's C backend, not the numba graphs indexed here.

    ``outputs`` (optional) are the model's ``[model.logp(), *model.unobserved_value_vars]``
    if the caller has them already (building them takes about 0.5 s).

    Raises
    ------
    _Unkeyable
        If an op has no ``__props__`` or a property of a kind that cannot be written out
        exactly; such a model is compiled the usual way and not indexed.

    Examples
    --------
    >>> from bayescale.sampling.compile_cache import graph_key     # doctest: +SKIP
    >>> graph_key(model_a) == graph_key(model_b)   # same spec, same data shapes  # doctest: +SKIP
    True
    """
    import platform

    import numba
    import pymc
    import pytensor

    from bayescale.sampling.nutpie_io import import_nutpie

    nutpie = import_nutpie()

    if outputs is None:
        outputs = _key_outputs(model)
    lines = [
        f"index {_INDEX_VERSION} wrapper {_WRAPPER_VERSION} module {__name__}",
        f"python {platform.python_version()} numpy {np.__version__} numba {numba.__version__} "
        f"pytensor {pytensor.__version__} pymc {pymc.__version__} nutpie {nutpie.__version__}",
        f"check_bounds {bool(model.check_bounds)}",
        "free " + ", ".join(f"{model.rvs_to_values[rv].name}:{model.rvs_to_values[rv].type!r}"
                            for rv in model.free_RVs),
    ]
    config = pytensor.config
    for flag in sorted(config._config_var_dict):
        param = config._config_var_dict[flag]
        if flag in _TOOLCHAIN_FLAGS and getattr(param, "is_default", False) and \
                callable(getattr(param, "default", None)):
            lines.append(f"config {flag} = <this machine's default>")
            continue
        try:
            value = repr(getattr(config, flag))
        except Exception as exc:  # a flag that cannot be read here is recorded as such
            value = f"<{type(exc).__name__}>"
        lines.append(f"config {flag} = {value}")

    lines.append(_graph_text([], outputs, 0))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


#: PyTensor flags whose default is computed by running the C toolchain (see :func:`graph_key`).
_TOOLCHAIN_FLAGS = frozenset({"blas__ldflags", "gcc_version_str", "DebugMode__check_c",
                              "compiledir", "compile__timeout"})


def _key_outputs(model: Any) -> list:
    """The graphs :func:`graph_key` describes (also what :func:`_model_shared` searches)."""
    return [model.logp(), *model.unobserved_value_vars]


def _graph_text(inputs: list, outputs: list, depth: int) -> str:
    """A graph written out node by node in topological order (variables numbered locally)."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort

    if depth > 8:
        raise _Unkeyable("graphs nested too deeply")
    names: dict[Any, str] = {}
    lines: list[str] = []
    for i, var in enumerate(inputs):
        names[var] = f"in{i}"
        lines.append(f"in{i} = input {var.type!r}")

    def ref(var: Any) -> str:
        if var in names:
            return names[var]
        if isinstance(var, SharedVariable):
            value = var.get_value(borrow=True)
            text = f"shared {var.name!r} {var.type!r} shape {np.shape(value)}"
        elif isinstance(var, Constant):
            text = f"constant {var.type!r} {_array_text(var.data)}"
        elif var.owner is None:
            text = f"input {var.name!r} {var.type!r}"
        else:
            raise _Unkeyable(f"variable {var} was not reached in order")
        names[var] = f"v{len(names)}"
        lines.append(f"{names[var]} = {text}")
        return names[var]

    for node in io_toposort(inputs, outputs):
        args = ", ".join(ref(var) for var in node.inputs)
        outs = []
        for var in node.outputs:
            names[var] = f"v{len(names)}"
            outs.append(f"{names[var]}:{var.type!r}")
        lines.append(f"{', '.join(outs)} = {_op_text(node.op, depth)}({args})")
    lines.append("outputs " + ", ".join(ref(var) for var in outputs))
    return "\n".join(lines)


def _array_text(value: Any) -> str:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise _Unkeyable("a constant of dtype object")
    digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    return f"{arr.dtype.str}{arr.shape}:{digest}"


def _op_text(op: Any, depth: int = 0) -> str:
    from pytensor.compile.builders import SymbolicOp

    if isinstance(op, SymbolicOp):
        # PyTensor's symbolic ops (LogAddExp, ...) compare by class, inner graph, inlining and
        # destroy map; their gradients are their class's methods
        own = type(op).__dict__.get("__props__", ())
        values = ", ".join(f"{name}={_value_text(getattr(op, name), depth)}" for name in own)
        inner = _graph_text(list(op.fgraph.inputs), list(op.fgraph.outputs), depth + 1)
        return (f"{type(op).__module__}.{type(op).__qualname__}({values}; inline="
                f"{op.is_inline}; destroy={_value_text(op.destroy_map, depth)}; {{\n{inner}\n}})")
    props = getattr(type(op), "__props__", None)
    if props is None:
        props = _scalar_props(op)
    if props is None or depth > 8:
        raise _Unkeyable(f"op {type(op).__qualname__} has no __props__")
    try:
        values = ", ".join(f"{name}={_value_text(getattr(op, name), depth)}" for name in props)
    except _Unkeyable as exc:
        raise _Unkeyable(f"{type(op).__qualname__}: {exc}") from None
    return f"{type(op).__module__}.{type(op).__qualname__}({values})"


def _scalar_props(op: Any) -> tuple[str, ...] | None:
    """The fields a PyTensor scalar op without ``__props__`` is compared by, if it is one."""
    from pytensor.scalar import basic as ps

    if not isinstance(op, ps.ScalarOp):
        return None
    # ScalarOp and its logical variants compare by type and output_types_preference (and the
    # constant flag 'bool'); an op class with any other __eq__ holds state we cannot see
    allowed = {ps.ScalarOp.__eq__, ps.LogicalComparison.__eq__, ps.FixedLogicalComparison.__eq__}
    eq = type(op).__eq__
    if eq not in allowed and not _compares_type_only(eq):
        return None
    return ("output_types_preference", "bool") if hasattr(op, "bool") else (
        "output_types_preference",)


def _type_only_eq(self, other):  # the reference for _compares_type_only
    return type(self) is type(other)


def _compares_type_only(eq: Any) -> bool:
    """True if ``eq`` is, byte code for byte code, ``return type(self) is type(other)``."""
    code, ref = getattr(eq, "__code__", None), _type_only_eq.__code__
    return code is not None and all(
        getattr(code, f) == getattr(ref, f)
        for f in ("co_code", "co_consts", "co_names", "co_varnames", "co_argcount"))


def _value_text(value: Any, depth: int) -> str:
    import enum
    import types

    from pytensor.graph.type import Type

    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return repr(value)
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, np.dtype):
        return f"dtype({value.str})"
    if isinstance(value, np.generic | np.ndarray):
        return _array_text(value)
    if isinstance(value, tuple | list | frozenset | set):
        items = [_value_text(v, depth) for v in value]
        if isinstance(value, frozenset | set):
            items.sort()
        return f"{type(value).__name__}({', '.join(items)})"
    if isinstance(value, dict) or type(value).__name__ == "frozendict":
        return "dict(" + ", ".join(sorted(f"{_value_text(k, depth)}: {_value_text(v, depth)}"
                                          for k, v in value.items())) + ")"
    if isinstance(value, Type):
        return f"type({value!r})"
    if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
        qual = getattr(value, "__qualname__", "")
        if "<" in qual or not getattr(value, "__module__", None):
            raise _Unkeyable(f"a local function {qual!r} in an op's properties")
        return f"{type(value).__name__} {value.__module__}.{qual}"
    if getattr(type(value), "__props__", None) is not None or _scalar_props(value):
        return _op_text(value, depth + 1)  # a scalar op inside Elemwise, specific_out, ...
    raise _Unkeyable(f"an op property of type {type(value).__qualname__}")


def _index_path(key: str) -> Any:
    from pathlib import Path

    from pytensor import config

    return Path(config.base_compiledir) / "bayescale-compile-index" / f"{key}.json"


def _read_index(key: str) -> dict | None:
    import json

    try:
        entry = json.loads(_index_path(key).read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) and entry.get("key") == key else None


def _write_index(key: str, entry: dict) -> None:
    import json

    from bayescale.files import atomic_write_text

    try:
        atomic_write_text(_index_path(key), json.dumps({"key": key, **entry}))
    except (OSError, TypeError, ValueError) as exc:
        # a read-only compile dir, or a value json cannot write: the next process compiles
        # again, but this one keeps the model it compiled (an exception here used to send
        # compile_nutpie to nutpie's own compile, a second full compile, on every hierarchy)
        _log.info("compile index not written (%s: %s)", type(exc).__name__, exc)


def _from_index(model: Any, entry: dict, point_fn: Any, outputs: list | None = None) -> Any:
    """nutpie's compiled model from an index entry: no graph rewrite, machine code loaded."""
    from nutpie import compile_pymc as ncp  # imported by compile_nutpie (import_nutpie)

    by_name = {var.name: var for var in _model_shared(model, outputs)}
    shared = {kind: [by_name[name] for name in entry[f"{kind}_shared"]]
              for kind in ("logp", "expand")}
    shared_vars = [by_name[name] for name in entry["shared"]]
    names, slices, shapes = entry["shape_info"]
    shape_info = (list(names), [slice(a, b) for a, b in slices], [tuple(s) for s in shapes])
    n_free = len(model.free_RVs)
    if [model.rvs_to_values[rv].name for rv in model.free_RVs] != shape_info[0][:n_free]:
        raise RuntimeError("the index entry's free variables are not the model's")
    init_fn = ncp._rv_dict_to_flat_array_wrapper(point_fn, names=shape_info[0][:n_free],
                                                  shapes=shape_info[2][:n_free])
    lazy = _LazyFunctions(model, point_fn)

    def not_compiled(*args):  # numba can type no call to this, so a cache miss cannot compile
        raise RuntimeError("the index's stand-in for PyTensor's function was called")

    return _assemble(
        model, n_dim=int(entry["n_dim"]), n_expanded=int(entry["n_expanded"]),
        shape_info=shape_info, reparam=list(entry["reparam"]), shared_vars=shared_vars,
        shared=shared, inner={"logp": not_compiled, "expand": not_compiled},
        base_keys=dict(entry["base_keys"]), init_fn=init_fn,
        logp_pt=_LazyFunction(lazy, 0), expand_pt=_LazyFunction(lazy, 1),
        require_cached=True,
    )


def _model_shared(model: Any, outputs: list | None = None) -> list:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    return [v for v in ancestors(outputs if outputs is not None else _key_outputs(model))
            if isinstance(v, SharedVariable)]


class _LazyFunctions:
    """The PyTensor logp and expand functions, compiled (graph rewrite and all) on first use."""

    def __init__(self, model: Any, point_fn: Any):
        self._model = model
        self._point_fn = point_fn
        self._fns: tuple | None = None

    def get(self, i: int) -> Any:
        if self._fns is None:
            from nutpie import compile_pymc as ncp  # a compiled model exists: nutpie is loaded

            with strict_math():
                out = ncp._make_functions(self._model, mode="NUMBA", compute_grad=True,
                                          join_expanded=True,
                                          pymc_initial_point_fn=self._point_fn)
            self._fns = (out[2], out[3])
        return self._fns[i]


class _LazyFunction:
    """Stands in for ``logp_func`` / ``expand_func`` of an indexed model until it is used."""

    def __init__(self, lazy: _LazyFunctions, i: int):
        self._lazy = lazy
        self._i = i

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._lazy.get(self._i)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._lazy.get(self._i), name)


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
    """Add the pointwise ``log_likelihood`` group to ``tree``.

    The numbers of ``pm.compute_log_likelihood(tree, model=model)``, computed with numpy from
    the law's own vectorised formula (``law.log_loss_fn(np, ...)``) and PyMC's Normal /
    Student-t log densities, on the posterior's stored law parameters and the model's data:
    milliseconds, where compiling PyTensor's function (graph rewrite and all) took about 1 s of
    every command-line fit.  The two agree to about 1e-13 (tested to 1e-10 in
    ``tests/test_cli_speed.py``); a model this does not recognise (a likelihood other than
    normal / Student-t, a law parameter missing from the posterior) is evaluated with PyTensor
    instead (:func:`log_likelihood_pytensor`).

    Examples
    --------
    >>> log_likelihood(tree, model)                          # doctest: +SKIP
    >>> tree["log_likelihood"]["log_loss"].dims              # doctest: +SKIP
    ('chain', 'draw', 'run')
    """
    values = _numpy_log_likelihood(tree, model)
    if values is None:
        log_likelihood_pytensor(tree, model)
        return
    import pymc
    from pymc.backends.arviz import coords_and_dims_for_inferencedata, dict_to_dataset

    coords, dims = coords_and_dims_for_inferencedata(model)
    post = tree["posterior"]
    stacked = {d: np.asarray(post[d]) for d in ("chain", "draw")}
    tree["log_likelihood"] = dict_to_dataset(
        values, inference_library=pymc, dims=dims, coords={**coords, **stacked},
        sample_dims=["chain", "draw"], skip_event_dims=True,
    )


def _numpy_log_likelihood(tree: Any, model: Any) -> dict[str, np.ndarray] | None:
    """``{observed name: (chain, draw, run) array}`` from the law in numpy, or None if unsure."""
    from bayescale.modeling.model import GROUP_DIM, OBS_DIM

    info = getattr(model, "_bayescale", None)
    spec = info.get("spec") if isinstance(info, dict) else None
    if spec is None or spec.likelihood not in ("normal", "student_t"):
        return None
    observed = list(model.observed_RVs)
    if len(observed) != 1 or model.named_vars_to_dims.get(observed[0].name) != (OBS_DIM,):
        return None
    post = tree["posterior"]
    law = spec.law_obj
    noise = ["sigma", "nu"] if spec.likelihood == "student_t" else ["sigma"]
    try:
        y = np.asarray(model["y"].get_value(), dtype=float)
        x = {k: np.asarray(model[f"x_{k}"].get_value(), dtype=float) for k in law.inputs}
        gidx = (np.asarray(model["group_idx"].get_value()) if spec.groups else None)
    except KeyError:
        return None
    params: dict[str, np.ndarray] = {}
    for name in (*law.param_names, *noise):
        if name not in post.data_vars:
            return None
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            params[name] = np.asarray(da, dtype=float)[..., None]
        elif extra == [GROUP_DIM] and gidx is not None and name not in noise:
            params[name] = np.asarray(da.transpose("chain", "draw", GROUP_DIM),
                                      dtype=float)[..., gidx]
        else:
            return None
    mu = np.asarray(law.log_loss_fn(np, x, {p: params[p] for p in law.param_names}),
                    dtype=float)
    sigma = params["sigma"]
    with np.errstate(all="ignore"):
        if spec.likelihood == "normal":  # pymc.Normal.logp, term by term
            out = (-0.5 * ((y - mu) / sigma) ** 2 - np.log(np.sqrt(2.0 * np.pi))
                   - np.log(sigma))
        else:  # pymc.StudentT.logp, term by term (lam = sigma ** -2)
            from scipy.special import gammaln

            nu = params["nu"]
            lam = sigma ** -2
            out = (gammaln((nu + 1.0) / 2.0) + 0.5 * np.log(lam / (nu * np.pi))
                   - gammaln(nu / 2.0) - (nu + 1.0) / 2.0 * np.log1p(lam * (y - mu) ** 2 / nu))
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    if out.shape != (n_chain, n_draw, y.size):
        return None
    return {observed[0].name: out}


def log_likelihood_pytensor(tree: Any, model: Any) -> None:
    """:func:`log_likelihood` with a compiled PyTensor function (any model), re-used per model.

    The same numbers as ``pm.compute_log_likelihood(tree, model=model)`` under
    :func:`strict_math` (compiled without fastmath, so that a fresh and a cached compile agree
    bit for bit), which compiles its function again on every call (about 1 s, a quarter of an
    in-process refit of the Chinchilla model).  The compiled function is kept on ``model``;
    bayescale re-uses a model for every fit of the same structure and swaps its data, and the
    function follows the swap.

    Examples
    --------
    >>> log_likelihood_pytensor(tree, model)                 # doctest: +SKIP
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
