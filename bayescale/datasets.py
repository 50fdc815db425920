"""Bundled real scaling-law datasets (public entry point).

Thin re-export of :mod:`bayescale.data.datasets`; see that module for the runs-table schema.

Examples
--------
>>> from bayescale import datasets
>>> df = datasets.load("chinchilla")
>>> len(df)
245
"""

from bayescale.data.datasets import available, citation, load, provenance

__all__ = ["available", "citation", "load", "provenance"]
