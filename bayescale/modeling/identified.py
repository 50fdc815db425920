"""Coordinates the data identify, for laws of the form ``L = E + sum_k term_k``.

Why.  When the runs show little curvature, the irreducible loss ``E`` trades off against each
term's scale and exponent: raising ``E`` while lowering ``A`` and raising ``alpha`` leaves the
curve nearly unchanged over the data.  In the law's own parameters ``(E, log A0, alpha)`` that
trade-off is a *curved* ridge (``E = L0 - S / alpha``, ``log A0 = log S - log alpha`` for a
fixed loss ``L0`` and slope ``S``), which NUTS crosses only with long trees, and on real sweeps
sometimes with two modes that the chains never leave.  Straightening the ridge fixes both.

What.  At the centre of the data (the mean centred log input of each term, per group in a
hierarchy) the runs pin down the log-loss ``l = log L`` and the log-slopes
``g_k = -d log L / d x_k``; only the *shares* of the loss that the offset and each term hold
there (``f_E + sum_k f_k = 1``) depend on curvature.  The model samples

* ``l`` (the log-loss at the centre),
* ``log g_k`` (the log-slope of each term whose exponent is its own),
* ``z_k = log(f_k / f_E)`` (additive log-ratio coordinates of the shares),

each as a standardised coordinate around a rough data-derived value (``pm.Data``, so a compiled
model refits new runs), and derives the law's parameters::

    E = exp(l) f_E,   log A_k(centre) = l + log f_k,   alpha_k = g_k / (m_k f_k),
    log A0_k = log A_k(centre) + m_k alpha_k xbar_k   (the reference-scale parameter).

Priors.  The priors are still those the spec states for the law's parameters: the model adds
their log-density at the derived values plus the log-Jacobian of the map, which is simply
``log E + sum_k log alpha_k`` (the shares' Jacobian ``prod f`` cancels ``L0 / prod f_k``).  So
the posterior is the same distribution as in the natural coordinates (``tests/`` check it), only
easier to sample.  In a hierarchy each group gets its own identified coordinates and the pooled
parameters enter through the centred hierarchical density ``u(theta_g) ~ Normal(u(theta_mu),
tau)``; the group's data pin its level and slopes, which is where centring is right.

The mapping is exact for every law declaring :class:`~bayescale.laws.PowerTerms`; for laws whose
terms bend (broken power law) or share an exponent (over-training) only the level and the shares
are re-coordinated and the exponents stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["IdentifiedCoords", "initial_values", "law_params", "supports_identified"]

#: Scales of the standardised coordinates (the sampler's initial jitter is +-1 of them).
SCALE = {"l": 0.05, "log_g": 0.3, "z": 1.0}


@dataclass(frozen=True)
class IdentifiedCoords:
    """Which parameters the identified coordinates replace, for one law.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> from bayescale.modeling.identified import IdentifiedCoords
    >>> c = IdentifiedCoords.of(get_law("chinchilla"))
    >>> c.replaced
    ('E', 'log_A0', 'alpha', 'log_B0', 'beta')
    >>> c.free_names
    ('id_l', 'id_z_log_A0', 'id_z_log_B0', 'id_log_g_alpha', 'id_log_g_beta')
    """

    offset: str
    scales: tuple[str, ...]
    exponents: tuple[str, ...]
    inputs: tuple[str, ...]
    multipliers: tuple[float, ...]
    sloped: tuple[bool, ...]

    @classmethod
    def of(cls, law) -> IdentifiedCoords:
        """The coordinates of ``law`` (which must declare ``structure``)."""
        st = law.structure
        if st is None:
            raise ValueError(f"law {law.name!r} declares no PowerTerms structure")
        return cls(
            offset=st.offset,
            scales=tuple(t.scale for t in st.terms),
            exponents=tuple(t.exponent for t in st.terms),
            inputs=tuple(t.input for t in st.terms),
            multipliers=tuple(float(t.multiplier) for t in st.terms),
            sloped=tuple(bool(t.slope) for t in st.terms),
        )

    @property
    def replaced(self) -> tuple[str, ...]:
        """Law parameters derived from the identified coordinates (not sampled themselves)."""
        out = [self.offset]
        for s, e, sl in zip(self.scales, self.exponents, self.sloped, strict=True):
            out.append(s)
            if sl:
                out.append(e)
        return tuple(out)

    @property
    def free_names(self) -> tuple[str, ...]:
        """Names of the standardised free variables of the model."""
        return ("id_l", *(f"id_z_{s}" for s in self.scales),
                *(f"id_log_g_{e}" for e, sl in zip(self.exponents, self.sloped, strict=True)
                  if sl))


def supports_identified(spec) -> tuple[bool, str]:
    """Whether ``spec`` can be sampled in identified coordinates, and if not, why.

    Identified coordinates need a law that declares its ``PowerTerms`` structure, priors that
    are plain distributions (no hyper-priors as arguments), and, in a hierarchy, a combined
    grouping in which every replaced parameter varies by group (pooled or independent).

    Examples
    --------
    >>> from bayescale.modeling.spec import default_spec
    >>> from bayescale.modeling.identified import supports_identified
    >>> supports_identified(default_spec("chinchilla"))
    (True, '')
    >>> supports_identified(default_spec("kaplan"))[0]
    False
    """
    law = spec.law_obj
    if law.structure is None:
        return False, f"law {law.name!r} is not of the form E + sum of power terms"
    coords = IdentifiedCoords.of(law)
    for name in coords.replaced:
        prior = spec.priors[name]
        if any(isinstance(v, Mapping) for v in prior.get("kwargs", {}).values()):
            return False, f"the prior of {name!r} has a hyper-prior argument"
    if spec.groups:
        if spec.grouping != "combined":
            return False, f"grouping = {spec.grouping!r} (identified coordinates need 'combined')"
        shared = [n for n in coords.replaced if spec.pooling_of(n) == "shared"]
        if shared:
            return False, f"{shared} are shared across groups"
    return True, ""


def _alr_inverse(xp, z_list):
    """Shares ``(f_E, f_1..f_K)`` from additive log-ratios ``z_k = log(f_k / f_E)``."""
    zero = z_list[0] * 0.0
    stack = [zero, *z_list]
    m = stack[0]
    for z in stack[1:]:
        m = xp.maximum(m, z)
    exps = [xp.exp(z - m) for z in stack]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    log_total = xp.log(total) + m
    return [z - log_total for z in stack]  # log shares


def law_params(xp, coords: IdentifiedCoords, l, z: Mapping[str, Any], log_g: Mapping[str, Any],
               exponents: Mapping[str, Any], xbar: Mapping[str, Any]) -> tuple[dict, Any]:
    """The law's parameters from identified coordinates, and the log-Jacobian of the map.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    coords : IdentifiedCoords
    l : array_like
        Log-loss at the centre of the data.
    z : mapping
        Additive log-ratio of each term's share to the offset's, by the term's scale name.
    log_g : mapping
        Log-slope of each sloped term, by exponent name.
    exponents : mapping
        Values of the exponents that are not sloped (sampled as themselves).
    xbar : mapping
        Centre of the data in each term's centred log input, by input name.

    Returns
    -------
    params : dict
        The replaced law parameters (``E``, ``log_A0``, ``alpha``...).
    log_jac : array_like
        ``log |d params / d (l, z, log g)|`` = ``log E + sum of log sloped exponents``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import get_law
    >>> from bayescale.modeling.identified import IdentifiedCoords, law_params
    >>> c = IdentifiedCoords.of(get_law("compute"))
    >>> p, lj = law_params(np, c, np.log(3.0), {"log_A0": 0.0}, {"gamma": np.log(0.05)}, {},
    ...                    {"C": 0.0})
    >>> round(float(p["E"]), 3), round(float(p["gamma"]), 3)
    (1.5, 0.1)
    """
    log_f = _alr_inverse(xp, [z[s] for s in coords.scales])
    out: dict[str, Any] = {coords.offset: xp.exp(l + log_f[0])}
    log_jac = l + log_f[0]
    for k, (s, e, inp, m, sl) in enumerate(zip(coords.scales, coords.exponents, coords.inputs,
                                               coords.multipliers, coords.sloped, strict=True)):
        log_term = l + log_f[k + 1]
        if sl:
            expo = xp.exp(log_g[e] - log_f[k + 1]) / m
            out[e] = expo
            log_jac = log_jac + xp.log(expo)
        else:
            expo = exponents[e]
        out[s] = log_term + m * expo * xbar[inp]
    return out, log_jac


def identified_from_params(coords: IdentifiedCoords, params: Mapping[str, Any],
                           xbar: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Inverse of :func:`law_params` (numpy): identified coordinates of law parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import get_law
    >>> from bayescale.modeling.identified import (IdentifiedCoords, law_params,
    ...                                              identified_from_params)
    >>> c = IdentifiedCoords.of(get_law("chinchilla"))
    >>> p = dict(E=1.8, log_A0=-1.0, alpha=0.35, log_B0=-1.2, beta=0.3)
    >>> back = identified_from_params(c, p, {"N": 0.3, "D": -0.2})
    >>> q, _ = law_params(np, c, back["l"], back["z"], back["log_g"], {}, {"N": 0.3, "D": -0.2})
    >>> bool(np.allclose([q[k] for k in p], list(p.values())))
    True
    """
    log_terms = []
    for s, e, inp, m in zip(coords.scales, coords.exponents, coords.inputs, coords.multipliers,
                            strict=True):
        log_terms.append(np.asarray(params[s]) - m * np.asarray(params[e]) * xbar[inp])
    log_e = np.log(np.asarray(params[coords.offset], dtype=float))
    l = np.logaddexp.reduce(np.stack([log_e, *np.broadcast_arrays(*log_terms)]), axis=0)
    z = {s: lt - log_e for s, lt in zip(coords.scales, log_terms, strict=True)}
    log_g = {}
    for s, e, m, sl, lt in zip(coords.scales, coords.exponents, coords.multipliers,
                               coords.sloped, log_terms, strict=True):
        if sl:
            log_g[e] = np.log(m * np.asarray(params[e])) + lt - l
    return {"l": l, "z": z, "log_g": log_g}


def _rough_group(y: np.ndarray, x: dict[str, np.ndarray], coords: IdentifiedCoords,
                 xbar: dict[str, float]) -> dict[str, Any]:
    """A rough start for one group: level and slopes by least squares, shares by a rule."""
    inputs = list(dict.fromkeys(coords.inputs))
    design = [np.ones_like(y)] + [x[k] - xbar[k] for k in inputs]
    a = np.stack(design, axis=1)
    ridge = 1e-3 * np.eye(a.shape[1])
    ridge[0, 0] = 0.0
    beta = np.linalg.solve(a.T @ a + ridge, a.T @ y)
    level = float(beta[0])
    slope_of = {k: float(np.clip(-beta[i + 1], 0.01, 1.0)) for i, k in enumerate(inputs)}
    # share of the offset: the irreducible loss sits below the smallest loss seen
    f_e = float(np.clip(0.8 * np.exp(y.min() - level), 0.2, 0.9))
    weights = np.array([slope_of[k] for k in coords.inputs])
    shares = (1.0 - f_e) * weights / weights.sum()
    z = {s: float(np.log(f / f_e)) for s, f in zip(coords.scales, shares, strict=True)}
    log_g = {e: float(np.log(slope_of[k])) for e, k, sl in
             zip(coords.exponents, coords.inputs, coords.sloped, strict=True) if sl}
    return {"l": level, "z": z, "log_g": log_g}


def initial_values(coords: IdentifiedCoords, y: np.ndarray, x: Mapping[str, np.ndarray],
                   gidx: np.ndarray | None, n_groups: int) -> dict[str, np.ndarray]:
    """Per-group centres of the data and rough coordinates, as arrays for ``pm.Data``.

    Returns a dict with ``xbar_<input>`` (the centre of each term's input), ``id0_l``,
    ``id0_z_<scale>`` and ``id0_log_g_<exponent>``, each of shape ``(n_groups,)`` (``()``
    without groups).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.laws import get_law
    >>> from bayescale.modeling.identified import IdentifiedCoords, initial_values
    >>> c = IdentifiedCoords.of(get_law("compute"))
    >>> x = {"C": np.linspace(-2, 2, 9)}
    >>> v = initial_values(c, np.log(2 + np.exp(-0.1 * x["C"])), x, None, 1)
    >>> sorted(v)
    ['id0_l', 'id0_log_g_gamma', 'id0_z_log_A0', 'xbar_C']
    """
    inputs = list(dict.fromkeys(coords.inputs))
    groups = [np.arange(len(y))] if gidx is None else [np.flatnonzero(gidx == g)
                                                       for g in range(n_groups)]
    rows = []
    for idx in groups:
        if idx.size == 0:
            idx = np.arange(len(y))
        xbar = {k: float(np.mean(x[k][idx])) for k in inputs}
        rough = _rough_group(y[idx], {k: x[k][idx] for k in inputs}, coords, xbar)
        rows.append((xbar, rough))
    out: dict[str, np.ndarray] = {}
    for k in inputs:
        out[f"xbar_{k}"] = np.array([r[0][k] for r in rows])
    out["id0_l"] = np.array([r[1]["l"] for r in rows])
    for s in coords.scales:
        out[f"id0_z_{s}"] = np.array([r[1]["z"][s] for r in rows])
    for e, sl in zip(coords.exponents, coords.sloped, strict=True):
        if sl:
            out[f"id0_log_g_{e}"] = np.array([r[1]["log_g"][e] for r in rows])
    if gidx is None:
        out = {k: v.reshape(()) for k, v in out.items()}
    return out
