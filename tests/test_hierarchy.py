"""Hierarchical models without the sampler: group structures, specs, the built graph, and the
plumbing of group draws (on hand-made posteriors; the statistical claims are in
test_hierarchy_fit.py with the real sampler)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayescale as bs
from bayescale import SpecError
from bayescale.data.synthetic import simulate_hierarchy
from bayescale.modeling import build_model, default_spec, load_spec
from bayescale.modeling.groups import group_structure
from bayescale.modeling.model import free_variable_names
from bayescale.posterior.diagnostics import Diagnostics
from bayescale.posterior.hierarchy import (
    NEW_GROUP,
    group_draws,
    group_summary,
    population_summary,
    unpooled_spec,
)
from bayescale.posterior.result import ScalingFit

# group_draws is exercised here by its former name too: a deprecated wrapper of
# fit.draws(group=...), same arrays (tests/test_draws_api.py checks that it warns).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODELS = Path(__file__).resolve().parents[1] / "models"


def crossed_runs() -> pd.DataFrame:
    """Two data sets x three set-ups with one cell (b/z) missing, 4 runs per cell."""
    cells = [("a", "x"), ("a", "y"), ("a", "z"), ("b", "x"), ("b", "y")]
    rows = []
    for d, s in cells:
        for c in np.logspace(18, 21, 4):
            rows.append({"C": c, "loss": 3.0 * (c / 1e18) ** -0.05, "dataset": d, "setup": s})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- structures
def test_combined_structure_is_one_term_over_the_cells():
    s = group_structure(crossed_runs(), ["dataset", "setup"])
    assert s.cells == ("a/x", "a/y", "a/z", "b/x", "b/y")
    assert [t.name for t in s.terms] == ["group"]
    np.testing.assert_array_equal(s.terms[0].cell_index, np.arange(5))


def test_crossed_structure_has_one_main_effect_per_column():
    s = group_structure(crossed_runs(), ["dataset", "setup"], "crossed")
    ds, st = s.terms
    assert ds.levels == ("a", "b") and st.levels == ("x", "y", "z")
    np.testing.assert_array_equal(ds.cell_index, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(st.cell_index, [0, 1, 2, 0, 1])


def test_nested_structure_identifies_inner_levels_by_their_path():
    runs = crossed_runs().rename(columns={"setup": "family"})
    s = group_structure(runs, ["dataset", "family"], "nested")
    assert s.terms[1].levels == ("a/x", "a/y", "a/z", "b/x", "b/y")  # b/x is not a/x
    np.testing.assert_array_equal(s.terms[0].cell_index, [0, 0, 0, 1, 1])


def test_resolve_group_requests():
    s = group_structure(crossed_runs(), ["dataset", "setup"], "crossed")
    assert s.resolve("a/y") == {"dataset": "a", "setup": "y"}
    assert s.resolve("new") == {"dataset": None, "setup": None}
    assert s.resolve({"dataset": "b", "setup": "z"}) == {"dataset": "b", "setup": "z"}
    assert s.resolve({"dataset": "new", "setup": "x"}) == {"dataset": None, "setup": "x"}
    with pytest.raises(ValueError, match="not a level"):
        s.resolve({"dataset": "c", "setup": "x"})
    with pytest.raises(ValueError, match="each grouping column"):
        s.resolve({"dataset": "a"})
    with pytest.raises(ValueError, match="unknown group 'a/q'"):
        s.resolve("a/q")
    nested = group_structure(crossed_runs().rename(columns={"setup": "family"}),
                             ["dataset", "family"], "nested")
    with pytest.raises(ValueError, match="inside a new dataset"):
        nested.resolve({"dataset": "new", "family": "x"})
    combined = group_structure(crossed_runs(), ["dataset", "setup"])
    with pytest.raises(ValueError, match="was not observed"):
        combined.resolve({"dataset": "b", "setup": "z"})


def test_labels_that_collide_are_rejected():
    runs = pd.DataFrame({"d": ["a/b", "a"], "s": ["c", "b/c"], "C": [1e18, 1e19],
                         "loss": [3.0, 2.9]})
    with pytest.raises(SpecError, match="contain '/'"):
        group_structure(runs, ["d", "s"])


# ---------------------------------------------------------------------------- specs
def test_spec_grouping_and_centering_round_trip_through_toml():
    s = default_spec("chinchilla").replace(groups=("dataset", "setup"), grouping="crossed",
                                           centered=("alpha", "beta"))
    again = bs.ModelSpec.from_dict(tomllib.loads(s.to_toml()))
    assert again == s and again.hash == s.hash
    assert again.grouping == "crossed" and again.centered == ("alpha", "beta")
    # defaults are not written, so specs without groups keep their hash
    assert "grouping" not in default_spec("chinchilla").to_dict()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"groups": ("dataset",), "grouping": "crosed"}, "did you mean 'crossed'"),
        ({"groups": ("dataset",), "grouping": "crossed"}, "two or more grouping columns"),
        ({"groups": ("dataset", "run"), "grouping": "nested"}, "cannot name model dimensions"),
        ({"groups": ("dataset",), "centered": ("alpah",)}, "did you mean 'alpha'"),
        ({"groups": ("dataset",), "centered": ("log_A0",)}, "'independent', not pooled"),
        ({"centered": ("alpha",)}, "'shared', not pooled"),
        ({"groups": ("dataset",), "centered": "alpha"}, "list of parameter names"),
    ],
)
def test_spec_rejects_bad_grouping_and_centering(changes, message):
    with pytest.raises(SpecError, match=message):
        default_spec("chinchilla").replace(**changes)


def test_example_hierarchical_spec_file_loads():
    spec = load_spec(MODELS / "chinchilla_pooled.toml")
    assert spec.groups and spec.pooling_of("alpha") == "pooled"
    assert load_spec("chinchilla_pooled") == spec
    raw = tomllib.loads((MODELS / "chinchilla_pooled.toml").read_text())
    raw["poolling"] = {}
    with pytest.raises(SpecError, match="unknown key"):
        bs.ModelSpec.from_dict(raw)


# ---------------------------------------------------------------------------- the graph
@pytest.mark.parametrize(("grouping", "centered"),
                         [("combined", ()), ("nested", ("E", "gamma")), ("crossed", ("gamma",))])
def test_free_variables_match_the_built_model(grouping, centered):
    spec = default_spec("compute").replace(groups=("dataset", "setup"), grouping=grouping,
                                           centered=centered, coordinates="natural")
    model = build_model(crossed_runs(), spec)
    assert sorted(v.name for v in model.free_RVs) == sorted(free_variable_names(spec))
    assert model["gamma"].eval().shape == (5,)


def test_identified_coordinates_diagnose_the_law_parameters():
    """In identified coordinates the checked names are the law's (derived) parameters."""
    spec = default_spec("compute").replace(groups=("dataset", "setup"), centered=("E", "gamma"))
    model = build_model(crossed_runs(), spec)
    assert model._bayescale["coordinates"] == "identified"
    names = free_variable_names(spec)
    assert {"E", "gamma", "log_A0", "E_mu", "E_tau", "gamma_mu", "gamma_tau"} <= set(names)
    assert all(n in model.named_vars for n in names)


def test_identified_hierarchy_can_sample_an_exponent_non_centred():
    """An exponent left out of ``centered`` is sampled non-centred, the level and shares stay."""
    spec = default_spec("compute").replace(groups=("dataset", "setup"), centered=("E",))
    model = build_model(crossed_runs(), spec)
    names = free_variable_names(spec)
    assert {"gamma_mu", "gamma_tau", "gamma_z", "E", "E_tau"} <= set(names)
    assert all(n in model.named_vars for n in names)
    assert "id_log_g_gamma" not in model.named_vars and "id_l" in model.named_vars
    # the same law parameters at a point: gamma from its non-centred effects
    fn = model.compile_fn(model["gamma"], inputs=[model["gamma_mu"], model["gamma_tau"],
                                                  model["gamma_z"]], on_unused_input="ignore")
    z = np.linspace(-1, 1, model["gamma_z"].eval().size)
    got = fn({"gamma_mu": 0.1, "gamma_tau": 0.5, "gamma_z": z})
    np.testing.assert_allclose(got, 0.1 * np.exp(0.5 * z))


def test_crossed_parameter_is_the_sum_of_main_effects():
    spec = default_spec("compute").replace(groups=("dataset", "setup"), grouping="crossed")
    model = build_model(crossed_runs(), spec)
    point = {"gamma_mu": 0.2, "gamma_tau_dataset": 0.3, "gamma_tau_setup": 0.5,
             "gamma_z_dataset": np.array([1.0, -1.0]), "gamma_z_setup": np.array([0.5, 0.0, -2.0])}
    inputs = [model[k] for k in point]
    fn = model.compile_fn(model["gamma"], inputs=inputs, on_unused_input="ignore",
                          point_fn=False)
    got = fn(*point.values())
    u = np.log(0.2) + 0.3 * np.array([1, 1, 1, -1, -1]) + 0.5 * np.array([0.5, 0, -2, 0.5, 0])
    np.testing.assert_allclose(got, np.exp(u))


def test_nested_centred_levels_sit_around_their_parents():
    runs = crossed_runs().rename(columns={"setup": "family"})
    spec = default_spec("compute").replace(groups=("dataset", "family"), grouping="nested",
                                           centered=("gamma",))
    model = build_model(runs, spec)
    assert {"gamma_u_dataset", "gamma_u_family"} <= {v.name for v in model.free_RVs}
    point = {"gamma_u_dataset": np.array([0.1, -0.2]),
             "gamma_u_family": np.array([0.0, 0.5, 1.0, 1.5, 2.0])}
    fn = model.compile_fn(model["gamma"], inputs=[model[k] for k in point],
                          on_unused_input="ignore", point_fn=False)
    np.testing.assert_allclose(fn(*point.values()), np.exp(point["gamma_u_family"]))
    s = group_structure(runs, ["dataset", "family"], "nested")
    np.testing.assert_array_equal(s.terms[1].parent_index, [0, 0, 0, 1, 1])


def test_group_draws_of_a_centred_hierarchy_recover_the_effects():
    runs = crossed_runs().rename(columns={"setup": "family"})
    spec = default_spec("compute").replace(groups=("dataset", "family"), grouping="nested",
                                           centered=("E", "gamma"), pooling={"log_A0": "shared"})
    ud, uf = np.log([0.2, 0.3]), np.log([0.2, 0.25, 0.15, 0.3, 0.35])
    post = {"gamma_mu": 0.25, "gamma_tau_dataset": 0.2, "gamma_tau_family": 0.4,
            "gamma_u_dataset": ud, "gamma_u_family": uf, "gamma": np.exp(uf),
            "E_mu": 1.8, "E_tau_dataset": 0.1, "E_tau_family": 0.1,
            "E_u_dataset": np.log([1.8, 1.8]), "E_u_family": np.log(np.full(5, 1.8)),
            "E": np.full(5, 1.8), "log_A0": 0.1, "A": np.full(5, 1.0), "sigma": 0.01,
            "nu": 10.0}
    coords = {"gamma_u_dataset": ("dataset",), "gamma_u_family": ("family",),
              "gamma": ("group",), "E_u_dataset": ("dataset",), "E_u_family": ("family",),
              "E": ("group",), "A": ("group",)}
    fit = fake_fit(spec, runs, post, coords)
    np.testing.assert_allclose(group_draws(fit, "b/y", kind="sampled")["gamma"], 0.35)
    g = group_draws(fit, {"dataset": "b", "family": "new"}, kind="sampled", seed=0)["gamma"]
    z = (np.log(g) - ud[1]) / 0.4  # a new family of data set b varies around b's value
    assert abs(z.mean()) < 0.35 and 0.75 < z.std() < 1.25


# ---------------------------------------------------------------------------- group draws
def fake_fit(spec, runs, post: dict, coords: dict, S=(2, 50)) -> ScalingFit:
    """A ScalingFit around a hand-made posterior (plumbing only)."""
    data = {}
    for k, v in post.items():
        v = np.asarray(v, dtype=float)
        dims = ("chain", "draw", *coords.get(k, ()))
        data[k] = (dims, np.broadcast_to(v, (*S, *v.shape)).copy())
    labels = sorted(bs.modeling.group_labels(runs, spec.groups).unique())
    cs = {"group": labels}
    structure = group_structure(runs, spec.groups, spec.grouping)
    for t in structure.terms:
        cs[t.dim] = list(t.levels)
    ds = xr.Dataset(data, coords={k: v for k, v in cs.items()
                                  if any(k in d for d in coords.values())})
    tree = xr.DataTree.from_dict({"posterior": ds})
    diag = Diagnostics(0, 1.0, 1000.0, 1000.0, 1.0, S[0], S[1])
    return ScalingFit(tree, spec, runs, {"C": 1e19}, diag, {})


def crossed_fake():
    spec = default_spec("compute").replace(groups=("dataset", "setup"), grouping="crossed",
                                           pooling={"log_A0": "pooled"})
    runs = crossed_runs()
    zd, zs = np.array([1.0, -1.0]), np.array([0.5, 0.0, -2.0])
    u = np.log(0.2) + 0.3 * zd[[0, 0, 0, 1, 1]] + 0.5 * zs[[0, 1, 2, 0, 1]]
    post = {"gamma_mu": 0.2, "gamma_tau_dataset": 0.3, "gamma_tau_setup": 0.5,
            "gamma_z_dataset": zd, "gamma_z_setup": zs, "gamma": np.exp(u),
            "E_mu": 1.8, "E_tau_dataset": 0.0, "E_tau_setup": 0.0, "E_z_dataset": [0.0, 0.0],
            "E_z_setup": [0.0, 0.0, 0.0], "E": np.full(5, 1.8),
            "log_A0_mu": 0.1, "log_A0_tau_dataset": 0.0, "log_A0_tau_setup": 0.0,
            "log_A0_z_dataset": [0.0, 0.0], "log_A0_z_setup": [0.0, 0.0, 0.0],
            "log_A0": np.full(5, 0.1), "A": np.full(5, 1.0), "sigma": 0.01, "nu": 10.0}
    coords = {"gamma_z_dataset": ("dataset",), "gamma_z_setup": ("setup",), "gamma": ("group",),
              "E_z_dataset": ("dataset",), "E_z_setup": ("setup",), "E": ("group",),
              "log_A0_z_dataset": ("dataset",), "log_A0_z_setup": ("setup",),
              "log_A0": ("group",), "A": ("group",)}
    return fake_fit(spec, runs, post, coords), u


def test_group_draws_observed_unobserved_and_new_levels():
    fit, u = crossed_fake()
    np.testing.assert_allclose(group_draws(fit, "a/z", kind="sampled")["gamma"], np.exp(u[2]))
    # the missing cell b/z: dataset b's effect plus set-up z's effect
    bz = np.log(0.2) + 0.3 * -1.0 + 0.5 * -2.0
    np.testing.assert_allclose(group_draws(fit, {"dataset": "b", "setup": "z"},
                                           kind="sampled")["gamma"], np.exp(bz))
    # a new set-up on data set a: a's effect plus a fresh set-up effect of scale 0.5
    g = group_draws(fit, {"dataset": "a", "setup": "new"}, kind="sampled", seed=1)["gamma"]
    z = (np.log(g) - np.log(0.2) - 0.3) / 0.5
    assert abs(z.mean()) < 0.3 and 0.8 < z.std() < 1.2
    new = group_draws(fit, "new", seed=2)["gamma"]
    assert np.std(np.log(new)) == pytest.approx(np.hypot(0.3, 0.5), rel=0.2)


def test_independent_parameters_block_new_groups_with_a_clear_error():
    spec = default_spec("compute").replace(groups=("dataset",))
    runs = crossed_runs()
    post = {"E_mu": 1.8, "E_tau": 0.1, "E_z": [0.0, 0.0], "E": [1.8, 1.8],
            "gamma_mu": 0.2, "gamma_tau": 0.1, "gamma_z": [0.0, 0.0], "gamma": [0.2, 0.2],
            "log_A0": [0.1, 0.2], "A": [1.0, 1.0], "sigma": 0.01, "nu": 10.0}
    coords = {k: ("group",) for k in ("E_z", "E", "gamma_z", "gamma", "log_A0", "A")}
    fit = fake_fit(spec, runs, post, coords)
    assert group_draws(fit, "b", kind="sampled")["log_A0"][0] == 0.2
    with pytest.raises(ValueError, match="'log_A0' is independent per group"):
        fit.predict(C=[1e20], group="new")


def test_group_summary_and_population_summary_are_tidy():
    fit, _ = crossed_fake()
    t = group_summary(fit, ["gamma", "E"], ci=(0.5, 0.9), new_group=True,
                      derived=lambda d: {"twice": 2 * d["gamma"]})
    assert list(t.columns[:4]) == ["group", "dataset", "setup", "parameter"]
    assert {"median", "lo_50", "hi_90", "r_hat", "ess_bulk", "ess_tail"} <= set(t.columns)
    assert len(t) == 6 * 2 and set(t["group"]) == {*fit.groups, NEW_GROUP}
    row = t[(t.group == "a/z") & (t.parameter == "gamma")].iloc[0]
    assert row["median"] == pytest.approx(np.exp(np.log(0.2) + 0.3 - 1.0))
    twice = group_summary(fit, ["twice"], derived=lambda d: {"twice": 2 * d["gamma"]})
    assert twice.set_index("group").loc["a/z", "median"] == pytest.approx(2 * row["median"])
    p = population_summary(fit)
    assert set(p["quantity"]) == {"mu", "tau[dataset]", "tau[setup]", "new group"}
    assert p.set_index("variable").loc["gamma_mu", "median"] == pytest.approx(0.2)
    with pytest.raises(KeyError, match="not parameters"):
        group_summary(fit, ["gama"])


def test_unpooled_spec_makes_every_parameter_independent():
    s = unpooled_spec(default_spec("chinchilla").replace(groups=("dataset", "setup"),
                                                         grouping="crossed",
                                                         centered=("alpha",)))
    assert {s.pooling_of(p) for p in s.law_obj.param_names} == {"independent"}
    assert s.grouping == "combined" and s.centered == ()


def test_simulated_hierarchy_follows_its_population():
    sim = simulate_hierarchy(400, n_sizes=2, n_ratios=2, seed=3)
    assert np.log(sim.truth["alpha"]).std() == pytest.approx(sim.tau["alpha"], rel=0.15)
    assert np.median(sim.truth["alpha"]) == pytest.approx(sim.center["alpha"], rel=0.05)
    g = sim.runs[sim.runs["family"] == sim.truth.index[0]]
    law = bs.get_law("chinchilla")
    pred = law.loss(sim.truth.iloc[0][list(law.natural)].to_dict(), N=g["N"], D=g["D"])
    np.testing.assert_allclose(g["loss"], pred, rtol=0.05)
