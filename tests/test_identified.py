"""Identified coordinates: an exact change of variables, and the same posterior, sampled faster."""

from __future__ import annotations

import numpy as np
import pytest

from bayescale.laws import LAWS, get_law
from bayescale.modeling.identified import (
    IdentifiedCoords,
    identified_from_params,
    initial_values,
    law_params,
)
from tests.conftest import TEST_DRAWS, TRUTH, simulate_runs

STRUCTURED = [name for name, law in LAWS.items() if law.structure is not None]


def _flat(coords, l, z, log_g):
    return np.array([l, *(z[s] for s in coords.scales), *(log_g[e] for e in log_g)])


def _unflat(coords, v, sloped):
    k = len(coords.scales)
    z = dict(zip(coords.scales, v[1:1 + k], strict=True))
    log_g = dict(zip(sloped, v[1 + k:], strict=True))
    return v[0], z, log_g


@pytest.mark.parametrize("name", STRUCTURED)
def test_log_jacobian_matches_finite_differences(name):
    """log|det J| of (l, z, log g) -> replaced law parameters equals the closed form."""
    law = get_law(name)
    coords = IdentifiedCoords.of(law)
    sloped = [e for e, s in zip(coords.exponents, coords.sloped, strict=True) if s]
    fixed = {e: 0.3 for e, s in zip(coords.exponents, coords.sloped, strict=True) if not s}
    xbar = {k: 0.4 for k in coords.inputs}
    rng = np.random.default_rng(0)
    for _ in range(5):
        v = np.concatenate([[rng.normal(1.0, 0.2)], rng.normal(0, 1, len(coords.scales)),
                            rng.normal(-2.5, 0.5, len(sloped))])

        def f(vec):
            p, _ = law_params(np, coords, *_unflat(coords, vec, sloped), fixed, xbar)
            return np.array([p[n] for n in coords.replaced])

        jac = np.empty((v.size, v.size))
        for j in range(v.size):
            h = np.zeros_like(v)
            h[j] = 1e-6
            jac[:, j] = (f(v + h) - f(v - h)) / 2e-6
        _, log_jac = law_params(np, coords, *_unflat(coords, v, sloped), fixed, xbar)
        assert np.linalg.slogdet(jac)[1] == pytest.approx(float(log_jac), abs=1e-5)


@pytest.mark.parametrize("name", STRUCTURED)
def test_round_trip_through_identified_coordinates(name):
    law = get_law(name)
    coords = IdentifiedCoords.of(law)
    params = {"E": 1.7}
    for s, e in zip(coords.scales, coords.exponents, strict=True):
        params[s] = -1.1
        params[e] = 0.33
    xbar = {k: -0.7 for k in coords.inputs}
    back = identified_from_params(coords, params, xbar)
    fixed = {e: params[e] for e, s in zip(coords.exponents, coords.sloped, strict=True) if not s}
    again, _ = law_params(np, coords, back["l"], back["z"], back["log_g"], fixed, xbar)
    for k in coords.replaced:
        assert float(again[k]) == pytest.approx(params[k], rel=1e-10)


def test_rough_start_lies_near_the_truth():
    """The data-derived start is a plausible curve: level within 15%, slopes within a factor 2."""
    runs = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=0)
    law = get_law("chinchilla")
    coords = IdentifiedCoords.of(law)
    ref = {"N": 1e9, "D": 1e11}
    x = law.centred_inputs({"N": runs["N"].to_numpy(), "D": runs["D"].to_numpy()}, ref)
    y = np.log(runs["loss"].to_numpy())
    v = initial_values(coords, y, x, None, 1)
    truth = law.from_natural(TRUTH["chinchilla"], ref)
    centre = {"N": v["xbar_N"], "D": v["xbar_D"]}
    exact = identified_from_params(coords, truth, centre)
    assert float(v["id0_l"]) == pytest.approx(float(exact["l"]), abs=0.15)
    for e in ("alpha", "beta"):
        assert abs(float(v[f"id0_log_g_{e}"]) - float(exact["log_g"][e])) < 0.7


@pytest.mark.slow
def test_identified_and_natural_coordinates_give_the_same_posterior():
    """Real sampler: the change of variables leaves the posterior unchanged (within MC error)."""
    import bayescale as bs

    runs = simulate_runs("chinchilla", TRUTH["chinchilla"], seed=4, sigma=0.02)
    kw = dict(draws=TEST_DRAWS * 2, tune=TEST_DRAWS, seed=1, progressbar=False, prior_draws=0)
    ident = bs.fit(runs, "chinchilla", **kw)
    natural = bs.fit(runs, "chinchilla", coordinates="natural", warn=False, **kw)
    import json

    assert json.loads(ident.meta["settings"])["coordinates"] == "identified"
    assert json.loads(natural.meta["settings"])["coordinates"] == "natural"
    a, b = ident.draws(), natural.draws()
    for k in ("E", "alpha", "beta", "A", "B"):
        qa = np.quantile(a[k], [0.1, 0.5, 0.9])
        qb = np.quantile(b[k], [0.1, 0.5, 0.9])
        spread = qa[2] - qa[0]
        assert np.all(np.abs(qa - qb) < 0.15 * spread), (k, qa, qb)
    assert ident.diagnostics.ok
    steps_i = float(ident.tree["sample_stats"]["n_steps"].mean())
    steps_n = float(natural.tree["sample_stats"]["n_steps"].mean())
    assert steps_i <= steps_n * 1.2
