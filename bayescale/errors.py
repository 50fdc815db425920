"""Exceptions and warnings raised by bayescale.

Every error message names the offending column, row, parameter or value and says how to fix it.
All bayescale errors derive from :class:`BayescaleError` (and from ``ValueError`` where the input
was at fault), and all warnings from :class:`BayescaleWarning`, so users can filter them.
"""

from __future__ import annotations

__all__ = [
    "BayescaleError",
    "BayescaleWarning",
    "ConvergenceWarning",
    "ProvenanceError",
    "RunsTableError",
    "SpecError",
]


class BayescaleError(Exception):
    """Base class of bayescale's errors."""


class RunsTableError(BayescaleError, ValueError):
    """A runs table is malformed: the message names the column, rows and fix."""


class SpecError(BayescaleError, ValueError):
    """A model specification (law, priors, likelihood, pooling) is invalid."""


class ProvenanceError(BayescaleError, ValueError):
    """A saved fit does not match what it is being loaded or used with."""


class BayescaleWarning(UserWarning):
    """Base class of bayescale's warnings."""


class ConvergenceWarning(BayescaleWarning):
    """The sampler's diagnostics (divergences, R-hat, ESS, E-BFMI) say the fit is unreliable."""


class DataWarning(BayescaleWarning):
    """The runs table is valid but something in it looks wrong (perplexity, duplicates...)."""
