"""Known-truth synthetic runs from a population of groups (model families, data sets...).

:func:`simulate_hierarchy` draws each group's law parameters from a population, exactly as the
hierarchical model of :mod:`bayescale.modeling` describes it (on each parameter's unconstrained
scale, ``u(theta_g) = u(theta_mu) + tau * z_g``, ``z_g ~ Normal(0, 1)``; ``u`` is ``log`` for
positive parameters), and simulates runs on a grid of model sizes and tokens per parameter with
log-normal noise.  Tests use it to check that intervals cover the truth; benchmarks use it to
time fits of many groups.

Examples
--------
>>> from bayescale.data.synthetic import simulate_hierarchy
>>> sim = simulate_hierarchy(n_groups=3, n_sizes=3, n_ratios=3, seed=1)
>>> sim.runs.groupby("family").size().tolist()
[9, 9, 9]
>>> sorted(sim.truth.columns)[:3]
['A', 'B', 'E']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayescale.laws import get_law

__all__ = ["DEFAULT_POPULATION", "SimulatedHierarchy", "simulate_hierarchy"]

#: Population centres and between-group scales (on the unconstrained scale) of the Chinchilla
#: law's sampled parameters at ``N0 = 1e8``, ``D0 = 1e9``: Hoffmann et al.'s ``E, A, B`` terms
#: with exponents spread by about 15% between groups.
DEFAULT_POPULATION: dict[str, dict[str, dict[str, float]]] = {
    "chinchilla": {
        "center": {"E": 1.8, "log_A0": -0.25, "alpha": 0.34, "log_B0": 0.2, "beta": 0.28},
        "tau": {"E": 0.08, "log_A0": 0.25, "alpha": 0.15, "log_B0": 0.25, "beta": 0.15},
        "reference": {"N": 1e8, "D": 1e9},
    },
}


@dataclass(frozen=True)
class SimulatedHierarchy:
    """Synthetic runs and the truth that generated them.

    Attributes
    ----------
    runs : pandas.DataFrame
        ``N``, ``D``, ``C = 6 N D``, ``loss`` and the grouping column.
    truth : pandas.DataFrame
        One row per group (index: group label): the sampled parameters at ``reference`` and the
        natural (published) parameters.
    center, tau : dict
        Population centres (``theta_mu``: the population median of a positive parameter) and
        between-group scales on the unconstrained scale.
    reference : dict
        Reference scales at which the sampled parameters are defined.
    """

    runs: pd.DataFrame
    truth: pd.DataFrame
    center: dict[str, float] = field(default_factory=dict)
    tau: dict[str, float] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)


def simulate_hierarchy(
    n_groups: int = 8,
    *,
    law: str = "chinchilla",
    center: Mapping[str, float] | None = None,
    tau: Mapping[str, float] | None = None,
    reference: Mapping[str, float] | None = None,
    sizes: tuple[float, float] = (1e7, 1e9),
    n_sizes: int = 5,
    ratios: tuple[float, float] = (5.0, 100.0),
    n_ratios: int = 4,
    sigma: float = 0.01,
    column: str = "family",
    seed: int | None = 0,
) -> SimulatedHierarchy:
    """Simulate runs of ``n_groups`` groups whose parameters come from one population.

    Parameters
    ----------
    n_groups : int
        Number of groups (labels ``g00``, ``g01``, ...).
    law : str
        A law with inputs ``N`` and ``D``; defaults exist for ``"chinchilla"``.
    center, tau : mapping, optional
        Population centre (natural scale) and between-group standard deviation (unconstrained
        scale: log for positive parameters) of each *sampled* parameter; ``tau = 0`` makes a
        parameter shared.  Missing entries come from :data:`DEFAULT_POPULATION`.
    reference : mapping, optional
        Reference scales at which ``center`` is given (default ``N0 = 1e8``, ``D0 = 1e9``).
    sizes, n_sizes : tuple, int
        Model sizes: ``n_sizes`` values log-spaced over ``sizes``.
    ratios, n_ratios : tuple, int
        Tokens per parameter ``D / N``: ``n_ratios`` values log-spaced over ``ratios``.
    sigma : float
        Standard deviation of the Gaussian noise on log loss.
    column : str
        Name of the grouping column.
    seed : int or None
        Random seed.

    Returns
    -------
    SimulatedHierarchy

    Examples
    --------
    >>> from bayescale.data.synthetic import simulate_hierarchy
    >>> sim = simulate_hierarchy(n_groups=10, seed=0)
    >>> len(sim.runs), sim.truth.shape[0]
    (200, 10)
    >>> bool(sim.truth["alpha"].between(0.15, 0.7).all())
    True
    """
    law_obj = get_law(law)
    if tuple(law_obj.inputs) != ("N", "D"):
        raise ValueError(f"simulate_hierarchy needs a law of N and D, not {law_obj.name!r}")
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, not {n_groups!r}")
    if n_sizes < 2 or n_ratios < 2:
        raise ValueError(f"n_sizes and n_ratios must be >= 2, not {n_sizes}, {n_ratios}")
    defaults: dict[str, Any] = DEFAULT_POPULATION.get(law_obj.name, {})
    centre = {**defaults.get("center", {}), **dict(center or {})}
    scales = {**defaults.get("tau", {}), **dict(tau or {})}
    ref = {**defaults.get("reference", {"N": 1e8, "D": 1e9}), **dict(reference or {})}
    missing = [p for p in law_obj.param_names if p not in centre or p not in scales]
    if missing:
        raise ValueError(f"give center= and tau= for {missing} of law {law_obj.name!r}")
    rng = np.random.default_rng(seed)
    labels = [f"g{i:0{max(2, len(str(n_groups - 1)))}d}" for i in range(n_groups)]
    sampled: dict[str, np.ndarray] = {}
    for p in law_obj.params:
        z = rng.standard_normal(n_groups)
        if p.support == "positive":
            sampled[p.name] = np.exp(np.log(centre[p.name]) + scales[p.name] * z)
        else:
            sampled[p.name] = centre[p.name] + scales[p.name] * z
    natural = law_obj.to_natural(sampled, ref)
    truth = pd.DataFrame({**sampled, **{k: np.asarray(v) for k, v in natural.items()}},
                         index=pd.Index(labels, name=column))
    N = np.repeat(np.geomspace(*sizes, n_sizes), n_ratios)
    D = N * np.tile(np.geomspace(*ratios, n_ratios), n_sizes)
    parts = []
    for i, g in enumerate(labels):
        p = {k: v[i] for k, v in sampled.items()}
        log_mu = law_obj.log_loss(p, {"N": N, "D": D}, ref)
        loss = np.exp(log_mu + sigma * rng.standard_normal(N.size))
        parts.append(pd.DataFrame({"N": N, "D": D, "C": 6.0 * N * D, "loss": loss, column: g}))
    runs = pd.concat(parts, ignore_index=True)
    return SimulatedHierarchy(runs, truth, centre, scales, ref)
