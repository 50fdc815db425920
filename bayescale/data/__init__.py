"""Data handling for bayescale.

Real, published scaling-law training-run tables are bundled under ``bayescale/data/bundled/`` and
loaded as tidy runs tables with :func:`bayescale.datasets.load` (implemented in
:mod:`bayescale.data.datasets`).
"""
