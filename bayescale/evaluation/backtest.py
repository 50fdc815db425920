"""Leave-future-out backtests: which law predicts the *bigger* runs.

:func:`backtest` refits each law on the runs below a compute (or model-size) cutoff and scores its
new-run predictive distribution (``noise=True``) on the held-out larger runs:

``lpd``
    log predictive density of the observed log loss (higher is better; comparable across laws
    on the same held-out runs, like ``elpd``);
``are``
    absolute relative error of the predictive median, ``|median / observed - 1|`` (the metric of
    the Hitchhiker's Guide to scaling-law estimation, Choshen et al. 2024);
``covered_50`` / ``covered_80`` / ``covered_95``
    whether the central 50 / 80 / 95% predictive interval holds the observed value;
``rel_width_95``
    width of the 95% interval relative to the median (how much the interval promises).

Several cutoffs give skill against extrapolation distance (``distance``: orders of magnitude of
``by`` beyond the largest training run).  The result is a tidy DataFrame, one row per law, cutoff
and held-out run; :func:`backtest_summary` aggregates it and
:func:`bayescale.plots.plot_backtest` draws it.

Two optional comparisons join the same table: the extrapolation discrepancy term
(``discrepancy=True``: the empirical prior is updated inside every training split by nested
leave-future-out, :func:`bayescale.learn_discrepancy`, and the law is scored again with it, as
``"<law>+disc"``),
and the point-fit + bootstrap anchor (``baseline=True``: Besiroglu et al.'s Huber fit of the
Chinchilla law with bootstrap percentile intervals, :mod:`bayescale.evaluation.baselines`, as
``"huber_bootstrap"``; it has no noise model, so its ``lpd`` is not defined).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import DataWarning

__all__ = ["backtest", "backtest_summary", "default_cutoffs", "mixture_predict",
           "stacking_weights"]

LEVELS = (0.5, 0.8, 0.95)
BASELINE = "huber_bootstrap"
# a small start grid for the anchor's Huber fit (the full 4,500-start grid is ~100x slower and
# finds the same optimum on these data)
_BASELINE_GRID = {"alpha": [0.2, 0.5, 1.0], "beta": [0.2, 0.5, 1.0], "e": [-1.0, 0.0, 1.0],
                  "a": [0.0, 5.0, 10.0, 20.0], "b": [0.0, 5.0, 10.0, 20.0]}


def default_cutoffs(values: Any, *, decades: Sequence[float] = (0.5, 1.0, 1.5),
                    min_train: int = 10) -> list[float]:
    """Cutoffs ``max / 10**d`` for each ``d`` in ``decades`` that leave ``min_train`` runs below.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.evaluation.backtest import default_cutoffs
    >>> default_cutoffs(np.logspace(18, 22, 50), decades=(1.0, 2.0))
    [1e+21, 1e+20]
    """
    v = np.asarray(values, dtype=float)
    top = float(np.max(v))
    out = []
    for d in decades:
        cut = top / 10.0 ** float(d)
        if np.sum(v <= cut) >= min_train and np.any(v > cut):
            out.append(float(f"{cut:.6g}"))
    return out


def _labelled(laws) -> dict[str, Any]:
    """``{label: law name / spec}`` from a list, a dict or a single law."""
    from bayescale.modeling.spec import ModelSpec

    if isinstance(laws, str | ModelSpec):
        laws = [laws]
    if isinstance(laws, Mapping):
        return dict(laws)
    out = {}
    for item in laws:
        if isinstance(item, ModelSpec):
            label = item.name or item.law
        else:
            label = os.path.splitext(os.path.basename(str(item)))[0]
        if label in out:
            raise ValueError(f"two laws are labelled {label!r}; pass a dict {{label: law}}")
        out[label] = item
    if not out:
        raise ValueError("laws is empty; name at least one law, e.g. laws=['chinchilla']")
    return out


def _spec_of(item):
    from bayescale.modeling.spec import ModelSpec
    from bayescale.sampling.fit import resolve_spec

    if isinstance(item, ModelSpec) or (isinstance(item, str) and item.endswith(".toml")):
        return resolve_spec(spec=item)
    if isinstance(item, Mapping):
        return resolve_spec(spec=item)
    return resolve_spec(str(item))


def _score(log_mu, sigma, nu, y_log, *, disc=None, along=None, tpp=None, kappa=None,
           distance=None, rng, levels, n_rep=8, fail=None):
    """Metrics of a new-run predictive on held-out runs (log-scale draws ``log_mu``: S x n).

    ``disc`` (a :class:`~bayescale.posterior.discrepancy.Discrepancy`, at the values
    ``along`` its ``by`` and tokens per parameter ``tpp``) adds its deviation, one per
    posterior draw shared by the held-out runs.  ``kappa`` draws with ``distance`` (the term
    as shipped before: independent normal per point) are a shorthand for
    ``Discrepancy(kappa, shared=False)``.  Draws of either, any number and any order, are
    resampled to the ``S`` posterior draws by
    :func:`~bayescale.posterior.discrepancy.resample_draws`.  ``fail`` (the fit's noise
    draws' ``fail_p`` and ``fail_size``, :meth:`bayescale.ScalingFit.run_failures`) makes each
    held-out run fail as the training runs did, in the draws and in the density.
    """
    from scipy.special import logsumexp

    from bayescale.modeling.noise import failure_shift, noise_eps, noise_logpdf
    from bayescale.posterior.discrepancy import Discrepancy

    s, n = log_mu.shape
    if kappa is not None:
        disc = Discrepancy(np.asarray(kappa, float), train_max=1.0, shared=False)
        along = 10.0 ** np.asarray(distance, float)
    sig = sigma.reshape(-1, 1)
    # new-run predictive draws (for intervals and the median)
    eps = noise_eps(rng, (s, n), nu)
    shift = 0.0 if disc is None else disc.deviation(along, s, rng, tpp=tpp)
    draws = log_mu + shift + sig * eps
    # log predictive density, the discrepancy integrated by n_rep draws per posterior draw
    if disc is not None:
        dev = disc.deviation(along, s * n_rep, rng, tpp=tpp).reshape(s, n_rep, n)
        mu = log_mu[:, None, :] + dev
    else:
        mu = log_mu[:, None, :]
    nu3 = None if nu is None else nu.reshape(-1, 1, 1)
    lp = noise_logpdf(y_log[None, None, :], mu, sigma.reshape(-1, 1, 1), nu3)
    if fail is not None:  # drawn last, so that the rest does not change
        # per draw (S,), or per draw and held-out run (S, n): a rate by epochs
        p = np.asarray(fail[0], dtype=float)
        p = p.reshape(-1, 1, 1) if p.ndim == 1 else p[:, None, :]
        size = np.asarray(fail[1], dtype=float).reshape(-1, 1, 1)
        lp_fail = noise_logpdf(y_log[None, None, :], mu + size, sigma.reshape(-1, 1, 1), nu3)
        with np.errstate(divide="ignore"):  # a rate of exactly 0 (or 1): log 0 = -inf is right
            lp = np.logaddexp(np.log1p(-p) + lp, np.log(p) + lp_fail)
        draws = draws + failure_shift(rng, draws.shape, fail[0], fail[1])
    lp = lp.reshape(-1, n)
    lpd = logsumexp(lp, axis=0) - np.log(lp.shape[0])
    return _interval_metrics(draws, y_log, levels) | {"lpd": lpd}


def _interval_metrics(log_draws: np.ndarray, y_log: np.ndarray, levels) -> dict[str, np.ndarray]:
    """Median, intervals, error and coverage; quantiles taken on the log scale (the same as on
    the loss scale, and no overflow for heavy-tailed draws)."""
    y = np.exp(y_log)
    med = np.exp(np.median(log_draws, axis=0))
    out: dict[str, np.ndarray] = {"median": med, "are": np.abs(med / y - 1.0)}
    for lv in levels:
        lo, hi = np.exp(np.quantile(log_draws, [(1 - lv) / 2, 1 - (1 - lv) / 2], axis=0))
        tag = f"{round(100 * lv):d}"
        out[f"lo_{tag}"] = lo
        out[f"hi_{tag}"] = hi
        out[f"covered_{tag}"] = (lo <= y) & (y <= hi)
        out[f"rel_width_{tag}"] = (hi - lo) / med
    return out


def _baseline_rows(train, test, *, levels, seed, n_boot) -> dict[str, np.ndarray]:
    from bayescale.evaluation.baselines import bootstrap, huber_fit

    point = huber_fit(train["N"], train["D"], train["loss"], grid=_BASELINE_GRID)
    boot = bootstrap(train["N"], train["D"], train["loss"], n_boot=n_boot, seed=seed, start=point)
    N = test["N"].to_numpy(dtype=float)[None, :]
    D = test["D"].to_numpy(dtype=float)[None, :]
    b = {k: boot[k].to_numpy(dtype=float)[:, None] for k in ("E", "A", "B", "alpha", "beta")}
    pred = b["E"] + b["A"] / N ** b["alpha"] + b["B"] / D ** b["beta"]
    y = test["loss"].to_numpy(dtype=float)
    out = _interval_metrics(np.log(pred), np.log(y), levels)
    out["median"] = point.predict(test["N"], test["D"])  # the anchor's point prediction
    out["are"] = np.abs(out["median"] / y - 1.0)
    out["lpd"] = np.full(len(y), np.nan)
    return out


def backtest(
    runs: pd.DataFrame | str | os.PathLike,
    laws: Any = ("chinchilla",),
    *,
    cutoffs: float | Sequence[float] | None = None,
    by: str = "C",
    discrepancy: bool = False,
    discrepancy_options: Mapping[str, Any] | None = None,
    baseline: bool = False,
    baseline_boot: int = 200,
    levels: Sequence[float] = LEVELS,
    min_train: int | None = None,
    columns: Mapping[str, str] | None = None,
    flops: float = 6.0,
    draws: int = 400,
    tune: int = 400,
    chains: int = 4,
    seed: int = 0,
    progressbar: bool = False,
    sampling: Any = None,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Leave-future-out backtest: fit below a cutoff, score the larger held-out runs.

    Parameters
    ----------
    runs : DataFrame or path
        The runs table.
    laws : str, sequence or mapping
        Laws to test: names (``"chinchilla"``), spec files, ``ModelSpec`` objects, or a dict
        ``{label: law or spec}``.
    cutoffs : float or sequence of float, optional
        Values of ``by``: each law is fitted on the runs with ``by <= cutoff`` and scored on the
        others.  Default: 0.5, 1 and 1.5 orders of magnitude below the largest run (those that
        leave enough runs to fit; see :func:`default_cutoffs`).
    by : {"C", "N"}
        Split by training compute (default) or model size.
    discrepancy : bool
        Also score each law with the extrapolation discrepancy term (label ``"<law>+disc"``):
        the empirical prior updated by leave-future-out *inside* each training split
        (:func:`bayescale.learn_discrepancy`; a deviation shared by the held-out runs of one
        forecast, Student-t, growing with compute and tokens per parameter).
    discrepancy_options : mapping, optional
        Passed to :func:`bayescale.learn_discrepancy` (``splits``, ``prior``, ``groups``,
        ``min_train``...; ``prior="half_normal"`` scores the term as shipped before).
    baseline : bool
        Also score the point-fit + bootstrap anchor (Chinchilla law; needs ``N``, ``D`` and
        ``loss``), label ``"huber_bootstrap"``.
    baseline_boot : int
        Bootstrap resamples of the anchor.
    levels : sequence of float
        Central interval levels to score.
    min_train : int, optional
        Fewest training runs a split may have (default ``3 x`` parameters + 2 of the largest law).
    columns, flops
        As for :func:`bayescale.fit`.
    draws, tune, chains, seed, progressbar, **fit_kwargs
        Sampling settings of every fit (small draws keep backtests fast; compiled models are
        re-used across cutoffs), and spec overrides applied to every law (``groups=``,
        ``priors=``, ``likelihood=``, ``pooling=``, ``reference=``, as for
        :func:`bayescale.fit`).  Fits with divergent transitions are refitted once at
        ``target_accept=0.99`` (``retry=True`` of :func:`bayescale.fit`; pass ``retry=False``
        to score them as they are); the ``divergences`` column counts the final fit's.
    sampling : SamplingOptions or dict, optional
        The sampler settings as one object (:class:`bayescale.sampling.SamplingOptions`) for
        every fit, the discrepancy's inner fits included; its fields that are set replace
        ``draws``, ``tune``, ``chains``, ``progressbar`` and the matching ``fit_kwargs``.

    Returns
    -------
    pandas.DataFrame
        One row per law, cutoff and held-out run: ``law``, ``cutoff``, ``train_max``,
        ``n_train``, ``run`` (row label in ``runs``), the run's ``N``, ``D``, ``C``...,
        ``observed``, ``distance`` (orders of magnitude of ``by`` beyond ``train_max``),
        ``median``, ``lo_XX`` / ``hi_XX``, ``lpd``, ``are``, ``covered_XX``, ``rel_width_XX``,
        ``kappa`` (median, discrepancy rows), ``divergences`` and ``max_rhat`` of the fit.

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.load("chinchilla", drop_outliers=True)
    >>> bt = bs.backtest(runs, ["chinchilla", "kaplan"], cutoffs=[1e21])   # doctest: +SKIP
    >>> bs.backtest_summary(bt)                                            # doctest: +SKIP
    """
    from bayescale.evaluation.discrepancy import learn_discrepancy
    from bayescale.posterior.discrepancy import extrapolation_distance, log_mu_draws
    from bayescale.sampling.fit import fit as _fit
    from bayescale.sampling.fit import prepare_runs

    if by not in ("C", "N"):
        raise ValueError(f"by must be 'C' or 'N', not {by!r}")
    from bayescale.sampling.fit import resolve_spec

    labelled = _labelled(laws)
    overrides = {k: fit_kwargs.pop(k) for k in ("priors", "likelihood", "groups", "pooling",
                                                "reference") if k in fit_kwargs}
    specs = {label: resolve_spec(spec=_spec_of(item), **overrides)
             for label, item in labelled.items()}
    tables = {label: prepare_runs(runs, s, columns, flops) for label, s in specs.items()}
    first = next(iter(tables.values()))
    if by not in first.columns:
        raise ValueError(
            f"the runs have no column {by!r} to split on; give C (or N and D) or use by='N'"
        )
    n_min = min_train if min_train is not None else \
        max(3 * len(s.law_obj.params) + 2 for s in specs.values())
    if cutoffs is None:
        cuts = default_cutoffs(first[by], min_train=n_min)
        if not cuts:
            raise ValueError(
                f"no default cutoff leaves >= {n_min} runs to fit and larger runs to predict; "
                "pass cutoffs= explicitly"
            )
    else:
        cuts = [float(cutoffs)] if np.isscalar(cutoffs) else [float(c) for c in cutoffs]
    if baseline and not {"N", "D", "loss"} <= set(first.columns):
        raise ValueError("baseline=True needs N, D and loss columns (the Chinchilla anchor)")
    # A divergent fit's intervals cannot be trusted, and a backtest scores exactly those
    # intervals: such a fit is refitted once at target_accept 0.99 (pass retry=False to keep it).
    fit_kwargs.setdefault("retry", True)
    if sampling is not None:
        from bayescale.sampling.options import SamplingOptions

        o = SamplingOptions.of(sampling).over(draws=draws, tune=tune, chains=chains,
                                              progressbar=progressbar)
        draws, tune, chains, progressbar = (o.pop(k) for k in ("draws", "tune", "chains",
                                                                 "progressbar"))
        fit_kwargs.update(o)  # cores, sampler, target_accept when set
    kw = dict(draws=draws, tune=tune, chains=chains, progressbar=progressbar, prior_draws=0,
              warn=False, **fit_kwargs)
    disc_kw = dict(draws=draws, tune=tune, chains=chains, seed=seed, sampling=sampling,
                   **dict(discrepancy_options or {}))
    levels = tuple(float(x) for x in levels)
    rows = []
    for ci, cut in enumerate(cuts):
        for label, s in specs.items():
            table = tables[label]
            train, test = table[table[by] <= cut], table[table[by] > cut]
            if len(train) < n_min or len(test) == 0:
                raise ValueError(
                    f"cutoff {by} <= {cut:.3g} leaves {len(train)} runs to fit law {label!r} "
                    f"(need >= {n_min}) and {len(test)} to predict; choose another cutoff"
                )
            train_max = float(train[by].max())
            rng = np.random.default_rng([seed, ci])
            # the table's warnings were given once, for all its runs; a split's fit (a
            # subset of them) would repeat them with other counts
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)
                result = _fit(train, spec=s, seed=seed, **kw)
            law = result.law
            log_mu = log_mu_draws(result, test, rng)
            noise = result.draws(kind="noise")
            nu = noise.get("nu")
            y_log = np.log(test[law.target].to_numpy(dtype=float))
            dist = extrapolation_distance(test[by], train_max)
            base = {
                "cutoff": cut, "by": by, "train_max": train_max, "n_train": len(train),
                "run": test.index.to_numpy(),
                **{k: test[k].to_numpy() for k in ("N", "D", "U", "C", "loss")
                   if k in test.columns and k != law.target},
                "observed": np.exp(y_log), "distance": dist,
                "divergences": result.diagnostics.divergences,
                "max_rhat": result.diagnostics.max_rhat,
            }
            fail = (noise["fail_p"], noise["fail_size"]) if "fail_p" in noise else None
            # each held-out run fails at its own epochs' or tokens per parameter's rate
            from bayescale.modeling.noise import failure_covariate

            at = failure_covariate(law.inputs, test)
            if fail is not None and at:
                fd = result.failure_draws(size=log_mu.shape[0],
                                          rng=np.random.default_rng([seed, ci, 3]), **at)
                fail = (fd["fail_p"], fd["fail_size"])
            metrics = _score(log_mu, noise["sigma"], nu, y_log, rng=rng, levels=levels,
                             fail=fail)
            rows.append(pd.DataFrame({"law": label, **base, **metrics, "kappa": np.nan}))
            if discrepancy:
                disc = learn_discrepancy(train, spec=s, by=by, **disc_kw)
                tpp = (test["D"] / test["N"]).to_numpy(float) \
                    if {"N", "D"} <= set(test.columns) else None
                metrics = _score(log_mu, noise["sigma"], nu, y_log, disc=disc,
                                 along=test[by].to_numpy(float), tpp=tpp, rng=rng,
                                 levels=levels, fail=fail)
                rows.append(pd.DataFrame({"law": f"{label}+disc", **base, **metrics,
                                          "kappa": disc.kappa_median}))
        if baseline:
            table = first
            train, test = table[table[by] <= cut], table[table[by] > cut]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                metrics = _baseline_rows(train, test, levels=levels, seed=seed,
                                         n_boot=baseline_boot)
            base = {
                "cutoff": cut, "by": by, "train_max": float(train[by].max()),
                "n_train": len(train), "run": test.index.to_numpy(),
                **{k: test[k].to_numpy() for k in ("N", "D", "U", "C", "loss")
                   if k in test.columns},
                "observed": test["loss"].to_numpy(dtype=float),
                "distance": extrapolation_distance(test[by], float(train[by].max())),
                "divergences": 0, "max_rhat": np.nan,
            }
            rows.append(pd.DataFrame({"law": BASELINE, **base, **metrics, "kappa": np.nan}))
    out = pd.concat(rows, ignore_index=True)
    out.attrs["levels"] = list(levels)
    out.attrs["by"] = by
    return out


def backtest_summary(
    bt: pd.DataFrame,
    by: Sequence[str] = ("law", "cutoff"),
) -> pd.DataFrame:
    """Aggregate a backtest: skill and calibration per law and cutoff (or any grouping).

    Columns: ``n`` held-out runs, ``max_distance`` (orders of magnitude), ``elpd`` (sum of
    ``lpd``) and ``mean_lpd``, ``mean_are`` and ``median_are``, ``coverage_XX`` for each
    interval level, ``mean_rel_width_95`` and, for discrepancy rows, ``kappa``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.evaluation.backtest import backtest_summary
    >>> bt = pd.DataFrame({"law": ["a", "a"], "cutoff": [1.0, 1.0], "distance": [0.1, 0.5],
    ...                    "lpd": [1.0, 2.0], "are": [0.01, 0.03], "covered_95": [True, False],
    ...                    "rel_width_95": [0.1, 0.2], "kappa": [float("nan")] * 2})
    >>> backtest_summary(bt)[["n", "elpd", "mean_are", "coverage_95"]].to_dict("records")
    [{'n': 2, 'elpd': 3.0, 'mean_are': 0.02, 'coverage_95': 0.5}]
    """
    by = list(by)
    missing = [c for c in by if c not in bt.columns]
    if missing:
        raise ValueError(f"cannot group by {missing}: the backtest has columns {list(bt.columns)}")
    cov = [c for c in bt.columns if c.startswith("covered_")]
    agg: dict[str, Any] = {
        "n": ("distance", "size"),
        "max_distance": ("distance", "max"),
        "elpd": ("lpd", lambda s: float(s.sum()) if s.notna().all() else np.nan),
        "mean_lpd": ("lpd", "mean"),
        "mean_are": ("are", "mean"),
        "median_are": ("are", "median"),
        **{f"coverage_{c.split('_')[1]}": (c, "mean") for c in cov},
    }
    if "rel_width_95" in bt.columns:
        agg["mean_rel_width_95"] = ("rel_width_95", "mean")
    if "kappa" in bt.columns:
        agg["kappa"] = ("kappa", "median")
    return bt.groupby(by, sort=False).agg(**agg).reset_index()


# --------------------------------------------------------------------------- law mixtures


def stacking_weights(bt: pd.DataFrame, laws: Sequence[str] | None = None) -> pd.Series:
    """Leave-future-out stacking weights of the laws of a backtest (Yao et al. 2018).

    The weights ``w`` (on the simplex) maximise the log score of the mixture on the held-out
    larger runs, ``sum_i log sum_k w_k exp(lpd_ik)``, where ``lpd_ik`` is law ``k``'s log
    predictive density of held-out run ``i`` (one row per cutoff and run, as scored by
    :func:`backtest`).  Unlike weights from in-sample fit (or PSIS-LOO), they reward the law
    that *extrapolates*, and they spread over laws when none dominates everywhere.

    Parameters
    ----------
    bt : pandas.DataFrame
        A :func:`backtest` table (columns ``law``, ``cutoff``, ``run``, ``lpd``).
    laws : sequence of str, optional
        Labels to weigh (default: every label with a finite ``lpd``; the anchor has none).

    Returns
    -------
    pandas.Series
        Weights by law, summing to 1.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.evaluation.backtest import stacking_weights
    >>> bt = pd.DataFrame({"law": ["a"] * 3 + ["b"] * 3, "cutoff": 1.0, "run": [0, 1, 2] * 2,
    ...                    "lpd": [2.0, 2.0, -5.0, 1.0, 1.0, 1.5]})
    >>> w = stacking_weights(bt)
    >>> bool(0.3 < w["a"] < 0.9), round(float(w.sum()), 6)
    (True, 1.0)
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    missing = [c for c in ("law", "cutoff", "run", "lpd") if c not in bt.columns]
    if missing:
        raise ValueError(f"stacking needs a backtest table with columns law, cutoff, run and lpd; "
                         f"missing {missing}")
    if laws is None:
        ok = bt.groupby("law", sort=False)["lpd"].apply(lambda s: bool(np.isfinite(s).all()))
        laws = [lab for lab, good in ok.items() if good]
    laws = list(laws)
    if len(laws) < 1:
        raise ValueError("no law with finite lpd to weigh; backtest at least one law "
                         "(the anchor has no predictive density)")
    wide = bt[bt["law"].isin(laws)].pivot_table(index=["cutoff", "run"], columns="law",
                                                values="lpd", aggfunc="first")[laws]
    if wide.isna().any().any():
        raise ValueError("the laws were not scored on the same held-out runs; backtest them "
                         "together (one call with laws=[...])")
    lp = wide.to_numpy(dtype=float)
    if len(laws) == 1:
        return pd.Series([1.0], index=laws, name="weight")

    def loss(z):
        w = softmax(np.append(z, 0.0))
        return -float(np.sum(logsumexp(lp, b=w[None, :], axis=1)))

    z = minimize(loss, np.zeros(len(laws) - 1), method="Nelder-Mead",
                 options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000}).x
    return pd.Series(softmax(np.append(z, 0.0)), index=laws, name="weight")


def mixture_predict(fits: Mapping[str, Any], weights: Mapping[str, float] | pd.Series, *,
                    seed: int | None = 0, **predict_kwargs: Any):
    """A forecast that mixes laws: each draw comes from one law, chosen with its weight.

    Every fit predicts the same points (``predict_kwargs`` as for
    :meth:`ScalingFit.predict <bayescale.ScalingFit.predict>`, the extrapolation discrepancy
    included by default); draw ``s`` of the mixture takes all its points from one law, drawn
    with probability ``weights[law]`` (e.g. :func:`stacking_weights`), so a forecast's points
    stay one curve and the spread includes the uncertainty about the functional form.

    Parameters
    ----------
    fits : mapping
        ``{law label: ScalingFit}``.
    weights : mapping or pandas.Series
        Non-negative weights by label (normalised; labels missing from it get 0).
    seed : int or None
        Seed of the predictions and of the law chosen per draw.
    **predict_kwargs
        Passed to every fit's ``predict``.

    Returns
    -------
    Prediction
        Draws ``(chain=1, draw, point)`` and a table with the first fit's inputs and distance
        columns, ``law_weights`` in ``table.attrs``.

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.evaluation.backtest import mixture_predict, stacking_weights
    >>> w = stacking_weights(bs.backtest(runs, ["chinchilla", "kaplan"]))   # doctest: +SKIP
    >>> w = {"chinchilla": 0.8, "kaplan": 0.2}    # weights by hand: fits = two fits of runs
    >>> pred = mixture_predict(fits, w, N=7e10, D=1.4e12, noise=True)
    >>> pred.table[["median", "lo_95", "hi_95"]].round(2)
       median  lo_95  hi_95
    0     1.9    1.6    2.1
    """
    import xarray as xr

    from bayescale.posterior.discrepancy import resample_draws
    from bayescale.posterior.result import DEFAULT_CI, Prediction, interval_table

    if not fits:
        raise ValueError("fits is empty; pass {label: fit} for at least one law")
    w = pd.Series({k: float(dict(weights).get(k, 0.0)) for k in fits})
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum over {list(fits)}, "
                         f"not {dict(weights)!r}")
    w = w / w.sum()
    preds = {k: f.predict(seed=seed, **predict_kwargs) for k, f in fits.items()}
    draws = {k: p.draws.values.reshape(-1, p.draws.shape[-1]) for k, p in preds.items()}
    n = max(d.shape[0] for d in draws.values())
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(fits), size=n, p=w.to_numpy())
    out = np.empty((n, next(iter(draws.values())).shape[1]))
    for j, d in enumerate(draws.values()):
        rows = np.flatnonzero(pick == j)
        if rows.size:
            idx = resample_draws(np.arange(d.shape[0]), n, rng).astype(int)[:rows.size]
            out[rows] = d[idx]
    first = next(iter(preds.values()))
    keep = [c for c in first.table.columns if c not in interval_table(out[:2, :1]).columns
            and not c.startswith(("lo_", "hi_"))]
    ci = predict_kwargs.get("ci", DEFAULT_CI)
    table = pd.concat([first.table[keep].reset_index(drop=True), interval_table(out, ci)],
                      axis=1)
    table.attrs["law_weights"] = w.to_dict()
    da = xr.DataArray(out[None], dims=("chain", "draw", "point"), name=first.draws.name,
                      coords={"chain": [0], "draw": np.arange(n),
                              "point": np.arange(out.shape[1])},
                      attrs={**first.draws.attrs, "laws": ", ".join(f"{k}: {v:.3g}" for k, v in
                                                                    w.items())})
    return Prediction(draws=da, table=table, noise=first.noise)
