"""Build a PyMC model from a validated runs table and a :class:`ModelSpec`.

The builder is a plain function that returns a ``pm.Model``; sampling, predicting and deciding
live elsewhere.  The model is, for run ``i`` in group ``g[i]``::

    log loss_i ~ Normal or StudentT(nu)(mu_i, sigma)
    mu_i = law.log_loss(x_i, theta_g[i]),   x_i = log(input_i / reference)

with each law parameter ``theta`` either *shared* (one value), *independent* (one value per
group, each with the spec's prior) or *pooled*: on the parameter's unconstrained scale ``u``
(``log`` for positive parameters, the identity otherwise)::

    u(theta_g) = u(theta_mu) + sum over terms t of e_t[level_t(g)],   e_t ~ Normal(0, tau_t)

with ``theta_mu`` under the spec's prior for ``theta`` (for a positive parameter it is the
population *median*) and ``tau_t ~ HalfNormal(pool_scale)``.  One grouping column, or the
default ``grouping = "combined"``, has a single term (one effect per group); ``"nested"`` and
``"crossed"`` groupings have one term per column (:mod:`bayescale.modeling.groups`).  Effects are
sampled non-centred (``e = tau * z``, ``z ~ Normal(0, 1)``; variables ``theta_tau``,
``theta_z``) or centred (``e`` itself; ``theta_eff``), see :func:`resolve_centered`.  ``tau -> 0``
is complete pooling and a large ``tau`` no pooling, so both limits stay reachable.

Every group shares the reference scales ``N0``, ``D0`` (resolved once from all runs), so a pooled
``log_A0`` says "the N-term at the same model size ``N0`` is similar across groups" and the
natural ``A_g = exp(log_A0_g + alpha_g log N0)`` of each group follows from its own exponent.
Group-specific reference scales would pool a different quantity (the term at each group's own
typical size) and were measured not to be needed on the bundled data: the groups of Porian et
al. and Gadre et al. sit within a factor ~2 of each other in ``N`` (``tests/`` and the closing
note of issue 3).

Inputs and observations are ``pm.Data`` containers, so a model can be re-used on new runs of the
same shape without rebuilding the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayescale.modeling.groups import (
    GroupStructure,
    effect_names,
    group_labels,
    group_structure,
    term_names,
)
from bayescale.modeling.identified import (
    SCALE,
    IdentifiedCoords,
    initial_values,
    law_params,
    supports_identified,
)
from bayescale.modeling.noise import NU_MIN, observe
from bayescale.modeling.spec import ModelSpec, resolve_reference

__all__ = [
    "GROUP_DIM",
    "OBSERVED",
    "OBS_DIM",
    "build_model",
    "free_variable_names",
    "group_labels",
    "resolve_centered",
    "resolve_reference",
    "uses_identified",
]

OBS_DIM = "run"
GROUP_DIM = "group"
OBSERVED = "log_loss"


class _Prior:
    """A prior from a spec's ``{"dist": ..., "kwargs": {...}}`` table, ready to become a variable.

    The dictionary format is that of ``pymc_extras.prior.Prior`` (centred priors only); building
    the variable directly costs nothing, where importing ``pymc_extras`` took ~3 s of every fit's
    start-up (it imports ArviZ's plotting and matplotlib).  A keyword argument that is itself a
    prior table becomes a variable named ``<name>_<argument>``, as in ``pymc_extras``.
    """

    def __init__(self, dist: type, kwargs: Mapping[str, Any], dims: Any) -> None:
        self.dist, self.kwargs, self.dims = dist, kwargs, dims

    def create_variable(self, name: str):
        kwargs = {k: (v.create_variable(f"{name}_{k}") if isinstance(v, _Prior) else v)
                  for k, v in self.kwargs.items()}
        return self.dist(name, dims=self.dims, **kwargs)


def _prior(d: Mapping[str, Any], dims: str | tuple[str, ...] | None = None) -> _Prior:
    import pymc as pm

    from bayescale.errors import SpecError

    name = d.get("dist")
    dist = getattr(pm, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not (isinstance(dist, type) and issubclass(dist, pm.Distribution)):
        raise SpecError(f"invalid prior {dict(d)!r}: {name!r} is not a PyMC distribution "
                        "(e.g. Normal, LogNormal, HalfNormal, Gamma, TruncatedNormal)")
    kwargs = {k: (_prior(v) if isinstance(v, Mapping) else v)
              for k, v in d.get("kwargs", {}).items()}
    return _Prior(dist, kwargs, dims)


def _variable(prior: _Prior, name: str):
    """``prior.create_variable(name)``, with a bad argument reported as a :class:`SpecError`."""
    from bayescale.errors import SpecError

    try:
        return prior.create_variable(name)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(f"invalid prior for {name!r}: {exc}") from None


#: Median runs per group from which ``centered = "auto"`` samples group effects centred.  Measured
#: with the default sampler settings: Porian et al.'s set-ups (~68 runs each after the isoFLOP
#: window) take ~22 leapfrog steps per draw centred vs ~90 non-centred; Gadre et al.'s data x
#: validation cells (28 runs) 48-92 vs 138, with 3-5x the ESS of the effect scales; synthetic
#: groups of 20 runs (8 groups, 3 seeds, 4 x 400 draws): centred 0-9 divergences, worst R-hat
#: 1.009-1.026, ~15 steps; non-centred 0-49 divergences, worst R-hat 1.04-1.16, ~65 steps.
CENTER_MIN_RUNS = 15


def resolve_centered(runs: pd.DataFrame, spec: ModelSpec) -> ModelSpec:
    """Replace ``centered = "auto"`` by the explicit list of centred parameters.

    In identified coordinates (combined groupings) every pooled parameter is centred (a fit that
    diverges is refitted with the weakly pinned exponents non-centred,
    :func:`noncentring_remedy`).  In natural coordinates ``"auto"`` centres
    every pooled parameter when the grouping is ``"combined"`` and the median
    group has at least :data:`CENTER_MIN_RUNS` runs; otherwise none (nested and crossed
    groupings stay non-centred: a term with few levels, such as two data sets, makes a
    centred funnel).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import resolve_centered
    >>> spec = default_spec("compute").replace(groups=("dataset",), coordinates="natural")
    >>> runs = pd.DataFrame({"dataset": ["a", "b"] * 40})
    >>> resolve_centered(runs, spec).centered
    ('E', 'gamma')
    >>> resolve_centered(runs.head(20), spec).centered
    ()
    """
    if spec.centered != "auto" or not spec.groups:
        return spec  # without groups there are no group effects ("auto" keeps the spec's hash)
    pooled = tuple(p for p in spec.law_obj.param_names if spec.pooling_of(p) == "pooled")
    if uses_identified(spec) and spec.grouping == "combined":
        return spec.replace(centered=pooled)  # each group's runs pin its identified coordinates
    median = float(runs.groupby(list(spec.groups)).size().median())
    many = spec.grouping == "combined" and median >= CENTER_MIN_RUNS
    return spec.replace(centered=pooled if many else ())


def noncentring_remedy(runs: pd.DataFrame, spec: ModelSpec) -> tuple[str, ...] | None:
    """The ``centered`` tuple a diverging identified hierarchy is refitted with, or None.

    Identified hierarchies sample every pooled parameter centred by default (each group's runs
    pin its coordinates).  When such a fit diverges (the funnel where a scale ``tau`` shrinks),
    the retry samples non-centred the exponents whose per-group robust fits pin them no more
    tightly than the low end of the between-group spread
    (:func:`~bayescale.modeling.centring.centred_exponents`).  None when that changes nothing
    (fewer than :data:`FEW_GROUPS` groups, other groupings, natural coordinates, or every
    exponent well pinned).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import noncentring_remedy
    >>> noncentring_remedy(pd.DataFrame({"g": list("ab") * 10}),
    ...                    default_spec("chinchilla").replace(groups=("g",))) is None
    True
    """
    from bayescale.modeling.centring import centred_exponents, exponent_information

    if not spec.groups or spec.grouping != "combined" or not uses_identified(spec):
        return None
    labels = group_labels(runs, spec.groups)
    if labels.nunique() < FEW_GROUPS:
        return None
    pooled = tuple(p for p in spec.law_obj.param_names if spec.pooling_of(p) == "pooled")
    current = pooled if spec.centered == "auto" else tuple(spec.centered)
    st = spec.law_obj.structure
    candidates = [t.exponent for t in st.terms if t.slope and t.exponent in current]
    if not candidates:
        return None
    decision = centred_exponents(exponent_information(runs, spec, labels=labels), candidates)
    keep = tuple(p for p in current if p not in decision or decision[p]["centred"])
    return keep if keep != current else None


def few_groups_remedy(runs: pd.DataFrame, spec: ModelSpec) -> dict[str, Any] | None:
    """The coordinates a diverging hierarchy of few groups is refitted in, or None.

    With fewer than :data:`FEW_GROUPS` groups (combined grouping) no exponent is non-centred
    (:func:`noncentring_remedy` returns None), and the pooled parameters are centred on the
    values each group's runs pin (every coordinate in identified coordinates; in natural ones,
    when the groups hold enough runs, :func:`resolve_centered`).  Where the groups agree, so
    that the data allow a between-group scale ``tau`` near zero, that centred density is a
    funnel a higher ``target_accept`` does not cross.  The law's own parameters with every
    group effect non-centred have no such funnel: ``{"coordinates": "natural", "centered":
    ()}`` (Kaplan's law by Gadre et al.'s three sets: 128 divergences centred, 25 at 0.99).  The
    E-A-alpha ridge the identified coordinates remove then costs leapfrog steps, not
    correctness.  Measured on Gadre et al.'s three pretraining sets under the all-pooled spec
    ``chinchilla_pooled``, seeds 0 and 1: identified, 142 and 208 divergences at target_accept
    0.9, still diverging at 0.99; natural and non-centred, 0 divergences, R-hat 1.006-1.008,
    about 200 steps per draw.  None for other fits (they have other remedies).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import few_groups_remedy
    >>> spec = default_spec("chinchilla").replace(groups=("dataset",))
    >>> few_groups_remedy(pd.DataFrame({"dataset": list("abc") * 10}), spec)
    {'coordinates': 'natural', 'centered': ()}
    >>> few_groups_remedy(pd.DataFrame({"dataset": list("abcdef") * 5}), spec) is None
    True
    """
    if not spec.groups or spec.grouping != "combined":
        return None
    if group_labels(runs, spec.groups).nunique() >= FEW_GROUPS:
        return None
    if not uses_identified(spec) and not resolve_centered(runs, spec).centered:
        return None  # natural and non-centred already: nothing left to change
    return {"coordinates": "natural", "centered": ()}


def free_variable_names(spec: ModelSpec) -> list[str]:
    """Names of the variables whose convergence a fit checks, noise included.

    In natural coordinates these are the model's free variables.  In identified coordinates
    (:mod:`bayescale.modeling.identified`) the law parameters derived from them stand in for the
    standardised ``id_*`` variables, so that diagnostics speak of ``E`` and ``alpha``.

    Examples
    --------
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import free_variable_names
    >>> spec = default_spec("compute").replace(groups=("dataset", "setup"), grouping="crossed",
    ...                                        centered=(), coordinates="natural")
    >>> free_variable_names(spec)[:4]
    ['E_mu', 'E_tau_dataset', 'E_z_dataset', 'E_tau_setup']
    """
    from bayescale.modeling.spec import NOISE_PARAMS

    if spec.centered == "auto" and spec.groups:
        raise ValueError("resolve centered='auto' first (resolve_centered(runs, spec))")
    names: list[str] = []
    multi = spec.grouping != "combined"
    replaced = identified_coords(spec).replaced if uses_identified(spec) else ()
    for p in spec.law_obj.params:
        if p.name in replaced:  # derived from identified coordinates: diagnose the parameter
            if spec.pooling_of(p.name) == "pooled":
                en = effect_names(p.name, "", False)
                names += [f"{p.name}_mu", en["tau"], p.name]
            else:
                names.append(p.name)
            continue
        if spec.pooling_of(p.name) != "pooled":
            names.append(p.name)
            continue
        names.append(f"{p.name}_mu")
        for term in term_names(spec.groups, spec.grouping):
            en = effect_names(p.name, term, multi)
            names += [en["tau"], en[_centred_form(spec, p.name) or "z"]]
    return names + list(NOISE_PARAMS[spec.likelihood])


def _centred_form(spec: ModelSpec, name: str) -> str | None:
    """``"u"`` (hierarchical centring), ``"eff"`` (centred effects) or None (non-centred)."""
    if name not in spec.centered:
        return None
    return "eff" if spec.grouping == "crossed" else "u"


def noncentred_exponents(spec: ModelSpec) -> tuple[str, ...]:
    """Pooled exponents that an identified hierarchy samples non-centred, as themselves.

    In identified coordinates a group's exponent is derived from its log-slope at the centre of
    its runs, and the pooled hierarchical density is centred on it.  Where a group's runs pin the
    exponent only weakly compared with the spread between groups, that centred density makes a
    funnel as ``tau`` shrinks.  Such exponents (pooled, sloped, and not listed in
    ``spec.centered``, which :func:`resolve_centered` fills from the data) are instead sampled
    non-centred (``u_g = u_mu + tau z_g``) and enter the identified map as given values; the
    level and the shares stay identified.  Only combined groupings with resolved ``centered``.

    Examples
    --------
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import noncentred_exponents
    >>> spec = default_spec("chinchilla").replace(groups=("lr",), centered=("E", "beta"))
    >>> noncentred_exponents(spec)
    ('alpha',)
    """
    if not spec.groups or spec.grouping != "combined" or spec.centered == "auto":
        return ()
    st = spec.law_obj.structure
    if st is None:
        return ()
    return tuple(t.exponent for t in st.terms if t.slope
                 and spec.pooling_of(t.exponent) == "pooled" and t.exponent not in spec.centered)


def identified_coords(spec: ModelSpec) -> IdentifiedCoords:
    """The identified coordinates of ``spec``'s law, with its non-centred exponents unsloped.

    Examples
    --------
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import identified_coords
    >>> spec = default_spec("chinchilla").replace(groups=("lr",), centered=("E", "beta"))
    >>> identified_coords(spec).free_names
    ('id_l', 'id_z_log_A0', 'id_z_log_B0', 'id_log_g_beta')
    """
    import dataclasses

    coords = IdentifiedCoords.of(spec.law_obj)
    nc = noncentred_exponents(spec)
    if not nc:
        return coords
    sloped = tuple(sl and e not in nc for e, sl in zip(coords.exponents, coords.sloped,
                                                      strict=True))
    return dataclasses.replace(coords, sloped=sloped)


def _pooled(p, spec: ModelSpec, structure: GroupStructure):
    """Per-group values of a pooled parameter: a population value plus random effects.

    On the unconstrained scale ``u`` (log for positive parameters),
    ``u(theta_c) = u(theta_mu) + sum_t e_t[level_t(c)]`` with ``e_t ~ Normal(0, tau_t)``.
    Non-centred (the default): ``e_t = tau_t * z_t``.  Centred, combined or nested groupings:
    each level's value is sampled around its parent's, ``u_1 ~ Normal(u(theta_mu), tau_1)``,
    ``u_k ~ Normal(u_{k-1}[parent], tau_k)`` (the textbook centred hierarchy, in which the
    population and the well-measured groups are nearly independent a posteriori).  Centred,
    crossed: ``e_t ~ Normal(0, tau_t)``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    mu = _variable(_prior(spec.priors[p.name]), f"{p.name}_mu")
    positive = p.support == "positive"
    u = pt.log(mu) if positive else mu
    form = _centred_form(spec, p.name)
    if form == "u":
        for term in structure.terms:
            names = effect_names(p.name, term.name, structure.multi_term)
            tau = pm.HalfNormal(names["tau"], sigma=spec.pool_scale_of(p.name))
            mean = u if term.parent_index is None else u[term.parent_index]
            u = pm.Normal(names["u"], mean, tau, dims=term.dim)
        u = u[structure.terms[-1].cell_index] if structure.multi_term else u
    else:
        for term in structure.terms:
            names = effect_names(p.name, term.name, structure.multi_term)
            tau = pm.HalfNormal(names["tau"], sigma=spec.pool_scale_of(p.name))
            if form == "eff":
                eff = pm.Normal(names["eff"], 0.0, tau, dims=term.dim)
            else:
                eff = tau * pm.Normal(names["z"], 0.0, 1.0, dims=term.dim)
            u = u + (eff if not structure.multi_term else eff[term.cell_index])
    return pm.Deterministic(p.name, pt.exp(u) if positive else u, dims=GROUP_DIM)


def uses_identified(spec: ModelSpec) -> bool:
    """Whether the model of ``spec`` samples in identified coordinates.

    ``coordinates = "auto"`` uses them wherever :func:`~bayescale.modeling.identified.
    supports_identified` allows; ``"identified"`` insists (a :class:`SpecError` says why it
    cannot); ``"natural"`` never uses them.

    Examples
    --------
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import uses_identified
    >>> uses_identified(default_spec("chinchilla")), uses_identified(default_spec("kaplan"))
    (True, False)
    """
    if spec.coordinates == "natural":
        return False
    if spec.coordinates == "auto" and not spec.law_obj.identified_by_default:
        return False  # the law samples better in its own parameters (see its definition)
    ok, why = supports_identified(spec)
    if not ok and spec.coordinates == "identified":
        from bayescale.errors import SpecError

        raise SpecError(f"coordinates = 'identified' is not possible here: {why}; use 'auto'")
    return ok


def _nu_variable(prior_dict: Mapping[str, Any]):
    """Student-t degrees of freedom: the spec's prior truncated below at ``NU_MIN`` (= 2).

    Above 2 a new run's loss has a finite mean and variance; the default Gamma(2, 0.1) prior
    puts only 1.7% of its mass below 2, so the truncation leaves the prior nearly unchanged.
    """
    import pymc as pm

    prior = _prior(prior_dict)
    if any(isinstance(v, _Prior) for v in prior.kwargs.values()):
        return _variable(prior, "nu")  # a hyper-prior on nu: leave it as the user wrote it
    try:
        return pm.Truncated("nu", prior.dist.dist(**prior.kwargs), lower=NU_MIN)
    except Exception as exc:
        from bayescale.errors import SpecError

        raise SpecError(f"invalid prior for 'nu': {exc}") from None


def _prior_logp(prior_dict: Mapping[str, Any], value):
    """Summed log-density of the spec's prior at ``value`` (a tensor)."""
    import pymc as pm

    prior = _prior(prior_dict)
    try:
        return pm.logp(prior.dist.dist(**prior.kwargs), value).sum()
    except Exception as exc:
        from bayescale.errors import SpecError

        raise SpecError(f"invalid prior {dict(prior_dict)!r}: {exc}") from None


def _bounded_params(spec: ModelSpec) -> dict[str, str]:
    """Law parameters sampled as a share of the smallest observed input (``law.bounded_by``).

    Only shared parameters (single fits) and only outside ``coordinates = "natural"``.
    """
    if spec.coordinates == "natural":
        return {}
    return {k: v for k, v in spec.law_obj.bounded_by.items()
            if spec.pooling_of(k) == "shared" and not any(
                isinstance(a, Mapping) for a in spec.priors[k].get("kwargs", {}).values())}


def _bounded_below_data(name: str, prior_dict: Mapping[str, Any], bound: float):
    """A positive parameter that the law requires below ``bound`` (the smallest centred input).

    Sampled as ``theta = bound * sigmoid(eta)`` (``eta`` free, variable ``id_<name>``) with the
    spec's prior on ``theta`` and the Jacobian ``bound * s (1 - s)``: the prior's mass above the
    bound, where every such run would have an undefined likelihood, is cut off, and NUTS never
    steps into it (in the law's own coordinate it crowded against the bound and diverged).
    """
    import pymc as pm
    import pytensor.tensor as pt

    b = pm.Data(f"bound_{name}", np.asarray(bound))
    eta = pm.Flat(f"id_{name}")
    log_s = -pt.softplus(-eta)
    log_1ms = -pt.softplus(eta)
    value = pm.Deterministic(name, b * pt.exp(log_s))
    pm.Potential(f"{name}_prior", _prior_logp(prior_dict, value) + pt.log(b) + log_s + log_1ms)
    return value


def _identified_block(law, spec: ModelSpec, structure, x_np, y_np, gidx, n_groups, per_group):
    """Sample the law's offset, scales and exponents in identified coordinates.

    Adds the standardised free variables ``id_*``, the data-derived centres (``pm.Data``), the
    derived law parameters as Deterministics under their own names, and one Potential holding
    the spec's priors at the derived values plus the log-Jacobian
    (:mod:`bayescale.modeling.identified`).  Pooled parameters get the centred hierarchical
    density ``u(theta_g) ~ Normal(u(theta_mu), tau)``.  Returns the derived parameters.
    """
    import pymc as pm
    import pytensor.tensor as pt

    coords = IdentifiedCoords.of(law)
    if _noncentred_identified(spec, coords, n_groups):
        return _identified_nc_block(law, spec, structure, x_np, y_np, gidx, n_groups, per_group,
                                    coords)
    coords = identified_coords(spec)  # non-centred pooled exponents are sampled as themselves
    dims = GROUP_DIM if spec.groups else None
    init = initial_values(coords, y_np, x_np, gidx, n_groups)
    data = {k: pm.Data(k, v, dims=dims) for k, v in init.items()}
    w = {name: pm.Flat(name, dims=dims) for name in coords.free_names}
    level = data["id0_l"] + SCALE["l"] * w["id_l"]
    z = {s: data[f"id0_z_{s}"] + SCALE["z"] * w[f"id_z_{s}"] for s in coords.scales}
    log_g = {e: data[f"id0_log_g_{e}"] + SCALE["log_g"] * w[f"id_log_g_{e}"]
             for e, sl in zip(coords.exponents, coords.sloped, strict=True) if sl}
    fixed = {e: per_group[e] for e, sl in zip(coords.exponents, coords.sloped, strict=True)
             if not sl}
    xbar = {k[len("xbar_"):]: v for k, v in data.items() if k.startswith("xbar_")}
    params, log_jac = law_params(pt, coords, level, z, log_g, fixed, xbar)
    terms = [log_jac.sum()]
    for name in coords.replaced:
        value = params[name]
        p = law.parameter(name)
        if spec.pooling_of(name) == "pooled":
            names = effect_names(name, structure.terms[0].name, False)
            mu = _variable(_prior(spec.priors[name]), f"{name}_mu")
            tau = pm.HalfNormal(names["tau"], sigma=spec.pool_scale_of(name))
            positive = p.support == "positive"
            u = pt.log(value) if positive else value
            centre = pt.log(mu) if positive else mu
            terms.append(pm.logp(pm.Normal.dist(centre, tau), u).sum())
            if positive:
                terms.append(-u.sum())  # density of theta_g, not of log theta_g
            pm.Deterministic(names["u"], u, dims=dims)
        else:
            terms.append(_prior_logp(spec.priors[name], value))
        params[name] = pm.Deterministic(name, value, dims=dims)
    pm.Potential("identified_prior", pt.add(*terms))
    return {name: params[name] for name in coords.replaced}


#: Below this many groups, the default hierarchy samples the pooled offset and exponents
#: non-centred (:func:`_identified_nc_block`).  Measured at defaults (4 x 1000, seed 0) on the
#: real hierarchies of ``benchmarks/robustness.py``: with 3 groups (gadre_small by dataset) the
#: centred identified form diverged 189-215 times where the group scales ``tau`` approach 0 (a
#: funnel: three groups cannot pin ``tau``), the non-centred one 0 times; with 5, 15 and 24 groups
#: (misfitting by learning rate, porian, gadre_small by dataset x validation) the centred form
#: mixed better (R-hat 1.005 / 1.003 / 1.014 against 1.021 / 1.059 / 1.015, 15-17 leapfrog
#: steps per draw against 77-199).
FEW_GROUPS = 5


def _noncentred_identified(spec: ModelSpec, coords: IdentifiedCoords, n_groups: int) -> bool:
    """Few groups, default pooling (offset and exponents pooled, term scales per group)."""
    if not spec.groups or spec.grouping != "combined" or n_groups >= FEW_GROUPS:
        return False
    pooled = [coords.offset] + [e for e, sl in zip(coords.exponents, coords.sloped, strict=True)
                                if sl]
    return (all(spec.pooling_of(n) == "pooled" for n in pooled)
            and all(spec.pooling_of(n) == "independent" for n in coords.scales)
            and all(sl for sl in coords.sloped))


def _identified_nc_block(law, spec, structure, x_np, y_np, gidx, n_groups, per_group, coords):
    """Non-centred pooled offset and exponents; each group's term scales from its reducible loss.

    Per group: ``theta_g = exp(log theta_mu + tau z_g)`` for the pooled offset and exponents (the
    non-centred form, free of the funnel at small ``tau``), and the term scales from the group's
    reducible loss at its centre, ``R_g`` (``log R_g`` sampled), split among the terms by
    additive log-ratios ``s_g``: ``A_k(centre) = R_g q_k(s_g)``.  The Jacobian of
    ``(log R, s) -> log A_k(centre)`` is 1 and the shift to the reference scale is a shear, so
    the scales' priors enter as they are.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from bayescale.modeling.identified import _alr_inverse

    dims = GROUP_DIM
    init = initial_values(coords, y_np, x_np, gidx, n_groups)
    values: dict[str, Any] = {}
    for name in [coords.offset, *coords.exponents]:
        values[name] = _pooled(law.parameter(name), spec.replace(centered=()), structure)
    # rough reducible loss at the centre and its split, from the data-derived start
    log_fe = -np.log1p(sum(np.exp(init[f"id0_z_{s}"]) for s in coords.scales))
    r0 = init["id0_l"] + np.log1p(-np.exp(log_fe))
    data = {"id0_r": pm.Data("id0_r", r0, dims=dims)}
    for name in coords.scales[1:]:
        data[f"id0_s_{name}"] = pm.Data(f"id0_s_{name}",
                                        init[f"id0_z_{name}"] - init[f"id0_z_{coords.scales[0]}"],
                                        dims=dims)
    xbar = {k[len("xbar_"):]: pm.Data(k, v, dims=dims) for k, v in init.items()
            if k.startswith("xbar_")}
    log_r = data["id0_r"] + SCALE["l"] * pm.Flat("id_r", dims=dims)
    splits = [data[f"id0_s_{n}"] + SCALE["z"] * pm.Flat(f"id_s_{n}", dims=dims)
              for n in coords.scales[1:]]
    log_q = _alr_inverse(pt, splits) if splits else [log_r * 0.0]
    terms = []
    for k, (name, e, inp, m) in enumerate(zip(coords.scales, coords.exponents, coords.inputs,
                                             coords.multipliers, strict=True)):
        value = log_r + log_q[k] + m * values[e] * xbar[inp]
        terms.append(_prior_logp(spec.priors[name], value))
        values[name] = pm.Deterministic(name, value, dims=dims)
    pm.Potential("identified_prior", pt.add(*terms))
    return values


def sum_of_terms(law) -> bool:
    """Whether ``law``'s log-loss is ``log(offset + sum_k exp(scale_k - m_k exponent_k x_k))``.

    That is the form its :class:`~bayescale.laws.PowerTerms` structure declares, with no bend and
    no transformed input.  Checked numerically against ``law.log_loss_fn`` (numpy) at random
    parameters and inputs, so a law whose terms bend or read an effective input (the broken
    power law, the data-constrained law) is recognised as not of that form.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> from bayescale.modeling.model import sum_of_terms
    >>> sum_of_terms(get_law("chinchilla")), sum_of_terms(get_law("broken_power"))
    (True, False)
    """
    st = law.structure
    if st is None:
        return False
    rng = np.random.default_rng(12)
    n = 64
    x = {k: rng.uniform(-3.0, 3.0, n) for k in law.inputs}
    p = {q.name: (np.exp(rng.normal(-0.5, 0.5, n)) if q.support == "positive"
                  else rng.normal(0.0, 0.5, n)) for q in law.params}
    try:
        with np.errstate(all="ignore"):
            ref = np.asarray(law.log_loss_fn(np, x, p), dtype=float)
    except Exception:
        return False
    total = np.asarray(p.get(st.offset, np.nan), dtype=float)
    for t in st.terms:
        if t.scale not in p or t.exponent not in p or t.input not in x:
            return False
        total = total + np.exp(p[t.scale] - t.multiplier * p[t.exponent] * x[t.input])
    with np.errstate(all="ignore"):
        form = np.log(total)
    return bool(ref.shape == form.shape and np.all(np.isfinite(ref))
                and np.allclose(form, ref, rtol=1e-12, atol=1e-12))


def _mean_log_loss(law, x: Mapping[str, Any], per_obs: Mapping[str, Any]):
    """The law's log-loss at each run, as a PyTensor graph.

    For laws of the form ``E + sum_k exp(log A0_k - m_k alpha_k x_k)`` (:func:`sum_of_terms`)
    the graph is that sum and one ``log``: the same value as the law's nested ``logaddexp``
    (to rounding), at two ``exp`` per run per term fewer in the log density and several fewer
    in its gradient (the ``logaddexp`` form recomputes ``log E`` per run and its gradient
    re-exponentiates every difference).  Measured on the 100-group, 5,000-run benchmark
    hierarchy (``benchmarks/hierarchical_bench.py``).  Overflow of a term (``exp`` above ~709,
    a loss of e^709 nats) gives a log density of ``-inf``, which the sampler rejects like
    any divergence; no run or start of a fit comes near it.
    """
    import pytensor.tensor as pt

    if not sum_of_terms(law):
        return law.log_loss_fn(pt, x, per_obs)
    st = law.structure
    total = per_obs[st.offset]
    for t in st.terms:
        total = total + pt.exp(per_obs[t.scale] - t.multiplier * per_obs[t.exponent] * x[t.input])
    return pt.log(total)


def build_model(
    runs: pd.DataFrame,
    spec: ModelSpec,
    *,
    reference: Mapping[str, float] | None = None,
    groups_order: list[str] | None = None,
):
    """Return the ``pm.Model`` of ``spec`` for a validated runs table.

    Parameters
    ----------
    runs : pandas.DataFrame
        Output of :func:`bayescale.data.runs.validate_runs` with the law's inputs, its target
        column (``loss`` for most laws) and the spec's grouping columns.
    spec : ModelSpec
        Law, priors, likelihood and pooling.
    reference : mapping, optional
        Reference scales; resolved from the data with :func:`resolve_reference` if omitted.
    groups_order : list of str, optional
        Order of group labels (defaults to sorted unique labels).

    Returns
    -------
    pymc.Model
        In natural coordinates the free variables are the sampled law parameters (plus
        ``*_mu``, ``*_tau``, ``*_z`` for pooled ones) and the noise parameters.  In identified
        coordinates (the default where the law allows, :mod:`bayescale.modeling.identified`)
        the free variables are the standardised ``id_*`` coordinates, the hyper-parameters and
        the noise, the law's parameters are Deterministics under their own names, and a
        Potential holds their priors.  Deterministics hold the natural parameters (``A``,
        ``B``...); the observed variable is ``log_loss``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling import build_model, default_spec
    >>> runs = pd.DataFrame({"N": [1e8, 3e8, 1e9, 3e9] * 2, "D": [2e9] * 4 + [2e10] * 4,
    ...                      "loss": [3.3, 3.1, 2.9, 2.8, 3.0, 2.8, 2.6, 2.5]})
    >>> model = build_model(runs, default_spec("chinchilla"))
    >>> sorted(v.name for v in model.free_RVs)
    ['id_l', 'id_log_g_alpha', 'id_log_g_beta', 'id_z_log_A0', 'id_z_log_B0', 'nu', 'sigma']
    >>> natural = build_model(runs, default_spec("chinchilla").replace(coordinates="natural"))
    >>> sorted(v.name for v in natural.free_RVs)
    ['E', 'alpha', 'beta', 'log_A0', 'log_B0', 'nu', 'sigma']
    """
    import pymc as pm
    import pytensor.tensor as pt

    from bayescale.errors import SpecError

    spec = resolve_centered(runs, spec)
    law = spec.law_obj
    ref = dict(reference) if reference is not None else resolve_reference(runs, spec)
    logref = law.log_reference(ref)
    labels = group_labels(runs, spec.groups)
    order = groups_order if groups_order is not None else sorted(labels.unique())
    unknown = sorted(set(labels) - set(order))
    if unknown:
        raise SpecError(f"runs belong to groups {unknown} that the model does not know")
    gidx = pd.Categorical(labels, categories=order).codes.astype("int64")

    coords: dict[str, Any] = {OBS_DIM: np.arange(len(runs))}
    structure = None
    if spec.groups:
        structure = group_structure(runs, spec.groups, spec.grouping, cells=order)
        coords[GROUP_DIM] = list(order)
        if structure.multi_term:
            for term in structure.terms:
                coords[term.dim] = list(term.levels)
    with pm.Model(coords=coords) as model:
        x = {
            k: pm.Data(f"x_{k}", np.log(runs[k].to_numpy(dtype=float)) - logref[k], dims=OBS_DIM)
            for k in law.inputs
        }
        y = pm.Data("y", np.log(runs[law.target].to_numpy(dtype=float)), dims=OBS_DIM)
        if spec.groups:
            g = pm.Data("group_idx", gidx, dims=OBS_DIM)

        per_obs: dict[str, Any] = {}
        per_group: dict[str, Any] = {}
        identified = uses_identified(spec)
        if identified and _noncentred_identified(spec, IdentifiedCoords.of(law), len(order)):
            replaced = IdentifiedCoords.of(law).replaced  # the few-groups block derives them all
        else:
            replaced = identified_coords(spec).replaced if identified else ()
        bounded = _bounded_params(spec)
        for p in law.params:
            if p.name in replaced:
                continue
            mode = spec.pooling_of(p.name)
            prior = spec.priors[p.name]
            if p.name in bounded:
                centred = np.log(runs[bounded[p.name]].to_numpy(dtype=float)) - \
                    logref[bounded[p.name]]
                value = _bounded_below_data(p.name, prior, float(np.exp(centred.min())))
                per_obs[p.name] = per_group[p.name] = value
            elif mode == "shared":
                value = _variable(_prior(prior), p.name)
                per_obs[p.name] = value
                per_group[p.name] = value
            elif mode == "independent":
                value = _variable(_prior(prior, dims=GROUP_DIM), p.name)
                per_obs[p.name] = value[g]
                per_group[p.name] = value
            else:
                value = _pooled(p, spec, structure)
                per_obs[p.name] = value[g]
                per_group[p.name] = value

        if identified:
            y_np = np.log(runs[law.target].to_numpy(dtype=float))
            x_np = {k: np.log(runs[k].to_numpy(dtype=float)) - logref[k] for k in law.inputs}
            derived = _identified_block(law, spec, structure, x_np, y_np,
                                        gidx if spec.groups else None, len(order), per_group)
            for name, value in derived.items():
                per_group[name] = value
                per_obs[name] = value[g] if spec.groups else value

        natural = law.to_natural_fn(pt, per_group, logref)
        dims = GROUP_DIM if spec.groups else None
        for name, value in natural.items():
            if name not in law.param_names:
                if spec.groups and value.ndim == 0:
                    value = pt.zeros(len(order)) + value
                pm.Deterministic(name, value, dims=dims)

        mu_obs = _mean_log_loss(law, x, per_obs)
        sigma = _variable(_prior(spec.noise_priors["sigma"]), "sigma")
        nu = None
        if spec.likelihood == "student_t":
            nu = _nu_variable(spec.noise_priors["nu"])
        observe(OBSERVED, spec.likelihood, mu_obs, sigma, nu, y, OBS_DIM)
    model._bayescale = {"reference": ref, "groups": list(order), "spec": spec,
                        "coordinates": "identified" if identified or bounded else "natural"}
    return model
