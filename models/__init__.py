"""Declarative model specs (TOML data, not code); this file only lets them ship as bayescale.models."""
