"""The result of a fit: :class:`ScalingFit`, its predictions, and lossless save / load.

A fit is an ``xarray.DataTree`` (the ArviZ 1.x result type) plus the spec, the validated runs and
the reference scales.  Saved fits are netCDF files (h5netcdf) with provenance attributes
(package version, law, spec TOML and hash, data hash, seed, sampler, library versions,
diagnostics), written atomically; no pickle anywhere.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayescale.data.runs import runs_hash
from bayescale.errors import ProvenanceError
from bayescale.files import atomic_path
from bayescale.modeling.model import GROUP_DIM, group_labels
from bayescale.modeling.spec import ModelSpec
from bayescale.posterior.diagnostics import Diagnostics, diagnose

__all__ = ["PosteriorDraws", "Prediction", "ScalingFit", "frozen_deviation", "load_fit"]

FORMAT_VERSION = "1"
DEFAULT_CI = (0.5, 0.8, 0.95)
#: FLOPs per parameter per token of a fit whose convention is not recorded (``C = 6 N D``).
DEFAULT_FLOPS_PER_TOKEN = 6.0
_RUNS_GROUP = "runs"
_PPC_GROUP = "posterior_predictive"
#: The fit's default discrepancy, once learned (ScalingFit.default_discrepancy), kept in its file
_DISC_GROUP = "discrepancy"


def ci_columns(levels: Sequence[float]) -> list[str]:
    """The interval column names of a table at ``levels``: ``lo_95``, ``hi_95``, ...

    Examples
    --------
    >>> from bayescale.posterior.result import ci_columns
    >>> ci_columns([0.5, 0.95])
    ['lo_50', 'hi_50', 'lo_95', 'hi_95']
    """
    out = []
    for lv in levels:
        tag = f"{round(100 * lv):d}"
        out += [f"lo_{tag}", f"hi_{tag}"]
    return out


def interval_table(samples: np.ndarray, levels: Sequence[float] = DEFAULT_CI) -> pd.DataFrame:
    """Median, mean and equal-tailed intervals of draws along axis 0.

    Parameters
    ----------
    samples : ndarray, shape (S, ...) flattened to (S, P)
        Draws in rows.
    levels : sequence of float
        Central interval probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.result import interval_table
    >>> t = interval_table(np.random.default_rng(0).normal(size=(4000, 2)), [0.9])
    >>> list(t.columns)
    ['mean', 'median', 'lo_90', 'hi_90']
    """
    x = np.asarray(samples, dtype=float).reshape(samples.shape[0], -1)
    qs = []
    for lv in levels:
        if not 0 < lv < 1:
            raise ValueError(f"interval levels must be in (0, 1), not {lv!r}")
        qs += [(1 - lv) / 2, 1 - (1 - lv) / 2]
    quant = np.quantile(x, [0.5, *qs], axis=0)
    data = {"mean": x.mean(axis=0), "median": quant[0]}
    for name, q in zip(ci_columns(levels), quant[1:], strict=True):
        data[name] = q
    return pd.DataFrame(data)


class PosteriorDraws(dict):
    """Posterior draws of a fit (:meth:`ScalingFit.draws`): a dict of numpy arrays that knows
    how to read them.

    A plain ``dict`` in every way (``d["alpha"]``, ``sorted(d)``, ``{**d}``), with attributes
    the decision functions read when given these draws instead of a fit:

    Attributes
    ----------
    law : Law or None
        The fitted law.
    flops_per_token : float
        The fit's FLOP convention (``C = k N D``).
    group : str, mapping or None
        The group the draws are of (None: the fit's own posterior).
    deviation : callable or None
        The extrapolation discrepancy frozen for these draws (``discrepancy=`` of
        :meth:`ScalingFit.draws`): ``deviation(C, tokens_per_param)``, one log-loss deviation
        per draw; None when off.
    failures : FrozenFailures or None
        With ``noise=True`` and failed runs (:meth:`ScalingFit.run_failures`): each draw's
        chance that a new run fails at any tokens per parameter
        (:class:`~bayescale.modeling.noise.FrozenFailures`), of which ``fail_p`` is the value
        at the runs' median; a decision reads it at each draw's own allocation.  None
        otherwise.

    Examples
    --------
    >>> d = fit.draws(noise=True)
    >>> d.law.name, d.flops_per_token, d.deviation is None
    ('chinchilla', 6.0, True)
    """

    def __init__(self, arrays: Mapping[str, np.ndarray] = (), *, law: Any = None,
                 flops_per_token: float = DEFAULT_FLOPS_PER_TOKEN, group: Any = None,
                 deviation: Any = None, failures: Any = None):
        super().__init__(arrays)
        self.law = law
        self.flops_per_token = float(flops_per_token)
        self.group = group
        self.deviation = deviation
        self.failures = failures


class _AlongN:
    """A discrepancy measured along N, read on a budget line: ``N = sqrt(C / (k tpp))``."""

    def __init__(self, frozen: Any, k: float):
        self.frozen = frozen
        self.k = k
        self.n_draws = frozen.n_draws
        self.discrepancy = getattr(frozen, "discrepancy", None)

    def __call__(self, c: Any, tpp: Any) -> np.ndarray:
        if tpp is None:
            raise ValueError("a discrepancy measured along N needs a law of N and D; pass a "
                             "Discrepancy with by='C' or discrepancy=False")
        c, t = np.broadcast_arrays(np.asarray(c, float), np.asarray(tpp, float))
        return self.frozen(np.sqrt(c / (self.k * t)), t)


def frozen_deviation(fit: Any, discrepancy: Any, group: Any, n_draws: int,
                     rng: np.random.Generator, flops_per_token: float) -> Any:
    """The fit's discrepancy frozen for ``n_draws`` draws as a function of (C, tokens per param).

    None when ``discrepancy`` resolves to none (False / None, or a law of a target other than
    loss).  Else a callable ``deviation(C, tpp)`` with one log-loss deviate per draw, drawn
    once from ``rng`` (:meth:`Discrepancy.frozen <bayescale.Discrepancy.frozen>`); a
    discrepancy measured along ``N`` is read at ``N = sqrt(C / (k tpp))`` with ``k =
    flops_per_token``.  What :meth:`ScalingFit.draws` attaches as ``.deviation``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.result import frozen_deviation
    >>> dev = frozen_deviation(fit, True, None, 4000, np.random.default_rng(0), 6.0)
    >>> dev(5.76e23, 20.0).shape
    (4000, 1)
    """
    from bayescale.posterior.discrepancy import resolve_discrepancy

    disc = resolve_discrepancy(fit, discrepancy, group)
    if disc is None:
        return None
    frozen = disc.frozen(n_draws, rng)
    return frozen if disc.by == "C" else _AlongN(frozen, float(flops_per_token))


def flops_per_token_of(description: Any) -> float:
    """The ``k`` of a FLOP convention described as ``"C = k N D"``; 6 for anything else.

    Only for fits that recorded the convention as text (made by a caller that did not pass
    ``flops_per_token`` to :meth:`ScalingFit.from_sampling`, or saved before fits stored it
    as a number).

    Examples
    --------
    >>> from bayescale.posterior.result import flops_per_token_of
    >>> flops_per_token_of("C = 8 N D"), flops_per_token_of("my_flops")
    (8.0, 6.0)
    """
    import re

    m = re.match(r"^\s*C\s*=\s*([0-9.eE+-]+)\s*N\s*D\s*$", str(description or ""))
    try:
        return float(m.group(1)) if m else DEFAULT_FLOPS_PER_TOKEN
    except ValueError:
        return DEFAULT_FLOPS_PER_TOKEN


@dataclass(frozen=True)
class Prediction:
    """Posterior predictive draws at new inputs.

    Attributes
    ----------
    draws : xarray.DataArray
        Predicted loss, dims ``(chain, draw, point)``.
    table : pandas.DataFrame
        One row per point: the inputs, ``mean``, ``median`` and ``lo_XX`` / ``hi_XX`` columns.
    noise : bool
        Whether run-to-run noise is included (a new run) or not (the mean law).

    Examples
    --------
    >>> pred = fit.predict(N=[1e10], D=[2e11])
    >>> pred.table[["median", "lo_95", "hi_95"]].round(2)
       median  lo_95  hi_95
    0    2.13   2.12   2.14
    """

    draws: Any
    table: pd.DataFrame
    noise: bool

    def _repr_html_(self) -> str:
        return self.table._repr_html_()

    def __repr__(self) -> str:
        kind = "new runs (with noise)" if self.noise else "mean law (no noise)"
        return f"Prediction of loss for {kind}:\n{self.table.to_string()}"


class ScalingFit:
    """A fitted scaling law: posterior DataTree + spec + runs + diagnostics.

    Create with :func:`bayescale.fit` or :func:`load_fit`, not directly.

    Attributes
    ----------
    tree : xarray.DataTree
        ``posterior`` (sampled and natural parameters), ``log_likelihood``, ``sample_stats``,
        ``observed_data``, ``constant_data`` and, if drawn, ``prior`` / ``prior_predictive``.
    spec : ModelSpec
        The model that was fitted.
    runs : pandas.DataFrame
        The validated runs table.
    reference : dict
        Reference scales that centre the law's log inputs.
    diagnostics : Diagnostics
        Divergences, R-hat, ESS, E-BFMI and advice.
    meta : dict
        Seed, sampler, settings, versions, creation time.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.load("chinchilla", drop_outliers=True), seed=0,
    ...              progressbar=False)
    >>> fit.summary()[["median", "lo_95", "hi_95"]].round(2)
            median    lo_95    hi_95
    E         1.81     1.78     1.84
    A       4.6e+02  3.4e+02    6e+02
    B       1.9e+03  1.3e+03  2.8e+03
    alpha     0.35     0.33     0.36
    beta      0.36     0.34     0.38
    sigma     0.00     0.00     0.00
    nu         2.8      2.1      4.3
    >>> fit.predict(N=70e9, D=1.4e12).table[["median", "lo_95", "hi_95"]].round(2)
       median  lo_95  hi_95
    0     1.9    1.8    2.1
    """

    def __init__(self, tree, spec: ModelSpec, runs: pd.DataFrame, reference: Mapping[str, float],
                 diagnostics: Diagnostics, meta: Mapping[str, Any]):
        self.tree = tree
        self.spec = spec
        self.runs = runs
        self.reference = dict(reference)
        self.diagnostics = diagnostics
        self.meta = dict(meta)
        self._fit_discrepancy = None  # learned on first use (default_discrepancy)
        self._run_failures: Any = False  # classified on first use (run_failures)
        self._group_failures: dict[str, Any] = {}  # per group, on first use (group_failures)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_sampling(cls, tree, *, spec: ModelSpec, runs: pd.DataFrame,
                      reference: Mapping[str, float], seed: int | None, sampler: str,
                      settings: Mapping[str, Any],
                      flops_per_token: float | None = None) -> ScalingFit:
        """A fit from a sampler's DataTree: diagnoses it and stamps the provenance.

        The constructor :func:`bayescale.fit` uses; ``settings`` (draws, tune, chains,
        target_accept...) are recorded in ``meta`` and read by the diagnostics' advice.
        ``flops_per_token`` is the runs' FLOP convention (``C = k N D``), stored as a number
        (:attr:`flops_per_token`); when omitted it is read once from the runs table's
        description of it (``runs.attrs["flops"]`` or ``settings["flops"]``, ``"C = k N D"``;
        6 for a FLOP function).
        """
        from importlib.metadata import version as _dist_version

        import pymc
        import pytensor

        law = spec.law_obj
        free = [v for v in tree["posterior"].data_vars if v in cls._free_names(spec)]
        diag = diagnose(tree, free, settings)
        meta = {
            "bayescale_version": _version(),
            "format_version": FORMAT_VERSION,
            "law": law.name,
            "spec_hash": spec.hash,
            "data_hash": runs_hash(runs),
            "seed": "none" if seed is None else int(seed),
            "sampler": sampler,
            "settings": json.dumps(settings),
            "versions": json.dumps({
                "pymc": pymc.__version__, "pytensor": pytensor.__version__,
                "arviz": _dist_version("arviz"), "numpy": np.__version__, "pandas": pd.__version__,
                **_nutpie_version(sampler),
            }),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "status": "ok" if diag.ok else "failed diagnostics",
            "flops_per_token": float(
                flops_per_token if flops_per_token is not None
                else flops_per_token_of(runs.attrs.get("flops") or settings.get("flops", ""))),
        }
        return cls(tree, spec, runs, reference, diag, meta)

    @staticmethod
    def _free_names(spec: ModelSpec) -> list[str]:
        from bayescale.modeling.model import free_variable_names

        return free_variable_names(spec)

    # ------------------------------------------------------------------ basic access
    @property
    def law(self):
        """The fitted :class:`~bayescale.laws.Law`."""
        return self.spec.law_obj

    @property
    def posterior(self):
        """The posterior as an ``xarray.Dataset``."""
        return self.tree["posterior"].to_dataset()

    @property
    def groups(self) -> list[str]:
        """Group labels of a hierarchical fit (empty list otherwise)."""
        post = self.tree["posterior"]
        return [str(g) for g in post[GROUP_DIM].values] if GROUP_DIM in post.coords else []

    @property
    def flops_per_token(self) -> float:
        """The fit's FLOP convention: FLOPs per parameter per token of its runs (``C = k N D``).

        Stored with the fit (``meta["flops_per_token"]``, a netCDF attribute of the saved
        file), so a budget means the same FLOPs as the runs' compute everywhere the fit is
        used: :meth:`predict`, the prediction grids, the decisions, the plots and the report
        take it as their default.  6 unless the fit was made with another ``flops=``; a fit
        made with a FLOP *function* ``flops(N, D)`` has 6 here (pass that function as
        ``flops=`` to the decision functions).

        Examples
        --------
        >>> fit.flops_per_token
        6.0
        """
        try:
            k = float(self.meta.get("flops_per_token", DEFAULT_FLOPS_PER_TOKEN))
        except (TypeError, ValueError):
            return DEFAULT_FLOPS_PER_TOKEN
        return k if np.isfinite(k) and k > 0 else DEFAULT_FLOPS_PER_TOKEN

    def default_discrepancy(self, group: Any = None):
        """The extrapolation discrepancy this fit's predictions use by default.

        The empirical prior (how far published scaling laws have missed beyond their data)
        updated by this fit's runs' own leave-future-out splits: the law refitted to the runs
        0.5 and 1 order of magnitude of compute below the largest, predicting the larger ones
        (:func:`bayescale.evaluation.discrepancy.fit_discrepancy`).  The inner fits run on the
        first call (a few seconds each) and the result is kept, so :meth:`predict`, the
        decisions and the report share it.  Where the runs allow no inner split it is the prior
        alone, and its ``note`` says what to pass to :func:`bayescale.learn_discrepancy`
        instead.  None for laws of a target other than the loss.

        Parameters
        ----------
        group : str, optional
            For hierarchical fits: an observed group gets the prior updated by its own splits
            (the law refitted to that group's runs alone, learned the first time that group
            is asked for), a new group (``"new"``) or None the prior alone (None also learns
            every observed group, so that ``fit.save`` writes them all).

        Returns
        -------
        Discrepancy or None

        Examples
        --------
        >>> disc = fit.default_discrepancy()
        >>> disc.source.startswith("empirical prior updated by")
        True
        >>> disc is fit.default_discrepancy()   # learned once
        True
        """
        from bayescale.posterior.discrepancy import resolve_discrepancy

        return resolve_discrepancy(self, True, group)

    def run_failures(self):
        """The fit's failed runs, and the chance that a new run fails like them.

        A run failed when its log loss sits more than
        :data:`~bayescale.modeling.noise.FAIL_Z` robust standard deviations above the fitted
        curve (its residual about the posterior median law, its own group's in a hierarchy).
        A new run's loss (``noise=True`` in :meth:`predict`, :meth:`draws` and the decisions)
        then fails with probability ``Beta(1/2 + k, 1/2 + n - k)`` by one of their excesses
        (:class:`~bayescale.modeling.noise.RunFailures`; a group of a hierarchy at its own
        rate, pooled with the other groups', :meth:`group_failures`); with no failed run,
        never.  For a law of repeated data (inputs with unique tokens ``U``) the chance
        depends on the run's epochs ``D / U`` (:class:`~bayescale.modeling.noise.
        EpochsFailureRate`: runs blow up after many epochs, not after one), and
        :meth:`predict` reads it at each point's epochs; :meth:`draws` gives the flat rate of
        all the runs.  For a law of ``N`` and ``D`` the chance may depend on the run's tokens
        per parameter (:meth:`~bayescale.modeling.noise.RunFailures.with_tokens_per_param`:
        failed runs at one end of a sweep, such as its most under-trained models, are more
        likely a regime the law misses than runs that fail anywhere), weighed against a flat
        rate by their marginal likelihoods: :meth:`predict` reads it at each point's tokens
        per parameter, :meth:`draws` at the runs' median (with each draw's curve kept, for
        the decisions to read at each plan's and each draw's own optimal split).  None for laws of
        a target other than the loss, and for a posterior without its observed runs.

        Returns
        -------
        RunFailures or None

        Examples
        --------
        >>> f = fit.run_failures()
        >>> f.n == len(fit.runs)
        True
        """
        if self._run_failures is False:
            self._run_failures = None
            if self.law.target == "loss" and "observed_data" in self.tree.children:
                from bayescale.modeling.model import OBSERVED
                from bayescale.modeling.noise import RunFailures, failure_covariate
                from bayescale.posterior.discrepancy import log_mu_draws

                y = np.asarray(self.tree["observed_data"][OBSERVED], dtype=float).reshape(-1)
                # the median law at each run, 500 runs at a time (bounded memory)
                med = np.concatenate([
                    np.median(log_mu_draws(self, self.runs.iloc[i:i + 500],
                                           np.random.default_rng(0)), axis=0)
                    for i in range(0, len(self.runs), 500)]) if len(self.runs) else y
                failures = RunFailures.from_residuals(y - med)
                at = failure_covariate(self.law.inputs, self.runs)
                if "epochs" in at:  # runs of repeated data fail after many epochs
                    failures = failures.with_epochs(at["epochs"])
                elif "tpp" in at:  # ... or perhaps at one end of the tokens per parameter:
                    # a regime the law misses rather than runs failing anywhere
                    failures = failures.with_tokens_per_param(at["tpp"])
                self._run_failures = failures
        return self._run_failures

    def group_failures(self, group: Any):
        """A group's failed runs and the chance that its next run fails (hierarchical fits).

        The group's own count (``k_g`` of its ``n_g`` runs) partially pooled with the fit's
        other groups' (:class:`~bayescale.modeling.noise.FailureRatePrior`, a beta-binomial
        across the groups): failures concentrated in one training set-up raise that set-up's
        rate, and a group without a failed run borrows the others' low rate.  Where the fit's
        rate depends on tokens per parameter or on epochs of repeated data
        (:meth:`run_failures`), the group keeps that curve shifted on the log odds by its own
        runs, the shifts' spread learned across the groups
        (:class:`~bayescale.modeling.noise.GroupFailureCurve`): a group whose under-trained
        (or many-epoch) runs failed gets a higher curve, one that never trained there the
        fit's.
        A failure's size is resampled from every failed run of the fit
        (:meth:`~bayescale.modeling.noise.RunFailures.within`).  A new group (``"new"``, or a
        mapping with a ``"new"`` value) gets the fit's pooled rate, :meth:`run_failures`.
        What :meth:`draws` returns as ``fail_p`` and ``fail_size`` with ``group=`` and
        ``noise=True``, and so predictions and decisions for that group.

        Parameters
        ----------
        group : str, number or mapping
            As in :meth:`draws`.

        Returns
        -------
        RunFailures or None
            As :meth:`run_failures` (the fit's own for a fit without groups).

        Examples
        --------
        >>> f = fit.group_failures("all")       # a fit without groups: its own
        >>> f.n == len(fit.runs)
        True
        """
        failures = self.run_failures()
        if failures is None or not self.groups or group is None or group == "all":
            return failures
        from bayescale.modeling.groups import group_labels, label_of
        from bayescale.modeling.noise import FailureRatePrior
        from bayescale.posterior.hierarchy import resolve_group, structure_of

        group = resolve_group(self, group)
        if isinstance(group, Mapping):
            if any(str(v) == "new" for v in group.values()):
                return failures
            group = label_of(group[c] for c in structure_of(self).columns)
        if group not in self.groups:
            return failures                       # "new"
        if not self._group_failures:  # every group at once: one grid term per group
            labels = group_labels(self.runs, tuple(self.spec.groups)).to_numpy(dtype=str)
            failed = np.zeros(len(self.runs), dtype=bool)
            failed[failures.rows] = True
            own = [labels == g for g in self.groups]
            priors = FailureRatePrior.leave_one_out([int(failed[m].sum()) for m in own],
                                                    [int(m.sum()) for m in own])
            shift = failures.group_shift(own)  # where the rate depends on tokens per parameter
            self._group_failures = {g: failures.within(m, prior=p, shift=shift)
                                    for g, m, p in zip(self.groups, own, priors, strict=True)}
        return self._group_failures[group]

    def failure_draws(self, group: Any = None, epochs: Any = None, *, tpp: Any = None,
                      size: int | None = None, rng: np.random.Generator | None = None
                      ) -> dict[str, np.ndarray]:
        """Per draw, a new run's chance of failing and a failure's size, as predictions use.

        The chance (``fail_p``) is drawn from the posterior of the failure rate of
        :meth:`group_failures` (the fit's own, :meth:`run_failures`, without groups), and the
        size (``fail_size``, in log loss) is resampled from the failed runs' excesses.  For a
        law of repeated data and ``epochs`` given, ``fail_p`` is per draw and point: each
        point's chance at its own epochs (:class:`~bayescale.modeling.noise.
        EpochsFailureRate`).  What :meth:`predict` adds to a new run's loss with
        ``noise=True`` and :func:`bayescale.backtest` to its held-out runs.  Likewise with
        ``tpp`` (tokens per parameter) where the rate depends on it
        (:meth:`run_failures`).

        Parameters
        ----------
        group : str, number or mapping, optional
            A group of a hierarchical fit, as in :meth:`draws`.
        epochs : array-like, optional
            Epochs of repeated data (``D / U``) of the points to predict; ignored unless the
            rate depends on them.
        tpp : array-like, optional
            Tokens per parameter (``D / N``) of the points to predict; ignored unless the rate
            depends on them.
        size : int, optional
            Number of draws; the posterior's draw count by default.
        rng : numpy.random.Generator, optional
            By default one seeded from the fit's seed, so that the draws reproduce.

        Returns
        -------
        dict
            ``fail_p`` (``(size,)``, or ``(size, P)`` with ``epochs`` or ``tpp``) and ``fail_size``
            (``(size,)``); empty when no run failed.

        Examples
        --------
        >>> fd = fit.failure_draws(size=100)
        >>> sorted(fd) in ([], ["fail_p", "fail_size"])
        True
        """
        failures = self.group_failures(group)
        if failures is None:
            return {}
        return failures.draws(self._n_draws() if size is None else int(size),
                              self._failure_rng(rng), epochs=epochs, tpp=tpp)

    def frozen_failures(self, group: Any = None, *, size: int | None = None,
                        rng: np.random.Generator | None = None) -> Any:
        """Per draw, a new run's chance of failing at any tokens per parameter, drawn once.

        The draws of :meth:`failure_draws` (the same ones, from the same generator), kept so
        that the chance can be read at each draw's own ``(N, D)``: what the decisions do
        (:class:`~bayescale.modeling.noise.FrozenFailures`; :attr:`PosteriorDraws.failures`).

        Parameters
        ----------
        group, size, rng
            As in :meth:`failure_draws`.

        Returns
        -------
        FrozenFailures or None
            None when no run failed.

        Examples
        --------
        >>> fr = fit.frozen_failures(size=100)
        >>> fr is None or fr.p([1.0, 20.0]).shape == (100, 2)
        True
        """
        failures = self.group_failures(group)
        if failures is None or failures.sizes.size == 0:
            return None
        return failures.frozen(self._n_draws() if size is None else int(size),
                               self._failure_rng(rng))

    def _failure_rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        """``rng``, or one seeded from the fit's seed, so that failure draws reproduce."""
        if rng is not None:
            return rng
        try:
            seed = abs(int(self.meta.get("seed")))
        except (TypeError, ValueError):
            seed = 0
        return np.random.default_rng([seed, 3])

    def draws(
        self,
        names: Sequence[str] | None = None,
        *,
        kind: str = "natural",
        group: str | Mapping[str, str] | None = None,
        noise: bool = False,
        discrepancy: Any = False,
        seed: Any = 0,
        rng: np.random.Generator | None = None,
        flops_per_token: float | None = None,
    ) -> PosteriorDraws:
        """Posterior draws of the fit: the one way to get them, for the fit, a group or a new group.

        Prediction (:meth:`predict`), the prediction grids, the decisions
        (:mod:`bayescale.decisions`), the plots and the report all take their draws here.

        Parameters
        ----------
        names : sequence of str, optional
            Variables to return; default depends on ``kind`` (any posterior variable by name
            when ``group`` is omitted: ``alpha_mu``, ``alpha_tau``... of a hierarchy).
        kind : {"natural", "sampled", "noise"}
            The law's natural (published) parameters, its sampled parameterisation, or only
            the noise parameters (``sigma``, and ``nu`` for a Student-t likelihood; with
            ``fail_p`` and ``fail_size`` when some runs failed, see ``noise``).
        group : str, number, mapping or None
            None: the fit's own posterior (for a hierarchical fit every group, on the last
            axis, shape ``(S, G)``).  For a hierarchical fit: a group label (``fit.groups``),
            ``"new"`` for an unseen group drawn from the population (each draw of the
            population gets one fresh group effect), or a mapping of each grouping column to a
            value or ``"new"`` (``{"dataset": "rw", "family": "new"}``); each parameter then
            has shape ``(S,)``.  See :func:`bayescale.posterior.hierarchy.resolve_group` for
            numeric labels.  A fit without groups takes only None (or ``"all"``).
        noise : bool, default False
            Also return the noise parameters' draws (``sigma``, ``nu``): what a question about
            a *training run* (rather than the law) needs; and, when some of the fit's runs
            failed (:meth:`run_failures`), ``fail_p`` and ``fail_size``, a new run's chance of
            failing and by how much (log loss), per draw: the flat rate, or where it depends
            on tokens per parameter, the rate at the runs' median (:meth:`failure_draws`
            gives it at given points; the draws' ``.failures`` anywhere, which the decisions
            read at each plan's or draw's own tokens per parameter).
        discrepancy : bool or Discrepancy, default False
            Attach the extrapolation discrepancy frozen for these draws as ``.deviation``
            (True: the empirical prior, as in :meth:`predict`; a
            :class:`~bayescale.Discrepancy`; False or None: none): a function
            ``deviation(C, tokens_per_param)`` of the budget and split giving one log-loss
            deviation per draw (shape ``(S, ...)``), drawn once with
            ``np.random.default_rng(seed)``.  The decision functions apply it when they are
            given these draws.  Needs one curve per draw (no group axis).
        seed : int, numpy.random.Generator or None, default 0
            Seeds the effects of a new group (unless ``rng`` is given) and, separately, the
            discrepancy's deviates (each part gets ``np.random.default_rng(seed)``; a
            Generator is shared, the group effects drawn first).
        rng : numpy.random.Generator, optional
            Generator of a new group's effects (default ``np.random.default_rng(seed)``).
        flops_per_token : float, optional
            The FLOP convention carried by the draws (and by a discrepancy measured along
            ``N``); default the fit's own, :attr:`flops_per_token`.

        Returns
        -------
        PosteriorDraws
            A dict of numpy arrays, flattened over chains: shape ``(S,)`` (``S = chains x
            draws``), or ``(S, G)`` for per-group parameters when ``group`` is omitted.  Its
            attributes ``law``, ``flops_per_token``, ``group`` and ``deviation`` tell the
            decision functions how to read it.

        Raises
        ------
        ValueError
            An unknown ``kind`` or group, or ``group`` given for a fit without groups.
        KeyError
            A name that is not in the posterior (or not a parameter of the requested kind).
        NewGroupError
            ``group="new"`` (or an unobserved level) when a parameter is independent per
            group, so it has no population to draw from.

        Examples
        --------
        >>> d = fit.draws()
        >>> d["alpha"].shape                  # chains x draws
        (4000,)
        >>> sorted(fit.draws(noise=True))     # natural parameters and the noise's
        ['A', 'B', 'E', 'alpha', 'beta', 'fail_p', 'fail_size', 'nu', 'sigma']
        >>> fit.run_failures().k              # two runs failed: hence fail_p and fail_size
        2
        >>> fit.draws(kind="noise")["sigma"].shape
        (4000,)
        """
        from bayescale.modeling.spec import NOISE_PARAMS

        if kind not in ("natural", "sampled", "noise"):
            raise ValueError(f"kind must be 'natural', 'sampled' or 'noise', not {kind!r}")
        k = self.flops_per_token if flops_per_token is None else float(flops_per_token)
        noise_names = list(NOISE_PARAMS[self.spec.likelihood])
        if group is not None and not self.groups:
            if group != "all":
                raise ValueError(f"group={group!r} was given but this fit has no groups; omit "
                                 "group=")
            group = None
        names_given = names
        failures = None
        if kind == "noise" or group is None:
            if names is None:
                names = {"natural": self.law.natural, "sampled": self.law.param_names,
                         "noise": noise_names}[kind]
                if noise and kind != "noise":
                    names = [*names, *noise_names]
            out = self._posterior_arrays(names)
            if (noise or kind == "noise") and names_given is None:
                failures = self._failures_into(out, group)
        else:
            from bayescale.posterior.hierarchy import _group_draws

            sampled = _group_draws(self, group, kind="sampled",
                                       rng=rng if rng is not None else np.random.default_rng(
                                           seed))
            params = sampled if kind == "sampled" else self.law.to_natural(sampled,
                                                                           self.reference)
            size = next(iter(sampled.values())).shape[0]
            order = self.law.param_names if kind == "sampled" else self.law.natural
            params = {n: np.broadcast_to(np.asarray(params[n], dtype=float), (size,)).copy()
                      if kind == "natural" else params[n] for n in order}
            if noise:
                params.update(self._posterior_arrays(noise_names))
                failures = self._failures_into(params, group)
            if names is None:
                out = params
            else:
                missing = [n for n in names if n not in params]
                if missing:
                    raise KeyError(f"{missing} are not {kind} parameters of group "
                                   f"{group!r}; they are {list(params)}")
                out = {n: params[n] for n in names}
        deviation = None
        if discrepancy is not None and discrepancy is not False:
            if self.groups and group is None:
                raise ValueError("the discrepancy is frozen for one curve per draw; pass "
                                 "group=<a group> (or 'new') for a hierarchical fit")
            n_draws = next(iter(out.values())).shape[0] if out else self._n_draws()
            deviation = frozen_deviation(self, discrepancy, group, n_draws,
                                         np.random.default_rng(seed), k)
        return PosteriorDraws(out, law=self.law, flops_per_token=k, group=group,
                              deviation=deviation,
                              failures=failures if set(out) >= {"fail_p", "fail_size"} else None)

    def _failures_into(self, out: dict, group: Any) -> Any:
        """Add ``fail_p`` (at the runs' median) and ``fail_size`` to ``out``; the frozen
        failures they come from, or None."""
        fr = self.frozen_failures(group)
        if fr is not None:
            out.update({"fail_p": fr.p(), "fail_size": fr.fail_size})
        return fr

    def _posterior_arrays(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The posterior variables ``names``, flattened over chains."""
        post = self.tree["posterior"]
        out = {}
        for n in names:
            if n not in post.data_vars:
                raise KeyError(f"{n!r} is not in the posterior; it has {list(post.data_vars)}")
            a = np.asarray(post[n])
            out[n] = a.reshape((a.shape[0] * a.shape[1], *a.shape[2:]))
        return out

    def _n_draws(self) -> int:
        post = self.tree["posterior"]
        return int(post.sizes["chain"] * post.sizes["draw"])

    @property
    def status(self) -> str:
        """``"ok"``, or ``"failed diagnostics"`` when any sampler check failed (see :meth:`check`).

        Examples
        --------
        >>> fit.status
        'ok'
        """
        return self.diagnostics.status

    @property
    def warnings(self) -> list[dict[str, str]]:
        """The bayescale warnings the fit raised, kept with it (and in its saved file).

        One ``{"code", "severity", "message"}`` per warning: the runs table's data warnings
        (``DataWarning``, ``MixedSetupWarning``: severity ``"medium"``) and failed diagnostics
        (``ConvergenceWarning``: ``"high"``), so a script, a report or a colleague who loads the
        file later sees what the person who fitted it was told.

        Examples
        --------
        >>> [w["code"] for w in fit.warnings]
        []
        >>> stop = [w for w in fit.warnings if w["severity"] == "high"]   # a script's rule
        """
        raw = self.meta.get("warnings") or "[]"
        try:
            records = json.loads(raw)
        except (TypeError, ValueError):  # a hand-edited file: say so rather than fail
            return [{"code": "UnreadableWarnings", "severity": "low", "message": str(raw)}]
        return [dict(r) for r in records if isinstance(r, Mapping)]

    @property
    def data_warnings(self) -> list[dict[str, str]]:
        """:attr:`warnings` about the runs table: all but failed diagnostics, which
        :attr:`diagnostics` reports itself.

        Examples
        --------
        >>> fit.data_warnings       # a clean runs table
        []
        """
        return [w for w in self.warnings if w.get("code") != "ConvergenceWarning"]

    def data_warning_lines(self) -> list[str]:
        """:attr:`data_warnings`, one line each, as the repr and ``bayescale summary`` print
        them.

        Examples
        --------
        >>> fit.data_warning_lines()       # a clean runs table
        []
        """
        return [f"warning [{w.get('code', 'warning')}]: {w.get('message', '')}"
                for w in self.data_warnings]

    def check(self) -> pd.DataFrame:
        """The sampler checks: divergences, R-hat, bulk / tail ESS and E-BFMI, with advice.

        Returns
        -------
        pandas.DataFrame
            One row per check with ``value``, ``threshold``, ``ok`` and ``advice`` (what to do
            when the check failed).

        Examples
        --------
        >>> fit.check()[["threshold", "ok"]]
                     threshold    ok
        check
        divergences       == 0  True
        max_rhat       <= 1.01  True
        min_ess_bulk    >= 400  True
        min_ess_tail    >= 400  True
        min_bfmi        >= 0.3  True
        """
        return self.diagnostics.table()

    def summary(self, var_names: Sequence[str] | None = None, *, ci: float = 0.95,
                kind: str = "natural") -> pd.DataFrame:
        """Posterior summary table: mean, sd, median, interval, R-hat, ESS, MCSE.

        The table's ``attrs`` carry the fit's ``status`` (``"ok"`` or ``"failed diagnostics"``)
        and the ``diagnostics`` text with advice; :meth:`check` gives the checks as a table.

        Parameters
        ----------
        var_names : sequence of str, optional
            Defaults to the law's natural parameters plus the noise parameters.
        ci : float
            Equal-tailed credible interval probability.
        kind : {"natural", "sampled"}
            Which parameterisation to summarise when ``var_names`` is omitted.

        Examples
        --------
        >>> s = fit.summary()
        >>> s.loc["alpha", ["median", "lo_95", "hi_95"]].round(2)
        median    0.35
        lo_95     0.33
        hi_95     0.36
        Name: alpha, dtype: float64
        >>> bool(s["r_hat"].max() <= 1.01)
        True
        """
        from bayescale.modeling.spec import NOISE_PARAMS
        from bayescale.posterior.convergence import summary_table

        if var_names is None:
            base = self.law.natural if kind == "natural" else self.law.param_names
            var_names = [*base, *NOISE_PARAMS[self.spec.likelihood]]
        post = self.tree["posterior"].to_dataset()[list(var_names)]
        s = summary_table(post, ci=ci)  # arviz.summary's numbers, without importing ArviZ
        tag = f"{round(100 * ci):d}"
        s = s.rename(columns={f"eti{tag}_lb": f"lo_{tag}", f"eti{tag}_ub": f"hi_{tag}"})
        med = {}
        for name in var_names:
            a = np.asarray(post[name])
            m = np.median(a.reshape(a.shape[0] * a.shape[1], -1), axis=0)
            if a.ndim == 2:
                med[name] = float(m[0])
            else:
                coords = post[name].coords[post[name].dims[2]].values
                for c, v in zip(coords, m, strict=True):
                    med[f"{name}[{c}]"] = float(v)
        s.insert(2, "median", pd.Series(med))
        s.attrs = {"status": self.status, "diagnostics": str(self.diagnostics)}
        return s

    # ------------------------------------------------------------------ prediction
    def predict(
        self,
        N: Any = None,
        D: Any = None,
        C: Any = None,
        *,
        group: str | Mapping[str, str] | None = None,
        noise: bool = False,
        ci: Sequence[float] = DEFAULT_CI,
        seed: int | None = 0,
        flops: float | None = None,
        discrepancy: Any = True,
        **inputs: Any,
    ) -> Prediction:
        """Posterior predictive loss at new inputs.

        Parameters
        ----------
        N, D, C : array-like, optional
            The law's inputs (broadcast together).  For an (N, D) law, give two of N, D, C
            (``C = flops N D``).
        group : str or mapping, optional
            For hierarchical fits: an existing group label (``fit.groups``), ``"new"`` for an
            unseen group drawn from the population, or a mapping of each grouping column to a
            value or ``"new"`` (``{"dataset": "rw", "family": "new"}``; an unobserved
            combination of observed values under a crossed grouping).  See
            :meth:`draws`.
        noise : bool, default False
            False: the mean law (uncertainty about the curve).  True: a new run's loss,
            including run-to-run noise from the likelihood and, when some of the fit's runs
            failed, the chance of failing like them (:meth:`run_failures`).  The rule
            bayescale follows everywhere: a question about *a training run* counts its noise
            (``noise=True``, the default of :func:`bayescale.prob_target` and
            :func:`bayescale.budget_for`); a question about *the law* does not
            (``noise=False``, the default here).
        ci : sequence of float
            Interval levels for the table.
        seed : int or None
            Seed for the noise draws (and new-group draws).
        flops : float, optional
            FLOPs per parameter per token used to convert C (``C = flops N D``); default the
            fit's own convention, :attr:`flops_per_token` (6 unless fitted with another).
        discrepancy : bool, "prior" or Discrepancy
            Extrapolation discrepancy term: beyond the fitted runs (in compute, or in tokens
            per parameter) each draw of the curve gets one heavy-tailed deviation that grows
            with the distance; no effect inside the data.  True (default): the fit's own,
            :meth:`default_discrepancy` (the empirical prior learned across published scaling
            studies, updated by this fit's runs' leave-future-out splits; the inner fits run
            once per fit, on first use; laws of a target other than loss get none);
            ``"prior"``: the empirical prior alone
            (:meth:`Discrepancy.default <bayescale.Discrepancy.default>`, a study like none
            seen yet); a :class:`~bayescale.Discrepancy`, e.g. from
            :func:`bayescale.learn_discrepancy` with other splits; False or
            None: off.  Every row carries its distance from the data either way
            (``extrapolation``, ``decades_C``, ``tokens_per_param``, ``decades_tpp``).
        **inputs
            Other inputs of the law, e.g. ``U=`` (unique tokens) for the data-constrained law or
            ``loss=`` for the link laws; for those the prediction is of the law's target column.

        Examples
        --------
        >>> table = fit.predict(N=[1e9, 1e10], D=[2e10, 2e11], noise=True).table
        >>> table[["N", "D", "extrapolation", "median", "lo_95", "hi_95"]].round(3)
                      N             D extrapolation  median  lo_95  hi_95
        0  1.000000e+09  2.000000e+10        inside    2.53   2.49   2.57
        1  1.000000e+10  2.000000e+11        inside    2.13   2.10   2.16
        """
        import xarray as xr

        from bayescale.posterior.hierarchy import group_label

        extra = inputs
        flops = self.flops_per_token if flops is None else float(flops)
        inputs = self._inputs(N=N, D=D, C=C, flops=flops, other=extra)
        n_points = len(next(iter(inputs.values())))
        rng = np.random.default_rng(seed)
        params = self._curve_draws(group, rng)
        chains = self.tree["posterior"].sizes["chain"]
        ndraw = self.tree["posterior"].sizes["draw"]
        p2 = {k: v.reshape(-1, 1) for k, v in params.items()}
        log_mu = self.law.log_loss(p2, {k: v[None, :] for k, v in inputs.items()},
                                   self.reference)
        log_mu = np.broadcast_to(log_mu, (chains * ndraw, n_points)).copy()
        if noise:
            from bayescale.modeling.noise import failure_covariate, new_run
            from bayescale.modeling.spec import NOISE_PARAMS

            # each point fails at its own epochs' or tokens per parameter's rate
            at = failure_covariate(self.law.inputs, inputs)
            if not at:
                noise_draws = self.draws(kind="noise", group=group)
            else:
                noise_draws = self.draws(kind="noise", group=group,
                                         names=list(NOISE_PARAMS[self.spec.likelihood]))
                noise_draws.update(self.failure_draws(group, **at))
            log_mu = new_run(log_mu, noise_draws, rng)
        from bayescale.posterior.discrepancy import forecast_distance, resolve_discrepancy

        disc = resolve_discrepancy(self, discrepancy, group)
        along, distance = forecast_distance(self, {"N": N, "D": D, "C": C, **extra, **inputs},
                                            n_points, group=group, flops=flops,
                                            by="C" if disc is None else disc.by)
        if disc is not None:
            if along is None:
                along = self._along(disc.by, inputs, extra, N=N, D=D, C=C, flops=flops)
            log_mu = disc.perturb(log_mu, along, rng,
                                 tpp=distance["tokens_per_param"].to_numpy())
        loss = np.exp(log_mu)
        da = xr.DataArray(
            loss.reshape(chains, ndraw, n_points),
            dims=("chain", "draw", "point"),
            coords={"chain": np.arange(chains), "draw": np.arange(ndraw),
                    "point": np.arange(n_points)},
            name=self.law.target,
            attrs={"noise": int(noise), "group": "" if group is None else group_label(group)},
        )
        table = pd.DataFrame(inputs)
        if group is not None:
            table.insert(0, "group", group_label(group))
        table = pd.concat([table, distance, interval_table(loss, ci)], axis=1)
        if disc is not None and "extrapolation" in table:
            from bayescale.posterior.discrepancy import no_mean_beyond

            table["mean"] = no_mean_beyond(table["mean"], table["extrapolation"])
        return Prediction(draws=da, table=table, noise=noise)

    def _along(self, by, inputs, extra, *, N, D, C, flops) -> np.ndarray:
        """Values of ``by`` (C or N) at the prediction points, for the discrepancy term."""
        if by in inputs:
            return inputs[by]
        n_points = len(next(iter(inputs.values())))
        given = {k: v for k, v in {"N": N, "D": D, "C": C, **extra}.items() if v is not None}
        if by == "C" and "C" not in given and {"N", "D"} <= set(given):
            given["C"] = flops * np.asarray(given["N"], float) * np.asarray(given["D"], float)
        if by not in given:
            raise ValueError(
                f"the discrepancy term grows with {by}, so pass {by}= (or N and D) to predict"
            )
        return np.broadcast_to(np.atleast_1d(np.asarray(given[by], dtype=float)).ravel(),
                               (n_points,))

    def _inputs(self, *, N, D, C, flops, other=None) -> dict[str, np.ndarray]:
        law = self.law
        other = dict(other or {})
        unknown = [k for k in other if k not in law.inputs]
        if unknown:
            raise ValueError(
                f"law {law.name!r} reads {list(law.inputs)}; it has no input(s) {unknown}"
            )
        given = {k: v for k, v in {"N": N, "D": D, "C": C, **other}.items() if v is not None}
        if law.inputs == ("C",):
            if "C" not in given:
                if "N" in given and "D" in given:
                    given["C"] = flops * np.asarray(given["N"], float) * np.asarray(given["D"],
                                                                                     float)
                else:
                    raise ValueError(f"law {law.name!r} needs C (or N and D) to predict")
        else:
            if "D" not in given and {"N", "C"} <= set(given):
                given["D"] = np.asarray(given["C"], float) / (flops * np.asarray(given["N"],
                                                                                 float))
            if "N" not in given and {"D", "C"} <= set(given):
                given["N"] = np.asarray(given["C"], float) / (flops * np.asarray(given["D"],
                                                                                 float))
            missing = [k for k in law.inputs if k not in given]
            if missing:
                raise ValueError(
                    f"law {law.name!r} needs {list(law.inputs)} to predict (or C with one of "
                    f"them); missing {missing}"
                )
        arrays = np.broadcast_arrays(*[np.atleast_1d(np.asarray(given[k], dtype=float))
                                       for k in law.inputs])
        out = {}
        for k, a in zip(law.inputs, arrays, strict=True):
            a = a.ravel()
            if not np.all(np.isfinite(a)) or np.any(a <= 0):
                raise ValueError(f"{k} must be positive and finite to predict, got {a[a <= 0][:3]}")
            out[k] = a
        return out

    def params_for_group(self, group: str | Mapping[str, str] | None,
                         rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Deprecated: use ``fit.draws(kind="sampled", group=group, rng=rng)``.

        The law's sampled parameters for ``group``, one value per posterior draw; a fit with
        groups needs a group (the same arrays as :meth:`draws` with ``kind="sampled"``).

        Examples
        --------
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     p = fit.params_for_group(None)
        >>> all((p[k] == fit.draws(kind="sampled")[k]).all() for k in p)
        True
        """
        import warnings

        warnings.warn("ScalingFit.params_for_group is deprecated; use fit.draws("
                      "kind='sampled', group=group, rng=rng)", DeprecationWarning,
                      stacklevel=2)
        return dict(self._curve_draws(group, rng))

    def _curve_draws(self, group: Any, rng: np.random.Generator | None) -> PosteriorDraws:
        """Sampled parameters of one curve per draw: ``draws(kind="sampled")`` with a group
        required for a hierarchical fit (what :meth:`predict` evaluates the law with)."""
        if self.groups and group is None:
            raise ValueError(
                f"this fit has groups {self.groups}; pass group=<one of them> or group='new' "
                "for an unseen group"
            )
        return self.draws(kind="sampled", group=group, rng=rng)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fit to a netCDF file atomically (temporary file, then rename).

        The file holds a ``posterior_predictive`` group (the observed ``log_loss`` replicated
        at every run, one draw per posterior draw, run-to-run noise included), so ArviZ's
        predictive checks work on the saved and reloaded tree
        (``arviz.plot_ppc_dist(bs.load_fit(path).tree)``).  It is drawn with numpy from the
        posterior the first time the fit is saved and kept in ``fit.tree``.  Once the fit has
        learned its default discrepancy (:meth:`default_discrepancy`, on the first prediction
        beyond the runs) the file holds it too, in a ``discrepancy`` group (a hierarchy's, one
        ``discrepancy_<k>`` group per observed group, its label in ``attrs["group"]``), so the
        reloaded fit predicts the same without refitting the inner splits.

        Examples
        --------
        >>> fit.save("chinchilla_fit.nc")
        PosixPath('chinchilla_fit.nc')
        """
        import xarray as xr

        path = Path(path)
        if _PPC_GROUP not in self.tree.children:  # computed once, kept with the fit
            self.tree[_PPC_GROUP] = xr.DataTree(_posterior_predictive(self))
        tree = self.tree.copy()
        runs = self.runs.reset_index(drop=True).copy()
        # nullable integers (Int64: seeds, batch sizes) have no netCDF type: stored as floats
        # with NaN for <NA> and restored on load
        nullable = [c for c in runs.columns if isinstance(runs[c].dtype, pd.api.extensions
                                                          .ExtensionDtype)
                    and pd.api.types.is_integer_dtype(runs[c].dtype)]
        text = [c for c in runs.columns if _is_text(runs[c].dtype)]
        for c in runs.columns:
            if c in nullable:
                runs[c] = runs[c].astype("float64")
            elif c in text:
                # each value as the data hash reads it (str(v): "nan" for a missing one; pandas
                # 3's astype(str) keeps NaN, which netCDF cannot store in a text variable)
                runs[c] = pd.Series([str(v) for v in runs[c].to_numpy()], index=runs.index,
                                    dtype=object)
            elif runs[c].dtype == bool:
                runs[c] = runs[c].astype("int8")
        ds = xr.Dataset.from_dataframe(runs.rename_axis("row"))
        ds.attrs["bool_columns"] = json.dumps(
            [c for c in self.runs.columns if self.runs[c].dtype == bool])
        ds.attrs["nullable_int_columns"] = json.dumps(nullable)
        # text columns come back from netCDF as floats when all empty: restored on load
        ds.attrs["text_columns"] = json.dumps(text)
        # Text metadata of the runs (dataset name, citation, provenance) travels with the fit.
        ds.attrs["runs_attrs"] = json.dumps(
            {str(k): v for k, v in self.runs.attrs.items() if isinstance(v, str)})
        tree[_RUNS_GROUP] = xr.DataTree(ds)
        if self._fit_discrepancy is not None:  # learned: the reloaded fit predicts the same
            from bayescale.posterior.discrepancy import discrepancy_to_dataset

            learned = self._fit_discrepancy
            if isinstance(learned, dict):  # one per group of a hierarchy
                for k, (label, disc) in enumerate(learned.items()):
                    ds = discrepancy_to_dataset(disc)
                    ds.attrs["group"] = label
                    tree[f"{_DISC_GROUP}_{k}"] = xr.DataTree(ds)
            else:
                tree[_DISC_GROUP] = xr.DataTree(discrepancy_to_dataset(learned))
        attrs = {
            **{k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in self.meta.items()},
            "spec_toml": self.spec.to_toml(),
            "reference": json.dumps(self.reference),
            "diagnostics": self.diagnostics.to_json(),
        }
        tree.attrs = {**{k: v for k, v in tree.attrs.items() if isinstance(v, str | int | float)},
                      **attrs}
        with atomic_path(path) as tmp:
            # uncompressed: zlib saved 7% of a fit's size (MCMC draws do not compress) and doubled
            # the time to write it
            tree.to_netcdf(tmp, engine="h5netcdf")
        return path

    # ------------------------------------------------------------------ display
    def plot(self, **kwargs: Any):
        """The fit's figure: the runs and the law's posterior median and band, loss against compute.

        A shortcut for :func:`bayescale.plots.plot_fit` (``group=``, ``noise=``, ``ci=``,
        ``extend=``, ``ax=``... are passed on).

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> fig = fit.plot(extend=1.5)
        >>> fig.savefig("fit.png")
        """
        from bayescale.plots.fit_plot import plot_fit

        return plot_fit(self, **kwargs)

    def __repr__(self) -> str:
        return self.describe()

    def describe(self, *, data_warnings: bool = True) -> str:
        """The fit in a few lines (its repr): law, runs, posterior summary, diagnostics and the
        stored data warnings; ``data_warnings=False`` leaves those out (``bayescale fit`` has
        just printed them once, as they were raised).

        Examples
        --------
        >>> print(fit.describe().splitlines()[0])     # doctest: +ELLIPSIS
        ScalingFit: law 'chinchilla' (L(N, D) = E + A / N^alpha + B / D^beta), ... runs, ...
        """
        s = self.summary(ci=0.95)
        head = (f"ScalingFit: law {self.law.name!r} ({self.law.formula}), "
                f"{len(self.runs)} runs, likelihood {self.spec.likelihood}")
        if self.groups:
            head += f", {len(self.groups)} groups by {list(self.spec.groups)}"
        cols = ["median", "lo_95", "hi_95", "r_hat", "ess_bulk"]
        data = "".join(f"\n{line}" for line in self.data_warning_lines()) if data_warnings \
            else ""
        try:
            failures = self.run_failures()
        except Exception:  # a repr is never lost to an optional line
            failures = None
        failed = f"\nfailed runs: {failures}" if failures is not None and failures.k else ""
        if failed and self.groups:
            try:
                by = sorted(((self.group_failures(g), g) for g in self.groups),
                            key=lambda fg: -fg[0].rate)
                hit = [f"{g} {f.k} of {f.n} ({f.rate:.1%})" for f, g in by if f.k][:5]
                failed += "; by group, each its own rate (fit.group_failures): " + ", ".join(hit)
                if len(by) > len(hit):
                    failed += f"; the other groups at most {by[len(hit)][0].rate:.1%}"
            except Exception:  # a repr is never lost to an optional line
                pass
        return (f"{head}\n{s[cols].to_string(float_format=_fmt)}\n{self.diagnostics}{failed}"
                f"{data}")

    def _repr_html_(self) -> str:
        s = self.summary(ci=0.95)[["median", "lo_95", "hi_95", "r_hat", "ess_bulk"]]
        status = ("<span style='color:#1a7f37'>diagnostics ok</span>" if self.diagnostics.ok
                  else "<span style='color:#cf222e'>diagnostics failed</span>")
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in
                           [*self.diagnostics.problems, *self.data_warning_lines()])
        return (
            f"<div><b>ScalingFit</b> &middot; law <code>{html.escape(self.law.name)}</code> "
            f"({html.escape(self.law.formula)}) &middot; {len(self.runs)} runs &middot; "
            f"{html.escape(self.spec.likelihood)} likelihood &middot; {status}"
            f"{s.to_html(float_format=_fmt, border=0)}"
            f"<small>{html.escape(str(self.diagnostics).splitlines()[0])}</small>"
            f"{'<ul>' + problems + '</ul>' if problems else ''}</div>"
        )


def _posterior_predictive(fit: ScalingFit):
    """Replicates of the observed log loss at the fit's runs, one per posterior draw (numpy).

    The law at each run's inputs (each run's group's parameters in a hierarchy) plus one draw of
    run-to-run noise (:func:`bayescale.modeling.noise.perturb`), seeded by the fit's seed.
    """
    import xarray as xr

    from bayescale.modeling.model import OBS_DIM, OBSERVED
    from bayescale.modeling.noise import perturb
    from bayescale.posterior.discrepancy import log_mu_draws

    try:
        seed = int(fit.meta.get("seed"))
    except (TypeError, ValueError):
        seed = 0
    rng = np.random.default_rng([abs(seed), 2])
    log_mu = log_mu_draws(fit, fit.runs, rng)
    noise = fit.draws(kind="noise")
    y = perturb(log_mu, noise["sigma"], noise.get("nu"), rng)
    post = fit.tree["posterior"]
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    obs = fit.tree["observed_data"][OBSERVED]
    dim = obs.dims[0] if obs.dims else OBS_DIM
    da = xr.DataArray(
        y.reshape(chains, draws, -1), dims=("chain", "draw", dim),
        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                dim: obs[dim].values},
        name=OBSERVED,
    )
    return xr.Dataset(
        {OBSERVED: da},
        attrs={"description": "the observed log loss replicated at every run: the law at the "
               "run's inputs plus run-to-run noise, one draw per posterior draw (numpy, "
               "bayescale.modeling.noise.perturb)"},
    )


def _is_text(dtype: Any) -> bool:
    """A runs column stored as text: object, pandas string (``str`` in pandas 3) or category."""
    return (pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(dtype))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _version() -> str:
    from bayescale.version import __version__

    return __version__


def _nutpie_version(sampler: str) -> dict[str, str]:
    if sampler != "nutpie":
        return {}
    import nutpie

    return {"nutpie": nutpie.__version__}


def load_fit(path: str | os.PathLike, *, runs: pd.DataFrame | None = None,
             spec: ModelSpec | None = None) -> ScalingFit:
    """Load a fit saved with :meth:`ScalingFit.save`, checking its provenance.

    Parameters
    ----------
    path : path
        The netCDF file.
    runs : DataFrame, optional
        If given, must be the same runs the fit was made from (compared by hash).
    spec : ModelSpec, optional
        If given, must be the spec the fit was made with (compared by hash).

    Raises
    ------
    ProvenanceError
        If the file is not a bayescale fit, was written by an incompatible version, or does not
        match ``runs`` / ``spec``.

    Examples
    --------
    >>> import bayescale
    >>> path = fit.save("chinchilla_fit.nc")
    >>> bayescale.load_fit(path).status
    'ok'
    """
    import tomllib

    import xarray as xr

    from bayescale.data.runs import validate_runs
    from bayescale.laws import LAWS

    path = Path(path)
    if not path.exists():
        raise ProvenanceError(f"no fit file at {str(path)!r}")
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
    except Exception as exc:
        raise ProvenanceError(f"{str(path)!r} is not a readable netCDF fit: {exc}") from None
    attrs = dict(tree.attrs)
    if "spec_toml" not in attrs or "format_version" not in attrs:
        raise ProvenanceError(f"{str(path)!r} is a netCDF file but not a bayescale fit")
    if str(attrs["format_version"]) != FORMAT_VERSION:
        raise ProvenanceError(
            f"{str(path)!r} uses fit format {attrs['format_version']}, this bayescale "
            f"({_version()}) reads format {FORMAT_VERSION}; refit or install the bayescale "
            f"version that wrote it ({attrs.get('bayescale_version')})"
        )
    if attrs.get("law") not in LAWS:
        raise ProvenanceError(
            f"{str(path)!r} was fitted with law {attrs.get('law')!r}, which is not registered "
            "here; register it (bayescale.laws.register_law) before loading"
        )
    saved_spec = ModelSpec.from_dict(tomllib.loads(attrs["spec_toml"]), where=str(path))
    if saved_spec.hash != attrs["spec_hash"]:
        raise ProvenanceError(
            f"{str(path)!r}: the stored spec does not match its recorded hash (the file was "
            "edited or corrupted); refit"
        )
    # a hierarchical spec with centered="auto" is compared once resolved on the stored runs
    auto = spec is not None and bool(spec.groups) and spec.centered == "auto"
    if spec is not None and not auto and spec.hash != saved_spec.hash:
        raise ProvenanceError(
            f"{str(path)!r} was fitted with a different spec (hash {saved_spec.hash[:12]} vs "
            f"{spec.hash[:12]}); refit with your spec or load without spec="
        )
    runs_ds = tree[_RUNS_GROUP].to_dataset()
    bool_cols = json.loads(runs_ds.attrs.get("bool_columns", "[]"))
    table = runs_ds.to_dataframe().reset_index(drop=True)
    for c in bool_cols:
        table[c] = table[c].astype(bool)
    for c in json.loads(runs_ds.attrs.get("nullable_int_columns", "[]")):
        table[c] = table[c].astype("Int64")
    for c in json.loads(runs_ds.attrs.get("text_columns", "[]")):
        if c in table.columns and table[c].dtype.kind == "f":  # all-empty text read as NaN
            table[c] = table[c].astype(object).where(table[c].notna(), "")
    table.attrs = {**json.loads(runs_ds.attrs.get("runs_attrs", "{}")),
                   "flops": json.loads(attrs.get("settings", "{}")).get("flops", "")}
    if runs_hash(table) != attrs["data_hash"]:
        raise ProvenanceError(
            f"{str(path)!r}: the stored runs do not match the recorded data hash; refit"
        )
    if auto:
        from bayescale.modeling.model import resolve_centered

        if resolve_centered(table, spec).hash != saved_spec.hash:
            raise ProvenanceError(
                f"{str(path)!r} was fitted with a different spec (hash {saved_spec.hash[:12]}); "
                "refit with your spec or load without spec="
            )
    if runs is not None:
        law = saved_spec.law_obj
        theirs = validate_runs(runs, require=(*law.inputs, law.target))
        cols = [c for c in table.columns if c in theirs.columns]
        if runs_hash(theirs.reset_index(drop=True), cols) != runs_hash(table, cols):
            raise ProvenanceError(
                f"{str(path)!r} was fitted on different runs than the ones given; refit on "
                "these runs"
            )
    del tree[_RUNS_GROUP]
    from bayescale.posterior.discrepancy import discrepancy_from_dataset

    disc: Any = None
    if _DISC_GROUP in tree.children:
        disc = discrepancy_from_dataset(tree[_DISC_GROUP].to_dataset())
        del tree[_DISC_GROUP]
    per_group = sorted((k for k in tree.children if k.startswith(f"{_DISC_GROUP}_")),
                       key=lambda k: int(k.rsplit("_", 1)[1]))
    if per_group:
        disc = {}
        for k in per_group:
            ds = tree[k].to_dataset()
            disc[str(ds.attrs["group"])] = discrepancy_from_dataset(ds)
            del tree[k]
    meta = {k: attrs[k] for k in ("bayescale_version", "format_version", "law", "spec_hash",
                                  "data_hash", "seed", "sampler", "settings", "versions",
                                  "created", "status", "warnings", "flops_per_token")
            if k in attrs}
    if "flops_per_token" not in meta:  # saved before fits stored their FLOP convention
        meta["flops_per_token"] = flops_per_token_of(table.attrs.get("flops", ""))
    meta["flops_per_token"] = float(meta["flops_per_token"])
    reference = json.loads(attrs["reference"])
    diag = Diagnostics.from_json(attrs["diagnostics"])
    if saved_spec.groups:
        table.attrs["groups"] = sorted(group_labels(table, saved_spec.groups).unique())
    fit = ScalingFit(tree, saved_spec, table, reference, diag, meta)
    fit._fit_discrepancy = disc
    if _PPC_GROUP not in tree.children:  # saved before fits carried one: drawn now
        fit.tree[_PPC_GROUP] = xr.DataTree(_posterior_predictive(fit))
    return fit
