"""The package version, stamped into every saved fit and report (``bayescale.__version__``)."""

__version__ = "0.1.0"
