"""Fit a scaling law to a runs table with NUTS: ``bayescale.fit``.

Defaults were chosen by measurement (``benchmarks/run.py``): nutpie with a low-rank-modified
mass matrix is the default sampler (on the Chinchilla data about 20-30x the effective samples
per second of PyMC's default NUTS, and 20-30x nutpie's diagonal mass matrix, which is no better
than PyMC's); PyMC's own NUTS is available with ``sampler="pymc"``.  The compiled nutpie model
is also cached on disk (:mod:`bayescale.sampling.compile_cache`), so a new process (the CLI's
second run) loads it instead of compiling it.
Compiled models are cached per structure, so refitting the same spec on new runs of the same
size (backtests, simulation-based calibration, seeds) skips compilation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.data.runs import check_design, design_point, validate_runs
from bayescale.errors import ConvergenceWarning, RunsTableError, SpecError
from bayescale.modeling.model import (
    OBS_DIM,
    build_model,
    group_labels,
    resolve_centered,
    resolve_reference,
)
from bayescale.modeling.spec import (
    NOISE_PARAMS,
    ModelSpec,
    default_spec,
    load_spec,
    pooled_alternative,
)

__all__ = ["SAMPLERS", "fit", "prior_predictive", "resolve_spec"]

SAMPLERS = ("nutpie", "pymc")
_log = logging.getLogger("bayescale")


def resolve_spec(
    law: str | None = None,
    spec: ModelSpec | str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    likelihood: str | None = None,
    groups: Sequence[str] | None = None,
    pooling: Mapping[str, str] | None = None,
    reference: Mapping[str, float | str] | None = None,
    grouping: str | None = None,
    centered: Sequence[str] | str | None = None,
    coordinates: str | None = None,
) -> ModelSpec:
    """Combine a law name or spec with keyword overrides into one validated :class:`ModelSpec`.

    Examples
    --------
    >>> from bayescale.sampling.fit import resolve_spec
    >>> resolve_spec("chinchilla", likelihood="normal").likelihood
    'normal'
    """
    if isinstance(law, ModelSpec) and spec is None:
        law, spec = None, law  # fit(runs, my_spec): the spec given where the law name goes
    if law is not None and not isinstance(law, str):
        raise SpecError(f"law must be a law name such as 'chinchilla', not a "
                        f"{type(law).__name__}; pass a ModelSpec as spec=")
    if spec is not None:
        s = load_spec(spec)
        if law is not None and law != s.law:
            raise SpecError(f"law={law!r} disagrees with the spec's law {s.law!r}; pass one")
    else:
        s = default_spec(law or "chinchilla")
    changes: dict[str, Any] = {}
    if priors:
        changes["priors"] = {**s.priors, **priors}
    if likelihood is not None and likelihood != s.likelihood:
        changes["likelihood"] = likelihood
    if groups is not None:
        changes["groups"] = tuple([groups] if isinstance(groups, str) else groups)
    if pooling is not None:
        changes["pooling"] = {**s.pooling, **pooling}
    if grouping is not None:
        changes["grouping"] = grouping
    if centered is not None:
        changes["centered"] = (centered if centered == "auto" else
                               tuple([centered] if isinstance(centered, str) else centered))
    if reference is not None:
        changes["reference"] = {**s.reference, **reference}
    if coordinates is not None:
        changes["coordinates"] = coordinates
    return s.replace(**changes) if changes else s


def prepare_runs(runs: Any, spec: ModelSpec, columns: Mapping[str, str] | None = None,
                 flops: float | Callable[[Any, Any], Any] = 6.0) -> pd.DataFrame:
    """The runs table a fit of ``spec`` reads: validated, with the law's columns as floats.

    :func:`bayescale.validate_runs` with the law's inputs and target required and enough rows
    for its free parameters, then every column the law reads checked positive and finite.
    Used by :func:`fit`, and by the evaluation stage to split the same table a fit would see.

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.sampling.fit import prepare_runs, resolve_spec
    >>> table = prepare_runs(bs.datasets.load("chinchilla"), resolve_spec("chinchilla"))
    >>> table[["N", "D", "loss"]].dtypes.tolist()
    [dtype('float64'), dtype('float64'), dtype('float64')]
    """
    law = spec.law_obj
    n_free = len(law.params) + len(NOISE_PARAMS[spec.likelihood])
    table = validate_runs(
        runs,
        columns=columns,
        flops=flops,
        require=(*law.inputs, law.target),
        groups=spec.groups,
        min_rows=n_free + 1,
    )
    for col in (*law.inputs, law.target):  # columns the runs schema does not check (U, error...)
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            rows = ", ".join(str(r) for r in table.index[bad][:8])
            raise RunsTableError(
                f"law {law.name!r} reads column {col!r}, which must hold positive finite numbers, "
                f"but rows {rows} do not; drop or fix those runs"
            )
        table[col] = values
    return table


#: Severity of each bayescale warning class (a script can stop on "high").
SEVERITY = {"ConvergenceWarning": "high", "MixedSetupWarning": "medium", "DataWarning": "medium"}


def structured_warning(w: warnings.WarningMessage) -> dict[str, str]:
    """``{"code", "severity", "message"}`` of a recorded warning (kept in saved fits).

    Examples
    --------
    >>> import warnings
    >>> from bayescale.errors import DataWarning
    >>> from bayescale.sampling.fit import structured_warning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("column 'D' looks odd", DataWarning)
    >>> structured_warning(caught[0])["code"], structured_warning(caught[0])["severity"]
    ('DataWarning', 'medium')
    """
    code = w.category.__name__
    return {"code": code, "severity": SEVERITY.get(code, "low"),
            "message": " ".join(str(w.message).split())}


def _keep_warnings(func):
    """Record the bayescale warnings a fit raises, re-emit them, and keep them in ``fit.meta``.

    ``fit.meta["warnings"]`` is JSON: a list of ``{"code", "severity", "message"}``, saved with
    the fit, so scripts can act on them (``json.loads(fit.meta["warnings"])``).
    """
    import functools

    from bayescale.errors import BayescaleWarning

    def _replay(pending) -> list[dict[str, str]]:
        kept, seen = [], set()
        for w in pending:
            key = (w.category, str(w.message))
            if key in seen:  # a retried fit validates the runs again: one warning, not two
                continue
            seen.add(key)
            # re-emitted under the caller's filters (errors stay errors)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if issubclass(w.category, BayescaleWarning):
                kept.append(structured_warning(w))
        return kept

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        pending: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    result = func(*args, **kwargs)
                finally:
                    pending = list(caught)
        except BaseException:
            _replay(pending)  # the warnings that preceded an error still reach the caller
            raise
        result.meta["warnings"] = json.dumps(_replay(pending))
        return result

    return wrapper


@_keep_warnings
def fit(
    runs: pd.DataFrame | str | os.PathLike,
    law: str | None = None,
    *,
    spec: ModelSpec | str | os.PathLike | Mapping[str, Any] | None = None,
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    likelihood: str | None = None,
    groups: Sequence[str] | str | None = None,
    pooling: Mapping[str, str] | None = None,
    reference: Mapping[str, float | str] | None = None,
    grouping: str | None = None,
    centered: Sequence[str] | str | None = None,
    coordinates: str | None = None,
    columns: Mapping[str, str] | None = None,
    flops: float | Callable[[Any, Any], Any] = 6.0,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    seed: int | None = 0,
    sampler: str = "nutpie",
    target_accept: float | None = None,
    progressbar: bool = True,
    prior_draws: int = 500,
    retry: bool = True,
    warn: bool = True,
    sampling: Any = None,
):
    """Fit a scaling law to training runs and return a :class:`~bayescale.ScalingFit`.

    Parameters
    ----------
    runs : DataFrame or path
        Runs table (see :mod:`bayescale.data.runs`) or a CSV/Parquet file.
    law : str, optional
        Built-in law / spec name (``"chinchilla"``, ``"kaplan"``, ``"compute"``).  Default
        ``"chinchilla"`` unless ``spec`` is given.
    spec : ModelSpec, path, name or dict, optional
        A full model specification, e.g. an edited copy of ``models/chinchilla.toml``.
    priors, likelihood, groups, pooling, reference, grouping, centered, coordinates
        Overrides of the spec's fields (see :class:`~bayescale.modeling.spec.ModelSpec`):
        ``groups=["dataset"]`` fits one hierarchical model across data sets;
        ``grouping="nested"`` or ``"crossed"`` says how two or more grouping columns combine
        (:mod:`bayescale.modeling.groups`).
    columns : mapping, optional
        Column renames, ``{"params": "N"}``.
    flops : float or callable
        FLOPs per parameter per token (``C = k N D``) or ``flops(N, D) -> C``.
    draws, tune, chains : int
        Posterior draws and warm-up iterations per chain, and the number of chains.
    cores : int, optional
        Parallel chains for ``sampler="pymc"`` (default: all CPUs, not PyMC's half).
    seed : int or None
        Random seed; the same data, spec and seed give bit-identical posteriors.  With None a
        seed is drawn and recorded in ``fit.meta["seed"]``.
    sampler : {"nutpie", "pymc"}
        NUTS implementation.
    target_accept : float, optional
        NUTS target acceptance; raise (0.95-0.99) to remove divergences.  Default: the law's
        own (``law.target_accept``: 0.9, or 0.99 for laws that diverge at 0.9 under
        simulation-based calibration: datablations, broken_power and the link laws; 0.99 for
        crossed groupings; 0.8 where the law asks for 0.9 and nutpie adapts a diagonal mass
        matrix, above 100 dimensions: :data:`bayescale.sampling.adaptation.DIAG_TARGET_ACCEPT`).
    progressbar : bool
        Show sampling progress.
    prior_draws : int
        Prior (and prior predictive) draws stored with the fit for prior-vs-posterior checks;
        0 to skip.
    retry : bool
        If the fit fails its diagnostics, refit with the remedy that fits the failure
        (default True): divergences -> ``target_accept=0.99`` (in an identified hierarchy
        with weakly pinned exponents: those non-centred and twice the draws); R-hat or ESS ->
        twice the draws and warm-up.  If the refit is free of divergences but its chains still
        mix slowly (R-hat or ESS only), it runs once more with the draws its ESS asks for
        (twice the minimum ESS, projected: 2 to 8 times the refit's draws, up to 8,000 per
        chain, or 4,000 where chains x 8,000 x runs would exceed 40 million pointwise values)
        at ``target_accept`` of at least 0.95.
        The first attempt's diagnostics are kept in ``fit.meta["settings"]``
        (``"retried"``).  A fit that still fails says so, and that settings are not the fix.
    warn : bool
        Emit a :class:`~bayescale.ConvergenceWarning` when diagnostics fail.
    sampling : SamplingOptions or dict, optional
        The sampler settings as one object (:class:`bayescale.sampling.SamplingOptions`); its
        fields that are set replace ``draws``, ``tune``, ``chains``, ``cores``, ``sampler``,
        ``target_accept`` and ``progressbar``.

    Returns
    -------
    ScalingFit
        Holds the ``xarray.DataTree`` (posterior, log_likelihood, sample_stats, observed_data,
        prior), the spec, the validated runs and the diagnostics.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla", drop_outliers=True)
    >>> result = bs.fit(runs, "chinchilla", draws=500, tune=500, progressbar=False)
    >>> result.summary().loc[["alpha", "beta"], "median"].round(2)
    alpha    0.35
    beta     0.36
    Name: median, dtype: float64
    """
    from bayescale.posterior.result import ScalingFit

    if sampling is not None:
        from bayescale.sampling.options import SamplingOptions

        o = SamplingOptions.of(sampling).over(
            draws=draws, tune=tune, chains=chains, cores=cores, sampler=sampler,
            target_accept=target_accept, progressbar=progressbar)
        draws, tune, chains, cores = o["draws"], o["tune"], o["chains"], o["cores"]
        sampler, target_accept, progressbar = o["sampler"], o["target_accept"], o["progressbar"]
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r} is not supported; use one of {list(SAMPLERS)}")
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
    s = resolve_spec(law, spec, priors=priors, likelihood=likelihood, groups=groups,
                     pooling=pooling, reference=reference, grouping=grouping, centered=centered,
                     coordinates=coordinates)
    if target_accept is None:
        # crossed groupings add one effect per term to each cell, and with a few levels per term
        # NUTS diverged at 0.95 in 3 of 4 seeds of a 4 x 3 crossed synthetic hierarchy and at
        # 0.99 in none (tests/test_hierarchy_fit.py)
        crossed = bool(s.groups) and s.grouping == "crossed" and len(s.groups) > 1
        default_accept = 0.99 if crossed else s.law_obj.target_accept
    elif not 0.5 <= target_accept < 1:
        raise ValueError(f"target_accept must be in [0.5, 1), not {target_accept!r}")
    if seed is None:  # draw one so that the fit records a seed that reproduces it
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    table = prepare_runs(runs, s, columns, flops)
    if s.groups:
        n_groups = group_labels(table, s.groups).nunique()
        if n_groups < 2:
            raise SpecError(
                f"groups={list(s.groups)} gives a single group; a hierarchical fit needs two or "
                "more (drop groups= to fit one population)"
            )
    check_design(table, s.law_obj)
    s = resolve_centered(table, s)  # the fitted spec records which group effects are centred
    ref = resolve_reference(table, s)
    model, compiled = _model_for(table, s, ref, sampler)
    if target_accept is None:  # large hierarchies (diagonal mass matrix) default to 0.8
        from bayescale.sampling.adaptation import default_target_accept

        target_accept = default_target_accept(default_accept, model, sampler)
    tree = _sample(model, compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                   sampler=sampler, target_accept=target_accept, progressbar=progressbar,
                   prior_draws=prior_draws, prior_model=lambda: _prior_model(model, table, s, ref))
    result = ScalingFit.from_sampling(
        tree, spec=s, runs=table, reference=ref, seed=seed, sampler=sampler,
        settings={"draws": draws, "tune": tune, "chains": chains,
                  "coordinates": model._bayescale.get("coordinates", "natural"),
                  "target_accept": target_accept, "flops": table.attrs.get("flops", ""),
                  "progressbar": bool(progressbar)},
        flops_per_token=None if callable(flops) else float(flops),
    )
    if s.groups and not result.diagnostics.ok:
        from dataclasses import replace as _replace

        from bayescale.posterior.hierarchy import hierarchy_advice

        if model._bayescale.get("coordinates") == "natural":
            advice = hierarchy_advice(s, result.diagnostics, table)
        else:  # centring of the replaced parameters is chosen by the identified coordinates
            advice = _identified_hierarchy_advice(s, result.diagnostics)
        if advice:
            result.diagnostics = _replace(result.diagnostics,
                                          problems=[*result.diagnostics.problems, *advice])
    notes = _outlier_notes(result) + _mode_notes(result) + _new_group_notes(s)
    if notes:
        from dataclasses import replace as _replace

        result.diagnostics = _replace(result.diagnostics,
                                      notes=[*result.diagnostics.notes, *notes])
    max_draws = retry_max_draws(len(table), chains)

    def refit(r: dict) -> Any:
        """The same fit with the remedy's settings in place of the first attempt's."""
        return fit(table, spec=s, flops=flops, centered=r.get("centered"),
                   coordinates=r.get("coordinates"),
                   draws=r.get("draws", draws), tune=r.get("tune", tune), chains=chains,
                   cores=cores, seed=seed, sampler=sampler,
                   target_accept=r.get("target_accept", target_accept),
                   progressbar=progressbar, prior_draws=prior_draws, retry=False,
                   warn=False)

    ladder = _retry_ladder(result.diagnostics, refit, table=table, spec=s,
                           target_accept=target_accept, draws=draws, tune=tune,
                           max_draws=max_draws) if retry else None
    if ladder is not None:
        again, first_retry, remedy = ladder
        settings = json.loads(again.meta["settings"])
        settings["retried"] = {"target_accept": target_accept, "draws": draws, "tune": tune,
                               "coordinates": json.loads(result.meta["settings"]).get(
                                   "coordinates"),
                               "centered": (list(s.centered) if s.centered != "auto"
                                            else "auto"),
                               "divergences": result.diagnostics.divergences,
                               "max_rhat": result.diagnostics.max_rhat,
                               "min_ess_bulk": result.diagnostics.min_ess_bulk}
        if again is not first_retry:
            first = json.loads(first_retry.meta["settings"])
            settings["retried"]["then"] = {
                "draws": first.get("draws"), "tune": first.get("tune"),
                "divergences": first_retry.diagnostics.divergences,
                "max_rhat": first_retry.diagnostics.max_rhat,
                "min_ess_bulk": first_retry.diagnostics.min_ess_bulk}
        again.meta["settings"] = json.dumps(settings)
        if not again.diagnostics.ok:
            from dataclasses import replace as _replace

            used = json.loads(again.meta["settings"])
            again.diagnostics = _replace(
                again.diagnostics,
                problems=_limit_advice(again.diagnostics, remedy, s, table, used))
        result = again
    if warn and not result.diagnostics.ok:
        warnings.warn(
            "the fit's sampling diagnostics failed:\n" + str(result.diagnostics),
            ConvergenceWarning,
            stacklevel=2,
        )
    return result


#: A diverging hierarchy of 5+ groups is refitted at target_accept 0.99 in the same coordinates
#: before its weakly pinned exponents are non-centred (``_retry_ladder``'s step 2).  False gives
#: the order before 2026-12-05 (non-centred first, at the fit's own target_accept), which
#: ``benchmarks/retry_order.py`` measures against.
TARGET_ACCEPT_BEFORE_NONCENTRING = True


def _retry_ladder(diag, refit, *, table: pd.DataFrame, spec: ModelSpec, target_accept: float,
                  draws: int, tune: int, max_draws: int) -> tuple[Any, Any, dict] | None:
    """Refit a failed fit with the remedies its failures call for, in order.

    ``refit(remedy)`` fits again with the remedy's settings (``centered``, ``coordinates``,
    ``draws``, ``tune``, ``target_accept``) in place of the first attempt's.  The steps, each
    taken only while the fit still fails:

    1. :func:`_remedy`: divergences -> ``target_accept`` 0.99; slow mixing alone -> twice
       the draws.
    2. Still diverging: a hierarchy of :data:`~bayescale.modeling.model.FEW_GROUPS` or more
       groups -> the exponents its groups pin weakly non-centred, at 0.99 and twice the draws
       (:func:`~bayescale.modeling.model.noncentring_remedy`); a hierarchy of 2-4 groups ->
       natural coordinates, every group effect non-centred
       (:func:`~bayescale.modeling.model.few_groups_remedy`).  Then, still diverging below
       ``target_accept`` 0.99 (natural coordinates) -> the same at 0.99.
    3. Free of divergences but mixing slowly -> the draws its ESS asks for
       (:func:`_mixing_remedy`); if those long chains diverge -> the same at 0.99.

    The order in step 2 for 5+ groups (measured 2026-12-05 on ``simulate_hierarchy(8, seed)``,
    seeds 1-8, package defaults): non-centring first, at 0.9, still diverged in all six seeds
    where it was asked for (1-45 divergences), each then needed 0.99 anyway, and 2 of 8 fits
    still failed at the end of the ladder; the same coordinates at 0.99 first passed at once
    in 5 of the 7 seeds that retried (31-42 steps per draw; the divergences sit where the
    offset's scale ``E_tau`` shrinks, which non-centring an exponent does not reach), and 7 of
    8 passed in all.  On Li et al.'s sweep by learning rate (``benchmarks/robustness.py``),
    where the exponent is what funnels, it costs a fit: 208 s against 129 s, both passing.

    Returns ``(final fit, first retry's fit, final remedy)``, or None when no remedy applies.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> ok = SimpleNamespace(diagnostics=SimpleNamespace(ok=True, divergences=0))
    >>> asked = []
    >>> bad = SimpleNamespace(ok=False, divergences=5, worst={}, chains=4)
    >>> _retry_ladder(bad, lambda r: asked.append(r) or ok, table=None,
    ...               spec=SimpleNamespace(groups=()), target_accept=0.9, draws=1000,
    ...               tune=1000, max_draws=8000)[2]
    {'target_accept': 0.99}
    """
    remedy = _remedy(diag, target_accept, draws, tune, max_draws)
    if remedy is None:
        return None

    def noncentring(**extra: Any) -> dict | None:
        """The weakly pinned exponents of a 5+-group hierarchy non-centred at twice the draws
        (the funnel of exponents the groups do not pin), or None; computed only when asked."""
        from bayescale.modeling.model import noncentring_remedy

        keep = noncentring_remedy(table, spec)
        if keep is None:
            return None
        return {"centered": keep, "draws": min(max_draws, 2 * draws), **extra}

    diverged = bool(diag.divergences and spec.groups)
    if diverged and not TARGET_ACCEPT_BEFORE_NONCENTRING:  # the order before 2026-12-05
        remedy = noncentring() or remedy

    def smaller_step(again: Any, remedy: dict) -> tuple[Any, dict]:
        """A refit that still diverges at a target_accept below 0.99, again at 0.99."""
        if again.diagnostics.divergences and remedy.get("target_accept", target_accept) < 0.99:
            _log.info("the refit diverged (%d divergences): again at target_accept 0.99",
                      again.diagnostics.divergences)
            remedy = {**remedy, "target_accept": 0.99}
            again = refit(remedy)
        return again, remedy

    _log.info("the fit failed its diagnostics (%s): refitting with %s",
              "; ".join(p.split(":")[0] for p in getattr(diag, "problems", [])), remedy)
    again = refit(remedy)
    if diverged and TARGET_ACCEPT_BEFORE_NONCENTRING and again.diagnostics.divergences:
        later = noncentring(target_accept=0.99)  # 0.99 in the same coordinates did not do
        if later is not None:
            _log.info("the refit still diverged (%d divergences): refitting with %s",
                      again.diagnostics.divergences, later)
            remedy = later
            again = refit(remedy)
    if again.diagnostics.divergences and spec.groups:
        from bayescale.modeling.model import few_groups_remedy

        switch = few_groups_remedy(table, spec)
        if switch is not None:  # a funnel of few groups that target_accept did not cross
            _log.info("the retry still diverged (%d divergences): refitting with %s",
                      again.diagnostics.divergences, switch)
            remedy = {**switch, **{k: v for k, v in remedy.items() if k == "draws"}}
            again = refit(remedy)
    again, remedy = smaller_step(again, remedy)
    first_retry = again
    more = _mixing_remedy(again.diagnostics, remedy, draws, tune, target_accept, max_draws)
    if more is not None:  # the remedy fixed divergences / R-hat but the chains still mix
        # slowly: the draws the ESS asks for (x2 to x8), same coordinates, target_accept
        # at least LONG_RUN_TARGET_ACCEPT
        _log.info("the retry still failed its diagnostics (%s): refitting with %s",
                  "; ".join(p.split(":")[0] for p in again.diagnostics.problems), more)
        remedy = {**remedy, **more}
        again = refit(remedy)
        # long chains can find a rare divergence at LONG_RUN_TARGET_ACCEPT (the all-pooled
        # misfitting hierarchy: 1 in 32,000 draws at 0.95)
        again, remedy = smaller_step(again, remedy)
    return again, first_retry, remedy


def _limit_advice(diag, remedy: dict, spec: ModelSpec, table: pd.DataFrame,
                  used: Mapping[str, Any]) -> list[str]:
    """The problems of a fit the automatic retry could not fix, with advice that fits them.

    The retried fit's own advice offers ``retry=True`` (:data:`~bayescale.posterior.
    diagnostics.RETRY_HINT`), which was in use: dropped.  When the
    chains only mix slowly (no divergences, no separate modes), more draws may still pass, and
    when the slowest variable is the spread ``tau`` of a pooled parameter between few groups,
    its prior is what the data barely update, which a tighter ``pool_scale`` states.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from bayescale.modeling import default_spec
    >>> d = SimpleNamespace(problems=["R-hat 1.013 for 'alpha_tau' exceeds 1.01: chains "
    ...     "disagree. Run longer (draws=8000, tune=4000, or retry=True)"], divergences=0,
    ...     worst={"rhat": "alpha_tau", "ess": "alpha_tau"})
    >>> spec = default_spec("chinchilla").replace(groups=("lr",))
    >>> table = pd.DataFrame({"lr": list("abcde") * 4})
    >>> for p in _limit_advice(d, {"draws": 4000}, spec, table, {"draws": 4000}):
    ...     print(p)   # doctest: +NORMALIZE_WHITESPACE
    R-hat 1.013 for 'alpha_tau' exceeds 1.01: chains disagree. Run longer (draws=8000,
    tune=4000)
    bayescale already refitted with {'draws': 4000} after the first fit failed. No divergences
    remain: the chains mix slowly, and draws=8000 may pass. The slowest is 'alpha_tau', the
    spread of 'alpha' between the 5 groups: 5 groups say little about it, so its posterior
    stays near its prior HalfNormal(0.3). If 'alpha' should differ less between your groups,
    say so: pool_scale={'alpha': 0.1}
    """
    from bayescale.posterior.diagnostics import RETRY_HINT

    problems = [p.replace(RETRY_HINT, "") for p in diag.problems]
    text = f"bayescale already refitted with {remedy} after the first fit failed"
    slow = not diag.divergences and not diag.worst.get("modes")
    if not slow:
        problems.append(text + "; more sampler settings will not fix this, the model or the "
                        "runs need a change (see above)")
        return problems
    text += (". No divergences remain: the chains mix slowly, and "
             f"draws={2 * int(used.get('draws', 1000))} may pass")
    worst = diag.worst.get("rhat") or diag.worst.get("ess") or ""
    pooled = [p for p in spec.law_obj.param_names if spec.pooling_of(p) == "pooled"]
    param = next((p for p in pooled if worst == f"{p}_tau" or worst.startswith(f"{p}_tau_")),
                 None)
    if param is not None and spec.groups:
        groups = group_labels(table, spec.groups).nunique()
        scale = spec.pool_scale_of(param)
        text += (f". The slowest is {worst!r}, the spread of {param!r} between the {groups} "
                 f"groups: {groups} groups say little about it, so its posterior stays near its "
                 f"prior HalfNormal({scale:g}). If {param!r} should differ less between your "
                 f"groups, say so: pool_scale={{{param!r}: {scale / 3:.2g}}}")
    problems.append(text)
    return problems


def _identified_hierarchy_advice(spec: ModelSpec, diag) -> list[str]:
    """Advice for a hierarchy in identified coordinates: which exponents to sample non-centred."""
    pooled = [p for p in spec.law_obj.param_names if spec.pooling_of(p) == "pooled"]
    if not (diag.divergences and pooled):
        return []
    st = spec.law_obj.structure
    exps = [t.exponent for t in st.terms if t.slope and t.exponent in pooled] if st else []
    centred = [p for p in pooled if spec.centered != "auto" and p in spec.centered]
    still = [e for e in exps if e in centred]
    text = (f"hierarchical fit: the group effects of {pooled} funnel where their scales tau "
            "approach 0 (groups that agree, or too few groups to measure tau)")
    if still:
        keep = tuple(p for p in centred if p != still[0])
        text += (f"; sample {still[0]!r} non-centred (centered={keep!r}; the automatic retry "
                 "does this for exponents the runs pin weakly), pool fewer parameters "
                 f"(pooling={{{still[-1]!r}: 'shared'}}) or give a tighter pool_scale")
    else:
        text += ("; pool fewer parameters (pooling={'beta': 'shared'}) or give a tighter "
                 "pool_scale")
    return [text]


#: Largest draws per chain a retry asks for (the remedy for R-hat / ESS multiplies the draws).
#: Li et al.'s sweep by learning rate (5 groups, ``benchmarks/robustness.py``) needed 8,000:
#: after its non-centring retry at 2,000 draws (ESS 363, R-hat 1.017) 4,000 draws left R-hat
#: 1.013 and 1.007 (bulk ESS ~500, seeds 0-1) and 8,000 gave 1.002-1.007 (ESS 1,086-1,451,
#: seeds 0-3; 2026-12-02).
RETRY_MAX_DRAWS = 8000

#: Largest chains x draws x runs a retry may store per pointwise array (the log-likelihood and
#: the posterior predictive keep one value per draw and run): 4 x 8,000 x 1,250 runs, 320 MB
#: in float64.  Larger runs tables retry up to :data:`RETRY_MAX_DRAWS_LARGE` draws per chain.
RETRY_MAX_POINTWISE = 4 * 8000 * 1250
#: The draws-per-chain limit of a retry when 8,000 would exceed :data:`RETRY_MAX_POINTWISE`
#: (the 100-group, 5,000-run benchmark: 4 x 4,000 x 5,000 values, 640 MB per array).
RETRY_MAX_DRAWS_LARGE = 4000


def retry_max_draws(n_runs: int, chains: int) -> int:
    """The most draws per chain the automatic retry asks for, given the data's size.

    Examples
    --------
    >>> retry_max_draws(240, 4), retry_max_draws(5000, 4)
    (8000, 4000)
    """
    if chains * RETRY_MAX_DRAWS * max(int(n_runs), 1) <= RETRY_MAX_POINTWISE:
        return RETRY_MAX_DRAWS
    return RETRY_MAX_DRAWS_LARGE


#: The most the second (mixing) retry multiplies the first retry's draws by: chains whose ESS
#: is a few percent of the minimum do not mix at all, and 64 times the draws would only hide it.
MIXING_MAX_FACTOR = 8

#: ``target_accept`` of the retry that runs long chains for slow mixing (at least this).  Longer
#: chains reach the rare regions where a step size adapted for 0.9 diverges: misfitting by
#: learning rate at 8,000 draws diverged 22 and 2 times at 0.9 (seeds 0-1) and 0 times at 0.95
#: (seeds 0-3), and twice the draws of a crossed hierarchy exposed divergences that one did not.
LONG_RUN_TARGET_ACCEPT = 0.95


def _remedy(diag, target_accept: float, draws: int, tune: int,
            max_draws: int = RETRY_MAX_DRAWS) -> dict | None:
    """The sampler settings that address a failed fit, or None when nothing would help.

    ``max_draws`` is the most draws per chain a retry may ask for (:func:`retry_max_draws`).
    """
    from bayescale.posterior.diagnostics import ESS_MIN_PER_CHAIN, RHAT_MAX

    if diag.ok:
        return None
    if diag.divergences:
        return {"target_accept": 0.99} if target_accept < 0.99 else None
    if diag.worst.get("modes"):
        return None  # more draws do not merge modes; the advice says what would
    mixing = diag.chains > 1 and diag.max_rhat > RHAT_MAX
    want = ESS_MIN_PER_CHAIN * diag.chains
    ess = min(diag.min_ess_bulk, diag.min_ess_tail)
    if not (mixing or ess < want) or draws >= max_draws:
        return None
    # twice the draws and warm-up (asking for the draws the ESS would need, up to four times,
    # exposed rare divergences in longer chains of a crossed hierarchy that twice did not; the
    # second retry, _mixing_remedy, goes further with a higher target_accept)
    if 2 * draws > max_draws:
        return None
    return {"draws": 2 * draws, "tune": max(tune, 2 * draws)}


def _mixing_remedy(diag, remedy: dict, draws: int, tune: int,
                   target_accept: float = 0.9, max_draws: int = RETRY_MAX_DRAWS) -> dict | None:
    """A second retry's settings, or None: only for chains that still mix slowly.

    After the first retry's remedy, a fit with no divergences and no separate modes that still
    fails only R-hat or ESS gets the draws its ESS asks for, twice over: effective samples grow
    in proportion to the draws, and a between-group scale ``tau`` whose chains wander needs more
    than the minimum ESS before its R-hat settles (misfitting by learning rate: R-hat 1.013 at
    bulk ESS 514).  The draws are the retry's times 2, 4, 8, ... (at least 2), up to
    ``max_draws`` (:func:`retry_max_draws`: 8,000 unless the runs table is large), warm-up
    as long as the retry's draws, and ``target_accept`` at
    least :data:`LONG_RUN_TARGET_ACCEPT` (long chains find the divergences short ones miss;
    ``target_accept`` is the first attempt's, in use unless the remedy changed it).
    Divergences after a retry are not a sampler-settings problem.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> slow = SimpleNamespace(ok=False, divergences=0, worst={}, chains=4, max_rhat=1.017,
    ...                        min_ess_bulk=363, min_ess_tail=487)
    >>> _mixing_remedy(slow, {"draws": 2000}, 1000, 1000)
    {'draws': 8000, 'tune': 2000, 'target_accept': 0.95}
    >>> _mixing_remedy(SimpleNamespace(**{**vars(slow), "divergences": 3}), {"draws": 2000},
    ...                1000, 1000) is None
    True
    """
    from bayescale.posterior.diagnostics import ESS_MIN_PER_CHAIN

    if diag.ok or diag.divergences or diag.worst.get("modes"):
        return None
    used_draws = remedy.get("draws", draws)
    used_tune = remedy.get("tune", tune)
    used_accept = remedy.get("target_accept", target_accept)
    more = _remedy(diag, used_accept, used_draws, used_tune, max_draws)
    if more is None or "draws" not in more:
        return None
    ess = min(diag.min_ess_bulk, diag.min_ess_tail)
    want = 2.0 * ESS_MIN_PER_CHAIN * diag.chains  # twice the minimum ESS, projected linearly
    factor = 2
    while (factor < MIXING_MAX_FACTOR and factor * 2 * used_draws <= max_draws
           and not (math.isfinite(ess) and ess > 0 and factor * ess >= want)):
        factor *= 2
    out = {"draws": factor * used_draws, "tune": max(used_tune, used_draws)}
    if used_accept < LONG_RUN_TARGET_ACCEPT:
        out["target_accept"] = LONG_RUN_TARGET_ACCEPT
    return out


def _new_group_notes(spec: ModelSpec) -> list[str]:
    """Say so when a hierarchy cannot predict an unseen group (parameters per group only)."""
    if not spec.groups:
        return []
    independent = [p for p in spec.law_obj.param_names if spec.pooling_of(p) == "independent"]
    if not independent:
        return []
    return [
        f"this hierarchy keeps {independent} independent per group, so it predicts its own "
        "groups, not a new one (group='new' raises NewGroupError); pool them (pooling="
        + "{" + ", ".join(f"{p!r}: 'pooled'" for p in independent) + "}) to predict new groups"
        + pooled_alternative(spec)
    ]


def _sci(value: float) -> str:
    """``1.73e9`` rather than Python's ``1.73e+09`` (notes are read by people)."""
    text = f"{float(value):.3g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def separating_run(law, reference: Mapping[str, float], camps: Sequence[Mapping[str, Any]],
                   runs: pd.DataFrame, sigma: float, *, flops: float = 6.0,
                   beyond: float = 1.0) -> dict[str, float] | None:
    """The cheapest run whose loss two posterior modes predict differently enough to separate.

    Candidates are a grid around the runs: ``N`` from the smallest run to ``beyond`` decades
    past the largest and tokens per parameter from half the smallest to twice the largest ratio
    seen (``C`` alone for compute laws).  For each mode (a mapping of sampled-parameter draws)
    the median predicted log loss is compared; the answer is the cheapest candidate where they
    differ by more than three noise scales ``sigma`` plus the modes' own spreads, else the one
    where they differ most.

    Returns
    -------
    dict or None
        ``N``, ``D``, ``C`` (those the law uses), ``loss_a``, ``loss_b`` (the modes' median
        predictions), ``separation`` (difference in units of the noise and spreads); None when
        the law's inputs are not (N, D) or C.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.laws import get_law
    >>> from bayescale.sampling.fit import separating_run
    >>> law = get_law("chinchilla"); ref = {"N": 1e8, "D": 1e9}
    >>> a = law.from_natural(dict(E=1.8, A=400.0, alpha=0.34, B=1800.0, beta=0.28), ref)
    >>> b = law.from_natural(dict(E=1.6, A=300.0, alpha=0.30, B=1800.0, beta=0.28), ref)
    >>> runs = pd.DataFrame({"N": [1e7, 1e8, 3e8], "D": [2e8, 2e9, 6e9]})
    >>> r = separating_run(law, ref, [a, b], runs, 0.005)
    >>> r["N"] >= 1e7 and r["separation"] > 3
    True
    """
    inputs = set(law.inputs)
    if inputs == {"N", "D"}:
        n = np.geomspace(runs["N"].min(), runs["N"].max() * 10 ** beyond, 17)
        tpp = (runs["D"] / runs["N"]).to_numpy(dtype=float)
        r = np.geomspace(tpp.min() / 2, tpp.max() * 2, 9)
        nn, rr = np.meshgrid(n, r, indexing="ij")
        grid = {"N": nn.ravel(), "D": (nn * rr).ravel()}
        cost = flops * grid["N"] * grid["D"]
    elif inputs == {"C"}:
        grid = {"C": np.geomspace(runs["C"].min(), runs["C"].max() * 10 ** beyond, 40)}
        cost = grid["C"]
    else:
        return None
    meds, sds = [], []
    for camp in camps:
        params = {k: np.asarray(v, dtype=float).reshape(-1, 1) for k, v in camp.items()}
        ll = np.asarray(law.log_loss(params, grid, reference), dtype=float)
        meds.append(np.median(ll, axis=0))
        q = np.quantile(ll, [0.16, 0.84], axis=0)
        sds.append((q[1] - q[0]) / 2)
    scale = np.sqrt(sigma ** 2 + sds[0] ** 2 + sds[1] ** 2)
    sep = np.abs(meds[0] - meds[1]) / np.maximum(scale, 1e-12)
    ok = np.flatnonzero(sep > 3.0)
    i = int(ok[np.argmin(cost[ok])]) if ok.size else int(np.argmax(sep))
    out = {k: float(v[i]) for k, v in grid.items()}
    if inputs == {"N", "D"}:
        out["C"] = float(cost[i])
    out.update(loss_a=float(np.exp(meds[0][i])), loss_b=float(np.exp(meds[1][i])),
               separation=float(sep[i]))
    return out


def _mode_notes(result) -> list[str]:
    """For a single fit whose chains sit in two modes: a run that would tell them apart."""
    name = result.diagnostics.worst.get("modes")
    post = result.tree["posterior"]
    law = result.law
    if not name or result.spec.groups or name not in post.data_vars or \
            not all(p in post.data_vars for p in law.param_names):
        return []
    med = np.asarray(post[name]).reshape(post.sizes["chain"], -1)
    med = np.median(med, axis=1) if med.shape[1] else med
    order = np.argsort(med)
    cut = int(np.argmax(np.diff(med[order]))) + 1
    camps = [order[:cut], order[cut:]]
    draws = [{p: np.asarray(post[p])[c].reshape(-1) for p in law.param_names} for c in camps]
    sigma = float(np.median(np.asarray(post["sigma"]))) if "sigma" in post else 0.0
    runs = result.runs
    flops = 6.0  # FLOPs per parameter per token: the runs' own where they give C
    if {"N", "D", "C"} <= set(runs.columns):
        ratio = (runs["C"] / (runs["N"] * runs["D"])).to_numpy(dtype=float)
        flops = float(np.median(ratio)) if np.isfinite(ratio).any() else 6.0
    found = separating_run(law, result.reference, draws, result.runs, sigma, flops=flops)
    if found is None:
        return []
    where = ", ".join(f"{k} = {_sci(found[k])}" for k in ("N", "D", "C") if k in found)
    verdict = ("would separate them" if found["separation"] > 3 else
               "is where they differ most (by less than the noise, so more runs are needed)")
    return [
        f"the chains sit in two modes of {name!r}: chains {sorted(camps[0].tolist())} against "
        f"{sorted(camps[1].tolist())}. A run at {where} {verdict}: the modes predict "
        f"{result.law.target} {found['loss_a']:.4g} and {found['loss_b']:.4g} there"
    ]


def _outlier_notes(result) -> list[str]:
    """A note when Student-t ``nu`` sits near its bound of 2, naming the most outlying runs."""
    if result.spec.likelihood != "student_t" or "nu" not in result.tree["posterior"]:
        return []
    from bayescale.modeling.noise import NU_MIN

    nu = float(np.median(np.asarray(result.tree["posterior"]["nu"])))
    if nu >= NU_MIN + 1.0:
        return []
    post = result.tree["posterior"]
    if "log_likelihood" not in result.tree.children:
        return []
    ll = np.asarray(result.tree["log_likelihood"]["log_loss"])
    score = -ll.reshape(-1, ll.shape[-1]).mean(axis=0)  # runs the law fits worst score highest
    sigma = float(np.median(np.asarray(post["sigma"])))
    order = np.argsort(score)[::-1][:5]
    runs = result.runs
    cols = [c for c in ("N", "D", "C") if c in runs.columns][:2]
    law_target = result.law.target
    named = "; ".join(
        f"row {runs.index[i]} (" + ", ".join(f"{c} = {_sci(runs[c].iloc[i])}" for c in cols)
        + f", {law_target} = {float(runs[law_target].iloc[i]):.4g})" for i in order)
    # the best run per design point is a remedy only where a design point holds several runs
    # (a sweep already reduced to its envelope has one each; in a hierarchy, per group): the
    # design point of --envelope and of the mixed-set-up warning
    design = [c for c in design_point(runs, result.spec.groups) if c in runs.columns]
    repeated = bool(design) and bool(runs.duplicated(design).any())
    remedy = ("drop them, fit the best run per (N, D) (bayescale.data.runs.envelope), or give "
              "the set-up column as groups=" if repeated else
              "drop them, or give the set-up column as groups=")
    return [
        f"the Student-t degrees of freedom nu = {nu:.2f} sit near their lower bound {NU_MIN:g}: "
        f"the likelihood treats several runs as outliers (noise scale {sigma:.3g} on log loss). "
        f"The runs the law fits worst: {named}. Check them (a diverged or unfinished run, a "
        f"different learning rate or set-up); {remedy}"
    ]


# Compiled models re-used across fits of the same structure (spec, reference scales, groups):
# a refit on new data only swaps the pm.Data values (and the length of the run dimension), so it
# samples in seconds instead of paying the ~15 s nutpie/numba compile again.  Backtests refit on
# growing subsets of the runs, so the number of runs is not part of the key.  Bounded, most
# recent last.
_COMPILED: dict[tuple, tuple[Any, Any]] = {}
_COMPILED_MAX = 8


def _structure_key(spec: ModelSpec, table: pd.DataFrame, ref: Mapping[str, float]) -> tuple:
    labels = tuple(sorted(group_labels(table, spec.groups).unique())) if spec.groups else ()
    return (spec.hash, tuple(sorted(ref.items())), labels)


def _model_for(table: pd.DataFrame, spec: ModelSpec, ref: Mapping[str, float], sampler: str):
    """Return (model, compiled nutpie model or None), re-using a cached compile if possible."""
    import pymc as pm

    key = _structure_key(spec, table, ref)
    if sampler == "nutpie" and key in _COMPILED:
        model, compiled = _COMPILED.pop(key)
        fresh = build_model(table, spec, reference=ref)  # cheap: graph only, no compile
        values = {name: fresh[name].get_value() for name in _data_names(fresh)}
        pm.set_data(values, model=model, coords={OBS_DIM: np.arange(len(table))})
        compiled = compiled.with_data(**values)
        _COMPILED[key] = (model, compiled)
        return model, compiled
    model = build_model(table, spec, reference=ref)
    if sampler != "nutpie":
        return model, None
    from bayescale.sampling.compile_cache import compile_nutpie

    compiled = compile_nutpie(model)  # nutpie's numba compile, cached on disk across processes
    _COMPILED[key] = (model, compiled)
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.pop(next(iter(_COMPILED)))
    return model, compiled


def _data_names(model) -> list[str]:
    """The ``pm.Data`` containers a refit on new runs replaces (inputs, centres, rough starts)."""
    return [name for name in model.named_vars
            if name.startswith(("x_", "xbar_", "id0_", "bound_"))
            or name in ("y", "group_idx")]


#: How the prior draws' forward-sampling function is compiled: PyTensor's Python linker, not
#: numba.  Numba compiled each model's random-variable graph anew (4-9 s of a cold command-line
#: fit, measured at load ~3.5: 38.6 -> 32.0 s and 43.1 -> 33.8 s); the Python linker compiles
#: nothing and draws the same numbers from the same seed (to 1e-13).  It would draw the
#: half-normal and Student-t variables through ``scipy.stats`` (a 0.7-0.9 s import on the warm
#: fit's critical path); :func:`bayescale.sampling.prior_rng.numpy_rvs` draws SciPy's numbers
#: with numpy instead (six paired warm command-line fits at load ~1.05: median 4.45 -> 4.04 s).
#: A runs table with a new number of runs recompiles, so users meet the cold case often.
PRIOR_COMPILE = {"mode": "FAST_COMPILE"}


def _prior_model(model, table: pd.DataFrame, spec: ModelSpec, ref: Mapping[str, float]):
    """The model to draw prior samples from: the fitted one, or its natural-coordinate twin.

    A model in identified coordinates holds its priors in a Potential (they are the spec's priors
    on the law's parameters), which forward sampling cannot draw from; the same priors in the
    law's own coordinates can.
    """
    if model._bayescale.get("coordinates") != "identified":
        return model
    return build_model(table, spec.replace(coordinates="natural"), reference=ref)


def _sample(model, compiled, *, draws, tune, chains, cores, seed, sampler, target_accept,
            progressbar, prior_draws, prior_model=None):
    import pymc as pm

    seed_int = int(seed)
    _log.info("sampling %d chains x %d draws (+%d warm-up) with %s", chains, draws, tune, sampler)
    from bayescale.sampling.compile_cache import strict_math

    # built outside the fitted model's context (a model made inside it would be its submodel)
    prior_from = (prior_model() if prior_model is not None else model) if prior_draws else None
    prior = None
    with model, warnings.catch_warnings(), strict_math():
        warnings.filterwarnings("ignore", message=".*np.dot.*", category=RuntimeWarning)
        if sampler == "nutpie":
            from pymc.sampling.mcmc import patch_nutpie_idata

            from bayescale.sampling.nutpie_io import import_nutpie, trace_to_datatree

            nutpie = import_nutpie()  # without ArviZ's import (2 s), which nutpie imports

            start = time.time()
            # the mass-matrix adaptation (diag or low-rank) is chosen per model, by measurement
            from bayescale.sampling.adaptation import nutpie_adaptation

            background = nutpie.sample(
                compiled, draws=draws, tune=tune, chains=chains, seed=int(seed_int),
                save_warmup=False, progress_bar=progressbar,
                adaptation=nutpie_adaptation(model),
                target_accept=target_accept, cores=cores or min(chains, os.cpu_count() or 1),
                blocking=False, return_raw_trace=True,
            )
            # nutpie.sample(blocking=True) answers Ctrl-C by returning the draws made so far;
            # a partial posterior must never pass for a fit, so discard it and re-raise.
            try:
                # the prior draws (Python, one thread) are made while the chains sample (in
                # nutpie's threads, without the GIL): a warm command-line fit on a quiet 2-core
                # machine, 8 interleaved pairs, median 4.98 s drawn after, 4.63 s drawn during
                prior = _draw_prior(prior_from, prior_draws, seed_int)
                raw = background.wait()
            except BaseException as exc:
                background.cancel()
                if isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt(
                        "sampling was interrupted; nothing was kept") from None
                raise
            tree = trace_to_datatree(raw, coords=compiled.coords,
                                     settings=background._settings.as_dict(),
                                     nutpie_version=nutpie.__version__,
                                     reparameterized=compiled.reparameterized_names)
            patch_nutpie_idata(tree, model, sampling_time=time.time() - start)
        else:
            tree = pm.sample(
                draws=draws, tune=tune, chains=chains, random_seed=seed_int,
                progressbar=progressbar, target_accept=target_accept,
                compute_convergence_checks=False,
                cores=cores or min(chains, os.cpu_count() or 1),
            )
        _check_complete(tree, chains=chains, draws=draws)
        from bayescale.sampling.compile_cache import log_likelihood

        log_likelihood(tree, model)  # pm.compute_log_likelihood in numpy, from the law
    if prior is None:
        prior = _draw_prior(prior_from, prior_draws, seed_int)
    if prior is not None:
        for group in ("prior", "prior_predictive"):
            if group in prior.children:
                tree[group] = prior[group]
    return tree


def _draw_prior(model, prior_draws: int, seed: int):
    """Prior and prior predictive draws (seed + 1) of ``model``, or None for 0 draws."""
    import pymc as pm

    from bayescale.sampling.compile_cache import strict_math

    if not prior_draws:
        return None
    from bayescale.sampling.prior_rng import numpy_rvs

    with model, strict_math(), numpy_rvs(), \
            _quiet("pymc.sampling.forward"):  # its "Sampling: [...]" line is noise here
        return pm.sample_prior_predictive(draws=prior_draws, random_seed=int(seed) + 1,
                                          compile_kwargs=PRIOR_COMPILE)


def _check_complete(tree, *, chains: int, draws: int) -> None:
    """Raise KeyboardInterrupt when the sampler returned fewer draws than asked for.

    PyMC's and nutpie's samplers catch Ctrl-C and return the draws made so far; bayescale
    re-raises instead, so that an interrupted fit is never summarised or saved as a whole one.
    """
    post = tree["posterior"] if "posterior" in tree.children else None
    got = (0, 0) if post is None else (post.sizes.get("chain", 0), post.sizes.get("draw", 0))
    if got != (chains, draws):
        raise KeyboardInterrupt(
            f"sampling was interrupted after {got[1]} of {draws} draws per chain; the partial "
            "posterior was discarded"
        )


def prior_predictive(
    runs: pd.DataFrame | str | os.PathLike,
    law: str | None = None,
    *,
    spec: ModelSpec | str | os.PathLike | Mapping[str, Any] | None = None,
    draws: int = 500,
    seed: int | None = 0,
    columns: Mapping[str, str] | None = None,
    flops: float | Callable[[Any, Any], Any] = 6.0,
    **overrides: Any,
):
    """Draw from the prior and prior predictive of a spec at the runs' inputs.

    Use it to check priors before fitting: are the implied losses plausible?

    Returns
    -------
    xarray.DataTree
        Groups ``prior`` (parameters, natural parameters) and ``prior_predictive``
        (``log_loss`` at each run) plus ``observed_data``.

    Examples
    --------
    >>> import numpy as np, bayescale as bs
    >>> runs = bs.datasets.load("chinchilla")
    >>> pp = bs.prior_predictive(runs, "chinchilla", draws=100)
    >>> losses = np.exp(pp["prior_predictive"]["log_loss"])
    >>> bool((losses > 0).all())
    True
    """
    import pymc as pm

    s = resolve_spec(law, spec, **overrides)
    table = prepare_runs(runs, s, columns, flops)
    model = build_model(table, s.replace(coordinates="natural"),
                        reference=resolve_reference(table, s))
    from bayescale.sampling.prior_rng import numpy_rvs

    with model, numpy_rvs():
        return pm.sample_prior_predictive(draws=draws, random_seed=seed,
                                          compile_kwargs=PRIOR_COMPILE)



@contextlib.contextmanager
def _quiet(logger: str):
    """Silence a library logger's INFO messages for the duration of the block."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)
