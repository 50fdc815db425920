"""The cheaper log density of :mod:`bayescale.modeling.model` is the same log density.

``_mean_log_loss`` evaluates laws of the form ``E + sum_k exp(log A0_k - m_k alpha_k x_k)`` as
that sum and one ``log`` instead of the law's nested ``logaddexp`` (issue 12: the 100-group,
5,000-run hierarchy spent most of each gradient there).  These tests pin the model's log density
at fixed points to the values the ``logaddexp`` graph gave (recorded before the change, to
1e-10), and check the observed part against an independent numpy evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayescale.data.synthetic import simulate_hierarchy
from bayescale.laws import LAWS, get_law
from bayescale.modeling import build_model, default_spec
from bayescale.modeling.model import sum_of_terms


def _single_runs() -> pd.DataFrame:
    law = get_law("chinchilla")
    rng = np.random.default_rng(5)
    N = np.repeat(np.logspace(7, 10, 6), 4)
    D = N * np.tile(np.logspace(np.log10(2), np.log10(200), 4), 6)
    loss = law.loss({"E": 1.8, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}, N=N, D=D)
    loss = loss * np.exp(0.01 * rng.standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "C": 6 * N * D, "loss": loss})


def _case(name: str):
    if name.startswith("single"):
        runs = _single_runs()
    else:
        runs = simulate_hierarchy(4, seed=3).runs
    spec = {
        "single": default_spec("chinchilla"),
        "single_natural_normal": default_spec("compute").replace(coordinates="natural",
                                                                 likelihood="normal"),
        "hierarchy": default_spec("chinchilla").replace(groups=("family",)),
        "hierarchy_natural": default_spec("chinchilla").replace(groups=("family",),
                                                                coordinates="natural"),
    }[name]
    return runs, spec


def _points(model):
    ip = model.initial_point()
    moved = {k: v + 0.05 * (i % 3 - 1) for i, (k, v) in enumerate(sorted(ip.items()))}
    return ip, moved


#: ``model.compile_logp()`` at the initial point and at a moved point, from the ``logaddexp``
#: graph before the change (commit b4eea58).
RECORDED = {
    "single": (11.869956303682503, 10.154439250889979),
    "single_natural_normal": (-233.52119145813754, -289.3974666746023),
    "hierarchy": (-131.99111430592978, -80.86614137866245),
    "hierarchy_natural": (-568.3168360546168, -515.6391647100872),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_log_density_unchanged_at_fixed_points(name):
    runs, spec = _case(name)
    model = build_model(runs, spec)
    f = model.compile_logp()
    got = [float(f(p)) for p in _points(model)]
    np.testing.assert_allclose(got, RECORDED[name], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["single", "hierarchy"])
def test_observed_log_density_matches_numpy(name):
    """The observed part equals the law's own ``logaddexp`` form under scipy's Student-t."""
    from bayescale.modeling.noise import noise_logpdf
    from bayescale.modeling.spec import resolve_reference

    runs, spec = _case(name)
    model = build_model(runs, spec)
    _, point = _points(model)
    law = spec.law_obj
    ref = resolve_reference(runs, spec)
    outs = model.replace_rvs_by_values([model[p] for p in law.param_names]
                                       + [model["sigma"], model["nu"]])
    fn = model.compile_fn([*outs, model.observedlogp], inputs=model.value_vars,
                          on_unused_input="ignore")
    *params, sigma, nu, obs_logp = fn(point)
    p = dict(zip(law.param_names, params, strict=True))
    if spec.groups:
        labels = runs["family"].to_numpy()
        idx = pd.Categorical(labels, categories=sorted(set(labels))).codes
        p = {k: np.asarray(v)[idx] for k, v in p.items()}
    mu = law.log_loss(p, {k: runs[k].to_numpy() for k in law.inputs}, ref)
    expected = noise_logpdf(np.log(runs["loss"].to_numpy()), mu, sigma, nu).sum()
    np.testing.assert_allclose(float(obs_logp), expected, rtol=1e-10)


def test_sum_of_terms_recognises_the_plain_power_laws():
    form = {name: sum_of_terms(get_law(name)) for name in sorted(LAWS)}
    assert form["chinchilla"] and form["compute"] and form["overtraining"]
    # bent terms, effective inputs and laws without the structure keep their own log_loss_fn
    assert not (form["broken_power"] or form["datablations"] or form["kaplan"])


def test_student_t_logp_and_gradient_match_pymc():
    """The cheaper Student-t form has PyMC's value and gradient in every argument."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from bayescale.modeling.noise import student_t_logp

    rng = np.random.default_rng(3)
    v = rng.standard_t(3.0, 200) * 0.05
    mu, sigma, nu = pt.dvector("mu"), pt.dscalar("sigma"), pt.dscalar("nu")
    ours = student_t_logp(v, mu, sigma, nu).sum()
    theirs = pm.logp(pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma), v).sum()
    f = pytensor.function([mu, sigma, nu], [ours, *pt.grad(ours, [mu, sigma, nu]),
                                            theirs, *pt.grad(theirs, [mu, sigma, nu])])
    for m, s, n in [(0.01, 0.05, 2.5), (-0.02, 0.2, 30.0), (0.0, 0.01, 400.0)]:
        out = f(np.full(200, m), s, n)
        for a, b in zip(out[:4], out[4:], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
