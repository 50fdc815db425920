"""Sampling, diagnostics, posterior predictive, and (later) LOO / leave-future-out comparison."""
