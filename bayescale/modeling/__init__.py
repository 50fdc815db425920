"""PyMC model builders (code).  Declarative specs (data) live in the top-level ``models/``."""

from bayescale.modeling.model import build_model, group_labels, resolve_reference
from bayescale.modeling.spec import ModelSpec, default_spec, load_spec

__all__ = [
    "ModelSpec",
    "build_model",
    "default_spec",
    "group_labels",
    "load_spec",
    "resolve_reference",
]
