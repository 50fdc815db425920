"""Tests for declarative model specs (bayescale.modeling.spec and the TOML files in models/)."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import pytest

import bayescale
from bayescale import SpecError
from bayescale.laws import LAWS
from bayescale.modeling.spec import (
    DEFAULT_POOL_SCALE,
    LIKELIHOODS,
    ModelSpec,
    builtin_spec_names,
    default_spec,
    load_spec,
)

MODELS = Path(__file__).resolve().parents[1] / "models"
TOML_FILES = sorted(MODELS.glob("*.toml"))
BUILTIN = [p.stem for p in TOML_FILES]


def spec_error(parts: list[str], fn, *args, **kwargs) -> SpecError:
    with pytest.raises(SpecError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for part in parts:
        assert part in msg, f"{part!r} not in error message {msg!r}"
    return info.value


def chinchilla_dict() -> dict:
    return copy.deepcopy(default_spec("chinchilla").to_dict())


# ---------------------------------------------------------------------------- built-in specs
def test_builtin_specs_found():
    assert BUILTIN, "no TOML specs in models/"
    assert builtin_spec_names() == BUILTIN
    assert {"chinchilla", "kaplan", "compute"} <= set(BUILTIN)
    assert issubclass(SpecError, ValueError)
    assert bayescale.load_spec is load_spec and bayescale.ModelSpec is ModelSpec


@pytest.mark.parametrize("path", TOML_FILES, ids=BUILTIN)
def test_builtin_spec_loads_and_round_trips(path):
    spec = default_spec(path.stem)
    assert spec.name == path.stem
    assert spec.law in LAWS
    assert spec.likelihood in LIKELIHOODS
    assert spec.description
    # the file and the packaged resource are the same spec
    assert load_spec(path) == spec
    assert load_spec(str(path)) == spec
    assert load_spec(path.stem) == spec
    # dict round trip
    d = spec.to_dict()
    assert ModelSpec.from_dict(d) == spec
    assert ModelSpec.from_dict(d).hash == spec.hash
    # TOML round trip
    text = spec.to_toml()
    again = ModelSpec.from_dict(tomllib.loads(text))
    assert again == spec
    assert again.hash == spec.hash
    assert again.to_toml() == text
    # the parsed file equals the spec's dict form (no silently dropped keys)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert ModelSpec.from_dict(raw).to_dict() == d


@pytest.mark.parametrize("path", TOML_FILES, ids=BUILTIN)
def test_builtin_spec_covers_exactly_the_law_parameters(path):
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    law = LAWS[raw["law"]]
    assert set(raw["priors"]) == set(law.param_names)
    assert set(raw.get("reference", {})) == set(law.reference_inputs)
    # positive parameters have priors on the positive reals
    spec = load_spec(path)
    for name in law.param_names:
        assert spec.priors[name]["dist"]
        if law.parameter(name).support == "positive":
            assert spec.priors[name]["dist"] in {"LogNormal", "Gamma", "HalfNormal"}


@pytest.mark.parametrize("name", BUILTIN)
def test_load_spec_passes_through_spec_and_dict(name):
    spec = default_spec(name)
    assert load_spec(spec) is spec
    assert load_spec(spec.to_dict()) == spec


# ---------------------------------------------------------------------------- validation errors
def test_unknown_top_level_key_suggests():
    d = chinchilla_dict()
    d["prior"] = d.pop("priors")
    spec_error(["unknown key(s) ['prior']", "did you mean 'priors'?"], ModelSpec.from_dict, d)


def test_unknown_likelihood_key():
    d = chinchilla_dict()
    d["likelihood"]["familly"] = "normal"
    spec_error(["['familly']", "[likelihood]"], ModelSpec.from_dict, d)


def test_missing_law():
    d = chinchilla_dict()
    del d["law"]
    spec_error(["missing 'law'"], ModelSpec.from_dict, d)


def test_missing_prior_for_law_parameter():
    d = chinchilla_dict()
    del d["priors"]["beta"]
    spec_error(["no prior for ['beta']", "'chinchilla'"], ModelSpec.from_dict, d)


def test_prior_for_nonexistent_parameter():
    d = chinchilla_dict()
    d["priors"]["alpah"] = d["priors"]["alpha"]
    spec_error(["['alpah']", "did you mean 'alpha'?", "its parameters are"], ModelSpec.from_dict, d)


@pytest.mark.parametrize("dist", ["Normal", "StudentT", "Uniform", "Cauchy"])
def test_real_line_prior_on_positive_parameter_rejected(dist):
    spec = default_spec("chinchilla")
    spec_error(
        ["priors.alpha", "must be positive", dist],
        spec.with_priors,
        alpha={"dist": dist, "kwargs": {"mu": 0.3, "sigma": 0.1}},
    )


def test_truncated_normal_at_zero_accepted_on_positive_parameter():
    spec = default_spec("chinchilla")
    ok = spec.with_priors(
        alpha={"dist": "TruncatedNormal", "kwargs": {"mu": 0.3, "sigma": 0.1, "lower": 0.0}}
    )
    assert ok.priors["alpha"]["dist"] == "TruncatedNormal"
    spec_error(
        ["priors.alpha", "must be positive"],
        spec.with_priors,
        alpha={"dist": "TruncatedNormal", "kwargs": {"mu": 0.3, "sigma": 0.1, "lower": -1.0}},
    )


def test_misspelt_distribution_suggests_the_name():
    spec = default_spec("chinchilla")
    spec_error(["priors.E", "unknown distribution 'LogNormall'", "did you mean 'LogNormal'?"],
               spec.with_priors, E={"dist": "LogNormall", "kwargs": {"mu": 0.5, "sigma": 0.5}})


def test_unknown_distribution_is_a_spec_error_when_the_model_is_built():
    """A name far from any common one passes the spec check and fails, as a SpecError naming
    it, when the model is built (never an AttributeError, never evaluated)."""
    import pandas as pd

    from bayescale.modeling.model import build_model

    spec = default_spec("compute").with_priors(
        log_A0={"dist": "Zyzzyva", "kwargs": {"mu": 0.0, "sigma": 1.0}})
    runs = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8] * 2, "D": [2e9] * 8,
                         "C": [1e18, 2e18, 4e18, 8e18, 1.6e19, 3.2e19, 6.4e19, 1.28e20],
                         "loss": [3.5, 3.3, 3.1, 3.0, 2.9, 2.8, 2.75, 2.7]})
    spec_error(["'Zyzzyva' is not a PyMC distribution"], build_model, runs, spec)


def test_normal_prior_on_real_parameter_accepted():
    spec = default_spec("chinchilla").with_priors(
        log_A0={"dist": "StudentT", "kwargs": {"nu": 4, "mu": -1.0, "sigma": 2.0}}
    )
    assert spec.priors["log_A0"]["dist"] == "StudentT"


@pytest.mark.parametrize("value", ["0.5", True, None, [1.0], float("nan"), float("inf")])
def test_non_numeric_kwargs_rejected(value):
    spec = default_spec("chinchilla")
    spec_error(
        ["priors.log_A0", "kwargs.sigma"],
        spec.with_priors,
        log_A0={"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": value}},
    )


@pytest.mark.parametrize(
    "prior",
    [
        "Normal(0, 1)",
        {"kwargs": {"mu": 0.0}},
        {"dist": "os.system", "kwargs": {}},
        {"dist": "Normal", "kwargs": {"mu": 0.0}, "shape": 3},
        {"dist": "Normal", "kwargs": [0.0, 1.0]},
    ],
)
def test_malformed_priors_rejected(prior):
    spec_error(["priors.log_A0"], default_spec("chinchilla").with_priors, log_A0=prior)


def test_unknown_likelihood():
    d = chinchilla_dict()
    d["likelihood"] = {"family": "studentt"}
    spec_error(["'studentt'", "did you mean 'student_t'?", "not supported"], ModelSpec.from_dict, d)


def test_likelihood_as_string_gets_default_noise_priors():
    d = chinchilla_dict()
    d["likelihood"] = "normal"
    spec = ModelSpec.from_dict(d)
    assert spec.likelihood == "normal" and set(spec.noise_priors) == {"sigma"}


def test_noise_prior_for_wrong_likelihood_parameter():
    d = chinchilla_dict()
    d["likelihood"] = {"family": "normal", "priors": d["likelihood"]["priors"]}
    spec_error(["has no parameter(s) ['nu']"], ModelSpec.from_dict, d)


def test_replace_likelihood_keeps_noise_priors_consistent():
    spec = default_spec("chinchilla")
    normal = spec.replace(likelihood="normal")
    assert set(normal.noise_priors) == {"sigma"}
    back = normal.replace(likelihood="student_t")
    assert set(back.noise_priors) == {"sigma", "nu"}


def test_pooling_without_groups():
    d = chinchilla_dict()
    d["pooling"] = {"alpha": "pooled"}
    spec_error(["pooling is set but groups is empty"], ModelSpec.from_dict, d)


def test_pooling_with_groups():
    d = chinchilla_dict()
    d["groups"] = ["family"]
    d["pooling"] = {"alpha": "shared"}
    d["pool_scale"] = {"E": 0.3}
    spec = ModelSpec.from_dict(d)
    assert spec.groups == ("family",)
    assert spec.pooling_of("alpha") == "shared"
    assert spec.pooling_of("beta") == "pooled"  # exponent
    assert spec.pooling_of("E") == "pooled"  # offset
    assert spec.pooling_of("log_A0") == "independent"  # scale
    assert spec.pool_scale_of("E") == 0.3
    assert spec.pool_scale_of("beta") == DEFAULT_POOL_SCALE["exponent"]  # 0.3
    again = ModelSpec.from_dict(tomllib.loads(spec.to_toml()))
    assert again == spec and again.hash == spec.hash


@pytest.mark.parametrize(
    ("key", "value", "parts"),
    [
        ("pooling", {"alpah": "pooled"}, ["'alpah'", "did you mean 'alpha'?"]),
        ("pooling", {"alpha": "partial"}, ["pooling.alpha = 'partial'"]),
        ("pool_scale", {"alpha": -1.0}, ["pool_scale.alpha"]),
        ("groups", ["family", "family"], ["twice"]),
        ("groups", [""], ["groups must be column names"]),
    ],
)
def test_pooling_errors(key, value, parts):
    d = chinchilla_dict()
    d["groups"] = ["family"]
    d[key] = value
    spec_error(parts, ModelSpec.from_dict, d)


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ({"N": -1.0}, ["reference.N"]),
        ({"N": "big"}, ["reference.N"]),
        ({"N": True}, ["reference.N"]),
        ({"C": 1e20}, ["reference scale given for 'C'"]),
    ],
)
def test_reference_errors(reference, parts):
    d = chinchilla_dict()
    d["reference"] = reference
    spec_error(parts, ModelSpec.from_dict, d)


def test_reference_numbers_and_auto():
    d = chinchilla_dict()
    d["reference"] = {"N": 1e9}
    spec = ModelSpec.from_dict(d)
    assert spec.reference == {"N": 1e9, "D": "auto"}


# ---------------------------------------------------------------------------- hash
def test_hash_changes_with_prior_and_is_stable_otherwise():
    spec = default_spec("chinchilla")
    assert spec.hash == default_spec("chinchilla").hash
    assert spec.hash == load_spec(MODELS / "chinchilla.toml").hash
    assert len(spec.hash) == 64
    same = spec.with_priors(alpha=dict(spec.priors["alpha"]))
    assert same == spec and same.hash == spec.hash
    changed = spec.with_priors(alpha={"dist": "LogNormal", "kwargs": {"mu": -1.1087, "sigma": 0.5}})
    assert changed != spec and changed.hash != spec.hash
    other_dist = spec.with_priors(alpha={"dist": "Gamma", "kwargs": {"alpha": 2.0, "beta": 6.0}})
    assert other_dist.hash not in {spec.hash, changed.hash}
    assert spec.replace(likelihood="normal").hash != spec.hash
    # key order does not matter
    reordered = ModelSpec.from_dict({k: v for k, v in reversed(list(spec.to_dict().items()))})
    assert reordered.hash == spec.hash


def test_hash_same_for_int_and_float_numbers():
    spec = default_spec("compute")
    a = spec.with_priors(log_A0={"dist": "Normal", "kwargs": {"mu": 0, "sigma": 2}})
    b = spec.with_priors(log_A0={"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 2.0}})
    assert a == b
    assert a.hash == b.hash


# ---------------------------------------------------------------------------- TOML files
def test_load_user_edited_copy(tmp_path):
    text = (MODELS / "chinchilla.toml").read_text(encoding="utf-8")
    assert "kwargs = { mu = -1.1087, sigma = 0.6 }" in text
    edited = text.replace(
        "kwargs = { mu = -1.1087, sigma = 0.6 }", "kwargs = { mu = -1.0, sigma = 0.25 }", 1
    ).replace('name = "chinchilla"', 'name = "my chinchilla"')
    edited = edited.replace('N = "auto"', "N = 1e9")
    path = tmp_path / "mine.toml"
    path.write_text(edited, encoding="utf-8")
    spec = load_spec(path)
    assert spec.name == "my chinchilla"
    assert spec.priors["alpha"]["kwargs"] == {"mu": -1.0, "sigma": 0.25}
    assert spec.priors["beta"] == default_spec("chinchilla").priors["beta"]
    assert spec.reference == {"N": 1e9, "D": "auto"}
    assert spec.hash != default_spec("chinchilla").hash
    assert load_spec(str(path)) == spec


def test_load_user_spec_with_mistake_names_file(tmp_path):
    text = (MODELS / "chinchilla.toml").read_text(encoding="utf-8")
    path = tmp_path / "bad.toml"
    path.write_text(text.replace("[priors.beta]", "[priors.betta]"), encoding="utf-8")
    spec_error([str(path), "['betta']", "did you mean 'beta'?"], load_spec, path)


def test_load_spec_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('law = "chinchilla\n', encoding="utf-8")
    spec_error(["not valid TOML", "broken.toml"], load_spec, path)


def test_load_spec_missing_file_and_unknown_name(tmp_path):
    spec_error(["does not exist"], load_spec, tmp_path / "nope.toml")
    spec_error(["no built-in spec 'chinchila'", "did you mean 'chinchilla'?"], load_spec,
               "chinchila")


def test_python_payload_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    path = tmp_path / "evil.toml"
    path.write_text(f"law = {json.dumps(payload)}\n", encoding="utf-8")
    assert tomllib.loads(path.read_text(encoding="utf-8"))["law"] == payload
    spec_error(["unknown law", "known laws"], load_spec, path)
    spec_error(["unknown law"], ModelSpec.from_dict, {"law": payload})
    d = chinchilla_dict()
    d["priors"]["alpha"] = {"dist": payload, "kwargs": {}}
    spec_error(["'dist' must be a PyMC distribution name"], ModelSpec.from_dict, d)
    assert not marker.exists()


def test_unusual_text_round_trips_through_toml():
    spec = default_spec("kaplan")
    texts = ['quote " and \\ backslash', "tab\tnewline\n", "em — dash α", "emoji 😀", "\x7f"]
    for text in texts:
        s = spec.replace(description=text, name=text)
        again = ModelSpec.from_dict(tomllib.loads(s.to_toml()))
        assert again == s and again.description == text
