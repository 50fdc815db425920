"""Plots: one function per figure, each returning a matplotlib Figure."""

from bayescale.plots.fit_plot import plot_fit

__all__ = ["plot_fit"]
