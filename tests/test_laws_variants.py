"""Law variants: data-constrained, over-training, broken power law and the two link laws.

Properties (monotone where the law says so, limits, reductions to the Chinchilla law) with
hypothesis, and the published numbers each paper or its code gives.  The generic properties
(closed form, numpy vs PyTensor, natural <-> sampled round trip, reference independence) run for
every registered law in tests/test_laws.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_laws import NATURAL, closed_form, inputs_for, log_uniform

from bayescale.laws import LAWS
from bayescale.laws.datablations import log_n_opt

FAST = settings(max_examples=80, deadline=None)

# Muennighoff et al. (2023) C4 fit, as printed by the authors (datablations README)
_a, _b, _e, _alpha, _beta, _rd, _rn = (6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596,
                                       15.387756, 5.309743)
C4_FIT = dict(E=math.exp(_e), A=math.exp(_a), B=math.exp(_b), alpha=_alpha, beta=_beta,
              R_D_star=_rd, R_N_star=_rn)
DATABLATIONS = LAWS["datablations"]


# ---------------------------------------------------------------------------- published values
def test_datablations_c4_fit_matches_the_published_rounding():
    assert C4_FIT["E"] == pytest.approx(1.869, abs=5e-4)
    assert C4_FIT["A"] == pytest.approx(520.8, abs=0.05)
    assert C4_FIT["B"] == pytest.approx(1487.7, abs=0.05)
    assert (_rd, _rn) == (pytest.approx(15.39, abs=0.005), pytest.approx(5.31, abs=0.005))


def test_datablations_reproduces_the_readme_examples():
    """The two Figure 1 (right) models in the datablations README, to float precision."""
    law = DATABLATIONS
    assert float(law.loss(C4_FIT, N=6.34e9, D=242e9, U=25e9)) == pytest.approx(
        2.2256440889984477, rel=1e-14)
    assert float(law.loss(C4_FIT, N=8.67e9, D=178e9, U=25e9)) == pytest.approx(
        2.2269634075087867, rel=1e-14)
    # the same through a reference-centred parameterisation (as inside a model)
    ref = {"N": 1e9, "D": 1e10}
    sampled = law.from_natural(C4_FIT, ref)
    x = {"N": np.array([6.34e9, 8.67e9]), "D": np.array([242e9, 178e9]), "U": np.full(2, 25e9)}
    np.testing.assert_allclose(np.exp(law.log_loss(sampled, x, ref)),
                               [2.2256440889984477, 2.2269634075087867], rtol=1e-13)


def test_datablations_readme_optimal_allocation():
    """README: for 8.67B params x 178B tokens with 25B unique, the law prefers about 227B tokens
    (9.1 epochs) and 6.8B parameters (its grid search, same compute)."""
    law = DATABLATIONS
    f = np.concatenate([np.linspace(1.0001, 3, 500), 1 / np.linspace(1.0001, 3, 500)])
    D = 178e9 * f
    N = 8.67e9 / f
    loss = law.loss(C4_FIT, N=N, D=D, U=np.minimum(25e9, D))
    best = int(np.argmin(loss))
    assert D[best] == pytest.approx(227e9, rel=0.01)
    assert D[best] / 25e9 == pytest.approx(9.1, abs=0.05)
    assert N[best] == pytest.approx(6.8e9, rel=0.01)


def test_datablations_n_opt_is_the_chinchilla_optimum():
    """N_opt(U) in centred logs equals the authors' D_to_N; at Gopher's compute the C4 fit gives
    69.96B parameters for 1.372T tokens (the authors' notebook output)."""
    A, B, alpha, beta = C4_FIT["A"], C4_FIT["B"], C4_FIT["alpha"], C4_FIT["beta"]
    G = ((alpha * A) / (beta * B)) ** (1 / (alpha + beta))
    d_opt = (1 / G) * (5.76e23 / 6) ** (alpha / (alpha + beta))
    assert d_opt == pytest.approx(1372170066384.2363, rel=1e-9)
    for ref in ({"N": 1e9, "D": 1e10}, {"N": 1e7, "D": 1e12}):
        p = DATABLATIONS.from_natural(C4_FIT, ref)
        n_opt = math.exp(log_n_opt(np, p, math.log(d_opt / ref["D"]))) * ref["N"]
        assert n_opt == pytest.approx(69962173313.52132, rel=1e-9)
        assert n_opt == pytest.approx((d_opt * G) ** (beta / alpha) * G, rel=1e-12)


# ---------------------------------------------------------------------------- datablations
@FAST
@given(p=NATURAL["chinchilla"], N=log_uniform(1e6, 1e12), D=log_uniform(1e8, 1e14),
       rd=log_uniform(0.5, 100), rn=log_uniform(0.5, 100))
def test_datablations_is_chinchilla_with_one_epoch_and_no_excess_parameters(p, N, D, rd, rn):
    law = DATABLATIONS
    nat = {**p, "R_D_star": rd, "R_N_star": rn}
    G = ((p["alpha"] * p["A"]) / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    N = min(N, 0.999 * (D * G) ** (p["beta"] / p["alpha"]) * G)  # N <= N_opt(U = D)
    got = float(law.loss(nat, N=N, D=D, U=D))
    assert got == pytest.approx(float(LAWS["chinchilla"].loss(p, N=N, D=D)), rel=1e-12)


@FAST
@given(p=NATURAL["datablations"], N=log_uniform(1e6, 1e12), U=log_uniform(1e7, 1e12))
def test_repeated_data_saturates_at_u_times_one_plus_r_d_star(p, N, U):
    """Beyond many multiples of R_D* epochs the loss stops improving: D' -> U (1 + R_D*)."""
    law = DATABLATIONS
    far = float(law.loss(p, N=N, D=U * (1 + 60 * p["R_D_star"]), U=U))
    limit = float(law.loss(p, N=N, D=U * (1 + 1e6 * p["R_D_star"]), U=U))
    assert far == pytest.approx(limit, rel=1e-9)
    fresh = float(law.loss(p, N=N, D=U * (1 + 60 * p["R_D_star"]),
                           U=U * (1 + 60 * p["R_D_star"])))
    assert fresh <= far  # the same tokens, all unique, are never worse


@pytest.mark.parametrize("which", ["N", "D", "U"])
def test_datablations_decreasing(which):
    """More parameters, more tokens (at fixed unique data) or more unique tokens (at fixed
    tokens, U <= D) never raise the loss."""
    law = DATABLATIONS

    @FAST
    @given(p=NATURAL["datablations"], x=inputs_for("datablations"), f=st.floats(1.5, 100.0))
    def check(p, x, f):
        bigger = {**x, which: x[which] * f}
        if which == "U":
            bigger["U"] = min(bigger["U"], x["D"])
        l1, l2 = float(law.loss(p, **x)), float(law.loss(p, **bigger))
        assert l2 <= l1 * (1 + 1e-12)
        if closed_form("datablations", p, **x) - closed_form("datablations", p, **bigger) > \
                1e-9 * l1:
            assert l2 < l1

    check()


# ---------------------------------------------------------------------------- over-training
@FAST
@given(p=NATURAL["overtraining"], x=inputs_for("overtraining"))
def test_overtraining_is_chinchilla_with_tied_exponents(p, x):
    eta = p["eta"]
    chin = dict(E=p["E"], A=p["a"] * 6**-eta, B=p["b"] * 6**-eta, alpha=2 * eta, beta=2 * eta)
    assert float(LAWS["overtraining"].loss(p, **x)) == pytest.approx(
        float(LAWS["chinchilla"].loss(chin, **x)), rel=1e-11)


@FAST
@given(p=NATURAL["overtraining"], x=inputs_for("overtraining"))
def test_overtraining_matches_the_authors_code_parameterisation(p, x):
    """mlfoundations/scaling ``powlaw_ours((N, M), alpha, beta, b, E) = alpha N^b +
    beta 6^(b/2) (M N)^b + E`` with ``b = -2 eta``, ``alpha = a 6^-eta``, ``beta = b_paper``."""
    eta = p["eta"]
    N, M = x["N"], x["D"] / x["N"]
    k = -2 * eta
    code = p["a"] * 6**-eta * N**k + p["b"] * 6 ** (k / 2) * (M * N) ** k + p["E"]
    assert float(LAWS["overtraining"].loss(p, **x)) == pytest.approx(code, rel=1e-11)


@FAST
@given(p=NATURAL["overtraining"], C=log_uniform(1e17, 1e25))
def test_overtraining_one_exponent_at_every_token_multiplier(p, C):
    """At fixed M the reducible loss is a power law in C with exponent eta (Gadre et al.)."""
    law = LAWS["overtraining"]
    for M in (5.0, 20.0, 640.0):
        red = []
        for c in (C, 10 * C):
            N = math.sqrt(c / (6 * M))
            red.append(float(law.loss(p, N=N, D=M * N)) - p["E"])
        if min(red) > 1e-9 * p["E"]:
            assert math.log10(red[0] / red[1]) == pytest.approx(p["eta"], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("which", ["N", "D"])
def test_overtraining_decreasing(which):
    law = LAWS["overtraining"]

    @FAST
    @given(p=NATURAL["overtraining"], x=inputs_for("overtraining"), f=st.floats(1.5, 100.0))
    def check(p, x, f):
        l1 = float(law.loss(p, **x))
        l2 = float(law.loss(p, **{**x, which: x[which] * f}))
        assert l2 <= l1

    check()


# ---------------------------------------------------------------------------- broken power law
@FAST
@given(p=NATURAL["broken_power"], C=log_uniform(1e15, 1e27), f=st.floats(1.5, 100.0))
def test_broken_power_decreasing_when_both_exponents_positive(p, C, f):
    law = LAWS["broken_power"]
    assert p["c0"] + p["c1"] > 0
    l1, l2 = float(law.loss(p, C=C)), float(law.loss(p, C=C * f))
    assert l2 <= l1


@FAST
@given(p=NATURAL["broken_power"])
def test_broken_power_limits_are_two_power_laws(p):
    """Far below the break the exponent is c0; far above it, c0 + c1."""
    law = LAWS["broken_power"]
    scale = math.exp(40 * p["f1"])  # (C / d1)^(1/f1) = e^(+-40): the break term is negligible
    for C, slope in ((p["d1"] / scale, p["c0"]), (p["d1"] * scale, p["c0"] + p["c1"])):
        red = [float(law.loss(p, C=c)) - p["E"] for c in (C, C * 1.01)]
        if min(red) > 1e-6 * p["E"]:
            assert math.log(red[0] / red[1]) / math.log(1.01) == pytest.approx(slope, rel=1e-3,
                                                                                abs=1e-6)


def test_broken_power_without_break_is_the_compute_law():
    p = dict(E=1.7, A=300.0, c0=0.15, c1=0.0, d1=1e20, f1=0.5)
    C = np.geomspace(1e17, 1e25, 9)
    np.testing.assert_allclose(LAWS["broken_power"].loss(p, C=C),
                               LAWS["compute"].loss(dict(E=1.7, A=300.0, gamma=0.15), C=C),
                               rtol=1e-13)


# ---------------------------------------------------------------------------- link laws
@pytest.mark.parametrize("name", ["loss_to_loss", "downstream_error"])
def test_link_laws_increase_with_the_loss(name):
    law = LAWS[name]

    @FAST
    @given(p=NATURAL[name], x=inputs_for(name), f=st.floats(1.01, 3.0))
    def check(p, x, f):
        lo = float(law.loss(p, **x))
        hi = float(law.loss(p, loss=min(x["loss"] * f, 10.0)))
        assert hi >= lo

    check()


def test_link_laws_read_the_loss_and_predict_another_column():
    assert LAWS["loss_to_loss"].inputs == ("loss",)
    assert LAWS["loss_to_loss"].target == "target_loss"
    assert LAWS["downstream_error"].inputs == ("loss",)
    assert LAWS["downstream_error"].target == "error"
    # Err -> eps at high loss (an uninformed model), and the Gadre et al. decay form
    p = dict(eps=0.7, k=2.5, gamma=0.9)
    law = LAWS["downstream_error"]
    assert float(law.loss(p, loss=50.0)) == pytest.approx(0.7, rel=1e-12)
    assert float(law.loss(p, loss=3.0)) == pytest.approx(0.7 - 2.5 * math.exp(-2.7), rel=1e-13)


def test_loss_to_loss_is_the_identity_for_identical_distributions():
    p = dict(K=1.0, kappa=1.0, E_src=1.8, E_tgt=1.8)
    L = np.linspace(2.0, 6.0, 9)
    np.testing.assert_allclose(LAWS["loss_to_loss"].loss(p, loss=L), L, rtol=1e-13)


def test_reference_of_is_validated():
    from bayescale.laws import Law

    law = DATABLATIONS
    with pytest.raises(ValueError, match="reference_of"):
        Law(name="bad", formula="", inputs=("N",), params=law.params, natural=law.natural,
            log_loss_fn=law.log_loss_fn, to_natural_fn=law.to_natural_fn,
            from_natural_fn=law.from_natural_fn, reference_of={"U": "D"})
    assert law.reference_inputs == ("N", "D")
    assert law.log_reference({"N": 1e9, "D": 1e10})["U"] == pytest.approx(math.log(1e10))
