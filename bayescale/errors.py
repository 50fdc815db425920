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


class NewGroupError(BayescaleError, ValueError):
    """A hierarchical fit was asked for an unseen group, but some parameters are per group only.

    The default hierarchy pools the irreducible loss and the exponents and keeps each group's
    scales (``log_A0``, ``log_B0``) independent, so it predicts its own groups, not a new one;
    pool the scales (``pooling={"log_A0": "pooled", "log_B0": "pooled"}`` or
    ``spec="chinchilla_pooled"``) to predict new groups.
    """


class BayescaleWarning(UserWarning):
    """Base class of bayescale's warnings."""


class ConvergenceWarning(BayescaleWarning):
    """The sampler's diagnostics (divergences, R-hat, ESS, E-BFMI) say the fit is unreliable."""


class DataWarning(BayescaleWarning):
    """The runs table is valid but something in it looks wrong (perplexity, duplicates...)."""
