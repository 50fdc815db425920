"""Property tests for the scaling laws (bayescale.laws): monotonicity, round trips, numpy vs
PyTensor agreement, numerical stability and published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayescale.laws import LAWS, Law, get_law

pytensor = pytest.importorskip("pytensor")
pt = pytest.importorskip("pytensor.tensor")

FAST = settings(max_examples=60, deadline=None)

HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
KAPLAN = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.095)


# ---------------------------------------------------------------------------- strategies
def log_uniform(lo: float, hi: float):
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


exponent = st.floats(0.05, 1.0)
N_values = log_uniform(1e6, 1e13)
D_values = log_uniform(1e7, 1e14)
C_values = log_uniform(1e15, 1e27)
factor = st.floats(1.5, 100.0)  # ratio between the two inputs compared for monotonicity

# valid natural parameters of each law
NATURAL_RANGES = {
    "chinchilla": {
        "E": st.floats(0.5, 4.0),
        "A": log_uniform(1.0, 1e5),
        "B": log_uniform(1.0, 1e5),
        "alpha": exponent,
        "beta": exponent,
    },
    "kaplan": {
        "N_c": log_uniform(1e6, 1e15),
        "D_c": log_uniform(1e6, 1e15),
        "alpha_N": exponent,
        "alpha_D": exponent,
    },
    "compute": {"E": st.floats(0.5, 4.0), "A": log_uniform(1.0, 1e5), "gamma": exponent},
    "datablations": {
        "E": st.floats(0.5, 4.0),
        "A": log_uniform(1.0, 1e5),
        "B": log_uniform(1.0, 1e5),
        "alpha": exponent,
        "beta": exponent,
        "R_D_star": log_uniform(0.5, 100.0),
        "R_N_star": log_uniform(0.5, 100.0),
    },
    "overtraining": {"E": st.floats(0.5, 4.0), "a": log_uniform(1.0, 1e5),
                     "b": log_uniform(1.0, 1e5), "eta": st.floats(0.025, 0.5)},
    # c1 is drawn as the ratio (c0 + c1) / c0 > 0 (a decreasing law) and mapped below
    "broken_power": {"E": st.floats(0.5, 4.0), "A": log_uniform(1.0, 1e5), "c0": exponent,
                     "c1": st.floats(0.05, 3.0), "d1": C_values, "f1": st.floats(0.05, 3.0)},
    "loss_to_loss": {"K": log_uniform(0.05, 20.0), "kappa": st.floats(0.2, 3.0),
                     "E_src": st.floats(0.3, 1.5), "E_tgt": st.floats(0.3, 4.0)},
    # k is drawn as the fraction of eps the decay term reaches at the smallest loss, mapped below
    "downstream_error": {"eps": st.floats(0.3, 1.0), "k": st.floats(0.01, 0.95),
                         "gamma": st.floats(0.2, 3.0)},
}
LOSS_MIN = 1.6  # smallest source loss drawn: above every E_src, and where the error law is valid


def _constrain(name: str, p: dict) -> dict:
    p = dict(p)
    if name == "broken_power":
        p["c1"] = p["c0"] * (p["c1"] - 1.0)
    if name == "downstream_error":
        p["k"] = p["k"] * p["eps"] * math.exp(p["gamma"] * LOSS_MIN)
    return p


NATURAL = {name: st.fixed_dictionaries(r).map(lambda p, n=name: _constrain(n, p))
           for name, r in NATURAL_RANGES.items()}
INPUTS = {"N": N_values, "D": D_values, "C": C_values, "U": D_values,
          "loss": st.floats(LOSS_MIN, 10.0)}


@st.composite
def _with_unique(draw, base):
    x = draw(base)
    x["U"] = x["D"] / draw(log_uniform(1.0, 1e4))  # 1 to 10,000 epochs
    return x


def inputs_for(name: str):
    """One valid input point of a law (unique tokens never exceed training tokens)."""
    law = LAWS[name]
    base = st.fixed_dictionaries({k: INPUTS[k] for k in law.inputs if k != "U"})
    return _with_unique(base) if "U" in law.inputs else base


def reference_for(law: Law):
    # reference scales anywhere a user might centre the data (losses: where losses are)
    return st.fixed_dictionaries({k: log_uniform(0.5, 20.0) if k == "loss" else
                                  log_uniform(1e3, 1e25) for k in law.reference_inputs})


def test_every_registered_law_has_strategies():
    # a new law must get parameter ranges here so the properties below cover it
    assert set(LAWS) <= set(NATURAL)
    for name, law in LAWS.items():
        assert get_law(name) is law
        assert set(NATURAL_RANGES[name]) == set(law.natural)
        assert set(law.inputs) <= set(INPUTS)
        assert law.target not in law.inputs


# ---------------------------------------------------------------------------- analytic reference
def closed_form(name: str, p: dict, **x: float) -> float:
    """The published formula written naively, in natural parameters."""
    if name == "chinchilla":
        return p["E"] + p["A"] / x["N"] ** p["alpha"] + p["B"] / x["D"] ** p["beta"]
    if name == "kaplan":
        return ((p["N_c"] / x["N"]) ** (p["alpha_N"] / p["alpha_D"]) + p["D_c"] / x["D"]) ** p[
            "alpha_D"
        ]
    if name == "compute":
        return p["E"] + p["A"] * x["C"] ** (-p["gamma"])
    if name == "datablations":  # the authors' scaling_law (datablations README), verbatim maths
        A, B, alpha, beta = p["A"], p["B"], p["alpha"], p["beta"]
        G = ((alpha * A) / (beta * B)) ** (1 / (alpha + beta))
        N, D, U = x["N"], x["D"], x["U"]
        RD = max(D / U - 1, 0)
        UN = min(N, (U * G) ** (beta / alpha) * G)
        RN = max(N / UN - 1, 0)
        rn, rd = p["R_N_star"], p["R_D_star"]
        return (p["E"] + A / (UN + UN * rn * (1 - math.exp(-RN / rn))) ** alpha
                + B / (U + U * rd * (1 - math.exp(-RD / rd))) ** beta)
    if name == "overtraining":  # Gadre et al. eq. 4 in (C, M)
        C, M = 6 * x["N"] * x["D"], x["D"] / x["N"]
        return p["E"] + (p["a"] * M ** p["eta"] + p["b"] * M ** -p["eta"]) * C ** -p["eta"]
    if name == "broken_power":
        return p["E"] + p["A"] * x["C"] ** -p["c0"] * (
            1 + (x["C"] / p["d1"]) ** (1 / p["f1"])) ** (-p["c1"] * p["f1"])
    if name == "loss_to_loss":
        return p["K"] * (x["loss"] - p["E_src"]) ** p["kappa"] + p["E_tgt"]
    if name == "downstream_error":
        return p["eps"] - p["k"] * math.exp(-p["gamma"] * x["loss"])
    raise KeyError(name)


def min_relative_decrease(name: str, p: dict, which: str, f: float, **x: float) -> float:
    """A lower bound on the relative decrease of the loss when input ``which`` grows by ``f``.

    Used to decide when a decrease must be visible in float64: terms that are negligible next
    to the others (e.g. (N_c/N)^20 = 1e-140 in the Kaplan law) cannot change the loss in floating
    point, and there only ``<=`` can be asserted.
    """
    loss = closed_form(name, p, **x)
    if name == "chinchilla":
        a, e = {"N": ("A", "alpha"), "D": ("B", "beta")}[which]
        term = p[a] / x[which] ** p[e]
        return term * (1 - f ** -p[e]) / loss
    if name == "compute":
        term = p["A"] * x["C"] ** -p["gamma"]
        return term * (1 - f ** -p["gamma"]) / loss
    if name == "kaplan":
        r = p["alpha_N"] / p["alpha_D"]
        tn = (p["N_c"] / x["N"]) ** r
        td = p["D_c"] / x["D"]
        w, k = (tn / (tn + td), r) if which == "N" else (td / (tn + td), 1.0)
        # log(L1/L2) >= alpha_D * w (1 - f^-k), and L1/L2 - 1 >= log(L1/L2)
        return p["alpha_D"] * w * (1 - f**-k)
    raise KeyError(name)


# ---------------------------------------------------------------------------- loss properties
@pytest.mark.parametrize("name", sorted(LAWS))
def test_loss_finite_positive_and_matches_closed_form(name):
    law = LAWS[name]

    @FAST
    @given(p=NATURAL[name], x=inputs_for(name))
    def check(p, x):
        loss = float(law.loss(p, **x))
        assert np.isfinite(loss) and loss > 0
        np.testing.assert_allclose(loss, closed_form(name, p, **x), rtol=1e-10)

    check()


@pytest.mark.parametrize(("name", "which"), [("chinchilla", "N"), ("chinchilla", "D"),
                                             ("kaplan", "N"), ("kaplan", "D"),
                                             ("compute", "C")])
def test_loss_strictly_decreasing(name, which):
    law = LAWS[name]

    @FAST
    @given(p=NATURAL[name], x=inputs_for(name), f=factor)
    def check(p, x, f):
        bigger = {**x, which: x[which] * f}
        l1, l2 = float(law.loss(p, **x)), float(law.loss(p, **bigger))
        assert l2 <= l1
        if min_relative_decrease(name, p, which, f, **x) > 1e-12:
            assert l2 < l1

    check()


def test_strictness_guard_is_not_vacuous():
    # with published values the decrease is always far above float resolution
    assert min_relative_decrease("chinchilla", HOFFMANN, "N", 2.0, N=1e13, D=1e14) > 1e-4
    assert min_relative_decrease("kaplan", KAPLAN, "N", 2.0, N=1e9, D=1e11) > 1e-4
    assert min_relative_decrease("kaplan", KAPLAN, "D", 2.0, N=1e9, D=1e11) > 1e-4


def test_loss_decreasing_along_grids():
    N = np.geomspace(1e6, 1e13, 200)
    D = np.geomspace(1e7, 1e14, 200)
    for name, p in (("chinchilla", HOFFMANN), ("kaplan", KAPLAN)):
        law = LAWS[name]
        assert np.all(np.diff(law.loss(p, N=N, D=1e11)) < 0)
        assert np.all(np.diff(law.loss(p, N=1e9, D=D)) < 0)
    compute = LAWS["compute"]
    assert np.all(np.diff(compute.loss(dict(E=1.7, A=100.0, gamma=0.1),
                                       C=np.geomspace(1e15, 1e27, 200))) < 0)


@FAST
@given(p=NATURAL["chinchilla"], N=N_values, D=D_values)
def test_chinchilla_above_irreducible_loss(p, N, D):
    law = LAWS["chinchilla"]
    loss = float(law.loss(p, N=N, D=D))
    assert loss > p["E"]
    # the excess is the two reducible terms (up to rounding of the total)
    excess = p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    assert abs((loss - p["E"]) - excess) <= 1e-14 * loss


@FAST
@given(p=NATURAL["compute"], C=C_values)
def test_compute_above_irreducible_loss(p, C):
    loss = float(LAWS["compute"].loss(p, C=C))
    assert loss >= p["E"] * (1 - 1e-15)  # exp(log E) may round one ulp below E
    if p["A"] * C ** -p["gamma"] > 1e-12 * p["E"]:  # otherwise invisible in float64
        assert loss > p["E"]


# ---------------------------------------------------------------------------- parameter maps
@pytest.mark.parametrize("name", sorted(LAWS))
def test_natural_round_trip(name):
    law = LAWS[name]

    @FAST
    @given(p=NATURAL[name], ref=reference_for(law))
    def check(p, ref):
        sampled = law.from_natural(p, ref)
        assert set(sampled) == set(law.param_names)
        back = law.to_natural(sampled, ref)
        assert set(back) == set(law.natural)
        for k in law.natural:
            np.testing.assert_allclose(back[k], p[k], rtol=1e-9, err_msg=k)

    check()


@pytest.mark.parametrize("name", sorted(LAWS))
def test_loss_independent_of_reference(name):
    """The same natural parameters predict the same loss whatever the reference scales."""
    law = LAWS[name]

    @FAST
    @given(p=NATURAL[name], ref=reference_for(law), x=inputs_for(name))
    def check(p, ref, x):
        sampled = law.from_natural(p, ref)
        via_ref = float(np.exp(law.log_loss(sampled, x, ref)))
        np.testing.assert_allclose(via_ref, float(law.loss(p, **x)), rtol=1e-9)

    check()


def test_natural_maps_broadcast_over_draws():
    law = LAWS["chinchilla"]
    rng = np.random.default_rng(0)
    draws = {k: np.full(50, v) * rng.uniform(0.9, 1.1, 50) for k, v in HOFFMANN.items()}
    ref = {"N": 1e9, "D": 1e11}
    back = law.to_natural(law.from_natural(draws, ref), ref)
    for k in law.natural:
        np.testing.assert_allclose(back[k], draws[k], rtol=1e-12)
    N = np.geomspace(1e7, 1e11, 7)
    loss = law.loss({k: v[:, None] for k, v in draws.items()}, N=N[None, :], D=1e11)
    assert loss.shape == (50, 7)


# ---------------------------------------------------------------------------- numpy vs PyTensor
REFERENCE = {"N": 1e9, "D": 1e11, "C": 1e20, "loss": 3.0}


@pytest.fixture(scope="module")
def compiled():
    """One compiled PyTensor function per law: (sampled params..., inputs...) -> log loss."""
    fns = {}
    for name, law in LAWS.items():
        params = {k: pt.dscalar(k) for k in law.param_names}
        inputs = {k: pt.dvector(k) for k in law.inputs}
        reference = {k: REFERENCE[k] for k in law.reference_inputs}
        out = law.log_loss(params, inputs, reference, xp=pt)
        fns[name] = pytensor.function(
            [*params.values(), *inputs.values()], out, mode="FAST_COMPILE"
        )
    return fns


@pytest.mark.parametrize("name", sorted(LAWS))
def test_numpy_and_pytensor_agree(name, compiled):
    law = LAWS[name]
    reference = {k: REFERENCE[k] for k in law.reference_inputs}
    fn = compiled[name]

    @settings(max_examples=80, deadline=None)
    @given(
        p=NATURAL[name],
        x=st.fixed_dictionaries(
            {k: st.lists(INPUTS[k], min_size=1, max_size=6) for k in law.inputs}
        ),
    )
    def check(p, x):
        size = min(len(v) for v in x.values())
        xs = {k: np.asarray(v[:size], dtype=float) for k, v in x.items()}
        sampled = law.from_natural(p, reference)
        expected = law.log_loss(sampled, xs, reference)
        got = fn(*[float(sampled[k]) for k in law.param_names], *[xs[k] for k in law.inputs])
        assert got.dtype == np.float64 and got.shape == (size,)
        # log losses near 0 (loss near 1) make a purely relative comparison meaningless: allow
        # 1e-13 absolute on the log scale (a 1e-13 relative error in the loss)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(np.exp(got), np.exp(expected), rtol=1e-12)

    check()


# ---------------------------------------------------------------------------- numerical stability
@settings(max_examples=100, deadline=None)
@given(p=NATURAL["chinchilla"], N=log_uniform(1e3, 1e20), D=log_uniform(1e3, 1e20),
       ref=reference_for(LAWS["chinchilla"]))
def test_chinchilla_stable_at_extreme_scales(p, N, D, ref):
    law = LAWS["chinchilla"]
    naive = closed_form("chinchilla", p, N=N, D=D)
    assert np.isfinite(naive)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sampled = law.from_natural(p, ref)
        log_loss = law.log_loss(sampled, {"N": N, "D": D}, ref)
    assert np.isfinite(log_loss)
    np.testing.assert_allclose(np.exp(log_loss), naive, rtol=1e-9)


def test_chinchilla_log_space_where_naive_terms_overflow():
    """Far outside the data the log-space form still gives finite log losses."""
    law = LAWS["chinchilla"]
    ref = {"N": 1e9, "D": 1e11}
    p = law.from_natural(dict(E=1.7, A=1e5, B=1e5, alpha=1.0, beta=1.0), ref)
    tiny = np.array([1e-310, 1e-300, 1e-10])
    with np.errstate(over="ignore"):
        assert np.isinf(1e5 / tiny[0])  # the naive formula overflows here
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = law.log_loss(p, {"N": tiny, "D": np.full(3, 1e11)}, ref)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np.log(1e5) - np.log(tiny), rtol=1e-12)
    huge = np.array([1e30, 1e100, 1e300])
    out = law.log_loss(p, {"N": huge, "D": huge}, ref)
    np.testing.assert_allclose(np.exp(out), 1.7, rtol=1e-12)


# ---------------------------------------------------------------------------- published values
def test_hoffmann_approach3_value():
    law = LAWS["chinchilla"]
    loss = float(law.loss(HOFFMANN, N=70e9, D=1.4e12))
    assert loss == pytest.approx(1.9366, abs=1e-4)
    assert loss == pytest.approx(closed_form("chinchilla", HOFFMANN, N=70e9, D=1.4e12), rel=1e-14)
    # the same through a reference-centred parameterisation
    ref = {"N": 1e9, "D": 1e11}
    sampled = law.from_natural(HOFFMANN, ref)
    assert float(np.exp(law.log_loss(sampled, {"N": 70e9, "D": 1.4e12}, ref))) == pytest.approx(
        loss, rel=1e-13
    )
    # the reference-scale terms quoted in models/chinchilla.toml
    assert math.exp(sampled["log_A0"]) == pytest.approx(0.35, abs=0.01)
    assert math.exp(sampled["log_B0"]) == pytest.approx(0.34, abs=0.01)


@pytest.mark.parametrize(("N", "D"), [(1.5e9, 2.3e10), (1e8, 1e9), (1e12, 1e13), (7e10, 1.4e12)])
def test_kaplan_closed_form(N, D):
    law = LAWS["kaplan"]
    expected = ((6.4e13 / N) ** (0.076 / 0.095) + 1.8e13 / D) ** 0.095
    assert float(law.loss(KAPLAN, N=N, D=D)) == pytest.approx(expected, rel=1e-13)


def test_kaplan_limits_are_the_single_variable_laws():
    # D -> infinity: L = (N_c / N)^alpha_N ; N -> infinity: L = (D_c / D)^alpha_D
    law = LAWS["kaplan"]
    assert float(law.loss(KAPLAN, N=1e9, D=1e300)) == pytest.approx(
        (6.4e13 / 1e9) ** 0.076, rel=1e-12)
    assert float(law.loss(KAPLAN, N=1e300, D=1e10)) == pytest.approx(
        (1.8e13 / 1e10) ** 0.095, rel=1e-12)


def test_kaplan_reference_parameters_match_spec_comment():
    law = LAWS["kaplan"]
    p = law.from_natural(KAPLAN, {"N": 1e9, "D": 1e11})
    assert p["u0"] == pytest.approx(8.9, abs=0.05)
    assert p["v0"] == pytest.approx(5.2, abs=0.05)


def test_compute_law_known_value():
    law = LAWS["compute"]
    assert float(law.loss(dict(E=1.7, A=100.0, gamma=0.1), C=1e21)) == pytest.approx(
        1.7 + 100.0 * 1e21**-0.1, rel=1e-13)


def test_get_law_unknown_suggests():
    with pytest.raises(ValueError, match="Did you mean 'chinchilla'"):
        get_law("chinchila")
    with pytest.raises(KeyError, match="missing"):
        LAWS["chinchilla"].from_natural({"E": 1.0}, {"N": 1.0, "D": 1.0})
    with pytest.raises(KeyError, match="no parameter 'gamma'"):
        LAWS["chinchilla"].parameter("gamma")
