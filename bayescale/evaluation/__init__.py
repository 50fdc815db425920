"""The evaluation stage: how good are the fits, and how wrong beyond their data.

- :mod:`~bayescale.evaluation.compare`: PSIS-LOO :func:`~bayescale.compare` of laws;
- :mod:`~bayescale.evaluation.backtest`: leave-future-out :func:`~bayescale.backtest`, stacking;
- :mod:`~bayescale.evaluation.discrepancy`: :func:`~bayescale.learn_discrepancy` and the fit of
  the empirical discrepancy prior across studies;
- :mod:`~bayescale.evaluation.sbc`: simulation-based calibration of the sampler and priors;
- :mod:`~bayescale.evaluation.baselines`: the point-fit + bootstrap anchor (Besiroglu et al. 2024).

These refit (sampling) and read posteriors; decisions, plots and the report come after.
"""
