"""The sampling stage: from a runs table and a spec to a posterior.

- :mod:`~bayescale.sampling.fit`: :func:`~bayescale.fit` (nutpie, or PyMC's NUTS, with the
  retry remedies) and :func:`prior_predictive`; returns a
  :class:`~bayescale.posterior.result.ScalingFit`;
- :mod:`~bayescale.sampling.compile_cache`: the compiled nutpie model reused across processes;
- :mod:`~bayescale.sampling.sweep`: many independent fits on Dask, one tidy table back;
- :class:`SamplingOptions`: the sampler's settings as one object, accepted by ``fit``,
  ``backtest``, ``learn_discrepancy`` and ``sbc`` (``sampling=``).
"""

from bayescale.sampling.options import SamplingOptions

__all__ = ["SamplingOptions"]
