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

from bayescale.modeling.groups import GroupStructure, effect_names, group_structure, term_names
from bayescale.modeling.spec import ModelSpec

__all__ = [
    "GROUP_DIM",
    "OBSERVED",
    "OBS_DIM",
    "build_model",
    "free_variable_names",
    "group_labels",
    "resolve_centered",
    "resolve_reference",
]

OBS_DIM = "run"
GROUP_DIM = "group"
OBSERVED = "log_loss"


def resolve_reference(runs: pd.DataFrame, spec: ModelSpec) -> dict[str, float]:
    """Resolve ``"auto"`` reference scales to the power of ten nearest the data's geometric mean.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.spec import default_spec
    >>> from bayescale.modeling.model import resolve_reference
    >>> runs = pd.DataFrame({"N": [1e8, 1e10], "D": [1e9, 1e11], "loss": [3.0, 2.5]})
    >>> resolve_reference(runs, default_spec("chinchilla"))
    {'N': 1000000000.0, 'D': 10000000000.0}
    """
    out = {}
    for k, v in spec.reference.items():
        if v == "auto":
            out[k] = float(10.0 ** np.round(np.mean(np.log10(runs[k].to_numpy(dtype=float)))))
        else:
            out[k] = float(v)
    return out


def group_labels(runs: pd.DataFrame, groups: tuple[str, ...]) -> pd.Series:
    """One label per run combining the grouping columns (``"a/b"`` for two columns).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.model import group_labels
    >>> group_labels(pd.DataFrame({"d": ["x", "y"], "s": ["1", "2"]}), ("d", "s")).tolist()
    ['x/1', 'y/2']
    """
    if not groups:
        return pd.Series(["all"] * len(runs), index=runs.index)
    lab = runs[groups[0]].astype(str)
    for g in groups[1:]:
        lab = lab + "/" + runs[g].astype(str)
    return lab


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

    ``"auto"`` centres every pooled parameter when the grouping is ``"combined"`` and the median
    group has at least :data:`CENTER_MIN_RUNS` runs; otherwise none (nested and crossed
    groupings stay non-centred: a term with few levels, such as two data sets, makes a
    centred funnel).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import resolve_centered
    >>> spec = default_spec("compute").replace(groups=("dataset",))
    >>> runs = pd.DataFrame({"dataset": ["a", "b"] * 40})
    >>> resolve_centered(runs, spec).centered
    ('E', 'gamma')
    >>> resolve_centered(runs.head(20), spec).centered
    ()
    """
    if spec.centered != "auto" or not spec.groups:
        return spec  # without groups there are no group effects ("auto" keeps the spec's hash)
    pooled = tuple(p for p in spec.law_obj.param_names if spec.pooling_of(p) == "pooled")
    median = float(runs.groupby(list(spec.groups)).size().median())
    many = spec.grouping == "combined" and median >= CENTER_MIN_RUNS
    return spec.replace(centered=pooled if many else ())


def free_variable_names(spec: ModelSpec) -> list[str]:
    """Names of the free (sampled) variables of the model of ``spec``, noise included.

    Examples
    --------
    >>> from bayescale.modeling import default_spec
    >>> from bayescale.modeling.model import free_variable_names
    >>> spec = default_spec("compute").replace(groups=("dataset", "setup"), grouping="crossed",
    ...                                        centered=())
    >>> free_variable_names(spec)[:4]
    ['E_mu', 'E_tau_dataset', 'E_z_dataset', 'E_tau_setup']
    """
    from bayescale.modeling.spec import NOISE_PARAMS

    if spec.centered == "auto" and spec.groups:
        raise ValueError("resolve centered='auto' first (resolve_centered(runs, spec))")
    names: list[str] = []
    multi = spec.grouping != "combined"
    for p in spec.law_obj.params:
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
        Free variables are the sampled law parameters (plus ``*_mu``, ``*_tau``, ``*_z`` for
        pooled ones) and the noise parameters; Deterministics hold the natural parameters
        (``A``, ``B``...); the observed variable is ``log_loss``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling import build_model, default_spec
    >>> runs = pd.DataFrame({"N": [1e8, 3e8, 1e9, 3e9] * 2, "D": [2e9] * 4 + [2e10] * 4,
    ...                      "loss": [3.3, 3.1, 2.9, 2.8, 3.0, 2.8, 2.6, 2.5]})
    >>> model = build_model(runs, default_spec("chinchilla"))
    >>> sorted(v.name for v in model.free_RVs)
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
        for p in law.params:
            mode = spec.pooling_of(p.name)
            prior = spec.priors[p.name]
            if mode == "shared":
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

        natural = law.to_natural_fn(pt, per_group, logref)
        dims = GROUP_DIM if spec.groups else None
        for name, value in natural.items():
            if name not in law.param_names:
                if spec.groups and value.ndim == 0:
                    value = pt.zeros(len(order)) + value
                pm.Deterministic(name, value, dims=dims)

        mu_obs = law.log_loss_fn(pt, x, per_obs)
        sigma = _variable(_prior(spec.noise_priors["sigma"]), "sigma")
        if spec.likelihood == "normal":
            pm.Normal(OBSERVED, mu=mu_obs, sigma=sigma, observed=y, dims=OBS_DIM)
        else:
            nu = _variable(_prior(spec.noise_priors["nu"]), "nu")
            pm.StudentT(OBSERVED, nu=nu, mu=mu_obs, sigma=sigma, observed=y, dims=OBS_DIM)
    model._bayescale = {"reference": ref, "groups": list(order), "spec": spec}
    return model
