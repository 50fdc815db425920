"""Scaling laws: pure functional forms and their parameters (default priors: ``models/``).

Every law is a :class:`~bayescale.laws.base.Law` registered in the plain dict :data:`LAWS`.

Examples
--------
>>> from bayescale.laws import LAWS, get_law
>>> sorted(LAWS)[:3]
['broken_power', 'chinchilla', 'compute']
>>> get_law("chinchilla").natural
('E', 'A', 'B', 'alpha', 'beta')
"""

from __future__ import annotations

import difflib

from bayescale.laws.base import Law, Parameter, PowerTerm, PowerTerms
from bayescale.laws.broken import BROKEN_POWER
from bayescale.laws.chinchilla import CHINCHILLA
from bayescale.laws.compute import COMPUTE
from bayescale.laws.datablations import DATABLATIONS
from bayescale.laws.kaplan import KAPLAN
from bayescale.laws.links import DOWNSTREAM_ERROR, LOSS_TO_LOSS
from bayescale.laws.overtraining import OVERTRAINING

__all__ = ["LAWS", "Law", "Parameter", "PowerTerm", "PowerTerms", "get_law", "register_law"]

LAWS: dict[str, Law] = {
    CHINCHILLA.name: CHINCHILLA,
    KAPLAN.name: KAPLAN,
    COMPUTE.name: COMPUTE,
    DATABLATIONS.name: DATABLATIONS,
    OVERTRAINING.name: OVERTRAINING,
    BROKEN_POWER.name: BROKEN_POWER,
    LOSS_TO_LOSS.name: LOSS_TO_LOSS,
    DOWNSTREAM_ERROR.name: DOWNSTREAM_ERROR,
}


def get_law(law: str | Law) -> Law:
    """Return a law by name (or pass a :class:`Law` through).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the known laws and the closest match.

    Examples
    --------
    >>> from bayescale.laws import get_law
    >>> get_law("chinchilla").inputs
    ('N', 'D')
    """
    if isinstance(law, Law):
        return law
    if law in LAWS:
        return LAWS[law]
    close = difflib.get_close_matches(str(law), LAWS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown law {law!r}; known laws: {', '.join(sorted(LAWS))}.{hint}")


def register_law(law: Law, *, overwrite: bool = False) -> Law:
    """Add a user-defined law to the registry so specs and the CLI can name it.

    Examples
    --------
    >>> from bayescale.laws import register_law, get_law
    >>> law = get_law("compute")
    >>> register_law(law, overwrite=True) is law
    True
    """
    if law.name in LAWS and not overwrite and LAWS[law.name] is not law:
        raise ValueError(f"a law called {law.name!r} is already registered; pass overwrite=True")
    LAWS[law.name] = law
    return law
