"""Build a PyMC model from a validated runs table and a :class:`ModelSpec`.

The builder is a plain function that returns a ``pm.Model``; sampling, predicting and deciding
live elsewhere.  The model is, for run ``i`` in group ``g[i]``::

    log loss_i ~ Normal or StudentT(nu)(mu_i, sigma)
    mu_i = law.log_loss(x_i, theta_g[i]),   x_i = log(input_i / reference)

with each law parameter ``theta`` either *shared* (one value), *independent* (one value per
group, each with the spec's prior) or *pooled* (non-centred: on the parameter's unconstrained
scale, ``u(theta_g) = u(theta_pop) + tau * z_g`` with ``z_g ~ Normal(0, 1)``, ``theta_pop`` with
the spec's prior and ``tau ~ HalfNormal(pool_scale)``; ``u`` is ``log`` for positive parameters
and the identity otherwise).  Letting ``tau`` go to 0 gives complete pooling and letting it grow
gives no pooling, so both limits stay reachable.

Inputs and observations are ``pm.Data`` containers, so a model can be re-used on new runs of the
same shape without rebuilding the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayescale.modeling.spec import ModelSpec

__all__ = [
    "GROUP_DIM",
    "OBS_DIM",
    "OBSERVED",
    "build_model",
    "group_labels",
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


def _prior(d: Mapping[str, Any], dims: str | tuple[str, ...] | None = None):
    from pymc_extras.prior import Prior

    from bayescale.errors import SpecError

    try:
        kwargs = {k: (_prior(v) if isinstance(v, Mapping) else v)
                  for k, v in d.get("kwargs", {}).items()}
        return Prior(d["dist"], dims=dims, **kwargs)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(f"invalid prior {dict(d)!r}: {exc}") from None


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
    if spec.groups:
        coords[GROUP_DIM] = list(order)
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
                value = _prior(prior).create_variable(p.name)
                per_obs[p.name] = value
                per_group[p.name] = value
            elif mode == "independent":
                value = _prior(prior, dims=GROUP_DIM).create_variable(p.name)
                per_obs[p.name] = value[g]
                per_group[p.name] = value
            else:  # pooled, non-centred on the unconstrained scale
                mu = _prior(prior).create_variable(f"{p.name}_mu")
                tau = pm.HalfNormal(f"{p.name}_tau", sigma=spec.pool_scale_of(p.name))
                z = pm.Normal(f"{p.name}_z", 0.0, 1.0, dims=GROUP_DIM)
                if p.support == "positive":
                    value = pm.Deterministic(p.name, pt.exp(pt.log(mu) + tau * z), dims=GROUP_DIM)
                else:
                    value = pm.Deterministic(p.name, mu + tau * z, dims=GROUP_DIM)
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
        sigma = _prior(spec.noise_priors["sigma"]).create_variable("sigma")
        if spec.likelihood == "normal":
            pm.Normal(OBSERVED, mu=mu_obs, sigma=sigma, observed=y, dims=OBS_DIM)
        else:
            nu = _prior(spec.noise_priors["nu"]).create_variable("nu")
            pm.StudentT(OBSERVED, nu=nu, mu=mu_obs, sigma=sigma, observed=y, dims=OBS_DIM)
    model._bayescale = {"reference": ref, "groups": list(order), "spec": spec}
    return model
