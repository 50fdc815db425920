"""Hierarchical fits: per-group draws, tidy group and population summaries, unpooled specs.

A hierarchical fit (``bayescale.fit(runs, groups=[...])``) has per-group law parameters on the
posterior's ``group`` dimension (the observed combinations of the grouping columns) and, for
each *pooled* parameter ``theta``, a population value ``theta_mu`` and effect scales
``theta_tau`` (one per term of the grouping; :mod:`bayescale.modeling.groups` gives the
equations).  This module reads those draws:

- draws of the law's parameters for an observed group, an unobserved combination of observed
  levels (crossed groupings), or a *new* group drawn from the population: read them with
  :meth:`ScalingFit.draws(group=...) <bayescale.ScalingFit.draws>` (:func:`group_draws` is
  its deprecated former name);
- :func:`group_summary`: one row per (group, parameter) with median, intervals, R-hat and ESS,
  optionally with derived quantities (``derived=bayescale.decisions.exponents``) and a row for a
  new group;
- :func:`population_summary`: the population values (``*_mu``: the population *median* of a
  positive parameter), the effect scales (``*_tau``) and a new group's parameter;
- :func:`unpooled_spec`: the same model with every parameter independent per group (no pooling),
  the comparison of :func:`bayescale.plots.plot_shrinkage`.

Examples
--------
>>> import bayescale as bs                                                  # doctest: +SKIP
>>> from bayescale.posterior.hierarchy import group_summary
>>> fit = bs.fit(runs, "chinchilla", groups=["dataset"])                   # doctest: +SKIP
>>> group_summary(fit, ["alpha", "beta"], derived=bs.decisions.exponents)  # doctest: +SKIP
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.modeling.groups import GroupStructure, effect_names, group_structure, label_of
from bayescale.modeling.model import CENTER_MIN_RUNS, resolve_centered
from bayescale.modeling.spec import ModelSpec

__all__ = [
    "NEW_GROUP",
    "group_draws",
    "group_label",
    "group_summary",
    "hierarchy_advice",
    "population_summary",
    "resolve_group",
    "structure_of",
    "unpooled_spec",
]

#: Label of the rows that describe a new, unseen group.
NEW_GROUP = "(new group)"


def structure_of(fit: Any) -> GroupStructure:
    """The :class:`~bayescale.modeling.groups.GroupStructure` of a hierarchical fit.

    Examples
    --------
    >>> structure_of(fit).terms                            # doctest: +SKIP
    """
    if not fit.groups:
        raise ValueError("this fit has no groups; fit with groups=[...] for a hierarchical fit")
    return group_structure(fit.runs, fit.spec.groups, fit.spec.grouping, cells=fit.groups)


def group_label(group: str | float | Mapping[str, Any]) -> str:
    """A printable label of a group request (``{"dataset": "rw", "setup": "new"}`` -> ``"rw/new"``).

    Examples
    --------
    >>> from bayescale.posterior.hierarchy import group_label
    >>> group_label({"dataset": "rw", "setup": "new"})
    'rw/new'
    >>> group_label(0.002)
    '0.002'
    """
    if isinstance(group, str):
        return group
    if isinstance(group, Mapping):
        return label_of(group.values())
    return str(group)  # numpy's str: np.float32(0.002) -> '0.002'


def _scalar(value: Any) -> Any:
    """A Python scalar from a numpy scalar or 0-d array (other values unchanged)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _match_level(levels: Sequence[str], value: Any) -> str | None:
    """The stored label (``str`` of a column value) that equals ``value`` numerically, or None.

    ``0.002``, ``np.float32(0.002)``, ``"2e-3"`` and ``2e-3`` all match the label ``"0.002"``;
    ``1.0`` matches ``"1"``.  Labels that are not numbers never match; the nearest label within a
    relative 1e-6 wins (float32 round-off), so distinct set-ups such as 0.002 and 0.0021 never
    merge.
    """
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not np.isfinite(x):
        return None
    best, best_gap = None, np.inf
    for lab in levels:
        try:
            y = float(lab)
        except (TypeError, ValueError):
            continue
        gap = abs(x - y)
        if gap <= 1e-6 * max(abs(x), abs(y)) and gap < best_gap:
            best, best_gap = lab, gap
    return best


def _resolve_value(structure: GroupStructure, column: str, value: Any) -> Any:
    """One grouping column's requested value as its stored label (numbers matched)."""
    value = _scalar(value)
    if isinstance(value, bool):
        return str(value)
    levels = sorted({str(v) for v in structure.cell_levels[column]})
    if isinstance(value, str):
        if value == "new" or value in levels:
            return value
        return _match_level(levels, value) or value  # "2e-3" for "0.002"; else resolve() says
    if _is_number(value):
        lab = _match_level(levels, value)
        if lab is None:
            raise ValueError(
                f"group value {value!r} matches no value of grouping column {column!r}; its "
                f"values are {levels[:12]}{' ...' if len(levels) > 12 else ''}, or 'new' for an "
                "unseen group"
            )
        return lab
    return value


def resolve_group(fit: Any, group: Any) -> Any:
    """A group request with numbers matched to the labels the fit stored.

    Group labels are the grouping columns' values as strings (``str(0.002) == "0.002"``), so a
    fit grouped by a numeric column (``groups=["peak_lr"]``) can be asked for ``group=0.002``,
    ``group=np.float64(0.002)``, ``group="2e-3"`` or ``group={"peak_lr": 0.002}``: each becomes
    the stored label it equals numerically.  Strings that are labels, ``"new"`` and ``None`` pass
    through unchanged, as does any request to a fit without groups.

    Parameters
    ----------
    fit : ScalingFit
        A (hierarchical) fit.
    group : str, number, mapping or None
        The request, as :meth:`~bayescale.ScalingFit.predict` and :func:`group_draws` take it.

    Returns
    -------
    str, mapping or None
        The request in stored labels.

    Raises
    ------
    ValueError
        A number that matches no value of the grouping column (the message lists them), or a
        bare number for a fit grouped by several columns.

    Examples
    --------
    >>> fit = bs.fit(runs, "chinchilla", groups=["peak_lr"])     # doctest: +SKIP
    >>> resolve_group(fit, 0.002)                                # doctest: +SKIP
    '0.002'
    """
    if group is None or not getattr(fit, "groups", None):
        return group
    return _resolve_request(structure_of(fit), group)


def _resolve_request(structure: GroupStructure, group: Any) -> Any:
    group = _scalar(group)
    if isinstance(group, str):
        if group == "new" or group in structure.cells or len(structure.columns) != 1:
            return group
        return _resolve_value(structure, structure.columns[0], group)
    if isinstance(group, Mapping):
        return {c: (_resolve_value(structure, c, v) if c in structure.columns else v)
                for c, v in group.items()}
    if _is_number(group) or isinstance(group, bool):
        if len(structure.columns) != 1:
            example = {c: "..." for c in structure.columns}
            raise ValueError(
                f"group={group!r} is one value, but this fit groups by {list(structure.columns)};"
                f" pass a mapping of each grouping column to a value, e.g. {example}"
            )
        return _resolve_value(structure, structure.columns[0], group)
    return group


def _unconstrained(p, value: np.ndarray) -> np.ndarray:
    return np.log(value) if p.support == "positive" else value


def _constrained(p, u: np.ndarray) -> np.ndarray:
    return np.exp(u) if p.support == "positive" else u


def _effects(fit: Any, p: Any, structure: GroupStructure) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(tau (S,), effects (S, L))]`` for each term of a pooled parameter, whatever its form."""
    post = fit.tree["posterior"]
    out = []
    parent = None
    for term in structure.terms:
        names = effect_names(p.name, term.name, structure.multi_term)
        tau = fit.draws([names["tau"]])[names["tau"]]
        if names["u"] in post.data_vars:  # centred hierarchy: levels around their parents
            u = fit.draws([names["u"]])[names["u"]]
            if parent is None:
                base = _unconstrained(p, fit.draws([f"{p.name}_mu"])[f"{p.name}_mu"])[:, None]
            else:
                base = parent[:, term.parent_index]
            eff, parent = u - base, u
        elif names["eff"] in post.data_vars:
            eff = fit.draws([names["eff"]])[names["eff"]]
        else:
            eff = tau[:, None] * fit.draws([names["z"]])[names["z"]]
        out.append((tau, eff))
    return out


def group_draws(
    fit: Any,
    group: str | Mapping[str, str],
    *,
    kind: str = "natural",
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    skip_independent: bool = False,
) -> dict[str, np.ndarray]:
    """Deprecated: use ``fit.draws(group=group, kind=kind, seed=seed, rng=rng)``.

    Posterior draws of the law's parameters for one group of a hierarchical fit, each of
    shape ``(S,)``: the same arrays as :meth:`ScalingFit.draws <bayescale.ScalingFit.draws>`
    with ``group=``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():                                   # doctest: +SKIP
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     old = group_draws(fit, "g00")
    >>> all((old[k] == fit.draws(group="g00")[k]).all() for k in old)     # doctest: +SKIP
    True
    """
    import warnings

    warnings.warn("bayescale.group_draws is deprecated; use fit.draws(group=group, kind=kind, "
                  "seed=seed)", DeprecationWarning, stacklevel=2)
    if kind not in ("natural", "sampled"):
        raise ValueError(f"kind must be 'natural' or 'sampled', not {kind!r}")
    if skip_independent:
        return _group_draws(fit, group, kind=kind, seed=seed, rng=rng, skip_independent=True)
    structure_of(fit)  # a fit without groups: the same error as before
    return dict(fit.draws(group=group, kind=kind, seed=seed, rng=rng))


def _group_draws(
    fit: Any,
    group: str | Mapping[str, str],
    *,
    kind: str = "natural",
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
    skip_independent: bool = False,
) -> dict[str, np.ndarray]:
    """Posterior draws of the law's parameters for one group, each of shape ``(S,)``
    (the implementation of :meth:`ScalingFit.draws <bayescale.ScalingFit.draws>` with
    ``group=``).

    Parameters
    ----------
    fit : ScalingFit
        A hierarchical fit.
    group : str, number or mapping
        An observed group label (``fit.groups``; for a numeric grouping column the number itself,
        ``0.002``, see :func:`resolve_group`); ``"new"`` for an unseen group (every effect
        drawn from the population); or a mapping of each grouping column to a value or ``"new"``,
        e.g. ``{"dataset": "rw", "family": "new"}`` (a new family of a known data set, nested
        grouping) or an unobserved combination of observed values (crossed grouping).
    kind : {"natural", "sampled"}
        The law's natural (published) parameters or its sampled parameterisation.
    seed : int or None
        Seed of the population draws for new levels (ignored when ``rng`` is given).
    rng : numpy.random.Generator, optional
        Generator for the population draws.
    skip_independent : bool
        For a new or unobserved group, leave out the parameters that are independent per group
        (which have no population) instead of raising; only with ``kind="sampled"``.

    Returns
    -------
    dict of str to ndarray
        One entry per parameter, ``S = chains * draws`` draws.  For a new level each draw of the
        population (``theta_mu``, ``theta_tau``) gets one fresh effect, so the spread includes
        the between-group variation.

    Raises
    ------
    ValueError
        For an unknown group, or a new / unobserved group when a parameter is ``independent``
        (it has no population to draw from).

    Examples
    --------
    >>> _group_draws(fit, "rw/tuned/short/const/standard")["alpha"]       # doctest: +SKIP
    """
    if kind not in ("natural", "sampled"):
        raise ValueError(f"kind must be 'natural' or 'sampled', not {kind!r}")
    if skip_independent and kind != "sampled":
        raise ValueError("skip_independent=True needs kind='sampled' (natural parameters such "
                         "as A mix pooled and independent ones)")
    rng = rng if rng is not None else np.random.default_rng(seed)
    structure = structure_of(fit)
    group = _resolve_request(structure, group)
    levels = structure.resolve(group)
    law = fit.law
    sampled = fit.draws(kind="sampled")
    cell = None
    if all(v is not None for v in levels.values()):
        if structure.grouping == "combined":
            cell = levels["group"]
        else:
            lab = label_of(_cell_values(structure, group))
            cell = lab if lab in structure.cells else None
    out: dict[str, np.ndarray] = {}
    for p in law.params:
        v = sampled[p.name]
        mode = fit.spec.pooling_of(p.name)
        if mode == "shared":
            out[p.name] = v
        elif cell is not None:
            out[p.name] = v[:, structure.cells.index(cell)]
        elif mode == "independent":
            if skip_independent:
                continue
            what = ("a new group" if all(x is None for x in levels.values())
                    else f"group {group_label(group)!r}, which was not observed,")
            from bayescale.errors import NewGroupError

            independent = [q.name for q in fit.law.params
                           if fit.spec.pooling_of(q.name) == "independent"]
            from bayescale.modeling.spec import pooled_alternative

            raise NewGroupError(
                f"parameter {p.name!r} is independent per group, so {what} has no value of it "
                f"to draw; refit with {independent} pooled (pooling="
                + "{" + ", ".join(f"{q!r}: 'pooled'" for q in independent) + "}"
                + ") to predict new groups" + pooled_alternative(fit.spec)
            )
        else:
            mu = fit.draws([f"{p.name}_mu"])[f"{p.name}_mu"]
            u = _unconstrained(p, mu)
            for term, (tau, eff) in zip(structure.terms, _effects(fit, p, structure),
                                        strict=True):
                lev = levels[term.name]
                if lev is None:
                    u = u + tau * rng.standard_normal(tau.shape)
                else:
                    u = u + eff[:, term.levels.index(lev)]
            out[p.name] = _constrained(p, u)
    return out if kind == "sampled" else _natural(fit, out)


def _natural(fit: Any, sampled: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    nat = fit.law.to_natural(sampled, fit.reference)
    size = next(iter(sampled.values())).shape[0]
    return {k: np.broadcast_to(np.asarray(nat[k], dtype=float), (size,)).copy()
            for k in fit.law.natural}


def _cell_values(structure: GroupStructure, group: str | Mapping[str, str]) -> list[str]:
    if isinstance(group, str):
        row = structure.cell_levels.loc[group]
        return [str(row[c]) for c in structure.columns]
    return [str(group[c]) for c in structure.columns]


def _chain_shape(fit: Any) -> tuple[int, int]:
    post = fit.tree["posterior"]
    return int(post.sizes["chain"]), int(post.sizes["draw"])


def _table(draws: Mapping[str, np.ndarray], fit: Any, ci: Sequence[float]) -> pd.DataFrame:
    """Median, intervals, R-hat and ESS of ``{name: (S,)}`` draws (one row per name)."""
    from bayescale.posterior.convergence import ess, rhat

    chains, ndraw = _chain_shape(fit)
    arrays = {k: np.asarray(v, dtype=float).reshape(chains, ndraw) for k, v in draws.items()}
    rows = []
    for k, v in draws.items():
        v = np.asarray(v, dtype=float)
        row = {"mean": float(np.mean(v)), "median": float(np.median(v))}
        for lv in ci:
            tag = f"{round(100 * lv):d}"
            lo, hi = np.quantile(v, [(1 - lv) / 2, 1 - (1 - lv) / 2])
            row[f"lo_{tag}"], row[f"hi_{tag}"] = float(lo), float(hi)
        row["r_hat"] = rhat(arrays[k]) if chains > 1 else np.nan
        row["ess_bulk"] = ess(arrays[k], "bulk")
        row["ess_tail"] = ess(arrays[k], "tail")
        rows.append(row)
    return pd.DataFrame(rows)


def _check_ci(ci: float | Sequence[float]) -> tuple[float, ...]:
    levels = (ci,) if isinstance(ci, int | float) else tuple(ci)
    for lv in levels:
        if not 0 < lv < 1:
            raise ValueError(f"interval levels must be in (0, 1), not {lv!r}")
    return levels


def group_summary(
    fit: Any,
    params: Sequence[str] | None = None,
    *,
    ci: float | Sequence[float] = 0.95,
    derived: Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]] | None = None,
    new_group: bool = False,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Tidy per-group posterior summary: one row per (group, parameter).

    Parameters
    ----------
    fit : ScalingFit
        A hierarchical fit.
    params : sequence of str, optional
        Natural or sampled parameter names, or names returned by ``derived``.  Default: the
        natural parameters that vary across groups (plus everything ``derived`` returns).
    ci : float or sequence of float
        Equal-tailed interval probabilities (columns ``lo_95``, ``hi_95`` ...).
    derived : callable, optional
        ``derived(draws) -> {name: (S,) array}`` applied to each group's natural-parameter draws,
        e.g. :func:`bayescale.decisions.exponents` for the compute-optimal exponents
        ``a`` (``N* ~ C**a``), ``b`` and ``gamma``.
    new_group : bool
        Add rows for a new group drawn from the population (label ``"(new group)"``).  When
        some parameters are independent per group, the new group has rows only for the pooled
        (and shared) parameters among ``params``.
    seed : int or None
        Seed of the new-group draws.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, the grouping columns, ``parameter``, ``mean``, ``median``,
        ``lo_XX`` / ``hi_XX``, ``r_hat``, ``ess_bulk``, ``ess_tail``.  R-hat and ESS are
        computed on the per-chain draws of each quantity (for new-group rows they include the
        population draw).

    Examples
    --------
    >>> import bayescale as bs                                              # doctest: +SKIP
    >>> t = group_summary(fit, ["alpha"], derived=bs.decisions.exponents)  # doctest: +SKIP
    >>> t.pivot(index="group", columns="parameter", values="median")       # doctest: +SKIP
    """
    levels_ci = _check_ci(ci)
    structure = structure_of(fit)
    law = fit.law
    varying = [g for g in law.natural if np.ndim(fit.tree["posterior"][g]) > 2]
    requests: list[tuple[str, Any]] = [(g, g) for g in structure.cells]
    if new_group:
        requests.append((NEW_GROUP, "new"))
    rng = np.random.default_rng(seed)
    frames = []
    for label, request in requests:
        partial = request == "new" and any(fit.spec.pooling_of(p) == "independent"
                                           for p in law.param_names)
        sampled = _group_draws(fit, request, kind="sampled", rng=rng,
                               skip_independent=partial)
        if partial:  # a new group has only its pooled and shared parameters
            draws, extra = dict(sampled), {}
        else:
            nat = _natural(fit, sampled)
            draws = {**sampled, **nat}
            extra = {}
            if derived is not None:
                extra = {k: np.asarray(v, dtype=float).reshape(-1)
                         for k, v in derived(nat).items()}
                draws.update(extra)
        names = list(params) if params is not None else [*varying, *extra]
        if partial:
            names = [n for n in names if n in draws]
            if not names:
                continue
        missing = [n for n in names if n not in draws]
        if missing:
            raise KeyError(
                f"{missing} are not parameters of law {law.name!r} (natural {list(law.natural)}, "
                f"sampled {list(law.param_names)})" + (" or outputs of derived" if derived else "")
            )
        t = _table({n: draws[n] for n in names}, fit, levels_ci)
        t.insert(0, "parameter", names)
        t.insert(0, "group", label)
        for c in reversed(structure.columns):
            value = (str(structure.cell_levels.loc[label, c]) if label in structure.cells
                     else "new")
            t.insert(1, c, value)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def population_summary(
    fit: Any,
    *,
    ci: float | Sequence[float] = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Population-level estimates of a hierarchical fit, one row per quantity.

    For each pooled parameter ``theta``: ``theta_mu`` (the population centre: the population
    *median* of a positive parameter, whose group values are log-normal around it), one
    ``theta_tau`` per grouping term (the standard deviation of the group effects on the
    unconstrained scale: on the log scale for positive parameters, so ``tau = 0.1`` means groups
    differ by about 10%), and ``theta`` for a new group (population predictive).  Shared
    parameters get one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``parameter``, ``quantity`` (``"mu"``, ``"tau"`` or ``"tau[<term>]"``,
        ``"new group"``, ``"shared"``), ``variable`` (posterior variable name), ``mean``,
        ``median``, ``lo_XX`` / ``hi_XX``, ``r_hat``, ``ess_bulk``, ``ess_tail``.

    Examples
    --------
    >>> population_summary(fit).query("parameter == 'alpha'")   # doctest: +SKIP
    """
    levels_ci = _check_ci(ci)
    structure = structure_of(fit)
    rows: list[tuple[str, str, str]] = []
    draws: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(seed)
    for p in fit.law.params:
        mode = fit.spec.pooling_of(p.name)
        if mode == "shared":
            draws[p.name] = fit.draws([p.name])[p.name]
            rows.append((p.name, "shared", p.name))
        elif mode == "pooled":
            name = f"{p.name}_mu"
            draws[name] = fit.draws([name])[name]
            rows.append((p.name, "mu", name))
            for term in structure.terms:
                tau = effect_names(p.name, term.name, structure.multi_term)["tau"]
                draws[tau] = fit.draws([tau])[tau]
                rows.append((p.name, "tau" if not structure.multi_term else f"tau[{term.name}]",
                             tau))
            key = f"{p.name} (new group)"
            mu = draws[name]
            u = _unconstrained(p, mu)
            for term in structure.terms:
                tau = draws[effect_names(p.name, term.name, structure.multi_term)["tau"]]
                u = u + tau * rng.standard_normal(tau.shape)
            draws[key] = _constrained(p, u)
            rows.append((p.name, "new group", key))
    if not rows:
        raise ValueError("this fit pools no parameter and shares none; it has no population")
    t = _table({v: draws[v] for _, _, v in rows}, fit, levels_ci)
    t.insert(0, "variable", [v for _, _, v in rows])
    t.insert(0, "quantity", [q for _, q, _ in rows])
    t.insert(0, "parameter", [p for p, _, _ in rows])
    return t


def unpooled_spec(spec: ModelSpec) -> ModelSpec:
    """The same model with every law parameter independent per group (no pooling).

    Fit it on the same runs to see what each group's data say alone (the left end of
    :func:`bayescale.plots.plot_shrinkage`).  Noise parameters stay shared.

    Examples
    --------
    >>> from bayescale.modeling.spec import default_spec
    >>> from bayescale.posterior.hierarchy import unpooled_spec
    >>> s = unpooled_spec(default_spec("compute").replace(groups=("dataset",)))
    >>> s.pooling
    {'E': 'independent', 'log_A0': 'independent', 'gamma': 'independent'}
    """
    if not spec.groups:
        raise ValueError("the spec has no groups; set groups=[...] first")
    return spec.replace(pooling={p: "independent" for p in spec.law_obj.param_names},
                        centered=(), grouping="combined")


def hierarchy_advice(spec: ModelSpec, diagnostics: Any, runs: pd.DataFrame) -> list[str]:
    """What to change when a hierarchical fit's diagnostics failed, as sentences.

    Two geometries of the group effects (``e = tau * z`` non-centred, or ``e ~ Normal(0, tau)``
    centred) fail in opposite situations: non-centred effects mix slowly (low ESS, high R-hat,
    long trees) when every group has many informative runs; centred effects diverge in the
    funnel near ``tau = 0`` (few groups, or groups that agree).

    Parameters
    ----------
    spec : ModelSpec
        The fitted spec.
    diagnostics : Diagnostics
        The fit's diagnostics.
    runs : pandas.DataFrame
        The validated runs (to count runs per group).

    Returns
    -------
    list of str
        Empty when the fit passed or has no groups.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.posterior.diagnostics import Diagnostics
    >>> from bayescale.modeling.spec import default_spec
    >>> spec = default_spec("compute").replace(groups=("dataset",), centered=("gamma",))
    >>> d = Diagnostics(5, 1.0, 900.0, 900.0, 0.9, 4, 1000, {}, ["5 divergent transitions"])
    >>> runs = pd.DataFrame({"dataset": ["a", "b"] * 10})
    >>> print(hierarchy_advice(spec, d, runs)[0][:60])
    hierarchical fit: the centred group effects of ['gamma'] can
    """
    if not spec.groups or diagnostics.ok:
        return []
    spec = resolve_centered(runs, spec)
    pooled = [p for p in spec.law_obj.param_names if spec.pooling_of(p) == "pooled"]
    centred = [p for p in pooled if p in spec.centered]
    non_centred = [p for p in pooled if p not in spec.centered]
    per_group = runs.groupby(list(spec.groups)).size()
    median = float(per_group.median())
    advice = []
    if diagnostics.divergences and centred:
        advice.append(
            f"hierarchical fit: the centred group effects of {centred} can diverge where their "
            "tau is near 0 (few groups, or groups that agree); refit with those parameters "
            "removed from centered= (non-centred), or with target_accept=0.99"
        )
    slow = diagnostics.max_rhat > 1.01 or diagnostics.min_ess_bulk < 100 * diagnostics.chains
    if slow and non_centred and not diagnostics.divergences and median >= CENTER_MIN_RUNS:
        advice.append(
            f"hierarchical fit: every group has many runs (median {median:.0f}), where "
            f"non-centred group effects mix slowly; refit with centered={non_centred} "
            "(bayescale.fit(..., centered=[...]) or centered = [...] in the spec), or with "
            "more draws"
        )
    return advice
