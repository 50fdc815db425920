"""Plots: one function per figure, each returning a matplotlib Figure.

- :func:`plot_fit`: runs and the fitted law with posterior bands (loss against compute);
- :func:`plot_group_curves`: the same for every group of a hierarchical fit, one panel each;
- :func:`plot_shrinkage`: per-group estimates, no pooling against partial pooling (forest);
- :func:`plot_decision`: the same, extrapolated along the compute-optimal frontier to a budget;
- :func:`plot_allocation`: the compute-optimal N* and D* against the budget;
- :func:`plot_prob_target`: P(loss <= target) against the budget;
- :func:`plot_regret`: excess loss and deadweight compute of a plan;
- :func:`plot_prior_posterior`: prior against posterior for each parameter.
- :func:`plot_backtest`: leave-future-out error and coverage against extrapolation distance.
- :func:`plot_sbc_ecdf`: simulation-based calibration ranks against uniform, simultaneous bands.
- :func:`plot_design`: candidate pilot runs by value per FLOP and the chosen batch, on (N, D).

Compute first, render second: the figures that show decisions draw numbers computed by the
decision functions, and take them precomputed as ``result=`` (:func:`plot_regret` draws a
:func:`~bayescale.plan_regret` result; ``prob_target_curve``, ``allocation_curve`` and
``decision_curve`` in the plot modules give what :func:`plot_prob_target`,
:func:`plot_allocation` and :func:`plot_decision` draw; the risk report computes them once).
:func:`plot_design` draws a :func:`~bayescale.next_runs` result.

``fit.plot()`` is :func:`plot_fit` of a fit.  ArviZ's own plots take ``fit.tree``; a saved (and
reloaded) fit has a ``posterior_predictive`` group for the predictive checks
(``arviz.plot_ppc_dist(fit.tree)``, ``arviz.plot_ppc_pit``).
"""

from bayescale.plots.allocation_plot import plot_allocation
from bayescale.plots.backtest_plot import plot_backtest
from bayescale.plots.decision_plot import plot_decision
from bayescale.plots.design_plot import plot_design
from bayescale.plots.fit_plot import plot_fit
from bayescale.plots.group_curves_plot import plot_group_curves
from bayescale.plots.prior_posterior_plot import plot_prior_posterior
from bayescale.plots.prob_plot import plot_prob_target
from bayescale.plots.regret_plot import plot_regret
from bayescale.plots.sbc_plot import plot_sbc_ecdf
from bayescale.plots.shrinkage_plot import plot_shrinkage

__all__ = [
    "plot_allocation",
    "plot_backtest",
    "plot_decision",
    "plot_design",
    "plot_fit",
    "plot_group_curves",
    "plot_prior_posterior",
    "plot_prob_target",
    "plot_regret",
    "plot_sbc_ecdf",
    "plot_shrinkage",
]
