"""The numpy half-normal and Student-t samplers draw exactly SciPy's numbers (prior_rng)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import stats

from bayescale.sampling.prior_rng import numpy_rvs

CASES = [
    ((0.0, 1.0), None),
    ((0.0, 0.05), None),
    ((np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4])), None),
    ((0.5, np.array([[1.0], [2.0]])), (2, 3)),
    ((0.0, 2.0), (500,)),
    ((0.0, 2.0), np.array([7, 2])),
    ((np.array([0.0, 1.0, 2.0]), 3.0), (5, 3)),
]


@pytest.mark.parametrize("params,size", CASES)
def test_halfnormal_bit_identical_to_scipy(params, size):
    from pytensor.tensor.random.basic import HalfNormalRV

    loc, scale = params
    want = stats.halfnorm.rvs(loc, scale, size=size, random_state=np.random.default_rng(3))
    with numpy_rvs():
        got = HalfNormalRV.rng_fn_scipy(np.random.default_rng(3), loc, scale, size)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("params,size", CASES)
def test_student_t_bit_identical_to_scipy(params, size):
    from pytensor.tensor.random.basic import StudentTRV

    loc, scale = params
    for df in (2.5, np.array([3.0])):
        try:
            want = stats.t.rvs(df, loc=loc, scale=scale, size=size,
                               random_state=np.random.default_rng(5))
        except ValueError:
            continue
        with numpy_rvs():
            got = StudentTRV.rng_fn_scipy(np.random.default_rng(5), df, loc, scale, size)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_array_equal(got, want)


def test_methods_restored_and_reentrant():
    from pytensor.tensor.random.basic import HalfNormalRV, StudentTRV

    before = (HalfNormalRV.__dict__["rng_fn_scipy"], StudentTRV.__dict__["rng_fn_scipy"])
    with numpy_rvs():
        inner = HalfNormalRV.__dict__["rng_fn_scipy"]
        with numpy_rvs():
            assert HalfNormalRV.__dict__["rng_fn_scipy"] is inner
        assert HalfNormalRV.__dict__["rng_fn_scipy"] is inner  # still open
    after = (HalfNormalRV.__dict__["rng_fn_scipy"], StudentTRV.__dict__["rng_fn_scipy"])
    assert after == before


def test_invalid_scale_gets_scipys_error():
    from pytensor.tensor.random.basic import HalfNormalRV

    with numpy_rvs(), pytest.raises(ValueError):
        HalfNormalRV.rng_fn_scipy(np.random.default_rng(0), 0.0, -1.0, None)


def test_model_prior_draws_unchanged_and_without_scipy_stats():
    """A fit's prior draws are the same numbers with and without the numpy samplers, and a
    fresh process draws them without importing scipy.stats."""
    import subprocess

    code = (
        "import sys, numpy as np, bayescale as bs\n"
        "from bayescale.sampling import fit as F\n"
        "from bayescale.modeling import default_spec, build_model\n"
        "from bayescale.modeling.spec import resolve_reference\n"
        "runs = bs.datasets.load('chinchilla').head(40)\n"
        "s = default_spec('chinchilla')\n"
        "t = F.prepare_runs(runs, s, None, 6.0)\n"
        "m = build_model(t, s.replace(coordinates='natural'), reference=resolve_reference(t, s))\n"
        "pp = F._draw_prior(m, 50, 1)\n"
        "print('scipy.stats' in sys.modules)\n"
        "np.save(sys.argv[1], np.concatenate([np.asarray(pp['prior']['sigma']).ravel(),"
        " np.asarray(pp['prior_predictive']['log_loss']).ravel()]))\n"
    )
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "a.npy"
        res = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True,
                             text=True, check=True)
        assert res.stdout.strip().splitlines()[-1] == "False"
        ours = np.load(out)
    import pymc as pm

    import bayescale as bs
    from bayescale.modeling import build_model, default_spec
    from bayescale.modeling.spec import resolve_reference
    from bayescale.sampling import fit as F

    runs = bs.datasets.load("chinchilla").head(40)
    s = default_spec("chinchilla")
    t = F.prepare_runs(runs, s, None, 6.0)
    m = build_model(t, s.replace(coordinates="natural"), reference=resolve_reference(t, s))
    with m:  # PyTensor's own (SciPy) samplers
        pp = pm.sample_prior_predictive(draws=50, random_seed=2, compile_kwargs=F.PRIOR_COMPILE)
    theirs = np.concatenate([np.asarray(pp["prior"]["sigma"]).ravel(),
                             np.asarray(pp["prior_predictive"]["log_loss"]).ravel()])
    np.testing.assert_array_equal(ours, theirs)
