"""Sampler diagnostics: divergences, R-hat, ESS and E-BFMI, with concrete advice."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Diagnostics", "diagnose"]

RHAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100
BFMI_MIN = 0.3


@dataclass(frozen=True)
class Diagnostics:
    """Summary of a fit's sampling diagnostics.

    Attributes
    ----------
    divergences : int
        Divergent transitions after warm-up.
    max_rhat : float
        Largest rank-normalised split R-hat over the free parameters.
    min_ess_bulk, min_ess_tail : float
        Smallest bulk / tail effective sample sizes.
    min_bfmi : float
        Smallest E-BFMI over chains.
    worst : dict
        Parameter with the largest R-hat (``"rhat"``) and the smallest ESS (``"ess"``), and
        (``"modes"``) one whose chains sit in separate modes, if any.
    problems : list of str
        Plain-language description of each failed check with advice.
    notes : list of str
        Advisories that do not fail the fit (for example a Student-t ``nu`` at its lower bound,
        naming the runs the likelihood treats as outliers).

    Examples
    --------
    >>> from bayescale.posterior.diagnostics import Diagnostics
    >>> d = Diagnostics(0, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, [])
    >>> d.ok
    True
    """

    divergences: int
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    min_bfmi: float
    chains: int
    draws: int
    worst: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    @property
    def status(self) -> str:
        """``"ok"`` or ``"failed diagnostics"`` (the value saved fits record)."""
        return "ok" if self.ok else "failed diagnostics"

    def table(self):
        """One row per check: value, threshold, pass / fail and advice, as a DataFrame.

        Examples
        --------
        >>> from bayescale.posterior.diagnostics import Diagnostics
        >>> d = Diagnostics(3, 1.001, 900.0, 800.0, 0.9, 4, 1000, {}, ["3 divergent ..."])
        >>> t = d.table()
        >>> bool(t.loc["divergences", "ok"]), bool(t.loc["max_rhat", "ok"])
        (False, True)
        """
        import pandas as pd

        ess_min = float(ESS_MIN_PER_CHAIN * self.chains)
        checks = [
            ("divergences", float(self.divergences), "== 0", self.divergences == 0, "divergent"),
            ("max_rhat", self.max_rhat, f"<= {RHAT_MAX}",
             self.chains < 2 or not self.max_rhat > RHAT_MAX, "R-hat"),
            ("min_ess_bulk", self.min_ess_bulk, f">= {ess_min:g}",
             not self.min_ess_bulk < ess_min, "effective sample size"),
            ("min_ess_tail", self.min_ess_tail, f">= {ess_min:g}",
             not self.min_ess_tail < ess_min, "effective sample size"),
            ("min_bfmi", self.min_bfmi, f">= {BFMI_MIN}",
             not (np.isfinite(self.min_bfmi) and self.min_bfmi < BFMI_MIN), "E-BFMI"),
        ]
        rows = {}
        for name, value, threshold, ok, key in checks:
            advice = "" if ok else next((p for p in self.problems if key in p), "")
            rows[name] = {"value": value, "threshold": threshold, "ok": bool(ok),
                          "advice": advice}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "check"
        return out

    def to_json(self) -> str:
        """JSON text (stored in saved fits)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Diagnostics:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))

    def __str__(self) -> str:
        head = (
            f"divergences {self.divergences}, max R-hat {self.max_rhat:.3f}, "
            f"min ESS bulk {self.min_ess_bulk:.0f} / tail {self.min_ess_tail:.0f}, "
            f"min E-BFMI {self.min_bfmi:.2f} ({self.chains} chains x {self.draws} draws)"
        )
        notes = "".join(f"\n  note: {n}" for n in self.notes)
        if self.ok:
            return head + ": all checks passed" + notes
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems) + notes


def _chain_modes(post, name: str) -> str:
    """A sentence when the chains of ``name`` sit in separate modes, else ``""``."""
    a = np.asarray(post[name])
    a = a.reshape(a.shape[0], a.shape[1], -1)
    worst, text = 0.0, ""
    for j in range(a.shape[2]):
        x = a[:, :, j]
        med = np.median(x, axis=1)
        iqr = np.quantile(x, 0.75, axis=1) - np.quantile(x, 0.25, axis=1)
        within = float(np.mean(iqr))
        gap = float(med.max() - med.min()) / max(within, 1e-300)
        # a mode is where a chain stays: its two halves agree (a slowly drifting chain's do not)
        half = x.shape[1] // 2
        drift = np.abs(np.median(x[:, :half], axis=1) - np.median(x[:, half:], axis=1))
        stationary = bool(np.all(drift < 0.5 * np.maximum(iqr, 1e-300)))
        if stationary and gap > 1.5 and gap > worst:
            worst = gap
            text = (f"the chains sit in different modes of {name!r} (chain medians "
                    + ", ".join(f"{m:.3g}" for m in np.sort(med)) + ")")
    return text


#: The advice's pointer to the automatic retry; :func:`bayescale.fit` removes it from the advice
#: of a fit the retry has already refitted (``bayescale.sampling.fit._limit_advice``).
RETRY_HINT = ", or retry=True"


def diagnose(tree: Any, var_names: list[str], settings: dict | None = None) -> Diagnostics:
    """Compute :class:`Diagnostics` from a DataTree with posterior and sample_stats.

    Parameters
    ----------
    tree : xarray.DataTree
        Result of sampling.
    var_names : list of str
        Free parameters to check (deterministics are functions of them).
    settings : dict, optional
        The sampler settings used (``target_accept``, ``draws``, ``tune``), so that advice
        never suggests a setting already in use.

    Examples
    --------
    >>> import numpy as np, arviz as az
    >>> rng = np.random.default_rng(0)
    >>> tree = az.from_dict({"posterior": {"a": rng.normal(size=(4, 500))},
    ...                      "sample_stats": {"diverging": np.zeros((4, 500), bool),
    ...                                       "energy": rng.normal(size=(4, 500))}})
    >>> diagnose(tree, ["a"]).divergences
    0
    """
    from bayescale.posterior import convergence as cv

    post = tree["posterior"].to_dataset()[var_names]
    chains = int(post.sizes["chain"])
    draws = int(post.sizes["draw"])
    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    div = int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else 0

    # per variable, its scalars' R-hat / bulk ESS / tail ESS (ArviZ's numbers, numpy only)
    per_var: dict[str, list[tuple[float, float, float]]] = {}
    for name in var_names:
        for _, a in cv._scalars(post[[name]]):
            per_var.setdefault(name, []).append(
                (cv.rhat(a) if chains > 1 else np.nan, cv.ess(a, "bulk"), cv.ess(a, "tail")))

    def _extreme(k, fn):
        best_name, best_val = "", None
        for name, values in per_var.items():
            v = float(fn(np.asarray([row[k] for row in values])))
            if np.isnan(v):
                continue
            if best_val is None or fn([v, best_val]) == v:
                best_name, best_val = name, v
        return best_name, (np.nan if best_val is None else best_val)

    rname, max_rhat = _extreme(0, np.nanmax) if chains > 1 else ("", 1.0)
    ename, min_ess_b = _extreme(1, np.nanmin)
    _, min_ess_t = _extreme(2, np.nanmin)
    min_bfmi = np.nan
    if stats is not None and "energy" in stats:
        min_bfmi = float(np.min(cv.bfmi(np.asarray(stats["energy"]))))

    settings = settings or {}
    modes_of = ""
    ta = float(settings.get("target_accept", 0.0) or 0.0)
    n_draws = int(settings.get("draws", draws) or draws)
    more = f"draws={2 * n_draws}, tune={2 * int(settings.get('tune', n_draws) or n_draws)}"
    problems = []
    if div:
        if ta < 0.99:
            fix = f"Refit with target_accept=0.99 (bayescale fit --target-accept 0.99{RETRY_HINT})"
        else:
            fix = ("target_accept is already 0.99, so a smaller step will not help: the "
                   "geometry is the problem (in a hierarchy, pool fewer parameters or add "
                   "groups; otherwise tighten weak priors or use a law with fewer parameters)")
        problems.append(
            f"{div} divergent transitions: the posterior has regions NUTS cannot explore, so "
            f"intervals may be wrong. {fix}"
        )
    if chains > 1 and max_rhat > RHAT_MAX:
        modes = _chain_modes(post, rname)
        if modes:
            modes_of = rname
            problems.append(
                f"R-hat {max_rhat:.3f} for {rname!r} exceeds {RHAT_MAX}: {modes}. More draws "
                "will not merge them; the runs do not decide between the two curves"
            )
        else:
            problems.append(
                f"R-hat {max_rhat:.3f} for {rname!r} exceeds {RHAT_MAX}: chains disagree. Run "
                f"longer ({more}{RETRY_HINT})"
            )
    if min_ess_b < ESS_MIN_PER_CHAIN * chains or min_ess_t < ESS_MIN_PER_CHAIN * chains:
        problems.append(
            f"effective sample size is low (bulk {min_ess_b:.0f}, tail {min_ess_t:.0f} for "
            f"{ename!r}; want {ESS_MIN_PER_CHAIN * chains}): interval ends are noisy. Increase "
            f"draws ({more}{RETRY_HINT})"
        )
    if np.isfinite(min_bfmi) and min_bfmi < BFMI_MIN:
        problems.append(
            f"E-BFMI {min_bfmi:.2f} < {BFMI_MIN}: the energy distribution is poorly explored, "
            "usually heavy tails or a funnel; in a hierarchical fit try pooling fewer parameters "
            "or tighter pool scales"
        )
    return Diagnostics(
        divergences=div,
        max_rhat=float(max_rhat),
        min_ess_bulk=float(min_ess_b),
        min_ess_tail=float(min_ess_t),
        min_bfmi=float(min_bfmi),
        chains=chains,
        draws=draws,
        worst={"rhat": rname, "ess": ename, **({"modes": modes_of} if modes_of else {})},
        problems=problems,
    )
