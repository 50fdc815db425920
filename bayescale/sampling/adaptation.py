"""Which mass-matrix adaptation nutpie uses for a model.

nutpie offers a diagonal mass matrix (``"diag"``) and a diagonal plus low-rank correction
(``"low_rank"``).  The low-rank correction absorbs the correlations of irreducible loss,
exponents and scales of a single law: on the Chinchilla runs it cuts NUTS trees from ~41 to ~6
leapfrog steps per draw and triples ESS.  It still halves the steps of a hierarchy, but its cost
per leapfrog step (and per warm-up window, where it re-estimates the correction) grows with the
number of free parameters, and beyond ~100 unconstrained dimensions the cheaper diagonal steps
win more than the low-rank saves: :data:`LOW_RANK_MAX_DIM`, measured on synthetic and real
hierarchies (``benchmarks/hierarchical_bench.py``, issue 12).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DIAG_TARGET_ACCEPT", "LOW_RANK_MAX_DIM", "default_target_accept", "free_dimension",
           "nutpie_adaptation"]

#: Largest number of unconstrained dimensions sampled with ``"low_rank"``.  Chinchilla
#: hierarchies have 5 per group + 8, 4 x 1000 draws, smallest bulk ESS per second of sampling,
#: ``diag`` over ``low_rank`` (2026-12-01, ``benchmarks/hierarchical_bench.py``): 0.26 at 58
#: dimensions (synthetic, 10 groups), 1.38, 0.74 and 0.82 at 83 (Porian's 15 set-ups, seeds 1-3:
#: a tie within the load noise), 4.3 at 128 (Gadre's 24 cells, R-hat 1.003 against 1.013),
#: 2.5 at 208 (40 groups), 3.4 at 508 (100 groups; same 63 steps per draw, 187 s against
#: 635 s of sampling).  The crossover is at ~80-130 dimensions; the tie stays low-rank.
LOW_RANK_MAX_DIM = 100


def free_dimension(model: Any) -> int:
    """The number of unconstrained dimensions NUTS samples (the size of the flat vector).

    Read from the value variables' static shapes, or from their named dimensions
    (``model.dim_lengths``), without compiling anything; a variable whose size neither gives
    is counted by evaluating the model's initial point.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model(coords={"group": list("abc")}) as m:
    ...     mu = pm.Normal("mu")
    ...     tau = pm.HalfNormal("tau")
    ...     z = pm.Normal("z", dims="group")
    >>> free_dimension(m)
    5
    """
    total = 0
    for value in model.value_vars:
        shape = value.type.shape
        if all(s is not None for s in shape):
            total += math.prod(shape)
            continue
        rv = model.values_to_rvs.get(value)
        dims = model.named_vars_to_dims.get(value.name) or (
            model.named_vars_to_dims.get(rv.name) if rv is not None else None)
        if dims and len(dims) == value.type.ndim and all(d in model.dim_lengths for d in dims):
            sizes = []
            for d in dims:
                length = model.dim_lengths[d]
                get = getattr(length, "get_value", None)
                sizes.append(int(get() if get is not None else length.data))
            total += math.prod(sizes)
            continue
        point = model.initial_point()  # compiles a small function: only for unnamed shapes
        return int(sum(v.size for v in point.values()))
    return total


def nutpie_adaptation(model: Any) -> str:
    """The ``adaptation=`` argument of ``nutpie.sample`` for a built PyMC model.

    ``"low_rank"`` up to :data:`LOW_RANK_MAX_DIM` free dimensions (single laws: 4-10;
    Chinchilla hierarchies up to 18 groups), ``"diag"`` above (measured: see the constant).

    Parameters
    ----------
    model : pymc.Model
        The model :func:`bayescale.modeling.build_model` returned.

    Returns
    -------
    str
        ``"low_rank"`` or ``"diag"``.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x")
    >>> nutpie_adaptation(m)
    'low_rank'
    >>> with pm.Model() as big:
    ...     z = pm.Normal("z", shape=LOW_RANK_MAX_DIM + 1)
    >>> nutpie_adaptation(big)
    'diag'
    """
    return "low_rank" if free_dimension(model) <= LOW_RANK_MAX_DIM else "diag"


#: Default ``target_accept`` of a nutpie fit with a diagonal mass matrix (more than
#: :data:`LOW_RANK_MAX_DIM` dimensions: large hierarchies) whose law asks for the usual 0.9.
#: In high dimension the step size that keeps a given acceptance rate shrinks (as d^-1/4 for
#: near-Gaussian targets), and the acceptance rate that minimises the cost per effective sample
#: falls towards 0.65 (Beskos et al. 2013); Stan's default is 0.8.  Measured (4 x 1000, retry
#: off, 2026-12-01): the 100-group, 5,000-run synthetic hierarchy (508 dimensions) took 63.0
#: leapfrog steps per draw at 0.9 and at 0.85 (every draw at tree depth 6) and 55.6 / 55.0 at
#: 0.8 (seeds 1 / 2; 28-30% of draws at depth 5), 0 divergences in each, ESS per second of
#: sampling 48 / 40 / 51-63; Gadre et al.'s 24 cells (128 dimensions) had 0 divergences at 0.8
#: in seeds 0-3 (and at 0.85 in seeds 0-1) as at 0.9, with minimum bulk ESS 778-881 at 0.8
#: against 594 at 0.9.  A fit that diverges is refitted at 0.99 by the automatic retry, as at
#: 0.9.
DIAG_TARGET_ACCEPT = 0.8


def default_target_accept(law_default: float, model: Any, sampler: str = "nutpie") -> float:
    """The ``target_accept`` a fit uses when the user gives none.

    The law's own default (0.9, or 0.99 for laws that diverge at 0.9), except that a nutpie fit
    in the diagonal regime (:func:`nutpie_adaptation` gives ``"diag"``) whose law asks for 0.9
    uses :data:`DIAG_TARGET_ACCEPT`.

    Examples
    --------
    >>> import pymc as pm
    >>> with pm.Model() as small:
    ...     x = pm.Normal("x", shape=5)
    >>> default_target_accept(0.9, small)
    0.9
    >>> with pm.Model() as big:
    ...     z = pm.Normal("z", shape=LOW_RANK_MAX_DIM + 1)
    >>> default_target_accept(0.9, big), default_target_accept(0.99, big)
    (0.8, 0.99)
    >>> default_target_accept(0.9, big, sampler="pymc")
    0.9
    """
    if sampler == "nutpie" and law_default == 0.9 and nutpie_adaptation(model) == "diag":
        return DIAG_TARGET_ACCEPT
    return law_default
