"""The posterior stage: what a fit is, and what can be read from it without sampling again.

- :mod:`~bayescale.posterior.result`: :class:`~bayescale.ScalingFit` (the DataTree, spec, runs
  and diagnostics; ``predict``, ``summary``, ``save``) and :func:`~bayescale.load_fit`;
- :mod:`~bayescale.posterior.diagnostics`: divergences, R-hat, ESS, E-BFMI, with advice;
- :mod:`~bayescale.posterior.hierarchy`: per-group, new-group and population draws and summaries;
- :mod:`~bayescale.posterior.discrepancy`: the extrapolation :class:`~bayescale.Discrepancy` that
  predictions apply beyond the runs, its empirical prior and the distance of a forecast;
- :mod:`~bayescale.posterior.grid`: prediction summaries over large (N, D) grids.

Imports only the earlier stages (laws, data, modeling); sampling builds these objects.
"""
