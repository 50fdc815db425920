"""Which mass-matrix adaptation nutpie uses for a model.

nutpie offers a diagonal mass matrix (``"diag"``) and a diagonal plus low-rank correction
(``"low_rank"``).  The low-rank correction absorbs the correlations of irreducible loss,
exponents and scales of a single law: on the Chinchilla runs it cuts NUTS trees from ~41 to ~6
leapfrog steps per draw and triples ESS.  Its cost per leapfrog step grows with the number of
parameters, so for large hierarchies the choice is a measured trade-off (``benchmarks/``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["nutpie_adaptation"]


def nutpie_adaptation(model: Any) -> str:
    """The ``adaptation=`` argument of ``nutpie.sample`` for a built PyMC model.

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
    """
    return "low_rank"
