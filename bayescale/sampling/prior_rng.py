"""Prior draws without importing ``scipy.stats``: numpy samplers for two of PyTensor's RVs.

Why.  With PyTensor's Python linker (how a fit draws its prior, see
:data:`bayescale.sampling.fit.PRIOR_COMPILE`), the half-normal and Student-t random variables
draw through SciPy's ``halfnorm.rvs`` and ``t.rvs`` (in ``scipy.stats``).  Importing ``scipy.stats``
takes 0.7-0.9 s, and in a warm command-line fit the prior draws, made while nutpie's threads
sample, are the longest thing on the critical path (1.5-1.9 s of a 4-5 s fit, measured per phase
on a quiet 2-core machine).  Every default spec has a half-normal noise scale, and the Student-t
likelihood's prior predictive draws Student-t noise.

What.  :func:`numpy_rvs` is a context manager that, while it is open, draws those two random
variables with the numpy calls that SciPy itself makes, in the same order, on the same
generator: ``|standard_normal(size)| * scale + loc`` (SciPy's ``halfnorm._rvs``) and
a standard Student-t draw ``* scale + loc`` (SciPy's ``t._rvs``;
:func:`bayescale.modeling.noise.standard_t_like_scipy`), with SciPy's broadcasting of the
parameters.  The draws are bit-identical (``tests/test_prior_rng.py`` checks them against
SciPy's across shapes and broadcasts), so a seed gives the same prior as before.  On leaving,
PyTensor's own methods are put back.  A parameter SciPy would reject (a negative scale) is
handed to SciPy, so its error message is the one users see.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

__all__ = ["numpy_rvs"]

_LOCK = threading.Lock()
_DEPTH = 0
_SAVED: dict = {}


def _shape(size, *params) -> tuple[int, ...]:
    """SciPy's sample shape: ``size`` if given, else the parameters' broadcast shape with its
    leading length-1 axes dropped (SciPy's ``_argcheck_rvs``)."""
    if size is not None:
        return tuple(int(n) for n in np.atleast_1d(np.asarray(size, dtype=int)))
    shape = tuple(np.broadcast_shapes(*(np.shape(p) for p in params)))
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _fit(a, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter broadcast to the sample shape (leading length-1 axes dropped first)."""
    a = np.asarray(a, dtype=float)
    while a.ndim > len(shape) and a.shape[0] == 1:
        a = a[0]
    return np.broadcast_to(a, shape)


def _valid(scale, *shape_params) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.asarray(scale) > 0)) and all(
            bool(np.all(np.asarray(p) > 0)) for p in shape_params)


def _halfnormal(original):
    def rng_fn_scipy(cls, rng, loc, scale, size):
        if not (_valid(scale) and isinstance(rng, np.random.Generator)):
            return original.__func__(cls, rng, loc, scale, size)
        shape = _shape(size, loc, scale)
        loc_b, scale_b = (_fit(a, shape) for a in (loc, scale))
        vals = np.abs(rng.standard_normal(shape)) * scale_b + loc_b
        return vals[()] if shape == () else vals

    return classmethod(rng_fn_scipy)


def _student_t(original):
    from bayescale.modeling.noise import standard_t_like_scipy

    def rng_fn_scipy(cls, rng, df, loc, scale, size):
        if not (_valid(scale, df) and isinstance(rng, np.random.Generator)):
            return original.__func__(cls, rng, df, loc, scale, size)
        shape = _shape(size, df, loc, scale)
        df_b, loc_b, scale_b = (_fit(a, shape) for a in (df, loc, scale))
        vals = standard_t_like_scipy(rng, df_b, shape) * scale_b + loc_b
        return vals[()] if shape == () else vals

    return classmethod(rng_fn_scipy)


@contextlib.contextmanager
def numpy_rvs() -> Iterator[None]:
    """Draw PyTensor's half-normal and Student-t variables with numpy inside the block.

    Re-entrant and thread-safe: the methods are swapped when the first block opens and put back
    when the last one closes.

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> from bayescale.sampling.prior_rng import numpy_rvs
    >>> with numpy_rvs():
    ...     x = pm.draw(pm.HalfNormal.dist(sigma=2.0, size=3), random_seed=1)
    >>> bool(np.allclose(x, pm.draw(pm.HalfNormal.dist(sigma=2.0, size=3), random_seed=1),
    ...                  rtol=0, atol=0))
    True
    """
    from pytensor.tensor.random.basic import HalfNormalRV, StudentTRV

    global _DEPTH
    with _LOCK:
        if _DEPTH == 0:
            for cls, make in ((HalfNormalRV, _halfnormal), (StudentTRV, _student_t)):
                original = cls.__dict__["rng_fn_scipy"]
                _SAVED[cls] = original
                cls.rng_fn_scipy = make(original)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0:
                for cls, original in _SAVED.items():
                    cls.rng_fn_scipy = original
                _SAVED.clear()
