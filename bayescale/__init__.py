"""bayescale: Bayesian neural scaling laws with honest uncertainty.

The data flow is one way::

    runs table -> law -> model -> posterior -> predictions / decisions / comparisons -> report

Heavy dependencies (PyMC, PyTensor, ArviZ) are imported only when a function that needs them
is first used, so ``import bayescale`` is fast.

Examples
--------
>>> import bayescale as bs
>>> runs = bs.datasets.load("chinchilla", drop_outliers=True)
>>> fit = bs.fit(runs, law="chinchilla", seed=0, progressbar=False)
>>> fit.summary().loc[["alpha", "beta"], ["median", "lo_95", "hi_95"]].round(2)
       median  lo_95  hi_95
alpha    0.35   0.33   0.36
beta     0.36   0.34   0.38
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayescale.errors import (
    BayescaleError,
    BayescaleWarning,
    ConvergenceWarning,
    DataWarning,
    NewGroupError,
    ProvenanceError,
    RunsTableError,
    SpecError,
)
from bayescale.version import __version__

__all__ = [
    "BayescaleError",
    "BayescaleWarning",
    "Comparison",
    "ConvergenceWarning",
    "DataWarning",
    "Discrepancy",
    "ModelSpec",
    "NewGroupError",
    "ProvenanceError",
    "RunsTableError",
    "ScalingFit",
    "SpecError",
    "__version__",
    "allocate",
    "allocate_capped",
    "backtest",
    "backtest_summary",
    "budget_for",
    "compare",
    "datasets",
    "decisions",
    "fit",
    "get_law",
    "group_summary",
    "inference_aware",
    "laws",
    "learn_discrepancy",
    "load_fit",
    "load_spec",
    "next_runs",
    "plan_regret",
    "population_summary",
    "prior_predictive",
    "prob_target",
    "read_runs",
    "risk_averse",
    "validate_runs",
    "write_report",
]

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "datasets": ("bayescale.datasets", None),
    "laws": ("bayescale.laws", None),
    "get_law": ("bayescale.laws", "get_law"),
    "validate_runs": ("bayescale.data.runs", "validate_runs"),
    "read_runs": ("bayescale.data.runs", "read_runs"),
    "ModelSpec": ("bayescale.modeling.spec", "ModelSpec"),
    "load_spec": ("bayescale.modeling.spec", "load_spec"),
    "fit": ("bayescale.sampling.fit", "fit"),
    "prior_predictive": ("bayescale.sampling.fit", "prior_predictive"),
    "ScalingFit": ("bayescale.posterior.result", "ScalingFit"),
    "load_fit": ("bayescale.posterior.result", "load_fit"),
    "decisions": ("bayescale.decisions", None),
    "allocate": ("bayescale.decisions.api", "allocate"),
    "prob_target": ("bayescale.decisions.api", "prob_target"),
    "budget_for": ("bayescale.decisions.api", "budget_for"),
    "plan_regret": ("bayescale.decisions.api", "plan_regret"),
    "risk_averse": ("bayescale.decisions.api", "risk_averse"),
    "inference_aware": ("bayescale.decisions.api", "inference_aware"),
    "next_runs": ("bayescale.decisions.design", "next_runs"),
    "allocate_capped": ("bayescale.decisions.capped", "allocate_capped"),
    "write_report": ("bayescale.report", "write_report"),
    "compare": ("bayescale.evaluation.compare", "compare"),
    "Comparison": ("bayescale.evaluation.compare", "Comparison"),
    "backtest": ("bayescale.evaluation.backtest", "backtest"),
    "backtest_summary": ("bayescale.evaluation.backtest", "backtest_summary"),
    "learn_discrepancy": ("bayescale.evaluation.discrepancy", "learn_discrepancy"),
    "Discrepancy": ("bayescale.posterior.discrepancy", "Discrepancy"),
    "group_draws": ("bayescale.posterior.hierarchy", "group_draws"),  # deprecated: fit.draws
    "group_summary": ("bayescale.posterior.hierarchy", "group_summary"),
    "population_summary": ("bayescale.posterior.hierarchy", "population_summary"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'bayescale' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from bayescale import datasets, decisions, laws
    from bayescale.data.runs import read_runs, validate_runs
    from bayescale.decisions.api import (
        allocate,
        budget_for,
        inference_aware,
        plan_regret,
        prob_target,
        risk_averse,
    )
    from bayescale.decisions.capped import allocate_capped
    from bayescale.decisions.design import next_runs
    from bayescale.evaluation.backtest import backtest, backtest_summary
    from bayescale.evaluation.compare import Comparison, compare
    from bayescale.evaluation.discrepancy import learn_discrepancy
    from bayescale.laws import get_law
    from bayescale.modeling.spec import ModelSpec, load_spec
    from bayescale.posterior.discrepancy import Discrepancy
    from bayescale.posterior.hierarchy import (  # noqa: F401  (group_draws: deprecated)
        group_draws,
        group_summary,
        population_summary,
    )
    from bayescale.posterior.result import ScalingFit, load_fit
    from bayescale.report import write_report
    from bayescale.sampling.fit import fit, prior_predictive
