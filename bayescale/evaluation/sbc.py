"""Simulation-based calibration (Talts et al. 2018) of bayescale's fits.

If the model and the sampler are right, then for parameters ``theta ~ prior``, runs simulated from
them, ``y ~ p(y | theta)``, and a fit to those runs, the rank of ``theta`` among ``L`` independent
posterior draws is uniform on ``{0, ..., L}``.  Intervals that are too narrow pile the ranks up at
both ends, a biased posterior at one end, intervals too wide in the middle.  :func:`sbc` runs the
loop with the real sampler (:func:`bayescale.fit`, so the same model, sampler settings and
compiled-model cache users get) and returns the ranks; :func:`rank_uniformity` tests them.

Two uniformity tests are reported per parameter:

* ``p_ecdf``: the ECDF test of Säilynoja, Bürkner and Vehtari (2022).  The statistic is the
  smallest two-sided binomial tail probability of the ranks' ECDF over all rank values; its null
  distribution is simulated exactly for discrete uniform ranks.  It is the test behind the
  simultaneous band of :func:`bayescale.plots.plot_sbc_ecdf`: the ECDF leaves the
  ``1 - a`` band somewhere exactly when ``p_ecdf < a`` (up to Monte Carlo error).
* ``p_chisq``: Pearson's chi-square on the ranks in equal bins (Talts et al.'s histogram).

The posterior is thinned to ``L = n_ranks - 1`` draws evenly spread over the chains; with the
default 4 x 250 draws that keeps every 10th draw, and NUTS's effective sample size is above ``L``
for every parameter of the built-in laws, so the kept draws are nearly independent (simulations
where it is not are counted in ``min_ess_bulk``).

Run the full check from the command line::

    bayescale sbc --law chinchilla --sims 100
    python -m bayescale sbc --law kaplan --sims 100 --out sbc_kaplan.csv

References
----------
Talts, Betancourt, Simpson, Vehtari, Gelman (2018), Validating Bayesian inference algorithms with
simulation-based calibration, arXiv:1804.06788.
Säilynoja, Bürkner, Vehtari (2022), Graphical test for discrete uniformity and its applications in
goodness-of-fit evaluation and multiple sample comparison, Statistics and Computing 32:32.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from bayescale.errors import DataWarning, SpecError
from bayescale.laws import LAWS, Law, get_law
from bayescale.modeling.spec import ModelSpec, default_spec, load_spec

__all__ = ["default_design", "ecdf_band", "rank_uniformity", "sbc", "uniformity_pvalues"]

_NULL_SIMS = 10_000


# ---------------------------------------------------------------------------- designs
def default_design(
    law: str | Law = "chinchilla",
    *,
    n_groups: int = 0,
    n_sizes: int = 6,
    n_ratios: int = 4,
) -> pd.DataFrame:
    """A grid of training runs to simulate calibration data on.

    Model sizes ``N`` log-spaced over 1e7-1e10 parameters crossed with tokens per parameter
    ``D / N`` log-spaced over 2-200 (around the compute-optimal ~20), ``C = 6 N D``.  Laws that
    read unique tokens ``U`` get ``U = D / epochs`` with 1, 4, 16 and 64 epochs in turn; laws
    that read ``loss`` (link laws) get losses log-spaced over 2-5 nats.  With ``n_groups`` > 0
    every group (``family`` = ``"g0"``, ``"g1"``, ...) gets the same grid, so a hierarchical fit
    can be calibrated with ``groups=["family"]``.

    Parameters
    ----------
    law : str or Law
        The law whose inputs the design must cover (``N``, ``D``, ``C``, ``U``, ``loss``).
    n_groups : int
        Number of groups (0: no grouping column).
    n_sizes, n_ratios : int
        Grid sizes: distinct model sizes and distinct tokens-per-parameter ratios.

    Returns
    -------
    pandas.DataFrame
        Columns ``N``, ``D``, ``C`` (``U``, ``loss``, ``family``) but not the law's target
        (:func:`sbc` simulates it).

    Examples
    --------
    >>> from bayescale.evaluation.sbc import default_design
    >>> default_design("chinchilla").shape
    (24, 3)
    >>> default_design("compute", n_groups=3, n_sizes=4, n_ratios=3)["family"].nunique()
    3
    """
    law = get_law(law)
    unknown = [k for k in law.inputs if k not in ("N", "D", "C", "U", "loss")]
    if unknown:
        raise SpecError(
            f"default_design knows the inputs N, D, C, U and loss, but law {law.name!r} also "
            f"reads {unknown}; pass design_runs= with those columns"
        )
    if n_sizes < 3 or n_ratios < 3:
        raise ValueError(
            f"n_sizes and n_ratios must be >= 3 to identify a law, not {n_sizes}, {n_ratios}"
        )
    N = np.repeat(np.geomspace(1e7, 1e10, n_sizes), n_ratios)
    D = N * np.tile(np.geomspace(2.0, 200.0, n_ratios), n_sizes)
    one = pd.DataFrame({"N": N, "D": D, "C": 6.0 * N * D})
    if "U" in law.inputs:
        one["U"] = D / np.resize([1.0, 4.0, 16.0, 64.0], N.size)
    if "loss" in law.inputs:
        one["loss"] = np.geomspace(2.0, 5.0, N.size)
    if n_groups <= 0:
        return one
    parts = [one.assign(family=f"g{g}") for g in range(n_groups)]
    return pd.concat(parts, ignore_index=True)


def _resolve(law_or_spec: Any, groups: Sequence[str] | None) -> ModelSpec:
    from bayescale.sampling.fit import resolve_spec

    if isinstance(law_or_spec, Law):
        law_or_spec = law_or_spec.name
    if isinstance(law_or_spec, str) and law_or_spec in LAWS:
        spec = default_spec(law_or_spec)
    else:
        spec = load_spec(law_or_spec)
    return resolve_spec(spec=spec, groups=groups) if groups else spec


def _target(law: Law) -> str:
    """The runs-table column a law predicts (``loss`` unless it is a link law)."""
    return getattr(law, "target", "loss")


# ---------------------------------------------------------------------------- the SBC loop
def sbc(
    law_or_spec: str | Law | ModelSpec | os.PathLike | Mapping[str, Any] = "chinchilla",
    design_runs: pd.DataFrame | None = None,
    *,
    n_sims: int = 100,
    groups: Sequence[str] | None = None,
    n_groups: int = 3,
    fit_spec: ModelSpec | str | os.PathLike | Mapping[str, Any] | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    n_ranks: int = 100,
    target_accept: float | None = None,
    sampler: str = "nutpie",
    seed: int = 0,
    progress: bool | None = None,
    sampling: Any = None,
) -> pd.DataFrame:
    """Simulation-based calibration: ranks of prior draws among posterior draws.

    For each of ``n_sims`` draws from the spec's prior (``pm.sample_prior_predictive`` on the
    model built for the design), the runs' losses are simulated from the likelihood, the spec is
    fitted to them with :func:`bayescale.fit` (NUTS, the default sampler settings), and the rank
    of every true parameter value among ``n_ranks - 1`` thinned posterior draws is recorded.
    All fits share one structure, so the model is compiled once.

    Parameters
    ----------
    law_or_spec : str, Law, ModelSpec, path or dict
        The model to calibrate: a law / built-in spec name, or a spec.
    design_runs : DataFrame, optional
        The runs' inputs (``N``, ``D``, ``C``, grouping columns); the law's target column
        (``loss``) is replaced by simulations.  Default :func:`default_design` (24 runs, or
        ``n_groups`` groups x 12 runs when ``groups`` is given).
    n_sims : int
        Number of prior draws (simulated data sets); Talts et al. suggest >= 100.
    groups : sequence of str, optional
        Grouping columns for a hierarchical fit (the spec's default pooling).
    n_groups : int
        Groups in the default design of a hierarchical fit.
    fit_spec : ModelSpec, path or dict, optional
        Fit with this spec instead of the simulating one, e.g. to see what a wrong prior does to
        the ranks.  Default: the same spec (the calibration check).
    draws, tune, chains : int
        Sampler settings of each fit (default: those of :func:`bayescale.fit`, so the check
        is of the fits users make).
    n_ranks : int
        Number of possible rank values: the posterior is thinned to ``n_ranks - 1`` draws.
    target_accept : float, optional
        NUTS target acceptance of each fit (default: the law's own, as in :func:`bayescale.fit`).
    sampler : {"nutpie", "pymc"}
        NUTS implementation (nutpie re-uses one compiled model for all fits).
    seed : int
        Seeds the prior draws and, through a ``numpy.random.SeedSequence``, every fit.
    progress : bool, optional
        Print one line per simulation to stderr (default: ``sampling.progressbar`` when set,
        else no).
    sampling : SamplingOptions or dict, optional
        The sampler settings as one object (:class:`bayescale.sampling.SamplingOptions`); its
        ``draws``, ``tune``, ``chains``, ``target_accept`` and ``sampler`` replace those
        arguments when set, and its ``progressbar`` is the default of ``progress`` (the fits
        themselves never show a bar: one line per simulation is the progress shown).

    Returns
    -------
    pandas.DataFrame
        One row per simulation and parameter (vector parameters element-wise, ``"alpha[g0]"``):
        ``sim``, ``parameter``, ``rank`` (0 to ``n_ranks - 1``), ``truth``, ``post_median`` and
        the simulation's ``divergences``, ``max_rhat``, ``min_ess_bulk`` and ``seconds``.
        ``attrs`` hold the settings, the spec hashes, the total ``runtime_s`` and
        ``n_invalid``: prior draws skipped because the law is undefined there or the simulated
        target overflows (non-zero means the spec's priors put mass where the law makes no
        sense, and the ranks check the prior truncated to the rest).

    Examples
    --------
    >>> from bayescale.evaluation.sbc import sbc, rank_uniformity
    >>> ranks = sbc("compute", n_sims=20, draws=300, tune=300)    # doctest: +SKIP
    >>> rank_uniformity(ranks)[["p_ecdf", "p_chisq"]]              # doctest: +SKIP
    """
    from bayescale.modeling.model import OBSERVED, build_model
    from bayescale.sampling.fit import fit as fit_runs
    from bayescale.sampling.fit import prepare_runs, prior_predictive

    for name, value, low in (("n_sims", n_sims, 1), ("n_ranks", n_ranks, 2)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
    if sampling is not None:
        from bayescale.sampling.options import SamplingOptions

        o = SamplingOptions.of(sampling).over(draws=draws, tune=tune, chains=chains,
                                              target_accept=target_accept, sampler=sampler,
                                              progressbar=progress)
        draws, tune, chains = o["draws"], o["tune"], o["chains"]
        target_accept, sampler = o["target_accept"], o["sampler"]
        if progress is None:
            progress = o["progressbar"]
    progress = bool(progress)
    spec = _resolve(law_or_spec, groups)
    fitted = spec if fit_spec is None else _resolve(fit_spec, groups)
    if fitted.law != spec.law or fitted.groups != spec.groups:
        raise SpecError(
            f"fit_spec fits law {fitted.law!r} with groups {list(fitted.groups)}, but the data "
            f"are simulated from {spec.law!r} with groups {list(spec.groups)}; use the same law "
            "and groups"
        )
    if chains * draws < n_ranks - 1:
        raise ValueError(
            f"{chains} chains x {draws} draws cannot be thinned to {n_ranks - 1} draws; "
            "raise draws or lower n_ranks"
        )
    law = spec.law_obj
    if target_accept is None:  # the fitted law's default, as bayescale.fit would choose
        target_accept = fitted.law_obj.target_accept
    if design_runs is None:
        design = default_design(spec.law, n_groups=n_groups if spec.groups else 0,
                                n_sizes=4 if spec.groups else 6, n_ratios=3 if spec.groups else 4)
        if spec.groups:
            design = design.rename(columns={"family": spec.groups[0]})
            for extra in spec.groups[1:]:
                design[extra] = "all"
    else:
        design = design_runs.copy()
    # A placeholder target lets the design pass validation; it is replaced by simulations.
    design = design.assign(**{_target(law): 0.5})
    start = time.time()
    with warnings.catch_warnings():
        # Simulated losses can look like perplexity, designs repeat inputs: both are intended.
        warnings.simplefilter("ignore", DataWarning)
        prior = prior_predictive(design, spec=spec, draws=n_sims, seed=seed)
        model = build_model(prepare_runs(design, spec, None, 6.0), spec)
    free = [v.name for v in model.free_RVs if v.name != OBSERVED]
    prior_ds = prior["prior"].to_dataset()
    sim_y = np.asarray(prior["prior_predictive"][OBSERVED]).reshape(n_sims, -1)
    # Prior draws where the law is undefined (e.g. the log of a negative error) or the target
    # overflows cannot be fitted; they are skipped and counted, because a prior that puts mass
    # there is itself a finding (the fit's prior is then not the one the ranks check).
    with np.errstate(over="ignore"):
        target = np.exp(sim_y)
    valid = np.all(np.isfinite(target) & (target > 0), axis=1)
    if not valid.any():
        raise SpecError(
            f"every one of the {n_sims} prior draws of {spec.law!r} gives undefined or "
            f"overflowing {_target(law)} at the design's runs; check the spec's priors with "
            "bayescale.prior_predictive"
        )
    seeds = np.random.SeedSequence(seed).generate_state(n_sims)
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    log = logging.getLogger("bayescale")
    level = log.level
    log.setLevel(logging.WARNING)  # one line per simulation below, not one per fit
    try:
        for i in np.flatnonzero(valid):
            i = int(i)
            t0 = time.time()
            runs = design.assign(**{_target(law): target[i]})
            # simulated from the prior: nats by construction, and any magnitude the prior allows
            runs.attrs.update(loss_is="nats", check_units=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)
                # retry=False: SBC calibrates the sampler at exactly the settings given
                fit = fit_runs(runs, spec=fitted, draws=draws, tune=tune, chains=chains,
                             seed=int(seeds[i]), target_accept=target_accept, sampler=sampler,
                             progressbar=False, prior_draws=0, warn=False, retry=False)
            post = fit.tree["posterior"].to_dataset()
            if not names:
                names = list(dict.fromkeys(v for v in (*free, *law.param_names)
                                           if v in post.data_vars and v in prior_ds.data_vars))
            diag = fit.diagnostics
            seconds = time.time() - t0
            for name in names:
                truth = np.asarray(prior_ds[name].isel(chain=0, draw=i)).reshape(-1)
                a = np.asarray(post[name])
                flat = a.reshape(a.shape[0] * a.shape[1], -1)
                keep = np.round(np.linspace(0, flat.shape[0] - 1, n_ranks - 1)).astype(int)
                thinned = flat[keep]
                for j, label in enumerate(_element_labels(post[name], name)):
                    rows.append({
                        "sim": i, "parameter": label,
                        "rank": int(np.sum(thinned[:, j] < truth[j])),
                        "truth": float(truth[j]), "post_median": float(np.median(flat[:, j])),
                        "divergences": diag.divergences, "max_rhat": diag.max_rhat,
                        "min_ess_bulk": diag.min_ess_bulk, "seconds": seconds,
                    })
            if progress:
                print(f"sbc {spec.law}: simulation {i + 1}/{n_sims} in {seconds:.1f} s "
                      f"({diag.divergences} divergences)", file=sys.stderr, flush=True)
    finally:
        log.setLevel(level)
    out = pd.DataFrame(rows)
    out.attrs = {
        "law": spec.law, "spec_hash": spec.hash, "fit_spec_hash": fitted.hash,
        "groups": list(spec.groups), "n_sims": n_sims, "n_ranks": n_ranks, "draws": draws,
        "tune": tune, "chains": chains, "target_accept": target_accept, "sampler": sampler,
        "seed": seed,
        "n_runs": len(design), "n_invalid": int(n_sims - valid.sum()),
        "runtime_s": time.time() - start,
    }
    return out


def _element_labels(da, name: str) -> list[str]:
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    if not extra:
        return [name]
    coords = da.coords[extra[0]].values
    return [f"{name}[{c}]" for c in coords]


# ---------------------------------------------------------------------------- uniformity
def _two_sided_tail(counts: np.ndarray, n: int, z: np.ndarray) -> np.ndarray:
    """Two-sided binomial tail probability of ECDF counts (rank <= r) under uniform ranks."""
    from scipy import stats

    lo = stats.binom.cdf(counts, n, z)
    hi = stats.binom.sf(counts - 1, n, z)
    return np.minimum(1.0, 2.0 * np.minimum(lo, hi))


@lru_cache(maxsize=32)
def _null_statistics(n: int, n_ranks: int, n_null: int, seed: int) -> np.ndarray:
    """The ECDF statistic for ``n_null`` samples of ``n`` discrete uniform ranks (sorted)."""
    rng = np.random.default_rng(seed)
    z = np.arange(1, n_ranks) / n_ranks
    stats_ = np.empty(n_null)
    chunk = max(1, 2_000_000 // (n_ranks * max(n, 1)))
    for start in range(0, n_null, chunk):
        m = min(chunk, n_null - start)
        ranks = rng.integers(0, n_ranks, size=(m, n))
        counts = np.zeros((m, n_ranks), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(m), n), ranks.ravel()), 1)
        cum = np.cumsum(counts, axis=1)[:, :-1]
        stats_[start:start + m] = _two_sided_tail(cum, n, z).min(axis=1)
    return np.sort(stats_)


def _ecdf_statistic(ranks: np.ndarray, n_ranks: int) -> float:
    n = ranks.size
    z = np.arange(1, n_ranks) / n_ranks
    cum = np.cumsum(np.bincount(ranks, minlength=n_ranks))[:-1]
    return float(_two_sided_tail(cum, n, z).min())


def uniformity_pvalues(
    ranks: Sequence[int] | np.ndarray, n_ranks: int, *, n_null: int = _NULL_SIMS, seed: int = 0
) -> dict[str, float]:
    """Test that ranks are uniform on ``{0, ..., n_ranks - 1}`` (numpy core of the SBC tests).

    Parameters
    ----------
    ranks : array of int
        One rank per simulation.
    n_ranks : int
        Number of possible rank values.
    n_null : int
        Monte Carlo samples of the ECDF statistic's null distribution.
    seed : int
        Seed of those samples (the p-value is deterministic for a given seed).

    Returns
    -------
    dict
        ``p_ecdf`` (simultaneous ECDF test), ``p_chisq`` (binned chi-square), ``bins`` (number
        of chi-square bins: the largest divisor of ``n_ranks`` with >= 5 expected ranks per bin)
        and ``chisq``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.evaluation.sbc import uniformity_pvalues
    >>> rng = np.random.default_rng(1)
    >>> uniformity_pvalues(rng.integers(0, 100, 200), 100)["p_ecdf"] > 0.01
    True
    >>> uniformity_pvalues(np.full(200, 99), 100)["p_ecdf"] < 0.001
    True
    """
    from scipy import stats

    r = np.asarray(ranks)
    if r.ndim != 1 or r.size == 0 or r.dtype.kind not in "iu":
        raise ValueError("ranks must be a non-empty 1-d array of integers")
    if r.min() < 0 or r.max() >= n_ranks:
        raise ValueError(f"ranks must lie in 0..{n_ranks - 1}, got {r.min()}..{r.max()}")
    n = r.size
    null = _null_statistics(n, n_ranks, n_null, seed)
    stat = _ecdf_statistic(r, n_ranks)
    # Monte Carlo p-value (the observed sample counted as one of the null draws).
    p_ecdf = (1 + np.searchsorted(null, stat, side="right")) / (n_null + 1)
    divisors = [b for b in range(2, n_ranks + 1) if n_ranks % b == 0 and n / b >= 5]
    bins = max(divisors) if divisors else 2
    counts = np.bincount(r * bins // n_ranks, minlength=bins)
    chisq, p_chisq = stats.chisquare(counts)
    return {"p_ecdf": float(min(1.0, p_ecdf)), "p_chisq": float(p_chisq), "bins": int(bins),
            "chisq": float(chisq)}


def ecdf_band(
    n: int, n_ranks: int, *, prob: float = 0.95, n_null: int = _NULL_SIMS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simultaneous ``prob`` band for the ECDF of ``n`` uniform ranks (Säilynoja et al. 2022).

    Returns
    -------
    z, lower, upper : ndarray
        Evaluation points ``(r + 1) / n_ranks`` for ``r = 0 .. n_ranks - 2`` and the band's
        ECDF limits there.  The ranks' ECDF leaves the band at some point with probability
        ``1 - prob`` under uniformity (the ECDF test of :func:`uniformity_pvalues` at level
        ``1 - prob``).

    Examples
    --------
    >>> from bayescale.evaluation.sbc import ecdf_band
    >>> z, lo, hi = ecdf_band(100, 100, n_null=2000)
    >>> bool((lo <= z).all() and (z <= hi).all())
    True
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be in (0, 1), not {prob!r}")
    null = _null_statistics(n, n_ranks, n_null, seed)
    gamma = float(np.quantile(null, 1 - prob))
    z = np.arange(1, n_ranks) / n_ranks
    k = np.arange(n + 1)[:, None]
    accept = _two_sided_tail(k, n, z[None, :]) > gamma
    lower = np.argmax(accept, axis=0) / n
    upper = (n - np.argmax(accept[::-1], axis=0)) / n
    return z, lower, upper


def rank_uniformity(
    ranks: pd.DataFrame, *, n_null: int = _NULL_SIMS, seed: int = 0
) -> pd.DataFrame:
    """Per-parameter uniformity tests of :func:`sbc` ranks.

    To call a whole model miscalibrated with a false-alarm rate of at most ``a``, compare the
    smallest ``p_ecdf`` with ``a / number of parameters`` (Bonferroni).

    Parameters
    ----------
    ranks : DataFrame
        Output of :func:`sbc` (columns ``parameter`` and ``rank``; ``attrs["n_ranks"]``).
    n_null, seed : int
        Monte Carlo settings of the ECDF test's null distribution.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: ``n_sims``, ``p_ecdf``, ``p_chisq``, ``bins``, ``mean_rank``
        (0.5 when calibrated; < 0.5: the posterior overestimates, > 0.5: it underestimates)
        and ``sims_with_divergences``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from bayescale.evaluation.sbc import rank_uniformity
    >>> rng = np.random.default_rng(0)
    >>> ranks = pd.DataFrame({"parameter": ["a"] * 50 + ["b"] * 50,
    ...                       "rank": np.r_[rng.integers(0, 100, 50), np.full(50, 0)]})
    >>> ranks.attrs["n_ranks"] = 100
    >>> t = rank_uniformity(ranks, n_null=2000)
    >>> bool(t.loc["a", "p_ecdf"] > 0.01), bool(t.loc["b", "p_ecdf"] < 0.001)
    (True, True)
    """
    n_ranks = int(ranks.attrs.get("n_ranks", ranks["rank"].max() + 1))
    out = {}
    for name, grp in ranks.groupby("parameter", sort=False):
        r = grp["rank"].to_numpy(dtype=np.int64)
        res = uniformity_pvalues(r, n_ranks, n_null=n_null, seed=seed)
        out[name] = {
            "n_sims": r.size,
            "p_ecdf": res["p_ecdf"],
            "p_chisq": res["p_chisq"],
            "bins": res["bins"],
            "mean_rank": float(np.mean(r) / (n_ranks - 1)),
            "sims_with_divergences": (int((grp["divergences"] > 0).sum())
                                      if "divergences" in grp else 0),
        }
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "parameter"
    table.attrs = dict(ranks.attrs)
    return table
