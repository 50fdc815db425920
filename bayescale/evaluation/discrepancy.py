"""Learning the extrapolation discrepancy from leave-future-out errors.

The :class:`~bayescale.Discrepancy` that predictions apply lives in
:mod:`bayescale.posterior.discrepancy` with its empirical prior; this module measures how wrong
fitted laws were beyond their data and learns from it:

- :func:`learn_discrepancy`: nested leave-future-out on the user's runs (fits below inner
  cutoffs, errors of the held-out larger runs), updating the empirical prior;
- :func:`forecast_draws`: one such split (fit below, forecast above);
- :func:`fit_discrepancy_prior`: the hierarchical model across published studies that made the
  bundled empirical prior (``benchmarks/calibration.py``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from bayescale.modeling.noise import NU_MIN, perturb
from bayescale.posterior.discrepancy import (
    LAW_COLUMNS,
    Discrepancy,
    DiscrepancyPrior,
    check_residuals,
    data_range,
    empirical_prior,
    estimate_kappa,
    extrapolation_distance,
    law_terms,
    log_mu_draws,
    tpp_distance,
    update_discrepancy,
)

__all__ = [
    "DEFAULT_SPLITS",
    "MIN_HELD_OUT",
    "fit_discrepancy",
    "fit_discrepancy_prior",
    "forecast_draws",
    "learn_discrepancy",
]


def fit_discrepancy_prior(
    residuals: pd.DataFrame,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.95,
    seed: int = 0,
    progressbar: bool = False,
    location: bool = True,
) -> tuple[DiscrepancyPrior, Any]:
    """Fit the hierarchical discrepancy model to leave-future-out residuals of many studies.

    Model (PyMC, sampled with nutpie), for held-out run ``i`` of split ``j`` (one fit below one
    cutoff) of cell ``c`` of study ``s``::

        residual_i = delta_j(i) + law_1,i w_j1 + law_2,i w_j2 + e_i,
        w_j ~ Normal(0, 1),  e_i ~ StudentT(nu_i, 0, noise_i)
        delta_j(i) = (bias[c] + kappa_C[c] t_j) d_C,i + kappa_T[c] d_T,i u_j,
        t_j, u_j ~ StudentT(nu)
        log kappa_C[c] = mu_C + tau_C eta_s + omega_C xi_c        (likewise kappa_T)
        bias[c] ~ Normal(bias_C + bias_tau_C zeta_s, bias_omega_C)

    ``law_k,i w_jk`` and ``e_i`` are the forecast's own predictive error, from the fit that made
    it (:func:`~bayescale.posterior.discrepancy.law_terms`): the law's uncertainty, shared by
    the runs of the split (two principal components of its posterior draws), and the rest,
    run-to-run noise (``noise_i``, ``nu_i``); the shared deviation ``delta`` is the
    extrapolation error, one per forecast (split), heavy-tailed, growing with the distance in
    compute (``d_C``) and tokens per parameter (``d_T``), with a mean miss ``bias`` per decade of
    compute.  In this model the cells differ in their mean miss, and ``kappa_C`` by study only
    (``omega_C = 0``): the nested splits of one cell share most of their miss, and a per-cell
    ``kappa_C`` beside a per-cell mean miss was not identified (the sampler did not mix).
    Priors: ``mu ~ Normal(log 0.02, 1.5)``, ``tau_C, tau_T, omega_T ~ HalfNormal(0.5)`` (five
    studies say little about the spread between them), ``nu - 2 ~ Gamma(2, 0.1)`` (the
    deviation has a variance), ``bias_C ~ Normal(0, 0.05)``, ``bias_tau_C, bias_omega_C ~
    HalfNormal(0.05)``.  Each split's compute slope ``bias + kappa_C t_j`` and its ``w_j`` are
    sampled in coordinates that whiten the split's likelihood (``law_1`` grows with ``d_C``,
    so the two trade off along a narrow ridge); ``t_T`` exists only for splits that go beyond
    their tokens-per-parameter range.

    With ``location=False`` there is no mean miss (``bias = 0``, the ``bias`` columns of the
    result are 0): the deviation is centred on zero and keeps the law's median, and a study's
    systematic misses widen its ``kappa`` instead, which then varies by cell too
    (``omega_C ~ HalfNormal(1)``).  The shipped prior averages the two models
    with equal weight (:meth:`DiscrepancyPrior.averaged`; ``benchmarks/calibration.py
    --rebuild-prior``).  Leave-one-study-out (``benchmarks/calibration.py``) neither alone
    does as well: the mean miss learned from the other studies moves the medians of
    chinchilla, gadre_small and misfitting the wrong way, and the zero-location model loses
    porian's systematic misses (ARE 3.0% -> 3.8%) and widens the intervals; averaged, and
    re-weighed by each study's own splits, the medians are better than either's.

    Parameters
    ----------
    residuals : pandas.DataFrame
        One row per held-out run per split: ``study``, ``cell``, ``split``, ``residual``
        (observed minus predictive median log loss), ``scale`` and ``nu`` (predictive scale and
        Student-t degrees of freedom, ``inf`` for normal), ``d_C``, ``d_T``, and optionally
        ``law_1``, ``law_2``, ``noise`` (:func:`~bayescale.posterior.discrepancy.law_terms`;
        without them the whole scale is independent per run).
    draws, tune, chains, target_accept, seed, progressbar
        Sampler settings.
    location : bool
        Learn a mean miss (``bias``; default) or centre the deviation on zero (the shipped
        prior holds both).

    Returns
    -------
    (DiscrepancyPrior, xarray.DataTree)
        The population posterior, and the full posterior (per-study and per-cell kappas,
        sampler statistics).

    Examples
    --------
    >>> prior, tree = fit_discrepancy_prior(res)        # doctest: +SKIP
    >>> prior.summary()                                 # doctest: +SKIP
    """
    import pymc as pm
    import pytensor.tensor as pt

    r = check_residuals(residuals, ["study", "cell", "split", "residual", "scale", "d_C",
                                     "d_T"])
    _, studies = pd.factorize(r["study"].astype(str), sort=True)
    cell_key = r["study"].astype(str) + "|" + r["cell"].astype(str)
    cell_codes, cells = pd.factorize(cell_key, sort=True)
    cell_study = np.asarray([list(studies).index(c.split("|", 1)[0]) for c in cells])
    split_codes, splits = pd.factorize(r["split"].astype(str), sort=True)
    nu_i = np.minimum(r["nu"].to_numpy(float), 1e4)
    split_cell = np.zeros(len(splits), dtype=int)
    split_cell[split_codes] = cell_codes
    t_splits = np.flatnonzero(np.bincount(split_codes, weights=(r["d_T"].to_numpy() > 0),
                                          minlength=len(splits)) > 0)
    whiten = _whitening(r, split_codes, len(splits))
    coords = {"study": list(studies), "cell": list(cells), "split": list(splits),
              "split_tpp": [splits[j] for j in t_splits], "coef": ["slope", *LAW_COLUMNS],
              "part": ["C", "T"], "component": list(LAW_COLUMNS)}
    with pm.Model(coords=coords):
        mu = pm.Normal("mu", np.log(0.02), 1.5, dims="part")
        # Five studies say little about the spread between studies, nor the few cells that
        # go beyond their tokens-per-parameter range about kappa_T's: HalfNormal(1) there
        # let a new study's kappa_T reach 289 per decade (2026-12-02).  0.5 still allows a
        # factor 2.7 per sd; kappa_C's spread between cells (42 cells; zero-location model
        # only, below) keeps 1.
        tau = pm.HalfNormal("tau", 0.5, dims="part")
        if location:
            # With a mean miss per cell, the nested splits of a cell share one systematic miss
            # and a per-cell kappa_C on top of it is not identified (cells' log kappa_C spread
            # to 1e-4 and back: R-hat 1.07, 2026-12-02).  There kappa_C varies by study only
            # and the cells differ through their mean miss.
            omega_t = pm.HalfNormal("omega_T", 0.5)
            omega = pm.Deterministic("omega", pt.stack([pt.zeros(()), omega_t]), dims="part")
        else:
            omega = pm.HalfNormal("omega", np.array([1.0, 0.5]), dims="part")
        eta = pm.Normal("eta", 0.0, 1.0, dims=("study", "part"))
        xi = pm.Normal("xi", 0.0, 1.0, dims=("cell", "part"))
        log_k_study = pm.Deterministic("log_kappa_study", mu + tau * eta, dims=("study", "part"))
        log_k = pm.Deterministic("log_kappa_cell", log_k_study[cell_study] + omega * xi,
                                 dims=("cell", "part"))
        if location:
            b_pop = pm.Normal("bias_C", 0.0, 0.05)
            b_tau = pm.HalfNormal("bias_tau_C", 0.05)
            b_omega = pm.HalfNormal("bias_omega_C", 0.05)
            zeta = pm.Normal("zeta", 0.0, 1.0, dims="study")
            # centred per cell: each cell's splits pin its mean miss (bias_omega_C is well
            # identified), and the non-centred form tied every cell's deviate to bias_C and
            # the study terms (R-hat 1.11, 2026-12-02)
            bias = pm.Normal("bias_cell", b_pop + b_tau * zeta[cell_study], b_omega,
                             dims="cell")
        else:
            bias = 0.0
        # nu >= 2 (NU_MIN, as for the fits' noise): the deviation has a variance.  With nu > 1
        # only, a chain could settle where tiny kappas and nu ~ 1.5 explain the few large
        # misses (R-hat 1.30 on nu, 2026-12-02).
        nu_m = pm.Gamma("nu_minus_min", 2.0, 0.1)
        nu = pm.Deterministic("nu", NU_MIN + nu_m)
        if not WHITENED_SPLITS:  # the coordinates before 2026-12-05 (benchmarks only)
            t = pm.StudentT("t", nu=nu, mu=0.0, sigma=1.0, dims=("split", "part"))
            k = pm.math.exp(log_k)[cell_codes]
            tt = t[split_codes]
            delta = ((bias[cell_codes] if location else 0.0) + k[:, 0] * tt[:, 0]) \
                * r["d_C"].to_numpy() + k[:, 1] * r["d_T"].to_numpy() * tt[:, 1]
            w = pm.Normal("w_law", 0.0, 1.0, dims=("split", "component"))
        else:
            k = pm.math.exp(log_k)
            # Per split, the compute slope of the deviation (bias + kappa_C t_j) and the law's
            # two shared terms (w_j) enter the residuals linearly, along nearly the same
            # direction (the law's own uncertainty grows with the distance too: within a split
            # law_1 and d_C correlate at |r| 0.9-0.99), so in the coordinates (t_j, w_j) each
            # split is a narrow ridge, 171 of them.  The same model is sampled here in
            # coordinates that whiten each split's likelihood: (slope_j, w_j) = M_j z_j, M_j
            # from the Cholesky factor of the split's Fisher information plus a nominal prior
            # precision (fixed matrices, a constant Jacobian), with the priors of slope_j
            # (Student-t around the cell's mean miss, scale kappa_C) and w_j (standard normal)
            # added as potentials.  On the real residuals without chinchilla (4 x 200 draws,
            # target_accept 0.99, 2026-12-05): 754 -> 225 leapfrog steps per draw, 212 -> 67 s,
            # worst R-hat 1.36 -> 1.10 (tau_C's ESS 10 -> 31).
            z = pm.Flat("z_split", dims=("split", "coef"))
            block = pt.sum(pt.as_tensor_variable(whiten) * z[:, None, :], axis=2)
            slope, w = block[:, 0], block[:, 1:]
            split_bias = bias[split_cell] if location else 0.0
            pm.Potential("slope_prior", pm.logp(
                pm.StudentT.dist(nu=nu, mu=split_bias, sigma=k[split_cell, 0]), slope).sum())
            pm.Potential("law_prior", pm.logp(pm.Normal.dist(0.0, 1.0), w).sum())
            pm.Deterministic("t", (slope - split_bias) / k[split_cell, 0], dims="split")
            pm.Deterministic("w_law", w, dims=("split", "component"))
            delta = slope[split_codes] * r["d_C"].to_numpy()
            if len(t_splits):
                # the tokens-per-parameter term only where a split goes beyond that range: the
                # other splits' t_T would be draws of its prior, uninformed (marginalised out)
                t_tpp = pm.StudentT("t_tpp", nu=nu, mu=0.0, sigma=1.0, dims="split_tpp")
                t_full = pt.set_subtensor(pt.zeros(len(splits))[t_splits], t_tpp)
                delta = delta + k[cell_codes, 1] * r["d_T"].to_numpy() * t_full[split_codes]
        law = pm.math.sum(r[list(LAW_COLUMNS)].to_numpy() * w[split_codes], axis=1)
        pm.StudentT("residual", nu=nu_i, mu=delta + law, sigma=r["noise"].to_numpy(),
                    observed=r["residual"].to_numpy())
        tree = pm.sample(draws=draws, tune=tune, chains=chains, target_accept=target_accept,
                         random_seed=seed, nuts_sampler="nutpie", progressbar=progressbar)
    post = tree["posterior"]

    def flat(name, part=None):
        if name not in post:  # no location: no mean miss
            return np.zeros(post.sizes["chain"] * post.sizes["draw"])
        a = post[name] if part is None else post[name].sel(part=part)
        return np.asarray(a).reshape(-1)

    out = pd.DataFrame({
        "mu_C": flat("mu", "C"), "tau_C": flat("tau", "C"), "omega_C": flat("omega", "C"),
        "mu_T": flat("mu", "T"), "tau_T": flat("tau", "T"), "omega_T": flat("omega", "T"),
        "nu": flat("nu"), "bias_C": flat("bias_C"), "bias_tau_C": flat("bias_tau_C"),
        "bias_omega_C": flat("bias_omega_C"),
    })
    desc = (f"fitted to {len(r)} held-out runs in {len(splits)} splits of {len(cells)} cells "
            f"of {len(studies)} studies ({', '.join(studies)})"
            f"{'' if location else ', zero location (no mean miss)'}")
    return DiscrepancyPrior(draws=out, provenance=desc), tree


#: Sample :func:`fit_discrepancy_prior` in coordinates that whiten each split's likelihood (the
#: same model; ``False``: the coordinates before 2026-12-05, which
#: ``benchmarks/prior_geometry.py`` measures against).
WHITENED_SPLITS = True

#: Nominal prior precision of a split's compute slope in :func:`_whitening` (1 / 0.02**2, the
#: prior median of kappa_C): it only shapes the sampler's coordinates, not the model.
_NOMINAL_SLOPE_PRECISION = 1.0 / 0.02**2


def _whitening(r: pd.DataFrame, split_codes: np.ndarray, n_splits: int) -> np.ndarray:
    """Per split, ``M_j`` (3 x 3) with ``(slope_j, w_j1, w_j2) = M_j z_j`` whitening the split's
    approximate posterior: ``M_j = L_j^-T`` for ``L_j L_j^T`` = the Fisher information of the
    residuals in (slope, w) (design ``d_C, law_1, law_2``, precision ``1 / noise^2``) plus the
    nominal prior precision ``diag(1 / 0.02^2, 1, 1)``."""
    x = np.column_stack([r["d_C"].to_numpy(float), r[list(LAW_COLUMNS)].to_numpy(float)])
    wts = 1.0 / r["noise"].to_numpy(float) ** 2
    info = np.zeros((n_splits, 3, 3))
    np.add.at(info, split_codes, wts[:, None, None] * x[:, :, None] * x[:, None, :])
    info += np.diag([_NOMINAL_SLOPE_PRECISION, 1.0, 1.0])
    chol = np.linalg.cholesky(info)
    return np.linalg.inv(np.swapaxes(chol, 1, 2))


def forecast_draws(train: pd.DataFrame, test: pd.DataFrame, *, spec: Any, seed: int = 0,
                   by: str = "C", **fit_kwargs: Any) -> dict[str, Any]:
    """Fit ``spec`` to ``train`` and draw new-run forecasts of the ``test`` runs (no discrepancy).

    The building block of leave-future-out: the law is fitted with :func:`bayescale.fit` and
    each held-out run gets posterior draws of the law (``log_mu``) and of a new run's log loss
    (``log_pred``: the law plus run-to-run noise, :func:`bayescale.modeling.noise.perturb`),
    with its distance from the training data along ``by`` (``d_C``, decades) and in tokens per
    parameter (``d_T``, decades outside the training range; 0 where N or D is missing).

    Returns
    -------
    dict
        ``log_mu``, ``log_pred`` (draws x runs), ``sigma``, ``nu`` (draws; ``nu`` None for
        normal noise), ``y_log`` (observed log loss), ``d_C``, ``d_T``, ``median``, ``sd``
        (predictive median and half the central 68% width of ``log_pred``), ``z`` =
        ``(y_log - median) / sd``, ``failed`` (whether each held-out run failed by the rule
        of the fit's own failed runs, :meth:`~bayescale.modeling.noise.RunFailures.exceeds`,
        and lies as many predictive sds, ``z``, above its forecast),
        the training range (``train_max``, ``tpp_min``, ``tpp_max``), ``n_train``,
        ``divergences`` and ``max_rhat``.

    Examples
    --------
    >>> fc = forecast_draws(runs[runs.C <= 1e21], runs[runs.C > 1e21],
    ...                     spec=resolve_spec("chinchilla"))          # doctest: +SKIP
    >>> fc["z"]                                                         # doctest: +SKIP
    """
    from bayescale.sampling.fit import fit as _fit

    result = _fit(train, spec=spec, seed=seed, **fit_kwargs)
    rng = np.random.default_rng(seed)
    log_mu = log_mu_draws(result, test, rng)
    noise = result.draws(kind="noise")
    nu = noise.get("nu")
    log_pred = perturb(log_mu, noise["sigma"], nu, rng)
    y_log = np.log(test[result.law.target].to_numpy(dtype=float))
    rng_ = data_range(train, by)
    d_c = extrapolation_distance(test[by], rng_["train_max"])
    if {"N", "D"} <= set(test.columns) and np.isfinite(rng_["tpp_min"]):
        d_t = tpp_distance(test["D"].to_numpy(dtype=float) / test["N"].to_numpy(dtype=float),
                           rng_["tpp_min"], rng_["tpp_max"])
    else:
        d_t = np.zeros(len(test))
    med = np.median(log_pred, axis=0)
    q16, q84 = np.quantile(log_pred, [0.16, 0.84], axis=0)
    sd = (q84 - q16) / 2.0
    # a held-out run that failed as the fit's own failed runs did (far above the curve, by
    # their rule) is the failure model's, not evidence of how the curve bends; but only if
    # it is as far beyond the forecast's own spread too: a miss of an extrapolation exceeds
    # the training runs' scatter long before it is a blow-up (the 114 of Porian et al.'s
    # held-out runs the first rule flags miss by 8-27 robust sd of their training runs,
    # median 13, but by 1.5-5 of the forecast's)
    failures = result.run_failures()
    z = (y_log - med) / sd
    failed = np.zeros(len(test), dtype=bool) if failures is None else \
        failures.exceeds(y_log - np.median(log_mu, axis=0)) & (z > failures.threshold)
    return {
        "log_mu": log_mu, "log_pred": log_pred, "sigma": np.asarray(noise["sigma"], float),
        "nu": None if nu is None else np.asarray(nu, float), "y_log": y_log,
        "d_C": d_c, "d_T": d_t, "median": med, "sd": sd, "z": z, "failed": failed, **rng_,
        "n_train": len(train),
        "divergences": int(result.diagnostics.divergences),
        "max_rhat": float(result.diagnostics.max_rhat),
    }


def _split_residuals(train, test, *, law_spec, fit_kwargs, by, split_name, group, seed):
    """Fit below an inner cutoff, return standardised errors of the held-out larger runs.

    The runs table's warnings (duplicates, mixed set-ups) were given once for the whole table;
    the inner fit, of a subset of the same runs, would repeat them with other counts, so they
    are silenced here."""
    import warnings

    from bayescale.errors import DataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        fc = forecast_draws(train, test, spec=law_spec, seed=seed, by=by, **fit_kwargs)
    return pd.DataFrame({
        "split": split_name,
        "group": group,
        "run": test.index,
        by: test[by].to_numpy(dtype=float),
        "train_max": fc["train_max"],
        "distance": fc["d_C"],
        "d_C": fc["d_C"],
        "d_T": fc["d_T"],
        "residual": fc["y_log"] - fc["median"],
        "sd": fc["sd"],
        "scale": np.sqrt(np.median(fc["sigma"]) ** 2 + np.var(fc["log_mu"], axis=0)),
        **law_terms(fc["log_mu"], fc["sigma"]),
        "nu": np.inf if fc["nu"] is None else float(np.median(fc["nu"])),
        "divergences": fc["divergences"],
        "failed": fc["failed"],
    })


#: Fewest larger runs an automatically chosen inner split holds out to predict.
MIN_HELD_OUT = 2


#: Inner splits (orders of magnitude below the largest run) tried first when none are given.
DEFAULT_SPLITS = (0.5, 1.0)


def _identifies(train: pd.DataFrame, law: Any) -> bool:
    """Whether ``train`` can identify ``law`` (the design check of :func:`bayescale.fit`)."""
    import warnings

    from bayescale.data.runs import check_design
    from bayescale.errors import RunsTableError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_design(train, law)
    except RunsTableError:
        return False
    return True


def _feasible_cuts(sub: pd.DataFrame, by: str, n_min: int, law: Any) -> np.ndarray:
    """Run values ``c`` of ``by`` whose split (fit ``by <= c``, predict ``by > c``) leaves
    ``>= n_min`` runs that identify the law and ``>= MIN_HELD_OUT`` runs to predict."""
    v = sub[by].to_numpy(dtype=float)
    u = np.unique(v)
    n_train = np.searchsorted(np.sort(v), u, side="right")
    cand = u[(n_train >= n_min) & (v.size - n_train >= MIN_HELD_OUT)]
    # more runs never identify a law less (distinct values only grow): the first cutoff
    # whose runs identify it starts the feasible ones
    for j, c in enumerate(cand):
        if _identifies(sub[v <= c], law):
            return cand[j:]
    return cand[:0]


def _largest_train(sub: pd.DataFrame, by: str, law: Any) -> int:
    """Most runs an inner fit can have while ``MIN_HELD_OUT`` larger runs are left (0: none)."""
    v = sub[by].to_numpy(dtype=float)
    u = np.unique(v)
    n_train = np.searchsorted(np.sort(v), u, side="right")
    ok = v.size - n_train >= MIN_HELD_OUT
    if ok.any() and _identifies(sub[v <= u[ok][-1]], law):
        return int(n_train[ok][-1])
    return 0


def _split_for(top: float, cut_low: float, cut_high: float | None) -> float:
    """An inner split (orders of magnitude) whose cutoff keeps the runs up to ``cut_low`` and
    none above: the middle of ``(log10(top / cut_high), log10(top / cut_low)]``."""
    d_hi = np.log10(top / cut_low)
    d_lo = d_hi - 0.2 if cut_high is None else np.log10(top / cut_high)
    mid = 0.5 * (d_lo + d_hi)
    for digits in (2, 3, 4, 6, 10):
        x = float(f"{mid:.{digits}g}")
        if d_lo < x <= d_hi:
            return x
    return float(mid)


def _inner_cuts(sub: pd.DataFrame, by: str, splits: Sequence[float] | None, n_min: int,
                law: Any) -> list[tuple[int, str, float]]:
    """Inner cutoffs of one group: ``(index, name, cut)``, at most one per partition.

    Given ``splits``, each is used as it is (skipped if it leaves fewer than ``n_min`` runs to
    fit or none to predict).  Without, the feasible cutoffs are those leaving ``n_min`` runs
    that identify the law and :data:`MIN_HELD_OUT` to predict; :data:`DEFAULT_SPLITS` are
    scaled down if the largest is beyond the farthest feasible cutoff (so that it lands
    there), and each is used if feasible and otherwise moved to the nearest (in log ``by``)
    feasible cutoff.
    """
    v = sub[by].to_numpy(dtype=float)
    top = float(v.max())
    out: list[tuple[int, str, float]] = []
    seen: set[int] = set()
    if splits is not None:
        for i, dist in enumerate(sorted(float(x) for x in splits)):
            cut = top / 10.0**dist
            n_train = int(np.sum(v <= cut))
            if n_train < n_min or n_train == v.size or n_train in seen:
                continue
            seen.add(n_train)
            out.append((i, f"{dist:g}", cut))
        return out
    feasible = _feasible_cuts(sub, by, n_min, law)
    if feasible.size == 0:
        return out
    allowed = set(feasible.tolist())
    # scaled down when the runs do not reach the largest default split
    scale = min(1.0, float(np.log10(top / feasible.min())) / max(DEFAULT_SPLITS))
    for i, dist in enumerate(DEFAULT_SPLITS):
        d = dist * scale
        cut = top / 10.0**d
        below = v[v <= cut]
        if scale == 1.0 and below.size and float(below.max()) in allowed:
            name = f"{dist:g}"
        else:  # the nearest cutoff (in orders of magnitude) the data allow
            cut = float(feasible[np.argmin(np.abs(np.log10(feasible) - np.log10(cut)))])
            name = f"{np.log10(top / cut):.3g}"
        n_train = int(np.sum(v <= cut))
        if n_train in seen:
            continue
        seen.add(n_train)
        out.append((i, name, cut))
    return out


def _no_split_error(parts, *, by, splits, n_min, n_floor, min_train, law, n_params) -> str:
    """The message when no inner split is possible: what to pass instead."""
    sizes = ", ".join(f"{lab!r}: {len(sub)} runs" for lab, sub in parts[:6]) + \
        (", ..." if len(parts) > 6 else "")
    why = (f"min_train={min_train}" if min_train is not None else
           f"the default min_train = 3 x {n_params} law parameters + 2 = {n_min}")
    held = 1 if splits is not None else MIN_HELD_OUT
    head = (f"learn_discrepancy found no inner split of the runs ({sizes}): an inner split "
            f"fits law {law.name!r} to the runs with {by} at or below a cutoff, at least "
            f"{n_min} of them ({why}), and predicts at least {held} larger run"
            f"{'s' if held > 1 else ''}")
    if splits is not None:
        for lab, sub in parts:
            f = _feasible_cuts(sub, by, n_min, law)
            if not f.size:
                continue
            v = np.unique(sub[by].to_numpy(dtype=float))
            top = float(v.max())
            a, b = (_split_for(top, c, float(v[v > c].min())) for c in (f.max(), f.min()))
            pair = f"({a:g},)" if a == b else f"({a:g}, {b:g})"
            return (f"{head}; none of splits={tuple(splits)} (orders of magnitude below the "
                    f"largest run) does.  Pass splits= between {a:g} and {b:g} (e.g. "
                    f"splits={pair}, for group {lab!r}), or omit splits= to have them chosen "
                    "from the runs")
        head += f"; none of splits={tuple(splits)}, nor any other split, does"
    largest = max(_largest_train(sub, by, law) for _, sub in parts)
    if largest >= n_floor:
        # the largest min_train that leaves room for as many inner splits as any other
        counts = {k: sum(len(_inner_cuts(sub, by, None, k, law)) for _, sub in parts)
                  for k in range(largest, n_floor - 1, -1)}
        best = max(counts, key=lambda k: (counts[k], k))
        return (f"{head}.  Pass min_train= between {n_floor} (the fewest runs a fit of "
                f"{law.name!r} takes) and {largest}: min_train={best} leaves room for "
                f"{counts[best]} inner split{'s' if counts[best] > 1 else ''}, and fewer "
                f"training runs lean more on the priors.  Or add runs")
    return (f"{head}, even with min_train={n_floor} (the fewest runs a fit of {law.name!r} "
            f"takes, one more than its law and noise parameters): add runs, or learn kappa "
            f"from a larger sweep and pass it as Discrepancy(kappa, train_max)")


#: Largest sampling settings of a fit's inner fits in :func:`fit_discrepancy` (those of
#: :func:`learn_discrepancy`): the update reads the inner forecasts' medians, scales and two
#: leading components, which 400 draws per chain already settle.
INNER_SAMPLING = {"draws": 400, "tune": 400, "chains": 4}


def fit_discrepancy(fit: Any, group: Any = None) -> Discrepancy:
    """The discrepancy a fit predicts with by default, learned once from the fit's own runs.

    The empirical prior (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`, how far
    published scaling laws have missed beyond their data) updated by the fit's runs' own
    leave-future-out splits: :func:`learn_discrepancy` with its defaults (the law refitted to
    the runs 0.5 and 1 order of magnitude of compute below the largest, each inner fit predicting
    the larger runs), the fit's own law, priors and likelihood, its seed and sampler, and its
    sampling settings up to :data:`INNER_SAMPLING`.  Where the runs allow no inner split (too
    few runs, or too short a range of compute) the result is the prior alone, and its ``note``
    says which ``learn_discrepancy`` call would update it.

    A hierarchical fit's groups are cells of one study, whose discrepancies differ (the
    empirical prior's spread between cells of a study is about a factor 3 in ``kappa``), so
    each observed group gets the prior updated by its own splits (the law refitted to that
    group's runs alone), and a new group (``group="new"``, or None) the prior alone: a cell not
    seen yet.  (Pooled as one cell's, the splits of 15 training set-ups would give every
    group one kappa, about the set-ups' average, for the porian runs 0.020 [0.015, 0.026] per
    decade; that is what ``learn_discrepancy(runs, groups=...)`` does.)

    In leave-one-study-out on five published studies (``benchmarks/calibration.py``, each cell
    updated by its own splits) the update brings the pooled coverage of one new run's 50 / 80 /
    95% intervals from .55 / .89 / .98 (the prior alone: wider than most studies need) to
    .45 / .76 / .95, and the interval score at 95% from .41 to .36.

    The result is kept on the fit (``fit.predict``, the decisions and the report reuse it, and
    ``fit.save`` writes it), so the inner fits run once per fit (a hierarchy's once per group,
    when that group is first asked for; ``group=None`` learns every group); with the same seed
    and library versions they give the same draws again.  They take seconds (a hierarchy's
    about 2 per group), so a fit made with a progress bar (``bs.fit``'s default) says on
    stderr what it is learning and how far it has got; the command line logs the same lines.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law of the loss with a compute column ``C``.
    group : str, optional
        For hierarchical fits, the group whose discrepancy is wanted.

    Returns
    -------
    Discrepancy
        Measured from the edge of the runs it was learned on (all the fit's, or the group's).

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.load("chinchilla", drop_outliers=True), seed=0)  # doctest: +SKIP
    >>> disc = fit.default_discrepancy()                                       # doctest: +SKIP
    >>> disc.source                                                            # doctest: +SKIP
    'empirical prior updated by 21 held-out runs in 2 splits ...'
    """
    learned = _learned(fit, group)
    if isinstance(learned, Discrepancy):
        return learned
    if isinstance(group, str) and group in learned:
        return learned[group]
    return replace(Discrepancy.default(fit.runs), note=(
        "No observed group named (a new group, or none): the prior for a new cell of the "
        "study, not updated by the groups' own splits"))


def _learned(fit: Any, group: Any = None) -> Discrepancy | dict[str, Discrepancy]:
    """The fit's learned discrepancy, or one per group of a hierarchy (learned once, kept).

    A hierarchy's groups are learned when first asked for: an observed ``group`` alone (a
    forecast of one of porian's 15 set-ups learned all 15, 30 inner fits, for the one it
    needed: 88 s of the case study's 153 s went to a plot of 8 groups), None every group (what
    the command line's ``fit`` does before it saves), a new group none.  Each group's inner
    fits use the fit's seed and that group's runs only, so the order they are learned in does
    not change them."""
    from bayescale.modeling.model import group_labels
    from bayescale.posterior.discrepancy import PRIOR_SOURCE

    cached = getattr(fit, "_fit_discrepancy", None)
    groups = list(fit.spec.groups)
    if groups:
        done = dict(cached) if isinstance(cached, dict) else {}
        wanted = (list(fit.groups) if group is None
                  else [group] if isinstance(group, str) and group in fit.groups else [])
        if all(g in done for g in wanted):
            if cached is None:
                fit._fit_discrepancy = done
            return done
    elif cached is not None:
        return cached
    spec = fit.spec.replace(groups=(), grouping="combined", pooling={}, pool_scale={},
                            centered="auto") if groups else fit.spec
    try:
        settings = json.loads(fit.meta.get("settings") or "{}")
    except (TypeError, ValueError):
        settings = {}
    sampling = {k: min(int(settings.get(k) or v), v) for k, v in INNER_SAMPLING.items()}
    seed = fit.meta.get("seed")
    seed = int(seed) if isinstance(seed, int | np.integer | float) or str(seed).isdigit() else 0
    sampler = fit.meta.get("sampler")
    extra = {"sampler": sampler} if sampler in ("nutpie", "pymc") else {}
    say = _announcer(bool(settings.get("progressbar", False)))
    start = time.perf_counter()

    def one(runs: pd.DataFrame, label: str) -> Discrepancy:
        try:
            disc = learn_discrepancy(runs, spec=spec, seed=abs(seed), flops=fit.flops_per_token,
                                     **sampling, **extra)
        except ValueError as exc:  # no inner split (or none a fit of the law can use)
            disc = replace(Discrepancy.default(runs), note=(
                f"Not updated by these runs ({PRIOR_SOURCE} alone, wider than most studies "
                f"need): {exc}. Then pass the result as discrepancy="))
        say(f"discrepancy{label}: {disc.source}{f'. {disc.note}' if disc.note else ''} "
            f"({time.perf_counter() - start:.0f} s so far)")
        return disc

    within = (f", within each of the {len(fit.groups)} groups, a group when first asked for"
              if groups else "")
    if not groups or not done:  # said once per fit, not once per group
        say(f"learning the discrepancy from leave-future-out splits of the runs "
            f"({fit.law.name} refitted to the smaller runs{within}); once per fit: it is "
            f"kept, and fit.save writes it")
    if not groups:
        learned: Discrepancy | dict[str, Discrepancy] = one(fit.runs, "")
    else:
        labels = group_labels(fit.runs, fit.spec.groups).to_numpy()
        n = len(fit.groups)
        for g in wanted:
            if g not in done:
                k = fit.groups.index(g)
                done[g] = one(fit.runs[labels == g].reset_index(drop=True),
                              f" of {g} (group {k + 1} of {n})")
        learned = {g: done[g] for g in fit.groups if g in done}  # in the fit's group order
    fit._fit_discrepancy = learned
    return learned


def _announcer(progress: bool):
    """Where the learning of a fit's default discrepancy reports (its inner fits take seconds,
    a hierarchy's about 2 per group): the ``bayescale`` logger when something shows its INFO
    messages (the command line), else, for a fit made with a progress bar (``bs.fit``'s
    default, e.g. in a notebook), one line per step on stderr."""
    log = logging.getLogger("bayescale")

    def say(message: str) -> None:
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            log.info("%s", message)
        elif progress:
            print(f"bayescale: {message}", file=sys.stderr, flush=True)

    return say


def learn_discrepancy(
    runs: pd.DataFrame | str,
    law: str | None = None,
    *,
    spec: Any = None,
    by: str = "C",
    splits: Sequence[float] | None = None,
    groups: str | Sequence[str] | None = None,
    prior: Any = "empirical",
    prior_scale: float = 0.05,
    weighting: str = "split",
    min_train: int | None = None,
    n_draws: int = 4000,
    seed: int = 0,
    columns: Mapping[str, str] | None = None,
    flops: float = 6.0,
    draws: int = 400,
    tune: int = 400,
    chains: int = 4,
    progressbar: bool = False,
    sampling: Any = None,
    **fit_kwargs: Any,
) -> Discrepancy:
    """Learn the extrapolation discrepancy from leave-future-out splits of the runs.

    For every inner split ``s`` in ``splits`` (orders of magnitude), the law is refitted on the
    runs with ``by <= max(by) / 10**s`` and predicts the larger runs; their errors, at their
    distance beyond the inner fit's data (in ``by`` and in tokens per parameter), update the
    prior.  By default (``prior="empirical"``) the prior is the empirical one learned across
    published scaling studies (:func:`empirical_prior`, a new study's draws) and the update is
    :func:`update_discrepancy`: the result has the shape of :class:`Discrepancy` (one
    heavy-tailed deviation shared along a forecast, growing with both distances), and the
    splits also weigh the prior's two models, with and without a mean miss (its ``source``
    says how the weight moved).
    ``prior="half_normal"`` is the term as shipped before: ``kappa`` along ``by`` only, a
    half-normal prior of scale ``prior_scale``, independent normal deviations per point (see
    :func:`estimate_kappa`).  With ``groups``, the splits are made within each group (e.g. each
    training set) and the errors pooled: one discrepancy for all the groups, as if their errors
    were one cell's.  Cells of one study differ (about a factor 3 in ``kappa`` in the
    empirical prior), so for a forecast of one group learn it on that group's runs alone, as
    a hierarchical fit's predictions do (:func:`fit_discrepancy`).

    By default the splits are 0.5 and 1 orders of magnitude below the largest run.  Where the
    runs do not allow that (a short sweep, such as a 16-run model ladder), the splits are chosen
    from the runs instead: both are scaled down so that the larger lands on the farthest cutoff
    that leaves ``min_train`` runs to fit, and each is moved to the nearest cutoff (in log
    ``by``) that leaves ``min_train`` runs to fit and 2 larger runs to predict.  The split names
    in ``residuals`` (``"<group>:<orders of magnitude>"``) give the distances used.

    Parameters
    ----------
    runs : DataFrame or path
        The runs the final fit uses (the inner splits never look beyond them).
    law, spec
        The law (name) or a full spec, as for :func:`bayescale.fit`.
    by : {"C", "N"}
        Scale along which extrapolation distance is measured.
    splits : sequence of float, optional
        Inner cutoffs, in orders of magnitude below the largest run, used exactly as given
        (those leaving fewer than ``min_train`` runs to fit, or none to predict, are skipped).
        Default: chosen from the runs, as above.
    groups : str or sequence of str, optional
        Grouping column(s) within which to split; errors are pooled across groups.
    prior : "empirical", "half_normal", DiscrepancyPrior or Discrepancy
        What the residuals update: the shipped empirical prior (default), the half-normal
        prior of the term as shipped before, another population prior, or prior draws.
    prior_scale : float
        Half-normal prior scale on ``kappa`` (``prior="half_normal"`` only).
    weighting : {"split", "run"}
        ``prior="half_normal"`` only (the empirical update models the shared miss of a split
        directly).  ``"split"`` (default): the held-out runs of one split share one unit of
        likelihood weight, because their errors are strongly correlated (a systematic miss,
        not independent noise); ``"run"``: every held-out run counts fully.
    min_train : int, optional
        Fewest runs an inner fit may use (default: ``3 x`` the number of law parameters + 2);
        at least one more than the law's and noise parameters.  Lower it for short sweeps:
        the error raised when no split is possible names the values that work.
    n_draws, seed
        Number of ``kappa`` draws and the seed of fits and draws.
    columns, flops
        As for :func:`bayescale.fit`.
    draws, tune, chains, progressbar, **fit_kwargs
        Sampling settings of the inner fits.
    sampling : SamplingOptions or dict, optional
        The same as one object (:class:`bayescale.sampling.SamplingOptions`); its fields that
        are set replace the separate settings.

    Returns
    -------
    Discrepancy
        Draws, the edge of ``runs`` (largest ``by``, range of tokens per parameter), and the
        residual table.

    Raises
    ------
    ValueError
        If no inner split has enough runs on both sides; the message says which ``min_train=``
        (or ``splits=``) values would work.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla", drop_outliers=True)
    >>> disc = bs.learn_discrepancy(runs, "chinchilla")          # doctest: +SKIP
    >>> print(disc)                                             # doctest: +SKIP

    A 16-run model ladder is too short for the default ``min_train`` of the Chinchilla law
    (17); the error says what to pass, e.g. ``min_train=12``:

    >>> disc = bs.learn_discrepancy(ladder, "chinchilla", min_train=12)   # doctest: +SKIP
    """
    from bayescale.modeling.spec import NOISE_PARAMS
    from bayescale.sampling.fit import prepare_runs, resolve_spec

    if by not in ("C", "N"):
        raise ValueError(f"by must be 'C' or 'N', not {by!r}")
    if weighting not in ("split", "run"):
        raise ValueError(f"weighting must be 'split' or 'run', not {weighting!r}")
    if not (isinstance(prior, DiscrepancyPrior | Discrepancy)
            or prior in ("empirical", "half_normal")):
        raise ValueError(f"prior must be 'empirical', 'half_normal', a DiscrepancyPrior or a "
                         f"Discrepancy, not {prior!r}")
    s = resolve_spec(law, spec)
    gcols = [groups] if isinstance(groups, str) else list(groups or [])
    # validated as a fit grouped by them would be: the splits are made within each group, so
    # runs that differ only in a grouping column are not a mixed set-up
    checked = s.replace(groups=tuple(gcols)) if gcols and not s.groups else s
    table = prepare_runs(runs, checked, columns, flops)
    if by not in table.columns:
        raise ValueError(f"the runs have no column {by!r} to measure extrapolation along")
    n_params = len(s.law_obj.params)
    n_floor = n_params + len(NOISE_PARAMS[s.likelihood]) + 1  # the fewest rows fit() takes
    if min_train is not None and not (isinstance(min_train, int | np.integer)
                                      and min_train >= n_floor):
        raise ValueError(
            f"min_train={min_train!r}: an inner fit of law {s.law_obj.name!r} needs an integer >= "
            f"{n_floor} runs (one more than its law and noise parameters); pass min_train >= "
            f"{n_floor}"
        )
    n_min = int(min_train) if min_train is not None else 3 * n_params + 2
    if splits is not None:
        splits = [float(x) for x in np.atleast_1d(splits)]
        bad = [x for x in splits if not (np.isfinite(x) and x > 0)]
        if not splits or bad:
            raise ValueError(
                f"splits must be positive orders of magnitude, not {bad[0] if bad else splits!r}"
                "; e.g. splits=(0.5, 1.0), or omit splits= to choose them from the runs"
            )
    if sampling is not None:
        from bayescale.sampling.options import SamplingOptions

        o = SamplingOptions.of(sampling).over(draws=draws, tune=tune, chains=chains,
                                              progressbar=progressbar)
        draws, tune, chains, progressbar = (o.pop(k) for k in ("draws", "tune", "chains",
                                                                 "progressbar"))
        fit_kwargs = {**fit_kwargs, **o}  # cores, sampler, target_accept when set
    # the inner fits read the runs with the same FLOP convention (C = flops N D) as the table
    kw = dict(draws=draws, tune=tune, chains=chains, progressbar=progressbar, prior_draws=0,
              warn=False, flops=flops, **fit_kwargs)
    parts = []
    grouped = table.groupby(gcols, sort=True) if gcols else [("all", table)]
    subs = [("/".join(map(str, lab)) if isinstance(lab, tuple) else str(lab), sub)
            for lab, sub in grouped]
    plan = [(label, sub, _inner_cuts(sub, by, splits, n_min, s.law_obj)) for label, sub in subs]
    if not any(cuts for _, _, cuts in plan):
        raise ValueError(_no_split_error(
            subs, by=by, splits=splits, n_min=n_min, n_floor=n_floor, min_train=min_train,
            law=s.law_obj, n_params=n_params))
    for label, sub, cuts in plan:
        for i, name, cut in cuts:
            train, test = sub[sub[by] <= cut], sub[sub[by] > cut]
            parts.append(_split_residuals(
                train, test, law_spec=s, fit_kwargs=kw, by=by, split_name=f"{label}:{name}",
                group=label, seed=seed + i))
    res = pd.concat(parts, ignore_index=True)
    res["z"] = res["residual"] / res["sd"]
    if prior != "half_normal":
        pop = None
        if isinstance(prior, Discrepancy):
            start = prior.for_runs(table)
        else:
            pop = empirical_prior() if prior == "empirical" else prior
            start = pop.discrepancy(table, by=by, n_draws=4 * n_draws, seed=seed)
        return update_discrepancy(start, res, n_draws=n_draws, seed=seed, population=pop)
    used = res[~res["failed"].to_numpy(dtype=bool)]  # failed runs are the failure model's
    if weighting == "split":  # each split counts once
        weight = 1.0 / used.groupby("split")["residual"].transform("size").to_numpy(dtype=float)
    else:
        weight = np.ones(len(used))
    kappa = estimate_kappa(used["residual"], used["sd"], used["distance"], weight=weight,
                           prior_scale=prior_scale, n_draws=n_draws, seed=seed)
    return Discrepancy(kappa=kappa, train_max=float(table[by].max()), by=by, residuals=res,
                       prior_scale=prior_scale, shared=False,
                       source="half-normal prior updated by the runs' own splits")
