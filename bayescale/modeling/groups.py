"""Group structures of hierarchical fits: combined, nested and crossed groupings.

A hierarchical fit names one or more grouping columns (``groups=["dataset", "setup"]``).  Every
observed combination of their values is a *cell* (label ``"rw/base"``: the values joined with
``"/"``); per-group parameters live on the cells (dimension ``group``).  How a *pooled* parameter
varies across cells is set by the spec's ``grouping``, as a sum of random effects on the
parameter's unconstrained scale ``u`` (``log`` for positive parameters, the identity otherwise)::

    u(theta_c) = u(theta_mu) + sum over terms t of  e_t[level_t(c)],   e_t[l] ~ Normal(0, tau_t)

=============  ===============================================  ==================================
grouping       terms t                                          reads as
=============  ===============================================  ==================================
``combined``   the cell itself (one term)                       one population of cells (default)
``nested``     ``c1``, ``c1/c2``, ... (each column within the   ``family`` within ``dataset``
               previous ones)
``crossed``    ``c1``, ``c2``, ... (one main effect per         ``dataset`` crossed with ``setup``
               column; no interaction term)
=============  ===============================================  ==================================

So a *crossed* exponent is ``u(alpha_{d,s}) = u(alpha_mu) + tau_dataset z_d + tau_setup z_s``:
set-up effects are the same on every data set, and a combination never observed (a missing cell)
still has a prediction.  A *nested* exponent is ``u(alpha_{d,f}) = u(alpha_mu) + tau_dataset z_d
+ tau_family z_{d,f}``: families of one data set share its effect.  *Independent* parameters are
one value per cell and *shared* ones one value in total, whatever the grouping.

This module is numpy / pandas only: the PyMC builder (:mod:`bayescale.modeling.model`) and the
prediction code read the same :class:`GroupStructure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayescale.errors import SpecError

__all__ = [
    "GROUPINGS",
    "RESERVED_DIMS",
    "GroupStructure",
    "Term",
    "effect_names",
    "group_labels",
    "group_structure",
    "label_of",
    "term_names",
]

GROUPINGS = ("combined", "nested", "crossed")
#: Names a grouping column may not have under nested / crossed groupings (they become dims).
RESERVED_DIMS = ("run", "group", "chain", "draw", "point", "term")
SEP = "/"


@dataclass(frozen=True)
class Term:
    """One random-effect term of a pooled parameter.

    Attributes
    ----------
    name : str
        Term name: ``"group"`` for the combined grouping, else the (innermost) grouping column.
    columns : tuple of str
        The grouping columns whose values identify a level of the term.
    levels : tuple of str
        Level labels (values of ``columns`` joined with ``"/"``), sorted.
    cell_index : numpy.ndarray
        For each cell, the index of its level in ``levels``.
    parent_index : numpy.ndarray or None
        Nested groupings: for each level, the index of its parent level in the previous term
        (``None`` for the first term and for crossed / combined terms).
    """

    name: str
    columns: tuple[str, ...]
    levels: tuple[str, ...]
    cell_index: np.ndarray
    parent_index: np.ndarray | None = None

    @property
    def dim(self) -> str:
        """Name of the model dimension of this term's effects."""
        return self.name


@dataclass(frozen=True)
class GroupStructure:
    """Cells and random-effect terms of a hierarchical model.

    Attributes
    ----------
    columns : tuple of str
        Grouping columns.
    grouping : {"combined", "nested", "crossed"}
        How pooled parameters vary across cells.
    cells : tuple of str
        Cell labels, in model order (dimension ``group``).
    cell_levels : pandas.DataFrame
        One row per cell (index: its label) with the value of each grouping column.
    terms : tuple of Term
        Random-effect terms of pooled parameters.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.groups import group_structure
    >>> runs = pd.DataFrame({"dataset": ["a", "a", "b"], "setup": ["x", "y", "x"]})
    >>> s = group_structure(runs, ("dataset", "setup"), "crossed")
    >>> s.cells
    ('a/x', 'a/y', 'b/x')
    >>> [(t.name, t.levels) for t in s.terms]
    [('dataset', ('a', 'b')), ('setup', ('x', 'y'))]
    """

    columns: tuple[str, ...]
    grouping: str
    cells: tuple[str, ...]
    cell_levels: pd.DataFrame
    terms: tuple[Term, ...]

    @property
    def multi_term(self) -> bool:
        """True for nested / crossed groupings (effects named by column)."""
        return self.grouping != "combined"

    def term(self, name: str) -> Term:
        """The term called ``name``."""
        for t in self.terms:
            if t.name == name:
                return t
        raise KeyError(f"no term {name!r}; terms are {[t.name for t in self.terms]}")

    def resolve(self, group: str | Mapping[str, str]) -> dict[str, str | None]:
        """Map a group request to one level (or ``None`` = a new level) per term.

        Parameters
        ----------
        group : str or mapping
            A cell label, ``"new"`` (every term at a new level), or a mapping from each grouping
            column to a value or ``"new"``.

        Returns
        -------
        dict
            ``{term name: level label or None}``.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayescale.modeling.groups import group_structure
        >>> runs = pd.DataFrame({"dataset": ["a", "a", "b"], "family": ["x", "y", "z"]})
        >>> s = group_structure(runs, ("dataset", "family"), "nested")
        >>> s.resolve({"dataset": "a", "family": "new"})
        {'dataset': 'a', 'family': None}
        """
        if isinstance(group, str):
            if group == "new":
                return {t.name: None for t in self.terms}
            if group in self.cells:
                row = self.cell_levels.loc[group]
                group = {c: str(row[c]) for c in self.columns}
            elif len(self.columns) == 1:
                group = {self.columns[0]: group}
            else:
                example = {c: "new" for c in self.columns}
                raise ValueError(
                    f"unknown group {group!r}; groups are {_short(self.cells)}, 'new', or a "
                    f"mapping of each grouping column to a value or 'new', e.g. {example}"
                )
        if not isinstance(group, Mapping):
            raise TypeError(f"group must be a string or a mapping, not {type(group).__name__}")
        missing = [c for c in self.columns if c not in group]
        extra = [c for c in group if c not in self.columns]
        if missing or extra:
            raise ValueError(
                f"group={dict(group)!r} must give a value (or 'new') for each grouping column "
                f"{list(self.columns)}" + (f"; {extra} are not grouping columns" if extra else "")
            )
        values = {c: str(group[c]) for c in self.columns}
        out: dict[str, str | None] = {}
        if self.grouping == "combined":
            if any(v == "new" for v in values.values()):
                return {"group": None}
            lab = label_of(values[c] for c in self.columns)
            if lab not in self.cells:
                raise ValueError(
                    f"group {values!r} ({lab!r}) was not observed; with grouping='combined' only "
                    "observed cells or 'new' can be predicted (a 'crossed' grouping can predict "
                    "unobserved combinations of observed values)"
                )
            return {"group": lab}
        for t in self.terms:
            vals = [values[c] for c in t.columns]
            if vals[-1] == "new":
                out[t.name] = None
                continue
            if self.grouping == "nested" and any(v == "new" for v in vals[:-1]):
                raise ValueError(
                    f"group {values!r}: {t.columns[-1]}={vals[-1]!r} cannot sit inside a new "
                    f"{t.columns[-2]}; with a nested grouping a known level needs known parents "
                    "(set it to 'new' too)"
                )
            lab = label_of(vals)
            if lab not in t.levels:
                raise ValueError(
                    f"{t.columns[-1]}={vals[-1]!r} is not a level of term {t.name!r} "
                    f"(levels {_short(t.levels)}); use 'new' for an unseen one"
                )
            out[t.name] = lab
        return out


def _short(items: Sequence[str], n: int = 6) -> str:
    items = list(items)
    more = f" ... ({len(items)} in all)" if len(items) > n else ""
    return "[" + ", ".join(repr(x) for x in items[:n]) + more + "]"


def label_of(values) -> str:
    """Join grouping values into a label (``"a/b"``).

    Examples
    --------
    >>> from bayescale.modeling.groups import label_of
    >>> label_of(["rw", "tuned"])
    'rw/tuned'
    """
    return SEP.join(str(v) for v in values)


def group_structure(
    runs: pd.DataFrame,
    columns: Sequence[str],
    grouping: str = "combined",
    *,
    cells: Sequence[str] | None = None,
) -> GroupStructure:
    """Cells and terms of the grouping of ``runs`` by ``columns``.

    Parameters
    ----------
    runs : pandas.DataFrame
        Runs table holding the grouping columns.
    columns : sequence of str
        Grouping columns (outermost first for ``nested``).
    grouping : {"combined", "nested", "crossed"}
        See the module docstring.
    cells : sequence of str, optional
        Cell order (default: sorted labels).  Every run's cell must be in it; cells with no run
        are not allowed (a model's cells are the observed combinations).

    Raises
    ------
    SpecError
        Unknown grouping, labels that collide (values containing ``"/"`` that make two different
        combinations print the same), a column name that would clash with a model dimension, or
        a nested grouping whose inner values repeat across outer values in a way that is not a
        nesting (this is allowed: the inner level is identified by its full path).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.groups import group_structure
    >>> runs = pd.DataFrame({"dataset": ["a", "a", "b"], "family": ["x", "y", "x"]})
    >>> s = group_structure(runs, ["dataset", "family"], "nested")
    >>> [(t.name, t.levels) for t in s.terms]
    [('dataset', ('a', 'b')), ('family', ('a/x', 'a/y', 'b/x'))]
    """
    columns = tuple(columns)
    if grouping not in GROUPINGS:
        raise SpecError(f"grouping={grouping!r}; use one of {list(GROUPINGS)}")
    if not columns:
        raise SpecError("a group structure needs at least one grouping column")
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise SpecError(f"grouping column(s) {missing} are not in the runs table")
    values = runs[list(columns)].astype(str)
    combos = values.drop_duplicates()
    labels = group_labels(values, columns)  # column by column: row-wise agg took 0.27 s
    if labels.nunique() != len(combos):
        raise SpecError(
            f"the values of grouping columns {list(columns)} contain '/' so that two different "
            "combinations get the same label; replace '/' in those values"
        )
    observed = sorted(labels.unique())
    order = tuple(observed if cells is None else cells)
    unknown = sorted(set(observed) - set(order))
    if unknown:
        raise SpecError(f"runs belong to groups {unknown} that the model does not know")
    empty = sorted(set(order) - set(observed))
    if empty:
        raise SpecError(f"groups {empty} have no runs; a model's groups are the observed ones")
    first = pd.DataFrame({"label": labels, **{c: values[c] for c in columns}})
    cell_levels = first.drop_duplicates("label").set_index("label").loc[list(order)]
    cell_levels.index.name = "group"
    if grouping == "combined":
        terms = (Term("group", columns, order, np.arange(len(order), dtype="int64")),)
    else:
        bad = [c for c in columns if not c.isidentifier() or c in RESERVED_DIMS]
        if bad:
            raise SpecError(
                f"grouping column(s) {bad} cannot name model dimensions under a {grouping} "
                f"grouping: use identifiers other than {list(RESERVED_DIMS)} (rename with "
                "columns={...})"
            )
        if len(columns) < 2:
            raise SpecError(
                f"grouping={grouping!r} needs two or more grouping columns; with one column "
                "use grouping='combined' (the default)"
            )
        terms_list: list[Term] = []
        for k, col in enumerate(columns):
            cols = columns[: k + 1] if grouping == "nested" else (col,)
            lab = group_labels(cell_levels, tuple(cols))
            levels = tuple(sorted(lab.unique()))
            idx = pd.Categorical(lab, categories=levels).codes.astype("int64")
            parent = None
            if grouping == "nested" and k > 0:
                prev = terms_list[-1]  # each cell's level here -> its level in the outer term
                outer = dict(zip(idx.tolist(), prev.cell_index.tolist(), strict=True))
                parent = np.array([outer[i] for i in range(len(levels))], dtype="int64")
            terms_list.append(Term(col, cols, levels, idx, parent))
        terms = tuple(terms_list)
    return GroupStructure(columns, grouping, order, cell_levels, terms)


def term_names(columns: Sequence[str], grouping: str) -> tuple[str, ...]:
    """Names of the random-effect terms of a grouping (``("group",)`` when combined).

    Examples
    --------
    >>> from bayescale.modeling.groups import term_names
    >>> term_names(["dataset", "setup"], "crossed")
    ('dataset', 'setup')
    """
    return ("group",) if grouping == "combined" else tuple(columns)


def effect_names(param: str, term: str, multi_term: bool) -> dict[str, str]:
    """Model variable names of one pooled parameter's term.

    ``tau`` is the effects' scale, ``z`` the standardised effects of the non-centred form,
    ``u`` the levels' values on the unconstrained scale in the centred form of combined and
    nested groupings (``u ~ Normal(parent, tau)``), and ``eff`` the effects of the centred form
    of crossed groupings (``eff ~ Normal(0, tau)``).  The combined grouping keeps the short names
    (``alpha_tau``, ``alpha_z``); nested and crossed ones add the term (``alpha_tau_dataset``).

    Examples
    --------
    >>> from bayescale.modeling.groups import effect_names
    >>> effect_names("alpha", "setup", True)["z"]
    'alpha_z_setup'
    """
    suffix = f"_{term}" if multi_term else ""
    return {k: f"{param}_{k}{suffix}" for k in ("tau", "z", "eff", "u")}


def group_labels(runs: pd.DataFrame, groups: tuple[str, ...]) -> pd.Series:
    """One label per run combining the grouping columns (``"a/b"`` for two columns).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.groups import group_labels
    >>> group_labels(pd.DataFrame({"d": ["x", "y"], "s": ["1", "2"]}), ("d", "s")).tolist()
    ['x/1', 'y/2']
    """
    if not groups:
        return pd.Series(["all"] * len(runs), index=runs.index)
    lab = runs[groups[0]].astype(str)
    for g in groups[1:]:
        lab = lab + "/" + runs[g].astype(str)
    return lab
