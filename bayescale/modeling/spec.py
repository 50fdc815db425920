"""Model specifications: a law + priors + likelihood (+ pooling), as data.

A :class:`ModelSpec` is what the declarative TOML files in the top-level ``models/`` folder hold.
It is checked when it is built (every law parameter has a prior, priors respect the parameter's
support, no unknown keys), not when sampling fails.  Priors use the
dictionary format of ``pymc_extras.prior.Prior`` (``{"dist": ..., "kwargs": {...}}``; centred
priors only, built without importing ``pymc_extras``).

Examples
--------
>>> from bayescale.modeling.spec import default_spec
>>> spec = default_spec("chinchilla")
>>> spec.likelihood
'student_t'
>>> spec2 = spec.with_priors(alpha={"dist": "LogNormal", "kwargs": {"mu": -1.0, "sigma": 0.2}})
>>> spec2.hash != spec.hash
True
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from bayescale.errors import SpecError
from bayescale.laws import LAWS, get_law
from bayescale.modeling.groups import GROUPINGS, RESERVED_DIMS

__all__ = ["LIKELIHOODS", "POOLING", "ModelSpec", "default_spec", "load_spec"]

LIKELIHOODS = ("normal", "student_t")
POOLING = ("shared", "pooled", "independent")
NOISE_PARAMS = {"normal": ("sigma",), "student_t": ("sigma", "nu")}
_TOP_KEYS = {"name", "law", "description", "reference", "priors", "likelihood", "groups", "pooling",
             "grouping", "centered", "coordinates"}
#: Sampling coordinates: ``"identified"`` (the law's loss, log-slopes and shares of the loss at the
#: centre of the data; :mod:`bayescale.modeling.identified`), ``"natural"`` (the law's own
#: parameters) or ``"auto"`` (identified wherever the law and the pooling allow it).
COORDINATES = ("auto", "identified", "natural")
_LIK_KEYS = {"family", "priors"}
_POSITIVE_DISTS = {
    "LogNormal",
    "HalfNormal",
    "HalfStudentT",
    "HalfCauchy",
    "Gamma",
    "InverseGamma",
    "Exponential",
    "Weibull",
    "Lognormal",
    "ChiSquared",
}
# Common PyMC distributions, for "did you mean" on a misspelt name (any other PyMC distribution
# is accepted here and checked when the model is built).
_KNOWN_DISTS = _POSITIVE_DISTS | {"Normal", "TruncatedNormal", "StudentT", "Uniform", "Beta",
                                  "Cauchy", "Laplace", "SkewNormal", "Logistic", "Gumbel"}
# Default scale of group-level deviations for pooled parameters (tau ~ HalfNormal(scale)), on the
# parameter's unconstrained scale (log for positive parameters), by role.  Prior median of tau is
# 0.67 x the scale and its 95% point 2 x: exponents 0.2 / 0.6, offsets (E) 0.13 / 0.4.  Measured
# between-group scales on the bundled data: Porian et al.'s set-ups alpha 0.36, beta 0.35, E 0.11;
# Gadre et al.'s data x validation sets alpha 0.26, beta 0.30, E 0.23 (issue 3's closing note).
DEFAULT_POOL_SCALE = {"exponent": 0.3, "offset": 0.2, "scale": 0.5, "shape": 0.5}


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_prior(where: str, prior: Any, positive: bool) -> dict[str, Any]:
    if not isinstance(prior, Mapping) or "dist" not in prior:
        raise SpecError(
            f"{where}: a prior must be a table with 'dist' and 'kwargs', e.g. "
            "{dist = 'Normal', kwargs = {mu = 0, sigma = 1}}; got "
            f"{prior!r}"
        )
    unknown = set(prior) - {"dist", "kwargs"}
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)} in prior; "
                        "allowed: dist, kwargs")
    dist = prior["dist"]
    if not isinstance(dist, str) or not dist.isidentifier():
        raise SpecError(f"{where}: 'dist' must be a PyMC distribution name, not {dist!r}")
    kwargs = prior.get("kwargs", {})
    if not isinstance(kwargs, Mapping):
        raise SpecError(f"{where}: 'kwargs' must be a table of numbers, not {kwargs!r}")
    for k, v in kwargs.items():
        if isinstance(v, Mapping):
            _check_prior(f"{where}.{k}", v, positive=False)
        elif isinstance(v, bool) or not isinstance(v, int | float):
            raise SpecError(f"{where}: kwargs.{k} must be a number, not {v!r}")
        elif not math.isfinite(v):
            raise SpecError(f"{where}: kwargs.{k} must be finite, not {v!r}")
    if dist not in _KNOWN_DISTS:
        close = difflib.get_close_matches(dist, sorted(_KNOWN_DISTS), n=1, cutoff=0.8)
        if close:
            raise SpecError(f"{where}: unknown distribution {dist!r} (did you mean {close[0]!r}?)")
    if positive:
        lower = kwargs.get("lower")
        ok = dist in _POSITIVE_DISTS or (
            dist == "TruncatedNormal" and isinstance(lower, int | float) and lower >= 0
        )
        if not ok:
            raise SpecError(
                f"{where}: this parameter must be positive, but a {dist} prior allows values "
                "<= 0; use LogNormal, Gamma, HalfNormal or TruncatedNormal with lower = 0"
            )
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in prior.items()}


@dataclass(frozen=True)
class ModelSpec:
    """A declarative model: law, priors, likelihood, reference scales and pooling.

    Parameters
    ----------
    law : str
        Registered law name (see :data:`bayescale.laws.LAWS`).
    priors : mapping
        One prior table (``{"dist": ..., "kwargs": {...}}``) per sampled law parameter.
    likelihood : {"normal", "student_t"}
        Noise model on log loss.
    noise_priors : mapping
        Priors for ``sigma`` (and ``nu`` for Student-t).
    reference : mapping
        Reference scale per law input: a positive number or ``"auto"``.
    groups : tuple of str
        Grouping columns for hierarchical fits (empty: one population).
    pooling : mapping
        Per parameter ``"shared"``, ``"pooled"`` or ``"independent"`` across groups.  Parameters
        not named default to ``"pooled"`` for exponents and offsets and ``"independent"`` for
        scales when ``groups`` is non-empty.
    pool_scale : mapping
        Prior scale (HalfNormal) of group deviations for pooled parameters, on the unconstrained
        scale; defaults by role.
    grouping : {"combined", "nested", "crossed"}
        How pooled parameters vary across the groups when there are two or more grouping
        columns: one effect per combination (``"combined"``, the default), effects of each
        column within the previous ones (``"nested"``), or additive main effects of each column
        (``"crossed"``).  See :mod:`bayescale.modeling.groups` for the equations.
    centered : "auto" or tuple of str
        Pooled parameters whose group effects are sampled in the centred form
        (``e ~ Normal(0, tau)``) rather than the non-centred one (``e = tau * z``).  Centred
        suits groups whose runs pin their own value, non-centred groups that do not.
        ``"auto"`` (the default): in identified coordinates, per exponent from per-group robust
        fits (:mod:`bayescale.modeling.centring`; the offset stays centred); in natural
        coordinates every pooled parameter of a combined grouping whose groups have a median of
        at least 15 runs, and none otherwise
        (:func:`bayescale.modeling.model.resolve_centered`; a fit records the choice).
    coordinates : {"auto", "identified", "natural"}
        The coordinates NUTS samples in; the priors stay those of the law's parameters either
        way.  ``"identified"`` samples the law's log-loss, log-slopes and the shares of the loss
        at the centre of the data, which the runs pin down, and derives the law's parameters from
        them (:mod:`bayescale.modeling.identified`); ``"natural"`` samples the law's parameters
        directly; ``"auto"`` (the default) is ``"identified"`` wherever the law and the pooling
        allow it.
    name, description : str
        Free text recorded in the fit.

    Examples
    --------
    >>> from bayescale.modeling.spec import ModelSpec, default_spec
    >>> spec = default_spec("compute")
    >>> ModelSpec.from_dict(spec.to_dict()) == spec
    True
    """

    law: str
    priors: Mapping[str, Mapping[str, Any]]
    likelihood: str = "student_t"
    noise_priors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reference: Mapping[str, float | str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    pooling: Mapping[str, str] = field(default_factory=dict)
    pool_scale: Mapping[str, float] = field(default_factory=dict)
    grouping: str = "combined"
    centered: tuple[str, ...] | str = "auto"
    coordinates: str = "auto"
    name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.law not in LAWS:
            raise SpecError(
                f"unknown law {self.law!r}{_suggest(str(self.law), LAWS)}; known laws: "
                f"{', '.join(sorted(LAWS))}"
            )
        law = get_law(self.law)
        names = law.param_names
        extra = [k for k in self.priors if k not in names]
        if extra:
            raise SpecError(
                f"priors given for {extra}{_suggest(extra[0], names)}, which law {self.law!r} "
                f"does not have; its parameters are {list(names)}"
            )
        missing = [k for k in names if k not in self.priors]
        if missing:
            raise SpecError(
                f"no prior for {missing} of law {self.law!r}; add a [priors.NAME] table for each "
                "(see models/ for the defaults)"
            )
        priors = {
            k: _check_prior(f"priors.{k}", self.priors[k], law.parameter(k).support == "positive")
            for k in names
        }
        object.__setattr__(self, "priors", priors)
        if self.likelihood not in LIKELIHOODS:
            raise SpecError(
                f"likelihood family {self.likelihood!r}"
                f"{_suggest(str(self.likelihood), LIKELIHOODS)}"
                f" is not supported; use one of {list(LIKELIHOODS)}"
            )
        need = NOISE_PARAMS[self.likelihood]
        noise = dict(self.noise_priors)
        extra = [k for k in noise if k not in need]
        if extra:
            raise SpecError(
                f"likelihood {self.likelihood!r} has no parameter(s) {extra}; it takes {list(need)}"
            )
        missing = [k for k in need if k not in noise]
        if missing:
            raise SpecError(f"likelihood {self.likelihood!r} needs priors for {missing}")
        object.__setattr__(
            self, "noise_priors", {k: _check_prior(f"likelihood.priors.{k}", noise[k], True)
                                   for k in need}
        )
        ref = dict(self.reference)
        for k in law.reference_inputs:
            ref.setdefault(k, "auto")
        for k, v in ref.items():
            if k in law.reference_of:
                raise SpecError(
                    f"reference scale given for {k!r}, but law {self.law!r} centres {k!r} on "
                    f"the reference of {law.reference_of[k]!r}; drop reference.{k}"
                )
            if k not in law.inputs:
                raise SpecError(
                    f"reference scale given for {k!r}, but law {self.law!r} reads only "
                    f"{list(law.inputs)}"
                )
            if v != "auto" and (
                isinstance(v, bool) or not isinstance(v, int | float) or not v > 0
                or not math.isfinite(v)
            ):
                raise SpecError(f"reference.{k} must be a positive number or 'auto', not {v!r}")
        object.__setattr__(self, "reference", {k: ref[k] for k in law.reference_inputs})
        groups = tuple(self.groups)
        if any(not isinstance(g, str) or not g for g in groups):
            raise SpecError(f"groups must be column names, not {self.groups!r}")
        if len(set(groups)) != len(groups):
            raise SpecError(f"groups lists a column twice: {list(groups)}")
        object.__setattr__(self, "groups", groups)
        pooling = dict(self.pooling)
        for k, v in pooling.items():
            if k not in names:
                raise SpecError(
                    f"pooling given for {k!r}{_suggest(k, names)}, not a parameter of "
                    f"{self.law!r}; its parameters are {list(names)}"
                )
            if v not in POOLING:
                raise SpecError(f"pooling.{k} = {v!r}; use one of {list(POOLING)}")
        if pooling and not groups:
            raise SpecError("pooling is set but groups is empty; name the grouping column(s)")
        object.__setattr__(self, "pooling", pooling)
        for k, v in self.pool_scale.items():
            if k not in names or isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
                raise SpecError(f"pool_scale.{k} = {v!r}: needs a law parameter and a number > 0")
        object.__setattr__(self, "pool_scale", dict(self.pool_scale))
        if self.grouping not in GROUPINGS:
            raise SpecError(
                f"grouping = {self.grouping!r}{_suggest(str(self.grouping), GROUPINGS)}; use one "
                f"of {list(GROUPINGS)}"
            )
        if self.grouping != "combined":
            if len(groups) < 2:
                raise SpecError(
                    f"grouping = {self.grouping!r} needs two or more grouping columns (groups = "
                    f"{list(groups)}); with one column leave grouping at 'combined'"
                )
            bad = [g for g in groups if not g.isidentifier() or g in RESERVED_DIMS]
            if bad:
                raise SpecError(
                    f"grouping column(s) {bad} cannot name model dimensions under a "
                    f"{self.grouping} grouping: use identifiers other than {list(RESERVED_DIMS)} "
                    "(rename with columns={...})"
                )
        if self.coordinates not in COORDINATES:
            raise SpecError(
                f"coordinates = {self.coordinates!r}{_suggest(str(self.coordinates), COORDINATES)}"
                f"; use one of {list(COORDINATES)}"
            )
        centered = self.centered
        if centered == "auto":
            return
        if isinstance(centered, str) or not isinstance(centered, Sequence):
            raise SpecError(
                f"centered must be 'auto' or a list of parameter names, not {centered!r}"
            )
        centered = tuple(centered)
        for k in centered:
            if k not in names:
                raise SpecError(
                    f"centered names {k!r}{_suggest(str(k), names)}, not a parameter of "
                    f"{self.law!r}; its parameters are {list(names)}"
                )
            if self.pooling_of(k) != "pooled":
                raise SpecError(
                    f"centered names {k!r}, but {k!r} is {self.pooling_of(k)!r}, not pooled; only "
                    "pooled parameters have group effects to centre"
                )
        object.__setattr__(self, "centered", centered)

    # ------------------------------------------------------------------ derived
    @property
    def law_obj(self):
        """The :class:`~bayescale.laws.Law` this spec uses."""
        return get_law(self.law)

    def pooling_of(self, name: str) -> str:
        """Effective pooling of parameter ``name`` ("shared" when there are no groups).

        Examples
        --------
        >>> from bayescale.modeling.spec import default_spec
        >>> default_spec("chinchilla").pooling_of("alpha")
        'shared'
        """
        if not self.groups:
            return "shared"
        if name in self.pooling:
            return self.pooling[name]
        role = self.law_obj.parameter(name).role
        return "pooled" if role in ("exponent", "offset") else "independent"

    def pool_scale_of(self, name: str) -> float:
        """Prior scale of group deviations for a pooled parameter."""
        if name in self.pool_scale:
            return float(self.pool_scale[name])
        return DEFAULT_POOL_SCALE[self.law_obj.parameter(name).role]

    # ------------------------------------------------------------------ changes
    def with_priors(self, **priors: Mapping[str, Any]) -> ModelSpec:
        """Return a copy with some priors replaced.

        Examples
        --------
        >>> from bayescale.modeling.spec import default_spec
        >>> s = default_spec("compute").with_priors(gamma={"dist": "Gamma",
        ...                                                "kwargs": {"alpha": 2, "beta": 10}})
        >>> s.priors["gamma"]["dist"]
        'Gamma'
        """
        return replace(self, priors={**self.priors, **priors})

    def replace(self, **changes: Any) -> ModelSpec:
        """Return a copy with fields replaced (validated again).

        Examples
        --------
        >>> from bayescale.modeling.spec import default_spec
        >>> sigma = {"sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0.05}}}
        >>> default_spec("compute").replace(likelihood="normal", noise_priors=sigma).likelihood
        'normal'
        """
        if "likelihood" in changes and "noise_priors" not in changes:
            keep = NOISE_PARAMS.get(changes["likelihood"], ())
            changes["noise_priors"] = {k: v for k, v in self.noise_priors.items() if k in keep}
            if "nu" in keep and "nu" not in changes["noise_priors"]:
                changes["noise_priors"]["nu"] = {"dist": "Gamma", "kwargs": {"alpha": 2.0,
                                                                           "beta": 0.1}}
        return replace(self, **changes)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (the TOML layout).

        Examples
        --------
        >>> from bayescale.modeling.spec import default_spec
        >>> sorted(default_spec("compute").to_dict())
        ['description', 'law', 'likelihood', 'name', 'priors', 'reference']
        """
        d: dict[str, Any] = {
            "name": self.name,
            "law": self.law,
            "description": self.description,
            "reference": dict(self.reference),
            "priors": {k: _plain(v) for k, v in self.priors.items()},
            "likelihood": {
                "family": self.likelihood,
                "priors": {k: _plain(v) for k, v in self.noise_priors.items()},
            },
        }
        if self.groups:
            d["groups"] = list(self.groups)
        if self.pooling:
            d["pooling"] = dict(self.pooling)
        if self.pool_scale:
            d["pool_scale"] = dict(self.pool_scale)
        if self.grouping != "combined":
            d["grouping"] = self.grouping
        if self.centered != "auto":
            d["centered"] = list(self.centered)
        if self.coordinates != "auto":
            d["coordinates"] = self.coordinates
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "spec") -> ModelSpec:
        """Build a spec from its dict / TOML form; unknown keys are errors.

        Examples
        --------
        >>> from bayescale.modeling.spec import ModelSpec, default_spec
        >>> ModelSpec.from_dict(default_spec("kaplan").to_dict()).law
        'kaplan'
        """
        unknown = set(d) - _TOP_KEYS - {"pool_scale"}
        if unknown:
            key = sorted(unknown)[0]
            raise SpecError(
                f"{where}: unknown key(s) {sorted(unknown)}{_suggest(key, sorted(_TOP_KEYS))}; "
                f"allowed: {sorted(_TOP_KEYS)}"
            )
        if "law" not in d:
            raise SpecError(f"{where}: missing 'law' (e.g. law = \"chinchilla\")")
        lik = d.get("likelihood", {})
        if isinstance(lik, str):
            lik = {"family": lik}
        unknown = set(lik) - _LIK_KEYS
        if unknown:
            raise SpecError(f"{where}: unknown key(s) {sorted(unknown)} in [likelihood]")
        family = lik.get("family", "student_t")
        noise = dict(lik.get("priors", {}))
        if not noise and family in NOISE_PARAMS:
            noise = {k: v for k, v in _DEFAULT_NOISE.items() if k in NOISE_PARAMS[family]}
        try:
            return cls(
                law=d["law"],
                priors=dict(d.get("priors", {})),
                likelihood=family,
                noise_priors=noise,
                reference=dict(d.get("reference", {})),
                groups=tuple(d.get("groups", ())),
                pooling=dict(d.get("pooling", {})),
                pool_scale=dict(d.get("pool_scale", {})),
                grouping=d.get("grouping", "combined"),
                centered=d.get("centered", "auto"),
                coordinates=d.get("coordinates", "auto"),
                name=str(d.get("name", "")),
                description=str(d.get("description", "")),
            )
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None

    def to_toml(self) -> str:
        """TOML text that :func:`load_spec` reads back to an equal spec.

        Examples
        --------
        >>> from bayescale.modeling.spec import default_spec, ModelSpec
        >>> import tomllib
        >>> s = default_spec("chinchilla")
        >>> ModelSpec.from_dict(tomllib.loads(s.to_toml())) == s
        True
        """
        d = self.to_dict()
        lines = []
        for key in ("name", "law", "description"):
            lines.append(f"{key} = {_toml_value(d[key])}")
        for key in ("groups", "grouping", "centered", "coordinates"):
            if key in d:
                lines.append(f"{key} = {_toml_value(d[key])}")
        lines += ["", "[reference]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in d["reference"].items()]
        for k, v in d["priors"].items():
            lines += ["", f"[priors.{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        lines += ["", "[likelihood]", f"family = {_toml_value(self.likelihood)}"]
        for k, v in d["likelihood"]["priors"].items():
            lines += ["", f"[likelihood.priors.{k}]"]
            lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        for table in ("pooling", "pool_scale"):
            if table in d:
                lines += ["", f"[{table}]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in d[table].items()]
        return "\n".join(lines) + "\n"

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the spec (recorded in saved fits)."""
        blob = json.dumps(_canonical(self.to_dict()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


_DEFAULT_NOISE = {
    "sigma": {"dist": "HalfNormal", "kwargs": {"sigma": 0.05}},
    "nu": {"dist": "Gamma", "kwargs": {"alpha": 2.0, "beta": 0.1}},
}


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return list(v)
    return v


def _toml_str(s: str) -> str:
    """A TOML basic string in ASCII (json.dumps would write astral characters such as emoji as
    surrogate pairs, which TOML rejects)."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif 0xD800 <= o <= 0xDFFF:
            raise SpecError(f"cannot write {s!r} to TOML: it holds a lone surrogate")
        else:
            out.append(f"\\u{o:04X}" if o <= 0xFFFF else f"\\U{o:08X}")
    return '"' + "".join(out) + '"'


def _canonical(v: Any) -> Any:
    """Ints as floats (``sigma = 1`` and ``sigma = 1.0`` are equal specs with one hash)."""
    if isinstance(v, Mapping):
        return {str(k): _canonical(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_canonical(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise SpecError(f"cannot write {v!r} to TOML")


def load_spec(source: str | os.PathLike | Mapping[str, Any]) -> ModelSpec:
    """Load a spec from a TOML file, a built-in name, or a dict.

    Parameters
    ----------
    source : str, path or mapping
        A path to a ``.toml`` file, the name of a built-in spec in ``models/`` (for example
        ``"chinchilla"``), or a dict in the TOML layout.

    Examples
    --------
    >>> from bayescale.modeling.spec import load_spec
    >>> load_spec("kaplan").law
    'kaplan'
    """
    if isinstance(source, ModelSpec):
        return source
    if isinstance(source, Mapping):
        return ModelSpec.from_dict(source)
    path = Path(source)
    if path.suffix.lower() == ".toml" or path.exists():
        if not path.exists():
            raise SpecError(f"spec file {str(path)!r} does not exist")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"spec file {str(path)!r} is not valid TOML: {exc}") from None
        return ModelSpec.from_dict(data, where=str(path))
    return default_spec(str(source))


def builtin_spec_names() -> list[str]:
    """Names of the specs shipped in ``models/``.

    Examples
    --------
    >>> from bayescale.modeling.spec import builtin_spec_names
    >>> "chinchilla" in builtin_spec_names()
    True
    """
    root = resources.files("bayescale.models")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def pooled_alternative(spec: ModelSpec) -> str:
    """A clause naming the built-in spec that pools every parameter of ``spec``'s law (so a
    hierarchy predicts new groups), or "" when there is none.

    Examples
    --------
    >>> from bayescale.modeling.spec import default_spec, pooled_alternative
    >>> pooled_alternative(default_spec("chinchilla"))
    ", or fit with spec='chinchilla_pooled', which pools every parameter"
    >>> pooled_alternative(default_spec("kaplan"))
    ''
    """
    name = f"{spec.law}_pooled"
    if spec.name == name or name not in builtin_spec_names():
        return ""
    return f", or fit with spec={name!r}, which pools every parameter"


def default_spec(law: str) -> ModelSpec:
    """The built-in spec ``models/<law>.toml`` with the law's default priors.

    Examples
    --------
    >>> from bayescale.modeling.spec import default_spec
    >>> default_spec("chinchilla").priors["alpha"]["dist"]
    'LogNormal'
    """
    names = builtin_spec_names()
    if law not in names:
        hint = _suggest(law, names)
        raise SpecError(
            f"no built-in spec {law!r}{hint}; built-in specs: {', '.join(names)}. For a law you "
            "registered yourself, write a spec with a prior for each parameter"
        )
    text = (resources.files("bayescale.models") / f"{law}.toml").read_text()
    return ModelSpec.from_dict(tomllib.loads(text), where=f"models/{law}.toml")


def resolve_reference(runs: Any, spec: ModelSpec) -> dict[str, float]:
    """Resolve ``"auto"`` reference scales to the power of ten nearest the data's geometric mean.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayescale.modeling.spec import default_spec
    >>> from bayescale.modeling.spec import resolve_reference
    >>> runs = pd.DataFrame({"N": [1e8, 1e10], "D": [1e9, 1e11], "loss": [3.0, 2.5]})
    >>> resolve_reference(runs, default_spec("chinchilla"))
    {'N': 1000000000.0, 'D': 10000000000.0}
    """
    import numpy as np

    out = {}
    for k, v in spec.reference.items():
        if v == "auto":
            out[k] = float(10.0 ** np.round(np.mean(np.log10(runs[k].to_numpy(dtype=float)))))
        else:
            out[k] = float(v)
    return out
